//! A worker's run: one harness as a Locust worker of a master elsewhere. The
//! master (another loadgen's harness) tells it how many users to run; this loop
//! only shows what the harness says and stops it on a signal.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use super::signals::Shutdown;
use crate::locust::process::{Harness, Output, ProcessId};
use crate::locust::protocol::Event;

/// How long a stopping worker's harness gets before it is killed.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// Runs the harness set up by `setup` until it ends or a signal stops it.
/// Returns whether it ended by itself (false when stopped by a signal).
pub async fn serve(
    python: &Path,
    harness: &Path,
    setup: &Path,
    shutdown: &mut Shutdown,
) -> Result<bool> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let id = ProcessId {
        generation: 0,
        index: 0,
    };
    let mut harness = Harness::spawn(id, python, harness, setup, tx)?;
    loop {
        tokio::select! {
            output = rx.recv() => match output {
                Some(Output::Event(_, Event::Fatal { message, .. })) => bail!("{message}"),
                Some(Output::Event(_, Event::Ready { .. })) => eprintln!("loadgen: worker ready"),
                Some(Output::Stderr(_, line)) if is_important(&line) => eprintln!("locust: {line}"),
                Some(Output::Exited(_)) | None => return Ok(true),
                Some(_) => {}
            },
            _ = shutdown.requested() => {
                harness.stop(STOP_GRACE).await;
                return Ok(false);
            }
        }
    }
}

/// Locust's warnings and errors, which a user should see.
fn is_important(line: &str) -> bool {
    ["WARNING", "ERROR", "CRITICAL"]
        .iter()
        .any(|level| line.starts_with(level))
}
