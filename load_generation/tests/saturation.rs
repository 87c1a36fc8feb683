//! End to end: a load generator that can't keep up says so while the run goes,
//! and marks the occurrence; one that can is not flagged.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Each task burns CPU in Python before its request: a few users saturate a core.
const BURNER: &str = "from locust import TaskSet, task\n\n\nclass AUserBehavior(TaskSet):\n    @task\n    def index(self):\n        sum(i * i for i in range(200000))\n        self.client.get(\"/\", headers={\"X-User-Type\": \"A\"})\n\n{{.Users}}\n";

/// Runs loadgen, timing each stderr line from the start.
fn run_timed(
    files: &LoadFiles,
    host: &str,
    run_time: &str,
) -> (Option<i32>, Vec<(Duration, String)>) {
    let started = Instant::now();
    let mut child = loadgen(&tag("saturation"))
        .arg("run")
        .arg("--config_file")
        .arg(files.config())
        .args(["--host", host, "--run_time", run_time, "--report"])
        .arg(files.path("report"))
        // A pipe is not a terminal: no colour codes, even without NO_COLOR.
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let lines = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(|l| (started.elapsed(), l.unwrap_or_default()))
        .collect();
    (child.wait().unwrap().code(), lines)
}

#[test]
fn a_cpu_bound_generator_is_flagged_within_5_s_and_a_light_one_is_not() {
    let shop = Shop::start();
    let files = LoadFiles::new(&phase(60, 6, 100, &[("A", 1, 0, 0)]), BURNER);
    let (code, lines) = run_timed(&files, &shop.host(), "12s");
    let all: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(code, Some(0), "{all}");
    let started = lines
        .iter()
        .find(|(_, l)| l.contains("phase 1/1 (loop 1) starts"))
        .expect("the phase started")
        .0;
    let flagged = lines
        .iter()
        .find(|(_, l)| l.contains("the load generator is saturated"))
        .unwrap_or_else(|| panic!("no saturation warning: {all}"))
        .0;
    let after = flagged - started;
    eprintln!("saturation said {after:?} after the phase started");
    assert!(
        after < Duration::from_secs(5),
        "said only after {after:?}: {all}"
    );
    assert!(all.contains("--workers N"), "no advice: {all}");
    let summary = json(&files.path("report").join("summary.json"));
    assert_eq!(summary["phases"][0]["saturated"], true, "{summary}");
    // The server saw what a saturated generator delivers: far less than 6 users
    // at wait 0 would make if the generator kept up (each request takes ~1 ms).
    let served = shop.total_requests() as f64 / 12.0;
    eprintln!("the shop served {served:.0} req/s");

    // A light load on the same machine: no false alarm.
    let light = LoadFiles::new(
        &phase(60, 5, 100, &[("A", 1, 500, 500)]),
        &tagging_template(&["A"]),
    );
    let (code, lines) = run_timed(&light, &shop.host(), "8s");
    let all: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    assert_eq!(code, Some(0), "{all}");
    assert!(!all.contains("saturated"), "false alarm: {all}");
    assert!(!all.contains('\x1b'), "escape codes in a log: {all:?}");
    let summary = json(&light.path("report").join("summary.json"));
    assert_eq!(summary["phases"][0]["saturated"], false);
}
