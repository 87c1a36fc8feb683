//! The command line: every flag once, with its help, its spellings and its
//! environment variable. The original's spellings (`--config_file`, `--run_time`)
//! and variables (`PL_CONFIG_FILE`, `PL_HOST`, `PL_RUN_TIME`) keep working.
//!
//! Past 600 lines: one flag list, kept whole so each flag is defined once and read in one
//! place (`app/setup.rs` decides a run and a worker from it); the `shape` flags, the trace
//! flags and the value parsers already live in `cli/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

use crate::locustfile::ClientChoice;

pub mod shape;
mod trace;
mod values;
pub use trace::TraceArgs;
pub use values::parse_time;
use values::parse_workers;
use values::{parse_heartbeat_timeout, parse_latency, parse_run_time, parse_stall, parse_start_at};

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Realistic, phased web traffic on Locust",
    long_about = "Realistic, phased web traffic on Locust.\n\n\
        A load config (load.pbtxt) lists phases: a duration, a number of users, a hatch rate and user types \
        with ratios and waits. A locustfile template holds the users' tasks. loadgen runs the phases in order, \
        exactly and without gaps, looping until the run time is spent.\n\n\
        `loadgen --config_file F --host URL` (no subcommand) means `loadgen run`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log more (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a load against a host.
    Run(RunArgs),
    /// Run the hipster shop load against the built-in demo shop.
    Demo(DemoArgs),
    /// Serve the built-in demo shop alone.
    DemoShop(DemoShopArgs),
    /// Validate a load config and its locustfile (imported in Locust), and print the plan.
    Check(CheckArgs),
    /// Write the generated locustfiles for inspection.
    Render(RenderArgs),
    /// Run a Locust worker for a loadgen master on another machine.
    Worker(WorkerArgs),
    /// Find Locust (installing the pinned version if there is none) and say where.
    Locust(LocustArgs),
    /// Steer a running loadgen through its control API (see --control-addr).
    Ctl(CtlArgs),
    /// Draw report.html, stats.csv and the table again from a --report
    /// directory's summary.json (a finished run's, or a killed run's last checkpoint).
    Report(ReportArgs),
    /// Make a load.pbtxt of rate phases from recorded traffic (a CSV series,
    /// a Prometheus range answer, access logs) or a made-up curve: compressed
    /// in time, scaled in rate, in the fewest phases that follow it.
    Shape(shape::ShapeArgs),
    /// Print a new random cluster key (for --cluster-key-file, or a
    /// Kubernetes Secret): `loadgen cluster-key > cluster.key`.
    ClusterKey,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The directory a run wrote with --report.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Live control of a run, and hot reload of its files.
#[derive(Debug, Clone, Args)]
pub struct ControlArgs {
    /// Serve the control API (status, jump to a phase, pause, resume, scale) on
    /// this address; off by default. Beyond loopback it needs --control-token.
    #[arg(
        long = "control-addr",
        visible_alias = "control_addr",
        env = "LOADGEN_CONTROL_ADDR",
        value_name = "ADDR"
    )]
    pub control_addr: Option<SocketAddr>,
    /// The bearer token the control API requires.
    #[arg(
        long = "control-token",
        visible_alias = "control_token",
        env = "LOADGEN_CONTROL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub control_token: Option<String>,
    /// Don't watch the config and template for changes (SIGHUP still reloads).
    #[arg(long = "no-reload", visible_alias = "no_reload")]
    pub no_reload: bool,
    /// Serve the live dashboard on this address (`127.0.0.1:0` picks a free
    /// port; the URL is printed): the schedule, users, rates, latency, health
    /// and buttons that drive the run. Beyond loopback it needs --control-token.
    /// `loadgen demo` opens one on 127.0.0.1 by default.
    #[arg(long, env = "LOADGEN_DASHBOARD", value_name = "ADDR")]
    pub dashboard: Option<SocketAddr>,
    /// Show the dashboard without its controls (nothing on it can change the run).
    #[arg(long = "dashboard-read-only", visible_alias = "dashboard_read_only")]
    pub dashboard_read_only: bool,
    /// A name the dashboard and the control API answer to, besides their
    /// addresses and `localhost` (a Service's or an Ingress's name; repeat the
    /// flag, or separate names with commas). Calls for any other `Host` are
    /// refused: a page of another site could reach them by DNS rebinding.
    #[arg(
        long = "allowed-host",
        env = "LOADGEN_ALLOWED_HOSTS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
}

