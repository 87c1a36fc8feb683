//! One way to run loadgen in a test, built up as ripgrep's `tests/util.rs`
//! builds its commands: [`Loadgen::run`] is `loadgen run --config-file CONFIG
//! --host HOST`, tagged so that the test can find every process it starts;
//! each test adds its flags, then [`Loadgen::output`] runs it to its end
//! within a time limit (killing it past the limit), [`Loadgen::success`] also
//! asserts that it exited 0 (showing its stderr when not), and
//! [`Loadgen::spawn`] starts it in the background.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::{json, loadgen, text};

/// How long a run may take unless the test says otherwise: well past the
/// run time of a test that waits for its run to end, so that only a hung run
/// reaches it (a test that stops its run itself may give a longer run time).
const LIMIT: Duration = Duration::from_secs(90);

/// A loadgen command being built.
pub struct Loadgen {
    command: Command,
    limit: Duration,
    report: Option<PathBuf>,
}

impl Loadgen {
    /// `loadgen run --config-file CONFIG --host HOST`, tagged `tag`.
    pub fn run(tag: &str, config: impl AsRef<OsStr>, host: &str) -> Loadgen {
        let mut command = loadgen(tag);
        command
            .arg("run")
            .arg("--config-file")
            .arg(config)
            .args(["--host", host]);
        Loadgen::from(command)
    }

    /// `loadgen ARGS...`, tagged `tag`: another command than `run`, or a run
    /// spelled otherwise (the original's invocation without a subcommand).
    pub fn command<S: AsRef<OsStr>>(tag: &str, args: impl IntoIterator<Item = S>) -> Loadgen {
        let mut command = loadgen(tag);
        command.args(args);
        Loadgen::from(command)
    }

    fn from(command: Command) -> Loadgen {
        Loadgen {
            command,
            limit: LIMIT,
            report: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Loadgen {
        self.command.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Loadgen {
        self.command.args(args);
        self
    }

    /// `--run-time T`.
    pub fn run_time(self, t: &str) -> Loadgen {
        self.args(["--run-time", t])
    }

    /// `--report DIR`; [`Finished::summary`] reads its summary.json.
    pub fn report(mut self, dir: &Path) -> Loadgen {
        self.command.arg("--report").arg(dir);
        self.report = Some(dir.to_path_buf());
        self
    }

    /// `-f LOCUSTFILE`: a plain locustfile in place of the config's template.
    pub fn locustfile(mut self, path: &Path) -> Loadgen {
        self.command.arg("-f").arg(path);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Loadgen {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Loadgen {
        self.command.current_dir(dir);
        self
    }

    /// The time after which the run is killed (90 s unless set).
    pub fn limit(mut self, limit: Duration) -> Loadgen {
        self.limit = limit;
        self
    }

    /// The command as built, for what the builder does not say.
    pub fn command_mut(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Runs to its end (or its limit), whatever its exit.
    pub fn output(self) -> Finished {
        let (output, elapsed) = run_with_limit(self.command, self.limit);
        Finished {
            output,
            elapsed,
            report: self.report,
        }
    }

    /// Runs to its end, which must be exit 0.
    pub fn success(self) -> Finished {
        let finished = self.output();
        assert!(
            finished.output.status.success(),
            "loadgen exited {:?} after {:.1?}\nstderr:\n{}",
            finished.output.status.code(),
            finished.elapsed,
            finished.stderr()
        );
        finished
    }

    /// Starts it in the background, its output piped.
    pub fn spawn(mut self) -> Child {
        self.command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start loadgen")
    }
}

/// A run that ended: its output, how long it took, and its report.
pub struct Finished {
    pub output: Output,
    pub elapsed: Duration,
    report: Option<PathBuf>,
}

impl Finished {
    pub fn status(&self) -> ExitStatus {
        self.output.status
    }

    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stdout(&self) -> String {
        text(&self.output.stdout)
    }

    pub fn stderr(&self) -> String {
        text(&self.output.stderr)
    }

    /// The report's summary.json (the run was given [`Loadgen::report`]).
    pub fn summary(&self) -> serde_json::Value {
        let dir = self.report.as_ref().expect("a run with --report");
        json(&dir.join("summary.json"))
    }
}

/// `loadgen run` of `config` against `host` in the background, its output piped.
pub fn spawn_run(tag: &str, config: &Path, host: &str, extra: &[&str]) -> Child {
    Loadgen::run(tag, config, host).args(extra).spawn()
}

/// Runs a command to its end with a time limit, capturing its output.
pub fn run_with_limit(mut command: Command, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let status = wait_with_limit(&mut child, limit);
    let elapsed = start.elapsed();
    let output = Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    };
    (output, elapsed)
}

/// Waits for `child` to exit, killing it once `limit` has passed: its status.
pub fn wait_with_limit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return child.wait().expect("wait for the child");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a process the test started.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Waits for `child` to exit, killing it after `limit`: its output, and how
/// long it took.
pub fn finish(child: Child, limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait"));
    while !waiter.is_finished() {
        if start.elapsed() > limit {
            signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (waiter.join().expect("waiter"), start.elapsed())
}
