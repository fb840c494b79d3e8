//! End to end: the example service's routes (`demo/src/app.rs`, compiled in here) in
//! front of aimock; the official `openai` Python SDK (pip, in `target/py-openai`) talks to its
//! `/v1/chat/completions` gateway, whole and streamed, while receipts go to SQLite; then the
//! admin endpoint refuses a missing or wrong token and, with the right one, serves a bundle
//! that `ai-audit verify --key` passes. In CI a missing Python or npx is a failure, not a skip.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

#[path = "../src/app.rs"]
mod app;
mod support;

use std::process::Command;

use ai_audit::llm::{anthropic, openai};
use ai_audit::sink::AuditSink;
use ai_audit::store::SqliteStore;
use ai_audit::{Auditor, SigningKey, TenantId};
use serde_json::Value;
use support::aimock::Aimock;

/// The `openai` SDK release the test pins (the one `../shared/llm/PEERS.md` was tried with).
const OPENAI_SDK: &str = "openai==3.57.0";
const TOKEN: &str = "0123456789abcdef-admin-token";

const SDK_SCRIPT: &str = r#"
import sys, openai
c = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="sk-client-side-key", max_retries=0,
                  default_headers={"x-tenant-id": "sdk"})
r = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
assert r.choices[0].message.content == "Hello from aimock.", r
assert r.usage.total_tokens == 13, r.usage
text = ""
for chunk in c.chat.completions.create(model="gpt-4o-mini", stream=True,
                                       messages=[{"role": "user", "content": "hello"}]):
    for choice in chunk.choices:
        text += choice.delta.content or ""
assert text == "Hello from aimock.", text
tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]
t = c.chat.completions.create(model="gpt-4o-mini", tools=tools,
                              messages=[{"role": "user", "content": "weather in Paris"}])
call = t.choices[0].message.tool_calls[0]
assert call.function.name == "get_weather" and call.function.arguments == '{"city":"Paris"}', call
try:
    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "ratelimit"}])
    raise SystemExit("a 429 upstream must reach the SDK as RateLimitError")
except openai.RateLimitError:
    pass
print("sdk ok")
"#;

fn receipts(auditor: &Auditor, tenant: &str) -> Vec<Value> {
    support::stored_receipts(auditor, tenant)
}

fn actions(r: &[Value]) -> Vec<&str> {
    r.iter().map(|r| r["action"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_uses_the_gateway_and_the_admin_export_verifies() {
    let Some(python) = support::python::venv("py-openai", &[OPENAI_SDK], "import openai") else {
        return;
    };
    let Some(mock) = Aimock::start(None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let auditor = Auditor::builder()
        .signer(key.clone())
        .store(SqliteStore::open(dir.path().join("audit.db")).unwrap())
        .build()
        .unwrap();
    let sink = AuditSink::new(auditor.clone());
    let router = app::router(app::AppConfig {
        sink: sink.clone(),
        key: key.clone(),
        admin_token: TOKEN.into(),
        openai: openai::client(sink.clone())
            .base_url(format!("{}/v1", mock.base()))
            .api_key("sk-upstream-key")
            .build()
            .unwrap(),
        anthropic: anthropic::client(sink)
            .base_url(mock.base())
            .build()
            .unwrap(),
        model: "gpt-4o-mini".into(),
        tenants: vec![TenantId::new("sdk"), TenantId::new("bank")],
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    // The official SDK, whole and streamed, through the auditing gateway.
    let b = base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", SDK_SCRIPT, &b])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", support::text(&out));
    let sdk = receipts(&auditor, "sdk");
    assert_eq!(actions(&sdk), ["allow", "allow", "allow", "fail_retry"]);
    let all = sdk.iter().map(|r| r.to_string()).collect::<String>();
    assert!(!all.contains("sk-"), "no key reaches a receipt");
    assert!(all.contains("http.status=429"));

    // An audited decision: one receipt for the request, one for the LLM call.
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/v1/decide"))
        .header("x-tenant-id", "bank")
        .json(&serde_json::json!({"application": "hello, income 52000 asking 18000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let bank = receipts(&auditor, "bank");
    assert_eq!(bank.len(), 2);
    assert!(bank.iter().any(|r| r["reason_codes"][0] == "decision:http"));

    // A tenant the service does not serve: refused, recorded only in the admin tenant.
    let resp = http
        .post(format!("{base}/v1/decide"))
        .header("x-tenant-id", "nobody")
        .json(&serde_json::json!({"application": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(receipts(&auditor, "nobody").is_empty());
    let resp = http
        .post(format!("{base}/v1/chat/completions"))
        .header("x-tenant-id", "nobody")
        .json(&serde_json::json!({"model": "gpt-4o-mini", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "the gateway serves the same tenants");

    // The admin endpoint: 401 without or with a wrong token, a verifying bundle with it.
    let url = format!("{base}/admin/audit/export?tenant=sdk");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("0123456789abcdef-wrong")
        .send()
        .await;
    assert_eq!(wrong.unwrap().status(), 401);
    let bundle = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(bundle.status(), 200);
    let bundle = bundle.bytes().await.unwrap();
    let path = dir.path().join("sdk.zip");
    std::fs::write(&path, &bundle).unwrap();
    let out = support::ai_audit(&[
        "verify",
        path.to_str().unwrap(),
        "--key",
        &key.verifying_key().to_hex(),
    ]);
    assert!(out.status.success(), "{}", support::text(&out));
    assert!(support::text(&out).contains("PASS"));

    let tip: Value = http
        .get(format!("{base}/admin/audit/tip?tenant=sdk"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tip["len"], 4);
    // The refused tenant (by the decision route, then the gateway), then admin access, which
    // is itself audited: two admitted requests, and the two refused ones as one receipt of
    // their interval (stored when it ends or, at the latest, by the flush here).
    let admin = receipts(&auditor, ai_audit::http::ADMIN_TENANT);
    let mut kinds = actions(&admin);
    kinds.sort_unstable();
    assert_eq!(kinds, ["allow", "allow", "reject", "reject", "reject"]);
    for (r, reason) in admin.iter().zip(["tenant_not_allowed", "gateway_refused"]) {
        assert!(r["reason_codes"].to_string().contains(reason), "{r}");
    }
    assert!(admin.iter().any(|r| {
        r["reason_codes"]
            .to_string()
            .contains("admin.unauthorized=2")
    }));
    server.abort();
}
