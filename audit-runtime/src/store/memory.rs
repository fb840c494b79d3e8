//! The in-memory store: the same contract as the durable stores, for tests and examples. It never
//! evicts anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::tree::{StoredCheckpoint, TileId, TreeRead, TreeWrite};
use super::{Durability, NewEntry, Page, Selector, Store, StoreError, StoredEntry, Tip, WriteTxn};
use crate::receipt::{ReceiptId, TenantId};

#[derive(Debug, Default)]
struct State {
    chains: BTreeMap<TenantId, Vec<StoredEntry>>,
    by_id: HashMap<ReceiptId, (TenantId, u64)>,
    /// Global append order, for trace and session queries.
    log: Vec<(TenantId, u64)>,
    /// Merkle trees: tiles, sizes, signed checkpoints.
    trees: Trees,
    /// Public keys that signed receipts here, in the order recorded.
    keys: Vec<[u8; 32]>,
}

/// The Merkle side of the state (also what a transaction stages).
#[derive(Debug, Default)]
struct Trees {
    tiles: HashMap<(TenantId, TileId), Vec<u8>>,
    sizes: HashMap<TenantId, u64>,
    checkpoints: BTreeMap<TenantId, BTreeMap<u64, StoredCheckpoint>>,
}

impl Trees {
    fn latest(&self, tenant: &TenantId) -> Option<&StoredCheckpoint> {
        self.checkpoints
            .get(tenant)
            .and_then(|c| c.last_key_value())
            .map(|(_, c)| c)
    }

    fn merge(&mut self, staged: Self) {
        self.tiles.extend(staged.tiles);
        self.sizes.extend(staged.sizes);
        for (t, cps) in staged.checkpoints {
            let mine = self.checkpoints.entry(t).or_default();
            for (size, cp) in cps {
                mine.entry(size).or_insert(cp);
            }
        }
    }
}

impl State {
    fn tip(&self, tenant: &TenantId) -> Option<Tip> {
        let chain = self.chains.get(tenant)?;
        let last = chain.last()?;
        Some(Tip {
            len: chain.len() as u64,
            hash: last.receipt_hash,
        })
    }

    fn entry(&self, tenant: &TenantId, seq: u64) -> Option<&StoredEntry> {
        self.chains
            .get(tenant)
            .and_then(|c| c.get(usize::try_from(seq).ok()?))
    }
}

/// A [`Store`] in memory. Cheap to create; everything is lost when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied append (appends are applied
        // after the closure succeeds), so the state is usable even if poisoned.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct MemTxn<'a> {
    state: &'a State,
    staged: Vec<StoredEntry>,
    /// Where each staged receipt id is in `staged`, so that a transaction of n appends costs
    /// O(n), not O(n²), in duplicate checks.
    staged_ids: HashMap<ReceiptId, usize>,
    /// Each tenant's staged tip.
    staged_tips: HashMap<TenantId, Tip>,
    trees: Trees,
}

impl TreeWrite for MemTxn<'_> {
    fn tree_size(&mut self, tenant: &TenantId) -> Result<u64, StoreError> {
        Ok(self
            .trees
            .sizes
            .get(tenant)
            .or_else(|| self.state.trees.sizes.get(tenant))
            .copied()
            .unwrap_or(0))
    }

    fn tile(&mut self, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        let key = (tenant.clone(), id);
        Ok(self
            .trees
            .tiles
            .get(&key)
            .or_else(|| self.state.trees.tiles.get(&key))
            .cloned())
    }

    fn put_tile(&mut self, tenant: &TenantId, id: TileId, hashes: &[u8]) -> Result<(), StoreError> {
        self.trees
            .tiles
            .insert((tenant.clone(), id), hashes.to_vec());
        Ok(())
    }

    fn set_tree_size(&mut self, tenant: &TenantId, size: u64) -> Result<(), StoreError> {
        self.trees.sizes.insert(tenant.clone(), size);
        Ok(())
    }

    fn latest_checkpoint(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let staged = self.trees.latest(tenant);
        let stored = self.state.trees.latest(tenant);
        Ok(match (staged, stored) {
            (Some(a), Some(b)) => Some(if a.size >= b.size { a } else { b }),
            (a, b) => a.or(b),
        }
        .cloned())
    }

    fn put_checkpoint(
        &mut self,
        tenant: &TenantId,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        let exists = self
            .state
            .trees
            .checkpoints
            .get(tenant)
            .is_some_and(|c| c.contains_key(&checkpoint.size));
        if !exists {
            self.trees
                .checkpoints
                .entry(tenant.clone())
                .or_default()
                .entry(checkpoint.size)
                .or_insert_with(|| checkpoint.clone());
        }
        Ok(())
    }
}

