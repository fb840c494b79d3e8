//! Decisions that leave receipts with no glue code: `#[audited]` functions (sync and async) and
//! a `tracing` span, with the audit layer installed in `main`, all writing to the embedded
//! SQLite store; then every tenant's chain is read back and verified from genesis.
//!
//! Run with `cargo run --example decisions`. (An application enables the `tracing` feature of
//! `ai-audit` and writes `ai_audit::tracing::AuditLayer`; this example reaches the same layer
//! through a dev-dependency so that it runs with the default features.) The store is
//! `./audit-data/decisions-KEY.db` (or under `AI_AUDIT_DATA_DIR`), one file per signing key.
#![expect(clippy::print_stdout, reason = "an example prints its results")]

use std::sync::Arc;

use ai_audit::store::{self, SqliteStore, Store};
use ai_audit::verify::{self, VerifyOptions};
use ai_audit::{Action, AuditConfig, Auditor, TenantId, audited, capture};
use audit_tracing::AuditLayer;
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Debug)]
struct Refer(&'static str);

#[derive(serde::Serialize)]
struct Application {
    income_eur: u64,
    amount_eur: u64,
}

/// A credit decision: the application is hashed into the receipt (`capture`), the answer too.
#[audited(tenant = "bank-eu", capture(app), model = "credit-scorer-7")]
fn credit_decision(app: &Application) -> Result<&'static str, Refer> {
    let ratio = app.amount_eur as f64 / app.income_eur as f64;
    ai_audit::check("debt_to_income", ratio, 0.4);
    if ratio >= 0.4 {
        ai_audit::reason("ratio_above_policy");
        ai_audit::set_action(Action::Escalate); // a human decides: recorded as `escalate`
        return Err(Refer("refer to underwriter"));
    }
    Ok("approve")
}

/// A moderation decision made by an async model call; retryable failures are `fail_retry`.
#[audited(
    tenant = "forum-de",
    capture(post),
    on_err = "fail_retry",
    model = "moderator-2"
)]
async fn moderate(post: String) -> Result<String, String> {
    let toxicity = classify(&post).await?;
    ai_audit::check("toxicity", toxicity, 0.8);
    Ok(if toxicity >= 0.8 { "hide" } else { "show" }.to_owned())
}

/// The "model": a nested audited call, so its receipt shares the caller's trace.
#[audited(tenant = "forum-de", name = "toxicity_model", skip_output)]
async fn classify(post: &str) -> Result<f64, String> {
    tokio::task::yield_now().await;
    if post.is_empty() {
        return Err("model timeout".to_owned());
    }
    Ok(if post.contains("idiot") { 0.93 } else { 0.05 })
}

/// The same kind of decision through a plain `tracing` span, for code that already has spans.
#[tracing::instrument(fields(audit.tenant = "bank-eu", audit.input = question, audit.output = tracing::field::Empty))]
fn support_answer(question: &str) -> &'static str {
    tracing::info!(audit.check = "pii", score = 0.0, threshold = 0.5);
    let answer = "Your application is being reviewed.";
    tracing::Span::current().record("audit.output", answer);
    answer
}

fn main() -> anyhow::Result<()> {
    let config = AuditConfig::from_env()?;
    let key = config.signing_key().clone();
    let public = key.verifying_key();
    let db = store::default_data_dir().join(format!("decisions-{}.db", public.fingerprint()));
    let store = Arc::new(SqliteStore::open(&db)?);
    let auditor = Auditor::builder()
        .signer(key)
        .shared_store(store.clone())
        .build()?;
    // The process-global auditor of `#[audited]`; dropping `audit` (or `audit.shutdown()`)
    // stores everything still queued, the tracing layer's receipts included.
    let audit = ai_audit::install(auditor.clone())?;
    let (layer, guard) = AuditLayer::new(auditor);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))?;
    println!(
        "store {} · signing key {}",
        db.display(),
        public.fingerprint()
    );

    for (income, amount) in [(52_000, 18_000), (20_000, 15_000)] {
        let app = Application {
            income_eur: income,
            amount_eur: amount,
        };
        match credit_decision(&app) {
            Ok(answer) => println!("credit {income}/{amount}: {answer}"),
            Err(Refer(why)) => println!("credit {income}/{amount}: {why}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    for post in ["Nice write-up, thanks!", "you idiot", ""] {
        let verdict = rt.block_on(rt.spawn(moderate(post.to_owned())))?;
        println!("moderate {post:?}: {verdict:?}");
    }
    println!("support: {}", support_answer("Where is my application?"));

    // Stores everything queued and fails if any receipt was lost.
    audit.shutdown()?;
    let layer_stats = guard.finish();
    anyhow::ensure!(
        layer_stats.lost() == 0,
        "the layer lost receipts: {layer_stats:?}"
    );
    let stats = capture::stats();
    anyhow::ensure!(
        stats.no_auditor == 0 && stats.submit_failed == 0,
        "receipts were not handed over: {stats:?}"
    );

    let opts = VerifyOptions::pinned(public);
    let mut all_pass = true;
    for tenant in ["bank-eu", "forum-de"] {
        let lines = store::receipts(
            store.as_ref() as &dyn Store,
            &TenantId::new(tenant),
            0..u64::MAX,
        )
        .map(|e| e.map(|e| e.line));
        let report = verify::verify_lines(lines, &opts)?;
        println!(
            "{}: tenant {tenant}: {} receipts verified from genesis, tip {}",
            report.verdict().as_str().to_uppercase(),
            report.receipts,
            report.tip.as_deref().unwrap_or("-")
        );
        all_pass &= report.is_pass();
    }
    anyhow::ensure!(all_pass, "verification failed");
    println!("PASS");
    Ok(())
}
