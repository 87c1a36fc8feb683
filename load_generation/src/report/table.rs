//! The summary printed at the end of a run: one table row per phase occurrence,
//! one for the whole run.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::summary::Summary;
use crate::config::UserTypeName;
use crate::fmt::{dec, duration, int};
use crate::stats::{Ended, Figures};

/// Occurrences shown one per row at most; earlier ones are summed up.
const MAX_OCCURRENCE_ROWS: usize = 12;

/// The end-of-run table, as text.
pub fn render(summary: &Summary) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
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
    let users = |p: &super::summary::PhaseSummary| {
        summary
            .user_types
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
    };
    // A long run: the folded occurrences as one row per phase, then only the
    // last few occurrences, so the table stays about a screen whatever the length.
    for f in &summary.folded {
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
        table.add_row(row);
    }
    let hidden = summary.phases.len().saturating_sub(MAX_OCCURRENCE_ROWS);
    for p in &summary.phases[hidden..] {
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
        row.push(Cell::new(users(p)));
        table.add_row(row);
    }
    let mut row = vec![
        Cell::new("all"),
        Cell::new(""),
        Cell::new(duration(summary.duration_s)),
    ];
    row.extend(figures(&summary.total.total));
    // The whole run's users: each type's peak target in the phases that ran.
    let mut whole_run = summary
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
        .join(", ");
    if !whole_run.is_empty() {
        whole_run = format!("peak: {whole_run}");
    }
    if summary.restarts > 0 {
        whole_run.push_str(&format!("; {} restarts", summary.restarts));
    }
    row.push(Cell::new(whole_run));
    table.add_row(row);
    right_align(&mut table, 3..9);
    let mut out = table.to_string();
    // A run that did not complete says so under its figures: they stop there.
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
    let folded = summary.occurrences_folded + hidden as u64;
    if folded > 0 {
        out.push_str(&format!(
            "\n{} occurrences ran; the last {} are shown, the others are in the per-phase rows (×N) or in summary.json ({} in detail).",
            summary.occurrences_folded + summary.phases.len() as u64,
            summary.phases.len().min(MAX_OCCURRENCE_ROWS),
            summary.phases.len()
        ));
    }

    // The whole run per request name, as Locust users are used to seeing it.
    let mut by_name = Table::new();
    by_name.load_preset(UTF8_FULL_CONDENSED);
    by_name.set_header([
        "method", "name", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms",
    ]);
    for r in &summary.total.requests {
        let mut row = vec![Cell::new(&r.method), Cell::new(&r.name)];
        row.extend(figures(&r.figures));
        by_name.add_row(row);
    }
    right_align(&mut by_name, 2..8);
    if !summary.total.requests.is_empty() {
        out.push('\n');
        out.push_str(&by_name.to_string());
    }
    if !summary.thresholds.is_empty() {
        let mut verdict = Table::new();
        verdict.load_preset(UTF8_FULL_CONDENSED);
        verdict.set_header(["threshold", "scope", "measured", "result"]);
        for t in &summary.thresholds {
            let result = if t.passed { "PASS" } else { "FAIL" };
            verdict.add_row([&t.expr, &t.scope, &t.shown, result]);
        }
        right_align(&mut verdict, 2..3);
        out.push('\n');
        out.push_str(&verdict.to_string());
    }
    if !summary.exceptions.is_empty() {
        out.push_str("\n\nExceptions in the users' tasks:");
        for e in &summary.exceptions {
            out.push_str(&format!(
                "\n  {}x {}\n    {}",
                e.count,
                e.message,
                e.traceback.trim_end().replace('\n', "\n    ")
            ));
        }
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
