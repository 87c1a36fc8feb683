//! The plan, the load config as typed phases with exact user counts.
//!
//! The plan decides *how many users of each type* run in every phase (largest-
//! remainder rounding of `num_users` by ratio, so the counts always add up), and
//! *which phase runs when*: phase k of loop l starts at `l * cycle + sum of the
//! earlier durations` after the run's start, computed from the start each time so
//! that nothing drifts over thousands of loops.

use std::time::Duration;

pub use crate::config::Arrival;
use crate::config::{LoadConfig, UserTypeName};
use crate::fmt::short;

/// User counts per user type, indexed like [`Plan::user_types`].
pub type Counts = Vec<u32>;

/// The whole load.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every user type of the load, in order of first appearance.
    pub user_types: Vec<UserTypeName>,
    pub phases: Vec<Phase>,
    /// A plain locustfile's plan: a type whose config sets no waits keeps its
    /// class's own `wait_time` (a template's generated classes always get the config's).
    pub class_waits: bool,
}

/// One phase, ready to run.
#[derive(Debug, Clone)]
pub struct Phase {
    /// 1-based, as users count phases.
    pub number: usize,
    /// The config's name for it, if any.
    pub name: Option<String>,
    /// The line of the phase in the config.
    pub line: usize,
    pub duration: Duration,
    /// How many users start or stop per second when this phase begins.
    pub hatch_rate: u32,
    /// The user types of this phase, in config order.
    pub shares: Vec<Share>,
    /// A rate phase's arrivals; `None` for a phase of users.
    pub rate: Option<Rate>,
}

/// How a rate phase starts its iterations (its shares hold each type's part).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Iterations per second, all types together.
    pub per_s: f64,
    pub arrival: Arrival,
    /// How long the rate takes to reach this phase's from the one before.
    pub ramp: Duration,
}

/// What sets a type's pace in a phase: its users' mean wait between tasks
/// (closed model), or the iterations per second its users start (open model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Seconds a user waits after each task, on average.
    Wait(f64),
    /// Iterations per second per user asked for: the type's rate over its pool,
    /// so that users × seconds × this is the iterations the rate asks for.
    RatePerUser { rate_per_user: f64 },
}

/// One user type's part of a phase.
#[derive(Debug, Clone)]
pub struct Share {
    /// Index into [`Plan::user_types`].
    pub type_index: usize,
    pub ratio: u32,
    /// The users of a phase of users; a rate phase's pool of this type.
    pub users: u32,
    /// A rate phase's iterations per second of this type (its ratio's part
    /// of the rate); 0 in a phase of users.
    pub rate_per_s: f64,
    pub min_wait: Duration,
    pub max_wait: Duration,
    /// Whether the config sets this type's waits in this phase.
    pub waits_given: bool,
}

/// Where a moment of the run falls in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// 0-based loop through the phases.
    pub loop_index: u64,
    /// 0-based phase index.
    pub phase_index: usize,
    /// When this phase occurrence starts and ends, from the run's start.
    pub start: Duration,
    pub end: Duration,
}

impl Plan {
    /// A template's plan: its generated classes wait as the config says
    /// (the tests' and the fuzz targets' plans; a load's is built by `load`).
    #[allow(dead_code)]
    pub fn new(config: &LoadConfig) -> Plan {
        Plan::build(config, &[], false)
    }

