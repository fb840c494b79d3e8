//! # audit-tracing
//!
//! [`AuditLayer`]: a `tracing-subscriber` layer that turns audit spans into ai-audit decision
//! receipts. Use it through the `ai-audit` crate (`ai_audit::tracing`, feature `tracing`).
//!
//! A span is an audit span when it has a field `audit.tenant` or its target is `audit`. When it
//! closes, it becomes one receipt:
//!
//! | span field | receipt field |
//! |---|---|
//! | `audit.tenant` | `tenant_id`; required, and a valid [`TenantId`](audit_runtime::TenantId) (a span without one is not written: it counts in `Auditor::stats().lost.invalid_tenant` and is reported once on standard error) |
//! | `audit.input` | `input_c14n` = `canonicalize_input` of the text |
//! | `audit.output` | `output_hash` = `hash_output` of the text |
//! | `audit.model` | `model_id` |
//! | `audit.session` | `session_id` |
//! | `audit.action` | `action` (`allow`, `reject`, `fail_retry`, …; an unknown one adds reason `unknown_action`) |
//! | `audit.reason` | one reason code per recorded value |
//! | `trace_id` or `otel.trace_id` | `trace_id` (else the enclosing audit span's, else random) |
//!
//! Events inside an audit span with a field `audit.check` (the check's name) and `score`,
//! `threshold` and optionally `fired` add a check to the innermost enclosing audit span.
//! Fields declared `tracing::field::Empty` and recorded later (also with
//! `#[tracing::instrument(skip_all, fields(audit.output))]`) count as well. Other spans and
//! events cost one field scan and are otherwise ignored; the layer filters nothing for other
//! layers.
//!
//! **Clear text.** `audit.input` and `audit.output` hold the decision's content, which the
//! receipt keeps only as hashes. Any other layer that prints span fields prints them too:
//! give every `fmt` layer [`MaskAuditFields`], and use `#[instrument(skip_all, …)]` (without
//! `skip_all`, `instrument` records every argument under its own name, which no mask by field
//! name can know).
//!
//! No I/O happens on the application's thread: closing a span puts the receipt on a bounded
//! queue, and a worker thread hashes it and hands it to the `Auditor`. A full queue makes the
//! span's close wait (backpressure, the default: receipts are evidence); in
//! [`AuditLayerBuilder::lossy`] mode it is dropped and counted instead. The [`AuditGuard`]
//! flushes on drop.
//!
//! ```
//! use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
//! use audit_tracing::AuditLayer;
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
//! let (layer, guard) = AuditLayer::new(auditor.clone());
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("decide", audit.tenant = "acme", audit.input = "Approve?", audit.output = tracing::field::Empty);
//!     let _entered = span.enter();
//!     tracing::info!(audit.check = "toxicity", score = 0.1, threshold = 0.8);
//!     span.record("audit.output", "yes");
//! });
//! let stats = guard.finish();
//! assert_eq!((stats.emitted, stats.lost()), (1, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod fields;
mod mask;
mod worker;

pub use mask::{MASK, MASKED_FIELDS, MaskAuditFields};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::time::Duration;

use audit_runtime::tracker::{ReceiptTracker, Ticket};
use audit_runtime::{Auditor, CheckRecord, LossCause, Receipt, ReceiptId, TraceId, Upstream};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use fields::{CheckVisitor, SpanFields};
pub use worker::LayerStats;
use worker::{Counters, Job, Msg};

/// Default bound of the queue between the application's threads and the worker.
pub const DEFAULT_QUEUE_BOUND: usize = 8192;
/// How long [`AuditGuard`] waits on drop for queued receipts to be stored.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds an [`AuditLayer`] and its [`AuditGuard`].
#[must_use]
#[derive(Debug)]
pub struct AuditLayerBuilder {
    auditor: Auditor,
    bound: usize,
    lossy: bool,
    flush_timeout: Duration,
}

impl AuditLayerBuilder {
    /// How many closed spans may wait for the worker (default [`DEFAULT_QUEUE_BOUND`]).
    pub fn queue_bound(mut self, bound: usize) -> Self {
        self.bound = bound.max(1);
        self
    }

