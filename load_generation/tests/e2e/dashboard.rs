//! The live dashboard, tested in a real browser (headless Chromium through
//! WebDriver) against a real run on the demo shop, judged from the shop's log:
//! the page loads without a console error, its users follow the shop's live
//! users, its buttons drive the run (a phase jump seen at the shop within 2 s,
//! a pause that stops requests), a wrong token is refused with the run
//! untouched; and 100 open event streams leave the delivered rate as it was.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::webdriver::{self, Browser};
use common::*;

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Distinct sessions per user type the shop saw between `from` and `to` (wall clock).
fn sessions(shop: &Shop, from: f64, to: f64) -> BTreeMap<String, usize> {
    sessions_by_kind(&shop.requests(), from, to)
        .into_iter()
        .map(|(kind, sessions)| (kind, sessions.len()))
        .collect()
}

fn requests_between(shop: &Shop, from: f64, to: f64) -> usize {
    shop.requests()
        .iter()
        .filter(|r| r.at >= from && r.at < to)
        .count()
}

/// Three long phases of different types: the shop tells them apart.
fn three_phases() -> String {
    [
        phase(60, 2, 100, &[("A", 1, 200, 200)]),
        phase(60, 3, 100, &[("B", 1, 200, 200)]),
        phase(60, 4, 100, &[("C", 1, 200, 200)]),
    ]
    .concat()
}

/// A browser on the dashboard served at `addr`, once it answers.
fn browse(addr: &str) -> Browser {
    let browser = Browser::start();
    let url = format!("http://{addr}/");
    let started = Instant::now();
    while http_get(&url).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no dashboard at {url}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.open(&url);
    browser
}

/// Where CI keeps the screenshot (`target/artifacts/`).
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/artifacts")
        .join(name)
}

#[test]
fn the_dashboard_follows_and_drives_the_run_in_a_browser() {
    if !webdriver::available() {
        return;
    }
    let shop = Shop::start();
    let files = LoadFiles::new(&three_phases(), &tagging_template(&["A", "B", "C"]));
    let port = free_port();
    let tag = tag("dashboard");
    let dashboard = format!("127.0.0.1:{port}");
    let run = spawn_run(
        &tag,
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "60s",
            "--dashboard",
            &dashboard,
            "--control-token",
            "s3cret",
        ],
    );
    let browser = browse(&dashboard);

    // A token is asked for; a wrong one is refused and changes nothing.
    let asked = browser.eval("return !document.getElementById('token-form').hidden;");
    assert_eq!(asked, true, "the page asks for the token");
    browser.type_into("#token", "wrong");
    browser.click("#token-save");
    let why = browser.wait_text("#token-why", Duration::from_secs(5), |t| {
        t.contains("refused")
    });
    assert!(
        why.contains("refused"),
        "a wrong token is said to be refused: {why:?}"
    );
    browser.click("#pause");
    let said = browser.wait_text("#result", Duration::from_secs(5), |t| !t.is_empty());
    assert!(said.contains("refused (401)"), "{said:?}");
    std::thread::sleep(Duration::from_millis(1500));
    let t = now();
    let untouched = sessions(&shop, t - 1.0, t);
    assert_eq!(
        untouched.get("A"),
        Some(&2),
        "with a wrong token the run goes on: {untouched:?}"
    );

    // The right one: the page follows the run.
    browser.type_into("#token", "s3cret");
    browser.click("#token-save");
    let live = browser.wait_text("#connection", Duration::from_secs(10), |t| t == "live");
    assert_eq!(live, "live");
    let running = browser.wait_text("#users-A td:nth-child(4)", Duration::from_secs(5), |t| {
        t == "2"
    });
    let t = now();
    let at_shop = sessions(&shop, t - 1.0, t);
    assert_eq!(running, "2", "the page shows phase 1's 2 users");
    assert_eq!(
        at_shop.get("A"),
        Some(&2),
        "as the shop sees them: {at_shop:?}"
    );
    assert!(
        browser.text("#phase").starts_with('1'),
        "{}",
        browser.text("#phase")
    );

    // "Phase 3": the shop sees phase 3's users within 2 s.
    browser.click("#jump-3");
    let clicked = now();
    let mut seen = BTreeMap::new();
    while now() < clicked + 2.0 {
        seen = sessions(&shop, clicked, now());
        if seen.get("C") == Some(&4) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        seen.get("C"),
        Some(&4),
        "phase 3's 4 users within 2 s of the click: {seen:?}"
    );
    let said = browser.wait_text("#result", Duration::from_secs(5), |t| t.contains("phase 3"));
    assert!(said.contains("done; now phase 3 of 3"), "{said:?}");
    let running = browser.wait_text("#users-C td:nth-child(4)", Duration::from_secs(5), |t| {
        t == "4"
    });
    assert_eq!(running, "4", "the page follows to phase 3");

    // Mid-run, as people see it: kept for CI.
    std::thread::sleep(Duration::from_millis(2500));
    let report = browser.text("#report");
    assert!(
        report.contains("requests/s"),
        "the report's sections are live: {report:.200}"
    );
    browser.screenshot(&artifact("dashboard-mid-run.png"));

    // Pause stops requests; resume brings them back.
    browser.click("#pause");
    let said = browser.wait_text("#result", Duration::from_secs(5), |t| t.contains("pause"));
    assert!(said.contains("paused"), "{said:?}");
    std::thread::sleep(Duration::from_secs(1));
    let t = now();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        requests_between(&shop, t, now()),
        0,
        "a paused run sends nothing"
    );
    assert!(!browser
        .eval("return document.getElementById('paused').hidden;")
        .as_bool()
        .unwrap_or(true));
    browser.click("#resume");
    std::thread::sleep(Duration::from_millis(1500));
    let t = now();
    assert!(sessions(&shop, t - 1.0, t).get("C") == Some(&4), "resumed");

    let errors: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|(level, message)| {
            // The refused token's 401s are the test's own doing.
            level == "SEVERE" && !message.contains("401")
        })
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    drop(browser);
    signal(run.id(), libc::SIGTERM);
    let (out, _) = finish(run, Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("dashboard at http://{dashboard}/")),
        "{stderr}"
    );
    assert!(
        stderr.contains("control: jumped to phase 3 of 3"),
        "{stderr}"
    );
}

