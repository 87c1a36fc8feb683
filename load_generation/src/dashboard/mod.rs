//! The live dashboard: a page served by loadgen itself that follows the run
//! and drives it. Nothing is fetched from elsewhere (no CDN, fonts or
//! scripts), so it works offline and through `kubectl port-forward`.
//!
//! The rooms:
//! - this file: [`Dashboard`], an [`Observer`] that turns what the run says
//!   into frames (JSON, as server-sent events) and keeps the latest of each for
//!   a page that connects later ([`Hub`]);
//! - [`server`]: the page, the event stream and the control API under `/api`
//!   (the same routes as `--control-addr`, so every button is an API call);
//! - `page.html`, `dashboard.js`: the page. Below its schedule, controls and
//!   health it shows the run's sections drawn by `report::html` itself, every
//!   2 s: what people saw live is what report.html archives.
//!
//! Bounded: frames are made once and shared by every open page (a broadcast
//! channel of [`BACKLOG`] frames; a page that falls behind gets the latest
//! state again), the report is drawn off the run loop at most every
//! [`REDRAW`], and at most [`MAX_STREAMS`] pages follow at once.

pub mod server;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::config::UserTypeName;
use crate::plan::Plan;
use crate::report::{html, Summary};
use crate::runner::{Observer, Status};
use crate::stats::{Recorder, RunEvent};
use crate::verdict::Publish;

/// Frames kept for pages that fall behind before they get the latest state again.
const BACKLOG: usize = 64;
/// How often the report's sections are drawn again.
const REDRAW: Duration = Duration::from_secs(2);
/// The latest events a page that connects is shown.
const EVENTS_KEPT: usize = 50;
/// Pages that may follow the run at once.
pub const MAX_STREAMS: usize = 256;

/// One server-sent event, ready to write: `event: KIND\ndata: JSON\n\n`.
pub type Frame = Arc<str>;

fn frame(kind: &str, data: &serde_json::Value) -> Frame {
    // serde_json writes no raw newline: one `data:` line holds the whole value.
    format!("event: {kind}\ndata: {data}\n\n").into()
}

/// What every page is sent, and what one that connects now gets first.
pub struct Hub {
    frames: broadcast::Sender<Frame>,
    latest: Mutex<Latest>,
}

#[derive(Default)]
struct Latest {
    plan: Option<Frame>,
    status: Option<Frame>,
    report: Option<Frame>,
    /// The latest events and notes, with their text.
    events: VecDeque<(String, Frame)>,
    thresholds: BTreeMap<(String, String), Frame>,
    ended: Option<Frame>,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            frames: broadcast::channel(BACKLOG).0,
            latest: Mutex::new(Latest::default()),
        })
    }

    /// The frames a page starts from, and the live ones after them (subscribed
    /// first, so nothing falls between).
    pub fn follow(&self) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let live = self.frames.subscribe();
        (self.state(), live)
    }

    /// The latest of everything, in the order a page builds itself.
    pub fn state(&self) -> Vec<Frame> {
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Frame> = Vec::new();
        out.extend(latest.plan.clone());
        out.extend(latest.status.clone());
        out.extend(latest.report.clone());
        out.extend(latest.events.iter().map(|(_, f)| f.clone()));
        out.extend(latest.thresholds.values().cloned());
        out.extend(latest.ended.clone());
        out
    }

    fn send(&self, keep: impl FnOnce(&mut Latest, Frame), frame: Frame) {
        {
            let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
            keep(&mut latest, frame.clone());
        }
        // No page open is no error.
        let _ = self.frames.send(frame);
    }
}

/// Thresholds, as the verdict judges them, go to the page too.
impl Publish for Arc<Hub> {
    fn threshold(&self, expr: &str, scope: &str, all_passed: bool) {
        let f = frame(
            "threshold",
            &json!({"expr": expr, "scope": scope, "passed": all_passed}),
        );
        self.send(
            |l, f| {
                l.thresholds
                    .insert((expr.to_string(), scope.to_string()), f);
            },
            f,
        );
    }
}

/// The observer that feeds the hub.
pub struct Dashboard {
    hub: Arc<Hub>,
    /// The plan last sent (a reload sends the new one).
    plan_sent: Option<String>,
    last_drawn: Option<Instant>,
    drawing: Option<std::thread::JoinHandle<()>>,
}

impl Dashboard {
    pub fn new(hub: Arc<Hub>) -> Dashboard {
        Dashboard {
            hub,
            plan_sent: None,
            last_drawn: None,
            drawing: None,
        }
    }

    fn send_plan(&mut self, status: &Status) {
        let plan = plan_json(status.plan, status.run_time);
        let text = plan.to_string();
        if self.plan_sent.as_deref() == Some(text.as_str()) {
            return;
        }
        self.hub.send(|l, f| l.plan = Some(f), frame("plan", &plan));
        self.plan_sent = Some(text);
    }

    fn send_status(&self, status: &Status, recorder: &Recorder) {
        let f = frame("status", &status_json(status, recorder));
        self.hub.send(|l, f| l.status = Some(f), f);
    }

    /// Draws the report's sections from a copy of the record, on its own
    /// thread: the run loop only copies.
    fn draw(&mut self, status: &Status, recorder: &Recorder, force: bool) {
        let now = Instant::now();
        let due = force
            || self
                .last_drawn
                .is_none_or(|t| now.duration_since(t) >= REDRAW);
        if !due || self.drawing.as_ref().is_some_and(|d| !d.is_finished()) {
            return;
        }
        let record = recorder.snapshot(status.elapsed.as_secs_f64());
        let plan = status.plan.clone();
        let hub = self.hub.clone();
        let drawn = std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || {
                let mut summary = Summary::new(&record, &plan);
                summary.thresholds.clear();
                let body = html::body(&summary, html::Page::Live);
                hub.send(|l, f| l.report = Some(f), frame("report", &json!(body)));
            });
        if let Ok(handle) = drawn {
            self.drawing = Some(handle);
        }
        self.last_drawn = Some(now);
    }
}

