"""Section 8, shape: `loadgen shape log` on access logs of our own making.

A Combined Log Format log of N bytes (three path families, two time zones, a
bad line in every 10,000) is written once per size; then, alternately, the
baseline (`wc -l` reading the same file: what the disk and the page cache
allow) and `loadgen shape log FILE --type ... --bin 1m --duration 10m`. Each
run's wall time, CPU time and peak RSS come from wait4 on the process itself.
Reported: lines per second (wall and per CPU-second), the ratio to the
baseline's lines per second, and peak RSS per size, so "memory flat in the
input size" is the RSS at 1 GB against the RSS at 100 MB.
"""

import os
import random
import subprocess
import time
from pathlib import Path

from .common import fmt, log, med

FAMILIES = ("/product/{}", "/cart", "/cart/checkout", "/static/app.{}.js", "/")


def write_log(path, size_bytes, seed=1):
    """A Combined Log Format log of about `size_bytes`, one request every
    ~50 ms over as many days as it takes. Returns its line count."""
    rnd = random.Random(seed)
    t = 1_763_942_400  # 2025-11-24T00:00:00Z
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    lines = 0
    written = 0
    stamp_cache = {}
    with open(path, "w", buffering=1 << 20) as out:
        chunk = []
        while written < size_bytes:
            t += rnd.random() * 0.1
            second = int(t)
            east = lines % 2 == 0
            key = (second, east)
            stamp = stamp_cache.get(key)
            if stamp is None:
                if len(stamp_cache) > 4:
                    stamp_cache.clear()
                offset = 3600 if east else -5 * 3600
                g = time.gmtime(second + offset)
                sign = "+0100" if east else "-0500"
                stamp = f"{g.tm_mday:02d}/{months[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {sign}"
                stamp_cache[key] = stamp
            if lines % 10_000 == 9_999:
                line = "a line that is not a log line\n"
            else:
                path_ = FAMILIES[rnd.randrange(5)].format(rnd.randrange(1000))
                line = (f"10.{lines % 250}.{(lines >> 8) % 250}.7 - - [{stamp}] \"GET {path_} HTTP/1.1\" 200 "
                        f"{rnd.randrange(100, 9000)} \"https://shop.example/\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n")
            chunk.append(line)
            written += len(line)
            lines += 1
            if len(chunk) >= 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return lines


def measured(cmd):
    """Runs `cmd`; its wall seconds, CPU seconds, peak RSS (KB) and exit code."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_kb": usage.ru_maxrss,
            "code": os.waitstatus_to_exitcode(status), "stderr_tail": err[-400:]}


def shape_bench(ctx, reps, sizes_mb):
    out = []
    for size in sizes_mb:
        path = Path(ctx.workdir) / f"access-{size}mb.log"
        log(f"shape: writing a {size} MB access log")
        lines = write_log(path, size * 1_000_000)
        runs = {"baseline": [], "loadgen": []}
        for _ in range(reps):
            runs["baseline"].append(measured(["wc", "-l", str(path)]))
            runs["loadgen"].append(measured([
                str(ctx.loadgen), "shape", "log", str(path), "--type", "Browse=^/product/", "--type", "Cart=^/cart",
                "--unmatched", "Other", "--bin", "1m", "--duration", "10m", "-o", os.devnull]))
        if runs["loadgen"][-1]["code"] != 0:
            log(f"shape: loadgen failed: {runs['loadgen'][-1]['stderr_tail']}")
        out.append({"size_mb": size, "bytes": path.stat().st_size, "lines": lines, "runs": runs})
        path.unlink()
    return out


def summarize(res, s):
    runs = res.get("shape")
    if not runs:
        return
    out = []
    for r in runs:
        lg, base = r["runs"]["loadgen"], r["runs"]["baseline"]
        lines = r["lines"]
        out.append({
            "size_mb": r["size_mb"],
            "lines": lines,
            "lines_per_s": med([lines / x["wall_s"] for x in lg]),
            "lines_per_cpu_s": med([lines / x["cpu_s"] for x in lg if x["cpu_s"] > 0]),
            "baseline_lines_per_s": med([lines / x["wall_s"] for x in base]),
            "ratio_to_baseline": med([(lines / a["wall_s"]) / (lines / b["wall_s"]) for a, b in zip(lg, base)]),
            "peak_rss_mb": max(x["peak_rss_kb"] for x in lg) / 1024,
            "exit_codes": [x["code"] for x in lg],
        })
    s["shape"] = out


def table(s, meta, w):
    v = s.get("shape")
    if not v:
        return
    w("")
    w("shape: `loadgen shape log` on a Combined Log Format access log (3 types by path, 2 time zones, 1 bad line in 10,000),")
    w("  against `wc -l` reading the same file (the disk's and page cache's pace); medians, wait4's figures")
    w(f"  {'size':>7} {'lines':>12} {'lines/s':>12} {'per CPU-s':>12} {'wc -l lines/s':>14} {'ratio':>6} {'peak RSS':>9} exit")
    for x in v:
        w(f"  {x['size_mb']:>4} MB {x['lines']:>12,} {fmt(x['lines_per_s'], ',.0f'):>12} {fmt(x['lines_per_cpu_s'], ',.0f'):>12} "
          f"{fmt(x['baseline_lines_per_s'], ',.0f'):>14} {fmt(x['ratio_to_baseline'], '.3f'):>6} "
          f"{fmt(x['peak_rss_mb'], '.1f'):>6} MB {x['exit_codes']}")
