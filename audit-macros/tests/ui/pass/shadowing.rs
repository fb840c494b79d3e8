#![deny(warnings, unused_qualifications)]

// Names the expansion uses, shadowed by the user's own items.
#[allow(dead_code)]
struct Scope;
#[allow(dead_code)]
struct Outcome;
#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod capture {}

type Result<T> = std::result::Result<T, String>;

use ai_audit::audited;

#[audited(tenant = "acme", capture(input))]
fn decide(input: String) -> Result<String> {
    let __audit_guard = 1;
    let __audit_result = __audit_guard + 1;
    if __audit_result > 5 {
        return Err("impossible".to_owned());
    }
    Ok(input)
}

#[audited(tenant = "acme", crate = "::ai_audit")]
fn with_crate_path() -> Option<u8> {
    Some(1)
}

fn main() {
    let _ = decide("x".to_owned());
    let _ = with_crate_path();
}
