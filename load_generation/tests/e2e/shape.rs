//! `loadgen shape`: recorded traffic made into rate phases. Judged by what the
//! test computes itself from the input it wrote (the compressed curve, the
//! per-type counts), by the written load.pbtxt read as a user would, and, for
//! a replayed week, by the demo shop's own arrivals.

use crate::common;
use common::*;

/// One phase as written: duration, rate, ramp, `(type, ratio)`.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub duration: f64,
    pub rate: f64,
    pub ramp: f64,
    pub types: Vec<(String, f64)>,
}

/// The phases of a shaped load.pbtxt, read from its text.
pub(crate) fn phases_of(text: &str) -> Vec<Written> {
    let mut out: Vec<Written> = Vec::new();
    for line in text.lines().map(str::trim) {
        let number = |key: &str| {
            line.strip_prefix(key)
                .map(|v| v.trim().parse::<f64>().expect("a number"))
        };
        if line == "phases {" {
            out.push(Written {
                duration: 0.0,
                rate: 0.0,
                ramp: 0.0,
                types: Vec::new(),
            });
        } else if let Some(v) = number("duration:") {
            out.last_mut().unwrap().duration = v;
        } else if let Some(v) = number("requests_per_s:") {
            out.last_mut().unwrap().rate = v;
        } else if let Some(v) = number("rate_ramp_s:") {
            out.last_mut().unwrap().ramp = v;
        } else if let Some(rest) = line.strip_prefix("user_types { name: \"") {
            let (name, rest) = rest.split_once('"').unwrap();
            let ratio: f64 = rest
                .trim()
                .trim_start_matches("ratio:")
                .trim_end_matches('}')
                .trim()
                .parse()
                .unwrap();
            out.last_mut()
                .unwrap()
                .types
                .push((name.to_string(), ratio));
        }
    }
    out
}

/// The planned rate at time `t` of the run, as the phases play it: each ramps
/// in a line from the rate before it over its `rate_ramp_s`.
pub(crate) fn planned_at(phases: &[Written], t: f64) -> f64 {
    let (mut start, mut before) = (0.0, 0.0);
    for p in phases {
        if t < start + p.duration {
            let into = t - start;
            return if p.ramp > 0.0 && into < p.ramp {
                before + (p.rate - before) * into / p.ramp
            } else {
                p.rate
            };
        }
        start += p.duration;
        before = p.rate;
    }
    before
}

pub(crate) fn planned_total(phases: &[Written]) -> f64 {
    let mut before = 0.0;
    phases
        .iter()
        .map(|p| {
            let n = if p.ramp > 0.0 {
                (before + p.rate) / 2.0 * p.ramp + p.rate * (p.duration - p.ramp)
            } else {
                p.rate * p.duration
            };
            before = p.rate;
            n
        })
        .sum()
}

