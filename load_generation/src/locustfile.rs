//! The locustfile, a user's template with loadgen's user classes in it.
//!
//! A template holds the tasks (one `class <Name>UserBehavior(TaskSet)` per user
//! type) and the original's `{{.Users}}` marker. Rendering replaces the marker with
//! one Locust 2.x user class per user type. The template is checked first, so the
//! mistakes a user can make (no marker, a missing behaviour, Locust 0.x/1.x APIs)
//! are reported with their line instead of as a Python traceback mid-run.
//!
//! (About 600 lines: the checks and the rendering walk the same lines of the
//! template, so they stay together; how Python lines and words are read is in
//! `locustfile/python.rs`, plain locustfiles in `locustfile/plain.rs`, Locust
//! 0.x names in `locustfile/legacy.rs`, the unit tests in `locustfile/tests.rs`.)
//!
//! A plain Locust 2.x locustfile (no marker, given with `--locustfile`) runs as it
//! is; [`plain`] maps the config's user types to its classes.

// An explicit path, relative to this file's directory, so the fuzz crate (which
// includes this file with `#[path]`) finds it too.
#[path = "locustfile/client.rs"]
pub mod client;
#[path = "locustfile/legacy.rs"]
pub mod legacy;
#[path = "locustfile/load_shape.rs"]
pub mod load_shape;
#[path = "locustfile/plain.rs"]
pub mod plain;
#[path = "locustfile/python.rs"]
mod python;
#[path = "locustfile/render.rs"]
mod render;
#[path = "locustfile/runner_calls.rs"]
pub mod runner_calls;

pub use client::{Client, ClientChoice, UserClass};
pub use render::{render_for_phase, render_for_run, Locustfile, Origin};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{LoadConfig, UserTypeName};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceText};
use python::{code_lines, find_word, CodeLine};

/// The marker in a template where the user classes go (the original's Go template syntax).
pub const USERS_MARKER: &str = "{{.Users}}";

/// A checked template, or a user's plain Locust 2.x locustfile.
#[derive(Debug, Clone)]
pub struct Template {
    pub source: SourceText,
    shape: Shape,
}

/// What kind of file a [`Template`] is.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// A seed template; the 1-based line of the `{{.Users}}` marker, which stands
    /// alone on its line.
    Marker(usize),
    /// A plain locustfile, run as it is: each user type's class (`NormalUser`, the
    /// name loadgen counts it under) and the file's class it names.
    Plain {
        classes: BTreeMap<String, String>,
        /// Every class the file defines (User classes or not).
        defined: Vec<String>,
    },
}

/// How a file was given: `--template` is always a template; `--locustfile` is a
/// template when it has the `{{.Users}}` marker and a plain locustfile otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    Template,
    Locustfile,
}

/// The template path to use: the one given, else `locustfile.loadgen.tmpl` beside the config.
pub fn template_path(config_file: &Path, given: Option<&Path>) -> PathBuf {
    match given {
        Some(path) => path.to_path_buf(),
        None => config_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("locustfile.loadgen.tmpl"),
    }
}

/// Locust 0.x APIs that loadgen cannot translate (the others, `legacy`, run
/// as they are), with what to write instead.
const REMOVED_APIS: &[(&str, &str)] = &[
    ("hatch_rate", "Locust 1.0 renamed hatch rate to spawn rate (`spawn_rate`); under loadgen the config's `hatch_rate_per_s` sets it"),
];

/// What one pass over a template's lines finds.
struct Scan {
    errors: Vec<Diagnostic>,
    marker_line: Option<usize>,
    classes: Vec<String>,
}

impl Template {
    /// Reads and checks the template against the user types of `config`.
    pub fn load(path: &Path, config: &LoadConfig, given: Given) -> Result<Template, Diagnostics> {
        let what = match given {
            Given::Template => "locustfile template",
            Given::Locustfile => "locustfile",
        };
        Template::check_given(SourceText::read(path, what)?, config, given)
    }

    /// For `check`: which class runs each user type, and the file's classes that no
    /// type runs (a plain locustfile; `None` for a template). With `imported`, the
    /// User classes Python found in the file, only those count as unused.
    pub fn mapping_overview(&self, imported: Option<&[String]>) -> Option<String> {
        let Shape::Plain { classes, defined } = &self.shape else {
            return None;
        };
        let mut out = String::new();
        for (key, class) in classes {
            let name = UserTypeName::of_class(key);
            let _ = writeln!(out, "  user type {name} runs class {class}");
        }
        match imported {
            Some(user_classes) => {
                let unused = plain::unused(classes, user_classes);
                if !unused.is_empty() {
                    let _ = writeln!(
                        out,
                        "  User classes no user type runs: {}",
                        unused.join(", ")
                    );
                }
            }
            None => {
                let unused = plain::unused(classes, defined);
                if !unused.is_empty() {
                    let _ = writeln!(
                        out,
                        "  classes no user type runs: {} (TaskSets and helpers are fine here)",
                        unused.join(", ")
                    );
                }
            }
        }
        Some(out)
    }

