//! `ai-audit checkpoint`, `prove`, `verify-proof` and `verify --since` end to end.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;
use std::path::Path;
use std::process::{Command, Output};
use support::text;

use ai_audit::store::SqliteStore;
use ai_audit::{Auditor, Receipt, ReceiptId, SealingMode, SigningKey};

const SEED: &str = "0606060606060606060606060606060606060606060606060606060606060606";

fn ai_audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(args)
        .env("AI_AUDIT_SIGNING_KEY", SEED)
        .env("AI_AUDIT_LOG_NAME", "audit.example.com")
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .env_remove("AI_AUDIT_DATA_DIR")
        .output()
        .unwrap()
}

/// Exports tenant acme's whole chain to `out`.
fn export(db: &str, out: &str) {
    let o = ai_audit(&["export", "--tenant", "acme", "--db", db, "-o", out]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Writes the standalone proof of receipt `id` of tenant acme to `out`.
fn prove(db: &str, id: &str, out: &str) {
    let o = ai_audit(&[
        "prove",
        "--tenant",
        "acme",
        "--receipt",
        id,
        "--db",
        db,
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The public key of [`SEED`], in hex.
fn public() -> String {
    SigningKey::from_hex(SEED).unwrap().verifying_key().to_hex()
}

/// Emits `n` receipts of tenant acme and returns their ids.
fn emit(db: &Path, n: usize) -> Vec<ReceiptId> {
    emit_sealed(db, n, SealingMode::PerReceipt)
}

fn emit_sealed(db: &Path, n: usize, mode: SealingMode) -> Vec<ReceiptId> {
    let a = Auditor::builder()
        .signer(SigningKey::from_hex(SEED).unwrap())
        .store(SqliteStore::open(db).unwrap())
        .log_name("audit.example.com")
        .sealing(mode)
        .build()
        .unwrap();
    let ids = (0..n)
        .map(|_| a.emit(Receipt::new("acme")).unwrap().receipt_id)
        .collect();
    a.shutdown().unwrap();
    ids
}

#[test]
fn checkpoint_prove_verify_proof_and_verify_since() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let public = public();
    let ids = emit(&db, 50);
    let dbs = db.to_str().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // The latest checkpoint (signed at shutdown) is printed as a signed note.
    let o = ai_audit(&["checkpoint", "--tenant", "acme", "--db", dbs]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let held = String::from_utf8(o.stdout).unwrap();
    assert!(held.starts_with("audit.example.com/acme\n50\n"), "{held}");
    std::fs::write(p("held.checkpoint"), &held).unwrap();

    // A proof of receipt 7, checked offline: pass, other key, no key, unreadable.
    prove(dbs, ids[7].as_str(), &p("r.tlog-proof"));
    let o = ai_audit(&["verify-proof", &p("r.tlog-proof"), "--key", &public]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).starts_with("PASS: receipt"), "{}", text(&o));
    let other = SigningKey::from_hex(&"02".repeat(32))
        .unwrap()
        .verifying_key()
        .to_hex();
    let o = ai_audit(&["verify-proof", &p("r.tlog-proof"), "--key", &other]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = ai_audit(&["verify-proof", &p("r.tlog-proof")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).starts_with("UNPINNED"), "{}", text(&o));
    std::fs::write(p("bad.tlog-proof"), "not a proof").unwrap();
    let o = ai_audit(&["verify-proof", &p("bad.tlog-proof"), "--key", &public]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A proof whose path was altered fails.
    let proof = std::fs::read_to_string(p("r.tlog-proof")).unwrap();
    let mut lines: Vec<String> = proof.split('\n').map(str::to_owned).collect();
    lines[3] = lines[3].replacen(|c: char| c.is_ascii_alphabetic(), "A", 1);
    let altered = lines.join("\n");
    assert_ne!(altered, proof);
    std::fs::write(p("altered.tlog-proof"), altered).unwrap();
    let o = ai_audit(&["verify-proof", &p("altered.tlog-proof"), "--key", &public]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // More receipts; the new bundle extends the held checkpoint. A truncated one does not.
    emit(&db, 10);
    export(dbs, &p("new.zip"));
    let o = ai_audit(&[
        "verify",
        &p("new.zip"),
        "--key",
        &public,
        "--since",
        &p("held.checkpoint"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ai_audit(&[
        "export",
        "--tenant",
        "acme",
        "--db",
        dbs,
        "--to",
        "49",
        "-o",
        &p("cut.zip"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ai_audit(&["verify", &p("cut.zip"), "--key", &public]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ai_audit(&[
        "verify",
        &p("cut.zip"),
        "--key",
        &public,
        "--since",
        &p("held.checkpoint"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("consistency"), "{}", text(&o));
    // --since needs a pinned key and a readable, genuine checkpoint.
    let o = ai_audit(&["verify", &p("new.zip"), "--since", &p("held.checkpoint")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    std::fs::write(p("forged.checkpoint"), held.replacen("\n50\n", "\n49\n", 1)).unwrap();
    let o = ai_audit(&[
        "verify",
        &p("new.zip"),
        "--key",
        &public,
        "--since",
        &p("forged.checkpoint"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A proof carries a checkpoint: --since takes it (the proof of receipt 7 was made at
    // size 50). A bundle is refused with how to get its checkpoint out.
    let since =
        |file: &str| ai_audit(&["verify", &p("new.zip"), "--key", &public, "--since", file]);
    let o = since(&p("r.tlog-proof"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = since(&p("cut.zip"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("checkpoint.txt"), "{}", text(&o));
    // A proof with CRLF line ends is refused as such.
    std::fs::write(p("crlf.tlog-proof"), proof.replace('\n', "\r\n")).unwrap();
    let o = ai_audit(&["verify-proof", &p("crlf.tlog-proof"), "--key", &public]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("dos2unix"), "{}", text(&o));
}

#[test]
fn checkpointed_receipts_export_verify_and_prove_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.db");
    let dbs = db.to_str().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let public = public();
    let ids = emit_sealed(&db, 30, SealingMode::Checkpointed);
    emit(&db, 5);

    export(dbs, &p("all.zip"));
    // Unsigned receipts are accepted only on request.
    let o = ai_audit(&["verify", &p("all.zip"), "--key", &public]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unsigned=30"), "{}", text(&o));
    assert!(text(&o).contains("--accept-checkpointed"), "{}", text(&o));
    let o = ai_audit(&[
        "verify",
        &p("all.zip"),
        "--key",
        &public,
        "--accept-checkpointed",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "5 signatures, and 30 unsigned (Checkpointed) receipts authenticated by the checkpoint"
        ),
        "{}",
        text(&o)
    );
    let o = ai_audit(&[
        "verify",
        &p("all.zip"),
        "--key",
        &public,
        "--json",
        "--accept-checkpointed",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["checkpoint_covered"], 30, "{v}");
    // Exporting under another key is refused: it signed neither the receipts nor a checkpoint.
    let o = Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args([
            "export",
            "--tenant",
            "acme",
            "--db",
            dbs,
            "-o",
            &p("other.zip"),
        ])
        .env("AI_AUDIT_SIGNING_KEY", "02".repeat(32))
        .env_remove("AI_AUDIT_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // A partial export whose anchor (the receipt before it) is unsigned: the findings say how
    // to accept it, and with that it passes.
    let o = ai_audit(&[
        "export",
        "--tenant",
        "acme",
        "--db",
        dbs,
        "--from",
        "10",
        "--to",
        "20",
        "-o",
        &p("part.zip"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ai_audit(&["verify", &p("part.zip"), "--key", &public]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the anchor receipt in tree_prefix.json is unsigned"),
        "{}",
        text(&o)
    );
    let unsigned: Vec<String> = text(&o)
        .lines()
        .filter(|l| l.contains("unsigned:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(unsigned.len(), 10, "{}", text(&o));
    for line in unsigned {
        assert!(line.contains("--accept-checkpointed"), "{line}");
    }
    let o = ai_audit(&[
        "verify",
        &p("part.zip"),
        "--key",
        &public,
        "--accept-checkpointed",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The receipts alone: the unsigned ones are findings.
    let lines: Vec<u8> = support::zip_members(&std::fs::read(p("all.zip")).unwrap())
        .into_iter()
        .find(|(n, _)| n == "receipts.jsonl")
        .unwrap()
        .1;
    std::fs::write(p("receipts.jsonl"), lines).unwrap();
    let o = ai_audit(&["verify", &p("receipts.jsonl"), "--key", &public]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unsigned=30"), "{}", text(&o));

    // An unsigned receipt is proven by inclusion under the checkpoint.
    prove(dbs, ids[12].as_str(), &p("r.tlog-proof"));
    let o = ai_audit(&["verify-proof", &p("r.tlog-proof"), "--key", &public]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The failure says how to accept it, not to run the command just run.
    assert!(text(&o).contains("--accept-checkpointed"), "{}", text(&o));
    assert!(!text(&o).contains("ai-audit prove"), "{}", text(&o));
    let o = ai_audit(&[
        "verify-proof",
        &p("r.tlog-proof"),
        "--key",
        &public,
        "--accept-checkpointed",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_bad_log_name_or_an_unknown_tenant_signs_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    emit(&db, 3);
    let db = db.to_str().unwrap();
    let latest = || text(&ai_audit(&["checkpoint", "--tenant", "acme", "--db", db]));
    let before = latest();
    let out = dir.path().join("x.zip");
    let out = out.to_str().unwrap();
    for bad in ["a/b", "bad name", "", "a+b", "a\nb"] {
        for args in [
            vec!["checkpoint", "--tenant", "acme", "--db", db, "--sign"],
            vec!["export", "--tenant", "acme", "--db", db, "-o", out],
        ] {
            let mut args = args.clone();
            args.extend(["--log-name", bad]);
            let o = ai_audit(&args);
            assert_eq!(o.status.code(), Some(2), "{bad:?} {args:?}: {}", text(&o));
            assert!(text(&o).contains("cannot be a log name"), "{}", text(&o));
        }
    }
    assert_eq!(latest(), before, "a bad log name stored a checkpoint");
    assert!(!Path::new(out).exists());
    // A tenant without receipts (a typo) gets no signed checkpoint of an empty tree.
    let o = ai_audit(&["checkpoint", "--tenant", "Acme", "--db", db, "--sign"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("has no receipts"), "{}", text(&o));
    assert!(text(&o).contains(r#"tenants: "acme""#), "{}", text(&o));
    // A store with no tenants at all may be a copy made without its -wal file: said so.
    let bare = dir.path().join("bare.db");
    drop(SqliteStore::open(&bare).unwrap());
    let o = ai_audit(&[
        "checkpoint",
        "--tenant",
        "acme",
        "--db",
        bare.to_str().unwrap(),
        "--sign",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("audit.db-wal"), "{}", text(&o));
    let o = ai_audit(&["checkpoint", "--tenant", "Acme", "--db", db]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A file that is not a store (empty, or text) is refused, and left as it was.
    for (name, content) in [("empty.db", &b""[..]), ("notes.db", b"not a database\n")] {
        let f = dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        let f = f.to_str().unwrap();
        for args in [
            vec!["checkpoint", "--tenant", "acme", "--db", f],
            vec!["export", "--tenant", "acme", "--db", f, "-o", out],
            vec![
                "prove",
                "--tenant",
                "acme",
                "--receipt",
                "x",
                "--db",
                f,
                "-o",
                out,
            ],
        ] {
            let o = ai_audit(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
            assert!(
                text(&o).contains("is not an ai-audit store"),
                "{}",
                text(&o)
            );
        }
        assert_eq!(std::fs::read(f).unwrap(), content, "{name} was written to");
    }
    // A line limit past 1 GiB is a usage error, not an allocation failure on a long line.
    let o = ai_audit(&[
        "verify",
        "/dev/null",
        "--max-line-bytes",
        "18446744073709551615",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("out of range"), "{}", text(&o));
}

#[test]
fn checkpoint_prints_the_stored_note_only_if_it_verifies_under_a_pinned_key() {
    use ai_audit::note::Checkpoint;
    use ai_audit::store::tree::StoredCheckpoint;
    use ai_audit::store::{Store, WriteTxn};
    use ai_audit::{TenantId, note};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    emit(&db, 3);
    let dbs = db.to_str().unwrap();
    let public = public();
    let other = SigningKey::from_seed(&[9; 32]);
    let show = |key: &str| ai_audit(&["checkpoint", "--tenant", "acme", "--db", dbs, "--key", key]);
    let o = show(&public);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8(o.stdout)
            .unwrap()
            .starts_with("audit.example.com/acme\n3\n")
    );
    let o = show(&other.verifying_key().to_hex());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    // A note planted in the store (another key's, over a made-up root) is not printed.
    let t = TenantId::new("acme");
    let note = Checkpoint::new(note::origin("audit.example.com", &t), 4, [7; 32])
        .sign("audit.example.com", &other)
        .unwrap();
    let planted = StoredCheckpoint {
        size: 4,
        root: [7; 32],
        note,
    };
    let s = SqliteStore::open(&db).unwrap();
    s.write(&mut |txn: &mut dyn WriteTxn| txn.tree().unwrap().put_checkpoint(&t, &planted))
        .unwrap();
    drop(s);
    let o = show(&public);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("the store was altered"), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    // Without a key it is printed, with a note saying it was not checked.
    let o = ai_audit(&["checkpoint", "--tenant", "acme", "--db", dbs]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("not checked"), "{}", text(&o));
}
