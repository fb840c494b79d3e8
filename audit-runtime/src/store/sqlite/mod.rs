//! The embedded default store: SQLite (bundled) in WAL mode.
//!
//! Appends run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock across
//! processes; tips are read inside that transaction, so two processes appending to one tenant
//! serialize and never fork its chain. Receipts are kept in segments of consecutive receipts of
//! one tenant (see [`segment`]). An operator can inspect the file with `sqlite3`; a tenant's
//! JSONL is `SELECT CAST(lines AS TEXT) FROM segments WHERE tenant = 'T' ORDER BY first_seq`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

mod highwater;
mod read_only;
mod segment;
mod tree;
mod wal;

use super::tree::{TreeRead, TreeWrite};
use super::{
    Durability, NewEntry, Page, Selector, Store, StoreError, StoredEntry, TenantFault, Tip,
    WriteTxn,
};
use crate::receipt::{ReceiptId, SessionId, TenantId, TraceId};
use segment::{Builder, Segment};

/// The environment variable that overrides the data directory.
pub const ENV_DATA_DIR: &str = "AI_AUDIT_DATA_DIR";
/// Version 3 keeps receipts in segments (see [`segment`]); versions 1 and 2 kept one row per
/// receipt and are migrated on open (see [`migrate_rows`]).
const SCHEMA_VERSION: i64 = 3;

/// `$AI_AUDIT_DATA_DIR`, or `./audit-data`.
#[must_use]
pub fn default_data_dir() -> PathBuf {
    std::env::var_os(ENV_DATA_DIR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("audit-data"), PathBuf::from)
}

