"""Locust 0.x names under Locust 2, so that loads written for the original wrapper run as they are.

The harness installs this before it imports a locustfile. It only adds names and
hooks that Locust 2 does not have (or has only to raise an ImportError), so a
Locust 2 file runs exactly as without it; loadgen's own check names, once per
file, the 0.x names a file uses and what they became.

  0.x                                   under Locust 2
  HttpLocust, Locust, FastHttpLocust    HttpUser, User, FastHttpUser subclasses
  task_set = X                          tasks = [X]
  min_wait / max_wait (ms)              wait_time = between(min / 1000, max / 1000)
  wait_function (ms)                    wait_time (s)
  stop_timeout                          ignored: loadgen's phases say how long users run
  TaskSequence, @seq_task(n)            SequentialTaskSet, tasks in the order of n
  self.locust (in a TaskSet)            self.user
  TaskSet.min_wait / max_wait           the TaskSet's own wait_time, as 0.x let it win
  events.request_success += f           fired from Locust 2's request event, with 0.x's arguments
  events.request_failure += f           (request_type, name, response_time, response_length[, exception])
  events.locust_start_hatching += f     fired at test_start, where users run (not on a master)
  events.hatch_complete += f            fired with spawning_complete (user_count), where it fires:
                                        at the end of each phase's ramp
"""

import locust
import locust.contrib.fasthttp
from locust import FastHttpUser, HttpUser, SequentialTaskSet, TaskSet, User, between, events
from locust.runners import MasterRunner
from locust.user.task import TaskSetMeta
from locust.user.users import UserMeta

# Locust 0.x waited 1 s between tasks unless told otherwise.
DEFAULT_WAIT_MS = 1000


def _wait_time(min_ms, max_ms):
    return between(min_ms / 1000.0, max_ms / 1000.0)


def _from_bases(bases, name, default):
    for base in bases:
        if hasattr(base, name):
            return getattr(base, name)
    return default


def _milliseconds_function(function):
    # 0.x's wait_function returned milliseconds; wait_time returns seconds.
    def wait_time(self):
        return function(self) / 1000.0

    return wait_time


class _LegacyUserMeta(UserMeta):
    """Translates a 0.x Locust class's attributes into Locust 2's as the class is made."""

    def __new__(mcs, classname, bases, class_dict):
        if "task_set" in class_dict:
            task_set = class_dict.pop("task_set")
            class_dict.setdefault("tasks", [task_set])
        class_dict.pop("stop_timeout", None)
        if "wait_time" not in class_dict:
            if "wait_function" in class_dict:
                class_dict["wait_time"] = _milliseconds_function(class_dict["wait_function"])
            elif "min_wait" in class_dict or "max_wait" in class_dict:
                low = class_dict.get("min_wait", _from_bases(bases, "min_wait", DEFAULT_WAIT_MS))
                high = class_dict.get("max_wait", _from_bases(bases, "max_wait", DEFAULT_WAIT_MS))
                class_dict["wait_time"] = _wait_time(low, high)
        return super().__new__(mcs, classname, bases, class_dict)


def _legacy_base(name, base):
    return _LegacyUserMeta(
        name,
        (base,),
        {
            "abstract": True,
            "min_wait": DEFAULT_WAIT_MS,
            "max_wait": DEFAULT_WAIT_MS,
            "wait_time": _wait_time(DEFAULT_WAIT_MS, DEFAULT_WAIT_MS),
            "__module__": "locust",
        },
    )


HttpLocust = _legacy_base("HttpLocust", HttpUser)
Locust = _legacy_base("Locust", User)
FastHttpLocust = _legacy_base("FastHttpLocust", FastHttpUser)


def seq_task(order):
    """0.x: the place of a task in a TaskSequence (a plain task elsewhere)."""

    def decorator(function):
        if not hasattr(function, "locust_task_weight"):
            function.locust_task_weight = 1
        function.locust_task_order = order
        return function

    return decorator


class TaskSequence(SequentialTaskSet):
    """0.x's TaskSequence: a SequentialTaskSet whose tasks run in their @seq_task order."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Stable: tasks without an order keep their place after the ordered ones.
        cls.tasks = sorted(cls.tasks, key=lambda t: getattr(t, "locust_task_order", float("inf")))


_make_task_set = TaskSetMeta.__new__


def _legacy_task_set_new(mcs, classname, bases, class_dict):
    # A 0.x TaskSet's own waits won over its Locust's: its wait_time does the same.
    if "wait_time" not in class_dict:
        if "wait_function" in class_dict:
            class_dict["wait_time"] = _milliseconds_function(class_dict["wait_function"])
        elif "min_wait" in class_dict or "max_wait" in class_dict:
            low = class_dict.get("min_wait", class_dict.get("max_wait", DEFAULT_WAIT_MS))
            high = class_dict.get("max_wait", low)
            class_dict["wait_time"] = _wait_time(low, high)
    return _make_task_set(mcs, classname, bases, class_dict)


class _LegacyHook:
    """A 0.x event: listeners added with `+=` (or add_listener), removed with `-=`."""

    def __init__(self):
        self.handlers = []

    def __iadd__(self, handler):
        self.handlers.append(handler)
        return self

    def __isub__(self, handler):
        self.handlers.remove(handler)
        return self

    def add_listener(self, handler):
        self.handlers.append(handler)
        return handler

    def remove_listener(self, handler):
        self.handlers.remove(handler)

    def fire(self, **kwargs):
        for handler in list(self.handlers):
            handler(**kwargs)


def _on_request(request_type, name, response_time, response_length, exception=None, **kwargs):
    if exception is None:
        if events.request_success.handlers:
            events.request_success.fire(
                request_type=request_type, name=name, response_time=response_time, response_length=response_length
            )
    elif events.request_failure.handlers:
        events.request_failure.fire(
            request_type=request_type,
            name=name,
            response_time=response_time,
            response_length=response_length,
            exception=exception,
        )


def _on_test_start(environment, **kwargs):
    # 0.x fired it where users hatch: a local runner or each slave, not the master.
    if not isinstance(environment.runner, MasterRunner):
        events.locust_start_hatching.fire()


def _on_spawning_complete(user_count, **kwargs):
    events.hatch_complete.fire(user_count=user_count)


def install():
    """Adds the 0.x names to Locust 2 (once)."""
    if getattr(locust, "_loadgen_legacy", False):
        return
    locust._loadgen_legacy = True
    locust.HttpLocust = HttpLocust
    locust.Locust = Locust
    locust.TaskSequence = TaskSequence
    locust.seq_task = seq_task
    locust.contrib.fasthttp.FastHttpLocust = FastHttpLocust
    TaskSet.locust = property(lambda self: self.user, doc="0.x: the user running this TaskSet (self.user)")
    TaskSetMeta.__new__ = staticmethod(_legacy_task_set_new)
    events.request_success = _LegacyHook()
    events.request_failure = _LegacyHook()
    events.locust_start_hatching = _LegacyHook()
    events.hatch_complete = _LegacyHook()
    events.request.add_listener(_on_request)
    events.test_start.add_listener(_on_test_start)
    events.spawning_complete.add_listener(_on_spawning_complete)
