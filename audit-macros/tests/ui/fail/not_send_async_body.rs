use std::rc::Rc;

use ai_audit::audited;

async fn later() {}

#[audited(tenant = "acme")]
async fn decide() -> usize {
    let shared = Rc::new(1);
    later().await;
    *shared
}

fn require_send<T: Send>(_: T) {}

fn main() {
    require_send(decide());
}
