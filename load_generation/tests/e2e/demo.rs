//! End to end: `loadgen demo`, the README's first command, and the hipster
//! template with both of Locust's HTTP clients.

use crate::common;

use std::time::Duration;

use common::*;

/// `loadgen demo` for 6 s with `extra`, run to its end, which must be exit 0.
fn demo(tag: &str, extra: &[&str]) -> Finished {
    // A turn like every load test's, though demo brings its own shop.
    let _turn = beside_others();
    Loadgen::command(tag, ["demo", "--run-time", "6s"])
        .args(extra)
        .success()
}

#[test]
fn the_demo_runs_the_hipster_load_against_the_built_in_shop() {
    let tag = tag("demo");
    let out = demo(&tag, &[]);
    let (stdout, stderr) = (out.stdout(), out.stderr());
    assert!(
        stdout.contains("3 phases, one loop every 1m20s"),
        "{stdout}"
    );
    assert!(
        stderr.contains("phase 1/3 (loop 1) starts: 100 users"),
        "{stderr}"
    );
    // The summary: every hipster request name ran, none failed.
    let all = stdout
        .lines()
        .find(|l| l.starts_with("│ all"))
        .expect("summary row");
    let cells: Vec<&str> = all.split('┆').map(str::trim).collect();
    let requests: u64 = cells[3].parse().unwrap();
    let failures: u64 = cells[4].parse().unwrap();
    assert!(requests > 200, "{all}");
    assert_eq!(failures, 0, "{all}");
    assert!(all.contains("peak: Normal 100"), "{all}");
    // And per request name, every route of the hipster template.
    let rows: Vec<Vec<String>> = stdout
        .lines()
        .map(|l| {
            l.split('┆')
                .map(|c| {
                    c.trim_matches(|ch: char| ch == '│' || ch.is_whitespace())
                        .to_string()
                })
                .collect()
        })
        .collect();
    for (method, name) in [
        ("GET", "/"),
        ("POST", "/setCurrency"),
        ("GET", "/product/[id]"),
        ("GET", "/cart"),
        ("POST", "/cart"),
        ("POST", "/cart/checkout"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.len() == 8 && r[0] == method && r[1] == name),
            "no {method} {name} row in\n{stdout}"
        );
    }
    let served = stderr
        .lines()
        .find(|l| l.contains("the demo shop answered"))
        .expect("shop counters");
    assert!(
        served.contains(&format!("answered {requests} requests")),
        "loadgen counted {requests}; {served}"
    );
    assert!(wait_until_gone(&tag, Duration::from_secs(2)).is_empty());
}

#[test]
fn the_hipster_template_works_with_fast_http_users() {
    let tag = tag("demofast");
    let dir = tempfile::tempdir().unwrap();
    demo(
        &tag,
        &[
            "--user-class",
            "fast",
            "--report",
            dir.path().to_str().unwrap(),
        ],
    );
    let summary = json(&dir.path().join("summary.json"));
    let total = &summary["total"]["total"];
    assert!(total["requests"].as_u64().unwrap() > 200, "{total}");
    assert_eq!(total["failures"], 0, "{total}");
    let names: Vec<String> = summary["total"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "GET /",
        "GET /product/[id]",
        "POST /cart",
        "GET /cart",
        "POST /setCurrency",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}
