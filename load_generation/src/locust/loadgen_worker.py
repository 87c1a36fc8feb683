"""The harness as a Locust worker: it runs its share of the users, as its
master says (`WORKER_TARGETS`); shares are sequenced by the worker's
generation, so the ones queued while the link was cut are ignored; it reports
its figures and sampled requests with its statistics, answers its master's
boundary flushes, and stops its users when it loses its master.

Imported by path, like every sibling of the harness (see `harness.py`), after
`loadgen_base.py`.
"""

import gc
import socket
import logging
import struct
import sys
import time

import gevent
import gevent.socket
import locust
import locust.runners
from locust import events
from locust.rpc import Message

protocol = sys.modules["loadgen sibling loadgen_protocol"]
sibling, emit, fatal, exit_process = protocol.sibling, protocol.emit, protocol.fatal, protocol.exit_process
base = sibling("loadgen_base")

# A worker without a master announces itself this often, so that a restarted
# master (which does not know it) takes it in (see watch_master).
ANNOUNCE_EVERY_S = 1.0
# A worker without a master for this long (Locust's MASTER_HEARTBEAT_TIMEOUT)
# ends its harness as unreachable: `loadgen worker` then connects anew with
# backoff, in the same process (the pod is not restarted).
MASTER_GONE_S = 60


