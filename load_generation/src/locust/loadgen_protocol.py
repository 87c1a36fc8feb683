"""The harness's side of the protocol between loadgen and its harness.

The messages are defined once, in `src/locust/protocol.rs`, with an example of
each in `tests/protocol.jsonl`; the tables below are this side's reading of
them, checked against that file by `python harness.py --check-protocol
tests/protocol.jsonl`. Both directions are checked: a command with a missing
or unknown field is refused, and an event is only sent complete. The custom
messages between a master and its workers (master and workers both run the
harness) are named here too, once.

Imported by path, like every sibling of the harness (see `harness.sibling`).
"""

import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def sibling(name):
    """A module beside this file, imported by its path, once per process (no
    module of the user's can shadow it: it is kept under a name no import
    statement can reach). The harness loads this module the same way first."""
    key = f"loadgen sibling {name}"
    module = sys.modules.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return module


SETUP_FIELDS = {
    "role", "locustfile", "host", "user_classes", "class_names", "base_dir", "locust_args",
    "sample_interval", "stop_drain", "trace", "verbose",
}
ROLE_FIELDS = {
    "local": {"mode"},
    "master": {"mode", "bind_host", "bind_port", "expect_workers", "workers_timeout", "heartbeat_timeout",
               "cluster_key"},
    "worker": {"mode", "master_host", "master_port", "cluster_key"},
    "check": {"mode"},
}
MESSAGES = {
    "command": {
        "targets": {"op", "occurrence", "phase", "users", "waits", "ramp_to", "rates"},
        "flush": {"op"},
        "stop": {"op"},
    },
    "event": {
        "ready": {"ev", "locust_version", "python", "pid", "workers"},
        "sample": {"ev", "t", "occurrence", "users", "workers", "worker_users", "stats", "errors", "exceptions", "cpu",
                   "loop_lag_ms", "loop_late_max_ms", "iterations", "dropped", "spans", "spans_dropped"},
        "warning": {"ev", "message", "traceback"},
        "fatal": {"ev", "message", "kind", "traceback"},
        "imported": {"ev", "user_classes", "error"},
        "quit": {"ev", "reason"},
        "stopped": {"ev", "reason", "process_exit_code"},
        "users_at_end": {"ev", "in_on_start", "crashed", "without_client", "tasks_run"},
    },
}
# The master's message to each worker with its share of the users (master and
# workers both run this file, so this is its one definition).
WORKER_TARGETS = "loadgen_targets"
# A worker's answer to a share it cannot run (its locustfile is not the master's).
WORKER_REFUSED = "loadgen_refused"
# The master's request, at a phase boundary, that each worker report its
# statistics at once; the report answering it carries the request's token under
# REPORTED_FLUSH (see Harness.flush).
WORKER_FLUSH = "loadgen_flush"
REPORTED_FLUSH = "loadgen_flush_token"
# A worker's word that its locustfile called `environment.runner.quit()`: the
# master ends the run (see Harness.on_worker_quit).
WORKER_QUIT = "loadgen_quit"
# A worker's users at the end of the run, for the master's `users_at_end`.
WORKER_USERS = "loadgen_users"
# A worker's generation, reported with its statistics (see on_worker_targets).
REPORTED_GENERATION = "loadgen_generation"


class ProtocolError(ValueError):
    pass


def check_fields(what, message, expected):
    got = set(message)
    if got != expected:
        missing, unknown = sorted(expected - got), sorted(got - expected)
        raise ProtocolError(f"{what}: missing {missing}, unknown {unknown}")


def read_setup(setup):
    check_fields("setup", setup, SETUP_FIELDS)
    role = setup["role"]
    if role.get("mode") not in ROLE_FIELDS:
        raise ProtocolError(f"setup: unknown mode {role.get('mode')!r}")
    check_fields(f"setup role {role['mode']}", role, ROLE_FIELDS[role["mode"]])
    return setup


def read_message(kind, message):
    tag = "op" if kind == "command" else "ev"
    shapes = MESSAGES[kind]
    if message.get(tag) not in shapes:
        raise ProtocolError(f"unknown {kind} {message.get(tag)!r}")
    check_fields(f"{kind} {message[tag]}", message, shapes[message[tag]])
    return message


# Where events go, once the harness has opened it (`open_channel`).
CHANNEL = None


def open_channel(file):
    global CHANNEL
    CHANNEL = Channel(file)


def emit(event, **fields):
    CHANNEL.emit(event, **fields)


def fatal(message, kind="internal", traceback=None):
    emit("fatal", message=message, kind=kind, traceback=traceback)
    exit_process(3)


def exit_process(code):
    """Exits at once (Locust's greenlets are not waited for), after what the
    users printed has reached loadgen (the output pump's `finish`)."""
    finish = getattr(sys.stderr, "finish", None)
    if finish is not None:
        finish(deadline_s=1.0)
    os._exit(code)


class Channel:
    """Where events go: the harness's real stdout, one JSON object per line."""

    def __init__(self, file):
        self.file = file

    def emit(self, event, **fields):
        fields["ev"] = event
        read_message("event", fields)
        self.file.write(json.dumps(fields, separators=(",", ":")) + "\n")
        self.file.flush()


def check_protocol(path):
    """Checks every message of the golden file against this side's tables."""
    problems = 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            entry = json.loads(line)
            try:
                if entry["kind"] == "setup":
                    read_setup(entry["message"])
                else:
                    read_message(entry["kind"], entry["message"])
            except (ProtocolError, KeyError) as e:
                print(f"{path}:{number}: {e}", file=sys.stderr)
                problems += 1
    kinds = {k: set(v) for k, v in MESSAGES.items()}
    with open(path) as f:
        seen = [json.loads(l) for l in f if l.strip() and not l.startswith("#")]
    for kind, tags in kinds.items():
        tag = "op" if kind == "command" else "ev"
        covered = {e["message"].get(tag) for e in seen if e["kind"] == kind}
        for missing in sorted(tags - covered):
            print(f"{path}: no example of the {kind} {missing!r}", file=sys.stderr)
            problems += 1
    modes = {e["message"]["role"]["mode"] for e in seen if e["kind"] == "setup"}
    for missing in sorted(set(ROLE_FIELDS) - modes):
        print(f"{path}: no example of the setup role {missing!r}", file=sys.stderr)
        problems += 1
    print(f"{problems} problems", file=sys.stderr)
    os._exit(1 if problems else 0)
