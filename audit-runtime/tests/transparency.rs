//! Transparency end to end: the writer keeps each tenant's tree in the append's transaction,
//! the checkpointer signs, proofs verify offline, and any single-bit change fails.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use audit_runtime::log;
use audit_runtime::merkle::{self, MerkleTree};
use audit_runtime::note::{self, TlogProof};
use audit_runtime::store::tree::TileNodes;
use audit_runtime::store::{self, MemoryStore, Store};
use audit_runtime::{Auditor, Receipt, SealingMode, SigningKey, TenantId};

fn key() -> SigningKey {
    SigningKey::from_hex(&"07".repeat(32)).unwrap()
}

/// The tenant's tree recomputed from its stored lines.
fn tree_of_lines(s: &dyn Store, t: &TenantId) -> MerkleTree {
    MerkleTree::new(
        store::receipts(s, t, 0..u64::MAX)
            .map(|e| note::leaf_of_line(&e.unwrap().line).unwrap())
            .collect(),
    )
}

fn auditor_on(s: &Arc<dyn Store>, every: u64) -> Auditor {
    Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(s))
        .log_name("audit.example.com")
        .checkpoint_every(every, Duration::from_secs(3600))
        .max_batch(64)
        .build()
        .unwrap()
}

#[test]
fn the_writer_keeps_each_tenants_tree_and_signs_checkpoints() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = auditor_on(&s, 100);
    let pending: Vec<_> = (0..450)
        .map(|i| {
            a.submit(Receipt::new(if i % 3 == 0 { "x" } else { "y" }))
                .unwrap()
        })
        .collect();
    for p in pending {
        p.wait().unwrap();
    }
    a.shutdown().unwrap();
    let read = s.tree().unwrap();
    let vk = key().verifying_key();
    for (t, n) in [("x", 150u64), ("y", 300)] {
        let t = TenantId::new(t);
        assert_eq!(read.tree_size(&t).unwrap(), n);
        let mem = tree_of_lines(s.as_ref(), &t);
        let mut nodes = TileNodes::new(read, &t).unwrap();
        assert_eq!(nodes.root(n).unwrap(), mem.root(n).unwrap());
        // Shutdown signed the tail; the checkpoint verifies and names the tenant's log.
        let cp = read.latest_checkpoint(&t).unwrap().unwrap();
        assert_eq!(cp.size, n);
        let parsed = note::verify_note(&cp.note, &vk).unwrap();
        assert_eq!(parsed.origin, format!("audit.example.com/{}", t.as_str()));
        assert_eq!(parsed.root, mem.root(n).unwrap());
    }
    // The receipt-count policy signed intermediate checkpoints too.
    assert!(
        read.checkpoint_at(&TenantId::new("y"), 300)
            .unwrap()
            .is_some()
            && a.stats().checkpoint_failures == 0
    );
}

#[test]
fn a_restarted_auditor_catches_up_a_tree_that_lags_the_chain() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = auditor_on(&s, 1000);
    for _ in 0..20 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    a.shutdown().unwrap();
    // Copy only the receipts (as a store written before trees were kept would hold them).
    let old: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let t = TenantId::new("acme");
    let lines: Vec<_> = store::receipts(s.as_ref(), &t, 0..u64::MAX)
        .map(Result::unwrap)
        .collect();
    old.write(&mut |txn| {
        for e in &lines {
            txn.append(&e.as_new())?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(old.tree().unwrap().tree_size(&t).unwrap(), 0);
    let b = auditor_on(&old, 1000);
    b.emit(Receipt::new("acme")).unwrap();
    let cp = b.checkpoint(&t).unwrap();
    assert_eq!(cp.size, 21);
    assert_eq!(cp.root, tree_of_lines(old.as_ref(), &t).root(21).unwrap());
}

#[test]
fn tlog_proofs_verify_offline_and_any_single_bit_change_fails() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = auditor_on(&s, 1000);
    let ids: Vec<_> = (0..37)
        .map(|_| a.emit(Receipt::new("acme")).unwrap().receipt_id)
        .collect();
    a.checkpoint(&TenantId::new("acme")).unwrap();
    let vk = key().verifying_key();
    for (i, id) in ids.iter().enumerate() {
        let p = log::prove(s.as_ref(), id, None).unwrap();
        let text = p.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "));
        let checked = TlogProof::parse(&text).unwrap().verify(&vk).unwrap();
        assert_eq!(checked.index, i as u64);
        assert_eq!(checked.checkpoint.size, 37);
    }
    // Flip every bit of one proof file (leaf 5): each change is refused or fails.
    let text = log::prove(s.as_ref(), &ids[5], None).unwrap().to_text();
    let bytes = text.as_bytes();
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.to_vec();
            b[at] ^= 1 << bit;
            let Ok(t) = String::from_utf8(b) else {
                continue;
            };
            let verdict = TlogProof::parse(&t).and_then(|p| p.verify(&vk));
            // A flip inside base64 padding bits may decode to the same bytes; anything that
            // still passes must carry exactly the original proof.
            if let Ok(ok) = verdict {
                let p = TlogProof::parse(&t).unwrap();
                assert_eq!(p, TlogProof::parse(&text).unwrap(), "byte {at} bit {bit}");
                assert_eq!(ok.index, 5);
            }
        }
    }
    // Another key is refused.
    let other = SigningKey::from_hex(&"08".repeat(32))
        .unwrap()
        .verifying_key();
    assert!(TlogProof::parse(&text).unwrap().verify(&other).is_err());
    // Its checkpoint is consistent with a later one.
    a.emit(Receipt::new("acme")).unwrap();
    let later = a.checkpoint(&TenantId::new("acme")).unwrap();
    let read = s.tree().unwrap();
    let t = TenantId::new("acme");
    let mut nodes = TileNodes::new(read, &t).unwrap();
    let proof = nodes.consistency_proof(37, 38).unwrap();
    let old = read.checkpoint_at(&t, 37).unwrap().unwrap();
    merkle::verify_consistency(37, 38, &old.root, &later.root, &proof).unwrap();
}

