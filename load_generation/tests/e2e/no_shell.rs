//! End to end: loadgen starts its processes with an argument vector, never
//! through a shell, so no path, host or name from the user is ever parsed as
//! shell code. Judged by watching what is executed: every `execve` of loadgen
//! and all its descendants (Locust, pip, the workers), traced by `strace -f`,
//! across a run of a plain locustfile with a requirements.txt and a run of a
//! template.
//!
//! strace is a Debian package (`.ci/run` installs it). Without it the test says
//! it skipped, except in CI (`CI` set), where it fails.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Programs that interpret their arguments as shell code.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
];

/// One `execve` seen by strace: the program path, its arguments (as strace
/// prints them) and whether it succeeded.
#[derive(Debug)]
struct Exec {
    program: String,
    argv: String,
    ok: bool,
}

/// Whether strace can be used here; `false` (the test skips) only outside CI.
fn strace_available() -> bool {
    let found = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "strace is missing: CI must install it (.ci/run does, from Debian)"
        );
        eprintln!("SKIPPED: strace is not installed (apt-get install strace)");
    }
    found
}

/// Runs `run` (a `loadgen` command) under `strace -f`, to its end, and
/// returns every program it and its descendants executed (attempts included:
/// a shell looked up on PATH and not found is still a shell asked for).
fn traced(mut run: Loadgen, trace: &Path) -> (std::process::Output, Vec<Exec>) {
    let command = run.command_mut();
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "--seccomp-bpf", "-e", "trace=execve,execveat"])
        .args(["-e", "signal=none", "-s", "4096", "-o"])
        .arg(trace)
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => strace.env(key, value),
            None => strace.env_remove(key),
        };
    }
    strace.stdin(std::process::Stdio::null());
    let (out, _) = run_with_limit(strace, Duration::from_secs(180));
    let text = std::fs::read_to_string(trace).expect("strace wrote no trace");
    let execs = text
        .lines()
        .filter_map(|line| {
            // `PID execve("/usr/bin/python3", ["python3", "x.py"], 0x... /* 30 vars */) = 0`
            let at = line.find("execve(\"").map(|i| i + 8).or_else(|| {
                // execveat(dirfd, "path", ...)
                line.find("execveat(")
                    .and_then(|i| line[i..].find('"').map(|j| i + j + 1))
            })?;
            let rest = &line[at..];
            let end = rest.find('"')?;
            Some(Exec {
                program: rest[..end].to_string(),
                argv: rest[end..].split("], ").next().unwrap_or("").to_string(),
                ok: line.ends_with(" = 0"),
            })
        })
        .collect();
    (out, execs)
}

fn is_shell(program: &str) -> bool {
    let name = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    SHELLS.contains(&name.as_str())
}

/// The shell a script starts with `#!` (the kernel runs it without an
/// `execve` of its own, so strace shows only the script).
fn shebang_shell(program: &str) -> Option<String> {
    let head = std::fs::read(program).ok()?;
    let first = head.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(first.strip_prefix(b"#!")?).to_string();
    let mut words = line.split_whitespace();
    let mut interpreter = words.next()?.to_string();
    if interpreter.ends_with("/env") {
        interpreter = words.find(|w| !w.starts_with('-'))?.to_string();
    }
    is_shell(&interpreter).then_some(interpreter)
}

/// pip's one shell script: its user-agent probe (the vendored `distro`)
/// runs `lsb_release -a`, a shell script on Debian, with fixed arguments:
/// nothing of the user's reaches it. Anything else is loadgen's doing.
fn pips_platform_probe(e: &Exec) -> bool {
    e.program.ends_with("/lsb_release") && e.argv == r#"", ["lsb_release", "-a""#
}

