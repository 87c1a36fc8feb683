//! The one definition of the protocol between loadgen and its Python harness
//! (`harness.py`; its side of the protocol is `loadgen_protocol.py`).
//!
//! - The **setup** is a JSON file the harness reads at start: what it is (a local
//!   runner, a master or a worker) and what to load.
//! - **Commands** go to the harness's stdin, one JSON object per line, tagged `op`.
//! - **Events** come from its stdout, one JSON object per line, tagged `ev`.
//!
//! Every field is always sent (`null` where there is no value), and both sides
//! read strictly: an unknown or missing field is an error, not a default. The
//! golden file `tests/protocol.jsonl` holds one example of every message; a Rust
//! test checks these types against it, and `harness.py --check-protocol` checks
//! the harness's own tables against the same file, so the two sides cannot drift.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::locustfile::Locustfile;
pub use crate::plan::Arrival;

/// The port a Locust master listens on unless told otherwise (Locust's own default).
pub const DEFAULT_MASTER_PORT: u16 = 5557;

/// What the harness is set up as, written to a JSON file it reads at start:
/// its role, and beside it (one flat JSON object) what every role shares.
/// The harness refuses fields it does not know (`read_setup`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Setup {
    pub role: Role,
    #[serde(flatten)]
    pub common: Common,
}

/// Which kind of Locust runner the harness creates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Role {
    /// One process runs every user.
    Local,
    /// Runs no users; splits each class's count between its workers.
    Master {
        bind_host: String,
        bind_port: u16,
        /// Workers to wait for before reporting ready.
        expect_workers: u32,
        /// Seconds to wait for them.
        workers_timeout: f64,
        /// Seconds without a heartbeat after which a worker is lost (the master
        /// gives its users away) and a worker stops its users (it learns this
        /// from the master's shares): `--heartbeat-timeout`.
        heartbeat_timeout: u32,
        /// Keys the link to the workers (`None`: plain, as Locust's own).
        cluster_key: Option<ClusterKey>,
    },
    /// Runs its share of the users, as the master says.
    Worker {
        master_host: String,
        master_port: u16,
        /// The master's key: a master without it cannot drive this worker.
        cluster_key: Option<ClusterKey>,
    },
    /// Runs no users: imports the locustfile, answers [`Event::Imported`] and
    /// exits (for `loadgen check`).
    Check,
}

/// The secret a master and its workers share: the harness derives one CURVE
/// key pair from it (`loadgen_cluster.py`), so that only processes that hold
/// it join, and what they say to each other is encrypted. It is never shown:
/// its `Debug` is redacted, and it travels only in the setup file of the
/// run's private (0700) directory.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterKey(String);

/// The fewest characters a cluster key may have: 32 random bytes in hex
/// (`loadgen cluster-key`) have 64; a passphrase of fewer than 16 is guessable.
pub const MIN_CLUSTER_KEY_CHARS: usize = 16;

impl ClusterKey {
    /// A key from text (a file's or the environment's; surrounding white space,
    /// such as a file's last line break, is not part of it).
    pub fn new(text: &str) -> Result<ClusterKey, String> {
        let key = text.trim();
        if key.chars().count() < MIN_CLUSTER_KEY_CHARS {
            return Err(format!(
                "a cluster key needs at least {MIN_CLUSTER_KEY_CHARS} characters (this one has {}): \
                 make one with `loadgen cluster-key`",
                key.chars().count()
            ));
        }
        Ok(ClusterKey(key.to_string()))
    }

    /// A new random key: 32 bytes from the operating system's generator, in hex.
    pub fn random() -> ClusterKey {
        let bytes: [u8; 32] = rand::random();
        ClusterKey(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key itself, for `loadgen cluster-key` to print.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(redacted)")
    }
}

/// The parts of a [`Setup`] that every role shares.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Common {
    pub locustfile: PathBuf,
    /// The target; `None` keeps the locustfile's own `host`.
    pub host: Option<String>,
    /// The User classes loadgen sets counts for, in the plan's order.
    pub user_classes: Vec<String>,
    /// A plain locustfile's class for each of `user_classes` whose class in the
    /// file has another name (`WebsiteUser` -> `Website`); empty for a template.
    pub class_names: BTreeMap<String, String>,
    /// The directory of the user's file: put first on `sys.path` and made the
    /// working directory, so helper modules and data files beside it work.
    pub base_dir: Option<PathBuf>,
    /// Locust's own command-line options (after `--`), parsed by Locust's parser
    /// with the locustfile's `init_command_line_parser` arguments: `parsed_options`.
    pub locust_args: Vec<String>,
    /// Seconds between samples (and between a worker's reports to its master).
    pub sample_interval: f64,
    /// Seconds a stopping run lets users finish the task they are in, so that a
    /// request the target already answered is counted too.
    pub stop_drain: f64,
    /// The trace context every request carries (a master passes its own to its
    /// workers with their shares).
    pub trace: TraceSetup,
    /// Log the users' INFO messages too (loadgen shows them, and their prints,
    /// with `-v`); otherwise WARNING and above.
    pub verbose: bool,
}

