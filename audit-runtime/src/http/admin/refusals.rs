//! Refused admin requests: rate limited per client, and recorded as one receipt per interval.
//!
//! A wrong or missing token costs the client one of its `limit` attempts per interval; a client
//! with none left gets `429` for every request, without its token being looked at, until the
//! interval ends (so guessing gets no faster by sending more). Clients are told apart by their
//! address ([`ConnectInfo<SocketAddr>`](::axum::extract::ConnectInfo), which `axum::serve` adds
//! with `into_make_service_with_connect_info`); without it, all clients share one allowance.
//!
//! Refusals are not recorded one by one (an attacker would make the store fsync a receipt per
//! guess): each interval with refusals leaves one `reject` receipt in the admin tenant, with the
//! counts, stored when the interval ends — or earlier, when the auditor is flushed or shut down
//! (the log is an [`Upstream`] of the auditor).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use ::axum::extract::ConnectInfo;
use ::http::Extensions;

use crate::auditor::Upstream;
use crate::canonical::{canonicalize_input, hash_output, write_canonical_value};
use crate::json::{Object, Value};
use crate::receipt::{Action, Receipt, TenantId};
use crate::sink::AuditSink;

/// Default: wrong-token attempts a client may make per interval.
pub const DEFAULT_REFUSALS_PER_INTERVAL: u32 = 10;
/// Default: the interval of the admin rate limit and of its refusal receipts.
pub const DEFAULT_REFUSAL_INTERVAL: Duration = Duration::from_secs(1);

/// Clients remembered at most; past that, new clients share one allowance.
const MAX_CLIENTS: usize = 4096;

/// One client's attempts in its current interval.
#[derive(Debug)]
struct Allowance {
    since: Instant,
    used: u32,
}

/// The refusals of the current interval, not recorded yet.
#[derive(Debug, Default)]
struct Window {
    /// Wrong or missing tokens (answered 401), by route.
    unauthorized: BTreeMap<&'static str, u64>,
    /// Requests answered 429, by route.
    limited: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<Option<IpAddr>, Allowance>,
    window: Option<Window>,
}

/// What the admin routes do with a request before looking at its token.
pub(super) enum Gate {
    /// Check the token.
    Open,
    /// The client used up its attempts: answer 429, retry after this long.
    Limited(Duration),
}

/// The rate limit and the refusal log of one admin router.
#[derive(Debug)]
pub(super) struct Refusals {
    sink: AuditSink,
    tenant: TenantId,
    limit: u32,
    interval: Duration,
    state: Mutex<State>,
    /// Itself, for the timer task that records an interval's receipt.
    this: Weak<Refusals>,
}

