//! What to verify against, and the limits of a verification.

use crate::bundle::ReadLimits;
use crate::keys::VerifyingKey;
use crate::note::Checkpoint;

/// Default cap on one line's length (8 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;
/// Default cap on findings kept in a report (all are counted).
pub const DEFAULT_MAX_FINDINGS: usize = 1000;

/// What to verify against, and limits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The pinned public key. Without one, signatures are not checked and the verdict is at
    /// best [`super::Verdict::Unpinned`].
    pub key: Option<VerifyingKey>,
    /// The `prev_receipt_hash` the first receipt must have: `""` (genesis, the default) or the
    /// anchor of a partial export. For an evidence bundle, which carries its own start
    /// (`anchor.json`, or none from genesis), a non-empty anchor here is where that start must
    /// be: an auditor holding the tip of the previous export checks that the next one
    /// continues from it.
    pub anchor: String,
    /// Rebuild chain order from the links instead of trusting file order; reports forks and
    /// orphans. Holds every receipt's hashes in memory.
    pub rebuild_order: bool,
    /// Longest accepted line in bytes.
    pub max_line_bytes: usize,
    /// Findings kept in the report (all are counted).
    pub max_findings: usize,
    /// Worker threads for per-line checks (0 = one per core).
    pub threads: usize,
    /// Limits for reading an evidence bundle.
    pub bundle_limits: ReadLimits,
    /// An earlier checkpoint of the same log the auditor already holds (verified by the
    /// caller): a bundle must then prove that its history extends it (no truncation, rollback
    /// or fork).
    pub since: Option<Checkpoint>,
    /// Accept unsigned receipts (`SealingMode::Checkpointed`) that a checkpoint signed
    /// by the pinned key covers (default `false`: every unsigned receipt is a finding).
    ///
    /// The trust this adds: such a receipt is vouched for only by a checkpoint. This library
    /// signs a checkpoint only over leaves it can authenticate (its own appends, signed lines,
    /// and unsigned lines carrying its writer's tag), so a receipt written into the store without
    /// the key gets none; accepting relies on every signer of the log doing so
    /// (`docs/transparency.md` §6).
    pub accept_checkpointed: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            key: None,
            anchor: String::new(),
            rebuild_order: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_findings: DEFAULT_MAX_FINDINGS,
            threads: 0,
            bundle_limits: ReadLimits::default(),
            since: None,
            accept_checkpointed: false,
        }
    }
}

impl VerifyOptions {
    /// Options with `key` pinned and defaults otherwise.
    #[must_use]
    pub fn pinned(key: VerifyingKey) -> Self {
        Self {
            key: Some(key),
            ..Self::default()
        }
    }

    /// Sets rebuild-from-links mode.
    #[must_use]
    pub fn with_rebuild_order(mut self, on: bool) -> Self {
        self.rebuild_order = on;
        self
    }

    /// Sets the anchor the first receipt must link to.
    #[must_use]
    pub fn with_anchor(mut self, anchor: impl Into<String>) -> Self {
        self.anchor = anchor.into();
        self
    }

    /// Sets the earlier checkpoint a bundle's history must extend.
    #[must_use]
    pub fn with_since(mut self, checkpoint: Checkpoint) -> Self {
        self.since = Some(checkpoint);
        self
    }

    /// Accepts unsigned (Checkpointed) receipts under a covering checkpoint signed by the pinned
    /// key; see [`VerifyOptions::accept_checkpointed`] for the trust this adds.
    #[must_use]
    pub fn with_accept_checkpointed(mut self, on: bool) -> Self {
        self.accept_checkpointed = on;
        self
    }

    /// Sets the line length limit.
    #[must_use]
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }
}
