//! The built-in demo shop: a small stand-in for the frontend of Google's
//! "hipster shop" (Online Boutique).
//!
//! It exists so that `loadgen` can be tried, demonstrated and tested end to
//! end without deploying the real microservices demo: it serves the same
//! routes the hipster shop Locust template calls, keeps per-session state
//! (currency, cart) behind a session cookie like the real frontend, and
//! answers after a few milliseconds so response times look plausible.
//!
//! Unlike the real shop it also keeps a **request log** that tests read back
//! through `GET /_shop/requests` to check, from the server's side, that a load
//! really had the shape it was configured with (who came when, as which user
//! type). The `/_shop/...` routes are for that bookkeeping only and are never
//! logged or counted themselves.
//!
//! Deliberate differences from the real frontend: `POST /setCurrency` and
//! `POST /cart` answer `200` with a page instead of a `302` redirect, so every
//! request a Locust task makes is exactly one entry in the request log.
//! It also answers `GET /api/product/{id}` with JSON, which the real frontend
//! does not have, so that loads can exercise a JSON API (Locust's `rest()`).
//!
//! It can also **stall** (`ShopOptions::stall`, `--stall EVERY/FOR`): for the
//! last FOR of every EVERY since it started, each request is held until the
//! stall is over and only then answered, as a backend frozen by a GC pause or
//! a lock would. The log keeps each request's arrival beside its answer, so
//! tests can tell when requests were sent from when they were served.
//!
//! The rooms: this file holds the shop's state (sessions, the request log,
//! counters); `routes.rs` the route table, the tracking middleware and one
//! handler per route; `pages.rs` the catalogue and the HTML it answers with.

mod pages;
mod routes;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Name of the cookie carrying the session id, as a browser would keep it.
pub const SESSION_COOKIE: &str = "shop_session_id";
/// Request header whose value is logged as the request's user type; loadgen's
/// generated Locust users send it so tests can tell user types apart.
pub const USER_TYPE_HEADER: &str = "x-user-type";

/// Sessions unused this long are forgotten, so a demo left running for days
/// does not grow without bound.
const SESSION_IDLE_LIMIT: Duration = Duration::from_secs(10 * 60);
/// Hard cap on live sessions (cookie-less clients create one per request).
const MAX_SESSIONS: usize = 100_000;
/// How often idle sessions are swept; sweeping on every request would cost a
/// full scan each time.
const SESSION_SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// The request log keeps only this many most recent entries (~80 bytes each).
const MAX_LOG_ENTRIES: usize = 2_000_000;
/// Most entries one `GET /_shop/requests` returns, so a single poll stays a
/// reasonable size; pollers page on with `since=<next>`.
const MAX_PAGE: usize = 100_000;
/// Most distinct strings (user types, routes, methods) shared between log
/// entries; beyond that each entry gets its own copy. Bounds memory even if
/// clients send endless distinct `X-User-Type` values.
const MAX_INTERNED: usize = 1024;
/// Route name logged for requests that matched no route.
const UNMATCHED_ROUTE: &str = "(unmatched)";

/// How the demo shop behaves.
#[derive(Debug, Clone)]
pub struct ShopOptions {
    /// Each request waits a uniformly random number of milliseconds from this
    /// range before it is handled, imitating the real shop's backend calls.
    /// Tests use `0..=0` to run fast.
    pub latency_ms: RangeInclusive<u64>,
    /// Periodic stalls (none by default): requests arriving during one are held
    /// until it ends, then handled as usual (latency included).
    pub stall: Option<Stall>,
}

impl Default for ShopOptions {
    fn default() -> Self {
        Self {
            latency_ms: 1..=8,
            stall: None,
        }
    }
}

/// The longest period between stalls [`Stall::new`] takes.
const MAX_STALL_EVERY: Duration = Duration::from_secs(24 * 3600);

/// A target that freezes periodically: the last `hold` of every `every`,
/// counted from the shop's start (with `5s/1s`: from 4 s to 5 s, from 9 s to
/// 10 s, ...). The shop starts serving normally, so it can be waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    every: Duration,
    hold: Duration,
}