fn backend(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + Copy {
    move |e| match e.sqlite_error_code() {
        // Damaged pages: retrying cannot help, and the writer must be able to tell it from a
        // busy or full disk (it isolates the tenant whose rows they are).
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            StoreError::Corrupt {
                what: format!("{operation}: {e}"),
            }
        }
        _ => StoreError::Backend {
            operation,
            source: Box::new(e),
        },
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
    /// Segment buffers kept between transactions (appending allocates no new ones).
    spare: Mutex<Vec<Builder>>,
    /// Copies the log into the database file off the writer's thread (`None` if it could not
    /// be started: the writer's automatic checkpoint then does all of it).
    wal: Option<wal::WalCopier>,
    /// What this store acknowledged, per tenant (see [`highwater`]); `None` when opened read
    /// only, or by a tool that found no record and creates nothing.
    highwater: Option<highwater::HighWater>,
    /// Lines of the high-water record that could not be read (see [`SqliteStore::highwater_damage`]).
    highwater_damage: Vec<String>,
    /// Tenants refused for appending (found on open, see [`TenantFault`]).
    faults: RwLock<HashMap<TenantId, TenantFault>>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a transaction rolls it back when the transaction is dropped; the connection
    // stays usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The public keys in the `signing_keys` table, in the order recorded.
fn recorded_keys(c: &Connection) -> Result<Vec<[u8; 32]>, StoreError> {
    let mut s = c
        .prepare_cached("SELECT public_key FROM signing_keys ORDER BY rowid")
        .map_err(backend("read signing keys"))?;
    let rows = s
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .map_err(backend("read signing keys"))?;
    rows.map(|r| {
        let bytes = r.map_err(backend("read signing keys"))?;
        <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| StoreError::Corrupt {
            what: format!("a recorded signing key is {} bytes, not 32", bytes.len()),
        })
    })
    .collect()
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
    // When the log starts over (after a checkpoint copied all of it), cut the file back to
    // 4 MiB, so a burst does not leave a 64 MiB log behind for the life of the store.
    c.pragma_update(None, "journal_size_limit", 4 << 20)
        .map_err(backend("set journal size limit"))?;
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

    /// Opens the existing store at `path` for reading and writing, for tools that change a
    /// store they did not create (`ai-audit checkpoint --sign`). Unlike [`SqliteStore::open`] it
    /// creates nothing — no directory, no database, no tables, no migration, no log-copying
    /// thread — and refuses, without changing it, a missing file, an empty one, a file that is
    /// not an SQLite database, an SQLite database without ai-audit's tables (someone else's
    /// database given by mistake), and a store of another schema version.
    ///
    /// ```
    /// use audit_runtime::store::{SqliteStore, StoreError};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let notes = dir.path().join("notes.txt");
    /// std::fs::write(&notes, "not a database")?;
    /// let err = SqliteStore::open_existing(&notes).unwrap_err();
    /// assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    /// assert_eq!(std::fs::read(&notes)?, b"not a database");
    ///
    /// SqliteStore::open(dir.path().join("audit.db"))?;
    /// SqliteStore::open_existing(dir.path().join("audit.db"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::NotAStore`], [`StoreError::Io`] if the file cannot be read,
    /// [`StoreError::Corrupt`] for another schema version, or backend failures.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        // Vetted through a read-only connection: a file that is not ours is left as it came.
        drop(read_only::connect(path)?);
        let reader = connect(path)?;
        let (loaded, faults) = compare_highwater(&reader, path)?;
        let highwater_damage = damage_of(loaded.as_ref());
        let hw_path = highwater::path_for(path);
        let highwater = loaded
            .map(|l| highwater::HighWater::open(&hw_path, &l))
            .transpose()
            .map_err(|source| StoreError::Io {
                path: hw_path.clone(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(connect(path)?),
            reader: Mutex::new(reader),
            spare: Mutex::default(),
            wal: None,
            highwater,
            highwater_damage,
            faults: RwLock::new(faults.into_iter().collect()),
        })
    }

    /// Opens the existing store at `path` without writing to it: from a read-only directory or
    /// file system, from a full disk, or beside a running auditor. Nothing of ai-audit's is
    /// created or changed beside the database; every write through the returned store fails
    /// (SQLite's "attempt to write a readonly database"). The file is vetted as by
    /// [`SqliteStore::open_existing`].
    ///
    /// The database is opened with SQLite's read-only flag; where SQLite cannot open or create
    /// the write-ahead log's index (`-shm`) and the log (`-wal`) is absent or empty, the database
    /// file alone is the whole store and is opened `immutable=1`. A log that holds transactions
    /// is never skipped: such a store is refused, with what to do.
    ///
    /// ```
    /// use audit_runtime::store::{SqliteStore, Store};
    /// use audit_runtime::{Auditor, Receipt, SigningKey, TenantId};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let db = dir.path().join("audit.db");
    /// let auditor = Auditor::builder()
    ///     .signer(SigningKey::generate()?)
    ///     .store(SqliteStore::open(&db)?)
    ///     .build()?;
    /// auditor.emit(Receipt::new("acme"))?;
    /// auditor.shutdown()?;
    ///
    /// let store = SqliteStore::open_read_only(&db)?;
    /// assert_eq!(store.tip(&TenantId::new("acme"))?.map(|t| t.len), Some(1));
    /// assert!(store.claim_signing_key(&[7; 32]).is_err(), "it cannot be written");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`SqliteStore::open_existing`]; [`StoreError::Backend`] when the log holds
    /// transactions that cannot be read here.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let reader = read_only::connect(path)?;
        // Reported (an export refuses a tenant behind what was acknowledged), never written.
        let (loaded, faults) = compare_highwater(&reader, path)?;
        Ok(Self {
            path: path.to_owned(),
            // Read-only too: a write through this store fails instead of creating anything.
            writer: Mutex::new(read_only::connect(path)?),
            reader: Mutex::new(reader),
            spare: Mutex::default(),
            wal: None,
            highwater: None,
            highwater_damage: damage_of(loaded.as_ref()),
            faults: RwLock::new(faults.into_iter().collect()),
        })
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
                1 | 2 => migrate_rows(&tx, version)?,
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
        let (highwater, faults, highwater_damage) = open_highwater(&mut writer, &path)?;
        let reader = connect(&path)?;
        let wal = wal::WalCopier::start(&path).ok();
        Ok(Self {
            path,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            spare: Mutex::default(),
            wal,
            highwater: Some(highwater),
            highwater_damage,
            faults: RwLock::new(faults.into_iter().collect()),
        })
    }

    /// The high-water record beside the database (see the `highwater` module docs:
    /// `audit.db-highwater` for `audit.db`).
    #[must_use]
    pub fn highwater_path(&self) -> PathBuf {
        highwater::path_for(&self.path)
    }

    /// Lines of the high-water record that could not be read when the store was opened (a
    /// damaged record: the tenants they named may have lost receipts without being refused).
    /// `ai-audit db check` reports them.
    #[must_use]
    pub fn highwater_damage(&self) -> &[String] {
        &self.highwater_damage
    }

    /// SQLite's `PRAGMA integrity_check`: every page, index and constraint of the file (a full
    /// read). Returns the problems it lists; empty when the file is sound. It cannot see
    /// committed transactions that SQLite itself dropped (a damaged write-ahead log): the
    /// high-water record catches those.
    ///
    /// # Errors
    /// Backend failures.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let c = lock(&self.reader);
        let fail = backend("run integrity_check");
        let mut s = c.prepare("PRAGMA integrity_check").map_err(fail)?;
        let rows = s.query_map([], |r| r.get::<_, String>(0)).map_err(fail)?;
        let mut out = Vec::new();
        for r in rows {
            let line = r.map_err(fail)?;
            if line != "ok" {
                out.push(line);
            }
        }
        Ok(out)
    }

    /// [`Store::write`], or with `gap` [`Store::accept_loss`] for that tenant: its fault is
    /// lifted for this transaction, and once the transaction commits its new tip replaces the
    /// acknowledged one and the fault is cleared.
    fn write_as(
        &self,
        gap: Option<&TenantId>,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("begin transaction"))?;
        let mut txn = SqlTxn::new(&tx);
        txn.faults = Some(&self.faults);
        txn.allowed = gap;
        txn.spare = std::mem::take(&mut *self.spare.lock().unwrap_or_else(PoisonError::into_inner));
        f(&mut txn)?;
        txn.flush_all()?;
        if txn.failed {
            return Err(StoreError::Backend {
                operation: "write segment",
                source: "a segment of this transaction could not be written".into(),
            });
        }
        txn.index_segments(false)?;
        // In tenant order: one pass over the tips table's pages.
        let mut tips: Vec<_> = std::mem::take(&mut txn.tips).into_iter().collect();
        tips.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let spare = std::mem::take(&mut txn.spare);
        drop(txn);
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
        tx.commit().map_err(backend("commit"))?;
        drop(conn);
        if let Some(w) = &self.wal {
            w.committed();
        }
        *self.spare.lock().unwrap_or_else(PoisonError::into_inner) = spare;
        self.acknowledge(gap, &tips)
    }

    /// Adds a commit's tips to the high-water record, before the writer answers anyone.
    fn acknowledge(
        &self,
        gap: Option<&TenantId>,
        tips: &[(TenantId, Tip)],
    ) -> Result<(), StoreError> {
        let kind = |t: &TenantId| {
            if Some(t) == gap {
                highwater::Kind::Gap
            } else {
                highwater::Kind::Ack
            }
        };
        let mut failed = None;
        if let Some(hw) = &self.highwater {
            for group in [highwater::Kind::Gap, highwater::Kind::Ack] {
                let these = tips
                    .iter()
                    .filter(|(t, _)| kind(t) == group)
                    .map(|(t, tip)| (t, tip));
                if let Err(e) = hw.record(group, these) {
                    failed = Some(e);
                }
            }
        }
        if let Some(tenant) = gap {
            self.faults
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(tenant);
        }
        match failed {
            // The receipts are committed: answering with an error would make callers retry
            // what is stored. The record is written with the next commit.
            Some(_) if gap.is_none() => Ok(()),
            Some(source) => Err(StoreError::Io {
                path: self.highwater_path(),
                source,
            }),
            None => Ok(()),
        }
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the high-water record beside `path` (creating it from the current tips if there is
/// none) and compares it with the stored chains, under the write lock, so that no other process
/// appends meanwhile.
fn open_highwater(
    writer: &mut Connection,
    path: &Path,
) -> Result<(highwater::HighWater, Faults, Vec<String>), StoreError> {
    let hw_path = highwater::path_for(path);
    let io = |source| StoreError::Io {
        path: hw_path.clone(),
        source,
    };
    let tx = writer
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("check the high-water record"))?;
    let loaded = highwater::load(&hw_path).map_err(io)?;
    let damage = damage_of(loaded.as_ref());
    let (hw, faults) = match loaded {
        Some(loaded) => {
            let faults = highwater::compare(
                &loaded.tips,
                |t| tip_of(&tx, t),
                |t, seq| hash_at(&tx, t, seq),
            )?;
            (
                highwater::HighWater::open(&hw_path, &loaded).map_err(io)?,
                faults,
            )
        }
        None => {
            let tips = all_tips(&tx)?;
            (
                highwater::HighWater::create(&hw_path, &tips).map_err(io)?,
                Vec::new(),
            )
        }
    };
    tx.commit()
        .map_err(backend("check the high-water record"))?;
    Ok((hw, faults, damage))
}

/// The unreadable lines of a high-water record, for an operator.
fn damage_of(loaded: Option<&highwater::Loaded>) -> Vec<String> {
    loaded.map_or_else(Vec::new, |l| {
        l.damaged
            .iter()
            .map(|(line, why)| format!("line {line}: {why}"))
            .collect()
    })
}

/// Tenants and what is wrong with them.
type Faults = Vec<(TenantId, TenantFault)>;

/// The high-water record beside `path`, if there is one, and the tenants whose stored chain
/// (read through `c`) is behind it or differs from it.
fn compare_highwater(
    c: &Connection,
    path: &Path,
) -> Result<(Option<highwater::Loaded>, Faults), StoreError> {
    let hw_path = highwater::path_for(path);
    let loaded = highwater::load(&hw_path).map_err(|source| StoreError::Io {
        path: hw_path.clone(),
        source,
    })?;
    let faults = match &loaded {
        Some(l) => {
            // One snapshot for every tenant.
            let tx = c
                .unchecked_transaction()
                .map_err(backend("check the high-water record"))?;
            highwater::compare(&l.tips, |t| tip_of(&tx, t), |t, seq| hash_at(&tx, t, seq))?
        }
        None => Vec::new(),
    };
    Ok((loaded, faults))
}

/// Every tenant's tip.
fn all_tips(c: &Connection) -> Result<HashMap<TenantId, Tip>, StoreError> {
    let fail = backend("read tips");
    let mut s = c
        .prepare("SELECT tenant, len, hash FROM tips")
        .map_err(fail)?;
    let mut rows = s.query([]).map_err(fail)?;
    let mut out = HashMap::new();
    while let Some(r) = rows.next().map_err(fail)? {
        let tenant: String = r.get(0).map_err(fail)?;
        let len: i64 = r.get(1).map_err(fail)?;
        let hash: Vec<u8> = r.get(2).map_err(fail)?;
        out.insert(
            TenantId::new(tenant),
            Tip {
                len: to_u64(len),
                hash: hash32(&hash)?,
            },
        );
    }
    Ok(out)
}

/// The `receipt_hash` stored at `seq` in the tenant's chain.
fn hash_at(c: &Connection, tenant: &TenantId, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
    let fail = backend("read a receipt");
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.tenant = ?1 AND s.first_seq <= ?2
             ORDER BY s.first_seq DESC LIMIT 1"
        ))
        .map_err(fail)?;
    let mut rows = stmt
        .query(params![tenant.as_str(), to_i64(seq)])
        .map_err(fail)?;
    let Some(r) = rows.next().map_err(fail)? else {
        return Ok(None);
    };
    let seg = segment_at(r, 0)?;
    for rec in seg.records() {
        let rec = rec?;
        if rec.seq == seq {
            return Ok(Some(rec.receipt_hash));
        }
    }
    Ok(None)
}

