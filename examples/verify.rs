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

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut key = std::env::var("AI_AUDIT_VERIFY_KEY").ok();
    while let Some(a) = args.next() {
        if a == "--key" {
            key = args.next();
        } else {
            path = Some(a);
        }
    }
    let Some(path) = path else {
        eprintln!("usage: verify BUNDLE.zip --key OPERATOR_PUBLIC_KEY_HEX");
        return ExitCode::from(2);
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
