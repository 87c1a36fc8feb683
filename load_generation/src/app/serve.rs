//! What a run serves while it goes: Prometheus metrics, the control API and
//! the live dashboard. They start before Locust is found or installed, so a
//! bad address fails at once and `/healthz` answers meanwhile (Kubernetes
//! probes); they stop when the run is over, however it ended.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use tokio::task::JoinHandle;

use crate::cli::ControlArgs;
use crate::control;
use crate::dashboard::{self, Dashboard, Hub};
use crate::metrics::{self, Metrics};
use crate::runner::Inputs;
use crate::verdict::Publish;

pub struct Servers {
    /// The metrics' observer, when `--metrics-addr` serves them.
    pub metrics: Option<Metrics>,
    /// The dashboard's frames, when it is served.
    hub: Option<Arc<Hub>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Servers {
    /// Starts each server asked for. The control API's calls and the
    /// dashboard's buttons reach the run through one channel, in `inputs`.
    pub async fn start(
        metrics_addr: Option<SocketAddr>,
        control: &ControlArgs,
        dashboard: Option<SocketAddr>,
        title: String,
        inputs: &mut Inputs,
    ) -> Result<Servers> {
        let mut servers = Servers {
            metrics: None,
            hub: None,
            tasks: Vec::new(),
        };
        if let Some(addr) = metrics_addr {
            let observer = Metrics::new();
            servers.tasks.push(metrics::serve(addr, &observer).await?);
            servers.metrics = Some(observer);
        }
        let read_only = control.dashboard_read_only;
        let token = control.control_token.clone();
        let controls = (control.control_addr.is_some() || (dashboard.is_some() && !read_only))
            .then(|| {
                let (tx, rx) = tokio::sync::mpsc::channel(16);
                inputs.control = Some(rx);
                tx
            });
        let allowed = control::host::AllowedHosts::new(&control.allowed_hosts);
        if let (Some(addr), Some(tx)) = (control.control_addr, &controls) {
            let task =
                control::server::serve(addr, token.clone(), allowed.clone(), tx.clone()).await?;
            servers.tasks.push(task);
        }
        if let Some(addr) = dashboard {
            let hub = Hub::new();
            let options = dashboard::server::Options {
                addr,
                token,
                control: controls.filter(|_| !read_only),
                title,
                allowed_hosts: allowed,
            };
            let (at, task) = dashboard::server::serve(options, hub.clone()).await?;
            eprintln!("loadgen: dashboard at http://{at}/");
            servers.tasks.push(task);
            servers.hub = Some(hub);
        }
        Ok(servers)
    }

    /// Where the verdict publishes its judgments: the metrics' gauges and the dashboard.
    pub fn publishers(&self) -> Vec<Box<dyn Publish>> {
        let mut publish: Vec<Box<dyn Publish>> = Vec::new();
        if let Some(m) = &self.metrics {
            publish.push(Box::new(m.threshold_gauges()));
        }
        if let Some(hub) = &self.hub {
            publish.push(Box::new(hub.clone()));
        }
        publish
    }

    /// The dashboard's observer, when it is served.
    pub fn dashboard(&self) -> Option<Dashboard> {
        self.hub.clone().map(Dashboard::new)
    }

    /// The run is over, failed or not: nothing is left to scrape, probe or drive.
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}
