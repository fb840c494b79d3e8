//! A [`reqwest_middleware`] middleware that leaves one receipt per OpenAI Chat Completions or
//! Anthropic Messages call made through any client built on `reqwest_middleware::ClientWithMiddleware`
//! (feature `reqwest-middleware`).
//!
//! Requests whose path ends in `/chat/completions` or `/v1/messages` are audited exactly like
//! the [`Client`](super::Client)'s calls (same receipt fields); other requests pass through
//! untouched. Streaming answers (`text/event-stream`) are passed on chunk by chunk while they are
//! watched; the receipt is emitted at the final event, when the stream breaks, or when the
//! response body is dropped early (`stream_incomplete`). A request future dropped before its
//! answer is in (a caller's timeout) still leaves its receipt (`call_cancelled`). Fail-closed emit failures surface as
//! `reqwest_middleware::Error::Middleware` (or as an error at the end of the body stream).
//!
//! Which clients this covers: anything that sends through a `reqwest_middleware` 0.5
//! `ClientWithMiddleware` over reqwest 0.13 (the types must match) — your own code, and SDK
//! crates that take such a client: Rig (`rig-core` with the `rig-reqwest` transport 0.44+,
//! feature `reqwest-middleware`, `ReqwestMiddlewareClient::from(client)`). `async-openai` 0.43
//! is not covered directly: `Client::with_http_client` takes a plain `reqwest::Client`, and its
//! `middleware` feature takes a tower service over its own request factory (a service that
//! builds the `reqwest::Request` and sends it with `ClientWithMiddleware::execute` brings it
//! under this middleware); otherwise use [`Client`](super::Client). The per-call
//! [`CallContext`] (tenant, trace, session) comes from the request's extensions
//! (`RequestBuilder::with_extension(CallContext::new("acme"))`), else from the middleware.
//!
//! ```
//! use audit_runtime::llm::middleware::AuditMiddleware;
//! use audit_runtime::sink::AuditSink;
//! use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
//!
//! let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(AuditMiddleware::new(AuditSink::new(auditor)).tenant("bank-eu"))
//!     .build();
//! # drop(client);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::CONTENT_TYPE;
use reqwest_middleware::{Middleware, Next};

use super::pending::PendingCall;
use super::record::{CallRecord, Failure};
use super::stream::{End, StreamAudit};
use super::{Api, CallContext, LlmError, wire};
use crate::receipt::TenantId;
use crate::sink::AuditSink;

/// Default limit of a whole (non-streaming) answer the middleware reads (64 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

/// A whole (non-streaming) answer over the middleware's limit: the call fails (with its receipt,
/// reason `response_too_large`) rather than hand the caller a cut body.
#[derive(Debug, thiserror::Error)]
#[error(
    "the LLM answer is larger than the audit middleware's limit of {limit} bytes; raise it with AuditMiddleware::max_response_bytes or stream the response"
)]
pub struct ResponseTooLarge {
    /// The limit in bytes.
    pub limit: usize,
}

/// The middleware. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditMiddleware {
    sink: AuditSink,
    /// The context of requests without a [`CallContext`] extension.
    ctx: Option<CallContext>,
    max_response: usize,
}

impl AuditMiddleware {
    /// Receipts go to `sink`, for the tenant of the request's [`CallContext`] extension, else
    /// [`AuditMiddleware::tenant`]. There is no implicit tenant: a request to an LLM endpoint
    /// with neither fails before it is sent ([`LlmError::NoTenant`](super::LlmError::NoTenant)).
    #[must_use]
    pub fn new(sink: AuditSink) -> Self {
        Self {
            sink,
            ctx: None,
            max_response: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The largest whole (non-streaming) answer read (default 64 MiB). A larger one fails the
    /// call with [`ResponseTooLarge`]; streamed answers are passed on as they come.
    #[must_use]
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response = limit;
        self
    }

    /// The tenant of requests without a [`CallContext`] extension.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.ctx = Some(CallContext::new(tenant));
        self
    }
}

fn api_of(path: &str) -> Option<Api> {
    if path.ends_with("/chat/completions") {
        Some(Api::OpenAi)
    } else if path.ends_with("/v1/messages") {
        Some(Api::Anthropic)
    } else {
        None
    }
}

fn mw_error(e: LlmError) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(e)
}

async fn finish(call: &mut PendingCall) -> reqwest_middleware::Result<()> {
    call.finish().await.map(|_| ()).map_err(mw_error)
}

