//! The `metrics` feature as an operator sees it: a Prometheus recorder installed in the process
//! shows receipts stored, receipts lost by cause, group-commit latency, queue depth and
//! checkpoints, from the auditor's own counters.

use std::time::Duration;

use ai_audit::store::MemoryStore;
use ai_audit::{Auditor, Receipt, SigningKey};
use metrics_exporter_prometheus::PrometheusBuilder;

mod support;
use support::failing_store::FailingStore;

/// The value of the sample line `name` (with labels, as rendered) in a Prometheus scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_prometheus_scrape_shows_what_the_auditor_did() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();

    let healthy = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .store(MemoryStore::new())
        .checkpoint_every(25, Duration::from_secs(60))
        .build()
        .unwrap();
    for _ in 0..100 {
        healthy.emit(Receipt::new("acme")).unwrap();
    }
    healthy.shutdown().unwrap();

    let broken = Auditor::builder()
        .signer(SigningKey::generate().unwrap())
        .store(FailingStore::default())
        .build()
        .unwrap();
    for _ in 0..7 {
        drop(broken.submit(Receipt::new("acme")).unwrap()); // nobody waits: lost if not stored
    }
    assert_eq!(broken.shutdown().unwrap_err().count(), 7);

    let scrape = handle.render();
    for (name, want) in [
        ("ai_audit_receipts_stored_total", 100.0),
        ("ai_audit_receipts_failed_total", 7.0),
        ("ai_audit_receipts_lost_total{cause=\"not_stored\"}", 7.0),
        ("ai_audit_checkpoints_signed_total", 4.0),
        ("ai_audit_checkpoint_lag_receipts", 0.0),
    ] {
        assert_eq!(sample(&scrape, name), Some(want), "{name}: {scrape}");
    }
    assert!(
        sample(&scrape, "ai_audit_commit_seconds_count").unwrap() >= 1.0,
        "{scrape}"
    );
    assert!(
        sample(&scrape, "ai_audit_queue_depth").is_some(),
        "{scrape}"
    );
}
