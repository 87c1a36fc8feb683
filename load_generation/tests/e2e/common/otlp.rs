//! An OTLP/HTTP receiver independent of loadgen: `otlp_receiver.py` beside the
//! end-to-end tests, which decodes with the OpenTelemetry project's own protobuf
//! definitions (PyPI's `opentelemetry-proto`) and writes what it received as JSON
//! lines. Tests judge loadgen's metrics and spans the way a collector reads them.
//!
//! The receiver runs on a Python of its own: a virtual environment under the
//! target directory (`target/test-venvs/otlp`), made once and reused.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// What the receiver's virtual environment has: the pinned definitions and the
/// protobuf runtime they were checked with.
const REQUIREMENTS: &[&str] = &["opentelemetry-proto==1.45.2", "protobuf==7.36.2"];

/// Written last into a finished virtual environment: the requirements it has.
const COMPLETE_MARK: &str = ".complete";

/// The receiver's script.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/otlp_receiver.py");

/// The Python of the receiver's virtual environment, with `opentelemetry-proto`
/// installed: made on first use (once per process; test binaries running at once
/// take turns under a file lock), reused while its mark names the same pins.
pub fn otlp_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(make_venv).clone()
}

/// The target directory: `target/debug/loadgen`'s grandparent (so also
/// `CARGO_TARGET_DIR` when it is set).
fn target_dir() -> PathBuf {
    Path::new(super::BIN)
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("no target directory above {}", super::BIN))
        .to_path_buf()
}

fn make_venv() -> PathBuf {
    let root = target_dir().join("test-venvs");
    let venv = root.join("otlp");
    let python = venv.join("bin").join("python");
    let wanted = REQUIREMENTS.join("\n");
    let complete = || {
        python.is_file()
            && std::fs::read_to_string(venv.join(COMPLETE_MARK)).is_ok_and(|mark| mark == wanted)
    };
    if complete() {
        return python;
    }
    std::fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    let lock_path = root.join("otlp.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    let mut lock = fd_lock::RwLock::new(lock_file);
    let _guard = lock
        .write()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    // Another test binary may have made it while this one waited.
    if complete() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let pip = new_venv(&venv, &python);
    let mut install = Command::new(&pip);
    install.args(["-m", "pip"]);
    if pip != python {
        install.arg("--python").arg(&python);
    }
    install
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "--quiet",
        ])
        .args(REQUIREMENTS);
    run(
        &mut install,
        &format!(
            "install {} into {} (is PyPI reachable?)",
            REQUIREMENTS.join(" "),
            venv.display()
        ),
    );
    std::fs::write(venv.join(COMPLETE_MARK), &wanted)
        .unwrap_or_else(|e| panic!("cannot write into {}: {e}", venv.display()));
    python
}

/// Creates the virtual environment at `venv`; returns the Python whose pip
/// installs into it: its own, made by the system's `python3 -m venv`, or where
/// that Python has no `ensurepip` (Debian without python3-venv), the Locust
/// installation's, installing into a venv made without pip.
fn new_venv(venv: &Path, python: &Path) -> PathBuf {
    let system = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .stdin(Stdio::null())
        .output();
    if system.as_ref().is_ok_and(|out| out.status.success()) {
        return python.to_path_buf();
    }
    let _ = std::fs::remove_dir_all(venv);
    let locust = super::locust_python("otlp-venv");
    run(
        Command::new(&locust)
            .args(["-m", "venv", "--without-pip"])
            .arg(venv),
        &format!(
            "create a virtual environment at {} (python3 -m venv said: {})",
            venv.display(),
            match &system {
                Ok(out) => super::text(&out.stderr),
                Err(e) => e.to_string(),
            }
        ),
    );
    locust
}

/// Runs an install step to its end; panics with its output when it fails.
fn run(command: &mut Command, what: &str) -> Output {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot {what}: cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "cannot {what}: {command:?} failed ({}):\n{}{}",
        out.status,
        super::text(&out.stderr),
        super::text(&out.stdout)
    );
    out
}

/// A running `otlp_receiver.py` on 127.0.0.1, writing into a temporary
/// directory of its own; killed when dropped.
///
/// Its files, read by [`Receiver::metrics`], [`Receiver::spans`] and
/// [`Receiver::requests`], hold one JSON object a line. A request's line in
/// `requests.jsonl` is written after its points or spans, so a test that sees
/// the request also sees what it carried.
pub struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Receiver {
    /// Starts a receiver on a free port (the script binds port 0 and says which).
    pub fn start() -> Receiver {
        let python = otlp_python();
        let dir = tempfile::tempdir().expect("a temporary directory for the receiver");
        let log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SCRIPT} with {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("the receiver's stdout");
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = said.send(line);
            // Whatever else it prints must not fill a pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let first = heard.recv_timeout(Duration::from_secs(30));
        match first.as_deref().map(str::trim).map(str::parse::<u16>) {
            Ok(Ok(port)) => Receiver { child, port, dir },
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the OTLP receiver did not start (its first line: {first:?}); its stderr:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, the base of `/v1/metrics` and `/v1/traces`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory of its files (and of `stderr.log`, its access log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every data point received so far, one flat object each: `resource`,
    /// `scope`, `metric`, `unit`, `kind`, `monotonic`, `temporality`,
    /// `attributes`, `value` or `count`/`sum`/`bucket_counts`/`explicit_bounds`,
    /// `exemplars`, `start_time_unix_nano`, `time_unix_nano` (see the script).
    pub fn metrics(&self) -> Vec<serde_json::Value> {
        self.lines("metrics.jsonl")
    }

    /// Every span received so far, one object each: `resource`, `scope`,
    /// `trace_id`, `span_id`, `parent_span_id`, `name`, `kind`, times,
    /// `attributes`, `status_code` (see the script).
    pub fn spans(&self) -> Vec<serde_json::Value> {
        self.lines("spans.jsonl")
    }

    /// Every request received so far: `method`, `path`, `content_type`,
    /// `content_encoding`, `headers` (names lowercase), `bytes`,
    /// `decoded_bytes`, `status` answered, `items` decoded, `error`.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        self.lines("requests.jsonl")
    }

    /// The complete lines of one of its files (a line being written is left out).
    fn lines(&self, name: &str) -> Vec<serde_json::Value> {
        let path = self.dir.path().join(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        };
        text.split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display()))
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
