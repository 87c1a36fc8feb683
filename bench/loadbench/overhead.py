"""Sections 2 and 3, overhead and throughput: requests per CPU second at
saturation, loadgen vs plain Locust (back to back and simultaneous pairs),
`--user-class fast` vs `http`, `--workers 2` vs `--workers 1`."""

import json
import os
import subprocess
import time
from pathlib import Path

from .common import fmt, fr, log, med
from .loads import SAT_USERS, locust_cmd, write_load
from .processes import descendants, kill_tagged, proc_cpu, reap, run_measured, steady_state, wait_gone


def saturation(ctx, plan, seconds, target):
    """Runs pairs of generator variants at saturation; `plan` lists (group, reps,
    [variant, variant]); returns {group: {variant: [runs]}}."""
    cfg, rendered = saturation_load(ctx, seconds)
    host = target.host
    # Like for like with plain Locust, which sends no trace headers: their own
    # cost is section 3c's (bench/loadbench/trace.py).
    base = [ctx.loadgen, "run", "--config_file", cfg, "--host", host, "--run_time", f"{seconds}s", "--locust", ctx.locust,
            "--no-traceparent", "--no-baggage"]
    variants = {
        "locust": None,
        "loadgen_http": [],
        "loadgen_fast": ["--user-class", "fast"],
        "loadgen_workers1": ["--workers", "1"],
        "loadgen_workers2": ["--workers", "2"],
        # The link between master and local workers keyed (the default since
        # the cluster key) against plain, as Locust's own.
        "loadgen_workers2_plain": ["--workers", "2", "--no-cluster-key"],
    }
    results = {}
    for group, reps, pair in plan:
        results[group] = {v: [] for v in pair}
        for rep in range(reps):
            # Pairs back to back, alternating which goes first (ABBA...): the machine's
            # speed drifts over minutes, so only neighbours compare well.
            for variant in (pair if rep % 2 == 0 else pair[::-1]):
                name = f"sat-{group}-{variant}-{rep + 1}"
                log(f"saturation {group} rep {rep + 1}/{reps}: {variant}")
                server0 = target.requests()
                server_cpu0 = target.cpu()
                if variant == "locust":
                    run = run_measured(ctx.procs, locust_cmd(ctx.locust) + [
                        "-f", rendered / "locustfile.py", "--headless", "-u", SAT_USERS, "-r", SAT_USERS, "-t", f"{seconds}s",
                        "--host", host, "--only-summary", "--loglevel", "WARNING"], name, seconds + 60, server=target)
                    # Locust's final summary (its --csv file is written periodically and misses the last second).
                    run["requests"] = locust_summary_requests(Path(run["output"]))
                else:
                    report = ctx.workdir / f"{name}-report"
                    run = run_measured(ctx.procs, base + variants[variant] + ["--report", report], name, seconds + 90, server=target)
                    run["requests"] = loadgen_requests(report / "summary.json")
                run["server_requests"] = target.requests() - server0 - 1 - run.pop("status_polls", 0)
                run["server_cpu_s"] = target.cpu() - server_cpu0
                run["seconds"] = seconds
                req = run["requests"] or 0
                run["req_per_s"] = req / seconds
                run["req_per_cpu_s"] = req / run["tree_cpu_s"] if run["tree_cpu_s"] else None
                results[group][variant].append(run)
                st = run["steady"] or {}
                log(f"  steady state: {st.get('req_per_s') or 0:.0f} req/s, {st.get('req_per_cpu_s') or 0:.0f} req/CPU-s over {st.get('seconds') or 0:.1f}s")
                log(f"  {req} requests ({run['server_requests']} at the server), {run['req_per_s']:.0f}/s, "
                    f"tree CPU {run['tree_cpu_s']:.2f}s -> {run['req_per_cpu_s'] or 0:.0f} req/CPU-s; "
                    f"top process CPU {run['own_cpu_s'] or 0:.2f}s, RSS {run['own_hwm_mb']:.1f} MB; server CPU "
                    f"{run['server_cpu_s']:.2f}s; machine busy {run['machine_busy_cores']:.2f} cores; exit {run['exit_code']}"
                    f"{'; LEFT BEHIND ' + str(run['left_behind']) if run['left_behind'] else ''}")
                time.sleep(0.5)
    return results


