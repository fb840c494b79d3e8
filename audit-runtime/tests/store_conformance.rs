//! One conformance suite, run against every store.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

#[cfg(feature = "sqlite")]
use audit_runtime::store::SqliteStore;
use audit_runtime::store::{self, MemoryStore, Selector, Store, StoreError, StoredEntry, WriteTxn};
use audit_runtime::{ReceiptId, SessionId, TenantId, TraceId};

fn entry(tenant: &str, seq: u64, id: &str, ts: i64, trace: &str, session: &str) -> StoredEntry {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&seq.to_le_bytes());
    hash[8] = tenant.len() as u8;
    StoredEntry {
        tenant: TenantId::new(tenant),
        seq,
        receipt_id: ReceiptId::new(id),
        receipt_hash: hash,
        timestamp_micros: ts,
        trace_id: TraceId::new(trace),
        session_id: SessionId::new(session),
        line: format!("{{\"line\":\"{id}\"}}").into_bytes(),
    }
}

fn append_all(s: &dyn Store, entries: &[StoredEntry]) -> Result<(), StoreError> {
    s.write(&mut |txn: &mut dyn WriteTxn| {
        for e in entries {
            txn.append(&e.as_new())?;
        }
        Ok(())
    })
}

fn ids(it: store::Receipts<'_>) -> Vec<String> {
    it.map(|e| e.unwrap().receipt_id.into_string()).collect()
}

fn conformance(s: &dyn Store) {
    let a = TenantId::new("a");
    assert_eq!(s.tip(&a).unwrap(), None);
    assert!(s.tenants().unwrap().is_empty());

    // Appends, tips, get.
    let batch: Vec<StoredEntry> = (0..10)
        .map(|i| {
            entry(
                "a",
                i,
                &format!("a{i}"),
                1000 + i as i64 * 10,
                if i % 2 == 0 { "t-even" } else { "t-odd" },
                "s1",
            )
        })
        .collect();
    append_all(s, &batch).unwrap();
    append_all(s, &[entry("b", 0, "b0", 5, "t-even", "")]).unwrap();
    let tip = s.tip(&a).unwrap().unwrap();
    assert_eq!(tip.len, 10);
    assert_eq!(tip.hash, batch[9].receipt_hash);
    assert_eq!(s.get(&ReceiptId::new("a3")).unwrap().unwrap(), batch[3]);
    assert_eq!(s.get(&ReceiptId::new("nope")).unwrap(), None);
    assert_eq!(
        s.tenants().unwrap(),
        vec![TenantId::new("a"), TenantId::new("b")]
    );

    // Inside a transaction, tip and find see earlier appends of the same transaction.
    s.write(&mut |txn: &mut dyn WriteTxn| {
        let e = entry("a", 10, "a10", 1100, "", "");
        txn.append(&e.as_new())?;
        assert_eq!(txn.tip(&a)?.unwrap().len, 11);
        assert!(txn.find(&ReceiptId::new("a10"))?.is_some());
        Ok(())
    })
    .unwrap();

    // A sequence gap is refused, and the whole transaction is rolled back.
    let err = append_all(
        s,
        &[
            entry("a", 11, "a11", 1110, "", ""),
            entry("a", 13, "a13", 1130, "", ""),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SequenceGap {
                expected: 12,
                found: 13,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(s.tip(&a).unwrap().unwrap().len, 11);
    assert_eq!(s.get(&ReceiptId::new("a11")).unwrap(), None);

    // A duplicate id is refused (W16), also across tenants, and nothing of the batch is kept.
    let err = append_all(
        s,
        &[
            entry("b", 1, "b1", 6, "", ""),
            entry("b", 2, "a3", 7, "", ""),
        ],
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateId { .. }), "{err:?}");
    assert_eq!(s.tip(&TenantId::new("b")).unwrap().unwrap().len, 1);

    // An error from the closure keeps nothing.
    let res = s.write(&mut |txn: &mut dyn WriteTxn| {
        txn.append(&entry("c", 0, "c0", 0, "", "").as_new())?;
        Err(StoreError::Corrupt {
            what: "test abort".into(),
        })
    });
    assert!(res.is_err());
    assert_eq!(s.tip(&TenantId::new("c")).unwrap(), None);

    // Streaming queries, across page boundaries.
    let all = ids(store::select(
        s,
        Selector::Tenant {
            tenant: a.clone(),
            seq: 0..u64::MAX,
            time: None,
        },
        3,
    ));
    assert_eq!(all, (0..11).map(|i| format!("a{i}")).collect::<Vec<_>>());
    assert_eq!(ids(store::receipts(s, &a, 2..5)), ["a2", "a3", "a4"]);
    assert_eq!(
        ids(store::receipts_in_time(s, &a, 1020..1050)),
        ["a2", "a3", "a4"]
    );
    let even = ids(store::select(s, Selector::Trace(TraceId::new("t-even")), 2));
    assert_eq!(even, ["a0", "a2", "a4", "a6", "a8", "b0"]);
    assert_eq!(ids(store::by_session(s, &SessionId::new("s1"))).len(), 10);
    assert!(ids(store::by_trace(s, &TraceId::new("none"))).is_empty());
    assert!(ids(store::receipts(s, &TenantId::new("zzz"), 0..10)).is_empty());
}

#[test]
fn memory_store_passes_the_conformance_suite() {
    conformance(&MemoryStore::new());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("nested/dir/audit.db")).unwrap();
    conformance(&s);
    // Reopening keeps everything, tips included.
    drop(s);
    let s = SqliteStore::open(dir.path().join("nested/dir/audit.db")).unwrap();
    assert_eq!(s.tip(&TenantId::new("a")).unwrap().unwrap().len, 11);
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_refuses_a_directory_it_cannot_create() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = SqliteStore::open(file.join("sub/audit.db")).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
}
