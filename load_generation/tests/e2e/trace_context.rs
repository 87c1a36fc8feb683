//! End to end: the W3C trace context on every request (issue 37;
//! `src/locust/loadgen_trace.py`), judged from the headers the demo shop
//! recorded and the phase boundaries of the run's report.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;

/// How long after a boundary a request may still name the phase before it:
/// the new phase's command reaches the harness (and, through the master,
/// its workers) a few milliseconds after loadgen moves on.
const BOUNDARY_SLACK_S: f64 = 0.25;

/// Three named phases; each task of A makes two requests (one iteration, so
/// one trace), B's sets its own `traceparent`, which must reach the shop as
/// it is.
fn three_phases() -> (String, String) {
    let named = |name: &str, users: u32| {
        phase(3, users, 100, &[("A", 2, 50, 50), ("B", 1, 50, 50)]).replacen(
            "phases {\n",
            &format!("phases {{\n  name: \"{name}\"\n"),
            1,
        )
    };
    let config = [
        named("weekday", 3),
        named("weekend-rush", 6),
        named("after", 3),
    ]
    .concat();
    let template = format!(
        "from locust import TaskSet, task\n\n\
         class AUserBehavior(TaskSet):\n    @task\n    def browse(self):\n        \
         self.client.get(\"/\", headers={{\"X-User-Type\": \"A\"}})\n        \
         self.client.get(\"/cart\", headers={{\"X-User-Type\": \"A\"}})\n\n\
         class BUserBehavior(TaskSet):\n    @task\n    def own(self):\n        \
         self.client.get(\"/\", headers={{\"X-User-Type\": \"B\", \"traceparent\": \"{OWN}\"}})\n\n\
         {{{{.Users}}}}\n"
    );
    (config, template)
}

const OWN: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A `traceparent` taken apart: (trace id, span id, flags).
fn parse_traceparent(value: &str) -> (String, String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "not a traceparent: {value}");
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    assert_eq!(parts[0], "00", "{value}");
    assert!(hex(parts[1], 32) && parts[1] != "0".repeat(32), "{value}");
    assert!(hex(parts[2], 16) && parts[2] != "0".repeat(16), "{value}");
    assert!(parts[3] == "00" || parts[3] == "01", "{value}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

/// The members of a `baggage` header, percent-decoding their values.
fn parse_baggage(value: &str) -> BTreeMap<String, String> {
    value
        .split(',')
        .map(|member| {
            let (k, v) = member
                .trim()
                .split_once('=')
                .unwrap_or_else(|| panic!("not a baggage member: {member} in {value}"));
            let bytes = v.as_bytes();
            let mut decoded = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    decoded.push(u8::from_str_radix(hex, 16).expect("percent-encoding"));
                    i += 3;
                } else {
                    assert!(
                        bytes[i].is_ascii_graphic() && !b"\",;\\ ".contains(&bytes[i]),
                        "{value}"
                    );
                    decoded.push(bytes[i]);
                    i += 1;
                }
            }
            (k.to_string(), String::from_utf8(decoded).expect("UTF-8"))
        })
        .collect()
}

/// Runs the three phases against a fresh shop with `flags`: the shop's log
/// and the report's summary.
fn log_and_summary(name: &str, flags: &[&str]) -> (Vec<Logged>, serde_json::Value) {
    let shop = Shop::start();
    let (config, template) = three_phases();
    let files = LoadFiles::new(&config, &template);
    let out = Loadgen::run(&tag(name), files.config(), &shop.host())
        .run_time("9s")
        .report(&files.path("report"))
        .args(flags)
        .success();
    (shop.requests(), out.summary())
}

