//! Run the plan on Locust, phase after phase, with no gaps.
//!
//! One Locust run serves the whole load. The [`Schedule`] keeps the clock and
//! decides, every tick, which phase occurrence runs and how many users of each
//! type loadgen asks for; the run loop here only turns events into calls on it and
//! its answers into commands to Locust. The harness reports a sample every
//! interval, which goes to the [`Recorder`] and to the observers (live progress,
//! metrics).
//!
//! If Locust dies, or stops answering (no sample for [`engine::HANG_TIMEOUT`]), loadgen
//! starts it again and ramps back to where the schedule is; too many restarts in a
//! short window stop the run with an error instead.

mod dropping;
mod engine;
pub mod group;
mod health;
mod live;
mod membership;
mod observer;
mod output;
pub mod ramp;
pub mod saturation;
pub mod schedule;
pub mod shortfall;
pub mod signals;
pub mod sizing;
mod start_at;
mod steer;
mod stop;
pub mod wait_for_host;
pub mod worker;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use tokio::sync::mpsc;

use crate::control;
use crate::locust::process::Output;
use crate::locust::protocol::Command;
use crate::locustfile::Locustfile;
use crate::plan::Plan;
use crate::stats::{Recorder, RunEvent};
use engine::Engine;
use group::{GroupSpec, LocustGroup};
use health::{Health, Said};
use live::Live;
pub use observer::{Observer, Status};
use schedule::{Boundary, Schedule};
use signals::Shutdown;
pub use stop::Outcome;

/// Loops whose occurrences are kept in detail (at least [`MIN_KEPT`]
/// occurrences); older ones are folded into one aggregate per phase, so memory
/// and the report stay bounded by the plan, not by the run's length.
const KEEP_LOOPS: usize = 5;
const MIN_KEPT: usize = 20;
/// How often loadgen moves user counts along a ramp.
const TICK: Duration = Duration::from_millis(100);
/// How long a stopping harness gets to let users finish their task (0.5 s
/// drain), collect the workers' last reports and send its last sample.
const STOP_GRACE: Duration = Duration::from_millis(2500);

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_time: Option<Duration>,
    /// `--start-at`: the schedule's anchor on the wall clock; the run time
    /// then counts from it.
    pub start_at: Option<SystemTime>,
    pub sample_interval: Duration,
    /// `--workers auto` chose the local workers: a changed plan that needs
    /// more is said.
    pub auto_workers: bool,
}

/// What can reach a run from outside while it goes.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Calls of the control API.
    pub control: Option<mpsc::Receiver<control::Request>>,
    /// Reloaded configs and templates.
    pub changes: Option<mpsc::Receiver<Change>>,
}

/// A reloaded load, validated.
#[derive(Debug)]
pub enum Change {
    /// Only the plan changed: it takes over without touching Locust.
    Plan(Plan),
    /// The locustfile changed (new Python classes): Locust is restarted with it.
    Locustfile { plan: Plan, locustfile: Locustfile },
    /// The new files are invalid (the diagnostics); the running plan goes on.
    Invalid(String),
}

/// Runs `plan` until its run time is spent, a signal stops it or an error
/// ends it; every ending returns the record.
pub async fn run(
    plan: &Plan,
    spec: GroupSpec,
    options: &RunOptions,
    observers: &mut [&mut dyn Observer],
    shutdown: &mut Shutdown,
    inputs: Inputs,
) -> Outcome {
    let (tx, mut rx) = mpsc::channel::<Output>(4096);
    let mut group =
        match LocustGroup::start(&spec, 0, tx.clone(), &mut rx, shutdown, observers).await {
            Ok(Some(group)) => group,
            // A signal while Locust was starting: an empty run, reported as such.
            Ok(None) => return Outcome::before_start(plan, unix_now(), None),
            Err(e) => return Outcome::before_start(plan, unix_now(), Some(e)),
        };
    if let Some(start_at) = options.start_at {
        match start_at::wait(start_at, &mut group, &mut rx, shutdown, observers).await {
            Ok(true) => {}
            Ok(false) => {
                group.kill();
                return Outcome::before_start(plan, unix_now(), None);
            }
            Err(e) => {
                group.kill();
                return Outcome::before_start(plan, unix_now(), Some(e));
            }
        }
    }
    // The run starts when Locust is ready (or at --start-at): the record's zero.
    let mut run = Run::new(plan.clone(), group, spec, options);
    run.begin(observers);
    let end = match run.drive(&tx, &mut rx, observers, shutdown, inputs).await {
        Ok(end) => end,
        Err(e) => End::Error(e),
    };
    run.stop(&mut rx, end, observers).await
}

