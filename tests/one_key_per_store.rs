//! One key per store: an auditor whose signer did not write the store is refused at `build()`
//! with both fingerprints, and nothing is appended — whether the store recorded its key or was
//! written before keys were recorded.
#![cfg(feature = "sqlite")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::Path;

use ai_audit::store::{SqliteStore, Store};
use ai_audit::{Auditor, AuditorError, Receipt, SealingMode, SigningKey, TenantId};

fn write_some(path: &Path, key: &SigningKey, sealing: SealingMode) {
    let a = Auditor::builder()
        .signer(key.clone())
        .store(SqliteStore::open(path).unwrap())
        .sealing(sealing)
        .build()
        .unwrap();
    for tenant in ["bank-eu", "bank-us"] {
        for _ in 0..5 {
            a.emit(Receipt::new(tenant)).unwrap();
        }
    }
    a.shutdown().unwrap();
}

fn tips(path: &Path) -> Vec<(TenantId, u64, usize)> {
    let s = SqliteStore::open(path).unwrap();
    s.tenants()
        .unwrap()
        .into_iter()
        .map(|t| {
            let tip = s.tip(&t).unwrap().unwrap();
            let checkpoints = s
                .tree()
                .unwrap()
                .latest_checkpoint(&t)
                .unwrap()
                .map_or(0, |c| c.size as usize);
            (t, tip.len, checkpoints)
        })
        .collect()
}

fn refused(path: &Path, other: &SigningKey) -> String {
    let err = Auditor::builder()
        .signer(other.clone())
        .store(SqliteStore::open(path).unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, AuditorError::ForeignKey { .. }), "{err:?}");
    err.to_string()
}

/// In each sealing mode: a store written under key A at `path`, then `check(path, a, b)`.
fn with_store_of_key_a(check: impl Fn(&Path, &SigningKey, &SigningKey, SealingMode)) {
    for sealing in [SealingMode::PerReceipt, SealingMode::Checkpointed] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::generate().unwrap();
        write_some(&path, &a, sealing);
        check(&path, &a, &b, sealing);
    }
}

#[test]
fn a_store_written_under_key_a_refuses_key_b_naming_both_fingerprints() {
    with_store_of_key_a(|path, a, b, sealing| {
        let before = tips(path);
        let message = refused(path, b);
        for key in [a, b] {
            let fingerprint = key.verifying_key().fingerprint();
            assert!(message.contains(&fingerprint), "{message}");
        }
        assert!(message.contains("nothing was appended"), "{message}");
        assert_eq!(tips(path), before, "nothing appended, no checkpoint signed");

        // Key A goes on as before.
        write_some(path, a, sealing);
        assert_eq!(tips(path)[0].1, 10);
    });
}

#[test]
fn a_store_without_a_recorded_key_is_checked_against_its_signatures() {
    with_store_of_key_a(|path, a, b, sealing| {
        // As a store written before keys were recorded.
        assert!(drop_key_record(path), "the key record was there to remove");
        let before = tips(path);

        let message = refused(path, b);
        assert!(
            message.contains(&b.verifying_key().fingerprint()),
            "{message}"
        );
        assert!(
            message.contains("bank-eu"),
            "names the tenant it checked: {message}"
        );
        assert_eq!(tips(path), before);

        write_some(path, a, sealing); // the right key is accepted, and recorded again
        assert!(refused(path, b).contains(&a.verifying_key().fingerprint()));
    });
}

/// Removes the key record, as in a store written before keys were recorded.
fn drop_key_record(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("DROP TABLE signing_keys").is_ok()
}

#[test]
fn of_two_auditors_starting_at_once_on_a_new_store_only_one_key_wins() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        drop(SqliteStore::open(&path).unwrap()); // the file exists; no key is recorded yet
        let barrier = std::sync::Barrier::new(2);
        let built: Vec<bool> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let store = SqliteStore::open(&path).unwrap();
                        barrier.wait();
                        Auditor::builder()
                            .signer(SigningKey::generate().unwrap())
                            .store(store)
                            .build()
                            .map(|a| a.shutdown().unwrap())
                            .is_ok()
                    })
                })
                .collect();
            starts.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(built.iter().filter(|ok| **ok).count(), 1, "{built:?}");
    }
}
