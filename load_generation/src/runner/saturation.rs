//! Saturation: a Locust process that is CPU-bound can't run its users on time.
//! It delivers less than the plan, and the response times it measures include
//! its own queueing, not only the target's. loadgen watches each Locust
//! process's CPU itself (from `/proc`, every sample; Locust's own figure is
//! refreshed only every 5 s) and says so within a few seconds.
//!
//! *Busy* is the time the process runs on a core plus the time it waits, ready
//! to run, for one (`/proc/PID/schedstat`): on a machine whose cores other
//! processes take, a Locust that gets 60% of a core and waits the other 40% is
//! as unable to keep up as one that runs 100%.

use std::time::{Duration, Instant};

use crate::stats::window::{long_enough, Window, MIN_CPU_SPAN_S};

/// Mean busy time (percent of one core: running or waiting to run) over the
/// window at which a Locust process counts as saturated: gevent runs on one
/// core, so near 100% it has no room.
pub const HIGH: f64 = 85.0;
/// A gevent loop this late on average (ms) delays every user's next task as
/// much: the generator is behind, whether busy or starved of CPU by others.
pub const LAG_HIGH_MS: f64 = 80.0;
/// Below this busy percentage (and [`LAG_LOW_MS`] of lag), a Locust process's own queueing
/// adds little to the response times it measures (a half-busy single server
/// delays a request by about half a task's CPU time): they are the target's.
pub const CALM_BUSY: f64 = 50.0;
/// A sample whose users waited longer than this (ms) for the gevent loop, at
/// any moment, is not calm: the responses read then include the wait. On a
/// loop that runs its users on time the probe wakes within a few ms.
pub const CALM_LATE_MAX_MS: f64 = 20.0;
/// Below both of these, a saturated generator counts as recovered...
const LOW: f64 = 70.0;
pub const LAG_LOW_MS: f64 = 30.0;
/// ...once they have stayed there this long.
const CONFIRM_LOW: Duration = Duration::from_secs(5);
/// The span the readings are judged over (seconds), so that one busy or quiet
/// sample decides nothing. Each reading counts for the time it covered: a
/// sample a control action closed 3 ms after the last weighs 3 ms.
pub const WINDOW_S: f64 = 2.0;

/// A change of state worth saying, with the means over [`WINDOW_S`] it was
/// judged on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Began(Judged),
    Ended(Judged),
}

/// The busiest process's CPU and the loop's lag over the last [`WINDOW_S`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    pub busy: Busy,
    pub lag_ms: f64,
}

/// The saturation state machine, fed one sample at a time.
#[derive(Debug)]
pub struct Detector {
    saturated: bool,
    /// The busiest process's CPU readings (each over at least
    /// [`MIN_CPU_SPAN_S`]).
    cpu: Window<Busy>,
    /// The loop lag of each sample, over the sample's interval.
    lag: Window<f64>,
    /// Since when the means have been calm, while saturated.
    calm_since: Option<Instant>,
}

impl Default for Detector {
    fn default() -> Detector {
        Detector {
            saturated: false,
            cpu: Window::new(WINDOW_S),
            lag: Window::new(WINDOW_S),
            calm_since: None,
        }
    }
}

impl Detector {
    pub fn saturated(&self) -> bool {
        self.saturated
    }

    /// Takes a sample at `now`: the busiest Locust process's CPU since its last
    /// reading (`None` where no reading was due: the first, or one closed too
    /// soon after the last), and the harness's loop lag over the `seconds`
    /// since the last sample. Judges only once both cover [`WINDOW_S`].
    pub fn observe(
        &mut self,
        now: Instant,
        cpu: Option<Busy>,
        lag_ms: f64,
        seconds: f64,
    ) -> Option<Change> {
        if let Some(busy) = cpu {
            self.cpu.push(busy.seconds, busy);
        }
        self.lag.push(seconds, lag_ms);
        if !self.cpu.full() || !self.lag.full() {
            return None;
        }
        let judged = Judged {
            busy: Busy {
                running: self.cpu.mean(|b| b.running)?,
                waiting: self.cpu.mean(|b| b.waiting)?,
                seconds: self.cpu.covered(),
            },
            lag_ms: self.lag.mean(|&l| l)?,
        };
        let (cpu, lag) = (judged.busy.total(), judged.lag_ms);
        if !self.saturated {
            if cpu >= HIGH || lag >= LAG_HIGH_MS {
                self.saturated = true;
                self.calm_since = None;
                return Some(Change::Began(judged));
            }
            return None;
        }
        if cpu >= LOW || lag >= LAG_LOW_MS {
            self.calm_since = None;
            return None;
        }
        let since = *self.calm_since.get_or_insert(now);
        if now.duration_since(since) < CONFIRM_LOW {
            return None;
        }
        self.saturated = false;
        self.calm_since = None;
        Some(Change::Ended(judged))
    }
}

