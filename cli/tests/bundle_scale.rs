//! Scale run (ignored by default): export N receipts (default 1,000,000; `AI_AUDIT_SCALE_RECEIPTS`)
//! to a bundle file, then verify it with the `ai-audit` binary as a child process and print its
//! wall time and peak RSS (VmHWM, via `/usr/bin/time`). The target is ≤ 64 MB for 1M receipts.
//!
//! The same run for a bundle of unsigned receipts (`SealingMode::Checkpointed`) that its
//! checkpoint authenticates.
//!
//! `cargo test --release --test bundle_scale -- --ignored --nocapture`
#![expect(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a measurement: a broken setup fails loudly, and the figures are its output"
)]

mod support;

use std::io::BufWriter;
use std::process::Command;

use ai_audit::bundle::{EvidenceWriter, ExportMeta};
use ai_audit::{Chain, CheckRecord, Receipt, SigningKey, Timestamp};
use support::VECTOR_PK;

/// The bundle's receipts: the chain of `n` receipts, signed one by one or (`checkpointed`)
/// unsigned under one checkpoint of exactly them.
fn generate(path: &std::path::Path, n: u64, checkpointed: bool, key: &SigningKey) {
    use ai_audit::bundle::CHECKPOINT;
    use ai_audit::merkle::{self, Frontier};
    use ai_audit::note::Checkpoint;
    use ai_audit::{TenantId, canonical, note};
    let started = std::time::Instant::now();
    let receipt = |i: u64, input: &str, output: &str| {
        Receipt::new("acme")
            .with_trace(format!("trace-{i}"))
            .with_session(format!("sess-{}", i % 97))
            .with_model("gpt-4o-mini")
            .with_input_text(input)
            .with_output_text(output)
            .with_check(CheckRecord::new("safety_pre", 0.12, 0.8))
            .with_check(CheckRecord::new("pii_scan", 0.0, 0.5))
            .with_reason("policy-7")
            .with_nist_tag("MEASURE-2.6")
    };
    let input =
        "Bitte fasse die Vertragsbedingungen zusammen und prüfe die Kündigungsfrist. ".repeat(3);
    let output = "The contract sets a 30-day notice period, which is permissible. ".repeat(3);
    let mut meta =
        ExportMeta::new("acme").with_exported_at(Timestamp::parse("2026-03-02T09:30:00Z").unwrap());
    let mut receipts = Vec::new();
    if checkpointed {
        // Unsigned lines, kept in memory (about 1.1 GB for 1M) until the checkpoint is known,
        // because the bundle's members are written before its receipts.
        let mut tree = Frontier::new();
        let mut prev = String::new();
        for i in 0..n {
            let mut r = receipt(i, &input, &output);
            r.prev_receipt_hash = std::mem::take(&mut prev);
            let payload = canonical::seal_payload(&r).unwrap();
            tree.push(merkle::leaf_hash(&payload));
            prev = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&payload));
            let mut line = Vec::with_capacity(1100);
            canonical::write_jsonl_line(&r, &prev, "", &mut line);
            receipts.push(line);
        }
        let origin = note::origin("audit.example.com", &TenantId::new("acme"));
        let note = Checkpoint::new(origin, tree.size(), tree.root())
            .sign("audit.example.com", key)
            .unwrap();
        meta = meta.with_member(CHECKPOINT, note.into_bytes());
    }
    let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut w = EvidenceWriter::new(out, key, meta);
    if checkpointed {
        for line in receipts {
            w.push_line(&line).unwrap();
        }
    } else {
        let mut chain = Chain::genesis("acme");
        for i in 0..n {
            w.push(&chain.append(receipt(i, &input, &output), key).unwrap())
                .unwrap();
        }
    }
    w.finish().unwrap();
    println!(
        "generated {n} receipts into {} in {:?}",
        path.display(),
        started.elapsed()
    );
}

/// Generates the bundle (unless it exists) and verifies it in a child process.
fn scale_run(checkpointed: bool) {
    let n: u64 = std::env::var("AI_AUDIT_SCALE_RECEIPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let kind = if checkpointed {
        "checkpointed"
    } else {
        "signed"
    };
    let path = std::env::var_os("AI_AUDIT_SCALE_OUT").map_or_else(
        || std::env::temp_dir().join(format!("ai-audit-scale-{kind}-{n}.zip")),
        std::path::PathBuf::from,
    );
    let key = SigningKey::from_seed(&[1; 32]);
    if !path.exists() {
        generate(&path, n, checkpointed, &key);
    }
    let rss = path.with_extension("rss");
    let started = std::time::Instant::now();
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .arg(env!("CARGO_BIN_EXE_ai-audit"))
        .arg("verify")
        .arg(&path)
        .args(["--key", VECTOR_PK])
        .args(checkpointed.then_some("--accept-checkpointed"))
        .output()
        .unwrap();
    let wall = started.elapsed();
    let kib: u64 = std::fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    println!(
        "verify {n} {kind} receipts: exit {:?}, {wall:?}, peak RSS {kib} KiB ({:.1} MB)\n{}",
        o.status.code(),
        kib as f64 * 1024.0 / 1e6,
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(kib * 1024 <= 64_000_000, "peak RSS {kib} KiB");
}

#[test]
#[ignore = "a measurement: minutes and a gigabyte of disk for 1M receipts"]
fn verifying_a_large_bundle_stays_within_the_memory_budget() {
    scale_run(false);
}

#[test]
#[ignore = "a measurement: minutes, a gigabyte of disk and of memory for 1M receipts"]
fn verifying_a_large_checkpointed_bundle_stays_within_the_memory_budget() {
    scale_run(true);
}
