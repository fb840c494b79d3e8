//! [`AuditSink`]: how integrations (the LLM clients, the HTTP layer) hand receipts to an
//! [`Auditor`], and what happens when a receipt cannot be made durable.
//!
//! Emit errors are never swallowed. The default is **fail-closed**: the audited call itself
//! fails when its receipt cannot be stored. [`AuditSink::fail_open`] lets the call succeed
//! instead; every failure is then still counted ([`AuditSink::emit_failures`]) and reported to
//! the [`EmitObserver`], if one is set.
//!
//! ```
//! use std::sync::Arc;
//! use audit_runtime::sink::{AuditSink, EmitObserver, OnEmitError};
//! use audit_runtime::{store::MemoryStore, Auditor, EmitError, ReceiptId, SigningKey, TenantId};
//!
//! #[derive(Debug)]
//! struct Alert;
//! impl EmitObserver for Alert {
//!     fn emit_failed(&self, tenant: &TenantId, receipt: &ReceiptId, error: &EmitError) {
//!         eprintln!("receipt {receipt} of {tenant} was not stored: {error}");
//!     }
//! }
//!
//! let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
//! let sink = AuditSink::new(auditor).fail_open().with_observer(Arc::new(Alert));
//! assert_eq!(sink.on_emit_error(), OnEmitError::FailOpen);
//! assert_eq!(sink.emit_failures(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::auditor::{Auditor, EmitError, Emitted, PendingEmit, TrySubmit};
use crate::receipt::{Receipt, ReceiptId, TenantId};

/// What an audited call does when its receipt cannot be made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnEmitError {
    /// The call fails with the emit error (the default).
    #[default]
    FailClosed,
    /// The call succeeds; the failure is counted and reported to the observer.
    FailOpen,
}

/// The environment variable [`AuditSink::from_env`] reads: `fail_closed` (default) or `fail_open`.
pub const ON_EMIT_ERROR_VAR: &str = "AI_AUDIT_ON_EMIT_ERROR";

/// Told about every receipt that could not be stored, in both modes.
///
/// It runs on the thread that met the failure — for receipts stored in the background (a
/// dropped stream, a cancelled request) the process's detached-receipt thread — so keep it
/// short: count, log or alert; do not block, and do not flush or shut down the auditor from it.
pub trait EmitObserver: Send + Sync + fmt::Debug {
    /// `receipt` of `tenant` was not stored because of `error`.
    fn emit_failed(&self, tenant: &TenantId, receipt: &ReceiptId, error: &EmitError);
}

/// A value of [`ON_EMIT_ERROR_VAR`] that is neither `fail_closed` nor `fail_open`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{ON_EMIT_ERROR_VAR}={0:?} is not understood; use fail_closed (the default) or fail_open")]
pub struct UnknownEmitMode(pub String);

/// An [`Auditor`] plus the emit-failure policy of the integrations that use it. Cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    auditor: Auditor,
    mode: OnEmitError,
    observer: Option<Arc<dyn EmitObserver>>,
    failures: Arc<AtomicU64>,
}

impl fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditSink")
            .field("mode", &self.mode)
            .field("observer", &self.observer)
            .field("failures", &self.emit_failures())
            .finish_non_exhaustive()
    }
}

