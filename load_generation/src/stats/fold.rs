//! Old phase occurrences folded into one aggregate per phase, so a run of weeks
//! keeps the detail of its recent loops and exact totals of all the others:
//! what they counted merges exactly ([`Counted::merge`]); what is judged per
//! occurrence (saturated, short of its rate) is counted in occurrences.

use super::delivery::Delivery;
use super::{Counted, PhaseRecord};

/// Every folded occurrence of one phase, added up.
#[derive(Debug, Clone, Default)]
pub struct PhaseTotals {
    pub phase_index: usize,
    pub occurrences: u64,
    /// The occurrences' summed length.
    pub seconds: f64,
    /// Their requests, failures, exceptions, restarts and drops.
    pub counted: Counted,
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
    /// The first and last folded loop (0-based).
    pub first_loop: u64,
    pub last_loop: u64,
}

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
        self.counted.merge(&p.counted);
        self.saturated += u64::from(p.saturated);
        if let Some(d) = delivery {
            self.judged += 1;
            self.short += u64::from(d.short());
            self.planned_requests += d.planned_requests_per_s * p.delivery.seconds;
            self.delivered_requests += d.delivered_requests_per_s * p.delivery.seconds;
        }
    }
}
