//! Per-tenant hash chains on the sealing side: sequence numbers, `prev_receipt_hash`, and the
//! rule that a chain only ever grows at its tip.

use std::collections::BTreeMap;

use crate::receipt::{Receipt, TenantId};
use crate::seal::{SealError, SealedReceipt, Signer, seal};

/// Why a receipt could not be appended to a chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The receipt belongs to another tenant than the chain (caller's fault).
    #[error(
        "receipt for tenant {:?} cannot join the chain of tenant {:?}", .receipt_tenant.as_str(), .chain_tenant.as_str()
    )]
    TenantMismatch {
        /// The chain's tenant.
        chain_tenant: TenantId,
        /// The receipt's tenant.
        receipt_tenant: TenantId,
    },
    /// Sealing failed.
    #[error("sealing failed")]
    Seal(#[from] SealError),
}

/// The tip of one tenant's chain: the next sequence number and the last receipt's hash.
///
/// ```
/// use audit_runtime::{Chain, Receipt, SigningKey};
/// let key = SigningKey::generate()?;
/// let mut chain = Chain::genesis("acme");
/// let first = chain.append(Receipt::new("acme"), &key)?;
/// let second = chain.append(Receipt::new("acme"), &key)?;
/// assert_eq!(first.receipt().prev_receipt_hash, "");
/// assert_eq!(second.receipt().prev_receipt_hash, first.receipt_hash_hex());
/// assert_eq!(chain.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    tenant: TenantId,
    next_seq: u64,
    tip: Option<[u8; 32]>,
}

impl Chain {
    /// An empty chain: its first receipt will have `prev_receipt_hash == ""`.
    #[must_use]
    pub fn genesis(tenant: impl Into<TenantId>) -> Self {
        Self {
            tenant: tenant.into(),
            next_seq: 0,
            tip: None,
        }
    }

    /// A chain that continues after `len` receipts whose last hash is `tip` (e.g. read from a
    /// store on restart).
    #[must_use]
    pub fn resume(tenant: impl Into<TenantId>, len: u64, tip: [u8; 32]) -> Self {
        Self {
            tenant: tenant.into(),
            next_seq: len,
            tip: Some(tip),
        }
    }

    /// The tenant.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Number of receipts in the chain (= the sequence number the next receipt gets).
    #[must_use]
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// Whether the chain has no receipts yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// The last receipt's hash, or `None` for an empty chain.
    #[must_use]
    pub fn tip(&self) -> Option<[u8; 32]> {
        self.tip
    }

    /// The value the next receipt's `prev_receipt_hash` gets (`""` at genesis).
    #[must_use]
    pub fn tip_hex(&self) -> String {
        self.tip.map(hex::encode).unwrap_or_default()
    }

    /// Links `receipt` to the tip, seals it and advances the chain. On error the chain is
    /// unchanged.
    ///
    /// # Errors
    /// [`ChainError::TenantMismatch`], or [`ChainError::Seal`].
    pub fn append(
        &mut self,
        mut receipt: Receipt,
        signer: &dyn Signer,
    ) -> Result<SealedReceipt, ChainError> {
        if receipt.tenant_id != self.tenant {
            return Err(ChainError::TenantMismatch {
                chain_tenant: self.tenant.clone(),
                receipt_tenant: receipt.tenant_id,
            });
        }
        receipt.prev_receipt_hash = self.tip_hex();
        let sealed = seal(receipt, signer)?;
        self.tip = Some(sealed.receipt_hash());
        self.next_seq += 1;
        Ok(sealed)
    }
}

/// Sealed receipts of several tenants held in memory, one chain each, in append order.
///
/// This is the in-memory sequence for tests, examples and tools; it never evicts. Durable
/// storage is the job of a store.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    chains: BTreeMap<TenantId, (Chain, Vec<SealedReceipt>)>,
}

impl MemoryLedger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Seals `receipt` onto its tenant's chain and keeps it; returns its sequence number.
    ///
    /// # Errors
    /// As [`Chain::append`].
    pub fn append(&mut self, receipt: Receipt, signer: &dyn Signer) -> Result<u64, ChainError> {
        let tenant = receipt.tenant_id.clone();
        let (chain, receipts) = self
            .chains
            .entry(tenant.clone())
            .or_insert_with(|| (Chain::genesis(tenant), Vec::new()));
        let seq = chain.len();
        let sealed = chain.append(receipt, signer)?;
        receipts.push(sealed);
        Ok(seq)
    }

    /// A tenant's receipts in chain order.
    pub fn receipts(&self, tenant: &TenantId) -> &[SealedReceipt] {
        self.chains
            .get(tenant)
            .map(|(_, r)| r.as_slice())
            .unwrap_or_default()
    }

    /// A tenant's chain tip.
    #[must_use]
    pub fn chain(&self, tenant: &TenantId) -> Option<&Chain> {
        self.chains.get(tenant).map(|(c, _)| c)
    }

    /// The tenants, in order.
    pub fn tenants(&self) -> impl Iterator<Item = &TenantId> {
        self.chains.keys()
    }

    /// A tenant's receipts as JSONL (one line each, `\n` after every line).
    #[must_use]
    pub fn to_jsonl(&self, tenant: &TenantId) -> Vec<u8> {
        let mut out = Vec::new();
        for r in self.receipts(tenant) {
            r.write_jsonl_line(&mut out);
            out.push(b'\n');
        }
        out
    }
}