impl WriteTxn for MemTxn<'_> {
    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        if let Some(tip) = self.staged_tips.get(tenant) {
            return Ok(Some(*tip));
        }
        Ok(self.state.tip(tenant))
    }

    fn find(&mut self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        if let Some(e) = self.staged_ids.get(id).and_then(|&i| self.staged.get(i)) {
            return Ok(Some(e.clone()));
        }
        Ok(self
            .state
            .by_id
            .get(id)
            .and_then(|(t, s)| self.state.entry(t, *s))
            .cloned())
    }

    fn append(&mut self, entry: &NewEntry<'_>) -> Result<(), StoreError> {
        if self.find(entry.receipt_id)?.is_some() {
            return Err(StoreError::DuplicateId {
                id: entry.receipt_id.clone(),
            });
        }
        let expected = self.tip(entry.tenant)?.map_or(0, |t| t.len);
        if entry.seq != expected {
            return Err(StoreError::SequenceGap {
                tenant: entry.tenant.clone(),
                expected,
                found: entry.seq,
            });
        }
        self.staged_ids
            .insert(entry.receipt_id.clone(), self.staged.len());
        self.staged_tips.insert(
            entry.tenant.clone(),
            Tip {
                len: entry.seq + 1,
                hash: entry.receipt_hash,
            },
        );
        self.staged.push(entry.to_stored());
        Ok(())
    }

    fn tree(&mut self) -> Option<&mut dyn TreeWrite> {
        Some(self)
    }
}

impl Store for MemoryStore {
    fn set_durability(&self, _durability: Durability) -> Result<(), StoreError> {
        Ok(())
    }

    fn signing_keys(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        Ok(self.lock().keys.clone())
    }

    fn claim_signing_key(&self, key: &[u8; 32]) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut state = self.lock();
        if state.keys.is_empty() {
            state.keys.push(*key);
        }
        Ok(state.keys.clone())
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut txn = MemTxn {
            state: &state,
            staged: Vec::new(),
            staged_ids: HashMap::new(),
            staged_tips: HashMap::new(),
            trees: Trees::default(),
        };
        f(&mut txn)?;
        let staged = txn.staged;
        let trees = txn.trees;
        state.trees.merge(trees);
        for e in staged {
            state
                .by_id
                .insert(e.receipt_id.clone(), (e.tenant.clone(), e.seq));
            state.log.push((e.tenant.clone(), e.seq));
            state.chains.entry(e.tenant.clone()).or_default().push(e);
        }
        Ok(())
    }

    fn tip(&self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        Ok(self.lock().tip(tenant))
    }

    fn get(&self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        let state = self.lock();
        Ok(state
            .by_id
            .get(id)
            .and_then(|(t, s)| state.entry(t, *s))
            .cloned())
    }

    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        Ok(self.lock().chains.keys().cloned().collect())
    }

    fn page(
        &self,
        selector: &Selector,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let state = self.lock();
        let mut entries = Vec::new();
        let mut next = None;
        match selector {
            Selector::Tenant { tenant, seq, time } => {
                let chain = state
                    .chains
                    .get(tenant)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let start = cursor.unwrap_or(seq.start).max(seq.start);
                let end = seq.end.min(chain.len() as u64);
                let mut s = start;
                while s < end {
                    if entries.len() == limit {
                        next = Some(s);
                        break;
                    }
                    if let Some(e) = chain.get(usize::try_from(s).unwrap_or(usize::MAX))
                        && time
                            .as_ref()
                            .is_none_or(|t| t.contains(&e.timestamp_micros))
                    {
                        entries.push(e.clone());
                    }
                    s += 1;
                }
            }
            // An empty trace or session id means "none": it selects nothing (as in every store).
            Selector::Trace(id) if id.as_str().is_empty() => {}
            Selector::Session(id) if id.as_str().is_empty() => {}
            Selector::Trace(_) | Selector::Session(_) => {
                let mut i = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
                while let Some((t, s)) = state.log.get(i) {
                    if entries.len() == limit {
                        next = Some(i as u64);
                        break;
                    }
                    if let Some(e) = state.entry(t, *s) {
                        let hit = match selector {
                            Selector::Trace(id) => e.trace_id == *id,
                            Selector::Session(id) => e.session_id == *id,
                            Selector::Tenant { .. } => false,
                        };
                        if hit {
                            entries.push(e.clone());
                        }
                    }
                    i += 1;
                }
            }
        }
        Ok(Page { entries, next })
    }

    fn tree(&self) -> Option<&dyn TreeRead> {
        Some(self)
    }
}

impl TreeRead for MemoryStore {
    fn tree_size(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        Ok(self.lock().trees.sizes.get(tenant).copied().unwrap_or(0))
    }

    fn tile(&self, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().trees.tiles.get(&(tenant.clone(), id)).cloned())
    }

    fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self.lock().trees.latest(tenant).cloned())
    }

    fn checkpoint_at(
        &self,
        tenant: &TenantId,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self
            .lock()
            .trees
            .checkpoints
            .get(tenant)
            .and_then(|c| c.get(&size))
            .cloned())
    }
}
