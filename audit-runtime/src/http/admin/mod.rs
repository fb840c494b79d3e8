//! The admin router: `GET /admin/audit/export` streams an evidence bundle exactly as `ai-audit
//! export` writes it ([`crate::log::export_from_store`]: every receipt verified as it streams,
//! the checkpoint of exactly the exported receipts signed only over receipts that passed; a
//! tenant that lost acknowledged receipts is refused with 409) — and `GET /admin/audit/tip`
//! returns a chain's tip; both need `Authorization: Bearer <token>`.
//!
//! Every admitted request leaves a receipt in the admin tenant. Reads of evidence **fail open**:
//! when that receipt cannot be stored (a full or read-only disk is when evidence is needed
//! most), the export or tip is served anyway, the loss is counted (`AuditorStats::lost`
//! `.not_stored`, the sink's `emit_failures`, the metrics) and said on standard error.
//! Refused requests (a wrong or missing token) are rate limited per client and recorded as one
//! receipt per interval ([`refusals`]).

mod refusals;

pub use refusals::{DEFAULT_REFUSAL_INTERVAL, DEFAULT_REFUSALS_PER_INTERVAL};

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use ::axum::Router;
use ::axum::body::Body;
use ::axum::extract::{Query, State};
use ::axum::response::Response;
use ::axum::routing::get;
use ::http::{Extensions, HeaderMap, StatusCode, header};
use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::bundle::ExportMeta;
use crate::canonical::{canonicalize_input, hash_output, write_canonical_value};
use crate::json::{Object, Value};
use crate::log::export_from_store;
use crate::receipt::{Action, Receipt, TenantId};
use crate::seal::Signer;
use crate::sink::AuditSink;
use crate::store::{self, Bound};
use refusals::{Gate, Refusals};

/// The tenant whose chain records admin access (and, by default, the requests the
/// [`AuditLayer`](super::AuditLayer) refuses for their tenant).
pub const ADMIN_TENANT: &str = "ai-audit-admin";

/// Admin tokens shorter than this are refused.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why an [`AdminConfig`] cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminConfigError {
    /// The token is too short to resist guessing.
    #[error(
        "the admin token must be at least {MIN_TOKEN_LEN} characters; generate one with `openssl rand -hex 32`"
    )]
    TokenTooShort,
    /// The admin signer is not the key the auditor signs with: exports would carry manifests
    /// and checkpoints under another key than their receipts.
    #[error(
        "the admin signer's key {admin} is not the auditor's signing key {auditor}; pass the auditor's signer"
    )]
    KeyMismatch {
        /// Fingerprint of the admin signer's public key.
        admin: String,
        /// Fingerprint of the auditor's public key.
        auditor: String,
    },
}

/// What the admin router needs.
pub struct AdminConfig {
    sink: AuditSink,
    signer: Arc<dyn Signer>,
    token_hash: Zeroizing<[u8; 32]>,
    admin_tenant: TenantId,
    refusal_limit: (u32, Duration),
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("admin_tenant", &self.admin_tenant)
            .field("refusal_limit", &self.refusal_limit)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AdminConfig {
    /// Exports are read from `sink`'s store and their manifests signed by `signer` (the key that
    /// signed the receipts); requests must carry `Authorization: Bearer <token>`. Admin access is
    /// audited in tenant [`ADMIN_TENANT`] (`ai-audit-admin`).
    ///
    /// # Errors
    /// [`AdminConfigError::TokenTooShort`].
    pub fn new(
        sink: AuditSink,
        signer: Arc<dyn Signer>,
        token: impl AsRef<str>,
    ) -> Result<Self, AdminConfigError> {
        let token = token.as_ref();
        if token.len() < MIN_TOKEN_LEN {
            return Err(AdminConfigError::TokenTooShort);
        }
        let (admin, auditor) = (signer.verifying_key(), sink.auditor().verifying_key());
        if admin != auditor {
            return Err(AdminConfigError::KeyMismatch {
                admin: admin.fingerprint(),
                auditor: auditor.fingerprint(),
            });
        }
        Ok(Self {
            sink,
            signer,
            token_hash: Zeroizing::new(Sha256::digest(token.as_bytes()).into()),
            admin_tenant: TenantId::new(ADMIN_TENANT),
            refusal_limit: (DEFAULT_REFUSALS_PER_INTERVAL, DEFAULT_REFUSAL_INTERVAL),
        })
    }

    /// Each client may send `attempts` requests with a wrong or missing token per `interval`
    /// (default 10 per second); past that it gets `429 Too Many Requests` (with
    /// `Retry-After`) until the interval ends, whatever token it sends. The refusals of an
    /// interval are recorded as one receipt (`decision:admin.refused`, with the counts).
    ///
    /// ```
    /// # use std::{sync::Arc, time::Duration};
    /// # use audit_runtime::http::{admin_router, AdminConfig};
    /// # use audit_runtime::sink::AuditSink;
    /// # use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
    /// # let key = SigningKey::generate()?;
    /// # let sink = AuditSink::new(Auditor::builder().signer(key.clone()).store(MemoryStore::new()).build()?);
    /// let admin = AdminConfig::new(sink, Arc::new(key), "a-long-random-admin-token")?
    ///     .refusal_limit(5, Duration::from_secs(10));
    /// let router = admin_router(admin);
    /// # drop(router);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn refusal_limit(mut self, attempts: u32, interval: Duration) -> Self {
        self.refusal_limit = (attempts, interval);
        self
    }

