#![deny(warnings, unused_qualifications)]

use ai_audit::audited;

struct Scorer {
    tenant: String,
    calls: u32,
}

impl Scorer {
    #[audited(tenant = self.tenant.as_str(), capture(text), model = "scorer-1")]
    fn score(&self, text: &str) -> f64 {
        ai_audit::check("length", text.len() as f64, 10.0);
        0.5
    }

    #[audited(tenant = self.tenant.clone(), on_err = "fail_retry", skip_output)]
    fn bump(&mut self) -> Result<u32, String> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[audited(tenant = "acme", session = self.tenant.as_str(), trace = "t-1")]
    async fn score_async(&self, text: String) -> usize {
        text.len() + self.calls as usize
    }

    #[audited(tenant = "acme")]
    fn consume(self) -> u32 {
        self.calls
    }
}

fn main() {
    let mut s = Scorer {
        tenant: "acme".to_owned(),
        calls: 0,
    };
    let _ = s.score("hello");
    let _ = s.bump();
    let _ = s.score_async("x".to_owned());
    let _ = s.consume();
}
