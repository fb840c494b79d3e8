//! Durable storage of sealed receipts: the [`Store`] trait, the embedded SQLite store (default)
//! and the in-memory store (tests and examples; it never evicts).
//!
//! A store keeps the exact JSONL line of every receipt, each tenant's sequence numbers and tip,
//! and indexes by receipt id, trace id, session id and time. Appends happen inside
//! [`Store::write`]: the store takes its write lock (across processes, for SQLite), hands the
//! caller a [`WriteTxn`] that reads the authoritative tips, and commits everything the caller
//! appended atomically — or nothing. That is what keeps a chain from forking when several
//! writers share one store.
//!
//! Reads stream: [`receipts`] and friends page through a store with bounded memory.

pub mod check;
mod fault;
mod memory;
mod range;
#[cfg(feature = "sqlite")]
mod sqlite;
pub mod tree;

use std::collections::VecDeque;
use std::ops::Range;

pub use fault::TenantFault;
pub use memory::MemoryStore;
pub use range::{Bound, RangeError, select_range};
#[cfg(feature = "sqlite")]
pub use sqlite::{ENV_DATA_DIR, SqliteStore, default_data_dir};

use crate::canonical::{LineError, ParsedLine, parse_line};
use crate::receipt::{ReceiptId, SessionId, TenantId, TraceId};
pub use tree::{StoredCheckpoint, TileId, TreeRead, TreeWrite};

/// How durable an acknowledged receipt is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// On stable storage before `emit` returns: one fsync per group commit
    /// (SQLite `synchronous=FULL`). Survives process crashes and power loss.
    #[default]
    Durable,
    /// Written to the operating system before `emit` returns (SQLite `synchronous=NORMAL` in WAL
    /// mode): survives a process crash, may lose the last commits on power loss.
    Relaxed,
}

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The receipt id is already stored (the append was not made).
    #[error("receipt {id} is already stored")]
    DuplicateId {
        /// The id.
        id: ReceiptId,
    },
    /// An append does not continue the tenant's stored chain (caller's fault).
    #[error(
        "append to tenant {:?} at sequence {found} does not continue its chain at {expected}", .tenant.as_str()
    )]
    SequenceGap {
        /// The tenant.
        tenant: TenantId,
        /// The next sequence number the chain expects.
        expected: u64,
        /// The sequence number that was appended.
        found: u64,
    },
    /// The stored data is not what this version expects (a newer schema, a damaged row).
    #[error("the store's data is inconsistent: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// The backend failed (I/O, locking, disk full).
    #[error("the storage backend failed during {operation}")]
    Backend {
        /// What the store was doing.
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A Merkle tree size or index beyond what the store holds (caller's fault), or a stored
    /// tree that does not add up.
    #[error("the stored Merkle tree cannot serve this request")]
    Merkle(#[from] crate::merkle::MerkleError),
    /// The file is not an ai-audit store (`SqliteStore::open_existing`); it was not changed.
    #[error("{path} is not an ai-audit store: {why}")]
    NotAStore {
        /// The path.
        path: std::path::PathBuf,
        /// What it is instead.
        why: String,
    },
    /// The store refuses to append to this tenant until an operator acts (see
    /// [`TenantFault`]); the store's other tenants are not affected.
    #[error("tenant {:?} is refused for appending: {fault}", .tenant.as_str())]
    Refused {
        /// The tenant.
        tenant: TenantId,
        /// Why.
        fault: TenantFault,
    },
    /// Creating or writing one of the store's files failed.
    #[error("cannot write the store's file {path}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether retrying the operation may succeed (backend and I/O failures).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Backend { .. } | Self::Io { .. })
    }
}

/// The tip of a stored chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Number of stored receipts (= the next sequence number).
    pub len: u64,
    /// `receipt_hash` of the last stored receipt.
    pub hash: [u8; 32],
}

/// One stored receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// Tenant.
    pub tenant: TenantId,
    /// Position in the tenant's chain, from 0.
    pub seq: u64,
    /// Receipt id.
    pub receipt_id: ReceiptId,
    /// `receipt_hash`.
    pub receipt_hash: [u8; 32],
    /// The receipt's timestamp in microseconds since the epoch (for time queries).
    pub timestamp_micros: i64,
    /// Trace id (indexed).
    pub trace_id: TraceId,
    /// Session id (indexed).
    pub session_id: SessionId,
    /// The exact JSONL line (no trailing newline).
    pub line: Vec<u8>,
    /// For an unsigned ([`crate::SealingMode::Checkpointed`]) line: the writer's MAC over it
    /// ([`crate::log`] checks it before a checkpoint is signed over the line).
    pub tag: Option<[u8; 32]>,
}

