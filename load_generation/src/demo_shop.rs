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

/// The 9 products of the original hipster shop catalog: id, name, USD cents.
const PRODUCTS: [(&str, &str, u64); 9] = [
    ("0PUK6V6EV0", "Vintage Record Player", 6550),
    ("1YMWWN1N4O", "Home Barista Kit", 12400),
    ("2ZYFJ3GM2N", "Film Camera", 224500),
    ("66VCHSJNUP", "Vintage Camera Lens", 1249),
    ("6E92ZMYYFZ", "Air Plant", 1230),
    ("9SIQT8TOJO", "City Bike", 78950),
    ("L9ECAV7KIM", "Terrarium", 3645),
    ("LS4PSXUNUM", "Metal Camping Mug", 2433),
    ("OLJCESPC7Z", "Vintage Typewriter", 6799),
];

/// Currencies the shop accepts, with (approximate) units per US dollar.
const CURRENCIES: [(&str, f64); 6] = [
    ("USD", 1.0),
    ("EUR", 0.8846),
    ("JPY", 111.81),
    ("GBP", 0.7605),
    ("CAD", 1.3382),
    ("TRY", 5.4383),
];

/// How the demo shop behaves.
#[derive(Debug, Clone)]
pub struct ShopOptions {
    /// Each request waits a uniformly random number of milliseconds from this
    /// range before it is handled, imitating the real shop's backend calls.
    /// Tests use `0..=0` to run fast.
    pub latency_ms: RangeInclusive<u64>,
}

