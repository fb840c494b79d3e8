//! The current-scope stack (thread-local; the future wrapper pushes its frame around each poll,
//! which makes it task-local in effect), the process-global default auditor and the counters.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::auditor::Auditor;
use crate::receipt::{Action, CheckRecord, TraceId};

/// What the body of one audited call attached to its receipt.
#[derive(Debug, Default)]
pub(super) struct Frame {
    /// `None` until someone needs it (see [`current_trace`]).
    pub(super) trace: Option<TraceId>,
    pub(super) checks: Vec<CheckRecord>,
    pub(super) reasons: Vec<String>,
    pub(super) model: Option<String>,
    /// The action the body chose ([`super::set_action`]).
    pub(super) action: Option<Action>,
    /// Set when the body panicked while this frame was current.
    pub(super) panicked: bool,
    /// Only carries a trace id ([`super::in_trace`]): checks and reasons go to the audited call
    /// below it, if any.
    pub(super) trace_only: bool,
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

/// Runs `f` on the innermost current frame of an audited call (skipping trace-only frames);
/// counts a call outside any such scope.
pub(super) fn with_current(f: impl FnOnce(&mut Frame)) {
    let mut f = Some(f);
    let attached = STACK
        .try_with(|s| {
            for frame in s.borrow().iter().rev() {
                let mut frame = lock(frame);
                if !frame.trace_only {
                    if let Some(f) = f.take() {
                        f(&mut frame);
                    }
                    return true;
                }
            }
            false
        })
        .unwrap_or(false);
    if !attached {
        UNATTACHED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process-global default auditor, and whether an [`crate::InstallGuard`] owns it.
struct Installed {
    auditor: Option<Auditor>,
    guarded: bool,
}

static DEFAULT: RwLock<Installed> = RwLock::new(Installed {
    auditor: None,
    guarded: false,
});

pub(super) fn set_default(auditor: Auditor) -> Option<Auditor> {
    let mut d = DEFAULT.write().unwrap_or_else(PoisonError::into_inner);
    d.guarded = false;
    d.auditor.replace(auditor)
}

/// Installs `auditor` for an [`crate::InstallGuard`]; refused while another guard's auditor
/// is installed.
pub(super) fn install_default(auditor: Auditor) -> Result<(), Auditor> {
    let mut d = DEFAULT.write().unwrap_or_else(PoisonError::into_inner);
    if d.guarded && d.auditor.as_ref().is_some_and(|a| !a.is_shut_down()) {
        return Err(auditor);
    }
    d.auditor = Some(auditor);
    d.guarded = true;
    Ok(())
}

/// Removes `auditor` if it is still the default.
pub(super) fn uninstall_default(auditor: &Auditor) {
    let mut d = DEFAULT.write().unwrap_or_else(PoisonError::into_inner);
    if d.auditor.as_ref().is_some_and(|a| a.same_as(auditor)) {
        d.auditor = None;
        d.guarded = false;
    }
}

pub(super) fn default() -> Option<Auditor> {
    DEFAULT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .auditor
        .clone()
}

pub(super) static WARNED_NO_AUDITOR: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
pub(super) static WARNED_REFUSED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);
pub(super) static WARNED_INVALID_TENANT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Says `what` on standard error, the first time only (the runtime has no logger; this is the
/// one place that can tell anyone). The counters in [`super::stats`] keep counting.
pub(super) fn warn_once(flag: &std::sync::atomic::AtomicBool, what: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("ai-audit: {what}");
    }
}

pub(super) static UNATTACHED: AtomicU64 = AtomicU64::new(0);
pub(super) static SUBMITTED: AtomicU64 = AtomicU64::new(0);
pub(super) static NO_AUDITOR: AtomicU64 = AtomicU64::new(0);
pub(super) static SUBMIT_FAILED: AtomicU64 = AtomicU64::new(0);
pub(super) static CAPTURE_FAILED: AtomicU64 = AtomicU64::new(0);
