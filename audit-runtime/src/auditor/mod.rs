//! The [`Auditor`]: the runtime handle that seals receipts onto per-tenant chains and stores
//! them durably.
//!
//! `emit` puts the receipt on a bounded queue and waits; one writer thread takes whatever is
//! queued, assigns chain positions in per-tenant order, signs the batch across all cores and
//! commits it in one store transaction (group commit: one fsync for many receipts). `emit`
//! returns once the receipt is durable at the configured [`Durability`]. A full queue makes
//! `emit` wait (backpressure) and [`Auditor::try_emit`] fail with [`EmitError::Full`]; nothing is
//! ever dropped silently.
//!
//! ```
//! use audit_runtime::store::MemoryStore;
//! use audit_runtime::{Auditor, Receipt, SigningKey};
//!
//! let auditor = Auditor::builder()
//!     .signer(SigningKey::generate()?)
//!     .store(MemoryStore::new())
//!     .build()?;
//! let first = auditor.emit(Receipt::new("acme"))?;
//! let second = auditor.emit(Receipt::new("acme"))?;
//! assert_eq!((first.seq, second.seq), (0, 1));
//! auditor.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpointer;
mod key_check;
mod quarantine;
mod queue;
mod sealing;
mod upstream;
mod writer;

pub use key_check::StoreKey;
pub use sealing::SealingMode;
use upstream::Upstreams;
pub(crate) use upstream::{CAPTURE_WORKER, DETACHED_SINK};
pub use upstream::{LossCause, Lost, Upstream};

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use queue::{Job, PushError, Queue, ReplySlot};
use writer::{Counters, Writer};

use crate::canonical::CanonicalError;
use crate::log::{self, TransparencyError};
use crate::note::{self, DEFAULT_LOG_NAME};
use crate::receipt::{Receipt, ReceiptId, TenantId};
use crate::seal::{SealError, Signer};
use crate::store::{Durability, Store, StoreError, StoredCheckpoint};

/// Default bound of the emit queue.
pub const DEFAULT_QUEUE_BOUND: usize = 16_384;
/// Default largest group commit.
pub const DEFAULT_MAX_BATCH: usize = 4096;
/// Default: a checkpoint after this many receipts of a tenant…
pub const DEFAULT_CHECKPOINT_RECEIPTS: u64 = 10_000;
/// …or once its oldest unsigned receipt is this old.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// What `emit` returns once the receipt is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// The receipt's id.
    pub receipt_id: ReceiptId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its position in the tenant's chain (from 0).
    pub seq: u64,
    /// Its `receipt_hash`.
    pub receipt_hash: [u8; 32],
    /// `true` if this receipt id had already been emitted: the first result is returned and
    /// nothing was appended.
    pub duplicate: bool,
}

impl Emitted {
    /// `receipt_hash` as hex.
    #[must_use]
    pub fn receipt_hash_hex(&self) -> String {
        crate::canonical::to_hex(self.receipt_hash)
    }
}

/// Why a receipt was not stored. Every emit gets exactly one answer; none is lost silently.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The queue is full ([`Auditor::try_emit`] only; `emit` waits instead).
    #[error("the audit queue is full; retry, or use emit() to wait for room")]
    Full,
    /// The auditor was shut down; the receipt was not accepted.
    #[error("the auditor is shut down and accepts no more receipts")]
    Closed,
    /// The receipt holds values the v1 format cannot carry (caller's fault).
    #[error("the receipt cannot be sealed")]
    InvalidReceipt(#[source] CanonicalError),
    /// The signer failed; nothing of the batch was stored.
    #[error("signing failed; nothing of this batch was stored")]
    Sign(#[source] Arc<SealError>),
    /// The store failed; nothing of the batch was stored.
    #[error("the store failed; nothing of this batch was stored")]
    Store(#[source] Arc<StoreError>),
    /// The writer hit a bug; the receipt may not be stored.
    #[error("internal error in the audit writer; the receipt may not be stored")]
    Internal,
    /// The tenant is quarantined: its stored chain is damaged or rolled back, so nothing is
    /// appended to it until the store is repaired (`ai-audit db check`). Other tenants are not
    /// affected.
    #[error(
        "tenant {:?} is quarantined: the store cannot append to its chain (other tenants are not affected; run `ai-audit db check`)", .tenant.as_str()
    )]
    Quarantined {
        /// The tenant.
        tenant: TenantId,
        /// What the store found.
        #[source]
        reason: Arc<StoreError>,
    },
}

