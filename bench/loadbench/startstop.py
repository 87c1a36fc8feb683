"""Section 4, start and stop: command to first request the server sees, SIGTERM
to exit and until every process is gone."""

import os
import signal
import subprocess
import time

from .common import fmt, log, med
from .loads import locust_cmd, write_load
from .processes import kill_tagged, reap, tagged_pids


def start_stop(ctx, reps, nginx):
    loaddir = ctx.workdir / "startstop"
    cfg = write_load(loaddir, [{"duration": 60, "users": 10, "hatch": 10, "types": {"A": (1, 500, 500)}}], ["A"])
    rendered = loaddir / "rendered"
    subprocess.run([ctx.loadgen, "render", "--config_file", cfg, "--out", rendered], capture_output=True, timeout=60,
                   check=True)
    host = nginx.logged_host
    commands = {
        "loadgen": [ctx.loadgen, "run", "--config_file", cfg, "--host", host, "--run_time", "60s", "--locust", ctx.locust],
        "locust": locust_cmd(ctx.locust) + ["-f", rendered / "locustfile.py", "--headless", "-u", 10, "-r", 10, "-t", "60s",
                                            "--host", host, "--only-summary", "--loglevel", "WARNING"],
    }
    results = {k: [] for k in commands}
    for rep in range(reps):
        for system, cmd in commands.items():
            name = f"ss-{system}-{rep + 1}"
            log(f"start/stop rep {rep + 1}/{reps}: {system}")
            results[system].append(one_start_stop(ctx, cmd, name, nginx.access_log))
            r = results[system][-1]
            log(f"  first request after {r['first_request_s']}, exit {r['exit_s']} after SIGTERM "
                f"(code {r['exit_code']}), last request {r['last_request_after_term_s']}, all gone {r['gone_s']}, "
                f"left behind {r['left_behind']}")
            time.sleep(0.5)
    return results


def one_start_stop(ctx, cmd, name, access_log):
    tag = ctx.procs.new_tag(name)
    offset = access_log.stat().st_size
    reap()
    t_cmd = time.time()
    p = ctx.procs.spawn(cmd, tag, ctx.workdir / f"{name}.log")
    first = None
    try:
        deadline = time.monotonic() + 60
        while first is None and time.monotonic() < deadline and p.poll() is None:
            first = first_logged(access_log, offset)
            if first is None:
                time.sleep(0.01)
        if first is None:
            return {"first_request_s": None, "exit_s": None, "exit_code": p.poll(), "gone_s": None,
                    "last_request_after_term_s": None, "left_behind": len(kill_tagged(tag))}
        time.sleep(max(0.0, first + 2.0 - time.time()))
        t_term = time.time()
        os.kill(p.pid, signal.SIGTERM)  # the process only, as Kubernetes or systemd would
        exited = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                exited = time.time()
                break
            time.sleep(0.005)
        p.wait(timeout=30) if exited else None
        gone_deadline = time.monotonic() + 10
        gone = None
        while time.monotonic() < gone_deadline:
            if not tagged_pids(tag):
                gone = time.time()
                break
            reap()
            time.sleep(0.01)
        left = kill_tagged(tag)
        last = last_logged(access_log, offset)
        return {
            "first_request_s": first - t_cmd,
            "exit_s": None if exited is None else exited - t_term,
            "exit_code": p.poll(),
            "gone_s": None if gone is None else gone - t_term,
            "last_request_after_term_s": None if last is None else last - t_term,
            "left_behind": len(left),
        }
    finally:
        if p.poll() is None:
            kill_tagged(tag)
            p.wait()
        reap()


def first_logged(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        line = f.readline()
    if not line.endswith(b"\n"):
        return None
    return float(line.split()[0])


def last_logged(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().splitlines()
    return float(lines[-1].split()[0]) if lines else None


def summarize(res, s):
    """Adds this section's medians and ratios (from `res`, the raw runs) to `s`."""
    if "start_stop" in res:
        s["start_stop"] = {}
        for system, runs in res["start_stop"].items():
            s["start_stop"][system] = {
                "first_request_s": med([r["first_request_s"] for r in runs]),
                "exit_after_sigterm_s": med([r["exit_s"] for r in runs]),
                "all_gone_after_sigterm_s": med([r["gone_s"] for r in runs]),
                "last_request_after_sigterm_s": med([r["last_request_after_term_s"] for r in runs]),
                "exit_codes": [r["exit_code"] for r in runs],
                "left_behind": sum(r["left_behind"] for r in runs),
                "reps": len(runs),
            }


def table(s, meta, w):
    """Writes this section's part of the table with `w`, from the summary `s`."""
    if "start_stop" in s:
        w("")
        w("4. Start and stop (10 users, wait 0.5 s, nginx access log with ms timestamps)")
        w(f"   {'system':<18}{'to 1st request s':>18}{'SIGTERM->exit s':>17}{'->all gone s':>14}{'->last request s':>18}{'exit codes':>14}")
        for k, label in (("loadgen", "loadgen"), ("locust", "plain locust")):
            if k not in s["start_stop"]:
                continue
            r = s["start_stop"][k]
            w(f"   {label:<18}{fmt(r['first_request_s'], '.2f'):>18}{fmt(r['exit_after_sigterm_s'], '.2f'):>17}"
              f"{fmt(r['all_gone_after_sigterm_s'], '.2f'):>14}{fmt(r['last_request_after_sigterm_s'], '.2f'):>18}{str(r['exit_codes']):>14}")
