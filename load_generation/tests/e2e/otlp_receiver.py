"""An OTLP/HTTP receiver for the end-to-end tests, independent of loadgen.

It decodes what it is sent with the OpenTelemetry project's own protobuf
definitions (the PyPI package opentelemetry-proto), not with loadgen's code, and
writes what it decoded as JSON lines, so a test judges loadgen's exports the way
a collector would read them.

Usage: python otlp_receiver.py DIR

Listens on 127.0.0.1 on a free port and prints that port alone on its first line
of standard output. Accepts POST /v1/metrics and POST /v1/traces with
Content-Type application/x-protobuf (Content-Encoding gzip or none) and answers
200 with an empty Export*ServiceResponse. Appends to files in DIR, one JSON
object a line, each line flushed:

  metrics.jsonl   one line per data point, flattened (see metric_points)
  spans.jsonl     one line per span (see span_line)
  requests.jsonl  one line per request, written after its points or spans:
                  method, path, content type and encoding, headers, byte
                  lengths, the status answered, the error if any.

A body that does not decode is answered 400 and its error recorded in
requests.jsonl; another content type 415, another path 404. Exits when its
parent process goes away.
"""

import gzip
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

PROTOBUF = "application/x-protobuf"

TEMPORALITY = {
    metrics_pb2.AGGREGATION_TEMPORALITY_UNSPECIFIED: "unspecified",
    metrics_pb2.AGGREGATION_TEMPORALITY_DELTA: "delta",
    metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}

SPAN_KIND = {
    trace_pb2.Span.SPAN_KIND_UNSPECIFIED: "unspecified",
    trace_pb2.Span.SPAN_KIND_INTERNAL: "internal",
    trace_pb2.Span.SPAN_KIND_SERVER: "server",
    trace_pb2.Span.SPAN_KIND_CLIENT: "client",
    trace_pb2.Span.SPAN_KIND_PRODUCER: "producer",
    trace_pb2.Span.SPAN_KIND_CONSUMER: "consumer",
}

STATUS_CODE = {
    trace_pb2.Status.STATUS_CODE_UNSET: "unset",
    trace_pb2.Status.STATUS_CODE_OK: "ok",
    trace_pb2.Status.STATUS_CODE_ERROR: "error",
}


