//! Stage 6: reports. The end-of-run table, and with `--report DIR` the files
//! `summary.json`, `stats.csv` and `report.html`.

pub mod csv;
pub mod html;
pub mod summary;
pub mod table;

use std::path::Path;

use anyhow::{Context, Result};

pub use summary::Summary;

/// Writes the report files into `dir` (created if needed).
pub fn write(dir: &Path, summary: &Summary) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the report directory {}", dir.display()))?;
    let json = dir.join("summary.json");
    std::fs::write(&json, serde_json::to_vec_pretty(summary)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let stats = dir.join("stats.csv");
    std::fs::write(&stats, csv::render(summary))
        .with_context(|| format!("cannot write {}", stats.display()))?;
    let html = dir.join("report.html");
    std::fs::write(&html, html::render(summary))
        .with_context(|| format!("cannot write {}", html.display()))?;
    Ok(())
}
