//! End to end: signals, crashes, dead targets and broken templates.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

fn simple_config(users: u32) -> String {
    phase(600, users, 100, &[("A", 1, 200, 200)])
}

/// `loadgen run` of `files` against `host`, in a TMPDIR of its own.
fn run_in_own_tmpdir(tag: &str, files: &LoadFiles, host: &str) -> Loadgen {
    // A private TMPDIR per load, so tests can check loadgen's workspace is removed.
    Loadgen::run(tag, files.config(), host).env("TMPDIR", files.dir.path())
}

fn wait_for_requests(shop: &Shop, n: u64, limit: Duration) {
    let start = Instant::now();
    while shop.total_requests() < n {
        assert!(start.elapsed() < limit, "no load reached the shop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM; asserts loadgen exits successfully within 2 s, leaving no
/// process behind. Returns its stderr.
fn sigterm_stops_cleanly(child: std::process::Child, tag: &str) -> String {
    signal(child.id(), libc::SIGTERM);
    let (out, took) = finish(child, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert!(
        took < Duration::from_secs(2),
        "took {took:?} to stop: {stderr}"
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        wait_until_gone(tag, Duration::from_millis(500)).is_empty(),
        "processes left behind"
    );
    stderr
}

/// loadgen's private directories left in the test's TMPDIR.
fn workspaces(files: &LoadFiles) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(files.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("loadgen-"))
        })
        .collect()
}

#[test]
fn sigterm_stops_within_two_seconds_with_summary_and_report() {
    let shop = Shop::start();
    let files = LoadFiles::new(&simple_config(10), &tagging_template(&["A"]));
    let report = files.path("report");
    let tag = tag("sigterm");
    let child = run_in_own_tmpdir(&tag, &files, &shop.host())
        .report(&report)
        .spawn();
    wait_for_requests(&shop, 100, Duration::from_secs(30));
    assert!(!harness_pids(&tag).is_empty(), "no harness found");
    signal(child.id(), libc::SIGTERM);
    let (out, took) = finish(child, Duration::from_secs(10));
    assert!(took < Duration::from_secs(2), "took {took:?} to stop");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("│ all"), "no summary");
    assert!(
        workspaces(&files).is_empty(),
        "the private workspace was left behind"
    );
    let summary = json(&report.join("summary.json"));
    assert!(summary["total"]["total"]["requests"].as_u64().unwrap() >= 100);
    assert!(
        wait_until_gone(&tag, Duration::from_millis(500)).is_empty(),
        "processes left behind"
    );
    // The private workspace is gone too.
    let requests_after = shop.total_requests();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        shop.total_requests(),
        requests_after,
        "load continued after exit"
    );
}

