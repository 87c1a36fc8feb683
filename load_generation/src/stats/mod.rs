//! Statistics per phase occurrence and over time.
//!
//! Locust's own statistics are cumulative over a whole run. loadgen receives the
//! requests of each sampling interval instead (see `loadgen_sample.py`) and adds them to
//! the phase occurrence that was running, so every phase of every loop gets its own
//! counts and latency percentiles, and the run gets a time series for charts.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod counted;
pub mod delivery;
pub mod fold;
mod histogram;
pub mod series;
pub mod window;

pub use counted::{Counted, RequestKey, RequestStats};
pub use fold::PhaseTotals;
pub use histogram::Histogram;
pub use series::{Interval, Series};

use crate::locust::protocol::Sample;
use crate::plan::{Counts, Pace, Plan};
use delivery::{Delivery, Tally};

/// The figures reported for a set of requests.
#[derive(Debug, Clone, Serialize, PartialEq, Deserialize)]
pub struct Figures {
    pub requests: u64,
    pub failures: u64,
    /// `None` (`null`) over a span too short to state a rate (under
    /// [`window::MIN_RATE_SPAN_S`]: an occurrence a control action or a reload
    /// ended at once).
    pub requests_per_s: Option<f64>,
    pub mean_ms: f64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    /// Latencies from the intended start (rate phases' requests only; `None`
    /// where there were none): what the response times leave out when the
    /// target stalls (coordinated omission).
    #[serde(default)]
    pub intended: Option<Intended>,
}

/// Latency percentiles measured from each iteration's intended start, not from
/// when its request was sent.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Deserialize)]
pub struct Intended {
    /// The requests measured so (those made in rate phases).
    pub requests: u64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// One occurrence of one phase (phase 2 of loop 3, say).
#[derive(Debug, Clone)]
pub struct PhaseRecord {
    /// Its place among the run's occurrences (0, 1, ...).
    pub index: usize,
    pub phase_index: usize,
    pub loop_index: u64,
    /// Seconds from the run's start.
    pub start_s: f64,
    /// Seconds from the run's start; grows while the phase runs.
    pub end_s: f64,
    /// The plan's users per type for the phase (shared with its points of
    /// the series).
    pub target_users: Arc<[u32]>,
    /// Users per type seen in the last sample of the phase.
    pub actual_users_end: Counts,
    /// Mean users per type over the samples taken after the ramp had finished.
    pub actual_users_plateau: Vec<f64>,
    plateau_samples: u64,
    /// Its requests, failures, exceptions, restarts and drops.
    pub counted: Counted,
    /// Locust was CPU-bound during this occurrence: less than the plan was
    /// delivered and the latencies include loadgen's own delays.
    pub saturated: bool,
    /// Users asked for, tasks and requests: planned against delivered.
    pub delivery: Tally,
    /// What set each type's pace in this occurrence, its mean wait or its
    /// rate (`None` where the config sets neither), by which its delivery is judged.
    pub paces: Vec<Option<Pace>>,
}

impl PhaseRecord {
    pub fn seconds(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }

    /// Too short to state its rates: a control action or a reload ended it
    /// within [`window::MIN_RATE_SPAN_S`] of its start. Its requests, failures
    /// and latencies count; its request rate and delivered share would be
    /// noise (two responses in 3 ms read as 666 req/s), so none is stated.
    pub fn too_short(&self) -> bool {
        !window::long_enough(self.seconds(), window::MIN_RATE_SPAN_S)
    }

    /// The request rate its plan implied against the one delivered, if the
    /// plan implies one and it ran long enough to measure it.
    pub fn delivery(&self) -> Option<Delivery> {
        if self.too_short() {
            return None;
        }
        self.delivery.judge(&self.paces)
    }
}

/// An exception from the user's tasks, as often as it happened.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExceptionRecord {
    pub message: String,
    pub traceback: String,
    pub count: u64,
}

/// Something that happened to the run besides its schedule: a control action, a
/// reload, a restart of Locust.
#[derive(Debug, Clone, Serialize, PartialEq, Deserialize)]
pub struct RunEvent {
    /// Seconds from the run's start.
    pub at_s: f64,
    /// `jump`, `pause`, `resume`, `scale`, `reload`, `reload_failed`, `restart`,
    /// `saturated`, `saturation_ended`, `shortfall`, `worker_joined`, `worker_rejoined`,
    /// `worker_lost`, `worker_replaced`.
    pub kind: String,
    pub detail: String,
}

