//! What a checkpoint may sign: a root computed only from authenticated data.
//!
//! A checkpoint is signed over the store's tree, and the store can be written by anyone with
//! access to its file. So before a new checkpoint is signed past the latest one, its root is
//! recomputed from data an attacker without the key cannot forge:
//!
//! - the frontier of the latest checkpoint's size, which must hash to that checkpoint's signed
//!   root;
//! - then each later leaf, either one this process appended itself ([`Known`]), or the leaf of
//!   the stored line, which must carry a valid signature under the signer's key or, when unsigned
//!   ([`crate::SealingMode::Checkpointed`]), a valid writer [`LineKey`] tag.
//!
//! The root so computed must equal the store's tree root; otherwise nothing is signed. An
//! attacker who appends or edits lines, or edits tiles, therefore gets no checkpoint over them.

use std::collections::VecDeque;

use sha2::{Digest, Sha256};

use super::{TransparencyError, leaf_of_line};
use crate::keys::VerifyingKey;
use crate::merkle::{Frontier, Hash};
use crate::receipt::TenantId;
use crate::seal::{SealError, Signer};
use crate::store::tree::{StoredCheckpoint, TileNodes};
use crate::store::{self, Store};

/// What the signer signs to derive the line key (never signed for anything else, never stored).
const LINE_KEY_CONTEXT: &[u8] = b"ai-audit line-tag key v1\n";

/// The writer's MAC key for unsigned lines: HMAC-SHA-256 under a key derived from the signer
/// (the SHA-256 of its deterministic Ed25519 signature over a fixed context), so only a holder
/// of the signing key can tag a line.
#[derive(Clone)]
pub(crate) struct LineKey {
    inner: Sha256,
    outer: Sha256,
}

impl std::fmt::Debug for LineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineKey(..)")
    }
}

impl LineKey {
    /// Derives the key from `signer`.
    pub(crate) fn derive(signer: &dyn Signer) -> Result<Self, SealError> {
        let sig = signer.sign(LINE_KEY_CONTEXT)?;
        let key: [u8; 32] = Sha256::digest(sig).into();
        let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
        for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(key) {
            *i ^= k;
            *o ^= k;
        }
        let (mut inner, mut outer) = (Sha256::new(), Sha256::new());
        inner.update(ipad);
        outer.update(opad);
        Ok(Self { inner, outer })
    }

    /// The tag of `line`, stored at `seq` of `tenant`.
    pub(crate) fn tag(&self, tenant: &TenantId, seq: u64, line: &[u8]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update((tenant.as_str().len() as u64).to_be_bytes());
        inner.update(tenant.as_str().as_bytes());
        inner.update(seq.to_be_bytes());
        inner.update(Sha256::digest(line));
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Leaves this process appended itself, in sequence order from `start`.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Sequence number of the first leaf.
    pub(crate) start: u64,
    /// The leaf hashes.
    pub(crate) leaves: VecDeque<Hash>,
}

impl Known {
    fn get(&self, seq: u64) -> Option<Hash> {
        let i = usize::try_from(seq.checked_sub(self.start)?).ok()?;
        self.leaves.get(i).copied()
    }

    /// Records `leaf` at `seq`; a gap (another writer appended in between) starts afresh. At
    /// most [`Known::MAX`] leaves are kept (while checkpoints keep failing); older ones are then
    /// authenticated from their stored lines instead.
    pub(crate) fn push(&mut self, seq: u64, leaf: Hash) {
        if self.start + self.leaves.len() as u64 != seq {
            self.leaves.clear();
            self.start = seq;
        }
        if self.leaves.len() >= Self::MAX && self.leaves.pop_front().is_some() {
            self.start += 1;
        }
        self.leaves.push_back(leaf);
    }

    /// Leaves kept per tenant (8 MiB of hashes).
    const MAX: usize = 1 << 18;

