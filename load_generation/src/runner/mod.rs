//! Stage 4: run the plan on Locust, phase after phase, with no gaps.
//!
//! One Locust run serves the whole load. loadgen keeps the clock: every tick it
//! finds the phase that should be running (from the run's start, so nothing
//! drifts), moves the user counts along a [`ramp::Ramp`] at the phase's hatch rate,
//! and tells the harness the exact number of users per type and their waits. The
//! harness reports a sample every interval, which goes to the [`Recorder`] and to
//! the observers (live progress, metrics).
//!
//! If Locust dies, loadgen starts it again and ramps back to where the schedule is;
//! too many crashes in a short window stop the run with an error instead.

pub mod group;
pub mod ramp;
pub mod signals;
pub mod wait_for_host;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use tokio::sync::mpsc;

use crate::locust::process::Output;
use crate::locust::protocol::{Command, Event, Sample};
use crate::plan::{Counts, Plan, Slot};
use crate::stats::{Recorder, RunRecord};
use group::{GroupSpec, LocustGroup};
use ramp::Ramp;
use signals::Shutdown;

/// How often loadgen moves user counts along a ramp.
const TICK: Duration = Duration::from_millis(100);
/// Crashes tolerated within [`CRASH_WINDOW`] before the run gives up.
const MAX_CRASHES: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// How long a stopping harness gets to let users finish their task (0.5 s
/// drain), collect the workers' last reports and send its last sample.
const STOP_GRACE: Duration = Duration::from_millis(2500);

/// What the run looks like right now, for observers.
#[derive(Debug, Clone)]
pub struct Status<'a> {
    pub plan: &'a Plan,
    pub slot: Slot,
    pub elapsed: Duration,
    pub run_time: Option<Duration>,
    /// Users per type that loadgen asks for at this moment (mid-ramp included).
    pub commanded: &'a Counts,
    /// Users per type that Locust reported in its last sample.
    pub actual: &'a Counts,
    pub restarts: u32,
    pub workers: u32,
}

/// Something that wants to follow the run as it happens.
pub trait Observer {
    fn phase_started(&mut self, _status: &Status) {}
    fn sample(&mut self, _status: &Status, _sample: &Sample) {}
    fn note(&mut self, _message: &str) {}
    fn finished(&mut self) {}
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_time: Option<Duration>,
    pub sample_interval: Duration,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    pub record: RunRecord,
    /// The run was stopped by SIGINT/SIGTERM rather than by its run time.
    pub interrupted: bool,
}

