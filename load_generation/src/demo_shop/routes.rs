//! The shop's routes: the tracking middleware and one handler per route.

use super::pages::*;
use super::*;

impl DemoShop {
    /// All routes: the shop's own (tracked: session, latency, log) and the
    /// untracked `/_shop/...` bookkeeping routes.
    pub fn router(&self) -> Router {
        let shop = Router::new()
            .route("/", get(index))
            .route("/setCurrency", post(set_currency))
            .route("/product/{id}", get(product))
            .route("/cart", get(view_cart).post(add_to_cart))
            .route("/cart/checkout", post(checkout))
            .route("/login", get(login_page).post(login))
            .route("/api/product/{id}", get(api_product))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(self.clone(), track));
        let bookkeeping = Router::new()
            .route("/_shop/requests", get(requests))
            .route("/_shop/counters", get(counters))
            .route("/_shop/health", get(|| async { "ok" }));
        shop.merge(bookkeeping).with_state(self.clone())
    }
}

/// Middleware around every shop route: notes the arrival, resolves the
/// session (setting the cookie when new), waits out a stall and the simulated
/// latency, then logs the request.
pub(super) async fn track(
    State(shop): State<DemoShop>,
    mut request: Request,
    next: Next,
) -> Response {
    let seen = Arrived {
        at: shop.elapsed(),
        route: request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED_ROUTE, |p| p.as_str())
            .to_owned(),
        method: request.method().as_str().to_owned(),
        user_type: request
            .headers()
            .get(USER_TYPE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        traceparent: all_of(request.headers(), "traceparent").map(Box::from),
        baggage: all_of(request.headers(), "baggage"),
    };
    let (session, is_new) = shop.resolve_session(session_cookie(request.headers()));
    request.extensions_mut().insert(SessionId(session.clone()));

    shop.wait_out_stall(seen.at).await;
    shop.simulate_latency().await;
    let mut response = next.run(request).await;

    if is_new {
        let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    shop.record(&seen, session, response.status());
    response
}

/// The `shop_session_id` value from the request's `Cookie` header(s).
pub(super) fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

pub(super) async fn index(
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
pub(super) struct CurrencyForm {
    currency_code: String,
}

pub(super) async fn set_currency(
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

pub(super) async fn product(
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

pub(super) async fn view_cart(
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
pub(super) struct CartForm {
    product_id: String,
    quantity: u32,
}

pub(super) async fn add_to_cart(
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
pub(super) struct CheckoutForm {
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
pub(super) async fn checkout(
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

/// `GET /api/product/{id}`: a product as JSON (`id`, `name`, `price_usd_cents`),
/// for loads that exercise a JSON API (Locust's `rest()`); an unknown id is a
/// 404 whose body is JSON too, as an API's would be.
pub(super) async fn api_product(Path(product_id): Path<String>) -> Response {
    match find_product(&product_id) {
        Some((pid, name, cents)) => Json(serde_json::json!({
            "id": pid,
            "name": name,
            "price_usd_cents": cents,
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such product" })),
        )
            .into_response(),
    }
}

pub(super) async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "no such page")
}

#[derive(Deserialize)]
pub(super) struct RequestsQuery {
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

/// `GET /_shop/requests?since=<index>[&limit=<n>]`: log entries from `since`
/// on, at most `limit` (default and maximum 100 000).
pub(super) async fn requests(
    State(shop): State<DemoShop>,
    Query(query): Query<RequestsQuery>,
) -> Json<RequestPage> {
    let limit = query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    Json(shop.requests_since(query.since, limit))
}

pub(super) async fn counters(State(shop): State<DemoShop>) -> Json<ShopCounters> {
    Json(shop.counters())
}

/// A login page whose form carries a CSRF token: a load that logs in must read
/// it from the page, keep the session's cookie, and send both back.
pub(super) async fn login_page(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
) -> Html<String> {
    let token: Arc<str> = super::random_hex_id().into();
    shop.with_session(&id, |s| s.csrf_token = Some(token.clone()));
    page(
        "Log in",
        &format!(
            "<form method=\"post\" action=\"/login\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
             <input name=\"username\"><button>Log in</button></form>"
        ),
    )
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    csrf_token: String,
}

/// Accepts the login when the form's token is the one the session's login page
/// gave (403 otherwise: no page read, another session's token, or none).
pub(super) async fn login(
    State(shop): State<DemoShop>,
    Extension(SessionId(id)): Extension<SessionId>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "expected the form field csrf_token",
        );
    };
    let accepted = shop.with_session(&id, |s| {
        s.csrf_token.as_deref() == Some(form.csrf_token.as_str())
    });
    if !accepted {
        return error_page(
            StatusCode::FORBIDDEN,
            "the CSRF token is not this session's",
        );
    }
    page("Welcome", "<p>You are logged in.</p>").into_response()
}

/// Every value of header `name`, joined by `,` as HTTP lists are (so a
/// request that carried one twice shows it): `None` when it had none.
fn all_of(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("(not text)"))
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}