    /// Forgets the leaves below `size` (a checkpoint of `size` covers them).
    pub(crate) fn covered(&mut self, size: u64) {
        while self.start < size && self.leaves.pop_front().is_some() {
            self.start += 1;
        }
        if self.leaves.is_empty() {
            self.start = self.start.max(size);
        }
    }
}

/// The root of the first `size` leaves, from authenticated data only (see the module docs),
/// given the latest stored checkpoint (already verified under the signer's key) and `size`
/// beyond it.
pub(crate) fn authenticated_root(
    store: &dyn Store,
    nodes: &mut TileNodes<'_>,
    tenant: &TenantId,
    latest: Option<&StoredCheckpoint>,
    size: u64,
    signer: &dyn Signer,
    known: Option<&Known>,
) -> Result<Hash, TransparencyError> {
    let from = latest.map_or(0, |c| c.size);
    let refuse = |seq: Option<u64>, why: &str| TransparencyError::Unauthenticated {
        tenant: tenant.clone(),
        seq,
        why: why.to_owned(),
    };
    let mut frontier = if from == 0 {
        Frontier::new()
    } else {
        nodes.frontier(from)?
    };
    if let Some(cp) = latest
        && frontier.root() != cp.root
    {
        return Err(refuse(
            None,
            "the stored tree does not hash to the latest signed checkpoint",
        ));
    }
    let key: VerifyingKey = signer.verifying_key();
    let mut line_key: Option<LineKey> = None;
    let mut seq = from;
    // Leaves this process appended need no reading; the others come from their lines.
    let mut lines = store::receipts(store, tenant, from..size).peekable();
    while seq < size {
        if let Some(leaf) = known.and_then(|k| k.get(seq)) {
            frontier.push(leaf);
            seq += 1;
            continue;
        }
        let entry = loop {
            match lines.next().transpose()? {
                Some(e) if e.seq < seq => {}
                other => break other,
            }
        };
        let Some(entry) = entry.filter(|e| e.seq == seq) else {
            return Err(refuse(Some(seq), "the tree has a leaf with no stored line"));
        };
        // One strict check: a signed line's signature is verified; an unsigned line passes on
        // its parse, spelling and self-hash, and must then carry this writer's tag. A strictly
        // parsed line is canonical, so `signature` is its last field.
        let checked = crate::verify::verify_covered_line(&entry.line, &key).is_ok();
        let unsigned = entry.line.ends_with(br#""signature":""}"#);
        let tagged = !unsigned || {
            let lk = match &line_key {
                Some(k) => k,
                None => line_key.insert(LineKey::derive(signer)?),
            };
            entry.tag == Some(lk.tag(tenant, seq, &entry.line))
        };
        if !(checked && tagged) {
            return Err(refuse(
                Some(seq),
                "the stored line carries neither a valid signature nor this writer's tag: it was not written with this key",
            ));
        }
        frontier.push(leaf_of_line(&entry.line).map_err(TransparencyError::Line)?);
        seq += 1;
    }
    let root = frontier.root();
    if root != nodes.root(size)? {
        return Err(refuse(
            None,
            "the stored tree differs from the tree of its authenticated leaves",
        ));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u64) -> Hash {
        let mut x = [0u8; 32];
        x[..8].copy_from_slice(&i.to_le_bytes());
        x
    }

    #[test]
    fn known_leaves_follow_appends_gaps_checkpoints_and_the_cap() {
        let mut k = Known::default();
        for i in 10..20 {
            k.push(i, h(i));
        }
        assert_eq!(
            (k.get(9), k.get(10), k.get(19), k.get(20)),
            (None, Some(h(10)), Some(h(19)), None)
        );
        // Another writer appended 20..25: ours restart at 25.
        k.push(25, h(25));
        assert_eq!((k.get(19), k.get(25)), (None, Some(h(25))));
        k.covered(26);
        assert_eq!((k.get(25), k.leaves.len()), (None, 0));
        k.push(26, h(26));
        assert_eq!(k.get(26), Some(h(26)));
        // The cap drops the oldest.
        let mut k = Known::default();
        for i in 0..(Known::MAX as u64 + 5) {
            k.push(i, h(i));
        }
        assert_eq!(k.leaves.len(), Known::MAX);
        assert_eq!((k.get(4), k.get(5)), (None, Some(h(5))));
    }

    #[test]
    fn line_tags_bind_key_tenant_sequence_and_line() {
        let a = LineKey::derive(&crate::SigningKey::from_seed(&[1; 32])).unwrap();
        let b = LineKey::derive(&crate::SigningKey::from_seed(&[2; 32])).unwrap();
        let t = TenantId::new("acme");
        let tag = a.tag(&t, 3, b"line");
        assert_eq!(tag, a.tag(&t, 3, b"line"));
        assert_ne!(tag, b.tag(&t, 3, b"line"));
        assert_ne!(tag, a.tag(&TenantId::new("acme2"), 3, b"line"));
        assert_ne!(tag, a.tag(&t, 4, b"line"));
        assert_ne!(tag, a.tag(&t, 3, b"line2"));
    }
}
