//! Numbers and durations as loadgen shows them to people.

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
