//! End to end: a run of many short loops keeps its bookkeeping bounded. Old
//! occurrences are folded into per-phase totals that still add up to what the
//! server saw; the printed table stays short and says what it folded, and the
//! progress lines come at the --progress-interval asked for.

use crate::common;

use common::*;

#[test]
fn many_loops_fold_into_exact_totals_and_a_short_table() {
    let shop = Shop::start();
    let config = [
        phase(1, 3, 100, &[("A", 1, 100, 100)]),
        phase(1, 3, 100, &[("B", 1, 100, 100)]),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A", "B"]));
    let report = files.path("report");
    let out = Loadgen::run(&tag("longrun"), files.config(), &shop.host())
        .run_time("40s")
        .report(&report)
        .args(["--progress-interval", "10s"])
        .success();
    let stdout = out.stdout();

    // 40 one-second occurrences: the last 20 in detail, the others folded.
    let summary = out.summary();
    let kept = summary["phases"].as_array().unwrap();
    let folded = summary["occurrences_folded"].as_u64().unwrap();
    assert_eq!(kept.len(), 20, "{summary}");
    assert!((18..=21).contains(&folded), "{folded} folded");
    assert_eq!(kept[0]["index"].as_u64(), Some(folded));
    // The folded totals and the kept ones add up to the run's, which matches
    // the server's own count.
    let in_folded: u64 = summary["folded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["total"]["requests"].as_u64().unwrap())
        .sum();
    let in_kept: u64 = kept
        .iter()
        .map(|p| p["total"]["requests"].as_u64().unwrap())
        .sum();
    let total = summary["total"]["total"]["requests"].as_u64().unwrap();
    assert_eq!(in_folded + in_kept, total);
    // Every span states the same counted figures: a folded phase lists its
    // requests per name too, and per name the spans add up to the run's.
    let per_name = |span: &serde_json::Value| -> Vec<(String, u64)> {
        span["requests"]
            .as_array()
            .unwrap_or_else(|| panic!("no requests in {span}"))
            .iter()
            .map(|r| {
                let name = format!("{} {}", r["method"], r["name"]);
                (name, r["requests"].as_u64().unwrap())
            })
            .collect()
    };
    let mut added = std::collections::BTreeMap::<String, u64>::new();
    let spans = summary["folded"].as_array().unwrap().iter().chain(kept);
    for span in spans {
        for (name, n) in per_name(span) {
            *added.entry(name).or_default() += n;
        }
    }
    let run: std::collections::BTreeMap<String, u64> =
        per_name(&summary["total"]).into_iter().collect();
    assert_eq!(added, run, "{summary}");
    assert_eq!(run.values().sum::<u64>(), total);
    let served = shop.total_requests();
    assert!(
        total.abs_diff(served) <= (served / 50).max(3),
        "summary.json {total}, the shop {served}"
    );
    // The table: one row per folded phase, the last 12 occurrences, a note.
    assert!(
        stdout.contains("occurrences ran; the last 12 are shown"),
        "{stdout}"
    );
    let rows = stdout.lines().filter(|l| l.starts_with('│')).count();
    assert!(rows < 30, "{rows} rows:\n{stdout}");
    let html = std::fs::metadata(report.join("report.html")).unwrap().len();
    assert!(html < 2_000_000, "report.html is {html} bytes");
    // Off a terminal, one progress line per --progress-interval (8 at the default 5 s).
    let stderr = out.stderr();
    let progress = stderr
        .lines()
        .filter(|l| l.contains(" left in run | users "))
        .count();
    assert!(
        (3..=5).contains(&progress),
        "{progress} progress lines:\n{stderr}"
    );
}