fn client(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl Refusals {
    /// A log registered as an upstream of `sink`'s auditor (so flush and shutdown record the
    /// open interval).
    pub(super) fn new(
        sink: AuditSink,
        tenant: TenantId,
        limit: u32,
        interval: Duration,
    ) -> Arc<Self> {
        let log = Arc::new_cyclic(|this| Self {
            sink,
            tenant,
            limit: limit.max(1),
            interval: interval.max(Duration::from_millis(1)),
            state: Mutex::new(State::default()),
            this: this.clone(),
        });
        let weak: Weak<dyn Upstream> = Arc::downgrade(&log) as _;
        log.sink.auditor().add_upstream(weak);
        log
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the request's client may still try a token; a refusal is counted.
    pub(super) fn gate(&self, extensions: &Extensions, op: &'static str) -> Gate {
        let key = client(extensions);
        let now = Instant::now();
        let mut s = self.lock();
        let left = match s.clients.get(&key) {
            Some(a) if now.duration_since(a.since) < self.interval && a.used >= self.limit => {
                Some(self.interval.saturating_sub(now.duration_since(a.since)))
            }
            _ => None,
        };
        let Some(wait) = left else {
            return Gate::Open;
        };
        let opened = Self::count(&mut s, op, true);
        drop(s);
        self.opened(opened);
        Gate::Limited(wait)
    }

    /// A wrong or missing token: uses one of the client's attempts and is counted.
    pub(super) fn unauthorized(&self, extensions: &Extensions, op: &'static str) {
        let mut key = client(extensions);
        let now = Instant::now();
        let mut s = self.lock();
        if !s.clients.contains_key(&key) && s.clients.len() >= MAX_CLIENTS {
            let interval = self.interval;
            s.clients
                .retain(|_, a| now.duration_since(a.since) < interval);
            if s.clients.len() >= MAX_CLIENTS {
                key = None;
            }
        }
        let a = s.clients.entry(key).or_insert(Allowance {
            since: now,
            used: 0,
        });
        if now.duration_since(a.since) >= self.interval {
            *a = Allowance {
                since: now,
                used: 0,
            };
        }
        a.used = a.used.saturating_add(1);
        let opened = Self::count(&mut s, op, false);
        drop(s);
        self.opened(opened);
    }

    /// Counts a refusal in the open window; `true` if this opened it.
    fn count(s: &mut State, op: &'static str, limited: bool) -> bool {
        let opened = s.window.is_none();
        let w = s.window.get_or_insert_with(Window::default);
        let counts = if limited {
            &mut w.limited
        } else {
            &mut w.unauthorized
        };
        *counts.entry(op).or_default() += 1;
        opened
    }

    /// A new window: its receipt is recorded when the interval ends.
    fn opened(&self, opened: bool) {
        let Some(this) = opened.then(|| self.this.upgrade()).flatten() else {
            return;
        };
        let interval = self.interval;
        drop(tokio::spawn(async move {
            tokio::time::sleep(interval).await;
            if let Some(r) = this.take_receipt() {
                // Fail-closed or not, nobody waits for this answer: a failure is counted (and
                // observed) by the sink, and said here.
                if let Err(e) = this.sink.emit(r).await {
                    this.sink
                        .auditor()
                        .report_lost(1, crate::LossCause::NotStored);
                    eprintln!(
                        "ai-audit admin: the receipt of refused admin requests could not be stored: {e}"
                    );
                }
            }
        }));
    }

    /// The receipt of the open window, which is closed.
    fn take_receipt(&self) -> Option<Receipt> {
        let w = self.lock().window.take()?;
        let sum = |m: &BTreeMap<&str, u64>| m.values().sum::<u64>();
        let (unauthorized, limited) = (sum(&w.unauthorized), sum(&w.limited));
        let by_route = |m: &BTreeMap<&str, u64>| {
            let mut o = Object::new();
            for (op, n) in m {
                o.insert(*op, Value::from(*n));
            }
            Value::from(o)
        };
        let mut o = Object::new();
        o.insert("unauthorized", by_route(&w.unauthorized));
        o.insert("rate_limited", by_route(&w.limited));
        let mut counts = Vec::new();
        write_canonical_value(&Value::from(o), &mut counts);
        let mut r = Receipt::new(self.tenant.clone())
            .with_action(Action::Reject)
            .with_reason("decision:admin.refused")
            .with_reason("unauthorized")
            .with_reason(format!("admin.unauthorized={unauthorized}"))
            .with_reason(format!("admin.rate_limited={limited}"))
            .with_reason(format!("admin.interval_ms={}", self.interval.as_millis()));
        r.input_c14n = canonicalize_input(&String::from_utf8_lossy(&counts));
        r.output_hash = hash_output(&format!(
            "status=401 x{unauthorized}, status=429 x{limited}"
        ));
        Some(r)
    }
}

impl Upstream for Refusals {
    fn drain(&self) {
        if let Some(r) = self.take_receipt() {
            // The auditor's flush that called this makes it durable; a failure is counted by
            // the abandoned answer.
            match self.sink.auditor().submit(r) {
                Ok(pending) => drop(pending),
                Err(_) => self
                    .sink
                    .auditor()
                    .report_lost(1, crate::LossCause::Refused),
            }
        }
    }

    fn pending(&self) -> u64 {
        u64::from(self.lock().window.is_some())
    }
}
