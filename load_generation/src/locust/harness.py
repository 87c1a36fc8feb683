"""loadgen's harness: runs Locust as a library and does what loadgen tells it.

Its siblings, written beside it and imported by their paths (`sibling`), so
that no module of the user's can shadow them, hold what is not the harness's
own state: the protocol's tables (`loadgen_protocol.py`), the output pump
(`loadgen_output.py`), the user's files as tracebacks name them
(`loadgen_userfiles.py`), every change made to Locust and why
(`loadgen_patches.py`), the workers' shares (`loadgen_dispatch.py`), Locust
0.x's names (`loadgen_legacy.py`), the open model (`loadgen_open.py`), the
trace context (`loadgen_trace.py`) and the keyed cluster (`loadgen_cluster.py`).

loadgen (the Rust program) owns the schedule: which phase runs, how many users of
each type, their waits. This harness owns the users. It loads the locustfile,
creates a Locust runner (local, master or worker), reads commands from stdin and
writes events to stdout, one JSON object per line. The messages are defined once,
in `src/locust/protocol.rs`, with an example of each in `tests/protocol.jsonl`;
`MESSAGES` below is this side's reading of them, checked against that file by
`python harness.py --check-protocol tests/protocol.jsonl`.

In the role `check` (for `loadgen check`) it only imports the locustfile, answers
with its User classes or where importing failed, and exits.

It reconciles the running users to exactly the counts it is given (spawning and
stopping users of each class; Locust's own shapes do not stop users of dropped
classes). Anything else the process prints (the user's own prints, Locust's
warnings, tracebacks) goes to stderr: stdout is reserved for the protocol.

In distributed mode the master splits each class's count between the workers and
sends each worker its exact share with the custom message `WORKER_TARGETS`;
workers reconcile like a local runner. The end of stdin means loadgen is gone:
the harness then stops.
"""

import atexit
import gc
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import socket
import struct
import sys
import time
import traceback

# Keep a private handle on the real stdout for the protocol, and send everything
# else that would go to stdout (a template's print) to stderr.
_protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr

HERE = os.path.dirname(os.path.abspath(__file__))


def sibling(name):
    """A module beside this file, imported by its path, once per process (no
    module of the user's can shadow it: it is kept under a name no import
    statement can reach)."""
    key = f"loadgen sibling {name}"
    module = sys.modules.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return module


protocol = sibling("loadgen_protocol")
ProtocolError, read_setup, read_message = protocol.ProtocolError, protocol.read_setup, protocol.read_message
WORKER_TARGETS, WORKER_REFUSED, WORKER_FLUSH = protocol.WORKER_TARGETS, protocol.WORKER_REFUSED, protocol.WORKER_FLUSH
WORKER_QUIT, WORKER_USERS = protocol.WORKER_QUIT, protocol.WORKER_USERS
REPORTED_FLUSH, REPORTED_GENERATION = protocol.REPORTED_FLUSH, protocol.REPORTED_GENERATION
CHANNEL = protocol.Channel(_protocol)
emit = CHANNEL.emit

# How long a master waits for its workers to report the users of a finished
# ramp before it fires spawning_complete all the same (Locust's own wait is 1 s,
# for reports every 3 s; loadgen's come every sample interval).
SPAWNED_REPORT_WAIT_S = 2.0
# How long a boundary waits for every worker's answer before it closes without
# the missing ones (said as a warning: their late requests count in the next phase).
FLUSH_WAIT_S = 2.0
# `sample`'s default: the occurrence running now.
RUNNING = object()


def fatal(message, kind="internal", traceback=None):
    emit("fatal", message=message, kind=kind, traceback=traceback)
    exit_process(3)


def exit_process(code):
    """Exits at once (Locust's greenlets are not waited for), after what the
    users printed has reached loadgen (see OutputPump)."""
    pump = sys.stderr
    if isinstance(pump, sibling("loadgen_output").OutputPump):
        pump.finish(deadline_s=1.0)
    os._exit(code)


try:
    import gevent
    import gevent.event
    import gevent.socket
    import locust
    import locust.runners
    from gevent.fileobject import FileObjectPosix
    from locust import FastHttpUser, HttpUser, between, events
    from locust.env import Environment
    from locust.rpc import Message
    from locust.user.users import User
except ImportError as e:  # pragma: no cover - reported to the user by loadgen
    fatal(f"cannot import Locust: {e}", kind="no_locust")

output = sibling("loadgen_output")
userfiles = sibling("loadgen_userfiles")
user_traceback, import_failure = userfiles.user_traceback, userfiles.import_failure
patches = sibling("loadgen_patches")
dispatch = sibling("loadgen_dispatch")


def install_legacy_names():
    """Adds Locust 0.x's names to Locust (loadgen_legacy.py, beside this file)."""
    sibling("loadgen_legacy").install()


