//! The checkpointer: signs a checkpoint of a tenant's tree once `every_receipts` receipts or
//! `every` time have passed since its last one, and for every tenant with unsigned receipts when
//! the auditor shuts down. It runs on the committer thread, after emitters were answered. The
//! checkpoints due at one time are stored in one transaction, so a thousand tenants cost one
//! fsync, not a thousand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::log::{self, Known, Prepared};
use crate::merkle::Hash;
use crate::receipt::TenantId;
use crate::seal::Signer;
use crate::store::Store;

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
    /// them needs no reading back (see `log::auth`).
    known: HashMap<TenantId, Known>,
    /// Checkpoints that could not be signed (reported through the auditor's stats).
    pub(crate) failures: Arc<std::sync::atomic::AtomicU64>,
    /// When commits next look for tenants due by time (a busy committer never reaches
    /// [`Checkpointer::tick`]).
    next_scan: Instant,
    /// Tenants found due beyond [`MAX_PER_ROUND`]: signed in the next rounds.
    deferred: Vec<TenantId>,
    /// Receipts in `unsigned`, all tenants together (published as the checkpoint lag).
    lag: u64,
}

/// At most this many checkpoints are signed after one commit or tick (all at shutdown), so a
/// moment when thousands of tenants fall due does not hold the next commit for long.
const MAX_PER_ROUND: usize = 512;

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
            next_scan: Instant::now(),
            deferred: Vec::new(),
            lag: 0,
        }
    }

    /// How long the committer may wait for a batch before [`Checkpointer::tick`] is due.
    pub(crate) fn wait(&self) -> Duration {
        if self.deferred.is_empty() {
            self.policy.every.max(Duration::from_millis(1))
        } else {
            Duration::from_millis(1)
        }
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

    /// Records the receipts a commit appended, per tenant, and signs the checkpoints now due:
    /// those tenants' by count or time, and every tenant's by time at most four times per
    /// interval.
    pub(crate) fn committed(&mut self, appended: &[(TenantId, u64)]) {
        if self.store.tree().is_none() {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        for (tenant, n) in appended.iter().filter(|(_, n)| *n > 0) {
            let slot = self.unsigned.entry(tenant.clone()).or_insert((0, now));
            slot.0 += n;
            self.lag += n;
            if slot.0 >= self.policy.every_receipts || now - slot.1 >= self.policy.every {
                due.push(tenant.clone());
            }
        }
        if now >= self.next_scan {
            due.extend(self.due_by_time(now));
        }
        self.sign_round(due);
        crate::metrics::checkpoint_lag(self.lag);
    }

    /// Signs every tenant whose oldest unsigned receipt is older than the interval.
    pub(crate) fn tick(&mut self) {
        let due = self.due_by_time(Instant::now());
        self.sign_round(due);
    }

    /// Signs every tenant with unsigned receipts (shutdown).
    pub(crate) fn finish(&mut self) {
        let all: Vec<TenantId> = self.unsigned.keys().cloned().collect();
        self.deferred.clear();
        self.sign_all(all);
    }

    /// Signs `due` and the tenants deferred before, at most [`MAX_PER_ROUND`]; defers the rest.
    fn sign_round(&mut self, mut due: Vec<TenantId>) {
        due.append(&mut self.deferred);
        due.sort_unstable();
        due.dedup();
        if due.len() > MAX_PER_ROUND {
            self.deferred = due.split_off(MAX_PER_ROUND);
        }
        self.sign_all(due);
    }

    fn due_by_time(&mut self, now: Instant) -> Vec<TenantId> {
        self.next_scan = now + (self.policy.every / 4).max(Duration::from_millis(1));
        self.unsigned
            .iter()
            .filter(|(_, (_, since))| now - *since >= self.policy.every)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Signs the tenants' checkpoints and stores them in one transaction. A tenant whose
    /// checkpoint cannot be signed, or a failed store, counts as a failure and is tried again
    /// one interval later (or at its next commit past the receipt count): a signer that is down
    /// is not retried in a loop. `tenants` holds each tenant once.
    fn sign_all(&mut self, tenants: Vec<TenantId>) {
        let mut signed = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            let prepared = log::prepare_checkpoint(
                self.store.as_ref(),
                &tenant,
                None,
                &self.policy.log_name,
                self.signer.as_ref(),
                self.known.get(&tenant),
            );
            match prepared {
                Ok(Prepared::Stored(cp)) => self.covered(&tenant, cp.size),
                Ok(Prepared::Signed(cp)) => signed.push((tenant, cp)),
                Err(_) => self.failed(&[tenant]),
            }
        }
        if signed.is_empty() {
            return;
        }
        let all: Vec<_> = signed.iter().map(|(t, cp)| (t, cp)).collect();
        if log::store_checkpoints(self.store.as_ref(), &all).is_ok() {
            for (tenant, cp) in signed {
                self.covered(&tenant, cp.size);
                self.known.entry(tenant).or_default().signed = Some(cp);
            }
        } else {
            let tenants: Vec<_> = signed.into_iter().map(|(t, _)| t).collect();
            self.failed(&tenants);
        }
    }

    /// A checkpoint of `size` is stored for `tenant`.
    fn covered(&mut self, tenant: &TenantId, size: u64) {
        if let Some((n, _)) = self.unsigned.remove(tenant) {
            self.lag = self.lag.saturating_sub(n);
            crate::metrics::checkpoints_signed(1);
        }
        if let Some(k) = self.known.get_mut(tenant) {
            k.covered(size);
        }
    }

    /// Counts the tenants' failed checkpoints and restarts their interval.
    fn failed(&mut self, tenants: &[TenantId]) {
        self.failures
            .fetch_add(tenants.len() as u64, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::checkpoint_failures(tenants.len() as u64);
        let now = Instant::now();
        for t in tenants {
            if let Some(slot) = self.unsigned.get_mut(t) {
                slot.1 = now;
            }
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
    let mut at: HashMap<&TenantId, usize> = HashMap::new();
    for o in outcomes.iter().filter(|o| !o.duplicate) {
        match at.get(&o.tenant).and_then(|&i| out.get_mut(i)) {
            Some((_, n)) => *n += 1,
            None => {
                at.insert(&o.tenant, out.len());
                out.push((o.tenant.clone(), 1));
            }
        }
    }
    out
}
