//! What the run shows those who follow it: the [`Status`] of the run at a
//! moment, and the [`Observer`] trait that progress, metrics, the verdict and
//! the checkpoints implement. The control API answers with the same status,
//! in its own JSON shape ([`Status::api`]).

use crate::control;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::locust::protocol::Sample;
use crate::plan::{Counts, Plan, Slot};
use crate::stats::delivery::Delivery;
use crate::stats::{PhaseRecord, Recorder, RunEvent, RunRecord};

/// What the run looks like right now, for observers.
#[derive(Debug, Clone)]
pub struct Status<'a> {
    pub plan: &'a Plan,
    pub slot: Slot,
    /// Wall-clock time since the run started.
    pub elapsed: Duration,
    /// Where in the plan's timeline the run is (moved by jumps, held by a pause).
    pub position: Duration,
    pub paused: bool,
    /// Every phase's users times this (live control's `scale`; 1 = the plan).
    pub scale: f64,
    /// Users per type the running phase asks for (scaled by live control).
    pub targets: Counts,
    pub run_time: Option<Duration>,
    /// Users per type that loadgen asks for at this moment (mid-ramp included).
    pub commanded: &'a Counts,
    /// Users per type that Locust reported in its last sample.
    pub actual: &'a Counts,
    pub restarts: u32,
    /// Requests per second in Locust's last sample.
    pub requests_per_s: f64,
    pub workers: u32,
    /// Users each connected worker runs, by worker id (empty without workers).
    pub worker_users: &'a BTreeMap<String, u32>,
    /// Locust is CPU-bound: it can't deliver the plan, its latencies are unreliable.
    pub saturated: bool,
    /// The running occurrence's planned against delivered request rate over
    /// the last seconds, once known.
    pub delivery: Option<Delivery>,
    /// It delivers less than its plan implies (see [`shortfall`]).
    pub short: bool,
    /// A rate phase's iterations are being dropped (see `dropping`).
    pub dropping: bool,
}

impl Status<'_> {
    /// The status as the control API answers it, with the totals of `record`.
    pub fn api(&self, record: &RunRecord) -> control::Status {
        let totals = record.total();
        let slot = self.slot;
        let left = |end: Duration, at: Duration| end.saturating_sub(at).as_secs_f64();
        control::Status {
            phase: slot.phase_index + 1,
            phase_name: self
                .plan
                .phases
                .get(slot.phase_index)
                .and_then(|p| p.name.clone()),
            loop_number: slot.loop_index + 1,
            phases: self.plan.phases.len(),
            phase_left_s: left(slot.end, self.position),
            run_left_s: self.run_time.map(|t| left(t, self.elapsed)),
            elapsed_s: self.elapsed.as_secs_f64(),
            paused: self.paused,
            scale: self.scale,
            users: self
                .plan
                .user_classes()
                .into_iter()
                .enumerate()
                .map(|(i, class)| {
                    let users = control::Users {
                        target: self.targets.get(i).copied().unwrap_or(0),
                        actual: self.actual.get(i).copied().unwrap_or(0),
                    };
                    (class, users)
                })
                .collect(),
            requests_per_s: self.requests_per_s,
            requests: totals.requests,
            failures: totals.failures,
            errors: record.exceptions.iter().map(|e| e.count).sum(),
            restarts: record.restarts,
            workers: self.worker_users.clone(),
        }
    }
}

/// Something that wants to follow the run as it happens.
pub trait Observer {
    fn phase_started(&mut self, _status: &Status) {}
    fn sample(&mut self, _status: &Status, _sample: &Sample) {}
    /// A sample collected while the run stops (the users' last requests):
    /// its figures reach the record, and each occurrence's at its close
    /// ([`Observer::occurrence_closed`]); this is for what a record does not
    /// keep (the sampled requests' spans).
    fn last_sample(&mut self, _sample: &Sample) {}
    /// A phase occurrence's statistics are final (its last sample is in).
    fn occurrence_closed(&mut self, _status: &Status, _record: &PhaseRecord) {}
    /// After every sample, the record so far: to be copied only by an observer
    /// that needs it now (a checkpoint).
    fn recorded(&mut self, _status: &Status, _record: &Recorder) {}
    fn note(&mut self, _message: &str) {}
    /// A control action, a reload or a restart (also said with [`Observer::note`]).
    fn event(&mut self, _event: &RunEvent) {}
    /// Asked after every event: `Some(reason)` ends the run early (as its run
    /// time would, with the summary and report written).
    fn should_stop(&self) -> Option<String> {
        None
    }
    fn finished(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Recorder;

    #[test]
    fn the_api_answers_the_same_status_with_the_phase_named() {
        let text = r#"
            phases { name: "quiet" duration: 60 num_users: 4 hatch_rate_per_s: 4
              user_types { name: "Browse" ratio: 1 } }
            phases { name: "rush" duration: 30 num_users: 10 hatch_rate_per_s: 10
              user_types { name: "Browse" ratio: 1 } user_types { name: "Buy" ratio: 1 } }
        "#;
        let loaded = crate::config::parse(crate::diagnostic::SourceText::new(
            "load.pbtxt",
            text.to_string(),
        ))
        .expect("a valid config");
        let plan = Plan::new(&loaded.config);
        let (commanded, actual) = (vec![5, 5], vec![5, 3]);
        let workers = BTreeMap::new();
        let status = Status {
            plan: &plan,
            slot: plan.slot_at(Duration::from_secs(70)),
            elapsed: Duration::from_secs(75),
            position: Duration::from_secs(70),
            paused: false,
            scale: 1.0,
            targets: plan.targets(1),
            run_time: Some(Duration::from_secs(100)),
            commanded: &commanded,
            actual: &actual,
            restarts: 0,
            requests_per_s: 12.5,
            workers: 0,
            worker_users: &workers,
            saturated: false,
            delivery: None,
            short: false,
            dropping: false,
        };
        let api = status.api(Recorder::new(&plan, 0.0).record());
        assert_eq!((api.phase, api.phases, api.loop_number), (2, 2, 1));
        assert_eq!(api.phase_name.as_deref(), Some("rush"));
        assert_eq!((api.phase_left_s, api.run_left_s), (20.0, Some(25.0)));
        assert_eq!(api.requests_per_s, 12.5);
        let users: Vec<(&str, u32, u32)> = api
            .users
            .iter()
            .map(|(class, u)| (class.as_str(), u.target, u.actual))
            .collect();
        assert_eq!(users, [("BrowseUser", 5, 5), ("BuyUser", 5, 3)]);
    }
}
