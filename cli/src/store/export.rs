//! `ai-audit export --tenant T [--from …] [--to …] -o bundle.zip`: streams a tenant's chain (or a
//! contiguous part of it) from the store into a v1 evidence bundle.

use std::io::BufWriter;
use std::path::PathBuf;

use audit_runtime::bundle::ExportMeta;
use audit_runtime::log::{StoreExportError, export_from_store};
use audit_runtime::note;
use audit_runtime::store::{self, Bound, RangeError, SqliteStore, Store};
use audit_runtime::verify::{FindingKind, verify_covered_line, verify_line};
use audit_runtime::{AuditConfig, KeySource, TenantId};

use clap::{ArgMatches, Args as _, Command, FromArgMatches as _};

use crate::args::{self, DbArgs, LogNameArgs};
use crate::common::{EXIT_FAIL_EXPORT, EXIT_PASS, EXIT_USAGE, chain};

/// The arguments of `export`.
#[derive(Debug)]
pub(crate) struct ExportArgs {
    tenant: String,
    from: Option<String>,
    to: Option<String>,
    output: PathBuf,
    db: DbArgs,
    log_name: LogNameArgs,
}

impl ExportArgs {
    /// The `export` command's arguments.
    pub(crate) fn command(cmd: Command) -> Command {
        let cmd = cmd
            .arg(
                args::text_option("tenant", "TENANT", "The tenant whose chain to export.")
                    .required(true),
            )
            .arg(args::text_option(
                "from",
                "FROM",
                "Start: a sequence number (inclusive) or an RFC 3339 timestamp.",
            ))
            .arg(args::text_option(
                "to",
                "TO",
                "End: a sequence number (exclusive) or an RFC 3339 timestamp (exclusive).",
            ))
            .arg(
                args::path_option("output", "OUTPUT", "The bundle to write.")
                    .short('o')
                    .required(true),
            );
        LogNameArgs::augment_args(DbArgs::augment_args(cmd))
    }

    /// Reads the arguments back from a parse.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            tenant: args::required(m, "tenant")?,
            from: args::one(m, "from")?,
            to: args::one(m, "to")?,
            output: args::required(m, "output")?,
            db: DbArgs::from_arg_matches(m)?,
            log_name: LogNameArgs::from_arg_matches(m)?,
        })
    }
}

fn bound(text: &str, name: &str) -> Result<Bound, String> {
    Bound::parse(text).map_err(|e| {
        format!("--{name} must be a sequence number or a timestamp like 2026-03-01T12:00:00Z: {e}")
    })
}

pub(crate) fn run(args: &ExportArgs) -> u8 {
    match export(args) {
        Ok(msg) => {
            out!("{msg}");
            EXIT_PASS
        }
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            code
        }
    }
}

fn export(args: &ExportArgs) -> Result<String, (u8, String)> {
    let usage = |m: String| (EXIT_USAGE, m);
    let config =
        AuditConfig::from_vars(|n| std::env::var(n).ok()).map_err(|e| usage(format!("{e}")))?;
    if config.key_source() == KeySource::Ephemeral {
        return Err(usage(
            "export signs the bundle's manifest with the key that signed the receipts: set AI_AUDIT_SIGNING_KEY or AI_AUDIT_SIGNING_KEY_FILE".into(),
        ));
    }
    let key = config.signing_key();
    let (store, db) = super::read_only_store(args.db.db.as_ref()).map_err(usage)?;
    let tenant = TenantId::new(args.tenant.as_str());
    let len = store
        .tip(&tenant)
        .map_err(|e| usage(format!("cannot read the store: {e}")))?
        .map_or(0, |t| t.len);
    if len == 0 {
        return Err(usage(format!(
            "tenant {:?} has no receipts in {} (tenants: {})",
            args.tenant,
            db.display(),
            super::tenant_list(&store)
        )));
    }
    let from = args
        .from
        .as_deref()
        .map(|t| bound(t, "from"))
        .transpose()
        .map_err(usage)?;
    let to = args
        .to
        .as_deref()
        .map(|t| bound(t, "to"))
        .transpose()
        .map_err(usage)?;
    let range = store::select_range(&store, &tenant, from, to).map_err(|e| match e {
        RangeError::Store(e) => usage(format!("cannot read the store: {e}")),
        e => usage(e.to_string()),
    })?;
    let (start, end) = (range.start, range.end);

    // Refuse to vouch, under another key, for receipts this key did not sign.
    if let Some(first) = store::receipts(&store, &tenant, start..start + 1).next() {
        let first = first.map_err(|e| usage(format!("cannot read the store: {e}")))?;
        signed_by(&store, &tenant, &first.line, &key.verifying_key()).map_err(|()| {
            usage(format!(
                "receipt {} was not signed by the configured key {} (nor covered by a checkpoint it signed); export with the key that signed this tenant's receipts",
                first.receipt_id,
                key.verifying_key().fingerprint()
            ))
        })?;
    }
    // Every receipt is verified as it streams, and only then are the bundle's checkpoint (of
    // exactly its receipts, not stored: the store is read-only here) and manifest signed.
    let log_name = args.log_name.resolve().map_err(usage)?;
    let file = std::fs::File::create(&args.output)
        .map_err(|e| usage(format!("cannot create {}: {e}", args.output.display())))?;
    let written = export_from_store(
        &store,
        start..end,
        &log_name,
        key,
        ExportMeta::new(tenant),
        BufWriter::new(file),
    )
    .map_err(|e| {
        let code = match &e {
            e if e.is_evidence_failure() => EXIT_FAIL_EXPORT,
            StoreExportError::Write(_) => EXIT_FAIL_EXPORT,
            _ => EXIT_USAGE,
        };
        (code, chain(&e))
    })
    .and_then(|summary| {
        summary
            .output
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(|f| f.sync_all())
            .map_err(|e| (EXIT_FAIL_EXPORT, format!("cannot write the bundle: {e}")))?;
        Ok(summary.receipts)
    });
    let receipts = match written {
        Ok(n) => n,
        Err(e) => {
            // What was written is no bundle (no signed manifest): leave nothing that looks like one.
            let _ = std::fs::remove_file(&args.output);
            return Err(e);
        }
    };
    Ok(format!(
        "exported {} receipts of tenant {:?} (sequence {start} to {}) to {}; verify with: ai-audit verify {} --key {}",
        receipts,
        args.tenant,
        end - 1,
        args.output.display(),
        args.output.display(),
        key.verifying_key().to_hex()
    ))
}

/// Whether `line` was sealed under `key`: its signature verifies, or it is an unsigned
/// (Checkpointed) receipt and the tenant's latest checkpoint was signed by `key`.
fn signed_by(
    store: &SqliteStore,
    tenant: &TenantId,
    line: &[u8],
    key: &audit_runtime::VerifyingKey,
) -> Result<(), ()> {
    match verify_line(line, key) {
        Ok(_) => return Ok(()),
        // A damaged line is not another key's: the export's own checks name it.
        Err(findings)
            if findings
                .iter()
                .any(|f| !matches!(f.kind, FindingKind::Signature | FindingKind::Unsigned)) =>
        {
            return Ok(());
        }
        Err(_) => {}
    }
    let _covered = verify_covered_line(line, key).map_err(|_| ())?;
    let latest = store
        .tree()
        .and_then(|t| t.latest_checkpoint(tenant).ok().flatten())
        .ok_or(())?;
    note::verify_note(&latest.note, key)
        .map(|_| ())
        .map_err(|_| ())
}
