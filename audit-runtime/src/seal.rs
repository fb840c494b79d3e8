//! Sealing: the v1 seal payload is hashed (SHA-256, `receipt_hash`) and signed (Ed25519,
//! `signature`) through a [`Signer`], so keys can later live in a KMS or an HSM.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::canonical::{self, CanonicalError};
use crate::keys::{SigningKey, VerifyingKey};
use crate::receipt::Receipt;

/// Why a receipt could not be sealed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The receipt holds a value the v1 format cannot carry (caller's fault).
    #[error("the receipt cannot be canonicalized")]
    Canonical(#[from] CanonicalError),
    /// The signer failed (infrastructure: a KMS, an HSM, …).
    #[error("the signer failed to sign the receipt")]
    Signer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A checkpoint note that must not be signed: its origin or key name would add lines or
    /// fields of their own to the signed text (caller's fault; nothing was signed).
    #[error("refusing to sign a checkpoint note: {what}")]
    Note {
        /// What is wrong.
        what: &'static str,
    },
}

impl SealError {
    /// Whether retrying may succeed (only signer failures are retryable).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Signer(_))
    }
}

/// Something that signs seal payloads with Ed25519.
///
/// [`SigningKey`] implements it for keys held in memory.
pub trait Signer: Send + Sync + fmt::Debug {
    /// Signs `msg` (pure Ed25519).
    ///
    /// # Errors
    /// [`SealError::Signer`] when a remote signer fails.
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SealError>;

    /// The public key that verifies this signer's signatures.
    fn verifying_key(&self) -> VerifyingKey;
}

impl Signer for SigningKey {
    fn sign(&self, msg: &[u8]) -> Result<[u8; 64], SealError> {
        Ok(Self::sign(self, msg))
    }

    fn verifying_key(&self) -> VerifyingKey {
        Self::verifying_key(self)
    }
}

/// A receipt with its `receipt_hash` and `signature`, produced by [`seal`]. Immutable: to change
/// a receipt, seal a new one.
#[must_use]
#[derive(Clone, PartialEq)]
pub struct SealedReceipt {
    receipt: Receipt,
    hash: [u8; 32],
    signature: [u8; 64],
}

impl fmt::Debug for SealedReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedReceipt")
            .field("receipt_id", &self.receipt.receipt_id)
            .field("tenant_id", &self.receipt.tenant_id)
            .field("receipt_hash", &self.receipt_hash_hex())
            .finish_non_exhaustive()
    }
}

impl SealedReceipt {
    /// The sealed fields.
    #[must_use]
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The SHA-256 of the seal payload.
    #[must_use]
    pub fn receipt_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// `receipt_hash` as 64 lowercase hex characters.
    #[must_use]
    pub fn receipt_hash_hex(&self) -> String {
        canonical::to_hex(self.hash)
    }

    /// The Ed25519 signature over the seal payload.
    #[must_use]
    pub fn signature(&self) -> [u8; 64] {
        self.signature
    }

    /// `signature` as 128 lowercase hex characters.
    #[must_use]
    pub fn signature_hex(&self) -> String {
        canonical::to_hex(self.signature)
    }

    /// Appends the JSONL line (declaration order, no trailing newline).
    pub fn write_jsonl_line(&self, out: &mut Vec<u8>) {
        let mut hash_hex = [0u8; 64];
        let mut sig_hex = [0u8; 128];
        // Both buffers have exactly twice the input length, so encoding cannot fail.
        let h = hex::encode_to_slice(self.hash, &mut hash_hex).map(|()| &hash_hex[..]);
        let s = hex::encode_to_slice(self.signature, &mut sig_hex).map(|()| &sig_hex[..]);
        let h = h
            .ok()
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        let s = s
            .ok()
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        canonical::write_jsonl_line(&self.receipt, h, s, out);
    }

    /// The JSONL line (declaration order, no trailing newline).
    #[must_use]
    pub fn to_jsonl_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1100);
        self.write_jsonl_line(&mut out);
        out
    }

    /// The seal payload (recomputed).
    #[must_use]
    pub fn seal_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        canonical::write_payload_unchecked(&self.receipt, &mut out);
        out
    }

    /// Gives the receipt back.
    #[must_use]
    pub fn into_receipt(self) -> Receipt {
        self.receipt
    }
}

/// Seals `receipt` as it is (its `prev_receipt_hash` included): canonical payload, SHA-256,
/// Ed25519 signature.
///
/// Most callers seal through a chain ([`crate::Chain`]), which sets `prev_receipt_hash` first.
///
/// ```
/// use audit_runtime::{seal, Receipt, SigningKey};
/// let key = SigningKey::generate()?;
/// let sealed = seal(Receipt::new("acme"), &key)?;
/// assert_eq!(sealed.receipt_hash_hex().len(), 64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`SealError::Canonical`] for non-finite numbers; [`SealError::Signer`] if the signer fails.
pub fn seal(receipt: Receipt, signer: &dyn Signer) -> Result<SealedReceipt, SealError> {
    let mut payload = Vec::with_capacity(1024);
    canonical::write_seal_payload(&receipt, &mut payload)?;
    let hash: [u8; 32] = Sha256::digest(&payload).into();
    let signature = signer.sign(&payload)?;
    Ok(SealedReceipt {
        receipt,
        hash,
        signature,
    })
}
