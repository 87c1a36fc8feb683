//! Histograms, and samples recorded into phase occurrences.

use super::*;
use crate::locust::protocol::RequestDelta;

/// A sample of `requests` to `GET /` of 10 ms each by 10 users of type A,
/// with the requests' latencies from their intended start (`intended`, empty
/// for a phase of users) and `dropped` iterations of A: the rate tests' sample.
pub(crate) fn sample_of_a(requests: u64, intended: Vec<(u64, i64)>, dropped: u64) -> Sample {
    Sample {
        users: [("AUser".to_string(), 10)].into_iter().collect(),
        stats: vec![RequestDelta {
            method: "GET".into(),
            name: "/".into(),
            requests,
            failures: 0,
            total_ms: 10.0 * requests as f64,
            histogram: vec![(10, requests as i64)],
            intended_histogram: intended,
        }],
        dropped: [("AUser".to_string(), dropped)]
            .into_iter()
            .filter(|_| dropped > 0)
            .collect(),
        ..Sample::default()
    }
}

#[test]
fn percentiles_follow_locust() {
    let mut h = Histogram::default();
    for ms in 1..=100 {
        h.add(ms, 1);
    }
    assert_eq!(h.percentile(0.5), 50);
    assert_eq!(h.percentile(0.95), 95);
    assert_eq!(h.percentile(1.0), 100);
    assert_eq!(h.max(), 100);
    assert_eq!(Histogram::default().percentile(0.5), 0);
}

#[test]
fn samples_go_to_the_running_phase() {
    let plan = crate::plan::tests::hipster_plan();
    let mut r = Recorder::new(&plan, 0.0);
    r.phase_started(0, 0, 0.0, plan.targets(0), plan.paces(0));
    let sample = |n: u64| Sample {
        users: [("NormalUser".to_string(), 100)].into_iter().collect(),
        stats: vec![RequestDelta {
            method: "GET".into(),
            name: "/".into(),
            requests: n,
            failures: 1,
            total_ms: 10.0 * n as f64,
            histogram: vec![(10, n as i64)],
            intended_histogram: vec![],
        }],
        ..Sample::default()
    };
    let offered = |n: u64| Tally::interval(&[100.0], 1.0, n, 10.0 * n as f64, n, true);
    r.sample(&sample(5), 1.0, true, &offered(5));
    r.sample(&sample(7), 2.0, true, &offered(7));
    r.phase_started(1, 0, 50.0, plan.targets(1), plan.paces(1));
    r.sample(&sample(3), 51.0, false, &offered(3));
    r.finish(60.0, Ended::Completed, None);
    let rec = r.record();
    assert_eq!(rec.phases[0].counted.total.requests, 12);
    assert_eq!(rec.phases[0].end_s, 50.0);
    assert_eq!(rec.phases[0].actual_users_plateau[0], 100.0);
    assert_eq!(rec.phases[1].counted.total.requests, 3);
    assert_eq!(rec.phases[0].delivery.user_seconds, vec![200.0]);
    assert_eq!(rec.phases[0].delivery.iterations, 12);
    assert_eq!(rec.phases[1].actual_users_plateau[0], 0.0);
    assert_eq!(rec.total().requests, 15);
    assert_eq!(rec.totals().total.failures, 3);
    assert_eq!(rec.series.len(), 3);
    assert_eq!(rec.series.points().nth(1).unwrap().requests_per_s(), 7.0);
}

#[test]
fn a_rate_occurrence_keeps_its_intended_latencies_and_drops() {
    let plan = crate::plan::tests::rate_plan();
    let mut r = Recorder::new(&plan, 0.0);
    let sample = |intended: Vec<(u64, i64)>, dropped: u64| sample_of_a(4, intended, dropped);
    let offered = Tally::interval(&[10.0], 1.0, 4, 40.0, 4, true);
    r.phase_started(0, 0, 0.0, plan.targets(0), plan.paces(0));
    r.sample(&sample(vec![], 0), 1.0, true, &offered);
    r.phase_started(1, 0, 10.0, plan.targets(1), plan.paces(1));
    r.sample(&sample(vec![(10, 3), (1500, 1)], 2), 11.0, true, &offered);
    r.sample(&sample(vec![(20, 4)], 1), 12.0, true, &offered);
    let rec = r.record();
    // The users' occurrence: no latency from an intended start, no drop, and
    // its iterations are no rate's.
    assert_eq!(rec.phases[0].counted.total.intended.count(), 0);
    assert_eq!(
        (
            rec.phases[0].counted.dropped,
            rec.phases[0].counted.rate_iterations
        ),
        (0, 0)
    );
    let open = &rec.phases[1];
    let open = &open.counted;
    assert_eq!(open.total.intended.count(), 8);
    assert_eq!(open.requests.values().next().unwrap().intended.max(), 1500);
    assert_eq!((open.dropped, open.rate_iterations), (3, 8));
    assert_eq!(rec.dropped(), (3, 8));
    // Each interval's p99 from the intended start, where it had one.
    let p99s: Vec<_> = rec.series.points().map(|p| p.p99_intended_ms).collect();
    assert_eq!(p99s, [None, Some(1500), Some(20)]);
    // Folded, the occurrence keeps them.
    r.phase_started(0, 1, 20.0, plan.targets(0), plan.paces(0));
    r.fold(1, 2);
    assert_eq!(r.record().dropped(), (3, 8));
    assert_eq!(r.record().folded[1].counted.total.intended.count(), 8);
}

