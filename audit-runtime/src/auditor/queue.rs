//! The bounded queue between emitters and the writer thread, and the one-shot reply slot each
//! emitter waits on. Both work for blocking callers (condition variables) and async callers
//! (wakers), without an async runtime dependency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;

use super::{EmitError, Emitted};
use crate::receipt::Receipt;
use crate::tracker::Ticket;

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The queue's invariants hold between statements; a panicking holder cannot break them.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What an emit (or a barrier, with `None`) is answered with.
pub(crate) type Reply = Result<Option<Emitted>, EmitError>;

/// Where the writer puts an emit's outcome.
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    state: Mutex<SlotState>,
    ready: Condvar,
    /// Counts an error answer that nobody will read (the emitter let go of the slot first, or
    /// lets go of it after an error answer): a receipt lost without anyone being told.
    unreported: Option<Arc<AtomicU64>>,
}

#[derive(Debug, Default)]
struct SlotState {
    reply: Option<Reply>,
    waker: Option<Waker>,
    /// A thread sleeps in [`ReplySlot::wait`]. The writer answers thousands of slots per second
    /// and most have nobody waiting yet (an emitter keeps many in flight): notifying only then
    /// saves a futex system call per receipt on the committer thread.
    blocked: bool,
    /// The answered receipt, handed back so that the emitter's thread frees it: memory freed by
    /// the thread that allocated it skips the allocator's cross-thread locking, which otherwise
    /// contends with the emitters on the committer thread.
    spent: Option<Box<Receipt>>,
    /// The emitter let go without waiting for the answer.
    abandoned: bool,
    /// Settled with the first answer: stored on `Ok(Some(_))`, failed otherwise (or when the
    /// slot is dropped unanswered).
    ticket: Option<Ticket>,
}

impl ReplySlot {
    /// A slot whose unread error answer is counted in `unreported`.
    pub(crate) fn counted(unreported: &Arc<AtomicU64>) -> Self {
        Self {
            unreported: Some(Arc::clone(unreported)),
            ..Self::default()
        }
    }

    /// A counted slot that settles `ticket` with its answer.
    pub(crate) fn tracked(unreported: &Arc<AtomicU64>, ticket: Option<Ticket>) -> Self {
        let slot = Self::counted(unreported);
        guard(&slot.state).ticket = ticket;
        slot
    }

    /// The emitter will never read the answer: an error answer (now or later) is counted.
    pub(crate) fn abandon(&self) {
        let mut s = guard(&self.state);
        s.abandoned = true;
        let unread_error = matches!(s.reply, Some(Err(_)));
        drop(s);
        if unread_error {
            self.count_unreported();
        }
    }

    fn count_unreported(&self) {
        if let Some(c) = &self.unreported {
            c.fetch_add(1, Ordering::Relaxed);
            crate::metrics::lost(1, crate::LossCause::NotStored.label());
        }
    }

    pub(crate) fn send(&self, r: Reply) {
        self.answer(r, true, None);
    }

    /// Answers, and hands the receipt back to be freed by whoever takes the answer.
    pub(crate) fn send_returning(&self, r: Reply, spent: Option<Box<Receipt>>) {
        self.answer(r, true, spent);
    }

    /// Answers only if nobody answered yet (used after a writer bug).
    pub(crate) fn send_if_empty(&self, r: Reply) {
        self.answer(r, false, None);
    }

    fn answer(&self, r: Reply, overwrite: bool, spent: Option<Box<Receipt>>) {
        let mut s = guard(&self.state);
        if !(overwrite || s.reply.is_none()) {
            return;
        }
        if let Some(ticket) = s.ticket.take() {
            if matches!(r, Ok(Some(_))) {
                ticket.stored();
            } else {
                drop(ticket); // counts as failed
            }
        }
        if s.abandoned {
            // Nobody will read it; an error is a receipt lost without anyone being told.
            let was_err = matches!(s.reply, Some(Err(_)));
            let is_err = r.is_err();
            s.reply = Some(r);
            drop(s);
            drop(spent);
            if is_err && !was_err {
                self.count_unreported();
            }
            return;
        }
        s.reply = Some(r);
        if spent.is_some() {
            s.spent = spent;
        }
        if let Some(w) = s.waker.take() {
            w.wake();
        }
        let blocked = s.blocked;
        drop(s);
        if blocked {
            self.ready.notify_all();
        }
    }

    pub(crate) fn wait(&self) -> Reply {
        let mut s = guard(&self.state);
        loop {
            if let Some(r) = s.reply.take() {
                s.blocked = false;
                let spent = s.spent.take();
                drop(s);
                drop(spent); // freed here, on the thread that made it
                return r;
            }
            s.blocked = true;
            s = self
                .ready
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll(&self, waker: &Waker) -> Option<Reply> {
        let mut s = guard(&self.state);
        if let Some(r) = s.reply.take() {
            let spent = s.spent.take();
            drop(s);
            drop(spent);
            return Some(r);
        }
        s.waker = Some(waker.clone());
        None
    }
}

/// One unit of work for the writer.
#[derive(Debug)]
pub(crate) enum Job {
    /// Seal and store a receipt.
    Emit(Box<Receipt>, Arc<ReplySlot>),
    /// Answer once everything queued before it is durable.
    Barrier(Arc<ReplySlot>),
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Job>,
    closed: bool,
    space_wakers: Vec<Waker>,
}

/// A bounded multi-producer queue with one consumer.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

/// Why a push did not happen.
#[derive(Debug)]
pub(crate) enum PushError {
    Full(Job),
    Closed,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Pushes, waiting while the queue is full (backpressure).
    pub(crate) fn push_blocking(&self, job: Job) -> Result<(), PushError> {
        let mut s = guard(&self.state);
        loop {
            if s.closed {
                return Err(PushError::Closed);
            }
            if s.items.len() < self.capacity {
                s.items.push_back(job);
                drop(s);
                self.not_empty.notify_one();
                return Ok(());
            }
            s = self
                .not_full
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Pushes if there is room; a barrier is always accepted (it adds no receipt).
    pub(crate) fn try_push(&self, job: Job, waker: Option<&Waker>) -> Result<(), PushError> {
        let mut s = guard(&self.state);
        if s.closed {
            return Err(PushError::Closed);
        }
        if s.items.len() >= self.capacity && matches!(job, Job::Emit(..)) {
            if let Some(w) = waker {
                s.space_wakers.push(w.clone());
            }
            return Err(PushError::Full(job));
        }
        s.items.push_back(job);
        drop(s);
        self.not_empty.notify_one();
        Ok(())
    }

    /// Takes up to `max` jobs, waiting for at least one; `None` once closed and drained.
    pub(crate) fn pop_batch(&self, max: usize, out: &mut Vec<Job>) -> bool {
        let mut s = guard(&self.state);
        loop {
            if !s.items.is_empty() {
                let n = s.items.len().min(max);
                out.extend(s.items.drain(..n));
                let wakers = std::mem::take(&mut s.space_wakers);
                drop(s);
                self.not_full.notify_all();
                for w in wakers {
                    w.wake();
                }
                return true;
            }
            if s.closed {
                return false;
            }
            s = self
                .not_empty
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Refuses new jobs; queued ones are still processed.
    pub(crate) fn close(&self) {
        let mut s = guard(&self.state);
        s.closed = true;
        let wakers = std::mem::take(&mut s.space_wakers);
        drop(s);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        for w in wakers {
            w.wake();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        guard(&self.state).closed
    }

    pub(crate) fn len(&self) -> usize {
        guard(&self.state).items.len()
    }
}
