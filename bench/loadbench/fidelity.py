"""Section 1, fidelity: a 3-phase load with a changing mix, judged from the demo
shop's request log, for loadgen, a fresh `locust --headless` per phase, and a
hand-written LoadTestShape."""

import json
import subprocess
import time

from .common import BENCH, fmt, log, med
from .loads import FIDELITY_PHASES, TYPES, WINDOW, locust_cmd, planned, write_load
from .processes import run_measured
from .servers import Shop


def live_at(log_entries, t):
    sessions = {}
    for r in log_entries:
        if r["t"] > t:
            break
        if r["t"] > t - WINDOW and r.get("user_type"):
            sessions.setdefault(r["user_type"], set()).add(r["session"])
    return {k: len(v) for k, v in sessions.items()}


def judge(entries, phases):
    """Fidelity figures of one run, from the server's request log."""
    if not entries:
        return {"error": "no requests"}
    entries = sorted(entries, key=lambda r: r["t"])
    t0 = entries[0]["t"] - 0.02  # the run starts with its first request
    starts, s = [], 0.0
    for ph in phases:
        starts.append(s)
        s += ph["duration"]
    planned_total = s

    def live(t):
        # Only entries up to t matter: bisect-free scan of a window.
        return live_at(window_slice(entries, t), t)

    plateau_err, mix_err, stray = 0.0, 0.0, 0
    points = []
    for i, ph in enumerate(phases):
        want = planned(ph)
        total_want = sum(want.values())
        d = ph["duration"]
        for offset in (d * 0.5, d * 0.75, d - 0.3):
            at = t0 + starts[i] + offset
            seen = live(at)
            seen_total = sum(seen.values())
            points.append({"phase": i + 1, "at": round(at - t0, 2), "seen": seen, "planned": want})
            for kind in TYPES:
                w = want.get(kind, 0)
                g = seen.get(kind, 0)
                if w > 0:
                    plateau_err = max(plateau_err, abs(g - w) / w)
                else:
                    stray = max(stray, g)
                share = g / seen_total if seen_total else 0.0
                mix_err = max(mix_err, abs(share - w / total_want) * 100)

    transitions = []
    for i in range(1, len(phases)):
        b_plan = t0 + starts[i]
        new = [k for k in phases[i]["types"] if k not in phases[i - 1]["types"]]
        firsts = [r["t"] for r in entries if r.get("user_type") in new and r["t"] > t0 + starts[i - 1]]
        b_seen = min(firsts) if firsts else None
        floor = min(sum(planned(phases[i - 1]).values()), sum(planned(phases[i]).values()))
        lo = min(b_plan, b_seen or b_plan) - 1.0
        hi = max(b_plan, b_seen or b_plan) + 3.5
        lowest, t = None, lo
        while t <= hi:
            n = sum(live(t).values())
            lowest = n if lowest is None else min(lowest, n)
            t += 0.1
        transitions.append({
            "boundary": i,
            "new_types": new,
            "drift_s": None if b_seen is None else b_seen - b_plan,
            "lowest_live": lowest,
            "floor": floor,
            "lowest_rel": lowest / floor if floor else None,
        })
    late_stray_requests = 0
    for i, ph in enumerate(phases):
        gone = [k for k in TYPES if k not in ph["types"]]
        a, b = t0 + starts[i] + 2.0, t0 + starts[i] + ph["duration"]
        late_stray_requests += sum(1 for r in entries if a < r["t"] <= b and r.get("user_type") in gone
                                   and any(r.get("user_type") in p["types"] for p in phases[:i]))
    times = [r["t"] for r in entries]
    gaps = [(b - a, a) for a, b in zip(times, times[1:])]
    longest = max(gaps) if gaps else (0.0, t0)
    return {
        "requests": len(entries),
        "longest_silence_s": longest[0],
        "longest_silence_at_s": longest[1] - t0,
        "failures": sum(1 for r in entries if r.get("status") != 200),
        "plateau_err": plateau_err,
        "mix_err_pts": mix_err,
        "stray_users": stray,
        "stray_requests": late_stray_requests,
        "lowest_transition_rel": min(t["lowest_rel"] for t in transitions),
        "drift_s": [t["drift_s"] for t in transitions],
        "max_drift_s": max(abs(t["drift_s"]) if t["drift_s"] is not None else float("inf") for t in transitions),
        "lasted_s": entries[-1]["t"] - t0,
        "planned_s": planned_total,
        "transitions": transitions,
        "points": points,
    }


def window_slice(entries, t):
    """The entries in (t - WINDOW, t], found by bisection on the sorted times."""
    import bisect
    times = window_slice.cache.get(id(entries))
    if times is None or len(times) != len(entries):
        times = [r["t"] for r in entries]
        window_slice.cache = {id(entries): times}
    lo = bisect.bisect_right(times, t - WINDOW)
    hi = bisect.bisect_right(times, t)
    return entries[lo:hi]


window_slice.cache = {}


