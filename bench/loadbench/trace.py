"""Section 3c, trace: what the trace context costs, in requests per CPU second
at saturation (one Locust process, 20 users, wait 0, against nginx).

Per client (`--user-class fast` and `http`), three variants of the same
rendered load, interleaved (ABC CBA ...: over two reps each variant has the
same mean place in time, and every B sits next to its A):

  off   `--no-traceparent --no-baggage`: loadgen_trace.py is not installed;
  on    the default: both headers on every request, 1% of iterations sampled
        (their requests sent to loadgen as span records);
  otlp  as `on` (`--trace-sample 0.01`) and `--otlp-endpoint` to a sink in this
        process that answers 200 to every POST and counts them and their bytes.

Before the timed runs, a short run of each variant against the sink itself
(it answers GET / too) checks what the variants claim: `off` sends neither
header, `on` and `otlp` send both on every request with ~1% sampled, and
`otlp` POSTs to /v1/metrics or /v1/traces. A loadgen that sends no OTLP there
has no export yet: the `otlp` variant is then left out and said to be pending.

Reported per client: the medians of each variant, and per rep the ratios
on/off, otlp/off and otlp/on of requests per CPU second (median,
lowest-highest pair), with the cost per request in microseconds,
1e6 * (1/variant - 1/baseline), per pair and from the two medians.
"""

import http.server
import threading
import time

from .common import fmt, fr, log, med
from .overhead import loadgen_requests, saturation_load
from .processes import run_measured

CLIENTS = ("fast", "http")
VARIANT_FLAGS = {
    "off": ["--no-traceparent", "--no-baggage"],
    "on": [],
    "otlp": ["--trace-sample", "0.01"],  # and --otlp-endpoint, the sink's
}
LABELS = {"off": "A headers off", "on": "B headers on", "otlp": "C on + OTLP"}
CHECK_SECONDS = 3


class Sink:
    """A tiny HTTP server in a thread: POSTs (OTLP) answered 200 and counted
    with their bytes per path; GETs (the header check) answered `ok` and
    counted with the trace headers they carried."""

    def __init__(self):
        self.lock = threading.Lock()
        self.posts = {}  # path -> [count, bytes]
        self.gets = {"requests": 0, "traceparent": 0, "baggage": 0, "sampled": 0, "example": None}
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with sink.lock:
                    c = sink.posts.setdefault(self.path.split("?")[0], [0, 0])
                    c[0] += 1
                    c[1] += len(body)
                self.answer(b"", "application/x-protobuf")

            def do_GET(self):
                tp, bg = self.headers.get("traceparent"), self.headers.get("baggage")
                with sink.lock:
                    g = sink.gets
                    g["requests"] += 1
                    g["traceparent"] += tp is not None
                    g["baggage"] += bg is not None
                    g["sampled"] += bool(tp and tp.endswith("-01"))
                    if tp and bg and g["example"] is None:
                        g["example"] = {"traceparent": tp, "baggage": bg}
                self.answer(b"ok\n", "text/plain")

            def answer(self, body, kind):
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self):
        with self.lock:
            return {"posts": {k: list(v) for k, v in self.posts.items()}, "gets": dict(self.gets)}

    def reset(self):
        with self.lock:
            self.posts = {}
            self.gets = {"requests": 0, "traceparent": 0, "baggage": 0, "sampled": 0, "example": None}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def post_delta(before, after):
    out = {}
    for path, (n, b) in after["posts"].items():
        n0, b0 = before["posts"].get(path, (0, 0))
        if n - n0:
            out[path] = {"posts": n - n0, "bytes": b - b0}
    return out


