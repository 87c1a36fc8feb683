//! Calls in a locustfile that loadgen can't honour: `runner.start(...)` would
//! spawn users of Locust's own beside those the config's phases set, so the
//! harness ignores it (and warns when it happens). `check`, `run` and `worker`
//! say so first, at the call's line, so a file that relies on it is not a
//! silent surprise.

use super::python::{blank_strings, code_lines};

/// The 1-based lines of `text` that call `runner.start(`.
pub fn starts(text: &str) -> Vec<usize> {
    code_lines(text)
        .iter()
        .filter(|l| {
            // A call written in a string is no call.
            let code = blank_strings(&blank_strings(&l.code, "\""), "'");
            code.match_indices("runner.start(").any(|(at, _)| {
                // `runner.start(`, `self.environment.runner.start(`, not `my_runner.start(`.
                code[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            })
        })
        .map(|l| l.number)
        .collect()
}

/// The note for `file`'s calls at `lines`, if any.
pub fn note(file: &str, lines: &[usize]) -> Option<String> {
    let (first, rest) = lines.split_first()?;
    let more = match rest.len() {
        0 => String::new(),
        n => format!(" (and {n} more)"),
    };
    Some(format!(
        "{file}:{first}: environment.runner.start() is ignored under loadgen{more}: the config's \
         phases set how many users run (change num_users and hatch_rate_per_s, or drive the run \
         with `loadgen ctl` / the dashboard)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_of_runner_start_are_found_at_their_lines_and_nothing_else() {
        let text = "\
from locust import events
# runner.start(10) in a comment
@events.test_start.add_listener
def go(environment, **kw):
    environment.runner.start(10, spawn_rate=5)
    my_runner.start(1)
    s = \"runner.start(3)\"
    runner.start(2)
";
        assert_eq!(starts(text), [5, 8]);
        assert_eq!(
            note("load.py", &starts(text)).as_deref().map(|n| n
                .split(':')
                .take(2)
                .collect::<Vec<_>>()
                .join(":")),
            Some("load.py:5".into())
        );
        assert!(note("load.py", &starts(text)).is_some_and(|n| n.contains("(and 1 more)")));
        assert_eq!(note("load.py", &[]), None);
    }
}