/// The schema of a new database (version 3). Receipts live in `segments` (see [`segment`]);
/// `receipt_ids` indexes every receipt id (and refuses duplicates), `trace_segments` and
/// `session_segments` list the segments holding a trace's or session's receipts, for the
/// segments up to `indexed_through` in `meta` (see [`INDEX_EVERY`]). Ids this library generates
/// are time-ordered (UUIDv7), so a group commit appends to the right edge of the id index.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 3);
    INSERT OR IGNORE INTO meta (key, value) VALUES ('indexed_through', 0);
    CREATE TABLE IF NOT EXISTS segments (
        id         INTEGER PRIMARY KEY,
        tenant     TEXT    NOT NULL,
        first_seq  INTEGER NOT NULL,
        count      INTEGER NOT NULL,
        ts_min     INTEGER NOT NULL,
        ts_max     INTEGER NOT NULL,
        entries    BLOB    NOT NULL,
        lines      BLOB    NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS segments_by_chain ON segments (tenant, first_seq);
    CREATE TABLE IF NOT EXISTS receipt_ids (
        receipt_id TEXT    PRIMARY KEY,
        segment    INTEGER NOT NULL,
        slot       INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS trace_segments (
        trace_id   TEXT    NOT NULL,
        segment    INTEGER NOT NULL,
        PRIMARY KEY (trace_id, segment)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS session_segments (
        session_id TEXT    NOT NULL,
        segment    INTEGER NOT NULL,
        PRIMARY KEY (session_id, segment)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS tips (
        tenant  TEXT PRIMARY KEY,
        len     INTEGER NOT NULL,
        hash    BLOB NOT NULL
    );";

/// Versions 1 and 2 → 3, in the caller's write transaction (after [`SCHEMA`] created the new
/// tables): every row of the old `receipts` table is copied into segments, in chain order per
/// tenant, and the old table (with its indexes) is dropped. Tips and trees are untouched. An
/// older binary cannot open the migrated file (its schema statements name the old table's
/// columns). On a large store this rewrites every receipt once, holding the write lock
/// meanwhile: other processes wait (up to the busy timeout) while it runs.
fn migrate_rows(tx: &rusqlite::Transaction<'_>, version: i64) -> Result<(), StoreError> {
    let fail = backend("migrate the receipts to schema version 3");
    // Version 1 had no tag column.
    let tag = if version >= 2 { "tag" } else { "NULL" };
    let sql = format!(
        "SELECT tenant, seq, receipt_id, receipt_hash, ts_micros, trace_id, session_id, line, {tag}
         FROM receipts ORDER BY tenant, seq"
    );
    let mut txn = SqlTxn::new(tx);
    {
        let mut stmt = tx.prepare(&sql).map_err(fail)?;
        let mut rows = stmt.query([]).map_err(fail)?;
        let mut last: Option<(TenantId, u64)> = None;
        while let Some(r) = rows.next().map_err(fail)? {
            let e = into_entry(read_row_at(r, 0).map_err(fail)?)?;
            let expected = match &last {
                Some((t, seq)) if *t == e.tenant => seq + 1,
                _ => 0,
            };
            if e.seq != expected {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "tenant {:?} has a receipt at sequence {} where {expected} was expected; the store cannot be migrated",
                        e.tenant.as_str(),
                        e.seq
                    ),
                });
            }
            txn.push(&e.as_new())?;
            last = Some((e.tenant, e.seq));
        }
    }
    txn.flush_all()?;
    txn.index_segments(true)?;
    tx.execute_batch(
        "DROP TABLE receipts;
         UPDATE meta SET value = 3 WHERE key = 'schema_version';",
    )
    .map_err(fail)
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

/// A row of the version 1 and 2 `receipts` table.
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

/// The columns [`segment_at`] reads, in order.
const SEGMENT_COLUMNS: &str = "s.id, s.tenant, s.first_seq, s.count, s.entries, s.lines";

/// The segment in the row's columns `at..at + 6` ([`SEGMENT_COLUMNS`]), borrowed from the row.
fn segment_at<'r>(r: &'r rusqlite::Row<'_>, at: usize) -> Result<Segment<'r>, StoreError> {
    let read = |e: rusqlite::Error| backend("read segment")(e);
    let blob = |i: usize| -> Result<&'r [u8], StoreError> {
        r.get_ref(at + i)
            .map_err(read)?
            .as_blob()
            .map_err(|e| read(e.into()))
    };
    let id: i64 = r.get(at).map_err(read)?;
    let tenant = r
        .get_ref(at + 1)
        .map_err(read)?
        .as_str()
        .map_err(|e| read(e.into()))?;
    let first_seq: i64 = r.get(at + 2).map_err(read)?;
    let count: i64 = r.get(at + 3).map_err(read)?;
    // At most `MAX_ENTRIES`: slots must fit the 8 bits that page cursors keep for them.
    let count = u32::try_from(count)
        .ok()
        .filter(|n| *n <= segment::MAX_ENTRIES)
        .ok_or_else(|| StoreError::Corrupt {
            what: format!("segment {id} claims {count} receipts"),
        })?;
    let first_seq = u64::try_from(first_seq).map_err(|_| StoreError::Corrupt {
        what: format!("segment {id} starts at sequence {first_seq}"),
    })?;
    Ok(Segment {
        id,
        tenant,
        first_seq,
        count,
        entries: blob(4)?,
        lines: blob(5)?,
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
            len: u64::try_from(len).map_err(|_| StoreError::Corrupt {
                what: format!("tenant {:?} has a tip of length {len}", tenant.as_str()),
            })?,
            hash: hash32(&hash)?,
        })
    })
    .transpose()
}