/// Exports receipts `[start, end)` of a tenant with the checkpoint of exactly `end` leaves.
fn bundle(s: &dyn Store, tenant: &str, start: u64, end: u64) -> Vec<u8> {
    bundle_with(s, tenant, start, end, end)
}

/// Exports receipts `[start, end)` of a tenant with the checkpoint of `cp_size` leaves.
fn bundle_with(s: &dyn Store, tenant: &str, start: u64, end: u64, cp_size: u64) -> Vec<u8> {
    use audit_runtime::bundle::{Anchor, CHECKPOINT, EvidenceWriter, ExportMeta, TREE_PREFIX};
    let t = TenantId::new(tenant);
    let k = key();
    let (cp, prefix) =
        log::bundle_material(s, &t, start, cp_size, "audit.example.com", &k).unwrap();
    let mut meta = ExportMeta::new(tenant).with_member(CHECKPOINT, cp.note.into_bytes());
    if let Some(p) = prefix {
        meta = meta.with_member(TREE_PREFIX, p.to_json());
        let prev = store::receipts(s, &t, start - 1..start)
            .next()
            .unwrap()
            .unwrap();
        meta = meta.with_anchor(Anchor::new(start, hex::encode(prev.receipt_hash)));
    }
    let mut w = EvidenceWriter::new(Vec::new(), &k, meta);
    for e in store::receipts(s, &t, start..end) {
        w.push_line(&e.unwrap().line).unwrap();
    }
    w.finish().unwrap().output
}

fn verify_zip(zip: &[u8], since: Option<&str>) -> audit_runtime::verify::BundleReport {
    verify_zip_with(zip, since, false)
}

/// As `verify_zip`, accepting unsigned (Checkpointed) receipts under a covering checkpoint when
/// `accept` is set.
fn verify_zip_with(
    zip: &[u8],
    since: Option<&str>,
    accept: bool,
) -> audit_runtime::verify::BundleReport {
    use audit_runtime::verify::{VerifyOptions, verify_bundle};
    let vk = key().verifying_key();
    let mut opts = VerifyOptions::pinned(vk).with_accept_checkpointed(accept);
    if let Some(note) = since {
        opts = opts.with_since(note::verify_note(note, &vk).unwrap());
    }
    verify_bundle(std::io::Cursor::new(zip), &opts).unwrap()
}

fn kinds(r: &audit_runtime::verify::BundleReport) -> Vec<&'static str> {
    r.chain.findings.iter().map(|f| f.kind.as_str()).collect()
}

fn filled(n: usize, salt: &str) -> Arc<dyn Store> {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = auditor_on(&s, 1_000_000);
    for i in 0..n {
        a.emit(Receipt::new("acme").with_input_text(&format!("{salt} {i}")))
            .unwrap();
    }
    a.shutdown().unwrap();
    s
}

#[test]
fn bundles_carry_a_checkpoint_of_exactly_their_receipts() {
    let s = filled(40, "a");
    for (start, end) in [
        (0, 40),
        (0, 1),
        (0, 17),
        (1, 40),
        (13, 29),
        (39, 40),
        (32, 33),
    ] {
        let r = verify_zip(&bundle(s.as_ref(), "acme", start, end), None);
        assert!(r.is_pass(), "[{start}, {end}): {:?}", r.chain.findings);
        let cp = r.checkpoint.unwrap();
        assert_eq!(cp.size, end);
        assert_eq!(cp.origin, "audit.example.com/acme");
    }
}

