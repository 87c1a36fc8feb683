//! End to end: DNS rebinding against the control API and the dashboard
//! (issue 34, door 1; `src/control/host.rs`), judged from the shop's log and
//! the run's report.

use crate::common;

use std::time::Duration;

use common::*;

/// Sends a request with the headers a browser sends after DNS rebinding
/// (`Host` and `Origin` both the attacker's name, at loadgen's port); the
/// status code and the body.
fn raw_call(port: u16, method: &str, path: &str, host: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to loadgen");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    // The stream of events never ends: what came within the timeout will do.
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).to_string();
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, answer)
}

/// Issue 34: a page of another site that re-points its name at 127.0.0.1
/// (DNS rebinding) sends matching `Host` and `Origin`, which passed the
/// Origin check. Both servers now refuse a `Host` that is not an address,
/// `localhost` or a name given with --allowed-host: the rebinding calls get
/// 403 and say why, the run is never paused (the shop sees no silence and the
/// report no pause), and loopback names still work.
#[test]
fn a_rebound_name_can_neither_steer_nor_read_the_run() {
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(60, 5, 100, &[("A", 1, 100, 100)]),
        &tagging_template(&["A"]),
    );
    let report = files.path("report");
    let (control, dashboard) = (free_port(), free_port());
    let child = spawn_run(
        &tag("rebinding"),
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "6s",
            "--control-addr",
            &format!("127.0.0.1:{control}"),
            "--dashboard",
            &format!("127.0.0.1:{dashboard}"),
            "--allowed-host",
            "loadgen.demo.svc",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    wait_for(&shop, 10);
    let from = shop_now(&shop);
    let rebound = |port: u16| format!("rebind.example:{port}");
    for (port, method, path) in [
        (control, "POST", "/pause"),
        (control, "GET", "/status"),
        (dashboard, "POST", "/api/pause"),
        (dashboard, "GET", "/api/status"),
        (dashboard, "GET", "/events"),
        (dashboard, "GET", "/"),
    ] {
        let (code, answer) = raw_call(port, method, path, &rebound(port));
        assert_eq!(code, 403, "{method} {path} on {port}: {answer}");
        assert!(
            answer.contains("DNS rebinding") && answer.contains("--allowed-host rebind.example"),
            "{answer}"
        );
    }
    // Loopback names, addresses and the name given still work.
    for host in [
        format!("localhost:{control}"),
        format!("127.0.0.1:{control}"),
        format!("[::1]:{control}"),
        format!("loadgen.demo.svc:{control}"),
    ] {
        let (code, answer) = raw_call(control, "GET", "/status", &host);
        assert_eq!(code, 200, "{host}: {answer}");
        assert!(answer.contains("\"paused\":false"), "{answer}");
    }
    let (code, page) = raw_call(dashboard, "GET", "/", &format!("localhost:{dashboard}"));
    assert_eq!(code, 200, "{page}");
    std::thread::sleep(Duration::from_millis(500));
    let to = shop_now(&shop);
    let silence = longest_silence(&shop, from, to);
    let (out, _) = finish(child, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        silence < 0.5,
        "{silence:.2} s without a request: a pause got through"
    );
    let summary = json(&report.join("summary.json"));
    let kinds = event_kinds(&summary);
    assert!(!kinds.contains(&"pause"), "{kinds:?}");
}
