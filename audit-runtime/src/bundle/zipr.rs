//! A ZIP reader for hostile input: the central directory is read with caps on its size and entry
//! count, member names are vetted, and every member is inflated through a hard output limit,
//! whatever sizes the archive declares.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use super::{ExportError, ReadLimits};

/// One central-directory entry.
#[derive(Debug, Clone)]
pub(crate) struct CdEntry {
    pub(crate) name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    pub(crate) uncompressed: u64,
    offset: u64,
    /// Where the member's data starts (after its local header), set by [`check_layout`].
    data_at: u64,
}

/// The fields a local header and a central-directory entry share, "version needed" to "extra
/// field length".
struct Shared {
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    name_len: u16,
    extra_len: u16,
}

impl Shared {
    fn read(c: &mut Cur<'_>) -> Result<Self, ExportError> {
        let _needed = c.u16()?;
        let flags = c.u16()?;
        let method = c.u16()?;
        c.take(4)?; // time, date
        Ok(Self {
            flags,
            method,
            crc: c.u32()?,
            compressed: u64::from(c.u32()?),
            uncompressed: u64::from(c.u32()?),
            name_len: c.u16()?,
            extra_len: c.u16()?,
        })
    }
}

/// A bounds-checked little-endian cursor.
struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ExportError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| malformed("length overflow"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| malformed("a record runs past the end of the central directory"))?;
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, ExportError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ]))
    }
    fn u32(&mut self) -> Result<u32, ExportError> {
        let lo = u32::from(self.u16()?);
        let hi = u32::from(self.u16()?);
        Ok(lo | (hi << 16))
    }
    fn u64(&mut self) -> Result<u64, ExportError> {
        let lo = u64::from(self.u32()?);
        let hi = u64::from(self.u32()?);
        Ok(lo | (hi << 32))
    }
}

fn malformed(what: &'static str) -> ExportError {
    ExportError::Malformed { what }
}

fn read_at<R: Read + Seek>(r: &mut R, offset: u64, len: usize) -> Result<Vec<u8>, ExportError> {
    r.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            malformed("the archive ends inside a record (truncated)")
        } else {
            ExportError::Io(e)
        }
    })?;
    Ok(buf)
}

const EOCD_SIG: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCATOR_SIG: u32 = 0x0706_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;

/// Why a member name is refused, if it is.
fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("the name is empty");
    }
    if name.contains('\0') {
        return Some("the name contains a NUL byte");
    }
    if name.contains('\\') {
        return Some("the name contains a backslash");
    }
    if name.starts_with('/') {
        return Some("the name is an absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b.get(1) == Some(&b':') && b.first().is_some_and(u8::is_ascii_alphabetic) {
        return Some("the name starts with a drive letter");
    }
    if name.split('/').any(|seg| seg == "..") {
        return Some("the name has a `..` segment");
    }
    None
}

/// The general-purpose flag bits this reader implements or may ignore: 1 and 2 (deflate speed
/// hints), 3 (CRC-32 and sizes in a data descriptor) and 11 (UTF-8 names). Every other bit
/// changes how a member's bytes are to be read (encryption, patch data) or is reserved, so a
/// member carrying one is refused rather than read as if the bit were clear: another reader
/// would read it differently, or not at all. `verify.py` refuses the same bits.
const KNOWN_FLAGS: u16 = 0x080e;

/// What an unsupported general-purpose flag of a member means, if it has one.
fn unsupported_flag(flags: u16) -> Option<&'static str> {
    let unknown = flags & !KNOWN_FLAGS;
    if unknown == 0 {
        return None;
    }
    Some(match unknown.trailing_zeros() {
        0 => "encryption (general-purpose flag bit 0)",
        4 => "enhanced deflating (general-purpose flag bit 4)",
        5 => "compressed patched data (general-purpose flag bit 5)",
        6 => "strong encryption (general-purpose flag bit 6)",
        13 => "an encrypted central directory (general-purpose flag bit 13)",
        _ => "a reserved general-purpose flag bit (7 to 10, 12, 14 or 15)",
    })
}

/// The most bytes an end-of-central-directory record and its comment can take.
const TAIL_MAX: u64 = 22 + 65_535;

/// Where an end-of-central-directory record may start in the last bytes of a file.
#[derive(Debug, Clone, Copy)]
struct EndCandidate {
    /// Its offset in those bytes.
    at: usize,
    /// Zero bytes between the end of its comment and the end of the file.
    padding: usize,
}

