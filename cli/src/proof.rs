//! `ai-audit verify-proof FILE --key HEX`: checks a standalone inclusion proof (C2SP
//! `tlog-proof`, from `ai-audit prove`) offline against a pinned public key.

use std::path::PathBuf;

use audit_runtime::note::{self, TlogProof};

use clap::{Arg, ArgMatches, Args as _, Command, FromArgMatches as _};

use crate::args::{self, KeyArgs};
use crate::common::{EXIT_PASS, EXIT_USAGE};

/// Exit code: the proof fails.
const EXIT_FAIL: u8 = 1;
/// Exit code: no key pinned.
const EXIT_UNPINNED: u8 = 3;

/// The arguments of `verify-proof`.
#[derive(Debug)]
pub(crate) struct VerifyProofArgs {
    file: PathBuf,
    key: KeyArgs,
    accept_checkpointed: bool,
}

impl VerifyProofArgs {
    /// The `verify-proof` command's arguments.
    pub(crate) fn command(cmd: Command) -> Command {
        KeyArgs::augment_args(
            cmd.arg(
                Arg::new("file")
                    .required(true)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("The proof file (C2SP tlog-proof, with the receipt in its `extra` line)."),
            ),
        )
        .arg(args::switch(
            "accept_checkpointed",
            "Accept an unsigned receipt (Checkpointed sealing) on its proven inclusion under the checkpoint (see `ai-audit verify --accept-checkpointed`).",
        ))
    }

    /// Reads the arguments back from a parse.
    pub(crate) fn from_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            file: args::required(m, "file")?,
            key: KeyArgs::from_arg_matches(m)?,
            accept_checkpointed: args::flag(m, "accept_checkpointed")?,
        })
    }
}

fn fail(code: u8, msg: impl std::fmt::Display) -> u8 {
    eprintln!("error: {msg}");
    code
}

pub(crate) fn run_verify_proof(args: &VerifyProofArgs) -> u8 {
    let key = match args.key.pinned() {
        Ok(k) => k,
        Err(m) => return fail(EXIT_USAGE, m),
    };
    let text = match crate::common::read_limited(&args.file, note::MAX_PROOF as u64) {
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
