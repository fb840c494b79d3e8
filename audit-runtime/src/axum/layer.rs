//! [`AuditLayer`]: one receipt per incoming request under a path prefix.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::response::Response;
use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};

use crate::canonical::{canonicalize_input, hash_output};
use crate::receipt::{Action, Receipt, ReceiptId, SessionId, TenantId, TraceId};
use crate::sink::AuditSink;

/// Default limit of the request body prefix that is hashed.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// What a tenant closure sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    parts: &'a ::http::request::Parts,
}

impl RequestHead<'_> {
    /// The method (`GET`, `POST`, …).
    #[must_use]
    pub fn method(&self) -> &str {
        self.parts.method.as_str()
    }

    /// The path.
    #[must_use]
    pub fn path(&self) -> &str {
        self.parts.uri.path()
    }

    /// A header's value, if present and text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type TenantFn = dyn Fn(&RequestHead<'_>) -> Option<TenantId> + Send + Sync;

#[derive(Clone)]
struct Config {
    sink: AuditSink,
    prefix: String,
    tenant_header: Option<String>,
    tenant_fn: Option<Arc<TenantFn>>,
    default_tenant: TenantId,
    trace_header: String,
    session_header: String,
    max_body: usize,
}

/// A tower 0.5 layer for axum 0.8 routers: every request whose path starts with the prefix
/// leaves one receipt when its response is ready.
///
/// | receipt field | value |
/// |---|---|
/// | `tenant_id` | the tenant closure's answer, else the tenant header, else the default tenant |
/// | `trace_id`, `session_id` | the trace header (`x-trace-id`; a random id when absent) and session header (`x-session-id`) |
/// | `input_c14n` | `canonicalize_input` of the first `max_body_bytes` of the body (UTF-8, invalid bytes replaced), as the Python middleware |
/// | `output_hash` | `hash_output("status={code}")`, or `"error"` / `"panicked"` |
/// | `action` | 2xx/3xx `allow`, 4xx/5xx `reject`; the handler's error or panic `fail_retry` |
/// | `reason_codes` | `decision:http`, `http.method=…`, `http.path=…`, `http.status=…`, `error` / `panicked` |
///
/// When the receipt cannot be stored and the sink is fail-closed, the client gets `503 Service
/// Unavailable` instead of the handler's response. A panic is re-raised after its receipt.
#[derive(Clone)]
#[must_use]
pub struct AuditLayer {
    config: Arc<Config>,
}

impl fmt::Debug for AuditLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayer")
            .field("prefix", &self.config.prefix)
            .field("tenant_header", &self.config.tenant_header)
            .field("default_tenant", &self.config.default_tenant)
            .field("max_body", &self.config.max_body)
            .finish_non_exhaustive()
    }
}

