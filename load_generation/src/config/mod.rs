//! Read a load config (`load.pbtxt`) and validate it.
//!
//! The text is parsed against `load_config.proto` (prost-reflect's text format),
//! positions come from a span-keeping pass ([`locate`]), and every semantic rule is
//! checked in [`validate`]. The result is either a [`LoadConfig`] whose values are
//! known to make sense, or every problem of the file at once.

pub mod locate;
pub mod name;
pub mod schema;
pub mod threshold;
mod validate;

use std::path::Path;
use std::time::Duration;

use prost_reflect::DynamicMessage;

use crate::diagnostic::{Diagnostic, Diagnostics, SourceText};
pub use name::UserTypeName;
use threshold::Threshold;

/// A validated load config: phases in file order.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub source: SourceText,
    pub phases: Vec<PhaseConfig>,
    /// Whole-run thresholds (`fail_if` at the top level).
    pub fail_if: Vec<Threshold>,
    /// `trace_context { ... }`.
    pub trace: TraceConfig,
}

/// The config's `trace_context`: what it sets, `None` where it is silent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceConfig {
    pub no_traceparent: bool,
    pub no_baggage: bool,
    pub sample_ratio: Option<f64>,
    pub baggage_prefix: Option<String>,
}

/// One validated `phases { ... }` block.
#[derive(Debug, Clone)]
pub struct PhaseConfig {
    /// The line of the `phases` keyword, to point back at it.
    pub line: usize,
    pub duration: Duration,
    pub num_users: u32,
    pub hatch_rate_per_s: u32,
    pub user_types: Vec<UserTypeConfig>,
    /// The phase's name, if it has one.
    pub name: Option<String>,
    /// Thresholds judged over each occurrence of this phase.
    pub fail_if: Vec<Threshold>,
    /// An open-model phase's rate (`requests_per_s`); `None` for a phase of
    /// `num_users` (then `num_users` is its users, here the rate's pool).
    pub rate: Option<RateConfig>,
}

/// A rate phase's `requests_per_s` and the fields that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    /// Task iterations started per second, all types together.
    pub per_s: f64,
    pub arrival: Arrival,
    /// How long the rate takes to move from the one before to this one.
    pub ramp: Duration,
}

/// How a rate phase spreads its iterations' start times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly, 1/rate apart.
    #[default]
    Uniform,
    /// Exponential gaps of mean 1/rate.
    Poisson,
}

/// One validated `user_types { ... }` block.
#[derive(Debug, Clone)]
pub struct UserTypeConfig {
    pub name: UserTypeName,
    /// The line of the `name` field: where the config asks for this type.
    pub line: usize,
    pub ratio: u32,
    pub min_wait: Duration,
    pub max_wait: Duration,
    /// Whether `min_wait_ms` or `max_wait_ms` is in the config: a plain
    /// locustfile's class keeps its own `wait_time` when neither is.
    pub waits_given: bool,
}

/// A config that passed validation, and the warnings it still deserves.
#[derive(Debug)]
pub struct Loaded {
    pub config: LoadConfig,
    pub warnings: Vec<Diagnostic>,
}

/// Reads and validates the load config at `path`.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    parse(SourceText::read(path, "load config")?)
}

/// How deep `{ }`, `< >` and `[ ]` may nest. A load config needs 2 (4 with the
/// list syntax); prost-reflect's parser recurses once per level of
/// `[type/pl.demos.load_generation.LocustConfigFile] { ... }` and overflows the
/// stack (an abort, not an error) at about a thousand levels, so deeper text is
/// refused before it is parsed.
const MAX_NESTING: usize = 64;