#[test]
fn truncation_rollback_and_forks_are_detected_against_an_earlier_checkpoint() {
    let s = filled(30, "a");
    let t = TenantId::new("acme");
    let k = key();
    let note_at = |st: &dyn Store, n: u64| {
        log::checkpoint(st, &t, Some(n), "audit.example.com", &k)
            .unwrap()
            .note
    };
    let held = note_at(s.as_ref(), 30); // the auditor holds the checkpoint of 30 receipts
    let older = note_at(s.as_ref(), 12);

    // The honest, longer history extends both; so does a partial export that starts early enough.
    let a = Arc::clone(&s);
    let more = auditor_on(&a, 1_000_000);
    for _ in 0..5 {
        more.emit(Receipt::new("acme")).unwrap();
    }
    more.shutdown().unwrap();
    for (start, end) in [(0, 35), (0, 30), (10, 35), (29, 35)] {
        let r = verify_zip(&bundle(a.as_ref(), "acme", start, end), Some(&held));
        assert!(r.is_pass(), "[{start}, {end}): {:?}", r.chain.findings);
    }
    // A partial export that starts after the held checkpoint cannot prove it extends it.
    let r = verify_zip(&bundle(a.as_ref(), "acme", 31, 35), Some(&held));
    assert_eq!(kinds(&r), ["consistency"]);
    assert!(verify_zip(&bundle(a.as_ref(), "acme", 0, 35), Some(&older)).is_pass());

    // Truncation of the last receipt: a genuine bundle of 29 receipts, held checkpoint of 30.
    let r = verify_zip(&bundle(s.as_ref(), "acme", 0, 29), Some(&held));
    assert_eq!(kinds(&r), ["consistency"]);
    assert!(
        r.chain.findings[0]
            .message
            .contains("truncated or rolled back")
    );
    // The same verdict for an export that ends early, and the message says how to tell the two.
    assert!(
        r.chain.findings[0]
            .message
            .contains("ends before receipt 30 (`export --to`)")
    );
    // Rollback to an earlier state.
    let r = verify_zip(&bundle(s.as_ref(), "acme", 0, 12), Some(&held));
    assert_eq!(kinds(&r), ["consistency"]);
    // A fork: another history of the same size, signed by the same key.
    let fork = filled(30, "b");
    let r = verify_zip(&bundle(fork.as_ref(), "acme", 0, 30), Some(&held));
    assert_eq!(kinds(&r), ["consistency"]);
    assert!(r.chain.findings[0].message.contains("forked"));
    // …and of a larger size, diverging before the held one.
    let r = verify_zip(&bundle(fork.as_ref(), "acme", 0, 30), Some(&older));
    assert_eq!(kinds(&r), ["consistency"]);
    // The two forked checkpoints are themselves inconsistent: a consistency proof from either
    // tree fails against the other's root.
    let theirs = note::verify_note(&note_at(fork.as_ref(), 30), &k.verifying_key()).unwrap();
    let mine = note::verify_note(&held, &k.verifying_key()).unwrap();
    assert_ne!(theirs.root, mine.root);
    let mut nodes = TileNodes::new(fork.tree().unwrap(), &t).unwrap();
    let p = nodes.consistency_proof(12, 30).unwrap();
    let old = note::verify_note(&older, &k.verifying_key()).unwrap();
    assert!(merkle::verify_consistency(12, 30, &old.root, &theirs.root, &p).is_err());
}

#[test]
fn a_checkpoint_that_does_not_cover_exactly_the_receipts_fails() {
    use audit_runtime::bundle::{CHECKPOINT, EvidenceWriter, ExportMeta};
    let s = filled(20, "a");
    let t = TenantId::new("acme");
    let k = key();
    // A checkpoint of 20 receipts on a bundle of 19, and one of 19 on a bundle of 20.
    for (cp_size, n) in [(20u64, 19u64), (19, 20)] {
        let cp = log::checkpoint(s.as_ref(), &t, Some(cp_size), "audit.example.com", &k).unwrap();
        let meta = ExportMeta::new("acme").with_member(CHECKPOINT, cp.note.into_bytes());
        let mut w = EvidenceWriter::new(Vec::new(), &k, meta);
        for e in store::receipts(s.as_ref(), &t, 0..n) {
            w.push_line(&e.unwrap().line).unwrap();
        }
        let r = verify_zip(&w.finish().unwrap().output, None);
        assert_eq!(kinds(&r), ["checkpoint"], "{cp_size} over {n}");
    }
    // A checkpoint signed by another key.
    let other = SigningKey::from_hex(&"09".repeat(32)).unwrap();
    let cp = log::checkpoint(
        filled(20, "a").as_ref(),
        &t,
        None,
        "audit.example.com",
        &other,
    )
    .unwrap();
    let meta = ExportMeta::new("acme").with_member(CHECKPOINT, cp.note.into_bytes());
    let mut w = EvidenceWriter::new(Vec::new(), &k, meta);
    for e in store::receipts(s.as_ref(), &t, 0..20) {
        w.push_line(&e.unwrap().line).unwrap();
    }
    let r = verify_zip(&w.finish().unwrap().output, None);
    assert_eq!(kinds(&r), ["checkpoint"]);
}

#[test]
fn an_idle_writer_signs_a_checkpoint_once_the_interval_passes() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&s))
        .checkpoint_every(1_000_000, Duration::from_millis(50))
        .build()
        .unwrap();
    for _ in 0..3 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    let t = TenantId::new("acme");
    let read = s.tree().unwrap();
    let mut waited = Duration::ZERO;
    while read.latest_checkpoint(&t).unwrap().is_none() && waited < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        waited += Duration::from_millis(20);
    }
    let cp = read.latest_checkpoint(&t).unwrap().unwrap();
    assert_eq!(cp.size, 3);
    assert!(
        cp.note.starts_with("ai-audit.local/acme\n3\n"),
        "{}",
        cp.note
    );
    drop(a);
}

/// A tenant written by three auditors in turn: 30 receipts signed one by one, 40 sealed in
/// `Checkpointed` mode, then 20 signed again.
fn mixed_modes() -> Arc<dyn Store> {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    for (mode, n) in [
        (SealingMode::PerReceipt, 30),
        (SealingMode::Checkpointed, 40),
        (SealingMode::PerReceipt, 20),
    ] {
        let a = Auditor::builder()
            .signer(key())
            .shared_store(Arc::clone(&s))
            .log_name("audit.example.com")
            .sealing(mode)
            .checkpoint_every(1_000_000, Duration::from_secs(3600))
            .max_batch(16)
            .build()
            .unwrap();
        assert_eq!(a.sealing(), mode);
        let pending: Vec<_> = (0..n)
            .map(|i| {
                a.submit(Receipt::new("acme").with_input_text(&format!("{mode:?} {i}")))
                    .unwrap()
            })
            .collect();
        for p in pending {
            p.wait().unwrap();
        }
        a.shutdown().unwrap();
    }
    s
}