    /// The tenant whose chain records admin access.
    #[must_use]
    pub fn admin_tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.admin_tenant = tenant.into();
        self
    }

    /// Constant-time check of the bearer token (both sides hashed first, so neither content
    /// nor length leaks through timing).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            // The auth scheme is case-insensitive (RFC 9110 §11.1).
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token))
        else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        bool::from(given.ct_eq(&*self.token_hash))
    }
}

/// What the routes share: the configuration and the refusal log.
struct Admin {
    config: AdminConfig,
    refusals: Arc<Refusals>,
}

/// The admin routes, to `merge` into an application's router (they carry their own state).
pub fn admin_router(config: AdminConfig) -> Router {
    let (attempts, interval) = config.refusal_limit;
    let refusals = Refusals::new(
        config.sink.clone(),
        config.admin_tenant.clone(),
        attempts,
        interval,
    );
    Router::new()
        .route("/admin/audit/export", get(export))
        .route("/admin/audit/tip", get(tip))
        .with_state(Arc::new(Admin { config, refusals }))
}

type Params = Query<HashMap<String, String>>;

fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut r = Response::new(Body::from(text.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            ::http::HeaderValue::from_static("Bearer"),
        );
    }
    r
}

/// Rate limits, authenticates and records the access; answers 429 / 401 when it must. A
/// refusal is counted in the interval's receipt; an admitted request's receipt is stored if it
/// can be, and its loss counted and said if not (reads of evidence fail open).
async fn admit(
    admin: &Admin,
    headers: &HeaderMap,
    extensions: &Extensions,
    op: &'static str,
    params: &HashMap<String, String>,
) -> Result<(), Response> {
    let config = &admin.config;
    if let Gate::Limited(wait) = admin.refusals.gate(extensions, op) {
        let mut r = plain(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests with a wrong admin token; retry later",
        );
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        r.headers_mut()
            .insert(header::RETRY_AFTER, ::http::HeaderValue::from(secs.max(1)));
        return Err(r);
    }
    if !config.authorized(headers) {
        admin.refusals.unauthorized(extensions, op);
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer <admin token>",
        ));
    }
    let mut query: Vec<_> = params.iter().collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    // Only a valid tenant is written out; any other text is in the query's hash alone.
    let tenant = match params.get("tenant").map(|t| TenantId::parse(t)) {
        None => "admin.tenant=".to_owned(),
        Some(Ok(t)) => format!("admin.tenant={t}"),
        Some(Err(_)) => "admin.tenant_invalid".to_owned(),
    };
    let mut r = Receipt::new(config.admin_tenant.clone())
        .with_action(Action::Allow)
        .with_reason(format!("decision:admin.{op}"))
        .with_reason(tenant)
        .with_reason("authorized");
    r.input_c14n = canonicalize_input(&query);
    r.output_hash = hash_output("status=200");
    match config.sink.emit(r).await {
        Ok(Some(_)) => {}
        // A fail-open sink counted the loss already.
        Ok(None) => eprintln!(
            "ai-audit admin: serving {op} although its access receipt could not be stored (counted in the auditor's lost receipts)"
        ),
        Err(e) => {
            config
                .sink
                .auditor()
                .report_lost(1, crate::LossCause::NotStored);
            eprintln!(
                "ai-audit admin: serving {op} although its access receipt could not be stored (counted in the auditor's lost receipts): {}",
                chain(&e)
            );
        }
    }
    Ok(())
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The `tenant` query parameter, checked with [`TenantId::parse`]; else what the 400 says.
/// A 500 that says what failed, to the client and on standard error (with the cause and its
/// sources, which the client does not get: the operator needs them, nobody else does).
fn server_error(tenant: &TenantId, what: &str, error: &dyn std::error::Error) -> Response {
    eprintln!(
        "ai-audit admin: {what} (tenant {:?}): {}",
        tenant.as_str(),
        chain(error)
    );
    plain(StatusCode::INTERNAL_SERVER_ERROR, what)
}

fn tenant_param(params: &HashMap<String, String>, usage: &str) -> Result<TenantId, String> {
    let Some(text) = params.get("tenant") else {
        return Err(usage.to_owned());
    };
    TenantId::parse(text).map_err(|e| format!("the tenant parameter is invalid: {e}"))
}

