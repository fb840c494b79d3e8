//! The `AuditLayer` and the receipts a request leaves behind it: with `respond_when_durable`,
//! a response is sent only once the receipts of the audit spans its handler opened (which the
//! tracing layer stores in the background) are durable, else 503; a client that breaks its
//! body off is recorded as `request_cancelled`.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ai_audit::http::AuditLayer;
use ai_audit::sink::AuditSink;
use ai_audit::store::Store;
use ai_audit::{Auditor, TenantId};
use axum::Router;
use axum::routing::post;
use serde_json::Value;
use support::reasons;
use tokio::io::AsyncWriteExt as _;
use tracing::instrument::WithSubscriber as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// How long the handler's audit span stays open after the handler returns.
const SPAN_OPEN: Duration = Duration::from_millis(400);

/// A service whose `/api/decide` opens an audit span in tenant `span_tenant` and closes it
/// [`SPAN_OPEN`] after the handler has answered (on another thread), as work the request
/// started and that outlives its handler would.
async fn serve(auditor: &Auditor, span_tenant: &'static str, wait: Option<Duration>) -> String {
    let (layer, guard) = ai_audit::tracing::AuditLayer::new(auditor.clone());
    // The tracing layer's worker lives as long as the layer; the guard is not needed here.
    std::mem::forget(guard);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let handler = move || {
        let dispatch = dispatch.clone();
        async move {
            let span = tracing::info_span!(
                "slow_policy",
                audit.tenant = span_tenant,
                audit.output = "approve"
            );
            std::thread::spawn(move || {
                std::thread::sleep(SPAN_OPEN);
                drop(span);
            });
            "approve"
        }
        .with_subscriber(dispatch)
    };
    let mut builder = AuditLayer::builder(AuditSink::new(auditor.clone()))
        .path_prefix("/api/")
        .default_tenant("acme");
    if let Some(t) = wait {
        builder = builder.respond_when_durable(t);
    }
    let app = Router::new()
        .route("/api/decide", post(handler))
        .layer(builder.build().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Receipts of `tenant` in the store now, without flushing anything.
fn stored_now(store: &Arc<dyn Store>, tenant: &str) -> Vec<Value> {
    ai_audit::store::receipts(store.as_ref(), &TenantId::new(tenant), 0..u64::MAX)
        .map(|e| serde_json::from_slice(&e.unwrap().line).unwrap())
        .collect()
}

async fn decide(base: &str) -> (u16, Value, Duration) {
    let t = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/decide"))
        .body("loan #1")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        t.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_is_sent_only_once_the_receipts_of_its_audit_spans_are_durable() {
    let (auditor, store) = support::memory_auditor();
    let base = serve(&auditor, "acme", Some(Duration::from_secs(5))).await;
    let (status, _, took) = decide(&base).await;
    assert_eq!(status, 200);
    assert!(took >= SPAN_OPEN, "answered after {took:?}");
    // Durable when the client got its answer: the span's receipt and the request's, in the
    // same trace.
    let acme = stored_now(&store, "acme");
    assert_eq!(acme.len(), 2, "{acme:?}");
    assert_eq!(reasons(&acme[0])[0], "decision:slow_policy");
    assert_eq!(reasons(&acme[1])[0], "decision:http");
    assert_eq!(acme[0]["trace_id"], acme[1]["trace_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_the_response_does_not_wait_for_background_receipts() {
    let (auditor, store) = support::memory_auditor();
    let base = serve(&auditor, "acme", None).await;
    let (status, _, took) = decide(&base).await;
    assert_eq!(status, 200);
    assert!(took < SPAN_OPEN, "answered after {took:?}");
    assert_eq!(
        stored_now(&store, "acme").len(),
        1,
        "the span is still open"
    );
    tokio::time::sleep(SPAN_OPEN * 2).await;
    assert_eq!(support::stored_receipts(&auditor, "acme").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_span_receipt_cannot_be_stored_gets_503_and_its_receipt_says_so() {
    let (auditor, store) = support::memory_auditor();
    // A span without a valid tenant is never written.
    let base = serve(&auditor, " not a tenant", Some(Duration::from_secs(5))).await;
    let (status, body, _) = decide(&base).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "receipts_not_durable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("1 of the 1 audit receipts"),
        "{message}"
    );
    let acme = stored_now(&store, "acme");
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0]["action"], "fail_retry");
    let why = reasons(&acme[0]);
    assert!(why.contains(&"receipts_not_durable"), "{why:?}");
    assert!(why.contains(&"http.status=503"), "{why:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waits_for_its_receipts_at_most_its_timeout() {
    let (auditor, _store) = support::memory_auditor();
    let base = serve(&auditor, "acme", Some(Duration::from_millis(100))).await;
    let (status, body, took) = decide(&base).await;
    assert_eq!(status, 503);
    assert!(took < SPAN_OPEN, "answered after {took:?}");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        "1 audit receipt(s) of this request were not durable within 100 ms; retry later"
    );
}

/// Sends a request whose body announces 1,000 bytes, sends `sent` of them, and hangs up.
async fn hang_up_mid_body(base: &str, sent: usize) {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = "POST /api/echo HTTP/1.1\r\nhost: test\r\ncontent-length: 1000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b'x'; sent]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
}

/// The first receipt of `tenant`, once there is one (the server sees the hang-up on its own
/// time).
async fn first_receipt(auditor: &Auditor, tenant: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(r) = support::stored_receipts(auditor, tenant).into_iter().next() {
            return r;
        }
        assert!(Instant::now() < deadline, "no receipt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_body_is_recorded_as_request_cancelled() {
    // Broken off within the prefix the layer hashes (16 bytes), and after it, while the
    // handler reads the rest.
    for (tenant, sent) in [("acme", 10), ("bank-eu", 200)] {
        let (auditor, _store) = support::memory_auditor();
        let app = Router::new()
            .route("/api/echo", post(|body: String| async move { body }))
            .layer(
                AuditLayer::builder(AuditSink::new(auditor.clone()))
                    .path_prefix("/api/")
                    .default_tenant(tenant)
                    .max_body_bytes(16)
                    .build()
                    .unwrap(),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        hang_up_mid_body(&base, sent).await;
        let r = first_receipt(&auditor, tenant).await;
        assert_eq!(r["action"], "fail_retry", "{tenant}: {r}");
        assert!(reasons(&r).contains(&"request_cancelled"), "{tenant}: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(support::stored_receipts(&auditor, tenant).len(), 1);
    }
}
