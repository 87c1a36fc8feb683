//! Old phase occurrences folded into one aggregate per phase, so a run of weeks
//! keeps the detail of its recent loops and exact totals of all the others:
//! request counts, failures, errors and response-time histograms merge exactly.

use std::collections::BTreeMap;

use super::delivery::Delivery;
use super::{PhaseRecord, RequestKey, RequestStats};

/// Every folded occurrence of one phase, added up.
#[derive(Debug, Clone, Default)]
pub struct PhaseTotals {
    pub phase_index: usize,
    pub occurrences: u64,
    /// The occurrences' summed length.
    pub seconds: f64,
    pub requests: BTreeMap<RequestKey, RequestStats>,
    pub total: RequestStats,
    pub errors: BTreeMap<String, u64>,
    pub exceptions: u64,
    pub restarts: u32,
    /// Occurrences during which the generator was saturated.
    pub saturated: u64,
    /// Occurrences whose plan sets a request rate, and those that delivered
    /// less than 90% of it.
    pub judged: u64,
    pub short: u64,
    /// Planned and delivered requests, added up (each occurrence judged with
    /// its own phase's waits).
    pub planned_requests: f64,
    pub delivered_requests: f64,
    /// Rate phases' iterations dropped (see [`PhaseRecord::dropped`]).
    pub dropped: u64,
    /// Iterations run in rate occurrences (see [`PhaseRecord::rate_iterations`]).
    pub rate_iterations: u64,
    /// The first and last folded loop (0-based).
    pub first_loop: u64,
    pub last_loop: u64,
}

/// How many failure messages an aggregate keeps (beyond, they are counted under
/// one entry), so that ever-new messages can't grow it without bound.
const MAX_MESSAGES: usize = 100;
const OTHER_MESSAGES: &str = "(other failure messages)";

impl PhaseTotals {
    /// Adds an occurrence; `delivery` is its planned against delivered, if known.
    pub fn add(&mut self, p: &PhaseRecord, delivery: Option<&Delivery>) {
        if self.occurrences == 0 {
            self.phase_index = p.phase_index;
            self.first_loop = p.loop_index;
        }
        self.occurrences += 1;
        self.last_loop = p.loop_index;
        self.seconds += p.seconds();
        for (key, stats) in &p.requests {
            self.requests.entry(key.clone()).or_default().merge(stats);
        }
        self.total.merge(&p.total);
        for (message, count) in &p.errors {
            let key = if self.errors.len() < MAX_MESSAGES || self.errors.contains_key(message) {
                message.as_str()
            } else {
                OTHER_MESSAGES
            };
            *self.errors.entry(key.to_string()).or_default() += count;
        }
        self.exceptions += p.exceptions;
        self.restarts += p.restarts;
        self.dropped += p.dropped;
        self.rate_iterations += p.rate_iterations();
        self.saturated += u64::from(p.saturated);
        if let Some(d) = delivery {
            self.judged += 1;
            self.short += u64::from(d.short());
            self.planned_requests += d.planned_requests_per_s * p.delivery.seconds;
            self.delivered_requests += d.delivered_requests_per_s * p.delivery.seconds;
        }
    }
}