/// Opens `n` event streams on the dashboard and reads them until `stop`.
fn follow(
    dashboard: &str,
    n: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<usize>> {
    (0..n)
        .map(|_| {
            let dashboard = dashboard.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(&dashboard) else {
                    return 0;
                };
                let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = write!(s, "GET /events HTTP/1.1\r\nHost: {dashboard}\r\n\r\n");
                let mut read = 0;
                let mut buf = [0u8; 16384];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => read += n,
                        Err(_) => {}
                    }
                }
                read
            })
        })
        .collect()
}

/// A 12 s run of 40 users waiting 200 ms; the requests the shop saw from 4 s to 10 s.
fn delivered(streams: usize) -> (usize, usize) {
    let shop = Shop::start();
    let config = phase(60, 40, 200, &[("A", 1, 200, 200)]);
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let dashboard = format!("127.0.0.1:{}", free_port());
    let run = spawn_run(
        &tag("dashboard-streams"),
        &files.config(),
        &shop.host(),
        &["--run-time", "12s", "--dashboard", &dashboard],
    );
    let started = Instant::now();
    while http_get(&format!("http://{dashboard}/")).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "no dashboard");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers = follow(&dashboard, streams, stop.clone());
    let (out, _) = finish(run, Duration::from_secs(60));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bytes: usize = readers.into_iter().map(|r| r.join().unwrap_or(0)).sum();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = shop.requests();
    let first = log.first().map_or(0.0, |r| r.t);
    let count = log
        .iter()
        .filter(|r| r.t >= first + 4.0 && r.t < first + 10.0)
        .count();
    (count, bytes)
}

#[test]
fn a_hundred_open_pages_leave_the_delivered_rate_as_it_was() {
    // Alone: the two runs are compared within 2%, about 4 ms more per
    // iteration of 200 ms, which a neighbour test's load on the shop could
    // add to one run and not the other.
    let _alone = alone();
    let (alone, _) = delivered(0);
    let (watched, bytes) = delivered(100);
    // Every stream got the run's frames (not refused, not stalled).
    assert!(bytes > 100 * 10_000, "100 streams read only {bytes} bytes");
    let ratio = watched as f64 / alone as f64;
    eprintln!("shop requests in 6 s: {alone} alone, {watched} with 100 pages ({bytes} bytes streamed); ratio {ratio:.4}");
    assert!(
        (ratio - 1.0).abs() <= 0.02,
        "with 100 pages open the shop got {watched} requests in 6 s, without {alone} (ratio {ratio:.3})"
    );
}

