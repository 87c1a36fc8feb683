//! How the command line's values are read: times, durations, latencies and
//! worker counts, each with an error that says what was expected and gives an
//! example (clap adds the flag's name).

use std::time::{Duration, SystemTime};

use super::Workers;
use crate::demo_shop::Stall;

pub(super) fn parse_workers(text: &str) -> Result<Workers, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(Workers::Auto);
    }
    text.parse().map(Workers::Count).map_err(|_| {
        format!("expected a number of workers (0 runs one Locust process) or `auto`, not `{text}`")
    })
}

/// `5` or `1-8` (milliseconds).
pub fn parse_latency(text: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .ok()
            .filter(|&ms| ms <= 600_000)
            .ok_or_else(|| {
                format!("{t:?} is not a number of milliseconds (0 to 600000); write e.g. 5 or 1-8")
            })
    };
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (number(low)?, number(high)?),
        None => (number(text)?, number(text)?),
    };
    if low > high {
        return Err(format!("{low}-{high}: the first number must not be larger"));
    }
    Ok(low..=high)
}

/// `--stall EVERY/FOR`: two durations in seconds or milliseconds, like
/// `5s/1s` or `1s/300ms` (decimals allowed: `0.3s`); FOR shorter than EVERY.
pub fn parse_stall(text: &str) -> Result<Stall, String> {
    let example = "write e.g. 5s/1s (the last 1 s of every 5 s) or 1s/300ms";
    let text = text.trim();
    let Some((every, hold)) = text.split_once('/') else {
        return Err(format!("expected EVERY/FOR, not `{text}`; {example}"));
    };
    let duration = |t: &str| {
        let t = t.trim();
        let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
            (n, 1e6)
        } else if let Some(n) = t.strip_suffix('s') {
            (n, 1e9)
        } else {
            return Err(format!("`{t}` has no unit (s or ms); {example}"));
        };
        number
            .trim()
            .parse::<f64>()
            .ok()
            .map(|n| (n * scale).round())
            // Nanoseconds, within what a u64 holds (the cast saturates).
            .filter(|ns| *ns >= 0.0 && *ns < 1e19)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| format!("`{t}` is not a duration; {example}"))
    };
    Stall::new(duration(every)?, duration(hold)?).map_err(|e| format!("{e}; {example}"))
}

/// A length of time in a flag's value: `90s`, `10m`, `1h30m`, `500ms`, or
/// bare seconds; more than 0.
pub fn parse_time(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e12 => Duration::from_secs_f64(s),
        Ok(_) => {
            return Err(format!(
                "{text:?} is not a length of time more than 0; write one like 90s, 10m or 1h"
            ))
        }
        Err(_) => humantime::parse_duration(text).map_err(|e| {
            format!("{text:?} is not a length of time ({e}); write one like 90s, 10m or 1h")
        })?,
    };
    if duration.is_zero() {
        return Err(format!(
            "{text:?} is no time at all; write one like 90s, 10m or 1h"
        ));
    }
    Ok(duration)
}

/// Run times as Locust and the original take them: `90s`, `10m`, `1h30m`, or bare seconds.
pub fn parse_run_time(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    // Hyphenated values reach here (so `-5s` is not taken for a flag): a flag
    // right after the option means its value is missing.
    if text.starts_with("--") {
        return Err(format!(
            "expected a time before {text}; write a time like 90s, 10m, 1h or 1h30m"
        ));
    }
    if text.starts_with('-') {
        return Err(
            "a run time cannot be negative; write a time like 90s, 10m, 1h or 1h30m".into(),
        );
    }
    let duration = if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string())?
    } else {
        humantime::parse_duration(text)
            .map_err(|e| format!("{e}; write a time like 90s, 10m, 1h or 1h30m"))?
    };
    if duration.is_zero() {
        return Err("a run time must be longer than 0; leave it out to run until stopped".into());
    }
    if duration > Duration::from_secs(100 * 365 * 24 * 3600) {
        return Err("that run time is over a century; leave it out to run until stopped".into());
    }
    Ok(duration)
}

