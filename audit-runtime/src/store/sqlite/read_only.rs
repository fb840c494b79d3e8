//! Opening an existing store without writing to it, for the tools that read one (an export, a
//! proof, a checkpoint): from a read-only directory or file system, from a full disk, or beside a
//! live writer.
//!
//! A store is in WAL mode, and an SQLite reader of a WAL database needs the log's index, the
//! `-shm` file beside it. So the database is first opened with SQLite's read-only flag
//! (`mode=ro`), which works beside a live writer, from a read-only copy that includes the
//! `-wal` and `-shm` files, and wherever SQLite may create the index (SQLite then leaves its own
//! empty `-wal` and `-shm` files behind; nothing of ai-audit's is ever created or changed).
//! Where it cannot (a read-only directory without `-shm`, a full disk), and only when the log
//! holds nothing (`-wal` absent or empty), the database file alone is the whole store: it is
//! then opened `immutable=1`, which reads it without the index and without locks. When the log
//! does hold transactions, `immutable=1` would silently skip them (receipts the auditor
//! acknowledged), so the open is refused instead, saying how to read the store.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{SCHEMA_VERSION, backend};
use crate::store::StoreError;

/// Opens `path` read-only (see the module docs) and checks that it is an ai-audit store of the
/// current schema with its Merkle tree tables. A file that is not one is refused as
/// [`StoreError::NotAStore`], and left unchanged.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let not = |why: &str| StoreError::NotAStore {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    let meta = std::fs::metadata(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(not("it is not a file"));
    }
    if meta.len() == 0 {
        return Err(not("the file is empty"));
    }
    let (conn, version) = match attempt(path, false) {
        Ok(opened) => opened,
        Err(e) if cannot_open(&e) && !log_has_content(path) => {
            attempt(path, true).map_err(|e| refused(path, e))?
        }
        Err(e) if cannot_open(&e) => {
            return Err(StoreError::Backend {
                operation: "open the store read-only",
                source: format!(
                    "{} holds transactions not yet copied into the database, and SQLite cannot open or create the log's index {} here ({e}); read the store where the index can be created (a writable copy of the database and its -wal file), or beside the running auditor",
                    sibling(path, "-wal").display(),
                    sibling(path, "-shm").display(),
                )
                .into(),
            });
        }
        Err(e) => return Err(refused(path, e)),
    };
    match version {
        SCHEMA_VERSION => {}
        v if v < SCHEMA_VERSION => {
            return Err(StoreError::Corrupt {
                what: format!(
                    "schema version {v} was written by an older ai-audit; open the store once with the auditor (SqliteStore::open migrates it) before reading it here"
                ),
            });
        }
        v => {
            return Err(StoreError::Corrupt {
                what: format!(
                    "schema version {v} is newer than {SCHEMA_VERSION}; read it with the ai-audit version that wrote it"
                ),
            });
        }
    }
    let trees: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('merkle_tiles', 'merkle_trees', 'checkpoints')",
            [],
            |r| r.get(0),
        )
        .map_err(backend("read the schema"))?;
    if trees != 3 {
        return Err(StoreError::Corrupt {
            what: "the store has no Merkle tree tables (written before trees were kept); open it once with the auditor, which adds and fills them".into(),
        });
    }
    Ok(conn)
}

/// A read-only connection and the store's schema version, read through it (SQLite opens lazily:
/// the query is what finds out whether the file can be read).
fn attempt(path: &Path, immutable: bool) -> rusqlite::Result<(Connection, i64)> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(uri(path, immutable), flags)?;
    c.busy_timeout(Duration::from_secs(60))?;
    // As the writer's: 64 MiB of page cache.
    c.pragma_update(None, "cache_size", -65_536)?;
    let version = c.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )?;
    Ok((c, version))
}

/// Whether the failure is SQLite being unable to open or create what a WAL reader needs (the
/// log's index in a read-only directory, or on a full disk), rather than a bad file.
fn cannot_open(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if matches!(
            f.code,
            ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::DiskFull | ErrorCode::ReadOnly
        )
    )
}

/// What a failure to read the schema version says about the file.
fn refused(path: &Path, e: rusqlite::Error) -> StoreError {
    let not = |why: &str| StoreError::NotAStore {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::NotADatabase => {
            not("it is not an SQLite database")
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) if msg.contains("no such table") => {
            not("it is an SQLite database without ai-audit's tables")
        }
        rusqlite::Error::QueryReturnedNoRows => not("its meta table has no schema version"),
        e => backend("open the store read-only")(e),
    }
}

/// Whether the write-ahead log beside `path` holds anything (a missing log holds nothing).
fn log_has_content(path: &Path) -> bool {
    std::fs::metadata(sibling(path, "-wal")).is_ok_and(|m| m.len() > 0)
}

/// `path` with `suffix` appended to its file name (`audit.db` → `audit.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The SQLite URI of `path`, read-only (and `immutable=1` if asked): every byte but the
/// unreserved ones and `/` percent-encoded, so that `?`, `#` and `%` in a path stay part of it.
fn uri(path: &Path, immutable: bool) -> String {
    let mut out = String::from("file:");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_keep_every_byte_of_the_path() {
        assert_eq!(
            uri(Path::new("/a b/c?d#e%f.db"), false),
            "file:/a%20b/c%3Fd%23e%25f.db?mode=ro"
        );
        assert_eq!(
            uri(Path::new("rel/audit.db"), true),
            "file:rel/audit.db?mode=ro&immutable=1"
        );
    }
}