/// Checks every request of a run as the shop saw it; returns the trace ids
/// whose sampled flag was set.
fn check_headers(log: &[Logged], summary: &serde_json::Value) -> BTreeSet<String> {
    let phases = summary["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3, "{summary}");
    let bounds: Vec<(f64, f64)> = phases.iter().map(occurrence_times).collect();
    let names = ["weekday", "weekend-rush", "after"];
    assert!(log.len() > 100, "{} requests", log.len());
    let mut span_ids = BTreeSet::new();
    let mut sampled = BTreeSet::new();
    let mut run_ids = BTreeSet::new();
    let mut late = 0;
    let mut by_session: BTreeMap<&str, Vec<&Logged>> = BTreeMap::new();
    for r in log {
        let traceparent = r
            .traceparent
            .as_deref()
            .unwrap_or_else(|| panic!("no traceparent: {r:?}"));
        let baggage = parse_baggage(
            r.baggage
                .as_deref()
                .unwrap_or_else(|| panic!("no baggage: {r:?}")),
        );
        if r.user_type.as_deref() == Some("B") {
            assert_eq!(traceparent, OWN, "the user's own traceparent was replaced");
        } else {
            let (trace, span, flags) = parse_traceparent(traceparent);
            assert!(span_ids.insert(span.clone()), "span id {span} sent twice");
            if flags == "01" {
                sampled.insert(trace);
            }
            by_session.entry(&r.session).or_default().push(r);
        }
        run_ids.insert(baggage["loadgen.run"].clone());
        assert_eq!(
            Some(&baggage["loadgen.user_type"]),
            r.user_type.as_ref(),
            "{baggage:?}"
        );
        assert_eq!(baggage["loadgen.loop"], "1", "{baggage:?}");
        let number: usize = baggage["loadgen.phase"].parse().expect("a phase number");
        assert!((1..=3).contains(&number), "{baggage:?}");
        assert_eq!(
            baggage["loadgen.phase_name"],
            names[number - 1],
            "{baggage:?}"
        );
        // Sent while its phase ran: after its start, and before its end
        // (or, within the slack, just after: the next command on its way).
        let (start, end) = bounds[number - 1];
        let sent = r.arrived_at;
        assert!(
            sent >= start - 0.05 && sent < end + BOUNDARY_SLACK_S,
            "a request sent {:.3} s into phase {number} ({:.3} s long) names it: {r:?}",
            sent - start,
            end - start
        );
        if sent >= end {
            late += 1;
        }
    }
    assert_eq!(run_ids.len(), 1, "{run_ids:?}");
    assert!(
        late * 50 < log.len(),
        "{late} of {} requests named the phase before",
        log.len()
    );
    // One trace per iteration: each of A's tasks is `/` then `/cart`, in
    // order in its user's session; the pair shares a trace, the next
    // iteration has another.
    let mut traces = BTreeSet::new();
    let mut pairs = 0;
    for requests in by_session.values() {
        let mut requests = requests.clone();
        requests.sort_by(|a, b| a.arrived.total_cmp(&b.arrived));
        for pair in requests.windows(2) {
            if pair[0].route == "/" && pair[1].route == "/cart" {
                let first = parse_traceparent(pair[0].traceparent.as_deref().unwrap());
                let second = parse_traceparent(pair[1].traceparent.as_deref().unwrap());
                assert_eq!(first.0, second.0, "one iteration, two traces: {pair:?}");
                assert_eq!(first.2, second.2, "a trace sampled in part: {pair:?}");
                assert!(
                    traces.insert(first.0),
                    "a trace over two iterations: {pair:?}"
                );
                pairs += 1;
            }
        }
    }
    assert!(pairs > 40, "{pairs} iterations of A");
    sampled
}

#[test]
fn every_fast_http_request_carries_its_trace_and_its_phase() {
    let (log, summary) = log_and_summary(
        "trace-fast",
        &["--user-class", "fast", "--trace-sample", "0.5"],
    );
    let sampled = check_headers(&log, &summary);
    // Half the iterations sampled: at least a fifth, at most four fifths of
    // the (well over 40) traces, far outside chance either way.
    let traces: BTreeSet<_> = log
        .iter()
        .filter(|r| r.user_type.as_deref() == Some("A"))
        .map(|r| parse_traceparent(r.traceparent.as_deref().unwrap()).0)
        .collect();
    let share = sampled.len() as f64 / traces.len() as f64;
    assert!(
        (0.2..=0.8).contains(&share),
        "{share:.2} of {} traces sampled",
        traces.len()
    );
}

#[test]
fn every_http_user_request_carries_its_trace_and_its_phase() {
    let (log, summary) = log_and_summary("trace-http", &["--user-class", "http"]);
    check_headers(&log, &summary);
}

#[test]
fn workers_send_the_masters_trace_context() {
    let (log, summary) = log_and_summary(
        "trace-workers",
        &["--workers", "2", "--baggage-prefix", "loadgen."],
    );
    check_headers(&log, &summary);
}

#[test]
fn switched_off_no_request_carries_them() {
    let shop = Shop::start();
    let (config, template) = three_phases();
    let config = format!("trace_context {{ no_baggage: true }}\n{config}");
    let files = LoadFiles::new(&config, &template);
    Loadgen::run(&tag("trace-off"), files.config(), &shop.host())
        .run_time("4s")
        .arg("--no-traceparent")
        .limit(Duration::from_secs(60))
        .success();
    let log = shop.requests();
    assert!(log.len() > 20, "{} requests", log.len());
    for r in &log {
        assert!(r.baggage.is_none(), "{r:?}");
        if r.user_type.as_deref() == Some("B") {
            assert_eq!(r.traceparent.as_deref(), Some(OWN), "{r:?}");
        } else {
            assert!(r.traceparent.is_none(), "{r:?}");
        }
    }
}
