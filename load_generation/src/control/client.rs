//! `loadgen ctl`: the control API's client.

use anyhow::{bail, Context, Result};

use super::{Refusal, Status};
use crate::cli::{CtlArgs, CtlCommand};

/// Sends one call and prints the answer: the status, or why it was refused.
pub async fn run(args: &CtlArgs) -> Result<()> {
    let base = if args.addr.starts_with("http://") || args.addr.starts_with("https://") {
        args.addr.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", args.addr)
    };
    let client = reqwest::Client::new();
    let request = match &args.command {
        CtlCommand::Status => client.get(format!("{base}/status")),
        CtlCommand::Phase { number } => client.post(format!("{base}/phase/{number}")),
        CtlCommand::Next => client.post(format!("{base}/phase/next")),
        CtlCommand::Pause => client.post(format!("{base}/pause")),
        CtlCommand::Resume => client.post(format!("{base}/resume")),
        CtlCommand::Scale { factor } => client
            .post(format!("{base}/scale"))
            .body(factor.to_string()),
    };
    let request = match &args.token {
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
