//! A span-keeping pass over protobuf text format.
//!
//! prost-reflect parses the text format against the .proto and is the authority on
//! values, but it stops at the first error and keeps no positions. This pass walks
//! the same text, guided by the same message descriptors, and records where every
//! field occurrence stands, so that semantic errors (a negative duration, a bad
//! name) can point at their line and column. Because it knows the schema, it also
//! collects *every* unknown field, wrong value type, out-of-range number and
//! duplicated singular field in one go, instead of one per run.
//!
//! It does not build values: anything it cannot follow is left to prost-reflect,
//! whose error is then reported.

use std::collections::HashMap;
use std::ops::Range;

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};

use crate::diagnostic::{Diagnostic, SourceText};

/// Where one field occurrence stands in the source (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpan {
    pub name: usize,
    pub value: usize,
}

/// Field paths like `phases[1].user_types[0].name` mapped to their spans.
/// Repeated fields are indexed by occurrence; singular fields have no index.
pub type SpanMap = HashMap<String, FieldSpan>;

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Number(&'a str),
    Str,
    Punct(char),
    Bad,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    start: usize,
}

fn tokenize(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | b'\x0b' | b'\x0c' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let tok = if i < bytes.len() && bytes[i] == c {
                    Tok::Str
                } else {
                    Tok::Bad
                };
                i = (i + 1).min(bytes.len());
                out.push(Token { tok, start });
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(&text[start..i]),
                    start,
                });
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.' || bytes[i] == b'_')
                {
                    // Exponents such as 1e-5 carry a sign inside the number.
                    i += 1;
                    if i < bytes.len()
                        && (bytes[i] == b'-' || bytes[i] == b'+')
                        && matches!(bytes[i - 1], b'e' | b'E')
                    {
                        i += 1;
                    }
                }
                out.push(Token {
                    tok: Tok::Number(&text[start..i]),
                    start,
                });
            }
            b'{' | b'}' | b'<' | b'>' | b'[' | b']' | b':' | b',' | b';' | b'-' | b'/' => {
                i += 1;
                out.push(Token {
                    tok: Tok::Punct(c as char),
                    start,
                });
            }
            _ => {
                // One whole (possibly multi-byte) character.
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                i += len;
                out.push(Token {
                    tok: Tok::Bad,
                    start,
                });
            }
        }
    }
    out
}

/// The result of the pass: where fields are, and the problems it could see.
pub struct Located {
    pub spans: SpanMap,
    pub diagnostics: Vec<Diagnostic>,
    /// Where the pass met text it could not follow (a syntax error), if it did.
    pub lost_at: Option<usize>,
    /// The unknown fields: blanked out, the rest of the config can still be checked.
    pub unknown_fields: Vec<UnknownField>,
}

/// A field the schema does not have.
pub struct UnknownField {
    /// Its bytes: name, value and a separator after it.
    pub range: Range<usize>,
    /// The known field it probably meant.
    pub meant: Option<String>,
    /// Where the message holding it starts (its field name; 0 for the file).
    pub parent: usize,
}

/// Walks `source` as a `root` message.
pub fn locate(source: &SourceText, root: &MessageDescriptor) -> Located {
    let tokens = tokenize(&source.text);
    let mut walker = Walker {
        source,
        tokens,
        pos: 0,
        spans: SpanMap::new(),
        diagnostics: Vec::new(),
        unknown_fields: Vec::new(),
    };
    let lost_at = walker.message_body(root, "", None).err().map(|_| {
        // The token that could not be followed is the one just consumed.
        let at = walker
            .pos
            .saturating_sub(1)
            .min(walker.tokens.len().saturating_sub(1));
        walker.tokens.get(at).map_or(source.text.len(), |t| t.start)
    });
    Located {
        spans: walker.spans,
        diagnostics: walker.diagnostics,
        lost_at,
        unknown_fields: walker.unknown_fields,
    }
}