    /// Drop receipts (and count them in [`LayerStats::dropped`]) instead of waiting when the
    /// queue is full. Off by default.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// How long the guard waits on drop (default [`DEFAULT_FLUSH_TIMEOUT`]).
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// Starts the worker thread.
    ///
    /// # Errors
    /// The operating system refused to start the thread.
    pub fn build(self) -> std::io::Result<(AuditLayer, AuditGuard)> {
        let (tx, rx) = mpsc::sync_channel(self.bound);
        let counters = Arc::new(Counters::default());
        let handle = worker::spawn(self.auditor.clone(), rx, Arc::clone(&counters))?;
        let upstream = Arc::new(LayerQueue {
            tx: tx.clone(),
            counters: Arc::clone(&counters),
        });
        // The auditor's flush and shutdown drain this queue first (held weakly: once the layer
        // and the guard are gone, it is forgotten).
        let weak: std::sync::Weak<dyn Upstream> = Arc::downgrade(&upstream) as _;
        self.auditor.add_upstream(weak);
        Ok((
            AuditLayer {
                tx: tx.clone(),
                lossy: self.lossy,
                counters: Arc::clone(&counters),
                auditor: self.auditor,
                _upstream: Arc::clone(&upstream),
            },
            AuditGuard {
                tx,
                counters,
                timeout: self.flush_timeout,
                handle: Some(handle),
                _upstream: upstream,
            },
        ))
    }
}

/// The layer's queue, as the auditor sees it.
struct LayerQueue {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
}

impl Upstream for LayerQueue {
    fn drain(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_ok() {
            // The worker answers once everything before the marker is stored or failed; it
            // goes away only with the queue, which this sender keeps open.
            let _ = done_rx.recv();
        }
    }

    fn pending(&self) -> u64 {
        self.counters.snapshot().pending()
    }
}

/// The layer. See the crate docs.
pub struct AuditLayer {
    tx: SyncSender<Msg>,
    lossy: bool,
    counters: Arc<Counters>,
    auditor: Auditor,
    _upstream: Arc<LayerQueue>,
}

impl fmt::Debug for AuditLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLayer")
            .field("lossy", &self.lossy)
            .finish_non_exhaustive()
    }
}

impl AuditLayer {
    /// A layer with the defaults (backpressure, [`DEFAULT_QUEUE_BOUND`]).
    ///
    /// # Panics
    /// If the operating system refuses to start the worker thread; use
    /// [`AuditLayer::builder`] to handle that.
    #[expect(
        clippy::expect_used,
        reason = "documented: only a refused thread spawn fails"
    )]
    pub fn new(auditor: Auditor) -> (Self, AuditGuard) {
        Self::builder(auditor)
            .build()
            .expect("cannot start the audit-tracing worker thread")
    }

    /// A builder.
    pub fn builder(auditor: Auditor) -> AuditLayerBuilder {
        AuditLayerBuilder {
            auditor,
            bound: DEFAULT_QUEUE_BOUND,
            lossy: false,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
        }
    }

    fn send(&self, span: AuditSpan) {
        let msg = Msg::Receipt(span);
        let sent = if self.lossy {
            match self.tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    self.auditor.report_lost(1, LossCause::Dropped);
                    return;
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        } else {
            self.tx.send(msg).is_ok()
        };
        if sent {
            self.counters.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            self.auditor.report_lost(1, LossCause::Refused);
        }
    }
}

/// Per-span state of an audit span (private, so no other layer can overwrite it).
struct AuditSpan {
    /// The span's name, recorded as the first reason code `decision:NAME`.
    name: &'static str,
    fields: SpanFields,
    /// Made when first needed (a child span's trace, or the receipt on the worker), so that
    /// spans without audited children cost no id on the application's thread.
    receipt_id: std::sync::OnceLock<ReceiptId>,
    timestamp: audit_runtime::Timestamp,
    inherited_trace: Option<TraceId>,
    checks: Vec<CheckRecord>,
    /// Settled when the receipt is stored; dropped (a failure) if it never is.
    ticket: Option<Ticket>,
}

fn is_audit_span(attrs: &Attributes<'_>) -> bool {
    let meta = attrs.metadata();
    meta.target() == "audit" || meta.fields().field(fields::TENANT).is_some()
}

