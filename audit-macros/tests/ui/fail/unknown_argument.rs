use ai_audit::audited;

#[audited(tenant = "acme", tenat = "typo")]
fn decide() {}

fn main() {}
