"""Shared by every module: paths, logging, the time budget, the run context, and
the small statistics and formatting helpers of the tables."""

import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
TAG_VAR = "LOADGEN_BENCH_TAG"
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("bench/run went over its time budget")


def on_term(signum, frame):
    raise SystemExit(f"bench/run stopped by signal {signum}")


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    if v is None:
        return "n/a"
    return format(v, spec)


def fr(r, spec):
    """A paired ratio: median (min-max over the reps)."""
    if not r:
        return "n/a"
    if r["min"] == r["max"]:
        return format(r["median"], spec)
    return f"{format(r['median'], spec)} ({format(r['min'], spec)}-{format(r['max'], spec)})"


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass
class Ctx:
    """What every measurement needs: where to work, the binaries, the budget."""

    workdir: Path
    loadgen: Path  # a private copy of the release binary
    locust: str  # the `locust` script
    budget: int  # seconds, for every server's `timeout`
    procs: "Procs"  # the processes started (processes.Procs)