#[test]
fn checkpointed_receipts_are_unsigned_and_verify_by_inclusion_under_the_checkpoint() {
    use audit_runtime::verify::{self, FindingKind, VerifyOptions};
    let s = mixed_modes();
    let t = TenantId::new("acme");
    let lines: Vec<Vec<u8>> = store::receipts(s.as_ref(), &t, 0..u64::MAX)
        .map(|e| e.unwrap().line)
        .collect();
    assert_eq!(lines.len(), 90);
    for (i, l) in lines.iter().enumerate() {
        let unsigned = String::from_utf8_lossy(l).contains(r#""signature":"""#);
        assert_eq!(unsigned, (30..70).contains(&i), "line {i}");
    }
    // The whole history, and partial exports starting before, inside, at the end of and after
    // the Checkpointed run (an unsigned anchor included), verify.
    for (start, end, signed, covered) in [
        (0, 90, 50, 40),
        (0, 50, 30, 20),
        (10, 31, 20, 1),
        (35, 60, 0, 25),
        (70, 90, 20, 0),
        (69, 71, 1, 1),
    ] {
        let zip = bundle(s.as_ref(), "acme", start, end);
        let r = verify_zip_with(&zip, None, true);
        assert!(r.is_pass(), "[{start}, {end}): {:?}", r.chain.findings);
        assert_eq!(r.chain.signatures_verified, signed, "[{start}, {end})");
        assert_eq!(r.chain.checkpoint_covered, covered, "[{start}, {end})");
        // Without the opt-in, a checkpoint alone vouches for nothing: each unsigned receipt, the
        // anchor of a partial export included, is a finding.
        let r = verify_zip(&zip, None);
        assert_eq!(r.is_pass(), covered == 0 && start != 70, "[{start}, {end})");
        assert_eq!(
            r.chain
                .counts
                .get(&FindingKind::Unsigned)
                .copied()
                .unwrap_or(0),
            covered,
            "[{start}, {end})"
        );
        assert_eq!(r.chain.checkpoint_covered, 0);
    }
    // The lines alone: the signed ones pass, every unsigned one is a finding.
    let vk = key().verifying_key();
    let r = verify::verify_lines(
        lines.iter().map(|l| Ok::<_, std::io::Error>(&l[..])),
        &VerifyOptions::pinned(vk),
    )
    .unwrap();
    assert_eq!(r.counts.get(&FindingKind::Unsigned), Some(&40));
    assert_eq!(r.findings_total, 40);
    assert_eq!(r.signatures_verified, 50);
    assert_eq!(r.findings[0].index, Some(30));
    // …and the findings cap keeps the count whole.
    let mut capped = VerifyOptions::pinned(vk);
    capped.max_findings = 3;
    let r = verify::verify_lines(
        lines.iter().map(|l| Ok::<_, std::io::Error>(&l[..])),
        &capped,
    )
    .unwrap();
    assert_eq!((r.findings.len(), r.findings_total), (3, 40));
    assert!(verify::verify_line(&lines[40], &vk).is_err());
    assert!(verify::verify_covered_line(&lines[40], &vk).is_ok());
    // A checkpoint that does not cover exactly the receipts leaves the unsigned ones unvouched.
    let r = verify_zip_with(&bundle_with(s.as_ref(), "acme", 0, 60, 61), None, true);
    assert_eq!(r.chain.counts.get(&FindingKind::Unsigned), Some(&30));
    assert_eq!(r.chain.counts.get(&FindingKind::Checkpoint), Some(&1));
    assert_eq!(r.chain.checkpoint_covered, 0);
    // So does a bundle without a checkpoint.
    use audit_runtime::bundle::{EvidenceWriter, ExportMeta};
    let k = key();
    let mut w = EvidenceWriter::new(Vec::new(), &k, ExportMeta::new("acme"));
    for l in &lines {
        w.push_line(l).unwrap();
    }
    let r = verify_zip(&w.finish().unwrap().output, None);
    assert_eq!(kinds(&r), vec!["unsigned"; 40]);
}

#[test]
fn an_edited_unsigned_receipt_fails_even_with_its_hashes_and_links_recomputed() {
    use audit_runtime::bundle::{CHECKPOINT, EvidenceWriter, ExportMeta};
    use audit_runtime::canonical;
    let s = mixed_modes();
    let t = TenantId::new("acme");
    let k = key();
    let cp = log::checkpoint(s.as_ref(), &t, Some(90), "audit.example.com", &k).unwrap();
    // The attacker changes receipt 45's action and re-derives every hash and link after it;
    // unsigned receipts need no signature, and the signed ones after it keep theirs.
    let mut prev = String::new();
    let mut w = EvidenceWriter::new(
        Vec::new(),
        &k,
        ExportMeta::new("acme").with_member(CHECKPOINT, cp.note.into_bytes()),
    );
    for (i, e) in store::receipts(s.as_ref(), &t, 0..90).enumerate() {
        let line = e.unwrap().line;
        let parsed = canonical::parse_line(&line).unwrap();
        let mut r = parsed.receipt.clone();
        if i == 45 {
            r.action = "reject".parse().unwrap();
        }
        if i > 45 {
            r.prev_receipt_hash = prev.clone();
        }
        let payload = canonical::seal_payload(&r).unwrap();
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&payload));
        let mut out = Vec::new();
        canonical::write_jsonl_line(&r, &hash, &parsed.signature, &mut out);
        prev = hash;
        w.push_line(&out).unwrap();
    }
    // Even accepting Checkpointed receipts, the edit is caught.
    let r = verify_zip_with(&w.finish().unwrap().output, None, true);
    assert!(!r.is_pass());
    let k = kinds(&r);
    assert!(k.contains(&"checkpoint"), "{k:?}");
    // The 20 signed receipts after the edit no longer match their signatures either.
    assert_eq!(k.iter().filter(|k| **k == "signature").count(), 20, "{k:?}");
    // The untouched unsigned receipts lose their voucher too: the checkpoint does not cover them.
    assert_eq!(k.iter().filter(|k| **k == "unsigned").count(), 40, "{k:?}");
}

