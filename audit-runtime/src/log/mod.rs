//! Keeping the transparency log: signed checkpoints over each tenant's store-kept Merkle tree,
//! inclusion proofs of stored receipts in the C2SP `tlog-proof` layout, the tree material an
//! evidence bundle carries, exports from a store ([`export_from_store`]) and gap receipts
//! ([`record_gap`]). The formats themselves are [`crate::note`]'s.
//!
//! A tenant's log has the origin `<log name>/<tenant>`; its checkpoints are signed under the
//! key name `<log name>` (C2SP `signed-note`). The store keeps one append-only tree per tenant,
//! and every checkpoint is of a size of that one tree — and is checked against the latest
//! stored checkpoint before it is stored — so the log never signs two inconsistent checkpoints.
//!
//! ```
//! use audit_runtime::store::MemoryStore;
//! use audit_runtime::log;
//! use audit_runtime::note::TlogProof;
//! use audit_runtime::{Auditor, Receipt, SigningKey, TenantId};
//!
//! let key = SigningKey::generate()?;
//! let auditor = Auditor::builder().signer(key.clone()).store(MemoryStore::new()).build()?;
//! let first = auditor.emit(Receipt::new("acme"))?;
//! auditor.emit(Receipt::new("acme"))?;
//! let cp = auditor.checkpoint(&TenantId::new("acme"))?;
//! assert_eq!(cp.size, 2);
//! let proof = log::prove(auditor.store().as_ref(), &first.receipt_id, None)?;
//! let checked = TlogProof::parse(&proof.to_text())?.verify(&key.verifying_key())?;
//! assert_eq!(checked.index, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]

mod auth;
mod export;
mod gap;

pub(crate) use auth::{Known, LineKey, is_authentic};

pub use export::{StoreExportError, export_from_store};
pub use gap::{GapError, RecordedGap, record_gap};

use crate::canonical::LineError;
use crate::merkle::{self, MerkleError};
use crate::note::{
    Checkpoint, CheckpointError, TlogProof, TreePrefix, log_name_problem, origin, verify_note,
};
use crate::receipt::{ReceiptId, TenantId};
use crate::seal::{SealError, Signer};
use crate::store::tree::{StoredCheckpoint, TileNodes};
use crate::store::{Store, StoreError, WriteTxn};

