//! Which HTTP client the generated users get (`--user-class`, default `auto`),
//! judged by the target: the demo shop counts requests per `User-Agent`, and
//! python-requests and geventhttpclient each send their own.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

/// python-requests' `User-Agent` starts so (HttpUser).
const REQUESTS: &str = "python-requests/";
/// geventhttpclient's (FastHttpUser).
const GEVENT: &str = "python/gevent-http-client";

/// The shop's requests per `User-Agent`.
fn clients(shop: &Shop) -> BTreeMap<String, u64> {
    let body = http_get(&shop.url("/_shop/counters")).unwrap_or_default();
    let counters: serde_json::Value = serde_json::from_str(&body).unwrap();
    serde_json::from_value(counters["clients"].clone()).unwrap()
}

/// Runs `template` for 3 s against a fresh shop; the shop's clients and loadgen's stderr.
fn clients_of(template: &str, extra: &[&str], name: &str) -> (BTreeMap<String, u64>, String) {
    let shop = Shop::start();
    let files = LoadFiles::new(&phase(60, 4, 100, &[("A", 1, 100, 100)]), template);
    let out = Loadgen::run(&tag(name), files.config(), &shop.host())
        .run_time("3s")
        .args(extra)
        .limit(Duration::from_secs(60))
        .success();
    (clients(&shop), out.stderr())
}

fn only(clients: &BTreeMap<String, u64>, prefix: &str) -> bool {
    !clients.is_empty()
        && clients.keys().all(|k| k.starts_with(prefix))
        && clients.values().sum::<u64>() > 20
}

/// A template that uses nothing FastHttpUser lacks gets it by default; one
/// that passes `timeout=` (python-requests only) gets HttpUser, and the line
/// and column of the reason are said. `--user-class` overrides either way.
#[test]
fn the_client_is_chosen_from_what_the_template_uses_and_said() {
    let plain = tagging_template(&["A"]);
    let (seen, stderr) = clients_of(&plain, &[], "client-auto-fast");
    assert!(only(&seen, GEVENT), "the shop saw {seen:?}\n{stderr}");
    assert!(stderr.contains("client FastHttpUser"), "{stderr}");

    let with_timeout = plain.replace(
        "\"X-User-Type\": \"A\"}",
        "\"X-User-Type\": \"A\"}, timeout=5",
    );
    assert_ne!(with_timeout, plain);
    let (seen, stderr) = clients_of(&with_timeout, &[], "client-auto-http");
    assert!(only(&seen, REQUESTS), "the shop saw {seen:?}\n{stderr}");
    assert!(
        stderr.contains("client HttpUser (python-requests), because")
            && stderr.contains("locustfile.loadgen.tmpl:7:")
            && stderr.contains("`timeout`"),
        "{stderr}"
    );

    let (seen, stderr) = clients_of(&plain, &["--user-class", "http"], "client-forced-http");
    assert!(only(&seen, REQUESTS), "the shop saw {seen:?}\n{stderr}");
}

/// `check` says which client a run would use, and why.
#[test]
fn check_says_which_client_and_why() {
    let files = LoadFiles::new(
        &phase(10, 2, 10, &[("A", 1, 100, 100)]),
        &tagging_template(&["A"]).replace("headers=", "verify=False, headers="),
    );
    let out = loadgen(&tag("client-check"))
        .args(["check", "--no-import", "--config-file"])
        .arg(files.config())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Client: HttpUser (python-requests), because")
            && stdout.contains("`verify`"),
        "{stdout}"
    );
}
