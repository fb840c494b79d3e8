//! Rollback is detected, never papered over: a damaged write-ahead log that makes SQLite drop
//! acknowledged commits, and an emptied database, leave the affected tenants refused for
//! appending (naming stored and acknowledged positions) while other tenants carry on; an
//! operator's signed gap receipt continues the chain, and the exported bundle verifies with the
//! gap reported.
#![cfg(feature = "sqlite")]
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ai_audit::store::{SqliteStore, Store, StoreError, TenantFault};
use ai_audit::{Auditor, EmitError, Receipt, SigningKey, TenantId};

const SEED: &str = "4242424242424242424242424242424242424242424242424242424242424242";
const PAGE: usize = 16_384;
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

fn key() -> SigningKey {
    SigningKey::from_hex(SEED).unwrap()
}

fn auditor(db: &Path) -> Auditor {
    Auditor::builder()
        .signer(key())
        .store(SqliteStore::open(db).unwrap())
        .build()
        .unwrap()
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(args)
        .env("AI_AUDIT_SIGNING_KEY", SEED)
        .env_remove("AI_AUDIT_DATA_DIR")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A store whose tenants `t0` and `t1` keep receiving receipts after a first phase, and a copy
/// of its files taken while the writer is alive, as a crash would leave them: the second phase
/// is only in the write-ahead log (a read snapshot held since the first phase keeps SQLite from
/// copying it into the database file). Returns the copy's database path and the tips
/// acknowledged before the copy.
fn crash_image(dir: &Path) -> (PathBuf, Vec<(String, u64)>) {
    let live = dir.join("live/audit.db");
    let a = auditor(&live);
    for i in 0..40 {
        for t in ["t0", "t1", "steady"] {
            a.emit(Receipt::new(t).with_trace(format!("first-{i}")))
                .unwrap();
        }
    }
    a.shutdown().unwrap();
    // Pins the database file as it is now: checkpoints cannot copy later frames into it.
    let pin = rusqlite::Connection::open(&live).unwrap();
    pin.execute_batch("BEGIN; SELECT count(*) FROM tips;")
        .unwrap();
    let a = auditor(&live);
    let mut acked = Vec::new();
    for i in 0..300 {
        // One commit each: many frames in the log.
        for t in ["t0", "t1"] {
            a.emit(Receipt::new(t).with_trace(format!("second-{i}")))
                .unwrap();
        }
    }
    for t in ["t0", "t1", "steady"] {
        let tip = a.store().tip(&TenantId::new(t)).unwrap().unwrap();
        acked.push((t.to_owned(), tip.len));
    }
    let copy = dir.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for suffix in ["", "-wal", "-highwater"] {
        let from = PathBuf::from(format!("{}{suffix}", live.display()));
        let to = copy.join(format!("audit.db{suffix}"));
        std::fs::copy(&from, &to).unwrap();
    }
    drop(a);
    drop(pin);
    (copy.join("audit.db"), acked)
}

/// Flips a byte in the page of the write-ahead log's frame `frame` (0-based): SQLite's recovery
/// stops at the first frame whose checksum fails and drops it and every later frame.
fn damage_wal_frame(db: &Path, frame: usize) {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let mut bytes = std::fs::read(&wal).unwrap();
    let frames = (bytes.len() - WAL_HEADER) / (FRAME_HEADER + PAGE);
    assert!(frame < frames, "the log holds {frames} frames");
    let at = WAL_HEADER + frame * (FRAME_HEADER + PAGE) + FRAME_HEADER + 100;
    bytes[at] ^= 0x40;
    std::fs::write(&wal, bytes).unwrap();
}

fn wal_frames(db: &Path) -> usize {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let len = std::fs::metadata(wal).unwrap().len() as usize;
    (len - WAL_HEADER) / (FRAME_HEADER + PAGE)
}

#[test]
fn a_damaged_wal_frame_after_acknowledged_receipts_refuses_the_rolled_back_tenants_and_a_signed_gap_continues_the_chain()
 {
    let dir = tempfile::tempdir().unwrap();
    let (db, acked) = crash_image(dir.path());
    let frames = wal_frames(&db);
    assert!(
        frames > 100,
        "the second phase must be in the log: {frames} frames"
    );
    damage_wal_frame(&db, frames / 2);

    let store = SqliteStore::open(&db).unwrap();
    let faults = store.faults().unwrap();
    let names: Vec<&str> = faults.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["t0", "t1"], "{faults:?}");
    for (tenant, fault) in &faults {
        let acknowledged = acked.iter().find(|(t, _)| t == tenant.as_str()).unwrap().1;
        let stored = store.tip(tenant).unwrap().map_or(0, |t| t.len);
        assert!(
            stored < acknowledged,
            "{tenant:?}: {stored} vs {acknowledged}"
        );
        match fault {
            TenantFault::RolledBack {
                stored: s,
                acknowledged: a,
                ..
            } => assert_eq!((*s, *a), (stored, acknowledged)),
            other => panic!("{other:?}"),
        }
        let message = fault.to_string();
        assert!(
            message.contains(&stored.to_string())
                && message.contains(&acknowledged.to_string())
                && message.contains("ai-audit db record-gap"),
            "{message}"
        );
    }
    drop(store);

    // The auditor quarantines the rolled-back tenants: their emits fail, naming the positions;
    // the steady tenant and new tenants are served, and sequence numbers are never reused.
    let a = auditor(&db);
    let err = a.emit(Receipt::new("t0")).unwrap_err();
    assert!(matches!(err, EmitError::Quarantined { .. }), "{err}");
    assert!(!err.is_retryable());
    let why = ai_audit_error_chain(&err);
    assert!(why.contains("rolled back"), "{why}");
    a.emit(Receipt::new("steady")).unwrap();
    a.emit(Receipt::new("newcomer")).unwrap();
    assert_eq!(a.quarantined().len(), 2);
    a.shutdown().unwrap();

    // The operator sees it, and records the loss of t0 with a signed gap receipt.
    let db_arg = db.to_str().unwrap();
    let check = cli(&["db", "check", "--db", db_arg]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("rolled_back"), "{}", text(&check));
    // Export refuses to sign the shorter history as if it were complete.
    let refused = cli(&[
        "export",
        "--db",
        db_arg,
        "--tenant",
        "t0",
        "-o",
        dir.path().join("refused.zip").to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("rolled back"), "{}", text(&refused));
    let gap = cli(&[
        "db",
        "record-gap",
        "--db",
        db_arg,
        "--tenant",
        "t0",
        "--note",
        "WAL damaged on 2026-12-07; no backup holds the lost receipts",
    ]);
    assert_eq!(gap.status.code(), Some(0), "{}", text(&gap));
    // Recording it twice is refused: nothing is lost any more.
    let again = cli(&["db", "record-gap", "--db", db_arg, "--tenant", "t0"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));

    // t0 appends again after the gap; t1 is still refused.
    let a = auditor(&db);
    a.emit(Receipt::new("t0").with_trace("after-gap")).unwrap();
    let err = a.emit(Receipt::new("t1")).unwrap_err();
    assert!(matches!(err, EmitError::Quarantined { .. }), "{err}");
    a.shutdown().unwrap();

    // The exported bundle verifies, and the verifier reports the gap.
    let bundle = dir.path().join("t0.zip");
    let export = cli(&[
        "export",
        "--db",
        db_arg,
        "--tenant",
        "t0",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(export.status.code(), Some(0), "{}", text(&export));
    let verify = cli(&[
        "verify",
        bundle.to_str().unwrap(),
        "--key",
        &key().verifying_key().to_hex(),
    ]);
    let out = text(&verify);
    assert_eq!(verify.status.code(), Some(0), "{out}");
    let acknowledged = acked.iter().find(|(t, _)| t == "t0").unwrap().1;
    assert!(out.contains("PASS") && out.contains("GAPS"), "{out}");
    assert!(
        out.contains(&format!("{acknowledged} had been acknowledged")),
        "{out}"
    );
    assert!(out.contains("no backup holds the lost receipts"), "{out}");
}

fn ai_audit_error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut s = e.source();
    while let Some(x) = s {
        out.push_str(": ");
        out.push_str(&x.to_string());
        s = x.source();
    }
    out
}

#[test]
fn an_emptied_database_beside_its_high_water_record_is_refused_for_every_acknowledged_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let a = auditor(&db);
    for i in 0..25 {
        for t in ["alpha", "beta"] {
            a.emit(Receipt::new(t).with_trace(format!("x-{i}")))
                .unwrap();
        }
    }
    a.shutdown().unwrap();
    drop(a);
    // Emptied in place (the log was already copied into it and truncated at shutdown).
    std::fs::write(&db, b"").unwrap();
    let _ = std::fs::remove_file(format!("{}-wal", db.display()));

    let store = SqliteStore::open(&db).unwrap();
    let faults = store.faults().unwrap();
    assert_eq!(faults.len(), 2, "{faults:?}");
    for (_, f) in &faults {
        assert!(
            matches!(
                f,
                TenantFault::RolledBack {
                    stored: 0,
                    acknowledged: 25,
                    ..
                }
            ),
            "{f:?}"
        );
    }
    // Appending through the store directly is refused too, not only through the auditor.
    let err = store
        .write(&mut |txn| {
            let r = Receipt::new("alpha");
            let sealed = ai_audit::seal(r, &key()).map_err(|e| StoreError::Corrupt {
                what: e.to_string(),
            })?;
            let line = sealed.to_jsonl_line();
            let r = sealed.receipt();
            txn.append(&ai_audit::store::NewEntry {
                tenant: &r.tenant_id,
                seq: 0,
                receipt_id: &r.receipt_id,
                receipt_hash: sealed.receipt_hash(),
                timestamp_micros: r.timestamp.to_unix_micros(),
                trace_id: &r.trace_id,
                session_id: &r.session_id,
                line: &line,
                tag: None,
            })
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Refused { .. }), "{err}");
    drop(store);
    let a = auditor(&db);
    assert!(matches!(
        a.emit(Receipt::new("beta")).unwrap_err(),
        EmitError::Quarantined { .. }
    ));
    a.emit(Receipt::new("gamma")).unwrap();
    a.shutdown().unwrap();
}
