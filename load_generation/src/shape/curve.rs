//! Traffic from a few numbers, when nothing was recorded: a daily cycle, a
//! weekend that is busier (or quieter), holidays with a factor of their own.
//! The seed's "quiet weekday, weekend rush, holiday spike" in one command.
//!
//! A weekday's peak is 1.0 (scale it with `--peak` or `--scale`). The daily
//! cycle is a cosine: `trough` at the quietest moment, 1.0 at `peak_hour`.
//! Traffic a weekend or a holiday adds on top of a weekday's is its own user
//! type (by default `Weekend` and `Holiday`, as the hipster shop's template
//! has them), so the extra shoppers can behave differently.

use chrono::{Datelike, NaiveDate, TimeZone, Weekday};

use super::series::Series;
use super::time::Stamp;
use super::Read;

#[derive(Debug, Clone)]
pub struct CurveOptions {
    /// Local midnight the curve starts at, and its offset.
    pub start: Stamp,
    pub days: f64,
    /// Seconds per point.
    pub step: f64,
    /// The quietest moment of a day, as a share of its peak (0 to 1).
    pub trough: f64,
    /// The local hour of the daily peak (0 to 24).
    pub peak_hour: f64,
    /// Seconds of one cycle (a day), its first peak at `peak_hour` of the
    /// first day.
    pub period: f64,
    /// Saturday's and Sunday's traffic against a weekday's.
    pub weekend: f64,
    /// `(date, factor)`: a day's traffic against a weekday's.
    pub holidays: Vec<(NaiveDate, f64)>,
    pub base_type: String,
    pub weekend_type: String,
    pub holiday_type: String,
}

