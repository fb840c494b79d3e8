//! The audited OpenAI and Anthropic clients (and the reqwest-middleware middleware) against
//! aimock, a third-party mock of both APIs started by each test (see `support::aimock`). Every
//! call must leave exactly one receipt with the right action, reasons, model, usage and an
//! output hash equal to SHA-256 of the text the caller received. In CI a missing `npx` is a
//! failure, not a skip.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ai_audit::llm::{CallContext, Client, LlmError, anthropic, openai};
use ai_audit::sink::{AuditSink, EmitObserver};
use ai_audit::store::{self, MemoryStore};
use ai_audit::{Auditor, EmitError, ReceiptId, SigningKey, TenantId};
use serde_json::{Value, json};
use sha2::Digest as _;
use support::aimock::Aimock;

struct Harness {
    auditor: Auditor,
    openai: Client,
    anthropic: Client,
    mock: Aimock,
}

fn sha256(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

impl Harness {
    fn start(api_key: Option<&str>, key_sent: Option<&str>) -> Option<Self> {
        let mock = Aimock::start(api_key)?;
        let auditor = Auditor::builder()
            .signer(SigningKey::generate().unwrap())
            .store(MemoryStore::new())
            .build()
            .unwrap();
        let sink = AuditSink::new(auditor.clone());
        let mut o = openai::client(sink.clone()).base_url(format!("{}/v1", mock.base()));
        let mut a = anthropic::client(sink).base_url(mock.base());
        if let Some(k) = key_sent {
            o = o.api_key(k);
            a = a.api_key(k);
        }
        Some(Self {
            auditor,
            openai: o.build().unwrap(),
            anthropic: a.build().unwrap(),
            mock,
        })
    }

    fn client(&self, api: &str) -> &Client {
        if api == "openai" {
            &self.openai
        } else {
            &self.anthropic
        }
    }

    /// The receipts of `tenant`, waiting up to 10 s for `n` of them.
    fn receipts(&self, tenant: &str, n: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            self.auditor.flush().unwrap();
            let got: Vec<Value> = store::receipts(
                self.auditor.store().as_ref(),
                &TenantId::new(tenant),
                0..u64::MAX,
            )
            .map(|e| serde_json::from_slice(&e.unwrap().line).unwrap())
            .collect();
            if got.len() >= n || started.elapsed() > Duration::from_secs(10) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The one receipt of `tenant` (there must be exactly one).
    fn only_receipt(&self, tenant: &str) -> Value {
        let mut r = self.receipts(tenant, 1);
        assert_eq!(r.len(), 1, "tenant {tenant}: {r:#?}");
        r.pop().unwrap()
    }
}

fn body(api: &str, text: &str) -> Value {
    let model = if api == "openai" {
        "gpt-4o-mini"
    } else {
        "claude-sonnet-4-5"
    };
    json!({
        "model": model,
        "max_tokens": 64,
        "temperature": 0.2,
        "messages": [{"role": "user", "content": text}],
    })
}

fn reasons(r: &Value) -> Vec<String> {
    r["reason_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Asserts action, that every `want` reason is present, and the output hash.
fn check(r: &Value, action: &str, want: &[&str], received: Option<&str>) {
    let got = reasons(r);
    assert_eq!(r["action"], action, "{got:?}");
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:?}");
    }
    let hash = received.map_or_else(String::new, sha256);
    assert_eq!(r["output_hash"], hash.as_str(), "{got:?}");
    assert_eq!(r["input_c14n"].as_str().unwrap().len(), 64);
    assert_eq!(r["config_digest"].as_str().unwrap().len(), 64);
}

/// `tool_call=get_weather:<hash of {"city":"Paris"}>`, the same for both APIs.
fn weather_tool() -> String {
    format!("tool_call=get_weather:{}", sha256(r#"{"city":"Paris"}"#))
}

/// Calls without streaming; returns the text received.
async fn whole(h: &Harness, api: &str, tenant: &str, text: &str) -> Result<String, LlmError> {
    let c = h
        .client(api)
        .chat_in(&CallContext::new(tenant), &body(api, text))
        .await?;
    assert!(c.receipt().is_some());
    Ok(c.text().to_owned())
}

/// Streams; returns the concatenated text received and the stream's result.
async fn streamed(
    h: &Harness,
    api: &str,
    tenant: &str,
    text: &str,
) -> (String, Result<(), LlmError>) {
    let mut s = match h
        .client(api)
        .chat_stream_in(
            &CallContext::new(tenant).with_trace("t-1"),
            &body(api, text),
        )
        .await
    {
        Ok(s) => s,
        Err(e) => return (String::new(), Err(e)),
    };
    let mut received = String::new();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => received.push_str(&ev.text),
            Err(e) => return (received, Err(e)),
        }
    }
    assert!(s.receipt().is_some());
    (received, Ok(()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_whole_responses_leave_one_receipt_each() {
    let Some(h) = Harness::start(None, Some("sk-anything")) else {
        return;
    };
    let text = whole(&h, "openai", "o-hello", "hello").await.unwrap();
    assert_eq!(text, "Hello from aimock.");
    let r = h.only_receipt("o-hello");
    check(
        &r,
        "allow",
        &[
            "decision:openai.chat_completions",
            "openai.finish_reason=stop",
            "model.requested=gpt-4o-mini",
            "model.served=gpt-4o-mini-2024-07-18",
            "usage.input_tokens=9",
            "usage.output_tokens=4",
            "usage.total_tokens=13",
        ],
        Some(&text),
    );
    assert_eq!(r["model_id"], "gpt-4o-mini-2024-07-18");

    let text = whole(&h, "openai", "o-tool", "weather").await.unwrap();
    let r = h.only_receipt("o-tool");
    check(
        &r,
        "allow",
        &["openai.finish_reason=tool_calls", &weather_tool()],
        Some(&text),
    );

    for (tenant, msg, action, want) in [
        (
            "o-len",
            "truncate",
            "allow",
            ["openai.finish_reason=length", "truncated_by_length"],
        ),
        (
            "o-filter",
            "filter",
            "reject",
            [
                "openai.finish_reason=content_filter",
                "decision:openai.chat_completions",
            ],
        ),
        (
            "o-refuse",
            "refuse",
            "reject",
            [
                "openai.finish_reason=refusal",
                "decision:openai.chat_completions",
            ],
        ),
    ] {
        let text = whole(&h, "openai", tenant, msg).await.unwrap();
        check(&h.only_receipt(tenant), action, &want, Some(&text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_whole_responses_leave_one_receipt_each() {
    let Some(h) = Harness::start(None, Some("sk-anything")) else {
        return;
    };
    let text = whole(&h, "anthropic", "a-hello", "hello").await.unwrap();
    assert_eq!(text, "Hello from aimock.");
    check(
        &h.only_receipt("a-hello"),
        "allow",
        &[
            "decision:anthropic.messages",
            "anthropic.stop_reason=end_turn",
            "model.requested=claude-sonnet-4-5",
            "usage.input_tokens=9",
            "usage.output_tokens=4",
        ],
        Some(&text),
    );
    let text = whole(&h, "anthropic", "a-tool", "weather").await.unwrap();
    assert_eq!(text, "Let me check.");
    check(
        &h.only_receipt("a-tool"),
        "allow",
        &["anthropic.stop_reason=tool_use", &weather_tool()],
        Some(&text),
    );
    for (tenant, msg, action, want) in [
        (
            "a-len",
            "truncate",
            "allow",
            ["anthropic.stop_reason=max_tokens", "truncated_by_length"],
        ),
        // aimock passes content_filter through on /v1/messages (not a real Anthropic value): kept.
        (
            "a-filter",
            "filter",
            "reject",
            [
                "anthropic.stop_reason=content_filter",
                "decision:anthropic.messages",
            ],
        ),
        (
            "a-refuse",
            "refuse",
            "reject",
            [
                "anthropic.stop_reason=refusal",
                "decision:anthropic.messages",
            ],
        ),
    ] {
        let text = whole(&h, "anthropic", tenant, msg).await.unwrap();
        check(&h.only_receipt(tenant), action, &want, Some(&text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_record_text_usage_and_tool_calls_on_both_apis() {
    let Some(h) = Harness::start(None, Some("sk-anything")) else {
        return;
    };
    let (text, end) = streamed(&h, "openai", "os-hello", "hello").await;
    end.unwrap();
    assert_eq!(text, "Hello from aimock.");
    let r = h.only_receipt("os-hello");
    check(
        &r,
        "allow",
        &[
            "openai.finish_reason=stop",
            "model.served=gpt-4o-mini-2024-07-18",
            "usage.input_tokens=9",
            "usage.output_tokens=4",
            "usage.total_tokens=13",
        ],
        Some(&text),
    );
    assert_eq!(r["trace_id"], "t-1");

    let (text, end) = streamed(&h, "anthropic", "as-hello", "hello").await;
    end.unwrap();
    assert_eq!(text, "Hello from aimock.");
    check(
        &h.only_receipt("as-hello"),
        "allow",
        &[
            "anthropic.stop_reason=end_turn",
            "usage.input_tokens=9",
            "usage.output_tokens=4",
        ],
        Some(&text),
    );

    for (api, tenant, finish) in [
        ("openai", "os-tool", "openai.finish_reason=tool_calls"),
        ("anthropic", "as-tool", "anthropic.stop_reason=tool_use"),
    ] {
        let (text, end) = streamed(&h, api, tenant, "weather").await;
        end.unwrap();
        check(
            &h.only_receipt(tenant),
            "allow",
            &[finish, &weather_tool()],
            Some(&text),
        );
    }
    for (api, tenant, finish) in [
        ("openai", "os-len", "openai.finish_reason=length"),
        ("anthropic", "as-len", "anthropic.stop_reason=max_tokens"),
    ] {
        let (text, end) = streamed(&h, api, tenant, "truncate").await;
        end.unwrap();
        check(
            &h.only_receipt(tenant),
            "allow",
            &[finish, "truncated_by_length"],
            Some(&text),
        );
    }
    for (api, tenant, finish) in [
        ("openai", "os-filter", "openai.finish_reason=content_filter"),
        ("anthropic", "as-refuse", "anthropic.stop_reason=refusal"),
    ] {
        let msg = if api == "openai" { "filter" } else { "refuse" };
        let (text, end) = streamed(&h, api, tenant, msg).await;
        end.unwrap();
        check(&h.only_receipt(tenant), "reject", &[finish], Some(&text));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_are_fail_retry_with_the_status_on_both_apis() {
    let Some(h) = Harness::start(None, Some("sk-anything")) else {
        return;
    };
    for api in ["openai", "anthropic"] {
        for (msg, status, error_type) in [
            ("ratelimit", 429, "rate_limit_error"),
            ("boom", 500, "server_error"),
            ("overloaded", 529, "overloaded_error"),
        ] {
            for stream in [false, true] {
                let tenant = format!("{api}-{status}-{stream}");
                let err = if stream {
                    streamed(&h, api, &tenant, msg).await.1.unwrap_err()
                } else {
                    whole(&h, api, &tenant, msg).await.unwrap_err()
                };
                assert_eq!(err.status(), Some(status), "{err:?}");
                assert!(err.receipt().is_some());
                let body = match &err {
                    LlmError::Status { body, .. } => String::from_utf8_lossy(body).into_owned(),
                    other => format!("{other:?}"),
                };
                assert!(body.contains(error_type), "{body}");
                check(
                    &h.only_receipt(&tenant),
                    "fail_retry",
                    &[
                        &format!("http.status={status}"),
                        &format!("{api}.error_type={error_type}"),
                    ],
                    None,
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_is_a_401_receipt_and_keys_never_reach_receipts() {
    const KEY: &str = "sk-test-0123456789abcdef";
    let Some(h) = Harness::start(Some(KEY), Some("sk-wrong-key-9876543210")) else {
        return;
    };
    for api in ["openai", "anthropic"] {
        let tenant = format!("{api}-401");
        let err = whole(&h, api, &tenant, "hello").await.unwrap_err();
        assert_eq!(err.status(), Some(401));
        check(
            &h.only_receipt(&tenant),
            "fail_retry",
            &["http.status=401"],
            None,
        );
        assert!(!format!("{:?}", h.client(api)).contains("sk-wrong"));
        assert!(!format!("{err:?} {err}").contains("sk-wrong"));
    }
    // The right key passes (as Bearer for OpenAI, x-api-key for Anthropic).
    let sink = AuditSink::new(h.auditor.clone());
    let mock = h.mock.base();
    let o = openai::client(sink.clone())
        .base_url(format!("{mock}/v1"))
        .api_key(KEY)
        .build()
        .unwrap();
    let a = anthropic::client(sink)
        .base_url(&mock)
        .api_key(KEY)
        .build()
        .unwrap();
    for (c, api, tenant) in [(o, "openai", "o-key"), (a, "anthropic", "a-key")] {
        let got = c
            .chat_in(&CallContext::new(tenant), &body(api, "hello"))
            .await
            .unwrap();
        assert_eq!(got.text(), "Hello from aimock.");
        let mut s = c
            .chat_stream_in(&CallContext::new(tenant), &body(api, "hello"))
            .await
            .unwrap();
        while let Some(e) = s.next().await {
            e.unwrap();
        }
    }
    for tenant in ["o-key", "a-key", "openai-401", "anthropic-401"] {
        for e in store::receipts(
            h.auditor.store().as_ref(),
            &TenantId::new(tenant),
            0..u64::MAX,
        ) {
            let line = String::from_utf8(e.unwrap().line).unwrap();
            assert!(!line.contains("sk-"), "{line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_way_or_dropped_leaves_one_stream_incomplete_receipt() {
    let Some(h) = Harness::start(None, None) else {
        return;
    };
    for api in ["openai", "anthropic"] {
        for msg in ["cutstream", "slowdrop"] {
            let tenant = format!("{api}-{msg}");
            let (text, end) = streamed(&h, api, &tenant, msg).await;
            let err = end.unwrap_err();
            assert!(matches!(err, LlmError::StreamIncomplete { .. }), "{err:?}");
            assert!(err.receipt().is_some());
            check(
                &h.only_receipt(&tenant),
                "fail_retry",
                &[
                    "stream_incomplete",
                    &format!("decision:{}", h.client(api).api().decision()),
                ],
                Some(&text),
            );
        }
        // The caller stops reading after the first text and drops the stream.
        let tenant = format!("{api}-dropped");
        let mut s = h
            .client(api)
            .chat_stream_in(&CallContext::new(tenant.as_str()), &body(api, "hello"))
            .await
            .unwrap();
        let mut received = String::new();
        while received.is_empty() {
            received.push_str(&s.next().await.unwrap().unwrap().text);
        }
        drop(s);
        check(
            &h.only_receipt(&tenant),
            "fail_retry",
            &["stream_incomplete"],
            Some(&received),
        );
    }
}

#[derive(Debug, Default)]
struct Seen(AtomicU64);

impl EmitObserver for Seen {
    fn emit_failed(&self, _: &TenantId, _: &ReceiptId, _: &EmitError) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_failures_fail_the_call_by_default_and_are_counted_when_fail_open() {
    let Some(mock) = Aimock::start(None) else {
        return;
    };
    let auditor = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    auditor.shutdown().unwrap(); // every emit now fails
    let seen = Arc::new(Seen::default());
    let closed = AuditSink::new(auditor.clone()).with_observer(seen.clone());
    let open = AuditSink::new(auditor)
        .fail_open()
        .with_observer(seen.clone());
    let url = format!("{}/v1", mock.base());
    let c = openai::client(closed.clone())
        .base_url(&url)
        .tenant("emit-failures")
        .build()
        .unwrap();
    let err = c.chat(&body("openai", "hello")).await.unwrap_err();
    assert!(matches!(err, LlmError::Emit(EmitError::Closed)), "{err:?}");
    let mut s = c.chat_stream(&body("openai", "hello")).await.unwrap();
    let mut last = None;
    while let Some(e) = s.next().await {
        last = Some(e);
    }
    assert!(matches!(last, Some(Err(LlmError::Emit(_)))), "{last:?}");
    assert_eq!(closed.emit_failures(), 2);

    let c = openai::client(open.clone())
        .base_url(&url)
        .tenant("emit-failures")
        .build()
        .unwrap();
    let got = c.chat(&body("openai", "hello")).await.unwrap();
    assert_eq!(got.text(), "Hello from aimock.");
    assert!(got.receipt().is_none());
    assert_eq!(open.emit_failures(), 1);
    assert_eq!(seen.0.load(Ordering::Relaxed), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleware_audits_clients_built_on_reqwest_middleware() {
    use ai_audit::llm::middleware::AuditMiddleware;
    let Some(h) = Harness::start(None, None) else {
        return;
    };
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuditMiddleware::new(AuditSink::new(h.auditor.clone())).tenant("mw"))
        .build();
    let base = h.mock.base();
    // Whole answer: the caller gets the body unchanged.
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&body("openai", "weather"))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        &h.only_receipt("mw"),
        "allow",
        &[&weather_tool()],
        Some(&text),
    );

    // A stream, with the tenant from the request's extensions.
    let mut b = body("anthropic", "hello");
    b["stream"] = json!(true);
    let resp = client
        .post(format!("{base}/v1/messages"))
        .with_extension(CallContext::new("mw-stream"))
        .json(&b)
        .send()
        .await
        .unwrap();
    let sse = resp.text().await.unwrap();
    assert!(sse.contains("message_stop"));
    check(
        &h.only_receipt("mw-stream"),
        "allow",
        &["anthropic.stop_reason=end_turn", "usage.output_tokens=4"],
        Some("Hello from aimock."),
    );

    // An error status passes through, with its receipt.
    let resp = client
        .post(format!("{base}/v1/chat/completions"))
        .with_extension(CallContext::new("mw-429"))
        .json(&body("openai", "ratelimit"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    check(
        &h.only_receipt("mw-429"),
        "fail_retry",
        &["http.status=429"],
        None,
    );

    // Other requests pass through unaudited.
    let resp = client.get(format!("{base}/health")).send().await.unwrap();
    assert!(resp.status().is_success());
    assert_eq!(h.auditor.store().tenants().unwrap().len(), 3);

    // A whole answer over the limit fails the call (never a cut body), with its receipt.
    let small = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            AuditMiddleware::new(AuditSink::new(h.auditor.clone()))
                .tenant("mw-large")
                .max_response_bytes(64),
        )
        .build();
    let err = small
        .post(format!("{base}/v1/chat/completions"))
        .json(&body("openai", "weather"))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limit of 64 bytes"), "{err}");
    check(
        &h.only_receipt("mw-large"),
        "fail_retry",
        &["response_too_large"],
        None,
    );
}

/// A reqwest client whose every request asks aimock to hold its answer back for 5 s
/// (aimock's `x-aimock-chaos-latency` request header).
fn slow_http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-aimock-chaos-latency",
        reqwest::header::HeaderValue::from_static("5000"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dropped_before_its_answer_leaves_one_call_cancelled_receipt() {
    use ai_audit::llm::middleware::AuditMiddleware;
    let Some(h) = Harness::start(None, None) else {
        return;
    };
    let sink = AuditSink::new(h.auditor.clone());
    let base = h.mock.base();
    let o = openai::client(sink.clone())
        .base_url(format!("{base}/v1"))
        .http_client(slow_http())
        .build()
        .unwrap();
    let a = anthropic::client(sink.clone())
        .base_url(&base)
        .http_client(slow_http())
        .build()
        .unwrap();
    // The caller gives up long before aimock answers: its future is dropped mid-call.
    let patience = Duration::from_millis(300);
    for (c, api) in [(&o, "openai"), (&a, "anthropic")] {
        let decision = format!("decision:{}", c.api().decision());
        let tenant = format!("{api}-timeout");
        let (ctx, request) = (CallContext::new(tenant.as_str()), body(api, "hello"));
        let call = c.chat_in(&ctx, &request);
        assert!(tokio::time::timeout(patience, call).await.is_err());
        check(
            &h.only_receipt(&tenant),
            "fail_retry",
            &["call_cancelled", &decision],
            None,
        );
        // A stream whose call is dropped before its first byte.
        let tenant = format!("{api}-stream-timeout");
        let ctx = CallContext::new(tenant.as_str());
        let call = c.chat_stream_in(&ctx, &request);
        assert!(tokio::time::timeout(patience, call).await.is_err());
        check(
            &h.only_receipt(&tenant),
            "fail_retry",
            &["call_cancelled", &decision],
            None,
        );
    }
    // The middleware: the caller's request future is dropped before the answer is in.
    let client = reqwest_middleware::ClientBuilder::new(slow_http())
        .with(AuditMiddleware::new(sink).tenant("mw-timeout"))
        .build();
    let call = client
        .post(format!("{base}/v1/chat/completions"))
        .json(&body("openai", "hello"))
        .send();
    assert!(tokio::time::timeout(patience, call).await.is_err());
    check(
        &h.only_receipt("mw-timeout"),
        "fail_retry",
        &["call_cancelled", "decision:openai.chat_completions"],
        None,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_reach_no_receipt_error_or_debug_output() {
    use ai_audit::llm::middleware::AuditMiddleware;
    const SECRET: &str = "sk-secret-4f2a9c-do-not-leak";
    const WRONG: &str = "sk-wrong-77e1b0-do-not-leak";
    let Some(h) = Harness::start(Some(SECRET), Some(SECRET)) else {
        return;
    };
    let base = h.mock.base();
    let sink = AuditSink::new(h.auditor.clone());
    // Everything a key could leak into: Debug of builders, clients, answers, streams and
    // events; Display and Debug of every error (with its sources); every receipt line.
    let mut texts: Vec<String> = Vec::new();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for api in ["openai", "anthropic"] {
        let (builder, nowhere) = if api == "openai" {
            (
                openai::client(sink.clone()).base_url(format!("{base}/v1")),
                openai::client(sink.clone()).base_url(format!("http://127.0.0.1:{closed_port}/v1")),
            )
        } else {
            (
                anthropic::client(sink.clone()).base_url(&base),
                anthropic::client(sink.clone()).base_url(format!("http://127.0.0.1:{closed_port}")),
            )
        };
        let right = builder.api_key(SECRET);
        texts.push(format!("{right:?}"));
        let right = right.build().unwrap();
        texts.push(format!("{right:?}"));
        let ctx = CallContext::new(format!("{api}-keys"));
        for msg in ["hello", "weather"] {
            let got = right.chat_in(&ctx, &body(api, msg)).await.unwrap();
            texts.push(format!("{got:?}"));
            let mut s = right.chat_stream_in(&ctx, &body(api, msg)).await.unwrap();
            texts.push(format!("{s:?}"));
            while let Some(e) = s.next().await {
                texts.push(format!("{:?}", e.unwrap()));
            }
            texts.push(format!("{s:?}"));
        }
        for msg in ["ratelimit", "overloaded"] {
            texts.push(error(
                &right.chat_in(&ctx, &body(api, msg)).await.unwrap_err(),
            ));
        }
        let (_, end) = streamed(&h, api, &format!("{api}-keys"), "cutstream").await;
        texts.push(error(&end.unwrap_err()));
        // A wrong key (401) and an unreachable upstream (transport error).
        let wrong = keyed_client(api, &sink, &base, WRONG);
        texts.push(format!("{wrong:?}"));
        texts.push(error(
            &wrong.chat_in(&ctx, &body(api, "hello")).await.unwrap_err(),
        ));
        let nowhere = nowhere.api_key(SECRET).build().unwrap();
        let err = nowhere
            .chat_in(&ctx, &body(api, "hello"))
            .await
            .unwrap_err();
        assert!(matches!(err, LlmError::Transport { .. }), "{err:?}");
        texts.push(error(&err));
        let err = nowhere
            .chat_stream_in(&ctx, &body(api, "hello"))
            .await
            .unwrap_err();
        texts.push(error(&err));
    }
    // The middleware, with the caller's own key headers.
    let mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuditMiddleware::new(sink).tenant("mw-keys"))
        .build();
    for (path, key) in [("/v1/chat/completions", WRONG), ("/v1/messages", SECRET)] {
        let resp = mw
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .header("x-api-key", key)
            .json(&body("openai", "hello"))
            .send()
            .await
            .unwrap();
        texts.push(format!("{resp:?}"));
        let err = mw
            .post(format!("http://127.0.0.1:{closed_port}{path}"))
            .bearer_auth(key)
            .header("x-api-key", key)
            .json(&body("openai", "hello"))
            .send()
            .await
            .unwrap_err();
        texts.push(error(&err));
    }
    let tenants = h.auditor.store().tenants().unwrap();
    assert_eq!(tenants.len(), 3, "{tenants:?}");
    let mut lines = 0;
    for tenant in &tenants {
        for e in store::receipts(h.auditor.store().as_ref(), tenant, 0..u64::MAX) {
            texts.push(String::from_utf8(e.unwrap().line).unwrap());
            lines += 1;
        }
    }
    // 2 APIs × (2 whole + 2 streams + 2 errors + 1 cut stream + 1 401 + 2 transport) + 4 via the
    // middleware.
    assert_eq!(lines, 2 * 10 + 4);
    for t in &texts {
        for key in [SECRET, WRONG] {
            assert!(!t.contains(key), "{key} leaked into {t}");
        }
    }
}

/// Display and Debug of an error and of all its sources.
fn error(e: &dyn std::error::Error) -> String {
    let mut t = format!("{e} {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        t.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    t
}

fn keyed_client(api: &str, sink: &AuditSink, base: &str, key: &str) -> Client {
    if api == "openai" {
        openai::client(sink.clone())
            .base_url(format!("{base}/v1"))
            .api_key(key)
            .build()
            .unwrap()
    } else {
        anthropic::client(sink.clone())
            .base_url(base)
            .api_key(key)
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn a_call_that_names_no_tenant_fails_before_it_is_sent() {
    let (auditor, _store) = support::memory_auditor();
    let sink = AuditSink::new(auditor.clone());
    // Nothing listens here: a call that were sent would fail as a transport error instead.
    let c = openai::client(sink.clone())
        .base_url("http://127.0.0.1:9/v1")
        .build()
        .unwrap();
    let err = c.chat(&body("openai", "hello")).await.unwrap_err();
    assert!(matches!(err, LlmError::NoTenant), "{err:?}");
    assert!(err.to_string().contains(".tenant("), "{err}");
    assert!(matches!(
        c.chat_stream(&body("openai", "hello")).await.err(),
        Some(LlmError::NoTenant)
    ));
    let mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ai_audit::llm::middleware::AuditMiddleware::new(sink))
        .build();
    let err = mw
        .post("http://127.0.0.1:9/v1/chat/completions")
        .json(&body("openai", "hello"))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("names no tenant"), "{err}");
    auditor.shutdown().unwrap();
    assert!(
        auditor.store().tenants().unwrap().is_empty(),
        "no receipt under any tenant"
    );
}