impl Observer for Dashboard {
    fn phase_started(&mut self, status: &Status) {
        self.send_plan(status);
    }

    fn recorded(&mut self, status: &Status, recorder: &Recorder) {
        self.send_plan(status);
        self.send_status(status, recorder);
        self.draw(status, recorder, false);
    }

    fn note(&mut self, message: &str) {
        let f = frame("event", &json!({"kind": "note", "text": message}));
        self.hub
            .send(|l, f| keep_event(&mut l.events, message, f), f);
    }

    fn event(&mut self, event: &RunEvent) {
        // Said as a note just before: the page shows it once, with its kind.
        let f = frame(
            "event",
            &json!({"kind": event.kind, "text": event.detail, "at_s": event.at_s}),
        );
        self.hub.send(
            |l, f| {
                if l.events
                    .back()
                    .is_some_and(|(text, _)| *text == event.detail)
                {
                    l.events.pop_back();
                }
                keep_event(&mut l.events, &event.detail, f);
            },
            f,
        );
    }

    fn finished(&mut self) {
        if let Some(drawing) = self.drawing.take() {
            let _ = drawing.join();
        }
        self.hub
            .send(|l, f| l.ended = Some(f), frame("ended", &json!({})));
    }
}

fn keep_event(events: &mut VecDeque<(String, Frame)>, text: &str, f: Frame) {
    if events.len() == EVENTS_KEPT {
        events.pop_front();
    }
    events.push_back((text.to_string(), f));
}

/// One phase of the schedule, as the page draws its timeline.
#[derive(Serialize)]
struct PhaseView {
    number: usize,
    name: Option<String>,
    duration_s: f64,
    /// Users per type (config names), those with none left out: a rate
    /// phase's pool.
    users: BTreeMap<String, u32>,
    /// A rate phase's iterations per second per type; empty for a phase of users.
    rates: BTreeMap<String, f64>,
}

fn plan_json(plan: &Plan, run_time: Option<Duration>) -> serde_json::Value {
    let types: Vec<&str> = plan.user_types.iter().map(UserTypeName::as_str).collect();
    let phases: Vec<PhaseView> = plan
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| PhaseView {
            number: p.number,
            name: p.name.clone(),
            duration_s: p.duration.as_secs_f64(),
            users: types
                .iter()
                .zip(plan.targets(i))
                .filter(|(_, n)| *n > 0)
                .map(|(t, n)| (t.to_string(), n))
                .collect(),
            rates: types
                .iter()
                .zip(plan.rates(i).unwrap_or_default())
                .filter(|(_, r)| *r > 0.0)
                .map(|(t, r)| (t.to_string(), r))
                .collect(),
        })
        .collect();
    json!({
        "types": types,
        "phases": phases,
        "cycle_s": plan.cycle().as_secs_f64(),
        "run_time_s": run_time.map(|t| t.as_secs_f64()),
    })
}

fn status_json(status: &Status, recorder: &Recorder) -> serde_json::Value {
    let api = status.api(recorder.record());
    json!({
        "api": api,
        "types": status.plan.user_types.iter().map(UserTypeName::as_str).collect::<Vec<_>>(),
        "targets": status.targets,
        "commanded": status.commanded,
        "actual": status.actual,
        "position_s": status.position.as_secs_f64(),
        "saturated": status.saturated,
        "short": status.short,
        "delivery": status.delivery,
        "workers": status.workers,
        "dropping": status.dropping,
        "dropped": recorder.record().dropped().0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| {
                f.strip_prefix("event: ")
                    .and_then(|r| r.split('\n').next())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_page_that_connects_late_gets_the_latest_of_everything_once() {
        let hub = Hub::new();
        let mut d = Dashboard::new(hub.clone());
        d.note("loadgen: a warning");
        // A run event is said as a note first, then as the event: kept once.
        d.note("control: paused");
        d.event(&RunEvent {
            at_s: 1.0,
            kind: "pause".into(),
            detail: "control: paused".into(),
        });
        hub.threshold("p95 > 500ms", "phase", true);
        hub.threshold("p95 > 500ms", "phase", false);
        let (state, _live) = hub.follow();
        assert_eq!(kinds(&state), ["event", "event", "threshold"]);
        assert!(state[1].contains("\"kind\":\"pause\""), "{}", state[1]);
        assert!(
            state[2].contains("\"passed\":false"),
            "the latest judgment: {}",
            state[2]
        );
        for f in &state {
            assert!(
                f.ends_with("\n\n") && f.matches('\n').count() == 3,
                "one data line: {f:?}"
            );
        }
    }

    #[test]
    fn events_kept_are_bounded() {
        let hub = Hub::new();
        let mut d = Dashboard::new(hub.clone());
        for i in 0..500 {
            d.note(&format!("note {i}\nwith a second line"));
        }
        let state = hub.state();
        assert_eq!(state.len(), EVENTS_KEPT);
        assert!(
            state[EVENTS_KEPT - 1].contains("note 499\\nwith"),
            "{}",
            state[EVENTS_KEPT - 1]
        );
    }

    #[test]
    fn live_pages_get_frames_as_they_are_made() {
        let hub = Hub::new();
        let (_, mut live) = hub.follow();
        Dashboard::new(hub.clone()).note("hello");
        let f = live.try_recv().expect("a frame");
        assert_eq!(
            &*f,
            "event: event\ndata: {\"kind\":\"note\",\"text\":\"hello\"}\n\n"
        );
    }
}
