//! What the fuzz targets share: the pinned key, an archive's members, and the seed inputs
//! (`cargo run --example seeds` writes them to `corpus/<target>/`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read as _};
use std::sync::LazyLock;

use audit_runtime::note::Checkpoint;
use audit_runtime::bundle::{
    Anchor, CHECKPOINT, EvidenceReader, EvidenceWriter, ExportMeta, MANIFEST, ReadLimits,
    TREE_PREFIX,
};
use audit_runtime::merkle::MerkleTree;
use audit_runtime::note::{TlogProof, TreePrefix, leaf_of_line};
use audit_runtime::{
    Action, CheckRecord, MemoryLedger, Receipt, SealedReceipt, SigningKey, TenantId, Timestamp,
};

/// The log (key) name of the seeds' checkpoints.
pub const LOG: &str = "ai-audit.local";

/// The key the seeds are signed with, and the one every target pins.
pub static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_seed(&[0x24; 32]));

/// Every member's bytes, if the archive opens and every member reads.
#[must_use]
pub fn members(zip: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
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

/// Why the seeds could not be made (a bug in this crate or in the library).
#[derive(Debug, thiserror::Error)]
#[error("cannot make the seed inputs: {0}")]
pub struct SeedError(String);

fn err(e: impl std::fmt::Display) -> SeedError {
    SeedError(e.to_string())
}

/// Valid inputs for each target, `(target, bytes)`: a chain of six receipts as lines and JSONL,
/// a checkpoint note and a tlog-proof of them, a full bundle (with checkpoint) and a partial one
/// (anchor, tree prefix, stored members), their manifests, and an SSE stream.
///
/// # Errors
/// [`SeedError`] if the library refuses to make one (it should not).
pub fn seeds() -> Result<Vec<(&'static str, Vec<u8>)>, SeedError> {
    let key = &*KEY;
    let mut ledger = MemoryLedger::new();
    for i in 0..6 {
        let r = Receipt::new("acme")
            .with_input_text(&format!("Approve loan #{i}? \u{2028} \"quoted\" é"))
            .with_output_text("Declined: income below threshold")
            .with_check(CheckRecord::new("affordability", 0.31, 0.5))
            .with_action(if i % 2 == 0 {
                Action::Reject
            } else {
                Action::Allow
            })
            .with_model(format!("credit-model-{i}"));
        ledger.append(r, key).map_err(err)?;
    }
    let tenant = TenantId::new("acme");
    let receipts: Vec<SealedReceipt> = ledger.receipts(&tenant).to_vec();
    let lines: Vec<Vec<u8>> = receipts.iter().map(SealedReceipt::to_jsonl_line).collect();
    let leaves = lines
        .iter()
        .map(|l| leaf_of_line(l))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let tree = MerkleTree::new(leaves);
    let n = tree.len();
    let checkpoint = Checkpoint::new(format!("{LOG}/acme"), n, tree.root(n).map_err(err)?);
    let note = checkpoint.sign(LOG, key).map_err(err)?;
    let at = Timestamp::parse("2026-03-02T09:30:00Z").map_err(err)?;
    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        out.push(("receipt_line", line.clone()));
        out.push(("json", line.clone()));
        let path = tree.inclusion_proof(i as u64, n).map_err(err)?;
        let proof = TlogProof::new(i as u64, path, note.clone(), Some(line.clone()));
        out.push(("tlog_proof", proof.to_text().into_bytes()));
    }
    out.push(("jsonl", ledger.to_jsonl(&tenant)));
    out.push(("checkpoint", note.clone().into_bytes()));
    let full = bundle(
        key,
        &receipts,
        ExportMeta::new("acme")
            .with_exported_at(at)
            .with_member(CHECKPOINT, note.clone().into_bytes()),
    )?;
    let (Some(before), Some(anchor_line)) = (receipts.get(1), lines.get(1)) else {
        return Err(SeedError("the chain is too short".into()));
    };
    let prefix = TreePrefix::new(tree.frontier(1).map_err(err)?, anchor_line.clone());
    let partial = bundle(
        key,
        receipts.get(2..).unwrap_or_default(),
        ExportMeta::new("acme")
            .with_exported_at(at)
            .with_level(0)
            .with_anchor(Anchor::new(2, before.receipt_hash_hex()))
            .with_member(CHECKPOINT, note.into_bytes())
            .with_member(TREE_PREFIX, prefix.to_json()),
    )?;
    for zip in [full, partial] {
        let m = members(&zip).ok_or_else(|| SeedError("a seed bundle does not read".into()))?;
        for (name, bytes) in m {
            if name == MANIFEST {
                out.push(("manifest", bytes.clone()));
            }
            if name.ends_with(".json") {
                out.push(("json", bytes));
            }
        }
        out.push(("bundle", zip.clone()));
        out.push(("zip", zip));
    }
    out.push((
        "sse",
        b"event: message_start\ndata: {\"a\":1}\n\n: ping\r\ndata: x\r\ndata: y\r\n\r\nid: 3\nretry: 10\ndata: [DONE]\n\n"
            .to_vec(),
    ));
    Ok(out)
}

fn bundle(
    key: &SigningKey,
    receipts: &[SealedReceipt],
    meta: ExportMeta,
) -> Result<Vec<u8>, SeedError> {
    let mut w = EvidenceWriter::new(Vec::new(), key, meta);
    for r in receipts {
        w.push(r).map_err(err)?;
    }
    Ok(w.finish().map_err(err)?.output)
}