/// The receipt with this id: from a segment still being filled (`open`), or a stored one.
fn find_in(
    c: &Connection,
    id: &ReceiptId,
    open: &[Builder],
) -> Result<Option<StoredEntry>, StoreError> {
    let at: Option<(i64, i64)> = c
        .prepare_cached("SELECT segment, slot FROM receipt_ids WHERE receipt_id = ?1")
        .and_then(|mut s| {
            s.query_row(params![id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(backend("find receipt"))?;
    let Some((segment, slot)) = at else {
        return Ok(None);
    };
    let slot = u32::try_from(slot).map_err(|_| StoreError::Corrupt {
        what: format!("receipt {id} is indexed at slot {slot}"),
    })?;
    if let Some(b) = open.iter().find(|b| b.id == segment) {
        let r = b.view().record(slot)?;
        return Ok(Some(r.to_entry(b.tenant.as_str())));
    }
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.id = ?1"
        ))
        .map_err(backend("find receipt"))?;
    let mut rows = stmt
        .query(params![segment])
        .map_err(backend("find receipt"))?;
    let Some(r) = rows.next().map_err(backend("find receipt"))? else {
        return Err(StoreError::Corrupt {
            what: format!("receipt {id} is indexed in segment {segment}, which does not exist"),
        });
    };
    let seg = segment_at(r, 0)?;
    let rec = seg.record(slot)?;
    if rec.receipt_id != id.as_str() {
        return Err(StoreError::Corrupt {
            what: format!(
                "receipt {id} is indexed at slot {slot} of segment {segment}, which holds another"
            ),
        });
    }
    Ok(Some(rec.to_entry(seg.tenant)))
}

/// The trace and session indexes are written for [`INDEX_EVERY`] segments at a time, sorted, in
/// the transaction that completes such a run, not with every commit: a commit's receipts belong
/// to many sessions, and writing their rows each time dirties one index page per active session
/// and commit (measured: without these rows per commit, Checkpointed emit ran about 20% faster).
/// Queries read the index for segments up to `indexed_through` (in `meta`) and scan the few
/// segments after it.
const INDEX_EVERY: i64 = 64;

/// The last segment id whose trace and session rows are written.
fn indexed_through(c: &Connection) -> Result<i64, StoreError> {
    c.prepare_cached("SELECT value FROM meta WHERE key = 'indexed_through'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(backend("read how far traces and sessions are indexed"))
}

/// Segments kept open by one transaction before all are written out (bounds the memory of a
/// transaction that touches many tenants).
const MAX_OPEN_SEGMENTS: usize = 64;

struct SqlTxn<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    /// Tips changed by this transaction, written back once at the end.
    tips: HashMap<TenantId, Tip>,
    /// Segments being filled, at most one per tenant; written out when full and at the end.
    open: Vec<Builder>,
    /// The id the next segment gets (read once, under the write lock).
    next_id: Option<i64>,
    /// Builders to reuse (at most [`MAX_SPARE`]).
    spare: Vec<Builder>,
    /// The id index insert, prepared once per transaction.
    insert_id: Option<rusqlite::CachedStatement<'a>>,
    /// A segment failed to be written: its receipts' ids and tips are in this transaction
    /// anyway, so it must not commit (even if the caller handled the error).
    failed: bool,
    /// Tenants refused for appending, except `allowed` (recording a gap).
    faults: Option<&'a RwLock<HashMap<TenantId, TenantFault>>>,
    allowed: Option<&'a TenantId>,
}

/// Segment builders kept for reuse.
const MAX_SPARE: usize = 8;

impl<'a> SqlTxn<'a> {
    fn new(tx: &'a rusqlite::Transaction<'a>) -> Self {
        Self {
            tx,
            tips: HashMap::new(),
            open: Vec::new(),
            next_id: None,
            spare: Vec::new(),
            insert_id: None,
            failed: false,
            faults: None,
            allowed: None,
        }
    }

    /// Refuses appends to a tenant with a fault (other than `allowed`).
    fn refused(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let Some(faults) = self.faults else {
            return Ok(());
        };
        if self.allowed == Some(tenant) {
            return Ok(());
        }
        let faults = faults.read().unwrap_or_else(PoisonError::into_inner);
        match faults.get(tenant) {
            Some(fault) => Err(StoreError::Refused {
                tenant: tenant.clone(),
                fault: fault.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Adds `e` to its tenant's open segment (starting one if needed) and to the id index,
    /// without checking the chain (the caller did).
    fn push(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        segment::check(e)?;
        let at = match self.open.iter().position(|b| b.tenant == *e.tenant) {
            Some(i) if self.open.get(i).is_some_and(|b| b.takes(e)) => i,
            Some(i) => {
                let full = self.open.swap_remove(i);
                self.flush(&full)?;
                self.keep(full);
                self.start(e)?
            }
            None => self.start(e)?,
        };
        let Some(b) = self.open.get_mut(at) else {
            return Err(StoreError::Corrupt {
                what: "lost track of an open segment".into(),
            });
        };
        let insert = match &mut self.insert_id {
            Some(s) => s,
            slot @ None => slot.insert(
                self.tx
                    .prepare_cached(
                        "INSERT INTO receipt_ids (receipt_id, segment, slot) VALUES (?1, ?2, ?3)",
                    )
                    .map_err(backend("index receipt id"))?,
            ),
        };
        let err = match insert.execute(params![e.receipt_id.as_str(), b.id, b.count]) {
            Ok(_) => {
                b.push(e)?;
                return Ok(());
            }
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::DuplicateId {
                    id: e.receipt_id.clone(),
                }
            }
            Err(err) => backend("index receipt id")(err),
        };
        // The append was not made, and the transaction may go on: a segment started for it
        // must not be written empty (it would claim the tenant's next sequence number).
        if b.count == 0 {
            let empty = self.open.swap_remove(at);
            self.keep(empty);
        }
        Err(err)
    }

    /// Starts a segment for `e`'s tenant at `e.seq`; returns its place in `open`.
    fn start(&mut self, e: &NewEntry<'_>) -> Result<usize, StoreError> {
        if self.open.len() >= MAX_OPEN_SEGMENTS {
            self.flush_all()?;
        }
        let id = match self.next_id {
            Some(id) => id,
            None => self
                .tx
                .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM segments", [], |r| {
                    r.get(0)
                })
                .map_err(backend("read the last segment id"))?,
        };
        self.next_id = Some(id.checked_add(1).ok_or_else(|| StoreError::Corrupt {
            what: format!("segment ids have reached {id}; no further segment can be stored"),
        })?);
        let b = match self.spare.pop() {
            Some(mut b) => {
                b.reset(id, e.tenant.clone(), e.seq);
                b
            }
            None => Builder::new(id, e.tenant.clone(), e.seq),
        };
        self.open.push(b);
        Ok(self.open.len() - 1)
    }

    fn keep(&mut self, b: Builder) {
        if self.spare.len() < MAX_SPARE {
            self.spare.push(b);
        }
    }

    /// Writes `b` out; a failure marks the transaction as failed (see [`SqlTxn::failed`]).
    fn flush(&mut self, b: &Builder) -> Result<(), StoreError> {
        let res = self.write_segment(b);
        self.failed |= res.is_err();
        res
    }

    fn write_segment(&self, b: &Builder) -> Result<(), StoreError> {
        let res = self
            .tx
            .prepare_cached(
                "INSERT INTO segments (id, tenant, first_seq, count, ts_min, ts_max, entries, lines)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    b.id,
                    b.tenant.as_str(),
                    to_i64(b.first_seq),
                    b.count,
                    b.ts_min,
                    b.ts_max,
                    &b.entries,
                    &b.lines
                ])
            });
        match res {
            Ok(_) => {}
            // The sequence was checked against the tip; a clash on the chain index means the
            // tips table disagrees with the segments.
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::Corrupt {
                    what: format!(
                        "tenant {:?} already has receipts from sequence {} although its tip says otherwise",
                        b.tenant.as_str(),
                        b.first_seq
                    ),
                });
            }
            Err(err) => return Err(backend("write segment")(err)),
        }
        Ok(())
    }

    /// Writes the trace and session rows of the segments not indexed yet, if there are at least
    /// [`INDEX_EVERY`] of them (or any, with `all`). See [`INDEX_EVERY`].
    fn index_segments(&self, all: bool) -> Result<(), StoreError> {
        let fail = backend("index traces and sessions");
        let Some(last) = self.next_id.map(|n| n - 1) else {
            return Ok(()); // no segment written in this transaction
        };
        let through = indexed_through(self.tx)?;
        if last <= through || (!all && last - through < INDEX_EVERY) {
            return Ok(());
        }
        let mut traces: Vec<(String, i64)> = Vec::new();
        let mut sessions: Vec<(String, i64)> = Vec::new();
        {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "SELECT s.id, s.tenant, s.first_seq, s.count, s.entries, x'' FROM segments s
                     WHERE s.id > ?1 ORDER BY s.id",
                )
                .map_err(fail)?;
            let mut rows = stmt.query(params![through]).map_err(fail)?;
            while let Some(r) = rows.next().map_err(fail)? {
                let seg = segment_at(r, 0)?;
                for [trace, session] in seg.keys()? {
                    for (key, out) in [(trace, &mut traces), (session, &mut sessions)] {
                        if !key.is_empty() {
                            out.push((key.to_owned(), seg.id));
                        }
                    }
                }
            }
        }
        // Sorted, each index is written in key order: one pass over the pages it touches.
        for (sql, mut rows) in [
            (
                "INSERT OR IGNORE INTO trace_segments (trace_id, segment) VALUES (?1, ?2)",
                traces,
            ),
            (
                "INSERT OR IGNORE INTO session_segments (session_id, segment) VALUES (?1, ?2)",
                sessions,
            ),
        ] {
            rows.sort_unstable();
            rows.dedup();
            let mut stmt = self.tx.prepare_cached(sql).map_err(fail)?;
            for (key, id) in &rows {
                stmt.execute(params![key, id]).map_err(fail)?;
            }
        }
        self.tx
            .execute(
                "UPDATE meta SET value = ?1 WHERE key = 'indexed_through'",
                params![last],
            )
            .map_err(fail)?;
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), StoreError> {
        for b in std::mem::take(&mut self.open) {
            self.flush(&b)?;
            self.keep(b);
        }
        Ok(())
    }
}

