//! End to end: users' own plain Locust 2.x locustfiles run as they are, with
//! loadgen deciding only how many users of each of their classes run per phase.
//! Judged from the demo shop's request log.

use crate::common;

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
fn requests_of(shop: &Shop, extra: &[&str], name: &str) -> (Vec<Logged>, String) {
    let dir = tempfile::tempdir().unwrap();
    write_load(dir.path());
    let out = Loadgen::run(&tag(name), dir.path().join("load.pbtxt"), &shop.host())
        .current_dir("/")
        .locustfile(&dir.path().join("locustfile.py"))
        .run_time("12s")
        .args(extra)
        .args(["--", "--greeting", "hello"])
        .limit(Duration::from_secs(60))
        .success();
    (shop.requests(), out.stderr())
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
    let (log, stderr) = requests_of(&shop, &[], "plain-local");

    // The hooks ran exactly once each, with the option given after `--`.
    assert_eq!(count(&log, "hook-start-hello"), 1, "{stderr}");
    assert_eq!(count(&log, "hook-stop"), 1, "{stderr}");
    // The helper's paths, read from the data file beside the locustfile.
    assert!(log
        .iter()
        .filter(|r| r.user_type.as_deref() == Some("B"))
        .all(|r| r.route == "/cart"));
    // The trace context reaches a plain locustfile's users (issue 37), each
    // naming its plan's user type; the hooks' own `requests.get` is not
    // Locust's client, so it carries none.
    for r in &log {
        let kind = r.user_type.as_deref().unwrap_or("");
        if kind == "A" || kind == "B" {
            let baggage = r.baggage.as_deref().unwrap_or_else(|| panic!("{r:?}"));
            assert!(
                r.traceparent
                    .as_deref()
                    .is_some_and(|t| t.starts_with("00-")),
                "{r:?}"
            );
            assert!(
                baggage.contains(&format!("loadgen.user_type={kind}")),
                "{r:?}"
            );
        } else {
            assert!(r.traceparent.is_none() && r.baggage.is_none(), "{r:?}");
        }
    }

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
    let (log, stderr) = requests_of(&shop, &["--workers", "2"], "plain-workers");
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

/// The shape of Online Boutique's own locustfile: a FastHttpUser with tasks in a
/// TaskSet, its own `between()` waits, and a package from PyPI (`six`, which
/// Locust does not bring) listed in a requirements.txt beside it.
const FAST_LOCUSTFILE: &str = r#"import six
from locust import FastHttpUser, TaskSet, between, task


class Browse(TaskSet):
    @task
    def index(self):
        self.client.get("/", headers={"X-User-Type": six.ensure_str("Website")})


class WebsiteUser(FastHttpUser):
    wait_time = between(0.2, 0.3)
    tasks = [Browse]
"#;

/// Phase 1 keeps the class's waits (the config sets none); phase 2 sets them.
const FAST_CONFIG: &str = r#"phases { duration: 6 num_users: 3 hatch_rate_per_s: 100
  user_types { name: "Website" ratio: 1 } }
phases { duration: 6 num_users: 6 hatch_rate_per_s: 100
  user_types { name: "Website" ratio: 1 min_wait_ms: 1000 max_wait_ms: 1000 } }
"#;

