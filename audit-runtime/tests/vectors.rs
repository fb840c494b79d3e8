//! Byte compatibility with the Python library, over the vectors it produced
//! (`../shared/vectors`, made by ai-audit-trail 0.4.7 with the seed 01×32).

#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::io::Read as _;
use std::path::PathBuf;

use audit_runtime::canonical::{
    self, canonicalize_input, hash_json, hash_output, hash_state, parse_line,
};
use audit_runtime::json::{Number, Object, Value};
use audit_runtime::verify::{FindingKind, VerifyOptions, verify_jsonl};
use audit_runtime::{SigningKey, VerifyingKey, seal};

const PK: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

fn vectors() -> PathBuf {
    std::env::var_os("AI_AUDIT_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
        PathBuf::from,
    )
}

fn key() -> SigningKey {
    SigningKey::from_hex(&"01".repeat(32)).unwrap()
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(vectors().join(name)).unwrap()).unwrap()
}

fn receipts_file() -> Vec<u8> {
    std::fs::read(vectors().join("receipts.jsonl")).unwrap()
}

#[test]
fn every_vector_receipt_reseals_byte_for_byte() {
    let data = receipts_file();
    let key = key();
    let mut n = 0;
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let parsed = parse_line(line).unwrap();
        assert_eq!(parsed.non_canonical_at, None, "line {n} not canonical");
        let sealed = seal(parsed.receipt.clone(), &key).unwrap();
        assert_eq!(
            sealed.receipt_hash_hex(),
            parsed.receipt_hash,
            "hash of line {n}"
        );
        assert_eq!(
            sealed.signature_hex(),
            parsed.signature,
            "signature of line {n}"
        );
        assert_eq!(sealed.to_jsonl_line(), line, "JSONL of line {n}");
        n += 1;
    }
    assert_eq!(n, 1000);
}

#[test]
fn seal_payloads_equal_the_first_five_vectors() {
    let v = json("first5_seal_payloads.json");
    let key = key();
    for r in v["receipts"].as_array().unwrap() {
        let line = r["jsonl_line_utf8"].as_str().unwrap().as_bytes();
        let parsed = parse_line(line).unwrap();
        let payload = canonical::seal_payload(&parsed.receipt).unwrap();
        assert_eq!(
            String::from_utf8(payload.clone()).unwrap(),
            r["seal_payload_utf8"].as_str().unwrap()
        );
        assert_eq!(
            payload.len() as u64,
            r["seal_payload_len"].as_u64().unwrap()
        );
        assert_eq!(
            canonical::sha256_hex(&payload),
            r["receipt_hash"].as_str().unwrap()
        );
        let sealed = seal(parsed.receipt, &key).unwrap();
        assert_eq!(sealed.signature_hex(), r["signature"].as_str().unwrap());
    }
}

#[test]
fn the_documented_worked_example_is_reproduced() {
    let mut detail = Object::new();
    detail.insert(
        "z",
        Value::Array(vec![
            Value::Number(Number::from(1i64)),
            Value::from(2.5),
            Value::Null,
        ]),
    );
    detail.insert("Ä", "ü😀");
    let r = audit_runtime::Receipt::new_at(
        "acme",
        audit_runtime::ReceiptId::new("00000000000000000000000000000001"),
        audit_runtime::Timestamp::parse("2026-01-02T03:04:05.120000Z").unwrap(),
    )
    .with_trace("req-1")
    .with_action(audit_runtime::Action::Reject)
    .with_check(
        audit_runtime::CheckRecord::new("safety", 1.0, 0.00001)
            .with_fired(true)
            .with_detail(detail),
    );
    let payload = canonical::seal_payload(&r).unwrap();
    assert_eq!(
        String::from_utf8(payload).unwrap(),
        r#"{"action":"reject","checks":[{"detail":{"z":[1,2.5,null],"Ä":"ü😀"},"fired":true,"name":"safety","score":1.0,"threshold":0.00001,"version":"1.0"}],"config_digest":"","input_c14n":"","model_id":"","nist_tags":[],"output_hash":"","prev_receipt_hash":"","reason_codes":[],"receipt_id":"00000000000000000000000000000001","receipt_version":"1.0","session_id":"","state_digest":"","tenant_id":"acme","timestamp":"2026-01-02T03:04:05.120000Z","trace_id":"req-1"}"#
    );
    let sealed = seal(r, &key()).unwrap();
    assert_eq!(
        sealed.receipt_hash_hex(),
        "5a12e7a652688a0bf775d0526df5e6d75bd12aad7dc53983534a76e3fa47c5a1"
    );
    assert_eq!(
        sealed.signature_hex(),
        "d3f412a5dcd323ef6077e3cecae6fd31db2a7929e0cd13954e4f3993f04b8e1808bcca11ecd5f21916f0cf807148ac516aa52dd5de0c7f9f6dfb0a967ab9030e"
    );
}

