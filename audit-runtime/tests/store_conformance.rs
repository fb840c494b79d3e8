//! One conformance suite, run against every store.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use audit_runtime::merkle::{self, Hash, MerkleTree, leaf_hash};
#[cfg(feature = "sqlite")]
use audit_runtime::store::SqliteStore;
use audit_runtime::store::tree::{self as stree, TileNodes};
use audit_runtime::store::{
    self, MemoryStore, Selector, Store, StoreError, StoredCheckpoint, StoredEntry, WriteTxn,
};
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
        tag: (seq % 2 == 1).then_some([seq as u8; 32]),
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
    // The empty id means "no trace" / "no session": it selects nothing.
    assert!(ids(store::by_trace(s, &TraceId::new(""))).is_empty());
    assert!(ids(store::by_session(s, &SessionId::new(""))).is_empty());
    assert!(ids(store::receipts(s, &TenantId::new("zzz"), 0..10)).is_empty());
}

/// Feeds `leaves` to tenant `t`'s tree in group commits of the given sizes, checking after each
/// that the stored tree serves the same roots and proofs as an in-memory one.
fn feed_in_batches(s: &dyn Store, t: &TenantId, leaves: &[Hash], batches: &[usize]) {
    let mut at = 0usize;
    let mut i = 0usize;
    while at < leaves.len() {
        let n = batches[i % batches.len()].min(leaves.len() - at);
        i += 1;
        let part: Vec<(&TenantId, u64, Hash)> =
            (at..at + n).map(|k| (t, k as u64, leaves[k])).collect();
        s.write(&mut |txn: &mut dyn WriteTxn| stree::feed(txn, &part))
            .unwrap();
        at += n;
    }
}

