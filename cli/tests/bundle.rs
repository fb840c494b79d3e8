//! `ai-audit verify BUNDLE.zip`: the vector bundles, key pinning, and hostile archives.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{
    RawEntry, VECTOR_PK, ai_audit, our_export_of_the_vectors, raw_zip, resign, text, vector_key,
    vectors, zip_members,
};

fn vector(name: &str) -> String {
    vectors().join(name).to_str().unwrap().to_owned()
}

/// The JSON report of a pinned run.
fn json_report(path: &str) -> (i32, serde_json::Value) {
    let o = ai_audit(&["verify", path, "--key", VECTOR_PK, "--json"]);
    let v = serde_json::from_slice(&o.stdout).expect("a JSON report");
    (o.status.code().unwrap(), v)
}

fn has_finding(v: &serde_json::Value, file: &str, index: Option<u64>, check: &str) -> bool {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["file"] == file && f["check"] == check && f["index"].as_u64() == index)
}

#[test]
fn genuine_bundle_passes_with_the_genuine_key_pinned() {
    let o = ai_audit(&["verify", &vector("genuine_bundle.zip"), "--key", VECTOR_PK]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.starts_with("PASS"), "{out}");
    assert!(out.contains("1000 receipts"), "{out}");
    // An anchor given for a bundle is where it must start: this one starts at genesis.
    let tip = "0f".repeat(32);
    let o = ai_audit(&[
        "verify",
        &vector("genuine_bundle.zip"),
        "--key",
        VECTOR_PK,
        "--anchor",
        &tip,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("starts at the chain's genesis"), "{out}");
}

#[test]
fn tail_truncated_bundle_fails_on_chain_metadata_count_and_last_id() {
    let (rc, v) = json_report(&vector("tampered_deleted_last10.zip"));
    assert_eq!(rc, 1);
    let f = &v["findings"];
    assert!(
        has_finding(&v, "chain_metadata.json", None, "chain_metadata"),
        "{f}"
    );
    let count = f
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["message"].as_str().unwrap().contains("total_receipts"))
        .unwrap();
    assert_eq!(
        (count["computed"].as_str(), count["claimed"].as_str()),
        (Some("990"), Some("1000"))
    );
    assert!(f.to_string().contains("last_receipt_id"), "{f}");
}

#[test]
fn head_truncated_bundle_fails_on_genesis_and_first_id() {
    let (rc, v) = json_report(&vector("tampered_deleted_first.zip"));
    assert_eq!(rc, 1);
    assert!(has_finding(&v, "receipts.jsonl", Some(0), "genesis"), "{v}");
    assert!(
        v["findings"].to_string().contains("first_receipt_id"),
        "{v}"
    );
}

#[test]
fn middle_deletion_fails_on_the_link_at_index_500() {
    let (rc, v) = json_report(&vector("tampered_deleted_middle.zip"));
    assert_eq!(rc, 1);
    assert!(has_finding(&v, "receipts.jsonl", Some(500), "link"), "{v}");
}

#[test]
fn swapped_receipts_fail_on_the_link_at_index_200() {
    let (rc, v) = json_report(&vector("tampered_swapped.zip"));
    assert_eq!(rc, 1);
    assert!(has_finding(&v, "receipts.jsonl", Some(200), "link"), "{v}");
}

#[test]
fn field_edit_fails_on_the_signature_of_index_100() {
    let (rc, v) = json_report(&vector("tampered_field_edit.zip"));
    assert_eq!(rc, 1);
    assert!(
        has_finding(&v, "receipts.jsonl", Some(100), "signature"),
        "{v}"
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "signature")
        .unwrap();
    assert_eq!(f["receipt_id"], "bbdea9ecca37c7c32103b22936a7cdea");
}

#[test]
fn stale_manifest_fails_on_the_receipts_checksum_and_index_100() {
    let (rc, v) = json_report(&vector("tampered_field_edit_stale_manifest.zip"));
    assert_eq!(rc, 1);
    assert!(has_finding(&v, "receipts.jsonl", None, "checksum"), "{v}");
    assert!(
        has_finding(&v, "receipts.jsonl", Some(100), "signature"),
        "{v}"
    );
}

