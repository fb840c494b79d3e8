//! The SQLite side of the Merkle trees (see [`crate::store::tree`]): three tables, added next to
//! the receipts without touching them.
//!
//! - `merkle_tiles (tenant, level, idx, hashes)`: one row per tile, `hashes` the concatenated
//!   32-byte node hashes (up to 256); only right-edge tiles are ever rewritten.
//! - `merkle_trees (tenant, size)`: leaves per tenant, updated in the appending transaction.
//! - `checkpoints (tenant, size, root, note)`: the signed checkpoints, one per size.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqlTxn, SqliteStore, backend, hash32, lock, to_i64, to_u64};
use crate::receipt::TenantId;
use crate::store::StoreError;
use crate::store::tree::{StoredCheckpoint, TileId, TreeRead, TreeWrite};

/// Creates the tree tables if they are missing (stores made before trees were kept get them on
/// open; their trees are filled from the stored lines by `tree::sync_from_lines`).
pub(super) fn create_schema(c: &Connection) -> Result<(), StoreError> {
    c.execute_batch(
        "BEGIN IMMEDIATE;
         CREATE TABLE IF NOT EXISTS merkle_tiles (
             tenant  TEXT    NOT NULL,
             level   INTEGER NOT NULL,
             idx     INTEGER NOT NULL,
             hashes  BLOB    NOT NULL
         );
         CREATE UNIQUE INDEX IF NOT EXISTS merkle_tiles_by_id ON merkle_tiles (tenant, level, idx);
         CREATE TABLE IF NOT EXISTS merkle_trees (
             tenant  TEXT PRIMARY KEY,
             size    INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS checkpoints (
             tenant  TEXT    NOT NULL,
             size    INTEGER NOT NULL,
             root    BLOB    NOT NULL,
             note    TEXT    NOT NULL
         );
         CREATE UNIQUE INDEX IF NOT EXISTS checkpoints_by_size ON checkpoints (tenant, size);
         COMMIT;",
    )
    .map_err(backend("create tree schema"))
}

fn tree_size_in(c: &Connection, tenant: &TenantId) -> Result<u64, StoreError> {
    let size: Option<i64> = c
        .prepare_cached("SELECT size FROM merkle_trees WHERE tenant = ?1")
        .and_then(|mut s| {
            s.query_row(params![tenant.as_str()], |r| r.get(0))
                .optional()
        })
        .map_err(backend("read tree size"))?;
    Ok(size.map_or(0, to_u64))
}

fn tile_in(c: &Connection, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
    c.prepare_cached(
        "SELECT hashes FROM merkle_tiles WHERE tenant = ?1 AND level = ?2 AND idx = ?3",
    )
    .and_then(|mut s| {
        s.query_row(
            params![tenant.as_str(), i64::from(id.level), to_i64(id.index)],
            |r| r.get(0),
        )
        .optional()
    })
    .map_err(backend("read tile"))
}

fn checkpoint_in(
    c: &Connection,
    tenant: &TenantId,
    size: Option<u64>,
) -> Result<Option<StoredCheckpoint>, StoreError> {
    let row: Option<(i64, Vec<u8>, String)> = match size {
        None => c
            .prepare_cached(
                "SELECT size, root, note FROM checkpoints WHERE tenant = ?1 ORDER BY size DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![tenant.as_str()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            }),
        Some(n) => c
            .prepare_cached("SELECT size, root, note FROM checkpoints WHERE tenant = ?1 AND size = ?2")
            .and_then(|mut s| {
                s.query_row(params![tenant.as_str(), to_i64(n)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            }),
    }
    .map_err(backend("read checkpoint"))?;
    row.map(|(size, root, note)| {
        Ok(StoredCheckpoint {
            size: to_u64(size),
            root: hash32(&root)?,
            note,
        })
    })
    .transpose()
}

impl TreeWrite for SqlTxn<'_> {
    fn tree_size(&mut self, tenant: &TenantId) -> Result<u64, StoreError> {
        tree_size_in(self.tx, tenant)
    }

    fn tile(&mut self, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        tile_in(self.tx, tenant, id)
    }

    fn put_tile(&mut self, tenant: &TenantId, id: TileId, hashes: &[u8]) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO merkle_tiles (tenant, level, idx, hashes) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, level, idx) DO UPDATE SET hashes = excluded.hashes",
            )
            .and_then(|mut s| {
                s.execute(params![
                    tenant.as_str(),
                    i64::from(id.level),
                    to_i64(id.index),
                    hashes
                ])
            })
            .map_err(backend("write tile"))?;
        Ok(())
    }

    fn set_tree_size(&mut self, tenant: &TenantId, size: u64) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO merkle_trees (tenant, size) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET size = excluded.size",
            )
            .and_then(|mut s| s.execute(params![tenant.as_str(), to_i64(size)]))
            .map_err(backend("write tree size"))?;
        Ok(())
    }

    fn latest_checkpoint(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        checkpoint_in(self.tx, tenant, None)
    }

    fn put_checkpoint(
        &mut self,
        tenant: &TenantId,
        cp: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "INSERT INTO checkpoints (tenant, size, root, note) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, size) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    tenant.as_str(),
                    to_i64(cp.size),
                    &cp.root[..],
                    cp.note.as_str()
                ])
            })
            .map_err(backend("write checkpoint"))?;
        Ok(())
    }
}

impl TreeRead for SqliteStore {
    fn tree_size(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        tree_size_in(&lock(&self.reader), tenant)
    }

    fn tile(&self, tenant: &TenantId, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        tile_in(&lock(&self.reader), tenant, id)
    }

    fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError> {
        checkpoint_in(&lock(&self.reader), tenant, None)
    }

    fn checkpoint_at(
        &self,
        tenant: &TenantId,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        checkpoint_in(&lock(&self.reader), tenant, Some(size))
    }
}
