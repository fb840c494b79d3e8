#![deny(warnings, unused_qualifications)]

use ai_audit::audited;

#[audited(tenant = "acme")]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[audited(tenant = "acme", capture(text))]
fn shout(text: impl AsRef<str> + serde::Serialize) -> Box<dyn std::fmt::Display> {
    Box::new(text.as_ref().to_uppercase())
}

#[audited(tenant = "acme", skip_output)]
async fn later() -> impl Future<Output = u8> {
    async { 1 }
}

fn require_send<T: Send>(_: T) {}

fn main() {
    let _ = evens(10).count();
    let _ = shout("hi").to_string();
    require_send(later());
}
