//! The store-kept Merkle tree at 1,000,000 leaves: inclusion-proof latency (a fresh reader per
//! proof, so every tile is read from SQLite), consistency-proof latency, and the cost of feeding
//! one group commit of 4,096 leaves.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::time::Duration;

use audit_runtime::TenantId;
use audit_runtime::merkle::{self, Hash, leaf_hash};
use audit_runtime::store::tree::{self, TileNodes};
use audit_runtime::store::{SqliteStore, Store, WriteTxn};
use criterion::{Criterion, criterion_group, criterion_main};

const LEAVES: u64 = 1_000_000;
const BATCH: u64 = 4096;

fn fill(s: &dyn Store, t: &TenantId, from: u64, to: u64) {
    let mut at = from;
    while at < to {
        let end = (at + BATCH).min(to);
        let part: Vec<(&TenantId, u64, Hash)> = (at..end)
            .map(|i| (t, i, leaf_hash(&i.to_le_bytes())))
            .collect();
        s.write(&mut |txn: &mut dyn WriteTxn| tree::feed(txn, &part))
            .unwrap();
        at = end;
    }
}

fn proofs(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("audit.db")).unwrap();
    let t = TenantId::new("acme");
    fill(&store, &t, 0, LEAVES);
    let read = store.tree().unwrap();
    let root = TileNodes::new(read, &t).unwrap().root(LEAVES).unwrap();
    let mut g = c.benchmark_group("store_tree_1m");
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(5));
    let mut i = 0u64;
    g.bench_function("inclusion_proof_sqlite", |b| {
        b.iter(|| {
            i = (i + 7_919) % LEAVES;
            let mut nodes = TileNodes::new(read, &t).unwrap();
            let p = nodes.inclusion_proof(i, LEAVES).unwrap();
            std::hint::black_box(p)
        });
    });
    g.bench_function("inclusion_proof_and_verify_sqlite", |b| {
        b.iter(|| {
            i = (i + 7_919) % LEAVES;
            let mut nodes = TileNodes::new(read, &t).unwrap();
            let p = nodes.inclusion_proof(i, LEAVES).unwrap();
            merkle::verify_inclusion(&leaf_hash(&i.to_le_bytes()), i, LEAVES, &p, &root).unwrap();
        });
    });
    let mut old = 1u64;
    g.bench_function("consistency_proof_sqlite", |b| {
        b.iter(|| {
            old = (old + 104_729) % LEAVES + 1;
            let mut nodes = TileNodes::new(read, &t).unwrap();
            std::hint::black_box(nodes.consistency_proof(old, LEAVES).unwrap())
        });
    });
    let mut size = LEAVES;
    g.bench_function("feed_4096_leaves_group_commit_sqlite", |b| {
        b.iter(|| {
            fill(&store, &t, size, size + BATCH);
            size += BATCH;
        });
    });
    g.finish();
}

criterion_group!(benches, proofs);
criterion_main!(benches);
