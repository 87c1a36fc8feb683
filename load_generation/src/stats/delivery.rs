//! Planned against delivered: the request rate a phase's users and waits imply,
//! and the rate Locust actually produced.
//!
//! A user of a closed-loop load does a task, then waits. With `U` users of a
//! type whose mean wait is `W` (from the config), tasks that make `k` requests
//! each (measured: requests / task iterations, a property of the task mix) and
//! responses that take `R` on average, the plan implies
//!
//! ```text
//! U × k / (W + k × R)   requests per second
//! ```
//!
//! `R` is taken only from *calm* samples (`runner::saturation::calm`): the
//! generator not saturated, under half busy, and its event loop never holding a
//! user more than 20 ms. A busy Locust measures its own queueing as response
//! time, and counting it would lower the plan to whatever was delivered: a
//! saturated generator must never lower the plan it is judged against. With no
//! calm sample, `R` is 0 (the rate at instant responses). A slow target
//! therefore lowers the plan (that is the target's answer, not a shortfall); a
//! generator that can't run its users on time does not.
//!
//! A type of a rate phase (open model) is planned at its rate whatever the
//! response times: `k` requests for each iteration the rate asks for.
//!
//! The rate is known only where every type with users has waits from the config
//! (a plain locustfile may keep its class's own `wait_time`) and a mean wait or
//! response time above 0 (`wait 0` asks for as much as the target gives).

use serde::{Deserialize, Serialize};

use crate::plan::Pace;

/// Below this share of the planned rate, an occurrence is *short*.
pub const SHORTFALL: f64 = 0.90;

/// What one span of the run (a sample interval, an occurrence, a window) was
/// asked for and what it delivered. Tallies add up exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Per user type (plan order): users loadgen asked for × seconds.
    pub user_seconds: Vec<f64>,
    pub seconds: f64,
    pub requests: u64,
    /// Task iterations: a task run and the wait after it.
    pub iterations: u64,
    /// Requests and their summed response times (ms) in calm samples (see the
    /// module's comment): the target's own response times.
    pub calm_requests: u64,
    pub calm_ms: f64,
}

/// The planned and delivered rates of a tally.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Requests per second the plan implies (see the module's comment).
    pub planned_requests_per_s: f64,
    pub delivered_requests_per_s: f64,
    /// Delivered / planned.
    pub delivered_ratio: f64,
    /// Measured requests per task iteration.
    pub requests_per_task: f64,
    /// The mean response time used (ms), from unsaturated samples (0 if none).
    pub response_ms: f64,
}

impl Delivery {
    /// Less than [`SHORTFALL`] of the plan was delivered.
    pub fn short(&self) -> bool {
        self.delivered_ratio < SHORTFALL
    }
}

