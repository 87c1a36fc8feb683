// The live page: reads the run's server-sent events (over fetch, so a token
// can go in a header and never in the URL) and calls the control API under
// ./api. Paths are relative: the page works behind a port-forward or a prefix.
(function () {
  'use strict';
  var body = document.body;
  var readOnly = body.getAttribute('data-read-only') === '1';
  var needsToken = body.getAttribute('data-token-required') === '1';
  var token = sessionStorage.getItem('loadgen-token') || '';
  var plan = null;
  var lastStatus = null;
  var $ = function (id) { return document.getElementById(id); };

  function num(v, digits) {
    return Number(v).toLocaleString('en-US', { maximumFractionDigits: digits || 0 });
  }
  function duration(s) {
    if (s === null || s === undefined) return '–';
    s = Math.max(0, Math.round(s));
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var parts = [];
    if (h) parts.push(h + 'h');
    if (m) parts.push(m + 'm');
    if (r || !parts.length) parts.push(r + 's');
    return parts.join(' ');
  }
  function headers() {
    return token ? { Authorization: 'Bearer ' + token } : {};
  }
  function setConnection(text, kind) {
    var c = $('connection');
    c.textContent = text;
    c.className = 'badge ' + kind;
  }
  function askToken(why) {
    $('token-form').hidden = false;
    $('token-why').textContent = why || '';
    $('token').focus();
  }

  // --- the schedule -------------------------------------------------------
  function drawPlan(p) {
    plan = p;
    var timeline = $('timeline');
    timeline.textContent = '';
    var total = p.phases.reduce(function (a, ph) { return a + ph.duration_s; }, 0) || 1;
    p.phases.forEach(function (ph) {
      var b = document.createElement('button');
      b.type = 'button';
      b.id = 'jump-' + ph.number;
      b.style.flexGrow = String(Math.max(ph.duration_s / total, 0.05));
      b.title = 'Jump to phase ' + ph.number;
      var head = document.createElement('b');
      head.textContent = ph.number + (ph.name ? ' · ' + ph.name : '');
      b.appendChild(head);
      // A rate phase says its iterations per second per type; a phase of users, its users.
      var users = Object.keys(ph.rates).length
        ? Object.keys(ph.rates).map(function (t) { return t + ' ' + num(ph.rates[t], 1) + '/s'; })
        : Object.keys(ph.users).map(function (t) { return t + ' ' + ph.users[t]; });
      b.appendChild(document.createTextNode(duration(ph.duration_s) + ' · ' + (users.join(', ') || 'no users')));
      var bar = document.createElement('span');
      bar.className = 'bar';
      b.appendChild(bar);
      if (readOnly) b.disabled = true;
      else b.addEventListener('click', function () { call('phase/' + ph.number, 'phase ' + ph.number); });
      timeline.appendChild(b);
    });
    $('phases').textContent = p.phases.length;
    $('run-left-wrap').hidden = p.run_time_s === null;
  }

  function drawStatus(s) {
    lastStatus = s;
    var a = s.api;
    $('phase').textContent = a.phase + (a.phase_name ? ' (' + a.phase_name + ')' : '');
    $('loop').textContent = a.loop_number;
    $('phase-left').textContent = duration(a.phase_left_s);
    $('run-left').textContent = duration(a.run_left_s);
    $('paused').hidden = !a.paused;
    $('scaled').hidden = a.scale === 1;
    $('scaled').textContent = 'users ×' + a.scale;
    if (plan) {
      plan.phases.forEach(function (ph) {
        var b = $('jump-' + ph.number);
        if (!b) return;
        var now = ph.number === a.phase;
        b.className = now ? 'now' : '';
        var left = now ? Math.min(1, Math.max(0, 1 - a.phase_left_s / ph.duration_s)) : 0;
        b.querySelector('.bar').style.width = (left * 100) + '%';
      });
    }
    var rows = $('users').tBodies[0];
    rows.textContent = '';
    s.types.forEach(function (t, i) {
      var tr = rows.insertRow();
      tr.id = 'users-' + t;
      [t, s.targets[i], s.commanded[i], s.actual[i]].forEach(function (v, j) {
        var td = tr.insertCell();
        td.textContent = j ? num(v) : v;
        if (j) td.className = 'n';
      });
    });
    $('rps').textContent = num(a.requests_per_s, 1);
    $('requests').textContent = num(a.requests);
    $('failures').textContent = num(a.failures);
    $('errors').textContent = num(a.errors);
    $('restarts').textContent = num(a.restarts);
    $('elapsed').textContent = duration(a.elapsed_s);
    $('workers').textContent = s.workers ? num(s.workers) : 'local';
    var sat = $('saturated');
    sat.textContent = s.saturated ? 'generator saturated' : 'generator keeps up';
    sat.className = 'badge ' + (s.saturated ? 'bad' : 'good');
    var d = s.delivery;
    $('delivered').textContent = d ? num(d.delivered_ratio * 100) + '%' : '–';
    var short = $('short');
    short.textContent = s.short ? 'short of the plan' : 'plan delivered';
    short.className = 'badge ' + (s.short ? 'bad' : 'good');
    var dropping = $('dropping');
    dropping.hidden = !s.dropped;
    dropping.textContent = num(s.dropped) + ' iterations dropped' + (s.dropping ? ', dropping now' : '');
    dropping.className = 'badge ' + (s.dropping ? 'bad' : 'warn');
    var ws = Object.keys(a.workers || {});
    $('worker-list').textContent = ws.length
      ? 'workers: ' + ws.map(function (w) { return w + ' (' + a.workers[w] + ' users)'; }).join(', ')
      : '';
  }

  // --- health and events ---------------------------------------------------
  var thresholds = {};
  function drawThreshold(t) {
    thresholds[t.expr + ' · ' + t.scope] = t.passed;
    var ul = $('thresholds');
    ul.textContent = '';
    Object.keys(thresholds).sort().forEach(function (k) {
      var li = document.createElement('li');
      var b = document.createElement('span');
      b.className = 'badge ' + (thresholds[k] ? 'good' : 'bad');
      b.textContent = thresholds[k] ? 'holds' : 'FAILED';
      li.appendChild(b);
      li.appendChild(document.createTextNode(' ' + k));
      ul.appendChild(li);
    });
  }
  function addEvent(e) {
    var ul = $('events');
    var first = ul.firstChild;
    // A run event is said as a note first: shown once, with its kind.
    if (first && e.kind !== 'note' && first.getAttribute('data-text') === e.text) ul.removeChild(first);
    var li = document.createElement('li');
    li.setAttribute('data-text', e.text);
    var k = document.createElement('span');
    k.className = 'kind';
    k.textContent = e.kind;
    li.appendChild(k);
    li.appendChild(document.createTextNode(e.text));
    ul.insertBefore(li, ul.firstChild);
    while (ul.childNodes.length > 50) ul.removeChild(ul.lastChild);
  }
  function drawReport(html) {
    var report = $('report');
    // Trusted: report::html escapes everything that comes from the run.
    report.innerHTML = html;
    if (window.loadgenTooltips) window.loadgenTooltips();
  }

  function handle(raw) {
    var kind = 'message', data = '';
    raw.split('\n').forEach(function (line) {
      if (line.indexOf('event: ') === 0) kind = line.slice(7);
      else if (line.indexOf('data: ') === 0) data += line.slice(6);
    });
    if (!data) return;
    var v = JSON.parse(data);
    if (kind === 'plan') drawPlan(v);
    else if (kind === 'status') drawStatus(v);
    else if (kind === 'report') drawReport(v);
    else if (kind === 'event') addEvent(v);
    else if (kind === 'threshold') drawThreshold(v);
    else if (kind === 'ended') { ended = true; setConnection('the run is over', 'warn'); }
  }

  // --- the stream ----------------------------------------------------------
  var ended = false;
  function connect() {
    if (needsToken && !token) { askToken(); setConnection('needs the token', 'warn'); return; }
    fetch('events', { headers: headers(), cache: 'no-store' }).then(function (res) {
      if (res.status === 401) {
        token = '';
        sessionStorage.removeItem('loadgen-token');
        askToken('that token was refused');
        setConnection('needs the token', 'bad');
        return;
      }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      setConnection('live', 'good');
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = '';
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) throw new Error('the stream ended');
          buffer += decoder.decode(r.value, { stream: true });
          var at;
          while ((at = buffer.indexOf('\n\n')) >= 0) {
            handle(buffer.slice(0, at));
            buffer = buffer.slice(at + 2);
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (ended) return;
      setConnection('reconnecting', 'warn');
      setTimeout(connect, 1000);
    });
  }

  // --- the controls --------------------------------------------------------
  function say(text, good) {
    var r = $('result');
    r.textContent = text;
    r.className = good ? 'good' : 'bad';
  }
  function call(path, what, body) {
    var options = { method: 'POST', headers: headers() };
    if (body !== undefined) options.body = body;
    fetch('api/' + path, options).then(function (res) {
      return res.json().then(function (answer) { return { res: res, answer: answer }; });
    }).then(function (r) {
      if (r.res.ok) {
        var a = r.answer;
        say(what + ': done; now phase ' + a.phase + ' of ' + a.phases + (a.paused ? ', paused' : '') +
          (a.scale !== 1 ? ', users ×' + a.scale : ''), true);
      } else {
        say(what + ': refused (' + r.res.status + '): ' + r.answer.error, false);
        if (r.res.status === 401) askToken('that token was refused');
      }
    }).catch(function (e) { say(what + ': no answer (' + e + ')', false); });
  }

  if (readOnly) {
    $('controls').hidden = true;
  } else {
    $('next').addEventListener('click', function () { call('phase/next', 'next phase'); });
    $('pause').addEventListener('click', function () { call('pause', 'pause'); });
    $('resume').addEventListener('click', function () { call('resume', 'resume'); });
    $('scale-apply').addEventListener('click', function () {
      var f = $('scale-factor').value;
      call('scale', 'scale ×' + f, f);
    });
  }
  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    token = $('token').value;
    sessionStorage.setItem('loadgen-token', token);
    $('token').value = '';
    $('token-form').hidden = true;
    connect();
  });
  connect();
})();
