use ai_audit::audited;

#[audited(tenant = "acme")]
const fn decide() -> u32 {
    1
}

fn main() {
    let _ = decide();
}
