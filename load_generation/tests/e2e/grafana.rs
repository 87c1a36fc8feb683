//! The Grafana dashboard, `deploy/grafana/loadgen.json`, against what loadgen
//! really serves. The dashboard is read as Grafana imports it, every PromQL
//! expression in it is collected (panels, rows' panels, template variables,
//! annotations), and a real run with `--metrics-addr` against the demo shop is
//! scraped near its end: every `loadgen_*` name an expression uses must be one
//! the run served, and every label it matches on or groups by one that the
//! served series carry. A renamed metric or label fails here, not on a blank
//! panel in someone's Grafana.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Labels Prometheus attaches to every series it scrapes (the target's): the
/// dashboard's `$job` and `$instance` select on them; loadgen does not serve them.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// The metrics the dashboard must show, whatever else it does.
const SHOWN: [&str; 15] = [
    "loadgen_phase",
    "loadgen_loop",
    "loadgen_users_target",
    "loadgen_users_actual",
    "loadgen_requests_total",
    "loadgen_failures_total",
    "loadgen_request_duration_seconds_bucket",
    "loadgen_planned_requests_per_second",
    "loadgen_dropped_iterations_total",
    "loadgen_threshold_passed",
    "loadgen_saturated",
    "loadgen_short",
    "loadgen_paused",
    "loadgen_workers",
    "loadgen_errors_total",
];

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/loadgen.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()))
}

/// Every panel, rows' nested panels (a collapsed row keeps its own) included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Checks the dashboard's shape (what Grafana needs to import it, with the
/// data source as a variable); returns every PromQL expression with where it is.
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    assert_eq!(dashboard["title"], "loadgen");
    assert_eq!(dashboard["uid"], "loadgen");
    assert_eq!(dashboard["schemaVersion"], 39);
    let variable = json!({"type": "prometheus", "uid": "${datasource}"});
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    assert!(
        variables.iter().any(|v| v["name"] == "datasource"
            && v["type"] == "datasource"
            && v["query"] == "prometheus"),
        "no data source variable `datasource` of type prometheus: {variables:#?}"
    );

    let mut exprs = Vec::new();
    let mut ids = BTreeSet::new();
    let all = panels(dashboard);
    assert!(all.len() > 10, "too few panels: {}", all.len());
    for panel in all {
        let title = panel["title"].as_str().expect("every panel has a title");
        let id = panel["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} ({title}) is used twice");
        let at = &panel["gridPos"];
        let (x, w) = (at["x"].as_u64(), at["w"].as_u64());
        assert!(
            matches!((x, w), (Some(x), Some(w)) if w > 0 && x + w <= 24)
                && at["h"].as_u64() > Some(0),
            "{title}: gridPos {at} is not on Grafana's 24-column grid"
        );
        if panel["type"] == "row" {
            // A row holds no query; an open row's panels follow it at the top
            // level, only a collapsed one keeps them.
            assert!(panel.get("targets").is_none(), "row {title} has queries");
            let nested = panel["panels"].as_array().map_or(0, Vec::len);
            assert_eq!(
                nested > 0,
                panel["collapsed"] == true,
                "row {title}: nested panels only in a collapsed row"
            );
            continue;
        }
        assert_eq!(
            panel["datasource"], variable,
            "{title}: its data source is not the variable"
        );
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            let reference = target["refId"].as_str().unwrap_or("?");
            assert_eq!(
                target["datasource"], variable,
                "{title} {reference}: its data source is not the variable"
            );
            let expr = target["expr"]
                .as_str()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| panic!("{title} {reference} has no expr"));
            // Response times over time carry exemplars: the sampled
            // requests' trace ids (only a time series draws them).
            if panel["type"] == "timeseries" && expr.contains("loadgen_request_duration_seconds") {
                assert_eq!(
                    target["exemplar"], true,
                    "{title} {reference}: exemplars are off"
                );
            }
            exprs.push((format!("panel \"{title}\" {reference}"), expr.to_string()));
        }
    }
    for v in variables.iter().filter(|v| v["type"] == "query") {
        let name = v["name"].as_str().unwrap_or("?");
        assert_eq!(v["datasource"], variable, "variable {name}");
        // A string in older dashboards, an object in newer ones.
        let query = v["query"]["query"].as_str().or(v["query"].as_str());
        let query = query.unwrap_or_else(|| panic!("variable {name} has no query"));
        exprs.push((format!("variable ${name}"), query.to_string()));
    }
    let annotations = dashboard["annotations"]["list"].as_array();
    for a in annotations.into_iter().flatten() {
        if let Some(expr) = a["expr"].as_str() {
            let name = a["name"].as_str().unwrap_or("?");
            assert_eq!(a["datasource"], variable, "annotation {name}");
            exprs.push((format!("annotation \"{name}\""), expr.to_string()));
        }
    }
    exprs
}

