//! Stage 9 of a bundle's verification: what can be checked only once the receipts are read —
//! the anchor's tenant, the checksums, `chain_metadata.json` — and the report's merge.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::{Finding, FindingKind, VerificationReport};
use crate::bundle::{ANCHOR, Anchor, CHAIN_METADATA, RECEIPTS};
use crate::canonical;
use crate::json::{self, Value};
use crate::keys::VerifyingKey;
use crate::receipt::TenantId;

/// The SHA-256 (lowercase hex) of each member read, by name.
#[derive(Debug, Default)]
pub(super) struct MemberHashes(BTreeMap<String, String>);

impl MemberHashes {
    /// Hashes a member read whole.
    pub(super) fn add(&mut self, name: &str, bytes: &[u8]) {
        self.insert(name, hex::encode(Sha256::digest(bytes)));
    }

    /// Records the hash of a member read as a stream.
    pub(super) fn insert(&mut self, name: &str, hash: String) {
        self.0.insert(name.to_owned(), hash);
    }

    /// Whether member `name` was hashed.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// The tenant `anchor.json` names must be the receipts'.
pub(super) fn anchor_tenant(anchor: Option<&Anchor>, tenant: Option<&TenantId>) -> Option<Finding> {
    let (Some(a), Some(t)) = (anchor.and_then(|a| a.tenant.as_ref()), tenant) else {
        return None;
    };
    (a != t).then(|| {
        Finding::member(
            FindingKind::Anchor,
            ANCHOR,
            format!(
                "anchor.json names tenant {:?}, but the receipts are tenant {:?}: the anchor belongs to another chain",
                a.as_str(),
                t.as_str()
            ),
        )
        .with_values(Some(t.as_str().to_owned()), Some(a.as_str().to_owned()))
    })
}

/// The receipts' findings are about `receipts.jsonl`.
pub(super) fn name_receipts_member(chain: &mut VerificationReport) {
    for f in &mut chain.findings {
        if f.file.is_none() {
            f.file = Some(RECEIPTS.to_owned());
        }
    }
}

/// Each hashed member's SHA-256 against the manifest's `claimed` checksum.
pub(super) fn checksums(
    claimed: &BTreeMap<String, Option<String>>,
    computed: &MemberHashes,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, claimed) in claimed {
        let Some(c) = computed.0.get(name) else {
            continue;
        };
        if claimed.as_deref() != Some(c.as_str()) {
            out.push(
                Finding::member(
                    FindingKind::Checksum,
                    name,
                    format!("the SHA-256 of {name} differs from the manifest's checksum: the member was changed after signing"),
                )
                .with_values(Some(c.clone()), claimed.clone()),
            );
        }
    }
    out
}

/// Stage 10: the bundle-level findings, `pre` (found before the receipts were read) then
/// `post`, first and kept in full; then the receipts' findings, as `chain` kept and counted them.
pub(super) fn merge(chain: &mut VerificationReport, pre: Vec<Finding>, post: Vec<Finding>) {
    let receipt_findings = std::mem::take(&mut chain.findings);
    let receipt_total = chain.findings_total;
    let receipt_counts = std::mem::take(&mut chain.counts);
    chain.findings_total = 0;
    for f in pre.into_iter().chain(post) {
        chain.add(f, usize::MAX);
    }
    chain.findings.extend(receipt_findings);
    chain.findings_total += receipt_total;
    for (k, v) in receipt_counts {
        *chain.counts.entry(k).or_insert(0) += v;
    }
}