/// Validates a load config already in memory.
pub fn parse(source: SourceText) -> Result<Loaded, Diagnostics> {
    if let Some(offset) = too_deep(&source.text) {
        return Err(Diagnostics(vec![source
            .error_at(
                offset,
                format!("the braces nest more than {MAX_NESTING} levels deep here"),
            )
            .with_help(
                "a load config nests 2 levels (`phases { user_types { ... } }`); check for unclosed braces",
            )]));
    }
    let descriptor = schema::config_descriptor();
    let mut located = locate::locate(&source, &descriptor);
    let only_unknown_fields =
        located.lost_at.is_none() && located.diagnostics.len() == located.unknown_fields.len();
    if !located.diagnostics.is_empty() && only_unknown_fields {
        return Err(Diagnostics(check_around_unknown_fields(
            &source, descriptor, located,
        )));
    }
    if !located.diagnostics.is_empty() {
        // The pass's own findings, plus where a syntax error stopped it, if one did.
        if let Some(offset) = located.lost_at {
            located.diagnostics.push(
                source
                    .error_at(
                        offset,
                        "syntax error: the config cannot be read past this point",
                    )
                    .with_help("check the braces and the `field: value` pairs around here"),
            );
        }
        return Err(Diagnostics(located.diagnostics));
    }
    let message = DynamicMessage::parse_text_format(descriptor, &source.text)
        .map_err(|e| Diagnostics(vec![syntax_error(&source, &e)]))?;
    validate::validate(source, &message, &located.spans)
}

/// Unknown fields alone (a misspelt name, say) do not stop the other checks:
/// with them blanked out (offsets kept), the rest is validated too. Returns the
/// unknown fields' errors and the others, in the order of the file.
fn check_around_unknown_fields(
    source: &SourceText,
    descriptor: prost_reflect::MessageDescriptor,
    located: locate::Located,
) -> Vec<Diagnostic> {
    let mut errors = located.diagnostics;
    let unknown = &located.unknown_fields;
    let ranges: Vec<_> = unknown.iter().map(|u| u.range.clone()).collect();
    match DynamicMessage::parse_text_format(descriptor, &blank_out(&source.text, &ranges)) {
        Err(e) => errors.push(syntax_error(source, &e)),
        Ok(message) => {
            // "phase 1 has no `duration`" only repeats `duraton`'s error. Only
            // where the message's position is its own: the list syntax
            // (`phases: [ {..}, {..} ]`) gives all elements one position.
            let own_position =
                |offset: usize| located.spans.values().filter(|s| s.name == offset).count() == 1;
            let repeats_a_typo = |d: &Diagnostic| {
                unknown.iter().any(|u| {
                    u.meant.as_ref().is_some_and(|meant| {
                        d.message.ends_with(&format!("has no `{meant}`"))
                            && own_position(u.parent)
                            && d.position == Some(source.position(u.parent))
                    })
                })
            };
            let more = match validate::validate(source.clone(), &message, &located.spans) {
                Ok(loaded) => loaded.warnings,
                Err(Diagnostics(more)) => more,
            };
            errors.extend(more.into_iter().filter(|d| !repeats_a_typo(d)));
        }
    }
    errors.sort_by_key(|d| d.position.map(|p| (p.line, p.column)));
    errors
}

