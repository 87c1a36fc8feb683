//! `--wait-for-host`: wait until the target answers HTTP before starting the load,
//! as the original's curl init container did, but bounded and with a clear message.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Host, port and path of an `http://` or `https://` URL.
fn parse_url(url: &str) -> Option<(String, u16, bool)> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return None;
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h.to_string(), p.parse().ok()?)
        }
        _ => (authority.to_string(), if tls { 443 } else { 80 }),
    };
    Some((host.trim_matches(['[', ']']).to_string(), port, tls))
}

/// One attempt: the host accepts a connection and (for plain HTTP) sends back an
/// HTTP status line. Any status counts: the server is up.
async fn answers(host: &str, port: u16, tls: bool) -> Result<(), String> {
    let connect = TcpStream::connect((host, port));
    let mut stream = match tokio::time::timeout(Duration::from_secs(3), connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("connection timed out".into()),
    };
    if tls {
        return Ok(()); // no TLS client here; an accepted connection is enough
    }
    let request =
        format!("GET / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: loadgen-wait-for-host\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head)).await {
        Ok(Ok(n)) if head[..n].starts_with(b"HTTP/") => Ok(()),
        Ok(Ok(_)) => Err("the answer is not HTTP".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

/// Retries every second until `url` answers, for at most `limit`.
pub async fn wait_for_host(url: &str, limit: Duration) -> Result<()> {
    let Some((host, port, tls)) = parse_url(url) else {
        bail!("--host {url:?} is not an http:// or https:// URL");
    };
    let start = Instant::now();
    let mut last_report = start;
    loop {
        match answers(&host, port, tls).await {
            Ok(()) => return Ok(()),
            Err(why) => {
                if start.elapsed() >= limit {
                    bail!(
                        "{url} did not answer within {} ({why}); check that the target is running and reachable from here, or raise --wait-for-host",
                        crate::fmt::duration(limit.as_secs_f64())
                    );
                }
                if last_report.elapsed() >= Duration::from_secs(10) || last_report == start {
                    tracing::info!("waiting for {url} to answer ({why})");
                    last_report = Instant::now();
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/x"),
            Some(("127.0.0.1".into(), 8080, false))
        );
        assert_eq!(parse_url("https://shop"), Some(("shop".into(), 443, true)));
        assert_eq!(
            parse_url("http://[::1]:81"),
            Some(("::1".into(), 81, false))
        );
        assert_eq!(parse_url("frontend:80"), None);
    }

    #[tokio::test]
    async fn gives_up_with_a_clear_message() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = wait_for_host(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_millis(10),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("did not answer within"), "{err}");
    }
}
