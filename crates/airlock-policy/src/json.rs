//! A small JSON reader that remembers where every value and key starts.
//!
//! serde_json reports positions for syntax errors only; policy validation also needs the
//! position of semantically wrong values ("`Allowed` is not a valid Effect at line 4"). This
//! reader builds a tree whose nodes carry their byte offset. It is iterative where input
//! controls the depth (arrays and objects nest at most [`MAX_DEPTH`] levels) and never panics.

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};

/// Policies nest five levels deep at most (`Statement` → statement → `Condition` → operator →
/// key → values); anything deeper than this is rejected rather than recursed into.
pub(crate) const MAX_DEPTH: usize = 32;

/// A JSON value with the byte offset at which it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) offset: usize,
}

/// An object member: the key, the key's offset, the value.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) key: String,
    pub(crate) key_offset: usize,
    pub(crate) node: Node,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// A number, kept as its source text (AWS compares condition values as text).
    Number(String),
    String(String),
    Array(Vec<Node>),
    Object(Vec<Member>),
}

impl Value {
    /// The JSON type name used in error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// One segment of a JSON pointer.
#[derive(Debug, Clone)]
pub(crate) enum Seg<'a> {
    Key(Cow<'a, str>),
    Index(usize),
}

/// Renders a JSON pointer (RFC 6901) from segments.
pub(crate) fn pointer(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => {
                for c in k.chars() {
                    match c {
                        '~' => out.push_str("~0"),
                        '/' => out.push_str("~1"),
                        c => out.push(c),
                    }
                }
            }
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

/// Converts a byte offset into a 1-based (line, column), counting columns in characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut line = 1;
    let mut col = 1;
    for (i, c) in text.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Builds a [`ParseError`] located at `offset`.
pub(crate) fn error_at(
    text: &str,
    offset: usize,
    path: &[Seg],
    kind: ParseErrorKind,
    message: String,
) -> ParseError {
    let (line, column) = line_col(text, offset);
    ParseError::new(kind, message, pointer(path), line, column)
}

/// Parses a complete JSON text.
pub(crate) fn parse(text: &str) -> Result<Node, ParseError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        path: Vec::new(),
    };
    // Skip a UTF-8 byte order mark, which some editors write.
    if p.bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        p.pos = 3;
    }
    let node = p.value(0)?;
    p.skip_ws();
    if p.pos < p.bytes.len() {
        return Err(p.err(
            ParseErrorKind::Syntax,
            "unexpected text after the end of the document".to_string(),
        ));
    }
    Ok(node)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    path: Vec<Seg<'static>>,
}

