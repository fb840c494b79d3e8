//! A strict JSON parser for untrusted receipt lines.
//!
//! Unlike a general-purpose parser it reports duplicate keys (at any depth) instead of keeping
//! the last one, keeps integers and floats apart, refuses integers the canonical form cannot carry
//! and lone surrogate escapes, and bounds nesting depth so hostile input cannot exhaust the stack.

use std::collections::HashSet;

use super::value::{INT_MAX, INT_MIN, Number, Object, Value};

/// The deepest nesting of arrays and objects the parser accepts.
pub const MAX_DEPTH: usize = 128;

/// Why a byte string is not acceptable JSON for a receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The bytes are not UTF-8.
    #[error("not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The bytes are not JSON.
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax {
        /// Byte offset where parsing stopped.
        offset: usize,
        /// What the parser expected or found.
        what: &'static str,
    },
    /// An object has the same key twice; a first-wins and a last-wins reader would disagree.
    #[error("duplicate key {key:?} at byte {offset}: readers disagree on which value counts")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Byte offset of the second occurrence.
        offset: usize,
    },
    /// An integer outside [-2^63, 2^64-1], which the v1 canonical form cannot represent.
    #[error("integer at byte {offset} is outside [-2^63, 2^64-1] and cannot be canonicalized")]
    IntegerOutOfRange {
        /// Byte offset of the number.
        offset: usize,
    },
    /// A `\uD800`-style escape without its pair; it has no UTF-8 form.
    #[error("lone UTF-16 surrogate escape at byte {offset} cannot be represented")]
    LoneSurrogate {
        /// Byte offset of the escape.
        offset: usize,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {limit} levels at byte {offset}")]
    TooDeep {
        /// Byte offset where the limit was exceeded.
        offset: usize,
        /// The limit.
        limit: usize,
    },
}

/// Parses one complete JSON document (surrounding whitespace allowed).
///
/// # Errors
/// Any [`JsonError`].
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let src = std::str::from_utf8(bytes).map_err(|e| JsonError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser {
        src,
        bytes: src.as_bytes(),
        pos: 0,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.syntax("trailing characters after the JSON value"));
    }
    Ok(v)
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Parser<'a> {
    /// A parser over UTF-8 bytes.
    ///
    /// # Errors
    /// [`JsonError::InvalidUtf8`].
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, JsonError> {
        let src = std::str::from_utf8(bytes).map_err(|e| JsonError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        Ok(Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
        })
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    /// Consumes `b` (after whitespace) or fails with `what`.
    pub(crate) fn expect(&mut self, b: u8, what: &'static str) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    /// An object key (the next token must be a string), borrowed when it has no escapes.
    pub(crate) fn key(&mut self) -> Result<std::borrow::Cow<'a, str>, JsonError> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a string key"));
        }
        let start = self.pos + 1;
        let mut i = start;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'"' => {
                    self.pos = i + 1;
                    let s = self.src.get(start..i).unwrap_or_default();
                    return Ok(std::borrow::Cow::Borrowed(s));
                }
                b'\\' | 0x00..=0x1f => break,
                _ => i += 1,
            }
        }
        self.string().map(std::borrow::Cow::Owned)
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn syntax(&self, what: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.pos,
            what,
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    pub(crate) fn expect_lit(&mut self, lit: &'static [u8], v: Value) -> Result<Value, JsonError> {
        if self.bytes.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(v)
        } else {
            Err(self.syntax("unknown literal"))
        }
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1).map(Value::Object),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.expect_lit(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(_) => Err(self.syntax("expected a JSON value")),
            None => Err(self.syntax("unexpected end of input")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep {
                offset: self.pos,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.syntax("expected ',' or ']' in array")),
            }
        }
    }

    pub(crate) fn object(&mut self, depth: usize) -> Result<Object, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut obj = Object::new();
        // Small objects check duplicates by scanning; large ones switch to a set so a hostile
        // object with many keys stays linear.
        let mut seen: Option<HashSet<String>> = None;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(obj);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let key_offset = self.pos;
            let key = self.string()?;
            let dup = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = obj.iter().any(|(k, _)| k == key);
                    if obj.len() >= 16 {
                        seen = Some(obj.iter().map(|(k, _)| k.to_owned()).collect());
                        if let Some(set) = &mut seen {
                            set.insert(key.clone());
                        }
                    }
                    dup
                }
            };
            if dup {
                return Err(JsonError::DuplicateKey {
                    key,
                    offset: key_offset,
                });
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            obj.push_unchecked(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(obj);
                }
                _ => return Err(self.syntax("expected ',' or '}' in object")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.syntax("truncated \\u escape"))?;
        let mut v: u16 = 0;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.syntax("invalid hex digit in \\u escape")),
            };
            v = (v << 4) | u16::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    pub(crate) fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.syntax("unterminated string"));
            };
            match b {
                b'"' => {
                    out.push_str(self.src.get(run_start..self.pos).unwrap_or_default());
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.src.get(run_start..self.pos).unwrap_or_default());
                    let esc_offset = self.pos;
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.syntax("unterminated escape"));
                    };
                    self.pos += 1;
                    match e {
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
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(JsonError::LoneSurrogate { offset: esc_offset });
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(JsonError::LoneSurrogate { offset: esc_offset });
                                }
                                let cp = 0x10000
                                    + ((u32::from(hi) - 0xD800) << 10)
                                    + (u32::from(lo) - 0xDC00);
                                char::from_u32(cp)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(JsonError::LoneSurrogate { offset: esc_offset });
                            } else {
                                char::from_u32(u32::from(hi))
                            };
                            out.push(c.ok_or(JsonError::LoneSurrogate { offset: esc_offset })?);
                        }
                        _ => {
                            self.pos = esc_offset;
                            return Err(self.syntax("invalid escape sequence"));
                        }
                    }
                    run_start = self.pos;
                }
                0x00..=0x1f => return Err(self.syntax("raw control character in string")),
                _ => self.pos += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    pub(crate) fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax("expected a digit")),
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit after '.'"));
            }
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax("expected a digit in the exponent"));
            }
            is_float = true;
        }
        let text = self.src.get(start..self.pos).unwrap_or_default();
        if is_float {
            // Rust's parser rounds correctly, like Python's; overflow gives an infinity, which the
            // canonical form writes as `null` (as orjson does after Python parsed 1e400 to inf).
            let x: f64 = text.parse().map_err(|_| JsonError::Syntax {
                offset: start,
                what: "malformed number",
            })?;
            return Ok(Number::float(x));
        }
        // At most 40 characters can hold a value within range; longer is out of range anyway.
        if text.len() > 40 {
            return Err(JsonError::IntegerOutOfRange { offset: start });
        }
        let i: i128 = text
            .parse()
            .map_err(|_| JsonError::IntegerOutOfRange { offset: start })?;
        if !(INT_MIN..=INT_MAX).contains(&i) {
            return Err(JsonError::IntegerOutOfRange { offset: start });
        }
        Number::int(i).ok_or(JsonError::IntegerOutOfRange { offset: start })
    }
}

