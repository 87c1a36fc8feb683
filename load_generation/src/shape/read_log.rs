//! Access logs: Common and Combined Log Format (Apache's, nginx's default), or
//! JSON lines. Streamed line by line (a log of gigabytes is never held), each
//! request counted in its interval and, by rules on its path, in a user type.
//!
//! Only the time and the request line are read. A line that is not a log
//! line is counted and the first few are shown; `strict` makes any one an
//! error. Each line's own UTC offset is respected, so a log written in two
//! time zones (a server moved, two servers' logs) counts each request at the
//! moment it happened.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use regex::bytes::RegexSet;
use serde_json::Value;

use super::series::Series;
use super::time::{self, Stamp, FORMATS};
use super::Read;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};

/// Which form the log's lines take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Told from the first line: JSON if it starts with `{`, else CLF.
    Auto,
    /// Common or Combined Log Format (the fields after the request line are
    /// not read, so both are one).
    Clf,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogOptions {
    pub format: LogFormat,
    /// Seconds per interval counted.
    pub bin: f64,
    /// `(type, path pattern)`, tried in order: a request belongs to the first
    /// that matches.
    pub rules: Vec<(String, String)>,
    /// The type of requests no rule matches (`None`: left out, and counted).
    pub unmatched: Option<String>,
    pub strict: bool,
    /// JSON lines: the fields holding the time and the path (found when not given).
    pub time_field: Option<String>,
    pub path_field: Option<String>,
    /// The offset phases are named in (the first line's when not given).
    pub offset: Option<FixedOffset>,
}

/// How many bad lines are shown (the rest are counted).
const SHOWN_BAD_LINES: usize = 5;

/// What reading the logs found, before it becomes a series.
struct Tally {
    /// Requests per interval index (epoch seconds / bin), per type.
    bins: HashMap<i64, Vec<u64>>,
    lines: u64,
    requests: u64,
    left_out: u64,
    bad: u64,
    shown: Vec<Diagnostic>,
    first_offset: Option<FixedOffset>,
    offsets: Vec<FixedOffset>,
}

/// A source of lines: a file or standard input (`-`).
pub struct LogFile {
    pub path: PathBuf,
    pub reader: Box<dyn BufRead>,
}

