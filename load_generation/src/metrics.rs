//! Prometheus metrics of a running load, served at `/metrics` (with `/healthz`
//! for Kubernetes probes) when `--metrics-addr` is given.
//!
//! [`Metrics`] is an [`Observer`]: the runner hands it every phase change and
//! every sample, and it moves the metric handles along. The handles are atomics
//! shared with the [`Registry`], which is never changed after [`Metrics::new`], so
//! the HTTP server reads it through an `Arc` without any lock.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use tokio::task::JoinHandle;

use crate::config::UserTypeName;
use crate::locust::protocol::{Sample, SpanRecord};
use crate::runner::{Observer, Status};
use crate::stats::RunEvent;

/// What `prometheus_client::encoding::text` writes: OpenMetrics text.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Response time buckets in seconds (Prometheus' defaults): web requests from a
/// few milliseconds to timeouts.
pub(crate) const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A label value from users' input (request names come from URLs and `name=`
/// arguments, thresholds from flags), escaped as the exposition format requires:
/// prometheus-client writes label values as they are, and one `"` would make
/// the whole page unreadable to Prometheus.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Label(pub String);

impl EncodeLabelValue for Label {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UserTypeLabels {
    /// The type's name in the config ("Normal"), not its class ("NormalUser").
    user_type: Label,
}

/// The labels of `loadgen_threshold_passed`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ThresholdLabels {
    expr: Label,
    /// `run` or `phase`.
    scope: Label,
}

/// `loadgen_threshold_passed`, where the verdict publishes its judgments:
/// 1 while every judgment of a threshold so far passed.
#[derive(Debug, Clone, Default)]
pub struct ThresholdGauges(Family<ThresholdLabels, Gauge>);

impl crate::verdict::Publish for ThresholdGauges {
    fn threshold(&self, expr: &str, scope: &str, all_passed: bool) {
        let labels = ThresholdLabels {
            expr: Label(expr.to_string()),
            scope: Label(scope.to_string()),
        };
        self.0.get_or_create(&labels).set(i64::from(all_passed));
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    /// Locust's id of the worker (its hostname and a random suffix).
    worker: Label,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    /// `applied` or `failed`.
    result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: Label,
    name: Label,
}

type DurationFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;
type TracedFamily = Family<RequestLabels, TracedHistogram, fn() -> TracedHistogram>;
type TracedHistogram = HistogramWithExemplars<TraceLabels>;

/// An exemplar's labels: the trace a sampled request was sent in, so that a
/// dashboard jumps from a bucket to that trace in the target's backend.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TraceLabels {
    trace_id: String,
}

