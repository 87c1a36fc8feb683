//! Moving from one set of user counts to another at the hatch rate, without gaps.
//!
//! At a phase boundary some types grow, some shrink, some leave. Locust would stop
//! and restart, or ramp each class on its own; both let the total dip. A
//! [`Ramp`] instead moves every type along one line: after `p` of the way, each
//! growing type has made `p` of its spawns and each shrinking type `p` of its
//! stops. The total therefore moves straight from the old total to the new one and
//! never drops below the smaller of the two. The ramp takes `max(spawns, stops) /
//! hatch rate` seconds, so the hatch rate bounds both starting and stopping users.

use std::time::Duration;

use crate::plan::{apportion, Counts};

/// A move from `from` to `to` counts, started at some instant.
#[derive(Debug, Clone)]
pub struct Ramp {
    from: Counts,
    to: Counts,
    steps: u64,
    rate: f64,
}

impl Ramp {
    pub fn new(from: Counts, to: Counts, hatch_rate: u32) -> Ramp {
        let spawns: u64 = from
            .iter()
            .zip(&to)
            .map(|(f, t)| u64::from(t.saturating_sub(*f)))
            .sum();
        let stops: u64 = from
            .iter()
            .zip(&to)
            .map(|(f, t)| u64::from(f.saturating_sub(*t)))
            .sum();
        Ramp {
            from,
            to,
            steps: spawns.max(stops),
            rate: f64::from(hatch_rate.max(1)),
        }
    }

    /// How long the whole move takes.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.steps as f64 / self.rate)
    }

    /// The counts `elapsed` after the ramp started.
    pub fn at(&self, elapsed: Duration) -> Counts {
        if self.steps == 0 {
            return self.to.clone();
        }
        let done = ((elapsed.as_secs_f64() * self.rate).floor() as u64).min(self.steps);
        if done == self.steps {
            return self.to.clone();
        }
        let ups: Vec<u64> = self
            .from
            .iter()
            .zip(&self.to)
            .map(|(f, t)| u64::from(t.saturating_sub(*f)))
            .collect();
        let downs: Vec<u64> = self
            .from
            .iter()
            .zip(&self.to)
            .map(|(f, t)| u64::from(f.saturating_sub(*t)))
            .collect();
        // The spawns and stops made so far, each spread over the types in proportion.
        let spawned = apportion(done * ups.iter().sum::<u64>() / self.steps, &ups);
        let stopped = apportion(done * downs.iter().sum::<u64>() / self.steps, &downs);
        self.from
            .iter()
            .zip(spawned.iter().zip(&stopped))
            .map(|(f, (s, x))| (u64::from(*f) + s - x) as u32)
            .collect()
    }

    pub fn target(&self) -> &Counts {
        &self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(c: &Counts) -> u32 {
        c.iter().sum()
    }

    #[test]
    fn first_ramp_starts_at_the_hatch_rate() {
        let r = Ramp::new(vec![0, 0], vec![100, 0], 30);
        assert_eq!(r.at(Duration::ZERO), vec![0, 0]);
        assert_eq!(r.at(Duration::from_secs(1)), vec![30, 0]);
        assert_eq!(r.at(Duration::from_secs(4)), vec![100, 0]);
        assert_eq!(r.duration(), Duration::from_secs_f64(100.0 / 30.0));
    }

    #[test]
    fn swapping_types_never_dips_below_the_smaller_total() {
        // Hipster phase 2 -> 3: Normal 67 -> 75, Weekend 133 -> 0, Holiday 0 -> 225.
        let r = Ramp::new(vec![67, 133, 0], vec![75, 0, 225], 100);
        let mut last = 200;
        for ms in (0..=2400).step_by(10) {
            let c = r.at(Duration::from_millis(ms));
            assert!(total(&c) >= 200, "{ms} ms: {c:?}");
            assert!(total(&c) + 1 >= last, "total must not fall: {ms} ms: {c:?}");
            last = total(&c);
        }
        assert_eq!(r.at(Duration::from_secs(3)), vec![75, 0, 225]);
    }

    #[test]
    fn ramping_down_stays_between_the_totals() {
        // Hipster phase 3 -> 1 (next loop): 300 users down to 100 Normal.
        let r = Ramp::new(vec![75, 0, 225], vec![100, 0, 0], 30);
        for ms in (0..=8000).step_by(50) {
            let c = r.at(Duration::from_millis(ms));
            assert!((100..=300).contains(&total(&c)), "{ms} ms: {c:?}");
        }
        assert_eq!(r.duration(), Duration::from_secs_f64(225.0 / 30.0));
    }

    #[test]
    fn no_change_is_immediate() {
        let r = Ramp::new(vec![5, 5], vec![5, 5], 1);
        assert_eq!(r.at(Duration::ZERO), vec![5, 5]);
        assert_eq!(r.duration(), Duration::ZERO);
    }
}
