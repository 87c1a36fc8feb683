"""Trace context on every request, for an observability stack to tell
loadgen's traffic apart (docs/observability.md).

Each request of HttpUser and FastHttpUser gets:

- a W3C `traceparent` (https://www.w3.org/TR/trace-context/): version 00, a
  trace id per task iteration (so a backend groups an iteration's requests),
  a span id per request, and the sampled flag for a share of iterations
  (`sample_ratio`) drawn once per iteration, so a trace is sampled whole;
- a W3C `baggage` (https://www.w3.org/TR/baggage/): the run's id, the phase
  (number and name) and the loop running when it is sent, and the user type.

A header the user's code set (in the request, the session's headers or a
FastHttpUser's `default_headers`) is never overwritten: loadgen's is left out.
The requests of sampled iterations come back to loadgen as span records (the
ids sent, the time, the outcome), at most MAX_SPANS per process and sampling
interval (the rest are counted), for its OTLP span export and the exemplars
of /metrics.

Installed by the harness (`install`) only when a header is on: a run that
sends neither pays nothing. Both clients' `request` methods are wrapped (every
`get`, `post`, `rest` goes through them), and TaskSet.wait, which follows
every task (the open model's replacement included), ends the iteration's
trace. Like loadgen_open.py, it acts on Locust alone and is imported by path.
"""

from random import getrandbits, random
from urllib.parse import quote

from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession
from locust.stats import bucket_response_time
from locust.user.task import TaskSet

# Span records kept per process between two samples (0.5 s): 4,000 per second,
# far beyond what a 1% sample of one process's requests makes.
MAX_SPANS = 2000
# The attribute of a User that holds its iteration's trace: (trace id, sampled).
TRACE = "_loadgen_trace"
# The key of the request's context that carries a sampled request's ids to
# the request event, which fires after the response (later still with
# catch_response).
CONTEXT_KEY = "loadgen_span"


