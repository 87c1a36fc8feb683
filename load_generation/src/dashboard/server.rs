//! The dashboard's HTTP server: the page, the event stream, and the control
//! API under `/api` (unless read-only).
//!
//! Security: a page is only as safe as the run it drives. Beyond loopback the
//! dashboard needs the control token (see `app::setup`); with a token, the
//! event stream and every call need it as a bearer header, which the page asks
//! for once and keeps in `sessionStorage` (never a URL or a cookie, so another
//! site's page can't make the browser send it). Calls from another site's page
//! are refused whatever the token (`control::server`), and so is every call
//! for a `Host` that DNS rebinding could have pointed here (`control::host`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::{Frame, Hub, MAX_STREAMS};
use crate::control;
use crate::control::host::AllowedHosts;
use crate::diagnostic::BadInput;
use crate::report::html::{escape, CSS, SCRIPT};

const PAGE: &str = include_str!("page.html");
const PAGE_SCRIPT: &str = include_str!("dashboard.js");
/// A comment line this often keeps proxies (and `kubectl port-forward`) from
/// closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How the dashboard is served.
pub struct Options {
    pub addr: SocketAddr,
    /// The control token: required by the stream and every call when set.
    pub token: Option<String>,
    /// The control API's requests; `None` shows the page without controls.
    pub control: Option<mpsc::Sender<control::Request>>,
    /// The run's name, in the page's title (the config's file name).
    pub title: String,
    /// The `Host` names it answers to besides addresses and `localhost`.
    pub allowed_hosts: AllowedHosts,
}

#[derive(Clone)]
struct Shared {
    hub: Arc<Hub>,
    token: Option<String>,
    read_only: bool,
    title: String,
    streams: Arc<AtomicUsize>,
}

/// Serves the dashboard until the returned task is aborted; the address it
/// listens on (a port 0 is given one).
pub async fn serve(options: Options, hub: Arc<Hub>) -> Result<(SocketAddr, JoinHandle<()>)> {
    let token = options.token.filter(|t| !t.is_empty());
    if !options.addr.ip().is_loopback() && token.is_none() && options.control.is_some() {
        return Err(BadInput(format!(
            "--dashboard {} is reachable from other machines, and its buttons drive the run: \
             give a token with --control-token (or LOADGEN_CONTROL_TOKEN), add \
             --dashboard-read-only, or bind to 127.0.0.1",
            options.addr
        ))
        .into());
    }
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot serve the dashboard on {}", options.addr))?;
    let addr = listener.local_addr()?;
    let shared = Shared {
        hub,
        token: token.clone(),
        read_only: options.control.is_none(),
        title: options.title,
        streams: Arc::new(AtomicUsize::new(0)),
    };
    let mut app = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .with_state(shared);
    if let Some(requests) = options.control {
        app = app.nest("/api", control::server::router(token, requests));
    }
    // Every route, the page and the stream included (rebinding reads as well
    // as steers).
    let app = app.layer(axum::middleware::from_fn_with_state(
        options.allowed_hosts,
        control::host::check,
    ));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the dashboard stopped: {e}");
        }
    });
    Ok((addr, task))
}

async fn page(State(shared): State<Shared>) -> Response {
    let html = PAGE
        .replace("{{title}}", &escape(&shared.title))
        .replace("{{read_only}}", if shared.read_only { "1" } else { "0" })
        .replace("{{token}}", if shared.token.is_some() { "1" } else { "0" })
        .replace("{{style}}", CSS)
        .replace("{{tooltips}}", SCRIPT)
        .replace("{{script}}", PAGE_SCRIPT);
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src data:; connect-src 'self'; frame-ancestors 'none'",
            ),
        ],
        Html(html),
    )
        .into_response()
}

/// The run as server-sent events: the latest state first, then every frame
/// as it is made.
async fn events(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(token) = &shared.token {
        if !control::server::bearer_is(&headers, token) {
            return (StatusCode::UNAUTHORIZED, "a valid bearer token is required").into_response();
        }
    }
    // Counted while the stream lives; beyond the limit a page is turned away.
    let open = shared.streams.fetch_add(1, Ordering::SeqCst);
    let slot = Slot(shared.streams.clone());
    if open >= MAX_STREAMS {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_STREAMS} pages follow this run already"),
        )
            .into_response();
    }
    let (first, live) = shared.hub.follow();
    let hub = shared.hub.clone();
    let stream = futures_stream(first, live, hub, slot);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Releases a stream's place when the stream ends (the page closed).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The frames of one page: `first`, then the live ones; after falling behind,
/// the latest state again; a keep-alive comment when quiet.
fn futures_stream(
    first: Vec<Frame>,
    live: broadcast::Receiver<Frame>,
    hub: Arc<Hub>,
    slot: Slot,
) -> impl futures_util::Stream<Item = Result<String, std::convert::Infallible>> {
    struct Follow {
        pending: std::collections::VecDeque<Frame>,
        live: broadcast::Receiver<Frame>,
        hub: Arc<Hub>,
        _slot: Slot,
    }
    let state = Follow {
        pending: first.into(),
        live,
        hub,
        _slot: slot,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(f) = s.pending.pop_front() {
                return Some((Ok(f.to_string()), s));
            }
            match tokio::time::timeout(KEEP_ALIVE, s.live.recv()).await {
                Ok(Ok(f)) => return Some((Ok(f.to_string()), s)),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                    s.pending = s.hub.state().into();
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Err(_) => return Some((Ok(": keep-alive\n\n".to_string()), s)),
            }
        }
    })
}