impl EmitError {
    /// Whether retrying may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Full => true,
            Self::Sign(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
            Self::Closed | Self::InvalidReceipt(_) | Self::Internal | Self::Quarantined { .. } => {
                false
            }
        }
    }

    /// How a receipt that failed with this error is counted when nobody else hears of it.
    pub(crate) fn loss_cause(&self) -> LossCause {
        match self {
            Self::Closed => LossCause::Refused,
            _ => LossCause::NotStored,
        }
    }
}

/// Why an [`Auditor`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditorError {
    /// No signer was given.
    #[error(
        "no signer: call AuditorBuilder::signer (e.g. with AuditConfig::from_env()?.signing_key().clone())"
    )]
    MissingSigner,
    /// No store was given and no default store is compiled in.
    #[error(
        "no store: call AuditorBuilder::store (the default SQLite store needs the `sqlite` feature)"
    )]
    MissingStore,
    /// Opening or configuring the store failed.
    #[error("cannot set up the store")]
    Store(#[from] StoreError),
    /// [`SealingMode::Checkpointed`] was asked of a store that keeps no Merkle tree, so its
    /// unsigned receipts could never be authenticated.
    #[error(
        "Checkpointed sealing needs a store that keeps a Merkle tree (the SQLite and memory stores do); use SealingMode::PerReceipt with this store"
    )]
    CheckpointedWithoutTree,
    /// The signer failed while deriving the Checkpointed line-tag key.
    #[error("the signer failed; the Checkpointed line-tag key could not be derived")]
    Signer(#[source] SealError),
    /// The configured log name cannot name a log
    /// ([`log_name_problem`](crate::note::log_name_problem)).
    #[error(
        "{name:?} cannot be a log name: {why}; choose a DNS-like name such as audit.example.com (AuditorBuilder::log_name; in the CLI, --log-name or AI_AUDIT_LOG_NAME)"
    )]
    LogName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The store's receipts were signed by another key than the signer's. Appending would mix
    /// two keys in one chain (and every later export of it would fail), so nothing is written.
    #[error(
        "the store was written under {store}, but this auditor's signer is key {signer}: nothing was appended. Start the service with the key that wrote the store (AI_AUDIT_SIGNING_KEY or AI_AUDIT_SIGNING_KEY_FILE; an ephemeral key is never the same twice), or give the new key a new store (AI_AUDIT_DATA_DIR or another path); changing a store's key in place is not supported yet"
    )]
    ForeignKey {
        /// The key(s) that wrote the store.
        store: StoreKey,
        /// The signer's key fingerprint.
        signer: String,
    },
    /// The writer thread could not be started.
    #[error("cannot start the audit writer thread")]
    Thread(#[source] std::io::Error),
}

/// Counters of an [`Auditor`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditorStats {
    /// Receipts appended.
    pub emitted: u64,
    /// Emits answered with an earlier receipt of the same id.
    pub duplicates: u64,
    /// Group commits.
    pub batches: u64,
    /// Emits answered with an error.
    pub failed: u64,
    /// Jobs waiting in the queue now.
    pub queued: usize,
    /// Checkpoints that could not be signed or stored (retried with the next receipts).
    pub checkpoint_failures: u64,
    /// Receipts lost without anyone being told at the time, by cause: error answers nobody
    /// waited for (receipts from `#[audited]` scopes and other fire-and-forget submits), and
    /// what upstreams (the tracing layer, fail-open sinks) reported with
    /// [`Auditor::report_lost`]. [`Auditor::shutdown`] fails when this is not zero.
    pub lost: Lost,
    /// Receipts waiting in registered upstream queues (the tracing layer's), not yet handed to
    /// this auditor.
    pub upstream_pending: u64,
}

