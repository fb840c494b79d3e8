//! Strict parsing of receipt lines (weakness W11 of the Python library): every malleability the
//! Python verifier accepts is a finding here.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::PathBuf;

use audit_runtime::VerifyingKey;
use audit_runtime::canonical::{LineError, parse_line};
use audit_runtime::json::JsonError;
use audit_runtime::verify::{FindingKind, VerifyOptions, verify_jsonl};

fn first_line() -> String {
    let p = std::env::var_os("AI_AUDIT_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
        PathBuf::from,
    );
    let data = std::fs::read_to_string(p.join("receipts.jsonl")).unwrap();
    data.lines().nth(1).unwrap().to_owned()
}

fn finding(line: &str) -> FindingKind {
    let key =
        VerifyingKey::from_hex("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
            .unwrap();
    // The second vector receipt is checked alone, with its predecessor as anchor.
    let parsed = parse_line(first_line().as_bytes()).unwrap();
    let opts = VerifyOptions::pinned(key).with_anchor(parsed.receipt.prev_receipt_hash);
    let r = verify_jsonl(format!("{line}\n").as_bytes(), &opts).unwrap();
    assert!(!r.is_pass(), "{line}");
    r.findings[0].kind
}

#[test]
fn the_genuine_line_parses_canonically_and_verifies() {
    let line = first_line();
    let p = parse_line(line.as_bytes()).unwrap();
    assert_eq!(p.non_canonical_at, None);
    let key =
        VerifyingKey::from_hex("8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")
            .unwrap();
    let opts = VerifyOptions::pinned(key).with_anchor(p.receipt.prev_receipt_hash);
    assert!(
        verify_jsonl(format!("{line}\n").as_bytes(), &opts)
            .unwrap()
            .is_pass()
    );
}

#[test]
fn an_unsigned_extra_field_is_refused() {
    let line = first_line();
    let bad = format!("{},\"approved_by_human\":true}}", &line[..line.len() - 1]);
    assert!(
        matches!(parse_line(bad.as_bytes()), Err(LineError::UnknownField { path }) if path == "approved_by_human")
    );
    assert_eq!(finding(&bad), FindingKind::Parse);
    let bad = line.replacen("\"fired\":", "\"extra\":1,\"fired\":", 1);
    assert!(
        matches!(parse_line(bad.as_bytes()), Err(LineError::UnknownField { path }) if path == "checks[0].extra")
    );
}

#[test]
fn duplicate_keys_are_refused_at_every_depth() {
    let line = first_line();
    let bad = line.replacen("\"action\":", "\"action\":\"escalate\",\"action\":", 1);
    assert!(matches!(
        parse_line(bad.as_bytes()),
        Err(LineError::Json(JsonError::DuplicateKey { key, .. })) if key == "action"
    ));
    let bad = line.replacen("\"score\":", "\"score\":0.5,\"score\":", 1);
    assert!(matches!(
        parse_line(bad.as_bytes()),
        Err(LineError::Json(JsonError::DuplicateKey { .. }))
    ));
    let bad = line.replacen("\"detail\":{", "\"detail\":{\"k\":1,\"k\":2,", 1);
    assert!(matches!(
        parse_line(bad.as_bytes()),
        Err(LineError::Json(JsonError::DuplicateKey { .. }))
    ));
    assert_eq!(finding(&bad), FindingKind::Parse);
}

#[test]
fn coerced_types_are_refused() {
    let line = first_line();
    let p = parse_line(line.as_bytes()).unwrap();
    let score = canonical_score(p.receipt.checks[0].score);
    let bad = line.replacen(
        &format!("\"score\":{score}"),
        &format!("\"score\":\"{score}\""),
        1,
    );
    assert!(
        matches!(parse_line(bad.as_bytes()), Err(LineError::WrongType { path, .. }) if path == "checks[0].score"),
        "{bad}"
    );
    let fired = p.receipt.checks[0].fired;
    let bad = line.replacen(
        &format!("\"fired\":{fired}"),
        &format!("\"fired\":\"{fired}\""),
        1,
    );
    assert!(
        matches!(parse_line(bad.as_bytes()), Err(LineError::WrongType { path, .. }) if path == "checks[0].fired")
    );
    let bad = line.replacen("\"trace_id\":\"", "\"trace_id\":1,\"x\":\"", 1);
    assert!(parse_line(bad.as_bytes()).is_err());
}

fn canonical_score(x: f64) -> String {
    audit_runtime::json::format_f64(x)
}

#[test]
fn other_timestamp_spellings_are_findings() {
    let line = first_line();
    let p = parse_line(line.as_bytes()).unwrap();
    let ts = p.receipt.timestamp.to_string();
    assert!(ts.ends_with('Z'));
    // +00:00 parses to the same instant but is not the bytes that were sealed.
    let alt = line.replacen(&ts, &ts.replace('Z', "+00:00"), 1);
    assert!(
        parse_line(alt.as_bytes())
            .unwrap()
            .non_canonical_at
            .is_some()
    );
    assert_eq!(finding(&alt), FindingKind::NonCanonical);
    // A unix number is the wrong type.
    let unix = line.replacen(&format!("\"{ts}\""), "1772366400.5", 1);
    assert!(
        matches!(parse_line(unix.as_bytes()), Err(LineError::WrongType { path, .. }) if path == "timestamp")
    );
}

#[test]
fn missing_fields_and_other_versions_are_refused() {
    let line = first_line();
    let start = line.find("\"model_id\":").unwrap();
    let end = start + line[start..].find("\",\"").unwrap() + 2;
    let bad = format!("{}{}", &line[..start], &line[end..]);
    assert!(
        matches!(parse_line(bad.as_bytes()), Err(LineError::MissingField { path }) if path == "model_id"),
        "{bad}"
    );
    let bad = line.replacen(
        "\"receipt_version\":\"1.0\"",
        "\"receipt_version\":\"2.0\"",
        1,
    );
    assert!(matches!(
        parse_line(bad.as_bytes()),
        Err(LineError::UnsupportedVersion(_))
    ));
    let bad = line.replacen("\"action\":\"", "\"action\":\"approve_", 1);
    assert!(matches!(
        parse_line(bad.as_bytes()),
        Err(LineError::UnknownAction(_))
    ));
}

#[test]
fn whitespace_and_escaped_spellings_are_non_canonical() {
    let line = first_line();
    let spaced = line.replacen("\"action\":", "\"action\": ", 1);
    assert!(
        parse_line(spaced.as_bytes())
            .unwrap()
            .non_canonical_at
            .is_some()
    );
    let escaped = line.replacen("\"acme\"", "\"\\u0061cme\"", 1);
    assert!(
        parse_line(escaped.as_bytes())
            .unwrap()
            .non_canonical_at
            .is_some()
    );
    assert_eq!(finding(&escaped), FindingKind::NonCanonical);
}

#[test]
fn not_an_object_and_garbage_are_parse_errors() {
    for bad in ["[]", "\"x\"", "", "{", "{}", "{\"receipt_id\":}", "nul"] {
        assert!(parse_line(bad.as_bytes()).is_err(), "{bad}");
    }
    assert!(matches!(
        parse_line(b"{}"),
        Err(LineError::MissingField { .. })
    ));
    assert!(matches!(
        parse_line(b"[1]"),
        Err(LineError::NotAnObject { found: "an array" })
    ));
}