class Tracing:
    def __init__(self, setup):
        self.spans = []
        self.spans_dropped = 0
        self.phase = {"number": 0, "name": "", "loop_number": 0}
        self.configure(setup)

    def configure(self, setup):
        """(Again, on a worker: the master's setup comes with its shares.)"""
        self.setup = setup
        self.traceparent = bool(setup["traceparent"])
        self.baggage = bool(setup["baggage"])
        self.ratio = float(setup["sample_ratio"]) if self.traceparent else 0.0
        self.baggage_by_class = {}

    def on(self):
        return self.traceparent or self.baggage

    def set_phase(self, phase):
        if phase != self.phase:
            self.phase = dict(phase)
            self.baggage_by_class = {}

    def user_type(self, class_name):
        return self.setup["user_types"].get(class_name, class_name)

    def baggage_for(self, class_name):
        """The baggage header of a class's requests in the running phase
        (made once per phase and class: values percent-encoded, as W3C
        baggage requires of anything beyond its safe characters)."""
        value = self.baggage_by_class.get(class_name)
        if value is None:
            p = self.setup["baggage_prefix"]
            members = [
                ("run", self.setup["run_id"]),
                ("phase", str(self.phase["number"])),
                ("phase_name", self.phase["name"]),
                ("loop", str(self.phase["loop_number"])),
                ("user_type", self.user_type(class_name)),
            ]
            value = ",".join(f"{p}{k}={quote(v, safe='')}" for k, v in members if v != "")
            self.baggage_by_class[class_name] = value
        return value

    def headers(self, user, given, defaults):
        """The request's headers with loadgen's added, or None to send them as
        they are: `given` (the request's own) and `defaults` (the session's,
        matched without case) keep any traceparent or baggage they set. With
        the ids to record if the iteration's trace is sampled (else None).
        Once per request: kept to a few dict operations."""
        traceparent, baggage = self.traceparent, self.baggage
        if given:
            for name in given:
                low = name.lower()
                if low == "traceparent":
                    traceparent = False
                elif low == "baggage":
                    baggage = False
        if defaults:
            if traceparent and "traceparent" in defaults:
                traceparent = False
            if baggage and "baggage" in defaults:
                baggage = False
        if not (traceparent or baggage):
            return None, None
        headers = dict(given) if given else {}
        sampled_ids = None
        # A session made without a user (by the locustfile's own code) has no
        # iterations: each of its requests is a trace of its own.
        class_name = type(user).__name__ if user is not None else ""
        if traceparent:
            trace = user.__dict__.get(TRACE) if user is not None else None
            if trace is None:
                trace = ("%032x" % (getrandbits(128) or 1), random() < self.ratio)
                if user is not None:
                    user.__dict__[TRACE] = trace
            trace_id, sampled = trace
            span_id = "%016x" % (getrandbits(64) or 1)
            if sampled:
                headers["traceparent"] = f"00-{trace_id}-{span_id}-01"
                sampled_ids = (trace_id, span_id, dict(self.phase), self.user_type(class_name))
            else:
                headers["traceparent"] = f"00-{trace_id}-{span_id}-00"
        if baggage:
            headers["baggage"] = self.baggage_for(class_name)
        return headers, sampled_ids

    def on_request(self, request_type, name, response_time, context, response=None, exception=None,
                   start_time=None, **kwargs):
        ids = context.get(CONTEXT_KEY) if context else None
        if ids is None:
            return
        if len(self.spans) >= MAX_SPANS:
            self.spans_dropped += 1
            return
        trace_id, span_id, phase, user_type = ids
        status = getattr(response, "status_code", 0) or 0
        duration = float(response_time or 0.0)
        self.spans.append(
            {
                "trace_id": trace_id,
                "span_id": span_id,
                "start": float(start_time or 0.0),
                "duration_ms": round(duration, 3),
                "ms": int(bucket_response_time(duration)),
                "method": str(request_type),
                "name": str(name),
                "status": int(status) if 0 <= int(status) < 65536 else 0,
                "error": None if exception is None else f"{type(exception).__name__}: {exception}"[:300],
                "phase": phase,
                "user_type": user_type,
            }
        )

    def take_spans(self):
        spans, self.spans = self.spans, []
        dropped, self.spans_dropped = self.spans_dropped, 0
        return spans, dropped

    def add_spans(self, spans, dropped):
        """A worker's, on the master (bounded as the master's own)."""
        room = max(0, MAX_SPANS * 4 - len(self.spans))
        self.spans.extend(spans[:room])
        self.spans_dropped += int(dropped) + max(0, len(spans) - room)


def install(tracing):
    """Wraps both clients' `request` and TaskSet.wait (see the module's doc)."""
    http_request = HttpSession.request
    fast_request = FastHttpSession.request

    def traced_http(self, method, url, name=None, catch_response=False, context={}, **kwargs):
        headers, ids = tracing.headers(self.user, kwargs.get("headers"), self.headers)
        if headers is not None:
            kwargs["headers"] = headers
            if ids is not None:
                context = {**context, CONTEXT_KEY: ids}
        return http_request(self, method, url, name, catch_response, context, **kwargs)

    def traced_fast(self, method, url, name=None, data=None, catch_response=False, stream=False,
                    headers=None, auth=None, json=None, allow_redirects=True, context={}, **kwargs):
        added, ids = tracing.headers(self.user, headers, self.client.default_headers)
        if added is not None:
            headers = added
            if ids is not None:
                context = {**context, CONTEXT_KEY: ids}
        return fast_request(self, method, url, name, data, catch_response, stream, headers, auth, json,
                            allow_redirects, context, **kwargs)

    HttpSession.request = traced_http
    FastHttpSession.request = traced_fast

    wait = TaskSet.wait

    def end_of_iteration(taskset):
        taskset.user.__dict__.pop(TRACE, None)
        return wait(taskset)

    TaskSet.wait = end_of_iteration
    events.request.add_listener(tracing.on_request)
