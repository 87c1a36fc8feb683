//! Harness processes: started, fed commands, listened to, and never left behind.
//!
//! Each harness runs in its own process group (so a terminal's Ctrl-C reaches
//! loadgen, which then stops Locust in order) and with a parent-death signal (so
//! it dies with loadgen even when loadgen is killed with SIGKILL). Its stdin is a
//! pipe from loadgen: when loadgen goes away, the harness sees the end of input
//! and stops too.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::protocol::{Command, Event};

/// Which harness process said something: the generation of Locust it belongs to
/// (a restart starts a new one, whose predecessor's last words are ignored) and
/// its place in that generation (0 is the local runner or master).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    pub generation: usize,
    pub index: usize,
}

/// What a harness process says, tagged with which process said it.
#[derive(Debug)]
pub enum Output {
    Event(ProcessId, Event),
    /// A line the process wrote to stderr (Locust's warnings, the user's prints).
    Stderr(ProcessId, String),
    /// The process ended; its stdout reached its end.
    Exited(ProcessId),
}

/// Whether a line a harness wrote to stderr is shown: warnings and errors
/// (Locust's and the users' logging) always; with `verbose` (loadgen's `-v`)
/// everything, so the users' INFO logging and prints too.
pub fn is_shown(line: &str, verbose: bool) -> bool {
    verbose
        || ["WARNING", "ERROR", "CRITICAL"]
            .iter()
            .any(|level| line.starts_with(level))
}

/// One running harness.
pub struct Harness {
    pub id: ProcessId,
    child: Child,
    stdin: Option<ChildStdin>,
    pub pid: u32,
}

impl Harness {
    /// Starts `python harness.py setup.json`; everything it says goes to `output`.
    pub fn spawn(
        id: ProcessId,
        python: &Path,
        harness: &Path,
        setup: &Path,
        output: mpsc::Sender<Output>,
    ) -> Result<Harness> {
        let mut command = tokio::process::Command::new(python);
        command
            .arg("-u")
            .arg(harness)
            .arg(setup)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .kill_on_drop(true)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", python.display()))?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take();
        if let Some(stdout) = child.stdout.take() {
            let output = output.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    match serde_json::from_str::<Event>(&line) {
                        Ok(event) => {
                            if output.send(Output::Event(id, event)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::debug!("unreadable harness line ({e}): {line}"),
                    }
                }
                let _ = output.send(Output::Exited(id)).await;
            });
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                // Bytes, not text: a user's print of non-UTF-8 bytes must not
                // end the reading (and so, once the pipe fills, freeze Locust).
                let mut reader = BufReader::new(stderr);
                let mut bytes = Vec::new();
                while matches!(reader.read_until(b'\n', &mut bytes).await, Ok(n) if n > 0) {
                    let line = String::from_utf8_lossy(&bytes)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    bytes.clear();
                    if output.send(Output::Stderr(id, line)).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(Harness {
            id,
            child,
            stdin,
            pid,
        })
    }

    /// Sends a command; a harness that is gone is not an error here (its exit is
    /// reported through [`Output::Exited`]).
    pub async fn send(&mut self, command: &Command) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let Ok(mut line) = serde_json::to_vec(command) else {
            return;
        };
        line.push(b'\n');
        if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
            self.stdin = None;
        }
    }

    /// Asks the harness to stop, waits up to `grace`, then kills its whole group.
    pub async fn stop(&mut self, grace: Duration) {
        self.send(&Command::Stop).await;
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.kill();
            let _ = self.child.wait().await;
        }
        self.kill();
    }

    /// Waits (briefly) for the killed or exiting process, so no zombie is left
    /// for init to collect (loadgen may itself be PID 1 in a container).
    pub async fn reap(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.child.wait()).await;
    }

    /// Kills the harness's process group at once.
    pub fn kill(&mut self) {
        if self.pid > 0 {
            // SAFETY: signalling a process group we created; no memory is involved.
            unsafe {
                libc::kill(-(self.pid as i32), libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.kill();
    }
}
