//! Where and how to export, from `--otlp-endpoint` and the variables the
//! OpenTelemetry specification defines for every exporter
//! (https://opentelemetry.io/docs/specs/otel/protocol/exporter/), so a pod
//! that already has them set for its other services needs nothing more.

use std::time::Duration;

use crate::diagnostic::BadInput;

/// Loadgen's default export interval: a load test's phases last minutes, so
/// the specification's 60 s would draw each as one or two points.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub struct OtlpConfig {
    pub metrics_url: String,
    pub traces_url: String,
    pub metrics_headers: Vec<(String, String)>,
    pub traces_headers: Vec<(String, String)>,
    /// `service.name`.
    pub service_name: String,
    /// `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource_attributes: Vec<(String, String)>,
    pub interval: Duration,
    /// How long one export may take before it counts as failed.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// The export asked for by `endpoint` (`--otlp-endpoint`, which clap also
    /// fills from `OTEL_EXPORTER_OTLP_ENDPOINT`) and the variables `var`
    /// reads; `None` when nothing asks for one.
    pub fn from(
        endpoint: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<OtlpConfig>, BadInput> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        let metrics_own = var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        let traces_own = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let base = endpoint.map(str::to_string);
        if base.is_none() && metrics_own.is_none() && traces_own.is_none() {
            return Ok(None);
        }
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            if let Some(protocol) = var(name) {
                if protocol.trim() != "http/protobuf" {
                    return Err(BadInput(format!(
                        "{name}={protocol}: loadgen exports OTLP as http/protobuf only; \
                         point it at the collector's HTTP port (4318) and set {name}=http/protobuf, or unset it"
                    )));
                }
            }
        }
        // A signal's own endpoint is used as it is; the shared one gets the
        // signal's path, as the specification says.
        let url = |own: Option<String>, path: &str| -> Result<String, BadInput> {
            let url = match (own, &base) {
                (Some(own), _) => own,
                (None, Some(base)) => format!("{}/{path}", base.trim_end_matches('/')),
                (None, None) => return Ok(String::new()),
            };
            check_url(&url)?;
            Ok(url)
        };
        let metrics_url = url(metrics_own, "v1/metrics")?;
        let traces_url = url(traces_own, "v1/traces")?;
        let headers = |name: &str| -> Result<Vec<(String, String)>, BadInput> {
            let mut all = pairs(
                &var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default(),
                "OTEL_EXPORTER_OTLP_HEADERS",
            )?;
            all.extend(pairs(&var(name).unwrap_or_default(), name)?);
            Ok(all)
        };
        let interval = match var("OTEL_METRIC_EXPORT_INTERVAL") {
            Some(ms) => Duration::from_millis(
                ms.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|&ms| ms >= 100)
                    .ok_or_else(|| {
                        BadInput(format!(
                            "OTEL_METRIC_EXPORT_INTERVAL={ms}: expected milliseconds, at least 100 (5000 is loadgen's default)"
                        ))
                    })?,
            ),
            None => DEFAULT_INTERVAL,
        };
        let timeout = var("OTEL_EXPORTER_OTLP_TIMEOUT")
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        Ok(Some(OtlpConfig {
            metrics_headers: headers("OTEL_EXPORTER_OTLP_METRICS_HEADERS")?,
            traces_headers: headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS")?,
            metrics_url,
            traces_url,
            service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "loadgen".to_string()),
            resource_attributes: pairs(
                &var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default(),
                "OTEL_RESOURCE_ATTRIBUTES",
            )?,
            interval,
            timeout,
        }))
    }
}

fn check_url(url: &str) -> Result<(), BadInput> {
    if url.starts_with("http://") {
        return Ok(());
    }
    let why = if url.starts_with("https://") {
        "loadgen's OTLP export speaks plain HTTP (no TLS): send to a collector on the node or in the pod (http://…:4318), which forwards over TLS"
    } else {
        "expected an http:// URL, e.g. http://otel-collector:4318"
    };
    Err(BadInput(format!("OTLP endpoint {url:?}: {why}")))
}

/// `key1=value1,key2=value2`, values percent-decoded (the W3C baggage form
/// the specification uses for headers and resource attributes).
fn pairs(text: &str, name: &str) -> Result<Vec<(String, String)>, BadInput> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                BadInput(format!(
                    "{name}: {pair:?} is not key=value; write e.g. key1=value1,key2=value2"
                ))
            })?;
            Ok((k.trim().to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