struct Walker<'s> {
    source: &'s SourceText,
    tokens: Vec<Token<'s>>,
    pos: usize,
    spans: SpanMap,
    diagnostics: Vec<Diagnostic>,
    unknown_fields: Vec<UnknownField>,
}

/// The pass met text it cannot follow; the caller leaves it to prost-reflect.
struct Lost;

impl<'s> Walker<'s> {
    fn peek(&self) -> Option<&Token<'s>> {
        self.tokens.get(self.pos)
    }

    fn peek_punct(&self, c: char) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
    }

    fn bump(&mut self) -> Option<Token<'s>> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn offset(&self) -> usize {
        self.peek().map_or(self.source.text.len(), |t| t.start)
    }

    /// Fields until `close` (or the end of input for the root message).
    fn message_body(
        &mut self,
        desc: &MessageDescriptor,
        path: &str,
        close: Option<char>,
    ) -> Result<(), Lost> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        loop {
            let Some(tok) = self.peek().cloned() else {
                return if close.is_none() { Ok(()) } else { Err(Lost) };
            };
            match tok.tok {
                Tok::Punct(c) if Some(c) == close => {
                    self.bump();
                    return Ok(());
                }
                Tok::Ident(name) => {
                    self.bump();
                    self.field(desc, path, name, tok.start, &mut counts)?;
                }
                _ => return Err(Lost),
            }
            // Optional separator between fields.
            if self.peek_punct(',') || self.peek_punct(';') {
                self.bump();
            }
        }
    }

    fn field(
        &mut self,
        desc: &MessageDescriptor,
        path: &str,
        name: &'s str,
        name_offset: usize,
        counts: &mut HashMap<String, usize>,
    ) -> Result<(), Lost> {
        let has_colon = self.peek_punct(':');
        if has_colon {
            self.bump();
        }
        let value_offset = self.offset();
        let field = desc.get_field_by_name(name);
        let Some(field) = field else {
            let meant = self.unknown_field(desc, name, name_offset);
            self.skip_value()?;
            if self.peek_punct(',') || self.peek_punct(';') {
                self.bump();
            }
            let parent = self
                .spans
                .get(path.trim_end_matches('.'))
                .map_or(0, |span| span.name);
            self.unknown_fields.push(UnknownField {
                range: name_offset..self.offset(),
                meant,
                parent,
            });
            return Ok(());
        };

        if matches!(field.kind(), Kind::Message(_)) && self.peek_punct('[') {
            // A list of messages, `phases: [ {..}, {..} ]`: each element is one occurrence.
            let Kind::Message(inner) = field.kind() else {
                return Err(Lost);
            };
            self.bump();
            while !self.peek_punct(']') {
                let key = self.record(&field, path, name, name_offset, self.offset(), counts);
                self.message_value(&inner, &key)?;
                if self.peek_punct(',') {
                    self.bump();
                } else if !self.peek_punct(']') {
                    return Err(Lost);
                }
            }
            self.bump();
            return Ok(());
        }
        let key = self.record(&field, path, name, name_offset, value_offset, counts);
        match field.kind() {
            Kind::Message(inner) => self.message_value(&inner, &key),
            kind => {
                if !has_colon {
                    self.diagnostics.push(
                        self.source
                            .error_at(value_offset, format!("expected `:` after `{name}`"))
                            .with_help(format!("write `{name}: <value>`")),
                    );
                }
                if self.peek_punct('[') && field.cardinality() == Cardinality::Repeated {
                    return self.skip_value();
                }
                self.scalar(&field, &kind, value_offset)
            }
        }
    }

    /// Records one occurrence of a field and returns its path; flags a singular field
    /// set twice.
    fn record(
        &mut self,
        field: &FieldDescriptor,
        path: &str,
        name: &str,
        name_offset: usize,
        value_offset: usize,
        counts: &mut HashMap<String, usize>,
    ) -> String {
        let occurrence = counts.entry(name.to_string()).or_insert(0);
        let repeated = field.cardinality() == Cardinality::Repeated;
        let key = if repeated {
            format!("{path}{name}[{occurrence}]")
        } else {
            format!("{path}{name}")
        };
        if !repeated && *occurrence > 0 {
            let first = self
                .spans
                .get(&key)
                .map(|s| self.source.position(s.name).line);
            let mut d = self.source.error_at(
                name_offset,
                format!("`{name}` is set more than once in this message"),
            );
            if let Some(line) = first {
                d = d.with_help(format!("it was first set on line {line}; keep one of them"));
            }
            self.diagnostics.push(d);
        }
        *occurrence += 1;
        if !self.spans.contains_key(&key) {
            self.spans.insert(
                key.clone(),
                FieldSpan {
                    name: name_offset,
                    value: value_offset,
                },
            );
        }
        key
    }

    fn message_value(&mut self, inner: &MessageDescriptor, key: &str) -> Result<(), Lost> {
        let close = match self.bump().map(|t| t.tok) {
            Some(Tok::Punct('{')) => '}',
            Some(Tok::Punct('<')) => '>',
            _ => return Err(Lost),
        };
        self.message_body(inner, &format!("{key}."), Some(close))
    }

    fn scalar(&mut self, field: &FieldDescriptor, kind: &Kind, offset: usize) -> Result<(), Lost> {
        let negative = self.peek_punct('-');
        if negative {
            self.bump();
        }
        let Some(tok) = self.bump() else {
            return Err(Lost);
        };
        let name = field.name();
        match (kind, &tok.tok) {
            (Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64, Tok::Number(text)) => {
                let range: (i128, i128) = match kind {
                    Kind::Int32 => (i32::MIN.into(), i32::MAX.into()),
                    Kind::Int64 => (i64::MIN.into(), i64::MAX.into()),
                    Kind::Uint32 => (0, u32::MAX.into()),
                    _ => (0, u64::MAX.into()),
                };
                match parse_int(text) {
                    Some(v) => {
                        let v = if negative { -v } else { v };
                        if v < range.0 || v > range.1 {
                            self.diagnostics.push(
                                self.source
                                    .error_at(
                                        offset,
                                        format!(
                                            "`{name}` is {v}, out of range for a 32-bit integer"
                                        ),
                                    )
                                    .with_help(format!(
                                        "use a value from {} to {}",
                                        range.0, range.1
                                    )),
                            );
                        }
                    }
                    None => self.diagnostics.push(
                        self.source
                            .error_at(
                                offset,
                                format!("`{name}` expects a whole number, found `{text}`"),
                            )
                            .with_help(format!("write `{name}: 10` (no units, no decimals)")),
                    ),
                }
                Ok(())
            }
            (Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64, found) => {
                self.diagnostics.push(
                    self.source
                        .error_at(
                            offset,
                            format!("`{name}` expects a whole number, found {}", describe(found)),
                        )
                        .with_help(format!("write `{name}: 10` (no quotes)")),
                );
                self.skip_strings(found);
                Ok(())
            }
            (Kind::String, Tok::Str) => {
                self.skip_strings(&Tok::Str);
                Ok(())
            }
            (Kind::String, found) => {
                self.diagnostics.push(
                    self.source
                        .error_at(
                            offset,
                            format!(
                                "`{name}` expects a quoted string, found {}",
                                describe(found)
                            ),
                        )
                        .with_help(format!("write `{name}: \"Normal\"`")),
                );
                Ok(())
            }
            (Kind::Double | Kind::Float, Tok::Number(text)) => {
                if text.parse::<f64>().map_or(true, |v| !v.is_finite()) {
                    self.diagnostics.push(
                        self.source
                            .error_at(offset, format!("`{name}` expects a number, found `{text}`"))
                            .with_help(format!("write `{name}: 250` or `{name}: 12.5` (no units)")),
                    );
                }
                Ok(())
            }
            (Kind::Double | Kind::Float, found) => {
                self.diagnostics.push(
                    self.source
                        .error_at(
                            offset,
                            format!("`{name}` expects a number, found {}", describe(found)),
                        )
                        .with_help(format!("write `{name}: 250` (no quotes, no units)")),
                );
                self.skip_strings(found);
                Ok(())
            }
            (Kind::Enum(values), found) => {
                let known: Vec<String> = values.values().map(|v| v.name().to_string()).collect();
                let given = match found {
                    Tok::Ident(word) => *word,
                    _ => "",
                };
                if !known.iter().any(|k| k == given) {
                    let found = match found {
                        Tok::Ident(word) => format!("`{word}`"),
                        other => describe(other),
                    };
                    self.diagnostics.push(
                        self.source
                            .error_at(
                                offset,
                                format!("`{name}` is one of {}, found {found}", known.join(", ")),
                            )
                            .with_help(format!(
                                "write `{name}: {}` (a bare word, no quotes)",
                                known.last().map_or("...", String::as_str)
                            )),
                    );
                    self.skip_strings(&tok.tok);
                }
                Ok(())
            }
            // Other kinds do not occur in load_config.proto; prost-reflect checks them.
            (_, Tok::Bad) => Err(Lost),
            _ => Ok(()),
        }
    }

    /// Adjacent string literals concatenate in the text format.
    fn skip_strings(&mut self, first: &Tok) {
        if *first == Tok::Str {
            while matches!(self.peek(), Some(Token { tok: Tok::Str, .. })) {
                self.bump();
            }
        }
    }

    /// Skips the value of an unknown field: a message, a list or a scalar.
    fn skip_value(&mut self) -> Result<(), Lost> {
        match self.bump().map(|t| t.tok) {
            Some(Tok::Punct(open @ ('{' | '<' | '['))) => {
                let close = match open {
                    '{' => '}',
                    '<' => '>',
                    _ => ']',
                };
                let mut depth = 1;
                while depth > 0 {
                    match self.bump().map(|t| t.tok) {
                        Some(Tok::Punct(c)) if c == open => depth += 1,
                        Some(Tok::Punct(c)) if c == close => depth -= 1,
                        Some(_) => {}
                        None => return Err(Lost),
                    }
                }
                Ok(())
            }
            Some(Tok::Punct('-')) => self.bump().map(|_| ()).ok_or(Lost),
            Some(Tok::Str) => {
                self.skip_strings(&Tok::Str);
                Ok(())
            }
            Some(Tok::Ident(_) | Tok::Number(_)) => Ok(()),
            _ => Err(Lost),
        }
    }

    /// Reports an unknown field; returns the known one it probably meant.
    fn unknown_field(
        &mut self,
        desc: &MessageDescriptor,
        name: &str,
        offset: usize,
    ) -> Option<String> {
        let known: Vec<String> = desc.fields().map(|f| f.name().to_string()).collect();
        let nearest = known
            .iter()
            .map(|k| (strsim::jaro_winkler(name, k), k))
            .filter(|(score, _)| *score > 0.75)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k.clone());
        let message = format!("unknown field `{name}` in {}", describe_message(desc));
        let help = match &nearest {
            Some(k) => format!("did you mean `{k}`? Known fields: {}", known.join(", ")),
            None => format!("known fields: {}", known.join(", ")),
        };
        self.diagnostics
            .push(self.source.error_at(offset, message).with_help(help));
        nearest
    }
}

fn parse_int(text: &str) -> Option<i128> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        i128::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Number(s) => format!("the number `{s}`"),
        Tok::Str => "a string".to_string(),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Bad => "an unexpected character".to_string(),
    }
}

/// Names messages the way a config author thinks of them.
fn describe_message(desc: &MessageDescriptor) -> String {
    match desc.name() {
        "LocustConfigFile" => "the load config (top level)".to_string(),
        "LocustPhaseConfig" => "a phase (`phases { ... }`)".to_string(),
        "UserType" => "a user type (`user_types { ... }`)".to_string(),
        other => format!("message `{other}`"),
    }
}

#[cfg(test)]
mod tests;
