//! A streaming ZIP writer: deflated entries with data descriptors, so nothing is buffered or
//! rewritten and the output need not be seekable. Large entries are deflated in independent
//! 1 MiB chunks on several threads (each chunk ends on a sync flush, so the concatenation is
//! one valid deflate stream, as `pigz` does).

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress, Status};
use sha2::{Digest, Sha256};

use super::ExportError;

/// Uncompressed bytes per independently deflated chunk.
const CHUNK: usize = 1 << 20;

/// What the central directory needs to know about a finished entry.
#[derive(Debug)]
struct EntryRecord {
    name: String,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// DOS date and time of the entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DosTime {
    pub(crate) date: u16,
    pub(crate) time: u16,
}

impl DosTime {
    /// From a civil UTC date and time (years before 1980 are clamped to 1980-01-01).
    pub(crate) fn from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Self {
        if y < 1980 {
            return Self {
                date: (1 << 5) | 1,
                time: 0,
            };
        }
        let y = u16::try_from((y - 1980).min(127)).unwrap_or(127);
        let mo = u16::try_from(mo).unwrap_or(1);
        let d = u16::try_from(d).unwrap_or(1);
        let (h, mi, s) = (
            u16::try_from(h).unwrap_or(0),
            u16::try_from(mi).unwrap_or(0),
            u16::try_from(s).unwrap_or(0),
        );
        Self {
            date: (y << 9) | (mo << 5) | d,
            time: (h << 11) | (mi << 5) | (s / 2),
        }
    }
}

/// Counts the bytes written through it.
#[derive(Debug)]
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// The entry being written.
#[derive(Debug)]
struct Open {
    name: String,
    offset: u64,
    crc: crc32fast::Hasher,
    uncompressed: u64,
    compressed: u64,
    /// Uncompressed bytes waiting to be deflated.
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    sha: Sha256,
}