pub fn read(files: Vec<LogFile>, options: &LogOptions) -> Result<Read, Diagnostics> {
    let patterns: Vec<&str> = options.rules.iter().map(|(_, p)| p.as_str()).collect();
    let rules = RegexSet::new(&patterns).map_err(|e| {
        Diagnostics(vec![Diagnostic::error(
            Path::new("--type"),
            None,
            format!("a --type pattern is not a regular expression: {e}"),
        )
        .with_help(
            "write rules as NAME=REGEX, e.g. --type 'Browse=^/product/'",
        )])
    })?;
    let mut types: Vec<String> = Vec::new();
    let mut type_of_rule = Vec::new();
    for (name, _) in &options.rules {
        if !types.contains(name) {
            types.push(name.clone());
        }
        type_of_rule.push(types.iter().position(|t| t == name).unwrap_or(0));
    }
    let unmatched_type = options.unmatched.as_ref().map(|name| {
        if !types.contains(name) {
            types.push(name.clone());
        }
        types.iter().position(|t| t == name).unwrap_or(0)
    });
    let mut tally = Tally {
        bins: HashMap::new(),
        lines: 0,
        requests: 0,
        left_out: 0,
        bad: 0,
        shown: Vec::new(),
        first_offset: None,
        offsets: Vec::new(),
    };
    let mut format_seen = None;
    let names: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    for file in files {
        let format = read_file(
            file,
            options,
            &rules,
            &type_of_rule,
            unmatched_type,
            types.len(),
            &mut tally,
        )?;
        format_seen = format_seen.or(format);
    }
    if options.strict && tally.bad > 0 {
        let mut shown = tally.shown;
        if tally.bad as usize > shown.len() {
            shown.push(Diagnostic::error(
                Path::new("(logs)"),
                None,
                format!(
                    "{} bad lines in all; the first {} are above",
                    tally.bad,
                    shown.len()
                ),
            ));
        }
        return Err(Diagnostics(shown));
    }
    let mut notes = Vec::new();
    if tally.bad > 0 {
        notes.extend(tally.shown.iter().map(ToString::to_string));
        notes.push(format!(
            "{} line{} of {} not read as a log line ({} shown above) and left out; --strict makes any bad line an error",
            tally.bad,
            if tally.bad == 1 { "" } else { "s" },
            tally.lines,
            tally.shown.len()
        ));
    }
    if tally.left_out > 0 {
        notes.push(format!(
            "{} request{} matched no --type rule and {} left out (--unmatched NAME counts them as a type)",
            tally.left_out,
            if tally.left_out == 1 { "" } else { "s" },
            if tally.left_out == 1 { "was" } else { "were" },
        ));
    } else if let Some(t) = unmatched_type.filter(|_| !options.rules.is_empty()) {
        let n: u64 = tally.bins.values().map(|b| b[t]).sum();
        notes.push(format!(
            "{n} request{} matched no --type rule: counted as {}",
            if n == 1 { "" } else { "s" },
            types[t]
        ));
    }
    if tally.offsets.len() > 1 {
        notes.push(format!(
            "the lines are in {} time zones ({}): each request counted at its own moment",
            tally.offsets.len(),
            tally
                .offsets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (Some(&first), Some(&last)) = (tally.bins.keys().min(), tally.bins.keys().max()) else {
        return Err(Diagnostics(vec![Diagnostic::error(
            Path::new("(logs)"),
            None,
            format!(
                "no request was counted in {} line{}: nothing to shape",
                tally.lines,
                if tally.lines == 1 { "" } else { "s" }
            ),
        )
        .with_help(
            "check the log's format (--format clf or json) and the --type rules",
        )]));
    };
    if last == first {
        return Err(Diagnostics(vec![Diagnostic::error(
            Path::new("(logs)"),
            None,
            format!(
                "every request falls in one interval of {}: a series needs at least two",
                crate::fmt::duration(options.bin)
            ),
        )
        .with_help("use a shorter --bin")]));
    }
    let counts = (first..=last)
        .map(|i| {
            tally.bins.get(&i).map_or_else(
                || vec![0.0; types.len()],
                |c| c.iter().map(|&n| n as f64).collect(),
            )
        })
        .collect();
    let offset = options
        .offset
        .or(tally.first_offset)
        .unwrap_or_else(time::utc);
    let series = Series {
        start: Stamp::new(first as f64 * options.bin, offset),
        step: options.bin,
        types: if types.is_empty() {
            vec!["Normal".into()]
        } else {
            types
        },
        counts,
    };
    Ok(Read {
        description: format!(
            "{} ({}, {} requests in {} lines, counted per {})",
            names.join(", "),
            match format_seen.unwrap_or(LogFormat::Clf) {
                LogFormat::Json => "JSON lines",
                _ => "Common/Combined Log Format",
            },
            crate::fmt::int(tally.requests),
            crate::fmt::int(tally.lines),
            crate::fmt::duration(options.bin)
        ),
        series,
        notes,
    })
}

#[allow(clippy::too_many_arguments)]
fn read_file(
    mut file: LogFile,
    options: &LogOptions,
    rules: &RegexSet,
    type_of_rule: &[usize],
    unmatched_type: Option<usize>,
    types: usize,
    tally: &mut Tally,
) -> Result<Option<LogFormat>, Diagnostics> {
    let mut line = Vec::with_capacity(512);
    let mut number = 0usize;
    let mut format = (options.format != LogFormat::Auto).then_some(options.format);
    let mut cache: (Vec<u8>, Option<Stamp>) = (Vec::new(), None);
    let types = types.max(1);
    loop {
        line.clear();
        match file.reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(Diagnostics(vec![Diagnostic::error(
                    &file.path,
                    None,
                    format!("cannot read it after line {number}: {e}"),
                )]));
            }
        }
        number += 1;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        tally.lines += 1;
        let format = *format.get_or_insert(if line.first() == Some(&b'{') {
            LogFormat::Json
        } else {
            LogFormat::Clf
        });
        let parsed = match format {
            LogFormat::Json => json_line(&line, options),
            _ => clf_line(&line, &mut cache),
        };
        let (stamp, path) = match parsed {
            Ok(found) => found,
            Err((at, message)) => {
                tally.bad += 1;
                if tally.shown.len() < if options.strict { 50 } else { SHOWN_BAD_LINES } {
                    let text = String::from_utf8_lossy(&line);
                    let severity = if options.strict {
                        Severity::Error
                    } else {
                        Severity::Warning
                    };
                    tally.shown.push(Diagnostic::at_line(
                        severity, &file.path, number, &text, at, message,
                    ));
                }
                continue;
            }
        };
        if tally.first_offset.is_none() {
            tally.first_offset = Some(stamp.offset);
        }
        if !tally.offsets.contains(&stamp.offset) && tally.offsets.len() < 8 {
            tally.offsets.push(stamp.offset);
        }
        let matched = if type_of_rule.is_empty() {
            Some(0)
        } else {
            rules
                .matches(path)
                .iter()
                .next()
                .map(|r| type_of_rule[r])
                .or(unmatched_type)
        };
        let Some(t) = matched else {
            tally.left_out += 1;
            continue;
        };
        tally.requests += 1;
        let bin = (stamp.secs / options.bin).floor() as i64;
        tally.bins.entry(bin).or_insert_with(|| vec![0; types])[t] += 1;
    }
    Ok(format)
}

/// The time and the path of a Common/Combined Log Format line:
/// `host ident user [27/Nov/2025:14:00:00 +0100] "GET /path HTTP/1.1" 200 512 ...`.
/// The last time read is kept: a busy log repeats each second many times.
fn clf_line<'a>(
    line: &'a [u8],
    cache: &mut (Vec<u8>, Option<Stamp>),
) -> Result<(Stamp, &'a [u8]), (usize, String)> {
    let open = memchr::memchr(b'[', line).ok_or((
        0,
        "no [time] in brackets: not a Common or Combined Log Format line".to_string(),
    ))?;
    let close = memchr::memchr(b']', &line[open..])
        .map(|c| open + c)
        .ok_or((open, "the [time] is not closed with `]`".to_string()))?;
    let raw = &line[open + 1..close];
    let stamp = if cache.1.is_some() && cache.0 == raw {
        cache.1
    } else {
        let stamp = std::str::from_utf8(raw)
            .ok()
            .and_then(time::parse_access_log);
        cache.0.clear();
        cache.0.extend_from_slice(raw);
        cache.1 = stamp;
        stamp
    };
    let stamp = stamp.ok_or((
        open + 1,
        "the time is not in the access-log form 27/Nov/2025:14:00:00 +0100".to_string(),
    ))?;
    let quote = memchr::memchr(b'"', &line[close..])
        .map(|q| close + q)
        .ok_or((close + 1, "no \"request line\" after the time".to_string()))?;
    let end = memchr::memchr(b'"', &line[quote + 1..])
        .map(|e| quote + 1 + e)
        .ok_or((quote, "the request line's quote is not closed".to_string()))?;
    let request = &line[quote + 1..end];
    // "GET /path HTTP/1.1"; a request that was not HTTP ("-", junk a scanner
    // sent) still arrived: counted, with no path.
    let path = request.split(|b| *b == b' ').nth(1).unwrap_or(b"");
    Ok((stamp, path))
}

