//! Strict parsing of v1 JSONL receipt lines (weakness W11 of the Python library).
//!
//! A line is accepted as a receipt only if it is one JSON object with exactly the v1 fields, no
//! duplicate keys, and the JSON type each field has in the format. Separately, [`ParsedLine`]
//! says whether the line is spelled exactly as the canonical writer spells it; a verifier reports
//! a line that is not (another timestamp spelling, whitespace, `1` for `1.0`, escaped non-ASCII…),
//! because such bytes are not the bytes that were written when the receipt was sealed.

use super::parse::{JsonError, parse};
use super::value::{Object, Value};
use super::write_jsonl_line;
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

fn want_string(path: &str, v: Value) -> Result<String, LineError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(LineError::WrongType {
            path: path.to_owned(),
            expected: "a string",
            found: type_name(&other),
        }),
    }
}

fn want_string_list(path: &str, v: Value) -> Result<Vec<String>, LineError> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| want_string(&format!("{path}[{i}]"), item))
            .collect(),
        other => Err(LineError::WrongType {
            path: path.to_owned(),
            expected: "an array of strings",
            found: type_name(&other),
        }),
    }
}

fn want_number(path: &str, v: &Value) -> Result<f64, LineError> {
    match v {
        Value::Number(n) => Ok(n.as_f64()),
        other => Err(LineError::WrongType {
            path: path.to_owned(),
            expected: "a number",
            found: type_name(other),
        }),
    }
}

fn want_object(path: &str, v: Value) -> Result<Object, LineError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(LineError::WrongType {
            path: path.to_owned(),
            expected: "an object",
            found: type_name(&other),
        }),
    }
}

fn missing(path: &str) -> LineError {
    LineError::MissingField {
        path: path.to_owned(),
    }
}

fn parse_check(index: usize, v: Value) -> Result<CheckRecord, LineError> {
    let base = format!("checks[{index}]");
    let obj = want_object(&base, v)?;
    let (mut name, mut version, mut score, mut threshold, mut fired, mut detail) =
        (None, None, None, None, None, None);
    for (k, v) in obj.into_entries() {
        let path = format!("{base}.{k}");
        match k.as_str() {
            "name" => name = Some(want_string(&path, v)?),
            "version" => version = Some(want_string(&path, v)?),
            "score" => score = Some(want_number(&path, &v)?),
            "threshold" => threshold = Some(want_number(&path, &v)?),
            "fired" => match v {
                Value::Bool(b) => fired = Some(b),
                other => {
                    return Err(LineError::WrongType {
                        path,
                        expected: "a boolean",
                        found: type_name(&other),
                    });
                }
            },
            "detail" => detail = Some(want_object(&path, v)?),
            _ => return Err(LineError::UnknownField { path }),
        }
    }
    Ok(CheckRecord {
        name: name.ok_or_else(|| missing(&format!("{base}.name")))?,
        version: version.ok_or_else(|| missing(&format!("{base}.version")))?,
        score: score.ok_or_else(|| missing(&format!("{base}.score")))?,
        threshold: threshold.ok_or_else(|| missing(&format!("{base}.threshold")))?,
        fired: fired.ok_or_else(|| missing(&format!("{base}.fired")))?,
        detail: detail.ok_or_else(|| missing(&format!("{base}.detail")))?,
    })
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
    let root = parse(line)?;
    let Value::Object(obj) = root else {
        return Err(LineError::NotAnObject {
            found: type_name(&root),
        });
    };
    let mut f: [Option<Value>; 18] = Default::default();
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
    for (k, v) in obj.into_entries() {
        let Some(slot) = NAMES
            .iter()
            .position(|n| *n == k)
            .and_then(|i| f.get_mut(i))
        else {
            return Err(LineError::UnknownField { path: k });
        };
        *slot = Some(v);
    }
    let mut take = |i: usize| -> Result<Value, LineError> {
        f.get_mut(i)
            .and_then(Option::take)
            .ok_or_else(|| missing(NAMES.get(i).copied().unwrap_or("?")))
    };
    let s = |i: usize, v: Value| want_string(NAMES.get(i).copied().unwrap_or("?"), v);

    let receipt_id = s(0, take(0)?)?;
    let receipt_version = s(1, take(1)?)?;
    let timestamp = s(2, take(2)?)?;
    let trace_id = s(3, take(3)?)?;
    let session_id = s(4, take(4)?)?;
    let tenant_id = s(5, take(5)?)?;
    let input_c14n = s(6, take(6)?)?;
    let state_digest = s(7, take(7)?)?;
    let output_hash = s(8, take(8)?)?;
    let checks = match take(9)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| parse_check(i, v))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(LineError::WrongType {
                path: "checks".into(),
                expected: "an array of objects",
                found: type_name(&other),
            });
        }
    };
    let action_text = s(10, take(10)?)?;
    let reason_codes = want_string_list("reason_codes", take(11)?)?;
    let nist_tags = want_string_list("nist_tags", take(12)?)?;
    let model_id = s(13, take(13)?)?;
    let config_digest = s(14, take(14)?)?;
    let prev_receipt_hash = s(15, take(15)?)?;
    let receipt_hash = s(16, take(16)?)?;
    let signature = s(17, take(17)?)?;

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
