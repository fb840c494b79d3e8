//! Receipts from `#[audited]` and from the tracing layer land in one SQLite store and verify.
#![cfg(all(feature = "macros", feature = "sqlite"))]

use std::sync::Arc;

use ai_audit::store::{self, SqliteStore, Store};
use ai_audit::verify::{self, VerifyOptions};
use ai_audit::{Auditor, SigningKey, TenantId, audited, capture};
use audit_tracing::AuditLayer;
use tracing_subscriber::layer::SubscriberExt as _;

#[audited(tenant = "both", capture(q))]
fn answer(q: &str) -> Result<String, String> {
    ai_audit::check("len", q.len() as f64, 100.0);
    if q.is_empty() {
        return Err("empty".to_owned());
    }
    Ok(q.to_uppercase())
}

#[audited(tenant = "both")]
async fn answer_async(n: u32) -> u32 {
    n + 1
}

#[test]
fn receipts_from_the_macro_and_the_layer_land_in_sqlite_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    let key = SigningKey::generate().unwrap();
    let public = key.verifying_key();
    let auditor = Auditor::builder()
        .signer(key)
        .shared_store(Arc::clone(&store))
        .build()
        .unwrap();
    capture::set_default(auditor.clone());
    let (layer, guard) = AuditLayer::new(auditor.clone());
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        answer("why?").unwrap();
        answer("").unwrap_err();
        tracing::info_span!("span-decision", audit.tenant = "both", audit.input = "q")
            .in_scope(|| tracing::info!(audit.check = "c", score = 1.0, threshold = 0.5));
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(answer_async(1)), 2);
    assert_eq!(guard.finish().emitted, 1);
    capture::flush();
    auditor.flush().unwrap();

    let lines = store::receipts(store.as_ref(), &TenantId::new("both"), 0..u64::MAX)
        .map(|e| e.map(|e| e.line));
    let report = verify::verify_lines(lines, &VerifyOptions::pinned(public)).unwrap();
    assert!(report.is_pass(), "{report:?}");
    assert_eq!(report.receipts, 4);
}
