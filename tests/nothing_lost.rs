//! Nothing queued is lost on an orderly exit, as an application sees it: 10,000 `#[audited]`
//! calls from several threads and 1,000 traced decisions, then the application ends the
//! auditor in one of the ways it is told to — only dropping the install guard, or only calling
//! `Auditor::shutdown()` — and every receipt is in the store and verifies. With a store that
//! fails every write, the end reports every lost receipt instead of `Ok`.
#![cfg(all(feature = "macros", feature = "tracing", feature = "sqlite"))]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::{Arc, Mutex, PoisonError};

use ai_audit::store::{self, MemoryStore, SqliteStore, Store};

mod support;
use ai_audit::tracing::AuditLayer;
use ai_audit::verify::{self, VerifyOptions};
use ai_audit::{Action, Auditor, SigningKey, TenantId, VerifyingKey, audited, capture};
use support::failing_store::FailingStore;
use tracing_subscriber::layer::SubscriberExt as _;

const CALLS: u64 = 10_000;
const THREADS: u64 = 4;
const SPANS: u64 = 1_000;

/// The process-global default auditor is one per process: the tests of this binary take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[derive(Debug)]
struct Declined;

#[audited(tenant = "loans", capture(application), model = "credit-scorer-7")]
fn underwrite(application: &str, risk: u64) -> Result<&'static str, Declined> {
    ai_audit::check("default_risk", risk as f64 / 100.0, 0.7);
    match risk {
        0..=59 => Ok("approve"),
        60..=79 => {
            ai_audit::set_action(Action::Escalate);
            ai_audit::reason("refer_to_underwriter");
            Ok("refer")
        }
        _ => Err(Declined),
    }
}

/// The application's work: audited calls on several threads, traced decisions on this one.
fn run_the_application(auditor: &Auditor) -> ai_audit::tracing::AuditGuard {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..CALLS / THREADS {
                    let _ = underwrite(&format!("application {t}-{i}"), (t * 31 + i * 7) % 100);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (layer, layer_guard) = AuditLayer::new(auditor.clone());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..SPANS {
            let span = tracing::info_span!(
                "triage",
                audit.tenant = "claims",
                audit.input = tracing::field::Empty,
                audit.output = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("audit.input", format!("claim {i}").as_str());
            tracing::info!(audit.check = "fraud", score = 0.2, threshold = 0.9);
            span.record("audit.output", "pay");
        }
    });
    // The layer's guard stays alive, untouched: the auditor's end must drain its queue.
    layer_guard
}

/// An auditor on a new SQLite store, the store, and the public key to verify with.
fn sqlite_auditor(path: &std::path::Path) -> (Auditor, Arc<dyn Store>, VerifyingKey) {
    let key = SigningKey::generate().unwrap();
    let public = key.verifying_key();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(path).unwrap());
    let auditor = Auditor::builder()
        .signer(key)
        .shared_store(Arc::clone(&store))
        .build()
        .unwrap();
    (auditor, store, public)
}

fn assert_all_stored_and_verified(store: &dyn Store, public: &VerifyingKey) {
    for (tenant, n) in [("loans", CALLS), ("claims", SPANS)] {
        let tenant = TenantId::new(tenant);
        let lines = store::receipts(store, &tenant, 0..u64::MAX).map(|e| e.map(|e| e.line));
        let report = verify::verify_lines(lines, &VerifyOptions::pinned(*public)).unwrap();
        assert!(report.is_pass(), "{tenant:?}: {report:?}");
        assert_eq!(report.receipts, n, "every receipt of {tenant:?} is stored");
    }
    let escalated = store::receipts(store, &TenantId::new("loans"), 0..u64::MAX)
        .filter(|e| e.as_ref().unwrap().parse().unwrap().receipt.action == Action::Escalate)
        .count();
    assert!(escalated > 0, "set_action(Escalate) is recorded");
}

