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

use super::TransparencyError;
use crate::keys::VerifyingKey;
use crate::merkle::{Frontier, Hash};
use crate::note::leaf_of_line;
use crate::receipt::TenantId;
use crate::seal::{SealError, Signer};
use crate::store::tree::{StoredCheckpoint, TileNodes};
use crate::store::{self, Store, StoredEntry};

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

    /// The tag of the line stored at `seq` of `tenant` whose payload hashes to `receipt_hash`
    /// (its `receipt_hash` field). A line that passes the strict check is the canonical
    /// rendering of its payload with that self-hash, so tagging the hash tags the whole line.
    /// The input starts with eight 0xff bytes, a tenant length no [`Self::line_tag_v1`] input
    /// can have.
    pub(crate) fn tag(&self, tenant: &TenantId, seq: u64, receipt_hash: &[u8; 32]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        inner.update([0xff; 8]);
        self.finish(inner, tenant, seq, receipt_hash)
    }

    /// The tag stores written before the v2 tag carry: over the SHA-256 of the whole line.
    /// Still accepted when authenticating their lines.
    pub(crate) fn line_tag_v1(&self, tenant: &TenantId, seq: u64, line: &[u8]) -> [u8; 32] {
        let inner = self.inner.clone();
        self.finish(inner, tenant, seq, &Sha256::digest(line).into())
    }

    fn finish(
        &self,
        mut inner: Sha256,
        tenant: &TenantId,
        seq: u64,
        digest: &[u8; 32],
    ) -> [u8; 32] {
        inner.update((tenant.as_str().len() as u64).to_be_bytes());
        inner.update(tenant.as_str().as_bytes());
        inner.update(seq.to_be_bytes());
        inner.update(digest);
        let mut outer = self.outer.clone();
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Leaves this process appended itself, in sequence order from `start`, and the checkpoint it
/// last signed and stored.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// Sequence number of the first leaf.
    pub(crate) start: u64,
    /// The leaf hashes.
    pub(crate) leaves: VecDeque<Hash>,
    /// The last checkpoint this process signed and stored for the tenant. While it is still
    /// the store's latest, byte for byte, the next checkpoint need not verify its signature
    /// again (one Ed25519 verification per checkpoint and tenant).
    pub(crate) signed: Option<StoredCheckpoint>,
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

/// Whether a stored line was written with `signer`'s key: a signed line's signature verifies
/// under `key`; an unsigned line passes on its parse, spelling and self-hash and must then
/// carry this writer's tag (`line_key` is derived on first need and kept for the next lines).
///
/// # Errors
/// The signer failed while deriving the tag key.
pub(crate) fn is_authentic(
    entry: &StoredEntry,
    key: &VerifyingKey,
    signer: &dyn Signer,
    line_key: &mut Option<LineKey>,
) -> Result<bool, SealError> {
    // One strict check. A strictly parsed line is canonical, so `signature` is its last field.
    let checked = crate::verify::verify_covered_line(&entry.line, key).ok();
    let unsigned = entry.line.ends_with(br#""signature":""}"#);
    Ok(match (&checked, unsigned, entry.tag) {
        (None, _, _) | (Some(_), true, None) => false,
        (Some(_), false, _) => true,
        (Some(v), true, Some(t)) => {
            let lk = match line_key {
                Some(k) => k,
                None => line_key.insert(LineKey::derive(signer)?),
            };
            t == lk.tag(&entry.tenant, entry.seq, &v.receipt_hash())
                || t == lk.line_tag_v1(&entry.tenant, entry.seq, &entry.line)
        }
    })
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
        if !is_authentic(&entry, &key, signer, &mut line_key)? {
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
        let (h, h2) = ([7u8; 32], [8u8; 32]);
        let tag = a.tag(&t, 3, &h);
        assert_eq!(tag, a.tag(&t, 3, &h));
        assert_ne!(tag, b.tag(&t, 3, &h));
        assert_ne!(tag, a.tag(&TenantId::new("acme2"), 3, &h));
        assert_ne!(tag, a.tag(&t, 4, &h));
        assert_ne!(tag, a.tag(&t, 3, &h2));
        let v1 = a.line_tag_v1(&t, 3, b"line");
        assert_eq!(v1, a.line_tag_v1(&t, 3, b"line"));
        assert_ne!(v1, b.line_tag_v1(&t, 3, b"line"));
        assert_ne!(v1, a.line_tag_v1(&t, 4, b"line"));
        assert_ne!(v1, a.line_tag_v1(&t, 3, b"line2"));
        // The two versions never share an input: a v2 tag over the SHA-256 of a line is not
        // that line's v1 tag.
        let digest: [u8; 32] = Sha256::digest(b"line").into();
        assert_ne!(a.tag(&t, 3, &digest), v1);
    }
}

#[cfg(test)]
mod tag_versions {
    use super::*;
    use crate::log::TransparencyError;
    use crate::receipt::Receipt;
    use crate::store::{MemoryStore, NewEntry, WriteTxn};

    type Tagger = fn(&LineKey, &TenantId, u64, &[u8; 32], &[u8]) -> [u8; 32];

    fn v1(k: &LineKey, t: &TenantId, seq: u64, _hash: &[u8; 32], line: &[u8]) -> [u8; 32] {
        k.line_tag_v1(t, seq, line)
    }

    fn v2(k: &LineKey, t: &TenantId, seq: u64, hash: &[u8; 32], _line: &[u8]) -> [u8; 32] {
        k.tag(t, seq, hash)
    }

    /// Appends unsigned (Checkpointed) lines to `t`, one per tagger, as a writer would.
    fn append_unsigned(s: &MemoryStore, t: &TenantId, key: &LineKey, taggers: &[Tagger]) {
        let mut tip = s.tip(t).unwrap();
        for tagger in taggers {
            let mut r = Receipt::new(t.as_str()).with_input_text("q");
            r.prev_receipt_hash = tip
                .map(|x| crate::canonical::to_hex(x.hash))
                .unwrap_or_default();
            let payload = crate::canonical::seal_payload(&r).unwrap();
            let hash: [u8; 32] = Sha256::digest(&payload).into();
            let mut line = Vec::new();
            crate::canonical::write_jsonl_line(&r, &crate::canonical::to_hex(hash), "", &mut line);
            let seq = tip.map_or(0, |x| x.len);
            let tag = tagger(key, t, seq, &hash, &line);
            let leaf = crate::merkle::leaf_hash(&payload);
            s.write(&mut |txn: &mut dyn WriteTxn| {
                txn.append(&NewEntry {
                    tenant: t,
                    seq,
                    receipt_id: &r.receipt_id,
                    receipt_hash: hash,
                    timestamp_micros: r.timestamp.to_unix_micros(),
                    trace_id: &r.trace_id,
                    session_id: &r.session_id,
                    line: &line,
                    tag: Some(tag),
                })?;
                store::tree::feed(txn, &[(t, seq, leaf)])
            })
            .unwrap();
            tip = s.tip(t).unwrap();
        }
    }

    #[test]
    fn lines_tagged_by_either_version_are_authenticated_and_others_are_not() {
        let signer = crate::SigningKey::from_seed(&[1; 32]);
        let key = LineKey::derive(&signer).unwrap();
        let t = TenantId::new("acme");
        // A store written before the v2 tag, then continued by a v2 writer.
        let s = MemoryStore::new();
        append_unsigned(&s, &t, &key, &[v1, v1, v1]);
        let cp = crate::log::checkpoint(&s, &t, None, "log", &signer).unwrap();
        assert_eq!(cp.size, 3);
        append_unsigned(&s, &t, &key, &[v2, v1, v2]);
        let cp = crate::log::checkpoint(&s, &t, None, "log", &signer).unwrap();
        assert_eq!(cp.size, 6);

        // Tags that are not this writer's for this line: another key, another sequence number,
        // another tenant, and a v2 tag over the SHA-256 of the line instead of its self-hash.
        let wrong: [Tagger; 4] = [
            |_, t, seq, h, _| {
                LineKey::derive(&crate::SigningKey::from_seed(&[2; 32]))
                    .unwrap()
                    .tag(t, seq, h)
            },
            |k, t, seq, h, _| k.tag(t, seq + 1, h),
            |k, _, seq, h, _| k.tag(&TenantId::new("acme2"), seq, h),
            |k, t, seq, _, line| k.tag(t, seq, &Sha256::digest(line).into()),
        ];
        for tagger in wrong {
            let s = MemoryStore::new();
            append_unsigned(&s, &t, &key, &[v2, tagger]);
            let refused = crate::log::checkpoint(&s, &t, None, "log", &signer);
            assert!(
                matches!(
                    refused,
                    Err(TransparencyError::Unauthenticated { seq: Some(1), .. })
                ),
                "{refused:?}"
            );
        }
    }
}
