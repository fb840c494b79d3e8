//! Every parser of hostile input, fed arbitrary bytes and mutations of valid input: it never
//! panics, and it never passes what it should not.
//!
//! "Never passes" is exact for each format: arbitrary bytes never verify, and a mutated valid
//! input (bytes flipped, set, inserted, deleted, duplicated, or cut off) verifies only if what
//! the format covers is unchanged — the receipt and its hash for a line, the checkpoint for a
//! note, the checkpoint, index and receipt for a tlog-proof, every member's bytes (and the
//! manifest's signed content) for a bundle. Bytes no signature covers may change without a
//! finding: a ZIP's timestamps and other header fields the reader ignores, the final `\n` of a
//! JSONL file, the manifest's layout and the case of its signature's hex. A bare JSONL file has
//! no checkpoint, so cutting it at a line boundary leaves a valid (shorter) chain: a passing
//! mutation of one is a prefix of its lines.
//!
//! The SSE parser is crate-private; its properties are in `src/llm/sse/proptests.rs`. The same
//! parsers are fuzzed by the targets in `fuzz/` (see `fuzz/README.md`).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "fixtures and properties fail loudly"
)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _};
use std::sync::LazyLock;

use audit_runtime::bundle::{
    ANCHOR, Anchor, CHECKPOINT, EvidenceReader, EvidenceWriter, ExportMeta, MANIFEST, Manifest,
    ReadLimits, TREE_PREFIX,
};
use audit_runtime::canonical::{parse_line, write_canonical_value};
use audit_runtime::json::parse;
use audit_runtime::merkle::MerkleTree;
use audit_runtime::note::Checkpoint;
use audit_runtime::note::{TlogProof, TreePrefix, leaf_of_line, verify_note};
use audit_runtime::verify::{VerifyOptions, verify_bundle, verify_jsonl, verify_line};
use audit_runtime::{
    Action, CheckRecord, MemoryLedger, Receipt, SealedReceipt, SigningKey, TenantId, Timestamp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

// ---------------------------------------------------------------------------------------------
// Fixtures: one tenant's chain, and every format made from it.
// ---------------------------------------------------------------------------------------------

const LOG: &str = "ai-audit.local";
const ORIGIN: &str = "ai-audit.local/acme";
/// Receipts in the fixture chain.
const N: usize = 6;
/// The receipt the tlog-proof proves, and where the partial bundle starts.
const AT: usize = 2;

struct Fixture {
    key: SigningKey,
    receipts: Vec<SealedReceipt>,
    lines: Vec<Vec<u8>>,
    jsonl: Vec<u8>,
    note: String,
    checkpoint: Checkpoint,
    proof: String,
    /// All receipts, with the checkpoint of all of them.
    full: Vec<u8>,
    /// Receipts `[AT, N)`, with anchor, tree prefix and the checkpoint; members stored.
    partial: Vec<u8>,
}

static FIX: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::from_seed(&[0x24; 32]);
    let mut ledger = MemoryLedger::new();
    for i in 0..N {
        let r = Receipt::new("acme")
            .with_input_text(&format!("Approve loan #{i}? \u{2028} \"quoted\" é"))
            .with_output_text("Declined: income below threshold")
            .with_check(CheckRecord::new("affordability", 0.31, 0.5))
            .with_check(CheckRecord::new("fraud", 1e-7, 0.9))
            .with_action(if i % 2 == 0 {
                Action::Reject
            } else {
                Action::Allow
            })
            .with_model(format!("credit-model-{i}"));
        ledger.append(r, &key).unwrap();
    }
    let receipts = ledger.receipts(&TenantId::new("acme")).to_vec();
    let lines: Vec<Vec<u8>> = receipts.iter().map(SealedReceipt::to_jsonl_line).collect();
    let jsonl = ledger.to_jsonl(&TenantId::new("acme"));
    let tree = MerkleTree::new(lines.iter().map(|l| leaf_of_line(l).unwrap()).collect());
    let checkpoint = Checkpoint::new(ORIGIN, N as u64, tree.root(N as u64).unwrap());
    let note = checkpoint.sign(LOG, &key).unwrap();
    let proof = TlogProof::new(
        AT as u64,
        tree.inclusion_proof(AT as u64, N as u64).unwrap(),
        note.clone(),
        Some(lines[AT].clone()),
    )
    .to_text();
    let at = Timestamp::parse("2026-03-02T09:30:00Z").unwrap();
    let full = export(
        &key,
        &receipts,
        ExportMeta::new("acme")
            .with_exported_at(at)
            .with_member(CHECKPOINT, note.clone().into_bytes()),
    );
    let prefix = TreePrefix::new(tree.frontier(AT as u64 - 1).unwrap(), lines[AT - 1].clone());
    let partial = export(
        &key,
        &receipts[AT..],
        ExportMeta::new("acme")
            .with_exported_at(at)
            .with_level(0)
            .with_anchor(Anchor::new(AT as u64, receipts[AT - 1].receipt_hash_hex()))
            .with_member(CHECKPOINT, note.clone().into_bytes())
            .with_member(TREE_PREFIX, prefix.to_json()),
    );
    Fixture {
        key,
        receipts,
        lines,
        jsonl,
        note,
        checkpoint,
        proof,
        full,
        partial,
    }
});

