//! What the run loop watches besides the schedule: whether Locust can keep up
//! (saturation), whether the plan's request rate is delivered (shortfall),
//! exceptions in the users' code, and Locust workers joining or leaving, each
//! said as it happens.

use std::time::Instant;

use super::group::GroupSpec;
use super::membership;
use super::saturation::{self, ProcessCpu};
use super::shortfall;
use super::{Observer, Run, MAX_ERRORS_SHOWN};
use crate::fmt::dec;
use crate::locust::protocol::Sample;
use crate::locustfile::UserClass;
use crate::stats::delivery::{Delivery, Tally};

impl Run {
    /// A sample's live workers: each one that joined, came back, was lost or was
    /// replaced is said by name with the users that move (`membership`); before
    /// the master has named any, a change of their count is.
    pub(super) fn workers_reported(
        &mut self,
        sample: &Sample,
        observers: &mut [&mut dyn Observer],
    ) {
        let before = std::mem::replace(&mut self.workers, sample.workers);
        if self.workers_seen.is_empty() {
            // Until the master has named its workers, only their count is known.
            self.workers_seen
                .extend(sample.worker_users.keys().cloned());
            if sample.workers != before {
                self.workers_changed(before, sample.workers, observers);
            }
        } else {
            let changes = membership::changes(
                &self.worker_users,
                &sample.worker_users,
                &mut self.workers_seen,
            );
            for change in changes {
                self.event(change.kind, change.detail, observers);
            }
        }
    }

    /// The number of Locust workers connected to the master changed: a worker
    /// joined (or came back), or was lost (it quit, or missed its heartbeats).
    /// Said, and kept as an event, since the users it ran move to the others.
    pub(super) fn workers_changed(
        &mut self,
        before: u32,
        now: u32,
        observers: &mut [&mut dyn Observer],
    ) {
        let (kind, what, n) = if now > before {
            ("worker_joined", "joined", now - before)
        } else {
            ("worker_lost", "lost", before - now)
        };
        let detail = format!(
            "{n} Locust worker{} {what}: {now} connected (was {before})",
            if n == 1 { "" } else { "s" }
        );
        self.event(kind, detail, observers);
    }

    /// Reads every Locust process's CPU; says when the busiest one saturates
    /// (and when it recovers), and marks the occurrences it happened in.
    pub(super) fn watch_cpu(
        &mut self,
        now: Instant,
        sample: &Sample,
        observers: &mut [&mut dyn Observer],
    ) {
        let lag_ms = sample.loop_lag_ms;
        let pids = self.group.pids();
        if self
            .cpu
            .iter()
            .map(ProcessCpu::pid)
            .ne(pids.iter().copied())
        {
            self.cpu = pids.into_iter().map(ProcessCpu::new).collect();
        }
        let busiest = self
            .cpu
            .iter_mut()
            .filter_map(|p| p.read(now))
            .max_by(|a, b| a.total().total_cmp(&b.total()));
        self.busiest_busy = busiest.map(|b| b.total());
        let Some(busiest) = busiest else { return };
        tracing::debug!(
            "Locust busy {:.0}% (running {:.0}%, waiting for a core {:.0}%), loop lag {lag_ms:.0} ms, late up to {:.0} ms",
            busiest.total(),
            busiest.running,
            busiest.waiting,
            sample.loop_late_max_ms
        );
        match self.saturation.observe(now, busiest.total(), lag_ms) {
            Some(saturation::Change::Began) => {
                let cores = super::sizing::cores() as usize;
                let starved = if busiest.waiting >= 10.0 {
                    format!(
                        " (running {:.0}%, waiting {:.0}% for a core that other processes hold)",
                        busiest.running, busiest.waiting
                    )
                } else {
                    String::new()
                };
                let detail = format!(
                    "the load generator is saturated: its busiest Locust process is busy {:.0}% of the time{starved}, \
                     and its event loop runs {lag_ms:.0} ms late (over the last 2 s). \
                     It can't run the planned users on time: the target gets less than the plan \
                     ({:.0} req/s now), and the response times include loadgen's own delays. {}",
                    busiest.total(),
                    self.requests_per_s,
                    capacity_advice(&self.spec, cores)
                );
                self.event("saturated", detail, observers);
            }
            Some(saturation::Change::Ended) => {
                let detail = format!(
                    "the load generator is no longer saturated (busy {:.0}%)",
                    busiest.total()
                );
                self.event("saturation_ended", detail, observers);
            }
            None => {}
        }
        if self.saturation.saturated() {
            self.recorder.mark_saturated();
        }
    }

