#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]
use ai_audit::store::{Durability, SqliteStore, Store};
use ai_audit::{Auditor, CheckRecord, Receipt, SigningKey};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |s| s.parse().unwrap());
    let threads: u64 = std::env::args().nth(2).map_or(8, |s| s.parse().unwrap());
    let relaxed = std::env::args().nth(3).is_some();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("a.db")).unwrap());
    let a = Auditor::builder()
        .signer(SigningKey::from_hex(&"01".repeat(32)).unwrap())
        .shared_store(store)
        .durability(if relaxed {
            Durability::Relaxed
        } else {
            Durability::Durable
        })
        .build()
        .unwrap();
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                let mut q = std::collections::VecDeque::new();
                for i in 0..n / threads {
                    let r = Receipt::new(format!("t{}", (i + t) % 4))
                        .with_trace(format!("x{i}"))
                        .with_check(CheckRecord::new("c", 0.5, 0.7));
                    q.push_back(a.submit(r).unwrap());
                    if q.len() > 512 {
                        q.pop_front().unwrap().wait().unwrap();
                    }
                }
                for p in q {
                    p.wait().unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "{n} receipts, {threads} threads: {:.2} s = {:.0}/s, batches {}",
        dt,
        n as f64 / dt,
        a.stats().batches
    );
}
