//! The summary printed at the end of a run: one table row per phase occurrence,
//! one for the whole run.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Row, Table};

use super::summary::{FoldedPhase, PhaseSummary, RequestSummary, Summary};
use crate::config::UserTypeName;
use crate::fmt::{dec, dec_or_dash, duration, int};
use crate::stats::{Ended, ExceptionRecord, Figures, Intended};
use crate::verdict::evaluate::Judged;

/// Occurrences shown one per row at most; earlier ones are summed up.
const MAX_OCCURRENCE_ROWS: usize = 12;

/// The end-of-run table, as text.
pub fn render(summary: &Summary) -> String {
    // A long run shows only the last occurrences, one per row; `hidden` are
    // the others still in `phases` (the rest were folded before).
    let hidden = summary.phases.len().saturating_sub(MAX_OCCURRENCE_ROWS);
    let mut out = occurrences_table(summary, hidden).to_string();
    if summary.has_rate_figures() {
        out.push_str(RATE_NOTE);
    }
    out.push_str(&how_it_ended(summary));
    out.push_str(&what_is_not_shown(summary, hidden));
    if !summary.total.counted.requests.is_empty() {
        out.push('\n');
        let rate = summary.has_rate_figures();
        out.push_str(&requests_table(&summary.total.counted.requests, rate).to_string());
    }
    if !summary.thresholds.is_empty() {
        out.push('\n');
        out.push_str(&verdict_table(&summary.thresholds).to_string());
    }
    out.push_str(&exceptions(&summary.exceptions));
    out
}

/// An empty table in our style, with its header.
fn table_with_header(header: impl Into<Row>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(header);
    table
}

/// One row per phase occurrence, one for the whole run. A long run: the folded
/// occurrences as one row per phase, then only the last few occurrences (all
/// but the first `hidden`), so the table stays about a screen whatever the length.
fn occurrences_table(summary: &Summary, hidden: usize) -> Table {
    let rate = summary.has_rate_figures();
    let mut header = vec![
        "phase", "loop", "time", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms",
    ];
    if rate {
        header.extend(RATE_HEADERS);
    }
    header.push("users (actual/target)");
    let mut table = table_with_header(header);
    // Each row's rate cells go before its last (users) cell.
    let add = |table: &mut Table, mut row: Vec<Cell>, rate_cells: [Cell; 2]| {
        if rate {
            let users = row.pop();
            row.extend(rate_cells);
            row.extend(users);
        }
        table.add_row(row);
    };
    for f in &summary.folded {
        let cells = rate_cells(
            f.counted.total.intended.as_ref(),
            f.counted.dropped_iterations,
        );
        add(&mut table, folded_row(f), cells);
    }
    for p in &summary.phases[hidden..] {
        let cells = rate_cells(
            p.counted.total.intended.as_ref(),
            p.counted.dropped_iterations,
        );
        add(&mut table, occurrence_row(p, &summary.user_types), cells);
    }
    let t = &summary.total.counted;
    let cells = rate_cells(t.total.intended.as_ref(), t.dropped_iterations);
    add(&mut table, whole_run_row(summary), cells);
    right_align(&mut table, 3..if rate { 11 } else { 9 });
    table
}

/// The columns a rate phase adds: named apart from the response times, since
/// they measure something else (see [`RATE_NOTE`]).
const RATE_HEADERS: [&str; 2] = ["p99 intended ms", "dropped"];

/// What the rate columns mean, under the table that has them.
const RATE_NOTE: &str = "\np99 intended: the latency from each iteration's scheduled start (waiting for a free user included), not from when the request was sent; dropped: iterations no user could start within 1 s of their time, never sent.";

/// The p99 from the intended start and the dropped iterations of a span; `–`
/// for both where the span had neither (a phase of users).
fn rate_cells(intended: Option<&Intended>, dropped: u64) -> [Cell; 2] {
    if intended.is_none() && dropped == 0 {
        return [Cell::new("–"), Cell::new("–")];
    }
    [
        Cell::new(intended.map_or("–".to_string(), |i| int(i.p99_ms))),
        Cell::new(int(dropped)),
    ]
}

/// A phase's folded occurrences, added up, in one row.
fn folded_row(f: &FoldedPhase) -> Vec<Cell> {
    let name = f.name.as_ref().map_or(String::new(), |n| format!(" {n}"));
    let mut row = vec![
        Cell::new(format!("{}{name} ×{}", f.phase, f.occurrences)),
        Cell::new(format!("{}-{}", f.first_loop, f.last_loop)),
        Cell::new(format!("{:.0}s", f.seconds)),
    ];
    row.extend(figures(&f.counted.total));
    let mut saturated = if f.saturated_occurrences > 0 {
        format!("; {} saturated", f.saturated_occurrences)
    } else {
        String::new()
    };
    if f.short_occurrences > 0 {
        saturated.push_str(&format!("; {} short of plan", f.short_occurrences));
    }
    row.push(Cell::new(format!(
        "{} occurrences folded{saturated}",
        f.occurrences
    )));
    row
}

