//! [`AuditLayer`]: one receipt per incoming request under a path prefix.

mod body;
mod owed;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::axum::body::Body;
use ::axum::extract::Request;
use ::axum::response::Response;
use futures_util::FutureExt as _;
use futures_util::future::Either;

use super::ADMIN_TENANT;
use super::tenant::{
    AuditLayerError, Refused, TenantPolicy, TenantRefusal, TenantSettings, checked,
};
use crate::canonical::{canonicalize_input, hash_output, write_canonical_value};
use crate::json::{Object, Value};
use crate::receipt::{Action, Receipt, ReceiptId, SessionId, TenantId, TraceId};
use crate::sink::AuditSink;
use crate::tracker::{ReceiptTracker, TrackerCounts};
use owed::{Owed, cancelled};

/// Default limit of the request body prefix that is hashed.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// What a tenant resolver sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub(super) parts: &'a ::http::request::Parts,
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

    /// A header's value, if present exactly once and visible ASCII text (`None` for a
    /// repeated header: a proxy that appends leaves the client's own value first). Text the
    /// client sent: check it before trusting it (for a tenant, [`TenantId::parse`] and an
    /// allow-list).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.parts.headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok(),
            _ => None,
        }
    }

    /// A request extension an earlier layer inserted, such as the principal an authentication
    /// middleware verified: the usual trusted source of a tenant.
    #[must_use]
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.parts.extensions.get::<T>()
    }
}

#[derive(Debug)]
struct Config {
    sink: AuditSink,
    prefix: String,
    tenants: TenantPolicy,
    admin_tenant: TenantId,
    trace_header: String,
    session_header: String,
    max_body: usize,
    /// With [`AuditLayerBuilder::respond_when_durable`]: how long a response waits for the
    /// request's receipts.
    durable_within: Option<Duration>,
}

/// A tower 0.5 layer for axum 0.8 routers: every request whose path starts with the prefix
/// leaves one receipt when its response is ready. Built with [`AuditLayer::builder`].
///
/// **Tenants come from something the service trusts**: a header checked against an
/// allow-list ([`AuditLayerBuilder::tenant_header`] + [`AuditLayerBuilder::allowed_tenants`]),
/// a resolver ([`AuditLayerBuilder::tenant_fn`], e.g. from an authenticated principal), or one
/// tenant for a single-tenant service ([`AuditLayerBuilder::default_tenant`]); anything else is
/// refused when the layer is built. Every tenant is checked with [`TenantId::parse`].
///
/// | receipt field | value |
/// |---|---|
/// | `tenant_id` | the resolved tenant (also inserted into the request's extensions as a [`TenantId`] for the handler) |
/// | `trace_id`, `session_id` | the trace header (`x-trace-id`; a random id when absent or repeated) and session header (`x-session-id`), each cut to 128 characters; audited calls, traced spans and LLM calls the handler makes take the same trace id ([`crate::capture::in_trace`]). A refused request's receipt keeps neither. |
/// | `input_c14n` | `canonicalize_input` of the first `max_body_bytes` of the body (UTF-8, invalid bytes replaced), as the Python middleware |
/// | `output_hash` | `hash_output("status={code}")`, or `"error"` / `"panicked"` |
/// | `action` | 2xx/3xx `allow`, 4xx/5xx `reject`; the handler's error or panic `fail_retry` |
/// | `reason_codes` | `decision:http`, `http.method=…`, `http.path=…`, `http.status=…`, `error` / `panicked` |
///
/// **A refused tenant** (missing, malformed, invalid, or not allowed; see [`TenantRefusal`])
/// gets `400` or `403` with a plain-text reason, the handler is not called, nothing is stored
/// under the requested tenant, and the admin tenant ([`ADMIN_TENANT`] unless
/// [`AuditLayerBuilder::admin_tenant`] says otherwise) gets one `reject` receipt with reason
/// codes `decision:http`, `http.method=…`, `http.path=…`, `tenant_refused`, `tenant_missing` /
/// `tenant_invalid` / `tenant_not_allowed`, `http.status=…`, and as `input_c14n` the hash of
/// the tenant the request offered (never the text).
///
/// When a receipt (of a request or of a refusal) cannot be stored and the sink is
/// fail-closed, the client gets `503 Service Unavailable` instead. A panic is re-raised after
/// its receipt.
///
/// # Examples
/// ```
/// use audit_runtime::http::{AuditLayer, AuditLayerError, TenantRefusal};
/// use audit_runtime::sink::AuditSink;
/// use audit_runtime::{store::MemoryStore, Auditor, SigningKey, TenantId};
///
/// let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
/// let sink = AuditSink::new(auditor);
///
/// // Clients name their tenant in a header; only these two are served.
/// let layer = AuditLayer::builder(sink.clone())
///     .path_prefix("/v1/")
///     .tenant_header("x-tenant-id")
///     .allowed_tenants(["bank-eu", "acme"])
///     .build()?;
///
/// // Or a resolver decides, here from the host name a proxy vouches for.
/// let layer = AuditLayer::builder(sink.clone())
///     .tenant_fn(|head| match head.header("x-forwarded-host") {
///         Some("eu.bank.example") => Ok(TenantId::new("bank-eu")),
///         Some(_) => Err(TenantRefusal::NotAllowed),
///         None => Err(TenantRefusal::Missing),
///     })
///     .build()?;
///
/// // A header without an allow-list would let any client create a tenant.
/// let err = AuditLayer::builder(sink).tenant_header("x-tenant-id").build().unwrap_err();
/// assert!(matches!(err, AuditLayerError::HeaderWithoutAllowList { .. }));
/// # drop(layer);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct AuditLayer {
    config: Arc<Config>,
}

