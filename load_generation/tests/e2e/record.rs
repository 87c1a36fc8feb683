//! End to end: a run's record survives every ending. A run that ends in an
//! error writes its summary, report and JUnit like any other, marked so; a
//! loadgen killed outright leaves the last checkpoint of its record, never a
//! file cut in half; `loadgen report DIR` draws the report from it. Judged
//! against what the shop saw.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

/// The requests summary.json counts over the whole run.
fn total_requests(summary: &serde_json::Value) -> u64 {
    summary["total"]["total"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total in {summary}"))
}

/// The wall-clock moment (seconds since the epoch) a summary's figures reach:
/// its start plus its duration.
fn covered_until(summary: &serde_json::Value) -> f64 {
    let at = summary["started_at"].as_str().expect("started_at");
    let start = humantime::parse_rfc3339(at)
        .expect("RFC 3339")
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    start + summary["duration_s"].as_f64().expect("duration_s")
}

/// stats.csv is whole: a header and rows of as many fields (the names here
/// hold no comma or quote).
fn assert_whole_csv(path: &Path) {
    let text = std::fs::read_to_string(path).expect("stats.csv");
    let mut lines = text.lines();
    let header = lines.next().expect("a header").split(',').count();
    let mut rows = 0;
    for line in lines {
        assert_eq!(line.split(',').count(), header, "{line}");
        rows += 1;
    }
    assert!(rows > 0, "no rows: {text}");
    assert!(text.ends_with('\n'), "cut short: {text}");
}

#[test]
fn a_run_that_ends_in_an_error_keeps_its_record_and_junit() {
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(600, 5, 100, &[("A", 1, 200, 200)]),
        &tagging_template(&["A"]),
    );
    let report = files.path("report");
    let junit = report.join("junit.xml");
    let tag = tag("record-error");
    let child = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("5m")
        .report(&report)
        .arg("--junit")
        .arg(&junit)
        .args(["--fail-if", "p99 > 10s"])
        .spawn();
    // Locust killed each time it has sent some load, until loadgen gives up
    // (5 crashes within 60 s).
    let mut kills = 0;
    let mut killed = Vec::new();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "loadgen never gave up"
        );
        let harnesses = harness_pids(&tag);
        let fresh: Vec<u32> = harnesses
            .iter()
            .copied()
            .filter(|p| !killed.contains(p))
            .collect();
        if fresh.is_empty() {
            if kills > 0 && tagged_processes(&tag).is_empty() {
                break; // loadgen gave up and exited
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        // Let the new Locust send load (and loadgen sample it) before its end.
        let before = shop.total_requests();
        let waited = Instant::now();
        while shop.total_requests() < before + 15 && waited.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(600));
        for pid in fresh {
            signal(pid, libc::SIGKILL);
            killed.push(pid);
        }
        kills += 1;
    }
    let (out, _) = finish(child, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    eprintln!("killed Locust {kills} times");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("giving up"), "{stderr}");
    assert!(
        stderr.contains("loadgen: report written to"),
        "the record was not written: {stderr}"
    );
    // The table says how it ended.
    assert!(stdout.contains("ended: error: Locust crashed"), "{stdout}");

    let summary = json(&report.join("summary.json"));
    assert_eq!(summary["ended"], "error", "{summary}");
    let reason = summary["ended_reason"].as_str().expect("a reason");
    assert!(reason.contains("giving up"), "{reason}");
    // It counts what the shop saw up to the give-up, less what each killed
    // Locust made after its last sample (at most 0.5 s of 25 req/s each).
    let recorded = total_requests(&summary);
    let served = shop.total_requests();
    let lost_at_most = kills * 15 + 5;
    eprintln!("summary.json counts {recorded} requests; the shop served {served}");
    assert!(recorded <= served, "{recorded} > {served}");
    assert!(
        recorded + lost_at_most >= served,
        "{recorded} recorded of {served} served"
    );
    assert_eq!(summary["restarts"], kills - 1, "{}", summary["restarts"]);
    assert_whole_csv(&report.join("stats.csv"));
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");
    assert!(
        html.contains("The run ended in an error"),
        "no ending in the report"
    );

    // JUnit: the threshold, and the run's ending as a failed case.
    let file = std::fs::File::open(&junit).expect("junit.xml written");
    let suites = junit_parser::from_reader(std::io::BufReader::new(file)).expect("valid JUnit");
    let cases: Vec<_> = suites.suites.iter().flat_map(|s| &s.cases).collect();
    assert_eq!(cases.len(), 2, "{cases:?}");
    let is_the_run = |c: &&&junit_parser::TestCase| c.classname.as_deref() == Some("loadgen.run");
    let run = cases.iter().find(is_the_run).expect("a case for the run");
    assert!(run.status.is_failure(), "{run:?}");
    let threshold = cases.iter().find(|c| !is_the_run(c)).unwrap();
    assert!(threshold.status.is_success(), "{threshold:?}");
}