/// One PromQL token: what the checks need to tell apart.
#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    /// A name: a metric, a function, a label, a keyword.
    Ident(&'a str),
    /// A string literal (its content is nobody's name).
    Str,
    /// Anything else, one character at a time (numbers and durations skipped).
    Punct(char),
}

fn tokens(expr: &str) -> Vec<Token<'_>> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphabetic() || b == b'_' || b == b':' {
            let start = i;
            while i < bytes.len() && ident(bytes[i]) {
                i += 1;
            }
            out.push(Token::Ident(&expr[start..i]));
        } else if b.is_ascii_digit() {
            // 0.95, 1m, 1e3: no name starts with a digit.
            while i < bytes.len() && (ident(bytes[i]) || bytes[i] == b'.') {
                i += 1;
            }
        } else if matches!(b, b'"' | b'\'' | b'`') {
            i += 1;
            while i < bytes.len() && bytes[i] != b {
                i += if bytes[i] == b'\\' && b != b'`' { 2 } else { 1 };
            }
            i += 1;
            out.push(Token::Str);
        } else {
            if !b.is_ascii_whitespace() {
                out.push(Token::Punct(b as char));
            }
            i += 1;
        }
    }
    out
}

/// What an expression asks of the served metrics.
#[derive(Debug, Default)]
struct Uses {
    /// `loadgen_*` metric names.
    metrics: BTreeSet<String>,
    /// (metric, label): a label matcher on a `loadgen_*` selector, or the
    /// label `label_values(metric, label)` lists.
    matchers: BTreeSet<(String, String)>,
    /// Labels grouped by: `by`, `without`, `on`, `ignoring`.
    grouping: BTreeSet<String>,
}