#[cfg(test)]
#[expect(clippy::indexing_slicing, clippy::panic, reason = "test assertions")]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicate_keys_at_any_depth() {
        assert!(matches!(
            parse(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateKey { .. })
        ));
        assert!(matches!(
            parse(br#"{"x":{"b":1,"b":1}}"#),
            Err(JsonError::DuplicateKey { .. })
        ));
        let many: String = (0..40).map(|i| format!("\"k{i}\":0,")).collect();
        let doc = format!("{{{many}\"k7\":1}}");
        assert!(matches!(
            parse(doc.as_bytes()),
            Err(JsonError::DuplicateKey { .. })
        ));
    }

    #[test]
    fn keeps_integers_and_floats_apart() {
        let v = parse(b"[1, 1.0, 1e2, -0, 18446744073709551615, -9223372036854775808]").unwrap();
        let Value::Array(items) = v else { panic!() };
        assert_eq!(items[0], Value::Number(Number::from(1i64)));
        assert!(matches!(&items[1], Value::Number(n) if n.is_float()));
        assert!(matches!(&items[2], Value::Number(n) if n.is_float()));
        assert_eq!(items[4], Value::Number(Number::from(u64::MAX)));
    }

    #[test]
    fn refuses_what_cannot_be_canonicalized() {
        assert!(matches!(
            parse(b"18446744073709551616"),
            Err(JsonError::IntegerOutOfRange { .. })
        ));
        assert!(matches!(
            parse(b"-9223372036854775809"),
            Err(JsonError::IntegerOutOfRange { .. })
        ));
        assert!(matches!(
            parse(br#""\ud800""#),
            Err(JsonError::LoneSurrogate { .. })
        ));
        assert!(matches!(
            parse(br#""\udc00x""#),
            Err(JsonError::LoneSurrogate { .. })
        ));
        assert_eq!(
            parse(br#""\ud83d\ude00""#).unwrap(),
            Value::String("😀".into())
        );
        assert!(matches!(
            parse(b"\"\xff\""),
            Err(JsonError::InvalidUtf8 { .. })
        ));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            parse(deep.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
    }

    #[test]
    fn rejects_malformed_documents_without_panicking() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\"}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"tru",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"a\nb\"",
            b"{} {}",
            b"nul",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(matches!(
            parse(b"1e400").unwrap(),
            Value::Number(n) if n.as_f64().is_infinite()
        ));
    }
}
