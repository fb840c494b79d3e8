//! Signed gap receipts: how a chain that lost acknowledged receipts continues honestly.
//!
//! When a store finds a tenant's chain behind (or different from) what it acknowledged — a
//! damaged write-ahead log rolled it back, a backup was restored, the database was emptied — it
//! refuses to append to that tenant ([`TenantFault`]). If the receipts cannot be restored, an
//! operator records the loss: [`record_gap`] appends, at the stored tip, an ordinary v1 receipt
//! signed by the store's key that says what was lost (how many receipts had been acknowledged,
//! the hash of the last, how many are stored), and the chain continues after it. Every
//! verifier accepts the receipt (it is a valid v1 receipt); ours also lists it in
//! [`VerificationReport::gaps`](crate::VerificationReport::gaps), so an auditor sees the loss
//! instead of a silently shorter history. Checkpoints signed before the loss do not extend to
//! the chain after it (`--since` them fails): that, too, is the truth.
//!
//! What the receipt states is [`Gap`]'s (the format, `receipt::gap`).

use crate::json::Object;
use crate::receipt::{Action, CheckRecord, GAP_CHECK, GAP_REASON, Gap, Receipt, TenantId};
use crate::seal::{SealError, Signer, seal};
use crate::store::{NewEntry, Store, StoreError, TenantFault, tree};

/// Why a gap could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GapError {
    /// The tenant has no fault that a gap settles.
    #[error(
        "tenant {:?} has lost no acknowledged receipts (its chain is not behind its high-water record); there is no gap to record", .0.as_str()
    )]
    NoLoss(TenantId),
    /// The tenant's fault is not a loss (its records disagree): it needs repair, not a gap.
    #[error("tenant {:?} cannot be continued with a gap receipt: {fault}", .tenant.as_str())]
    NotALoss {
        /// The tenant.
        tenant: TenantId,
        /// Its fault.
        fault: TenantFault,
    },
    /// Sealing the gap receipt failed.
    #[error("cannot sign the gap receipt")]
    Seal(#[from] SealError),
    /// The store failed; nothing was appended.
    #[error("cannot append the gap receipt")]
    Store(#[from] StoreError),
}

/// A gap receipt that was appended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedGap {
    /// The tenant.
    pub tenant: TenantId,
    /// The gap receipt's position in the chain.
    pub seq: u64,
    /// Its id.
    pub receipt_id: String,
    /// What it states.
    pub gap: Gap,
}

/// Appends a signed gap receipt to `tenant`'s chain, which must have lost acknowledged
/// receipts ([`Store::faults`] names it as rolled back or diverged), and lifts the store's
/// refusal of the tenant. Run it with no `Auditor` writing to the store; `signer` must be the
/// store's key.
///
/// ```
/// use audit_runtime::log::{GapError, record_gap};
/// use audit_runtime::store::MemoryStore;
/// use audit_runtime::SigningKey;
///
/// // A store that lost nothing has no gap to record.
/// let err = record_gap(&MemoryStore::new(), &SigningKey::generate()?, &"acme".into(), "").unwrap_err();
/// assert!(matches!(err, GapError::NoLoss(_)), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`GapError::NoLoss`], [`GapError::NotALoss`], or sealing and store failures (then nothing
/// was appended).
pub fn record_gap(
    store: &dyn Store,
    signer: &dyn Signer,
    tenant: &TenantId,
    note: &str,
) -> Result<RecordedGap, GapError> {
    let fault = store
        .faults()?
        .into_iter()
        .find(|(t, _)| t == tenant)
        .map(|(_, f)| f)
        .ok_or_else(|| GapError::NoLoss(tenant.clone()))?;
    let (kind, acknowledged, acknowledged_hash, at) = match &fault {
        TenantFault::RolledBack {
            stored,
            acknowledged,
            acknowledged_hash,
        } => ("rolled_back", *acknowledged, *acknowledged_hash, *stored),
        TenantFault::Diverged {
            at,
            acknowledged_hash,
            ..
        } => ("diverged", at + 1, *acknowledged_hash, *at),
        TenantFault::Inconsistent { .. } => {
            return Err(GapError::NotALoss {
                tenant: tenant.clone(),
                fault,
            });
        }
    };
    let mut outcome: Option<Result<RecordedGap, GapError>> = None;
    store
        .accept_loss(tenant, &mut |txn| {
            let tip = txn.tip(tenant)?;
            let stored = tip.map_or(0, |t| t.len);
            let gap = Gap {
                fault: kind.to_owned(),
                stored,
                acknowledged,
                acknowledged_hash: crate::canonical::to_hex(acknowledged_hash),
                at,
                note: note.to_owned(),
            };
            let mut receipt = gap_receipt(tenant, &gap);
            receipt.prev_receipt_hash = tip
                .map(|t| crate::canonical::to_hex(t.hash))
                .unwrap_or_default();
            let sealed = match seal(receipt, signer) {
                Ok(s) => s,
                Err(e) => {
                    outcome = Some(Err(e.into()));
                    return Err(StoreError::Corrupt {
                        what: "the gap receipt could not be signed".into(),
                    });
                }
            };
            let line = sealed.to_jsonl_line();
            let r = sealed.receipt();
            txn.append(&NewEntry {
                tenant,
                seq: stored,
                receipt_id: &r.receipt_id,
                receipt_hash: sealed.receipt_hash(),
                timestamp_micros: r.timestamp.to_unix_micros(),
                trace_id: &r.trace_id,
                session_id: &r.session_id,
                line: &line,
                tag: None,
            })?;
            tree::feed(
                txn,
                &[(
                    tenant,
                    stored,
                    crate::merkle::leaf_hash(&sealed.seal_payload()),
                )],
            )?;
            outcome = Some(Ok(RecordedGap {
                tenant: tenant.clone(),
                seq: stored,
                receipt_id: r.receipt_id.to_string(),
                gap,
            }));
            Ok(())
        })
        .map_err(|e| match outcome.take() {
            Some(Err(seal)) => seal,
            _ => GapError::Store(e),
        })?;
    outcome.unwrap_or_else(|| {
        Err(GapError::Store(StoreError::Corrupt {
            what: "the gap receipt was not appended".into(),
        }))
    })
}

/// The gap receipt that states `gap` for `tenant` (unsealed, not yet linked).
fn gap_receipt(tenant: &TenantId, gap: &Gap) -> Receipt {
    let detail = Object::new()
        .with("fault", gap.fault.as_str())
        .with("stored", gap.stored)
        .with("acknowledged", gap.acknowledged)
        .with("acknowledged_hash", gap.acknowledged_hash.as_str())
        .with("at", gap.at)
        .with("note", gap.note.as_str());
    #[expect(clippy::cast_precision_loss, reason = "the score is informative")]
    let lost = gap.lost() as f64;
    Receipt::new(tenant.clone())
        .with_action(Action::Escalate)
        .with_reason(GAP_REASON)
        .with_model("ai-audit")
        .with_check(
            CheckRecord::new(GAP_CHECK, lost, 0.0)
                .with_fired(true)
                .with_detail(detail),
        )
}