    /// Adds the users loadgen asks for now, for the time since the last call,
    /// to the interval's user-seconds. Called before every change of those
    /// counts (each tick, control action and reload) and at each sample.
    pub(super) fn accrue_offered(&mut self, now: Instant) {
        let seconds = now
            .saturating_duration_since(self.offered.since)
            .as_secs_f64();
        let commanded = self.schedule.commanded();
        if self.offered.user_seconds.len() < commanded.len() {
            self.offered.user_seconds.resize(commanded.len(), 0.0);
        }
        for (sum, &n) in self.offered.user_seconds.iter_mut().zip(commanded) {
            *sum += f64::from(n) * seconds;
        }
        self.offered.since = now;
    }

    /// What the interval of `sample`, up to `until`, was asked for and
    /// delivered: the users loadgen asked for over it (as they went, ramps and
    /// pauses included), the requests and the tasks.
    pub(super) fn offered(&mut self, sample: &Sample, until: Instant) -> Tally {
        self.accrue_offered(until);
        let seconds = until
            .saturating_duration_since(self.offered.from)
            .as_secs_f64();
        let users: Vec<f64> = self
            .offered
            .user_seconds
            .iter()
            .map(|us| if seconds > 0.0 { us / seconds } else { 0.0 })
            .collect();
        self.offered = Offered::from(until);
        let requests = sample.stats.iter().map(|s| s.requests).sum();
        let total_ms = sample.stats.iter().map(|s| s.total_ms).sum();
        let calm = saturation::calm(
            self.saturation.saturated(),
            self.busiest_busy,
            sample.loop_lag_ms,
            sample.loop_late_max_ms,
        );
        Tally::interval(&users, seconds, requests, total_ms, sample.iterations, calm)
    }

    /// Says when the running occurrence delivers less than its plan implies
    /// (and when it is back), with why and what to do.
    pub(super) fn watch_delivery(
        &mut self,
        occurrence: usize,
        offered: Tally,
        loop_late_max_ms: f64,
        observers: &mut [&mut dyn Observer],
    ) {
        let record = self.recorder.record();
        let Some(waits) = record.occurrence(occurrence).map(|p| p.mean_waits.clone()) else {
            return;
        };
        let change = self
            .shortfall
            .observe(occurrence, offered, &waits, self.workers);
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
        match change {
            Some(shortfall::Change::Began(d)) => {
                let detail = self.shortfall_detail(&d, loop_late_max_ms);
                self.event("shortfall", detail, observers);
            }
            Some(shortfall::Change::Ended(d)) => {
                let detail = format!(
                    "the plan's request rate is delivered again: {} of {} req/s ({:.0}%)",
                    rate(d.delivered_requests_per_s),
                    rate(d.planned_requests_per_s),
                    d.delivered_ratio * 100.0
                );
                self.event("shortfall_ended", detail, observers);
            }
            None => {}
        }
    }

    /// Why the load is short, from what was seen: a saturated generator, a
    /// loop that holds users (their own CPU, or a machine too busy to give
    /// Locust its core), or neither.
    fn shortfall_detail(&self, d: &Delivery, loop_late_max_ms: f64) -> String {
        let responses = if d.response_ms > 0.0 {
            format!(" and responses of {:.0} ms", d.response_ms)
        } else {
            String::new()
        };
        let running: u64 = self.actual.iter().map(|&n| u64::from(n)).sum();
        let asked: u64 = self
            .schedule
            .commanded()
            .iter()
            .map(|&n| u64::from(n))
            .sum();
        let why = if self.saturation.saturated() {
            let cores = super::sizing::cores() as usize;
            format!(
                "The load generator is saturated. {}",
                capacity_advice(&self.spec, cores)
            )
        } else if loop_late_max_ms >= saturation::CALM_LATE_MAX_MS {
            format!(
                "Locust's event loop held users up to {loop_late_max_ms:.0} ms in the last sample \
                 ({running} of {asked} users run): their own code holds it (CPU in tasks, users in \
                 step), or the machine does not give Locust its core; responses are read late, and \
                 the users run slower than planned."
            )
        } else {
            format!(
                "Locust is not CPU-bound: {running} of {asked} users run; the users' tasks may \
                 spend time outside their requests (sleeps, their own code), or start late."
            )
        };
        format!(
            "the load is short of its plan: {} req/s delivered of the {} its users imply \
             ({:.0}%, at their waits, {:.2} requests per task{responses}). {why}",
            rate(d.delivered_requests_per_s),
            rate(d.planned_requests_per_s),
            d.delivered_ratio * 100.0,
            d.requests_per_task
        )
    }

