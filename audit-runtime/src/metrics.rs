//! What the auditor publishes through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): install any `metrics` recorder (a Prometheus exporter, StatsD, …) and
//! these appear, for every auditor of the process. Without the feature these calls compile to
//! nothing. [`Auditor::stats`](crate::Auditor::stats) shows the same counts per auditor.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `ai_audit_receipts_stored_total` | counter | receipts appended to a chain |
//! | `ai_audit_receipts_duplicate_total` | counter | emits answered with an earlier receipt of the same id |
//! | `ai_audit_receipts_failed_total` | counter | emits answered with an error (signer or store failed, invalid receipt, shut down) |
//! | `ai_audit_receipts_lost_total{cause}` | counter | receipts lost without anyone told at the time; `cause` is `dropped`, `refused`, `not_stored` or `invalid_tenant` (see [`LossCause`](crate::LossCause)) |
//! | `ai_audit_commit_seconds` | histogram | time of one group commit (store transaction and fsync) |
//! | `ai_audit_commit_receipts` | histogram | receipts in one group commit |
//! | `ai_audit_queue_depth` | gauge | receipts waiting for the writer, after it took a batch |
//! | `ai_audit_checkpoints_signed_total` | counter | checkpoints the writer signed and stored on its schedule (not those of `Auditor::checkpoint`, export or start-up) |
//! | `ai_audit_checkpoint_failures_total` | counter | checkpoints that could not be signed or stored (retried) |
//! | `ai_audit_checkpoint_lag_receipts` | gauge | receipts the writer appended and not yet under a signed checkpoint (one gauge per process: with several auditors, the one that committed last sets it) |

use std::time::Duration;

#[cfg(feature = "metrics")]
mod imp {
    use super::Duration;

    pub(crate) fn stored(n: u64) {
        metrics::counter!("ai_audit_receipts_stored_total").increment(n);
    }

    pub(crate) fn duplicates(n: u64) {
        metrics::counter!("ai_audit_receipts_duplicate_total").increment(n);
    }

    pub(crate) fn failed(n: u64) {
        metrics::counter!("ai_audit_receipts_failed_total").increment(n);
    }

    /// `cause` is the label of a [`LossCause`](crate::LossCause) (`LossCause::label`).
    pub(crate) fn lost(n: u64, cause: &'static str) {
        metrics::counter!("ai_audit_receipts_lost_total", "cause" => cause).increment(n);
    }

    pub(crate) fn commit(took: Duration, receipts: usize) {
        metrics::histogram!("ai_audit_commit_seconds").record(took.as_secs_f64());
        metrics::histogram!("ai_audit_commit_receipts").record(receipts as f64);
    }

    pub(crate) fn queue_depth(n: usize) {
        metrics::gauge!("ai_audit_queue_depth").set(n as f64);
    }

    pub(crate) fn checkpoints_signed(n: u64) {
        metrics::counter!("ai_audit_checkpoints_signed_total").increment(n);
    }

    pub(crate) fn checkpoint_failures(n: u64) {
        metrics::counter!("ai_audit_checkpoint_failures_total").increment(n);
    }

    pub(crate) fn checkpoint_lag(n: u64) {
        metrics::gauge!("ai_audit_checkpoint_lag_receipts").set(n as f64);
    }
}

#[cfg(not(feature = "metrics"))]
mod imp {
    use super::Duration;

    pub(crate) fn stored(_: u64) {}
    pub(crate) fn duplicates(_: u64) {}
    pub(crate) fn failed(_: u64) {}
    pub(crate) fn lost(_: u64, _: &'static str) {}
    pub(crate) fn commit(_: Duration, _: usize) {}
    pub(crate) fn queue_depth(_: usize) {}
    pub(crate) fn checkpoints_signed(_: u64) {}
    pub(crate) fn checkpoint_failures(_: u64) {}
    pub(crate) fn checkpoint_lag(_: u64) {}
}

pub(crate) use imp::*;