#[test]
fn a_second_signal_stops_at_once() {
    let shop = Shop::start();
    let files = LoadFiles::new(&simple_config(5), &tagging_template(&["A"]));
    let tag = tag("twice");
    // With a worker, a graceful stop waits for the worker's last report (~0.7 s),
    // so the second signal lands while the first is being handled.
    let child = run_in_own_tmpdir(&tag, &files, &shop.host())
        .args(["--workers", "1"])
        .spawn();
    wait_for_requests(&shop, 20, Duration::from_secs(30));
    signal(child.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    signal(child.id(), libc::SIGINT);
    let (out, took) = finish(child, Duration::from_secs(10));
    assert!(took < Duration::from_millis(700), "took {took:?}");
    assert_eq!(out.status.code(), Some(130));
    assert!(
        workspaces(&files).is_empty(),
        "the private workspace was left behind"
    );
    assert!(
        wait_until_gone(&tag, Duration::from_secs(1)).is_empty(),
        "processes left behind"
    );
}

#[test]
fn sigkill_of_loadgen_leaves_no_process_behind() {
    let shop = Shop::start();
    let files = LoadFiles::new(&simple_config(5), &tagging_template(&["A"]));
    let tag = tag("sigkill");
    let child = run_in_own_tmpdir(&tag, &files, &shop.host())
        .args(["--workers", "1"])
        .spawn();
    wait_for_requests(&shop, 20, Duration::from_secs(40));
    assert!(
        harness_pids(&tag).len() >= 2,
        "expected a master and a worker"
    );
    signal(child.id(), libc::SIGKILL);
    let _ = finish(child, Duration::from_secs(5));
    let left = wait_until_gone(&tag, Duration::from_secs(3));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn locust_crash_is_restarted_and_the_schedule_resumes() {
    let shop = Shop::start();
    // Phase 2 brings in type B: a restart that began the schedule again (phase 1,
    // A only) or lost phase 2's mix would show at the server.
    let config = [
        phase(6, 10, 100, &[("A", 1, 200, 200)]),
        phase(10, 20, 100, &[("A", 1, 200, 200), ("B", 1, 200, 200)]),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A", "B"]));
    let report = files.path("report");
    let tag = tag("crash");
    let child = run_in_own_tmpdir(&tag, &files, &shop.host())
        .run_time("16s")
        .report(&report)
        .spawn();
    wait_for_requests(&shop, 20, Duration::from_secs(30));
    let first = shop.requests()[0].t;
    // Kill Locust 2 s into phase 2 (the shop's clock: its latest request).
    while shop.requests().last().unwrap().t < first + 8.0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let victims = harness_pids(&tag);
    assert_eq!(victims.len(), 1);
    let killed_at = Instant::now();
    signal(victims[0], libc::SIGKILL);
    // loadgen notices at once and starts a new harness.
    loop {
        let now = harness_pids(&tag);
        if !now.is_empty() && now != victims {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_millis(1500),
            "Locust was not restarted within 1.5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (out, _) = finish(child, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("restarting it"), "{stderr}");
    let summary = json(&report.join("summary.json"));
    assert_eq!(summary["restarts"], 1);

    let log = shop.requests();
    // About when Locust was killed, on the shop's clock.
    let killed = first + 8.0;
    // The load came back within a few seconds (a new Python imports Locust)...
    let silence = log
        .windows(2)
        .filter(|w| w[1].t > first + 7.5)
        .map(|w| w[1].t - w[0].t)
        .fold(0.0, f64::max);
    eprintln!("longest silence around the crash: {silence:.2} s");
    assert!(
        silence < 3.0,
        "no request for {silence:.2} s after the crash"
    );
    // ...in phase 2, with phase 2's mix, until phase 2's planned end.
    let live = LiveUsers {
        log: &log,
        window: 0.6,
    };
    for t in [first + 13.0, first + 15.0] {
        let seen = live.at(t);
        assert_eq!(
            (seen.get("A").copied(), seen.get("B").copied()),
            (Some(10), Some(10)),
            "at {:.1} s after the crash: {seen:?}",
            t - killed
        );
    }
    // The run still ended on time.
    let last = log.last().unwrap().t;
    assert!(
        last < first + 16.5,
        "the run overran: last request at {:.2} s",
        last - first
    );
}

#[test]
fn repeated_crashes_stop_with_a_clear_error() {
    let shop = Shop::start();
    let template = "import os\nfrom locust import TaskSet, task\n\nclass AUserBehavior(TaskSet):\n    def on_start(self):\n        os._exit(7)\n\n    @task\n    def index(self):\n        pass\n\n{{.Users}}\n";
    let files = LoadFiles::new(&simple_config(1), template);
    let tag = tag("crashloop");
    let out = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("5m")
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("crashed 5 times within 60 s; giving up"),
        "{stderr}"
    );
    assert!(
        out.elapsed < Duration::from_secs(60),
        "took {:?}",
        out.elapsed
    );
    assert!(wait_until_gone(&tag, Duration::from_secs(1)).is_empty());
}

#[test]
fn a_dead_target_counts_failures_and_load_resumes_when_it_returns() {
    let _alone = alone();
    let port = free_port();
    let files = LoadFiles::new(&simple_config(5), &tagging_template(&["A"]));
    let report = files.path("report");
    let tag = tag("dead");
    let host = format!("http://127.0.0.1:{port}");
    let child = run_in_own_tmpdir(&tag, &files, &host)
        .run_time("10s")
        .report(&report)
        .spawn();
    std::thread::sleep(Duration::from_secs(5));
    let shop = Shop::start_on(port);
    let (out, _) = finish(child, Duration::from_secs(60));
    // The run went on, and its failed requests decide its exit code, as in Locust.
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed requests"), "{stderr}");
    let summary = json(&report.join("summary.json"));
    assert!(
        summary["total"]["total"]["failures"].as_u64().unwrap() > 0,
        "no failures counted"
    );
    let log = shop.requests();
    let live = LiveUsers {
        log: &log,
        window: 0.6,
    };
    let end = log
        .last()
        .expect("no requests after the target came back")
        .t;
    assert_eq!(
        live.total_at(end - 0.3),
        5,
        "load did not resume at the phase's level"
    );
}

#[test]
fn an_error_in_the_template_is_shown_with_the_template_line() {
    let template = "from locust import TaskSet, task\n\nclass AUserBehavior(TaskSet):\n    @task\n    def index(self):\n        pass\n\nundefined_name + 1\n\n{{.Users}}\n";
    let files = LoadFiles::new(&simple_config(1), template);
    let tag = tag("tmplerr");
    let out = Loadgen::run(&tag, files.config(), "http://127.0.0.1:9")
        .run_time("5s")
        .limit(Duration::from_secs(60))
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(1), "{stderr}");
    let template_path = files.path("locustfile.loadgen.tmpl");
    assert!(
        stderr.contains(&format!("File \"{}\", line 8", template_path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("NameError"), "{stderr}");
    assert!(
        !stderr.contains("loadgen_harness.py\", line"),
        "harness internals leaked: {stderr}"
    );
}

#[test]
fn wait_for_host_waits_for_the_target_then_runs() {
    let _alone = alone();
    let port = free_port();
    let files = LoadFiles::new(&simple_config(2), &tagging_template(&["A"]));
    let tag = tag("waithost");
    let host = format!("http://127.0.0.1:{port}");
    let report = files.path("report");
    let child = run_in_own_tmpdir(&tag, &files, &host)
        .run_time("3s")
        .args(["--wait-for-host", "30s"])
        .report(&report)
        .spawn();
    std::thread::sleep(Duration::from_secs(3));
    let shop = Shop::start_on(port);
    let (out, _) = finish(child, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Nothing failed: the load only started once the shop answered.
    let seen = shop.requests();
    assert!(seen.iter().all(|r| r.status == 200));
    assert!(seen.len() > 10);
    // The shop cannot see a request refused before it was up: what the users
    // sent must be what the shop saw from them, none of it failed. (The shop
    // also saw --wait-for-host's one answered probe, which names no user type.)
    let summary = json(&report.join("summary.json"));
    let sent = summary["total"]["total"]["requests"].as_u64().unwrap();
    let failed = summary["total"]["total"]["failures"].as_u64().unwrap();
    let from_users = seen.iter().filter(|r| r.user_type.is_some()).count() as u64;
    assert_eq!(failed, 0, "{failed} requests failed: {}", summary["total"]);
    assert_eq!(
        sent, from_users,
        "loadgen's users sent {sent} requests, the shop saw {from_users} of them"
    );
    assert_eq!(seen.len() as u64 - from_users, 1, "probes seen");
}

#[test]
fn wait_for_host_gives_up_with_a_clear_message() {
    let port = free_port();
    let files = LoadFiles::new(&simple_config(2), &tagging_template(&["A"]));
    let tag = tag("waitgiveup");
    let out = Loadgen::run(&tag, files.config(), &format!("http://127.0.0.1:{port}"))
        .run_time("3s")
        .args(["--wait-for-host", "2s"])
        .limit(Duration::from_secs(30))
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port} did not answer within 2s")),
        "{stderr}"
    );
    assert!(out.elapsed < Duration::from_secs(10));
}

#[test]
fn sigterm_while_waiting_for_the_host_stops_at_once() {
    // A pod stopped before its target came up must not sit out its grace period.
    let port = free_port();
    let files = LoadFiles::new(&simple_config(2), &tagging_template(&["A"]));
    let tag = tag("waitsigterm");
    let child = run_in_own_tmpdir(&tag, &files, &format!("http://127.0.0.1:{port}"))
        .run_time("30s")
        .args(["--wait-for-host", "60s"])
        .report(&files.path("report"))
        .spawn();
    std::thread::sleep(Duration::from_millis(1500));
    let stderr = sigterm_stops_cleanly(child, &tag);
    assert!(
        stderr.contains(&format!(
            "stopped by signal while waiting for http://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    // Even a run that never started says so in its summary.
    let summary = json(&files.path("report").join("summary.json"));
    assert_eq!(
        summary["phases"].as_array().map(Vec::len),
        Some(0),
        "{summary}"
    );
    assert_eq!(summary["total"]["total"]["requests"], 0, "{summary}");
}

#[test]
fn a_slow_target_slows_requests_not_the_schedule_or_the_stop() {
    // Every answer takes 1.5 s: requests are slow, but phases change on time,
    // nothing counts as failed, and SIGTERM still ends the run within 2 s.
    let shop = Shop::start_slow("1500");
    let config = [
        phase(4, 6, 100, &[("A", 1, 100, 100)]),
        phase(30, 12, 100, &[("A", 1, 100, 100)]),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let report = files.path("report");
    let tag = tag("slow");
    let child = run_in_own_tmpdir(&tag, &files, &shop.host())
        .report(&report)
        .spawn();
    wait_for_requests(&shop, 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(6));
    sigterm_stops_cleanly(child, &tag);
    let summary = json(&report.join("summary.json"));
    let phases = summary["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "phase 2 did not start: {phases:#?}");
    assert!(
        (phases[1]["start_s"].as_f64().unwrap() - 4.0).abs() < 0.2,
        "{phases:#?}"
    );
    // The same on the shop's clock: phase 2's six new users (new sessions)
    // answered first 4 s after phase 1's, each answer 1.5 s after its request.
    let mut first_seen: Vec<f64> = Vec::new();
    let mut sessions = std::collections::HashSet::new();
    for r in shop.requests() {
        if sessions.insert(r.session.clone()) {
            first_seen.push(r.t);
        }
    }
    assert_eq!(
        first_seen.len(),
        12,
        "sessions first seen at {first_seen:?}"
    );
    let phase_2_began = first_seen[6] - first_seen[0];
    assert!(
        (phase_2_began - 4.0).abs() < 0.3,
        "on the shop's clock phase 2 began {phase_2_began:.2}s after phase 1 ({first_seen:?})"
    );
    assert_eq!(phases[1]["actual_users_end"]["AUser"], 12, "{phases:#?}");
    let total = &summary["total"]["total"];
    assert_eq!(total["failures"], 0, "{total}");
    assert!(total["requests"].as_u64().unwrap() >= 20, "{total}");
    assert!(total["p50_ms"].as_f64().unwrap() >= 1400.0, "{total}");
}

#[test]
fn a_hung_locust_is_replaced_and_the_schedule_resumes() {
    let shop = Shop::start();
    let files = LoadFiles::new(&simple_config(10), &tagging_template(&["A"]));
    let report = files.path("report");
    let tag = tag("hung");
    let child = run_in_own_tmpdir(&tag, &files, &shop.host())
        .run_time("16s")
        .report(&report)
        .spawn();
    wait_for_requests(&shop, 20, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let victims = harness_pids(&tag);
    assert_eq!(victims.len(), 1);
    // A Locust that stops answering (stopped, deadlocked): it doesn't exit, it
    // just sends nothing more.
    signal(victims[0], libc::SIGSTOP);
    let stopped_at = Instant::now();
    let frozen = shop.total_requests();
    loop {
        let now = harness_pids(&tag);
        if now.iter().any(|p| !victims.contains(p)) {
            break;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(9),
            "a hung Locust was not replaced within 9 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let replaced_after = stopped_at.elapsed();
    eprintln!("hung Locust replaced after {replaced_after:?}");
    let (out, _) = finish(child, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Locust stopped answering"), "{stderr}");
    assert_eq!(json(&report.join("summary.json"))["restarts"], 1);
    // The stopped process is gone (killed, not left stopped forever).
    assert!(victims
        .iter()
        .all(|p| !Path::new(&format!("/proc/{p}")).exists()
            || std::fs::read_to_string(format!("/proc/{p}/stat"))
                .is_ok_and(|s| s.contains(") Z"))));
    // The server saw the load come back: all 10 users again before the end.
    let log = shop.requests();
    assert!(
        shop.total_requests() > frozen + 20,
        "no load after the hang"
    );
    let last = log.last().unwrap().t;
    let live = LiveUsers {
        log: &log,
        window: 0.6,
    };
    assert_eq!(live.total_at(last - 1.0), 10, "users after the replacement");
}

#[test]
fn sigterm_at_any_moment_of_the_start_exits_0_with_a_summary() {
    // During the search for Locust, its start, and its first samples: every
    // moment must end the same way, with a summary and a report of what ran.
    for delay_ms in [50, 400, 900, 1500] {
        let shop = Shop::start();
        let files = LoadFiles::new(&simple_config(5), &tagging_template(&["A"]));
        let report = files.path("report");
        let tag = tag("earlyterm");
        let child = run_in_own_tmpdir(&tag, &files, &shop.host())
            .run_time("30s")
            .report(&report)
            .spawn();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let stderr = sigterm_stops_cleanly(child, &tag);
        let summary = json(&report.join("summary.json"));
        assert!(
            stderr.contains("stopped by signal"),
            "{delay_ms} ms: {stderr}"
        );
        // What the summary counts, the server saw (it may have seen a few more:
        // requests cut off by the stop are not counted).
        let counted = summary["total"]["total"]["requests"].as_u64().unwrap();
        assert!(counted <= shop.total_requests(), "{delay_ms} ms: {summary}");
        assert!(
            workspaces(&files).is_empty(),
            "{delay_ms} ms: workspace left"
        );
    }
}
