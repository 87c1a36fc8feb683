//! The commands, each a short pipeline: config -> plan -> locustfile -> run -> report.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use crate::cli::{
    ConfigArgs, ControlArgs, DemoArgs, DemoShopArgs, EngineArgs, OutputArgs, RunArgs, VerdictArgs,
    WorkerArgs,
};
use crate::demo_shop::{DemoShop, ShopOptions};
use crate::diagnostic::BadInput;
use crate::load::Load;
use crate::locust::install::{self, LocustInstall};
use crate::locust::protocol::{self, Setup};
use crate::locust::requirements;
use crate::locust::workspace::Workspace;
use crate::otlp::{Otlp, OtlpConfig};
use crate::progress::{short, Progress};
use crate::report::checkpoint::Checkpoints;
use crate::report::{self, Destinations, Summary};
use crate::runner::signals::{Emergency, Shutdown};
use crate::runner::sizing;
use crate::runner::wait_for_host::wait_for_host;
use crate::runner::worker;
use crate::runner::{self, unix_now, Inputs, Observer, Outcome};
use crate::stats::Ended;
use crate::verdict::{self, Verdict};
use crate::{control, reload};

/// `check` and `render`, which look at a load without running it.
mod inspect;
mod serve;
mod setup;
mod shape;

pub use inspect::{check, render};
use serve::Servers;
use setup::{RunSetup, When, WorkerSetup};
pub use shape::shape;

/// `loadgen report DIR`: report.html, stats.csv and the table again, from the
/// directory's summary.json.
pub fn report(args: &crate::cli::ReportArgs) -> Result<()> {
    let summary = report::redraw(&args.dir)?;
    println!("{}", report::table::render(&summary));
    eprintln!(
        "loadgen: report.html and stats.csv drawn again in {} (the run {})",
        args.dir.display(),
        match summary.ended {
            Ended::Running => "was still running at its last checkpoint".to_string(),
            ended => format!("ended: {}", ended.as_str()),
        }
    );
    Ok(())
}

/// `loadgen ctl`: one call of a running loadgen's control API.
pub async fn ctl(args: &crate::cli::CtlArgs) -> Result<()> {
    use crate::cli::CtlCommand;
    use control::Action;
    let action = match args.command {
        CtlCommand::Status => Action::Status,
        CtlCommand::Phase { number: 0 } => {
            return Err(BadInput(
                "ctl phase 0: phases are numbered from 1 (`loadgen ctl phase 1` is the first)"
                    .into(),
            )
            .into())
        }
        CtlCommand::Phase { number } => Action::Jump(number - 1),
        CtlCommand::Next => Action::Next,
        CtlCommand::Pause => Action::Pause,
        CtlCommand::Resume => Action::Resume,
        CtlCommand::Scale { factor } => Action::Scale(factor),
    };
    control::client::run(&args.addr, args.token.as_deref(), &action).await
}

/// `loadgen locust`: find or install Locust, and say where it is.
pub fn locust(args: &crate::cli::LocustArgs) -> Result<()> {
    let found = install::find_or_install(args.locust.as_deref())?;
    println!("Locust {} ({})", found.version, found.python.display());
    Ok(())
}

/// `loadgen run`.
pub async fn run(args: &RunArgs) -> Result<u8> {
    let load = Load::open(&args.config.files())?;
    let host = target_host(args.host.as_deref())?;
    // Signals are handled from here on: a pod stopped while loadgen waits for
    // its target must stop at once, not at the end of its grace period.
    let stop = Stop::install()?;
    if let Some(limit) = args.wait_for_host {
        let mut shutdown = stop.shutdown.clone();
        tokio::select! {
            waited = wait_for_host(&host, limit) => waited?,
            _ = shutdown.requested() => {
                eprintln!("loadgen: stopped by signal while waiting for {host}");
                let outcome = Outcome::before_start(&load.plan, unix_now(), None);
                let verdict = Verdict::new(Vec::new(), &load.plan, false, Vec::new());
                return conclude(&args.output, &args.verdict, outcome, verdict, None);
            }
        }
    }
    execute(
        &load,
        Some(host),
        When {
            run_time: args.run_time,
            start_at: args.start_at,
        },
        &args.engine,
        &args.output,
        Steering {
            control: &args.control,
            dashboard: args.control.dashboard,
            reload: Some(&args.config),
            verdict: &args.verdict,
        },
        stop,
    )
    .await
}

/// The signal handlers of a run, and what a second signal must clean up.
struct Stop {
    shutdown: Shutdown,
    emergency: Emergency,
}

impl Stop {
    fn install() -> Result<Stop> {
        let emergency = Emergency::default();
        let shutdown =
            Shutdown::install(emergency.clone()).context("cannot install signal handlers")?;
        Ok(Stop {
            shutdown,
            emergency,
        })
    }
}

