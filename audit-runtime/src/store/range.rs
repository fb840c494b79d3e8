//! Which contiguous part of a tenant's chain an export's `from`/`to` select (used by
//! `ai-audit export` and the admin export endpoint).

use std::ops::Range;

use super::{Store, StoreError, receipts_in_time};
use crate::receipt::{TenantId, Timestamp, TimestampError};

/// One end of an export range: a sequence number, or a time in microseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A sequence number (`from` inclusive, `to` exclusive).
    Seq(u64),
    /// A time (`from` inclusive, `to` exclusive).
    Time(i64),
}

impl Bound {
    /// A decimal sequence number, or an RFC 3339 time like `2026-03-01T12:00:00Z`.
    ///
    /// ```
    /// use audit_runtime::store::Bound;
    /// assert_eq!(Bound::parse("1000")?, Bound::Seq(1000));
    /// assert!(matches!(Bound::parse("2026-03-01T00:00:00Z")?, Bound::Time(_)));
    /// # Ok::<(), audit_runtime::TimestampError>(())
    /// ```
    ///
    /// # Errors
    /// [`TimestampError`] when the text is neither.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Self::Seq(n));
        }
        Timestamp::parse(text).map(|t| Self::Time(t.to_unix_micros()))
    }
}

/// Why a range selects nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The store failed.
    #[error("cannot read the store")]
    Store(#[from] StoreError),
    /// No receipt of the tenant is stamped inside the time window.
    #[error("no receipt of this tenant falls in the given range")]
    NoneInWindow,
    /// The sequence range is empty.
    #[error(
        "the range selects no receipts (the tenant has {len}, sequence numbers 0 to {})",
        len.saturating_sub(1)
    )]
    Empty {
        /// How many receipts the tenant has.
        len: u64,
    },
}

/// The sequence range `[start, end)` of `tenant`'s chain that `from` and `to` select. Times
/// select the contiguous stretch from the first to the last receipt stamped inside the window
/// (timestamps are not monotonic in chain order, so an export is always a contiguous segment).
///
/// # Errors
/// [`RangeError`].
pub fn select_range(
    store: &dyn Store,
    tenant: &TenantId,
    from: Option<Bound>,
    to: Option<Bound>,
) -> Result<Range<u64>, RangeError> {
    let len = store.tip(tenant)?.map_or(0, |t| t.len);
    let (mut start, mut end) = (0, len);
    let mut window = (i64::MIN, i64::MAX);
    match from {
        Some(Bound::Seq(n)) => start = n,
        Some(Bound::Time(t)) => window.0 = t,
        None => {}
    }
    match to {
        Some(Bound::Seq(n)) => end = n.min(len),
        Some(Bound::Time(t)) => window.1 = t,
        None => {}
    }
    if window != (i64::MIN, i64::MAX) {
        let (mut lo, mut hi) = (u64::MAX, 0);
        for e in receipts_in_time(store, tenant, window.0..window.1) {
            let e = e?;
            if (start..end).contains(&e.seq) {
                lo = lo.min(e.seq);
                hi = hi.max(e.seq + 1);
            }
        }
        if lo == u64::MAX {
            return Err(RangeError::NoneInWindow);
        }
        (start, end) = (lo, hi);
    }
    if start >= end {
        return Err(RangeError::Empty { len });
    }
    Ok(start..end)
}
