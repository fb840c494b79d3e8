//! The bundled verifier, built only on the public verification API:
//!
//! ```text
//! cargo run --example verify -- bundle.zip --key OPERATOR_PUBLIC_KEY_HEX
//! ```
//!
//! Exit codes as `ai-audit verify`: 0 pass under the pinned key, 1 the evidence fails, 2 usage or
//! unreadable input, 3 consistent but no key pinned (never a bare PASS).
#![expect(clippy::print_stdout, reason = "an example prints its report")]

use std::process::ExitCode;

use ai_audit::VerifyingKey;
use ai_audit::verify::{VerifyOptions, verify_bundle};

const USAGE: &str = "\
usage: verify BUNDLE.zip [--key OPERATOR_PUBLIC_KEY_HEX]

Verifies an evidence bundle offline against the operator's public key, pinned with --key or
AI_AUDIT_VERIFY_KEY (the key inside the bundle proves nothing).

Exit codes: 0 pass under the pinned key, 1 the evidence fails, 2 usage error or unreadable
input, 3 consistent but no key pinned.";

/// What the command line asked for.
enum Request {
    Help,
    Verify { path: String, key: Option<String> },
}

fn parse(args: impl Iterator<Item = String>) -> Result<Request, String> {
    let mut args = args;
    let mut path = None;
    let mut key = std::env::var("AI_AUDIT_VERIFY_KEY").ok();
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            return Ok(Request::Help);
        } else if a == "--key" {
            let k = args
                .next()
                .ok_or("--key needs a value: the public key as 64 hex characters")?;
            key = Some(k);
        } else if let Some(k) = a.strip_prefix("--key=") {
            key = Some(k.to_owned());
        } else if a.starts_with('-') {
            return Err(format!("unknown option {a}"));
        } else if path.is_some() {
            return Err(format!("one bundle at a time; {a:?} is a second"));
        } else {
            path = Some(a);
        }
    }
    let path = path.ok_or("no bundle given")?;
    Ok(Request::Verify { path, key })
}

fn main() -> ExitCode {
    let (path, key) = match parse(std::env::args().skip(1)) {
        Ok(Request::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Request::Verify { path, key }) => (path, key),
        Err(why) => {
            eprintln!("error: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut opts = VerifyOptions::default();
    if let Some(k) = key {
        match VerifyingKey::from_hex(&k) {
            Ok(k) => opts.key = Some(k),
            Err(e) => {
                eprintln!("error: the pinned key is unusable: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let file = match std::fs::File::open(&path) {
        Ok(f) => std::io::BufReader::new(f),
        Err(e) => {
            eprintln!("error: cannot open {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match verify_bundle(file, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let fp = report.key().map(|k| k.fingerprint()).unwrap_or_default();
    println!(
        "{}: {path}: {} receipts, key {fp}{}",
        report.verdict().as_str().to_uppercase(),
        report.chain.receipts,
        if report.pinned {
            " (pinned)"
        } else {
            " (NOT pinned)"
        }
    );
    for f in &report.chain.findings {
        println!("  {f}");
    }
    ExitCode::from(u8::try_from(report.verdict().exit_code()).unwrap_or(1))
}
