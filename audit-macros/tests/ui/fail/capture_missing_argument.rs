use ai_audit::audited;

#[audited(tenant = "acme", capture(prompt, qestion))]
fn decide(prompt: &str, question: &str) -> bool {
    prompt.len() > question.len()
}

fn main() {
    let _ = decide("a", "b");
}
