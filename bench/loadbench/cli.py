"""The command: parse the options, measure the sections asked for, write the raw
runs and their summary to results.json, and print the table."""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from .common import BENCH, REPO, Ctx, cpu_model, log, on_alarm, on_term
from . import overhead as overhead_section, report as report_sections, trace as trace_section
from .fidelity import fidelity
from .loads import find_locust
from .open import open_model
from .overhead import overhead_simultaneous, saturation
from .processes import Procs, become_subreaper
from .scale import QUICK_SIZES, SIZES, scale
from .report import summarize, table
from .servers import Nginx, Shop, ShopTarget, find_nginx
from .shape import shape_bench
from .soak import soak
from .startstop import start_stop
from .trace import trace_bench

# Section 3c (trace) tabulates after overhead/throughput: listed here, beside the
# sections report.SECTIONS lists itself.
if trace_section not in report_sections.SECTIONS:
    report_sections.SECTIONS.insert(report_sections.SECTIONS.index(overhead_section) + 1, trace_section)


def report_only(path):
    """Re-tabulates a results file: the summary is recomputed from its raw runs."""
    try:
        data = json.loads(path.read_text())
        meta, runs = data["meta"], data["runs"]
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"cannot read the runs in {path}: {e}")
    print(table(summarize(runs), meta))


