//! Strict parsing of v1 JSONL receipt lines (weakness W11 of the Python library).
//!
//! A line is accepted as a receipt only if it is one JSON object with exactly the v1 fields, no
//! duplicate keys, and the JSON type each field has in the format. Separately, [`ParsedLine`]
//! says whether the line is spelled exactly as the canonical writer spells it; a verifier reports
//! a line that is not (another timestamp spelling, whitespace, `1` for `1.0`, escaped non-ASCII…),
//! because such bytes are not the bytes that were written when the receipt was sealed.

use super::write_jsonl_line;
use crate::json::{JsonError, Object, Parser, Value};
use crate::receipt::{
    Action, CheckRecord, RECEIPT_VERSION, Receipt, ReceiptId, SessionId, TenantId, Timestamp,
    TimestampError, TraceId,
};

/// Why a line is not a well-formed v1 receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not JSON (or is JSON the canonical form cannot carry).
    #[error(transparent)]
    Json(#[from] JsonError),
    /// The line is JSON but not an object.
    #[error("a receipt line must be a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type found.
        found: &'static str,
    },
    /// A field the v1 format does not have: it would not be covered by the signature.
    #[error(
        "unknown field {path:?}: it is not part of a v1 receipt and is not covered by the signature"
    )]
    UnknownField {
        /// Where the field is (`approved_by_human`, `checks[0].extra`).
        path: String,
    },
    /// A field the v1 format requires is absent.
    #[error("missing field {path:?}")]
    MissingField {
        /// Where the field should be.
        path: String,
    },
    /// A field has the wrong JSON type (`"0.0"` for a number, `"false"` for a boolean, …).
    #[error("field {path:?} must be {expected}, found {found}")]
    WrongType {
        /// The field.
        path: String,
        /// The JSON type the format requires.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// The timestamp is not in the v1 shape.
    #[error("field \"timestamp\": {0}")]
    Timestamp(#[from] TimestampError),
    /// The action is not one of the six.
    #[error(
        "field \"action\": unknown action {0:?}; expected allow, reject, fail_retry, cache_hit, escalate or bypass"
    )]
    UnknownAction(String),
    /// `receipt_version` is not `"1.0"`.
    #[error("receipt_version {0:?} is not supported by this v1 reader")]
    UnsupportedVersion(String),
}

/// A line that parsed as a v1 receipt. Nothing about it has been verified yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine {
    /// The receipt's payload fields.
    pub receipt: Receipt,
    /// The `receipt_hash` the line claims (not yet checked).
    pub receipt_hash: String,
    /// The `signature` the line claims (not yet checked).
    pub signature: String,
    /// `None` if the line is byte-identical to its canonical JSONL rendering; otherwise the byte
    /// offset of the first difference.
    pub non_canonical_at: Option<usize>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_float() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The JSON type of the next value, for messages (consumes it).
