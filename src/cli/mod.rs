//! Argument parsing and dispatch for the `ai-audit` binary.

/// Writes a line to standard output, ignoring a closed pipe (`ai-audit … | head` must not panic).
macro_rules! out {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod bench;
mod db;
mod export;
mod info;
mod keygen;
mod transparency;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: the evidence passed.
pub(crate) const EXIT_PASS: u8 = 0;
/// Exit code: usage error, or the input could not be read.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code of `export` when writing the bundle failed midway.
pub(crate) const EXIT_FAIL_EXPORT: u8 = 1;

const EXIT_CODES: &str = "\
Exit codes:
  0  PASS: every check passed under the pinned key
  1  FAIL: the evidence fails at least one check (each finding names index, receipt id and check)
  2  usage error, or the input or key could not be read
  3  UNPINNED: no key was pinned; hashes and links were checked, signatures prove nothing";

const EXPORT_EXIT_CODES: &str = "\
Exit codes:
  0  the bundle was written, every receipt in it verified and its checkpoint and manifest signed
  1  refused: a stored receipt or the stored history fails a check (the error names tenant,
     sequence number, receipt id and check; nothing was signed), or writing the bundle failed
  2  usage error, or the store or key could not be read";

/// Tamper-evident decision receipts for AI systems: keys and offline verification.
#[derive(Debug, Parser)]
#[command(name = "ai-audit", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a fresh Ed25519 signing key (hex seed) and print it with its public key.
    #[command(alias = "genkey")]
    GenKey {
        /// Print only the 64-hex-character seed.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print the version, the enabled features and the hardware paths in use.
    Info,
    /// Measure durable emit throughput and latency here, beside the Python library's figures.
    Bench(bench::BenchArgs),
    /// Export a tenant's chain (or a contiguous part of it) from the store as an evidence bundle.
    #[command(after_help = EXPORT_EXIT_CODES)]
    Export(export::ExportArgs),
    /// Verify a JSONL file of one tenant's receipts against a pinned public key.
    #[command(after_help = EXIT_CODES)]
    Verify(verify::VerifyArgs),
    /// Print a tenant's latest signed checkpoint (C2SP tlog-checkpoint note) from the store.
    Checkpoint(transparency::CheckpointArgs),
    /// Write a standalone inclusion proof of one receipt (C2SP tlog-proof layout).
    Prove(transparency::ProveArgs),
    /// Check a tlog-proof offline against a pinned public key.
    #[command(after_help = EXIT_CODES)]
    VerifyProof(transparency::VerifyProofArgs),
    /// Operate on a store: check its health, record a loss of acknowledged receipts.
    #[command(subcommand)]
    Db(db::DbCommand),
}

/// Longest `--key-file` read: a hex key and some whitespace.
pub(crate) const MAX_KEY_FILE: u64 = 4 << 10;

/// Reads `path` whole if it holds at most `limit` bytes; `Ok(None)` if it holds more. Reading
/// stops one byte past the limit, so a huge or endless input (a FIFO, `/dev/zero`) costs no more
/// than a file of the limit's size.
pub(crate) fn read_limited(path: &std::path::Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    Ok((out.len() as u64 <= limit).then_some(out))
}

/// Opens the existing store at `db` (default: `$AI_AUDIT_DATA_DIR/audit.db` or
/// `./audit-data/audit.db`) for a command that only reads it (`SqliteStore::open_read_only`:
/// nothing is written, so it works on a read-only or full store and beside a running auditor;
/// a file that is not an ai-audit store is refused and left unchanged).
pub(crate) fn read_only_store(
    db: Option<&std::path::PathBuf>,
) -> Result<(audit_runtime::store::SqliteStore, std::path::PathBuf), String> {
    open_store(db, |p| audit_runtime::store::SqliteStore::open_read_only(p))
}

/// As [`read_only_store`], for a command that writes to the store (`checkpoint --sign`):
/// `SqliteStore::open_existing`, which creates nothing.
pub(crate) fn existing_store(
    db: Option<&std::path::PathBuf>,
) -> Result<(audit_runtime::store::SqliteStore, std::path::PathBuf), String> {
    open_store(db, |p| audit_runtime::store::SqliteStore::open_existing(p))
}

fn open_store(
    db: Option<&std::path::PathBuf>,
    open: fn(
        &std::path::Path,
    ) -> Result<audit_runtime::store::SqliteStore, audit_runtime::store::StoreError>,
) -> Result<(audit_runtime::store::SqliteStore, std::path::PathBuf), String> {
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
        Err(e @ audit_runtime::store::StoreError::NotAStore { .. }) => Err(format!(
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

/// `e` and the chain of its sources, `what: why: cause`, so that a message names the cause
/// ("the store failed: database disk image is malformed"), not only the outermost error.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // Some errors already repeat their source in their own message.
        if !out.ends_with(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

/// Parses the arguments and runs the command.
pub(crate) fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_PASS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::GenKey { quiet } => keygen::run(quiet),
        Command::Info => info::run(),
        Command::Bench(args) => bench::run_bench(&args),
        Command::Export(args) => export::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Checkpoint(args) => transparency::run_checkpoint(&args),
        Command::Prove(args) => transparency::run_prove(&args),
        Command::VerifyProof(args) => transparency::run_verify_proof(&args),
        Command::Db(cmd) => db::run(&cmd),
    };
    ExitCode::from(code)
}