/// `--heartbeat-timeout`: whole seconds from 2 to 30 (`5s` or `5`). Locust's
/// heartbeats are 1 s apart, so 1 s would call a worker lost at its first late
/// heartbeat; a worker alone for 60 s reconnects from scratch, so the timeout
/// stays well under that.
pub fn parse_heartbeat_timeout(text: &str) -> Result<u32, String> {
    let expected = "expected whole seconds from 2 to 30, like 3s or 10s";
    let seconds = parse_run_time(text)
        .ok()
        .filter(|d| d.subsec_nanos() == 0)
        .map(|d| d.as_secs())
        .ok_or_else(|| format!("{expected}, not `{}`", text.trim()))?;
    match u32::try_from(seconds) {
        Ok(s @ 2..=30) => Ok(s),
        _ => Err(format!(
            "{expected} (heartbeats are 1 s apart; a worker alone for 60 s reconnects from scratch), not {seconds} s"
        )),
    }
}

/// `--start-at`: an RFC 3339 time with its offset (`Z` or `+02:00`).
pub fn parse_start_at(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        format!(
            "expected an RFC 3339 time with its offset, like 2026-05-01T09:00:00Z or \
             2026-05-01T11:00:00+02:00 (`date -u +%FT%TZ` prints one), not `{text}` ({e})"
        )
    })?;
    Ok(SystemTime::from(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies() {
        assert_eq!(parse_latency("5"), Ok(5..=5));
        assert_eq!(parse_latency("1-8"), Ok(1..=8));
        assert!(parse_latency("8-1")
            .unwrap_err()
            .contains("must not be larger"));
        assert!(parse_latency("x").unwrap_err().contains("not a number"));
    }

    #[test]
    fn stalls() {
        let stall = |every_ms, hold_ms| {
            Stall::new(
                Duration::from_millis(every_ms),
                Duration::from_millis(hold_ms),
            )
        };
        assert_eq!(parse_stall("5s/1s"), stall(5000, 1000));
        assert_eq!(parse_stall(" 1s / 300ms "), stall(1000, 300));
        assert_eq!(parse_stall("1.5s/0.25s"), stall(1500, 250));
        for (bad, says) in [
            ("5s", "expected EVERY/FOR"),
            ("5/1", "has no unit"),
            ("5s/xs", "not a duration"),
            ("5s/-1s", "not a duration"),
            ("5s/0s", "longer than 0"),
            ("1s/1s", "FOR must be shorter than EVERY"),
            ("1s/2s", "FOR must be shorter than EVERY"),
            ("2d/1s", "has no unit"),
            ("90000s/1s", "at most a day"),
        ] {
            let err = parse_stall(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.contains("e.g. 5s/1s"), "{bad}: {err}");
        }
    }

    #[test]
    fn run_times() {
        assert_eq!(parse_run_time("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_run_time("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_run_time("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_run_time("45"), Ok(Duration::from_secs(45)));
        assert!(parse_run_time("0s").unwrap_err().contains("longer than 0"));
        assert!(parse_run_time("-5")
            .unwrap_err()
            .contains("cannot be negative"));
        assert!(parse_run_time("--host")
            .unwrap_err()
            .contains("expected a time before --host"));
        assert!(parse_run_time("ten minutes")
            .unwrap_err()
            .contains("like 90s"));
        assert!(parse_run_time("").is_err());
        assert!(parse_run_time("99999999999999999999").is_err());
    }

    #[test]
    fn heartbeat_timeouts() {
        assert_eq!(parse_heartbeat_timeout("3s"), Ok(3));
        assert_eq!(parse_heartbeat_timeout("10"), Ok(10));
        assert_eq!(parse_heartbeat_timeout("30s"), Ok(30));
        for bad in ["1s", "31s", "1m", "0", "2.5s", "-3", "soon", ""] {
            let err = parse_heartbeat_timeout(bad).unwrap_err();
            assert!(err.contains("whole seconds from 2 to 30"), "{bad}: {err}");
        }
    }

    #[test]
    fn start_times() {
        let epoch = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            parse_start_at("2026-05-01T09:00:00Z"),
            Ok(epoch(1_777_626_000))
        );
        assert_eq!(
            parse_start_at("2026-05-01T11:00:00+02:00"),
            Ok(epoch(1_777_626_000))
        );
        assert_eq!(
            parse_start_at("2026-05-01T09:00:00.5Z"),
            Ok(epoch(1_777_626_000) + Duration::from_millis(500))
        );
        for bad in [
            "2026-05-01 09:00",
            "2026-05-01T09:00:00",
            "tomorrow",
            "",
            "2026-13-01T00:00:00Z",
        ] {
            let err = parse_start_at(bad).unwrap_err();
            assert!(err.contains("expected an RFC 3339 time"), "{bad}: {err}");
            assert!(err.contains("2026-05-01T09:00:00Z"), "{bad}: {err}");
        }
    }
}
