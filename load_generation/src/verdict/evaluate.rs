//! Measuring a threshold's metric over some requests, and judging it.

use serde::{Deserialize, Serialize};

use crate::config::threshold::{Limit, Metric, Threshold};
use crate::fmt::plain;
use crate::stats::Counted;

/// What a threshold is measured over: what a span counted, and how long.
pub struct Measured<'a> {
    pub counted: &'a Counted,
    pub seconds: f64,
    /// Delivered / planned request rate, where the plan implies one.
    pub delivered: Option<f64>,
}

/// One threshold judged over one scope (the run, or one occurrence of a phase).
#[derive(Debug, Clone, Serialize, PartialEq, Deserialize)]
pub struct Judged {
    /// The threshold as written.
    pub expr: String,
    /// `run`, or `phase 3 holiday (loop 2)`.
    pub scope: String,
    /// The phase occurrence's index in `phases` of summary.json (phase scopes).
    pub occurrence: Option<usize>,
    /// The measured value, in the threshold's unit (ms, %, a count or req/s).
    pub value: f64,
    /// The value as shown: `612 ms`, `1.3%`.
    pub shown: String,
    /// False when the threshold's condition held: the run fails.
    pub passed: bool,
}

/// The value of `threshold`'s metric over `m`, in the unit of its limit.
pub fn measure(threshold: &Threshold, m: &Measured) -> f64 {
    let s = &m.counted.total;
    let (exceptions, dropped) = (m.counted.exceptions, m.counted.dropped);
    let share = |count: u64| {
        if s.requests == 0 {
            if count > 0 {
                100.0
            } else {
                0.0
            }
        } else {
            count as f64 * 100.0 / s.requests as f64
        }
    };
    let percent = matches!(threshold.limit, Limit::Percent(_));
    match threshold.metric {
        Metric::P50 => s.histogram.percentile(0.50) as f64,
        Metric::P90 => s.histogram.percentile(0.90) as f64,
        Metric::P95 => s.histogram.percentile(0.95) as f64,
        Metric::P99 => s.histogram.percentile(0.99) as f64,
        Metric::Max => s.histogram.max() as f64,
        Metric::Mean if s.requests > 0 => s.total_ms / s.requests as f64,
        Metric::Mean => 0.0,
        Metric::Rps if m.seconds > 0.0 => s.requests as f64 / m.seconds,
        Metric::Rps => 0.0,
        Metric::Requests => s.requests as f64,
        Metric::Failures if percent => share(s.failures),
        Metric::Failures => s.failures as f64,
        Metric::Errors if percent => share(exceptions),
        Metric::Errors => exceptions as f64,
        // No planned rate (a quiet occurrence): nothing was short of it.
        Metric::Delivered => m.delivered.map_or(100.0, |r| r * 100.0),
        // Only rate phases' requests have these; with none (every iteration
        // dropped, say) they are 0 as the response times are without
        // requests: `dropped` and the run's "no request" verdict speak then.
        Metric::P50Intended => s.intended.percentile(0.50) as f64,
        Metric::P90Intended => s.intended.percentile(0.90) as f64,
        Metric::P95Intended => s.intended.percentile(0.95) as f64,
        Metric::P99Intended => s.intended.percentile(0.99) as f64,
        Metric::MaxIntended => s.intended.max() as f64,
        Metric::Dropped if percent => {
            // Dropped and run: the iterations the rates laid down.
            let laid_down = dropped + m.counted.rate_iterations;
            if laid_down == 0 {
                0.0
            } else {
                dropped as f64 * 100.0 / laid_down as f64
            }
        }
        Metric::Dropped => dropped as f64,
    }
}

/// Judges `threshold` over `m`.
pub fn judge(
    threshold: &Threshold,
    scope: String,
    occurrence: Option<usize>,
    m: &Measured,
) -> Judged {
    let value = measure(threshold, m);
    let limit = match threshold.limit {
        Limit::Millis(x) | Limit::Number(x) | Limit::Percent(x) => x,
    };
    let shown = match threshold.limit {
        Limit::Millis(_) => format!("{} ms", plain(value)),
        Limit::Percent(_) => format!("{}%", plain(value)),
        Limit::Number(_) if threshold.metric == Metric::Rps => format!("{} req/s", plain(value)),
        Limit::Number(_) => plain(value),
    };
    Judged {
        expr: threshold.text.clone(),
        scope,
        occurrence,
        value,
        shown,
        passed: !threshold.op.holds(value, limit),
    }
}

