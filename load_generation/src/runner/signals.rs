//! SIGINT and SIGTERM: the first stops the run gracefully (summary and report are
//! still written); a second one kills Locust and exits at once.

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// What to clean up if the user insists (a second signal): the Locust process
/// groups to kill and the private directories to remove, since exiting at once
/// skips the normal cleanup.
#[derive(Debug, Clone, Default)]
pub struct Emergency {
    pub pids: Arc<Mutex<Vec<u32>>>,
    pub dirs: Arc<Mutex<Vec<std::path::PathBuf>>>,
}

impl Emergency {
    fn run(&self) {
        if let Ok(pids) = self.pids.lock() {
            for &pid in pids.iter() {
                // SAFETY: signalling process groups we created.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
        }
        if let Ok(dirs) = self.dirs.lock() {
            for dir in dirs.iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// A handle that resolves when a stop has been requested.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// Installs the handlers; `emergency` is what a second signal cleans up.
    pub fn install(emergency: Emergency) -> std::io::Result<Shutdown> {
        let (tx, rx) = watch::channel(false);
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            let mut count = 0;
            loop {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                count += 1;
                if count == 1 {
                    let _ = tx.send(true);
                } else {
                    eprintln!("loadgen: second signal, stopping at once");
                    emergency.run();
                    std::process::exit(130);
                }
            }
        });
        Ok(Shutdown { rx })
    }

    /// Resolves once a stop is requested (at once if it already was).
    pub async fn requested(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}
