//! Content is stored only as hashes — and printed nowhere: with the audit layer and an ordinary
//! `fmt` layer on one subscriber, the application's log holds neither the input nor the output
//! of an audited span, while the receipt still carries their hashes.
#![cfg(feature = "tracing")]
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::Write;
use std::sync::{Arc, Mutex};

mod support;

use ai_audit::TenantId;
use ai_audit::canonical;
use ai_audit::store;
use ai_audit::tracing::{AuditLayer, MASK, MaskAuditFields};
use tracing_subscriber::layer::SubscriberExt as _;

/// The application's log, in memory.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const INPUT: &str = "Patient 4711, HIV positive, requests coverage";
const OUTPUT: &str = "decline: pre-existing condition";

#[test]
fn an_fmt_layer_with_mask_audit_fields_prints_no_input_or_output() {
    let (auditor, store) = support::memory_auditor();
    let (audit, guard) = AuditLayer::new(auditor);
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::registry().with(audit).with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(MaskAuditFields::default())
            .with_writer(move || writer.clone()),
    );
    tracing::subscriber::with_default(subscriber, || {
        // Given at creation, recorded later, and (by mistake) on an event.
        let span = tracing::info_span!(
            "coverage",
            audit.tenant = "insurer",
            audit.input = INPUT,
            audit.output = tracing::field::Empty,
        );
        let _entered = span.enter();
        tracing::info!(
            audit.check = "policy",
            score = 0.9,
            threshold = 0.5,
            "checked"
        );
        span.record("audit.output", OUTPUT);
        tracing::info!(audit.output = OUTPUT, "decided");
    });
    assert_eq!(guard.finish().emitted, 1);

    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("checked") && log.contains("decided"), "{log}");
    assert!(
        log.contains("audit.tenant=\"insurer\""),
        "other fields stay: {log}"
    );
    assert!(log.contains(MASK), "{log}");
    for secret in [INPUT, OUTPUT, "Patient 4711", "pre-existing"] {
        assert!(
            !log.contains(secret),
            "{secret:?} leaked into the log: {log}"
        );
    }

    let stored = store::receipts(store.as_ref(), &TenantId::new("insurer"), 0..1)
        .next()
        .unwrap()
        .unwrap()
        .parse()
        .unwrap()
        .receipt;
    assert_eq!(stored.input_c14n, canonical::canonicalize_input(INPUT));
    assert_eq!(stored.output_hash, canonical::hash_output(OUTPUT));
    assert_eq!(
        stored.reason_codes.first().map(String::as_str),
        Some("decision:coverage")
    );
}
