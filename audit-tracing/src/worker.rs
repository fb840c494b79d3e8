//! The worker thread: hashes queued receipts and hands them to the `Auditor`, off the
//! application's threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Duration;

use audit_runtime::canonical::{canonicalize_input, hash_output};
use audit_runtime::capture::recycle_text;
use audit_runtime::tracker::Ticket;
use audit_runtime::{Auditor, LossCause, PendingEmit, Receipt};

/// Set once the worker has said that a span's tenant was not valid.
static WARNED_INVALID_TENANT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A closed audit span: the receipt and the texts still to hash.
pub(crate) struct Job {
    pub(crate) receipt: Receipt,
    pub(crate) input: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) ticket: Option<Ticket>,
}

#[expect(
    clippy::large_enum_variant,
    reason = "unboxed on purpose: an allocation on the application's thread freed on the worker's is the costly kind"
)]
pub(crate) enum Msg {
    /// A closed audit span; its receipt is assembled here, not on the application's thread.
    Receipt(crate::AuditSpan),
    Flush(Sender<()>),
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) emitted: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) failed: AtomicU64,
}

/// Counters of an [`AuditLayer`](crate::AuditLayer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerStats {
    /// Receipts queued for the worker.
    pub sent: u64,
    /// Receipts stored durably by the auditor.
    pub emitted: u64,
    /// Receipts dropped because the queue was full (lossy mode only).
    pub dropped: u64,
    /// Receipts the auditor refused or could not store.
    pub failed: u64,
}

impl LayerStats {
    /// Receipts queued but not (yet) stored or failed.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.sent.saturating_sub(self.emitted + self.failed)
    }

    /// Receipts that are not stored: dropped, failed, or still pending.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.dropped + self.failed + self.pending()
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LayerStats {
        LayerStats {
            sent: self.sent.load(Ordering::Relaxed),
            emitted: self.emitted.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn spawn(
    auditor: Auditor,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ai-audit-tracing".into())
        .spawn(move || run(&auditor, &rx, &counters))
}

/// The next message. While spans keep closing, the worker polls the queue every millisecond
/// instead of parking, so that closing a span does not have to wake it (a system call on the
/// application's thread); after 50 ms without work it parks until the next message.
fn next(rx: &Receiver<Msg>) -> Option<Msg> {
    for _ in 0..50 {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    rx.recv().ok()
}

/// The span's receipt with its input and output hashed, or `None` (counted and said once) when
/// its tenant is not valid: no implicit tenant, and no chain nobody would look for.
fn hashed(
    span: crate::AuditSpan,
    auditor: &Auditor,
    counters: &Counters,
) -> Option<(Receipt, Option<Ticket>)> {
    let Job {
        mut receipt,
        input,
        output,
        ticket,
    } = span.into_job();
    if let Err(e) = audit_runtime::TenantId::check(receipt.tenant_id.as_str()) {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        auditor.report_lost(1, LossCause::InvalidTenant);
        if !WARNED_INVALID_TENANT.swap(true, Ordering::Relaxed) {
            eprintln!(
                "audit-tracing: an audit span had no valid audit.tenant, so its receipt was not written: {e}. Further ones are counted in Auditor::stats().lost.invalid_tenant"
            );
        }
        return None;
    }
    if let Some(i) = input {
        receipt.input_c14n = canonicalize_input(&i);
        recycle_text(i);
    }
    if let Some(o) = output {
        receipt.output_hash = hash_output(&o);
        recycle_text(o);
    }
    Some((receipt, ticket))
}

fn run(auditor: &Auditor, rx: &Receiver<Msg>, counters: &Counters) {
    let mut in_flight: Vec<PendingEmit> = Vec::new();
    let mut waiting: Vec<Sender<()>> = Vec::new();
    // Block for the first message, then take whatever else is queued so the auditor can
    // group-commit it; wait for durability only when the queue is empty.
    while let Some(first) = next(rx) {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Receipt(span) => {
                    match hashed(span, auditor, counters).map(|(r, t)| auditor.submit_tracked(r, t))
                    {
                        Some(Ok(p)) => in_flight.push(p),
                        Some(Err(_)) => {
                            counters.failed.fetch_add(1, Ordering::Relaxed);
                            auditor.report_lost(1, LossCause::Refused);
                        }
                        None => {}
                    }
                }
                Msg::Flush(done) => waiting.push(done),
            }
            if in_flight.len() < 4096 {
                next = rx.try_recv().ok();
            }
        }
        for p in in_flight.drain(..) {
            if p.wait().is_ok() {
                counters.emitted.fetch_add(1, Ordering::Relaxed);
            } else {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                // Nobody else hears of it: the auditor counts it and its shutdown reports it.
                auditor.report_lost(1, LossCause::NotStored);
            }
        }
        for done in waiting.drain(..) {
            // The flusher may have timed out and gone; nothing to tell then.
            let _ = done.send(());
        }
    }
}
