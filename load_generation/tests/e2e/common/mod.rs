//! Shared pieces of the end-to-end tests: the real binary, the real demo shop on
//! loopback, and the shop's request log, from which tests judge a load the way a
//! server sees it.
//!
//! How a test runs loadgen is [`run`]'s (the [`Loadgen`] builder); the browser,
//! the netns hosts, the cluster and the OTLP receiver are their own modules.
#![allow(dead_code)]

pub mod cluster;
pub mod netns;
pub mod otlp;
mod run;
pub mod webdriver;

pub use run::{finish, run_with_limit, signal, spawn_run, wait_with_limit, Finished, Loadgen};

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Makes sure Locust is there before any timed test runs: on a fresh machine
/// `loadgen locust` installs the pinned version (once; later runs reuse it).
pub fn ensure_locust() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let out = Command::new(BIN)
            .arg("locust")
            .stdin(Stdio::null())
            .output()
            .expect("run loadgen locust");
        assert!(
            out.status.success(),
            "no Locust: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// End-to-end tests share two cores, and most of them mostly wait: a load of
/// a few users that sleep between requests, against a shop that answers in a
/// millisecond. Two such tests run side by side (the test harness runs as many
/// threads as there are cores), which halves the suite's time. A test whose
/// judgement is about CPU or timing itself (saturation, arrival times, hosts in
/// network namespaces, CPU-heavy inputs with time limits) takes [`alone`]: it
/// waits for the others to finish, and none starts until it is done.
static LOADS: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this test's thread holds a turn (so its shops take none).
    static HOLDS_A_TURN: Cell<bool> = const { Cell::new(false) };
}

/// A test's turn at the machine: beside at most one other test, or alone.
pub struct Turn {
    _guard: TurnGuard,
}

enum TurnGuard {
    Beside(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl Drop for Turn {
    fn drop(&mut self) {
        HOLDS_A_TURN.with(|held| held.set(false));
    }
}

/// The machine to this test alone, until the turn is dropped. Take it before
/// starting any shop (a shop started while it is held takes no turn of its
/// own). Writers are preferred: once a test waits for this, no new test
/// starts beside the running ones.
pub fn alone() -> Turn {
    assert!(
        !HOLDS_A_TURN.with(Cell::get),
        "take alone() before starting a shop: this test already holds a turn"
    );
    let guard = LOADS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    HOLDS_A_TURN.with(|held| held.set(true));
    Turn {
        _guard: TurnGuard::Alone(guard),
    }
}

/// A turn beside others, for a test's first shop; none if the test's thread
/// already holds one (a second shop, or a test that took [`alone`]).
pub fn beside_others() -> Option<Turn> {
    if HOLDS_A_TURN.with(Cell::get) {
        return None;
    }
    let guard = LOADS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    HOLDS_A_TURN.with(|held| held.set(true));
    Some(Turn {
        _guard: TurnGuard::Beside(guard),
    })
}

/// A `loadgen` command with a tag in its environment, so tests can find every
/// process it starts (children inherit the environment).
pub fn loadgen(tag: &str) -> Command {
    ensure_locust();
    let mut c = Command::new(BIN);
    c.env("LOADGEN_TEST_TAG", tag)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// The Python interpreter that has the pinned Locust, as `loadgen locust` names
/// it (for tests that run the harness directly).
pub fn locust_python(tag: &str) -> PathBuf {
    let out = loadgen(tag).arg("locust").output().expect("loadgen locust");
    let said = text(&out.stdout);
    let path = said
        .split_once('(')
        .and_then(|(_, rest)| rest.trim().strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected `loadgen locust` output: {said}"));
    PathBuf::from(path)
}

/// The harness processes (Locust) of the loadgen tagged `tag`.
pub fn harness_pids(tag: &str) -> Vec<u32> {
    tagged_processes(tag)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("loadgen_harness.py"))
        })
        .collect()
}

/// A unique tag for one test.
pub fn tag(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64 % 1_000_000_007)
}

