//! What an export says, as the OpenTelemetry protocol's own messages
//! (`opentelemetry-proto`): the figures as cumulative sums, histograms and
//! gauges, and each sampled request as a client span whose ids are those its
//! `traceparent` carried, so a trace backend shows it as the parent of the
//! target's own span.
//!
//! Names follow the specification's conventions (dotted, units apart:
//! `loadgen.request.duration` in `s`); the HTTP attributes are the semantic
//! conventions' (`http.request.method`, `http.response.status_code`).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

use super::OtlpConfig;
use crate::locust::protocol::{RequestDelta, SpanRecord};
use crate::metrics::DURATION_BUCKETS;
use crate::runner::Status as RunStatus;
use crate::stats::{RequestKey, RequestStats};

/// The resource every export describes: this run of loadgen.
pub struct Resource(ProtoResource);

impl Resource {
    pub fn new(config: &OtlpConfig, run_id: &str, target: Option<&str>) -> Resource {
        let mut attributes = vec![
            text("service.name", &config.service_name),
            text("service.version", env!("CARGO_PKG_VERSION")),
            text("service.instance.id", run_id),
            text("loadgen.run.id", run_id),
        ];
        if let Some(target) = target {
            attributes.push(text("loadgen.target", target));
        }
        for (k, v) in &config.resource_attributes {
            if !attributes.iter().any(|a| &a.key == k) {
                attributes.push(text(k, v));
            }
        }
        Resource(ProtoResource {
            attributes,
            ..Default::default()
        })
    }
}

/// One phase occurrence's figures, counted as the recorder counts them.
pub struct Occurrence {
    /// 1-based.
    pub phase: usize,
    pub name: String,
    /// 1-based.
    pub loop_number: u64,
    /// Seconds since the Unix epoch: the start of its cumulative series.
    pub started_at: f64,
    pub routes: BTreeMap<RequestKey, RouteFigures>,
    /// Rate phases' iterations no user could start, by user type.
    pub dropped: BTreeMap<String, u64>,
}

/// One request name's figures in one occurrence.
#[derive(Default)]
pub struct RouteFigures {
    requests: u64,
    failures: u64,
    total_ms: f64,
    /// Counts per bucket of [`DURATION_BUCKETS`], and the one past the last.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    /// The latest sampled request of each bucket.
    exemplars: [Option<Exemplar>; DURATION_BUCKETS.len() + 1],
}

impl RouteFigures {
    pub fn add(&mut self, delta: &RequestDelta) {
        self.requests += delta.requests;
        self.failures += delta.failures;
        self.total_ms += delta.total_ms;
        for &(ms, count) in &delta.histogram {
            self.buckets[bucket_of(ms)] += count.max(0) as u64;
        }
    }

    /// The figures as the stats record has them at the occurrence's close
    /// (the requests of the samples collected while the run stops included),
    /// keeping the exemplars seen.
    pub fn settle(&mut self, stats: &RequestStats) {
        self.requests = stats.requests;
        self.failures = stats.failures;
        self.total_ms = stats.total_ms;
        self.buckets = Default::default();
        for (ms, count) in stats.histogram.iter() {
            self.buckets[bucket_of(ms)] += count;
        }
    }

    pub fn exemplar(&mut self, span: &SpanRecord) {
        let (Some(trace_id), Some(span_id)) = (hex(&span.trace_id), hex(&span.span_id)) else {
            return;
        };
        self.exemplars[bucket_of(span.ms)] = Some(Exemplar {
            time_unix_nano: nanos(span.start + span.duration_ms / 1000.0),
            trace_id,
            span_id,
            value: Some(exemplar::Value::AsDouble(span.ms as f64 / 1000.0)),
            ..Default::default()
        });
    }
}

/// The bucket of a response time in ms, as Prometheus' `le` buckets count it.
fn bucket_of(ms: u64) -> usize {
    let seconds = ms as f64 / 1000.0;
    DURATION_BUCKETS
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(DURATION_BUCKETS.len())
}

/// The run's state at its last sample.
#[derive(Default, Clone)]
pub struct Gauges {
    phase: usize,
    phase_name: String,
    loop_number: u64,
    /// (user type, target, actual).
    users: Vec<(String, u32, u32)>,
    planned_rps: f64,
    saturated: bool,
    short: bool,
    paused: bool,
    workers: u32,
}

