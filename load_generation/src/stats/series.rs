//! The run's time series, bounded: full resolution (one point per sample) for
//! the last hour, one point per minute for the day before, one per ten minutes
//! beyond, as round-robin databases keep them. A week is about 10,000 points
//! rather than 1.2 million.
//!
//! Merging keeps what matters exact: each point counts the requests (and
//! failures) of the `seconds` of the run it covers, and a merged point adds
//! them. Users are the time-weighted mean; p50 too; p95 and p99 (and the p99
//! from the intended start) are the highest of the parts, so a spike is not
//! averaged away.
//!
//! A point is compact (about 120 bytes asked of the allocator,
//! `stats::tests::a_series_point_is_compact` measures it): counts rather than
//! histograms, milliseconds in 32 bits, and the phase's target users shared
//! with its occurrence.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use super::{PhaseRecord, RequestStats};

/// Full resolution is kept for this long (seconds).
const RECENT_S: f64 = 3600.0;

/// `RECENT_S`, or `LOADGEN_SERIES_RECENT_S`: the soak benchmark (bench/run)
/// shortens the full-resolution window so that minutes of accelerated run
/// show what a week does to memory.
fn recent_s() -> f64 {
    static RECENT: OnceLock<f64> = OnceLock::new();
    *RECENT.get_or_init(|| {
        std::env::var("LOADGEN_SERIES_RECENT_S")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .unwrap_or(RECENT_S)
    })
}
/// One-minute buckets are kept for this long beyond it.
const MINUTES_S: f64 = 86_400.0;

/// What one interval of the run did: a point of its time series.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Seconds from the run's start to the interval's end.
    pub t: f64,
    /// Its length: a sample interval, or a bucket of merged ones once it is
    /// older than an hour. (An f64 costs nothing here: the struct's padding
    /// has room for it.)
    seconds: f64,
    pub phase_index: u32,
    pub loop_index: u64,
    /// The plan's users per type (its occurrence's, shared).
    pub target_users: Arc<[u32]>,
    /// Users per type at its end (the mean over a merged bucket).
    pub actual_users: Box<[u32]>,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: u32,
    pub p95_ms: u32,
    pub p99_ms: u32,
    /// The p99 of its latencies from the intended start (rate phases'
    /// requests only); `None` where there were none.
    pub p99_intended_ms: Option<u32>,
}

/// Milliseconds in 32 bits: 49 days, far above any latency Locust waits for.
fn ms32(ms: u64) -> u32 {
    u32::try_from(ms).unwrap_or(u32::MAX)
}

impl Interval {
    /// The interval of `seconds` ending `t` seconds into the run, in `phase`,
    /// with `actual` users at its end and `stats` its requests.
    pub fn new(
        t: f64,
        seconds: f64,
        phase: &PhaseRecord,
        actual: &[u32],
        stats: &RequestStats,
    ) -> Interval {
        Interval {
            t,
            seconds,
            phase_index: u32::try_from(phase.phase_index).unwrap_or(u32::MAX),
            loop_index: phase.loop_index,
            target_users: Arc::clone(&phase.target_users),
            actual_users: actual.into(),
            requests: stats.requests,
            failures: stats.failures,
            p50_ms: ms32(stats.histogram.percentile(0.5)),
            p95_ms: ms32(stats.histogram.percentile(0.95)),
            p99_ms: ms32(stats.histogram.percentile(0.99)),
            p99_intended_ms: (stats.intended.count() > 0)
                .then(|| ms32(stats.intended.percentile(0.99))),
        }
    }

    pub fn seconds(&self) -> f64 {
        self.seconds
    }

    /// Requests per second over the interval (0 over none).
    pub fn requests_per_s(&self) -> f64 {
        self.per_s(self.requests)
    }

    pub fn failures_per_s(&self) -> f64 {
        self.per_s(self.failures)
    }