/// Builds an [`AuditLayer`]; [`AuditLayerBuilder::build`] checks the tenant policy.
#[must_use]
pub struct AuditLayerBuilder {
    sink: AuditSink,
    prefix: String,
    tenants: TenantSettings,
    admin_tenant: TenantId,
    trace_header: String,
    session_header: String,
    max_body: usize,
    durable_within: Option<Duration>,
}

impl fmt::Debug for AuditLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayerBuilder")
            .field("prefix", &self.prefix)
            .field("tenants", &self.tenants)
            .field("admin_tenant", &self.admin_tenant)
            .field("max_body", &self.max_body)
            .field("durable_within", &self.durable_within)
            .finish_non_exhaustive()
    }
}

impl AuditLayer {
    /// A builder that audits every path, hashing at most 64 KiB of each body; it needs a tenant
    /// source before it builds.
    pub fn builder(sink: AuditSink) -> AuditLayerBuilder {
        AuditLayerBuilder {
            sink,
            prefix: "/".into(),
            tenants: TenantSettings::default(),
            admin_tenant: TenantId::new(ADMIN_TENANT),
            trace_header: "x-trace-id".into(),
            session_header: "x-session-id".into(),
            max_body: DEFAULT_MAX_BODY_BYTES,
            durable_within: None,
        }
    }
}

impl AuditLayerBuilder {
    /// Audits only paths starting with `prefix` (default `/`), as the router the layer is on
    /// sees them: on a router given to `Router::nest("/api", …)` the nested router sees paths
    /// without `/api`, so put the layer on the outer router, or give the prefix without the
    /// nest's part. Requests outside the prefix pass through unaudited and unchecked.
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Clients name their tenant in this header; the value must be in
    /// [`AuditLayerBuilder::allowed_tenants`]. Without the header the request is refused
    /// (`tenant_missing`) unless a [`AuditLayerBuilder::default_tenant`] is set.
    pub fn tenant_header(mut self, name: impl Into<String>) -> Self {
        self.tenants.header = Some(name.into());
        self
    }

    /// The tenants this service serves; every resolved tenant must be one of them (with a
    /// resolver the list is optional).
    pub fn allowed_tenants<T: Into<TenantId>>(
        mut self,
        tenants: impl IntoIterator<Item = T>,
    ) -> Self {
        self.tenants.allowed = Some(tenants.into_iter().map(Into::into).collect());
        self
    }

    /// A resolver decides each request's tenant, or refuses it with a [`TenantRefusal`]. Its
    /// answer is still checked with [`TenantId::parse`] and, if set, against the allow-list.
    pub fn tenant_fn(
        mut self,
        f: impl Fn(&RequestHead<'_>) -> Result<TenantId, TenantRefusal> + Send + Sync + 'static,
    ) -> Self {
        self.tenants.resolver = Some(Arc::new(f));
        self
    }

    /// With a tenant header: the tenant of requests without it (it must be in the allow-list).
    /// Alone: the one tenant of a single-tenant service.
    pub fn default_tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenants.default = Some(tenant.into());
        self
    }

