//! `loadgen shape`: recorded traffic (a CSV series, a Prometheus range answer,
//! access logs) or a curve made from a few numbers, turned into a load.pbtxt
//! of rate phases that plays it back: compressed in time, scaled in rate, and
//! cut into the fewest phases that follow it within a tolerance.
//!
//! The data flows: a reader -> [`Series`] (requests per interval, per type) ->
//! the window and the compression -> points of the curve at each second of
//! the run -> [`fit::fit`] -> phases (a line each, named from the source's
//! clock, each type's share of that stretch) -> the file, checked by the same
//! parser `loadgen check` uses before it is written.

pub mod curve;
pub mod fit;
pub mod read_csv;
pub mod read_log;
pub mod read_prometheus;
pub mod series;
pub mod time;

use std::fmt::Write as _;

use crate::config::name::UserTypeName;
use crate::diagnostic::SourceText;
pub use series::Series;
use time::Stamp;

/// What a reader made of its input: the series, a line saying what it was,
/// and what it had to say about it (bad lines, gaps, time zones).
#[derive(Debug, Clone)]
pub struct Read {
    pub description: String,
    pub series: Series,
    pub notes: Vec<String>,
}

/// How long the run lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    /// The whole window played in this many seconds.
    Duration(f64),
    /// Source seconds per second of the run.
    Speed(f64),
}

/// How high the rate goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// The highest point of the curve becomes this many requests per second.
    Peak(f64),
    /// The source's rates times this.
    Factor(f64),
}

/// How far the phases may stray from the curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    /// A share of the curve's highest point (0.05: 5%).
    OfPeak(f64),
    /// Requests per second.
    Absolute(f64),
}

#[derive(Debug, Clone)]
pub struct ShapeOptions {
    pub from: Option<Stamp>,
    pub to: Option<Stamp>,
    pub timing: Timing,
    pub level: Level,
    pub tolerance: Tolerance,
}

/// The file to write, and figures about it for the command to print.
#[derive(Debug, Clone)]
pub struct Shaped {
    pub text: String,
    pub phases: usize,
    pub duration_s: u64,
    pub planned_requests: f64,
    pub peak: f64,
    pub largest_error: f64,
    pub tolerance: f64,
}

/// The least rate a phase plays: a rate phase cannot be 0, and a curve that
/// falls to nothing plays this instead (one request every 100 s).
pub const MIN_RATE: f64 = 0.01;

/// Above this many seconds, the curve gets a point every few seconds rather
/// than every second (the fit's work grows with the points).
const MAX_POINTS: f64 = 3600.0;

