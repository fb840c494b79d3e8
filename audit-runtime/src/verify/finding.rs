//! Findings: which check failed, where, and the values compared.

use std::fmt;

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
    /// A receipt has no signature (sealed in `SealingMode::Checkpointed` mode) and no
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

impl Finding {
    /// A finding about the whole input: no member, no receipt, no values.
    pub(crate) fn new(kind: FindingKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: None,
            index: None,
            receipt_id: None,
            computed: None,
            claimed: None,
            message: message.into(),
        }
    }

    /// A finding about the receipt at 0-based position `index` of the input.
    pub(crate) fn receipt(
        kind: FindingKind,
        index: u64,
        receipt_id: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            index: Some(index),
            receipt_id,
            ..Self::new(kind, message)
        }
    }

    /// A finding about a whole bundle member (no receipt index).
    pub(crate) fn member(kind: FindingKind, file: &str, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_owned()),
            ..Self::new(kind, message)
        }
    }

    /// The same finding with the value the verifier `computed` and the one the evidence
    /// `claimed`.
    #[must_use]
    pub(crate) fn with_values(self, computed: Option<String>, claimed: Option<String>) -> Self {
        Self {
            computed,
            claimed,
            ..self
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
