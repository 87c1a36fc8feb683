//! Live progress: a status block on a terminal, plain log lines elsewhere.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub use crate::fmt::short;
use crate::fmt::{dec, int};
use crate::locust::protocol::Sample;
use crate::runner::{Observer, Status};
use crate::stats::window::{long_enough, MIN_POINT_SPAN_S};
use crate::stats::Histogram;

pub struct Progress {
    bar: Option<ProgressBar>,
    /// How often plain (non-terminal) output writes a status line.
    log_every: Duration,
    /// When the line was last drawn (the sample's time), and the requests'
    /// latencies and failures since: a line covers at least
    /// [`MIN_POINT_SPAN_S`], so a sample a control action closed a few ms
    /// after the last joins the next line instead of making one of its own.
    drawn_t: Option<f64>,
    since_drawn: Since,
    last_log: Option<Instant>,
    failures: u64,
    requests: u64,
    /// Exceptions raised in the users' code so far.
    errors: u64,
    /// Rate phases' iterations dropped so far.
    dropped: u64,
}

impl Progress {
    /// Draws on stderr when it is a terminal, else logs a line every `log_every`.
    pub fn new(log_every: Duration) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            log_every,
            drawn_t: None,
            since_drawn: Since::default(),
            last_log: None,
            failures: 0,
            requests: 0,
            errors: 0,
            dropped: 0,
        }
    }

    fn line(&self, status: &Status, rps: f64, interval: &Histogram, failures_now: u64) -> String {
        let phase = &status.plan.phases[status.slot.phase_index];
        let phase_left = status.slot.end.saturating_sub(status.position);
        let run = match status.run_time {
            Some(t) => format!("{} left in run", short(t.saturating_sub(status.elapsed))),
            None => format!("{} elapsed", short(status.elapsed)),
        };
        let users: Vec<String> = status
            .plan
            .user_types
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                status.commanded[*i] > 0 || status.actual[*i] > 0 || status.targets[*i] > 0
            })
            .map(|(i, name)| format!("{name} {}/{}", status.actual[i], status.targets[i]))
            .collect();
        let mut line = format!(
            "phase {} (loop {}) · {} left in phase · {run} | users {} | {} req/s · {} failures ({} now) · p50 {} ms · p95 {} ms",
            label(phase, status.plan.phases.len()),
            status.slot.loop_index + 1,
            short(phase_left),
            if users.is_empty() { "none".to_string() } else { users.join(", ") },
            dec(rps, 1),
            int(self.failures),
            int(failures_now),
            int(interval.percentile(0.5)),
            int(interval.percentile(0.95)),
        );
        if status.paused {
            line.push_str(" · PAUSED");
        }
        if status.restarts > 0 {
            line.push_str(&format!(" · {} restarts", status.restarts));
        }
        if status.workers > 0 {
            line.push_str(&format!(" · {} workers", status.workers));
        }
        line
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

impl Observer for Progress {
    fn phase_started(&mut self, status: &Status) {
        let phase = &status.plan.phases[status.slot.phase_index];
        let users = status.targets.iter().map(|&n| u64::from(n)).sum::<u64>();
        let what = match &phase.rate {
            Some(rate) => format!(
                "{} iterations/s ({}) for {}, on up to {users} users",
                dec(rate.per_s * status.scale, 1),
                match rate.arrival {
                    crate::plan::Arrival::Uniform => "uniform",
                    crate::plan::Arrival::Poisson => "poisson",
                },
                short(phase.duration),
            ),
            None => format!(
                "{users} users for {}, hatch rate {}/s",
                short(phase.duration),
                phase.hatch_rate
            ),
        };
        self.say(&format!(
            "loadgen: phase {} (loop {}) starts: {what}",
            label(phase, status.plan.phases.len()),
            status.slot.loop_index + 1,
        ));
    }

    fn sample(&mut self, status: &Status, sample: &Sample) {
        let requests: u64 = sample.stats.iter().map(|s| s.requests).sum();
        let failures: u64 = sample.stats.iter().map(|s| s.failures).sum();
        self.requests += requests;
        self.failures += failures;
        self.errors += sample.exceptions.iter().map(|e| e.count).sum::<u64>();
        self.dropped += sample.dropped.values().sum::<u64>();
        let since = &mut self.since_drawn;
        since.failures += failures;
        for s in &sample.stats {
            since.latency.add_pairs(&s.histogram);
            since.intended.add_pairs(&s.intended_histogram);
        }
        if self
            .drawn_t
            .is_some_and(|t| !long_enough(sample.t - t, MIN_POINT_SPAN_S))
        {
            return;
        }
        self.drawn_t = Some(sample.t);
        let Since {
            latency,
            intended,
            failures,
        } = std::mem::take(&mut self.since_drawn);
        // The rate is the run's (over the last second of samples), not this
        // sample's: the same figure the dashboard and /status show.
        let mut line = self.line(status, status.requests_per_s, &latency, failures);
        if self.errors > 0 {
            line.push_str(&format!(" · {} errors in the users' code", self.errors));
        }
        if intended.count() > 0 {
            // Beside the response times: what a user waited from the intended start.
            line.push_str(&format!(
                " · p95 from intended start {} ms",
                int(intended.percentile(0.95))
            ));
        }
        if self.dropped > 0 {
            let now = if status.dropping {
                ", DROPPING now"
            } else {
                ""
            };
            line.push_str(&format!(" · {} iterations dropped{now}", int(self.dropped)));
        }
        if status.saturated {
            // A saturated generator under-delivers load; its latencies are its own.
            line.push_str(" · SATURATED: less than planned, latencies unreliable");
        }
        if let Some(d) = status.delivery.filter(|_| status.short) {
            line.push_str(&format!(
                " · SHORT of plan: {:.0}% of {} req/s",
                d.delivered_ratio * 100.0,
                dec(d.planned_requests_per_s, 0)
            ));
        }
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => {
                if self.last_log.is_none_or(|t| t.elapsed() >= self.log_every) {
                    self.last_log = Some(Instant::now());
                    eprintln!("loadgen: {line}");
                }
            }
        }
    }

    fn note(&mut self, message: &str) {
        self.say(&format!("loadgen: {message}"));
    }

    fn finished(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The requests since the progress line was last drawn.
#[derive(Debug, Default)]
struct Since {
    latency: Histogram,
    intended: Histogram,
    failures: u64,
}

/// `3/4`, or `3/4 holiday` for a named phase.
fn label(phase: &crate::plan::Phase, phases: usize) -> String {
    match &phase.name {
        Some(name) => format!("{}/{phases} {name}", phase.number),
        None => format!("{}/{phases}", phase.number),
    }
}