/// Issue 33: samples a control action closed 1, 3 or 10 ms after the last.
/// Their requests count; no rate is stated over their few ms: the series
/// point joins the next (or, at the end, the last), and an occurrence that
/// short states no rate and no delivered share.
#[test]
fn spans_of_a_few_ms_state_no_rate() {
    for ms in [1.0, 3.0, 10.0] {
        let plan = crate::plan::tests::rate_plan();
        let mut r = Recorder::new(&plan, 0.0);
        let tally = |seconds: f64, requests: u64| {
            crate::stats::delivery::Tally::interval(&[10.0], seconds, requests, 0.0, requests, true)
        };
        r.phase_started(0, 0, 0.0, plan.targets(0), plan.paces(0));
        r.sample(&sample_of_a(50, vec![], 0), 0.5, true, &tally(0.5, 50));
        r.sample(&sample_of_a(50, vec![], 0), 1.0, true, &tally(0.5, 50));
        // A scale: the occurrence ends, the next begins and ends `ms` later.
        let t = 1.0 + ms / 1000.0;
        r.sample(&sample_of_a(2, vec![], 0), t, true, &tally(ms / 1000.0, 2));
        r.phase_started(0, 0, 1.0, plan.targets(0), plan.paces(0));
        r.phase_started(0, 0, t, plan.targets(0), plan.paces(0));
        let short = r.record().occurrence(1).expect("kept");
        assert!(short.too_short(), "{ms} ms");
        assert_eq!(short.delivery(), None, "{ms} ms");
        assert_eq!(
            short.counted.total.figures(short.seconds()).requests_per_s,
            None
        );
        let long = r.record().occurrence(0).expect("kept");
        assert_eq!(
            long.counted.total.figures(long.seconds()).requests_per_s,
            Some(102.0)
        );
        // The series: two points of 0.5 s, then the short sample waits...
        let points: Vec<(f64, f64)> = r
            .record()
            .series
            .points()
            .map(|p| (p.seconds(), p.requests_per_s()))
            .collect();
        assert_eq!(points, [(0.5, 100.0), (0.5, 100.0)], "{ms} ms");
        // ...and joins the next point, over its whole span.
        r.sample(
            &sample_of_a(50, vec![], 0),
            1.5,
            true,
            &tally(0.5 - ms / 1000.0, 50),
        );
        let last = r.record().series.points().last().expect("a point").clone();
        assert!(
            (last.seconds() - 0.5).abs() < 1e-6 && (last.requests_per_s() - 104.0).abs() < 1e-3,
            "{ms} ms: {last:?}"
        );
        // At the end, a short tail joins the last point instead of standing alone.
        r.sample(
            &sample_of_a(1, vec![], 0),
            1.5 + ms / 1000.0,
            true,
            &tally(ms / 1000.0, 1),
        );
        r.finish(1.5 + ms / 1000.0, Ended::Completed, None);
        let points: Vec<&Interval> = r.record().series.points().collect();
        assert_eq!(points.len(), 3, "{ms} ms");
        assert!(
            points
                .iter()
                .all(|p| p.seconds() >= 0.25 && p.requests_per_s() < 110.0),
            "{ms} ms: {points:?}"
        );
    }
}

/// What one point of the time series costs in memory, from the allocator's
/// side: a recorder takes an hour of samples (7,200 at 0.5 s, all kept at full
/// resolution) for the hipster plan's three user types. The bytes asked of
/// the allocator, the deque's spare capacity included: 179 a point when points
/// held rates, 64-bit latencies and their own copy of the target users; 121
/// since (glibc adds about 20 of its own for the users' box), so an hour at
/// full resolution is about 1 MB.
#[test]
fn a_series_point_is_compact() {
    let plan = crate::plan::tests::hipster_plan();
    let mut r = Recorder::new(&plan, 0.0);
    r.phase_started(0, 0, 0.0, plan.targets(0), plan.paces(0));
    let sample = Sample {
        users: plan.user_classes().into_iter().map(|c| (c, 10)).collect(),
        stats: vec![RequestDelta {
            method: "GET".into(),
            name: "/".into(),
            requests: 100,
            failures: 1,
            total_ms: 1000.0,
            histogram: (1..40).map(|ms| (ms, 2)).collect(),
            intended_histogram: vec![],
        }],
        ..Sample::default()
    };
    let offered = Tally::interval(&[100.0], 0.5, 100, 1000.0, 100, true);
    r.sample(&sample, 0.5, true, &offered);
    let before = crate::heap::live_bytes();
    let points = 7_200;
    for i in 2..=points + 1 {
        r.sample(&sample, f64::from(i) * 0.5, true, &offered);
    }
    let per_point = (crate::heap::live_bytes() - before) as f64 / f64::from(points);
    eprintln!("{per_point:.0} bytes per point");
    assert_eq!(r.record().series.len(), points as usize + 1);
    assert!(per_point < 128.0, "{per_point:.0} bytes per point");
}
