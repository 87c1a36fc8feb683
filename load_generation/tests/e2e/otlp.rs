//! End to end: the OTLP export (issue 37; `src/otlp/`) received by an
//! independent receiver that decodes with the OpenTelemetry protocol's own
//! Python definitions (`common::otlp`), judged against summary.json and the
//! headers the demo shop recorded; and `/metrics`' exemplars against the same.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::otlp::Receiver;
use common::*;

fn three_phases() -> String {
    let named = |name: &str, users: u32| {
        phase(3, users, 100, &[("A", 1, 40, 80)]).replacen(
            "phases {\n",
            &format!("phases {{\n  name: \"{name}\"\n"),
            1,
        )
    };
    [named("early", 3), named("rush", 6), named("late", 2)].concat()
}

/// The (trace id, span id) of each sampled request the shop saw, and every trace id.
fn sampled_at_the_shop(
    log: &[Logged],
) -> (
    BTreeSet<(String, String)>,
    BTreeSet<String>,
    BTreeSet<String>,
) {
    let mut sampled = BTreeSet::new();
    let mut sampled_traces = BTreeSet::new();
    let mut traces = BTreeSet::new();
    for r in log {
        let tp = r
            .traceparent
            .as_deref()
            .unwrap_or_else(|| panic!("no traceparent: {r:?}"));
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        traces.insert(parts[1].to_string());
        if parts[3] == "01" {
            sampled.insert((parts[1].to_string(), parts[2].to_string()));
            sampled_traces.insert(parts[1].to_string());
        }
    }
    (sampled, sampled_traces, traces)
}

