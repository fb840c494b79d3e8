//! Segments: how the SQLite store keeps receipts (schema version 3).
//!
//! One row of the `segments` table holds up to [`MAX_ENTRIES`] consecutive receipts of one
//! tenant: their JSONL lines in `lines` (joined by `\n`, so `SELECT CAST(lines AS TEXT) FROM
//! segments WHERE tenant = … ORDER BY first_seq` prints the tenant's JSONL), and everything else
//! a [`StoredEntry`] holds in `entries`, a compact binary record per receipt:
//!
//! | field | bytes |
//! |---|---|
//! | `receipt_hash` | 32 |
//! | timestamp, microseconds (i64, little-endian) | 8 |
//! | length of the line (u32 LE) | 4 |
//! | 1 and the 32-byte tag, or 0 | 1 or 33 |
//! | receipt id, trace id, session id: each a u32 LE length and UTF-8 bytes | 12 + lengths |
//!
//! Writing a receipt therefore costs one row in the id index, one segment row per 128 receipts,
//! and trace and session rows written 64 segments at a time, instead of one row in each of five
//! indexes: appends are dominated by the bytes of the lines, written once per commit.

use crate::receipt::{ReceiptId, SessionId, TenantId, TraceId};
use crate::store::{NewEntry, StoreError, StoredEntry};

/// Receipts per segment, at most. Reading one receipt decodes its segment, so this bounds the
/// cost of a point lookup; cursors of trace and session queries keep the slot in 8 bits.
pub(super) const MAX_ENTRIES: u32 = 128;
/// A segment is closed once its lines reach this many bytes.
const MAX_LINE_BYTES: usize = 128 * 1024;
/// Cursor encoding of trace and session pages: segment id × this + slot.
pub(super) const SLOTS: u64 = 256;

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

/// Refuses what a segment cannot hold: a line with a newline byte (lines are joined by `\n`;
/// a JSONL receipt never has one) or fields longer than 4 GiB.
pub(super) fn check(e: &NewEntry<'_>) -> Result<(), StoreError> {
    if e.line.contains(&b'\n') {
        return Err(corrupt(format!(
            "receipt {} has a newline byte in its line; a JSONL line cannot contain one",
            e.receipt_id
        )));
    }
    let long = |n: usize| u32::try_from(n).is_err();
    if long(e.line.len())
        || long(e.receipt_id.as_str().len())
        || long(e.trace_id.as_str().len())
        || long(e.session_id.as_str().len())
    {
        return Err(corrupt(format!(
            "receipt {} has a line or id longer than 4 GiB",
            e.receipt_id
        )));
    }
    Ok(())
}

/// A segment being filled inside one write transaction.
#[derive(Debug)]
pub(super) struct Builder {
    /// The row id it will be stored under (assigned when it is started).
    pub(super) id: i64,
    pub(super) tenant: TenantId,
    pub(super) first_seq: u64,
    pub(super) count: u32,
    pub(super) ts_min: i64,
    pub(super) ts_max: i64,
    pub(super) entries: Vec<u8>,
    pub(super) lines: Vec<u8>,
}

