//! `ai-audit export` from a sick store: read-only (a read-only mount), full (a full tmpfs),
//! with a corrupted receipt, and after an insider's truncation. Evidence is exportable from a
//! store that cannot be written, and never signed over receipts that fail a check or over a
//! history shorter than a checkpoint the store already holds.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::text;

use ai_audit::store::SqliteStore;
use ai_audit::{Auditor, Receipt, SigningKey};

const SEED: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn ai_audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(args)
        .env("AI_AUDIT_SIGNING_KEY", SEED)
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .env_remove("AI_AUDIT_DATA_DIR")
        .env_remove("AI_AUDIT_LOG_NAME")
        .output()
        .unwrap()
}

fn public() -> String {
    SigningKey::from_hex(SEED).unwrap().verifying_key().to_hex()
}

fn auditor(db: &Path) -> Auditor {
    Auditor::builder()
        .signer(SigningKey::from_hex(SEED).unwrap())
        .store(SqliteStore::open(db).unwrap())
        .build()
        .unwrap()
}

/// Emits `n` receipts, two in three of tenant acme.
fn emit(a: &Auditor, n: usize) {
    for i in 0..n {
        let tenant = if i % 3 == 0 { "other" } else { "acme" };
        a.emit(Receipt::new(tenant).with_trace(format!("t{i}")))
            .unwrap();
    }
}

/// Exports tenant acme from `db` into `out`.
fn export(db: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "export",
        "--tenant",
        "acme",
        "--db",
        db.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ai_audit(&args)
}

/// Exports tenant acme and checks that the bundle verifies with `receipts` receipts.
fn export_verifies(db: &Path, out: &Path, receipts: usize) {
    let o = export(db, out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("exported {receipts} receipts")),
        "{}",
        text(&o)
    );
    let v = ai_audit(&["verify", out.to_str().unwrap(), "--key", &public()]);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts a tmpfs of `size` at `at`; `None` (and says so) where mounting is not permitted.
    fn tmpfs(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!(
                "NOTE: cannot mount a tmpfs at {} (not root, or no CAP_SYS_ADMIN)",
                at.display()
            );
        }
        ok.then(|| Self(at.to_owned()))
    }

    /// Remounts it read-only: then not even root can write there.
    fn make_read_only(&self) {
        let o = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let probe = std::fs::write(self.0.join("probe"), b"x");
        assert!(probe.is_err(), "{} is still writable", self.0.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazily: a test that failed may still hold a file open there.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The names and sizes of the files in `dir`.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out
}

fn copy_files(from: &Path, to: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(from.join(n), to.join(n)).unwrap();
    }
}

#[test]
fn export_from_a_read_only_copy_of_the_store_gives_a_bundle_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let db = live.join("audit.db");
    let a = auditor(&db);
    emit(&a, 300);
    // A copy of a running store: the database, its log (holding receipts not yet copied into
    // the database) and the log's index. Then the auditor stops (which empties its log).
    std::thread::sleep(std::time::Duration::from_millis(400));
    let running = dir.path().join("running");
    std::fs::create_dir_all(&running).unwrap();
    copy_files(
        &live,
        &running,
        &["audit.db", "audit.db-wal", "audit.db-shm"],
    );
    assert!(
        std::fs::metadata(running.join("audit.db-wal"))
            .unwrap()
            .len()
            > 0,
        "the copied log holds transactions"
    );
    a.shutdown().unwrap();
    drop(a);
    assert!(
        std::fs::metadata(live.join("audit.db-wal")).map_or(0, |m| m.len()) == 0,
        "a stopped auditor leaves no log content"
    );

    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Three read-only copies: of the stopped store (the database alone), of the running one
    // (database, log and index), and of the running one without the log's index.
    let cases: [(&str, &Path, &[&str]); 3] = [
        ("stopped", &live, &["audit.db"]),
        (
            "running",
            &running,
            &["audit.db", "audit.db-wal", "audit.db-shm"],
        ),
        ("no-index", &running, &["audit.db", "audit.db-wal"]),
    ];
    let mut mounts = Vec::new();
    for (name, from, files) in cases {
        let at = dir.path().join(format!("ro-{name}"));
        let mount = Mount::tmpfs(&at, "64m");
        copy_files(from, &at, files);
        match &mount {
            Some(m) => m.make_read_only(),
            None => eprintln!(
                "NOTE: {name}: falling back to SQLite's read-only flags on a writable copy (no read-only mount here)"
            ),
        }
        let before = listing(&at);
        let db = at.join("audit.db");
        let bundle = out.join(format!("{name}.zip"));
        if name == "no-index" && mount.is_some() {
            // The log holds receipts, and without its index SQLite cannot read them from a
            // read-only directory: refused, never exported without them.
            let o = export(&db, &bundle, &[]);
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(
                text(&o).contains("holds transactions not yet copied"),
                "{}",
                text(&o)
            );
            assert!(!bundle.exists());
        } else {
            export_verifies(&db, &bundle, 200);
            // A partial export too (its anchor and tree prefix come from the read-only store).
            let part = out.join(format!("{name}-part.zip"));
            let o = export(&db, &part, &["--from", "10", "--to", "150"]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            let v = ai_audit(&["verify", part.to_str().unwrap(), "--key", &public()]);
            assert_eq!(v.status.code(), Some(0), "{}", text(&v));
        }
        if mount.is_some() {
            assert_eq!(listing(&at), before, "{name}: the read-only copy changed");
        }
        mounts.push(mount);
    }
}