    /// The plan of `config` whose user types start with `previous`, in that
    /// order (types no longer used keep their place with no users), so that a
    /// reloaded plan's counts line up with the running one's. With a
    /// `plain_locustfile`, a type whose config sets no waits keeps its class's.
    pub fn build(config: &LoadConfig, previous: &[UserTypeName], plain_locustfile: bool) -> Plan {
        let mut user_types: Vec<UserTypeName> = previous.to_vec();
        let mut phases = Vec::new();
        for (i, phase) in config.phases.iter().enumerate() {
            let ratios: Vec<u64> = phase
                .user_types
                .iter()
                .map(|t| u64::from(t.ratio))
                .collect();
            let users = match phase.rate {
                None => apportion(u64::from(phase.num_users), &ratios),
                // A rate phase's pool: every type keeps a user at least, or
                // its part of the rate would have none to run on.
                // (Validation keeps the pool at least one user per type.)
                Some(_) => {
                    let mut pool = apportion(u64::from(phase.num_users), &ratios);
                    while let Some(none) = pool.iter().position(|&u| u == 0) {
                        let Some(most) = (0..pool.len()).max_by_key(|&i| pool[i]) else {
                            break;
                        };
                        if pool[most] <= 1 {
                            break;
                        }
                        pool[most] -= 1;
                        pool[none] = 1;
                    }
                    pool
                }
            };
            let ratio_sum: u64 = ratios.iter().sum();
            let rate_per_s = phase.rate.as_ref().map_or(0.0, |r| r.per_s);
            let shares = phase
                .user_types
                .iter()
                .zip(users)
                .map(|(t, users)| {
                    let type_index = match user_types.iter().position(|n| *n == t.name) {
                        Some(i) => i,
                        None => {
                            user_types.push(t.name.clone());
                            user_types.len() - 1
                        }
                    };
                    Share {
                        type_index,
                        ratio: t.ratio,
                        // apportion never gives a type more than num_users, a u32.
                        users: users as u32,
                        rate_per_s: rate_per_s * t.ratio as f64 / ratio_sum.max(1) as f64,
                        min_wait: t.min_wait,
                        max_wait: t.max_wait,
                        waits_given: t.waits_given,
                    }
                })
                .collect();
            phases.push(Phase {
                number: i + 1,
                name: phase.name.clone(),
                line: phase.line,
                duration: phase.duration,
                hatch_rate: phase.hatch_rate_per_s,
                shares,
                rate: phase.rate.as_ref().map(|r| Rate {
                    per_s: r.per_s,
                    arrival: r.arrival,
                    ramp: r.ramp,
                }),
            });
        }
        Plan {
            user_types,
            phases,
            class_waits: plain_locustfile,
        }
    }

    /// The Locust user class of each type (`NormalUser`, ...), in plan order.
    pub fn user_classes(&self) -> Vec<String> {
        self.user_types
            .iter()
            .map(UserTypeName::user_class)
            .collect()
    }

    /// The user classes some phase runs (after a reload, a type no phase uses
    /// keeps its place in [`Plan::user_types`] but has no class).
    pub fn used_user_classes(&self) -> Vec<String> {
        self.user_types
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                self.phases
                    .iter()
                    .flat_map(|p| &p.shares)
                    .any(|s| s.type_index == *i)
            })
            .map(|(_, name)| name.user_class())
            .collect()
    }

    /// The length of one loop through all phases.
    pub fn cycle(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// When phase `phase_index` of loop `loop_index` starts, from the run's start.
    pub fn start_of(&self, loop_index: u64, phase_index: usize) -> Duration {
        let cycle = self.cycle().as_nanos() * u128::from(loop_index);
        let before: Duration = self.phases[..phase_index].iter().map(|p| p.duration).sum();
        Duration::from_nanos(u64::try_from(cycle).unwrap_or(u64::MAX)) + before
    }

    /// The phase occurrence running at `elapsed` after the run's start.
    pub fn slot_at(&self, elapsed: Duration) -> Slot {
        let cycle = self.cycle().as_nanos().max(1);
        let loop_index = (elapsed.as_nanos() / cycle) as u64;
        let mut start = Duration::from_nanos((cycle * u128::from(loop_index)) as u64);
        for (phase_index, phase) in self.phases.iter().enumerate() {
            let end = start + phase.duration;
            if elapsed < end || phase_index + 1 == self.phases.len() {
                return Slot {
                    loop_index,
                    phase_index,
                    start,
                    end,
                };
            }
            start = end;
        }
        unreachable!("a validated plan has at least one phase")
    }

    /// The user count per type of a phase (0 for types not in it).
    pub fn targets(&self, phase_index: usize) -> Counts {
        let mut counts = vec![0; self.user_types.len()];
        for share in &self.phases[phase_index].shares {
            counts[share.type_index] = share.users;
        }
        counts
    }

    /// The total number of users of a phase.
    pub fn total_users(&self, phase_index: usize) -> u64 {
        self.phases[phase_index]
            .shares
            .iter()
            .map(|s| u64::from(s.users))
            .sum()
    }

    /// The wait range of each type in a phase; `None` for types not in it, and
    /// for types that keep their class's own `wait_time` ([`Plan::class_waits`]).
    pub fn waits(&self, phase_index: usize) -> Vec<Option<(Duration, Duration)>> {
        let mut waits = vec![None; self.user_types.len()];
        for share in &self.phases[phase_index].shares {
            if self.class_waits && !share.waits_given {
                continue;
            }
            waits[share.type_index] = Some((share.min_wait, share.max_wait));
        }
        waits
    }

    /// Each type's mean wait in seconds in a phase (`between(min, max)` waits
    /// `(min + max) / 2` on average); `None` where [`Plan::waits`] has none.
    pub fn mean_waits(&self, phase_index: usize) -> Vec<Option<f64>> {
        self.waits(phase_index)
            .into_iter()
            .map(|w| w.map(|(min, max)| (min.as_secs_f64() + max.as_secs_f64()) / 2.0))
            .collect()
    }

    /// What sets each type's pace in a phase (see [`Pace`]); `None` for types
    /// not in it and where [`Plan::waits`] has none.
    pub fn paces(&self, phase_index: usize) -> Vec<Option<Pace>> {
        let phase = &self.phases[phase_index];
        if phase.rate.is_none() {
            return self
                .mean_waits(phase_index)
                .into_iter()
                .map(|w| w.map(Pace::Wait))
                .collect();
        }
        let mut paces = vec![None; self.user_types.len()];
        for share in phase.shares.iter().filter(|s| s.users > 0) {
            paces[share.type_index] = Some(Pace::RatePerUser {
                rate_per_user: share.rate_per_s / f64::from(share.users),
            });
        }
        paces
    }

    /// Each type's iterations per second in a rate phase (0 for types not in
    /// it); `None` for a phase of users.
    pub fn rates(&self, phase_index: usize) -> Option<Vec<f64>> {
        let phase = &self.phases[phase_index];
        phase.rate?;
        let mut rates = vec![0.0; self.user_types.len()];
        for share in &phase.shares {
            rates[share.type_index] = share.rate_per_s;
        }
        Some(rates)
    }

    /// Whether a phase implies a request rate: a rate phase does; a phase of
    /// users does if it has users and every type with users waits a known time
    /// above 0 on average (see `stats::delivery`).
    pub fn sets_rate(&self, phase_index: usize) -> bool {
        if self.phases[phase_index].rate.is_some() {
            return true;
        }
        let waits = self.mean_waits(phase_index);
        let with_users: Vec<_> = self.phases[phase_index]
            .shares
            .iter()
            .filter(|s| s.users > 0)
            .collect();
        !with_users.is_empty()
            && with_users
                .iter()
                .all(|s| waits[s.type_index].is_some_and(|w| w > 0.0))
    }

    /// The largest user count of any phase.
    pub fn peak_users(&self) -> u64 {
        (0..self.phases.len())
            .map(|i| self.total_users(i))
            .max()
            .unwrap_or(0)
    }
}