impl Parser<'_> {
    fn err(&self, kind: ParseErrorKind, message: String) -> ParseError {
        error_at(self.text, self.pos, &self.path, kind, message)
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        let found = match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => format!("`{}`", c.escape_debug()),
            None => "the end of the document".to_string(),
        };
        self.err(
            ParseErrorKind::Syntax,
            format!("expected {expected}, found {found}"),
        )
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Node, ParseError> {
        self.skip_ws();
        let offset = self.pos;
        let value = match self.peek() {
            None => return Err(self.unexpected("a value")),
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.literal("true", Value::Bool(true))?,
            Some(b'f') => self.literal("false", Value::Bool(false))?,
            Some(b'n') => self.literal("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => return Err(self.unexpected("a value")),
        };
        Ok(Node { value, offset })
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, ParseError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.unexpected("a value"))
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.pos += 1;
                }
            }
            _ => return Err(self.unexpected("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("a digit"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.unexpected("a digit"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.pos += 1;
            }
        }
        Ok(Value::Number(self.text[start..self.pos].to_string()))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => u32::from(b - b'0'),
                Some(b @ b'a'..=b'f') => u32::from(b - b'a' + 10),
                Some(b @ b'A'..=b'F') => u32::from(b - b'A' + 10),
                _ => return Err(self.unexpected("a hexadecimal digit")),
            };
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        // At the opening quote.
        self.pos += 1;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // `start..pos` contains no quote, backslash or control byte; the input is a &str and
            // both ends sit on ASCII bytes (or the end), so the slice is on char boundaries.
            out.push_str(&self.text[start..self.pos]);
            match self.peek() {
                None => {
                    return Err(self.err(ParseErrorKind::Syntax, "unterminated string".to_string()));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let Some(esc) = self.peek() else {
                        return Err(
                            self.err(ParseErrorKind::Syntax, "unterminated string".to_string())
                        );
                    };
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.bytes[self.pos..].starts_with(b"\\u") {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(self.err(
                                            ParseErrorKind::Syntax,
                                            "invalid unicode surrogate pair".to_string(),
                                        ));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    return Err(self.err(
                                        ParseErrorKind::Syntax,
                                        "lone unicode surrogate".to_string(),
                                    ));
                                }
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => out.push(c),
                                None => {
                                    return Err(self.err(
                                        ParseErrorKind::Syntax,
                                        "lone unicode surrogate".to_string(),
                                    ));
                                }
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.unexpected("an escape character"));
                        }
                    }
                }
                Some(_) => {
                    return Err(self.err(
                        ParseErrorKind::Syntax,
                        "control character in string".to_string(),
                    ));
                }
            }
        }
    }

    fn enter(&self, depth: usize) -> Result<(), ParseError> {
        if depth >= MAX_DEPTH {
            Err(self.err(
                ParseErrorKind::TooDeep,
                format!("the document nests deeper than {MAX_DEPTH} levels"),
            ))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.path.push(Seg::Index(items.len()));
            let item = self.value(depth + 1)?;
            self.path.pop();
            items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a string key"));
            }
            let key_offset = self.pos;
            let key = self.string()?;
            if members.iter().any(|m| m.key == key) {
                let (line, column) = line_col(self.text, key_offset);
                return Err(ParseError::new(
                    ParseErrorKind::DuplicateKey,
                    format!("duplicate key `{key}`"),
                    pointer(&self.path),
                    line,
                    column,
                ));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("`:`"));
            }
            self.pos += 1;
            // The key lives in the path while its value is parsed (for error locations), and
            // is taken back afterwards: no copy.
            self.path.push(Seg::Key(Cow::Owned(key)));
            let node = self.value(depth + 1)?;
            let key = match self.path.pop() {
                Some(Seg::Key(k)) => k.into_owned(),
                _ => String::new(),
            };
            members.push(Member {
                key,
                key_offset,
                node,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_char_columns() {
        let text = "{\n  \"a\": [1, \"é\", true]\n}";
        let node = parse(text).unwrap();
        let Value::Object(members) = node.value else {
            panic!("object expected")
        };
        assert_eq!(line_col(text, members[0].key_offset), (2, 3));
        let Value::Array(items) = &members[0].node.value else {
            panic!("array expected")
        };
        assert_eq!(line_col(text, items[2].offset), (2, 17));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = parse("{\n \"a\": [1,, 2]\n}").unwrap_err();
        assert_eq!(err.kind(), ParseErrorKind::Syntax);
        assert_eq!((err.line(), err.column()), (2, 10));
        assert_eq!(err.path(), "/a/1");
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(10_000);
        let err = parse(&deep).unwrap_err();
        assert_eq!(err.kind(), ParseErrorKind::TooDeep);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse(r#"{"a": 1, "a": 2}"#).unwrap_err();
        assert_eq!(err.kind(), ParseErrorKind::DuplicateKey);
        assert_eq!(err.column(), 10);
    }

    #[test]
    fn escapes_and_surrogates() {
        let node = parse(r#""a\u00e9\ud83d\ude00\n""#).unwrap();
        let Value::String(s) = node.value else {
            panic!()
        };
        assert_eq!(s, "aé😀\n");
        assert!(parse(r#""\ud83d""#).is_err());
        assert!(parse(r#""\x""#).is_err());
    }
}
