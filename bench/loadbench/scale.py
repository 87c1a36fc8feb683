"""Section 5, scale: the hipster shop's users at 500 to 6,000, against nginx.

Each size is one phase of `Normal` users (the hipster template's weekday mix,
wait 1 s), run by loadgen with its default flags (`--workers auto` and the
client chosen from the template: FastHttpUser here), by loadgen with the
defaults it had before (`--workers 0 --user-class http`, one HttpUser process),
and by plain Locust `--processes -1` (one worker per core) on the same template
rendered with HttpUser, as a Locust user would write it. The figure is delivered / planned, from nginx's own request counter
in the steady state (ramp left out): planned is users x requests per task / 1 s,
with the requests per task worked out from the template's task weights (index 1,
setCurrency 2, browseProduct 10, addToCart 2 (2 requests), viewCart 3,
checkout 1 (3 requests): 23 requests per 19 tasks). nginx answers in well under
a millisecond, so the target's own time is left out of the plan.

Also kept: p50 as each generator measured it, the peak RSS of its whole process
tree per 1,000 users, and what loadgen itself said (short of plan, saturated).
"""

import json
import subprocess
import time
from pathlib import Path

from .common import REPO, fmt, log, med
from .loads import locust_cmd
from .processes import run_measured

SIZES = [500, 1500, 3000, 6000]
QUICK_SIZES = [500, 1500]
# Requests per task of the Normal mix (see the module's comment), and its wait (s).
REQUESTS_PER_TASK = 23 / 19
WAIT_S = 1.0
VARIANTS = ["loadgen", "loadgen_one_http", "loadgen_auto_http", "locust_processes"]
DEFAULT_VARIANTS = ["loadgen", "loadgen_one_http", "locust_processes"]
LABELS = {
    "loadgen": "loadgen (default)",
    "loadgen_one_http": "loadgen --workers 0 --user-class http (the old defaults)",
    "loadgen_auto_http": "loadgen --user-class http",
    "locust_processes": "locust --processes -1",
    # Variants of earlier result files (before auto and the fast client were the defaults).
    "loadgen_auto": "loadgen --workers auto (HttpUser)",
    "loadgen_auto_fast": "loadgen --workers auto --user-class fast",
}
FLAGS = {
    "loadgen": [],
    "loadgen_one_http": ["--workers", "0", "--user-class", "http"],
    "loadgen_auto_http": ["--user-class", "http"],
}


