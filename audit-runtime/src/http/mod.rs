//! HTTP services (feature `axum`): [`AuditLayer`], a tower 0.5 layer that leaves one receipt
//! per incoming request, and [`admin_router`], the authenticated export endpoint for operators.
//!
//! ```
//! use std::sync::Arc;
//! use audit_runtime::http::{admin_router, AdminConfig, AuditLayer};
//! use audit_runtime::sink::AuditSink;
//! use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
//!
//! let key = SigningKey::generate()?;
//! let auditor = Auditor::builder().signer(key.clone()).store(MemoryStore::new()).build()?;
//! let sink = AuditSink::new(auditor);
//! let app = axum::Router::new()
//!     .route("/decide", axum::routing::post(|body: String| async move { format!("ok: {}", body.len()) }))
//!     .layer(
//!         AuditLayer::builder(sink.clone())
//!             .path_prefix("/decide")
//!             .tenant_header("x-tenant-id")
//!             .allowed_tenants(["bank-eu", "acme"])
//!             .build()?,
//!     )
//!     .merge(admin_router(AdminConfig::new(sink, Arc::new(key), "a-long-random-admin-token")?));
//! # drop(app);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod admin;
mod layer;
mod tenant;

pub use admin::{
    ADMIN_TENANT, AdminConfig, AdminConfigError, DEFAULT_REFUSAL_INTERVAL,
    DEFAULT_REFUSALS_PER_INTERVAL, MIN_TOKEN_LEN, admin_router,
};
pub use layer::{AuditLayer, AuditLayerBuilder, AuditService, DEFAULT_MAX_BODY_BYTES, RequestHead};
pub use tenant::{AuditLayerError, TenantRefusal};
