//! Numbers and durations as loadgen shows them to people: the live status
//! line, the end-of-run table, the HTML report and messages all format through
//! here, so a count or a duration reads the same everywhere.
//!
//! Two duration styles on purpose: [`short`] (`1m05s`) for the status line,
//! whose width should not jump, and [`duration`] (`1m 40s`, `0.4s`) for
//! reports and messages. Counts get thousands separators ([`int`], [`dec`]).

use std::time::Duration;

/// `1m05s`, `12s`: short durations for a status line.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A compact number (axis labels, huge counts): `250`, `2.5`, `12k`, `1.5M`;
/// whole numbers when `step` is whole.
pub fn compact(v: f64, step: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    for (size, unit) in UNITS {
        if v >= size {
            return format!("{}{unit}", trim(&format!("{:.2}", v / size)));
        }
    }
    if step >= 1.0 && step.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        trim(&format!("{v:.4}"))
    }
}

/// A number without needless decimals, for limits and measured values a user
/// compares: `500`, `0.5`, `1.25` (at most two decimals).
pub fn plain(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// `2.50` -> `2.5`, `3.00` -> `3`.
fn trim(number: &str) -> String {
    if number.contains('.') {
        number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        number.to_string()
    }
}

/// `v`, or 0 where it is NaN or infinite: nothing unreadable reaches a page.
pub fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// `s` unless `n` is 1: `1 restart`, `2 restarts`.
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// An integer with thousands separators.
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// As [`dec`], and `–` where there is no number (a rate over too short a span).
pub fn dec_or_dash(v: Option<f64>, digits: usize) -> String {
    dec(v.unwrap_or(f64::NAN), digits)
}

/// A number with `digits` decimals and thousands separators; `–` if not finite.
pub fn dec(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let text = format!("{:.*}", digits, v.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let whole = match whole.parse::<u64>() {
        Ok(n) => int(n),
        Err(_) => whole.to_string(),
    };
    let sign = if v < 0.0 && text.chars().any(|c| matches!(c, '1'..='9')) {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// A count for a summary tile: exact up to a billion, then `18.45E`.
pub fn big(n: u64) -> String {
    if n >= 1_000_000_000 {
        compact(n as f64, 1.0)
    } else {
        int(n)
    }
}

/// Milliseconds: `12 ms`, `2.5 ms`, `0 ms`.
pub fn ms(v: f64) -> String {
    if v >= 1e9 {
        format!("{} ms", compact(v, 1.0))
    } else if v >= 10.0 || v == 0.0 {
        format!("{} ms", dec(v, 0))
    } else {
        format!("{} ms", dec(v, 1))
    }
}

/// ` (1.5%)` when there are failures.
pub fn share(part: u64, of: u64) -> String {
    if part == 0 || of == 0 {
        String::new()
    } else {
        format!(" ({:.1}%)", part as f64 * 100.0 / of as f64)
    }
}

/// `1m 40s`, `2h 5m 3s`, `0.4s`.
pub fn duration(seconds: f64) -> String {
    let seconds = finite(seconds).max(0.0);
    if seconds < 10.0 && seconds.fract() != 0.0 {
        return format!("{seconds:.1}s");
    }
    let secs = seconds.round() as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}

/// `2026-01-31T12:00:00.123Z` -> `2026-01-31 12:00:00 UTC`.
pub fn display_time(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(t) if t.len() >= 19 && t.is_char_boundary(19) => {
            format!("{} UTC", t[..19].replacen('T', " ", 1))
        }
        _ => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations() {
        assert_eq!(compact(2500.0, 500.0), "2.5k");
        assert_eq!(compact(3_000_000.0, 1_000_000.0), "3M");
        assert_eq!(compact(0.4, 0.2), "0.4");
        assert_eq!(compact(7.5, 2.5), "7.5");
        assert_eq!(compact(10.0, 2.5), "10");
        assert_eq!(compact(40.0, 10.0), "40");
        assert_eq!(compact(u64::MAX as f64, 1.0), "18.45E");
        assert_eq!(big(999_999_999), "999,999,999");
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(dec(1234.56, 1), "1,234.6");
        assert_eq!(dec(f64::NAN, 1), "–");
        assert_eq!(
            display_time("2026-01-31T12:00:00.123Z"),
            "2026-01-31 12:00:00 UTC"
        );
        assert_eq!(duration(100.0), "1m 40s");
        assert_eq!(plain(500.0), "500");
        assert_eq!(plain(0.126), "0.13");
        assert_eq!(plain(1.5), "1.5");
        assert_eq!(short(Duration::from_secs(65)), "1m05s");
    }
}