#[test]
fn bundle_resigned_with_another_key_fails_on_key_and_signatures() {
    let (rc, v) = json_report(&vector("resigned_attacker_key.zip"));
    assert_eq!(rc, 1);
    assert!(
        has_finding(&v, "public_key.hex", None, "key_mismatch"),
        "{v}"
    );
    assert!(
        has_finding(&v, "manifest.json", None, "manifest_signature"),
        "{v}"
    );
    assert!(
        has_finding(&v, "receipts.jsonl", Some(0), "signature"),
        "{v}"
    );
    let k = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "key_mismatch")
        .unwrap();
    assert_eq!(k["computed"], "8a88e3dd7409f195");
    assert_eq!(k["claimed"], "8139770ea87d175f");
}

#[test]
fn unpinned_genuine_bundle_exits_3_naming_the_signer() {
    let o = ai_audit(&["verify", &vector("genuine_bundle.zip")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(!out.contains("PASS"), "{out}");
    assert!(
        out.contains("8a88e3dd7409f195") && out.contains("NOT pinned"),
        "{out}"
    );
}

#[test]
fn key_file_and_environment_pin_the_key_too() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dir.path().join("operator.pub");
    std::fs::write(&kf, format!("{VECTOR_PK}\n")).unwrap();
    let o = ai_audit(&[
        "verify",
        &vector("genuine_bundle.zip"),
        "--key-file",
        kf.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_ai-audit"))
        .args(["verify", &vector("resigned_attacker_key.zip")])
        .env("AI_AUDIT_VERIFY_KEY", VECTOR_PK)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn our_export_passes_our_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ours.zip");
    std::fs::write(&p, our_export_of_the_vectors()).unwrap();
    let o = ai_audit(&["verify", p.to_str().unwrap(), "--key", VECTOR_PK]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

// ---- hostile archives ----

/// Runs the verifier on `bytes` and returns (exit code, output, peak RSS in KiB if measurable).
fn verify_hostile(bytes: &[u8]) -> (i32, String, Option<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("hostile.zip");
    std::fs::write(&p, bytes).unwrap();
    verify_path_measured(&p)
}

fn verify_path_measured(p: &Path) -> (i32, String, Option<u64>) {
    let time = Path::new("/usr/bin/time");
    let bin = env!("CARGO_BIN_EXE_ai-audit");
    let rss_file = p.with_extension("rss");
    let o = if time.exists() {
        Command::new(time)
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .args([bin, "verify", p.to_str().unwrap(), "--key", VECTOR_PK])
            .env_remove("AI_AUDIT_VERIFY_KEY")
            .output()
            .unwrap()
    } else {
        ai_audit(&["verify", p.to_str().unwrap(), "--key", VECTOR_PK])
    };
    let rss = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let t = text(&o);
    assert!(!t.contains("panicked"), "{t}");
    (o.status.code().unwrap_or(-1), t, rss)
}

fn genuine_members() -> Vec<(String, Vec<u8>)> {
    zip_members(&std::fs::read(vectors().join("genuine_bundle.zip")).unwrap())
}

fn entries(members: &[(String, Vec<u8>)]) -> Vec<RawEntry> {
    members.iter().map(|(n, b)| RawEntry::file(n, b)).collect()
}

fn refused(code: i32, out: &str, what: &str) {
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("refused") && out.contains(what), "{out}");
}

#[test]
fn path_traversal_member_is_refused() {
    let mut e = entries(&genuine_members());
    e.push(RawEntry::file("../evil.txt", b"x"));
    let (code, out, _) = verify_hostile(&raw_zip(&e));
    refused(code, &out, "`..`");
}

#[test]
fn absolute_path_member_is_refused() {
    let mut e = entries(&genuine_members());
    e.push(RawEntry::file("/tmp/evil.txt", b"x"));
    let (code, out, _) = verify_hostile(&raw_zip(&e));
    refused(code, &out, "absolute");
}

#[test]
fn symlink_member_is_refused() {
    let mut e = entries(&genuine_members());
    let mut link = RawEntry::file("receipts_link.jsonl", b"/etc/passwd");
    link.mode = 0o120_777;
    e.push(link);
    let (code, out, _) = verify_hostile(&raw_zip(&e));
    refused(code, &out, "symbolic link");
}

#[test]
fn duplicate_member_is_refused() {
    let members = genuine_members();
    let mut e = vec![RawEntry::file("receipts.jsonl", b"{}\n")];
    e.extend(entries(&members));
    let (code, out, _) = verify_hostile(&raw_zip(&e));
    refused(code, &out, "more than once");
}

/// Where the central directory starts, from the end record of a `raw_zip` (no comment).
fn cd_offset(zip: &[u8]) -> usize {
    let eocd = zip.len() - 22;
    u32::from_le_bytes(zip[eocd + 16..eocd + 20].try_into().unwrap()) as usize
}

/// `zip` with `bytes` put in at `at` (before the central directory), every offset after it
/// moved: the central directory still lists exactly the members it listed.
fn with_bytes_at(zip: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let cd = cd_offset(zip);
    let mut out = zip[..at].to_vec();
    out.extend_from_slice(bytes);
    out.extend_from_slice(&zip[at..]);
    let shift = bytes.len() as u32;
    let (mut p, end) = (cd + bytes.len(), out.len() - 22);
    while p < end {
        let n = usize::from(u16::from_le_bytes([out[p + 28], out[p + 29]]));
        let x = usize::from(u16::from_le_bytes([out[p + 30], out[p + 31]]));
        let c = usize::from(u16::from_le_bytes([out[p + 32], out[p + 33]]));
        let o = u32::from_le_bytes(out[p + 42..p + 46].try_into().unwrap());
        if o as usize >= at {
            out[p + 42..p + 46].copy_from_slice(&(o + shift).to_le_bytes());
        }
        p += 46 + n + x + c;
    }
    let o = u32::from_le_bytes(out[end + 16..end + 20].try_into().unwrap()) + shift;
    out[end + 16..end + 20].copy_from_slice(&o.to_le_bytes());
    out
}

#[test]
fn an_archive_other_zip_readers_would_read_differently_is_refused() {
    let members = genuine_members();
    let zip = raw_zip(&entries(&members));
    assert_eq!(verify_hostile(&zip).0, 0);
    // A local entry the central directory does not list: a reader that walks the local headers
    // (Java's ZipInputStream) takes this receipts.jsonl, edited, for the member.
    let receipts = &members
        .iter()
        .find(|(n, _)| n == "receipts.jsonl")
        .unwrap()
        .1;
    let edited =
        String::from_utf8(receipts.clone())
            .unwrap()
            .replacen("\"escalate\"", "\"allow\"", 1);
    let hidden = raw_zip(&[RawEntry::file("receipts.jsonl", edited.as_bytes())]);
    let hidden = &hidden[..cd_offset(&hidden)];
    let (code, out, _) = verify_hostile(&with_bytes_at(&zip, cd_offset(&zip), hidden));
    refused(code, &out, "does not list (a hidden entry?)");
    // The same in front of the first member; and plain bytes in front (the CLI must still
    // know the archive for one).
    let (code, out, _) = verify_hostile(&with_bytes_at(&zip, 0, hidden));
    refused(code, &out, "data before the first member");
    let (code, out, _) = verify_hostile(&with_bytes_at(&zip, 0, &[b'x'; 1000]));
    refused(code, &out, "data before the first member");
    // Damaged receipts whose last bytes merely look like an end record stay receipts.
    let mut jsonl = receipts.clone();
    jsonl.extend_from_slice(b"PK\x05\x06");
    jsonl.extend_from_slice(&[0; 18]);
    let (code, out, _) = verify_hostile(&jsonl);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("parse"), "{out}");
    // A local header that says another CRC-32 than the central directory.
    let mut crc = zip.clone();
    crc[14] ^= 1;
    let (code, out, _) = verify_hostile(&crc);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("local header and the central directory differ"),
        "{out}"
    );
    // Bytes after the end of a member's deflate stream, inside its compressed size: a reader
    // that walks the local headers may find an entry there.
    let mut tail = entries(&members);
    for e in &mut tail {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &e.data).unwrap();
        e.data = z.finish().unwrap();
        e.deflated = true;
    }
    assert_eq!(verify_hostile(&raw_zip(&tail)).0, 0);
    tail[0].data.extend_from_slice(hidden);
    let (code, out, _) = verify_hostile(&raw_zip(&tail));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("deflate stream ends before"), "{out}");
    // A second end record in the first one's comment: readers differ in which they take.
    let mut two = zip;
    let at = two.len() - 2;
    two[at..].copy_from_slice(&22u16.to_le_bytes());
    two.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    two.extend_from_slice(&[0; 18]);
    let (code, out, _) = verify_hostile(&two);
    refused(code, &out, "two end-of-central-directory records");
}

