//! loadgen's end-to-end and whole-tree tests, in one binary.
//!
//! One binary, not one per file: `cargo test` runs test binaries one after
//! another, and these tests mostly wait (a load of a few users against the
//! demo shop, phases of a few seconds), so one binary lets two of them run side
//! by side on two cores (see [`common::alone`] for the ones that may not), and
//! links once instead of thirty-five times. Each file is a module named as it
//! was: `cargo test --test e2e hosts::` runs what `--test hosts` ran.

mod common;

/// `loadgen shape`'s five-minute replay, named to sort first (see its file).
#[path = "replay.rs"]
mod a_replayed_week;

mod architecture;
mod check_import;
mod cli;
mod client;
mod cluster_key;
mod control;
mod dashboard;
mod demo;
mod deploy_manifests;
mod distributed;
mod dockerfile;
mod grafana;
mod heartbeat;
mod hostile_input;
mod hosts;
mod legacy;
mod locustfiles;
mod long_run;
mod metrics;
mod no_shell;
mod open_arrivals;
mod open_model;
mod otlp;
mod parity;
mod phases;
mod protocol;
mod rebinding;
mod record;
mod reliability;
mod report;
mod saturation;
mod secrets;
mod semantics;
mod shape;
mod stale_share;
mod start_at;
mod trace_context;
mod user_errors;
mod verdict;
mod worker;
