//! Which `Host` a server answers to: the defence against DNS rebinding.
//!
//! A page on another site can re-point its own name at 127.0.0.1 once the
//! browser has loaded it. Its calls then go to loadgen with `Host:
//! thatname:PORT` and `Origin: http://thatname:PORT`, which match, so the
//! Origin check (`control::server`) lets them through: any page the presenter
//! opens could pause the run or read its stream. The browser always sends the
//! name it resolved as `Host`, and that name is the attacker's. So the control
//! API and the dashboard answer only to a `Host` that cannot be re-pointed:
//!
//! - an IP address (`127.0.0.1:8089`, `[::1]:8089`, a pod's address): a
//!   page whose origin is an address was served by that address itself;
//! - `localhost` and names under `.localhost`, which browsers resolve to
//!   loopback themselves, never through DNS;
//! - the names given with `--allowed-host` (a Kubernetes Service or an
//!   Ingress that forwards its own name).
//!
//! The port is not checked: a tunnel (`ssh -L`, `kubectl port-forward`) shows
//! its own port, and a rebinding attack is made by the name, not the port.
//! A call without `Host` (HTTP/1.0; no browser sends one) passes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::Refusal;

/// The names a server answers to besides addresses and `localhost`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    /// Lowercase, without a port.
    names: Vec<String>,
}

impl AllowedHosts {
    /// Addresses, `localhost`, and `names` (from `--allowed-host`; a port or
    /// a trailing dot given with one is ignored).
    pub fn new(names: &[String]) -> AllowedHosts {
        AllowedHosts {
            names: names
                .iter()
                .map(|n| name_of(n.trim()))
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Why a call with this `Host` header is refused, if it is.
    pub fn refuse(&self, host: Option<&str>) -> Option<String> {
        let host = host?;
        let name = name_of(host);
        if is_address(&name) || is_localhost(&name) || self.names.contains(&name) {
            return None;
        }
        Some(format!(
            "a call for the host `{host}` is refused: this server answers to its addresses and \
             `localhost` (a page of another site can point its own name at this machine: DNS \
             rebinding). If `{name}` is this server's own name (a Service, an Ingress), give it \
             with --allowed-host {name}"
        ))
    }
}

/// The middleware both servers wear: a call whose `Host` is not one of
/// `allowed` gets a 403 that says why, before any route sees it.
pub async fn check(State(allowed): State<AllowedHosts>, request: Request, next: Next) -> Response {
    match allowed.refuse(host_header(request.headers())) {
        Some(why) => {
            tracing::debug!("{why}");
            (StatusCode::FORBIDDEN, Json(Refusal { error: why })).into_response()
        }
        None => next.run(request).await,
    }
}

fn host_header(headers: &HeaderMap) -> Option<&str> {
    // A `Host` that is not text is not one of ours: refused as "?".
    headers.get("host").map(|h| h.to_str().unwrap_or("?"))
}

/// The name of a `Host` value, lowercase, without its port or a trailing dot:
/// `Example.COM.:8089` -> `example.com`, `[::1]:8089` -> `[::1]`.
fn name_of(host: &str) -> String {
    let without_port = if host.starts_with('[') {
        // An IPv6 address keeps its brackets; the port follows them.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

fn is_address(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => name.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_pass_on_any_port() {
        let allowed = AllowedHosts::default();
        for host in [
            "127.0.0.1:8089",
            "127.0.0.2",
            "[::1]:8089",
            "[::1]",
            "10.1.2.3:8089",
            "localhost:8089",
            "LOCALHOST:9000",
            "localhost.:8089",
            "dash.localhost:8089",
        ] {
            assert_eq!(allowed.refuse(Some(host)), None, "{host}");
        }
        assert_eq!(allowed.refuse(None), None, "no Host: not a browser");
    }

    #[test]
    fn a_name_that_can_be_rebound_is_refused_and_said_why() {
        let allowed = AllowedHosts::default();
        for host in [
            "rebind.example:8089",
            "evil.example",
            "127.0.0.1.nip.io:8089",
            "localhost.evil.example:8089",
            "[::1",
            "0x7f.0.0.1:8089",
            "?",
            "",
        ] {
            assert!(allowed.refuse(Some(host)).is_some(), "{host}");
        }
        let why = allowed.refuse(Some("rebind.example:8089")).unwrap();
        assert!(
            why.starts_with("a call for the host `rebind.example:8089` is refused")
                && why.contains("DNS rebinding")
                && why.ends_with("--allowed-host rebind.example"),
            "{why}"
        );
    }

    #[test]
    fn names_given_are_answered_to() {
        let allowed = AllowedHosts::new(&[
            "loadgen.demo.svc:8089".to_string(),
            " Dashboard.Example.COM ".to_string(),
            String::new(),
        ]);
        assert_eq!(allowed.refuse(Some("loadgen.demo.svc:8089")), None);
        assert_eq!(allowed.refuse(Some("loadgen.demo.svc")), None);
        assert_eq!(allowed.refuse(Some("dashboard.example.com:443")), None);
        assert!(allowed
            .refuse(Some("loadgen.demo.svc.evil.example"))
            .is_some());
        assert!(allowed.refuse(Some("example.com")).is_some());
    }

    #[test]
    fn a_host_is_its_name_without_port_case_or_trailing_dot() {
        assert_eq!(name_of("Example.COM.:8089"), "example.com");
        assert_eq!(name_of("[::1]:8089"), "[::1]");
        assert_eq!(name_of("[::1]"), "[::1]");
        assert_eq!(name_of("127.0.0.1"), "127.0.0.1");
    }
}
