//! A store whose every write fails.

use ai_audit::TenantId;
use ai_audit::store::{self, MemoryStore, Store, StoreError};

/// A store whose every write fails, as a full or broken disk would.
#[derive(Debug, Default)]
pub(crate) struct FailingStore(MemoryStore);

impl Store for FailingStore {
    fn set_durability(&self, durability: store::Durability) -> Result<(), StoreError> {
        self.0.set_durability(durability)
    }
    fn write(
        &self,
        _f: &mut dyn FnMut(&mut dyn store::WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        Err(StoreError::Backend {
            operation: "write",
            source: "the disk is gone".into(),
        })
    }
    fn tip(&self, tenant: &TenantId) -> Result<Option<store::Tip>, StoreError> {
        self.0.tip(tenant)
    }
    fn get(&self, id: &ai_audit::ReceiptId) -> Result<Option<store::StoredEntry>, StoreError> {
        self.0.get(id)
    }
    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.0.tenants()
    }
    fn page(
        &self,
        selector: &store::Selector,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<store::Page, StoreError> {
        self.0.page(selector, cursor, limit)
    }
}