/// The status frames of a dashboard's event stream, read for `how_long`.
fn status_frames(dashboard: &str, how_long: Duration) -> Vec<serde_json::Value> {
    let mut s = TcpStream::connect(dashboard).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(s, "GET /events HTTP/1.1\r\nHost: {dashboard}\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    while started.elapsed() < how_long {
        if let Ok(n) = s.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
        }
    }
    String::from_utf8_lossy(&raw)
        .split("\n\n")
        .filter_map(|frame| {
            let data = frame.split("event: status\ndata: ").nth(1)?;
            serde_json::from_str(data.lines().next()?).ok()
        })
        .collect()
}

#[test]
fn the_master_of_a_distributed_run_shows_the_whole_cluster() {
    let shop = Shop::start();
    let config = phase(60, 6, 100, &[("A", 1, 200, 200)]);
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let dashboard = format!("127.0.0.1:{}", free_port());
    let run = spawn_run(
        &tag("dashboard-cluster"),
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "12s",
            "--workers",
            "2",
            "--dashboard",
            &dashboard,
        ],
    );
    let started = Instant::now();
    while http_get(&format!("http://{dashboard}/")).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "no dashboard");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(5));
    let frames = status_frames(&dashboard, Duration::from_secs(2));
    let t = now();
    let at_shop = sessions(&shop, t - 1.5, t);
    let last = frames.last().expect("status frames on the stream");
    signal(run.id(), libc::SIGTERM);
    let (out, _) = finish(run, Duration::from_secs(30));
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    assert_eq!(last["workers"], 2, "{last}");
    let per_worker: Vec<u64> = last["api"]["workers"]
        .as_object()
        .map(|w| w.values().filter_map(|n| n.as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(per_worker.len(), 2, "each worker with its users: {last}");
    assert_eq!(per_worker.iter().sum::<u64>(), 6, "{last}");
    assert_eq!(last["actual"][0], 6, "{last}");
    assert_eq!(
        at_shop.get("A"),
        Some(&6),
        "the shop sees the cluster's 6 users: {at_shop:?}"
    );
}

#[test]
fn a_rate_phase_shows_its_rates_and_its_dropped_iterations() {
    if !webdriver::available() {
        return;
    }
    // 40 iterations/s of 300 ms each need 12 users; the pool has 4: drops.
    let shop = Shop::start_slow("300");
    let config = "phases { duration: 60 requests_per_s: 40 max_users: 4\n  user_types { name: \"A\" ratio: 1 } }\n";
    let files = LoadFiles::new(config, &tagging_template(&["A"]));
    let port = free_port();
    let dashboard = format!("127.0.0.1:{port}");
    let run = spawn_run(
        &tag("dashboard-rate"),
        &files.config(),
        &shop.host(),
        &["--run-time", "12s", "--dashboard", &dashboard],
    );
    let browser = browse(&dashboard);
    let timeline = browser.wait_text("#jump-1", Duration::from_secs(10), |t| t.contains("/s"));
    assert!(
        timeline.contains("A 40/s"),
        "the timeline says the rate: {timeline:?}"
    );
    let badge = browser.wait_text("#dropping", Duration::from_secs(10), |t| {
        t.contains("dropping now")
    });
    assert!(
        badge.contains("iterations dropped, dropping now"),
        "{badge:?}"
    );
    let report = browser.wait_text("#report", Duration::from_secs(10), |t| {
        t.contains("from intended start")
    });
    assert!(report.contains("from intended start"), "{report:.300}");
    // A count, and no more than the run laid down (its exactness is
    // tests/e2e/open_model.rs's, at the shop).
    let dropped: u64 = badge
        .split_whitespace()
        .next()
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("a count in {badge:?}"));
    assert!(dropped > 0 && dropped < 40 * 12, "{dropped} dropped");
    let errors: Vec<_> = browser
        .console()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    drop(browser);
    let (out, _) = finish(run, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
}
