//! End to end: live control (jump, pause, resume, scale, status, tokens) and hot
//! reload (a ConfigMap-style symlink swap, a broken config, a new template,
//! SIGHUP), all judged from the server's request log.

use crate::common;

use std::os::unix::fs::symlink;

use std::process::Child;
use std::time::{Duration, Instant};

use common::*;

const WAIT: (u32, u32) = (200, 200);

fn three_phases() -> String {
    [
        phase(60, 10, 100, &[("A", 1, WAIT.0, WAIT.1)]),
        phase(60, 10, 100, &[("B", 1, WAIT.0, WAIT.1)]),
        phase(60, 10, 100, &[("C", 1, WAIT.0, WAIT.1)]),
    ]
    .concat()
}

fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().expect("wait for loadgen");
    (out.status.success(), text(&out.stderr))
}

fn live(shop: &Shop, at: f64) -> std::collections::BTreeMap<String, usize> {
    let log = shop.requests();
    LiveUsers {
        log: &log,
        window: 0.6,
    }
    .at(at)
}

#[test]
fn jump_pause_resume_and_scale_change_what_the_server_sees() {
    let shop = Shop::start();
    // Phase 3 has a name, which /status gives while it runs.
    let config = [
        phase(60, 10, 100, &[("A", 1, WAIT.0, WAIT.1)]),
        phase(60, 10, 100, &[("B", 1, WAIT.0, WAIT.1)]),
        phase(60, 10, 100, &[("C", 1, WAIT.0, WAIT.1)]).replacen(
            "phases {",
            "phases {\n  name: \"holiday\"",
            1,
        ),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A", "B", "C"]));
    let report = files.path("report");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let tag = tag("control");
    let child = spawn_run(
        &tag,
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "24s",
            "--control-addr",
            &format!("127.0.0.1:{port}"),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    wait_for(&shop, 20);
    std::thread::sleep(Duration::from_millis(1500));

    let (code, status) = call("GET", &format!("{api}/status"), None, "");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["phase"], 1, "{status}");
    assert_eq!(status["phase_name"], serde_json::Value::Null, "{status}");
    assert_eq!(status["users"]["AUser"]["target"], 10, "{status}");
    assert_eq!(status["paused"], false);
    assert!(status["requests"].as_u64().unwrap() > 0, "{status}");

    // Phase 1 -> 3: within 2 s the server sees phase 3's type only.
    let (code, status) = call("POST", &format!("{api}/phase/3"), None, "");
    assert_eq!((code, status["phase"].as_u64()), (200, Some(3)), "{status}");
    assert_eq!(status["phase_name"], "holiday", "{status}");
    let jumped = shop_now(&shop);
    std::thread::sleep(Duration::from_millis(2500));
    let seen = live(&shop, jumped + 2.3);
    assert_eq!(seen.get("C"), Some(&10), "2 s after the jump: {seen:?}");
    assert_eq!(seen.get("A"), None, "A users left after the jump: {seen:?}");

    // Pause: no request at all after the users' last tasks.
    let (code, status) = call("POST", &format!("{api}/pause"), None, "");
    assert_eq!(
        (code, status["paused"].as_bool()),
        (200, Some(true)),
        "{status}"
    );
    let paused = shop_now(&shop);
    std::thread::sleep(Duration::from_millis(2500));
    let during: Vec<f64> = shop
        .requests()
        .iter()
        .map(|r| r.t)
        .filter(|&t| t > paused + 0.8)
        .collect();
    assert!(during.is_empty(), "requests while paused: {during:?}");

    // Resume: back in phase 3 with its 10 users.
    let (code, _) = call("POST", &format!("{api}/resume"), None, "");
    assert_eq!(code, 200);
    std::thread::sleep(Duration::from_millis(2000));
    let seen = live(&shop, shop_now(&shop));
    assert_eq!(seen.get("C"), Some(&10), "after resume: {seen:?}");

    // Scale by 2: 20 users, same mix.
    let (code, status) = call("POST", &format!("{api}/scale"), None, "2");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["users"]["CUser"]["target"], 20, "{status}");
    std::thread::sleep(Duration::from_millis(2000));
    let seen = live(&shop, shop_now(&shop));
    assert_eq!(seen.get("C"), Some(&20), "after scale 2: {seen:?}");

    // A phase that doesn't exist is refused, and nothing changes.
    let (code, refusal) = call("POST", &format!("{api}/phase/9"), None, "");
    assert_eq!(code, 409, "{refusal}");
    assert!(
        refusal["error"].as_str().unwrap().contains("no phase 9"),
        "{refusal}"
    );
    let (code, _) = call("POST", &format!("{api}/scale"), None, "lots");
    assert_eq!(code, 400);

    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("control: jumped to phase 3"), "{stderr}");
    let summary = json(&report.join("summary.json"));
    let kinds: Vec<&str> = summary["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["jump", "pause", "resume", "scale"], "{summary}");
}