/// What makes a run fail, and where the verdict goes.
#[derive(Debug, Clone, Args)]
pub struct VerdictArgs {
    /// Fail the run (exit 3) if this holds: `[phase N|NAME:] METRIC OP VALUE`, e.g.
    /// `p95 > 500ms`, `failures > 1%`, `phase 3: p99 > 1s`. Repeatable. Metrics: p50 p90
    /// p95 p99 max mean (ms or s), rps, requests, failures and errors (a count or a %).
    #[arg(long = "fail-if", visible_alias = "fail_if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
    /// Stop the run at the first failed threshold.
    #[arg(long = "fail-fast", visible_alias = "fail_fast")]
    pub fail_fast: bool,
    /// Write the thresholds' results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Without thresholds, the exit code of a run with failed requests or errors
    /// in the users' code (as Locust's option); 0 turns it off.
    #[arg(
        long = "exit-code-on-error",
        visible_alias = "exit_code_on_error",
        default_value_t = 1,
        value_name = "N"
    )]
    pub exit_code_on_error: u8,
}

#[derive(Debug, Clone, Args)]
pub struct CtlArgs {
    /// The control API's address (as given to --control-addr).
    #[arg(
        long,
        env = "LOADGEN_CONTROL_ADDR",
        default_value = "127.0.0.1:9647",
        value_name = "ADDR"
    )]
    pub addr: String,
    /// The bearer token, if the API requires one.
    #[arg(
        long,
        env = "LOADGEN_CONTROL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum CtlCommand {
    /// Show the phase, loop, time left, users, requests/s, failures and errors.
    Status,
    /// Go to phase N (1-based) now; users ramp at its hatch rate.
    Phase { number: usize },
    /// Go to the next phase now.
    Next,
    /// Stop every user and hold the phase clock (the run time still runs).
    Pause,
    /// Continue where the pause left off.
    Resume,
    /// Multiply every phase's users by F from now on (1 = the plan).
    Scale { factor: f64 },
}

#[derive(Debug, Clone, Args)]
pub struct LocustArgs {
    /// A `locust` script or Python interpreter to check instead of searching.
    #[arg(long, env = "LOADGEN_LOCUST", value_name = "PATH")]
    pub locust: Option<PathBuf>,
}

/// Where the load is described.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The load config (protobuf text format).
    #[arg(
        long = "config-file",
        visible_alias = "config_file",
        env = "PL_CONFIG_FILE",
        value_name = "FILE"
    )]
    pub config_file: PathBuf,
    /// The locustfile template [default: locustfile.loadgen.tmpl beside the config].
    #[arg(
        long,
        env = "PL_TEMPLATE",
        value_name = "FILE",
        conflicts_with = "locustfile"
    )]
    pub template: Option<PathBuf>,
    /// A Locust 2.x locustfile, run as it is: each user type of the config names one
    /// of its User classes (`Website` -> `WebsiteUser` or `Website`). A file with the
    /// `{{.Users}}` marker is a template. See docs/locustfiles.md.
    #[arg(short = 'f', long, env = "PL_LOCUSTFILE", value_name = "FILE")]
    pub locustfile: Option<PathBuf>,
}

impl ConfigArgs {
    /// The files of the load: the config, and the user's locustfile or
    /// template (by default the template beside the config).
    pub fn files(&self) -> crate::load::Files {
        use crate::locustfile::{template_path, Given};
        let (locustfile, given) = match &self.locustfile {
            Some(path) => (path.clone(), Given::Locustfile),
            None => (
                template_path(&self.config_file, self.template.as_deref()),
                Given::Template,
            ),
        };
        crate::load::Files {
            config: self.config_file.clone(),
            locustfile,
            given,
        }
    }
}

/// `loadgen check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The Locust, packages and client the locustfile is imported with, as `run`'s.
    #[command(flatten)]
    pub python: PythonArgs,
    /// Check the files' text only: don't import the locustfile in Locust's Python
    /// (no Python needed; errors only Python sees are then found when a run starts).
    #[arg(long = "no-import", visible_alias = "no_import")]
    pub no_import: bool,
}

