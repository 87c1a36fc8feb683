//! The semantic rules of a load config, each reported at the offending field.

use std::collections::HashMap;
use std::time::Duration;

use prost_reflect::{DynamicMessage, Value};

use super::locate::SpanMap;
use super::threshold::{self, Scope, Threshold};
use super::{
    Arrival, LoadConfig, Loaded, PhaseConfig, RateConfig, TraceConfig, UserTypeConfig, UserTypeName,
};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceText};

/// Checks every rule and builds the typed config, or returns all problems at once.
pub(super) fn validate(
    source: SourceText,
    root: &DynamicMessage,
    spans: &SpanMap,
) -> Result<Loaded, Diagnostics> {
    let mut check = Checker {
        source: &source,
        spans,
        diagnostics: Vec::new(),
    };
    let phases = check.phases(root);
    let fail_if = check.thresholds(root, "fail_if", true);
    let trace = check.trace_context(root);
    check.phase_names(&phases);
    let (errors, warnings): (Vec<_>, Vec<_>) = check
        .diagnostics
        .into_iter()
        .partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(Diagnostics(errors.into_iter().chain(warnings).collect()));
    }
    Ok(Loaded {
        config: LoadConfig {
            source,
            phases,
            fail_if,
            trace,
        },
        warnings,
    })
}

struct Checker<'a> {
    source: &'a SourceText,
    spans: &'a SpanMap,
    diagnostics: Vec<Diagnostic>,
}

/// An integer field of a message, with where it was set (or where its message is,
/// when it was left out and so is 0).
struct IntField {
    value: i32,
    offset: usize,
    set: bool,
}