impl WriteTxn for SqlTxn<'_> {
    fn tip(&mut self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        if let Some(t) = self.tips.get(tenant) {
            return Ok(Some(*t));
        }
        tip_of(self.tx, tenant)
    }

    fn find(&mut self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        find_in(self.tx, id, &self.open)
    }

    fn append(&mut self, e: &NewEntry<'_>) -> Result<(), StoreError> {
        if !self.tips.contains_key(e.tenant) {
            // Once per tenant and transaction.
            self.refused(e.tenant)?;
        }
        let expected = self.tip(e.tenant)?.map_or(0, |t| t.len);
        if e.seq != expected {
            return Err(StoreError::SequenceGap {
                tenant: e.tenant.clone(),
                expected,
                found: e.seq,
            });
        }
        self.push(e)?;
        let tip = Tip {
            len: e.seq + 1,
            hash: e.receipt_hash,
        };
        if let Some(slot) = self.tips.get_mut(e.tenant) {
            *slot = tip;
        } else {
            self.tips.insert(e.tenant.clone(), tip);
        }
        Ok(())
    }

    fn tree(&mut self) -> Option<&mut dyn TreeWrite> {
        Some(self)
    }
}

/// What a trace or session page selects, and where it resumes.
struct Matching<'v> {
    /// Sessions (else traces).
    session: bool,
    value: &'v str,
    from_segment: u64,
    from_slot: u64,
    limit: usize,
}

