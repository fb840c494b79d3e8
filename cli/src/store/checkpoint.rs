//! `ai-audit checkpoint` and `ai-audit prove`: a tenant's signed checkpoints and standalone
//! inclusion proofs (C2SP `tlog-proof`) from the store.

use std::path::PathBuf;

use audit_runtime::log::{self, TransparencyError};
use audit_runtime::note;
use audit_runtime::store::{Store, tree};
use audit_runtime::{AuditConfig, KeySource, ReceiptId, SigningKey, TenantId};

use clap::{ArgMatches, Args as _, Command, FromArgMatches as _};

use crate::args::{self, DbArgs, KeyArgs, LogNameArgs};
use crate::common::{EXIT_PASS, EXIT_USAGE, chain};

/// Exit code: the proof fails.
const EXIT_FAIL: u8 = 1;
/// The arguments of `checkpoint`.
#[derive(Debug)]
pub(crate) struct CheckpointArgs {
    tenant: String,
    db: DbArgs,
    sign: bool,
    log_name: LogNameArgs,
    key: KeyArgs,
}

impl CheckpointArgs {
    /// The `checkpoint` command's arguments.
    pub(crate) fn command(cmd: Command) -> Command {
        let cmd = cmd.arg(args::text_option("tenant", "TENANT", "The tenant.").required(true));
        let cmd = DbArgs::augment_args(cmd).arg(args::switch(
            "sign",
            "Sign a checkpoint of the tree as it is now first (needs AI_AUDIT_SIGNING_KEY).",
        ));
        KeyArgs::augment_args(LogNameArgs::augment_args(cmd))
    }

    /// Reads the arguments back from a parse.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            tenant: args::required(m, "tenant")?,
            db: DbArgs::from_arg_matches(m)?,
            sign: args::flag(m, "sign")?,
            log_name: LogNameArgs::from_arg_matches(m)?,
            key: KeyArgs::from_arg_matches(m)?,
        })
    }
}

/// The arguments of `prove`.
#[derive(Debug)]
pub(crate) struct ProveArgs {
    tenant: String,
    receipt: String,
    output: PathBuf,
    db: DbArgs,
    log_name: LogNameArgs,
}

impl ProveArgs {
    /// The `prove` command's arguments.
    pub(crate) fn command(cmd: Command) -> Command {
        let cmd = cmd
            .arg(args::text_option("tenant", "TENANT", "The tenant of the receipt.").required(true))
            .arg(args::text_option("receipt", "RECEIPT", "The receipt id.").required(true))
            .arg(
                args::path_option(
                    "output",
                    "OUTPUT",
                    "The proof file to write (conventionally *.tlog-proof).",
                )
                .short('o')
                .required(true),
            );
        LogNameArgs::augment_args(DbArgs::augment_args(cmd))
    }

    /// Reads the arguments back from a parse.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            tenant: args::required(m, "tenant")?,
            receipt: args::required(m, "receipt")?,
            output: args::required(m, "output")?,
            db: DbArgs::from_arg_matches(m)?,
            log_name: LogNameArgs::from_arg_matches(m)?,
        })
    }
}

fn fail(code: u8, msg: impl std::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    code
}

fn signing_key() -> Result<SigningKey, String> {
    let config = AuditConfig::from_vars(|n| std::env::var(n).ok()).map_err(|e| e.to_string())?;
    if config.key_source() == KeySource::Ephemeral {
        return Err("signing a checkpoint needs the log's key: set AI_AUDIT_SIGNING_KEY or AI_AUDIT_SIGNING_KEY_FILE".into());
    }
    Ok(config.signing_key().clone())
}