#[test]
fn a_tlog_proof_of_an_unsigned_receipt_verifies_and_an_edited_one_fails() {
    let s = mixed_modes();
    let t = TenantId::new("acme");
    let vk = key().verifying_key();
    let entries: Vec<_> = store::receipts(s.as_ref(), &t, 0..u64::MAX)
        .map(|e| e.unwrap())
        .collect();
    for i in [0usize, 30, 52, 69, 70, 89] {
        let p = log::prove(s.as_ref(), &entries[i].receipt_id, None).unwrap();
        let parsed = TlogProof::parse(&p.to_text()).unwrap();
        let checked = parsed.verify_accepting_checkpointed(&vk).unwrap();
        assert_eq!(checked.index, i as u64);
        // Without the opt-in only the signed receipts prove.
        assert_eq!(parsed.verify(&vk).is_ok(), !(30..70).contains(&i), "{i}");
        // The same proof with the receipt's action changed (hash recomputed) fails.
        let text = p.to_text();
        let line = String::from_utf8(entries[i].line.clone()).unwrap();
        let edited_line = line.replacen(r#""action":"allow""#, r#""action":"reject""#, 1);
        assert_ne!(edited_line, line, "fixture receipts are allowed");
        let parsed = audit_runtime::canonical::parse_line(edited_line.as_bytes()).unwrap();
        let payload = audit_runtime::canonical::seal_payload(&parsed.receipt).unwrap();
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&payload));
        let edited_line = edited_line.replace(&parsed.receipt_hash, &hash);
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let edited = text.replace(&b64.encode(&line), &b64.encode(&edited_line));
        assert_ne!(edited, text);
        assert!(
            TlogProof::parse(&edited)
                .and_then(|p| p.verify_accepting_checkpointed(&vk))
                .is_err(),
            "receipt {i}"
        );
    }
}

#[test]
fn opening_a_store_signs_a_checkpoint_over_receipts_left_uncovered() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let t = TenantId::new("acme");
    let a = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&s))
        .sealing(SealingMode::Checkpointed)
        .checkpoint_every(1_000_000, Duration::from_secs(3600))
        .build()
        .unwrap();
    for _ in 0..25 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    // The process "dies" before its next checkpoint: the auditor is never shut down.
    std::mem::forget(a);
    let read = s.tree().unwrap();
    assert_eq!(read.tree_size(&t).unwrap(), 25);
    assert!(read.latest_checkpoint(&t).unwrap().is_none());
    // The next auditor, in either mode, covers them before it accepts a receipt.
    let b = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&s))
        .build()
        .unwrap();
    assert_eq!(read.latest_checkpoint(&t).unwrap().unwrap().size, 25);
    b.shutdown().unwrap();
}

/// Appends to `t`'s chain an unsigned receipt (chained to the tip, tree fed) the way someone
/// with write access to the store but without the key could.
fn forge_unsigned(s: &dyn Store, t: &TenantId) -> u64 {
    use audit_runtime::store::{NewEntry, WriteTxn};
    let tip = s.tip(t).unwrap().unwrap();
    let mut forged = Receipt::new(t.as_str()).with_input_text("forged");
    forged.prev_receipt_hash = hex::encode(tip.hash);
    let payload = audit_runtime::canonical::seal_payload(&forged).unwrap();
    let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&payload).into();
    let mut line = Vec::new();
    audit_runtime::canonical::write_jsonl_line(&forged, &hex::encode(hash), "", &mut line);
    let leaf = merkle::leaf_hash(&payload);
    s.write(&mut |txn: &mut dyn WriteTxn| {
        txn.append(&NewEntry {
            tenant: t,
            seq: tip.len,
            receipt_id: &forged.receipt_id,
            receipt_hash: hash,
            timestamp_micros: forged.timestamp.to_unix_micros(),
            trace_id: &forged.trace_id,
            session_id: &forged.session_id,
            line: &line,
            // A tag copied from nowhere: the attacker cannot compute the writer's.
            tag: Some([7; 32]),
        })?;
        store::tree::feed(txn, &[(t, tip.len, leaf)])
    })
    .unwrap();
    tip.len
}

/// Emits one receipt for each of `tenant-0` … `tenant-{n-1}` and waits until all are stored.
fn one_receipt_each(a: &Auditor, n: u64) {
    let pending: Vec<_> = (0..n)
        .map(|i| a.submit(Receipt::new(format!("tenant-{i}"))).unwrap())
        .collect();
    for p in pending {
        p.wait().unwrap();
    }
}

/// A Checkpointed auditor on a new in-memory store that signs a checkpoint every 5 receipts.
fn checkpointed_every_5() -> (Arc<dyn Store>, Auditor) {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&s))
        .log_name("audit.example.com")
        .sealing(SealingMode::Checkpointed)
        .checkpoint_every(5, Duration::from_secs(3600))
        .build()
        .unwrap();
    (s, a)
}

/// The size of the tenant's latest stored checkpoint.
fn latest_size(s: &dyn Store, t: &TenantId) -> u64 {
    let latest = s.tree().unwrap().latest_checkpoint(t).unwrap();
    latest.unwrap().size
}

