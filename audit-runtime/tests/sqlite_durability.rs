//! The embedded SQLite store under restarts, concurrency, several processes and SIGKILL.
//!
//! Child processes are this test binary itself, re-run with `--exact child_process_entry`
//! and an environment variable that tells the entry what to do.
#![cfg(feature = "sqlite")]
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_runtime::store::{self, SqliteStore, Store};
use audit_runtime::verify::{VerifyOptions, verify_lines};
use audit_runtime::{
    Auditor, CheckRecord, Receipt, ReceiptId, SigningKey, TenantId, VerificationReport,
};

const SEED: &str = "0909090909090909090909090909090909090909090909090909090909090909";
const CHILD_MODE: &str = "AI_AUDIT_TEST_CHILD";
const CHILD_DB: &str = "AI_AUDIT_TEST_DB";

fn key() -> SigningKey {
    SigningKey::from_hex(SEED).unwrap()
}

fn open(path: &Path) -> (Auditor, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
    let a = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&store))
        .build()
        .unwrap();
    (a, store)
}

fn receipt(tenant: &str, i: u64) -> Receipt {
    Receipt::new(tenant)
        .with_trace(format!("trace-{i}"))
        .with_input_text("Is the applicant eligible?")
        .with_output_text("yes")
        .with_check(CheckRecord::new("eligibility", 0.9, 0.5))
}

/// Verifies a tenant's stored chain from genesis, streaming.
fn verify_tenant(store: &dyn Store, tenant: &str) -> VerificationReport {
    let lines =
        store::receipts(store, &TenantId::new(tenant), 0..u64::MAX).map(|e| e.map(|e| e.line));
    verify_lines(lines, &VerifyOptions::pinned(key().verifying_key())).unwrap()
}

fn assert_chain(store: &dyn Store, tenant: &str, len: u64) {
    if len == 0 {
        // Nothing stored yet (a child killed before its first commit for this tenant).
        assert!(store.tip(&TenantId::new(tenant)).unwrap().is_none());
        return;
    }
    let r = verify_tenant(store, tenant);
    assert!(r.is_pass(), "tenant {tenant}: {:?}", r.findings);
    assert_eq!(r.receipts, len, "tenant {tenant}");
    let tip = store.tip(&TenantId::new(tenant)).unwrap().unwrap();
    assert_eq!(tip.len, len);
    assert_eq!(r.tip.as_deref(), Some(hex::encode(tip.hash).as_str()));
}

/// Entry point of the child processes (does nothing in a normal test run).
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let db = std::env::var(CHILD_DB).unwrap();
    let (a, _) = open(Path::new(&db));
    match mode.as_str() {
        // Emit forever from 4 threads on 2 tenants; report every acknowledged id.
        "crash" => {
            let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let a = a.clone();
                    let out = Arc::clone(&out);
                    std::thread::spawn(move || {
                        for i in 0.. {
                            let tenant = if (t + i) % 2 == 0 { "alpha" } else { "beta" };
                            let e = a.emit(receipt(tenant, i)).unwrap();
                            let mut o = out.lock().unwrap();
                            writeln!(o, "ACK {}", e.receipt_id).unwrap();
                            o.flush().unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        // Emit a fixed number of receipts into one tenant from 2 threads.
        "share" => {
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let a = a.clone();
                    std::thread::spawn(move || {
                        for i in 0..1500 {
                            a.emit(receipt("shared", i)).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            a.shutdown().unwrap();
            println!("DONE");
        }
        other => unreachable!("unknown child mode {other}"),
    }
}

fn child(mode: &str, db: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_MODE, mode)
    .env(CHILD_DB, db)
    .stdin(Stdio::null());
    c
}

#[test]
fn a_restart_continues_each_chain_from_its_stored_tip() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let (a, _) = open(&db);
    for i in 0..100 {
        a.emit(receipt(if i % 2 == 0 { "alpha" } else { "beta" }, i))
            .unwrap();
    }
    drop(a);
    let (a, store) = open(&db);
    for i in 0..100 {
        let e = a
            .emit(receipt(if i % 2 == 0 { "alpha" } else { "beta" }, i))
            .unwrap();
        assert_eq!(e.seq, 50 + i / 2);
    }
    a.shutdown().unwrap();
    assert_chain(store.as_ref(), "alpha", 100);
    assert_chain(store.as_ref(), "beta", 100);
}

#[test]
fn a_duplicate_emit_after_restart_returns_the_stored_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let r = receipt("alpha", 1);
    let id: ReceiptId = r.receipt_id.clone();
    let (a, _) = open(&db);
    let first = a.emit(r.clone()).unwrap();
    drop(a);
    let (a, store) = open(&db);
    let again = a.emit(r).unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.seq, again.receipt_hash),
        (first.seq, first.receipt_hash)
    );
    a.shutdown().unwrap();
    assert_chain(store.as_ref(), "alpha", 1);
    assert_eq!(store.get(&id).unwrap().unwrap().seq, 0);
}

#[test]
fn eight_threads_on_four_tenants_give_exact_counts_and_linear_chains() {
    const PER_THREAD_PER_TENANT: u64 = 25_000;
    let dir = tempfile::tempdir().unwrap();
    let (a, store) = open(&dir.path().join("audit.db"));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                // Each thread keeps up to 256 receipts in flight (submit, then wait in order);
                // the last one of each thread goes through the blocking emit.
                let mut seen = HashSet::new();
                let mut in_flight = std::collections::VecDeque::new();
                let mut check = |e: audit_runtime::Emitted| {
                    assert!(!e.duplicate);
                    assert!(seen.insert((e.tenant, e.seq)));
                };
                for i in 0..PER_THREAD_PER_TENANT * 4 {
                    let tenant = format!("tenant-{}", (i + t) % 4);
                    if i == PER_THREAD_PER_TENANT * 4 - 1 {
                        check(a.emit(receipt(&tenant, i)).unwrap());
                        continue;
                    }
                    in_flight.push_back(a.submit(receipt(&tenant, i)).unwrap());
                    if in_flight.len() >= 256 {
                        check(in_flight.pop_front().unwrap().wait().unwrap());
                    }
                }
                for p in in_flight {
                    check(p.wait().unwrap());
                }
            })
        })
        .collect();
    let started = Instant::now();
    for t in threads {
        t.join().unwrap();
    }
    a.shutdown().unwrap();
    eprintln!(
        "800k durable emits took {:.1} s ({} group commits)",
        started.elapsed().as_secs_f64(),
        a.stats().batches
    );
    assert_eq!(a.stats().emitted, 8 * 4 * PER_THREAD_PER_TENANT);
    for t in 0..4 {
        assert_chain(
            store.as_ref(),
            &format!("tenant-{t}"),
            8 * PER_THREAD_PER_TENANT,
        );
    }
}