pub(crate) fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Three days of a Combined Log Format access log from servers in two time
/// zones, three path families and some lines that are not log lines; with the
/// requests per (UTC hour, family) as counted while writing it.
fn access_log() -> (
    String,
    std::collections::BTreeMap<(u64, &'static str), u64>,
    usize,
) {
    let start = 1_763_942_400u64; // 2025-11-24T00:00:00Z
    let mut counts = std::collections::BTreeMap::new();
    let mut log = String::new();
    let mut seed = 7u64;
    let mut lines = 0;
    for minute in 0..3 * 24 * 60u64 {
        let hour = (minute / 60) % 24;
        let n = 2 + (hour as f64 / 3.0) as u64 + minute % 3;
        for j in 0..n {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = start + minute * 60 + (seed >> 58);
            let (family, path) = match (seed >> 40) % 5 {
                0 | 1 => ("Browse", format!("/product/{}", seed % 97)),
                2 => ("Cart", "/cart".to_string()),
                3 => ("Cart", "/cart/checkout?x=1".to_string()),
                _ => ("Other", "/static/app.js".to_string()),
            };
            // Two servers: one writes +01:00, the other -05:00.
            let offset: i32 = if j % 2 == 0 { 3600 } else { -5 * 3600 };
            let local = chrono::DateTime::from_timestamp(t as i64, 0)
                .unwrap()
                .with_timezone(&chrono::FixedOffset::east_opt(offset).unwrap());
            log.push_str(&format!(
                "10.1.{}.{} - - [{}] \"GET {path} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11)\"\n",
                j % 200,
                minute % 250,
                local.format("%d/%b/%Y:%H:%M:%S %z"),
                100 + seed % 900
            ));
            lines += 1;
            *counts.entry(((t - start) / 3600, family)).or_insert(0) += 1;
        }
        if minute % 1000 == 17 {
            log.push_str("GET /health 200 (a probe's line, not the access log's format)\n");
            lines += 1;
        }
    }
    (log, counts, lines)
}

#[test]
fn an_access_log_in_two_time_zones_is_counted_per_type_as_written() {
    let (log, counts, lines) = access_log();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    std::fs::write(&path, &log).unwrap();
    let out = loadgen(&tag("shape-log"))
        .args(["shape", "log"])
        .arg(&path)
        .args([
            "--type",
            "Browse=^/product/",
            "--type",
            "Cart=^/cart",
            "--unmatched",
            "Other",
            "--bin",
            "1h",
            "--duration",
            "72s",
            "--series",
        ])
        .arg(dir.path().join("series.csv"))
        .arg("-o")
        .arg(dir.path().join("load.pbtxt"))
        .output()
        .unwrap();
    let said = text(&out.stderr);
    assert!(out.status.success(), "{said}");
    let bad = log.lines().filter(|l| l.starts_with("GET /health")).count();
    assert!(
        said.contains(&format!(
            "{bad} lines of {lines} not read as a log line (5 shown above) and left out"
        )),
        "{said}"
    );
    let first_bad = log
        .lines()
        .position(|l| l.starts_with("GET /health"))
        .unwrap()
        + 1;
    assert!(
        said.contains(&format!(
            "{}:{first_bad}:1: warning: no [time] in brackets",
            path.display()
        )),
        "{said}"
    );
    assert!(said.contains("2 time zones (+01:00, -05:00)"), "{said}");
    // The series as read, hour by hour and type by type, is the count made
    // while writing the log.
    let series = std::fs::read_to_string(dir.path().join("series.csv")).unwrap();
    let mut rows = series.lines();
    assert_eq!(rows.next(), Some("start,Browse,Cart,Other"));
    let mut hours = 0;
    for (hour, row) in rows.enumerate() {
        let fields: Vec<&str> = row.split(',').collect();
        for (i, family) in ["Browse", "Cart", "Other"].iter().enumerate() {
            let expected = counts.get(&(hour as u64, *family)).copied().unwrap_or(0);
            assert_eq!(
                fields[i + 1].parse::<u64>().unwrap(),
                expected,
                "hour {hour}, {family}: {row}"
            );
        }
        hours += 1;
    }
    assert_eq!(hours, 72);
    // The load is one `check` accepts, with the three types.
    let template = dir.path().join("t.tmpl");
    std::fs::write(&template, tagging_template(&["Browse", "Cart", "Other"])).unwrap();
    let check = loadgen(&tag("shape-log-check"))
        .args(["check", "--no-import", "--config-file"])
        .arg(dir.path().join("load.pbtxt"))
        .arg("--template")
        .arg(&template)
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stdout));
    assert!(text(&check.stdout).contains("Browse") && text(&check.stdout).contains("iterations/s"));
}

#[test]
fn three_series_by_handler_give_three_types_whose_ratios_follow_them() {
    // Two hours at 60 s steps; the mix moves from /product to /cart.
    let series = |f: &dyn Fn(f64) -> f64| -> Vec<serde_json::Value> {
        (0..=120)
            .map(|i| {
                serde_json::json!([
                    1_763_942_400 + i * 60,
                    format!("{:.4}", f(i as f64 / 120.0))
                ])
            })
            .collect()
    };
    let product = |x: f64| 30.0 * (1.0 - x) + 5.0;
    let cart = |x: f64| 25.0 * x + 5.0;
    let home = |_: f64| 10.0;
    let answer = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"handler": "/product", "job": "shop"}, "values": series(&product)},
        {"metric": {"handler": "/cart", "job": "shop"}, "values": series(&cart)},
        {"metric": {"handler": "/", "job": "shop"}, "values": series(&home)},
    ]}});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("answer.json"), answer.to_string()).unwrap();
    let out = loadgen(&tag("shape-prom"))
        .args(["shape", "prometheus"])
        .arg(dir.path().join("answer.json"))
        .args(["--duration", "60s", "--tolerance", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = text(&out.stdout);
    let phases = phases_of(&config);
    let mut end = 0.0;
    for p in &phases {
        end += p.duration;
        // The share each handler has where the phase ends (its rate there).
        let x = end / 60.0;
        let (a, b, c) = (product(x), cart(x), home(x));
        let sum = a + b + c;
        let ratio = |name: &str| {
            p.types
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0.0, |(_, r)| *r)
        };
        let total = ratio("Product") + ratio("Cart") + ratio("Root");
        for (name, share) in [("Product", a / sum), ("Cart", b / sum), ("Root", c / sum)] {
            assert!(
                (ratio(name) / total - share).abs() < 0.03,
                "at {end} s {name} has {} of {total}, the series {share:.3}:\n{config}",
                ratio(name)
            );
        }
    }
    assert!(phases.len() >= 2, "{config}");
}

