//! Cross-checks against Python: bundles we export are accepted by ai-audit-trail 0.4.7's
//! `verify_evidence_package` and CLI, and by the `verify.py` we ship inside them.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ai_audit::SealingMode;

use support::{
    RawEntry, VECTOR_PK, our_export_of_the_vectors, raw_zip, reference_python, resign, vector_key,
    zip_members,
};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The bundle's `verify.py`, written into `dir`.
fn bundled_verify_py(dir: &Path, members: &[(String, Vec<u8>)]) -> PathBuf {
    let script = &members.iter().find(|(n, _)| n == "verify.py").unwrap().1;
    write(dir, "verify.py", script)
}

fn run(python: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(python).args(args).output().unwrap();
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), t)
}

#[test]
fn our_bundle_is_accepted_by_the_python_library_and_its_cli() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "ours.zip", &our_export_of_the_vectors());
    let p = p.to_str().unwrap();
    let (rc, out) = run(
        &python,
        &[
            "-c",
            "import sys; from ai_audit.export import verify_evidence_package as v; sys.exit(0 if v(sys.argv[1]) is True else 1)",
            p,
        ],
    );
    assert_eq!(rc, 0, "verify_evidence_package rejected our bundle: {out}");
    let (rc, out) = run(&python, &["-m", "ai_audit", "verify", p]);
    assert_eq!(rc, 0, "python -m ai_audit verify: {out}");
    assert!(out.contains("PASS"), "{out}");
}

#[test]
fn our_verify_py_passes_our_bundle_and_fails_an_edited_resigned_copy() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = our_export_of_the_vectors();
    let mut members = zip_members(&bundle);
    let script = bundled_verify_py(dir.path(), &members);
    let script = script.to_str().unwrap();
    let good = write(dir.path(), "ours.zip", &bundle);
    let (rc, out) = run(
        &python,
        &[script, "--key", VECTOR_PK, good.to_str().unwrap()],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(out.starts_with("PASS"), "{out}");
    let (rc, out) = run(&python, &[script, good.to_str().unwrap()]);
    assert_eq!(rc, 3, "unpinned: {out}");
    assert!(
        out.contains("NOT PINNED") && out.contains("8a88e3dd7409f195"),
        "{out}"
    );

    // One receipt edited (index 100: action escalate -> allow), manifest re-signed with the
    // genuine key, so only the per-receipt checks can catch it.
    for (n, b) in &mut members {
        if n == "receipts.jsonl" {
            let mut lines: Vec<Vec<u8>> = b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect();
            let l = String::from_utf8(lines[100].clone()).unwrap();
            let edited = l.replacen("\"action\":\"escalate\"", "\"action\":\"allow\"", 1);
            assert_ne!(edited, l, "line 100 has action escalate");
            lines[100] = edited.into_bytes();
            *b = lines.join(&b'\n');
        }
    }
    resign(&mut members, &vector_key());
    let entries: Vec<RawEntry> = members.iter().map(|(n, b)| RawEntry::file(n, b)).collect();
    let bad = write(dir.path(), "edited.zip", &raw_zip(&entries));
    let (rc, out) = run(
        &python,
        &[script, "--key", VECTOR_PK, bad.to_str().unwrap()],
    );
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("index 100") && out.contains("signature"),
        "{out}"
    );
    // The Python library's CLI, which checks only the manifest, passes it (W02); ours does not.
    let (rc, _) = run(
        &python,
        &["-m", "ai_audit", "verify", bad.to_str().unwrap()],
    );
    assert_eq!(rc, 0);
    let o = Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(["verify", bad.to_str().unwrap(), "--key", VECTOR_PK])
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn our_verify_py_works_on_an_extracted_bundle_directory() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (n, b) in zip_members(&our_export_of_the_vectors()) {
        write(dir.path(), &n, &b);
    }
    let script = dir.path().join("verify.py");
    let (rc, out) = run(&python, &[script.to_str().unwrap(), "--key", VECTOR_PK]);
    assert_eq!(rc, 0, "{out}");
}

/// A bundle of receipts `[start, end)` of a fresh tenant, with the checkpoint of `cp_size`
/// leaves (and the tree prefix of a partial export).
/// Writes the `verify.py` of a bundle sealed in `mode` into `dir`.
fn verify_py_of(dir: &Path, mode: SealingMode) -> PathBuf {
    let script = zip_members(&checkpointed_bundle(0, 40, 40, mode))
        .into_iter()
        .find(|(n, _)| n == "verify.py")
        .unwrap()
        .1;
    write(dir, "verify.py", &script)
}

/// In `Checkpointed` sealing mode, receipts 10..30 are unsigned (sealed by a second auditor).
fn checkpointed_bundle(start: u64, end: u64, cp_size: u64, mode: SealingMode) -> Vec<u8> {
    tenant_bundle("acme", start, end, cp_size, mode)
}

