//! Figures over spans of time that mean what they say.
//!
//! A reading over a few milliseconds is noise, not a measurement: `/proc`
//! counts CPU in 10 ms ticks, so one tick in a 3 ms sample reads as 333% busy,
//! and two responses in 3 ms read as 666 req/s. Samples come that short
//! whenever a control action, a reload or a boundary closes one just after
//! another. So every figure loadgen states over an interval is built here: from
//! readings weighed by how long each lasted (CPU seconds over wall seconds, not
//! a mean of ratios), and never stated from less time than it needs.

use std::collections::VecDeque;

/// The shortest span a request rate or a delivered share is stated over: an
/// occurrence shorter than this (a control action or a reload followed by
/// another) is kept with its counts but marked too short to measure.
pub const MIN_RATE_SPAN_S: f64 = 1.0;

/// The shortest span one CPU reading covers: a 10 ms tick is then at most 4%
/// of it, and the 2 s a saturation is judged over hold 8 such readings.
pub const MIN_CPU_SPAN_S: f64 = 0.25;

/// The shortest span one point of the time series covers: a shorter sample
/// is added to the next point rather than charted alone.
pub const MIN_POINT_SPAN_S: f64 = 0.25;

/// Slack for spans computed by subtraction (a 1 s phase measured as 0.999 999 s).
const EPSILON_S: f64 = 1e-6;

/// `count` per second over `seconds`, or `None` where `seconds` is shorter
/// than [`MIN_RATE_SPAN_S`]: too short to state a rate.
pub fn rate(count: f64, seconds: f64) -> Option<f64> {
    long_enough(seconds, MIN_RATE_SPAN_S).then(|| count / seconds)
}

/// Whether `seconds` covers `min` (within a microsecond).
pub fn long_enough(seconds: f64, min: f64) -> bool {
    seconds >= min - EPSILON_S
}

/// The most recent readings covering at least `span` seconds, each weighed by
/// the time it covered.
#[derive(Debug, Clone)]
pub struct Window<T> {
    span: f64,
    /// (seconds covered, reading), oldest first.
    parts: VecDeque<(f64, T)>,
}

impl<T> Window<T> {
    /// A window that judges over the last `span` seconds.
    pub fn new(span: f64) -> Window<T> {
        Window {
            span,
            parts: VecDeque::new(),
        }
    }

    /// Adds a reading that covered `seconds`; readings no longer needed to
    /// cover the span go. A reading of no time (or not a number) is ignored.
    pub fn push(&mut self, seconds: f64, reading: T) {
        if !(seconds > 0.0 && seconds.is_finite()) {
            return;
        }
        self.parts.push_back((seconds, reading));
        while let Some(&(oldest, _)) = self.parts.front() {
            if self.covered() - oldest >= self.span {
                self.parts.pop_front();
            } else {
                break;
            }
        }
    }

    /// Seconds the readings held cover.
    pub fn covered(&self) -> f64 {
        self.parts.iter().map(|(s, _)| s).sum()
    }

    /// The readings cover the whole span: what it says was measured over it.
    pub fn full(&self) -> bool {
        long_enough(self.covered(), self.span)
    }

    /// The time-weighted mean of `value` over the readings (`None` with none):
    /// for a share of time, the busy seconds over the wall seconds.
    pub fn mean(&self, value: impl Fn(&T) -> f64) -> Option<f64> {
        let covered = self.covered();
        (covered > 0.0).then(|| self.parts.iter().map(|(s, r)| s * value(r)).sum::<f64>() / covered)
    }

    /// The sum of `count` over the readings per second they cover, where they
    /// cover at least `min` seconds: a rate.
    pub fn per_second(&self, min: f64, count: impl Fn(&T) -> f64) -> Option<f64> {
        let covered = self.covered();
        long_enough(covered, min)
            .then(|| self.parts.iter().map(|(_, r)| count(r)).sum::<f64>() / covered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_weighs_each_reading_by_its_time() {
        // The case that said 335%: 0.5 s readings at 25%, then one 10 ms tick
        // in a 3 ms sample (333%). Weighed by time, it is one tick in 2 s.
        let mut w = Window::new(2.0);
        for _ in 0..3 {
            w.push(0.5, 25.0);
        }
        w.push(0.003, 333.3);
        assert!(!w.full(), "1.503 s of 2");
        w.push(0.5, 25.0);
        assert!(w.full());
        let mean = w.mean(|&x| x).expect("readings");
        assert!((mean - 25.0).abs() < 0.5, "{mean}");
        // A mean of ratios would have said (25 * 3 + 333) / 4 = 102%.
    }

    #[test]
    fn old_readings_go_once_newer_ones_cover_the_span() {
        let mut w = Window::new(2.0);
        for i in 0..10 {
            w.push(0.5, f64::from(i));
        }
        assert_eq!(w.parts.len(), 4);
        assert!((w.covered() - 2.0).abs() < 1e-9);
        assert_eq!(w.mean(|&x| x), Some(7.5));
        // A reading of no time changes nothing.
        w.push(0.0, 1e9);
        w.push(f64::NAN, 1e9);
        assert_eq!(w.mean(|&x| x), Some(7.5));
    }

    #[test]
    fn no_rate_is_stated_from_too_short_a_span() {
        for ms in [1.0, 3.0, 10.0] {
            let seconds = ms / 1000.0;
            assert_eq!(rate(2.0, seconds), None, "{ms} ms");
            let mut w = Window::new(1.0);
            w.push(seconds, 2.0);
            assert_eq!(w.per_second(0.25, |&n| n), None, "{ms} ms alone");
            // After half a second of 100 req/s, a short sample of 2 moves the
            // rate by its 2 requests over the whole span, not by 2/ms.
            let mut w = Window::new(1.0);
            w.push(0.5, 50.0);
            w.push(seconds, 2.0);
            let r = w.per_second(0.25, |&n| n).expect("0.5 s covered");
            assert!((100.0..105.0).contains(&r), "{ms} ms: {r}");
        }
        assert_eq!(rate(10.0, 1.0), Some(10.0));
        assert_eq!(rate(10.0, 0.999_999_5), Some(10.0 / 0.999_999_5));
    }
}
