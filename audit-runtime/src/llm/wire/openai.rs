//! OpenAI Chat Completions: `choices[0].message` / `choices[0].delta`, `usage`, `[DONE]`.

use serde_json::Value;

use super::{EventEffect, error_type, set_model, str_of, u64_of};
use crate::llm::record::{CallRecord, Failure};
use crate::llm::sse::SseEvent;

fn apply_usage(record: &mut CallRecord, v: &Value) {
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        record.usage.input_tokens = u64_of(u, "prompt_tokens");
        record.usage.output_tokens = u64_of(u, "completion_tokens");
        record.usage.total_tokens = u64_of(u, "total_tokens");
    }
}

fn first_choice(v: &Value) -> Option<&Value> {
    v.get("choices")?
        .as_array()?
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
}

pub(super) fn apply_response(record: &mut CallRecord, body: &Value) -> String {
    set_model(record, body);
    apply_usage(record, body);
    let Some(choice) = first_choice(body) else {
        record.fail(Failure::InvalidResponse);
        return String::new();
    };
    record.finish_reason = str_of(choice, "finish_reason").map(str::to_owned);
    let message = choice.get("message").unwrap_or(&Value::Null);
    let refusal = str_of(message, "refusal");
    record.refused = refusal.is_some();
    for (i, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = call.get("function").unwrap_or(&Value::Null);
        let t = record.tool(i as u64);
        t.name = str_of(f, "name").unwrap_or_default().to_owned();
        t.arguments = str_of(f, "arguments").unwrap_or_default().to_owned();
    }
    let text = str_of(message, "content")
        .or(refusal)
        .unwrap_or_default()
        .to_owned();
    record.push_text(&text);
    text
}

pub(super) fn apply_event(record: &mut CallRecord, event: &SseEvent) -> EventEffect {
    let mut effect = EventEffect::default();
    if event.data.trim() == "[DONE]" {
        effect.terminal = true;
        return effect;
    }
    let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
        return effect;
    };
    if v.get("error").is_some_and(|e| !e.is_null()) {
        record.fail(Failure::StreamError {
            error_type: error_type(&v),
        });
        effect.error = true;
        return effect;
    }
    set_model(record, &v);
    apply_usage(record, &v);
    let Some(choice) = first_choice(&v) else {
        return effect;
    };
    if let Some(f) = str_of(choice, "finish_reason") {
        record.finish_reason = Some(f.to_owned());
    }
    let delta = choice.get("delta").unwrap_or(&Value::Null);
    if let Some(t) = str_of(delta, "content") {
        effect.text.push_str(t);
    }
    if let Some(t) = str_of(delta, "refusal") {
        record.refused = true;
        effect.text.push_str(t);
    }
    for call in delta
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let f = call.get("function").unwrap_or(&Value::Null);
        let t = record.tool(index);
        if let Some(name) = str_of(f, "name") {
            t.name.push_str(name);
        }
        if let Some(args) = str_of(f, "arguments") {
            t.arguments.push_str(args);
        }
    }
    record.push_text(&effect.text);
    effect
}
