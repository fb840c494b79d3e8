//! # ai-audit
//!
//! Tamper-evident, independently verifiable decision receipts for AI systems. This is the crate
//! applications depend on; it re-exports [`audit_runtime`], the [`audited`] attribute and (with
//! the `tracing` feature) the tracing layer.
//!
//! ```
//! use ai_audit::{audited, store::MemoryStore, Auditor, SigningKey};
//!
//! #[audited(tenant = "bank-eu", capture(application), model = "credit-scorer-7")]
//! fn decide(application: &str, risk: f64) -> Result<&'static str, String> {
//!     ai_audit::check("default_risk", risk, 0.7);
//!     if risk >= 0.7 {
//!         return Err("refer to underwriter".to_owned());
//!     }
//!     Ok("approve")
//! }
//!
//! // In main: the auditor `#[audited]` uses, until `audit` is dropped or shut down.
//! let audit = ai_audit::install(
//!     Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?,
//! )?;
//! assert_eq!(decide("Loan #42: income 52k, asking 18k", 0.31), Ok("approve"));
//! assert!(decide("Loan #43: income 20k, asking 90k", 0.93).is_err());
//! // Two receipts are on their way to the store: `allow` and `reject`. Shutting down (or
//! // dropping `audit` at the end of main) stores them, and fails if any was lost.
//! audit.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Feature flags
//! | feature | default | what |
//! |---|---|---|
//! | `runtime` | yes | the auditor, capture, stores (implied by every feature below; without it, only formats and verification) |
//! | `macros` | yes | `#[audited]` (and hashing of `serde::Serialize` values for its `capture(...)`) |
//! | `sqlite` | yes | the embedded SQLite store |
//! | `tracing` | no | [`AuditLayer`](tracing::AuditLayer): audit spans of `tracing` become receipts |
//! | `tokio` | no | `Auditor::emit_async` |
//! | `openai` | no | `llm::openai`: the audited OpenAI Chat Completions client (reqwest 0.13, whole and SSE) |
//! | `anthropic` | no | `llm::anthropic`: the audited Anthropic Messages client |
//! | `reqwest-middleware` | no | `llm::middleware::AuditMiddleware` for clients built on `reqwest-middleware` |
//! | `axum` | no | `http::AuditLayer` (tower 0.5 / axum 0.8) and `http::admin_router`, the authenticated export endpoint |
//! | `metrics` | no | the auditor's counters through the `metrics` facade (see [`metrics`]) |
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(inline)]
pub use audit_runtime::*;

/// Records one receipt per call of a function; see [`audit_macros::audited`].
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use audit_macros::audited;

/// The tracing layer: spans with `audit.tenant` become receipts (see [`audit_tracing`]).
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod tracing {
    pub use audit_tracing::*;
}

/// What `#[audited]` expands into. Not public API.
#[cfg(feature = "macros")]
#[doc(hidden)]
pub mod __private {
    pub use audit_runtime::capture;
}
