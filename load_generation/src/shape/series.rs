//! Recorded traffic as one type, whatever it was read from: requests per
//! interval of a regular grid, per user type.
//!
//! Every reader (CSV, Prometheus, access logs, curves) ends here, so what
//! comes after (the window, the compression, the fit) is written once. A value
//! covers the interval that starts at its timestamp, as load balancers'
//! exports count them.

use super::time::Stamp;

/// Requests counted per interval of `step` seconds from `start`, per type.
#[derive(Debug, Clone)]
pub struct Series {
    pub start: Stamp,
    /// Seconds per interval.
    pub step: f64,
    pub types: Vec<String>,
    /// `counts[interval][type]`: requests in that interval (fractional when
    /// they came from rates).
    pub counts: Vec<Vec<f64>>,
}

/// Whether a series' values are counts per interval or rates per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    Count,
    Rate,
}

/// What an interval with no value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gaps {
    /// Missing data: the values on either side joined by a line.
    Bridge,
    /// No traffic.
    Zero,
}

/// One row of a series as read: when, where in the file (for messages), and
/// a value per type (`None`: no value, a gap for that type).
#[derive(Debug, Clone)]
pub struct Point {
    pub at: Stamp,
    pub place: String,
    pub values: Vec<Option<f64>>,
}

impl Series {
    /// Source seconds covered, from `start`.
    pub fn span(&self) -> f64 {
        self.step * self.counts.len() as f64
    }

    pub fn end(&self) -> f64 {
        self.start.secs + self.span()
    }

    /// Requests per type between two source times (seconds since the epoch),
    /// each interval's requests spread evenly over it.
    pub fn requests_between(&self, from: f64, to: f64) -> Vec<f64> {
        let mut out = vec![0.0; self.types.len()];
        if to <= from || self.counts.is_empty() {
            return out;
        }
        let first = ((from - self.start.secs) / self.step).floor().max(0.0) as usize;
        for (i, row) in self.counts.iter().enumerate().skip(first) {
            let a = self.start.secs + i as f64 * self.step;
            let b = a + self.step;
            if a >= to {
                break;
            }
            let covered = (b.min(to) - a.max(from)).max(0.0) / self.step;
            for (sum, n) in out.iter_mut().zip(row) {
                *sum += n * covered;
            }
        }
        out
    }

    /// The series as CSV: each interval's start, then its requests per type
    /// (what a reader counted, for a person to check or plot).
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(std::iter::once("start").chain(self.types.iter().map(String::as_str)))?;
        for (i, row) in self.counts.iter().enumerate() {
            let mut record = vec![self.start.plus(i as f64 * self.step).rfc3339()];
            record.extend(
                row.iter()
                    .map(|n| format!("{}", (n * 1000.0).round() / 1000.0)),
            );
            out.write_record(&record)?;
        }
        let bytes = out
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// A regular series from rows at (roughly) regular times: the interval is
    /// the rows' most common spacing (the median), each row goes to the
    /// interval nearest its time, and intervals without a row are gaps,
    /// filled as `gaps` says. Errors name the row.
    pub fn from_points(
        mut points: Vec<Point>,
        types: Vec<String>,
        values: Values,
        gaps: Gaps,
        notes: &mut Vec<String>,
    ) -> Result<Series, String> {
        if points.len() < 2 {
            return Err(format!(
                "{} a series needs at least two points to have a shape",
                match points.len() {
                    0 => "no data point was found:".to_string(),
                    _ => format!("only one data point ({}):", points[0].place),
                }
            ));
        }
        if let Some(w) = points.windows(2).position(|w| w[1].at.secs < w[0].at.secs) {
            notes.push(format!(
                "rows out of time order (first at {}): sorted by time",
                points[w + 1].place
            ));
            points.sort_by(|a, b| a.at.secs.total_cmp(&b.at.secs));
        }
        if let Some(w) = points.windows(2).find(|w| w[1].at.secs == w[0].at.secs) {
            return Err(format!(
                "{} and {} have the same time ({}): one value per time, please",
                w[0].place,
                w[1].place,
                w[0].at.human()
            ));
        }
        let mut spacings: Vec<f64> = points
            .windows(2)
            .map(|w| w[1].at.secs - w[0].at.secs)
            .collect();
        spacings.sort_by(f64::total_cmp);
        let step = spacings[spacings.len() / 2];
        let start = points[0].at;
        let last = points[points.len() - 1].at.secs;
        let intervals = ((last - start.secs) / step).round() as usize + 1;
        if intervals > 10_000_000 {
            return Err(format!(
                "the rows are {step} s apart but span {:.0} s: more than 10 million intervals; \
                 pick a window with --from/--to or aggregate the series first",
                last - start.secs
            ));
        }
        let mut grid: Vec<Vec<Option<f64>>> = vec![vec![None; types.len()]; intervals];
        let mut place_of: Vec<Option<usize>> = vec![None; intervals];
        for (p, point) in points.iter().enumerate() {
            let i = ((point.at.secs - start.secs) / step).round() as usize;
            if let Some(q) = place_of[i] {
                return Err(format!(
                    "{} and {} fall in the same {step} s interval (the rows' usual spacing): \
                     the series must be regular",
                    points[q].place, point.place
                ));
            }
            place_of[i] = Some(p);
            for (cell, v) in grid[i].iter_mut().zip(&point.values) {
                *cell = v.map(|v| if values == Values::Rate { v * step } else { v });
            }
        }
        fill_gaps(&mut grid, gaps, start, step, notes);
        Ok(Series {
            start,
            step,
            types,
            counts: grid
                .into_iter()
                .map(|row| row.into_iter().map(|v| v.unwrap_or(0.0)).collect())
                .collect(),
        })
    }
}

