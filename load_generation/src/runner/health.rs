//! What the run loop watches besides the schedule, as one pure type: whether
//! Locust can keep up (saturation), whether the plan's request rate is
//! delivered (shortfall), and the exceptions in the users' code. [`Health`]
//! takes a sample's figures and returns what to say; the run loop says it
//! (an event, a note) and does the I/O (reading Locust's CPU from `/proc`).
//! So every decision here is unit-tested without Locust.
//!
//! Past 600 lines, about half of it unit tests of the messages; the checks themselves
//! live in saturation.rs, shortfall.rs and dropping.rs.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use super::dropping::Dropping;
use super::saturation::{self, Busy, Detector};
use super::shortfall;
use crate::fmt::dec;
use crate::locust::protocol::{ExceptionDelta, Sample};
use crate::locustfile::UserClass;
use crate::plan::Pace;
use crate::stats::delivery::{Delivery, Tally};

/// Distinct exceptions shown as they first happen; beyond, they are only counted.
const MAX_ERRORS_SHOWN: usize = 20;

/// A change worth saying, kept as a run event of `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Said {
    pub kind: &'static str,
    pub detail: String,
}

/// What runs now, for the advice given with a saturation or a shortfall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// Worker processes on this machine (0: one local Locust).
    pub local_workers: u32,
    /// Workers on other machines.
    pub remote_workers: u32,
    pub cores: usize,
    /// The client the users run (`None`: the locustfile's own).
    pub client: Option<UserClass>,
}

/// The load as the run loop sees it when a sample comes, for the words said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Users running in Locust's sample, and asked for by loadgen.
    pub running: u64,
    pub asked: u64,
    pub requests_per_s: f64,
    /// Workers connected (0 for one local process).
    pub workers: u32,
    pub capacity: Capacity,
}

/// The watchers' state between samples.
#[derive(Debug)]
pub struct Health {
    saturation: Detector,
    /// Planned against delivered over the last seconds.
    shortfall: shortfall::Watch,
    /// How busy the busiest Locust process was at its last reading (percent of
    /// a core, running or waiting for one); `None` before a first reading.
    busiest: Option<f64>,
    /// Users per type loadgen asked for since the last sample.
    offered: Offered,
    /// The tracebacks of the users' exceptions already shown (each is shown
    /// once, at its first occurrence; later ones are counted).
    errors_shown: HashSet<String>,
    /// Rate phases' iterations dropped (see [`Dropping`]).
    dropping: Dropping,
}

impl Health {
    pub fn new(start: Instant) -> Health {
        Health {
            saturation: Detector::default(),
            shortfall: shortfall::Watch::default(),
            busiest: None,
            offered: Offered::from(start),
            errors_shown: HashSet::new(),
            dropping: Dropping::default(),
        }
    }

    pub fn saturated(&self) -> bool {
        self.saturation.saturated()
    }

    pub fn short(&self) -> bool {
        self.shortfall.short()
    }

    /// Iterations of a rate phase are being dropped now.
    pub fn dropping(&self) -> bool {
        self.dropping.dropping()
    }

    /// Takes a sample's dropped iterations; says when dropping begins and ends.
    pub fn dropped(
        &mut self,
        now: Instant,
        sample: &Sample,
        pool: &BTreeMap<String, u32>,
    ) -> Option<Said> {
        self.dropping.observe(now, &sample.dropped, pool)
    }

    /// The latest judgement of planned against delivered.
    pub fn delivery(&self) -> Option<Delivery> {
        self.shortfall.latest()
    }

