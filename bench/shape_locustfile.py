"""The hand-written Locust alternative to loadgen for bench/run's fidelity section.

One Locust process, a LoadTestShape that returns (users, spawn_rate, user_classes)
for the phase the clock is in, with each phase's ratios set as class weights and
each phase's waits read by the users from a per-phase table. This is about as good
as plain Locust gets for phased loads with a changing mix; what it cannot do is
stop the users of classes that leave the mix (Locust issue #2714) or switch phases
between its once-a-second ticks.

The phases come from the BENCH_SHAPE_PHASES environment variable (JSON, written by
bench/run), a list of
    {"duration": s, "users": n, "hatch": r, "types": {"A": [ratio, min_wait_s, max_wait_s], ...}}
and the same three-phase load as tests/e2e/phases.rs when it is unset.

Run: locust -f bench/shape_locustfile.py --headless --host http://127.0.0.1:PORT
"""

import json
import os
import random

from locust import HttpUser, LoadTestShape, task

PHASES = json.loads(
    os.environ.get("BENCH_SHAPE_PHASES")
    or json.dumps(
        [
            {"duration": 8, "users": 50, "hatch": 50, "types": {"A": [1, 0.5, 0.5]}},
            {"duration": 8, "users": 100, "hatch": 50, "types": {"A": [1, 1.0, 1.0], "B": [3, 1.0, 1.0]}},
            {"duration": 8, "users": 60, "hatch": 50, "types": {"B": [1, 1.0, 1.0], "C": [2, 0.25, 0.25]}},
        ]
    )
)

# The waits of the running phase, per class name; the shape updates it.
WAITS = {name: (1.0, 1.0) for name in ("A", "B", "C")}


class Tagged(HttpUser):
    abstract = True

    def wait_time(self):
        low, high = WAITS[type(self).__name__]
        return random.uniform(low, high)

    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": type(self).__name__})


class A(Tagged):
    pass


class B(Tagged):
    pass


class C(Tagged):
    pass


CLASSES = {"A": A, "B": B, "C": C}


class PhasedShape(LoadTestShape):
    def __init__(self):
        super().__init__()
        self.current = None

    def tick(self):
        elapsed = self.get_run_time()
        start = 0.0
        for index, phase in enumerate(PHASES):
            if elapsed < start + phase["duration"]:
                break
            start += phase["duration"]
        else:
            return None  # the load is over: Locust stops
        if index != self.current:
            self.current = index
            for name, (ratio, low, high) in phase["types"].items():
                CLASSES[name].weight = ratio
                WAITS[name] = (low, high)
        classes = [CLASSES[name] for name in phase["types"]]
        return phase["users"], phase["hatch"], classes
