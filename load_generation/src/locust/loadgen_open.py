"""The open model (rate phases) for loadgen's harness: iterations started at
scheduled times, whatever the target's response times.

A class of a rate phase keeps a pool of users (the counts loadgen gives, spawned
as any users are). One greenlet per class, its `Arrivals`, lays down start times
at the class's rate (evenly or as a Poisson process), each at its time, in a
queue. A user of the class takes the next start time before each task
(TaskSet.execute_next_task), waiting for it if it lies ahead, and does no wait
of its own after the task (TaskSet.wait): so each iteration starts at its time
on whichever user is free. A start time that no user takes within GRACE_S is
dropped and counted, never silently lost: the pool is too small for the
target's response times (or the target stalls).

Each request of such an iteration is also measured from the iteration's
*intended* start (its start time, not when a user got to it), into histograms
bucketed as Locust buckets response times, so that they merge across workers.
A stalled target then shows in these latencies, where a closed model (and
Locust's response times) would only send fewer requests.

Like `loadgen_legacy.py`, this acts on Locust and gevent alone (not on the
harness's state) and is imported by its path.
"""

import collections
import math
import random
import time
import weakref

import gevent
import gevent.event
import gevent.queue
from locust import events
from locust.exception import StopUser
from locust.stats import bucket_response_time
from locust.user.task import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING, TaskSet

# How late a start time may be taken before it is dropped.
GRACE_S = 1.0
# The intended start of the iteration each user greenlet is running.
INTENDED = weakref.WeakKeyDictionary()