/// Shapes what was read into a load.pbtxt.
pub fn shape(read: Read, options: &ShapeOptions) -> Result<Shaped, String> {
    let Read {
        description,
        series,
        mut notes,
    } = read;
    let from = options.from.map_or(series.start.secs, |s| s.secs);
    let to = options.to.map_or(series.end(), |s| s.secs);
    if to <= from {
        return Err(format!(
            "the window is empty: --from {} is not before --to {}",
            series.start.plus(from - series.start.secs).human(),
            series.start.plus(to - series.start.secs).human()
        ));
    }
    if from < series.start.secs - 1e-6 || to > series.end() + 1e-6 {
        notes.push(format!(
            "the window ({} to {}) reaches beyond the data ({} to {}): no traffic is read there",
            series.start.plus(from - series.start.secs).human(),
            series.start.plus(to - series.start.secs).human(),
            series.start.human(),
            series.start.plus(series.span()).human()
        ));
    }
    let span = to - from;
    let wanted = match options.timing {
        Timing::Duration(d) => d,
        Timing::Speed(s) if s > 0.0 => span / s,
        Timing::Speed(s) => return Err(format!("--speed is {s}; it must be more than 0")),
    };
    // Phases last whole seconds: the run lasts whole cells of whole seconds.
    let cell = (wanted / MAX_POINTS).ceil().max(1.0);
    let cells = (wanted / cell).round() as usize;
    if cells < 2 {
        return Err(format!(
            "the run would last {}: shape it into at least 2 s (--duration, or a lower --speed)",
            crate::fmt::duration(wanted)
        ));
    }
    let duration = cells as f64 * cell;
    let speed = span / duration;
    // The curves at each cell boundary: each type's mean rate over a cell's
    // width around it, and their sum.
    let source_at = |u: f64| from + u * speed;
    let per_type: Vec<Vec<f64>> = (0..=cells)
        .map(|k| {
            let (a, b) = (
                ((k as f64 - 0.5) * cell).max(0.0),
                ((k as f64 + 0.5) * cell).min(duration),
            );
            let (sa, sb) = (source_at(a), source_at(b));
            series
                .requests_between(sa, sb)
                .iter()
                .map(|n| n / (sb - sa))
                .collect()
        })
        .collect();
    let total: Vec<f64> = per_type.iter().map(|p| p.iter().sum()).collect();
    let source_peak = total.iter().copied().fold(0.0, f64::max);
    let factor = match options.level {
        Level::Factor(f) if f > 0.0 => f,
        Level::Factor(f) => return Err(format!("--scale is {f}; it must be more than 0")),
        Level::Peak(p) if p > 0.0 && source_peak > 0.0 => p / source_peak,
        Level::Peak(p) if p <= 0.0 => return Err(format!("--peak is {p}; it must be more than 0")),
        Level::Peak(_) => {
            return Err(
                "the window holds no traffic at all: nothing to scale to a peak".to_string(),
            )
        }
    };
    let mut curves = vec![total.iter().map(|v| v * factor).collect::<Vec<f64>>()];
    if series.types.len() > 1 {
        for t in 0..series.types.len() {
            curves.push(per_type.iter().map(|p| p[t] * factor).collect());
        }
    }
    let peak = source_peak * factor;
    let tolerance = match options.tolerance {
        Tolerance::OfPeak(share) => share * peak,
        Tolerance::Absolute(r) => r,
    };
    if tolerance <= 0.0 || !tolerance.is_finite() {
        return Err(
            "the tolerance must be more than 0 (e.g. --tolerance 5% or --tolerance 2.5)"
                .to_string(),
        );
    }
    let fitted = fit::fit(&curves, tolerance);
    let phases = phases_of(&fitted, &series, cell, &source_at);
    let planned: f64 = phases.iter().map(|p| p.requests).sum();
    let mut text = String::new();
    let _ = writeln!(text, "# Shaped by `loadgen shape` from {description}.");
    let _ = writeln!(
        text,
        "# Source window: {} to {} ({}).",
        series.start.plus(from - series.start.secs).human(),
        series.start.plus(to - series.start.secs).human(),
        crate::fmt::duration(span)
    );
    let _ = writeln!(
        text,
        "# Time: played in {} ({}x the speed it happened at); rate x{} (highest point {}/s).",
        crate::fmt::duration(duration),
        significant(speed, 4),
        significant(factor, 4),
        round_to(peak, 3)
    );
    let _ = writeln!(
        text,
        "# Fit: {} phases follow the curve within {}/s ({}); the largest error is {}/s, at {}.",
        phases.len(),
        round_to(tolerance, 3),
        match options.tolerance {
            Tolerance::OfPeak(s) => format!("{}% of the highest point", round_to(s * 100.0, 3)),
            Tolerance::Absolute(_) => "as given".to_string(),
        },
        round_to(fitted.largest_error.0, 3),
        series
            .start
            .plus(source_at(fitted.largest_error.1 as f64 * cell) - series.start.secs)
            .human()
    );
    let _ = writeln!(
        text,
        "# Planned: about {} requests. The phases loop: `loadgen run --run_time {}s` plays them once.",
        crate::fmt::int(planned.round() as u64),
        duration as u64
    );
    for note in &notes {
        for line in note.lines() {
            let _ = writeln!(text, "# Note: {line}");
        }
    }
    for phase in &phases {
        text.push_str(&phase.pbtxt());
    }
    // The file must be one `check` accepts: any refusal here is loadgen's bug.
    if let Err(d) = crate::config::parse(SourceText::new("(shaped load.pbtxt)", text.clone())) {
        return Err(format!(
            "loadgen made a load.pbtxt it cannot read (please report this):\n{d}"
        ));
    }
    Ok(Shaped {
        text,
        phases: fitted.phases(),
        duration_s: duration as u64,
        planned_requests: planned,
        peak,
        largest_error: fitted.largest_error.0,
        tolerance,
    })
}

/// One phase of the written load.
struct Phase {
    name: String,
    duration_s: u64,
    per_s: f64,
    ramp_s: u64,
    /// `(type, ratio)`: each type's share of the stretch, in thousandths.
    types: Vec<(String, u32)>,
    requests: f64,
}