impl Gauges {
    pub fn of(status: &RunStatus) -> Gauges {
        let phase = status.plan.phases.get(status.slot.phase_index);
        Gauges {
            phase: status.slot.phase_index + 1,
            phase_name: phase.and_then(|p| p.name.clone()).unwrap_or_default(),
            loop_number: status.slot.loop_index + 1,
            users: status
                .plan
                .user_types
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    (
                        name.as_str().to_string(),
                        status.targets.get(i).copied().unwrap_or(0),
                        status.actual.get(i).copied().unwrap_or(0),
                    )
                })
                .collect(),
            planned_rps: status.delivery.map_or(0.0, |d| d.planned_requests_per_s),
            saturated: status.saturated,
            short: status.short,
            paused: status.paused,
            workers: status.workers,
        }
    }
}

/// Everything one metrics export says.
pub struct Snapshot<'a> {
    pub started_at: f64,
    pub now: f64,
    pub occurrences: &'a BTreeMap<usize, Occurrence>,
    pub gauges: &'a Gauges,
    /// (threshold, scope) -> every judgment so far passed.
    pub verdict: BTreeMap<(String, String), bool>,
    pub spans_dropped: u64,
}

pub fn metrics_request(resource: &Resource, s: &Snapshot) -> ExportMetricsServiceRequest {
    let now = nanos(s.now);
    let mut metrics = counted(s, now);
    metrics.extend(run_state(s.gauges, now));
    metrics.extend(verdict(&s.verdict, now));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.0.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// The figures counted per phase occurrence (and the spans left out), as
/// cumulative sums and histograms.
fn counted(s: &Snapshot, now: u64) -> Vec<Metric> {
    let mut requests = Vec::new();
    let mut failures = Vec::new();
    let mut durations = Vec::new();
    let mut dropped = Vec::new();
    for o in s.occurrences.values() {
        let phase_attributes = [
            int("loadgen.phase", o.phase as i64),
            text("loadgen.phase.name", &o.name),
            int("loadgen.loop", o.loop_number as i64),
        ];
        let start = nanos(o.started_at);
        for (key, route) in &o.routes {
            let mut attributes = vec![
                text("http.request.method", &key.method),
                text("loadgen.request.name", &key.name),
            ];
            attributes.extend(phase_attributes.iter().cloned());
            requests.push(count_point(&attributes, start, now, route.requests));
            failures.push(count_point(&attributes, start, now, route.failures));
            durations.push(HistogramDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: now,
                count: route.buckets.iter().sum(),
                sum: Some(route.total_ms / 1000.0),
                bucket_counts: route.buckets.to_vec(),
                explicit_bounds: DURATION_BUCKETS.to_vec(),
                exemplars: route.exemplars.iter().flatten().cloned().collect(),
                ..Default::default()
            });
        }
        for (user_type, &n) in &o.dropped {
            let mut attributes = vec![text("loadgen.user_type", user_type)];
            attributes.extend(phase_attributes.iter().cloned());
            dropped.push(count_point(&attributes, start, now, n));
        }
    }
    let run_start = nanos(s.started_at);
    vec![
        sum(
            "loadgen.requests",
            "Requests sent, failed ones included, per phase occurrence",
            "{request}",
            requests,
        ),
        sum(
            "loadgen.failures",
            "Requests that failed, per phase occurrence",
            "{request}",
            failures,
        ),
        Metric {
            name: "loadgen.request.duration".into(),
            description:
                "Response times, as Locust measures them (exemplars: sampled requests' traces)"
                    .into(),
            unit: "s".into(),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: durations,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        },
        sum(
            "loadgen.dropped_iterations",
            "Rate phases' iterations that no user could start in time",
            "{iteration}",
            dropped,
        ),
        sum(
            "loadgen.spans.dropped",
            "Sampled requests whose spans were left out by the export's bounds",
            "{span}",
            vec![count_point(&[], run_start, now, s.spans_dropped)],
        ),
    ]
}

