//! The schedule: which phase occurrence runs now, and how many users of each type
//! loadgen asks Locust for at this moment.
//!
//! It is a state machine driven by the run loop's events (a tick, a restart of
//! Locust, a sample) and returns what to tell Locust; it does no I/O and knows no
//! processes, so every rule here is unit-tested without Python.
//!
//! Time runs on a [`Clock`] of its own: schedule time is what decides the phase
//! (phase k of loop l starts at `l * cycle + earlier durations`). It advances with
//! the wall clock and is computed from one anchor, so nothing drifts. Live control
//! moves that clock: a jump sets it to a phase's start, a pause holds it. The run
//! time is wall-clock time and is not moved by either.
//!
//! With `--start-at` the anchor is a wall-clock time ([`Anchor`]): schedule time
//! is the time since it, so a master started late (or restarted) begins where
//! the wall clock says, mid-phase, with the phase's remaining time.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use super::ramp::Ramp;
use crate::locust::protocol::{Command, PhaseTag, RateTarget};
use crate::plan::{apportion, Arrival, Counts, Plan, Slot};

/// A phase occurrence's number in the run (0, 1, 2, ...): samples carry it back
/// so that each request lands in the occurrence it was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Occurrence(pub usize);

/// The shortest wait between two moves of a ramp: a faster hatch rate moves
/// several users at once (finer would only send Locust more commands).
const MIN_STEP: Duration = Duration::from_millis(10);

/// Schedule time: where in the plan's timeline the run is.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// A wall-clock instant and the schedule time it corresponds to.
    anchor: Instant,
    at_anchor: Duration,
    /// A held clock stays at `at_anchor`.
    held: bool,
}

impl Clock {
    fn now(&self, now: Instant) -> Duration {
        if self.held {
            return self.at_anchor;
        }
        self.at_anchor + now.saturating_duration_since(self.anchor)
    }

    /// Sets schedule time to `position` at `now` (held or not, as it was).
    fn set(&mut self, position: Duration, now: Instant) {
        self.anchor = now;
        self.at_anchor = position;
    }

    fn hold(&mut self, now: Instant) {
        self.set(self.now(now), now);
        self.held = true;
    }

    fn release(&mut self, now: Instant) {
        self.anchor = now;
        self.held = false;
    }

    /// The wall-clock instant at which schedule time was (or will be) `t`.
    fn instant_of(&self, t: Duration, now: Instant) -> Instant {
        let current = self.now(now);
        if t <= current {
            now.checked_sub(current - t).unwrap_or(now)
        } else {
            now + (t - current)
        }
    }
}

/// Where a schedule anchored to the wall clock (`--start-at`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The anchor is this far ahead: nothing runs until then.
    Ahead(Duration),
    /// Schedule time is this: the time since the anchor.
    At(Duration),
}

impl Anchor {
    /// Where a schedule that starts at `start_at` is at `now` (both wall clock).
    pub fn of(start_at: SystemTime, now: SystemTime) -> Anchor {
        match start_at.duration_since(now) {
            Ok(ahead) if !ahead.is_zero() => Anchor::Ahead(ahead),
            _ => Anchor::At(now.duration_since(start_at).unwrap_or_default()),
        }
    }
}

/// The run time left at `now` of a run anchored at `start_at`: with
/// `--start-at`, `--run-time` counts from the anchor, so a restarted master
/// ends when the first would have. `None` when that end has passed.
pub fn run_time_left(
    start_at: SystemTime,
    run_time: Duration,
    now: SystemTime,
) -> Option<Duration> {
    (start_at + run_time)
        .duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
}

/// A new phase occurrence has begun.
#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    pub slot: Slot,
    pub occurrence: Occurrence,
    /// When it began on the wall clock (its scheduled start, not the tick that saw it).
    pub at: Instant,
    /// The plan's users per type for it.
    pub targets: Counts,
}

/// What the run loop must do after a tick, in this order.
#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    /// A new occurrence began: close the previous one's statistics, then record it.
    pub boundary: Option<Boundary>,
    /// New user counts to send to Locust.
    pub send: Option<Command>,
}