/// As [`checkpointed_bundle`], of the tenant `tenant`.
fn tenant_bundle(tenant: &str, start: u64, end: u64, cp_size: u64, mode: SealingMode) -> Vec<u8> {
    use ai_audit::bundle::{Anchor, CHECKPOINT, EvidenceWriter, ExportMeta, TREE_PREFIX};
    use ai_audit::store::{self, MemoryStore, Store};
    use ai_audit::{Auditor, Receipt, TenantId, log};
    let key = vector_key();
    let s: std::sync::Arc<dyn Store> = std::sync::Arc::new(MemoryStore::new());
    let auditor = |mode| {
        Auditor::builder()
            .signer(key.clone())
            .shared_store(std::sync::Arc::clone(&s))
            .sealing(mode)
            .build()
            .unwrap()
    };
    let mut a = auditor(SealingMode::PerReceipt);
    for i in 0..40 {
        if mode == SealingMode::Checkpointed && (i == 10 || i == 30) {
            a.shutdown().unwrap();
            a = auditor(if i == 10 {
                mode
            } else {
                SealingMode::PerReceipt
            });
        }
        a.emit(Receipt::new(tenant).with_input_text(&format!("{i} \u{2028}")))
            .unwrap();
    }
    a.shutdown().unwrap();
    let t = TenantId::new(tenant);
    let (cp, prefix) =
        log::bundle_material(s.as_ref(), &t, start, cp_size, "audit.example.com", &key).unwrap();
    let mut meta = ExportMeta::new(tenant).with_member(CHECKPOINT, cp.note.into_bytes());
    if let Some(p) = prefix {
        let prev = store::receipts(s.as_ref(), &t, start - 1..start)
            .next()
            .unwrap()
            .unwrap();
        meta = meta
            .with_member(TREE_PREFIX, p.to_json())
            .with_anchor(Anchor::new(start, hex::encode(prev.receipt_hash)));
    }
    let mut w = EvidenceWriter::new(Vec::new(), &key, meta);
    for e in store::receipts(s.as_ref(), &t, start..end) {
        w.push_line(&e.unwrap().line).unwrap();
    }
    w.finish().unwrap().output
}

#[test]
fn our_verify_py_checks_the_checkpoint_and_the_python_library_accepts_the_bundle() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = verify_py_of(dir.path(), SealingMode::PerReceipt);
    let script = script.to_str().unwrap();
    for (start, end, cp, want) in [
        (0, 40, 40, 0),
        (17, 40, 40, 0),
        (1, 33, 33, 0),
        (0, 39, 40, 1),
        (5, 40, 39, 1),
    ] {
        let p = write(
            dir.path(),
            "cp.zip",
            &checkpointed_bundle(start, end, cp, SealingMode::PerReceipt),
        );
        let (rc, out) = run(
            &python,
            &[script, "--key", VECTOR_PK, "-v", p.to_str().unwrap()],
        );
        assert_eq!(
            rc, want,
            "[{start}, {end}) with a checkpoint of {cp}: {out}"
        );
        if want == 0 {
            assert!(out.contains("[OK] checkpoint.txt"), "{out}");
            let (rc, out) = run(
                &python,
                &[
                    "-c",
                    "import sys; from ai_audit.export import verify_evidence_package as v; sys.exit(0 if v(sys.argv[1]) is True else 1)",
                    p.to_str().unwrap(),
                ],
            );
            assert_eq!(rc, 0, "verify_evidence_package: {out}");
        } else {
            assert!(out.contains("checkpoint.txt"), "{out}");
        }
    }
}

#[test]
fn our_verify_py_accepts_unsigned_checkpointed_receipts_only_under_their_checkpoint() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mode = SealingMode::Checkpointed;
    let script = verify_py_of(dir.path(), mode);
    let script = script.to_str().unwrap();
    // Receipts 10..30 are unsigned: whole, partial from an unsigned anchor, partial from a
    // signed one; then checkpoints that do not cover exactly the receipts.
    for (start, end, cp, want, unsigned) in [
        (0, 40, 40, 0, 20),
        (15, 40, 40, 0, 15),
        (31, 40, 40, 0, 0),
        (0, 39, 40, 1, 20),
        (12, 28, 27, 1, 16),
    ] {
        let p = write(
            dir.path(),
            "cp.zip",
            &checkpointed_bundle(start, end, cp, mode),
        );
        // Without the opt-in, unsigned receipts (or an unsigned anchor) never pass.
        let (rc, out) = run(&python, &[script, "--key", VECTOR_PK, p.to_str().unwrap()]);
        let anchor_unsigned = (11..=30).contains(&start);
        assert_eq!(
            rc,
            if unsigned > 0 || anchor_unsigned {
                1
            } else {
                want
            },
            "[{start}, {end}) without --accept-checkpointed: {out}"
        );
        let (rc, out) = run(
            &python,
            &[
                script,
                "--key",
                VECTOR_PK,
                "-v",
                "--accept-checkpointed",
                p.to_str().unwrap(),
            ],
        );
        assert_eq!(
            rc, want,
            "[{start}, {end}) with a checkpoint of {cp}: {out}"
        );
        if want == 0 && unsigned > 0 {
            assert!(
                out.contains(&format!(
                    "{unsigned} unsigned (Checkpointed) receipts are authenticated"
                )),
                "{out}"
            );
        } else if want == 1 {
            assert!(
                out.contains(&format!("{unsigned} receipts carry no signature")),
                "{out}"
            );
        }
    }
}

