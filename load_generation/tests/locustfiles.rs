//! End to end: users' own plain Locust 2.x locustfiles run as they are, with
//! loadgen deciding only how many users of each of their classes run per phase.
//! Judged from the demo shop's request log.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// A locustfile that imports a helper module beside it, reads a data file by a
/// relative path, hooks `test_start`/`test_stop` (each makes one request the shop
/// counts) and has two `constant_pacing` classes: `AUser` and `B` (a user type
/// may name a class exactly). Its own option `--greeting` comes after `--`.
const LOCUSTFILE: &str = r#"import os

import requests
from locust import HttpUser, constant_pacing, events, task

from helper import path_for

# `__file__` is the user's own path, not a copy.
assert os.path.basename(os.path.dirname(os.path.abspath(__file__))) == os.path.basename(os.getcwd()), __file__


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--greeting", default="unset")


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    greeting = environment.parsed_options.greeting
    requests.get(environment.host + "/", headers={"X-User-Type": f"hook-start-{greeting}"})


@events.test_stop.add_listener
def on_test_stop(environment, **kwargs):
    requests.get(environment.host + "/", headers={"X-User-Type": "hook-stop"})


class AUser(HttpUser):
    wait_time = constant_pacing(0.5)

    @task
    def visit(self):
        self.client.get(path_for("A"), headers={"X-User-Type": "A"})


class B(HttpUser):
    wait_time = constant_pacing(0.5)

    @task
    def visit(self):
        self.client.get(path_for("B"), headers={"X-User-Type": "B"})
"#;

const HELPER: &str = r#"def path_for(kind):
    # A data file beside the locustfile, found from the working directory.
    with open("paths.txt") as f:
        return dict(line.split() for line in f)[kind]
"#;

/// Two phases of 6 s; no waits in the config, so each class keeps its
/// `constant_pacing(0.5)`: 2 requests per second per user.
const CONFIG: &str = r#"phases { duration: 6 num_users: 4 hatch_rate_per_s: 100
  user_types { name: "A" ratio: 1 }
  user_types { name: "B" ratio: 1 } }
phases { duration: 6 num_users: 5 hatch_rate_per_s: 100
  user_types { name: "A" ratio: 4 }
  user_types { name: "B" ratio: 1 } }
"#;

fn write_load(dir: &Path) {
    std::fs::write(dir.join("load.pbtxt"), CONFIG).unwrap();
    std::fs::write(dir.join("locustfile.py"), LOCUSTFILE).unwrap();
    std::fs::write(dir.join("helper.py"), HELPER).unwrap();
    std::fs::write(dir.join("paths.txt"), "A /\nB /cart\n").unwrap();
}

fn count(log: &[Logged], kind: &str) -> usize {
    log.iter()
        .filter(|r| r.user_type.as_deref() == Some(kind))
        .count()
}

/// Runs the load with `extra` arguments; returns the shop's log and loadgen's stderr.
fn run(shop: &Shop, extra: &[&str], name: &str) -> (Vec<Logged>, String) {
    let dir = tempfile::tempdir().unwrap();
    write_load(dir.path());
    let mut command = loadgen(&tag(name));
    command
        .current_dir("/")
        .arg("run")
        .arg("--config_file")
        .arg(dir.path().join("load.pbtxt"))
        .arg("-f")
        .arg(dir.path().join("locustfile.py"))
        .args(["--host", &shop.host(), "--run_time", "12s"])
        .args(extra)
        .args(["--", "--greeting", "hello"]);
    let (out, _) = run_with_limit(command, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "loadgen failed: {:?}\n{stderr}",
        out.status
    );
    (shop.requests(), stderr)
}

/// Requests per second of `kind` in [from, to) seconds after the run's start.
fn rate(log: &[Logged], start: f64, kind: &str, from: f64, to: f64) -> f64 {
    LiveUsers { log, window: 1.0 }.rate(kind, start + from, start + to)
}

fn assert_near(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= want * 0.15,
        "{what}: {got:.2}/s, the plan says {want:.2}/s"
    );
}

#[test]
fn a_plain_locustfile_with_a_helper_module_hooks_and_its_own_pacing_follows_the_plan() {
    let shop = Shop::start();
    let (log, stderr) = run(&shop, &[], "plain-local");

    // The hooks ran exactly once each, with the option given after `--`.
    assert_eq!(count(&log, "hook-start-hello"), 1, "{stderr}");
    assert_eq!(count(&log, "hook-stop"), 1, "{stderr}");
    // The helper's paths, read from the data file beside the locustfile.
    assert!(log
        .iter()
        .filter(|r| r.user_type.as_deref() == Some("B"))
        .all(|r| r.route == "/cart"));

    // constant_pacing(0.5) kept: 2 requests/s per user, the plan's users per phase.
    let start = log
        .iter()
        .find(|r| r.user_type.as_deref() == Some("hook-start-hello"))
        .unwrap()
        .t;
    assert_near("A in phase 1", rate(&log, start, "A", 1.0, 5.5), 4.0);
    assert_near("B in phase 1", rate(&log, start, "B", 1.0, 5.5), 4.0);
    assert_near("A in phase 2", rate(&log, start, "A", 7.0, 11.5), 8.0);
    assert_near("B in phase 2", rate(&log, start, "B", 7.0, 11.5), 2.0);
}

#[test]
fn with_workers_the_hooks_fire_on_the_master_and_each_worker_as_in_locust() {
    let shop = Shop::start();
    let (log, stderr) = run(&shop, &["--workers", "2"], "plain-workers");
    // Locust fires test_start and test_stop once on the master and once on each worker.
    assert_eq!(count(&log, "hook-start-hello"), 3, "{stderr}");
    assert_eq!(count(&log, "hook-stop"), 3, "{stderr}");
    let start = log
        .iter()
        .find(|r| r.user_type.as_deref() == Some("hook-start-hello"))
        .unwrap()
        .t;
    assert_near("A in phase 2", rate(&log, start, "A", 7.0, 11.5), 8.0);
    assert_near("B in phase 2", rate(&log, start, "B", 7.0, 11.5), 2.0);
}
