//! Shared helpers for the end-to-end tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The `receipts.jsonl` member of a vector bundle.
pub(crate) fn bundle_receipts(name: &str) -> Vec<u8> {
    use std::io::Read as _;
    let file = std::fs::File::open(vectors().join(name)).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut out = Vec::new();
    zip.by_name("receipts.jsonl")
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The Python reference version the interop tests run against.
pub(crate) const PYTHON_REFERENCE: &str = "ai-audit-trail==0.4.7";

fn python_has_reference(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import ai_audit, nacl, orjson; assert ai_audit.__version__ == '0.4.7'",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A Python interpreter with `ai-audit-trail==0.4.7` installed.
///
/// Uses `AI_AUDIT_PYTHON` if set; otherwise creates (once, under a file lock) a virtualenv in
/// `target/py-ai-audit-trail` with `python3 -m venv` and `pip install`. Returns `None` when that
/// is impossible — unless `CI` is set, where a missing Python is a failure, not a skip.
pub(crate) fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AI_AUDIT_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            python_has_reference(&p),
            "AI_AUDIT_PYTHON={} lacks {PYTHON_REFERENCE}",
            p.display()
        );
        return Some(p);
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&target).unwrap();
    let venv = target.join("py-ai-audit-trail");
    let python = venv.join("bin/python");
    let lock = std::fs::File::create(target.join("py-ai-audit-trail.lock")).unwrap();
    lock.lock().unwrap();
    if !python_has_reference(&python) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(PYTHON_REFERENCE)
                .status()
                .is_ok_and(|s| s.success());
        if !made || !python_has_reference(&python) {
            let _ = lock.unlock();
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs python3 with venv and pip to install {PYTHON_REFERENCE}"
            );
            eprintln!("SKIP: cannot set up {PYTHON_REFERENCE} (python3 -m venv + pip failed)");
            return None;
        }
    }
    let _ = lock.unlock();
    Some(python)
}