/// [`Auditor::shutdown`] stored everything it could, but some receipts were lost.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// Receipts were lost during this auditor's life (the counts are in [`AuditorStats::lost`]).
    #[error(
        "{} receipt(s) were not stored: {} failed in the signer or store with nobody waiting for the answer, {} arrived after shutdown, {} were dropped by a lossy queue, {} named an invalid tenant id (Auditor::stats().lost has the counts; fix the store or signer, shut the auditor down only after the application stops producing receipts, and give every decision a valid tenant)",
        lost.total(), lost.not_stored, lost.refused, lost.dropped, lost.invalid_tenant
    )]
    Lost {
        /// The counts by cause.
        lost: Lost,
    },
}

impl ShutdownError {
    /// How many receipts were lost.
    #[must_use]
    pub fn count(&self) -> u64 {
        match self {
            Self::Lost { lost } => lost.total(),
        }
    }
}

/// Builds an [`Auditor`].
#[must_use]
#[derive(Default)]
pub struct AuditorBuilder {
    signer: Option<Arc<dyn Signer>>,
    store: Option<Arc<dyn Store>>,
    durability: Durability,
    queue_bound: Option<usize>,
    max_batch: Option<usize>,
    sign_threads: Option<usize>,
    log_name: Option<String>,
    checkpoint_every: Option<(u64, Duration)>,
    sealing: SealingMode,
}

impl fmt::Debug for AuditorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditorBuilder")
            .field("store", &self.store)
            .field("durability", &self.durability)
            .field("queue_bound", &self.queue_bound)
            .field("sealing", &self.sealing)
            .finish_non_exhaustive()
    }
}

impl AuditorBuilder {
    /// The signer (a [`crate::SigningKey`], or a KMS-backed [`Signer`]).
    pub fn signer(mut self, signer: impl Signer + 'static) -> Self {
        self.signer = Some(Arc::new(signer));
        self
    }

    /// The signer, shared.
    pub fn shared_signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The store.
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The store, shared (to query it while the auditor writes).
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// How durable a receipt is when `emit` returns (default [`Durability::Durable`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How many receipts may wait in the queue before `emit` blocks (default 16,384).
    pub fn queue_bound(mut self, bound: usize) -> Self {
        self.queue_bound = Some(bound.max(1));
        self
    }