/// One phase occurrence: its phase, named and flagged, when it ran, its
/// figures and its users.
fn occurrence_row(p: &PhaseSummary, user_types: &[String]) -> Vec<Cell> {
    let mut phase = match &p.name {
        Some(name) => format!("{} {name}", p.phase),
        None => p.phase.to_string(),
    };
    if p.saturated {
        // Its figures are the generator's limit, not the target's.
        phase.push_str(" SATURATED");
    }
    if let Some(d) = p.delivery.filter(|_| p.short) {
        // It delivered less than its users and waits imply.
        phase.push_str(&format!(" SHORT {:.0}%", d.delivered_ratio * 100.0));
    }
    if p.too_short {
        // Ended by a control action or a reload within a second: no rate.
        phase.push_str(" (too short to measure)");
    }
    let mut row = vec![
        Cell::new(phase),
        Cell::new(p.loop_number),
        Cell::new(format!("{}-{}s", dec(p.start_s, 0), dec(p.end_s, 0))),
    ];
    row.extend(figures(&p.counted.total));
    row.push(Cell::new(users(p, user_types)));
    row
}

/// An occurrence's users at its end against its target, per user type that
/// had either: `Normal 3/4, Admin 1/1`.
fn users(p: &PhaseSummary, user_types: &[String]) -> String {
    user_types
        .iter()
        .map(|c| {
            let count =
                |m: &std::collections::BTreeMap<String, u32>| m.get(c).copied().unwrap_or(0);
            (c, count(&p.actual_users_end), count(&p.target_users))
        })
        .filter(|&(_, actual, target)| target > 0 || actual > 0)
        .map(|(c, actual, target)| {
            let name = UserTypeName::of_class(c);
            format!("{name} {actual}/{target}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The whole run: its length, its figures, each user type's peak and the
/// restarts.
fn whole_run_row(summary: &Summary) -> Vec<Cell> {
    let mut row = vec![
        Cell::new("all"),
        Cell::new(""),
        Cell::new(duration(summary.duration_s)),
    ];
    row.extend(figures(&summary.total.counted.total));
    let mut whole_run = peak_users(summary);
    if !whole_run.is_empty() {
        whole_run = format!("peak: {whole_run}");
    }
    if summary.restarts > 0 {
        whole_run.push_str(&format!("; {} restarts", summary.restarts));
    }
    row.push(Cell::new(whole_run));
    row
}

/// The whole run's users: each type's peak target in the phases that ran.
fn peak_users(summary: &Summary) -> String {
    summary
        .user_types
        .iter()
        .filter_map(|c| {
            let peak = summary
                .phases
                .iter()
                .filter_map(|p| p.target_users.get(c))
                .max()?;
            let name = UserTypeName::of_class(c);
            (*peak > 0).then(|| format!("{name} {peak}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A run that did not complete says so under its figures: they stop there.
/// Nothing for one that did.
fn how_it_ended(summary: &Summary) -> String {
    let mut out = String::new();
    match summary.ended {
        Ended::Completed => {}
        ended => {
            out.push_str(&format!("\nended: {}", ended.as_str()));
            if let Some(reason) = &summary.ended_reason {
                out.push_str(&format!(": {reason}"));
            }
            if ended == Ended::Running {
                out.push_str(" (the last checkpoint of a run that did not end here)");
            }
        }
    }
    out
}

/// Where a long run's occurrences that have no row of their own are: folded
/// into the per-phase rows, or (the `hidden` ones) only in summary.json.
fn what_is_not_shown(summary: &Summary, hidden: usize) -> String {
    let folded = summary.occurrences_folded + hidden as u64;
    if folded == 0 {
        return String::new();
    }
    format!(
        "\n{} occurrences ran; the last {} are shown, the others are in the per-phase rows (×N) or in summary.json ({} in detail).",
        summary.occurrences_folded + summary.phases.len() as u64,
        summary.phases.len().min(MAX_OCCURRENCE_ROWS),
        summary.phases.len()
    )
}

/// The whole run per request name, as Locust users are used to seeing it;
/// with `rate`, each name's p99 from the intended start too.
fn requests_table(requests: &[RequestSummary], rate: bool) -> Table {
    let mut header = vec![
        "method", "name", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms",
    ];
    if rate {
        header.push(RATE_HEADERS[0]);
    }
    let mut table = table_with_header(header);
    for r in requests {
        let mut row = vec![Cell::new(&r.method), Cell::new(&r.name)];
        row.extend(figures(&r.figures));
        if rate {
            let [p99, _] = rate_cells(r.figures.intended.as_ref(), 0);
            row.push(p99);
        }
        table.add_row(row);
    }
    right_align(&mut table, 2..if rate { 9 } else { 8 });
    table
}

/// Every threshold judged, with what was measured and whether it passed.
fn verdict_table(thresholds: &[Judged]) -> Table {
    let mut table = table_with_header(["threshold", "scope", "measured", "result"]);
    for t in thresholds {
        let result = if t.passed { "PASS" } else { "FAIL" };
        table.add_row([&t.expr, &t.scope, &t.shown, result]);
    }
    right_align(&mut table, 2..3);
    table
}

/// The exceptions raised in the users' tasks, each with its count and
/// indented traceback; nothing if there were none.
fn exceptions(exceptions: &[ExceptionRecord]) -> String {
    if exceptions.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n\nExceptions in the users' tasks:");
    for e in exceptions {
        out.push_str(&format!(
            "\n  {}x {}\n    {}",
            e.count,
            e.message,
            e.traceback.trim_end().replace('\n', "\n    ")
        ));
    }
    out
}

fn right_align(table: &mut Table, columns: std::ops::Range<usize>) {
    for i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

fn figures(f: &Figures) -> Vec<Cell> {
    vec![
        Cell::new(int(f.requests)),
        Cell::new(int(f.failures)),
        Cell::new(dec_or_dash(f.requests_per_s, 1)),
        Cell::new(int(f.p50_ms)),
        Cell::new(int(f.p95_ms)),
        Cell::new(int(f.p99_ms)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{figures, rate_summary, summary};
    use crate::report::summary::CountedFigures;

    /// The fixture's run with a verdict and a folded phase: every kind of row.
    fn with_everything(mut s: Summary) -> Summary {
        s.thresholds.push(Judged {
            expr: "p95 > 20ms".into(),
            scope: "run".into(),
            occurrence: None,
            value: 30.0,
            shown: "30 ms".into(),
            passed: false,
        });
        s.occurrences_folded = 4;
        s.folded.push(FoldedPhase {
            phase: 2,
            name: Some("peak".into()),
            occurrences: 4,
            first_loop: 1,
            last_loop: 4,
            seconds: 40.0,
            counted: CountedFigures {
                requests: Vec::new(),
                total: figures(400, 0, 40.0),
                errors: Default::default(),
                errors_count: 0,
                restarts: 0,
                dropped_iterations: 0,
            },
            saturated_occurrences: 1,
            short_occurrences: 0,
        });
        s
    }

    #[test]
    fn a_run_of_users_alone_prints_the_table_it_always_did() {
        // Written by the table before rate phases existed.
        let golden = include_str!("testdata/table_users_only.txt");
        assert_eq!(render(&with_everything(summary(true))), golden);
    }

    #[test]
    fn a_rate_phase_adds_its_columns_and_says_what_they_are() {
        let mut s = with_everything(rate_summary());
        s.folded[0].counted.total.intended = Some(crate::report::fixture::intended(400));
        s.folded[0].counted.dropped_iterations = 3;
        let text = render(&s);
        let lines: Vec<&str> = text.lines().collect();
        let header = lines[1];
        for column in [
            "p99 ms",
            "p99 intended ms",
            "dropped",
            "users (actual/target)",
        ] {
            assert!(header.contains(column), "{header}");
        }
        assert!(header.find("p99 intended ms") < header.find("users"));
        let row = |prefix: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(&format!("│ {prefix}")))
                .copied()
                .unwrap_or_else(|| panic!("no row {prefix} in\n{text}"))
        };
        // Between the borders, empty cells kept, so columns keep their place.
        let cells = |line: &str| -> Vec<String> {
            let parts: Vec<&str> = line.split(['│', '┆']).collect();
            parts[1..parts.len() - 1]
                .iter()
                .map(|c| c.trim().to_string())
                .collect()
        };
        // Phase 2 ran at a rate: its p99 from the intended start and its drops.
        let rate_row = cells(row("2         ┆ 1"));
        assert_eq!(&rate_row[9..11], ["1,900", "7"], "{rate_row:?}");
        // Phase 1 ran users: no figures of the kind, shown as such.
        let users_row = cells(row("1         ┆ 1"));
        assert_eq!(&users_row[9..11], ["–", "–"], "{users_row:?}");
        let folded = cells(row("2 peak ×4"));
        assert_eq!(&folded[9..11], ["1,900", "3"], "{folded:?}");
        let all = cells(row("all"));
        assert_eq!(&all[9..11], ["1,900", "7"], "{all:?}");
        assert!(text.contains("p99 intended: the latency from each iteration's scheduled start"));
        // The per-name table: the one name measured from its intended start.
        let names = lines
            .iter()
            .find(|l| l.contains("│ method"))
            .expect("the per-name table");
        assert!(names.contains("p99 intended ms"), "{names}");
        assert_eq!(cells(row("GET"))[8], "1,900");
        assert_eq!(cells(row("POST"))[8], "–");
    }

    #[test]
    fn dropped_iterations_alone_show_the_columns() {
        // A target so stalled that no request of the rate phase came back.
        let mut s = summary(true);
        s.phases[1].counted.dropped_iterations = 12;
        s.total.counted.dropped_iterations = 12;
        let text = render(&s);
        assert!(text.lines().nth(1).unwrap().contains("dropped"), "{text}");
        assert!(text.contains("┆               – ┆      12 ┆"), "{text}");
    }
}
