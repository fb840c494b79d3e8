//! Standalone inclusion proofs in the C2SP `tlog-proof@v1` layout:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the receipt's exact JSONL line>
//! index <leaf index = the receipt's sequence number>
//! <base64 hash>            (the RFC 6962 inclusion path, leaf's sibling first)
//! …
//!
//! <the checkpoint note, verbatim>
//! ```
//!
//! The `extra` line carries the receipt itself, so the proof is checked offline: the receipt's
//! signature and self-hash under the pinned key, its leaf `SHA-256(0x00 ‖ seal payload)`, the
//! path up to the checkpoint's root, and the checkpoint's signature by the same key.
#![deny(clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::checkpoint::CheckpointError;
use crate::merkle::{Hash, MerkleError};

/// The first line of a `tlog-proof`.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Longest proof file accepted, in bytes.
pub const MAX_PROOF: usize = 16 << 20;
/// Most proof hashes accepted (a tree of 2^64 leaves needs 64).
const MAX_HASHES: usize = 64;

/// A parsed (not yet verified) `tlog-proof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// The leaf index.
    pub index: u64,
    /// The inclusion path, leaf's sibling first.
    pub path: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub note: String,
    /// The extra data: our receipt line.
    pub extra: Option<Vec<u8>>,
}

/// Why a `tlog-proof` is unreadable or does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Not in the `tlog-proof@v1` layout.
    #[error("not a c2sp.org/tlog-proof@v1 file: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// The proof carries no receipt (`extra` line) to check.
    #[error("the proof carries no receipt (no `extra` line); nothing to check inclusion of")]
    NoReceipt,
    /// The checkpoint is not validly signed by the pinned key.
    #[error("the proof's checkpoint does not verify")]
    Checkpoint(#[source] CheckpointError),
    /// The receipt does not verify under the pinned key.
    #[error("the receipt in the proof fails: {what}")]
    Receipt {
        /// The first failed check.
        what: String,
    },
    /// The receipt is unsigned (sealed in `SealingMode::Checkpointed` mode) and was checked with
    /// [`TlogProof::verify`], which requires a signature.
    #[error(
        "the receipt is unsigned (Checkpointed sealing): it is authenticated only by its inclusion under the checkpoint; accept that with --accept-checkpointed (TlogProof::verify_accepting_checkpointed)"
    )]
    Unsigned,
    /// The receipt belongs to another tenant than the checkpoint's log.
    #[error(
        "the receipt's tenant {tenant:?} is not the tenant of the checkpoint's origin {origin:?}"
    )]
    WrongLog {
        /// The receipt's tenant.
        tenant: String,
        /// The checkpoint's origin.
        origin: String,
    },
    /// The inclusion path does not lead to the checkpoint's root.
    #[error("the receipt is not at index {index} of the checkpointed tree of {size} leaves")]
    NotIncluded {
        /// Claimed index.
        index: u64,
        /// Checkpoint size.
        size: u64,
        /// What failed.
        #[source]
        source: MerkleError,
    },
}

impl TlogProof {
    /// A proof.
    #[must_use]
    pub fn new(index: u64, path: Vec<Hash>, note: String, extra: Option<Vec<u8>>) -> Self {
        Self {
            index,
            path,
            note,
            extra,
        }
    }

    /// The file text.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(512 + self.note.len());
        out.push_str(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note);
        out
    }

    /// Parses the file text.
    ///
    /// # Errors
    /// [`ProofError::Malformed`].
    pub fn parse(text: &str) -> Result<Self, ProofError> {
        let bad = |what| ProofError::Malformed { what };
        if text.len() > MAX_PROOF {
            return Err(bad("longer than 16 MiB"));
        }
        if text.contains("\r\n") {
            // Typically a file that passed through a Windows editor or a text-mode transfer.
            return Err(bad(
                "it has carriage returns (CRLF line ends); a tlog-proof ends its lines with \\n only: restore the original file (or convert it with dos2unix) and check again",
            ));
        }
        let (head, note) = text
            .split_once("\n\n")
            .ok_or(bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(bad("no index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                STANDARD
                    .decode(b64)
                    .map_err(|_| bad("the extra data is not base64"))?,
            );
            line = lines.next().ok_or(bad("no index line"))?;
        }
        let digits = line.strip_prefix("index ").ok_or(bad("no `index` line"))?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err(bad(
                "the index is not a decimal number without leading zeros",
            ));
        }
        let index: u64 = digits.parse().map_err(|_| bad("the index is too large"))?;
        let mut path = Vec::new();
        for l in lines {
            if path.len() == MAX_HASHES {
                return Err(bad("more than 64 proof hashes"));
            }
            let h: Hash = STANDARD
                .decode(l)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(bad("a proof line is not 32 bytes of base64"))?;
            path.push(h);
        }
        Ok(Self {
            index,
            path,
            note: note.to_owned(),
            extra,
        })
    }
}