#[test]
fn a_fast_http_locustfile_with_a_pypi_dependency_keeps_its_waits_unless_the_config_sets_them() {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.pbtxt"), FAST_CONFIG).unwrap();
    std::fs::write(dir.path().join("locustfile.py"), FAST_LOCUSTFILE).unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "six==1.16.0\n").unwrap();
    let out = Loadgen::run(
        &tag("plain-fast"),
        dir.path().join("load.pbtxt"),
        &shop.host(),
    )
    .arg("--locustfile")
    .arg(dir.path().join("locustfile.py"))
    .run_time("12s")
    // The first run installs `six` from PyPI; later runs reuse the cached layer.
    .limit(Duration::from_secs(120))
    .success();
    let stderr = out.stderr();
    let log = shop.requests();
    let start = log.first().expect("requests").t;
    let live = LiveUsers {
        log: &log,
        window: 1.5,
    };
    // New users per phase, exact, as the shop's sessions show them.
    assert_eq!(live.at(start + 5.0).get("Website"), Some(&3), "{stderr}");
    assert_eq!(live.at(start + 11.0).get("Website"), Some(&6), "{stderr}");
    let sessions: std::collections::BTreeSet<&str> =
        log.iter().map(|r| r.session.as_str()).collect();
    assert_eq!(sessions.len(), 6, "{stderr}");
    // Phase 1: between(0.2, 0.3) kept, about 4 requests/s per user (not the
    // hundreds of no wait). Phase 2: the config's 1 s wait, 1 request/s per user.
    let phase1 = rate(&log, start, "Website", 1.0, 5.5);
    assert!((3.0 * 3.0..=3.0 * 5.0).contains(&phase1), "{phase1:.1}/s");
    assert_near("phase 2", rate(&log, start, "Website", 8.0, 11.5), 6.0);
}

#[test]
fn a_package_that_cannot_be_had_is_a_clear_error_before_any_load() {
    let shop = Shop::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.pbtxt"), FAST_CONFIG).unwrap();
    std::fs::write(dir.path().join("locustfile.py"), FAST_LOCUSTFILE).unwrap();
    let requirements = dir.path().join("reqs.txt");
    std::fs::write(&requirements, "loadgen-no-such-package-4711==0.0.1\n").unwrap();
    let out = Loadgen::run(
        &tag("plain-badreq"),
        dir.path().join("load.pbtxt"),
        &shop.host(),
    )
    .locustfile(&dir.path().join("locustfile.py"))
    .arg("--requirements")
    .arg(&requirements)
    .run_time("4s")
    .limit(Duration::from_secs(120))
    .output();
    let stderr = out.stderr();
    assert!(!out.status().success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot install the packages of {}",
            requirements.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("loadgen-no-such-package-4711"), "{stderr}");
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert_eq!(shop.total_requests(), 0);
}

/// A locustfile that judges its own run, as Locust users do: its `quitting`
/// listener sets `environment.process_exit_code` from the stats it sees (`--code`,
/// after `--`, when a request failed; 9 otherwise). Every visit also asks for a
/// page the shop does not have, so requests fail.
const EXIT_CODE_LOCUSTFILE: &str = r#"from locust import HttpUser, constant, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--code", type=int, default=9)


@events.quitting.add_listener
def _(environment, **kwargs):
    failed = environment.stats.total.num_failures > 0
    environment.process_exit_code = environment.parsed_options.code if failed else 9


class WebsiteUser(HttpUser):
    wait_time = constant(0.2)

    @task
    def visit(self):
        self.client.get("/", headers={"X-User-Type": "Website"})
        self.client.get("/no-such-page", headers={"X-User-Type": "Website"})
"#;

/// Runs the self-judging locustfile; returns loadgen's exit code and stderr.
fn self_judged_exit(shop: &Shop, extra: &[&str], code: &str, name: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("load.pbtxt"),
        phase(4, 2, 100, &[("Website", 1, 200, 200)]),
    )
    .unwrap();
    std::fs::write(dir.path().join("locustfile.py"), EXIT_CODE_LOCUSTFILE).unwrap();
    let out = Loadgen::run(&tag(name), dir.path().join("load.pbtxt"), &shop.host())
        .locustfile(&dir.path().join("locustfile.py"))
        .run_time("4s")
        .args(extra)
        .args(["--", "--code", code])
        .limit(Duration::from_secs(60))
        .output();
    (out.code(), out.stderr())
}

