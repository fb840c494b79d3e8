//! The checkpointer: signs a checkpoint of a tenant's tree once `every_receipts` receipts or
//! `every` time have passed since its last one, and for every tenant with unsigned receipts when
//! the auditor shuts down. It runs on the committer thread, after emitters were answered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::merkle::Hash;
use crate::receipt::TenantId;
use crate::seal::Signer;
use crate::store::Store;
use crate::transparency::{self, Known};

/// When checkpoints are signed.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) log_name: String,
    pub(crate) every_receipts: u64,
    pub(crate) every: Duration,
}

pub(crate) struct Checkpointer {
    policy: Policy,
    store: Arc<dyn Store>,
    signer: Arc<dyn Signer>,
    /// Tenants with receipts not yet covered by a checkpoint: count and when the first came.
    unsigned: HashMap<TenantId, (u64, Instant)>,
    /// The leaves this process appended since the tenant's last checkpoint: a checkpoint over
    /// them needs no reading back (see `transparency::auth`).
    known: HashMap<TenantId, Known>,
    /// Checkpoints that could not be signed (reported through the auditor's stats).
    pub(crate) failures: Arc<std::sync::atomic::AtomicU64>,
}

impl Checkpointer {
    pub(crate) fn new(
        policy: Policy,
        store: Arc<dyn Store>,
        signer: Arc<dyn Signer>,
        failures: Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        Self {
            policy,
            store,
            signer,
            unsigned: HashMap::new(),
            known: HashMap::new(),
            failures,
        }
    }

    /// How long the committer may wait for a batch before [`Checkpointer::tick`] is due.
    pub(crate) fn wait(&self) -> Duration {
        self.policy.every.max(Duration::from_millis(1))
    }

    /// Records a leaf this process appended.
    pub(crate) fn appended(&mut self, tenant: &TenantId, seq: u64, leaf: Hash) {
        if let Some(k) = self.known.get_mut(tenant) {
            k.push(seq, leaf);
        } else {
            let mut k = Known::default();
            k.push(seq, leaf);
            self.known.insert(tenant.clone(), k);
        }
    }

    /// Records receipts committed for `tenant`, and signs if its policy says so.
    pub(crate) fn committed(&mut self, tenant: &TenantId, n: u64) {
        if n == 0 || self.store.tree().is_none() {
            return;
        }
        let now = Instant::now();
        let slot = self.unsigned.entry(tenant.clone()).or_insert((0, now));
        slot.0 += n;
        if slot.0 >= self.policy.every_receipts || now - slot.1 >= self.policy.every {
            self.sign(tenant);
        }
    }

    /// Signs every tenant whose oldest unsigned receipt is older than the interval.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        let due: Vec<TenantId> = self
            .unsigned
            .iter()
            .filter(|(_, (_, since))| now - *since >= self.policy.every)
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            self.sign(&t);
        }
    }

    /// Signs every tenant with unsigned receipts (shutdown).
    pub(crate) fn finish(&mut self) {
        let all: Vec<TenantId> = self.unsigned.keys().cloned().collect();
        for t in all {
            self.sign(&t);
        }
    }

    fn sign(&mut self, tenant: &TenantId) {
        let signed = transparency::checkpoint_known(
            self.store.as_ref(),
            tenant,
            None,
            &self.policy.log_name,
            self.signer.as_ref(),
            self.known.get(tenant),
        );
        if let Ok(cp) = signed {
            self.unsigned.remove(tenant);
            if let Some(k) = self.known.get_mut(tenant) {
                k.covered(cp.size);
            }
        } else {
            self.failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Receipts a commit appended, per tenant (duplicates append nothing).
pub(crate) fn appended(
    result: &Result<Vec<super::Emitted>, super::EmitError>,
) -> Vec<(TenantId, u64)> {
    let mut out: Vec<(TenantId, u64)> = Vec::new();
    let Ok(outcomes) = result else {
        return out;
    };
    for o in outcomes.iter().filter(|o| !o.duplicate) {
        match out.iter_mut().find(|(t, _)| *t == o.tenant) {
            Some((_, n)) => *n += 1,
            None => out.push((o.tenant.clone(), 1)),
        }
    }
    out
}
