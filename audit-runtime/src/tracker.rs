//! [`ReceiptTracker`]: the receipts one unit of work (an HTTP request) owes, so that it can wait
//! until every one of them is durable — also those written in the background, by the capture
//! worker (`#[audited]` scopes) and the tracing layer's worker (audit spans).
//!
//! The work runs inside [`ReceiptTracker::scope`]. Every receipt producer that starts while the
//! scope's future is being polled takes a [`Ticket`] from [`ReceiptTracker::current`] and gives
//! it to [`Auditor::submit_tracked`](crate::Auditor::submit_tracked) with the receipt; the
//! auditor's writer settles the ticket when it answers (stored, or not). A ticket dropped
//! without an answer (the receipt was dropped, refused, or written nowhere) counts as failed, so
//! nothing can be forgotten silently. [`ReceiptTracker::settled`] resolves once no ticket is
//! open, and tells how many receipts were stored and how many failed.
//!
//! Only this unit of work waits, and only for its own receipts: no global flush.
//!
//! ```
//! use audit_runtime::tracker::ReceiptTracker;
//! use audit_runtime::{store::MemoryStore, Auditor, Receipt, SigningKey};
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     let mut f = std::pin::pin!(f);
//! #     let waker = std::task::Waker::noop();
//! #     loop {
//! #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
//! #             return v;
//! #         }
//! #         std::thread::yield_now();
//! #     }
//! # }
//!
//! let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
//! let tracker = ReceiptTracker::new();
//! block_on(tracker.scope(async {
//!     // What a background receipt producer does when its work starts:
//!     let ticket = ReceiptTracker::current().map(|t| t.ticket());
//!     drop(auditor.submit_tracked(Receipt::new("acme"), ticket)?);
//!     Ok::<_, audit_runtime::EmitError>(())
//! }))?;
//! let settled = block_on(tracker.settled());
//! assert_eq!((settled.stored, settled.failed), (1, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// How the receipts of a [`ReceiptTracker`] stand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackerCounts {
    /// Receipts owed and not answered yet.
    pub open: u64,
    /// Receipts stored durably.
    pub stored: u64,
    /// Receipts that were not stored (the store or signer failed, the auditor was shut down,
    /// a lossy queue dropped them, their tenant was invalid, or no auditor was installed).
    pub failed: u64,
}

#[derive(Default)]
struct State {
    counts: TrackerCounts,
    wakers: Vec<Waker>,
}

/// The receipts one unit of work owes (see the module docs). Cheap to clone: clones share
/// their tickets.
#[derive(Clone, Default)]
pub struct ReceiptTracker {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for ReceiptTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptTracker")
            .field("counts", &self.counts())
            .finish()
    }
}

thread_local! {
    /// The trackers of the [`Tracked`] futures being polled on this thread, innermost last.
    static CURRENT: RefCell<Vec<ReceiptTracker>> = const { RefCell::new(Vec::new()) };
}

impl ReceiptTracker {
    /// A tracker that owes nothing yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The counts hold between statements; a panicking holder cannot break them.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more receipt owed: settle the ticket when the receipt is stored, or drop it.
    #[must_use = "a dropped ticket counts as a receipt that failed"]
    pub fn ticket(&self) -> Ticket {
        self.lock().counts.open += 1;
        Ticket {
            tracker: Some(self.clone()),
        }
    }

    /// The counts so far.
    #[must_use]
    pub fn counts(&self) -> TrackerCounts {
        self.lock().counts
    }

    /// The tracker of the innermost [`ReceiptTracker::scope`] future being polled on this
    /// thread, if any. Receipt producers call it where the work they record starts.
    #[must_use]
    pub fn current() -> Option<Self> {
        CURRENT
            .try_with(|c| c.borrow().last().cloned())
            .ok()
            .flatten()
    }