#[test]
fn the_locustfiles_process_exit_code_is_loadgens_exit_code() {
    let shop = Shop::start();
    let (code, stderr) = self_judged_exit(&shop, &[], "5", "exit-code-5");
    // The shop answered 404s, so the locustfile saw failures and chose 5 (where
    // loadgen's own judgment would have been 1).
    let log = shop.requests();
    assert!(log.iter().any(|r| r.status == 404), "{stderr}");
    assert!(log.iter().any(|r| r.status == 200), "{stderr}");
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.contains("FAILED (exit 5): the locustfile set environment.process_exit_code = 5"),
        "{stderr}"
    );
}

#[test]
fn a_process_exit_code_of_0_set_on_the_master_passes_a_run_with_failed_requests() {
    let shop = Shop::start();
    // With workers, the master's statistics and its quitting decide, as in Locust.
    let (code, stderr) = self_judged_exit(&shop, &["--workers", "2"], "0", "exit-code-0");
    assert!(shop.requests().iter().any(|r| r.status == 404), "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("the locustfile set environment.process_exit_code = 0"),
        "{stderr}"
    );
}

/// Three tasks: the home page untagged, the cart tagged `checkout`, a product
/// page tagged `browse`; each request names its task for the shop's log.
const TAGGED_LOCUSTFILE: &str = r#"from locust import HttpUser, constant, tag, task


class WebsiteUser(HttpUser):
    wait_time = constant(0.1)

    @task
    def home(self):
        self.client.get("/", headers={"X-User-Type": "home"})

    @tag("checkout")
    @task
    def cart(self):
        self.client.get("/cart", headers={"X-User-Type": "cart"})

    @tag("browse")
    @task
    def product(self):
        self.client.get("/product/OLJCESPC7Z", headers={"X-User-Type": "product"})
"#;

/// Runs the tagged locustfile with `extra` flags; the shop's requests per task.
fn requests_per_task(
    shop: &Shop,
    extra: &[&str],
    name: &str,
) -> std::collections::BTreeMap<String, usize> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("load.pbtxt"),
        "phases { duration: 4 num_users: 3 hatch_rate_per_s: 100\n  user_types { name: \"Website\" ratio: 1 } }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("locustfile.py"), TAGGED_LOCUSTFILE).unwrap();
    Loadgen::run(&tag(name), dir.path().join("load.pbtxt"), &shop.host())
        .locustfile(&dir.path().join("locustfile.py"))
        .run_time("4s")
        .args(extra)
        .limit(Duration::from_secs(60))
        .success();
    let mut counts = std::collections::BTreeMap::new();
    for r in shop.requests() {
        *counts.entry(r.user_type.unwrap_or_default()).or_insert(0) += 1;
    }
    counts
}

#[test]
fn exclude_tags_keeps_a_tagged_task_from_ever_reaching_the_target() {
    let shop = Shop::start();
    let counts = requests_per_task(&shop, &["--exclude-tags", "checkout"], "exclude-tags");
    assert_eq!(counts.get("cart"), None, "{counts:?}");
    both_ran(&counts, "home", "product");
}

#[test]
fn tags_run_only_the_tagged_tasks_on_every_worker() {
    let shop = Shop::start();
    let counts = requests_per_task(
        &shop,
        &["--workers", "2", "--tags", "checkout", "browse"],
        "tags",
    );
    assert_eq!(counts.get("home"), None, "{counts:?}");
    both_ran(&counts, "cart", "product");
}

/// The two tasks left, equally weighted, both ran, each its share of a real
/// load: at least half the requests less five standard deviations of a fair
/// coin's count (a fixed floor of 20 failed 3e-5 of runs on a busy machine,
/// where 77 requests are all it makes).
fn both_ran(counts: &std::collections::BTreeMap<String, usize>, a: &str, b: &str) {
    let (a, b) = (counts.get(a).copied(), counts.get(b).copied());
    let (Some(a), Some(b)) = (a, b) else {
        panic!("both tasks ran: {counts:?}");
    };
    let total = (a + b) as f64;
    assert!(total > 40.0, "a load of {total} requests: {counts:?}");
    let floor = total / 2.0 - 2.5 * total.sqrt();
    assert!(
        a as f64 >= floor && b as f64 >= floor,
        "each at least {floor:.0}: {counts:?}"
    );
}

