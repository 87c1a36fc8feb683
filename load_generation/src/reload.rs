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

use crate::load::{Files, Load};
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
    files: &Files,
    load: &Load,
    client: ClientChoice,
    watch: bool,
) -> Result<mpsc::Receiver<Change>> {
    let (events_tx, mut events) = mpsc::channel::<()>(16);
    let config_path = files.config.clone();
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
    let files = files.clone();
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
            let change = tokio::task::block_in_place(|| check(&files, &mut seen, client, forced));
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
fn check(files: &Files, seen: &mut Seen, client: ClientChoice, forced: bool) -> Option<Change> {
    let config = std::fs::read_to_string(&files.config).unwrap_or_default();
    let template = std::fs::read_to_string(&files.locustfile).unwrap_or_default();
    if !forced && config == seen.config && template == seen.template {
        return None;
    }
    let load = match Load::open(files) {
        Ok(load) => load,
        Err(diagnostics) => {
            // Remember the broken text: the same error is said once, not at every event.
            seen.config = config;
            seen.template = template;
            return Some(Change::Invalid(diagnostics.to_string()));
        }
    };
    let previous = &seen.plan.user_types;
    let plan = Plan::build(&load.config, previous, load.template.is_plain());
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

#[cfg(test)]
mod tests {
    //! The reload path fuzzed: any text replacing a running config goes through
    //! `check` as a watched change would, never panics, is refused with
    //! diagnostics when invalid (the running plan kept), and when valid keeps
    //! the running types first and the schedule's invariants once it takes over.

    use std::time::Instant;

    use proptest::prelude::*;

    use super::*;
    use crate::runner::schedule::Schedule;

    const RUNNING: &str = "phases { duration: 2 num_users: 6 hatch_rate_per_s: 10\n  user_types { name: \"A\" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 }\n  user_types { name: \"B\" ratio: 2 } }\n";
    /// Behaviours for the running types and two more a reload may add.
    const TEMPLATE: &str = "from locust import TaskSet, task\n\n\nclass AUserBehavior(TaskSet):\n    @task\n    def a(self):\n        self.client.get(\"/a\")\n\n\nclass BUserBehavior(TaskSet):\n    @task\n    def b(self):\n        self.client.get(\"/b\")\n\n\nclass CUserBehavior(TaskSet):\n    @task\n    def c(self):\n        self.client.get(\"/c\")\n\n\n{{.Users}}\n";

    /// A phase as text, from parts that are now and then out of range.
    fn phase() -> impl Strategy<Value = String> {
        let ratio = prop_oneof![19 => 1u32..4, 1 => Just(0u32)];
        // Waits: low <= high mostly, now and then the other way round.
        let waits =
            (0u32..2000, 0u32..1000, prop::bool::weighted(0.05)).prop_map(|(low, extra, swap)| {
                if swap {
                    (low + extra + 1, low)
                } else {
                    (low, low + extra)
                }
            });
        let user_type = |name: &'static str, ratio, (low, high): (u32, u32)| {
            format!("  user_types {{ name: \"{name}\" ratio: {ratio} min_wait_ms: {low} max_wait_ms: {high} }}\n")
        };
        // Mostly distinct types the template defines; else any names, repeats included.
        let known = prop::sample::subsequence(vec!["A", "B", "C"], 1..=3);
        let any_names = prop::collection::vec(
            prop::sample::select(vec!["A", "C", "D", "class", "b-2", ""]),
            0..3,
        );
        let names = prop_oneof![9 => known, 1 => any_names];
        let types = names.prop_flat_map(move |names| {
            let n = names.len();
            (
                Just(names),
                prop::collection::vec(ratio.clone(), n),
                prop::collection::vec(waits.clone(), n),
            )
                .prop_map(move |(names, ratios, waits)| {
                    let mut text = String::new();
                    for ((name, ratio), waits) in names.into_iter().zip(ratios).zip(waits) {
                        text.push_str(&user_type(name, ratio, waits));
                    }
                    text
                })
        });
        (
            prop_oneof![19 => 1u32..6, 1 => Just(0u32)],
            0u32..40,
            prop_oneof![19 => 1u32..30, 1 => Just(0u32)],
            types,
        )
            .prop_map(|(duration, users, hatch, types)| {
                format!("phases {{ duration: {duration} num_users: {users} hatch_rate_per_s: {hatch}\n{types} }}\n")
            })
    }

    /// Config text: built from phases (often valid), the same with a byte
    /// range cut or a character put in, or any text at all.
    fn config_text() -> impl Strategy<Value = String> {
        let built = prop::collection::vec(phase(), 1..4)
            .prop_map(|p| p.concat())
            .boxed();
        prop_oneof![
            6 => built.clone(),
            2 => (built.clone(), any::<prop::sample::Index>(), any::<prop::sample::Index>())
                .prop_map(|(text, a, b)| {
                    let chars: Vec<char> = text.chars().collect();
                    let (a, b) = (a.index(chars.len() + 1), b.index(chars.len() + 1));
                    chars[..a.min(b)].iter().chain(&chars[a.max(b)..]).collect()
                }),
            2 => (built, any::<prop::sample::Index>(), any::<char>()).prop_map(|(text, at, c)| {
                let mut chars: Vec<char> = text.chars().collect();
                chars.insert(at.index(chars.len() + 1), c);
                chars.into_iter().collect()
            }),
            1 => ".{0,200}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_reloaded_config_is_refused_with_diagnostics_or_keeps_the_schedule_whole(
            reloads in prop::collection::vec(config_text(), 1..4),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let config_file = dir.path().join("load.pbtxt");
            std::fs::write(&config_file, RUNNING).unwrap();
            std::fs::write(dir.path().join("locustfile.loadgen.tmpl"), TEMPLATE).unwrap();
            let files = Files {
                locustfile: dir.path().join("locustfile.loadgen.tmpl"),
                config: config_file.clone(),
                given: crate::locustfile::Given::Template,
            };
            let load = Load::open(&files).expect("the running config is valid");
            let mut seen = Seen {
                config: load.config.source.text.clone(),
                template: load.template.source.text.clone(),
                plan: load.plan.clone(),
            };
            let t0 = Instant::now();
            let mut schedule = Schedule::new(load.plan.clone(), t0);
            let mut now = t0;
            for text in reloads {
                std::fs::write(&config_file, &text).unwrap();
                let running = seen.plan.clone();
                let change = check(&files, &mut seen, ClientChoice::Auto, true);
                let plan = match change {
                    Some(Change::Invalid(diagnostics)) => {
                        prop_assert!(
                            diagnostics.contains("load.pbtxt") || diagnostics.contains("locustfile.loadgen.tmpl"),
                            "a refusal that names no file: {diagnostics}"
                        );
                        prop_assert!(diagnostics.contains("error"), "{diagnostics}");
                        prop_assert_eq!(&seen.plan.user_types, &running.user_types, "a refused config changed the plan");
                        continue;
                    }
                    Some(Change::Plan(plan)) | Some(Change::Locustfile { plan, .. }) => plan,
                    None => { prop_assert!(false, "a forced reload gave nothing"); unreachable!() }
                };
                // The running types stay first, in their order (counts keep their meaning).
                prop_assert!(plan.user_types.starts_with(&running.user_types), "{:?} then {:?}", running.user_types, plan.user_types);
                prop_assert_eq!(&seen.plan.user_types, &plan.user_types);
                for i in 0..plan.phases.len() {
                    let targets = plan.targets(i);
                    prop_assert_eq!(targets.len(), plan.user_types.len());
                    prop_assert_eq!(targets.iter().map(|&n| u64::from(n)).sum::<u64>(), plan.total_users(i));
                }
                // The schedule takes it over mid-run and keeps to it: counts for
                // every type, never beyond the larger of the two phases' totals
                // during a ramp, and the phase's exact targets once settled.
                schedule.replace_plan(plan.clone(), now);
                let until = now + plan.cycle() + Duration::from_secs(3);
                while now < until {
                    now += Duration::from_millis(100);
                    let before: u64 = schedule.commanded().iter().map(|&n| u64::from(n)).sum();
                    schedule.tick(now);
                    let slot = schedule.slot();
                    prop_assert!(slot.phase_index < plan.phases.len());
                    let commanded = schedule.commanded();
                    prop_assert_eq!(commanded.len(), plan.user_types.len());
                    let total: u64 = commanded.iter().map(|&n| u64::from(n)).sum();
                    let target = plan.total_users(slot.phase_index);
                    prop_assert!(total <= before.max(target), "{} users commanded, from {} towards {}", total, before, target);
                    if schedule.settled(now, Duration::ZERO) {
                        prop_assert_eq!(commanded, &schedule.targets(slot.phase_index));
                    }
                }
            }
        }
    }
}
