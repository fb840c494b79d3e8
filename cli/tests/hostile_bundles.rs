//! The hostile-bundle suite: many ZIP archives that no honest exporter writes — flag bits,
//! compression methods, duplicate and unsafe names, bad CRC-32s, local headers that contradict
//! the central directory, truncations, ZIP64 records, bytes before, between and after the
//! members, oversized members, tampered manifests — each given to both verifiers, `ai-audit
//! verify` and the bundled `verify.py`. Both must reach the same verdict class (pass, the
//! evidence fails, unreadable), the expected one, and neither may crash.
#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::path::Path;
use std::process::Command;

use ai_audit::bundle::ExportMeta;
use ai_audit::log::export_from_store;
use ai_audit::store::MemoryStore;
use ai_audit::{Auditor, Receipt, SigningKey};
use support::{reference_python, resign, vector_key};

/// The verdict classes both verifiers share (their exit codes 0, 1 and 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Pass,
    Fails,
    Unreadable,
}

impl Class {
    fn of(code: Option<i32>) -> Option<Self> {
        match code {
            Some(0) => Some(Self::Pass),
            Some(1) => Some(Self::Fails),
            Some(2) => Some(Self::Unreadable),
            _ => None,
        }
    }
}

/// One member of a hand-built archive, with every field a hostile writer may set.
#[derive(Clone)]
struct Member {
    name: Vec<u8>,
    /// The bytes as stored (deflated when `method` is 8).
    data: Vec<u8>,
    method: u16,
    flags: u16,
    crc: u32,
    size: u64,
    /// Unix mode in the external attributes.
    mode: u32,
    /// What the local header says instead, where it differs.
    local_name: Option<Vec<u8>>,
    local_flags: Option<u16>,
    local_method: Option<u16>,
    local_crc: Option<u32>,
    /// A data descriptor written after the data (flag bit 3 is the caller's to set).
    descriptor: Option<Vec<u8>>,
    /// Sizes written as 0xFFFFFFFF, with a ZIP64 extra field holding them.
    zip64: bool,
}

impl Member {
    fn stored(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            data: data.to_vec(),
            method: 0,
            flags: 0,
            crc: crc32fast::hash(data),
            size: data.len() as u64,
            mode: 0o100_644,
            local_name: None,
            local_flags: None,
            local_method: None,
            local_crc: None,
            descriptor: None,
            zip64: false,
        }
    }

    fn deflated(name: &str, data: &[u8]) -> Self {
        Self::deflated_at(name, data, flate2::Compression::fast())
    }

    fn deflated_at(name: &str, data: &[u8], level: flate2::Compression) -> Self {
        use std::io::Write as _;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), level);
        z.write_all(data).unwrap();
        Self {
            data: z.finish().unwrap(),
            method: 8,
            ..Self::stored(name, data)
        }
    }
}

/// A hand-built archive.
#[derive(Clone, Default)]
struct Archive {
    members: Vec<Member>,
    /// Bytes before the first member.
    prefix: Vec<u8>,
    /// Bytes after the member at this position.
    gap: Option<(usize, Vec<u8>)>,
    /// The end record's comment.
    comment: Vec<u8>,
    /// Bytes after the end record.
    trailing: Vec<u8>,
    /// Write a ZIP64 end record and locator; `Some(n)`: with `n` added to its entry count.
    zip64_end: Option<u64>,
    /// Write 0xFFFF entries in the classic end record (as if ZIP64 were needed).
    saturate: bool,
}

