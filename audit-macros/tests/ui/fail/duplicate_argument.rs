use ai_audit::audited;

#[audited(tenant = "acme", model = "a", model = "b")]
fn decide() {}

fn main() {}
