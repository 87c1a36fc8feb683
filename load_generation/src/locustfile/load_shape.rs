//! A `LoadTestShape` class in a locustfile. Under `locust` it decides how many
//! users run; under loadgen the config's phases do, so the class is ignored.
//! `check`, `render`, `run` and `worker` say so in one note at the class's
//! line, and when the class has a literal `stages` list (Locust's
//! `StagesShape` example) the note drafts the `load.pbtxt` phases that do
//! the same.

use super::python::{code_lines, find_word};

/// A shape class of a file: its name, 1-based line, and its stages when they
/// are written out as a literal list.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadShape {
    pub class: String,
    pub line: usize,
    pub stages: Option<Vec<Stage>>,
}

/// One entry of a `stages` list: `{"duration": 60, "users": 10, "spawn_rate": 10}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: f64,
    pub users: f64,
    pub spawn_rate: f64,
}

/// The shape classes `text` defines: `class X(LoadTestShape)` (or
/// `locust.LoadTestShape`), in the order of the file.
pub fn find(text: &str) -> Vec<LoadShape> {
    let lines = code_lines(text);
    let all: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .filter_map(|l| {
            let code = l.code.trim_start();
            let rest = code.strip_prefix("class")?;
            let (name, bases) = rest.split_once('(')?;
            let name = name.trim();
            find_word(bases, "LoadTestShape")?;
            let indent = l.line.len() - l.line.trim_start().len();
            Some(LoadShape {
                class: name.to_string(),
                line: l.number,
                stages: stages_of(&all, l.number, indent),
            })
        })
        .collect()
}

/// The literal `stages = [...]` in the body of the class at `class_line`.
fn stages_of(lines: &[&str], class_line: usize, indent: usize) -> Option<Vec<Stage>> {
    let body = lines
        .iter()
        .enumerate()
        .skip(class_line)
        .take_while(|(_, l)| l.trim().is_empty() || l.len() - l.trim_start().len() > indent);
    let (at, line) = body.into_iter().find(|(_, l)| {
        let code = l.trim_start();
        code.strip_prefix("stages").is_some_and(|rest| {
            let rest = rest.trim_start();
            // `stages = [` or `stages: list = [`
            rest.starts_with('=') && !rest.starts_with("==") || rest.starts_with(':')
        })
    })?;
    let start = line.find('=')? + 1;
    let mut source = line[start..].to_string();
    for l in &lines[at + 1..] {
        source.push('\n');
        source.push_str(l);
    }
    let mut parser = Parser {
        chars: source.chars().collect(),
        at: 0,
    };
    let Literal::List(items) = parser.literal()? else {
        return None;
    };
    let stages: Option<Vec<Stage>> = items.iter().map(stage).collect();
    stages.filter(|s| !s.is_empty())
}

fn stage(item: &Literal) -> Option<Stage> {
    let Literal::Dict(pairs) = item else {
        return None;
    };
    let number = |key: &str| {
        pairs.iter().find_map(|(k, v)| match (k, v) {
            (Literal::Str(k), Literal::Number(n)) if k == key => Some(*n),
            _ => None,
        })
    };
    Some(Stage {
        duration: number("duration")?,
        users: number("users")?,
        spawn_rate: number("spawn_rate")?,
    })
}

