//! The end of a run: Locust asked to stop, its last sample collected (the
//! requests of the users' last tasks count), the record closed.

use std::time::Instant;

use tokio::sync::mpsc;

use super::{End, Observer, Run, STOP_GRACE};
use crate::locust::process::Output;
use crate::locust::protocol::{Command, Event};
use crate::plan::Plan;
use crate::stats::{Ended, Recorder, RunRecord};

/// How a run ended: its record (whose `ended` says how), whatever the ending.
#[derive(Debug)]
pub struct Outcome {
    pub record: RunRecord,
    /// The plan in force at the end (a reload may have replaced the first).
    pub plan: Plan,
    /// `environment.process_exit_code` as the locustfile set it (the local
    /// runner's or the master's, as Locust takes it); `None` when it did not.
    pub process_exit_code: Option<i64>,
    /// What the users were doing at the end (in on_start, crashed, without a
    /// client), said: why a run that made no request made none.
    pub users_at_end: Option<String>,
    /// The error that ended the run: its record is kept all the same, and the
    /// error is returned once the record is written.
    pub error: Option<anyhow::Error>,
}

impl Outcome {
    /// The outcome of a run that ended before its load started: stopped by a
    /// signal, or by `error` (Locust could not start, say).
    pub fn before_start(plan: &Plan, started_at: f64, error: Option<anyhow::Error>) -> Outcome {
        let mut recorder = Recorder::new(plan, started_at);
        match &error {
            Some(e) => recorder.finish(0.0, Ended::Error, Some(format!("{e:#}"))),
            None => recorder.finish(
                0.0,
                Ended::Interrupted,
                Some("stopped by signal before the load started".into()),
            ),
        }
        Outcome {
            record: recorder.record().clone(),
            plan: plan.clone(),
            process_exit_code: None,
            users_at_end: None,
            error,
        }
    }
}

impl Run {
    /// Stops Locust, collects its last sample and closes the record.
    pub(super) async fn stop(
        mut self,
        rx: &mut mpsc::Receiver<Output>,
        end: End,
        observers: &mut [&mut dyn Observer],
    ) -> Outcome {
        // (A second signal during this is handled by the signal task: it kills all.)
        let stop_at = Instant::now();
        let mut process_exit_code = None;
        if self.locust.alive {
            self.locust.group.send(&Command::Stop).await;
            process_exit_code = self.collect_last_sample(rx, stop_at, observers).await;
        }
        self.locust.group.kill();
        self.locust.group.reap().await;
        let end_at = match (&end, self.clock.deadline) {
            (End::RunTime, Some(d)) => d,
            _ => stop_at,
        };
        let (ended, reason, error) = match end {
            End::RunTime => (Ended::Completed, None, None),
            End::Signal => (Ended::Interrupted, Some("stopped by signal".into()), None),
            End::Early(reason) => (Ended::StoppedEarly, Some(reason), None),
            End::Error(e) => (Ended::Error, Some(format!("{e:#}")), Some(e)),
        };
        // A run that made no request says why, in its record too.
        let reason = reason.or_else(|| {
            (self.recorder.record().total().requests == 0)
                .then(|| self.users_at_end.clone())
                .flatten()
        });
        self.recorder.finish(self.seconds(end_at), ended, reason);
        self.close_through(usize::MAX, observers);
        for o in observers.iter_mut() {
            o.finished();
        }
        Outcome {
            record: self.recorder.record().clone(),
            plan: self.schedule.plan().clone(),
            process_exit_code,
            users_at_end: self.users_at_end.take(),
            error,
        }
    }

    /// Records the last sample; returns the locustfile's `process_exit_code`
    /// that the harness's last word carries.
    async fn collect_last_sample(
        &mut self,
        rx: &mut mpsc::Receiver<Output>,
        stop_at: Instant,
        observers: &mut [&mut dyn Observer],
    ) -> Option<i64> {
        let give_up = stop_at + STOP_GRACE;
        let primary = self.locust.group.primary();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(give_up.into()) => return None,
                output = rx.recv() => match output {
                    Some(Output::Event(id, Event::Sample(mut sample))) if self.locust.group.owns(id) => {
                        // The last sample comes after the users were stopped: its
                        // requests count, its user counts (all 0) say nothing about the run.
                        let classes = self.schedule.plan().user_classes();
                        sample.users = classes.into_iter().zip(self.live.actual.iter().copied()).collect();
                        let clock = &self.clock;
                        let elapsed = Instant::now() - clock.start;
                        let at = clock.deadline.map_or(elapsed, |d| elapsed.min(d - clock.start));
                        // Its requests were made while the users ran, up to the stop.
                        let offered = self.health.interval(&sample, stop_at, self.schedule.commanded());
                        self.recorder.sample(&sample, at.as_secs_f64(), false, &offered);
                        for o in observers.iter_mut() {
                            o.last_sample(&sample);
                        }
                    }
                    Some(Output::Event(id, Event::UsersAtEnd(users))) if self.locust.group.owns(id) => {
                        self.users_at_end = self.say_users_at_end(&users);
                    }
                    Some(Output::Event(id, Event::Stopped { process_exit_code, .. })) if primary == Some(id) => {
                        return process_exit_code;
                    }
                    Some(Output::Exited(id)) if primary == Some(id) => return None,
                    Some(_) => {}
                    None => return None,
                },
            }
        }
    }
}