/// The metrics of one run.
pub struct Metrics {
    registry: Arc<Registry>,
    phase: Gauge,
    loop_number: Gauge,
    users_target: Family<UserTypeLabels, Gauge>,
    users_commanded: Family<UserTypeLabels, Gauge>,
    users_actual: Family<UserTypeLabels, Gauge>,
    requests: Family<RequestLabels, Counter>,
    failures: Family<RequestLabels, Counter>,
    duration: TracedFamily,
    restarts: Counter,
    workers: Gauge,
    worker_users: Family<WorkerLabels, Gauge>,
    paused: Gauge,
    saturated: Gauge,
    short: Gauge,
    planned_rps: Gauge<f64, AtomicU64>,
    errors: Counter,
    config_reloads: Family<ReloadLabels, Counter>,
    thresholds: ThresholdGauges,
    dropped: Family<UserTypeLabels, Counter>,
    intended: DurationFamily,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("loadgen");
        let phase = Gauge::default();
        registry.register(
            "phase",
            "The running phase (1-based; 0 until the run starts)",
            phase.clone(),
        );
        let loop_number = Gauge::default();
        registry.register(
            "loop",
            "The running loop through the phases (1-based; 0 until the run starts)",
            loop_number.clone(),
        );
        let users_target = Family::<UserTypeLabels, Gauge>::default();
        registry.register(
            "users_target",
            "Users per type that the running phase plans",
            users_target.clone(),
        );
        let users_commanded = Family::<UserTypeLabels, Gauge>::default();
        registry.register(
            "users_commanded",
            "Users per type that loadgen asks Locust for now (mid-ramp included)",
            users_commanded.clone(),
        );
        let users_actual = Family::<UserTypeLabels, Gauge>::default();
        registry.register(
            "users_actual",
            "Users per type that Locust reported running",
            users_actual.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests sent, failed ones included",
            requests.clone(),
        );
        let failures = Family::<RequestLabels, Counter>::default();
        registry.register("failures", "Requests that failed", failures.clone());
        let duration: TracedFamily = Family::new_with_constructor(|| {
            HistogramWithExemplars::new(DURATION_BUCKETS.into_iter())
        });
        registry.register_with_unit(
            "request_duration",
            "Response times (exemplars: the trace id of a sampled request in the bucket)",
            Unit::Seconds,
            duration.clone(),
        );
        let restarts = Counter::default();
        registry.register(
            "restarts",
            "Times Locust died and loadgen restarted it",
            restarts.clone(),
        );
        let workers = Gauge::default();
        registry.register(
            "workers",
            "Locust workers connected (0 when Locust runs as one process)",
            workers.clone(),
        );
        let worker_users = Family::<WorkerLabels, Gauge>::default();
        registry.register(
            "worker_users",
            "Users each connected Locust worker runs (none when Locust runs as one process)",
            worker_users.clone(),
        );
        let paused = Gauge::default();
        registry.register(
            "paused",
            "1 while the run is paused through the control API",
            paused.clone(),
        );
        let config_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Changed configs or templates: applied, or failed validation and ignored",
            config_reloads.clone(),
        );
        let saturated = Gauge::default();
        registry.register(
            "saturated",
            "1 while a Locust process is CPU-bound: the load is less than planned and latencies are unreliable",
            saturated.clone(),
        );
        let short = Gauge::default();
        registry.register(
            "short",
            "1 while the load delivers less than 90% of the request rate its users and waits imply",
            short.clone(),
        );
        let planned_rps = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "planned_requests_per_second",
            "The request rate the running phase's users and waits imply (over the last seconds; 0 where the plan sets none)",
            planned_rps.clone(),
        );
        let errors = Counter::default();
        registry.register(
            "errors",
            "Exceptions raised in the users' code (tasks, on_start, hooks)",
            errors.clone(),
        );
        let thresholds = ThresholdGauges::default();
        registry.register(
            "threshold_passed",
            "1 while a threshold has held at every judgment so far, 0 once it failed",
            thresholds.0.clone(),
        );
        // The rate phases' own figures, named apart from the response times:
        // the latency from each iteration's scheduled start (waiting for a
        // free user included), and the iterations no user could start in time.
        let intended: DurationFamily =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register_with_unit(
            "request_intended_latency",
            "Rate phases' requests: the time from their iteration's intended (scheduled) start to the response, waiting for a free user included; not the response time",
            Unit::Seconds,
            intended.clone(),
        );
        let dropped = Family::<UserTypeLabels, Counter>::default();
        registry.register(
            "dropped_iterations",
            "Rate phases' iterations that no user could start within 1 s of their scheduled time: asked for, never sent",
            dropped.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            dropped,
            intended,
            thresholds,
            errors,
            saturated,
            short,
            planned_rps,
            paused,
            config_reloads,
            phase,
            loop_number,
            users_target,
            users_commanded,
            users_actual,
            requests,
            failures,
            duration,
            restarts,
            workers,
            worker_users,
        }
    }

    /// Where the verdict publishes its thresholds' results.
    pub fn threshold_gauges(&self) -> ThresholdGauges {
        self.thresholds.clone()
    }

    /// The gauges that describe the run at this moment.
    fn update(&self, status: &Status) {
        self.phase.set(status.slot.phase_index as i64 + 1);
        self.loop_number.set(status.slot.loop_index as i64 + 1);
        let targets = &status.targets;
        // Every type gets a value in every phase (0 when absent), so series never vanish.
        for (i, name) in status.plan.user_types.iter().enumerate() {
            let labels = UserTypeLabels {
                user_type: Label(name.as_str().to_string()),
            };
            self.users_target
                .get_or_create(&labels)
                .set(i64::from(targets[i]));
            self.users_commanded
                .get_or_create(&labels)
                .set(i64::from(status.commanded[i]));
            self.users_actual
                .get_or_create(&labels)
                .set(i64::from(status.actual[i]));
        }
        // The runner counts restarts; the counter catches up with it.
        self.restarts
            .inc_by(u64::from(status.restarts).saturating_sub(self.restarts.get()));
        self.workers.set(i64::from(status.workers));
        // Only the workers connected now: a lost one's series ends.
        self.worker_users.clear();
        for (worker, &users) in status.worker_users {
            self.worker_users
                .get_or_create(&WorkerLabels {
                    worker: Label(worker.clone()),
                })
                .set(i64::from(users));
        }
        // A rate phase's types count their drops from 0, so rate() and
        // increase() work from the phase's start.
        if let Some(rates) = status.plan.rates(status.slot.phase_index) {
            for (name, &rate) in status.plan.user_types.iter().zip(&rates) {
                if rate > 0.0 {
                    let labels = UserTypeLabels {
                        user_type: Label(name.as_str().to_string()),
                    };
                    self.dropped.get_or_create(&labels).inc_by(0);
                }
            }
        }
        self.paused.set(i64::from(status.paused));
        self.saturated.set(i64::from(status.saturated));
        self.short.set(i64::from(status.short));
        self.planned_rps
            .set(status.delivery.map_or(0.0, |d| d.planned_requests_per_s));
    }

    /// The registry as OpenMetrics text.
    fn encode(registry: &Registry) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry)?;
        Ok(text)
    }
}

