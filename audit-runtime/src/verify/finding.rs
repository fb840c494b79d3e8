//! Findings and the verification report.

use std::collections::BTreeMap;
use std::fmt;

use crate::keys::VerifyingKey;
use crate::receipt::{TenantId, Timestamp};

/// The check a finding comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FindingKind {
    /// The input holds no receipts at all.
    Empty,
    /// A line is longer than the configured limit.
    LineTooLong,
    /// A line is not a well-formed v1 receipt (bad JSON, duplicate or unknown keys, wrong types).
    Parse,
    /// A line parses, but is not spelled the way the canonical writer spells it.
    NonCanonical,
    /// `receipt_hash` or `signature` is not lowercase hex of the right length.
    Encoding,
    /// `receipt_hash` differs from the SHA-256 of the re-derived seal payload.
    SelfHash,
    /// The signature does not verify under the pinned key.
    Signature,
    /// The first receipt does not start the chain (`prev_receipt_hash` is not `""`, or not the anchor).
    Genesis,
    /// `prev_receipt_hash` is not the previous receipt's `receipt_hash` (in file order).
    Link,
    /// A receipt id appears twice.
    DuplicateId,
    /// A receipt belongs to another tenant than the first one.
    MixedTenant,
    /// Two receipts name the same predecessor (rebuild mode).
    Fork,
    /// A receipt is not reachable from the chain's start (rebuild mode).
    Orphan,
    /// A bundle's `manifest.json` is missing, unreadable or not a v1 manifest.
    Manifest,
    /// The manifest's signature does not verify under the pinned key.
    ManifestSignature,
    /// The bundle's key (`public_key.hex`, `key_fingerprint`) is not the pinned key.
    KeyMismatch,
    /// A member's SHA-256 differs from the manifest's checksum, or a required member is not
    /// covered by it.
    Checksum,
    /// A required or listed member is missing.
    MissingMember,
    /// A member is not listed in the manifest.
    UnlistedMember,
    /// `chain_metadata.json` disagrees with the receipts (count, first/last, tenant, key).
    Metadata,
    /// `anchor.json` of a partial export is unreadable.
    Anchor,
    /// The bundle's checkpoint is unreadable, not signed by the pinned key, or does not cover
    /// exactly the bundle's receipts (its root and size recomputed from them differ).
    Checkpoint,
    /// The bundle's history is not an extension of an earlier checkpoint (`--since`): it was
    /// truncated, rolled back, or forked.
    Consistency,
    /// A receipt has no signature (sealed in [`crate::SealingMode::Checkpointed`] mode) and no
    /// verified checkpoint covers it, so nothing authenticates it.
    Unsigned,
}

impl FindingKind {
    /// The stable snake_case name used in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::LineTooLong => "line_too_long",
            Self::Parse => "parse",
            Self::NonCanonical => "non_canonical",
            Self::Encoding => "encoding",
            Self::SelfHash => "self_hash",
            Self::Signature => "signature",
            Self::Genesis => "genesis",
            Self::Link => "link",
            Self::DuplicateId => "duplicate_id",
            Self::MixedTenant => "mixed_tenant",
            Self::Fork => "fork",
            Self::Orphan => "orphan",
            Self::Manifest => "manifest",
            Self::ManifestSignature => "manifest_signature",
            Self::KeyMismatch => "key_mismatch",
            Self::Checksum => "checksum",
            Self::MissingMember => "missing_member",
            Self::UnlistedMember => "unlisted_member",
            Self::Metadata => "chain_metadata",
            Self::Anchor => "anchor",
            Self::Checkpoint => "checkpoint",
            Self::Consistency => "consistency",
            Self::Unsigned => "unsigned",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Which check failed.
    pub kind: FindingKind,
    /// The bundle member the finding is about (`receipts.jsonl`, `manifest.json`, …); `None`
    /// when verifying a bare JSONL file.
    pub file: Option<String>,
    /// 0-based position of the receipt (line) in the input; `None` for whole-input findings.
    pub index: Option<u64>,
    /// The receipt's id, when the line could be read far enough.
    pub receipt_id: Option<String>,
    /// The value the verifier computed (a hash, the expected predecessor, …).
    pub computed: Option<String>,
    /// The value the evidence claims.
    pub claimed: Option<String>,
    /// A sentence that says what is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.index) {
            (Some(file), Some(i)) => write!(f, "{file} index {i}")?,
            (Some(file), None) => f.write_str(file)?,
            (None, Some(i)) => write!(f, "index {i}")?,
            (None, None) => f.write_str("file")?,
        }
        if let Some(id) = &self.receipt_id {
            write!(f, ", receipt {id}")?;
        }
        write!(f, ": {}: {}", self.kind, self.message)?;
        // An empty value (the genesis link "") is shown as such, not as nothing.
        let shown = |v: &Option<String>| {
            v.as_deref()
                .map(|v| if v.is_empty() { "\"\"" } else { v })
                .map(str::to_owned)
        };
        match (shown(&self.computed), shown(&self.claimed)) {
            (Some(c), Some(l)) => write!(f, " (computed {c}, claimed {l})"),
            (Some(c), None) => write!(f, " (computed {c})"),
            (None, Some(l)) => write!(f, " (claimed {l})"),
            (None, None) => Ok(()),
        }
    }
}