/// The schedule of one run.
#[derive(Debug)]
pub struct Schedule {
    plan: Plan,
    clock: Clock,
    slot: Slot,
    occurrence: Occurrence,
    ramp: Ramp,
    ramp_start: Instant,
    /// What loadgen asks for now (mid-ramp included).
    commanded: Counts,
    /// What was last sent to Locust; `None` forces a send at the next tick.
    sent: Option<Counts>,
    /// Every phase's users are multiplied by this (1 = the plan).
    scale: f64,
    /// A control action asks for a new occurrence at the next tick, starting then.
    restart_occurrence: bool,
}

/// A control action that cannot be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("there is no phase {0}: the plan has {1} phases")]
    NoSuchPhase(usize, usize),
    #[error("the scale factor must be a number from 0 to 100, not {0}")]
    BadScale(f64),
    #[error("the run is already paused")]
    AlreadyPaused,
    #[error("the run is not paused")]
    NotPaused,
}

impl Schedule {
    /// A schedule whose first phase starts at `start`, from zero users.
    #[cfg(test)]
    pub fn new(plan: Plan, start: Instant) -> Schedule {
        Schedule::resuming(plan, start, Duration::ZERO)
    }

    /// A schedule that is at schedule time `position` at `start` (`--start-at`
    /// in the past): the phase occurrence there runs for what is left of it,
    /// its users ramping from zero at its hatch rate from `start`, and every
    /// later boundary comes at its computed time.
    pub fn resuming(plan: Plan, start: Instant, position: Duration) -> Schedule {
        let slot = plan.slot_at(position);
        let zero = vec![0; plan.user_types.len()];
        let targets = plan.targets(slot.phase_index);
        let ramp = Ramp::new(
            zero.clone(),
            targets,
            plan.phases[slot.phase_index].hatch_rate,
        );
        Schedule {
            clock: Clock {
                anchor: start,
                at_anchor: position,
                held: false,
            },
            slot,
            occurrence: Occurrence(0),
            ramp,
            ramp_start: start,
            commanded: zero,
            sent: None,
            scale: 1.0,
            restart_occurrence: false,
            plan,
        }
    }

    /// The first occurrence, as a boundary to record when the run starts.
    pub fn first(&self) -> Boundary {
        Boundary {
            slot: self.slot,
            occurrence: self.occurrence,
            at: self.ramp_start,
            targets: self.targets(self.slot.phase_index),
        }
    }

    /// A phase's users per type, scaled: the scaled total split by the plan's
    /// counts with largest remainders, so the mix stays and the counts add up.
    pub fn targets(&self, phase_index: usize) -> Counts {
        let planned = self.plan.targets(phase_index);
        if self.scale == 1.0 {
            return planned;
        }
        let total = (self.plan.total_users(phase_index) as f64 * self.scale).round() as u64;
        let weights: Vec<u64> = planned.iter().map(|&n| u64::from(n)).collect();
        apportion(total, &weights)
            .into_iter()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .collect()
    }

    /// Moves the schedule to `now`: a boundary if a new occurrence began, and the
    /// counts to send if they changed.
    pub fn tick(&mut self, now: Instant) -> Tick {
        let mut tick = Tick::default();
        let current = self.plan.slot_at(self.clock.now(now));
        if current != self.slot || self.restart_occurrence {
            self.slot = current;
            self.occurrence.0 += 1;
            let targets = self.targets(current.phase_index);
            let hatch_rate = self.plan.phases[current.phase_index].hatch_rate;
            self.ramp = Ramp::new(self.commanded.clone(), targets.clone(), hatch_rate);
            // The ramp starts at the phase's scheduled start, not at this tick,
            // unless a control action started this occurrence: then it is now.
            self.ramp_start = if self.restart_occurrence {
                now
            } else {
                self.clock.instant_of(current.start, now)
            };
            self.restart_occurrence = false;
            self.sent = None;
            tick.boundary = Some(Boundary {
                slot: current,
                occurrence: self.occurrence,
                at: self.ramp_start,
                targets,
            });
        }
        self.commanded = if self.clock.held {
            vec![0; self.plan.user_types.len()]
        } else {
            self.ramp.at(now.saturating_duration_since(self.ramp_start))
        };
        if self.sent.as_ref() != Some(&self.commanded) {
            self.sent = Some(self.commanded.clone());
            tick.send = Some(self.command());
        }
        tick
    }

