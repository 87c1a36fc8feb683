//! Thresholds bound to the plan: each one's phase found, and the ones that
//! can't mean what they say in their scope refused before the run starts.

use crate::config::threshold::{self, Metric, PhaseSelector, Scope, Threshold};
use crate::plan::Plan;

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
        if threshold.metric.needs_rate_phase() {
            rate_is_planned(threshold, *phase, plan)?;
        }
    }
    Ok(all)
}

/// A threshold on a rate phase's latency from the intended start, or on its
/// dropped iterations, needs a rate phase in its scope (its phase, or some
/// phase for the run): elsewhere it would measure nothing and always pass.
fn rate_is_planned(
    threshold: &Threshold,
    phase: Option<usize>,
    plan: &Plan,
) -> Result<(), crate::diagnostic::BadInput> {
    let at_a_rate = |i: usize| plan.phases.get(i).is_some_and(|p| p.rate.is_some());
    let planned = match phase {
        Some(i) => at_a_rate(i),
        None => (0..plan.phases.len()).any(at_a_rate),
    };
    if planned {
        return Ok(());
    }
    let which = match phase {
        Some(i) => format!("phase {} is no rate phase", i + 1),
        None => "no phase of the load is a rate phase".to_string(),
    };
    Err(crate::diagnostic::BadInput(format!(
        "threshold {:?}: {which}: `{}` measures only the iterations of phases that give `requests_per_s`; use `{}` for the response times of a phase of users",
        threshold.text,
        threshold.metric.name(),
        closed_kin(threshold.metric)
    )))
}

/// What a phase of users measures in place of a rate phase's metric.
fn closed_kin(metric: Metric) -> &'static str {
    match metric {
        Metric::P50Intended => "p50",
        Metric::P90Intended => "p90",
        Metric::P95Intended => "p95",
        Metric::P99Intended => "p99",
        Metric::MaxIntended => "max",
        _ => "delivered",
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_phase_s_thresholds_need_a_rate_phase_in_their_scope() {
        let plan = crate::plan::tests::rate_plan();
        let t = |text: &str| threshold::parse(text).unwrap();
        assert!(rate_is_planned(&t("p99_intended > 1s"), None, &plan).is_ok());
        assert!(rate_is_planned(&t("phase open: dropped > 0"), Some(1), &plan).is_ok());
        let e = rate_is_planned(&t("phase 1: p99_intended > 1s"), Some(0), &plan).unwrap_err();
        assert!(e.0.contains("phase 1 is no rate phase"), "{}", e.0);
        assert!(e.0.contains("use `p99`"), "{}", e.0);
        let users = crate::plan::tests::hipster_plan();
        let e = rate_is_planned(&t("dropped > 0"), None, &users).unwrap_err();
        assert!(
            e.0.contains("no phase of the load is a rate phase"),
            "{}",
            e.0
        );
    }
}
