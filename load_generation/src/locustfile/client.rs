//! Which HTTP client a template's users get: `FastHttpUser` where the template
//! uses nothing it lacks, `HttpUser` otherwise, and why.
//!
//! `FastHttpUser` (geventhttpclient) sends about 3.4 times the requests per core
//! of `HttpUser` (python-requests; docs/benchmarks.md), so it is what lets one
//! machine deliver a plan's rate. But its client is not python-requests: its
//! requests take fewer keyword arguments (no `timeout`, `verify`, `cookies`...),
//! the session has no `cookies`, `headers` or `auth` to set, and its responses
//! have no `cookies`, `reason` or `encoding`. A template written for requests
//! would then fail at run time, request after request.
//!
//! So the choice reads the template, conservatively: every call on a `.client`
//! must be a request method with only keywords both clients take, the client is
//! never handed around as an object (whose use can't be followed), requests is
//! not imported, and no attribute only requests' responses have is read. Any
//! doubt is HttpUser, said with the line and column of the first doubt, so a
//! user sees why and can fix the template or force a client with `--user-class`.
//! Strings and comments are blanked out first, so a URL like "/cookies" is no
//! doubt; an f-string's text is kept, so an expression inside it is still read.

use crate::diagnostic::SourceText;

/// Which Locust user base class the generated users extend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum UserClass {
    /// `HttpUser`: python-requests, the most compatible client.
    #[default]
    Http,
    /// `FastHttpUser`: geventhttpclient, several times the requests per core.
    Fast,
}

impl UserClass {
    pub fn base(self) -> &'static str {
        match self {
            UserClass::Http => "HttpUser",
            UserClass::Fast => "FastHttpUser",
        }
    }
}

/// `--user-class`: a client, or `auto` to let the template decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ClientChoice {
    /// FastHttpUser when the template uses nothing it lacks, else HttpUser.
    #[default]
    Auto,
    /// HttpUser (python-requests), whatever the template uses.
    Http,
    /// FastHttpUser (geventhttpclient), whatever the template uses.
    Fast,
}

/// The client chosen for a run, and why, to be said at the start and by `check`.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub class: UserClass,
    pub why: String,
}

/// One thing in a template that only python-requests has.
#[derive(Debug, Clone, PartialEq)]
pub struct Doubt {
    pub line: usize,
    pub column: usize,
    pub what: String,
}

/// The request methods of both clients' sessions.
const METHODS: &[&str] = &[
    "request", "get", "post", "put", "patch", "delete", "head", "options",
];
/// What else both sessions have.
const SESSION_ALSO: &[&str] = &["rename_request", "base_url"];
/// The keywords FastHttpSession's requests take (locust/contrib/fasthttp.py, 2.47.0:
/// `request()`'s own and the geventhttpclient `urlopen` ones it documents).
const FAST_KEYWORDS: &[&str] = &[
    "method",
    "url",
    "name",
    "data",
    "catch_response",
    "stream",
    "headers",
    "auth",
    "json",
    "allow_redirects",
    "context",
    "params",
    "files",
];
/// Attributes of a requests Response that a FastResponse lacks.
const RESPONSE_ONLY: &[&str] = &[
    "cookies",
    "encoding",
    "apparent_encoding",
    "reason",
    "links",
    "iter_lines",
    "is_redirect",
    "is_permanent_redirect",
    "raw",
];