/// How a run ended, as its record says (`ended` in summary.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// Its run time was spent (or it had none and its phases ran out).
    #[default]
    Completed,
    /// SIGINT or SIGTERM stopped it.
    Interrupted,
    /// `--fail-fast`, `stop` or the locustfile's `runner.quit()` ended it early.
    StoppedEarly,
    /// It could not go on: Locust crash-looped, contact was lost, ...
    Error,
    /// Not ended: a checkpoint of a run still going (or killed since).
    Running,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Completed => "completed",
            Ended::Interrupted => "interrupted",
            Ended::StoppedEarly => "stopped_early",
            Ended::Error => "error",
            Ended::Running => "running",
        }
    }
}

/// Events kept in the record: the most recent ones, so that a run of weeks
/// steered every minute stays bounded.
pub const MAX_EVENTS: usize = 1000;

/// Everything recorded about a run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub user_types: Vec<String>,
    /// When the run started (seconds since the Unix epoch).
    pub started_at: f64,
    /// The occurrences kept in detail (the last loops), oldest first.
    pub phases: Vec<PhaseRecord>,
    /// The occurrence index of `phases[0]`: how many were folded before it.
    pub first_index: usize,
    /// Older occurrences, folded: one aggregate per phase (by phase index).
    pub folded: Vec<PhaseTotals>,
    pub series: Series,
    pub exceptions: Vec<ExceptionRecord>,
    pub restarts: u32,
    /// Seconds from the run's start to its end.
    pub duration_s: f64,
    /// The most recent [`MAX_EVENTS`] events, oldest first.
    pub events: Vec<RunEvent>,
    /// Events that happened but were dropped to keep the record bounded.
    pub events_dropped: u64,
    /// How it ended ([`Ended::Running`] until it has), and why where it did not
    /// complete (the error, the signal, the early stop's reason).
    pub ended: Ended,
    pub ended_reason: Option<String>,
}

/// Collects samples into a [`RunRecord`].
pub struct Recorder {
    record: RunRecord,
    /// Where the series' last point ended (seconds from the run's start).
    last_point_s: f64,
    /// Requests since that point, for the next one.
    point_stats: RequestStats,
    /// The point of samples since then, while they cover less than
    /// [`window::MIN_POINT_SPAN_S`]: added to the next point, or to the last
    /// one when the run ends first.
    pending_point: Option<Interval>,
}

impl Recorder {
    pub fn new(plan: &Plan, started_at: f64) -> Recorder {
        Recorder {
            record: RunRecord {
                user_types: plan.user_classes(),
                started_at,
                phases: Vec::new(),
                first_index: 0,
                folded: Vec::new(),
                series: Series::default(),
                exceptions: Vec::new(),
                restarts: 0,
                duration_s: 0.0,
                events: Vec::new(),
                events_dropped: 0,
                ended: Ended::Running,
                ended_reason: None,
            },
            last_point_s: 0.0,
            point_stats: RequestStats::default(),
            pending_point: None,
        }
    }

    /// A new phase occurrence begins `at_s` seconds into the run.
    pub fn phase_started(
        &mut self,
        phase_index: usize,
        loop_index: u64,
        at_s: f64,
        target_users: Counts,
        paces: Vec<Option<Pace>>,
    ) {
        if let Some(previous) = self.record.phases.last_mut() {
            previous.end_s = at_s;
        }
        let n = target_users.len();
        self.record.phases.push(PhaseRecord {
            index: self.record.first_index + self.record.phases.len(),
            phase_index,
            loop_index,
            start_s: at_s,
            end_s: at_s,
            target_users: target_users.into(),
            actual_users_end: vec![0; n],
            actual_users_plateau: vec![0.0; n],
            plateau_samples: 0,
            counted: Counted::default(),
            saturated: false,
            delivery: Tally::default(),
            paces,
        });
    }

    /// Records an event (the oldest goes when there are too many).
    pub fn event(&mut self, event: RunEvent) {
        if self.record.events.len() == MAX_EVENTS {
            self.record.events.remove(0);
            self.record.events_dropped += 1;
        }
        self.record.events.push(event);
    }

