//! Evidence bundles: the v1 ZIP layout of `ai-audit-trail` 0.4.7 (formats §7), written as a
//! stream by [`EvidenceWriter`] and read as hostile input by [`EvidenceReader`].
//!
//! The writer takes receipts from an iterator — sealed receipts or exact JSONL lines, in chain
//! (store) order — and never holds more than a few MiB, whatever the bundle's size:
//! `receipts.jsonl` is hashed, counted and deflated (in parallel, 1 MiB chunks) as it streams,
//! and `chain_metadata.json`, `public_key.hex`, our `verify.py`, `VERIFYING.md`, the optional
//! `anchor.json` of a partial export and finally the signed `manifest.json` follow it.
//!
//! ```
//! use audit_runtime::bundle::{EvidenceWriter, ExportMeta};
//! use audit_runtime::{verify, MemoryLedger, Receipt, SigningKey, TenantId};
//!
//! let key = SigningKey::generate()?;
//! let mut ledger = MemoryLedger::new();
//! for _ in 0..3 {
//!     ledger.append(Receipt::new("acme"), &key)?;
//! }
//! let mut w = EvidenceWriter::new(Vec::new(), &key, ExportMeta::new("acme"));
//! for r in ledger.receipts(&TenantId::new("acme")) {
//!     w.push(r)?;
//! }
//! let done = w.finish()?;
//! assert_eq!(done.receipts, 3);
//!
//! let opts = verify::VerifyOptions::pinned(key.verifying_key());
//! let report = verify::verify_bundle(std::io::Cursor::new(done.output), &opts)?;
//! assert!(report.is_pass());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]
#![deny(clippy::too_many_lines)]

mod manifest;
mod pyjson;
mod reader;
mod zipr;
mod zipw;

use std::io::Write;

use crate::canonical;
use crate::json::{self, Object, Value};
use crate::keys::VerifyingKey;
use crate::receipt::{TenantId, Timestamp};
use crate::seal::{SealError, SealedReceipt, Signer};

pub use manifest::Manifest;
pub use reader::EvidenceReader;
pub use zipr::{MemberReader, looks_like_zip};

/// `receipts.jsonl`: one receipt per line, chain order, each line ending in `\n`.
pub const RECEIPTS: &str = "receipts.jsonl";
/// `chain_metadata.json`: count, first and last receipt, tenant, key fingerprint.
pub const CHAIN_METADATA: &str = "chain_metadata.json";
/// `public_key.hex`: the signer's Ed25519 public key, 64 lowercase hex characters.
pub const PUBLIC_KEY: &str = "public_key.hex";
/// `verify.py`: the standalone verifier (stdlib + PyNaCl).
pub const VERIFY_PY: &str = "verify.py";
/// `VERIFYING.md`: how an auditor checks the bundle by hand.
pub const VERIFYING_MD: &str = "VERIFYING.md";
/// `anchor.json`: where a partial export starts (sequence number and `prev_receipt_hash`).
pub const ANCHOR: &str = "anchor.json";
/// `checkpoint.txt`: the signed checkpoint (C2SP `tlog-checkpoint` note) of exactly the tree
/// that ends with the bundle's last receipt.
pub const CHECKPOINT: &str = "checkpoint.txt";
/// `tree_prefix.json`: for a partial export, what ties its anchor to the checkpoint (see
/// [`crate::note::TreePrefix`]).
pub const TREE_PREFIX: &str = "tree_prefix.json";
/// `manifest.json`: the checksums of every other member, signed.
pub const MANIFEST: &str = "manifest.json";

/// The source of the `verify.py` we put in every bundle.
pub const VERIFY_PY_SOURCE: &str = include_str!("verify.py");
/// The `VERIFYING.md` we put in every bundle.
pub const VERIFYING_MD_SOURCE: &str = include_str!("VERIFYING.md");

/// The default deflate level of [`EvidenceWriter`]: fast, and about 3:1 on receipts.
pub const DEFAULT_LEVEL: u32 = 1;

