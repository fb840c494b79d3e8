//! Bundles we export pass our verifier; partial exports need their anchor.
#![expect(clippy::unwrap_used, reason = "test fixtures")]

use std::io::Cursor;

use audit_runtime::bundle::{Anchor, EvidenceWriter, ExportMeta};
use audit_runtime::verify::{FindingKind, VerifyOptions, verify_bundle};
use audit_runtime::{
    MemoryLedger, Receipt, SealedReceipt, SigningKey, TenantId, Timestamp, Verdict,
};

fn ledger(n: usize, key: &SigningKey) -> Vec<SealedReceipt> {
    let mut l = MemoryLedger::new();
    for i in 0..n {
        l.append(
            Receipt::new("acme").with_model(format!("model-{i} \u{2028} é")),
            key,
        )
        .unwrap();
    }
    l.receipts(&TenantId::new("acme")).to_vec()
}

fn export(receipts: &[SealedReceipt], key: &SigningKey, meta: ExportMeta) -> Vec<u8> {
    let mut w = EvidenceWriter::new(Vec::new(), key, meta);
    for r in receipts {
        w.push(r).unwrap();
    }
    w.finish().unwrap().output
}

fn meta() -> ExportMeta {
    ExportMeta::new("acme").with_exported_at(Timestamp::parse("2026-03-02T09:30:00Z").unwrap())
}

#[test]
fn exported_bundle_passes_under_the_pinned_key() {
    let key = SigningKey::from_seed(&[3; 32]);
    let rs = ledger(300, &key);
    let zip = export(&rs, &key, meta());
    let report = verify_bundle(
        Cursor::new(zip),
        &VerifyOptions::pinned(key.verifying_key()),
    )
    .unwrap();
    assert!(report.is_pass(), "{:?}", report.chain.findings);
    assert_eq!(report.chain.receipts, 300);
    assert!(report.members.iter().any(|m| m == "VERIFYING.md"));
}

#[test]
fn exported_bundle_without_a_pinned_key_is_only_unpinned() {
    let key = SigningKey::from_seed(&[3; 32]);
    let zip = export(&ledger(5, &key), &key, meta());
    let report = verify_bundle(Cursor::new(zip), &VerifyOptions::default()).unwrap();
    assert_eq!(report.verdict(), Verdict::Unpinned);
    assert_eq!(report.bundle_key, Some(key.verifying_key()));
}

#[test]
fn pushing_lines_and_pushing_receipts_give_the_same_receipts_member() {
    let key = SigningKey::from_seed(&[3; 32]);
    let rs = ledger(40, &key);
    let a = export(&rs, &key, meta());
    let mut w = EvidenceWriter::new(Vec::new(), &key, meta());
    for r in &rs {
        w.push_line(&r.to_jsonl_line()).unwrap();
    }
    let b = w.finish().unwrap().output;
    assert_eq!(a, b);
}

#[test]
fn partial_export_with_its_anchor_passes() {
    let key = SigningKey::from_seed(&[4; 32]);
    let rs = ledger(60, &key);
    let anchor = Anchor::new(20, rs[19].receipt_hash_hex());
    let zip = export(&rs[20..], &key, meta().with_anchor(anchor.clone()));
    let report = verify_bundle(
        Cursor::new(zip.clone()),
        &VerifyOptions::pinned(key.verifying_key()),
    )
    .unwrap();
    assert!(report.is_pass(), "{:?}", report.chain.findings);
    // The auditor's own record of where the previous export ended: this one continues it, or not.
    let held = |tip: String| {
        let opts = VerifyOptions::pinned(key.verifying_key()).with_anchor(tip);
        verify_bundle(Cursor::new(zip.clone()), &opts).unwrap()
    };
    assert!(held(rs[19].receipt_hash_hex()).is_pass());
    let r = held(rs[18].receipt_hash_hex());
    let f = r.first(FindingKind::Anchor).unwrap();
    assert_eq!(f.file.as_deref(), Some("anchor.json"));
    assert!(
        f.message.contains("not after the anchor given"),
        "{}",
        f.message
    );
    assert_eq!(
        report.anchor,
        Some(Anchor {
            tenant: Some(TenantId::new("acme")),
            ..anchor
        })
    );
}