/// Resolves `choice` for a template's text. `plain` files keep their own classes.
pub fn choose(choice: ClientChoice, source: &SourceText, plain: bool) -> Client {
    if plain {
        return Client {
            class: UserClass::Http,
            why: "the locustfile's own classes choose their client".to_string(),
        };
    }
    match choice {
        ClientChoice::Http => Client {
            class: UserClass::Http,
            why: "HttpUser (python-requests), as --user-class http asks".to_string(),
        },
        ClientChoice::Fast => Client {
            class: UserClass::Fast,
            why: "FastHttpUser (geventhttpclient), as --user-class fast asks".to_string(),
        },
        ClientChoice::Auto => {
            let doubts = doubts(&source.text, source);
            match doubts.first() {
                None => Client {
                    class: UserClass::Fast,
                    why: "FastHttpUser (geventhttpclient, about 3.4 times the requests per core): \
                          the template uses nothing it lacks; --user-class http keeps python-requests"
                        .to_string(),
                },
                Some(first) => {
                    let more = match doubts.len() - 1 {
                        0 => String::new(),
                        1 => " (and 1 more)".to_string(),
                        n => format!(" (and {n} more)"),
                    };
                    Client {
                        class: UserClass::Http,
                        why: format!(
                            "HttpUser (python-requests), because {}:{}:{}: {}{more}; \
                             FastHttpUser would carry about 3.4 times the requests per core \
                             (--user-class fast forces it)",
                            source.path.display(),
                            first.line,
                            first.column,
                            first.what
                        ),
                    }
                }
            }
        }
    }
}

/// Everything in `text` that FastHttpUser lacks, in order.
pub fn doubts(text: &str, source: &SourceText) -> Vec<Doubt> {
    let code = blank_strings_and_comments(text);
    let bytes = code.as_bytes();
    let mut found: Vec<(usize, String)> = Vec::new();

    // `import requests`, `from requests...`: its exceptions and types are
    // python-requests', not what FastHttpUser raises and returns.
    let mut line_start = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        for keyword in ["import ", "from "] {
            if let Some(rest) = trimmed.strip_prefix(keyword) {
                let module = rest.trim_start();
                if module.starts_with("requests")
                    && !module["requests".len()..].starts_with(|c: char| is_ident(c as u8))
                {
                    found.push((
                        line_start + indent,
                        "the template imports python-requests, whose exceptions and types \
                         FastHttpUser's client does not use"
                            .to_string(),
                    ));
                }
            }
        }
        line_start += line.len();
    }

    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'.' {
            i += 1;
            continue;
        }
        let name_start = skip_spaces(bytes, i + 1);
        let name = ident_at(bytes, name_start);
        let after = skip_spaces(bytes, name_start + name.len());
        if name == "client" {
            found.extend(client_use(bytes, i, after));
        } else if RESPONSE_ONLY.contains(&name) && !after_client(bytes, i) {
            found.push((
                i,
                format!("`.{name}`: FastHttpUser's responses have no `{name}`"),
            ));
        }
        i = name_start + name.len().max(1);
    }
    found.sort_by_key(|(offset, _)| *offset);
    found
        .into_iter()
        .map(|(offset, what)| {
            let at = source.position(offset);
            Doubt {
                line: at.line,
                column: at.column,
                what,
            }
        })
        .collect()
}

/// What a `.client` at `dot` (its next token at `after`) uses.
fn client_use(bytes: &[u8], dot: usize, after: usize) -> Vec<(usize, String)> {
    if bytes.get(after) != Some(&b'.') {
        return vec![(
            dot,
            "the client is used as an object (assigned or passed on), whose use loadgen can't follow"
                .to_string(),
        )];
    }
    let method_start = skip_spaces(bytes, after + 1);
    let method = ident_at(bytes, method_start);
    if SESSION_ALSO.contains(&method) {
        return Vec::new();
    }
    if !METHODS.contains(&method) {
        return vec![(
            dot,
            format!("`client.{method}`: FastHttpUser's client has no `{method}`"),
        )];
    }
    let open = skip_spaces(bytes, method_start + method.len());
    if bytes.get(open) != Some(&b'(') {
        return vec![(
            dot,
            format!("`client.{method}` is used without being called, which loadgen can't follow"),
        )];
    }
    keywords(bytes, open)
        .into_iter()
        .filter_map(|(offset, keyword)| match keyword {
            None => Some((
                offset,
                format!("`client.{method}(**...)` passes keywords loadgen can't check"),
            )),
            Some(k) if FAST_KEYWORDS.contains(&k) => None,
            Some(k) => Some((
                offset,
                format!("`client.{method}(..., {k}=...)`: FastHttpUser's requests take no `{k}`"),
            )),
        })
        .collect()
}

