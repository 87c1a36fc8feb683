//! What the fuzz targets exercise: loadgen's input-reading modules, compiled from
//! `../src` unchanged, and the properties they must keep on any input.
//!
//! loadgen is a binary crate, so there is no library to link; instead the modules
//! that read user files are included here with `#[path]`, in the same tree as in
//! `src/main.rs` (`crate::config`, `crate::diagnostic`, ...) so their `crate::`
//! paths resolve as they do in the binary. They use no other module of loadgen.
//!
//! The properties:
//! - nothing panics, whatever the config or template text;
//! - a rejected config has at least one error, and every diagnostic displays;
//! - an accepted config has only valid user type names (ASCII identifiers, not
//!   Python keywords), checked here independently of `config::name`;
//! - a rendered locustfile is the template with its marker line replaced by a
//!   generated block in which every line has one of the known shapes, so no text
//!   from the config other than a checked name reaches the generated code.

// The binary uses all of these; this crate calls only the entry points.
#![allow(dead_code)]

#[path = "../../src/config/mod.rs"]
mod config;
#[path = "../../src/diagnostic.rs"]
mod diagnostic;
#[path = "../../src/fmt.rs"]
mod fmt;
#[path = "../../src/locustfile.rs"]
mod locustfile;
#[path = "../../src/plan.rs"]
mod plan;

use std::sync::OnceLock;
use std::time::Duration;

use config::LoadConfig;
use diagnostic::{Diagnostics, SourceText};
use locustfile::{Locustfile, Origin, Template, UserClass, USERS_MARKER};
use plan::Plan;

const HIPSTER_CONFIG: &str =
    include_str!("../../../applications/hipster_shop/load_generation/load.pbtxt");
const HIPSTER_TEMPLATE: &str =
    include_str!("../../../applications/hipster_shop/load_generation/locustfile.loadgen.tmpl");

/// The name the fuzzed config is given: it appears in the generated header.
const CONFIG_NAME: &str = "fuzz.pbtxt";

/// Target `config_and_template`: the bytes as a load config and as a template.
pub fn config_and_template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The bytes as a template, for a known-good config (whose user types the
    // template may or may not define).
    let hipster = hipster();
    if let Some(template) = check_template(text, &hipster.0) {
        let rendered = locustfile::render_for_run(&template, &hipster.1, UserClass::Http, "h");
        assert_rendered(&rendered, &template, &hipster.1);
    }
    // The bytes as a config.
    if let Some((config, plan)) = parse_config(text) {
        // A template that defines every behaviour must pass and render.
        let template = Template::check(
            SourceText::new("fixed.tmpl", fixed_template(&plan)),
            &config,
        )
        .unwrap_or_else(|e| panic!("the fixed template was rejected:\n{e}"));
        render_all(&template, &plan, CONFIG_NAME);
        // And the bytes as the template of their own config.
        if let Some(template) = check_template(text, &config) {
            render_all(&template, &plan, CONFIG_NAME);
        }
    }
}

/// Target `user_type_name`: the bytes as the (text-format, so escaped) string of a
/// user type name, in an otherwise valid config; the name must be rejected unless
/// it is an identifier, and only a checked name may reach the generated code. The
/// bytes are also the config's file name, which the generated header shows.
pub fn user_type_name(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let (config, plan) = hipster();
    let template = SourceText::new("fixed.tmpl", fixed_template(plan));
    let template = Template::check(template, config).expect("the fixed template passes");
    render_all(&template, plan, raw);
    // Straight through the name check.
    if let Ok(name) = config::UserTypeName::new(raw) {
        assert!(is_identifier(name.as_str()), "{raw:?} accepted as a name");
        assert_eq!(name.as_str(), raw);
    }
    // Through the text format: escapes (`\n`, `\101`, `\u00e9`...) are decoded by
    // prost-reflect, and a quote may even end the string early.
    let text = format!(
        "phases {{ duration: 1 num_users: 2 hatch_rate_per_s: 1\n  user_types {{ name: \"{raw}\" ratio: 1 }}\n  user_types {{ name: \"Normal\" ratio: 2 min_wait_ms: 5 max_wait_ms: 7 }} }}\n"
    );
    if let Some((config, plan)) = parse_config(&text) {
        let template = Template::check(
            SourceText::new("fixed.tmpl", fixed_template(&plan)),
            &config,
        )
        .unwrap_or_else(|e| panic!("the fixed template was rejected:\n{e}"));
        render_all(&template, &plan, CONFIG_NAME);
    }
}

