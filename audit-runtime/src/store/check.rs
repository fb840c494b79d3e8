//! Checking a store tenant by tenant, through the [`Store`] trait (so every backend is checked
//! the same way).
//!
//! - [`Depth::Quick`] reads a few rows per tenant: its tip, the receipt stored at the tip (and
//!   that none is stored beyond it), its Merkle tree size and latest signed checkpoint. The
//!   `Auditor` runs it when it is built and quarantines a tenant that fails; its cost grows with
//!   the number of tenants, not with history.
//! - [`Depth::Full`] reads every receipt: each line is checked as the verifier checks it (hash,
//!   link, signature when a key is given), its position and stored hash against the chain, and
//!   the Merkle root recomputed from the lines against the stored tree. `ai-audit db check
//!   --full` runs it; it costs a full read of the store.
//!
//! Faults the backend found when it was opened (a chain behind its high-water record, see
//! [`Store::faults`]) come first.

use super::tree::TileNodes;
use super::{Store, StoreError, TenantFault, receipts};
use crate::keys::VerifyingKey;
use crate::merkle::Frontier;
use crate::receipt::TenantId;
use crate::verify::{ChainVerifier, VerifyOptions};

/// How much of the store to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// A few rows per tenant.
    Quick,
    /// Every receipt.
    Full,
}

/// What a check found for one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantStatus {
    /// The tenant.
    pub tenant: TenantId,
    /// Receipts in its chain (its tip's length).
    pub receipts: u64,
    /// Leaves in its Merkle tree (`None` for a store that keeps no tree).
    pub tree_size: Option<u64>,
    /// What is wrong, or `None` if the check passed.
    pub fault: Option<TenantFault>,
}

impl TenantStatus {
    /// Whether the tenant passed.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.fault.is_none()
    }
}

fn inconsistent(what: String) -> TenantFault {
    TenantFault::Inconsistent { what }
}

/// Checks every tenant of `store` (and every tenant the store reports a fault for), in tenant
/// order. A `key` is used by [`Depth::Full`] to check signatures.
///
/// ```
/// use audit_runtime::store::check::{Depth, check_store};
/// use audit_runtime::store::MemoryStore;
/// use audit_runtime::{Auditor, Receipt, SigningKey};
///
/// let store: std::sync::Arc<dyn audit_runtime::store::Store> = std::sync::Arc::new(MemoryStore::new());
/// let key = SigningKey::generate()?;
/// let auditor = Auditor::builder().signer(key.clone()).shared_store(store.clone()).build()?;
/// auditor.emit(Receipt::new("acme"))?;
/// auditor.shutdown()?;
/// let report = check_store(store.as_ref(), Depth::Full, Some(&key.verifying_key()))?;
/// assert!(report.iter().all(|t| t.is_ok()), "{report:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Backend failures that stop the check as a whole (listing tenants, reading faults); a
/// failure reading one tenant is that tenant's fault.
pub fn check_store(
    store: &dyn Store,
    depth: Depth,
    key: Option<&VerifyingKey>,
) -> Result<Vec<TenantStatus>, StoreError> {
    let faults = store.faults()?;
    let mut tenants = store.tenants()?;
    tenants.extend(faults.iter().map(|(t, _)| t.clone()));
    tenants.sort();
    tenants.dedup();
    let mut out = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let known = faults
            .iter()
            .find(|(t, _)| *t == tenant)
            .map(|(_, f)| f.clone());
        let mut status = check_tenant(store, &tenant, depth, key)?;
        if let Some(f) = known {
            status.fault = Some(f);
        }
        out.push(status);
    }
    Ok(out)
}

/// Checks one tenant. Rows that cannot be read (damaged) are the tenant's fault, not an error.
///
/// # Errors
/// Failures of the backend itself (retryable: busy, I/O), which say nothing about the tenant.
pub fn check_tenant(
    store: &dyn Store,
    tenant: &TenantId,
    depth: Depth,
    key: Option<&VerifyingKey>,
) -> Result<TenantStatus, StoreError> {
    // The reads below are separate snapshots: another process appending meanwhile would make
    // the tenant look inconsistent. A fault is reported only if the tip did not move.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let before = store.tip(tenant)?;
        let status = check_once(store, tenant, depth, key)?;
        if status.fault.is_none() || attempts == 3 || store.tip(tenant)? == before {
            return Ok(status);
        }
    }
}

