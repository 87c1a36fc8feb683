//! Stage 4: run the plan on Locust, phase after phase, with no gaps.
//!
//! One Locust run serves the whole load. The [`Schedule`] keeps the clock and
//! decides, every tick, which phase occurrence runs and how many users of each
//! type loadgen asks for; the run loop here only turns events into calls on it and
//! its answers into commands to Locust. The harness reports a sample every
//! interval, which goes to the [`Recorder`] and to the observers (live progress,
//! metrics).
//!
//! If Locust dies, or stops answering (no sample for [`HANG_TIMEOUT`]), loadgen
//! starts it again and ramps back to where the schedule is; too many restarts in a
//! short window stop the run with an error instead.

pub mod group;
mod health;
mod membership;
mod observer;
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

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use tokio::sync::mpsc;

use crate::control;
use crate::locust::process::Output;
use crate::locust::protocol::{Command, Event, Sample};
use crate::locust::users_at_end;
use crate::locustfile::Locustfile;
use crate::plan::{Counts, Plan};
use crate::stats::{Recorder, RunEvent};
use group::{GroupSpec, LocustGroup};
pub use observer::{Observer, Status};
use saturation::{Detector, ProcessCpu};
use schedule::{Boundary, Schedule};
use signals::Shutdown;
pub use stop::Outcome;