/// Issue 37's done-means for the export: a three-phase run with two workers,
/// a fifth of its iterations sampled, exporting every second.
#[test]
fn the_collector_gets_summary_counts_per_phase_and_the_spans_the_shop_saw() {
    let receiver = Receiver::start();
    let shop = Shop::start();
    let files = LoadFiles::new(&three_phases(), &tagging_template(&["A"]));
    let report = files.path("report");
    let metrics_port = free_port();
    let tag = tag("otlp");
    let child = Loadgen::run(&tag, files.config(), &shop.host())
        .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test,team=load%20gen",
        )
        .run_time("9s")
        .args(["--workers", "2", "--trace-sample", "0.2"])
        .args(["--otlp-endpoint", &receiver.endpoint()])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--fail-if", "failures > 50%"])
        .report(&report)
        .spawn();
    // /metrics, scraped as Prometheus would (OpenMetrics), late in the run.
    std::thread::sleep(Duration::from_secs(1));
    wait_for(&shop, 100);
    let mut page = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Some(text) = http_get(&format!("http://127.0.0.1:{metrics_port}/metrics")) {
            if text.contains("# {trace_id=") {
                page = text;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (out, _) = finish(child, Duration::from_secs(90));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("OTLP export:") && !stderr.contains("failed"),
        "{stderr}"
    );
    let log = shop.requests();
    let (sampled, sampled_traces, traces) = sampled_at_the_shop(&log);

    // Exemplars: trace ids the shop saw sampled.
    let exemplars: BTreeSet<String> = page
        .lines()
        .filter(|l| l.starts_with("loadgen_request_duration_seconds_bucket"))
        .filter_map(|l| l.split("# {trace_id=\"").nth(1))
        .map(|rest| rest[..32].to_string())
        .collect();
    assert!(!exemplars.is_empty(), "no exemplar in\n{page}");
    for trace in &exemplars {
        assert!(
            sampled_traces.contains(trace),
            "exemplar {trace} names no sampled trace the shop saw"
        );
    }

    // Metrics: the last export's requests per phase are summary.json's.
    let points = receiver.metrics();
    let last = points
        .iter()
        .filter(|p| p["metric"] == "loadgen.requests")
        .map(|p| p["time_unix_nano"].as_u64().unwrap())
        .max()
        .expect("no loadgen.requests in the export");
    let exports: BTreeSet<u64> = points
        .iter()
        .map(|p| p["time_unix_nano"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        exports.len() >= 5,
        "{} exports in a 9 s run at 1 s",
        exports.len()
    );
    let mut exported: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for p in points
        .iter()
        .filter(|p| p["metric"] == "loadgen.requests" && p["time_unix_nano"].as_u64() == Some(last))
    {
        assert_eq!(p["kind"], "sum");
        assert_eq!(p["monotonic"], true);
        assert_eq!(p["temporality"], "cumulative");
        let a = &p["attributes"];
        let key = (
            a["loadgen.phase"].as_i64().unwrap(),
            a["loadgen.loop"].as_i64().unwrap(),
        );
        *exported.entry(key).or_default() += p["value"].as_i64().unwrap();
    }
    let summary = json(&report.join("summary.json"));
    let mut summed: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for phase in summary["phases"].as_array().unwrap() {
        let key = (
            phase["phase"].as_i64().unwrap(),
            phase["loop_number"].as_i64().unwrap(),
        );
        *summed.entry(key).or_default() += phase["total"]["requests"].as_i64().unwrap();
    }
    assert_eq!(
        exported, summed,
        "per (phase, loop): the export against summary.json"
    );
    assert_eq!(
        summed.values().sum::<i64>() as usize,
        log.len(),
        "summary.json against the shop"
    );
    let histogram_count: u64 = points
        .iter()
        .filter(|p| {
            p["metric"] == "loadgen.request.duration" && p["time_unix_nano"].as_u64() == Some(last)
        })
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(histogram_count as usize, log.len());
    let verdict: Vec<_> = points
        .iter()
        .filter(|p| {
            p["metric"] == "loadgen.threshold.passed" && p["time_unix_nano"].as_u64() == Some(last)
        })
        .collect();
    assert_eq!(verdict.len(), 1, "{verdict:?}");
    assert_eq!(
        verdict[0]["attributes"]["loadgen.threshold"],
        "failures > 50%"
    );
    assert_eq!(verdict[0]["value"], 1);
    let resource = &points[0]["resource"];
    assert_eq!(resource["service.name"], "loadgen");
    assert_eq!(resource["team"], "load gen");
    assert_eq!(resource["deployment.environment"], "test");
    // One run id: the export's, summary.json's and every request's baggage.
    assert_eq!(summary["run_id"], resource["loadgen.run.id"]);
    let run = format!("loadgen.run={}", summary["run_id"].as_str().unwrap());
    assert!(log
        .iter()
        .all(|r| r.baggage.as_deref().is_some_and(|b| b.contains(&run))));

    // Spans: exactly the sampled requests the shop saw, with their ids.
    let spans = receiver.spans();
    let exported_ids: BTreeSet<(String, String)> = spans
        .iter()
        .map(|s| {
            (
                s["trace_id"].as_str().unwrap().to_string(),
                s["span_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(exported_ids.len(), spans.len(), "a span exported twice");
    assert_eq!(
        exported_ids, sampled,
        "the spans against the shop's sampled traceparents"
    );
    for s in &spans {
        assert_eq!(s["kind"], "client");
        assert_eq!(s["parent_span_id"], "");
        assert_eq!(s["attributes"]["http.request.method"], "GET");
        assert_eq!(s["attributes"]["http.response.status_code"], 200);
        assert_eq!(s["attributes"]["loadgen.user_type"], "A");
        assert!(
            s["end_time_unix_nano"].as_u64() >= s["start_time_unix_nano"].as_u64(),
            "{s}"
        );
        assert_eq!(s["resource"]["loadgen.run.id"], resource["loadgen.run.id"]);
    }
    // A fifth of the traces, within five standard deviations (a miss 6e-7
    // by chance alone; four was 6e-5).
    let (n, k) = (traces.len() as f64, sampled_traces.len() as f64);
    let sd = (n * 0.2 * 0.8).sqrt();
    assert!(
        (k - 0.2 * n).abs() <= 5.0 * sd + 1.0,
        "{k} of {n} traces sampled at 0.2"
    );
}

/// A collector that is not there costs the run nothing but a warning, said
/// once and counted at the end; an endpoint loadgen cannot speak to is
/// refused before anything starts.
#[test]
fn an_absent_collector_is_said_and_a_wrong_endpoint_refused() {
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(3, 2, 100, &[("A", 1, 100, 100)]),
        &tagging_template(&["A"]),
    );
    let closed = format!("http://127.0.0.1:{}", free_port());
    let stderr = Loadgen::run(&tag("otlp-absent"), files.config(), &shop.host())
        .env("OTEL_METRIC_EXPORT_INTERVAL", "500")
        .run_time("3s")
        .args(["--otlp-endpoint", &closed])
        .limit(Duration::from_secs(60))
        .success()
        .stderr();
    assert!(shop.total_requests() > 5);
    assert_eq!(
        stderr.matches("warning: the OTLP metrics export").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("OTLP export: 0 metrics exports") && stderr.contains("failed"),
        "{stderr}"
    );

    let out = Loadgen::run(&tag("otlp-wrong"), files.config(), &shop.host())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .run_time("3s")
        .args(["--otlp-endpoint", "http://127.0.0.1:4317"])
        .limit(Duration::from_secs(30))
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("http/protobuf") && !stderr.contains("Traceback"),
        "{stderr}"
    );
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
}