/// The time and the path of a JSON line.
fn json_line<'a>(
    line: &'a [u8],
    options: &LogOptions,
) -> Result<(Stamp, &'a [u8]), (usize, String)> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        (
            e.column().saturating_sub(1),
            format!("not a JSON object: {e}"),
        )
    })?;
    let field = |given: &Option<String>, candidates: &[&str]| -> Option<(String, Value)> {
        match given {
            Some(name) => value.get(name).map(|v| (name.clone(), v.clone())),
            None => candidates
                .iter()
                .find_map(|name| value.get(*name).map(|v| (name.to_string(), v.clone()))),
        }
    };
    let (time_name, time_value) = field(&options.time_field, &["time", "timestamp", "@timestamp", "ts", "time_local", "date"]).ok_or_else(|| {
        (0, match &options.time_field {
            Some(f) => format!("no field `{f}` (--time-field) in this line"),
            None => "no time field (looked for time, timestamp, @timestamp, ts, time_local, date): name it with --time-field".to_string(),
        })
    })?;
    let stamp = match &time_value {
        Value::Number(n) => n.as_f64().map(|s| Stamp::new(s, time::utc())),
        Value::String(s) => time::parse(s, time::utc()),
        _ => None,
    }
    .ok_or_else(|| {
        (
            field_column(line, &time_name),
            format!("`{time_name}` is {time_value}, not a time in one of: {FORMATS}"),
        )
    })?;
    let (path_name, path_value) = field(&options.path_field, &["path", "uri", "request_uri", "url", "request"]).ok_or_else(|| {
        (0, match &options.path_field {
            Some(f) => format!("no field `{f}` (--path-field) in this line"),
            None => "no path field (looked for path, uri, request_uri, url, request): name it with --path-field".to_string(),
        })
    })?;
    let Value::String(text) = path_value else {
        return Err((
            field_column(line, &path_name),
            format!("`{path_name}` is not a string"),
        ));
    };
    // A whole request line ("GET /x HTTP/1.1") gives its path; the path is
    // found again in the line's own bytes so no copy outlives it.
    let path = if path_name == "request" {
        text.split(' ').nth(1).unwrap_or("").to_string()
    } else {
        text
    };
    let at = memchr::memmem::find(line, path.as_bytes()).unwrap_or(0);
    Ok((
        stamp,
        &line[at..at + if path.is_empty() { 0 } else { path.len() }],
    ))
}