/// Whether a sample's response times are the target's own: only a calm
/// generator's are. Not saturated, its busiest process (`None` before a first
/// reading: unknown, so not calm) under [`CALM_BUSY`], the sampler's lag under
/// [`LAG_LOW_MS`], and no user held by the loop past [`CALM_LATE_MAX_MS`]: a
/// loop held in bursts is not calm whatever its mean CPU, since the responses
/// read in a burst are read late. Anything else would let a busy generator's
/// own delays pass for a slow target and lower the plan it is judged against.
pub fn calm(saturated: bool, busiest: Option<f64>, lag_ms: f64, late_max_ms: f64) -> bool {
    !saturated
        && busiest.is_some_and(|b| b < CALM_BUSY)
        && lag_ms < LAG_LOW_MS
        && late_max_ms < CALM_LATE_MAX_MS
}

/// How busy a process was between two readings, in percent of one core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Busy {
    /// Running on a core (user and system time, all threads).
    pub running: f64,
    /// Ready to run but waiting for a core (its main thread; 0 where the
    /// kernel keeps no scheduler statistics).
    pub waiting: f64,
    /// The wall-clock seconds the reading covers.
    pub seconds: f64,
}

impl Busy {
    pub fn total(&self) -> f64 {
        self.running + self.waiting
    }
}

/// A process's CPU use between two readings of `/proc/PID/stat` and `schedstat`.
#[derive(Debug)]
pub struct ProcessCpu {
    pid: u32,
    /// When, CPU ticks, and nanoseconds waited for a core.
    last: Option<(Instant, u64, u64)>,
}

impl ProcessCpu {
    pub fn new(pid: u32) -> ProcessCpu {
        ProcessCpu { pid, last: None }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Since the last reading: `None` at the first, if the process is gone,
    /// or if less than [`MIN_CPU_SPAN_S`] has passed (CPU time is counted in
    /// ticks of 10 ms: one tick over 3 ms would read as 333%). A reading not
    /// taken leaves the last one standing, so the next covers both spans.
    pub fn read(&mut self, now: Instant) -> Option<Busy> {
        let ticks = cpu_ticks(self.pid)?;
        let waited = wait_ns(self.pid).unwrap_or(0);
        let Some((then, ticks_before, waited_before)) = self.last else {
            self.last = Some((now, ticks, waited));
            return None;
        };
        let seconds = now.saturating_duration_since(then).as_secs_f64();
        if !long_enough(seconds, MIN_CPU_SPAN_S) {
            return None;
        }
        self.last = Some((now, ticks, waited));
        // SAFETY: sysconf reads a constant of the system; no memory is involved.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        Some(Busy {
            running: ticks.saturating_sub(ticks_before) as f64 / per_second / seconds * 100.0,
            waiting: waited.saturating_sub(waited_before) as f64 / 1e9 / seconds * 100.0,
            seconds,
        })
    }
}