    /// The tenant that records refused requests (default [`ADMIN_TENANT`], as the admin router).
    pub fn admin_tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.admin_tenant = tenant.into();
        self
    }

    /// The trace header (default `x-trace-id`).
    pub fn trace_header(mut self, name: impl Into<String>) -> Self {
        self.trace_header = name.into();
        self
    }

    /// The session header (default `x-session-id`).
    pub fn session_header(mut self, name: impl Into<String>) -> Self {
        self.session_header = name.into();
        self
    }

    /// How much of the body is hashed (default 64 KiB); the handler still gets all of it.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }

    /// Sends each response only once every receipt of its request is durable: the layer's own,
    /// and those of the `#[audited]` calls and audit spans (the tracing layer's) that start
    /// while the handler runs, which their workers store in the background. Each request waits
    /// for its own receipts only (a [`ReceiptTracker`] per request), never for a global flush.
    ///
    /// If one of them cannot be stored, or they are not all durable within `timeout`, the
    /// client gets `503 Service Unavailable` with a JSON body
    /// `{"error":{"code":"receipts_not_durable",…}}` instead of the handler's response, and the
    /// request's receipt says so (`fail_retry`, reasons `receipts_not_durable`,
    /// `http.status=503`). Off by default: receipts written in the background are then
    /// durable shortly after the response, and [`crate::Auditor::flush`] or the install
    /// guard's shutdown waits for them.
    ///
    /// ```
    /// # use audit_runtime::http::AuditLayer;
    /// # use audit_runtime::sink::AuditSink;
    /// # use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
    /// # let sink = AuditSink::new(Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?);
    /// let layer = AuditLayer::builder(sink)
    ///     .path_prefix("/v1/decide")
    ///     .default_tenant("bank-eu")
    ///     .respond_when_durable(std::time::Duration::from_secs(5))
    ///     .build()?;
    /// # drop(layer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn respond_when_durable(mut self, timeout: Duration) -> Self {
        self.durable_within = Some(timeout);
        self
    }

    /// Checks the tenant policy and builds the layer.
    ///
    /// # Errors
    /// An [`AuditLayerError`] when tenants would not come from something the service trusts:
    /// no tenant source, a header without an allow-list, a header and a resolver together, an
    /// empty allow-list, a default outside the allow-list, or a configured tenant that
    /// [`TenantId::parse`] refuses.
    pub fn build(self) -> Result<AuditLayer, AuditLayerError> {
        let admin_tenant = checked(&self.admin_tenant)?;
        Ok(AuditLayer {
            config: Arc::new(Config {
                sink: self.sink,
                prefix: self.prefix,
                tenants: TenantPolicy::new(self.tenants, admin_tenant.clone())?,
                admin_tenant,
                trace_header: self.trace_header,
                session_header: self.session_header,
                max_body: self.max_body,
                durable_within: self.durable_within,
            }),
        })
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

/// Trace and session ids taken from a request are cut to this many characters.
const MAX_ID_CHARS: usize = 128;

impl Config {
    /// The receipt of a request in `tenant`, before its outcome is known. A refused request
    /// (`admitted` false) keeps neither the client's trace nor its session: its receipt goes
    /// into the admin chain, which no client text should shape.
    fn receipt_for(
        &self,
        parts: &::http::request::Parts,
        tenant: TenantId,
        admitted: bool,
    ) -> Receipt {
        let head = RequestHead { parts };
        let client = |name: &str| {
            head.header(name)
                .filter(|_| admitted)
                .map(|v| v.chars().take(MAX_ID_CHARS).collect::<String>())
        };
        let trace = client(&self.trace_header).map_or_else(
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
        if let Some(s) = client(&self.session_header) {
            r = r.with_session(SessionId::new(s));
        }
        r
    }

    /// Records a refused request in the admin tenant and answers it, without the handler.
    async fn refuse(&self, parts: &::http::request::Parts, refused: Refused) -> Response {
        let Refused { refusal, offered } = refused;
        let status = refusal.status_code();
        let mut r = self
            .receipt_for(parts, self.admin_tenant.clone(), false)
            .with_action(Action::Reject)
            .with_reason("tenant_refused")
            .with_reason(refusal.reason_code())
            .with_reason(format!("http.status={status}"));
        // The offered tenant is stored only as its hash: it may be anything a client sent.
        r.input_c14n = canonicalize_input(&offered);
        r.output_hash = hash_output(&format!("status={status}"));
        if Owed::new(self.sink.clone(), r).emit().await.is_err() {
            return unavailable();
        }
        let mut text = refusal.to_string();
        if let Some(source) = std::error::Error::source(&refusal) {
            text = format!("{text}: {source}");
        }
        if let (TenantRefusal::Missing, Some(h)) = (&refusal, self.tenants.header()) {
            text = format!("{text}; send the {h} header");
        }
        let mut resp = Response::new(Body::from(text));
        *resp.status_mut() =
            ::http::StatusCode::from_u16(status).unwrap_or(::http::StatusCode::BAD_REQUEST);
        resp.headers_mut().insert(
            ::http::header::CONTENT_TYPE,
            ::http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        resp
    }

    /// Records a request whose body broke off as cancelled, and answers 400 (which the client,
    /// gone, most likely never reads).
    async fn broken_off(&self, mut owed: Owed) -> Response {
        let r = owed.receipt_mut();
        cancelled(r);
        r.reason_codes.push("http.body_incomplete".into());
        if owed.emit().await.is_err() {
            return unavailable();
        }
        json_error(
            ::http::StatusCode::BAD_REQUEST,
            "body_incomplete",
            "the request body was not received completely",
        )
    }
}

/// A JSON error answer: `{"error":{"code":…,"message":…}}`.
fn json_error(status: ::http::StatusCode, code: &str, message: &str) -> Response {
    let mut error = Object::new();
    error.insert("code", Value::from(code));
    error.insert("message", Value::from(message));
    let mut o = Object::new();
    o.insert("error", Value::from(error));
    let mut out = Vec::new();
    write_canonical_value(&Value::from(o), &mut out);
    let mut r = Response::new(Body::from(out));
    *r.status_mut() = status;
    r.headers_mut().insert(
        ::http::header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn unavailable() -> Response {
    json_error(
        ::http::StatusCode::SERVICE_UNAVAILABLE,
        "receipt_not_stored",
        "the audit receipt of this request could not be stored; retry later",
    )
}

/// The answer to a request whose own receipts are not all durable.
fn not_durable(counts: TrackerCounts, timeout: Duration) -> Response {
    let message = if counts.failed > 0 {
        format!(
            "{} of the {} audit receipts this request produced could not be stored; its effects may have happened without evidence; retry later",
            counts.failed,
            counts.failed + counts.stored + counts.open
        )
    } else {
        format!(
            "{} audit receipt(s) of this request were not durable within {} ms; retry later",
            counts.open,
            timeout.as_millis()
        )
    };
    json_error(
        ::http::StatusCode::SERVICE_UNAVAILABLE,
        "receipts_not_durable",
        &message,
    )
}

/// Waits up to `timeout` for the tracker's receipts; `Err` with the counts unless all were
/// stored.
async fn durable(tracker: &ReceiptTracker, timeout: Duration) -> Result<(), TrackerCounts> {
    match tokio::time::timeout(timeout, tracker.settled()).await {
        Ok(c) if c.failed == 0 => Ok(()),
        Ok(c) => Err(c),
        Err(_) => Err(tracker.counts()),
    }
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
            let (mut parts, body) = req.into_parts();
            let tenant = match config.tenants.resolve(&RequestHead { parts: &parts }) {
                Ok(t) => t,
                // The handler is not called and the body is not read.
                Err(refused) => return Ok(config.refuse(&parts, refused).await),
            };
            parts.extensions.insert(tenant.clone());
            // Owed from here on: if this future is dropped before the request ends (the client
            // disconnected, an outer timeout fired), the guard still stores the receipt.
            let mut owed = Owed::new(
                config.sink.clone(),
                config.receipt_for(&parts, tenant, true),
            );
            let body::Captured {
                prefix,
                body,
                broken_off,
            } = body::capture(body, config.max_body).await;
            owed.receipt_mut().input_c14n = canonicalize_input(&String::from_utf8_lossy(&prefix));
            if broken_off.is_set() {
                // The client went away mid-body: nothing to hand the handler, nobody to answer.
                return Ok(config.broken_off(owed).await);
            }
            // Audited calls, traced spans and LLM calls made by the handler take the
            // request's trace id; with `respond_when_durable`, the receipts they leave report
            // to this request's tracker.
            let trace = owed.receipt_mut().trace_id.clone();
            let handled =
                crate::capture::in_trace(trace, inner.call(Request::from_parts(parts, body)));
            let tracker = config.durable_within.map(|t| (ReceiptTracker::new(), t));
            let handled = match &tracker {
                Some((t, _)) => Either::Left(t.scope(handled)),
                None => Either::Right(handled),
            };
            let outcome = AssertUnwindSafe(handled).catch_unwind().await;
            if broken_off.is_set() && matches!(outcome, Ok(Ok(_))) {
                // The handler saw the body break off (and most likely answered 400).
                return Ok(config.broken_off(owed).await);
            }
            let receipt = owed.receipt_mut();
            match outcome {
                Ok(Ok(mut resp)) => {
                    let status = resp.status().as_u16();
                    receipt.action = if status < 400 {
                        Action::Allow
                    } else {
                        Action::Reject
                    };
                    if let Some((tracker, timeout)) = tracker
                        && let Err(counts) = durable(&tracker, timeout).await
                    {
                        resp = not_durable(counts, timeout);
                        receipt.action = Action::FailRetry;
                        receipt.reason_codes.push("receipts_not_durable".into());
                    }
                    let status = resp.status().as_u16();
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
