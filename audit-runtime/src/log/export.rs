//! The evidence bundle of a stored range, checked before anything is signed.
//!
//! [`export_from_store`] streams a tenant's receipts `[start, end)` from a store into an
//! [`EvidenceWriter`] and, as they stream, verifies each one the way an auditor will — strict
//! parse, canonical spelling, self-hash, Ed25519 signature under the signer's key, the link to
//! the previous receipt (from genesis or from the anchor receipt before the range), one tenant,
//! no duplicate id — with the verifier's own [`ChainVerifier`]. An unsigned
//! ([`crate::SealingMode::Checkpointed`]) receipt must carry this writer's tag. The first
//! receipt that fails stops the export, named by tenant, sequence number and receipt id, and
//! nothing is signed: neither the checkpoint nor the manifest.
//!
//! Only then is the bundle's checkpoint of exactly `end` leaves signed, without storing it
//! ([`sign_unstored`](super::sign_unstored)), so an export needs no write to the store and works
//! from a read-only or full one. It is refused over a tree shorter than a stored checkpoint
//! (receipts removed after they were checkpointed) and proven consistent with the latest stored
//! checkpoint, and its root must be the root of the very receipts just verified (continuing the
//! tree prefix of a partial export).
// Export code is held to the same limit as verify/ and bundle/ (issue 24).
#![deny(clippy::too_many_lines)]

use std::io::Write;
use std::ops::Range;

use super::{LineKey, TransparencyError};
use crate::bundle::{
    Anchor, CHECKPOINT, EvidenceWriter, ExportError, ExportMeta, ExportSummary, TREE_PREFIX,
};
use crate::keys::VerifyingKey;
use crate::merkle::Frontier;
use crate::note::{self, TreePrefix};
use crate::receipt::TenantId;
use crate::seal::{SealError, Signer};
use crate::store::tree::TileNodes;
use crate::store::{self, Store, StoreError, StoredEntry};
use crate::verify::{ChainVerifier, Finding, FindingKind, VerifyOptions};

/// Receipts verified per batch (their signatures in parallel across cores).
const BATCH: usize = 1024;

/// How an unsigned (Checkpointed) line ends: a strictly parsed line is canonical, so
/// `signature` is its last field.
const UNSIGNED_END: &[u8] = br#""signature":""}"#;

