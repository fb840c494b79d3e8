use ai_audit::audited;

#[audited(tenant = "acme")]
async fn decide(n: u32) -> Result<String, String> {
    if n == 0 {
        return Ok(n);
    }
    Ok("fine".to_owned())
}

fn main() {
    let _ = decide(1);
}
