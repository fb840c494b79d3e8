//! Durable emit throughput through the `Auditor` into the SQLite store: 1, 2 and 8 emitting
//! threads on 1 and 4 tenants. Each thread keeps up to 256 receipts in flight (`submit`, then
//! `wait` in order), the way a server with many concurrent requests drives the auditor.
//! Latency percentiles are printed by `ai-audit bench`. `emit_durable_checkpointed` is the same
//! with 8 threads in `SealingMode::Checkpointed` (only checkpoints signed).
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit_runtime::store::{SqliteStore, Store};
use audit_runtime::{Auditor, SealingMode, SigningKey, workload};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn emit(c: &mut Criterion) {
    let (input, output) = workload::texts();
    let (input, output) = (Arc::new(input), Arc::new(output));
    for (group, mode, thread_counts) in [
        ("emit_durable", SealingMode::PerReceipt, &[1u64, 2, 8][..]),
        (
            "emit_durable_checkpointed",
            SealingMode::Checkpointed,
            &[8u64][..],
        ),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(1));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(8));
        for &threads in thread_counts {
            for tenants in [1u64, 4] {
                let dir = tempfile::tempdir().unwrap();
                let store: Arc<dyn Store> =
                    Arc::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
                let auditor = Auditor::builder()
                    .signer(SigningKey::from_hex(&"01".repeat(32)).unwrap())
                    .shared_store(store)
                    .sealing(mode)
                    .build()
                    .unwrap();
                g.bench_function(format!("{threads}_threads_{tenants}_tenants"), |b| {
                    b.iter_custom(|iters| {
                        let per_thread = iters.div_ceil(threads);
                        let start = Instant::now();
                        let handles: Vec<_> = (0..threads)
                            .map(|t| {
                                let (a, input, output) =
                                    (auditor.clone(), Arc::clone(&input), Arc::clone(&output));
                                std::thread::spawn(move || {
                                    let mut in_flight = VecDeque::with_capacity(256);
                                    for i in 0..per_thread {
                                        let tenant = format!("tenant-{}", (i + t) % tenants);
                                        let r = workload::receipt(&tenant, i, &input, &output);
                                        in_flight.push_back(a.submit(r).unwrap());
                                        if in_flight.len() == 256 {
                                            in_flight.pop_front().unwrap().wait().unwrap();
                                        }
                                    }
                                    for p in in_flight {
                                        p.wait().unwrap();
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            h.join().unwrap();
                        }
                        start.elapsed()
                    });
                });
                auditor.shutdown().unwrap();
            }
        }
        g.finish();
    }
}

criterion_group!(benches, emit);
criterion_main!(benches);
