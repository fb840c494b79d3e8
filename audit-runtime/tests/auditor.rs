//! The Auditor pipeline: ordering, idempotence, backpressure, failures, shutdown.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use audit_runtime::seal::SealError;
use audit_runtime::store::{self, MemoryStore, Store};
use audit_runtime::verify::{VerifyOptions, verify_lines};
use audit_runtime::{
    Auditor, CheckRecord, EmitError, Receipt, Signer, SigningKey, TenantId, VerificationReport,
    VerifyingKey,
};

fn key() -> SigningKey {
    SigningKey::from_hex(&"07".repeat(32)).unwrap()
}

/// Verifies a tenant's stored chain from genesis.
fn verify_tenant(store: &dyn Store, tenant: &str, vk: VerifyingKey) -> VerificationReport {
    let lines =
        store::receipts(store, &TenantId::new(tenant), 0..u64::MAX).map(|e| e.map(|e| e.line));
    verify_lines(lines, &VerifyOptions::pinned(vk)).unwrap()
}

fn memory_auditor() -> (Auditor, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&store))
        .build()
        .unwrap();
    (a, store)
}

#[test]
fn emits_chain_per_tenant_in_order_and_verify() {
    let (a, store) = memory_auditor();
    for i in 0..50u64 {
        let t = if i % 2 == 0 { "x" } else { "y" };
        let e = a.emit(Receipt::new(t).with_trace(format!("t{i}"))).unwrap();
        assert_eq!(e.seq, i / 2);
        assert_eq!(e.tenant.as_str(), t);
        assert!(!e.duplicate);
    }
    a.shutdown().unwrap();
    for t in ["x", "y"] {
        let r = verify_tenant(store.as_ref(), t, key().verifying_key());
        assert!(r.is_pass(), "{:?}", r.findings);
        assert_eq!(r.receipts, 25);
    }
}

#[test]
fn emitting_the_same_receipt_id_twice_returns_the_first_result_and_appends_once() {
    let (a, store) = memory_auditor();
    let r = Receipt::new("acme").with_input_text("hello");
    let first = a.emit(r.clone()).unwrap();
    a.emit(Receipt::new("acme")).unwrap();
    // Same id again, even with other content: the first result, nothing appended.
    let mut again = r;
    again.model_id = "changed".into();
    let second = a.emit(again).unwrap();
    assert!(second.duplicate);
    assert_eq!(second.seq, first.seq);
    assert_eq!(second.receipt_hash, first.receipt_hash);
    // Twice in one batch (concurrently): both answered, one entry.
    let r2 = Receipt::new("acme");
    let (a1, a2) = (a.clone(), a.clone());
    let (c1, c2) = (r2.clone(), r2);
    let h1 = std::thread::spawn(move || a1.emit(c1).unwrap());
    let h2 = std::thread::spawn(move || a2.emit(c2).unwrap());
    let (o1, o2) = (h1.join().unwrap(), h2.join().unwrap());
    assert_eq!(o1.seq, o2.seq);
    assert_ne!(
        o1.duplicate, o2.duplicate,
        "exactly one of them is the first"
    );
    a.shutdown().unwrap();
    assert_eq!(store.tip(&TenantId::new("acme")).unwrap().unwrap().len, 3);
    assert!(verify_tenant(store.as_ref(), "acme", key().verifying_key()).is_pass());
    assert_eq!(a.stats().duplicates, 2);
}

#[test]
fn a_receipt_with_a_nan_score_is_refused_and_the_chain_continues() {
    let (a, store) = memory_auditor();
    a.emit(Receipt::new("acme")).unwrap();
    let bad = Receipt::new("acme").with_check(CheckRecord::new("x", f64::NAN, 0.5));
    let err = a.emit(bad).unwrap_err();
    assert!(matches!(err, EmitError::InvalidReceipt(_)), "{err:?}");
    assert!(!err.is_retryable());
    let next = a.emit(Receipt::new("acme")).unwrap();
    assert_eq!(next.seq, 1);
    a.shutdown().unwrap();
    assert!(verify_tenant(store.as_ref(), "acme", key().verifying_key()).is_pass());
}

/// A signer that waits for permission before each signature, or fails on demand.
#[derive(Debug)]
struct GatedSigner {
    key: SigningKey,
    gate: Mutex<mpsc::Receiver<bool>>,
}

