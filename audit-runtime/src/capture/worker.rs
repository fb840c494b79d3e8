//! The capture worker: hashes the captured texts and values of ended scopes and hands the
//! receipts to their auditors, off the application's threads.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::{Outcome, Scope, context};
use crate::auditor::Auditor;
use crate::canonical;
use crate::json::Value;
use crate::receipt::Timestamp;

/// Bound of the queue in front of the worker; a full queue makes the ending scope wait.
const QUEUE_BOUND: usize = 4_096;

/// Text buffers the worker has hashed, for the next captures to reuse. Without it every
/// captured text is allocated on the caller's thread and freed on the worker's, which keeps the
/// caller's allocator on its slow path (its thread cache is never refilled).
static TEXT_POOL: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// At most this many buffers are kept…
const POOL_MAX: usize = 4_096;
/// …of at most this capacity each.
const POOL_BUF_MAX: usize = 64 << 10;

/// `text` in an owned buffer, reusing a recycled one when there is one. Give the buffer back
/// with [`recycle_text`] once it is hashed, on whichever thread.
#[must_use]
pub fn pooled_text(text: &str) -> String {
    let buf = TEXT_POOL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop();
    let mut buf = buf.unwrap_or_default();
    buf.push_str(text);
    buf
}

/// Returns a buffer from [`pooled_text`] to the pool (dropped instead when the pool is full or
/// the buffer is large).
pub fn recycle_text(mut buf: String) {
    if buf.capacity() > POOL_BUF_MAX {
        return;
    }
    buf.clear();
    let mut pool = TEXT_POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOL_MAX {
        pool.push(buf);
    }
}

/// A captured input or output, hashed by the worker.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Deferred {
    None,
    /// Hashed with `canonicalize_input`.
    Input(String),
    /// Hashed with `hash_output`.
    Output(String),
    /// Hashed with `hash_json`.
    Json(Value),
}

impl Deferred {
    fn hash(self) -> String {
        match self {
            Self::None => String::new(),
            Self::Input(t) => {
                let h = canonical::canonicalize_input(&t);
                recycle_text(t);
                h
            }
            Self::Output(t) => {
                let h = canonical::hash_output(&t);
                recycle_text(t);
                h
            }
            Self::Json(v) => canonical::hash_json(&v),
        }
    }
}

/// An ended scope, before its receipt is assembled and hashed.
pub(super) struct Job {
    pub(super) auditor: Auditor,
    pub(super) scope: Scope,
    pub(super) timestamp: Timestamp,
    pub(super) frame: context::Frame,
    pub(super) outcome: Outcome,
    /// Settled when the receipt is stored (dropped, a failure, when it is not).
    pub(super) ticket: Option<crate::tracker::Ticket>,
}

#[expect(
    clippy::large_enum_variant,
    reason = "unboxed on purpose: an allocation on the caller's thread freed on the worker's is the costly kind"
)]
enum Msg {
    Job(Job),
    Flush(mpsc::Sender<()>),
}

static SENDER: OnceLock<Option<SyncSender<Msg>>> = OnceLock::new();

fn sender() -> Option<&'static SyncSender<Msg>> {
    SENDER
        .get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel(QUEUE_BOUND);
            std::thread::Builder::new()
                .name("ai-audit-capture".into())
                .spawn(move || run(&rx))
                .ok()
                .map(|_| {
                    crate::auditor::CAPTURE_WORKER.started(drain);
                    tx
                })
        })
        .as_ref()
}

/// The next message. While receipts keep coming, the worker polls the queue every millisecond
/// instead of parking, so that ending a scope does not have to wake it (a system call on the
/// caller's thread); after 50 ms without work it parks until the next message.
fn next(rx: &Receiver<Msg>) -> Option<Msg> {
    for _ in 0..50 {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
        }
    }
    rx.recv().ok()
}

fn run(rx: &Receiver<Msg>) {
    while let Some(msg) = next(rx) {
        match msg {
            Msg::Job(job) => finish(job),
            Msg::Flush(done) => {
                // The flusher may have gone; nothing to tell then.
                let _ = done.send(());
            }
        }
    }
}

fn finish(job: Job) {
    let Job {
        auditor,
        scope,
        timestamp,
        frame,
        outcome,
        ticket,
    } = job;
    let (mut receipt, input, output) = super::assemble(scope, timestamp, frame, outcome);
    if let Err(e) = crate::TenantId::check(receipt.tenant_id.as_str()) {
        auditor.report_lost(1, crate::LossCause::InvalidTenant);
        context::warn_once(
            &context::WARNED_INVALID_TENANT,
            &format!(
                "an #[audited] call named an invalid tenant id, so its receipt was not written: {e}. Further ones are counted in Auditor::stats().lost.invalid_tenant"
            ),
        );
        return;
    }
    receipt.input_c14n = input.hash();
    receipt.output_hash = output.hash();
    match auditor.submit_tracked(receipt, ticket) {
        // Dropping the handle does not cancel the receipt; store failures are counted by the
        // auditor (`AuditorStats::failed`).
        Ok(pending) => {
            drop(pending);
            context::SUBMITTED.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            context::SUBMIT_FAILED.fetch_add(1, Ordering::Relaxed);
            auditor.report_lost(1, crate::LossCause::Refused);
            context::warn_once(
                &context::WARNED_REFUSED,
                "a receipt of an #[audited] call was refused: its auditor is shut down (end audited calls before shutting the auditor down, or keep the InstallGuard until the end of main)",
            );
        }
    }
}

/// Queues the job for the worker (waiting while the queue is full); without a worker (the
/// thread could not be started) the job is finished on this thread.
pub(super) fn send(job: Job) {
    let Some(tx) = sender() else {
        finish(job);
        return;
    };
    if let Err(mpsc::SendError(Msg::Job(job))) = tx.send(Msg::Job(job)) {
        finish(job);
    }
}

/// Waits until the receipts of every scope that ended before this call have been handed to
/// their auditors; then [`Auditor::flush`] waits until they are durable.
///
/// ```
/// # use audit_runtime::{capture, store::MemoryStore, Auditor, SigningKey};
/// # let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
/// capture::Scope::new("acme").auditor(auditor.clone()).enter().finish(capture::Outcome::ok());
/// capture::flush();
/// auditor.flush()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn flush() {
    let Some(tx) = sender() else { return };
    flush_with(tx);
}

/// [`flush`], but only if the worker was ever started (the auditor's own flush and shutdown
/// call it, and need not start a thread for nothing).
fn drain() {
    if let Some(Some(tx)) = SENDER.get() {
        flush_with(tx);
    }
}

fn flush_with(tx: &SyncSender<Msg>) {
    let (done_tx, done_rx) = mpsc::channel();
    if tx.send(Msg::Flush(done_tx)).is_ok() {
        let _ = done_rx.recv();
    }
}