impl Judged {
    /// `phase 3 holiday (loop 2): p95 612 ms > 500 ms: FAILED`.
    pub fn line(&self, threshold: &Threshold) -> String {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        format!(
            "{}: {} {} {} {}: {verdict}",
            self.scope,
            threshold.metric.name(),
            self.shown,
            threshold.op,
            threshold.limit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::threshold::parse;
    use crate::stats::RequestStats;

    fn stats() -> RequestStats {
        let mut s = RequestStats {
            requests: 200,
            failures: 3,
            total_ms: 200.0 * 20.0,
            ..RequestStats::default()
        };
        for ms in 1..=100 {
            s.histogram.add(ms, 2);
        }
        s
    }

    /// Counted `total` requests, `exceptions`, and `dropped` of the
    /// iterations a rate laid down with `rate_iterations` run.
    fn counted(
        total: RequestStats,
        exceptions: u64,
        dropped: u64,
        rate_iterations: u64,
    ) -> Counted {
        Counted {
            total,
            exceptions,
            dropped,
            rate_iterations,
            ..Counted::default()
        }
    }

    /// Over 10 s, with no delivery judged.
    fn over_10_s(counted: &Counted) -> Measured<'_> {
        Measured {
            counted,
            seconds: 10.0,
            delivered: None,
        }
    }

    fn value(expr: &str) -> f64 {
        measure(
            &parse(expr).unwrap(),
            &over_10_s(&counted(stats(), 4, 0, 0)),
        )
    }

    #[test]
    fn every_metric_is_measured() {
        assert_eq!(value("p50 > 1ms"), 50.0);
        assert_eq!(value("p90 > 1ms"), 90.0);
        assert_eq!(value("p95 > 1ms"), 95.0);
        assert_eq!(value("p99 > 1ms"), 99.0);
        assert_eq!(value("max > 1ms"), 100.0);
        assert_eq!(value("mean > 1ms"), 20.0);
        assert_eq!(value("rps < 1"), 20.0);
        assert_eq!(value("requests < 1"), 200.0);
        assert_eq!(value("failures > 1"), 3.0);
        assert_eq!(value("failures > 1%"), 1.5);
        assert_eq!(value("errors > 1"), 4.0);
        assert_eq!(value("errors > 1%"), 2.0);
    }

    #[test]
    fn a_threshold_fails_when_its_condition_holds() {
        let c = counted(stats(), 0, 0, 0);
        let m = over_10_s(&c);
        let t = parse("phase 3: p95 > 90ms").unwrap();
        let j = judge(&t, "phase 3 holiday (loop 2)".into(), Some(7), &m);
        assert!(!j.passed);
        assert_eq!(
            j.line(&t),
            "phase 3 holiday (loop 2): p95 95 ms > 90 ms: FAILED"
        );
        assert!(judge(&parse("p95 > 95ms").unwrap(), "run".into(), None, &m).passed);
        assert!(!judge(&parse("p95 >= 95ms").unwrap(), "run".into(), None, &m).passed);
        assert!(!judge(&parse("rps < 25").unwrap(), "run".into(), None, &m).passed);
        assert!(judge(&parse("rps <= 19.5").unwrap(), "run".into(), None, &m).passed);
    }

    #[test]
    fn no_requests_is_a_total_failure_share_only_with_failures() {
        let c = counted(RequestStats::default(), 2, 0, 0);
        let m = Measured {
            counted: &c,
            seconds: 5.0,
            delivered: None,
        };
        assert_eq!(measure(&parse("errors > 1%").unwrap(), &m), 100.0);
        assert_eq!(measure(&parse("failures > 1%").unwrap(), &m), 0.0);
        assert_eq!(measure(&parse("p95 > 1ms").unwrap(), &m), 0.0);
    }

    /// [`stats`] with a rate phase's requests: 100 measured from their
    /// intended start at 10..=1000 ms, and 3 of 300 iterations dropped.
    fn rate_counted() -> Counted {
        let mut s = stats();
        for ms in 1..=100 {
            s.intended.add(ms * 10, 1);
        }
        counted(s, 0, 3, 297)
    }

    #[test]
    fn a_rate_phase_s_metrics_are_measured_apart_from_the_response_times() {
        let c = rate_counted();
        let m = over_10_s(&c);
        let value = |expr: &str| measure(&parse(expr).unwrap(), &m);
        assert_eq!(value("p50_intended > 1ms"), 500.0);
        assert_eq!(value("p90_intended > 1ms"), 900.0);
        assert_eq!(value("p95_intended > 1ms"), 950.0);
        assert_eq!(value("p99_intended > 1ms"), 990.0);
        assert_eq!(value("max_intended > 1ms"), 1000.0);
        // The response times are not the latencies from the intended start.
        assert_eq!(value("p99 > 1ms"), 99.0);
        assert_eq!(value("dropped > 1"), 3.0);
        assert_eq!(value("dropped > 1%"), 1.0);
    }

    #[test]
    fn a_rate_phase_s_thresholds_pass_and_fail() {
        let c = rate_counted();
        let m = over_10_s(&c);
        let run = |expr: &str| judge(&parse(expr).unwrap(), "run".into(), None, &m);
        let failed = run("p99_intended > 500ms");
        assert!(!failed.passed);
        assert_eq!(failed.shown, "990 ms");
        assert_eq!(
            failed.line(&parse("p99_intended > 500ms").unwrap()),
            "run: p99_intended 990 ms > 500 ms: FAILED"
        );
        assert!(run("p99_intended > 1s").passed);
        assert!(!run("dropped > 0").passed);
        assert!(run("dropped > 5").passed);
        let share = run("dropped > 0.5%");
        assert!(!share.passed);
        assert_eq!(share.shown, "1%");
        assert!(run("dropped > 2%").passed);
    }

    #[test]
    fn a_span_without_rate_requests_measures_0_as_one_without_requests_does() {
        // A rate phase whose every iteration was dropped: no latency to
        // measure, every iteration dropped.
        let all_dropped = counted(RequestStats::default(), 0, 40, 0);
        let m = over_10_s(&all_dropped);
        assert_eq!(measure(&parse("p99_intended > 1ms").unwrap(), &m), 0.0);
        assert_eq!(measure(&parse("dropped > 1%").unwrap(), &m), 100.0);
        // Nothing laid down, nothing dropped: 0%.
        let nothing = counted(RequestStats::default(), 0, 0, 0);
        assert_eq!(
            measure(&parse("dropped > 1%").unwrap(), &over_10_s(&nothing)),
            0.0
        );
    }
}
