//! The embedded default store: SQLite (bundled) in WAL mode.
//!
//! Appends run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock across
//! processes; tips are read inside that transaction, so two processes appending to one tenant
//! serialize and never fork its chain. An operator can inspect the file with `sqlite3`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

mod tree;

use super::tree::{TreeRead, TreeWrite};
use super::{Durability, NewEntry, Page, Selector, Store, StoreError, StoredEntry, Tip, WriteTxn};
use crate::receipt::{ReceiptId, SessionId, TenantId, TraceId};

/// The environment variable that overrides the data directory.
pub const ENV_DATA_DIR: &str = "AI_AUDIT_DATA_DIR";
/// Version 2 indexes receipt, trace and session ids by their own text (version 1 indexed hashes
/// of them); see [`migrate_v1`].
const SCHEMA_VERSION: i64 = 2;

/// `$AI_AUDIT_DATA_DIR`, or `./audit-data`.
#[must_use]
pub fn default_data_dir() -> PathBuf {
    std::env::var_os(ENV_DATA_DIR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("audit-data"), PathBuf::from)
}

fn backend(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: Box::new(e),
    }
}

/// A [`Store`] in one SQLite file.
///
/// ```
/// use audit_runtime::store::{SqliteStore, Store};
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("audit.db"))?;
/// assert!(store.tenants()?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a transaction rolls it back when the transaction is dropped; the connection
    // stays usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let c = Connection::open(path).map_err(backend("open"))?;
    c.busy_timeout(Duration::from_secs(60))
        .map_err(backend("set busy timeout"))?;
    // Larger pages: on this class of machine appending is dominated by write system calls per
    // page (4 KiB pages cost about twice as much per receipt as 64 KiB); 16 KiB pages match
    // 64 KiB on throughput with a lower p99 (less index-page amplification per commit).
    // Only takes effect when the database file is created.
    c.pragma_update(None, "page_size", 16_384)
        .map_err(backend("set page size"))?;
    c.pragma_update(None, "journal_mode", "WAL")
        .map_err(backend("enable WAL"))?;
    c.pragma_update(None, "synchronous", "FULL")
        .map_err(backend("set synchronous"))?;
    // Checkpoint about every 64 MiB of WAL (4,096 pages of 16 KiB): group commits touch many
    // index pages, and each checkpoint rewrites them.
    c.pragma_update(None, "wal_autocheckpoint", 4_096)
        .map_err(backend("set checkpoint interval"))?;
    // 64 MiB of page cache keeps the id and trace indexes in memory while appending.
    c.pragma_update(None, "cache_size", -65_536)
        .map_err(backend("set cache size"))?;
    Ok(c)
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `./audit-data/audit.db`, or under
    /// `$AI_AUDIT_DATA_DIR`.
    ///
    /// # Errors
    /// [`StoreError::Io`] or backend failures.
    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(default_data_dir().join("audit.db"))
    }

    /// Opens (creating if needed) the store at `path`; its directory is created too.
    ///
    /// # Errors
    /// [`StoreError::Io`], [`StoreError::Corrupt`] for a newer schema, or backend failures.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut writer = connect(&path)?;
        {
            // Creating, reading the version and migrating happen under the write lock, so two
            // processes opening one new or old database do not race.
            let tx = writer
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend("begin schema transaction"))?;
            tx.execute_batch(SCHEMA).map_err(backend("create schema"))?;
            let version: i64 = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .map_err(backend("read schema version"))?;
            match version {
                SCHEMA_VERSION => {}
                1 => migrate_v1(&tx)?,
                _ => {
                    return Err(StoreError::Corrupt {
                        what: format!(
                            "schema version {version} is not {SCHEMA_VERSION}; open it with the ai-audit version that wrote it"
                        ),
                    });
                }
            }
            tx.commit().map_err(backend("commit schema"))?;
        }
        tree::create_schema(&writer)?;
        let reader = connect(&path)?;
        Ok(Self {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The schema of a new database (version 2). Receipt, trace and session ids are indexed by their
/// own text: ids this library generates are time-ordered (UUIDv7), so a group commit appends to
/// the right edge of each index instead of writing one random index page per receipt, which
/// would grow with the store.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 2);
    CREATE TABLE IF NOT EXISTS receipts (
        tenant       TEXT    NOT NULL,
        seq          INTEGER NOT NULL,
        receipt_id   TEXT    NOT NULL,
        receipt_hash BLOB    NOT NULL,
        ts_micros    INTEGER NOT NULL,
        trace_id     TEXT    NOT NULL,
        session_id   TEXT    NOT NULL,
        line         BLOB    NOT NULL,
        tag          BLOB
    );
    CREATE UNIQUE INDEX IF NOT EXISTS receipts_by_chain ON receipts (tenant, seq);
    CREATE UNIQUE INDEX IF NOT EXISTS receipts_by_receipt_id ON receipts (receipt_id);
    CREATE INDEX IF NOT EXISTS receipts_by_trace_id ON receipts (trace_id) WHERE trace_id <> '';
    CREATE INDEX IF NOT EXISTS receipts_by_session_id ON receipts (session_id) WHERE session_id <> '';
    CREATE INDEX IF NOT EXISTS receipts_by_time ON receipts (tenant, ts_micros);
    CREATE TABLE IF NOT EXISTS tips (
        tenant  TEXT PRIMARY KEY,
        len     INTEGER NOT NULL,
        hash    BLOB NOT NULL
    );";

/// Version 1 → 2, in the caller's write transaction: the hash-keyed indexes and their key
/// columns go, the text indexes of [`SCHEMA`] (already created) take their place. Receipts, tips
/// and trees are untouched. An old binary cannot open the migrated file (its schema statements
/// name the dropped columns). On a large store this rewrites the receipts table once, holding
/// the write lock meanwhile: other processes wait (up to the busy timeout) while it runs.
fn migrate_v1(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute_batch(
        "DROP INDEX IF EXISTS receipts_by_id;
         DROP INDEX IF EXISTS receipts_by_trace;
         DROP INDEX IF EXISTS receipts_by_session;
         ALTER TABLE receipts DROP COLUMN id_key;
         ALTER TABLE receipts DROP COLUMN trace_key;
         ALTER TABLE receipts DROP COLUMN session_key;
         ALTER TABLE receipts ADD COLUMN tag BLOB;
         UPDATE meta SET value = 2 WHERE key = 'schema_version';",
    )
    .map_err(backend("migrate the schema from version 1 to 2"))
}

fn hash32(v: &[u8]) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| StoreError::Corrupt {
        what: format!("a stored hash has {} bytes instead of 32", v.len()),
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const COLUMNS: &str =
    "tenant, seq, receipt_id, receipt_hash, ts_micros, trace_id, session_id, line, tag";
const FIND_SQL: &str = "SELECT tenant, seq, receipt_id, receipt_hash, ts_micros, trace_id,
     session_id, line, tag FROM receipts WHERE receipt_id = ?1";
const INSERT_SQL: &str = "INSERT INTO receipts (tenant, seq, receipt_id, receipt_hash, ts_micros,
     trace_id, session_id, line, tag) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

type Row = (
    String,
    i64,
    String,
    Vec<u8>,
    i64,
    String,
    String,
    Vec<u8>,
    Option<Vec<u8>>,
);

fn into_entry(row: Row) -> Result<StoredEntry, StoreError> {
    let (tenant, seq, id, hash, ts, trace, session, line, tag) = row;
    Ok(StoredEntry {
        tenant: TenantId::new(tenant),
        seq: to_u64(seq),
        receipt_id: ReceiptId::new(id),
        receipt_hash: hash32(&hash)?,
        timestamp_micros: ts,
        trace_id: TraceId::new(trace),
        session_id: SessionId::new(session),
        line,
        tag: tag.map(|t| hash32(&t)).transpose()?,
    })
}

fn tip_of(c: &Connection, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT len, hash FROM tips WHERE tenant = ?1")
        .and_then(|mut s| {
            s.query_row(params![tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(backend("read tip"))?;
    row.map(|(len, hash)| {
        Ok(Tip {
            len: to_u64(len),
            hash: hash32(&hash)?,
        })
    })
    .transpose()
}

fn find_in(c: &Connection, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
    let row = c
        .prepare_cached(FIND_SQL)
        .and_then(|mut s| {
            s.query_row(params![id.as_str()], |r| read_row_at(r, 0))
                .optional()
        })
        .map_err(backend("find receipt"))?;
    row.map(into_entry).transpose()
}

struct SqlTxn<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    /// Tips changed by this transaction, written back once at the end.
    tips: Vec<(TenantId, Tip)>,
}

impl WriteTxn for SqlTxn<'_> {
    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        if let Some((_, t)) = self.tips.iter().find(|(k, _)| k == tenant) {
            return Ok(Some(*t));
        }
        tip_of(self.tx, tenant)
    }

    fn find(&mut self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        find_in(self.tx, id)
    }

    fn append(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        let expected = self.tip(e.tenant)?.map_or(0, |t| t.len);
        if e.seq != expected {
            return Err(StoreError::SequenceGap {
                tenant: e.tenant.clone(),
                expected,
                found: e.seq,
            });
        }
        let res = self.tx.prepare_cached(INSERT_SQL).and_then(|mut s| {
            s.execute(params![
                e.tenant.as_str(),
                to_i64(e.seq),
                e.receipt_id.as_str(),
                &e.receipt_hash[..],
                e.timestamp_micros,
                e.trace_id.as_str(),
                e.session_id.as_str(),
                e.line,
                e.tag.as_ref().map(|t| &t[..]),
            ])
        });
        match res {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(f, Some(msg)))
                if f.code == rusqlite::ErrorCode::ConstraintViolation
                    && msg.contains("receipts.receipt_id") =>
            {
                return Err(StoreError::DuplicateId {
                    id: e.receipt_id.clone(),
                });
            }
            // The sequence was checked against the tip above; a clash on the chain index means
            // the tips table disagrees with the receipts.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "tenant {:?} already has a receipt at sequence {} although its tip says otherwise",
                        e.tenant.as_str(),
                        e.seq
                    ),
                });
            }
            Err(err) => return Err(backend("insert receipt")(err)),
        }
        let tip = Tip {
            len: e.seq + 1,
            hash: e.receipt_hash,
        };
        if let Some(slot) = self.tips.iter_mut().find(|(k, _)| k == e.tenant) {
            slot.1 = tip;
        } else {
            self.tips.push((e.tenant.clone(), tip));
        }
        Ok(())
    }

    fn tree(&mut self) -> Option<&mut dyn TreeWrite> {
        Some(self)
    }
}

