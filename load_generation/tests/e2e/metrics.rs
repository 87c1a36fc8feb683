//! End to end: `--metrics-addr` while real Locust runs a two-phase load against the
//! demo shop on loopback. The test scrapes `/metrics` like Prometheus would, every
//! half second, and follows the run through the metrics alone.

use crate::common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use prometheus_parse::{Scrape, Value};

/// Phase 1: 4 s of 4 A users. Phase 2: 5 s of 6 users, A 1 : B 2 -> A 2, B 4.
fn config() -> String {
    [
        phase(4, 4, 100, &[("A", 1, 100, 100)]),
        phase(5, 6, 100, &[("A", 1, 100, 100), ("B", 2, 100, 100)]),
    ]
    .concat()
}

const TEMPLATE: &str = r#"from locust import TaskSet, task


class AUserBehavior(TaskSet):
    @task
    def index(self):
        self.client.get("/")


class BUserBehavior(TaskSet):
    @task
    def index(self):
        self.client.get("/")

    @task
    def missing(self):
        # The shop has no such page: a 404, counted as a failure.
        self.client.get("/missing")


{{.Users}}
"#;

/// What one scrape said (None: the series was not there yet).
#[derive(Debug, Clone, Default)]
struct Seen {
    phase: Option<f64>,
    loop_number: Option<f64>,
    target: [Option<f64>; 2],
    actual: [Option<f64>; 2],
    requests: Option<f64>,
    failures_missing: Option<f64>,
    failures_index: Option<f64>,
    has_duration: bool,
    healthy: bool,
}

/// The value of the first sample of `metric` carrying all of `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .find_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

fn read(scrape: &Scrape, healthy: bool) -> Seen {
    let per_type = |metric: &str| {
        [
            value(scrape, metric, &[("user_type", "A")]),
            value(scrape, metric, &[("user_type", "B")]),
        ]
    };
    Seen {
        phase: value(scrape, "loadgen_phase", &[]),
        loop_number: value(scrape, "loadgen_loop", &[]),
        target: per_type("loadgen_users_target"),
        actual: per_type("loadgen_users_actual"),
        requests: value(
            scrape,
            "loadgen_requests_total",
            &[("method", "GET"), ("name", "/")],
        ),
        failures_missing: value(
            scrape,
            "loadgen_failures_total",
            &[("method", "GET"), ("name", "/missing")],
        ),
        failures_index: value(
            scrape,
            "loadgen_failures_total",
            &[("method", "GET"), ("name", "/")],
        ),
        has_duration: scrape.samples.iter().any(|s| {
            s.metric == "loadgen_request_duration_seconds"
                && matches!(&s.value, Value::Histogram(h) if !h.is_empty())
        }),
        healthy,
    }
}