def fidelity(ctx, reps):
    phases = FIDELITY_PHASES
    d_total = sum(p["duration"] for p in phases)
    loaddir = ctx.workdir / "fidelity"
    cfg = write_load(loaddir, phases, TYPES)
    rendered = loaddir / "rendered"
    r = subprocess.run([ctx.loadgen, "render", "--config_file", cfg, "--out", rendered],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"loadgen render failed: {r.stderr}")
    shape_env = {"BENCH_SHAPE_PHASES": json.dumps([
        {"duration": p["duration"], "users": p["users"], "hatch": p["hatch"],
         "types": {k: [ratio, lo / 1000, hi / 1000] for k, (ratio, lo, hi) in p["types"].items()}}
        for p in phases])}
    shop = Shop(ctx.procs, ctx.loadgen, ctx.budget)
    results = {"loadgen": [], "per_phase_locust": [], "locust_shape": []}
    try:
        for rep in range(reps):
            order = list(results)
            order = order[rep % 3:] + order[:rep % 3]  # rotate, so no system always goes first
            for system in order:
                since = shop.total()
                time.sleep(0.3)
                name = f"fid-{system}-{rep + 1}"
                log(f"fidelity rep {rep + 1}/{reps}: {system}")
                runs = []
                if system == "loadgen":
                    runs.append(run_measured(ctx.procs, [ctx.loadgen, "run", "--config_file", cfg, "--host", shop.host,
                                                         "--run_time", f"{d_total}s", "--locust", ctx.locust],
                                             name, d_total + 60))
                elif system == "per_phase_locust":
                    for k, p in enumerate(phases, 1):
                        runs.append(run_measured(ctx.procs, locust_cmd(ctx.locust) + [
                            "-f", rendered / f"locustfile.phase{k}.py", "--headless", "-u", p["users"], "-r", p["hatch"],
                            "-t", f"{p['duration']}s", "--host", shop.host, "--only-summary", "--loglevel", "WARNING"],
                            f"{name}-phase{k}", p["duration"] + 40))
                else:
                    runs.append(run_measured(ctx.procs, locust_cmd(ctx.locust) + [
                        "-f", BENCH / "shape_locustfile.py", "--headless", "--host", shop.host,
                        "--only-summary", "--loglevel", "WARNING"], name, d_total + 60, env=shape_env))
                time.sleep(0.3)
                entries = shop.requests(since)
                fig = judge(entries, phases)
                fig["exit_codes"] = [x["exit_code"] for x in runs]
                fig["left_behind"] = sum(x["left_behind"] for x in runs)
                fig["wall_s"] = sum(x["wall_s"] for x in runs)
                results[system].append(fig)
                log(f"  plateau err {fig.get('plateau_err', 0):.1%}, mix err {fig.get('mix_err_pts', 0):.1f} pts, "
                    f"lowest transition {fig.get('lowest_transition_rel', 0):.2f}, drift {fig.get('drift_s')}, "
                    f"stray users {fig.get('stray_users')}, longest silence {fig.get('longest_silence_s', 0):.2f}s, lasted {fig.get('lasted_s', 0):.1f}s, "
                    f"exit {fig['exit_codes']}, left behind {fig['left_behind']}")
    finally:
        shop.stop()
    return results


def summarize(res, s):
    """Adds this section's medians and ratios (from `res`, the raw runs) to `s`."""
    if "fidelity" in res:
        s["fidelity"] = {}
        for system, runs in res["fidelity"].items():
            runs = [r for r in runs if "error" not in r]
            s["fidelity"][system] = {
                "plateau_err": med([r["plateau_err"] for r in runs]),
                "mix_err_pts": med([r["mix_err_pts"] for r in runs]),
                "lowest_transition_rel": med([r["lowest_transition_rel"] for r in runs]),
                "drift_phase2_s": med([r["drift_s"][0] for r in runs]),
                "drift_phase3_s": med([r["drift_s"][1] for r in runs]),
                "stray_users": med([r["stray_users"] for r in runs]),
                "stray_requests": med([r["stray_requests"] for r in runs]),
                "lasted_s": med([r["lasted_s"] for r in runs]),
                "longest_silence_s": med([r["longest_silence_s"] for r in runs]),
                "failures": sum(r["failures"] for r in runs),
                "left_behind": sum(r["left_behind"] for r in runs),
                "reps": len(runs),
            }


def table(s, meta, w):
    """Writes this section's part of the table with `w`, from the summary `s`."""
    if "fidelity" in s:
        f = s["fidelity"]
        w("")
        w("1. Fidelity: 3 phases x 8 s, 50 A -> 100 (A1:B3) -> 60 (B1:C2), waits 0.25-1 s, demo shop, live = sessions per type in 1.5 s")
        names = {"loadgen": "loadgen", "per_phase_locust": "locust per phase", "locust_shape": "LoadTestShape"}
        w(f"   {'system':<18}{'plateau err':>12}{'mix err':>10}{'lowest in':>11}{'phase 2':>9}{'phase 3':>9}{'stray':>7}{'stray':>8}{'lasted':>8}{'longest':>9}")
        w(f"   {'':<18}{'(max)':>12}{'(pts)':>10}{'transition':>11}{'drift s':>9}{'drift s':>9}{'users':>7}{'reqs':>8}{'s/24':>8}{'silence':>9}")
        for k, label in names.items():
            if k not in f:
                continue
            r = f[k]
            w(f"   {label:<18}{fmt(r['plateau_err'] and r['plateau_err'] * 100, '.1f') + '%':>12}{fmt(r['mix_err_pts'], '.1f'):>10}"
              f"{fmt(r['lowest_transition_rel'], '.2f'):>11}{fmt(r['drift_phase2_s'], '+.2f'):>9}{fmt(r['drift_phase3_s'], '+.2f'):>9}"
              f"{fmt(r['stray_users'], '.0f'):>7}{fmt(r['stray_requests'], '.0f'):>8}{fmt(r['lasted_s'], '.1f'):>8}{fmt(r['longest_silence_s'], '.2f'):>9}")
        w("   (plateau err: max |live - planned| / planned per type at 3 points per phase; mix err: max |share - planned share|;")
        w("    lowest in transition: min live total around each boundary / min(prev, next) phase total; drift: first request of")
        w("    the new phase's new type vs its planned start, from the first request; stray: users/requests of types no longer planned;")
        w("    longest silence: longest time between two consecutive requests the server saw, in s)")