impl Matching<'_> {
    /// Adds `seg`'s receipts of the trace or session to `page`; `true` once the page is full
    /// (its cursor then names the next receipt).
    fn take(&self, seg: Segment<'_>, page: &mut Page) -> Result<bool, StoreError> {
        let id = to_u64(seg.id);
        for rec in seg.records() {
            let rec = rec?;
            let field = if self.session {
                rec.session_id
            } else {
                rec.trace_id
            };
            if field != self.value
                || (id == self.from_segment && u64::from(rec.slot) < self.from_slot)
            {
                continue;
            }
            if page.entries.len() == self.limit {
                // A cursor that cannot name this receipt would restart the stream.
                let next = id
                    .checked_mul(segment::SLOTS)
                    .and_then(|c| c.checked_add(u64::from(rec.slot)))
                    .filter(|_| seg.id >= 0)
                    .ok_or_else(|| StoreError::Corrupt {
                        what: format!(
                            "segment id {} is beyond what a page cursor can hold",
                            seg.id
                        ),
                    })?;
                page.next = Some(next);
                return Ok(true);
            }
            page.entries.push(rec.to_entry(seg.tenant));
        }
        Ok(false)
    }
}

impl Store for SqliteStore {
    fn set_durability(&self, durability: Durability) -> Result<(), StoreError> {
        let level = match durability {
            Durability::Durable => "FULL",
            Durability::Relaxed => "NORMAL",
        };
        if let Some(hw) = &self.highwater {
            hw.set_sync(durability == Durability::Durable);
        }
        lock(&self.writer)
            .pragma_update(None, "synchronous", level)
            .map_err(backend("set synchronous"))
    }