    /// The exceptions of a sample not shown before (at most [`MAX_ERRORS_SHOWN`]
    /// in a run): each is shown once, when it first happens.
    pub fn new_errors<'a>(&mut self, exceptions: &'a [ExceptionDelta]) -> Vec<&'a ExceptionDelta> {
        exceptions
            .iter()
            .filter(|e| {
                self.errors_shown.len() < MAX_ERRORS_SHOWN
                    && self.errors_shown.insert(e.traceback.clone())
            })
            .collect()
    }

    /// Takes the busiest Locust process's CPU at a sample (`None` where no
    /// reading was due: the first, or a sample closed too soon after the
    /// last); says when it saturates, and when it recovers, with the figures
    /// over the window it was judged on.
    pub fn cpu(
        &mut self,
        now: Instant,
        busiest: Option<Busy>,
        lag_ms: f64,
        load: &Load,
    ) -> Option<Said> {
        if let Some(b) = busiest {
            self.busiest = Some(b.total());
        }
        // The lag counts for the time since the last sample (where `offered`
        // began), so a sample closed a few ms after the last weighs a few ms.
        let seconds = now
            .saturating_duration_since(self.offered.from)
            .as_secs_f64();
        match self.saturation.observe(now, busiest, lag_ms, seconds)? {
            saturation::Change::Began(judged) => {
                let busy = judged.busy;
                let starved = if busy.waiting >= 10.0 {
                    format!(
                        " (running {:.0}%, waiting {:.0}% for a core that other processes hold)",
                        busy.running, busy.waiting
                    )
                } else {
                    String::new()
                };
                let detail = format!(
                    "the load generator is saturated: its busiest Locust process is busy {:.0}% of the time{starved}, \
                     and its event loop runs {:.0} ms late (over the last {:.0} s). \
                     It can't run the planned users on time: the target gets less than the plan \
                     ({:.0} req/s now), and the response times include loadgen's own delays. {}",
                    busy.total(),
                    judged.lag_ms,
                    saturation::WINDOW_S,
                    load.requests_per_s,
                    advice(&load.capacity)
                );
                Some(Said {
                    kind: "saturated",
                    detail,
                })
            }
            saturation::Change::Ended(judged) => Some(Said {
                kind: "saturation_ended",
                detail: format!(
                    "the load generator is no longer saturated (busy {:.0}% over the last {:.0} s)",
                    judged.busy.total(),
                    saturation::WINDOW_S,
                ),
            }),
        }
    }

    /// Adds the users loadgen asks for now (`commanded`, per type), for the
    /// time since the last call, to the interval's user-seconds. Called before
    /// every change of those counts (each tick, control action and reload) and
    /// at each sample.
    pub fn accrue(&mut self, now: Instant, commanded: &[u32]) {
        self.offered.accrue(now, commanded);
    }

    /// What the interval of `sample`, up to `until`, was asked for and
    /// delivered: the users loadgen asked for over it (as they went, ramps and
    /// pauses included), the requests and the tasks; calm or not (only a calm
    /// generator's response times are the target's).
    pub fn interval(&mut self, sample: &Sample, until: Instant, commanded: &[u32]) -> Tally {
        self.offered.accrue(until, commanded);
        let (users, seconds) = self.offered.mean_users(until);
        self.offered = Offered::from(until);
        let requests = sample.stats.iter().map(|s| s.requests).sum();
        let total_ms = sample.stats.iter().map(|s| s.total_ms).sum();
        let calm = saturation::calm(
            self.saturation.saturated(),
            self.busiest,
            sample.loop_lag_ms,
            sample.loop_late_max_ms,
        );
        Tally::interval(&users, seconds, requests, total_ms, sample.iterations, calm)
    }

    /// Takes an interval of the running occurrence, whose types wait `waits`
    /// seconds on average; says when it delivers less than its plan implies
    /// (with why and what to do), and when it is back.
    pub fn delivered(
        &mut self,
        occurrence: usize,
        interval: Tally,
        waits: &[Option<Pace>],
        loop_late_max_ms: f64,
        load: &Load,
    ) -> Option<Said> {
        let change = self
            .shortfall
            .observe(occurrence, interval, waits, load.workers);
        if let Some(d) = self.shortfall.latest() {
            tracing::debug!(
                "delivered {:.1} of {:.1} planned req/s ({:.0}%; {:.2} requests per task, responses {:.0} ms)",
                d.delivered_requests_per_s,
                d.planned_requests_per_s,
                d.delivered_ratio * 100.0,
                d.requests_per_task,
                d.response_ms
            );
        }
        match change? {
            shortfall::Change::Began(d) => {
                let open = waits
                    .iter()
                    .any(|p| matches!(p, Some(Pace::RatePerUser { .. })));
                Some(Said {
                    kind: "shortfall",
                    detail: self.shortfall_detail(&d, loop_late_max_ms, load, open),
                })
            }
            shortfall::Change::Ended(d) => Some(Said {
                kind: "shortfall_ended",
                detail: format!(
                    "the plan's request rate is delivered again: {} of {} req/s ({:.0}%)",
                    rate(d.delivered_requests_per_s),
                    rate(d.planned_requests_per_s),
                    d.delivered_ratio * 100.0
                ),
            }),
        }
    }

    /// Why the load is short, from what was seen: a saturated generator, a
    /// loop that holds users (their own CPU, or a machine too busy to give
    /// Locust its core), or neither.
    fn shortfall_detail(
        &self,
        d: &Delivery,
        loop_late_max_ms: f64,
        load: &Load,
        open: bool,
    ) -> String {
        let responses = if d.response_ms > 0.0 {
            format!(" and responses of {:.0} ms", d.response_ms)
        } else {
            String::new()
        };
        let (running, asked) = (load.running, load.asked);
        let why = if self.saturation.saturated() {
            format!(
                "The load generator is saturated. {}",
                advice(&load.capacity)
            )
        } else if loop_late_max_ms >= saturation::CALM_LATE_MAX_MS {
            format!(
                "Locust's event loop held users up to {loop_late_max_ms:.0} ms in the last sample \
                 ({running} of {asked} users run): their own code holds it (CPU in tasks, users in \
                 step), or the machine does not give Locust its core; responses are read late, and \
                 the users run slower than planned."
            )
        } else if open && self.dropping.dropping() {
            format!(
                "Iterations are dropped: all {running} users of the rate's pool are busy with \
                 slow responses; raise the phase's `max_users`, or lower its `requests_per_s`."
            )
        } else {
            format!(
                "Locust is not CPU-bound: {running} of {asked} users run; the users' tasks may \
                 spend time outside their requests (sleeps, their own code), or start late."
            )
        };
        if open {
            return format!(
                "the load is short of its plan: {} req/s delivered of the {} its rate asks for \
                 ({:.0}%, {:.2} requests per iteration{responses}). {why}",
                rate(d.delivered_requests_per_s),
                rate(d.planned_requests_per_s),
                d.delivered_ratio * 100.0,
                d.requests_per_task
            );
        }
        format!(
            "the load is short of its plan: {} req/s delivered of the {} its users imply \
             ({:.0}%, at their waits, {:.2} requests per task{responses}). {why}",
            rate(d.delivered_requests_per_s),
            rate(d.planned_requests_per_s),
            d.delivered_ratio * 100.0,
            d.requests_per_task
        )
    }
}