/// `text` with the bytes of `ranges` turned into spaces (line breaks kept), so
/// every other byte keeps its offset.
fn blank_out(text: &str, ranges: &[std::ops::Range<usize>]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for range in ranges {
        for b in &mut bytes[range.clone()] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Whole tokens were blanked, so no character was cut in two.
    String::from_utf8(bytes).unwrap_or_default()
}

/// The offset of the first opening brace deeper than [`MAX_NESTING`], if any.
/// Strings and comments are skipped as the text format has them (a string ends at
/// its closing quote or the end of its line).
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'<' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b'}' | b'>' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Turns prost-reflect's parse error into a located diagnostic.
fn syntax_error(source: &SourceText, error: &prost_reflect::text_format::ParseError) -> Diagnostic {
    use miette::Diagnostic as _;
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .map_or(source.text.len(), |label| label.offset());
    source.error_at(offset, error.to_string()).with_help(
        "a load config is protobuf text format, e.g. `phases { duration: 60 num_users: 10 hatch_rate_per_s: 5 user_types { name: \"Normal\" ratio: 1 min_wait_ms: 1000 max_wait_ms: 2000 } }`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Position;

    const ORIGINAL: &str =
        include_str!("../../../applications/hipster_shop/load_generation/load.pbtxt");

    fn errors_of(text: &str) -> Vec<(usize, usize, String)> {
        let err = parse(SourceText::new("load.pbtxt", text.to_string()))
            .expect_err("config should be rejected");
        err.0
            .iter()
            .map(|d| {
                let Position { line, column } = d.position.unwrap_or_default();
                (line, column, d.message.clone())
            })
            .collect()
    }

    /// Asserts the config yields exactly these errors, each at its line and column
    /// and with its message containing the given words.
    fn assert_errors(text: &str, expected: &[(usize, usize, &str)]) {
        let got = errors_of(text);
        assert_eq!(got.len(), expected.len(), "got {got:#?}");
        for ((line, col, msg), (el, ec, emsg)) in got.iter().zip(expected) {
            assert_eq!((line, col), (el, ec), "position of {msg:?}");
            assert!(msg.contains(emsg), "{msg:?} should contain {emsg:?}");
        }
    }

    #[test]
    fn a_rate_phase_reads_with_its_pool_and_arrival() {
        let text = "phases { duration: 10 requests_per_s: 250.5 arrival: POISSON rate_ramp_s: 4\n  user_types { name: \"A\" ratio: 1 } user_types { name: \"B\" ratio: 3 } }\n\
                    phases { duration: 5 num_users: 2 hatch_rate_per_s: 2 user_types { name: \"A\" ratio: 1 } }";
        let loaded = parse(SourceText::new("load.pbtxt", text.to_string())).expect("valid");
        let rate = loaded.config.phases[0].rate.clone().expect("a rate phase");
        assert_eq!(rate.per_s, 250.5);
        assert_eq!(rate.arrival, Arrival::Poisson);
        assert_eq!(rate.ramp, Duration::from_secs(4));
        // No max_users: one second of iterations; no hatch rate: the pool per second.
        assert_eq!(loaded.config.phases[0].num_users, 251);
        assert_eq!(loaded.config.phases[0].hatch_rate_per_s, 251);
        assert_eq!(loaded.config.phases[1].rate, None);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn rate_fields_are_checked_where_they_are() {
        assert_errors(
            "phases { duration: 10 num_users: 5 hatch_rate_per_s: 1 requests_per_s: 10\n  user_types { name: \"A\" ratio: 1 } }",
            &[(1, 34, "both `num_users` and `requests_per_s`")],
        );
        assert_errors(
            "phases { duration: 10 requests_per_s: 0 user_types { name: \"A\" ratio: 1 } }",
            &[(1, 39, "`requests_per_s` is 0")],
        );
        assert_errors(
            "phases { duration: 10 num_users: 5 hatch_rate_per_s: 1 max_users: 3 arrival: POISSON\n  user_types { name: \"A\" ratio: 1 } }",
            &[
                (1, 78, "`arrival` belongs to a rate phase"),
                (1, 67, "`max_users` belongs to a rate phase"),
            ],
        );
        assert_errors(
            "phases { duration: 10 requests_per_s: 5 rate_ramp_s: 11 max_users: 1\n  user_types { name: \"A\" ratio: 1 } user_types { name: \"B\" ratio: 1 } }",
            &[
                (1, 54, "`rate_ramp_s` is 11"),
                (1, 68, "each of its 2 user types needs a user"),
            ],
        );
        assert_errors(
            "phases { duration: 10 requests_per_s: 5 arrival: RANDOM user_types { name: \"A\" ratio: 1 } }",
            &[(1, 50, "`arrival` is one of UNIFORM, POISSON, found `RANDOM`")],
        );
        assert_errors(
            "phases { duration: 10 requests_per_s: \"5\" user_types { name: \"A\" ratio: 1 } }",
            &[(1, 39, "`requests_per_s` expects a number")],
        );
    }

    #[test]
    fn a_rate_phases_waits_are_said_unused() {
        let text = "phases { duration: 10 requests_per_s: 5\n  user_types { name: \"A\" ratio: 1 min_wait_ms: 100 max_wait_ms: 200 } }";
        let loaded = parse(SourceText::new("load.pbtxt", text.to_string())).expect("valid");
        assert_eq!(loaded.warnings.len(), 1);
        let w = &loaded.warnings[0];
        assert!(
            w.message.contains("waits of \"A\" are not used"),
            "{}",
            w.message
        );
        assert_eq!(w.position.map(|p| p.line), Some(2));
    }

    #[test]
    fn a_typo_hides_no_error_of_another_list_element() {
        let got = errors_of(
            "phases: [\n  { duraton: 5 num_users: 1 hatch_rate_per_s: 1 user_types { name: \"A\" ratio: 1 } },\n  { num_users: 1 hatch_rate_per_s: 1 user_types { name: \"A\" ratio: 1 } } ]",
        );
        assert!(
            got.iter().any(|e| e.2.contains("unknown field `duraton`")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|e| e.2.contains("phase 2 has no `duration`")),
            "{got:?}"
        );
        // And a syntax error the blanked text still has is reported with the typo.
        let got = errors_of(
            "phases { duraton: 5 num_users: 1 hatch_rate_per_s: 1 user_types { name: \"A\\q\" ratio: 1 } }",
        );
        assert!(
            got.iter().any(|e| e.2.contains("unknown field `duraton`")),
            "{got:?}"
        );
        assert!(got.len() >= 2, "{got:?}");
    }

    #[test]
    fn unknown_fields_do_not_hide_the_other_errors() {
        // A misspelt field (with a separator after it) and the semantic errors
        // around it come together, in the order of the file.
        assert_errors(
            "phases {\n  duration: 0\n  num_users: 2, min_wait: 5;\n  hatch_rate_per_s: 1\n  user_types { name: \"A\" ratio: 1 max_wait: \"é\" min_wait_ms: 5 max_wait_ms: 1 }\n}\n",
            &[
                (2, 13, "`duration` is 0"),
                (3, 17, "unknown field `min_wait`"),
                (5, 35, "unknown field `max_wait`"),
                (5, 62, "`min_wait_ms` (5) of \"A\" is larger than `max_wait_ms` (1)"),
            ],
        );
        // With nothing else wrong, the unknown field is the only error.
        assert_errors(
            "phases { duration: 1 num_users: 1 hatch_rate_per_s: 1 user_types { name: \"A\" ratio: 1 min_wait: 1 } }",
            &[(1, 87, "unknown field `min_wait`")],
        );
    }

    const UT: &str = "user_types { name: \"Normal\" ratio: 1 min_wait_ms: 10 max_wait_ms: 20 }";

    #[test]
    fn the_original_hipster_shop_config_parses_unchanged() {
        let loaded = parse(SourceText::new("load.pbtxt", ORIGINAL.to_string())).unwrap();
        assert!(loaded.warnings.is_empty());
        let phases = &loaded.config.phases;
        assert_eq!(phases.len(), 3);
        assert_eq!(phases[1].duration, Duration::from_secs(20));
        assert_eq!(phases[1].num_users, 200);
        assert_eq!(phases[1].hatch_rate_per_s, 50);
        let names: Vec<_> = phases[2]
            .user_types
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["Normal", "Holiday"]);
        assert_eq!(phases[2].user_types[1].ratio, 3);
        assert_eq!(phases[2].user_types[1].min_wait, Duration::from_secs(1));
        assert_eq!(phases[0].line, 1);
    }

    #[test]
    fn every_text_format_variant_is_accepted() {
        let text = "# comment\nphases: < duration: 5; num_users: 0, hatch_rate_per_s: 1\n  user_types: [{name: 'A' ratio: 2}, {ratio: 1 name: \"B\"}] >\n";
        let loaded = parse(SourceText::new("x", text.to_string())).unwrap();
        assert_eq!(loaded.config.phases[0].user_types.len(), 2);
        assert_eq!(loaded.config.phases[0].num_users, 0);
    }

    #[test]
    fn empty_config_has_no_phases() {
        assert_errors("", &[(1, 1, "has no phases")]);
        assert_errors("# only a comment\n", &[(1, 1, "has no phases")]);
    }

    #[test]
    fn syntax_errors_are_located() {
        let got = errors_of("phases {\n  duration: 5\n");
        assert_eq!(got.len(), 1);
        assert!(got[0].2.contains("expected"), "{got:?}");
        let got = errors_of("phases {\n  duration 5 }");
        assert_eq!(got[0].0, 2, "{got:?}");
        let got = errors_of("phases { duration: 5 } }");
        assert_eq!((got[0].0, got[0].1), (1, 24), "{got:?}");
    }

    #[test]
    fn unknown_fields_and_a_later_syntax_error_are_reported_together() {
        let got = errors_of("phases { duraton: 5 }\nphases { duration: 5 ");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].2.contains("unknown field `duraton`"));
        assert_eq!(got[1].0, 2, "{got:?}");
    }

    #[test]
    fn unknown_fields_suggest_the_nearest_name() {
        let text = "phases {\n  duraton: 5\n  user_types { name: \"A\" ratio: 1 min_wait: 1 }\n}"
            .to_string();
        let got = errors_of(&text);
        // The phase really lacks a hatch rate; that it lacks a duration is the
        // typo's doing and not repeated.
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].2.contains("phase 1 has no `hatch_rate_per_s`"));
        assert_eq!((got[1].0, got[1].1), (2, 3));
        assert_eq!((got[2].0, got[2].1), (3, 35));
        let err = parse(SourceText::new("x", text)).unwrap_err();
        assert!(err.0[1].help.as_deref().unwrap().contains("`duration`"));
        assert!(err.0[2].help.as_deref().unwrap().contains("`min_wait_ms`"));
    }

    #[test]
    fn semantic_errors_point_at_their_field() {
        assert_errors(
            &format!(
                "phases {{\n  duration: 0\n  num_users: -1\n  hatch_rate_per_s: 0\n  {UT}\n}}"
            ),
            &[
                (2, 13, "at least 1 second"),
                (3, 14, "negative"),
                (4, 21, "1 per second or more"),
            ],
        );
        assert_errors(
            "phases {\n  duration: 5 num_users: 1 hatch_rate_per_s: 1\n}",
            &[(1, 1, "no user types")],
        );
        assert_errors(
            "phases { user_types { name: \"A\" } }",
            &[
                (1, 1, "no `duration`"),
                (1, 1, "no `hatch_rate_per_s`"),
                (1, 10, "has no `ratio`"),
            ],
        );
    }

    #[test]
    fn user_type_rules() {
        let phase = |types: &str| {
            format!("phases {{ duration: 5 num_users: 10 hatch_rate_per_s: 1\n{types}\n}}")
        };
        assert_errors(
            &phase("user_types { name: \"A\" ratio: 0 min_wait_ms: -5 max_wait_ms: 1 }"),
            &[(2, 31, "must be 1 or more"), (2, 46, "negative")],
        );
        assert_errors(
            &phase("user_types { name: \"A\" ratio: 1 min_wait_ms: 50 max_wait_ms: 10 }"),
            &[(2, 46, "larger than `max_wait_ms`")],
        );
        assert_errors(
            &phase("user_types { name: \"A\" ratio: 1 }\nuser_types { name: \"A\" ratio: 2 }"),
            &[(3, 20, "listed twice")],
        );
        assert_errors(
            &phase("user_types { name: \"Bad Name\" ratio: 1 }\nuser_types { name: \"x)\\nimport os\" ratio: 1 }\nuser_types { ratio: 1 }"),
            &[(2, 20, "contains ' '"), (3, 20, "contains ')'"), (4, 1, "has no `name`")],
        );
    }

    #[test]
    fn too_few_users_for_the_types_is_a_warning() {
        let text = "phases { duration: 5 num_users: 1 hatch_rate_per_s: 1\n user_types { name: \"A\" ratio: 1 }\n user_types { name: \"B\" ratio: 1 } }";
        let loaded = parse(SourceText::new("x", text.to_string())).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0]
            .message
            .contains("some types get no user"));
        assert_eq!(
            loaded.warnings[0].position,
            Some(Position {
                line: 1,
                column: 33
            })
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        // prost-reflect recursed once per level of this and overflowed the stack
        // (an abort) at about 1000 levels; found by the fuzz/hostile-input tests.
        let any = "[t/pl.demos.load_generation.LocustConfigFile] { ";
        assert_errors(
            &any.repeat(100_000),
            &[(1, 3073, "more than 64 levels deep")],
        );
        let unknown = format!("phases {{\n{}", "foo { ".repeat(100_000));
        assert_errors(&unknown, &[(2, 383, "more than 64 levels deep")]);
        // Braces in strings and comments do not count; 64 levels are still parsed.
        let quoted = format!(
            "# {}\nphases {{ user_types {{ name: \"{}\" }} }}",
            "{".repeat(99),
            "<".repeat(99)
        );
        assert!(errors_of(&quoted)
            .iter()
            .all(|e| !e.2.contains("levels deep")));
        let at_limit = format!("{}{}", any.repeat(64), "}".repeat(64));
        assert!(errors_of(&at_limit)
            .iter()
            .all(|e| !e.2.contains("levels deep")));
    }

    #[test]
    fn missing_file_names_path_and_reason() {
        let err = load(Path::new("/nonexistent/load.pbtxt")).unwrap_err();
        let shown = err.to_string();
        assert!(
            shown.contains("/nonexistent/load.pbtxt: error: cannot read the load config"),
            "{shown}"
        );
        assert!(shown.contains("No such file"), "{shown}");
    }
}