    /// The largest group commit (default 4,096).
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = Some(n.max(1));
        self
    }

    /// Threads that sign a batch (default: one per core).
    pub fn sign_threads(mut self, n: usize) -> Self {
        self.sign_threads = Some(n.max(1));
        self
    }

    /// The log name: checkpoints carry the origin `<log name>/<tenant>` and are signed under
    /// the key name `<log name>` (default `ai-audit.local`; use a DNS name you own).
    pub fn log_name(mut self, name: impl Into<String>) -> Self {
        self.log_name = Some(name.into());
        self
    }

    /// Sign a tenant's checkpoint after `receipts` receipts or once its oldest unsigned receipt
    /// is `interval` old, whichever comes first (default 10,000 receipts or 1 s; while busy, the
    /// writer looks for tenants due by time about every `interval / 4`). Checkpoints are also
    /// signed on [`Auditor::checkpoint`], on export and on shutdown. The writer stores the
    /// checkpoints due at one moment in one transaction, one fsync for any number of tenants.
    pub fn checkpoint_every(mut self, receipts: u64, interval: Duration) -> Self {
        self.checkpoint_every = Some((receipts.max(1), interval));
        self
    }

    /// How receipts are authenticated (default [`SealingMode::PerReceipt`]: every receipt
    /// signed). [`SealingMode::Checkpointed`] signs only checkpoints; see its documentation for
    /// what that means for verification and for switching a tenant between modes.
    pub fn sealing(mut self, mode: SealingMode) -> Self {
        self.sealing = mode;
        self
    }

    /// Starts the writer thread.
    ///
    /// Opening a store signs a checkpoint for every tenant whose newest receipts no checkpoint
    /// covers yet (left by a crash, or by an auditor in [`SealingMode::Checkpointed`] mode), so
    /// every receipt written before this auditor is under a signed tree head, whichever mode
    /// wrote it. If that signing fails it is counted in
    /// [`AuditorStats::checkpoint_failures`], not fatal.
    ///
    /// # Errors
    /// [`AuditorError`] when the signer or store is missing or the store cannot be set up.
    pub fn build(self) -> Result<Auditor, AuditorError> {
        let signer = self.signer.ok_or(AuditorError::MissingSigner)?;
        if let Some(name) = &self.log_name
            && let Some(why) = note::log_name_problem(name)
        {
            return Err(AuditorError::LogName {
                name: name.clone(),
                why,
            });
        }
        let store = match self.store {
            Some(s) => s,
            None => default_store()?,
        };
        if self.sealing == SealingMode::Checkpointed && store.tree().is_none() {
            return Err(AuditorError::CheckpointedWithoutTree);
        }
        if let Some(foreign) = key_check::check(store.as_ref(), signer.as_ref())? {
            return Err(AuditorError::ForeignKey {
                store: foreign,
                signer: signer.verifying_key().fingerprint(),
            });
        }
        store.set_durability(self.durability)?;
        let quarantine = Arc::new(quarantine::Quarantine::default());
        quarantine::check_on_build(store.as_ref(), &quarantine)?;
        let log_name = self.log_name.unwrap_or_else(|| DEFAULT_LOG_NAME.to_owned());
        let checkpoint_failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // A signer that is down at startup must not stop the auditor: the failure is counted
        // (`AuditorStats::checkpoint_failures`) and the next checkpoint covers the tail.
        if cover_open_tails(store.as_ref(), &log_name, signer.as_ref()).is_err() {
            checkpoint_failures.fetch_add(1, Ordering::Relaxed);
        }
        let (every_receipts, every) = self
            .checkpoint_every
            .unwrap_or((DEFAULT_CHECKPOINT_RECEIPTS, DEFAULT_CHECKPOINT_INTERVAL));
        // Checkpointed lines carry no signature: the writer tags each one, so that a checkpoint
        // is never signed over a line written into the store without the key.
        let line_key = match self.sealing {
            SealingMode::Checkpointed => Some(Arc::new(
                log::LineKey::derive(signer.as_ref()).map_err(AuditorError::Signer)?,
            )),
            SealingMode::PerReceipt => None,
        };
        let queue = Arc::new(Queue::new(self.queue_bound.unwrap_or(DEFAULT_QUEUE_BOUND)));
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            queue: Arc::clone(&queue),
            store: Arc::clone(&store),
            signer: Arc::clone(&signer),
            counters: Arc::clone(&counters),
            max_batch: self.max_batch.unwrap_or(DEFAULT_MAX_BATCH),
            sealing: self.sealing,
            line_key,
            sign_threads: self.sign_threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            }),
            quarantine: Arc::clone(&quarantine),
            checkpointer: Some(checkpointer::Checkpointer::new(
                checkpointer::Policy {
                    log_name: log_name.clone(),
                    every_receipts,
                    every,
                },
                Arc::clone(&store),
                Arc::clone(&signer),
                Arc::clone(&checkpoint_failures),
            )),
        };
        let handle = std::thread::Builder::new()
            .name("ai-audit-writer".into())
            .spawn(move || writer.run())
            .map_err(AuditorError::Thread)?;
        Ok(Auditor {
            inner: Arc::new(Inner {
                queue,
                store,
                signer,
                counters,
                writer: Mutex::new(Some(handle)),
                upstreams: Upstreams::default(),
                log_name,
                checkpoint_failures,
                sealing: self.sealing,
                quarantine,
            }),
        })
    }
}

/// Signs a checkpoint of every tenant whose tree has leaves beyond its latest checkpoint.
fn cover_open_tails(
    store: &dyn Store,
    log_name: &str,
    signer: &dyn Signer,
) -> Result<(), TransparencyError> {
    let Some(read) = store.tree() else {
        return Ok(());
    };
    for tenant in store.tenants()? {
        let size = read.tree_size(&tenant)?;
        let covered = read.latest_checkpoint(&tenant)?.map_or(0, |c| c.size);
        if size > covered {
            log::checkpoint(store, &tenant, None, log_name, signer)?;
        }
    }
    Ok(())
}

#[cfg(feature = "sqlite")]
fn default_store() -> Result<Arc<dyn Store>, AuditorError> {
    Ok(Arc::new(crate::store::SqliteStore::open_default()?))
}

#[cfg(not(feature = "sqlite"))]
fn default_store() -> Result<Arc<dyn Store>, AuditorError> {
    Err(AuditorError::MissingStore)
}

