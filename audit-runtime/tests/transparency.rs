//! Transparency end to end: the writer keeps each tenant's tree in the append's transaction,
//! the checkpointer signs, proofs verify offline, and any single-bit change fails.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::sync::Arc;
use std::time::Duration;

use audit_runtime::merkle::{self, MerkleTree};
use audit_runtime::store::tree::TileNodes;
use audit_runtime::store::{self, MemoryStore, Store};
use audit_runtime::transparency::{self, TlogProof};
use audit_runtime::{Auditor, Receipt, SigningKey, TenantId};

fn key() -> SigningKey {
    SigningKey::from_hex(&"07".repeat(32)).unwrap()
}

/// The tenant's tree recomputed from its stored lines.
fn tree_of_lines(s: &dyn Store, t: &TenantId) -> MerkleTree {
    MerkleTree::new(
        store::receipts(s, t, 0..u64::MAX)
            .map(|e| transparency::leaf_of_line(&e.unwrap().line).unwrap())
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
        let parsed = transparency::verify_note(&cp.note, &vk).unwrap();
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
        let p = transparency::prove(s.as_ref(), id, None).unwrap();
        let text = p.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "));
        let checked = TlogProof::parse(&text).unwrap().verify(&vk).unwrap();
        assert_eq!(checked.index, i as u64);
        assert_eq!(checked.checkpoint.size, 37);
    }
    // Flip every bit of one proof file (leaf 5): each change is refused or fails.
    let text = transparency::prove(s.as_ref(), &ids[5], None)
        .unwrap()
        .to_text();
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