#[test]
fn a_token_protects_the_api_and_ctl_uses_it() {
    let shop = Shop::start();
    let files = LoadFiles::new(&three_phases(), &tagging_template(&["A", "B", "C"]));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let tag = tag("token");
    let child = spawn_run(
        &tag,
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "8s",
            "--control-addr",
            &addr,
            "--control-token",
            "s3cret",
        ],
    );
    wait_for(&shop, 5);
    let url = format!("http://{addr}/status");
    assert_eq!(call("GET", &url, None, "").0, 401);
    assert_eq!(call("GET", &url, Some("wrong"), "").0, 401);
    assert_eq!(call("GET", &url, Some("s3cret"), "").0, 200);

    let ctl = |args: &[&str]| {
        let out = Loadgen::command(&tag, ["ctl", "--addr", &addr])
            .args(args)
            .output();
        (out.code(), out.stdout(), out.stderr())
    };
    let (code, stdout, stderr) = ctl(&["--token", "s3cret", "status"]);
    assert_eq!(code, Some(0), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("status JSON");
    assert_eq!(status["phase"], 1);
    let (code, _, stderr) = ctl(&["pause"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    let (code, stdout, stderr) = ctl(&["--token", "s3cret", "next"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("\"phase\": 2"), "{stdout}");
    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
}

#[test]
fn an_api_open_beyond_loopback_needs_a_token() {
    let files = LoadFiles::new(&three_phases(), &tagging_template(&["A", "B", "C"]));
    let out = Loadgen::run(&tag("opentoken"), files.config(), "http://127.0.0.1:9")
        .run_time("5s")
        .args(["--control-addr", &format!("0.0.0.0:{}", free_port())])
        .limit(Duration::from_secs(30))
        .output();
    let (stderr, took) = (out.stderr(), out.elapsed);
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--control-token"), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

/// A directory laid out as the kubelet lays out a ConfigMap volume: the files
/// are symlinks into `..data`, itself a symlink to a timestamped directory,
/// swapped atomically on update.
struct ConfigMapDir {
    dir: tempfile::TempDir,
    version: u32,
}

impl ConfigMapDir {
    fn new(config: &str, template: &str) -> ConfigMapDir {
        let dir = tempfile::tempdir().unwrap();
        let mut volume = ConfigMapDir { dir, version: 0 };
        volume.update(config, template);
        for name in ["load.pbtxt", "locustfile.loadgen.tmpl"] {
            symlink(format!("..data/{name}"), volume.dir.path().join(name)).unwrap();
        }
        volume
    }

    fn update(&mut self, config: &str, template: &str) {
        self.version += 1;
        let data = format!("..2026_11_28_v{}", self.version);
        let path = self.dir.path().join(&data);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("load.pbtxt"), config).unwrap();
        std::fs::write(path.join("locustfile.loadgen.tmpl"), template).unwrap();
        let tmp = self.dir.path().join("..data_tmp");
        symlink(&data, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.path().join("..data")).unwrap();
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("load.pbtxt")
    }
}

#[test]
fn a_configmap_update_reloads_the_plan_without_a_gap_and_a_broken_one_is_ignored() {
    let shop = Shop::start();
    let template = tagging_template(&["A", "B"]);
    let mut volume = ConfigMapDir::new(&phase(60, 10, 100, &[("A", 1, 200, 200)]), &template);
    let report = volume.dir.path().join("report");
    let port = free_port();
    let tag = tag("reload");
    let child = spawn_run(
        &tag,
        &volume.config(),
        &shop.host(),
        &[
            "--run-time",
            "18s",
            "--report",
            report.to_str().unwrap(),
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    wait_for(&shop, 20);
    std::thread::sleep(Duration::from_millis(1500));

    // 10 A -> 20 A: the new count within a few seconds, with no silence
    // (the same classes: Locust goes on, only the counts move).
    let mix = phase(60, 20, 100, &[("A", 1, 200, 200)]);
    volume.update(&mix, &template);
    let swapped = shop_now(&shop);
    std::thread::sleep(Duration::from_millis(3000));
    let seen = live(&shop, swapped + 2.8);
    assert_eq!(seen.get("A"), Some(&20), "after the swap: {seen:?}");
    let silence = longest_silence(&shop, swapped - 1.0, swapped + 2.8);
    assert!(
        silence < 0.5,
        "{silence:.2} s without a request around the reload"
    );

    // A broken config: reported with its position, ignored, the plan goes on.
    // First the positive sign that it was read and refused (the metric), so
    // that "the plan goes on" cannot pass by being checked too early.
    volume.update("phases { duration: 60 num_users: -5 }\n", &template);
    let refused = Instant::now();
    let metrics = loop {
        let metrics = http_get(&format!("http://127.0.0.1:{port}/metrics")).unwrap_or_default();
        if metrics.contains("loadgen_config_reloads_total{result=\"failed\"} 1") {
            break metrics;
        }
        assert!(
            refused.elapsed() < Duration::from_secs(10),
            "the broken config was not refused within 10 s: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A second after the refusal, the shop still sees the running plan's users.
    std::thread::sleep(Duration::from_millis(1000));
    let seen = live(&shop, shop_now(&shop));
    assert_eq!(seen.get("A"), Some(&20), "{seen:?}");
    assert!(
        metrics.contains("loadgen_config_reloads_total{result=\"applied\"} 1"),
        "{metrics}"
    );

    // A new user type needs a new Python class: Locust restarts with it.
    let mix = phase(60, 20, 100, &[("A", 1, 200, 200), ("B", 1, 200, 200)]);
    volume.update(&mix, &template);
    std::thread::sleep(Duration::from_millis(3500));
    let seen = live(&shop, shop_now(&shop));
    assert_eq!(
        (seen.get("A"), seen.get("B")),
        (Some(&10), Some(&10)),
        "{seen:?}"
    );

    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("config reloaded"), "{stderr}");
    assert!(stderr.contains("invalid and was ignored"), "{stderr}");
    assert!(stderr.contains("load.pbtxt:1:"), "no position: {stderr}");
    let summary = json(&report.join("summary.json"));
    let kinds: Vec<&str> = summary["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reload", "reload_failed", "reload"], "{summary}");
    // The summary knows the type the reload added.
    assert_eq!(summary["user_types"], serde_json::json!(["AUser", "BUser"]));
}

#[test]
fn a_new_template_restarts_locust_with_it_and_sighup_reloads_without_watching() {
    let shop = Shop::start();
    let config = phase(60, 10, 100, &[("A", 1, 200, 200)]);
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let tag = tag("retemplate");
    let child = spawn_run(
        &tag,
        &files.config(),
        &shop.host(),
        &["--run-time", "16s", "--no-reload"],
    );
    wait_for(&shop, 20);
    std::thread::sleep(Duration::from_millis(1000));

    // With --no-reload an edit waits for SIGHUP.
    let renamed =
        tagging_template(&["A"]).replace("\"X-User-Type\": \"A\"", "\"X-User-Type\": \"A2\"");
    std::fs::write(files.path("locustfile.loadgen.tmpl"), renamed).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !live(&shop, shop_now(&shop)).contains_key("A2"),
        "reloaded without SIGHUP"
    );

    // SIGHUP: the new template's users replace the old ones.
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    let hup = shop_now(&shop);
    std::thread::sleep(Duration::from_millis(4000));
    let seen = live(&shop, shop_now(&shop));
    assert_eq!(
        (seen.get("A2"), seen.get("A")),
        (Some(&10), None),
        "{seen:?}"
    );
    let silence = longest_silence(&shop, hup - 1.0, hup + 4.0);
    eprintln!("silence while Locust restarted with the new template: {silence:.2} s");
    assert!(silence < 2.5, "{silence:.2} s without a request");
    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("restarting Locust with the new classes"),
        "{stderr}"
    );
}

#[test]
fn config_files_linked_into_a_configmap_mount_reload_too() {
    // The shipped manifests' init container links /etc/loadgen/load.pbtxt to
    // the ConfigMap's mount, where the kubelet swaps `..data`: that directory
    // must be watched, not only /etc/loadgen.
    let shop = Shop::start();
    let template = tagging_template(&["A"]);
    let mut volume = ConfigMapDir::new(&phase(60, 10, 100, &[("A", 1, 200, 200)]), &template);
    let etc = tempfile::tempdir().unwrap();
    for name in ["load.pbtxt", "locustfile.loadgen.tmpl"] {
        symlink(volume.dir.path().join(name), etc.path().join(name)).unwrap();
    }
    let tag = tag("linkedreload");
    let child = spawn_run(
        &tag,
        &etc.path().join("load.pbtxt"),
        &shop.host(),
        &["--run-time", "10s"],
    );
    wait_for(&shop, 20);
    std::thread::sleep(Duration::from_millis(1500));
    volume.update(&phase(60, 20, 100, &[("A", 1, 200, 200)]), &template);
    let swapped = shop_now(&shop);
    std::thread::sleep(Duration::from_millis(3000));
    let seen = live(&shop, swapped + 2.8);
    assert_eq!(seen.get("A"), Some(&20), "after the swap: {seen:?}");
    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("config reloaded"), "{stderr}");
}

/// `--workers auto` (the default) sizes the processes once, for the plan the
/// run starts with. A reload or a `scale` whose plan needs more is said at
/// once, with what to do, instead of being found later as a shortfall; and the
/// run goes on as it was (no restart: the shop sees no silence).
#[test]
fn a_changed_plan_that_needs_more_processes_is_said() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shop = Shop::start();
    let template = tagging_template(&["A"]);
    let small = phase(60, 5, 100, &[("A", 1, 500, 500)]);
    let mut volume = ConfigMapDir::new(&small, &template);
    let report = volume.dir.path().join("report");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let child = spawn_run(
        &tag("capacity"),
        &volume.config(),
        &shop.host(),
        &[
            "--run-time",
            "10s",
            "--report",
            report.to_str().unwrap(),
            "--control-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    wait_for(&shop, 10);
    // A second phase, not reached in this run, of 1,200 users at 1 s: 1,200
    // tasks/s, more than the 1,000 one FastHttpUser process is sized for.
    let big = small.clone() + &phase(60, 1200, 100, &[("A", 1, 1000, 1000)]);
    volume.update(&big, &template);
    let swapped = shop_now(&shop);
    std::thread::sleep(Duration::from_millis(2000));
    // Scaled by 0.5 it fits one process (600 tasks/s); by 2 it does not.
    for factor in ["0.5", "2"] {
        let (code, _) = call("POST", &format!("{api}/scale"), None, factor);
        assert_eq!(code, 200, "scale {factor}");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let silence = longest_silence(&shop, swapped - 1.0, shop_now(&shop));
    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
    assert!(
        silence < 1.0,
        "{silence:.2} s without a request: the run should go on as it was"
    );
    let summary = json(&report.join("summary.json"));
    let kinds = event_kinds(&summary);
    if cores < 2 {
        // One core: one process is all there is, nothing to say.
        assert_eq!(kinds, ["reload", "scale", "scale"], "{summary}");
        return;
    }
    assert_eq!(
        kinds,
        ["reload", "capacity", "scale", "scale", "capacity"],
        "{summary}"
    );
    assert!(
        stderr.contains("the changed plan needs 2 local workers (the plan peaks at 1200 tasks/s")
            && stderr.contains("this run has one Locust process")
            && stderr
                .contains("the changed plan needs 2 local workers (the plan peaks at 2400 tasks/s"),
        "{stderr}"
    );
}

/// With workers, `/status` gives each connected worker's users, by Locust's
/// worker id: together the users the shop sees.
#[test]
fn status_gives_each_workers_users() {
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(60, 10, 100, &[("A", 1, 200, 200)]),
        &tagging_template(&["A"]),
    );
    let port = free_port();
    let child = spawn_run(
        &tag("status-workers"),
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "8s",
            "--workers",
            "2",
            "--control-addr",
            &format!("127.0.0.1:{port}"),
        ],
    );
    wait_for(&shop, 20);
    std::thread::sleep(Duration::from_millis(2500));
    let (code, status) = call("GET", &format!("http://127.0.0.1:{port}/status"), None, "");
    let seen = live(&shop, shop_now(&shop));
    let (ok, stderr) = finish(child);
    assert!(ok, "{stderr}");
    assert_eq!(code, 200, "{status}");
    let workers = status["workers"].as_object().expect("workers in /status");
    let users: Vec<u64> = workers.values().filter_map(|v| v.as_u64()).collect();
    assert_eq!(users, [5, 5], "{status}");
    assert_eq!(seen.get("A"), Some(&10), "the shop saw {seen:?}");
}
