//! End to end: `--report DIR` after a real two-phase run against the demo shop.
//! The report's figures are checked against the shop's own request log, and
//! `report.html` is checked to be self-contained (and, where Chromium is
//! installed, to load in a real browser without script errors).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

/// Phase 1: 3 s, 3 users of A. Phase 2: 3 s, 4 users, A 1 : B 1. Both wait 100 ms.
fn config() -> String {
    [
        phase(3, 3, 20, &[("A", 1, 100, 100)]),
        phase(3, 4, 20, &[("A", 1, 100, 100), ("B", 1, 100, 100)]),
    ]
    .concat()
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// The user type of the test's own request to the shop.
const PROBE: &str = "probe";

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Wall-clock seconds (since the Unix epoch) minus the shop's clock (seconds
/// since it started), from one request of our own that the shop logs.
fn shop_clock_offset(shop: &Shop) -> f64 {
    let client = reqwest::blocking::Client::new();
    let before = epoch(SystemTime::now());
    let response = client
        .get(shop.url("/"))
        .header("X-User-Type", PROBE)
        .send()
        .expect("probe the shop");
    let after = epoch(SystemTime::now());
    assert!(response.status().is_success());
    let probe = shop
        .requests()
        .into_iter()
        .rfind(|r| r.user_type.as_deref() == Some(PROBE))
        .expect("the shop logged the probe");
    (before + after) / 2.0 - probe.t
}

#[test]
fn report_matches_what_the_server_saw() {
    let shop = Shop::start();
    let offset = shop_clock_offset(&shop);
    let files = LoadFiles::new(&config(), &tagging_template(&["A", "B"]));
    let report = files.path("report");
    let tag = tag("report");
    let out = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("6s")
        .report(&report)
        .success();
    assert!(
        wait_until_gone(&tag, Duration::from_secs(2)).is_empty(),
        "processes left behind"
    );

    let summary = out.summary();
    let log: Vec<Logged> = shop
        .requests()
        .into_iter()
        .filter(|r| r.user_type.as_deref() != Some(PROBE))
        .collect();
    assert!(
        log.len() > 50,
        "only {} requests reached the shop",
        log.len()
    );

    // The whole run: Locust's count and the server's agree.
    let total = summary["total"]["total"]["requests"].as_u64().unwrap();
    let served = log.len() as u64;
    let tolerance = (served as f64 * 0.03).ceil().max(2.0) as u64;
    eprintln!("whole run: summary.json {total} requests, the shop {served}");
    assert!(
        total.abs_diff(served) <= tolerance,
        "summary.json counts {total} requests, the shop served {served}"
    );
    assert_eq!(summary["total"]["total"]["failures"].as_u64(), Some(0));

    // Per phase occurrence, on the shop's clock.
    let phases = summary["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "phases: {phases:#?}");
    let started_at = summary["started_at"].as_str().unwrap();
    let t0 = epoch(humantime::parse_rfc3339(started_at).expect("started_at is RFC 3339")) - offset;
    let first = log.first().unwrap().t - t0;
    assert!(
        (-0.05..1.0).contains(&first),
        "the first request came {first:.3} s after the run's start"
    );
    for (i, p) in phases.iter().enumerate() {
        assert_eq!(p["phase"].as_u64(), Some(i as u64 + 1));
        assert_eq!(p["loop_number"].as_u64(), Some(1));
        let start = p["start_s"].as_f64().unwrap();
        let end = p["end_s"].as_f64().unwrap();
        // The first occurrence takes everything before its end, the last
        // everything after its start (requests in flight when the run stopped).
        let from = if i == 0 { f64::MIN } else { t0 + start };
        let to = if i + 1 == phases.len() {
            f64::MAX
        } else {
            t0 + end
        };
        let seen = log.iter().filter(|r| r.t >= from && r.t < to).count() as u64;
        let reported = p["total"]["requests"].as_u64().unwrap();
        eprintln!(
            "phase {}: summary.json {reported} requests, the shop {seen}",
            i + 1
        );
        let tolerance = (seen as f64 * 0.05).ceil() as u64 + 5;
        assert!(
            reported.abs_diff(seen) <= tolerance,
            "phase {}: summary.json counts {reported} requests, the shop saw {seen} in {start:.2}-{end:.2} s",
            i + 1
        );
        assert!(reported > 0, "phase {} has no requests", i + 1);
    }

    // Who came when: B only in phase 2 (with a margin at the boundary).
    let boundary = t0 + phases[1]["start_s"].as_f64().unwrap();
    let early_b = log
        .iter()
        .filter(|r| r.t < boundary - 0.25 && r.user_type.as_deref() == Some("B"))
        .count();
    assert_eq!(early_b, 0, "type B requests during phase 1");
    let late_b = log
        .iter()
        .filter(|r| r.t > boundary + 0.5 && r.user_type.as_deref() == Some("B"))
        .count();
    assert!(late_b > 10, "only {late_b} type B requests in phase 2");
    let late_a = log
        .iter()
        .filter(|r| r.t > boundary + 0.5 && r.user_type.as_deref() == Some("A"))
        .count();
    assert!(late_a > 10, "only {late_a} type A requests in phase 2");

    // The time series came from Locust as it ran: a point at least every second,
    // from the start to the end, with the users and rates of the moment.
    let series = summary["series"].as_array().expect("series");
    let times: Vec<f64> = series.iter().map(|p| p["t"].as_f64().unwrap()).collect();
    let duration = summary["duration_s"].as_f64().unwrap();
    assert!(times[0] <= 1.0, "first point at {:.2} s", times[0]);
    assert!(
        *times.last().unwrap() >= duration - 1.0,
        "last point at {:.2} s of {duration:.2}",
        times.last().unwrap()
    );
    let widest = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        widest <= 1.0,
        "{widest:.2} s between two points of the series"
    );
    let b_index = summary["user_types"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t == "BUser")
        .expect("BUser in user_types");
    // In phase 2, B users ran and requests flowed (the point after the stop
    // has none, so any point of the phase will do).
    assert!(
        series.iter().any(|p| p["phase_index"] == 1
            && p["requests_per_s"].as_f64().unwrap() > 0.0
            && p["actual_users"][b_index].as_u64().unwrap() > 0),
        "no phase 2 point with B users and requests"
    );

    // stats.csv: the header, and rows for both phases and the whole run.
    let csv = std::fs::read_to_string(report.join("stats.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("phase,loop,start_s,end_s,method,name,requests,failures,requests_per_s,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,p50_intended_ms,p95_intended_ms,p99_intended_ms,max_intended_ms,dropped_iterations")
    );
    let rows: Vec<&str> = lines.collect();
    for prefix in ["1,1,", "2,1,", "all,"] {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(prefix) && r.contains(",GET,/,")),
            "no GET / row for {prefix} in\n{csv}"
        );
        assert!(
            rows.iter()
                .any(|r| r.starts_with(prefix) && r.contains(",,Aggregated,")),
            "no aggregated row for {prefix} in\n{csv}"
        );
    }

    // report.html: there, self-contained, with charts.
    let html_path = report.join("report.html");
    let html = std::fs::read_to_string(&html_path).expect("report.html");
    let lower = html.to_ascii_lowercase();
    assert!(lower.contains("<svg"), "no chart in report.html");
    for banned in [
        "<script src",
        "<link href=\"http",
        "<link",
        "@import",
        "url(http",
    ] {
        assert!(!lower.contains(banned), "report.html has {banned}");
    }
    assert!(html.contains("phase 2 (loop 1)"));
    // Each occurrence's users per type, as target / plateau / end: 3 A in phase 1,
    // then 2 A and 2 B.
    for cell in ["</span>A 3 / ", "</span>A 2 / ", "</span>B 2 / "] {
        assert!(html.contains(cell), "report.html has no {cell:?}");
    }

    open_in_browser(&html_path);
}

/// Loads the page in headless Chromium: it must load, render the phases and log
/// no script errors. Skipped where Chromium isn't installed, except in CI
/// (`CI` set), which installs it: there a missing browser is a failure, not a
/// check quietly not made.
fn open_in_browser(page: &Path) {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMIUM} not found: CI must open report.html in a browser (.ci/run installs chromium)"
        );
        eprintln!("note: {CHROMIUM} not found; report.html was not opened in a browser");
        return;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg("--dump-dom")
    .arg(format!("file://{}", page.display()));
    let (out, _) = run_with_limit(cmd, Duration::from_secs(60));
    let dom = text(&out.stdout);
    let log = text(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(dom.contains("phase 2"), "the DOM lacks the phases:\n{dom}");
    assert!(dom.contains("<svg"), "the DOM lacks the charts");
    for error in ["Uncaught", "ERROR:CONSOLE"] {
        assert!(!log.contains(error), "script errors in report.html:\n{log}");
    }
}
