//! The Locust a run drives: its processes (a [`LocustGroup`]), how to start it
//! again (its [`GroupSpec`]; a reload changes the locustfile), whether it still
//! answers, the crash budget and each process's CPU. The decisions (hung? over
//! budget?) are pure functions of the clock, unit-tested below.

use std::time::{Duration, Instant};

use super::group::{GroupSpec, LocustGroup};
use super::saturation::{Busy, ProcessCpu};

/// Restarts tolerated within [`CRASH_WINDOW`] before the run gives up.
const MAX_CRASHES: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
/// A Locust that sends no sample for this long (12 sample intervals) is taken
/// for hung (stopped, deadlocked, blocked on a pipe) and replaced. A saturated
/// Locust still samples: its gevent loop turns, only late.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(6);

pub struct Engine {
    pub group: LocustGroup,
    /// How to start Locust again.
    pub spec: GroupSpec,
    /// False after a restart was interrupted: there is no Locust to stop.
    pub alive: bool,
    /// When the local runner or master last sent a sample.
    last_heard: Instant,
    crashes: Crashes,
    /// The CPU of each Locust process (read from `/proc` at each sample).
    cpu: Vec<ProcessCpu>,
}

impl Engine {
    pub fn new(group: LocustGroup, spec: GroupSpec, start: Instant) -> Engine {
        Engine {
            group,
            spec,
            alive: true,
            last_heard: start,
            crashes: Crashes::default(),
            cpu: Vec::new(),
        }
    }

    /// A sample came at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = now;
    }

    /// Why Locust must be replaced, if it has gone silent.
    pub fn hung(&self, now: Instant) -> Option<String> {
        hung(self.last_heard, now)
    }

    /// Counts a crash (or hang) at `now`; an error once too many came within
    /// the window.
    pub fn crashed(&mut self, now: Instant, why: &str) -> anyhow::Result<()> {
        self.crashes.crashed(now, why)
    }

    /// A new group took over at `now`.
    pub fn replaced(&mut self, group: LocustGroup, now: Instant) {
        self.group = group;
        self.alive = true;
        self.last_heard = now;
    }

    /// The busiest Locust process's CPU since the last reading (`None` at the
    /// first, after a restart, or when its processes are gone).
    pub fn busiest(&mut self, now: Instant) -> Option<Busy> {
        let pids = self.group.pids();
        if self
            .cpu
            .iter()
            .map(ProcessCpu::pid)
            .ne(pids.iter().copied())
        {
            self.cpu = pids.into_iter().map(ProcessCpu::new).collect();
        }
        self.cpu
            .iter_mut()
            .filter_map(|p| p.read(now))
            .max_by(|a, b| a.total().total_cmp(&b.total()))
    }
}

/// Why a Locust last heard at `last_heard` must be replaced at `now`, if it has
/// gone silent.
fn hung(last_heard: Instant, now: Instant) -> Option<String> {
    let silent = now.saturating_duration_since(last_heard);
    (silent >= HANG_TIMEOUT).then(|| {
        format!(
            "Locust stopped answering: no sample for {:.0} s",
            silent.as_secs_f64()
        )
    })
}

/// The crashes within the last [`CRASH_WINDOW`].
#[derive(Debug, Default)]
struct Crashes(Vec<Instant>);

impl Crashes {
    fn crashed(&mut self, now: Instant, why: &str) -> anyhow::Result<()> {
        self.0.retain(|t| now.duration_since(*t) < CRASH_WINDOW);
        self.0.push(now);
        if self.0.len() >= MAX_CRASHES {
            anyhow::bail!(
                "Locust crashed {} times within {} s; giving up (a hang counts as a crash). Last time: {why}",
                self.0.len(),
                CRASH_WINDOW.as_secs()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locust_silent_for_six_seconds_is_hung() {
        let t0 = Instant::now();
        assert_eq!(hung(t0, t0 + Duration::from_millis(5900)), None);
        assert_eq!(
            hung(t0, t0 + Duration::from_secs(7)).as_deref(),
            Some("Locust stopped answering: no sample for 7 s")
        );
    }

    #[test]
    fn the_fifth_crash_within_a_minute_ends_the_run_and_older_ones_are_forgiven() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut c = Crashes::default();
        for s in [0, 10, 20, 30] {
            assert!(c.crashed(at(s), "exited").is_ok());
        }
        // The one at 0 s is out of the window by 61 s.
        assert!(c.crashed(at(61), "exited").is_ok());
        let e = c.crashed(at(62), "hung").expect_err("five within 60 s");
        assert_eq!(
            e.to_string(),
            "Locust crashed 5 times within 60 s; giving up (a hang counts as a crash). Last time: hung"
        );
    }
}
