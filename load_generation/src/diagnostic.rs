//! Diagnostics: what went wrong in a user's file, where, and how to fix it.
//!
//! Every problem loadgen finds in a load config or a locustfile template becomes a
//! [`Diagnostic`] that names the file, the line and the column, says what was expected
//! and, where we know, how to fix it. They are collected, not thrown, so a user sees
//! every mistake of a file at once instead of fixing them one run at a time.
//!
//! # Why not miette's renderer
//!
//! miette is a dependency, but only to read positions out of prost-reflect's
//! parse errors (`config::syntax_error`); the rendering here is our own, on
//! purpose, after weighing `miette::GraphicalReportHandler`:
//! - **Bounded output.** A hostile config can be one line of megabytes with
//!   thousands of errors on it (`tests/e2e/hostile_input.rs`,
//!   `huge_one_line_config_with_many_errors_stays_linear`). We keep only
//!   [`SHOWN_LINE_CHARS`] around the caret ([`excerpt`]) and print at most
//!   `MAX_SHOWN` diagnostics. miette renders the span's whole line from the
//!   source it is given, so we would cut the excerpt ourselves anyway and hand
//!   miette a copy per diagnostic: the hard part stays here, plus an adapter.
//! - **The compiler form first.** Each diagnostic starts with
//!   `file:line:column: error: message` on one line, which editors, CI log
//!   viewers and `grep` understand and the tests match on. miette's graphical
//!   form puts the location inside box drawing (`╭─[file:line:col]`), and its
//!   look depends on terminal detection (colour, Unicode), which we don't want
//!   in Kubernetes or CI logs.
//! - **Columns in characters, tabs kept**, so the caret lines up under the
//!   character the column names; miette expands tabs to a width of its own.
//!
//! The whole renderer is the two `Display` impls below (about 60 lines).

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is. Errors stop the command; warnings are shown and the
/// command goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// A position in a text file, 1-based as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// Where the problem is; `None` for problems of the whole file (unreadable, say).
    pub position: Option<Position>,
    pub message: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
    /// The offending source line, shown under the message with a caret; a long
    /// line is cut to [`SHOWN_LINE_CHARS`] around the caret.
    pub source_line: Option<String>,
    /// The 1-based column of the caret in `source_line`.
    pub source_caret: usize,
}

/// The most characters of a source line a diagnostic keeps and shows. A one-line
/// config of megabytes with thousands of errors would otherwise be copied into,
/// and printed with, every one of them.
pub const SHOWN_LINE_CHARS: usize = 200;

