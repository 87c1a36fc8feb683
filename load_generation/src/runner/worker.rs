//! A worker's run: one harness as a Locust worker of a master elsewhere. The
//! master (another loadgen's harness) tells it how many users to run; this loop
//! only shows what the harness says and stops it on a signal.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use super::signals::Shutdown;
use crate::locust::process::{is_shown, Harness, Output, ProcessId};
use crate::locust::protocol::Event;

/// How long a stopping worker's harness gets before it is killed.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// How a worker's harness ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Its master stopped the run (or went away after it had connected), with
    /// the worker's `environment.process_exit_code` if its locustfile set one.
    Stopped { process_exit_code: Option<i64> },
    /// A signal stopped it.
    Signal,
    /// The master could not be reached: worth trying again.
    Unreachable(String),
}

/// Runs the harness set up by `setup` until it ends or a signal stops it. A
/// harness that dies, or can't load the locustfile, is an error.
pub async fn serve(
    python: &Path,
    harness: &Path,
    setup: &Path,
    verbose: bool,
    shutdown: &mut Shutdown,
) -> Result<Ended> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let id = ProcessId {
        generation: 0,
        index: 0,
    };
    let mut harness = Harness::spawn(id, python, harness, setup, tx)?;
    // The harness's last word, once it said it: the locustfile's exit code.
    let mut stopped: Option<Option<i64>> = None;
    let mut last_words: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            output = rx.recv() => match output {
                Some(Output::Event(_, Event::Fatal { message, kind, .. })) if kind == "master" => {
                    harness.reap().await;
                    return Ok(Ended::Unreachable(message));
                }
                Some(Output::Event(_, Event::Fatal { message, .. })) => {
                    harness.reap().await;
                    bail!("{message}");
                }
                Some(Output::Event(_, Event::Ready { .. })) => eprintln!("loadgen: worker ready"),
                // Losing and regaining the master (users stopped, a fresh share awaited).
                Some(Output::Event(_, Event::Warning { message, .. })) => eprintln!("loadgen: {message}"),
                Some(Output::Event(_, Event::Stopped { process_exit_code, .. })) => stopped = Some(process_exit_code),
                Some(Output::Stderr(_, line)) => {
                    if is_shown(&line, verbose) {
                        eprintln!("locust: {line}");
                    }
                    last_words.push(line);
                    if last_words.len() > 10 {
                        last_words.remove(0);
                    }
                }
                Some(Output::Exited(_)) | None => {
                    harness.reap().await;
                    if let Some(process_exit_code) = stopped {
                        return Ok(Ended::Stopped { process_exit_code });
                    }
                    // Died without a word (killed, out of memory): an error, so
                    // that Kubernetes restarts the pod rather than think it done.
                    let tail = if last_words.is_empty() { "no output".to_string() } else { last_words.join("\n    ") };
                    bail!("the Locust worker exited unexpectedly; its last output:\n    {tail}");
                }
                Some(_) => {}
            },
            _ = shutdown.requested() => {
                harness.stop(STOP_GRACE).await;
                return Ok(Ended::Signal);
            }
        }
    }
}