fn next_type(p: &mut Parser<'_>, depth: usize) -> Result<&'static str, LineError> {
    Ok(type_name(&p.value(depth)?))
}

fn wrong(path: impl Into<String>, expected: &'static str, found: &'static str) -> LineError {
    LineError::WrongType {
        path: path.into(),
        expected,
        found,
    }
}

/// `path` names the field in an error; it is only called then (formatting it for every field
/// showed up in verification profiles).
fn string_at(
    p: &mut Parser<'_>,
    path: &dyn Fn() -> String,
    depth: usize,
) -> Result<String, LineError> {
    p.skip_ws();
    if p.peek() == Some(b'"') {
        Ok(p.string()?)
    } else {
        Err(wrong(path(), "a string", next_type(p, depth)?))
    }
}

fn string_list_at(
    p: &mut Parser<'_>,
    path: &dyn Fn() -> String,
    depth: usize,
) -> Result<Vec<String>, LineError> {
    p.skip_ws();
    if p.peek() != Some(b'[') {
        return Err(wrong(path(), "an array of strings", next_type(p, depth)?));
    }
    p.pos += 1;
    let mut out = Vec::new();
    p.skip_ws();
    if p.peek() == Some(b']') {
        p.pos += 1;
        return Ok(out);
    }
    loop {
        let i = out.len();
        out.push(string_at(p, &|| format!("{}[{i}]", path()), depth + 1)?);
        p.skip_ws();
        match p.peek() {
            Some(b',') => p.pos += 1,
            Some(b']') => {
                p.pos += 1;
                return Ok(out);
            }
            _ => return Err(p.syntax("expected ',' or ']' in array").into()),
        }
    }
}

fn number_at(
    p: &mut Parser<'_>,
    path: &dyn Fn() -> String,
    depth: usize,
) -> Result<f64, LineError> {
    p.skip_ws();
    match p.peek() {
        Some(b'-' | b'0'..=b'9') => Ok(p.number()?.as_f64()),
        _ => Err(wrong(path(), "a number", next_type(p, depth)?)),
    }
}

/// Walks the members of an object: calls `f(parser, key, key_offset)` for each, with the parser
/// positioned at the value. Rejects duplicate keys among `names` (tracked in a bit mask).
fn members<'a>(
    p: &mut Parser<'a>,
    names: &[&str],
    mut f: impl FnMut(&mut Parser<'a>, usize, &str) -> Result<(), LineError>,
    unknown: impl Fn(&str) -> LineError,
) -> Result<u32, LineError> {
    p.expect(b'{', "expected '{'")?;
    let mut seen = 0u32;
    p.skip_ws();
    if p.peek() == Some(b'}') {
        p.pos += 1;
        return Ok(seen);
    }
    loop {
        p.skip_ws();
        let key_offset = p.pos;
        let key = p.key()?;
        let Some(i) = names.iter().position(|n| *n == key) else {
            return Err(unknown(&key));
        };
        if seen & (1 << i) != 0 {
            return Err(JsonError::DuplicateKey {
                key: key.into_owned(),
                offset: key_offset,
            }
            .into());
        }
        seen |= 1 << i;
        p.expect(b':', "expected ':' after an object key")?;
        p.skip_ws();
        f(p, i, &key)?;
        p.skip_ws();
        match p.peek() {
            Some(b',') => p.pos += 1,
            Some(b'}') => {
                p.pos += 1;
                return Ok(seen);
            }
            _ => return Err(p.syntax("expected ',' or '}' in object").into()),
        }
    }
}

const CHECK_FIELDS: [&str; 6] = ["name", "version", "score", "threshold", "fired", "detail"];

fn check_at(p: &mut Parser<'_>, index: usize) -> Result<CheckRecord, LineError> {
    let base = || format!("checks[{index}]");
    p.skip_ws();
    if p.peek() != Some(b'{') {
        return Err(wrong(base(), "an object", next_type(p, 3)?));
    }
    let mut c = CheckRecord {
        name: String::new(),
        version: String::new(),
        score: 0.0,
        threshold: 0.0,
        fired: false,
        detail: Object::new(),
    };
    let seen = members(
        p,
        &CHECK_FIELDS,
        |p, i, key| {
            let path = || format!("{}.{key}", base());
            match i {
                0 => c.name = string_at(p, &path, 4)?,
                1 => c.version = string_at(p, &path, 4)?,
                2 => c.score = number_at(p, &path, 4)?,
                3 => c.threshold = number_at(p, &path, 4)?,
                4 => match p.peek() {
                    Some(b't') => {
                        c.fired = p.expect_lit(b"true", Value::Bool(true)).map(|_| true)?
                    }
                    Some(b'f') => {
                        c.fired = p.expect_lit(b"false", Value::Bool(false)).map(|_| false)?;
                    }
                    _ => return Err(wrong(path(), "a boolean", next_type(p, 4)?)),
                },
                _ => {
                    if p.peek() != Some(b'{') {
                        return Err(wrong(path(), "an object", next_type(p, 4)?));
                    }
                    c.detail = p.object(4)?;
                }
            }
            Ok(())
        },
        |k| LineError::UnknownField {
            path: format!("{}.{k}", base()),
        },
    )?;
    if let Some(missing_i) = (0..CHECK_FIELDS.len()).find(|i| seen & (1 << i) == 0) {
        return Err(missing(&format!(
            "{}.{}",
            base(),
            CHECK_FIELDS.get(missing_i).copied().unwrap_or("?")
        )));
    }
    Ok(c)
}

const NAMES: [&str; 18] = [
    "receipt_id",
    "receipt_version",
    "timestamp",
    "trace_id",
    "session_id",
    "tenant_id",
    "input_c14n",
    "state_digest",
    "output_hash",
    "checks",
    "action",
    "reason_codes",
    "nist_tags",
    "model_id",
    "config_digest",
    "prev_receipt_hash",
    "receipt_hash",
    "signature",
];

fn missing(path: &str) -> LineError {
    LineError::MissingField {
        path: path.to_owned(),
    }
}

/// Parses one JSONL line (without its `\n`) strictly into a v1 receipt.
///
/// ```
/// use audit_runtime::canonical::{parse_line, LineError};
/// let err = parse_line(br#"{"receipt_id":"a","receipt_id":"b"}"#).unwrap_err();
/// assert!(matches!(err, LineError::Json(_)));
/// ```
///
/// # Errors
/// [`LineError`] when the line is not a well-formed v1 receipt.
pub fn parse_line(line: &[u8]) -> Result<ParsedLine, LineError> {
    let mut p = Parser::new(line)?;
    p.skip_ws();
    match p.peek() {
        Some(b'{') => {}
        Some(_) => {
            return Err(LineError::NotAnObject {
                found: next_type(&mut p, 0)?,
            });
        }
        None => return Err(p.syntax("unexpected end of input").into()),
    }
    let mut strings: [String; 18] = Default::default();
    let mut checks = Vec::new();
    let mut reason_codes = Vec::new();
    let mut nist_tags = Vec::new();
    let seen = members(
        &mut p,
        &NAMES,
        |p, i, key| {
            match i {
                9 => {
                    if p.peek() != Some(b'[') {
                        return Err(wrong("checks", "an array of objects", next_type(p, 1)?));
                    }
                    p.pos += 1;
                    p.skip_ws();
                    if p.peek() == Some(b']') {
                        p.pos += 1;
                        return Ok(());
                    }
                    loop {
                        checks.push(check_at(p, checks.len())?);
                        p.skip_ws();
                        match p.peek() {
                            Some(b',') => p.pos += 1,
                            Some(b']') => {
                                p.pos += 1;
                                return Ok(());
                            }
                            _ => return Err(p.syntax("expected ',' or ']' in array").into()),
                        }
                    }
                }
                11 => reason_codes = string_list_at(p, &|| key.to_owned(), 1)?,
                12 => nist_tags = string_list_at(p, &|| key.to_owned(), 1)?,
                _ => {
                    if let Some(slot) = strings.get_mut(i) {
                        *slot = string_at(p, &|| key.to_owned(), 1)?;
                    }
                }
            }
            Ok(())
        },
        |k| LineError::UnknownField {
            path: k.chars().take(64).collect(),
        },
    )?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.syntax("trailing characters after the JSON value").into());
    }
    if let Some(i) = (0..NAMES.len()).find(|i| seen & (1 << i) == 0) {
        return Err(missing(NAMES.get(i).copied().unwrap_or("?")));
    }
    let [
        receipt_id,
        receipt_version,
        timestamp,
        trace_id,
        session_id,
        tenant_id,
        input_c14n,
        state_digest,
        output_hash,
        _,
        action_text,
        _,
        _,
        model_id,
        config_digest,
        prev_receipt_hash,
        receipt_hash,
        signature,
    ] = strings;

    if receipt_version != RECEIPT_VERSION {
        return Err(LineError::UnsupportedVersion(
            receipt_version.chars().take(64).collect(),
        ));
    }
    let action: Action = action_text
        .parse()
        .map_err(|_| LineError::UnknownAction(action_text.chars().take(64).collect()))?;
    let timestamp = Timestamp::parse(&timestamp)?;

    let receipt = Receipt {
        receipt_id: ReceiptId::new(receipt_id),
        receipt_version,
        timestamp,
        trace_id: TraceId::new(trace_id),
        session_id: SessionId::new(session_id),
        tenant_id: TenantId::new(tenant_id),
        input_c14n,
        state_digest,
        output_hash,
        checks,
        action,
        reason_codes,
        nist_tags,
        model_id,
        config_digest,
        prev_receipt_hash,
    };
    let mut rendered = Vec::with_capacity(line.len());
    write_jsonl_line(&receipt, &receipt_hash, &signature, &mut rendered);
    let non_canonical_at = if rendered == line {
        None
    } else {
        Some(
            rendered
                .iter()
                .zip(line)
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| rendered.len().min(line.len())),
        )
    };
    Ok(ParsedLine {
        receipt,
        receipt_hash,
        signature,
        non_canonical_at,
    })
}