/// Fills each type's missing intervals, and says how many there were.
fn fill_gaps(
    grid: &mut [Vec<Option<f64>>],
    gaps: Gaps,
    start: Stamp,
    step: f64,
    notes: &mut Vec<String>,
) {
    let types = grid.first().map_or(0, Vec::len);
    let mut count = 0;
    let mut longest = (0usize, 0usize);
    for t in 0..types {
        let mut i = 0;
        while i < grid.len() {
            if grid[i][t].is_some() {
                i += 1;
                continue;
            }
            let from = i;
            while i < grid.len() && grid[i][t].is_none() {
                i += 1;
            }
            count += 1;
            if i - from > longest.1 {
                longest = (from, i - from);
            }
            let before = from.checked_sub(1).and_then(|b| grid[b][t]);
            let after = grid.get(i).and_then(|row| row[t]);
            for (k, row) in grid[from..i].iter_mut().enumerate() {
                row[t] = Some(match (gaps, before, after) {
                    (Gaps::Zero, _, _) => 0.0,
                    (Gaps::Bridge, Some(a), Some(b)) => {
                        a + (b - a) * (k + 1) as f64 / (i - from + 1) as f64
                    }
                    (Gaps::Bridge, Some(a), None) => a,
                    (Gaps::Bridge, None, Some(b)) => b,
                    (Gaps::Bridge, None, None) => 0.0,
                });
            }
        }
    }
    if count > 0 {
        let how = match gaps {
            Gaps::Bridge => "bridged by a line between the values on either side (--gaps zero reads a gap as no traffic)",
            Gaps::Zero => "read as no traffic (--gaps zero)",
        };
        notes.push(format!(
            "{count} gap{} in the series (the longest {} interval{} from {}): {how}",
            if count == 1 { "" } else { "s" },
            longest.1,
            if longest.1 == 1 { "" } else { "s" },
            start.plus(longest.0 as f64 * step).human()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::time::utc;

    fn point(secs: f64, v: Option<f64>) -> Point {
        Point {
            at: Stamp::new(secs, utc()),
            place: format!("line {secs}"),
            values: vec![v],
        }
    }

    fn series(
        points: Vec<Point>,
        values: Values,
        gaps: Gaps,
    ) -> (Result<Series, String>, Vec<String>) {
        let mut notes = Vec::new();
        (
            Series::from_points(points, vec!["A".into()], values, gaps, &mut notes),
            notes,
        )
    }

    #[test]
    fn rates_become_counts_and_the_interval_is_the_usual_spacing() {
        let (s, notes) = series(
            vec![
                point(0.0, Some(2.0)),
                point(60.0, Some(3.0)),
                point(120.0, Some(1.0)),
            ],
            Values::Rate,
            Gaps::Bridge,
        );
        let s = s.unwrap();
        assert!(notes.is_empty());
        assert_eq!(s.step, 60.0);
        assert_eq!(s.counts, vec![vec![120.0], vec![180.0], vec![60.0]]);
        assert_eq!(s.span(), 180.0);
        assert_eq!(s.requests_between(30.0, 90.0), vec![60.0 + 90.0]);
        assert_eq!(s.requests_between(-10.0, 1000.0), vec![360.0]);
    }

    #[test]
    fn gaps_are_bridged_or_zero_and_said() {
        let points = || {
            vec![
                point(0.0, Some(10.0)),
                point(10.0, None),
                point(30.0, Some(40.0)),
                point(40.0, Some(0.0)),
            ]
        };
        let (s, notes) = series(points(), Values::Count, Gaps::Bridge);
        assert_eq!(
            s.unwrap().counts,
            vec![vec![10.0], vec![20.0], vec![30.0], vec![40.0], vec![0.0]]
        );
        assert!(
            notes[0].starts_with("1 gap in the series (the longest 2 intervals"),
            "{notes:?}"
        );
        let (s, notes) = series(points(), Values::Count, Gaps::Zero);
        assert_eq!(
            s.unwrap().counts,
            vec![vec![10.0], vec![0.0], vec![0.0], vec![40.0], vec![0.0]]
        );
        assert!(notes[0].contains("no traffic"));
    }

    #[test]
    fn out_of_order_rows_are_sorted_and_said_and_duplicates_refused() {
        let (s, notes) = series(
            vec![
                point(10.0, Some(1.0)),
                point(0.0, Some(2.0)),
                point(20.0, Some(3.0)),
            ],
            Values::Count,
            Gaps::Bridge,
        );
        assert_eq!(s.unwrap().counts, vec![vec![2.0], vec![1.0], vec![3.0]]);
        assert!(
            notes[0].contains("out of time order (first at line 0)"),
            "{notes:?}"
        );
        let (s, _) = series(
            vec![
                point(0.0, Some(1.0)),
                point(0.0, Some(2.0)),
                point(10.0, Some(3.0)),
            ],
            Values::Count,
            Gaps::Bridge,
        );
        assert!(s.unwrap_err().contains("have the same time"));
    }

    #[test]
    fn empty_and_one_point_series_are_refused() {
        assert!(series(vec![], Values::Count, Gaps::Bridge)
            .0
            .unwrap_err()
            .contains("no data point"));
        let one = series(vec![point(5.0, Some(1.0))], Values::Count, Gaps::Bridge)
            .0
            .unwrap_err();
        assert!(one.contains("only one data point (line 5)"), "{one}");
    }
}