/// The keyword arguments of the call whose `(` is at `open`: each keyword's
/// offset and name, or `None` for a `**` splat.
fn keywords(bytes: &[u8], open: usize) -> Vec<(usize, Option<&str>)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut arg_start = open + 1;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.extend(keyword_of(bytes, arg_start, i));
                    break;
                }
            }
            b',' if depth == 1 => {
                out.extend(keyword_of(bytes, arg_start, i));
                arg_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The keyword of one argument `bytes[start..end]`, if it is one.
fn keyword_of(bytes: &[u8], start: usize, end: usize) -> Option<(usize, Option<&str>)> {
    let at = skip_whitespace(bytes, start).min(end);
    let arg = &bytes[at..end];
    if arg.starts_with(b"**") {
        return Some((at, None));
    }
    let name = ident_at(bytes, at);
    if name.is_empty() {
        return None;
    }
    let eq = skip_whitespace(bytes, at + name.len());
    let is_keyword = bytes.get(eq) == Some(&b'=') && bytes.get(eq + 1) != Some(&b'=');
    is_keyword.then_some((at, Some(name)))
}

/// Whether the `.` at `dot` follows `.client` (`x.client.cookies`): said once, as the client's.
fn after_client(bytes: &[u8], dot: usize) -> bool {
    let before = bytes[..dot].trim_ascii_end();
    before.ends_with(b".client") || before.ends_with(b". client")
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn ident_at(bytes: &[u8], start: usize) -> &str {
    let end = bytes[start.min(bytes.len())..]
        .iter()
        .position(|&b| !is_ident(b))
        .map_or(bytes.len(), |n| start + n);
    // Identifiers here are ASCII or whole UTF-8 characters (is_ident takes every byte ≥ 0x80).
    std::str::from_utf8(&bytes[start.min(end)..end]).unwrap_or("")
}

/// Past spaces and tabs (and a `\` line continuation), not newlines.
fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\\') {
        i += 1;
    }
    i
}