/// Which Python runs the locustfile: Locust, the locustfile's packages, and
/// the client of the generated users (`run`, `worker` and `check` alike).
#[derive(Debug, Clone, Args)]
pub struct PythonArgs {
    /// The Locust to use: a `locust` script or a Python interpreter that has Locust
    /// [default: `locust` on PATH, else a pinned Locust that loadgen installs].
    #[arg(long, env = "LOADGEN_LOCUST", value_name = "PATH")]
    pub locust: Option<PathBuf>,
    /// Python packages the locustfile needs, installed into a cached environment
    /// layered on Locust [default: requirements.txt beside the locustfile, if any].
    #[arg(long, env = "PL_REQUIREMENTS", value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    /// Locust's user class for the generated users: `auto` (FastHttpUser, several
    /// times the requests per core, when the template uses nothing it lacks; else
    /// HttpUser, saying why), `http` (HttpUser) or `fast` (FastHttpUser).
    #[arg(long = "user-class", visible_alias = "user_class", env = "LOADGEN_USER_CLASS", value_enum, default_value_t = ClientChoice::Auto)]
    pub user_class: ClientChoice,
}

/// `--workers`: a number of local workers, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    Count(u32),
    /// Chosen from the plan and the cores (`runner::sizing`).
    Auto,
}

/// How Locust runs the users.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    #[command(flatten)]
    pub python: PythonArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Local Locust worker processes (Locust's distributed mode): `auto` sizes
    /// them from the plan's peak rate and this machine's cores (one process
    /// when that carries the plan, as for users that wait 0), and says what it
    /// chose; 0 always runs one process.
    #[arg(long, env = "LOADGEN_WORKERS", default_value = "auto", value_name = "N|auto", value_parser = parse_workers)]
    pub workers: Workers,
    /// Workers to wait for from other machines (`loadgen worker`), besides --workers.
    #[arg(
        long = "expect-workers",
        visible_alias = "expect_workers",
        default_value_t = 0,
        value_name = "N"
    )]
    pub expect_workers: u32,
    /// Where the Locust master listens for workers [default: a free loopback port].
    #[arg(
        long = "master-bind",
        visible_alias = "master_bind",
        value_name = "ADDR"
    )]
    pub master_bind: Option<SocketAddr>,
    /// How long a worker may go without a heartbeat (they are 1 s apart) before
    /// the master gives its users to the others, and the worker, which hears
    /// nothing from the master either, stops them (the master's value reaches
    /// its workers): whole seconds from 2 to 30 [default: 3s, Locust's]. Longer
    /// rides out short network hiccups; shorter moves a lost worker's users sooner.
    #[arg(
        long = "heartbeat-timeout",
        visible_alias = "heartbeat_timeout",
        env = "LOADGEN_HEARTBEAT_TIMEOUT",
        value_parser = parse_heartbeat_timeout,
        value_name = "TIME"
    )]
    pub heartbeat_timeout: Option<u32>,
    /// A file holding the secret that keys the link between the Locust master
    /// and its workers (ZeroMQ CURVE: only processes that hold it join, and
    /// what they send each other is encrypted). Give the same key to `run` and
    /// to every `loadgen worker`; `loadgen cluster-key > FILE` makes one. The
    /// key itself may come from LOADGEN_CLUSTER_KEY instead. Without one, local
    /// workers get a key of their own for the run, and a master that other
    /// machines' workers join runs plain (said when it listens beyond loopback).
    #[arg(
        long = "cluster-key-file",
        env = "LOADGEN_CLUSTER_KEY_FILE",
        value_name = "FILE"
    )]
    pub cluster_key_file: Option<PathBuf>,
    /// Run the master-worker link plain, as Locust's own, even between this
    /// run's local workers (which otherwise get a key of their own): anyone
    /// who reaches the master's port can then join and report figures.
    #[arg(
        long = "no-cluster-key",
        visible_alias = "no_cluster_key",
        conflicts_with = "cluster_key_file"
    )]
    pub no_cluster_key: bool,
    /// Refuse plans with more users than this at once (a typo guard: a Locust
    /// process handles a few thousand users).
    #[arg(
        long = "max-users",
        visible_alias = "max_users",
        default_value_t = 50_000,
        value_name = "N"
    )]
    pub max_users: u64,
    /// Run only the tasks with one of these tags (`@tag`), as Locust's `--tags`:
    /// `--tags checkout browse`. A TaskSet's tag covers its tasks.
    #[arg(short = 'T', long, num_args = 1.., value_name = "TAG")]
    pub tags: Vec<String>,
    /// Run every task but those with one of these tags, as Locust's `--exclude-tags`.
    #[arg(
        short = 'E',
        long = "exclude-tags",
        visible_alias = "exclude_tags",
        num_args = 1..,
        value_name = "TAG"
    )]
    pub exclude_tags: Vec<String>,
    /// Locust's own options after `--` (`-- --my-option 3`): parsed by Locust's
    /// parser with the locustfile's `init_command_line_parser` arguments, seen by
    /// the locustfile as `environment.parsed_options`.
    #[arg(last = true, value_name = "LOCUST_ARGS")]
    pub locust_args: Vec<String>,
}

