//! End to end: loads written for the original wrapper, in Locust 0.x's names,
//! run unchanged; `check` names the translated names once per file. Judged from
//! the demo shop's request log.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A request's user type without the `-counted` mark the 0.x loads add once
/// their request_success listener has fired.
fn kind(r: &Logged) -> String {
    r.user_type
        .as_deref()
        .unwrap_or("")
        .trim_end_matches("-counted")
        .to_string()
}

/// request_success listeners ran: every request but the very first few
/// carries the count they kept.
fn assert_request_success_fired<'a>(requests: impl IntoIterator<Item = &'a Logged>) {
    let (mut counted, mut all) = (0, 0);
    for r in requests {
        all += 1;
        if r.user_type
            .as_deref()
            .is_some_and(|t| t.ends_with("-counted"))
        {
            counted += 1;
        }
    }
    assert!(
        counted * 100 >= all * 95,
        "{counted} of {all} requests saw request_success fire"
    );
}

/// The sessions that made a request in the `window` seconds up to `t`.
fn sessions_at(log: &[Logged], t: f64, window: f64) -> usize {
    log.iter()
        .filter(|r| r.t > t - window && r.t <= t)
        .map(|r| r.session.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

#[test]
fn the_original_hipster_template_and_config_run_unchanged() {
    let dir = data("original_hipster");
    let config = dir.join("load.pbtxt");
    // `check` imports it in Locust, says what it translates, and passes.
    let out = Loadgen::command(&tag("legacy-check"), ["check", "--config_file"])
        .arg(&config)
        .output();
    let stdout = out.stdout();
    assert!(out.status().success(), "{stdout}{}", out.stderr());
    let notes: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("uses Locust 0.x names"))
        .collect();
    assert_eq!(notes.len(), 1, "{stdout}");
    assert!(
        notes[0].contains("HttpLocust -> HttpUser (line 8)"),
        "{stdout}"
    );

    // The whole loop: 100 users for 50 s, 200 for 20 s, 300 for 10 s.
    let shop = Shop::start();
    let out = Loadgen::run(&tag("legacy-hipster"), &config, &shop.host())
        .args(["--run_time", "80s"])
        .limit(Duration::from_secs(150))
        .success();
    let stderr = out.stderr();
    assert_eq!(
        stderr.matches("uses Locust 0.x names").count(),
        1,
        "one note per file: {stderr}"
    );
    let log = shop.requests();
    assert!(
        log.iter().all(|r| r.status < 400),
        "failed requests at the shop"
    );
    // Each user is a session of the shop (its cookie), making a request about
    // every second: live sessions over 2 s, in the middle of each phase.
    let start = log[0].t;
    for (at, users) in [(35.0, 100), (62.0, 200), (76.0, 300)] {
        let seen = sessions_at(&log, start + at, 2.0) as f64;
        eprintln!("{at} s in: {seen} sessions, the plan {users}");
        assert!(
            (seen - f64::from(users)).abs() <= f64::from(users) * 0.02,
            "{at} s in: {seen} live sessions, the plan says {users}"
        );
    }
    let routes: BTreeSet<&str> = log.iter().map(|r| r.route.as_str()).collect();
    for route in ["/", "/setCurrency", "/cart", "/cart/checkout"] {
        assert!(routes.contains(route), "no {route} in {routes:?}");
    }
}

/// A Locust 0.x locustfile: `HttpLocust` with `task_set` and waits in ms, a
/// `TaskSequence` in `@seq_task` order written out of order, `self.locust`, a
/// helper taking the TaskSet as `l`, and 0.x event hooks added with `+=`.
const LOCUSTFILE_0X: &str = r#"import random

import requests
from locust import HttpLocust, TaskSequence, TaskSet, events, seq_task, task

SUCCESSES = [0]


def on_success(request_type, name, response_time, response_length, **kwargs):
    SUCCESSES[0] += 1


def on_start_hatching(**kwargs):
    # loadgen gives every User class its --host before the test starts.
    requests.get(SeqUser.host + "/", headers={"X-User-Type": "hook-start-hatching"})


events.request_success += on_success
events.locust_start_hatching += on_start_hatching


def visit(l, path, kind):
    # 0.x helpers took the TaskSet as `l`; its user was `l.locust`.
    counted = "-counted" if SUCCESSES[0] > 0 else ""
    l.locust.client.get(path, headers={"X-User-Type": kind + counted})


class Checkout(TaskSequence):
    @seq_task(3)
    def third(self):
        visit(self, "/product/OLJCESPC7Z", "Seq")

    @seq_task(1)
    def first(self):
        visit(self, "/", "Seq")

    @seq_task(2)
    def second(self):
        visit(self, "/cart", "Seq")


class Browsing(TaskSet):
    @task
    def browse(self):
        visit(self, "/product/" + random.choice(["0PUK6V6EV0", "1YMWWN1N4O"]), "Browse")


class SeqUser(HttpLocust):
    task_set = Checkout
    min_wait = 300
    max_wait = 300


class BrowseUser(HttpLocust):
    task_set = Browsing
    min_wait = 300
    max_wait = 300
    stop_timeout = 5
"#;

/// Two phases of 6 s with changing mixes; no waits in the config, so the
/// classes keep theirs (0.3 s, from min_wait/max_wait in ms).
const CONFIG_0X: &str = r#"phases { duration: 6 num_users: 6 hatch_rate_per_s: 100
  user_types { name: "Seq" ratio: 1 }
  user_types { name: "Browse" ratio: 2 } }
