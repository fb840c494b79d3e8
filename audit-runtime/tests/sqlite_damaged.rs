//! The SQLite store on damaged or hostile files: errors, never panics or endless streams.
#![cfg(feature = "sqlite")]
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::Path;

use audit_runtime::store::{self, SqliteStore, Store, StoreError, StoredEntry, WriteTxn};
use audit_runtime::{ReceiptId, SessionId, TenantId, TraceId};

fn entry(seq: u64) -> StoredEntry {
    StoredEntry {
        tenant: TenantId::new("a"),
        seq,
        receipt_id: ReceiptId::new(format!("a{seq}")),
        receipt_hash: [seq as u8; 32],
        timestamp_micros: seq as i64,
        trace_id: TraceId::new("tr"),
        session_id: SessionId::new("se"),
        line: format!("{{\"seq\":{seq}}}").into_bytes(),
        tag: None,
    }
}

fn append(s: &dyn Store, e: &StoredEntry) -> Result<(), StoreError> {
    s.write(&mut |txn: &mut dyn WriteTxn| txn.append(&e.as_new()))
}

/// A store with two receipts in two segments, whose segment ids are then moved by `shift`.
fn store_with_segments_moved_by(path: &Path, shift: i64) -> SqliteStore {
    let s = SqliteStore::open(path).unwrap();
    append(&s, &entry(0)).unwrap();
    append(&s, &entry(1)).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(&format!(
        "UPDATE segments SET id = id + {shift};
         UPDATE receipt_ids SET segment = segment + {shift};
         UPDATE trace_segments SET segment = segment + {shift};
         UPDATE session_segments SET segment = segment + {shift};"
    ))
    .unwrap();
    drop(c);
    SqliteStore::open(path).unwrap()
}

#[test]
fn trace_pages_over_segment_ids_beyond_the_cursor_range_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with_segments_moved_by(&dir.path().join("audit.db"), 1 << 60);
    assert_eq!(s.get(&ReceiptId::new("a1")).unwrap().unwrap(), entry(1));
    // A cursor cannot name these segments: the stream must end (with an error), not restart.
    let got: Vec<_> = store::select(&s, store::Selector::Trace(TraceId::new("tr")), 1)
        .take(10)
        .collect();
    assert!(
        got.len() <= 3,
        "the stream does not end: {} items",
        got.len()
    );
    assert!(
        got.iter()
            .any(|r| matches!(r, Err(StoreError::Corrupt { .. }))),
        "{got:?}"
    );
}

#[test]
fn appending_after_the_largest_segment_id_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let s = store_with_segments_moved_by(&dir.path().join("audit.db"), i64::MAX - 3);
    let err = append(&s, &entry(2)).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(s.tip(&TenantId::new("a")).unwrap().unwrap().len, 2);
}

/// A segment that cannot be written (here: a stray row claims the tenant's first sequence
/// number; a full disk does the same) fails the append that closed it. A caller that handles
/// that error and commits must not end up with tips and ids for receipts that were never
/// written.
#[test]
fn a_failed_segment_write_is_never_committed_half() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO segments (id, tenant, first_seq, count, ts_min, ts_max, entries, lines)
             VALUES (1000, 'a', 0, 0, 0, 0, x'', x'')",
            [],
        )
        .unwrap();
    let s = SqliteStore::open(&path).unwrap();
    let entries: Vec<StoredEntry> = (0..=128).map(entry).collect();
    let res = s.write(&mut |txn: &mut dyn WriteTxn| {
        for e in &entries {
            // The 129th append writes out the first segment, which fails; the caller goes on.
            if let Err(err) = txn.append(&e.as_new()) {
                assert_eq!(e.seq, 128, "{err:?}");
            }
        }
        Ok(())
    });
    let len = s.tip(&TenantId::new("a")).unwrap().map_or(0, |t| t.len);
    if res.is_err() {
        assert_eq!(len, 0, "a failed write keeps nothing");
    }
    for e in &entries[..usize::try_from(len).unwrap()] {
        assert_eq!(s.get(&e.receipt_id).unwrap().as_ref(), Some(e));
    }
}

#[test]
fn negative_sequence_numbers_in_the_file_are_errors_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let s = SqliteStore::open(&path).unwrap();
    append(&s, &entry(0)).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("UPDATE segments SET first_seq = -5; UPDATE tips SET len = -1;")
        .unwrap();
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    let tenant = TenantId::new("a");
    assert!(matches!(s.tip(&tenant), Err(StoreError::Corrupt { .. })));
    assert!(matches!(
        s.get(&ReceiptId::new("a0")),
        Err(StoreError::Corrupt { .. })
    ));
    let read: Vec<_> = store::by_trace(&s, &TraceId::new("tr")).collect();
    assert!(
        matches!(read.as_slice(), [Err(StoreError::Corrupt { .. })]),
        "{read:?}"
    );
}

#[test]
fn open_existing_refuses_what_is_not_a_store_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    // Someone else's SQLite database, in rollback-journal mode.
    {
        let c = rusqlite::Connection::open(at("notes.db")).unwrap();
        c.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello');")
            .unwrap();
    }
    std::fs::write(at("empty.db"), b"").unwrap();
    std::fs::write(at("text.db"), b"SQLite format 3 is what this text says\n").unwrap();
    for (name, why) in [
        ("notes.db", "without ai-audit's tables"),
        ("empty.db", "empty"),
        ("text.db", "not an SQLite database"),
    ] {
        let before = std::fs::read(at(name)).unwrap();
        let err = SqliteStore::open_existing(at(name)).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{name}: {err}");
        assert!(err.to_string().contains(why), "{name}: {err}");
        assert_eq!(std::fs::read(at(name)).unwrap(), before, "{name} changed");
        assert!(!at(&format!("{name}-wal")).exists(), "{name} got a WAL");
    }
    let err = SqliteStore::open_existing(at("missing.db")).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(!at("missing.db").exists());
    // A store opens, with what it holds.
    let s = SqliteStore::open(at("audit.db")).unwrap();
    s.write(&mut |txn: &mut dyn WriteTxn| txn.append(&entry(0).as_new()))
        .unwrap();
    drop(s);
    let s = SqliteStore::open_existing(at("audit.db")).unwrap();
    assert_eq!(s.tip(&TenantId::new("a")).unwrap().unwrap().len, 1);
}
