//! The command tree: which subcommands exist in this build, and which code runs each.

use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::common::{EXIT_CODES, EXIT_PASS, EXIT_USAGE};
use crate::proof::VerifyProofArgs;
use crate::verify::VerifyArgs;

/// What the command line asked for.
#[derive(Debug)]
enum Request {
    GenKey {
        quiet: bool,
    },
    Info,
    Verify(VerifyArgs),
    VerifyProof(VerifyProofArgs),
    #[cfg(feature = "sqlite")]
    Store(crate::store::StoreRequest),
}

/// The `ai-audit` command with every subcommand of this build.
fn command() -> Command {
    let cmd = Command::new("ai-audit")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Tamper-evident decision receipts for AI systems: keys and offline verification.")
        .after_help(EXIT_CODES)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("gen-key")
                .alias("genkey")
                .about("Generate a fresh Ed25519 signing key (hex seed) and print it with its public key.")
                .arg(
                    Arg::new("quiet")
                        .short('q')
                        .long("quiet")
                        .action(ArgAction::SetTrue)
                        .help("Print only the 64-hex-character seed."),
                ),
        )
        .subcommand(
            Command::new("info")
                .about("Print the version, the enabled features and the hardware paths in use."),
        )
        .subcommand(VerifyArgs::command(
            Command::new("verify")
                .about("Verify an evidence bundle, or a JSONL file of one tenant's receipts, against a pinned public key.")
                .after_help(EXIT_CODES),
        ))
        .subcommand(VerifyProofArgs::command(
            Command::new("verify-proof")
                .about("Check a tlog-proof offline against a pinned public key.")
                .after_help(EXIT_CODES),
        ));
    #[cfg(feature = "sqlite")]
    let cmd = crate::store::subcommands(cmd);
    cmd
}

fn request(m: &ArgMatches) -> Result<Request, clap::Error> {
    Ok(match m.subcommand() {
        Some(("gen-key", sub)) => Request::GenKey {
            quiet: crate::args::flag(sub, "quiet")?,
        },
        Some(("info", _)) => Request::Info,
        Some(("verify", sub)) => Request::Verify(VerifyArgs::from_matches(sub)?),
        Some(("verify-proof", sub)) => Request::VerifyProof(VerifyProofArgs::from_matches(sub)?),
        #[cfg(feature = "sqlite")]
        Some((name, sub)) => Request::Store(crate::store::StoreRequest::from_matches(name, sub)?),
        #[cfg(not(feature = "sqlite"))]
        Some((name, _)) => {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("unknown command {name:?}\n"),
            ));
        }
        None => {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "a command is required; see --help\n",
            ));
        }
    })
}

/// Parses the arguments and runs the command.
pub(crate) fn run() -> ExitCode {
    let mut cmd = command();
    let parsed = cmd
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|m| request(&m).map_err(|e| e.with_cmd(&cmd)));
    let request = match parsed {
        Ok(r) => r,
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
    let code = match request {
        Request::GenKey { quiet } => crate::keygen::run(quiet),
        Request::Info => crate::info::run(),
        Request::Verify(args) => crate::verify::run(&args),
        Request::VerifyProof(args) => crate::proof::run_verify_proof(&args),
        #[cfg(feature = "sqlite")]
        Request::Store(r) => r.run(),
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_tree_is_consistent() {
        // clap's own checks of ids, conflicts and defaults (it panics on a mistake).
        super::command().debug_assert();
    }
}