/// A receipt to append, borrowed (the sealing path builds no owned copies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewEntry<'a> {
    /// Tenant.
    pub tenant: &'a TenantId,
    /// Position in the tenant's chain.
    pub seq: u64,
    /// Receipt id.
    pub receipt_id: &'a ReceiptId,
    /// `receipt_hash`.
    pub receipt_hash: [u8; 32],
    /// Timestamp, microseconds since the epoch.
    pub timestamp_micros: i64,
    /// Trace id.
    pub trace_id: &'a TraceId,
    /// Session id.
    pub session_id: &'a SessionId,
    /// The exact JSONL line.
    pub line: &'a [u8],
    /// The writer's MAC over an unsigned line (see [`StoredEntry::tag`]).
    pub tag: Option<[u8; 32]>,
}

impl NewEntry<'_> {
    /// An owned copy.
    #[must_use]
    pub fn to_stored(&self) -> StoredEntry {
        StoredEntry {
            tenant: self.tenant.clone(),
            seq: self.seq,
            receipt_id: self.receipt_id.clone(),
            receipt_hash: self.receipt_hash,
            timestamp_micros: self.timestamp_micros,
            trace_id: self.trace_id.clone(),
            session_id: self.session_id.clone(),
            line: self.line.to_vec(),
            tag: self.tag,
        }
    }
}

impl StoredEntry {
    /// Borrows this entry as a [`NewEntry`] (to append it to another store).
    #[must_use]
    pub fn as_new(&self) -> NewEntry<'_> {
        NewEntry {
            tenant: &self.tenant,
            seq: self.seq,
            receipt_id: &self.receipt_id,
            receipt_hash: self.receipt_hash,
            timestamp_micros: self.timestamp_micros,
            trace_id: &self.trace_id,
            session_id: &self.session_id,
            line: &self.line,
            tag: self.tag,
        }
    }

    /// Parses the stored line strictly.
    ///
    /// # Errors
    /// [`LineError`] if the stored line is not a v1 receipt.
    pub fn parse(&self) -> Result<ParsedLine, LineError> {
        parse_line(&self.line)
    }
}

/// The write side of a store transaction, handed to the closure of [`Store::write`].
pub trait WriteTxn {
    /// The tenant's tip as committed (including appends made earlier in this transaction).
    ///
    /// # Errors
    /// Backend failures.
    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Tip>, StoreError>;

    /// The stored receipt with this id, if any (including this transaction's appends).
    ///
    /// # Errors
    /// Backend failures.
    fn find(&mut self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError>;

    /// Appends a receipt; it must continue its tenant's chain (`seq == tip.len`).
    ///
    /// # Errors
    /// [`StoreError::DuplicateId`], [`StoreError::SequenceGap`], backend failures.
    fn append(&mut self, entry: &NewEntry<'_>) -> Result<(), StoreError>;

    /// The tenants' Merkle trees and checkpoints in this transaction, if this store keeps them
    /// (see [`tree`]). Leaves fed here commit or roll back with the appends.
    fn tree(&mut self) -> Option<&mut dyn TreeWrite> {
        None
    }
}

/// What to read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selector {
    /// A tenant's receipts with `seq` in a range, in chain order, optionally only those whose
    /// timestamp lies in `[from, to)` (microseconds since the epoch).
    Tenant {
        /// The tenant.
        tenant: TenantId,
        /// Sequence range.
        seq: Range<u64>,
        /// Optional time window.
        time: Option<Range<i64>>,
    },
    /// All receipts of a trace, in store order (none for the empty id: receipts without a trace).
    /// Store order is append order in the memory store; the SQLite store keeps receipts in
    /// per-tenant segments, so there receipts appended in one transaction come grouped by tenant.
    Trace(TraceId),
    /// All receipts of a session, in store order (none for the empty id).
    Session(SessionId),
}

/// A page of results and where the next page starts.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// The entries.
    pub entries: Vec<StoredEntry>,
    /// An opaque cursor for the next page, or `None` when there is no more.
    pub next: Option<u64>,
}