/// A one-screen description: phases, when each starts, users per type.
impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} phases, one loop every {}, {} users at the peak",
            self.phases.len(),
            short(self.cycle()),
            self.peak_users()
        )?;
        let mut start = Duration::ZERO;
        for (i, phase) in self.phases.iter().enumerate() {
            let users: Vec<String> = phase
                .shares
                .iter()
                .map(|s| {
                    if phase.rate.is_some() {
                        return format!(
                            "{} {:.1}/s (ratio {}, up to {} users)",
                            self.user_types[s.type_index], s.rate_per_s, s.ratio, s.users
                        );
                    }
                    let wait = if self.class_waits && !s.waits_given {
                        "the class's own".to_string()
                    } else if s.min_wait == s.max_wait {
                        format!("{} ms", s.min_wait.as_millis())
                    } else {
                        format!("{}-{} ms", s.min_wait.as_millis(), s.max_wait.as_millis())
                    };
                    format!(
                        "{} {} (ratio {}, wait {wait})",
                        self.user_types[s.type_index], s.users, s.ratio
                    )
                })
                .collect();
            let size = match &phase.rate {
                Some(rate) => {
                    let ramp = if rate.ramp.is_zero() {
                        String::new()
                    } else {
                        format!(" (ramp {})", short(rate.ramp))
                    };
                    let arrival = match rate.arrival {
                        Arrival::Uniform => "uniform",
                        Arrival::Poisson => "poisson",
                    };
                    format!("{:.1} iterations/s {arrival}{ramp}", rate.per_s)
                }
                None => format!(
                    "{:>5} users, hatch {}/s",
                    self.total_users(i),
                    phase.hatch_rate
                ),
            };
            writeln!(
                f,
                "  phase {} (line {}): at {:>6}, for {:>5}, {size}: {}",
                phase.number,
                phase.line,
                short(start),
                short(phase.duration),
                users.join(", ")
            )?;
            start += phase.duration;
        }
        Ok(())
    }
}

