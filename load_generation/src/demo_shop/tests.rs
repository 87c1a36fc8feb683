use super::*;

/// A shop without latency on an ephemeral port; dropping the returned
/// sender stops it.
async fn start() -> (String, DemoShop, tokio::sync::oneshot::Sender<()>) {
    start_with(ShopOptions {
        latency_ms: 0..=0,
        stall: None,
    })
    .await
}

async fn start_with(options: ShopOptions) -> (String, DemoShop, tokio::sync::oneshot::Sender<()>) {
    let shop = DemoShop::new(options);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(shop.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    (base, shop, stop)
}

/// The shop's request log from its start (`GET /_shop/requests?since=0`).
async fn request_log(client: &reqwest::Client, base: &str) -> RequestPage {
    client
        .get(format!("{base}/_shop/requests?since=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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

    let page = request_log(&client, &base).await;
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

#[tokio::test]
async fn login_needs_the_csrf_token_of_the_sessions_own_login_page() {
    let (base, _shop, _stop) = start().await;
    let client = reqwest::Client::new();
    let id = set_cookie(&client.get(format!("{base}/")).send().await.unwrap()).unwrap();
    let other = set_cookie(&client.get(format!("{base}/")).send().await.unwrap()).unwrap();
    let login = |session: &str, token: &str| {
        client
            .post(format!("{base}/login"))
            .header(header::COOKIE, cookie(session))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("csrf_token={token}&username=ann"))
            .send()
    };
    // No login page read yet: refused.
    assert_eq!(login(&id, "guess").await.unwrap().status(), 403);
    let page = client
        .get(format!("{base}/login"))
        .header(header::COOKIE, cookie(&id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a token in the form")
        .to_owned();
    // Another session's token, or a wrong one, is refused; its own is taken.
    assert_eq!(login(&other, &token).await.unwrap().status(), 403);
    assert_eq!(login(&id, "wrong").await.unwrap().status(), 403);
    assert_eq!(login(&id, &token).await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_json_api_answers_a_product_or_a_json_404() {
    let (base, shop, _stop) = start().await;
    let client = reqwest::Client::new();

    let found = client
        .get(format!("{base}/api/product/OLJCESPC7Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(found.status(), 200);
    assert!(found.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let product: serde_json::Value = found.json().await.unwrap();
    assert_eq!(
        product,
        serde_json::json!({"id": "OLJCESPC7Z", "name": "Vintage Typewriter", "price_usd_cents": 6799})
    );

    let missing = client
        .get(format!("{base}/api/product/NOPE"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let error: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(error["error"], "no such product");

    // Logged under its route pattern, as every shop route is.
    let counters = shop.counters();
    assert_eq!(counters.routes.get("GET /api/product/{id}"), Some(&2));
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_stall_holds_requests_arriving_in_the_last_part_of_each_period() {
    let stall = Stall::new(ms(5000), ms(1000)).unwrap();
    // Served at once outside the stalls: from the start, and between them.
    for at in [0, 1, 2500, 3999, 5000, 5001, 8999, 10_000] {
        assert_eq!(stall.held_until(ms(at)), None, "at {at} ms");
    }
    // Held to the end of the stall they arrive in, however late in it.
    for (at, until) in [
        (4000, 5000),
        (4500, 5000),
        (4999, 5000),
        (9000, 10_000),
        (9999, 10_000),
        (3_600_000 + 4200, 3_605_000),
    ] {
        assert_eq!(stall.held_until(ms(at)), Some(ms(until)), "at {at} ms");
    }
    // Down to the nanosecond at the edges.
    let edge = ms(4000) - Duration::from_nanos(1);
    assert_eq!(stall.held_until(edge), None);
    assert_eq!(
        stall.held_until(ms(5000) - Duration::from_nanos(1)),
        Some(ms(5000))
    );

    // Periods that are no whole number of milliseconds.
    let odd = Stall::new(Duration::from_secs_f64(0.3), ms(100)).unwrap();
    assert_eq!(odd.held_until(ms(250)), Some(ms(300)));
    assert_eq!(odd.held_until(ms(450)), None);
    assert_eq!(odd.held_until(ms(550)), Some(ms(600)));

    assert!(Stall::new(ms(1000), ms(0)).is_err());
    assert!(Stall::new(ms(1000), ms(1000)).is_err());
    assert!(Stall::new(Duration::from_secs(86_401), ms(1)).is_err());
}

#[tokio::test]
async fn a_request_arriving_during_a_stall_is_answered_at_its_end() {
    // Stalls from 0.7 s to 1 s, 1.7 s to 2 s, ...
    let (base, shop, _stop) = start_with(ShopOptions {
        latency_ms: 0..=0,
        stall: Some(Stall::new(ms(1000), ms(300)).unwrap()),
    })
    .await;
    let client = reqwest::Client::new();
    // Wait for the middle of a stall (the bookkeeping routes are never held).
    let position = shop.elapsed().as_secs_f64() % 1.0;
    let wait = (0.85 - position).rem_euclid(1.0);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    let bookkeeping = std::time::Instant::now();
    client
        .get(format!("{base}/_shop/health"))
        .send()
        .await
        .unwrap();
    assert!(bookkeeping.elapsed() < ms(100), "/_shop/... is not held");
    assert_eq!(
        client
            .get(format!("{base}/cart"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let page = request_log(&client, &base).await;
    let [logged] = page.requests.as_slice() else {
        panic!("one request logged: {:?}", page.requests);
    };
    let into = logged.arrived % 1.0;
    assert!(
        (0.7..1.0).contains(&into),
        "arrived in the stall: {logged:?}"
    );
    let end = logged.arrived.floor() + 1.0;
    assert!(
        logged.t >= end && logged.t < end + 0.1,
        "answered as the stall ended, at {end} s: {logged:?}"
    );
}
