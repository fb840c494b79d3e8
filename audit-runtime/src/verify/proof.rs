//! Checking a standalone inclusion proof ([`TlogProof`], C2SP `tlog-proof@v1`) offline: the
//! checkpoint's signature, the receipt it carries, and the receipt's inclusion under the
//! checkpoint.
#![deny(clippy::indexing_slicing)]

use crate::keys::VerifyingKey;
use crate::merkle;
use crate::note::{Checkpoint, ProofError, TlogProof, leaf_of_line, origin_under, verify_note};
use crate::verify::{self, VerifiedReceipt};

/// A proof that verified: the checkpoint, the receipt and its index.
#[must_use]
#[derive(Clone, Debug)]
pub struct CheckedProof {
    /// The checkpoint (signed by the pinned key).
    pub checkpoint: Checkpoint,
    /// The receipt's leaf index.
    pub index: u64,
    /// The receipt (signature and self-hash verified).
    pub receipt: VerifiedReceipt,
}

impl TlogProof {
    /// Verifies the proof offline against the pinned `key`: the checkpoint's signature, the
    /// receipt's self-hash and signature, its tenant against the origin, and its inclusion. An
    /// unsigned (Checkpointed) receipt fails; see [`TlogProof::verify_accepting_checkpointed`].
    ///
    /// # Errors
    /// [`ProofError`] naming the first check that fails.
    pub fn verify(&self, key: &VerifyingKey) -> Result<CheckedProof, ProofError> {
        self.verify_with(key, false)
    }

    /// As [`TlogProof::verify`], but an unsigned receipt (`SealingMode::Checkpointed`)
    /// is accepted on its proven inclusion under the checkpoint. The trust this adds is that of
    /// [`crate::verify::VerifyOptions::accept_checkpointed`].
    ///
    /// # Errors
    /// [`ProofError`] naming the first check that fails.
    pub fn verify_accepting_checkpointed(
        &self,
        key: &VerifyingKey,
    ) -> Result<CheckedProof, ProofError> {
        self.verify_with(key, true)
    }

    fn verify_with(
        &self,
        key: &VerifyingKey,
        accept_unsigned: bool,
    ) -> Result<CheckedProof, ProofError> {
        let checkpoint = verify_note(&self.note, key).map_err(ProofError::Checkpoint)?;
        let line = self.extra.as_deref().ok_or(ProofError::NoReceipt)?;
        // A signed receipt must carry a valid signature; an unsigned (Checkpointed) one, when
        // accepted, is authenticated by the checkpoint it is proven to be included under.
        let checked = if accept_unsigned {
            verify::verify_covered_line(line, key)
        } else {
            verify::verify_line(line, key)
        };
        let receipt = checked.map_err(|findings| match findings.as_slice() {
            [only] if only.kind == verify::FindingKind::Unsigned => ProofError::Unsigned,
            _ => ProofError::Receipt {
                what: findings
                    .first()
                    .map_or_else(|| "unknown".to_owned(), |f| f.message.clone()),
            },
        })?;
        let want_origin = origin_under(&checkpoint, &receipt.receipt().tenant_id);
        if want_origin != checkpoint.origin {
            return Err(ProofError::WrongLog {
                tenant: receipt.receipt().tenant_id.as_str().to_owned(),
                origin: checkpoint.origin,
            });
        }
        let leaf = leaf_of_line(line).map_err(|e| ProofError::Receipt {
            what: e.to_string(),
        })?;
        merkle::verify_inclusion(
            &leaf,
            self.index,
            checkpoint.size,
            &self.path,
            &checkpoint.root,
        )
        .map_err(|source| ProofError::NotIncluded {
            index: self.index,
            size: checkpoint.size,
            source,
        })?;
        Ok(CheckedProof {
            checkpoint,
            index: self.index,
            receipt,
        })
    }
}
