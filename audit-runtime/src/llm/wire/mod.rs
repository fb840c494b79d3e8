//! The two wire formats: what a response body or a stream event means for the call's record.
//! Unknown fields, events and finish reasons are kept or skipped, never an error.

mod anthropic;
mod openai;

use super::Api;
use super::record::CallRecord;
use super::sse::SseEvent;

/// What one stream event did.
#[derive(Debug, Default)]
pub(crate) struct EventEffect {
    /// Text the caller receives with this event.
    pub(crate) text: String,
    /// The stream's final event (OpenAI `[DONE]`, Anthropic `message_stop`).
    pub(crate) terminal: bool,
    /// An error event: the stream failed mid-way.
    pub(crate) error: bool,
}

/// Applies a whole (non-streaming) response body; returns the text the caller receives.
pub(crate) fn apply_response(record: &mut CallRecord, body: &serde_json::Value) -> String {
    match record.api {
        Api::OpenAi => openai::apply_response(record, body),
        Api::Anthropic => anthropic::apply_response(record, body),
    }
}

/// Applies one stream event.
pub(crate) fn apply_event(record: &mut CallRecord, event: &SseEvent) -> EventEffect {
    match record.api {
        Api::OpenAi => openai::apply_event(record, event),
        Api::Anthropic => anthropic::apply_event(record, event),
    }
}

/// The `error.type` of an error body (both APIs nest it under `error`).
pub(crate) fn error_type(body: &serde_json::Value) -> Option<String> {
    body.get("error")
        .and_then(|e| e.get("type"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

fn str_of<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_json::Value::as_str)
}

fn u64_of(v: &serde_json::Value, key: &str) -> Option<u64> {
    v.get(key).and_then(serde_json::Value::as_u64)
}

fn set_model(record: &mut CallRecord, v: &serde_json::Value) {
    if let Some(m) = str_of(v, "model").filter(|m| !m.is_empty()) {
        record.served_model.get_or_insert_with(|| m.to_owned());
    }
}
