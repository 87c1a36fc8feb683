//! End to end: Locust's own semantics under loadgen's phases (issue 28). Each
//! locustfile in `tests/data/semantics/` uses a documented Locust feature the
//! way its docs show it; run by loadgen against the demo shop, judged from the
//! shop's request log. (Whether plain `locust -f` gives the same is the parity
//! suite's question, `tests/e2e/parity/main.rs`.)

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/semantics")
        .join(name)
}

/// `loadgen run` of `tests/data/semantics/<name>.py` with its `<name>.pbtxt`
/// against `shop`, within 60 s: the builder, for each test's flags.
fn semantics_case(shop: &Shop, name: &str) -> Loadgen {
    Loadgen::run(&tag(name), data(&format!("{name}.pbtxt")), &shop.host())
        .locustfile(&data(&format!("{name}.py")))
        .limit(Duration::from_secs(60))
}

fn count(log: &[Logged], kind: &str) -> usize {
    log.iter()
        .filter(|r| r.user_type.as_deref() == Some(kind))
        .count()
}

/// Users wait in `on_start` on a Semaphore that a `spawning_complete` listener
/// releases (Locust's docs). Under loadgen it fires at the end of each phase's
/// ramp with the users then running: every user sends requests in both
/// phases, each naming the count, and the shop sees as many users as the count.
fn spawning_complete_releases_the_waiting_users(extra: &[&str]) {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let out = semantics_case(&shop, "spawning_complete")
        .report(&report)
        .run_time("8s")
        .args(extra)
        .success();
    let stderr = out.stderr();
    let log = shop.requests();
    let summary = out.summary();
    let phases = summary["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 2, "{phases:?}");
    for (phase, users) in phases.iter().zip([3, 5]) {
        let (start, end) = occurrence_times(phase);
        // Past the ramp (and, with workers, the master's wait for their
        // reports), every request names the phase's users, and comes from
        // that many users.
        let settled = sessions_by_kind(&log, start + 1.5, end);
        let kinds: Vec<&String> = settled.keys().collect();
        let expected = format!("spawned-{users}");
        assert_eq!(kinds, vec![&expected], "{settled:?}\n{stderr}");
        assert_eq!(settled[&expected].len(), users, "{settled:?}");
        let requests = log.iter().filter(|r| r.at >= start && r.at < end).count();
        eprintln!("phase of {users} users: {requests} requests, {settled:?}");
    }
    // Nothing before the first spawning_complete: the users waited for it.
    let (first_start, _) = occurrence_times(&phases[0]);
    assert!(
        log.iter().all(|r| r.at >= first_start),
        "a request before the run"
    );
    assert!(
        log.iter()
            .all(|r| r.user_type.as_deref() != Some("spawned-None")),
        "a user ran before spawning_complete fired"
    );
}

#[test]
fn spawning_complete_fires_at_the_end_of_each_phases_ramp() {
    spawning_complete_releases_the_waiting_users(&[]);
}

#[test]
fn spawning_complete_fires_on_the_master_and_every_worker() {
    spawning_complete_releases_the_waiting_users(&["--workers", "2"]);
}

/// Per-user data built in `test_start` from `target_user_count` and
/// `worker_count`, handed out with `send_message` (Locust's custom_messages
/// example): it exists before any user is constructed, every user gets its own
/// datum, the acknowledgements travel back, and the option's env var is read.
fn test_start_hands_out_data_before_any_user_spawns(extra: &[&str], workers: usize) {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let out = semantics_case(&shop, "test_start_data")
        .report(&report)
        .run_time("4s")
        .args(extra)
        .env("DATUM_PREFIX", "x")
        .success();
    let stderr = out.stderr();
    assert!(!stderr.contains("__init__"), "a user crashed: {stderr}");
    let log = shop.requests();
    // test_start ran once, on the runner that hands out the data, before any
    // user, seeing the phase's 4 users and the workers.
    let said = format!("test-start-4-{}-ready", workers.max(1));
    assert_eq!(count(&log, &said), 1, "{stderr}");
    let first_user = log
        .iter()
        .position(|r| {
            r.user_type
                .as_deref()
                .is_some_and(|k| k.starts_with("datum-"))
        })
        .expect("no user ran");
    let test_start = log
        .iter()
        .position(|r| r.user_type.as_deref() == Some(&said))
        .unwrap();
    assert!(test_start < first_user, "a user ran before test_start");
    // Each user its own datum: x0..x3, one session each.
    let by_kind = sessions_by_kind(&log, 0.0, f64::MAX);
    let datums: Vec<&String> = by_kind.keys().filter(|k| k.starts_with("datum-")).collect();
    assert_eq!(
        datums,
        ["datum-x0", "datum-x1", "datum-x2", "datum-x3"],
        "{by_kind:?}"
    );
    assert!(datums.iter().all(|d| by_kind[*d].len() == 1), "{by_kind:?}");
    // The receivers' acknowledgements came back (to the local runner itself,
    // or from each worker to the master).
    match workers {
        0 => assert_eq!(count(&log, "ack-4"), 1, "{by_kind:?}"),
        n => assert_eq!(count(&log, &format!("ack-{}", 4 / n)), n, "{by_kind:?}"),
    }
    eprintln!("{by_kind:?}");
}

#[test]
fn test_start_data_exists_before_users_spawn() {
    test_start_hands_out_data_before_any_user_spawns(&[], 0);
}

#[test]
fn test_start_data_goes_from_the_master_to_each_worker() {
    test_start_hands_out_data_before_any_user_spawns(&["--workers", "2"], 2);
}

/// `environment.runner.quit()` ends the run at once, with the exit code the
/// locustfile set, and loadgen says who ended it and where.
fn runner_quit_ends_the_run(extra: &[&str], max_requests: usize) {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let started = Instant::now();
    let out = semantics_case(&shop, "quit")
        .report(&report)
        .run_time("60s")
        .args(extra)
        .output();
    let (stderr, took) = (out.stderr(), out.elapsed);
    assert_eq!(out.code(), Some(4), "{stderr}");
    assert!(took < Duration::from_secs(20), "took {took:?}: {stderr}");
    assert!(
        stderr.contains("stopped early after")
            && stderr.contains("the locustfile called environment.runner.quit() at ")
            && stderr.contains("quit.py:19"),
        "{stderr}"
    );
    assert!(
        stderr.contains("FAILED (exit 4): the locustfile set environment.process_exit_code = 4"),
        "{stderr}"
    );
    // The shop saw the requests up to the quit, and none after loadgen ended.
    let log = shop.requests();
    let n = count(&log, "quitter");
    assert!((12..=max_requests).contains(&n), "{n} requests\n{stderr}");
    let summary = out.summary();
    assert_eq!(summary["ended"], "stopped_early", "{summary}");
    let (_, ended) = occurrence_times(&summary["phases"][0]);
    let last = log.iter().map(|r| r.at).fold(0.0, f64::max);
    assert!(
        last <= ended + 0.5,
        "a request {:.2} s after the end",
        last - ended
    );
    eprintln!(
        "quit: {n} requests at the shop, loadgen ended after {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn runner_quit_ends_the_run_with_the_locustfiles_exit_code() {
    // Two users: the one that quits at its process's 12th request, the other
    // one at most mid-request.
    runner_quit_ends_the_run(&[], 14);
}

#[test]
fn runner_quit_on_a_worker_ends_the_whole_run() {
    // One user per worker: the first worker at 12 quits; the other made as many at most.
    runner_quit_ends_the_run(&["--workers", "2"], 26);
}

/// A run that made no request says why: users stuck in on_start, users that
/// raised in `__init__` or `on_start` (where), a User without a client.
#[test]
fn a_run_without_requests_says_why() {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let out = semantics_case(&shop, "no_request")
        .report(&report)
        .run_time("3s")
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(1), "{stderr}");
    assert_eq!(shop.total_requests(), 0, "the shop saw requests");
    let failed = stderr
        .lines()
        .find(|l| l.contains("FAILED (exit 1): the run made no request"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let file = data("no_request.py").display().to_string();
    for expected in [
        format!("2 StuckUser users were still in on_start when the run ended, waiting at {file}:17"),
        format!("BrokenUser users raised in __init__: ValueError: no account left for this user at {file}:40"),
        format!("CrashUser users raised in on_start: KeyError: 'token' at {file}:28"),
        "EchoUser has no HTTP client".to_string(),
    ] {
        assert!(failed.contains(&expected), "{expected}\nnot in: {failed}");
    }
    // The report's ending says it too.
    let summary = out.summary();
    let reason = summary["ended_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("StuckUser"), "{summary}");
}

/// A LoadTestShape is ignored (the config's phases set the users), and said
/// at its line by `check` and when the run starts, with its stages drafted as
/// phases.
#[test]
fn a_load_test_shape_is_named_at_its_line_and_ignored() {
    let file = data("shape.py").display().to_string();
    let said = format!(
        "{file}:15: class StagesShape is a LoadTestShape, which loadgen ignores: the config's phases set the users"
    );
    let draft = "phases { duration: 40 num_users: 50 hatch_rate_per_s: 10 user_types { name: \"Website\" ratio: 1 } }";
    let out = Loadgen::command(&tag("shape-check"), ["check", "--config-file"])
        .arg(data("shape.pbtxt"))
        .locustfile(&data("shape.py"))
        .limit(Duration::from_secs(60))
        .output();
    let stdout = out.stdout();
    assert!(out.status().success(), "{stdout}{}", out.stderr());
    assert!(stdout.contains(&said), "{stdout}");
    assert!(stdout.lines().any(|l| l == draft), "{stdout}");

    // The run says it at its start, and runs the config's 2 users, not the shape's 10.
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let out = semantics_case(&shop, "shape")
        .report(&dir.path().join("report"))
        .run_time("3s")
        .success();
    let stderr = out.stderr();
    assert!(stderr.contains(&format!("loadgen: {said}")), "{stderr}");
    let sessions = sessions_by_kind(&shop.requests(), 0.0, f64::MAX);
    assert_eq!(sessions["Website"].len(), 2, "{sessions:?}");
}

/// Users that raise StopUser stay stopped with workers too, as under Locust's
/// own master and workers: the master resends every share each sample (for a
/// worker that lost it), and a worker used to top its users up again each time.
#[test]
fn users_that_stop_themselves_stay_stopped_on_workers() {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("load.pbtxt"),
        "phases { duration: 60 num_users: 3 hatch_rate_per_s: 10\n  user_types { name: \"Shopper\" ratio: 1 } }\n",
    )
    .unwrap();
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/parity/stop_user.py");
    Loadgen::run(
        &tag("stop-user-workers"),
        dir.path().join("load.pbtxt"),
        &shop.host(),
    )
    .locustfile(&file)
    .run_time("6s")
    .args(["--workers", "2"])
    .limit(Duration::from_secs(60))
    .success();
    let log = shop.requests();
    let sessions: BTreeSet<&str> = log.iter().map(|r| r.session.as_str()).collect();
    // Each of the 3 users visits 10 times, then stops for good.
    assert_eq!(
        (sessions.len(), log.len()),
        (3, 30),
        "sessions {sessions:?}"
    );
}

/// `environment.parsed_options` in test_start holds what a headless Locust
/// run's would: headless, the target, and the users asked for.
#[test]
fn parsed_options_are_a_headless_runs() {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    semantics_case(&shop, "options")
        .report(&dir.path().join("report"))
        .run_time("3s")
        .success();
    let marks: BTreeSet<String> = shop
        .requests()
        .into_iter()
        .filter_map(|r| r.user_type)
        .collect();
    assert_eq!(marks, BTreeSet::from(["opts-2-True-True".to_string()]));
}

/// `runner.start()` in a locustfile is ignored (the phases set the users),
/// and said: by `check` at its line, and when the call happens.
#[test]
fn runner_start_is_named_at_its_line_and_ignored() {
    let file = data("runner_start.py").display().to_string();
    let said = format!("{file}:18: environment.runner.start() is ignored under loadgen");
    let out = Loadgen::command(&tag("runner-start-check"), ["check", "--config-file"])
        .arg(data("runner_start.pbtxt"))
        .locustfile(&data("runner_start.py"))
        .limit(Duration::from_secs(60))
        .output();
    let stdout = out.stdout();
    assert!(out.status().success(), "{stdout}{}", out.stderr());
    assert!(stdout.contains(&said), "{stdout}");

    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let out = semantics_case(&shop, "runner_start")
        .report(&dir.path().join("report"))
        .run_time("3s")
        .success();
    let stderr = out.stderr();
    assert!(
        stderr.contains(&format!("loadgen: {said}")),
        "said at the start: {stderr}"
    );
    assert!(
        stderr.contains("environment.runner.start() is ignored under loadgen: the config's phases set the users"),
        "said when it happens: {stderr}"
    );
    let sessions = sessions_by_kind(&shop.requests(), 0.0, f64::MAX);
    assert_eq!(
        sessions["Website"].len(),
        2,
        "the config's 2 users, not 10: {sessions:?}"
    );
}

/// Locust 0.x's `events.hatch_complete += f` fires where spawning_complete
/// does, with the users then running: 0.x users waiting for it run.
#[test]
fn a_0x_hatch_complete_listener_fires_with_spawning_complete() {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    let out = semantics_case(&shop, "hatch_complete")
        .report(&dir.path().join("report"))
        .run_time("3s")
        .success();
    let stderr = out.stderr();
    assert!(
        stderr.contains("hatch_complete -> spawning_complete (line 17)"),
        "{stderr}"
    );
    let sessions = sessions_by_kind(&shop.requests(), 0.0, f64::MAX);
    let kinds: Vec<&String> = sessions.keys().collect();
    assert_eq!(kinds, ["hatched-3"], "{sessions:?}");
    assert_eq!(sessions["hatched-3"].len(), 3, "{sessions:?}");
}
