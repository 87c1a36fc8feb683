//! `loadgen ctl`: the control API's client.

use anyhow::{bail, Context, Result};

use super::Action;
use super::{Refusal, Status};

/// Sends one call to the API at `addr` (`HOST:PORT` or a URL) and prints the
/// answer: the status, or why it was refused.
pub async fn run(addr: &str, token: Option<&str>, action: &Action) -> Result<()> {
    let base = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.trim_end_matches('/').to_string()
    } else {
        format!("http://{addr}")
    };
    let client = reqwest::Client::new();
    let request = match action {
        Action::Status => client.get(format!("{base}/status")),
        Action::Jump(index) => client.post(format!("{base}/phase/{}", index + 1)),
        Action::Next => client.post(format!("{base}/phase/next")),
        Action::Pause => client.post(format!("{base}/pause")),
        Action::Resume => client.post(format!("{base}/resume")),
        Action::Scale(factor) => client
            .post(format!("{base}/scale"))
            .body(factor.to_string()),
    };
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach loadgen's control API at {base}"))?;
    let code = response.status();
    let body = response.text().await.context("reading the answer")?;
    if !code.is_success() {
        let why = serde_json::from_str::<Refusal>(&body).map_or(body, |r| r.error);
        bail!("{code}: {why}");
    }
    let status: Status = serde_json::from_str(&body)
        .with_context(|| format!("an unexpected answer from {base}: {body}"))?;
    println!("{}", serde_json::to_string_pretty(&status)?);
    Ok(())
}
