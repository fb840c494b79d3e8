//! A bundle's transparency members: its checkpoint must be signed by the pinned key and cover
//! exactly its receipts (the root recomputed from them, continuing the prefix of a partial
//! export), and, given an earlier checkpoint (`--since`), its history must extend that one.

use super::{Finding, FindingKind, TreeOutcome, verify_covered_line, verify_line};
use crate::bundle::{Anchor, CHECKPOINT, TREE_PREFIX};
use crate::keys::VerifyingKey;
use crate::merkle::{Frontier, Hash};
use crate::note::{self, Checkpoint, TreePrefix};
use crate::receipt::TenantId;

fn b64(h: &Hash) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(h)
}

/// Parses and checks `checkpoint.txt` under `key`.
pub(super) fn read_checkpoint(
    bytes: &[u8],
    key: Option<&VerifyingKey>,
    out: &mut Vec<Finding>,
) -> Option<Checkpoint> {
    let Some(key) = key else {
        out.push(Finding::member(
            FindingKind::Checkpoint,
            CHECKPOINT,
            "no key to check the checkpoint's signature against",
        ));
        return None;
    };
    let Ok(note) = std::str::from_utf8(bytes) else {
        out.push(Finding::member(
            FindingKind::Checkpoint,
            CHECKPOINT,
            "checkpoint.txt is not UTF-8 text",
        ));
        return None;
    };
    match note::verify_note(note, key) {
        Ok(cp) => Some(cp),
        Err(e) => {
            out.push(Finding::member(
                FindingKind::Checkpoint,
                CHECKPOINT,
                e.to_string(),
            ));
            None
        }
    }
}

/// The frontier the bundle's first receipt continues: empty from genesis; for a partial export,
/// the prefix's frontier plus the anchor receipt's leaf, once the anchor receipt is shown to be
/// the one the anchor names.
pub(super) fn start_frontier(
    prefix: Option<&[u8]>,
    anchor: Option<&Anchor>,
    key: Option<&VerifyingKey>,
    accept_unsigned: bool,
    out: &mut Vec<Finding>,
) -> Option<Frontier> {
    let Some(anchor) = anchor else {
        return Some(Frontier::new());
    };
    let fail = |out: &mut Vec<Finding>, computed, claimed, msg: String| {
        out.push(
            Finding::member(FindingKind::Checkpoint, TREE_PREFIX, msg)
                .with_values(computed, claimed),
        );
        None
    };
    let Some(bytes) = prefix else {
        return fail(
            out,
            None,
            None,
            "a partial export with a checkpoint must carry tree_prefix.json to tie its anchor to the checkpoint".into(),
        );
    };
    let prefix = match TreePrefix::parse(bytes) {
        Ok(p) => p,
        Err(e) => return fail(out, None, None, e.to_string()),
    };
    if prefix.frontier.size() + 1 != anchor.sequence {
        return fail(
            out,
            Some(anchor.sequence.saturating_sub(1).to_string()),
            Some(prefix.frontier.size().to_string()),
            "the prefix's frontier_size is not the anchor's sequence minus one".into(),
        );
    }
    let Some(key) = key else {
        return fail(out, None, None, "no key to check the anchor receipt".into());
    };
    // An unsigned (Checkpointed) anchor receipt, when accepted, is authenticated by the
    // checkpoint: its leaf is part of the tree whose root the checkpoint signs.
    let checked = if accept_unsigned {
        verify_covered_line(&prefix.anchor_line, key)
    } else {
        verify_line(&prefix.anchor_line, key)
    };
    let receipt = match checked {
        Ok(r) => r,
        Err(findings) => {
            let first = findings.first();
            if !accept_unsigned && first.is_some_and(|f| f.kind == FindingKind::Unsigned) {
                return fail(
                    out,
                    None,
                    None,
                    "the anchor receipt in tree_prefix.json is unsigned (Checkpointed sealing), so only the checkpoint vouches for it, and receipts vouched for only by a checkpoint are accepted only on request (--accept-checkpointed, VerifyOptions::accept_checkpointed)".into(),
                );
            }
            let why = first.map_or_else(String::new, |f| f.message.clone());
            return fail(
                out,
                None,
                None,
                format!("the anchor receipt in tree_prefix.json does not verify: {why}"),
            );
        }
    };
    let hash = hex::encode(receipt.receipt_hash());
    if hash != anchor.prev_receipt_hash {
        return fail(
            out,
            Some(hash),
            Some(anchor.prev_receipt_hash.clone()),
            "the anchor receipt in tree_prefix.json is not the receipt the anchor links to".into(),
        );
    }
    let leaf = match note::leaf_of_line(&prefix.anchor_line) {
        Ok(l) => l,
        Err(e) => return fail(out, None, None, e.to_string()),
    };
    let mut f = prefix.frontier;
    f.push(leaf);
    Some(f)
}

