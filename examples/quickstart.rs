//! Quickstart (the library-only walkthrough; the main job is the service demo): emit decision
//! receipts through the `Auditor` into the
//! embedded SQLite store, read each tenant's chain back from the store and verify it from
//! genesis against the pinned public key, and show that an edited receipt is caught.
//!
//! Run with `cargo run --release --example quickstart`. The store is `./audit-data/audit.db`
//! (or under `AI_AUDIT_DATA_DIR`); run it twice and the chains continue where they ended. Set
//! `AI_AUDIT_SIGNING_KEY` (from `ai-audit gen-key`) to sign with a persistent key: with the
//! ephemeral key a second run starts new chains in a fresh database file.
#![expect(clippy::print_stdout, reason = "an example prints its results")]

use std::time::Instant;

use ai_audit::json::Object;
use ai_audit::store::{self, SqliteStore, Store};
use ai_audit::verify::{ChainVerifier, FindingKind, VerifyOptions};
use ai_audit::{Action, AuditConfig, Auditor, CheckRecord, KeySource, Receipt, TenantId};

const TENANTS: [&str; 2] = ["bank-eu", "insurer-de"];

fn main() -> anyhow::Result<()> {
    let config = AuditConfig::from_env()?;
    let key = config.signing_key().clone();
    let public = key.verifying_key();
    let dir = store::default_data_dir();
    // Receipts signed by an ephemeral key cannot join chains signed by an earlier key.
    let db = if config.key_source() == KeySource::Ephemeral {
        dir.join(format!("quickstart-{}.db", public.fingerprint()))
    } else {
        dir.join("audit.db")
    };
    let store = std::sync::Arc::new(SqliteStore::open(&db)?);
    let auditor = Auditor::builder()
        .signer(key)
        .shared_store(store.clone())
        .build()?;
    println!(
        "store {} · signing key {}",
        db.display(),
        public.fingerprint()
    );

    // 1. Every decision leaves a receipt; emit returns once it is durable.
    let before: Vec<u64> = TENANTS
        .iter()
        .map(|t| {
            store
                .tip(&TenantId::new(*t))
                .map(|tip| tip.map_or(0, |t| t.len))
        })
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let n = 2_000u64;
    let pending: Vec<_> = (0..n)
        .map(|i| {
            let score = (i % 100) as f64 / 100.0;
            let receipt = Receipt::new(TENANTS[(i % 2) as usize])
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
            auditor.submit(receipt)
        })
        .collect::<Result<_, _>>()?;
    for p in pending {
        p.wait()?;
    }
    let took = started.elapsed();
    println!(
        "emitted {n} durable receipts in {:.0} ms ({:.0} receipts/s, group-committed to SQLite)",
        took.as_secs_f64() * 1e3,
        n as f64 / took.as_secs_f64()
    );
    auditor.shutdown()?;

    // 2. Read every chain back from the store and verify it from genesis with the pinned key.
    let opts = VerifyOptions::pinned(public);
    let mut all_pass = true;
    for (tenant, before) in TENANTS.iter().zip(before) {
        let mut v = ChainVerifier::new(opts.clone());
        let mut lines = Vec::new();
        for e in store::receipts(store.as_ref(), &TenantId::new(*tenant), 0..u64::MAX) {
            lines.push(e?.line);
        }
        v.push_batch(&lines);
        let report = v.finish();
        println!(
            "{}: tenant {tenant}: {} receipts verified from genesis ({} from earlier runs), tip {}",
            report.verdict().as_str().to_uppercase(),
            report.receipts,
            before,
            report.tip.as_deref().unwrap_or("-")
        );
        all_pass &= report.is_pass();

        // 3. Tamper with one stored receipt in a copy: the verifier names it and the check.
        if let Some(i) = lines
            .iter()
            .position(|l| l.windows(19).any(|w| w == b"\"action\":\"escalate\""))
        {
            let text = String::from_utf8_lossy(&lines[i]).replacen(
                "\"action\":\"escalate\"",
                "\"action\":\"allow\"",
                1,
            );
            lines[i] = text.into_bytes();
            let mut v = ChainVerifier::new(opts.clone());
            v.push_batch(&lines);
            let tampered = v.finish();
            if let Some(f) = tampered.first(FindingKind::Signature) {
                println!("  tampered copy: FAIL (as expected): {f}");
            }
            all_pass &= !tampered.is_pass();
        }
    }
    println!(
        "verify it yourself: export a tenant with `sqlite3 {} \"SELECT CAST(lines AS TEXT) FROM segments WHERE tenant='bank-eu' ORDER BY first_seq\" > bank-eu.jsonl`, then `cargo run --release -- verify bank-eu.jsonl --key {}`",
        db.display(),
        public.to_hex()
    );
    anyhow::ensure!(all_pass, "verification did not behave as expected");
    println!("PASS");
    Ok(())
}
