//! Serving the app the way a production service should: HTTP/1.1 through hyper with a
//! header-read timeout, a request timeout, a cap on open connections, and a graceful drain on
//! SIGTERM or SIGINT.
//!
//! `axum::serve` has none of the first three: a client that opens connections and never
//! finishes its headers holds a descriptor each, forever, until the process has none left.
//! Here every connection holds one of `max_connections` permits. When all are taken, the next
//! accepted connection evicts the oldest one that has no request in progress (one still
//! sending its headers, or idle between keep-alive requests), so a flood of idle or
//! partial-header connections cannot keep a real client out; with every connection busy, the
//! new one waits for a permit. A connection that does not deliver its headers within
//! `header_read_timeout` is closed; a request that takes longer than `request_timeout` is
//! answered 503 and its future dropped (the `AuditLayer` records it as `request_cancelled`).
//!
//! On the shutdown signal the listener is closed (no new connections), idle connections are
//! closed, requests in flight finish (up to `drain_timeout`), and then `serve` returns, so
//! that `main` can shut the auditor down through its install guard, which stores every receipt
//! still queued.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tower_service::Service as _;

/// The limits a connection and a request live under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// A connection must deliver each request's headers within this (`AI_AUDIT_HEADER_READ_TIMEOUT_MS`, default 10 s).
    pub(crate) header_read_timeout: Duration,
    /// A request must be answered within this (`AI_AUDIT_REQUEST_TIMEOUT_MS`, default 30 s).
    pub(crate) request_timeout: Duration,
    /// Open connections at most (`AI_AUDIT_MAX_CONNECTIONS`, default 1024; keep it well below
    /// `ulimit -n`: the store and the upstream clients need descriptors too).
    pub(crate) max_connections: usize,
    /// How long a shutdown waits for requests in flight (`AI_AUDIT_DRAIN_TIMEOUT_MS`, default 30 s).
    pub(crate) drain_timeout: Duration,
}

impl Limits {
    /// The defaults, overridden by the environment.
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let ms = |name: &str, default: u64| -> anyhow::Result<Duration> {
            Ok(Duration::from_millis(number(name, default)?))
        };
        Ok(Self {
            header_read_timeout: ms("AI_AUDIT_HEADER_READ_TIMEOUT_MS", 10_000)?,
            request_timeout: ms("AI_AUDIT_REQUEST_TIMEOUT_MS", 30_000)?,
            max_connections: usize::try_from(number("AI_AUDIT_MAX_CONNECTIONS", 1024)?)?.max(1),
            drain_timeout: ms("AI_AUDIT_DRAIN_TIMEOUT_MS", 30_000)?,
        })
    }
}

fn number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a whole number")),
        _ => Ok(default),
    }
}

/// Resolves on SIGTERM (what `docker stop`, systemd and Kubernetes send) or SIGINT (Ctrl-C).
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        // Without a SIGTERM handler, SIGINT still drains.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// One open connection, as the accept loop sees it.
struct Open {
    /// Requests in progress (their responses included, until the body is sent).
    busy: Arc<AtomicUsize>,
    /// Told when the connection is evicted.
    evict: Arc<Notify>,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Connections {
    next: u64,
    open: BTreeMap<u64, Open>,
}

impl Connections {
    fn add(&mut self) -> (u64, Arc<AtomicUsize>, Arc<Notify>) {
        let id = self.next;
        self.next += 1;
        let (busy, evict) = (Arc::default(), Arc::new(Notify::new()));
        self.open.insert(
            id,
            Open {
                busy: Arc::clone(&busy),
                evict: Arc::clone(&evict),
            },
        );
        (id, busy, evict)
    }

    /// Closes the oldest connection without a request in progress; `false` if every one is busy.
    fn evict_oldest_idle(&mut self) -> bool {
        let idle = self
            .open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(c) => {
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

type Shared = Arc<Mutex<Connections>>;

fn lock(c: &Shared) -> std::sync::MutexGuard<'_, Connections> {
    c.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts a request as in progress until its response body is sent (or dropped).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn new(busy: &Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(busy))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection counted as busy while it is sent.
struct Sending {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Sending {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn timed_out() -> Response<Body> {
    let mut r = Response::new(Body::from(
        r#"{"error":{"code":"request_timeout","message":"the request took too long; retry later"}}"#,
    ));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves, then drains.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = Shared::default();
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of spinning.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                lock(&connections).evict_oldest_idle();
                tokio::select! {
                    p = Arc::clone(&permits).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (id, busy, evict) = lock(&connections).add();
        let conns = Arc::clone(&connections);
        let mut drain = drain_rx.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let busy = Busy::new(&busy);
                let mut app = app.clone();
                async move {
                    let mut req = req.map(Body::new);
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                    let resp =
                        match tokio::time::timeout(limits.request_timeout, app.call(req)).await {
                            Ok(Ok(r)) => r,
                            Ok(Err(never)) => match never {},
                            Err(_) => timed_out(),
                        };
                    Ok::<_, Infallible>(resp.map(|body| Sending { body, _busy: busy }))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    // Dropping the connection closes its socket.
                    () = evict.notified() => break,
                    _ = drain.changed(), if !draining => {
                        conn.as_mut().graceful_shutdown();
                        draining = true;
                    }
                }
            }
            lock(&conns).open.remove(&id);
        });
    }
    drop(listener);
    // Idle connections close now, busy ones after their response.
    let _ = drain_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain_timeout, permits.acquire_many(all))
        .await
        .is_err()
    {
        eprintln!(
            "{} connection(s) still open after the drain timeout of {:?}",
            lock(&connections).open.len(),
            limits.drain_timeout
        );
    }
}
