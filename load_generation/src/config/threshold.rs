//! The threshold grammar: `[phase SEL:] METRIC OP VALUE`, e.g. `p95 > 500ms`,
//! `failures > 1%`, `phase 3: p99 > 1s`, `phase holiday: rps < 200`.
//!
//! A threshold says when the run *fails*: `--fail-if 'p95 > 500ms'` fails the run
//! if the 95th percentile is above 500 ms.
//!
//! Rate phases (open model) add their own metrics, named apart from the
//! response times: `p99_intended` and its kin (the latency from each
//! iteration's intended start, in ms) and `dropped` (iterations never sent:
//! a count, or a share of those the rate laid down).

use std::fmt;

use crate::fmt::plain;

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it (trimmed), for every output.
    pub text: String,
    pub scope: Scope,
    pub metric: Metric,
    pub op: Op,
    pub limit: Limit,
}

/// What a threshold is measured over.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The whole run, at its end.
    Run,
    /// Every occurrence of a phase, as each ends.
    Phase(PhaseSelector),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PhaseSelector {
    /// 1-based, as users count phases.
    Number(usize),
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    P50,
    P90,
    P95,
    P99,
    Max,
    Mean,
    /// Requests per second.
    Rps,
    Requests,
    Failures,
    /// Exceptions raised in the users' code.
    Errors,
    /// The request rate delivered, in percent of the one the plan implies
    /// (`stats::delivery`).
    Delivered,
    /// Rate phases' requests: percentiles of the latency from each
    /// iteration's intended start (`stats::RequestStats::intended`).
    P50Intended,
    P90Intended,
    P95Intended,
    P99Intended,
    MaxIntended,
    /// Rate phases' iterations that no user could start in time.
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

/// The value compared against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A response time, in milliseconds.
    Millis(f64),
    /// A plain number (requests/s, a count).
    Number(f64),
    /// A share in percent: failures or errors per 100 requests.
    Percent(f64),
}

/// A threshold that can't be read: where (a byte range of the text) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub at: usize,
    pub len: usize,
    pub message: String,
    pub help: String,
}

const METRICS: [(&str, Metric); 17] = [
    ("p50", Metric::P50),
    ("p90", Metric::P90),
    ("p95", Metric::P95),
    ("p99", Metric::P99),
    ("max", Metric::Max),
    ("mean", Metric::Mean),
    ("rps", Metric::Rps),
    ("requests", Metric::Requests),
    ("failures", Metric::Failures),
    ("errors", Metric::Errors),
    ("delivered", Metric::Delivered),
    ("p50_intended", Metric::P50Intended),
    ("p90_intended", Metric::P90Intended),
    ("p95_intended", Metric::P95Intended),
    ("p99_intended", Metric::P99Intended),
    ("max_intended", Metric::MaxIntended),
    ("dropped", Metric::Dropped),
];

/// Every metric and the value it takes: what an unknown metric's error lists.
const METRICS_HELP: &str = "metrics are p50 p90 p95 p99 max mean (a time: 500ms, 1s), rps, requests, failures and errors (a count, or a share: 1%), delivered (a share of the planned rate: 90%); a rate phase's p50_intended p90_intended p95_intended p99_intended max_intended (a time from each iteration's intended start) and dropped (a count, or a share of its iterations: 1%)";

impl Metric {
    /// A figure per second of the span judged (requests/s, the delivered
    /// share of a planned rate): not stated over a span too short to measure.
    pub fn is_rate(self) -> bool {
        matches!(self, Metric::Rps | Metric::Delivered)
    }

    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::P50 | Metric::P90 | Metric::P95 | Metric::P99 | Metric::Max | Metric::Mean
        ) || self.is_intended()
    }

    /// A latency from the intended start: measured on rate phases' requests only.
    pub fn is_intended(self) -> bool {
        matches!(
            self,
            Metric::P50Intended
                | Metric::P90Intended
                | Metric::P95Intended
                | Metric::P99Intended
                | Metric::MaxIntended
        )
    }

    /// Only a rate phase has anything to measure: a threshold on this metric
    /// whose scope has no rate phase can't mean what its writer meant.
    pub fn needs_rate_phase(self) -> bool {
        self.is_intended() || self == Metric::Dropped
    }

    /// The metric takes a share in `%` (besides, or but for `delivered`
    /// instead of, a count).
    fn takes_share(self) -> bool {
        matches!(
            self,
            Metric::Failures | Metric::Errors | Metric::Delivered | Metric::Dropped
        )
    }

    pub fn name(self) -> &'static str {
        METRICS
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("?", |(n, _)| n)
    }
}