/// Splits `total` in proportion to `weights` so the parts add up to `total`:
/// every part gets the floor of its exact quota, and the units left over go to the
/// largest remainders (ties to the earlier weight, so results are stable).
pub fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let quotas: Vec<(u64, u128)> = weights
        .iter()
        .map(|&w| {
            let exact = u128::from(total) * u128::from(w);
            ((exact / sum) as u64, exact % sum)
        })
        .collect();
    let mut parts: Vec<u64> = quotas.iter().map(|q| q.0).collect();
    let left = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| quotas[b].1.cmp(&quotas[a].1).then(a.cmp(&b)));
    for &i in order.iter().take(left as usize) {
        parts[i] += 1;
    }
    parts
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config;
    use crate::diagnostic::SourceText;

    pub(crate) fn hipster_plan() -> Plan {
        let text = include_str!("../../applications/hipster_shop/load_generation/load.pbtxt");
        let loaded = config::parse(SourceText::new("load.pbtxt", text.to_string())).unwrap();
        Plan::new(&loaded.config)
    }

    /// Phase 1: 10 users of A waiting 100 ms; phase 2 (`open`): A at 40
    /// iterations/s, Poisson.
    pub(crate) fn rate_plan() -> Plan {
        let text = "phases { duration: 10 num_users: 10 hatch_rate_per_s: 10 \
                    user_types { name: \"A\" ratio: 1 min_wait_ms: 100 max_wait_ms: 100 } }\n\
                    phases { name: \"open\" duration: 10 requests_per_s: 40 arrival: POISSON \
                    hatch_rate_per_s: 10 user_types { name: \"A\" ratio: 1 } }\n";
        let loaded = config::parse(SourceText::new("load.pbtxt", text.to_string())).unwrap();
        Plan::new(&loaded.config)
    }

    #[test]
    fn apportion_adds_up_with_largest_remainders() {
        assert_eq!(apportion(200, &[1, 2]), vec![67, 133]);
        assert_eq!(apportion(300, &[1, 3]), vec![75, 225]);
        assert_eq!(apportion(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(apportion(1, &[1, 1]), vec![1, 0]);
        assert_eq!(apportion(0, &[5, 1]), vec![0, 0]);
        assert_eq!(apportion(7, &[1, 5]), vec![1, 6]);
        let big = apportion(i32::MAX as u64, &[i32::MAX as u64, 1, i32::MAX as u64]);
        assert_eq!(big.iter().sum::<u64>(), i32::MAX as u64);
    }

    #[test]
    fn a_rate_is_split_by_ratio_and_every_type_keeps_a_user_of_the_pool() {
        let text = "phases { duration: 10 requests_per_s: 100 max_users: 4\n  user_types { name: \"A\" ratio: 1 } user_types { name: \"B\" ratio: 9 } }";
        let loaded = config::parse(SourceText::new("load.pbtxt", text.to_string())).unwrap();
        let plan = Plan::new(&loaded.config);
        assert_eq!(plan.rates(0), Some(vec![10.0, 90.0]));
        // 4 users by 1:9 would give A none: each type keeps one, the rest by ratio.
        assert_eq!(plan.targets(0), vec![1, 3]);
        assert_eq!(
            plan.paces(0),
            vec![
                Some(Pace::RatePerUser {
                    rate_per_user: 10.0
                }),
                Some(Pace::RatePerUser {
                    rate_per_user: 30.0
                })
            ]
        );
        assert!(plan.sets_rate(0));
        assert!(
            plan.to_string().contains("100.0 iterations/s uniform"),
            "{plan}"
        );
    }

    #[test]
    fn the_hipster_plan() {
        let plan = hipster_plan();
        let names: Vec<_> = plan.user_types.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["Normal", "Weekend", "Holiday"]);
        assert_eq!(plan.targets(0), vec![100, 0, 0]);
        assert_eq!(plan.targets(1), vec![67, 133, 0]);
        assert_eq!(plan.targets(2), vec![75, 0, 225]);
        assert_eq!(plan.cycle(), Duration::from_secs(80));
        assert_eq!(plan.peak_users(), 300);
    }

    #[test]
    fn slots_follow_the_cycle_without_drift() {
        let plan = hipster_plan();
        let s = plan.slot_at(Duration::from_secs(0));
        assert_eq!(
            (s.loop_index, s.phase_index, s.start, s.end),
            (0, 0, Duration::ZERO, Duration::from_secs(50))
        );
        let s = plan.slot_at(Duration::from_secs(50));
        assert_eq!((s.phase_index, s.start), (1, Duration::from_secs(50)));
        let s = plan.slot_at(Duration::from_millis(79_999));
        assert_eq!(s.phase_index, 2);
        // Loop 1000: exactly 80_000 s in, phase 2 starts at 80_050 s.
        let s = plan.slot_at(Duration::from_secs(80_000 + 55));
        assert_eq!(
            (s.loop_index, s.phase_index, s.start),
            (1000, 1, Duration::from_secs(80_050))
        );
    }
}
