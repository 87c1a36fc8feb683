//! End to end: `--start-at` anchors the schedule to the wall clock. Judged from
//! the demo shop's request log, whose times are mapped to the wall clock by a
//! probe request: which phase's users reach the shop, and when.

use crate::common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn rfc3339(t: SystemTime) -> String {
    let s = unix(t);
    let whole = s.floor() as i64;
    let (days, secs) = (whole.div_euclid(86_400), whole.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        ((s - s.floor()) * 1000.0).floor() as u32
    )
}

/// The shop's log times as wall-clock (Unix) seconds: the shop logs seconds
/// since it started; a probe request between two wall-clock readings gives
/// the offset (to a few milliseconds on loopback).
fn wall_offset(shop: &Shop) -> f64 {
    let before = unix(SystemTime::now());
    http_get(&shop.url("/")).expect("the shop answers");
    let after = unix(SystemTime::now());
    let probe = shop
        .requests()
        .into_iter()
        .rfind(|r| r.user_type.is_none() && r.route == "/")
        .expect("the probe is logged");
    (before + after) / 2.0 - probe.t
}

/// Three phases of 20 users, one type each, so the shop tells them apart.
fn three_phases(lengths: [u32; 3]) -> String {
    [
        phase(lengths[0], 20, 100, &[("A", 1, 500, 500)]),
        phase(lengths[1], 20, 100, &[("B", 1, 500, 500)]),
        phase(lengths[2], 20, 100, &[("C", 1, 500, 500)]),
    ]
    .concat()
}

/// Wall-clock times of the first and last request of each type.
fn spans(log: &[Logged], offset: f64, kind: &str) -> Option<(f64, f64)> {
    let times: Vec<f64> = log
        .iter()
        .filter(|r| r.user_type.as_deref() == Some(kind))
        .map(|r| r.t + offset)
        .collect();
    Some((*times.first()?, *times.last()?))
}

#[test]
fn a_start_at_in_the_past_begins_mid_phase_where_the_wall_clock_says() {
    let shop = Shop::start();
    let offset = wall_offset(&shop);
    // Phase 1 (4 s) ended 1 s before loadgen starts: phase 2 (10 s) runs at
    // once, for what is left of it, then phase 3 at start_at + 14 s. The run
    // time counts from start_at: the run ends at start_at + 17 s.
    let files = LoadFiles::new(
        &three_phases([4, 10, 5]),
        &tagging_template(&["A", "B", "C"]),
    );
    let launched = SystemTime::now();
    let start_at = launched - Duration::from_secs(5);
    let tag = tag("start-at-past");
    let out = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("17s")
        .env("LOADGEN_START_AT", rfc3339(start_at))
        .limit(Duration::from_secs(60))
        .success();
    let stderr = out.stderr();
    assert!(
        stderr.contains("into phase 2 of loop 1"),
        "the late start is said: {stderr}"
    );
    assert!(
        wait_until_gone(&tag, Duration::from_secs(2)).is_empty(),
        "processes left behind"
    );
    let log = shop.requests();
    let (s, launched) = (unix(start_at), unix(launched));
    // Phase 1's users never run: its time had passed.
    assert_eq!(spans(&log, offset, "A"), None, "phase 1's users ran");
    let (b_first, b_last) = spans(&log, offset, "B").expect("phase 2's users ran");
    let (c_first, c_last) = spans(&log, offset, "C").expect("phase 3's users ran");
    println!(
        "B {:.2}..{:.2}, C {:.2}..{:.2} s after start_at (launched at +5.00)",
        b_first - s,
        b_last - s,
        c_first - s,
        c_last - s
    );
    // Phase 2's users reach the shop as soon as Locust is up (well before
    // phase 2's end at +14 s), and all 20 run.
    assert!(b_first - launched < 5.0, "B first at +{:.2}", b_first - s);
    let live = LiveUsers {
        log: &log,
        window: 1.0,
    };
    let at = b_first - offset + 2.5;
    assert_eq!(live.at(at).get("B").copied(), Some(20), "{:?}", live.at(at));
    // Phase 3 starts at start_at + 14 s on the wall clock; phase 2 stops then.
    assert!(
        (c_first - (s + 14.0)).abs() < 0.6,
        "C first at +{:.2}, planned +14",
        c_first - s
    );
    assert!(b_last < s + 14.7, "B last at +{:.2}", b_last - s);
    // And the run ends at start_at + run time (its users' last requests, +0.6 s).
    assert!(
        (c_last - (s + 17.0)).abs() < 0.7,
        "last at +{:.2}, planned +17",
        c_last - s
    );
}