#[test]
fn two_processes_emitting_into_one_tenant_keep_one_unbroken_chain() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    // Create the schema first so both children open an existing database.
    drop(SqliteStore::open(&db).unwrap());
    let children: Vec<_> = (0..2)
        .map(|_| child("share", &db).stdout(Stdio::piped()).spawn().unwrap())
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("DONE"), "{text}");
    }
    let store = SqliteStore::open(&db).unwrap();
    assert_chain(&store, "shared", 2 * 2 * 1500);
}

/// splitmix64, seeded from the clock (the seed is printed so a failure can be replayed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_receipt_and_forks_no_chain() {
    const ROUNDS: usize = 20;
    let seed = std::env::var("AI_AUDIT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test seed {seed} (replay with AI_AUDIT_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    drop(SqliteStore::open(&db).unwrap());
    let mut acknowledged: Vec<String> = Vec::new();
    let mut last_len = (0u64, 0u64);
    for round in 0..ROUNDS {
        let mut c = child("crash", &db).stdout(Stdio::piped()).spawn().unwrap();
        let stdout = c.stdout.take().unwrap();
        let (first_ack, got_first) = std::sync::mpsc::channel::<()>();
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ACK ") {
                    if ids.is_empty() {
                        let _ = first_ack.send(());
                    }
                    ids.push(id.to_owned());
                }
            }
            ids
        });
        // Let it get going (its first acknowledgement, however loaded the machine is), then
        // kill it somewhere in the next 20-250 ms.
        let _ = got_first.recv_timeout(Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 230));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        let ids = reader.join().unwrap();
        acknowledged.extend(ids);

        let store = SqliteStore::open(&db).unwrap();
        for id in &acknowledged {
            assert!(
                store.get(&ReceiptId::new(id.as_str())).unwrap().is_some(),
                "round {round}: acknowledged receipt {id} is missing after SIGKILL"
            );
        }
        let la = store
            .tip(&TenantId::new("alpha"))
            .unwrap()
            .map_or(0, |t| t.len);
        let lb = store
            .tip(&TenantId::new("beta"))
            .unwrap()
            .map_or(0, |t| t.len);
        assert!(
            la >= last_len.0 && lb >= last_len.1,
            "round {round}: a chain shrank"
        );
        assert_chain(&store, "alpha", la);
        assert_chain(&store, "beta", lb);
        last_len = (la, lb);
    }
    assert!(
        acknowledged.len() > ROUNDS,
        "the children acknowledged only {} receipts",
        acknowledged.len()
    );
    // Emitting resumes on the same chains in this process too.
    let (a, store) = open(&db);
    let e = a.emit(receipt("alpha", 0)).unwrap();
    assert_eq!(e.seq, last_len.0);
    a.shutdown().unwrap();
    assert_chain(store.as_ref(), "alpha", last_len.0 + 1);
    eprintln!(
        "crash test: {ROUNDS} SIGKILLs, {} acknowledged receipts, chains {} + {}",
        acknowledged.len(),
        last_len.0 + 1,
        last_len.1
    );
}