impl Tally {
    /// One sample interval: `users` per type (the mean of what loadgen asked for
    /// over the interval) for `seconds`; `calm` if its response times are the
    /// target's (see the module's comment).
    pub fn interval(
        users: &[f64],
        seconds: f64,
        requests: u64,
        total_ms: f64,
        iterations: u64,
        calm: bool,
    ) -> Tally {
        let (calm_requests, calm_ms) = if calm { (requests, total_ms) } else { (0, 0.0) };
        Tally {
            user_seconds: users.iter().map(|u| u * seconds).collect(),
            seconds,
            requests,
            iterations,
            calm_requests,
            calm_ms,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        if self.user_seconds.len() < other.user_seconds.len() {
            self.user_seconds.resize(other.user_seconds.len(), 0.0);
        }
        for (mine, theirs) in self.user_seconds.iter_mut().zip(&other.user_seconds) {
            *mine += theirs;
        }
        self.seconds += other.seconds;
        self.requests += other.requests;
        self.iterations += other.iterations;
        self.calm_requests += other.calm_requests;
        self.calm_ms += other.calm_ms;
    }

    /// Task iterations the plan implies at instant responses (users × seconds /
    /// mean wait), or `None` where the plan sets no rate.
    fn iterations_at_instant_responses(&self, paces: &[Option<Pace>]) -> Option<f64> {
        let mut sum = 0.0;
        for (i, &user_seconds) in self.user_seconds.iter().enumerate() {
            if user_seconds <= 0.0 {
                continue;
            }
            match (*paces.get(i)?)? {
                Pace::Wait(wait) if wait > 0.0 => sum += user_seconds / wait,
                Pace::Wait(_) => return None,
                Pace::RatePerUser { rate_per_user } => sum += user_seconds * rate_per_user,
            }
        }
        Some(sum)
    }

    /// Planned against delivered, with each type's pace (`None` where the
    /// config gives none). `None` where the plan sets no rate, or nothing was
    /// asked for.
    pub fn judge(&self, paces: &[Option<Pace>]) -> Option<Delivery> {
        if self.seconds <= 0.0 {
            return None;
        }
        // No requests per task can be measured from nothing; a span where
        // nothing happened at all fell short of any plan (as if one per task).
        let requests_per_task = match (self.iterations, self.requests) {
            (0, 0) => 1.0,
            (0, _) => return None,
            (i, r) => r as f64 / i as f64,
        };
        let response_s = if self.calm_requests > 0 {
            self.calm_ms / self.calm_requests as f64 / 1000.0
        } else {
            0.0
        };
        let k = requests_per_task;
        let mut planned = 0.0;
        for (i, &user_seconds) in self.user_seconds.iter().enumerate() {
            if user_seconds <= 0.0 {
                continue;
            }
            planned += match (*paces.get(i)?)? {
                // The open model: the rate's iterations, however long each takes.
                Pace::RatePerUser { rate_per_user } => user_seconds * rate_per_user * k,
                Pace::Wait(wait) => {
                    let cycle = wait + k * response_s;
                    if wait <= 0.0 || cycle <= 0.0 {
                        return None;
                    }
                    user_seconds * k / cycle
                }
            };
        }
        if planned <= 0.0 {
            return None;
        }
        let planned_rps = planned / self.seconds;
        let delivered_rps = self.requests as f64 / self.seconds;
        Some(Delivery {
            planned_requests_per_s: planned_rps,
            delivered_requests_per_s: delivered_rps,
            delivered_ratio: delivered_rps / planned_rps,
            requests_per_task,
            response_ms: response_s * 1000.0,
        })
    }

    /// Enough happened to judge a span: the plan asks for at least `min`
    /// task iterations in it, so that a few users' timing is not taken for a trend.
    pub fn judgeable(&self, paces: &[Option<Pace>], min: f64) -> bool {
        self.iterations_at_instant_responses(paces)
            .is_some_and(|n| n >= min)
    }
}

/// The whole run's planned and delivered requests, each occurrence judged by
/// its own phase's users and waits.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct RunDelivery {
    pub planned_requests: f64,
    pub delivered_requests: f64,
    /// Delivered / planned.
    pub delivered_ratio: f64,
    /// Occurrences judged (whose plan sets a rate), and those that fell short.
    pub judged_occurrences: u64,
    pub short_occurrences: u64,
}