def overhead_simultaneous(ctx, reps, seconds, servers):
    """loadgen and plain Locust at the same time, each pinned to its own CPU and
    sending to its own nginx, cores swapped every rep: both see the same machine at
    the same moment, so the drift of this VM's speed (+-15% between runs minutes
    apart) cancels out of their ratio. Figures are steady-state, from /proc and each
    nginx's counter."""
    cfg, rendered = saturation_load(ctx, seconds)
    runs = {"locust": [], "loadgen_http": []}
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        log("simultaneous pairs need 2 CPUs: skipped")
        return None
    for rep in range(reps):
        log(f"simultaneous pair {rep + 1}/{reps}")
        jobs = []
        for i, variant in enumerate(("locust", "loadgen_http")):
            cpu = cpus[(i + rep) % 2]
            server = servers[(i + rep) % 2]
            name = f"sim-{variant}-{rep + 1}"
            if variant == "locust":
                cmd = locust_cmd(ctx.locust) + [
                    "-f", rendered / "locustfile.py", "--headless", "-u", SAT_USERS, "-r", SAT_USERS, "-t", f"{seconds}s",
                    "--host", server.host, "--only-summary", "--loglevel", "WARNING"]
            else:
                cmd = [ctx.loadgen, "run", "--config_file", cfg, "--host", server.host, "--run_time", f"{seconds}s",
                       "--locust", ctx.locust, "--report", ctx.workdir / f"{name}-report", "--no-traceparent", "--no-baggage"]
            jobs.append({"variant": variant, "name": name, "cmd": cmd, "cpu": cpu, "server": server})
        for job in run_concurrently(ctx.procs, jobs, seconds + 60):
            if job["variant"] == "locust":
                job["requests"] = locust_summary_requests(Path(job["output"]))
            else:
                job["requests"] = loadgen_requests(ctx.workdir / f"{job['name']}-report" / "summary.json")
            st = job["steady"] or {}
            log(f"  {job['variant']} on CPU {job['cpu']}: steady {st.get('req_per_s') or 0:.0f} req/s, "
                f"{st.get('req_per_cpu_s') or 0:.0f} req/CPU-s; {job['requests']} requests; exit {job['exit_code']}"
                f"{'; LEFT BEHIND ' + str(job['left_behind']) if job['left_behind'] else ''}")
            del job["server"], job["cmd"]
            runs[job["variant"]].append(job)
        time.sleep(0.5)
    return runs


def run_concurrently(procs, jobs, limit):
    """Runs the jobs ({name, cmd, cpu, server}) at once; samples each one's process
    tree CPU and its server's request counter every 0.5 s for its steady state."""
    reap()
    live = []
    for job in jobs:
        tag = procs.new_tag(job["name"])
        output = procs.workdir / f"{job['name']}.log"
        p = procs.spawn(job["cmd"], tag, output, cpu=job["cpu"])
        live.append({"job": job, "tag": tag, "p": p, "samples": [], "seen": set(), "output": str(output)})
    start = time.monotonic()
    next_sample = start
    try:
        while any(x["p"].poll() is None for x in live):
            if time.monotonic() >= next_sample:
                next_sample += 0.5
                for x in live:
                    if x["p"].poll() is None:
                        tree = [x["p"].pid] + descendants(x["p"].pid)
                        x["seen"].update(tree[1:])
                        x["samples"].append((time.monotonic(), x["job"]["server"].requests(),
                                             sum(proc_cpu(pid) or 0 for pid in tree)))
            if time.monotonic() - start > limit:
                for x in live:
                    kill_tagged(x["tag"])
            time.sleep(0.05)
    finally:
        for x in live:
            left = wait_gone(x["tag"], 5.0)
            if left:
                kill_tagged(x["tag"])
            x["left_behind"] = len(left)
            if x["p"].poll() is None:
                x["p"].kill()
                x["p"].wait()
        reap()
    out = []
    for x in live:
        job = dict(x["job"])
        job.update({"steady": steady_state(x["samples"]), "exit_code": x["p"].returncode,
                    "left_behind": x["left_behind"], "output": x["output"]})
        out.append(job)
    return out


