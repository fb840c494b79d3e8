//! The axum `AuditLayer` and the admin router, served on loopback and called with reqwest:
//! status → action, handler panics, body capture, tenants, fail-closed, and admin exports of a
//! range that `ai-audit verify --key` passes.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::sync::Arc;

use ai_audit::axum::{AdminConfig, AuditLayer, admin_router};
use ai_audit::canonical::canonicalize_input;
use ai_audit::sink::AuditSink;
use ai_audit::store::MemoryStore;
use ai_audit::{Auditor, SigningKey, TenantId};
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::Value;

const TOKEN: &str = "a-test-admin-token-0123456789";

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn receipts(auditor: &Auditor, tenant: &str) -> Vec<Value> {
    support::stored_receipts(auditor, tenant)
}

fn auditor(key: &SigningKey) -> Auditor {
    Auditor::builder()
        .signer(key.clone())
        .store(MemoryStore::new())
        .build()
        .unwrap()
}

fn app(sink: AuditSink) -> Router {
    Router::new()
        .route("/api/echo", post(|body: String| async move { body }))
        .route("/api/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/api/panic",
            // The handler panics on purpose.
            get(|| async { std::env::var("AI_AUDIT_TEST_UNSET_VARIABLE").unwrap() }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(
            AuditLayer::new(sink)
                .path_prefix("/api/")
                .tenant_header("x-tenant-id")
                .tenant_fn(|head| {
                    (head.header("x-partner") == Some("p1")).then(|| TenantId::new("partner-1"))
                })
                .max_body_bytes(8),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audited_request_leaves_one_receipt_with_its_outcome() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let base = serve(app(AuditSink::new(auditor.clone()))).await;
    let http = reqwest::Client::new();
    let body = "0123456789abcdef";
    let r = http
        .post(format!("{base}/api/echo"))
        .header("x-tenant-id", "acme")
        .header("x-trace-id", "tr-1")
        .header("x-session-id", "se-1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        body,
        "the handler gets the whole body"
    );
    let r = http
        .get(format!("{base}/api/missing"))
        .header("x-tenant-id", "acme")
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 404);
    let r = http
        .get(format!("{base}/api/panic"))
        .header("x-tenant-id", "acme")
        .send()
        .await;
    assert!(r.is_err() || r.unwrap().status().is_server_error());
    let r = http
        .get(format!("{base}/api/missing"))
        .header("x-partner", "p1")
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 404);
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let acme = receipts(&auditor, "acme");
    let actions: Vec<&str> = acme.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["allow", "reject", "fail_retry"]);
    assert_eq!(acme[0]["trace_id"], "tr-1");
    assert_eq!(acme[0]["session_id"], "se-1");
    assert_eq!(
        acme[0]["input_c14n"],
        canonicalize_input("01234567").as_str()
    );
    assert!(
        acme[1]["reason_codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "http.status=404")
    );
    assert!(
        acme[2]["reason_codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "panicked")
    );
    assert_eq!(receipts(&auditor, "partner-1").len(), 1);
    assert_eq!(
        auditor.store().tenants().unwrap().len(),
        2,
        "/health is not audited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_that_cannot_be_stored_fails_closed_with_503_or_open_with_a_count() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    auditor.shutdown().unwrap();
    let closed = serve(app(AuditSink::new(auditor.clone()))).await;
    let open_sink = AuditSink::new(auditor).fail_open();
    let open = serve(app(open_sink.clone())).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{closed}/api/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = http
        .post(format!("{open}/api/echo"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(open_sink.emit_failures(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_exports_need_the_token_and_ranges_verify() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let sink = AuditSink::new(auditor.clone());
    assert!(AdminConfig::new(sink.clone(), Arc::new(key.clone()), "short").is_err());
    let base = serve(admin_router(
        AdminConfig::new(sink, Arc::new(key.clone()), TOKEN).unwrap(),
    ))
    .await;
    let emit = |range: std::ops::Range<i32>| {
        for i in range {
            auditor
                .emit(ai_audit::Receipt::new("acme").with_output_text(&format!("decision {i}")))
                .unwrap();
        }
    };
    // A checkpoint an auditor took earlier, at 5 receipts: later bundles must extend it.
    emit(0..5);
    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("held.checkpoint");
    std::fs::write(
        &held,
        auditor.checkpoint(&TenantId::new("acme")).unwrap().note,
    )
    .unwrap();
    emit(5..10);
    let http = reqwest::Client::new();
    let export = |q: &str| format!("{base}/admin/audit/export?tenant=acme{q}");
    for auth in [
        "",
        "Bearer ",
        "Bearer a-test-admin-token-012345678",
        "Basic a-test-admin-token-0123456789",
    ] {
        let r = http
            .get(export(""))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    for (auth, want) in [
        (format!("bearer {TOKEN}"), 200),
        (format!("BEARER {TOKEN}"), 200),
        (format!("bearer {}", TOKEN.to_uppercase()), 401),
    ] {
        let r = http
            .get(format!("{base}/admin/audit/tip?tenant=acme"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{auth:?}");
    }
    let key_hex = key.verifying_key().to_hex();
    for (q, n, size) in [("", 10, 10), ("&from=3&to=7", 4, 7)] {
        let r = http.get(export(q)).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let path = dir.path().join("b.zip");
        std::fs::write(&path, r.bytes().await.unwrap()).unwrap();
        let bundle = path.to_str().unwrap();
        let out = support::ai_audit(&["verify", bundle, "--key", &key_hex]);
        let text = support::text(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains(&format!("{n} receipts")), "{text}");
        // The bundle carries the signed checkpoint of exactly its tree (as `ai-audit export`),
        // and verify checked it.
        assert!(
            text.contains(&format!(
                "checkpoint: ai-audit.local/acme size {size} root "
            )) && text.contains("covers exactly these receipts"),
            "{text}"
        );
        // It proves the log grew from the held checkpoint without rewriting it.
        let out = support::ai_audit(&[
            "verify",
            bundle,
            "--key",
            &key_hex,
            "--since",
            held.to_str().unwrap(),
        ]);
        let text = support::text(&out);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("extends the --since checkpoint"), "{text}");
    }
    let r = http
        .get(export("&from=20"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let tip: Value = http
        .get(format!("{base}/admin/audit/tip?tenant=acme"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tip["len"], 10);
    assert_eq!(tip["public_key"], key.verifying_key().to_hex().as_str());
    let admin = receipts(&auditor, "ai-audit-admin");
    assert_eq!(admin.len(), 4 + 3 + 2 + 1 + 1);
    assert!(admin.iter().all(|r| !r.to_string().contains(TOKEN)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_future_is_dropped_still_leaves_one_receipt() {
    use tower_service::Service as _;
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let mut app: Router = Router::new()
        .route(
            "/api/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(AuditLayer::new(AuditSink::new(auditor.clone())).tenant_header("x-tenant-id"));
    let req = axum::http::Request::get("/api/slow")
        .header("x-tenant-id", "acme")
        .header("x-trace-id", "tr-cancelled")
        .body(axum::body::Body::empty())
        .unwrap();
    // An outer timeout (or a server dropping a reset stream) drops the request's future.
    let call = app.call(req);
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(200), call).await;
    assert!(timed_out.is_err());
    auditor.flush().unwrap();
    // The receipt is stored from a background thread; give it a moment.
    let mut acme = Vec::new();
    for _ in 0..100 {
        acme = receipts(&auditor, "acme");
        if !acme.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(acme.len(), 1, "{acme:?}");
    assert_eq!(acme[0]["action"], "fail_retry");
    assert_eq!(acme[0]["trace_id"], "tr-cancelled");
    let reasons = acme[0]["reason_codes"].to_string();
    assert!(reasons.contains("request_cancelled"), "{reasons}");
    assert_eq!(acme[0]["output_hash"], "");
}

#[test]
fn the_admin_signer_must_be_the_auditors_key() {
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let sink = AuditSink::new(auditor(&key));
    let err = AdminConfig::new(sink.clone(), Arc::new(other), TOKEN)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("not the auditor's signing key"),
        "{err}"
    );
    assert!(AdminConfig::new(sink, Arc::new(key), TOKEN).is_ok());
}