/// Every place in `tail` (the last bytes of a file, at most [`TAIL_MAX`]) where an
/// end-of-central-directory record could start, last first: its signature, and its comment
/// running to the end, or to zero bytes that pad the file to the end (bsdtar writing to a pipe
/// pads to its block size). The one scan for the end record: [`read_index`] and
/// [`looks_like_zip`] both use it.
fn end_records(tail: &[u8]) -> impl Iterator<Item = EndCandidate> + '_ {
    (0..=tail.len().saturating_sub(22)).rev().filter_map(|at| {
        if tail.get(at..at + 4) != Some(&EOCD_SIG[..]) {
            return None;
        }
        let comment = tail
            .get(at + 20..at + 22)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(u16::from_le_bytes)?;
        let padding = tail.get(at + 22 + usize::from(comment)..)?;
        padding.iter().all(|&b| b == 0).then_some(EndCandidate {
            at,
            padding: padding.len(),
        })
    })
}

/// Reads the last [`TAIL_MAX`] bytes (or fewer) of `r`, and where they start.
fn read_tail<R: Read + Seek>(r: &mut R, len: u64) -> Result<(u64, Vec<u8>), ExportError> {
    let tail_len = len.min(TAIL_MAX);
    let tail_start = len - tail_len;
    let tail = read_at(r, tail_start, usize::try_from(tail_len).unwrap_or(0))?;
    Ok((tail_start, tail))
}

/// Whether `r` looks like a ZIP archive, for a caller that must tell an evidence bundle from
/// receipts JSONL before reading either: it starts with a local file header or an empty
/// archive's end record, or it ends with an end-of-central-directory record (its comment
/// running exactly to the end) that follows a central directory or a ZIP64 locator — an
/// archive with data in front of it, which [`super::EvidenceReader::open`] then refuses by
/// name. Receipts JSONL cannot hold the records' raw control bytes, so a damaged file that
/// merely ends like a record, without a directory before it, is not taken for one.
///
/// A read error counts as "no". The position of `r` afterwards is unspecified.
///
/// ```
/// use audit_runtime::bundle::looks_like_zip;
/// let mut jsonl = std::io::Cursor::new(b"{\"receipt_id\": \"r1\"}\n".to_vec());
/// assert!(!looks_like_zip(&mut jsonl));
/// let mut empty_zip = std::io::Cursor::new(b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec());
/// assert!(looks_like_zip(&mut empty_zip));
/// ```
pub fn looks_like_zip<R: Read + Seek>(r: &mut R) -> bool {
    let mut magic = Vec::with_capacity(4);
    if r.seek(SeekFrom::Start(0)).is_err() || r.take(4).read_to_end(&mut magic).is_err() {
        return false;
    }
    if magic == LOCAL_SIG.to_le_bytes() || magic == EOCD_SIG {
        return true;
    }
    let Ok(len) = r.seek(SeekFrom::End(0)) else {
        return false;
    };
    let Ok((_, tail)) = read_tail(r, len) else {
        return false;
    };
    let sig_at = |i: usize| tail.get(i..i + 4);
    end_records(&tail).any(|e| {
        let cd_size = tail
            .get(e.at + 12..e.at + 16)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes) as usize;
        e.padding == 0
            && (e.at.checked_sub(cd_size).and_then(sig_at) == Some(&CENTRAL_SIG.to_le_bytes()[..])
                || e.at.checked_sub(20).and_then(sig_at) == Some(&LOCATOR_SIG.to_le_bytes()[..]))
    })
}

/// Where the central directory is, as the end records give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CdBounds {
    /// Its number of entries.
    entries: u64,
    /// Its size in bytes.
    size: u64,
    /// Where it starts.
    offset: u64,
    /// Where it must end: at the ZIP64 end record if there is one, else at the classic end
    /// record.
    end: u64,
}

