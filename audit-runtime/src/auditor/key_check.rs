//! One key per store: the builder refuses a signer whose key did not write the store.
//!
//! Appending under a second key would mix two keys in one chain, and every later export of
//! such a tenant would fail ("a stored checkpoint does not verify under the signer's key").
//! Until key rotation is a supported operation, the mix is refused before anything is written.

use super::AuditorError;
use crate::canonical;
use crate::keys::VerifyingKey;
use crate::log;
use crate::note;
use crate::receipt::TenantId;
use crate::seal::Signer;
use crate::store::Store;

/// Whose key the store holds, when it is not the signer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreKey {
    /// The fingerprints of the keys the store recorded.
    Recorded(Vec<String>),
    /// No key was recorded (a store written before keys were recorded, or a backend that keeps
    /// none), but this tenant's newest signed evidence does not verify under the signer's key.
    Unrecorded {
        /// The tenant whose evidence was checked.
        tenant: TenantId,
    },
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Recorded(fps) => write!(f, "key {}", fps.join(", key ")),
            Self::Unrecorded { tenant } => write!(
                f,
                "another key (not recorded in the store; tenant {:?}'s newest checkpoint or receipt does not verify under the signer's key)",
                tenant.as_str()
            ),
        }
    }
}

/// Checks that the signer's key is the store's key; records it for a store that has none.
pub(super) fn check(
    store: &dyn Store,
    signer: &dyn Signer,
) -> Result<Option<StoreKey>, AuditorError> {
    let key = signer.verifying_key();
    let bytes = key.to_bytes();
    if store.signing_keys()?.is_empty()
        && let Some(tenant) = foreign_evidence(store, signer)?
    {
        return Ok(Some(StoreKey::Unrecorded { tenant }));
    }
    // Atomic: of two auditors starting at once on a new store, one key wins.
    let recorded = store.claim_signing_key(&bytes)?;
    if recorded.is_empty() || recorded.contains(&bytes) {
        return Ok(None);
    }
    let fps = recorded
        .iter()
        .map(|k| {
            VerifyingKey::from_bytes(k).map_or_else(|_| canonical::to_hex(k), |v| v.fingerprint())
        })
        .collect();
    Ok(Some(StoreKey::Recorded(fps)))
}

/// The first tenant whose newest checkpoint, or else whose tip receipt (its signature, or for
/// an unsigned Checkpointed line the writer's tag), does not verify under the signer's key.
/// Only stores without recorded keys pay for it, once.
fn foreign_evidence(
    store: &dyn Store,
    signer: &dyn Signer,
) -> Result<Option<TenantId>, AuditorError> {
    let key = signer.verifying_key();
    let mut line_key = None;
    for tenant in store.tenants()? {
        if let Some(read) = store.tree()
            && let Some(cp) = read.latest_checkpoint(&tenant)?
            && cp.size == read.tree_size(&tenant)?
        {
            if note::verify_note(&cp.note, &key).is_err() {
                return Ok(Some(tenant));
            }
            continue;
        }
        let Some(tip) = store.tip(&tenant)? else {
            continue;
        };
        let seq = tip.len.saturating_sub(1);
        let Some(last) = crate::store::receipts(store, &tenant, seq..tip.len)
            .next()
            .transpose()?
        else {
            continue;
        };
        if !log::is_authentic(&last, &key, signer, &mut line_key).map_err(AuditorError::Signer)? {
            return Ok(Some(tenant));
        }
    }
    Ok(None)
}
