//! What the run loop watches besides the schedule: whether Locust can keep up
//! (saturation) and exceptions in the users' code, each said as it happens.

use std::time::Instant;

use super::saturation::{self, ProcessCpu};
use super::{Observer, Run, MAX_ERRORS_SHOWN};
use crate::locust::protocol::Sample;

impl Run {
    /// Reads every Locust process's CPU; says when the busiest one saturates
    /// (and when it recovers), and marks the occurrences it happened in.
    pub(super) fn watch_cpu(
        &mut self,
        now: Instant,
        lag_ms: f64,
        observers: &mut [&mut dyn Observer],
    ) {
        let pids = self.group.pids();
        if self
            .cpu
            .iter()
            .map(ProcessCpu::pid)
            .ne(pids.iter().copied())
        {
            self.cpu = pids.into_iter().map(ProcessCpu::new).collect();
        }
        let busiest = self
            .cpu
            .iter_mut()
            .filter_map(|p| p.read(now))
            .fold(None, |max: Option<f64>, c| {
                Some(max.map_or(c, |m| m.max(c)))
            });
        let Some(busiest) = busiest else { return };
        tracing::debug!("Locust CPU {busiest:.0}%, loop lag {lag_ms:.0} ms");
        match self.saturation.observe(now, busiest, lag_ms) {
            Some(saturation::Change::Began) => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let detail = format!(
                    "the load generator is saturated: its busiest Locust process uses {busiest:.0}% of a core \
                     and its event loop runs {lag_ms:.0} ms late (over the last 2 s). \
                     It can't run the planned users on time: the target gets less than the plan \
                     ({:.0} req/s now), and the response times include loadgen's own delays. \
                     Use more Locust processes (--workers N; this machine has {cores} cores), \
                     the faster client (--user-class fast), or more machines (loadgen worker).",
                    self.requests_per_s
                );
                self.event("saturated", detail, observers);
            }
            Some(saturation::Change::Ended) => {
                let detail =
                    format!("the load generator is no longer saturated (CPU {busiest:.0}%)");
                self.event("saturation_ended", detail, observers);
            }
            None => {}
        }
        if self.saturation.saturated() {
            self.recorder.mark_saturated();
        }
    }

    /// An exception in the users' code is shown when it first happens, at the
    /// user's file and line (the template's, not the generated file's).
    pub(super) fn show_new_errors(&mut self, sample: &Sample, observers: &mut [&mut dyn Observer]) {
        for e in &sample.exceptions {
            if self.errors_shown.len() >= MAX_ERRORS_SHOWN
                || !self.errors_shown.insert(e.traceback.clone())
            {
                continue;
            }
            let traceback = self.group.map_traceback(e.traceback.trim_end());
            let text = format!(
                "error in the users' code: {}\n    {}\n  (shown once; later ones are counted in the progress line and the summary)",
                e.message,
                traceback.replace('\n', "\n    ")
            );
            for o in observers.iter_mut() {
                o.note(&text);
            }
        }
    }
}
