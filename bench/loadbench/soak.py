"""Soak: what grows with a run's length, measured in accelerated time.

A week of the hipster load is 22,680 phase occurrences (3 phases per 80 s
loop). Here phases last one second, so `seconds` of soak run as many
occurrences; the run goes against the demo shop with a report directory. Every
5 s the resident memory (VmRSS) of loadgen (the Rust process) and of its Locust
harness (the Python child) is read from /proc. After a warm-up (the first
third), the growth of each is fitted as a straight line (least squares, robust
to one noisy sample) and reported per 1,000 occurrences and per hour. The
extrapolation to a week of the hipster load takes the larger of the two
readings, since accelerated time mixes what grows per occurrence (records)
with what grows per second (the time series, Locust's per-second counts):
  week = max(per-occurrence growth x 22,680, per-hour growth x 168).
The time series' full-resolution window is shortened from an hour to 30 s
(LOADGEN_SERIES_RECENT_S), so what a week keeps of it (about 10,000 points) is
bounded by design and outside the measured growth. Also: the lines the run printed (progress at --progress-interval 60s, as a pod
would run it) and the size of report.html and summary.json.
"""

import time

from .common import fmt, log, med
from .loads import write_load
from .processes import descendants, kill_tagged, proc_status_kb, reap

OCCURRENCES_PER_WEEK = 7 * 24 * 3600 / 80 * 3
SAMPLE_EVERY = 5.0


def rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")


def harness_pid(root):
    """The Python process running Locust below loadgen (the largest, if several)."""
    best = None
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"python" in cmd.split(b"\0")[0]:
            size = rss_kb(pid) or 0
            if best is None or size > best[1]:
                best = (pid, size)
    return best[0] if best else None


def slope(points):
    """Least-squares slope of (x, y) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def soak(ctx, seconds, shop):
    directory = ctx.workdir / "soak"
    phases = [
        {"duration": 1, "users": 10, "hatch": 100, "types": {"A": (1, 100, 200)}},
        {"duration": 1, "users": 20, "hatch": 100, "types": {"A": (1, 100, 200), "B": (1, 100, 200)}},
        {"duration": 1, "users": 10, "hatch": 100, "types": {"B": (1, 100, 200)}},
    ]
    config = write_load(directory, phases, ["A", "B"])
    report = directory / "report"
    tag = ctx.procs.new_tag("soak")
    output = ctx.workdir / "soak.log"
    cmd = [ctx.loadgen, "run", "--config_file", config, "--host", shop.host, "--run_time", f"{seconds}s",
           "--report", report, "--progress-interval", "60s"]
    log(f"soak: {seconds} s of 1 s phases ({seconds} occurrences)")
    start = time.monotonic()
    # The time series keeps full resolution for an hour, then minutes: shortened
    # to 30 s here, so the soak sees the tiers a week goes through.
    p = ctx.procs.spawn(cmd, tag, output, env={"LOADGEN_SERIES_RECENT_S": "30"})
    samples = []  # (seconds since start, loadgen RSS kB, harness RSS kB)
    try:
        while p.poll() is None:
            time.sleep(SAMPLE_EVERY)
            t = time.monotonic() - start
            if t > seconds + 60:
                kill_tagged(tag)
                break
            harness = harness_pid(p.pid)
            own = rss_kb(p.pid)
            if own is not None and harness is not None and t < seconds:
                samples.append((t, own, rss_kb(harness) or 0))
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            kill_tagged(tag)
            p.wait()
        reap()
    lines = sum(1 for _ in open(output, errors="replace"))
    html = (report / "report.html").stat().st_size if (report / "report.html").exists() else None
    summary = (report / "summary.json").stat().st_size if (report / "summary.json").exists() else None
    return {
        "seconds": seconds,
        "exit_code": p.returncode,
        "samples": samples,
        "output_lines": lines,
        "report_html_bytes": html,
        "summary_json_bytes": summary,
    }


def growth(run, column):
    """kB per second of the steady part of one run's samples."""
    samples = run["samples"]
    steady = [s for s in samples if s[0] >= run["seconds"] / 3]
    return slope([(s[0], s[column]) for s in steady])


def steady_start(run):
    """The first sample after the warm-up (the first third)."""
    return next(x for x in run["samples"] if x[0] >= run["seconds"] / 3)


def summarize(res, s):
    runs = res.get("soak")
    if not runs:
        return
    out = {}
    for name, column in (("loadgen", 1), ("harness", 2)):
        per_s = med([growth(r, column) for r in runs])
        # One occurrence per second here.
        per_1000 = per_s * 1000
        per_hour = per_s * 3600
        week_kb = max(per_s * OCCURRENCES_PER_WEEK, per_hour * 168)
        start = med([r["samples"][0][column] for r in runs if r["samples"]])
        end = med([r["samples"][-1][column] for r in runs if r["samples"]])
        third = med([steady_start(r)[column] for r in runs if r["samples"]])
        out[name] = {"steady_growth_kb": end - third, "steady_growth_pct": 100.0 * (end - third) / third,"kb_per_1000_occurrences": per_1000, "kb_per_hour": per_hour, "week_mb": week_kb / 1024,
                     "rss_start_mb": start / 1024, "rss_end_mb": end / 1024}
    out["seconds"] = runs[0]["seconds"]
    out["exit_codes"] = [r["exit_code"] for r in runs]
    out["output_lines"] = med([r["output_lines"] for r in runs])
    out["report_html_kb"] = med([(r["report_html_bytes"] or 0) / 1024 for r in runs])
    out["summary_json_kb"] = med([(r["summary_json_bytes"] or 0) / 1024 for r in runs])
    s["soak"] = out


def table(s, meta, w):
    v = s.get("soak")
    if not v:
        return
    w("")
    w(f"soak: {v['seconds']} one-second phase occurrences against the demo shop (exit codes {v['exit_codes']});")
    w("  RSS growth after the first third (least squares); 'a week at this rate' assumes it never levels off")
    w("  (22,680 hipster occurrences or 168 h, the larger): an upper bound, since the kept records are capped")
    w(f"  {'process':<9} {'RSS start':>10} {'RSS end':>9} {'after warm-up':>17} {'kB/1000 occ':>12} {'kB/hour':>9} {'a week at this rate':>20}")
    for name in ("loadgen", "harness"):
        x = v[name]
        w(f"  {name:<9} {fmt(x['rss_start_mb'], '.1f'):>7} MB {fmt(x['rss_end_mb'], '.1f'):>6} MB "
          f"{fmt(x['steady_growth_kb'], '+.0f'):>7} kB {fmt(x['steady_growth_pct'], '+.1f'):>5}% "
          f"{fmt(x['kb_per_1000_occurrences'], '.0f'):>12} {fmt(x['kb_per_hour'], '.0f'):>9} "
          f"{fmt(x['week_mb'], '.1f'):>17} MB")
    w(f"  output: {v['output_lines']:.0f} lines (progress every 60 s); report.html {v['report_html_kb']:.0f} KB, "
      f"summary.json {v['summary_json_kb']:.0f} KB")
