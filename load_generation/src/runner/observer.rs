//! What the run shows those who follow it: the [`Status`] of the run at a
//! moment, and the [`Observer`] trait that progress, metrics, the verdict and
//! the checkpoints implement (the control API reads a status of its own,
//! `Run::control_status`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::locust::protocol::Sample;
use crate::plan::{Counts, Plan, Slot};
use crate::stats::delivery::Delivery;
use crate::stats::{PhaseRecord, Recorder, RunEvent};

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
    /// Users per type the running phase asks for (scaled by live control).
    pub targets: Counts,
    pub run_time: Option<Duration>,
    /// Users per type that loadgen asks for at this moment (mid-ramp included).
    pub commanded: &'a Counts,
    /// Users per type that Locust reported in its last sample.
    pub actual: &'a Counts,
    pub restarts: u32,
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
}

/// Something that wants to follow the run as it happens.
pub trait Observer {
    fn phase_started(&mut self, _status: &Status) {}
    fn sample(&mut self, _status: &Status, _sample: &Sample) {}
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
