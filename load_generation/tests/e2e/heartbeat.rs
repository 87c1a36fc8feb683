//! End to end: `--heartbeat-timeout` sets how long a silent worker keeps its
//! users before the master gives them to the others. Judged from the demo
//! shop's request log: a worker frozen (SIGSTOP) mid-run, and when its users run
//! again on the other worker.

use crate::common;

use std::time::{Duration, Instant};

use common::*;

/// 20 users of 0.5 s wait on two `loadgen worker`s; worker 2's Locust is
/// frozen at +8 s. Returns (seconds from the freeze until 20 users ran again,
/// the master's stderr).
fn freeze_a_worker(timeout: Option<&str>) -> (f64, String) {
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(30, 20, 100, &[("A", 1, 500, 500)]),
        &tagging_template(&["A"]),
    );
    let port = free_port();
    let tag = tag("heartbeat");
    let mut master = Loadgen::run(&format!("{tag}-m"), files.config(), &shop.host())
        .run_time("24s")
        .args(["--expect-workers", "2", "--workers", "0", "--master-bind"])
        .arg(format!("127.0.0.1:{port}"));
    if let Some(timeout) = timeout {
        master = master.args(["--heartbeat-timeout", timeout]);
    }
    let master = std::thread::spawn(move || master.output());
    let mut workers = Vec::new();
    for i in 0..2 {
        let mut cmd = loadgen(&format!("{tag}-w{i}"));
        cmd.arg("worker")
            .args(["--master", &format!("127.0.0.1:{port}")])
            .arg("--config-file")
            .arg(files.config())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        workers.push(Guard(Some(cmd.spawn().unwrap())));
    }
    // The run starts with the first request; worker 2 freezes 8 s later.
    let waited = Instant::now();
    let first = loop {
        if let Some(r) = shop.requests().first() {
            break r.t;
        }
        assert!(waited.elapsed() < Duration::from_secs(60), "no request");
        std::thread::sleep(Duration::from_millis(100));
    };
    let frozen_harness = harness_pids(&format!("{tag}-w1"));
    assert_eq!(frozen_harness.len(), 1, "worker 2's Locust");
    let now = || shop.requests().last().map_or(0.0, |r| r.t);
    while now() < first + 8.0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on a process this test started (its tag says so).
    unsafe { libc::kill(frozen_harness[0] as i32, libc::SIGSTOP) };
    let frozen_at = now();
    let out = master.join().unwrap();
    unsafe { libc::kill(frozen_harness[0] as i32, libc::SIGKILL) };
    drop(workers);
    let stderr = out.stderr();
    assert!(out.status().success(), "{stderr}");
    for name in ["m", "w0", "w1"] {
        assert!(
            wait_until_gone(&format!("{tag}-{name}"), Duration::from_secs(5)).is_empty(),
            "{name}'s processes left behind"
        );
    }
    let log = shop.requests();
    let live = LiveUsers {
        log: &log,
        window: 1.0,
    };
    // The frozen worker's 10 users are gone one window after the freeze, and
    // back (on the other worker) when 20 live users are seen again.
    let gone = (0..100)
        .map(|i| frozen_at + 0.1 * f64::from(i))
        .find(|&t| live.total_at(t) <= 12)
        .expect("the frozen worker's users stopped reaching the shop");
    let back = (0..300)
        .map(|i| gone + 0.1 * f64::from(i))
        .find(|&t| live.total_at(t) >= 20)
        .expect("the frozen worker's users ran again");
    // The live-users window (1 s) delays what it sees of a new user by up to
    // one wait (0.5 s): the users started about then.
    let moved = back - frozen_at - 0.5;
    let series: Vec<String> = (0..30)
        .map(|i| frozen_at - 1.0 + 0.5 * f64::from(i))
        .map(|t| format!("+{:.1}:{}", t - frozen_at, live.total_at(t)))
        .collect();
    println!(
        "--heartbeat-timeout {}: users moved {moved:.1} s after the freeze; live users: {}",
        timeout.unwrap_or("(default 3s)"),
        series.join(" ")
    );
    (moved, stderr)
}

#[test]
fn a_frozen_workers_users_move_after_the_heartbeat_timeout() {
    let (moved, stderr) = freeze_a_worker(Some("8s"));
    // Locust's master calls a worker missing after the timeout's heartbeats
    // (1 s apart) plus one tick of its check: 8..10 s, not the default's 4..5.
    assert!(
        (7.5..=11.0).contains(&moved),
        "users moved {moved:.1} s after the freeze (timeout 8 s)"
    );
    // Said by name, with the 10 users that move to the other worker.
    assert!(
        stderr.lines().any(|l| l.contains("Locust worker ")
            && l.contains(" lost (its 10 users move to the 1 still connected)")),
        "{stderr}"
    );
}
