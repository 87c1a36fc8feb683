//! End to end: real Locust, driven by loadgen, against the demo shop on loopback,
//! judged from the server's side: plateaus, mix, waits, transitions and run time.

use crate::common;

use std::time::Duration;

use common::*;

/// Three phases with a changing mix and changing waits:
/// 1: 50 A (wait 0.5 s)
/// 2: 100 users, A 1 : B 3 -> A 25 (wait now 1 s), B 75 (wait 1 s)
/// 3: 60 users, B 1 : C 2 -> B 20, C 40 (wait 0.25 s); A leaves the mix.
const PHASE_S: f64 = 8.0;

fn config() -> String {
    [
        phase(8, 50, 50, &[("A", 1, 500, 500)]),
        phase(8, 100, 50, &[("A", 1, 1000, 1000), ("B", 3, 1000, 1000)]),
        phase(8, 60, 50, &[("B", 1, 1000, 1000), ("C", 2, 250, 250)]),
    ]
    .concat()
}

/// Planned users per type per phase.
fn planned(phase: usize) -> Vec<(&'static str, usize)> {
    match phase {
        0 => vec![("A", 50), ("B", 0), ("C", 0)],
        1 => vec![("A", 25), ("B", 75), ("C", 0)],
        _ => vec![("A", 0), ("B", 20), ("C", 40)],
    }
}