impl RunDelivery {
    /// Adds up the run's occurrences, kept in detail and folded.
    pub fn of(record: &super::RunRecord) -> Option<RunDelivery> {
        let mut run = RunDelivery {
            planned_requests: 0.0,
            delivered_requests: 0.0,
            delivered_ratio: 0.0,
            judged_occurrences: 0,
            short_occurrences: 0,
        };
        for p in &record.phases {
            if let Some(d) = p.delivery() {
                run.planned_requests += d.planned_requests_per_s * p.delivery.seconds;
                run.delivered_requests += d.delivered_requests_per_s * p.delivery.seconds;
                run.judged_occurrences += 1;
                run.short_occurrences += u64::from(d.short());
            }
        }
        for f in &record.folded {
            run.planned_requests += f.planned_requests;
            run.delivered_requests += f.delivered_requests;
            run.judged_occurrences += f.judged;
            run.short_occurrences += f.short;
        }
        (run.planned_requests > 0.0).then(|| RunDelivery {
            delivered_ratio: run.delivered_requests / run.planned_requests,
            ..run
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(users: &[f64], seconds: f64, requests: u64, ms: f64, iterations: u64) -> Tally {
        Tally::interval(users, seconds, requests, ms, iterations, true)
    }

    #[test]
    fn the_plan_is_users_over_waits_times_requests_per_task() {
        // 1,500 users at 1 s waits, 1.2 requests per task, instant responses:
        // 1,800 req/s planned; 560 delivered is 31%.
        let t = Tally::interval(&[1500.0], 10.0, 5600, 5600.0 * 2000.0, 4667, false);
        let d = t.judge(&[Some(Pace::Wait(1.0))]).unwrap();
        assert!((d.requests_per_task - 1.2).abs() < 0.001, "{d:?}");
        assert!((d.planned_requests_per_s - 1800.0).abs() < 1.0, "{d:?}");
        assert!((d.delivered_requests_per_s - 560.0).abs() < 1e-9);
        assert!((d.delivered_ratio - 0.311).abs() < 0.001, "{d:?}");
        assert!(d.short());
        assert_eq!(
            d.response_ms, 0.0,
            "saturated samples' times are not the target's"
        );
    }

    #[test]
    fn a_slow_target_lowers_the_plan_and_is_no_shortfall() {
        // 10 users, 0.5 s waits, one request per task answered in 0.5 s: a cycle
        // is 1 s, so 10 req/s is all the plan can get from this target.
        let t = tally(&[10.0], 20.0, 200, 200.0 * 500.0, 200);
        let d = t.judge(&[Some(Pace::Wait(0.5))]).unwrap();
        assert!((d.planned_requests_per_s - 10.0).abs() < 1e-9, "{d:?}");
        assert!((d.delivered_ratio - 1.0).abs() < 1e-9);
        assert!(!d.short());
        assert_eq!(d.response_ms, 500.0);
    }

    #[test]
    fn types_add_up_by_their_own_waits() {
        // 10 users at 1 s and 20 at 0.25 s, one request per task: 10 + 80 = 90/s.
        let t = tally(&[10.0, 20.0, 0.0], 2.0, 160, 0.0, 160);
        let d = t
            .judge(&[Some(Pace::Wait(1.0)), Some(Pace::Wait(0.25)), None])
            .unwrap();
        assert!((d.planned_requests_per_s - 90.0).abs() < 1e-9, "{d:?}");
        assert!((d.delivered_ratio - 80.0 / 90.0).abs() < 1e-9);
        assert!(d.short(), "89% is short of 90%");
    }

    #[test]
    fn tallies_add_up_exactly() {
        let mut whole = Tally::default();
        whole.add(&tally(&[10.0], 1.0, 12, 24.0, 10));
        whole.add(&Tally::interval(&[10.0, 4.0], 0.5, 3, 600.0, 2, false));
        assert_eq!(whole.user_seconds, vec![15.0, 2.0]);
        assert_eq!(whole.seconds, 1.5);
        assert_eq!((whole.requests, whole.iterations), (15, 12));
        assert_eq!((whole.calm_requests, whole.calm_ms), (12, 24.0));
    }

    #[test]
    fn no_rate_without_waits_and_nothing_from_nothing() {
        let t = tally(&[5.0], 1.0, 50, 10.0, 50);
        // The class's own wait_time: unknown.
        assert_eq!(t.judge(&[None]), None);
        // wait 0 at instant responses: as fast as possible, no planned rate.
        assert_eq!(
            tally(&[5.0], 1.0, 50, 0.0, 50).judge(&[Some(Pace::Wait(0.0))]),
            None
        );
        // A type that had no users needs no wait.
        assert!(tally(&[5.0, 0.0], 1.0, 5, 0.0, 5)
            .judge(&[Some(Pace::Wait(1.0)), None])
            .is_some());
        // Nothing asked for, nothing to judge.
        assert_eq!(
            tally(&[0.0], 1.0, 0, 0.0, 0).judge(&[Some(Pace::Wait(1.0))]),
            None
        );
        assert_eq!(Tally::default().judge(&[Some(Pace::Wait(1.0))]), None);
        // Users asked for but not a request nor a task: a total shortfall.
        let stuck = tally(&[5.0], 2.0, 0, 0.0, 0)
            .judge(&[Some(Pace::Wait(1.0))])
            .unwrap();
        assert_eq!(stuck.delivered_ratio, 0.0);
        // Requests but no finished task (tasks longer than the span): unknown.
        assert_eq!(
            tally(&[5.0], 1.0, 9, 9.0, 0).judge(&[Some(Pace::Wait(1.0))]),
            None
        );
    }

    #[test]
    fn a_span_is_judged_only_when_the_plan_asks_for_enough() {
        let t = tally(&[4.0], 4.0, 16, 0.0, 16);
        assert!(
            !t.judgeable(&[Some(Pace::Wait(1.0))], 50.0),
            "16 tasks planned"
        );
        assert!(
            t.judgeable(&[Some(Pace::Wait(0.25))], 50.0),
            "64 tasks planned"
        );
        assert!(!t.judgeable(&[None], 1.0));
    }
}