# Locust's per-second request counts are kept this long (see forget_old_seconds),
# pruned this often.
KEEP_SECONDS = 60
FORGET_EVERY_S = 30.0
# A worker without a master announces itself this often, so that a restarted
# master (which does not know it) takes it in (see watch_master).
ANNOUNCE_EVERY_S = 1.0
# A worker without a master for this long (Locust's MASTER_HEARTBEAT_TIMEOUT)
# ends its harness as unreachable: `loadgen worker` then connects anew with
# backoff, in the same process (the pod is not restarted).
MASTER_GONE_S = 60


def master_loss_s():
    """How long the master takes to call a silent worker missing (Locust's
    heartbeat interval times its liveness): a worker that hears nothing for as
    long stops its users."""
    return locust.runners.HEARTBEAT_INTERVAL * locust.runners.HEARTBEAT_LIVENESS


class Harness:
    def __init__(self, setup):
        self.setup = read_setup(setup)
        # What this process counts beside Locust's statistics; TaskSet.wait
        # counts tasks into it from now on (before the open model and the
        # trace context wrap it in turn).
        self.counts = patches.Counts()
        patches.count_tasks(self.counts)
        # Set up with the runner (see start).
        self.open_model = None
        self.tracing = None
        self.role = setup["role"]
        self.mode = self.role["mode"]
        self.interval = float(setup["sample_interval"])
        # How long a stopping run lets users finish the task they are in, so that
        # a request the target already answered is also counted here.
        self.drain = float(setup["stop_drain"])
        self.targets = {}
        self.waits = {}
        # The classes of a rate phase: {name: {per_s, arrival, ramp_s}}.
        self.rates = {}
        self.previous = {}
        self.previous_errors = {}
        self.previous_exceptions = {}
        self.worker_shares = {}
        # When users of each class last stopped on a worker (make-before-break pacing).
        self.last_break = {}
        self.stopping = False
        self.occurrence = None
        self.phase = {"number": 0, "name": "", "loop_number": 0}
        self.forgotten_at = time.monotonic()
        # Master: each worker's generation as last reported; worker: its own
        # (see on_worker_targets).
        self.worker_generations = {}
        self.generation = 0
        # (generation, users, waits) of the share this worker last applied.
        self.applied_share = None
        # A worker's: how long without its master before it stops its users (the
        # master's --heartbeat-timeout, from its shares; Locust's 3 s until then).
        self.loss_s = 3.0
        # Master: the boundary waiting for the workers' reports (a Closing);
        # worker: the token of the flush being answered.
        self.closing = None
        self.flush_tokens = 0
        self.flush_token = None
        # Exception type names by traceback: Locust keeps only str(exception),
        # and "'X' object has no attribute 'clinet'" reads better as AttributeError.
        self.error_types = {}
        self.loop_lag = 0.0
        # The users per class the running ramp ends at (Targets' `ramp_to`), and
        # the occurrence whose spawning_complete has fired (see follow_spawning).
        self.ramp_to = {}
        self.spawned_occurrence = None
        # Set while a ramp runs; runner.spawning_greenlet waits for it.
        self.spawning = None
        # Why the locustfile ended the run (runner.quit()), once it has.
        self.quit_by = None
        # Users that raised in __init__ or on_start: (class, during, message,
        # file, line) -> how many; a worker's come to its master at the end.
        self.crashes = {}
        self.worker_users_at_end = []

    # -- a worker's figures, to its master ---------------------------------
    def report_figures(self, data, **kwargs):
        """A worker's iterations, loop lateness and sampled requests travel to
        the master with its statistics."""
        data["loadgen_iterations"] = self.counts.take_iterations()
        data["loadgen_late_max_s"] = self.counts.take_late_max()
        data["loadgen_spans"], data["loadgen_spans_dropped"] = self.tracing.take_spans()
        self.open_model.report(data)

    def add_worker_figures(self, data, **kwargs):
        self.counts.add(int(data.get("loadgen_iterations", 0)), float(data.get("loadgen_late_max_s", 0.0)))
        self.tracing.add_spans(data.get("loadgen_spans", []), data.get("loadgen_spans_dropped", 0))
        self.open_model.add_report(data)

    # -- start -------------------------------------------------------------
    def import_locustfile(self):
        """Imports the locustfile as `locust -f` would: helper modules and data
        files beside the user's file are found. Locust 0.x names are there for
        the files written for the original wrapper."""
        install_legacy_names()
        path = self.setup["locustfile"]
        base_dir = self.setup["base_dir"]
        if base_dir and os.path.isdir(base_dir):
            sys.path.insert(0, base_dir)
            os.chdir(base_dir)
        spec = importlib.util.spec_from_file_location("locustfile", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["locustfile"] = module
        spec.loader.exec_module(module)
        return module

    def check_import(self):
        """The role `check`: imports the locustfile without load and says which
        User classes it has, or where importing it failed; then exits."""
        try:
            module = self.import_locustfile()
        except BaseException as e:  # the user's mistake, located for `loadgen check`
            failure = import_failure(e, self.setup["locustfile"], self.setup["base_dir"])
            emit("imported", user_classes=[], error=failure)
            os._exit(0)
        classes = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and issubclass(value, User) and not value.abstract
        )
        emit("imported", user_classes=classes, error=None)
        os._exit(0)

    def load_user_classes(self):
        try:
            module = self.import_locustfile()
        except BaseException as e:  # a broken template is the user's to see
            fatal(
                f"the locustfile failed to load: {type(e).__name__}: {e}",
                kind="locustfile",
                traceback=user_traceback(e),
            )
        classes = []
        for name in self.setup["user_classes"]:
            own = self.setup["class_names"].get(name, name)
            cls = getattr(module, own, None)
            if not (isinstance(cls, type) and issubclass(cls, User)) or cls.abstract:
                fatal(
                    f"the locustfile defines no User class {own} (a class that extends HttpUser, FastHttpUser or User)",
                    kind="locustfile",
                )
            if own != name:
                # A user type `Website` runs the file's class `Website`; loadgen
                # counts users by class name, so it runs as a subclass named
                # `WebsiteUser` that changes nothing else.
                cls = type(cls)(name, (cls,), {"__module__": cls.__module__})
            classes.append(cls)
        return classes

    def parse_options(self):
        """Locust's options as `locust` would parse them: its defaults, the
        locustfile's own `init_command_line_parser` arguments, and what the user
        gave loadgen after `--`."""
        from locust.argument_parser import get_parser

        try:
            parser = get_parser()
            options = parser.parse_args(args=self.setup["locust_args"])
        except SystemExit:  # argparse has printed what is wrong to stderr
            fatal(
                f"Locust's options after `--` are not valid: {' '.join(self.setup['locust_args'])}",
                kind="locust_args",
            )
        # What `locust --headless -u N --host URL` would hold: loadgen runs
        # headless, against its target, and num_users follows the phases (set
        # with runner.target_user_count, in start_test and at each phase).
        options.headless = True
        if self.setup["host"] and not options.host:
            options.host = self.setup["host"]
        return options

    def start(self):
        classes = self.load_user_classes()
        # Master and workers must run the same locustfile: shares name its classes.
        with open(self.setup["locustfile"], "rb") as f:
            self.locustfile_sha = hashlib.sha256(f.read()).hexdigest()
        options = self.parse_options()
        self.classes = {c.__name__: c for c in classes}
        if self.setup["host"]:
            for cls in classes:
                cls.host = self.setup["host"]
        self.env = Environment(
            user_classes=classes,
            host=self.setup["host"],
            events=events,
            stop_timeout=0,
            parsed_options=options,
            tags=options.tags,
            exclude_tags=options.exclude_tags,
            available_user_classes=dict(self.classes),
            available_user_tasks={n: c.tasks for n, c in self.classes.items()},
        )
        self.open_model = sibling("loadgen_open").OpenModel(self.counts.count_iteration)
        tracing = sibling("loadgen_trace")
        self.tracing = tracing.Tracing(self.setup["trace"])
        # A worker learns the master's trace context with its first share:
        # installed on every worker, since that may turn headers on.
        if self.tracing.on() or self.mode == "worker":
            tracing.install(self.tracing)
        if self.role.get("cluster_key"):
            # Keyed: Locust's sockets become CURVE sockets (loadgen_cluster.py).
            sibling("loadgen_cluster").install(
                self.role["cluster_key"], self.mode, say=lambda text: emit("warning", message=text, traceback=None)
            )
        if self.mode == "local":
            self.runner = self.env.create_local_runner()
        elif self.mode == "master":
            # A worker is lost after --heartbeat-timeout heartbeats (1 s apart)
            # missed; its shares tell the workers the same timeout (loss_s).
            locust.runners.HEARTBEAT_LIVENESS = int(self.role["heartbeat_timeout"])
            self.runner = self.env.create_master_runner(
                master_bind_host=self.role["bind_host"],
                master_bind_port=int(self.role["bind_port"]),
            )
        elif self.mode == "worker":
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
                self.runner = self.env.create_worker_runner(
                    self.role["master_host"], int(self.role["master_port"])
                )
            except ConnectionError:
                fatal(f"cannot reach the Locust master at {master}", kind="master")
            self.runner.register_message(WORKER_TARGETS, self.on_worker_targets)
            self.runner.register_message(WORKER_FLUSH, self.on_worker_flush)
            # A worker's task iterations and lateness travel with its statistics to the master.
            events.report_to_master.add_listener(self.report_figures)
            events.report_to_master.add_listener(self.on_report_to_master)
            gevent.spawn(self.watch_master)
        else:
            fatal(f"unknown mode {self.mode}")
        if self.mode == "master":
            events.worker_report.add_listener(self.add_worker_figures)
            events.worker_report.add_listener(self.on_worker_report)
            # Every listener of a worker's report (Locust's own merge of its
            # statistics first) runs through deliver_report, which may hold it.
            self.deliver = events.worker_report.fire
            events.worker_report.fire = self.deliver_report
            self.runner.register_message(WORKER_REFUSED, self.on_worker_refused)
            self.runner.register_message(WORKER_QUIT, self.on_worker_quit)
            self.runner.register_message(WORKER_USERS, self.on_worker_users)
        events.user_error.add_listener(self.on_user_error)
        self.test_stopped = False
        events.test_stop.add_listener(self.on_test_stop)
        events.spawning_complete.add_listener(self.on_spawning_complete)
        self.take_over_runner()
        events.init.fire(environment=self.env, runner=self.runner, web_ui=None)
        # test_start fires with the first targets (start_test), as Locust fires
        # it when a test starts: target_user_count is known then, and a master's
        # workers are connected.
        self.test_started = False

        if self.mode == "master":
            self.wait_for_workers()
        emit(
            "ready",
            locust_version=locust.__version__,
            python=sys.version.split()[0],
            pid=os.getpid(),
            workers=len(self.live_workers()) if self.mode == "master" else 0,
        )
        gevent.spawn(self.read_commands)
        gevent.spawn(self.counts.probe_loop)
        if self.mode != "worker":
            gevent.spawn(self.sample_forever)
        if self.mode == "worker":
            self.runner.greenlet.join()
            events.quitting.fire(environment=self.env, reverse=True)
            emit("stopped", reason="the worker's runner ended", process_exit_code=self.process_exit_code())
            exit_process(0)

    def start_test(self):
        """test_start, once per run, as Locust fires it: with the first targets,
        before any user spawns (a worker's when it is first given users)."""
        if self.test_started:
            return
        self.test_started = True
        self.follow_num_users()
        self.env._filter_tasks_by_tags()
        events.test_start.fire(environment=self.env)

    def follow_num_users(self):
        """parsed_options.num_users is the users asked for now, as `-u` would be."""
        options = self.env.parsed_options
        if options is not None and "-u" not in self.setup["locust_args"] and "--users" not in self.setup["locust_args"]:
            options.num_users = self.runner.target_user_count

    def on_test_stop(self, **kwargs):
        self.test_stopped = True

    def on_user_error(self, user_instance, exception, tb, **kwargs):
        if len(self.error_types) < 1000:
            self.error_types["".join(traceback.format_tb(tb))] = type(exception).__name__
        # A user whose on_start raised never runs a task (Locust's User.run
        # fires this, then the user ends): said at the end.
        head = [f.f_code.co_name for f, _ in itertools.islice(traceback.walk_tb(tb), 2)]
        if head == ["run", "on_start"]:
            self.record_crash(type(user_instance).__name__, "on_start", exception, traceback.extract_tb(tb))

    # -- Locust's runner, as a locustfile sees it ------------------------------
    # loadgen spawns and stops users itself (reconcile), not through Locust's
    # runner.start: what Locust does around its start is done here, so a
    # locustfile sees the runner it would under `locust`: target_user_count,
    # state, spawning_greenlet, spawning_complete, quit().
    def take_over_runner(self):
        runner = self.runner
        self.locust_quit = runner.quit
        runner.quit = self.quit_runner
        if self.mode != "worker":
            self.locust_start = runner.start
            runner.start = self.start_runner
        if self.mode == "master":
            # Locust's master restarts its own dispatch (runner.start) when a
            # worker goes or comes while it runs, and stops the test when its
            # last worker goes missing: loadgen's dispatch does both itself.
            self.locust_stop = runner.stop
            runner.stop = self.stop_master

    def quit_runner(self):
        """`environment.runner.quit()`: the locustfile ends the run, as under
        Locust, with its process_exit_code; loadgen says who ended it."""
        file, line = self.innermost_users_frame(traceback.extract_stack()[:-1])
        if self.stopping or file is None:
            # The harness's own stop (and Locust's calls during it), or Locust's
            # own quit (a worker that lost its master): as Locust does.
            return self.locust_quit()
        if self.quit_by is not None:
            return
        reason = f"the locustfile called environment.runner.quit() at {file}:{line}"
        if self.mode == "worker":
            self.quit_by = reason
            self.runner.send_message(WORKER_QUIT, {"reason": reason, "process_exit_code": self.process_exit_code()})
        else:
            self.end_run(reason)
        # A user that quits stops at once, as under Locust.
        current = gevent.getcurrent()
        if current in self.runner.user_greenlets:
            self.runner.user_greenlets.killone(current, block=False)

    def on_worker_quit(self, environment, msg, **kwargs):
        code = msg.data.get("process_exit_code")
        if code is not None and getattr(self.env, "process_exit_code", None) is None:
            self.env.process_exit_code = code
        self.end_run(f"{msg.data['reason']} (on worker {msg.node_id})")

    def end_run(self, reason):
        """The locustfile ends the run: loadgen is told at once (so that it
        stops the run, not mistake the workers' exits for crashes), and the
        run stops as when loadgen asks, sending its last sample."""
        if self.quit_by is not None:
            return
        self.quit_by = reason
        emit("quit", reason=reason)
        gevent.spawn(self.stop, reason=reason)

    def start_runner(self, *args, **kwargs):
        """Locust's `runner.start` would spawn users of its own beside loadgen's."""
        if self.users_file(traceback.extract_stack()[-2].filename):
            emit(
                "warning",
                message="environment.runner.start() is ignored under loadgen: the config's phases set the users",
                traceback=None,
            )

    def stop_master(self, *args, **kwargs):
        if self.stopping:
            return self.locust_stop(*args, **kwargs)

    def follow_spawning(self):
        """A local runner's or master's part of a targets command: Locust's
        target_user_count and state, and spawning_complete once the running
        ramp is done (once per phase occurrence, again after a new ramp in it)."""
        self.runner.target_user_count = sum(self.ramp_to.values())
        if self.targets != self.ramp_to:
            self.spawned_occurrence = None
            self.begin_spawning()
            return
        if self.spawned_occurrence == self.occurrence:
            return
        self.spawned_occurrence = self.occurrence
        if self.mode == "master":
            gevent.spawn(self.complete_spawning_on_master, self.occurrence, dict(self.ramp_to))
        else:
            events.spawning_complete.fire(user_count=sum(self.runner.user_classes_count.values()))

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

    def begin_spawning(self):
        """`runner.spawning_greenlet`: as under Locust, a greenlet that ends when
        the ramp's spawning is complete."""
        if self.spawning is None or self.spawning.is_set():
            self.spawning = gevent.event.Event()
            self.runner.spawning_greenlet = gevent.spawn(self.spawning.wait)
        if self.runner.state in (locust.runners.STATE_INIT, locust.runners.STATE_RUNNING, locust.runners.STATE_STOPPED):
            self.runner.update_state(locust.runners.STATE_SPAWNING)

    def on_spawning_complete(self, **kwargs):
        # (Locust's own listener sets the runner's state to running.)
        if self.spawning is not None:
            self.spawning.set()

    # -- the users at the end --------------------------------------------------
    def users_file(self, filename):
        return userfiles.in_users_files(filename, self.setup["locustfile"], self.setup["base_dir"])

    def innermost_users_frame(self, frames):
        """(file, line) of the innermost of `frames` (outermost first) in the user's files."""
        for frame in reversed(frames):
            if self.users_file(frame.filename):
                return frame.filename, frame.lineno
        return None, None

    def record_crash(self, class_name, during, exception, frames):
        file, line = self.innermost_users_frame(frames)
        key = (class_name, during, f"{type(exception).__name__}: {exception}", file, line)
        if key not in self.crashes and len(self.crashes) >= 20:
            return
        first = key not in self.crashes
        self.crashes[key] = self.crashes.get(key, 0) + 1
        if first and during == "__init__":
            # Raised out of Locust's spawn_users: said once here (each later
            # attempt is counted, and said at the end if the run made no request).
            where = f" ({file}:{line})" if file else ""
            emit(
                "warning",
                message=f"a {class_name} user raised in __init__ and does not run: {key[2]}{where}",
                traceback=user_traceback(exception),
            )

    def reconcile(self, targets, waits):
        """reconcile(), with what a user's __init__ raises recorded: that class
        spawns no more users for this command, the other classes do."""
        targets = dict(targets)
        for _ in range(len(targets) + 1):
            try:
                reconcile(self.runner, self.classes, targets, waits)
                return
            except Exception as e:
                init = [
                    f
                    for f, _ in traceback.walk_tb(e.__traceback__)
                    if f.f_code.co_name == "__init__" and self.users_file(f.f_code.co_filename)
                ]
                user = init[0].f_locals.get("self") if init else None
                name = type(user).__name__
                if name not in targets:
                    raise
                self.record_crash(name, "__init__", e, traceback.extract_tb(e.__traceback__))
                targets[name] = min(targets[name], self.runner.user_classes_count.get(name, 0))

    def users_now(self):
        """This process's users: those still in on_start (by class and the
        place they wait at), its crashes, and its tasks run."""
        waiting = {}
        for g in list(self.runner.user_greenlets):
            frame = getattr(g, "gr_frame", None)
            stack = []
            while frame is not None:
                stack.append(frame)
                frame = frame.f_back
            user_frames = [f for f in stack if self.users_file(f.f_code.co_filename)]
            if not any(f.f_code.co_name == "on_start" for f in user_frames):
                continue
            user = g.args[0] if g.args else None
            key = (type(user).__name__, user_frames[0].f_code.co_filename, user_frames[0].f_lineno)
            waiting[key] = waiting.get(key, 0) + 1
        return {
            "in_on_start": [{"class": c, "users": n, "file": f, "line": l} for (c, f, l), n in waiting.items()],
            "crashed": [
                {"class": c, "during": d, "users": n, "message": m, "file": f, "line": l}
                for (c, d, m, f, l), n in self.crashes.items()
            ],
        }

    def on_worker_users(self, environment, msg, **kwargs):
        self.worker_users_at_end.append(msg.data)

    def emit_users_at_end(self, mine):
        """`users_at_end`: the users of this process (a local runner) or of
        every worker (a master), merged by class and place."""
        parts = [mine] if self.mode == "local" else self.worker_users_at_end
        in_on_start, crashed = {}, {}
        for part in parts:
            for u in part["in_on_start"]:
                key = (u["class"], u["file"], u["line"])
                in_on_start[key] = in_on_start.get(key, 0) + u["users"]
            for u in part["crashed"]:
                key = (u["class"], u["during"], u["message"], u["file"], u["line"])
                crashed[key] = crashed.get(key, 0) + u["users"]
        emit(
            "users_at_end",
            in_on_start=[{"class": c, "users": n, "file": f, "line": l} for (c, f, l), n in sorted(in_on_start.items(), key=str)],
            crashed=[
                {"class": c, "during": d, "users": n, "message": m, "file": f, "line": l}
                for (c, d, m, f, l), n in sorted(crashed.items(), key=str)
            ],
            without_client=sorted(n for n, c in self.classes.items() if not issubclass(c, (HttpUser, FastHttpUser))),
            tasks_run=self.counts.tasks_run,
        )

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

    # -- commands ----------------------------------------------------------
    def read_commands(self):
        stdin = FileObjectPosix(sys.stdin.fileno(), "rb")
        while True:
            line = stdin.readline()
            if not line:  # loadgen is gone
                self.stop(reason="stdin closed")
                return
            try:
                command = read_message("command", json.loads(line))
            except ValueError as e:  # ProtocolError is one: a bug in loadgen, said loudly
                emit("warning", message=f"loadgen harness: bad command {line!r}: {e}", traceback=None)
                continue
            op = command["op"]
            if op == "targets":
                self.occurrence = command["occurrence"]
                self.phase = command["phase"]
                self.tracing.set_phase(self.phase)
                self.targets = {k: int(v) for k, v in command["users"].items() if k in self.classes}
                self.waits = command["waits"]
                self.ramp_to = {k: int(v) for k, v in command["ramp_to"].items() if k in self.classes}
                self.rates = {k: v for k, v in command["rates"].items() if k in self.classes}
                try:
                    self.apply()
                except Exception as e:
                    emit("warning", message=f"could not apply the user targets: {type(e).__name__}: {e}", traceback=traceback.format_exc())
            elif op == "flush":
                if self.mode != "worker":
                    self.flush()
            elif op == "stop":
                self.stop(reason="asked")
                return

    def apply(self):
        self.runner.target_user_count = sum(self.ramp_to.values())
        self.start_test()
        self.follow_num_users()
        if self.quit_by is not None:  # test_start quit: no user starts
            return
        if self.mode == "master":
            self.dispatch_to_workers(force=True)
        else:
            self.reconcile(self.targets, self.waits)
            self.open_model.apply(self.rates)
        self.follow_spawning()

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
            self.runner.send_message(WORKER_USERS, self.users_now())
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
            self.runner.send_message(WORKER_REFUSED, {"reason": reason})
            gevent.sleep(0.5)  # for the message to leave before the exit
        finally:
            fatal(reason, kind="locustfile")

    def on_worker_refused(self, environment, msg, **kwargs):
        emit("warning", message=f"worker {msg.node_id} refused its share: {msg.data['reason']}", traceback=None)

    def on_report_to_master(self, client_id, data, **kwargs):
        data[REPORTED_GENERATION] = self.generation
        data[REPORTED_FLUSH] = self.flush_token

    # -- phase boundaries ------------------------------------------------------
    def flush(self):
        """Closes the running occurrence's statistics, at a phase boundary.

        A local runner's statistics are its own: sampled at once. A master's are
        what its workers reported, every sample interval: up to one interval
        behind. So the master asks each connected worker to report now
        (WORKER_FLUSH) and sends the occurrence's last sample only once every one
        has answered; a worker's later reports (requests after the boundary)
        are held until then, and go to the next occurrence. A worker that does
        not answer within FLUSH_WAIT_S (hung, or lost without the master knowing
        yet) does not hold the boundary longer: it closes without it, and says so.
        """
        if self.mode != "master":
            self.sample()
            return
        self.close_boundary()  # a boundary still waiting closes now
        waiting = {w.id for w in self.live_workers()}
        if not waiting:
            self.sample()
            return
        self.flush_tokens += 1
        closing = Closing(self.occurrence, self.flush_tokens, waiting)
        self.closing = closing
        for w in waiting:
            self.runner.send_message(WORKER_FLUSH, {"token": closing.token}, client_id=w)
        gevent.spawn(self.watch_boundary, closing)

    def on_worker_flush(self, environment, msg, **kwargs):
        """A worker reports its statistics now, marked as the flush's answer."""
        self.flush_token = msg.data["token"]
        try:
            self.runner._send_stats()  # Locust's own report (its stats_reporter calls the same)
        finally:
            self.flush_token = None

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
        if closing is not None and worker in closing.waiting and data.get(REPORTED_FLUSH) == closing.token:
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
        generation = data.get(REPORTED_GENERATION, 0)
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
                WORKER_TARGETS,
                {"users": users, "waits": self.waits, "rates": dispatch.worker_rates(self.rates, told, w), "host": self.setup["host"], "final": False,
                 "trace": self.setup["trace"], "phase": self.phase,
                 "generation": self.worker_generations.get(w, 0), "locustfile_sha": self.locustfile_sha,
                 "loss_s": master_loss_s()},
                client_id=w,
            )

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

    # -- samples -----------------------------------------------------------
    def sample_forever(self):
        next_at = time.monotonic()
        while not self.stopping:
            next_at += self.interval
            gevent.sleep(max(0.0, next_at - time.monotonic()))
            # How late this greenlet woke: a busy or starved gevent loop delays
            # every user's next task by as much.
            self.loop_lag = max(0.0, time.monotonic() - next_at)
            if self.loop_lag > self.interval:
                next_at = time.monotonic()
            if self.mode == "master":
                # A worker that joins (or comes back) gets its share; every share
                # is resent, for workers that stopped their users on losing us.
                self.dispatch_to_workers(force=True)
            if self.closing is None:  # else the boundary's own sample comes first
                self.sample()
            if time.monotonic() - self.forgotten_at >= FORGET_EVERY_S:
                self.forgotten_at = time.monotonic()
                self.forget_old_seconds()

    def forget_old_seconds(self):
        """Drops Locust's per-second request counts older than KEEP_SECONDS.

        Locust keeps, for every request name and the total, a count per second
        of the run (`num_reqs_per_sec`, `num_fail_per_sec`) and never drops one:
        over a week of one name that is 600,000 keys, tens of MB. Only the last
        few seconds are ever read (`current_rps`, for Locust's web UI, which
        loadgen does not run); loadgen's own counts come from the cumulative
        totals that `sample` differences. Workers reset their stats at every
        report to the master, so this matters in the local and master modes.
        """
        horizon = int(time.time()) - KEEP_SECONDS
        stats = self.env.stats
        for entry in [stats.total, *list(stats.entries.values())]:
            for per_second in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
                for second in [t for t in per_second if t < horizon]:
                    del per_second[second]

    def users(self):
        if self.mode == "master":
            counts = {name: 0 for name in self.classes}
            for name, n in self.runner.reported_user_classes_count.items():
                counts[name] = counts.get(name, 0) + n
            return counts
        return self.runner.user_classes_count

    def sample(self, occurrence=RUNNING):
        stats = []
        for (name, method), entry in list(self.env.stats.entries.items()):
            before = self.previous.get((name, method))
            n, f = entry.num_requests, entry.num_failures
            total = entry.total_response_time
            times = dict(entry.response_times)
            if before is None:
                before = (0, 0, 0, {})
            if n == before[0] and f == before[1]:
                continue
            histogram = [[ms, c - before[3].get(ms, 0)] for ms, c in times.items() if c != before[3].get(ms, 0)]
            stats.append(
                {
                    "method": method,
                    "name": name,
                    "requests": n - before[0],
                    "failures": f - before[1],
                    "total_ms": total - before[2],
                    "histogram": histogram,
                    "intended_histogram": self.open_model.take_intended(name, method),
                }
            )
            self.previous[(name, method)] = (n, f, total, times)
        errors = []
        for key, error in list(self.env.stats.errors.items()):
            delta = error.occurrences - self.previous_errors.get(key, 0)
            if delta > 0:
                errors.append(
                    {"method": error.method, "name": error.name, "error": str(error.error), "occurrences": delta}
                )
                self.previous_errors[key] = error.occurrences
        exceptions = []
        for key, row in list(self.runner.exceptions.items()):
            delta = row["count"] - self.previous_exceptions.get(key, 0)
            if delta > 0:
                kind = self.error_types.get(row["traceback"])
                message = f"{kind}: {row['msg']}" if kind else row["msg"]
                exceptions.append({"message": message, "traceback": row["traceback"], "count": delta})
                self.previous_exceptions[key] = row["count"]
        spans, spans_dropped = self.tracing.take_spans()
        emit(
            "sample",
            t=time.time(),
            occurrence=self.occurrence if occurrence is RUNNING else occurrence,
            users=self.users(),
            workers=len(self.live_workers()) if self.mode == "master" else 0,
            worker_users={w.id: sum(w.user_classes_count.values()) for w in self.live_workers()}
            if self.mode == "master" else {},
            stats=stats,
            errors=errors,
            exceptions=exceptions,
            cpu=self.runner.current_cpu_usage,
            loop_lag_ms=round(self.loop_lag * 1000.0, 1),
            loop_late_max_ms=round(self.counts.take_late_max() * 1000.0, 1),
            iterations=self.counts.take_iterations(),
            dropped=self.open_model.take_dropped(),
            spans=spans,
            spans_dropped=spans_dropped,
        )

    # -- stop --------------------------------------------------------------
    def stop(self, reason):
        if self.stopping:
            return
        self.stopping = True
        try:
            self.close_boundary()
            if self.mode == "master":
                for w in list(self.runner.clients.all):
                    self.runner.send_message(
                        WORKER_TARGETS,
                        {"users": {n: 0 for n in self.classes}, "waits": {}, "host": None, "final": True},
                        client_id=w.id,
                    )
                # Give the workers their drain and one report interval to send their last statistics.
                gevent.sleep(self.drain + self.interval + 0.2)
            elif self.mode == "local":
                mine = self.users_now()  # before they stop: who is still in on_start
                self.env.stop_timeout = self.drain
                self.open_model.stop()  # the start times not taken by now were dropped
                self.runner.stop_users(self.runner.user_classes_count)
            if self.mode != "worker":
                self.sample()
                self.emit_users_at_end(mine if self.mode == "local" else None)
            # A local runner's quit fires test_stop; a master that never started
            # Locust's own test does not: then it is fired here, so once either way.
            self.locust_quit()
            if self.mode != "worker" and not self.test_stopped:
                events.test_stop.fire(environment=self.env)
            events.quitting.fire(environment=self.env, reverse=True)
        finally:
            emit("stopped", reason=reason, process_exit_code=self.process_exit_code())
            exit_process(0)

    def process_exit_code(self):
        """`environment.process_exit_code` as the locustfile left it (in Locust it
        decides the exit code; loadgen combines it with its verdict, see
        docs/ci.md). Read after `quitting`, where locustfiles usually set it."""
        env = getattr(self, "env", None)
        code = getattr(env, "process_exit_code", None)
        if code is None:
            return None
        try:
            return int(code)
        except (TypeError, ValueError):
            return 1  # set, but to no number: the locustfile meant a failure


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