#[test]
fn dropping_the_install_guard_stores_every_receipt() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let (auditor, store, public) = sqlite_auditor(&dir.path().join("audit.db"));
    let audit = ai_audit::install(auditor.clone()).unwrap();
    let layer_guard = run_the_application(&auditor);

    drop(audit); // all the application does at the end of main

    assert!(auditor.is_shut_down());
    assert!(
        capture::default().is_none(),
        "the guard uninstalls its auditor"
    );
    assert_all_stored_and_verified(store.as_ref(), &public);
    let stats = auditor.stats();
    assert_eq!(stats.emitted, CALLS + SPANS);
    assert_eq!(stats.lost.total(), 0);
    drop(layer_guard);
}

#[test]
fn only_calling_shutdown_stores_every_receipt() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let (auditor, store, public) = sqlite_auditor(&dir.path().join("audit.db"));
    let _previous = capture::set_default(auditor.clone());
    let layer_guard = run_the_application(&auditor);

    auditor.shutdown().unwrap(); // no capture::flush(), no guard: shutdown alone

    assert_all_stored_and_verified(store.as_ref(), &public);
    drop(layer_guard);
}

fn with_failing_store(end: impl FnOnce(Auditor, ai_audit::InstallGuard) -> String) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let auditor = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .store(FailingStore::default())
        .build()
        .unwrap();
    let audit = ai_audit::install(auditor.clone()).unwrap();
    let layer_guard = run_the_application(&auditor);
    let message = end(auditor.clone(), audit);
    let total = CALLS + SPANS;
    assert!(
        message.contains(&format!("{total} receipt(s) were not stored")),
        "the error names the count: {message}"
    );
    assert_eq!(auditor.stats().lost.not_stored, total);
    drop(layer_guard);
}

#[test]
fn shutdown_with_a_failing_store_names_every_lost_receipt() {
    with_failing_store(|auditor, audit| {
        let e = auditor.shutdown().unwrap_err();
        assert_eq!(e.count(), CALLS + SPANS);
        // The guard reports the same again on its own end (to stderr when dropped).
        assert_eq!(audit.shutdown().unwrap_err().count(), CALLS + SPANS);
        e.to_string()
    });
}

#[test]
fn the_install_guard_with_a_failing_store_returns_the_count() {
    with_failing_store(|_auditor, audit| audit.shutdown().unwrap_err().to_string());
}

#[test]
fn a_second_install_is_refused_while_the_first_guard_lives() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let build = || {
        Auditor::builder()
            .signer(SigningKey::generate().unwrap())
            .store(MemoryStore::new())
            .build()
            .unwrap()
    };
    let first = ai_audit::install(build()).unwrap();
    let refused = ai_audit::install(build()).unwrap_err();
    assert!(
        refused.to_string().contains("already installed"),
        "{refused}"
    );
    first.shutdown().unwrap();
    ai_audit::install(build()).unwrap().shutdown().unwrap();
}

#[audited(tenant = tenant)]
fn decide_for(tenant: &str) -> bool {
    true
}

#[test]
fn a_decision_without_a_valid_tenant_is_counted_not_filed_under_an_empty_tenant() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let (auditor, store) = support::memory_auditor();
    let audit = ai_audit::install(auditor.clone()).unwrap();
    for tenant in ["", "bank-eu\n", " bank-eu", "bank-eu"] {
        assert!(decide_for(tenant));
    }
    let (layer, layer_guard) = AuditLayer::new(auditor.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!(target: "audit", "no_tenant").in_scope(|| {});
    });

    let e = audit.shutdown().unwrap_err();
    assert_eq!(auditor.stats().lost.invalid_tenant, 4);
    assert!(
        e.to_string().contains("4 named an invalid tenant id"),
        "{e}"
    );
    assert_eq!(store.tenants().unwrap(), [TenantId::new("bank-eu")]);
    drop(layer_guard);
}
