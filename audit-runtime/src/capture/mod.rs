//! Capture scopes: one receipt per audited call, whatever way the call ends.
//!
//! This module is the whole contract of `#[audited]`: the macro expands into calls to
//! [`Scope`], [`ScopeGuard`], [`Audited`] and [`Outcome`] and nothing else, so anything it does
//! can be written by hand. [`check`], [`reason`] and [`set_model`] attach to the receipt of the
//! innermost running scope; [`set_default`] installs the [`Auditor`] the scopes emit to.
//!
//! ```
//! use audit_runtime::capture::{self, Outcome, Scope};
//! use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
//!
//! capture::set_default(
//!     Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?,
//! );
//!
//! // What `#[audited(tenant = "acme", capture(text))]` writes for a sync fn:
//! fn decide(text: &str) -> Result<String, String> {
//!     let guard = Scope::new("acme").name("decide").input_text(text).enter();
//!     let result = (move || {
//!         capture::check("length", text.len() as f64, 100.0);
//!         if text.is_empty() {
//!             return Err("empty".to_owned());
//!         }
//!         Ok(text.to_uppercase())
//!     })();
//!     guard.finish(match &result {
//!         Ok(out) => Outcome::ok_text(out),
//!         Err(_) => Outcome::err(),
//!     });
//!     result
//! }
//! assert_eq!(decide("approve")?, "APPROVE");
//! capture::flush(); // hands every ended scope's receipt to its auditor
//! capture::default().expect("set above").flush()?; // durable now
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What each exit records
//!
//! | exit | `action` | `reason_codes` (after `decision:NAME` and the body's own) |
//! |---|---|---|
//! | [`Outcome::ok`] and friends (a non-`Result` return counts as `Ok`) | `allow` | — |
//! | [`Outcome::err`] (also an early `?`) | `reject`, or `fail_retry` with [`Scope::fail_retry_on_err`] | `error` |
//! | a panic in the body (the panic goes on) | `fail_retry` | `panicked` |
//! | a guard or future dropped before it finished (cancellation) | `fail_retry` | `cancelled` |
//!
//! The receipt's `trace_id` is the scope's explicit [`Scope::trace`], else the trace of the
//! enclosing scope (so nested audited calls share one trace and each leaves its own receipt),
//! else a fresh random id. The function's name is recorded as the first reason code,
//! `decision:NAME`, so a verifier can tell which decision point wrote a receipt.
//!
//! # Context
//! The current scope is kept in a thread-local stack. A [`ScopeGuard`] is on it from
//! [`Scope::enter`] to its end and cannot leave its thread. An [`Audited`] future puts its scope
//! on the stack only while it is being polled, so the scope follows the task from thread to
//! thread and every nested `.await` sees it; no guard is held across an `.await`.
//!
//! # Emission and failures
//! When a scope ends, its receipt and the captured texts and values are queued (bounded) for a
//! process-wide worker thread, which hashes them and hands the receipt to the auditor with
//! [`Auditor::submit`]. The caller's thread copies the captured data and never hashes, signs or
//! waits for durability; it waits only when the queues are full (backpressure). [`flush`] waits
//! until the worker has handed over everything ended before it. Nothing is dropped silently;
//! every receipt that cannot be handed over is counted in [`stats`]:
//! [`CaptureStats::no_auditor`] (no default auditor installed), [`CaptureStats::submit_failed`]
//! (the auditor was shut down). A receipt that the auditor accepts but cannot store is counted by
//! that auditor in [`crate::AuditorStats::failed`]. Calls of [`check`], [`reason`] and
//! [`set_model`] outside any scope do nothing and are counted in [`CaptureStats::unattached`].

mod context;
mod worker;

use worker::Deferred;
pub use worker::flush;
#[doc(hidden)]
pub use worker::{pooled_text, recycle_text};

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use crate::auditor::Auditor;
use crate::json::{self, Object};
use crate::receipt::{
    Action, CheckRecord, Receipt, ReceiptId, SessionId, TenantId, Timestamp, TraceId,
};
use context::Shared;

/// Installs the process-global default [`Auditor`] that scopes without an explicit
/// [`Scope::auditor`] (and so every `#[audited]` function) emit to; returns the previous one.
///
/// It is one value for the whole process: tests that share a binary share it, so give each test
/// its own tenant and filter by it.
#[expect(
    clippy::must_use_candidate,
    reason = "the previous auditor is rarely of interest"
)]
pub fn set_default(auditor: Auditor) -> Option<Auditor> {
    context::set_default(auditor)
}

