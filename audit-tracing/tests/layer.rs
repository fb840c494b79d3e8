//! The layer end to end: one receipt per audit span with its checks, none for other spans.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;

use audit_runtime::canonical::{ParsedLine, canonicalize_input, hash_output};
use audit_runtime::store::{self, MemoryStore, Store};
use audit_runtime::{Action, Auditor, SigningKey, TenantId};
use audit_tracing::AuditLayer;
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt as _;

fn setup() -> (Auditor, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .shared_store(Arc::clone(&store))
        .build()
        .unwrap();
    (auditor, store)
}

fn receipts(store: &Arc<dyn Store>, tenant: &str) -> Vec<ParsedLine> {
    store::receipts(store.as_ref(), &TenantId::new(tenant), 0..u64::MAX)
        .map(|e| e.unwrap().parse().unwrap())
        .collect()
}

#[tracing::instrument(fields(audit.tenant = "inst", audit.output = Empty, audit.model = "m-9"))]
fn instrumented(question: &str) -> &'static str {
    tracing::info!(audit.check = "toxicity", score = 0.9, threshold = 0.8);
    tracing::info!(
        audit.check = "pii",
        score = 0.1,
        threshold = 0.5,
        fired = true
    );
    tracing::Span::current().record("audit.output", "declined");
    "declined"
}

#[test]
fn one_receipt_per_audit_span_with_its_checks_and_none_for_other_spans() {
    let (auditor, store) = setup();
    let (layer, guard) = AuditLayer::new(auditor);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let plain = tracing::info_span!("plain", user = "bob");
        let _p = plain.enter();
        tracing::info!(audit.check = "ignored", score = 1.0, threshold = 0.5);
        instrumented("is this fine?");
        let s = tracing::info_span!(
            "decide",
            audit.tenant = "spans",
            audit.input = "  Approve LOAN ",
            audit.action = Empty,
            audit.reason = Empty,
        );
        s.in_scope(|| {
            tracing::info_span!("helper").in_scope(|| {
                tracing::info!(audit.check = "inner-event", score = 2, threshold = 1);
            });
            s.record("audit.action", "escalate");
            s.record("audit.reason", "needs_human");
        });
    });
    let stats = guard.finish();
    assert_eq!((stats.sent, stats.emitted, stats.lost()), (2, 2, 0));

    let inst = receipts(&store, "inst");
    assert_eq!(inst.len(), 1);
    let r = &inst[0].receipt;
    assert_eq!(r.output_hash, hash_output("declined"));
    assert_eq!(r.model_id, "m-9");
    assert_eq!(r.checks.len(), 2);
    assert!(r.checks[0].fired);
    assert!(r.checks[1].fired, "explicit fired wins");

    let spans = receipts(&store, "spans");
    assert_eq!(spans.len(), 1);
    let r = &spans[0].receipt;
    assert_eq!(r.input_c14n, canonicalize_input("approve loan"));
    assert_eq!(r.action, Action::Escalate);
    assert_eq!(r.reason_codes, ["decision:decide", "needs_human"]);
    assert_eq!(r.checks.len(), 1);
    assert_eq!(r.checks[0].name, "inner-event");
    assert_eq!(receipts(&store, "").len(), 0, "plain spans leave nothing");
}

#[test]
fn trace_ids_come_from_otel_fields_and_are_inherited_by_nested_audit_spans() {
    let (auditor, store) = setup();
    let (layer, guard) = AuditLayer::new(auditor);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!(
            "outer",
            audit.tenant = "trace",
            otel.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        )
        .in_scope(|| {
            tracing::info_span!(target: "audit", "inner", audit.tenant = "trace").in_scope(|| {});
        });
        tracing::info_span!(target: "audit", "alone", audit.tenant = "trace").in_scope(|| {});
    });
    assert_eq!(guard.finish().emitted, 3);
    let r = receipts(&store, "trace");
    assert_eq!(
        r[0].receipt.trace_id.as_str(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        r[1].receipt.trace_id.as_str(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(r[2].receipt.trace_id.as_str().len(), 32);
    assert_ne!(r[2].receipt.trace_id, r[0].receipt.trace_id);
}

#[test]
fn receipts_the_auditor_refuses_are_reported_as_lost() {
    let (auditor, _store) = setup();
    let (layer, guard) = AuditLayer::builder(auditor.clone())
        .lossy(true)
        .build()
        .unwrap();
    auditor.shutdown().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info_span!("d", audit.tenant = "gone").in_scope(|| {});
    });
    let stats = guard.finish();
    assert_eq!((stats.sent, stats.failed, stats.lost()), (1, 1, 1));
}
