//! `--workers auto`: how many local Locust workers a plan needs on this machine.
//!
//! A Locust process runs its users on one core (gevent). Measured on this
//! project's 2-core VM against a target on the same machine (docs/benchmarks.md),
//! one process saturates at about 470 hipster-shop tasks/s with `HttpUser`
//! (560 req/s) and about 3.4 times that with `FastHttpUser`. Sizing for about 65%
//! of that keeps each process clear of the saturation line (85% CPU) with room
//! for bursts and a busy neighbour, so its latencies stay the target's.
//!
//! The plan's peak demand is its busiest phase's users over their mean waits, in
//! tasks per second. Workers are that over one process's share, at most one per
//! core (more processes than cores only share them); a load one process can
//! carry runs as one process (no master, no workers). The choice is made once,
//! at the start: a reload that raises the load does not add workers.
//!
//! It is the default: a plan that one process can carry (every test here, the
//! demo, the hipster shop's own load) runs as one process, as before; a bigger
//! one gets the cores it needs instead of silently delivering a third of its
//! rate (issue 15: 1,500 hipster users got 33% of their plan from one process).
//! Users that wait 0 stay in one process (see `choose`).

use crate::locustfile::UserClass;
use crate::plan::Plan;

/// Tasks per second one Locust process is sized for, with `HttpUser`.
const HTTP_TASKS_PER_PROCESS: f64 = 300.0;
/// With `FastHttpUser` (about 3.4 times the requests per core, measured).
const FAST_TASKS_PER_PROCESS: f64 = 1000.0;
/// Where the waits are not the config's (a plain locustfile's own `wait_time`),
/// users per process, as if they waited 1 s.
const USERS_PER_PROCESS: f64 = 300.0;

/// The workers chosen, and why, to be said at the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Local workers; 0 runs one Locust process.
    pub workers: u32,
    pub why: String,
}

/// Chooses the local workers for `plan` on a machine with `cores` cores.
pub fn choose(plan: &Plan, user_class: UserClass, cores: u32) -> Choice {
    let per_process = match user_class {
        UserClass::Http => HTTP_TASKS_PER_PROCESS,
        UserClass::Fast => FAST_TASKS_PER_PROCESS,
    };
    let client = match user_class {
        UserClass::Http => "HttpUser",
        UserClass::Fast => "FastHttpUser",
    };
    let (processes, demand) = match peak_tasks_per_s(plan) {
        Demand::Tasks(rate) => (
            (rate / per_process).ceil(),
            format!(
                "the plan peaks at {rate:.0} tasks/s; one Locust process is sized for {per_process:.0} with {client}"
            ),
        ),
        // Such users send as fast as the target and the generator allow: their
        // rate is not planned, so more processes would not deliver a plan but
        // change it (more requests than one process sends). Asked for, not guessed.
        Demand::Unbounded => (
            1.0,
            "users that wait 0 send as fast as they can, a rate the plan does not set; \
             --workers N spreads them over N processes"
                .to_string(),
        ),
        Demand::Users(users) => (
            (users as f64 / USERS_PER_PROCESS).ceil(),
            format!(
                "the plan peaks at {users} users whose waits are their classes' own; one Locust process is sized for {USERS_PER_PROCESS:.0}"
            ),
        ),
    };
    let cores = cores.max(1);
    let workers = if processes <= 1.0 || cores == 1 {
        0
    } else {
        processes.min(f64::from(cores)) as u32
    };
    let chosen = match workers {
        0 => "one Locust process".to_string(),
        n => format!("{n} local workers"),
    };
    let capped = if processes > f64::from(cores) && cores > 1 {
        format!("; at most one per core ({cores})")
    } else {
        format!("; this machine has {cores} cores")
    };
    Choice {
        workers,
        why: format!("--workers auto: {chosen} ({demand}{capped})"),
    }
}

/// What a plan asks of the generator at its busiest phase.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Demand {
    Tasks(f64),
    /// Some users wait 0: as fast as the target answers.
    Unbounded,
    /// The waits are not known: users only.
    Users(u64),
}

fn peak_tasks_per_s(plan: &Plan) -> Demand {
    let mut peak = 0.0_f64;
    for (i, phase) in plan.phases.iter().enumerate() {
        let waits = plan.mean_waits(i);
        let mut rate = 0.0;
        for share in phase.shares.iter().filter(|s| s.users > 0) {
            match waits[share.type_index] {
                None => return Demand::Users(plan.peak_users()),
                Some(w) if w <= 0.0 => return Demand::Unbounded,
                Some(w) => rate += f64::from(share.users) / w,
            }
        }
        peak = peak.max(rate);
    }
    Demand::Tasks(peak)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::diagnostic::SourceText;

    fn plan(users: u32, wait_ms: u32) -> Plan {
        let text = format!(
            "phases {{ duration: 10 num_users: 10 hatch_rate_per_s: 10 user_types {{ name: \"A\" ratio: 1 min_wait_ms: 500 max_wait_ms: 500 }} }}\n\
             phases {{ duration: 10 num_users: {users} hatch_rate_per_s: 10 user_types {{ name: \"A\" ratio: 1 min_wait_ms: {wait_ms} max_wait_ms: {wait_ms} }} }}"
        );
        let loaded = config::parse(SourceText::new("load.pbtxt", text)).unwrap();
        Plan::new(&loaded.config)
    }

    #[test]
    fn the_hipster_load_runs_in_one_process_and_1500_users_on_every_core() {
        let hipster = crate::plan::tests::hipster_plan();
        let c = choose(&hipster, UserClass::Http, 2);
        assert_eq!(c.workers, 0, "{c:?}");
        assert!(c.why.contains("one Locust process"), "{}", c.why);
        assert!(c.why.contains("300 tasks/s"), "{}", c.why);
        // 1,500 users at 1 s: 1,500 tasks/s, 5 processes' worth; 2 cores.
        let big = plan(1500, 1000);
        let c = choose(&big, UserClass::Http, 2);
        assert_eq!(c.workers, 2, "{c:?}");
        assert!(c.why.contains("at most one per core (2)"), "{}", c.why);
        assert_eq!(choose(&big, UserClass::Http, 8).workers, 5);
        assert_eq!(choose(&big, UserClass::Fast, 8).workers, 2);
        assert_eq!(choose(&big, UserClass::Http, 1).workers, 0);
    }

    #[test]
    fn the_busiest_phase_decides_and_wait_0_stays_in_one_process() {
        // Phase 1: 10 users at 0.5 s = 20 tasks/s; phase 2: 400 at 1 s.
        assert_eq!(choose(&plan(400, 1000), UserClass::Http, 4).workers, 2);
        assert_eq!(choose(&plan(300, 1000), UserClass::Http, 4).workers, 0);
        let c = choose(&plan(5, 0), UserClass::Http, 4);
        assert_eq!(c.workers, 0, "{c:?}");
        assert!(
            c.why.contains("wait 0") && c.why.contains("--workers N"),
            "{}",
            c.why
        );
    }

    #[test]
    fn waits_of_the_classes_own_size_by_users() {
        let mut p = plan(700, 1000);
        p.class_waits = true;
        for phase in &mut p.phases {
            for share in &mut phase.shares {
                share.waits_given = false;
            }
        }
        let c = choose(&p, UserClass::Http, 4);
        assert_eq!(c.workers, 3, "{c:?}");
        assert!(c.why.contains("700 users"), "{}", c.why);
    }
}
