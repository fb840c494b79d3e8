//! What checking a store costs as it grows: opening it (the high-water comparison), building an
//! `Auditor` on it (a quick check of every tenant), SQLite's `quick_check` and `integrity_check`,
//! and a full check of every receipt (`ai-audit db check --full`).
//!
//! ```sh
//! AI_AUDIT_BENCH_RECEIPTS=5000000 AI_AUDIT_BENCH_TENANTS=100 AI_AUDIT_BENCH_DIR=/var/tmp/checks \
//!   cargo bench --bench store_checks
//! ```
//!
//! The store is filled once (random 128-bit trace ids, `TENANTS` tenants, 8 emitting threads)
//! and kept in `AI_AUDIT_BENCH_DIR` for the next run; each figure is wall time and this
//! process's CPU time (user + system) for one pass, with the page cache as the previous step
//! left it.
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_audit::store::check::{Depth, check_store};
use ai_audit::store::{SqliteStore, Store};
use ai_audit::{Auditor, CheckRecord, Receipt, SigningKey};

const SEED: &str = "7373737373737373737373737373737373737373737373737373737373737373";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key() -> SigningKey {
    SigningKey::from_hex(SEED).unwrap()
}

/// A random-looking 128-bit trace id (splitmix64 over a per-thread counter): what W3C trace
/// ids look like to the store's indexes.
fn random_hex(state: &mut u64) -> String {
    let mut next = || {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    format!("{:016x}{:016x}", next(), next())
}

fn fill(db: &PathBuf, receipts: u64, tenants: u64) {
    let a = Arc::new(
        Auditor::builder()
            .signer(key())
            .store(SqliteStore::open(db).unwrap())
            .build()
            .unwrap(),
    );
    let have: u64 = a
        .store()
        .tenants()
        .unwrap()
        .iter()
        .map(|t| a.store().tip(t).unwrap().map_or(0, |t| t.len))
        .sum();
    let todo = receipts.saturating_sub(have);
    let started = Instant::now();
    std::thread::scope(|s| {
        for thread in 0..8u64 {
            let a = Arc::clone(&a);
            s.spawn(move || {
                let mut pending = Vec::with_capacity(256);
                let mut rng = thread.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ todo;
                for i in 0..todo / 8 {
                    let tenant = format!("tenant-{}", (i * 8 + thread) % tenants);
                    let r = Receipt::new(tenant)
                        .with_trace(random_hex(&mut rng))
                        .with_input_text("Is the applicant eligible for the loan?")
                        .with_output_text("yes")
                        .with_check(CheckRecord::new("eligibility", 0.91, 0.5))
                        .with_model("credit-scorer-7");
                    pending.push(a.submit(r).unwrap());
                    if pending.len() == 256 {
                        for p in pending.drain(..) {
                            p.wait().unwrap();
                        }
                    }
                }
                for p in pending {
                    p.wait().unwrap();
                }
            });
        }
    });
    a.shutdown().unwrap();
    if todo > 0 {
        println!(
            "filled {todo} receipts in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn cpu() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

fn measure<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (wall, cpu0) = (Instant::now(), cpu());
    let out = f();
    println!(
        "{what:<40} wall {:>9.3} s   cpu {:>9.3} s",
        wall.elapsed().as_secs_f64(),
        (cpu() - cpu0).as_secs_f64()
    );
    out
}

fn main() {
    let receipts = env_u64("AI_AUDIT_BENCH_RECEIPTS", 1_000_000);
    let tenants = env_u64("AI_AUDIT_BENCH_TENANTS", 100);
    let dir = std::env::var_os("AI_AUDIT_BENCH_DIR").map_or_else(
        || std::env::temp_dir().join("ai-audit-store-checks"),
        PathBuf::from,
    );
    let db = dir.join(format!("checks-{receipts}-{tenants}.db"));
    fill(&db, receipts, tenants);
    let bytes = std::fs::metadata(&db).map_or(0, |m| m.len());
    println!(
        "store {}: {receipts} receipts, {tenants} tenants, {:.2} GB",
        db.display(),
        bytes as f64 / 1e9
    );
    let store = measure("open (high-water comparison)", || {
        SqliteStore::open(&db).unwrap()
    });
    let store: Arc<dyn Store> = Arc::new(store);
    let a = measure("Auditor::build (quick check per tenant)", || {
        Auditor::builder()
            .signer(key())
            .shared_store(Arc::clone(&store))
            .build()
            .unwrap()
    });
    assert!(a.quarantined().is_empty());
    a.shutdown().unwrap();
    drop(a);
    let quick = measure("check_store quick", || {
        check_store(store.as_ref(), Depth::Quick, None).unwrap()
    });
    assert!(quick.iter().all(|t| t.is_ok()));
    let c = rusqlite::Connection::open(&db).unwrap();
    measure("PRAGMA quick_check", || {
        let r: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0)).unwrap();
        assert_eq!(r, "ok");
    });
    measure("PRAGMA integrity_check", || {
        let r: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(r, "ok");
    });
    let vk = key().verifying_key();
    let full = measure("check_store full (signatures checked)", || {
        check_store(store.as_ref(), Depth::Full, Some(&vk)).unwrap()
    });
    assert!(full.iter().all(|t| t.is_ok()), "{full:?}");
}