struct Inner {
    queue: Arc<Queue>,
    store: Arc<dyn Store>,
    signer: Arc<dyn Signer>,
    counters: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    upstreams: Upstreams,
    log_name: String,
    checkpoint_failures: Arc<std::sync::atomic::AtomicU64>,
    sealing: SealingMode,
    quarantine: Arc<quarantine::Quarantine>,
}

impl Inner {
    fn stop(&self) {
        self.queue.close();
        // Held until the writer is joined: a second caller returns only once everything is
        // stored.
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(h) = writer.take() {
            // The writer answers every job before it exits; a panic there was already reported
            // to the emitters as EmitError::Internal.
            let _ = h.join();
            // Best effort: a log left behind is copied at the next open.
            let _ = self.store.compact_log();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The runtime handle: cheap to clone, shareable across threads. Dropping the last clone
/// flushes everything queued and stops the writer.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("store", &self.inner.store)
            .field("key", &self.inner.signer.verifying_key().fingerprint())
            .finish_non_exhaustive()
    }
}

/// A receipt that was queued by [`Auditor::submit`]; [`PendingEmit::wait`] tells when it is
/// durable (or why it was not stored). Dropping it does not cancel the receipt.
#[must_use = "a submitted receipt is known to be durable only once `wait` returns Ok"]
#[derive(Debug)]
pub struct PendingEmit {
    slot: Option<Arc<ReplySlot>>,
}

impl PendingEmit {
    fn new(slot: Arc<ReplySlot>) -> Self {
        Self { slot: Some(slot) }
    }

    /// Waits until the receipt is durable.
    ///
    /// # Errors
    /// As [`Auditor::emit`].
    pub fn wait(mut self) -> Result<Emitted, EmitError> {
        match self.slot.take() {
            Some(slot) => into_emitted(slot.wait()),
            None => Err(EmitError::Internal),
        }
    }
}

impl Drop for PendingEmit {
    /// Nobody will read the answer: if the receipt cannot be stored, the auditor counts it in
    /// [`AuditorStats::lost`] and [`Auditor::shutdown`] reports it.
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.abandon();
        }
    }
}

/// What [`Auditor::try_submit`] did.
pub(crate) enum TrySubmit {
    /// Queued; wait on it for the answer.
    Queued(PendingEmit),
    /// The queue is full: the receipt, not queued.
    Full(Box<Receipt>),
    /// The auditor is shut down.
    Closed,
}

fn into_emitted(r: queue::Reply) -> Result<Emitted, EmitError> {
    r.and_then(|o| o.ok_or(EmitError::Internal))
}

impl Auditor {
    /// A builder.
    pub fn builder() -> AuditorBuilder {
        AuditorBuilder::default()
    }

    /// Seals `receipt` onto its tenant's chain and returns once it is durable. Waits while the
    /// queue is full. Emitting a receipt id that was already emitted returns the first result
    /// (`duplicate: true`) and appends nothing.
    ///
    /// # Errors
    /// [`EmitError`]; on error nothing of the receipt was stored (except
    /// [`EmitError::Internal`]).
    pub fn emit(&self, receipt: Receipt) -> Result<Emitted, EmitError> {
        self.submit(receipt)?.wait()
    }