def saturation_load(ctx, seconds):
    """The saturation load (one phase, SAT_USERS users, wait 0) and its rendered locustfile."""
    loaddir = ctx.workdir / f"saturation-{seconds}s"
    cfg = write_load(loaddir, [{"duration": seconds, "users": SAT_USERS, "hatch": SAT_USERS,
                                "types": {"A": (1, 0, 0)}}], ["A"])
    rendered = loaddir / "rendered"
    if not (rendered / "locustfile.py").exists():
        r = subprocess.run([ctx.loadgen, "render", "--config_file", cfg, "--out", rendered],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"loadgen render failed: {r.stderr}")
    return cfg, rendered


def loadgen_requests(summary):
    try:
        return json.loads(summary.read_text())["total"]["total"]["requests"]
    except Exception:
        return None


def locust_summary_requests(path):
    """The request count of the first `Aggregated` row of Locust's final summary."""
    try:
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "Aggregated" and fields[1].isdigit():
                return int(fields[1])
    except OSError:
        pass
    return None


def summarize(res, s):
    """Adds this section's medians and ratios (from `res`, the raw runs) to `s`."""
    if "saturation" in res:
        sat = res["saturation"]
        s["saturation"] = {}
        for group, variants in sat.items():
            s["saturation"][group] = {}
            for variant, runs in variants.items():
                s["saturation"][group][variant] = {
                    "req_per_s": med([r["req_per_s"] for r in runs]),
                    "req_per_cpu_s": med([r["req_per_cpu_s"] for r in runs]),
                    "steady_req_per_s": med([r["steady"] and r["steady"]["req_per_s"] for r in runs]),
                    "steady_req_per_cpu_s": med([r["steady"] and r["steady"]["req_per_cpu_s"] for r in runs]),
                    "tree_cpu_s": med([r["tree_cpu_s"] for r in runs]),
                    "own_cpu_s": med([r["own_cpu_s"] for r in runs]),
                    "own_hwm_mb": med([r["own_hwm_mb"] for r in runs]),
                    "server_cpu_s": med([r["server_cpu_s"] for r in runs]),
                    "machine_busy_cores": med([r["machine_busy_cores"] for r in runs]),
                    "steal_cores": med([r["steal_cores"] for r in runs]),
                    "server_vs_reported": med([(r["server_requests"] / r["requests"]) if r["requests"] else None for r in runs]),
                    "left_behind": sum(r["left_behind"] for r in runs),
                    "reps": len(runs),
                }

        def get(run, key):
            if key.startswith("steady_"):
                return run["steady"] and run["steady"].get(key[len("steady_"):])
            return run.get(key)

        def paired(group, a, b, key):
            if group not in sat:
                return None
            ratios = [get(x, key) / get(y, key) for x, y in zip(sat[group][a], sat[group][b]) if get(x, key) and get(y, key)]
            return {"median": med(ratios), "min": min(ratios), "max": max(ratios), "n": len(ratios)} if ratios else None

        s["ratios"] = {
            "overhead_loadgen_vs_locust_req_per_cpu": paired("overhead", "loadgen_http", "locust", "req_per_cpu_s"),
            "overhead_loadgen_vs_locust_req_per_s": paired("overhead", "loadgen_http", "locust", "req_per_s"),
            "overhead_loadgen_vs_locust_steady_req_per_cpu": paired("overhead", "loadgen_http", "locust", "steady_req_per_cpu_s"),
            "overhead_loadgen_vs_locust_steady_req_per_s": paired("overhead", "loadgen_http", "locust", "steady_req_per_s"),
            "fast_vs_http_req_per_cpu": paired("user_class", "loadgen_fast", "loadgen_http", "req_per_cpu_s"),
            "fast_vs_http_steady_req_per_cpu": paired("user_class", "loadgen_fast", "loadgen_http", "steady_req_per_cpu_s"),
            "fast_vs_http_req_per_s": paired("user_class", "loadgen_fast", "loadgen_http", "req_per_s"),
            "workers2_vs_workers1_req_per_s": paired("workers", "loadgen_workers2", "loadgen_workers1", "req_per_s"),
            "workers2_vs_workers1_steady_req_per_s": paired("workers", "loadgen_workers2", "loadgen_workers1", "steady_req_per_s"),
            "workers2_vs_workers1_req_per_cpu": paired("workers", "loadgen_workers2", "loadgen_workers1", "req_per_cpu_s"),
            "keyed_vs_plain_req_per_cpu": paired("cluster_key", "loadgen_workers2", "loadgen_workers2_plain", "req_per_cpu_s"),
            "keyed_vs_plain_steady_req_per_cpu": paired("cluster_key", "loadgen_workers2", "loadgen_workers2_plain",
                                                        "steady_req_per_cpu_s"),
            "keyed_vs_plain_req_per_s": paired("cluster_key", "loadgen_workers2", "loadgen_workers2_plain", "req_per_s"),
        }
        sim = res.get("simultaneous")
        if sim:
            def sim_ratio(key):
                ratios = [g["steady"][key] / l["steady"][key] for l, g in zip(sim["locust"], sim["loadgen_http"])
                          if l["steady"] and g["steady"] and l["steady"][key] and g["steady"][key]]
                return {"median": med(ratios), "min": min(ratios), "max": max(ratios), "n": len(ratios)} if ratios else None

            s["ratios"]["overhead_simultaneous_steady_req_per_cpu"] = sim_ratio("req_per_cpu_s")
            s["ratios"]["overhead_simultaneous_steady_req_per_s"] = sim_ratio("req_per_s")
            s["simultaneous"] = {v: {"steady_req_per_s": med([r["steady"] and r["steady"]["req_per_s"] for r in runs]),
                                     "steady_req_per_cpu_s": med([r["steady"] and r["steady"]["req_per_cpu_s"] for r in runs]),
                                     "left_behind": sum(r["left_behind"] for r in runs), "reps": len(runs)}
                                 for v, runs in sim.items()}
        own = [r["own_cpu_s"] / r["tree_cpu_s"] for g in sat.values() for r in g.get("loadgen_http", [])
               if r["own_cpu_s"] is not None and r["tree_cpu_s"]]
        s["loadgen_own_cpu_share"] = med(own)