/// The byte where `"name":` is in a JSON line (for the column of a message).
fn field_column(line: &[u8], name: &str) -> usize {
    memchr::memmem::find(line, format!("\"{name}\"").as_bytes()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(rules: &[(&str, &str)], unmatched: Option<&str>) -> LogOptions {
        LogOptions {
            format: LogFormat::Auto,
            bin: 60.0,
            rules: rules
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            unmatched: unmatched.map(str::to_string),
            strict: false,
            time_field: None,
            path_field: None,
            offset: None,
        }
    }

    fn read_text(text: &str, options: &LogOptions) -> Result<Read, String> {
        let file = LogFile {
            path: PathBuf::from("access.log"),
            reader: Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
        };
        read(vec![file], options).map_err(|d| d.to_string())
    }

    const LOG: &str = r#"10.0.0.1 - - [27/Nov/2025:14:00:05 +0100] "GET /product/A HTTP/1.1" 200 512 "-" "curl"
10.0.0.1 - - [27/Nov/2025:14:00:59 +0100] "GET /cart HTTP/1.1" 200 512
10.0.0.2 - - [27/Nov/2025:08:01:10 -0500] "POST /cart/checkout HTTP/1.1" 302 0 "-" "x"
this is not a log line
10.0.0.3 - - [27/Nov/2025:14:02:00 +0100] "GET / HTTP/1.1" 200 12
10.0.0.3 - - [27/Nov/2025:14:02:00 +0100] "-" 400 0
"#;

    #[test]
    fn requests_are_counted_per_interval_and_type_in_their_own_time_zone() {
        let r = read_text(
            LOG,
            &options(
                &[("Browse", "^/product/"), ("Cart", "^/cart")],
                Some("Other"),
            ),
        )
        .unwrap();
        assert_eq!(r.series.types, vec!["Browse", "Cart", "Other"]);
        // 14:00 +01:00 is 13:00Z; 08:01 -05:00 is 13:01Z.
        assert_eq!(r.series.start.secs, 1_764_248_400.0);
        assert_eq!(
            r.series.counts,
            vec![
                vec![1.0, 1.0, 0.0],
                vec![0.0, 1.0, 0.0],
                vec![0.0, 0.0, 2.0]
            ]
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("access.log:4:1: warning: no [time] in brackets")),
            "{:?}",
            r.notes
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("1 line of 6 not read")),
            "{:?}",
            r.notes
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("2 time zones (+01:00, -05:00)")),
            "{:?}",
            r.notes
        );
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("2 requests matched no --type rule: counted as Other")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn unmatched_requests_are_left_out_and_said() {
        let r = read_text(
            LOG,
            &options(&[("Browse", "^/product/"), ("Cart", "^/cart")], None),
        )
        .unwrap();
        assert_eq!(r.series.types, vec!["Browse", "Cart"]);
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("2 requests matched no --type rule and were left out")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn strict_makes_a_bad_line_an_error_at_its_column() {
        let mut o = options(&[], None);
        o.strict = true;
        let err = read_text("1.2.3.4 - - [27/Nov/2025:14:00:05 +0100] \"GET / HTTP/1.1\" 200 1\n1.2.3.4 - - [27/Nov/2025:25:00:05 +0100] \"GET /\"\n", &o).unwrap_err();
        assert!(
            err.starts_with("access.log:2:14: error: the time is not in the access-log form"),
            "{err}"
        );
    }

    #[test]
    fn json_lines_with_their_fields_found_or_named() {
        let text = "{\"time\":\"2025-11-27T13:00:01Z\",\"path\":\"/cart\"}\n{\"time\":1764248470,\"request\":\"GET /product/B HTTP/1.1\"}\n{\"time\":\"soon\",\"path\":\"/\"}\n";
        let r = read_text(
            text,
            &options(&[("Browse", "^/product/"), ("Cart", "^/cart")], None),
        )
        .unwrap();
        assert_eq!(r.series.counts, vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
        assert!(
            r.notes[0].contains("access.log:3:2: warning: `time` is \"soon\", not a time"),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn no_request_or_one_interval_is_refused() {
        assert!(read_text("junk\n", &options(&[], None))
            .unwrap_err()
            .contains("no request was counted in 1 line"));
        let one = "1.2.3.4 - - [27/Nov/2025:14:00:05 +0100] \"GET / HTTP/1.1\" 200 1\n";
        assert!(read_text(one, &options(&[], None))
            .unwrap_err()
            .contains("every request falls in one interval"));
    }
}