#[test]
fn a_genuine_bundle_of_very_repetitive_text_passes_with_a_higher_ratio_limit() {
    use ai_audit::bundle::{EvidenceWriter, ExportMeta};
    use ai_audit::json::Object;
    use ai_audit::{CheckRecord, MemoryLedger, Receipt, TenantId};
    let key = vector_key();
    let mut ledger = MemoryLedger::new();
    for _ in 0..12 {
        let blob = Object::new().with("log", "x".repeat(1 << 20));
        let check = CheckRecord::new("dump", 0.0, 0.5).with_detail(blob);
        ledger
            .append(Receipt::new("acme").with_check(check), &key)
            .unwrap();
    }
    let mut w = EvidenceWriter::new(Vec::new(), &key, ExportMeta::new("acme"));
    for r in ledger.receipts(&TenantId::new("acme")) {
        w.push(r).unwrap();
    }
    // Packed as zlib's best deflate packs it (Python's exporter does), which our exporter's
    // parallel deflate does not reach.
    let packed: Vec<RawEntry> = zip_members(&w.finish().unwrap().output)
        .iter()
        .map(|(name, bytes)| {
            let mut e = RawEntry::file(name, bytes);
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut z, bytes).unwrap();
            e.data = z.finish().unwrap();
            e.deflated = true;
            e
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("repetitive.zip");
    std::fs::write(&p, raw_zip(&packed)).unwrap();
    let p = p.to_str().unwrap();
    let o = ai_audit(&["verify", p, "--key", VECTOR_PK]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--max-inflate-ratio"), "{}", text(&o));
    let o = ai_audit(&[
        "verify",
        p,
        "--key",
        VECTOR_PK,
        "--max-inflate-ratio",
        "1100",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ai_audit(&["verify", p, "--key", VECTOR_PK, "--max-inflate-ratio", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn archives_of_other_writers_still_pass() {
    let members = genuine_members();
    let zip = raw_zip(&entries(&members));
    // libarchive (bsdtar, macOS and Windows tar) with a data descriptor: the local header keeps
    // the sizes but not the CRC-32, which follows the data with them.
    let mut dd = zip.clone();
    dd[6] |= 0x08;
    dd[14..18].fill(0);
    let cd = cd_offset(&dd);
    dd[cd + 8] |= 0x08;
    let name_len = usize::from(u16::from_le_bytes([dd[26], dd[27]]));
    let size = u32::from_le_bytes(dd[18..22].try_into().unwrap()) as usize;
    let mut descriptor = 0x0807_4b50u32.to_le_bytes().to_vec();
    descriptor.extend_from_slice(&zip[14..18]); // the CRC-32
    descriptor.extend_from_slice(&zip[18..26]); // the sizes
    let dd = with_bytes_at(&dd, 30 + name_len + size, &descriptor);
    let (code, out, _) = verify_hostile(&dd);
    assert_eq!(code, 0, "{out}");
    // Info-ZIP: a ZIP64 end record and locator though nothing needed them.
    let eocd = zip.len() - 22;
    let (entries_n, cd_len, cd_at) = (
        u64::from(u16::from_le_bytes([zip[eocd + 10], zip[eocd + 11]])),
        u64::from(u32::from_le_bytes(
            zip[eocd + 12..eocd + 16].try_into().unwrap(),
        )),
        u64::from(u32::from_le_bytes(
            zip[eocd + 16..eocd + 20].try_into().unwrap(),
        )),
    );
    let mut z64 = zip[..eocd].to_vec();
    z64.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    z64.extend_from_slice(&44u64.to_le_bytes());
    z64.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for v in [entries_n, entries_n, cd_len, cd_at] {
        z64.extend_from_slice(&v.to_le_bytes());
    }
    z64.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    z64.extend_from_slice(&0u32.to_le_bytes());
    z64.extend_from_slice(&(eocd as u64).to_le_bytes());
    z64.extend_from_slice(&1u32.to_le_bytes());
    z64.extend_from_slice(&zip[eocd..]);
    let (code, out, _) = verify_hostile(&z64);
    assert_eq!(code, 0, "{out}");
    // bsdtar writing to a pipe: zero bytes up to its 10,240-byte block after the end record.
    let mut padded = zip.clone();
    padded.resize(zip.len().next_multiple_of(10_240), 0);
    let (code, out, _) = verify_hostile(&padded);
    assert_eq!(code, 0, "{out}");
    // Anything else after it is refused.
    *padded.last_mut().unwrap() = b'x';
    let (code, out, _) = verify_hostile(&padded);
    refused(code, &out, "no end-of-central-directory record");
}

#[test]
fn unlisted_member_fails() {
    let mut e = entries(&genuine_members());
    e.push(RawEntry::file("NOTE_TO_AUDITOR.txt", b"all good, trust me"));
    let (code, out, _) = verify_hostile(&raw_zip(&e));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("NOTE_TO_AUDITOR.txt") && out.contains("unlisted_member"),
        "{out}"
    );
}

#[test]
fn zip_bomb_is_stopped_without_inflating_it() {
    use flate2::{Compress, Compression, FlushCompress};
    // 1 GiB of zeros as receipts.jsonl: one 1 MiB deflated piece repeated 1024 times.
    let zeros = vec![0u8; 1 << 20];
    let mut piece = Vec::with_capacity(1 << 16);
    Compress::new(Compression::best(), false)
        .compress_vec(&zeros, &mut piece, FlushCompress::Sync)
        .unwrap();
    let mut data = Vec::with_capacity(piece.len() * 1024 + 16);
    let mut crc = crc32fast::Hasher::new();
    for _ in 0..1024 {
        data.extend_from_slice(&piece);
        crc.update(&zeros);
    }
    let mut tail = Vec::with_capacity(64);
    Compress::new(Compression::best(), false)
        .compress_vec(&[], &mut tail, FlushCompress::Finish)
        .unwrap();
    data.extend_from_slice(&tail);
    let mut members = genuine_members();
    members.retain(|(n, _)| n != "receipts.jsonl");
    let mut e = entries(&members);
    e.insert(
        0,
        RawEntry {
            name: "receipts.jsonl".into(),
            data,
            deflated: true,
            crc: crc.finalize(),
            size: 1 << 30,
            mode: 0o100_644,
        },
    );
    let bytes = raw_zip(&e);
    assert!(bytes.len() < 4 << 20, "the bomb file itself stays small");
    let started = std::time::Instant::now();
    let (code, out, rss) = verify_hostile(&bytes);
    refused(code, &out, "ratio");
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
    if let Some(kib) = rss {
        assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
    }
}

#[test]
fn truncated_zip_is_refused() {
    let bytes = std::fs::read(vectors().join("genuine_bundle.zip")).unwrap();
    let (code, out, _) = verify_hostile(&bytes[..bytes.len() / 2]);
    refused(code, &out, "truncated");
}

#[test]
fn file_that_is_not_a_zip_is_refused() {
    let (code, out, _) = verify_hostile(b"PK\x03\x04 but nothing of a ZIP after the magic");
    refused(code, &out, "ZIP");
}

#[test]
fn a_64_mib_line_is_skipped_unread_within_bounded_memory() {
    let mut members = genuine_members();
    let mut big = Vec::with_capacity((64 << 20) + 2);
    let mut x: u32 = 1;
    while big.len() < 64 << 20 {
        // Incompressible-ish printable bytes, so the ratio limit does not fire first.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.push(b'a' + (x % 26) as u8);
    }
    big.push(b'\n');
    for (n, b) in &mut members {
        if n == "receipts.jsonl" {
            b.splice(0..0, big.iter().copied());
        }
    }
    resign(&mut members, &vector_key());
    let (code, out, rss) = verify_hostile(&raw_zip(&entries(&members)));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("line_too_long"), "{out}");
    if let Some(kib) = rss {
        assert!(kib < 256 * 1024, "peak RSS {kib} KiB");
    }
}

#[test]
fn invalid_utf8_receipts_fail_with_a_parse_finding() {
    let mut members = genuine_members();
    for (n, b) in &mut members {
        if n == "receipts.jsonl" {
            *b = b"\xff\xfe\x00\n".to_vec();
        }
    }
    resign(&mut members, &vector_key());
    let (code, out, _) = verify_hostile(&raw_zip(&entries(&members)));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("index 0") && out.contains("parse"), "{out}");
}

fn with_public_key(bytes: &[u8]) -> (i32, String) {
    let mut members = genuine_members();
    for (n, b) in &mut members {
        if n == "public_key.hex" {
            *b = bytes.to_vec();
        }
    }
    resign(&mut members, &vector_key());
    let (code, out, _) = verify_hostile(&raw_zip(&entries(&members)));
    (code, out)
}

#[test]
fn public_key_with_bad_hex_fails_naming_the_member() {
    let (code, out) = with_public_key(&[b'z'; 64]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("public_key.hex") && out.contains("not hexadecimal"),
        "{out}"
    );
}

#[test]
fn public_key_of_the_wrong_length_fails_naming_the_member() {
    let (code, out) = with_public_key(&[b'a'; 32]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("public_key.hex") && out.contains("32 hex characters"),
        "{out}"
    );
}
