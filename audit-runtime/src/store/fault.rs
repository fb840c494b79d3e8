//! Why a store refuses to append to one tenant: its chain was rolled back behind what was
//! acknowledged, it diverges from it, or its records disagree with each other.
//!
//! A refused tenant is isolated: every other tenant of the store keeps appending. What an
//! operator does about it is in each variant's message (restore from a backup that holds the
//! acknowledged receipts, or record the loss with `ai-audit db record-gap`, after which the
//! chain continues with a signed receipt saying what was lost).

use std::fmt;

use crate::canonical::to_hex;

/// What is wrong with one tenant's stored chain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantFault {
    /// The stored chain is shorter than what the store acknowledged earlier (a damaged
    /// write-ahead log, a restored backup, an emptied or replaced database).
    RolledBack {
        /// Receipts stored now.
        stored: u64,
        /// Receipts acknowledged (the high-water record).
        acknowledged: u64,
        /// `receipt_hash` of the last acknowledged receipt.
        acknowledged_hash: [u8; 32],
    },
    /// The stored receipt at an acknowledged position is not the one acknowledged there: the
    /// chain was rolled back and written again (a fork), or the database was replaced.
    Diverged {
        /// The position (sequence number) that differs.
        at: u64,
        /// `receipt_hash` stored there now.
        stored_hash: [u8; 32],
        /// `receipt_hash` acknowledged there.
        acknowledged_hash: [u8; 32],
    },
    /// The tenant's records disagree with each other (its tip, its last stored receipt and its
    /// Merkle tree), or a stored receipt is damaged.
    Inconsistent {
        /// What disagrees.
        what: String,
    },
}

impl TenantFault {
    /// Whether `ai-audit db record-gap` can settle this fault with a signed gap receipt (the
    /// chain lost acknowledged receipts); an inconsistent store needs repair instead.
    #[must_use]
    pub fn is_loss(&self) -> bool {
        matches!(self, Self::RolledBack { .. } | Self::Diverged { .. })
    }

    /// The short name used in reports: `rolled_back`, `diverged`, `inconsistent`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RolledBack { .. } => "rolled_back",
            Self::Diverged { .. } => "diverged",
            Self::Inconsistent { .. } => "inconsistent",
        }
    }
}

impl fmt::Display for TenantFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const RECOVER: &str = "restore the database from a backup that holds the acknowledged \
             receipts, or record the loss with `ai-audit db record-gap` (a signed receipt then \
             says what was lost and the chain continues after it)";
        match self {
            Self::RolledBack {
                stored,
                acknowledged,
                acknowledged_hash,
            } => write!(
                f,
                "the stored chain holds {stored} receipt(s) but {acknowledged} were acknowledged \
                 (the last with receipt_hash {}): receipts were rolled back; {RECOVER}",
                to_hex(acknowledged_hash)
            ),
            Self::Diverged {
                at,
                stored_hash,
                acknowledged_hash,
            } => write!(
                f,
                "the receipt stored at sequence {at} has receipt_hash {} but {} was acknowledged \
                 there: the chain was rewritten after a rollback, or the database replaced; {RECOVER}",
                to_hex(stored_hash),
                to_hex(acknowledged_hash)
            ),
            Self::Inconsistent { what } => write!(
                f,
                "{what}; run `ai-audit db check --full` and restore the database from a backup"
            ),
        }
    }
}