/// The trace context the harness puts on every request (`loadgen_trace.py`):
/// a W3C `traceparent` (a trace per task iteration, a span per request) and a
/// W3C `baggage` naming the run, the phase, the loop and the user type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceSetup {
    pub traceparent: bool,
    pub baggage: bool,
    /// The share of iterations whose trace is sampled (the `traceparent`'s
    /// sampled flag): their requests come back as [`SpanRecord`]s.
    pub sample_ratio: f64,
    /// Put before each baggage key (`loadgen.` gives `loadgen.phase`).
    pub baggage_prefix: String,
    /// The run's id, in the baggage and in every exported span and metric.
    pub run_id: String,
    /// The plan's name of each User class (`NormalUser` -> `Normal`), for the
    /// baggage's user type.
    pub user_types: BTreeMap<String, String>,
}

impl TraceSetup {
    /// No header at all (`loadgen check`, which sends no request).
    pub fn off() -> TraceSetup {
        TraceSetup {
            traceparent: false,
            baggage: false,
            sample_ratio: 0.0,
            baggage_prefix: String::new(),
            run_id: String::new(),
            user_types: BTreeMap::new(),
        }
    }
}

/// Which phase a command's targets are of, as the baggage names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct PhaseTag {
    /// 1-based, as users count phases.
    pub number: usize,
    /// The config's name, or empty.
    pub name: String,
    /// 1-based loop through the phases.
    pub loop_number: usize,
}

/// How often every harness samples (and a worker reports to its master).
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(500);
/// How long a stopping harness lets users finish the task they are in.
pub const STOP_DRAIN: Duration = Duration::from_millis(500);

impl Common {
    /// What every harness of a run is told, whatever its role: the locustfile
    /// written at `path` (a workspace's), the target, the classes loadgen sets
    /// counts for, Locust's own options, and whether to show the users' INFO lines.
    pub fn new(
        path: PathBuf,
        locustfile: &Locustfile,
        host: Option<String>,
        user_classes: Vec<String>,
        locust_args: Vec<String>,
        trace: TraceSetup,
        verbose: bool,
    ) -> Common {
        Common {
            trace,
            locustfile: path,
            host,
            user_classes,
            class_names: locustfile.class_names.clone(),
            base_dir: locustfile.base_dir(),
            locust_args,
            sample_interval: SAMPLE_INTERVAL.as_secs_f64(),
            stop_drain: STOP_DRAIN.as_secs_f64(),
            verbose,
        }
    }
}

impl Setup {
    pub fn local(common: Common) -> Setup {
        Setup::with_role(Role::Local, common)
    }

    pub fn master(
        common: Common,
        bind_host: String,
        bind_port: u16,
        expect_workers: u32,
        workers_timeout: f64,
        heartbeat_timeout: u32,
        cluster_key: Option<ClusterKey>,
    ) -> Setup {
        let role = Role::Master {
            bind_host,
            bind_port,
            expect_workers,
            workers_timeout,
            heartbeat_timeout,
            cluster_key,
        };
        Setup::with_role(role, common)
    }

    pub fn worker(
        common: Common,
        master_host: String,
        master_port: u16,
        cluster_key: Option<ClusterKey>,
    ) -> Setup {
        let role = Role::Worker {
            master_host,
            master_port,
            cluster_key,
        };
        Setup::with_role(role, common)
    }

    pub fn check(common: Common) -> Setup {
        Setup::with_role(Role::Check, common)
    }

    fn with_role(role: Role, common: Common) -> Setup {
        Setup { role, common }
    }