/// Processes whose environment carries `tag` (other than the test itself).
pub fn tagged_processes(tag: &str) -> Vec<u32> {
    let needle = format!("LOADGEN_TEST_TAG={tag}");
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(env) = std::fs::read(entry.path().join("environ")) {
            let zombie = std::fs::read_to_string(entry.path().join("stat"))
                .is_ok_and(|s| s.contains(") Z "));
            if !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// The TCP addresses that tagged processes listen on, as `ip:port` (from
/// /proc: their socket inodes matched against /proc/net/tcp and tcp6).
pub fn listening_addresses(tag: &str) -> Vec<String> {
    let mut inodes = BTreeSet::new();
    for pid in tagged_processes(tag) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy().into_owned();
                if let Some(inode) = target
                    .strip_prefix("socket:[")
                    .and_then(|t| t.strip_suffix(']'))
                {
                    inodes.insert(inode.to_string());
                }
            }
        }
    }
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address st ... inode: state 0A is LISTEN.
            if cols.len() > 9 && cols[3] == "0A" && inodes.contains(cols[9]) {
                found.push(proc_net_address(cols[1]));
            }
        }
    }
    found
}

/// `0100007F:15B3` (as /proc/net/tcp writes it) -> `127.0.0.1:5555`; IPv6 as hex.
fn proc_net_address(text: &str) -> String {
    let (ip, port) = text.split_once(':').unwrap_or((text, "0"));
    let port = u16::from_str_radix(port, 16).unwrap_or(0);
    if ip.len() == 8 {
        let n = u32::from_str_radix(ip, 16).unwrap_or(0);
        format!("{}:{port}", std::net::Ipv4Addr::from(n.swap_bytes()))
    } else {
        format!("[{ip}]:{port}")
    }
}

