//! End to end: `loadgen worker` waits for an unreachable master with backoff,
//! stops cleanly on SIGTERM, and fails (non-zero) when its Locust dies.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

fn start_worker(tag: &str, files: &LoadFiles, port: u16) -> (Child, mpsc::Receiver<String>) {
    let mut child = loadgen(tag)
        .arg("worker")
        .arg("--config-file")
        .arg(files.config())
        .args(["--master", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen worker");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits for a stderr line containing `text`; every line seen so far.
fn wait_for_line(rx: &mpsc::Receiver<String>, text: &str, limit: Duration) -> (bool, String) {
    let start = Instant::now();
    let mut seen = String::new();
    while start.elapsed() < limit {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(text) {
                return (true, seen);
            }
        }
    }
    (false, seen)
}

#[test]
fn a_worker_retries_an_unreachable_master_and_stops_on_sigterm() {
    let files = LoadFiles::new(
        &phase(10, 2, 10, &[("A", 1, 100, 100)]),
        &tagging_template(&["A"]),
    );
    let tag = tag("workerretry");
    let (mut child, rx) = start_worker(&tag, &files, free_port());
    let (said, seen) = wait_for_line(&rx, "trying again in", Duration::from_secs(30));
    assert!(said, "no word about the unreachable master: {seen}");
    assert!(seen.contains("cannot reach the Locust master"), "{seen}");
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the worker did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(wait_until_gone(&tag, Duration::from_secs(2)).is_empty());
}

#[test]
fn a_worker_whose_locust_dies_exits_non_zero() {
    let files = LoadFiles::new(
        &phase(10, 2, 10, &[("A", 1, 100, 100)]),
        &tagging_template(&["A"]),
    );
    let tag = tag("workercrash");
    let (mut child, _rx) = start_worker(&tag, &files, free_port());
    let start = Instant::now();
    let victim = loop {
        if let Some(&pid) = harness_pids(&tag).first() {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no harness started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: a signal to a process our child started.
    unsafe {
        libc::kill(victim as i32, libc::SIGKILL);
    }
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the worker did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1), "{status}");
}

/// The worker's own `quitting` sets its exit code; the master's sets none.
const WORKER_EXIT_LOCUSTFILE: &str = r#"from locust import HttpUser, constant, events, task
from locust.runners import WorkerRunner


@events.quitting.add_listener
def _(environment, **kwargs):
    if isinstance(environment.runner, WorkerRunner):
        environment.process_exit_code = 7


class AUser(HttpUser):
    wait_time = constant(0.2)

    @task
    def visit(self):
        self.client.get("/", headers={"X-User-Type": "A"})
"#;

#[test]
fn a_worker_exits_with_its_locustfiles_process_exit_code() {
    let shop = Shop::start();
    let files = LoadFiles::new(&phase(10, 2, 10, &[("A", 1, 200, 200)]), "");
    let locustfile = files.path("locustfile.py");
    std::fs::write(&locustfile, WORKER_EXIT_LOCUSTFILE).unwrap();
    let port = free_port();
    let master = Loadgen::run(&tag("worker-exit-master"), files.config(), &shop.host())
        .locustfile(&locustfile)
        .run_time("4s")
        .args(["--expect-workers", "1", "--master-bind"])
        .arg(format!("127.0.0.1:{port}"));
    let master = std::thread::spawn(move || master.output());
    let worker = Loadgen::command(&tag("worker-exit"), ["worker", "--config-file"])
        .arg(files.config())
        .locustfile(&locustfile)
        .args(["--master", &format!("127.0.0.1:{port}")])
        .output();
    let master = master.join().unwrap();
    let (worker_err, master_err) = (worker.stderr(), master.stderr());
    assert!(master.status().success(), "{master_err}");
    assert!(shop.total_requests() > 0, "{master_err}");
    assert_eq!(worker.code(), Some(7), "{worker_err}");
    assert!(
        worker_err.contains("the locustfile set environment.process_exit_code = 7"),
        "{worker_err}"
    );
}