pub fn generate(options: &CurveOptions) -> Result<Read, String> {
    if !(options.days > 0.0 && options.days <= 366.0) {
        return Err(format!(
            "--days is {}; a curve covers more than 0 and at most 366 days",
            options.days
        ));
    }
    if !(0.0..=1.0).contains(&options.trough) {
        return Err(format!(
            "--trough is {}; it is the quietest moment as a share of the peak, from 0 to 1",
            options.trough
        ));
    }
    if !(0.0..24.0).contains(&options.peak_hour) {
        return Err(format!(
            "--peak-hour is {}; an hour of the day, from 0 to 24 (14.5 is 14:30)",
            options.peak_hour
        ));
    }
    if options.period.is_nan() || options.period < 3600.0 {
        return Err(format!(
            "--period is {} s; a cycle lasts an hour or more (24h: a day)",
            options.period
        ));
    }
    if options.weekend < 0.0 || options.holidays.iter().any(|(_, f)| *f < 0.0) {
        return Err(
            "a weekend or holiday factor is a number, 0 or more (1: like a weekday)".to_string(),
        );
    }
    let points = (options.days * 86_400.0 / options.step).round().max(2.0) as usize;
    let mut types = vec![options.base_type.clone()];
    for t in [&options.weekend_type, &options.holiday_type] {
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    let index = |name: &String| types.iter().position(|t| t == name).unwrap_or(0);
    let (weekend_at, holiday_at) = (index(&options.weekend_type), index(&options.holiday_type));
    let mut used = vec![false; types.len()];
    used[0] = true;
    let counts = (0..points)
        .map(|i| {
            let t = options.start.plus((i as f64 + 0.5) * options.step);
            let local = options
                .start
                .offset
                .timestamp_opt(t.secs.floor() as i64, 0)
                .single()
                .unwrap_or_default();
            // From the start, a local midnight: the cycle's phase.
            let since_midnight = t.secs - options.start.secs;
            let angle = std::f64::consts::TAU * (since_midnight - options.peak_hour * 3600.0)
                / options.period;
            let weekday = options.trough + (1.0 - options.trough) * (1.0 + angle.cos()) / 2.0;
            let date = local.date_naive();
            let (factor, extra_type) = match options.holidays.iter().find(|(d, _)| *d == date) {
                Some((_, f)) => (*f, holiday_at),
                None if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) => {
                    (options.weekend, weekend_at)
                }
                None => (1.0, 0),
            };
            let mut row = vec![0.0; types.len()];
            let total = weekday * factor * options.step;
            if factor > 1.0 {
                row[0] += weekday * options.step;
                row[extra_type] += total - weekday * options.step;
                used[extra_type] = true;
            } else {
                row[0] += total;
            }
            row
        })
        .collect::<Vec<_>>();
    // Types no day used are left out of the load.
    let keep: Vec<usize> = (0..types.len()).filter(|&t| used[t]).collect();
    let series = Series {
        start: options.start,
        step: options.step,
        types: keep.iter().map(|&t| types[t].clone()).collect(),
        counts: counts
            .into_iter()
            .map(|row| keep.iter().map(|&t| row[t]).collect())
            .collect(),
    };
    let holidays = options
        .holidays
        .iter()
        .map(|(d, f)| format!("{d} x{f}"))
        .collect::<Vec<_>>();
    Ok(Read {
        description: format!(
            "a curve of {} day{} (a cycle every {} from a trough of {:.0}% to its peak at {:02}:{:02} local, weekend x{}{}{})",
            options.days,
            if options.days == 1.0 { "" } else { "s" },
            crate::fmt::duration(options.period),
            options.trough * 100.0,
            options.peak_hour as u32,
            (options.peak_hour.fract() * 60.0).round() as u32,
            options.weekend,
            if holidays.is_empty() { "" } else { ", holidays " },
            holidays.join(", ")
        ),
        series,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::time::{parse, utc};

    fn options() -> CurveOptions {
        CurveOptions {
            start: parse("2025-11-24 00:00:00", utc()).unwrap(), // a Monday
            days: 7.0,
            step: 3600.0,
            trough: 0.2,
            peak_hour: 14.0,
            period: 86_400.0,
            weekend: 1.5,
            holidays: vec![(NaiveDate::from_ymd_opt(2025, 11, 27).unwrap(), 3.0)],
            base_type: "Normal".into(),
            weekend_type: "Weekend".into(),
            holiday_type: "Holiday".into(),
        }
    }

    fn rate(read: &Read, hour: usize) -> f64 {
        read.series.counts[hour].iter().sum::<f64>() / 3600.0
    }

    #[test]
    fn a_week_with_its_cycle_its_weekend_and_its_holiday() {
        let r = generate(&options()).unwrap();
        assert_eq!(r.series.counts.len(), 168);
        assert_eq!(r.series.types, vec!["Normal", "Weekend", "Holiday"]);
        // Monday: near 1.0 at 14:00-15:00, near the trough at 02:00-03:00.
        assert!(
            rate(&r, 14) > 0.98 && rate(&r, 14) <= 1.0,
            "{}",
            rate(&r, 14)
        );
        assert!(rate(&r, 2) < 0.22, "{}", rate(&r, 2));
        // Thursday the 27th is the holiday (x3), Saturday the weekend (x1.5).
        assert!((rate(&r, 3 * 24 + 14) / rate(&r, 14) - 3.0).abs() < 1e-9);
        assert!((rate(&r, 5 * 24 + 14) / rate(&r, 14) - 1.5).abs() < 1e-9);
        let saturday = &r.series.counts[5 * 24 + 14];
        assert!(
            (saturday[1] / saturday[0] - 0.5).abs() < 1e-9,
            "the weekend's extra is its own type"
        );
        assert_eq!(r.series.counts[14][1..], [0.0, 0.0]);
    }

    #[test]
    fn a_cycle_of_twelve_hours_peaks_twice_a_day() {
        let mut o = options();
        o.period = 12.0 * 3600.0;
        let r = generate(&o).unwrap();
        assert!(
            rate(&r, 14) > 0.98 && rate(&r, 2) > 0.98,
            "{} {}",
            rate(&r, 14),
            rate(&r, 2)
        );
        assert!(rate(&r, 8) < 0.22);
    }

    #[test]
    fn a_quieter_weekend_and_no_holiday_use_one_type() {
        let mut o = options();
        o.weekend = 0.5;
        o.holidays.clear();
        let r = generate(&o).unwrap();
        assert_eq!(r.series.types, vec!["Normal"]);
        assert!((rate(&r, 6 * 24 + 14) / rate(&r, 14) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_their_meaning() {
        let mut o = options();
        o.trough = 1.5;
        assert!(generate(&o).unwrap_err().contains("from 0 to 1"));
        let mut o = options();
        o.peak_hour = 24.0;
        assert!(generate(&o).unwrap_err().contains("an hour of the day"));
        let mut o = options();
        o.days = 0.0;
        assert!(generate(&o).unwrap_err().contains("--days is 0"));
        let mut o = options();
        o.period = 60.0;
        assert!(generate(&o).unwrap_err().contains("an hour or more"));
    }
}