/// User plus system CPU ticks of a process (fields 14 and 15 of its stat, after
/// the command name, which may itself hold spaces and parentheses).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Nanoseconds the process's main thread has waited on a run queue (the second
/// field of `/proc/PID/schedstat`).
fn wait_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    stat.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn busy(total: f64, seconds: f64) -> Option<Busy> {
        Some(Busy {
            running: total,
            waiting: 0.0,
            seconds,
        })
    }

    /// Feeds samples 0.5 s apart from `from_ms`, each with a CPU reading over
    /// its 0.5 s; returns the changes.
    fn feed(
        d: &mut Detector,
        t0: Instant,
        from_ms: u64,
        readings: &[(f64, f64)],
    ) -> Vec<(u64, Change)> {
        readings
            .iter()
            .enumerate()
            .filter_map(|(i, &(cpu, lag))| {
                let ms = from_ms + 500 * i as u64;
                d.observe(at(t0, ms), busy(cpu, 0.5), lag, 0.5)
                    .map(|c| (ms, c))
            })
            .collect()
    }

    fn began(changes: &[(u64, Change)]) -> Vec<u64> {
        changes
            .iter()
            .filter(|(_, c)| matches!(c, Change::Began(_)))
            .map(|(ms, _)| *ms)
            .collect()
    }

    #[test]
    fn only_a_generator_that_runs_its_users_on_time_is_calm() {
        assert!(calm(false, Some(10.0), 1.0, 3.0));
        assert!(!calm(false, None, 1.0, 3.0), "no CPU reading yet");
        assert!(!calm(true, Some(10.0), 1.0, 3.0), "saturated");
        assert!(!calm(false, Some(60.0), 1.0, 3.0), "half busy");
        assert!(!calm(false, Some(10.0), 40.0, 3.0), "the sampler woke late");
        // Seen in CI: users in step whose tasks burn CPU, 47% busy over the
        // sample and the sampler on time, but the loop held 170 ms in bursts.
        assert!(!calm(false, Some(47.0), 1.0, 170.0), "held in bursts");
    }

    #[test]
    fn a_busy_generator_is_saturated_over_2_s_and_recovers_after_5_s_calm() {
        let t0 = Instant::now();
        let mut d = Detector::default();
        // One busy sample among quiet ones is a burst, not saturation.
        let burst = [
            (20.0, 1.0),
            (100.0, 1.0),
            (20.0, 1.0),
            (20.0, 1.0),
            (30.0, 2.0),
        ];
        assert!(feed(&mut d, t0, 0, &burst).is_empty());
        // Busy but fluctuating (another process shares the core): the mean decides.
        let busy = [(87.0, 39.0), (93.0, 3.0), (100.0, 4.0), (80.0, 116.0)];
        let changes = feed(&mut d, t0, 2_500, &busy);
        assert_eq!(began(&changes), [4_000]);
        let Change::Began(judged) = changes[0].1 else {
            panic!("{changes:?}")
        };
        assert!((judged.busy.total() - 90.0).abs() < 1e-9, "{judged:?}");
        assert!((judged.lag_ms - 40.5).abs() < 1e-9, "{judged:?}");
        assert!(d.saturated());
        // 75% is not calm enough to clear it; 5 s of calm is.
        assert!(feed(&mut d, t0, 4_500, &[(75.0, 0.0); 6]).is_empty());
        let calm = feed(&mut d, t0, 7_500, &[(40.0, 2.0); 16]);
        assert_eq!(calm.len(), 1, "{calm:?}");
        assert!(matches!(calm[0].1, Change::Ended(_)));
        assert!(!d.saturated());
    }

    #[test]
    fn a_starved_loop_is_saturation_even_at_low_cpu() {
        let t0 = Instant::now();
        let mut d = Detector::default();
        let starved = [(55.0, 150.0), (50.0, 90.0), (60.0, 70.0), (50.0, 110.0)];
        assert_eq!(began(&feed(&mut d, t0, 0, &starved)), [1_500]);
    }

    /// The false alarm of issue 33: a quarter-busy Locust, and samples a
    /// control action closed 1, 3 or 10 ms after the last. Each short sample
    /// brings no CPU reading (too short to measure: `ProcessCpu::read` waits
    /// for `MIN_CPU_SPAN_S`) and weighs its few ms in the lag's mean, so
    /// nothing is said however many there are.
    #[test]
    fn samples_a_few_ms_apart_say_nothing_false() {
        for ms in [1u64, 3, 10] {
            let t0 = Instant::now();
            let mut d = Detector::default();
            let mut t = 0;
            for i in 0..40 {
                t += 500;
                d.observe(at(t0, t), busy(25.0, 0.5), 2.0, 0.5);
                // A pair of control calls: two short samples, the second
                // repeating a lag the sampler read late once.
                for lag in [2.0, 400.0] {
                    t += ms;
                    let said = d.observe(at(t0, t), None, lag, ms as f64 / 1000.0);
                    assert_eq!(said, None, "{ms} ms apart, pair {i}");
                }
            }
            assert!(!d.saturated(), "{ms} ms");
        }
    }

    #[test]
    fn nothing_is_judged_before_2_s_are_covered() {
        let t0 = Instant::now();
        let mut d = Detector::default();
        // Readings of a fully busy process, but only 1.9 s of them.
        for i in 1..=19 {
            let said = d.observe(at(t0, 100 * i), busy(100.0, 0.1), 200.0, 0.1);
            assert_eq!(said, None, "{i}");
        }
        let said = d.observe(at(t0, 2_000), busy(100.0, 0.1), 200.0, 0.1);
        assert!(matches!(said, Some(Change::Began(_))), "{said:?}");
    }

    #[test]
    fn a_cpu_reading_waits_until_it_can_be_measured() {
        let mut cpu = ProcessCpu::new(std::process::id());
        let t0 = Instant::now();
        assert_eq!(
            cpu.read(t0),
            None,
            "the first reading has nothing to compare"
        );
        for ms in [1, 3, 10, 100] {
            assert_eq!(cpu.read(at(t0, ms)), None, "{ms} ms is too short");
        }
        let reading = cpu.read(at(t0, 250)).expect("250 ms is enough");
        assert!((reading.seconds - 0.25).abs() < 1e-9, "{reading:?}");
        // Its span starts where the last reading was taken, not at the short ones.
        assert_eq!(cpu.read(at(t0, 253)), None);
        let next = cpu.read(at(t0, 500)).expect("another 250 ms");
        assert!((next.seconds - 0.25).abs() < 1e-9, "{next:?}");
    }

    #[test]
    fn our_own_cpu_is_read_from_proc() {
        let mut cpu = ProcessCpu::new(std::process::id());
        let t0 = Instant::now();
        assert_eq!(
            cpu.read(t0),
            None,
            "the first reading has nothing to compare"
        );
        // Burn about 300 ms of CPU.
        let mut x = 0u64;
        while t0.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = cpu.read(Instant::now()).expect("a second reading");
        // Well under 100% when other processes share the cores; never nothing.
        // (The wait for a core is the main thread's, here another test's: not checked.)
        assert!(used.running > 10.0, "{used:?}");
        assert!(used.waiting >= 0.0, "{used:?}");
        assert!(
            wait_ns(std::process::id()).is_some(),
            "no scheduler statistics"
        );
        assert_eq!(ProcessCpu::new(u32::MAX).read(t0), None);
    }
}
