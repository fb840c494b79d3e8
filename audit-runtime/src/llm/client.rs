//! The audited client: one POST per call, one receipt per call.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use zeroize::Zeroizing;

use super::pending::PendingCall;
use super::record::{CallRecord, Failure};
use super::sse::SseEvent;
use super::stream::{End, StreamAudit};
use super::{Api, CallContext, LlmError, ToolCall, Usage, wire};
use crate::auditor::Emitted;
use crate::receipt::TenantId;
use crate::sink::AuditSink;

/// A whole response larger than this is refused.
const MAX_RESPONSE: usize = 64 << 20;
/// At most this much of an error answer is kept.
const MAX_ERROR_BODY: usize = 1 << 20;
/// The `anthropic-version` header sent unless another is configured.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Builds a [`Client`]; start from `llm::openai::client` or `llm::anthropic::client`.
#[must_use]
pub struct ClientBuilder {
    api: Api,
    sink: AuditSink,
    base_url: String,
    api_key: Option<Zeroizing<String>>,
    http: Option<reqwest::Client>,
    tenant: Option<TenantId>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(api: Api, sink: AuditSink, base_url: &str) -> Self {
        Self {
            api,
            sink,
            base_url: base_url.to_owned(),
            api_key: None,
            http: None,
            tenant: None,
        }
    }

    /// The base URL (`https://api.openai.com/v1` style for OpenAI, `https://api.anthropic.com`
    /// style for Anthropic, as the official SDKs take them).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The API key, sent as `Authorization: Bearer …` (OpenAI) or `x-api-key` (Anthropic),
    /// marked sensitive, kept zeroized, never written anywhere.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(Zeroizing::new(key.into()));
        self
    }

    /// The reqwest client to send with (TLS, proxies, timeouts are its business).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The tenant of [`Client::chat`] and [`Client::chat_stream`] calls. There is no implicit
    /// one: without it those calls fail with [`LlmError::NoTenant`] (calls with a
    /// [`CallContext`] name their own).
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`LlmError::Transport`] if no reqwest client was given and the default cannot be built.
    pub fn build(self) -> Result<Client, LlmError> {
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .build()
                .map_err(|e| LlmError::Transport {
                    source: Box::new(e),
                    receipt: None,
                })?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                url: format!("{}{}", self.base_url, self.api.path()),
                api: self.api,
                sink: self.sink,
                api_key: self.api_key,
                http,
                ctx: self.tenant.map(CallContext::new),
            }),
        })
    }
}

struct Inner {
    api: Api,
    sink: AuditSink,
    url: String,
    api_key: Option<Zeroizing<String>>,
    http: reqwest::Client,
    /// The context of calls without one ([`ClientBuilder::tenant`]).
    ctx: Option<CallContext>,
}