#[test]
fn no_checkpoint_is_signed_over_a_receipt_written_into_the_store_without_the_key() {
    use audit_runtime::log::TransparencyError;
    use audit_runtime::verify::FindingKind;
    let t = TenantId::new("acme");
    let k = key();
    // A PerReceipt log, then a forged unsigned receipt.
    let s = filled(3, "a");
    assert_eq!(forge_unsigned(s.as_ref(), &t), 3);
    // The next restart does not cover it (counted, not fatal), nor does an export or a proof.
    let a = auditor_on(&s, 1_000_000);
    assert_eq!(a.stats().checkpoint_failures, 1);
    a.shutdown().unwrap();
    let refused = log::checkpoint(s.as_ref(), &t, Some(4), "audit.example.com", &k);
    assert!(
        matches!(
            refused,
            Err(TransparencyError::Unauthenticated { seq: Some(3), .. })
        ),
        "{refused:?}"
    );
    assert!(log::bundle_material(s.as_ref(), &t, 0, 4, "audit.example.com", &k).is_err());
    // What was written with the key still exports and verifies.
    assert!(verify_zip(&bundle(s.as_ref(), "acme", 0, 3), None).is_pass());
    // A bundle that carries the forged receipt under the checkpoint of 3 fails, even accepting
    // Checkpointed receipts.
    let r = verify_zip_with(&bundle_with(s.as_ref(), "acme", 0, 4, 3), None, true);
    assert!(!r.is_pass());
    assert_eq!(r.chain.counts.get(&FindingKind::Unsigned), Some(&1));

    // The same in Checkpointed mode: a forged receipt between the writer's own commits stops
    // its checkpoints (counted) instead of being signed.
    let (s, a) = checkpointed_every_5();
    for _ in 0..5 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    a.flush().unwrap();
    assert_eq!(latest_size(s.as_ref(), &t), 5);
    forge_unsigned(s.as_ref(), &t);
    for _ in 0..5 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    assert!(a.checkpoint(&t).is_err());
    assert!(a.stats().checkpoint_failures >= 1);
    a.shutdown().unwrap();
    assert_eq!(latest_size(s.as_ref(), &t), 5);
}

/// Signs the first message only (the Checkpointed writer's line-key derivation), then fails: a
/// writer whose every checkpoint fails, as one that crashes before its first checkpoint.
#[derive(Debug)]
struct FirstSignatureOnly {
    key: SigningKey,
    used: std::sync::atomic::AtomicBool,
}

impl audit_runtime::Signer for FirstSignatureOnly {
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], audit_runtime::SealError> {
        if self.used.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Err(audit_runtime::SealError::Signer("hsm unavailable".into()))
        } else {
            Ok(self.key.sign(msg))
        }
    }
    fn verifying_key(&self) -> audit_runtime::VerifyingKey {
        self.key.verifying_key()
    }
}

/// A Checkpointed auditor on `s` whose signer fails every checkpoint.
fn with_a_signer_that_is_down(s: &Arc<dyn Store>, receipts: u64, interval: Duration) -> Auditor {
    Auditor::builder()
        .signer(FirstSignatureOnly {
            key: key(),
            used: false.into(),
        })
        .shared_store(Arc::clone(s))
        .log_name("audit.example.com")
        .sealing(SealingMode::Checkpointed)
        .checkpoint_every(receipts, interval)
        .max_batch(16)
        .build()
        .unwrap()
}

#[test]
fn unsigned_lines_left_without_a_checkpoint_are_covered_by_the_next_one_and_edits_are_not() {
    let t = TenantId::new("acme");
    for edit in [false, true] {
        let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let a = with_a_signer_that_is_down(&s, 10, Duration::from_secs(3600));
        for i in 0..50 {
            a.emit(Receipt::new("acme").with_input_text(&format!("q{i}")))
                .unwrap();
        }
        a.flush().unwrap();
        assert!(a.stats().checkpoint_failures >= 1);
        a.shutdown().unwrap();
        assert!(s.tree().unwrap().latest_checkpoint(&t).unwrap().is_none());
        if edit {
            // Rewrite receipt 17 with another input, self-consistent (its receipt_hash, leaf
            // and tree redone) but keeping the writer's tag: the tag no longer matches.
            let mut lines: Vec<_> = store::receipts(s.as_ref(), &t, 0..u64::MAX)
                .map(Result::unwrap)
                .collect();
            let e = &mut lines[17];
            let text = String::from_utf8(e.line.clone()).unwrap();
            let parsed = audit_runtime::canonical::parse_line(text.as_bytes()).unwrap();
            let mut r = parsed.receipt;
            r = r.with_input_text("edited");
            let payload = audit_runtime::canonical::seal_payload(&r).unwrap();
            let hash: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&payload).into();
            let mut line = Vec::new();
            audit_runtime::canonical::write_jsonl_line(&r, &hex::encode(hash), "", &mut line);
            e.line = line;
            e.receipt_hash = hash;
            let copy: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let leaves: Vec<_> = lines
                .iter()
                .map(|e| (e.seq, note::leaf_of_line(&e.line).unwrap()))
                .collect();
            copy.write(&mut |txn| {
                for e in &lines {
                    txn.append(&e.as_new())?;
                }
                let fed: Vec<_> = leaves.iter().map(|(seq, l)| (&t, *seq, *l)).collect();
                store::tree::feed(txn, &fed)
            })
            .unwrap();
            let refused = log::checkpoint(copy.as_ref(), &t, None, "audit.example.com", &key());
            assert!(
                matches!(
                    refused,
                    Err(log::TransparencyError::Unauthenticated { seq: Some(17), .. })
                ),
                "{refused:?}"
            );
        } else {
            // Another process with the key signs a checkpoint over the writer's tagged lines.
            let cp = log::checkpoint(s.as_ref(), &t, None, "audit.example.com", &key()).unwrap();
            assert_eq!(cp.size, 50);
            assert_eq!(cp.root, tree_of_lines(s.as_ref(), &t).root(50).unwrap());
        }
    }
}