    fn write(
        &self,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write_as(None, f)
    }

    fn faults(&self) -> Result<Vec<(TenantId, TenantFault)>, StoreError> {
        let faults = self.faults.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = faults.iter().map(|(t, f)| (t.clone(), f.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn accept_loss(
        &self,
        tenant: &TenantId,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write_as(Some(tenant), f)
    }

    fn tip(&self, tenant: &TenantId) -> Result<Option<Tip>, StoreError> {
        tip_of(&lock(&self.reader), tenant)
    }

    fn get(&self, id: &ReceiptId) -> Result<Option<StoredEntry>, StoreError> {
        find_in(&lock(&self.reader), id, &[])
    }

    fn signing_keys(&self) -> Result<Vec<[u8; 32]>, StoreError> {
        let c = lock(&self.reader);
        let exists: bool = c
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'signing_keys')",
                [],
                |r| r.get(0),
            )
            .map_err(backend("read signing keys"))?;
        if !exists {
            return Ok(Vec::new());
        }
        recorded_keys(&c)
    }

    fn compact_log(&self) -> Result<(), StoreError> {
        // A reader in the middle of a long read (an export) makes this give up after 200 ms;
        // the log is then cut back at the next writer's start instead (journal_size_limit).
        let c = lock(&self.writer);
        // Do not wait for long readers: whatever they hold is copied at the next open.
        c.busy_timeout(Duration::from_millis(200))
            .map_err(backend("set busy timeout"))?;
        let done = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(backend("truncate the write-ahead log"));
        c.busy_timeout(Duration::from_secs(60))
            .map_err(backend("set busy timeout"))?;
        done
    }

    fn claim_signing_key(&self, key: &[u8; 32]) -> Result<Vec<[u8; 32]>, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("record the signing key"))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS signing_keys (
                 public_key BLOB PRIMARY KEY,
                 recorded   TEXT NOT NULL
             )",
        )
        .map_err(backend("record the signing key"))?;
        // Under the write lock: of two writers starting at once, the second sees the first's.
        tx.execute(
            "INSERT INTO signing_keys (public_key, recorded)
             SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
            rusqlite::params![
                key.as_slice(),
                crate::receipt::Timestamp::now_utc().to_string()
            ],
        )
        .map_err(backend("record the signing key"))?;
        let keys = recorded_keys(&tx)?;
        tx.commit().map_err(backend("record the signing key"))?;
        Ok(keys)
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
        let query = backend("query receipts");
        let mut page = Page::default();
        match selector {
            Selector::Tenant { tenant, seq, time } => {
                // Keyset pagination: the cursor is the sequence number to continue from.
                let start = cursor.unwrap_or(seq.start).max(seq.start);
                let (from, to) = time
                    .as_ref()
                    .map_or((i64::MIN, i64::MAX), |t| (t.start, t.end));
                let sql = format!(
                    "SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.tenant = ?1
                     AND s.first_seq >= COALESCE((SELECT MAX(first_seq) FROM segments
                         WHERE tenant = ?1 AND first_seq <= ?2), 0)
                     AND s.first_seq < ?3 AND s.ts_max >= ?4 AND s.ts_min < ?5
                     ORDER BY s.first_seq"
                );
                let mut stmt = c.prepare_cached(&sql).map_err(query)?;
                let mut rows = stmt
                    .query(params![
                        tenant.as_str(),
                        to_i64(start),
                        to_i64(seq.end),
                        from,
                        to
                    ])
                    .map_err(query)?;
                'rows: while let Some(r) = rows.next().map_err(query)? {
                    let seg = segment_at(r, 0)?;
                    for rec in seg.records() {
                        let rec = rec?;
                        if rec.seq >= seq.end {
                            break 'rows;
                        }
                        if rec.seq < start
                            || rec.timestamp_micros < from
                            || rec.timestamp_micros >= to
                        {
                            continue;
                        }
                        if page.entries.len() == limit {
                            page.next = Some(rec.seq);
                            break 'rows;
                        }
                        page.entries.push(rec.to_entry(seg.tenant));
                    }
                }
            }
            Selector::Trace(_) | Selector::Session(_) => {
                let (table, column, value) = match selector {
                    Selector::Trace(t) => ("trace_segments", "trace_id", t.as_str()),
                    Selector::Session(s) => ("session_segments", "session_id", s.as_str()),
                    Selector::Tenant { .. } => ("trace_segments", "trace_id", ""),
                };
                if value.is_empty() {
                    return Ok(page);
                }
                // The cursor is segment id × SLOTS + slot of the next receipt.
                let cursor = cursor.unwrap_or(0);
                let want = Matching {
                    session: matches!(selector, Selector::Session(_)),
                    value,
                    from_segment: cursor / segment::SLOTS,
                    from_slot: cursor % segment::SLOTS,
                    limit,
                };
                // One read snapshot for both parts.
                let tx = c.unchecked_transaction().map_err(query)?;
                let through = indexed_through(&tx)?;
                // Segments up to `through`, through the index.
                let sql = format!(
                    "SELECT {SEGMENT_COLUMNS} FROM {table} x JOIN segments s ON s.id = x.segment
                     WHERE x.{column} = ?1 AND x.segment >= ?2 AND x.segment <= ?3
                     ORDER BY x.segment"
                );
                let mut stmt = tx.prepare_cached(&sql).map_err(query)?;
                let mut rows = stmt
                    .query(params![value, to_i64(want.from_segment), through])
                    .map_err(query)?;
                while let Some(r) = rows.next().map_err(query)? {
                    if want.take(segment_at(r, 0)?, &mut page)? {
                        return Ok(page);
                    }
                }
                // The segments after it, not indexed yet: their records' ids are read first, the
                // lines only where one matches.
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT s.id, s.tenant, s.first_seq, s.count, s.entries, x'' FROM segments s
                         WHERE s.id > ?1 AND s.id >= ?2 ORDER BY s.id",
                    )
                    .map_err(query)?;
                let mut rows = stmt
                    .query(params![through, to_i64(want.from_segment)])
                    .map_err(query)?;
                let mut full = tx
                    .prepare_cached(&format!(
                        "SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.id = ?1"
                    ))
                    .map_err(query)?;
                while let Some(r) = rows.next().map_err(query)? {
                    let seg = segment_at(r, 0)?;
                    let key = usize::from(want.session);
                    if !seg.keys()?.iter().any(|k| k.get(key) == Some(&value)) {
                        continue;
                    }
                    let mut one = full.query(params![seg.id]).map_err(query)?;
                    if let Some(r) = one.next().map_err(query)?
                        && want.take(segment_at(r, 0)?, &mut page)?
                    {
                        return Ok(page);
                    }
                }
            }
        }
        Ok(page)
    }

    fn tree(&self) -> Option<&dyn TreeRead> {
        Some(self)
    }
}