async fn tip(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(params): Params,
) -> Response {
    if let Err(r) = admit(&admin, &headers, &extensions, "tip", &params).await {
        return r;
    }
    let config = &admin.config;
    let tenant = match tenant_param(&params, "give ?tenant=…") {
        Ok(t) => t,
        Err(text) => return plain(StatusCode::BAD_REQUEST, text),
    };
    let store = Arc::clone(config.sink.auditor().store());
    let t = tenant.clone();
    let tip = tokio::task::spawn_blocking(move || store.tip(&t)).await;
    let tip = match tip {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return server_error(&tenant, "cannot read the store", &e),
        Err(e) => return server_error(&tenant, "cannot read the store", &e),
    };
    let mut o = Object::new();
    o.insert("tenant", Value::from(tenant.as_str()));
    o.insert("len", Value::from(tip.map_or(0, |t| t.len)));
    o.insert(
        "tip",
        Value::from(tip.map_or_else(String::new, |t| hex::encode(t.hash))),
    );
    o.insert(
        "public_key",
        Value::from(config.signer.verifying_key().to_hex()),
    );
    let mut out = Vec::new();
    write_canonical_value(&Value::from(o), &mut out);
    let mut r = Response::new(Body::from(out));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("application/json"),
    );
    r
}

fn bound(text: Option<&String>) -> Result<Option<Bound>, String> {
    text.map(|t| Bound::parse(t)).transpose().map_err(|e| {
        format!("from/to must be a sequence number or a time like 2026-03-01T12:00:00Z: {e}")
    })
}

/// Writes into the response body, 64 KiB at a time.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

/// Streams the bundle of `range` into `tx`, verifying every receipt as it goes and signing
/// the bundle's checkpoint (not stored) and manifest only over receipts that passed
/// ([`crate::log::export_from_store`], as `ai-audit export`); runs on a blocking thread.
fn write_bundle(
    config: &AdminConfig,
    meta: ExportMeta,
    range: Range<u64>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), String> {
    let auditor = config.sink.auditor();
    let out = ChannelWriter {
        tx,
        buf: Vec::with_capacity(CHUNK),
    };
    let mut summary = export_from_store(
        auditor.store().as_ref(),
        range,
        auditor.log_name(),
        config.signer.as_ref(),
        meta,
        out,
    )
    .map_err(|e| e.to_string())?;
    summary.output.flush().map_err(|e| e.to_string())
}

/// Why an export cannot start.
enum Refused {
    Range(store::RangeError),
    /// The store refuses the tenant (it lost acknowledged receipts): signing now would present
    /// the shorter history as whole.
    Fault(store::TenantFault),
}

/// The range to export; runs on a blocking thread.
fn plan(
    config: &AdminConfig,
    tenant: &TenantId,
    from: Option<Bound>,
    to: Option<Bound>,
) -> Result<(Range<u64>, ExportMeta), Refused> {
    let store = config.sink.auditor().store().as_ref();
    let faults = store
        .faults()
        .map_err(|e| Refused::Range(store::RangeError::Store(e)))?;
    if let Some((_, fault)) = faults.into_iter().find(|(t, _)| t == tenant) {
        return Err(Refused::Fault(fault));
    }
    let range = store::select_range(store, tenant, from, to).map_err(Refused::Range)?;
    Ok((range, ExportMeta::new(tenant.clone())))
}

async fn export(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    extensions: Extensions,
    Query(params): Params,
) -> Response {
    if let Err(r) = admit(&admin, &headers, &extensions, "export", &params).await {
        return r;
    }
    let tenant = match tenant_param(&params, "give ?tenant=…&from=…&to=…") {
        Ok(t) => t,
        Err(text) => return plain(StatusCode::BAD_REQUEST, text),
    };
    let (from, to) = match (bound(params.get("from")), bound(params.get("to"))) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return plain(StatusCode::BAD_REQUEST, e),
    };
    let c = Arc::clone(&admin);
    let t = tenant.clone();
    let planned = tokio::task::spawn_blocking(move || plan(&c.config, &t, from, to)).await;
    let (range, meta) = match planned {
        Ok(Ok(p)) => p,
        Ok(Err(Refused::Range(store::RangeError::Store(e)))) => {
            return server_error(&tenant, "cannot read the store", &e);
        }
        Ok(Err(Refused::Range(e))) => return plain(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(Refused::Fault(fault))) => {
            return plain(
                StatusCode::CONFLICT,
                format!(
                    "tenant {:?} is refused by the store: {fault}",
                    tenant.as_str()
                ),
            );
        }
        Err(e) => return server_error(&tenant, "export failed", &e),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let c = Arc::clone(&admin);
    let (start, end) = (range.start, range.end);
    let t = tenant.clone();
    drop(tokio::task::spawn_blocking(move || {
        if let Err(e) = write_bundle(&c.config, meta, range, tx.clone()) {
            eprintln!(
                "ai-audit admin: the export of tenant {:?} receipts {start}..{end} failed mid-stream; the client's download was broken off: {e}",
                t.as_str()
            );
            // The chunked body ends without its last chunk: the client sees a broken download,
            // never a short bundle that looks whole.
            let _gone = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    }));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        ::http::HeaderValue::from_static("application/zip"),
    );
    let name = format!(
        "attachment; filename=\"{}-{}-{}.zip\"",
        tenant
            .as_str()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>(),
        start,
        end
    );
    if let Ok(v) = ::http::HeaderValue::from_str(&name) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
