//! The catalogue and the HTML pages the shop answers with.

use super::*;

/// The 9 products of the original hipster shop catalog: id, name, USD cents.
pub(super) const PRODUCTS: [(&str, &str, u64); 9] = [
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
pub(super) const CURRENCIES: [(&str, f64); 6] = [
    ("USD", 1.0),
    ("EUR", 0.8846),
    ("JPY", 111.81),
    ("GBP", 0.7605),
    ("CAD", 1.3382),
    ("TRY", 5.4383),
];

pub(super) fn find_product(id: &str) -> Option<&'static (&'static str, &'static str, u64)> {
    PRODUCTS.iter().find(|(pid, _, _)| *pid == id)
}

pub(super) fn find_currency(code: &str) -> Option<&'static (&'static str, f64)> {
    CURRENCIES.iter().find(|(c, _)| *c == code)
}

pub(super) fn money(usd_cents: u64, currency: &str) -> String {
    let rate = find_currency(currency).map_or(1.0, |(_, rate)| *rate);
    format!("{currency} {:.2}", usd_cents as f64 / 100.0 * rate)
}

pub(super) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html><head><title>{title} | Hipster Shop</title></head>\n\
         <body><h1>{title}</h1>\n{body}\n</body></html>\n"
    ))
}

pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    (status, page(title, &format!("<p>{message}</p>"))).into_response()
}