/// A request rate as people read it: `1,800`, `8.5`.
fn rate(per_s: f64) -> String {
    dec(per_s, if per_s < 100.0 { 1 } else { 0 })
}

/// The users loadgen asked for since the last sample, in user-seconds per type.
#[derive(Debug)]
struct Offered {
    /// Where this interval began (the last sample).
    from: Instant,
    /// Accrued up to here.
    since: Instant,
    user_seconds: Vec<f64>,
}

impl Offered {
    fn from(at: Instant) -> Offered {
        Offered {
            from: at,
            since: at,
            user_seconds: Vec::new(),
        }
    }

    fn accrue(&mut self, now: Instant, commanded: &[u32]) {
        let seconds = now.saturating_duration_since(self.since).as_secs_f64();
        if self.user_seconds.len() < commanded.len() {
            self.user_seconds.resize(commanded.len(), 0.0);
        }
        for (sum, &n) in self.user_seconds.iter_mut().zip(commanded) {
            *sum += f64::from(n) * seconds;
        }
        self.since = now;
    }

    /// The mean users per type from the interval's start to `until`, and its seconds.
    fn mean_users(&self, until: Instant) -> (Vec<f64>, f64) {
        let seconds = until.saturating_duration_since(self.from).as_secs_f64();
        let users = self
            .user_seconds
            .iter()
            .map(|us| if seconds > 0.0 { us / seconds } else { 0.0 })
            .collect();
        (users, seconds)
    }
}