/// A durable home for sealed receipts. Implementations must be safe to share between threads.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Sets how durable commits are (called once by the `Auditor` builder).
    ///
    /// # Errors
    /// Backend failures.
    fn set_durability(&self, durability: Durability) -> Result<(), StoreError>;

    /// Runs `f` under the store's write lock and commits what it appended if it returns `Ok`;
    /// otherwise nothing is kept.
    ///
    /// # Errors
    /// The closure's error, or backend failures (then nothing was committed).
    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// A tenant's committed tip.
    ///
    /// # Errors
    /// Backend failures.
    fn tip(&self, tenant: &TenantId) -> Result<Option<Tip>, StoreError>;

    /// The receipt with this id.
    ///
    /// # Errors
    /// Backend failures.
    fn get(&self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError>;

    /// All tenants with at least one receipt, sorted.
    ///
    /// # Errors
    /// Backend failures.
    fn tenants(&self) -> Result<Vec<TenantId>, StoreError>;

    /// One page of `selector`, starting at `cursor` (`None` = from the start), at most `limit`
    /// entries.
    ///
    /// # Errors
    /// Backend failures.
    fn page(
        &self,
        selector: &Selector,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError>;

    /// The tenants' Merkle trees and signed checkpoints, if this store keeps them (see
    /// [`tree`]); `None` for stores that keep only receipts.
    fn tree(&self) -> Option<&dyn TreeRead> {
        None
    }

    /// The Ed25519 public keys recorded as signing this store's receipts, in the order they
    /// were recorded: empty for a new store, for one written before keys were recorded, and
    /// for backends that keep none (the `Auditor` then checks the stored signatures instead).
    ///
    /// # Errors
    /// Backend failures.
    fn signing_keys(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        Ok(Vec::new())
    }

    /// Gives back the space the store holds only for writing, once a writer is done (the
    /// `Auditor` calls it when it stops). SQLite copies its write-ahead log into the database
    /// and truncates it.
    ///
    /// # Errors
    /// Backend failures (nothing is lost: the log is copied at the next open).
    fn compact_log(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Records `key` as the key that signs this store's receipts unless a key is recorded
    /// already, atomically (two writers starting at once cannot both record theirs), and
    /// returns the keys recorded afterwards. The `Auditor` builder calls it before anything is
    /// appended and refuses a signer whose key is not among them. Backends that keep no keys
    /// return an empty list.
    ///
    /// # Errors
    /// Backend failures.
    fn claim_signing_key(&self, key: &[u8; 32]) -> Result<Vec<[u8; 32]>, StoreError> {
        let _ = key;
        Ok(Vec::new())
    }

    /// The tenants this store refuses to append to, and why (found when it was opened: for
    /// SQLite, a chain behind or different from its high-water record). Appends to them fail
    /// with [`StoreError::Refused`]; the `Auditor` quarantines them. Empty for backends that
    /// keep no such record.
    ///
    /// # Errors
    /// Backend failures.
    fn faults(&self) -> Result<Vec<(TenantId, TenantFault)>, StoreError> {
        Ok(Vec::new())
    }

    /// Runs `f` like [`Store::write`], allowing appends to `tenant` although it has a fault:
    /// the operator's way to continue a chain that lost acknowledged receipts, by appending a
    /// signed receipt that records the loss (see `log::record_gap`). Once committed, the tenant's
    /// new tip replaces what was acknowledged and the fault is lifted.
    ///
    /// # Errors
    /// As [`Store::write`].
    fn accept_loss(
        &self,
        tenant: &TenantId,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let _ = tenant;
        self.write(f)
    }
}

/// A streaming iterator over a [`Selector`]; it holds one page at a time.
#[derive(Debug)]
pub struct Receipts<'a> {
    store: &'a dyn Store,
    selector: Selector,
    cursor: Option<u64>,
    buf: VecDeque<StoredEntry>,
    done: bool,
    page_size: usize,
}

impl Iterator for Receipts<'_> {
    type Item = Result<StoredEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.buf.pop_front() {
            return Some(Ok(e));
        }
        if self.done {
            return None;
        }
        match self.store.page(&self.selector, self.cursor, self.page_size) {
            Ok(page) => {
                self.done = page.next.is_none();
                self.cursor = page.next;
                self.buf.extend(page.entries);
                self.buf.pop_front().map(Ok)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Streams the entries selected by `selector`, `page_size` at a time.
#[must_use]
pub fn select(store: &dyn Store, selector: Selector, page_size: usize) -> Receipts<'_> {
    Receipts {
        store,
        selector,
        cursor: None,
        buf: VecDeque::new(),
        done: false,
        page_size: page_size.max(1),
    }
}

/// Streams a tenant's receipts with `seq` in `range`, in chain order.
#[must_use]
pub fn receipts<'a>(store: &'a dyn Store, tenant: &TenantId, range: Range<u64>) -> Receipts<'a> {
    select(
        store,
        Selector::Tenant {
            tenant: tenant.clone(),
            seq: range,
            time: None,
        },
        1024,
    )
}

/// Streams a tenant's receipts whose timestamps fall in `[from, to)` microseconds, in chain order.
#[must_use]
pub fn receipts_in_time<'a>(
    store: &'a dyn Store,
    tenant: &TenantId,
    time: Range<i64>,
) -> Receipts<'a> {
    select(
        store,
        Selector::Tenant {
            tenant: tenant.clone(),
            seq: 0..u64::MAX,
            time: Some(time),
        },
        1024,
    )
}

/// Streams the receipts of a trace.
#[must_use]
pub fn by_trace<'a>(store: &'a dyn Store, trace: &TraceId) -> Receipts<'a> {
    select(store, Selector::Trace(trace.clone()), 1024)
}

/// Streams the receipts of a session.
#[must_use]
pub fn by_session<'a>(store: &'a dyn Store, session: &SessionId) -> Receipts<'a> {
    select(store, Selector::Session(session.clone()), 1024)
}
