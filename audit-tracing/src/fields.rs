//! Field visitors: span fields into receipt fields, check events into [`CheckRecord`]s.

use std::fmt;

use audit_runtime::CheckRecord;
use tracing_core::field::{Field, Visit};

pub(crate) const TENANT: &str = "audit.tenant";
pub(crate) const CHECK: &str = "audit.check";

/// The audit fields of one span, as recorded so far.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) tenant: Option<String>,
    pub(crate) input: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) action: Option<String>,
    pub(crate) reasons: Vec<String>,
    pub(crate) trace: Option<String>,
}

impl SpanFields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            TENANT => self.tenant = Some(value),
            "audit.input" => self.input = Some(value),
            "audit.output" => self.output = Some(value),
            "audit.model" => self.model = Some(value),
            "audit.session" => self.session = Some(value),
            "audit.action" => self.action = Some(value),
            "audit.reason" => self.reasons.push(value),
            "otel.trace_id" | "trace_id" => self.trace = Some(value),
            _ => {}
        }
    }
}

fn is_ours(field: &Field) -> bool {
    let n = field.name();
    n.starts_with("audit.") || n == "trace_id" || n == "otel.trace_id"
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if is_ours(field) {
            // Inputs and outputs are large: reuse buffers the worker gave back after hashing.
            let owned = match field.name() {
                "audit.input" | "audit.output" => audit_runtime::capture::pooled_text(value),
                _ => value.to_owned(),
            };
            self.set(field, owned);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if is_ours(field) {
            self.set(field, format!("{value:?}"));
        }
    }
}

/// An `audit.check` event.
#[derive(Debug, Default)]
pub(crate) struct CheckVisitor {
    name: Option<String>,
    score: Option<f64>,
    threshold: Option<f64>,
    fired: Option<bool>,
}

impl CheckVisitor {
    pub(crate) fn into_check(self) -> Option<CheckRecord> {
        let c = CheckRecord::new(
            self.name?,
            self.score.unwrap_or(0.0),
            self.threshold.unwrap_or(0.0),
        );
        Some(match self.fired {
            Some(f) => c.with_fired(f),
            None => c,
        })
    }

    fn number(&mut self, field: &Field, v: f64) {
        match field.name() {
            "score" => self.score = Some(v),
            "threshold" => self.threshold = Some(v),
            _ => {}
        }
    }
}

impl Visit for CheckVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.number(field, value);
    }

    #[expect(
        clippy::cast_precision_loss,
        reason = "scores are small; JSON numbers are doubles anyway"
    )]
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value as f64);
    }

    #[expect(
        clippy::cast_precision_loss,
        reason = "scores are small; JSON numbers are doubles anyway"
    )]
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value as f64);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "fired" {
            self.fired = Some(value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == CHECK {
            self.name = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == CHECK {
            self.name = Some(format!("{value:?}"));
        }
    }
}