/// Reads and vets the central directory.
pub(crate) fn read_index<R: Read + Seek>(
    r: &mut R,
    limits: &ReadLimits,
) -> Result<Vec<CdEntry>, ExportError> {
    let classic = read_end_record(r)?;
    let bounds = read_zip64_end(r, classic)?;
    check_bounds(&bounds, limits)?;
    let cd = read_at(r, bounds.offset, usize::try_from(bounds.size).unwrap_or(0))?;
    let mut entries = read_entries(&cd, &bounds)?;
    check_no_overlap(&entries)?;
    if bounds.offset + bounds.size != bounds.end {
        return Err(malformed(
            "bytes between the central directory and its end record that no member accounts for",
        ));
    }
    check_layout(r, &mut entries, bounds.offset)?;
    Ok(entries)
}

/// The classic end-of-central-directory record: the one at the end of the archive, unless
/// there is none or two.
fn read_end_record<R: Read + Seek>(r: &mut R) -> Result<CdBounds, ExportError> {
    let len = r.seek(SeekFrom::End(0))?;
    if len < 22 {
        return Err(ExportError::NotZip);
    }
    let (tail_start, tail) = read_tail(r, len)?;
    let mut ends = end_records(&tail);
    let found = ends.next();
    if ends.next().is_some() {
        // One hides in the other's comment; readers differ in which they take.
        return Err(malformed(
            "two end-of-central-directory records, one inside the other's comment: ZIP readers would disagree on the members",
        ));
    }
    let Some(EndCandidate { at: p, .. }) = found else {
        return Err(malformed(
            "no end-of-central-directory record: not a ZIP archive, or a truncated one",
        ));
    };
    let mut c = Cur {
        buf: tail.get(p + 4..).unwrap_or_default(),
        pos: 0,
    };
    let disk = c.u16()?;
    let cd_disk = c.u16()?;
    let _entries_here = c.u16()?;
    let entries = u64::from(c.u16()?);
    let size = u64::from(c.u32()?);
    let offset = u64::from(c.u32()?);
    if disk != 0 || cd_disk != 0 {
        return Err(malformed("multi-disk archives are not supported"));
    }
    Ok(CdBounds {
        entries,
        size,
        offset,
        end: tail_start + p as u64,
    })
}

/// The central directory's bounds once the ZIP64 end record, if any, is read: the locator
/// sits just before the classic record. Some writers add it (and the ZIP64 end record) when
/// nothing needed it; it is then part of the archive's end too, and must agree.
fn read_zip64_end<R: Read + Seek>(r: &mut R, classic: CdBounds) -> Result<CdBounds, ExportError> {
    let saturated =
        classic.entries == 0xffff || classic.size == 0xffff_ffff || classic.offset == 0xffff_ffff;
    let locator = match classic.end.checked_sub(20) {
        Some(at) => Some((at, read_at(r, at, 20)?)),
        None => None,
    };
    let locator = locator.filter(|(_, l)| l.get(..4) == Some(&LOCATOR_SIG.to_le_bytes()[..]));
    let Some((loc_at, loc)) = locator else {
        if saturated {
            return Err(malformed("ZIP64 locator missing"));
        }
        return Ok(classic);
    };
    let mut lc = Cur { buf: &loc, pos: 4 };
    let _disk = lc.u32()?;
    let z64_at = lc.u64()?;
    if z64_at >= loc_at {
        return Err(malformed("ZIP64 record offset out of range"));
    }
    let rec = read_at(r, z64_at, 56)?;
    let mut zc = Cur { buf: &rec, pos: 0 };
    if zc.u32()? != 0x0606_4b50 {
        return Err(malformed("ZIP64 end record missing"));
    }
    let record_size = zc.u64()?;
    if z64_at
        .checked_add(12)
        .and_then(|x| x.checked_add(record_size))
        != Some(loc_at)
    {
        return Err(malformed(
            "the ZIP64 end record does not end where its locator starts",
        ));
    }
    zc.take(12)?; // versions, disk numbers
    let _here = zc.u64()?;
    let (entries, size, offset) = (zc.u64()?, zc.u64()?, zc.u64()?);
    if !saturated && (classic.entries, classic.size, classic.offset) != (entries, size, offset) {
        return Err(malformed(
            "the ZIP64 end record and the classic one disagree on the central directory",
        ));
    }
    Ok(CdBounds {
        entries,
        size,
        offset,
        end: z64_at,
    })
}