impl Checker<'_> {
    fn phases(&mut self, root: &DynamicMessage) -> Vec<PhaseConfig> {
        let phases = messages(root, "phases");
        if phases.is_empty() {
            self.diagnostics.push(
                self.source
                    .error_at(0, "the load config has no phases")
                    .with_help("add at least one `phases { duration: 60 num_users: 10 hatch_rate_per_s: 5 user_types { name: \"Normal\" ratio: 1 min_wait_ms: 1000 max_wait_ms: 2000 } }`"),
            );
        }
        phases
            .iter()
            .enumerate()
            .filter_map(|(i, phase)| self.phase(i, phase))
            .collect()
    }

    fn phase(&mut self, index: usize, phase: &DynamicMessage) -> Option<PhaseConfig> {
        let path = format!("phases[{index}]");
        let at = self.offset_of(&path, 0);
        let n = index + 1;
        let duration = self.int(phase, &path, "duration", at);
        let num_users = self.int(phase, &path, "num_users", at);
        let hatch = self.int(phase, &path, "hatch_rate_per_s", at);
        let mut ok = true;

        if duration.value <= 0 {
            ok = false;
            let msg = if duration.set {
                format!(
                    "phase {n}: `duration` is {}, but a phase must last at least 1 second",
                    duration.value
                )
            } else {
                format!("phase {n} has no `duration`")
            };
            self.push_error(
                duration.offset,
                msg,
                "set `duration: <seconds>` to a value of 1 or more",
            );
        }
        if num_users.value < 0 {
            ok = false;
            self.push_error(
                num_users.offset,
                format!(
                    "phase {n}: `num_users` is {}, which is negative",
                    num_users.value
                ),
                "use 0 for a quiet phase, or the number of users to simulate",
            );
        }
        // A rate phase may leave its pool's hatch rate out (see `rate`).
        let a_rate = self.spans.contains_key(&format!("{path}.requests_per_s"));
        if hatch.value <= 0 && (hatch.set || !a_rate) {
            ok = false;
            let msg = if hatch.set {
                format!("phase {n}: `hatch_rate_per_s` is {}, but users must start at 1 per second or more", hatch.value)
            } else {
                format!("phase {n} has no `hatch_rate_per_s`")
            };
            self.push_error(
                hatch.offset,
                msg,
                "set `hatch_rate_per_s: <users per second>` to 1 or more",
            );
        }

        let raw_types = messages(phase, "user_types");
        if raw_types.is_empty() {
            ok = false;
            self.push_error(
                at,
                format!("phase {n} has no user types"),
                "add `user_types { name: \"Normal\" ratio: 1 min_wait_ms: 1000 max_wait_ms: 2000 }` to the phase",
            );
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut user_types = Vec::new();
        for (j, user_type) in raw_types.iter().enumerate() {
            match self.user_type(n, &format!("{path}.user_types[{j}]"), user_type, &mut seen) {
                Some(t) => user_types.push(t),
                None => ok = false,
            }
        }

        if ok && num_users.value > 0 && (num_users.value as usize) < user_types.len() {
            self.diagnostics.push(
                self.source
                    .warning_at(
                        num_users.offset,
                        format!(
                            "phase {n} has {} users for {} user types, so some types get no user",
                            num_users.value,
                            user_types.len()
                        ),
                    )
                    .with_help(
                        "raise `num_users` to at least the number of user types, or drop a type",
                    ),
            );
        }
        let name = self.phase_name(phase, &path);
        let fail_if = self.thresholds(phase, &format!("{path}.fail_if"), false);
        let open = self.rate(n, phase, &path, &num_users, &duration, &user_types);
        let (rate, users, hatch_rate) = match open {
            Opened::Closed => (None, num_users.value as u32, hatch.value as u32),
            Opened::Open { rate, pool } => {
                // A rate phase's pool starts at its own size per second unless told.
                let hatch = if hatch.set { hatch.value as u32 } else { pool };
                (Some(rate), pool, hatch)
            }
            Opened::Refused => {
                ok = false;
                (None, 0, 0)
            }
        };
        ok.then(|| PhaseConfig {
            name,
            fail_if,
            line: self.source.position(at).line,
            duration: Duration::from_secs(duration.value as u64),
            num_users: users,
            hatch_rate_per_s: hatch_rate,
            user_types,
            rate,
        })
    }

    /// A phase's `requests_per_s` and the fields that only go with it.
    fn rate(
        &mut self,
        n: usize,
        phase: &DynamicMessage,
        path: &str,
        num_users: &IntField,
        duration: &IntField,
        user_types: &[UserTypeConfig],
    ) -> Opened {
        let at = self.offset_of(path, 0);
        let per_s = self.spans.get(&format!("{path}.requests_per_s")).map(|s| {
            let value = phase
                .get_field_by_name("requests_per_s")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            (value, s.value)
        });
        let arrival = self.spans.get(&format!("{path}.arrival")).map(|s| s.value);
        let ramp = self.int(phase, path, "rate_ramp_s", at);
        let max_users = self.int(phase, path, "max_users", at);
        let Some((per_s, per_s_at)) = per_s else {
            let only_open = [
                ("arrival", arrival),
                ("rate_ramp_s", ramp.set.then_some(ramp.offset)),
                ("max_users", max_users.set.then_some(max_users.offset)),
            ];
            let mut refused = false;
            for (field, offset) in only_open {
                if let Some(offset) = offset {
                    refused = true;
                    self.push_error(
                        offset,
                        format!("phase {n}: `{field}` belongs to a rate phase, and this one has no `requests_per_s`"),
                        "add `requests_per_s: <iterations per second>` in place of `num_users`, or drop the field",
                    );
                }
            }
            return if refused {
                Opened::Refused
            } else {
                Opened::Closed
            };
        };
        let mut ok = true;
        if num_users.set {
            ok = false;
            self.push_error(
                num_users.offset,
                format!("phase {n} gives both `num_users` and `requests_per_s`"),
                "a phase runs a number of users (closed model) or a rate (open model): keep one; `max_users` caps a rate phase's users",
            );
        }
        if !(per_s > 0.0 && per_s <= MAX_RATE) {
            ok = false;
            self.push_error(
                per_s_at,
                format!("phase {n}: `requests_per_s` is {per_s}, but a rate phase starts more than 0 and at most {MAX_RATE} iterations per second"),
                "use `num_users: 0` for a quiet phase",
            );
        }
        if ramp.value < 0 || (duration.value > 0 && ramp.value > duration.value) {
            ok = false;
            self.push_error(
                ramp.offset,
                format!("phase {n}: `rate_ramp_s` is {}, but it must be from 0 to the phase's duration ({} s)", ramp.value, duration.value),
                "the rate reaches this phase's own within `rate_ramp_s` seconds of its start",
            );
        }
        let types = user_types.len().max(1) as i64;
        if max_users.set && i64::from(max_users.value) < types {
            ok = false;
            self.push_error(
                max_users.offset,
                format!("phase {n}: `max_users` is {}, but each of its {types} user types needs a user at least", max_users.value),
                format!("set `max_users` to {types} or more: as many users as iterations can be in flight at once"),
            );
        }
        for (j, t) in user_types.iter().enumerate() {
            let wait = ["min_wait_ms", "max_wait_ms"]
                .iter()
                .find_map(|f| self.spans.get(&format!("{path}.user_types[{j}].{f}")));
            if let Some(span) = wait {
                self.diagnostics.push(
                    self.source
                        .warning_at(
                            span.name,
                            format!("phase {n} is a rate phase: the waits of {:?} are not used", t.name.as_str()),
                        )
                        .with_help("its iterations start at the rate's times; drop `min_wait_ms` and `max_wait_ms` here"),
                );
            }
        }
        if !ok {
            return Opened::Refused;
        }
        let arrival = match phase
            .get_field_by_name("arrival")
            .and_then(|v| v.as_enum_number())
        {
            Some(1) => Arrival::Poisson,
            _ => Arrival::Uniform,
        };
        let pool = if max_users.set {
            max_users.value as u32
        } else {
            (per_s.ceil() as u32).max(types as u32)
        };
        Opened::Open {
            rate: RateConfig {
                per_s,
                arrival,
                ramp: Duration::from_secs(ramp.value.max(0) as u64),
            },
            pool,
        }
    }

    fn user_type(
        &mut self,
        phase: usize,
        path: &str,
        user_type: &DynamicMessage,
        seen: &mut HashMap<String, usize>,
    ) -> Option<UserTypeConfig> {
        let at = self.offset_of(path, 0);
        let name_offset = self
            .spans
            .get(&format!("{path}.name"))
            .map_or(at, |s| s.value);
        let raw_name = user_type
            .get_field_by_name("name")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut ok = true;

        let name = match UserTypeName::new(&raw_name) {
            Ok(name) => Some(name),
            Err(why) => {
                ok = false;
                let why = if self.spans.contains_key(&format!("{path}.name")) {
                    why
                } else {
                    format!("phase {phase}: a user type has no `name`")
                };
                self.push_error(
                    name_offset,
                    why,
                    "name user types like Python classes (`Normal`, `Weekend`): the template defines `class <name>UserBehavior(TaskSet)` for each",
                );
                None
            }
        };
        if let Some(first) = seen.get(&raw_name) {
            ok = false;
            let line = self.source.position(*first).line;
            self.push_error(
                name_offset,
                format!("phase {phase}: user type {raw_name:?} is listed twice"),
                format!("it is first listed on line {line}; merge the two into one `user_types` with the summed ratio"),
            );
        } else {
            seen.insert(raw_name.clone(), name_offset);
        }

        let ratio = self.int(user_type, path, "ratio", at);
        if ratio.value <= 0 {
            ok = false;
            let msg = if ratio.set {
                format!(
                    "phase {phase}: `ratio` of {raw_name:?} is {}, but it must be 1 or more",
                    ratio.value
                )
            } else {
                format!("phase {phase}: user type {raw_name:?} has no `ratio`")
            };
            self.push_error(
                ratio.offset,
                msg,
                "set `ratio: <share>`; users are split between types in proportion to their ratios",
            );
        }
        let min = self.int(user_type, path, "min_wait_ms", at);
        let max = self.int(user_type, path, "max_wait_ms", at);
        for (field, wait) in [("min_wait_ms", &min), ("max_wait_ms", &max)] {
            if wait.value < 0 {
                ok = false;
                self.push_error(
                    wait.offset,
                    format!(
                        "phase {phase}: `{field}` of {raw_name:?} is {}, which is negative",
                        wait.value
                    ),
                    "waits are milliseconds between a user's tasks, 0 or more",
                );
            }
        }
        if min.value >= 0 && max.value >= 0 && min.value > max.value {
            ok = false;
            self.push_error(
                min.offset,
                format!(
                    "phase {phase}: `min_wait_ms` ({}) of {raw_name:?} is larger than `max_wait_ms` ({})",
                    min.value, max.value
                ),
                "make `min_wait_ms` <= `max_wait_ms` (equal values give a fixed wait)",
            );
        }
        let name = name?;
        ok.then(|| UserTypeConfig {
            name,
            line: self.source.position(name_offset).line,
            ratio: ratio.value as u32,
            min_wait: Duration::from_millis(min.value as u64),
            max_wait: Duration::from_millis(max.value as u64),
            waits_given: min.set || max.set,
        })
    }

    /// A phase's `name`: letters, digits, `_` and `-`, not all digits (a
    /// threshold's `phase 3:` means the third phase).
    fn phase_name(&mut self, phase: &DynamicMessage, path: &str) -> Option<String> {
        let span = self.spans.get(&format!("{path}.name")).copied()?;
        let name = phase
            .get_field_by_name("name")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let fine = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && !name.chars().all(|c| c.is_ascii_digit());
        if !fine {
            self.push_error(
                span.value,
                format!("the phase name {name:?} is not a plain name"),
                "use up to 64 letters, digits, `_` and `-`, not only digits (e.g. `holiday`, `weekend-rush`)",
            );
            return None;
        }
        Some(name)
    }

    /// Phase names are unique, so a threshold's `phase NAME:` means one phase.
    fn phase_names(&mut self, phases: &[PhaseConfig]) {
        for (i, phase) in phases.iter().enumerate() {
            let Some(name) = &phase.name else { continue };
            if let Some(first) = phases[..i].iter().find(|p| p.name.as_ref() == Some(name)) {
                let at = self
                    .spans
                    .get(&format!("phases[{i}].name"))
                    .map_or(0, |s| s.value);
                self.push_error(
                    at,
                    format!("two phases are named {name:?}"),
                    format!(
                        "the first is the phase on line {}; give each phase its own name",
                        first.line
                    ),
                );
            }
        }
    }

    /// The thresholds of a repeated `fail_if`, each parsed and located. A
    /// phase's own thresholds take no `phase ...:` prefix.
    fn thresholds(&mut self, message: &DynamicMessage, path: &str, top: bool) -> Vec<Threshold> {
        let field = path.rsplit('.').next().unwrap_or(path);
        let texts: Vec<String> = match message.get_field_by_name(field).as_deref() {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let mut parsed = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            // The string's opening quote; the expression starts one byte later
            // (positions inside are exact unless the string uses escapes).
            let at = self
                .spans
                .get(&format!("{path}[{i}]"))
                .map_or(0, |s| s.value + 1);
            match threshold::parse(text) {
                Ok(t) if !top && t.scope != Scope::Run => self.push_error(
                    at,
                    "a phase's own `fail_if` applies to that phase: it takes no `phase ...:`",
                    "drop the `phase ...:` prefix, or move the threshold to the top-level `fail_if`",
                ),
                Ok(t) => parsed.push(t),
                Err(e) => self.push_error(at + e.at, format!("fail_if: {}", e.message), e.help),
            }
        }
        parsed
    }

    fn int(&self, message: &DynamicMessage, path: &str, field: &str, fallback: usize) -> IntField {
        let key = format!("{path}.{field}");
        let span = self.spans.get(&key);
        IntField {
            value: message
                .get_field_by_name(field)
                .and_then(|v| v.as_i32())
                .unwrap_or(0),
            offset: span.map_or(fallback, |s| s.value),
            set: span.is_some(),
        }
    }

    /// `trace_context { ... }`: a sample ratio from 0 to 1, and a baggage
    /// prefix that keeps the baggage's keys tokens (RFC 9110's `tchar`).
    fn trace_context(&mut self, root: &DynamicMessage) -> TraceConfig {
        let Some(message) = root
            .get_field_by_name("trace_context")
            .and_then(|v| v.as_message().cloned())
        else {
            return TraceConfig::default();
        };
        let flag = |field: &str| {
            message
                .get_field_by_name(field)
                .and_then(|v| v.as_bool())
                .unwrap_or(false)
        };
        let mut trace = TraceConfig {
            no_traceparent: flag("no_traceparent"),
            no_baggage: flag("no_baggage"),
            ..TraceConfig::default()
        };
        if let Some(span) = self.spans.get("trace_context.sample_ratio").copied() {
            let ratio = message
                .get_field_by_name("sample_ratio")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            if (0.0..=1.0).contains(&ratio) {
                trace.sample_ratio = Some(ratio);
            } else {
                self.push_error(
                    span.value,
                    format!(
                        "trace_context: `sample_ratio` is {ratio}, but it is a share from 0 to 1"
                    ),
                    "0.01 samples one iteration in a hundred; 0 samples none, 1 every one",
                );
            }
        }
        if let Some(span) = self.spans.get("trace_context.baggage_prefix").copied() {
            let prefix = message
                .get_field_by_name("baggage_prefix")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if prefix.chars().all(is_token_char) {
                trace.baggage_prefix = Some(prefix);
            } else {
                self.push_error(
                    span.value,
                    format!("trace_context: `baggage_prefix` {prefix:?} would make baggage keys that are not tokens"),
                    "use letters, digits and any of !#$%&'*+-.^_`|~ (e.g. \"loadgen.\")",
                );
            }
        }
        trace
    }

    fn offset_of(&self, path: &str, fallback: usize) -> usize {
        self.spans.get(path).map_or(fallback, |s| s.name)
    }

    fn push_error(&mut self, offset: usize, message: impl Into<String>, help: impl Into<String>) {
        self.diagnostics
            .push(self.source.error_at(offset, message).with_help(help));
    }
}

/// The most iterations per second a rate phase may ask for (far beyond what
/// one machine's Locust starts; a typo's extra zeros are caught).
const MAX_RATE: f64 = 1_000_000.0;

/// What a phase's rate fields make of it.
enum Opened {
    /// No `requests_per_s`: users, as always.
    Closed,
    /// A rate phase with its pool of users.
    Open { rate: RateConfig, pool: u32 },
    /// Something is wrong (said already).
    Refused,
}

/// Whether `c` may be in a W3C baggage key (an HTTP token, RFC 9110 `tchar`).
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The messages of a repeated message field.
fn messages(message: &DynamicMessage, field: &str) -> Vec<DynamicMessage> {
    match message.get_field_by_name(field).as_deref() {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_message().cloned())
            .collect(),
        _ => Vec::new(),
    }
}
