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
mod sections;
mod series;

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
    series::tooltip_data(&mut out, summary);
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::summary::{PlannedPhase, RequestSummary, Totals};
    use crate::stats::{Ended, ExceptionRecord, Figures, RunEvent, TimePoint};

    fn figures(requests: u64, failures: u64, seconds: f64) -> Figures {
        Figures {
            requests,
            failures,
            requests_per_s: requests as f64 / seconds,
            mean_ms: 12.5,
            p50_ms: 10,
            p90_ms: 20,
            p95_ms: 30,
            p99_ms: 50,
            max_ms: 120,
            intended: None,
        }
    }

    fn users(types: &[&str], counts: &[u32]) -> BTreeMap<String, u32> {
        types
            .iter()
            .map(|t| t.to_string())
            .zip(counts.iter().copied())
            .collect()
    }

    /// Two phases of 10 s, run for 25 s (so phase 1 of loop 2 too), sampled
    /// every 0.5 s, with hostile request names and a failure message.
    fn summary(with_series: bool) -> Summary {
        let types = ["AUser", "BUser"];
        let evil = RequestSummary {
            method: "GET".into(),
            name: "/search?q=<script>alert('x')</script>&next=https://evil.example/".into(),
            figures: figures(40, 2, 10.0),
        };
        let plain = RequestSummary {
            method: "POST".into(),
            name: "/cart".into(),
            figures: figures(60, 0, 10.0),
        };
        let occurrence = |phase: usize, loop_number: u64, start_s: f64, end_s: f64| {
            let target = if phase == 1 { [3, 0] } else { [2, 2] };
            PhaseSummary {
                index: phase - 1,
                phase,
                loop_number,
                start_s,
                end_s,
                started_at: "2026-01-01T00:00:00.000Z".into(),
                ended_at: "2026-01-01T00:00:10.000Z".into(),
                target_users: users(&types, &target),
                actual_users_end: users(&types, &target),
                actual_users_plateau: types
                    .iter()
                    .map(|t| t.to_string())
                    .zip(target.iter().map(|&n| f64::from(n)))
                    .collect(),
                restarts: 0,
                requests: vec![evil.clone(), plain.clone()],
                total: figures(100, 2, end_s - start_s),
                errors: [(
                    "GET /search: HTTPError('500 Server Error: <b>oops</b> for url: http://127.0.0.1/search')".to_string(),
                    2,
                )]
                .into_iter()
                .collect(),
                errors_count: 0,
                name: None,
                saturated: false,
                delivery: None,
                short: false,
            }
        };
        let phases = vec![
            occurrence(1, 1, 0.0, 10.0),
            occurrence(2, 1, 10.0, 20.0),
            occurrence(1, 2, 20.0, 25.0),
        ];
        let series = if with_series {
            (1..=50)
                .map(|i| {
                    let t = i as f64 * 0.5;
                    let (phase_index, loop_index) = match t {
                        t if t <= 10.0 => (0, 0),
                        t if t <= 20.0 => (1, 0),
                        _ => (0, 1),
                    };
                    let target = if phase_index == 0 {
                        vec![3, 0]
                    } else {
                        vec![2, 2]
                    };
                    TimePoint {
                        t,
                        seconds: 0.5,
                        phase_index,
                        loop_index,
                        target_users: target.clone(),
                        actual_users: target,
                        requests_per_s: 10.0,
                        failures_per_s: if i % 10 == 0 { 2.0 } else { 0.0 },
                        p50_ms: 10,
                        p95_ms: 30,
                        p99_ms: 50,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Summary {
            schema_version: 1,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            duration_s: 25.0,
            ended: Ended::Completed,
            ended_reason: None,
            restarts: 0,
            user_types: types.iter().map(|t| t.to_string()).collect(),
            plan: vec![
                PlannedPhase {
                    phase: 1,
                    duration_s: 10.0,
                    hatch_rate_per_s: 10,
                    users: users(&types, &[3, 0]),
                },
                PlannedPhase {
                    phase: 2,
                    duration_s: 10.0,
                    hatch_rate_per_s: 10,
                    users: users(&types, &[2, 2]),
                },
            ],
            phases,
            total: Totals {
                requests: vec![evil, plain],
                total: figures(250, 5, 25.0),
                delivery: None,
            },
            exceptions: vec![ExceptionRecord {
                message: "ValueError: <bad> & \"worse\"".into(),
                traceback: "Traceback (most recent call last):\n  File \"locustfile.py\", line 9\nValueError: <bad>".into(),
                count: 3,
            }],
            series,
            events: vec![RunEvent {
                at_s: 12.5,
                kind: "scale".into(),
                detail: "control: every phase's users scaled by 1.5 <b>".into(),
            }],
            events_dropped: 0,
            thresholds: Vec::new(),
            occurrences_folded: 0,
            folded: Vec::new(),
        }
    }

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
        let template = summary.series[0].clone();
        let mut series = crate::stats::Series::default();
        for i in 1..=7 * 86_400 * 2 {
            series.push(TimePoint {
                t: f64::from(i) * 0.5,
                requests_per_s: f64::from(i % 11),
                ..template.clone()
            });
        }
        summary.series = series.points().cloned().collect();
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
            texts.extend(p.errors.keys().cloned());
            texts.extend(p.requests.iter().map(|r| r.name.clone()));
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
        s.total.total = figures(0, 0, 25.0);
        s.total.requests.clear();
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
        s.total.total.requests = u64::MAX;
        let html = render(&s);
        assert!(html.contains("18,446,744,073,709,551,615"));
        assert!(!html.contains("NaN") && !html.contains(">inf"));
        let mut s = summary(false);
        s.duration_s = 0.0;
        s.phases.clear();
        s.total.total = figures(0, 0, 1.0);
        let html = render(&s);
        assert!(html.contains("No phase ran"));
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn type_names_as_the_config_writes_them() {
        assert_eq!(short("NormalUser"), "Normal");
        assert_eq!(short("User"), "User");
        assert_eq!(short("Browser"), "Browser");
    }
}
