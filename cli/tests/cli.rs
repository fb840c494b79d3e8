//! The `ai-audit` binary: verdicts, exit codes and messages.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::process::{Command, Output};

use support::{VECTOR_PK, ai_audit, bundle_receipts, text, vectors};

fn assert_no_panic(o: &Output) {
    let t = text(o);
    assert!(!t.contains("panicked"), "{t}");
    assert_ne!(o.status.code(), Some(101), "{t}");
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn genuine_receipts_pass_with_the_count() {
    let file = vectors().join("receipts.jsonl");
    let o = ai_audit(&["verify", file.to_str().unwrap(), "--key", VECTOR_PK]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("PASS"), "{out}");
    assert!(out.contains("1000 receipts"), "{out}");
    assert!(out.contains("tip: 4011f40acf8effffb5457a80d328d4fd348a135b39dfdc67733bba280d3c01bb"));
}

#[test]
fn tampered_file_fails_naming_index_receipt_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_tmp(
        &dir,
        "edit.jsonl",
        &bundle_receipts("tampered_field_edit.zip"),
    );
    let o = ai_audit(&["verify", &f, "--key", VECTOR_PK]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("FAIL"), "{out}");
    assert!(
        out.contains("index 100, receipt bbdea9ecca37c7c32103b22936a7cdea: signature:"),
        "{out}"
    );
    assert!(out.contains("self_hash"), "{out}");
}

#[test]
fn json_report_gives_the_same_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_tmp(
        &dir,
        "mid.jsonl",
        &bundle_receipts("tampered_deleted_middle.zip"),
    );
    let o = ai_audit(&["verify", &f, "--key", VECTOR_PK, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["receipts"], 999);
    assert_eq!(v["findings"][0]["check"], "link");
    assert_eq!(v["findings"][0]["index"], 500);
    assert_eq!(
        v["findings"][0]["receipt_id"],
        "20bade0745d42c11d752b6962edfabde"
    );
    assert!(v["findings"][0]["computed"].is_string());
    assert!(v["findings"][0]["claimed"].is_string());

    let good = vectors().join("receipts.jsonl");
    let o = ai_audit(&[
        "verify",
        good.to_str().unwrap(),
        "--key",
        VECTOR_PK,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["signatures_verified"], 1000);
}

#[test]
fn every_tampered_vector_fails_except_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    for (bundle, want) in [
        ("tampered_field_edit.zip", 1),
        ("tampered_field_edit_stale_manifest.zip", 1),
        ("tampered_deleted_middle.zip", 1),
        ("tampered_deleted_first.zip", 1),
        ("tampered_swapped.zip", 1),
        ("resigned_attacker_key.zip", 1),
        ("tampered_deleted_last10.zip", 0),
    ] {
        let f = write_tmp(&dir, "x.jsonl", &bundle_receipts(bundle));
        let o = ai_audit(&["verify", &f, "--key", VECTOR_PK]);
        assert_eq!(o.status.code(), Some(want), "{bundle}: {}", text(&o));
    }
}

