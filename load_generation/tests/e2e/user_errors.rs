//! End to end: an exception in the users' code can't hide. It is shown while the
//! run goes, at the template's file and line, once; counted everywhere; and a
//! run that made no request because of it fails.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const TYPO: &str = "from locust import TaskSet, task\n\n\nclass AUserBehavior(TaskSet):\n    @task\n    def index(self):\n        self.clinet.get(\"/\")\n\n{{.Users}}\n";

#[test]
fn a_typo_in_a_task_is_shown_live_at_the_template_line_and_fails_the_run() {
    let shop = Shop::start();
    let files = LoadFiles::new(&phase(60, 3, 100, &[("A", 1, 100, 100)]), TYPO);
    let report = files.path("report");
    let started = Instant::now();
    let mut run = Loadgen::run(&tag("typo"), files.config(), &shop.host())
        .run_time("6s")
        .report(&report);
    let mut child = run
        .command_mut()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let mut lines: Vec<(Duration, String)> = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        lines.push((started.elapsed(), line.unwrap_or_default()));
    }
    let status = child.wait().unwrap();
    let all: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();

    // Shown while the run went, seconds before its end, and only once.
    let shown: Vec<&(Duration, String)> = lines
        .iter()
        .filter(|(_, l)| l.contains("error in the users' code: AttributeError"))
        .collect();
    assert_eq!(shown.len(), 1, "{all}");
    assert!(
        shown[0].0 < Duration::from_secs(5),
        "shown only at {:?}: {all}",
        shown[0].0
    );
    // At the template's own line 7, not the generated file's.
    let template = files.path("locustfile.loadgen.tmpl");
    assert!(
        all.contains(&format!("File \"{}\", line 7", template.display())),
        "{all}"
    );
    // Counted live, and no request at all fails the run.
    assert!(all.contains("errors in the users' code"), "{all}");
    assert_eq!(status.code(), Some(1), "{all}");
    assert!(
        all.contains("the run made no request: the users' code raised"),
        "{all}"
    );
    assert_eq!(shop.total_requests(), 0);
    let summary = json(&report.join("summary.json"));
    assert!(
        summary["phases"][0]["errors_count"].as_u64().unwrap() > 10,
        "{summary}"
    );
}

#[test]
fn non_utf8_output_does_not_stop_loadgen_listening() {
    // Invalid UTF-8 on stderr at import; a warning from a task afterwards must
    // still come through (the reader used to stop at the first bad line).
    let template = "import logging, sys\nfrom locust import TaskSet, task\n\nsys.stderr.buffer.write(b'bad \\xff\\xfe bytes\\n')\nsys.stderr.flush()\n\n\nclass AUserBehavior(TaskSet):\n    @task\n    def index(self):\n        logging.warning('still heard after the bad bytes')\n        self.client.get('/')\n\n{{.Users}}\n";
    let shop = Shop::start();
    let files = LoadFiles::new(&phase(60, 2, 100, &[("A", 1, 200, 200)]), template);
    let stderr = Loadgen::run(&tag("badbytes"), files.config(), &shop.host())
        .run_time("4s")
        .limit(Duration::from_secs(60))
        .success()
        .stderr();
    assert!(
        stderr.contains("still heard after the bad bytes"),
        "{stderr}"
    );
}

/// What a locustfile prints or logs at INFO, at import and in a task.
const CHATTY: &str = "import logging\nfrom locust import TaskSet, task\n\nprint('printed at import')\nlogging.getLogger('shop').info('logged at import')\n\n\nclass AUserBehavior(TaskSet):\n    @task\n    def index(self):\n        self.client.get('/')\n        print('printed in a task')\n        logging.info('logged in a task')\n\n{{.Users}}\n";

/// Runs [`CHATTY`] for 3 s against a fresh shop, with `-v` or without: its stderr.
fn chatty_stderr(verbose: bool, name: &str) -> String {
    let shop = Shop::start();
    let files = LoadFiles::new(&phase(60, 2, 100, &[("A", 1, 500, 500)]), CHATTY);
    // -v is global: before the subcommand, as here, as well as after it.
    let verbose = verbose.then_some("-v");
    let stderr = Loadgen::command(
        &tag(name),
        verbose.into_iter().chain(["run", "--config-file"]),
    )
    .arg(files.config())
    .args(["--host", &shop.host()])
    .run_time("3s")
    .limit(Duration::from_secs(60))
    .success()
    .stderr();
    assert!(shop.total_requests() > 0, "{stderr}");
    stderr
}

#[test]
fn the_users_info_logging_and_prints_are_shown_with_v_only() {
    let quiet = chatty_stderr(false, "chatty-quiet");
    for said in [
        "printed at import",
        "logged at import",
        "printed in a task",
        "logged in a task",
    ] {
        assert!(!quiet.contains(said), "{said} without -v:\n{quiet}");
    }
    let verbose = chatty_stderr(true, "chatty-verbose");
    assert!(verbose.contains("locust: printed at import"), "{verbose}");
    assert!(
        verbose.contains("locust: INFO shop: logged at import"),
        "{verbose}"
    );
    assert!(verbose.contains("locust: printed in a task"), "{verbose}");
    // Every time, not once: each task's line is the user's to see.
    assert!(
        verbose
            .matches("locust: INFO root: logged in a task")
            .count()
            >= 3,
        "{verbose}"
    );
    // Locust's own INFO chatter stays out even then.
    assert!(!verbose.contains("INFO locust"), "{verbose}");
}
