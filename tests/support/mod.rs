//! Shared helpers for the end-to-end tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::PathBuf;
use std::process::Command;

pub(crate) mod failing_store;
pub(crate) mod python;

/// An auditor with a fresh key on a new in-memory store, and the store.
pub(crate) fn memory_auditor() -> (
    ai_audit::Auditor,
    std::sync::Arc<dyn ai_audit::store::Store>,
) {
    let store: std::sync::Arc<dyn ai_audit::store::Store> =
        std::sync::Arc::new(ai_audit::store::MemoryStore::new());
    let auditor = ai_audit::Auditor::builder()
        .signer(ai_audit::SigningKey::generate().unwrap())
        .shared_store(std::sync::Arc::clone(&store))
        .build()
        .unwrap();
    (auditor, store)
}

/// The genuine public key of the vectors (seed 01×32).
pub(crate) const VECTOR_PK: &str =
    "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

/// `../shared/vectors` (or `AI_AUDIT_VECTORS`).
pub(crate) fn vectors() -> PathBuf {
    std::env::var_os("AI_AUDIT_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors"),
        PathBuf::from,
    )
}

/// The Python reference version the interop tests run against.
pub(crate) const PYTHON_REFERENCE: &str = "ai-audit-trail==0.4.7";

const REFERENCE_CHECK: &str =
    "import ai_audit, nacl, orjson; assert ai_audit.__version__ == '0.4.7'";

/// A Python interpreter with `ai-audit-trail==0.4.7` installed.
///
/// Uses `AI_AUDIT_PYTHON` if set; otherwise creates (once, under a file lock) a virtualenv in
/// `target/py-ai-audit-trail` with `python3 -m venv` and `pip install`. Returns `None` when that
/// is impossible — unless `CI` is set, where a missing Python is a failure, not a skip.
pub(crate) fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AI_AUDIT_PYTHON") {
        let p = PathBuf::from(p);
        let ok = Command::new(&p)
            .args(["-c", REFERENCE_CHECK])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "AI_AUDIT_PYTHON={} lacks {PYTHON_REFERENCE}",
            p.display()
        );
        return Some(p);
    }
    python::venv("py-ai-audit-trail", &[PYTHON_REFERENCE], REFERENCE_CHECK)
}

/// The vectors' signing key (seed 01×32).
pub(crate) fn vector_key() -> ai_audit::SigningKey {
    ai_audit::SigningKey::from_seed(&[1; 32])
}