/// A Python literal, as far as a `stages` list needs: what is not a list,
/// dict, string or number (a class name, a call) is `Other`.
#[derive(Debug)]
enum Literal {
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
    Str(String),
    Number(f64),
    Other,
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&mut self) -> Option<char> {
        // Whitespace, line breaks and comments between tokens.
        while let Some(&c) = self.chars.get(self.at) {
            if c == '#' {
                while self.chars.get(self.at).is_some_and(|&c| c != '\n') {
                    self.at += 1;
                }
            } else if c.is_whitespace() || c == '\\' {
                self.at += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    fn literal(&mut self) -> Option<Literal> {
        match self.peek()? {
            '[' | '(' => {
                let close = if self.chars[self.at] == '[' { ']' } else { ')' };
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek()? == close {
                        self.at += 1;
                        return Some(Literal::List(items));
                    }
                    items.push(self.literal()?);
                    self.comma_or(close)?;
                }
            }
            '{' => {
                self.at += 1;
                let mut pairs = Vec::new();
                loop {
                    if self.peek()? == '}' {
                        self.at += 1;
                        return Some(Literal::Dict(pairs));
                    }
                    let key = self.literal()?;
                    (self.peek()? == ':').then_some(())?;
                    self.at += 1;
                    pairs.push((key, self.literal()?));
                    self.comma_or('}')?;
                }
            }
            quote @ ('"' | '\'') => {
                self.at += 1;
                let start = self.at;
                while self.chars.get(self.at).is_some_and(|&c| c != quote) {
                    self.at += 1;
                }
                let text: String = self.chars.get(start..self.at)?.iter().collect();
                self.at += 1;
                Some(Literal::Str(text))
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = self.at;
                self.at += 1;
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                {
                    self.at += 1;
                }
                let text: String = self.chars[start..self.at]
                    .iter()
                    .filter(|&&c| c != '_')
                    .collect();
                text.parse().ok().map(Literal::Number)
            }
            c if c.is_alphabetic() || c == '_' => {
                while self
                    .chars
                    .get(self.at)
                    .is_some_and(|&c| c.is_alphanumeric() || c == '_' || c == '.')
                {
                    self.at += 1;
                }
                // A call's arguments belong to it: `between(1, 2)`.
                if self.peek() == Some('(') {
                    self.literal()?;
                }
                Some(Literal::Other)
            }
            _ => None,
        }
    }

    /// After an item: a comma, or the closing bracket (left for the caller).
    fn comma_or(&mut self, close: char) -> Option<()> {
        match self.peek()? {
            ',' => {
                self.at += 1;
                Some(())
            }
            c if c == close => Some(()),
            _ => None,
        }
    }
}

/// The note for a file's shape classes (`None` when it has none). `types`
/// are the config's user type names, for the drafted phases.
pub fn note(file: &str, shapes: &[LoadShape], types: &[String]) -> Option<String> {
    let shape = shapes.first()?;
    let mut said = format!(
        "{file}:{}: class {} is a LoadTestShape, which loadgen ignores: the config's phases set the users",
        shape.line, shape.class
    );
    match &shape.stages {
        Some(stages) => {
            said.push_str(&format!(
                "; as phases of load.pbtxt, its stages read ({}):",
                if ends_increase(stages) {
                    "each `duration` the stage's end, as in Locust's StagesShape"
                } else {
                    "each `duration` the stage's length"
                }
            ));
            for phase in phases(stages, types) {
                said.push('\n');
                said.push_str(&phase);
            }
        }
        None => said.push_str(
            "; write its steps as phases (duration, num_users, hatch_rate_per_s each) in load.pbtxt",
        ),
    }
    if shapes.len() > 1 {
        let others: Vec<String> = shapes[1..]
            .iter()
            .map(|s| format!("{} (line {})", s.class, s.line))
            .collect();
        said.push_str(&format!("\n(ignored as well: {})", others.join(", ")));
    }
    Some(said)
}

fn ends_increase(stages: &[Stage]) -> bool {
    stages.windows(2).all(|w| w[1].duration > w[0].duration)
}

/// One `phases { ... }` line per stage.
fn phases(stages: &[Stage], types: &[String]) -> Vec<String> {
    let types = if types.is_empty() {
        "user_types { name: \"...\" ratio: 1 }".to_string()
    } else {
        types
            .iter()
            .map(|t| format!("user_types {{ name: \"{t}\" ratio: 1 }}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let cumulative = ends_increase(stages);
    let mut previous_end = 0.0;
    stages
        .iter()
        .map(|s| {
            let length = if cumulative {
                s.duration - previous_end
            } else {
                s.duration
            };
            previous_end = s.duration;
            format!(
                "phases {{ duration: {} num_users: {} hatch_rate_per_s: {} {types} }}",
                length.round().max(1.0) as i64,
                s.users.round().max(0.0) as i64,
                s.spawn_rate.ceil().max(1.0) as i64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Locust's own example (docs: custom load shapes), with a comment and a
    /// `user_classes` key.
    const STAGES: &str = r#"from locust import HttpUser, LoadTestShape, task


class WebsiteUser(HttpUser):
    @task
    def index(self):
        self.client.get("/")


class StagesShape(LoadTestShape):
    """A docstring that names stages = [1]."""

    stages = [
        {"duration": 60, "users": 10, "spawn_rate": 10},
        {"duration": 100, "users": 50, "spawn_rate": 10},  # the peak
        {"duration": 180, "users": 100, "spawn_rate": 10, "user_classes": [WebsiteUser]},
        {"duration": 220, "users": 30, "spawn_rate": 0.5},
    ]

    def tick(self):
        run_time = self.get_run_time()
        for stage in self.stages:
            if run_time < stage["duration"]:
                return (stage["users"], stage["spawn_rate"])
        return None
"#;

    #[test]
    fn a_stages_shape_is_found_with_its_stages_and_drafted_as_phases() {
        let shapes = find(STAGES);
        assert_eq!(shapes.len(), 1);
        assert_eq!(
            (shapes[0].class.as_str(), shapes[0].line),
            ("StagesShape", 10)
        );
        let stages = shapes[0].stages.as_ref().expect("stages read");
        assert_eq!(stages.len(), 4);
        assert_eq!(stages[3].spawn_rate, 0.5);
        let said = note("locustfile.py", &shapes, &["Website".to_string()]).unwrap();
        let lines: Vec<&str> = said.lines().collect();
        assert!(
            lines[0].starts_with(
                "locustfile.py:10: class StagesShape is a LoadTestShape, which loadgen ignores"
            ),
            "{said}"
        );
        assert_eq!(
            &lines[1..],
            [
                "phases { duration: 60 num_users: 10 hatch_rate_per_s: 10 user_types { name: \"Website\" ratio: 1 } }",
                "phases { duration: 40 num_users: 50 hatch_rate_per_s: 10 user_types { name: \"Website\" ratio: 1 } }",
                "phases { duration: 80 num_users: 100 hatch_rate_per_s: 10 user_types { name: \"Website\" ratio: 1 } }",
                "phases { duration: 40 num_users: 30 hatch_rate_per_s: 1 user_types { name: \"Website\" ratio: 1 } }",
            ]
        );
    }

    #[test]
    fn a_shape_without_literal_stages_is_named_without_a_draft() {
        let text = "import locust\n\nclass Ramp(locust.LoadTestShape):\n    def tick(self):\n        return (10, 1)\n\nclass Other(object):\n    stages = [{\"duration\": 1}]\n";
        let shapes = find(text);
        assert_eq!(
            shapes,
            vec![LoadShape {
                class: "Ramp".into(),
                line: 3,
                stages: None
            }]
        );
        let said = note("f.py", &shapes, &[]).unwrap();
        assert!(
            said.starts_with("f.py:3: class Ramp is a LoadTestShape"),
            "{said}"
        );
        assert!(said.ends_with("write its steps as phases (duration, num_users, hatch_rate_per_s each) in load.pbtxt"), "{said}");
        // Stages it cannot read (computed, or missing a key) give no draft.
        let computed = "class S(LoadTestShape):\n    stages = [{\"duration\": d, \"users\": 1, \"spawn_rate\": 1} for d in range(3)]\n";
        assert_eq!(find(computed)[0].stages, None);
        let missing = "class S(LoadTestShape):\n    stages = [{\"duration\": 10, \"users\": 1}]\n";
        assert_eq!(find(missing)[0].stages, None);
        assert_eq!(note("f.py", &[], &[]), None);
    }

    #[test]
    fn stages_of_lengths_are_taken_as_lengths() {
        let text = "class S(LoadTestShape):\n    stages = [\n        {'duration': 30, 'users': 5, 'spawn_rate': 5},\n        {'duration': 30, 'users': 9, 'spawn_rate': 2},\n    ]\n";
        let said = note("f.py", &find(text), &["A".into(), "B".into()]).unwrap();
        assert!(
            said.contains("each `duration` the stage's length"),
            "{said}"
        );
        assert!(said.ends_with("phases { duration: 30 num_users: 9 hatch_rate_per_s: 2 user_types { name: \"A\" ratio: 1 } user_types { name: \"B\" ratio: 1 } }"), "{said}");
    }
}