/// Why [`export_from_store`] wrote no signed bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreExportError {
    /// A stored receipt fails a check. Nothing was signed.
    #[error(
        "refusing to sign the bundle: tenant {:?}, sequence {seq}, receipt {}: {} check failed: {}",
        .tenant.as_str(),
        .finding.receipt_id.as_deref().unwrap_or("(id unreadable)"),
        .finding.kind,
        described(.finding)
    )]
    BadReceipt {
        /// The tenant.
        tenant: TenantId,
        /// The receipt's sequence number in the tenant's chain.
        seq: u64,
        /// What failed (its `index` is the position in the export).
        finding: Box<Finding>,
    },
    /// The store lost receipts of this tenant that it had acknowledged (its chain is behind
    /// its high-water record, see [`crate::store::TenantFault`]): a checkpoint signed now would
    /// present the shorter history as complete. Nothing was signed.
    #[error(
        "refusing to sign the bundle: tenant {:?} is refused by the store: {fault}", .tenant.as_str()
    )]
    Refused {
        /// The tenant.
        tenant: TenantId,
        /// What the store found.
        fault: store::TenantFault,
    },
    /// A receipt the range covers is not in the store (rows deleted). Nothing was signed.
    #[error(
        "refusing to sign the bundle: tenant {:?} has no stored receipt at sequence {seq}, inside the range to export; receipts were removed from the store",
        .tenant.as_str()
    )]
    Missing {
        /// The tenant.
        tenant: TenantId,
        /// The missing sequence number.
        seq: u64,
    },
    /// The tenant's stored Merkle tree does not reach the end of the range yet.
    #[error(
        "tenant {:?}: the store's Merkle tree holds {tree} leaves, fewer than the {end} receipts the export ends at; open the store once with the auditor (it brings the tree up to the chain) and export again",
        .tenant.as_str()
    )]
    TreeBehind {
        /// The tenant.
        tenant: TenantId,
        /// Leaves in its tree.
        tree: u64,
        /// The end of the range.
        end: u64,
    },
    /// The checkpoint to sign (or the stored one of that size) commits to another tree than the
    /// receipts verified. Nothing was signed.
    #[error(
        "refusing to sign the bundle: the checkpoint of tenant {:?} at size {size} does not commit to the verified receipts (the stored tree or a stored checkpoint was altered)",
        .tenant.as_str()
    )]
    TreeMismatch {
        /// The tenant.
        tenant: TenantId,
        /// The checkpoint's size.
        size: u64,
    },
    /// The bundle's checkpoint cannot be signed: a stored checkpoint that is longer than the
    /// stored history ([`TransparencyError::Truncated`]), inconsistent with it, or not signed by
    /// this key; unauthenticated stored data.
    #[error("cannot sign the bundle's checkpoint")]
    Checkpoint(#[source] TransparencyError),
    /// Reading the store failed.
    #[error("cannot read the store")]
    Store(#[from] StoreError),
    /// Writing the bundle failed.
    #[error("cannot write the bundle")]
    Write(#[from] ExportError),
    /// The signer failed (deriving the key of unsigned receipts' tags).
    #[error("the signer failed")]
    Sign(#[from] SealError),
}

impl StoreExportError {
    /// Whether the store's evidence is at fault — a receipt fails a check, receipts are missing,
    /// the history is shorter than or inconsistent with a stored checkpoint — as opposed to a
    /// store that cannot be read, an output that cannot be written, or a failing signer.
    #[must_use]
    pub fn is_evidence_failure(&self) -> bool {
        match self {
            Self::BadReceipt { .. }
            | Self::Missing { .. }
            | Self::TreeMismatch { .. }
            | Self::Refused { .. } => true,
            Self::Checkpoint(e) => matches!(
                e,
                TransparencyError::Truncated { .. }
                    | TransparencyError::Inconsistent { .. }
                    | TransparencyError::Unauthenticated { .. }
                    | TransparencyError::BadStoredCheckpoint(_)
                    | TransparencyError::Line(_)
            ),
            // A stored line of another tenant, or one that is no receipt.
            Self::Write(e) => matches!(
                e,
                ExportError::ForeignReceipt { .. } | ExportError::BadLine { .. }
            ),
            Self::TreeBehind { .. } | Self::Store(_) | Self::Sign(_) => false,
        }
    }
}

/// A finding's message with the values it compares.
fn described(f: &Finding) -> String {
    match (&f.computed, &f.claimed) {
        (Some(c), Some(l)) => format!("{} (computed {c:?}, claimed {l:?})", f.message),
        _ => f.message.clone(),
    }
}

/// Writes the evidence bundle of the tenant's (`meta.tenant`) stored receipts `range`
/// (sequence numbers, end exclusive, as [`store::select_range`] gives them) into `out`, checking
/// every receipt before anything is signed, and signing the bundle's checkpoint without storing
/// it (see the module docs). `meta` gets the anchor, the [`CHECKPOINT`] and, for a partial
/// export, the [`TREE_PREFIX`] member; a store that keeps no Merkle tree gives a bundle without
/// checkpoint. On an error, what was written to `out` is no bundle (it has no manifest).
///
/// ```
/// use audit_runtime::bundle::ExportMeta;
/// use audit_runtime::log::export_from_store;
/// use audit_runtime::store::{MemoryStore, Store};
/// use audit_runtime::note::DEFAULT_LOG_NAME;
/// use audit_runtime::{verify, Auditor, Receipt, SigningKey};
///
/// let key = SigningKey::generate()?;
/// let auditor = Auditor::builder().signer(key.clone()).store(MemoryStore::new()).build()?;
/// for _ in 0..5 {
///     auditor.emit(Receipt::new("acme"))?;
/// }
/// let store = auditor.store().as_ref();
/// let done = export_from_store(store, 2..5, DEFAULT_LOG_NAME, &key, ExportMeta::new("acme"), Vec::new())?;
/// assert_eq!(done.receipts, 3);
/// let opts = verify::VerifyOptions::pinned(key.verifying_key());
/// assert!(verify::verify_bundle(std::io::Cursor::new(done.output), &opts)?.is_pass());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreExportError`]; [`StoreExportError::is_evidence_failure`] tells the store's evidence
/// failing from the store or the output failing.
pub fn export_from_store<W: Write>(
    store: &dyn Store,
    range: Range<u64>,
    log_name: &str,
    signer: &dyn Signer,
    mut meta: ExportMeta,
    out: W,
) -> Result<ExportSummary<W>, StoreExportError> {
    let tenant = meta.tenant.clone();
    check_exportable(store, &tenant, &range)?;
    let key = signer.verifying_key();
    let mut line_key = None;
    let (start, prefix) = match range.start.checked_sub(1) {
        Some(prev) => {
            let (anchor, start, prefix) =
                anchor_of(store, &tenant, prev, &key, signer, &mut line_key)?;
            meta = meta.with_anchor(anchor);
            (start, prefix)
        }
        None => (Frontier::new(), None),
    };
    let anchor = meta
        .anchor
        .as_ref()
        .map(|a| a.prev_receipt_hash.clone())
        .unwrap_or_default();
    let mut verifier = ChainVerifier::new(VerifyOptions::pinned(key).with_anchor(anchor));
    verifier.track_tree(start, None);
    let mut run = Run {
        tenant: &tenant,
        first_seq: range.start,
        key,
        signer,
        line_key,
        verifier,
        writer: EvidenceWriter::new(out, signer, meta),
        batch: Vec::with_capacity(BATCH),
    };
    run.stream(store, &range)?;
    let Run {
        verifier,
        mut writer,
        ..
    } = run;
    let (mut report, outcome) = verifier.finish_with_tree();
    // Each unsigned receipt carried this writer's tag (checked in `flush`); the checkpoint
    // signed below, over exactly these receipts, is what authenticates them in the bundle.
    outcome.settle_unsigned(&mut report, store.tree().is_some(), true, 1);
    if let Some(f) = report.findings.first() {
        return Err(bad_receipt(&tenant, range.start, f, &[]));
    }
    if store.tree().is_some() {
        let signed = SignedTree {
            store,
            tenant: &tenant,
            size: range.end,
            log_name,
            signer,
        };
        signed.add_checkpoint(outcome.frontier.as_ref(), prefix, &mut writer)?;
    }
    Ok(writer.finish()?)
}

/// The tenant's store can give the bundle: no fault recorded for the tenant, and a tree (if
/// the store keeps one) that is not truncated and reaches the range's end.
fn check_exportable(
    store: &dyn Store,
    tenant: &TenantId,
    range: &Range<u64>,
) -> Result<(), StoreExportError> {
    if let Some((_, fault)) = store.faults()?.into_iter().find(|(t, _)| t == tenant) {
        return Err(StoreExportError::Refused {
            tenant: tenant.clone(),
            fault,
        });
    }
    let Some(read) = store.tree() else {
        return Ok(());
    };
    let size = read.tree_size(tenant)?;
    let latest = read.latest_checkpoint(tenant)?;
    super::refuse_truncated(store, tenant, size, latest.as_ref())
        .map_err(StoreExportError::Checkpoint)?;
    if size < range.end {
        return Err(StoreExportError::TreeBehind {
            tenant: tenant.clone(),
            tree: size,
            end: range.end,
        });
    }
    Ok(())
}

/// A partial export starts from the receipt `prev` before it: checked like the others, it is
/// the anchor, and its leaf continues the stored tree's prefix. Returns the anchor, the
/// frontier the export's receipts continue and (with a stored tree) the bundle's prefix.
fn anchor_of(
    store: &dyn Store,
    tenant: &TenantId,
    prev: u64,
    key: &VerifyingKey,
    signer: &dyn Signer,
    line_key: &mut Option<LineKey>,
) -> Result<(Anchor, Frontier, Option<TreePrefix>), StoreExportError> {
    let entry = store::receipts(store, tenant, prev..prev + 1)
        .next()
        .transpose()?
        .filter(|e| e.seq == prev)
        .ok_or_else(|| StoreExportError::Missing {
            tenant: tenant.clone(),
            seq: prev,
        })?;
    let hash = anchor_hash(&entry, key, signer, line_key)?;
    let anchor = Anchor::new(prev + 1, hex::encode(hash));
    let Some(read) = store.tree() else {
        return Ok((anchor, Frontier::new(), None));
    };
    let frontier = TileNodes::new(read, tenant)?.frontier(prev)?;
    let mut start = frontier.clone();
    start.push(
        note::leaf_of_line(&entry.line)
            .map_err(|e| StoreExportError::Checkpoint(TransparencyError::Line(e)))?,
    );
    Ok((anchor, start, Some(TreePrefix::new(frontier, entry.line))))
}

/// What signs the bundle's checkpoint: the tenant's stored tree of `size` leaves.
struct SignedTree<'a> {
    store: &'a dyn Store,
    tenant: &'a TenantId,
    size: u64,
    log_name: &'a str,
    signer: &'a dyn Signer,
}

impl SignedTree<'_> {
    /// Signs the checkpoint of the stored tree, which must be the tree `verified` from the
    /// exported receipts, and adds it (and a partial export's `prefix`) to the bundle.
    fn add_checkpoint<W: Write>(
        &self,
        verified: Option<&Frontier>,
        prefix: Option<TreePrefix>,
        writer: &mut EvidenceWriter<'_, W>,
    ) -> Result<(), StoreExportError> {
        let cp = super::sign_unstored(
            self.store,
            self.tenant,
            self.size,
            self.log_name,
            self.signer,
        )
        .map_err(StoreExportError::Checkpoint)?;
        // The stored checkpoint of that size, if one was returned, must verify too.
        let signed = note::verify_note(&cp.note, &self.signer.verifying_key()).ok();
        let verified_root = verified.map(Frontier::root);
        if verified_root != Some(cp.root)
            || signed.map(|c| (c.size, c.root)) != Some((self.size, cp.root))
        {
            return Err(StoreExportError::TreeMismatch {
                tenant: self.tenant.clone(),
                size: self.size,
            });
        }
        writer.add_member(CHECKPOINT, cp.note.into_bytes());
        if let Some(p) = prefix {
            writer.add_member(TREE_PREFIX, p.to_json());
        }
        Ok(())
    }
}

/// The verified `receipt_hash` of the receipt before a partial export, which must be signed by
/// `key` or, unsigned, carry this writer's tag.
fn anchor_hash(
    entry: &StoredEntry,
    key: &VerifyingKey,
    signer: &dyn Signer,
    line_key: &mut Option<LineKey>,
) -> Result<[u8; 32], StoreExportError> {
    let fail = |mut finding: Finding| {
        if finding.receipt_id.is_none() {
            finding.receipt_id = Some(format!("{} (as indexed by the store)", entry.receipt_id));
        }
        StoreExportError::BadReceipt {
            tenant: entry.tenant.clone(),
            seq: entry.seq,
            finding: Box::new(finding),
        }
    };
    let verified = crate::verify::verify_covered_line(&entry.line, key).map_err(|findings| {
        let first = findings.into_iter().next();
        fail(first.unwrap_or_else(|| untagged(entry, "the anchor receipt does not verify")))
    })?;
    if !super::is_authentic(entry, key, signer, line_key)? {
        return Err(fail(untagged(
            entry,
            "the receipt before the exported range (the bundle's anchor) carries neither a valid signature nor this writer's tag: it was not written with this key",
        )));
    }
    Ok(verified.receipt_hash())
}

/// A finding about an unsigned stored receipt without this writer's tag.
fn untagged(entry: &StoredEntry, message: &str) -> Finding {
    Finding {
        receipt_id: Some(entry.receipt_id.as_str().to_owned()),
        ..Finding::new(FindingKind::Unsigned, message)
    }
}

/// The refusal for finding `f` of the export that starts at `first_seq`; the receipt's id, if
/// the finding has none (an unreadable line), is the one the store indexed it under in `batch`.
fn bad_receipt(
    tenant: &TenantId,
    first_seq: u64,
    f: &Finding,
    batch: &[StoredEntry],
) -> StoreExportError {
    let seq = first_seq + f.index.unwrap_or(0);
    let mut finding = f.clone();
    if finding.receipt_id.is_none() {
        finding.receipt_id = batch
            .iter()
            .find(|e| e.seq == seq)
            .map(|e| format!("{} (as indexed by the store)", e.receipt_id));
    }
    StoreExportError::BadReceipt {
        tenant: tenant.clone(),
        seq,
        finding: Box::new(finding),
    }
}

/// One export in progress: receipts are verified a batch at a time, then written.
struct Run<'a, W: Write> {
    tenant: &'a TenantId,
    first_seq: u64,
    key: VerifyingKey,
    signer: &'a dyn Signer,
    line_key: Option<LineKey>,
    verifier: ChainVerifier,
    writer: EvidenceWriter<'a, W>,
    batch: Vec<StoredEntry>,
}