#[test]
fn no_pinned_key_exits_3_and_never_says_pass() {
    let file = vectors().join("receipts.jsonl");
    let o = ai_audit(&["verify", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("UNPINNED"), "{out}");
    assert!(!out.contains("PASS"), "{out}");
}

#[test]
fn key_from_environment_and_file_are_pinned() {
    let file = vectors().join("receipts.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(["verify", file.to_str().unwrap()])
        .env("AI_AUDIT_VERIFY_KEY", VECTOR_PK)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = tempfile::tempdir().unwrap();
    let kf = write_tmp(&dir, "key.hex", format!("{VECTOR_PK}\n").as_bytes());
    let o = ai_audit(&["verify", file.to_str().unwrap(), "--key-file", &kf]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_saved_gen_key_output_an_env_file_or_a_bom_still_pins_the_public_key() {
    let file = vectors().join("receipts.jsonl");
    let file = file.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The shape `ai-audit gen-key > keys.env` saves: the secret seed first, then the public key.
    let saved = format!(
        "# Ed25519 signing key (KEEP SECRET)\nAI_AUDIT_SIGNING_KEY={}\n\n# Public verification key\nAI_AUDIT_VERIFY_KEY={VECTOR_PK}\n",
        "11".repeat(32)
    );
    let other = "11".repeat(32);
    // (file, content, exit code, what the output says or must not say)
    for (name, content, code, says) in [
        // The saved gen-key output holds the secret too: said so.
        (
            "gen-key.env",
            saved,
            0,
            Some("also holds the secret signing key"),
        ),
        (
            "export.env",
            format!("export AI_AUDIT_VERIFY_KEY=\"{VECTOR_PK}\"\n"),
            0,
            None,
        ),
        ("bom.hex", format!("\u{feff}{VECTOR_PK}\r\n"), 0, None),
        // Which key is meant is unclear: refused, never the first (or last) one silently.
        (
            "two.env",
            format!("AI_AUDIT_VERIFY_KEY={other}\nAI_AUDIT_VERIFY_KEY={VECTOR_PK}\n"),
            2,
            Some("keep only the key to pin"),
        ),
        (
            "both.env",
            format!("{VECTOR_PK}\nAI_AUDIT_VERIFY_KEY={other}\n"),
            2,
            Some("keep only the key to pin"),
        ),
        // Not a key: the message says what is expected.
        (
            "b64",
            "bG9yZW0gaXBzdW0=\n".to_owned(),
            2,
            Some("AI_AUDIT_VERIFY_KEY value"),
        ),
    ] {
        let kf = write_tmp(&dir, name, content.as_bytes());
        let o = ai_audit(&["verify", file, "--key-file", &kf]);
        assert_eq!(o.status.code(), Some(code), "{name}: {}", text(&o));
        if let Some(says) = says {
            assert!(text(&o).contains(says), "{name}: {}", text(&o));
        }
        if name != "gen-key.env" {
            assert!(!text(&o).contains("secret"), "{name}: {}", text(&o));
        }
    }
}

#[test]
fn empty_file_is_a_clean_failure() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_tmp(&dir, "empty.jsonl", b"");
    let o = ai_audit(&["verify", &f, "--key", VECTOR_PK]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no receipts to verify"), "{}", text(&o));
}

#[test]
fn invalid_json_is_a_clean_failure() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_tmp(&dir, "bad.jsonl", b"{not json\n");
    let o = ai_audit(&["verify", &f, "--key", VECTOR_PK]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("index 0: parse: invalid JSON"),
        "{}",
        text(&o)
    );
}

#[test]
fn wrong_key_length_is_a_usage_error() {
    let file = vectors().join("receipts.jsonl");
    let o = ai_audit(&["verify", file.to_str().unwrap(), "--key", "abcd"]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("has 4 hex characters; expected 64"),
        "{}",
        text(&o)
    );
    let o = ai_audit(&["verify", file.to_str().unwrap(), "--key", &"zz".repeat(32)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not hexadecimal"), "{}", text(&o));
}

#[test]
fn non_hex_signature_is_an_encoding_finding() {
    let data = std::fs::read(vectors().join("receipts.jsonl")).unwrap();
    let text_in = String::from_utf8(data).unwrap();
    let first = text_in.lines().next().unwrap();
    let sig_start = first.find("\"signature\":\"").unwrap() + 13;
    let mut bad = first.to_owned();
    bad.replace_range(sig_start..sig_start + 4, "zzzz");
    let dir = tempfile::tempdir().unwrap();
    let f = write_tmp(&dir, "sig.jsonl", format!("{bad}\n").as_bytes());
    let o = ai_audit(&["verify", &f, "--key", VECTOR_PK]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("encoding: signature must be 128 lowercase hex characters"),
        "{}",
        text(&o)
    );
}

#[test]
fn non_utf8_bytes_are_a_clean_failure() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_tmp(&dir, "bin.jsonl", b"\xff\xfe\x00\n");
    let o = ai_audit(&["verify", &f, "--key", VECTOR_PK]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not valid UTF-8"), "{}", text(&o));
}

#[test]
fn unreadable_input_is_a_usage_error() {
    let o = ai_audit(&["verify", "/nonexistent/receipts.jsonl", "--key", VECTOR_PK]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot open"), "{}", text(&o));
    let o = ai_audit(&["verify"]);
    assert_eq!(o.status.code(), Some(2));
    let o = ai_audit(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn over_long_line_is_reported_not_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = vec![b'x'; 2 << 20];
    big.push(b'\n');
    let f = write_tmp(&dir, "long.jsonl", &big);
    let o = ai_audit(&[
        "verify",
        &f,
        "--key",
        VECTOR_PK,
        "--max-line-bytes",
        "1048576",
    ]);
    assert_no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("line_too_long"), "{}", text(&o));
}

#[test]
fn gen_key_has_the_python_cli_shape() {
    let o = ai_audit(&["gen-key"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# Ed25519 signing key (KEEP SECRET)");
    let seed = lines[1].strip_prefix("AI_AUDIT_SIGNING_KEY=").unwrap();
    assert_eq!(lines[2], "");
    assert_eq!(
        lines[3],
        "# Public verification key (safe to share / commit)"
    );
    let public = lines[4].strip_prefix("AI_AUDIT_VERIFY_KEY=").unwrap();
    assert_eq!(lines[5], "");
    assert_eq!(lines[6], "# Usage:");
    assert_eq!(lines.len(), 11);
    let sk = ai_audit::SigningKey::from_hex(seed).unwrap();
    assert_eq!(sk.verifying_key().to_hex(), public);

    let o = ai_audit(&["gen-key", "--quiet"]);
    let seed = String::from_utf8(o.stdout).unwrap();
    assert_eq!(seed.trim().len(), 64);
    assert!(ai_audit::SigningKey::from_hex(seed.trim()).is_ok());
}

#[test]
fn info_reports_version_and_hardware_paths() {
    let o = ai_audit(&["info"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with(&format!("ai-audit {}", env!("CARGO_PKG_VERSION"))));
    assert!(out.contains("sha256:") && out.contains("ed25519:") && out.contains("features:"));
}

#[test]
fn help_documents_the_exit_codes() {
    let o = ai_audit(&["verify", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    for line in ["0  PASS", "1  FAIL", "2  usage", "3  UNPINNED"] {
        assert!(out.contains(line), "{out}");
    }
}

/// Runs the binary with `args`, killing it after `secs` seconds; `None` if it had to be killed.
fn ai_audit_within(args: &[&str], secs: u64) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(args)
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn endless_proof_checkpoint_and_key_files_are_refused_without_reading_them_whole() {
    // An endless (or huge) file given as a proof, a --since checkpoint or a --key-file must be
    // refused after reading past the format's size limit, not read into memory to the end.
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    let bundle = vectors().join("genuine_bundle.zip");
    let bundle = bundle.to_str().unwrap();
    for args in [
        vec!["verify-proof", "/dev/zero", "--key", VECTOR_PK],
        vec!["verify", bundle, "--key", VECTOR_PK, "--since", "/dev/zero"],
        vec!["verify", bundle, "--key-file", "/dev/zero"],
    ] {
        let o = ai_audit_within(&args, 20);
        assert!(
            o.is_some(),
            "{args:?} still running after 20 s (reading without bound)"
        );
        let o = o.unwrap();
        assert_no_panic(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("larger than"), "{args:?}: {}", text(&o));
    }
}

#[test]
fn bench_runs_on_either_store_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // What the directory held before is left alone, and nothing of the benchmark stays.
    std::fs::write(dir.path().join("audit.db"), b"an operator's store").unwrap();
    for (store, header) in [
        ("sqlite", "durable emit (SQLite"),
        ("memory", "in-memory store (NOT durable)"),
    ] {
        let o = ai_audit(&[
            "bench",
            "--receipts",
            "300",
            "--threads",
            "2",
            "--tenants",
            "1",
            "--sealing",
            "checkpointed",
            "--no-python",
            "--store",
            store,
            "--data-dir",
            data,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains(header), "{out}");
        // One row: threads, tenants, then a positive rate.
        let row = out
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["2", "1"]));
        assert!(row.is_some(), "no 2-thread row in {out}");
        let row = row.unwrap();
        let rate: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(rate > 0.0, "{row}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["audit.db"]);
    assert_eq!(
        std::fs::read(dir.path().join("audit.db")).unwrap(),
        b"an operator's store"
    );
}
