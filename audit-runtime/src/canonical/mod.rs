//! The canonical bytes of the v1 format: the **only** path from a value to bytes that are hashed
//! or signed.
//!
//! v1 is byte-compatible with `ai-audit-trail` 0.4.x (orjson 3.13 with `OPT_SORT_KEYS`): keys
//! sorted by code point at every depth, compact separators, raw UTF-8, orjson's escapes and float
//! spelling, pydantic's timestamp rendering. It is **not** RFC 8785 (JCS).
//!
//! ```
//! use audit_runtime::canonical;
//! use audit_runtime::{Receipt, ReceiptId, Timestamp};
//! let r = Receipt::new_at("acme", ReceiptId::new("r1"), Timestamp::parse("2026-01-02T03:04:05Z")?);
//! let payload = canonical::seal_payload(&r)?;
//! assert!(payload.starts_with(br#"{"action":"allow","checks":[],"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]

mod hashing;
mod line;

pub use hashing::{canonicalize_input, hash_json, hash_output, hash_state, sha256_hex};
pub use line::{LineError, ParsedLine, parse_line};

pub(crate) use crate::json::to_hex;
use crate::json::{Object, Value, write_f64, write_object_ordered, write_object_sorted, write_str};
use crate::receipt::{CheckRecord, Receipt};

/// A value that the v1 canonical form cannot carry faithfully.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A score, threshold or detail number is NaN or infinite. orjson would write `null`, which
    /// cannot be read back as the same receipt; refuse it instead of sealing a lossy record.
    #[error("{field} is {value}, which has no JSON spelling; use a finite number")]
    NonFinite {
        /// Where the value sits (`checks[0].score`, `checks[1].detail`, …).
        field: String,
        /// The offending value.
        value: f64,
    },
}

/// Appends the v1 seal payload of `r` to `out`.
///
/// # Errors
/// [`CanonicalError::NonFinite`] when a score, threshold or detail number is NaN or infinite.
pub fn write_seal_payload(r: &Receipt, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    check_finite(r)?;
    write_payload_unchecked(r, out);
    Ok(())
}

/// The v1 seal payload of `r`: the bytes that are hashed into `receipt_hash` and signed.
///
/// # Errors
/// [`CanonicalError::NonFinite`] when a score, threshold or detail number is NaN or infinite.
pub fn seal_payload(r: &Receipt) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(1024);
    write_seal_payload(r, &mut out)?;
    Ok(out)
}

/// Appends the payload exactly as orjson would write it, NaN/Inf as `null` (used by verifiers,
/// which must reproduce whatever the writer signed).
pub(crate) fn write_payload_unchecked(r: &Receipt, out: &mut Vec<u8>) {
    write_payload_with_prev(r, &r.prev_receipt_hash, out);
}

/// As [`write_payload_unchecked`], with `prev` in place of `r.prev_receipt_hash` (the sealing
/// pipeline links a receipt without copying it).
pub(crate) fn write_payload_with_prev(r: &Receipt, prev: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"action\":");
    write_str(r.action.as_str(), out);
    out.extend_from_slice(b",\"checks\":[");
    for (i, c) in r.checks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_check_sorted(c, out);
    }
    out.extend_from_slice(b"],\"config_digest\":");
    write_str(&r.config_digest, out);
    out.extend_from_slice(b",\"input_c14n\":");
    write_str(&r.input_c14n, out);
    out.extend_from_slice(b",\"model_id\":");
    write_str(&r.model_id, out);
    out.extend_from_slice(b",\"nist_tags\":");
    write_str_list(&r.nist_tags, out);
    out.extend_from_slice(b",\"output_hash\":");
    write_str(&r.output_hash, out);
    out.extend_from_slice(b",\"prev_receipt_hash\":");
    write_str(prev, out);
    out.extend_from_slice(b",\"reason_codes\":");
    write_str_list(&r.reason_codes, out);
    out.extend_from_slice(b",\"receipt_id\":");
    write_str(r.receipt_id.as_str(), out);
    out.extend_from_slice(b",\"receipt_version\":");
    write_str(&r.receipt_version, out);
    out.extend_from_slice(b",\"session_id\":");
    write_str(r.session_id.as_str(), out);
    out.extend_from_slice(b",\"state_digest\":");
    write_str(&r.state_digest, out);
    out.extend_from_slice(b",\"tenant_id\":");
    write_str(r.tenant_id.as_str(), out);
    out.extend_from_slice(b",\"timestamp\":\"");
    r.timestamp.write_to(out);
    out.extend_from_slice(b"\",\"trace_id\":");
    write_str(r.trace_id.as_str(), out);
    out.push(b'}');
}

fn write_check_sorted(c: &CheckRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"detail\":");
    write_object_sorted(&c.detail, out);
    out.extend_from_slice(b",\"fired\":");
    out.extend_from_slice(if c.fired { b"true" } else { b"false" });
    out.extend_from_slice(b",\"name\":");
    write_str(&c.name, out);
    out.extend_from_slice(b",\"score\":");
    write_f64(c.score, out);
    out.extend_from_slice(b",\"threshold\":");
    write_f64(c.threshold, out);
    out.extend_from_slice(b",\"version\":");
    write_str(&c.version, out);
    out.push(b'}');
}