impl<W: Write> Run<'_, W> {
    /// Streams the stored receipts `range` through the verifier into the bundle; a sequence
    /// number missing in the store stops the export.
    fn stream(&mut self, store: &dyn Store, range: &Range<u64>) -> Result<(), StoreExportError> {
        let mut next = range.start;
        for e in store::receipts(store, self.tenant, range.clone()) {
            let e = e?;
            if e.seq != next {
                return Err(StoreExportError::Missing {
                    tenant: self.tenant.clone(),
                    seq: next,
                });
            }
            next += 1;
            self.batch.push(e);
            if self.batch.len() == BATCH {
                self.flush()?;
            }
        }
        self.flush()?;
        if next != range.end {
            return Err(StoreExportError::Missing {
                tenant: self.tenant.clone(),
                seq: next,
            });
        }
        Ok(())
    }

    /// Verifies the batch (stopping at the first receipt that fails) and writes it.
    fn flush(&mut self) -> Result<(), StoreExportError> {
        let lines: Vec<&[u8]> = self.batch.iter().map(|e| e.line.as_slice()).collect();
        self.verifier.push_batch(&lines);
        if let Some(f) = self.verifier.first_finding() {
            return Err(bad_receipt(self.tenant, self.first_seq, f, &self.batch));
        }
        for e in &self.batch {
            if e.line.ends_with(UNSIGNED_END)
                && !super::is_authentic(e, &self.key, self.signer, &mut self.line_key)?
            {
                return Err(StoreExportError::BadReceipt {
                    tenant: self.tenant.clone(),
                    seq: e.seq,
                    finding: Box::new(untagged(
                        e,
                        "the receipt is unsigned (Checkpointed sealing) and carries no tag of this writer: it was not written with this key",
                    )),
                });
            }
            self.writer.push_line(&e.line)?;
        }
        self.batch.clear();
        Ok(())
    }
}
