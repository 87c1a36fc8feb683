//! The summary of a run as data: what `summary.json` holds, and what the table,
//! the CSV and the HTML report are drawn from. The schema is documented in
//! `docs/report.md`; fields are only ever added, never renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::stats::delivery::{Delivery, RunDelivery};
use crate::stats::{
    Ended, ExceptionRecord, Figures, RequestKey, RequestStats, RunEvent, RunRecord, TimePoint,
};
use crate::verdict::evaluate::Judged;

/// Bumped when fields change: 2 added `thresholds`, `events`, `events_dropped`,
/// `occurrences_folded`, `folded`, each occurrence's `index`, `errors_count`,
/// `name` and `saturated`, and each series point's `seconds`; 3 added each
/// occurrence's `delivery` and `short`, each folded phase's `short_occurrences`
/// and the total's `delivery`; 4 added `ended` and `ended_reason` (a summary.json
/// written by an earlier version reads as `completed`).
pub const SCHEMA_VERSION: u32 = 4;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
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
    pub total: Figures,
    pub errors_count: u64,
    pub restarts: u32,
    pub saturated_occurrences: u64,
    /// Occurrences that delivered less than 90% of the rate their plan implied.
    pub short_occurrences: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedPhase {
    pub phase: usize,
    pub duration_s: f64,
    pub hatch_rate_per_s: u32,
    /// Users per user class.
    pub users: BTreeMap<String, u32>,
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
    pub restarts: u32,
    pub requests: Vec<RequestSummary>,
    pub total: Figures,
    pub errors: BTreeMap<String, u64>,
    /// Exceptions raised in the users' code during the occurrence.
    pub errors_count: u64,
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
    pub requests: Vec<RequestSummary>,
    pub total: Figures,
    /// Planned against delivered over the occurrences whose plan sets a rate
    /// (`null` if none does).
    pub delivery: Option<RunDelivery>,
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
                restarts: p.restarts,
                requests: requests(&p.requests, p.seconds()),
                total: p.total.figures(p.seconds()),
                errors: p.errors.clone(),
                errors_count: p.exceptions,
                saturated: p.saturated,
                delivery: p.delivery(),
                short: p.delivery().is_some_and(|d| d.short()),
                name: plan
                    .phases
                    .get(p.phase_index)
                    .and_then(|ph| ph.name.clone()),
            })
            .collect();
        let (per_name, total) = record.totals();
        Summary {
            schema_version: SCHEMA_VERSION,
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
                })
                .collect(),
            phases,
            total: Totals {
                requests: requests(&per_name, record.duration_s),
                total: total.figures(record.duration_s),
                delivery: RunDelivery::of(record),
            },
            exceptions: record.exceptions.clone(),
            series: record
                .series
                .points()
                .map(|point| {
                    let mut point = point.clone();
                    point.target_users.resize(classes.len(), 0);
                    point.actual_users.resize(classes.len(), 0);
                    point
                })
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
                    total: f.total.figures(f.seconds),
                    errors_count: f.exceptions,
                    restarts: f.restarts,
                    saturated_occurrences: f.saturated,
                    short_occurrences: f.short,
                })
                .collect(),
        }
    }
}