fn u16le(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn u32le(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

impl Archive {
    fn build(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let mut cd = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            let offset = out.len() as u32;
            let (csize, usize_) = if m.zip64 {
                (u32::MAX, u32::MAX)
            } else {
                (m.data.len() as u32, m.size as u32)
            };
            let mut extra = Vec::new();
            if m.zip64 {
                extra.extend_from_slice(&u16le(1));
                extra.extend_from_slice(&u16le(16));
                extra.extend_from_slice(&m.size.to_le_bytes());
                extra.extend_from_slice(&(m.data.len() as u64).to_le_bytes());
            }
            let name = m.local_name.as_ref().unwrap_or(&m.name);
            out.extend_from_slice(&u32le(0x0403_4b50));
            out.extend_from_slice(&u16le(if m.zip64 { 45 } else { 20 }));
            out.extend_from_slice(&u16le(m.local_flags.unwrap_or(m.flags)));
            out.extend_from_slice(&u16le(m.local_method.unwrap_or(m.method)));
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            out.extend_from_slice(&u32le(m.local_crc.unwrap_or(m.crc)));
            out.extend_from_slice(&u32le(csize));
            out.extend_from_slice(&u32le(usize_));
            out.extend_from_slice(&u16le(name.len() as u16));
            out.extend_from_slice(&u16le(extra.len() as u16));
            out.extend_from_slice(name);
            out.extend_from_slice(&extra);
            out.extend_from_slice(&m.data);
            if let Some(d) = &m.descriptor {
                out.extend_from_slice(d);
            }
            if let Some((at, bytes)) = &self.gap
                && *at == i
            {
                out.extend_from_slice(bytes);
            }
            cd.extend_from_slice(&u32le(0x0201_4b50));
            cd.extend_from_slice(&u16le((3 << 8) | 45));
            cd.extend_from_slice(&u16le(if m.zip64 { 45 } else { 20 }));
            cd.extend_from_slice(&u16le(m.flags));
            cd.extend_from_slice(&u16le(m.method));
            cd.extend_from_slice(&[0, 0, 0x21, 0]);
            cd.extend_from_slice(&u32le(m.crc));
            cd.extend_from_slice(&u32le(csize));
            cd.extend_from_slice(&u32le(usize_));
            cd.extend_from_slice(&u16le(m.name.len() as u16));
            // The central ZIP64 field holds the sizes set to 0xFFFFFFFF (uncompressed first).
            cd.extend_from_slice(&u16le(extra.len() as u16));
            cd.extend_from_slice(&[0; 6]);
            cd.extend_from_slice(&u32le(m.mode << 16));
            cd.extend_from_slice(&u32le(offset));
            cd.extend_from_slice(&m.name);
            cd.extend_from_slice(&extra);
        }
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&cd);
        let entries = self.members.len() as u64;
        if let Some(extra_entries) = self.zip64_end {
            let z64_at = out.len() as u64;
            out.extend_from_slice(&u32le(0x0606_4b50));
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&u16le(45));
            out.extend_from_slice(&u16le(45));
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&(entries + extra_entries).to_le_bytes());
            out.extend_from_slice(&(entries + extra_entries).to_le_bytes());
            out.extend_from_slice(&(cd.len() as u64).to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(&u32le(0x0706_4b50));
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&z64_at.to_le_bytes());
            out.extend_from_slice(&u32le(1));
        }
        let n = if self.saturate {
            0xffff
        } else {
            entries as u16
        };
        out.extend_from_slice(&u32le(0x0605_4b50));
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&u16le(n));
        out.extend_from_slice(&u16le(n));
        out.extend_from_slice(&u32le(cd.len() as u32));
        out.extend_from_slice(&u32le(cd_offset as u32));
        out.extend_from_slice(&u16le(self.comment.len() as u16));
        out.extend_from_slice(&self.comment);
        out.extend_from_slice(&self.trailing);
        out
    }

    fn member(&mut self, name: &str) -> &mut Member {
        self.members
            .iter_mut()
            .find(|m| m.name == name.as_bytes())
            .unwrap()
    }
}

/// A genuine bundle of 30 receipts exported from a store, as (name, bytes) members.
fn genuine_members(key: &SigningKey) -> Vec<(String, Vec<u8>)> {
    let auditor = Auditor::builder()
        .signer(key.clone())
        .store(MemoryStore::new())
        .build()
        .unwrap();
    for i in 0..30 {
        auditor
            .emit(Receipt::new("acme").with_input_text(&format!("question {i} \u{2028}")))
            .unwrap();
    }
    let done = export_from_store(
        auditor.store().as_ref(),
        0..30,
        "audit.example.com",
        key,
        ExportMeta::new("acme"),
        Vec::new(),
    )
    .unwrap();
    support::zip_members(&done.output)
}

/// Archives of `members`, each member stored (or deflated).
fn archive_of(members: &[(String, Vec<u8>)], deflate: bool) -> Archive {
    Archive {
        members: members
            .iter()
            .map(|(n, b)| {
                if deflate {
                    Member::deflated(n, b)
                } else {
                    Member::stored(n, b)
                }
            })
            .collect(),
        ..Archive::default()
    }
}

