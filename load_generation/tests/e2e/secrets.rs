//! End to end: a run's secrets (the control token, the cluster key and the
//! CURVE key pair derived from it) reach none of its outputs, and its record
//! is its owner's only (issue 34, "the rest").

use crate::common;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const TOKEN: &str = "tok-9f3b2c71d0e84a56";
const KEY: &str = "key-5e1d8a0c7b264f39";

/// The CURVE secret and public keys a cluster key derives (loadgen_cluster.py's
/// `key_pair`), computed by the Python that runs Locust: a log that printed
/// those would give the key away as surely as the key itself.
fn derived_keys(python: &Path) -> Vec<String> {
    let script = "import hashlib, sys, zmq\nfrom zmq.utils import z85\n\
        s = z85.encode(hashlib.sha256(b'loadgen cluster key 1\\0' + sys.argv[1].encode()).digest())\n\
        print(s.decode()); print(zmq.curve_public(s).decode())";
    let out = std::process::Command::new(python)
        .args(["-c", script, KEY])
        .output()
        .expect("run Locust's Python");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    keys
}

/// What a plain HTTP GET on 127.0.0.1:`port` answers within two seconds (the
/// stream of events never ends: what came by then will do).
fn answer(port: u16, path: &str, token: Option<&str>) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let said = String::from_utf8_lossy(&bytes).to_string();
    assert!(said.starts_with("HTTP/1.1 200"), "GET {path}: {said}");
    said
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the report directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Everything a keyed run with a control token says or writes, read whole:
/// stdout and stderr at `-vv`, every file of the report (checkpoints
/// included) and the JUnit file, and what the control API, the dashboard
/// (page, status, events) and /metrics answer mid-run. None holds the token,
/// the key or a key derived from it; the report directory is 0700 and its
/// files 0600.
#[test]
fn no_output_of_a_run_holds_its_token_or_its_key() {
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(60, 4, 100, &[("A", 1, 100, 100)]),
        &tagging_template(&["A"]),
    );
    let key_file = files.path("cluster.key");
    std::fs::write(&key_file, format!("{KEY}\n")).expect("write the key");
    let report = files.path("report/run-1");
    let (control, dashboard, metrics) = (free_port(), free_port(), free_port());
    let tag = tag("secrets");
    let child = spawn_run(
        &tag,
        &files.config(),
        &shop.host(),
        &[
            "-vv",
            "--run-time",
            "6s",
            "--workers",
            "2",
            "--cluster-key-file",
            key_file.to_str().unwrap(),
            "--control-addr",
            &format!("127.0.0.1:{control}"),
            "--control-token",
            TOKEN,
            "--dashboard",
            &format!("127.0.0.1:{dashboard}"),
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
            "--checkpoint-interval",
            "1s",
            "--report",
            report.to_str().unwrap(),
            "--junit",
            report.join("junit.xml").to_str().unwrap(),
        ],
    );
    wait_for(&shop, 10);
    let mut said = vec![
        answer(control, "/status", Some(TOKEN)),
        answer(dashboard, "/", None),
        answer(dashboard, "/api/status", Some(TOKEN)),
        answer(dashboard, "/events", Some(TOKEN)),
        answer(metrics, "/metrics", None),
    ];
    let (out, _) = finish(child, Duration::from_secs(60));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(shop.total_requests() > 10);
    said.push(stderr);
    said.push(text(&out.stdout));
    let written = files_under(&report);
    let names: Vec<_> = written.iter().filter_map(|p| p.file_name()).collect();
    for expected in ["summary.json", "stats.csv", "report.html", "junit.xml"] {
        assert!(names.iter().any(|n| *n == expected), "{names:?}");
    }
    for file in &written {
        let mode = std::fs::metadata(file).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
        said.push(String::from_utf8_lossy(&std::fs::read(file).expect("read")).to_string());
    }
    for dir in [report.parent().unwrap(), &report] {
        let mode = std::fs::metadata(dir).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }

    let mut secrets = vec![TOKEN.to_string(), KEY.to_string()];
    secrets.extend(derived_keys(&locust_python(&tag)));
    for secret in &secrets {
        for (i, output) in said.iter().enumerate() {
            assert!(
                !output.contains(secret.as_str()),
                "output {i} holds the secret {secret}:\n{output}"
            );
        }
    }
    // The check can fail: the run did say things, and named its key file.
    assert!(said.iter().any(|s| s.contains("\"phase\"")));
}