impl EngineArgs {
    /// Locust's options for the harness: `--tags` and `--exclude-tags`, then what
    /// came after `--`. Tags given both ways are refused: one would silently win.
    pub fn locust_options(&self) -> Result<Vec<String>, crate::diagnostic::BadInput> {
        let mut options = Vec::new();
        for (flag, short, tags) in [
            ("--tags", "-T", &self.tags),
            ("--exclude-tags", "-E", &self.exclude_tags),
        ] {
            if tags.is_empty() {
                continue;
            }
            if self.locust_args.iter().any(|a| a == flag || a == short) {
                return Err(crate::diagnostic::BadInput(format!(
                    "{flag} is given both to loadgen and after `--`: give it once (before `--`)"
                )));
            }
            options.push(flag.to_string());
            options.extend(tags.iter().cloned());
        }
        options.extend(self.locust_args.iter().cloned());
        Ok(options)
    }
}

/// Where results go.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Write summary.json, stats.csv and report.html into this directory.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics (and /healthz) on this address.
    #[arg(
        long = "metrics-addr",
        visible_alias = "metrics_addr",
        env = "LOADGEN_METRICS_ADDR",
        value_name = "ADDR"
    )]
    pub metrics_addr: Option<SocketAddr>,
    /// Off a terminal (pod logs, CI), write the progress line this often (5s, 1m).
    #[arg(
        long = "progress-interval",
        visible_alias = "progress_interval",
        env = "LOADGEN_PROGRESS_INTERVAL",
        default_value = "5s",
        value_parser = parse_run_time,
        value_name = "TIME"
    )]
    pub progress_interval: Duration,
    /// With --report, rewrite summary.json and stats.csv this often (and at each
    /// phase's end) while the run goes: a loadgen killed outright leaves its
    /// record up to then (`loadgen report DIR` draws report.html from it).
    #[arg(
        long = "checkpoint-interval",
        visible_alias = "checkpoint_interval",
        env = "LOADGEN_CHECKPOINT_INTERVAL",
        default_value = "60s",
        value_parser = parse_run_time,
        value_name = "TIME"
    )]
    pub checkpoint_interval: Duration,
    /// Push loadgen's metrics (every 5 s) and the sampled requests' spans over
    /// OTLP (HTTP/protobuf) to this collector, e.g. http://otel-collector:4318
    /// (`/v1/metrics` and `/v1/traces` are added). The standard
    /// OTEL_EXPORTER_OTLP_{METRICS,TRACES}_ENDPOINT, _HEADERS and
    /// OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES are read too.
    #[arg(
        long = "otlp-endpoint",
        visible_alias = "otlp_endpoint",
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL"
    )]
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The target, e.g. http://frontend:80 [env: PL_HOST, else http://$FRONTEND_ADDR].
    #[arg(long, env = "PL_HOST", value_name = "URL")]
    pub host: Option<String>,
    /// Stop after this long (90s, 10m, 1h30m); without it the load loops until SIGINT/SIGTERM.
    #[arg(long = "run-time", visible_alias = "run_time", env = "PL_RUN_TIME", value_parser = parse_run_time, value_name = "TIME", allow_hyphen_values = true)]
    pub run_time: Option<Duration>,
    /// Anchor the schedule to the wall clock: phase k of loop l starts at this
    /// time + l × the loop's length + the phases before k. Started later (a
    /// restarted master), loadgen begins mid-phase where the clock says; earlier,
    /// it waits. With it, --run-time counts from this time. RFC 3339, e.g.
    /// 2026-05-01T09:00:00Z. See docs/kubernetes.md.
    #[arg(long = "start-at", visible_alias = "start_at", env = "LOADGEN_START_AT", value_parser = parse_start_at, value_name = "RFC3339")]
    pub start_at: Option<SystemTime>,
    /// Before starting, wait up to this long for the host to answer HTTP.
    #[arg(long = "wait-for-host", visible_alias = "wait_for_host", value_parser = parse_run_time, value_name = "TIME", allow_hyphen_values = true)]
    pub wait_for_host: Option<Duration>,
    #[command(flatten)]
    pub control: ControlArgs,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Don't open the live dashboard (the demo serves one on 127.0.0.1 by default).
    #[arg(long = "no-dashboard", visible_alias = "no_dashboard")]
    pub no_dashboard: bool,
    /// How many loops through the hipster shop's phases (80 s each).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub cycles: u32,
    /// Run for this long instead of whole cycles.
    #[arg(long = "run-time", visible_alias = "run_time", value_parser = parse_run_time, value_name = "TIME", allow_hyphen_values = true)]
    pub run_time: Option<Duration>,
    #[command(flatten)]
    pub control: ControlArgs,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DemoShopArgs {
    /// The port to listen on.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Milliseconds each request waits before its answer: `MS` or `MIN-MAX`
    /// (uniformly random); a slow target to watch, or to test against.
    #[arg(long = "latency-ms", default_value = "1-8", value_parser = parse_latency, value_name = "MS")]
    pub latency_ms: std::ops::RangeInclusive<u64>,
    /// Stall periodically, as a backend frozen by a GC pause or a lock: for
    /// the last FOR of every EVERY since the shop started (`5s/1s`: from 4 s to
    /// 5 s, 9 s to 10 s, ...), every request (but `/_shop/...`) is held until
    /// the stall ends, then answered as usual. Durations in s or ms, e.g.
    /// `5s/1s` or `1s/300ms`.
    #[arg(long, value_parser = parse_stall, value_name = "EVERY/FOR")]
    pub stall: Option<crate::demo_shop::Stall>,
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The directory to write into.
    #[arg(long, default_value = "loadgen-rendered", value_name = "DIR")]
    pub out: PathBuf,
    /// The user class of the generated users (`auto`: as `run` chooses).
    #[arg(long = "user-class", visible_alias = "user_class", value_enum, default_value_t = ClientChoice::Auto)]
    pub user_class: ClientChoice,
}

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// The master: HOST or HOST:PORT (port 5557 by default).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub master: String,
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The target; by default the master's.
    #[arg(long, env = "PL_HOST", value_name = "URL")]
    pub host: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Arguments as given, with `run` inserted when the first one is a flag, so the
