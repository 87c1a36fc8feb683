"""The harness as a Locust master: it runs no users; it shares each class's
users and rate between its workers (`loadgen_dispatch.py`), closes each phase
boundary only once every worker has reported up to it, and merges what the
workers say at the end.

Imported by path, like every sibling of the harness (see `harness.py`), after
`loadgen_base.py`.
"""

import sys
import time

import gevent
import locust
import locust.runners
from locust import events

protocol = sys.modules["loadgen sibling loadgen_protocol"]
sibling, emit, fatal, exit_process = protocol.sibling, protocol.emit, protocol.fatal, protocol.exit_process
base = sibling("loadgen_base")
dispatch = sibling("loadgen_dispatch")

# How long a master waits for its workers to report the users of a finished
# ramp before it fires spawning_complete all the same (Locust's own wait is 1 s,
# for reports every 3 s; loadgen's come every sample interval).
SPAWNED_REPORT_WAIT_S = 2.0
# How long a boundary waits for every worker's answer before it closes without
# the missing ones (said as a warning: their late requests count in the next phase).
FLUSH_WAIT_S = 2.0


def master_loss_s():
    """How long the master takes to call a silent worker missing (Locust's
    heartbeat interval times its liveness): a worker that hears nothing for as
    long stops its users."""
    return locust.runners.HEARTBEAT_INTERVAL * locust.runners.HEARTBEAT_LIVENESS