    /// A reloaded plan may add user types (never removes or reorders them).
    pub fn set_user_types(&mut self, classes: Vec<String>) {
        self.record.user_types = classes;
    }

    /// The running occurrence saw the generator saturated.
    pub fn mark_saturated(&mut self) {
        if let Some(phase) = self.record.phases.last_mut() {
            phase.saturated = true;
        }
    }

    pub fn restarted(&mut self) {
        self.record.restarts += 1;
        if let Some(phase) = self.record.phases.last_mut() {
            phase.counted.restarts += 1;
        }
    }

    /// Where a sample's requests go among the kept occurrences: the one it
    /// was taken in, when known and still kept (a sample flushed at a boundary
    /// belongs to the phase that just ended), else the latest.
    fn place_of(&self, sample: &Sample) -> usize {
        let first = self.record.first_index;
        sample
            .occurrence
            .and_then(|i| i.checked_sub(first))
            .filter(|&i| i < self.record.phases.len())
            .unwrap_or(self.record.phases.len().saturating_sub(1))
    }

    /// The occurrence a sample's requests were counted in (see
    /// [`Recorder::sample`]), for an observer that counts them too.
    pub fn occurrence_of(&self, sample: &Sample) -> Option<&PhaseRecord> {
        self.record.phases.get(self.place_of(sample))
    }

    /// Adds a sample taken `at_s` seconds into the run; `ramped` says whether the
    /// phase's ramp had finished (only then does it count toward the plateau);
    /// `offered` is what its interval was asked for and delivered.
    pub fn sample(&mut self, sample: &Sample, at_s: f64, ramped: bool, offered: &Tally) {
        let user_types = &self.record.user_types;
        let latest = self.record.phases.len().saturating_sub(1);
        let actual: Counts = user_types
            .iter()
            .map(|c| sample.users.get(c).copied().unwrap_or(0))
            .collect();
        let index = self.place_of(sample);
        let Some(phase) = self.record.phases.get_mut(index) else {
            return;
        };
        if index == latest {
            phase.end_s = phase.end_s.max(at_s);
            phase.actual_users_end = actual.clone();
        }
        if ramped && index == latest {
            phase.plateau_samples += 1;
            let k = phase.plateau_samples as f64;
            for (mean, &now) in phase.actual_users_plateau.iter_mut().zip(&actual) {
                *mean += (f64::from(now) - *mean) / k;
            }
        }
        let counted = counted(sample, at_a_rate(&phase.paces).then_some(offered));
        phase.counted.merge(&counted);
        phase.delivery.add(offered);
        for e in &sample.exceptions {
            match self
                .record
                .exceptions
                .iter_mut()
                .find(|x| x.traceback == e.traceback)
            {
                Some(x) => x.count += e.count,
                None => self.record.exceptions.push(ExceptionRecord {
                    message: e.message.clone(),
                    traceback: e.traceback.clone(),
                    count: e.count,
                }),
            }
        }
        // A point covers at least MIN_POINT_SPAN_S: a sample closed a few ms
        // after the last (a control action, a reload) joins the next point
        // instead of charting its few requests as a spike of requests/s.
        self.point_stats.merge(&counted.total);
        let seconds = (at_s - self.last_point_s).max(0.0);
        let point = Interval::new(at_s, seconds, phase, &actual, &self.point_stats);
        if window::long_enough(seconds, window::MIN_POINT_SPAN_S) {
            self.record.series.push(point);
            self.last_point_s = at_s;
            self.point_stats = RequestStats::default();
            self.pending_point = None;
        } else {
            self.pending_point = Some(point);
        }
    }

    /// Folds the oldest occurrences into their phase's aggregate, keeping
    /// `keep` in detail; only those before `closed` (whose statistics are final).
    pub fn fold(&mut self, keep: usize, closed: usize) {
        while self.record.phases.len() > keep
            && self.record.phases.first().is_some_and(|p| p.index < closed)
        {
            let old = self.record.phases.remove(0);
            let folded = &mut self.record.folded;
            if folded.len() <= old.phase_index {
                folded.resize_with(old.phase_index + 1, PhaseTotals::default);
            }
            folded[old.phase_index].add(&old, old.delivery().as_ref());
            self.record.first_index += 1;
        }
    }

