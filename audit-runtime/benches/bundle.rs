//! Evidence bundles at scale: export of 100,000 receipts (~1.1 KB lines) and full verification
//! of the resulting 100,000-receipt bundle, both across all cores.
//!
//! `cargo bench -p audit-runtime --bench bundle`. Targets (DESIGN §4): export ≤ 0.5 s,
//! verification ≤ 2 s. Peak memory on a 1M-receipt bundle: `tests/bundle_scale.rs` (ignored).
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::io::Cursor;

use audit_runtime::bundle::{EvidenceWriter, ExportMeta};
use audit_runtime::json::Object;
use audit_runtime::verify::{VerifyOptions, verify_bundle};
use audit_runtime::{Action, Chain, CheckRecord, Receipt, SigningKey, Timestamp};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const N: usize = 100_000;

fn receipt(i: u64, input: &str, output: &str) -> Receipt {
    Receipt::new("acme")
        .with_trace(format!("trace-{i}"))
        .with_session(format!("sess-{}", i % 97))
        .with_model("gpt-4o-mini")
        .with_input_text(input)
        .with_state(&[format!("sess-{}", i % 97).as_str(), "acme", "gpt-4o-mini"])
        .with_check(
            CheckRecord::new("safety_pre", 0.12 + (i % 10) as f64 / 100.0, 0.8).with_detail(
                Object::new()
                    .with("categories", Object::new().with("violence", 0.01))
                    .with("verdict", "pass"),
            ),
        )
        .with_check(CheckRecord::new("pii_scan", 0.0, 0.5))
        .with_output_text(output)
        .with_action(if i.is_multiple_of(20) {
            Action::Reject
        } else {
            Action::Allow
        })
        .with_reason("policy-7")
        .with_nist_tag("MEASURE-2.6")
}

/// `n` chained receipt lines of tenant `acme`, signed by `key`.
fn lines(n: usize, key: &SigningKey) -> Vec<Vec<u8>> {
    let input =
        "Bitte fasse die Vertragsbedingungen zusammen und prüfe die Kündigungsfrist. ".repeat(3);
    let output = "The contract sets a 30-day notice period, which is permissible. ".repeat(3);
    let mut chain = Chain::genesis("acme");
    (0..n)
        .map(|i| {
            chain
                .append(receipt(i as u64, &input, &output), key)
                .unwrap()
                .to_jsonl_line()
        })
        .collect()
}

fn export(lines: &[Vec<u8>], key: &SigningKey) -> Vec<u8> {
    let meta =
        ExportMeta::new("acme").with_exported_at(Timestamp::parse("2026-03-02T09:30:00Z").unwrap());
    let mut w = EvidenceWriter::new(Vec::with_capacity(64 << 20), key, meta);
    for l in lines {
        w.push_line(l).unwrap();
    }
    w.finish().unwrap().output
}

fn bundle(c: &mut Criterion) {
    let key = SigningKey::from_seed(&[1; 32]);
    let lines = lines(N, &key);
    let avg = lines.iter().map(Vec::len).sum::<usize>() / N;
    eprintln!("{N} receipts, {avg} bytes per line on average");
    let zip = export(&lines, &key);
    eprintln!("bundle: {} bytes", zip.len());
    let opts = VerifyOptions::pinned(key.verifying_key());
    assert!(verify_bundle(Cursor::new(&zip), &opts).unwrap().is_pass());

    let mut g = c.benchmark_group("bundle");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("export_100k", |b| b.iter(|| export(&lines, &key)));
    g.bench_function("verify_100k", |b| {
        b.iter(|| verify_bundle(Cursor::new(&zip), &opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bundle);
criterion_main!(benches);
