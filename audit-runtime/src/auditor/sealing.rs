//! How an auditor authenticates the receipts it stores: [`SealingMode`].

/// How an [`crate::Auditor`] authenticates the receipts it stores.
///
/// Both modes hash every receipt, link it to its tenant's chain and append its seal payload to
/// the tenant's Merkle tree; they differ in what is signed.
///
/// - [`SealingMode::PerReceipt`] (the default) signs every receipt (Ed25519 over its seal
///   payload): the v1 format, verifiable receipt by receipt, also by the Python library.
/// - [`SealingMode::Checkpointed`] signs only the tenant's checkpoints (signed tree heads, every
///   N receipts or T ms, on export and on shutdown). A receipt's `signature` is then the empty
///   string, and the receipt is authenticated by its inclusion under a signed checkpoint: an
///   evidence bundle's checkpoint, or an inclusion proof (`ai-audit prove`). This saves the
///   Ed25519 signature, the dominant cost of sealing. Until the next checkpoint covers them,
///   the newest receipts are durable and chained but not yet signed.
///
/// A tenant may switch modes between runs: its chain and tree continue unchanged, every line
/// shows how it was sealed, and an auditor signs a checkpoint for every tenant whose newest
/// receipts no checkpoint covers yet when it opens its store, so the boundary between the modes
/// is always under a signature. Verifiers check signed receipts by their signature; unsigned
/// ones pass only when the verifier opts in
/// ([`crate::verify::VerifyOptions::accept_checkpointed`]) and a verified checkpoint covers
/// them. The writer tags every unsigned line it stores (an HMAC under a key derived from the
/// signing key), and no checkpoint is signed over a line without a valid signature or tag
/// (`docs/transparency.md` §6).
///
/// ```
/// use audit_runtime::store::MemoryStore;
/// use audit_runtime::{Auditor, Receipt, SealingMode, SigningKey, TenantId};
///
/// let auditor = Auditor::builder()
///     .signer(SigningKey::generate()?)
///     .store(MemoryStore::new())
///     .sealing(SealingMode::Checkpointed)
///     .build()?;
/// auditor.emit(Receipt::new("acme"))?;
/// let checkpoint = auditor.checkpoint(&TenantId::new("acme"))?; // signs the tree head
/// assert_eq!(checkpoint.size, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SealingMode {
    /// Every receipt is signed (v1-compatible).
    #[default]
    PerReceipt,
    /// Only checkpoints are signed; receipts carry an empty `signature`.
    Checkpointed,
}