#[test]
fn phases_run_exactly_with_the_planned_mix_and_no_gaps() {
    let shop = Shop::start();
    let files = LoadFiles::new(&config(), &tagging_template(&["A", "B", "C"]));
    let tag = tag("phases");
    // The original's invocation, with no subcommand (loadgen runs): this
    // test keeps a whole load on it end to end.
    let out = Loadgen::command(&tag, ["--config-file"])
        .arg(files.config())
        .args(["--host", &shop.host()])
        .run_time("24s")
        .report(&files.path("report"))
        .success();
    let elapsed = out.elapsed;
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert!(
        wait_until_gone(&tag, Duration::from_secs(2)).is_empty(),
        "processes left behind"
    );

    let log = shop.requests();
    assert!(log.len() > 1000, "only {} requests", log.len());
    assert!(log.iter().all(|r| r.status == 200), "the shop saw failures");
    // The run starts with the first request (users start within milliseconds).
    let t0 = log.first().unwrap().t - 0.02;
    let live = LiveUsers {
        log: &log,
        window: 1.5,
    };

    // Plateaus: after each phase's ramp (<= 1.6 s) plus the counting window.
    for p in 0..3 {
        let start = t0 + p as f64 * PHASE_S;
        for at in [start + 4.0, start + 6.0, start + PHASE_S - 0.3] {
            let seen = live.at(at);
            let total: usize = planned(p).iter().map(|(_, n)| n).sum();
            for (kind, want) in planned(p) {
                let got = seen.get(kind).copied().unwrap_or(0);
                let tolerance = (want as f64 * 0.02).floor() as usize;
                assert!(
                    got.abs_diff(want) <= tolerance,
                    "phase {} at +{:.1}s: {kind} has {got} live users, planned {want} ({seen:?})",
                    p + 1,
                    at - start
                );
                let share = got as f64 / seen.values().sum::<usize>().max(1) as f64;
                let planned_share = want as f64 / total as f64;
                assert!(
                    (share - planned_share).abs() <= 0.02,
                    "phase {} mix of {kind}: {share:.3} vs {planned_share:.3}",
                    p + 1
                );
            }
        }
    }

    // No gaps: around each boundary the live total stays above 95% of the smaller phase.
    for (boundary, floor) in [(1, 50usize), (2, 60)] {
        let b = t0 + boundary as f64 * PHASE_S;
        let mut t = b - 1.0;
        while t < b + 3.5 {
            let total = live.total_at(t);
            assert!(
                total as f64 >= 0.95 * floor as f64,
                "at boundary {boundary} + {:.2}s only {total} live users (floor {floor})",
                t - b
            );
            t += 0.1;
        }
    }

    // The live-users window (1.5 s) is longer than the waits, so a pause of
    // under a second could hide in it: the requests themselves, in 0.25 s bins
    // around each boundary, never fall below 20% of the smaller phase's rate
    // (both boundaries are at least 100 requests/s; a gap of a quarter second
    // shows as a bin of 0).
    for boundary in [1, 2] {
        let b = t0 + boundary as f64 * PHASE_S;
        let mut lowest = (f64::MAX, 0.0);
        let mut t = b - 1.0;
        while t < b + 3.5 {
            let n = log.iter().filter(|r| r.t >= t && r.t < t + 0.25).count() as f64;
            if n < lowest.0 {
                lowest = (n, t - b);
            }
            t += 0.25;
        }
        eprintln!(
            "boundary {boundary}: fewest requests in a 0.25 s bin: {} at {:+.2}s",
            lowest.0, lowest.1
        );
        assert!(
            lowest.0 >= 0.2 * 100.0 * 0.25,
            "boundary {boundary}: only {} requests in the 0.25 s from {:+.2}s",
            lowest.0,
            lowest.1
        );
    }

    // Request rates follow each phase's waits: A at 2/s per user in phase 1, at
    // 1/s in phase 2 (its wait changed), C at 4/s per user in phase 3. Each task
    // also takes its response time, which the report measured per phase.
    let summary = out.summary();
    let users_rate = |kind: &str, p: usize, users: f64| {
        let start = t0 + p as f64 * PHASE_S;
        live.rate(kind, start + 3.0, start + PHASE_S - 0.2) / users
    };
    for (kind, p, users, wait) in [
        ("A", 0, 50.0, 0.5),
        ("A", 1, 25.0, 1.0),
        ("B", 1, 75.0, 1.0),
        ("C", 2, 40.0, 0.25),
    ] {
        let per_user = users_rate(kind, p, users);
        let mean_s = summary["phases"][p]["total"]["mean_ms"].as_f64().unwrap() / 1000.0;
        let implied = 1.0 / (wait + mean_s);
        assert!(
            (per_user - implied).abs() / implied <= 0.08,
            "phase {} {kind}: {per_user:.3} requests/s per user, waits imply {implied:.3} (mean response {mean_s:.4}s)",
            p + 1
        );
    }
    // A leaves the mix in phase 3: no A requests once its users have stopped.
    let a_late = log
        .iter()
        .filter(|r| r.t > t0 + 2.0 * PHASE_S + 2.0 && r.user_type.as_deref() == Some("A"))
        .count();
    assert_eq!(a_late, 0, "A users kept running in phase 3");

    // The run time is exact: the load lasts 24 s, not a phase more.
    let last = log.last().unwrap().t;
    let lasted = last - t0;
    assert!((lasted - 24.0).abs() < 1.0, "the load lasted {lasted:.2}s");

    // The report agrees with the server, phase by phase.
    let phases = summary["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 3);
    for (p, phase) in phases.iter().enumerate() {
        let reported = phase["total"]["requests"].as_u64().unwrap() as f64;
        let start = t0 + p as f64 * PHASE_S;
        let seen = log
            .iter()
            .filter(|r| r.t >= start && r.t < start + PHASE_S)
            .count() as f64;
        assert!(
            (reported - seen).abs() <= 0.05 * seen + 20.0,
            "phase {}: report {reported}, server {seen}",
            p + 1
        );
    }
    let total = summary["total"]["total"]["requests"].as_u64().unwrap() as f64;
    assert!(
        (total - log.len() as f64).abs() <= 0.01 * log.len() as f64 + 5.0,
        "report total {total}, server {}",
        log.len()
    );
    let stdout = out.stdout();
    assert!(stdout.contains("│ all"), "no summary table: {stdout}");
}

#[test]
fn quiet_phase_and_loops() {
    // A phase with 0 users between two busy ones, looping twice.
    let config = [
        phase(3, 10, 100, &[("A", 1, 200, 200)]),
        phase(3, 0, 100, &[("A", 1, 200, 200)]),
    ]
    .concat();
    let shop = Shop::start();
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let tag = tag("quiet");
    let out = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("12s")
        .report(&files.path("r"))
        .limit(Duration::from_secs(60))
        .success();
    let log = shop.requests();
    let t0 = log.first().unwrap().t - 0.02;
    let live = LiveUsers {
        log: &log,
        window: 0.6,
    };
    assert_eq!(live.total_at(t0 + 2.5), 10);
    assert_eq!(live.total_at(t0 + 5.5), 0, "the quiet phase is not quiet");
    assert_eq!(
        live.total_at(t0 + 8.5),
        10,
        "the second loop did not come back"
    );
    let summary = out.summary();
    let loops: Vec<u64> = summary["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["loop_number"].as_u64().unwrap())
        .collect();
    assert_eq!(loops, [1, 1, 2, 2]);
}

/// A phase ends when the plan says, not at loadgen's next 100 ms tick: 40
/// users at 1,000/s stop over the 40 ms after the boundary of a quiet phase,
/// so the server sees few of their requests after it. Random waits (50-150 ms)
/// spread the requests evenly, about 400 a second: each 10 ms late is about 4
/// more in the quiet phase. Measured over 4 boundaries: 9 to 14 requests after
/// the boundary, the last 32 to 48 ms into the quiet phase; when counts moved
/// only at the ticks, 38 to 43 requests, the last 101 to 108 ms into it.
#[test]
fn a_phase_ends_on_time_at_a_fast_hatch_rate() {
    let config = [
        phase(3, 40, 1000, &[("A", 1, 50, 150)]),
        phase(2, 0, 1000, &[("A", 1, 50, 150)]),
    ]
    .concat();
    let shop = Shop::start();
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let out = Loadgen::run(&tag("on-time"), files.config(), &shop.host())
        .run_time("20s")
        .report(&files.path("r"))
        .limit(Duration::from_secs(60))
        .success();
    let log = shop.requests();
    let summary = out.summary();
    let phases = summary["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 8, "{phases:?}");
    let mut after = Vec::new();
    for quiet in phases.iter().skip(1).step_by(2) {
        let (start, end) = occurrence_times(quiet);
        let inside: Vec<f64> = log
            .iter()
            .map(|r| r.at - start)
            .filter(|&t| t >= 0.0 && t < end - start)
            .collect();
        let last_ms = inside.iter().fold(0.0f64, |a, &t| a.max(t)) * 1000.0;
        after.push((inside.len(), last_ms.round()));
    }
    eprintln!("(requests, last ms) after each busy phase ended: {after:?}");
    // The middle of the four, so that one boundary met late on a busy machine
    // does not decide.
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[1] + v[2]) / 2.0
    };
    let requests = median(after.iter().map(|a| a.0 as f64).collect());
    let last_ms = median(after.iter().map(|a| a.1).collect());
    assert!(
        requests <= 20.0 && last_ms <= 70.0,
        "a busy phase's users ran on into the quiet one: a median of {requests} requests, \
         the last {last_ms} ms after the boundary ({after:?}: requests, last ms)"
    );
}
