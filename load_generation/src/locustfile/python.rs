//! Reading a Python file's text without running it: which lines hold code
//! (not a docstring), and where a whole word stands. The template's checks and
//! the Locust 0.x names (`legacy.rs`) both read files this way.

/// A line of Python outside any triple-quoted string: its 1-based number, the
/// whole line, and its code (the line up to a `#`, with a string that opens
/// and closes on it, a one-line docstring, blanked to spaces: columns keep).
pub(super) struct CodeLine<'a> {
    pub number: usize,
    pub line: &'a str,
    pub code: std::borrow::Cow<'a, str>,
}

/// The lines of `text` that hold code: a line in or at the edge of a
/// triple-quoted string (a docstring) holds none, so a class or a name
/// written there is not taken for one in the code.
pub(super) fn code_lines(text: &str) -> Vec<CodeLine<'_>> {
    const QUOTES: [&str; 2] = ["\"\"\"", "'''"];
    let mut lines = Vec::new();
    let mut in_string: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let code = line.split('#').next().unwrap_or("");
        let was_in_string = in_string.is_some();
        for quote in QUOTES {
            if code.matches(quote).count() % 2 == 1 && in_string.is_none_or(|q| q == quote) {
                in_string = if in_string.is_some() {
                    None
                } else {
                    Some(quote)
                };
            }
        }
        if was_in_string || in_string.is_some() {
            continue;
        }
        let code = match QUOTES.iter().find(|q| code.contains(**q)) {
            Some(quote) => std::borrow::Cow::Owned(blank_strings(code, quote)),
            None => std::borrow::Cow::Borrowed(code),
        };
        lines.push(CodeLine {
            number: i + 1,
            line,
            code,
        });
    }
    lines
}

/// `code` with what stands between pairs of `quote` replaced by spaces.
pub(super) fn blank_strings(code: &str, quote: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for (i, part) in code.split(quote).enumerate() {
        if i > 0 {
            out.push_str(quote);
        }
        if i % 2 == 1 {
            out.extend(std::iter::repeat_n(' ', part.len()));
        } else {
            out.push_str(part);
        }
    }
    out
}

pub(super) fn find_word(code: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = code[..i].chars().next_back();
        let after = code[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}
