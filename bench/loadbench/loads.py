"""The loads: the fidelity phases, load.pbtxt and template writing, and finding
Locust."""

import os
import re
import shutil
import subprocess
from pathlib import Path


# The fidelity load: tests/e2e/phases.rs's three phases (8 s each, 50 -> 100 (A1:B3) ->
# 60 (B1:C2) users, waits 0.25-1 s). Waits in ms.
FIDELITY_PHASES = [
    {"duration": 8, "users": 50, "hatch": 50, "types": {"A": (1, 500, 500)}},
    {"duration": 8, "users": 100, "hatch": 50, "types": {"A": (1, 1000, 1000), "B": (3, 1000, 1000)}},
    {"duration": 8, "users": 60, "hatch": 50, "types": {"B": (1, 1000, 1000), "C": (2, 250, 250)}},
]


TYPES = ["A", "B", "C"]


WINDOW = 1.5  # seconds: a user is live if its session made a request this recently


SAT_USERS = 20


def pbtxt(phases):
    out = []
    for ph in phases:
        out.append(f"phases {{\n  duration: {ph['duration']}\n  num_users: {ph['users']}\n  hatch_rate_per_s: {ph['hatch']}\n")
        for name, (ratio, lo, hi) in ph["types"].items():
            out.append(f"  user_types {{ name: \"{name}\" ratio: {ratio} min_wait_ms: {lo} max_wait_ms: {hi} }}\n")
        out.append("}\n")
    return "".join(out)


def template(types):
    t = "from locust import TaskSet, task\n\n"
    for kind in types:
        t += (f"\nclass {kind}UserBehavior(TaskSet):\n    @task\n    def index(self):\n"
              f"        self.client.get(\"/\", headers={{\"X-User-Type\": \"{kind}\"}})\n\n")
    return t + "\n{{.Users}}\n"


def write_load(directory, phases, types):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "load.pbtxt").write_text(pbtxt(phases))
    (directory / "locustfile.loadgen.tmpl").write_text(template(types))
    return directory / "load.pbtxt"


def planned(phase):
    total = sum(r for r, _, _ in phase["types"].values())
    counts = {}
    for name, (ratio, _, _) in phase["types"].items():
        n = phase["users"] * ratio / total
        assert n == int(n), "bench phases must divide exactly"
        counts[name] = int(n)
    return counts


def locust_cmd(locust):
    """How to call Locust: a `locust` script, or a Python interpreter with Locust."""
    if Path(locust).name.startswith("python"):
        return [locust, "-m", "locust"]
    return [locust]


def find_locust(given):
    cand = given or os.environ.get("LOADGEN_LOCUST") or shutil.which("locust")
    if not cand:
        raise SystemExit("no Locust: pass --locust PATH (a `locust` script), set LOADGEN_LOCUST, or put locust on PATH")
    cand = str(Path(cand).resolve()) if os.sep in cand else cand
    r = subprocess.run(locust_cmd(cand) + ["--version"], capture_output=True, text=True, timeout=60)
    m = re.search(r"locust (\S+)", r.stdout + r.stderr)
    if r.returncode != 0 or not m:
        raise SystemExit(f"{cand} --version failed: {r.stdout}{r.stderr}")
    return cand, m.group(1)
