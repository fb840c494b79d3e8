//! `ai-audit info`.

use crate::common::EXIT_PASS;

pub(crate) fn run() -> u8 {
    let f = audit_runtime::platform::cpu_features();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    out!("ai-audit {}", env!("CARGO_PKG_VERSION"));
    out!("receipt format: v1 (byte-compatible with ai-audit-trail 0.4.x)");
    let mut features: Vec<&str> = Vec::new();
    if cfg!(feature = "sqlite") {
        features.push("sqlite (embedded store)");
    }
    out!(
        "features: {}",
        if features.is_empty() {
            "none (core: receipts, sealing, chains, verification)".to_owned()
        } else {
            features.join(", ")
        }
    );
    out!(
        "sha256: {}",
        if f.sha_ni {
            "SHA-NI hardware path"
        } else {
            "portable software path (no SHA-NI on this CPU)"
        }
    );
    out!(
        "ed25519: {}",
        if f.avx2 {
            "verification uses the curve25519-dalek AVX2 backend; signing uses precomputed base-point tables"
        } else {
            "curve25519-dalek serial backend (no AVX2 on this CPU); signing uses precomputed base-point tables"
        }
    );
    out!("cores used for verification: {cores}");
    EXIT_PASS
}