impl Signer for GatedSigner {
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SealError> {
        let ok = self.gate.lock().unwrap().recv().unwrap_or(true);
        if ok {
            Ok(self.key.sign(msg))
        } else {
            Err(SealError::Signer("hsm unavailable".into()))
        }
    }
    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

#[test]
fn a_full_queue_makes_try_emit_fail_and_emit_wait() {
    let (tx, rx) = mpsc::channel();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(GatedSigner {
            key: key(),
            gate: Mutex::new(rx),
        })
        .shared_store(Arc::clone(&store))
        .queue_bound(2)
        .max_batch(1)
        // The gated signer also signs checkpoints: only the one at shutdown, after the gate opens.
        .checkpoint_every(u64::MAX, Duration::from_secs(3600))
        .build()
        .unwrap();
    // The writer takes the first job and blocks in the signer; two more fill the queue.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let a = a.clone();
        waiting.push(std::thread::spawn(move || a.emit(Receipt::new("acme"))));
        std::thread::sleep(Duration::from_millis(50));
    }
    while a.stats().queued < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(
        a.try_emit(Receipt::new("acme")),
        Err(EmitError::Full)
    ));
    // A fourth emit waits (backpressure) rather than failing.
    let a4 = a.clone();
    let blocked = std::thread::spawn(move || a4.emit(Receipt::new("acme")));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!blocked.is_finished());
    for _ in 0..4 {
        tx.send(true).unwrap();
    }
    for h in waiting {
        h.join().unwrap().unwrap();
    }
    blocked.join().unwrap().unwrap();
    drop(tx);
    a.shutdown().unwrap();
    assert_eq!(store.tip(&TenantId::new("acme")).unwrap().unwrap().len, 4);
}

#[test]
fn a_signer_failure_stores_nothing_and_says_so() {
    let (tx, rx) = mpsc::channel();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(GatedSigner {
            key: key(),
            gate: Mutex::new(rx),
        })
        .shared_store(Arc::clone(&store))
        .checkpoint_every(u64::MAX, Duration::from_secs(3600))
        .build()
        .unwrap();
    tx.send(true).unwrap();
    a.emit(Receipt::new("acme")).unwrap();
    tx.send(false).unwrap();
    let err = a.emit(Receipt::new("acme")).unwrap_err();
    assert!(matches!(err, EmitError::Sign(_)), "{err:?}");
    assert!(err.is_retryable());
    tx.send(true).unwrap();
    let ok = a.emit(Receipt::new("acme")).unwrap();
    assert_eq!(ok.seq, 1, "the failed receipt took no place in the chain");
    drop(tx);
    a.shutdown().unwrap();
    assert!(verify_tenant(store.as_ref(), "acme", key().verifying_key()).is_pass());
    assert_eq!(a.stats().failed, 1);
}

#[test]
fn shutdown_flushes_everything_queued_and_then_refuses() {
    let (a, store) = memory_auditor();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let a = a.clone();
            std::thread::spawn(move || {
                for _ in 0..250 {
                    a.emit(Receipt::new(format!("t{t}"))).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    a.flush().unwrap();
    a.shutdown().unwrap();
    assert!(matches!(a.emit(Receipt::new("t0")), Err(EmitError::Closed)));
    for t in 0..4 {
        let r = verify_tenant(store.as_ref(), &format!("t{t}"), key().verifying_key());
        assert!(r.is_pass());
        assert_eq!(r.receipts, 250);
    }
    assert_eq!(a.stats().emitted, 1000);
}

#[test]
fn dropping_the_last_clone_flushes() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    {
        let a = Auditor::builder()
            .signer(key())
            .shared_store(Arc::clone(&store))
            .build()
            .unwrap();
        // The thread holds the last handle and drops it when done.
        std::thread::spawn(move || {
            for _ in 0..100 {
                a.emit(Receipt::new("acme")).unwrap();
            }
        })
        .join()
        .unwrap();
    }
    assert_eq!(store.tip(&TenantId::new("acme")).unwrap().unwrap().len, 100);
}

#[test]
fn a_builder_without_signer_explains_what_to_do() {
    let err = Auditor::builder()
        .store(MemoryStore::new())
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("no signer"), "{err}");
}

#[cfg(feature = "tokio")]
#[test]
fn emit_async_works_on_tokio_and_applies_backpressure() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = Auditor::builder()
        .signer(key())
        .shared_store(Arc::clone(&store))
        .queue_bound(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let a = a.clone();
                tokio::spawn(async move { a.emit_async(Receipt::new(format!("t{}", i % 2))).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    a.shutdown().unwrap();
    for t in ["t0", "t1"] {
        let r = verify_tenant(store.as_ref(), t, key().verifying_key());
        assert!(r.is_pass());
        assert_eq!(r.receipts, 32);
    }
}

#[test]
fn detached_receipts_are_all_stored_even_when_the_queue_is_full() {
    use audit_runtime::sink::AuditSink;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .shared_store(Arc::clone(&store))
        .queue_bound(1)
        .max_batch(1)
        .build()
        .unwrap();
    let sink = AuditSink::new(auditor.clone());
    // Far more than the queue holds, handed over without waiting (as from `Drop`).
    for i in 0..300 {
        sink.emit_detached(Receipt::new("detached").with_input_text(&format!("{i}")));
    }
    let t = TenantId::new("detached");
    let started = std::time::Instant::now();
    while store.tip(&t).unwrap().map_or(0, |tip| tip.len) < 300 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not all stored"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sink.emit_failures(), 0);
    auditor.shutdown().unwrap();
}