    /// Closes the run `at_s` seconds after its start.
    /// The run ended `at_s` seconds after its start, as `ended` says.
    pub fn finish(&mut self, at_s: f64, ended: Ended, reason: Option<String>) {
        if let Some(point) = self.pending_point.take() {
            self.record.series.push_short(point);
        }
        if let Some(phase) = self.record.phases.last_mut() {
            phase.end_s = at_s;
        }
        self.record.duration_s = at_s;
        self.record.ended = ended;
        self.record.ended_reason = reason;
    }

    /// The record as it stands `at_s` seconds into a run still going: what a
    /// checkpoint writes (marked [`Ended::Running`]).
    pub fn snapshot(&self, at_s: f64) -> RunRecord {
        let mut record = self.record.clone();
        if let Some(point) = self.pending_point.clone() {
            record.series.push_short(point);
        }
        if let Some(phase) = record.phases.last_mut() {
            phase.end_s = phase.end_s.max(at_s);
        }
        record.duration_s = at_s;
        record
    }

    pub fn record(&self) -> &RunRecord {
        &self.record
    }
}

/// What a sample counted; `offered` is its interval's tally where its
/// occurrence is at a rate (its iterations are then the rate's).
fn counted(sample: &Sample, offered: Option<&Tally>) -> Counted {
    let mut counted = Counted::default();
    for delta in &sample.stats {
        let mut stats = RequestStats {
            requests: delta.requests,
            failures: delta.failures,
            total_ms: delta.total_ms,
            histogram: Histogram::default(),
            intended: Histogram::default(),
        };
        stats.histogram.add_pairs(&delta.histogram);
        stats.intended.add_pairs(&delta.intended_histogram);
        let key = RequestKey {
            method: delta.method.clone(),
            name: delta.name.clone(),
        };
        counted.add_requests(key, &stats);
    }
    for e in &sample.errors {
        counted.add_error(
            &format!("{} {}: {}", e.method, e.name, e.error),
            e.occurrences,
        );
    }
    counted.exceptions = sample.exceptions.iter().map(|e| e.count).sum();
    counted.dropped = sample.dropped.values().sum();
    counted.rate_iterations = offered.map_or(0, |o| o.iterations);
    counted
}

/// Whether any type of an occurrence runs at a rate (its iterations are then
/// laid down by the plan, and a drop is counted against them).
fn at_a_rate(paces: &[Option<Pace>]) -> bool {
    paces
        .iter()
        .any(|p| matches!(p, Some(Pace::RatePerUser { .. })))
}

impl RunRecord {
    /// Everything the run counted, folded occurrences included.
    pub fn totals(&self) -> Counted {
        let mut run = Counted::default();
        let kept = self.phases.iter().map(|p| &p.counted);
        let folded = self.folded.iter().map(|f| &f.counted);
        for counted in kept.chain(folded) {
            run.merge(counted);
        }
        run
    }

    /// All the run's requests, folded occurrences included: [`RunRecord::totals`]'s
    /// `total` alone, for a status asked every second.
    pub fn total(&self) -> RequestStats {
        let mut total = RequestStats::default();
        let kept = self.phases.iter().map(|p| &p.counted.total);
        let folded = self.folded.iter().map(|f| &f.counted.total);
        for requests in kept.chain(folded) {
            total.merge(requests);
        }
        total
    }

    /// The occurrence with index `index`, if it is still kept in detail.
    pub fn occurrence(&self, index: usize) -> Option<&PhaseRecord> {
        self.phases.get(index.checked_sub(self.first_index)?)
    }

    /// How many occurrences were folded.
    pub fn folded_occurrences(&self) -> u64 {
        self.folded.iter().map(|f| f.occurrences).sum()
    }

    /// The whole run's dropped iterations, and the iterations run in its rate
    /// occurrences (see [`Counted::rate_iterations`]), folded ones included.
    pub fn dropped(&self) -> (u64, u64) {
        let kept = self.phases.iter().map(|p| &p.counted);
        let folded = self.folded.iter().map(|f| &f.counted);
        kept.chain(folded)
            .fold((0, 0), |(d, i), c| (d + c.dropped, i + c.rate_iterations))
    }
}

#[cfg(test)]
pub(crate) mod tests;