#[test]
fn render_copies_a_plain_locustfile_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.pbtxt"), FAST_CONFIG).unwrap();
    // CRLF line ends, non-ASCII text and no final line break: all kept as they are.
    let original = FAST_LOCUSTFILE.replace('\n', "\r\n") + "# café, 東京";
    std::fs::write(dir.path().join("boutique.py"), &original).unwrap();
    let out = dir.path().join("rendered");
    let render = Loadgen::command(&tag("render-plain"), ["render", "--config-file"])
        .arg(dir.path().join("load.pbtxt"))
        .locustfile(&dir.path().join("boutique.py"))
        .arg("--out")
        .arg(&out)
        .limit(Duration::from_secs(30))
        .success();
    assert_eq!(
        std::fs::read(out.join("boutique.py")).unwrap(),
        original.as_bytes()
    );
    // Nothing else: there is no per-phase file to write for a plain locustfile.
    let written: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(render.stdout().contains("copied unchanged"));
}

/// A locustfile that prints far more than loadgen reads (1 MB a task, about
/// 90 MB/s asked) keeps its load: a write to the full pipe would hold every
/// user of the process until loadgen read it (measured: 22 req/s of the
/// plan's 90), so the harness buffers what the users print, drops what does
/// not fit and says so. Judged by the shop's request rate.
#[test]
fn a_locustfile_printing_megabytes_a_second_keeps_its_load() {
    let shop = Shop::start();
    let template = tagging_template(&["A"])
        .replace(
            "from locust import",
            "import sys\n\nLINES = (\"y\" * 199 + \"\\n\") * 5000\n\nfrom locust import",
        )
        .replace(
            "headers={\"X-User-Type\": \"A\"})\n",
            "headers={\"X-User-Type\": \"A\"})\n        sys.stderr.write(LINES)\n        print(LINES)\n",
        )
        // The users' stdout and stderr stay blocking, as a subprocess they
        // start expects (a non-blocking pipe makes its writes fail with
        // EAGAIN when full): said to the shop by the users themselves.
        .replace(
            "\"X-User-Type\": \"A\"",
            "\"X-User-Type\": f\"A-{os.get_blocking(1)}-{os.get_blocking(2)}\"",
        )
        .replace("import sys\n", "import os\nimport sys\n");
    assert!(template.contains("print(LINES)"), "{template}");
    let files = LoadFiles::new(&phase(10, 10, 100, &[("A", 1, 100, 100)]), &template);
    let stderr = Loadgen::run(&tag("printing"), files.config(), &shop.host())
        .run_time("10s")
        .limit(Duration::from_secs(60))
        .success()
        .stderr();
    let log = shop.requests();
    let t0 = log.first().expect("requests").t;
    let non_blocking: Vec<&Logged> = log
        .iter()
        .filter(|r| r.user_type.as_deref() != Some("A-True-True"))
        .collect();
    assert!(
        non_blocking.is_empty(),
        "the users' stdout or stderr was not blocking: {:?}",
        non_blocking.first()
    );
    // 10 users at 0.1 s waits: about 90 requests/s. At least 70/s from +2 s
    // to +9 s, and no half second under a quarter of the plan.
    let steady = log
        .iter()
        .filter(|r| r.t >= t0 + 2.0 && r.t < t0 + 9.0)
        .count() as f64
        / 7.0;
    assert!(steady >= 70.0, "{steady:.1} requests/s");
    let mut t = t0 + 2.0;
    while t < t0 + 9.0 {
        let n = log.iter().filter(|r| r.t >= t && r.t < t + 0.5).count();
        assert!(
            n >= 11,
            "only {n} requests in the 0.5 s from +{:.1}s",
            t - t0
        );
        t += 0.5;
    }
    // Said, not hidden.
    assert!(
        stderr.contains("of its output dropped so far (its users were not held up)"),
        "{stderr}"
    );
    assert!(!stderr.contains("restart"), "{stderr}");
}