fn hipster() -> &'static (LoadConfig, Plan) {
    static HIPSTER: OnceLock<(LoadConfig, Plan)> = OnceLock::new();
    HIPSTER.get_or_init(|| {
        let config = config::parse(SourceText::new("load.pbtxt", HIPSTER_CONFIG.to_string()))
            .expect("the hipster shop config is valid")
            .config;
        let template = SourceText::new("t.tmpl", HIPSTER_TEMPLATE.to_string());
        Template::check(template, &config).expect("the hipster shop template is valid");
        let plan = Plan::new(&config);
        (config, plan)
    })
}

/// Parses and validates a config; checks what holds of an accepted one.
fn parse_config(text: &str) -> Option<(LoadConfig, Plan)> {
    match config::parse(SourceText::new(CONFIG_NAME, text.to_string())) {
        Err(diagnostics) => {
            assert_displayable(&diagnostics);
            None
        }
        Ok(loaded) => {
            for warning in &loaded.warnings {
                assert!(
                    !warning.is_error(),
                    "an error passed as a warning: {warning}"
                );
                let _ = warning.to_string();
            }
            let config = loaded.config;
            assert!(!config.phases.is_empty(), "a config without phases passed");
            for phase in &config.phases {
                assert!(!phase.user_types.is_empty());
                assert!(phase.duration >= Duration::from_secs(1));
                assert!(phase.hatch_rate_per_s >= 1);
                assert!(phase.line >= 1);
                for t in &phase.user_types {
                    assert!(is_identifier(t.name.as_str()), "name {:?} passed", t.name);
                    assert!(t.ratio >= 1);
                    assert!(t.min_wait <= t.max_wait);
                }
            }
            let plan = Plan::new(&config);
            for (i, phase) in config.phases.iter().enumerate() {
                assert_eq!(plan.total_users(i), u64::from(phase.num_users));
                let _ = plan.targets(i);
                let _ = plan.waits(i);
            }
            // Any moment of a run (at most a century, as --run_time allows).
            let century = 100 * 365 * 24 * 3600u64;
            let at = Duration::from_secs(text.len() as u64 * 7919 % century);
            let slot = plan.slot_at(at);
            assert!(slot.start <= at || slot.phase_index + 1 == plan.phases.len());
            Some((config, plan))
        }
    }
}

fn check_template(text: &str, config: &LoadConfig) -> Option<Template> {
    match Template::check(SourceText::new("fuzz.tmpl", text.to_string()), config) {
        Ok(template) => Some(template),
        Err(diagnostics) => {
            assert_displayable(&diagnostics);
            None
        }
    }
}

fn assert_displayable(diagnostics: &Diagnostics) {
    assert!(
        diagnostics.errors().count() > 0,
        "rejected without an error: {diagnostics:?}"
    );
    let _ = diagnostics.to_string();
}

fn render_all(template: &Template, plan: &Plan, config_name: &str) {
    let rendered = locustfile::render_for_run(template, plan, UserClass::Http, config_name);
    assert_rendered(&rendered, template, plan);
    for i in 0..plan.phases.len() {
        let rendered =
            locustfile::render_for_phase(template, plan, i, UserClass::Fast, config_name);
        assert_rendered(&rendered, template, plan);
    }
}

/// A template that defines the behaviour of every user type of `plan`.
fn fixed_template(plan: &Plan) -> String {
    let mut text = String::from("from locust import TaskSet, task\n\n");
    for name in &plan.user_types {
        text.push_str(&format!(
            "class {}(TaskSet):\n    @task\n    def index(self):\n        self.client.get(\"/\")\n\n",
            name.behavior_class()
        ));
    }
    text.push_str(USERS_MARKER);
    text.push('\n');
    text
}

/// Lines as Python reads a source file: `\r\n`, `\r` and `\n` all end a line.
fn python_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find(['\r', '\n']) {
            Some(i) => {
                lines.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                lines.push(rest);
                rest = "";
            }
        }
    }
    lines
}