def trace_bench(ctx, reps, seconds, target, variants=("off", "on", "otlp")):
    """Returns {"meta": checks, "runs": {client: {variant: [runs]}}}."""
    cfg, _ = saturation_load(ctx, seconds)
    sink = Sink()
    meta = {"clients": list(CLIENTS), "seconds": seconds, "reps": reps, "users": 20, "workers": 0,
            "sink": sink.url, "checks": {}, "otlp": "not asked"}
    variants = [v for v in ("off", "on", "otlp") if v in variants]
    flags = {v: list(VARIANT_FLAGS[v]) + (["--otlp-endpoint", sink.url] if v == "otlp" else []) for v in variants}

    def cmd(client, variant, host, run_seconds, report):
        return [ctx.loadgen, "run", "--config_file", cfg, "--host", host, "--run_time", f"{run_seconds}s",
                "--locust", ctx.locust, "--workers", "0", "--user-class", client, *flags[variant],
                "--report", report]

    try:
        # The check: each variant against the sink, a few seconds, per client.
        for client in CLIENTS:
            for variant in variants:
                name = f"trace-check-{client}-{variant}"
                sink.reset()
                run = run_measured(ctx.procs, cmd(client, variant, sink.url, CHECK_SECONDS, ctx.workdir / f"{name}-report"),
                                   name, CHECK_SECONDS + 60)
                time.sleep(1.0)  # a last export after the exit
                snap = sink.snapshot()
                g = snap["gets"]
                check = {"requests": g["requests"], "traceparent": g["traceparent"], "baggage": g["baggage"],
                         "sampled": g["sampled"], "example": g["example"], "otlp_posts": post_delta({"posts": {}}, snap),
                         "exit_code": run["exit_code"]}
                meta["checks"][f"{client}/{variant}"] = check
                log(f"trace check {client} {variant}: {g['requests']} requests, traceparent on {g['traceparent']}, "
                    f"baggage on {g['baggage']}, sampled {g['sampled']}; OTLP {check['otlp_posts'] or 'none'}; "
                    f"exit {run['exit_code']}")
                want = 0 if variant == "off" else g["requests"]
                if run["exit_code"] != 0 or not g["requests"] or g["traceparent"] != want or g["baggage"] != want:
                    raise RuntimeError(f"trace check {client} {variant}: not as the variant claims: {check}")
        if "otlp" in variants:
            if all(meta["checks"][f"{c}/otlp"]["otlp_posts"] for c in CLIENTS):
                meta["otlp"] = "measured"
            else:
                meta["otlp"] = "pending: this loadgen sent nothing to --otlp-endpoint (no OTLP export yet)"
                log(f"trace: the otlp variant left out, {meta['otlp']}")
                variants.remove("otlp")
        sink.reset()

        runs = {c: {v: [] for v in variants} for c in CLIENTS}
        for rep in range(reps):
            order = variants if rep % 2 == 0 else variants[::-1]
            for client in CLIENTS:
                for variant in order:
                    name = f"trace-{client}-{variant}-{rep + 1}"
                    log(f"trace rep {rep + 1}/{reps}: {client} {variant}")
                    server0, server_cpu0, sink0 = target.requests(), target.cpu(), sink.snapshot()
                    report = ctx.workdir / f"{name}-report"
                    run = run_measured(ctx.procs, cmd(client, variant, target.host, seconds, report), name, seconds + 90,
                                       server=target)
                    run["requests"] = loadgen_requests(report / "summary.json")
                    run["server_requests"] = target.requests() - server0 - 1 - run.pop("status_polls", 0)
                    run["server_cpu_s"] = target.cpu() - server_cpu0
                    run["sink"] = post_delta(sink0, sink.snapshot())
                    run["seconds"] = seconds
                    run["rep"] = rep + 1
                    run.pop("server_samples", None)
                    req = run["requests"] or 0
                    run["req_per_s"] = req / seconds
                    run["req_per_cpu_s"] = req / run["tree_cpu_s"] if run["tree_cpu_s"] else None
                    runs[client][variant].append(run)
                    st = run["steady"] or {}
                    log(f"  {req} requests ({run['server_requests']} at the server), {run['req_per_cpu_s'] or 0:.0f} "
                        f"req/CPU-s, steady {st.get('req_per_cpu_s') or 0:.0f}; tree CPU {run['tree_cpu_s']:.2f}s, "
                        f"top {run['own_cpu_s'] or 0:.2f}s; OTLP {run['sink'] or '-'}; exit {run['exit_code']}"
                        f"{'; LEFT BEHIND ' + str(run['left_behind']) if run['left_behind'] else ''}")
                    time.sleep(0.5)
    finally:
        sink.stop()
    return {"meta": meta, "runs": runs}


def _steady(run, key):
    return run["steady"] and run["steady"].get(key)


def _get(run, key):
    return _steady(run, key[len("steady_"):]) if key.startswith("steady_") else run.get(key)


def summarize(res, s):
    if "trace" not in res:
        return
    tr = res["trace"]
    out = {"meta": {k: v for k, v in tr["meta"].items() if k != "checks"}, "clients": {}}
    out["meta"]["checks"] = {k: {x: c[x] for x in ("requests", "traceparent", "baggage", "sampled", "otlp_posts")}
                             for k, c in tr["meta"]["checks"].items()}
    for client, variants in tr["runs"].items():
        c = {"variants": {}, "ratios": {}, "cost_us": {}}
        for v, runs in variants.items():
            posts = [sum(p["posts"] for p in r["sink"].values()) for r in runs]
            sent = [sum(p["bytes"] for p in r["sink"].values()) for r in runs]
            c["variants"][v] = {
                "req_per_s": med([r["req_per_s"] for r in runs]),
                "req_per_cpu_s": med([r["req_per_cpu_s"] for r in runs]),
                "steady_req_per_s": med([_steady(r, "req_per_s") for r in runs]),
                "steady_req_per_cpu_s": med([_steady(r, "req_per_cpu_s") for r in runs]),
                "tree_cpu_s": med([r["tree_cpu_s"] for r in runs]),
                "own_cpu_s": med([r["own_cpu_s"] for r in runs]),
                "server_cpu_s": med([r["server_cpu_s"] for r in runs]),
                "machine_busy_cores": med([r["machine_busy_cores"] for r in runs]),
                "server_vs_reported": med([r["server_requests"] / r["requests"] if r["requests"] else None
                                           for r in runs]),
                "otlp_posts": med(posts),
                "otlp_bytes": med(sent),
                "left_behind": sum(r["left_behind"] for r in runs),
                "bad_exits": sum(1 for r in runs if r["exit_code"] != 0),
                "reps": len(runs),
            }
        for v, b in (("on", "off"), ("otlp", "off"), ("otlp", "on")):
            if v not in variants or b not in variants:
                continue
            for key in ("steady_req_per_cpu_s", "req_per_cpu_s", "steady_req_per_s"):
                pairs = [(_get(x, key), _get(a, key)) for x, a in zip(variants[v], variants[b])]
                pairs = [(x, a) for x, a in pairs if x and a]
                if not pairs:
                    continue
                ratios = [x / a for x, a in pairs]
                c["ratios"][f"{v}_vs_{b}_{key}"] = {"median": med(ratios), "min": min(ratios), "max": max(ratios),
                                                    "n": len(ratios)}
                if key.endswith("per_cpu_s"):
                    costs = [1e6 * (1 / x - 1 / a) for x, a in pairs]
                    c["cost_us"][f"{v}_vs_{b}_{key}"] = {"median": med(costs), "min": min(costs),
                                                         "max": max(costs), "n": len(costs)}
                    # The same from the variants' medians (less swayed by one noisy pair).
                    mv, mb = c["variants"][v][key], c["variants"][b][key]
                    c["cost_us"][f"{v}_vs_{b}_{key}_of_medians"] = 1e6 * (1 / mv - 1 / mb) if mv and mb else None
        out["clients"][client] = c
    s["trace"] = out