/// `loadgen shape ARGS` on a file with `content`: (exit code, stderr).
fn shape_of(
    kind: &str,
    name: &str,
    content: &str,
    extra: &[&str],
) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    let out = loadgen(&tag("shape-bad"))
        .args(["shape", kind])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), text(&out.stderr), dir)
}

#[test]
fn bad_input_is_refused_at_its_place_with_what_was_expected() {
    let place = |dir: &tempfile::TempDir, name: &str| dir.path().join(name).display().to_string();
    // A value that is not a number, at its line and column.
    let (code, said, dir) = shape_of(
        "csv",
        "s.csv",
        "timestamp,value\n2025-11-24T00:00:00Z,5\n2025-11-24T00:10:00Z,five\n",
        &[],
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains(&format!(
            "{}:3:22: error: \"five\" in column `value` is not a count or a rate",
            place(&dir, "s.csv")
        )),
        "{said}"
    );
    // An unknown time form names the forms accepted.
    let (code, said, dir) = shape_of("csv", "s.csv", "timestamp,value\nMonday 9am,5\n", &[]);
    assert_eq!(code, Some(2));
    assert!(
        said.contains(&format!(
            "{}:2:1: error: \"Monday 9am\" is not a time",
            place(&dir, "s.csv")
        )),
        "{said}"
    );
    assert!(
        said.contains("ISO 8601")
            && said.contains("epoch seconds")
            && said.contains("27/Nov/2026:14:00:00 +0100"),
        "{said}"
    );
    // Empty and one-point series.
    let (code, said, _) = shape_of("csv", "s.csv", "timestamp,value\n", &[]);
    assert_eq!(code, Some(2));
    assert!(said.contains("no data point was found"), "{said}");
    let (code, said, _) = shape_of(
        "csv",
        "s.csv",
        "timestamp,value\n2025-11-24T00:00:00Z,5\n",
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(said.contains("only one data point (line 2)"), "{said}");
    // Gaps and rows out of order are said, and the load is still written.
    let (code, said, _) = shape_of(
        "csv",
        "s.csv",
        "t,v\n600,5\n0,5\n1200,6\n3000,9\n3600,9\n",
        &["--duration", "10s"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains("rows out of time order (first at line 3): sorted by time"),
        "{said}"
    );
    assert!(
        said.contains("1 gap in the series (the longest 2 intervals"),
        "{said}"
    );
    // A log with a bad line under --strict.
    let (code, said, dir) = shape_of("log", "a.log", "1.2.3.4 - - [24/Nov/2025:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n1.2.3.4 - - [24/Nov/2025:10:61:00 +0000] \"GET / HTTP/1.1\" 200 1\n", &["--strict"]);
    assert_eq!(code, Some(2));
    assert!(
        said.contains(&format!(
            "{}:2:14: error: the time is not in the access-log form",
            place(&dir, "a.log")
        )),
        "{said}"
    );
    // Broken JSON from Prometheus, at its line and column.
    let (code, said, dir) = shape_of(
        "prometheus",
        "p.json",
        "{\"status\":\"success\",\n\"data\":{\"resultType\":\"matrix\",\"result\":[}}",
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(
        said.contains(&format!(
            "{}:2:41: error: not a Prometheus answer: the JSON is broken",
            place(&dir, "p.json")
        )),
        "{said}"
    );
    // Flags that make no sense.
    let (code, said, _) = shape_of("csv", "s.csv", "t,v\n0,1\n60,2\n", &["--tolerance", "lots"]);
    assert_eq!(code, Some(2));
    assert!(said.contains("--tolerance \"lots\" is neither"), "{said}");
    let (code, said, _) = shape_of(
        "csv",
        "s.csv",
        "t,v\n0,1\n60,2\n",
        &["--user-type", "no way"],
    );
    assert_eq!(code, Some(2));
    assert!(said.contains("--user-type"), "{said}");
    assert!(!said.contains("panicked") && !said.contains("Traceback"));
}

#[test]
fn writing_to_a_link_or_a_pipe_keeps_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.csv"), "t,v\n0,1\n60,2\n120,3\n").unwrap();
    let shape_to = |out: &std::path::Path| {
        loadgen(&tag("shape-out"))
            .args(["shape", "csv"])
            .arg(dir.path().join("s.csv"))
            .args(["--duration", "10s", "-o"])
            .arg(out)
            .output()
            .unwrap()
    };
    // A link to the load: written through, and still a link.
    let link = dir.path().join("load.pbtxt");
    std::os::unix::fs::symlink("real.pbtxt", &link).unwrap();
    let out = shape_to(&link);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(dir.path().join("real.pbtxt"))
        .unwrap()
        .contains("phases {"));
    // A pipe (as /dev/null or /dev/stdout would be): written into, still a pipe.
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let out = shape_to(&fifo);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(reader.join().unwrap().contains("phases {"));
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}
