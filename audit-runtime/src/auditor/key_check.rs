//! One key per store: the builder refuses a signer whose key did not write the store.
//!
//! Appending under a second key would mix two keys in one chain, and every later export of
//! such a tenant would fail ("a stored checkpoint does not verify under the signer's key").
//! Until key rotation is a supported operation, the mix is refused before anything is written.

use crate::canonical;
use crate::keys::VerifyingKey;
use crate::receipt::TenantId;
use crate::store::{Store, StoreError};
use crate::transparency;

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
                "another key (not recorded in the store; tenant {:?}'s newest signed receipt or checkpoint does not verify under the signer's key)",
                tenant.as_str()
            ),
        }
    }
}

/// Checks that `key` is the store's key; records it for a store that has none.
pub(super) fn check(store: &dyn Store, key: &VerifyingKey) -> Result<Option<StoreKey>, StoreError> {
    let bytes = key.to_bytes();
    let recorded = store.signing_keys()?;
    if !recorded.is_empty() {
        if recorded.contains(&bytes) {
            return Ok(None);
        }
        let fps = recorded
            .iter()
            .map(|k| VerifyingKey::from_bytes(k).map_or_else(|_| hex_of(k), |v| v.fingerprint()))
            .collect();
        return Ok(Some(StoreKey::Recorded(fps)));
    }
    if let Some(tenant) = foreign_evidence(store, key)? {
        return Ok(Some(StoreKey::Unrecorded { tenant }));
    }
    // Best effort: a store that cannot take the record now (full, read-only) still gets the
    // evidence check above at every start until it can.
    let _ = store.record_signing_key(&bytes);
    Ok(None)
}

fn hex_of(k: &[u8; 32]) -> String {
    canonical::to_hex(k)
}

/// The first tenant whose newest checkpoint, or else whose tip receipt's signature, does not
/// verify under `key`. Only stores without recorded keys pay for it, once.
fn foreign_evidence(store: &dyn Store, key: &VerifyingKey) -> Result<Option<TenantId>, StoreError> {
    for tenant in store.tenants()? {
        if let Some(read) = store.tree()
            && let Some(cp) = read.latest_checkpoint(&tenant)?
        {
            if transparency::verify_note(&cp.note, key).is_err() {
                return Ok(Some(tenant));
            }
            continue;
        }
        let Some(tip) = store.tip(&tenant)? else {
            continue;
        };
        let Some(last) = crate::store::receipts(store, &tenant, tip.len.saturating_sub(1)..tip.len)
            .next()
            .transpose()?
        else {
            continue;
        };
        let Ok(parsed) = last.parse() else { continue };
        // Checkpointed lines carry no signature; their checkpoint (above) is the evidence.
        if parsed.signature.is_empty() {
            continue;
        }
        let signed = canonical::seal_payload(&parsed.receipt)
            .ok()
            .zip(decode_signature(&parsed.signature))
            .is_some_and(|(payload, sig)| key.verify_strict(&payload, &sig));
        if !signed {
            return Ok(Some(tenant));
        }
    }
    Ok(None)
}

fn decode_signature(text: &str) -> Option<[u8; 64]> {
    let mut out = [0u8; 64];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}
