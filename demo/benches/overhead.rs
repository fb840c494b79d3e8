//! Caller-thread cost of auditing a decision: a plain function against the same function under
//! `#[audited]` (input captured, output hashed), and against the same body in an audit span
//! with the tracing layer installed. 1 KB in and 1 KB out.
//!
//! Only the calls are timed: every 1,000 calls the bench waits (untimed) for the capture worker
//! and the auditor to catch up, so what is measured is the application thread's cost, not the sealing throughput
//! of the writer (which runs concurrently on the other cores). The store keeps only chain tips,
//! so memory stays flat over millions of receipts.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ai_audit::store::Store;
use ai_audit::store::{
    Durability, NewEntry, Page, Selector, StoreError, StoredEntry, Tip, WriteTxn,
};
use ai_audit::{Auditor, ReceiptId, SigningKey, TenantId, audited, capture};
use audit_tracing::AuditLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use tracing_subscriber::layer::SubscriberExt as _;

/// A store that keeps only each tenant's tip.
#[derive(Debug, Default)]
struct TipStore(Mutex<HashMap<TenantId, Tip>>);

struct TipTxn<'a>(&'a mut HashMap<TenantId, Tip>);

impl WriteTxn for TipTxn<'_> {
    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        Ok(self.0.get(tenant).copied())
    }
    fn find(&mut self, _id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        Ok(None)
    }
    fn append(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        self.0.insert(
            e.tenant.clone(),
            Tip {
                len: e.seq + 1,
                hash: e.receipt_hash,
            },
        );
        Ok(())
    }
}

impl Store for TipStore {
    fn set_durability(&self, _: Durability) -> Result<(), StoreError> {
        Ok(())
    }
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tips = self.0.lock().unwrap();
        let mut staged = tips.clone();
        f(&mut TipTxn(&mut staged))?;
        *tips = staged;
        Ok(())
    }
    fn tip(&self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        Ok(self.0.lock().unwrap().get(tenant).copied())
    }
    fn get(&self, _: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        Ok(None)
    }
    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        Ok(self.0.lock().unwrap().keys().cloned().collect())
    }
    fn page(&self, _: &Selector, _: Option<u64>, _: usize) -> Result<Page, StoreError> {
        Ok(Page {
            entries: Vec::new(),
            next: None,
        })
    }
}

fn body(input: &str) -> String {
    input.to_ascii_uppercase()
}

fn plain(input: &str) -> Result<String, Infallible> {
    Ok(body(input))
}

#[audited(tenant = "bench", capture(input))]
fn audited_fn(input: &str) -> Result<String, Infallible> {
    Ok(body(input))
}

fn spanned(input: &str) -> Result<String, Infallible> {
    let span = tracing::info_span!(
        "decide",
        audit.tenant = "bench-layer",
        audit.input = input,
        audit.output = tracing::field::Empty
    );
    let _entered = span.enter();
    let out = body(input);
    span.record("audit.output", out.as_str());
    Ok(out)
}

const CHUNK: u64 = 1000;

/// What a bench id measures.
#[derive(Clone, Copy)]
enum Clock {
    /// Wall time of the calls (includes time the caller spends preempted by the writer and the
    /// workers, which share the machine's cores).
    Wall,
    /// CPU time of the calling thread only: the work the call itself adds to the caller.
    ThreadCpu,
}

/// Times `iters` calls of `f` in chunks, running `settle` untimed after each chunk.
fn chunked(clock: Clock, iters: u64, mut f: impl FnMut(), mut settle: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let wall = Instant::now();
        let cpu = cpu_time::ThreadTime::now();
        for _ in 0..n {
            f();
        }
        total += match clock {
            Clock::Wall => wall.elapsed(),
            Clock::ThreadCpu => cpu.elapsed(),
        };
        settle();
        left -= n;
    }
    total
}

fn overhead(c: &mut Criterion) {
    let input: String = "Loan application: income 52,000 EUR, requested 18,000 EUR. "
        .repeat(18)
        .chars()
        .take(1024)
        .collect();
    let auditor = Auditor::builder()
        .signer(SigningKey::from_hex(&"01".repeat(32)).unwrap())
        .store(TipStore::default())
        .build()
        .unwrap();
    capture::set_default(auditor.clone());

    let mut g = c.benchmark_group("overhead_1kb");
    g.measurement_time(Duration::from_secs(5));
    let (layer, guard) = AuditLayer::new(auditor.clone());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    for (name, clock) in [("wall", Clock::Wall), ("thread_cpu", Clock::ThreadCpu)] {
        g.bench_function(format!("plain/{name}"), |b| {
            b.iter_custom(|iters| {
                chunked(
                    clock,
                    iters,
                    || drop(black_box(plain(black_box(&input)))),
                    || {},
                )
            });
        });
        g.bench_function(format!("audited/{name}"), |b| {
            b.iter_custom(|iters| {
                chunked(
                    clock,
                    iters,
                    || drop(black_box(audited_fn(black_box(&input)))),
                    || {
                        capture::flush();
                        auditor.flush().unwrap();
                    },
                )
            });
        });
        g.bench_function(format!("layer_span/{name}"), |b| {
            b.iter_custom(|iters| {
                tracing::dispatcher::with_default(&dispatch, || {
                    chunked(
                        clock,
                        iters,
                        || drop(black_box(spanned(black_box(&input)))),
                        || assert!(guard.flush(Duration::from_secs(60))),
                    )
                })
            });
        });
    }
    g.finish();
    assert_eq!(capture::stats().no_auditor, 0);
    assert_eq!(guard.finish().lost(), 0);
}

criterion_group!(benches, overhead);
criterion_main!(benches);