impl Phase {
    fn pbtxt(&self) -> String {
        let mut out = String::from("phases {\n");
        let _ = writeln!(out, "  name: \"{}\"", self.name);
        let _ = writeln!(out, "  duration: {}", self.duration_s);
        let _ = writeln!(out, "  requests_per_s: {}", self.per_s);
        if self.ramp_s > 0 {
            let _ = writeln!(out, "  rate_ramp_s: {}", self.ramp_s);
        }
        for (name, ratio) in &self.types {
            let _ = writeln!(out, "  user_types {{ name: \"{name}\" ratio: {ratio} }}");
        }
        out.push_str("}\n");
        out
    }
}

fn phases_of(
    fitted: &fit::Fit,
    series: &Series,
    cell: f64,
    source_at: &dyn Fn(f64) -> f64,
) -> Vec<Phase> {
    let types = series.types.len();
    // The values of type `t` at knot `i` (the total's when there is one type).
    let value = |t: usize, i: usize| fitted.values[if types > 1 { t + 1 } else { 0 }][i];
    let mut phases: Vec<Phase> = fitted
        .knots
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (a, b) = (w[0] as f64 * cell, w[1] as f64 * cell);
            let (before, after) = (fitted.values[0][i], fitted.values[0][i + 1]);
            let per_s = round_to(after.max(MIN_RATE), 4).max(MIN_RATE);
            // The first phase has nothing to ramp from: a step. The others
            // ramp each type's rate, so the mix moves in a line too.
            let ramp = i > 0 && fitted.values.iter().any(|c| (c[i + 1] - c[i]).abs() > 1e-9);
            let requests = if ramp {
                (before.max(MIN_RATE) + per_s) / 2.0
            } else {
                per_s
            } * (b - a);
            let ends: Vec<f64> = (0..types).map(|t| value(t, i + 1)).collect();
            let starts: Vec<f64> = (0..types)
                .map(|t| if i == 0 { 0.0 } else { value(t, i) })
                .collect();
            Phase {
                name: series
                    .start
                    .plus(source_at(a) - series.start.secs)
                    .phase_name(false),
                duration_s: (b - a) as u64,
                per_s,
                ramp_s: if ramp { (b - a) as u64 } else { 0 },
                types: ratios(&series.types, &starts, &ends),
                requests,
            }
        })
        .collect();
    unique_names(&mut phases, series, cell, fitted, source_at);
    phases
}

/// Each type's share of the rate at a phase's end, in thousandths. A type
/// with none at the end but some at the start keeps 1 (its rate ramps down
/// instead of stopping at once); one with none at either end is left out;
/// a phase with no traffic at all keeps the first type.
fn ratios(types: &[String], starts: &[f64], ends: &[f64]) -> Vec<(String, u32)> {
    let total: f64 = ends.iter().sum();
    let out: Vec<(String, u32)> = types
        .iter()
        .enumerate()
        .filter(|&(t, _)| ends[t] > 0.0 || starts[t] > 0.0)
        .map(|(t, name)| {
            let share = if total > 0.0 { ends[t] / total } else { 0.0 };
            (name.clone(), ((share * 1000.0).round() as u32).max(1))
        })
        .collect();
    if out.is_empty() {
        return vec![(types[0].clone(), 1)];
    }
    out
}

/// Names are unique: phases that begin in the same hour get minutes, then a
/// number.
fn unique_names(
    phases: &mut [Phase],
    series: &Series,
    cell: f64,
    fitted: &fit::Fit,
    source_at: &dyn Fn(f64) -> f64,
) {
    let hours: Vec<String> = phases.iter().map(|p| p.name.clone()).collect();
    for (i, phase) in phases.iter_mut().enumerate() {
        if hours.iter().filter(|h| **h == hours[i]).count() > 1 {
            let a = fitted.knots[i] as f64 * cell;
            phase.name = series
                .start
                .plus(source_at(a) - series.start.secs)
                .phase_name(true);
        }
    }
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for phase in phases.iter_mut() {
        let n = seen.entry(phase.name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            phase.name = format!("{}-{}", phase.name, n);
        }
    }
}

/// `v` with `digits` significant digits: `2016`, `0.01234`.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".to_string();
    }
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

fn round_to(v: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (v * scale).round() / scale
}

/// User type names from labels (`/api/cart` -> `ApiCart`): each a Python
/// identifier, as the config requires, and each distinct.
pub fn type_names(labels: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for label in labels {
        let mut name: String = label
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut chars = w.chars();
                chars.next().map_or(String::new(), |c| {
                    c.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        if name.is_empty() {
            name = "Root".to_string();
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) || UserTypeName::new(&name).is_err() {
            name = format!("T{name}");
        }
        let base = name.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests;