/// A memory store that counts its write transactions.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryStore,
    writes: std::sync::atomic::AtomicU64,
}

impl CountingStore {
    fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Store for CountingStore {
    fn set_durability(&self, d: store::Durability) -> Result<(), store::StoreError> {
        self.inner.set_durability(d)
    }
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn store::WriteTxn) -> Result<(), store::StoreError>,
    ) -> Result<(), store::StoreError> {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.write(f)
    }
    fn tip(&self, t: &TenantId) -> Result<Option<store::Tip>, store::StoreError> {
        self.inner.tip(t)
    }
    fn get(
        &self,
        id: &audit_runtime::ReceiptId,
    ) -> Result<Option<store::StoredEntry>, store::StoreError> {
        self.inner.get(id)
    }
    fn tenants(&self) -> Result<Vec<TenantId>, store::StoreError> {
        self.inner.tenants()
    }
    fn page(
        &self,
        selector: &store::Selector,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<store::Page, store::StoreError> {
        self.inner.page(selector, cursor, limit)
    }
    fn tree(&self) -> Option<&dyn store::TreeRead> {
        self.inner.tree()
    }
}

/// A Checkpointed auditor on `s` that signs checkpoints by time only, every `interval`.
fn checkpointed_on(s: Arc<dyn Store>, interval: Duration) -> Auditor {
    Auditor::builder()
        .signer(key())
        .shared_store(s)
        .log_name("audit.example.com")
        .sealing(SealingMode::Checkpointed)
        .checkpoint_every(u64::MAX, interval)
        .build()
        .unwrap()
}

#[test]
fn checkpoints_due_together_are_stored_in_one_transaction() {
    let s = Arc::new(CountingStore::default());
    let a = checkpointed_on(s.clone(), Duration::from_secs(3600));
    one_receipt_each(&a, 300);
    let before = s.writes();
    // Shutdown signs the 300 tenants' checkpoints: one transaction stores them all.
    a.shutdown().unwrap();
    assert_eq!(s.writes() - before, 1);
    for i in 0..300 {
        let t = TenantId::new(format!("tenant-{i}"));
        assert_eq!(latest_size(s.as_ref(), &t), 1, "{t:?}");
    }
}

#[test]
fn a_busy_writer_still_signs_the_checkpoints_that_are_due_by_time() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = checkpointed_on(Arc::clone(&s), Duration::from_millis(50));
    let quiet = TenantId::new("quiet");
    a.emit(Receipt::new("quiet")).unwrap();
    // Another tenant keeps the writer busy (its wait for a batch never times out); the quiet
    // tenant's checkpoint is due after 50 ms all the same.
    let start = std::time::Instant::now();
    let signed = loop {
        a.emit(Receipt::new("busy")).unwrap();
        if s.tree()
            .unwrap()
            .latest_checkpoint(&quiet)
            .unwrap()
            .is_some()
        {
            break true;
        }
        if start.elapsed() > Duration::from_secs(10) {
            break false;
        }
    };
    assert!(
        signed,
        "no checkpoint for the quiet tenant while another kept the writer busy"
    );
    a.shutdown().unwrap();
}

