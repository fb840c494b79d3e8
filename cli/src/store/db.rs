//! `ai-audit db check` and `ai-audit db record-gap`: the operator's view of a store's health, and
//! the signed way to continue a chain that lost acknowledged receipts.

use std::path::PathBuf;

use audit_runtime::log::record_gap;
use audit_runtime::store::check::{Depth, check_store};
use audit_runtime::store::{SqliteStore, Store};
use audit_runtime::{AuditConfig, KeySource, TenantId};

use clap::{ArgMatches, Args as _, Command, FromArgMatches as _};

use crate::args::{self, DbArgs, KeyArgs};
use crate::common::{EXIT_PASS, EXIT_USAGE, chain};

/// Exit code: at least one tenant failed the check.
const EXIT_FAULTS: u8 = 1;

/// `db check` or `db record-gap`.
#[derive(Debug)]
pub(crate) enum DbCommand {
    Check(CheckArgs),
    RecordGap(RecordGapArgs),
}

/// The arguments of `db check`.
#[derive(Debug)]
pub(crate) struct CheckArgs {
    db: DbArgs,
    full: bool,
    key: KeyArgs,
}

/// The arguments of `db record-gap`.
#[derive(Debug)]
pub(crate) struct RecordGapArgs {
    tenant: String,
    db: DbArgs,
    note: String,
}

impl DbCommand {
    /// The `db` command's subcommands.
    pub(crate) fn command(cmd: Command) -> Command {
        let check = DbArgs::augment_args(Command::new("check").about(
            "Check every tenant of a store and print its status: chains behind their high-water record (rolled back), tips, receipts and Merkle trees that disagree, and with --full every receipt's hash, link and signature and SQLite's own integrity check. Exit 0 all healthy, 1 a tenant failed, 2 the store could not be read.",
        ))
        .arg(args::switch(
            "full",
            "Read every receipt (hash, link, position, signature with --key, Merkle root) and run SQLite's integrity_check: a full read of the store.",
        ));
        let record_gap = Command::new("record-gap")
            .about("Continue a tenant's chain that lost acknowledged receipts (see `db check`) with a signed receipt that records the loss; the store then appends to the tenant again. Stop the application writing to the store first. Needs the store's signing key (AI_AUDIT_SIGNING_KEY or AI_AUDIT_SIGNING_KEY_FILE).")
            .arg(
                args::text_option("tenant", "TENANT", "The tenant whose loss to record.")
                    .required(true),
            );
        cmd.subcommand(KeyArgs::augment_args(check)).subcommand(
            DbArgs::augment_args(record_gap).arg(
                args::text_option(
                    "note",
                    "NOTE",
                    "Why the receipts were lost and what was done (kept in the signed receipt).",
                )
                .default_value(""),
            ),
        )
    }

    /// Reads the subcommand back from a parse of `db`.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        match m.subcommand() {
            Some(("check", m)) => Ok(Self::Check(CheckArgs {
                db: DbArgs::from_arg_matches(m)?,
                full: args::flag(m, "full")?,
                key: KeyArgs::from_arg_matches(m)?,
            })),
            Some(("record-gap", m)) => Ok(Self::RecordGap(RecordGapArgs {
                tenant: args::required(m, "tenant")?,
                db: DbArgs::from_arg_matches(m)?,
                note: args::required(m, "note")?,
            })),
            _ => Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "db needs a subcommand: check or record-gap\n",
            )),
        }
    }
}

pub(crate) fn run(cmd: &DbCommand) -> u8 {
    match cmd {
        DbCommand::Check(a) => check(a),
        DbCommand::RecordGap(a) => gap(a),
    }
}

/// `db check` only reads (it works on a read-only or full store, beside a running auditor);
/// `db record-gap` writes.
fn open(db: Option<&PathBuf>, write: bool) -> Result<(SqliteStore, PathBuf), u8> {
    let opened = if write {
        super::existing_store(db)
    } else {
        super::read_only_store(db)
    };
    opened.map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}

fn check(args: &CheckArgs) -> u8 {
    let key = match args.key.pinned() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (store, db) = match open(args.db.db.as_ref(), false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let depth = if args.full { Depth::Full } else { Depth::Quick };
    let mut faults = 0usize;
    let damage = store.highwater_damage();
    if !damage.is_empty() {
        faults += 1;
        out!(
            "high-water record {}: {} unreadable line(s); the tenants they named may have lost receipts undetected:",
            store.highwater_path().display(),
            damage.len()
        );
        for d in damage.iter().take(20) {
            out!("  {d}");
        }
    }
    if args.full {
        match store.integrity_check() {
            Ok(problems) if problems.is_empty() => out!("sqlite integrity_check: ok"),
            Ok(problems) => {
                faults += 1;
                out!("sqlite integrity_check: {} problem(s)", problems.len());
                for p in problems.iter().take(20) {
                    out!("  {p}");
                }
            }
            Err(e) => {
                eprintln!("error: cannot check {}: {}", db.display(), chain(&e));
                return EXIT_USAGE;
            }
        }
    }
    let report = match check_store(&store, depth, key.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot check {}: {}", db.display(), chain(&e));
            return EXIT_USAGE;
        }
    };
    for t in &report {
        let tree = t
            .tree_size
            .map_or_else(String::new, |s| format!(", tree {s}"));
        match &t.fault {
            None => out!(
                "ok          {:?}: {} receipts{tree}",
                t.tenant.as_str(),
                t.receipts
            ),
            Some(f) => {
                faults += 1;
                out!("{:<11} {:?}: {f}", f.as_str(), t.tenant.as_str());
            }
        }
    }
    out!(
        "{}: {} tenant(s), {} with faults ({} check); high-water record {}",
        db.display(),
        report.len(),
        report.iter().filter(|t| !t.is_ok()).count(),
        if args.full { "full" } else { "quick" },
        store.highwater_path().display()
    );
    if args.full && key.is_none() {
        out!("note: no key was given, so signatures were not checked (pass --key)");
    }
    if faults == 0 { EXIT_PASS } else { EXIT_FAULTS }
}

fn gap(args: &RecordGapArgs) -> u8 {
    let config = match AuditConfig::from_vars(|n| std::env::var(n).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if config.key_source() == KeySource::Ephemeral {
        eprintln!(
            "error: the gap receipt is signed with the store's key: set AI_AUDIT_SIGNING_KEY or AI_AUDIT_SIGNING_KEY_FILE"
        );
        return EXIT_USAGE;
    }
    let (store, db) = match open(args.db.db.as_ref(), true) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let key = config.signing_key();
    let recorded = store.signing_keys().unwrap_or_default();
    if !recorded.is_empty() && !recorded.contains(&key.verifying_key().to_bytes()) {
        eprintln!(
            "error: {} is signed by another key than AI_AUDIT_SIGNING_KEY ({}); sign the gap with the store's key",
            db.display(),
            key.verifying_key().fingerprint()
        );
        return EXIT_USAGE;
    }
    let tenant = TenantId::new(args.tenant.as_str());
    match record_gap(&store, key, &tenant, &args.note) {
        Ok(g) => {
            out!(
                "recorded a gap receipt for tenant {:?} at sequence {} (receipt {}): {}",
                tenant.as_str(),
                g.seq,
                g.receipt_id,
                g.gap
            );
            out!("the tenant appends again; its next export lists the gap");
            EXIT_PASS
        }
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            EXIT_FAULTS
        }
    }
}
