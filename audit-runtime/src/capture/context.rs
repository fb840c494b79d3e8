//! The current-scope stack (thread-local; the future wrapper pushes its frame around each poll,
//! which makes it task-local in effect), the process-global default auditor and the counters.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::auditor::Auditor;
use crate::receipt::{CheckRecord, TraceId};

/// What the body of one audited call attached to its receipt.
#[derive(Debug, Default)]
pub(super) struct Frame {
    /// `None` until someone needs it (see [`current_trace`]).
    pub(super) trace: Option<TraceId>,
    pub(super) checks: Vec<CheckRecord>,
    pub(super) reasons: Vec<String>,
    pub(super) model: Option<String>,
    /// Set when the body panicked while this frame was current.
    pub(super) panicked: bool,
}

pub(super) type Shared = Arc<Mutex<Frame>>;

thread_local! {
    static STACK: RefCell<Vec<Shared>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn lock(frame: &Shared) -> std::sync::MutexGuard<'_, Frame> {
    frame.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn push(frame: &Shared) {
    STACK.with(|s| s.borrow_mut().push(Arc::clone(frame)));
}

/// Removes `frame` from this thread's stack (normally the top).
pub(super) fn pop(frame: &Shared) {
    // `try_with`: during thread teardown the stack may already be gone.
    let _ = STACK.try_with(|s| {
        let mut s = s.borrow_mut();
        if let Some(i) = s.iter().rposition(|f| Arc::ptr_eq(f, frame)) {
            s.remove(i);
        }
    });
}

/// A fresh trace id for a scope with no explicit or enclosing one.
pub(super) fn random_trace() -> TraceId {
    TraceId::new(crate::receipt::ReceiptId::random().into_string())
}

/// The trace id of the innermost current scope on this thread (made now if it has none yet).
pub(super) fn current_trace() -> Option<TraceId> {
    STACK
        .try_with(|s| {
            s.borrow()
                .last()
                .map(|f| lock(f).trace.get_or_insert_with(random_trace).clone())
        })
        .ok()
        .flatten()
}

/// Runs `f` on the innermost current frame; counts a call outside any scope.
pub(super) fn with_current(f: impl FnOnce(&mut Frame)) {
    let top = STACK
        .try_with(|s| s.borrow().last().cloned())
        .ok()
        .flatten();
    match top {
        Some(frame) => f(&mut lock(&frame)),
        None => {
            UNATTACHED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

static DEFAULT: RwLock<Option<Auditor>> = RwLock::new(None);

pub(super) fn set_default(auditor: Auditor) -> Option<Auditor> {
    DEFAULT
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(auditor)
}

pub(super) fn default() -> Option<Auditor> {
    DEFAULT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

pub(super) static UNATTACHED: AtomicU64 = AtomicU64::new(0);
pub(super) static SUBMITTED: AtomicU64 = AtomicU64::new(0);
pub(super) static NO_AUDITOR: AtomicU64 = AtomicU64::new(0);
pub(super) static SUBMIT_FAILED: AtomicU64 = AtomicU64::new(0);
pub(super) static CAPTURE_FAILED: AtomicU64 = AtomicU64::new(0);