class MasterHarness(base.Harness):
    def __init__(self, setup):
        super().__init__(setup)
        # Each worker's users per class as last told.
        self.worker_shares = {}
        # When users of each class last stopped on a worker (make-before-break pacing).
        self.last_break = {}
        # Each worker's generation as last reported (see the worker's on_worker_targets).
        self.worker_generations = {}
        # The boundaries asked for so far: each flush's token.
        self.flush_tokens = 0
        # The workers' users at the end, for `users_at_end`.
        self.worker_users_at_end = []

    def create_runner(self):
        # A worker is lost after --heartbeat-timeout heartbeats (1 s apart)
        # missed; its shares tell the workers the same timeout (loss_s).
        locust.runners.HEARTBEAT_LIVENESS = int(self.role["heartbeat_timeout"])
        return self.env.create_master_runner(
            master_bind_host=self.role["bind_host"],
            master_bind_port=int(self.role["bind_port"]),
        )

    def listen(self):
        events.worker_report.add_listener(self.add_worker_figures)
        events.worker_report.add_listener(self.on_worker_report)
        # Every listener of a worker's report (Locust's own merge of its
        # statistics first) runs through deliver_report, which may hold it.
        self.deliver = events.worker_report.fire
        events.worker_report.fire = self.deliver_report
        self.runner.register_message(protocol.WORKER_REFUSED, self.on_worker_refused)
        self.runner.register_message(protocol.WORKER_QUIT, self.on_worker_quit)
        self.runner.register_message(protocol.WORKER_USERS, self.on_worker_users)

    def before_ready(self):
        self.wait_for_workers()

    def take_over_runner(self):
        super().take_over_runner()
        # Locust's master restarts its own dispatch (runner.start) when a
        # worker goes or comes while it runs, and stops the test when its
        # last worker goes missing: loadgen's dispatch does both itself.
        self.locust_stop = self.runner.stop
        self.runner.stop = self.stop_master

    def every_sample(self):
        # A worker that joins (or comes back) gets its share; every share
        # is resent, for workers that stopped their users on losing us.
        self.dispatch_to_workers(force=True)

    def apply_targets(self):
        self.dispatch_to_workers(force=True)

    def spawning_completed(self):
        gevent.spawn(self.complete_spawning_on_master, self.occurrence, dict(self.ramp_to))

    def users(self):
        counts = {name: 0 for name in self.classes}
        for name, n in self.runner.reported_user_classes_count.items():
            counts[name] = counts.get(name, 0) + n
        return counts

    def stop_users(self):
        for w in list(self.runner.clients.all):
            self.runner.send_message(
                protocol.WORKER_TARGETS,
                {"users": {n: 0 for n in self.classes}, "waits": {}, "host": None, "final": True},
                client_id=w.id,
            )
        # Give the workers their drain and one report interval to send their last statistics.
        gevent.sleep(self.drain + self.interval + 0.2)
        return None

    def users_at_end_parts(self, mine):
        return self.worker_users_at_end

    def add_worker_figures(self, data, **kwargs):
        self.counts.add(int(data.get("loadgen_iterations", 0)), float(data.get("loadgen_late_max_s", 0.0)))
        self.tracing.add_spans(data.get("loadgen_spans", []), data.get("loadgen_spans_dropped", 0))
        self.open_model.add_report(data)

    def on_worker_quit(self, environment, msg, **kwargs):
        code = msg.data.get("process_exit_code")
        if code is not None and getattr(self.env, "process_exit_code", None) is None:
            self.env.process_exit_code = code
        self.end_run(f"{msg.data['reason']} (on worker {msg.node_id})")

    def stop_master(self, *args, **kwargs):
        if self.stopping:
            return self.locust_stop(*args, **kwargs)

    def complete_spawning_on_master(self, occurrence, ramp_to):
        """As Locust's master: waits (a little) for the workers to report the
        ramp's users, fires spawning_complete, and tells every worker to fire
        it too, with the same count."""
        total = sum(ramp_to.values())
        deadline = time.monotonic() + SPAWNED_REPORT_WAIT_S
        while sum(self.users().values()) != total and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if self.stopping or self.occurrence != occurrence or self.targets != ramp_to or self.ramp_to != ramp_to:
            return  # a newer ramp began meanwhile: its own end fires it
        events.spawning_complete.fire(user_count=total)
        self.runner.send_message("spawning_complete", {"user_count": total})

    def on_worker_users(self, environment, msg, **kwargs):
        self.worker_users_at_end.append(msg.data)

    def live_workers(self):
        return [w for w in self.runner.clients.all if w.state != locust.runners.STATE_MISSING]

    def wait_for_workers(self):
        expected = int(self.role["expect_workers"])
        deadline = time.monotonic() + float(self.role["workers_timeout"])
        while len(self.live_workers()) < expected:
            if time.monotonic() > deadline:
                fatal(
                    f"only {len(self.live_workers())} of {expected} workers connected in time",
                    kind="workers",
                )
            gevent.sleep(0.05)

    def on_worker_refused(self, environment, msg, **kwargs):
        emit("warning", message=f"worker {msg.node_id} refused its share: {msg.data['reason']}", traceback=None)

    def flush(self):
        """Closes the running occurrence's statistics, at a phase boundary.

        A master's statistics are
        what its workers reported, every sample interval: up to one interval
        behind. So the master asks each connected worker to report now
        (WORKER_FLUSH) and sends the occurrence's last sample only once every one
        has answered; a worker's later reports (requests after the boundary)
        are held until then, and go to the next occurrence. A worker that does
        not answer within FLUSH_WAIT_S (hung, or lost without the master knowing
        yet) does not hold the boundary longer: it closes without it, and says so.
        """
        self.close_boundary()  # a boundary still waiting closes now
        waiting = {w.id for w in self.live_workers()}
        if not waiting:
            self.sample()
            return
        self.flush_tokens += 1
        closing = Closing(self.occurrence, self.flush_tokens, waiting)
        self.closing = closing
        for w in waiting:
            self.runner.send_message(protocol.WORKER_FLUSH, {"token": closing.token}, client_id=w)
        gevent.spawn(self.watch_boundary, closing)

    def deliver_report(self, **kwargs):
        """A worker's report, on the master: held while a boundary waits if the
        worker has already answered it (it is about the next occurrence),
        delivered to Locust's and loadgen's listeners otherwise."""
        closing, worker = self.closing, kwargs.get("client_id")
        if closing is not None and worker in closing.answered:
            closing.held.append(kwargs)
            return
        self.deliver(**kwargs)
        data = kwargs.get("data") or {}
        if closing is not None and worker in closing.waiting and data.get(protocol.REPORTED_FLUSH) == closing.token:
            closing.waiting.discard(worker)
            closing.answered.add(worker)
            if not closing.waiting:
                self.close_boundary()

    def watch_boundary(self, closing):
        """Closes a waiting boundary when its last live worker has answered,
        or at its deadline."""
        while self.closing is closing:
            # A worker the master has lost will not answer: not waited for.
            live = {w.id for w in self.live_workers()}
            closing.lost |= closing.waiting - live
            closing.waiting &= live
            if not closing.waiting or time.monotonic() >= closing.deadline:
                self.close_boundary()
                return
            gevent.sleep(0.05)

    def close_boundary(self):
        """Sends the waiting boundary's last sample, then the reports held meanwhile."""
        closing, self.closing = self.closing, None
        if closing is None:
            return
        asked = len(closing.waiting) + len(closing.lost) + len(closing.answered)
        if closing.waiting:
            emit(
                "warning",
                message=f"{len(closing.waiting)} of {asked} Locust workers did not report within "
                f"{FLUSH_WAIT_S:.0f} s of the phase boundary: the requests they made before it are "
                "counted in the next phase",
                traceback=None,
            )
        if closing.lost:
            emit(
                "warning",
                message=f"{len(closing.lost)} of {asked} Locust workers were lost before reporting past the "
                "phase boundary: the requests they made since their last report are not counted",
                traceback=None,
            )
        self.sample(occurrence=closing.occurrence)
        for report in closing.held:
            self.deliver(**report)

    def on_worker_report(self, client_id, data, **kwargs):
        generation = data.get(protocol.REPORTED_GENERATION, 0)
        if generation != self.worker_generations.get(client_id, 0):
            # The worker dropped its users (it lost us for a while): it runs
            # nothing of what it was told, and takes only shares of its new generation.
            self.worker_generations[client_id] = generation
            self.worker_shares.pop(client_id, None)

    def dispatch_to_workers(self, force=False):
        """Sends each worker its share, moved towards an even split
        make-before-break (`loadgen_dispatch.shares`). `force` resends every
        share (a worker that stopped its users when it lost the master gets
        its share back this way)."""
        if self.stopping:  # the stop has sent its final zero targets
            return
        live = {w.id: w for w in self.live_workers()}
        workers = sorted(live)
        if not workers:
            return
        reported = {w: dict(live[w].user_classes_count) for w in workers}
        told = dispatch.shares(self.targets, workers, self.worker_shares, reported, self.last_break, time.monotonic())
        if not force and told == self.worker_shares:
            return
        self.worker_shares = told
        for w, users in told.items():
            self.runner.send_message(
                protocol.WORKER_TARGETS,
                {"users": users, "waits": self.waits, "rates": dispatch.worker_rates(self.rates, told, w), "host": self.setup["host"], "final": False,
                 "trace": self.setup["trace"], "phase": self.phase,
                 "generation": self.worker_generations.get(w, 0), "locustfile_sha": self.locustfile_sha,
                 "loss_s": master_loss_s()},
                client_id=w,
            )


class Closing:
    """A phase boundary on the master, waiting for its workers' reports."""

    def __init__(self, occurrence, token, waiting):
        self.occurrence = occurrence
        self.token = token
        self.waiting = set(waiting)  # workers asked, not answered yet
        self.answered = set()
        self.lost = set()  # asked, then lost by the master before answering
        self.held = []  # reports of answered workers, for the next occurrence
        self.deadline = time.monotonic() + FLUSH_WAIT_S