/// Why a checkpoint or proof could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransparencyError {
    /// The store keeps no Merkle trees.
    #[error("this store keeps no Merkle trees; use the SQLite or in-memory store")]
    NoTree,
    /// The log name cannot name a log ([`log_name_problem`]). Nothing was signed.
    #[error(
        "{name:?} cannot be a log name: {why}; choose a DNS-like name such as audit.example.com"
    )]
    BadLogName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The receipt is not in the store.
    #[error("receipt {id} is not in the store")]
    UnknownReceipt {
        /// The id.
        id: ReceiptId,
    },
    /// The tenant's tree is empty.
    #[error("tenant {:?} has no receipts in its tree yet", .tenant.as_str())]
    EmptyTree {
        /// The tenant.
        tenant: TenantId,
    },
    /// The new checkpoint would not be consistent with the latest stored one: the stored tree
    /// was altered. Nothing was signed.
    #[error(
        "refusing to sign: the tree of tenant {:?} at size {new_size} is not consistent with its stored checkpoint at size {old_size}; the store was altered", .tenant.as_str()
    )]
    Inconsistent {
        /// The tenant.
        tenant: TenantId,
        /// The stored checkpoint's size.
        old_size: u64,
        /// The size that was to be signed.
        new_size: u64,
        /// What failed.
        #[source]
        source: MerkleError,
    },
    /// The tenant's chain or tree holds fewer receipts than its latest stored checkpoint covers:
    /// receipts were removed after they were checkpointed (an insider's truncation, a restored
    /// old backup, a rolled-back log). Nothing was signed: a checkpoint of the shorter history
    /// would present it as whole.
    #[error(
        "refusing to sign: tenant {:?} holds {chain} receipts and a Merkle tree of {tree} leaves, but the store holds its checkpoint over {checkpointed}; receipts were removed after they were checkpointed (truncation or rollback): restore the store from a backup", .tenant.as_str()
    )]
    Truncated {
        /// The tenant.
        tenant: TenantId,
        /// The size of the latest stored checkpoint.
        checkpointed: u64,
        /// Receipts in the tenant's chain (its tip).
        chain: u64,
        /// Leaves in the tenant's stored tree.
        tree: u64,
    },
    /// The data a new checkpoint would cover is not all authenticated: a line that neither
    /// carries a valid signature nor the writer's tag, a leaf without a line, or a tree that
    /// differs from its lines. Nothing was signed; the store was written without the key.
    #[error(
        "refusing to sign a checkpoint of tenant {:?}: {why}{}",
        .tenant.as_str(),
        seq.map(|s| format!(" (sequence {s})")).unwrap_or_default()
    )]
    Unauthenticated {
        /// The tenant.
        tenant: TenantId,
        /// The receipt's sequence number, when one is at fault.
        seq: Option<u64>,
        /// What failed.
        why: String,
    },
    /// A stored checkpoint does not verify under the signer's key.
    #[error("a stored checkpoint does not verify under the signer's key")]
    BadStoredCheckpoint(#[source] CheckpointError),
    /// A stored line is not a v1 receipt.
    #[error("the stored receipt cannot be read")]
    Line(#[source] LineError),
    /// The signer failed.
    #[error("signing the checkpoint failed")]
    Sign(#[from] SealError),
    /// The store failed.
    #[error("the store failed")]
    Store(#[from] StoreError),
}

/// Signs (and stores) a checkpoint of the tenant's tree at `size` (`None`: its current size),
/// or returns the stored one of that size. Before signing, the new checkpoint is proven
/// consistent with the latest stored one (whose note must verify under the signer's key), and a
/// size beyond it is signed only if every leaf after it is authenticated: a line with a valid
/// signature under the signer's key, or an unsigned line with the writer's tag. So a line
/// written into the store without the key never gets a checkpoint.
///
/// # Errors
/// [`TransparencyError`]; [`TransparencyError::Unauthenticated`] when the store holds data this
/// key did not write.
pub fn checkpoint(
    store: &dyn Store,
    tenant: &TenantId,
    size: Option<u64>,
    log_name: &str,
    signer: &dyn Signer,
) -> Result<StoredCheckpoint, TransparencyError> {
    match prepare_checkpoint(store, tenant, size, log_name, signer, None)? {
        Prepared::Stored(cp) => Ok(cp),
        Prepared::Signed(cp) => {
            store_checkpoints(store, &[(tenant, &cp)])?;
            let read = store.tree().ok_or(TransparencyError::NoTree)?;
            Ok(read.checkpoint_at(tenant, cp.size)?.unwrap_or(cp))
        }
    }
}

/// A checkpoint [`prepare_checkpoint`] found stored or signed.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// The store already holds a checkpoint of that size.
    Stored(StoredCheckpoint),
    /// Newly signed, not stored yet: [`store_checkpoints`] stores it.
    Signed(StoredCheckpoint),
}

/// Everything [`checkpoint`] does except storing a newly signed checkpoint, so that a caller
/// signing many tenants' checkpoints stores them in one transaction; `known` holds the leaves
/// this process appended itself (no need to read them back).
pub(crate) fn prepare_checkpoint(
    store: &dyn Store,
    tenant: &TenantId,
    size: Option<u64>,
    log_name: &str,
    signer: &dyn Signer,
    known: Option<&Known>,
) -> Result<Prepared, TransparencyError> {
    if let Some(why) = log_name_problem(log_name) {
        return Err(TransparencyError::BadLogName {
            name: log_name.to_owned(),
            why,
        });
    }
    let read = store.tree().ok_or(TransparencyError::NoTree)?;
    let mut nodes = TileNodes::new(read, tenant)?;
    let latest = read.latest_checkpoint(tenant)?;
    refuse_truncated(
        store,
        tenant,
        merkle::Nodes::leaves(&nodes),
        latest.as_ref(),
    )?;
    let size = size.unwrap_or_else(|| merkle::Nodes::leaves(&nodes));
    if let Some(cp) = read.checkpoint_at(tenant, size)? {
        return Ok(Prepared::Stored(cp));
    }
    let root = nodes.root(size)?;
    let ours = |l: &StoredCheckpoint| known.and_then(|k| k.signed.as_ref()) == Some(l);
    if let Some(l) = latest.as_ref().filter(|l| !ours(l)) {
        let signed = verify_note(&l.note, &signer.verifying_key())
            .map_err(TransparencyError::BadStoredCheckpoint)?;
        if signed.size != l.size || signed.root != l.root {
            return Err(TransparencyError::Unauthenticated {
                tenant: tenant.clone(),
                seq: None,
                why: "the latest stored checkpoint's size or root differs from its signed note"
                    .into(),
            });
        }
    }
    if size > latest.as_ref().map_or(0, |l| l.size) {
        auth::authenticated_root(
            store,
            &mut nodes,
            tenant,
            latest.as_ref(),
            size,
            signer,
            known,
        )?;
    }
    if let Some(latest) = latest {
        let (old, new) = if latest.size <= size {
            ((latest.size, latest.root), (size, root))
        } else {
            ((size, root), (latest.size, latest.root))
        };
        let proof = nodes.consistency_proof(old.0, new.0)?;
        merkle::verify_consistency(old.0, new.0, &old.1, &new.1, &proof).map_err(|source| {
            TransparencyError::Inconsistent {
                tenant: tenant.clone(),
                old_size: latest.size,
                new_size: size,
                source,
            }
        })?;
    }
    let note = Checkpoint::new(origin(log_name, tenant), size, root).sign(log_name, signer)?;
    Ok(Prepared::Signed(StoredCheckpoint { size, root, note }))
}

/// Refuses a tenant whose chain or tree (of `tree` leaves) is shorter than its `latest` stored
/// checkpoint ([`TransparencyError::Truncated`]).
pub(crate) fn refuse_truncated(
    store: &dyn Store,
    tenant: &TenantId,
    tree: u64,
    latest: Option<&StoredCheckpoint>,
) -> Result<(), TransparencyError> {
    let Some(latest) = latest else {
        return Ok(());
    };
    let chain = store.tip(tenant)?.map_or(0, |t| t.len);
    if latest.size > chain.min(tree) {
        return Err(TransparencyError::Truncated {
            tenant: tenant.clone(),
            checkpointed: latest.size,
            chain,
            tree,
        });
    }
    Ok(())
}

/// As [`checkpoint`] of exactly `size` leaves, with every check it makes, but without storing
/// what it signs: the stored checkpoint of that size if there is one, else a newly signed one
/// that the caller hands out (an export from a read-only or full store). It is proven
/// consistent with the latest stored checkpoint (a consistency proof from the stored tree
/// where the sizes differ), and is never signed over a tree shorter than a stored checkpoint
/// ([`TransparencyError::Truncated`]): a log never signs two checkpoints that disagree.
///
/// ```
/// use std::time::Duration;
/// use audit_runtime::store::{MemoryStore, Store, TreeRead};
/// use audit_runtime::log;
/// use audit_runtime::note::DEFAULT_LOG_NAME;
/// use audit_runtime::{Auditor, Receipt, SigningKey, TenantId};
///
/// let key = SigningKey::generate()?;
/// let auditor = Auditor::builder()
///     .signer(key.clone())
///     .store(MemoryStore::new())
///     .checkpoint_every(1_000, Duration::from_secs(3_600))
///     .build()?;
/// for _ in 0..3 {
///     auditor.emit(Receipt::new("acme"))?;
/// }
/// let acme = TenantId::new("acme");
/// let cp = log::sign_unstored(auditor.store().as_ref(), &acme, 2, DEFAULT_LOG_NAME, &key)?;
/// assert_eq!(cp.size, 2);
/// let stored = auditor.store().tree().and_then(|t| t.checkpoint_at(&acme, 2).ok().flatten());
/// assert!(stored.is_none(), "nothing was stored");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`checkpoint`].
pub fn sign_unstored(
    store: &dyn Store,
    tenant: &TenantId,
    size: u64,
    log_name: &str,
    signer: &dyn Signer,
) -> Result<StoredCheckpoint, TransparencyError> {
    match prepare_checkpoint(store, tenant, Some(size), log_name, signer, None)? {
        Prepared::Stored(cp) | Prepared::Signed(cp) => Ok(cp),
    }
}

/// Stores signed checkpoints, all in one transaction (one fsync however many tenants). A
/// checkpoint of a size the store already holds for its tenant is left as stored.
pub(crate) fn store_checkpoints(
    store: &dyn Store,
    checkpoints: &[(&TenantId, &StoredCheckpoint)],
) -> Result<(), StoreError> {
    store.write(&mut |txn: &mut dyn WriteTxn| {
        if let Some(t) = txn.tree() {
            for (tenant, cp) in checkpoints {
                t.put_checkpoint(tenant, cp)?;
            }
        }
        Ok(())
    })
}

/// An inclusion proof of a stored receipt, in the C2SP `tlog-proof` layout, against the
/// tenant's latest stored checkpoint that covers it — or, if `signed` is given, against a fresh
/// checkpoint of the current tree signed by it.
///
/// # Errors
/// [`TransparencyError`]; [`TransparencyError::EmptyTree`] when no stored checkpoint covers the
/// receipt and no signer was given.
pub fn prove(
    store: &dyn Store,
    id: &ReceiptId,
    signed: Option<(&str, &dyn Signer)>,
) -> Result<TlogProof, TransparencyError> {
    let entry = store
        .get(id)?
        .ok_or_else(|| TransparencyError::UnknownReceipt { id: id.clone() })?;
    let read = store.tree().ok_or(TransparencyError::NoTree)?;
    let cp = match signed {
        Some((log_name, signer)) => checkpoint(store, &entry.tenant, None, log_name, signer)?,
        None => read
            .latest_checkpoint(&entry.tenant)?
            .filter(|c| c.size > entry.seq)
            .ok_or_else(|| TransparencyError::EmptyTree {
                tenant: entry.tenant.clone(),
            })?,
    };
    let mut nodes = TileNodes::new(read, &entry.tenant)?;
    let proof = nodes.inclusion_proof(entry.seq, cp.size)?;
    Ok(TlogProof::new(entry.seq, proof, cp.note, Some(entry.line)))
}

/// The tree material of a bundle that exports receipts `[start, end)` of a tenant: the
/// checkpoint of exactly `end` leaves (signed and stored if missing) and, for a partial export
/// (`start > 0`), the [`TreePrefix`] that ties its anchor to that checkpoint.
///
/// # Errors
/// [`TransparencyError`].
pub fn bundle_material(
    store: &dyn Store,
    tenant: &TenantId,
    start: u64,
    end: u64,
    log_name: &str,
    signer: &dyn Signer,
) -> Result<(StoredCheckpoint, Option<TreePrefix>), TransparencyError> {
    let cp = checkpoint(store, tenant, Some(end), log_name, signer)?;
    let prefix = if start == 0 {
        None
    } else {
        let read = store.tree().ok_or(TransparencyError::NoTree)?;
        let mut nodes = TileNodes::new(read, tenant)?;
        let frontier = nodes.frontier(start - 1)?;
        let anchor = crate::store::receipts(store, tenant, start - 1..start)
            .next()
            .transpose()?
            .ok_or(TransparencyError::Store(StoreError::Corrupt {
                what: format!(
                    "tenant {:?} has no receipt at sequence {}",
                    tenant.as_str(),
                    start - 1
                ),
            }))?;
        Some(TreePrefix::new(frontier, anchor.line))
    };
    Ok((cp, prefix))
}
