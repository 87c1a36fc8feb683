//! Rendering: a template with generated user classes in place of its
//! `{{.Users}}` marker (one class per user type), the whole run's or one
//! phase's; and the map from the rendered file's lines back to the template's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Shape, Template, UserClass};
use crate::config::UserTypeName;
use crate::plan::Plan;

impl Template {
    /// Renders a locustfile with `users` in place of the marker.
    pub fn render(
        &self,
        users: &[GeneratedUser],
        user_class: UserClass,
        header: &str,
    ) -> Locustfile {
        let marker_line = match &self.shape {
            Shape::Marker(line) => *line,
            // A plain locustfile runs as it is, from its own path.
            Shape::Plain { .. } => {
                return Locustfile {
                    text: self.source.text.clone(),
                    template: self.source.path.clone(),
                    plain: true,
                    class_names: self.class_names(),
                    client: None,
                    marker_line: usize::MAX,
                    generated_lines: 0,
                }
            }
        };
        let block = generated_block(users, user_class, header);
        let mut text = String::with_capacity(self.source.text.len() + block.len());
        for (i, line) in self.source.text.split_inclusive('\n').enumerate() {
            if i + 1 == marker_line {
                text.push_str(&block);
            } else {
                text.push_str(line);
            }
        }
        Locustfile {
            text,
            template: self.source.path.clone(),
            plain: false,
            class_names: BTreeMap::new(),
            client: Some(user_class),
            marker_line,
            generated_lines: block.lines().count(),
        }
    }
}

/// One user class for the renderer to write.
#[derive(Debug, Clone)]
pub struct GeneratedUser {
    pub name: UserTypeName,
    pub weight: u32,
    pub min_wait: Duration,
    pub max_wait: Duration,
}

/// A rendered locustfile, with what is needed to map its lines back to the template.
#[derive(Debug, Clone)]
pub struct Locustfile {
    pub text: String,
    /// The user's file: the template, or the plain locustfile itself.
    pub template: PathBuf,
    /// A plain locustfile: the harness loads the user's own file, not a copy.
    pub plain: bool,
    /// A plain locustfile's class for each user type (see [`Template::class_names`]).
    pub class_names: BTreeMap<String, String>,
    /// The client of the generated users; `None` for a plain locustfile (its own).
    pub client: Option<UserClass>,
    marker_line: usize,
    generated_lines: usize,
}

/// Where a line of a rendered locustfile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Template(usize),
    Generated,
}

impl Locustfile {
    /// The directory of the user's file, absolute: Python's path and working
    /// directory while it runs, so helper modules and data files beside it work.
    /// `None` for a built-in load, which has no directory.
    pub fn base_dir(&self) -> Option<PathBuf> {
        let parent = match self.template.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::canonicalize(parent).ok()
    }

    /// The template's line of the `{{.Users}}` marker, where the generated lines are.
    pub fn marker_line(&self) -> usize {
        self.marker_line
    }

    /// Maps a line of the rendered file to the template line it came from, so
    /// Python tracebacks can name the file the user actually wrote.
    pub fn origin(&self, line: usize) -> Origin {
        if line < self.marker_line {
            Origin::Template(line)
        } else if line < self.marker_line + self.generated_lines {
            Origin::Generated
        } else {
            Origin::Template(line + 1 - self.generated_lines)
        }
    }
}

/// The locustfile for a whole run: one class per user type of the load. Weights and
/// waits are those of the type's first phase; while running, loadgen sets the exact
/// user counts and each phase's waits itself.
pub fn render_for_run(
    template: &Template,
    plan: &Plan,
    user_class: UserClass,
    config_name: &str,
) -> Locustfile {
    let users: Vec<GeneratedUser> = plan
        .user_types
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            // A type no phase uses (dropped by a reloaded config) gets no class:
            // its behaviour may be gone from the template too.
            let share = plan
                .phases
                .iter()
                .flat_map(|p| &p.shares)
                .find(|s| s.type_index == i)?;
            Some(GeneratedUser {
                name: name.clone(),
                weight: share.ratio,
                min_wait: share.min_wait,
                max_wait: share.max_wait,
            })
        })
        .collect();
    let header = format!(
        "generated by loadgen from {config_name}: one Locust user class per user type.\n\
         While it runs, loadgen sets how many users of each class run and their waits, phase by phase."
    );
    template.render(&users, user_class, &header)
}

/// The locustfile of one phase, as the original wrote them: weights are the phase's
/// ratios and waits the phase's, so plain `locust -f` runs that phase's mix.
pub fn render_for_phase(
    template: &Template,
    plan: &Plan,
    phase_index: usize,
    user_class: UserClass,
    config_name: &str,
) -> Locustfile {
    let phase = &plan.phases[phase_index];
    let users: Vec<GeneratedUser> = phase
        .shares
        .iter()
        .map(|s| GeneratedUser {
            name: plan.user_types[s.type_index].clone(),
            weight: s.ratio,
            min_wait: s.min_wait,
            max_wait: s.max_wait,
        })
        .collect();
    let header = format!(
        "generated by loadgen from {config_name}, phase {} of {} (line {}): {} s, {} users, hatch rate {}/s.",
        phase.number,
        plan.phases.len(),
        phase.line,
        phase.duration.as_secs(),
        plan.total_users(phase_index),
        phase.hatch_rate
    );
    template.render(&users, user_class, &header)
}

fn generated_block(users: &[GeneratedUser], user_class: UserClass, header: &str) -> String {
    let base = user_class.base();
    // The header names the config file, whose name may hold any character: Python
    // also ends a line at a lone `\r`, so a control character could end the comment
    // and inject code. Only `\n` survives, and each line it starts is a comment.
    let header: String = header
        .chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect();
    let mut out = String::new();
    out.push_str("# ---- begin: ");
    let mut lines = header.lines();
    out.push_str(lines.next().unwrap_or(""));
    out.push('\n');
    for line in lines {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "from locust import {base}, between  # noqa: E402");
    for user in users {
        let _ = write!(
            out,
            "\n\nclass {class}({base}):\n    weight = {weight}\n    tasks = [{behavior}]\n    wait_time = between({min}, {max})\n",
            class = user.name.user_class(),
            weight = user.weight,
            behavior = user.name.behavior_class(),
            min = seconds(user.min_wait),
            max = seconds(user.max_wait),
        );
    }
    out.push_str("# ---- end of generated user classes\n");
    out
}

/// Seconds as a Python float literal: `1.0`, `0.25`.
pub(super) fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}.0", ms / 1000)
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}
