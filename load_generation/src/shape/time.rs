//! Timestamps as recorded traffic writes them, read into one instant type.
//!
//! Exports and logs disagree on how to write a time; each reader accepts the
//! same list, so a user who learns it once can use it everywhere, and an
//! unknown form is refused with that list.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// The forms a timestamp may take, as error messages name them.
pub const FORMATS: &str = "ISO 8601 / RFC 3339 (2026-11-27T14:00:00Z, 2026-11-27T14:00:00+01:00), \
     `YYYY-MM-DD HH:MM:SS` (in --timezone, UTC by default), epoch seconds (1764252000 or \
     1764252000.25), or the access-log form (27/Nov/2026:14:00:00 +0100)";

/// A moment, with the UTC offset its source wrote it in (phases are named in
/// the source's own local time: 14h is when the shop was busy where it is).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Seconds since the Unix epoch.
    pub secs: f64,
    pub offset: FixedOffset,
}

impl Stamp {
    pub fn new(secs: f64, offset: FixedOffset) -> Self {
        Stamp { secs, offset }
    }

    /// This moment plus `seconds`, in the same offset.
    pub fn plus(self, seconds: f64) -> Stamp {
        Stamp::new(self.secs + seconds, self.offset)
    }

    fn local(self) -> DateTime<FixedOffset> {
        let whole = self.secs.floor();
        let nanos = ((self.secs - whole) * 1e9) as u32;
        Utc.timestamp_opt(whole as i64, nanos.min(999_999_999))
            .single()
            .unwrap_or_default()
            .with_timezone(&self.offset)
    }

    /// A phase name from this moment: `thu-27-nov-14h`, or with minutes
    /// (`thu-27-nov-14h05`) when several phases begin in one hour.
    pub fn phase_name(self, with_minutes: bool) -> String {
        let format = if with_minutes {
            "%a-%d-%b-%Hh%M"
        } else {
            "%a-%d-%b-%Hh"
        };
        self.local().format(format).to_string().to_lowercase()
    }

    /// RFC 3339 in its own offset: `2026-11-27T14:00:00+01:00`.
    pub fn rfc3339(self) -> String {
        self.local()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }

    /// As people read it: `2026-11-27 14:00 +01:00`.
    pub fn human(self) -> String {
        self.local().format("%Y-%m-%d %H:%M:%S %:z").to_string()
    }
}

/// Reads a timestamp in any of [`FORMATS`]; a time without an offset is in
/// `naive_offset`. `None` when the text is none of them.
pub fn parse(text: &str, naive_offset: FixedOffset) -> Option<Stamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(from_datetime(t));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = text.parse().ok()?;
        return secs
            .is_finite()
            .then(|| Stamp::new(secs, FixedOffset::east_opt(0).unwrap_or(naive_offset)));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(from_datetime(t));
        }
    }
    if let Some(t) = parse_access_log(text) {
        return Some(t);
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            let local = naive_offset.from_local_datetime(&naive).single()?;
            return Some(from_datetime(local));
        }
    }
    None
}

/// The access-log form, `27/Nov/2026:14:00:00 +0100` (Common and Combined Log
/// Format, between the brackets).
pub fn parse_access_log(text: &str) -> Option<Stamp> {
    DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
        .ok()
        .map(from_datetime)
}

fn from_datetime(t: DateTime<FixedOffset>) -> Stamp {
    let secs = t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9;
    Stamp::new(secs, *t.offset())
}

/// Reads an offset given on the command line: `+01:00`, `-0530`, `Z`, `UTC`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let text = text.trim();
    if matches!(text, "Z" | "z" | "UTC" | "utc") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

pub fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!("0 is a valid offset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Stamp {
        parse(text, utc()).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn every_form_names_the_same_moment() {
        let expected = 1_764_252_000.0; // 2025-11-27T14:00:00Z
        for text in [
            "2025-11-27T14:00:00Z",
            "2025-11-27T15:00:00+01:00",
            "2025-11-27 14:00:00",
            "2025-11-27T14:00:00",
            "2025-11-27 14:00",
            "1764252000",
            "27/Nov/2025:09:00:00 -0500",
        ] {
            assert_eq!(at(text).secs, expected, "{text}");
        }
        assert_eq!(at("1764252000.25").secs, expected + 0.25);
        assert_eq!(at("2025-11-27T14:00:00.5Z").secs, expected + 0.5);
    }

    #[test]
    fn a_naive_time_is_in_the_given_offset_and_a_written_offset_is_kept() {
        let plus_one = parse_offset("+01:00").unwrap();
        assert_eq!(
            parse("2025-11-27 15:00:00", plus_one).unwrap().secs,
            1_764_252_000.0
        );
        let t = at("27/Nov/2025:09:00:00 -0500");
        assert_eq!(t.offset, parse_offset("-0500").unwrap());
        assert_eq!(t.phase_name(false), "thu-27-nov-09h");
        assert_eq!(t.plus(300.0).phase_name(true), "thu-27-nov-09h05");
    }

    #[test]
    fn what_is_not_a_time_is_refused() {
        for text in [
            "",
            "yesterday",
            "2025-13-01 00:00:00",
            "27/Foo/2025:09:00:00 -0500",
            "1.2.3",
            "nan",
        ] {
            assert_eq!(parse(text, utc()), None, "{text}");
        }
        for text in ["+25:00", "0100", "+1:00", "Europe/Paris"] {
            assert_eq!(parse_offset(text), None, "{text}");
        }
    }
}
