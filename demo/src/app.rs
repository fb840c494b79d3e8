//! The service's routes (also compiled into `tests/service_e2e.rs`):
//!
//! - `POST /v1/decide` — an audited decision: the `AuditLayer` leaves a receipt for the request,
//!   the audited LLM client one for the model call, and an audit span (the tracing layer, when
//!   installed) one for the policy that turns the answer into a decision.
//! - `POST /v1/chat/completions` — an OpenAI-compatible gateway: forwards to the upstream
//!   through the audited client, streaming or not, so any OpenAI SDK can sit in front of it.
//!
//! Clients name their tenant in `x-tenant-id`; only the configured tenants are served (the
//! layer refuses any other with 400/403 and a receipt in the admin tenant; the gateway answers
//! an OpenAI-shaped 400/403 and leaves the same receipt).
//!
//! Limits: a decision's body is at most [`DECIDE_MAX_BODY`] (413 beyond, recorded by the
//! layer), a gateway request's at most [`GATEWAY_MAX_BODY`]. A gateway request the gateway
//! refuses (413, a body that is not JSON, a tenant it does not serve) leaves a `reject` receipt
//! (`decision:gateway`, `gateway_refused`, the reason, `http.status=…`) in its tenant's chain,
//! or in the admin tenant when its tenant is not served; one whose body breaks off leaves a
//! `fail_retry` receipt with `request_cancelled`. A decision is answered only once all three of
//! its receipts are durable (`respond_when_durable`), else 503.
//! - `GET /admin/audit/export`, `GET /admin/audit/tip` — the admin router (bearer token).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ai_audit::canonical::{canonicalize_input, hash_output};
use ai_audit::http::{ADMIN_TENANT, AdminConfig, AuditLayer, admin_router};
use ai_audit::llm::{CallContext, Client, LlmError};
use ai_audit::sink::AuditSink;
use ai_audit::{Action, Receipt, SigningKey, TenantId};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;

/// What the routes need.
pub(crate) struct AppConfig {
    /// Receipts go here (fail-closed unless configured otherwise).
    pub(crate) sink: AuditSink,
    /// The key that signs receipts and exported manifests.
    pub(crate) key: SigningKey,
    /// The admin bearer token.
    pub(crate) admin_token: String,
    /// The audited client of the OpenAI-compatible upstream.
    pub(crate) openai: Client,
    /// The audited client of the Anthropic-compatible upstream.
    pub(crate) anthropic: Client,
    /// The model the decision endpoint asks.
    pub(crate) model: String,
    /// The tenants this service serves (named by clients in `x-tenant-id`).
    pub(crate) tenants: Vec<TenantId>,
}

/// The largest decision body (`/v1/decide`).
pub(crate) const DECIDE_MAX_BODY: usize = 64 * 1024;
/// The largest gateway body (`/v1/chat/completions`).
pub(crate) const GATEWAY_MAX_BODY: usize = 1024 * 1024;
/// How long a decision waits for its receipts before it answers 503.
pub(crate) const DURABLE_WITHIN: Duration = Duration::from_secs(5);

struct AppState {
    sink: AuditSink,
    openai: Client,
    anthropic: Client,
    model: String,
    tenants: BTreeSet<TenantId>,
}

/// Why the gateway refuses a request: what it answers and what its receipt says.
struct Refusal {
    status: StatusCode,
    /// The reason code after `gateway_refused`.
    code: &'static str,
    message: String,
    /// The tenant the client offered, hashed into a refusal in the admin tenant.
    offered: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            offered: None,
        }
    }
}

/// The gateway's tenant: `x-tenant-id`, a valid tenant id and one this service serves (the
/// `AuditLayer` checks the same for `/v1/decide`); else the refusal.
fn gateway_tenant(headers: &HeaderMap, served: &BTreeSet<TenantId>) -> Result<TenantId, Refusal> {
    let Some(text) = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "tenant_missing",
            "send your tenant in the x-tenant-id header",
        ));
    };
    let offered = |mut r: Refusal| {
        r.offered = Some(text.to_owned());
        r
    };
    let tenant = TenantId::parse(text).map_err(|e| {
        offered(Refusal::new(
            StatusCode::BAD_REQUEST,
            "tenant_invalid",
            format!("x-tenant-id is invalid: {e}"),
        ))
    })?;
    if !served.contains(&tenant) {
        return Err(offered(Refusal::new(
            StatusCode::FORBIDDEN,
            "tenant_not_allowed",
            "this tenant is not served here",
        )));
    }
    Ok(tenant)
}

