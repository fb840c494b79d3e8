//! What an evidence bundle of a stored range carries besides its receipts: the signed checkpoint
//! of exactly the tree that ends with its last receipt, the tree prefix and the anchor of a
//! partial export. Shared by `ai-audit export` and the admin export endpoint, so both hand out
//! the same transparency material.

use std::ops::Range;

use super::{TransparencyError, bundle_material};
use crate::bundle::{Anchor, CHECKPOINT, ExportMeta, TREE_PREFIX};
use crate::receipt::TenantId;
use crate::seal::Signer;
use crate::store::{self, Store, tree};

/// The [`ExportMeta`] of a bundle of the tenant's receipts `range` (sequence numbers, end
/// exclusive, as [`store::select_range`] gives them): the [`CHECKPOINT`] member signed by
/// `signer` under `log_name` (the stored one when that size is signed already), for a partial
/// export the [`TREE_PREFIX`] member and the anchor. The tenant's tree is first brought up to its
/// chain. A store that keeps no Merkle tree gives a bundle without checkpoint (it still verifies,
/// but proves nothing about the log).
///
/// ```
/// use audit_runtime::bundle::{CHECKPOINT, TREE_PREFIX};
/// use audit_runtime::store::MemoryStore;
/// use audit_runtime::log::bundle_meta;
/// use audit_runtime::note::DEFAULT_LOG_NAME;
/// use audit_runtime::{Auditor, Receipt, SigningKey, TenantId};
///
/// let key = SigningKey::generate()?;
/// let auditor = Auditor::builder().signer(key.clone()).store(MemoryStore::new()).build()?;
/// for _ in 0..5 {
///     auditor.emit(Receipt::new("acme"))?;
/// }
/// let meta = bundle_meta(auditor.store().as_ref(), &TenantId::new("acme"), 2..4, DEFAULT_LOG_NAME, &key)?;
/// let names: Vec<&str> = meta.members.iter().map(|(n, _)| n.as_str()).collect();
/// assert_eq!(names, [CHECKPOINT, TREE_PREFIX]);
/// assert_eq!(meta.anchor.map(|a| a.sequence), Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`TransparencyError`]: the store failed, or the checkpoint could not be signed (e.g. the
/// stored tree is not consistent with its latest checkpoint).
pub fn bundle_meta(
    store: &dyn Store,
    tenant: &TenantId,
    range: Range<u64>,
    log_name: &str,
    signer: &dyn Signer,
) -> Result<ExportMeta, TransparencyError> {
    let mut meta = ExportMeta::new(tenant.clone());
    if store.tree().is_some() {
        tree::sync_from_lines(store, tenant)?;
        let (cp, prefix) =
            bundle_material(store, tenant, range.start, range.end, log_name, signer)?;
        meta = meta.with_member(CHECKPOINT, cp.note.into_bytes());
        if let Some(p) = prefix {
            meta = meta.with_member(TREE_PREFIX, p.to_json());
        }
    }
    if let Some(prev) = store::anchor_hash(store, tenant, range.start)? {
        meta = meta.with_anchor(Anchor::new(range.start, hex::encode(prev)));
    }
    Ok(meta)
}
