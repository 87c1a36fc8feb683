//! Every decision a run makes from its flags and its load, made once before
//! anything starts: the client the users get, how many Locust processes, what
//! Locust is given, how long the run goes and from when. Pure (the machine's
//! cores and the clock come in as values), so each rule is unit-tested here;
//! `execute` only wires what [`RunSetup`] says. Stages never see the flags.

use std::time::{Duration, SystemTime};

use crate::cli::{EngineArgs, TraceArgs, Workers};
use crate::diagnostic::BadInput;
use crate::load::Load;
use crate::locust::install::LocustInstall;
use crate::locust::protocol::{ClusterKey, TraceSetup, DEFAULT_MASTER_PORT};
use crate::locust::workspace::Workspace;
use crate::locustfile::Client;
use crate::runner::group::GroupSpec;
use crate::runner::{schedule, sizing, RunOptions};

/// Locust's own: 3 heartbeats missed, 1 s apart.
const DEFAULT_HEARTBEAT_TIMEOUT: u32 = 3;

/// When the load runs: for how long, and anchored where on the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct When {
    pub run_time: Option<Duration>,
    /// `--start-at`: the schedule's anchor; the run time then counts from it.
    pub start_at: Option<SystemTime>,
}

/// What a run was decided to be.
#[derive(Debug)]
pub struct RunSetup {
    /// The client the users get (said, sized for, and rendered into the locustfile).
    pub client: Client,
    /// Worker processes started on this machine (0: one local Locust).
    pub local_workers: u32,
    /// Workers expected from elsewhere (`loadgen worker`).
    pub remote_workers: u32,
    /// What `--workers auto` chose, and why: said at the start.
    pub workers_said: Option<String>,
    /// Locust's own options: `--tags`/`--exclude-tags`, then what follows `--`.
    pub locust_args: Vec<String>,
    pub master_bind: Option<(String, u16)>,
    /// Seconds without a heartbeat before a worker counts as lost.
    pub heartbeat_timeout: u32,
    /// Keys the master's link to its workers; `None` runs it plain.
    pub cluster_key: Option<ClusterKey>,
    /// Why the link runs plain where that matters: said at the start.
    pub cluster_said: Option<String>,
    /// The trace context on every request, with this run's id.
    pub trace: TraceSetup,
    pub options: RunOptions,
}

