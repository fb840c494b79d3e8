//! The commands that read or write a store (feature `sqlite`): `export`, `checkpoint`, `prove`,
//! `db` and `bench`, and how they open the store.

pub(crate) mod bench;
pub(crate) mod checkpoint;
pub(crate) mod db;
pub(crate) mod export;

use std::path::{Path, PathBuf};

use audit_runtime::store::{SqliteStore, StoreError};

use crate::common::chain;

/// Opens the existing store at `db` (default: `$AI_AUDIT_DATA_DIR/audit.db` or
/// `./audit-data/audit.db`) for a command that only reads it (`SqliteStore::open_read_only`:
/// nothing is written, so it works on a read-only or full store and beside a running auditor;
/// a file that is not an ai-audit store is refused and left unchanged).
pub(crate) fn read_only_store(db: Option<&PathBuf>) -> Result<(SqliteStore, PathBuf), String> {
    open_store(db, |p| SqliteStore::open_read_only(p))
}

/// As [`read_only_store`], for a command that writes to the store (`checkpoint --sign`):
/// `SqliteStore::open_existing`, which creates nothing.
pub(crate) fn existing_store(db: Option<&PathBuf>) -> Result<(SqliteStore, PathBuf), String> {
    open_store(db, |p| SqliteStore::open_existing(p))
}

fn open_store(
    db: Option<&PathBuf>,
    open: fn(&Path) -> Result<SqliteStore, StoreError>,
) -> Result<(SqliteStore, PathBuf), String> {
    let db = db
        .cloned()
        .unwrap_or_else(|| audit_runtime::store::default_data_dir().join("audit.db"));
    if !db.exists() {
        return Err(format!(
            "no store at {}; pass --db or set AI_AUDIT_DATA_DIR",
            db.display()
        ));
    }
    match open(&db) {
        Ok(store) => Ok((store, db)),
        Err(e @ StoreError::NotAStore { .. }) => Err(format!(
            "{e}; pass the audit.db the auditor writes (with its audit.db-wal beside it)"
        )),
        Err(e) => Err(format!("cannot open {}: {}", db.display(), chain(&e))),
    }
}

/// The store's tenants for a message: the first 20, then how many more.
pub(crate) fn tenant_list(store: &dyn audit_runtime::store::Store) -> String {
    const SHOWN: usize = 20;
    let all = store.tenants().unwrap_or_default();
    let mut out: Vec<String> = all
        .iter()
        .take(SHOWN)
        .map(|t| format!("{:?}", t.as_str()))
        .collect();
    if all.len() > SHOWN {
        out.push(format!("and {} more", all.len() - SHOWN));
    }
    if out.is_empty() {
        // Data not yet copied into the main file lives in audit.db-wal.
        "none; if this is a copy of audit.db, copy its audit.db-wal beside it too".to_owned()
    } else {
        out.join(", ")
    }
}

/// A command that reads or writes a store.
#[derive(Debug)]
pub(crate) enum StoreRequest {
    Bench(bench::BenchArgs),
    Export(export::ExportArgs),
    Checkpoint(checkpoint::CheckpointArgs),
    Prove(checkpoint::ProveArgs),
    Db(db::DbCommand),
}

/// Adds the store commands to the `ai-audit` command.
pub(crate) fn subcommands(cmd: clap::Command) -> clap::Command {
    use clap::Command;
    cmd.subcommand(bench::BenchArgs::command(Command::new("bench").about(
        "Measure durable emit throughput and latency here, beside the Python library's figures.",
    )))
    .subcommand(export::ExportArgs::command(
        Command::new("export")
            .about("Export a tenant's chain (or a contiguous part of it) from the store as an evidence bundle.")
            .after_help(crate::common::EXPORT_EXIT_CODES),
    ))
    .subcommand(checkpoint::CheckpointArgs::command(Command::new("checkpoint").about(
        "Print a tenant's latest signed checkpoint (C2SP tlog-checkpoint note) from the store.",
    )))
    .subcommand(checkpoint::ProveArgs::command(Command::new("prove").about(
        "Write a standalone inclusion proof of one receipt (C2SP tlog-proof layout).",
    )))
    .subcommand(db::DbCommand::command(
        Command::new("db")
            .about("Operate on a store: check its health, record a loss of acknowledged receipts.")
            .subcommand_required(true)
            .arg_required_else_help(true),
    ))
}

impl StoreRequest {
    /// The request for subcommand `name`, parsed as `m`.
    pub(crate) fn from_matches(name: &str, m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(match name {
            "bench" => Self::Bench(bench::BenchArgs::from_matches(m)?),
            "export" => Self::Export(export::ExportArgs::from_matches(m)?),
            "checkpoint" => Self::Checkpoint(checkpoint::CheckpointArgs::from_matches(m)?),
            "prove" => Self::Prove(checkpoint::ProveArgs::from_matches(m)?),
            "db" => Self::Db(db::DbCommand::from_matches(m)?),
            other => {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidSubcommand,
                    format!("unknown command {other:?}\n"),
                ));
            }
        })
    }

    /// Runs the command; its exit code.
    pub(crate) fn run(self) -> u8 {
        match self {
            Self::Bench(args) => bench::run_bench(&args),
            Self::Export(args) => export::run(&args),
            Self::Checkpoint(args) => checkpoint::run_checkpoint(&args),
            Self::Prove(args) => checkpoint::run_prove(&args),
            Self::Db(cmd) => db::run(&cmd),
        }
    }
}
