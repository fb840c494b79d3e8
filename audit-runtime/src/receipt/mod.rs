//! The v1 decision receipt: plain data, no I/O and no cryptography.
//!
//! Field order and meaning follow the Python library `ai-audit-trail` 0.4.x (see
//! `docs/receipt-format.md`).

mod gap;
mod ids;
mod timestamp;

use std::fmt;
use std::str::FromStr;

pub use gap::{GAP_CHECK, GAP_REASON, Gap};
pub use ids::{ReceiptId, SessionId, TenantId, TenantIdError, TraceId};
pub use timestamp::{Timestamp, TimestampError, UtcOffset};

use crate::json::Object;

/// The version string every v1 receipt carries.
pub const RECEIPT_VERSION: &str = "1.0";

/// What the AI system did with a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Action {
    /// The output was allowed.
    #[default]
    Allow,
    /// The output was rejected.
    Reject,
    /// The call failed and may be retried.
    FailRetry,
    /// The answer came from a cache.
    CacheHit,
    /// The decision was escalated to a human.
    Escalate,
    /// Checks were bypassed.
    Bypass,
}

impl Action {
    /// All six actions, in the order the v1 format declares them.
    pub const ALL: [Self; 6] = [
        Self::Allow,
        Self::Reject,
        Self::FailRetry,
        Self::CacheHit,
        Self::Escalate,
        Self::Bypass,
    ];

    /// The wire spelling (`allow`, `reject`, `fail_retry`, `cache_hit`, `escalate`, `bypass`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Reject => "reject",
            Self::FailRetry => "fail_retry",
            Self::CacheHit => "cache_hit",
            Self::Escalate => "escalate",
            Self::Bypass => "bypass",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of the six action names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown action {0:?}; expected one of allow, reject, fail_retry, cache_hit, escalate, bypass"
)]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownAction(s.chars().take(64).collect()))
    }
}

/// One check that ran on a decision (a safety filter, a PII scan, a quality score, …).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRecord {
    /// Name of the check.
    pub name: String,
    /// Version of the check (default `"1.0"`).
    pub version: String,
    /// The score the check produced. Must be finite to be sealed.
    pub score: f64,
    /// The threshold the score was compared with. Must be finite to be sealed.
    pub threshold: f64,
    /// Whether the check fired.
    pub fired: bool,
    /// Free-form details (string keys, any JSON values).
    pub detail: Object,
}

impl CheckRecord {
    /// A check with the given name, score and threshold; `fired` is `score >= threshold`.
    ///
    /// ```
    /// use audit_runtime::CheckRecord;
    /// let c = CheckRecord::new("toxicity", 0.91, 0.8);
    /// assert!(c.fired);
    /// assert_eq!(c.version, "1.0");
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, score: f64, threshold: f64) -> Self {
        Self {
            name: name.into(),
            version: RECEIPT_VERSION.to_owned(),
            score,
            threshold,
            fired: score >= threshold,
            detail: Object::new(),
        }
    }

    /// Sets `fired` explicitly.
    #[must_use]
    pub fn with_fired(mut self, fired: bool) -> Self {
        self.fired = fired;
        self
    }

    /// Sets the check's version.
    #[must_use]
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the detail object.
    #[must_use]
    pub fn with_detail(mut self, detail: Object) -> Self {
        self.detail = detail;
        self
    }
}

/// An unsealed v1 decision receipt: every field of the seal payload.
///
/// `receipt_hash` and `signature` are not here: they are produced by sealing
/// ([`crate::SealedReceipt`]). The chain sets `prev_receipt_hash`.
///
/// ```
/// use audit_runtime::{Action, CheckRecord, Receipt};
/// let r = Receipt::new("acme")
///     .with_input_text("Is this loan application complete?")
///     .with_output_text("Yes")
///     .with_check(CheckRecord::new("completeness", 0.97, 0.9))
///     .with_action(Action::Allow)
///     .with_model("gpt-4o-mini");
/// assert_eq!(r.tenant_id.as_str(), "acme");
/// assert_eq!(r.input_c14n.len(), 64);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    /// Unique id of this receipt.
    pub receipt_id: ReceiptId,
    /// Format version, `"1.0"`.
    pub receipt_version: String,
    /// When the decision was made.
    pub timestamp: Timestamp,
    /// Trace the decision belongs to.
    pub trace_id: TraceId,
    /// Session the decision belongs to.
    pub session_id: SessionId,
    /// Tenant whose chain the receipt joins.
    pub tenant_id: TenantId,
    /// `canonicalize_input` hash of the input, or empty.
    pub input_c14n: String,
    /// `hash_state` digest of the state, or empty.
    pub state_digest: String,
    /// `hash_output` hash of the output, or empty.
    pub output_hash: String,
    /// Checks that ran.
    pub checks: Vec<CheckRecord>,
    /// What was done.
    pub action: Action,
    /// Machine-readable reasons.
    pub reason_codes: Vec<String>,
    /// NIST AI RMF tags.
    pub nist_tags: Vec<String>,
    /// Model that made the decision.
    pub model_id: String,
    /// Digest of the model configuration.
    pub config_digest: String,
    /// `receipt_hash` of the previous receipt of this tenant, or empty for the first.
    pub prev_receipt_hash: String,
}

impl Receipt {
    /// A new receipt for `tenant` with a random id, the current UTC time and action `allow`.
    #[must_use]
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        Self::new_at(tenant, ReceiptId::random(), Timestamp::now_utc())
    }

    /// A new receipt with an explicit id and timestamp (deterministic tests, imports).
    #[must_use]
    pub fn new_at(tenant: impl Into<TenantId>, id: ReceiptId, timestamp: Timestamp) -> Self {
        Self {
            receipt_id: id,
            receipt_version: RECEIPT_VERSION.to_owned(),
            timestamp,
            trace_id: TraceId::default(),
            session_id: SessionId::default(),
            tenant_id: tenant.into(),
            input_c14n: String::new(),
            state_digest: String::new(),
            output_hash: String::new(),
            checks: Vec::new(),
            action: Action::Allow,
            reason_codes: Vec::new(),
            nist_tags: Vec::new(),
            model_id: String::new(),
            config_digest: String::new(),
            prev_receipt_hash: String::new(),
        }
    }

    /// Sets the trace id.
    #[must_use]
    pub fn with_trace(mut self, trace: impl Into<TraceId>) -> Self {
        self.trace_id = trace.into();
        self
    }

    /// Sets the session id.
    #[must_use]
    pub fn with_session(mut self, session: impl Into<SessionId>) -> Self {
        self.session_id = session.into();
        self
    }

    /// Adds a check.
    #[must_use]
    pub fn with_check(mut self, check: CheckRecord) -> Self {
        self.checks.push(check);
        self
    }

    /// Sets the action.
    #[must_use]
    pub fn with_action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }

    /// Adds a reason code.
    #[must_use]
    pub fn with_reason(mut self, code: impl Into<String>) -> Self {
        self.reason_codes.push(code.into());
        self
    }

    /// Adds a NIST AI RMF tag.
    #[must_use]
    pub fn with_nist_tag(mut self, tag: impl Into<String>) -> Self {
        self.nist_tags.push(tag.into());
        self
    }

    /// Sets the model id.
    #[must_use]
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model_id = model.into();
        self
    }

    /// Sets the configuration digest.
    #[must_use]
    pub fn with_config_digest(mut self, digest: impl Into<String>) -> Self {
        self.config_digest = digest.into();
        self
    }
}