    /// Runs `future` with this tracker as [`ReceiptTracker::current`] while it is polled.
    pub fn scope<F: Future>(&self, future: F) -> Tracked<F> {
        Tracked {
            future: Box::pin(future),
            tracker: self.clone(),
        }
    }

    /// Resolves once no ticket is open, with the final counts.
    pub fn settled(&self) -> Settled<'_> {
        Settled { tracker: self }
    }

    fn settle(&self, stored: bool) {
        let mut s = self.lock();
        s.counts.open = s.counts.open.saturating_sub(1);
        if stored {
            s.counts.stored += 1;
        } else {
            s.counts.failed += 1;
        }
        let wakers = if s.counts.open == 0 {
            std::mem::take(&mut s.wakers)
        } else {
            Vec::new()
        };
        drop(s);
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// One receipt a [`ReceiptTracker`] owes. [`Ticket::stored`] settles it as stored; dropping it
/// unsettled counts the receipt as failed.
#[must_use = "a dropped ticket counts as a receipt that failed"]
pub struct Ticket {
    tracker: Option<ReceiptTracker>,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").finish_non_exhaustive()
    }
}

impl Ticket {
    /// The receipt is durable.
    pub fn stored(mut self) {
        if let Some(t) = self.tracker.take() {
            t.settle(true);
        }
    }

    /// Another ticket of the same tracker (for work started by the work this ticket records,
    /// such as a child span opened outside the tracker's scope).
    pub fn sibling(&self) -> Option<Self> {
        self.tracker.as_ref().map(ReceiptTracker::ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            t.settle(false);
        }
    }
}

/// A future run with a current [`ReceiptTracker`] (from [`ReceiptTracker::scope`]).
#[must_use = "futures do nothing unless polled"]
pub struct Tracked<F: Future> {
    future: Pin<Box<F>>,
    tracker: ReceiptTracker,
}

impl<F: Future> fmt::Debug for Tracked<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

/// Takes the tracker off this thread's stack after a poll, even one that panics.
struct Popped;

impl Drop for Popped {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.borrow_mut().pop());
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        CURRENT.with(|c| c.borrow_mut().push(this.tracker.clone()));
        let _popped = Popped;
        this.future.as_mut().poll(cx)
    }
}

/// Resolves once a [`ReceiptTracker`] has no open ticket (from [`ReceiptTracker::settled`]).
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Settled<'a> {
    tracker: &'a ReceiptTracker,
}

impl Future for Settled<'_> {
    type Output = TrackerCounts;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TrackerCounts> {
        let mut s = self.tracker.lock();
        if s.counts.open == 0 {
            return Poll::Ready(s.counts);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now<F: Future>(f: F) -> Poll<F::Output> {
        let mut f = std::pin::pin!(f);
        f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn settled_waits_for_every_ticket_and_a_dropped_ticket_is_a_failure() {
        let t = ReceiptTracker::new();
        let (a, b) = (t.ticket(), t.ticket());
        assert!(now(t.settled()).is_pending());
        a.stored();
        assert!(now(t.settled()).is_pending());
        drop(b);
        let settled = now(t.settled()).map(|c| (c.open, c.stored, c.failed));
        assert_eq!(settled, Poll::Ready((0, 1, 1)));
    }

    #[test]
    fn current_is_the_innermost_scope_and_only_while_polled() {
        let (outer, inner) = (ReceiptTracker::new(), ReceiptTracker::new());
        let seen = now(outer.scope(async {
            let mine = ReceiptTracker::current().map(|t| t.ticket());
            let nested = inner
                .scope(async { ReceiptTracker::current().map(|t| t.ticket()) })
                .await;
            (mine, nested)
        }));
        assert!(matches!(seen, Poll::Ready((Some(_), Some(_)))));
        assert_eq!((outer.counts().open, inner.counts().open), (1, 1));
        assert!(ReceiptTracker::current().is_none());
        drop(seen);
        assert_eq!((outer.counts().failed, inner.counts().failed), (1, 1));
    }
}