class WorkerHarness(base.Harness):
    # Its master's trace context comes with its first share, and may turn headers on.
    always_traced = True
    # Its statistics and users at the end go to its master, not to loadgen.
    samples = False

    def __init__(self, setup):
        super().__init__(setup)
        # Bumped each time it drops its users on losing the master (see on_worker_targets).
        self.generation = 0
        # (generation, users, waits, rates) of the share it last applied.
        self.applied_share = None
        # How long without its master before it stops its users (the master's
        # --heartbeat-timeout, from its shares; Locust's 3 s until then).
        self.loss_s = 3.0
        # The token of the master's flush being answered.
        self.flush_token = None

    def create_runner(self):
        # Report to the master more often than Locust's 3 s, for per-phase stats.
        locust.runners.WORKER_REPORT_INTERVAL = self.interval
        master = f"{self.role['master_host']}:{self.role['master_port']}"
        # Give up after two tries (~10 s) instead of Locust's silent 5 minutes:
        # `loadgen worker` retries with backoff and says so meanwhile.
        locust.runners.CONNECT_RETRY_COUNT = 1
        # Locust's worker quits quietly (exit 0) after 60 s without its master;
        # watch_master handles that instead, saying why.
        locust.runners.MASTER_HEARTBEAT_TIMEOUT = 10 * MASTER_GONE_S
        try:
            return self.env.create_worker_runner(self.role["master_host"], int(self.role["master_port"]))
        except ConnectionError:
            fatal(f"cannot reach the Locust master at {master}", kind="master")

    def listen(self):
        self.runner.register_message(protocol.WORKER_TARGETS, self.on_worker_targets)
        self.runner.register_message(protocol.WORKER_FLUSH, self.on_worker_flush)
        # A worker's task iterations and lateness travel with its statistics to the master.
        events.report_to_master.add_listener(self.report_figures)
        events.report_to_master.add_listener(self.on_report_to_master)
        gevent.spawn(self.watch_master)

    def run(self):
        """Until its runner ends (its master's quit, or `watch_master`)."""
        self.runner.greenlet.join()
        events.quitting.fire(environment=self.env, reverse=True)
        emit("stopped", reason="the worker's runner ended", process_exit_code=self.process_exit_code())
        exit_process(0)

    def take_over_start(self):
        """A worker's `runner.start` is its master's to call (it never does under loadgen)."""

    def quit_from_locustfile(self, reason):
        self.quit_by = reason
        self.runner.send_message(protocol.WORKER_QUIT, {"reason": reason, "process_exit_code": self.process_exit_code()})

    def flush(self):
        """A worker answers its master's flush (`on_worker_flush`), not loadgen's."""

    def stop_users(self):
        return None

    def report_figures(self, data, **kwargs):
        """A worker's iterations, loop lateness and sampled requests travel to
        the master with its statistics."""
        data["loadgen_iterations"] = self.counts.take_iterations()
        data["loadgen_late_max_s"] = self.counts.take_late_max()
        data["loadgen_spans"], data["loadgen_spans_dropped"] = self.tracing.take_spans()
        self.open_model.report(data)

    def on_worker_targets(self, environment, msg, **kwargs):
        theirs = msg.data.get("locustfile_sha")
        if theirs and theirs != self.locustfile_sha:
            self.refuse_share(theirs)
        # Shares are sequenced by the worker's generation: a worker bumps it each
        # time it drops its users on losing the master (watch_master) and reports
        # it with its statistics; the master stamps each share with the
        # generation it last heard. The shares ZeroMQ queued while the link was
        # cut arrive in a burst when it heals, stamped with the old generation:
        # ignored, instead of starting users the other workers now run. (No
        # clocks are compared, so a slow worker's late shares still count.) The
        # run's final stop is obeyed whatever its generation.
        if not msg.data["final"] and msg.data["generation"] != self.generation:
            return
        # The master's heartbeat timeout: this worker stops its users after as long.
        self.loss_s = float(msg.data.get("loss_s", self.loss_s))
        # And the trace context: the master's run id, switches and phase.
        if "trace" in msg.data:
            self.tracing.configure(msg.data["trace"])
            self.tracing.set_phase(msg.data["phase"])
        # Workers on other machines learn the target host from the master.
        host = msg.data["host"]
        if host:
            for cls in self.classes.values():
                cls.host = host
        # The run's end lets users finish their task; ramp-downs stop them at once.
        self.env.stop_timeout = self.drain if msg.data["final"] else 0
        if msg.data["final"]:
            # The run's end: this worker's users as they are, for the master's users_at_end.
            self.runner.send_message(protocol.WORKER_USERS, self.users_now())
            self.open_model.stop()
        else:
            # Locust's meaning on a worker: its own share.
            self.runner.target_user_count = sum(msg.data["users"].values())
            self.start_test()
            self.follow_num_users()
            if self.quit_by is not None:
                return
            # The master resends every share each sample, for workers that
            # dropped their users on losing it (they come back with a new
            # generation). The share applied last, again, changes nothing: users
            # that stopped themselves (StopUser, a failed on_start) stay stopped,
            # as under Locust, instead of being spawned again.
            share = (self.generation, dict(msg.data["users"]), msg.data["waits"], msg.data.get("rates", {}))
            if share == self.applied_share:
                return
            self.applied_share = share
            if msg.data["users"] != self.runner.user_classes_count:
                self.begin_spawning()
        self.reconcile(msg.data["users"], msg.data["waits"])
        self.open_model.apply(msg.data.get("rates", {}))

    def refuse_share(self, theirs):
        """This worker's locustfile is not the master's: running its share would
        fail on a class it lacks, or run other code than the plan's. Said on
        both sides (the master logs the reason), then this worker exits."""
        reason = (
            f"this worker's locustfile (sha256 {self.locustfile_sha[:12]}, rendered from its own config) "
            f"is not the master's (sha256 {theirs[:12]}): give every worker the master's load config and "
            "locustfile (the same files and the same loadgen version)"
        )
        try:
            self.runner.send_message(protocol.WORKER_REFUSED, {"reason": reason})
            gevent.sleep(0.5)  # for the message to leave before the exit
        finally:
            fatal(reason, kind="locustfile")

    def on_report_to_master(self, client_id, data, **kwargs):
        data[protocol.REPORTED_GENERATION] = self.generation
        data[protocol.REPORTED_FLUSH] = self.flush_token

    def on_worker_flush(self, environment, msg, **kwargs):
        """A worker reports its statistics now, marked as the flush's answer."""
        self.flush_token = msg.data["token"]
        try:
            self.runner._send_stats()  # Locust's own report (its stats_reporter calls the same)
        finally:
            self.flush_token = None

    def drop_users(self):
        """Stops every user of this worker, which lost its master: shares sent
        before now are stale, so only the next generation's run."""
        self.generation += 1
        self.env.stop_timeout = 0
        abort_connections()
        self.open_model.apply({}, release=False)
        self.reconcile({n: 0 for n in self.classes}, {})

    def watch_master(self):
        """A worker that has heard nothing from its master for as long as the master
        takes to call it missing stops its users: the master gives them to the
        other workers then, and both running them would double the load. The
        master resends every share each sample interval, so on reconnect this
        worker gets a fresh one.

        Meanwhile it announces itself (Locust's `client_ready`) every second: a
        restarted master does not know this worker and ignores its heartbeats,
        but takes it in on an announcement, as at a first connection. (Its old
        master, back after a cut, takes the repeated announcement as a duplicate
        and resets the worker's entry, which holds no users now anyway.) After
        MASTER_GONE_S alone it gives up, as unreachable: `loadgen worker`
        connects anew."""
        orphaned_at = None
        announced = 0.0
        while True:
            gevent.sleep(0.1)
            last = self.runner.last_heartbeat_timestamp
            now = time.time()
            silent = last is not None and now - last > self.loss_s
            if silent and orphaned_at is None:
                orphaned_at = now
                emit("warning", message=f"lost the master for {self.loss_s:.0f} s: stopping this worker's users until it is back", traceback=None)
                self.drop_users()
            elif not silent and orphaned_at is not None:
                orphaned_at = None
                emit("warning", message="the master is back: waiting for a fresh share of users", traceback=None)
            if orphaned_at is not None:
                if now - last > MASTER_GONE_S:
                    fatal(f"no word from the Locust master for {MASTER_GONE_S} s", kind="master")
                if now - announced >= ANNOUNCE_EVERY_S:
                    announced = now
                    try:
                        self.runner.client.send(Message("client_ready", locust.__version__, self.runner.client_id))
                    except Exception as e:  # the link is down: the next try may pass
                        logging.debug("announcing to the master failed: %s", e)


def abort_connections():
    """Makes every open TCP connection of this process reset when it closes,
    instead of delivering what it has queued: the requests users sent while the
    network was cut would otherwise reach the target when it heals, from users
    this worker no longer runs. (The master link is ZeroMQ's, not a Python socket.)"""
    linger = struct.pack("ii", 1, 0)
    for obj in gc.get_objects():
        if isinstance(obj, gevent.socket.socket):
            try:
                if obj.fileno() >= 0 and obj.type == socket.SOCK_STREAM:
                    obj.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            except OSError:
                pass