pub(crate) fn run_checkpoint(args: &CheckpointArgs) -> u8 {
    // Only signing writes to the store.
    let opened = if args.sign {
        super::existing_store(args.db.db.as_ref())
    } else {
        super::read_only_store(args.db.db.as_ref())
    };
    let store = match opened {
        Ok((s, _)) => s,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    // Usage errors before anything is signed.
    let key = match args.key.pinned() {
        Ok(k) => k,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    let tenant = TenantId::new(args.tenant.as_str());
    if args.sign {
        let name = match args.log_name.resolve() {
            Ok(n) => n,
            Err(m) => return fail(EXIT_USAGE, m),
        };
        let key = match signing_key() {
            Ok(k) => k,
            Err(m) => return fail(EXIT_USAGE, m),
        };
        match tree::sync_from_lines(&store, &tenant) {
            // A checkpoint of nothing: most likely a mistyped tenant; sign nothing.
            Ok(0) => {
                return fail(
                    EXIT_USAGE,
                    format!(
                        "tenant {:?} has no receipts in this store; check the tenant id (it is case-sensitive; tenants: {})",
                        args.tenant,
                        super::tenant_list(&store)
                    ),
                );
            }
            Ok(_) => {}
            Err(e) => {
                return fail(
                    EXIT_FAIL,
                    format!("cannot bring the tree up to date: {}", chain(&e)),
                );
            }
        }
        if let Err(e) = log::checkpoint(&store, &tenant, None, &name, &key) {
            return fail(
                EXIT_FAIL,
                format!("cannot sign a checkpoint: {}", chain(&e)),
            );
        }
    }
    let Some(read) = store.tree() else {
        return fail(EXIT_USAGE, "this store keeps no checkpoints");
    };
    match read.latest_checkpoint(&tenant) {
        Ok(Some(cp)) => {
            use std::io::Write as _;
            if let Some(key) = key {
                if let Err(why) = stored_note_holds(&cp, &tenant, &key) {
                    return fail(
                        EXIT_FAIL,
                        format!(
                            "the stored checkpoint of tenant {:?} (size {}) {why}: the store was altered, or the key is not this log's",
                            args.tenant, cp.size
                        ),
                    );
                }
            } else {
                eprintln!(
                    "note: not checked; pass --key (the log's public key) to print it only if it verifies"
                );
            }
            let _ = std::io::stdout().lock().write_all(cp.note.as_bytes());
            EXIT_PASS
        }
        Ok(None) => fail(
            EXIT_FAIL,
            format!(
                "tenant {:?} has no signed checkpoint yet; run with --sign (and the signing key) to sign one",
                args.tenant
            ),
        ),
        Err(e) => fail(EXIT_USAGE, format!("cannot read the store: {e}")),
    }
}

/// Whether a stored checkpoint's note verifies under `key` as `tenant`'s, of the stored size
/// and root; why not, if not.
fn stored_note_holds(
    cp: &tree::StoredCheckpoint,
    tenant: &TenantId,
    key: &audit_runtime::VerifyingKey,
) -> Result<(), String> {
    let signed = note::verify_note(&cp.note, key)
        .map_err(|e| format!("does not verify under the pinned key ({e})"))?;
    let want = note::origin_under(&signed, tenant);
    if signed.origin != want {
        return Err(format!(
            "is of log {:?}, not of this tenant's ({want:?})",
            signed.origin
        ));
    }
    if signed.size != cp.size || signed.root != cp.root {
        return Err("differs from its signed note in size or root".to_owned());
    }
    Ok(())
}

pub(crate) fn run_prove(args: &ProveArgs) -> u8 {
    let store = match super::read_only_store(args.db.db.as_ref()) {
        Ok((s, _)) => s,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    let id = ReceiptId::new(args.receipt.as_str());
    match store.get(&id) {
        Ok(Some(e)) if e.tenant.as_str() == args.tenant => {}
        Ok(Some(e)) => {
            return fail(
                EXIT_USAGE,
                format!(
                    "receipt {} belongs to tenant {:?}, not {:?}",
                    args.receipt,
                    e.tenant.as_str(),
                    args.tenant
                ),
            );
        }
        Ok(None) => {
            return fail(
                EXIT_USAGE,
                format!("receipt {} is not in the store", args.receipt),
            );
        }
        Err(e) => return fail(EXIT_USAGE, format!("cannot read the store: {e}")),
    }
    let proof = match log::prove(&store, &id, None) {
        Ok(p) => Ok(p),
        Err(TransparencyError::EmptyTree { .. }) => {
            // No stored checkpoint covers the receipt yet: sign one, if the key is at hand.
            let key = match signing_key() {
                Ok(k) => k,
                Err(m) => {
                    return fail(
                        EXIT_USAGE,
                        format!("no stored checkpoint covers receipt {}; {m}", args.receipt),
                    );
                }
            };
            let name = match args.log_name.resolve() {
                Ok(n) => n,
                Err(m) => return fail(EXIT_USAGE, m),
            };
            // Signing stores the checkpoint: the store is opened for writing for that.
            let store = match super::existing_store(args.db.db.as_ref()) {
                Ok((s, _)) => s,
                Err(m) => return fail(EXIT_USAGE, m),
            };
            tree::sync_from_lines(&store, &TenantId::new(args.tenant.as_str()))
                .map_err(TransparencyError::from)
                .and_then(|_| log::prove(&store, &id, Some((&name, &key))))
        }
        Err(e) => Err(e),
    };
    let proof = match proof {
        Ok(p) => p,
        Err(e) => {
            return fail(EXIT_FAIL, format!("cannot make the proof: {}", chain(&e)));
        }
    };
    if let Err(e) = std::fs::write(&args.output, proof.to_text()) {
        return fail(
            EXIT_USAGE,
            format!("cannot write {}: {e}", args.output.display()),
        );
    }
    out!(
        "wrote the inclusion proof of receipt {} (index {}) to {}; check it with: ai-audit verify-proof {} --key <public key hex>",
        args.receipt,
        proof.index,
        args.output.display(),
        args.output.display()
    );
    EXIT_PASS
}