impl AuditLayer {
    /// Audits every path, for tenant `"default"`, hashing at most 64 KiB of each body.
    pub fn new(sink: AuditSink) -> Self {
        Self {
            config: Arc::new(Config {
                sink,
                prefix: "/".into(),
                tenant_header: None,
                tenant_fn: None,
                default_tenant: TenantId::new("default"),
                trace_header: "x-trace-id".into(),
                session_header: "x-session-id".into(),
                max_body: DEFAULT_MAX_BODY_BYTES,
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Audits only paths starting with `prefix`.
    pub fn path_prefix(self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.with(|c| c.prefix = prefix)
    }

    /// Takes the tenant from this header when present.
    pub fn tenant_header(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|c| c.tenant_header = Some(name))
    }

    /// Takes the tenant from this closure (before the header); `None` falls through.
    pub fn tenant_fn(
        self,
        f: impl Fn(&RequestHead<'_>) -> Option<TenantId> + Send + Sync + 'static,
    ) -> Self {
        self.with(|c| c.tenant_fn = Some(Arc::new(f)))
    }

    /// The tenant when neither closure nor header gives one.
    pub fn default_tenant(self, tenant: impl Into<TenantId>) -> Self {
        let tenant = tenant.into();
        self.with(|c| c.default_tenant = tenant)
    }

    /// The trace header (default `x-trace-id`).
    pub fn trace_header(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|c| c.trace_header = name)
    }

    /// The session header (default `x-session-id`).
    pub fn session_header(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|c| c.session_header = name)
    }

    /// How much of the body is hashed (default 64 KiB); the handler still gets all of it.
    pub fn max_body_bytes(self, n: usize) -> Self {
        self.with(|c| c.max_body = n)
    }
}

impl<S> tower_layer::Layer<S> for AuditLayer {
    type Service = AuditService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuditService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`AuditLayer`] wraps around a handler.
#[derive(Clone)]
pub struct AuditService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> fmt::Debug for AuditService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditService")
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

impl Config {
    fn receipt_for(&self, parts: &::http::request::Parts) -> Receipt {
        let head = RequestHead { parts };
        let tenant = self
            .tenant_fn
            .as_ref()
            .and_then(|f| f(&head))
            .or_else(|| {
                self.tenant_header
                    .as_deref()
                    .and_then(|h| head.header(h))
                    .map(TenantId::new)
            })
            .unwrap_or_else(|| self.default_tenant.clone());
        let trace = head.header(&self.trace_header).map_or_else(
            || TraceId::new(ReceiptId::random().into_string()),
            TraceId::new,
        );
        let mut r = Receipt::new(tenant)
            .with_trace(trace)
            .with_reason("decision:http")
            .with_reason(format!("http.method={}", head.method()))
            .with_reason(format!(
                "http.path={}",
                head.path().chars().take(256).collect::<String>()
            ));
        if let Some(s) = head.header(&self.session_header) {
            r = r.with_session(SessionId::new(s));
        }
        r
    }
}

/// Reads up to `max` bytes of `body`; returns them and a body that replays everything.
async fn capture(body: Body, max: usize) -> (Vec<u8>, Body) {
    let mut stream = body.into_data_stream();
    let mut captured = Vec::new();
    let mut seen: Vec<Result<Bytes, ::axum::Error>> = Vec::new();
    let mut ended = false;
    while captured.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let room = max - captured.len();
                captured.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                seen.push(Ok(chunk));
            }
            Some(Err(e)) => {
                seen.push(Err(e));
                ended = true;
                break;
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let body = if ended && seen.iter().all(Result::is_ok) {
        let mut all = Vec::new();
        for c in seen.into_iter().flatten() {
            all.extend_from_slice(&c);
        }
        Body::from(all)
    } else {
        Body::from_stream(futures_util::stream::iter(seen).chain(stream))
    };
    (captured, body)
}

/// The receipt a request owes, stored exactly once: by [`Owed::emit`] when the request ends, or
/// from `Drop` when the request's future is dropped first (reason `request_cancelled`; while an
/// emit is in flight, the same receipt is queued again and the store keeps one, by its id).
struct Owed {
    sink: AuditSink,
    receipt: Receipt,
    state: OwedState,
}

enum OwedState {
    Open,
    Emitting,
    Done,
}

impl Owed {
    fn new(sink: AuditSink, receipt: Receipt) -> Self {
        Self {
            sink,
            receipt,
            state: OwedState::Open,
        }
    }

    fn receipt_mut(&mut self) -> &mut Receipt {
        &mut self.receipt
    }

    async fn emit(&mut self) -> Result<Option<crate::Emitted>, crate::EmitError> {
        self.state = OwedState::Emitting;
        let result = self.sink.emit(self.receipt.clone()).await;
        self.state = OwedState::Done;
        result
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, OwedState::Done) {
            OwedState::Open => {
                let mut r = self.receipt.clone();
                r.action = Action::FailRetry;
                r.reason_codes.push("request_cancelled".into());
                r.output_hash = String::new();
                self.sink.emit_detached(r);
            }
            OwedState::Emitting => self.sink.emit_detached(self.receipt.clone()),
            OwedState::Done => {}
        }
    }
}

fn unavailable() -> Response {
    let mut r = Response::new(Body::from(
        "the audit receipt of this request could not be stored",
    ));
    *r.status_mut() = ::http::StatusCode::SERVICE_UNAVAILABLE;
    r
}

impl<S> tower_service::Service<Request> for AuditService<S>
where
    S: tower_service::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if !req.uri().path().starts_with(&self.config.prefix) {
            return Box::pin(self.inner.call(req));
        }
        // The clone that was made ready goes into the future; a fresh clone stays.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            // Owed from here on: if this future is dropped before the request ends (the client
            // disconnected, an outer timeout fired), the guard still stores the receipt.
            let mut owed = Owed::new(config.sink.clone(), config.receipt_for(&parts));
            let (captured, body) = capture(body, config.max_body).await;
            owed.receipt_mut().input_c14n = canonicalize_input(&String::from_utf8_lossy(&captured));
            let outcome = AssertUnwindSafe(inner.call(Request::from_parts(parts, body)))
                .catch_unwind()
                .await;
            let receipt = owed.receipt_mut();
            match outcome {
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    receipt.action = if status < 400 {
                        Action::Allow
                    } else {
                        Action::Reject
                    };
                    receipt.reason_codes.push(format!("http.status={status}"));
                    receipt.output_hash = hash_output(&format!("status={status}"));
                    match owed.emit().await {
                        Ok(_) => Ok(resp),
                        Err(_) => Ok(unavailable()),
                    }
                }
                Ok(Err(e)) => {
                    receipt.action = Action::FailRetry;
                    receipt.reason_codes.push("error".into());
                    receipt.output_hash = hash_output("error");
                    // The handler's error is what the caller sees; an emit failure is counted
                    // and observed by the sink.
                    let _emitted = owed.emit().await;
                    Err(e)
                }
                Err(panic) => {
                    receipt.action = Action::FailRetry;
                    receipt.reason_codes.push("panicked".into());
                    receipt.output_hash = hash_output("panicked");
                    let _emitted = owed.emit().await;
                    std::panic::resume_unwind(panic)
                }
            }
        })
    }
}
