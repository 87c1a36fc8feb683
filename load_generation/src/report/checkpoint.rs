//! Checkpoints: with `--report DIR`, summary.json and stats.csv are rewritten
//! every `--checkpoint-interval` and at each occurrence's end, marked
//! `ended: running`, so that a loadgen killed outright (SIGKILL, the OOM
//! killer, a node drained past its grace period) leaves its record no older than
//! the interval. `loadgen report DIR` draws report.html from it.
//!
//! The files are written on a thread of their own (each atomically, synced to
//! disk), so a slow disk never holds up the run loop; one write at a time, and
//! the last one has finished before the run's final record is written.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Summary;
use crate::runner::{Observer, Status};
use crate::stats::{PhaseRecord, Recorder};

/// Writes a run's checkpoints into its report directory.
pub struct Checkpoints {
    dir: PathBuf,
    every: Duration,
    last: Instant,
    /// An occurrence closed since the last checkpoint.
    closed: bool,
    writing: Option<JoinHandle<()>>,
    /// A failed write is said once, not every interval.
    failed: Arc<AtomicBool>,
}

impl Checkpoints {
    pub fn new(dir: PathBuf, every: Duration) -> Checkpoints {
        Checkpoints {
            dir,
            every,
            last: Instant::now(),
            closed: false,
            writing: None,
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    fn due(&self, now: Instant) -> bool {
        self.closed || now.saturating_duration_since(self.last) >= self.every
    }

    fn wait_for_the_last_write(&mut self) {
        if let Some(writing) = self.writing.take() {
            let _ = writing.join();
        }
    }
}

impl Observer for Checkpoints {
    fn occurrence_closed(&mut self, _status: &Status, _record: &PhaseRecord) {
        self.closed = true;
    }

    fn recorded(&mut self, status: &Status, recorder: &Recorder) {
        let now = Instant::now();
        if !self.due(now) || self.writing.as_ref().is_some_and(|w| !w.is_finished()) {
            return; // not yet, or the last one is still being written
        }
        self.wait_for_the_last_write();
        let record = recorder.snapshot(status.elapsed.as_secs_f64());
        let summary = Summary::new(&record, status.plan);
        let dir = self.dir.clone();
        let failed = self.failed.clone();
        let written = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || {
                if let Err(e) = super::create_dir(&dir).and_then(|()| {
                    super::remove_temporaries(&dir);
                    super::write_data(&dir, &summary)
                }) {
                    if !failed.swap(true, Ordering::Relaxed) {
                        eprintln!("loadgen: warning: the checkpoint was not written: {e:#}");
                    }
                }
            });
        match written {
            Ok(handle) => self.writing = Some(handle),
            Err(e) => {
                if !self.failed.swap(true, Ordering::Relaxed) {
                    eprintln!("loadgen: warning: the checkpoint was not written: {e}");
                }
            }
        }
        self.last = now;
        self.closed = false;
    }

    fn finished(&mut self) {
        self.wait_for_the_last_write();
    }
}