/// The template around the marker is kept byte for byte, and every generated line
/// has a known shape whose only variable parts are checked names and numbers.
fn assert_rendered(rendered: &Locustfile, template: &Template, plan: &Plan) {
    let source = &template.source.text;
    let marker_start = source
        .split_inclusive('\n')
        .position(|l| l.trim() == USERS_MARKER)
        .expect("a checked template has its marker");
    let before: usize = source
        .split_inclusive('\n')
        .take(marker_start)
        .map(str::len)
        .sum();
    let marker_len = source[before..]
        .split_inclusive('\n')
        .next()
        .map_or(0, str::len);
    let after = &source[before + marker_len..];
    let text = &rendered.text;
    assert!(text.starts_with(&source[..before]), "template head changed");
    assert!(text.ends_with(after), "template tail changed");
    let block = &text[before..text.len() - after.len()];

    let mut classes = Vec::new();
    for line in python_lines(block) {
        if let Some(rest) = line.strip_prefix("class ") {
            let (class, base) = rest
                .strip_suffix("):")
                .and_then(|r| r.split_once('('))
                .unwrap_or_else(|| panic!("unexpected class line {line:?}"));
            assert!(matches!(base, "HttpUser" | "FastHttpUser"), "{line:?}");
            let name = class.strip_suffix("User").expect("class <name>User");
            assert!(is_identifier(name), "generated class for {name:?}");
            classes.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("    tasks = [") {
            let behavior = rest.strip_suffix("UserBehavior]").expect("tasks line");
            assert!(is_identifier(behavior), "generated tasks for {behavior:?}");
            assert_eq!(classes.last().map(String::as_str), Some(behavior));
        } else if let Some(n) = line.strip_prefix("    weight = ") {
            assert!(
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
                "{line:?}"
            );
        } else if let Some(args) = line.strip_prefix("    wait_time = between(") {
            let args = args.strip_suffix(')').expect("wait_time line");
            for number in args.split(", ") {
                number.parse::<f64>().expect("a float literal");
            }
        } else {
            assert!(
                line.is_empty()
                    || line.starts_with("# ")
                    || line.starts_with("from locust import HttpUser, between  # noqa")
                    || line.starts_with("from locust import FastHttpUser, between  # noqa"),
                "unexpected generated line {line:?}"
            );
        }
    }
    for class in &classes {
        assert!(
            plan.user_types.iter().any(|t| t.as_str() == class),
            "class for {class:?}, which is not a user type of the plan"
        );
    }
    // Lines before the marker map to themselves.
    for line in 1..=marker_start {
        assert_eq!(rendered.origin(line), Origin::Template(line));
    }
}

/// A name the generated code may contain: an ASCII identifier that is no Python
/// keyword. Written apart from `config::name` on purpose.
fn is_identifier(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && !KEYWORDS.contains(&name)
}

/// A `--fail-if` expression: parsing never panics; an error's range lies on
/// character boundaries inside the text (the caret is drawn from it); an
/// accepted threshold keeps the text and a finite limit.
pub fn threshold(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::threshold::parse(text) {
        Ok(t) => {
            assert_eq!(t.text, text.trim());
            let limit = match t.limit {
                config::threshold::Limit::Millis(x)
                | config::threshold::Limit::Number(x)
                | config::threshold::Limit::Percent(x) => x,
            };
            assert!(!limit.is_nan(), "{text:?}");
        }
        Err(e) => {
            assert!(e.at <= text.len(), "{text:?}: {e:?}");
            assert!(text.is_char_boundary(e.at), "{text:?}: {e:?}");
            assert!(e.len >= 1 && !e.message.is_empty(), "{text:?}: {e:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every seed of the checked-in corpus runs through every target (a quick
    /// stand-in for the fuzzer where no nightly compiler is available).
    #[test]
    fn seeds_keep_the_properties() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
        let mut count = 0;
        for dir in ["config_and_template", "user_type_name", "threshold"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                config_and_template(&data);
                user_type_name(&data);
                threshold(&data);
                count += 1;
            }
        }
        assert!(count > 5, "only {count} seeds");
    }

    #[test]
    fn the_hipster_config_is_parsed_and_rendered() {
        config_and_template(HIPSTER_CONFIG.as_bytes());
        config_and_template(HIPSTER_TEMPLATE.as_bytes());
    }

    #[test]
    fn inputs_too_long_for_the_fuzzer_keep_the_properties() {
        // ~1000 levels of this overflowed prost-reflect's recursive parser (an
        // abort); at 48 bytes a level that is beyond the fuzzer's -max_len.
        let any = "[t/pl.demos.load_generation.LocustConfigFile] { ".repeat(100_000);
        config_and_template(any.as_bytes());
        let unknown = format!("phases {{ {}", "foo { ".repeat(100_000));
        config_and_template(unknown.as_bytes());
        // Thousands of errors on one long line.
        let phase = "phases { duration: 0 num_users: 1 hatch_rate_per_s: 1 user_types { name: \"A\" ratio: 1 } } ";
        config_and_template(phase.repeat(2000).as_bytes());
    }

    #[test]
    fn python_line_ends_are_all_seen() {
        assert_eq!(python_lines("a\r\nb\rc\nd"), ["a", "b", "c", "d"]);
    }

    #[test]
    fn is_identifier_is_strict() {
        assert!(is_identifier("Normal_2"));
        for bad in ["", "2a", "a-b", "é", "class", "A(HttpUser):\n"] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
    }
}
