//! The span-keeping pass's unit tests.

use super::*;
use crate::config::schema;

fn run(text: &str) -> Located {
    let src = SourceText::new("load.pbtxt", text.to_string());
    locate(&src, &schema::config_descriptor())
}

#[test]
fn records_paths_of_nested_and_repeated_fields() {
    let l = run("phases {\n user_types { name: \"A\" }\n user_types < name: 'B' >\n duration: 5 }\nphases: { num_users: 3 }");
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    assert_eq!(l.spans["phases[0].user_types[1].name"].name, 49);
    assert!(l.spans.contains_key("phases[1].num_users"));
    assert!(l.spans.contains_key("phases[0].duration"));
}

#[test]
fn lists_of_messages_are_indexed() {
    let l = run("phases: [ { duration: 1 }, { duration: 2 } ]");
    assert!(l.spans.contains_key("phases[0].duration"));
    assert!(l.spans.contains_key("phases[1].duration"));
}

#[test]
fn collects_every_unknown_field_with_a_suggestion() {
    let l = run("phases { min_wait: 1 user_types { min_wait: 3 ratoi: 1 } }");
    let msgs: Vec<_> = l
        .diagnostics
        .iter()
        .map(|d| (d.message.clone(), d.help.clone().unwrap()))
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[1]
        .0
        .contains("unknown field `min_wait` in a user type"));
    assert!(msgs[1].1.starts_with("did you mean `min_wait_ms`?"));
    assert!(msgs[2].1.starts_with("did you mean `ratio`?"));
}

#[test]
fn wrong_types_range_and_duplicates() {
    let l = run("phases { duration: \"ten\" num_users: 99999999999 hatch_rate_per_s: 1 hatch_rate_per_s: 2 user_types { name: Normal } }");
    let msgs: Vec<_> = l.diagnostics.iter().map(|d| d.message.clone()).collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(msgs[0].contains("`duration` expects a whole number, found a string"));
    assert!(msgs[1].contains("out of range"));
    assert!(msgs[2].contains("`hatch_rate_per_s` is set more than once"));
    assert!(msgs[3].contains("`name` expects a quoted string"));
}

#[test]
fn comments_and_separators_are_skipped() {
    let l = run("# a load\nphases { # first\n duration: 5; num_users: 1, }\n");
    assert!(l.diagnostics.is_empty());
}
