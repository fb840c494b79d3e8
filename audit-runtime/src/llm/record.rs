//! Everything one LLM call leaves in its receipt, gathered while the call runs and turned into
//! a [`Receipt`] when it ends.

use sha2::{Digest as _, Sha256};

use super::{Api, CallContext, ToolCall, Usage};
use crate::canonical::{canonicalize_input, hash_json, sha256_hex};
use crate::receipt::{Action, Receipt};

/// How a call failed, if it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The upstream answered with an error status.
    Status {
        status: u16,
        error_type: Option<String>,
    },
    /// The request could not be sent or the answer not read.
    Transport,
    /// The stream ended, broke or was dropped before its end.
    Incomplete,
    /// The caller dropped the call before any answer reached it (a timeout, a `select!`, a
    /// stream dropped before its first byte).
    Cancelled,
    /// The upstream sent an error event mid-stream.
    StreamError { error_type: Option<String> },
    /// A 2xx answer that is not what the API documents.
    InvalidResponse,
    /// A whole answer larger than the middleware reads; refused rather than passed on cut.
    TooLarge,
}

/// A tool call being assembled (streams send the arguments in fragments).
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolAcc {
    pub(crate) index: u64,
    pub(crate) name: String,
    pub(crate) arguments: String,
    /// Anthropic's `input` object of `content_block_start`, used when no fragment follows.
    pub(crate) initial: Option<String>,
}

/// One call, from request to end.
#[derive(Debug)]
pub(crate) struct CallRecord {
    pub(crate) api: Api,
    ctx: CallContext,
    requested_model: String,
    input_hash: String,
    config_digest: String,
    pub(crate) served_model: Option<String>,
    pub(crate) finish_reason: Option<String>,
    /// OpenAI's `message.refusal` was set.
    pub(crate) refused: bool,
    pub(crate) usage: Usage,
    output: Sha256,
    pub(crate) tools: Vec<ToolAcc>,
    pub(crate) failure: Option<Failure>,
}

/// Request fields that are content or transport, not configuration.
const NOT_CONFIG: [&str; 4] = ["messages", "system", "stream", "stream_options"];

/// Upstream strings that go into reason codes are cut to this many characters.
const MAX_REASON_VALUE: usize = 128;

impl CallRecord {
    /// A record of a call with this request body. Without a trace of its own, the call takes
    /// the trace of the audited call or audited HTTP request it is made in.
    pub(crate) fn new(api: Api, mut ctx: CallContext, body: &serde_json::Value) -> Self {
        if ctx.trace.is_none() {
            ctx.trace = crate::capture::current_trace();
        }
        let requested_model = body
            .get("model")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Self {
            api,
            ctx,
            requested_model,
            input_hash: canonicalize_input(&input_text(body)),
            config_digest: config_digest(body),
            served_model: None,
            finish_reason: None,
            refused: false,
            usage: Usage::default(),
            output: Sha256::new(),
            tools: Vec::new(),
            failure: None,
        }
    }

    /// Text the caller received.
    pub(crate) fn push_text(&mut self, text: &str) {
        self.output.update(text.as_bytes());
    }

    /// The tool call with this index, created if new.
    pub(crate) fn tool(&mut self, index: u64) -> &mut ToolAcc {
        let at = match self.tools.iter().position(|t| t.index == index) {
            Some(at) => at,
            None => {
                self.tools.push(ToolAcc {
                    index,
                    ..ToolAcc::default()
                });
                self.tools.len() - 1
            }
        };
        &mut self.tools[at]
    }

    /// Sets the failure unless one is already recorded.
    pub(crate) fn fail(&mut self, failure: Failure) {
        self.failure.get_or_insert(failure);
    }

    /// The tool calls, with argument hashes.
    pub(crate) fn tool_calls(&self) -> Vec<ToolCall> {
        self.tools
            .iter()
            .map(|t| {
                let args = match (&t.initial, t.arguments.is_empty()) {
                    (Some(initial), true) => initial.as_str(),
                    _ => t.arguments.as_str(),
                };
                ToolCall {
                    name: t.name.clone(),
                    arguments_hash: arguments_hash(args),
                }
            })
            .collect()
    }

