//! What is counted over a span of a run, in one type: a sample's interval, a
//! phase occurrence, a phase's folded occurrences and the whole run each hold
//! a [`Counted`], and two spans add up with [`Counted::merge`]. A new figure
//! is a field here and its line in `merge`; the summary states it once
//! (`report::summary::CountedFigures`) for occurrences, folded phases and the
//! run alike.

use std::collections::BTreeMap;

use serde::Serialize;

use super::histogram::Histogram;
use super::{window, Figures, Intended};

/// A request name as Locust groups them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RequestKey {
    pub method: String,
    pub name: String,
}

/// Requests of one name (or all names) over some span of time.
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    pub requests: u64,
    pub failures: u64,
    pub total_ms: f64,
    /// Response times, as Locust measures them.
    pub histogram: Histogram,
    /// Rate phases' requests only: the time from the intended start of the
    /// iteration that made each request to its response (see `loadgen_open.py`).
    pub intended: Histogram,
}

impl RequestStats {
    pub fn merge(&mut self, other: &RequestStats) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.total_ms += other.total_ms;
        self.histogram.merge(&other.histogram);
        self.intended.merge(&other.intended);
    }

    /// The summary figures of these requests over `seconds` (no rate where
    /// that is too short to state one: see [`window::MIN_RATE_SPAN_S`]).
    pub fn figures(&self, seconds: f64) -> Figures {
        Figures {
            requests: self.requests,
            failures: self.failures,
            requests_per_s: window::rate(self.requests as f64, seconds),
            mean_ms: if self.requests > 0 {
                self.total_ms / self.requests as f64
            } else {
                0.0
            },
            p50_ms: self.histogram.percentile(0.50),
            p90_ms: self.histogram.percentile(0.90),
            p95_ms: self.histogram.percentile(0.95),
            p99_ms: self.histogram.percentile(0.99),
            max_ms: self.histogram.max(),
            intended: (self.intended.count() > 0).then(|| Intended {
                requests: self.intended.count(),
                p50_ms: self.intended.percentile(0.50),
                p90_ms: self.intended.percentile(0.90),
                p95_ms: self.intended.percentile(0.95),
                p99_ms: self.intended.percentile(0.99),
                max_ms: self.intended.max(),
            }),
        }
    }
}

/// Everything counted over a span of the run; exact under [`Counted::merge`]
/// (counts add, histograms merge bucket by bucket), so a run of weeks folds
/// its old occurrences without losing a request.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// Per request name.
    pub requests: BTreeMap<RequestKey, RequestStats>,
    /// All names together.
    pub total: RequestStats,
    /// Failure messages (`GET /cart: 500 ...`) and how often each occurred,
    /// at most [`MAX_MESSAGES`] of them.
    pub errors: BTreeMap<String, u64>,
    /// Exceptions raised in the users' code.
    pub exceptions: u64,
    /// Times Locust was restarted.
    pub restarts: u32,
    /// Rate phases' iterations that no user could start in time (their
    /// requests were never made: the plan asked for more than was sent).
    pub dropped: u64,
    /// Iterations run in rate phases: with `dropped`, the iterations their
    /// rates laid down, the base of a `dropped > N%` threshold.
    pub rate_iterations: u64,
}

/// How many failure messages a span keeps (beyond, they are counted under
/// one entry), so that ever-new messages (an id in each) can't grow a run's
/// record without bound.
pub const MAX_MESSAGES: usize = 100;
pub const OTHER_MESSAGES: &str = "(other failure messages)";

impl Counted {
    /// Adds the requests of one name.
    pub fn add_requests(&mut self, key: RequestKey, stats: &RequestStats) {
        self.requests.entry(key).or_default().merge(stats);
        self.total.merge(stats);
    }

    /// Adds `count` failures with this message.
    pub fn add_error(&mut self, message: &str, count: u64) {
        let key = if self.errors.len() < MAX_MESSAGES || self.errors.contains_key(message) {
            message
        } else {
            OTHER_MESSAGES
        };
        *self.errors.entry(key.to_string()).or_default() += count;
    }

    /// Adds a later (or earlier) span's counts to these.
    pub fn merge(&mut self, other: &Counted) {
        for (key, stats) in &other.requests {
            self.requests.entry(key.clone()).or_default().merge(stats);
        }
        self.total.merge(&other.total);
        for (message, &count) in &other.errors {
            self.add_error(message, count);
        }
        self.exceptions += other.exceptions;
        self.restarts += other.restarts;
        self.dropped += other.dropped;
        self.rate_iterations += other.rate_iterations;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(requests: u64, message: &str) -> Counted {
        let mut c = Counted::default();
        let mut stats = RequestStats {
            requests,
            failures: 1,
            total_ms: 10.0 * requests as f64,
            ..RequestStats::default()
        };
        stats.histogram.add(10, requests);
        let key = RequestKey {
            method: "GET".into(),
            name: "/".into(),
        };
        c.add_requests(key, &stats);
        c.add_error(message, 1);
        c.exceptions = 2;
        c.restarts = 1;
        c.dropped = 3;
        c.rate_iterations = 4;
        c
    }

    #[test]
    fn merging_adds_every_figure() {
        let mut a = span(5, "GET /: 500");
        a.merge(&span(7, "GET /: 500"));
        assert_eq!((a.total.requests, a.total.failures), (12, 2));
        assert_eq!(a.total.histogram.count(), 12);
        assert_eq!(a.requests.values().map(|s| s.requests).sum::<u64>(), 12);
        assert_eq!(a.errors["GET /: 500"], 2);
        assert_eq!(
            (a.exceptions, a.restarts, a.dropped, a.rate_iterations),
            (4, 2, 6, 8)
        );
    }

    #[test]
    fn ever_new_failure_messages_stay_bounded_and_counted() {
        let mut run = Counted::default();
        for i in 0..250 {
            run.merge(&span(1, &format!("GET /item/{i}: 404")));
        }
        assert_eq!(run.errors.len(), MAX_MESSAGES + 1);
        assert_eq!(run.errors[OTHER_MESSAGES], 150);
        assert_eq!(run.errors.values().sum::<u64>(), 250);
    }
}