#[test]
fn export_from_a_store_on_a_full_disk_gives_a_bundle_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().join("full");
    let Some(_mount) = Mount::tmpfs(&at, "8m") else {
        eprintln!("SKIP: a full disk needs a tmpfs of its own, which cannot be mounted here");
        return;
    };
    let db = at.join("audit.db");
    let a = auditor(&db);
    emit(&a, 150);
    // Fill the file system.
    let mut filler = std::fs::File::create(at.join("filler")).unwrap();
    let block = vec![0x5au8; 64 << 10];
    loop {
        use std::io::Write as _;
        if filler
            .write_all(&block)
            .and_then(|()| filler.sync_all())
            .is_err()
        {
            break;
        }
    }
    // The store is full: emitting fails (after what still fit).
    let mut stored = 0;
    let full = (0..500).find_map(|i| {
        let r = a.emit(Receipt::new("acme").with_trace(format!("f{i}")));
        stored += usize::from(r.is_ok());
        r.err()
    });
    let full = full.expect("emitting 500 receipts on a full disk never failed");
    assert!(format!("{full:?}").contains("full"), "{full:?}");
    // Export while the auditor still runs on the full disk.
    export_verifies(&db, &dir.path().join("bundle.zip"), 100 + stored);
    drop(a);
}

/// A stopped store of 300 receipts (200 of tenant acme) in `dir`, and its path.
fn stopped_store(dir: &Path) -> PathBuf {
    let db = dir.join("audit.db");
    let a = auditor(&db);
    emit(&a, 300);
    a.shutdown().unwrap();
    db
}

/// The segment row holding tenant acme's receipt `seq`: its id, first sequence number and lines.
fn segment_of(c: &rusqlite::Connection, seq: u64) -> (i64, u64, Vec<u8>) {
    c.query_row(
        "SELECT id, first_seq, lines FROM segments WHERE tenant = 'acme' AND first_seq <= ?1
         ORDER BY first_seq DESC LIMIT 1",
        [seq as i64],
        |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)),
    )
    .unwrap()
}

/// Flips one hex digit of the line's `receipt_hash`: the line still parses, its self-hash no
/// longer holds.
fn flip_hash_digit(line: &mut [u8]) {
    let at = line
        .windows(16)
        .position(|w| w == b"\"receipt_hash\":\"")
        .unwrap()
        + 16;
    line[at] = if line[at] == b'0' { b'1' } else { b'0' };
}