impl Op {
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Lt => value < limit,
            Op::Le => value <= limit,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        })
    }
}

/// A small cursor over the text, keeping byte offsets for the caret.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_space(&mut self) {
        while self.text[self.at..].starts_with([' ', '\t']) {
            self.at += 1;
        }
    }

    /// The next run of characters that satisfy `keep`, and where it starts.
    fn take(&mut self, keep: impl Fn(char) -> bool) -> (&'a str, usize) {
        self.skip_space();
        let start = self.at;
        let len: usize = self.text[start..]
            .chars()
            .take_while(|&c| keep(c))
            .map(char::len_utf8)
            .sum();
        self.at += len;
        (&self.text[start..start + len], start)
    }

    fn error(&self, at: usize, len: usize, message: impl Into<String>, help: &str) -> ExprError {
        ExprError {
            at,
            len: len.max(1),
            message: message.into(),
            help: help.to_string(),
        }
    }

    /// The length of the word at `at` (for the caret), at least 1.
    fn word_len(&self, at: usize) -> usize {
        self.text[at..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .map(char::len_utf8)
            .sum()
    }
}

const GRAMMAR: &str = "write `[phase N|NAME:] METRIC OP VALUE`, e.g. `p95 > 500ms`, `failures > 1%`, `phase 3: p99 > 1s`";

/// Parses one threshold.
pub fn parse(text: &str) -> Result<Threshold, ExprError> {
    let mut c = Cursor { text, at: 0 };
    c.skip_space();
    let scope = c.read_scope()?;
    let metric = c.read_metric()?;
    let op = c.read_op(metric)?;
    let limit = c.read_limit(metric, op)?;
    c.read_end()?;
    Ok(Threshold {
        text: text.trim().to_string(),
        scope,
        metric,
        op,
        limit,
    })
}

/// A phase selector or a metric: letters, digits, `_` and `-`.
fn is_word(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_' || ch == '-'
}

