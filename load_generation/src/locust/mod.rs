//! Everything about Locust itself: finding it, and the harness that runs it.

pub mod import_check;
pub mod install;
pub mod process;
pub mod protocol;
pub mod requirements;
pub mod users_at_end;
pub mod workspace;

/// The harness script, embedded so the binary is all a user needs.
pub const HARNESS_PY: &str = include_str!("harness.py");
/// Locust 0.x's names for Locust 2, written beside the harness, which imports it.
pub const LEGACY_PY: &str = include_str!("loadgen_legacy.py");
/// The open model (rate phases), written beside the harness, which imports it.
pub const OPEN_PY: &str = include_str!("loadgen_open.py");
/// The keyed master-worker link (ZeroMQ CURVE), imported by path like the open model.
pub const CLUSTER_PY: &str = include_str!("loadgen_cluster.py");
/// The trace context on every request, imported by path like the open model.
pub const TRACE_PY: &str = include_str!("loadgen_trace.py");
