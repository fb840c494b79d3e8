//! The verification report and its verdict.

use std::collections::BTreeMap;
use std::fmt;

use super::{Finding, FindingKind};
use crate::keys::VerifyingKey;
use crate::receipt::{TenantId, Timestamp};

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
    /// The one verdict rule, for every report: any finding fails the evidence; without one it
    /// passes only if a key was `pinned` (checked against the evidence's own key, it proves
    /// nothing).
    pub(crate) fn rule(findings_total: u64, pinned: bool) -> Self {
        if findings_total > 0 {
            Self::Fail
        } else if pinned {
            Self::Pass
        } else {
            Self::Unpinned
        }
    }

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
    /// Receipts without a signature (`SealingMode::Checkpointed`) that a checkpoint
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
    /// A report of nothing read yet, checked against `key` (if pinned), in `order`.
    pub(crate) fn new(key: Option<VerifyingKey>, order: ChainOrder) -> Self {
        Self {
            receipts: 0,
            signatures_verified: 0,
            checkpoint_covered: 0,
            key,
            tenant: None,
            first_receipt_id: None,
            last_receipt_id: None,
            first_timestamp: None,
            last_timestamp: None,
            tip: None,
            order,
            findings: Vec::new(),
            findings_total: 0,
            counts: BTreeMap::new(),
            gaps: Vec::new(),
        }
    }

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
        Verdict::rule(self.findings_total, self.key.is_some())
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
