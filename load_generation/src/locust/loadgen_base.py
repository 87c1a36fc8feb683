"""The harness's base: a Locust runner that runs exactly the users loadgen
asks for, as a local runner does; the master and the worker (`loadgen_master.py`,
`loadgen_worker.py`) are its subclasses, each doing its own way what the
methods under "what each role does its own way" leave to it.

loadgen (the Rust program) owns the schedule: which phase runs, how many users of
each type, their waits. This harness owns the users. It loads the locustfile,
creates a Locust runner, reads commands from stdin and writes events to stdout
(`loadgen_protocol.py`). It reconciles the running users to exactly the counts
it is given (spawning and stopping users of each class; Locust's own shapes do
not stop users of dropped classes), and does around them what Locust does
around its own start, so that a locustfile sees the runner it would under
`locust`.

Imported by path, like every sibling of the harness (see `harness.py`), after
`loadgen_protocol.py`.
"""

import hashlib
import importlib.util
import itertools
import json
import os
import sys
import time
import traceback

import gevent
import gevent.event
import locust
import locust.runners
from gevent.fileobject import FileObjectPosix
from locust import FastHttpUser, HttpUser, between, events
from locust.env import Environment
from locust.user.users import User

protocol = sys.modules["loadgen sibling loadgen_protocol"]
sibling, emit, fatal, exit_process = protocol.sibling, protocol.emit, protocol.fatal, protocol.exit_process
ProtocolError, read_setup, read_message = protocol.ProtocolError, protocol.read_setup, protocol.read_message
userfiles = sibling("loadgen_userfiles")
user_traceback, import_failure = userfiles.user_traceback, userfiles.import_failure
patches = sibling("loadgen_patches")

# `sample`'s default: the occurrence running now.
RUNNING = object()
# Locust's per-second request counts are kept this long (see forget_old_seconds),
# pruned this often.
KEEP_SECONDS = 60
FORGET_EVERY_S = 30.0


def install_legacy_names():
    """Adds Locust 0.x's names to Locust (loadgen_legacy.py, beside this file)."""
    sibling("loadgen_legacy").install()


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
        # What Locust counted by the last sample: each sample says what changed since.
        self.since_last = sibling("loadgen_sample").SinceLast()
        self.stopping = False
        self.occurrence = None
        self.phase = {"number": 0, "name": "", "loop_number": 0}
        self.forgotten_at = time.monotonic()
        # A master's boundary waiting for its workers' reports (a Closing):
        # no sample is taken meanwhile.
        self.closing = None
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
        if self.tracing.on() or self.always_traced:
            tracing.install(self.tracing)
        if self.role.get("cluster_key"):
            # Keyed: Locust's sockets become CURVE sockets (loadgen_cluster.py).
            sibling("loadgen_cluster").install(
                self.role["cluster_key"], self.mode, say=lambda text: emit("warning", message=text, traceback=None)
            )
        self.runner = self.create_runner()
        self.listen()
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
        self.before_ready()
        emit(
            "ready",
            locust_version=locust.__version__,
            python=sys.version.split()[0],
            pid=os.getpid(),
            workers=len(self.live_workers()),
        )
        gevent.spawn(self.read_commands)
        gevent.spawn(self.counts.probe_loop)
        self.run()

    # -- what each role does its own way (the local runner's here) ----------
    # A worker installs the trace context whatever its own setup says: its
    # master's comes with its first share, and may turn headers on.
    always_traced = False

    def create_runner(self):
        return self.env.create_local_runner()

    def listen(self):
        """Registers the role's own messages and listeners on the runner."""

    def before_ready(self):
        """What must be so before `ready` is said."""

    def run(self):
        """Runs after `ready`: samples every interval until stopped."""
        gevent.spawn(self.sample_forever)

    def live_workers(self):
        return []

    def users(self):
        return self.runner.user_classes_count

    def apply_targets(self):
        """A targets command's users and rates, for this process's own users."""
        self.reconcile(self.targets, self.waits)
        self.open_model.apply(self.rates)

    def spawning_completed(self):
        events.spawning_complete.fire(user_count=sum(self.runner.user_classes_count.values()))

    def flush(self):
        """Closes the running occurrence's statistics at a phase boundary: a
        local runner's are its own, sampled at once."""
        self.sample()

    def close_boundary(self):
        """A master's boundary waiting for its workers (none here)."""

    def every_sample(self):
        """Done every sampling interval, before the sample."""

    def take_over_start(self):
        self.locust_start = self.runner.start
        self.runner.start = self.start_runner

    def quit_from_locustfile(self, reason):
        self.end_run(reason)

    def stop_users(self):
        """Stops this process's users as the run ends; returns them as they
        were (who was still in on_start), for `users_at_end`."""
        mine = self.users_now()  # before they stop: who is still in on_start
        self.env.stop_timeout = self.drain
        self.open_model.stop()  # the start times not taken by now were dropped
        self.runner.stop_users(self.runner.user_classes_count)
        return mine

    def users_at_end_parts(self, mine):
        return [mine]

    # Whether this process samples and says `users_at_end` (a worker's go to its master).
    samples = True

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
        self.take_over_start()

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
        self.quit_from_locustfile(reason)
        # A user that quits stops at once, as under Locust.
        current = gevent.getcurrent()
        if current in self.runner.user_greenlets:
            self.runner.user_greenlets.killone(current, block=False)

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
        self.spawning_completed()

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
        return {
            "in_on_start": userfiles.in_on_start(self.runner.user_greenlets, self.users_file),
            "crashed": [
                {"class": c, "during": d, "users": n, "message": m, "file": f, "line": l}
                for (c, d, m, f, l), n in self.crashes.items()
            ],
        }

    def emit_users_at_end(self, mine):
        """`users_at_end`: the users of this process (a local runner) or of
        every worker (a master), merged by class and place."""
        in_on_start, crashed = userfiles.merge_users(self.users_at_end_parts(mine))
        emit(
            "users_at_end",
            in_on_start=in_on_start,
            crashed=crashed,
            without_client=sorted(n for n, c in self.classes.items() if not issubclass(c, (HttpUser, FastHttpUser))),
            tasks_run=self.counts.tasks_run,
        )

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
        self.apply_targets()
        self.follow_spawning()

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
            self.every_sample()
            if self.closing is None:  # else the boundary's own sample comes first
                self.sample()
            if time.monotonic() - self.forgotten_at >= FORGET_EVERY_S:
                self.forgotten_at = time.monotonic()
                sibling("loadgen_sample").forget_old_seconds(self.env.stats, KEEP_SECONDS)

    def sample(self, occurrence=RUNNING):
        spans, spans_dropped = self.tracing.take_spans()
        emit(
            "sample",
            t=time.time(),
            occurrence=self.occurrence if occurrence is RUNNING else occurrence,
            users=self.users(),
            workers=len(self.live_workers()),
            worker_users={w.id: sum(w.user_classes_count.values()) for w in self.live_workers()},
            stats=self.since_last.requests(self.env.stats, self.open_model),
            errors=self.since_last.errors(self.env.stats),
            exceptions=self.since_last.exceptions(self.runner, self.error_types),
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
            mine = self.stop_users()
            if self.samples:
                self.sample()
                self.emit_users_at_end(mine)
            # A local runner's quit fires test_stop; a master that never started
            # Locust's own test does not: then it is fired here, so once either way.
            self.locust_quit()
            if self.samples and not self.test_stopped:
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