/// Compares the checkpoint with the tree recomputed from the receipts, and with `since`.
/// Returns whether the checkpoint covers exactly the receipts (of the bundle's tenant).
pub(super) fn check(
    cp: &Checkpoint,
    outcome: &TreeOutcome,
    tenant: Option<&TenantId>,
    since: Option<&Checkpoint>,
    out: &mut Vec<Finding>,
) -> bool {
    let mut origin_ok = true;
    let mut covers = false;
    if let Some(t) = tenant {
        let want = note::origin_under(cp, t);
        if cp.origin != want {
            out.push(
                Finding::member(
                    FindingKind::Checkpoint,
                    CHECKPOINT,
                    "the checkpoint is of another tenant's log than the bundle's receipts",
                )
                .with_values(Some(want), Some(cp.origin.clone())),
            );
            origin_ok = false;
        }
    }
    match &outcome.frontier {
        None => out.push(Finding::member(FindingKind::Checkpoint, CHECKPOINT, "the tree could not be recomputed (a receipt line is unreadable, or the prefix is invalid)").with_values(None, Some(format!("{} {}", cp.size, b64(&cp.root))))),
        Some(f) => {
            covers = f.size() == cp.size && f.root() == cp.root;
            if !covers {
                out.push(Finding::member(FindingKind::Checkpoint, CHECKPOINT, "the checkpoint does not cover exactly the bundle's receipts (size and root recomputed from them differ): receipts were removed, added or changed").with_values(Some(format!("{} {}", f.size(), b64(&f.root()))), Some(format!("{} {}", cp.size, b64(&cp.root)))));
            }
        }
    }
    let covers = covers && origin_ok;
    let Some(old) = since else {
        return covers;
    };
    let mut fail = |computed: Option<String>, message: String| {
        out.push(
            Finding::member(FindingKind::Consistency, CHECKPOINT, message).with_values(
                computed,
                Some(format!("{} {} {}", old.origin, old.size, b64(&old.root))),
            ),
        );
    };
    if old.origin != cp.origin {
        fail(
            Some(cp.origin.clone()),
            "the earlier checkpoint is of another log (origin)".into(),
        );
    } else if old.size > cp.size {
        fail(
            Some(cp.size.to_string()),
            format!(
                "the bundle's history has {} receipts, fewer than the {} of the earlier checkpoint: the log was truncated or rolled back, or the bundle is an export that ends before receipt {} (`export --to`); an export through the log's end shows which",
                cp.size, old.size, old.size
            ),
        );
    } else {
        match outcome.root_at_since {
            Some(r) if r == old.root => {}
            Some(r) => fail(
                Some(b64(&r)),
                format!(
                    "the bundle's first {} receipts hash to another root than the earlier checkpoint of that size: the history forked or was rewritten",
                    old.size
                ),
            ),
            None => fail(
                None,
                format!(
                    "the bundle cannot prove it extends the earlier checkpoint of {} receipts: it starts after that size (export from sequence {} or earlier) or a line is unreadable",
                    old.size, old.size
                ),
            ),
        }
    }
    covers
}
