//! The summary of a run as data: what `summary.json` holds, and what the table,
//! the CSV and the HTML report are drawn from. The schema is documented in
//! `docs/report.md`; fields are only ever added, never renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::{Arrival, Plan};
use crate::stats::delivery::{Delivery, RunDelivery};
use crate::stats::{
    Counted, Ended, ExceptionRecord, Figures, Interval, RequestKey, RequestStats, RunEvent,
    RunRecord,
};
use crate::verdict::evaluate::Judged;

/// Bumped when fields change: 2 added `thresholds`, `events`, `events_dropped`,
/// `occurrences_folded`, `folded`, each occurrence's `index`, `errors_count`,
/// `name` and `saturated`, and each series point's `seconds`; 3 added each
/// occurrence's `delivery` and `short`, each folded phase's `short_occurrences`
/// and the total's `delivery`; 4 added `ended` and `ended_reason` (a summary.json
/// written by an earlier version reads as `completed`); 5 added the rate phases':
/// figures' `intended`, `dropped_iterations` on each occurrence, folded phase and
/// the total, each planned phase's `requests_per_s` and `arrival`, and each
/// series point's `p99_intended_ms` (an earlier summary reads as without them);
/// 6 added each occurrence's `too_short`, and `requests_per_s` is `null` over a
/// span under a second (an occurrence a control action ended at once); 7 added
/// each folded phase's `requests` and `errors`, and the total's `errors`,
/// `errors_count` and `restarts`: every span states the same counted figures
/// ([`CountedFigures`]).
pub const SCHEMA_VERSION: u32 = 7;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    /// The run's id, as every request's baggage and every exported span and
    /// metric carry it (`None`: a run that had none, or an older summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When the run started, RFC 3339.
    pub started_at: String,
    pub duration_s: f64,
    /// How the run ended: `completed`, `interrupted`, `stopped_early`, `error`,
    /// or `running` (a checkpoint of a run still going, or killed since).
    #[serde(default)]
    pub ended: Ended,
    /// Why, where it did not complete: the error, the early stop's reason.
    #[serde(default)]
    pub ended_reason: Option<String>,
    pub restarts: u32,
    /// The generated Locust user classes, in plan order (`NormalUser`, ...).
    pub user_types: Vec<String>,
    /// The phases of the config, as planned.
    pub plan: Vec<PlannedPhase>,
    /// Every phase occurrence that ran, in order.
    pub phases: Vec<PhaseSummary>,
    /// The whole run.
    pub total: Totals,
    /// Exceptions raised in the users' tasks.
    pub exceptions: Vec<ExceptionRecord>,
    /// One point per sample: users, requests/s, failures/s and latency over time.
    pub series: Vec<TimePoint>,
    /// Control actions, reloads and restarts, oldest first (the most recent 1,000).
    pub events: Vec<RunEvent>,
    /// Events left out of `events` to keep it bounded.
    pub events_dropped: u64,
    /// Every threshold judged: per occurrence of its phase, or over the run.
    pub thresholds: Vec<Judged>,
    /// Occurrences older than the last loops, folded into `folded`.
    pub occurrences_folded: u64,
    /// Per phase, every folded occurrence added up (exact counts and histograms).
    pub folded: Vec<FoldedPhase>,
}

/// A phase's folded occurrences, added up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldedPhase {
    pub phase: usize,
    pub name: Option<String>,
    pub occurrences: u64,
    /// The first and last folded loop (1-based).
    pub first_loop: u64,
    pub last_loop: u64,
    /// Their summed length.
    pub seconds: f64,
    /// Their requests, failures, exceptions, restarts and drops, added up.
    #[serde(flatten)]
    pub counted: CountedFigures,
    pub saturated_occurrences: u64,
    /// Occurrences that delivered less than 90% of the rate their plan implied.
    pub short_occurrences: u64,
}

/// What a span of the run counted, stated alike for an occurrence, a phase's
/// folded occurrences and the whole run (each flattens it into its object).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CountedFigures {
    /// Per request name (a folded phase's since schema 7).
    #[serde(default)]
    pub requests: Vec<RequestSummary>,
    /// All names together.
    pub total: Figures,
    /// Failure messages and how often each occurred (at most 100; beyond,
    /// under `(other failure messages)`).
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Exceptions raised in the users' code.
    #[serde(default)]
    pub errors_count: u64,
    /// Times Locust was restarted.
    #[serde(default)]
    pub restarts: u32,
    /// Rate phases' iterations that no user could start within 1 s of their
    /// scheduled time: asked for, never sent (0 in a phase of users).
    #[serde(default)]
    pub dropped_iterations: u64,
}