/// Waits until no tagged process is left, or `limit` passes; returns those left.
pub fn wait_until_gone(tag: &str, limit: Duration) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let left = tagged_processes(tag);
        if left.is_empty() || start.elapsed() > limit {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills a child when dropped, so a failing test leaves nothing running.
pub struct Guard(pub Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The demo shop, served by `loadgen demo-shop` on a free loopback port. The
/// first shop a test starts takes its turn beside others (see [`alone`]) and
/// holds it until the shop is dropped.
pub struct Shop {
    pub port: u16,
    _guard: Guard,
    _turn: Option<Turn>,
}

impl Shop {
    pub fn start() -> Shop {
        Shop::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Shop {
        Shop::spawn(port, &[])
    }

    /// A shop for a light load that takes no turn: it runs beside every test,
    /// even one that took [`alone`]. Only for a long load lighter than the
    /// neighbour the whole suite must pass beside (half a core busy, and a
    /// reader of files: `.ci/neighbour`), which would otherwise hold its turn
    /// for minutes and keep every `alone` test, and with it the other thread,
    /// waiting.
    pub fn start_in_the_background() -> Shop {
        ensure_locust();
        Shop::launch(free_port(), &[], None)
    }

    /// A shop that takes `latency_ms` (`MS` or `MIN-MAX`) to answer each request.
    pub fn start_slow(latency_ms: &str) -> Shop {
        Shop::spawn(free_port(), &["--latency-ms", latency_ms])
    }

    /// A shop without latency that stalls as `--stall` says (`EVERY/FOR`, e.g.
    /// `1s/300ms`: requests arriving in the last 300 ms of every second since
    /// the shop started are answered as that second ends).
    pub fn start_stalling(stall: &str) -> Shop {
        Shop::spawn(free_port(), &["--latency-ms", "0", "--stall", stall])
    }

    fn spawn(port: u16, extra: &[&str]) -> Shop {
        ensure_locust();
        Shop::launch(port, extra, beside_others())
    }

    fn launch(port: u16, extra: &[&str], turn: Option<Turn>) -> Shop {
        let child = Command::new(BIN)
            .args(["demo-shop", "--port", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo shop");
        let shop = Shop {
            port,
            _guard: Guard(Some(child)),
            _turn: turn,
        };
        let start = Instant::now();
        while http_get(&shop.url("/_shop/health")).is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the demo shop did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        shop
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn host(&self) -> String {
        self.url("")
    }

    /// Every request the shop logged.
    pub fn requests(&self) -> Vec<Logged> {
        request_log(&self.host())
    }

    pub fn total_requests(&self) -> u64 {
        let body = http_get(&self.url("/_shop/counters")).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&body)
            .map_or(0, |v| v["total_requests"].as_u64().unwrap_or(0))
    }
}

/// Every request logged by the demo shop at `base` (`http://ip:port`).
pub fn request_log(base: &str) -> Vec<Logged> {
    {
        let mut all = Vec::new();
        let mut since = 0u64;
        loop {
            let body = http_get(&format!("{base}/_shop/requests?since={since}"))
                .expect("read the request log");
            let page: serde_json::Value = serde_json::from_str(&body).expect("request log JSON");
            let requests = page["requests"].as_array().cloned().unwrap_or_default();
            if requests.is_empty() {
                return all;
            }
            let started_at = page["started_at"].as_f64().expect("the shop's start time");
            for r in requests {
                let t = r["t"].as_f64().unwrap_or(0.0);
                let arrived = r["arrived"].as_f64().unwrap_or(0.0);
                all.push(Logged {
                    t,
                    at: started_at + t,
                    arrived,
                    arrived_at: started_at + arrived,
                    session: r["session"].as_str().unwrap_or("").to_string(),
                    user_type: r["user_type"].as_str().map(str::to_string),
                    method: r["method"].as_str().unwrap_or("").to_string(),
                    route: r["route"].as_str().unwrap_or("").to_string(),
                    status: r["status"].as_u64().unwrap_or(0) as u16,
                    traceparent: r["traceparent"].as_str().map(str::to_string),
                    baggage: r["baggage"].as_str().map(str::to_string),
                });
            }
            since = page["next"].as_u64().unwrap_or(since);
        }
    }
}

/// One request as the shop saw it: `t`/`at` when its answer was ready.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Seconds since the shop started.
    pub t: f64,
    /// The same moment on the wall clock (seconds since the Unix epoch).
    pub at: f64,
    /// Seconds since the shop started, when the request arrived (before any
    /// stall or latency of the shop's).
    pub arrived: f64,
    /// The same moment on the wall clock.
    pub arrived_at: f64,
    pub session: String,
    pub user_type: Option<String>,
    pub method: String,
    pub route: String,
    pub status: u16,
    /// The W3C trace context headers the request carried.
    pub traceparent: Option<String>,
    pub baggage: Option<String>,
}

/// The sessions (one per user) that sent each X-User-Type in [from, to) (epoch seconds).
pub fn sessions_by_kind(log: &[Logged], from: f64, to: f64) -> BTreeMap<String, BTreeSet<String>> {
    let mut kinds: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in log.iter().filter(|r| r.at >= from && r.at < to) {
        let kind = r.user_type.clone().unwrap_or_default();
        kinds.entry(kind).or_default().insert(r.session.clone());
    }
    kinds
}

/// A plain HTTP GET on loopback; `None` when nothing answers.
pub fn http_get(url: &str) -> Option<String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    client.get(url).send().ok()?.text().ok()
}

/// Live users per type over time, as the server sees them: the sessions of a type
/// that made a request in the `window` before each moment.
pub struct LiveUsers<'a> {
    pub log: &'a [Logged],
    pub window: f64,
}

impl LiveUsers<'_> {
    pub fn at(&self, t: f64) -> BTreeMap<String, usize> {
        let mut sessions: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for r in self
            .log
            .iter()
            .filter(|r| r.t > t - self.window && r.t <= t)
        {
            if let Some(kind) = &r.user_type {
                sessions.entry(kind.clone()).or_default().insert(&r.session);
            }
        }
        sessions.into_iter().map(|(k, v)| (k, v.len())).collect()
    }

    pub fn total_at(&self, t: f64) -> usize {
        self.at(t).values().sum()
    }

    /// Requests per second of a type in [from, to).
    pub fn rate(&self, kind: &str, from: f64, to: f64) -> f64 {
        let n = self
            .log
            .iter()
            .filter(|r| r.t >= from && r.t < to && r.user_type.as_deref() == Some(kind))
            .count();
        n as f64 / (to - from)
    }
}

/// A load config and template in a fresh temporary directory.
pub struct LoadFiles {
    pub dir: tempfile::TempDir,
}

impl LoadFiles {
    pub fn new(config: &str, template: &str) -> LoadFiles {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("load.pbtxt"), config).unwrap();
        std::fs::write(dir.path().join("locustfile.loadgen.tmpl"), template).unwrap();
        LoadFiles { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("load.pbtxt")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A template with one behaviour per type; each request names its type in a
/// header so the server can count users per type.
pub fn tagging_template(types: &[&str]) -> String {
    let mut t = String::from("from locust import TaskSet, task\n\n");
    for kind in types {
        t.push_str(&format!(
            "\nclass {kind}UserBehavior(TaskSet):\n    @task\n    def index(self):\n        self.client.get(\"/\", headers={{\"X-User-Type\": \"{kind}\"}})\n\n"
        ));
    }
    t.push_str("\n{{.Users}}\n");
    t
}

/// One phase of a config: (duration s, users, hatch rate, [(type, ratio, min ms, max ms)]).
pub fn phase(duration: u32, users: u32, hatch: u32, types: &[(&str, u32, u32, u32)]) -> String {
    let mut p = format!(
        "phases {{\n  duration: {duration}\n  num_users: {users}\n  hatch_rate_per_s: {hatch}\n"
    );
    for (name, ratio, min, max) in types {
        p.push_str(&format!(
            "  user_types {{ name: \"{name}\" ratio: {ratio} min_wait_ms: {min} max_wait_ms: {max} }}\n"
        ));
    }
    p.push_str("}\n");
    p
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads a JSON file.
/// A phase occurrence's `started_at` and `ended_at` in summary.json, in
/// seconds since the Unix epoch (the clock of [`Logged::at`]).
pub fn occurrence_times(phase: &serde_json::Value) -> (f64, f64) {
    let epoch = |field: &str| {
        let at = phase[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {phase}"));
        let t = humantime::parse_rfc3339(at).unwrap_or_else(|e| panic!("{at}: {e}"));
        t.duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64()
    };
    (epoch("started_at"), epoch("ended_at"))
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
    )
    .unwrap()
}

/// Waits (at most 30 s) until the shop has served `n` requests.
pub fn wait_for(shop: &Shop, n: u64) {
    let start = Instant::now();
    while shop.total_requests() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no load reached the shop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The kinds of a summary's run events, in order.
pub fn event_kinds(summary: &serde_json::Value) -> Vec<&str> {
    summary["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().expect("a kind"))
        .collect()
}

/// The shop's clock now: the time of its latest request.
pub fn shop_now(shop: &Shop) -> f64 {
    shop.requests().last().map_or(0.0, |r| r.t)
}

/// A call of the control API: its status code and JSON answer.
pub fn call(method: &str, url: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let client = reqwest::blocking::Client::new();
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url).body(body.to_string()),
    };
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    let response = request.send().expect("the control API answers");
    let code = response.status().as_u16();
    (code, response.json().unwrap_or(serde_json::Value::Null))
}

/// The longest gap between two requests in [from, to] on the shop's clock.
pub fn longest_silence(shop: &Shop, from: f64, to: f64) -> f64 {
    let times: Vec<f64> = shop
        .requests()
        .iter()
        .map(|r| r.t)
        .filter(|&t| t >= from && t <= to)
        .collect();
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}
