//! End to end: `loadgen check` and `loadgen render` on real files.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

const HIPSTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../applications/hipster_shop/load_generation/load.pbtxt"
);

/// Runs `check` on a load that must be refused as bad input; its stderr.
fn check_fails(files: &LoadFiles) -> String {
    let out = Command::new(BIN)
        .arg("check")
        .arg("--config_file")
        .arg(files.config())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn check_prints_the_plan_of_the_hipster_load() {
    let out = Command::new(BIN)
        .args(["check", "--config_file", HIPSTER])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("3 phases, one loop every 1m20s, 300 users at the peak"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Normal 67 (ratio 1, wait 1000 ms), Weekend 133 (ratio 2, wait 1000 ms)"),
        "{stdout}"
    );
    assert!(stdout.contains("Holiday 225"), "{stdout}");
}

#[test]
fn config_and_template_errors_come_in_one_report() {
    // A misspelt field, a semantic error, and a template with an old API and no
    // marker: one run of `check` lists them all.
    let files = LoadFiles::new(
        "phases {\n  duration: 0\n  num_users: 5\n  hatch_rate_per_s: 1\n  user_types { name: \"A\" ratio: 1 min_wait: 10 }\n}\n",
        "from locust import TaskSet\n\nclass AUserBehavior(TaskSet):\n    hatch_rate = 5\n",
    );
    let stderr = check_fails(&files);
    for expected in [
        "load.pbtxt:2:13: error: phase 1: `duration` is 0",
        "load.pbtxt:5:35: error: unknown field `min_wait`",
        "did you mean `min_wait_ms`?",
        "locustfile.loadgen.tmpl:4:5: error: the template uses `hatch_rate`",
        "locustfile.loadgen.tmpl: error: the template has no `{{.Users}}` marker",
        "4 errors",
    ] {
        assert!(stderr.contains(expected), "{expected:?} not in\n{stderr}");
    }
}

#[test]
fn check_reports_every_error_with_its_position() {
    let files = LoadFiles::new(
        "phases {\n  duration: 0\n  num_users: 5\n  hatch_rate_per_s: 1\n  user_types { name: \"Normal\" ratio: 1 min_wait_ms: 10 max_wait_ms: 5 }\n}\n",
        &tagging_template(&["Normal"]),
    );
    let out = Command::new(BIN)
        .arg("check")
        .arg("--config-file")
        .arg(files.config())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let config = files.config().display().to_string();
    assert!(
        stderr.contains(&format!("{config}:2:13: error: phase 1: `duration` is 0")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{config}:5:53: error: phase 1: `min_wait_ms` (10)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn check_lists_missing_behaviours_and_old_locust_apis() {
    // Locust 0.x names that translate (HttpLocust, min_wait) are no error; the
    // ones that don't are, at their place.
    let files = LoadFiles::new(
        &phase(5, 2, 1, &[("A", 1, 0, 0), ("B", 1, 0, 0)]),
        "from locust import HttpLocust, TaskSet, events\n\nclass AUserBehavior(TaskSet):\n    min_wait = 5\n\nevents.hatch_complete += print\nhatch_rate = 5\n{{.Users}}\n",
    );
    let stderr = check_fails(&files);
    assert!(!stderr.contains("`HttpLocust`"), "{stderr}");
    assert!(!stderr.contains("`min_wait`"), "{stderr}");
    // hatch_complete runs as spawning_complete: no error.
    assert!(!stderr.contains("`hatch_complete`"), "{stderr}");
    assert!(
        stderr.contains("locustfile.loadgen.tmpl:7:1: error: the template uses `hatch_rate`"),
        "{stderr}"
    );
    assert!(stderr.contains("spawn_rate"), "{stderr}");
    assert!(
        stderr.contains("the template has no `class BUserBehavior(TaskSet)`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("load.pbtxt:6:"),
        "the config line asking for B: {stderr}"
    );
}

#[test]
fn render_writes_locustfiles_that_python_compiles() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "render",
            "--config_file",
            HIPSTER,
            "--user-class",
            "fast",
            "--out",
        ])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut files: Vec<_> = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    for file in &files {
        let compiled = Command::new("python3")
            .args(["-m", "py_compile"])
            .arg(file)
            .output()
            .unwrap();
        assert!(
            compiled.status.success(),
            "{}: {}",
            file.display(),
            text(&compiled.stderr)
        );
    }
    let phase3 = std::fs::read_to_string(out_dir.path().join("locustfile.phase3.py")).unwrap();
    assert!(phase3.contains("class HolidayUser(FastHttpUser):\n    weight = 3\n    tasks = [HolidayUserBehavior]\n    wait_time = between(1.0, 1.0)\n"));
    assert!(!phase3.contains("\nclass WeekendUser("));
}

#[test]
fn the_original_invocation_without_a_subcommand_runs() {
    // No host: the run is refused before Locust starts, with what to do.
    let out = Command::new(BIN)
        .args(["--config_file", HIPSTER, "--run_time", "5s"])
        .env_remove("PL_HOST")
        .env_remove("FRONTEND_ADDR")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no target: pass --host"), "{stderr}");
    let out = Command::new(BIN)
        .args(["--config_file", HIPSTER, "--run_time", "0s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("must be longer than 0"));
}

#[test]
fn the_container_invocation_takes_everything_from_the_environment() {
    // The image runs plain `loadgen run` with PL_CONFIG_FILE, and the hipster
    // shop's deployment sets FRONTEND_ADDR; PL_RUN_TIME bounds the run.
    let shop = Shop::start();
    let files = LoadFiles::new(
        &phase(30, 3, 10, &[("A", 1, 200, 200)]),
        &tagging_template(&["A"]),
    );
    // No flags, so not `Loadgen::run` (which passes the config and host as flags).
    let tag = tag("envrun");
    let mut run = Loadgen::command(&tag, ["run"])
        .env("PL_CONFIG_FILE", files.config())
        .env("FRONTEND_ADDR", format!("127.0.0.1:{}", shop.port))
        .env("PL_RUN_TIME", "3s")
        .limit(Duration::from_secs(60));
    run.command_mut().env_remove("PL_HOST");
    let out = run.success();
    let (stderr, took) = (out.stderr(), out.elapsed);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(shop.total_requests() >= 10, "{stderr}");
    // PL_HOST, when set, wins over FRONTEND_ADDR.
    let out = Loadgen::command(&tag, ["run"])
        .env("PL_CONFIG_FILE", files.config())
        .env("PL_HOST", "ftp://nowhere")
        .env("FRONTEND_ADDR", format!("127.0.0.1:{}", shop.port))
        .env("PL_RUN_TIME", "3s")
        .limit(Duration::from_secs(60))
        .output();
    let stderr = out.stderr();
    assert_eq!(out.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "--host \"ftp://nowhere\" must start with http:// or https://, e.g. http://nowhere"
        ),
        "{stderr}"
    );
}

/// An executable shell script in `dir`.
fn script(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_locust_1_installation_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let python = script(dir.path(), "python3", "echo 1.4.3");
    let out = Command::new(BIN)
        .args(["locust", "--locust"])
        .arg(&python)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "loadgen needs Locust 2.x, but {} has Locust 1.4.3: run `{} -m pip install locust==2.47.0`",
            python.display(),
            python.display()
        )),
        "{stderr}"
    );
}