impl AuditSink {
    /// A fail-closed sink.
    #[must_use]
    pub fn new(auditor: Auditor) -> Self {
        Self {
            auditor,
            mode: OnEmitError::FailClosed,
            observer: None,
            failures: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A sink whose mode comes from `AI_AUDIT_ON_EMIT_ERROR` (`fail_closed` when unset).
    ///
    /// # Errors
    /// [`UnknownEmitMode`] for any other value.
    pub fn from_env(auditor: Auditor) -> Result<Self, UnknownEmitMode> {
        let mode = match std::env::var(ON_EMIT_ERROR_VAR).ok().as_deref() {
            None | Some("" | "fail_closed") => OnEmitError::FailClosed,
            Some("fail_open") => OnEmitError::FailOpen,
            Some(other) => return Err(UnknownEmitMode(other.chars().take(64).collect())),
        };
        Ok(Self::new(auditor).with_mode(mode))
    }

    /// Sets the mode.
    #[must_use]
    pub fn with_mode(mut self, mode: OnEmitError) -> Self {
        self.mode = mode;
        self
    }

    /// Fail-open: calls succeed even when their receipt cannot be stored (counted, observed).
    #[must_use]
    pub fn fail_open(self) -> Self {
        self.with_mode(OnEmitError::FailOpen)
    }

    /// Sets the observer told about every emit failure.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn EmitObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The mode.
    #[must_use]
    pub fn on_emit_error(&self) -> OnEmitError {
        self.mode
    }

    /// Receipts that could not be stored so far, in either mode.
    #[must_use]
    pub fn emit_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The auditor.
    #[must_use]
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    fn failed(&self, tenant: &TenantId, id: &ReceiptId, error: &EmitError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Some(o) = &self.observer {
            o.emit_failed(tenant, id, error);
        }
    }

    /// Applies the policy to an emit's result.
    fn settle(
        &self,
        tenant: &TenantId,
        id: &ReceiptId,
        result: Result<Emitted, EmitError>,
    ) -> Result<Option<Emitted>, EmitError> {
        match result {
            Ok(e) => Ok(Some(e)),
            Err(e) => {
                self.failed(tenant, id, &e);
                match self.mode {
                    OnEmitError::FailClosed => Err(e),
                    OnEmitError::FailOpen => {
                        // The call goes on without its receipt: the auditor counts it as lost,
                        // so its stats and shutdown show it.
                        self.auditor.report_lost(1, e.loss_cause());
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Emits `receipt` and waits until it is durable, without blocking the executor.
    ///
    /// Returns `Ok(Some(_))` once stored, `Ok(None)` if storing failed in fail-open mode.
    ///
    /// # Errors
    /// In fail-closed mode, the [`EmitError`].
    #[cfg(feature = "tokio")]
    pub async fn emit(&self, receipt: Receipt) -> Result<Option<Emitted>, EmitError> {
        let (tenant, id) = (receipt.tenant_id.clone(), receipt.receipt_id.clone());
        let result = self.auditor.emit_async(receipt).await;
        self.settle(&tenant, &id, result)
    }

    /// The blocking form of [`AuditSink::emit`].
    ///
    /// # Errors
    /// In fail-closed mode, the [`EmitError`].
    pub fn emit_blocking(&self, receipt: Receipt) -> Result<Option<Emitted>, EmitError> {
        let (tenant, id) = (receipt.tenant_id.clone(), receipt.receipt_id.clone());
        let result = self.auditor.emit(receipt);
        self.settle(&tenant, &id, result)
    }

    /// Queues `receipt` when nobody can wait for it any more (a stream dropped mid-way, a
    /// cancelled request): it is stored in the background and a failure is counted and observed.
    /// Never blocks the caller (it may run in `Drop` on an executor thread): a full queue hands
    /// the receipt to the process's detached-receipt thread, which waits for room; nothing is
    /// dropped.
    pub fn emit_detached(&self, receipt: Receipt) {
        let (tenant, id) = (receipt.tenant_id.clone(), receipt.receipt_id.clone());
        let job = match self.auditor.try_submit(receipt) {
            TrySubmit::Queued(pending) => Detached::Wait(pending),
            TrySubmit::Full(receipt) => Detached::Submit(receipt),
            TrySubmit::Closed => {
                self.failed(&tenant, &id, &EmitError::Closed);
                self.auditor.report_lost(1, crate::LossCause::Refused);
                return;
            }
        };
        detached::send(self.clone(), tenant, id, job);
    }
}

/// A detached receipt for the background thread.
enum Detached {
    /// Queued already: wait for its answer.
    Wait(PendingEmit),
    /// The queue was full: submit it (waiting for room), then wait.
    Submit(Box<Receipt>),
}

/// One thread per process waits for detached receipts, so that dropping a stream or a request
/// never blocks its task and never starts a thread per receipt.
pub(crate) mod detached {
    use std::sync::mpsc::{Sender, channel};
    use std::sync::{Mutex, OnceLock};

    use super::{AuditSink, Detached};
    use crate::receipt::{ReceiptId, TenantId};

    type Job = (AuditSink, TenantId, ReceiptId, Detached);

    enum Msg {
        Job(Job),
        /// Answered once every job queued before it is settled.
        Flush(Sender<()>),
    }

    static TX: OnceLock<Option<Mutex<Sender<Msg>>>> = OnceLock::new();

    thread_local! {
        /// Set on the detached thread itself.
        static ON_THIS_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn sender() -> Option<&'static Mutex<Sender<Msg>>> {
        TX.get_or_init(|| {
            let (tx, rx) = channel::<Msg>();
            std::thread::Builder::new()
                .name("ai-audit-detached".into())
                .spawn(move || {
                    ON_THIS_THREAD.with(|on| on.set(true));
                    for msg in rx {
                        match msg {
                            // An observer that panics must not end the thread (and with it
                            // every later detached receipt): the panic is its own.
                            Msg::Job(job) => {
                                let settled =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        settle(job);
                                    }));
                                drop(settled);
                            }
                            Msg::Flush(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                })
                .ok()
                .map(|_| {
                    crate::auditor::DETACHED_SINK.started(drain);
                    Mutex::new(tx)
                })
        })
        .as_ref()
    }

    /// Waits until every detached receipt queued before this call is stored or counted (if
    /// the thread was ever started): the auditor's flush and shutdown call it.
    fn drain() {
        // An observer on this thread that flushes its auditor would wait for itself.
        if ON_THIS_THREAD.with(std::cell::Cell::get) {
            return;
        }
        let Some(Some(tx)) = TX.get() else { return };
        let (done_tx, done_rx) = channel();
        let sent = tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(Msg::Flush(done_tx))
            .is_ok();
        if sent {
            let _ = done_rx.recv();
        }
    }

    /// Hands `job` to the background thread; without one (it could not be started), waits here.
    pub(super) fn send(sink: AuditSink, tenant: TenantId, id: ReceiptId, job: Detached) {
        let job = match sender() {
            Some(tx) => {
                let tx = tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match tx.send(Msg::Job((sink, tenant, id, job))) {
                    Ok(()) => return,
                    Err(std::sync::mpsc::SendError(Msg::Job(job))) => job,
                    Err(std::sync::mpsc::SendError(Msg::Flush(_))) => return,
                }
            }
            None => (sink, tenant, id, job),
        };
        settle(job);
    }

    /// Stores the receipt (waiting for room and for durability); a failure is counted.
    fn settle((sink, tenant, id, job): Job) {
        let pending = match job {
            Detached::Wait(p) => Ok(p),
            Detached::Submit(r) => sink.auditor.submit(*r),
        };
        if let Err(e) = pending.and_then(super::PendingEmit::wait) {
            // Nobody waits for a detached receipt: the auditor counts it as lost (first, in
            // case the observer panics).
            sink.auditor.report_lost(1, e.loss_cause());
            sink.failed(&tenant, &id, &e);
        }
    }
}