/// The central directory must fit the limits, and the archive.
fn check_bounds(bounds: &CdBounds, limits: &ReadLimits) -> Result<(), ExportError> {
    if bounds.entries > limits.max_entries as u64 {
        return Err(ExportError::TooManyEntries {
            count: bounds.entries,
            max: limits.max_entries,
        });
    }
    if bounds.size > limits.max_central_directory {
        return Err(ExportError::LimitExceeded {
            member: "central directory".into(),
            limit: limits.max_central_directory,
        });
    }
    if bounds
        .offset
        .checked_add(bounds.size)
        .is_none_or(|e| e > bounds.end)
    {
        return Err(malformed(
            "the central directory lies outside the archive (truncated?)",
        ));
    }
    Ok(())
}

/// The central directory's entries, each vetted, with distinct names and data before the
/// directory.
fn read_entries(cd: &[u8], bounds: &CdBounds) -> Result<Vec<CdEntry>, ExportError> {
    let mut c = Cur { buf: cd, pos: 0 };
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for _ in 0..bounds.entries {
        let entry = read_entry(&mut c)?;
        if !names.insert(entry.name.clone()) {
            return Err(ExportError::DuplicateMember { name: entry.name });
        }
        if entry
            .offset
            .checked_add(entry.compressed)
            .is_none_or(|e| e > bounds.offset)
        {
            return Err(malformed("a member's data lies outside the archive"));
        }
        out.push(entry);
    }
    Ok(out)
}

/// One central-directory entry at `c`, vetted on its own: its name, its type, its flags, its
/// compression method; its 64-bit values, if it has them.
fn read_entry(c: &mut Cur<'_>) -> Result<CdEntry, ExportError> {
    if c.u32()? != CENTRAL_SIG {
        return Err(malformed("bad central directory entry signature"));
    }
    let made_by = c.u16()?;
    let Shared {
        flags,
        method,
        crc,
        mut compressed,
        mut uncompressed,
        name_len,
        extra_len,
    } = Shared::read(c)?;
    let (nlen, xlen) = (usize::from(name_len), usize::from(extra_len));
    let clen = usize::from(c.u16()?);
    c.take(4)?; // disk, internal attributes
    let ext_attr = c.u32()?;
    let mut offset = u64::from(c.u32()?);
    let raw_name = c.take(nlen)?;
    let extra = c.take(xlen)?;
    c.take(clen)?;
    let name = entry_name(raw_name, flags)?;
    if made_by >> 8 == 3 && (ext_attr >> 16) & 0o170_000 == 0o120_000 {
        return Err(ExportError::Symlink { name });
    }
    if let Some(what) = unsupported_flag(flags) {
        return Err(ExportError::Unsupported { name, what });
    }
    if method != 0 && method != 8 {
        return Err(ExportError::Unsupported {
            name,
            what: "compression method other than stored or deflate",
        });
    }
    // ZIP64 extended information: the 64-bit values of the fields set to 0xFFFFFFFF.
    if let Some(body) = zip64_field(extra)? {
        let mut bc = Cur { buf: body, pos: 0 };
        if uncompressed == 0xffff_ffff {
            uncompressed = bc.u64()?;
        }
        if compressed == 0xffff_ffff {
            compressed = bc.u64()?;
        }
        if offset == 0xffff_ffff {
            offset = bc.u64()?;
        }
    }
    Ok(CdEntry {
        name,
        flags,
        method,
        crc,
        compressed,
        uncompressed,
        offset,
        data_at: 0,
    })
}

/// An entry's name: every reader must read the same one, and it must not escape.
fn entry_name(raw: &[u8], flags: u16) -> Result<String, ExportError> {
    let shown = || String::from_utf8_lossy(raw).chars().take(200).collect();
    if flags & 0x0800 == 0 && !raw.is_ascii() {
        // Without the UTF-8 flag, readers decode it as CP437 (Python's zipfile) or as UTF-8:
        // they would disagree on the member's name.
        return Err(ExportError::UnsafeName {
            name: shown(),
            why: "the name is not ASCII and the UTF-8 flag (general-purpose bit 11) is not set",
        });
    }
    let name = std::str::from_utf8(raw)
        .map_err(|_| ExportError::UnsafeName {
            name: shown(),
            why: "the name is not valid UTF-8",
        })?
        .to_owned();
    if let Some(why) = unsafe_name(&name) {
        return Err(ExportError::UnsafeName {
            name: name.chars().take(200).collect(),
            why,
        });
    }
    Ok(name)
}

