//! Locust 0.x names in a locustfile or template: which ones it uses, and the
//! one-line note that says so. They run as they are: the harness adds them to
//! Locust 2 (`locust/loadgen_legacy.py`), so loads written for the original
//! wrapper need no edit. What 0.x had that cannot be translated stays a located
//! error (`REMOVED_APIS` beside the scan).

use super::python::{code_lines, find_word};

/// Each 0.x name loadgen translates, how it finds it, and what it becomes.
const TRANSLATED: &[(&str, Find, &str)] = &[
    ("HttpLocust", Find::Word, "HttpUser"),
    ("FastHttpLocust", Find::Word, "FastHttpUser"),
    ("Locust", Find::ImportOrBase, "User"),
    ("task_set", Find::Assignment, "tasks = [...]"),
    ("min_wait", Find::Assignment, "wait_time = between(...)"),
    ("max_wait", Find::Assignment, "wait_time = between(...)"),
    ("wait_function", Find::Assignment, "wait_time"),
    (
        "stop_timeout",
        Find::Assignment,
        "ignored: the phases say how long users run",
    ),
    ("TaskSequence", Find::Word, "SequentialTaskSet"),
    ("seq_task", Find::Word, "SequentialTaskSet order"),
    (".locust", Find::Attribute, "self.user"),
    ("request_success", Find::Word, "the request event"),
    ("request_failure", Find::Word, "the request event"),
    ("locust_start_hatching", Find::Word, "test_start"),
    ("hatch_complete", Find::Word, "spawning_complete"),
];

/// How a name is told from the same word used otherwise.
#[derive(Clone, Copy)]
enum Find {
    /// The word anywhere in code.
    Word,
    /// In an import or as a class's base (`Locust` is also the project's name).
    ImportOrBase,
    /// Set at the start of a line: `min_wait = 1000`.
    Assignment,
    /// An attribute: `self.locust`, `l.locust.client`.
    Attribute,
}

/// One 0.x name a file uses, at its first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub name: &'static str,
    pub becomes: &'static str,
    pub line: usize,
}

/// The 0.x names `text` uses, each once, in the order of the table.
pub fn uses(text: &str) -> Vec<Use> {
    let lines = code_lines(text);
    TRANSLATED
        .iter()
        .filter_map(|&(name, find, becomes)| {
            let line = lines.iter().find(|l| found(&l.code, name, find))?.number;
            Some(Use {
                name: name.trim_start_matches('.'),
                becomes,
                line,
            })
        })
        .collect()
}

fn found(code: &str, name: &str, find: Find) -> bool {
    match find {
        Find::Word => find_word(code, name).is_some(),
        Find::ImportOrBase => {
            let code = code.trim_start();
            find_word(code, name).is_some_and(|column| {
                code.starts_with("from ")
                    || code.starts_with("import ")
                    || (code.starts_with("class ") && code[..column].contains('('))
            })
        }
        Find::Assignment => find_word(code, name).is_some_and(|column| {
            code[..column].trim().is_empty()
                && code[column + name.len()..]
                    .trim_start()
                    .strip_prefix('=')
                    .is_some_and(|rest| !rest.starts_with('='))
        }),
        Find::Attribute => {
            let is_ident = |c: char| c.is_alphanumeric() || c == '_';
            code.match_indices(name).any(|(i, _)| {
                let before = code[..i].chars().next_back();
                let after = code[i + name.len()..].chars().next();
                before.is_some_and(is_ident) && !after.is_some_and(is_ident)
            })
        }
    }
}

/// The one line said for a file that uses 0.x names (`None` if it uses none).
pub fn note(file: &str, uses: &[Use]) -> Option<String> {
    if uses.is_empty() {
        return None;
    }
    let each: Vec<String> = uses
        .iter()
        .map(|u| format!("{} -> {} (line {})", u.name, u.becomes, u.line))
        .collect();
    Some(format!(
        "{file} uses Locust 0.x names, translated as it loads: {} (README: from the original wrapper)",
        each.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_0x_name_once_at_its_first_line() {
        let text = "\"\"\"A docstring that names HttpLocust and min_wait = 5.\"\"\"\n\
            from locust import HttpLocust, TaskSequence, seq_task, events\n\
            # min_wait = 1 in a comment\n\
            def _get(l, url):\n    l.locust.client.get(url)\n\
            class Flow(TaskSequence):\n    min_wait = 1000\n    max_wait = 2000\n\
            \x20   @seq_task(1)\n    def a(self):\n        self.locust.x = 1\n\
            class WebsiteUser(HttpLocust):\n    task_set = Flow\n    stop_timeout = 30\n\
            events.request_success += lambda **kw: None\n\
            def f(min_wait):\n    return min_wait == 3\n";
        let found = uses(text);
        let names: Vec<(&str, usize)> = found.iter().map(|u| (u.name, u.line)).collect();
        assert_eq!(
            names,
            vec![
                ("HttpLocust", 2),
                ("task_set", 13),
                ("min_wait", 7),
                ("max_wait", 8),
                ("stop_timeout", 14),
                ("TaskSequence", 2),
                ("seq_task", 2),
                ("locust", 5),
                ("request_success", 15),
            ]
        );
        let said = note("locustfile.py", &found).unwrap();
        assert!(said.starts_with("locustfile.py uses Locust 0.x names, translated as it loads: HttpLocust -> HttpUser (line 2), task_set -> tasks = [...] (line 13)"), "{said}");
    }

    #[test]
    fn a_locust_2_file_uses_none() {
        let text = "from locust import HttpUser, task, between\n\
            # Locust 2: the Locust project\n\
            class Locust2User(HttpUser):\n    wait_time = between(1, 2)\n\
            \x20   @task\n    def index(self):\n        self.client.get('/locust')\n";
        assert_eq!(uses(text), vec![]);
        assert_eq!(note("f.py", &[]), None);
        // `Locust` as the base of a class, or imported, is 0.x's.
        assert_eq!(uses("class A(Locust):\n    pass\n")[0].name, "Locust");
        assert_eq!(uses("from locust import Locust\n")[0].line, 1);
    }
}