    fn per_s(&self, count: u64) -> f64 {
        if self.seconds > 0.0 {
            count as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Becomes the interval covering both itself and the later `b`.
    fn merge(&mut self, b: &Interval) {
        let (sa, sb) = (self.seconds, b.seconds);
        let total = (sa + sb).max(1e-9);
        let mean = |x: f64, y: f64| (x * sa + y * sb) / total;
        self.requests += b.requests;
        self.failures += b.failures;
        self.p50_ms = mean(f64::from(self.p50_ms), f64::from(b.p50_ms)).round() as u32;
        self.p95_ms = self.p95_ms.max(b.p95_ms);
        self.p99_ms = self.p99_ms.max(b.p99_ms);
        // As p99: the highest part, and none only where no part had one.
        self.p99_intended_ms = self.p99_intended_ms.max(b.p99_intended_ms);
        let users = self.actual_users.len().max(b.actual_users.len());
        let at = |u: &[u32], i: usize| f64::from(u.get(i).copied().unwrap_or(0));
        self.actual_users = (0..users)
            .map(|i| mean(at(&self.actual_users, i), at(&b.actual_users, i)).round() as u32)
            .collect();
        self.target_users = Arc::clone(&b.target_users);
        self.phase_index = b.phase_index;
        self.loop_index = b.loop_index;
        self.t = b.t;
        self.seconds = sa + sb;
    }
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Older than a day, in 10-minute buckets.
    ten_minutes: VecDeque<Interval>,
    /// Older than an hour, in 1-minute buckets.
    minutes: VecDeque<Interval>,
    /// The last hour, one point per sample.
    recent: VecDeque<Interval>,
}

impl Series {
    pub fn push(&mut self, point: Interval) {
        let now = point.t;
        let recent_s = recent_s();
        self.recent.push_back(point);
        while self.recent.front().is_some_and(|p| p.t < now - recent_s) {
            if let Some(old) = self.recent.pop_front() {
                add_to(&mut self.minutes, old, 60.0);
            }
        }
        while self
            .minutes
            .front()
            .is_some_and(|p| p.t < now - recent_s - MINUTES_S)
        {
            if let Some(old) = self.minutes.pop_front() {
                add_to(&mut self.ten_minutes, old, 600.0);
            }
        }
    }

    /// Adds a point too short to stand alone (the run ended a few ms after
    /// the last point): to the last point, or as the first.
    pub fn push_short(&mut self, point: Interval) {
        match self.recent.back_mut() {
            Some(last) => last.merge(&point),
            None => self.push(point),
        }
    }

    /// Every point, oldest first (coarse ones first).
    pub fn points(&self) -> impl Iterator<Item = &Interval> {
        self.ten_minutes
            .iter()
            .chain(self.minutes.iter())
            .chain(self.recent.iter())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ten_minutes.len() + self.minutes.len() + self.recent.len()
    }
}

/// Adds `point` to the bucket of `width` seconds it falls in (the last one, if
/// it is the same bucket), or starts a new one. A point's `t` is the end of
/// its span, so buckets are `(k * width, (k + 1) * width]`.
fn add_to(buckets: &mut VecDeque<Interval>, point: Interval, width: f64) {
    let bucket = |t: f64| (t / width).ceil();
    match buckets.back_mut() {
        Some(last) if bucket(last.t) == bucket(point.t) => last.merge(&point),
        _ => buckets.push_back(point),
    }
}

#[cfg(test)]
impl Interval {
    /// Half a second of 10 users of one type ending at `t`, with `requests`.
    pub fn half_second(t: f64, requests: u64) -> Interval {
        Interval {
            t,
            seconds: 0.5,
            phase_index: 0,
            loop_index: 0,
            target_users: Arc::from([10]),
            actual_users: Box::from([10]),
            requests,
            failures: 0,
            p50_ms: 5,
            p95_ms: 20,
            p99_ms: 30,
            p99_intended_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, requests: u64) -> Interval {
        Interval {
            p50_ms: 5,
            p95_ms: if (t as u64).is_multiple_of(1000) {
                900
            } else {
                20
            },
            p99_ms: 30,
            p99_intended_ms: (t as u64).is_multiple_of(2000).then_some(4000),
            ..Interval::half_second(t, requests)
        }
    }

    #[test]
    fn a_merged_point_keeps_the_highest_intended_p99_and_none_only_from_none() {
        let mut a = point(1.0, 1);
        a.p99_intended_ms = None;
        let mut b = point(1.5, 1);
        b.p99_intended_ms = Some(700);
        a.merge(&b);
        assert_eq!(a.p99_intended_ms, Some(700));
        let mut c = point(2.0, 1);
        c.p99_intended_ms = Some(300);
        a.merge(&c);
        assert_eq!(a.p99_intended_ms, Some(700));
        let (mut x, mut y) = (point(3.0, 1), point(3.5, 1));
        (x.p99_intended_ms, y.p99_intended_ms) = (None, None);
        x.merge(&y);
        assert_eq!(x.p99_intended_ms, None);
    }

    #[test]
    fn a_merged_point_adds_counts_and_weighs_users_by_time() {
        let mut a = point(1.0, 10);
        let mut b = point(2.0, 30);
        b.seconds = 1.0;
        b.actual_users = Box::from([40, 6]);
        b.target_users = Arc::from([50, 6]);
        a.merge(&b);
        assert_eq!((a.requests, a.seconds(), a.t), (40, 1.5, 2.0));
        assert!((a.requests_per_s() - 40.0 / 1.5).abs() < 1e-9);
        // 10 users for 0.5 s and 40 for 1 s; a type that joined counts 0 before.
        assert_eq!(&*a.actual_users, [30, 4]);
        assert_eq!(&*a.target_users, [50, 6]);
    }

    #[test]
    fn a_simulated_week_stays_small_and_its_requests_exact() {
        let mut series = Series::default();
        let mut requests = 0;
        let week = 7u32 * 86_400 * 2; // a sample every 0.5 s
        for i in 1..=week {
            let n = u64::from(i % 7);
            requests += n;
            series.push(point(f64::from(i) * 0.5, n));
        }
        // 7,200 recent + 1,440 minutes + 144 a day beyond (6 days).
        assert!(
            series.len() < 7_200 + 1_441 + 6 * 144 + 5,
            "{} points",
            series.len()
        );
        let counted: u64 = series.points().map(|p| p.requests).sum();
        assert_eq!(counted, requests);
        let span: f64 = series.points().map(Interval::seconds).sum();
        assert!((span - f64::from(week) * 0.5).abs() < 1.0, "{span}");
        // Points stay in time order, and a spike survives the merges.
        let times: Vec<f64> = series.points().map(|p| p.t).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(series.points().take(100).any(|p| p.p95_ms == 900));
        assert!(series
            .points()
            .take(100)
            .any(|p| p.p99_intended_ms == Some(4000)));
    }
}
