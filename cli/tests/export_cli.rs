//! `ai-audit export`: from the embedded store to a bundle that `ai-audit verify` passes.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;
use std::path::Path;
use std::process::{Command, Output};
use support::text;

use ai_audit::store::SqliteStore;
use ai_audit::{Auditor, Receipt, SigningKey};

const SEED: &str = "0505050505050505050505050505050505050505050505050505050505050505";

fn ai_audit(args: &[&str], seed: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(args)
        .env("AI_AUDIT_SIGNING_KEY", seed)
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .env_remove("AI_AUDIT_DATA_DIR")
        .output()
        .unwrap()
}

fn fill(db: &Path) -> String {
    let key = SigningKey::from_hex(SEED).unwrap();
    let public = key.verifying_key().to_hex();
    let a = Auditor::builder()
        .signer(key)
        .store(SqliteStore::open(db).unwrap())
        .build()
        .unwrap();
    for i in 0..300 {
        let tenant = if i % 3 == 0 { "other" } else { "acme" };
        a.emit(Receipt::new(tenant).with_trace(format!("t{i}")))
            .unwrap();
    }
    a.shutdown().unwrap();
    public
}

#[test]
fn a_whole_chain_and_a_range_export_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let public = fill(&db);
    let (db, out) = (db.to_str().unwrap(), dir.path().join("acme.zip"));
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "acme",
            "--db",
            db,
            "-o",
            out.to_str().unwrap(),
        ],
        SEED,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("exported 200 receipts"), "{}", text(&o));
    let v = ai_audit(&["verify", out.to_str().unwrap(), "--key", &public], SEED);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    let part = dir.path().join("part.zip");
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "acme",
            "--db",
            db,
            "--from",
            "50",
            "--to",
            "120",
            "-o",
            part.to_str().unwrap(),
        ],
        SEED,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = ai_audit(
        &["verify", part.to_str().unwrap(), "--key", &public, "--json"],
        SEED,
    );
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
    assert!(text(&v).contains("\"receipts\":70"), "{}", text(&v));
}

#[test]
fn export_refuses_a_key_that_did_not_sign_the_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    fill(&db);
    let other = "06".repeat(32);
    let out = dir.path().join("x.zip");
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "acme",
            "--db",
            db.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        &other,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("was not signed by the configured key"),
        "{}",
        text(&o)
    );
}

#[test]
fn export_explains_a_missing_store_tenant_or_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let out = dir.path().join("x.zip");
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "acme",
            "--db",
            db.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        SEED,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no store at"), "{}", text(&o));
    fill(&db);
    let db = db.to_str().unwrap();
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "nobody",
            "--db",
            db,
            "-o",
            out.to_str().unwrap(),
        ],
        SEED,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains(r#"tenants: "acme", "other""#),
        "{}",
        text(&o)
    );
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "acme",
            "--db",
            db,
            "--from",
            "500",
            "-o",
            out.to_str().unwrap(),
        ],
        SEED,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("selects no receipts"), "{}", text(&o));
    let o = ai_audit(
        &[
            "export",
            "--tenant",
            "acme",
            "--db",
            db,
            "--from",
            "yesterday",
            "-o",
            out.to_str().unwrap(),
        ],
        SEED,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("sequence number or a timestamp"),
        "{}",
        text(&o)
    );
}
