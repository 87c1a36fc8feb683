//! `loadgen shape`'s replay of a recorded-looking week against the demo shop,
//! judged at the shop. Its own module, declared first in `main.rs` under a name
//! that sorts first: libtest starts tests in name order, and the suite's longest
//! test (five minutes of replay, mostly waiting) should run beside the others
//! from the start rather than alone at the end. Its load is light, and it takes
//! no turn (`Shop::start_in_the_background`): held for five minutes, a turn
//! would keep every `alone` test, and the thread it waits on, idle.

use std::time::Duration;

use crate::common;
use crate::shape::{correlation, phases_of, planned_at, planned_total};
use common::webdriver;
use common::*;

/// A recorded-looking week of demand, counts per 10 minutes from Monday
/// 2025-11-24 00:00 UTC: a daily cycle (quiet at night, busy mid-afternoon),
/// a busier weekend, Thursday a holiday, and a little noise. Returns the CSV
/// and each interval's requests per second.
fn demand_week() -> (String, Vec<f64>) {
    let start = 1_763_942_400u64; // 2025-11-24T00:00:00Z, a Monday
    let mut seed = 42u64;
    let mut csv = String::from("timestamp,requests\n");
    let mut rates = Vec::new();
    for i in 0..7 * 144 {
        let day = i / 144;
        let hour = (i % 144) as f64 / 6.0;
        let daily =
            0.15 + 0.85 * (0.5 + 0.5 * (std::f64::consts::TAU * (hour - 14.0) / 24.0).cos());
        let factor = match day {
            3 => 2.4,     // Thursday, the holiday
            5 | 6 => 1.6, // the weekend
            _ => 1.0,
        };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = 1.0 + ((seed >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.06;
        let count = (6000.0 * daily * factor * noise).round();
        let t = start + i as u64 * 600;
        csv.push_str(&format!(
            "{},{count}\n",
            chrono::DateTime::from_timestamp(t as i64, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
        ));
        rates.push(count / 600.0);
    }
    (csv, rates)
}

/// Requests of a piecewise-constant series (`rates` per `step` s) between two
/// source offsets (seconds from its start).
fn source_between(rates: &[f64], step: f64, a: f64, b: f64) -> f64 {
    rates
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (s, e) = (i as f64 * step, (i + 1) as f64 * step);
            r * (e.min(b) - s.max(a)).max(0.0)
        })
        .sum()
}

#[test]
fn a_week_of_demand_shaped_to_five_minutes_is_played_as_recorded() {
    let (csv, rates) = demand_week();
    let files = LoadFiles::new("", &tagging_template(&["Normal"]));
    std::fs::write(files.path("week.csv"), &csv).unwrap();
    let tag = tag("shape-week");
    let said = Loadgen::command(&tag, ["shape", "csv"])
        .arg(files.path("week.csv"))
        .args([
            "--duration",
            "5m",
            "--peak",
            "200",
            "--tolerance",
            "5%",
            "-o",
        ])
        .arg(files.config())
        .success()
        .stderr();
    assert!(
        said.contains("wrote ") && said.contains("over 5m"),
        "{said}"
    );
    let config = std::fs::read_to_string(files.config()).unwrap();
    let phases = phases_of(&config);
    assert_eq!(phases.iter().map(|p| p.duration).sum::<f64>(), 300.0);
    assert!(
        config.contains("# Fit: ") && config.contains("within 10/s (5% of the highest point)"),
        "{config}"
    );
    assert!(
        config.contains("name: \"thu-27-nov-"),
        "phases are named from the source's clock:\n{config}"
    );

    // The test's own compression: 7 days in 300 s (2016 source seconds per
    // second), each second's point the mean over a second around it, scaled
    // so the highest is 200/s.
    let speed = 7.0 * 86_400.0 / 300.0;
    let source_at = |k: f64| {
        let (a, b) = ((k - 0.5).max(0.0), (k + 0.5).min(300.0));
        source_between(&rates, 600.0, a * speed, b * speed) / ((b - a) * speed)
    };
    let scale = 200.0 / (0..=300).map(|k| source_at(k as f64)).fold(0.0, f64::max);
    let curve: Vec<f64> = (0..=300).map(|k| source_at(k as f64) * scale).collect();
    let tolerance = 10.0 + 0.01; // (rates are written to 0.01/s)
    for (k, expected) in curve.iter().enumerate().skip(1) {
        let planned = planned_at(&phases, k as f64);
        assert!(
            (planned - expected).abs() <= tolerance,
            "at {k} s the plan is {planned:.2}/s, the curve {expected:.2}/s"
        );
    }
    // The fewest phases: no two neighbours (after the first step) could be
    // one line within the tolerance.
    let mut start = phases[0].duration;
    for i in 1..phases.len() - 1 {
        let (from, to) = (start, start + phases[i].duration + phases[i + 1].duration);
        let (v0, v1) = (phases[i - 1].rate, phases[i + 1].rate);
        let merged_fits = (from as usize..=to as usize)
            .all(|k| (v0 + (v1 - v0) * (k as f64 - from) / (to - from) - curve[k]).abs() <= 10.0);
        assert!(
            !merged_fits,
            "phases {} and {} could be one: the fit is not the fewest",
            i + 1,
            i + 2
        );
        start += phases[i].duration;
    }
    assert!(
        phases.len() < 60,
        "{} phases for a week at 5%",
        phases.len()
    );

    // Played against the shop: its arrivals per 5 s follow the source.
    // At most 200 requests/s, about 65 on average: lighter than the
    // neighbour every test must bear, so it takes no turn and holds up none.
    let shop = Shop::start_in_the_background();
    Loadgen::run(&tag, files.config(), &shop.host())
        .run_time("300s")
        .report(&files.path("report"))
        .limit(Duration::from_secs(420))
        .success();
    let log = shop.requests();
    let first = log.iter().map(|r| r.arrived).fold(f64::INFINITY, f64::min);
    let mut at_shop = vec![0.0; 60];
    for r in &log {
        let bin = ((r.arrived - first) / 5.0) as usize;
        if bin < 60 {
            at_shop[bin] += 1.0;
        }
    }
    let source: Vec<f64> = (0..60)
        .map(|j| {
            source_between(
                &rates,
                600.0,
                j as f64 * 5.0 * speed,
                (j + 1) as f64 * 5.0 * speed,
            )
        })
        .collect();
    let r = correlation(&at_shop, &source);
    let total = log.len() as f64;
    let planned = planned_total(&phases);
    eprintln!("shape week: {} phases, correlation {r:.4}, {total} requests at the shop for {planned:.0} planned", phases.len());
    assert!(
        r >= 0.98,
        "the shop's arrivals per 5 s correlate with the source at {r:.4}"
    );
    assert!(
        (total - planned).abs() / planned <= 0.02,
        "{total} requests at the shop, {planned:.0} planned"
    );

    // report.html, in a browser: the rate chart draws the planned rate beside
    // the delivered one, through every phase.
    if webdriver::available() {
        let browser = webdriver::Browser::start();
        browser.open(&format!(
            "file://{}",
            files.path("report/report.html").display()
        ));
        let drawn = browser.eval(
            "const svg = document.querySelector('svg[data-kind=rate]');\
             const legend = [...svg.closest('figure').querySelectorAll('.legend .key')].map(k => k.textContent);\
             const planned = [...svg.querySelectorAll('path.target')].map(p => p.getAttribute('d').split('L').length);\
             return {legend, planned};",
        );
        let legend = drawn["legend"].to_string();
        assert!(
            legend.contains("requests/s") && legend.contains("planned iterations/s"),
            "{drawn}"
        );
        let points: u64 = drawn["planned"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_u64())
            .sum();
        assert!(
            points as usize >= phases.len(),
            "the planned line has {points} points for {} phases: {drawn}",
            phases.len()
        );
    }
}