phases { duration: 6 num_users: 6 hatch_rate_per_s: 100
  user_types { name: "Seq" ratio: 2 }
  user_types { name: "Browse" ratio: 1 } }
"#;

/// Runs the 0.x locustfile with `extra` against `shop`: the shop's requests
/// and loadgen's stderr.
fn requests_of_0x(shop: &Shop, extra: &[&str], name: &str) -> (Vec<Logged>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.pbtxt"), CONFIG_0X).unwrap();
    std::fs::write(dir.path().join("locustfile.py"), LOCUSTFILE_0X).unwrap();
    let out = Loadgen::run(&tag(name), dir.path().join("load.pbtxt"), &shop.host())
        .locustfile(&dir.path().join("locustfile.py"))
        .args(["--run_time", "12s"])
        .args(extra)
        .limit(Duration::from_secs(60))
        .success();
    (shop.requests(), out.stderr())
}

/// Judges a run of the 0.x locustfile from the shop's log.
/// `start_hatching` is how many Locust processes run users (each fires
/// locust_start_hatching, as 0.x's local runner and each slave did).
fn judge_0x(log: &[Logged], stderr: &str, start_hatching: usize) {
    let note = stderr
        .lines()
        .find(|l| l.contains("uses Locust 0.x names"))
        .unwrap_or_else(|| panic!("no note: {stderr}"));
    for said in [
        "HttpLocust -> HttpUser",
        "task_set -> tasks",
        "min_wait ->",
        "stop_timeout -> ignored",
        "TaskSequence -> SequentialTaskSet",
        "seq_task",
        "locust -> self.user",
        "request_success",
        "locust_start_hatching -> test_start",
    ] {
        assert!(note.contains(said), "{said} not in: {note}");
    }
    // locust_start_hatching fired once, at the start.
    let hooks = log
        .iter()
        .filter(|r| kind(r) == "hook-start-hatching")
        .count();
    assert_eq!(
        hooks, start_hatching,
        "locust_start_hatching fired {hooks} times"
    );
    let users: Vec<&Logged> = log
        .iter()
        .filter(|r| matches!(kind(r).as_str(), "Seq" | "Browse"))
        .collect();
    let start = users[0].t;
    // Each phase's mix, as live sessions per type in the middle of the phase.
    for (at, seq, browse) in [(4.0, 2, 4), (10.0, 4, 2)] {
        let mut live: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for r in users
            .iter()
            .filter(|r| r.t > start + at - 1.0 && r.t <= start + at)
        {
            live.entry(kind(r)).or_default().insert(&r.session);
        }
        let count = |k: &str| live.get(k).map_or(0, BTreeSet::len);
        assert_eq!(
            (count("Seq"), count("Browse")),
            (seq, browse),
            "{at} s in: {live:?}"
        );
    }
    // The sequence runs in @seq_task order in every session: /, /cart, product.
    let mut by_session: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in users.iter().filter(|r| kind(r) == "Seq") {
        by_session.entry(&r.session).or_default().push(&r.route);
    }
    for (session, routes) in &by_session {
        for (i, route) in routes.iter().enumerate() {
            let expected = ["/", "/cart", "/product/{id}"][i % 3];
            assert_eq!(*route, expected, "session {session}: {routes:?}");
        }
    }
    assert_request_success_fired(users.iter().copied());
    // The 0.x waits, 300 ms: a session's requests come about 0.3 s apart.
    let mut gaps = Vec::new();
    for session in users.iter().map(|r| &r.session).collect::<BTreeSet<_>>() {
        let times: Vec<f64> = users
            .iter()
            .filter(|r| &r.session == session)
            .map(|r| r.t)
            .collect();
        gaps.extend(times.windows(2).map(|w| w[1] - w[0]));
    }
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!(
        (0.28..0.45).contains(&median),
        "median gap {median:.3} s, the 0.x waits say 0.3 s"
    );
}

#[test]
fn a_locust_0x_locustfile_runs_unchanged() {
    let shop = Shop::start();
    let (log, stderr) = requests_of_0x(&shop, &[], "legacy-plain");
    judge_0x(&log, &stderr, 1);
}

