"""Every change the harness makes to Locust, in one place, and why.

loadgen runs Locust as a library and changes it where Locust has no hook for
what loadgen needs. Each change is made once per process, by `install`, and
only where the run needs it:

- `TaskSet.wait` counts task iterations (below): every task a user runs is
  followed by its wait (`User.wait` calls it too), so counting waits counts
  tasks. loadgen divides requests by them to turn the plan's users and waits
  into a planned request rate. Always: every run reports its delivery.
- `TaskSet.execute_next_task` and `TaskSet.wait` again, for the open model
  (`loadgen_open.py`): a user of a rate phase takes a scheduled start time
  before each task and does not wait after it. Installed with the runner; they
  step aside for a class that is not at a rate.
- `HttpSession.request`, `FastHttpSession.request` and `TaskSet.wait`, for
  the trace context (`loadgen_trace.py`): the `traceparent` and `baggage`
  headers, and a new trace per iteration. Only when a header is on (and on a
  worker, whose master may turn them on).
- `locust.rpc.zmqrpc.BaseSocket.__init__`, for a keyed cluster
  (`loadgen_cluster.py`): Locust's sockets become CURVE sockets. Only with a
  cluster key.
- Locust 0.x's names (`loadgen_legacy.py`): `HttpLocust`, `TaskSet`'s old
  attributes, for the original wrapper's locustfiles. Before the locustfile is
  imported.
- Locust's module constants the harness sets (the worker's report interval,
  the heartbeat liveness, connection retries), where the runner is created in
  `Harness.start`: each is said there.

Imported by path, like every sibling of the harness (see `harness.sibling`).
"""

import time

import gevent
from locust.user.task import TaskSet

# The loop probe's period: see Counts.probe_loop.
PROBE_S = 0.01


class Counts:
    """What a process counts beside Locust's statistics, between two samples
    (or a worker's two reports): task iterations, and the longest a greenlet
    waited past its time for the gevent loop."""

    def __init__(self):
        self.iterations = 0
        # The same, over the whole run (not reset by samples): `users_at_end` says it.
        self.tasks_run = 0
        self.late_max = 0.0

    def count_iteration(self):
        self.iterations += 1
        self.tasks_run += 1

    def take_iterations(self):
        n, self.iterations = self.iterations, 0
        return n

    def take_late_max(self):
        late, self.late_max = self.late_max, 0.0
        return late

    def add(self, iterations, late_max):
        """A worker's, on its master."""
        self.iterations += iterations
        self.tasks_run += iterations
        self.late_max = max(self.late_max, late_max)

    def probe_loop(self):
        """Sleeps PROBE_S over and over and keeps how late it woke. The
        sampler's own lag (one look every 0.5 s) misses a loop held in bursts:
        users in step whose tasks burn CPU leave it idle a third of the time
        and 170 ms late the rest, and every response read in such a burst is
        measured late. loadgen takes response times for the target's only
        where this stays low."""
        while True:
            asked = time.monotonic() + PROBE_S
            gevent.sleep(PROBE_S)
            self.late_max = max(self.late_max, time.monotonic() - asked)


def count_tasks(counts):
    """`TaskSet.wait` counts each task iteration into `counts`."""
    locust_wait = TaskSet.wait

    def counted_wait(self):
        counts.count_iteration()
        return locust_wait(self)

    TaskSet.wait = counted_wait
