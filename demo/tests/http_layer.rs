//! The axum `AuditLayer` and the admin router, served on loopback and called with reqwest:
//! status → action, handler panics, body capture, tenants from an allow-list or a resolver (and
//! the refusal of any other), fail-closed, and admin exports of a range that
//! `ai-audit verify --key` passes.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ai_audit::canonical::canonicalize_input;
use ai_audit::http::{
    ADMIN_TENANT, AdminConfig, AuditLayer, AuditLayerError, TenantRefusal, admin_router,
};
use ai_audit::sink::AuditSink;
use ai_audit::store::MemoryStore;
use ai_audit::{Auditor, SigningKey, TenantId, TenantIdError};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::Value;
use support::reasons;

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

/// Tenants from `x-tenant-id`, served only for `acme` and `bank-eu`.
fn header_layer(sink: AuditSink) -> AuditLayer {
    AuditLayer::builder(sink)
        .path_prefix("/api/")
        .tenant_header("x-tenant-id")
        .allowed_tenants(["acme", "bank-eu"])
        .max_body_bytes(8)
        .build()
        .unwrap()
}

/// Tenants from a resolver: partner `p1` is `partner-1`, anyone else names a tenant in
/// `x-tenant-id`, which the allow-list then checks.
fn resolver_layer(sink: AuditSink) -> AuditLayer {
    AuditLayer::builder(sink)
        .path_prefix("/api/")
        .allowed_tenants(["acme", "partner-1"])
        .tenant_fn(|head| {
            if head.header("x-partner") == Some("p1") {
                return Ok(TenantId::new("partner-1"));
            }
            head.header("x-tenant-id")
                .map(TenantId::new)
                .ok_or(TenantRefusal::Missing)
        })
        .max_body_bytes(8)
        .build()
        .unwrap()
}

fn app(layer: AuditLayer) -> Router {
    app_counting(layer, Arc::default())
}