pub(crate) fn install_default(auditor: Auditor) -> Result<(), Auditor> {
    context::install_default(auditor)
}

pub(crate) fn uninstall_default(auditor: &Auditor) {
    context::uninstall_default(auditor);
}

/// The process-global default [`Auditor`], if one was installed with [`set_default`].
#[must_use]
pub fn default() -> Option<Auditor> {
    context::default()
}

/// Adds a check to the receipt of the innermost running scope (`fired` is
/// `score >= threshold`). Outside any scope it does nothing and counts in
/// [`CaptureStats::unattached`].
pub fn check(name: &str, score: f64, threshold: f64) {
    context::with_current(|f| f.checks.push(CheckRecord::new(name, score, threshold)));
}

/// Adds a reason code to the receipt of the innermost running scope. Outside any scope it does
/// nothing and counts in [`CaptureStats::unattached`].
pub fn reason(code: &str) {
    context::with_current(|f| f.reasons.push(code.to_owned()));
}

/// Sets the model id of the receipt of the innermost running scope (overriding the scope's
/// `model`). Outside any scope it does nothing and counts in [`CaptureStats::unattached`].
pub fn set_model(model: &str) {
    context::with_current(|f| f.model = Some(model.to_owned()));
}

/// The trace id of the innermost running scope on this thread (an audited call, an audited
/// HTTP request or an [`in_trace`] future), made now if the scope has none yet; `None` outside
/// any scope. Integrations (LLM clients, the tracing layer) use it so that everything done for
/// one call shares one trace id.
#[must_use]
pub fn current_trace() -> Option<TraceId> {
    context::current_trace()
}

/// Runs `future` with `trace` as the current trace id: audited calls, traced spans and LLM
/// calls made while it is polled take that trace id unless they are given one. It records no
/// receipt of its own (the HTTP layer wraps each audited request in it).
///
/// ```
/// use audit_runtime::capture;
/// let trace = futures_executor_free_block_on(capture::in_trace("req-42", async {
///     capture::current_trace()
/// }));
/// assert_eq!(trace.map(|t| t.as_str().to_owned()).as_deref(), Some("req-42"));
/// # fn futures_executor_free_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let waker = std::task::Waker::noop();
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
/// #             return v;
/// #         }
/// #     }
/// # }
/// ```
pub fn in_trace<F: Future>(trace: impl AsRef<str>, future: F) -> InTrace<F> {
    InTrace {
        future: Box::pin(future),
        frame: Arc::new(std::sync::Mutex::new(context::Frame {
            trace: Some(TraceId::new(trace.as_ref())),
            trace_only: true,
            ..context::Frame::default()
        })),
    }
}

/// A future with a current trace id (from [`in_trace`]).
#[must_use = "futures do nothing unless polled"]
pub struct InTrace<F: Future> {
    future: Pin<Box<F>>,
    frame: Shared,
}

impl<F: Future> std::fmt::Debug for InTrace<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InTrace").finish_non_exhaustive()
    }
}

impl<F: Future> Future for InTrace<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        context::push(&this.frame);
        let guard = PollGuard(&this.frame);
        let out = this.future.as_mut().poll(cx);
        drop(guard);
        out
    }
}

/// Sets the action of the receipt of the innermost running scope, for the ways the call can
/// end normally: with it, a call that returns (`Ok` or a plain value) or returns `Err` records
/// this action instead of `allow` or the scope's error action (a panic or a cancellation still
/// records `fail_retry`). Use it for decisions that are neither allow nor reject, such as
/// referring a case to a human ([`Action::Escalate`]). Outside any scope it does nothing and
/// counts in [`CaptureStats::unattached`].
///
/// ```
/// use audit_runtime::capture::{self, Outcome, Scope};
/// use audit_runtime::{store::MemoryStore, Action, Auditor, SigningKey};
///
/// let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
/// let guard = Scope::new("bank-eu").auditor(auditor.clone()).name("underwrite").enter();
/// capture::set_action(Action::Escalate); // refer to an underwriter
/// capture::reason("refer_to_underwriter");
/// guard.finish(Outcome::ok());
/// auditor.shutdown()?;
/// let stored = audit_runtime::store::receipts(auditor.store().as_ref(), &"bank-eu".into(), 0..1)
///     .next()
///     .expect("one receipt")?;
/// assert_eq!(stored.parse()?.receipt.action, Action::Escalate);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_action(action: Action) {
    context::with_current(|f| f.action = Some(action));
}

