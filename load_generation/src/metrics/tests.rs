//! The metrics page: what samples become, and that it stays readable.

use super::*;
use crate::locust::protocol::RequestDelta;
use crate::plan::{Counts, Plan};

/// The hipster shop's plan, the load the tests describe.
fn hipster_plan() -> Plan {
    let text = include_str!("../../../applications/hipster_shop/load_generation/load.pbtxt");
    let loaded = crate::config::parse(crate::diagnostic::SourceText::new(
        "load.pbtxt",
        text.to_string(),
    ))
    .unwrap();
    Plan::new(&loaded.config)
}

/// The run one second into its first phase, without restarts or workers.
fn first_second<'a>(
    plan: &'a Plan,
    commanded: &'a Counts,
    actual: &'a Counts,
    worker_users: &'a std::collections::BTreeMap<String, u32>,
) -> Status<'a> {
    Status {
        plan,
        slot: plan.slot_at(std::time::Duration::ZERO),
        elapsed: std::time::Duration::from_secs(1),
        position: std::time::Duration::from_secs(1),
        paused: false,
        scale: 1.0,
        targets: plan.targets(0),
        saturated: false,
        delivery: None,
        short: false,
        dropping: false,
        run_time: None,
        commanded,
        actual,
        restarts: 0,
        requests_per_s: 0.0,
        workers: 0,
        worker_users,
    }
}

#[test]
fn samples_become_metrics() {
    let plan = hipster_plan();
    let mut metrics = Metrics::new();
    let commanded = vec![40, 0, 0];
    let actual = vec![38, 0, 0];
    let worker_users = [
        ("host-a_1\"x".to_string(), 20),
        ("host-b_2".to_string(), 18),
    ]
    .into_iter()
    .collect();
    let mut status = first_second(&plan, &commanded, &actual, &worker_users);
    status.restarts = 2;
    status.workers = 2;
    let sample = Sample {
        stats: vec![RequestDelta {
            method: "GET".into(),
            name: "/".into(),
            requests: 3,
            failures: 1,
            total_ms: 120.0,
            histogram: vec![(20, 2), (80, 1)],
            intended_histogram: vec![],
        }],
        ..Sample::default()
    };
    metrics.phase_started(&status);
    metrics.sample(&status, &sample);
    metrics.sample(&status, &sample);
    let text = Metrics::encode(&metrics.registry).unwrap();
    for line in [
        "loadgen_phase 1",
        "loadgen_loop 1",
        "loadgen_users_target{user_type=\"Normal\"} 100",
        "loadgen_users_target{user_type=\"Weekend\"} 0",
        "loadgen_users_commanded{user_type=\"Normal\"} 40",
        "loadgen_users_actual{user_type=\"Normal\"} 38",
        "loadgen_requests_total{method=\"GET\",name=\"/\"} 6",
        "loadgen_failures_total{method=\"GET\",name=\"/\"} 2",
        "loadgen_request_duration_seconds_count{method=\"GET\",name=\"/\"} 6",
        "loadgen_request_duration_seconds_bucket{le=\"0.025\",method=\"GET\",name=\"/\"} 4",
        "loadgen_restarts_total 2",
        "loadgen_workers 2",
        "loadgen_worker_users{worker=\"host-a_1\\\"x\"} 20",
        "loadgen_worker_users{worker=\"host-b_2\"} 18",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    // A run of users alone: the rate phases' metrics have no series.
    assert!(
        !text.contains("loadgen_dropped_iterations_total{"),
        "{text}"
    );
    assert!(
        !text.contains("loadgen_request_intended_latency_seconds_count"),
        "{text}"
    );
}

#[test]
fn a_rate_phase_counts_its_drops_and_its_latency_from_the_intended_start() {
    let plan = crate::plan::tests::rate_plan();
    let mut metrics = Metrics::new();
    let counts = vec![40];
    let workers = std::collections::BTreeMap::new();
    let slot = plan.slot_at(std::time::Duration::from_secs(15));
    assert_eq!(slot.phase_index, 1, "the rate phase");
    let status = Status {
        plan: &plan,
        slot,
        elapsed: std::time::Duration::from_secs(15),
        position: std::time::Duration::from_secs(15),
        paused: false,
        scale: 1.0,
        targets: plan.targets(1),
        saturated: false,
        delivery: None,
        short: false,
        dropping: false,
        run_time: None,
        commanded: &counts,
        actual: &counts,
        restarts: 0,
        requests_per_s: 0.0,
        workers: 0,
        worker_users: &workers,
    };
    metrics.phase_started(&status);
    // The phase's type counts from 0 before anything was dropped.
    let text = Metrics::encode(&metrics.registry).unwrap();
    assert!(
        text.lines()
            .any(|l| l == "loadgen_dropped_iterations_total{user_type=\"A\"} 0"),
        "{text}"
    );
    let sample = Sample {
        stats: vec![RequestDelta {
            method: "GET".into(),
            name: "/".into(),
            requests: 3,
            failures: 0,
            total_ms: 60.0,
            histogram: vec![(20, 3)],
            // Two answered 20 ms after sending but 1.2 s after their intended start.
            intended_histogram: vec![(20, 1), (1200, 2)],
        }],
        dropped: [("AUser".to_string(), 4)].into_iter().collect(),
        ..Sample::default()
    };
    metrics.sample(&status, &sample);
    metrics.sample(&status, &sample);
    let text = Metrics::encode(&metrics.registry).unwrap();
    for line in [
        "loadgen_dropped_iterations_total{user_type=\"A\"} 8",
        // The response times are as they were...
        "loadgen_request_duration_seconds_count{method=\"GET\",name=\"/\"} 6",
        "loadgen_request_duration_seconds_bucket{le=\"0.025\",method=\"GET\",name=\"/\"} 6",
        // ...and the latencies from the intended start beside them.
        "loadgen_request_intended_latency_seconds_count{method=\"GET\",name=\"/\"} 6",
        "loadgen_request_intended_latency_seconds_bucket{le=\"0.025\",method=\"GET\",name=\"/\"} 2",
        "loadgen_request_intended_latency_seconds_bucket{le=\"1.0\",method=\"GET\",name=\"/\"} 2",
        "loadgen_request_intended_latency_seconds_bucket{le=\"2.5\",method=\"GET\",name=\"/\"} 6",
        "# TYPE loadgen_request_intended_latency_seconds histogram",
        "# UNIT loadgen_request_intended_latency_seconds seconds",
        "# TYPE loadgen_dropped_iterations counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    // The page stays valid with the new families in it: as Prometheus reads
    // it, and as a strict OpenMetrics parser does (which refuses the `# UNIT`
    // of any histogram, the response times' too, though OpenMetrics allows it).
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("the page does not parse: {e:?}\n{text}"));
    let dropped = scrape
        .samples
        .iter()
        .find(|s| s.metric == "loadgen_dropped_iterations_total")
        .map(|s| (s.labels.get("user_type"), s.value.clone()));
    // OpenMetrics types the family, not its `_total`: Prometheus' text
    // parser reads the sample as untyped.
    assert!(
        matches!(
            dropped,
            Some((Some("A"), prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v))) if v == 8.0
        ),
        "{dropped:?}"
    );
    let without_units: String = text
        .lines()
        .filter(|l| !l.starts_with("# UNIT"))
        .map(|l| format!("{l}\n"))
        .collect();
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&without_units)
        .unwrap_or_else(|e| panic!("the page does not parse: {e:?}\n{text}"));
    for family in [
        "loadgen_dropped_iterations",
        "loadgen_request_intended_latency_seconds",
        "loadgen_request_duration_seconds",
    ] {
        assert!(exposition.families.contains_key(family), "no {family}");
    }
}

