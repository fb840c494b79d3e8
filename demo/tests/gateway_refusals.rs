//! The example service's OpenAI-compatible gateway (`demo/src/app.rs`, compiled in
//! here) leaves a receipt for every request it refuses — a body that is too large or not JSON,
//! a tenant it does not serve — and for one whose body breaks off; none of them reaches the
//! upstream.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

#[path = "../src/app.rs"]
mod app;
mod support;

use ai_audit::canonical::canonicalize_input;
use ai_audit::http::ADMIN_TENANT;
use ai_audit::llm::{anthropic, openai};
use ai_audit::sink::AuditSink;
use ai_audit::{Auditor, SigningKey, TenantId};
use serde_json::Value;
use support::reasons;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The app with an upstream nobody listens on: a refused request must never get that far.
async fn serve(auditor: &Auditor, key: SigningKey) -> String {
    let sink = AuditSink::new(auditor.clone());
    let dead = "http://127.0.0.1:9";
    let router = app::router(app::AppConfig {
        sink: sink.clone(),
        key,
        admin_token: "0123456789abcdef-admin-token".into(),
        openai: openai::client(sink.clone())
            .base_url(format!("{dead}/v1"))
            .build()
            .unwrap(),
        anthropic: anthropic::client(sink).base_url(dead).build().unwrap(),
        model: "gpt-4o-mini".into(),
        tenants: vec![TenantId::new("bank")],
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// Writes `request` on a new connection, then `hang_up`s or reads the answer's status line.
async fn raw(addr: &str, request: &str, hang_up: bool) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    if hang_up {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        return String::new();
    }
    let mut answer = vec![0; 4096];
    let n = s.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_gateway_requests_leave_receipts() {
    let key = SigningKey::generate().unwrap();
    let auditor = Auditor::builder()
        .signer(key.clone())
        .store(ai_audit::store::MemoryStore::new())
        .build()
        .unwrap();
    let addr = serve(&auditor, key).await;
    let url = format!("http://{addr}/v1/chat/completions");
    let http = reqwest::Client::new();
    let post = |tenant: Option<&str>, body: &'static str| {
        let mut r = http.post(&url).body(body);
        if let Some(t) = tenant {
            r = r.header("x-tenant-id", t);
        }
        r.send()
    };

    let r = post(Some("bank"), "{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"]["message"], "the body is not JSON");
    let too_large = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\nx-tenant-id: bank\r\ncontent-length: {}\r\n\r\n",
        app::GATEWAY_MAX_BODY + 1
    );
    let answer = raw(&addr, &too_large, false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let broken_off = "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\nx-tenant-id: bank\r\ncontent-length: 100\r\n\r\n{\"model\":";
    raw(&addr, broken_off, true).await;
    assert_eq!(post(Some("nobody"), "{}").await.unwrap().status(), 403);
    assert_eq!(post(None, "{}").await.unwrap().status(), 400);

    // In the tenant's own chain: what it sent and why it was refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let bank = loop {
        let bank = support::stored_receipts(&auditor, "bank");
        if bank.len() >= 3 || std::time::Instant::now() > deadline {
            break bank;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let summary: Vec<(&str, Vec<&str>)> = bank
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), reasons(r)))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "reject",
                vec![
                    "decision:gateway",
                    "gateway_refused",
                    "body_not_json",
                    "http.status=400"
                ]
            ),
            (
                "reject",
                vec![
                    "decision:gateway",
                    "gateway_refused",
                    "body_too_large",
                    "http.status=413"
                ]
            ),
            (
                "fail_retry",
                vec![
                    "decision:gateway",
                    "request_cancelled",
                    "http.body_incomplete"
                ]
            ),
        ]
    );
    // A tenant it does not serve: in the admin tenant, with only the hash of what was offered.
    let admin = support::stored_receipts(&auditor, ADMIN_TENANT);
    assert_eq!(admin.len(), 2);
    assert_eq!(
        reasons(&admin[0]),
        [
            "decision:gateway",
            "gateway_refused",
            "tenant_not_allowed",
            "http.status=403"
        ]
    );
    assert_eq!(admin[0]["input_c14n"], canonicalize_input("nobody"));
    assert!(reasons(&admin[1]).contains(&"tenant_missing"));
    assert!(support::stored_receipts(&auditor, "nobody").is_empty());
}