impl Run {
    /// The run loop: turns time, Locust's output, control calls, reloads and
    /// signals into calls on the run, until one of them ends it.
    async fn drive(
        &mut self,
        tx: &mpsc::Sender<Output>,
        rx: &mut mpsc::Receiver<Output>,
        observers: &mut [&mut dyn Observer],
        shutdown: &mut Shutdown,
        mut inputs: Inputs,
    ) -> Result<End> {
        let mut next_tick = self.clock.start;
        loop {
            let wake = [
                Some(next_tick),
                self.clock.deadline,
                self.schedule.next_change(Instant::now()),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_tick);
            let replace_because = tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if self.clock.deadline.is_some_and(|d| now >= d) {
                        return Ok(End::RunTime);
                    }
                    // A wake for a boundary or a ramp's end comes between ticks.
                    if now >= next_tick {
                        next_tick += TICK;
                        if next_tick < now {
                            next_tick = now + TICK;
                        }
                    }
                    match self.locust.hung(now) {
                        Some(why) => Some(Replace::Crashed(why)),
                        None => { self.tick(now, observers).await; None }
                    }
                }
                output = rx.recv() => match output {
                    Some(output) => self.output(output, observers).map(Replace::Crashed),
                    None => bail!("lost contact with Locust"),
                },
                request = next(&mut inputs.control) => {
                    self.control(request, observers).await;
                    None
                }
                change = next(&mut inputs.changes) => self.change(change, observers).await,
                _ = shutdown.requested() => return Ok(End::Signal),
            };
            if let Some(why) = replace_because {
                if !self.replace(why, tx, rx, shutdown, observers).await? {
                    return Ok(End::Signal);
                }
            }
            if let Some(reason) = observers.iter().find_map(|o| o.should_stop()) {
                return Ok(End::Early(reason));
            }
            if let Some(reason) = self.quit.take() {
                return Ok(End::Early(reason)); // the locustfile quit
            }
        }
    }
}

/// The next message of an optional input; never, when there is none.
async fn next<T>(input: &mut Option<mpsc::Receiver<T>>) -> T {
    if let Some(rx) = input {
        if let Some(message) = rx.recv().await {
            return message;
        }
        *input = None; // its sender is gone: nothing more will come
    }
    std::future::pending().await
}

/// Why Locust must be replaced by a new one.
enum Replace {
    /// It died or hung (counted against the crash budget).
    Crashed(String),
    /// A reload brought a new locustfile.
    Reloaded,
}

/// Why the loop ended.
enum End {
    RunTime,
    Signal,
    Early(String),
    Error(anyhow::Error),
}

/// The state of a run between events. Each part is its own type, with the
/// decisions unit-tested there; `Run` wires them.
struct Run {
    /// The clock of the plan: which phase runs, the users asked for.
    schedule: Schedule,
    recorder: Recorder,
    locust: Engine,
    clock: Clock,
    /// What Locust said in its last sample.
    live: Live,
    /// Saturation, shortfall and the users' errors.
    health: Health,
    /// The oldest occurrence whose statistics may still change.
    open: usize,
    /// What the users were doing at the end, said when the run made no request.
    users_at_end: Option<String>,
    /// Why the locustfile ended the run (it called runner.quit()).
    quit: Option<String>,
}

/// When the run started and how long it may go.
#[derive(Debug)]
struct Clock {
    start: Instant,
    deadline: Option<Instant>,
    /// The run time left when the run started (all of it, or what
    /// `--start-at` left).
    run_time: Option<Duration>,
    sample_interval: Duration,
    /// `--workers auto` chose the local workers (see `steer::check_capacity`).
    auto_workers: bool,
}

impl Clock {
    /// Seconds since the start at `at`: the record's time.
    fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }
}

impl Run {
    fn new(plan: Plan, group: LocustGroup, spec: GroupSpec, options: &RunOptions) -> Run {
        let start = Instant::now();
        let wall = SystemTime::now();
        let recorder = Recorder::new(&plan, unix_now());
        // With --start-at, the schedule is where the wall clock says and the
        // run time is what is left of it since the anchor.
        let (position, run_time) = match options.start_at {
            Some(start_at) => (
                wall.duration_since(start_at).unwrap_or_default(),
                options
                    .run_time
                    .map(|t| schedule::run_time_left(start_at, t, wall).unwrap_or_default()),
            ),
            None => (Duration::ZERO, options.run_time),
        };
        Run {
            live: Live::new(start, plan.user_types.len(), group.workers),
            schedule: Schedule::resuming(plan, start, position),
            recorder,
            locust: Engine::new(group, spec, start),
            clock: Clock {
                start,
                deadline: run_time.map(|t| start + t),
                run_time,
                sample_interval: options.sample_interval,
                auto_workers: options.auto_workers,
            },
            health: Health::new(start),
            open: 0,
            users_at_end: None,
            quit: None,
        }
    }