/// Past any whitespace: inside a call's parentheses, newlines are too.
fn skip_whitespace(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// `text` with comments and the contents of string literals replaced by spaces
/// (byte for byte, so offsets and lines stay), f-strings excepted.
fn blank_strings_and_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            quote @ (b'"' | b'\'') => {
                let fstring = string_prefix(bytes, i).contains(&b'f');
                let triple = bytes[i..].starts_with(&[quote; 3]);
                let delimiter = if triple { 3 } else { 1 };
                i += delimiter;
                while i < bytes.len() {
                    if bytes[i] == b'\\' {
                        blank(&mut out, i, 2, fstring);
                        i += 2;
                    } else if bytes[i..].starts_with(&[quote; 3][..delimiter]) {
                        i += delimiter;
                        break;
                    } else if bytes[i] == b'\n' && !triple {
                        break; // an unterminated string: Python says so at import
                    } else {
                        blank(&mut out, i, 1, fstring);
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    // Only ASCII bytes were replaced (by spaces), and whole characters of any other
    // kind: the result stays UTF-8. Should that ever not hold, nothing is hidden.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

fn blank(out: &mut [u8], at: usize, n: usize, keep: bool) {
    if keep {
        return;
    }
    for b in out.iter_mut().skip(at).take(n) {
        // Newlines stay, so that line numbers do.
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// The letters before a quote at `i` (`rb`, `f`...), lowercased.
fn string_prefix(bytes: &[u8], i: usize) -> Vec<u8> {
    let start = bytes[..i]
        .iter()
        .rposition(|&b| !b.is_ascii_alphabetic())
        .map_or(0, |p| p + 1);
    let prefix = bytes[start..i].to_ascii_lowercase();
    if prefix.len() <= 2 && prefix.iter().all(|b| b"rbfu".contains(b)) {
        prefix
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn source(text: &str) -> SourceText {
        SourceText::new(PathBuf::from("t.tmpl"), text.to_string())
    }

    fn what(text: &str) -> Vec<String> {
        let s = source(text);
        doubts(&s.text, &s)
            .into_iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.what))
            .collect()
    }

    #[test]
    fn the_hipster_shop_template_can_use_fastclient() {
        let text = include_str!(
            "../../../applications/hipster_shop/load_generation/locustfile.loadgen.tmpl"
        );
        assert_eq!(what(text), Vec::<String>::new());
        let client = choose(ClientChoice::Auto, &source(text), false);
        assert_eq!(client.class, UserClass::Fast, "{}", client.why);
    }

    #[test]
    fn requests_only_keywords_are_doubts_with_their_place() {
        let d = what("def f(l):\n    l.client.get(\"/\", timeout=3, name=\"x\")\n");
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("2:23 "), "{d:?}");
        assert!(d[0].contains("take no `timeout`"), "{d:?}");
        // Across lines, nested brackets, and a comparison that is not a keyword.
        let d = what(
            "l.client.post(\n  \"/x\",\n  data={\"a\": (1, 2)},\n  verify=False,\n  json=x == y,\n)\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("4:3 ") && d[0].contains("`verify`"),
            "{d:?}"
        );
        assert!(what("l.client.get(\"/\", **kw)")[0].contains("**"));
    }

    #[test]
    fn the_session_and_responses_only_requests_has_are_doubts() {
        assert!(what("l.client.cookies.clear()")[0].contains("no `cookies`"));
        assert!(what("l.client.headers['X'] = 'y'")[0].contains("no `headers`"));
        assert!(what("c = self.client\nc.get('/')")[0].contains("used as an object"));
        assert!(what("r = l.client.get('/')\nprint(r.reason)")[0].starts_with("2:8 "));
        assert!(what("import requests\n")[0].contains("imports python-requests"));
        assert!(what("  from requests.exceptions import HTTPError\n")[0].starts_with("1:3 "));
        // One doubt for `client.cookies`, not a second as a response attribute.
        assert_eq!(what("l.client.cookies").len(), 1);
    }

    #[test]
    fn strings_and_comments_are_not_code_but_fstrings_are_read() {
        assert_eq!(
            what(
                "l.client.get('/cookies?timeout=3', name=\"a.reason\")  # l.client.x(timeout=1)\n"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            what("\"\"\"Docs: l.client.get('/', verify=False)\n\"\"\"\nimport requests_toolbelt\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            what("x = 'it\\'s'  \nl.client.get('/')"),
            Vec::<String>::new()
        );
        assert!(what("print(f\"{r.encoding}\")")[0].contains("`encoding`"));
        assert_eq!(
            what("l.client.rename_request('x')\nl.client.get('/', catch_response=True, params={'q': 1})"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_choice_says_why() {
        let doubtful =
            source("def f(l):\n    l.client.get('/', timeout=1)\n    l.client.get('/', cert=c)\n");
        let auto = choose(ClientChoice::Auto, &doubtful, false);
        assert_eq!(auto.class, UserClass::Http);
        assert!(
            auto.why.contains("t.tmpl:2:") && auto.why.contains("(and 1 more)"),
            "{}",
            auto.why
        );
        assert_eq!(
            choose(ClientChoice::Fast, &doubtful, false).class,
            UserClass::Fast
        );
        let fine = source("def f(l):\n    l.client.get('/')\n");
        assert_eq!(
            choose(ClientChoice::Http, &fine, false).class,
            UserClass::Http
        );
        assert_eq!(
            choose(ClientChoice::Auto, &fine, false).class,
            UserClass::Fast
        );
        assert!(choose(ClientChoice::Auto, &fine, true)
            .why
            .contains("own classes"));
    }

    #[test]
    fn any_text_is_read_without_panicking() {
        for text in [
            "",
            ".",
            ".client",
            ".client.",
            ".client.get(",
            "l.client.get(a=",
            "'''",
            "\"\\",
            "é.client.get(é=1)",
            "f'{",
            "x.client.get((((,",
        ] {
            let _ = what(text);
        }
    }
}
