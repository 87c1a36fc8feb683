//! `stats.csv`: one row per phase occurrence and request name (plus a row per
//! occurrence for all names, and rows for the whole run).
//!
//! Columns are only ever appended, so that a reader by position keeps working;
//! the rate phases' (latencies from the intended start, dropped iterations) are
//! in every file, empty where there is no such figure, so that the files of all
//! runs have one header.

use super::summary::{RequestSummary, Summary};
use crate::stats::Figures;

const HEADER: &str = "phase,loop,start_s,end_s,method,name,requests,failures,requests_per_s,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,\
p50_intended_ms,p95_intended_ms,p99_intended_ms,max_intended_ms,dropped_iterations";

pub fn render(summary: &Summary) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for p in &summary.phases {
        let place = format!(
            "{},{},{:.3},{:.3}",
            p.phase, p.loop_number, p.start_s, p.end_s
        );
        rows(
            &mut out,
            &place,
            &p.counted.requests,
            &p.counted.total,
            p.counted.dropped_iterations,
        );
    }
    rows(
        &mut out,
        &format!("all,,0.000,{:.3}", summary.duration_s),
        &summary.total.counted.requests,
        &summary.total.counted.total,
        summary.total.counted.dropped_iterations,
    );
    out
}

/// A span's rows: one per request name, then the `Aggregated` one, which alone
/// has the dropped iterations (an iteration dropped made no request, so it
/// has no name).
fn rows(out: &mut String, place: &str, requests: &[RequestSummary], total: &Figures, dropped: u64) {
    for r in requests {
        out.push_str(&format!(
            "{place},{},{},{},\n",
            field(&r.method),
            field(&r.name),
            figures(&r.figures)
        ));
    }
    out.push_str(&format!(
        "{place},,Aggregated,{},{dropped}\n",
        figures(total)
    ));
}

/// The figures' columns, from `requests` to `max_intended_ms`.
fn figures(f: &Figures) -> String {
    let intended = f.intended.map_or_else(
        || ",,,".to_string(),
        |i| format!("{},{},{},{}", i.p50_ms, i.p95_ms, i.p99_ms, i.max_ms),
    );
    // No rate over a span too short to state one: an empty field.
    let per_s = f
        .requests_per_s
        .map_or_else(String::new, |r| format!("{r:.3}"));
    format!(
        "{},{},{per_s},{:.3},{},{},{},{},{},{intended}",
        f.requests, f.failures, f.mean_ms, f.p50_ms, f.p90_ms, f.p95_ms, f.p99_ms, f.max_ms
    )
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{rate_summary, summary};

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(super::field("/cart"), "/cart");
        assert_eq!(super::field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }

    /// The rows' fields by column name (the fixture's names hold no comma,
    /// so a plain split reads them).
    fn table(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        lines
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                assert_eq!(fields.len(), header.len(), "{line}");
                header
                    .iter()
                    .zip(fields)
                    .map(|(h, f)| (h.to_string(), f.to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_old_columns_come_first_and_the_rate_columns_after() {
        let text = render(&summary(true));
        assert!(text.starts_with(
            "phase,loop,start_s,end_s,method,name,requests,failures,requests_per_s,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,\
             p50_intended_ms,p95_intended_ms,p99_intended_ms,max_intended_ms,dropped_iterations\n"
        ));
        // A run of users alone: the new columns are there, and empty but for
        // the aggregated rows' 0 dropped.
        for row in table(&text) {
            for column in [
                "p50_intended_ms",
                "p95_intended_ms",
                "p99_intended_ms",
                "max_intended_ms",
            ] {
                assert_eq!(row[column], "", "{row:?}");
            }
            let dropped = if row["name"] == "Aggregated" { "0" } else { "" };
            assert_eq!(row["dropped_iterations"], dropped, "{row:?}");
        }
    }

    #[test]
    fn a_rate_phase_fills_its_columns() {
        let rows = table(&render(&rate_summary()));
        let find = |phase: &str, name: &str| {
            rows.iter()
                .find(|r| r["phase"] == phase && r["name"] == name)
                .unwrap_or_else(|| panic!("no row {phase} {name} in {rows:?}"))
        };
        let aggregated = find("2", "Aggregated");
        assert_eq!(
            [
                &aggregated["p50_intended_ms"],
                &aggregated["p95_intended_ms"],
                &aggregated["p99_intended_ms"],
                &aggregated["max_intended_ms"],
                &aggregated["dropped_iterations"],
            ],
            ["15", "800", "1900", "2400", "7"]
        );
        // Response times stay where they were, apart from the new columns.
        assert_eq!(aggregated["p99_ms"], "50");
        let cart = find("2", "/cart");
        assert_eq!(cart["p99_intended_ms"], "1900");
        assert_eq!(cart["dropped_iterations"], "");
        let users = find("1", "Aggregated");
        assert_eq!(users["p99_intended_ms"], "");
        assert_eq!(users["dropped_iterations"], "0");
        let all = find("all", "Aggregated");
        assert_eq!(all["p99_intended_ms"], "1900");
        assert_eq!(all["dropped_iterations"], "7");
    }
}
