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

use audit_runtime::canonical::{self, canonicalize_input, parse_line};
use audit_runtime::verify::{VerifyOptions, verify_jsonl, verify_line};
use audit_runtime::{Chain, MemoryLedger, Receipt, SigningKey, TenantId, merkle, workload};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn realistic(i: u64, input: &str, output: &str) -> Receipt {
    workload::receipt("acme", i, input, output)
}

fn per_receipt(c: &mut Criterion) {
    let key = SigningKey::from_hex(&"01".repeat(32)).unwrap();
    let vk = key.verifying_key();
    let (input, output) = workload::texts();
    let receipt = realistic(7, &input, &output);
    let mut chain = Chain::genesis("acme");
    let sealed = chain.append(receipt.clone(), &key).unwrap();
    let line = sealed.to_jsonl_line();

    let mut g = c.benchmark_group("receipt");
    g.throughput(Throughput::Elements(1));
    g.bench_function("canonicalize_input_500_chars", |b| {
        b.iter(|| canonicalize_input(black_box(&input)));
    });
    // The same text with one character past U+00FF at the end (LLM text often has a curly
    // quote): the general path.
    let beyond = format!("{input} it\u{2019}s");
    g.bench_function("canonicalize_input_500_chars_then_u2019", |b| {
        b.iter(|| canonicalize_input(black_box(&beyond)));
    });
    g.bench_function("build_workload_receipt", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            realistic(black_box(i), &input, &output)
        });
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
    let (input, output) = workload::texts();
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

/// The SHA-256 a `Checkpointed` receipt of the workload cannot do without, on one thread and with
/// nothing else around it: what v1 fixes (the input, output and state digests, and the chain hash
/// over the seal payload), then that plus what the RFC 6962 tree adds (the leaf over the payload,
/// and in the long run one interior node per leaf). Building the receipt, JSON, queueing and
/// storage all come on top, so `cores / v1_digests_and_tree` is an upper bound on emit throughput
/// on the machine that runs it (docs/transparency.md §6).
fn hashing_floor(c: &mut Criterion) {
    use sha2::{Digest, Sha256};
    let (input, output) = workload::texts();
    let mut receipt = realistic(7, &input, &output);
    receipt.prev_receipt_hash = "ab".repeat(32);
    let mut payload = Vec::new();
    canonical::write_seal_payload(&receipt, &mut payload).unwrap();
    // The workload's input is single-spaced Latin-1 text, whose canonical form is its lowercase.
    let canonical_input = input.to_lowercase();
    assert_eq!(
        canonical::sha256_hex(canonical_input.as_bytes()),
        canonicalize_input(&input)
    );
    let state = "sess-7|acme|gpt-4o-mini";
    let digests = || {
        [
            Sha256::digest(black_box(canonical_input.as_bytes())),
            Sha256::digest(black_box(output.as_bytes())),
            Sha256::digest(black_box(state.as_bytes())),
            Sha256::digest(black_box(&payload)),
        ]
    };
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(1));
    g.bench_function("v1_digests", |b| b.iter(digests));
    g.bench_function("v1_digests_and_tree", |b| {
        b.iter(|| {
            let d = digests();
            let leaf = merkle::leaf_hash(black_box(&payload));
            (d, merkle::node_hash(&leaf, black_box(&leaf)))
        })
    });
    g.finish();
}

criterion_group!(benches, per_receipt, chain_verify, hashing_floor);
criterion_main!(benches);