class Arrivals:
    """One class's start times: laid down at its rate, taken by its users.

    The rate is a function of time (constant, or a linear ramp from the rate
    at a change to the new one), and start times are where its integral
    reaches the next whole iteration (UNIFORM), or the next unit-mean
    exponential draw (POISSON: a Poisson process of that rate, by a change
    of time scale). So counts are exact over any span, ramps included.
    """

    def __init__(self):
        self.queue = gevent.queue.Queue()
        self.target = 0.0
        self.arrival = "uniform"
        # (when, from, to, seconds): the rate moves linearly from `from` at
        # `when` to `to` over `seconds`.
        self.ramp = (time.monotonic(), 0.0, 0.0, 0.0)
        self.last = None  # the last start time laid down
        self.next_at = None
        # When the rate last changed: a start time not yet due then is laid
        # down anew from there.
        self.changed_at = None
        # The start times laid down in the last GRACE_S (see `set`), and the
        # `since` of the change of rate last applied.
        self.recent = collections.deque()
        self.since = None
        self.idle = 0  # users waiting for a start time
        self.dropped = 0
        self.wake = gevent.event.Event()
        self.producer = gevent.spawn(self.produce)

    def rate_at(self, t):
        when, start, end, seconds = self.ramp
        if seconds <= 0 or t >= when + seconds:
            return end
        return start + (end - start) * max(0.0, t - when) / seconds

    def advance(self, t, units):
        """The time after `t` at which the rate's integral from `t` reaches
        `units` iterations; None if it never does (a rate of 0)."""
        when, start, end, seconds = self.ramp
        ramp_end = when + seconds
        if seconds > 0 and t < ramp_end:
            t = max(t, when)
            slope = (end - start) / seconds
            rate = self.rate_at(t)
            span = ramp_end - t
            area = rate * span + slope * span * span / 2
            if area >= units:
                if abs(slope) < 1e-12:
                    return t + units / rate
                # rate d + slope d^2 / 2 = units, the first d >= 0.
                return t + (math.sqrt(max(0.0, rate * rate + 2 * slope * units)) - rate) / slope
            units -= area
            t = ramp_end
        if end <= 0:
            return None
        return t + units / end

    def set(self, per_s, arrival, ramp_s, since=None):
        """The rate from `since` (seconds since the epoch; None: now) on.

        A change that arrives after its `since` (a phase boundary said late:
        a busy loop, a master's hop to its workers) still takes effect at
        `since`, if that is at most GRACE_S back: the start times the new rate has in
        between and the old one did not lay down are laid down now (late, as
        their latencies from the intended start say), and those laid down
        beyond what the new rate asks for are made up by skipping as many.
        A change with the same `since` as the last (a master moving its share
        between workers) takes effect now."""
        if per_s == self.target and arrival == self.arrival:
            return
        now = time.monotonic()
        at = now
        if since is not None and since != self.since:
            self.since = since
            ago = time.time() - since
            # Older than the grace (a worker that joins a running phase, a
            # clock far from the master's): from now, as any change.
            if 0 < ago <= GRACE_S:
                at = now - ago
        self.ramp = (at, self.rate_at(at), per_s, ramp_s)
        self.target = per_s
        self.arrival = arrival
        if at < now:
            self.backdate(at, now)
        elif self.next_at is None or self.next_at > now:
            # A start time already due stays (it is laid down next); one
            # still ahead is laid down anew at the new rate.
            self.next_at = None
            self.changed_at = now
        self.wake.set()

    def backdate(self, at, now):
        """The new rate from `at` (in the past) on: see `set`."""
        laid = sum(1 for t in self.recent if t >= at)
        times = []
        t = self.advance(at, self.first_units(at))
        # The new schedule's start times up to now, and one past the larger
        # of its count and what was laid down.
        while t is not None and (t <= now or len(times) <= laid):
            times.append(t)
            t = self.advance(t, self.draw())
        due = [t for t in times if t <= now]
        for t in due[laid:]:
            self.queue.put(t)
            self.remember(t)
        self.next_at = times[max(len(due), laid)] if len(times) > max(len(due), laid) else t
        self.changed_at = None

    def remember(self, t):
        self.last = t
        self.recent.append(t)
        while self.recent and self.recent[0] < t - GRACE_S:
            self.recent.popleft()

    def first_units(self, at):
        """The iterations from `at` to a schedule's first start time: a draw
        for POISSON; for UNIFORM none (at once) where the rate is above 0 at
        `at`, else one (a ramp from 0)."""
        if self.arrival == "poisson" or self.rate_at(at) <= 0:
            return self.draw()
        return 0.0

    def draw(self):
        """The iterations to the next start time: 1, or a unit exponential."""
        return random.expovariate(1.0) if self.arrival == "poisson" else 1.0

    def produce(self):
        while True:
            self.wake.clear()
            now = time.monotonic()
            if self.next_at is None:
                changed = self.changed_at if self.changed_at is not None else now
                if self.last is None or self.arrival == "poisson":
                    # Memoryless (or the first): from the change on.
                    self.next_at = self.advance(changed, self.first_units(changed))
                else:
                    after_last = self.advance(self.last, 1.0)
                    self.next_at = None if after_last is None else max(changed, after_last)
                if self.next_at is None:
                    self.last = None
                    self.wake.wait()
                    continue
            if self.next_at > now:
                self.wake.wait(self.next_at - now)
                continue
            self.prune(now)
            self.queue.put(self.next_at)
            self.remember(self.next_at)
            self.changed_at = None
            self.next_at = self.advance(self.last, self.draw())
            if self.next_at is None:
                self.last = None

    def prune(self, now):
        """Drops the start times no user took within their grace."""
        while self.queue.qsize():
            first = self.queue.peek_nowait()
            if first is None or now - first <= GRACE_S:
                return
            self.queue.get_nowait()
            self.dropped += 1

    def claim(self):
        """The next start time for a user, at that time; None once the class
        runs by its waits again."""
        while True:
            self.idle += 1
            try:
                t = self.queue.get()
            finally:
                self.idle -= 1
            if t is None:
                return None
            late = time.monotonic() - t
            if late > GRACE_S:
                self.dropped += 1
                continue
            return t

    def close(self, release):
        """The class runs by its waits again (`release`: its waiting users go
        on by them) or the run ends (they wait until stopped, with no task
        begun after the end): the start times not yet taken are dropped."""
        self.producer.kill(block=False)
        while self.queue.qsize():
            if self.queue.get_nowait() is not None:
                self.dropped += 1
        if release:
            for _ in range(self.idle):
                self.queue.put(None)

    def take_dropped(self):
        n, self.dropped = self.dropped, 0
        return n