fn check_once(
    store: &dyn Store,
    tenant: &TenantId,
    depth: Depth,
    key: Option<&VerifyingKey>,
) -> Result<TenantStatus, StoreError> {
    let mut status = TenantStatus {
        tenant: tenant.clone(),
        receipts: 0,
        tree_size: None,
        fault: None,
    };
    let result = match depth {
        Depth::Quick => quick(store, tenant, &mut status),
        Depth::Full => quick(store, tenant, &mut status).and_then(|()| {
            if status.fault.is_none() {
                full(store, tenant, key, &mut status)
            } else {
                Ok(())
            }
        }),
    };
    match result {
        // The backend failed (busy, I/O): nothing is known about the tenant.
        Err(e) if e.is_retryable() => return Err(e),
        Err(e) => status.fault = Some(inconsistent(format!("reading it failed: {e}"))),
        Ok(()) => {}
    }
    Ok(status)
}

fn quick(store: &dyn Store, tenant: &TenantId, st: &mut TenantStatus) -> Result<(), StoreError> {
    let name = tenant.as_str();
    let tip = store.tip(tenant)?;
    let len = tip.map_or(0, |t| t.len);
    st.receipts = len;
    if let Some(tip) = tip
        && len > 0
    {
        let last = receipts(store, tenant, len - 1..len).next().transpose()?;
        match last {
            None => {
                st.fault = Some(inconsistent(format!(
                    "tenant {name:?}: its tip says {len} receipts, but none is stored at sequence {}",
                    len - 1
                )));
                return Ok(());
            }
            Some(e) if e.receipt_hash != tip.hash => {
                st.fault = Some(inconsistent(format!(
                    "tenant {name:?}: the receipt stored at sequence {} is not the tip ({})",
                    len - 1,
                    e.receipt_id
                )));
                return Ok(());
            }
            Some(_) => {}
        }
    }
    if let Some(e) = receipts(store, tenant, len..u64::MAX).next().transpose()? {
        st.fault = Some(inconsistent(format!(
            "tenant {name:?}: receipt {} is stored at sequence {}, beyond its tip ({len})",
            e.receipt_id, e.seq
        )));
        return Ok(());
    }
    let Some(tree) = store.tree() else {
        return Ok(());
    };
    let size = tree.tree_size(tenant)?;
    st.tree_size = Some(size);
    if size > len {
        st.fault = Some(inconsistent(format!(
            "tenant {name:?}: its Merkle tree holds {size} leaves but its chain only {len} receipts: receipts were removed from the store"
        )));
        return Ok(());
    }
    if let Some(cp) = tree.latest_checkpoint(tenant)?
        && cp.size > len
    {
        st.fault = Some(inconsistent(format!(
            "tenant {name:?}: a signed checkpoint covers {} receipts but its chain holds {len}: receipts were removed from the store",
            cp.size
        )));
    }
    Ok(())
}

fn full(
    store: &dyn Store,
    tenant: &TenantId,
    key: Option<&VerifyingKey>,
    st: &mut TenantStatus,
) -> Result<(), StoreError> {
    let name = tenant.as_str();
    let opts = key.map_or_else(VerifyOptions::default, |k| VerifyOptions::pinned(*k));
    let mut verifier = ChainVerifier::new(opts.with_accept_checkpointed(true));
    verifier.track_tree(Frontier::new(), None);
    for (expected, e) in (0u64..).zip(receipts(store, tenant, 0..st.receipts)) {
        let e = e?;
        if e.seq != expected {
            st.fault = Some(inconsistent(format!(
                "tenant {name:?}: receipt {} is stored at sequence {} where {expected} was expected",
                e.receipt_id, e.seq
            )));
            return Ok(());
        }
        match e.parse() {
            Ok(p) if p.receipt_hash != crate::canonical::to_hex(e.receipt_hash) => {
                st.fault = Some(inconsistent(format!(
                    "tenant {name:?}: receipt {} at sequence {}: its line says receipt_hash {} but the store indexed another",
                    e.receipt_id, e.seq, p.receipt_hash
                )));
                return Ok(());
            }
            _ => {}
        }
        verifier.push(&e.line);
    }
    let (mut report, tree) = verifier.finish_with_tree();
    // Unsigned lines are authenticated by checkpoints, which this check does not read.
    tree.settle_unsigned(&mut report, true, true, 1);
    if let Some(f) = report.findings.first() {
        st.fault = Some(inconsistent(format!(
            "tenant {name:?}: sequence {}: {f}",
            f.index.map_or_else(|| "?".into(), |i| i.to_string())
        )));
        return Ok(());
    }
    if let (Some(read), Some(frontier)) = (store.tree(), tree.frontier)
        && frontier.size() > 0
    {
        let mut nodes = TileNodes::new(read, tenant)?;
        let stored = nodes.root(frontier.size())?;
        if stored != frontier.root() {
            st.fault = Some(inconsistent(format!(
                "tenant {name:?}: the stored Merkle tree's root over {} leaves differs from the root of the stored receipts",
                frontier.size()
            )));
        }
    }
    Ok(())
}