/// Runs `plan` until its run time is spent or a signal stops it.
pub async fn run(
    plan: &Plan,
    spec: &GroupSpec,
    options: &RunOptions,
    observers: &mut [&mut dyn Observer],
    shutdown: &mut Shutdown,
) -> Result<Outcome> {
    let (tx, mut rx) = mpsc::channel::<Output>(4096);
    let mut group = LocustGroup::start(spec, 0, tx.clone(), &mut rx, shutdown, observers).await?;

    let run_start = Instant::now();
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let deadline = options.run_time.map(|t| run_start + t);
    let mut recorder = Recorder::new(plan, started_at);
    let zero: Counts = vec![0; plan.user_types.len()];
    let mut commanded = zero.clone();
    let mut actual = zero.clone();
    let mut slot = plan.slot_at(Duration::ZERO);
    let mut ramp = Ramp::new(
        zero.clone(),
        plan.targets(slot.phase_index),
        plan.phases[slot.phase_index].hatch_rate,
    );
    let mut ramp_start = run_start;
    let mut sent: Option<Counts> = None;
    let mut crashes: Vec<Instant> = Vec::new();
    let mut workers = group.workers;
    let mut interrupted = false;
    // Index of the running phase occurrence in the recorder (and in the samples).
    let mut occurrence = 0usize;

    recorder.phase_started(
        slot.phase_index,
        slot.loop_index,
        0.0,
        plan.targets(slot.phase_index),
    );
    notify(
        observers,
        |o, s| o.phase_started(s),
        &Status {
            plan,
            slot,
            elapsed: Duration::ZERO,
            run_time: options.run_time,
            commanded: &commanded,
            actual: &actual,
            restarts: 0,
            workers,
        },
    );

    let mut next_tick = run_start;
    loop {
        let wake = deadline.map_or(next_tick, |d| d.min(next_tick));
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    break;
                }
                next_tick += TICK;
                if next_tick < now {
                    next_tick = now + TICK;
                }
                let elapsed = now - run_start;
                let current = plan.slot_at(elapsed);
                if current != slot {
                    // Close the ending phase's statistics before the new targets.
                    group.send(&Command::Flush).await;
                    slot = current;
                    occurrence += 1;
                    let phase = &plan.phases[slot.phase_index];
                    ramp = Ramp::new(commanded.clone(), plan.targets(slot.phase_index), phase.hatch_rate);
                    // The ramp starts at the phase's scheduled start, not at this tick.
                    ramp_start = run_start + slot.start;
                    sent = None;
                    recorder.phase_started(slot.phase_index, slot.loop_index, slot.start.as_secs_f64(), plan.targets(slot.phase_index));
                    notify(observers, |o, s| o.phase_started(s), &Status {
                        plan, slot, elapsed, run_time: options.run_time, commanded: &commanded,
                        actual: &actual, restarts: recorder.record().restarts, workers,
                    });
                }
                commanded = ramp.at(now.saturating_duration_since(ramp_start));
                if sent.as_ref() != Some(&commanded) {
                    group.send(&targets_command(plan, slot.phase_index, occurrence, &commanded)).await;
                    sent = Some(commanded.clone());
                }
            }
            output = rx.recv() => {
                let Some(output) = output else { bail!("lost contact with Locust") };
                match output {
                    Output::Event(id, event) if group.owns(id) => match event {
                        Event::Sample(sample) => {
                            let now = Instant::now();
                            let elapsed = now - run_start;
                            actual = plan.user_types.iter().map(|n| sample.users.get(&n.user_class()).copied().unwrap_or(0)).collect();
                            workers = sample.workers;
                            let ramped = now.saturating_duration_since(ramp_start) >= ramp.duration() + options.sample_interval * 2
                                && &commanded == ramp.target();
                            recorder.sample(&sample, elapsed.as_secs_f64(), ramped);
                            notify(observers, |o, s| o.sample(s, &sample), &Status {
                                plan, slot, elapsed, run_time: options.run_time, commanded: &commanded,
                                actual: &actual, restarts: recorder.record().restarts, workers,
                            });
                        }
                        Event::Warning { message, traceback } => {
                            let text = match traceback { Some(tb) => format!("{message}\n{}", group.map_traceback(&tb)), None => message };
                            for o in observers.iter_mut() { o.note(&text); }
                        }
                        Event::Fatal { message, traceback, .. } => {
                            group.fatal = Some(match traceback { Some(tb) => format!("{message}\n{}", group.map_traceback(&tb)), None => message });
                        }
                        Event::Ready { .. } | Event::Stopped => {}
                    },
                    Output::Stderr(id, line) if group.owns(id) => group.stderr_line(&line, observers),
                    Output::Exited(id) if group.owns(id) => {
                        // Locust died under us: restart it and ramp back to the schedule.
                        let now = Instant::now();
                        crashes.retain(|t| now.duration_since(*t) < CRASH_WINDOW);
                        crashes.push(now);
                        let why = group.describe_exit();
                        group.kill();
                        if crashes.len() >= MAX_CRASHES {
                            recorder.finish(now.duration_since(run_start).as_secs_f64());
                            bail!("Locust crashed {} times within {} s; giving up. Last crash: {why}", crashes.len(), CRASH_WINDOW.as_secs());
                        }
                        for o in observers.iter_mut() {
                            o.note(&format!("Locust exited unexpectedly ({why}); restarting it and resuming phase {} where the schedule is", slot.phase_index + 1));
                        }
                        recorder.restarted();
                        let generation = group.generation + 1;
                        group = LocustGroup::start(spec, generation, tx.clone(), &mut rx, shutdown, observers).await?;
                        let restarted_at = Instant::now();
                        let phase = &plan.phases[slot.phase_index];
                        ramp = Ramp::new(zero.clone(), plan.targets(slot.phase_index), phase.hatch_rate);
                        ramp_start = restarted_at;
                        commanded = zero.clone();
                        sent = None;
                        next_tick = restarted_at;
                    }
                    _ => {} // from a previous generation
                }
            }
            _ = shutdown.requested() => {
                interrupted = true;
                break;
            }
        }
    }

    // Stop: ask the harness for its last sample, then make sure nothing is left.
    // (A second signal during this is handled by the signal task: it kills all.)
    let stop_at = Instant::now();
    group.send(&Command::Stop).await;
    let give_up = stop_at + STOP_GRACE;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(give_up.into()) => break,
            output = rx.recv() => match output {
                Some(Output::Event(id, Event::Sample(mut sample))) if group.owns(id) => {
                    // The last sample comes after the users were stopped: its
                    // requests count, its user counts (all 0) say nothing about the run.
                    sample.users = plan.user_classes().into_iter().zip(actual.iter().copied()).collect();
                    let elapsed = Instant::now() - run_start;
                    let at = deadline.map_or(elapsed, |d| elapsed.min(d - run_start));
                    recorder.sample(&sample, at.as_secs_f64(), false);
                }
                Some(Output::Event(id, Event::Stopped)) if group.primary() == Some(id) => break,
                Some(Output::Exited(id)) if group.primary() == Some(id) => break,
                Some(_) => {}
                None => break,
            },
        }
    }
    group.kill();
    let end = match (deadline, interrupted) {
        (Some(d), false) => d - run_start,
        _ => stop_at - run_start,
    };
    recorder.finish(end.as_secs_f64());
    for o in observers.iter_mut() {
        o.finished();
    }
    Ok(Outcome {
        record: recorder.record().clone(),
        interrupted,
    })
}

fn notify(
    observers: &mut [&mut dyn Observer],
    f: impl Fn(&mut dyn Observer, &Status),
    status: &Status,
) {
    for o in observers.iter_mut() {
        f(&mut **o, status);
    }
}

/// The targets command for `counts`, with the waits of the running phase.
fn targets_command(plan: &Plan, phase_index: usize, occurrence: usize, counts: &Counts) -> Command {
    let users: BTreeMap<String, u32> = plan
        .user_types
        .iter()
        .zip(counts)
        .map(|(name, &n)| (name.user_class(), n))
        .collect();
    let waits = plan
        .user_types
        .iter()
        .zip(plan.waits(phase_index))
        .filter_map(|(name, wait)| {
            wait.map(|(lo, hi)| (name.user_class(), (lo.as_secs_f64(), hi.as_secs_f64())))
        })
        .collect();
    Command::Targets {
        occurrence,
        users,
        waits,
    }
}