/// Process-wide counters of the capture layer, from [`stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureStats {
    /// Receipts handed to an auditor.
    pub submitted: u64,
    /// Receipts not written because no auditor was set (neither explicit nor default).
    pub no_auditor: u64,
    /// Receipts the auditor refused (it was shut down).
    pub submit_failed: u64,
    /// Inputs or outputs that could not be serialized for hashing (recorded with an empty hash).
    pub capture_failed: u64,
    /// Calls of [`check`], [`reason`] or [`set_model`] outside any scope.
    pub unattached: u64,
}

/// The counters of this process.
#[must_use]
pub fn stats() -> CaptureStats {
    CaptureStats {
        submitted: context::SUBMITTED.load(Ordering::Relaxed),
        no_auditor: context::NO_AUDITOR.load(Ordering::Relaxed),
        submit_failed: context::SUBMIT_FAILED.load(Ordering::Relaxed),
        capture_failed: context::CAPTURE_FAILED.load(Ordering::Relaxed),
        unattached: context::UNATTACHED.load(Ordering::Relaxed),
    }
}

/// How an audited call ended: build it with [`Outcome::ok_text`], [`Outcome::ok_json`],
/// [`Outcome::ok`], [`Outcome::err`], [`Outcome::panicked`] or [`Outcome::cancelled`].
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome(Kind);

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Ok(Deferred),
    Err,
    Panicked,
    Cancelled,
}

impl Outcome {
    /// It returned a value (`Ok`, or any non-`Result` value) that is not captured; `action` is
    /// `allow`.
    #[must_use]
    pub fn ok() -> Self {
        Self(Kind::Ok(Deferred::None))
    }

    /// It returned this text; `output_hash` is [`crate::canonical::hash_output`] of it
    /// (computed off the caller's thread).
    #[must_use]
    pub fn ok_text(output: &str) -> Self {
        Self(Kind::Ok(Deferred::Output(pooled_text(output))))
    }

    /// It returned this value; `output_hash` is [`crate::canonical::hash_json`] of its
    /// [`json::to_value`]. If it cannot be serialized the hash stays empty and
    /// [`CaptureStats::capture_failed`] counts it.
    #[cfg(feature = "serde")]
    #[must_use]
    pub fn ok_json<T: serde::Serialize + ?Sized>(output: &T) -> Self {
        Self(Kind::Ok(json_value(output)))
    }

    /// It returned `Err`; `action` is the scope's error action, reason `error`.
    #[must_use]
    pub fn err() -> Self {
        Self(Kind::Err)
    }

    /// It panicked; `action` is `fail_retry`, reason `panicked`.
    #[must_use]
    pub fn panicked() -> Self {
        Self(Kind::Panicked)
    }

    /// It was dropped before it finished; `action` is `fail_retry`, reason `cancelled`.
    #[must_use]
    pub fn cancelled() -> Self {
        Self(Kind::Cancelled)
    }
}

#[cfg(feature = "serde")]
fn json_value<T: serde::Serialize + ?Sized>(value: &T) -> Deferred {
    match json::to_value(value) {
        Ok(v) => Deferred::Json(v),
        Err(_) => {
            context::CAPTURE_FAILED.fetch_add(1, Ordering::Relaxed);
            Deferred::None
        }
    }
}

/// What to record about one audited call: tenant, name, input, model, session, trace.
/// Start it with [`Scope::enter`] (sync code) or [`Scope::wrap`] (a future).
#[must_use = "a scope records nothing until it is entered or wraps a future"]
#[derive(Debug)]
pub struct Scope {
    auditor: Option<Auditor>,
    tenant: TenantId,
    name: Option<String>,
    model: Option<String>,
    session: Option<SessionId>,
    trace: Option<TraceId>,
    on_err: Action,
    input: Deferred,
    /// `input` is the object of named fields.
    fields: bool,
}

impl Scope {
    /// A scope whose receipt joins `tenant`'s chain.
    pub fn new(tenant: impl AsRef<str>) -> Self {
        Self {
            auditor: None,
            tenant: TenantId::new(tenant.as_ref()),
            name: None,
            model: None,
            session: None,
            trace: None,
            on_err: Action::Reject,
            input: Deferred::None,
            fields: false,
        }
    }

    /// Emits to `auditor` instead of the [`default`] one.
    pub fn auditor(mut self, auditor: Auditor) -> Self {
        self.auditor = Some(auditor);
        self
    }

    /// The decision point's name (recorded as reason code `decision:NAME`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The model id.
    pub fn model(mut self, model: &str) -> Self {
        self.model = Some(model.to_owned());
        self
    }

