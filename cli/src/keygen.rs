//! `ai-audit gen-key`: the same output shape as the Python CLI.

use audit_runtime::SigningKey;

use crate::common::{EXIT_PASS, EXIT_USAGE};

pub(crate) fn run(quiet: bool) -> u8 {
    let key = match SigningKey::generate() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let seed = key.to_seed_hex();
    if quiet {
        out!("{}", seed.as_str());
        return EXIT_PASS;
    }
    out!("# Ed25519 signing key (KEEP SECRET)");
    out!("AI_AUDIT_SIGNING_KEY={}", seed.as_str());
    out!();
    out!("# Public verification key (safe to share / commit)");
    out!("AI_AUDIT_VERIFY_KEY={}", key.verifying_key().to_hex());
    out!();
    out!("# Usage:");
    out!("#   export AI_AUDIT_SIGNING_KEY=<seed>");
    out!("#   export AI_AUDIT_ENV=production");
    out!("#   let config = ai_audit::AuditConfig::from_env()?;");
    out!("#   ai-audit verify receipts.jsonl --key <AI_AUDIT_VERIFY_KEY>");
    EXIT_PASS
}
