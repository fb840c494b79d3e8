//! What the audited LLM client adds to a call, network excluded: the same request (a 1 KB
//! prompt) to the same in-process endpoint (the example service's canned one, on loopback), sent
//! with plain reqwest and with the audited client; the overhead is the difference of the
//! medians. The audited call includes building the receipt and waiting until it is durable (the
//! fail-closed default) in a `MemoryStore`, with sealing on the auditor's threads.
//! `*_receipt_for` measures the wrapper's CPU work alone: `llm::receipt_for` on the same 1 KB
//! request and the endpoint's answer (parse, hash, build the receipt; no network, no emit).
//!
//! `cargo bench --bench llm_overhead --features openai,anthropic`
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![expect(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

#[path = "../src/canned.rs"]
mod canned;

use ai_audit::llm::{Api, CallContext, Client, anthropic, openai, receipt_for};
use ai_audit::sink::AuditSink;
use ai_audit::store::MemoryStore;
use ai_audit::{Auditor, SigningKey};
use criterion::{Criterion, criterion_group, criterion_main};

fn prompt(model: &str, stream: bool) -> serde_json::Value {
    let text = "Loan application: income 52000 EUR, asking 18000 EUR. ".repeat(18);
    serde_json::json!({
        "model": model, "max_tokens": 128, "temperature": 0, "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

async fn drain(c: &Client, body: &serde_json::Value) {
    let mut s = c.chat_stream(body).await.unwrap();
    while let Some(e) = s.next().await {
        e.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let base = rt.block_on(canned::start()).unwrap();
    let auditor = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    let sink = AuditSink::new(auditor);
    let http = reqwest::Client::new();
    let o = openai::client(sink.clone())
        .base_url(format!("{base}/v1"))
        .tenant("bench")
        .http_client(http.clone())
        .build()
        .unwrap();
    let a = anthropic::client(sink)
        .base_url(&base)
        .tenant("bench")
        .http_client(http.clone())
        .build()
        .unwrap();
    let mut g = c.benchmark_group("llm_call");
    for (name, url, body) in [
        (
            "openai",
            format!("{base}/v1/chat/completions"),
            prompt("gpt-4o-mini", false),
        ),
        (
            "anthropic",
            format!("{base}/v1/messages"),
            prompt("claude-sonnet-4-5", false),
        ),
    ] {
        g.bench_function(format!("{name}_plain_reqwest"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = http.post(&url).json(&body).send().await.unwrap();
                    let _json: serde_json::Value = r.json().await.unwrap();
                });
            });
        });
        let client = if name == "openai" { &o } else { &a };
        g.bench_function(format!("{name}_audited"), |b| {
            b.iter(|| rt.block_on(async { client.chat(&body).await.unwrap() }));
        });
    }
    for (name, url, body, client) in [
        (
            "openai",
            format!("{base}/v1/chat/completions"),
            prompt("gpt-4o-mini", true),
            &o,
        ),
        (
            "anthropic",
            format!("{base}/v1/messages"),
            prompt("claude-sonnet-4-5", true),
            &a,
        ),
    ] {
        g.bench_function(format!("{name}_stream_plain_reqwest"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut r = http.post(&url).json(&body).send().await.unwrap();
                    while r.chunk().await.unwrap().is_some() {}
                });
            });
        });
        g.bench_function(format!("{name}_stream_audited"), |b| {
            b.iter(|| rt.block_on(drain(client, &body)));
        });
    }
    // The wrapper's CPU work alone (no network, no emit): parse the request and the answer,
    // hash input, output, configuration and tool arguments, build the receipt.
    for (name, api, url, body) in [
        (
            "openai",
            Api::OpenAi,
            format!("{base}/v1/chat/completions"),
            prompt("gpt-4o-mini", false),
        ),
        (
            "anthropic",
            Api::Anthropic,
            format!("{base}/v1/messages"),
            prompt("claude-sonnet-4-5", false),
        ),
    ] {
        let answer = rt.block_on(async {
            let r = http.post(&url).json(&body).send().await.unwrap();
            r.bytes().await.unwrap()
        });
        let ctx = CallContext::new("acme");
        g.bench_function(format!("{name}_receipt_for"), |b| {
            b.iter(|| receipt_for(api, &ctx, &body, &answer).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
