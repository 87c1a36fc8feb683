//! Shortfall: the run delivers less than the request rate its plan implies
//! (see `stats::delivery` for the arithmetic). Watched over the last few
//! seconds of the running occurrence, so it is said while the run goes.

use std::collections::VecDeque;

use crate::plan::Pace;
use crate::stats::delivery::{Delivery, Tally, SHORTFALL};

/// The shortest span judged: 8 samples of 0.5 s. With the 2 s it takes to see
/// saturation, a shortfall is said within 5 s of its start. With workers, as
/// many times this: their reports reach the master's samples unevenly (two in
/// one, none in the next), and a span must hold enough of them that one more or
/// one less is not taken for a shortfall.
const MIN_SECONDS: f64 = 4.0;
/// The longest span looked back over, for light loads.
const MAX_SECONDS: f64 = 30.0;
/// A span is judged once the plan asks for this many tasks in it: fewer, and a
/// few users' random waits would be taken for a trend.
const MIN_TASKS: f64 = 50.0;
/// A shortfall ends when the delivered share is back above this (above
/// [`SHORTFALL`], so that a run hovering at the limit is not said every second).
const RECOVERED: f64 = 0.95;

/// A change worth saying, with the figures it was judged on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Began(Delivery),
    Ended(Delivery),
}

/// The shortfall state machine, fed one sample interval at a time.
#[derive(Debug, Default)]
pub struct Watch {
    short: bool,
    occurrence: Option<usize>,
    /// The running occurrence's recent intervals, newest last.
    window: VecDeque<Tally>,
    /// The whole running occurrence: its calm response times stand in for a
    /// window that has none (a generator busy for the last seconds).
    occurrence_tally: Tally,
    /// The latest judgement (for `-v` and the progress line).
    latest: Option<Delivery>,
}

impl Watch {
    pub fn short(&self) -> bool {
        self.short
    }

    pub fn latest(&self) -> Option<Delivery> {
        self.latest
    }

    /// Takes one interval of `occurrence`, whose types wait `waits` seconds on
    /// average, run by `workers` workers (0 for one local process). Each
    /// occurrence is judged on its own intervals only: a new phase's users and
    /// waits are not mixed with the last one's.
    pub fn observe(
        &mut self,
        occurrence: usize,
        interval: Tally,
        waits: &[Option<Pace>],
        workers: u32,
    ) -> Option<Change> {
        let min_seconds = (MIN_SECONDS * f64::from(workers.max(1))).min(MAX_SECONDS);
        if self.occurrence != Some(occurrence) {
            self.occurrence = Some(occurrence);
            self.window.clear();
            self.occurrence_tally = Tally::default();
            self.latest = None;
        }
        self.occurrence_tally.add(&interval);
        self.window.push_back(interval);
        while self.window.len() > 1
            && self.window.iter().skip(1).map(|t| t.seconds).sum::<f64>() >= MAX_SECONDS
        {
            self.window.pop_front();
        }
        // The newest intervals that make a span worth judging.
        let mut span = Tally::default();
        let mut judged = None;
        for t in self.window.iter().rev() {
            span.add(t);
            if span.seconds >= min_seconds && span.judgeable(waits, MIN_TASKS) {
                if span.calm_requests == 0 {
                    span.calm_requests = self.occurrence_tally.calm_requests;
                    span.calm_ms = self.occurrence_tally.calm_ms;
                }
                judged = span.judge(waits);
                break;
            }
        }
        let delivery = judged?;
        self.latest = Some(delivery);
        let ratio = delivery.delivered_ratio;
        if !self.short && ratio < SHORTFALL {
            self.short = true;
            return Some(Change::Began(delivery));
        }
        if self.short && ratio >= RECOVERED {
            self.short = false;
            return Some(Change::Ended(delivery));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One 0.5 s interval of `users` at one request per task.
    fn interval(users: f64, requests: u64) -> Tally {
        Tally::interval(&[users], 0.5, requests, 0.0, requests, true)
    }

    #[test]
    fn a_shortfall_is_said_after_4_s_and_its_end_once_recovered() {
        let mut w = Watch::default();
        let waits = [Some(Pace::Wait(1.0))];
        // 100 users at 1 s: 50 requests per interval planned; 30 delivered.
        let said: Vec<_> = (0..10)
            .filter_map(|i| w.observe(0, interval(100.0, 30), &waits, 0).map(|c| (i, c)))
            .collect();
        assert_eq!(said.len(), 1, "{said:?}");
        assert_eq!(said[0].0, 7, "judged once 4 s are in");
        let Change::Began(d) = said[0].1 else {
            panic!("{said:?}")
        };
        assert!((d.delivered_ratio - 0.6).abs() < 1e-9, "{d:?}");
        assert!(w.short());
        // 92% is not recovered yet; 100% is, once the window holds it.
        for _ in 0..20 {
            assert_eq!(w.observe(0, interval(100.0, 46), &waits, 0), None);
        }
        let ended = (0..20).find_map(|_| w.observe(0, interval(100.0, 50), &waits, 0));
        assert!(matches!(ended, Some(Change::Ended(_))), "{ended:?}");
        assert!(!w.short());
    }

    #[test]
    fn a_light_load_is_judged_over_a_longer_span_and_a_new_phase_starts_afresh() {
        let mut w = Watch::default();
        let waits = [Some(Pace::Wait(1.0))];
        // 4 users at 1 s: 2 tasks per interval; 50 planned tasks take 12.5 s.
        for _ in 0..24 {
            assert_eq!(w.observe(0, interval(4.0, 1), &waits, 0), None);
        }
        assert!(w.latest().is_none());
        assert!(matches!(
            w.observe(0, interval(4.0, 1), &waits, 0),
            Some(Change::Began(_))
        ));
        // The next occurrence is judged on its own intervals only.
        assert_eq!(w.observe(1, interval(100.0, 50), &waits, 0), None);
        assert!(w.latest().is_none(), "one interval of the new phase");
        let back = (0..8).find_map(|_| w.observe(1, interval(100.0, 50), &waits, 0));
        assert!(matches!(back, Some(Change::Ended(_))), "{back:?}");
    }

    #[test]
    fn with_workers_a_longer_span_is_judged() {
        let mut w = Watch::default();
        let waits = [Some(Pace::Wait(1.0))];
        // Two workers: 8 s, 16 samples, before the first judgement.
        let first = (0..40).find(|_| {
            w.observe(0, interval(100.0, 30), &waits, 2);
            w.latest().is_some()
        });
        assert_eq!(first, Some(15));
    }

    #[test]
    fn a_plan_without_a_rate_is_never_short() {
        let mut w = Watch::default();
        for _ in 0..100 {
            assert_eq!(w.observe(0, interval(100.0, 1), &[None], 0), None);
            assert_eq!(
                w.observe(0, interval(100.0, 1), &[Some(Pace::Wait(0.0))], 0),
                None
            );
        }
        assert!(!w.short());
    }
}