fn export(key: &SigningKey, receipts: &[SealedReceipt], meta: ExportMeta) -> Vec<u8> {
    let mut w = EvidenceWriter::new(Vec::new(), key, meta);
    for r in receipts {
        w.push(r).unwrap();
    }
    w.finish().unwrap().output
}

fn opts() -> VerifyOptions {
    VerifyOptions::pinned(FIX.key.verifying_key())
}

/// Every member's bytes, if the archive opens and every member reads.
fn members(zip: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    let mut r = EvidenceReader::open(Cursor::new(zip), ReadLimits::default()).ok()?;
    let names: Vec<String> = r.names().map(str::to_owned).collect();
    let mut out = BTreeMap::new();
    for name in names {
        let mut bytes = Vec::new();
        r.open_member(&name).ok()?.read_to_end(&mut bytes).ok()?;
        out.insert(name, bytes);
    }
    Some(out)
}

/// The lines of a JSONL file (a final `\n` ends the last line; it does not start another).
fn lines_of(jsonl: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = jsonl.split(|b| *b == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

#[test]
fn the_fixtures_are_valid() {
    let f = &*FIX;
    for (line, r) in f.lines.iter().zip(&f.receipts) {
        assert_eq!(
            verify_line(line, &f.key.verifying_key())
                .unwrap()
                .receipt_hash(),
            r.receipt_hash()
        );
    }
    assert!(verify_jsonl(&f.jsonl[..], &opts()).unwrap().is_pass());
    assert_eq!(
        Checkpoint::verify(&f.note, LOG, &f.key.verifying_key()).unwrap(),
        f.checkpoint
    );
    let proof = TlogProof::parse(&f.proof).unwrap();
    assert_eq!(
        proof.verify(&f.key.verifying_key()).unwrap().index,
        AT as u64
    );
    for zip in [&f.full, &f.partial] {
        let report = verify_bundle(Cursor::new(zip), &opts()).unwrap();
        assert!(report.is_pass(), "{:?}", report.chain.findings);
        assert_eq!(report.checkpoint.as_ref(), Some(&f.checkpoint));
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations.
// ---------------------------------------------------------------------------------------------

/// One edit of a byte string; positions are taken modulo its length.
#[derive(Clone, Debug)]
enum Edit {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Duplicate(Index, usize),
    Truncate(Index),
}

/// Bytes that mean something in the formats: JSON and note punctuation, digits, hex, base64,
/// line ends, the first byte of the em dash, and ZIP signature bytes.
const MEANINGFUL: &[u8] = b"\0\x01\x02\x03\x04\x05\x06\x07\x08\x0b\xff\x7f\x80\xe2\x50\x4b\t\n\r \"\\{}[]:,-+=/.0123456789aefAEFnrtu";

fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), select(MEANINGFUL)]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Edit::Flip(i, 1 << b)),
        3 => (any::<Index>(), byte()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<Index>(), vec(byte(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => (any::<Index>(), 1..16usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => (any::<Index>(), 1..64usize).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// Where edits land: anywhere, or (for archives, whose headers are a small part of their bytes)
/// inside a window.
fn apply(input: &[u8], edits: &[Edit], window: Option<(usize, usize)>) -> Vec<u8> {
    let mut v = input.to_vec();
    for e in edits {
        let len = v.len();
        let pos = |i: &Index| match window {
            Some((start, w)) if start < len => (start + i.index(w)).min(len - 1),
            _ => i.index(len.max(1)),
        };
        match e {
            Edit::Flip(i, mask) if len > 0 => v[pos(i)] ^= mask,
            Edit::Set(i, b) if len > 0 => v[pos(i)] = *b,
            Edit::Insert(i, b) => {
                let at = if len == 0 { 0 } else { pos(i) };
                v.splice(at..at, b.iter().copied());
            }
            Edit::Delete(i, n) if len > 0 => {
                let at = pos(i);
                v.drain(at..(at + n).min(len));
            }
            Edit::Duplicate(i, n) if len > 0 => {
                let at = pos(i);
                let piece = v[at..(at + n).min(len)].to_vec();
                v.splice(at..at, piece);
            }
            Edit::Truncate(i) if len > 0 => v.truncate(pos(i)),
            _ => {}
        }
    }
    v
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    vec(edit(), 1..4)
}

/// Windows over an archive's structure: each local header, and the central directory with its
/// end record, as likely as all local headers together (found by their signatures in the valid
/// archive).
fn zip_windows(zip: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, w) in zip.windows(4).enumerate() {
        match w {
            [0x50, 0x4b, 0x03, 0x04] => out.push((i, 96)),
            [0x50, 0x4b, 0x01, 0x02] => {
                let central = (i, zip.len() - i);
                out.extend(vec![central; out.len().max(1)]);
                break;
            }
            _ => {}
        }
    }
    out
}

fn window_for(zip: &[u8], pick: Option<Index>) -> Option<(usize, usize)> {
    let w = zip_windows(zip);
    pick.map(|p| w[p.index(w.len())])
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON: the strict parser.
// ---------------------------------------------------------------------------------------------

/// What the parser accepts, the canonical writer writes back, and those bytes read and written
/// again are the same bytes (objects keep their key order when parsed, so the values are
/// compared in canonical form).
fn json_round_trips(bytes: &[u8]) {
    if let Ok(v) = parse(bytes) {
        let mut once = Vec::new();
        write_canonical_value(&v, &mut once);
        let mut twice = Vec::new();
        write_canonical_value(&parse(&once).unwrap(), &mut twice);
        assert_eq!(once, twice);
    }
}

#[test]
fn json_nesting_far_past_the_limit_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{\"a\":", "[{\"a\":"] {
        let deep = open.repeat(200_000);
        assert!(parse(deep.as_bytes()).is_err(), "{open}");
        assert!(parse_line(deep.as_bytes()).is_err(), "{open}");
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn json_parse_never_panics_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..256)) {
        json_round_trips(&bytes);
    }

    #[test]
    fn json_parse_never_panics_on_json_shaped_text(text in r#"[\[\]{}":,0-9eE.+\-a-z\\ ]{0,64}"#) {
        json_round_trips(text.as_bytes());
    }

    #[test]
    fn json_parse_never_panics_on_mutated_documents(
        which in 0..3usize,
        edits in edits(),
    ) {
        let f = &*FIX;
        let m = members(&f.partial).unwrap();
        let doc: &[u8] = match which {
            0 => &f.lines[0],
            1 => &m[MANIFEST],
            _ => &m[TREE_PREFIX],
        };
        json_round_trips(&apply(doc, &edits, None));
    }
}

// ---------------------------------------------------------------------------------------------
// Receipt lines and JSONL.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn receipt_lines_of_arbitrary_bytes_never_panic_and_never_verify(
        bytes in vec(any::<u8>(), 0..512),
    ) {
        let _ = parse_line(&bytes);
        prop_assert!(verify_line(&bytes, &FIX.key.verifying_key()).is_err());
    }

    #[test]
    fn a_mutated_receipt_line_verifies_only_if_the_receipt_is_unchanged(
        which in 0..N,
        edits in edits(),
    ) {
        let f = &*FIX;
        let line = apply(&f.lines[which], &edits, None);
        let _ = parse_line(&line);
        if let Ok(v) = verify_line(&line, &f.key.verifying_key()) {
            prop_assert_eq!(v.receipt(), f.receipts[which].receipt());
            prop_assert_eq!(v.receipt_hash(), f.receipts[which].receipt_hash());
        }
    }

    #[test]
    fn jsonl_of_arbitrary_bytes_never_panics_and_never_passes(
        bytes in vec(any::<u8>(), 0..512),
    ) {
        let report = verify_jsonl(&bytes[..], &opts()).unwrap();
        prop_assert!(!report.is_pass() || lines_of(&bytes).is_empty());
    }

    #[test]
    fn mutated_jsonl_passes_only_as_a_prefix_of_the_original_lines(edits in edits()) {
        let f = &*FIX;
        let jsonl = apply(&f.jsonl, &edits, None);
        let report = verify_jsonl(&jsonl[..], &opts()).unwrap();
        if report.is_pass() {
            let original = lines_of(&f.jsonl);
            let got = lines_of(&jsonl);
            prop_assert!(original.starts_with(&got), "{:?}", String::from_utf8_lossy(&jsonl));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ZIP reader and bundle verification.
// ---------------------------------------------------------------------------------------------

/// A passing bundle carries exactly the original's members, byte for byte, except the manifest,
/// whose signed content (and signature) must be the same.
fn assert_covered_content_unchanged(original: &[u8], mutated: &[u8]) {
    let (Some(a), Some(b)) = (members(original), members(mutated)) else {
        panic!("a bundle that passed does not read");
    };
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "member names"
    );
    for (name, bytes) in &a {
        if name == MANIFEST {
            let (ma, mb) = (
                Manifest::parse(bytes).unwrap(),
                Manifest::parse(&b[name]).unwrap(),
            );
            assert_eq!(ma.signing_bytes(), mb.signing_bytes(), "manifest content");
            assert_eq!(ma.signature(), mb.signature(), "manifest signature");
        } else {
            assert_eq!(bytes, &b[name], "member {name}");
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn bundles_of_arbitrary_bytes_never_panic_and_never_pass(
        bytes in vec(any::<u8>(), 0..1024),
        eocd in any::<bool>(),
    ) {
        // With an end record appended, the reader gets past its first check.
        let mut bytes = bytes;
        if eocd {
            bytes.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0\0\0\0\0\0\0");
        }
        let _ = members(&bytes);
        if let Ok(report) = verify_bundle(Cursor::new(&bytes), &opts()) {
            prop_assert!(!report.is_pass());
        }
    }

    #[test]
    fn the_zip_reader_never_panics_on_a_mutated_archive_and_reads_members_as_written(
        partial in any::<bool>(),
        at in proptest::option::weighted(0.7, any::<Index>()),
        edits in edits(),
    ) {
        let f = &*FIX;
        let zip = if partial { &f.partial } else { &f.full };
        let mutated = apply(zip, &edits, window_for(zip, at));
        let original = members(zip).unwrap();
        let Ok(mut r) = EvidenceReader::open(Cursor::new(&mutated), ReadLimits::default()) else {
            return Ok(());
        };
        let names: Vec<String> = r.names().map(str::to_owned).collect();
        for name in names {
            let _ = r.declared_size(&name);
            let Ok(mut m) = r.open_member(&name) else { continue };
            let mut bytes = Vec::new();
            if m.read_to_end(&mut bytes).is_ok() {
                // Sizes and CRC-32 are checked: a member that reads is what was written.
                if let Some(want) = original.get(&name) {
                    prop_assert_eq!(&bytes, want, "member {}", name);
                }
            }
        }
    }

    #[test]
    fn a_mutated_bundle_passes_only_if_its_covered_content_is_unchanged(
        partial in any::<bool>(),
        at in proptest::option::weighted(0.7, any::<Index>()),
        edits in edits(),
    ) {
        let f = &*FIX;
        let zip = if partial { &f.partial } else { &f.full };
        let mutated = apply(zip, &edits, window_for(zip, at));
        if let Ok(report) = verify_bundle(Cursor::new(&mutated), &opts())
            && report.is_pass()
        {
            assert_covered_content_unchanged(zip, &mutated);
            prop_assert_eq!(report.chain.receipts, if partial { N - AT } else { N } as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The manifest, the anchor and the tree prefix.
// ---------------------------------------------------------------------------------------------

fn manifest_never_panics(bytes: &[u8]) -> Option<Manifest> {
    let m = Manifest::parse(bytes).ok()?;
    let _ = (
        m.checksums(),
        m.signature(),
        m.signing_bytes(),
        m.to_file_bytes(),
    );
    let _ = (m.str_field("format"), m.signature_value());
    Some(m)
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn manifests_anchors_and_prefixes_of_arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..256),
    ) {
        let _ = manifest_never_panics(&bytes);
        let _ = Anchor::parse(&bytes);
        let _ = TreePrefix::parse(&bytes);
    }

    #[test]
    fn a_mutated_manifest_verifies_only_if_its_signed_content_is_unchanged(
        partial in any::<bool>(),
        edits in edits(),
    ) {
        let f = &*FIX;
        let original = members(if partial { &f.partial } else { &f.full }).unwrap();
        let good = Manifest::parse(&original[MANIFEST]).unwrap();
        let bytes = apply(&original[MANIFEST], &edits, None);
        if let Some(m) = manifest_never_panics(&bytes)
            && let Some(sig) = m.signature()
            && f.key.verifying_key().verify_strict(&m.signing_bytes(), &sig)
        {
            prop_assert_eq!(m.signing_bytes(), good.signing_bytes());
        }
    }

    #[test]
    fn mutated_anchors_and_prefixes_never_panic(edits in edits()) {
        let m = members(&FIX.partial).unwrap();
        let _ = Anchor::parse(&apply(&m[ANCHOR], &edits, None));
        let _ = TreePrefix::parse(&apply(&m[TREE_PREFIX], &edits, None));
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoint notes and tlog-proofs.
// ---------------------------------------------------------------------------------------------

/// Text shaped like a note: lines of note-ish tokens, some signature lines.
fn note_like() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            Just("ai-audit.local/acme".to_owned()),
            Just("\u{2014} ai-audit.local ".to_owned()),
            Just("c2sp.org/tlog-proof@v1".to_owned()),
            Just("index ".to_owned()),
            Just("extra ".to_owned()),
            "[0-9]{1,21}",
            "[A-Za-z0-9+/]{0,92}={0,2}",
            Just(String::new()),
        ],
        0..12,
    )
    .prop_map(|lines| lines.join("\n") + "\n")
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn notes_and_proofs_of_arbitrary_text_never_panic_and_never_verify(
        text in prop_oneof![
            vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            note_like(),
        ],
    ) {
        let key = FIX.key.verifying_key();
        prop_assert!(Checkpoint::verify(&text, LOG, &key).is_err());
        prop_assert!(verify_note(&text, &key).is_err());
        if let Ok(p) = TlogProof::parse(&text) {
            let _ = p.to_text();
            prop_assert!(p.verify(&key).is_err());
            prop_assert!(p.verify_accepting_checkpointed(&key).is_err());
        }
    }

    #[test]
    fn a_mutated_note_verifies_only_as_the_same_checkpoint(edits in edits()) {
        let f = &*FIX;
        let bytes = apply(f.note.as_bytes(), &edits, None);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(cp) = Checkpoint::verify(&text, LOG, &f.key.verifying_key()) {
            prop_assert_eq!(&cp, &f.checkpoint);
        }
        if let Ok(cp) = verify_note(&text, &f.key.verifying_key()) {
            prop_assert_eq!(&cp, &f.checkpoint);
        }
    }

    #[test]
    fn a_mutated_tlog_proof_verifies_only_for_the_same_receipt_index_and_checkpoint(
        edits in edits(),
    ) {
        let f = &*FIX;
        let bytes = apply(f.proof.as_bytes(), &edits, None);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(p) = TlogProof::parse(&text) {
            let key = f.key.verifying_key();
            for checked in [p.verify(&key), p.verify_accepting_checkpointed(&key)]
                .into_iter()
                .flatten()
            {
                prop_assert_eq!(&checked.checkpoint, &f.checkpoint);
                prop_assert_eq!(checked.index, AT as u64);
                prop_assert_eq!(checked.receipt.receipt_hash(), f.receipts[AT].receipt_hash());
            }
        }
    }
}