#[test]
fn thousands_of_tenants_due_at_once_are_all_signed_while_the_writer_is_idle() {
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = checkpointed_on(Arc::clone(&s), Duration::from_secs(2));
    let start = std::time::Instant::now();
    let n = 1300;
    one_receipt_each(&a, n);
    // All fall due together after 2 s, more than one round signs: the rest follow at once, not
    // one round per interval (which would take until 6 s) nor at shutdown.
    let tree = s.tree().unwrap();
    let all_signed = loop {
        let all = (0..n).all(|i| {
            tree.latest_checkpoint(&TenantId::new(format!("tenant-{i}")))
                .unwrap()
                .is_some()
        });
        if all {
            break true;
        }
        if start.elapsed() > Duration::from_millis(4500) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(all_signed);
    assert_eq!(a.stats().checkpoint_failures, 0);
    a.shutdown().unwrap();
}

#[test]
fn checkpoints_that_fail_are_retried_an_interval_later_not_in_a_loop() {
    // The signer is down after the line-key derivation: every checkpoint fails. More tenants
    // fall due than one round signs.
    let s: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = with_a_signer_that_is_down(&s, u64::MAX, Duration::from_secs(1));
    let n = 600;
    one_receipt_each(&a, n);
    // Idle for 2.5 s: each tenant is due at 1 s and, after failing, again at 2 s.
    std::thread::sleep(Duration::from_millis(2500));
    let failures = a.stats().checkpoint_failures;
    assert!(failures >= n, "{failures}");
    assert!(
        failures <= 3 * n,
        "{failures} failures: failed checkpoints are retried in a loop"
    );
    a.shutdown().unwrap();
}

/// The writer skips re-verifying only the checkpoint it stored itself: a newer one that another
/// key signed (stored behind its back) stops its next checkpoint, as before.
#[test]
fn a_checkpoint_stored_behind_the_writers_back_is_verified_before_the_next_one() {
    use audit_runtime::note::Checkpoint;
    use audit_runtime::store::tree::StoredCheckpoint;
    let t = TenantId::new("acme");
    let (s, a) = checkpointed_every_5();
    for _ in 0..10 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    a.flush().unwrap();
    // Two checkpoints of its own: the second was signed after the first without re-verifying.
    assert_eq!(latest_size(s.as_ref(), &t), 10);
    assert_eq!(a.stats().checkpoint_failures, 0);
    for _ in 0..2 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    a.flush().unwrap();
    // Another key signs the true root of 12 receipts; the store takes it as the latest.
    let root = TileNodes::new(s.tree().unwrap(), &t)
        .unwrap()
        .root(12)
        .unwrap();
    let other = SigningKey::from_seed(&[9; 32]);
    let note = Checkpoint::new(note::origin("audit.example.com", &t), 12, root)
        .sign("audit.example.com", &other)
        .unwrap();
    let forged = StoredCheckpoint {
        size: 12,
        root,
        note,
    };
    s.write(&mut |txn: &mut dyn store::WriteTxn| txn.tree().unwrap().put_checkpoint(&t, &forged))
        .unwrap();
    for _ in 0..3 {
        a.emit(Receipt::new("acme")).unwrap();
    }
    a.flush().unwrap();
    assert!(a.checkpoint(&t).is_err());
    assert!(a.stats().checkpoint_failures >= 1);
    a.shutdown().unwrap();
    assert_eq!(latest_size(s.as_ref(), &t), 12);
}

#[test]
fn a_tenant_id_cannot_make_the_log_sign_a_tree_head_of_another_origin() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    // A tenant id chosen to spell a whole tree head of tenant "victim": size 1 and a root of
    // the attacker's choosing, in lines of its own under the origin line.
    let chosen_root = STANDARD.encode([0xab; 32]);
    let hostile = format!("victim\n1\n{chosen_root}");
    let (s, a) = checkpointed_every_5();
    for i in 0..5 {
        a.emit(Receipt::new(hostile.as_str()).with_input_text(&format!("x {i}")))
            .unwrap();
    }
    a.shutdown().unwrap();
    let t = TenantId::new(hostile.as_str());
    let stored = s.tree().unwrap().latest_checkpoint(&t).unwrap().unwrap();
    assert_eq!(stored.size, 5);
    // The signed note is one origin line (the tenant escaped), the true size and the true root.
    let cp = note::verify_note(&stored.note, &key().verifying_key()).unwrap();
    assert_eq!(
        cp.origin,
        format!("audit.example.com/victim%0A1%0A{chosen_root}")
    );
    assert_eq!((cp.size, cp.root), (5, stored.root));
    assert_eq!(stored.note.lines().count(), 5, "{}", stored.note);
    // Such a tenant's bundle verifies, its checkpoint naming it.
    let r = verify_zip_with(&bundle(s.as_ref(), &hostile, 0, 5), None, true);
    assert!(r.is_pass(), "{:?}", r.chain.findings);
    assert_eq!(r.checkpoint.unwrap().origin, cp.origin);
    // A checkpoint over the unescaped origin is not signed at all.
    let raw = note::Checkpoint::new(format!("audit.example.com/{hostile}"), 5, stored.root);
    let refused = raw.sign("audit.example.com", &key()).unwrap_err();
    assert!(
        matches!(refused, audit_runtime::SealError::Note { .. }),
        "{refused}"
    );
    // And the note the unescaped origin gave before (validly signed by the log's key, here
    // by hand) is not taken for a checkpoint of "victim" of size 1 under the chosen root: its
    // extra lines refuse it.
    let body = raw.body();
    let mut blob = key()
        .verifying_key()
        .key_id("audit.example.com")
        .to_bytes()
        .to_vec();
    blob.extend_from_slice(&key().sign(body.as_bytes()));
    let unescaped = format!(
        "{body}\n\u{2014} audit.example.com {}\n",
        STANDARD.encode(blob)
    );
    let err = note::verify_note(&unescaped, &key().verifying_key()).unwrap_err();
    assert!(err.to_string().contains("lines after the root"), "{err}");
}

#[test]
fn origins_escape_what_would_break_or_hide_a_line_and_stay_one_to_one() {
    let o = |t: &str| note::origin("log", &TenantId::new(t));
    assert_eq!(o("acme corp/eu-1"), "log/acme corp/eu-1");
    assert_eq!(o("Zürich ✓"), "log/Zürich ✓");
    assert_eq!(o("a\r\nb\t\u{7f}"), "log/a%0D%0Ab%09%7F");
    assert_eq!(o("\u{85}\u{2028}\u{2029}"), "log/%C2%85%E2%80%A8%E2%80%A9");
    // `%` is escaped too, so an escaped tenant and one that spells its escape differ.
    assert_eq!(o("a%0Ab"), "log/a%250Ab");
    assert_ne!(o("a\nb"), o("a%0Ab"));
    for c in (0u32..0x110000).filter_map(char::from_u32) {
        let origin = o(&c.to_string());
        assert!(
            !origin
                .chars()
                .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
            "{c:?} gives {origin:?}"
        );
    }
}

#[test]
fn a_log_name_that_cannot_name_a_log_is_refused_before_anything_is_signed() {
    use audit_runtime::AuditorError;
    for bad in ["", "audit example", "a/b", "a+b", "a\nb", "tab\there"] {
        let err = Auditor::builder()
            .signer(key())
            .store(MemoryStore::new())
            .log_name(bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, AuditorError::LogName { .. }),
            "{bad:?}: {err}"
        );
        assert!(err.to_string().contains("cannot be a log name"), "{err}");
        let s = filled(1, "n");
        let signed = log::checkpoint(s.as_ref(), &TenantId::new("acme"), Some(1), bad, &key());
        assert!(
            matches!(signed, Err(log::TransparencyError::BadLogName { .. })),
            "{bad:?}"
        );
    }
}