/// The members with `name`'s bytes changed by `f`, the manifest re-signed with the genuine key:
/// only the checks inside the receipts (or members) can catch it.
fn edited(
    members: &[(String, Vec<u8>)],
    key: &SigningKey,
    name: &str,
    f: impl Fn(&mut Vec<u8>),
) -> Vec<(String, Vec<u8>)> {
    let mut m = members.to_vec();
    f(&mut m.iter_mut().find(|(n, _)| n == name).unwrap().1);
    resign(&mut m, key);
    m
}

/// Every hostile variant: its name, its bytes and the verdict class both verifiers must give.
fn variants(key: &SigningKey) -> Vec<(String, Vec<u8>, Class)> {
    use Class::{Fails, Pass, Unreadable};
    let members = genuine_members(key);
    let stored = archive_of(&members, false);
    let deflated = archive_of(&members, true);
    let mut out: Vec<(String, Vec<u8>, Class)> = Vec::new();
    let mut add = |name: String, bytes: Vec<u8>, class: Class| out.push((name, bytes, class));
    add("genuine, stored".into(), stored.build(), Pass);
    add("genuine, deflated".into(), deflated.build(), Pass);

    // General-purpose flag bits on receipts.jsonl: in both headers, and in the central
    // directory only. Bits 1 and 2 (deflate hints) and 11 (UTF-8 names, ASCII here) change
    // nothing; every other bit changes how the bytes are read, or is reserved.
    for bit in 0..16u16 {
        let harmless = matches!(bit, 1 | 2 | 11);
        let want = if harmless { Pass } else { Unreadable };
        for central_only in [false, true] {
            let mut a = deflated.clone();
            let m = a.member("receipts.jsonl");
            m.flags |= 1 << bit;
            if central_only {
                m.local_flags = Some(m.flags & !(1 << bit));
            }
            let want = if central_only && bit == 3 {
                // Bit 3 in one header only: the headers disagree on a data descriptor.
                Unreadable
            } else {
                want
            };
            add(
                format!("flag bit {bit} on receipts.jsonl (central only: {central_only})"),
                a.build(),
                want,
            );
        }
        // In the local header only.
        let mut a = deflated.clone();
        a.member("receipts.jsonl").local_flags = Some(1 << bit);
        add(
            format!("flag bit {bit} in the local header of receipts.jsonl only"),
            a.build(),
            if harmless { Pass } else { Unreadable },
        );
    }
    // A genuine data descriptor (libarchive style: CRC-32 zero before the data).
    for signed in [true, false] {
        let mut a = deflated.clone();
        let m = a.member("receipts.jsonl");
        m.flags |= 8;
        m.local_crc = Some(0);
        let mut d = Vec::new();
        if signed {
            d.extend_from_slice(&u32le(0x0807_4b50));
        }
        d.extend_from_slice(&u32le(m.crc));
        d.extend_from_slice(&u32le(m.data.len() as u32));
        d.extend_from_slice(&u32le(m.size as u32));
        m.descriptor = Some(d.clone());
        add(
            format!("data descriptor (signed: {signed})"),
            a.build(),
            Pass,
        );
        let mut a2 = a.clone();
        let m = a2.member("receipts.jsonl");
        let mut bad = d;
        let at = if signed { 4 } else { 0 };
        bad[at] ^= 1;
        m.descriptor = Some(bad);
        add(
            format!("data descriptor with another CRC-32 (signed: {signed})"),
            a2.build(),
            Unreadable,
        );
    }

    // Compression methods other than stored and deflate (the data left as deflated).
    for method in [1u16, 6, 9, 12, 14, 19, 93, 95, 98, 99] {
        let mut a = deflated.clone();
        a.member("receipts.jsonl").method = method;
        add(
            format!("compression method {method}"),
            a.build(),
            Unreadable,
        );
    }
    let mut a = deflated.clone();
    a.member("receipts.jsonl").local_method = Some(0);
    add(
        "local method stored, central deflate".into(),
        a.build(),
        Unreadable,
    );

    // Names.
    for (what, name) in [
        ("a duplicate receipts.jsonl", "receipts.jsonl"),
        ("a duplicate manifest.json", "manifest.json"),
        ("a parent-directory name", "../evil.txt"),
        ("an absolute name", "/etc/evil"),
        ("a backslash name", "a\\b.txt"),
        ("a drive-letter name", "C:evil.txt"),
        ("an empty name", ""),
    ] {
        let mut a = stored.clone();
        a.members.push(Member::stored(name, b"{}"));
        add(what.to_owned(), a.build(), Unreadable);
    }
    let mut a = stored.clone();
    let mut link = Member::stored("link", b"/etc/passwd");
    link.mode = 0o120_777;
    a.members.push(link);
    add("a symbolic link".into(), a.build(), Unreadable);
    let mut a = stored.clone();
    a.members.push(Member::stored("notes.txt", b"added later"));
    add("an unlisted member".into(), a.build(), Fails);
    let mut a = stored.clone();
    let mut m = Member::stored("unlisted-bad-crc.txt", b"x");
    m.crc ^= 1;
    a.members.push(m);
    add(
        "an unlisted member with a bad CRC-32".into(),
        a.build(),
        Fails,
    );
    // Non-ASCII names: with the UTF-8 flag the name is what the manifest lists; without it,
    // readers decode it differently.
    let mut listed = members.clone();
    listed.push(("caf\u{e9}.txt".into(), b"listed".to_vec()));
    resign(&mut listed, key);
    let mut a = archive_of(&listed, false);
    a.member("caf\u{e9}.txt").flags |= 0x0800;
    add("a listed UTF-8 name with bit 11".into(), a.build(), Pass);
    a.member("caf\u{e9}.txt").flags &= !0x0800;
    add(
        "a listed UTF-8 name without bit 11".into(),
        a.build(),
        Unreadable,
    );
    let mut a = stored.clone();
    a.member("receipts.jsonl").local_name = Some(b"receipts.jsonx".to_vec());
    add(
        "local header names another file".into(),
        a.build(),
        Unreadable,
    );

    // CRC-32 and sizes.
    for name in ["receipts.jsonl", "manifest.json", "VERIFYING.md"] {
        let mut a = deflated.clone();
        a.member(name).crc ^= 0x8000_0000;
        add(format!("bad CRC-32 of {name}"), a.build(), Unreadable);
        let mut a = deflated.clone();
        let crc = a.member(name).crc;
        a.member(name).local_crc = Some(crc ^ 1);
        add(
            format!("local CRC-32 of {name} differs"),
            a.build(),
            Unreadable,
        );
    }
    let mut a = deflated.clone();
    a.member("receipts.jsonl").size += 1;
    add("declared size one too large".into(), a.build(), Unreadable);
    let mut a = deflated.clone();
    a.member("receipts.jsonl").size = 0xffff_fff0;
    add("declared size of 4 GiB".into(), a.build(), Unreadable);
    let mut a = deflated.clone();
    let m = a.member("receipts.jsonl");
    m.data.extend_from_slice(b"hidden");
    add(
        "bytes after the deflate stream".into(),
        a.build(),
        Unreadable,
    );
    let mut a = deflated.clone();
    let m = a.member("receipts.jsonl");
    let half = m.data.len() / 2;
    m.data.truncate(half);
    add("deflate stream cut in half".into(), a.build(), Unreadable);

    // Truncations and bytes around the members.
    let whole = deflated.build();
    for cut in [1usize, 10, 22, 100, whole.len() / 2, whole.len() - 1] {
        add(
            format!("truncated by {cut} bytes"),
            whole[..whole.len() - cut].to_vec(),
            Unreadable,
        );
    }
    add(
        "not a ZIP at all".into(),
        b"PK\x03\x04 but nothing else".to_vec(),
        Unreadable,
    );
    add("empty file".into(), Vec::new(), Unreadable);
    add(
        "an archive with no members".into(),
        Archive::default().build(),
        Fails,
    );
    let mut a = deflated.clone();
    a.prefix = b"#!/bin/sh\nexit 0\n".to_vec();
    add(
        "bytes before the first member".into(),
        a.build(),
        Unreadable,
    );
    let mut a = deflated.clone();
    a.gap = Some((0, b"PK\x03\x04hidden".to_vec()));
    add("bytes between members".into(), a.build(), Unreadable);
    let mut a = deflated.clone();
    a.trailing = b"trailing garbage".to_vec();
    add("bytes after the end record".into(), a.build(), Unreadable);
    let mut a = deflated.clone();
    a.trailing = vec![0; 512];
    add("zero padding after the end record".into(), a.build(), Pass);
    let mut a = deflated.clone();
    a.comment = b"a comment".to_vec();
    add("an end-record comment".into(), a.build(), Pass);
    let mut inner = deflated.clone();
    inner.comment = Vec::new();
    let mut a = deflated.clone();
    let shadow = inner.build();
    a.comment = shadow[shadow.len() - 22..].to_vec();
    add(
        "an end record hidden in the comment".into(),
        a.build(),
        Unreadable,
    );

    // ZIP64 end records: (what, extra entries in it, classic record saturated, verdict).
    for (what, zip64_end, saturate, want) in [
        ("ZIP64 end record that agrees", Some(0), false, Pass),
        (
            "ZIP64 end record with a saturated classic one",
            Some(0),
            true,
            Pass,
        ),
        (
            "ZIP64 end record with another entry count",
            Some(1),
            false,
            Unreadable,
        ),
        ("saturated end record without ZIP64", None, true, Unreadable),
    ] {
        let mut a = deflated.clone();
        a.zip64_end = zip64_end;
        a.saturate = saturate;
        add(what.to_owned(), a.build(), want);
    }
    let mut a = deflated;
    a.member("receipts.jsonl").zip64 = true;
    add("ZIP64 sizes in the extra fields".into(), a.build(), Pass);

    // Oversized members and too many of them.
    let mut big = members.clone();
    big.iter_mut()
        .find(|(n, _)| n == "chain_metadata.json")
        .unwrap()
        .1
        .extend(std::iter::repeat_n(b' ', 2 << 20));
    resign(&mut big, key);
    add(
        "chain_metadata.json of 2 MiB".into(),
        archive_of(&big, false).build(),
        Unreadable,
    );
    let bomb = edited(&members, key, "receipts.jsonl", |b| {
        b.extend(std::iter::repeat_n(b'\n', 8 << 20));
    });
    let mut a = archive_of(&bomb, false);
    let r = a.member("receipts.jsonl");
    let data = r.data.clone();
    *r = Member::deflated_at("receipts.jsonl", &data, flate2::Compression::best());
    assert!(
        r.size > 200 * r.data.len() as u64,
        "the bomb inflates {}:{}",
        r.size,
        r.data.len()
    );
    add(
        "receipts.jsonl inflating more than 200:1 (a bomb)".into(),
        a.build(),
        Unreadable,
    );
    let long = edited(&members, key, "receipts.jsonl", |b| {
        b.extend(std::iter::repeat_n(b'x', 9 << 20));
        b.push(b'\n');
    });
    add(
        "a 9 MiB line (stored)".into(),
        archive_of(&long, false).build(),
        Fails,
    );
    let mut a = stored;
    for i in 0..60 {
        a.members.push(Member::stored(&format!("pad{i}"), b""));
    }
    add("more than 64 members".into(), a.build(), Unreadable);

    // The manifest and the evidence.
    let without: Vec<_> = members
        .iter()
        .filter(|(n, _)| n != "manifest.json")
        .cloned()
        .collect();
    add(
        "no manifest".into(),
        archive_of(&without, true).build(),
        Fails,
    );
    for (what, f) in [
        (
            "manifest not JSON",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() / 2)) as Box<dyn Fn(&mut Vec<u8>)>,
        ),
        (
            "manifest signature flipped",
            Box::new(|b: &mut Vec<u8>| {
                let t = String::from_utf8(b.clone()).unwrap();
                let at = t.find("\"signature\": \"").unwrap() + 14;
                b[at] = if b[at] == b'a' { b'b' } else { b'a' };
            }),
        ),
        (
            "manifest with a duplicate key",
            Box::new(|b: &mut Vec<u8>| {
                let t = String::from_utf8(b.clone()).unwrap();
                *b = t.replacen('{', "{\"format\": \"x\", ", 1).into_bytes();
            }),
        ),
    ] {
        let mut m = members.clone();
        f(&mut m.iter_mut().find(|(n, _)| n == "manifest.json").unwrap().1);
        add(what.into(), archive_of(&m, true).build(), Fails);
    }
    let receipt_edit = edited(&members, key, "receipts.jsonl", |b| {
        // One hex digit of the seventh receipt's output hash.
        let line = b
            .split(|&c| c == b'\n')
            .take(6)
            .map(|l| l.len() + 1)
            .sum::<usize>();
        let at = line
            + b[line..]
                .windows(15)
                .position(|w| w == b"\"output_hash\":\"")
                .unwrap()
            + 15;
        b[at] = if b[at] == b'0' { b'1' } else { b'0' };
    });
    add(
        "a receipt edited, manifest re-signed".into(),
        archive_of(&receipt_edit, true).build(),
        Fails,
    );
    let dropped = edited(&members, key, "receipts.jsonl", |b| {
        let mut lines: Vec<&[u8]> = b.split(|&c| c == b'\n').collect();
        lines.remove(5);
        *b = lines.join(&b'\n');
    });
    add(
        "a receipt removed, manifest re-signed".into(),
        archive_of(&dropped, true).build(),
        Fails,
    );
    let mut stale = members.clone();
    stale
        .iter_mut()
        .find(|(n, _)| n == "VERIFYING.md")
        .unwrap()
        .1
        .extend_from_slice(b"\nedited\n");
    add(
        "a member edited after signing".into(),
        archive_of(&stale, true).build(),
        Fails,
    );
    let other = SigningKey::from_seed(&[9; 32]);
    let mut foreign = members.clone();
    foreign
        .iter_mut()
        .find(|(n, _)| n == "public_key.hex")
        .unwrap()
        .1 = other.verifying_key().to_hex().into_bytes();
    resign(&mut foreign, &other);
    add(
        "manifest re-signed by another key".into(),
        archive_of(&foreign, true).build(),
        Fails,
    );
    let cp = edited(&members, key, "checkpoint.txt", |b| {
        let t = String::from_utf8(b.clone()).unwrap();
        *b = t.replacen("\n30\n", "\n29\n", 1).into_bytes();
    });
    add(
        "checkpoint size edited, manifest re-signed".into(),
        archive_of(&cp, true).build(),
        Fails,
    );
    out
}

