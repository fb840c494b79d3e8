//! Tenants the writer no longer appends to: their stored chain is damaged, rolled back, or
//! fails every commit. Emits for them are answered at once with
//! [`EmitError::Quarantined`](super::EmitError::Quarantined); every other tenant commits
//! normally, so one bad tenant never fails another's group commits.
//!
//! Tenants are quarantined when the `Auditor` is built (the store's faults and a quick check of
//! each tenant, see [`crate::store::check`]) and when a commit fails for a reason that retrying
//! cannot fix: the writer then commits the batch tenant by tenant, and quarantines those whose
//! own commit still fails. Quarantine lasts for the auditor's life; repair the store (see
//! `ai-audit db check`) and start a new auditor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::receipt::TenantId;
use crate::store::StoreError;

#[derive(Debug, Default)]
pub(crate) struct Quarantine {
    /// Whether any tenant is quarantined (the writer's per-receipt check reads only this in the
    /// common case).
    any: AtomicBool,
    tenants: RwLock<HashMap<TenantId, Arc<StoreError>>>,
}

impl Quarantine {
    /// Why `tenant` is quarantined, if it is.
    pub(crate) fn get(&self, tenant: &TenantId) -> Option<Arc<StoreError>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned()
    }

    /// Quarantines `tenant` (keeping the first reason).
    pub(crate) fn insert(&self, tenant: TenantId, why: Arc<StoreError>) {
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant)
            .or_insert(why);
        self.any.store(true, Ordering::Release);
    }

    /// Every quarantined tenant and why, sorted by tenant.
    pub(crate) fn list(&self) -> Vec<(TenantId, Arc<StoreError>)> {
        let mut out: Vec<_> = self
            .tenants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(t, e)| (t.clone(), Arc::clone(e)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// What the `Auditor` builder checks before it starts writing: the store's own faults (a chain
/// behind its high-water record), then each tenant's tree brought up to its chain (stores
/// written before trees were kept) and a quick check of its tip, last receipt and tree. A
/// tenant that fails is quarantined; the others are served.
///
/// # Errors
/// Backend failures listing the tenants or the faults.
pub(crate) fn check_on_build(
    store: &dyn crate::store::Store,
    quarantine: &Quarantine,
) -> Result<(), StoreError> {
    use crate::store::{check, tree};
    for (tenant, fault) in store.faults()? {
        let why = StoreError::Refused {
            tenant: tenant.clone(),
            fault,
        };
        quarantine.insert(tenant, Arc::new(why));
    }
    for tenant in store.tenants()? {
        if quarantine.get(&tenant).is_some() {
            continue;
        }
        if let Err(e) = tree::sync_from_lines(store, &tenant) {
            if e.is_retryable() {
                return Err(e);
            }
            quarantine.insert(tenant, Arc::new(e));
            continue;
        }
        let status = check::check_tenant(store, &tenant, check::Depth::Quick, None)?;
        if let Some(fault) = status.fault {
            let why = StoreError::Refused {
                tenant: tenant.clone(),
                fault,
            };
            quarantine.insert(tenant, Arc::new(why));
        }
    }
    Ok(())
}