/// Loops whose occurrences are kept in detail (at least [`MIN_KEPT`]
/// occurrences); older ones are folded into one aggregate per phase, so memory
/// and the report stay bounded by the plan, not by the run's length.
const KEEP_LOOPS: usize = 5;
const MIN_KEPT: usize = 20;
/// Distinct exceptions shown as they first happen; beyond, they are only counted.
const MAX_ERRORS_SHOWN: usize = 20;
/// How often loadgen moves user counts along a ramp.
const TICK: Duration = Duration::from_millis(100);
/// Restarts tolerated within [`CRASH_WINDOW`] before the run gives up.
const MAX_CRASHES: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// How long a stopping harness gets to let users finish their task (0.5 s
/// drain), collect the workers' last reports and send its last sample.
const STOP_GRACE: Duration = Duration::from_millis(2500);
/// A Locust that sends no sample for this long (12 sample intervals) is taken
/// for hung (stopped, deadlocked, blocked on a pipe) and replaced. A saturated
/// Locust still samples: its gevent loop turns, only late.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(6);

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
        let mut next_tick = self.start;
        loop {
            let wake = [
                Some(next_tick),
                self.deadline,
                self.schedule.next_change(Instant::now()),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_tick);
            let replace_because = tokio::select! {
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if self.deadline.is_some_and(|d| now >= d) {
                        return Ok(End::RunTime);
                    }
                    // A wake for a boundary or a ramp's end comes between ticks.
                    if now >= next_tick {
                        next_tick += TICK;
                        if next_tick < now {
                            next_tick = now + TICK;
                        }
                    }
                    match self.hung(now) {
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

/// The state of a run between events: the schedule, the statistics, Locust.
struct Run {
    schedule: Schedule,
    recorder: Recorder,
    group: LocustGroup,
    /// How to start Locust again (a reload changes its locustfile).
    spec: GroupSpec,
    /// False after a restart was interrupted: there is no Locust to stop.
    alive: bool,
    start: Instant,
    deadline: Option<Instant>,
    run_time: Option<Duration>,
    sample_interval: Duration,
    auto_workers: bool,
    /// Users per type in Locust's last sample.
    actual: Counts,
    workers: u32,
    worker_users: BTreeMap<String, u32>,
    /// Every worker the master has named so far: one that comes back is told
    /// from a new one (`membership`).
    workers_seen: BTreeSet<String>,
    /// When the local runner or master last sent a sample.
    last_heard: Instant,
    crashes: Vec<Instant>,
    /// The oldest occurrence whose statistics may still change.
    open: usize,
    /// Requests per second in the last sample.
    requests_per_s: f64,
    /// The tracebacks of the users' exceptions already shown (each is shown
    /// once, at its first occurrence; later ones are counted).
    errors_shown: std::collections::HashSet<String>,
    /// The CPU of each Locust process, and what it says about saturation.
    cpu: Vec<ProcessCpu>,
    /// How busy the busiest Locust process was at the last sample (percent of
    /// a core, running or waiting for one); `None` before a first reading.
    busiest_busy: Option<f64>,
    saturation: Detector,
    /// Planned against delivered over the last seconds.
    shortfall: shortfall::Watch,
    /// Users per type loadgen asked for since the last sample.
    offered: health::Offered,
    last_sample_at: Instant,
    /// What the users were doing at the end, said when the run made no request.
    users_at_end: Option<String>,
    /// Why the locustfile ended the run (it called runner.quit()).
    quit: Option<String>,
}

impl Run {
    fn new(plan: Plan, group: LocustGroup, spec: GroupSpec, options: &RunOptions) -> Run {
        let start = Instant::now();
        let wall = SystemTime::now();
        let recorder = Recorder::new(&plan, unix_now());
        let zero = vec![0; plan.user_types.len()];
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
            workers: group.workers,
            worker_users: BTreeMap::new(),
            workers_seen: BTreeSet::new(),
            schedule: Schedule::resuming(plan, start, position),
            recorder,
            group,
            spec,
            alive: true,
            start,
            deadline: run_time.map(|t| start + t),
            run_time,
            sample_interval: options.sample_interval,
            auto_workers: options.auto_workers,
            actual: zero,
            last_heard: start,
            crashes: Vec::new(),
            open: 0,
            requests_per_s: 0.0,
            errors_shown: std::collections::HashSet::new(),
            cpu: Vec::new(),
            busiest_busy: None,
            saturation: Detector::default(),
            shortfall: shortfall::Watch::default(),
            offered: health::Offered::from(start),
            last_sample_at: start,
            users_at_end: None,
            quit: None,
        }
    }

    fn status(&self, now: Instant) -> Status<'_> {
        Status {
            plan: self.schedule.plan(),
            slot: self.schedule.slot(),
            elapsed: now.saturating_duration_since(self.start),
            position: self.schedule.position(now),
            paused: self.schedule.paused(),
            targets: self.schedule.targets(self.schedule.slot().phase_index),
            run_time: self.run_time,
            commanded: self.schedule.commanded(),
            actual: &self.actual,
            restarts: self.recorder.record().restarts,
            workers: self.workers,
            worker_users: &self.worker_users,
            saturated: self.saturation.saturated(),
            delivery: self.shortfall.latest(),
            short: self.shortfall.short(),
        }
    }

    fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64()
    }

    fn begin(&mut self, observers: &mut [&mut dyn Observer]) {
        let first = self.schedule.first();
        let position = self.schedule.position(self.start);
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
        let waits = self.schedule.plan().mean_waits(slot.phase_index);
        self.recorder
            .phase_started(slot.phase_index, slot.loop_index, at, targets, waits);
        let status = self.status(Instant::now());
        for o in observers.iter_mut() {
            o.phase_started(&status);
        }
    }

    async fn tick(&mut self, now: Instant, observers: &mut [&mut dyn Observer]) {
        self.accrue_offered(now);
        let tick = self.schedule.tick(now);
        if let Some(boundary) = &tick.boundary {
            // Close the ending phase's statistics before the new targets.
            self.group.send(&Command::Flush).await;
            self.record_boundary(boundary, observers);
        }
        if let Some(command) = &tick.send {
            self.group.send(command).await;
        }
    }

    /// Why Locust must be replaced, if it has gone silent.
    fn hung(&self, now: Instant) -> Option<String> {
        let silent = now.saturating_duration_since(self.last_heard);
        (silent >= HANG_TIMEOUT).then(|| {
            format!(
                "Locust stopped answering: no sample for {:.0} s",
                silent.as_secs_f64()
            )
        })
    }

    /// Handles what a harness said; `Some(why)` when Locust must be restarted.
    fn output(&mut self, output: Output, observers: &mut [&mut dyn Observer]) -> Option<String> {
        match output {
            Output::Event(id, event) if self.group.owns(id) => match event {
                Event::Sample(sample) => {
                    self.sample(sample, observers);
                    None
                }
                Event::Warning { message, traceback } => {
                    let text = match traceback {
                        Some(tb) => format!("{message}\n{}", self.group.map_traceback(&tb)),
                        None => message,
                    };
                    for o in observers.iter_mut() {
                        o.note(&text);
                    }
                    None
                }
                Event::Fatal {
                    message, traceback, ..
                } => {
                    self.group.fatal = Some(match traceback {
                        Some(tb) => format!("{message}\n{}", self.group.map_traceback(&tb)),
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
            Output::Stderr(id, line) if self.group.owns(id) => {
                self.group.stderr_line(&line, observers);
                None
            }
            // Locust died under us: restart it and ramp back to the schedule.
            Output::Exited(id) if self.group.owns(id) => Some(format!(
                "Locust exited unexpectedly ({})",
                self.group.describe_exit()
            )),
            _ => None, // from a previous generation
        }
    }

    fn sample(&mut self, sample: Sample, observers: &mut [&mut dyn Observer]) {
        let now = Instant::now();
        self.last_heard = now;
        let plan = self.schedule.plan();
        self.actual = plan
            .user_types
            .iter()
            .map(|n| sample.users.get(&n.user_class()).copied().unwrap_or(0))
            .collect();
        self.workers_reported(&sample, observers);
        if sample.worker_users != self.worker_users {
            tracing::debug!("users per worker: {:?}", sample.worker_users);
        }
        self.worker_users.clone_from(&sample.worker_users);
        let requests: u64 = sample.stats.iter().map(|s| s.requests).sum();
        let interval = now
            .saturating_duration_since(self.last_sample_at)
            .as_secs_f64();
        self.requests_per_s = requests as f64 / interval.max(1e-3);
        self.last_sample_at = now;
        self.show_new_errors(&sample, observers);
        self.watch_cpu(now, &sample, observers);
        let offered = self.offered(&sample, now);
        let ramped = self.schedule.settled(now, self.sample_interval * 2);
        self.recorder
            .sample(&sample, self.seconds(now), ramped, &offered);
        if let Some(occurrence) = sample.occurrence {
            self.watch_delivery(occurrence, offered, sample.loop_late_max_ms, observers);
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

    /// Tells observers that every occurrence before `occurrence` is final.
    fn close_through(&mut self, occurrence: usize, observers: &mut [&mut dyn Observer]) {
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
        self.group.kill();
        // Until a new one has started, there is no Locust to stop (an error or
        // a signal ends the run meanwhile).
        self.alive = false;
        if let Replace::Crashed(why) = &why {
            self.crashes
                .retain(|t| now.duration_since(*t) < CRASH_WINDOW);
            self.crashes.push(now);
            if self.crashes.len() >= MAX_CRASHES {
                bail!(
                    "Locust crashed {} times within {} s; giving up (a hang counts as a crash). Last time: {why}",
                    self.crashes.len(),
                    CRASH_WINDOW.as_secs()
                );
            }
            let phase = self.schedule.slot().phase_index + 1;
            let detail =
                format!("{why}; restarting it and resuming phase {phase} where the schedule is");
            self.event("restart", detail, observers);
            self.recorder.restarted();
        }
        let generation = self.group.generation + 1;
        let started =
            LocustGroup::start(&self.spec, generation, tx.clone(), rx, shutdown, observers).await?;
        match started {
            Some(group) => {
                self.group = group;
                self.alive = true;
                let restarted_at = Instant::now();
                self.schedule.restart(restarted_at);
                self.last_heard = restarted_at;
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
            None => Ok(false),
        }
    }

    /// The users at the end, said with the user's own file:line.
    fn say_users_at_end(&self, users: &crate::locust::protocol::UsersAtEnd) -> Option<String> {
        let (locustfile, run_path) = (&self.spec.locustfile, &self.spec.locustfile_path);
        users_at_end::why_no_request(users, |file, line| {
            users_at_end::place(locustfile, run_path, file, line)
        })
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
