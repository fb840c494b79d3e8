//! The benchmark workload shared by the criterion benches and `ai-audit bench`: the receipt the
//! Python baseline's `emit_one` builds (`../shared/bench/python_seed_bench.py`), so figures are
//! comparable: 500 characters of input, 1,000 of output, a 3-part state, two checks with nested
//! details, every 20th receipt a rejection.

use crate::json::{Object, Value};
use crate::receipt::{Action, CheckRecord, Receipt};

const INPUT_UNIT: &str = "Bitte fasse die Vertragsbedingungen zusammen und prüfe, ob die Kündigungsfrist für Kunden in der EU rechtlich zulässig ist. Include the GDPR implications, the liability caps and any clauses about data retention. Außerdem: gibt es Hinweise auf automatisierte Entscheidungen nach Art. 22 DSGVO? ";
const OUTPUT_UNIT: &str = "The contract sets a 30-day notice period, which is permissible for B2C contracts in the EU provided the consumer is informed clearly. Liability is capped at the annual fee except for gross negligence. Data retention is limited to 24 months after termination; automated decision-making is not used. ";

/// The input and output texts of the workload (500 and 1,000 characters).
#[must_use]
pub fn texts() -> (String, String) {
    (
        INPUT_UNIT.repeat(4).chars().take(500).collect(),
        OUTPUT_UNIT.repeat(8).chars().take(1000).collect(),
    )
}

/// Receipt number `i` of the workload for `tenant`.
#[must_use]
pub fn receipt(tenant: &str, i: u64, input: &str, output: &str) -> Receipt {
    let session = format!("sess-{}", i % 97);
    let categories = Object::new().with("violence", 0.01).with("self_harm", 0.0);
    Receipt::new(tenant)
        .with_trace(format!("trace-{i}"))
        .with_session(session.as_str())
        .with_model("gpt-4o-mini")
        .with_input_text(input)
        .with_state(&[session.as_str(), tenant, "gpt-4o-mini"])
        .with_check(
            CheckRecord::new("safety_pre", 0.12 + (i % 10) as f64 / 100.0, 0.8)
                .with_fired(false)
                .with_detail(
                    Object::new()
                        .with("categories", categories)
                        .with("verdict", "pass"),
                ),
        )
        .with_check(
            CheckRecord::new("pii_scan", 0.0, 0.5)
                .with_fired(false)
                .with_detail(Object::new().with("found", Value::Array(vec![]))),
        )
        .with_output_text(output)
        .with_action(if i.is_multiple_of(20) {
            Action::Reject
        } else {
            Action::Allow
        })
        .with_nist_tag("MEASURE-2.6")
}
