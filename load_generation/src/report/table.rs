//! The summary printed at the end of a run: one table row per phase occurrence,
//! one for the whole run.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Row, Table};

use super::summary::{FoldedPhase, PhaseSummary, RequestSummary, Summary};
use crate::config::UserTypeName;
use crate::fmt::{dec, duration, int};
use crate::stats::{Ended, ExceptionRecord, Figures};
use crate::verdict::evaluate::Judged;

/// Occurrences shown one per row at most; earlier ones are summed up.
const MAX_OCCURRENCE_ROWS: usize = 12;

/// The end-of-run table, as text.
pub fn render(summary: &Summary) -> String {
    // A long run shows only the last occurrences, one per row; `hidden` are
    // the others still in `phases` (the rest were folded before).
    let hidden = summary.phases.len().saturating_sub(MAX_OCCURRENCE_ROWS);
    let mut out = occurrences_table(summary, hidden).to_string();
    out.push_str(&how_it_ended(summary));
    out.push_str(&what_is_not_shown(summary, hidden));
    if !summary.total.requests.is_empty() {
        out.push('\n');
        out.push_str(&requests_table(&summary.total.requests).to_string());
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
    let mut table = table_with_header([
        "phase",
        "loop",
        "time",
        "requests",
        "failures",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "users (actual/target)",
    ]);
    for f in &summary.folded {
        table.add_row(folded_row(f));
    }
    for p in &summary.phases[hidden..] {
        table.add_row(occurrence_row(p, &summary.user_types));
    }
    table.add_row(whole_run_row(summary));
    right_align(&mut table, 3..9);
    table
}

/// A phase's folded occurrences, added up, in one row.
fn folded_row(f: &FoldedPhase) -> Vec<Cell> {
    let name = f.name.as_ref().map_or(String::new(), |n| format!(" {n}"));
    let mut row = vec![
        Cell::new(format!("{}{name} ×{}", f.phase, f.occurrences)),
        Cell::new(format!("{}-{}", f.first_loop, f.last_loop)),
        Cell::new(format!("{:.0}s", f.seconds)),
    ];
    row.extend(figures(&f.total));
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
    let mut row = vec![
        Cell::new(phase),
        Cell::new(p.loop_number),
        Cell::new(format!("{}-{}s", dec(p.start_s, 0), dec(p.end_s, 0))),
    ];
    row.extend(figures(&p.total));
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
    row.extend(figures(&summary.total.total));
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

/// The whole run per request name, as Locust users are used to seeing it.
fn requests_table(requests: &[RequestSummary]) -> Table {
    let mut table = table_with_header([
        "method", "name", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms",
    ]);
    for r in requests {
        let mut row = vec![Cell::new(&r.method), Cell::new(&r.name)];
        row.extend(figures(&r.figures));
        table.add_row(row);
    }
    right_align(&mut table, 2..8);
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
        Cell::new(dec(f.requests_per_s, 1)),
        Cell::new(int(f.p50_ms)),
        Cell::new(int(f.p95_ms)),
        Cell::new(int(f.p99_ms)),
    ]
}