    /// Writes this setup as `setup-{name}.json` into `dir` (a run's private
    /// workspace: the setup may hold the cluster key), readable by this user
    /// only; the path the harness is given.
    pub fn write(&self, dir: &std::path::Path, name: &str) -> anyhow::Result<PathBuf> {
        use anyhow::Context as _;
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = dir.join(format!("setup-{name}.json"));
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(&serde_json::to_vec_pretty(self)?))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// A command to the harness.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Run exactly these users per class, with these waits (seconds).
    Targets {
        /// Which phase occurrence these targets belong to; samples carry it back.
        occurrence: usize,
        /// The phase, for the requests' baggage.
        phase: PhaseTag,
        users: BTreeMap<String, u32>,
        /// (min, max) seconds per class; a class not listed keeps its own wait_time.
        waits: BTreeMap<String, (f64, f64)>,
        /// The users per class the running ramp ends at: the phase's (scaled).
        /// `users` equals it once the phase's spawning is done. The harness gives
        /// Locust's `runner.target_user_count` its total, and fires
        /// `spawning_complete` when `users` reaches it.
        ramp_to: BTreeMap<String, u32>,
        /// The classes of a rate phase (open model): their iterations per
        /// second, started at scheduled times on whichever of the class's
        /// `users` is free. A class not listed runs as its users and waits say.
        rates: BTreeMap<String, RateTarget>,
    },
    /// Send a sample now (at a phase boundary, so each phase gets its own requests).
    Flush,
    /// Stop all users, send the last sample and exit.
    Stop,
}

/// A class's rate in a rate phase (see [`Command::Targets`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateTarget {
    /// Iterations started per second (a master splits it between its workers
    /// as it splits the users).
    pub per_s: f64,
    /// `uniform` or `poisson`.
    pub arrival: Arrival,
    /// Seconds over which the class's rate moves linearly from the one running
    /// to this one.
    pub ramp_s: f64,
    /// When this rate begins, in seconds since the Unix epoch: the phase's
    /// start (or the control action's moment). A command that arrives late
    /// (a busy loop, a master's hop to its workers) still changes the rate
    /// there: the harness lays down what the new rate asked for since (within
    /// its 1 s grace), so boundaries stay exact.
    pub since: f64,
}

/// An event from the harness.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "ev", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The runner is up (as master: the expected workers have connected).
    Ready {
        locust_version: String,
        python: String,
        pid: u32,
        workers: u32,
    },
    /// Boxed: a sample is far larger than every other event.
    Sample(Box<Sample>),
    /// Something the user should see; the run goes on.
    Warning {
        message: String,
        traceback: Option<String>,
    },
    /// The harness cannot go on and exits after this.
    Fatal {
        message: String,
        /// What failed: `locustfile`, `master`, `workers`, `no_locust`, `internal`.
        kind: String,
        traceback: Option<String>,
    },
    /// The answer of a harness in the role `check`: the locustfile imported, or
    /// where importing it failed.
    Imported {
        /// The concrete User classes in the locustfile's namespace (its own and
        /// those it imports), by name.
        user_classes: Vec<String>,
        /// Why importing failed; `None` when it worked.
        error: Option<ImportFailure>,
    },
    /// What the users were doing when the run stopped, from a local runner or
    /// a master (its workers' users), just before [`Event::Stopped`]: why a run
    /// that made no request made none.
    UsersAtEnd(UsersAtEnd),
    /// The locustfile called `environment.runner.quit()` (on a worker: the
    /// master says so): the harness stops as if asked (its last sample,
    /// [`Event::UsersAtEnd`] and [`Event::Stopped`] follow), and loadgen ends
    /// the run early.
    Quit {
        /// Who ended the run and where: `the locustfile called
        /// environment.runner.quit() at /home/me/load/locustfile.py:19`.
        reason: String,
    },
    /// The last event of a harness that was asked to stop (or lost its stdin).
    Stopped {
        reason: String,
        /// `environment.process_exit_code` as the locustfile left it after
        /// `quitting` (`None`: not set); a value that is not an integer is sent as 1.
        process_exit_code: Option<i64>,
    },
}