/// Every shell executed, directly or as a script's interpreter.
fn shells(execs: &[Exec]) -> Vec<(&Exec, String)> {
    execs
        .iter()
        .filter(|e| !pips_platform_probe(e))
        .filter_map(|e| {
            if is_shell(&e.program) {
                return Some((e, e.program.clone()));
            }
            let script = if e.ok {
                shebang_shell(&e.program)
            } else {
                None
            };
            script.map(|shell| (e, shell))
        })
        .collect()
}

/// The Python of the Locust loadgen uses (`loadgen locust` says which).
fn locust_python() -> String {
    let out = Command::new(BIN).arg("locust").output().unwrap();
    let said = text(&out.stdout);
    let start = said.find('(').map(|i| i + 1).unwrap_or(0);
    let end = said.rfind(')').unwrap_or(said.len());
    assert!(
        out.status.success() && start < end,
        "loadgen locust: {said}"
    );
    said[start..end].to_string()
}

/// The harness was among what strace saw: the observer sees loadgen's children.
fn saw_the_harness(execs: &[Exec]) -> bool {
    execs.iter().any(|e| e.argv.contains("loadgen_harness.py"))
}

#[test]
fn no_shell_is_ever_run() {
    if !strace_available() {
        return;
    }
    let shop = Shop::start();
    let trace_dir = tempfile::tempdir().unwrap();

    // A plain locustfile with a requirements.txt beside it (pip installs it).
    let plain = tempfile::tempdir().unwrap();
    std::fs::write(
        plain.path().join("load.pbtxt"),
        "phases { duration: 3 num_users: 2 hatch_rate_per_s: 100 user_types { name: \"Website\" ratio: 1 } }\n",
    )
    .unwrap();
    std::fs::write(
        plain.path().join("locustfile.py"),
        "import six\nfrom locust import HttpUser, between, task\n\n\nclass WebsiteUser(HttpUser):\n    wait_time = between(0.2, 0.3)\n\n    @task\n    def index(self):\n        self.client.get(\"/\", headers={\"X-User-Type\": six.ensure_str(\"Website\")})\n",
    )
    .unwrap();
    std::fs::write(plain.path().join("requirements.txt"), "six==1.16.0\n").unwrap();
    // A fresh cache, so pip really installs the requirements under the trace
    // (with the Locust already installed: no install of Locust itself).
    let cache = tempfile::tempdir().unwrap();
    let run = Loadgen::run(
        &tag("noshell-plain"),
        plain.path().join("load.pbtxt"),
        &shop.host(),
    )
    .env("XDG_CACHE_HOME", cache.path())
    .env("LOADGEN_LOCUST", locust_python())
    .arg("--locustfile")
    .arg(plain.path().join("locustfile.py"))
    .run_time("3s");
    let (out, execs) = traced(run, &trace_dir.path().join("plain.trace"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        saw_the_harness(&execs),
        "the trace missed Locust: {execs:#?}"
    );
    assert!(
        execs.iter().any(|e| e.argv.contains("\"pip\"")),
        "the trace missed pip: {execs:#?}"
    );
    assert!(
        shells(&execs).is_empty(),
        "shells run: {:#?}",
        shells(&execs)
    );
    let plain_requests = shop.total_requests();
    assert!(plain_requests > 0, "the plain locustfile sent nothing");

    // A template rendered from the config, with two local workers.
    let files = LoadFiles::new(
        &phase(3, 4, 100, &[("A", 1, 200, 200)]),
        &tagging_template(&["A"]),
    );
    let run = Loadgen::run(&tag("noshell-template"), files.config(), &shop.host())
        .run_time("3s")
        .args(["--workers", "2"]);
    let (out, execs) = traced(run, &trace_dir.path().join("template.trace"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        saw_the_harness(&execs),
        "the trace missed Locust: {execs:#?}"
    );
    assert!(
        shells(&execs).is_empty(),
        "shells run: {:#?}",
        shells(&execs)
    );
    assert!(
        shop.total_requests() > plain_requests,
        "the template sent nothing"
    );
}