/// Members must not overlap (overlapping members are a ZIP-bomb technique).
fn check_no_overlap(entries: &[CdEntry]) -> Result<(), ExportError> {
    let mut spans: Vec<(u64, u64)> = entries
        .iter()
        .map(|e| (e.offset, e.offset + 30 + e.name.len() as u64 + e.compressed))
        .collect();
    spans.sort_unstable();
    if spans.windows(2).any(|w| match w {
        [a, b] => b.0 < a.1,
        _ => false,
    }) {
        return Err(malformed("members overlap"));
    }
    Ok(())
}

/// The body of the ZIP64 extended-information field (id 1) among `extra`'s fields, which must
/// be well-formed; padding of fewer than 4 bytes at the end is tolerated (old zipalign wrote it).
fn zip64_field(extra: &[u8]) -> Result<Option<&[u8]>, ExportError> {
    let mut xc = Cur { buf: extra, pos: 0 };
    let mut found = None;
    while xc.pos + 4 <= extra.len() {
        let id = xc.u16()?;
        let size = usize::from(xc.u16()?);
        let body = xc.take(size)?;
        if id == 1 {
            found = Some(body);
        }
    }
    Ok(found)
}

/// The archive must be its members, one after another from offset 0, then the central
/// directory, with every local header saying what the central directory says of its member.
/// Otherwise some bytes are read by one ZIP reader and skipped by another: a local entry the
/// central directory does not list is a member to a reader that walks the local headers (Java's
/// `ZipInputStream`, streaming unzippers), and invisible to one that starts from the central
/// directory (this one, Python's `zipfile`). An auditor and a tool must see the same members.
fn check_layout<R: Read + Seek>(
    r: &mut R,
    entries: &mut [CdEntry],
    cd_offset: u64,
) -> Result<(), ExportError> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_unstable_by_key(|&i| entries.get(i).map_or(0, |e| e.offset));
    let offsets: Vec<u64> = order
        .iter()
        .filter_map(|&i| entries.get(i).map(|e| e.offset))
        .collect();
    let mut at = 0u64;
    for (k, &i) in order.iter().enumerate() {
        let Some(e) = entries.get_mut(i) else {
            continue;
        };
        // Where this member's bytes must end: at the next member, or the central directory.
        let next = offsets.get(k + 1).copied().unwrap_or(cd_offset);
        if e.offset != at {
            return Err(malformed(if at == 0 {
                "data before the first member (a ZIP archive must start with one)"
            } else {
                "bytes between members that the central directory does not list (a hidden entry?)"
            }));
        }
        at = check_member(r, e, next)?;
    }
    if at != cd_offset {
        return Err(malformed(
            "bytes between the last member and the central directory that it does not list (a hidden entry?)",
        ));
    }
    Ok(())
}

/// Reads the local header of `e`, whose name must be the central directory's, with its 64-bit
/// sizes if it has them.
fn read_local_header<R: Read + Seek>(r: &mut R, e: &CdEntry) -> Result<Shared, ExportError> {
    let head = read_at(r, e.offset, 30)?;
    let mut c = Cur { buf: &head, pos: 0 };
    if c.u32()? != LOCAL_SIG {
        return Err(malformed("bad local header signature"));
    }
    let mut shared = Shared::read(&mut c)?;
    let name = read_at(r, e.offset + 30, usize::from(shared.name_len))?;
    if name != e.name.as_bytes() {
        return Err(ExportError::NameMismatch {
            name: e.name.clone(),
        });
    }
    let extra = read_at(
        r,
        e.offset + 30 + u64::from(shared.name_len),
        usize::from(shared.extra_len),
    )?;
    if let Some(body) = zip64_field(&extra)?
        && (shared.uncompressed == 0xffff_ffff || shared.compressed == 0xffff_ffff)
    {
        // In a local header, ZIP64 holds both sizes.
        let mut bc = Cur { buf: body, pos: 0 };
        shared.uncompressed = bc.u64()?;
        shared.compressed = bc.u64()?;
    }
    Ok(shared)
}