/// Writes a ZIP archive entry by entry.
#[derive(Debug)]
pub(crate) struct ZipStreamWriter<W: Write> {
    out: Counting<W>,
    entries: Vec<EntryRecord>,
    open: Option<Open>,
    level: Compression,
    threads: usize,
    time: DosTime,
}

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Deflates `input` as one piece of a raw deflate stream: ends on a sync flush (byte-aligned,
/// non-final) unless `last`, where the stream is finished.
fn deflate_piece(level: Compression, input: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    let mut out = Vec::with_capacity(input.len() / 2 + 4096);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(8192));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let rest = input.get(consumed..).unwrap_or_default();
        let status = c
            .compress_vec(rest, &mut out, flush)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let all_in = usize::try_from(c.total_in()).is_ok_and(|n| n == input.len());
        match status {
            Status::StreamEnd => break,
            _ if !last && all_in && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    Ok(out)
}

impl<W: Write> ZipStreamWriter<W> {
    pub(crate) fn new(inner: W, level: u32, threads: usize, time: DosTime) -> Self {
        Self {
            out: Counting { inner, written: 0 },
            entries: Vec::new(),
            open: None,
            level: Compression::new(level.min(9)),
            threads: threads.max(1),
            time,
        }
    }

    /// Starts an entry (finishing the open one, if any).
    pub(crate) fn start(&mut self, name: &str) -> Result<(), ExportError> {
        self.end()?;
        let offset = self.out.written;
        let mut h = Vec::with_capacity(30 + name.len());
        h.extend_from_slice(&le32(0x0403_4b50));
        h.extend_from_slice(&le16(20)); // version needed: 2.0 (deflate)
        h.extend_from_slice(&le16(0x0008)); // sizes and CRC follow in a data descriptor
        h.extend_from_slice(&le16(8)); // deflate
        h.extend_from_slice(&le16(self.time.time));
        h.extend_from_slice(&le16(self.time.date));
        h.extend_from_slice(&[0; 12]); // crc, compressed, uncompressed: in the descriptor
        h.extend_from_slice(&le16(name_len(name)?));
        h.extend_from_slice(&le16(0));
        h.extend_from_slice(name.as_bytes());
        self.out.put(&h)?;
        self.open = Some(Open {
            name: name.to_owned(),
            offset,
            crc: crc32fast::Hasher::new(),
            uncompressed: 0,
            compressed: 0,
            pending: Vec::new(),
            current: Vec::with_capacity(CHUNK),
            sha: Sha256::new(),
        });
        Ok(())
    }

    /// Appends bytes to the open entry.
    pub(crate) fn write(&mut self, mut data: &[u8]) -> Result<(), ExportError> {
        while !data.is_empty() {
            let open = self.open.as_mut().ok_or(ExportError::NoOpenEntry)?;
            let room = CHUNK - open.current.len();
            let (now, later) = data.split_at(data.len().min(room));
            open.current.extend_from_slice(now);
            open.uncompressed += now.len() as u64;
            if open.current.len() >= CHUNK {
                let full = std::mem::replace(&mut open.current, Vec::with_capacity(CHUNK));
                open.pending.push(full);
                if open.pending.len() >= self.threads {
                    self.flush_pending(false)?;
                }
            }
            data = later;
        }
        Ok(())
    }

    /// Deflates the pending chunks in parallel (while this thread feeds them to the CRC and the
    /// entry's SHA-256) and writes them in order; with `last`, the current chunk too, ending the
    /// deflate stream.
    fn flush_pending(&mut self, last: bool) -> Result<(), ExportError> {
        let open = self.open.as_mut().ok_or(ExportError::NoOpenEntry)?;
        let mut pieces = std::mem::take(&mut open.pending);
        if last {
            pieces.push(std::mem::take(&mut open.current));
        }
        let n = pieces.len();
        let level = self.level;
        let crc = &mut open.crc;
        let sha = &mut open.sha;
        let outputs: Vec<io::Result<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = pieces
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, p)| s.spawn(move || deflate_piece(level, p, last && i + 1 == n)))
                .collect();
            for p in &pieces {
                crc.update(p);
                sha.update(p);
            }
            let mut outs = Vec::with_capacity(n);
            if let Some(first) = pieces.first() {
                outs.push(deflate_piece(level, first, last && n == 1));
            }
            for h in handles {
                // A worker only panics on a bug; re-raise it rather than write a broken entry.
                outs.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            outs
        });
        for o in outputs {
            let o = o?;
            self.out.put(&o)?;
            if let Some(open) = self.open.as_mut() {
                open.compressed += o.len() as u64;
            }
        }
        Ok(())
    }

    /// Finishes the open entry: rest of the deflate stream, then its data descriptor. Returns
    /// the entry's SHA-256 and uncompressed size.
    pub(crate) fn end(&mut self) -> Result<Option<([u8; 32], u64)>, ExportError> {
        if self.open.is_none() {
            return Ok(None);
        }
        self.flush_pending(true)?;
        let Some(open) = self.open.take() else {
            return Ok(None);
        };
        let digest: [u8; 32] = open.sha.finalize().into();
        let crc = open.crc.finalize();
        let compressed = too_big(&open.name, open.compressed)?;
        let uncompressed = too_big(&open.name, open.uncompressed)?;
        too_big(&open.name, open.offset)?;
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&le32(0x0807_4b50));
        d.extend_from_slice(&le32(crc));
        d.extend_from_slice(&le32(compressed));
        d.extend_from_slice(&le32(uncompressed));
        self.out.put(&d)?;
        self.entries.push(EntryRecord {
            name: open.name,
            crc,
            compressed: open.compressed,
            uncompressed: open.uncompressed,
            offset: open.offset,
        });
        Ok(Some((digest, open.uncompressed)))
    }

    /// Writes the central directory and returns the output.
    pub(crate) fn finish(mut self) -> Result<W, ExportError> {
        self.end()?;
        let cd_start = self.out.written;
        for e in &self.entries {
            let mut h = Vec::with_capacity(46 + e.name.len());
            h.extend_from_slice(&le32(0x0201_4b50));
            h.extend_from_slice(&le16((3 << 8) | 20)); // made by: Unix, 2.0
            h.extend_from_slice(&le16(20));
            h.extend_from_slice(&le16(0x0008));
            h.extend_from_slice(&le16(8));
            h.extend_from_slice(&le16(self.time.time));
            h.extend_from_slice(&le16(self.time.date));
            h.extend_from_slice(&le32(e.crc));
            h.extend_from_slice(&le32(too_big(&e.name, e.compressed)?));
            h.extend_from_slice(&le32(too_big(&e.name, e.uncompressed)?));
            h.extend_from_slice(&le16(name_len(&e.name)?));
            h.extend_from_slice(&[0; 8]); // extra, comment, disk number, internal attributes
            h.extend_from_slice(&le32(0o100_644 << 16)); // a regular file, rw-r--r--
            h.extend_from_slice(&le32(too_big(&e.name, e.offset)?));
            h.extend_from_slice(e.name.as_bytes());
            self.out.put(&h)?;
        }
        let cd_size = self.out.written - cd_start;
        let count = u16::try_from(self.entries.len()).map_err(|_| ExportError::TooLarge {
            member: "central directory".into(),
            bytes: self.entries.len() as u64,
        })?;
        let mut e = Vec::with_capacity(22);
        e.extend_from_slice(&le32(0x0605_4b50));
        e.extend_from_slice(&[0; 4]);
        e.extend_from_slice(&le16(count));
        e.extend_from_slice(&le16(count));
        e.extend_from_slice(&le32(too_big("central directory", cd_size)?));
        e.extend_from_slice(&le32(too_big("central directory", cd_start)?));
        e.extend_from_slice(&le16(0));
        self.out.put(&e)?;
        self.out.inner.flush()?;
        Ok(self.out.inner)
    }
}

fn name_len(name: &str) -> Result<u16, ExportError> {
    u16::try_from(name.len()).map_err(|_| ExportError::TooLarge {
        member: name.chars().take(64).collect(),
        bytes: name.len() as u64,
    })
}

fn too_big(member: &str, v: u64) -> Result<u32, ExportError> {
    u32::try_from(v).map_err(|_| ExportError::TooLarge {
        member: member.to_owned(),
        bytes: v,
    })
}