    /// An exception in the users' code is shown when it first happens, at the
    /// user's file and line (the template's, not the generated file's).
    pub(super) fn show_new_errors(&mut self, sample: &Sample, observers: &mut [&mut dyn Observer]) {
        for e in &sample.exceptions {
            if self.errors_shown.len() >= MAX_ERRORS_SHOWN
                || !self.errors_shown.insert(e.traceback.clone())
            {
                continue;
            }
            let traceback = self.group.map_traceback(e.traceback.trim_end());
            let text = format!(
                "error in the users' code: {}\n    {}\n  (shown once; later ones are counted in the progress line and the summary)",
                e.message,
                traceback.replace('\n', "\n    ")
            );
            for o in observers.iter_mut() {
                o.note(&text);
            }
        }
    }
}

/// A request rate as people read it: `1,800`, `8.5`.
fn rate(per_s: f64) -> String {
    dec(per_s, if per_s < 100.0 { 1 } else { 0 })
}

/// The users loadgen asked for since the last sample, in user-seconds per type.
#[derive(Debug)]
pub(super) struct Offered {
    /// Where this interval began (the last sample).
    from: Instant,
    /// Accrued up to here.
    since: Instant,
    user_seconds: Vec<f64>,
}

impl Offered {
    pub(super) fn from(at: Instant) -> Offered {
        Offered {
            from: at,
            since: at,
            user_seconds: Vec::new(),
        }
    }
}

/// What would give a saturated generator more capacity, from what runs now:
/// only the remedies not already taken (the defaults may have taken them all).
fn capacity_advice(spec: &GroupSpec, cores: usize) -> String {
    advice(
        spec.local_workers,
        spec.remote_workers,
        cores,
        spec.locustfile.client,
    )
}

fn advice(
    local_workers: u32,
    remote_workers: u32,
    cores: usize,
    client: Option<UserClass>,
) -> String {
    let mut ways = Vec::new();
    let processes = local_workers.max(1) as usize;
    // With workers on other machines, this one's cores are not where users run.
    if processes < cores && remote_workers == 0 {
        ways.push(format!(
            "more Locust processes (--workers {cores}: {processes} now{}, and this machine has {cores} cores)",
            if local_workers == 0 { "" } else { " workers" }
        ));
    }
    if client == Some(UserClass::Http) {
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
    use super::*;

    #[test]
    fn the_advice_names_only_remedies_not_taken() {
        let one_http = advice(0, 0, 2, Some(UserClass::Http));
        assert!(
            one_http.starts_with("Use more Locust processes (--workers 2: 1 now"),
            "{one_http}"
        );
        assert!(
            one_http.contains("--user-class fast")
                && one_http.ends_with("or more machines (loadgen worker)."),
            "{one_http}"
        );
        let two_fast = advice(2, 0, 2, Some(UserClass::Fast));
        assert!(
            !two_fast.contains("--workers") && !two_fast.contains("--user-class"),
            "{two_fast}"
        );
        assert!(
            two_fast.contains("Nothing is left") && two_fast.contains("loadgen worker"),
            "{two_fast}"
        );
        let plain_one = advice(0, 0, 4, None);
        assert!(
            plain_one.contains("--workers 4") && !plain_one.contains("--user-class"),
            "{plain_one}"
        );
        let remote = advice(0, 3, 4, Some(UserClass::Fast));
        assert!(!remote.contains("--workers"), "{remote}");
    }
}
