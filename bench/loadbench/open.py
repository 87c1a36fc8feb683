"""Section 7, open: loadgen's rate phases (the open model) against plain Locust's
`constant_pacing`, judged at the demo shop from its request log (each request's
arrival time, so what was *sent* when, whatever the shop did with it).

  accuracy  loadgen: 3 rate phases, 200 -> 800 -> 400 req/s, the mix changing
            (A; A1:B3; B1:C1); the rate each phase delivered at the server over
            its wall-clock span (summary.json's phases[].started_at/ended_at), its
            error against the plan, and the worst share error of the mix.
            Plain Locust: 40 users, each `constant_pacing(0.1)` (400 req/s
            planned), delivered over its steady part (2 s after the first
            request to 1 s before the last).
  stall     the shop stalls the last 1 s of every 5 s (latency 0 otherwise):
            loadgen at 200 req/s (pool of 300) against plain Locust's 20 users
            pacing 0.1 s; requests the server received against rate x run time,
            Locust's p99 response time, loadgen's p99 response time and p99
            from the intended start (summary.json's total.total.intended).
  arrivals  one loadgen run, 200 req/s UNIFORM then 200 req/s POISSON: the
            coefficient of variation (stdev / mean) of the gaps between arrivals
            at the server, per phase (0 for perfectly even, 1 for Poisson);
            plain Locust's constant_pacing run of `accuracy` beside them.
"""

import csv
import json
import statistics
import time
from datetime import datetime

from .common import fmt, log, med
from .loads import locust_cmd
from .processes import run_measured
from .servers import Shop

# (seconds, req/s, {type: ratio}): the accuracy load.
ACCURACY = [(8, 200, {"A": 1}), (8, 800, {"A": 1, "B": 3}), (8, 400, {"B": 1, "C": 1})]
PACED_USERS, PACED_RATE = 40, 400  # plain Locust: 40 users pacing 0.1 s
STALL = "5s/1s"
STALL_RATE, STALL_POOL, STALL_USERS = 200, 300, 20
ARRIVAL_RATE = 200
TYPES = ["A", "B", "C"]

PACED_LOCUSTFILE = """\
import os

from locust import FastHttpUser, constant_pacing, task

# FastHttpUser, as loadgen chooses for this template.
class PacedUser(FastHttpUser):
    wait_time = constant_pacing(float(os.environ["BENCH_PACING_S"]))

    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": "A"})
"""


def rate_pbtxt(phases):
    """phases: dicts of duration, rate, types {name: ratio}, and optionally
    max_users and arrival."""
    out = []
    for ph in phases:
        out.append(f"phases {{\n  duration: {ph['duration']}\n  requests_per_s: {ph['rate']}\n")
        if ph.get("max_users"):
            out.append(f"  max_users: {ph['max_users']}\n")
        if ph.get("arrival"):
            out.append(f"  arrival: {ph['arrival']}\n")
        for name, ratio in ph["types"].items():
            out.append(f"  user_types {{ name: \"{name}\" ratio: {ratio} }}\n")
        out.append("}\n")
    return "".join(out)


def template():
    t = "from locust import TaskSet, task\n\n"
    for kind in TYPES:
        t += (f"\nclass {kind}UserBehavior(TaskSet):\n    @task\n    def index(self):\n"
              f"        self.client.get(\"/\", headers={{\"X-User-Type\": \"{kind}\"}})\n\n")
    return t + "\n{{.Users}}\n"


