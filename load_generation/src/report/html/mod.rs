//! `report.html`: the run on one self-contained page. Nothing is fetched: no CDN,
//! no fonts, no scripts or styles from elsewhere, so the file works offline and
//! can be mailed or archived as is. The charts are inline SVG drawn here; a few
//! lines of inline JavaScript add hover tooltips (the page reads fine without).
//!
//! Everything that comes from the run (request names, failure messages,
//! tracebacks, user type names) goes through [`escape`].
//!
//! The rooms:
//! - this file: the page skeleton ([`render`]) and what every room shares;
//! - [`sections`]: one function per section of the page (header, verdict,
//!   plan, charts, occurrences, tables, failures, exceptions, events);
//! - [`series`]: the summary's samples turned into chart lines, phase bands
//!   and the tooltip data;
//! - [`chart`]: pure SVG drawing of lines over phase bands, knowing nothing of
//!   the summary;
//! - `style.css` and `tooltip.js`, pulled in whole.
//!
//! Sections are written with `write!` rather than a template crate: see
//! [`sections`] for why.

mod chart;
mod chart_data;
mod sections;

use std::fmt::Write as _;

use super::summary::{PhaseSummary, Summary};
use crate::config::UserTypeName;
use crate::fmt::display_time;

/// The page's style sheet, inlined (the live dashboard's too).
pub const CSS: &str = include_str!("style.css");
/// The hover tooltips over the charts, inlined (the dashboard calls
/// `loadgenTooltips()` again each time it draws new sections).
pub const SCRIPT: &str = include_str!("tooltip.js");

/// `&`, `<`, `>`, `"` and `'` as HTML entities, so text is safe in element
/// content and in quoted attribute values alike.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn render(summary: &Summary) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let started = display_time(&summary.started_at);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>loadgen report · {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&started)
    );
    out.push_str(&body(summary, Page::Archived));
    let _ = write!(
        out,
        "<footer>Written by loadgen {} (summary schema {}). <code>summary.json</code> and \
         <code>stats.csv</code> beside this file hold the same figures.</footer>\n</main>\n\
         <div id=\"tip\" role=\"tooltip\"></div>\n",
        escape(env!("CARGO_PKG_VERSION")),
        summary.schema_version
    );
    let _ = write!(out, "<script>\n{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

/// Where the sections are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// report.html, written at the end (or at a checkpoint).
    Archived,
    /// The live dashboard, while the run goes (it says how the run stands
    /// itself: no "still going" box).
    Live,
}

/// The run's sections without the page around them: report.html's body, and
/// what the live dashboard shows below its controls (so what people saw live
/// is what they archive).
pub fn body(summary: &Summary, page: Page) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let started = display_time(&summary.started_at);
    let title = match page {
        Page::Archived => "loadgen report",
        Page::Live => "The run so far",
    };
    sections::header(&mut out, summary, &started, title);
    if page == Page::Archived {
        sections::ending(&mut out, summary);
    }
    sections::verdict(&mut out, summary);
    sections::plan(&mut out, summary);
    sections::charts(&mut out, summary);
    sections::occurrences(&mut out, summary);
    sections::per_name(&mut out, summary);
    sections::whole_run(&mut out, summary);
    sections::failures(&mut out, summary);
    sections::exceptions(&mut out, summary);
    sections::events(&mut out, summary);
    chart_data::tooltip_data(&mut out, summary);
    out
}

/// `phase 2 (loop 3)`: one occurrence, as tables and chart bands name it.
fn occurrence(p: &PhaseSummary) -> String {
    format!("phase {} (loop {})", p.phase, p.loop_number)
}