#[test]
fn an_untested_locust_is_refused_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let python = script(dir.path(), "python3", "echo 2.20.0");
    let locust = |allow: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["locust", "--locust"]).arg(&python);
        if allow {
            cmd.env("LOADGEN_ALLOW_UNTESTED_LOCUST", "1");
        } else {
            cmd.env_remove("LOADGEN_ALLOW_UNTESTED_LOCUST");
        }
        cmd.output().unwrap()
    };
    let out = locust(false);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "loadgen is tested with Locust 2.47.0 only, but {} has Locust 2.20.0: run `{} -m pip install locust==2.47.0`, or set LOADGEN_ALLOW_UNTESTED_LOCUST=1",
            python.display(),
            python.display()
        )),
        "{stderr}"
    );
    let out = locust(true);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("2.20.0"), "{stdout}");
    assert!(
        stderr.contains("not a version loadgen is tested with"),
        "{stderr}"
    );
}

#[test]
fn without_locust_or_python_the_error_says_what_to_install() {
    // An empty PATH (no locust, no python3) and an empty cache directory.
    let dir = tempfile::tempdir().unwrap();
    let empty_path = dir.path().join("bin");
    std::fs::create_dir(&empty_path).unwrap();
    let out = Command::new(BIN)
        .arg("locust")
        .env_remove("LOADGEN_LOCUST")
        .env("PATH", &empty_path)
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Locust is not installed and no Python was found to install it: install Python 3.10 or newer"),
        "{stderr}"
    );
}
