//! End to end: thresholds per run and per phase, exit codes, --fail-fast, the
//! config's own thresholds, JUnit, and bad expressions. Latency thresholds fail
//! for real against a slow target.

use crate::common;

use std::time::Duration;

use common::*;

fn named_phase(name: &str, duration: u32, users: u32, extra: &str) -> String {
    phase(duration, users, 100, &[("A", 1, 100, 100)]).replacen(
        "phases {\n",
        &format!("phases {{\n  name: \"{name}\"\n{extra}"),
        1,
    )
}

/// Runs `files` against `host` with `args`: the exit code, stdout and stderr.
fn judge(files: &LoadFiles, host: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Loadgen::run(&tag("verdict"), files.config(), host)
        .args(args)
        .limit(Duration::from_secs(120))
        .output();
    (out.code(), out.stdout(), out.stderr())
}

#[test]
fn phase_and_run_thresholds_judge_a_slow_target_and_junit_says_so() {
    // The target answers in 200 ms: the holiday's p95 threshold fails, every
    // other one holds; two loops, so the holiday is judged twice.
    let shop = Shop::start_slow("200");
    let config = [
        "fail_if: \"requests < 1\"\n".to_string(),
        named_phase("quiet", 3, 2, ""),
        named_phase("holiday", 3, 3, "  fail_if: \"p50 > 5s\"\n"),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let report = files.path("report");
    // Inside the report directory, which does not exist yet (as the Kubernetes Job does it).
    let junit = report.join("junit.xml");
    let (code, stdout, stderr) = judge(
        &files,
        &shop.host(),
        &[
            "--run-time",
            "12s",
            "--fail-if",
            "phase holiday: p95 > 100ms",
            "--fail-if",
            "phase 1: rps < 1",
            "--fail-if",
            "failures > 0%",
            "--fail-if",
            "p50 < 150ms",
            "--report",
            report.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(3), "{stderr}");
    // Live, when each holiday ends.
    assert!(
        stderr.contains("threshold phase 2 holiday (loop 1): p95 2"),
        "{stderr}"
    );
    assert!(stderr.contains("> 100 ms: FAILED"), "{stderr}");
    assert!(
        stderr.contains("threshold phase 2 holiday (loop 2)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("FAIL") && stdout.contains("PASS"),
        "{stdout}"
    );

    let summary = json(&report.join("summary.json"));
    assert_eq!(summary["schema_version"], 7);
    let results = summary["thresholds"].as_array().unwrap();
    let of = |expr: &str| -> Vec<&serde_json::Value> {
        results.iter().filter(|r| r["expr"] == expr).collect()
    };
    let holiday = of("phase holiday: p95 > 100ms");
    assert_eq!(holiday.len(), 2, "one per holiday occurrence: {results:#?}");
    for h in &holiday {
        assert_eq!(h["passed"], false);
        // The target's own latency is 200 ms: what was measured is at least that.
        assert!(h["value"].as_f64().unwrap() >= 200.0, "{h}");
        let index = h["occurrence"].as_u64().unwrap() as usize;
        assert_eq!(summary["phases"][index]["name"], "holiday");
    }
    assert_eq!(of("phase 1: rps < 1").len(), 2);
    assert!(of("phase 1: rps < 1").iter().all(|r| r["passed"] == true));
    assert_eq!(of("p50 > 5s").len(), 2, "the config's phase threshold");
    assert_eq!(
        of("requests < 1")[0]["passed"],
        true,
        "the config's run threshold"
    );
    assert_eq!(of("failures > 0%")[0]["passed"], true);
    assert_eq!(of("p50 < 150ms")[0]["passed"], true);

    // A real JUnit parser reads the file: one case per result, the failures marked.
    let file = std::fs::File::open(&junit).expect("junit.xml written");
    let suites = junit_parser::from_reader(std::io::BufReader::new(file)).expect("valid JUnit");
    let cases: Vec<_> = suites.suites.iter().flat_map(|s| &s.cases).collect();
    assert_eq!(cases.len(), results.len());
    let failed: Vec<_> = cases.iter().filter(|c| c.status.is_failure()).collect();
    assert_eq!(failed.len(), 2, "{cases:#?}");
    assert!(
        failed.iter().all(|c| c.name.contains("holiday")),
        "{failed:#?}"
    );

    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("FAILED: 2 of"), "no verdict box");
}

#[test]
fn fail_fast_stops_at_the_first_failed_threshold() {
    let shop = Shop::start_slow("150");
    let config = [
        named_phase("warmup", 3, 2, ""),
        named_phase("long", 30, 2, ""),
    ]
    .concat();
    let files = LoadFiles::new(&config, &tagging_template(&["A"]));
    let (code, _, stderr) = judge(
        &files,
        &shop.host(),
        &[
            "--run-time",
            "33s",
            "--fail-if",
            "phase warmup: p95 > 50ms",
            "--fail-fast",
        ],
    );
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("stopped early"), "{stderr}");
    // The server saw the load stop right after phase 1, not 30 s later.
    let log = shop.requests();
    let span = log.last().unwrap().t - log.first().unwrap().t;
    assert!(span < 6.0, "requests went on for {span:.1} s");
}

#[test]
fn failures_errors_and_no_requests_decide_the_exit_code() {
    let shop = Shop::start();
    // A's requests succeed; E's task raises in the users' code.
    let template = tagging_template(&["A"]).replace(
        "\n{{.Users}}",
        "\nclass EUserBehavior(TaskSet):\n    @task\n    def broken(self):\n        raise ValueError(\"boom\")\n\n{{.Users}}",
    );
    let mixed = phase(3, 4, 100, &[("A", 1, 100, 100), ("E", 1, 100, 100)]);
    let files = LoadFiles::new(&mixed, &template);
    let (code, _, stderr) = judge(&files, &shop.host(), &["--run-time", "3s"]);
    assert_eq!(
        code,
        Some(1),
        "errors fail a run without thresholds: {stderr}"
    );
    assert!(stderr.contains("errors in the users' code"), "{stderr}");
    let (code, _, stderr) = judge(
        &files,
        &shop.host(),
        &["--run-time", "3s", "--exit-code-on-error", "0"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _, stderr) = judge(
        &files,
        &shop.host(),
        &["--run-time", "3s", "--fail-if", "errors > 10%"],
    );
    assert_eq!(code, Some(3), "{stderr}");
    let (code, _, stderr) = judge(
        &files,
        &shop.host(),
        &["--run-time", "3s", "--fail-if", "p99 > 5s"],
    );
    assert_eq!(code, Some(0), "thresholds decide instead: {stderr}");

    // Only E: no request at all is never a pass.
    let only_errors = LoadFiles::new(&phase(3, 2, 100, &[("E", 1, 100, 100)]), &template);
    let (code, _, stderr) = judge(
        &only_errors,
        &shop.host(),
        &["--run-time", "3s", "--fail-if", "p99 > 5s"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("made no request"), "{stderr}");
}

#[test]
fn bad_thresholds_are_refused_with_a_caret() {
    let files = LoadFiles::new(&named_phase("quiet", 3, 2, ""), &tagging_template(&["A"]));
    let refused = |expr: &str| {
        let (code, _, stderr) = judge(
            &files,
            "http://127.0.0.1:9",
            &["--run-time", "3s", "--fail-if", expr],
        );
        assert_eq!(code, Some(2), "{expr}: {stderr}");
        stderr
    };
    let stderr = refused("p95 >> 5ms");
    assert!(stderr.contains("expected one of > >= < <="), "{stderr}");
    assert!(
        stderr.contains("  --fail-if p95 >> 5ms\n                ^^\n"),
        "{stderr}"
    );
    assert!(refused("p96 > 5ms").contains("unknown metric `p96`"));
    assert!(refused("phase 9: p95 > 1s").contains("there is no phase 9"));
    assert!(refused("phase busy: p95 > 1s").contains("the phases are named quiet"));
    assert!(refused("rps > 5%").contains("takes a plain number"));
    // A rate phase's metrics, in a load without one: nothing to measure.
    assert!(refused("p99_intended > 1s").contains("no phase of the load is a rate phase"));
    assert!(refused("phase quiet: dropped > 0").contains("phase 1 is no rate phase"));
    assert!(refused("dropped > 5ms").contains("share of the rate's iterations"));

    // In the config: located like every other config error.
    let config = "fail_if: \"p95 > fast\"\n".to_string()
        + &named_phase("quiet", 3, 2, "  fail_if: \"phase 1: p95 > 1s\"\n")
        + &named_phase("quiet", 3, 2, "")
        + &named_phase("99", 3, 2, "");
    let bad = LoadFiles::new(&config, &tagging_template(&["A"]));
    let out = loadgen(&tag("verdict"))
        .arg("check")
        .arg("--config-file")
        .arg(bad.config())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("load.pbtxt:1:17: error: fail_if: expected a number"),
        "{stderr}"
    );
    assert!(stderr.contains("takes no `phase ...:`"), "{stderr}");
    assert!(
        stderr.contains("two phases are named \"quiet\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("the phase name \"99\" is not a plain name"),
        "{stderr}"
    );
}