/// The type's name as the config writes it: `NormalUser` -> `Normal`.
fn short(class: &str) -> &str {
    UserTypeName::of_class(class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{figures, rate_summary, summary};
    use crate::report::summary::TimePoint;
    use crate::stats::{Ended, Interval};

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain /cart/{id} ü"), "plain /cart/{id} ü");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn run_text_is_escaped() {
        let html = render(&summary(true));
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;oops&lt;/b&gt;"));
        assert!(html.contains("ValueError: &lt;bad&gt; &amp; &quot;worse&quot;"));
        // Exactly the one inline script of ours, plus the JSON data element.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
    }

    #[test]
    fn a_run_that_did_not_complete_says_how_it_ended() {
        assert!(!render(&summary(true)).contains("id=\"ending\""));
        let mut s = summary(true);
        s.ended = Ended::Error;
        s.ended_reason = Some("Locust crashed 5 times <b>".into());
        let html = render(&s);
        assert!(html.contains("The run ended in an error"), "{html}");
        assert!(
            html.contains("ended: <code>error</code> after 25s"),
            "{html}"
        );
        assert!(html.contains("<pre>Locust crashed 5 times &lt;b&gt;</pre>"));
        s.ended = Ended::Running;
        s.ended_reason = None;
        assert!(render(&s).contains("A checkpoint of a run still going"));
    }

    #[test]
    fn renders_without_samples() {
        let html = render(&summary(false));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("No samples were recorded"));
        assert_eq!(html.matches("<svg viewBox").count(), 3);
        assert!(html.contains("phase 2 (loop 1)"));
        assert!(!html.contains("NaN") && !html.contains(">inf"));
    }

    #[test]
    fn renders_the_charts_tables_and_sections() {
        let html = render(&summary(true));
        assert_eq!(html.matches("<svg viewBox").count(), 3);
        for needle in [
            "phase 1 (loop 1)",
            "phase 2 (loop 1)",
            "phase 1 (loop 2)",
            "class=\"target\"",
            "<details>",
            "Whole run",
            "Failures",
            "Exceptions in the users",
            "<pre>Traceback",
            "\"types\":[\"A\",\"B\"]",
            "<g class=\"event\"><title>scale at 13s: control: every phase&#39;s users scaled by 1.5 &lt;b&gt;</title>",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn a_week_long_run_gives_a_report_of_a_few_megabytes() {
        // A week of samples every 0.5 s, through the run's tiered series (the
        // whole run downsampled, the last hour in full), as a week-long run
        // hands them to the report.
        let mut summary = summary(true);
        let mut series = crate::stats::Series::default();
        for i in 1..=7u32 * 86_400 * 2 {
            series.push(Interval::half_second(f64::from(i) * 0.5, u64::from(i % 11)));
        }
        let types = summary.user_types.len();
        summary.series = series.points().map(|p| TimePoint::of(p, types)).collect();
        let html = render(&summary);
        eprintln!("report.html of a week: {} bytes", html.len());
        assert!(
            html.len() < 3_000_000,
            "report.html of a week: {} bytes",
            html.len()
        );
        assert!(html.contains("</html>"));
    }

    #[test]
    fn loads_nothing_from_elsewhere() {
        let s = summary(true);
        let mut html = render(&s);
        // Remove the run's own (escaped) text: what is left is ours.
        let mut texts: Vec<String> = Vec::new();
        for p in &s.phases {
            texts.extend(p.counted.errors.keys().cloned());
            texts.extend(p.counted.requests.iter().map(|r| r.name.clone()));
        }
        texts.extend(s.exceptions.iter().map(|e| e.traceback.clone()));
        for text in texts {
            html = html.replace(&escape(&text), "");
        }
        let lower = html.to_ascii_lowercase();
        for banned in [
            "http://", "https://", "//cdn", "src=", "href=", "@import", "url(", "<link", "<iframe",
            "<img",
        ] {
            assert!(!lower.contains(banned), "found {banned}");
        }
    }

    #[test]
    fn edge_cases_render() {
        // One sample, no requests at all.
        let mut s = summary(true);
        s.series.truncate(1);
        s.series[0].requests_per_s = 0.0;
        s.total.counted.total = figures(0, 0, 25.0);
        s.total.counted.requests.clear();
        let html = render(&s);
        assert!(html.contains("<circle"));
        assert!(html.contains("no requests") || html.contains("<circle"));
        // Huge values and a zero-length run.
        let mut s = summary(true);
        for p in &mut s.series {
            p.requests_per_s = 1e15;
            p.p99_ms = u64::MAX;
            p.actual_users = vec![u32::MAX, 0];
        }
        s.total.counted.total.requests = u64::MAX;
        let html = render(&s);
        assert!(html.contains("18,446,744,073,709,551,615"));
        assert!(!html.contains("NaN") && !html.contains(">inf"));
        let mut s = summary(false);
        s.duration_s = 0.0;
        s.phases.clear();
        s.total.counted.total = figures(0, 0, 1.0);
        let html = render(&s);
        assert!(html.contains("No phase ran"));
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn a_rate_phase_adds_its_columns_tiles_and_line_and_only_then() {
        // The page's body (the tooltip script knows the line's name).
        let plain = body(&summary(true), Page::Archived);
        for absent in ["intended start", "dropped", "iterations/s"] {
            assert!(!plain.contains(absent), "{absent} in a run of users");
        }
        let html = render(&rate_summary());
        for needle in [
            // Header tiles, named apart from the response times.
            "<span>p99 from intended start</span><b>1,900 ms</b>",
            "<div class=\"tile bad\"><span>dropped iterations</span><b>7</b>",
            // The plan: the rate phase's rate and arrivals.
            "<th class=\"n\">iterations/s</th>",
            "<td class=\"n\">40.0 poisson</td>",
            "<td class=\"n dim\">–</td>",
            // Occurrences: the rate phase's p99 and drops; the others' none.
            ">p99 from intended start</th><th class=\"n\" title=\"iterations no user",
            "<td class=\"n\">1,900</td><td class=\"n bad\">7</td>",
            "<td class=\"n\">–</td><td class=\"n dim\">–</td>",
            // The chart's line, and the tooltip's value.
            "<span class=\"sw\" style=\"background:#b07aa1\"></span>p99 from intended start</span>",
            ",10,30,50,1900]",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        // Every per-name table has the column: its rows' cells line up.
        let names = html.matches("<table class=\"names\">").count();
        assert_eq!(
            html.matches(">p99 from intended start</th></tr>").count(),
            names
        );
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn rate_figures_keep_hostile_names_escaped() {
        let mut s = rate_summary();
        s.phases[1].counted.requests[0].name = "</td><script>alert(1)</script>".into();
        let html = render(&s);
        assert!(!html.contains("<script>alert(1)"));
        assert_eq!(html.matches("<script").count(), 2);
    }

    #[test]
    fn type_names_as_the_config_writes_them() {
        assert_eq!(short("NormalUser"), "Normal");
        assert_eq!(short("User"), "User");
        assert_eq!(short("Browser"), "Browser");
    }
}
