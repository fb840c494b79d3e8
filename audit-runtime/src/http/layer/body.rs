//! The request body as the layer sees it: the prefix that is hashed, and whether the client
//! broke it off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ::axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt as _;

/// Set when reading the request body from the connection failed: the client went away (or
/// stalled past a server timeout) before sending all of it.
#[derive(Clone, Debug, Default)]
pub(super) struct BrokenOff(Arc<AtomicBool>);

impl BrokenOff {
    pub(super) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The body read so far: the hashed prefix, a body that replays everything, and the flag that
/// tells whether the connection broke off — while the prefix was read, or later while the
/// handler reads the rest.
pub(super) struct Captured {
    pub(super) prefix: Vec<u8>,
    pub(super) body: Body,
    pub(super) broken_off: BrokenOff,
}

/// Reads up to `max` bytes of `body`.
pub(super) async fn capture(body: Body, max: usize) -> Captured {
    let broken_off = BrokenOff::default();
    let mut stream = body.into_data_stream();
    let mut prefix = Vec::new();
    let mut seen: Vec<Result<Bytes, ::axum::Error>> = Vec::new();
    let mut ended = false;
    while prefix.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let room = max - prefix.len();
                prefix.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                seen.push(Ok(chunk));
            }
            Some(Err(e)) => {
                broken_off.set();
                seen.push(Err(e));
                ended = true;
                break;
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    let body = if ended && seen.iter().all(Result::is_ok) {
        let mut all = Vec::new();
        for c in seen.into_iter().flatten() {
            all.extend_from_slice(&c);
        }
        Body::from(all)
    } else {
        let flag = broken_off.clone();
        // An error from the connection, never from a limit (limits wrap this body later, in
        // the handler's extractors): the client did not deliver its request.
        let rest = stream.inspect(move |item| {
            if item.is_err() {
                flag.set();
            }
        });
        Body::from_stream(futures_util::stream::iter(seen).chain(rest))
    };
    Captured {
        prefix,
        body,
        broken_off,
    }
}
