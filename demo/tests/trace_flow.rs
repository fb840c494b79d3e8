//! One trace id from the HTTP request down: a request through the axum `AuditLayer` calls an
//! `#[audited]` decision, which opens a traced span and asks an LLM (aimock, a third-party
//! OpenAI-compatible server). Four receipts, one trace id — the request's `x-trace-id` — and a
//! request without one gets a fresh trace id that its nested receipts share all the same.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use ai_audit::http::AuditLayer;
use ai_audit::llm::{CallContext, Client, LlmError, openai};
use ai_audit::sink::AuditSink;
use ai_audit::store::{self, Store};
use ai_audit::{TraceId, audited};
use axum::Router;
use axum::extract::State;
use tracing_subscriber::layer::SubscriberExt as _;

mod support;
use support::aimock::Aimock;

#[audited(tenant = "bank-eu", capture(question))]
async fn advise(llm: &Client, question: &str) -> Result<String, LlmError> {
    {
        let _policy = tracing::info_span!("policy_check", audit.tenant = "bank-eu").entered();
        tracing::info!(audit.check = "pii", score = 0.0, threshold = 0.5);
    }
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": question}],
    });
    // No trace given: the call takes the audited call's.
    Ok(llm
        .chat_in(&CallContext::new("bank-eu"), &body)
        .await?
        .text()
        .to_owned())
}

async fn handler(State(llm): State<Client>, question: String) -> String {
    advise(&llm, &question).await.unwrap_or_default()
}

/// The first reason code (`decision:NAME`) of every receipt with this trace id, sorted.
fn receipts_by_trace(store: &dyn Store, trace: &str) -> Vec<String> {
    let mut found: Vec<String> = store::by_trace(store, &TraceId::new(trace))
        .map(|e| e.unwrap().parse().unwrap().receipt.reason_codes[0].clone())
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_an_audited_call_a_span_and_an_llm_call_share_one_trace_id() {
    let Some(mock) = Aimock::start(None) else {
        return;
    };
    let (auditor, store) = support::memory_auditor();
    let audit = ai_audit::install(auditor.clone()).unwrap();
    let (spans, _span_guard) = ai_audit::tracing::AuditLayer::new(auditor.clone());
    // Global: the handler runs on the runtime's worker threads.
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(spans)).unwrap();

    let sink = AuditSink::new(auditor.clone());
    let llm = openai::client(sink.clone())
        .base_url(format!("{}/v1", mock.base()))
        .api_key("sk-test")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/v1/advise", axum::routing::post(handler))
        .with_state(llm)
        .layer(
            AuditLayer::builder(sink)
                .path_prefix("/v1/advise")
                .tenant_header("x-tenant-id")
                .allowed_tenants(["bank-eu"])
                .build()
                .unwrap(),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{base}/v1/advise"))
        .header("x-tenant-id", "bank-eu")
        .header("x-trace-id", "req-4711")
        .body("hello")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(answer, "Hello from aimock.");
    // And one without a trace header: the layer's fresh trace id flows the same way.
    let status = http
        .post(format!("{base}/v1/advise"))
        .header("x-tenant-id", "bank-eu")
        .body("hello")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    tokio::task::spawn_blocking(move || audit.shutdown().unwrap())
        .await
        .unwrap();

    let expected = [
        "decision:advise",
        "decision:http",
        "decision:openai.chat_completions",
        "decision:policy_check",
    ];
    assert_eq!(receipts_by_trace(store.as_ref(), "req-4711"), expected);
    let all: Vec<_> = store::receipts(
        store.as_ref(),
        &ai_audit::TenantId::new("bank-eu"),
        0..u64::MAX,
    )
    .map(|e| e.unwrap().parse().unwrap().receipt.trace_id)
    .collect();
    assert_eq!(all.len(), 8, "four receipts per request");
    let fresh: Vec<_> = all.iter().filter(|t| t.as_str() != "req-4711").collect();
    assert_eq!(fresh.len(), 4);
    assert!(
        fresh.iter().all(|t| *t == fresh[0]),
        "the second request's receipts share its fresh trace id: {fresh:?}"
    );
}