/// A response with the same head and a new body.
fn rebuild(
    status: reqwest::StatusCode,
    version: reqwest::Version,
    headers: reqwest::header::HeaderMap,
    body: reqwest::Body,
) -> reqwest::Response {
    let mut r = http::Response::new(body);
    *r.status_mut() = status;
    *r.version_mut() = version;
    *r.headers_mut() = headers;
    reqwest::Response::from(r)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[async_trait::async_trait]
impl Middleware for AuditMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let Some(api) = api_of(req.url().path()) else {
            return next.run(req, extensions).await;
        };
        let Some(ctx) = extensions
            .get::<CallContext>()
            .cloned()
            .or_else(|| self.ctx.clone())
        else {
            return Err(reqwest_middleware::Error::middleware(LlmError::NoTenant));
        };
        let body = req
            .body()
            .and_then(reqwest::Body::as_bytes)
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(serde_json::Value::Null);
        // Dropped before the answer is in (a caller's timeout): `call_cancelled`.
        let mut call = PendingCall::new(self.sink.clone(), CallRecord::new(api, ctx, &body));
        let resp = match next.run(req, extensions).await {
            Ok(r) => r,
            Err(e) => {
                call.record_mut().fail(Failure::Transport);
                finish(&mut call).await?;
                return Err(e);
            }
        };
        let (status, version, headers) = (resp.status(), resp.version(), resp.headers().clone());
        let streaming = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if status.is_success() && streaming {
            let audit = StreamAudit::new(call);
            let body = reqwest::Body::wrap_stream(tap(resp, audit));
            return Ok(rebuild(status, version, headers, body));
        }
        let bytes = match read_all(resp, self.max_response).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                call.record_mut().fail(Failure::TooLarge);
                finish(&mut call).await?;
                return Err(reqwest_middleware::Error::middleware(ResponseTooLarge {
                    limit: self.max_response,
                }));
            }
            Err(e) => {
                call.record_mut().fail(Failure::Transport);
                finish(&mut call).await?;
                return Err(e.into());
            }
        };
        let json = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        let record = call.record_mut();
        if !status.is_success() {
            record.fail(Failure::Status {
                status: status.as_u16(),
                error_type: json.as_ref().and_then(wire::error_type),
            });
        } else if let Some(v) = json.filter(serde_json::Value::is_object) {
            let _text = wire::apply_response(record, &v);
        } else {
            record.fail(Failure::InvalidResponse);
        }
        finish(&mut call).await?;
        Ok(rebuild(status, version, headers, bytes.into()))
    }
}

/// The whole body, or `None` once it exceeds `limit` bytes.
async fn read_all(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// The body passed on chunk by chunk while `audit` watches it.
fn tap(
    resp: reqwest::Response,
    audit: StreamAudit,
) -> impl futures_util::Stream<Item = Result<Bytes, BoxError>> + Send {
    let state = (resp.bytes_stream().boxed(), audit, false);
    futures_util::stream::unfold(state, |(mut inner, mut audit, done)| async move {
        if done {
            return None;
        }
        let (item, done) = match inner.next().await {
            Some(Ok(bytes)) => {
                let mut events = Vec::new();
                let mut end = audit.feed(&bytes, &mut events).err().map(|()| End::Invalid);
                for e in &events {
                    if end.is_some() {
                        break;
                    }
                    let effect = audit.apply(e);
                    if effect.error {
                        end = Some(End::ErrorEvent(e.data.clone()));
                    } else if effect.terminal {
                        end = Some(End::Complete);
                    }
                }
                match end {
                    None => (Ok(bytes), false),
                    Some(end) => match audit.end(end).await {
                        // Pass the final bytes on; the caller's SDK sees the error event itself.
                        Ok(_)
                        | Err(LlmError::StreamError { .. } | LlmError::InvalidResponse { .. }) => {
                            (Ok(bytes), false)
                        }
                        Err(e) => (Err(BoxError::from(e)), true),
                    },
                }
            }
            Some(Err(e)) => {
                let _ended = audit.end(End::Incomplete(None)).await;
                (Err(BoxError::from(e)), true)
            }
            None => {
                let end = audit.eof();
                match audit.end(end).await {
                    Ok(_) | Err(LlmError::StreamIncomplete { .. }) => return None,
                    Err(e) => (Err(BoxError::from(e)), true),
                }
            }
        };
        Some((item, (inner, audit, done)))
    })
}