    /// The next instant after `now` at which [`Schedule::tick`] has something
    /// new to do: the running ramp's next step, or the next phase boundary.
    /// The run loop wakes there as well as at its 100 ms ticks, so a ramp
    /// follows its hatch rate to within [`MIN_STEP`] and a boundary is met on
    /// time. Before, counts moved only at the ticks: 40 users at 1,000/s all
    /// ran on until the tick after their 40 ms ramp down, and a quiet phase
    /// began with 30 to 40 of their requests.
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        if self.clock.held {
            return None;
        }
        let step = self
            .ramp
            .next_step(now.saturating_duration_since(self.ramp_start))
            .map(|due| (self.ramp_start + due).max(now + MIN_STEP));
        let boundary = Some(self.clock.instant_of(self.slot.end, now));
        [step, boundary]
            .into_iter()
            .flatten()
            .filter(|&at| at > now)
            .min()
    }

    /// Locust was restarted with no users: ramp back to where the schedule is,
    /// at the phase's hatch rate, from `now`.
    pub fn restart(&mut self, now: Instant) {
        let zero = vec![0; self.plan.user_types.len()];
        let phase = &self.plan.phases[self.slot.phase_index];
        self.ramp = Ramp::new(
            zero.clone(),
            self.targets(self.slot.phase_index),
            phase.hatch_rate,
        );
        self.ramp_start = now;
        self.commanded = zero;
        self.sent = None;
    }

    /// Goes to phase `phase_index` now: to its occurrence in this loop if it is
    /// ahead, else in the next loop (loop numbers never repeat). Users ramp at
    /// that phase's hatch rate, as at any boundary, and the schedule goes on from
    /// there.
    pub fn jump(&mut self, phase_index: usize, now: Instant) -> Result<(), Refused> {
        let phases = self.plan.phases.len();
        if phase_index >= phases {
            return Err(Refused::NoSuchPhase(phase_index + 1, phases));
        }
        let loop_index = if phase_index > self.slot.phase_index {
            self.slot.loop_index
        } else {
            self.slot.loop_index + 1
        };
        self.clock
            .set(self.plan.start_of(loop_index, phase_index), now);
        self.restart_occurrence = true;
        Ok(())
    }

    /// Goes to the next phase now (the first of the next loop after the last).
    pub fn next(&mut self, now: Instant) -> Result<(), Refused> {
        self.jump((self.slot.phase_index + 1) % self.plan.phases.len(), now)
    }

    /// Every user stops and the schedule's clock holds.
    pub fn pause(&mut self, now: Instant) -> Result<(), Refused> {
        if self.clock.held {
            return Err(Refused::AlreadyPaused);
        }
        self.clock.hold(now);
        Ok(())
    }

    /// Back where the pause left off: the clock goes on, users ramp back up at
    /// the phase's hatch rate.
    pub fn resume(&mut self, now: Instant) -> Result<(), Refused> {
        if !self.clock.held {
            return Err(Refused::NotPaused);
        }
        self.clock.release(now);
        let zero = vec![0; self.plan.user_types.len()];
        let phase = &self.plan.phases[self.slot.phase_index];
        self.ramp = Ramp::new(zero, self.targets(self.slot.phase_index), phase.hatch_rate);
        self.ramp_start = now;
        Ok(())
    }

    /// Multiplies every phase's users by `factor` from now on (1 = the plan).
    pub fn scale(&mut self, factor: f64) -> Result<(), Refused> {
        if !(0.0..=100.0).contains(&factor) || factor.is_nan() {
            return Err(Refused::BadScale(factor));
        }
        self.scale = factor;
        self.restart_occurrence = true;
        Ok(())
    }

    /// A new plan replaces this one at the same schedule position: the phase at
    /// that position in the new plan starts a new occurrence now, and the counts
    /// ramp to its users. `plan` must list this plan's user types first, in the
    /// same order (see [`Plan::keeping_types`]), so counts keep their meaning.
    pub fn replace_plan(&mut self, plan: Plan, now: Instant) {
        debug_assert!(plan.user_types.starts_with(&self.plan.user_types));
        let n = plan.user_types.len();
        self.commanded.resize(n, 0);
        self.plan = plan;
        // The old slot may not exist in the new plan: a new occurrence either way.
        self.slot = self.plan.slot_at(self.clock.now(now));
        self.restart_occurrence = true;
    }

    /// Where in the plan's timeline the run is.
    pub fn position(&self, now: Instant) -> Duration {
        self.clock.now(now)
    }

    pub fn paused(&self) -> bool {
        self.clock.held
    }

    pub fn scale_factor(&self) -> f64 {
        self.scale
    }

    /// Whether the counts have reached the phase's targets at least `margin` ago
    /// (samples taken since show the plateau, not the ramp).
    pub fn settled(&self, now: Instant, margin: Duration) -> bool {
        now.saturating_duration_since(self.ramp_start) >= self.ramp.duration() + margin
            && &self.commanded == self.ramp.target()
            && !self.clock.held
    }

    /// The targets command for what loadgen asks for now, with the phase's waits.
    pub fn command(&self) -> Command {
        let plan = &self.plan;
        let users: BTreeMap<String, u32> = plan
            .user_types
            .iter()
            .zip(&self.commanded)
            .map(|(name, &n)| (name.user_class(), n))
            .collect();
        let waits = plan
            .user_types
            .iter()
            .zip(plan.waits(self.slot.phase_index))
            .filter_map(|(name, wait)| {
                wait.map(|(lo, hi)| (name.user_class(), (lo.as_secs_f64(), hi.as_secs_f64())))
            })
            .collect();
        let ramp_to = plan
            .user_types
            .iter()
            .zip(self.ramp.target())
            .map(|(name, &n)| (name.user_class(), n))
            .collect();
        // A rate phase's rates, scaled as its pool is (live control's `scale`),
        // from when its ramp began (the boundary, or a control action), on
        // the wall clock that the harness shares.
        let phase = &plan.phases[self.slot.phase_index];
        let since = epoch_seconds(self.ramp_start);
        // Each type of a rate phase at its rate; every type the phase has no
        // user of at 0, so that a type leaving a rate phase waits for start
        // times that do not come while its users are stopped (the harness
        // leaves a type that was never at a rate alone: it runs by its waits
        // until stopped, as in any ramp-down). A type of a phase of users is
        // not listed: it runs by its waits.
        let (arrival, ramp) = phase.rate.map_or((Arrival::Uniform, 0.0), |r| {
            (r.arrival, r.ramp.as_secs_f64())
        });
        let per_type = plan.rates(self.slot.phase_index);
        // A pause holds every user, and so every rate: no start time is laid
        // down for users that are not there (they would all be dropped).
        let factor = if self.clock.held { 0.0 } else { self.scale };
        let rates = plan
            .user_types
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let per_s = per_type.as_ref().map_or(0.0, |r| r[i]);
                let none = self.ramp.target().get(i).is_none_or(|&n| n == 0);
                (per_s > 0.0 || none).then(|| {
                    let target = RateTarget {
                        per_s: per_s * factor,
                        arrival,
                        ramp_s: ramp,
                        since,
                    };
                    (name.user_class(), target)
                })
            })
            .collect();
        Command::Targets {
            occurrence: self.occurrence.0,
            phase: PhaseTag {
                number: phase.number,
                name: phase.name.clone().unwrap_or_default(),
                loop_number: self.slot.loop_index as usize + 1,
            },
            users,
            waits,
            ramp_to,
            rates,
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn slot(&self) -> Slot {
        self.slot
    }

    pub fn commanded(&self) -> &Counts {
        &self.commanded
    }
}

/// Seconds since the Unix epoch at `at`, by one anchor of the two clocks
/// taken once per process, so that an instant always gives the same time.
/// (Should the wall clock be stepped by more than a second during a run, the
/// harness takes the rates' `since` as now: no worse than without it.)
fn epoch_seconds(at: Instant) -> f64 {
    static ANCHOR: OnceLock<(Instant, f64)> = OnceLock::new();
    let &(instant, wall) = ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |t| t.as_secs_f64());
        (Instant::now(), wall)
    });
    if at >= instant {
        wall + (at - instant).as_secs_f64()
    } else {
        wall - (instant - at).as_secs_f64()
    }
}

#[cfg(test)]
mod tests;