impl Default for ShopOptions {
    fn default() -> Self {
        Self { latency_ms: 1..=8 }
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
    /// Session id (the `shop_session_id` cookie) the request ran in.
    pub session: String,
    /// The `X-User-Type` header, if the request had one.
    pub user_type: Option<String>,
    pub method: String,
    /// Route pattern, e.g. `/product/{id}`, or `(unmatched)`.
    pub route: String,
    pub status: u16,
}

/// Body of `GET /_shop/requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPage {
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
                sessions: Mutex::new(Sessions {
                    by_id: HashMap::new(),
                    created: 0,
                    last_sweep: now,
                }),
                log: Mutex::new(RequestLog::default()),
            }),
        }
    }

    /// All routes: the shop's own (tracked: session, latency, log) and the
    /// untracked `/_shop/...` bookkeeping routes.
    pub fn router(&self) -> Router {
        let shop = Router::new()
            .route("/", get(index))
            .route("/setCurrency", post(set_currency))
            .route("/product/{id}", get(product))
            .route("/cart", get(view_cart).post(add_to_cart))
            .route("/cart/checkout", post(checkout))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), track));
        let bookkeeping = Router::new()
            .route("/_shop/requests", get(requests))
            .route("/_shop/counters", get(counters))
            .route("/_shop/health", get(|| async { "ok" }));
        shop.merge(bookkeeping).with_state(self.clone())
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

    fn record(
        &self,
        session: Arc<str>,
        user_type: Option<&str>,
        method: &str,
        route: &str,
        status: StatusCode,
    ) {
        let mut log = lock(&self.inner.log);
        // Taken under the lock so the log is ordered by `t`.
        let t = self.inner.started.elapsed().as_secs_f64();
        let entry = LogEntry {
            t,
            session,
            user_type: user_type.map(|u| log.intern(u)),
            method: log.intern(method),
            route: log.intern(route),
            status: status.as_u16(),
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
    last_seen: Instant,
}

impl Session {
    fn new(now: Instant) -> Self {
        Self {
            currency: "USD",
            cart: BTreeMap::new(),
            last_seen: now,
        }
    }
}

/// A log entry as stored: strings are shared `Arc<str>` to keep the up to
/// 2 million entries small.
#[derive(Clone)]
struct LogEntry {
    t: f64,
    session: Arc<str>,
    user_type: Option<Arc<str>>,
    method: Arc<str>,
    route: Arc<str>,
    status: u16,
}

impl LogEntry {
    fn into_logged(self) -> LoggedRequest {
        LoggedRequest {
            t: self.t,
            session: self.session.to_string(),
            user_type: self.user_type.map(|u| u.to_string()),
            method: self.method.to_string(),
            route: self.route.to_string(),
            status: self.status,
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
    interned: HashSet<Arc<str>>,
}

impl RequestLog {
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

/// The session a tracked request runs in, handed from [`track`] to handlers.
#[derive(Clone)]
struct SessionId(Arc<str>);

/// Middleware around every shop route: resolves the session (setting the
/// cookie when new), waits the simulated latency, then logs the request.
async fn track(State(shop): State<DemoShop>, mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, |p| p.as_str())
        .to_owned();
    let method = request.method().as_str().to_owned();
    let user_type = request
        .headers()
        .get(USER_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (session, is_new) = shop.resolve_session(session_cookie(request.headers()));
    request.extensions_mut().insert(SessionId(session.clone()));

    shop.simulate_latency().await;
    let mut response = next.run(request).await;

    if is_new {
        let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    shop.record(
        session,
        user_type.as_deref(),
        &method,
        &route,
        response.status(),
    );
    response
}

/// The `shop_session_id` value from the request's `Cookie` header(s).
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

fn find_product(id: &str) -> Option<&'static (&'static str, &'static str, u64)> {
    PRODUCTS.iter().find(|(pid, _, _)| *pid == id)
}

fn find_currency(code: &str) -> Option<&'static (&'static str, f64)> {
    CURRENCIES.iter().find(|(c, _)| *c == code)
}

fn money(usd_cents: u64, currency: &str) -> String {
    let rate = find_currency(currency).map_or(1.0, |(_, rate)| *rate);
    format!("{currency} {:.2}", usd_cents as f64 / 100.0 * rate)
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html><head><title>{title} | Hipster Shop</title></head>\n\
         <body><h1>{title}</h1>\n{body}\n</body></html>\n"
    ))
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (status, page(title, &format!("<p>{message}</p>"))).into_response()
}

async fn index(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
) -> Html<String> {
    let currency = shop.with_session(&id, |s| s.currency);
    let items: String = PRODUCTS
        .iter()
        .map(|(pid, name, cents)| {
            format!(
                "<li><a href=\"/product/{pid}\">{name}</a> {}</li>\n",
                money(*cents, currency)
            )
        })
        .collect();
    page("Hot Products", &format!("<ul>\n{items}</ul>"))
}

#[derive(Deserialize)]
struct CurrencyForm {
    currency_code: String,
}

async fn set_currency(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
    form: Result<Form<CurrencyForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "expected form field currency_code");
    };
    let Some((code, _)) = find_currency(&form.currency_code) else {
        return error_page(StatusCode::BAD_REQUEST, "unsupported currency");
    };
    shop.with_session(&id, |s| s.currency = code);
    page(
        "Currency",
        &format!("<p>Prices are now shown in {code}.</p>"),
    )
    .into_response()
}

async fn product(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
    Path(product_id): Path<String>,
) -> Response {
    let Some((pid, name, cents)) = find_product(&product_id) else {
        return error_page(StatusCode::NOT_FOUND, "no such product");
    };
    let currency = shop.with_session(&id, |s| s.currency);
    let body = format!(
        "<p id=\"{pid}\">{}</p>\n<form method=\"post\" action=\"/cart\">\
         <input type=\"hidden\" name=\"product_id\" value=\"{pid}\">\
         <input name=\"quantity\" value=\"1\"><button>Add to cart</button></form>",
        money(*cents, currency)
    );
    page(name, &body).into_response()
}

async fn view_cart(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
) -> Html<String> {
    let (currency, cart) = shop.with_session(&id, |s| (s.currency, s.cart.clone()));
    if cart.is_empty() {
        return page("Cart", "<p>Your shopping cart is empty.</p>");
    }
    let mut total = 0;
    let mut rows = String::new();
    for (pid, quantity) in &cart {
        if let Some((_, name, cents)) = find_product(pid) {
            total += cents * u64::from(*quantity);
            rows += &format!("<li>{name} &times; {quantity}</li>\n");
        }
    }
    page(
        "Cart",
        &format!(
            "<ul>\n{rows}</ul>\n<p>Total: {}</p>",
            money(total, currency)
        ),
    )
}

