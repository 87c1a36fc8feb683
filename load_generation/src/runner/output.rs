//! What Locust says, turned into the run's state: its events and stderr, and
//! each sample, which goes to the live view, the watchers (who say what they
//! find), the record and the observers, in that order.

use std::time::Instant;

use super::health::{Capacity, Load};
use super::{sizing, Observer, Run, KEEP_LOOPS, MIN_KEPT};
use crate::locust::process::Output;
use crate::locust::protocol::{Event, Sample, UsersAtEnd};
use crate::locust::users_at_end;

impl Run {
    /// Handles what a harness said; `Some(why)` when Locust must be restarted.
    pub(super) fn output(
        &mut self,
        output: Output,
        observers: &mut [&mut dyn Observer],
    ) -> Option<String> {
        let group = &mut self.locust.group;
        match output {
            Output::Event(id, event) if group.owns(id) => match event {
                Event::Sample(sample) => {
                    self.sample(*sample, observers);
                    None
                }
                Event::Warning { message, traceback } => {
                    group.say_warning(message, traceback, observers);
                    None
                }
                Event::Fatal {
                    message, traceback, ..
                } => {
                    group.fatal = Some(match traceback {
                        Some(tb) => format!("{message}\n{}", group.map_traceback(&tb)),
                        None => message,
                    });
                    None
                }
                Event::UsersAtEnd(users) => {
                    self.users_at_end = self.say_users_at_end(&users);
                    None
                }
                Event::Quit { reason } => {
                    self.quit = Some(reason);
                    None
                }
                Event::Ready { .. } | Event::Stopped { .. } | Event::Imported { .. } => None,
            },
            Output::Stderr(id, line) if group.owns(id) => {
                group.stderr_line(&line, observers);
                None
            }
            // Locust died under us: restart it and ramp back to the schedule.
            Output::Exited(id) if group.owns(id) => Some(format!(
                "Locust exited unexpectedly ({})",
                group.describe_exit()
            )),
            _ => None, // from a previous generation
        }
    }

    /// The load as it stands, for the words of what the watchers say.
    fn load(&self) -> Load {
        let spec = &self.locust.spec;
        Load {
            running: self.live.running(),
            asked: self
                .schedule
                .commanded()
                .iter()
                .map(|&n| u64::from(n))
                .sum(),
            requests_per_s: self.live.requests_per_s,
            workers: self.live.workers,
            capacity: Capacity {
                local_workers: spec.local_workers,
                remote_workers: spec.remote_workers,
                cores: sizing::cores() as usize,
                client: spec.locustfile.client,
            },
        }
    }

    fn sample(&mut self, sample: Sample, observers: &mut [&mut dyn Observer]) {
        let now = Instant::now();
        self.locust.heard(now);
        let classes = self.schedule.plan().user_classes();
        for change in self.live.take(&sample, &classes, now) {
            self.event(change.kind, change.detail, observers);
        }
        self.show_new_errors(&sample, observers);
        let busiest = self.locust.busiest(now);
        if let Some(b) = busiest {
            tracing::debug!(
                "Locust busy {:.0}% (running {:.0}%, waiting for a core {:.0}%), loop lag {:.0} ms, late up to {:.0} ms",
                b.total(),
                b.running,
                b.waiting,
                sample.loop_lag_ms,
                sample.loop_late_max_ms
            );
        }
        let load = self.load();
        if let Some(said) = self.health.cpu(now, busiest, sample.loop_lag_ms, &load) {
            self.say(said, observers);
        }
        if self.health.saturated() {
            self.recorder.mark_saturated();
        }
        // A rate phase's users are its pool.
        let pool = classes
            .iter()
            .cloned()
            .zip(self.schedule.commanded().iter().copied())
            .collect();
        if let Some(said) = self.health.dropped(now, &sample, &pool) {
            self.say(said, observers);
        }
        let offered = self
            .health
            .interval(&sample, now, self.schedule.commanded());
        let ramped = self.schedule.settled(now, self.clock.sample_interval * 2);
        self.recorder
            .sample(&sample, self.seconds(now), ramped, &offered);
        if let Some(occurrence) = sample.occurrence {
            let waits = self
                .recorder
                .record()
                .occurrence(occurrence)
                .map(|p| p.paces.clone());
            if let Some(waits) = waits {
                let late = sample.loop_late_max_ms;
                if let Some(said) = self
                    .health
                    .delivered(occurrence, offered, &waits, late, &load)
                {
                    self.say(said, observers);
                }
            }
        }
        let status = self.status(now);
        for o in observers.iter_mut() {
            o.sample(&status, &sample);
        }
        // A sample of a later occurrence means the earlier ones are complete.
        if let Some(occurrence) = sample.occurrence {
            self.close_through(occurrence, observers);
        }
        let status = self.status(now);
        for o in observers.iter_mut() {
            o.recorded(&status, &self.recorder);
        }
    }

    /// An exception in the users' code is shown when it first happens, at the
    /// user's file and line (the template's, not the generated file's).
    fn show_new_errors(&mut self, sample: &Sample, observers: &mut [&mut dyn Observer]) {
        for e in self.health.new_errors(&sample.exceptions) {
            let traceback = self.locust.group.map_traceback(e.traceback.trim_end());
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

    /// Tells observers that every occurrence before `occurrence` is final.
    pub(super) fn close_through(&mut self, occurrence: usize, observers: &mut [&mut dyn Observer]) {
        let record = self.recorder.record();
        let recorded = record.first_index + record.phases.len();
        while self.open < occurrence.min(recorded) {
            let status = self.status(Instant::now());
            if let Some(record) = self.recorder.record().occurrence(self.open) {
                for o in observers.iter_mut() {
                    o.occurrence_closed(&status, record);
                }
            }
            self.open += 1;
        }
        // A long run keeps its last loops in detail and folds the rest.
        let keep = (KEEP_LOOPS * self.schedule.plan().phases.len()).max(MIN_KEPT);
        self.recorder.fold(keep, self.open);
    }

    /// The users at the end, said with the user's own file:line.
    pub(super) fn say_users_at_end(&self, users: &UsersAtEnd) -> Option<String> {
        let spec = &self.locust.spec;
        let (locustfile, run_path) = (&spec.locustfile, &spec.locustfile_path);
        users_at_end::why_no_request(users, |file, line| {
            users_at_end::place(locustfile, run_path, file, line)
        })
    }
}
