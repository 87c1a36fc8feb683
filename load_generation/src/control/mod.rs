//! Live control: an HTTP API (off by default) to see the run and steer it while
//! it goes (jump to a phase, pause, resume, scale), and `loadgen ctl`, its client.
//!
//! The server turns each call into a [`Request`] for the run loop, which applies
//! it to the schedule and answers with the run's [`Status`] afterwards. The
//! endpoints and their JSON are documented in `docs/control.md`.

pub mod client;
pub mod host;
pub mod server;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// What a caller asks of the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Status,
    /// Go to this phase now (0-based).
    Jump(usize),
    Next,
    Pause,
    Resume,
    /// Every phase's users times this, from now on.
    Scale(f64),
}

/// One call, waiting for the run loop's answer.
#[derive(Debug)]
pub struct Request {
    pub action: Action,
    pub reply: oneshot::Sender<Result<Status, String>>,
}

/// The run as the control API shows it (`GET /status`, and every answer).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// 1-based phase number and loop number.
    pub phase: usize,
    pub phase_name: Option<String>,
    pub loop_number: u64,
    pub phases: usize,
    pub phase_left_s: f64,
    /// `None` for a run without a run time.
    pub run_left_s: Option<f64>,
    pub elapsed_s: f64,
    pub paused: bool,
    pub scale: f64,
    /// Users per user type: what the phase asks for and what Locust runs.
    pub users: BTreeMap<String, Users>,
    /// Over the last sample interval.
    pub requests_per_s: f64,
    /// Since the run began.
    pub requests: u64,
    pub failures: u64,
    /// Exceptions raised in the users' code.
    pub errors: u64,
    pub restarts: u32,
    /// Users per connected Locust worker, by Locust's worker id; empty when
    /// Locust runs as one process.
    #[serde(default)]
    pub workers: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Users {
    pub target: u32,
    pub actual: u32,
}

/// The answer of a refused call (`409`, `400`, `401`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    pub error: String,
}