def any_value(v):
    """An AnyValue as plain JSON: bytes as lowercase hex, arrays as lists,
    key-value lists as objects, an empty AnyValue as null."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


def optional(message, field):
    return getattr(message, field) if message.HasField(field) else None


def number(point):
    """A NumberDataPoint's or an Exemplar's value: an int or a float."""
    which = point.WhichOneof("value")
    return None if which is None else getattr(point, which)


def exemplars(point):
    return [
        {
            "trace_id": e.trace_id.hex(),
            "span_id": e.span_id.hex(),
            "value": number(e),
            "time_unix_nano": e.time_unix_nano,
            "attributes": attributes(e.filtered_attributes),
        }
        for e in point.exemplars
    ]


def metric_points(request):
    """One flat object per data point of an ExportMetricsServiceRequest.

    Every line has the keys resource, resource_schema_url, scope,
    scope_version, scope_attributes, metric, description, unit, kind
    ("sum", "gauge", "histogram", "exponential_histogram", "summary", or
    null for a metric without data), monotonic (sums; else null), temporality
    ("cumulative", "delta", "unspecified"; null for gauges and summaries),
    attributes, start_time_unix_nano, time_unix_nano, flags, exemplars, and
    by kind: value (sum, gauge); count, sum, min, max (histograms; sum, min
    and max null when absent), bucket_counts and explicit_bounds (histogram);
    scale, zero_count, zero_threshold, positive and negative ({offset,
    bucket_counts}) for exponential histograms; quantiles ([{quantile,
    value}]) for summaries.
    """
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                base = {
                    "resource": resource,
                    "resource_schema_url": rm.schema_url,
                    "scope": sm.scope.name,
                    "scope_version": sm.scope.version,
                    "scope_attributes": attributes(sm.scope.attributes),
                    "metric": m.name,
                    "description": m.description,
                    "unit": m.unit,
                    "kind": kind,
                    "monotonic": None,
                    "temporality": None,
                }
                if kind is None:
                    continue
                data = getattr(m, kind)
                if kind == "sum":
                    base["monotonic"] = data.is_monotonic
                if kind in ("sum", "histogram", "exponential_histogram"):
                    base["temporality"] = TEMPORALITY.get(
                        data.aggregation_temporality, str(data.aggregation_temporality)
                    )
                for p in data.data_points:
                    line = dict(base)
                    line.update(
                        {
                            "attributes": attributes(p.attributes),
                            "start_time_unix_nano": p.start_time_unix_nano,
                            "time_unix_nano": p.time_unix_nano,
                            "flags": p.flags,
                        }
                    )
                    if kind in ("sum", "gauge"):
                        line["value"] = number(p)
                        line["exemplars"] = exemplars(p)
                    elif kind == "histogram":
                        line.update(
                            {
                                "count": p.count,
                                "sum": optional(p, "sum"),
                                "min": optional(p, "min"),
                                "max": optional(p, "max"),
                                "bucket_counts": list(p.bucket_counts),
                                "explicit_bounds": list(p.explicit_bounds),
                                "exemplars": exemplars(p),
                            }
                        )
                    elif kind == "exponential_histogram":
                        line.update(
                            {
                                "count": p.count,
                                "sum": optional(p, "sum"),
                                "min": optional(p, "min"),
                                "max": optional(p, "max"),
                                "scale": p.scale,
                                "zero_count": p.zero_count,
                                "zero_threshold": p.zero_threshold,
                                "positive": {
                                    "offset": p.positive.offset,
                                    "bucket_counts": list(p.positive.bucket_counts),
                                },
                                "negative": {
                                    "offset": p.negative.offset,
                                    "bucket_counts": list(p.negative.bucket_counts),
                                },
                                "exemplars": exemplars(p),
                            }
                        )
                    elif kind == "summary":
                        line.update(
                            {
                                "count": p.count,
                                "sum": p.sum,
                                "quantiles": [
                                    {"quantile": q.quantile, "value": q.value}
                                    for q in p.quantile_values
                                ],
                            }
                        )
                    yield line


def span_lines(request):
    """One object per span of an ExportTraceServiceRequest: resource,
    resource_schema_url, scope, scope_version, trace_id (32 hex),
    span_id (16 hex), parent_span_id (16 hex, or "" for a root), trace_state,
    flags, name, kind ("client", "server", "internal", "producer",
    "consumer", "unspecified"), start_time_unix_nano, end_time_unix_nano,
    attributes, events ([{name, time_unix_nano, attributes}]), links
    ([{trace_id, span_id, trace_state, attributes}]), status_code ("unset",
    "ok", "error"), status_message, and the dropped_*_count fields."""
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                yield {
                    "resource": resource,
                    "resource_schema_url": rs.schema_url,
                    "scope": ss.scope.name,
                    "scope_version": ss.scope.version,
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "trace_state": s.trace_state,
                    "flags": s.flags,
                    "name": s.name,
                    "kind": SPAN_KIND.get(s.kind, str(s.kind)),
                    "start_time_unix_nano": s.start_time_unix_nano,
                    "end_time_unix_nano": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes),
                    "events": [
                        {
                            "name": e.name,
                            "time_unix_nano": e.time_unix_nano,
                            "attributes": attributes(e.attributes),
                        }
                        for e in s.events
                    ],
                    "links": [
                        {
                            "trace_id": link.trace_id.hex(),
                            "span_id": link.span_id.hex(),
                            "trace_state": link.trace_state,
                            "attributes": attributes(link.attributes),
                        }
                        for link in s.links
                    ],
                    "status_code": STATUS_CODE.get(s.status.code, str(s.status.code)),
                    "status_message": s.status.message,
                    "dropped_attributes_count": s.dropped_attributes_count,
                    "dropped_events_count": s.dropped_events_count,
                    "dropped_links_count": s.dropped_links_count,
                }


# path -> (request type, response type, flattener, output file)
SIGNALS = {
    "/v1/metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        metric_points,
        "metrics.jsonl",
    ),
    "/v1/traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        span_lines,
        "spans.jsonl",
    ),
}


class Output:
    """The JSON-lines files, written by one request at a time."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.lock = threading.Lock()
        self.files = {
            name: open(os.path.join(directory, name), "a", encoding="utf-8")
            for name in ("requests.jsonl", "metrics.jsonl", "spans.jsonl")
        }

    def write(self, name, objects):
        with self.lock:
            f = self.files[name]
            for o in objects:
                f.write(json.dumps(o, separators=(",", ":")) + "\n")
                f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otlp-test-receiver"
    output = None  # set in main

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status, body=b"", content_type="text/plain; charset=utf-8"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_request(self):
        received = time.time()
        path = self.path.split("?", 1)[0]
        content_type = self.headers.get("Content-Type", "")
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = headers[name] + ", " + value if name in headers else value
        record = {
            "time": received,
            "method": self.command,
            "path": self.path,
            "content_type": content_type,
            "content_encoding": encoding,
            "headers": headers,
            "bytes": 0,
            "decoded_bytes": None,
            "status": None,
            "items": 0,
            "error": None,
        }
        try:
            body = self.read_body()
        except Exception as e:  # noqa: BLE001 (anything: recorded, answered)
            record.update(status=400, error="cannot read the body: %r" % (e,))
            self.close_connection = True
        else:
            record["bytes"] = len(body)
            record["status"], lines = self.decode(path, content_type, encoding, body, record)
        status = record["status"]
        if status == 200:
            _, response, _, out = SIGNALS[path]
            self.output.write(out, lines)
            record["items"] = len(lines)
            self.output.write("requests.jsonl", [record])
            self.answer(200, response().SerializeToString(), PROTOBUF)
        else:
            self.output.write("requests.jsonl", [record])
            self.answer(status, (record["error"] + "\n").encode())

    def decode(self, path, content_type, encoding, body, record):
        """(status, lines), the error put in record when not 200."""
        if self.command != "POST":
            record["error"] = "method %s not allowed: only POST" % self.command
            return 405, []
        if path not in SIGNALS:
            record["error"] = "no such path %s: only %s" % (path, ", ".join(sorted(SIGNALS)))
            return 404, []
        if content_type.split(";")[0].strip().lower() != PROTOBUF:
            record["error"] = "content type %r: only %s" % (content_type, PROTOBUF)
            return 415, []
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except Exception as e:  # noqa: BLE001
                record["error"] = "not gzip: %r" % (e,)
                return 400, []
        elif encoding not in ("", "identity"):
            record["error"] = "content encoding %r: only gzip or none" % (encoding,)
            return 415, []
        record["decoded_bytes"] = len(body)
        request_type, _, flatten, _ = SIGNALS[path]
        message = request_type()
        try:
            message.ParseFromString(body)
            lines = list(flatten(message))
        except Exception as e:  # noqa: BLE001 (DecodeError, or a bug here: recorded)
            record["error"] = "cannot decode a %s: %r" % (request_type.DESCRIPTOR.full_name, e)
            return 400, []
        return 200, lines

    do_POST = handle_request
    do_GET = handle_request
    do_PUT = handle_request
    do_DELETE = handle_request
    do_PATCH = handle_request


def exit_with_parent():
    """The tests' process may die without killing this one: follow it."""
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: otlp_receiver.py DIR")
    Handler.output = Output(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=exit_with_parent, daemon=True).start()
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
