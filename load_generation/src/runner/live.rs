//! What Locust said in its last sample, as the run shows it: users running per
//! type, the workers connected and their users, the request rate. Pure: fed
//! one sample at a time, it returns the changes of workers worth saying.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::membership::{self, Change};
use crate::locust::protocol::Sample;
use crate::plan::Counts;
use crate::stats::window::{Window, MIN_POINT_SPAN_S};

/// The request rate shown live is over this many seconds of samples.
const RATE_WINDOW_S: f64 = 1.0;

#[derive(Debug)]
pub struct Live {
    /// Users per type (plan order) in Locust's last sample.
    pub actual: Counts,
    /// Workers connected to the master (0 for a local runner).
    pub workers: u32,
    pub worker_users: BTreeMap<String, u32>,
    /// Every worker the master has named so far: one that comes back is told
    /// from a new one (`membership`).
    workers_seen: BTreeSet<String>,
    /// Requests per second over the last second of samples.
    pub requests_per_s: f64,
    /// The samples' requests over the time each covered.
    recent: Window<u64>,
    last_sample_at: Instant,
}

impl Live {
    /// Before any sample: no user runs yet, `workers` have connected.
    pub fn new(start: Instant, types: usize, workers: u32) -> Live {
        Live {
            actual: vec![0; types],
            workers,
            worker_users: BTreeMap::new(),
            workers_seen: BTreeSet::new(),
            requests_per_s: 0.0,
            recent: Window::new(RATE_WINDOW_S),
            last_sample_at: start,
        }
    }

    /// Takes a sample at `now`, whose users are counted for `classes` (the
    /// plan's user types' classes, in order); returns the workers that joined,
    /// came back, were lost or replaced, by name with the users that move
    /// (before the master has named any, a change of their count).
    pub fn take(&mut self, sample: &Sample, classes: &[String], now: Instant) -> Vec<Change> {
        self.actual = classes
            .iter()
            .map(|c| sample.users.get(c).copied().unwrap_or(0))
            .collect();
        let before = std::mem::replace(&mut self.workers, sample.workers);
        let changes = if self.workers_seen.is_empty() {
            // Until the master has named its workers, only their count is known.
            self.workers_seen
                .extend(sample.worker_users.keys().cloned());
            membership::count_change(before, sample.workers)
                .into_iter()
                .collect()
        } else {
            membership::changes(
                &self.worker_users,
                &sample.worker_users,
                &mut self.workers_seen,
            )
        };
        if sample.worker_users != self.worker_users {
            tracing::debug!("users per worker: {:?}", sample.worker_users);
        }
        self.worker_users.clone_from(&sample.worker_users);
        let requests: u64 = sample.stats.iter().map(|s| s.requests).sum();
        let interval = now
            .saturating_duration_since(self.last_sample_at)
            .as_secs_f64();
        // Over the last second, not the last sample: a sample a control action
        // closed 3 ms after the last would otherwise show 2 requests as 666/s.
        self.recent.push(interval, requests);
        if let Some(rate) = self.recent.per_second(MIN_POINT_SPAN_S, |&n| n as f64) {
            self.requests_per_s = rate;
        }
        self.last_sample_at = now;
        changes
    }

    /// The plan's user types changed (a reload): as many counts as types.
    pub fn retype(&mut self, types: usize) {
        self.actual.resize(types, 0);
    }

    /// Users running, all types together.
    pub fn running(&self) -> u64 {
        self.actual.iter().map(|&n| u64::from(n)).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::locust::protocol::RequestDelta;

    fn sample(users: &[(&str, u32)], workers: &[(&str, u32)], requests: u64) -> Sample {
        Sample {
            users: users.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            workers: workers.len() as u32,
            worker_users: workers.iter().map(|(w, n)| (w.to_string(), *n)).collect(),
            stats: vec![RequestDelta {
                method: "GET".into(),
                name: "/".into(),
                requests,
                failures: 0,
                total_ms: 0.0,
                histogram: vec![],
                intended_histogram: vec![],
            }],
            ..Sample::default()
        }
    }

    #[test]
    fn a_sample_gives_users_per_type_in_plan_order_and_the_rate() {
        let t0 = Instant::now();
        let mut live = Live::new(t0, 2, 0);
        let classes = ["BrowseUser".to_string(), "BuyUser".to_string()];
        let said = live.take(
            &sample(
                &[("BuyUser", 3), ("BrowseUser", 7), ("OtherUser", 1)],
                &[],
                50,
            ),
            &classes,
            t0 + Duration::from_millis(500),
        );
        assert!(said.is_empty());
        assert_eq!(live.actual, vec![7, 3]);
        assert_eq!(live.running(), 10);
        assert!((live.requests_per_s - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_sample_closed_a_few_ms_after_the_last_shows_no_spike() {
        for ms in [1, 3, 10] {
            let t0 = Instant::now();
            let mut live = Live::new(t0, 1, 0);
            let classes = ["WebUser".to_string()];
            let mut at = t0;
            for _ in 0..4 {
                at += Duration::from_millis(500);
                live.take(&sample(&[], &[], 50), &classes, at);
            }
            at += Duration::from_millis(ms);
            live.take(&sample(&[], &[], 2), &classes, at);
            let rate = live.requests_per_s;
            assert!((100.0..105.0).contains(&rate), "{ms} ms: {rate}");
        }
    }

    #[test]
    fn workers_are_counted_until_named_then_named() {
        let t0 = Instant::now();
        let mut live = Live::new(t0, 1, 2);
        let classes = ["WebUser".to_string()];
        // The master's first samples count its workers but may not name them.
        let mut unnamed = sample(&[("WebUser", 4)], &[], 0);
        unnamed.workers = 1;
        let said = live.take(&unnamed, &classes, t0);
        assert_eq!(said.len(), 1);
        assert_eq!(
            (said[0].kind, said[0].detail.as_str()),
            ("worker_lost", "1 Locust worker lost: 1 connected (was 2)")
        );
        let named = sample(&[("WebUser", 4)], &[("w1", 2), ("w2", 2)], 0);
        let said = live.take(&named, &classes, t0);
        assert_eq!(said[0].kind, "worker_joined", "{said:?}");
        let said = live.take(&sample(&[("WebUser", 4)], &[("w1", 4)], 0), &classes, t0);
        assert_eq!(said[0].kind, "worker_lost", "{said:?}");
        assert!(
            said[0].detail.starts_with("Locust worker w2 lost"),
            "{said:?}"
        );
    }
}