impl Store for SqliteStore {
    fn set_durability(&self, durability: Durability) -> Result<(), StoreError> {
        let level = match durability {
            Durability::Durable => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        lock(&self.writer)
            .pragma_update(None, "synchronous", level)
            .map_err(backend("set synchronous"))
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("begin transaction"))?;
        let mut txn = SqlTxn {
            tx: &tx,
            tips: Vec::new(),
        };
        f(&mut txn)?;
        let tips = std::mem::take(&mut txn.tips);
        {
            let mut s = tx
                .prepare_cached(
                    "INSERT INTO tips (tenant, len, hash) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant) DO UPDATE SET len = excluded.len, hash = excluded.hash",
                )
                .map_err(backend("update tip"))?;
            for (tenant, tip) in &tips {
                s.execute(params![tenant.as_str(), to_i64(tip.len), &tip.hash[..]])
                    .map_err(backend("update tip"))?;
            }
        }
        tx.commit().map_err(backend("commit"))
    }

    fn tip(&self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        tip_of(&lock(&self.reader), tenant)
    }

    fn get(&self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        find_in(&lock(&self.reader), id)
    }

    fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let c = lock(&self.reader);
        let mut s = c
            .prepare_cached("SELECT tenant FROM tips ORDER BY tenant")
            .map_err(backend("list tenants"))?;
        let rows = s
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(backend("list tenants"))?;
        rows.map(|r| r.map(TenantId::new).map_err(backend("list tenants")))
            .collect()
    }

    fn page(
        &self,
        selector: &Selector,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let c = lock(&self.reader);
        let limit_plus = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        // Keyset pagination: the cursor is the sequence number (tenant queries) or the rowid
        // (trace and session queries) to continue from.
        let rows: Vec<(i64, Row)> = match selector {
            Selector::Tenant { tenant, seq, time } => {
                let start = to_i64(cursor.unwrap_or(seq.start).max(seq.start));
                let end = to_i64(seq.end);
                let (from, to) = time
                    .as_ref()
                    .map_or((i64::MIN, i64::MAX), |t| (t.start, t.end));
                let sql = format!(
                    "SELECT seq, {COLUMNS} FROM receipts WHERE tenant = ?1 AND seq >= ?2 AND seq < ?3
                     AND ts_micros >= ?4 AND ts_micros < ?5 ORDER BY seq LIMIT ?6"
                );
                let mut s = c.prepare_cached(&sql).map_err(backend("query receipts"))?;
                let it = s
                    .query_map(
                        params![tenant.as_str(), start, end, from, to, limit_plus],
                        |r| Ok((r.get(0)?, read_row_at(r, 1)?)),
                    )
                    .map_err(backend("query receipts"))?;
                it.collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(backend("query receipts"))?
            }
            Selector::Trace(_) | Selector::Session(_) => {
                let (column, value) = match selector {
                    Selector::Trace(t) => ("trace_id", t.as_str()),
                    Selector::Session(s) => ("session_id", s.as_str()),
                    Selector::Tenant { .. } => ("trace_id", ""),
                };
                if value.is_empty() {
                    return Ok(Page::default());
                }
                // `<> ''` lets SQLite use the partial index.
                let sql = format!(
                    "SELECT rowid, {COLUMNS} FROM receipts WHERE {column} = ?1 AND {column} <> ''
                     AND rowid >= ?2 ORDER BY rowid LIMIT ?3"
                );
                let start = to_i64(cursor.unwrap_or(0));
                let mut s = c.prepare_cached(&sql).map_err(backend("query receipts"))?;
                let it = s
                    .query_map(params![value, start, limit_plus], |r| {
                        Ok((r.get(0)?, read_row_at(r, 1)?))
                    })
                    .map_err(backend("query receipts"))?;
                it.collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(backend("query receipts"))?
            }
        };
        let mut entries = Vec::with_capacity(rows.len().min(limit));
        let mut next = None;
        for (i, (key, row)) in rows.into_iter().enumerate() {
            if i == limit {
                next = Some(to_u64(key));
                break;
            }
            entries.push(into_entry(row)?);
        }
        Ok(Page { entries, next })
    }

    fn tree(&self) -> Option<&dyn TreeRead> {
        Some(self)
    }
}

fn read_row_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Row> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
        r.get(at + 8)?,
    ))
}