/// The version 1 schema (hash-keyed id, trace and session indexes), as earlier releases wrote it.
const V1_SCHEMA: &str = "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('schema_version', 1);
    CREATE TABLE receipts (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL, receipt_id TEXT NOT NULL,
        receipt_hash BLOB NOT NULL, ts_micros INTEGER NOT NULL, trace_id TEXT NOT NULL,
        session_id TEXT NOT NULL, line BLOB NOT NULL, id_key BLOB NOT NULL,
        trace_key INTEGER NOT NULL, session_key INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX receipts_by_chain ON receipts (tenant, seq);
    CREATE UNIQUE INDEX receipts_by_id ON receipts (id_key);
    CREATE INDEX receipts_by_trace ON receipts (trace_key) WHERE trace_key <> 0;
    CREATE INDEX receipts_by_session ON receipts (session_key) WHERE session_key <> 0;
    CREATE INDEX receipts_by_time ON receipts (tenant, ts_micros);
    CREATE TABLE tips (tenant TEXT PRIMARY KEY, len INTEGER NOT NULL, hash BLOB NOT NULL);";

/// The version 2 schema (one row per receipt, text-keyed indexes, the writer's tag).
const V2_SCHEMA: &str = "
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('schema_version', 2);
    CREATE TABLE receipts (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL, receipt_id TEXT NOT NULL,
        receipt_hash BLOB NOT NULL, ts_micros INTEGER NOT NULL, trace_id TEXT NOT NULL,
        session_id TEXT NOT NULL, line BLOB NOT NULL, tag BLOB
    );
    CREATE UNIQUE INDEX receipts_by_chain ON receipts (tenant, seq);
    CREATE UNIQUE INDEX receipts_by_receipt_id ON receipts (receipt_id);
    CREATE INDEX receipts_by_trace_id ON receipts (trace_id) WHERE trace_id <> '';
    CREATE INDEX receipts_by_session_id ON receipts (session_id) WHERE session_id <> '';
    CREATE INDEX receipts_by_time ON receipts (tenant, ts_micros);
    CREATE TABLE tips (tenant TEXT PRIMARY KEY, len INTEGER NOT NULL, hash BLOB NOT NULL);";

fn schema_version(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

/// Writes `entries` (and the tips they end at) into a new file with an old schema, one row per
/// receipt, interleaving the tenants as a live store would have.
fn write_old_store(path: &Path, version: i64, entries: &[store::StoredEntry]) {
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(if version == 1 { V1_SCHEMA } else { V2_SCHEMA })
        .unwrap();
    let tx = c.transaction().unwrap();
    for e in entries {
        use rusqlite::types::Value;
        let (tenant, seq) = (e.tenant.as_str(), e.seq as i64);
        let mut row: Vec<Value> = vec![
            tenant.to_owned().into(),
            seq.into(),
            e.receipt_id.as_str().to_owned().into(),
            e.receipt_hash.to_vec().into(),
            e.timestamp_micros.into(),
            e.trace_id.as_str().to_owned().into(),
            e.session_id.as_str().to_owned().into(),
            e.line.clone().into(),
        ];
        if version == 1 {
            // The hash-keyed index columns; any distinct values serve.
            row.push(e.receipt_id.as_str().as_bytes().to_vec().into());
            row.push((e.trace_id.as_str().len() as i64).into());
            row.push((e.session_id.as_str().len() as i64).into());
        } else {
            row.push(e.tag.map(|t| t.to_vec()).into());
        }
        let marks: Vec<String> = (1..=row.len()).map(|i| format!("?{i}")).collect();
        tx.execute(
            &format!("INSERT INTO receipts VALUES ({})", marks.join(", ")),
            rusqlite::params_from_iter(row),
        )
        .unwrap();
        tx.execute(
            "INSERT INTO tips VALUES (?1, ?2, ?3) ON CONFLICT (tenant) DO UPDATE
             SET len = excluded.len, hash = excluded.hash",
            rusqlite::params![tenant, seq + 1, &e.receipt_hash[..]],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn a_store_of_an_old_version_is_migrated_and_its_chains_continue(version: i64) {
    let dir = tempfile::tempdir().unwrap();
    // Receipts written by today's code (300 per tenant: several segments each), copied into a
    // file with the old schema, tenants interleaved.
    let new = dir.path().join("new.db");
    let (a, new_store) = open(&new);
    for i in 0..300 {
        a.emit(receipt("alpha", i)).unwrap();
        a.emit(receipt("beta", i)).unwrap();
    }
    a.shutdown().unwrap();
    let stored = |t: &str| -> Vec<store::StoredEntry> {
        store::receipts(new_store.as_ref(), &TenantId::new(t), 0..u64::MAX)
            .map(Result::unwrap)
            .collect()
    };
    let (alpha, beta) = (stored("alpha"), stored("beta"));
    let interleaved: Vec<store::StoredEntry> = alpha
        .iter()
        .zip(&beta)
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .collect();
    let old = dir.path().join("old.db");
    write_old_store(&old, version, &interleaved);
    assert_eq!(schema_version(&old), version);

    let (a, store) = open(&old);
    assert_eq!(schema_version(&old), 3);
    // Every receipt comes back exactly as it was stored, through every query.
    for e in &interleaved {
        let mut expected = e.clone();
        if version == 1 {
            expected.tag = None;
        }
        assert_eq!(store.get(&e.receipt_id).unwrap().unwrap(), expected);
    }
    assert_eq!(stored("alpha").len(), 300);
    let mut back: Vec<_> = store::receipts(store.as_ref(), &TenantId::new("beta"), 0..u64::MAX)
        .map(|e| e.unwrap().receipt_id)
        .collect();
    assert_eq!(
        back,
        beta.iter()
            .map(|e| e.receipt_id.clone())
            .collect::<Vec<_>>()
    );
    back = store::by_trace(store.as_ref(), &"trace-7".into())
        .map(|e| e.unwrap().receipt_id)
        .collect();
    back.sort();
    let mut want = vec![alpha[7].receipt_id.clone(), beta[7].receipt_id.clone()];
    want.sort();
    assert_eq!(back, want);
    // Duplicates are still refused; the chains continue.
    let mut again = receipt("alpha", 999);
    again.receipt_id = alpha[3].receipt_id.clone();
    let dup = a.emit(again).unwrap();
    assert!(dup.duplicate);
    assert_eq!(dup.seq, 3);
    for i in 300..340 {
        a.emit(receipt("alpha", i)).unwrap();
    }
    a.shutdown().unwrap();
    assert_chain(store.as_ref(), "alpha", 340);
    assert_chain(store.as_ref(), "beta", 300);
    drop(store);
    // Opening again is a no-op; a file from a newer release is refused.
    drop(open(&old));
    assert_eq!(schema_version(&old), 3);
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute("UPDATE meta SET value = 4 WHERE key = 'schema_version'", [])
        .unwrap();
    let err = SqliteStore::open(&old).unwrap_err().to_string();
    assert!(err.contains("schema version 4"), "{err}");
}

#[test]
fn a_version_1_store_is_migrated_and_its_chains_continue() {
    a_store_of_an_old_version_is_migrated_and_its_chains_continue(1);
}

#[test]
fn a_version_2_store_is_migrated_and_its_chains_continue() {
    a_store_of_an_old_version_is_migrated_and_its_chains_continue(2);
}

#[test]
fn a_store_whose_old_rows_skip_a_sequence_number_is_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.db");
    let (a, new_store) = open(&new);
    for i in 0..5 {
        a.emit(receipt("alpha", i)).unwrap();
    }
    a.shutdown().unwrap();
    let mut entries: Vec<_> = store::receipts(new_store.as_ref(), &TenantId::new("alpha"), 0..5)
        .map(Result::unwrap)
        .collect();
    entries.remove(2);
    let old = dir.path().join("old.db");
    write_old_store(&old, 2, &entries);
    let err = SqliteStore::open(&old).unwrap_err().to_string();
    assert!(err.contains("sequence 3 where 2 was expected"), "{err}");
    // Nothing was changed: the file is still version 2.
    assert_eq!(schema_version(&old), 2);
}

/// The log is copied into the database file by the store's own thread between commits, not
/// only when the committing thread reaches SQLite's automatic checkpoint (4,096 pages).
#[test]
fn the_log_is_copied_into_the_database_file_between_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let (a, store) = open(&db);
    let before = std::fs::metadata(&db).unwrap().len();
    let pending: Vec<_> = (0..2_000)
        .map(|i| a.submit(receipt("wal", i)).unwrap())
        .collect();
    for p in pending {
        p.wait().unwrap();
    }
    // 2,000 receipts are about 200 pages of log, far below the automatic checkpoint.
    let wal = std::fs::metadata(dir.path().join("audit.db-wal"))
        .unwrap()
        .len();
    assert!(wal < 4_096 * 16_384, "{wal}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut size = before;
    while size < before + 1_000_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        size = std::fs::metadata(&db).unwrap().len();
    }
    assert!(
        size >= before + 1_000_000,
        "the database file stayed at {size} bytes (was {before})"
    );
    a.shutdown().unwrap();
    assert_chain(store.as_ref(), "wal", 2_000);
}
