//! The exports' delivery: a thread of its own that POSTs each encoded
//! request, so a slow or absent collector never holds the run. A queue of a
//! few exports stands between; an export that finds it full is counted as
//! lost (the next metrics export carries every figure again: they are
//! cumulative). The first failure is said at once, the rest counted and said
//! at the end.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prost::Message;

use super::OtlpConfig;

/// Exports waiting for the thread.
const QUEUE: usize = 8;

enum Job {
    Post {
        what: &'static str,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Stop,
}

#[derive(Default, Debug)]
struct Tally {
    sent: [u64; 2],
    failed: [u64; 2],
    last_error: Option<String>,
}

pub struct Sender {
    jobs: SyncSender<Job>,
    thread: Option<JoinHandle<()>>,
    done: Receiver<()>,
    tally: Arc<Mutex<Tally>>,
    lost: u64,
    config: OtlpConfig,
}

impl Sender {
    pub fn start(config: &OtlpConfig) -> Sender {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let (finished, done) = sync_channel::<()>(1);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let timeout = config.timeout;
        let thread = {
            let tally = tally.clone();
            std::thread::Builder::new()
                .name("otlp-export".into())
                .spawn(move || {
                    deliver(queue, timeout, &tally);
                    let _ = finished.send(());
                })
                .ok()
        };
        Sender {
            jobs,
            thread,
            done,
            tally,
            lost: 0,
            config: config.clone(),
        }
    }

    pub fn metrics(&mut self, request: impl Message) {
        let url = self.config.metrics_url.clone();
        let headers = self.config.metrics_headers.clone();
        self.queue("metrics", url, headers, request.encode_to_vec());
    }

    pub fn traces(&mut self, request: impl Message) {
        let url = self.config.traces_url.clone();
        let headers = self.config.traces_headers.clone();
        self.queue("traces", url, headers, request.encode_to_vec());
    }

    fn queue(
        &mut self,
        what: &'static str,
        url: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) {
        if url.is_empty() {
            return; // only the other signal's endpoint was given
        }
        let job = Job::Post {
            what,
            url,
            headers,
            body,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.jobs.try_send(job)
        {
            if self.lost == 0 {
                eprintln!(
                    "loadgen: warning: the OTLP collector does not keep up: an export was left out \
                     (metrics are cumulative: the next one carries them)"
                );
            }
            self.lost += 1;
        }
    }

    /// Sends what is queued within `limit`, then says what the export did.
    pub fn close(mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        // Blocks at most until the queue has room, which the thread makes
        // within one export's timeout.
        let _ = self.jobs.send(Job::Stop);
        let finished = match self
            .done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(()) => true,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => false,
        };
        if finished {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
        let tally = self
            .tally
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        let [metrics, traces] = tally.sent;
        let failed = tally.failed[0] + tally.failed[1];
        let mut said = format!(
            "loadgen: OTLP export: {metrics} metrics exports and {traces} span batches delivered"
        );
        if failed + self.lost > 0 || !finished {
            said.push_str(&format!(", {} failed", failed + self.lost));
            if !finished {
                said.push_str(&format!(
                    " (and what was still queued after {} was left)",
                    crate::fmt::short(limit)
                ));
            }
            if let Some(error) = tally.last_error {
                said.push_str(&format!("; the last: {error}"));
            }
        }
        eprintln!("{said}");
    }
}

fn deliver(queue: Receiver<Job>, timeout: Duration, tally: &Mutex<Tally>) {
    let client = match reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: warning: no OTLP export: cannot make an HTTP client: {e}");
            return;
        }
    };
    let mut said_failure = false;
    while let Ok(Job::Post {
        what,
        url,
        headers,
        body,
    }) = queue.recv()
    {
        let mut request = client
            .post(&url)
            .header("content-type", "application/x-protobuf")
            .body(body);
        for (k, v) in &headers {
            request = request.header(k, v);
        }
        let result = request
            .send()
            .map_err(|e| format!("{e}"))
            .and_then(|answer| {
                let status = answer.status();
                if status.is_success() {
                    Ok(())
                } else {
                    let body = answer.text().unwrap_or_default();
                    Err(format!(
                        "{url} answered {status}: {}",
                        body.chars().take(200).collect::<String>()
                    ))
                }
            });
        let index = usize::from(what == "traces");
        let Ok(mut t) = tally.lock() else { return };
        match result {
            Ok(()) => t.sent[index] += 1,
            Err(error) => {
                t.failed[index] += 1;
                if !said_failure {
                    said_failure = true;
                    eprintln!(
                        "loadgen: warning: the OTLP {what} export to {url} failed: {error} \
                         (the run goes on; each export is tried once, failures are counted at the end)"
                    );
                }
                t.last_error = Some(error);
            }
        }
    }
}