/// The members of `zip` with `anchor.json` replaced and the manifest signed again by `key`.
fn with_anchor_json(zip: &[u8], anchor: &[u8], key: &SigningKey) -> Vec<u8> {
    use sha2::Digest as _;
    use std::io::{Read as _, Write as _};
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let mut members = Vec::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        let name = f.name().to_owned();
        if name == "anchor.json" {
            bytes = anchor.to_vec();
        }
        if name != "manifest.json" {
            members.push((name, bytes));
        }
    }
    let mut sums = audit_runtime::json::Object::new();
    for (n, b) in &members {
        sums.insert(n.as_str(), hex::encode(sha2::Sha256::digest(b)));
    }
    let m = audit_runtime::bundle::Manifest::new(
        sums,
        &key.verifying_key(),
        "2026-03-02T09:30:00.000000+00:00",
    );
    let sig = key.sign(&m.signing_bytes());
    members.push((
        "manifest.json".into(),
        m.with_signature(&sig).to_file_bytes(),
    ));
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (n, b) in &members {
        w.start_file(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(b).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn an_anchor_naming_another_tenant_is_reported_even_under_a_valid_manifest() {
    let key = SigningKey::from_seed(&[4; 32]);
    let rs = ledger(60, &key);
    let prev = rs[19].receipt_hash_hex();
    let zip = export(&rs[20..], &key, meta().with_anchor(Anchor::new(20, &prev)));
    let opts = VerifyOptions::pinned(key.verifying_key());
    // Re-signing the same anchor changes nothing; naming another tenant is a finding.
    for (tenant, pass) in [("acme", true), ("globex", false)] {
        let json =
            format!(r#"{{"prev_receipt_hash":"{prev}","sequence":20,"tenant_id":"{tenant}"}}"#);
        let bundle = with_anchor_json(&zip, json.as_bytes(), &key);
        let report = verify_bundle(Cursor::new(bundle), &opts).unwrap();
        assert_eq!(
            report.is_pass(),
            pass,
            "{tenant}: {:?}",
            report.chain.findings
        );
        if !pass {
            let f = report.first(FindingKind::Anchor).unwrap();
            assert_eq!(f.file.as_deref(), Some("anchor.json"));
            assert!(f.message.contains("globex"), "{}", f.message);
        }
    }
    // A tenant_id that is not a string makes the anchor unreadable.
    let json = format!(r#"{{"prev_receipt_hash":"{prev}","sequence":20,"tenant_id":7}}"#);
    let report = verify_bundle(
        Cursor::new(with_anchor_json(&zip, json.as_bytes(), &key)),
        &opts,
    )
    .unwrap();
    let f = report.first(FindingKind::Anchor).unwrap();
    // The member is at fault, not the archive.
    assert!(
        f.message.contains("tenant_id is not a string"),
        "{}",
        f.message
    );
    assert!(!f.message.contains("ZIP"), "{}", f.message);
    // Where the chain starts is then unknown: that is the anchor's finding, not a second one
    // blaming the first receipt. A receipt missing later in the chain is still found.
    let mut gapped = rs[20..].to_vec();
    let missing = gapped.remove(10);
    assert_ne!(missing.receipt_hash_hex(), gapped[10].receipt_hash_hex());
    let gapped = export(&gapped, &key, meta().with_anchor(Anchor::new(20, &prev)));
    for rebuild in [false, true] {
        let opts = opts.clone().with_rebuild_order(rebuild);
        let kinds = |zip: &[u8]| {
            let r = verify_bundle(
                Cursor::new(with_anchor_json(zip, json.as_bytes(), &key)),
                &opts,
            )
            .unwrap();
            let mut k: Vec<_> = r.chain.findings.iter().map(|f| f.kind).collect();
            k.dedup();
            k
        };
        assert_eq!(kinds(&zip), [FindingKind::Anchor], "rebuild {rebuild}");
        let gap = if rebuild {
            FindingKind::Orphan
        } else {
            FindingKind::Link
        };
        assert_eq!(
            kinds(&gapped),
            [FindingKind::Anchor, gap],
            "rebuild {rebuild}"
        );
    }
}

#[test]
fn partial_export_without_its_anchor_fails_genesis() {
    let key = SigningKey::from_seed(&[4; 32]);
    let rs = ledger(60, &key);
    let zip = export(&rs[20..], &key, meta());
    let report = verify_bundle(
        Cursor::new(zip),
        &VerifyOptions::pinned(key.verifying_key()),
    )
    .unwrap();
    let g = report.first(FindingKind::Genesis).unwrap();
    assert_eq!(
        (g.index, g.file.as_deref()),
        (Some(0), Some("receipts.jsonl"))
    );
}

#[test]
fn empty_export_fails_as_empty_but_is_well_formed() {
    let key = SigningKey::from_seed(&[5; 32]);
    let zip = export(&[], &key, meta());
    let report = verify_bundle(
        Cursor::new(zip),
        &VerifyOptions::pinned(key.verifying_key()),
    )
    .unwrap();
    assert_eq!(
        report.chain.findings_total, 1,
        "{:?}",
        report.chain.findings
    );
    assert!(report.first(FindingKind::Empty).is_some());
}

#[test]
fn a_receipt_of_another_tenant_is_refused_by_the_writer() {
    let key = SigningKey::from_seed(&[5; 32]);
    let rs = ledger(1, &key);
    let mut w = EvidenceWriter::new(Vec::new(), &key, ExportMeta::new("other"));
    assert!(w.push(&rs[0]).is_err());
}
