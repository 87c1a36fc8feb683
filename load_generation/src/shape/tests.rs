//! The pipeline from a series to a load.pbtxt, judged by reading the file back
//! with the parser `loadgen check` uses.

use super::time::{parse, utc};
use super::*;

fn hourly(values: &[&[f64]], types: &[&str]) -> Read {
    Read {
        description: "test.csv".into(),
        series: Series {
            start: parse("2025-11-24 00:00:00", utc()).unwrap(),
            step: 3600.0,
            types: types.iter().map(|t| t.to_string()).collect(),
            counts: values
                .iter()
                .map(|row| row.iter().map(|v| v * 3600.0).collect())
                .collect(),
        },
        notes: vec!["a note".into()],
    }
}

fn options(timing: Timing, level: Level, tolerance: Tolerance) -> ShapeOptions {
    ShapeOptions {
        from: None,
        to: None,
        timing,
        level,
        tolerance,
    }
}

/// (name, duration, rate, ramp, [(type, ratio)]) of a phase, read back.
type ReadBack = (String, u64, f64, u64, Vec<(String, u32)>);

fn phases(text: &str) -> Vec<ReadBack> {
    let loaded = crate::config::parse(SourceText::new("x", text.to_string())).unwrap();
    loaded
        .config
        .phases
        .iter()
        .map(|p| {
            let rate = p.rate.as_ref().unwrap();
            (
                p.name.clone().unwrap_or_default(),
                p.duration.as_secs(),
                rate.per_s,
                rate.ramp.as_secs(),
                p.user_types
                    .iter()
                    .map(|u| (u.name.as_str().to_string(), u.ratio))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn a_day_becomes_a_minute_scaled_to_its_peak_with_named_phases() {
    let values: Vec<Vec<f64>> = (0..24)
        .map(|h| vec![if (9..17).contains(&h) { 100.0 } else { 10.0 }])
        .collect();
    let rows: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
    let shaped = shape(
        hourly(&rows, &["Normal"]),
        &options(
            Timing::Duration(60.0),
            Level::Peak(50.0),
            Tolerance::OfPeak(0.05),
        ),
    )
    .unwrap();
    assert_eq!(shaped.duration_s, 60);
    assert_eq!(shaped.peak, 50.0);
    let p = phases(&shaped.text);
    assert_eq!(p.iter().map(|p| p.1).sum::<u64>(), 60);
    // The first two phases begin in one hour: minutes tell them apart.
    assert_eq!(p[0].0, "mon-24-nov-00h00");
    assert_eq!(p[0].2, 5.0);
    assert!(p.iter().any(|p| p.2 == 50.0), "{p:?}");
    assert!(shaped.phases <= 6, "two plateaus and two jumps: {p:?}");
    assert!(shaped
        .text
        .starts_with("# Shaped by `loadgen shape` from test.csv.\n"));
    assert!(
        shaped
            .text
            .contains("(1440x the speed it happened at); rate x0.5 (highest point 50/s)"),
        "{}",
        shaped.text
    );
    assert!(shaped.text.contains("# Note: a note\n"));
    assert!(shaped.largest_error <= shaped.tolerance + 1e-9);
}

#[test]
fn each_phase_carries_each_types_share_of_its_stretch() {
    let rows: Vec<&[f64]> = vec![&[30.0, 10.0], &[30.0, 10.0], &[10.0, 30.0], &[10.0, 30.0]];
    let shaped = shape(
        hourly(&rows, &["Browse", "Cart"]),
        &options(
            Timing::Speed(360.0),
            Level::Factor(1.0),
            Tolerance::Absolute(1.0),
        ),
    )
    .unwrap();
    let p = phases(&shaped.text);
    assert_eq!(shaped.duration_s, 40);
    assert_eq!(
        p[0].4,
        vec![("Browse".to_string(), 750), ("Cart".to_string(), 250)]
    );
    assert_eq!(
        p.last().unwrap().4,
        vec![("Browse".to_string(), 250), ("Cart".to_string(), 750)]
    );
    assert!(p.iter().all(|p| p.2 == 40.0));
    // Flat at 40/s: only the mix moves, in a ramp between the two plateaus.
    assert_eq!(p.iter().filter(|p| p.3 > 0).count(), 1, "{p:?}");
}

#[test]
fn a_ramp_is_played_as_a_line_and_the_plan_counts_it() {
    let values: Vec<Vec<f64>> = (0..11).map(|h| vec![h as f64 * 10.0]).collect();
    let rows: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
    let shaped = shape(
        hourly(&rows, &["Normal"]),
        &options(
            Timing::Duration(110.0),
            Level::Factor(1.0),
            Tolerance::OfPeak(0.05),
        ),
    )
    .unwrap();
    let p = phases(&shaped.text);
    let ramps: Vec<_> = p.iter().filter(|p| p.3 > 0).collect();
    assert!(
        !ramps.is_empty() && ramps.iter().all(|p| p.3 == p.1),
        "{p:?}"
    );
    // A staircase of 10/s steps an hour long, followed within 5/s by lines.
    let source: f64 = (0..11).map(|h| h as f64 * 10.0 * 10.0).sum();
    assert!(
        (shaped.planned_requests - source).abs() / source < 0.05,
        "{} vs {source}",
        shaped.planned_requests
    );
}

#[test]
fn names_in_one_hour_get_minutes_then_numbers() {
    let values: Vec<Vec<f64>> = (0..4).map(|h| vec![[1.0, 50.0, 1.0, 50.0][h]]).collect();
    let rows: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
    // Four hours in 8 s, with 1 s points: each point is half an hour.
    let shaped = shape(
        hourly(&rows, &["Normal"]),
        &options(
            Timing::Duration(8.0),
            Level::Factor(1.0),
            Tolerance::Absolute(0.5),
        ),
    )
    .unwrap();
    let names: Vec<String> = phases(&shaped.text).into_iter().map(|p| p.0).collect();
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(names.iter().any(|n| n.contains("h30")), "{names:?}");
}

#[test]
fn a_window_picks_the_stretch_and_nothing_outside_it_counts() {
    let values: Vec<Vec<f64>> = (0..24).map(|h| vec![h as f64 + 1.0]).collect();
    let rows: Vec<&[f64]> = values.iter().map(Vec::as_slice).collect();
    let mut o = options(
        Timing::Speed(3600.0),
        Level::Factor(1.0),
        Tolerance::Absolute(0.01),
    );
    o.from = parse("2025-11-24 10:00:00", utc());
    o.to = parse("2025-11-24 12:00:00", utc());
    let shaped = shape(hourly(&rows, &["Normal"]), &o).unwrap();
    assert_eq!(shaped.duration_s, 2);
    let p = phases(&shaped.text);
    assert_eq!(p[0].0, "mon-24-nov-10h");
    // Each point is the mean over a second around it: 10:30 to 11:30.
    assert_eq!(p[0].2, 11.5);
}

#[test]
fn what_cannot_be_shaped_is_said() {
    let rows: Vec<&[f64]> = vec![&[0.0], &[0.0]];
    let err = |read: Read, o: ShapeOptions| shape(read, &o).unwrap_err();
    assert!(err(
        hourly(&rows, &["A"]),
        options(
            Timing::Duration(60.0),
            Level::Peak(10.0),
            Tolerance::OfPeak(0.05)
        )
    )
    .contains("no traffic at all"));
    let rows: Vec<&[f64]> = vec![&[1.0], &[2.0]];
    assert!(err(
        hourly(&rows, &["A"]),
        options(
            Timing::Duration(1.0),
            Level::Peak(10.0),
            Tolerance::OfPeak(0.05)
        )
    )
    .contains("at least 2 s"));
    let mut o = options(
        Timing::Duration(60.0),
        Level::Peak(10.0),
        Tolerance::OfPeak(0.05),
    );
    o.from = parse("2025-11-24 02:00:00", utc());
    o.to = parse("2025-11-24 01:00:00", utc());
    assert!(err(hourly(&rows, &["A"]), o).contains("the window is empty"));
}

#[test]
fn labels_become_distinct_python_names() {
    assert_eq!(
        type_names(&["/api/cart", "/", "product page", "2fa", "class", "api-cart"]),
        vec![
            "ApiCart",
            "Root",
            "ProductPage",
            "T2fa",
            "Class",
            "ApiCart2"
        ]
    );
}
