//! The capture worker: hashes the captured texts and values of ended scopes and hands the
//! receipts to their auditors, off the application's threads.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};

use super::context;
use crate::auditor::Auditor;
use crate::canonical::{self, Value};
use crate::receipt::Receipt;

/// Bound of the queue in front of the worker; a full queue makes the ending scope wait.
const QUEUE_BOUND: usize = 16_384;

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
            Self::Input(t) => canonical::canonicalize_input(&t),
            Self::Output(t) => canonical::hash_output(&t),
            Self::Json(v) => canonical::hash_json(&v),
        }
    }
}

/// An ended scope's receipt, before hashing.
pub(super) struct Job {
    pub(super) auditor: Auditor,
    pub(super) receipt: Receipt,
    pub(super) input: Deferred,
    pub(super) output: Deferred,
}

enum Msg {
    Job(Box<Job>),
    Flush(mpsc::Sender<()>),
}

fn sender() -> Option<&'static SyncSender<Msg>> {
    static SENDER: OnceLock<Option<SyncSender<Msg>>> = OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, rx) = mpsc::sync_channel(QUEUE_BOUND);
            std::thread::Builder::new()
                .name("ai-audit-capture".into())
                .spawn(move || run(&rx))
                .ok()
                .map(|_| tx)
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
            Msg::Job(job) => finish(*job),
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
        mut receipt,
        input,
        output,
    } = job;
    receipt.input_c14n = input.hash();
    receipt.output_hash = output.hash();
    match auditor.submit(receipt) {
        // Dropping the handle does not cancel the receipt; store failures are counted by the
        // auditor (`AuditorStats::failed`).
        Ok(pending) => {
            drop(pending);
            context::SUBMITTED.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            context::SUBMIT_FAILED.fetch_add(1, Ordering::Relaxed);
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
    if let Err(mpsc::SendError(Msg::Job(job))) = tx.send(Msg::Job(Box::new(job))) {
        finish(*job);
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
    let (done_tx, done_rx) = mpsc::channel();
    if tx.send(Msg::Flush(done_tx)).is_ok() {
        let _ = done_rx.recv();
    }
}
