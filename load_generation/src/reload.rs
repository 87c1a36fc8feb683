//! Hot reload: the config and its template (or locustfile) are watched, and a
//! change is validated before it reaches the run.
//!
//! The files' directories are watched, not the files: a Kubernetes ConfigMap
//! volume updates by swapping a `..data` symlink, which replaces no file in
//! place. Every event (or SIGHUP) re-reads both files through their paths, so
//! the new symlink target is read; nothing happens unless their text changed
//! (SIGHUP reloads even then). A config that fails validation is reported with
//! file, line and column and ignored: the running plan goes on.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::cli::ConfigArgs;
use crate::load::Load;
use crate::locustfile::{self, ClientChoice};
use crate::plan::Plan;
use crate::runner::Change;

/// Events closer together than this are one change (an editor's save, the
/// kubelet's symlink swap, are several events).
const SETTLE: Duration = Duration::from_millis(300);

/// What the watcher compares to decide whether anything changed.
struct Seen {
    config: String,
    template: String,
    /// The user types of the running plan: a new plan keeps their order.
    plan: Plan,
}

/// Starts watching; changes arrive on the returned channel. `watch` false
/// leaves only SIGHUP.
pub fn start(
    args: &ConfigArgs,
    load: &Load,
    client: ClientChoice,
    watch: bool,
) -> Result<mpsc::Receiver<Change>> {
    let (events_tx, mut events) = mpsc::channel::<()>(16);
    let config_path = args.config_file.clone();
    let template_path = load.template.source.path.clone();
    let watcher = if watch {
        let tx = events_tx.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok() {
                    let _ = tx.try_send(());
                }
            })
            .context("cannot watch the config for changes")?;
        for dir in directories(&[&config_path, &template_path]) {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .with_context(|| format!("cannot watch {} for changes", dir.display()))?;
        }
        Some(watcher)
    } else {
        None
    };
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let (changes_tx, changes) = mpsc::channel::<Change>(4);
    let args = args.clone();
    let mut seen = Seen {
        config: load.config.source.text.clone(),
        template: load.template.source.text.clone(),
        plan: load.plan.clone(),
    };
    tokio::spawn(async move {
        let _watcher = watcher; // watching stops when it is dropped
        loop {
            let forced = tokio::select! {
                Some(()) = events.recv() => false,
                Some(()) = hangup.recv() => true,
                else => return,
            };
            // Let a burst of events settle, then read once.
            tokio::time::sleep(SETTLE).await;
            while events.try_recv().is_ok() {}
            let change = tokio::task::block_in_place(|| check(&args, &mut seen, client, forced));
            if let Some(change) = change {
                if changes_tx.send(change).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(changes)
}

/// The directories to watch for `paths` (each once): each file's own, and, when
/// the file is a symlink, its target's, since that is where a ConfigMap volume
/// swaps its `..data` link (an init container may link a pod's config files
/// into the ConfigMap's mount).
fn directories(paths: &[&PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for path in paths {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let target = std::fs::read_link(path)
            .ok()
            .map(|link| dir.join(link))
            .and_then(|t| t.parent().map(PathBuf::from))
            .filter(|t| t.is_dir());
        for d in std::iter::once(dir).chain(target) {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

/// Reads the files again; a change if their text changed (or `forced`).
fn check(args: &ConfigArgs, seen: &mut Seen, client: ClientChoice, forced: bool) -> Option<Change> {
    let (template_path, _) = args.locustfile();
    let config = std::fs::read_to_string(&args.config_file).unwrap_or_default();
    let template = std::fs::read_to_string(&template_path).unwrap_or_default();
    if !forced && config == seen.config && template == seen.template {
        return None;
    }
    let load = match Load::open(args) {
        Ok(load) => load,
        Err(diagnostics) => {
            // Remember the broken text: the same error is said once, not at every event.
            seen.config = config;
            seen.template = template;
            return Some(Change::Invalid(diagnostics.to_string()));
        }
    };
    let mut plan = Plan::keeping_types(&load.config, &seen.plan.user_types);
    plan.class_waits = load.plan.class_waits;
    let new_types = plan.user_types.len() > seen.plan.user_types.len();
    let template_changed = load.template.source.text != seen.template;
    seen.config = load.config.source.text.clone();
    seen.template = load.template.source.text.clone();
    seen.plan = plan.clone();
    if template_changed || new_types {
        // New Python classes: Locust must load the new file.
        // The client is chosen again: the new template may use what FastHttpUser lacks.
        let user_class = load.template.client(client).class;
        let file =
            locustfile::render_for_run(&load.template, &plan, user_class, &load.config_name());
        Some(Change::Locustfile {
            plan,
            locustfile: file,
        })
    } else {
        Some(Change::Plan(plan))
    }
}