    /// The session id.
    pub fn session(mut self, session: impl AsRef<str>) -> Self {
        self.session = Some(SessionId::new(session.as_ref()));
        self
    }

    /// An explicit trace id (otherwise inherited from the enclosing scope, or random).
    pub fn trace(mut self, trace: impl AsRef<str>) -> Self {
        self.trace = Some(TraceId::new(trace.as_ref()));
        self
    }

    /// Records `Err` as `fail_retry` instead of `reject`.
    pub fn fail_retry_on_err(mut self) -> Self {
        self.on_err = Action::FailRetry;
        self
    }

    /// The input is this text: `input_c14n` is [`crate::canonical::canonicalize_input`] of it.
    pub fn input_text(mut self, text: &str) -> Self {
        self.input = Deferred::Input(pooled_text(text));
        self
    }

    /// The input is this value: `input_c14n` is [`crate::canonical::hash_json`] of it. If it
    /// cannot be serialized the hash stays empty and [`CaptureStats::capture_failed`] counts it.
    #[cfg(feature = "serde")]
    pub fn input_json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.input = json_value(value);
        self
    }

    /// Adds a named text field to the input. With fields, `input_c14n` is
    /// [`crate::canonical::hash_json`] of the object `{name: value, …}` (texts as JSON strings).
    pub fn input_field_text(mut self, name: &str, text: &str) -> Self {
        self.add_field(name, json::Value::String(text.to_owned()));
        self
    }

    /// Adds a named field to the input (see [`Scope::input_field_text`]). A value that cannot
    /// be serialized is recorded as `null` and counted in [`CaptureStats::capture_failed`].
    #[cfg(feature = "serde")]
    pub fn input_field_json<T: serde::Serialize + ?Sized>(mut self, name: &str, value: &T) -> Self {
        let v = json::to_value(value).unwrap_or_else(|_| {
            context::CAPTURE_FAILED.fetch_add(1, Ordering::Relaxed);
            json::Value::Null
        });
        self.add_field(name, v);
        self
    }

    fn add_field(&mut self, name: &str, value: json::Value) {
        let mut object = match std::mem::replace(&mut self.input, Deferred::None) {
            Deferred::Json(json::Value::Object(o)) if self.fields => o,
            _ => Object::new(),
        };
        object.insert(name, value);
        self.input = Deferred::Json(json::Value::Object(object));
        self.fields = true;
    }

    /// Starts the scope on this thread. The returned guard emits the receipt when it is
    /// finished or dropped (a drop during a panic records [`Outcome::panicked`], any other drop
    /// [`Outcome::cancelled`]).
    pub fn enter(self) -> ScopeGuard {
        let pending = self.start();
        context::push(&pending.frame);
        ScopeGuard {
            pending: Some(pending),
            _not_send: PhantomData,
        }
    }

    /// Wraps a future: the scope is current while the future is polled, and the receipt is
    /// emitted when it completes (`map` turns its output into an [`Outcome`]), or when it is
    /// dropped before that ([`Outcome::cancelled`], or [`Outcome::panicked`] after a panic in a
    /// poll). `Audited<F>` is `Send` exactly when `F` is.
    pub fn wrap<F: Future>(self, future: F, map: fn(&F::Output) -> Outcome) -> Audited<F> {
        Audited {
            future: Box::pin(future),
            map,
            scope: Some(self),
            pending: None,
        }
    }

    fn start(mut self) -> Pending {
        let timestamp = Timestamp::now_utc();
        // A top-level scope's random trace id is made only when a nested scope asks for it or,
        // on the capture worker, when the receipt is assembled.
        let trace = self.trace.take().or_else(context::current_trace);
        let frame = Arc::new(std::sync::Mutex::new(context::Frame {
            trace,
            ..context::Frame::default()
        }));
        Pending {
            scope: self,
            timestamp,
            frame,
            // A request waiting for its receipts waits for this one too.
            ticket: crate::tracker::ReceiptTracker::current().map(|t| t.ticket()),
        }
    }
}

#[derive(Debug)]
struct Pending {
    scope: Scope,
    timestamp: Timestamp,
    frame: Shared,
    ticket: Option<crate::tracker::Ticket>,
}

