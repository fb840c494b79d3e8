//! Quickstart: seal decision receipts on two tenants' chains, write them as JSONL, verify them
//! against the pinned public key, and show that an edited receipt is caught.
//!
//! Run with `cargo run --release --example quickstart`. Set `AI_AUDIT_SIGNING_KEY` (from
//! `ai-audit gen-key`) to sign with a persistent key; otherwise an ephemeral key is used.

#![expect(clippy::print_stdout, reason = "an example prints its results")]

use std::time::Instant;

use ai_audit::canonical::Object;
use ai_audit::verify::{FindingKind, VerifyOptions, verify_jsonl};
use ai_audit::{Action, AuditConfig, CheckRecord, MemoryLedger, Receipt, TenantId};

fn main() -> anyhow::Result<()> {
    let config = AuditConfig::from_env()?;
    let key = config.signing_key();
    let public = key.verifying_key();
    println!("signing key fingerprint: {}", public.fingerprint());

    // 1. Every decision leaves a receipt, chained per tenant.
    let mut ledger = MemoryLedger::new();
    let started = Instant::now();
    let n = 2_000u64;
    for i in 0..n {
        let tenant = if i % 2 == 0 { "bank-eu" } else { "insurer-de" };
        let score = (i % 100) as f64 / 100.0;
        let receipt = Receipt::new(tenant)
            .with_trace(format!("req-{i}"))
            .with_input_text(&format!(
                "Loan application #{i}: income 52,000 EUR, requested 18,000 EUR"
            ))
            .with_output_text(if score < 0.7 {
                "approve"
            } else {
                "refer to underwriter"
            })
            .with_check(
                CheckRecord::new("default_risk", score, 0.7)
                    .with_detail(Object::new().with("model_version", "risk-2026.03")),
            )
            .with_action(if score < 0.7 {
                Action::Allow
            } else {
                Action::Escalate
            })
            .with_model("credit-scorer-7");
        ledger.append(receipt, key)?;
    }
    let sealed_in = started.elapsed();
    println!(
        "sealed {n} receipts in {:.1} ms ({:.0} receipts/s on one thread)",
        sealed_in.as_secs_f64() * 1e3,
        n as f64 / sealed_in.as_secs_f64()
    );

    // 2. Export each tenant's chain as JSONL and verify it against the pinned public key.
    std::fs::create_dir_all("audit-data")?;
    let opts = VerifyOptions::pinned(public);
    let mut all_pass = true;
    for tenant in ledger.tenants() {
        let jsonl = ledger.to_jsonl(tenant);
        let path = format!("audit-data/quickstart-{tenant}.jsonl");
        std::fs::write(&path, &jsonl)?;
        let report = verify_jsonl(&jsonl[..], &opts)?;
        println!(
            "{}: {path}: {} receipts, {} signatures verified, tip {}",
            report.verdict().as_str().to_uppercase(),
            report.receipts,
            report.signatures_verified,
            report.tip.as_deref().unwrap_or("-")
        );
        all_pass &= report.is_pass();
    }

    // 3. Tamper with one receipt: the verifier names the receipt and the check.
    let tenant = TenantId::new("bank-eu");
    let jsonl = String::from_utf8(ledger.to_jsonl(&tenant))?;
    let tampered = jsonl.replacen("\"action\":\"escalate\"", "\"action\":\"allow\"", 1);
    let report = verify_jsonl(tampered.as_bytes(), &opts)?;
    if let Some(f) = report.first(FindingKind::Signature) {
        println!(
            "tampered copy: {} (as expected)\n  {f}",
            report.verdict().as_str().to_uppercase()
        );
    }
    all_pass &= !report.is_pass();

    println!(
        "verify the files yourself: cargo run --release -- verify audit-data/quickstart-bank-eu.jsonl --key {}",
        public.to_hex()
    );
    anyhow::ensure!(all_pass, "verification did not behave as expected");
    println!("PASS");
    Ok(())
}
