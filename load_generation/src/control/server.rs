//! The control API's HTTP server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::host::{self, AllowedHosts};
use super::{Action, Refusal, Request};
use crate::diagnostic::BadInput;

/// How long a call waits for the run loop (which may be restarting Locust).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Shared {
    token: Option<String>,
    requests: mpsc::Sender<Request>,
}

/// Serves the control API on `addr` until the returned task is aborted. Beyond
/// loopback a token is required: anyone who can reach the port could otherwise
/// steer the load.
pub async fn serve(
    addr: SocketAddr,
    token: Option<String>,
    allowed: AllowedHosts,
    requests: mpsc::Sender<Request>,
) -> Result<JoinHandle<()>> {
    let token = token.filter(|t| !t.is_empty());
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(BadInput(format!(
            "--control-addr {addr} is reachable from other machines: give a token with --control-token \
             (or LOADGEN_CONTROL_TOKEN), or bind to 127.0.0.1"
        ))
        .into());
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve the control API on --control-addr {addr}"))?;
    let app =
        router(token, requests).layer(axum::middleware::from_fn_with_state(allowed, host::check));
    tracing::info!("control API at http://{}", listener.local_addr()?);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the control API stopped: {e}");
        }
    }))
}

/// The API's routes, for its own server and for the dashboard's (under `/api`).
pub fn router<S>(token: Option<String>, requests: mpsc::Sender<Request>) -> Router<S> {
    Router::new()
        .route("/status", get(|s, h| call(s, h, Ok(Action::Status))))
        .route("/phase/{n}", post(phase))
        .route("/pause", post(|s, h| call(s, h, Ok(Action::Pause))))
        .route("/resume", post(|s, h| call(s, h, Ok(Action::Resume))))
        .route("/scale", post(scale))
        .with_state(Shared {
            token: token.filter(|t| !t.is_empty()),
            requests,
        })
}

async fn phase(state: State<Shared>, headers: HeaderMap, Path(n): Path<String>) -> Response {
    let action = match n.as_str() {
        "next" => Ok(Action::Next),
        _ => match n.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Action::Jump(n - 1)),
            _ => Err(format!(
                "/phase/{n}: expected a phase number from 1, or `next`"
            )),
        },
    };
    call(state, headers, action).await
}

/// `POST /scale` with the factor as the body: `1.5` or `{"factor": 1.5}`.
async fn scale(state: State<Shared>, headers: HeaderMap, body: String) -> Response {
    let body = body.trim();
    let factor = body.parse::<f64>().ok().or_else(|| {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["factor"].as_f64())
    });
    let action = factor.map(Action::Scale).ok_or_else(|| {
        format!(
            "/scale: expected a factor as the body (`1.5` or {{\"factor\": 1.5}}), got {body:?}"
        )
    });
    call(state, headers, action).await
}

async fn call(
    State(shared): State<Shared>,
    headers: HeaderMap,
    action: Result<Action, String>,
) -> Response {
    if let Some(why) = cross_site(&headers) {
        return refuse(StatusCode::FORBIDDEN, &why);
    }
    if let Some(token) = &shared.token {
        if !bearer_is(&headers, token) {
            return refuse(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        }
    }
    let action = match action {
        Ok(a) => a,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, &why),
    };
    let (reply, answer) = oneshot::channel();
    if shared
        .requests
        .send(Request { action, reply })
        .await
        .is_err()
    {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the run is over");
    }
    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(Ok(Ok(status))) => Json(status).into_response(),
        Ok(Ok(Err(why))) => refuse(StatusCode::CONFLICT, &why),
        _ => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the run did not answer in time",
        ),
    }
}

/// Whether the call carries `Authorization: Bearer TOKEN` with this token.
pub fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// A browser's call from another site's page: refused, whatever the token.
/// Without a token on loopback, any page the presenter opens could otherwise
/// POST to `127.0.0.1` and steer the run (a simple POST needs no preflight).
/// Browsers send `Origin` with every cross-origin call (and Chromium with a
/// same-origin POST); `loadgen ctl`, curl and scripts send none, and pass.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    let origin = headers.get("origin")?.to_str().unwrap_or("?");
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    (origin_host != host).then(|| {
        format!("a call from the page of another site ({origin}) is refused: the API is driven from its own dashboard, `loadgen ctl` or a script")
    })
}

fn refuse(code: StatusCode, why: &str) -> Response {
    let body = Refusal {
        error: why.to_string(),
    };
    (code, Json(body)).into_response()
}

/// Compares without stopping at the first difference, so timing doesn't leak
/// how much of a guessed token was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("a header value"));
        }
        h
    }

    #[test]
    fn another_sites_page_is_refused_and_the_dashboard_and_scripts_pass() {
        let own = headers(&[
            ("host", "127.0.0.1:8089"),
            ("origin", "http://127.0.0.1:8089"),
        ]);
        assert_eq!(cross_site(&own), None);
        let script = headers(&[("host", "127.0.0.1:8089")]);
        assert_eq!(cross_site(&script), None, "no Origin: ctl, curl");
        let evil = headers(&[
            ("host", "127.0.0.1:8089"),
            ("origin", "https://evil.example"),
        ]);
        assert!(cross_site(&evil).is_some_and(|w| w.contains("evil.example")));
        let other_port = headers(&[
            ("host", "127.0.0.1:8089"),
            ("origin", "http://127.0.0.1:3000"),
        ]);
        assert!(cross_site(&other_port).is_some());
    }

    #[test]
    fn the_token_is_a_bearer_header() {
        assert!(bearer_is(
            &headers(&[("authorization", "Bearer s3cret")]),
            "s3cret"
        ));
        assert!(!bearer_is(
            &headers(&[("authorization", "Bearer s3cre")]),
            "s3cret"
        ));
        assert!(!bearer_is(
            &headers(&[("authorization", "s3cret")]),
            "s3cret"
        ));
        assert!(!bearer_is(&HeaderMap::new(), "s3cret"));
    }
}