    /// The receipt of the call.
    pub(crate) fn to_receipt(&self) -> Receipt {
        let api = self.api.as_str();
        let mut r = Receipt::new(self.ctx.tenant.clone())
            .with_reason(format!("decision:{}", self.api.decision()))
            .with_config_digest(self.config_digest.clone())
            .with_model(
                self.served_model
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .unwrap_or(&self.requested_model),
            );
        r.input_c14n = self.input_hash.clone();
        if let Some(t) = &self.ctx.trace {
            r = r.with_trace(t.clone());
        }
        if let Some(s) = &self.ctx.session {
            r = r.with_session(s.clone());
        }
        let finish = self.finish_reason.as_deref();
        r.action = match &self.failure {
            Some(Failure::Status { status, error_type }) => {
                r.reason_codes.push(format!("http.status={status}"));
                if let Some(t) = error_type {
                    r.reason_codes
                        .push(format!("{api}.error_type={}", clean(t)));
                }
                Action::FailRetry
            }
            Some(Failure::Transport) => {
                r.reason_codes.push("transport_error".into());
                Action::FailRetry
            }
            Some(Failure::Incomplete) => {
                r.reason_codes.push("stream_incomplete".into());
                Action::FailRetry
            }
            Some(Failure::Cancelled) => {
                r.reason_codes.push("call_cancelled".into());
                Action::FailRetry
            }
            Some(Failure::StreamError { error_type }) => {
                r.reason_codes.push("stream_error".into());
                if let Some(t) = error_type {
                    r.reason_codes
                        .push(format!("{api}.error_type={}", clean(t)));
                }
                Action::FailRetry
            }
            Some(Failure::InvalidResponse) => {
                r.reason_codes.push("invalid_response".into());
                Action::FailRetry
            }
            Some(Failure::TooLarge) => {
                r.reason_codes.push("response_too_large".into());
                Action::FailRetry
            }
            None if self.refused || matches!(finish, Some("content_filter" | "refusal")) => {
                Action::Reject
            }
            None => Action::Allow,
        };
        if let Some(f) = finish {
            r.reason_codes
                .push(format!("{api}.{}={}", self.api.finish_field(), clean(f)));
            if matches!(f, "length" | "max_tokens") {
                r.reason_codes.push("truncated_by_length".into());
            }
        }
        if self.refused {
            r.reason_codes.push("refusal".into());
        }
        r.reason_codes
            .push(format!("model.requested={}", clean(&self.requested_model)));
        if let Some(m) = &self.served_model {
            r.reason_codes.push(format!("model.served={}", clean(m)));
        }
        for (name, n) in [
            ("input_tokens", self.usage.input_tokens),
            ("output_tokens", self.usage.output_tokens),
            ("total_tokens", self.usage.total_tokens),
        ] {
            if let Some(n) = n {
                r.reason_codes.push(format!("usage.{name}={n}"));
            }
        }
        for t in self.tool_calls() {
            r.reason_codes
                .push(format!("tool_call={}:{}", clean(&t.name), t.arguments_hash));
        }
        // An answer that never came has no output; anything received, even nothing, is hashed.
        if !matches!(
            self.failure,
            Some(
                Failure::Status { .. }
                    | Failure::Transport
                    | Failure::Cancelled
                    | Failure::TooLarge
            )
        ) {
            r.output_hash = hex::encode(self.output.clone().finalize());
        }
        r
    }
}

/// Control characters out, length capped: upstream text in a reason code stays one short token.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_REASON_VALUE)
        .collect()
}

/// SHA-256 of the arguments' canonical JSON (so `{"b":1,"a":2}` and `{"a":2,"b":1}` agree across
/// both APIs), or of the raw text when it is not JSON.
#[must_use]
pub(crate) fn arguments_hash(args: &str) -> String {
    crate::json::parse(args.as_bytes())
        .map_or_else(|_| sha256_hex(args.as_bytes()), |v| hash_json(&v))
}

/// The input as the Python integrations hash it: one `"{role}: {content}"` line per message
/// (Anthropic's `system` first), keeping only the text parts of structured content.
fn input_text(body: &serde_json::Value) -> String {
    let mut lines = Vec::new();
    if let Some(system) = body.get("system") {
        lines.push(format!("system: {}", content_text(system)));
    }
    for m in body
        .get("messages")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m
            .get("role")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let content = m.get("content").map(content_text).unwrap_or_default();
        lines.push(format!("{role}: {content}"));
    }
    lines.join("\n")
}

fn content_text(content: &serde_json::Value) -> String {
    match content {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(serde_json::Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(serde_json::Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `hash_json` of the request without its content (`messages`, `system`) and transport
/// (`stream`, `stream_options`): model, temperature, max_tokens, tools, tool_choice, ….
fn config_digest(body: &serde_json::Value) -> String {
    let mut config = body.clone();
    if let Some(o) = config.as_object_mut() {
        for k in NOT_CONFIG {
            o.remove(k);
        }
    }
    let text = config.to_string();
    crate::json::parse(text.as_bytes())
        .map_or_else(|_| sha256_hex(text.as_bytes()), |v| hash_json(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_hashes_ignore_key_order_and_spacing() {
        assert_eq!(
            arguments_hash(r#"{"city":"Paris","days":2}"#),
            arguments_hash(r#"{ "days": 2, "city": "Paris" }"#)
        );
        assert_eq!(arguments_hash("not json"), sha256_hex(b"not json"));
    }

    #[test]
    fn the_config_digest_ignores_content_and_streaming() {
        let a = serde_json::json!({"model": "m", "temperature": 0.2, "messages": [{"role": "user", "content": "a"}]});
        let b =
            serde_json::json!({"model": "m", "temperature": 0.2, "stream": true, "messages": []});
        let c = serde_json::json!({"model": "m", "temperature": 0.3, "messages": []});
        assert_eq!(config_digest(&a), config_digest(&b));
        assert_ne!(config_digest(&a), config_digest(&c));
    }

    #[test]
    fn input_text_follows_the_python_integrations() {
        let body = serde_json::json!({"system": "be brief", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]}
        ]});
        assert_eq!(input_text(&body), "system: be brief\nuser: hi\nuser: a b");
    }
}
