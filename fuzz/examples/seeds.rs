//! Writes the seed inputs of every target to `corpus/<target>/seed-<n>` (run from `fuzz/`).

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (n, (target, bytes)) in ai_audit_fuzz::seeds()?.into_iter().enumerate() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{n}")), bytes)?;
    }
    Ok(())
}