#[derive(Deserialize)]
struct CartForm {
    product_id: String,
    quantity: u32,
}

async fn add_to_cart(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
    form: Result<Form<CartForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "expected form fields product_id and a numeric quantity",
        );
    };
    if form.quantity == 0 {
        return error_page(StatusCode::BAD_REQUEST, "quantity must be at least 1");
    }
    let Some((pid, name, _)) = find_product(&form.product_id) else {
        return error_page(StatusCode::NOT_FOUND, "no such product");
    };
    let in_cart = shop.with_session(&id, |s| {
        let quantity = s.cart.entry(pid).or_default();
        *quantity = quantity.saturating_add(form.quantity);
        *quantity
    });
    page(
        "Cart",
        &format!("<p>Added {name}; {in_cart} in your cart.</p>"),
    )
    .into_response()
}

/// All fields are required, as on the real checkout form; the numeric ones
/// must be numbers.
#[derive(Deserialize)]
#[allow(dead_code)] // read only to validate the form
struct CheckoutForm {
    email: String,
    street_address: String,
    zip_code: String,
    city: String,
    state: String,
    country: String,
    credit_card_number: String,
    credit_card_expiration_month: u32,
    credit_card_expiration_year: u32,
    credit_card_cvv: u32,
}

/// Places the order and empties the cart. An empty cart still succeeds (an
/// order of nothing), as load tests may check out without having added.
async fn checkout(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
    form: Result<Form<CheckoutForm>, FormRejection>,
) -> Response {
    if form.is_err() {
        return error_page(
            StatusCode::BAD_REQUEST,
            "incomplete or invalid checkout form",
        );
    }
    let (currency, cart) = shop.with_session(&id, |s| (s.currency, std::mem::take(&mut s.cart)));
    let total: u64 = cart
        .iter()
        .filter_map(|(pid, quantity)| {
            find_product(pid).map(|(_, _, cents)| cents * u64::from(*quantity))
        })
        .sum();
    let order = random_hex_id();
    page(
        "Your order is complete!",
        &format!(
            "<p>Order {order}: {} item(s), total {}.</p>",
            cart.len(),
            money(total, currency)
        ),
    )
    .into_response()
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "no such page")
}

#[derive(Deserialize)]
struct RequestsQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

/// `GET /_shop/requests?since=<index>[&limit=<n>]`: log entries from `since`
/// on, at most `limit` (default and maximum 100 000).
async fn requests(
    State(shop): State<DemoShop>,
    Query(query): Query<RequestsQuery>,
) -> Json<RequestPage> {
    let limit = query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    Json(shop.requests_since(query.since, limit))
}