#[test]
fn hashing_helpers_equal_misc_vectors() {
    let v = json("misc_vectors.json");
    for (text, want) in v["canonicalize_input"].as_object().unwrap() {
        assert_eq!(canonicalize_input(text), want.as_str().unwrap(), "{text:?}");
    }
    for (text, want) in v["hash_output"].as_object().unwrap() {
        assert_eq!(hash_output(text), want.as_str().unwrap(), "{text:?}");
    }
    for (joined, want) in v["hash_state"].as_object().unwrap() {
        let parts: Vec<&str> = joined.split('|').collect();
        assert_eq!(hash_state(&parts), want.as_str().unwrap(), "{joined:?}");
    }
    let hj = &v["hash_json"];
    // The input is a JSON object; parse it with our parser so integer/float spelling is kept.
    let input_text = serde_json::to_string(&hj["input"]).unwrap();
    let value = audit_runtime::json::parse(input_text.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    canonical::write_canonical_value(&value, &mut bytes);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        hj["bytes"].as_str().unwrap()
    );
    assert_eq!(hash_json(&value), hj["sha256"].as_str().unwrap());
}

#[test]
fn genuine_receipts_pass_under_the_pinned_key() {
    let opts = VerifyOptions::pinned(VerifyingKey::from_hex(PK).unwrap());
    let report = verify_jsonl(&receipts_file()[..], &opts).unwrap();
    assert!(report.is_pass(), "{:?}", report.findings);
    assert_eq!(report.receipts, 1000);
    assert_eq!(report.signatures_verified, 1000);
    assert_eq!(report.tenant.as_ref().unwrap().as_str(), "acme");
}

fn bundle_receipts(name: &str) -> Vec<u8> {
    let file = std::fs::File::open(vectors().join(name)).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut out = Vec::new();
    zip.by_name("receipts.jsonl")
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn verify_bundle_receipts(name: &str) -> audit_runtime::VerificationReport {
    let opts = VerifyOptions::pinned(VerifyingKey::from_hex(PK).unwrap());
    verify_jsonl(&bundle_receipts(name)[..], &opts).unwrap()
}

#[test]
fn field_edit_fails_self_hash_and_signature_at_index_100() {
    let r = verify_bundle_receipts("tampered_field_edit.zip");
    assert!(!r.is_pass());
    let id = "bbdea9ecca37c7c32103b22936a7cdea";
    for kind in [FindingKind::SelfHash, FindingKind::Signature] {
        let f = r.first(kind).unwrap();
        assert_eq!(f.index, Some(100));
        assert_eq!(f.receipt_id.as_deref(), Some(id));
    }
    assert_eq!(r.findings_total, 2, "{:?}", r.findings);
}

#[test]
fn stale_manifest_variant_fails_at_index_100_too() {
    let r = verify_bundle_receipts("tampered_field_edit_stale_manifest.zip");
    assert_eq!(r.first(FindingKind::Signature).unwrap().index, Some(100));
}

#[test]
fn deleted_middle_breaks_the_link_at_index_500() {
    let r = verify_bundle_receipts("tampered_deleted_middle.zip");
    let f = r.first(FindingKind::Link).unwrap();
    assert_eq!(f.index, Some(500));
    assert_eq!(
        f.receipt_id.as_deref(),
        Some("20bade0745d42c11d752b6962edfabde")
    );
    assert_eq!(r.findings_total, 1);
    assert_eq!(r.receipts, 999);
}

#[test]
fn deleted_first_fails_the_genesis_rule() {
    let r = verify_bundle_receipts("tampered_deleted_first.zip");
    let f = r.first(FindingKind::Genesis).unwrap();
    assert_eq!(f.index, Some(0));
    assert_eq!(r.findings_total, 1);
}

#[test]
fn swapped_lines_fail_by_file_order() {
    let r = verify_bundle_receipts("tampered_swapped.zip");
    let f = r.first(FindingKind::Link).unwrap();
    assert_eq!(f.index, Some(200));
    assert!(r.counts[&FindingKind::Link] >= 2);
    // Rebuilding order from the links undoes the swap: the links themselves are intact.
    let opts = VerifyOptions::pinned(VerifyingKey::from_hex(PK).unwrap()).with_rebuild_order(true);
    let rebuilt = verify_jsonl(&bundle_receipts("tampered_swapped.zip")[..], &opts).unwrap();
    assert!(rebuilt.is_pass(), "{:?}", rebuilt.findings);
}

#[test]
fn attacker_resigned_bundle_fails_every_signature_under_the_pinned_key() {
    let r = verify_bundle_receipts("resigned_attacker_key.zip");
    let f = r.first(FindingKind::Signature).unwrap();
    assert_eq!(f.index, Some(0));
    assert_eq!(
        f.receipt_id.as_deref(),
        Some("f39f0abf1b8b3bf488787ca4e20fcaa0")
    );
    assert_eq!(r.counts[&FindingKind::Signature], 1000);
    assert_eq!(r.signatures_verified, 0);
    // Under the attacker's own key it is internally consistent: only pinning catches it.
    let attacker = SigningKey::from_hex(&"02".repeat(32))
        .unwrap()
        .verifying_key();
    let r2 = verify_jsonl(
        &bundle_receipts("resigned_attacker_key.zip")[..],
        &VerifyOptions::pinned(attacker),
    )
    .unwrap();
    assert!(r2.is_pass());
}

#[test]
fn deleted_tail_is_a_valid_prefix_and_reports_count_and_tip() {
    let r = verify_bundle_receipts("tampered_deleted_last10.zip");
    assert!(r.is_pass());
    assert_eq!(r.receipts, 990);
    let full = verify_jsonl(
        &receipts_file()[..],
        &VerifyOptions::pinned(VerifyingKey::from_hex(PK).unwrap()),
    )
    .unwrap();
    assert_ne!(
        r.tip, full.tip,
        "the tip hash tells the truncated file apart"
    );
}