impl Diagnostic {
    pub fn error(file: &Path, position: Option<Position>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            position,
            message: message.into(),
            help: None,
            source_line: None,
            source_caret: 0,
        }
    }

    pub fn warning(file: &Path, position: Option<Position>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, position, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attaches the line of `source` the diagnostic points at (byte `offset`), for
    /// the caret display; a long line is cut around the caret, in time independent
    /// of the line's length.
    fn with_source_at(mut self, source: &SourceText, offset: usize) -> Self {
        if let Some(position) = self.position {
            let start = source.line_starts[position.line - 1];
            if let Some(line) = source.line_text(position.line) {
                let at = offset.saturating_sub(start).min(line.len());
                (self.source_line, self.source_caret) = excerpt(line, at);
            }
        }
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A problem at byte `at` of line `line` (1-based) of a file read line by
    /// line (a log streamed, never held whole): the position in characters,
    /// and the line shown cut around the caret.
    pub fn at_line(
        severity: Severity,
        file: &Path,
        line: usize,
        text: &str,
        at: usize,
        message: impl Into<String>,
    ) -> Self {
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let column = text[..at].chars().count() + 1;
        let (source_line, source_caret) = excerpt(text, at);
        Diagnostic {
            severity,
            file: file.to_path_buf(),
            position: Some(Position { line, column }),
            message: message.into(),
            help: None,
            source_line,
            source_caret,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: message`, the form compilers use, so editors and
    /// terminals can jump to it; then the source line with a caret, then the help.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.position {
            Some(p) => write!(
                f,
                "{}:{}:{}: {kind}: {}",
                self.file.display(),
                p.line,
                p.column,
                self.message
            )?,
            None => write!(f, "{}: {kind}: {}", self.file.display(), self.message)?,
        }
        if let (Some(line), Some(p)) = (&self.source_line, self.position) {
            let gutter = p.line.to_string();
            let pad = " ".repeat(gutter.len());
            // Columns count characters; tabs are kept so the caret lines up.
            let lead: String = line
                .chars()
                .take(self.source_caret.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n {pad} |\n {gutter} | {line}\n {pad} | {lead}^")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// `line`, or if it is longer, [`SHOWN_LINE_CHARS`] characters of it around byte
/// `at` with `…` where it was cut; and the 1-based column of `at` in what is kept.
/// Only the characters kept are looked at.
fn excerpt(line: &str, mut at: usize) -> (Option<String>, usize) {
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    let (before, after) = line.split_at(at);
    // Bytes first: a long line's characters are not all counted.
    if line.len() <= SHOWN_LINE_CHARS
        || (line.len() <= 4 * SHOWN_LINE_CHARS && line.chars().count() <= SHOWN_LINE_CHARS)
    {
        return (Some(line.to_string()), before.chars().count() + 1);
    }
    let start = before
        .char_indices()
        .rev()
        .nth(SHOWN_LINE_CHARS / 2 - 1)
        .map_or(0, |(i, _)| i);
    let head = &before[start..];
    let mut tail = after.chars();
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.push_str(head);
    let caret = shown.chars().count() + 1;
    shown.extend(tail.by_ref().take(SHOWN_LINE_CHARS - SHOWN_LINE_CHARS / 2));
    if tail.next().is_some() {
        shown.push('…');
    }
    (Some(shown), caret)
}

/// A set of diagnostics that contains at least one error: the error type of every
/// stage that reads user files.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

/// How many diagnostics are printed in full: a broken generated file can hold
/// thousands of mistakes, and the first screens are the ones anybody reads.
const MAX_SHOWN: usize = 50;

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().take(MAX_SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "{d}")?;
        }
        if self.0.len() > MAX_SHOWN {
            writeln!(
                f,
                "\n… {} more not shown (fix the ones above and check again)",
                self.0.len() - MAX_SHOWN
            )?;
        }
        let errors = self.errors().count();
        let warnings = self.0.len() - errors;
        write!(f, "{errors} error{}", if errors == 1 { "" } else { "s" })?;
        if warnings > 0 {
            write!(
                f,
                ", {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The text of a user's file with a line index, to turn byte offsets into positions.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
    /// For each [`BLOCK`] bytes of non-ASCII text, the UTF-8 continuation bytes
    /// before it (empty for ASCII text): a column in characters is then found
    /// by counting within one block, not along the whole line, so thousands of
    /// errors on one long line stay linear.
    continuation_before_block: Vec<usize>,
}

const BLOCK: usize = 4096;

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

impl SourceText {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let continuation_before_block = if text.is_ascii() {
            Vec::new()
        } else {
            let mut before = 0;
            let mut blocks = vec![0];
            for chunk in text.as_bytes().chunks(BLOCK) {
                before += chunk.iter().filter(|&&b| is_continuation(b)).count();
                blocks.push(before);
            }
            blocks
        };
        SourceText {
            path: path.into(),
            text,
            line_starts,
            continuation_before_block,
        }
    }

    /// Reads a file as UTF-8 text; an unreadable or non-UTF-8 file becomes a
    /// diagnostic that says why (and for bad UTF-8, where).
    pub fn read(path: &Path, what: &str) -> Result<Self, Diagnostics> {
        let bytes = std::fs::read(path).map_err(|e| {
            Diagnostics(vec![Diagnostic::error(
                path,
                None,
                format!("cannot read the {what}: {e}"),
            )
            .with_help(match e.kind() {
                std::io::ErrorKind::NotFound => {
                    "check the path; relative paths are taken from the current directory"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "make the file readable by the user running loadgen"
                }
                _ => "check that the path names a readable file",
            })])
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceText::new(path, text)),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let prefix = SourceText::new(
                    path,
                    String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned(),
                );
                let position = prefix.position(valid);
                Err(Diagnostics(vec![Diagnostic::error(
                    path,
                    Some(position),
                    format!("the {what} is not UTF-8 text (invalid byte at offset {valid})"),
                )
                .with_help(
                    "save the file as UTF-8; binary files cannot be used here",
                )]))
            }
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        Position {
            line: line + 1,
            column: self.chars_before(offset) - self.chars_before(start) + 1,
        }
    }

    /// The number of characters in the text before byte `offset`.
    fn chars_before(&self, offset: usize) -> usize {
        if self.continuation_before_block.is_empty() {
            return offset;
        }
        let block = offset / BLOCK;
        let within = self.text.as_bytes()[block * BLOCK..offset]
            .iter()
            .filter(|&&b| is_continuation(b))
            .count();
        offset - self.continuation_before_block[block] - within
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        let start = *self.line_starts.get(line.checked_sub(1)?)?;
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .map(|l| l.trim_end_matches(['\n', '\r']))
    }

    /// A diagnostic at a byte offset of this file, with its source line attached.
    pub fn error_at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(&self.path, Some(self.position(offset)), message)
            .with_source_at(self, offset)
    }

    pub fn warning_at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(&self.path, Some(self.position(offset)), message)
            .with_source_at(self, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_across_blocks() {
        // A long non-ASCII line spanning many blocks, with multi-byte characters
        // straddling block edges: every column must match a plain count.
        let line: String = (0..5000).map(|i| ["a", "é", "€", "𝄞"][i % 4]).collect();
        let text = format!("x\n{line}\ny");
        let src = SourceText::new("f", text.clone());
        for (offset, _) in text.char_indices().step_by(7) {
            let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            let expected = text[line_start..offset].chars().count() + 1;
            assert_eq!(src.position(offset).column, expected, "at {offset}");
        }
    }

    #[test]
    fn long_lists_are_cut_but_counted() {
        let src = SourceText::new("f", "x\n".repeat(120));
        let all = Diagnostics(
            (0..120)
                .map(|i| src.error_at(i * 2, format!("bad {i}")))
                .collect(),
        );
        let shown = all.to_string();
        assert!(shown.contains("bad 49"), "{shown}");
        assert!(!shown.contains("bad 50"), "{shown}");
        assert!(shown.contains("… 70 more not shown"), "{shown}");
        assert!(shown.ends_with("120 errors"), "{shown}");
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let src = SourceText::new("f", "ab\ncé d\n".to_string());
        assert_eq!(src.position(0), Position { line: 1, column: 1 });
        assert_eq!(src.position(3), Position { line: 2, column: 1 });
        // 'é' is two bytes but one column.
        assert_eq!(src.position(6), Position { line: 2, column: 3 });
        assert_eq!(src.line_text(2), Some("cé d"));
        assert_eq!(src.line_text(9), None);
    }

    #[test]
    fn display_shows_file_line_column_caret_and_help() {
        let src = SourceText::new("load.pbtxt", "phases {\n  duration: -1\n}\n".to_string());
        let d = src
            .error_at(21, "duration must be positive")
            .with_help("use seconds > 0");
        let shown = d.to_string();
        assert!(shown.starts_with("load.pbtxt:2:13: error: duration must be positive"));
        assert!(shown.contains(" 2 |   duration: -1\n"));
        assert!(shown.contains("   |             ^"));
        assert!(shown.ends_with("= help: use seconds > 0"));
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        // A one-line config of megabytes must not be copied into every diagnostic.
        let text = format!("{}bad{}", "a ".repeat(50_000), "b".repeat(50_000));
        let src = SourceText::new("load.pbtxt", text);
        let shown = src.error_at(100_000, "here").to_string();
        assert!(shown.len() < 600, "{} bytes shown", shown.len());
        let lines: Vec<&str> = shown.lines().collect();
        let code = lines[2].split_once(" | ").unwrap().1;
        let caret = lines[3].split_once(" | ").unwrap().1;
        assert_eq!(code.chars().count(), SHOWN_LINE_CHARS + 2, "{code}");
        assert!(code.starts_with('…') && code.ends_with('…'));
        let at = caret.chars().count() - 1;
        assert_eq!(code.chars().skip(at).take(3).collect::<String>(), "bad");
        // Near the start of the line nothing is cut before the caret.
        let shown = src.error_at(4, "here").to_string();
        assert!(shown.contains(" 1 | a a a"), "{shown}");
        assert!(shown.contains("   |     ^"), "{shown}");
    }

    #[test]
    fn non_utf8_file_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tmpl");
        std::fs::write(&path, b"ok\nab\xff\n").unwrap();
        let err = SourceText::read(&path, "template").unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.position, Some(Position { line: 2, column: 3 }));
        assert!(d.message.contains("not UTF-8"));
    }
}

/// A mistake in the command line or environment that no file position
/// describes (a host without a scheme, an implausible user count): reported
/// like a diagnostic, exit code 2, rather than as a runtime failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);