    /// The client the generated users get for `choice`, and why (see [`client`]).
    pub fn client(&self, choice: ClientChoice) -> Client {
        client::choose(choice, &self.source, self.is_plain())
    }

    /// The one line that names the Locust 0.x names the file uses, translated
    /// as it loads (`None` for a Locust 2 file).
    pub fn legacy_note(&self) -> Option<String> {
        let file = self.source.path.display().to_string();
        legacy::note(&file, &legacy::uses(&self.source.text))
    }

    /// A `LoadTestShape` class in the file, which loadgen ignores: the note
    /// at its line, with the phases its literal `stages` would be.
    pub fn shape_note(&self) -> Option<String> {
        let file = self.source.path.display().to_string();
        let types: Vec<String> = self
            .class_names()
            .keys()
            .map(|class| UserTypeName::of_class(class).to_string())
            .collect();
        load_shape::note(&file, &load_shape::find(&self.source.text), &types)
    }

    /// What `check`, `run` and `worker` say about the file before anything
    /// else: the Locust 0.x names it uses, a LoadTestShape it has, calls of
    /// `runner.start()` (ignored).
    pub fn notes(&self) -> Vec<String> {
        let file = self.source.path.display().to_string();
        let starts = runner_calls::starts(&self.source.text);
        self.legacy_note()
            .into_iter()
            .chain(self.shape_note())
            .chain(runner_calls::note(&file, &starts))
            .collect()
    }

    /// Whether this is a plain locustfile (run as it is, from its own path).
    pub fn is_plain(&self) -> bool {
        matches!(self.shape, Shape::Plain { .. })
    }

    /// Each user type's class name (as loadgen counts it) and the locustfile's
    /// class that runs it; empty for a template, whose classes loadgen writes.
    pub fn class_names(&self) -> BTreeMap<String, String> {
        match &self.shape {
            Shape::Plain { classes, .. } => classes.clone(),
            Shape::Marker(_) => BTreeMap::new(),
        }
    }

    /// The problems a template has on its own, whatever the config: for a
    /// config too broken to check against, so that all errors still come at once.
    pub fn problems_alone(path: &Path, given: Given) -> Vec<Diagnostic> {
        match SourceText::read(path, "locustfile template") {
            Ok(source) => {
                let scan = Template::scan(&source);
                if given == Given::Locustfile && scan.marker_line.is_none() {
                    scan.errors
                        .into_iter()
                        .filter(|e| !e.message.contains(USERS_MARKER))
                        .collect()
                } else {
                    scan.errors
                }
            }
            Err(diagnostics) => diagnostics.0,
        }
    }

    /// Checks a template in memory: all problems at once.
    pub fn check(source: SourceText, config: &LoadConfig) -> Result<Template, Diagnostics> {
        Template::check_given(source, config, Given::Template)
    }

    /// Checks a template or a plain locustfile in memory: all problems at once.
    pub fn check_given(
        source: SourceText,
        config: &LoadConfig,
        given: Given,
    ) -> Result<Template, Diagnostics> {
        let Scan {
            mut errors,
            marker_line,
            classes,
        } = Template::scan(&source);
        if given == Given::Locustfile && marker_line.is_none() {
            // No marker: a plain locustfile. Its own classes run; the only
            // template-specific error (the missing marker) does not apply.
            errors.retain(|e| !e.message.contains(USERS_MARKER));
            return match plain::map_classes(&source, config, &classes) {
                Ok(map) if errors.is_empty() => Ok(Template {
                    source,
                    shape: Shape::Plain {
                        classes: map,
                        defined: classes,
                    },
                }),
                Ok(_) => Err(Diagnostics(errors)),
                Err(more) => {
                    errors.extend(more);
                    Err(Diagnostics(errors))
                }
            };
        }

        // Every type that the config asks for needs its behaviour, reported once,
        // at the first place in the config that names it.
        let mut reported: Vec<&UserTypeName> = Vec::new();
        for phase in &config.phases {
            for user_type in &phase.user_types {
                let behavior = user_type.name.behavior_class();
                if classes.contains(&behavior) || reported.contains(&&user_type.name) {
                    continue;
                }
                reported.push(&user_type.name);
                errors.push(
                    Diagnostic::error(
                        &source.path,
                        None,
                        format!("the template has no `class {behavior}(TaskSet)`"),
                    )
                    .with_help(format!(
                        "{}:{}: the load config asks for user type \"{}\"; define `class {behavior}(TaskSet)` with its tasks in the template",
                        config.source.path.display(),
                        user_type.line,
                        user_type.name
                    )),
                );
            }
        }

        match marker_line {
            Some(marker_line) if errors.is_empty() => Ok(Template {
                source,
                shape: Shape::Marker(marker_line),
            }),
            _ => Err(Diagnostics(errors)),
        }
    }

