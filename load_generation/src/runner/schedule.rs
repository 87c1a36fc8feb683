//! The schedule: which phase occurrence runs now, and how many users of each type
//! loadgen asks Locust for at this moment.
//!
//! It is a state machine driven by the run loop's events (a tick, a restart of
//! Locust, a sample) and returns what to tell Locust; it does no I/O and knows no
//! processes, so every rule here is unit-tested without Python.
//!
//! Time runs on a [`Clock`] of its own: schedule time is what decides the phase
//! (phase k of loop l starts at `l * cycle + earlier durations`). It advances with
//! the wall clock and is computed from one anchor, so nothing drifts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ramp::Ramp;
use crate::locust::protocol::Command;
use crate::plan::{Counts, Plan, Slot};

/// A phase occurrence's number in the run (0, 1, 2, ...): samples carry it back
/// so that each request lands in the occurrence it was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Occurrence(pub usize);

/// Schedule time: where in the plan's timeline the run is.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// A wall-clock instant and the schedule time it corresponds to.
    anchor: Instant,
    at_anchor: Duration,
}

impl Clock {
    fn now(&self, now: Instant) -> Duration {
        self.at_anchor + now.saturating_duration_since(self.anchor)
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
}

impl Schedule {
    /// A schedule whose first phase starts at `start`, from zero users.
    pub fn new(plan: Plan, start: Instant) -> Schedule {
        let slot = plan.slot_at(Duration::ZERO);
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
                at_anchor: Duration::ZERO,
            },
            slot,
            occurrence: Occurrence(0),
            ramp,
            ramp_start: start,
            commanded: zero,
            sent: None,
            plan,
        }
    }

    /// The first occurrence, as a boundary to record when the run starts.
    pub fn first(&self) -> Boundary {
        Boundary {
            slot: self.slot,
            occurrence: self.occurrence,
            at: self.ramp_start,
            targets: self.plan.targets(self.slot.phase_index),
        }
    }

    /// Moves the schedule to `now`: a boundary if a new occurrence began, and the
    /// counts to send if they changed.
    pub fn tick(&mut self, now: Instant) -> Tick {
        let mut tick = Tick::default();
        let current = self.plan.slot_at(self.clock.now(now));
        if current != self.slot {
            self.slot = current;
            self.occurrence.0 += 1;
            let targets = self.plan.targets(current.phase_index);
            let hatch_rate = self.plan.phases[current.phase_index].hatch_rate;
            self.ramp = Ramp::new(self.commanded.clone(), targets.clone(), hatch_rate);
            // The ramp starts at the phase's scheduled start, not at this tick.
            self.ramp_start = self.clock.instant_of(current.start, now);
            self.sent = None;
            tick.boundary = Some(Boundary {
                slot: current,
                occurrence: self.occurrence,
                at: self.ramp_start,
                targets,
            });
        }
        self.commanded = self.ramp.at(now.saturating_duration_since(self.ramp_start));
        if self.sent.as_ref() != Some(&self.commanded) {
            self.sent = Some(self.commanded.clone());
            tick.send = Some(self.command());
        }
        tick
    }

    /// Locust was restarted with no users: ramp back to where the schedule is,
    /// at the phase's hatch rate, from `now`.
    pub fn restart(&mut self, now: Instant) {
        let zero = vec![0; self.plan.user_types.len()];
        let phase = &self.plan.phases[self.slot.phase_index];
        self.ramp = Ramp::new(
            zero.clone(),
            self.plan.targets(self.slot.phase_index),
            phase.hatch_rate,
        );
        self.ramp_start = now;
        self.commanded = zero;
        self.sent = None;
    }

    /// Whether the counts have reached the phase's targets at least `margin` ago
    /// (samples taken since show the plateau, not the ramp).
    pub fn settled(&self, now: Instant, margin: Duration) -> bool {
        now.saturating_duration_since(self.ramp_start) >= self.ramp.duration() + margin
            && &self.commanded == self.ramp.target()
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
        Command::Targets {
            occurrence: self.occurrence.0,
            users,
            waits,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::SourceText;

    /// Two phases: 10 s of 10 A at 10/s, then 5 s of 4 A + 4 B at 2/s.
    fn plan() -> Plan {
        let text = r#"
            phases { duration: 10 num_users: 10 hatch_rate_per_s: 10
                     user_types { name: "A" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 } }
            phases { duration: 5 num_users: 8 hatch_rate_per_s: 2
                     user_types { name: "A" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 }
                     user_types { name: "B" ratio: 1 min_wait_ms: 300 max_wait_ms: 300 } }
            "#;
        let loaded = crate::config::parse(SourceText::new("load.pbtxt", text.to_string()));
        Plan::new(&loaded.expect("a valid config").config)
    }

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    fn users(tick: &Tick) -> Option<Vec<u32>> {
        match &tick.send {
            Some(Command::Targets { users, .. }) => Some(users.values().copied().collect()),
            _ => None,
        }
    }

    #[test]
    fn the_first_phase_ramps_from_zero_at_its_hatch_rate() {
        let t0 = Instant::now();
        let mut s = Schedule::new(plan(), t0);
        assert_eq!(s.first().slot.phase_index, 0);
        assert_eq!(users(&s.tick(t0)), Some(vec![0, 0]));
        assert_eq!(users(&s.tick(at(t0, 500))), Some(vec![5, 0]));
        // Nothing changed: nothing to send.
        assert_eq!(s.tick(at(t0, 550)), Tick::default());
        assert_eq!(users(&s.tick(at(t0, 1000))), Some(vec![10, 0]));
        assert!(!s.settled(at(t0, 1000), Duration::from_secs(1)));
        assert!(s.settled(at(t0, 2000), Duration::from_secs(1)));
    }

    #[test]
    fn a_boundary_starts_a_new_occurrence_at_its_scheduled_time() {
        let t0 = Instant::now();
        let mut s = Schedule::new(plan(), t0);
        s.tick(at(t0, 9_950));
        // The tick that sees phase 2 comes 80 ms late; the ramp still starts at 10 s.
        let tick = s.tick(at(t0, 10_080));
        let boundary = tick.boundary.expect("phase 2 began");
        assert_eq!(boundary.slot.phase_index, 1);
        assert_eq!(boundary.occurrence, Occurrence(1));
        assert_eq!(boundary.at, at(t0, 10_000));
        assert_eq!(boundary.targets, vec![4, 4]);
        // 10 -> (4, 4) is 6 stops and 4 spawns: 3 s at 2/s; after 1 s, a third.
        assert_eq!(users(&s.tick(at(t0, 11_000))), Some(vec![8, 1]));
        match s.command() {
            Command::Targets {
                occurrence, waits, ..
            } => {
                assert_eq!(occurrence, 1);
                assert_eq!(waits["BUser"], (0.3, 0.3));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loops_continue_from_the_run_start_without_drift() {
        let t0 = Instant::now();
        let mut s = Schedule::new(plan(), t0);
        let mut boundaries = Vec::new();
        for ms in (0..=60_000).step_by(100) {
            if let Some(b) = s.tick(at(t0, ms)).boundary {
                boundaries.push((b.slot.loop_index, b.slot.phase_index, b.at));
            }
        }
        // Loops of 15 s: phase 2 at 10 s, phase 1 of loop 2 at 15 s, ...
        assert_eq!(boundaries.len(), 8);
        assert_eq!(boundaries[0], (0, 1, at(t0, 10_000)));
        assert_eq!(boundaries[1], (1, 0, at(t0, 15_000)));
        assert_eq!(boundaries[6], (3, 1, at(t0, 55_000)));
        assert_eq!(boundaries[7], (4, 0, at(t0, 60_000)));
        assert!(matches!(
            s.command(),
            Command::Targets { occurrence: 8, .. }
        ));
    }

    #[test]
    fn a_restart_ramps_back_to_the_current_phase_from_now() {
        let t0 = Instant::now();
        let mut s = Schedule::new(plan(), t0);
        s.tick(at(t0, 3_000));
        assert_eq!(s.commanded(), &vec![10, 0]);
        s.restart(at(t0, 4_000));
        assert_eq!(s.commanded(), &vec![0, 0]);
        assert_eq!(users(&s.tick(at(t0, 4_000))), Some(vec![0, 0]));
        assert_eq!(users(&s.tick(at(t0, 4_500))), Some(vec![5, 0]));
        assert_eq!(users(&s.tick(at(t0, 5_000))), Some(vec![10, 0]));
        // The same occurrence goes on.
        assert!(matches!(
            s.command(),
            Command::Targets { occurrence: 0, .. }
        ));
    }

    #[test]
    fn an_identical_count_is_sent_again_after_a_restart() {
        let t0 = Instant::now();
        let mut s = Schedule::new(plan(), t0);
        s.tick(at(t0, 2_000));
        s.restart(at(t0, 2_000));
        // The new Locust has no users yet: even zero must be sent to it.
        assert!(s.tick(at(t0, 2_000)).send.is_some());
    }
}