impl Pending {
    /// Hands what the call recorded to the capture worker, which assembles, hashes and submits
    /// the receipt: the caller's thread only moves data (allocation here is the dominant cost,
    /// and allocations freed on another thread are the slow ones).
    fn emit(self, outcome: Outcome) {
        let Self {
            mut scope,
            timestamp,
            frame,
            ticket,
        } = self;
        let frame = std::mem::take(&mut *context::lock(&frame));
        let Some(auditor) = scope.auditor.take().or_else(context::default) else {
            context::NO_AUDITOR.fetch_add(1, Ordering::Relaxed);
            context::warn_once(
                &context::WARNED_NO_AUDITOR,
                "an audited call ended while no auditor was installed; its receipt was not written (install one at the start of main: `let _audit = ai_audit::install(auditor)?;`). Further ones are counted in capture::stats().no_auditor",
            );
            return;
        };
        worker::send(worker::Job {
            auditor,
            scope,
            timestamp,
            frame,
            outcome,
            ticket,
        });
    }
}

/// The receipt of an ended scope (on the capture worker), with its input and output still to be
/// hashed.
fn assemble(
    scope: Scope,
    timestamp: Timestamp,
    frame: context::Frame,
    outcome: Outcome,
) -> (Receipt, Deferred, Deferred) {
    let mut r = Receipt::new_at(scope.tenant, ReceiptId::random(), timestamp);
    r.trace_id = frame.trace.unwrap_or_else(context::random_trace);
    if let Some(s) = scope.session {
        r.session_id = s;
    }
    if let Some(m) = frame.model.or(scope.model) {
        r.model_id = m;
    }
    r.checks = frame.checks;
    if let Some(n) = scope.name {
        r.reason_codes.push(format!("decision:{n}"));
    }
    r.reason_codes.extend(frame.reasons);
    let mut output = Deferred::None;
    let (action, reason) = match outcome.0 {
        Kind::Ok(o) => {
            output = o;
            (frame.action.unwrap_or(Action::Allow), None)
        }
        Kind::Err => (frame.action.unwrap_or(scope.on_err), Some("error")),
        Kind::Panicked => (Action::FailRetry, Some("panicked")),
        Kind::Cancelled => (Action::FailRetry, Some("cancelled")),
    };
    r.action = action;
    r.reason_codes.extend(reason.map(str::to_owned));
    (r, scope.input, output)
}

/// A running sync scope (from [`Scope::enter`]); emits its receipt once, on
/// [`ScopeGuard::finish`] or on drop. It stays on the thread that entered it.
#[must_use = "dropping the guard at once ends the scope and records it as cancelled"]
#[derive(Debug)]
pub struct ScopeGuard {
    pending: Option<Pending>,
    _not_send: PhantomData<std::rc::Rc<()>>,
}

impl ScopeGuard {
    /// Ends the scope and emits its receipt with `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        if let Some(p) = self.pending.take() {
            context::pop(&p.frame);
            p.emit(outcome);
        }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if let Some(p) = self.pending.take() {
            context::pop(&p.frame);
            let outcome = if std::thread::panicking() {
                Outcome::panicked()
            } else {
                Outcome::cancelled()
            };
            p.emit(outcome);
        }
    }
}

/// A future in a capture scope (from [`Scope::wrap`]).
#[must_use = "futures do nothing unless polled; dropping it records a cancelled call"]
pub struct Audited<F: Future> {
    future: Pin<Box<F>>,
    map: fn(&F::Output) -> Outcome,
    scope: Option<Scope>,
    pending: Option<Pending>,
}

impl<F: Future> std::fmt::Debug for Audited<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audited")
            .field("scope", &self.scope)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// Pops the frame after a poll, and marks it when the poll panicked.
struct PollGuard<'a>(&'a Shared);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            context::lock(self.0).panicked = true;
        }
        context::pop(self.0);
    }
}

impl<F: Future> Future for Audited<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if let Some(scope) = this.scope.take() {
            this.pending = Some(scope.start());
        }
        let Some(frame) = this.pending.as_ref().map(|p| Arc::clone(&p.frame)) else {
            // Polled after completion: the inner future decides what that means.
            return this.future.as_mut().poll(cx);
        };
        context::push(&frame);
        let guard = PollGuard(&frame);
        let out = this.future.as_mut().poll(cx);
        drop(guard);
        if let Poll::Ready(value) = &out
            && let Some(p) = this.pending.take()
        {
            p.emit((this.map)(value));
        }
        out
    }
}

impl<F: Future> Drop for Audited<F> {
    fn drop(&mut self) {
        let pending = self
            .pending
            .take()
            .or_else(|| self.scope.take().map(Scope::start));
        if let Some(p) = pending {
            let panicked = std::thread::panicking() || context::lock(&p.frame).panicked;
            p.emit(if panicked {
                Outcome::panicked()
            } else {
                Outcome::cancelled()
            });
        }
    }
}

#[cfg(test)]
mod tests;