#[test]
fn a_start_at_in_the_future_waits_and_says_so() {
    let shop = Shop::start();
    let offset = wall_offset(&shop);
    let files = LoadFiles::new(
        &three_phases([3, 3, 3]),
        &tagging_template(&["A", "B", "C"]),
    );
    let start_at = SystemTime::now() + Duration::from_secs(8);
    let tag = tag("start-at-future");
    let out = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("6s")
        .args(["--start-at", &rfc3339(start_at)])
        .limit(Duration::from_secs(60))
        .success();
    let stderr = out.stderr();
    assert!(
        stderr.contains("waiting") && stderr.contains("with Locust ready and no users"),
        "the wait is said: {stderr}"
    );
    let log = shop.requests();
    let s = unix(start_at);
    let (a_first, _) = spans(&log, offset, "A").expect("phase 1's users ran");
    let (b_first, b_last) = spans(&log, offset, "B").expect("phase 2's users ran");
    println!(
        "A first +{:.2}, B {:.2}..{:.2} s after start_at",
        a_first - s,
        b_first - s,
        b_last - s
    );
    // Nothing before start_at; phase 1 at once after it, phase 2 at +3 s.
    let first = log
        .iter()
        .filter(|r| r.user_type.is_some())
        .map(|r| r.t + offset)
        .next()
        .unwrap();
    assert!(first >= s - 0.05, "a request {:.2} s early", s - first);
    assert!(a_first - s < 0.5, "A first at +{:.2}", a_first - s);
    assert!(
        (b_first - (s + 3.0)).abs() < 0.5,
        "B first at +{:.2}",
        b_first - s
    );
    // No phase 3: the run time (6 s from start_at) ends with phase 2.
    assert_eq!(spans(&log, offset, "C"), None);
    assert!(b_last < s + 6.7, "B last at +{:.2}", b_last - s);
}

#[test]
fn bad_start_times_are_refused_with_the_flag_and_an_example() {
    let files = LoadFiles::new(
        &three_phases([3, 3, 3]),
        &tagging_template(&["A", "B", "C"]),
    );
    for (value, expected) in [
        ("9am", "expected an RFC 3339 time"),
        ("2026-05-01 09:00", "expected an RFC 3339 time"),
        ("2026-05-01T09:00:00", "expected an RFC 3339 time"),
    ] {
        let out = Loadgen::run(&tag("start-at-bad"), files.config(), "http://127.0.0.1:9")
            .args(["--start-at", value])
            .limit(Duration::from_secs(20))
            .output();
        let stderr = out.stderr();
        assert_eq!(out.code(), Some(2), "{value}: {stderr}");
        for part in ["--start-at", expected, "2026-05-01T09:00:00Z"] {
            assert!(stderr.contains(part), "{value}: no {part:?} in {stderr}");
        }
        assert!(!stderr.contains("Traceback") && !stderr.contains("panicked"));
    }
    // A run whose end (start_at + run time) has passed: nothing to run, said.
    let out = Loadgen::run(&tag("start-at-over"), files.config(), "http://127.0.0.1:9")
        .run_time("1h")
        .args(["--start-at", "2020-01-01T00:00:00Z"])
        .limit(Duration::from_secs(20))
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ended at 2020-01-01T01:00:00Z")
            && stderr.contains("nothing is left to run"),
        "{stderr}"
    );
}