fn uses(expr: &str) -> Uses {
    let t = tokens(expr);
    let mut uses = Uses::default();
    let mut i = 0;
    while i < t.len() {
        match t[i] {
            Token::Ident(name) if name.starts_with("loadgen_") => {
                uses.metrics.insert(name.to_string());
                if t.get(i + 1) == Some(&Token::Punct('{')) {
                    // label op "value", ...
                    let mut j = i + 2;
                    let mut expect_label = true;
                    while j < t.len() && t[j] != Token::Punct('}') {
                        match t[j] {
                            Token::Ident(label) if expect_label => {
                                uses.matchers.insert((name.to_string(), label.to_string()));
                                expect_label = false;
                            }
                            Token::Punct(',') => expect_label = true,
                            _ => {}
                        }
                        j += 1;
                    }
                    i = j;
                }
            }
            Token::Ident("by" | "without" | "on" | "ignoring")
                if t.get(i + 1) == Some(&Token::Punct('(')) =>
            {
                let mut j = i + 2;
                while j < t.len() && t[j] != Token::Punct(')') {
                    if let Token::Ident(label) = t[j] {
                        uses.grouping.insert(label.to_string());
                    }
                    j += 1;
                }
                i = j;
            }
            Token::Ident("label_values") if t.get(i + 1) == Some(&Token::Punct('(')) => {
                // label_values(loadgen_x{...}, label): the last name before `)`.
                let metric = match t.get(i + 2) {
                    Some(Token::Ident(m)) if m.starts_with("loadgen_") => Some(*m),
                    _ => None,
                };
                let close = (i..t.len()).find(|&j| t[j] == Token::Punct(')'));
                if let (Some(metric), Some(close)) = (metric, close) {
                    if let Token::Ident(label) = t[close - 1] {
                        uses.matchers
                            .insert((metric.to_string(), label.to_string()));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    uses
}

/// What a scrape served: each sample's name (a histogram's `_bucket`, `_sum`
/// and `_count`, a counter's `_total`) with the label names its samples carry.
type Served = BTreeMap<String, BTreeSet<String>>;

/// Reads OpenMetrics text: sample lines are `name{label="value",...} value`,
/// perhaps followed by ` # {exemplar labels} value` (not the series' labels).
fn served(text: &str) -> Served {
    let mut served = Served::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = served.entry(line[..end].to_string()).or_default();
        let Some(rest) = line[end..].strip_prefix('{') else {
            continue;
        };
        let mut chars = rest.chars();
        'labels: loop {
            let mut label = String::new();
            for c in chars.by_ref() {
                match c {
                    '}' => break 'labels,
                    ',' | ' ' if label.is_empty() => {}
                    '=' => break,
                    c => label.push(c),
                }
            }
            assert_eq!(chars.next(), Some('"'), "a label value unquoted: {line}");
            let mut escaped = false;
            for c in chars.by_ref() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => break,
                    _ => {}
                }
            }
            labels.insert(label);
        }
    }
    served
}

/// What is wrong with `expr` against `served` (nothing: empty).
fn problems(expr: &str, served: &Served) -> Vec<String> {
    let uses = uses(expr);
    let mut problems = Vec::new();
    if uses.metrics.is_empty() {
        problems.push("uses no loadgen metric".to_string());
    }
    for metric in &uses.metrics {
        if !served.contains_key(metric) {
            problems.push(format!("{metric} is not served"));
        }
    }
    for (metric, label) in &uses.matchers {
        if TARGET_LABELS.contains(&label.as_str()) {
            continue;
        }
        if let Some(labels) = served.get(metric) {
            if !labels.contains(label) {
                problems.push(format!("{metric} has no label {label} (it has {labels:?})"));
            }
        }
    }
    for label in &uses.grouping {
        let carried = uses
            .metrics
            .iter()
            .any(|m| served.get(m).is_some_and(|labels| labels.contains(label)));
        if !carried && !TARGET_LABELS.contains(&label.as_str()) {
            problems.push(format!("grouped by {label}, which none of its metrics has"));
        }
    }
    problems
}

/// The checks themselves can fail: a misspelt name, a label the metric lacks,
/// grouping by a label of another metric, are each found; a name inside a
/// string is not taken for a metric; an exemplar's labels are not the series'.
fn the_checks_catch_what_they_should() {
    let sample = served(concat!(
        "# HELP loadgen_phase The running phase\n",
        "# TYPE loadgen_phase gauge\n",
        "loadgen_phase 2\n",
        "loadgen_requests_total{method=\"GET\",name=\"/a{b},\\\"c\\\" d=\\\"e\\\"\"} 3\n",
        "loadgen_users_actual{user_type=\"A\"} 1\n",
        "loadgen_request_duration_seconds_bucket{le=\"0.1\",method=\"GET\",name=\"/\"} 1 ",
        "# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.05 1700000000.0\n",
        "# EOF\n",
    ));
    let names: Vec<&str> = sample.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "loadgen_phase",
            "loadgen_request_duration_seconds_bucket",
            "loadgen_requests_total",
            "loadgen_users_actual"
        ]
    );
    let labels = |m: &str| -> Vec<&str> { sample[m].iter().map(String::as_str).collect() };
    assert_eq!(labels("loadgen_requests_total"), ["method", "name"]);
    assert_eq!(
        labels("loadgen_request_duration_seconds_bucket"),
        ["le", "method", "name"]
    );
    assert!(labels("loadgen_phase").is_empty());

    let misspelt = "sum(rate(loadgen_requets_total{job=~\"$job\"}[$__rate_interval]))";
    let found = uses(misspelt);
    assert!(
        found.metrics.contains("loadgen_requets_total"),
        "the misspelt name was not extracted: {found:?}"
    );
    assert_eq!(
        problems(misspelt, &sample),
        ["loadgen_requets_total is not served"]
    );
    assert_eq!(
        problems("max(loadgen_phase{user_type=\"A\"})", &sample),
        ["loadgen_phase has no label user_type (it has {})"]
    );
    assert_eq!(
        problems(
            "sum by (user_type) (rate(loadgen_requests_total[1m]))",
            &sample
        ),
        ["grouped by user_type, which none of its metrics has"]
    );
    assert_eq!(
        problems("label_values(loadgen_users_actual, method)", &sample),
        ["loadgen_users_actual has no label method (it has {\"user_type\"})"]
    );
    assert_eq!(
        problems("sum(rate(http_requests_total[1m]))", &sample),
        ["uses no loadgen metric"]
    );
    let good = "histogram_quantile(0.95, sum by (le, name) (rate(loadgen_request_duration_seconds_bucket{name!=\"loadgen_nothing\", job=~\"$job\"}[5m])))";
    assert_eq!(problems(good, &sample), Vec::<String>::new());
    assert_eq!(
        problems(
            "label_values(loadgen_users_actual{job=~\"$job\"}, user_type)",
            &sample
        ),
        Vec::<String>::new()
    );
}