/// Why a gateway body was not read.
enum BodyError {
    TooLarge,
    /// The connection broke off before the body ended.
    BrokenOff,
}

/// The whole body, if it is at most `max` bytes.
async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, BodyError> {
    use futures_util::StreamExt as _;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::BrokenOff)?;
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.into())
}

impl AppState {
    /// Records a gateway request that is not forwarded, and answers it: in its tenant's chain,
    /// or the admin tenant's when the tenant is refused (with only the hash of what it offered).
    async fn refuse(&self, tenant: Option<TenantId>, refusal: Refusal) -> Response {
        let status = refusal.status.as_u16();
        let mut r = Receipt::new(tenant.unwrap_or_else(|| TenantId::new(ADMIN_TENANT)))
            .with_action(Action::Reject)
            .with_reason("decision:gateway")
            .with_reason("gateway_refused")
            .with_reason(refusal.code)
            .with_reason(format!("http.status={status}"));
        if let Some(offered) = &refusal.offered {
            r.input_c14n = canonicalize_input(offered);
        }
        r.output_hash = hash_output(&format!("status={status}"));
        self.answer_after(r, refusal.status, &refusal.message).await
    }

    /// Records a gateway request whose body broke off mid-way.
    async fn cancelled(&self, tenant: TenantId) -> Response {
        let r = Receipt::new(tenant)
            .with_action(Action::FailRetry)
            .with_reason("decision:gateway")
            .with_reason("request_cancelled")
            .with_reason("http.body_incomplete");
        self.answer_after(
            r,
            StatusCode::BAD_REQUEST,
            "the request body was not received completely",
        )
        .await
    }

    /// Stores `r`, then answers `status` with `message` (503 if `r` cannot be stored).
    async fn answer_after(&self, r: Receipt, status: StatusCode, message: &str) -> Response {
        if self.sink.emit(r).await.is_err() {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "the audit receipt of this request could not be stored",
            );
        }
        error_response(status, message)
    }
}

fn call_context(headers: &HeaderMap, tenant: TenantId) -> CallContext {
    let mut ctx = CallContext::new(tenant);
    if let Some(t) = headers.get("x-trace-id").and_then(|v| v.to_str().ok()) {
        ctx = ctx.with_trace(t);
    }
    if let Some(s) = headers.get("x-session-id").and_then(|v| v.to_str().ok()) {
        ctx = ctx.with_session(s);
    }
    ctx
}

/// The app's router.
pub(crate) fn router(config: AppConfig) -> anyhow::Result<Router> {
    let admin = AdminConfig::new(
        config.sink.clone(),
        Arc::new(config.key.clone()),
        &config.admin_token,
    )?;
    let layer = AuditLayer::builder(config.sink.clone())
        .path_prefix("/v1/decide")
        .tenant_header("x-tenant-id")
        .allowed_tenants(config.tenants.iter().cloned())
        // A decision is answered only once its receipts (the request's, the LLM call's and the
        // policy span's) are durable.
        .respond_when_durable(DURABLE_WITHIN)
        .build()?;
    let state = Arc::new(AppState {
        sink: config.sink,
        openai: config.openai,
        anthropic: config.anthropic,
        model: config.model,
        tenants: config.tenants.into_iter().collect(),
    });
    Ok(Router::new()
        .route(
            "/v1/decide",
            post(decide).layer(DefaultBodyLimit::max(DECIDE_MAX_BODY)),
        )
        .route("/v1/chat/completions", post(gateway))
        .with_state(state)
        .layer(layer)
        .merge(admin_router(admin)))
}

fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// An OpenAI-shaped error body.
fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "gateway_error", "param": null, "code": null}});
    json_response(status, body.to_string())
}

