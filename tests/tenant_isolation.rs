//! One damaged tenant never fails another's commits: a tenant whose Merkle tree and chain
//! disagree is quarantined (found when the auditor is built, or by the first commit that fails
//! for it while running), and every other tenant's receipts — group-committed in the same
//! batches — are stored without a single error.
#![cfg(feature = "sqlite")]
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::Path;
use std::sync::Arc;

use ai_audit::store::{SqliteStore, Store, StoreError, TenantFault};
use ai_audit::{Auditor, EmitError, Receipt, SigningKey, TenantId};

const GOOD: [&str; 8] = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"];
const BAD: &str = "damaged";
/// Receipts per emitting thread.
const PER_THREAD: usize = 3_000;
const THREADS: usize = 4;

fn key() -> SigningKey {
    SigningKey::from_hex("5151515151515151515151515151515151515151515151515151515151515151")
        .unwrap()
}

fn auditor(db: &Path) -> Auditor {
    Auditor::builder()
        .signer(key())
        .store(SqliteStore::open(db).unwrap())
        .build()
        .unwrap()
}

fn seed(db: &Path) {
    let a = auditor(db);
    for t in GOOD.iter().chain([&BAD]) {
        for _ in 0..3 {
            a.emit(Receipt::new(*t)).unwrap();
        }
    }
    a.shutdown().unwrap();
}

/// Makes the damaged tenant's Merkle tree claim leaves its chain does not hold (what a removal
/// of receipts behind the store's back leaves).
fn damage_tree(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    let n = c
        .execute(
            "UPDATE merkle_trees SET size = size + 3 WHERE tenant = ?1",
            [BAD],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// Emits from several threads, many receipts in flight each, the damaged tenant's among the
/// others' in the same batches. Returns (good stored, good failed, damaged failed).
fn hammer(a: &Auditor) -> (u64, Vec<String>, u64) {
    let results: Vec<(u64, Vec<String>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let mut ok = 0u64;
                    let mut good_errors = Vec::new();
                    let mut bad_errors = 0u64;
                    let mut pending = Vec::new();
                    for i in 0..PER_THREAD {
                        let tenant = if i % 10 == 3 {
                            BAD
                        } else {
                            GOOD[(i + t) % GOOD.len()]
                        };
                        pending.push((tenant, a.submit(Receipt::new(tenant)).unwrap()));
                        if pending.len() == 256 || i + 1 == PER_THREAD {
                            for (tenant, p) in pending.drain(..) {
                                match (tenant == BAD, p.wait()) {
                                    (false, Ok(_)) => ok += 1,
                                    (false, Err(e)) => good_errors.push(format!("{tenant}: {e}")),
                                    (true, Err(EmitError::Quarantined { tenant, reason })) => {
                                        assert_eq!(tenant.as_str(), BAD);
                                        assert!(!reason.is_retryable());
                                        bad_errors += 1;
                                    }
                                    (true, other) => panic!("the damaged tenant: {other:?}"),
                                }
                            }
                        }
                    }
                    (ok, good_errors, bad_errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = (0, Vec::new(), 0);
    for (ok, errs, bad) in results {
        total.0 += ok;
        total.1.extend(errs);
        total.2 += bad;
    }
    total
}

fn assert_isolated(a: &Auditor, db: &Path) {
    let (ok, good_errors, bad) = hammer(a);
    let expected_bad = (THREADS * PER_THREAD / 10) as u64;
    assert!(
        good_errors.is_empty(),
        "{} errors, first: {:?}",
        good_errors.len(),
        good_errors.first()
    );
    assert_eq!(ok + bad, (THREADS * PER_THREAD) as u64);
    assert!(ok >= 10_000, "{ok}");
    assert_eq!(bad, expected_bad);
    let q = a.quarantined();
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0.as_str(), BAD);
    a.shutdown().unwrap();
    // Every good receipt is stored, each good chain verifies from genesis.
    let store = SqliteStore::open(db).unwrap();
    let stored: u64 = GOOD
        .iter()
        .map(|t| store.tip(&TenantId::new(*t)).unwrap().unwrap().len - 3)
        .sum();
    assert_eq!(stored, ok);
    let report = ai_audit::store::check::check_store(
        &store,
        ai_audit::store::check::Depth::Full,
        Some(&key().verifying_key()),
    )
    .unwrap();
    for t in &report {
        assert_eq!(t.is_ok(), t.tenant.as_str() != BAD, "{t:?}");
    }
}

#[test]
fn a_tenant_whose_tree_and_chain_disagree_at_start_is_quarantined_and_the_others_commit_without_errors()
 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    seed(&db);
    damage_tree(&db);
    let a = auditor(&db);
    let q = a.quarantined();
    assert_eq!(q.len(), 1, "{q:?}");
    match &*q[0].1 {
        StoreError::Refused {
            fault: TenantFault::Inconsistent { what },
            ..
        } => assert!(what.contains("Merkle tree holds 6 leaves"), "{what}"),
        other => panic!("{other}"),
    }
    assert_isolated(&a, &db);
}

#[test]
fn a_tenant_damaged_while_the_auditor_runs_is_quarantined_by_its_first_failed_commit_and_the_others_commit_without_errors()
 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    seed(&db);
    let a = Arc::new(auditor(&db));
    assert!(a.quarantined().is_empty());
    damage_tree(&db);
    assert_isolated(&a, &db);
}