impl Stall {
    /// A stall of `hold` in every `every`; `hold` must be shorter than `every`
    /// and not zero (so there is time between stalls to serve).
    pub fn new(every: Duration, hold: Duration) -> Result<Stall, String> {
        if hold.is_zero() {
            return Err("a stall must last longer than 0".into());
        }
        if every > MAX_STALL_EVERY {
            return Err(format!(
                "stalls every {every:?} are too rare to matter: EVERY may be at most a day"
            ));
        }
        if hold >= every {
            return Err(format!(
                "a stall of {hold:?} in every {every:?} leaves no time to serve: FOR must be shorter than EVERY"
            ));
        }
        Ok(Stall { every, hold })
    }

    pub fn every(&self) -> Duration {
        self.every
    }

    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// For a request arriving `at` after the shop's start: the end of the
    /// stall it arrives in (since the shop's start), or `None` when the shop
    /// is not stalled then. A stall's end itself is outside it.
    pub fn held_until(&self, at: Duration) -> Option<Duration> {
        // `new` keeps `every` within a day, so these nanoseconds fit a u64,
        // and above `hold`, which is above 0.
        let into = Duration::from_nanos((at.as_nanos() % self.every.as_nanos()) as u64);
        (into >= self.every - self.hold).then(|| at - into + self.every)
    }
}

/// What the shop has served so far (`GET /_shop/counters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopCounters {
    /// Requests served, `/_shop/...` excluded.
    pub total_requests: u64,
    /// Requests per `"<METHOD> <route pattern>"`, e.g. `"GET /product/{id}"`.
    pub routes: BTreeMap<String, u64>,
    /// Requests per response status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests per `User-Agent` (cut at 80 bytes; the first 32 distinct ones,
    /// the rest as `(other)`): which HTTP client sent them, as the target sees it.
    #[serde(default)]
    pub clients: BTreeMap<String, u64>,
    /// Sessions (cookies) handed out since start.
    pub sessions_created: u64,
    /// Sessions currently remembered (not yet idle-evicted).
    pub sessions_active: u64,
}

/// One entry of the request log, as `GET /_shop/requests` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// Seconds since the shop started, taken when the response was ready; the
    /// log is in this order.
    pub t: f64,
    /// Seconds since the shop started, taken when the request arrived (before
    /// any stall or latency): when the client sent it, as near as the shop can
    /// tell. 0 from shops older than this field.
    #[serde(default)]
    pub arrived: f64,
    /// Session id (the `shop_session_id` cookie) the request ran in.
    pub session: String,
    /// The `X-User-Type` header, if the request had one.
    pub user_type: Option<String>,
    pub method: String,
    /// Route pattern, e.g. `/product/{id}`, or `(unmatched)`.
    pub route: String,
    pub status: u16,
    /// The W3C `traceparent` header, if the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The W3C `baggage` header, if the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baggage: Option<String>,
}

/// Body of `GET /_shop/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPage {
    /// When the shop started, in seconds since the Unix epoch: `started_at + t`
    /// is an entry's wall-clock time, to compare with the times a load
    /// generator reports.
    pub started_at: f64,
    /// Pass as `since` to get the entries after these.
    pub next: u64,
    pub requests: Vec<LoggedRequest>,
}

/// The demo shop. Cheap to clone: all state is shared.
#[derive(Clone)]
pub struct DemoShop {
    inner: Arc<Inner>,
}

struct Inner {
    options: ShopOptions,
    started: Instant,
    /// `started` on the wall clock (seconds since the Unix epoch).
    started_at: f64,
    sessions: Mutex<Sessions>,
    log: Mutex<RequestLog>,
}

