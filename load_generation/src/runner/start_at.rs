//! `--start-at` before its time: Locust is started and ready (workers
//! connected), and loadgen waits with no users until the anchor, so the first
//! users reach the target at the anchor rather than a Locust start-up later.

use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};
use tokio::sync::mpsc;

use super::group::LocustGroup;
use super::schedule::Anchor;
use super::signals::Shutdown;
use super::Observer;
use crate::locust::process::Output;
use crate::locust::protocol::Event;

/// How often the wait says how long is left.
const SAY_EVERY: Duration = Duration::from_secs(60);

/// Waits until `start_at` (wall clock), saying so; `false` if a signal came
/// first. Locust dying meanwhile is an error: there is no run to restart yet.
pub async fn wait(
    start_at: SystemTime,
    group: &mut LocustGroup,
    rx: &mut mpsc::Receiver<Output>,
    shutdown: &mut Shutdown,
    observers: &mut [&mut dyn Observer],
) -> Result<bool> {
    let mut said = None::<tokio::time::Instant>;
    loop {
        let Anchor::Ahead(left) = Anchor::of(start_at, SystemTime::now()) else {
            return Ok(true);
        };
        let now = tokio::time::Instant::now();
        if said.is_none_or(|at| now >= at + SAY_EVERY) {
            let message = format!(
                "--start-at {}: waiting {} with Locust ready and no users",
                chrono::DateTime::<chrono::Utc>::from(start_at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                crate::fmt::short(left)
            );
            for o in observers.iter_mut() {
                o.note(&message);
            }
            said = Some(now);
        }
        // Wake at the anchor, or in time to say how long is left.
        let wake = now + left.min(SAY_EVERY);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            output = rx.recv() => match output {
                Some(Output::Event(id, Event::Fatal { message, .. })) if group.owns(id) => {
                    bail!("Locust failed while waiting for --start-at: {message}")
                }
                Some(Output::Exited(id)) if group.owns(id) => {
                    bail!("Locust exited while waiting for --start-at ({})", group.describe_exit())
                }
                Some(Output::Stderr(id, line)) if group.owns(id) => group.stderr_line(&line, observers),
                Some(_) => {} // samples of no users
                None => bail!("lost contact with Locust"),
            },
            _ = shutdown.requested() => {
                group.kill();
                group.reap().await;
                return Ok(false);
            }
        }
    }
}
