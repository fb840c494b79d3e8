//! A small in-process stand-in for an LLM API, used only when neither `OPENAI_BASE_URL` nor
//! `ANTHROPIC_BASE_URL` is set, so the demo runs on a machine without network or keys. It speaks
//! the wire shapes of Chat Completions and Messages (whole and SSE) with canned answers.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

/// The canned answer to a prompt: `refer` when the application asks for more than it earns.
fn answer(prompt: &Value) -> String {
    let text = prompt["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let numbers: Vec<u64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    match numbers.as_slice() {
        [.., income, asked] if asked > income => {
            "refer: the amount asked exceeds the stated income.".into()
        }
        _ => "approve: the stated income covers the amount asked.".into(),
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

fn respond(content_type: &'static str, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn sse(frames: Vec<(Option<&str>, Value)>, done: bool) -> Response {
    let mut out = String::new();
    for (event, data) in frames {
        if let Some(e) = event {
            out.push_str(&format!("event: {e}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    if done {
        out.push_str("data: [DONE]\n\n");
    }
    respond("text/event-stream", out)
}

async fn chat(body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = answer(&req);
    let model = "canned-gpt-1";
    let (p, c) = (req.to_string().len() as u64 / 4, words(&text).len() as u64);
    let usage = json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c});
    if req["stream"] != json!(true) {
        let body = json!({
            "id": "chatcmpl-canned", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage,
        });
        return respond("application/json", body.to_string());
    }
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-canned", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut frames = vec![(
        None,
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
    )];
    for w in words(&text) {
        frames.push((None, chunk(json!({"content": w}), Value::Null)));
    }
    frames.push((None, chunk(json!({}), json!("stop"))));
    frames.push((
        None,
        json!({"id": "chatcmpl-canned", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage}),
    ));
    sse(frames, true)
}

async fn messages(body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = answer(&req);
    let model = "canned-claude-1";
    let (p, c) = (req.to_string().len() as u64 / 4, words(&text).len() as u64);
    if req["stream"] != json!(true) {
        let body = json!({
            "id": "msg_canned", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": p, "output_tokens": c},
        });
        return respond("application/json", body.to_string());
    }
    let mut frames = vec![
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_canned", "type": "message", "role": "assistant", "content": [], "model": model, "stop_reason": null, "usage": {"input_tokens": p, "output_tokens": 0}}}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for w in words(&text) {
        frames.push((
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}),
        ));
    }
    frames.push((
        Some("content_block_stop"),
        json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push((
        Some("message_delta"),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": c}}),
    ));
    frames.push((Some("message_stop"), json!({"type": "message_stop"})));
    sse(frames, false)
}

/// Serves the canned API on an ephemeral port of 127.0.0.1; returns its base URL.
pub(crate) async fn start() -> anyhow::Result<String> {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/messages", post(messages));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}
