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

use crate::plan::Counts;

/// A move from `from` to `to` counts, started at some instant.
#[derive(Debug, Clone)]
pub struct Ramp {
    from: Counts,
    to: Counts,
    /// Which type each spawn goes to, in order, and each stop comes from.
    spawns: Vec<usize>,
    stops: Vec<usize>,
    steps: u64,
    rate: f64,
}

impl Ramp {
    pub fn new(from: Counts, to: Counts, hatch_rate: u32) -> Ramp {
        let ups: Vec<u64> = from
            .iter()
            .zip(&to)
            .map(|(f, t)| u64::from(t.saturating_sub(*f)))
            .collect();
        let downs: Vec<u64> = from
            .iter()
            .zip(&to)
            .map(|(f, t)| u64::from(f.saturating_sub(*t)))
            .collect();
        let spawns = order(&ups);
        let stops = order(&downs);
        let steps = spawns.len().max(stops.len()) as u64;
        Ramp {
            from,
            to,
            spawns,
            stops,
            steps,
            rate: f64::from(hatch_rate.max(1)),
        }
    }

    /// How long the whole move takes.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.steps as f64 / self.rate)
    }

    /// When, from the ramp's start, the first step after `elapsed` is due;
    /// `None` once the ramp is done. Half a millisecond after the step's exact
    /// time, so that [`Ramp::at`] has made it then whatever the float rounding.
    pub fn next_step(&self, elapsed: Duration) -> Option<Duration> {
        let done = ((elapsed.as_secs_f64() * self.rate).floor() as u64).min(self.steps);
        (done < self.steps).then(|| {
            Duration::from_secs_f64((done + 1) as f64 / self.rate) + Duration::from_micros(500)
        })
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
        // The spawns and stops made so far, each the same fraction of its total.
        let spawned = (done * self.spawns.len() as u64 / self.steps) as usize;
        let stopped = (done * self.stops.len() as u64 / self.steps) as usize;
        let mut counts = self.from.clone();
        for &i in &self.spawns[..spawned] {
            counts[i] += 1;
        }
        for &i in &self.stops[..stopped] {
            counts[i] -= 1;
        }
        counts
    }

    pub fn target(&self) -> &Counts {
        &self.to
    }
}

/// The order in which `units[i]` units of each type are handed out: each next
/// unit goes to the type furthest behind its proportional share (ties to the
/// earlier type). Any prefix is then as close to proportional as a whole
/// number of units allows, and since a prefix only ever grows, no type's count
/// ever moves back: largest-remainder rounding of each prefix on its own can
/// take a unit from one type to give it to another, killing a user mid-ramp.
fn order(units: &[u64]) -> Vec<usize> {
    let total: u64 = units.iter().sum();
    let mut given = vec![0u64; units.len()];
    let mut order = Vec::with_capacity(total as usize);
    for k in 1..=total {
        // Deficit of type i after k units: units[i] * k / total - given[i],
        // compared without division: units[i] * k - given[i] * total.
        let next = (0..units.len())
            .filter(|&i| given[i] < units[i])
            .max_by(|&a, &b| {
                let deficit = |i: usize| {
                    i128::from(units[i]) * i128::from(k) - i128::from(given[i]) * i128::from(total)
                };
                deficit(a).cmp(&deficit(b)).then(b.cmp(&a))
            });
        let Some(i) = next else { break };
        given[i] += 1;
        order.push(i);
    }
    order
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
    fn each_step_is_made_by_the_time_it_is_said_to_be_due() {
        for rate in [1, 7, 10, 333, 1000] {
            let r = Ramp::new(vec![0], vec![50], rate);
            let mut elapsed = Duration::ZERO;
            let mut steps = 0;
            while let Some(due) = r.next_step(elapsed) {
                assert!(due > elapsed, "rate {rate}: {due:?} after {elapsed:?}");
                assert_eq!(r.at(due)[0], r.at(elapsed)[0] + 1, "rate {rate} at {due:?}");
                elapsed = due;
                steps += 1;
            }
            assert_eq!((steps, r.at(elapsed)), (50, vec![50]), "rate {rate}");
        }
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

    proptest::proptest! {
        /// Every type moves straight towards its target, never back (no user
        /// is stopped to be started again), and the total stays between the
        /// old and the new totals, whatever the counts and however many types.
        #[test]
        fn every_type_moves_monotonically_towards_its_target(
            pairs in proptest::collection::vec((0u32..400, 0u32..400), 1..7),
            rate in 1u32..200,
        ) {
            let from: Counts = pairs.iter().map(|p| p.0).collect();
            let to: Counts = pairs.iter().map(|p| p.1).collect();
            let ramp = Ramp::new(from.clone(), to.clone(), rate);
            let (low, high) = (total(&from).min(total(&to)), total(&from).max(total(&to)));
            let mut last = from.clone();
            let steps = (ramp.duration().as_secs_f64() * f64::from(rate)).round() as u64;
            for step in 0..=steps + 1 {
                let now = ramp.at(Duration::from_secs_f64(step as f64 / f64::from(rate)));
                for i in 0..now.len() {
                    if to[i] >= from[i] {
                        proptest::prop_assert!(now[i] >= last[i] && now[i] <= to[i], "type {} went {} -> {} (target {})", i, last[i], now[i], to[i]);
                    } else {
                        proptest::prop_assert!(now[i] <= last[i] && now[i] >= to[i], "type {} went {} -> {} (target {})", i, last[i], now[i], to[i]);
                    }
                }
                proptest::prop_assert!((low..=high).contains(&total(&now)), "total {} outside {}..={}", total(&now), low, high);
                last = now;
            }
            proptest::prop_assert_eq!(last, to);
        }
    }
}
