//! Audited LLM calls: OpenAI Chat Completions and Anthropic Messages over reqwest 0.13,
//! non-streaming and SSE streaming, one receipt per call.
//!
//! A receipt is emitted when the response or the stream ends, fails, or is dropped: a stream
//! dropped mid-way says `stream_incomplete`; a call whose future is dropped before its answer
//! is in (a caller's timeout, a `select!`) says `call_cancelled` — both `fail_retry`, emitted in
//! the background since nobody waits for them any more. What it holds:
//!
//! | field | value |
//! |---|---|
//! | `input_c14n` | `canonicalize_input` of the messages as `"{role}: {content}"` lines (Anthropic's `system` first), as the Python integrations hash them |
//! | `output_hash` | SHA-256 of exactly the text the caller received (the concatenated text deltas, or the text blocks / `message.content` of a whole response, concatenated without separator; OpenAI's `message.refusal` when `content` is null); empty when no answer came (HTTP error, transport error, `call_cancelled`) |
//! | `model_id` | the model that served the call (the response's `model`; the requested one if the answer names none) |
//! | `config_digest` | `hash_json` of the request without `messages`, `system`, `stream`, `stream_options` (model, temperature, max_tokens, tools, tool_choice, …) |
//! | `action` | `allow`; `reject` for `content_filter`, `refusal` (a finish/stop reason, or OpenAI's `message.refusal`); `fail_retry` for HTTP errors, transport errors, error events, incomplete streams and cancelled calls |
//! | `checks`, `nist_tags`, `state_digest` | empty |
//! | `reason_codes` | in this order, as below |
//!
//! The reason codes, exactly (`{api}` is `openai` or `anthropic`; upstream strings have control
//! characters removed and are cut to 128 characters):
//!
//! 1. `decision:openai.chat_completions` or `decision:anthropic.messages`;
//! 2. for a failure, one of `http.status={status}` (then `{api}.error_type={error.type}` when the
//!    error body names one), `transport_error`, `stream_incomplete`, `call_cancelled`,
//!    `stream_error` (then `{api}.error_type=…`), `invalid_response`, `response_too_large`
//!    (the middleware's limit on a whole answer; the call fails instead of passing a cut body);
//! 3. `openai.finish_reason={value}` / `anthropic.stop_reason={value}` — any value, unknown ones
//!    kept — then `truncated_by_length` for `length` / `max_tokens`;
//! 4. `refusal` when OpenAI's `message.refusal` (or a `refusal` delta) was set;
//! 5. `model.requested={request's model}`, then `model.served={response's model}` when the answer
//!    named one;
//! 6. `usage.input_tokens={n}`, `usage.output_tokens={n}`, `usage.total_tokens={n}` (each when
//!    reported; OpenAI's prompt/completion tokens are input/output; Anthropic reports no total);
//! 7. `tool_call={name}:{sha256}` per tool call, in the order the model sent them: the SHA-256
//!    (hex) of the arguments' canonical JSON (`hash_json`), or of the raw text when the
//!    arguments are not JSON — equal across both APIs for the same arguments.
//!
//! Why reason codes: the v1 receipt (byte-compatible with the Python library) has no metadata
//! field. `model_id` and `config_digest` hold what they are for; the requested model, usage and
//! tool calls go in `reason_codes` as `key=value` codes, as the Python integrations already do
//! for `openai.finish_reason=…`. `checks` would be wrong: it records evaluations (score,
//! threshold, fired), and compliance summaries built on it (the Python crosswalk counts
//! receipts with checks as evaluated, ISO 42001 A.6.2.6) would count every LLM call as one.
//!
//! Content is stored only as hashes. API keys (`Authorization`, `x-api-key`) are sent as
//! sensitive headers and never reach a receipt, an error or a `Debug` output.
//!
//! Emit failures follow the [`AuditSink`](crate::sink::AuditSink)'s policy: fail-closed by default (the call returns
//! [`LlmError::Emit`]), fail-open by configuration (counted and observed).
//!
//! TLS: the clients use reqwest without TLS features, which is enough for `http://` gateways.
//! For `https://` enable reqwest's `rustls` feature in your own `Cargo.toml` (features unify), or
//! pass a client with [`ClientBuilder::http_client`].

mod client;
mod pending;
mod record;
pub mod sse;
mod stream;
mod wire;

#[cfg(feature = "anthropic")]
#[cfg_attr(docsrs, doc(cfg(feature = "anthropic")))]
pub mod anthropic;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub mod middleware;
#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub mod openai;

pub use client::{Client, ClientBuilder, Completion, CompletionStream, StreamEvent};
pub use sse::SseEvent;

use crate::auditor::{EmitError, Emitted};
use crate::receipt::{Receipt, SessionId, TenantId, TraceId};

/// Which API a call speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Api {
    /// OpenAI Chat Completions (`POST {base}/chat/completions`).
    OpenAi,
    /// Anthropic Messages (`POST {base}/v1/messages`).
    Anthropic,
}

impl Api {
    /// `openai` or `anthropic` (the prefix of this API's reason codes).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        }
    }

    /// The decision point named in the first reason code.
    #[must_use]
    pub fn decision(self) -> &'static str {
        match self {
            Self::OpenAi => "openai.chat_completions",
            Self::Anthropic => "anthropic.messages",
        }
    }

    /// `finish_reason` or `stop_reason`.
    #[must_use]
    pub fn finish_field(self) -> &'static str {
        match self {
            Self::OpenAi => "finish_reason",
            Self::Anthropic => "stop_reason",
        }
    }

    /// The request path below the base URL.
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::OpenAi => "/chat/completions",
            Self::Anthropic => "/v1/messages",
        }
    }
}