async fn counters(State(shop): State<DemoShop>) -> Json<ShopCounters> {
    Json(shop.counters())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shop without latency on an ephemeral port; dropping the returned
    /// sender stops it.
    async fn start() -> (String, DemoShop, tokio::sync::oneshot::Sender<()>) {
        let shop = DemoShop::new(ShopOptions { latency_ms: 0..=0 });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(shop.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        (base, shop, stop)
    }

    fn set_cookie(response: &reqwest::Response) -> Option<String> {
        let value = response.headers().get(header::SET_COOKIE)?.to_str().ok()?;
        let pair = value.split(';').next()?;
        let (name, id) = pair.split_once('=')?;
        assert_eq!(name, SESSION_COOKIE);
        Some(id.to_owned())
    }

    fn cookie(id: &str) -> String {
        format!("{SESSION_COOKIE}={id}")
    }

    #[test]
    fn sessions_are_bounded_by_idle_time_and_count() {
        let start = Instant::now();
        let mut sessions = Sessions {
            by_id: HashMap::new(),
            created: 0,
            last_sweep: start,
        };
        for i in 0..20u64 {
            let seen = start + Duration::from_secs(i);
            sessions
                .by_id
                .insert(i.to_string().into(), Session::new(seen));
        }
        // The oldest tenth (plus ties at the cutoff) goes at once.
        sessions.evict_oldest_tenth();
        assert_eq!(sessions.by_id.len(), 17);
        assert!(!sessions.by_id.contains_key("2") && sessions.by_id.contains_key("3"));

        // Sessions idle past the limit are swept, at most once per interval.
        let later = start + SESSION_IDLE_LIMIT + Duration::from_secs(10);
        sessions.sweep_idle(start + Duration::from_secs(1));
        assert_eq!(sessions.by_id.len(), 17, "too early to sweep");
        sessions.sweep_idle(later);
        assert_eq!(sessions.by_id.len(), 9, "seen at 11..=19 s are kept");
    }

    #[tokio::test]
    async fn session_cookie_is_set_once_and_reused() {
        let (base, shop, _stop) = start().await;
        let client = reqwest::Client::new();

        let first = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let id = set_cookie(&first).expect("first visit sets a session cookie");
        assert_eq!(id.len(), 32);

        for path in ["/", "/cart", "/product/OLJCESPC7Z"] {
            let again = client
                .get(format!("{base}{path}"))
                .header(header::COOKIE, format!("other=1; {}", cookie(&id)))
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 200);
            assert_eq!(set_cookie(&again), None, "known session keeps its cookie");
        }

        let stranger = client
            .get(format!("{base}/"))
            .header(header::COOKIE, cookie("not-a-session"))
            .send()
            .await
            .unwrap();
        let new_id = set_cookie(&stranger).expect("unknown session id is replaced");
        assert_ne!(new_id, id);

        let counters = shop.counters();
        assert_eq!(counters.sessions_created, 2);
        assert_eq!(counters.sessions_active, 2);
        assert_eq!(counters.total_requests, 5);
    }

    #[tokio::test]
    async fn cart_add_view_and_checkout() {
        let (base, _shop, _stop) = start().await;
        let client = reqwest::Client::new();
        let id = set_cookie(&client.get(format!("{base}/")).send().await.unwrap()).unwrap();
        let post = |path: &str, body: &str| {
            client
                .post(format!("{base}{path}"))
                .header(header::COOKIE, cookie(&id))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.to_owned())
                .send()
        };
        let get = |path: &str| {
            client
                .get(format!("{base}{path}"))
                .header(header::COOKIE, cookie(&id))
                .send()
        };

        let empty = get("/cart").await.unwrap().text().await.unwrap();
        assert!(empty.contains("empty"), "{empty}");

        assert_eq!(
            post("/cart", "product_id=66VCHSJNUP&quantity=3")
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            post("/setCurrency", "currency_code=EUR")
                .await
                .unwrap()
                .status(),
            200
        );
        let cart = get("/cart").await.unwrap().text().await.unwrap();
        assert!(cart.contains("Vintage Camera Lens &times; 3"), "{cart}");
        assert!(cart.contains("EUR"), "{cart}");

        let form = "email=someone%40example.com&street_address=1600+Amphitheatre+Parkway&zip_code=94043\
                    &city=Mountain+View&state=CA&country=United+States&credit_card_number=4432-8015-6152-0454\
                    &credit_card_expiration_month=1&credit_card_expiration_year=2039&credit_card_cvv=672";
        let order = post("/cart/checkout", form).await.unwrap();
        assert_eq!(order.status(), 200);
        assert!(order.text().await.unwrap().contains("1 item(s)"));
        let after = get("/cart").await.unwrap().text().await.unwrap();
        assert!(
            after.contains("empty"),
            "checkout empties the cart: {after}"
        );
        // Checking out an empty cart is fine too.
        assert_eq!(post("/cart/checkout", form).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn unknown_product_and_bad_forms_are_rejected() {
        let (base, _shop, _stop) = start().await;
        let client = reqwest::Client::new();
        let status = |response: reqwest::Response| response.status().as_u16();
        let form = |path: &str, body: &'static str| {
            client
                .post(format!("{base}{path}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
                .send()
        };

        assert_eq!(
            status(
                client
                    .get(format!("{base}/product/NOPE"))
                    .send()
                    .await
                    .unwrap()
            ),
            404
        );
        assert_eq!(
            status(client.get(format!("{base}/nowhere")).send().await.unwrap()),
            404
        );
        assert_eq!(
            status(form("/cart", "product_id=NOPE&quantity=1").await.unwrap()),
            404
        );
        assert_eq!(status(form("/cart", "quantity=1").await.unwrap()), 400);
        assert_eq!(
            status(
                form("/cart", "product_id=66VCHSJNUP&quantity=abc")
                    .await
                    .unwrap()
            ),
            400
        );
        assert_eq!(
            status(
                form("/cart", "product_id=66VCHSJNUP&quantity=0")
                    .await
                    .unwrap()
            ),
            400
        );
        assert_eq!(
            status(form("/setCurrency", "currency_code=XYZ").await.unwrap()),
            400
        );
        assert_eq!(
            status(form("/cart/checkout", "email=a%40b.c").await.unwrap()),
            400
        );
    }

    #[tokio::test]
    async fn request_log_records_user_types_and_route_patterns() {
        let (base, _shop, _stop) = start().await;
        let client = reqwest::Client::new();
        client
            .get(format!("{base}/product/L9ECAV7KIM"))
            .header("X-User-Type", "Weekend")
            .send()
            .await
            .unwrap();
        client
            .get(format!("{base}/product/NOPE"))
            .send()
            .await
            .unwrap();
        client.get(format!("{base}/nowhere")).send().await.unwrap();
        // Bookkeeping routes are not logged.
        let health = client
            .get(format!("{base}/_shop/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.text().await.unwrap(), "ok");
        client
            .get(format!("{base}/_shop/counters"))
            .send()
            .await
            .unwrap();

        let page: RequestPage = client
            .get(format!("{base}/_shop/requests?since=0"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page.next, 3);
        let summary: Vec<_> = page
            .requests
            .iter()
            .map(|r| {
                (
                    r.user_type.as_deref(),
                    r.method.as_str(),
                    r.route.as_str(),
                    r.status,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some("Weekend"), "GET", "/product/{id}", 200),
                (None, "GET", "/product/{id}", 404),
                (None, "GET", UNMATCHED_ROUTE, 404),
            ]
        );
        assert!(page.requests.windows(2).all(|w| w[0].t <= w[1].t));
        assert_eq!(page.requests[0].session.len(), 32);

        let counters: ShopCounters = client
            .get(format!("{base}/_shop/counters"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(counters.total_requests, 3);
        assert_eq!(counters.routes["GET /product/{id}"], 2);
        assert_eq!(counters.statuses[&404], 2);
    }

    #[tokio::test]
    async fn request_log_pages_with_since() {
        let (base, _shop, _stop) = start().await;
        let client = reqwest::Client::new();
        let poll = |since: u64, limit: Option<u64>| {
            let mut url = format!("{base}/_shop/requests?since={since}");
            if let Some(limit) = limit {
                url += &format!("&limit={limit}");
            }
            let client = client.clone();
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json::<RequestPage>()
                    .await
                    .unwrap()
            }
        };

        let empty = poll(0, None).await;
        assert_eq!((empty.next, empty.requests.len()), (0, 0));

        for _ in 0..3 {
            client.get(format!("{base}/cart")).send().await.unwrap();
        }
        let first = poll(0, Some(2)).await;
        assert_eq!((first.next, first.requests.len()), (2, 2));
        let rest = poll(first.next, None).await;
        assert_eq!((rest.next, rest.requests.len()), (3, 1));

        client.get(format!("{base}/")).send().await.unwrap();
        let newer = poll(rest.next, None).await;
        assert_eq!(newer.next, 4);
        assert_eq!(newer.requests[0].route, "/");
        let nothing_new = poll(newer.next, None).await;
        assert_eq!((nothing_new.next, nothing_new.requests.len()), (4, 0));
        // Polling past the end returns nothing and keeps the caller's index.
        assert_eq!(poll(10, None).await.next, 10);

        let bad = client
            .get(format!("{base}/_shop/requests?since=abc"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
    }
}