impl Observer for Metrics {
    fn phase_started(&mut self, status: &Status) {
        self.update(status);
    }

    fn event(&mut self, event: &RunEvent) {
        let result = match event.kind.as_str() {
            "reload" => "applied",
            "reload_failed" => "failed",
            _ => return,
        };
        let labels = ReloadLabels {
            result: result.to_string(),
        };
        self.config_reloads.get_or_create(&labels).inc();
    }

    fn sample(&mut self, status: &Status, sample: &Sample) {
        self.update(status);
        self.errors
            .inc_by(sample.exceptions.iter().map(|e| e.count).sum::<u64>());
        for (class, &n) in &sample.dropped {
            let labels = UserTypeLabels {
                user_type: Label(UserTypeName::of_class(class).to_string()),
            };
            self.dropped.get_or_create(&labels).inc_by(n);
        }
        for delta in &sample.stats {
            let labels = RequestLabels {
                method: Label(delta.method.clone()),
                name: Label(delta.name.clone()),
            };
            self.requests.get_or_create(&labels).inc_by(delta.requests);
            // Created at 0 even without failures, so rate() works from the start.
            self.failures.get_or_create(&labels).inc_by(delta.failures);
            // A sample holds the response times of one interval (0.5 s), so
            // observing each one is cheap enough.
            observe_traced(
                &self.duration.get_or_create(&labels),
                &delta.histogram,
                sample
                    .spans
                    .iter()
                    .filter(|s| s.method == delta.method && s.name == delta.name),
            );
            // Only a rate phase's requests have these: a run of users alone
            // has no such series.
            if !delta.intended_histogram.is_empty() {
                observe(
                    &self.intended.get_or_create(&labels),
                    &delta.intended_histogram,
                );
            }
        }
    }
}

/// Adds (ms, count) pairs, as the harness sends them, to `histogram` in seconds.
fn observe(histogram: &Histogram, pairs: &[(u64, i64)]) {
    for &(ms, count) in pairs {
        let seconds = ms as f64 / 1000.0;
        for _ in 0..count.max(0) {
            histogram.observe(seconds);
        }
    }
}

/// Adds (ms, count) pairs to `histogram` as [`observe`] does, one request of
/// each sampled span among them with its trace id as the bucket's exemplar.
/// The span is counted in place of one of its pair's requests (the same
/// request: its `ms` is Locust's key for it), so the counts stay Locust's.
fn observe_traced<'a>(
    histogram: &TracedHistogram,
    pairs: &[(u64, i64)],
    spans: impl Iterator<Item = &'a SpanRecord>,
) {
    let mut left: Vec<(u64, i64)> = pairs.to_vec();
    for span in spans {
        let Some(pair) = left.iter_mut().find(|(ms, n)| *ms == span.ms && *n > 0) else {
            continue; // not among this sample's requests: no exemplar rather than a count too many
        };
        pair.1 -= 1;
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(span.start.max(0.0));
        let labels = TraceLabels {
            trace_id: span.trace_id.clone(),
        };
        histogram.observe(span.ms as f64 / 1000.0, Some(labels), Some(at));
    }
    for (ms, count) in left {
        for _ in 0..count.max(0) {
            histogram.observe(ms as f64 / 1000.0, None, None);
        }
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the returned task is aborted
/// (or the process ends). Binds before returning, so a taken or invalid address
/// is an error here rather than a log line later.
pub async fn serve(addr: SocketAddr, metrics: &Metrics) -> Result<JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics on --metrics-addr {addr}"))?;
    let registry = Arc::clone(&metrics.registry);
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = Arc::clone(&registry);
                async move {
                    match Metrics::encode(&registry) {
                        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
                        Err(_) => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "cannot encode the metrics",
                        )
                            .into_response(),
                    }
                }
            }),
        )
        // Up as long as loadgen serves: the run itself has no separate health.
        .route("/healthz", get(|| async { "ok" }));
    tracing::info!(
        "serving metrics at http://{}/metrics",
        listener.local_addr()?
    );
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the metrics server stopped: {e}");
        }
    }))
}

#[cfg(test)]
mod tests;