def table(s, meta, w):
    """Writes this section's part of the table with `w`, from the summary `s`."""
    if "saturation" in s:
        sat = s["saturation"]
        w("")
        w(f"2./3. Saturation: {SAT_USERS} users, wait 0, {meta['sat_seconds']} s, against {meta['server']}; CPU = the generator's whole process tree")
        w(f"   {'':<22}{'whole run':>19}{'steady state':>20}")
        w(f"   {'generator':<22}{'req/s':>8}{'req/CPU-s':>11}{'req/s':>9}{'req/CPU-s':>11}{'tree CPU s':>12}{'top CPU s':>11}{'top RSS MB':>12}{'server CPU s':>14}{'busy cores':>12}{'steal':>7}")
        labels = {"locust": "plain locust (http)", "loadgen_http": "loadgen http", "loadgen_fast": "loadgen fast",
                  "loadgen_workers1": "loadgen --workers 1", "loadgen_workers2": "loadgen --workers 2",
                  "loadgen_workers2_plain": "--workers 2, plain"}
        groups = {"overhead": "overhead pairs", "user_class": "user class pairs", "workers": "worker pairs",
                  "cluster_key": "cluster key pairs (keyed link vs plain)"}
        agree = []
        for group, variants in sat.items():
            w(f"   {groups.get(group, group)}, {next(iter(variants.values()))['reps']} reps:")
            for k, r in variants.items():
                label = labels.get(k, k)
                w(f"     {label:<20}{fmt(r['req_per_s'], '.0f'):>8}{fmt(r['req_per_cpu_s'], '.0f'):>11}"
                  f"{fmt(r['steady_req_per_s'], '.0f'):>9}{fmt(r['steady_req_per_cpu_s'], '.0f'):>11}{fmt(r['tree_cpu_s'], '.2f'):>12}"
                  f"{fmt(r['own_cpu_s'], '.2f'):>11}{fmt(r['own_hwm_mb'], '.1f'):>12}{fmt(r['server_cpu_s'], '.2f'):>14}"
                  f"{fmt(r['machine_busy_cores'], '.2f'):>12}{fmt(r['steal_cores'], '.2f'):>7}")
                agree.append(f"{label} {fmt(r['server_vs_reported'], '.3f')}")
        ra = s["ratios"]
        if s.get("simultaneous"):
            sm = s["simultaneous"]
            w(f"   simultaneous pairs, {sm['locust']['reps']} reps (each on its own CPU and its own nginx, CPUs swapped every rep), steady state:")
            for k in ("locust", "loadgen_http"):
                w(f"     {labels[k]:<20}{'':>19}{fmt(sm[k]['steady_req_per_s'], '.0f'):>9}{fmt(sm[k]['steady_req_per_cpu_s'], '.0f'):>11}")
        w("   ratios: median of the per-rep pairs (lowest-highest pair)")
        w(f"     overhead: loadgen / plain locust, req per CPU-s, simultaneous  {fr(ra.get('overhead_simultaneous_steady_req_per_cpu'), '.3f')}   (target >= 0.98)")
        w(f"               loadgen / plain locust, req/s, simultaneous          {fr(ra.get('overhead_simultaneous_steady_req_per_s'), '.3f')}")
        w(f"               loadgen / plain locust, req per CPU-s, steady state  {fr(ra['overhead_loadgen_vs_locust_steady_req_per_cpu'], '.3f')}   (back to back)")
        w(f"               loadgen / plain locust, req per CPU-s, whole run     {fr(ra['overhead_loadgen_vs_locust_req_per_cpu'], '.3f')}   (includes start-up)")
        w(f"               loadgen / plain locust, req/s, steady state          {fr(ra['overhead_loadgen_vs_locust_steady_req_per_s'], '.3f')}")
        w(f"               loadgen / plain locust, req/s, whole run             {fr(ra['overhead_loadgen_vs_locust_req_per_s'], '.3f')}")
        w(f"     loadgen's own (Rust) share of its tree's CPU                   {fmt(s.get('loadgen_own_cpu_share') and s['loadgen_own_cpu_share'] * 100, '.2f')}%")
        w(f"     throughput: fast / http, req per CPU-s, steady state           {fr(ra['fast_vs_http_steady_req_per_cpu'], '.2f')}")
        w(f"                 fast / http, req per CPU-s, whole run              {fr(ra['fast_vs_http_req_per_cpu'], '.2f')}")
        w(f"                 fast / http, req/s, whole run                      {fr(ra['fast_vs_http_req_per_s'], '.2f')}")
        w(f"                 --workers 2 / --workers 1, req/s, steady state     {fr(ra['workers2_vs_workers1_steady_req_per_s'], '.2f')}")
        w(f"                 --workers 2 / --workers 1, req/s, whole run        {fr(ra['workers2_vs_workers1_req_per_s'], '.2f')}")
        w(f"                 --workers 2 / --workers 1, req per CPU-s, whole    {fr(ra['workers2_vs_workers1_req_per_cpu'], '.2f')}")
        if ra.get("keyed_vs_plain_req_per_cpu"):
            w(f"     cluster key: keyed / plain --workers 2, req per CPU-s, steady  {fr(ra['keyed_vs_plain_steady_req_per_cpu'], '.3f')}")
            w(f"                  keyed / plain --workers 2, req per CPU-s, whole   {fr(ra['keyed_vs_plain_req_per_cpu'], '.3f')}")
            w(f"                  keyed / plain --workers 2, req/s, whole run       {fr(ra['keyed_vs_plain_req_per_s'], '.3f')}")
        w("   server-counted / generator-reported requests: " + ", ".join(agree))
