//! The flags of the trace context every request carries and of the
//! OpenTelemetry export (docs/observability.md). Each overrides the load
//! config's `trace_context { ... }`.

use clap::Args;

#[derive(Debug, Clone, Default, Args)]
pub struct TraceArgs {
    /// Send no W3C `traceparent` header (some targets refuse headers they do
    /// not know). Then no request is sampled, and no span is exported.
    #[arg(long = "no-traceparent", visible_alias = "no_traceparent")]
    pub no_traceparent: bool,
    /// Send no W3C `baggage` header (the run, phase, loop and user type).
    #[arg(long = "no-baggage", visible_alias = "no_baggage")]
    pub no_baggage: bool,
    /// The share of task iterations whose trace is sampled (the traceparent's
    /// sampled flag; their requests become spans and exemplars): 0 to 1, or a
    /// percentage [default: 0.01, or the config's `sample_ratio`].
    #[arg(long = "trace-sample", visible_alias = "trace_sample", value_parser = parse_ratio, value_name = "RATIO")]
    pub trace_sample: Option<f64>,
    /// Put this before each baggage key instead of `loadgen.` (`""` for none):
    /// `--baggage-prefix lg.` sends `lg.phase=2`.
    #[arg(
        long = "baggage-prefix",
        visible_alias = "baggage_prefix",
        value_name = "PREFIX"
    )]
    pub baggage_prefix: Option<String>,
}

/// `0.05`, `1`, or `5%`.
fn parse_ratio(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    value
        .ok()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| {
            format!("expected a share from 0 to 1 (0.01) or a percentage (1%), not `{text}`")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_percentages() {
        assert_eq!(parse_ratio("0.25"), Ok(0.25));
        assert_eq!(parse_ratio("5%"), Ok(0.05));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        assert!(parse_ratio("1.5").unwrap_err().contains("from 0 to 1"));
        assert!(parse_ratio("-0.1").is_err());
        assert!(parse_ratio("half").is_err());
    }
}
