//! `stats.csv`: one row per phase occurrence and request name (plus a row per
//! occurrence for all names, and rows for the whole run).

use super::summary::{RequestSummary, Summary};
use crate::stats::Figures;

const HEADER: &str = "phase,loop,start_s,end_s,method,name,requests,failures,requests_per_s,mean_ms,p50_ms,p90_ms,p95_ms,p99_ms,max_ms";

pub fn render(summary: &Summary) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for p in &summary.phases {
        let place = format!(
            "{},{},{:.3},{:.3}",
            p.phase, p.loop_number, p.start_s, p.end_s
        );
        rows(&mut out, &place, &p.requests, &p.total);
    }
    rows(
        &mut out,
        &format!("all,,0.000,{:.3}", summary.duration_s),
        &summary.total.requests,
        &summary.total.total,
    );
    out
}

fn rows(out: &mut String, place: &str, requests: &[RequestSummary], total: &Figures) {
    for r in requests {
        out.push_str(&format!(
            "{place},{},{},{}\n",
            field(&r.method),
            field(&r.name),
            figures(&r.figures)
        ));
    }
    out.push_str(&format!("{place},,Aggregated,{}\n", figures(total)));
}

fn figures(f: &Figures) -> String {
    format!(
        "{},{},{:.3},{:.3},{},{},{},{},{}",
        f.requests,
        f.failures,
        f.requests_per_s,
        f.mean_ms,
        f.p50_ms,
        f.p90_ms,
        f.p95_ms,
        f.p99_ms,
        f.max_ms
    )
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(super::field("/cart"), "/cart");
        assert_eq!(super::field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
