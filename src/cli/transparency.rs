//! `ai-audit checkpoint`, `ai-audit prove` and `ai-audit verify-proof`: a tenant's signed
//! checkpoints and standalone inclusion proofs (C2SP `tlog-proof`).

use std::path::PathBuf;

use audit_runtime::log::{self, TransparencyError};
use audit_runtime::note::{self, DEFAULT_LOG_NAME, TlogProof};
use audit_runtime::store::{Store, tree};
use audit_runtime::{AuditConfig, KeySource, ReceiptId, SigningKey, TenantId};

use super::{EXIT_PASS, EXIT_USAGE};

/// Exit code: the proof fails.
const EXIT_FAIL: u8 = 1;
/// Exit code: no key pinned.
const EXIT_UNPINNED: u8 = 3;
/// Environment variable naming the log.
const ENV_LOG_NAME: &str = "AI_AUDIT_LOG_NAME";

/// `--log-name`, else `$AI_AUDIT_LOG_NAME`, else the default; an error (for exit 2) if it cannot
/// name a log.
pub(crate) fn log_name(arg: Option<&str>) -> Result<String, String> {
    let (name, from) = match arg {
        Some(a) => (a.to_owned(), "--log-name"),
        None => match std::env::var(ENV_LOG_NAME).ok().filter(|v| !v.is_empty()) {
            Some(v) => (v, ENV_LOG_NAME),
            None => return Ok(DEFAULT_LOG_NAME.to_owned()),
        },
    };
    match note::log_name_problem(&name) {
        None => Ok(name),
        Some(why) => Err(format!(
            "{from} {name:?} cannot be a log name: {why}; use the DNS-like name the log's checkpoints are signed under, such as audit.example.com"
        )),
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckpointArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The store (default: $AI_AUDIT_DATA_DIR/audit.db or ./audit-data/audit.db).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Sign a checkpoint of the tree as it is now first (needs AI_AUDIT_SIGNING_KEY).
    #[arg(long)]
    sign: bool,
    /// The log name to sign under (default: $AI_AUDIT_LOG_NAME or ai-audit.local).
    #[arg(long)]
    log_name: Option<String>,
    /// The log's public key (64 hex characters): the stored checkpoint is printed only if it
    /// verifies under it, as this tenant's. Falls back to AI_AUDIT_VERIFY_KEY.
    #[arg(long, value_name = "HEX", conflicts_with = "key_file")]
    key: Option<String>,
    /// A file holding the public key to check the checkpoint against, as hex.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ProveArgs {
    /// The tenant of the receipt.
    #[arg(long)]
    tenant: String,
    /// The receipt id.
    #[arg(long)]
    receipt: String,
    /// The proof file to write (conventionally *.tlog-proof).
    #[arg(short, long)]
    output: PathBuf,
    /// The store (default: $AI_AUDIT_DATA_DIR/audit.db or ./audit-data/audit.db).
    #[arg(long)]
    db: Option<PathBuf>,
    /// The log name, if a checkpoint must be signed (default: $AI_AUDIT_LOG_NAME or ai-audit.local).
    #[arg(long)]
    log_name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyProofArgs {
    /// The proof file (C2SP tlog-proof, with the receipt in its `extra` line).
    file: PathBuf,
    /// The operator's public key (64 hex characters) to pin. Falls back to AI_AUDIT_VERIFY_KEY.
    #[arg(long, value_name = "HEX", conflicts_with = "key_file")]
    key: Option<String>,
    /// A file holding the public key to pin, as hex.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Accept an unsigned receipt (Checkpointed sealing) on its proven inclusion under the
    /// checkpoint (see `ai-audit verify --accept-checkpointed`).
    #[arg(long)]
    accept_checkpointed: bool,
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
        super::existing_store(args.db.as_ref())
    } else {
        super::read_only_store(args.db.as_ref())
    };
    let store = match opened {
        Ok((s, _)) => s,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    // Usage errors before anything is signed.
    let key = match super::verify::load_pinned_key(args.key.as_deref(), args.key_file.as_ref()) {
        Ok(k) => k,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    let tenant = TenantId::new(args.tenant.as_str());
    if args.sign {
        let name = match log_name(args.log_name.as_deref()) {
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
                    format!("cannot bring the tree up to date: {}", super::chain(&e)),
                );
            }
        }
        if let Err(e) = log::checkpoint(&store, &tenant, None, &name, &key) {
            return fail(
                EXIT_FAIL,
                format!("cannot sign a checkpoint: {}", super::chain(&e)),
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
    let store = match super::read_only_store(args.db.as_ref()) {
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
            let name = match log_name(args.log_name.as_deref()) {
                Ok(n) => n,
                Err(m) => return fail(EXIT_USAGE, m),
            };
            // Signing stores the checkpoint: the store is opened for writing for that.
            let store = match super::existing_store(args.db.as_ref()) {
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
            return fail(
                EXIT_FAIL,
                format!("cannot make the proof: {}", super::chain(&e)),
            );
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

pub(crate) fn run_verify_proof(args: &VerifyProofArgs) -> u8 {
    let key = match super::verify::load_pinned_key(args.key.as_deref(), args.key_file.as_ref()) {
        Ok(k) => k,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    let text = match super::read_limited(&args.file, note::MAX_PROOF as u64) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return fail(
                EXIT_USAGE,
                format!(
                    "{} is larger than {} bytes; it is not a tlog-proof",
                    args.file.display(),
                    note::MAX_PROOF
                ),
            );
        }
        Err(e) => {
            return fail(
                EXIT_USAGE,
                format!("cannot read {}: {e}", args.file.display()),
            );
        }
    };
    let Ok(text) = String::from_utf8(text) else {
        return fail(
            EXIT_USAGE,
            format!("{} is not UTF-8 text", args.file.display()),
        );
    };
    let proof = match TlogProof::parse(&text) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, format!("{}: {e}", args.file.display())),
    };
    let Some(key) = key else {
        let signer = proof
            .note
            .split("\n\n")
            .nth(1)
            .and_then(|sigs| sigs.lines().next())
            .unwrap_or("(no signature line)")
            .chars()
            .take(80)
            .collect::<String>();
        out!(
            "UNPINNED: {}: no key pinned, nothing was checked against a key; the checkpoint carries the signature line {signer:?}; pass --key",
            args.file.display()
        );
        return EXIT_UNPINNED;
    };
    let checked = if args.accept_checkpointed {
        proof.verify_accepting_checkpointed(&key)
    } else {
        proof.verify(&key)
    };
    match checked {
        Ok(ok) => {
            out!(
                "PASS: receipt {} is leaf {} of {} ({} leaves, root {}), signed by key {}",
                ok.receipt.receipt().receipt_id,
                ok.index,
                ok.checkpoint.origin,
                ok.checkpoint.size,
                hex::encode(ok.checkpoint.root),
                key.fingerprint()
            );
            EXIT_PASS
        }
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            out!("FAIL: {}: {e}{cause}", args.file.display());
            EXIT_FAIL
        }
    }
}