    /// Queues `receipt` (waiting while the queue is full) and returns at once; the receipt is
    /// durable when [`PendingEmit::wait`] returns `Ok`. One thread can keep many receipts in
    /// flight this way, so group commits fill up even with few emitting threads.
    ///
    /// ```
    /// # use audit_runtime::{store::MemoryStore, Auditor, Receipt, SigningKey};
    /// # let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
    /// let pending: Vec<_> = (0..100)
    ///     .map(|_| auditor.submit(Receipt::new("acme")))
    ///     .collect::<Result<_, _>>()?;
    /// for p in pending {
    ///     p.wait()?; // durable now
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`EmitError::Closed`] after shutdown.
    pub fn submit(&self, receipt: Receipt) -> Result<PendingEmit, EmitError> {
        self.submit_tracked(receipt, None)
    }

    /// As [`Auditor::submit`], and settles `ticket` when the receipt is answered: stored, or
    /// dropped (a failure) when it is not stored. Receipt producers that work in the background
    /// use it so that a [`ReceiptTracker`](crate::tracker::ReceiptTracker) can wait for them.
    ///
    /// # Errors
    /// [`EmitError::Closed`] after shutdown (the ticket is dropped: a failure).
    pub fn submit_tracked(
        &self,
        receipt: Receipt,
        ticket: Option<crate::tracker::Ticket>,
    ) -> Result<PendingEmit, EmitError> {
        let slot = Arc::new(ReplySlot::tracked(&self.inner.upstreams.not_stored, ticket));
        match self
            .inner
            .queue
            .push_blocking(Job::Emit(Box::new(receipt), Arc::clone(&slot)))
        {
            Ok(()) => Ok(PendingEmit::new(slot)),
            Err(PushError::Closed | PushError::Full(_)) => Err(EmitError::Closed),
        }
    }

    /// Queues `receipt` without ever waiting: the receipt back when the queue is full.
    pub(crate) fn try_submit(&self, receipt: Receipt) -> TrySubmit {
        let slot = self.counted_slot();
        match self
            .inner
            .queue
            .try_push(Job::Emit(Box::new(receipt), Arc::clone(&slot)), None)
        {
            Ok(()) => TrySubmit::Queued(PendingEmit::new(slot)),
            Err(PushError::Full(Job::Emit(receipt, _))) => TrySubmit::Full(receipt),
            Err(PushError::Full(Job::Barrier(_)) | PushError::Closed) => TrySubmit::Closed,
        }
    }

    /// As [`Auditor::emit`], but fails with [`EmitError::Full`] instead of waiting for room.
    ///
    /// # Errors
    /// [`EmitError::Full`], or as [`Auditor::emit`].
    pub fn try_emit(&self, receipt: Receipt) -> Result<Emitted, EmitError> {
        let slot = Arc::new(ReplySlot::default());
        match self
            .inner
            .queue
            .try_push(Job::Emit(Box::new(receipt), Arc::clone(&slot)), None)
        {
            Ok(()) => into_emitted(slot.wait()),
            Err(PushError::Full(_)) => Err(EmitError::Full),
            Err(PushError::Closed) => Err(EmitError::Closed),
        }
    }

    /// The async form of [`Auditor::emit`]: waits for queue room and for durability without
    /// blocking the executor's thread. Works on any executor. If the future is dropped after
    /// the receipt was queued, the receipt is still stored.
    ///
    /// # Errors
    /// As [`Auditor::emit`].
    #[cfg(feature = "tokio")]
    pub async fn emit_async(&self, receipt: Receipt) -> Result<Emitted, EmitError> {
        let slot = self.counted_slot();
        let mut job = Some(Job::Emit(Box::new(receipt), Arc::clone(&slot)));
        std::future::poll_fn(|cx| {
            let Some(j) = job.take() else {
                return std::task::Poll::Ready(Err(EmitError::Internal));
            };
            match self.inner.queue.try_push(j, Some(cx.waker())) {
                Ok(()) => std::task::Poll::Ready(Ok(())),
                Err(PushError::Closed) => std::task::Poll::Ready(Err(EmitError::Closed)),
                Err(PushError::Full(j)) => {
                    job = Some(j);
                    std::task::Poll::Pending
                }
            }
        })
        .await?;
        // Queued: if this future is dropped before the answer, the receipt is still stored, and
        // a failure nobody reads is counted as lost (PendingEmit's drop).
        let mut pending = PendingEmit::new(Arc::clone(&slot));
        let reply = std::future::poll_fn(|cx| match slot.poll(cx.waker()) {
            Some(r) => std::task::Poll::Ready(r),
            None => std::task::Poll::Pending,
        })
        .await;
        pending.slot = None; // read here
        into_emitted(reply)
    }

    fn counted_slot(&self) -> Arc<ReplySlot> {
        Arc::new(ReplySlot::counted(&self.inner.upstreams.not_stored))
    }

    /// Waits until everything emitted before this call is durable, including the receipts of
    /// `#[audited]` scopes and traced spans that ended before it and are still queued upstream
    /// (see [`Upstream`]).
    ///
    /// # Errors
    /// [`EmitError::Closed`] after shutdown.
    pub fn flush(&self) -> Result<(), EmitError> {
        self.inner.upstreams.drain();
        let slot = Arc::new(ReplySlot::default());
        match self
            .inner
            .queue
            .try_push(Job::Barrier(Arc::clone(&slot)), None)
        {
            Ok(()) => slot.wait().map(|_| ()),
            Err(_) => Err(EmitError::Closed),
        }
    }

    /// Stores everything already queued — the receipts of `#[audited]` scopes and traced
    /// spans that ended before this call included (every registered [`Upstream`] is drained
    /// first) — then stops accepting receipts and stops the writer. Other clones then get
    /// [`EmitError::Closed`].
    ///
    /// # Errors
    /// [`ShutdownError::Lost`] when any receipt of this auditor's life was lost without anyone
    /// being told at the time (see [`AuditorStats::lost`]): a store or signer failure on a
    /// receipt nobody waited for, a receipt that arrived after shutdown, or one a lossy queue
    /// dropped. Everything else was stored.
    ///
    /// ```
    /// # use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
    /// # let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
    /// audit_runtime::capture::Scope::new("acme")
    ///     .auditor(auditor.clone())
    ///     .enter()
    ///     .finish(audit_runtime::capture::Outcome::ok());
    /// auditor.shutdown()?; // the scope's receipt is stored before this returns
    /// assert_eq!(auditor.stats().emitted, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        self.inner.upstreams.drain();
        self.inner.stop();
        let lost = self.inner.upstreams.lost();
        if lost.total() > 0 {
            return Err(ShutdownError::Lost { lost });
        }
        Ok(())
    }

    /// Registers a queue in front of this auditor, drained by [`Auditor::flush`] and
    /// [`Auditor::shutdown`]. The auditor holds it weakly: once the upstream is dropped it is
    /// forgotten.
    pub fn add_upstream(&self, upstream: std::sync::Weak<dyn Upstream>) {
        self.inner.upstreams.add(upstream);
    }

    /// Reports `n` receipts meant for this auditor that an upstream could not deliver; they
    /// count in [`AuditorStats::lost`] and make [`Auditor::shutdown`] fail.
    pub fn report_lost(&self, n: u64, cause: LossCause) {
        self.inner.upstreams.report(n, cause);
    }

    /// Whether this auditor was shut down (it accepts no more receipts).
    #[must_use]
    pub fn is_shut_down(&self) -> bool {
        self.inner.queue.is_closed()
    }

    /// Whether `self` and `other` are handles of the same auditor.
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The store (for queries and exports while the auditor writes).
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The public key receipts are signed with.
    #[must_use]
    pub fn verifying_key(&self) -> crate::VerifyingKey {
        self.inner.signer.verifying_key()
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> AuditorStats {
        let c = &self.inner.counters;
        AuditorStats {
            emitted: c.emitted.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            queued: self.inner.queue.len(),
            checkpoint_failures: self.inner.checkpoint_failures.load(Ordering::Relaxed),
            lost: self.inner.upstreams.lost(),
            upstream_pending: self.inner.upstreams.pending(),
        }
    }

    /// The tenants this auditor refuses to append to, and what the store found (see
    /// [`EmitError::Quarantined`]): found when it was built (a chain behind its high-water
    /// record, tips, receipts and tree that disagree) or by a commit that failed for that tenant
    /// alone. Empty when every tenant is healthy.
    #[must_use]
    pub fn quarantined(&self) -> Vec<(TenantId, Arc<StoreError>)> {
        self.inner.quarantine.list()
    }

    /// How this auditor authenticates receipts.
    #[must_use]
    pub fn sealing(&self) -> SealingMode {
        self.inner.sealing
    }

    /// The log name checkpoints are signed under.
    #[must_use]
    pub fn log_name(&self) -> &str {
        &self.inner.log_name
    }

    /// Waits until everything emitted so far is durable, then signs (and stores) a checkpoint
    /// of the tenant's tree as it is now — or returns the stored one if that size is signed
    /// already.
    ///
    /// # Errors
    /// [`TransparencyError`]; [`TransparencyError::Store`] also after shutdown.
    pub fn checkpoint(&self, tenant: &TenantId) -> Result<StoredCheckpoint, TransparencyError> {
        // After shutdown everything is durable already; a flush would only report Closed.
        let _ = self.flush();
        log::checkpoint(
            self.inner.store.as_ref(),
            tenant,
            None,
            &self.inner.log_name,
            self.inner.signer.as_ref(),
        )
    }
}
