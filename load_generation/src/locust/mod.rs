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
/// The harness's siblings, written beside it (as `loadgen_harness.py` is) and
/// imported by their paths: each one's part is said in its own docstring and
/// in the harness's.
pub const SIBLINGS: &[(&str, &str)] = &[
    ("loadgen_protocol.py", include_str!("loadgen_protocol.py")),
    ("loadgen_base.py", include_str!("loadgen_base.py")),
    ("loadgen_master.py", include_str!("loadgen_master.py")),
    ("loadgen_worker.py", include_str!("loadgen_worker.py")),
    ("loadgen_sample.py", include_str!("loadgen_sample.py")),
    ("loadgen_output.py", include_str!("loadgen_output.py")),
    ("loadgen_userfiles.py", include_str!("loadgen_userfiles.py")),
    ("loadgen_patches.py", include_str!("loadgen_patches.py")),
    ("loadgen_dispatch.py", include_str!("loadgen_dispatch.py")),
    ("loadgen_legacy.py", include_str!("loadgen_legacy.py")),
    ("loadgen_open.py", include_str!("loadgen_open.py")),
    ("loadgen_trace.py", include_str!("loadgen_trace.py")),
    ("loadgen_cluster.py", include_str!("loadgen_cluster.py")),
];
