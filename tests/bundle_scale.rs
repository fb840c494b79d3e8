//! Scale run (ignored by default): export N receipts (default 1,000,000; `AI_AUDIT_SCALE_RECEIPTS`)
//! to a bundle file, then verify it with the `ai-audit` binary as a child process and print its
//! wall time and peak RSS (VmHWM, via `/usr/bin/time`). The target is ≤ 64 MB for 1M receipts.
//!
//! `cargo test --release --test bundle_scale -- --ignored --nocapture`

mod support;

use std::io::BufWriter;
use std::process::Command;

use ai_audit::export::{EvidenceWriter, ExportMeta};
use ai_audit::{Chain, CheckRecord, Receipt, SigningKey, Timestamp};
use support::VECTOR_PK;

#[test]
#[ignore = "a measurement: minutes and a gigabyte of disk for 1M receipts"]
fn verifying_a_large_bundle_stays_within_the_memory_budget() {
    let n: u64 = std::env::var("AI_AUDIT_SCALE_RECEIPTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let path = std::env::var_os("AI_AUDIT_SCALE_OUT").map_or_else(
        || std::env::temp_dir().join(format!("ai-audit-scale-{n}.zip")),
        std::path::PathBuf::from,
    );
    let key = SigningKey::from_seed(&[1; 32]);
    if !path.exists() {
        let started = std::time::Instant::now();
        let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        let meta = ExportMeta::new("acme")
            .with_exported_at(Timestamp::parse("2026-03-02T09:30:00Z").unwrap());
        let mut w = EvidenceWriter::new(out, &key, meta);
        let mut chain = Chain::genesis("acme");
        let input = "Bitte fasse die Vertragsbedingungen zusammen und prüfe die Kündigungsfrist. "
            .repeat(3);
        let output = "The contract sets a 30-day notice period, which is permissible. ".repeat(3);
        for i in 0..n {
            let r = Receipt::new("acme")
                .with_trace(format!("trace-{i}"))
                .with_session(format!("sess-{}", i % 97))
                .with_model("gpt-4o-mini")
                .with_input_text(&input)
                .with_output_text(&output)
                .with_check(CheckRecord::new("safety_pre", 0.12, 0.8))
                .with_check(CheckRecord::new("pii_scan", 0.0, 0.5))
                .with_reason("policy-7")
                .with_nist_tag("MEASURE-2.6");
            w.push(&chain.append(r, &key).unwrap()).unwrap();
        }
        w.finish().unwrap();
        println!(
            "generated {n} receipts into {} in {:?}",
            path.display(),
            started.elapsed()
        );
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
        "verify {n} receipts: exit {:?}, {wall:?}, peak RSS {kib} KiB ({:.1} MB)\n{}",
        o.status.code(),
        kib as f64 * 1024.0 / 1e6,
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(kib * 1024 <= 64_000_000, "peak RSS {kib} KiB");
}