/// The upstream's error status and body are passed on; anything else is a 502.
fn upstream_error(e: &LlmError) -> Response {
    match e {
        LlmError::Status { status, body, .. } => json_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            body.clone(),
        ),
        LlmError::Emit(_) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit receipt of this call could not be stored",
        ),
        other => error_response(StatusCode::BAD_GATEWAY, &other.to_string()),
    }
}

/// `POST /v1/decide` with `{"application": "…", "provider": "openai"|"anthropic"}`.
/// The tenant is the one the `AuditLayer` resolved and checked.
async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(tenant): Extension<TenantId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return error_response(StatusCode::BAD_REQUEST, "send a JSON object");
    };
    let Some(application) = req.get("application").and_then(|v| v.as_str()) else {
        return error_response(StatusCode::BAD_REQUEST, "give \"application\"");
    };
    let ctx = call_context(&headers, tenant);
    let anthropic = req.get("provider").and_then(|v| v.as_str()) == Some("anthropic");
    let (client, model) = if anthropic {
        (&state.anthropic, "claude-sonnet-4-5")
    } else {
        (&state.openai, state.model.as_str())
    };
    let prompt = serde_json::json!({
        "model": model,
        "max_tokens": 128,
        "temperature": 0,
        "messages": [
            {"role": "user", "content": format!("Assess this loan application; answer approve or refer, with a reason: {application}")}
        ],
    });
    let answer = match client.chat_in(&ctx, &prompt).await {
        Ok(a) => a,
        Err(e) => return upstream_error(&e),
    };
    let decision = if answer.text().to_lowercase().contains("refer") {
        "refer"
    } else {
        "approve"
    };
    {
        // The policy step is an audit span: the tracing layer turns it into a receipt.
        let span = tracing::info_span!(
            "loan_policy",
            audit.tenant = ctx.tenant.as_str(),
            audit.input = application,
            audit.output = decision,
            audit.model = answer.model().unwrap_or(model),
            audit.action = if decision == "approve" {
                "allow"
            } else {
                "escalate"
            },
        );
        let _entered = span.enter();
    }
    let out = serde_json::json!({
        "decision": decision,
        "answer": answer.text(),
        "model": answer.model(),
        "llm_receipt": answer.receipt().map(|r| r.receipt_id.as_str().to_owned()),
    });
    json_response(StatusCode::OK, out.to_string())
}

/// `POST /v1/chat/completions`: the auditing gateway.
async fn gateway(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let tenant = match gateway_tenant(&headers, &state.tenants) {
        Ok(t) => t,
        Err(refusal) => return state.refuse(None, refusal).await,
    };
    let body = match read_body(&headers, body, GATEWAY_MAX_BODY).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            let message = format!("the body is larger than {GATEWAY_MAX_BODY} bytes");
            let refusal = Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message);
            return state.refuse(Some(tenant), refusal).await;
        }
        Err(BodyError::BrokenOff) => return state.cancelled(tenant).await,
    };
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        let refusal = Refusal::new(
            StatusCode::BAD_REQUEST,
            "body_not_json",
            "the body is not JSON",
        );
        return state.refuse(Some(tenant), refusal).await;
    };
    let ctx = call_context(&headers, tenant);
    if req.get("stream").and_then(serde_json::Value::as_bool) != Some(true) {
        return match state.openai.chat_in(&ctx, &req).await {
            Ok(c) => json_response(StatusCode::OK, c.body().to_vec()),
            Err(e) => upstream_error(&e),
        };
    }
    let stream = match state.openai.chat_stream_in(&ctx, &req).await {
        Ok(s) => s,
        Err(e) => return upstream_error(&e),
    };
    // Each event is passed on as it arrives; an error (a broken upstream, or a receipt that
    // cannot be stored) breaks the response off, so the client never sees a clean end.
    let frames = futures_util::stream::unfold(stream, |mut s| async move {
        match s.next().await? {
            Ok(ev) => Some((Ok::<_, LlmError>(Bytes::from(ev.sse.to_frame())), s)),
            Err(e) => Some((Err(e), s)),
        }
    });
    let mut r = Body::from_stream(frames).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