/// The test routes; `calls` counts the handlers' calls.
fn app_counting(layer: AuditLayer, calls: Arc<AtomicUsize>) -> Router {
    let counted = move |n: Arc<AtomicUsize>| {
        n.fetch_add(1, Ordering::SeqCst);
    };
    let (c1, c2) = (Arc::clone(&calls), Arc::clone(&calls));
    Router::new()
        .route(
            "/api/echo",
            post(move |body: String| async move {
                counted(c1);
                body
            }),
        )
        .route(
            "/api/whoami",
            get(move |Extension(tenant): Extension<TenantId>| async move {
                counted(c2);
                tenant.into_string()
            }),
        )
        .route("/api/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/api/panic",
            // The handler panics on purpose.
            get(|| async { std::env::var("AI_AUDIT_TEST_UNSET_VARIABLE").unwrap() }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(layer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audited_request_leaves_one_receipt_with_its_outcome() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let base = serve(app(resolver_layer(AuditSink::new(auditor.clone())))).await;
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
    let closed = serve(app(header_layer(AuditSink::new(auditor.clone())))).await;
    let open_sink = AuditSink::new(auditor).fail_open();
    let open = serve(app(header_layer(open_sink.clone()))).await;
    let http = reqwest::Client::new();
    let post = |base: &str, tenant: Option<&str>| {
        let mut req = http.post(format!("{base}/api/echo")).body("x");
        if let Some(t) = tenant {
            req = req.header("x-tenant-id", t);
        }
        req.send()
    };
    assert_eq!(post(&closed, Some("acme")).await.unwrap().status(), 503);
    // A refusal that cannot be recorded is not answered as a refusal either.
    assert_eq!(post(&closed, None).await.unwrap().status(), 503);
    assert_eq!(post(&closed, Some("nobody")).await.unwrap().status(), 503);
    assert_eq!(post(&open, Some("acme")).await.unwrap().status(), 200);
    assert_eq!(post(&open, Some("nobody")).await.unwrap().status(), 403);
    assert_eq!(open_sink.emit_failures(), 2);
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
    let admin = receipts(&auditor, ADMIN_TENANT);
    // Every admitted request (2 tips, 3 exports, 1 tip), and the 5 refusals of one interval as
    // one receipt.
    assert_eq!(admin.len(), 2 + 3 + 1 + 1);
    let refused: Vec<_> = admin
        .iter()
        .filter(|r| reasons(r).contains(&"decision:admin.refused"))
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(reasons(refused[0]).contains(&"admin.unauthorized=5"));
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
        .layer(header_layer(AuditSink::new(auditor.clone())));
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

/// The one refusal receipt in the admin tenant.
fn one_refusal(auditor: &Auditor) -> Value {
    let admin = receipts(auditor, ADMIN_TENANT);
    assert_eq!(admin.len(), 1, "{admin:?}");
    admin.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_outside_the_allow_list_gets_403_and_only_a_refusal_receipt() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = header_layer(AuditSink::new(auditor.clone()));
    let base = serve(app_counting(layer, Arc::clone(&calls))).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/echo"))
        .header("x-tenant-id", "nobody")
        .header("x-trace-id", "tr-refused")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("not served here"), "{text}");
    assert!(
        !text.contains("acme"),
        "the allow-list is not revealed: {text}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler is not called");

    let nobody = TenantId::new("nobody");
    assert!(auditor.store().tip(&nobody).unwrap().is_none());
    assert!(receipts(&auditor, "nobody").is_empty());
    let refusal = one_refusal(&auditor);
    assert_eq!(refusal["tenant_id"], ADMIN_TENANT);
    assert_eq!(refusal["action"], "reject");
    // No client text shapes the admin chain: the refused request's trace id is not kept.
    assert_ne!(refusal["trace_id"], "tr-refused");
    assert_eq!(refusal["trace_id"].as_str().map(str::len), Some(32));
    assert_eq!(refusal["session_id"], "");
    assert_eq!(
        reasons(&refusal),
        [
            "decision:http",
            "http.method=POST",
            "http.path=/api/echo",
            "tenant_refused",
            "tenant_not_allowed",
            "http.status=403"
        ]
    );
    // The offered tenant is there as a hash, never as text.
    assert_eq!(refusal["input_c14n"], canonicalize_input("nobody").as_str());
    assert!(!refusal.to_string().contains("nobody"), "{refusal}");

    // An allowed tenant is served, recorded under itself, and visible to the handler.
    let r = http
        .get(format!("{base}/api/whoami"))
        .header("x-tenant-id", "bank-eu")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "bank-eu");
    let bank = receipts(&auditor, "bank-eu");
    assert_eq!(bank.len(), 1);
    assert_eq!(bank[0]["action"], "allow");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut tenants = auditor.store().tenants().unwrap();
    tenants.sort();
    assert_eq!(
        tenants,
        [TenantId::new(ADMIN_TENANT), TenantId::new("bank-eu")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_tenant_gets_400_and_no_default_tenant_is_made() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = header_layer(AuditSink::new(auditor.clone()));
    let base = serve(app_counting(layer, Arc::clone(&calls))).await;
    let r = reqwest::Client::new()
        .post(format!("{base}/api/echo"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("names no tenant; send the x-tenant-id header"),
        "{text}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(receipts(&auditor, "default").is_empty());
    let refusal = one_refusal(&auditor);
    assert_eq!(refusal["action"], "reject");
    let codes = reasons(&refusal);
    assert!(codes.contains(&"tenant_refused") && codes.contains(&"tenant_missing"));
    assert!(codes.contains(&"http.status=400"));
    assert_eq!(refusal["input_c14n"], canonicalize_input("").as_str());
    assert_eq!(auditor.store().tenants().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_or_repeated_tenant_header_gets_400_with_what_is_allowed() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let base = serve(app(header_layer(AuditSink::new(auditor.clone())))).await;
    let http = reqwest::Client::new();
    let long = "a".repeat(129);
    let r = http
        .get(format!("{base}/api/whoami"))
        .header("x-tenant-id", &long)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("at most 128 bytes"), "{text}");
    let r = http
        .get(format!("{base}/api/whoami"))
        .header("x-tenant-id", "acme")
        .header("x-tenant-id", "bank-eu")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a repeated header is ambiguous");
    let admin = receipts(&auditor, ADMIN_TENANT);
    assert_eq!(admin.len(), 2);
    for r in &admin {
        assert!(reasons(r).contains(&"tenant_invalid"), "{r}");
    }
    assert_eq!(admin[0]["input_c14n"], canonicalize_input(&long).as_str());
    assert!(receipts(&auditor, "acme").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_that_refuses_or_names_a_bad_tenant_gets_4xx_without_the_handler() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = resolver_layer(AuditSink::new(auditor.clone()));
    let base = serve(app_counting(layer, Arc::clone(&calls))).await;
    let http = reqwest::Client::new();
    let get = |tenant: Option<&str>| {
        let mut req = http.get(format!("{base}/api/whoami"));
        if let Some(t) = tenant {
            req = req.header("x-tenant-id", t);
        }
        req.send()
    };
    // The resolver's own refusal.
    assert_eq!(get(None).await.unwrap().status(), 400);
    // The resolver's answer still passes the allow-list and TenantId::parse.
    assert_eq!(get(Some("bank-eu")).await.unwrap().status(), 403);
    assert_eq!(get(Some(&"x".repeat(200))).await.unwrap().status(), 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let admin = receipts(&auditor, ADMIN_TENANT);
    let why: Vec<&str> = admin.iter().map(|r| reasons(r)[4]).collect();
    assert_eq!(
        why,
        ["tenant_missing", "tenant_not_allowed", "tenant_invalid"]
    );
    assert!(receipts(&auditor, "bank-eu").is_empty());
    let r = get(Some("acme")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "acme");
    assert_eq!(receipts(&auditor, "acme").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_tenant_layer_records_every_request_under_its_named_tenant() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let layer = AuditLayer::builder(AuditSink::new(auditor.clone()))
        .path_prefix("/api/")
        .default_tenant("solo")
        .build()
        .unwrap();
    let base = serve(app(layer)).await;
    let r = reqwest::Client::new()
        .get(format!("{base}/api/whoami"))
        .header("x-tenant-id", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        "solo",
        "the header is not a source"
    );
    assert_eq!(receipts(&auditor, "solo").len(), 1);
    assert_eq!(auditor.store().tenants().unwrap(), [TenantId::new("solo")]);
}

#[test]
fn a_layer_whose_tenants_are_not_trusted_does_not_build() {
    let sink = AuditSink::new(auditor(&SigningKey::generate().unwrap()));
    let build = |b: ai_audit::http::AuditLayerBuilder| b.build().unwrap_err();
    let err = build(AuditLayer::builder(sink.clone()));
    assert_eq!(err, AuditLayerError::NoTenantSource);
    assert!(err.to_string().contains(".allowed_tenants"), "{err}");
    let err = build(AuditLayer::builder(sink.clone()).tenant_header("x-tenant-id"));
    assert!(
        matches!(err, AuditLayerError::HeaderWithoutAllowList { ref header } if header == "x-tenant-id")
    );
    assert!(
        err.to_string().contains("any client could create a tenant"),
        "{err}"
    );
    let with_header = || AuditLayer::builder(sink.clone()).tenant_header("x-tenant-id");
    assert_eq!(
        build(with_header().allowed_tenants(Vec::<TenantId>::new())),
        AuditLayerError::EmptyAllowList
    );
    assert_eq!(
        build(
            with_header()
                .allowed_tenants(["acme"])
                .default_tenant("default")
        ),
        AuditLayerError::DefaultNotAllowed {
            tenant: "default".into()
        }
    );
    assert_eq!(
        build(with_header().allowed_tenants(["acme", " padded"])),
        AuditLayerError::InvalidTenant {
            tenant: " padded".into(),
            source: TenantIdError::SurroundingWhitespace
        }
    );
    assert_eq!(
        build(
            with_header()
                .allowed_tenants(["acme"])
                .tenant_fn(|_| Err(TenantRefusal::Missing))
        ),
        AuditLayerError::HeaderAndResolver
    );
    assert!(matches!(
        build(
            AuditLayer::builder(sink.clone())
                .tenant_header("x tenant")
                .allowed_tenants(["acme"])
        ),
        AuditLayerError::InvalidHeaderName { .. }
    ));
    assert_eq!(
        build(
            AuditLayer::builder(sink.clone())
                .default_tenant("acme")
                .tenant_fn(|_| Err(TenantRefusal::Missing))
        ),
        AuditLayerError::DefaultWithResolver
    );
    // With a default inside the allow-list, a header layer builds.
    assert!(
        with_header()
            .allowed_tenants(["acme"])
            .default_tenant("acme")
            .build()
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_answers_400_for_an_invalid_tenant_parameter() {
    let key = SigningKey::generate().unwrap();
    let auditor = auditor(&key);
    let sink = AuditSink::new(auditor.clone());
    let base = serve(admin_router(
        AdminConfig::new(sink, Arc::new(key), TOKEN).unwrap(),
    ))
    .await;
    let http = reqwest::Client::new();
    for (route, tenant) in [
        ("tip", "%20acme"),
        ("export", "%20acme"),
        ("tip", "ac%0Ame"),
        ("tip", ""),
    ] {
        let r = http
            .get(format!("{base}/admin/audit/{route}?tenant={tenant}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{route} {tenant:?}");
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with("the tenant parameter is invalid: "),
            "{text}"
        );
    }
    let admin = receipts(&auditor, ADMIN_TENANT);
    assert_eq!(admin.len(), 4);
    assert!(reasons(&admin[2]).contains(&"admin.tenant_invalid"));
    assert!(!admin[2].to_string().contains("ac\\nme"));
}
