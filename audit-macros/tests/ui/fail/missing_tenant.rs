use ai_audit::audited;

#[audited(name = "decide")]
fn decide() {}

fn main() {}