fn write_check_ordered(c: &CheckRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"name\":");
    write_str(&c.name, out);
    out.extend_from_slice(b",\"version\":");
    write_str(&c.version, out);
    out.extend_from_slice(b",\"score\":");
    write_f64(c.score, out);
    out.extend_from_slice(b",\"threshold\":");
    write_f64(c.threshold, out);
    out.extend_from_slice(b",\"fired\":");
    out.extend_from_slice(if c.fired { b"true" } else { b"false" });
    out.extend_from_slice(b",\"detail\":");
    write_object_ordered(&c.detail, out);
    out.push(b'}');
}

fn write_str_list(items: &[String], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(s, out);
    }
    out.push(b']');
}

/// Appends the JSONL line of a receipt (fields in declaration order, no trailing newline), with
/// the given `receipt_hash` and `signature` strings.
pub fn write_jsonl_line(r: &Receipt, receipt_hash: &str, signature: &str, out: &mut Vec<u8>) {
    write_jsonl_line_with_prev(r, &r.prev_receipt_hash, receipt_hash, signature, out);
}

/// As [`write_jsonl_line`], with `prev` in place of `r.prev_receipt_hash`.
pub(crate) fn write_jsonl_line_with_prev(
    r: &Receipt,
    prev: &str,
    receipt_hash: &str,
    signature: &str,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"receipt_id\":");
    write_str(r.receipt_id.as_str(), out);
    out.extend_from_slice(b",\"receipt_version\":");
    write_str(&r.receipt_version, out);
    out.extend_from_slice(b",\"timestamp\":\"");
    r.timestamp.write_to(out);
    out.extend_from_slice(b"\",\"trace_id\":");
    write_str(r.trace_id.as_str(), out);
    out.extend_from_slice(b",\"session_id\":");
    write_str(r.session_id.as_str(), out);
    out.extend_from_slice(b",\"tenant_id\":");
    write_str(r.tenant_id.as_str(), out);
    out.extend_from_slice(b",\"input_c14n\":");
    write_str(&r.input_c14n, out);
    out.extend_from_slice(b",\"state_digest\":");
    write_str(&r.state_digest, out);
    out.extend_from_slice(b",\"output_hash\":");
    write_str(&r.output_hash, out);
    out.extend_from_slice(b",\"checks\":[");
    for (i, c) in r.checks.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_check_ordered(c, out);
    }
    out.extend_from_slice(b"],\"action\":");
    write_str(r.action.as_str(), out);
    out.extend_from_slice(b",\"reason_codes\":");
    write_str_list(&r.reason_codes, out);
    out.extend_from_slice(b",\"nist_tags\":");
    write_str_list(&r.nist_tags, out);
    out.extend_from_slice(b",\"model_id\":");
    write_str(&r.model_id, out);
    out.extend_from_slice(b",\"config_digest\":");
    write_str(&r.config_digest, out);
    out.extend_from_slice(b",\"prev_receipt_hash\":");
    write_str(prev, out);
    out.extend_from_slice(b",\"receipt_hash\":");
    write_str(receipt_hash, out);
    out.extend_from_slice(b",\"signature\":");
    write_str(signature, out);
    out.push(b'}');
}

/// Appends a value with keys sorted recursively (the rule `hash_json` and the payload use).
pub fn write_canonical_value(v: &Value, out: &mut Vec<u8>) {
    crate::json::write_value_sorted(v, out);
}

/// Appends a value with keys in insertion order (compact, orjson escapes).
pub fn write_ordered_value(v: &Value, out: &mut Vec<u8>) {
    crate::json::write_value_ordered(v, out);
}

/// Checks that every number of `r` has a JSON spelling (no NaN or infinity).
///
/// # Errors
/// [`CanonicalError::NonFinite`].
pub(crate) fn check_finite(r: &Receipt) -> Result<(), CanonicalError> {
    for (i, c) in r.checks.iter().enumerate() {
        for (name, x) in [("score", c.score), ("threshold", c.threshold)] {
            if !x.is_finite() {
                return Err(CanonicalError::NonFinite {
                    field: format!("checks[{i}].{name}"),
                    value: x,
                });
            }
        }
        if let Some(x) = first_non_finite_in(&c.detail) {
            return Err(CanonicalError::NonFinite {
                field: format!("checks[{i}].detail"),
                value: x,
            });
        }
    }
    Ok(())
}

fn first_non_finite_in(o: &Object) -> Option<f64> {
    o.iter().find_map(|(_, v)| first_non_finite(v))
}

fn first_non_finite(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) if n.is_float() && !n.as_f64().is_finite() => Some(n.as_f64()),
        Value::Array(items) => items.iter().find_map(first_non_finite),
        Value::Object(o) => first_non_finite_in(o),
        _ => None,
    }
}