def epoch(rfc3339):
    """`2026-05-01T09:00:00.123Z` (as summary.json writes times) -> epoch seconds."""
    return datetime.strptime(rfc3339.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def arrivals_in(entries, a, b):
    return [r for r in entries if a <= r["arrived_at"] < b]


def cv_of_gaps(times):
    times = sorted(times)
    gaps = [y - x for x, y in zip(times, times[1:])]
    if len(gaps) < 10:
        return None
    mean = statistics.mean(gaps)
    return statistics.pstdev(gaps) / mean if mean > 0 else None


def steady_window(entries):
    """Plain Locust's steady part: 2 s after the first arrival to 1 s before the last."""
    times = sorted(r["arrived_at"] for r in entries)
    if len(times) < 2 or times[-1] - times[0] < 5:
        return None
    return times[0] + 2.0, times[-1] - 1.0


def read_summary(report):
    try:
        return json.loads((report / "summary.json").read_text())
    except (OSError, ValueError) as e:
        raise RuntimeError(f"no summary.json in {report}: {e}")


def phase_spans(summary):
    """(phase number, start, end) in epoch seconds, for each occurrence."""
    return [(p["phase"], epoch(p["started_at"]), epoch(p["ended_at"])) for p in summary.get("phases", [])]


def locust_percentiles(output, prefix):
    """{`90%`: ms, `99%`: ms, ...} of the Aggregated row of Locust's final
    printed percentiles (its `--csv` file is written periodically and may miss
    the end of the run), else of its `--csv` stats."""
    try:
        with open(output, errors="replace") as f:
            lines = f.read().splitlines()
        at = max(i for i, line in enumerate(lines) if line.startswith("Response time percentiles"))
        columns = [c for c in lines[at + 1].split() if c.endswith("%")]
        for line in lines[at + 2:]:
            fields = line.split()
            if fields[:1] == ["Aggregated"]:
                return {c: float(v) for c, v in zip(columns, fields[1:1 + len(columns)])}
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"{prefix}_stats.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row.get("Name") == "Aggregated":
                    return {c: float(v) for c, v in row.items() if c.endswith("%") and v not in ("", "N/A")}
    except (OSError, ValueError):
        pass
    return {}


class Runner:
    """Runs loadgen and plain Locust against a shop, and reads what the shop saw."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.dir = ctx.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "locustfile.loadgen.tmpl").write_text(template())
        (self.dir / "paced_locustfile.py").write_text(PACED_LOCUSTFILE)

    def loadgen(self, shop, name, phases):
        cfg = self.dir / f"{name}.pbtxt"
        cfg.write_text(rate_pbtxt(phases))
        report = self.dir / f"{name}-report"
        seconds = sum(p["duration"] for p in phases)
        since = shop.total()
        time.sleep(0.3)
        run = run_measured(self.ctx.procs, [
            self.ctx.loadgen, "run", "--config_file", cfg, "--template", self.dir / "locustfile.loadgen.tmpl",
            "--host", shop.host, "--run_time", f"{seconds}s", "--locust", self.ctx.locust, "--report", report],
            name, seconds + 60)
        time.sleep(0.5)  # let the last answers (a stall's) into the log
        return run, shop.requests(since), read_summary(report)

    def locust(self, shop, name, users, pacing_s, seconds):
        prefix = self.dir / name
        since = shop.total()
        time.sleep(0.3)
        run = run_measured(self.ctx.procs, locust_cmd(self.ctx.locust) + [
            "-f", self.dir / "paced_locustfile.py", "--headless", "-u", users, "-r", users, "-t", f"{seconds}s",
            "--host", shop.host, "--csv", prefix, "--only-summary", "--loglevel", "WARNING"],
            name, seconds + 40, env={"BENCH_PACING_S": str(pacing_s)})
        time.sleep(0.5)
        return run, shop.requests(since), locust_percentiles(run["output"], prefix)


def accuracy(runner, shop, rep, quick):
    d = 5 if quick else 8
    phases = [{"duration": d, "rate": rate, "types": types} for _, rate, types in ACCURACY]
    run, entries, summary = runner.loadgen(shop, f"open-accuracy-{rep}", phases)
    per_phase = []
    for number, a, b in phase_spans(summary):
        ph = phases[number - 1]
        got = arrivals_in(entries, a, b)
        delivered = len(got) / (b - a) if b > a else 0.0
        total_ratio = sum(ph["types"].values())
        mix_err = max(abs(sum(1 for r in got if r.get("user_type") == k) / max(len(got), 1) - ratio / total_ratio) * 100
                      for k, ratio in ph["types"].items())
        # Requests of types the phase does not have (users of the phase before).
        stray = sum(1 for r in got if r.get("user_type") not in ph["types"])
        per_phase.append({"phase": number, "planned": ph["rate"], "delivered": delivered,
                          "err_pct": (delivered - ph["rate"]) / ph["rate"] * 100, "mix_err_pts": mix_err,
                          "stray_per_s": stray / (b - a) if b > a else 0.0, "seconds": b - a, "requests": len(got)})
    loadgen = {"phases": per_phase, "exit_code": run["exit_code"], "left_behind": run["left_behind"],
               "failures": sum(1 for r in entries if r.get("status") != 200)}
    log("  loadgen: " + ", ".join(f"{p['delivered']:.1f}/{p['planned']} req/s ({p['err_pct']:+.1f}%, mix {p['mix_err_pts']:.1f} pts, "
                                  f"stray {p['stray_per_s']:.1f}/s)" for p in per_phase))

    seconds = 10 if quick else 15
    run, entries, _ = runner.locust(shop, f"open-paced-{rep}", PACED_USERS, PACED_USERS / PACED_RATE, seconds)
    window = steady_window(entries)
    locust = {"planned": PACED_RATE, "exit_code": run["exit_code"], "left_behind": run["left_behind"],
              "failures": sum(1 for r in entries if r.get("status") != 200)}
    if window:
        a, b = window
        got = arrivals_in(entries, a, b)
        locust.update(delivered=len(got) / (b - a), err_pct=(len(got) / (b - a) - PACED_RATE) / PACED_RATE * 100,
                      cv=cv_of_gaps([r["arrived_at"] for r in got]), seconds=b - a)
        log(f"  plain Locust constant_pacing: {locust['delivered']:.1f}/{PACED_RATE} req/s ({locust['err_pct']:+.1f}%)")
    return loadgen, locust


def stall(runner, shop, rep, quick):
    seconds = 10 if quick else 20
    planned = STALL_RATE * seconds
    phases = [{"duration": seconds, "rate": STALL_RATE, "max_users": STALL_POOL, "types": {"A": 1}}]
    run, entries, summary = runner.loadgen(shop, f"open-stall-{rep}", phases)
    total = summary.get("total", {}).get("total", {})
    intended = total.get("intended") or {}
    loadgen = {"planned": planned, "received": len(entries), "received_rel": len(entries) / planned,
               "p90_ms": total.get("p90_ms"), "p99_ms": total.get("p99_ms"),
               "intended_p90_ms": intended.get("p90_ms"), "intended_p99_ms": intended.get("p99_ms"),
               # Not in summary.json yet: left as None until it is.
               "dropped": sum(p["dropped"] for p in summary["phases"]) if all(
                   "dropped" in p for p in summary.get("phases", [{}])) else None,
               "exit_code": run["exit_code"], "left_behind": run["left_behind"]}
    log(f"  loadgen: {len(entries)}/{planned} received, p90/p99 {loadgen['p90_ms']}/{loadgen['p99_ms']} ms, "
        f"from intended start {loadgen['intended_p90_ms']}/{loadgen['intended_p99_ms']} ms")

    run, entries, percentiles = runner.locust(shop, f"open-stall-paced-{rep}", STALL_USERS, STALL_USERS / STALL_RATE,
                                         seconds)
    locust = {"planned": planned, "received": len(entries), "received_rel": len(entries) / planned,
              "p90_ms": percentiles.get("90%"), "p99_ms": percentiles.get("99%"),
              "exit_code": run["exit_code"], "left_behind": run["left_behind"]}
    log(f"  plain Locust constant_pacing: {len(entries)}/{planned} received, p90/p99 {locust['p90_ms']}/{locust['p99_ms']} ms")
    return loadgen, locust


def arrivals(runner, shop, rep, quick):
    d = 6 if quick else 10
    phases = [{"duration": d, "rate": ARRIVAL_RATE, "arrival": kind, "types": {"A": 1}}
              for kind in ("UNIFORM", "POISSON")]
    run, entries, summary = runner.loadgen(shop, f"open-arrivals-{rep}", phases)
    out = {"exit_code": run["exit_code"], "left_behind": run["left_behind"]}
    for number, a, b in phase_spans(summary):
        kind = phases[number - 1]["arrival"].lower()
        # Past the change of phase and short of the run's stop.
        got = arrivals_in(entries, a + 1.0, b - 0.5)
        out[kind] = {"cv": cv_of_gaps([r["arrived_at"] for r in got]),
                     "delivered": len(got) / (b - a - 1.5) if b - a > 1.5 else None}
    log(f"  gaps' CV: uniform {fmt(out.get('uniform', {}).get('cv'), '.2f')}, "
        f"poisson {fmt(out.get('poisson', {}).get('cv'), '.2f')}")
    return out


def open_model(ctx, reps, quick):
    """The raw runs of this section: `reps` of each measurement."""
    res = {"accuracy": {"loadgen": [], "locust": []}, "stall": {"loadgen": [], "locust": []}, "arrivals": []}
    runner = Runner(ctx, "open")
    shop = Shop(ctx.procs, ctx.loadgen, ctx.budget)
    stalling = None
    try:
        stalling = Shop(ctx.procs, ctx.loadgen, ctx.budget, args=["--latency-ms", "0", "--stall", STALL])
        for rep in range(1, reps + 1):
            log(f"open rep {rep}/{reps}: accuracy (200 -> 800 -> 400 req/s)")
            lg, lc = accuracy(runner, shop, rep, quick)
            res["accuracy"]["loadgen"].append(lg)
            res["accuracy"]["locust"].append(lc)
            log(f"open rep {rep}/{reps}: stalling shop ({STALL}), {STALL_RATE} req/s")
            lg, lc = stall(runner, stalling, rep, quick)
            res["stall"]["loadgen"].append(lg)
            res["stall"]["locust"].append(lc)
            log(f"open rep {rep}/{reps}: arrivals, {ARRIVAL_RATE} req/s UNIFORM then POISSON")
            res["arrivals"].append(arrivals(runner, shop, rep, quick))
    finally:
        shop.stop()
        if stalling is not None:
            stalling.stop()
    return res


def summarize(res, s):
    """Adds this section's medians (from `res`, the raw runs) to `s`."""
    if "open" not in res:
        return
    r = res["open"]
    acc = r["accuracy"]
    phases = {}
    for run in acc["loadgen"]:
        for p in run["phases"]:
            phases.setdefault(p["phase"], []).append(p)
    paced = [x for x in acc["locust"] if "delivered" in x]
    st = r["stall"]
    every = [x for k in ("loadgen", "locust") for x in acc[k] + st[k]] + r["arrivals"]
    s["open"] = {
        "accuracy": {
            "loadgen": [{"phase": n, "planned": ps[0]["planned"], "delivered": med([p["delivered"] for p in ps]),
                         "err_pct": med([p["err_pct"] for p in ps]), "mix_err_pts": med([p["mix_err_pts"] for p in ps]),
                         "stray_per_s": med([p.get("stray_per_s") for p in ps])}
                        for n, ps in sorted(phases.items())],
            "locust": {"planned": PACED_RATE, "delivered": med([x["delivered"] for x in paced]),
                       "err_pct": med([x["err_pct"] for x in paced])},
        },
        "stall": {k: {"planned": med([x["planned"] for x in st[k]]), "received": med([x["received"] for x in st[k]]),
                      "received_rel": med([x["received_rel"] for x in st[k]]),
                      "p90_ms": med([x.get("p90_ms") for x in st[k]]), "p99_ms": med([x["p99_ms"] for x in st[k]]),
                      "intended_p90_ms": med([x.get("intended_p90_ms") for x in st[k]]),
                      "intended_p99_ms": med([x.get("intended_p99_ms") for x in st[k]])}
                  for k in ("loadgen", "locust")},
        "arrivals": {
            "uniform_cv": med([x.get("uniform", {}).get("cv") for x in r["arrivals"]]),
            "poisson_cv": med([x.get("poisson", {}).get("cv") for x in r["arrivals"]]),
            "uniform_delivered": med([x.get("uniform", {}).get("delivered") for x in r["arrivals"]]),
            "poisson_delivered": med([x.get("poisson", {}).get("delivered") for x in r["arrivals"]]),
            "constant_pacing_cv": med([x.get("cv") for x in paced]),
        },
        "exit_codes": [x["exit_code"] for x in every],
        "left_behind": sum(x["left_behind"] for x in every),
        "reps": len(r["arrivals"]),
    }


def table(s, meta, w):
    """Writes this section's part of the table with `w`, from the summary `s`."""
    if "open" not in s:
        return
    o = s["open"]
    w("")
    w(f"7. Open model: loadgen rate phases vs plain Locust constant_pacing, demo shop, rates from arrivals in its "
      f"log (medians of {o['reps']})")
    w(f"   {'rate accuracy':<38}{'planned':>9}{'delivered':>11}{'error':>9}{'mix err':>9}{'stray/s':>9}")
    for p in o["accuracy"]["loadgen"]:
        w(f"   {'loadgen phase ' + str(p['phase']):<38}{p['planned']:>9}{fmt(p['delivered'], '.1f'):>11}"
          f"{fmt(p['err_pct'], '+.1f') + '%':>9}{fmt(p['mix_err_pts'], '.1f'):>9}{fmt(p.get('stray_per_s'), '.1f'):>9}")
    lc = o["accuracy"]["locust"]
    w(f"   {'locust 40 users constant_pacing(0.1)':<38}{lc['planned']:>9}{fmt(lc['delivered'], '.1f'):>11}"
      f"{fmt(lc['err_pct'], '+.1f') + '%':>9}")
    w(f"   {'stalling shop (' + STALL + '), 200 req/s':<38}{'received':>9}{'/planned':>11}{'p90 ms':>9}{'p99 ms':>9}"
      f"{'p90 ms':>9}{'p99 ms':>9}")
    w(f"   {'':<38}{'':>9}{'':>11}{'(resp.)':>9}{'(resp.)':>9}{'(intend)':>9}{'(intend)':>9}")
    for k, label in (("loadgen", f"loadgen (pool {STALL_POOL})"), ("locust", f"locust {STALL_USERS} users pacing 0.1 s")):
        r = o["stall"][k]
        intended = [fmt(r.get(f), ".0f") if k == "loadgen" else "-" for f in ("intended_p90_ms", "intended_p99_ms")]
        w(f"   {label:<38}{fmt(r['received'], '.0f'):>9}{fmt(r['received_rel'], '.3f'):>11}{fmt(r.get('p90_ms'), '.0f'):>9}"
          f"{fmt(r['p99_ms'], '.0f'):>9}{intended[0]:>9}{intended[1]:>9}")
    a = o["arrivals"]
    w(f"   gaps between arrivals at 200 req/s, CV (stdev/mean): loadgen UNIFORM {fmt(a['uniform_cv'], '.2f')}, "
      f"POISSON {fmt(a['poisson_cv'], '.2f')} (delivered {fmt(a['uniform_delivered'], '.1f')}, "
      f"{fmt(a['poisson_delivered'], '.1f')} req/s); locust constant_pacing (400 req/s) {fmt(a['constant_pacing_cv'], '.2f')}")
    w("   (error: delivered vs planned rate over each phase's span in summary.json, plain Locust over its steady part;")
    w("    mix err: worst |share - planned share| of a type, in points; stray/s: requests/s of types the phase does not")
    w("    have (the phase before's users); received/planned: requests the server saw vs rate x run time; resp.:")
    w("    response times as Locust measures them (loadgen's too); intend: loadgen's from each iteration's intended")
    w(f"    start; exit codes {o['exit_codes']})")