fn tree_conformance(s: &dyn Store) {
    let t = TenantId::new("tree");
    let read = s.tree().unwrap();
    assert_eq!(read.tree_size(&t).unwrap(), 0);
    let leaves: Vec<Hash> = (0..1100u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    // Group commits of uneven sizes cross tile boundaries at both tile levels.
    feed_in_batches(s, &t, &leaves, &[1, 255, 3, 300, 17, 256, 512]);
    assert_eq!(read.tree_size(&t).unwrap(), 1100);
    let mem = MerkleTree::new(leaves.clone());
    let mut nodes = TileNodes::new(read, &t).unwrap();
    for size in [1u64, 2, 255, 256, 257, 511, 512, 513, 1024, 1099, 1100] {
        let root = nodes.root(size).unwrap();
        assert_eq!(root, mem.root(size).unwrap(), "root at {size}");
        assert_eq!(nodes.frontier(size).unwrap(), mem.frontier(size).unwrap());
        for old in [1u64, size / 2, size - 1] {
            if old == 0 || old > size {
                continue;
            }
            let p = nodes.consistency_proof(old, size).unwrap();
            assert_eq!(p, mem.consistency_proof(old, size).unwrap());
            merkle::verify_consistency(old, size, &mem.root(old).unwrap(), &root, &p).unwrap();
        }
    }
    for index in (0..1100u64).step_by(37).chain([1099]) {
        let p = nodes.inclusion_proof(index, 1100).unwrap();
        merkle::verify_inclusion(
            &leaves[index as usize],
            index,
            1100,
            &p,
            &mem.root(1100).unwrap(),
        )
        .unwrap();
        assert_eq!(nodes.leaf(index).unwrap(), leaves[index as usize]);
    }
    assert!(matches!(
        nodes.root(1101),
        Err(StoreError::Merkle(
            merkle::MerkleError::SizeOutOfRange { .. }
        ))
    ));

    // A feed that does not continue the tree is refused, and rolls back the whole transaction.
    let stray = [(&t, 5u64, leaves[0])];
    let err = s
        .write(&mut |txn: &mut dyn WriteTxn| stree::feed(txn, &stray))
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let res = s.write(&mut |txn: &mut dyn WriteTxn| {
        stree::feed(txn, &[(&t, 1100, leaves[0])])?;
        Err(StoreError::Corrupt {
            what: "test abort".into(),
        })
    });
    assert!(res.is_err());
    assert_eq!(read.tree_size(&t).unwrap(), 1100);

    // Checkpoints: one per size, the latest is the largest.
    assert_eq!(read.latest_checkpoint(&t).unwrap(), None);
    for size in [10u64, 1100, 500] {
        let cp = StoredCheckpoint {
            size,
            root: mem.root(size).unwrap(),
            note: format!("note {size}"),
        };
        s.write(&mut |txn: &mut dyn WriteTxn| txn.tree().unwrap().put_checkpoint(&t, &cp))
            .unwrap();
    }
    let again = StoredCheckpoint {
        size: 10,
        root: [0; 32],
        note: "another note of size 10".into(),
    };
    s.write(&mut |txn: &mut dyn WriteTxn| txn.tree().unwrap().put_checkpoint(&t, &again))
        .unwrap();
    assert_eq!(read.latest_checkpoint(&t).unwrap().unwrap().size, 1100);
    assert_eq!(read.checkpoint_at(&t, 10).unwrap().unwrap().note, "note 10");
    assert_eq!(read.checkpoint_at(&t, 11).unwrap(), None);
}

#[test]
fn memory_store_passes_the_conformance_suite() {
    conformance(&MemoryStore::new());
    tree_conformance(&MemoryStore::new());
}

/// Proofs for every leaf of every tree size 1..=300, each size built by one more group commit.
fn every_leaf_of_small_trees(s: &dyn Store) {
    let t = TenantId::new("small");
    let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mem = MerkleTree::new(leaves.clone());
    let read = s.tree().unwrap();
    for size in 1..=300u64 {
        let one = [(&t, size - 1, leaves[size as usize - 1])];
        s.write(&mut |txn: &mut dyn WriteTxn| stree::feed(txn, &one))
            .unwrap();
        let mut nodes = TileNodes::new(read, &t).unwrap();
        let root = nodes.root(size).unwrap();
        assert_eq!(root, mem.root(size).unwrap());
        for i in 0..size {
            let p = nodes.inclusion_proof(i, size).unwrap();
            merkle::verify_inclusion(&leaves[i as usize], i, size, &p, &root).unwrap();
        }
    }
}

#[test]
fn memory_store_serves_proofs_for_every_leaf_of_trees_up_to_300() {
    every_leaf_of_small_trees(&MemoryStore::new());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_serves_proofs_for_every_leaf_of_trees_up_to_300() {
    let dir = tempfile::tempdir().unwrap();
    every_leaf_of_small_trees(&SqliteStore::open(dir.path().join("audit.db")).unwrap());
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
    tree_conformance(&s);
    // Reopening keeps the tree and its checkpoints.
    drop(s);
    let s = SqliteStore::open(dir.path().join("nested/dir/audit.db")).unwrap();
    let read = s.tree().unwrap();
    assert_eq!(read.tree_size(&TenantId::new("tree")).unwrap(), 1100);
    assert_eq!(
        read.latest_checkpoint(&TenantId::new("tree"))
            .unwrap()
            .unwrap()
            .size,
        1100
    );
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

/// The store-kept tree of 2,048 leaves, fed in uneven group commits, holds every complete
/// subtree hash `(level, index)` the in-memory tree has. Proofs of either are built by the same
/// `merkle::nodes` functions from these hashes, and `tests/merkle.rs` checks that every leaf of
/// every size 1..=2048 proves from the in-memory tree; so the store's proofs hold for all of them
/// too. (Building all 2,098,176 proofs from tiles directly takes about 100 s here: up to 255
/// hashes per tile level per node.) A spread of store proofs is checked end to end as well.
#[test]
fn memory_store_keeps_every_subtree_of_trees_up_to_2048() {
    use audit_runtime::merkle::Nodes as _;
    let s = MemoryStore::new();
    let t = TenantId::new("every");
    let leaves: Vec<Hash> = (0..2048u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    feed_in_batches(&s, &t, &leaves, &[1, 255, 3, 300, 17, 256, 512, 7]);
    let mut nodes = TileNodes::new(s.tree().unwrap(), &t).unwrap();
    for level in 0..=11u32 {
        for index in 0..(2048u64 >> level) {
            let start = (index << level) as usize;
            let end = ((index + 1) << level) as usize;
            let sub = MerkleTree::new(leaves[start..end].to_vec());
            let want = sub.root((end - start) as u64).unwrap();
            assert_eq!(nodes.node(level, index).unwrap(), want, "{level}/{index}");
        }
    }
    let mem = MerkleTree::new(leaves.clone());
    for size in (1..=2048u64).step_by(37).chain([255, 256, 257, 2047, 2048]) {
        let root = nodes.root(size).unwrap();
        for i in (0..size).step_by(13).chain([size - 1]) {
            let p = nodes.inclusion_proof(i, size).unwrap();
            assert_eq!(p, mem.inclusion_proof(i, size).unwrap(), "{i} of {size}");
            merkle::verify_inclusion(&leaves[i as usize], i, size, &p, &root).unwrap();
        }
    }
}

/// A deterministic pseudo-random sequence (xorshift), so failures reproduce.
#[cfg(feature = "sqlite")]
struct Rng(u64);

#[cfg(feature = "sqlite")]
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[cfg(feature = "sqlite")]
fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Stores that group receipts (the SQLite store keeps segments of up to 128) must answer every
/// query exactly like the in-memory store, whatever the commit sizes, tenant interleaving,
/// line lengths and page sizes.
#[cfg(feature = "sqlite")]
fn answers_like_the_memory_store(s: &dyn Store, commits: &[usize]) {
    let memory = MemoryStore::new();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let tenants = ["t0", "t1", "t2"];
    let mut next = [0u64; 3];
    let mut all: Vec<StoredEntry> = Vec::new();
    for &commit in commits {
        let mut batch = Vec::new();
        for _ in 0..commit {
            let t = rng.below(3) as usize;
            let seq = next[t];
            next[t] += 1;
            let mut e = entry(
                tenants[t],
                seq,
                &format!("{}-{seq}", tenants[t]),
                // Timestamps go backwards now and then.
                1_000 + (all.len() + batch.len()) as i64 * 10 - rng.below(50) as i64,
                &match rng.below(4) {
                    0 => String::new(),
                    1 => "shared".to_owned(),
                    _ => format!("tr-{}", rng.below(40)),
                },
                &match rng.below(3) {
                    0 => String::new(),
                    n => format!("s{n}"),
                },
            );
            if rng.below(50) == 0 {
                // Long lines close segments by size.
                e.line = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)).into_bytes();
            }
            batch.push(e);
        }
        append_all(s, &batch).unwrap();
        append_all(&memory, &batch).unwrap();
        all.extend(batch);
    }
    for e in &all {
        assert_eq!(s.get(&e.receipt_id).unwrap().as_ref(), Some(e));
    }
    for (t, len) in tenants.iter().zip(next) {
        let t = TenantId::new(*t);
        assert_eq!(s.tip(&t).unwrap(), memory.tip(&t).unwrap());
        for page in [1usize, 3, 128, 129, 5000] {
            for seq in [0..u64::MAX, 5..6, 100..300, len - 1..len + 5, len..len + 5] {
                let select = |st: &dyn Store, time: Option<std::ops::Range<i64>>| {
                    ids(store::select(
                        st,
                        Selector::Tenant {
                            tenant: t.clone(),
                            seq: seq.clone(),
                            time,
                        },
                        page,
                    ))
                };
                assert_eq!(
                    select(s, None),
                    select(&memory, None),
                    "{t:?} {seq:?} {page}"
                );
                for time in [0..i64::MAX, 3_000..9_000, 9_000..9_001, 20_000..30_000] {
                    assert_eq!(
                        select(s, Some(time.clone())),
                        select(&memory, Some(time.clone())),
                        "{t:?} {seq:?} {time:?} {page}"
                    );
                }
            }
        }
    }
    let mut traces: Vec<String> = (0..40).map(|i| format!("tr-{i}")).collect();
    traces.extend(["shared".to_owned(), "none".to_owned()]);
    for tr in &traces {
        let want = sorted(ids(store::by_trace(&memory, &TraceId::new(tr.as_str()))));
        let whole = ids(store::select(
            s,
            Selector::Trace(TraceId::new(tr.as_str())),
            100_000,
        ));
        assert_eq!(sorted(whole.clone()), want, "trace {tr}");
        // Every page size gives the same sequence: cursors neither skip nor repeat.
        for page in [1usize, 2, 127] {
            let got = ids(store::select(
                s,
                Selector::Trace(TraceId::new(tr.as_str())),
                page,
            ));
            assert_eq!(got, whole, "trace {tr} page {page}");
        }
    }
    for sess in ["s1", "s2", "s3"] {
        let want = sorted(ids(store::by_session(&memory, &SessionId::new(sess))));
        let whole = ids(store::select(
            s,
            Selector::Session(SessionId::new(sess)),
            100_000,
        ));
        assert_eq!(sorted(whole.clone()), want, "session {sess}");
        for page in [1usize, 3, 128] {
            let got = ids(store::select(
                s,
                Selector::Session(SessionId::new(sess)),
                page,
            ));
            assert_eq!(got, whole, "session {sess} page {page}");
        }
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_answers_like_the_memory_store_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    answers_like_the_memory_store(
        &SqliteStore::open(&path).unwrap(),
        &[1, 7, 130, 300, 1, 129, 2, 260, 64, 500],
    );
}

/// Many small commits: hundreds of segments, so that trace and session queries read both the
/// index (written [`INDEX_EVERY`] segments at a time) and the segments after it.
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_answers_like_the_memory_store_over_indexed_and_recent_segments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let commits: Vec<usize> = (0..400).map(|i| 1 + i % 5).collect();
    let s = SqliteStore::open(&path).unwrap();
    answers_like_the_memory_store(&s, &commits);
    // A receipt of a new trace and session, in a segment after the indexed ones.
    let tip = s.tip(&TenantId::new("t0")).unwrap().unwrap();
    append_all(
        &s,
        &[entry(
            "t0",
            tip.len,
            "late",
            1,
            "late-trace",
            "late-session",
        )],
    )
    .unwrap();
    assert_eq!(
        ids(store::by_trace(&s, &TraceId::new("late-trace"))),
        ["late"]
    );
    assert_eq!(
        ids(store::by_session(&s, &SessionId::new("late-session"))),
        ["late"]
    );
    let c = rusqlite::Connection::open(&path).unwrap();
    let through: i64 = c
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_through'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let last: i64 = c
        .query_row("SELECT MAX(id) FROM segments", [], |r| r.get(0))
        .unwrap();
    assert!(
        through >= 256 && through < last,
        "indexed through {through} of {last}"
    );
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_refuses_a_line_with_a_newline_and_keeps_nothing_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    let mut bad = entry("a", 1, "a1", 0, "", "");
    bad.line = b"{\"a\":\n1}".to_vec();
    let err = append_all(&s, &[entry("a", 0, "a0", 0, "", ""), bad]).unwrap_err();
    assert!(err.to_string().contains("inconsistent"), "{err}");
    assert_eq!(s.tip(&TenantId::new("a")).unwrap(), None);
    assert_eq!(s.get(&ReceiptId::new("a0")).unwrap(), None);
}

/// A duplicate id refused inside a transaction that goes on and commits leaves no trace: the
/// tenant's chain continues where it was (the refused append "was not made").
fn a_refused_duplicate_that_the_caller_handles_changes_nothing(s: &dyn Store) {
    append_all(s, &[entry("a", 0, "a0", 0, "tr", "s")]).unwrap();
    s.write(&mut |txn: &mut dyn WriteTxn| {
        // A new tenant and a continuing one: each refused append would start a segment.
        for e in [
            entry("b", 0, "a0", 1, "tr", "s"),
            entry("a", 1, "a0", 1, "", ""),
        ] {
            let err = txn.append(&e.as_new()).unwrap_err();
            assert!(matches!(err, StoreError::DuplicateId { .. }), "{err:?}");
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(s.tip(&TenantId::new("b")).unwrap(), None);
    assert_eq!(s.tip(&TenantId::new("a")).unwrap().unwrap().len, 1);
    let more = [
        entry("b", 0, "b0", 2, "tr", ""),
        entry("a", 1, "a1", 3, "", ""),
    ];
    append_all(s, &more).unwrap();
    assert_eq!(s.get(&ReceiptId::new("b0")).unwrap().unwrap(), more[0]);
    assert_eq!(
        ids(store::receipts(s, &TenantId::new("a"), 0..u64::MAX)),
        ["a0", "a1"]
    );
    assert_eq!(
        sorted_ids(store::by_trace(s, &TraceId::new("tr"))),
        ["a0", "b0"]
    );
}

fn sorted_ids(it: store::Receipts<'_>) -> Vec<String> {
    let mut v = ids(it);
    v.sort();
    v
}

#[test]
fn memory_store_keeps_nothing_of_a_refused_duplicate() {
    a_refused_duplicate_that_the_caller_handles_changes_nothing(&MemoryStore::new());
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_keeps_nothing_of_a_refused_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    a_refused_duplicate_that_the_caller_handles_changes_nothing(&s);
}

/// One transaction over more tenants than the SQLite store keeps segments open for (it writes
/// them all out midway): every earlier append stays visible to `find` and `tip`, and the result
/// reads like the memory store's.
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_store_handles_a_transaction_over_many_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    let memory = MemoryStore::new();
    let mut all = Vec::new();
    for round in 0..3u64 {
        for t in 0..100u64 {
            all.push(entry(
                &format!("t{t:03}"),
                round,
                &format!("t{t}-{round}"),
                (round * 100 + t) as i64,
                &format!("tr{}", t % 7),
                "s",
            ));
        }
    }
    for st in [&s as &dyn Store, &memory] {
        st.write(&mut |txn: &mut dyn WriteTxn| {
            for (i, e) in all.iter().enumerate() {
                txn.append(&e.as_new())?;
                for earlier in all[..=i].iter().step_by(37) {
                    assert_eq!(txn.find(&earlier.receipt_id)?.as_ref(), Some(earlier));
                }
            }
            Ok(())
        })
        .unwrap();
    }
    for e in &all {
        assert_eq!(s.get(&e.receipt_id).unwrap().as_ref(), Some(e));
    }
    assert_eq!(s.tenants().unwrap(), memory.tenants().unwrap());
    for t in s.tenants().unwrap() {
        assert_eq!(s.tip(&t).unwrap(), memory.tip(&t).unwrap());
        for page in [1usize, 2, 3] {
            let sel = Selector::Tenant {
                tenant: t.clone(),
                seq: 0..u64::MAX,
                time: None,
            };
            assert_eq!(
                ids(store::select(&s, sel.clone(), page)),
                ids(store::select(&memory, sel, page))
            );
        }
    }
    for tr in 0..7 {
        let tr = TraceId::new(format!("tr{tr}"));
        assert_eq!(
            sorted_ids(store::select(&s, Selector::Trace(tr.clone()), 5)),
            sorted_ids(store::by_trace(&memory, &tr))
        );
    }
    assert_eq!(
        sorted_ids(store::select(&s, Selector::Session(SessionId::new("s")), 7)).len(),
        300
    );
}
