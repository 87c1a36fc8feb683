//! The summary printed at the end of a run: one table row per phase occurrence,
//! one for the whole run.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use super::summary::Summary;
use crate::stats::Figures;

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
            .filter(|c| p.target_users[*c] > 0 || p.actual_users_end[*c] > 0)
            .map(|c| {
                let name = c.strip_suffix("User").unwrap_or(c);
                format!("{name} {}/{}", p.actual_users_end[c], p.target_users[c])
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for p in &summary.phases {
        let mut row = vec![
            Cell::new(p.phase),
            Cell::new(p.loop_number),
            Cell::new(format!("{:.0}-{:.0}s", p.start_s, p.end_s)),
        ];
        row.extend(figures(&p.total));
        row.push(Cell::new(users(p)));
        table.add_row(row);
    }
    let mut row = vec![
        Cell::new("all"),
        Cell::new(""),
        Cell::new(format!("{:.0}s", summary.duration_s)),
    ];
    row.extend(figures(&summary.total.total));
    row.push(Cell::new(if summary.restarts > 0 {
        format!("{} restarts", summary.restarts)
    } else {
        String::new()
    }));
    table.add_row(row);
    for i in 3..9 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = table.to_string();
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

fn figures(f: &Figures) -> Vec<Cell> {
    vec![
        Cell::new(f.requests),
        Cell::new(f.failures),
        Cell::new(format!("{:.1}", f.requests_per_s)),
        Cell::new(f.p50_ms),
        Cell::new(f.p95_ms),
        Cell::new(f.p99_ms),
    ]
}