def reconcile(runner, classes, targets, waits):
    """Makes the runner run exactly `targets[c]` users of each class `c`."""
    for name, (low, high) in waits.items():
        if name in classes:
            classes[name].wait_time = between(float(low), float(high))
    current = runner.user_classes_count
    spawn = {n: t - current.get(n, 0) for n, t in targets.items() if t > current.get(n, 0)}
    stop = {n: current.get(n, 0) - t for n, t in targets.items() if t < current.get(n, 0)}
    if spawn:
        runner.spawn_users(spawn)
    if stop:
        runner.stop_users(stop)


def main():
    if sys.argv[1] == "--check-protocol":
        protocol.check_protocol(sys.argv[2])
    with open(sys.argv[1]) as f:
        setup = json.load(f)
    if setup["role"].get("mode") != "check":
        # From here on, what the users print never blocks them (and what is
        # buffered at an ordinary exit, a traceback's last lines, still goes out).
        sys.stdout = sys.stderr = output.OutputPump(2, say=lambda text: emit("warning", message=text, traceback=None))
        atexit.register(sys.stderr.finish, deadline_s=1.0)
    # The users' logging: WARNING and above, INFO too when loadgen runs with -v
    # (it shows their prints then as well). Locust's own INFO chatter stays out.
    level = logging.INFO if setup.get("verbose") else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("locust").setLevel(logging.WARNING)
    # Task exceptions are counted and reported once each through runner.exceptions;
    # Locust would otherwise log a traceback per occurrence.
    logging.getLogger("locust.user").setLevel(logging.CRITICAL)
    if setup["role"].get("mode") == "check":
        Harness(setup).check_import()
    Harness(setup).start()
    gevent.wait()


if __name__ == "__main__":
    main()
