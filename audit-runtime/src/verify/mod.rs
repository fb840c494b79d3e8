//! What an auditor runs: strict, streaming verification of v1 receipts and their chain.
//!
//! [`ChainVerifier`] takes receipt lines in file (store) order — never timestamp order — and
//! checks each line's strict parse, canonical spelling, self-hash and Ed25519 signature under a
//! pinned key (in parallel across cores), then the chain: genesis, links, duplicate ids and
//! tenant. Every failure becomes a [`Finding`]; nothing stops at the first one.
//!
//! ```
//! use audit_runtime::{verify, MemoryLedger, Receipt, SigningKey, TenantId};
//! let key = SigningKey::generate()?;
//! let mut ledger = MemoryLedger::new();
//! for _ in 0..3 {
//!     ledger.append(Receipt::new("acme"), &key)?;
//! }
//! let jsonl = ledger.to_jsonl(&TenantId::new("acme"));
//! let opts = verify::VerifyOptions::pinned(key.verifying_key());
//! let report = verify::verify_jsonl(&jsonl[..], &opts)?;
//! assert!(report.is_pass());
//! assert_eq!(report.receipts, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]
#![deny(clippy::too_many_lines)]

mod bundle;
mod chain;
mod crosscheck;
mod finding;
mod line;
mod options;
mod proof;
mod read_line;
mod report;
mod stream;
mod tree;

use std::io::BufRead;

pub use bundle::{BundleReport, verify_bundle, verify_bundle_with_progress};
pub use chain::{ChainVerifier, TreeOutcome};
pub use finding::{Finding, FindingKind};
pub use line::{VerifiedReceipt, verify_covered_line, verify_line};
pub use options::{DEFAULT_MAX_FINDINGS, DEFAULT_MAX_LINE_BYTES, VerifyOptions};
pub use proof::CheckedProof;
pub use read_line::LineRead;
pub(crate) use read_line::read_line_bounded;
pub use report::{ChainOrder, GapNotice, Verdict, VerificationReport};
pub use stream::Progress;

use crate::bundle::ExportError;

/// Why verification could not run at all (as opposed to evidence that fails).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Reading the input failed.
    #[error("cannot read the receipts")]
    Io(#[from] std::io::Error),
    /// The evidence bundle was refused before or while reading it (not a ZIP, truncated, unsafe
    /// names, symbolic links, duplicates, size or ratio limits).
    #[error("the evidence bundle is refused: {0}")]
    Bundle(#[from] ExportError),
}

/// Batch size for streaming verification.
const BATCH: usize = 4096;

/// Verifies a JSONL stream of one tenant's receipts (lines split on `\n` bytes only).
///
/// # Errors
/// [`VerifyError::Io`] if reading fails. Bad evidence is not an error: it is in the report.
pub fn verify_jsonl<R: BufRead>(
    mut reader: R,
    opts: &VerifyOptions,
) -> Result<VerificationReport, VerifyError> {
    let mut v = ChainVerifier::new(opts.clone());
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_bounded(&mut reader, &mut buf, opts.max_line_bytes)? {
            LineRead::Eof => break,
            LineRead::Line => batch.push(std::mem::take(&mut buf)),
            LineRead::TooLong => {
                v.push_batch(&batch);
                batch.clear();
                v.push_unreadable(
                    FindingKind::LineTooLong,
                    read_line::too_long_message(opts.max_line_bytes),
                );
            }
        }
        if batch.len() >= BATCH {
            v.push_batch(&batch);
            batch.clear();
        }
    }
    v.push_batch(&batch);
    Ok(v.finish())
}

/// Verifies one tenant's chain from an iterator of lines (e.g. a store query), in batches.
///
/// ```
/// # #[cfg(feature = "runtime")] {
/// use audit_runtime::store::{self, MemoryStore, Store};
/// use audit_runtime::{verify, Auditor, Receipt, SigningKey, TenantId};
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let key = SigningKey::generate()?;
/// let auditor = Auditor::builder().signer(key.clone()).shared_store(store.clone()).build()?;
/// auditor.emit(Receipt::new("acme"))?;
/// let lines = store::receipts(store.as_ref(), &TenantId::new("acme"), 0..u64::MAX)
///     .map(|e| e.map(|e| e.line));
/// let report = verify::verify_lines(lines, &verify::VerifyOptions::pinned(key.verifying_key()))?;
/// assert!(report.is_pass());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The first error of the iterator (reading stopped there).
pub fn verify_lines<I, L, E>(lines: I, opts: &VerifyOptions) -> Result<VerificationReport, E>
where
    I: IntoIterator<Item = Result<L, E>>,
    L: AsRef<[u8]> + Sync,
{
    let mut v = ChainVerifier::new(opts.clone());
    let mut batch: Vec<L> = Vec::with_capacity(BATCH);
    for line in lines {
        batch.push(line?);
        if batch.len() >= BATCH {
            v.push_batch(&batch);
            batch.clear();
        }
    }
    v.push_batch(&batch);
    Ok(v.finish())
}