/// Checks that the local header of `e` (and its data descriptor, if any) says what the central
/// directory says, and sets where its data starts. Returns where its bytes end; `next` is
/// where they must end at the latest (the next member or the central directory).
fn check_member<R: Read + Seek>(r: &mut R, e: &mut CdEntry, next: u64) -> Result<u64, ExportError> {
    let Shared {
        flags,
        method,
        crc,
        compressed,
        uncompressed,
        name_len: nlen,
        extra_len: xlen,
    } = read_local_header(r, e)?;
    let disagrees = |what| {
        Err(ExportError::Corrupt {
            name: e.name.clone(),
            what,
        })
    };
    if let Some(what) = unsupported_flag(flags) {
        return Err(ExportError::Unsupported {
            name: e.name.clone(),
            what,
        });
    }
    if method != e.method || flags & 0x0009 != e.flags & 0x0009 {
        return disagrees("its local header and the central directory differ (method or flags)");
    }
    e.data_at = e.offset + 30 + u64::from(nlen) + u64::from(xlen);
    let data_end = e.data_at + e.compressed;
    // With a data descriptor (bit 3), a local field may also be 0: writers fill in what
    // they know before the data (libarchive, for one, the sizes but not the CRC-32).
    let descriptor = flags & 0x0008 != 0;
    let agrees = |local: u64, central: u64| local == central || (descriptor && local == 0);
    if !(agrees(u64::from(crc), u64::from(e.crc))
        && agrees(compressed, e.compressed)
        && agrees(uncompressed, e.uncompressed))
    {
        return disagrees("its local header and the central directory differ (CRC-32 or sizes)");
    }
    if !descriptor {
        return Ok(data_end);
    }
    // CRC-32 and sizes follow the data, in a descriptor with or without its signature,
    // of 32- or 64-bit sizes; it must fill the room up to the next member exactly.
    let room = next.saturating_sub(data_end);
    let d = read_at(r, data_end, usize::try_from(room.min(24)).unwrap_or(0))?;
    match descriptor_len(&d, e, room) {
        // Bytes after a shorter one are named at the next member (or after the loop).
        Descriptor::Fits(len) | Descriptor::Short(len) => Ok(data_end + len),
        Descriptor::Disagrees => disagrees("its data descriptor and the central directory differ"),
    }
}

/// What the bytes after a member's data hold as its data descriptor.
enum Descriptor {
    /// A descriptor of `e`'s CRC and sizes filling exactly the room up to the next member.
    Fits(u64),
    /// One that agrees but leaves bytes before the next member.
    Short(u64),
    /// None that agrees.
    Disagrees,
}

/// The data descriptor at the start of `d` that records `e`'s CRC and sizes, preferring the
/// form that fills `room` (an empty member's 64-bit descriptor also reads as a 32-bit one).
fn descriptor_len(d: &[u8], e: &CdEntry, room: u64) -> Descriptor {
    let lens: Vec<u64> = [(true, false), (true, true), (false, false), (false, true)]
        .into_iter()
        .filter_map(|(signed, wide)| descriptor_form(d, e, signed, wide))
        .collect();
    if lens.contains(&room) {
        Descriptor::Fits(room)
    } else {
        lens.first()
            .map_or(Descriptor::Disagrees, |l| Descriptor::Short(*l))
    }
}

/// The length of a descriptor of one form at the start of `d`, if it records `e`'s values.
fn descriptor_form(d: &[u8], e: &CdEntry, signed: bool, wide: bool) -> Option<u64> {
    let mut c = Cur { buf: d, pos: 0 };
    if signed && c.u32().ok()? != DESCRIPTOR_SIG {
        return None;
    }
    let crc = c.u32().ok()?;
    let (compressed, uncompressed) = if wide {
        (c.u64().ok()?, c.u64().ok()?)
    } else {
        (u64::from(c.u32().ok()?), u64::from(c.u32().ok()?))
    };
    ((crc, compressed, uncompressed) == (e.crc, e.compressed, e.uncompressed))
        .then_some(c.pos as u64)
}

/// Streams one member's bytes: inflated through a hard limit, CRC and size checked at the end.
pub struct MemberReader<'a> {
    inner: Inner<'a>,
    /// The member's compressed size: a deflate stream must use all of it.
    compressed: u64,
    name: String,
    produced: u64,
    limit: u64,
    total: &'a mut u64,
    total_limit: u64,
    crc: crc32fast::Hasher,
    claimed_crc: u32,
    claimed_size: u64,
    done: bool,
}

impl std::fmt::Debug for MemberReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberReader")
            .field("name", &self.name)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

