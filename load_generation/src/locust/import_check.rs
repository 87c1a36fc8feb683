//! `loadgen check`'s last step: the locustfile imported in Locust's own Python,
//! without load, as a run would import it. A mistake that only Python sees (a
//! syntax error, a module that is not there, a misspelt name at the top level) is
//! then reported at check time at the user's file, line and column (a template's
//! own line, not its rendering's), instead of as a traceback when the run starts.
//! It also tells which of the file's classes really are concrete User classes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::install::LocustInstall;
use super::protocol::{Common, Event, ImportFailure, Setup, TraceSetup};
use super::workspace::Workspace;
use crate::diagnostic::{Diagnostic, Diagnostics, SourceText};
use crate::load::Load;
use crate::locustfile::{self, ClientChoice, Origin};

/// How long importing may take: a locustfile's top level may read files or
/// build data, but one that waits longer is waiting for something that won't come.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(60);

/// Imports the load's locustfile (or template's rendering) with `locust`'s Python.
/// Returns the concrete User classes it has; where it fails, every problem as a
/// diagnostic at the user's file and line (a class named by the config that is
/// no concrete User class at the config's line).
pub fn import(load: &Load, locust: &LocustInstall, client: ClientChoice) -> Result<Vec<String>> {
    let workspace = Workspace::create(load, load.template.client(client).class)?;
    let setup = Setup::check(Common::new(
        workspace.locustfile_path(),
        &workspace.locustfile,
        None,
        load.plan.used_user_classes(),
        Vec::new(),
        TraceSetup::off(), // a check sends no request
        false,
    ));
    let setup_path = setup.write(workspace.dir.path(), "check")?;
    let (event, stderr) = run_harness(locust, &workspace, &setup_path)?;
    let Some(Event::Imported {
        user_classes,
        error,
    }) = event
    else {
        return Err(Diagnostics(vec![Diagnostic::error(
            &load.template.source.path,
            None,
            format!(
                "importing the locustfile in Locust ({}) gave no answer; its output:\n{}",
                locust.python.display(),
                stderr.trim_end()
            ),
        )])
        .into());
    };
    if let Some(failure) = error {
        return Err(Diagnostics(vec![located(load, &workspace, &failure)]).into());
    }
    let wrong = not_user_classes(load, &user_classes);
    if !wrong.is_empty() {
        return Err(Diagnostics(wrong).into());
    }
    Ok(user_classes)
}

/// Runs the harness in the role `check`; its one event and its stderr.
fn run_harness(
    locust: &LocustInstall,
    workspace: &Workspace,
    setup: &Path,
) -> Result<(Option<Event>, String)> {
    let mut child = Command::new(&locust.python)
        .arg("-u")
        .arg(workspace.harness_path())
        .arg(setup)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .spawn()
        .with_context(|| format!("cannot start {}", locust.python.display()))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    let started = Instant::now();
    while child.try_wait()?.is_none() {
        if started.elapsed() > IMPORT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(crate::diagnostic::BadInput(format!(
                "importing the locustfile did not end within {} s: does its top level wait for something (a server, input)? Code that needs the target belongs in `on_start` or a `test_start` listener",
                IMPORT_TIMEOUT.as_secs()
            ))
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let event = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Event>(l).ok())
        .find(|e| matches!(e, Event::Imported { .. } | Event::Fatal { .. }));
    if let Some(Event::Fatal { message, .. }) = &event {
        anyhow::bail!("Locust could not be used to import the locustfile: {message}");
    }
    Ok((event, stderr))
}

/// The failure as a diagnostic at the user's own file and line: the template's
/// line for its rendering, the plain locustfile or helper module as it is.
fn located(load: &Load, workspace: &Workspace, failure: &ImportFailure) -> Diagnostic {
    let template = &load.template.source;
    let message = format!("importing the locustfile failed: {}", failure.message);
    let help = help_for(&failure.message);
    let (Some(file), Some(line)) = (&failure.file, failure.line) else {
        // Raised outside the user's files (in a package): the traceback says where.
        return Diagnostic::error(&template.path, None, message)
            .with_help(format!("{help}\n{}", failure.traceback.trim_end()));
    };
    let column = failure.column.unwrap_or(1).max(1);
    let rendered = workspace.locustfile_path();
    let (source, line) = if same_file(file, &rendered) && !workspace.locustfile.plain {
        let line = match workspace.locustfile.origin(line) {
            Origin::Template(l) => l,
            // A line loadgen wrote at the marker: the template ended mid-statement.
            Origin::Generated => workspace.locustfile.marker_line(),
        };
        (template.clone(), line)
    } else if same_file(file, &template.path) {
        (template.clone(), line)
    } else {
        match SourceText::read(file, "Python module") {
            Ok(source) => (source, line),
            Err(_) => {
                return Diagnostic::error(file, None, format!("{message} (at line {line})"))
                    .with_help(help)
            }
        }
    };
    match source.line_text(line) {
        Some(text) => {
            let byte = text
                .char_indices()
                .nth(column - 1)
                .map_or(text.len(), |(i, _)| i);
            source
                .error_at(locustfile::source_offset(&source, line, byte), message)
                .with_help(help)
        }
        None => Diagnostic::error(&source.path, None, format!("{message} (at line {line})"))
            .with_help(help),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p));
    canonical(a) == canonical(b)
}

/// How to fix an error at import, by its kind.
fn help_for(message: &str) -> &'static str {
    let kind = message.split(':').next().unwrap_or("");
    match kind {
        "ModuleNotFoundError" | "ImportError" => {
            "a package must be installed: list it in a requirements.txt beside the locustfile (or pass --requirements FILE); a module of your own must be beside the locustfile"
        }
        "SyntaxError" | "IndentationError" | "TabError" => {
            "Python stopped reading here; fix the syntax (the mistake may be just before)"
        }
        "NameError" => {
            "the name is not defined where the file's top level runs: check its spelling and that it is imported or defined above"
        }
        _ => "this ran at import (the file's top level, not a task) and raised: fix it, or move it into `on_start` or a `test_start` listener",
    }
}

/// The config's user types whose class, in the imported file, is no concrete
/// User class (a TaskSet, an abstract class, a name bound to something else).
fn not_user_classes(load: &Load, user_classes: &[String]) -> Vec<Diagnostic> {
    let names = load.template.class_names();
    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for user_type in load.config.phases.iter().flat_map(|p| &p.user_types) {
        let key = user_type.name.user_class();
        let own = names.get(&key).cloned().unwrap_or_else(|| key.clone());
        if user_classes.contains(&own) || seen.contains(&own) {
            continue;
        }
        seen.push(own.clone());
        errors.push(
            Diagnostic::error(
                &load.config.source.path,
                Some(crate::diagnostic::Position {
                    line: user_type.line,
                    column: 1,
                }),
                format!(
                    "user type \"{}\" runs `{own}` of {}, which is no concrete User class once imported",
                    user_type.name,
                    load.template.source.path.display()
                ),
            )
            .with_help(format!(
                "`{own}` must extend HttpUser, FastHttpUser or User and not set `abstract = True`; the file's User classes: {}",
                if user_classes.is_empty() { "none".to_string() } else { user_classes.join(", ") }
            )),
        );
    }
    errors
}