/// `chain_metadata.json` against the receipts as verified (`chain`) and the key they were
/// verified under.
pub(super) fn check_metadata(
    bytes: &[u8],
    chain: &VerificationReport,
    key: Option<VerifyingKey>,
    out: &mut Vec<Finding>,
) {
    let Ok(Value::Object(meta)) = json::parse(bytes) else {
        out.push(Finding::member(
            FindingKind::Metadata,
            CHAIN_METADATA,
            "chain_metadata.json is not a JSON object (strict: UTF-8, no duplicate keys)",
        ));
        return;
    };
    let s = |v: Option<String>| v.map_or(Value::Null, Value::from);
    let expect: [(&str, Value); 7] = [
        ("total_receipts", Value::from(chain.receipts)),
        ("first_receipt_id", s(chain.first_receipt_id.clone())),
        ("last_receipt_id", s(chain.last_receipt_id.clone())),
        (
            "first_timestamp",
            s(chain.first_timestamp.map(|t| t.to_isoformat())),
        ),
        (
            "last_timestamp",
            s(chain.last_timestamp.map(|t| t.to_isoformat())),
        ),
        (
            "tenant_id",
            s(chain.tenant.as_ref().map(|t| t.as_str().to_owned())),
        ),
        ("key_fingerprint", s(key.map(|k| k.fingerprint()))),
    ];
    // Unreadable lines are findings of their own; the ids and timestamps compared are then
    // those of the readable receipts, so a mismatch may only repeat them.
    let unreadable: u64 = [FindingKind::Parse, FindingKind::LineTooLong]
        .iter()
        .filter_map(|k| chain.counts.get(k))
        .sum();
    for (name, want) in expect {
        if name == "tenant_id" && chain.tenant.is_none() {
            continue; // no receipt to compare with; the count already tells
        }
        let have = meta.get(name);
        if have != Some(&want) {
            let why = if name == "key_fingerprint" {
                "is not the fingerprint of the key the receipts are verified under: the metadata was written for another key, or altered".to_owned()
            } else if unreadable > 0 && name != "total_receipts" {
                format!(
                    "disagrees with the readable receipts ({unreadable} line(s) could not be read; see those findings), or the metadata was altered"
                )
            } else {
                "disagrees with the receipts: receipts were removed or added, or the metadata was altered".to_owned()
            };
            out.push(
                Finding::member(
                    FindingKind::Metadata,
                    CHAIN_METADATA,
                    format!("chain_metadata.json's {name} {why}"),
                )
                .with_values(
                    Some(json_text(&want)),
                    Some(have.map_or_else(|| "(missing)".to_owned(), json_text)),
                ),
            );
        }
    }
}

fn json_text(v: &Value) -> String {
    let mut out = Vec::new();
    canonical::write_ordered_value(v, &mut out);
    let mut t = String::from_utf8_lossy(&out).into_owned();
    if t.len() > 140 {
        let cut = (0..=140)
            .rev()
            .find(|&i| t.is_char_boundary(i))
            .unwrap_or(0);
        t.truncate(cut);
        t.push('…');
    }
    t
}

#[cfg(test)]
#[expect(clippy::indexing_slicing, reason = "tests fail loudly")]
mod tests {
    use super::*;
    use crate::bundle::MANIFEST;
    use crate::verify::ChainOrder;

    #[test]
    fn an_anchor_of_another_tenant_is_a_finding() {
        let mut anchor = Anchor::new(3, "ab");
        anchor.tenant = Some(TenantId::new("globex"));
        let acme = TenantId::new("acme");
        let f = anchor_tenant(Some(&anchor), Some(&acme)).map(|f| (f.kind, f.computed, f.claimed));
        assert_eq!(
            f,
            Some((
                FindingKind::Anchor,
                Some("acme".into()),
                Some("globex".into())
            ))
        );
        anchor.tenant = Some(acme.clone());
        assert!(anchor_tenant(Some(&anchor), Some(&acme)).is_none());
        anchor.tenant = None;
        assert!(
            anchor_tenant(Some(&anchor), Some(&acme)).is_none(),
            "it names none"
        );
    }

    #[test]
    fn a_member_whose_hash_differs_from_its_checksum_is_a_finding() {
        let mut hashes = MemberHashes::default();
        hashes.add(RECEIPTS, b"lines");
        hashes.add(CHAIN_METADATA, b"{}");
        let right = hex::encode(Sha256::digest(b"lines"));
        let claimed = BTreeMap::from([
            (RECEIPTS.to_owned(), Some(right)),
            (CHAIN_METADATA.to_owned(), Some("00".repeat(32))),
            ("unread.txt".to_owned(), None),
        ]);
        let found = checksums(&claimed, &hashes);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].kind, found[0].file.as_deref()),
            (FindingKind::Checksum, Some(CHAIN_METADATA))
        );
    }

    #[test]
    fn merging_puts_the_bundle_findings_first_and_keeps_the_receipt_counts() {
        let mut chain = VerificationReport::new(None, ChainOrder::File);
        chain.add(Finding::new(FindingKind::Empty, "no receipts to verify"), 1);
        chain.count(FindingKind::Parse); // beyond the cap: counted only
        name_receipts_member(&mut chain);
        let pre = vec![Finding::member(FindingKind::MissingMember, MANIFEST, "m")];
        let post = vec![Finding::member(FindingKind::Checksum, RECEIPTS, "c")];
        merge(&mut chain, pre, post);
        let kinds: Vec<_> = chain.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FindingKind::MissingMember,
                FindingKind::Checksum,
                FindingKind::Empty
            ]
        );
        assert_eq!(chain.findings[2].file.as_deref(), Some(RECEIPTS));
        assert_eq!(chain.findings_total, 4);
        assert_eq!(chain.counts.get(&FindingKind::Parse), Some(&1));
    }

    #[test]
    fn metadata_that_is_not_an_object_is_a_finding() {
        let chain = VerificationReport::new(None, ChainOrder::File);
        let mut out = Vec::new();
        check_metadata(b"[]", &chain, None, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::Metadata);
    }
}