def main(doc):
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, 6 s saturation runs (~3 min)")
    ap.add_argument("--reps", type=int, help="repetitions per measurement [3, overhead pairs 5; --quick: 1]")
    ap.add_argument("--overhead-reps", type=int,
                    help="loadgen/plain Locust pairs, back to back [3; --quick: 1] and simultaneous [6; --quick: 2]")
    ap.add_argument("--sat-seconds", type=int, help="length of each saturation run [12; --quick: 6]")
    ap.add_argument("--locust", help="the `locust` script [$LOADGEN_LOCUST, else locust on PATH]")
    ap.add_argument("--no-build", action="store_true", help="use target/release/loadgen as it is")
    ap.add_argument("--only", default="fidelity,overhead,throughput,cluster,startstop,scale,soak,open,shape",
                    help="comma-separated sections: fidelity, overhead, throughput, cluster, startstop, scale, soak, "
                         "open, shape; and trace (the trace context's cost: not in the default, about 7 minutes)")
    ap.add_argument("--scale-users", help="user counts of the scale section [500,1500,3000,6000; --quick: 500,1500]")
    ap.add_argument("--scale-seconds", type=int, help="length of each scale run [40; --quick: 25]")
    ap.add_argument("--soak-seconds", type=int, help="length of the soak run, one occurrence a second [300; --quick: 90]")
    ap.add_argument("--scale-variants",
                    help="generators of the scale section [loadgen,loadgen_one_http,locust_processes; "
                         "also loadgen_auto_http: --user-class http]")
    ap.add_argument("--trace-variants", default="off,on,otlp",
                    help="variants of the trace section [off,on,otlp; otlp only if loadgen exports to the sink]")
    ap.add_argument("--json", help="write all figures here [bench/results.json; --quick: bench/results-quick.json]")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, reports)")
    ap.add_argument("--shape-sizes", default=None, metavar="MB,MB",
                    help="access log sizes for the shape section (default 100,1000; --quick 100)")
    ap.add_argument("--report-only", nargs="?", const=str(BENCH / "results.json"), metavar="FILE",
                    help="measure nothing: print the table again from the runs kept in FILE [bench/results.json]")
    args = ap.parse_args()
    if args.report_only:
        report_only(Path(args.report_only))
        return
    reps = args.reps or (1 if args.quick else 3)
    sat_seconds = args.sat_seconds or (6 if args.quick else 12)
    soak_seconds = args.soak_seconds or (90 if args.quick else 300)
    only = set(x.strip() for x in args.only.split(",") if x.strip())
    scale_sizes = [int(x) for x in args.scale_users.split(",")] if args.scale_users else (
        QUICK_SIZES if args.quick else SIZES)
    scale_seconds = args.scale_seconds or (25 if args.quick else 40)
    budget = 55 * 60 if not args.quick else 18 * 60

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(budget)
    started = time.monotonic()

    if not args.no_build:
        log("cargo build --release")
        r = subprocess.run(["cargo", "build", "--release"], cwd=REPO, stdin=subprocess.DEVNULL, timeout=1200)
        if r.returncode != 0:
            raise SystemExit("cargo build --release failed (try --no-build to use the last built binary)")
    built = REPO / "target" / "release" / "loadgen"
    if not built.exists():
        raise SystemExit(f"no {built}: build it (cargo build --release)")
    locust, locust_version = find_locust(args.locust)
    log(f"Locust {locust_version} at {locust}")

    workdir = Path(tempfile.mkdtemp(prefix="loadgen-bench-"))
    # A private copy: a concurrent `cargo build` cannot swap the binary mid-run.
    loadgen = workdir / "loadgen"
    shutil.copy2(built, loadgen)
    subreaper = become_subreaper()
    ctx = Ctx(workdir=workdir, loadgen=loadgen, locust=locust, budget=budget, procs=Procs(workdir))
    meta = {
        "mode": "quick" if args.quick else "full",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "locust_version": locust_version,
        "loadgen_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                         text=True).stdout.strip(),
        "loadgen_worktree_dirty": bool(subprocess.run(["git", "status", "--porcelain", "load_generation"], cwd=REPO,
                                                      capture_output=True, text=True).stdout.strip()),
        "reps": reps,
        "overhead_reps": args.overhead_reps or args.reps or (1 if args.quick else 3),
        "simultaneous_reps": args.overhead_reps or args.reps or (2 if args.quick else 6),
        "sat_seconds": sat_seconds,
        "scale_seconds": scale_seconds,
        "soak_seconds": soak_seconds,
        "subreaper": subreaper,
        "loadavg_before": open("/proc/loadavg").read().split()[:3],
    }
    results = {}
    nginx = None
    shop_target = None
    try:
        if "fidelity" in only:
            results["fidelity"] = fidelity(ctx, reps)
        if only & {"overhead", "throughput", "cluster", "startstop", "scale", "trace"}:
            nginx_path = find_nginx(allow_install=True)
            if nginx_path:
                nginx = Nginx(ctx.procs, nginx_path, budget)
                meta["server"] = "nginx " + subprocess.run([nginx_path, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1] + " (1 worker)"
            else:
                log("no nginx: the saturation target is the demo shop (1-8 ms latency: less of a pure generator test)")
                meta["server"] = "the demo shop (no nginx)"
        else:
            meta["server"] = "-"
        if only & {"overhead", "throughput", "cluster"}:
            if nginx is not None:
                target = nginx
            else:
                shop_target = ShopTarget(Shop(ctx.procs, loadgen, budget))
                target = shop_target
            plan = []
            if "overhead" in only:
                plan.append(("overhead", meta["overhead_reps"], ["locust", "loadgen_http"]))
            if "throughput" in only:
                plan.append(("user_class", reps, ["loadgen_http", "loadgen_fast"]))
                plan.append(("workers", reps, ["loadgen_workers1", "loadgen_workers2"]))
            if "cluster" in only:
                # The cost of the keyed master-worker link: ABBA pairs, at least 4.
                plan.append(("cluster_key", max(reps, 4), ["loadgen_workers2", "loadgen_workers2_plain"]))
            results["saturation"] = saturation(ctx, plan, sat_seconds, target)
            if "overhead" in only and nginx is not None:
                second = Nginx(ctx.procs, nginx_path, budget, name="nginx2")
                try:
                    results["simultaneous"] = overhead_simultaneous(ctx, meta["simultaneous_reps"], sat_seconds,
                                                                    [nginx, second])
                finally:
                    second.stop()
        if "trace" in only:
            # ABC CBA ... pairs: at least 6 (2 with --quick), 10 s runs (6 with --quick).
            trace_reps = (args.reps or 2) if args.quick else max(args.reps or 0, 6)
            trace_target = nginx
            if trace_target is None:
                if shop_target is None:
                    shop_target = ShopTarget(Shop(ctx.procs, loadgen, budget))
                trace_target = shop_target
            results["trace"] = trace_bench(ctx, trace_reps, args.sat_seconds or (6 if args.quick else 10),
                                           trace_target, args.trace_variants.split(","))
        if "scale" in only:
            if nginx is None:
                log("the scale section needs nginx (its request counter judges delivery): skipped")
            else:
                variants = args.scale_variants.split(",") if args.scale_variants else None
                results["scale"] = scale(ctx, 1 if args.quick else min(reps, 2), scale_sizes, scale_seconds, nginx,
                                         variants)
        if "startstop" in only:
            if nginx is None:
                log("start/stop needs nginx's access log: skipped")
            else:
                results["start_stop"] = start_stop(ctx, reps, nginx)
        if "soak" in only:
            shop = Shop(ctx.procs, loadgen, budget)
            try:
                results["soak"] = [soak(ctx, soak_seconds, shop)]
            finally:
                shop.stop()
        if "open" in only:
            results["open"] = open_model(ctx, reps, args.quick)
        if "shape" in only:
            sizes = [int(x) for x in args.shape_sizes.split(",")] if args.shape_sizes else (
                [100] if args.quick else [100, 1000])
            results["shape"] = shape_bench(ctx, reps, sizes)
    finally:
        if nginx is not None:
            nginx.stop()
        if shop_target is not None:
            shop_target.shop.stop()
        ctx.procs.cleanup()
        signal.alarm(0)
    meta["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    meta["total_s"] = round(time.monotonic() - started, 1)
    summary = summarize(results)
    text = table(summary, meta)
    print(text)
    print(f"\n(total {meta['total_s']} s; work directory {workdir}{'' if args.keep else ', removed'})")
    out = Path(args.json) if args.json else BENCH / ("results-quick.json" if args.quick else "results.json")
    out.write_text(json.dumps({"meta": meta, "summary": summary, "runs": results}, indent=2, default=str) + "\n")
    print(f"figures written to {out}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
