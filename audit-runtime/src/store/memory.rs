//! The in-memory store: the same contract as the durable stores, for tests and examples. It never
//! evicts anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::{Durability, NewEntry, Page, Selector, Store, StoreError, StoredEntry, Tip, WriteTxn};
use crate::receipt::{ReceiptId, TenantId};

#[derive(Debug, Default)]
struct State {
    chains: BTreeMap<TenantId, Vec<StoredEntry>>,
    by_id: HashMap<ReceiptId, (TenantId, u64)>,
    /// Global append order, for trace and session queries.
    log: Vec<(TenantId, u64)>,
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
}

impl WriteTxn for MemTxn<'_> {
    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        if let Some(last) = self.staged.iter().rev().find(|e| e.tenant == *tenant) {
            return Ok(Some(Tip {
                len: last.seq + 1,
                hash: last.receipt_hash,
            }));
        }
        Ok(self.state.tip(tenant))
    }

    fn find(&mut self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        if let Some(e) = self.staged.iter().find(|e| e.receipt_id == *id) {
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
        self.staged.push(entry.to_stored());
        Ok(())
    }
}

impl Store for MemoryStore {
    fn set_durability(&self, _durability: Durability) -> Result<(), StoreError> {
        Ok(())
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let mut txn = MemTxn {
            state: &state,
            staged: Vec::new(),
        };
        f(&mut txn)?;
        let staged = txn.staged;
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
}