impl Builder {
    pub(super) fn new(id: i64, tenant: TenantId, first_seq: u64) -> Self {
        Self {
            id,
            tenant,
            first_seq,
            count: 0,
            ts_min: i64::MAX,
            ts_max: i64::MIN,
            entries: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Empties this builder for a new segment, keeping its buffers.
    pub(super) fn reset(&mut self, id: i64, tenant: TenantId, first_seq: u64) {
        self.id = id;
        self.tenant = tenant;
        self.first_seq = first_seq;
        self.count = 0;
        self.ts_min = i64::MAX;
        self.ts_max = i64::MIN;
        self.entries.clear();
        self.lines.clear();
    }

    /// Whether `e` continues this segment (same tenant, next sequence number, room left).
    pub(super) fn takes(&self, e: &NewEntry<'_>) -> bool {
        self.count < MAX_ENTRIES
            && self.lines.len() < MAX_LINE_BYTES
            && *e.tenant == self.tenant
            && e.seq == self.first_seq + u64::from(self.count)
    }

    /// Adds `e` as the next slot (after [`check`] accepted it); returns the slot.
    pub(super) fn push(&mut self, e: &NewEntry<'_>) -> Result<u32, StoreError> {
        let line_len = u32::try_from(e.line.len())
            .map_err(|_| corrupt("a receipt line longer than 4 GiB cannot be stored"))?;
        let slot = self.count;
        self.entries.extend_from_slice(&e.receipt_hash);
        self.entries
            .extend_from_slice(&e.timestamp_micros.to_le_bytes());
        self.entries.extend_from_slice(&line_len.to_le_bytes());
        match &e.tag {
            Some(t) => {
                self.entries.push(1);
                self.entries.extend_from_slice(t);
            }
            None => self.entries.push(0),
        }
        for s in [
            e.receipt_id.as_str(),
            e.trace_id.as_str(),
            e.session_id.as_str(),
        ] {
            let n = u32::try_from(s.len())
                .map_err(|_| corrupt("an id longer than 4 GiB cannot be stored"))?;
            self.entries.extend_from_slice(&n.to_le_bytes());
            self.entries.extend_from_slice(s.as_bytes());
        }
        if slot > 0 {
            self.lines.push(b'\n');
        }
        self.lines.extend_from_slice(e.line);
        self.ts_min = self.ts_min.min(e.timestamp_micros);
        self.ts_max = self.ts_max.max(e.timestamp_micros);
        self.count += 1;
        Ok(slot)
    }

    /// The entries as stored (for reads inside the transaction that is filling it).
    pub(super) fn view(&self) -> Segment<'_> {
        Segment {
            id: self.id,
            tenant: self.tenant.as_str(),
            first_seq: self.first_seq,
            count: self.count,
            entries: &self.entries,
            lines: &self.lines,
        }
    }
}

/// A stored segment, borrowed from its row.
#[derive(Clone, Copy, Debug)]
pub(super) struct Segment<'a> {
    pub(super) id: i64,
    pub(super) tenant: &'a str,
    pub(super) first_seq: u64,
    pub(super) count: u32,
    pub(super) entries: &'a [u8],
    pub(super) lines: &'a [u8],
}

/// One decoded record, borrowing its strings and line from the segment.
#[derive(Debug)]
pub(super) struct Record<'a> {
    pub(super) slot: u32,
    pub(super) seq: u64,
    pub(super) receipt_hash: [u8; 32],
    pub(super) timestamp_micros: i64,
    pub(super) tag: Option<[u8; 32]>,
    pub(super) receipt_id: &'a str,
    pub(super) trace_id: &'a str,
    pub(super) session_id: &'a str,
    pub(super) line: &'a [u8],
}

impl Record<'_> {
    pub(super) fn to_entry(&self, tenant: &str) -> StoredEntry {
        StoredEntry {
            tenant: TenantId::new(tenant),
            seq: self.seq,
            receipt_id: ReceiptId::new(self.receipt_id),
            receipt_hash: self.receipt_hash,
            timestamp_micros: self.timestamp_micros,
            trace_id: TraceId::new(self.trace_id),
            session_id: SessionId::new(self.session_id),
            line: self.line.to_vec(),
            tag: self.tag,
        }
    }
}

impl<'a> Segment<'a> {
    /// Its records in slot order; a damaged segment yields one error and stops.
    pub(super) fn records(self) -> Records<'a> {
        Records {
            seg: self,
            slot: 0,
            at: 0,
            line_at: 0,
            failed: false,
            with_lines: true,
        }
    }

    /// The trace and session ids of its records, in slot order, decoding `entries` only (the
    /// lines may be left out): for indexing, and for scanning segments not indexed yet.
    pub(super) fn keys(self) -> Result<Vec<[&'a str; 2]>, StoreError> {
        let records = Records {
            with_lines: false,
            ..self.records()
        };
        records
            .map(|r| r.map(|r| [r.trace_id, r.session_id]))
            .collect()
    }

    /// The record in `slot`.
    pub(super) fn record(self, slot: u32) -> Result<Record<'a>, StoreError> {
        self.records()
            .nth(slot as usize)
            .unwrap_or_else(|| Err(self.damaged("a receipt id points past its segment's end")))
    }

    fn damaged(&self, what: &str) -> StoreError {
        corrupt(format!(
            "segment {} (tenant {:?}, from sequence {}): {what}",
            self.id, self.tenant, self.first_seq
        ))
    }
}

/// Iterator over a segment's records.
#[derive(Debug)]
pub(super) struct Records<'a> {
    seg: Segment<'a>,
    slot: u32,
    at: usize,
    line_at: usize,
    failed: bool,
    /// Whether lines are sliced out (records decoded without them have empty lines).
    with_lines: bool,
}

