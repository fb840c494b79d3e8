//! [`MaskAuditFields`]: a field formatter for `tracing_subscriber::fmt` that never prints the
//! content of an audit span.

use std::fmt;

use tracing_core::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatFields, Writer};

/// The fields whose values are the decision's content: the receipt keeps only their hashes.
pub const MASKED_FIELDS: [&str; 2] = ["audit.input", "audit.output"];

/// What [`MaskAuditFields`] prints instead of a masked value.
pub const MASK: &str = "<hashed by ai-audit>";

/// Formats span and event fields as `tracing_subscriber`'s default formatter does
/// (`name=value`, separated by spaces, the message bare), except that the values of
/// [`MASKED_FIELDS`] are replaced by [`MASK`]. Install it on every `fmt` layer that shares a
/// subscriber with the [`AuditLayer`](crate::AuditLayer); without it, an `fmt` layer prints
/// `audit.input` and `audit.output` in clear text to the application's log.
///
/// ```
/// use audit_runtime::{store::MemoryStore, Auditor, SigningKey};
/// use audit_tracing::{AuditLayer, MaskAuditFields};
/// use tracing_subscriber::layer::SubscriberExt as _;
///
/// let auditor = Auditor::builder().signer(SigningKey::generate()?).store(MemoryStore::new()).build()?;
/// let (audit, guard) = AuditLayer::new(auditor);
/// let subscriber = tracing_subscriber::registry()
///     .with(audit)
///     .with(tracing_subscriber::fmt::layer().fmt_fields(MaskAuditFields::default()));
/// tracing::subscriber::with_default(subscriber, || {
///     let _span = tracing::info_span!("decide", audit.tenant = "acme", audit.input = "account 12345").entered();
///     tracing::info!("deciding"); // logs `decide{audit.tenant="acme" audit.input=<hashed by ai-audit>}: deciding`
/// });
/// let _ = guard.finish();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It masks by field name, whatever the value's type. The JSON formatter
/// (`fmt().json()`) writes event fields with its own visitor and does not use a field formatter
/// for them: do not record audit content on events, and put a `fmt` JSON layer behind a filter
/// that excludes `audit.*` spans' fields if you use one.
#[derive(Clone, Copy, Debug, Default)]
pub struct MaskAuditFields {
    _private: (),
}

impl<'writer> FormatFields<'writer> for MaskAuditFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut v = MaskingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct MaskingVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl MaskingVisitor<'_> {
    fn separator(&mut self) -> fmt::Result {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }
}

impl Visit for MaskingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if MASKED_FIELDS.contains(&field.name()) {
            self.record_debug(field, &format_args!("{MASK}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        self.result = self.separator().and_then(|()| {
            if MASKED_FIELDS.contains(&name) {
                write!(self.writer, "{name}={MASK}")
            } else if name == "message" {
                write!(self.writer, "{value:?}")
            } else if let Some(raw) = name.strip_prefix("r#") {
                write!(self.writer, "{raw}={value:?}")
            } else {
                write!(self.writer, "{name}={value:?}")
            }
        });
    }
}