#[test]
fn hostile_request_names_keep_the_page_readable() {
    let metrics = Metrics::new();
    let hostile = [
        "say \"hi\"",
        "back\\slash",
        "two\nlines",
        "} # {le=\"x\"}",
        "ü/ä?q=1&r=\"2\"",
    ];
    let labels = |name: &str| RequestLabels {
        method: Label("GET".into()),
        name: Label(name.to_string()),
    };
    for name in hostile {
        metrics.requests.get_or_create(&labels(name)).inc_by(3);
    }
    let text = Metrics::encode(&metrics.registry).unwrap();
    // A strict OpenMetrics parser (the format prometheus-client writes).
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("the page does not parse: {e:?}\n{text}"));
    let family = &exposition.families["loadgen_requests"];
    let mut seen: Vec<String> = family
        .iter_samples()
        .filter_map(|s| {
            let labels = s.get_labelset().ok()?;
            let name = labels.iter().find(|(k, _)| k.as_str() == "name")?;
            Some(unescape(name.1))
        })
        .collect();
    seen.sort();
    let mut expected: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected, "{text}");
}

/// The parser hands label values back as written, escapes included.
fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[test]
fn sampled_requests_are_their_buckets_exemplars_and_counts_stay_locusts() {
    use crate::locust::protocol::{PhaseTag, SpanRecord};
    let plan = hipster_plan();
    let mut metrics = Metrics::new();
    let (commanded, actual) = (vec![1, 0, 0], vec![1, 0, 0]);
    let no_workers = Default::default();
    let status = first_second(&plan, &commanded, &actual, &no_workers);
    let span = |trace: &str, ms: u64| SpanRecord {
        trace_id: trace.repeat(32),
        span_id: "1".repeat(16),
        start: 1_764_354_000.5,
        duration_ms: ms as f64,
        ms,
        method: "GET".into(),
        name: "/".into(),
        status: 200,
        error: None,
        phase: PhaseTag::default(),
        user_type: "Normal".into(),
    };
    let sample = Sample {
        stats: vec![RequestDelta {
            method: "GET".into(),
            name: "/".into(),
            requests: 3,
            failures: 0,
            total_ms: 120.0,
            histogram: vec![(20, 2), (80, 1)],
            intended_histogram: vec![],
        }],
        // 80 ms: the bucket up to 0.1 s; 55 ms is no request of this sample.
        spans: vec![span("a", 80), span("b", 55)],
        ..Sample::default()
    };
    metrics.sample(&status, &sample);
    let text = Metrics::encode(&metrics.registry).unwrap();
    let bucket = |le: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "loadgen_request_duration_seconds_bucket{{le=\"{le}\",method=\"GET\",name=\"/\"}}"
                ))
            })
            .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
            .to_string()
    };
    let traced = bucket("0.1");
    assert!(
        traced.contains(&format!("3 # {{trace_id=\"{}\"}} 0.08", "a".repeat(32))),
        "{traced}"
    );
    assert!(!text.contains(&"b".repeat(32)), "{text}");
    assert!(bucket("0.025").ends_with("} 2"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "loadgen_request_duration_seconds_count{method=\"GET\",name=\"/\"} 3"),
        "{text}"
    );
    // Still a page Prometheus reads.
    let without_units: String = text
        .lines()
        .filter(|l| !l.starts_with("# UNIT"))
        .map(|l| format!("{l}\n"))
        .collect();
    openmetrics_parser::openmetrics::parse_openmetrics(&without_units)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"));
}