/// The readers of the grammar's pieces, in the order they are written. Each
/// reads its piece or says where and why it can't.
impl Cursor<'_> {
    /// `phase SEL:` where the threshold starts with it; otherwise the whole
    /// run, and nothing is read.
    fn read_scope(&mut self) -> Result<Scope, ExprError> {
        let start = self.at;
        let (first, _) = self.take(is_word);
        if first != "phase" {
            // Not a scope: the word is the metric's, read again by `read_metric`.
            self.at = start;
            return Ok(Scope::Run);
        }
        let (selector, sel_at) = self.take(is_word);
        if selector.is_empty() {
            return Err(self.error(
                self.at,
                1,
                "expected a phase number or name after `phase`",
                GRAMMAR,
            ));
        }
        self.skip_space();
        if !self.text[self.at..].starts_with(':') {
            return Err(self.error(
                self.at,
                1,
                format!("expected `:` after `phase {selector}`"),
                GRAMMAR,
            ));
        }
        self.at += 1;
        match selector.parse::<usize>() {
            Ok(0) => Err(self.error(
                sel_at,
                selector.len(),
                "phases are numbered from 1",
                GRAMMAR,
            )),
            Ok(n) => Ok(Scope::Phase(PhaseSelector::Number(n))),
            Err(_) => Ok(Scope::Phase(PhaseSelector::Name(selector.to_string()))),
        }
    }

    /// METRIC: one of [`METRICS`], by name.
    fn read_metric(&mut self) -> Result<Metric, ExprError> {
        let (word, at) = self.take(is_word);
        if let Some(&(_, metric)) = METRICS.iter().find(|(name, _)| *name == word) {
            return Ok(metric);
        }
        let what = if word.is_empty() {
            "expected a metric".to_string()
        } else {
            format!("unknown metric `{word}`")
        };
        let len = self.word_len(at);
        Err(self.error(at, len, what, METRICS_HELP))
    }

    /// OP: `>`, `>=`, `<` or `<=`, after `metric`.
    fn read_op(&mut self, metric: Metric) -> Result<Op, ExprError> {
        let (op_text, op_at) = self.take(|ch| matches!(ch, '<' | '>' | '='));
        match op_text {
            ">" => Ok(Op::Gt),
            ">=" => Ok(Op::Ge),
            "<" => Ok(Op::Lt),
            "<=" => Ok(Op::Le),
            _ => {
                let len = if op_text.is_empty() {
                    self.word_len(op_at)
                } else {
                    op_text.len()
                };
                Err(self.error(
                    op_at,
                    len,
                    format!("expected one of > >= < <= after `{}`", metric.name()),
                    GRAMMAR,
                ))
            }
        }
    }

    /// VALUE: a number, after `op`, and a unit that suits `metric`: a time in
    /// ms (the default) or s for latencies, a plain number for counts and
    /// rates, a share in % for failures, errors, delivered and dropped.
    fn read_limit(&mut self, metric: Metric, op: Op) -> Result<Limit, ExprError> {
        let (number, number_at) = self.take(|ch| ch.is_ascii_digit() || ch == '.');
        let Ok(value) = number.parse::<f64>() else {
            let len = self.word_len(number_at);
            return Err(self.error(
                number_at,
                len,
                format!("expected a number after `{op}`"),
                GRAMMAR,
            ));
        };
        let (unit, unit_at) = self.take(|ch| !ch.is_whitespace());
        match (unit, metric.is_latency()) {
            ("ms", true) | ("", true) => Ok(Limit::Millis(value)),
            ("s", true) => Ok(Limit::Millis(value * 1000.0)),
            ("%", false) if metric.takes_share() => Ok(Limit::Percent(value)),
            ("", false) if metric != Metric::Delivered => Ok(Limit::Number(value)),
            (_, true) => Err(self.error(
                unit_at,
                unit.len(),
                format!(
                    "`{}` is a time: write the value in ms or s (`500ms`, `1.5s`)",
                    metric.name()
                ),
                GRAMMAR,
            )),
            (_, false) => Err(self.wrong_unit(metric, (number, number_at), (unit, unit_at))),
        }
    }

    /// The error for a metric that is not a time given a value it doesn't
    /// take: at the unit, or at the number where the unit is missing.
    fn wrong_unit(
        &self,
        metric: Metric,
        (number, number_at): (&str, usize),
        (unit, unit_at): (&str, usize),
    ) -> ExprError {
        let help = if metric == Metric::Delivered {
            "a share of the planned request rate (`90%`)"
        } else if matches!(metric, Metric::Failures | Metric::Errors) {
            "a count (`10`) or a share of the requests (`1%`)"
        } else if metric == Metric::Dropped {
            "a count (`10`) or a share of the rate's iterations (`1%`)"
        } else {
            "a plain number"
        };
        let (at, len, given) = if unit.is_empty() {
            (number_at, number.len(), "a plain number".to_string())
        } else {
            (unit_at, unit.len(), format!("`{unit}`"))
        };
        self.error(
            at,
            len,
            format!("`{}` takes {help}, not {given}", metric.name()),
            GRAMMAR,
        )
    }

    /// Nothing but space after the value.
    fn read_end(&mut self) -> Result<(), ExprError> {
        self.skip_space();
        if self.at < self.text.len() {
            let len = self.text.len() - self.at;
            return Err(self.error(self.at, len, "unexpected text after the value", GRAMMAR));
        }
        Ok(())
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Millis(ms) => write!(f, "{} ms", plain(*ms)),
            Limit::Number(n) => write!(f, "{}", plain(*n)),
            Limit::Percent(p) => write!(f, "{}%", plain(*p)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_examples_parse() {
        let t = parse("p95 > 500ms").unwrap();
        assert_eq!(
            (t.scope, t.metric, t.op, t.limit),
            (Scope::Run, Metric::P95, Op::Gt, Limit::Millis(500.0))
        );
        let t = parse("failures > 1%").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::Failures, Limit::Percent(1.0)));
        let t = parse("phase 3: p99 > 1s").unwrap();
        assert_eq!(
            (t.scope, t.limit),
            (
                Scope::Phase(PhaseSelector::Number(3)),
                Limit::Millis(1000.0)
            )
        );
        let t = parse("  phase holiday:rps<200 ").unwrap();
        assert_eq!(t.scope, Scope::Phase(PhaseSelector::Name("holiday".into())));
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Rps, Op::Lt, Limit::Number(200.0))
        );
        assert_eq!(t.text, "phase holiday:rps<200");
        assert_eq!(parse("errors >= 3").unwrap().limit, Limit::Number(3.0));
        assert_eq!(parse("mean <= 2.5").unwrap().limit, Limit::Millis(2.5));
        let t = parse("phase 2: delivered < 90%").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (Metric::Delivered, Op::Lt, Limit::Percent(90.0))
        );
    }

    #[test]
    fn a_rate_phase_s_metrics_parse_as_their_kin_do() {
        for (text, metric) in [
            ("p50_intended > 100ms", Metric::P50Intended),
            ("p90_intended > 100ms", Metric::P90Intended),
            ("p95_intended > 100ms", Metric::P95Intended),
            ("p99_intended > 100ms", Metric::P99Intended),
            ("max_intended > 100ms", Metric::MaxIntended),
        ] {
            let t = parse(text).unwrap();
            assert_eq!(
                (t.metric, t.limit),
                (metric, Limit::Millis(100.0)),
                "{text}"
            );
            assert!(metric.is_latency() && metric.is_intended() && metric.needs_rate_phase());
            assert_eq!(metric.name(), text.split(' ').next().unwrap());
        }
        let t = parse("phase open: p99_intended > 1.5s").unwrap();
        assert_eq!(
            (t.scope, t.limit),
            (
                Scope::Phase(PhaseSelector::Name("open".into())),
                Limit::Millis(1500.0)
            )
        );
        assert_eq!(parse("p99_intended<=500").unwrap().op, Op::Le);
        let t = parse("dropped > 0").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::Dropped, Limit::Number(0.0)));
        assert_eq!(parse("dropped >= 1%").unwrap().limit, Limit::Percent(1.0));
        assert!(Metric::Dropped.needs_rate_phase() && !Metric::Dropped.is_latency());
        assert!(!Metric::P99.needs_rate_phase() && !Metric::P99.is_intended());
    }

    #[test]
    fn a_rate_phase_s_metrics_refuse_the_wrong_unit() {
        let (at, len, msg) = error("p99_intended > 5%");
        assert_eq!((at, len), (16, 1), "{msg}");
        assert!(msg.contains("`p99_intended` is a time"), "{msg}");
        let (at, _, msg) = error("dropped > 5ms");
        assert_eq!(at, 11, "{msg}");
        assert!(msg.contains("share of the rate's iterations"), "{msg}");
        // An unknown metric's help lists them.
        let e = parse("p99_intend > 5ms").unwrap_err();
        assert!(e.message.contains("unknown metric `p99_intend`"));
        assert!(
            e.help.contains("p99_intended") && e.help.contains("dropped"),
            "{}",
            e.help
        );
    }

    fn error(text: &str) -> (usize, usize, String) {
        let e = parse(text).unwrap_err();
        (e.at, e.len, e.message)
    }

    #[test]
    fn mistakes_point_at_the_problem() {
        assert_eq!(error("p96 > 5ms").0, 0);
        assert!(error("p96 > 5ms").2.contains("unknown metric `p96`"));
        let (at, len, msg) = error("p95 >> 5ms");
        assert_eq!((at, len), (4, 2), "{msg}");
        let (at, _, msg) = error("p95 > fast");
        assert_eq!(at, 6);
        assert!(msg.contains("expected a number"), "{msg}");
        let (at, len, msg) = error("p95 > 5kg");
        assert_eq!((at, len), (7, 2), "{msg}");
        let (at, _, msg) = error("rps > 5%");
        assert_eq!(at, 7, "{msg}");
        let (at, _, msg) = error("phase 3 p95 > 5ms");
        assert_eq!(at, 8, "{msg}");
        assert!(msg.contains("expected `:`"));
        assert!(error("phase 0: p95 > 5ms").2.contains("from 1"));
        assert!(error("p95 > 5ms and more").2.contains("unexpected text"));
        assert!(error("").2.contains("expected a metric"));
        assert!(error("ü > 1").2.contains("unknown metric"));
        let (at, _, msg) = error("delivered < 0.9");
        assert_eq!(at, 12, "{msg}");
        assert!(msg.contains("share of the planned request rate"), "{msg}");
    }
}
