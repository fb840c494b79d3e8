//! A store whose writes (and, on request, reads) fail, as a full, read-only or broken disk
//! would make them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ai_audit::TenantId;
use ai_audit::store::{self, MemoryStore, Store, StoreError};

/// By default every write fails. [`FailingStore::working`] starts healthy and breaks on
/// request. It keeps no Merkle tree, so exports from it need no new checkpoint.
#[derive(Debug)]
pub(crate) struct FailingStore {
    inner: MemoryStore,
    writes_fail: AtomicBool,
    continued_pages_fail: AtomicBool,
}

impl Default for FailingStore {
    fn default() -> Self {
        Self {
            inner: MemoryStore::new(),
            writes_fail: AtomicBool::new(true),
            continued_pages_fail: AtomicBool::new(false),
        }
    }
}

fn broken(operation: &'static str) -> StoreError {
    StoreError::Backend {
        operation,
        source: "the disk is gone".into(),
    }
}

impl FailingStore {
    /// A store that works until [`FailingStore::fail_writes`] or
    /// [`FailingStore::fail_continued_pages`].
    pub(crate) fn working() -> Arc<Self> {
        let s = Self::default();
        s.writes_fail.store(false, Ordering::SeqCst);
        Arc::new(s)
    }

    /// From now on every write fails.
    pub(crate) fn fail_writes(&self) {
        self.writes_fail.store(true, Ordering::SeqCst);
    }

    /// From now on every page of a read after the first fails (a read that breaks mid-way).
    pub(crate) fn fail_continued_pages(&self) {
        self.continued_pages_fail.store(true, Ordering::SeqCst);
    }
}

impl Store for FailingStore {
    fn set_durability(&self, durability: store::Durability) -> Result<(), StoreError> {
        self.inner.set_durability(durability)
    }
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn store::WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if self.writes_fail.load(Ordering::SeqCst) {
            return Err(broken("write"));
        }
        self.inner.write(f)
    }
    fn tip(&self, tenant: &TenantId) -> Result<Option<store::Tip>, StoreError> {
        self.inner.tip(tenant)
    }
    fn get(&self, id: &ai_audit::ReceiptId) -> Result<Option<store::StoredEntry>, StoreError> {
        self.inner.get(id)
    }
    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.inner.tenants()
    }
    fn page(
        &self,
        selector: &store::Selector,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<store::Page, StoreError> {
        if cursor.is_some() && self.continued_pages_fail.load(Ordering::SeqCst) {
            return Err(broken("page"));
        }
        self.inner.page(selector, cursor, limit)
    }
}