    /// The marker, the classes defined and the config-independent problems.
    fn scan(source: &SourceText) -> Scan {
        let mut errors = Vec::new();
        let mut marker_line = None;
        let mut classes: Vec<String> = Vec::new();

        for CodeLine { number, line, code } in code_lines(&source.text) {
            let code = code.as_ref();
            if let Some(column) = line.find(USERS_MARKER) {
                let offset = source_offset(source, number, column);
                if line.trim() != USERS_MARKER {
                    errors.push(source.error_at(offset, format!("`{USERS_MARKER}` must stand alone on its line")).with_help(
                        "put the marker on a line of its own at the top level (no indentation), where the user classes should go",
                    ));
                } else if line.starts_with([' ', '\t']) {
                    // Indented, the marker would sit inside a block: the generated
                    // top-level classes would end that block, or not parse.
                    // It still is the marker: a file with it is a template.
                    marker_line.get_or_insert(number);
                    errors.push(
                        source
                            .error_at(offset, format!("`{USERS_MARKER}` is indented"))
                            .with_help(
                                "loadgen writes top-level classes at the marker: move it to the start of its line, outside any class, function or `if`",
                            ),
                    );
                } else if marker_line.is_some() {
                    errors.push(
                        source
                            .error_at(offset, format!("`{USERS_MARKER}` appears more than once"))
                            .with_help(
                                "keep a single marker; loadgen writes all user classes there",
                            ),
                    );
                } else {
                    marker_line = Some(number);
                }
                continue;
            }
            if let Some(name) = class_name(code) {
                classes.push(name.to_string());
            }
            // A User class imported from a helper module beside the file counts too.
            classes.extend(imported_names(code).map(str::to_string));
            for (word, help) in REMOVED_APIS {
                if let Some(column) = removed_api_use(code, word) {
                    errors.push(
                        source
                            .error_at(
                                source_offset(source, number, column),
                                format!(
                                    "the template uses `{word}`, which Locust 2.x no longer has"
                                ),
                            )
                            .with_help(*help),
                    );
                }
            }
        }

        if marker_line.is_none() {
            errors.push(
                Diagnostic::error(&source.path, None, format!("the template has no `{USERS_MARKER}` marker"))
                    .with_help(format!(
                        "add a line `{USERS_MARKER}` (at the end of the file is usual): loadgen writes one user class per user type there"
                    )),
            );
        }
        Scan {
            errors,
            marker_line,
            classes,
        }
    }
}

/// `class Foo(...)` or `class Foo:` at any indentation: the class name.
pub(crate) fn class_name(code: &str) -> Option<&str> {
    let rest = code.trim_start().strip_prefix("class")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// Where `code` really uses a removed API: `HttpLocust` anywhere, the removed
/// class attributes only where they are set (`min_wait = 1000`), not a
/// function parameter or a variable that happens to share the name.
fn removed_api_use(code: &str, word: &str) -> Option<usize> {
    let column = find_word(code, word)?;
    let is_assignment = code[..column].trim().is_empty()
        && code[column + word.len()..]
            .trim_start()
            .strip_prefix('=')
            .is_some_and(|rest| !rest.starts_with('='));
    is_assignment.then_some(column)
}

/// The names `from module import A, B as C` binds: `A` and `C`.
fn imported_names(code: &str) -> impl Iterator<Item = &str> {
    let names = code
        .trim_start()
        .strip_prefix("from ")
        .and_then(|rest| rest.split_once(" import "))
        .map_or("", |(_, names)| names);
    names
        .split(',')
        .map(|n| n.trim().trim_matches(['(', ')', '\\']).trim())
        .filter_map(|n| n.split(" as ").last())
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// The byte column of `word` in `code` as a whole identifier, outside string quotes
/// is not distinguished: a removed API named in a string is rare and still worth a look.
pub(crate) fn source_offset(source: &SourceText, line: usize, column: usize) -> usize {
    let start: usize = source
        .text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    start + column
}

// The path is spelled out because the fuzz crate includes this file with
// `#[path]`, where a bare `mod tests;` would look for src/tests.rs.
#[cfg(test)]
#[path = "locustfile/tests.rs"]
mod tests;
