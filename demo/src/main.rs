//! The demo service: an axum app whose decisions and LLM calls all leave receipts.
//!
//! ```sh
//! cargo run --release -p ai-audit-demo -- --demo   # the end-to-end demo (the README's main job)
//! cargo run --release -p ai-audit-demo             # serve on 127.0.0.1:8080 (AI_AUDIT_SERVICE_ADDR)
//! ```
//!
//! Routes: `POST /v1/decide` (an audited decision that asks an LLM), `POST /v1/chat/completions`
//! (an auditing OpenAI-compatible gateway: point any OpenAI SDK at `http://ADDR/v1`), and the
//! admin router (`GET /admin/audit/export?tenant=…&from=…&to=…`, `GET /admin/audit/tip?tenant=…`,
//! `Authorization: Bearer $AI_AUDIT_ADMIN_TOKEN`), and `GET /metrics` (a Prometheus scrape of
//! the auditor's counters: receipts stored and lost by cause, commit latency, queue depth,
//! checkpoint lag; bind the service to an internal address, the route has no token).
//!
//! The upstream is `OPENAI_BASE_URL` (+ `OPENAI_API_KEY`) and `ANTHROPIC_BASE_URL`
//! (+ `ANTHROPIC_API_KEY`); when neither is set, a small in-process canned endpoint stands in,
//! and the service says so. Receipts go to SQLite under `AI_AUDIT_DATA_DIR` (default
//! `./audit-data`), signed with `AI_AUDIT_SIGNING_KEY` (an ephemeral key otherwise, with a
//! database file of its own). Clients name their tenant in `x-tenant-id`; only the tenants in
//! `AI_AUDIT_TENANTS` (comma-separated; default `bank-eu`) are served. The auditor is installed
//! with `ai_audit::install` and ended through its guard, which stores everything still queued;
//! the tracing layer is installed in `main` beside a warnings log whose field formatter masks
//! `audit.input` and `audit.output`.
//!
//! The server ([`serve`]) reads its limits from the environment: `AI_AUDIT_HEADER_READ_TIMEOUT_MS`
//! (10 s), `AI_AUDIT_REQUEST_TIMEOUT_MS` (30 s), `AI_AUDIT_MAX_CONNECTIONS` (1024) and
//! `AI_AUDIT_DRAIN_TIMEOUT_MS` (30 s). SIGTERM and SIGINT stop it gracefully: no new
//! connections, requests in flight finish, then the auditor's install guard stores every receipt
//! still queued, and the process exits 0.
//!
//! `--demo` starts the service on an ephemeral port, sends decisions and gateway calls (whole
//! and streamed), exports the tenant's bundle through the admin endpoint (after checking that a
//! missing or wrong token gets 401), verifies it against the pinned key exactly as
//! `examples/verify` does, and prints PASS with the figures.
#![expect(clippy::print_stdout, reason = "an example prints its results")]

mod app;
mod canned;
mod serve;

use std::time::{Duration, Instant};

use ai_audit::llm::{anthropic, openai};
use ai_audit::sink::AuditSink;
use ai_audit::store::{self, SqliteStore};
use ai_audit::verify::{VerifyOptions, verify_bundle};
use ai_audit::{AuditConfig, Auditor, KeySource, TenantId};
use anyhow::{Context as _, bail};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

const DECISIONS: usize = 200;
const TENANT: &str = "bank-eu";

fn random_token() -> anyhow::Result<String> {
    Ok(ai_audit::SigningKey::generate()?.to_seed_hex().to_string())
}

