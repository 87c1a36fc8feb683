//! The export's configuration and encoding, without a collector.

use std::collections::BTreeMap;

use prost::Message;

use super::config::OtlpConfig;
use super::encode::{self, Occurrence, Resource, RouteFigures, Snapshot};
use crate::locust::protocol::{PhaseTag, RequestDelta, SpanRecord};
use crate::stats::RequestKey;

fn config(endpoint: Option<&str>, vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>, String> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OtlpConfig::from(endpoint, |name| vars.get(name).cloned()).map_err(|e| e.0)
}

#[test]
fn endpoints_headers_and_resource_come_as_the_specification_says() {
    assert_eq!(config(None, &[]), Ok(None));
    let c = config(
        Some("http://collector:4318/"),
        &[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20abc, x-team=load",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://tempo:4318/v1/traces",
            ),
            ("OTEL_SERVICE_NAME", "shop-load"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "2000"),
        ],
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.metrics_url, "http://collector:4318/v1/metrics");
    assert_eq!(c.traces_url, "http://tempo:4318/v1/traces");
    assert_eq!(
        c.metrics_headers,
        vec![
            ("authorization".to_string(), "Bearer abc".to_string()),
            ("x-team".to_string(), "load".to_string())
        ]
    );
    assert_eq!(c.service_name, "shop-load");
    assert_eq!(c.interval, std::time::Duration::from_secs(2));
    // A signal's own endpoint alone exports that signal alone.
    let c = config(
        None,
        &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4318/x")],
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (c.metrics_url.as_str(), c.traces_url.as_str()),
        ("http://m:4318/x", "")
    );
    assert_eq!(
        config(Some("http://c:4318"), &[("OTEL_SDK_DISABLED", "true")]),
        Ok(None)
    );
}

#[test]
fn what_cannot_be_exported_is_refused_with_the_way_out() {
    let https = config(Some("https://collector:4318"), &[]).unwrap_err();
    assert!(https.contains("plain HTTP"), "{https}");
    let grpc = config(
        Some("http://c:4317"),
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
    )
    .unwrap_err();
    assert!(
        grpc.contains("http/protobuf") && grpc.contains("4318"),
        "{grpc}"
    );
    let headers = config(
        Some("http://c:4318"),
        &[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")],
    )
    .unwrap_err();
    assert!(headers.contains("key=value"), "{headers}");
    let interval = config(
        Some("http://c:4318"),
        &[("OTEL_METRIC_EXPORT_INTERVAL", "5s")],
    )
    .unwrap_err();
    assert!(interval.contains("milliseconds"), "{interval}");
}

#[test]
fn figures_and_spans_decode_as_they_were_counted() {
    let c = config(Some("http://c:4318"), &[]).unwrap().unwrap();
    let resource = Resource::new(&c, "00ff00ff00ff00ff", Some("http://shop"));
    let span = SpanRecord {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        span_id: "00f067aa0ba902b7".into(),
        start: 1_764_354_000.0,
        duration_ms: 42.4,
        ms: 42,
        method: "GET".into(),
        name: "/cart".into(),
        status: 503,
        error: Some("HTTPError: 503".into()),
        phase: PhaseTag {
            number: 2,
            name: "rush".into(),
            loop_number: 1,
        },
        user_type: "Weekend".into(),
    };
    let mut route = RouteFigures::default();
    route.add(&RequestDelta {
        method: "GET".into(),
        name: "/cart".into(),
        requests: 5,
        failures: 1,
        total_ms: 160.0,
        histogram: vec![(4, 2), (42, 2), (20000, 1)],
        intended_histogram: vec![],
    });
    route.exemplar(&span);
    let key = RequestKey {
        method: "GET".into(),
        name: "/cart".into(),
    };
    let occurrences = BTreeMap::from([(
        1,
        Occurrence {
            phase: 2,
            name: "rush".into(),
            loop_number: 1,
            started_at: 1_764_353_990.0,
            routes: BTreeMap::from([(key, route)]),
            dropped: BTreeMap::new(),
        },
    )]);
    let gauges = encode::Gauges::default();
    let snapshot = Snapshot {
        started_at: 1_764_353_980.0,
        now: 1_764_354_001.0,
        occurrences: &occurrences,
        gauges: &gauges,
        verdict: BTreeMap::from([(("p95 > 1s".to_string(), "run".to_string()), false)]),
        spans_dropped: 0,
    };
    let bytes = encode::metrics_request(&resource, &snapshot).encode_to_vec();
    let decoded =
        opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::decode(
            bytes.as_slice(),
        )
        .unwrap();
    let metrics = &decoded.resource_metrics[0].scope_metrics[0].metrics;
    let by_name = |n: &str| metrics.iter().find(|m| m.name == n).unwrap();
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    let Some(Data::Sum(requests)) = &by_name("loadgen.requests").data else {
        panic!("not a sum")
    };
    assert_eq!(requests.data_points[0].value, Some(Value::AsInt(5)));
    assert_eq!(
        requests.data_points[0].start_time_unix_nano,
        1_764_353_990_000_000_000
    );
    let Some(Data::Histogram(h)) = &by_name("loadgen.request.duration").data else {
        panic!("not a histogram")
    };
    let point = &h.data_points[0];
    assert_eq!(point.count, 5);
    assert_eq!(point.sum, Some(0.16));
    // 4 ms in the first bucket (<= 5 ms), 42 ms in <= 50 ms, 20 s past the last.
    assert_eq!(
        point.bucket_counts,
        vec![2, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    assert_eq!(point.exemplars.len(), 1);
    assert_eq!(point.exemplars[0].trace_id, span_bytes(&span.trace_id));
    let Some(Data::Gauge(verdict)) = &by_name("loadgen.threshold.passed").data else {
        panic!("not a gauge")
    };
    assert_eq!(verdict.data_points[0].value, Some(Value::AsInt(0)));

    let bytes = encode::traces_request(&resource, std::slice::from_ref(&span)).encode_to_vec();
    let decoded =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            bytes.as_slice(),
        )
        .unwrap();
    let s = &decoded.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.trace_id, span_bytes(&span.trace_id));
    assert_eq!(s.span_id, span_bytes(&span.span_id));
    assert_eq!(s.name, "GET /cart");
    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 42_400_000);
    assert_eq!(s.status.as_ref().map(|s| s.code), Some(2)); // error
}

fn span_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