/// The users at the end of a run (see [`Event::UsersAtEnd`]).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UsersAtEnd {
    /// Users still in their `on_start` (waiting for something), by class and
    /// the place in the user's files where they wait.
    pub in_on_start: Vec<UsersAt>,
    /// Users that raised in `__init__` or `on_start`, so never ran a task.
    pub crashed: Vec<Crash>,
    /// The classes run that have no HTTP client (not an `HttpUser` or
    /// `FastHttpUser`): their tasks make a request only if they fire one.
    pub without_client: Vec<String>,
    /// The tasks every user ran over the whole run.
    pub tasks_run: u64,
}

/// Users of a class at one place of the user's files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UsersAt {
    pub class: String,
    pub users: u64,
    /// The innermost frame in the user's files (`None`: none of theirs).
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
}

/// Users of a class that raised the same error at the same place.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    pub class: String,
    /// `__init__` or `on_start`.
    pub during: String,
    pub users: u64,
    /// `IndexError: pop from empty list`.
    pub message: String,
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
}

/// An exception raised while importing the locustfile, located in the user's
/// own files (the locustfile or a module beside it) where Python could tell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImportFailure {
    /// `NameError: name 'x' is not defined`.
    pub message: String,
    /// The user's file: a syntax error's own file, else the innermost frame of
    /// the traceback in the user's files; `None` when none of them is in it.
    pub file: Option<PathBuf>,
    /// 1-based.
    pub line: Option<usize>,
    /// 1-based, in characters.
    pub column: Option<usize>,
    /// The traceback without the harness's frames.
    pub traceback: String,
}

/// One sampling interval: the users running now and the requests since the last sample.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Wall-clock time of the sample (seconds since the Unix epoch).
    pub t: f64,
    /// The phase occurrence of the targets in force when the sample was taken
    /// (`None` before the first targets).
    pub occurrence: Option<usize>,
    pub users: BTreeMap<String, u32>,
    /// Workers connected to a master (0 for a local runner).
    pub workers: u32,
    /// Users each connected worker reported running, by worker id (empty for
    /// a local runner).
    pub worker_users: BTreeMap<String, u32>,
    pub stats: Vec<RequestDelta>,
    pub errors: Vec<ErrorDelta>,
    pub exceptions: Vec<ExceptionDelta>,
    /// The sending process's CPU usage in percent, as Locust measures it.
    pub cpu: f64,
    /// How late the harness's sampler woke up (ms): a busy or starved gevent
    /// loop delays every user by as much.
    pub loop_lag_ms: f64,
    /// The longest any greenlet waited past its time for the gevent loop in
    /// the interval, in any Locust process (a 10 ms probe in each): a loop held
    /// in bursts delays the responses read in them, whatever the mean CPU.
    pub loop_late_max_ms: f64,
    /// Tasks the users ran in the interval (each followed by its wait): with
    /// the requests, how many requests a task makes.
    pub iterations: u64,
    /// Iterations of a rate phase that no user of their class could start
    /// within their grace (1 s after their scheduled time), by class.
    pub dropped: BTreeMap<String, u64>,
    /// The requests of sampled traces in the interval (at most
    /// `loadgen_trace.py`'s bound per process and interval).
    pub spans: Vec<SpanRecord>,
    /// Sampled requests left out of `spans` by that bound.
    pub spans_dropped: u64,
}

/// One request of a sampled trace: the ids its `traceparent` carried, and
/// what became of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpanRecord {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// When it was sent, seconds since the Unix epoch.
    pub start: f64,
    /// Its response time, ms.
    pub duration_ms: f64,
    /// The response time as Locust rounds it (its key in the histogram).
    pub ms: u64,
    pub method: String,
    pub name: String,
    /// The HTTP status (0: no response).
    pub status: u16,
    /// The request's failure, if it failed.
    pub error: Option<String>,
    /// The phase that was running when it was sent.
    pub phase: PhaseTag,
    pub user_type: String,
}

/// The requests of one name in one interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestDelta {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub total_ms: f64,
    /// (response time in ms as Locust rounds it, count) pairs.
    pub histogram: Vec<(u64, i64)>,
    /// A rate phase's requests only: (ms from the intended start of the
    /// iteration that made the request to its response, rounded as Locust
    /// rounds, count) pairs; empty for requests of a phase of users.
    pub intended_histogram: Vec<(u64, i64)>,
}

/// A failure message of one request name in one interval.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorDelta {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
}

/// An exception raised in the user's tasks, with how often it happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExceptionDelta {
    pub message: String,
    pub traceback: String,
    pub count: u64,
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