/// The value of an unlabelled gauge in OpenMetrics text.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrapes `/metrics` every 200 ms until `done`: the last page served in phase
/// 2 (the run's last), and whether loadgen got its SIGHUP (sent in phase 1, so
/// a config reload is counted).
fn scrape(addr: &str, pid: u32, done: &AtomicBool) -> (Option<String>, bool) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut last = None;
    let mut hung_up = false;
    while !done.load(Ordering::SeqCst) {
        let page = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.text().ok());
        if let Some(page) = page {
            let phase = gauge(&page, "loadgen_phase");
            if phase == Some(1.0) && !hung_up {
                // The handler is in place before the run starts.
                signal(pid, libc::SIGHUP);
                hung_up = true;
            }
            if phase == Some(2.0) {
                last = Some(page);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (last, hung_up)
}

#[test]
fn the_dashboard_queries_only_what_loadgen_serves() {
    the_checks_catch_what_they_should();
    let exprs = expressions(&dashboard());
    let used: BTreeSet<String> = exprs.iter().flat_map(|(_, e)| uses(e).metrics).collect();
    for metric in SHOWN {
        assert!(used.contains(metric), "no panel shows {metric}");
    }

    // A phase of 2 users that wait 0.5-1 s, then a rate phase of 3 iterations/s
    // (so loadgen_dropped_iterations_total and the intended latency exist), on
    // 2 local workers (so loadgen_worker_users does), with a SIGHUP in phase 1
    // (so loadgen_config_reloads_total does). `failures > 50%` is judged at the
    // run's end, after the last scrape: its phase 1 twin, judged as phase 1
    // ends, gives loadgen_threshold_passed a series in phase 2.
    let shop = Shop::start();
    let config = phase(4, 2, 100, &[("A", 1, 500, 1000)])
        + "phases {\n  duration: 4\n  requests_per_s: 3\n  max_users: 3\n  user_types { name: \"A\" ratio: 1 }\n}\n";
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let addr = format!("127.0.0.1:{}", free_port());
    let tag = tag("grafana");
    let child = spawn_run(
        &tag,
        &files.config(),
        &shop.host(),
        &[
            "--run-time",
            "8s",
            "--workers",
            "2",
            "--metrics-addr",
            &addr,
            "--fail-if",
            "failures > 50%",
            "--fail-if",
            "phase 1: failures > 50%",
        ],
    );
    let pid = child.id();
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let (out, took, (page, hung_up)) = std::thread::scope(|s| {
        let scraper = s.spawn(|| scrape(&addr, pid, &done));
        let (out, took) = finish(child, Duration::from_secs(60));
        done.store(true, Ordering::SeqCst);
        (out, took, scraper.join().unwrap())
    });
    let stderr = text(&out.stderr);
    assert!(
        out.status.success(),
        "loadgen failed ({}) after {took:?}; stderr:\n{stderr}",
        out.status
    );
    assert!(
        wait_until_gone(&tag, Duration::from_secs(2)).is_empty(),
        "processes left behind"
    );
    assert!(hung_up, "loadgen never served phase 1; stderr:\n{stderr}");
    let page = page.unwrap_or_else(|| {
        panic!(
            "no scrape in phase 2 in {:?}; stderr:\n{stderr}",
            start.elapsed()
        )
    });
    let served = served(&page);

    // The run served what the dashboard is checked against.
    let expect = [
        ("loadgen_threshold_passed", &["expr", "scope"][..]),
        ("loadgen_dropped_iterations_total", &["user_type"]),
        ("loadgen_config_reloads_total", &["result"]),
        ("loadgen_worker_users", &["worker"]),
        (
            "loadgen_request_duration_seconds_bucket",
            &["le", "method", "name"],
        ),
        (
            "loadgen_request_intended_latency_seconds_bucket",
            &["le", "method", "name"],
        ),
    ];
    for (metric, labels) in expect {
        let has: Option<Vec<&str>> = served
            .get(metric)
            .map(|l| l.iter().map(String::as_str).collect());
        assert_eq!(
            has.as_deref(),
            Some(labels),
            "{metric} in the last scrape:\n{page}"
        );
    }

    let wrong: Vec<String> = exprs
        .iter()
        .flat_map(|(at, expr)| {
            problems(expr, &served)
                .into_iter()
                .map(move |p| format!("{at}: {p}\n    {expr}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the dashboard asks for what loadgen does not serve:\n{}\n\nserved: {served:#?}",
        wrong.join("\n")
    );
    eprintln!(
        "{} expressions over {} metrics, all served ({} names in the scrape)",
        exprs.len(),
        used.len(),
        served.len()
    );
}