/// What would give a saturated generator more capacity, from what runs now:
/// only the remedies not already taken (the defaults may have taken them all).
fn advice(c: &Capacity) -> String {
    let mut ways = Vec::new();
    let cores = c.cores;
    let processes = c.local_workers.max(1) as usize;
    // With workers on other machines, this one's cores are not where users run.
    if processes < cores && c.remote_workers == 0 {
        ways.push(format!(
            "more Locust processes (--workers {cores}: {processes} now{}, and this machine has {cores} cores)",
            if c.local_workers == 0 { "" } else { " workers" }
        ));
    }
    if c.client == Some(UserClass::Http) {
        ways.push(
            "the faster client (--user-class fast: HttpUser runs, for the reason said at the start)"
                .to_string(),
        );
    }
    ways.push(if ways.is_empty() {
        format!(
            "Nothing is left to take on this machine ({processes} Locust processes on {cores} cores, \
             FastHttpUser or the locustfile's own client): add machines (loadgen worker)."
        )
    } else {
        "more machines (loadgen worker)".to_string()
    });
    match ways.len() {
        1 => ways.remove(0),
        _ => {
            let last = ways.pop().unwrap_or_default();
            format!("Use {}, or {last}.", ways.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::locust::protocol::RequestDelta;

    fn load() -> Load {
        Load {
            running: 20,
            asked: 20,
            requests_per_s: 75.0,
            workers: 0,
            capacity: Capacity {
                local_workers: 0,
                remote_workers: 0,
                cores: 2,
                client: Some(UserClass::Fast),
            },
        }
    }

    fn busy(running: f64, waiting: f64) -> Option<Busy> {
        Some(Busy {
            running,
            waiting,
            seconds: 0.5,
        })
    }

    /// A sample of `requests` requests taking `ms` each, the loop held `late_ms` at most.
    fn sample(requests: u64, ms: f64, late_ms: f64) -> Sample {
        Sample {
            stats: vec![RequestDelta {
                method: "GET".into(),
                name: "/".into(),
                requests,
                failures: 0,
                total_ms: ms * requests as f64,
                histogram: vec![],
                intended_histogram: vec![],
            }],
            iterations: requests,
            loop_late_max_ms: late_ms,
            ..Sample::default()
        }
    }

    #[test]
    fn the_advice_names_only_remedies_not_taken() {
        let capacity = |local_workers, remote_workers, cores, client| Capacity {
            local_workers,
            remote_workers,
            cores,
            client,
        };
        let one_http = advice(&capacity(0, 0, 2, Some(UserClass::Http)));
        assert!(
            one_http.starts_with("Use more Locust processes (--workers 2: 1 now"),
            "{one_http}"
        );
        assert!(
            one_http.contains("--user-class fast")
                && one_http.ends_with("or more machines (loadgen worker)."),
            "{one_http}"
        );
        let two_fast = advice(&capacity(2, 0, 2, Some(UserClass::Fast)));
        assert!(
            !two_fast.contains("--workers") && !two_fast.contains("--user-class"),
            "{two_fast}"
        );
        assert!(
            two_fast.contains("Nothing is left") && two_fast.contains("loadgen worker"),
            "{two_fast}"
        );
        let plain_one = advice(&capacity(0, 0, 4, None));
        assert!(
            plain_one.contains("--workers 4") && !plain_one.contains("--user-class"),
            "{plain_one}"
        );
        let remote = advice(&capacity(0, 3, 4, Some(UserClass::Fast)));
        assert!(!remote.contains("--workers"), "{remote}");
    }

    #[test]
    fn saturation_is_said_once_with_its_figures_and_its_end_once_calm() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        let at = |i: u64| t0 + Duration::from_millis(500 * i);
        assert_eq!(h.cpu(at(0), None, 0.0, &load()), None, "no reading yet");
        let said: Vec<(u64, Said)> = (1..=8)
            .filter_map(|i| {
                h.cpu(at(i), busy(60.0, 35.0), 90.0, &load())
                    .map(|s| (i, s))
            })
            .collect();
        assert_eq!(said.len(), 1, "{said:?}");
        let (i, s) = &said[0];
        assert_eq!((*i, s.kind), (4, "saturated"), "after 2 s of readings");
        assert!(
            s.detail
                .contains("busy 95% of the time (running 60%, waiting 35% for a core")
                && s.detail.contains("runs 90 ms late")
                && s.detail.contains("(75 req/s now)")
                && s.detail.contains("--workers 2"),
            "{}",
            s.detail
        );
        assert!(h.saturated());
        let ended: Vec<(u64, Said)> = (9..=30)
            .filter_map(|i| h.cpu(at(i), busy(20.0, 0.0), 5.0, &load()).map(|s| (i, s)))
            .collect();
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert_eq!(ended[0].1.kind, "saturation_ended");
        assert!(!h.saturated());
    }

    #[test]
    fn each_error_is_shown_once_and_at_most_twenty() {
        let mut h = Health::new(Instant::now());
        let error = |i: usize| ExceptionDelta {
            message: format!("boom {i}"),
            traceback: format!("File \"locustfile.py\", line {i}"),
            count: 3,
        };
        let first: Vec<ExceptionDelta> = (0..3).map(error).collect();
        assert_eq!(h.new_errors(&first).len(), 3);
        assert!(h.new_errors(&first).is_empty(), "shown once");
        let many: Vec<ExceptionDelta> = (0..40).map(error).collect();
        assert_eq!(h.new_errors(&many).len(), MAX_ERRORS_SHOWN - 3);
        assert!(
            h.new_errors(&[error(99)]).is_empty(),
            "later ones are counted only"
        );
    }

    #[test]
    fn an_interval_offers_the_users_asked_for_as_they_went() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        // 10 users for 0.2 s, then 20 for 0.3 s: 16 on average over 0.5 s.
        h.accrue(t0 + Duration::from_millis(200), &[10]);
        let t = h.interval(
            &sample(40, 10.0, 0.0),
            t0 + Duration::from_millis(500),
            &[20],
        );
        assert!((t.seconds - 0.5).abs() < 1e-9, "{t:?}");
        assert!((t.user_seconds[0] - 8.0).abs() < 1e-9, "{t:?}");
        assert_eq!((t.requests, t.iterations), (40, 40));
        // No CPU reading yet: not known to be calm, so its responses don't count.
        assert_eq!(t.calm_requests, 0, "{t:?}");
        h.cpu(t0, busy(10.0, 0.0), 1.0, &load());
        let calm = h.interval(&sample(40, 10.0, 5.0), t0 + Duration::from_secs(1), &[20]);
        assert_eq!(calm.calm_requests, 40, "{calm:?}");
        let held = h.interval(
            &sample(40, 10.0, 170.0),
            t0 + Duration::from_millis(1500),
            &[20],
        );
        assert_eq!(
            held.calm_requests, 0,
            "a loop held 170 ms is not calm: {held:?}"
        );
    }

    /// Feeds a generator whose loop holds users: 20 users at 100 ms waits
    /// are planned 200 req/s; 75 come. The shortfall names the loop.
    #[test]
    fn a_shortfall_names_a_loop_that_holds_users() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        let waits = [Some(Pace::Wait(0.1))];
        let mut said = Vec::new();
        for i in 1..=12u64 {
            let at = t0 + Duration::from_millis(500 * i);
            h.cpu(at, busy(55.0, 0.0), 10.0, &load());
            let s = sample(37, 3.0, 93.0);
            let tally = h.interval(&s, at, &[20]);
            if let Some(s) = h.delivered(0, tally, &waits, s.loop_late_max_ms, &load()) {
                said.push((i, s));
            }
        }
        assert_eq!(said.len(), 1, "{said:?}");
        let (i, s) = &said[0];
        assert_eq!((*i, s.kind), (8, "shortfall"), "said once 4 s are in");
        assert!(
            s.detail
                .starts_with("the load is short of its plan: 74.0 req/s delivered of the 200")
                && s.detail.contains("held users up to 93 ms")
                && s.detail.contains("(20 of 20 users run)")
                && !s.detail.contains("not CPU-bound"),
            "{}",
            s.detail
        );
        assert!(h.short());
        assert!(h.delivery().is_some_and(|d| d.delivered_ratio < 0.4));
    }

    #[test]
    fn a_shortfall_of_a_saturated_generator_says_so_and_what_to_do() {
        let t0 = Instant::now();
        let mut h = Health::new(t0);
        let mut said = None;
        for i in 1..=12u64 {
            let at = t0 + Duration::from_millis(500 * i);
            h.cpu(at, busy(99.0, 0.0), 120.0, &load());
            let tally = h.interval(&sample(20, 3.0, 150.0), at, &[20]);
            said = said.or(h.delivered(0, tally, &[Some(Pace::Wait(0.1))], 150.0, &load()));
        }
        let said = said.expect("a shortfall");
        assert!(
            said.detail
                .contains("The load generator is saturated. Use more Locust processes"),
            "{}",
            said.detail
        );
    }
}