#[test]
fn our_verify_py_reports_an_anchor_that_names_another_tenant() {
    use ai_audit::bundle::{Anchor, EvidenceWriter, ExportMeta};
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lines = std::fs::read(support::vectors().join("receipts.jsonl")).unwrap();
    let lines: Vec<&[u8]> = lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let prev = ai_audit::canonical::parse_line(lines[19])
        .unwrap()
        .receipt_hash;
    let key = vector_key();
    let meta = ExportMeta::new("acme")
        .with_exported_at(ai_audit::Timestamp::parse("2026-03-02T09:30:00.5Z").unwrap())
        .with_anchor(Anchor::new(20, prev.as_str()));
    let mut w = EvidenceWriter::new(Vec::new(), &key, meta);
    for l in &lines[20..] {
        w.push_line(l).unwrap();
    }
    let bundle = w.finish().unwrap().output;
    let mut members = zip_members(&bundle);
    let script = bundled_verify_py(dir.path(), &members);
    let script = script.to_str().unwrap();
    let good = write(dir.path(), "part.zip", &bundle);
    let (rc, out) = run(
        &python,
        &[script, "--key", VECTOR_PK, good.to_str().unwrap()],
    );
    assert_eq!(rc, 0, "{out}");
    for (n, b) in &mut members {
        if n == "anchor.json" {
            let text = String::from_utf8(b.clone()).unwrap();
            let edited = text.replace("\"acme\"", "\"globex\"");
            assert_ne!(edited, text, "anchor.json names the tenant: {text}");
            *b = edited.into_bytes();
        }
    }
    resign(&mut members, &key);
    let entries: Vec<RawEntry> = members.iter().map(|(n, b)| RawEntry::file(n, b)).collect();
    let bad = write(dir.path(), "other-tenant.zip", &raw_zip(&entries));
    let (rc, out) = run(
        &python,
        &[script, "--key", VECTOR_PK, bad.to_str().unwrap()],
    );
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("anchor.json names tenant 'globex'"), "{out}");
}

#[test]
fn our_verify_py_checks_the_escaped_origin_of_a_tenant_id_with_newlines() {
    let Some(python) = reference_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = verify_py_of(dir.path(), SealingMode::Checkpointed);
    let script = script.to_str().unwrap();
    let tenant = "victim\n1\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s= 100%";
    for (start, mode) in [
        (0, SealingMode::Checkpointed),
        (12, SealingMode::PerReceipt),
    ] {
        let p = write(
            dir.path(),
            "t.zip",
            &tenant_bundle(tenant, start, 40, 40, mode),
        );
        let mut args = vec![script, "--key", VECTOR_PK, "-v", p.to_str().unwrap()];
        if mode == SealingMode::Checkpointed {
            args.push("--accept-checkpointed");
        }
        let (rc, out) = run(&python, &args);
        assert_eq!(rc, 0, "{mode:?} from {start}: {out}");
        assert!(out.contains("[OK] checkpoint.txt"), "{out}");
    }
    // The same bundle, its checkpoint replaced (and the manifest re-signed) by notes the key
    // signed by hand: over the unescaped origin (extra lines), and over an origin that names
    // the tenant unescaped on one line. Both fail.
    let key = vector_key();
    let bundle = tenant_bundle(tenant, 0, 40, 40, SealingMode::PerReceipt);
    let members = zip_members(&bundle);
    let note = &members
        .iter()
        .find(|(n, _)| n == "checkpoint.txt")
        .unwrap()
        .1;
    let note = String::from_utf8(note.clone()).unwrap();
    let (head, _) = note.split_once("\n\n").unwrap();
    let (_, size_root) = head.split_once('\n').unwrap();
    let sign_note = |origin: &str| {
        let body = format!("{origin}\n{size_root}\n");
        let mut blob = key
            .verifying_key()
            .key_id("audit.example.com")
            .to_bytes()
            .to_vec();
        blob.extend_from_slice(&key.sign(body.as_bytes()));
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(blob);
        format!("{body}\n\u{2014} audit.example.com {b64}\n")
    };
    for (name, origin, says) in [
        (
            "raw-lines",
            format!("audit.example.com/{tenant}"),
            "exactly the origin, size and root lines",
        ),
        (
            "unescaped-percent",
            format!("audit.example.com/{}", tenant.replace('\n', "%0A")),
            "is of log",
        ),
    ] {
        let mut members = members.clone();
        for (n, b) in &mut members {
            if n == "checkpoint.txt" {
                *b = sign_note(&origin).into_bytes();
            }
        }
        resign(&mut members, &key);
        let entries: Vec<RawEntry> = members.iter().map(|(n, b)| RawEntry::file(n, b)).collect();
        let p = write(dir.path(), &format!("{name}.zip"), &raw_zip(&entries));
        let (rc, out) = run(&python, &[script, "--key", VECTOR_PK, p.to_str().unwrap()]);
        assert_eq!(rc, 1, "{name}: {out}");
        assert!(out.contains(says), "{name}: {out}");
    }
}