/// Runs `program` with `args` and returns its verdict class and output; fails on a crash.
fn verdict(program: &Path, args: &[&str], who: &str, case: &str) -> (Class, String) {
    let o = Command::new(program)
        .args(args)
        .env_remove("AI_AUDIT_VERIFY_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !text.contains("Traceback") && !text.contains("panicked"),
        "{who} crashed on {case}: {text}"
    );
    let class = Class::of(o.status.code());
    assert!(
        class.is_some(),
        "{who} exited {:?} on {case}: {text}",
        o.status.code()
    );
    let class = class.unwrap();
    (class, text)
}

#[test]
fn both_verifiers_give_every_hostile_bundle_the_same_expected_verdict_class() {
    let Some(python) = reference_python() else {
        return;
    };
    let key = vector_key();
    let public = key.verifying_key().to_hex();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("verify.py");
    std::fs::write(&script, ai_audit::bundle::VERIFY_PY_SOURCE).unwrap();
    let script = script.to_str().unwrap();
    let rust = Path::new(env!("CARGO_BIN_EXE_ai-audit"));
    let variants = variants(&key);
    assert!(variants.len() > 100, "{} variants", variants.len());
    let mut wrong = Vec::new();
    for (i, (case, bytes, want)) in variants.iter().enumerate() {
        let path = dir.path().join(format!("{i}.zip"));
        std::fs::write(&path, bytes).unwrap();
        let path = path.to_str().unwrap();
        let (r, r_text) = verdict(
            rust,
            &["verify", path, "--key", &public],
            "ai-audit verify",
            case,
        );
        let (p, p_text) = verdict(
            &python,
            &[script, "--key", &public, path],
            "verify.py",
            case,
        );
        if (r, p) != (*want, *want) {
            wrong.push(format!(
                "{case}: want {want:?}, ai-audit verify {r:?}, verify.py {p:?}\n  ai-audit: {}\n  verify.py: {}",
                r_text.lines().next().unwrap_or_default(),
                p_text.lines().last().unwrap_or_default()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} variants:\n{}",
        wrong.len(),
        variants.len(),
        wrong.join("\n")
    );
}
