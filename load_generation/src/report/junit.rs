//! The verdict as JUnit XML, so CI systems show each threshold as a test, and a
//! run that ended in an error as a failed one.

use std::fmt::Write as _;

use super::Summary;
use crate::stats::Ended;

/// One `<testsuite>` with a `<testcase>` per threshold and scope; a failed
/// threshold's case carries a `<failure>` with the measured value. A run that
/// ended in an error (or was still running: a checkpoint) adds a case `the run`
/// that fails with why, so no CI reads such a run as passed.
pub fn render(summary: &Summary) -> String {
    let results = &summary.thresholds;
    let duration_s = summary.duration_s;
    let ending = match summary.ended {
        Ended::Error | Ended::Running => Some(format!(
            "the run ended: {}{}",
            summary.ended.as_str(),
            summary
                .ended_reason
                .as_ref()
                .map_or(String::new(), |r| format!(": {r}"))
        )),
        _ => None,
    };
    let tests = results.len() + usize::from(ending.is_some());
    let failures = results.iter().filter(|r| !r.passed).count() + usize::from(ending.is_some());
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"loadgen\" tests=\"{tests}\" failures=\"{failures}\" time=\"{duration_s:.3}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"loadgen thresholds\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{duration_s:.3}\">"
    );
    if let Some(why) = &ending {
        let message = escape(why);
        let _ = writeln!(
            xml,
            "    <testcase classname=\"loadgen.run\" name=\"the run\">\n      <failure message=\"{message}\" type=\"{}\">{message}</failure>\n    </testcase>",
            summary.ended.as_str()
        );
    }
    for r in results {
        let name = escape(&format!("{} [{}]", r.expr, r.scope));
        let _ = write!(
            xml,
            "    <testcase classname=\"loadgen.thresholds\" name=\"{name}\""
        );
        if r.passed {
            xml.push_str("/>\n");
        } else {
            let message = escape(&format!("{}: measured {}", r.expr, r.shown));
            let _ = writeln!(
                xml,
                ">\n      <failure message=\"{message}\" type=\"threshold\">{message} ({})</failure>\n    </testcase>",
                escape(&r.scope)
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// XML-escapes text for content and attributes; characters XML 1.0 cannot hold
/// (most control characters) become U+FFFD so the file stays well-formed.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_well_formed() {
        assert_eq!(
            escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }
}