#[test]
fn a_sigkilled_loadgen_leaves_a_checkpoint_the_shop_agrees_with() {
    let shop = Shop::start();
    // Three phases of 15 s, looped: checkpoints every 10 s and at each end.
    let config = [
        phase(15, 6, 100, &[("A", 1, 200, 200)]),
        phase(15, 12, 100, &[("A", 1, 200, 200), ("B", 1, 200, 200)]),
        phase(15, 3, 100, &[("B", 1, 200, 200)]),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A", "B"]));
    let report = files.path("report");
    let tag = tag("record-kill");
    let child = Loadgen::run(&tag, files.config(), &shop.host())
        .report(&report)
        .args(["--checkpoint-interval", "10s"])
        .spawn();
    // Killed 52 s in (the shop's clock), past a loop and between checkpoints.
    let waited = Instant::now();
    while shop.total_requests() == 0 {
        assert!(waited.elapsed() < Duration::from_secs(30), "no load");
        std::thread::sleep(Duration::from_millis(50));
    }
    let first = shop.requests()[0].at;
    while epoch_now() < first + 52.0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(child.id(), libc::SIGKILL);
    let killed_at = epoch_now();
    let _ = finish(child, Duration::from_secs(5));
    assert!(
        wait_until_gone(&tag, Duration::from_secs(3)).is_empty(),
        "Locust left behind"
    );
    std::thread::sleep(Duration::from_millis(300)); // the last requests reach the log
    let log = shop.requests();

    let summary = json(&report.join("summary.json"));
    assert_eq!(summary["ended"], "running", "{}", summary["ended"]);
    let until = covered_until(&summary);
    let age = killed_at - until;
    eprintln!("the checkpoint was {age:.1} s old at the kill");
    assert!(
        (0.0..=10.5).contains(&age),
        "a checkpoint {age:.1} s old at the kill"
    );
    // Its count is the shop's up to the checkpoint: within a sample's requests
    // (30 req/s at most here, 0.5 s) of what the shop logged by then.
    let recorded = total_requests(&summary) as i64;
    let served_by_then = log.iter().filter(|r| r.at <= until).count() as i64;
    eprintln!("checkpoint: {recorded} requests; the shop by then: {served_by_then}");
    assert!(
        (recorded - served_by_then).abs() <= 16,
        "{recorded} recorded, {served_by_then} served by the checkpoint"
    );
    // Each finished occurrence in it is the shop's count between its times.
    let phases = summary["phases"].as_array().expect("phases");
    assert!(phases.len() >= 4, "{} occurrences", phases.len());
    for p in &phases[..phases.len() - 1] {
        let (from, to) = occurrence_times(p);
        let shop_count = log.iter().filter(|r| r.at >= from && r.at < to).count() as i64;
        let count = p["total"]["requests"].as_i64().unwrap();
        assert!(
            (count - shop_count).abs() <= 5 + shop_count / 20,
            "phase {} loop {}: {count} recorded, the shop {shop_count}",
            p["phase"],
            p["loop_number"]
        );
    }
    assert_whole_csv(&report.join("stats.csv"));
    assert!(
        !report.join("report.html").exists(),
        "report.html is written at the end, or by loadgen report"
    );

    // loadgen report draws report.html and the table from it.
    let stdout = Loadgen::command(&tag, ["report"])
        .arg(&report)
        .success()
        .stdout();
    assert!(stdout.contains("ended: running"), "{stdout}");
    let html = std::fs::read_to_string(report.join("report.html")).expect("report.html");
    assert!(html.contains("A checkpoint of a run still going"));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn a_checkpoint_killed_mid_write_leaves_the_last_whole_one() {
    let shop = Shop::start();
    // Long request names make summary.json some megabytes, so a write takes
    // long enough to be caught in the middle.
    let template = "import random\nfrom locust import TaskSet, task\n\n\nclass AUserBehavior(TaskSet):\n    @task\n    def index(self):\n        n = random.randrange(400)\n        self.client.get(\"/\", name=f\"/item/{n}/\" + \"x\" * 3000, headers={\"X-User-Type\": \"A\"})\n\n{{.Users}}\n";
    let files = LoadFiles::new(&phase(600, 10, 100, &[("A", 1, 20, 20)]), template);
    let mut caught = 0;
    for attempt in 1..=5 {
        let report = files.path(&format!("report-{attempt}"));
        let tag = tag("record-midwrite");
        let child = Loadgen::run(&tag, files.config(), &shop.host())
            .report(&report)
            .args(["--checkpoint-interval", "1s"])
            .spawn();
        // Once a first checkpoint is there, kill loadgen the moment the next
        // one's temporary file appears.
        let started = Instant::now();
        let temporary = || {
            std::fs::read_dir(&report).ok().is_some_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".loadgen-"))
            })
        };
        while !(report.join("summary.json").exists() && temporary()) {
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "no checkpoint in 40 s"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        signal(child.id(), libc::SIGKILL);
        let _ = finish(child, Duration::from_secs(5));
        assert!(wait_until_gone(&tag, Duration::from_secs(3)).is_empty());
        // Whatever the moment, summary.json is a whole checkpoint.
        let summary = json(&report.join("summary.json"));
        assert_eq!(summary["ended"], "running");
        assert!(total_requests(&summary) > 0);
        let left = temporary();
        eprintln!("attempt {attempt}: killed mid-write: {left}");
        if left {
            caught += 1;
            // loadgen report reads it, whatever was left beside it.
            Loadgen::command(&tag, ["report"]).arg(&report).success();
            break;
        }
    }
    assert!(
        caught > 0,
        "no kill landed in the middle of a write in 5 tries"
    );
}

#[test]
fn loadgen_report_says_what_is_wrong_with_a_bad_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = Loadgen::command("record-bad", ["report"])
        .arg(dir.path())
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("summary.json") && stderr.contains("--report"),
        "{stderr}"
    );
    std::fs::write(
        dir.path().join("summary.json"),
        "{\n  \"schema_version\": 4,\n  \"started_at\": 7\n}\n",
    )
    .unwrap();
    let out = Loadgen::command("record-bad", ["report"])
        .arg(dir.path())
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("summary.json:3:"),
        "no line and column: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
