//! Shared helpers for the end-to-end tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::PathBuf;
use std::process::Command;

pub(crate) mod aimock;
pub(crate) mod failing_store;
pub(crate) mod python;

/// The workspace root (this package is one level below it).
pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

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
    std::env::var_os("AI_AUDIT_VECTORS")
        .map_or_else(|| workspace().join("../shared/vectors"), PathBuf::from)
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

/// The `ai-audit` binary (package `ai-audit-cli`), built once per test process with this test's
/// profile: the demo's evidence is checked by the auditor's own tool.
pub(crate) fn cli_binary() -> &'static std::path::Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "-p", "ai-audit-cli", "--bin", "ai-audit"]);
        cargo.args([
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ]);
        cargo.arg(workspace().join("Cargo.toml"));
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let out = cargo
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "cargo build -p ai-audit-cli failed");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ai-audit")
            .and_then(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap()
    })
}

/// Runs the `ai-audit` binary with `args`, without a pinned key in the environment.
pub(crate) fn ai_audit(args: &[&str]) -> std::process::Output {
    Command::new(cli_binary())
        .args(args)
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .output()
        .unwrap()
}

/// Standard output and standard error of a run, as one text.
pub(crate) fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tenant's stored receipts as JSON, in chain order (after a flush).
/// A stored receipt's reason codes.
pub(crate) fn reasons(r: &serde_json::Value) -> Vec<&str> {
    r["reason_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

pub(crate) fn stored_receipts(auditor: &ai_audit::Auditor, tenant: &str) -> Vec<serde_json::Value> {
    auditor.flush().unwrap();
    ai_audit::store::receipts(
        auditor.store().as_ref(),
        &ai_audit::TenantId::new(tenant),
        0..u64::MAX,
    )
    .map(|e| serde_json::from_slice(&e.unwrap().line).unwrap())
    .collect()
}
