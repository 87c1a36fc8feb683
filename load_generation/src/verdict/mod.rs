//! Stage 6: the verdict. Thresholds (`--fail-if`, and `fail_if` in the config)
//! are judged over every occurrence of their phase as it ends, and over the whole
//! run at its end; the results decide the exit code and go to every output.

pub mod evaluate;

use crate::config::threshold::{self, Metric, PhaseSelector, Scope, Threshold};
use crate::plan::Plan;
use crate::runner::{Observer, Status};
use crate::stats::{PhaseRecord, RunRecord};
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

/// Resolves each threshold's phase selector against the plan; an error names
/// the selector and the phases there are.
pub fn bind(threshold: &Threshold, plan: &Plan) -> Result<Option<usize>, String> {
    match &threshold.scope {
        Scope::Run => Ok(None),
        Scope::Phase(PhaseSelector::Number(n)) if *n <= plan.phases.len() => Ok(Some(n - 1)),
        Scope::Phase(PhaseSelector::Number(n)) => Err(format!(
            "there is no phase {n}: the load has {} phases",
            plan.phases.len()
        )),
        Scope::Phase(PhaseSelector::Name(name)) => plan
            .phases
            .iter()
            .position(|p| p.name.as_deref() == Some(name.as_str()))
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = plan.phases.iter().filter_map(|p| p.name.as_deref()).collect();
                if names.is_empty() {
                    format!("no phase is named {name:?}: the config names no phase (give one `name: \"{name}\"`)")
                } else {
                    format!("no phase is named {name:?}; the phases are named {}", names.join(", "))
                }
            }),
    }
}

/// Every threshold of a run: the flags', the config's top-level ones and each
/// phase's own, bound to the plan. A flag that can't be read or names no phase
/// is bad input, shown with a caret under the problem.
pub fn collect(
    flags: &[String],
    config: &crate::config::LoadConfig,
    plan: &Plan,
) -> Result<Vec<(Threshold, Option<usize>)>, crate::diagnostic::BadInput> {
    let mut all = Vec::new();
    for text in flags {
        let threshold = threshold::parse(text)
            .map_err(|e| flag_error(text, e.at, e.len, &e.message, &e.help))?;
        let phase = bind(&threshold, plan).map_err(|why| {
            let at = text.find("phase").map_or(0, |i| i + "phase".len() + 1);
            let len = text[at..].find(':').unwrap_or(1);
            flag_error(
                text,
                at,
                len,
                &why,
                "name a phase of the config (numbers from 1, or a `name`)",
            )
        })?;
        all.push((threshold, phase));
    }
    for threshold in &config.fail_if {
        let phase = bind(threshold, plan).map_err(|why| {
            crate::diagnostic::BadInput(format!(
                "{}: fail_if {:?}: {why}",
                config.source.path.display(),
                threshold.text
            ))
        })?;
        all.push((threshold.clone(), phase));
    }
    for (i, phase) in config.phases.iter().enumerate() {
        for threshold in &phase.fail_if {
            all.push((threshold.clone(), Some(i)));
        }
    }
    for (threshold, phase) in &all {
        if threshold.metric == Metric::Delivered {
            delivered_is_planned(threshold, *phase, plan)?;
        }
    }
    Ok(all)
}

/// A `delivered` threshold needs a planned rate: users with waits from the
/// config, above 0 (in its phase, or in some phase for the run).
fn delivered_is_planned(
    threshold: &Threshold,
    phase: Option<usize>,
    plan: &Plan,
) -> Result<(), crate::diagnostic::BadInput> {
    let planned = match phase {
        Some(i) => plan.sets_rate(i),
        None => (0..plan.phases.len()).any(|i| plan.sets_rate(i)),
    };
    if planned {
        return Ok(());
    }
    let which = match phase {
        Some(i) => format!("phase {}", i + 1),
        None => "no phase of the load".to_string(),
    };
    Err(crate::diagnostic::BadInput(format!(
        "threshold {:?}: {which} implies no request rate to deliver: it needs users whose waits the config sets (min_wait_ms/max_wait_ms), above 0 on average",
        threshold.text
    )))
}

/// `--fail-if` text with a caret under `at..at+len`.
fn flag_error(
    text: &str,
    at: usize,
    len: usize,
    message: &str,
    help: &str,
) -> crate::diagnostic::BadInput {
    let column = text[..at.min(text.len())].chars().count();
    let width = text[at.min(text.len())..]
        .chars()
        .take(len.max(1))
        .count()
        .max(1);
    crate::diagnostic::BadInput(format!(
        "--fail-if {text:?}: {message}\n  --fail-if {text}\n  {}{}\n  help: {help}",
        " ".repeat("--fail-if ".len() + column),
        "^".repeat(width)
    ))
}

impl Verdict {
    /// `thresholds` are bound already (see [`bind`]).
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
        let (_, total) = record.totals();
        let exceptions = record.exceptions.iter().map(|e| e.count).sum();
        let measured = Measured {
            stats: &total,
            exceptions,
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

impl Observer for Verdict {
    fn occurrence_closed(&mut self, _status: &Status, record: &PhaseRecord) {
        let measured = Measured {
            stats: &record.total,
            exceptions: record.exceptions,
            seconds: record.seconds(),
            delivered: record.delivery().map(|d| d.delivered_ratio),
        };
        let scope = self.phase_scope(record);
        let bounds: Vec<Bound> = self
            .thresholds
            .iter()
            .filter(|b| b.phase == Some(record.phase_index))
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
