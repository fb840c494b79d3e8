//! The admin router under abuse and on a sick store: wrong-token bursts are rate limited per
//! client and recorded as one receipt per interval; exports and tips are served (and the lost
//! access receipt counted) when the store takes no writes; an export whose store read fails
//! mid-way reaches the client as a broken download, never as a clean 200.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ai_audit::http::{ADMIN_TENANT, AdminConfig, admin_router};
use ai_audit::sink::AuditSink;
use ai_audit::store::Store;
use ai_audit::verify::{VerifyOptions, verify_bundle};
use ai_audit::{Auditor, Receipt, SigningKey};
use serde_json::Value;
use support::failing_store::FailingStore;
use support::reasons;

const TOKEN: &str = "a-test-admin-token-0123456789";

/// Serves `config`'s admin routes on 127.0.0.1, with each client's address known.
async fn serve(config: AdminConfig) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = admin_router(config).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// A client that connects from `ip` (any 127.0.0.0/8 address is loopback on Linux).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_burst_gets_429s_and_leaves_one_receipt_per_interval() {
    let key = SigningKey::generate().unwrap();
    let (auditor, _store) = keyed_memory_auditor(&key);
    let interval = Duration::from_millis(1500);
    let config = AdminConfig::new(AuditSink::new(auditor.clone()), Arc::new(key), TOKEN)
        .unwrap()
        .refusal_limit(5, interval);
    let port = serve(config).await;
    let tip = |host: &str| format!("http://{host}:{port}/admin/audit/tip?tenant=acme");
    let attacker = client_from([127, 0, 0, 1]);
    let mut statuses = Vec::new();
    for i in 0..60 {
        let r = attacker
            .get(tip("127.0.0.1"))
            .bearer_auth(format!("guess-number-{i:016}"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry), "Retry-After: {retry}");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..5], [401; 5]);
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    // While limited, even the right token from that client is not looked at…
    let r = attacker
        .get(tip("127.0.0.1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // …but another client is served.
    let other = client_from([127, 0, 0, 2]);
    let r = other.get(tip("127.0.0.1")).bearer_auth(TOKEN).send().await;
    assert_eq!(r.unwrap().status(), 200);

    // No receipt per attempt: the interval's refusals are one receipt, stored when it ends.
    let refusals = || {
        support::stored_receipts(&auditor, ADMIN_TENANT)
            .into_iter()
            .filter(|r| reasons(r).contains(&"decision:admin.refused"))
            .collect::<Vec<_>>()
    };
    tokio::time::sleep(interval + Duration::from_millis(500)).await;
    let first = refusals();
    assert_eq!(first.len(), 1, "{first:?}");
    let why = reasons(&first[0]);
    assert!(why.contains(&"admin.unauthorized=5"), "{why:?}");
    assert!(why.contains(&"admin.rate_limited=56"), "{why:?}");
    assert_eq!(first[0]["action"], "reject");

    // The next interval: the attacker may try again, and its refusals are the next receipt
    // (stored at the latest when the auditor is flushed).
    for _ in 0..3 {
        let r = attacker
            .get(tip("127.0.0.1"))
            .bearer_auth("another-wrong-token-000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let both = refusals();
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(reasons(&both[1]).contains(&"admin.unauthorized=3"));
    // The access of the other client, and nothing else.
    assert_eq!(support::stored_receipts(&auditor, ADMIN_TENANT).len(), 3);
}

/// An auditor signing with `key` on a store that works until told otherwise.
fn keyed_memory_auditor(key: &SigningKey) -> (Auditor, Arc<FailingStore>) {
    let store = FailingStore::working();
    let auditor = Auditor::builder()
        .signer(key.clone())
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .build()
        .unwrap();
    (auditor, store)
}

/// `n` receipts of tenant `acme`, stored.
fn fill(auditor: &Auditor, n: usize) {
    let pending: Vec<_> = (0..n)
        .map(|i| {
            auditor
                .submit(Receipt::new("acme").with_input_text(&format!("decision {i}")))
                .unwrap()
        })
        .collect();
    for p in pending {
        p.wait().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_and_tips_are_served_when_the_access_receipt_cannot_be_stored() {
    let key = SigningKey::generate().unwrap();
    let (auditor, store) = keyed_memory_auditor(&key);
    fill(&auditor, 20);
    store.fail_writes();
    let sink = AuditSink::new(auditor.clone());
    let port = serve(AdminConfig::new(sink.clone(), Arc::new(key.clone()), TOKEN).unwrap()).await;
    let base = format!("http://127.0.0.1:{port}/admin/audit");
    let http = reqwest::Client::new();

    let admitted = |route: &str| {
        http.get(format!("{base}/{route}?tenant=acme"))
            .bearer_auth(TOKEN)
            .send()
    };
    let tip = admitted("tip").await.unwrap().error_for_status().unwrap();
    assert_eq!(tip.json::<Value>().await.unwrap()["len"], 20);
    let bundle = admitted("export")
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let bundle = bundle.bytes().await.unwrap();
    let report = verify_bundle(
        std::io::Cursor::new(bundle.to_vec()),
        &VerifyOptions::pinned(key.verifying_key()),
    )
    .unwrap();
    assert!(report.is_pass(), "{:?}", report.chain.findings);
    assert_eq!(report.chain.receipts, 20);

    // Both access receipts are lost, and counted where operators look.
    assert_eq!(sink.emit_failures(), 2);
    assert_eq!(auditor.stats().lost.not_stored, 2);
    // A wrong token is still refused.
    let r = http
        .get(format!("{base}/tip?tenant=acme"))
        .bearer_auth("not-the-admin-token-0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_whose_store_read_fails_mid_way_reaches_the_client_broken_off() {
    let key = SigningKey::generate().unwrap();
    let (auditor, store) = keyed_memory_auditor(&key);
    // More than one page of the store's reads (1,024 receipts each).
    fill(&auditor, 2500);
    let port =
        serve(AdminConfig::new(AuditSink::new(auditor), Arc::new(key), TOKEN).unwrap()).await;
    let export = format!("http://127.0.0.1:{port}/admin/audit/export?tenant=acme");
    let http = reqwest::Client::new();
    let get = || http.get(&export).bearer_auth(TOKEN).send();

    let whole = get().await.unwrap();
    assert_eq!(whole.status(), 200);
    let whole = whole.bytes().await.unwrap();
    assert!(whole.len() > 64 * 1024, "the first page alone fills chunks");

    store.fail_continued_pages();
    let broken = get().await.unwrap();
    // The head went out before the failure…
    assert_eq!(broken.status(), 200);
    // …and the body ends without its last chunk: an error, never a short bundle that looks
    // whole.
    let body = broken.bytes().await;
    assert!(
        body.is_err(),
        "a clean end of {} bytes",
        body.map_or(0, |b| b.len())
    );
}