impl<S> Layer<S> for AuditLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !is_audit_span(attrs) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        // The enclosing audit span's trace, else that of the audited call or audited HTTP
        // request this span was opened in.
        // A request that waits for its receipts (the HTTP layer's option) waits for this one:
        // the tracker of the scope the span opens in, else its enclosing audit span's.
        let mut ticket = ReceiptTracker::current().map(|t| t.ticket());
        let parent = span.scope().skip(1).find_map(|parent| {
            let ext = parent.extensions();
            let state = ext.get::<AuditSpan>()?;
            if ticket.is_none() {
                ticket = state.ticket.as_ref().and_then(Ticket::sibling);
            }
            Some(state.trace())
        });
        let inherited_trace = parent.or_else(audit_runtime::capture::current_trace);
        span.extensions_mut().insert(AuditSpan {
            name: attrs.metadata().name(),
            fields,
            receipt_id: std::sync::OnceLock::new(),
            timestamp: audit_runtime::Timestamp::now_utc(),
            inherited_trace,
            checks: Vec::new(),
            ticket,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(state) = ext.get_mut::<AuditSpan>() {
            values.record(&mut state.fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().fields().field(fields::CHECK).is_none() {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let mut visitor = CheckVisitor::default();
        event.record(&mut visitor);
        let Some(check) = visitor.into_check() else {
            return;
        };
        for span in scope {
            let mut ext = span.extensions_mut();
            if let Some(state) = ext.get_mut::<AuditSpan>() {
                state.checks.push(check);
                return;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<AuditSpan>() else {
            return;
        };
        self.send(state);
    }
}

impl AuditSpan {
    fn receipt_id(&self) -> &ReceiptId {
        self.receipt_id.get_or_init(ReceiptId::random)
    }

    fn trace(&self) -> TraceId {
        self.fields
            .trace
            .clone()
            .map(TraceId::new)
            .or_else(|| self.inherited_trace.clone())
            .unwrap_or_else(|| {
                // Fixed at the first look, so later children agree with the receipt.
                TraceId::new(self.receipt_id().as_str())
            })
    }

    pub(crate) fn into_job(self) -> Job {
        let trace = self.trace();
        let f = self.fields;
        let mut r = Receipt::new_at(
            f.tenant.unwrap_or_default(),
            self.receipt_id
                .into_inner()
                .unwrap_or_else(ReceiptId::random),
            self.timestamp,
        );
        r.trace_id = trace;
        if let Some(s) = f.session {
            r.session_id = s.into();
        }
        if let Some(m) = f.model {
            r.model_id = m;
        }
        r.checks = self.checks;
        r.reason_codes.reserve(f.reasons.len() + 1);
        r.reason_codes.push(format!("decision:{}", self.name));
        r.reason_codes.extend(f.reasons);
        match f.action.as_deref().map(str::parse) {
            Some(Ok(a)) => r.action = a,
            Some(Err(_)) => r.reason_codes.push("unknown_action".to_owned()),
            None => {}
        }
        Job {
            receipt: r,
            input: f.input,
            output: f.output,
            ticket: self.ticket,
        }
    }
}

/// Flushes the layer's queue when dropped (waiting at most the flush timeout) and reports
/// receipts that were lost: dropped in lossy mode, refused by the auditor, or still queued at
/// the timeout. Keep it alive in `main` for as long as the layer is installed.
#[must_use = "dropping the guard at once flushes and stops nothing, but loses the report; keep it until the end of main"]
pub struct AuditGuard {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    timeout: Duration,
    handle: Option<std::thread::JoinHandle<()>>,
    _upstream: Arc<LayerQueue>,
}

impl fmt::Debug for AuditGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditGuard")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl AuditGuard {
    /// Waits up to `timeout` until every receipt queued before this call was handed to the
    /// auditor and stored; returns whether that happened in time.
    #[must_use]
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tx.send(Msg::Flush(done_tx)).is_err() {
            return false;
        }
        done_rx.recv_timeout(timeout).is_ok()
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> LayerStats {
        self.counters.snapshot()
    }

    /// Flushes (up to the flush timeout) and returns the final counters; receipts still queued
    /// then are counted in [`LayerStats::lost`].
    #[must_use]
    pub fn finish(mut self) -> LayerStats {
        self.flush_inner()
    }

    fn flush_inner(&mut self) -> LayerStats {
        // The worker stays up as long as the layer does; it is not joined here.
        drop(self.handle.take());
        let _in_time = self.flush(self.timeout);
        self.counters.snapshot()
    }
}

impl Drop for AuditGuard {
    fn drop(&mut self) {
        if self.handle.is_none() {
            return;
        }
        let stats = self.flush_inner();
        if stats.lost() > 0 {
            // The guard is the last place that can tell anyone; the runtime has no logger.
            eprintln!(
                "audit-tracing: {} receipt(s) lost ({} dropped in lossy mode, {} refused by the auditor, {} still queued after {:?})",
                stats.lost(),
                stats.dropped,
                stats.failed,
                stats.pending(),
                self.timeout
            );
        }
    }
}
