#![deny(warnings, unused_qualifications)]

use std::fmt::Display;

use ai_audit::audited;

#[audited(tenant = "acme", capture(item))]
fn describe<T: serde::Serialize + Display, const N: usize>(item: T, extra: [u8; N]) -> String
where
    T: Clone,
{
    format!("{item}{}", extra.len())
}

#[audited(tenant = tenant)]
async fn generic_async<'a, E: From<&'static str>>(tenant: &'a str, fail: bool) -> Result<&'a str, E> {
    if fail {
        return Err(E::from("nope"));
    }
    Ok(tenant)
}

fn main() {
    let _ = describe(3_u8, [1, 2]);
    let _ = generic_async::<String>("acme", false);
}