/// Whose call this is: the tenant whose chain gets the receipt, and optional trace and session.
///
/// ```
/// use audit_runtime::llm::CallContext;
/// let ctx = CallContext::new("bank-eu").with_trace("req-42").with_session("s-7");
/// assert_eq!(ctx.tenant.as_str(), "bank-eu");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The tenant.
    pub tenant: TenantId,
    /// The trace (a random one when `None`).
    pub trace: Option<TraceId>,
    /// The session.
    pub session: Option<SessionId>,
}

impl CallContext {
    /// A call of `tenant`.
    #[must_use]
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        Self {
            tenant: tenant.into(),
            trace: None,
            session: None,
        }
    }

    /// Sets the trace id.
    #[must_use]
    pub fn with_trace(mut self, trace: impl Into<TraceId>) -> Self {
        self.trace = Some(trace.into());
        self
    }

    /// Sets the session id.
    #[must_use]
    pub fn with_session(mut self, session: impl Into<SessionId>) -> Self {
        self.session = Some(session.into());
        self
    }
}

/// Token counts the upstream reported (OpenAI's prompt/completion tokens are input/output).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt / input tokens.
    pub input_tokens: Option<u64>,
    /// Completion / output tokens.
    pub output_tokens: Option<u64>,
    /// Total tokens (OpenAI only).
    pub total_tokens: Option<u64>,
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// SHA-256 (hex) of the arguments' canonical JSON (of the raw text when it is not JSON).
    pub arguments_hash: String,
}

/// Why an audited call failed. Every variant that follows a sent request carries the receipt
/// that was emitted for it (`None` when storing it failed in fail-open mode).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LlmError {
    /// The request body is not a JSON object (caller's fault; nothing was sent or audited).
    #[error("the request body must serialize to a JSON object")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The call names no tenant: the client was built without
    /// [`ClientBuilder::tenant`] and the call has no
    /// [`CallContext`] (nothing was sent; there is no implicit tenant).
    #[error(
        "the call names no tenant: build the client with .tenant(\"…\") or call chat_in / chat_stream_in with a CallContext"
    )]
    NoTenant,
    /// The upstream answered with an error status; the receipt says `fail_retry`.
    #[error("the upstream answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type` of the answer.
        content_type: Option<String>,
        /// The answer's body (at most 1 MiB), for forwarding.
        body: Vec<u8>,
        /// The receipt.
        receipt: Option<Box<Emitted>>,
    },
    /// The request could not be sent or the answer not read.
    #[error("the upstream could not be reached or its answer not read")]
    Transport {
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        /// The receipt.
        receipt: Option<Box<Emitted>>,
    },
    /// The stream ended or broke before its final event.
    #[error("the stream ended before its final event")]
    StreamIncomplete {
        /// What broke it, if anything did (a clean end of the stream has none).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
        /// The receipt.
        receipt: Option<Box<Emitted>>,
    },
    /// The upstream sent an error event mid-stream.
    #[error("the upstream sent an error event mid-stream")]
    StreamError {
        /// The event's data.
        data: String,
        /// The receipt.
        receipt: Option<Box<Emitted>>,
    },
    /// A 2xx answer that is not what the API documents.
    #[error("the upstream's answer is not a valid response of this API")]
    InvalidResponse {
        /// The receipt.
        receipt: Option<Box<Emitted>>,
    },
    /// The call's receipt could not be stored and the sink is fail-closed.
    #[error("the call's receipt could not be stored (fail-closed)")]
    Emit(#[source] EmitError),
}

impl LlmError {
    /// The receipt emitted for the failed call, if one was stored.
    #[must_use]
    pub fn receipt(&self) -> Option<&Emitted> {
        match self {
            Self::Status { receipt, .. }
            | Self::Transport { receipt, .. }
            | Self::StreamIncomplete { receipt, .. }
            | Self::StreamError { receipt, .. }
            | Self::InvalidResponse { receipt } => receipt.as_deref(),
            Self::Request(_) | Self::NoTenant | Self::Emit(_) => None,
        }
    }

    /// The HTTP status, for [`LlmError::Status`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The receipt the audited client would emit for `request` answered by the whole
/// (non-streaming) `response` body, without sending or emitting anything: for calls made by
/// other means (another SDK, a recorded exchange). The caller emits it.
///
/// ```
/// use audit_runtime::llm::{receipt_for, Api, CallContext};
/// let request = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
/// let response = br#"{"model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0,
///     "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}]}"#;
/// let r = receipt_for(Api::OpenAi, &CallContext::new("acme"), &request, response)?;
/// assert_eq!(r.model_id, "gpt-4o-mini-2024-07-18");
/// assert_eq!(r.output_hash, audit_runtime::canonical::hash_output("Hello"));
/// # Ok::<(), audit_runtime::llm::LlmError>(())
/// ```
///
/// # Errors
/// [`LlmError::Request`] when `request` does not serialize.
pub fn receipt_for(
    api: Api,
    ctx: &CallContext,
    request: &(impl serde::Serialize + ?Sized),
    response: &[u8],
) -> Result<Receipt, LlmError> {
    let body = serde_json::to_value(request).map_err(|e| LlmError::Request(Box::new(e)))?;
    let mut record = record::CallRecord::new(api, ctx.clone(), &body);
    match serde_json::from_slice::<serde_json::Value>(response) {
        Ok(v) if v.is_object() => {
            let _text = wire::apply_response(&mut record, &v);
        }
        _ => record.fail(record::Failure::InvalidResponse),
    }
    Ok(record.to_receipt())
}
