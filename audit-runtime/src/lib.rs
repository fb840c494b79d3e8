//! # audit-runtime
//!
//! The runtime of **ai-audit**: tamper-evident, independently verifiable decision receipts for
//! AI systems, byte-compatible with the v1 formats of the Python library `ai-audit-trail` 0.4.x.
//!
//! ```
//! use audit_runtime::{verify, Action, CheckRecord, MemoryLedger, Receipt, SigningKey, TenantId};
//!
//! let key = SigningKey::generate()?;
//! let mut ledger = MemoryLedger::new();
//! ledger.append(
//!     Receipt::new("acme")
//!         .with_input_text("Approve loan #42?")
//!         .with_output_text("Declined: income below threshold")
//!         .with_check(CheckRecord::new("affordability", 0.31, 0.5))
//!         .with_action(Action::Reject)
//!         .with_model("credit-model-7"),
//!     &key,
//! )?;
//! let jsonl = ledger.to_jsonl(&TenantId::new("acme"));
//! let report = verify::verify_jsonl(&jsonl[..], &verify::VerifyOptions::pinned(key.verifying_key()))?;
//! assert!(report.is_pass());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules: [`receipt`] (the data), [`canonical`] (the bytes that are hashed and signed),
//! [`capture`] (one receipt per audited call; what `#[audited]` expands into),
//! [`keys`], [`seal`](mod@seal), [`chain`], [`store`], [`verify`], [`config`], and the [`Auditor`];
//! [`sink`] (the emit-failure policy of the integrations), [`tracker`] (waiting for the receipts of
//! one request), `llm` (features `openai`,
//! `anthropic`, `reqwest-middleware`: audited LLM calls) and `axum` (feature `axum`: the
//! request layer and the admin export router). The receipt format is specified in
//! `docs/receipt-format.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auditor;
pub mod bundle;
pub mod canonical;
pub mod capture;
pub mod chain;
pub mod config;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
mod install;
pub mod json;
pub mod keys;
#[cfg(feature = "llm")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "openai", feature = "anthropic"))))]
pub mod llm;
pub mod log;
pub mod merkle;
pub mod metrics;
pub mod note;
mod platform;
pub mod receipt;
pub mod seal;
pub mod sink;
pub mod store;
pub mod tracker;
pub mod verify;
#[doc(hidden)]
pub mod workload;

pub use auditor::{
    Auditor, AuditorBuilder, AuditorError, AuditorStats, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_CHECKPOINT_RECEIPTS, DEFAULT_MAX_BATCH, DEFAULT_QUEUE_BOUND, EmitError, Emitted,
    LossCause, Lost, PendingEmit, ShutdownError, StoreKey, Upstream,
};
pub use canonical::CanonicalError;
pub use capture::{check, reason, set_action, set_model};
pub use chain::{Chain, ChainError, MemoryLedger};
pub use config::{AuditConfig, ConfigError, KeySource};
pub use install::{InstallError, InstallGuard, install};
pub use keys::{KeyError, KeyId, SigningKey, VerifyingKey};
pub use platform::{CpuFeatures, cpu_features};
pub use receipt::{
    Action, CheckRecord, Receipt, ReceiptId, SessionId, TenantId, TenantIdError, Timestamp,
    TimestampError, TraceId, UtcOffset,
};
pub use seal::{SealError, SealedReceipt, SealingMode, Signer, seal};
pub use verify::{Verdict, VerificationReport};

/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