/// Why a bundle could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The input is not a ZIP archive.
    #[error("not a ZIP archive (too short to hold one)")]
    NotZip,
    /// The archive's structure is broken.
    #[error("the ZIP archive is malformed: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// More entries than a bundle can have.
    #[error("the archive declares {count} entries; a bundle has at most {max}")]
    TooManyEntries {
        /// Entries declared.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A member (or the archive) inflates past a limit: a ZIP bomb, or a bundle larger than the
    /// configured limits.
    #[error(
        "{member} inflates past {limit} bytes (the size limit, or the inflated-to-compressed ratio limit: a ZIP bomb, or very repetitive text; `ai-audit verify --max-inflate-ratio` raises the ratio); refusing it"
    )]
    LimitExceeded {
        /// The member.
        member: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A member name that could escape an extraction directory.
    #[error("member name {name:?} is refused: {why}")]
    UnsafeName {
        /// The name (lossy, shortened).
        name: String,
        /// Why.
        why: &'static str,
    },
    /// A symbolic link entry.
    #[error("member {name:?} is a symbolic link; bundles hold regular files only")]
    Symlink {
        /// The name.
        name: String,
    },
    /// Two entries with one name (tools disagree on which one they read).
    #[error("member {name:?} appears more than once; tools disagree on which copy they read")]
    DuplicateMember {
        /// The name.
        name: String,
    },
    /// A local header names another file than its central-directory entry.
    #[error("member {name:?}: its local header carries another name than the central directory")]
    NameMismatch {
        /// The central-directory name.
        name: String,
    },
    /// A feature a bundle never uses.
    #[error("member {name:?}: {what} is not supported")]
    Unsupported {
        /// The name.
        name: String,
        /// What.
        what: &'static str,
    },
    /// A member's data is damaged.
    #[error("member {name:?} is corrupt: {what}")]
    Corrupt {
        /// The name.
        name: String,
        /// What.
        what: &'static str,
    },
    /// A member that was asked for is not in the archive.
    #[error("the archive has no member {name:?}")]
    MissingMember {
        /// The name.
        name: String,
    },
    /// `manifest.json` is not the JSON object a manifest is.
    #[error("manifest.json is invalid: {what}")]
    ManifestInvalid {
        /// What is wrong.
        what: &'static str,
    },
    /// A line given to [`EvidenceWriter::push_line`] is not one receipt line (caller's fault).
    #[error("line {index} given to the exporter is not one receipt line: {what}")]
    BadLine {
        /// 0-based position in the export.
        index: u64,
        /// What is wrong.
        what: String,
    },
    /// A receipt of another tenant was pushed into a one-tenant export (caller's fault).
    #[error(
        "receipt {receipt_id} belongs to tenant {receipt_tenant:?}, not to the exported tenant {tenant:?}"
    )]
    ForeignReceipt {
        /// The exported tenant.
        tenant: String,
        /// The receipt.
        receipt_id: String,
        /// Its tenant.
        receipt_tenant: String,
    },
    /// Bytes written to a closed entry (a bug in this module).
    #[error("internal error: no ZIP entry is open")]
    NoOpenEntry,
    /// A member passed 4 GiB, which needs ZIP64 (not written yet).
    #[error(
        "{member} reached {bytes} bytes; members above 4 GiB need ZIP64, which the writer does not produce yet"
    )]
    TooLarge {
        /// The member.
        member: String,
        /// Its size.
        bytes: u64,
    },
    /// The manifest could not be signed.
    #[error("the manifest could not be signed")]
    Sign(#[from] SealError),
    /// Reading or writing failed.
    #[error("I/O error on the bundle")]
    Io(#[from] std::io::Error),
}

impl ExportError {
    /// Whether retrying may succeed (I/O and signer failures only).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io(_) => true,
            Self::Sign(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// Hard limits for reading a bundle. The defaults fit a 10-million-receipt bundle.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReadLimits {
    /// Entries in the archive.
    pub max_entries: usize,
    /// Size of the central directory.
    pub max_central_directory: u64,
    /// Inflated bytes of one member.
    pub max_member_bytes: u64,
    /// Inflated bytes of all members together.
    pub max_total_bytes: u64,
    /// Inflated bytes per compressed byte (deflate reaches ~1032:1 on zeros; receipts ~3-6:1).
    pub max_ratio: u64,
    /// Inflated bytes every member may reach regardless of the ratio.
    pub ratio_slack: u64,
    /// Inflated bytes of the small members read whole (manifest, metadata, key, anchor).
    pub max_small_member: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_entries: 64,
            max_central_directory: 1 << 20,
            max_member_bytes: 16 << 30,
            max_total_bytes: 17 << 30,
            max_ratio: 100,
            ratio_slack: 1 << 20,
            max_small_member: 1 << 20,
        }
    }
}

