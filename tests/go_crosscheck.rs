//! Our checkpoints and proofs, verified by an implementation this project did not write:
//! Go's `golang.org/x/mod/sumdb/note` and `sumdb/tlog` (Debian: golang-go and
//! golang-golang-x-mod-dev, installed by `.ci/run`). Skipped where Go is missing, except in CI.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use ai_audit::SigningKey;
use ai_audit::merkle::{MerkleTree, leaf_hash};
use ai_audit::note::Checkpoint;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

const GOPATH: &str = "/usr/share/gocode";

fn go_available() -> bool {
    let ok = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Path::new(GOPATH)
            .join("src/golang.org/x/mod/sumdb/tlog")
            .is_dir();
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI needs Go with golang.org/x/mod (apt-get install golang-go golang-golang-x-mod-dev)"
    );
    if !ok {
        eprintln!("SKIP: Go or golang.org/x/mod is not installed");
    }
    ok
}

/// Runs `tests/go/crosscheck.go` on the note and proofs in `dir`.
#[expect(
    clippy::expect_used,
    reason = "a test fails loudly when Go cannot start"
)]
fn run_go(verifier: &str, dir: &Path) -> std::process::Output {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/crosscheck.go");
    Command::new("go")
        .arg("run")
        .arg(&src)
        .arg(verifier)
        .arg(dir.join("note"))
        .arg(dir.join("proofs"))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOCACHE", dir.join("gocache"))
        .env("GOFLAGS", "")
        .output()
        .expect("go runs")
}

#[test]
fn go_sumdb_note_and_tlog_accept_our_checkpoint_and_proofs() {
    if !go_available() {
        return;
    }
    let key = SigningKey::from_hex(&"01".repeat(32)).unwrap();
    let name = "audit.example.com";
    let leaves: Vec<_> = (0..300u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let tree = MerkleTree::new(leaves.clone());
    let size = 300;
    let root = tree.root(size).unwrap();
    let note = Checkpoint::new(format!("{name}/acme"), size, root)
        .sign(name, &key)
        .unwrap();
    let b64 = |h: &[u8; 32]| STANDARD.encode(h);
    let mut proofs = String::new();
    for n in [1u64, 2, 3, 7, 8, 100, 255, 256, 257, 300] {
        let r = tree.root(n).unwrap();
        for i in 0..n {
            let p = tree.inclusion_proof(i, n).unwrap();
            write!(
                proofs,
                "inclusion {n} {} {i} {}",
                b64(&r),
                b64(&leaves[i as usize])
            )
            .unwrap();
            for h in &p {
                write!(proofs, " {}", b64(h)).unwrap();
            }
            proofs.push('\n');
        }
        for m in [1u64, n / 2, n.saturating_sub(1)] {
            if m == 0 || m >= n {
                continue;
            }
            let p = tree.consistency_proof(m, n).unwrap();
            write!(
                proofs,
                "consistency {n} {} {m} {}",
                b64(&r),
                b64(&tree.root(m).unwrap())
            )
            .unwrap();
            for h in &p {
                write!(proofs, " {}", b64(h)).unwrap();
            }
            proofs.push('\n');
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note"), &note).unwrap();
    std::fs::write(dir.path().join("proofs"), &proofs).unwrap();
    let verifier = key.verifying_key().note_verifier_key(name);
    let out = run_go(&verifier, dir.path());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("OK 1 notes (audit.example.com/acme, size 300)"),
        "{text}"
    );
    // And Go refuses a note whose body was changed after signing.
    let forged = note.replacen("\n300\n", "\n299\n", 1);
    std::fs::write(dir.path().join("note"), forged).unwrap();
    let out = run_go(&verifier, dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("note.Open"));
}

#[test]
fn go_sumdb_accepts_the_checkpoints_tlog_proofs_and_consistency_proofs_our_store_makes() {
    use ai_audit::log;
    use ai_audit::store::tree::TileNodes;
    use ai_audit::store::{SqliteStore, Store};
    use ai_audit::{Auditor, Receipt, TenantId};
    use std::sync::Arc;
    if !go_available() {
        return;
    }
    let key = SigningKey::from_hex(&"01".repeat(32)).unwrap();
    let name = "audit.example.com";
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("audit.db")).unwrap());
    let a = Auditor::builder()
        .signer(key.clone())
        .shared_store(Arc::clone(&store))
        .log_name(name)
        .checkpoint_every(100, std::time::Duration::from_secs(3600))
        .max_batch(100)
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(
            a.emit(Receipt::new("acme").with_trace(format!("t{i}")))
                .unwrap()
                .receipt_id,
        );
    }
    a.shutdown().unwrap();
    let t = TenantId::new("acme");
    let read = store.tree().unwrap();
    let latest = read.latest_checkpoint(&t).unwrap().unwrap();
    assert_eq!(latest.size, 300);
    let b64 = |h: &[u8; 32]| STANDARD.encode(h);
    let mut proofs = String::new();
    let mut nodes = TileNodes::new(read, &t).unwrap();
    for (i, id) in ids.iter().enumerate().step_by(23) {
        let p = log::prove(store.as_ref(), id, None).unwrap();
        let path = dir.path().join(format!("r{i}.tlog-proof"));
        std::fs::write(&path, p.to_text()).unwrap();
        let leaf = nodes.leaf(i as u64).unwrap();
        writeln!(proofs, "tlogproof {} {}", path.display(), b64(&leaf)).unwrap();
    }
    // Consistency between every pair of stored checkpoints.
    let sizes: Vec<u64> = (1..=300)
        .filter(|n| read.checkpoint_at(&t, *n).unwrap().is_some())
        .collect();
    assert!(sizes.len() >= 3, "{sizes:?}");
    for &old in &sizes {
        for &new in sizes.iter().filter(|n| **n > old) {
            let o = read.checkpoint_at(&t, old).unwrap().unwrap();
            let n = read.checkpoint_at(&t, new).unwrap().unwrap();
            write!(
                proofs,
                "consistency {new} {} {old} {}",
                b64(&n.root),
                b64(&o.root)
            )
            .unwrap();
            for h in nodes.consistency_proof(old, new).unwrap() {
                write!(proofs, " {}", b64(&h)).unwrap();
            }
            proofs.push('\n');
        }
    }
    std::fs::write(dir.path().join("note"), &latest.note).unwrap();
    std::fs::write(dir.path().join("proofs"), &proofs).unwrap();
    let out = run_go(&key.verifying_key().note_verifier_key(name), dir.path());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("tlog-proofs"), "{text}");
    assert!(!text.contains(", 0 tlog-proofs"), "{text}");
}
