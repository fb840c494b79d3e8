//! Each tenant's RFC 6962 Merkle tree, kept by the store in **tiles** (as in C2SP
//! `tlog-tiles` / Tessera): a tile at tile level `t` and index `i` holds the hashes of up to 256
//! consecutive complete subtrees of height `8·t` — at level 0 the leaf hashes `[256·i,
//! 256·i+256)`. A full tile's root becomes one entry of the tile above it. Only the right edge
//! (one partial tile per level) is ever rewritten, so appending a group commit of `k` leaves
//! writes about `k/256 + log₂₅₆ n` tiles and hashes about `k` nodes, and any complete subtree —
//! hence any root, inclusion or consistency proof — is served from O(log n) tile reads.
//!
//! Leaf data is the receipt's v1 seal payload: leaf hash = `SHA-256(0x00 ‖ payload)`.
//!
//! Backends opt in by returning a [`TreeRead`] from [`super::Store::tree`] and a [`TreeWrite`]
//! from [`super::WriteTxn::tree`]; [`append_leaves`] must run in the same transaction as the
//! receipts' append, so tree and chain never disagree after a crash.

use std::collections::HashMap;

use super::{Store, StoreError, WriteTxn};
use crate::canonical;
use crate::merkle::{self, Frontier, Hash, MerkleError, Nodes, node_hash};
use crate::receipt::TenantId;

/// Tree levels per tile.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
const HASH_LEN: usize = 32;

/// Where a tile sits: its tile level (`0` holds leaf hashes) and its index within that level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level: entries are complete subtrees of height `8·level`.
    pub level: u8,
    /// Index within the level.
    pub index: u64,
}

/// A signed checkpoint as a store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size it commits to.
    pub size: u64,
    /// Root it commits to.
    pub root: Hash,
    /// The signed note (C2SP `tlog-checkpoint` in a `signed-note`).
    pub note: String,
}

