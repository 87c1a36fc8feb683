//! The verdict. Thresholds (`--fail-if`, and `fail_if` in the config)
//! are judged over every occurrence of their phase as it ends, and over the whole
//! run at its end; the results decide the exit code and go to every output.

mod bind;
pub mod evaluate;

#[cfg(test)]
use crate::config::threshold;
use crate::config::threshold::Threshold;
use crate::plan::Plan;
use crate::runner::{Observer, Status};
use crate::stats::{PhaseRecord, RunRecord};
pub use bind::collect;
use evaluate::{judge, Judged, Measured};

/// Where each judgment is published as it is made, besides the terminal
/// (the metrics' `loadgen_threshold_passed`): the verdict only knows this trait.
pub trait Publish: Send {
    /// `expr` as the user wrote it, judged over a `scope` (`run` or `phase`):
    /// whether every judgment of it so far passed.
    fn threshold(&self, expr: &str, scope: &str, all_passed: bool);
}

/// A threshold bound to the plan: its phase, if it has one, by index.
#[derive(Debug, Clone)]
struct Bound {
    threshold: Threshold,
    phase: Option<usize>,
}

/// Judges thresholds as the run goes; an [`Observer`].
pub struct Verdict {
    thresholds: Vec<Bound>,
    pub results: Vec<Judged>,
    fail_fast: bool,
    names: Vec<Option<String>>,
    publish: Vec<Box<dyn Publish>>,
}

impl Verdict {
    /// `thresholds` are bound already (see [`bind::bind`]).
    pub fn new(
        thresholds: Vec<(Threshold, Option<usize>)>,
        plan: &Plan,
        fail_fast: bool,
        publish: Vec<Box<dyn Publish>>,
    ) -> Verdict {
        Verdict {
            thresholds: thresholds
                .into_iter()
                .map(|(threshold, phase)| Bound { threshold, phase })
                .collect(),
            results: Vec::new(),
            fail_fast,
            names: plan.phases.iter().map(|p| p.name.clone()).collect(),
            publish,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.thresholds.is_empty()
    }

    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| !r.passed)
    }

    fn phase_scope(&self, record: &PhaseRecord) -> String {
        let name = self
            .names
            .get(record.phase_index)
            .cloned()
            .flatten()
            .map_or(String::new(), |n| format!(" {n}"));
        format!(
            "phase {}{name} (loop {})",
            record.phase_index + 1,
            record.loop_index + 1
        )
    }

    /// Records a judgment: printed, exported, kept.
    fn record(&mut self, judged: Judged, threshold: &Threshold) {
        eprintln!("loadgen: threshold {}", judged.line(threshold));
        if !self.publish.is_empty() {
            let scope = if judged.occurrence.is_some() {
                "phase"
            } else {
                "run"
            };
            let all_passed = judged.passed
                && self
                    .results
                    .iter()
                    .filter(|r| r.expr == judged.expr)
                    .all(|r| r.passed);
            for p in &self.publish {
                p.threshold(&judged.expr, scope, all_passed);
            }
        }
        self.results.push(judged);
    }

    /// Judges the whole-run thresholds over `record`, at the run's end.
    pub fn finish_run(&mut self, record: &RunRecord) {
        let whole = record.totals();
        let measured = Measured {
            counted: &whole,
            seconds: record.duration_s,
            delivered: crate::stats::delivery::RunDelivery::of(record).map(|d| d.delivered_ratio),
        };
        let run: Vec<Bound> = self
            .thresholds
            .iter()
            .filter(|b| b.phase.is_none())
            .cloned()
            .collect();
        for bound in run {
            let judged = judge(&bound.threshold, "run".into(), None, &measured);
            self.record(judged, &bound.threshold);
        }
    }
}

impl Verdict {
    /// Judges the thresholds of `record`'s phase over it, once it is final.
    fn judge_occurrence(&mut self, record: &PhaseRecord) {
        let measured = Measured {
            counted: &record.counted,
            seconds: record.seconds(),
            delivered: record.delivery().map(|d| d.delivered_ratio),
        };
        let scope = self.phase_scope(record);
        // An occurrence too short to measure (a control action ended it at
        // once) states no rate: thresholds on rates do not judge it, those on
        // counts and latencies do.
        let bounds: Vec<Bound> = self
            .thresholds
            .iter()
            .filter(|b| b.phase == Some(record.phase_index))
            .filter(|b| !(record.too_short() && b.threshold.metric.is_rate()))
            .cloned()
            .collect();
        for bound in bounds {
            let judged = judge(
                &bound.threshold,
                scope.clone(),
                Some(record.index),
                &measured,
            );
            self.record(judged, &bound.threshold);
        }
    }
}

impl Observer for Verdict {
    fn occurrence_closed(&mut self, _status: &Status, record: &PhaseRecord) {
        self.judge_occurrence(record);
    }

    fn should_stop(&self) -> Option<String> {
        if !self.fail_fast {
            return None;
        }
        self.results.iter().find(|r| !r.passed).map(|r| {
            format!(
                "--fail-fast: threshold `{}` failed ({}: {})",
                r.expr, r.scope, r.shown
            )
        })
    }
}

