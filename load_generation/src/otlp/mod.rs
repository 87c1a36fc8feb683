//! OpenTelemetry export: loadgen's figures and the sampled requests' spans,
//! pushed over OTLP (HTTP/protobuf) to a collector (`--otlp-endpoint`, or the
//! standard `OTEL_EXPORTER_OTLP_*` variables).
//!
//! [`Otlp`] is an [`Observer`] beside the Prometheus [`crate::metrics`]: it
//! counts each sample's requests into the phase occurrence the stats
//! [`crate::stats::Recorder`] puts them in (by the same rule, so the counts
//! per phase are summary.json's), keeps the spans of sampled requests, and
//! every export interval hands an encoded request ([`encode`]) to a sender
//! thread ([`send`]). The last export is made by [`Otlp::close`] after the
//! verdict, so it carries the run's thresholds too.
//!
//! The messages are built from the OpenTelemetry project's own protobuf
//! definitions (`opentelemetry-proto`). Its SDK is not used: the SDK
//! aggregates measurements one by one, and loadgen's arrive aggregated from
//! Locust (a histogram per interval), so they are encoded as they are, exactly.

mod config;
mod encode;
mod send;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use config::OtlpConfig;
use encode::{Occurrence, Resource, Snapshot};

use crate::locust::protocol::{Sample, SpanRecord};
use crate::runner::{Observer, Status};
use crate::stats::{PhaseRecord, Recorder, RequestKey};

/// Spans held between two exports; beyond, they are counted and left out
/// (the harness bounds what it sends, this bounds what loadgen keeps).
const MAX_SPANS: usize = 20_000;
/// Phase occurrences whose series are still sent: a long run's older ones
/// stop (their last values were sent), as summary.json folds them.
const KEEP_OCCURRENCES: usize = 64;

/// The export of one run.
pub struct Otlp {
    config: OtlpConfig,
    resource: Resource,
    /// Samples not yet counted: counted in `recorded`, where the recorder
    /// says which occurrence each belongs to.
    pending: Vec<Sample>,
    occurrences: BTreeMap<usize, Occurrence>,
    gauges: encode::Gauges,
    spans: Vec<SpanRecord>,
    spans_dropped: u64,
    verdict: VerdictFigures,
    /// The run's start (seconds since the Unix epoch): now until the record
    /// says (at its first sample).
    run_started_at: f64,
    last_export: Instant,
    sender: send::Sender,
}

/// The thresholds as the verdict publishes them: (expr, scope) -> all passed.
#[derive(Clone, Default)]
pub struct VerdictFigures(Arc<Mutex<BTreeMap<(String, String), bool>>>);

impl crate::verdict::Publish for VerdictFigures {
    fn threshold(&self, expr: &str, scope: &str, all_passed: bool) {
        if let Ok(mut map) = self.0.lock() {
            map.insert((expr.to_string(), scope.to_string()), all_passed);
        }
    }
}

impl Otlp {
    /// Starts the sender; `run_id` and `target` go into the resource.
    pub fn start(config: OtlpConfig, run_id: &str, target: Option<&str>) -> Otlp {
        let resource = Resource::new(&config, run_id, target);
        eprintln!(
            "loadgen: exporting metrics to {} every {} and sampled requests' spans to {}",
            config.metrics_url,
            crate::fmt::short(config.interval),
            config.traces_url
        );
        Otlp {
            sender: send::Sender::start(&config),
            config,
            resource,
            pending: Vec::new(),
            occurrences: BTreeMap::new(),
            gauges: encode::Gauges::default(),
            spans: Vec::new(),
            spans_dropped: 0,
            verdict: VerdictFigures::default(),
            run_started_at: now_s(),
            last_export: Instant::now(),
        }
    }

    /// Where the verdict publishes to this export.
    pub fn verdict(&self) -> VerdictFigures {
        self.verdict.clone()
    }

