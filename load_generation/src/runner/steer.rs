//! Steering a run while it goes: calls of the control API and reloaded loads,
//! turned into calls on the schedule, and the status the API answers with.

use std::time::Instant;

use super::{sizing, Change, Observer, Replace, Run};
use crate::control::{self, Action};
use crate::plan::Plan;

impl Run {
    /// Applies a control call and answers it with the status afterwards.
    pub(super) async fn control(
        &mut self,
        request: control::Request,
        observers: &mut [&mut dyn Observer],
    ) {
        let now = Instant::now();
        self.accrue_offered(now);
        let action = request.action;
        let done = match &action {
            Action::Status => Ok(()),
            Action::Jump(phase) => self.schedule.jump(*phase, now),
            Action::Next => self.schedule.next(now),
            Action::Pause => self.schedule.pause(now),
            Action::Resume => self.schedule.resume(now),
            Action::Scale(factor) => self.schedule.scale(*factor),
        };
        let answer = match done {
            Ok(()) => {
                if action != Action::Status {
                    let (kind, detail) = describe(&action, self.schedule.plan());
                    self.event(kind, format!("control: {detail}"), observers);
                    if let Action::Scale(_) = action {
                        self.check_capacity(observers);
                    }
                    // Applied at once, not at the next tick.
                    self.tick(now, observers).await;
                }
                Ok(self.control_status(Instant::now()))
            }
            Err(refused) => Err(refused.to_string()),
        };
        let _ = request.reply.send(answer);
    }

    /// Applies a reloaded load; `Some` when Locust must load a new locustfile.
    pub(super) async fn change(
        &mut self,
        change: Change,
        observers: &mut [&mut dyn Observer],
    ) -> Option<Replace> {
        let now = Instant::now();
        self.accrue_offered(now);
        match change {
            Change::Invalid(diagnostics) => {
                let detail = format!(
                    "the changed config is invalid and was ignored; the running plan goes on:\n{diagnostics}"
                );
                self.event("reload_failed", detail, observers);
                None
            }
            Change::Plan(plan) => {
                let detail = format!("config reloaded: {}", first_line(&plan));
                self.live.retype(plan.user_types.len());
                self.recorder.set_user_types(plan.user_classes());
                self.schedule.replace_plan(plan, now);
                self.event("reload", detail, observers);
                self.check_capacity(observers);
                self.tick(now, observers).await;
                None
            }
            Change::Locustfile { plan, locustfile } => {
                // A plain locustfile is the user's own file: the new harness reads it as it is.
                let written = if locustfile.plain {
                    Ok(())
                } else {
                    std::fs::write(&self.locust.spec.locustfile_path, &locustfile.text)
                };
                if let Err(e) = written {
                    let detail =
                        format!("cannot write the new locustfile ({e}); the running load goes on");
                    self.event("reload_failed", detail, observers);
                    return None;
                }
                let detail = format!(
                    "config and locustfile reloaded: {}; restarting Locust with the new classes",
                    first_line(&plan)
                );
                self.locust.spec.locustfile = locustfile;
                self.live.retype(plan.user_types.len());
                self.locust.spec.user_classes = plan.used_user_classes();
                self.recorder.set_user_types(plan.user_classes());
                self.schedule.replace_plan(plan, now);
                self.event("reload", detail, observers);
                self.check_capacity(observers);
                Some(Replace::Reloaded)
            }
        }
    }

    /// `--workers auto` sized the run for the plan it started with: a changed
    /// plan (a reload, `scale`) that needs more processes is said at once, with
    /// what to do, rather than found later as a shortfall.
    fn check_capacity(&mut self, observers: &mut [&mut dyn Observer]) {
        if !self.clock.auto_workers {
            return;
        }
        let plan = self.schedule.plan();
        let class = sizing::sized_client(plan, self.locust.spec.locustfile.client);
        let scale = self.schedule.scale_factor();
        let running = self.locust.spec.local_workers;
        if let Some(detail) = sizing::capacity_for(plan, scale, class, sizing::cores(), running) {
            self.event("capacity", detail, observers);
        }
    }

    /// The run as the control API shows it.
    pub(super) fn control_status(&self, now: Instant) -> control::Status {
        self.status(now).api(self.recorder.record())
    }
}

/// An event's kind and words for a control action.
fn describe(action: &Action, plan: &Plan) -> (&'static str, String) {
    match action {
        Action::Status => ("status", "status".to_string()),
        Action::Jump(i) => (
            "jump",
            format!("jumped to phase {} of {}", i + 1, plan.phases.len()),
        ),
        Action::Next => ("jump", "jumped to the next phase".to_string()),
        Action::Pause => (
            "pause",
            "paused: every user stops, the phase clock holds".to_string(),
        ),
        Action::Resume => ("resume", "resumed where the pause left off".to_string()),
        Action::Scale(f) => ("scale", format!("every phase's users scaled by {f}")),
    }
}

/// The first line of a plan's description (phases, loop, peak).
fn first_line(plan: &Plan) -> String {
    plan.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}