/// A way to damage a stored line, and the check that must then fail.
type Corruption = (fn(&mut [u8]), &'static str);

/// Breaks the line's JSON.
fn break_json(line: &mut [u8]) {
    line[0] = b'[';
}

#[test]
fn export_refuses_a_store_with_one_corrupted_receipt_and_names_it() {
    let flips: [Corruption; 2] = [(flip_hash_digit, "self_hash"), (break_json, "parse")];
    for (corrupt, check) in flips {
        let dir = tempfile::tempdir().unwrap();
        let db = stopped_store(dir.path());
        let target = 57;
        // One byte of receipt 57's stored line changed, as sqlite3 could do it.
        let c = rusqlite::Connection::open(&db).unwrap();
        let (id, first, lines) = segment_of(&c, target);
        let mut parts: Vec<Vec<u8>> = lines.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let line = &mut parts[(target - first) as usize];
        let receipt = ai_audit::canonical::parse_line(line).unwrap().receipt;
        corrupt(line);
        c.execute(
            "UPDATE segments SET lines = ?1 WHERE id = ?2",
            rusqlite::params![parts.join(&b'\n'), id],
        )
        .unwrap();
        drop(c);

        let out = dir.path().join("acme.zip");
        let o = export(&db, &out, &[]);
        assert_eq!(o.status.code(), Some(1), "{check}: {}", text(&o));
        for says in [
            "refusing to sign the bundle",
            "tenant \"acme\"",
            "sequence 57",
            receipt.receipt_id.as_str(),
            &format!("{check} check failed"),
        ] {
            assert!(text(&o).contains(says), "{says:?} in {}", text(&o));
        }
        assert!(!out.exists(), "a refused export left a file");
        // The receipts before the damaged one are still exportable, and verify.
        let o = export(&db, &out, &["--to", "57"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v = ai_audit(&["verify", out.to_str().unwrap(), "--key", &public()]);
        assert_eq!(v.status.code(), Some(0), "{}", text(&v));
        // A range that starts right after it has it as its anchor: refused too.
        let o = export(&db, &out, &["--from", "58"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("sequence 57"), "{}", text(&o));
    }
}

#[test]
fn export_refuses_to_sign_a_checkpoint_smaller_than_a_stored_one_after_a_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let db = stopped_store(dir.path());
    let checkpoint = |extra: &[&str]| {
        let mut args = vec![
            "checkpoint",
            "--tenant",
            "acme",
            "--db",
            db.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        ai_audit(&args)
    };
    let stored = || {
        let o = checkpoint(&[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let held = stored();
    assert!(held.contains("\n200\n"), "{held}");
    // An insider deletes acme's last segment and makes the tip and the tree agree with what is
    // left, so that the store looks whole but shorter.
    let c = rusqlite::Connection::open(&db).unwrap();
    let (id, first, _) = segment_of(&c, 199);
    let (_, _, lines) = segment_of(&c, first - 1);
    let last = lines.split(|&b| b == b'\n').next_back().unwrap();
    let tip = ai_audit::canonical::parse_line(last).unwrap().receipt_hash;
    c.execute_batch(&format!(
        "DELETE FROM receipt_ids WHERE segment = {id};
         DELETE FROM segments WHERE id = {id};
         UPDATE tips SET len = {first}, hash = x'{tip}' WHERE tenant = 'acme';
         UPDATE merkle_trees SET size = {first} WHERE tenant = 'acme';"
    ))
    .unwrap();
    drop(c);

    let out = dir.path().join("acme.zip");
    // The high-water record beside the database sees the rollback first.
    let o = export(&db, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "holds {first} receipt(s) but 200 were acknowledged"
        )),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    // Without it (an insider who removed it too), the stored checkpoint still refuses.
    std::fs::remove_file(format!("{}-highwater", db.display())).unwrap();
    for extra in [&[][..], &["--to", "20"][..]] {
        let o = export(&db, &out, extra);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "holds {first} receipts and a Merkle tree of {first} leaves, but the store holds its checkpoint over 200"
            )),
            "{}",
            text(&o)
        );
        assert!(!out.exists());
    }
    // Signing a checkpoint of the store as it is now is refused the same way.
    let o = checkpoint(&["--sign"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("truncation or rollback"), "{}", text(&o));
    assert_eq!(stored(), held, "a smaller checkpoint was stored");
}