impl<'a> Records<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let bytes = self.seg.entries.get(self.at..end)?;
        self.at = end;
        Some(bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }

    fn text(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }

    fn decode(&mut self) -> Option<Record<'a>> {
        let receipt_hash: [u8; 32] = self.take(32)?.try_into().ok()?;
        let ts: [u8; 8] = self.take(8)?.try_into().ok()?;
        let line_len = self.u32()? as usize;
        let tag = match self.take(1)? {
            [0] => None,
            [1] => Some(self.take(32)?.try_into().ok()?),
            _ => return None,
        };
        let receipt_id = self.text()?;
        let trace_id = self.text()?;
        let session_id = self.text()?;
        let line: &'a [u8] = if self.with_lines {
            let line_end = self.line_at.checked_add(line_len)?;
            let line = self.seg.lines.get(self.line_at..line_end)?;
            let last = self.slot + 1 == self.seg.count;
            // Lines are joined by one `\n`.
            match self.seg.lines.get(line_end) {
                None if last => {}
                Some(b'\n') if !last => {}
                _ => return None,
            }
            self.line_at = line_end + 1;
            line
        } else {
            &[]
        };
        let slot = self.slot;
        self.slot += 1;
        Some(Record {
            slot,
            seq: self.seg.first_seq.checked_add(u64::from(slot))?,
            receipt_hash,
            timestamp_micros: i64::from_le_bytes(ts),
            tag,
            receipt_id,
            trace_id,
            session_id,
            line,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.slot >= self.seg.count {
            if !self.failed && self.slot == self.seg.count && self.at != self.seg.entries.len() {
                self.failed = true;
                return Some(Err(self.seg.damaged("bytes after its last record")));
            }
            return None;
        }
        match self.decode() {
            Some(r) => Some(Ok(r)),
            None => {
                self.failed = true;
                Some(Err(self
                    .seg
                    .damaged(&format!("record {} cannot be decoded", self.slot))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, line: &str, tag: bool) -> StoredEntry {
        StoredEntry {
            tenant: TenantId::new("t"),
            seq,
            receipt_id: ReceiptId::new(format!("id-{seq}")),
            receipt_hash: [seq as u8; 32],
            timestamp_micros: -5 + seq as i64,
            trace_id: TraceId::new(if seq.is_multiple_of(2) { "tr" } else { "" }),
            session_id: SessionId::new("séance"),
            line: line.as_bytes().to_vec(),
            tag: tag.then_some([9; 32]),
        }
    }

    #[test]
    fn records_round_trip_and_lines_read_as_jsonl() {
        let entries = [
            entry(7, "{\"a\":1}", false),
            entry(8, "", true),
            entry(9, "{\"b\":\"ü\"}", true),
        ];
        let mut b = Builder::new(3, TenantId::new("t"), 7);
        for e in &entries {
            assert!(b.takes(&e.as_new()));
            b.push(&e.as_new()).unwrap();
        }
        assert!(!b.takes(&entry(11, "{}", false).as_new()));
        assert_eq!(b.lines, b"{\"a\":1}\n\n{\"b\":\"\xc3\xbc\"}");
        assert_eq!((b.ts_min, b.ts_max), (2, 4));
        let seg = b.view();
        let back: Vec<StoredEntry> = seg.records().map(|r| r.unwrap().to_entry("t")).collect();
        assert_eq!(back, entries);
        assert_eq!(seg.record(1).unwrap().to_entry("t"), entries[1]);
        let without_lines = Segment { lines: &[], ..seg };
        assert_eq!(
            without_lines.keys().unwrap(),
            [["", "séance"], ["tr", "séance"], ["", "séance"]]
        );
        assert!(without_lines.records().any(|r| r.is_err()));
        assert!(seg.record(3).is_err());
    }

    #[test]
    fn damaged_segments_are_errors_never_panics() {
        let mut b = Builder::new(1, TenantId::new("t"), 0);
        for i in 0..3 {
            b.push(&entry(i, "{\"x\":true}", i == 1).as_new()).unwrap();
        }
        let good = b.view();
        // Every truncation and every single-byte change of either blob, and wrong counts.
        for cut in 0..good.entries.len() {
            let seg = Segment {
                entries: &good.entries[..cut],
                ..good
            };
            assert!(seg.records().any(|r| r.is_err()), "cut {cut}");
        }
        for cut in 0..good.lines.len() {
            let seg = Segment {
                lines: &good.lines[..cut],
                ..good
            };
            assert!(seg.records().any(|r| r.is_err()), "line cut {cut}");
        }
        for i in 0..good.entries.len() {
            let mut bytes = good.entries.to_vec();
            bytes[i] ^= 0xff;
            let seg = Segment {
                entries: &bytes,
                ..good
            };
            let _ = seg.records().count();
        }
        for count in [0, 2, 4, u32::MAX] {
            let seg = Segment { count, ..good };
            assert!(
                seg.records().any(|r| r.is_err()),
                "count {count} must not decode cleanly"
            );
        }
        assert!(
            check(&entry(3, "a\nb", false).as_new()).is_err(),
            "a newline inside a line is refused"
        );
    }
}