#[test]
fn a_locust_0x_locustfile_runs_unchanged_on_two_workers() {
    let shop = Shop::start();
    let (log, stderr) = requests_of_0x(&shop, &["--workers", "2"], "legacy-workers");
    judge_0x(&log, &stderr, 2);
}

/// Runs the larger 0.x shop load (tests/data/legacy_shop) for its 30 s:
/// loadgen's stderr.
fn stderr_of_legacy_shop(shop: &Shop, extra: &[&str], name: &str) -> String {
    let config = data("legacy_shop").join("load.pbtxt");
    Loadgen::run(&tag(name), config, &shop.host())
        .args(["--run_time", "30s"])
        .args(extra)
        // The first run installs `six` from PyPI into a cached layer.
        .limit(Duration::from_secs(180))
        .success()
        .stderr()
}

/// Judges a run of the larger 0.x shop load from the shop's log.
fn judge_legacy_shop(log: &[Logged], stderr: &str) {
    assert!(
        stderr.contains("client HttpUser (python-requests), because"),
        "client.cookies needs python-requests: {stderr}"
    );
    assert_eq!(
        stderr.matches("uses Locust 0.x names").count(),
        1,
        "{stderr}"
    );
    let refused: Vec<_> = log.iter().filter(|r| r.status >= 400).collect();
    assert!(refused.is_empty(), "refused by the shop: {refused:?}");
    // Each phase's mix, as live sessions per type in the middle of the phase.
    let start = log[0].t;
    for (at, plan) in [
        (6.0, [("Browser", 30), ("Buyer", 10), ("Skimmer", 0)]),
        (16.0, [("Browser", 20), ("Buyer", 20), ("Skimmer", 20)]),
        (26.0, [("Browser", 0), ("Buyer", 30), ("Skimmer", 20)]),
    ] {
        let mut live: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for r in log
            .iter()
            .filter(|r| r.t > start + at - 1.5 && r.t <= start + at)
        {
            live.entry(kind(r)).or_default().insert(&r.session);
        }
        for (name, users) in plan {
            let seen = live.get(name).map_or(0, BTreeSet::len) as f64;
            eprintln!("{at} s in: {name} {seen}, the plan {users}");
            assert!(
                (seen - f64::from(users)).abs() <= f64::from(users) * 0.02,
                "{at} s in: {seen} live {name} sessions, the plan says {users}"
            );
        }
    }
    // Every Browser and Buyer logged in (the login page, then the form with
    // its token: 200, so the token and the cookie went back), then a Buyer's
    // tasks run in @seq_task order.
    let mut by_session: BTreeMap<&str, (String, Vec<&str>)> = BTreeMap::new();
    for r in log {
        let entry = by_session
            .entry(&r.session)
            .or_insert_with(|| (kind(r), Vec::new()));
        entry.1.push(&r.route);
    }
    for (session, (kind, routes)) in &by_session {
        match kind.as_str() {
            "Browser" | "Buyer" => {
                assert_eq!(&routes[..2], ["/login", "/login"], "{session}: {routes:?}");
            }
            _ => assert!(!routes.contains(&"/login"), "{session}: {routes:?}"),
        }
        if kind == "Buyer" {
            for (i, route) in routes[2..].iter().enumerate() {
                let expected = ["/product/{id}", "/cart", "/cart/checkout"][i % 3];
                assert_eq!(*route, expected, "{session}: {routes:?}");
            }
        }
    }
    assert_request_success_fired(log);
}

#[test]
fn a_larger_0x_load_with_a_login_and_a_package_runs_unchanged() {
    let shop = Shop::start();
    let stderr = stderr_of_legacy_shop(&shop, &[], "legacy-shop");
    judge_legacy_shop(&shop.requests(), &stderr);
}

#[test]
fn a_larger_0x_load_runs_unchanged_on_two_workers() {
    let shop = Shop::start();
    let stderr = stderr_of_legacy_shop(&shop, &["--workers", "2"], "legacy-shop-workers");
    judge_legacy_shop(&shop.requests(), &stderr);
}

#[test]
fn a_template_importing_a_package_it_does_not_list_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let shop_load = data("legacy_shop");
    std::fs::copy(shop_load.join("load.pbtxt"), dir.path().join("load.pbtxt")).unwrap();
    let template = std::fs::read_to_string(shop_load.join("locustfile.loadgen.tmpl"))
        .unwrap()
        .replace("import six\n", "import sixteen_is_not_a_package as six\n");
    std::fs::write(dir.path().join("locustfile.loadgen.tmpl"), template).unwrap();
    let out = Loadgen::command(&tag("legacy-missing"), ["check", "--config_file"])
        .arg(dir.path().join("load.pbtxt"))
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("locustfile.loadgen.tmpl:11:1: error: importing the locustfile failed: ModuleNotFoundError: No module named 'sixteen_is_not_a_package'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("list it in a requirements.txt beside"),
        "{stderr}"
    );
    assert!(!stderr.contains("Traceback"), "{stderr}");
}