impl RunSetup {
    /// Decides a run of `load` from its engine flags and `when`, on a machine of
    /// `cores` at `now`; a clear error for flags that can't run.
    pub fn decide(
        load: &Load,
        engine: &EngineArgs,
        given_key: Option<ClusterKey>,
        when: When,
        cores: u32,
        now: SystemTime,
        sample_interval: Duration,
    ) -> Result<RunSetup, BadInput> {
        if let (Some(start_at), Some(run_time)) = (when.start_at, when.run_time) {
            if schedule::run_time_left(start_at, run_time, now).is_none() {
                let end = chrono::DateTime::<chrono::Utc>::from(start_at + run_time);
                return Err(BadInput(format!(
                    "--start-at with --run-time {}: that run ended at {}, so nothing is left to run; \
                     give a later --start-at, or no --run-time to loop until stopped",
                    crate::fmt::short(run_time),
                    end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
        }
        if load.plan.peak_users() > engine.max_users {
            return Err(BadInput(format!(
                "the load asks for {} users at its peak, over --max-users {}; a Locust process handles a few thousand users, so this is likely a typo in num_users (pass a larger --max-users if it is not)",
                load.plan.peak_users(),
                engine.max_users
            )));
        }
        let locust_args = engine.locust_options()?;
        let client = load.template.client(engine.python.user_class);
        // Workers expected from other machines carry the load themselves: auto
        // then starts none here.
        let (local_workers, workers_said) = match engine.workers {
            Workers::Count(n) => (n, None),
            Workers::Auto if engine.expect_workers > 0 => (
                0,
                Some(format!(
                    "--workers auto: no local workers (--expect-workers {} carry the load)",
                    engine.expect_workers
                )),
            ),
            Workers::Auto => {
                let user_class = sizing::sized_client(&load.plan, Some(client.class));
                let choice = sizing::choose(&load.plan, 1.0, user_class, cores);
                (choice.workers, Some(choice.why))
            }
        };
        let (cluster_key, cluster_said) = cluster_keying(
            given_key,
            engine.no_cluster_key,
            local_workers,
            engine.expect_workers,
            engine.master_bind,
        );
        Ok(RunSetup {
            trace: trace_setup(load, &engine.trace, run_id()),
            client,
            local_workers,
            remote_workers: engine.expect_workers,
            workers_said,
            cluster_key,
            cluster_said,
            locust_args,
            master_bind: engine.master_bind.map(|a| (a.ip().to_string(), a.port())),
            heartbeat_timeout: engine
                .heartbeat_timeout
                .unwrap_or(DEFAULT_HEARTBEAT_TIMEOUT),
            options: RunOptions {
                run_time: when.run_time,
                start_at: when.start_at,
                sample_interval,
                // With remote workers, auto starts none here: they carry the load.
                auto_workers: matches!(engine.workers, Workers::Auto) && engine.expect_workers == 0,
            },
        })
    }

    /// How to start the run's Locust group with `locust`, from `workspace`.
    pub fn group(
        &self,
        locust: &LocustInstall,
        workspace: &Workspace,
        host: Option<String>,
        user_classes: Vec<String>,
        pids: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
        verbose: bool,
    ) -> GroupSpec {
        GroupSpec {
            python: locust.python.clone(),
            harness: workspace.harness_path(),
            locustfile_path: workspace.locustfile_path(),
            locustfile: workspace.locustfile.clone(),
            workdir: workspace.dir.path().to_path_buf(),
            host,
            user_classes,
            locust_args: self.locust_args.clone(),
            local_workers: self.local_workers,
            remote_workers: self.remote_workers,
            master_bind: self.master_bind.clone(),
            heartbeat_timeout: self.heartbeat_timeout,
            cluster_key: self.cluster_key.clone(),
            trace: self.trace.clone(),
            pids,
            verbose,
        }
    }

    /// Locust processes in the run: the local one or master's workers, and the
    /// remote workers.
    pub fn processes(&self) -> u32 {
        self.local_workers.max(1) + self.remote_workers
    }
}

/// What a `loadgen worker` was decided to be, from its flags, as a run's
/// are by [`RunSetup::decide`]: the master it joins, its key, its client,
/// what Locust is given, and what to say at its start.
#[derive(Debug)]
pub struct WorkerSetup {
    pub client: Client,
    pub master_host: String,
    pub master_port: u16,
    pub cluster_key: Option<ClusterKey>,
    pub locust_args: Vec<String>,
    /// Until the master's first share brings the master's trace context.
    pub trace: TraceSetup,
    /// Warnings for the start.
    pub said: Vec<String>,
}

impl WorkerSetup {
    pub fn decide(
        load: &Load,
        engine: &EngineArgs,
        master: &str,
        given_key: Option<ClusterKey>,
    ) -> Result<WorkerSetup, BadInput> {
        let (master_host, master_port) = master_address(master)?;
        let mut said = Vec::new();
        if engine.heartbeat_timeout.is_some() {
            said.push(
                "--heartbeat-timeout is the master's: this worker takes the master's from its shares"
                    .to_string(),
            );
        }
        if given_key.is_none() {
            said.push(format!(
                "no cluster key: this worker obeys whatever answers at {master_host}:{master_port}, \
                 in clear; a keyed master refuses it (give the master's --cluster-key-file)"
            ));
        }
        Ok(WorkerSetup {
            client: load.template.client(engine.python.user_class),
            master_host,
            master_port,
            cluster_key: given_key,
            locust_args: engine.locust_options()?,
            trace: trace_setup(load, &engine.trace, run_id()),
            said,
        })
    }
}

/// `--master HOST[:PORT]` (`[::1]:5557` for an IPv6 address): the port is
/// Locust's 5557 when none is given.
fn master_address(master: &str) -> Result<(String, u16), BadInput> {
    let bad = |why: &str| {
        BadInput(format!(
            "--master {master:?}: {why}; give HOST or HOST:PORT, e.g. loadgen-master:5557 or [::1]:5557"
        ))
    };
    let (host, port) = match master.rsplit_once(':') {
        // An IPv6 address without a port has colons but no closing bracket before the last.
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p)),
        _ => (master, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => DEFAULT_MASTER_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
    };
    Ok((host.to_string(), port))
}

/// A run's id: 16 random hex digits, in every request's baggage, every exported
/// span and metric, and summary.json, so that a trace backend tells runs apart.
pub fn run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The trace context of a run of `load`: the config's `trace_context`, each
/// part overridden by its flag.
pub fn trace_setup(load: &Load, flags: &TraceArgs, run_id: String) -> TraceSetup {
    let config = &load.config.trace;
    TraceSetup {
        traceparent: !(flags.no_traceparent || config.no_traceparent),
        baggage: !(flags.no_baggage || config.no_baggage),
        sample_ratio: flags
            .trace_sample
            .or(config.sample_ratio)
            .unwrap_or(DEFAULT_SAMPLE_RATIO),
        baggage_prefix: flags
            .baggage_prefix
            .clone()
            .or_else(|| config.baggage_prefix.clone())
            .unwrap_or_else(|| "loadgen.".to_string()),
        run_id,
        user_types: load
            .plan
            .user_types
            .iter()
            .map(|t| (t.user_class(), t.as_str().to_string()))
            .collect(),
    }
}

/// One task iteration in a hundred is sampled unless told otherwise: enough
/// traces to follow each phase, few enough to cost nothing a run can see.
pub const DEFAULT_SAMPLE_RATIO: f64 = 0.01;

/// How the master's link to its workers is keyed. A key given is used. With
/// none, workers that are all this run's own (local) get a random key of
/// their own (unless `plain`: `--no-cluster-key`); workers from elsewhere
/// must hold the same key as the master, so without one the link runs plain,
/// as Locust's does, and a master that listens beyond loopback says what that
/// leaves open.
fn cluster_keying(
    given: Option<ClusterKey>,
    plain: bool,
    local_workers: u32,
    remote_workers: u32,
    master_bind: Option<std::net::SocketAddr>,
) -> (Option<ClusterKey>, Option<String>) {
    if given.is_some() {
        return (given, None);
    }
    if remote_workers == 0 {
        return ((local_workers > 0 && !plain).then(ClusterKey::random), None);
    }
    let said = master_bind.filter(|a| !a.ip().is_loopback()).map(|a| {
        format!(
            "the Locust master listens on {a}, beyond loopback, without a cluster key: anyone who \
             reaches that port can join as a worker and report figures, and the traffic (the target, \
             the users' shares, every statistic) crosses the network in clear. Give the same \
             --cluster-key-file to this run and to every `loadgen worker` (`loadgen cluster-key` \
             makes one)"
        )
    });
    (None, said)
}

/// The cluster key given, from `file` (`--cluster-key-file`) or else from
/// `from_env` (`LOADGEN_CLUSTER_KEY`); `None` when neither is set.
pub fn given_cluster_key(
    file: Option<&std::path::Path>,
    from_env: Option<String>,
) -> Result<Option<ClusterKey>, BadInput> {
    let (text, source) = match (file, from_env) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                BadInput(format!(
                    "--cluster-key-file {}: cannot read it ({e}); make one with \
                     `loadgen cluster-key > {}`",
                    path.display(),
                    path.display()
                ))
            })?;
            (text, format!("--cluster-key-file {}", path.display()))
        }
        (None, Some(text)) => (text, "LOADGEN_CLUSTER_KEY".to_string()),
        (None, None) => return Ok(None),
    };
    ClusterKey::new(&text)
        .map(Some)
        .map_err(|why| BadInput(format!("{source}: {why}")))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::locustfile::UserClass;

    /// The engine flags as a command line gives them.
    fn engine(flags: &[&str]) -> EngineArgs {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            engine: EngineArgs,
        }
        let args = std::iter::once("loadgen").chain(flags.iter().copied());
        Flags::try_parse_from(args)
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"))
            .engine
    }

    fn hipster() -> Load {
        Load::hipster().expect("the built-in load is valid")
    }

    #[test]
    fn a_worker_reads_its_master_and_says_what_its_flags_leave_open() {
        for (given, host, port) in [
            ("loadgen-master", "loadgen-master", 5557),
            ("10.0.0.7:6000", "10.0.0.7", 6000),
            ("[::1]:5558", "::1", 5558),
            ("::1", "::1", 5557),
        ] {
            let w = WorkerSetup::decide(&hipster(), &engine(&[]), given, None).unwrap();
            assert_eq!(
                (w.master_host.as_str(), w.master_port),
                (host, port),
                "{given}"
            );
            assert!(
                w.said.iter().any(|s| s.contains("no cluster key")),
                "{:?}",
                w.said
            );
        }
        for bad in ["master:http", "master:0", ":5557", "master:70000"] {
            let error = WorkerSetup::decide(&hipster(), &engine(&[]), bad, None).unwrap_err();
            assert!(error.0.contains("HOST:PORT"), "{bad}: {}", error.0);
        }
        let keyed = WorkerSetup::decide(
            &hipster(),
            &engine(&["--heartbeat-timeout", "5s", "--no-baggage"]),
            "m",
            Some(ClusterKey::random()),
        )
        .unwrap();
        assert_eq!(keyed.said.len(), 1, "{:?}", keyed.said);
        assert!(keyed.said[0].contains("--heartbeat-timeout"));
        assert!(!keyed.trace.baggage && keyed.trace.traceparent);
    }

    fn decide(flags: &[&str], when: When, cores: u32) -> Result<RunSetup, BadInput> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        RunSetup::decide(
            &hipster(),
            &engine(flags),
            None,
            when,
            cores,
            now,
            Duration::from_millis(500),
        )
    }

    const FOR_A_MINUTE: When = When {
        run_time: Some(Duration::from_secs(60)),
        start_at: None,
    };

    #[test]
    fn local_workers_are_keyed_unless_plain_and_a_plain_master_beyond_loopback_warns() {
        let s = decide(&["--workers", "2"], FOR_A_MINUTE, 2).expect("valid");
        assert!(s.cluster_key.is_some() && s.cluster_said.is_none());
        let s = decide(&["--workers", "2", "--no-cluster-key"], FOR_A_MINUTE, 2).expect("valid");
        assert!(s.cluster_key.is_none() && s.cluster_said.is_none());
        let s = decide(&["--workers", "0"], FOR_A_MINUTE, 2).expect("valid");
        assert!(s.cluster_key.is_none(), "one process: no link to key");
        let remote = ["--expect-workers", "2", "--master-bind", "0.0.0.0:5557"];
        let s = decide(&remote, FOR_A_MINUTE, 2).expect("valid");
        assert!(
            s.cluster_key.is_none(),
            "remote workers need the master's own key"
        );
        let said = s.cluster_said.expect("a warning");
        assert!(
            said.contains("0.0.0.0:5557, beyond loopback, without a cluster key")
                && said.contains("--cluster-key-file"),
            "{said}"
        );
        let on_loopback = ["--expect-workers", "2", "--master-bind", "127.0.0.1:5557"];
        let s = decide(&on_loopback, FOR_A_MINUTE, 2).expect("valid");
        assert!(s.cluster_key.is_none() && s.cluster_said.is_none());
        let key = ClusterKey::new("0123456789abcdef0123").expect("a key");
        let s = RunSetup::decide(
            &hipster(),
            &engine(&remote),
            Some(key.clone()),
            FOR_A_MINUTE,
            2,
            SystemTime::UNIX_EPOCH,
            Duration::from_millis(500),
        )
        .expect("valid");
        assert_eq!((s.cluster_key, s.cluster_said), (Some(key), None));
    }

    #[test]
    fn a_cluster_key_comes_from_its_file_or_the_environment() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("key");
        std::fs::write(&file, "0123456789abcdef0123456789abcdef\n").expect("write");
        let from_file = given_cluster_key(Some(&file), Some("ignored-because-file".into()));
        assert_eq!(
            from_file.expect("read").map(|k| k.reveal().to_string()),
            Some("0123456789abcdef0123456789abcdef".to_string())
        );
        let from_env = given_cluster_key(None, Some("a passphrase of enough length".into()));
        assert!(from_env.expect("valid").is_some());
        assert_eq!(given_cluster_key(None, None).expect("none"), None);
        let missing = given_cluster_key(Some(&dir.path().join("nope")), None).unwrap_err();
        assert!(
            missing.0.contains("cannot read it") && missing.0.contains("loadgen cluster-key"),
            "{}",
            missing.0
        );
        let short = given_cluster_key(None, Some("short".into())).unwrap_err();
        assert!(
            short
                .0
                .starts_with("LOADGEN_CLUSTER_KEY: a cluster key needs at least 16"),
            "{}",
            short.0
        );
    }

    #[test]
    fn the_defaults_run_the_hipster_load_in_one_fast_process() {
        let s = decide(&[], FOR_A_MINUTE, 2).expect("valid");
        assert_eq!(s.client.class, UserClass::Fast);
        assert_eq!(
            (s.local_workers, s.remote_workers, s.processes()),
            (0, 0, 1)
        );
        assert!(
            s.workers_said
                .as_deref()
                .is_some_and(|w| w.contains("--workers auto")),
            "auto sizing is said: {:?}",
            s.workers_said
        );
        assert!(s.options.auto_workers);
        assert_eq!(s.heartbeat_timeout, 3);
        assert_eq!(s.options.run_time, Some(Duration::from_secs(60)));
    }

    #[test]
    fn remote_workers_carry_the_load_so_auto_starts_none_here() {
        let s = decide(&["--expect-workers", "3"], FOR_A_MINUTE, 8).expect("valid");
        assert_eq!((s.local_workers, s.processes()), (0, 4));
        assert_eq!(
            s.workers_said.as_deref(),
            Some("--workers auto: no local workers (--expect-workers 3 carry the load)")
        );
        assert!(
            !s.options.auto_workers,
            "a plan that grows is not this machine's to size"
        );
        let s = decide(
            &["--workers", "2", "--heartbeat-timeout", "9"],
            FOR_A_MINUTE,
            8,
        )
        .expect("valid");
        assert_eq!(
            (s.local_workers, s.workers_said, s.heartbeat_timeout),
            (2, None, 9)
        );
    }

    #[test]
    fn a_peak_over_max_users_is_refused_as_a_likely_typo() {
        let e = decide(&["--max-users", "10"], FOR_A_MINUTE, 2).expect_err("over");
        assert!(e.0.contains("over --max-users 10"), "{}", e.0);
    }

    #[test]
    fn tags_go_to_locust_once() {
        let s = decide(
            &["--tags", "checkout", "--", "--my-option", "3"],
            FOR_A_MINUTE,
            2,
        )
        .expect("valid");
        assert_eq!(s.locust_args, ["--tags", "checkout", "--my-option", "3"]);
        let e = decide(&["--tags", "a", "--", "-T", "b"], FOR_A_MINUTE, 2).expect_err("twice");
        assert!(e.0.contains("give it once"), "{}", e.0);
    }

    #[test]
    fn a_start_at_whose_run_time_has_passed_is_refused() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let past = When {
            run_time: Some(Duration::from_secs(60)),
            start_at: Some(now - Duration::from_secs(3600)),
        };
        let e = decide(&[], past, 2).expect_err("nothing left");
        assert!(e.0.contains("nothing is left to run"), "{}", e.0);
        let midway = When {
            run_time: Some(Duration::from_secs(7200)),
            start_at: Some(now - Duration::from_secs(3600)),
        };
        let s = decide(&[], midway, 2).expect("an hour is left");
        assert_eq!(s.options.start_at, midway.start_at);
    }
}
