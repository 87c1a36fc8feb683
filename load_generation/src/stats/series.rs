//! The run's time series, bounded: full resolution (one point per sample) for
//! the last hour, one point per minute for the day before, one per ten minutes
//! beyond, as round-robin databases keep them. A week is about 10,000 points
//! rather than 1.2 million.
//!
//! Merging keeps what matters exact: each point covers `seconds` of the run, and
//! a merged point's rates are the requests (and failures) of all its parts over
//! its whole span. Users are the time-weighted mean; p50 too; p95 and p99 (and
//! the p99 from the intended start) are the highest of the parts, so a spike is
//! not averaged away.

use std::collections::VecDeque;
use std::sync::OnceLock;

use super::TimePoint;

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

#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Older than a day, in 10-minute buckets.
    ten_minutes: VecDeque<TimePoint>,
    /// Older than an hour, in 1-minute buckets.
    minutes: VecDeque<TimePoint>,
    /// The last hour, one point per sample.
    recent: VecDeque<TimePoint>,
}

impl Series {
    pub fn push(&mut self, point: TimePoint) {
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
    pub fn push_short(&mut self, point: TimePoint) {
        match self.recent.back_mut() {
            Some(last) => merge(last, &point),
            None => self.push(point),
        }
    }

    /// Every point, oldest first (coarse ones first).
    pub fn points(&self) -> impl Iterator<Item = &TimePoint> {
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
fn add_to(buckets: &mut VecDeque<TimePoint>, point: TimePoint, width: f64) {
    let bucket = |t: f64| (t / width).ceil();
    match buckets.back_mut() {
        Some(last) if bucket(last.t) == bucket(point.t) => merge(last, &point),
        _ => buckets.push_back(point),
    }
}

/// `a` becomes the point covering both `a` and the later `b`.
fn merge(a: &mut TimePoint, b: &TimePoint) {
    let (sa, sb) = (a.seconds, b.seconds);
    let total = (sa + sb).max(1e-9);
    let mean = |x: f64, y: f64| (x * sa + y * sb) / total;
    a.requests_per_s = mean(a.requests_per_s, b.requests_per_s);
    a.failures_per_s = mean(a.failures_per_s, b.failures_per_s);
    a.p50_ms = mean(a.p50_ms as f64, b.p50_ms as f64).round() as u64;
    a.p95_ms = a.p95_ms.max(b.p95_ms);
    a.p99_ms = a.p99_ms.max(b.p99_ms);
    // As p99: the highest part, and none only where no part had one.
    a.p99_intended_ms = a.p99_intended_ms.max(b.p99_intended_ms);
    for (x, &y) in a.actual_users.iter_mut().zip(&b.actual_users) {
        *x = mean(f64::from(*x), f64::from(y)).round() as u32;
    }
    if a.actual_users.len() < b.actual_users.len() {
        a.actual_users
            .extend_from_slice(&b.actual_users[a.actual_users.len()..]);
    }
    a.target_users = b.target_users.clone();
    a.phase_index = b.phase_index;
    a.loop_index = b.loop_index;
    a.t = b.t;
    a.seconds = sa + sb;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: f64, rps: f64) -> TimePoint {
        TimePoint {
            t,
            seconds: 0.5,
            phase_index: 0,
            loop_index: 0,
            target_users: vec![10],
            actual_users: vec![10],
            requests_per_s: rps,
            failures_per_s: 0.0,
            p50_ms: 5,
            p95_ms: if (t as u64).is_multiple_of(1000) {
                900
            } else {
                20
            },
            p99_ms: 30,
            p99_intended_ms: (t as u64).is_multiple_of(2000).then_some(4000),
        }
    }

    #[test]
    fn a_merged_point_keeps_the_highest_intended_p99_and_none_only_from_none() {
        let mut a = point(1.0, 1.0);
        a.p99_intended_ms = None;
        let mut b = point(1.5, 1.0);
        b.p99_intended_ms = Some(700);
        merge(&mut a, &b);
        assert_eq!(a.p99_intended_ms, Some(700));
        let mut c = point(2.0, 1.0);
        c.p99_intended_ms = Some(300);
        merge(&mut a, &c);
        assert_eq!(a.p99_intended_ms, Some(700));
        let (mut x, mut y) = (point(3.0, 1.0), point(3.5, 1.0));
        (x.p99_intended_ms, y.p99_intended_ms) = (None, None);
        merge(&mut x, &y);
        assert_eq!(x.p99_intended_ms, None);
    }

    #[test]
    fn a_simulated_week_stays_small_and_its_requests_exact() {
        let mut series = Series::default();
        let mut requests = 0.0;
        let week = 7 * 86_400 * 2; // a sample every 0.5 s
        for i in 1..=week {
            let rps = f64::from(i % 7);
            requests += rps * 0.5;
            series.push(point(f64::from(i) * 0.5, rps));
        }
        // 7,200 recent + 1,440 minutes + 144 a day beyond (6 days).
        assert!(
            series.len() < 7_200 + 1_441 + 6 * 144 + 5,
            "{} points",
            series.len()
        );
        let counted: f64 = series.points().map(|p| p.requests_per_s * p.seconds).sum();
        assert!(
            (counted - requests).abs() < 1e-3 * requests,
            "{counted} vs {requests}"
        );
        let span: f64 = series.points().map(|p| p.seconds).sum();
        assert!((span - week as f64 * 0.5).abs() < 1.0, "{span}");
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
