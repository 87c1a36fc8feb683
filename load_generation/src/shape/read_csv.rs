//! A time series as CSV: `timestamp,value` with a header (a load balancer's
//! request counts, a spreadsheet), or `timestamp,Browse,Cart,...`: one user
//! type per value column.

use std::path::Path;

use chrono::FixedOffset;

use super::series::{Gaps, Point, Series, Values};
use super::time::{self, FORMATS};
use super::type_names;
use super::Read;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};

/// How to read a CSV series.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub values: Values,
    pub gaps: Gaps,
    pub naive_offset: FixedOffset,
    /// The type of a single value column.
    pub single_type: String,
}

/// Reads `path` (`text` is its content). Every bad row is an error (a series
/// with a wrong value would shape a wrong load), reported at its line and
/// column; all of them are collected.
pub fn read(path: &Path, text: &str, options: &CsvOptions) -> Result<Read, Diagnostics> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    // A problem in field `field` of the row that starts at byte `start` on
    // line `line` (the csv crate's position), or at the row's start.
    let located = |line: u64, start: u64, field: Option<usize>, message: String| {
        let start = (start as usize).min(text.len());
        let row = text[start..].lines().next().unwrap_or("");
        Diagnostic::at_line(
            Severity::Error,
            path,
            line.max(1) as usize,
            row,
            field.map_or(0, |i| field_start(row, i)),
            message,
        )
    };
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(Diagnostics(vec![csv_error(path, &e, &located)])),
    };
    if header.len() < 2 {
        return Err(Diagnostics(vec![located(1, 0, None, format!(
            "the header has {} column{}; a series needs a time column and at least one value column",
            header.len(),
            if header.len() == 1 { "" } else { "s" }
        ))
        .with_help("start the file with a header such as `timestamp,value`")]));
    }
    let labels: Vec<&str> = header.iter().skip(1).collect();
    let types = if labels.len() == 1 {
        vec![options.single_type.clone()]
    } else {
        type_names(&labels)
    };
    let mut errors = Vec::new();
    let mut points = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                errors.push(csv_error(path, &e, &located));
                continue;
            }
        }
        let Some(position) = record.position().cloned() else {
            continue;
        };
        if record.len() != header.len() {
            errors.push(
                located(
                    position.line(),
                    position.byte(),
                    None,
                    format!(
                        "this row has {} field{}, the header {}",
                        record.len(),
                        if record.len() == 1 { "" } else { "s" },
                        header.len()
                    ),
                )
                .with_help("give every row a time and one value per column of the header"),
            );
            continue;
        }
        let Some(at) = time::parse(&record[0], options.naive_offset) else {
            errors.push(
                located(
                    position.line(),
                    position.byte(),
                    Some(0),
                    format!("{:?} is not a time", &record[0]),
                )
                .with_help(format!("write times as {FORMATS}")),
            );
            continue;
        };
        let mut values = Vec::with_capacity(types.len());
        for i in 1..record.len() {
            let text = &record[i];
            if text.is_empty() || text.eq_ignore_ascii_case("nan") {
                values.push(None);
                continue;
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => values.push(Some(v)),
                _ => {
                    errors.push(
                        located(position.line(), position.byte(), Some(i), format!(
                            "{text:?} in column `{}` is not a count or a rate (a number, 0 or more)",
                            &header[i]
                        ))
                        .with_help("leave the field empty (or write NaN) where there is no value: it is read as a gap"),
                    );
                    values.push(None);
                }
            }
        }
        points.push(Point {
            at,
            place: format!("line {}", position.line()),
            values,
        });
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let mut notes = Vec::new();
    let series = Series::from_points(points, types, options.values, options.gaps, &mut notes)
        .map_err(|message| Diagnostics(vec![Diagnostic::error(path, None, message)]))?;
    Ok(Read {
        description: format!(
            "{} (CSV, {} as {} per interval of {})",
            path.display(),
            if labels.len() == 1 {
                "one series".to_string()
            } else {
                format!("{} series", labels.len())
            },
            match options.values {
                Values::Count => "counts",
                Values::Rate => "rates per second",
            },
            crate::fmt::duration(series.step)
        ),
        series,
        notes,
    })
}

type Locate<'a> = dyn Fn(u64, u64, Option<usize>, String) -> Diagnostic + 'a;

fn csv_error(path: &Path, error: &csv::Error, located: &Locate<'_>) -> Diagnostic {
    match error.position() {
        Some(p) => located(
            p.line(),
            p.byte(),
            None,
            format!("not CSV as expected: {error}"),
        ),
        None => Diagnostic::error(path, None, format!("not CSV as expected: {error}")),
    }
}

/// The byte where field `index` of a CSV row begins (commas inside quotes do
/// not count), for the column a message points at.
fn field_start(row: &str, index: usize) -> usize {
    let mut field = 0;
    let mut quoted = false;
    for (at, b) in row.bytes().enumerate() {
        if field == index {
            return at + row[at..].len() - row[at..].trim_start().len();
        }
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => field += 1,
            _ => {}
        }
    }
    row.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::time::utc;

    fn options() -> CsvOptions {
        CsvOptions {
            values: Values::Count,
            gaps: Gaps::Bridge,
            naive_offset: utc(),
            single_type: "Normal".into(),
        }
    }

    fn read_text(text: &str) -> Result<Read, String> {
        read(Path::new("s.csv"), text, &options()).map_err(|d| d.to_string())
    }

    #[test]
    fn one_value_column_is_the_single_type_and_several_are_types() {
        let r = read_text("timestamp,value\n2025-11-27 00:00:00,60\n2025-11-27 00:01:00,120\n")
            .unwrap();
        assert_eq!(r.series.types, vec!["Normal"]);
        assert_eq!(r.series.step, 60.0);
        assert_eq!(r.series.counts, vec![vec![60.0], vec![120.0]]);
        let r = read_text("time,/cart,browse\n1764201600,1,2\n1764201660,3,4\n").unwrap();
        assert_eq!(r.series.types, vec!["Cart", "Browse"]);
    }

    #[test]
    fn bad_rows_are_located_at_their_field() {
        let err = read_text("timestamp,value\n2025-11-27 00:00:00,60\n2025-11-27 00:01:00, -3\nyesterday,4\n2025-11-27 00:03:00\n").unwrap_err();
        assert!(
            err.contains("s.csv:3:22: error: \"-3\" in column `value` is not a count or a rate"),
            "{err}"
        );
        assert!(
            err.contains("s.csv:4:1: error: \"yesterday\" is not a time"),
            "{err}"
        );
        assert!(err.contains("ISO 8601"), "{err}");
        assert!(
            err.contains("s.csv:5:1: error: this row has 1 field, the header 2"),
            "{err}"
        );
        assert!(err.ends_with("3 errors"), "{err}");
    }

    #[test]
    fn a_header_alone_or_one_column_is_refused() {
        assert!(read_text("timestamp,value\n")
            .unwrap_err()
            .contains("no data point"));
        assert!(read_text("timestamp\n1,2\n")
            .unwrap_err()
            .contains("s.csv:1:1: error: the header has 1 column;"));
        assert!(read_text("")
            .unwrap_err()
            .contains("the header has 0 columns"));
    }
}