    fn status(&self, now: Instant) -> Status<'_> {
        Status {
            plan: self.schedule.plan(),
            slot: self.schedule.slot(),
            elapsed: now.saturating_duration_since(self.clock.start),
            position: self.schedule.position(now),
            paused: self.schedule.paused(),
            scale: self.schedule.scale_factor(),
            targets: self.schedule.targets(self.schedule.slot().phase_index),
            run_time: self.clock.run_time,
            commanded: self.schedule.commanded(),
            actual: &self.live.actual,
            restarts: self.recorder.record().restarts,
            requests_per_s: self.live.requests_per_s,
            workers: self.live.workers,
            worker_users: &self.live.worker_users,
            saturated: self.health.saturated(),
            delivery: self.health.delivery(),
            short: self.health.short(),
            dropping: self.health.dropping(),
        }
    }

    fn seconds(&self, at: Instant) -> f64 {
        self.clock.seconds(at)
    }

    fn begin(&mut self, observers: &mut [&mut dyn Observer]) {
        let first = self.schedule.first();
        let position = self.schedule.position(self.clock.start);
        if !position.is_zero() {
            // --start-at in the past: say where the wall clock put the run.
            let slot = first.slot;
            let message = format!(
                "--start-at: starting {:.1} s into phase {} of loop {} ({:.1} s of it left), users ramping at its hatch rate",
                (position - slot.start).as_secs_f64(),
                slot.phase_index + 1,
                slot.loop_index + 1,
                (slot.end - position).as_secs_f64(),
            );
            for o in observers.iter_mut() {
                o.note(&message);
            }
        }
        self.record_boundary(&first, observers);
    }

    fn record_boundary(&mut self, boundary: &Boundary, observers: &mut [&mut dyn Observer]) {
        let slot = boundary.slot;
        let at = self.seconds(boundary.at);
        let targets = boundary.targets.clone();
        let waits = self.schedule.plan().paces(slot.phase_index);
        self.recorder
            .phase_started(slot.phase_index, slot.loop_index, at, targets, waits);
        let status = self.status(Instant::now());
        for o in observers.iter_mut() {
            o.phase_started(&status);
        }
    }

    /// Adds the users asked for until `now` to the interval's user-seconds:
    /// called before every change of those counts.
    fn accrue_offered(&mut self, now: Instant) {
        self.health.accrue(now, self.schedule.commanded());
    }

    async fn tick(&mut self, now: Instant, observers: &mut [&mut dyn Observer]) {
        self.accrue_offered(now);
        let tick = self.schedule.tick(now);
        if let Some(boundary) = &tick.boundary {
            // Close the ending phase's statistics before the new targets.
            self.locust.group.send(&Command::Flush).await;
            self.record_boundary(boundary, observers);
        }
        if let Some(command) = &tick.send {
            self.locust.group.send(command).await;
        }
    }

    /// Replaces Locust after a crash, a hang or a reload of its locustfile.
    /// `Ok(false)` when a signal came while the new one was starting.
    async fn replace(
        &mut self,
        why: Replace,
        tx: &mpsc::Sender<Output>,
        rx: &mut mpsc::Receiver<Output>,
        shutdown: &mut Shutdown,
        observers: &mut [&mut dyn Observer],
    ) -> Result<bool> {
        let now = Instant::now();
        self.locust.group.kill();
        // Until a new one has started, there is no Locust to stop (an error or
        // a signal ends the run meanwhile).
        self.locust.alive = false;
        if let Replace::Crashed(why) = &why {
            self.locust.crashed(now, why)?;
            let phase = self.schedule.slot().phase_index + 1;
            let detail =
                format!("{why}; restarting it and resuming phase {phase} where the schedule is");
            self.event("restart", detail, observers);
            self.recorder.restarted();
        }
        let generation = self.locust.group.generation + 1;
        let spec = &self.locust.spec;
        let started =
            LocustGroup::start(spec, generation, tx.clone(), rx, shutdown, observers).await?;
        let Some(group) = started else {
            return Ok(false);
        };
        let restarted_at = Instant::now();
        self.locust.replaced(group, restarted_at);
        self.schedule.restart(restarted_at);
        if let Replace::Reloaded = why {
            let silent = restarted_at.duration_since(now).as_secs_f64();
            for o in observers.iter_mut() {
                o.note(&format!(
                    "Locust restarted with the new locustfile in {silent:.1} s"
                ));
            }
        }
        Ok(true)
    }

    /// Says what a watcher found, and keeps it as a run event.
    fn say(&mut self, said: Said, observers: &mut [&mut dyn Observer]) {
        self.event(said.kind, said.detail, observers);
    }

    /// Records an event and tells the observers.
    fn event(&mut self, kind: &str, detail: String, observers: &mut [&mut dyn Observer]) {
        let event = RunEvent {
            at_s: self.seconds(Instant::now()),
            kind: kind.to_string(),
            detail,
        };
        for o in observers.iter_mut() {
            o.note(&event.detail);
            o.event(&event);
        }
        self.recorder.event(event);
    }
}

/// Now, in seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
