//! Queues in front of an [`Auditor`](super::Auditor) and the receipts they lose.
//!
//! `#[audited]` scopes, the tracing layer and the HTTP layer do not emit on the application's
//! thread: they queue what they captured for a worker that hashes it and submits it. Such a
//! queue is an *upstream* of the auditor. [`Auditor::flush`](super::Auditor::flush) and
//! [`Auditor::shutdown`](super::Auditor::shutdown) drain every upstream first, so a receipt
//! that was queued before either call is stored (or reported as lost) before it returns.
//! Receipts an upstream cannot deliver are reported to the auditor with
//! [`Auditor::report_lost`](super::Auditor::report_lost), so that one
//! [`AuditorStats`](super::AuditorStats) shows everything, and `shutdown` never answers `Ok`
//! after losing a receipt.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

/// A process-wide worker that hands receipts to auditors (the capture worker of `#[audited]`
/// scopes, the detached sink worker). Every auditor's flush and shutdown drain it; the worker
/// registers its drain when it starts, so the auditor does not depend on the modules that use it.
pub(crate) struct ProcessWorker(OnceLock<fn()>);

impl ProcessWorker {
    const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// Registers the worker's drain, once it has started (a second registration is ignored).
    pub(crate) fn started(&self, drain: fn()) {
        let _ = self.0.set(drain);
    }

    /// Drains the worker, if it was ever started.
    fn drain(&self) {
        if let Some(drain) = self.0.get() {
            drain();
        }
    }
}

/// The capture worker (`capture`), drained first.
pub(crate) static CAPTURE_WORKER: ProcessWorker = ProcessWorker::new();
/// The detached sink worker (`sink`).
pub(crate) static DETACHED_SINK: ProcessWorker = ProcessWorker::new();

/// A queue that hands receipts to an auditor from a worker of its own (see the module docs).
///
/// Register it with [`Auditor::add_upstream`](super::Auditor::add_upstream).
pub trait Upstream: Send + Sync {
    /// Hands every receipt queued before this call to the auditor, and returns once it has
    /// (the auditor's own flush then makes them durable). Must not call back into
    /// [`Auditor::flush`](super::Auditor::flush) or `shutdown`.
    fn drain(&self);

    /// Receipts queued here and not yet handed to the auditor.
    fn pending(&self) -> u64 {
        0
    }
}

/// Why a receipt that an application produced was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossCause {
    /// A lossy queue was full and dropped it.
    Dropped,
    /// The auditor was already shut down.
    Refused,
    /// The signer or the store failed and nobody was waiting for the answer (or a fail-open
    /// caller went on without it).
    NotStored,
    /// Its tenant id is not a valid tenant id ([`TenantId::parse`](crate::TenantId::parse)):
    /// an `#[audited]` or traced decision whose tenant came out empty, too long or with
    /// control characters is not written into a chain nobody would look for.
    InvalidTenant,
}

impl LossCause {
    /// The `cause` label of `ai_audit_receipts_lost_total` (see [`crate::metrics`]).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Dropped => "dropped",
            Self::Refused => "refused",
            Self::NotStored => "not_stored",
            Self::InvalidTenant => "invalid_tenant",
        }
    }
}

/// Receipts lost, by cause (in [`AuditorStats::lost`](super::AuditorStats::lost)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lost {
    /// Dropped by a lossy queue.
    pub dropped: u64,
    /// Refused because the auditor was shut down.
    pub refused: u64,
    /// Not stored (signer or store failure) with nobody told at the time.
    pub not_stored: u64,
    /// Not written because their tenant id is not valid.
    pub invalid_tenant: u64,
}

impl Lost {
    /// All receipts lost.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.dropped + self.refused + self.not_stored + self.invalid_tenant
    }
}

/// The registered upstreams and the loss counters of one auditor.
#[derive(Default)]
pub(crate) struct Upstreams {
    list: Mutex<Vec<Weak<dyn Upstream>>>,
    pub(crate) dropped: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) invalid_tenant: AtomicU64,
    /// Error answers nobody read (counted by the reply slots) and failures reported by
    /// upstreams.
    pub(crate) not_stored: Arc<AtomicU64>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("lost", &self.lost())
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    pub(crate) fn add(&self, upstream: Weak<dyn Upstream>) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|u| u.strong_count() > 0);
        list.push(upstream);
    }

    fn live(&self) -> Vec<Arc<dyn Upstream>> {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Drains the capture worker, the detached sink worker and every live upstream.
    pub(crate) fn drain(&self) {
        CAPTURE_WORKER.drain();
        DETACHED_SINK.drain();
        for u in self.live() {
            u.drain();
        }
    }

    pub(crate) fn pending(&self) -> u64 {
        self.live().iter().map(|u| u.pending()).sum()
    }

    pub(crate) fn report(&self, n: u64, cause: LossCause) {
        let counter = match cause {
            LossCause::Dropped => &self.dropped,
            LossCause::Refused => &self.refused,
            LossCause::NotStored => &*self.not_stored,
            LossCause::InvalidTenant => &self.invalid_tenant,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        crate::metrics::lost(n, cause.label());
    }

    pub(crate) fn lost(&self) -> Lost {
        Lost {
            dropped: self.dropped.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            not_stored: self.not_stored.load(Ordering::Relaxed),
            invalid_tenant: self.invalid_tenant.load(Ordering::Relaxed),
        }
    }
}