/// The run's state at its last sample, as gauges.
fn run_state(g: &Gauges, now: u64) -> Vec<Metric> {
    vec![
        gauge(
            "loadgen.phase",
            "The running phase (1-based)",
            "1",
            vec![int_point(
                &[
                    text("loadgen.phase.name", &g.phase_name),
                    int("loadgen.loop", g.loop_number as i64),
                ],
                now,
                g.phase as i64,
            )],
        ),
        gauge(
            "loadgen.users",
            "Users per type that Locust reported running",
            "{user}",
            g.users
                .iter()
                .map(|(t, _, actual)| {
                    int_point(&[text("loadgen.user_type", t)], now, i64::from(*actual))
                })
                .collect(),
        ),
        gauge(
            "loadgen.users.target",
            "Users per type that the running phase plans",
            "{user}",
            g.users
                .iter()
                .map(|(t, target, _)| {
                    int_point(&[text("loadgen.user_type", t)], now, i64::from(*target))
                })
                .collect(),
        ),
        gauge(
            "loadgen.planned_requests_per_second",
            "The request rate the running phase's users and waits imply",
            "{request}/s",
            vec![NumberDataPoint {
                time_unix_nano: now,
                value: Some(number_data_point::Value::AsDouble(g.planned_rps)),
                ..Default::default()
            }],
        ),
        flag(
            "loadgen.saturated",
            "1 while a Locust process is CPU-bound",
            g.saturated,
            now,
        ),
        flag(
            "loadgen.short",
            "1 while the load delivers less than 90% of the planned rate",
            g.short,
            now,
        ),
        flag("loadgen.paused", "1 while the run is paused", g.paused, now),
        gauge(
            "loadgen.workers",
            "Locust workers connected",
            "{worker}",
            vec![int_point(&[], now, i64::from(g.workers))],
        ),
    ]
}

/// The thresholds as judged so far, if the run has any.
fn verdict(verdict: &BTreeMap<(String, String), bool>, now: u64) -> Option<Metric> {
    (!verdict.is_empty()).then(|| {
        gauge(
            "loadgen.threshold.passed",
            "1 while a threshold has held at every judgment so far, 0 once it failed",
            "1",
            verdict
                .iter()
                .map(|((expr, scope), &passed)| {
                    int_point(
                        &[
                            text("loadgen.threshold", expr),
                            text("loadgen.threshold.scope", scope),
                        ],
                        now,
                        i64::from(passed),
                    )
                })
                .collect(),
        )
    })
}

/// Each sampled request as a client span: the ids it was sent with, its
/// method and route, its status, the phase and the user type.
pub fn traces_request(resource: &Resource, spans: &[SpanRecord]) -> ExportTraceServiceRequest {
    let spans = spans
        .iter()
        .filter_map(|r| {
            let trace_id = hex(&r.trace_id)?;
            let span_id = hex(&r.span_id)?;
            let mut attributes = vec![
                text("http.request.method", &r.method),
                text("loadgen.request.name", &r.name),
                int("loadgen.phase", r.phase.number as i64),
                text("loadgen.phase.name", &r.phase.name),
                int("loadgen.loop", r.phase.loop_number as i64),
                text("loadgen.user_type", &r.user_type),
            ];
            if r.status > 0 {
                attributes.push(int("http.response.status_code", i64::from(r.status)));
            }
            if let Some(error) = &r.error {
                attributes.push(text("error.type", error.split(':').next().unwrap_or(error)));
            }
            let status = match &r.error {
                Some(error) => Status {
                    message: error.clone(),
                    code: status::StatusCode::Error as i32,
                },
                None => Status::default(),
            };
            Some(Span {
                trace_id,
                span_id,
                // The sampled flag, as sent.
                flags: 0x1,
                name: format!("{} {}", r.method, r.name),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: nanos(r.start),
                end_time_unix_nano: nanos(r.start + r.duration_ms / 1000.0),
                attributes,
                status: Some(status),
                ..Default::default()
            })
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.0.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "loadgen".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

fn sum(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn gauge(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points })),
        ..Default::default()
    }
}

fn flag(name: &str, description: &str, on: bool, now: u64) -> Metric {
    gauge(
        name,
        description,
        "1",
        vec![int_point(&[], now, i64::from(on))],
    )
}

fn count_point(attributes: &[KeyValue], start: u64, now: u64, n: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes.to_vec(),
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(n as i64)),
        ..Default::default()
    }
}

fn int_point(attributes: &[KeyValue], now: u64, n: i64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes.to_vec(),
        time_unix_nano: now,
        value: Some(number_data_point::Value::AsInt(n)),
        ..Default::default()
    }
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// Seconds since the Unix epoch as nanoseconds.
fn nanos(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1e9) as u64
}

/// Lowercase hex (as the harness writes ids) to bytes; `None` if it is not.
fn hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
