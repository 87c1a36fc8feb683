//! A master and `loadgen worker`s in their own network namespaces (pods on
//! nodes), the demo shop in another: the hosts of `tests/e2e/hosts.rs` and
//! `tests/e2e/cluster_key.rs`. Dropping a [`Cluster`] kills its processes and
//! deletes the namespaces, also when a test fails.
#![allow(dead_code)]

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::netns::{self, Hosts, MASTER_CTL, SHOP};
use super::*;

/// Users in the plan of [`Cluster::start`].
pub const PLAN: usize = 40;
pub const MASTER_PORT: u16 = 5557;
pub const SHOP_PORT: u16 = 8080;

/// One test's hosts and processes: dropping it kills them and deletes the namespaces.
pub struct Cluster {
    pub hosts: Hosts,
    pub files: LoadFiles,
    /// When the shop started: its log's clock counts from about here.
    shop_epoch: Instant,
    pub procs: Vec<(String, Guard)>,
    /// Added to every worker's command line.
    worker_args: Vec<String>,
}

impl Cluster {
    /// The shop, a master running `PLAN` users for `run_time_s`, and workers
    /// `w1`..`wN` (N = `workers`); namespaces for `spare` more workers are made too.
    pub fn start(name: &str, run_time_s: u32, workers: usize, spare: usize) -> Option<Cluster> {
        let config = phase(600, PLAN as u32, 200, &[("A", 1, 500, 500)]);
        Cluster::start_with(
            name,
            &config,
            &tagging_template(&["A"]),
            run_time_s,
            workers,
            spare,
            &[],
            &[],
        )
    }

    /// As [`Cluster::start`], with this config and template, `master_args`
    /// added to the master's and `worker_args` to each worker's; the master
    /// writes its report to `report` in the files' directory. `None` (the test
    /// skips, saying why) where namespaces can't be made, except in CI, where
    /// that fails the test: CI has root and iproute2 (`.ci/run`).
    #[allow(clippy::too_many_arguments)]
    pub fn start_with(
        name: &str,
        config: &str,
        template: &str,
        run_time_s: u32,
        workers: usize,
        spare: usize,
        master_args: &[&str],
        worker_args: &[&str],
    ) -> Option<Cluster> {
        if let Err(why) = netns::available() {
            assert!(
                std::env::var_os("CI").is_none(),
                "network namespaces need root and iproute2, which CI has: {why}"
            );
            eprintln!("skipped: network namespaces need root and iproute2 ({why})");
            return None;
        }
        ensure_locust();
        let mut hosts = Hosts::new(name);
        hosts.add("shop", None, Some(1));
        hosts.add("master", Some(1), Some(2));
        for i in 1..=(workers + spare) {
            hosts.add(&format!("w{i}"), Some(10 + i as u8), Some(10 + i as u8));
        }
        let files = LoadFiles::new(config, template);
        let shop_epoch = Instant::now();
        let shop = hosts
            .command("shop", BIN)
            .args([
                "demo-shop",
                "--bind",
                SHOP,
                "--port",
                &SHOP_PORT.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the shop");
        let mut cluster = Cluster {
            hosts,
            files,
            shop_epoch,
            procs: vec![("shop".into(), Guard(Some(shop)))],
            worker_args: worker_args.iter().map(|a| a.to_string()).collect(),
        };
        let started = Instant::now();
        while cluster.shop_get("/_shop/health").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the shop did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let master = cluster
            .hosts
            .command("master", BIN)
            .arg("--config-file")
            .arg(cluster.files.config())
            .args(["--host", &format!("http://{SHOP}:{SHOP_PORT}")])
            .args(["--run-time", &format!("{run_time_s}s")])
            .args(["--expect-workers", &workers.to_string()])
            .args(["--master-bind", &format!("{MASTER_CTL}:{MASTER_PORT}")])
            .arg("--report")
            .arg(cluster.files.path("report"))
            .args(master_args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the master");
        cluster.procs.push(("master".into(), Guard(Some(master))));
        for i in 1..=workers {
            cluster.start_worker(&format!("w{i}"));
        }
        Some(cluster)
    }

    /// Starts `loadgen worker` on host `host`.
    pub fn start_worker(&mut self, host: &str) {
        let worker = self
            .hosts
            .command(host, BIN)
            .arg("worker")
            .args(["--master", &format!("{MASTER_CTL}:{MASTER_PORT}")])
            .arg("--config-file")
            .arg(self.files.config())
            .args(&self.worker_args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.files.path(&format!("{host}.log"))).expect("worker log"),
            )
            .spawn()
            .expect("start a worker");
        self.procs.push((host.to_string(), Guard(Some(worker))));
    }

    pub fn shop_get(&self, path: &str) -> Option<String> {
        let url = format!("http://{SHOP}:{SHOP_PORT}{path}");
        self.hosts.within("shop", move || http_get(&url))
    }

    /// The shop's clock now (seconds since it started, as its log counts).
    pub fn now(&self) -> f64 {
        self.shop_epoch.elapsed().as_secs_f64()
    }

    /// Waits until the shop has seen a request; returns its time on the shop's clock.
    pub fn first_request(&self) -> f64 {
        let started = Instant::now();
        loop {
            let log = self.log();
            if let Some(first) = log.first() {
                return first.t;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no request reached the shop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn sleep_until(&self, t: f64) {
        let now = self.now();
        if t > now {
            std::thread::sleep(Duration::from_secs_f64(t - now));
        }
    }

    pub fn log(&self) -> Vec<Logged> {
        let base = format!("http://{SHOP}:{SHOP_PORT}");
        self.hosts.within("shop", move || request_log(&base))
    }

    /// Waits for the master to end by itself; returns its exit status and stderr.
    pub fn wait_master(&mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let child: &mut Child = self
            .procs
            .iter_mut()
            .find(|(h, _)| h == "master")
            .and_then(|(_, g)| g.0.as_mut())
            .expect("the master");
        let status = wait_with_limit(child, limit);
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status, stderr)
    }
}

impl Drop for Cluster {
    /// A failing test shows what its workers said.
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (host, _) in &self.procs {
                if let Ok(log) = std::fs::read_to_string(self.files.path(&format!("{host}.log"))) {
                    eprintln!("--- {host}:\n{log}");
                }
            }
        }
    }
}