/// How a run ends, for its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    pub thresholds_given: bool,
    pub threshold_failed: bool,
    pub requests: u64,
    pub failures: u64,
    pub errors: u64,
    /// Stopped by a signal (not by its run time or --fail-fast).
    pub interrupted: bool,
    /// `--exit-code-on-error`.
    pub code_on_error: u8,
    /// `environment.process_exit_code` as the locustfile set it, if it did.
    pub locustfile_code: Option<i64>,
}

/// Exit codes of a run that went (bad input is 2, a runtime error 1, elsewhere).
pub const PASSED: u8 = 0;
pub const THRESHOLD_FAILED: u8 = 3;

/// The exit code of a run and, when it is not 0, why.
///
/// - A failed threshold: 3.
/// - No request at all in a run that ran to its end, or requests that all
///   failed: 1, thresholds or not. (A run stopped by a signal before any
///   request is not judged: it was stopped, it didn't fail.)
/// - Without thresholds, failed requests or errors in the users' code:
///   `--exit-code-on-error` (1 by default, as in Locust; 0 turns it off).
///
/// The locustfile's `environment.process_exit_code` takes the place of
/// `--exit-code-on-error`'s judgment, as in Locust: a non-zero code is the exit
/// code (out of 0-255: 1), and 0 passes a run with failed requests or errors. It
/// cannot hide what loadgen was asked to judge or never passes: a failed
/// threshold stays 3, and 0 does not pass a run with no successful request.
pub fn exit_code(e: &Ending) -> (u8, Option<String>) {
    if e.threshold_failed {
        return (THRESHOLD_FAILED, Some("a threshold failed".into()));
    }
    if let Some(code) = e.locustfile_code.filter(|c| *c != 0) {
        let why = format!("the locustfile set environment.process_exit_code = {code}");
        return match u8::try_from(code) {
            Ok(code) => (code, Some(why)),
            Err(_) => (1, Some(format!("{why}, which is no exit code (0-255)"))),
        };
    }
    if e.requests == 0 && !e.interrupted {
        let why = if e.errors > 0 {
            format!(
                "the run made no request: the users' code raised {} errors",
                e.errors
            )
        } else {
            "the run made no request".to_string()
        };
        return (1, Some(why));
    }
    if e.requests > 0 && e.failures == e.requests {
        return (
            1,
            Some(format!("every one of the {} requests failed", e.requests)),
        );
    }
    let judged_by_locustfile = e.locustfile_code.is_some();
    if !e.thresholds_given
        && !judged_by_locustfile
        && e.code_on_error != 0
        && (e.failures > 0 || e.errors > 0)
    {
        return (
            e.code_on_error,
            Some(format!(
                "{} failed requests and {} errors in the users' code (--exit-code-on-error 0 ignores them)",
                e.failures, e.errors
            )),
        );
    }
    (PASSED, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_s_rate_thresholds_are_judged_over_its_rate_occurrences() {
        use crate::stats::delivery::Tally;
        use crate::stats::{Ended, Recorder};
        let plan = crate::plan::tests::rate_plan();
        let mut r = Recorder::new(&plan, 0.0);
        // Phase 1 (users): 90 iterations, fast; phase 2 (rate): 99 run, 1
        // dropped, and 10 requests that waited 2 s for a free user.
        let sample = |intended: Vec<(u64, i64)>, dropped: u64| {
            crate::stats::tests::sample_of_a(10, intended, dropped)
        };
        r.phase_started(0, 0, 0.0, plan.targets(0), plan.paces(0));
        let users = Tally::interval(&[10.0], 9.0, 10, 100.0, 90, true);
        r.sample(&sample(vec![], 0), 9.0, true, &users);
        r.phase_started(1, 0, 10.0, plan.targets(1), plan.paces(1));
        let rate = Tally::interval(&[10.0], 9.0, 10, 100.0, 99, true);
        r.sample(&sample(vec![(2000, 10)], 1), 19.0, true, &rate);
        r.finish(20.0, Ended::Completed, None);
        let bound = |text: &str| (threshold::parse(text).unwrap(), None);
        let mut verdict = Verdict::new(
            vec![
                bound("p99_intended > 1s"),
                bound("p99 > 1s"),
                bound("dropped >= 1%"),
                bound("dropped > 1"),
            ],
            &plan,
            false,
            Vec::new(),
        );
        verdict.finish_run(r.record());
        let results: Vec<(&str, &str, bool)> = verdict
            .results
            .iter()
            .map(|j| (j.expr.as_str(), j.shown.as_str(), j.passed))
            .collect();
        assert_eq!(
            results,
            [
                ("p99_intended > 1s", "2000 ms", false),
                ("p99 > 1s", "10 ms", true),
                // 1 of the 100 the rate laid down (the users' 90 don't count).
                ("dropped >= 1%", "1%", false),
                ("dropped > 1", "1", true),
            ]
        );
        assert!(verdict.failed());
    }

    /// Issue 33: `scale` twice 3 ms apart left an occurrence of 3 ms whose
    /// 2 requests read as 666 req/s. Its rate is not judged; its failures are.
    #[test]
    fn an_occurrence_too_short_to_measure_is_judged_on_counts_not_rates() {
        use crate::stats::delivery::Tally;
        use crate::stats::Recorder;
        let plan = crate::plan::tests::rate_plan();
        let mut r = Recorder::new(&plan, 0.0);
        r.phase_started(0, 0, 10.0, plan.targets(0), plan.paces(0));
        let mut sample = crate::stats::tests::sample_of_a(2, vec![], 0);
        sample.stats[0].failures = 1;
        let tally = Tally::interval(&[10.0], 0.003, 2, 20.0, 2, true);
        r.sample(&sample, 10.003, true, &tally);
        r.phase_started(0, 0, 10.003, plan.targets(0), plan.paces(0));
        let short = r.record().occurrence(0).expect("kept").clone();
        assert!(short.too_short() && short.delivery().is_none(), "{short:?}");
        assert_eq!(
            short.counted.total.figures(short.seconds()).requests_per_s,
            None
        );
        let bound = |text: &str| (threshold::parse(text).unwrap(), Some(0));
        let mut verdict = Verdict::new(
            vec![
                bound("rps > 100"),
                bound("delivered < 90%"),
                bound("failures > 0"),
            ],
            &plan,
            false,
            Vec::new(),
        );
        verdict.judge_occurrence(&short);
        let judged: Vec<(&str, bool)> = verdict
            .results
            .iter()
            .map(|j| (j.expr.as_str(), j.passed))
            .collect();
        assert_eq!(judged, [("failures > 0", false)]);
    }

    fn ending() -> Ending {
        Ending {
            thresholds_given: false,
            threshold_failed: false,
            requests: 100,
            failures: 0,
            errors: 0,
            interrupted: false,
            code_on_error: 1,
            locustfile_code: None,
        }
    }

    #[test]
    fn the_locustfile_exit_code_replaces_the_error_judgment_but_not_thresholds() {
        let failing = Ending {
            failures: 5,
            ..ending()
        };
        // Non-zero: it is the exit code, over a pass or the error judgment.
        let set = |code| Ending {
            locustfile_code: Some(code),
            ..failing
        };
        assert_eq!(exit_code(&set(5)).0, 5);
        assert_eq!(
            exit_code(&set(5)).1.unwrap(),
            "the locustfile set environment.process_exit_code = 5"
        );
        let passing = Ending {
            locustfile_code: Some(4),
            ..ending()
        };
        assert_eq!(exit_code(&passing).0, 4);
        assert_eq!(exit_code(&set(300)).0, 1);
        assert!(exit_code(&set(-1)).1.unwrap().contains("no exit code"));
        // 0 passes a run with failures, as Locust's process_exit_code does.
        assert_eq!(exit_code(&set(0)), (0, None));
        // A failed threshold is still 3; a run without a successful request still 1.
        let threshold = Ending {
            thresholds_given: true,
            threshold_failed: true,
            ..set(5)
        };
        assert_eq!(exit_code(&threshold).0, 3);
        let nothing = Ending {
            requests: 0,
            ..set(0)
        };
        assert_eq!(exit_code(&nothing).0, 1);
        let all_failed = Ending {
            failures: 100,
            ..set(0)
        };
        assert_eq!(exit_code(&all_failed).0, 1);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(&ending()).0, 0);
        assert_eq!(
            exit_code(&Ending {
                failures: 1,
                ..ending()
            })
            .0,
            1
        );
        assert_eq!(
            exit_code(&Ending {
                errors: 1,
                ..ending()
            })
            .0,
            1
        );
        assert_eq!(
            exit_code(&Ending {
                failures: 1,
                code_on_error: 0,
                ..ending()
            })
            .0,
            0
        );
        assert_eq!(
            exit_code(&Ending {
                failures: 1,
                code_on_error: 7,
                ..ending()
            })
            .0,
            7
        );
        // Thresholds decide instead of failures...
        let given = Ending {
            thresholds_given: true,
            failures: 5,
            ..ending()
        };
        assert_eq!(exit_code(&given).0, 0);
        assert_eq!(
            exit_code(&Ending {
                threshold_failed: true,
                ..given
            })
            .0,
            3
        );
        // ...but a run with no request, or no successful one, never passes.
        assert_eq!(
            exit_code(&Ending {
                requests: 0,
                ..given
            })
            .0,
            1
        );
        assert_eq!(
            exit_code(&Ending {
                failures: 100,
                ..given
            })
            .0,
            1
        );
        assert_eq!(
            exit_code(&Ending {
                requests: 0,
                errors: 3,
                ..ending()
            })
            .1
            .unwrap(),
            "the run made no request: the users' code raised 3 errors"
        );
        // A signal before any request: stopped, not failed.
        assert_eq!(
            exit_code(&Ending {
                requests: 0,
                interrupted: true,
                ..ending()
            })
            .0,
            0
        );
    }
}