/// Opens `e` for streaming.
pub(crate) fn open_member<'a, R: Read + Seek>(
    r: &'a mut R,
    e: &CdEntry,
    limits: &ReadLimits,
    total: &'a mut u64,
) -> Result<MemberReader<'a>, ExportError> {
    // The local header was checked against the central directory when the index was read.
    r.seek(SeekFrom::Start(e.data_at))?;
    let raw: Box<dyn Read + 'a> = Box::new(r.take(e.compressed));
    let inner = if e.method == 8 {
        Inner::Deflate(flate2::read::DeflateDecoder::new(raw))
    } else {
        Inner::Stored(raw)
    };
    let ratio_cap = limits
        .max_ratio
        .saturating_mul(e.compressed)
        .saturating_add(limits.ratio_slack);
    let limit = limits.max_member_bytes.min(ratio_cap);
    Ok(MemberReader {
        inner,
        compressed: e.compressed,
        name: e.name.clone(),
        produced: 0,
        limit,
        total,
        total_limit: limits.max_total_bytes,
        crc: crc32fast::Hasher::new(),
        claimed_crc: e.crc,
        claimed_size: e.uncompressed,
        done: false,
    })
}

/// A member's bytes as stored, or inflated from them.
enum Inner<'a> {
    Stored(Box<dyn Read + 'a>),
    Deflate(flate2::read::DeflateDecoder<Box<dyn Read + 'a>>),
}

impl Read for Inner<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Stored(r) => r.read(buf),
            Self::Deflate(r) => r.read(buf),
        }
    }
}