/// Where a partial export starts: the sequence number of its first receipt and that receipt's
/// `prev_receipt_hash` (the `receipt_hash` of the receipt before it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// 0-based position of the first exported receipt in its tenant's chain.
    pub sequence: u64,
    /// The first exported receipt's `prev_receipt_hash`.
    pub prev_receipt_hash: String,
    /// The tenant `anchor.json` names (`None` if it names none); the verifier compares it with
    /// the receipts' tenant. Set by [`Anchor::parse`]; an export writes its own tenant
    /// ([`ExportMeta`]) whatever this holds.
    pub tenant: Option<TenantId>,
}

impl Anchor {
    /// An anchor.
    #[must_use]
    pub fn new(sequence: u64, prev_receipt_hash: impl Into<String>) -> Self {
        Self {
            sequence,
            prev_receipt_hash: prev_receipt_hash.into(),
            tenant: None,
        }
    }

    /// Parses `anchor.json`.
    ///
    /// # Errors
    /// [`ExportError::Malformed`] when it is not `{"prev_receipt_hash": str, "sequence": int, …}`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ExportError> {
        let bad = || ExportError::Malformed {
            what: "anchor.json is not {\"prev_receipt_hash\": hex, \"sequence\": n}",
        };
        let Ok(Value::Object(o)) = json::parse(bytes) else {
            return Err(bad());
        };
        let sequence = match o.get("sequence") {
            Some(Value::Number(n)) => n.as_int().and_then(|i| u64::try_from(i).ok()),
            _ => None,
        }
        .ok_or_else(bad)?;
        let prev = match o.get("prev_receipt_hash") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(bad()),
        };
        let tenant = match o.get("tenant_id") {
            None => None,
            Some(Value::String(t)) => Some(TenantId::new(t.as_str())),
            Some(_) => {
                return Err(ExportError::Malformed {
                    what: "anchor.json's tenant_id is not a string",
                });
            }
        };
        Ok(Self {
            tenant,
            ..Self::new(sequence, prev)
        })
    }

    fn to_json(&self, tenant: &TenantId) -> Vec<u8> {
        let v = Value::from(
            Object::new()
                .with("prev_receipt_hash", self.prev_receipt_hash.as_str())
                .with("sequence", self.sequence)
                .with("tenant_id", tenant.as_str()),
        );
        let mut out = Vec::new();
        pyjson::write_orjson_indented(&v, &mut out);
        out
    }
}

/// What an export is about, and how to write it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExportMeta {
    /// The tenant whose chain is exported.
    pub tenant: TenantId,
    /// `epoch_id` in `chain_metadata.json`.
    pub epoch_id: String,
    /// For a partial export: where it starts. `None` means the export starts at genesis.
    pub anchor: Option<Anchor>,
    /// `exported_at` / `created_at`, and the entries' modification time.
    pub exported_at: Timestamp,
    /// Extra `chain_metadata.json` keys, merged last (as the Python exporter's `metadata`).
    pub metadata: Object,
    /// Deflate level, 0-9 ([`DEFAULT_LEVEL`]).
    pub level: u32,
    /// Deflate threads (0 = one per core).
    pub threads: usize,
    /// Further members (name, bytes), written before the manifest and listed in it — e.g.
    /// [`CHECKPOINT`] and [`TREE_PREFIX`]. The Python verifier ignores members it does not know.
    pub members: Vec<(String, Vec<u8>)>,
}

impl ExportMeta {
    /// An export of `tenant` from genesis, stamped now.
    #[must_use]
    pub fn new(tenant: impl Into<TenantId>) -> Self {
        let tenant = tenant.into();
        Self {
            epoch_id: format!("{}-epoch-1", tenant.as_str()),
            tenant,
            anchor: None,
            exported_at: Timestamp::now_utc(),
            metadata: Object::new(),
            level: DEFAULT_LEVEL,
            threads: 0,
            members: Vec::new(),
        }
    }

    /// Adds a member (written before the manifest and listed in it).
    #[must_use]
    pub fn with_member(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.members.push((name.into(), bytes));
        self
    }

    /// Sets the anchor of a partial export.
    #[must_use]
    pub fn with_anchor(mut self, anchor: Anchor) -> Self {
        self.anchor = Some(anchor);
        self
    }

    /// Sets the export time (for deterministic output).
    #[must_use]
    pub fn with_exported_at(mut self, at: Timestamp) -> Self {
        self.exported_at = at;
        self
    }

    /// Sets `epoch_id`.
    #[must_use]
    pub fn with_epoch_id(mut self, epoch: impl Into<String>) -> Self {
        self.epoch_id = epoch.into();
        self
    }

    /// Sets the deflate level (0-9).
    #[must_use]
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = level;
        self
    }
}

