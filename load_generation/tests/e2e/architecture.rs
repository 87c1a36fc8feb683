//! The stages keep their order: no module of `src/` uses a later stage than its
//! own, as docs/architecture.md lists them, so data flows one way and the
//! import graph has no cycle. Read from the code itself (`crate::` paths,
//! outside comments and test modules), against the list in the doc.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DOC: &str = include_str!("../../../docs/architecture.md");
const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The stage order from the doc: each level's modules, earliest first.
fn levels() -> Vec<Vec<String>> {
    let list = DOC
        .split("<!-- stage order -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- end of stage order -->").next())
        .expect("docs/architecture.md lists the stage order between its markers");
    list.lines()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .map(|l| {
            // "3. `plan`, `load` — what they are": the names in backticks before the dash.
            let names = l.split(" — ").next().unwrap_or(l);
            names
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`runner/health.rs` -> `runner`).
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(SRC).expect("under src");
    let first = relative.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The top-level modules a file's code uses through `crate::` (in `use`
/// lines, groups `crate::{a, b::c}` included, and inline paths).
fn uses(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // Only the group's top-level names: `crate::{a, b::{c, d}}` uses a and b.
                let mut depth = 0;
                let mut name = String::new();
                let mut expect_name = true;
                for c in group.chars() {
                    let in_name = c.is_alphanumeric() || c == '_';
                    if depth == 0 && expect_name && in_name {
                        name.push(c);
                        continue;
                    }
                    if !name.is_empty() {
                        used.insert(std::mem::take(&mut name));
                        expect_name = false;
                    }
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => expect_name = true,
                        _ => {}
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                used.insert(name);
            }
        }
    }
    used
}

/// Each module's uses of other top-level modules, test code left out.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        if file
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n == "main.rs")
        {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let code = without_test_modules(&text);
        let module = module_of(&file);
        let used: Vec<String> = uses(&code).into_iter().filter(|m| *m != module).collect();
        graph.entry(module).or_default().extend(used);
    }
    graph
}

/// The code with each `#[cfg(test)]` item left out: the attribute, and the
/// item it marks up to its end (a `mod x;` line, or the braces it opens, counted).
/// Only that item's span: code after a test module is read like any other.
fn without_test_modules(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        let (semicolon, brace) = (item.find(';'), item.find('{'));
        let end = match (semicolon, brace) {
            // `mod tests;` (its file is skipped as `tests.rs`) or another item.
            (Some(s), b) if b.is_none_or(|b| s < b) => s + 1,
            (_, Some(b)) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (i, c) in item[b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn a_backward_import_below_a_test_module_is_seen() {
    let planted = "use crate::fmt;\n#[cfg(test)]\nmod tests {\n    use crate::app;\n    fn f() { if x { y } }\n}\nuse crate::report::Summary;\n";
    let code = without_test_modules(planted);
    let got: Vec<String> = uses(&code).into_iter().collect();
    assert_eq!(got, ["fmt", "report"], "{code}");
    let declared =
        without_test_modules("use crate::plan;\n#[cfg(test)]\nmod tests;\nuse crate::stats;\n");
    let got: Vec<String> = uses(&declared).into_iter().collect();
    assert_eq!(got, ["plan", "stats"], "{declared}");
}

#[test]
fn no_stage_uses_a_later_one() {
    let levels = levels();
    let level: BTreeMap<&str, usize> = levels
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.as_str(), i)))
        .collect();
    let graph = graph();
    let mut wrong = Vec::new();
    for (module, used) in &graph {
        let Some(&mine) = level.get(module.as_str()) else {
            wrong.push(format!(
                "{module} is not in docs/architecture.md's stage order"
            ));
            continue;
        };
        for other in used {
            match level.get(other.as_str()) {
                None => wrong.push(format!(
                    "{module} uses {other}, which is not in docs/architecture.md's stage order"
                )),
                Some(&theirs) if theirs > mine => wrong.push(format!(
                    "{module} (stage {}) uses {other}, a later stage ({}): move what it needs to an earlier stage, or let {other} call it",
                    mine + 1,
                    theirs + 1
                )),
                Some(&theirs) if theirs == mine && graph.get(other).is_some_and(|u| u.contains(module)) => {
                    wrong.push(format!("{module} and {other} use each other (a cycle)"))
                }
                Some(_) => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the stage order is broken:\n{}",
        wrong.join("\n")
    );
    // The check sees real code: the run loop uses the statistics it records.
    assert!(graph["runner"].contains("stats"), "{graph:?}");
    assert!(levels.len() >= 10, "{levels:?}");
}

#[test]
fn uses_are_read_from_groups_and_paths() {
    let code = "use crate::{config, runner::{self, Run}};\nlet x = crate::fmt::dec(1.0, 1); // crate::report\n";
    let got: Vec<String> = uses(code).into_iter().collect();
    assert_eq!(got, ["config", "fmt", "runner"]);
}