/// Reading a store's trees and checkpoints (committed data).
pub trait TreeRead {
    /// Leaves in the tenant's tree (0 if it has none).
    ///
    /// # Errors
    /// Backend failures.
    fn tree_size(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// A tile's bytes: `32·w` bytes, the `w ≤ 256` hashes written so far.
    ///
    /// # Errors
    /// Backend failures.
    fn tile(&self, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError>;

    /// The stored checkpoint with the largest size.
    ///
    /// # Errors
    /// Backend failures.
    fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The stored checkpoint of exactly `size` leaves.
    ///
    /// # Errors
    /// Backend failures.
    fn checkpoint_at(
        &self,
        tenant: &TenantId,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError>;
}

/// Writing a store's trees and checkpoints, inside a [`super::Store::write`] transaction.
pub trait TreeWrite {
    /// Leaves in the tenant's tree, including this transaction's appends.
    ///
    /// # Errors
    /// Backend failures.
    fn tree_size(&mut self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// A tile, including this transaction's writes.
    ///
    /// # Errors
    /// Backend failures.
    fn tile(&mut self, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes (or overwrites, growing) a tile.
    ///
    /// # Errors
    /// Backend failures.
    fn put_tile(&mut self, tenant: &TenantId, id: TileId, hashes: &[u8]) -> Result<(), StoreError>;

    /// Records the tree's new size.
    ///
    /// # Errors
    /// Backend failures.
    fn set_tree_size(&mut self, tenant: &TenantId, size: u64) -> Result<(), StoreError>;

    /// The stored checkpoint with the largest size (including this transaction's).
    ///
    /// # Errors
    /// Backend failures.
    fn latest_checkpoint(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Stores a checkpoint (one per size; storing a size again keeps the first).
    ///
    /// # Errors
    /// Backend failures.
    fn put_checkpoint(
        &mut self,
        tenant: &TenantId,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError>;
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt { what }
}

/// Hash of a complete run of `2^k` entries (`bytes.len() = 32·2^k`).
fn reduce(bytes: &[u8]) -> Result<Hash, StoreError> {
    let mut row: Vec<Hash> = bytes
        .chunks_exact(HASH_LEN)
        .filter_map(|c| c.try_into().ok())
        .collect();
    if row.is_empty() || !row.len().is_power_of_two() || bytes.len() != row.len() * HASH_LEN {
        return Err(corrupt(format!(
            "a tile range of {} bytes is not a power of two of hashes",
            bytes.len()
        )));
    }
    while row.len() > 1 {
        row = row
            .chunks_exact(2)
            .filter_map(|p| match p {
                [l, r] => Some(node_hash(l, r)),
                _ => None,
            })
            .collect();
    }
    row.first()
        .copied()
        .ok_or_else(|| corrupt("empty tile range".into()))
}

/// Appends `leaves` (leaf hashes) to the tenant's tree, which must hold exactly `start` leaves.
/// Returns the new size. Call it in the transaction that appends the receipts.
///
/// # Errors
/// [`StoreError::Corrupt`] if the tree does not hold `start` leaves (it lags the chain: run
/// [`sync_from_lines`]) or a tile is damaged; backend failures.
pub(crate) fn append_leaves(
    w: &mut dyn TreeWrite,
    tenant: &TenantId,
    start: u64,
    leaves: &[Hash],
) -> Result<u64, StoreError> {
    let size = w.tree_size(tenant)?;
    if size != start {
        let how = if size < start {
            "the tree lags the chain (ai-audit syncs it on start-up)"
        } else {
            "the tree is ahead of the chain: receipts were removed from the store"
        };
        return Err(corrupt(format!(
            "tenant {:?}: the Merkle tree holds {size} leaves, but receipts are appended at sequence {start}; {how}",
            tenant.as_str()
        )));
    }
    if leaves.is_empty() {
        return Ok(size);
    }
    let mut level: u8 = 0;
    let mut before = size; // entries at this tile level before the append
    let mut incoming: Vec<Hash> = leaves.to_vec();
    while !incoming.is_empty() {
        let mut index = before / TILE_WIDTH;
        let keep = usize::try_from(before % TILE_WIDTH).unwrap_or(0) * HASH_LEN;
        let mut buf: Vec<u8> = Vec::with_capacity(TILE_WIDTH as usize * HASH_LEN);
        if keep > 0 {
            let id = TileId { level, index };
            let old = w.tile(tenant, id)?.unwrap_or_default();
            let prefix = old.get(..keep).ok_or_else(|| {
                corrupt(format!(
                    "tenant {:?}: tile {level}/{index} holds {} bytes, expected at least {keep}",
                    tenant.as_str(),
                    old.len()
                ))
            })?;
            buf.extend_from_slice(prefix);
        }
        let mut completed = Vec::new();
        for h in &incoming {
            buf.extend_from_slice(h);
            if buf.len() == TILE_WIDTH as usize * HASH_LEN {
                w.put_tile(tenant, TileId { level, index }, &buf)?;
                completed.push(reduce(&buf)?);
                buf.clear();
                index += 1;
            }
        }
        if !buf.is_empty() {
            w.put_tile(tenant, TileId { level, index }, &buf)?;
        }
        before /= TILE_WIDTH;
        incoming = completed;
        level = level.saturating_add(1);
    }
    let new_size = size + leaves.len() as u64;
    w.set_tree_size(tenant, new_size)?;
    Ok(new_size)
}

/// Feeds the leaves of appended receipts — `(tenant, seq, leaf hash)` in append order — to
/// their tenants' trees, one [`append_leaves`] per tenant. A transaction whose store keeps no
/// tree feeds nothing.
///
/// # Errors
/// As [`append_leaves`]; [`StoreError::Corrupt`] if one tenant's sequence numbers are not
/// contiguous.
pub fn feed(txn: &mut dyn WriteTxn, appended: &[(&TenantId, u64, Hash)]) -> Result<(), StoreError> {
    let Some(tree) = txn.tree() else {
        return Ok(());
    };
    let mut groups: Vec<(&TenantId, u64, Vec<Hash>)> = Vec::new();
    let mut at: HashMap<&TenantId, usize> = HashMap::new();
    for &(tenant, seq, leaf) in appended {
        let group = match at.get(tenant) {
            Some(&i) => groups.get_mut(i),
            None => None,
        };
        match group {
            Some((_, start, leaves)) => {
                if *start + leaves.len() as u64 != seq {
                    return Err(corrupt(format!(
                        "tenant {:?}: leaves fed out of order (sequence {seq})",
                        tenant.as_str()
                    )));
                }
                leaves.push(leaf);
            }
            None => {
                at.insert(tenant, groups.len());
                groups.push((tenant, seq, vec![leaf]));
            }
        }
    }
    for (tenant, start, leaves) in groups {
        append_leaves(tree, tenant, start, &leaves)?;
    }
    Ok(())
}

/// The complete subtrees of one tenant's stored tree, read tile by tile (each tile at most
/// once per reader).
pub struct TileNodes<'a> {
    read: &'a dyn TreeRead,
    tenant: &'a TenantId,
    size: u64,
    cache: HashMap<TileId, Vec<u8>>,
}

impl std::fmt::Debug for TileNodes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileNodes")
            .field("tenant", self.tenant)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl<'a> TileNodes<'a> {
    /// A reader of the tenant's tree as committed now.
    ///
    /// # Errors
    /// Backend failures.
    pub fn new(read: &'a dyn TreeRead, tenant: &'a TenantId) -> Result<Self, StoreError> {
        let size = read.tree_size(tenant)?;
        Ok(Self {
            read,
            tenant,
            size,
            cache: HashMap::new(),
        })
    }

    /// The root of the first `size` leaves.
    ///
    /// # Errors
    /// [`StoreError::Merkle`] for a size beyond the tree; backend failures.
    pub fn root(&mut self, size: u64) -> Result<Hash, StoreError> {
        merkle::nodes::root(self, size)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    ///
    /// # Errors
    /// [`StoreError::Merkle`] for an index or size beyond the tree; backend failures.
    pub fn inclusion_proof(&mut self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        merkle::nodes::inclusion_proof(self, index, size)
    }

    /// The consistency proof between the trees of `old_size` and `new_size` leaves.
    ///
    /// # Errors
    /// [`StoreError::Merkle`] for sizes beyond the tree; backend failures.
    pub fn consistency_proof(
        &mut self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, StoreError> {
        merkle::nodes::consistency_proof(self, old_size, new_size)
    }

    /// The frontier of the first `size` leaves.
    ///
    /// # Errors
    /// [`StoreError::Merkle`] for a size beyond the tree; backend failures.
    pub fn frontier(&mut self, size: u64) -> Result<Frontier, StoreError> {
        merkle::nodes::frontier(self, size)
    }

    /// The leaf hash at `index`.
    ///
    /// # Errors
    /// [`StoreError::Merkle`] for an index beyond the tree; backend failures.
    pub fn leaf(&mut self, index: u64) -> Result<Hash, StoreError> {
        if index >= self.size {
            return Err(MerkleError::IndexOutOfRange {
                index,
                size: self.size,
            }
            .into());
        }
        self.node(0, index)
    }
}

impl Nodes for TileNodes<'_> {
    type Error = StoreError;

    fn leaves(&self) -> u64 {
        self.size
    }

    fn node(&mut self, level: u32, index: u64) -> Result<Hash, StoreError> {
        let tile_level = level / TILE_HEIGHT;
        let height = level % TILE_HEIGHT;
        let base = index << height; // index of the first entry at the tile level
        let id = TileId {
            level: u8::try_from(tile_level).unwrap_or(u8::MAX),
            index: base / TILE_WIDTH,
        };
        let off = usize::try_from(base % TILE_WIDTH).unwrap_or(0) * HASH_LEN;
        let len = (1usize << height) * HASH_LEN;
        if !self.cache.contains_key(&id) {
            let bytes = self.read.tile(self.tenant, id)?.unwrap_or_default();
            self.cache.insert(id, bytes);
        }
        let tile = self.cache.get(&id).map(Vec::as_slice).unwrap_or_default();
        let range = tile.get(off..off + len).ok_or_else(|| {
            corrupt(format!(
                "tenant {:?}: tile {}/{} holds {} bytes; node {level}/{index} needs bytes {off}..{}",
                self.tenant.as_str(),
                id.level,
                id.index,
                tile.len(),
                off + len
            ))
        })?;
        reduce(range)
    }
}

/// Brings a tenant's tree up to its chain by hashing the stored lines it does not cover yet
/// (stores written before trees were kept, or by a writer that kept none). Returns the tree
/// size. A store that keeps no tree returns 0.
///
/// # Errors
/// [`StoreError::Corrupt`] if a stored line is not a v1 receipt; backend failures.
pub fn sync_from_lines(store: &dyn Store, tenant: &TenantId) -> Result<u64, StoreError> {
    let Some(read) = store.tree() else {
        return Ok(0);
    };
    let len = store.tip(tenant)?.map_or(0, |t| t.len);
    let mut size = read.tree_size(tenant)?;
    let mut payload = Vec::with_capacity(1024);
    while size < len {
        let end = len.min(size + 4096);
        let mut leaves = Vec::with_capacity(usize::try_from(end - size).unwrap_or(0));
        for e in super::receipts(store, tenant, size..end) {
            let e = e?;
            let parsed = e.parse().map_err(|err| {
                corrupt(format!(
                    "tenant {:?}: the stored line at sequence {} is not a v1 receipt ({err}); its leaf cannot be hashed",
                    tenant.as_str(),
                    e.seq
                ))
            })?;
            payload.clear();
            canonical::write_payload_unchecked(&parsed.receipt, &mut payload);
            leaves.push(merkle::leaf_hash(&payload));
        }
        let start = size;
        store.write(&mut |txn: &mut dyn WriteTxn| {
            let Some(tree) = txn.tree() else {
                return Ok(());
            };
            // Another writer may have fed the same leaves meanwhile: then there is nothing to do.
            if tree.tree_size(tenant)? == start {
                append_leaves(tree, tenant, start, &leaves)?;
            }
            Ok(())
        })?;
        size = read.tree_size(tenant)?;
        if size <= start {
            break;
        }
    }
    Ok(size)
}
