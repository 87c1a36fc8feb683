//! A run's summary for the report's unit tests (the table, the CSV, the HTML
//! page): two phases and a bit, hostile request names, and a variant in which
//! a rate phase ran.

use std::collections::BTreeMap;

use super::summary::{
    CountedFigures, PhaseSummary, PlannedPhase, RequestSummary, Summary, TimePoint, Totals,
};
use crate::plan::Arrival;
use crate::stats::{Ended, ExceptionRecord, Figures, Intended, RunEvent};

pub(crate) fn figures(requests: u64, failures: u64, seconds: f64) -> Figures {
    Figures {
        requests,
        failures,
        requests_per_s: Some(requests as f64 / seconds),
        mean_ms: 12.5,
        p50_ms: 10,
        p90_ms: 20,
        p95_ms: 30,
        p99_ms: 50,
        max_ms: 120,
        intended: None,
    }
}

pub(crate) fn users(types: &[&str], counts: &[u32]) -> BTreeMap<String, u32> {
    types
        .iter()
        .map(|t| t.to_string())
        .zip(counts.iter().copied())
        .collect()
}

/// Two phases of 10 s, run for 25 s (so phase 1 of loop 2 too), sampled
/// every 0.5 s, with hostile request names and a failure message.
pub(crate) fn summary(with_series: bool) -> Summary {
    let types = ["AUser", "BUser"];
    let evil = RequestSummary {
        method: "GET".into(),
        name: "/search?q=<script>alert('x')</script>&next=https://evil.example/".into(),
        figures: figures(40, 2, 10.0),
    };
    let plain = RequestSummary {
        method: "POST".into(),
        name: "/cart".into(),
        figures: figures(60, 0, 10.0),
    };
    let occurrence = |phase: usize, loop_number: u64, start_s: f64, end_s: f64| {
        let target = if phase == 1 { [3, 0] } else { [2, 2] };
        PhaseSummary {
            index: phase - 1,
            phase,
            loop_number,
            start_s,
            end_s,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            ended_at: "2026-01-01T00:00:10.000Z".into(),
            target_users: users(&types, &target),
            actual_users_end: users(&types, &target),
            actual_users_plateau: types
                .iter()
                .map(|t| t.to_string())
                .zip(target.iter().map(|&n| f64::from(n)))
                .collect(),
            counted: CountedFigures {
                requests: vec![evil.clone(), plain.clone()],
                total: figures(100, 2, end_s - start_s),
                errors: [(
                    "GET /search: HTTPError('500 Server Error: <b>oops</b> for url: http://127.0.0.1/search')".to_string(),
                    2,
                )]
                .into_iter()
                .collect(),
                errors_count: 0,
                restarts: 0,
                dropped_iterations: 0,
            },
            name: None,
            saturated: false,
            delivery: None,
            short: false,
            too_short: false,
        }
    };
    let phases = vec![
        occurrence(1, 1, 0.0, 10.0),
        occurrence(2, 1, 10.0, 20.0),
        occurrence(1, 2, 20.0, 25.0),
    ];
    let series = if with_series {
        (1..=50)
            .map(|i| {
                let t = i as f64 * 0.5;
                let (phase_index, loop_index) = match t {
                    t if t <= 10.0 => (0, 0),
                    t if t <= 20.0 => (1, 0),
                    _ => (0, 1),
                };
                let target = if phase_index == 0 {
                    vec![3, 0]
                } else {
                    vec![2, 2]
                };
                TimePoint {
                    t,
                    seconds: 0.5,
                    phase_index,
                    loop_index,
                    target_users: target.clone(),
                    actual_users: target,
                    requests_per_s: 10.0,
                    failures_per_s: if i % 10 == 0 { 2.0 } else { 0.0 },
                    p50_ms: 10,
                    p95_ms: 30,
                    p99_ms: 50,
                    p99_intended_ms: None,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    Summary {
        run_id: Some("5f0c2a9e41d7b3c8".into()),
        schema_version: 1,
        started_at: "2026-01-01T00:00:00.000Z".into(),
        duration_s: 25.0,
        ended: Ended::Completed,
        ended_reason: None,
        restarts: 0,
        user_types: types.iter().map(|t| t.to_string()).collect(),
        plan: vec![
            PlannedPhase {
                phase: 1,
                duration_s: 10.0,
                hatch_rate_per_s: 10,
                users: users(&types, &[3, 0]),
                requests_per_s: None,
                arrival: None,
                rate_ramp_s: None,
            },
            PlannedPhase {
                phase: 2,
                duration_s: 10.0,
                hatch_rate_per_s: 10,
                users: users(&types, &[2, 2]),
                requests_per_s: None,
                arrival: None,
                rate_ramp_s: None,
            },
        ],
        phases,
        total: Totals {
            counted: CountedFigures {
                requests: vec![evil, plain],
                total: figures(250, 5, 25.0),
                errors: BTreeMap::new(),
                errors_count: 0,
                restarts: 0,
                dropped_iterations: 0,
            },
            delivery: None,
        },
        exceptions: vec![ExceptionRecord {
            message: "ValueError: <bad> & \"worse\"".into(),
            traceback: "Traceback (most recent call last):\n  File \"locustfile.py\", line 9\nValueError: <bad>".into(),
            count: 3,
        }],
        series,
        events: vec![RunEvent {
            at_s: 12.5,
            kind: "scale".into(),
            detail: "control: every phase's users scaled by 1.5 <b>".into(),
        }],
        events_dropped: 0,
        thresholds: Vec::new(),
        occurrences_folded: 0,
        folded: Vec::new(),
    }
}

/// Latencies from the intended start, a little above the response times.
pub(crate) fn intended(requests: u64) -> Intended {
    Intended {
        requests,
        p50_ms: 15,
        p90_ms: 300,
        p95_ms: 800,
        p99_ms: 1900,
        max_ms: 2400,
    }
}

/// [`summary`] in which phase 2 is a rate phase (40 iterations/s, Poisson):
/// its occurrence, its requests and the whole run measured from the intended
/// start, 7 iterations dropped, and a sample interval with its p99.
pub(crate) fn rate_summary() -> Summary {
    let mut s = summary(true);
    s.plan[1].requests_per_s = Some(40.0);
    s.plan[1].arrival = Some(Arrival::Poisson);
    let p = &mut s.phases[1].counted;
    p.dropped_iterations = 7;
    p.total.intended = Some(intended(100));
    for r in &mut p.requests {
        r.figures.intended = Some(intended(r.figures.requests));
    }
    let run = &mut s.total.counted;
    run.total.intended = Some(intended(100));
    run.requests[0].figures.intended = Some(intended(40));
    run.dropped_iterations = 7;
    for point in s.series.iter_mut().filter(|p| p.phase_index == 1) {
        point.p99_intended_ms = Some(1900);
    }
    s
}
