window.loadgenTooltips = function () {
  var source = document.getElementById('series');
  var tip = document.getElementById('tip');
  if (!source || !tip) return;
  var data = JSON.parse(source.textContent);
  var points = data.points || [];
  var types = data.types || [];
  function num(v, digits) {
    return Number(v).toLocaleString('en-US', { maximumFractionDigits: digits });
  }
  function text(p, kind) {
    var lines = ['t = ' + num(p[0], 1) + ' s · phase ' + p[1] + ' (loop ' + p[2] + ')'];
    if (kind === 'users') {
      for (var i = 0; i < types.length; i++) {
        if (p[3][i] || p[4][i]) lines.push(types[i] + ': ' + num(p[3][i], 0) + ' (target ' + num(p[4][i], 0) + ')');
      }
      if (lines.length === 1) lines.push('no users');
    } else if (kind === 'rate') {
      lines.push('requests/s: ' + num(p[5], 1));
      lines.push('failures/s: ' + num(p[6], 1));
    } else {
      lines.push('p50: ' + num(p[7], 0) + ' ms');
      lines.push('p95: ' + num(p[8], 0) + ' ms');
      lines.push('p99: ' + num(p[9], 0) + ' ms');
      // A rate phase's p99 from the intended start, where the sample had one.
      if (p.length > 10) lines.push('p99 from intended start: ' + num(p[10], 0) + ' ms');
    }
    return lines.join('\n');
  }
  function nearest(t) {
    var lo = 0, hi = points.length - 1;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (points[mid][0] < t) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && t - points[lo - 1][0] < points[lo][0] - t) lo -= 1;
    return points[lo];
  }
  var charts = document.querySelectorAll('svg[data-kind]');
  Array.prototype.forEach.call(charts, function (svg) {
    var x0 = Number(svg.getAttribute('data-x0'));
    var x1 = Number(svg.getAttribute('data-x1'));
    var tmax = Number(svg.getAttribute('data-tmax'));
    var kind = svg.getAttribute('data-kind');
    var guide = svg.querySelector('.guide');
    function hide() {
      tip.style.display = 'none';
      if (guide) guide.setAttribute('visibility', 'hidden');
    }
    svg.addEventListener('mouseleave', hide);
    svg.addEventListener('mousemove', function (ev) {
      var box = svg.getBoundingClientRect();
      var vx = (ev.clientX - box.left) * svg.viewBox.baseVal.width / box.width;
      if (!points.length || vx < x0 || vx > x1 || !(tmax > 0)) { hide(); return; }
      var p = nearest((vx - x0) / (x1 - x0) * tmax);
      var gx = x0 + (x1 - x0) * Math.min(1, p[0] / tmax);
      if (guide) {
        guide.setAttribute('x1', gx);
        guide.setAttribute('x2', gx);
        guide.setAttribute('visibility', 'visible');
      }
      tip.textContent = text(p, kind);
      tip.style.display = 'block';
      var x = ev.clientX + 14, y = ev.clientY + 14;
      if (x + tip.offsetWidth > window.innerWidth - 8) x = ev.clientX - 14 - tip.offsetWidth;
      if (y + tip.offsetHeight > window.innerHeight - 8) y = ev.clientY - 14 - tip.offsetHeight;
      tip.style.left = Math.max(4, x) + 'px';
      tip.style.top = Math.max(4, y) + 'px';
    });
  });
};
window.loadgenTooltips();
