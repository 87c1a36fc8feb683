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
//! at the start: more processes would mean restarting Locust, and every user
//! ramping back at its hatch rate. A reload or a `scale` that needs more is
//! said (`capacity_for`) with what to do.
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

/// Chooses the local workers for `plan`, its users times `scale` (the control
/// API's factor; 1 is the plan), on a machine with `cores` cores.
pub fn choose(plan: &Plan, scale: f64, user_class: UserClass, cores: u32) -> Choice {
    let per_process = match user_class {
        UserClass::Http => HTTP_TASKS_PER_PROCESS,
        UserClass::Fast => FAST_TASKS_PER_PROCESS,
    };
    let client = match user_class {
        UserClass::Http => "HttpUser",
        UserClass::Fast => "FastHttpUser",
    };
    let (processes, demand) = match peak_tasks_per_s(plan).scaled(scale) {
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

/// This machine's cores, as a pod's CPU quota limits them
/// (`available_parallelism` reads the cgroup).
pub fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

/// The client a plan's users are sized for: the template's (`client`), except
/// where the classes keep their own waits or client (a plain locustfile), which
/// are sized as `HttpUser`.
pub fn sized_client(plan: &Plan, client: Option<UserClass>) -> UserClass {
    match client {
        Some(class) if !plan.class_waits => class,
        _ => UserClass::Http,
    }
}

/// Under `--workers auto`, after a reload or a `scale`: what to say when the
/// changed plan needs more local processes than the run has (`running` local
/// workers; 0 is one process); `None` when it has enough.
pub fn capacity_for(
    plan: &Plan,
    scale: f64,
    user_class: UserClass,
    cores: u32,
    running: u32,
) -> Option<String> {
    let choice = choose(plan, scale, user_class, cores);
    if choice.workers <= running {
        return None;
    }
    let needs = choice
        .why
        .strip_prefix("--workers auto: ")
        .unwrap_or(&choice.why);
    let has = match running {
        0 => "one Locust process".to_string(),
        n => format!("{n} local workers"),
    };
    Some(format!(
        "--workers auto: the changed plan needs {needs}, and this run has {has}. Workers are \
         sized once, at the start: more processes mean restarting Locust, and every user \
         ramping back at its hatch rate. Restart loadgen to carry the new plan (it will start \
         {}); until then the run is likely to fall short of it, and says so",
        choice.workers
    ))
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

impl Demand {
    fn scaled(self, factor: f64) -> Demand {
        match self {
            Demand::Tasks(rate) => Demand::Tasks(rate * factor),
            Demand::Users(users) => Demand::Users((users as f64 * factor).round() as u64),
            Demand::Unbounded => Demand::Unbounded,
        }
    }
}

fn peak_tasks_per_s(plan: &Plan) -> Demand {
    let mut peak = 0.0_f64;
    for (i, phase) in plan.phases.iter().enumerate() {
        // A rate phase asks for its rate, whatever its users wait.
        if let Some(rate) = &phase.rate {
            peak = peak.max(rate.per_s);
            continue;
        }
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
    fn a_rate_phase_is_sized_by_its_rate() {
        let text =
            "phases { duration: 10 requests_per_s: 800 user_types { name: \"A\" ratio: 1 } }";
        let loaded = config::parse(SourceText::new("load.pbtxt", text.to_string())).unwrap();
        let plan = Plan::new(&loaded.config);
        let fast = choose(&plan, 1.0, UserClass::Fast, 2);
        assert_eq!(fast.workers, 0, "{fast:?}");
        assert!(fast.why.contains("800 tasks/s"), "{}", fast.why);
        assert_eq!(choose(&plan, 1.0, UserClass::Http, 2).workers, 2);
    }

    #[test]
    fn the_hipster_load_runs_in_one_process_and_1500_users_on_every_core() {
        let hipster = crate::plan::tests::hipster_plan();
        let c = choose(&hipster, 1.0, UserClass::Http, 2);
        assert_eq!(c.workers, 0, "{c:?}");
        assert!(c.why.contains("one Locust process"), "{}", c.why);
        assert!(c.why.contains("300 tasks/s"), "{}", c.why);
        // 1,500 users at 1 s: 1,500 tasks/s, 5 processes' worth; 2 cores.
        let big = plan(1500, 1000);
        let c = choose(&big, 1.0, UserClass::Http, 2);
        assert_eq!(c.workers, 2, "{c:?}");
        assert!(c.why.contains("at most one per core (2)"), "{}", c.why);
        assert_eq!(choose(&big, 1.0, UserClass::Http, 8).workers, 5);
        assert_eq!(choose(&big, 1.0, UserClass::Fast, 8).workers, 2);
        assert_eq!(choose(&big, 1.0, UserClass::Http, 1).workers, 0);
    }

    #[test]
    fn the_busiest_phase_decides_and_wait_0_stays_in_one_process() {
        // Phase 1: 10 users at 0.5 s = 20 tasks/s; phase 2: 400 at 1 s.
        assert_eq!(choose(&plan(400, 1000), 1.0, UserClass::Http, 4).workers, 2);
        assert_eq!(choose(&plan(300, 1000), 1.0, UserClass::Http, 4).workers, 0);
        let c = choose(&plan(5, 0), 1.0, UserClass::Http, 4);
        assert_eq!(c.workers, 0, "{c:?}");
        assert!(
            c.why.contains("wait 0") && c.why.contains("--workers N"),
            "{}",
            c.why
        );
    }

    #[test]
    fn a_scale_factor_sizes_as_the_scaled_plan() {
        // 400 users at 1 s: 2 processes of HttpUser; scaled by 0.5, one.
        assert_eq!(choose(&plan(400, 1000), 0.5, UserClass::Http, 4).workers, 0);
        let c = choose(&plan(400, 1000), 3.0, UserClass::Http, 8);
        assert_eq!(c.workers, 4, "{c:?}");
        assert!(c.why.contains("1200 tasks/s"), "{}", c.why);
    }

    #[test]
    fn a_changed_plan_that_needs_more_processes_is_said() {
        let small = plan(100, 1000);
        assert_eq!(capacity_for(&small, 1.0, UserClass::Fast, 2, 0), None);
        // Scaled by 20: 2,000 tasks/s, 2 FastHttpUser processes' worth.
        let said = capacity_for(&small, 20.0, UserClass::Fast, 2, 0).expect("said");
        assert!(
            said.contains("needs 2 local workers (the plan peaks at 2000 tasks/s")
                && said.contains("this run has one Locust process")
                && said.contains("it will start 2"),
            "{said}"
        );
        // Already on 2 workers: enough on 2 cores, whatever the factor.
        assert_eq!(capacity_for(&small, 50.0, UserClass::Fast, 2, 2), None);
        // One core: one process is all there is.
        assert_eq!(capacity_for(&small, 50.0, UserClass::Fast, 1, 0), None);
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
        let c = choose(&p, 1.0, UserClass::Http, 4);
        assert_eq!(c.workers, 3, "{c:?}");
        assert!(c.why.contains("700 users"), "{}", c.why);
    }
}