/// An audited OpenAI or Anthropic client. Cheap to clone.
///
/// Request bodies are any `serde::Serialize` value that serializes to the API's JSON object
/// (a `serde_json::json!` literal, or your own request types); answers come back as the raw
/// body plus what the receipt recorded.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api", &self.inner.api)
            .field("url", &self.inner.url)
            .field(
                "api_key",
                &self.inner.api_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, LlmError> {
    let mut v = HeaderValue::from_str(value).map_err(|e| LlmError::Request(Box::new(e)))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Reads a body up to `limit` bytes; past it, `truncate` keeps the prefix, else it is an error.
async fn read_body(
    resp: &mut reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = limit.saturating_sub(out.len());
        if chunk.len() > room {
            if truncate {
                out.extend_from_slice(chunk.get(..room).unwrap_or_default());
                break;
            }
            return Err(format!("the answer is larger than {limit} bytes").into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

impl Client {
    /// Which API this client speaks.
    #[must_use]
    pub fn api(&self) -> Api {
        self.inner.api
    }

    /// The sink receipts go to.
    #[must_use]
    pub fn sink(&self) -> &AuditSink {
        &self.inner.sink
    }

    fn prepare(
        &self,
        ctx: &CallContext,
        body: &(impl serde::Serialize + ?Sized),
        stream: bool,
    ) -> Result<(serde_json::Value, CallRecord), LlmError> {
        let mut body = serde_json::to_value(body).map_err(|e| LlmError::Request(Box::new(e)))?;
        let Some(obj) = body.as_object_mut() else {
            return Err(LlmError::Request("the body is not a JSON object".into()));
        };
        obj.remove("stream");
        obj.remove("stream_options");
        if stream {
            obj.insert("stream".into(), true.into());
            if self.inner.api == Api::OpenAi {
                // Usage is recorded: ask for the final usage chunk.
                obj.insert(
                    "stream_options".into(),
                    serde_json::json!({"include_usage": true}),
                );
            }
        }
        let record = CallRecord::new(self.inner.api, ctx.clone(), &body);
        Ok((body, record))
    }

    async fn send(
        &self,
        body: &serde_json::Value,
        stream: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let bytes = serde_json::to_vec(body).map_err(|e| LlmError::Request(Box::new(e)))?;
        let mut req = self
            .inner
            .http
            .post(&self.inner.url)
            .header(CONTENT_TYPE, "application/json")
            .body(bytes);
        if stream {
            req = req.header(ACCEPT, "text/event-stream");
        }
        match (self.inner.api, &self.inner.api_key) {
            (Api::OpenAi, Some(k)) => {
                req = req.header(AUTHORIZATION, sensitive(&format!("Bearer {}", k.as_str()))?);
            }
            (Api::Anthropic, key) => {
                if let Some(k) = key {
                    req = req.header("x-api-key", sensitive(k)?);
                }
                req = req.header("anthropic-version", ANTHROPIC_VERSION);
            }
            (Api::OpenAi, None) => {}
        }
        req.send().await.map_err(|e| LlmError::Transport {
            source: Box::new(e),
            receipt: None,
        })
    }

    /// Sends, and turns a transport error or an error status into its receipt and error.
    async fn call(
        &self,
        body: &serde_json::Value,
        call: &mut PendingCall,
        stream: bool,
    ) -> Result<reqwest::Response, LlmError> {
        let mut resp = match self.send(body, stream).await {
            Ok(r) => r,
            Err(LlmError::Transport { source, .. }) => {
                call.record_mut().fail(Failure::Transport);
                let receipt = call.finish().await?.map(Box::new);
                return Err(LlmError::Transport { source, receipt });
            }
            Err(e) => return Err(e),
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_body(&mut resp, MAX_ERROR_BODY, true)
            .await
            .unwrap_or_default();
        let error_type = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| wire::error_type(&v));
        call.record_mut().fail(Failure::Status {
            status: status.as_u16(),
            error_type,
        });
        let receipt = call.finish().await?.map(Box::new);
        Err(LlmError::Status {
            status: status.as_u16(),
            content_type,
            body,
            receipt,
        })
    }

    /// A non-streaming call with the client's default tenant; see [`Client::chat_in`].
    ///
    /// # Errors
    /// As [`Client::chat_in`].
    pub async fn chat(
        &self,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<Completion, LlmError> {
        let ctx = self.inner.ctx.clone().ok_or(LlmError::NoTenant)?;
        self.chat_in(&ctx, body).await
    }

    /// A non-streaming call (`stream` is removed from the body). The receipt is durable (or
    /// its failure handled by the sink's policy) when this returns. If the returned future is
    /// dropped before it completes (a timeout, a `select!`), the receipt is still emitted, in
    /// the background: `fail_retry` with reason `call_cancelled` and no output hash.
    ///
    /// # Errors
    /// [`LlmError`]: `Request` before anything is sent; `Status`, `Transport` and
    /// `InvalidResponse` with their receipt; `Emit` when the receipt cannot be stored
    /// (fail-closed).
    pub async fn chat_in(
        &self,
        ctx: &CallContext,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<Completion, LlmError> {
        let (body, record) = self.prepare(ctx, body, false)?;
        let mut call = PendingCall::new(self.inner.sink.clone(), record);
        let mut resp = self.call(&body, &mut call, false).await?;
        let status = resp.status().as_u16();
        let bytes = match read_body(&mut resp, MAX_RESPONSE, false).await {
            Ok(b) => b,
            Err(source) => {
                call.record_mut().fail(Failure::Transport);
                let receipt = call.finish().await?.map(Box::new);
                return Err(LlmError::Transport { source, receipt });
            }
        };
        let text = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) if v.is_object() => wire::apply_response(call.record_mut(), &v),
            _ => {
                call.record_mut().fail(Failure::InvalidResponse);
                String::new()
            }
        };
        let receipt = call.finish().await?.map(Box::new);
        let record = call.record();
        if record.failure.is_some() {
            return Err(LlmError::InvalidResponse { receipt });
        }
        Ok(Completion {
            status,
            body: bytes,
            text,
            finish_reason: record.finish_reason.clone(),
            model: record.served_model.clone(),
            usage: record.usage,
            tool_calls: record.tool_calls(),
            receipt,
        })
    }

    /// A streaming call with the client's default tenant; see [`Client::chat_stream_in`].
    ///
    /// # Errors
    /// As [`Client::chat_stream_in`].
    pub async fn chat_stream(
        &self,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<CompletionStream, LlmError> {
        let ctx = self.inner.ctx.clone().ok_or(LlmError::NoTenant)?;
        self.chat_stream_in(&ctx, body).await
    }

    /// A streaming call (`stream: true`; OpenAI also gets `stream_options.include_usage`).
    /// The receipt is emitted when the stream ends, fails, or is dropped before its end
    /// (`stream_incomplete`); if this future itself is dropped before the stream starts, the
    /// receipt says `call_cancelled`.
    ///
    /// # Errors
    /// As [`Client::chat_in`], for what happens before the first byte of the stream.
    pub async fn chat_stream_in(
        &self,
        ctx: &CallContext,
        body: &(impl serde::Serialize + ?Sized),
    ) -> Result<CompletionStream, LlmError> {
        let (body, record) = self.prepare(ctx, body, true)?;
        let mut call = PendingCall::new(self.inner.sink.clone(), record);
        let resp = self.call(&body, &mut call, true).await?;
        Ok(CompletionStream {
            resp: Some(resp),
            pending: VecDeque::new(),
            audit: StreamAudit::new(call),
        })
    }
}

/// A whole (non-streaming) answer.
#[derive(Clone, Debug)]
pub struct Completion {
    status: u16,
    body: Vec<u8>,
    text: String,
    finish_reason: Option<String>,
    model: Option<String>,
    usage: Usage,
    tool_calls: Vec<ToolCall>,
    receipt: Option<Box<Emitted>>,
}

impl Completion {
    /// The upstream's HTTP status.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The answer's body exactly as received (deserialize it into your own types).
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The answer's text, whose SHA-256 is the receipt's `output_hash`.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `finish_reason` / `stop_reason`, whatever its value.
    #[must_use]
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// The model that served the call.
    #[must_use]
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Token counts.
    #[must_use]
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Tool calls the model asked for.
    #[must_use]
    pub fn tool_calls(&self) -> &[ToolCall] {
        &self.tool_calls
    }

    /// The receipt (`None` if storing it failed in fail-open mode).
    #[must_use]
    pub fn receipt(&self) -> Option<&Emitted> {
        self.receipt.as_deref()
    }
}

/// One event of a stream, with the text it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEvent {
    /// The event as received.
    pub sse: SseEvent,
    /// The text the caller receives with it (the concatenation over the stream is what the
    /// receipt's `output_hash` covers).
    pub text: String,
}

/// A streaming answer. Pull events with [`CompletionStream::next`]; the receipt is emitted at
/// the final event (OpenAI `[DONE]`, Anthropic `message_stop`), when the stream breaks, or
/// when this value is dropped before the end.
#[derive(Debug)]
pub struct CompletionStream {
    resp: Option<reqwest::Response>,
    pending: VecDeque<SseEvent>,
    audit: StreamAudit,
}

impl CompletionStream {
    /// The next event; `None` after the final one. An error ends the stream (its receipt is
    /// already emitted).
    pub async fn next(&mut self) -> Option<Result<StreamEvent, LlmError>> {
        loop {
            if let Some(sse) = self.pending.pop_front() {
                if self.audit.ended() {
                    return None;
                }
                let effect = self.audit.apply(&sse);
                if effect.error {
                    return Some(Err(self.fail(End::ErrorEvent(sse.data)).await));
                }
                let event = StreamEvent {
                    sse,
                    text: effect.text,
                };
                if effect.terminal {
                    return Some(self.end(End::Complete).await.map(|()| event));
                }
                return Some(Ok(event));
            }
            let resp = self.resp.as_mut()?;
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    let mut out = Vec::new();
                    let fed = self.audit.feed(&bytes, &mut out);
                    self.pending.extend(out);
                    if fed.is_err() {
                        return Some(Err(self.fail(End::Invalid).await));
                    }
                }
                Ok(None) => {
                    self.resp = None;
                    if self.pending.is_empty() {
                        let end = self.audit.eof();
                        return self.end(end).await.err().map(Err);
                    }
                }
                Err(e) => {
                    return Some(Err(self.fail(End::Incomplete(Some(Box::new(e)))).await));
                }
            }
        }
    }

    /// Ends the stream; `Ok` only when it completed and its receipt is handled.
    async fn end(&mut self, end: End) -> Result<(), LlmError> {
        self.resp = None;
        self.pending.clear();
        self.audit.end(end).await.map(|_| ())
    }

    /// Ends the stream with a failure and returns the error the caller sees.
    async fn fail(&mut self, end: End) -> LlmError {
        match self.end(end).await {
            Err(e) => e,
            // Only a complete stream ends in `Ok`; a failure never does.
            Ok(()) => LlmError::StreamIncomplete {
                source: None,
                receipt: self.audit.receipt().cloned().map(Box::new),
            },
        }
    }

    /// The receipt, once the stream has ended and it was stored.
    #[must_use]
    pub fn receipt(&self) -> Option<&Emitted> {
        self.audit.receipt()
    }

    /// Token counts, once the stream has ended.
    #[must_use]
    pub fn usage(&self) -> Usage {
        self.audit.usage()
    }
}
