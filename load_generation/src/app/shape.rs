//! `loadgen shape`: the flags read into the shape stage's options, the input
//! read, the load written, and what was done said on standard error.

use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{FixedOffset, NaiveDate};

use crate::cli::shape::{
    CurveArgs, FitArgs, GapsArg, LogArgs, LogFormatArg, ShapeArgs, ShapeSource, ValuesArg,
};
use crate::config::UserTypeName;
use crate::diagnostic::BadInput;
use crate::report;
use crate::shape::curve::CurveOptions;
use crate::shape::read_csv::CsvOptions;
use crate::shape::read_log::{LogFile, LogFormat, LogOptions};
use crate::shape::read_prometheus::PrometheusOptions;
use crate::shape::series::{Gaps, Values};
use crate::shape::time::{self, Stamp, FORMATS};
use crate::shape::{self, Level, Read, ShapeOptions, Timing, Tolerance};

pub fn shape(args: &ShapeArgs) -> Result<()> {
    let fit = &args.fit;
    let offset = match &fit.timezone {
        Some(text) => Some(time::parse_offset(text).ok_or_else(|| {
            BadInput(format!("--timezone {text:?} is not a UTC offset; write it as +01:00, -0530 or UTC (named zones such as Europe/Paris are not read: give their offset)"))
        })?),
        None => None,
    };
    let naive = offset.unwrap_or_else(time::utc);
    UserTypeName::new(&fit.user_type).map_err(|e| BadInput(format!("--user-type: {e}")))?;
    let read = read_input(&args.source, fit, naive, offset)?;
    if let Some(path) = &fit.series {
        let csv = read
            .series
            .to_csv()
            .map_err(|e| BadInput(format!("cannot write the series: {e}")))?;
        report::write_atomically(path, csv.as_bytes())?;
    }
    let options = ShapeOptions {
        from: fit
            .from
            .as_deref()
            .map(|t| when(t, "--from", naive))
            .transpose()?,
        to: fit
            .to
            .as_deref()
            .map(|t| when(t, "--to", naive))
            .transpose()?,
        timing: match (&fit.duration, fit.speed) {
            (Some(d), _) => Timing::Duration(seconds(d, "--duration")?),
            (None, Some(s)) => Timing::Speed(s),
            (None, None) => Timing::Speed(1.0),
        },
        level: match (fit.peak, fit.scale) {
            (Some(p), _) => Level::Peak(p),
            (None, Some(f)) => Level::Factor(f),
            (None, None) => Level::Factor(1.0),
        },
        tolerance: tolerance(&fit.tolerance)?,
    };
    for note in &read.notes {
        eprintln!("{note}");
    }
    let shaped = shape::shape(read, &options).map_err(BadInput)?;
    match &fit.output {
        Some(path) => report::write_atomically(path, shaped.text.as_bytes())?,
        None => std::io::stdout().write_all(shaped.text.as_bytes())?,
    }
    eprintln!(
        "wrote {}: {} phase{} over {}, about {} requests, highest point {}/s; the largest error {}/s (tolerance {}/s)",
        fit.output.as_deref().map_or_else(|| "standard output".to_string(), |p| p.display().to_string()),
        shaped.phases,
        if shaped.phases == 1 { "" } else { "s" },
        crate::fmt::duration(shaped.duration_s as f64),
        crate::fmt::int(shaped.planned_requests.round() as u64),
        crate::fmt::dec(shaped.peak, 2),
        crate::fmt::dec(shaped.largest_error, 2),
        crate::fmt::dec(shaped.tolerance, 2),
    );
    Ok(())
}

fn read_input(
    source: &ShapeSource,
    fit: &FitArgs,
    naive: FixedOffset,
    offset: Option<FixedOffset>,
) -> Result<Read> {
    let values = |v: ValuesArg| match v {
        ValuesArg::Count => Values::Count,
        ValuesArg::Rate => Values::Rate,
    };
    let gaps = |g: GapsArg| match g {
        GapsArg::Bridge => Gaps::Bridge,
        GapsArg::Zero => Gaps::Zero,
    };
    Ok(match source {
        ShapeSource::Csv(a) => {
            let text = read_text(&a.file)?;
            let options = CsvOptions {
                values: values(a.values),
                gaps: gaps(a.gaps),
                naive_offset: naive,
                single_type: fit.user_type.clone(),
            };
            let mut read = shape::read_csv::read(&a.file, &text, &options)?;
            rename_offset(&mut read, offset);
            read
        }
        ShapeSource::Prometheus(a) => {
            let text = read_text(&a.file)?;
            let options = PrometheusOptions {
                values: values(a.values),
                gaps: gaps(a.gaps),
                label: a.label.clone(),
                single_type: fit.user_type.clone(),
            };
            let mut read = shape::read_prometheus::read(&a.file, &text, &options)?;
            rename_offset(&mut read, offset);
            read
        }
        ShapeSource::Log(a) => read_logs(a, fit, offset)?,
        ShapeSource::Curve(a) => curve(a, fit, naive)?,
    })
}

/// Phases are named in --timezone when it is given.
fn rename_offset(read: &mut Read, offset: Option<FixedOffset>) {
    if let Some(offset) = offset {
        read.series.start.offset = offset;
    }
}