def table(s, meta, w):
    if "trace" not in s:
        return
    t = s["trace"]
    m = t["meta"]
    w("")
    w(f"3c. Trace context: {m['users']} users, wait 0, {m['seconds']} s, --workers 0, against {meta['server']}; "
      f"CPU = the generator's whole process tree; {m['reps']} reps, variants interleaved (ABC CBA ...)")
    w(f"   OTLP variant: {m['otlp']}")
    w(f"   {'':<26}{'whole run':>19}{'steady state':>20}")
    w(f"   {'client, variant':<26}{'req/s':>8}{'req/CPU-s':>11}{'req/s':>9}{'req/CPU-s':>11}{'tree CPU s':>12}"
      f"{'top CPU s':>11}{'server/gen':>12}{'OTLP POSTs':>12}{'OTLP bytes':>12}")
    left = 0
    for client, c in t["clients"].items():
        for v, r in c["variants"].items():
            left += r["left_behind"]
            w(f"   {client + ', ' + LABELS.get(v, v):<26}{fmt(r['req_per_s'], '.0f'):>8}{fmt(r['req_per_cpu_s'], '.0f'):>11}"
              f"{fmt(r['steady_req_per_s'], '.0f'):>9}{fmt(r['steady_req_per_cpu_s'], '.0f'):>11}"
              f"{fmt(r['tree_cpu_s'], '.2f'):>12}{fmt(r['own_cpu_s'], '.2f'):>11}{fmt(r['server_vs_reported'], '.3f'):>12}"
              f"{fmt(r['otlp_posts'], '.0f'):>12}{fmt(r['otlp_bytes'], '.0f'):>12}"
              f"{'   ' + str(r['bad_exits']) + ' BAD EXITS' if r['bad_exits'] else ''}")
    w("   ratios of req per CPU-s: median of the per-rep pairs (lowest-highest pair); cost per request "
      "= 1e6 * (1/variant - 1/baseline) us, per pair [and from the two medians]; the aim: headers under 3%")
    names = {"on": "B on", "otlp": "C on+OTLP", "off": "A off"}
    for client, c in t["clients"].items():
        r, cost = c["ratios"], c["cost_us"]
        for v, b in (("on", "off"), ("otlp", "off"), ("otlp", "on")):
            k = f"{v}_vs_{b}"
            if f"{k}_req_per_cpu_s" not in r:
                continue
            w(f"     {client:<5}{names[v] + ' / ' + names[b]:<19} steady {fr(r.get(f'{k}_steady_req_per_cpu_s'), '.3f'):<22}"
              f"cost {fr(cost.get(f'{k}_steady_req_per_cpu_s'), '.1f'):<19}"
              f"[{fmt(cost.get(f'{k}_steady_req_per_cpu_s_of_medians'), '.1f')}] us;  whole run "
              f"{fr(r.get(f'{k}_req_per_cpu_s'), '.3f'):<22}cost {fr(cost.get(f'{k}_req_per_cpu_s'), '.1f')} "
              f"[{fmt(cost.get(f'{k}_req_per_cpu_s_of_medians'), '.1f')}] us")
    checks = m.get("checks") or {}
    if checks:
        w("   header check (a short run per variant against a sink that counts them): " + "; ".join(
            f"{k} {c['traceparent']}/{c['requests']} traceparent, {c['baggage']} baggage, {c['sampled']} sampled"
            f"{', OTLP ' + ','.join(sorted(c['otlp_posts'])) if c['otlp_posts'] else ''}" for k, c in checks.items()))
    w(f"   processes left behind (this section): {left}")
