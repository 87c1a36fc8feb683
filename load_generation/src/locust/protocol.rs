//! The JSON-lines protocol between loadgen and its Python harness (`harness.py`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What the harness is set up as, written to a JSON file it reads at start.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    pub mode: Mode,
    pub locustfile: std::path::PathBuf,
    pub host: Option<String>,
    pub user_classes: Vec<String>,
    pub sample_interval: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect_workers: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers_timeout: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Local,
    Master,
    Worker,
}

/// A command to the harness.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Run exactly these users per class, with these waits (seconds).
    Targets {
        /// Which phase occurrence these targets belong to; samples carry it back.
        occurrence: usize,
        users: BTreeMap<String, u32>,
        waits: BTreeMap<String, (f64, f64)>,
    },
    /// Send a sample now (at a phase boundary, so each phase gets its own requests).
    Flush,
    /// Stop all users, send the last sample and exit.
    Stop,
}

/// An event from the harness.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    Ready {
        locust_version: String,
        #[serde(default)]
        workers: u32,
    },
    Sample(Sample),
    Warning {
        message: String,
        #[serde(default)]
        traceback: Option<String>,
    },
    Fatal {
        message: String,
        #[serde(default)]
        traceback: Option<String>,
    },
    Stopped,
}

/// One sampling interval: the users running now and the requests since the last sample.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Sample {
    /// Wall-clock time of the sample (seconds since the Unix epoch).
    pub t: f64,
    /// The phase occurrence of the targets in force when the sample was taken.
    #[serde(default)]
    pub occurrence: Option<usize>,
    pub users: BTreeMap<String, u32>,
    #[serde(default)]
    pub workers: u32,
    #[serde(default)]
    pub stats: Vec<RequestDelta>,
    #[serde(default)]
    pub errors: Vec<ErrorDelta>,
    #[serde(default)]
    pub exceptions: Vec<ExceptionDelta>,
    #[serde(default)]
    pub cpu: f64,
}

/// The requests of one name in one interval.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestDelta {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub total_ms: f64,
    /// (response time in ms as Locust rounds it, count) pairs.
    pub histogram: Vec<(u64, i64)>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDelta {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
}

/// An exception raised in the user's tasks, with how often it happened.
#[derive(Debug, Clone, Deserialize)]
pub struct ExceptionDelta {
    pub message: String,
    pub traceback: String,
    pub count: u64,
}