fn read_logs(a: &LogArgs, fit: &FitArgs, offset: Option<FixedOffset>) -> Result<Read> {
    let mut rules = Vec::new();
    for rule in &a.types {
        let Some((name, pattern)) = rule.split_once('=') else {
            return Err(BadInput(format!(
                "--type {rule:?} has no `=`; write NAME=REGEX, e.g. --type 'Browse=^/product/'"
            ))
            .into());
        };
        UserTypeName::new(name).map_err(|e| BadInput(format!("--type {rule:?}: {e}")))?;
        rules.push((name.to_string(), pattern.to_string()));
    }
    let unmatched = match a.unmatched.as_deref() {
        Some("drop") => None,
        Some(name) => {
            UserTypeName::new(name).map_err(|e| BadInput(format!("--unmatched: {e}")))?;
            Some(name.to_string())
        }
        None => Some(fit.user_type.clone()),
    };
    let options = LogOptions {
        format: match a.format {
            LogFormatArg::Auto => LogFormat::Auto,
            LogFormatArg::Clf => LogFormat::Clf,
            LogFormatArg::Json => LogFormat::Json,
        },
        bin: seconds(&a.bin, "--bin")?,
        rules,
        unmatched,
        strict: a.strict,
        time_field: a.time_field.clone(),
        path_field: a.path_field.clone(),
        offset,
    };
    let mut files = Vec::new();
    for path in &a.files {
        let reader: Box<dyn std::io::BufRead> = if path == Path::new("-") {
            Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()))
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| BadInput(format!("cannot open {}: {e}", path.display())))?;
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        files.push(LogFile {
            path: if path == Path::new("-") {
                PathBuf::from("(standard input)")
            } else {
                path.clone()
            },
            reader,
        });
    }
    Ok(shape::read_log::read(files, &options)?)
}

fn curve(a: &CurveArgs, fit: &FitArgs, naive: FixedOffset) -> Result<Read> {
    let date = |text: &str, flag: &str| {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            BadInput(format!(
                "{flag} {text:?} is not a date; write it as YYYY-MM-DD (2025-11-27)"
            ))
        })
    };
    let start = date(&a.start, "--start")?;
    let start = time::parse(&format!("{start} 00:00:00"), naive)
        .ok_or_else(|| BadInput(format!("--start {:?} is not a date", a.start)))?;
    let mut holidays = Vec::new();
    for h in &a.holiday {
        let Some((day, factor)) = h.split_once('=') else {
            return Err(BadInput(format!(
                "--holiday {h:?} has no `=`; write DATE=FACTOR, e.g. --holiday 2025-11-27=3"
            ))
            .into());
        };
        let factor: f64 = factor.trim().parse().map_err(|_| {
            BadInput(format!(
                "--holiday {h:?}: {factor:?} is not a number (3: three times a weekday's traffic)"
            ))
        })?;
        holidays.push((date(day, "--holiday")?, factor));
    }
    for (name, flag) in [
        (&a.weekend_type, "--weekend-type"),
        (&a.holiday_type, "--holiday-type"),
    ] {
        UserTypeName::new(name).map_err(|e| BadInput(format!("{flag}: {e}")))?;
    }
    let options = CurveOptions {
        start,
        days: a.days,
        step: seconds(&a.step, "--step")?,
        trough: a.trough,
        peak_hour: a.peak_hour,
        period: seconds(&a.period, "--period")?,
        weekend: a.weekend,
        holidays,
        base_type: fit.user_type.clone(),
        weekend_type: a.weekend_type.clone(),
        holiday_type: a.holiday_type.clone(),
    };
    Ok(shape::curve::generate(&options).map_err(BadInput)?)
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadInput(format!("cannot read {}: {e}", path.display())))?;
    String::from_utf8(bytes).map_err(|e| {
        BadInput(format!(
            "{} is not UTF-8 text (byte {} is not): is it the file you meant?",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
        .into()
    })
}

fn when(text: &str, flag: &str, naive: FixedOffset) -> Result<Stamp> {
    time::parse(text, naive).ok_or_else(|| {
        BadInput(format!(
            "{flag} {text:?} is not a time; write it as {FORMATS}"
        ))
        .into()
    })
}

fn seconds(text: &str, flag: &str) -> Result<f64> {
    let d = crate::cli::parse_time(text).map_err(|e| BadInput(format!("{flag}: {e}")))?;
    Ok(d.as_secs_f64())
}

fn tolerance(text: &str) -> Result<Tolerance> {
    let bad = || {
        BadInput(format!("--tolerance {text:?} is neither a share of the highest point (5%) nor requests per second (2.5)"))
    };
    let t = match text.trim().strip_suffix('%') {
        Some(share) => Tolerance::OfPeak(share.trim().parse::<f64>().map_err(|_| bad())? / 100.0),
        None => Tolerance::Absolute(text.trim().parse::<f64>().map_err(|_| bad())?),
    };
    match t {
        Tolerance::OfPeak(v) | Tolerance::Absolute(v) if !(v > 0.0 && v.is_finite()) => {
            Err(bad().into())
        }
        _ => Ok(t),
    }
}
