//! loadgen: realistic, phased web traffic on Locust.
//!
//! The data flows through one module per stage: `config` (read and validate
//! load.pbtxt) -> `plan` (phases as typed values) -> `locustfile` (render the
//! template) -> `runner` (drive Locust, phase after phase) -> `stats` -> `report`.
//! `locust` finds Locust and holds the harness that runs it; `demo_shop` is the
//! built-in target; `app` strings the stages together per command.

mod app;
mod cli;
mod config;
mod control;
mod dashboard;
mod demo_shop;
mod diagnostic;
mod fmt;
mod load;
mod locust;
mod locustfile;
mod metrics;
mod otlp;
mod plan;
mod progress;
mod reload;
mod report;
mod runner;
mod shape;
mod stats;
mod verdict;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use diagnostic::{BadInput, Diagnostics};
use locust::protocol::ClusterKey;

fn main() -> ExitCode {
    let cli = Cli::parse_from(cli::with_default_command(std::env::args_os().collect()));
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Check(args) => app::check(args).map(|()| 0),
            Command::Render(args) => app::render(args).map(|()| 0),
            Command::Run(args) => app::run(args).await,
            Command::Demo(args) => app::demo(args).await,
            Command::DemoShop(args) => app::demo_shop(args).await.map(|()| 0),
            Command::Worker(args) => app::worker(args).await,
            Command::Locust(args) => app::locust(args).map(|()| 0),
            Command::Ctl(args) => app::ctl(args).await.map(|()| 0),
            Command::Report(args) => app::report(args).map(|()| 0),
            Command::Shape(args) => app::shape(args).map(|()| 0),
            Command::ClusterKey => {
                println!("{}", ClusterKey::random().reveal());
                Ok(0)
            }
        }
    });
    // Don't wait for stray tasks (a signal listener, say) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        // A run's verdict: 0 passed, 1 failures or errors, 3 a threshold failed.
        Ok(code) => ExitCode::from(code),
        Err(error) => match error.downcast_ref::<Diagnostics>() {
            Some(diagnostics) => {
                eprintln!("{diagnostics}");
                ExitCode::from(2)
            }
            None if error.downcast_ref::<BadInput>().is_some() => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "loadgen=info",
        1 => "loadgen=debug",
        _ => "loadgen=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOADGEN_LOG")
        .unwrap_or_else(|_| default.into());
    // Colour only on a terminal: escape codes are noise in a pod's log.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

/// Test builds count what each thread allocates, so that a unit test can
/// state what a structure costs in memory (`stats::series`'s points) from
/// the allocator's side rather than from the structure's own account.
#[cfg(test)]
pub(crate) mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: every call goes to the system allocator unchanged; the counter
    // is a const-initialised thread local, which allocates nothing.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LIVE.with(|l| l.set(l.get() + layout.size() as isize));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.with(|l| l.set(l.get() - layout.size() as isize));
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LIVE.with(|l| l.set(l.get() + new_size as isize - layout.size() as isize));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Bytes this thread has allocated and not freed.
    pub(crate) fn live_bytes() -> isize {
        LIVE.with(Cell::get)
    }
}
