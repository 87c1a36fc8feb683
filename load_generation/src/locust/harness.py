"""loadgen's harness: runs Locust as a library and does what loadgen tells it.

loadgen (the Rust program) owns the schedule: which phase runs, how many users of
each type, their waits. The harness owns the users. loadgen writes it into a
run's private directory as `loadgen_harness.py`, with its siblings beside it,
and runs it as a local runner, a master, a worker, or (for `loadgen check`) an
import check: `python loadgen_harness.py setup-ROLE.json`. It reads commands from
stdin and writes events to stdout, one JSON object per line; anything else the
process prints (the user's own prints, Locust's warnings, tracebacks) goes to
stderr. The end of stdin means loadgen is gone: the harness then stops.

This file only starts it. Its parts are siblings, imported by their paths
(`loadgen_protocol.sibling`: once each, so that no module of the user's can
shadow them), split the way Locust splits its runners:

- `loadgen_protocol.py`: the messages (checked against `tests/protocol.jsonl`
  by `python harness.py --check-protocol tests/protocol.jsonl`), the channel
  to loadgen, and the loader of the siblings;
- `loadgen_base.py`: the Harness, a local runner; `loadgen_master.py` and
  `loadgen_worker.py`: the roles of a distributed run, its subclasses;
- `loadgen_dispatch.py`: how a master shares users and rates between workers;
- `loadgen_sample.py`: what a sample says; `loadgen_output.py`: the output
  pump; `loadgen_userfiles.py`: the user's files as tracebacks name them;
- `loadgen_patches.py`: every change made to Locust, and why; and the parts
  that act on Locust alone: `loadgen_legacy.py` (Locust 0.x's names),
  `loadgen_open.py` (rate phases), `loadgen_trace.py` (the trace context),
  `loadgen_cluster.py` (the keyed master-worker link).
"""

import atexit
import importlib.util
import json
import logging
import os
import sys

# Keep a private handle on the real stdout for the protocol, and send everything
# else that would go to stdout (a template's print) to stderr.
_protocol = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def _load_protocol():
    """`loadgen_protocol.py`, loaded as its own `sibling` loads every other part."""
    key = "loadgen sibling loadgen_protocol"
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("loadgen_protocol", os.path.join(here, "loadgen_protocol.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


protocol = _load_protocol()
protocol.open_channel(_protocol)
sibling, emit, fatal = protocol.sibling, protocol.emit, protocol.fatal

try:
    import gevent
    from locust.user.users import User
except ImportError as e:  # pragma: no cover - reported to the user by loadgen
    fatal(f"cannot import Locust: {e}", kind="no_locust")


def check_import(harness):
    """The role `check`: imports the locustfile without load and says which
    User classes it has, or where importing it failed; then exits."""
    try:
        module = harness.import_locustfile()
    except BaseException as e:  # the user's mistake, located for `loadgen check`
        failure = sibling("loadgen_userfiles").import_failure(e, harness.setup["locustfile"], harness.setup["base_dir"])
        emit("imported", user_classes=[], error=failure)
        os._exit(0)
    classes = sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, User) and not value.abstract
    )
    emit("imported", user_classes=classes, error=None)
    os._exit(0)


def harness_for(setup):
    """The Harness of the setup's role."""
    mode = setup["role"].get("mode")
    if mode == "master":
        return sibling("loadgen_master").MasterHarness(setup)
    if mode == "worker":
        return sibling("loadgen_worker").WorkerHarness(setup)
    return sibling("loadgen_base").Harness(setup)  # local, and check


def main():
    if sys.argv[1] == "--check-protocol":
        protocol.check_protocol(sys.argv[2])
    with open(sys.argv[1]) as f:
        setup = json.load(f)
    if setup["role"].get("mode") != "check":
        # From here on, what the users print never blocks them (and what is
        # buffered at an ordinary exit, a traceback's last lines, still goes out).
        pump = sibling("loadgen_output").OutputPump(2, say=lambda text: emit("warning", message=text, traceback=None))
        sys.stdout = sys.stderr = pump
        atexit.register(pump.finish, deadline_s=1.0)
    # The users' logging: WARNING and above, INFO too when loadgen runs with -v
    # (it shows their prints then as well). Locust's own INFO chatter stays out.
    level = logging.INFO if setup.get("verbose") else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("locust").setLevel(logging.WARNING)
    # Task exceptions are counted and reported once each through runner.exceptions;
    # Locust would otherwise log a traceback per occurrence.
    logging.getLogger("locust.user").setLevel(logging.CRITICAL)
    harness = harness_for(setup)
    if setup["role"].get("mode") == "check":
        check_import(harness)
    harness.start()
    gevent.wait()


if __name__ == "__main__":
    main()