impl CountedFigures {
    /// The figures of `counted` over a span of `seconds`.
    pub fn of(counted: &Counted, seconds: f64) -> CountedFigures {
        CountedFigures {
            requests: requests(&counted.requests, seconds),
            total: counted.total.figures(seconds),
            errors: counted.errors.clone(),
            errors_count: counted.exceptions,
            restarts: counted.restarts,
            dropped_iterations: counted.dropped,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedPhase {
    pub phase: usize,
    pub duration_s: f64,
    pub hatch_rate_per_s: u32,
    /// Users per user class: a rate phase's pool.
    pub users: BTreeMap<String, u32>,
    /// A rate phase's iterations per second, all classes together (`None` for
    /// a phase of users).
    #[serde(default)]
    pub requests_per_s: Option<f64>,
    /// How a rate phase spreads its iterations' starts: `uniform` or `poisson`.
    #[serde(default)]
    pub arrival: Option<Arrival>,
    /// Seconds over which a rate phase's rate moves from the one before to its
    /// own (`rate_ramp_s`; `None` for a phase of users).
    #[serde(default)]
    pub rate_ramp_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseSummary {
    /// The occurrence's number in the run (0-based, counting folded ones):
    /// what `thresholds[].occurrence` refers to.
    pub index: usize,
    /// 1-based phase number in the config.
    pub phase: usize,
    /// 1-based loop number.
    pub loop_number: u64,
    /// Seconds from the run's start.
    pub start_s: f64,
    pub end_s: f64,
    /// Wall-clock start and end, RFC 3339.
    pub started_at: String,
    pub ended_at: String,
    pub target_users: BTreeMap<String, u32>,
    /// Users per class in the last sample of the occurrence.
    pub actual_users_end: BTreeMap<String, u32>,
    /// Mean users per class once the ramp had finished (0 if it never did).
    pub actual_users_plateau: BTreeMap<String, f64>,
    /// Its requests, failures, exceptions, restarts and drops.
    #[serde(flatten)]
    pub counted: CountedFigures,
    /// The phase's name in the config, if it has one.
    pub name: Option<String>,
    /// The load generator was saturated (CPU-bound) during the occurrence: it
    /// delivered less than planned, and its latencies are unreliable.
    pub saturated: bool,
    /// The request rate its users and waits implied against the one delivered
    /// (`null` where the plan sets no rate: waits not in the config, or 0).
    pub delivery: Option<Delivery>,
    /// It delivered less than 90% of that rate.
    pub short: bool,
    /// It lasted less than a second (a control action or a reload ended it at
    /// once): its counts and latencies stand, but its `requests_per_s` and
    /// `delivery` are `null`, and thresholds on rates do not judge it.
    #[serde(default)]
    pub too_short: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestSummary {
    pub method: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Totals {
    /// The whole run's requests, failures, exceptions, restarts and drops:
    /// the occurrences' and the folded ones'.
    #[serde(flatten)]
    pub counted: CountedFigures,
    /// Planned against delivered over the occurrences whose plan sets a rate
    /// (`null` if none does).
    pub delivery: Option<RunDelivery>,
}

/// One point of the run's time series as summary.json states it (the
/// recorder keeps it compact: [`Interval`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TimePoint {
    /// Seconds from the run's start (the end of the span the point covers).
    pub t: f64,
    /// How many seconds of the run the point covers: a sample interval, or a
    /// bucket of merged points once it is older than an hour.
    pub seconds: f64,
    pub phase_index: usize,
    pub loop_index: u64,
    pub target_users: Vec<u32>,
    pub actual_users: Vec<u32>,
    pub requests_per_s: f64,
    pub failures_per_s: f64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
    /// The p99 of the interval's latencies from the intended start (rate
    /// phases' requests only); absent where there were none, so that the
    /// series of a run without rate phases is as it was (and stays small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_intended_ms: Option<u64>,
}

impl TimePoint {
    /// The point of `interval`, with a count for each of `classes` user types
    /// (a reload may have added types since).
    pub fn of(interval: &Interval, classes: usize) -> TimePoint {
        let per_class = |users: &[u32]| {
            let mut users = users.to_vec();
            users.resize(classes, 0);
            users
        };
        TimePoint {
            t: interval.t,
            seconds: interval.seconds(),
            phase_index: interval.phase_index as usize,
            loop_index: interval.loop_index,
            target_users: per_class(&interval.target_users),
            actual_users: per_class(&interval.actual_users),
            requests_per_s: interval.requests_per_s(),
            failures_per_s: interval.failures_per_s(),
            p50_ms: u64::from(interval.p50_ms),
            p95_ms: u64::from(interval.p95_ms),
            p99_ms: u64::from(interval.p99_ms),
            p99_intended_ms: interval.p99_intended_ms.map(u64::from),
        }
    }
}

fn rfc3339(epoch_s: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(epoch_s.max(0.0));
    humantime::format_rfc3339_millis(t).to_string()
}

fn requests(per_name: &BTreeMap<RequestKey, RequestStats>, seconds: f64) -> Vec<RequestSummary> {
    per_name
        .iter()
        .map(|(key, stats)| RequestSummary {
            method: key.method.clone(),
            name: key.name.clone(),
            figures: stats.figures(seconds),
        })
        .collect()
}

impl Summary {
    /// Whether a rate phase left figures in the run: a latency from an
    /// intended start, or an iteration dropped. Only then do the table and
    /// report.html show their columns, so that a run of users alone reads as
    /// it always did.
    pub fn has_rate_figures(&self) -> bool {
        self.total.counted.total.intended.is_some() || self.total.counted.dropped_iterations > 0
    }

    pub fn new(record: &RunRecord, plan: &Plan) -> Summary {
        let classes = &record.user_types;
        // Every class in every map: a reload may have added a type after some
        // occurrences were recorded (they had none of it).
        let by_class = |counts: &[u32]| -> BTreeMap<String, u32> {
            classes
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), counts.get(i).copied().unwrap_or(0)))
                .collect()
        };
        let phases = record
            .phases
            .iter()
            .map(|p| PhaseSummary {
                index: p.index,
                phase: p.phase_index + 1,
                loop_number: p.loop_index + 1,
                start_s: p.start_s,
                end_s: p.end_s,
                started_at: rfc3339(record.started_at + p.start_s),
                ended_at: rfc3339(record.started_at + p.end_s),
                target_users: by_class(&p.target_users),
                actual_users_end: by_class(&p.actual_users_end),
                actual_users_plateau: classes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        (
                            c.clone(),
                            p.actual_users_plateau.get(i).copied().unwrap_or(0.0),
                        )
                    })
                    .collect(),
                counted: CountedFigures::of(&p.counted, p.seconds()),
                saturated: p.saturated,
                delivery: p.delivery(),
                short: p.delivery().is_some_and(|d| d.short()),
                too_short: p.too_short(),
                name: plan
                    .phases
                    .get(p.phase_index)
                    .and_then(|ph| ph.name.clone()),
            })
            .collect();

        Summary {
            schema_version: SCHEMA_VERSION,
            run_id: None,
            started_at: rfc3339(record.started_at),
            duration_s: record.duration_s,
            ended: record.ended,
            ended_reason: record.ended_reason.clone(),
            restarts: record.restarts,
            user_types: classes.clone(),
            plan: plan
                .phases
                .iter()
                .enumerate()
                .map(|(i, p)| PlannedPhase {
                    phase: p.number,
                    duration_s: p.duration.as_secs_f64(),
                    hatch_rate_per_s: p.hatch_rate,
                    users: by_class(&plan.targets(i)),
                    requests_per_s: p.rate.map(|r| r.per_s),
                    arrival: p.rate.map(|r| r.arrival),
                    rate_ramp_s: p.rate.map(|r| r.ramp.as_secs_f64()),
                })
                .collect(),
            phases,
            total: Totals {
                counted: CountedFigures::of(&record.totals(), record.duration_s),
                delivery: RunDelivery::of(record),
            },
            exceptions: record.exceptions.clone(),
            series: record
                .series
                .points()
                .map(|point| TimePoint::of(point, classes.len()))
                .collect(),
            events: record.events.clone(),
            events_dropped: record.events_dropped,
            thresholds: Vec::new(),
            occurrences_folded: record.folded_occurrences(),
            folded: record
                .folded
                .iter()
                .filter(|f| f.occurrences > 0)
                .map(|f| FoldedPhase {
                    phase: f.phase_index + 1,
                    name: plan.phases.get(f.phase_index).and_then(|p| p.name.clone()),
                    occurrences: f.occurrences,
                    first_loop: f.first_loop + 1,
                    last_loop: f.last_loop + 1,
                    seconds: f.seconds,
                    counted: CountedFigures::of(&f.counted, f.seconds),
                    saturated_occurrences: f.saturated,
                    short_occurrences: f.short,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locust::protocol::Sample;
    use crate::stats::delivery::Tally;
    use crate::stats::Recorder;

    /// A sample of 10 requests; with `at_a_rate`, measured from their
    /// intended start too, and `dropped` iterations of A dropped.
    fn sample(at_a_rate: bool, dropped: u64) -> Sample {
        let intended = if at_a_rate {
            vec![(10, 8), (900, 2)]
        } else {
            vec![]
        };
        crate::stats::tests::sample_of_a(10, intended, dropped)
    }

    /// Two loops of [`rate_plan`](crate::plan::tests::rate_plan), the first
    /// folded: 5 iterations dropped in it, 2 in the second.
    fn summary() -> Summary {
        let plan = crate::plan::tests::rate_plan();
        let mut r = Recorder::new(&plan, 0.0);
        let offered = Tally::interval(&[10.0], 1.0, 10, 100.0, 10, true);
        for (l, dropped) in [(0u64, 5u64), (1, 2)] {
            let start = l as f64 * 20.0;
            r.phase_started(0, l, start, plan.targets(0), plan.paces(0));
            r.sample(&sample(false, 0), start + 1.0, true, &offered);
            r.phase_started(1, l, start + 10.0, plan.targets(1), plan.paces(1));
            r.sample(&sample(true, dropped), start + 11.0, true, &offered);
        }
        r.fold(2, 2);
        r.finish(40.0, Ended::Completed, None);
        Summary::new(r.record(), &plan)
    }

    #[test]
    fn a_rate_phase_is_planned_measured_and_its_drops_counted() {
        let s = summary();
        assert_eq!(s.schema_version, 7);
        assert_eq!((s.plan[0].requests_per_s, s.plan[0].arrival), (None, None));
        assert_eq!(
            (s.plan[1].requests_per_s, s.plan[1].arrival),
            (Some(40.0), Some(Arrival::Poisson))
        );
        // The kept loop: the users' phase measured nothing from an intended
        // start and dropped nothing; the rate phase did both.
        assert_eq!(s.phases.len(), 2);
        assert_eq!(s.phases[0].counted.dropped_iterations, 0);
        assert_eq!(s.phases[0].counted.total.intended, None);
        assert_eq!(s.phases[1].counted.dropped_iterations, 2);
        let intended = s.phases[1]
            .counted
            .total
            .intended
            .expect("intended figures");
        assert_eq!(
            (intended.requests, intended.p50_ms, intended.p99_ms),
            (10, 10, 900)
        );
        assert_eq!(s.folded.len(), 2);
        assert_eq!(s.folded[1].counted.dropped_iterations, 5);
        assert_eq!(s.total.counted.dropped_iterations, 7);
        assert_eq!(s.total.counted.total.intended.map(|i| i.requests), Some(20));
        assert!(s.has_rate_figures());
        // A rate phase's sample has its p99; a users' one has none, and
        // summary.json leaves the field out there.
        let p99s: Vec<_> = s.series.iter().map(|p| p.p99_intended_ms).collect();
        assert_eq!(p99s, [None, Some(900), None, Some(900)]);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["phases"][1]["dropped_iterations"], 2);
        assert_eq!(json["folded"][1]["dropped_iterations"], 5);
        assert_eq!(json["total"]["dropped_iterations"], 7);
        assert_eq!(json["plan"][1]["requests_per_s"], 40.0);
        assert_eq!(json["plan"][1]["arrival"], "poisson");
        assert_eq!(json["plan"][0]["arrival"], serde_json::Value::Null);
        assert_eq!(json["phases"][1]["total"]["intended"]["p99_ms"], 900);
        assert_eq!(
            json["phases"][0]["total"]["intended"],
            serde_json::Value::Null
        );
        assert!(json["series"][0].get("p99_intended_ms").is_none());
        assert_eq!(json["series"][1]["p99_intended_ms"], 900);
    }

    #[test]
    fn a_summary_written_before_rate_phases_still_reads() {
        let mut json = serde_json::to_value(summary()).unwrap();
        let strip = |v: &mut serde_json::Value, keys: &[&str]| {
            if let Some(object) = v.as_object_mut() {
                for key in keys {
                    object.remove(*key);
                }
            }
        };
        for p in json["phases"].as_array_mut().unwrap() {
            strip(p, &["dropped_iterations"]);
            strip(&mut p["total"], &["intended"]);
        }
        for f in json["folded"].as_array_mut().unwrap() {
            strip(f, &["dropped_iterations"]);
        }
        for p in json["plan"].as_array_mut().unwrap() {
            strip(p, &["requests_per_s", "arrival"]);
        }
        strip(&mut json["total"], &["dropped_iterations"]);
        json["schema_version"] = 4.into();
        let old: Summary = serde_json::from_value(json).unwrap();
        assert_eq!(old.phases[1].counted.dropped_iterations, 0);
        assert_eq!(old.phases[1].counted.total.intended, None);
        assert_eq!(old.plan[1].requests_per_s, None);
        assert_eq!(old.total.counted.dropped_iterations, 0);
    }
}