impl DemoShop {
    pub fn new(options: ShopOptions) -> Self {
        let now = Instant::now();
        Self {
            inner: Arc::new(Inner {
                options,
                started: now,
                started_at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                sessions: Mutex::new(Sessions {
                    by_id: HashMap::new(),
                    created: 0,
                    last_sweep: now,
                }),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    pub fn counters(&self) -> ShopCounters {
        let (sessions_created, sessions_active) = {
            let sessions = lock(&self.inner.sessions);
            (sessions.created, sessions.by_id.len() as u64)
        };
        let log = lock(&self.inner.log);
        ShopCounters {
            total_requests: log.total,
            routes: log.by_route.clone(),
            statuses: log.by_status.clone(),
            clients: log.by_client.clone(),
            sessions_created,
            sessions_active,
        }
    }

    /// Up to `limit` log entries from absolute index `since` on. Entries
    /// already dropped from the capped log are skipped silently.
    fn requests_since(&self, since: u64, limit: usize) -> RequestPage {
        let (first, page) = {
            let log = lock(&self.inner.log);
            let first = since.max(log.first_index);
            let skip = usize::try_from(first - log.first_index).unwrap_or(usize::MAX);
            let page: Vec<LogEntry> = if skip < log.entries.len() {
                log.entries.range(skip..).take(limit).cloned().collect()
            } else {
                Vec::new()
            };
            (first, page)
        };
        // Convert outside the lock: the shop keeps serving meanwhile.
        RequestPage {
            started_at: self.inner.started_at,
            next: first + page.len() as u64,
            requests: page.into_iter().map(LogEntry::into_logged).collect(),
        }
    }

    /// Session id from the cookie if it names a live session, else a new
    /// session. Returns whether the session is new (needs a `Set-Cookie`).
    fn resolve_session(&self, cookie: Option<&str>) -> (Arc<str>, bool) {
        let now = Instant::now();
        let mut sessions = lock(&self.inner.sessions);
        sessions.sweep_idle(now);
        if let Some(cookie) = cookie {
            if let Some(session) = sessions.by_id.get_mut(cookie) {
                session.last_seen = now;
                let id = sessions
                    .by_id
                    .get_key_value(cookie)
                    .map(|(id, _)| id.clone());
                if let Some(id) = id {
                    return (id, false);
                }
            }
        }
        if sessions.by_id.len() >= MAX_SESSIONS {
            sessions.evict_oldest_tenth();
        }
        let id: Arc<str> = random_hex_id().into();
        sessions.by_id.insert(id.clone(), Session::new(now));
        sessions.created += 1;
        (id, true)
    }

    /// Runs `f` on the session's state. A session evicted since its request
    /// arrived is recreated, so handlers never see "no session".
    fn with_session<R>(&self, id: &Arc<str>, f: impl FnOnce(&mut Session) -> R) -> R {
        let mut sessions = lock(&self.inner.sessions);
        let session = sessions
            .by_id
            .entry(id.clone())
            .or_insert_with(|| Session::new(Instant::now()));
        f(session)
    }

    /// Time since the shop started.
    fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Holds a request that arrived `arrived` after the shop's start until
    /// the stall it arrived in (if any) is over.
    async fn wait_out_stall(&self, arrived: Duration) {
        let Some(stall) = self.inner.options.stall else {
            return;
        };
        if let Some(until) = stall.held_until(arrived) {
            tokio::time::sleep_until((self.inner.started + until).into()).await;
        }
    }

    async fn simulate_latency(&self) {
        let range = &self.inner.options.latency_ms;
        let ms = if range.start() >= range.end() {
            *range.start()
        } else {
            rand::rng().random_range(range.clone())
        };
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn record(&self, seen: &Arrived, session: Arc<str>, status: StatusCode) {
        let mut log = lock(&self.inner.log);
        log.count_client(seen.client.as_deref().unwrap_or("(none)"));
        // Taken under the lock so the log is ordered by `t`.
        let t = self.inner.started.elapsed().as_secs_f64();
        let entry = LogEntry {
            t,
            arrived: seen.at.as_secs_f64(),
            session,
            user_type: seen.user_type.as_deref().map(|u| log.intern(u)),
            method: log.intern(&seen.method),
            route: log.intern(&seen.route),
            status: status.as_u16(),
            traceparent: seen.traceparent.clone(),
            baggage: seen.baggage.as_deref().map(|b| log.intern(b)),
        };
        log.push(entry);
    }
}

/// `std::sync::Mutex` is fine here: no lock is held across an `.await`. A
/// panic while holding one cannot leave the shop's state half-updated in a
/// way that matters, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn random_hex_id() -> String {
    let n: u128 = rand::rng().random();
    format!("{n:032x}")
}

struct Sessions {
    by_id: HashMap<Arc<str>, Session>,
    created: u64,
    last_sweep: Instant,
}

impl Sessions {
    fn sweep_idle(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SESSION_SWEEP_INTERVAL {
            return;
        }
        self.last_sweep = now;
        self.by_id
            .retain(|_, s| now.duration_since(s.last_seen) < SESSION_IDLE_LIMIT);
    }

    /// Makes room at the cap by dropping the least recently used tenth at
    /// once, so a flood of cookie-less requests costs one scan per ~10k new
    /// sessions rather than one per request.
    fn evict_oldest_tenth(&mut self) {
        let mut last_seen: Vec<Instant> = self.by_id.values().map(|s| s.last_seen).collect();
        if last_seen.is_empty() {
            return;
        }
        let nth = last_seen.len() / 10;
        let (_, cutoff, _) = last_seen.select_nth_unstable(nth);
        let cutoff = *cutoff;
        self.by_id.retain(|_, s| s.last_seen > cutoff);
    }
}

struct Session {
    currency: &'static str,
    /// Product id -> quantity.
    cart: BTreeMap<&'static str, u32>,
    /// The token the last login page gave, which the login form must send back.
    csrf_token: Option<Arc<str>>,
    last_seen: Instant,
}

impl Session {
    fn new(now: Instant) -> Self {
        Self {
            currency: "USD",
            cart: BTreeMap::new(),
            csrf_token: None,
            last_seen: now,
        }
    }
}

/// A log entry as stored: strings are shared `Arc<str>` to keep the up to
/// 2 million entries small.
#[derive(Clone)]
struct LogEntry {
    t: f64,
    arrived: f64,
    session: Arc<str>,
    user_type: Option<Arc<str>>,
    method: Arc<str>,
    route: Arc<str>,
    status: u16,
    traceparent: Option<Box<str>>,
    /// Interned: a run sends one per phase and user type.
    baggage: Option<Arc<str>>,
}

impl LogEntry {
    fn into_logged(self) -> LoggedRequest {
        LoggedRequest {
            t: self.t,
            arrived: self.arrived,
            session: self.session.to_string(),
            user_type: self.user_type.map(|u| u.to_string()),
            method: self.method.to_string(),
            route: self.route.to_string(),
            status: self.status,
            traceparent: self.traceparent.map(String::from),
            baggage: self.baggage.map(|b| b.to_string()),
        }
    }
}

#[derive(Default)]
struct RequestLog {
    entries: VecDeque<LogEntry>,
    /// Absolute index of `entries[0]`; grows as old entries are dropped.
    first_index: u64,
    total: u64,
    by_route: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    by_client: BTreeMap<String, u64>,
    interned: HashSet<Arc<str>>,
}

/// Distinct `User-Agent`s counted apart; any client could send endless ones.
const MAX_CLIENTS: usize = 32;

impl RequestLog {
    fn count_client(&mut self, agent: &str) {
        let mut cut = agent.len().min(80);
        while !agent.is_char_boundary(cut) {
            cut -= 1;
        }
        let agent = &agent[..cut];
        let key = if self.by_client.contains_key(agent) || self.by_client.len() < MAX_CLIENTS {
            agent
        } else {
            "(other)"
        };
        *self.by_client.entry(key.to_string()).or_default() += 1;
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.interned.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = s.into();
        if self.interned.len() < MAX_INTERNED {
            self.interned.insert(shared.clone());
        }
        shared
    }

    fn push(&mut self, entry: LogEntry) {
        self.total += 1;
        let key = format!("{} {}", entry.method, entry.route);
        *self.by_route.entry(key).or_default() += 1;
        *self.by_status.entry(entry.status).or_default() += 1;
        if self.entries.len() >= MAX_LOG_ENTRIES {
            self.entries.pop_front();
            self.first_index += 1;
        }
        self.entries.push_back(entry);
    }
}

/// What the shop notes of a request as it arrives, to log once answered.
struct Arrived {
    /// Since the shop's start.
    at: Duration,
    /// The route pattern, or [`UNMATCHED_ROUTE`].
    route: String,
    method: String,
    /// The `X-User-Type` header.
    user_type: Option<String>,
    /// The `User-Agent` header.
    client: Option<String>,
    /// The W3C trace context headers, recorded as they came.
    traceparent: Option<Box<str>>,
    baggage: Option<String>,
}

/// The session a tracked request runs in, handed from [`routes::track`] to handlers.
#[derive(Clone)]
struct SessionId(Arc<str>);

#[cfg(test)]
mod tests;