    /// The last export (every figure, the verdict included, and the spans
    /// left), then waits a few seconds at most for the sender to deliver
    /// what it holds; says what was sent and what failed.
    pub fn close(mut self) {
        self.export();
        self.sender.close(Duration::from_secs(5));
    }

    /// The occurrence's entry, made with its phase's name the first time.
    fn occurrence(&mut self, record: &PhaseRecord, status: &Status) -> &mut Occurrence {
        let started_at = self.run_started_at;
        let name = status
            .plan
            .phases
            .get(record.phase_index)
            .and_then(|p| p.name.clone())
            .unwrap_or_default();
        self.occurrences
            .entry(record.index)
            .or_insert_with(|| Occurrence {
                phase: record.phase_index + 1,
                name,
                loop_number: record.loop_index + 1,
                started_at: started_at + record.start_s,
                routes: BTreeMap::new(),
                dropped: BTreeMap::new(),
            })
    }

    /// Counts a sample into its occurrence: as the recorder does, the one it
    /// names if still kept, else the latest.
    fn count(&mut self, sample: Sample, recorder: &Recorder, status: &Status) {
        let Some(phase) = recorder.occurrence_of(&sample) else {
            return;
        };
        let occurrence = self.occurrence(phase, status);
        for delta in &sample.stats {
            let key = RequestKey {
                method: delta.method.clone(),
                name: delta.name.clone(),
            };
            let route = occurrence.routes.entry(key).or_default();
            route.add(delta);
        }
        for span in &sample.spans {
            let key = RequestKey {
                method: span.method.clone(),
                name: span.name.clone(),
            };
            if let Some(route) = occurrence.routes.get_mut(&key) {
                route.exemplar(span);
            }
        }
        for (class, &n) in &sample.dropped {
            let user_type = crate::config::UserTypeName::of_class(class).to_string();
            *occurrence.dropped.entry(user_type).or_default() += n;
        }
        while self.occurrences.len() > KEEP_OCCURRENCES {
            self.occurrences.pop_first();
        }
        self.keep_spans(sample);
    }

    fn keep_spans(&mut self, sample: Sample) {
        let room = MAX_SPANS.saturating_sub(self.spans.len());
        self.spans_dropped += sample.spans_dropped + sample.spans.len().saturating_sub(room) as u64;
        self.spans.extend(sample.spans.into_iter().take(room));
    }

    fn export(&mut self) {
        let now = now_s();
        let snapshot = Snapshot {
            started_at: self.run_started_at,
            now,
            occurrences: &self.occurrences,
            gauges: &self.gauges,
            verdict: self.verdict.0.lock().map(|m| m.clone()).unwrap_or_default(),
            spans_dropped: self.spans_dropped,
        };
        self.sender
            .metrics(encode::metrics_request(&self.resource, &snapshot));
        if !self.spans.is_empty() {
            let spans = std::mem::take(&mut self.spans);
            self.sender
                .traces(encode::traces_request(&self.resource, &spans));
        }
        self.last_export = Instant::now();
    }
}

impl Observer for Otlp {
    /// Its figures become the record's: the samples that reach the record
    /// while the run stops come to no observer, and summary.json has them.
    fn occurrence_closed(&mut self, status: &Status, record: &PhaseRecord) {
        let occurrence = self.occurrence(record, status);
        for (key, stats) in &record.counted.requests {
            occurrence
                .routes
                .entry(key.clone())
                .or_default()
                .settle(stats);
        }
    }

    fn sample(&mut self, _status: &Status, sample: &Sample) {
        self.pending.push(sample.clone());
    }

    fn last_sample(&mut self, sample: &Sample) {
        self.keep_spans(sample.clone());
    }

    fn recorded(&mut self, status: &Status, recorder: &Recorder) {
        self.run_started_at = recorder.record().started_at;
        for sample in std::mem::take(&mut self.pending) {
            self.count(sample, recorder, status);
        }
        self.gauges = encode::Gauges::of(status);
        if self.last_export.elapsed() >= self.config.interval {
            self.export();
        }
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