def scale_load(ctx, users, seconds):
    """A one-phase hipster load of `users` Normal users ramped over 5 s, and its
    rendered locustfile (for plain Locust)."""
    loaddir = ctx.workdir / f"scale-{users}"
    loaddir.mkdir(parents=True, exist_ok=True)
    hatch = max(1, users // 5)
    (loaddir / "load.pbtxt").write_text(
        f"phases {{\n  duration: {seconds}\n  num_users: {users}\n  hatch_rate_per_s: {hatch}\n"
        f"  user_types {{ name: \"Normal\" ratio: 1 min_wait_ms: 1000 max_wait_ms: 1000 }}\n}}\n")
    template = REPO / "applications" / "hipster_shop" / "load_generation" / "locustfile.loadgen.tmpl"
    (loaddir / "locustfile.loadgen.tmpl").write_text(template.read_text())
    rendered = loaddir / "rendered"
    r = subprocess.run([ctx.loadgen, "render", "--config_file", loaddir / "load.pbtxt", "--out", rendered,
                        "--user-class", "http"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"loadgen render failed: {r.stderr}")
    return loaddir / "load.pbtxt", rendered, hatch


def steady_rate(samples, ramp_s):
    """Requests per second at the server from `ramp_s` + 3 s after its first
    request to 2 s before its last (each sample's own status request left out)."""
    moving = [i for i in range(1, len(samples)) if samples[i][1] - samples[i - 1][1] > 1]
    if not moving:
        return None
    t_first, t_last = samples[moving[0]][0], samples[moving[-1]][0]
    inside = [i for i, s in enumerate(samples) if t_first + ramp_s + 3 <= s[0] <= t_last - 2]
    if len(inside) < 4:
        return None
    a, b = inside[0], inside[-1]
    (t0, r0), (t1, r1) = samples[a][:2], samples[b][:2]
    return (r1 - r0 - (b - a)) / (t1 - t0)


def locust_p50(path):
    """The median of the `Aggregated` row of Locust's final summary (ms)."""
    try:
        for line in Path(path).read_text(errors="replace").splitlines():
            fields = line.split("|")
            if line.split() and line.split()[0] == "Aggregated" and len(fields) >= 2:
                return float(fields[1].split()[3])
    except (OSError, IndexError, ValueError):
        pass
    return None


def scale(ctx, reps, sizes, seconds, nginx, variants=None):
    """Runs every size with every variant; returns {str(users): {variant: [runs]}}."""
    variants = variants or DEFAULT_VARIANTS
    results = {}
    for users in sizes:
        cfg, rendered, hatch = scale_load(ctx, users, seconds)
        ramp_s = users / hatch
        planned = users * REQUESTS_PER_TASK / WAIT_S
        results[str(users)] = {v: [] for v in variants}
        for rep in range(reps):
            order = variants if rep % 2 == 0 else variants[::-1]
            for variant in order:
                name = f"scale-{users}-{variant}-{rep + 1}"
                log(f"scale {users} users rep {rep + 1}/{reps}: {LABELS[variant]}")
                report = ctx.workdir / f"{name}-report"
                if variant == "locust_processes":
                    cmd = locust_cmd(ctx.locust) + [
                        "-f", rendered / "locustfile.py", "--headless", "--processes", "-1", "-u", users,
                        "-r", hatch, "-t", f"{seconds}s", "--host", nginx.host, "--only-summary",
                        "--loglevel", "WARNING"]
                else:
                    cmd = [ctx.loadgen, "run", "--config_file", cfg, "--host", nginx.host, "--run_time",
                           f"{seconds}s", "--locust", ctx.locust, "--report", report] + FLAGS[variant]
                run = run_measured(ctx.procs, cmd, name, seconds + 120, server=nginx)
                delivered = steady_rate(run.pop("server_samples"), ramp_s)
                run.update({"users": users, "planned_req_per_s": planned, "delivered_req_per_s": delivered,
                            "ratio": delivered / planned if delivered else None,
                            "tree_rss_mb_per_1000_users": run["tree_hwm_mb"] * 1000 / users})
                if variant == "locust_processes":
                    run["p50_ms"] = locust_p50(run["output"])
                else:
                    try:
                        summary = json.loads((report / "summary.json").read_text())
                        phase = summary["phases"][0]
                        run["p50_ms"] = phase["total"]["p50_ms"]
                        run["said_short"] = phase.get("short")
                        run["said_ratio"] = (phase.get("delivery") or {}).get("delivered_ratio")
                        run["said_saturated"] = phase.get("saturated")
                        chosen = [line for line in Path(run["output"]).read_text(errors="replace").splitlines()
                                  if "--workers auto:" in line]
                        run["auto_choice"] = chosen[0].split("--workers auto: ", 1)[1] if chosen else None
                    except (OSError, ValueError, KeyError, IndexError):
                        run["p50_ms"] = None
                log(f"  {fmt(delivered, '.0f')} of {planned:.0f} req/s planned at the server "
                    f"({fmt(run['ratio'] and run['ratio'] * 100, '.0f')}%), p50 {fmt(run['p50_ms'], '.0f')} ms, "
                    f"RSS {run['tree_hwm_mb']:.0f} MB; loadgen said short={run.get('said_short')} "
                    f"({fmt(run.get('said_ratio') and run['said_ratio'] * 100, '.0f')}%), "
                    f"saturated={run.get('said_saturated')}; exit {run['exit_code']}"
                    f"{'; LEFT BEHIND ' + str(run['left_behind']) if run['left_behind'] else ''}")
                results[str(users)][variant].append(run)
                time.sleep(1.0)
    return results


def summarize(res, s):
    """Adds this section's medians (from `res`, the raw runs) to `s`."""
    if "scale" not in res:
        return
    s["scale"] = {}
    for users, variants in res["scale"].items():
        s["scale"][users] = {}
        for variant, runs in variants.items():
            said = [r.get("said_short") for r in runs if r.get("said_short") is not None]
            s["scale"][users][variant] = {
                "planned_req_per_s": med([r["planned_req_per_s"] for r in runs]),
                "delivered_req_per_s": med([r["delivered_req_per_s"] for r in runs]),
                "ratio": med([r["ratio"] for r in runs]),
                "p50_ms": med([r["p50_ms"] for r in runs]),
                "rss_mb_per_1000_users": med([r["tree_rss_mb_per_1000_users"] for r in runs]),
                "said_short": said,
                "said_ratio": med([r.get("said_ratio") for r in runs]),
                "said_saturated": [r.get("said_saturated") for r in runs if r.get("said_saturated") is not None],
                "auto_choice": next((r.get("auto_choice") for r in runs if r.get("auto_choice")), None),
                "exit_codes": [r["exit_code"] for r in runs],
                "left_behind": sum(r["left_behind"] for r in runs),
                "reps": len(runs),
            }


def table(s, meta, w):
    """Writes this section's part of the table with `w`, from the summary `s`."""
    if "scale" not in s:
        return
    w("")
    w(f"5. Scale: hipster Normal users, wait 1 s, {meta.get('scale_seconds', '?')} s runs against nginx; "
      "delivered/planned from nginx's counter, steady state")
    w(f"   {'users':>6}  {'generator':<24}{'planned/s':>10}{'delivered/s':>12}{'ratio':>7}{'p50 ms':>8}"
      f"{'MB/1000u':>9}  loadgen said")
    for users, variants in s["scale"].items():
        for variant in VARIANTS:
            r = variants.get(variant)
            if not r:
                continue
            said = ""
            if variant != "locust_processes":
                short = "short" if any(r["said_short"]) else "delivered"
                said = f"{short} ({fmt(r['said_ratio'] and r['said_ratio'] * 100, '.0f')}%)"
                if any(r["said_saturated"]):
                    said += ", saturated"
                if r["auto_choice"] and variant.startswith("loadgen_auto"):
                    said += f"; auto: {r['auto_choice'].split(' (')[0]}"
            w(f"   {users:>6}  {LABELS[variant]:<24}{fmt(r['planned_req_per_s'], '.0f'):>10}"
              f"{fmt(r['delivered_req_per_s'], '.0f'):>12}{fmt(r['ratio'], '.2f'):>7}{fmt(r['p50_ms'], '.0f'):>8}"
              f"{fmt(r['rss_mb_per_1000_users'], '.0f'):>9}  {said}")
