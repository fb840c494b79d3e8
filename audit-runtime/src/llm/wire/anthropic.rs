//! Anthropic Messages: `content` blocks, `stop_reason`, `usage`, and the stream's
//! `message_start` … `message_stop` events.

use serde_json::Value;

use super::{EventEffect, error_type, set_model, str_of, u64_of};
use crate::llm::record::{CallRecord, Failure};
use crate::llm::sse::SseEvent;

fn apply_usage(record: &mut CallRecord, v: &Value) {
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        if let Some(n) = u64_of(u, "input_tokens") {
            record.usage.input_tokens = Some(n);
        }
        if let Some(n) = u64_of(u, "output_tokens") {
            record.usage.output_tokens = Some(n); // cumulative in message_delta
        }
    }
}

pub(super) fn apply_response(record: &mut CallRecord, body: &Value) -> String {
    set_model(record, body);
    apply_usage(record, body);
    record.finish_reason = str_of(body, "stop_reason").map(str::to_owned);
    let Some(blocks) = body.get("content").and_then(Value::as_array) else {
        record.fail(Failure::InvalidResponse);
        return String::new();
    };
    let mut text = String::new();
    for (i, b) in blocks.iter().enumerate() {
        match str_of(b, "type") {
            Some("text") => text.push_str(str_of(b, "text").unwrap_or_default()),
            Some("tool_use") => {
                let t = record.tool(i as u64);
                t.name = str_of(b, "name").unwrap_or_default().to_owned();
                t.arguments = b.get("input").map(Value::to_string).unwrap_or_default();
            }
            _ => {}
        }
    }
    record.push_text(&text);
    text
}

pub(super) fn apply_event(record: &mut CallRecord, event: &SseEvent) -> EventEffect {
    let mut effect = EventEffect::default();
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        return effect;
    };
    let kind = event.event.as_deref().or_else(|| str_of(&v, "type"));
    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
    match kind {
        Some("message_start") => {
            if let Some(m) = v.get("message") {
                set_model(record, m);
                apply_usage(record, m);
            }
        }
        Some("content_block_start") => {
            let block = v.get("content_block").unwrap_or(&Value::Null);
            match str_of(block, "type") {
                Some("text") => effect
                    .text
                    .push_str(str_of(block, "text").unwrap_or_default()),
                Some("tool_use") => {
                    let t = record.tool(index);
                    t.name = str_of(block, "name").unwrap_or_default().to_owned();
                    t.initial = block.get("input").map(Value::to_string);
                }
                _ => {}
            }
        }
        Some("content_block_delta") => {
            let delta = v.get("delta").unwrap_or(&Value::Null);
            match str_of(delta, "type") {
                Some("text_delta") => effect
                    .text
                    .push_str(str_of(delta, "text").unwrap_or_default()),
                Some("input_json_delta") => record
                    .tool(index)
                    .arguments
                    .push_str(str_of(delta, "partial_json").unwrap_or_default()),
                _ => {}
            }
        }
        Some("message_delta") => {
            if let Some(r) = v.get("delta").and_then(|d| str_of(d, "stop_reason")) {
                record.finish_reason = Some(r.to_owned());
            }
            apply_usage(record, &v);
        }
        Some("message_stop") => effect.terminal = true,
        Some("error") => {
            record.fail(Failure::StreamError {
                error_type: error_type(&v),
            });
            effect.error = true;
        }
        _ => {} // ping, content_block_stop, future events
    }
    record.push_text(&effect.text);
    effect
}