/// A restarted master resumes the phase the wall clock is in: the first
/// master is killed (SIGKILL) in phase 2, a new one with the same --start-at
/// takes the same two `loadgen worker`s back (they stay up: no pod restart) and
/// runs phase 2's users again, then phase 3 at its computed time. Never phase
/// 1 again, and never more users than planned.
#[test]
fn a_restarted_master_resumes_where_the_wall_clock_says() {
    let shop = Shop::start();
    let offset = wall_offset(&shop);
    // T+0..6 A, T+6..26 B, T+26..34 C; the run ends at T+34.
    let files = LoadFiles::new(
        &three_phases([6, 20, 8]),
        &tagging_template(&["A", "B", "C"]),
    );
    let start_at = SystemTime::now() + Duration::from_secs(10);
    let s = unix(start_at);
    let port = free_port();
    let tag = tag("start-at-restart");
    let master = |name: &str| {
        Loadgen::run(&format!("{tag}-{name}"), files.config(), &shop.host())
            .run_time("34s")
            .args(["--expect-workers", "2", "--workers", "0", "--master-bind"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--start-at", &rfc3339(start_at)])
    };
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let worker = Loadgen::command(&format!("{tag}-w{i}"), ["worker", "--master"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--config-file")
                .arg(files.config());
            std::thread::spawn(move || worker.output())
        })
        .collect();
    let mut first = master("m1");
    let first = first
        .command_mut()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = Guard(Some(first));
    let sleep_until = |t: f64| {
        let left = t - unix(SystemTime::now());
        if left > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(left));
        }
    };
    sleep_until(s + 12.0);
    let killed = unix(SystemTime::now());
    if let Some(child) = first.0.as_mut() {
        child.kill().unwrap(); // SIGKILL: its Locust follows (PR_SET_PDEATHSIG)
        child.wait().unwrap();
    }
    let second = std::thread::spawn({
        let run = master("m2").limit(Duration::from_secs(60));
        move || run.output()
    });
    let out = second.join().unwrap();
    let stderr = out.stderr();
    assert!(out.status().success(), "the second master: {stderr}");
    assert!(stderr.contains("into phase 2 of loop 1"), "{stderr}");
    for (i, w) in workers.into_iter().enumerate() {
        let out = w.join().unwrap();
        let stderr = out.stderr();
        assert!(out.status().success(), "worker {i}: {stderr}");
        assert!(
            stderr.contains("the master is back"),
            "worker {i}: {stderr}"
        );
    }
    for name in ["m1", "m2", "w0", "w1"] {
        assert!(
            wait_until_gone(&format!("{tag}-{name}"), Duration::from_secs(2)).is_empty(),
            "{name}'s processes left behind"
        );
    }

    let log = shop.requests();
    let wall = |r: &Logged| r.t + offset;
    let (a_first, a_last) = spans(&log, offset, "A").expect("phase 1 ran");
    let (b_first, b_last) = spans(&log, offset, "B").expect("phase 2 ran");
    let (c_first, c_last) = spans(&log, offset, "C").expect("phase 3 ran");
    let live = LiveUsers {
        log: &log,
        window: 1.0,
    };
    // The old master's users run on until the workers miss its heartbeats,
    // then stop; the new master's users are new sessions. When the old ones
    // made their last request, and when 20 new ones were running.
    let b_sessions = |from: f64, to: f64| -> std::collections::BTreeSet<String> {
        log.iter()
            .filter(|r| r.user_type.as_deref() == Some("B") && wall(r) >= from && wall(r) < to)
            .map(|r| r.session.clone())
            .collect()
    };
    let old = b_sessions(killed - 1.0, killed);
    assert_eq!(old.len(), 20, "phase 2 ran 20 users before the kill");
    let old_last = log
        .iter()
        .filter(|r| old.contains(&r.session))
        .map(wall)
        .fold(0.0, f64::max);
    let new_first = log
        .iter()
        .filter(|r| {
            r.user_type.as_deref() == Some("B") && wall(r) > killed && !old.contains(&r.session)
        })
        .map(wall)
        .fold(f64::MAX, f64::min);
    let back = (0..300)
        .map(|i| killed + 0.1 * f64::from(i))
        .find(|&t| b_sessions(t - 1.0, t).difference(&old).count() == 20)
        .expect("20 of phase 2's users ran again");
    println!(
        "A {:.2}..{:.2}, B {:.2}..{:.2}, C {:.2}..{:.2}; killed at +{:.2}; old B users' last request +{:.2}, new B users' first +{:.2}, 20 new B users by +{:.2} s after start_at",
        a_first - s,
        a_last - s,
        b_first - s,
        b_last - s,
        c_first - s,
        c_last - s,
        killed - s,
        old_last - s,
        new_first - s,
        back - s
    );
    // Phase 1 ran once, at its time; the new master did not start over.
    assert!(
        a_first >= s - 0.05 && a_last < s + 6.7,
        "A at +{:.2}..+{:.2}",
        a_first - s,
        a_last - s
    );
    // The workers stop the old users once they miss 3 heartbeats (3 s), and
    // the new users start no earlier than one wait (0.5 s) before the last
    // old request: the load never doubles. All 20 run again within 12 s.
    assert!(
        old_last - killed < 4.5,
        "old users ran {:.2} s after the kill",
        old_last - killed
    );
    assert!(
        new_first > old_last - 0.6,
        "new users from +{:.2}, old until +{:.2}",
        new_first - s,
        old_last - s
    );
    assert!(
        back - killed < 12.0,
        "20 B again {:.2} s after the kill",
        back - killed
    );
    // Phase 3 at start_at + 26 s, the end at + 34 s, as the wall clock says.
    assert!(
        (c_first - (s + 26.0)).abs() < 0.6,
        "C first at +{:.2}",
        c_first - s
    );
    assert!(b_last < s + 26.7, "B last at +{:.2}", b_last - s);
    assert!(
        (c_last - (s + 34.0)).abs() < 0.7,
        "last at +{:.2}",
        c_last - s
    );
    // Never more than planned (20, +5%): the old users stop before new ones
    // start. (Not checked in the 1.2 s after each boundary, where the counting
    // window still holds the previous phase's users.)
    let mut t = s;
    while t < s + 34.0 {
        // The hand-over is bounded above (new users no earlier than one wait
        // before the old ones' last request): not counted twice here.
        let handover = t >= new_first.min(old_last) && t < old_last + 1.2;
        let near_boundary = handover
            || [0.0, 6.0, 26.0]
                .iter()
                .any(|b| t >= s + b && t < s + b + 1.2);
        let total = live.total_at(t - offset);
        if near_boundary {
            t += 0.2;
            continue;
        }
        assert!(total <= 21, "{total} live users at +{:.1}", t - s);
        t += 0.2;
    }
}