impl MemberReader<'_> {
    /// The member's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn fail(&self, e: ExportError) -> io::Error {
        io::Error::other(e)
    }
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        // Ask for at most one byte past the limit, so an overflow is seen without reading more.
        let room = self.limit.saturating_sub(self.produced).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let Some(target) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.inner.read(target).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData {
                self.fail(ExportError::Corrupt {
                    name: self.name.clone(),
                    what: "its compressed data is invalid",
                })
            } else {
                e
            }
        })?;
        self.produced += n as u64;
        *self.total += n as u64;
        if self.produced > self.limit {
            return Err(self.fail(ExportError::LimitExceeded {
                member: self.name.clone(),
                limit: self.limit,
            }));
        }
        if *self.total > self.total_limit {
            return Err(self.fail(ExportError::LimitExceeded {
                member: "the whole archive".into(),
                limit: self.total_limit,
            }));
        }
        if n == 0 {
            self.done = true;
            // The deflate stream may end before the member's compressed bytes do; what is left
            // would be read by no one here, and by other readers as something else (a hidden
            // entry, for a reader that walks the local headers).
            if let Inner::Deflate(d) = &self.inner
                && d.total_in() != self.compressed
            {
                return Err(self.fail(ExportError::Corrupt {
                    name: self.name.clone(),
                    what: "its deflate stream ends before its compressed data does (bytes hidden after it)",
                }));
            }
            let crc = self.crc.clone().finalize();
            if self.produced != self.claimed_size {
                return Err(self.fail(ExportError::Corrupt {
                    name: self.name.clone(),
                    what: "its inflated size differs from the size the archive declares",
                }));
            }
            if crc != self.claimed_crc {
                return Err(self.fail(ExportError::Corrupt {
                    name: self.name.clone(),
                    what: "its CRC-32 differs from the one the archive declares",
                }));
            }
            return Ok(0);
        }
        self.crc.update(target.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Recovers an [`ExportError`] carried through [`io::Error`] by a [`MemberReader`].
pub(crate) fn unwrap_io(e: io::Error) -> ExportError {
    if e.get_ref().is_some_and(|i| i.is::<ExportError>()) {
        match e.into_inner().map(|b| b.downcast::<ExportError>()) {
            Some(Ok(inner)) => *inner,
            Some(Err(other)) => ExportError::Io(io::Error::other(other)),
            None => malformed("unreadable member"),
        }
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        malformed("the archive ends inside a member (truncated)")
    } else {
        ExportError::Io(e)
    }
}

#[cfg(test)]
#[expect(clippy::panic, clippy::indexing_slicing, reason = "tests fail loudly")]
mod tests {
    use std::io::{Cursor, Write as _};

    use super::*;

    /// An end-of-central-directory record of an empty archive, with `comment`.
    fn end_record(comment: &[u8]) -> Vec<u8> {
        let mut out = EOCD_SIG.to_vec();
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&u16::try_from(comment.len()).unwrap().to_le_bytes());
        out.extend_from_slice(comment);
        out
    }

    /// A ZIP archive with one stored member `a.txt` (written by the `zip` crate).
    fn archive() -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("a.txt", opts).unwrap();
        w.write_all(b"hello").unwrap();
        w.finish().unwrap().into_inner()
    }

    fn index(bytes: Vec<u8>, limits: &ReadLimits) -> Result<Vec<CdEntry>, ExportError> {
        read_index(&mut Cursor::new(bytes), limits)
    }

    fn malformed_what(r: Result<Vec<CdEntry>, ExportError>) -> &'static str {
        match r {
            Err(ExportError::Malformed { what }) => what,
            other => panic!("not malformed: {other:?}"),
        }
    }

    #[test]
    fn an_end_record_may_be_followed_by_zero_padding_only() {
        let mut tail = b"junk".to_vec();
        tail.extend(end_record(b"hi"));
        tail.extend([0; 10]);
        let found: Vec<_> = end_records(&tail).map(|e| (e.at, e.padding)).collect();
        assert_eq!(found, [(4, 10)]);
        tail.push(1);
        assert_eq!(end_records(&tail).count(), 0);
    }

    #[test]
    fn the_index_of_an_archive_lists_its_members() {
        let entries = index(archive(), &ReadLimits::default()).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.txt"]);
        assert_eq!(entries[0].uncompressed, 5);
    }

    #[test]
    fn an_end_record_hidden_in_the_others_comment_is_refused() {
        let inner = end_record(b"");
        let what = malformed_what(index(end_record(&inner), &ReadLimits::default()));
        assert!(
            what.starts_with("two end-of-central-directory records"),
            "{what}"
        );
    }

    #[test]
    fn a_file_without_an_end_record_is_refused() {
        assert!(matches!(
            index(b"short".to_vec(), &ReadLimits::default()),
            Err(ExportError::NotZip)
        ));
        let what = malformed_what(index(vec![b'x'; 100], &ReadLimits::default()));
        assert!(
            what.starts_with("no end-of-central-directory record"),
            "{what}"
        );
    }

    #[test]
    fn the_central_directory_must_fit_the_limits() {
        let limits = ReadLimits {
            max_entries: 0,
            ..ReadLimits::default()
        };
        assert!(matches!(
            index(archive(), &limits),
            Err(ExportError::TooManyEntries { count: 1, max: 0 })
        ));
    }

    #[test]
    fn an_archive_behind_other_data_is_refused() {
        let mut bytes = b"junk".to_vec();
        bytes.extend(archive());
        let what = malformed_what(index(bytes, &ReadLimits::default()));
        // Its end record still gives the offsets it had alone.
        assert_eq!(what, "bad central directory entry signature");
    }

    #[test]
    fn an_archive_looks_like_a_zip_even_with_data_in_front() {
        let sniff = |b: Vec<u8>| looks_like_zip(&mut Cursor::new(b));
        assert!(sniff(archive()));
        assert!(sniff(end_record(b"")));
        let mut prefixed = b"{\"not\": \"a receipt\"}\n".to_vec();
        prefixed.extend(archive());
        assert!(sniff(prefixed));
    }

    #[test]
    fn receipts_that_merely_end_like_an_end_record_do_not_look_like_a_zip() {
        let sniff = |b: Vec<u8>| looks_like_zip(&mut Cursor::new(b));
        assert!(!sniff(b"{\"receipt_id\": \"r\"}\n".to_vec()));
        assert!(!sniff(Vec::new()));
        let mut damaged = b"{\"receipt_id\": \"r\"}\n".to_vec();
        damaged.extend(end_record(b""));
        assert!(!sniff(damaged), "no central directory before the record");
        let mut padded = b"junk".to_vec();
        padded.extend(archive());
        padded.extend([0; 8]);
        assert!(!sniff(padded), "the comment must run to the end");
    }

    #[test]
    fn names_that_escape_are_refused() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../b",
            "a\\b",
            "C:x",
            "c:/x",
            "",
            "a\0b",
        ] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for ok in ["receipts.jsonl", "a/b", "x..y", ".hidden"] {
            assert!(unsafe_name(ok).is_none(), "{ok:?}");
        }
    }
}