/// `loadgen demo`: the hipster shop load against the built-in shop.
pub async fn demo(args: &DemoArgs) -> Result<u8> {
    let load = Load::hipster()?;
    let shop = DemoShop::new(ShopOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot start the demo shop")?;
    let address = listener.local_addr()?;
    let (stop_shop, shop_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shop.clone().serve(listener, async {
        let _ = shop_stopped.await;
    }));
    let run_time = args
        .run_time
        .unwrap_or(load.plan.cycle() * args.cycles.max(1));
    eprintln!(
        "loadgen: demo shop serving at http://{address}; running the hipster shop load for {}",
        short(run_time)
    );
    print!("{}", load.overview());
    let result = execute(
        &load,
        Some(format!("http://{address}")),
        When {
            run_time: Some(run_time),
            start_at: None,
        },
        &args.engine,
        &args.output,
        Steering {
            control: &args.control,
            // The demo shows its dashboard unless told not to.
            dashboard: args.control.dashboard.or_else(|| {
                (!args.no_dashboard).then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            }),
            reload: None, // the built-in load has no files to watch
            verdict: &args.verdict,
        },
        Stop::install()?,
    )
    .await;
    let counters = shop.counters();
    let _ = stop_shop.send(());
    let _ = server.await;
    eprintln!(
        "loadgen: the demo shop answered {} requests from {} sessions",
        counters.total_requests, counters.sessions_created
    );
    result
}

/// `loadgen demo-shop`: serve the shop until stopped.
pub async fn demo_shop(args: &DemoShopArgs) -> Result<()> {
    let listener = tokio::net::TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    eprintln!(
        "loadgen: demo shop serving at http://{}",
        listener.local_addr()?
    );
    if let Some(stall) = args.stall {
        eprintln!(
            "loadgen: the shop stalls for the last {:?} of every {:?}",
            stall.hold(),
            stall.every()
        );
    }
    let mut shutdown = Shutdown::install(Emergency::default())?;
    DemoShop::new(ShopOptions {
        latency_ms: args.latency_ms.clone(),
        stall: args.stall,
    })
    .serve(listener, async move { shutdown.requested().await })
    .await?;
    Ok(())
}

/// `loadgen worker`: a Locust worker connected to a loadgen master elsewhere.
/// Its exit code is 0, or its locustfile's `environment.process_exit_code` (as a
/// Locust worker's is).
pub async fn worker(args: &WorkerArgs) -> Result<u8> {
    let load = Load::open(&args.config.files())?;
    let locust = requirements::locust_for(
        args.engine.python.locust.as_deref(),
        args.engine.python.requirements.as_deref(),
        &load.template.source.path,
    )?;
    let key = setup::given_cluster_key(
        args.engine.cluster_key_file.as_deref(),
        std::env::var("LOADGEN_CLUSTER_KEY").ok(),
    )?;
    let decided = WorkerSetup::decide(&load, &args.engine, &args.master, key)?;
    for said in &decided.said {
        eprintln!("loadgen: {said}");
    }
    let workspace = Workspace::create(&load, decided.client.class)?;
    for note in load.template.notes() {
        eprintln!("loadgen: {note}");
    }
    let common = protocol::Common::new(
        workspace.locustfile_path(),
        &workspace.locustfile,
        args.host.clone(),
        load.plan.user_classes(),
        decided.locust_args,
        decided.trace,
        users_verbose(),
    );
    let (master_host, master_port) = (decided.master_host, decided.master_port);
    let setup = Setup::worker(
        common,
        master_host.clone(),
        master_port,
        decided.cluster_key,
    );
    let setup_path = setup.write(workspace.dir.path(), "worker")?;
    eprintln!("loadgen: worker connecting to the Locust master at {master_host}:{master_port}");
    let mut shutdown = Shutdown::install(Emergency::default())?;
    // While the master can't be reached (not up yet, restarting), try again,
    // waiting longer each time, as Locust's own worker does; say so meanwhile.
    let mut backoff = Duration::from_secs(1);
    loop {
        let ended = runner::worker::serve(
            &locust.python,
            &workspace.harness_path(),
            &setup_path,
            users_verbose(),
            &mut shutdown,
        )
        .await?;
        match ended {
            worker::Ended::Stopped {
                process_exit_code: Some(code),
            } if code != 0 => {
                let exit = u8::try_from(code).unwrap_or(1);
                eprintln!(
                    "loadgen: the locustfile set environment.process_exit_code = {code}: exit {exit}"
                );
                return Ok(exit);
            }
            worker::Ended::Stopped { .. } | worker::Ended::Signal => return Ok(0),
            worker::Ended::Unreachable(why) => {
                eprintln!("loadgen: {why}; trying again in {}", short(backoff));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.requested() => return Ok(0),
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Whether the users' INFO logging and prints are shown: with loadgen's own
/// debug output (`-v`, or `LOADGEN_LOG=debug`), so one switch says "tell me more".
fn users_verbose() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}

/// The longest a worker waits between two tries to reach its master.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The target from --host / PL_HOST, else the hipster shop's FRONTEND_ADDR.
fn target_host(given: Option<&str>) -> Result<String> {
    let host = match given {
        Some(h) => h.to_string(),
        None => match std::env::var("FRONTEND_ADDR") {
            Ok(addr) if !addr.is_empty() => format!("http://{addr}"),
            _ => {
                return Err(BadInput(
                    "no target: pass --host http://HOST[:PORT] (or set PL_HOST, or FRONTEND_ADDR=HOST:PORT)".into(),
                )
                .into())
            }
        },
    };
    if !(host.starts_with("http://") || host.starts_with("https://")) {
        let example = match host.split_once("://") {
            Some((_, rest)) => format!("http://{rest}"),
            None => format!("http://{host}"),
        };
        return Err(BadInput(format!(
            "--host {host:?} must start with http:// or https://, e.g. {example}"
        ))
        .into());
    }
    Ok(host.trim_end_matches('/').to_string())
}

/// How a run can be steered while it goes.
struct Steering<'a> {
    control: &'a ControlArgs,
    /// Where the live dashboard is served (`None`: not at all).
    dashboard: Option<std::net::SocketAddr>,
    verdict: &'a VerdictArgs,
    /// The files to reload on change (or SIGHUP); `None` for the built-in load.
    reload: Option<&'a ConfigArgs>,
}

/// Runs a load: Locust, observers, then the record (table, files, verdict)
/// however the run ends. Returns the exit code, or the run's error once its
/// record is written.
async fn execute(
    load: &Load,
    host: Option<String>,
    when: When,
    engine: &EngineArgs,
    output: &OutputArgs,
    steering: Steering<'_>,
    stop: Stop,
) -> Result<u8> {
    let given_key = setup::given_cluster_key(
        engine.cluster_key_file.as_deref(),
        std::env::var("LOADGEN_CLUSTER_KEY").ok(),
    )?;
    let setup = RunSetup::decide(
        load,
        engine,
        given_key,
        when,
        sizing::cores(),
        SystemTime::now(),
        protocol::SAMPLE_INTERVAL,
    )?;
    if let Some(said) = &setup.workers_said {
        eprintln!("loadgen: {said}");
    }
    if let Some(said) = &setup.cluster_said {
        eprintln!("loadgen: warning: {said}");
    }
    let Stop {
        mut shutdown,
        emergency,
    } = stop;
    let thresholds = verdict::collect(&steering.verdict.fail_if, &load.config, &load.plan)?;
    let otlp_config = OtlpConfig::from(output.otlp_endpoint.as_deref(), |name| {
        std::env::var(name).ok()
    })?;
    let mut inputs = Inputs::default();
    let title = load.config_name();
    let mut servers = Servers::start(
        output.metrics_addr,
        steering.control,
        steering.dashboard,
        title,
        &mut inputs,
    )
    .await?;
    // Finding (or installing) Locust can take a while: a signal meanwhile ends
    // the run at once, with its (empty) summary and report.
    let explicit = engine.python.locust.clone();
    let requirements = engine.python.requirements.clone();
    let locustfile = load.template.source.path.clone();
    let finding = tokio::task::spawn_blocking(move || {
        requirements::locust_for(explicit.as_deref(), requirements.as_deref(), &locustfile)
    });
    let locust: LocustInstall = tokio::select! {
        found = finding => found.context("the Locust installation task failed")??,
        _ = shutdown.requested() => {
            eprintln!("loadgen: stopped by signal before the load started");
            let verdict = Verdict::new(thresholds, &load.plan, false, Vec::new());
            let outcome = Outcome::before_start(&load.plan, unix_now(), None);
            return conclude(output, steering.verdict, outcome, verdict, Some(&setup.trace.run_id));
        }
    };
    tracing::info!(
        "using Locust {} ({})",
        locust.version,
        locust.python.display()
    );
    if !load.template.is_plain() {
        eprintln!("loadgen: client {}", setup.client.why);
    }
    for note in load.template.notes() {
        eprintln!("loadgen: {note}");
    }
    let workspace = Workspace::create(load, setup.client.class)?;
    if let Ok(mut dirs) = emergency.dirs.lock() {
        dirs.push(workspace.dir.path().to_path_buf());
    }
    let host_said = host.clone();
    let spec = setup.group(
        &locust,
        &workspace,
        host,
        load.plan.user_classes(),
        emergency.pids.clone(),
        users_verbose(),
    );
    tracing::debug!("{} Locust processes", setup.processes());
    if let Some(args) = steering.reload {
        let watch = !steering.control.no_reload;
        inputs.changes = Some(reload::start(
            &args.files(),
            load,
            engine.python.user_class,
            watch,
        )?);
    }
    let mut progress = Progress::new(output.progress_interval);
    let mut observers: Vec<&mut dyn Observer> = vec![&mut progress];
    let mut otlp = otlp_config.map(|c| Otlp::start(c, &setup.trace.run_id, host_said.as_deref()));
    let mut publish = servers.publishers();
    if let Some(otlp) = &otlp {
        publish.push(Box::new(otlp.verdict()));
    }
    let mut verdict = Verdict::new(thresholds, &load.plan, steering.verdict.fail_fast, publish);
    observers.push(&mut verdict);
    let mut live = servers.dashboard();
    if let Some(live) = live.as_mut() {
        observers.push(live);
    }
    if let Some(metrics) = servers.metrics.as_mut() {
        observers.push(metrics);
    }
    let mut checkpoints = output
        .report
        .as_ref()
        .map(|dir| Checkpoints::new(dir.clone(), output.checkpoint_interval));
    if let Some(checkpoints) = checkpoints.as_mut() {
        observers.push(checkpoints);
    }
    if let Some(otlp) = otlp.as_mut() {
        observers.push(otlp);
    }
    let outcome = runner::run(
        &load.plan,
        spec,
        &setup.options,
        &mut observers,
        &mut shutdown,
        inputs,
    )
    .await;
    drop(observers);
    servers.stop();
    let concluded = conclude(
        output,
        steering.verdict,
        outcome,
        verdict,
        Some(&setup.trace.run_id),
    );
    // After the verdict: the last export carries the run-wide thresholds.
    if let Some(otlp) = otlp {
        otlp.close();
    }
    concluded
}

/// The end of every run, even one stopped before its load began or ended by an
/// error: the table, the record's files (summary.json, stats.csv, report.html,
/// JUnit), and how it ended. Returns the exit code, or the run's error once its
/// record is written.
fn conclude(
    output: &OutputArgs,
    args: &VerdictArgs,
    outcome: Outcome,
    mut verdict: Verdict,
    run_id: Option<&str>,
) -> Result<u8> {
    let Outcome {
        record,
        plan,
        process_exit_code,
        users_at_end,
        error,
    } = outcome;
    verdict.finish_run(&record);
    let mut summary = Summary::new(&record, &plan);
    summary.thresholds = verdict.results.clone();
    summary.run_id = run_id.map(str::to_string);
    println!("{}", report::table::render(&summary));
    let destinations = Destinations {
        dir: output.report.clone(),
        junit: args.junit.clone(),
    };
    let written = destinations.write(&summary);
    if let (Ok(()), Some(dir)) = (&written, &output.report) {
        eprintln!("loadgen: report written to {}", dir.display());
    }
    let ran = short(Duration::from_secs_f64(record.duration_s));
    let reason = record.ended_reason.as_deref().unwrap_or_default();
    match record.ended {
        Ended::Interrupted => eprintln!("loadgen: stopped by signal after {ran}"),
        Ended::StoppedEarly => eprintln!("loadgen: stopped early after {ran}: {reason}"),
        Ended::Error => eprintln!("loadgen: the run ended in an error after {ran}"),
        Ended::Completed | Ended::Running => {}
    }
    if let Some(error) = error {
        if let Err(e) = written {
            eprintln!("loadgen: {e:#}");
        }
        return Err(error);
    }
    written?;
    let interrupted = record.ended == Ended::Interrupted;
    let total = record.total();
    let (code, why) = verdict::exit_code(&verdict::Ending {
        thresholds_given: !verdict.is_empty(),
        threshold_failed: verdict.failed(),
        requests: total.requests,
        failures: total.failures,
        errors: record.exceptions.iter().map(|e| e.count).sum(),
        interrupted,
        code_on_error: args.exit_code_on_error,
        locustfile_code: process_exit_code,
    });
    // A run that made no request says why, as its users were at the end.
    let why = match (why, users_at_end) {
        (Some(why), Some(users)) if total.requests == 0 => Some(format!("{why}; {users}")),
        (why, _) => why,
    };
    if process_exit_code == Some(0) && code == 0 {
        eprintln!("loadgen: the locustfile set environment.process_exit_code = 0: exit 0");
    }
    match why {
        Some(why) => eprintln!("loadgen: FAILED (exit {code}): {why}"),
        None if !verdict.is_empty() => eprintln!("loadgen: PASSED: every threshold held"),
        None => {}
    }
    Ok(code)
}