#[test]
fn metrics_follow_the_phases_while_the_load_runs() {
    let shop = Shop::start();
    let files = LoadFiles::new(&config(), TEMPLATE);
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let tag = tag("metrics");
    let mut run = Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("9s")
        .args(["--metrics-addr", &metrics_addr])
        // The 404s are wanted here: they must not fail the run.
        .args(["--exit-code-on-error", "0"]);
    // Only stderr is read: stdout goes nowhere rather than to an unread pipe.
    let cmd = run
        .command_mut()
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut loadgen = Guard(Some(cmd.spawn().expect("start loadgen")));
    let mut stderr_pipe = loadgen.0.as_mut().unwrap().stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let get = |path: &str| {
        client
            .get(format!("http://{metrics_addr}{path}"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.text().ok())
    };
    // Locust takes a few seconds to start on a busy machine; the run itself 9 s.
    let limit = Duration::from_secs(45);
    let mut seen: Vec<Seen> = Vec::new();
    let status = loop {
        if let Some(status) = loadgen.0.as_mut().unwrap().try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > limit {
            break None;
        }
        // /healthz first: if /metrics answers after it, the server was up for both.
        let healthy = get("/healthz").as_deref() == Some("ok");
        if let Some(text) = get("/metrics") {
            let scrape =
                Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse /metrics");
            seen.push(read(&scrape, healthy));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let elapsed = start.elapsed();
    drop(loadgen); // kills it if it outlived the limit
    let stderr = stderr.join().unwrap();
    let status = status
        .unwrap_or_else(|| panic!("loadgen still running after {limit:?}; stderr:\n{stderr}"));
    assert!(
        status.success(),
        "loadgen failed ({status}); stderr:\n{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "the 9 s run took {elapsed:?}; stderr:\n{stderr}"
    );
    assert!(
        wait_until_gone(&tag, Duration::from_secs(2)).is_empty(),
        "processes left behind"
    );

    let context = format!("{} scrapes: {seen:#?}\nstderr:\n{stderr}", seen.len());
    // Phase 0 while Locust starts, then each phase once, in order (a single loop).
    let mut phases: Vec<f64> = seen.iter().filter_map(|s| s.phase).collect();
    phases.dedup();
    if phases.first() == Some(&0.0) {
        phases.remove(0);
    }
    assert_eq!(phases, [1.0, 2.0], "phase sequence; {context}");
    let running: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.phase.is_some_and(|p| p >= 1.0))
        .collect();
    assert!(
        running.len() >= 8,
        "too few scrapes during the run; {context}"
    );
    assert!(
        running.iter().all(|s| s.loop_number == Some(1.0)),
        "loop is not 1 throughout; {context}"
    );

    // Targets per phase, and Locust reaching them.
    let in_phase = |p: f64| running.iter().filter(move |s| s.phase == Some(p));
    for (p, want) in [(1.0, [4.0, 0.0]), (2.0, [2.0, 4.0])] {
        for s in in_phase(p) {
            assert_eq!(
                s.target,
                [Some(want[0]), Some(want[1])],
                "phase {p} targets (A, B); {context}"
            );
        }
        assert!(
            in_phase(p).any(|s| s.actual == [Some(want[0]), Some(want[1])]),
            "Locust never reported {want:?} users (A, B) in phase {p}; {context}"
        );
    }

    // Requests only ever add up, and do add up.
    let requests: Vec<f64> = running.iter().filter_map(|s| s.requests).collect();
    assert!(
        requests.windows(2).all(|w| w[0] <= w[1]),
        "requests_total went down: {requests:?}"
    );
    assert!(
        requests.len() >= 2 && requests.last() > requests.first(),
        "requests_total did not grow: {requests:?}"
    );
    // Failures: only B's requests to the missing page, from phase 2 on.
    assert!(
        in_phase(1.0).all(|s| s.failures_missing.unwrap_or(0.0) == 0.0),
        "failures before any B user; {context}"
    );
    assert!(
        running
            .iter()
            .any(|s| s.failures_missing.unwrap_or(0.0) > 0.0),
        "the 404s were not counted as failures; {context}"
    );
    assert!(
        running
            .iter()
            .all(|s| s.failures_index.unwrap_or(0.0) == 0.0),
        "GET / counted failures; {context}"
    );
    assert!(
        running.iter().any(|s| s.has_duration),
        "no request_duration_seconds histogram; {context}"
    );

    // Kubernetes probes: healthy whenever the server answered during the run.
    assert!(
        running.iter().all(|s| s.healthy),
        "/healthz failed during the run; {context}"
    );
}

/// A taken address is a clear error before anything starts.
#[test]
fn a_taken_metrics_address_is_an_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let files = LoadFiles::new(&config(), TEMPLATE);
    let tag = tag("metrics-taken");
    let out = Loadgen::run(&tag, files.config(), "http://127.0.0.1:9")
        .run_time("5s")
        .args(["--metrics-addr", &addr])
        .limit(Duration::from_secs(30))
        .output();
    let stderr = out.stderr();
    assert!(
        !out.status().success(),
        "loadgen ran despite a taken --metrics-addr: {stderr}"
    );
    assert!(
        stderr.contains(&addr),
        "the error does not name {addr}: {stderr}"
    );
    assert!(
        wait_until_gone(&tag, Duration::from_secs(2)).is_empty(),
        "processes left behind"
    );
}