/// The outcome of a verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed under the pinned key.
    Pass,
    /// At least one check failed.
    Fail,
    /// Hashes and links are consistent, but no key was pinned, so signatures prove nothing.
    Unpinned,
}

impl Verdict {
    /// The CLI exit code: 0 pass, 1 fail, 3 unpinned.
    #[must_use]
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Pass => 0,
            Self::Fail => 1,
            Self::Unpinned => 3,
        }
    }

    /// `pass`, `fail` or `unpinned`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Unpinned => "unpinned",
        }
    }
}

/// How the chain order was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainOrder {
    /// File (store) order: the normal, strict mode.
    File,
    /// Rebuilt from the `prev_receipt_hash` links, ignoring file order.
    Rebuilt,
}

/// Everything a verification found, plus the figures an auditor records.
#[must_use]
#[derive(Clone, Debug)]
pub struct VerificationReport {
    /// Receipts (lines) read.
    pub receipts: u64,
    /// Receipts whose signature verified under the pinned key.
    pub signatures_verified: u64,
    /// Receipts without a signature ([`crate::SealingMode::Checkpointed`]) that a checkpoint
    /// signed by the pinned key covers: they are authenticated by inclusion, not by a signature.
    pub checkpoint_covered: u64,
    /// The pinned key, if any.
    pub key: Option<VerifyingKey>,
    /// The chain's tenant (that of the first readable receipt).
    pub tenant: Option<TenantId>,
    /// Id of the first receipt.
    pub first_receipt_id: Option<String>,
    /// Id of the last receipt.
    pub last_receipt_id: Option<String>,
    /// Timestamp of the first receipt.
    pub first_timestamp: Option<Timestamp>,
    /// Timestamp of the last receipt.
    pub last_timestamp: Option<Timestamp>,
    /// `receipt_hash` of the last receipt in chain order: the value to compare with an
    /// independently recorded tip.
    pub tip: Option<String>,
    /// How chain order was established.
    pub order: ChainOrder,
    /// The findings, up to the configured cap, in input order.
    pub findings: Vec<Finding>,
    /// All findings, including those beyond the cap.
    pub findings_total: u64,
    /// Findings per kind.
    pub counts: BTreeMap<FindingKind, u64>,
    /// Gap receipts in the chain: losses of acknowledged receipts that the store's operator
    /// recorded (see [`crate::receipt::Gap`]). They are not findings: the chain is intact and says
    /// what it lost; a report shows them beside the verdict.
    pub gaps: Vec<GapNotice>,
}

/// A gap receipt found in a verified chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GapNotice {
    /// 0-based position of the gap receipt in the input.
    pub index: u64,
    /// Its id.
    pub receipt_id: String,
    /// What it states.
    pub gap: crate::receipt::Gap,
}

impl fmt::Display for GapNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "index {}, receipt {}: {}",
            self.index, self.receipt_id, self.gap
        )
    }
}

impl VerificationReport {
    /// Records a finding: counted always, kept while fewer than `cap` are kept.
    pub(crate) fn add(&mut self, f: Finding, cap: usize) {
        self.count(f.kind);
        if !self.is_full(cap) {
            self.findings.push(f);
        }
    }

    /// Counts a finding without keeping it.
    pub(crate) fn count(&mut self, kind: FindingKind) {
        self.findings_total += 1;
        *self.counts.entry(kind).or_insert(0) += 1;
    }

    /// Whether `cap` findings are kept already (more are only counted).
    pub(crate) fn is_full(&self, cap: usize) -> bool {
        self.findings.len() >= cap
    }

    /// Pass, fail, or unpinned.
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        if self.findings_total > 0 {
            Verdict::Fail
        } else if self.key.is_none() {
            Verdict::Unpinned
        } else {
            Verdict::Pass
        }
    }

    /// Whether the verdict is [`Verdict::Pass`].
    #[must_use]
    pub fn is_pass(&self) -> bool {
        self.verdict() == Verdict::Pass
    }

    /// The first finding of `kind`, if any was kept.
    #[must_use]
    pub fn first(&self, kind: FindingKind) -> Option<&Finding> {
        self.findings.iter().find(|f| f.kind == kind)
    }
}
