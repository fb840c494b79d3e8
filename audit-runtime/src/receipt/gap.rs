//! Gap receipts: how a chain that lost acknowledged receipts says so. A gap receipt is an
//! ordinary v1 receipt (every verifier accepts it); [`Gap::from_receipt`] reads what it states,
//! so a verifier can list the loss. Recording one is the running half's (`log::record_gap`).
//!
//! The receipt: action `escalate`, reason code [`GAP_REASON`], model `ai-audit`, one check
//! named [`GAP_CHECK`] (score: receipts lost, threshold 0, fired) whose detail holds `fault`
//! (`rolled_back` or `diverged`), `stored`, `acknowledged`, `acknowledged_hash`, `at` and a
//! free-text `note`.

use super::Receipt;
use crate::json::Value;

/// The reason code of a gap receipt.
pub const GAP_REASON: &str = "chain_gap";
/// The name of a gap receipt's check.
pub const GAP_CHECK: &str = "ai_audit.chain_gap";

/// A loss as a gap receipt states it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// `rolled_back` or `diverged`.
    pub fault: String,
    /// Receipts stored when the loss was recorded.
    pub stored: u64,
    /// Receipts acknowledged before the loss.
    pub acknowledged: u64,
    /// `receipt_hash` of the last acknowledged receipt.
    pub acknowledged_hash: String,
    /// The first position whose acknowledged receipt is gone.
    pub at: u64,
    /// The operator's note.
    pub note: String,
}

impl Gap {
    /// The gap a receipt records, if it is a gap receipt.
    #[must_use]
    pub fn from_receipt(r: &Receipt) -> Option<Self> {
        if !r.reason_codes.iter().any(|c| c == GAP_REASON) {
            return None;
        }
        let d = &r.checks.iter().find(|c| c.name == GAP_CHECK)?.detail;
        let int = |k: &str| {
            d.get(k)
                .and_then(|v| match v {
                    Value::Number(n) => n.as_int(),
                    _ => None,
                })
                .and_then(|i| u64::try_from(i).ok())
        };
        let text = |k: &str| match d.get(k) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        Some(Self {
            fault: text("fault"),
            stored: int("stored")?,
            acknowledged: int("acknowledged")?,
            acknowledged_hash: text("acknowledged_hash"),
            at: int("at")?,
            note: text("note"),
        })
    }

    /// Receipts acknowledged at or after [`Gap::at`] that the chain no longer holds.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.acknowledged.saturating_sub(self.at)
    }
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.fault == "diverged" {
            write!(
                f,
                "the chain diverged at or before sequence {}: the receipt acknowledged there (receipt_hash {}) is not the one stored; the receipts stored from the divergence on were never acknowledged ({} stored)",
                self.at, self.acknowledged_hash, self.stored
            )?;
        } else {
            write!(
                f,
                "{} acknowledged receipt(s) from sequence {} on were lost ({}; {} had been acknowledged, the last with receipt_hash {}; {} were stored)",
                self.lost(),
                self.at,
                self.fault,
                self.acknowledged,
                self.acknowledged_hash,
                self.stored
            )?;
        }
        if !self.note.is_empty() {
            write!(f, "; note: {}", self.note)?;
        }
        Ok(())
    }
}
