//! `ai-audit`, the command-line tool of ai-audit: keys, offline verification of receipts,
//! evidence bundles and inclusion proofs, and (feature `sqlite`, on by default) the commands that
//! read a store: export, checkpoints, proofs, health checks and a benchmark.
//!
//! Built with `--no-default-features` it is the verifier an auditor needs — `verify`,
//! `verify-proof`, `gen-key`, `info` — with no store, no async runtime and no procedural macros.
#![forbid(unsafe_code)]

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

mod args;
mod command;
mod common;
mod info;
mod keygen;
mod pin;
mod proof;
#[cfg(feature = "sqlite")]
mod store;
mod verify;

fn main() -> std::process::ExitCode {
    command::run()
}