/// The tenants to serve: `AI_AUDIT_TENANTS` (comma-separated), else the demo's tenant.
fn tenants(list: Option<&str>) -> anyhow::Result<Vec<TenantId>> {
    list.unwrap_or(TENANT)
        .split(',')
        .map(|t| TenantId::parse(t.trim()).with_context(|| format!("AI_AUDIT_TENANTS: {t:?}")))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let demo = std::env::args().any(|a| a == "--demo");
    let config = AuditConfig::from_env()?;
    let key = config.signing_key().clone();
    let dir = store::default_data_dir();
    // Receipts signed by an ephemeral key cannot join chains signed by an earlier key.
    let db = if config.key_source() == KeySource::Ephemeral || demo {
        dir.join(format!("service-{}.db", key.verifying_key().fingerprint()))
    } else {
        dir.join("audit.db")
    };
    // Before the auditor exists, so that every counter it publishes is seen.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let auditor = Auditor::builder()
        .signer(key.clone())
        .store(SqliteStore::open(&db)?)
        .build()?;
    // The process's auditor, ended by `audit` (on return, or `audit.shutdown()?` below).
    let audit = ai_audit::install(auditor.clone())?;
    let sink = AuditSink::from_env(auditor.clone())?;

    // The tracing layer: audit spans become receipts too. The log beside it prints warnings,
    // with the decision's content masked.
    let (layer, guard) = ai_audit::tracing::AuditLayer::new(auditor.clone());
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .fmt_fields(ai_audit::tracing::MaskAuditFields::default())
        .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer).with(log))?;

    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (openai_url, anthropic_url) = match (env("OPENAI_BASE_URL"), env("ANTHROPIC_BASE_URL")) {
        (None, None) => {
            let url = canned::start().await?;
            eprintln!(
                "OPENAI_BASE_URL and ANTHROPIC_BASE_URL are unset: using an in-process canned LLM endpoint at {url}"
            );
            (format!("{url}/v1"), url)
        }
        (o, a) => (
            o.unwrap_or_else(|| openai::DEFAULT_BASE_URL.into()),
            a.unwrap_or_else(|| anthropic::DEFAULT_BASE_URL.into()),
        ),
    };
    let mut o = openai::client(sink.clone()).base_url(&openai_url);
    if let Some(k) = env("OPENAI_API_KEY") {
        o = o.api_key(k);
    }
    let mut a = anthropic::client(sink.clone()).base_url(&anthropic_url);
    if let Some(k) = env("ANTHROPIC_API_KEY") {
        a = a.api_key(k);
    }
    let admin_token = match env("AI_AUDIT_ADMIN_TOKEN") {
        Some(t) => t,
        None => {
            let t = random_token()?;
            if !demo {
                eprintln!("AI_AUDIT_ADMIN_TOKEN is unset; this run's admin token: {t}");
            }
            t
        }
    };
    let router = app::router(app::AppConfig {
        sink,
        key: key.clone(),
        admin_token: admin_token.clone(),
        openai: o.build()?,
        anthropic: a.build()?,
        model: env("AI_AUDIT_DEMO_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
        tenants: tenants(env("AI_AUDIT_TENANTS").as_deref())?,
    })?
    .route(
        "/metrics",
        axum::routing::get(move || std::future::ready(metrics.render())),
    );

    let addr = if demo {
        "127.0.0.1:0".to_owned()
    } else {
        env("AI_AUDIT_SERVICE_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into())
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    eprintln!(
        "serving on http://{local} · store {} · signing key {}",
        db.display(),
        key.verifying_key().to_hex()
    );
    let limits = serve::Limits::from_env()?;
    if !demo {
        // Until SIGTERM or SIGINT: then no new connections, requests in flight finish…
        serve::serve(listener, router, limits, serve::shutdown_signal()).await;
        // …and every receipt still queued is stored before the process exits.
        audit.shutdown()?;
        drop(guard);
        eprintln!("drained and shut down: every receipt is stored");
        return Ok(());
    }
    tokio::spawn(serve::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    let result = run_demo(&format!("http://{local}"), &admin_token, &key, &db).await;
    let scrape = reqwest::get(format!("http://{local}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    // Stores everything queued, fails if any receipt was lost, and truncates the log.
    audit.shutdown()?;
    let stats = guard.finish();
    let (decisions_per_s, p50, size, verify_ms, n) = result?;
    let stored = scrape
        .lines()
        .find_map(|l| l.strip_prefix("ai_audit_receipts_stored_total "))
        .context("the /metrics scrape has no ai_audit_receipts_stored_total")?
        .trim()
        .to_owned();
    let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    if wal >= 4 << 20 {
        bail!("the store's write-ahead log is {wal} bytes after shutdown");
    }
    println!(
        "PASS: {DECISIONS} audited decisions ({decisions_per_s:.0}/s, p50 {p50:.2} ms, 3 receipts each: request, LLM call, policy span), \
         2 gateway calls (whole and streamed); admin export refused without or with a wrong token; \
         bundle of {n} receipts ({size} bytes) downloaded and verified in {verify_ms:.1} ms under pinned key {}; \
         tracing layer: {} receipts, {} lost; /metrics: {stored} receipts stored; auditor: {} stored, {} lost; \
         write-ahead log after shutdown: {wal} bytes",
        key.verifying_key().fingerprint(),
        stats.emitted,
        stats.lost(),
        auditor.stats().emitted,
        auditor.stats().lost.total(),
    );
    Ok(())
}

type Figures = (f64, f64, usize, f64, u64);

async fn run_demo(
    base: &str,
    token: &str,
    key: &ai_audit::SigningKey,
    db: &std::path::Path,
) -> anyhow::Result<Figures> {
    let http = reqwest::Client::new();
    // 1. Decisions: each leaves a receipt for the request, the LLM call and the policy span.
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(DECISIONS);
    for i in 0..DECISIONS {
        let t = Instant::now();
        let asked = if i % 4 == 0 { 90_000 } else { 18_000 };
        let provider = if i % 2 == 0 { "openai" } else { "anthropic" };
        let resp = http
            .post(format!("{base}/v1/decide"))
            .header("x-tenant-id", TENANT)
            .header("x-trace-id", format!("demo-{i}"))
            .json(&serde_json::json!({
                "application": format!("Loan application #{i}: income 52000 EUR, asking {asked} EUR"),
                "provider": provider,
            }))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("decision {i} failed: {}", resp.status());
        }
        latencies.push(t.elapsed());
    }
    let rate = DECISIONS as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let p50 = latencies
        .get(DECISIONS / 2)
        .copied()
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1e3;

    // 2. The gateway, whole and streamed, into the same tenant.
    let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "income 52000, asking 9000"}]});
    let whole: serde_json::Value = http
        .post(format!("{base}/v1/chat/completions"))
        .header("x-tenant-id", TENANT)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut streamed = body.clone();
    streamed["stream"] = true.into();
    let sse = http
        .post(format!("{base}/v1/chat/completions"))
        .header("x-tenant-id", TENANT)
        .json(&streamed)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    if whole["choices"][0]["message"]["content"].as_str().is_none() || !sse.contains("[DONE]") {
        bail!("the gateway's answers are not Chat Completions");
    }

    // 3. Export through the admin endpoint: 401 without or with a wrong token.
    let url = format!("{base}/admin/audit/export?tenant={TENANT}");
    for auth in [None, Some("Bearer not-the-admin-token")] {
        let mut req = http.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let status = req.send().await?.status();
        if status.as_u16() != 401 {
            bail!("the admin endpoint answered {status} without the right token");
        }
    }
    let bundle = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let path = db.with_extension("bundle.zip");
    std::fs::write(&path, &bundle).with_context(|| format!("writing {}", path.display()))?;

    // 4. Verify against the pinned key, as `cargo run --example verify -- BUNDLE --key HEX` does.
    let t = Instant::now();
    let report = verify_bundle(
        std::io::BufReader::new(std::fs::File::open(&path)?),
        &VerifyOptions::pinned(key.verifying_key()),
    )?;
    let verify_ms = t.elapsed().as_secs_f64() * 1e3;
    if !report.is_pass() || !report.pinned {
        bail!(
            "the exported bundle does not verify: {:?}",
            report.chain.findings
        );
    }
    let n = report.chain.receipts;
    eprintln!(
        "bundle: {} (verify it yourself: cargo run --example verify -- {} --key {})",
        path.display(),
        path.display(),
        key.verifying_key().to_hex()
    );
    Ok((rate, p50, bundle.len(), verify_ms, n))
}