/// original's `loadgen --config_file F --host URL` still means a run.
pub fn with_default_command(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut args = args;
    let first_is_flag = args.get(1).and_then(|a| a.to_str()).is_some_and(|a| {
        a.starts_with('-')
            && !matches!(a, "-h" | "--help" | "-V" | "--version")
            && !a.starts_with("-v")
            && a != "--verbose"
    });
    if first_is_flag {
        args.insert(1, "run".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_named_with_their_flag() {
        let err = Cli::try_parse_from([
            "loadgen",
            "run",
            "--config-file",
            "a",
            "--heartbeat-timeout",
            "90s",
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--heartbeat-timeout"), "{err}");
        // clap names the flag in its error.
        let err =
            Cli::try_parse_from(["loadgen", "run", "--config-file", "a", "--start-at", "9am"])
                .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--start-at"), "{err}");
    }

    #[test]
    fn tags_go_to_locust_before_the_options_after_the_separator() {
        let parse = |args: &[&str]| {
            let mut all = vec!["loadgen", "run", "--config-file", "a"];
            all.extend(args);
            match Cli::try_parse_from(all).unwrap().command {
                Command::Run(run) => run.engine.locust_options(),
                _ => panic!("expected run"),
            }
        };
        assert_eq!(
            parse(&["--tags", "a", "b", "-E", "c", "--", "--x", "1"]).unwrap(),
            ["--tags", "a", "b", "--exclude-tags", "c", "--x", "1"]
        );
        assert!(parse(&["--tags", "a", "--", "-T", "b"])
            .unwrap_err()
            .0
            .contains("--tags is given both"));
    }

    #[test]
    fn both_spellings_and_the_implicit_run() {
        let args = with_default_command(
            [
                "loadgen",
                "--config_file",
                "a.pbtxt",
                "--host",
                "http://x",
                "--run_time",
                "5s",
            ]
            .map(Into::into)
            .to_vec(),
        );
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(run.config.config_file, PathBuf::from("a.pbtxt"));
        assert_eq!(run.run_time, Some(Duration::from_secs(5)));
        let cli = Cli::try_parse_from(["loadgen", "check", "--config-file", "b"]).unwrap();
        assert!(
            matches!(cli.command, Command::Check(c) if c.config.config_file == std::path::Path::new("b"))
        );
        // A negative time reaches the parser, which says what is wrong with it.
        let err = Cli::try_parse_from(["loadgen", "run", "--config-file", "a", "--run-time", "-5"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be negative"), "{err}");
    }
}