class OpenModel:
    """Every class's arrivals, the intended latencies and the dropped iterations."""

    def __init__(self, count_iteration):
        self.arrivals = {}  # class name -> Arrivals, for the classes at a rate
        self.closed = collections.Counter()  # dropped by arrivals since closed
        self.intended = {}  # (name, method) -> {bucket ms: count}
        self.dropped_reported = collections.Counter()  # a master's, from its workers
        # The intended latencies' listener, registered with the first rate (a
        # run of users alone pays nothing for it); the task hooks below step
        # aside at once while no class is at a rate.
        self.listening = False
        model = self
        locust_execute_next_task = TaskSet.execute_next_task
        locust_wait = TaskSet.wait

        def execute_next_task(taskset):
            if not model.arrivals and not INTENDED:
                return locust_execute_next_task(taskset)
            arrivals = model.arrivals.get(type(taskset.user).__name__)
            task = taskset._task_queue[0] if taskset._task_queue else None
            nested = isinstance(task, type) and issubclass(task, TaskSet)
            if arrivals is not None and not nested:
                # Waiting for the start time is waiting: a user stopped now
                # stops at once, as in a wait.
                taskset.user._state = LOCUST_STATE_WAITING
                intended = arrivals.claim()
                if taskset.user._state == LOCUST_STATE_STOPPING:
                    if intended is not None:
                        arrivals.dropped += 1  # taken, but its user is stopping
                    raise StopUser()
                taskset.user._state = LOCUST_STATE_RUNNING
                if intended is None:
                    INTENDED.pop(gevent.getcurrent(), None)
                else:
                    INTENDED[gevent.getcurrent()] = intended
            elif not nested:
                INTENDED.pop(gevent.getcurrent(), None)
            return locust_execute_next_task(taskset)

        def wait(taskset):
            # A user at a rate waits for its next start time, not after its task.
            if model.arrivals and type(taskset.user).__name__ in model.arrivals:
                count_iteration()
                if taskset.user._state == LOCUST_STATE_STOPPING:
                    raise StopUser()
                return None
            return locust_wait(taskset)

        TaskSet.execute_next_task = execute_next_task
        TaskSet.wait = wait

    def apply(self, rates, release=True):
        """Each class of `rates` (name -> {per_s, arrival, ramp_s, since}) at
        its rate (a class at a rate that goes to 0 keeps its users waiting
        for start times, none come, while they are stopped); the others by
        their waits."""
        for name in [n for n in self.arrivals if n not in rates]:
            arrivals = self.arrivals.pop(name)
            arrivals.close(release)
            self.closed[name] += arrivals.take_dropped()
        for name, rate in rates.items():
            arrivals = self.arrivals.get(name)
            if arrivals is None:
                if float(rate["per_s"]) <= 0:
                    # Never at a rate: runs by its waits until stopped.
                    continue
                arrivals = self.arrivals[name] = Arrivals()
                if not self.listening:
                    self.listening = True
                    events.request.add_listener(self.on_request)
            arrivals.set(float(rate["per_s"]), rate["arrival"], float(rate["ramp_s"]), rate.get("since"))

    def on_request(self, request_type, name, response_time, **kwargs):
        if not INTENDED:
            return
        intended = INTENDED.get(gevent.getcurrent())
        if intended is None or response_time is None:
            return
        ms = (time.monotonic() - intended) * 1000.0
        buckets = self.intended.setdefault((name, request_type), {})
        bucket = bucket_response_time(ms)
        buckets[bucket] = buckets.get(bucket, 0) + 1

    def take_intended(self, name, method):
        """The intended latencies of one request name since the last take."""
        buckets = self.intended.pop((name, method), {})
        return [[ms, n] for ms, n in sorted(buckets.items())]

    def take_dropped(self):
        dropped = collections.Counter(self.closed)
        self.closed.clear()
        for name, arrivals in self.arrivals.items():
            dropped[name] += arrivals.take_dropped()
        dropped.update(self.dropped_reported)
        self.dropped_reported.clear()
        return {name: n for name, n in dropped.items() if n}

    # A worker's figures travel to its master with its statistics.
    def report(self, data):
        data["loadgen_dropped"] = self.take_dropped()
        data["loadgen_intended"] = [[name, method, [[ms, n] for ms, n in b.items()]] for (name, method), b in self.intended.items()]
        self.intended = {}

    def add_report(self, data):
        self.dropped_reported.update({k: int(v) for k, v in data.get("loadgen_dropped", {}).items()})
        for name, method, pairs in data.get("loadgen_intended", []):
            buckets = self.intended.setdefault((name, method), {})
            for ms, n in pairs:
                buckets[int(ms)] = buckets.get(int(ms), 0) + int(n)

    def stop(self):
        """The run ends: no iteration starts after this."""
        self.apply({}, release=False)

