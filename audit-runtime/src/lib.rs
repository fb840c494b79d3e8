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
//! ## Two halves
//! The **pure half** — formats and verification, no store, no threads, no async, no I/O beyond
//! `Read`/`Write` — is what an auditor compiles (`default-features = false`):
//! [`receipt`] (the data), [`json`] (the value model and strict parser), [`canonical`] (the
//! bytes that are hashed and signed), [`keys`], [`seal`](mod@seal), [`chain`], [`merkle`],
//! [`note`] (checkpoints and proof files), [`bundle`] (evidence ZIPs) and [`verify`].
//!
//! The **running half** (feature `runtime`, on by default) keeps records and may use the pure
//! half, never the other way round: the `Auditor`, `capture` (one receipt per audited call; what
//! `#[audited]` expands into), `sink` (the emit-failure policy of the integrations), `tracker`
//! (waiting for the receipts of one request), `store`, `log` (keeping the transparency log,
//! exporting from a store, recording gaps), `config`, `metrics`, `llm` (features `openai`,
//! `anthropic`, `reqwest-middleware`: audited LLM calls) and `http` (feature `axum`: the request
//! layer and the admin export router). `tests/module_graph.rs` checks that the module graph has
//! no cycle and that no pure module names a running one. The receipt format is specified in
//! `docs/receipt-format.md`.
//!
//! | feature | default | what |
//! |---|---|---|
//! | `runtime` | yes | the running half (implied by every feature below) |
//! | `sqlite` | yes | the embedded SQLite store |
//! | `tokio` | no | `Auditor::emit_async` |
//! | `serde` | no | `json::to_value` and capture hashing of `serde::Serialize` values |
//! | `openai`, `anthropic` | no | `llm::openai`, `llm::anthropic` |
//! | `reqwest-middleware` | no | `llm::middleware` |
//! | `axum` | no | `http`: the tower layer and the admin export router |
//! | `metrics` | no | the auditor's counters through the `metrics` facade |
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The pure half: formats and verification.
pub mod bundle;
pub mod canonical;
pub mod chain;
pub mod json;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod platform;
pub mod receipt;
pub mod seal;
pub mod verify;
#[doc(hidden)]
pub mod workload;

// The running half (feature `runtime`): it uses the pure half, never the other way round.
#[cfg(feature = "runtime")]
mod auditor;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod capture;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod config;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
#[cfg(feature = "runtime")]
mod install;
#[cfg(feature = "llm")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "openai", feature = "anthropic"))))]
pub mod llm;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod log;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod metrics;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod sink;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod store;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod tracker;

pub use canonical::CanonicalError;
pub use chain::{Chain, ChainError, MemoryLedger};
pub use keys::{KeyError, KeyId, SigningKey, VerifyingKey};
pub use receipt::{
    Action, CheckRecord, Receipt, ReceiptId, SessionId, TenantId, TenantIdError, Timestamp,
    TimestampError, TraceId, UtcOffset,
};
pub use seal::{SealError, SealedReceipt, Signer, seal};
pub use verify::{Verdict, VerificationReport};

#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use auditor::{
    Auditor, AuditorBuilder, AuditorError, AuditorStats, DEFAULT_CHECKPOINT_INTERVAL,
    DEFAULT_CHECKPOINT_RECEIPTS, DEFAULT_MAX_BATCH, DEFAULT_QUEUE_BOUND, EmitError, Emitted,
    LossCause, Lost, PendingEmit, SealingMode, ShutdownError, StoreKey, Upstream,
};
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use capture::{check, reason, set_action, set_model};
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use config::{AuditConfig, ConfigError, KeySource};
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub use install::{InstallError, InstallGuard, install};

/// This crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
