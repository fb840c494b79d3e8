//! # ai-audit
//!
//! Tamper-evident, independently verifiable decision receipts for AI systems. This is the crate
//! applications depend on; it re-exports [`audit_runtime`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(inline)]
pub use audit_runtime::*;
