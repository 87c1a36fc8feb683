//! The protocol's golden file, checked from the harness's side (the Rust side is
//! checked by the unit tests in `src/locust/protocol.rs`).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/protocol.jsonl");
const HARNESS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/locust/harness.py");

fn check(golden: &Path) -> (bool, String) {
    let out = Command::new(locust_python("protocol"))
        .arg(HARNESS)
        .arg("--check-protocol")
        .arg(golden)
        .output()
        .expect("run the harness");
    (out.status.success(), text(&out.stderr))
}

#[test]
fn the_harness_reads_every_golden_message() {
    let (ok, stderr) = check(Path::new(GOLDEN));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("0 problems"), "{stderr}");
}

#[test]
fn the_harness_check_catches_a_drifted_message() {
    let golden = std::fs::read_to_string(GOLDEN).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A field the harness does not know, a field it needs left out, and a whole
    // event missing: each must be reported.
    let drifted = golden
        .replace(r#""verbose":false}}"#, r#""verbose":false,"extra":1}}"#)
        .replace(r#","pid":4242"#, "")
        .lines()
        .filter(|l| !l.contains(r#""ev":"stopped""#))
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("drifted.jsonl");
    std::fs::write(&path, drifted).unwrap();
    let (ok, stderr) = check(&path);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("unknown ['extra']"), "{stderr}");
    assert!(stderr.contains("missing ['pid']"), "{stderr}");
    assert!(
        stderr.contains("no example of the event 'stopped'"),
        "{stderr}"
    );
}
