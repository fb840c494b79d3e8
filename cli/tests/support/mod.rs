//! Shared helpers for the end-to-end tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

use std::path::PathBuf;
use std::process::Command;

pub(crate) mod python;

/// The workspace root (this package is one level below it).
pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The genuine public key of the vectors (seed 01×32).
pub(crate) const VECTOR_PK: &str =
    "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

/// `../shared/vectors` (or `AI_AUDIT_VECTORS`).
pub(crate) fn vectors() -> PathBuf {
    std::env::var_os("AI_AUDIT_VECTORS")
        .map_or_else(|| workspace().join("../shared/vectors"), PathBuf::from)
}

/// The `receipts.jsonl` member of a vector bundle.
pub(crate) fn bundle_receipts(name: &str) -> Vec<u8> {
    use std::io::Read as _;
    let file = std::fs::File::open(vectors().join(name)).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut out = Vec::new();
    zip.by_name("receipts.jsonl")
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The Python reference version the interop tests run against.
pub(crate) const PYTHON_REFERENCE: &str = "ai-audit-trail==0.4.7";

const REFERENCE_CHECK: &str =
    "import ai_audit, nacl, orjson; assert ai_audit.__version__ == '0.4.7'";

/// A Python interpreter with `ai-audit-trail==0.4.7` installed.
///
/// Uses `AI_AUDIT_PYTHON` if set; otherwise creates (once, under a file lock) a virtualenv in
/// `target/py-ai-audit-trail` with `python3 -m venv` and `pip install`. Returns `None` when that
/// is impossible — unless `CI` is set, where a missing Python is a failure, not a skip.
pub(crate) fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AI_AUDIT_PYTHON") {
        let p = PathBuf::from(p);
        let ok = Command::new(&p)
            .args(["-c", REFERENCE_CHECK])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "AI_AUDIT_PYTHON={} lacks {PYTHON_REFERENCE}",
            p.display()
        );
        return Some(p);
    }
    python::venv("py-ai-audit-trail", &[PYTHON_REFERENCE], REFERENCE_CHECK)
}

/// The members of a ZIP, in order.
pub(crate) fn zip_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut out = Vec::new();
            f.read_to_end(&mut out).unwrap();
            (f.name().to_owned(), out)
        })
        .collect()
}

/// One entry of a hand-built ZIP.
pub(crate) struct RawEntry {
    pub(crate) name: String,
    /// The stored bytes (already deflated when `deflated`).
    pub(crate) data: Vec<u8>,
    pub(crate) deflated: bool,
    pub(crate) crc: u32,
    pub(crate) size: u64,
    /// Unix mode bits (`0o100644` for a file, `0o120777` for a symlink).
    pub(crate) mode: u32,
}

impl RawEntry {
    /// A stored regular file.
    pub(crate) fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.to_owned(),
            data: data.to_vec(),
            deflated: false,
            crc: crc32fast::hash(data),
            size: data.len() as u64,
            mode: 0o100_644,
        }
    }
}

/// A ZIP built byte by byte, so tests can make archives no well-behaved writer makes
/// (duplicates, traversal names, symlinks, bombs).
pub(crate) fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let method: u16 = if e.deflated { 8 } else { 0 };
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&method.to_le_bytes());
        common.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        common.extend_from_slice(&e.crc.to_le_bytes());
        common.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        common.extend_from_slice(&(e.size as u32).to_le_bytes());
        common.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.data);
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&((3u16 << 8) | 20).to_le_bytes());
        cd.extend_from_slice(&common);
        cd.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        cd.extend_from_slice(&(e.mode << 16).to_le_bytes());
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(e.name.as_bytes());
    }
    let cd_at = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The vectors' signing key (seed 01×32).
pub(crate) fn vector_key() -> ai_audit::SigningKey {
    ai_audit::SigningKey::from_seed(&[1; 32])
}

/// Replaces `manifest.json` with one over the other members' current bytes, signed by `key`.
pub(crate) fn resign(members: &mut Vec<(String, Vec<u8>)>, key: &ai_audit::SigningKey) {
    use ai_audit::json::Object;
    use sha2::Digest as _;
    members.retain(|(n, _)| n != "manifest.json");
    let mut sums = Object::new();
    for (n, b) in members.iter() {
        sums.insert(n.as_str(), hex::encode(sha2::Sha256::digest(b)));
    }
    let m = ai_audit::bundle::Manifest::new(
        sums,
        &key.verifying_key(),
        "2026-03-02T09:30:00.123456+00:00",
    );
    let sig = key.sign(&m.signing_bytes());
    members.push((
        "manifest.json".into(),
        m.with_signature(&sig).to_file_bytes(),
    ));
}

/// A bundle of the vectors' 1000 genuine receipts, exported by us.
pub(crate) fn our_export_of_the_vectors() -> Vec<u8> {
    use ai_audit::bundle::{EvidenceWriter, ExportMeta};
    let lines = std::fs::read(vectors().join("receipts.jsonl")).unwrap();
    let key = vector_key();
    let meta = ExportMeta::new("acme")
        .with_exported_at(ai_audit::Timestamp::parse("2026-03-02T09:30:00.5Z").unwrap());
    let mut w = EvidenceWriter::new(Vec::new(), &key, meta);
    for l in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        w.push_line(l).unwrap();
    }
    w.finish().unwrap().output
}

/// Runs the `ai-audit` binary with `args`, without a pinned key in the environment.
pub(crate) fn ai_audit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(args)
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .output()
        .unwrap()
}

/// Standard output and standard error of a run, as one text.
pub(crate) fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
