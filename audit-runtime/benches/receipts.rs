//! Per-receipt costs on one thread: canonicalize, seal, verify; plus chain verification of 10k
//! receipts across all cores.
//!
//! The workload mirrors the Python baseline's `emit_one` (../shared/bench/python_seed_bench.py):
//! 500 characters of input, 1,000 of output, a 3-part state, two checks with nested details.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark fails loudly on a broken setup"
)]

use std::hint::black_box;

use audit_runtime::canonical::{self, Object, Value, canonicalize_input, parse_line};
use audit_runtime::verify::{VerifyOptions, verify_jsonl, verify_line};
use audit_runtime::{Action, Chain, CheckRecord, MemoryLedger, Receipt, SigningKey, TenantId};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INPUT_UNIT: &str = "Bitte fasse die Vertragsbedingungen zusammen und prüfe, ob die Kündigungsfrist für Kunden in der EU rechtlich zulässig ist. Include the GDPR implications, the liability caps and any clauses about data retention. Außerdem: gibt es Hinweise auf automatisierte Entscheidungen nach Art. 22 DSGVO? ";
const OUTPUT_UNIT: &str = "The contract sets a 30-day notice period, which is permissible for B2C contracts in the EU provided the consumer is informed clearly. Liability is capped at the annual fee except for gross negligence. Data retention is limited to 24 months after termination; automated decision-making is not used. ";

fn text(unit: &str, chars: usize) -> String {
    unit.repeat(8).chars().take(chars).collect()
}

fn realistic(i: u64, input: &str, output: &str) -> Receipt {
    let categories = Object::new().with("violence", 0.01).with("self_harm", 0.0);
    Receipt::new("acme")
        .with_trace(format!("trace-{i}"))
        .with_session(format!("sess-{}", i % 97))
        .with_model("gpt-4o-mini")
        .with_input_text(input)
        .with_state(&[format!("sess-{}", i % 97).as_str(), "acme", "gpt-4o-mini"])
        .with_check(
            CheckRecord::new("safety_pre", 0.12 + (i % 10) as f64 / 100.0, 0.8)
                .with_fired(false)
                .with_detail(
                    Object::new()
                        .with("categories", categories)
                        .with("verdict", "pass"),
                ),
        )
        .with_check(
            CheckRecord::new("pii_scan", 0.0, 0.5)
                .with_fired(false)
                .with_detail(Object::new().with("found", Value::Array(vec![]))),
        )
        .with_output_text(output)
        .with_action(if i.is_multiple_of(20) {
            Action::Reject
        } else {
            Action::Allow
        })
        .with_nist_tag("MEASURE-2.6")
}

fn per_receipt(c: &mut Criterion) {
    let key = SigningKey::from_hex(&"01".repeat(32)).unwrap();
    let vk = key.verifying_key();
    let input = text(INPUT_UNIT, 500);
    let output = text(OUTPUT_UNIT, 1000);
    let receipt = realistic(7, &input, &output);
    let mut chain = Chain::genesis("acme");
    let sealed = chain.append(receipt.clone(), &key).unwrap();
    let line = sealed.to_jsonl_line();

    let mut g = c.benchmark_group("receipt");
    g.throughput(Throughput::Elements(1));
    g.bench_function("canonicalize_input_500_chars", |b| {
        b.iter(|| canonicalize_input(black_box(&input)));
    });
    g.bench_function("seal_payload", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            canonical::write_seal_payload(black_box(&receipt), &mut out).unwrap();
        });
    });
    g.bench_function("seal", |b| {
        b.iter(|| audit_runtime::seal(black_box(receipt.clone()), &key).unwrap());
    });
    g.bench_function("build_and_chain_seal", |b| {
        let mut chain = Chain::genesis("acme");
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            chain.append(realistic(i, &input, &output), &key).unwrap()
        });
    });
    g.bench_function("parse_line", |b| {
        b.iter(|| parse_line(black_box(&line)).unwrap())
    });
    g.bench_function("verify", |b| {
        b.iter(|| verify_line(black_box(&line), &vk).unwrap());
    });
    g.finish();
}

fn chain_verify(c: &mut Criterion) {
    let key = SigningKey::from_hex(&"01".repeat(32)).unwrap();
    let input = text(INPUT_UNIT, 500);
    let output = text(OUTPUT_UNIT, 1000);
    let mut ledger = MemoryLedger::new();
    const N: u64 = 10_000;
    for i in 0..N {
        ledger.append(realistic(i, &input, &output), &key).unwrap();
    }
    let jsonl = ledger.to_jsonl(&TenantId::new("acme"));
    let opts = VerifyOptions::pinned(key.verifying_key());
    let mut g = c.benchmark_group("chain");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("verify_jsonl_10k_all_cores", |b| {
        b.iter(|| {
            let r = verify_jsonl(black_box(&jsonl[..]), &opts).unwrap();
            assert!(r.is_pass());
        });
    });
    g.finish();
}

criterion_group!(benches, per_receipt, chain_verify);
criterion_main!(benches);