/// The result of [`EvidenceWriter::finish`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ExportSummary<W> {
    /// The output the bundle was written to.
    pub output: W,
    /// Receipts exported.
    pub receipts: u64,
    /// SHA-256 of `receipts.jsonl`, hex.
    pub receipts_sha256: String,
    /// The signed `manifest.json` bytes.
    pub manifest: Vec<u8>,
}

/// First or last receipt: id and `isoformat()` timestamp.
#[derive(Debug, Clone)]
struct Ends {
    id: String,
    timestamp: String,
}

/// Streams a v1 evidence bundle.
#[derive(Debug)]
pub struct EvidenceWriter<'k, W: Write> {
    zip: zipw::ZipStreamWriter<W>,
    signer: &'k dyn Signer,
    meta: ExportMeta,
    count: u64,
    first: Option<Ends>,
    last: Option<Ends>,
    /// The last line given to `push_line`; parsed once, at the end.
    last_line: Vec<u8>,
    line: Vec<u8>,
    started: bool,
}

impl<'k, W: Write> EvidenceWriter<'k, W> {
    /// A writer of one tenant's bundle into `out`, whose manifest `signer` signs.
    pub fn new(out: W, signer: &'k dyn Signer, meta: ExportMeta) -> Self {
        let threads = if meta.threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            meta.threads
        };
        let t = meta.exported_at;
        let micros = t.to_unix_micros();
        let secs = micros.div_euclid(1_000_000);
        let (y, mo, d) = civil(secs.div_euclid(86_400));
        let sod = u32::try_from(secs.rem_euclid(86_400)).unwrap_or(0);
        let time = zipw::DosTime::from_civil(y, mo, d, sod / 3600, sod % 3600 / 60, sod % 60);
        Self {
            zip: zipw::ZipStreamWriter::new(out, meta.level, threads, time),
            signer,
            meta,
            count: 0,
            first: None,
            last: None,
            last_line: Vec::new(),
            line: Vec::with_capacity(2048),
            started: false,
        }
    }

    fn begin(&mut self) -> Result<(), ExportError> {
        if !self.started {
            self.zip.start(RECEIPTS)?;
            self.started = true;
        }
        Ok(())
    }

    /// Appends a sealed receipt (the next one in chain order).
    ///
    /// # Errors
    /// [`ExportError::ForeignReceipt`] for a receipt of another tenant; [`ExportError::Io`].
    pub fn push(&mut self, r: &SealedReceipt) -> Result<(), ExportError> {
        self.begin()?;
        let rc = r.receipt();
        if rc.tenant_id != self.meta.tenant {
            return Err(ExportError::ForeignReceipt {
                tenant: self.meta.tenant.as_str().to_owned(),
                receipt_id: rc.receipt_id.as_str().to_owned(),
                receipt_tenant: rc.tenant_id.as_str().to_owned(),
            });
        }
        let ends = Ends {
            id: rc.receipt_id.as_str().to_owned(),
            timestamp: rc.timestamp.to_isoformat(),
        };
        if self.first.is_none() {
            self.first = Some(ends.clone());
        }
        self.last = Some(ends);
        self.last_line.clear();
        self.line.clear();
        r.write_jsonl_line(&mut self.line);
        self.line.push(b'\n');
        self.zip.write(&self.line)?;
        self.count += 1;
        Ok(())
    }

    /// Appends one exact JSONL line (without its `\n`), as a store keeps it. The line is written
    /// byte for byte; only the first and the last line are parsed (for `chain_metadata.json`).
    ///
    /// # Errors
    /// [`ExportError::BadLine`] when the line holds a `\n` or the first line is not a receipt;
    /// [`ExportError::Io`].
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), ExportError> {
        self.begin()?;
        if line.contains(&b'\n') {
            return Err(ExportError::BadLine {
                index: self.count,
                what: "it contains a newline byte".into(),
            });
        }
        if self.count == 0 {
            self.first = Some(self.ends_of(line, 0)?);
        }
        self.last = None;
        self.last_line.clear();
        self.last_line.extend_from_slice(line);
        self.zip.write(line)?;
        self.zip.write(b"\n")?;
        self.count += 1;
        Ok(())
    }

    fn ends_of(&self, line: &[u8], index: u64) -> Result<Ends, ExportError> {
        let parsed = canonical::parse_line(line).map_err(|e| ExportError::BadLine {
            index,
            what: e.to_string(),
        })?;
        let r = &parsed.receipt;
        if r.tenant_id != self.meta.tenant {
            return Err(ExportError::ForeignReceipt {
                tenant: self.meta.tenant.as_str().to_owned(),
                receipt_id: r.receipt_id.as_str().to_owned(),
                receipt_tenant: r.tenant_id.as_str().to_owned(),
            });
        }
        Ok(Ends {
            id: r.receipt_id.as_str().to_owned(),
            timestamp: r.timestamp.to_isoformat(),
        })
    }

    /// Adds a member, written before the manifest and listed in it, as
    /// [`ExportMeta::with_member`] does; for members known only once the receipts are written
    /// (a checkpoint signed over exactly them).
    pub fn add_member(&mut self, name: impl Into<String>, bytes: Vec<u8>) {
        self.meta.members.push((name.into(), bytes));
    }

    fn member(&mut self, name: &str, bytes: &[u8], sums: &mut Object) -> Result<(), ExportError> {
        self.zip.start(name)?;
        self.zip.write(bytes)?;
        if let Some((sha, _)) = self.zip.end()? {
            sums.insert(name, hex::encode(sha));
        }
        Ok(())
    }

    /// Writes the remaining members and the signed manifest, and returns the output.
    ///
    /// # Errors
    /// [`ExportError::BadLine`] when the last pushed line is not a receipt, [`ExportError::Sign`]
    /// when the signer fails, [`ExportError::Io`].
    pub fn finish(mut self) -> Result<ExportSummary<W>, ExportError> {
        self.begin()?;
        if self.last.is_none() && !self.last_line.is_empty() {
            let line = std::mem::take(&mut self.last_line);
            self.last = Some(self.ends_of(&line, self.count.saturating_sub(1))?);
        }
        let mut sums = Object::new();
        let receipts_sha = match self.zip.end()? {
            Some((sha, _)) => hex::encode(sha),
            None => canonical::sha256_hex(b""),
        };
        sums.insert(RECEIPTS, receipts_sha.as_str());
        let key: VerifyingKey = self.signer.verifying_key();
        let key_hex = key.to_hex();
        let exported_at = self.meta.exported_at.to_isoformat();
        let end = |e: &Option<Ends>, ts: bool| -> Value {
            e.as_ref().map_or(Value::Null, |e| {
                Value::from(if ts {
                    e.timestamp.as_str()
                } else {
                    e.id.as_str()
                })
            })
        };
        let mut meta = Object::new()
            .with("tenant_id", self.meta.tenant.as_str())
            .with("epoch_id", self.meta.epoch_id.as_str())
            .with("total_receipts", self.count)
            .with("first_receipt_id", end(&self.first, false))
            .with("last_receipt_id", end(&self.last, false))
            .with("first_timestamp", end(&self.first, true))
            .with("last_timestamp", end(&self.last, true))
            .with("exported_at", exported_at.as_str())
            .with("key_fingerprint", key.fingerprint());
        for (k, v) in self.meta.metadata.iter() {
            meta.insert(k, v.clone());
        }
        let mut meta_bytes = Vec::new();
        pyjson::write_orjson_indented(&Value::from(meta), &mut meta_bytes);
        self.member(CHAIN_METADATA, &meta_bytes, &mut sums)?;
        self.member(PUBLIC_KEY, key_hex.as_bytes(), &mut sums)?;
        self.member(VERIFY_PY, VERIFY_PY_SOURCE.as_bytes(), &mut sums)?;
        self.member(VERIFYING_MD, VERIFYING_MD_SOURCE.as_bytes(), &mut sums)?;
        if let Some(anchor) = self.meta.anchor.clone() {
            let bytes = anchor.to_json(&self.meta.tenant);
            self.member(ANCHOR, &bytes, &mut sums)?;
        }
        for (name, bytes) in std::mem::take(&mut self.meta.members) {
            self.member(&name, &bytes, &mut sums)?;
        }
        let manifest = Manifest::new(sums, &key, &exported_at);
        let signature = self.signer.sign(&manifest.signing_bytes())?;
        let manifest = manifest.with_signature(&signature);
        let manifest_bytes = manifest.to_file_bytes();
        self.zip.start(MANIFEST)?;
        self.zip.write(&manifest_bytes)?;
        self.zip.end()?;
        let output = self.zip.finish()?;
        Ok(ExportSummary {
            output,
            receipts: self.count,
            receipts_sha256: receipts_sha,
            manifest: manifest_bytes,
        })
    }
}

/// (year, month, day) of a day number since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_513), (2026, 3, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }
}
