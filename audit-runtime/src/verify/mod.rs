//! What an auditor runs: strict, streaming verification of v1 receipts and their chain.
//!
//! [`ChainVerifier`] takes receipt lines in file (store) order — never timestamp order — and
//! checks each line's strict parse, canonical spelling, self-hash and Ed25519 signature under a
//! pinned key (in parallel across cores), then the chain: genesis, links, duplicate ids and
//! tenant. Every failure becomes a [`Finding`]; nothing stops at the first one.
//!
//! ```
//! use audit_runtime::{verify, MemoryLedger, Receipt, SigningKey, TenantId};
//! let key = SigningKey::generate()?;
//! let mut ledger = MemoryLedger::new();
//! for _ in 0..3 {
//!     ledger.append(Receipt::new("acme"), &key)?;
//! }
//! let jsonl = ledger.to_jsonl(&TenantId::new("acme"));
//! let opts = verify::VerifyOptions::pinned(key.verifying_key());
//! let report = verify::verify_jsonl(&jsonl[..], &opts)?;
//! assert!(report.is_pass());
//! assert_eq!(report.receipts, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]

mod bundle;
mod finding;
mod lines;
mod proof;
mod tree;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

use sha2::{Digest, Sha256};

pub use bundle::{BundleReport, Progress, verify_bundle, verify_bundle_with_progress};
pub use finding::{ChainOrder, Finding, FindingKind, GapNotice, Verdict, VerificationReport};
pub use lines::{LineRead, read_line_bounded};
pub use proof::CheckedProof;

use crate::bundle::{ExportError, ReadLimits};
use crate::canonical::{self, ParsedLine};
use crate::keys::VerifyingKey;
use crate::merkle::{Frontier, Hash};
use crate::note::Checkpoint;
use crate::receipt::{Receipt, TenantId, Timestamp};

/// Default cap on one line's length (8 MiB).
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 << 20;
/// Default cap on findings kept in a report (all are counted).
pub const DEFAULT_MAX_FINDINGS: usize = 1000;

/// Why verification could not run at all (as opposed to evidence that fails).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Reading the input failed.
    #[error("cannot read the receipts")]
    Io(#[from] std::io::Error),
    /// The evidence bundle was refused before or while reading it (not a ZIP, truncated, unsafe
    /// names, symbolic links, duplicates, size or ratio limits).
    #[error("the evidence bundle is refused: {0}")]
    Bundle(#[from] ExportError),
}

/// What to verify against, and limits.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The pinned public key. Without one, signatures are not checked and the verdict is at
    /// best [`Verdict::Unpinned`].
    pub key: Option<VerifyingKey>,
    /// The `prev_receipt_hash` the first receipt must have: `""` (genesis, the default) or the
    /// anchor of a partial export. For an evidence bundle, which carries its own start
    /// (`anchor.json`, or none from genesis), a non-empty anchor here is where that start must
    /// be: an auditor holding the tip of the previous export checks that the next one
    /// continues from it.
    pub anchor: String,
    /// Rebuild chain order from the links instead of trusting file order; reports forks and
    /// orphans. Holds every receipt's hashes in memory.
    pub rebuild_order: bool,
    /// Longest accepted line in bytes.
    pub max_line_bytes: usize,
    /// Findings kept in the report (all are counted).
    pub max_findings: usize,
    /// Worker threads for per-line checks (0 = one per core).
    pub threads: usize,
    /// Limits for reading an evidence bundle.
    pub bundle_limits: ReadLimits,
    /// An earlier checkpoint of the same log the auditor already holds (verified by the
    /// caller): a bundle must then prove that its history extends it (no truncation, rollback
    /// or fork).
    pub since: Option<Checkpoint>,
    /// Accept unsigned receipts ([`crate::SealingMode::Checkpointed`]) that a checkpoint signed
    /// by the pinned key covers (default `false`: every unsigned receipt is a finding).
    ///
    /// The trust this adds: such a receipt is vouched for only by a checkpoint. This library
    /// signs a checkpoint only over leaves it can authenticate (its own appends, signed lines,
    /// and unsigned lines carrying its writer's tag), so a receipt written into the store without
    /// the key gets none; accepting relies on every signer of the log doing so
    /// (`docs/transparency.md` §6).
    pub accept_checkpointed: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            key: None,
            anchor: String::new(),
            rebuild_order: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_findings: DEFAULT_MAX_FINDINGS,
            threads: 0,
            bundle_limits: ReadLimits::default(),
            since: None,
            accept_checkpointed: false,
        }
    }
}

impl VerifyOptions {
    /// Options with `key` pinned and defaults otherwise.
    #[must_use]
    pub fn pinned(key: VerifyingKey) -> Self {
        Self {
            key: Some(key),
            ..Self::default()
        }
    }

    /// Sets rebuild-from-links mode.
    #[must_use]
    pub fn with_rebuild_order(mut self, on: bool) -> Self {
        self.rebuild_order = on;
        self
    }

    /// Sets the anchor the first receipt must link to.
    #[must_use]
    pub fn with_anchor(mut self, anchor: impl Into<String>) -> Self {
        self.anchor = anchor.into();
        self
    }

    /// Sets the earlier checkpoint a bundle's history must extend.
    #[must_use]
    pub fn with_since(mut self, checkpoint: Checkpoint) -> Self {
        self.since = Some(checkpoint);
        self
    }

    /// Accepts unsigned (Checkpointed) receipts under a covering checkpoint signed by the pinned
    /// key; see [`VerifyOptions::accept_checkpointed`] for the trust this adds.
    #[must_use]
    pub fn with_accept_checkpointed(mut self, on: bool) -> Self {
        self.accept_checkpointed = on;
        self
    }

    /// Sets the line length limit.
    #[must_use]
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }
}

/// A receipt whose line, self-hash and signature were checked under a pinned key. It can only
/// be produced by this module.
#[must_use]
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedReceipt {
    receipt: Receipt,
    receipt_hash: [u8; 32],
}

impl VerifiedReceipt {
    /// The verified fields.
    #[must_use]
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }

    /// The verified `receipt_hash`.
    #[must_use]
    pub fn receipt_hash(&self) -> [u8; 32] {
        self.receipt_hash
    }
}

/// Verifies one line on its own (no chain checks).
///
/// # Errors
/// The findings of the line, if any check fails.
pub fn verify_line(line: &[u8], key: &VerifyingKey) -> Result<VerifiedReceipt, Vec<Finding>> {
    verified(check_line(line, Some(key)), false)
}

/// Verifies one line that a checkpoint verified under `key` covers (an inclusion proof's
/// receipt, a partial export's anchor): as [`verify_line`], except that an unsigned
/// ([`crate::SealingMode::Checkpointed`]) receipt passes on its strict parse, spelling and
/// self-hash, because the checkpoint's signature authenticates it.
///
/// It does **not** check that inclusion: call it only for a line whose inclusion under a
/// checkpoint verified with `key` you check yourself, and only where unsigned receipts are
/// accepted ([`VerifyOptions::accept_checkpointed`]).
///
/// # Errors
/// The findings of the line, if any check fails.
pub fn verify_covered_line(
    line: &[u8],
    key: &VerifyingKey,
) -> Result<VerifiedReceipt, Vec<Finding>> {
    verified(check_line(line, Some(key)), true)
}

/// The verified receipt of a checked line, or its findings (an unsigned line is one unless
/// `covered`).
fn verified(mut checked: LineCheck, covered: bool) -> Result<VerifiedReceipt, Vec<Finding>> {
    if checked.unsigned && !covered {
        checked.problems.push(unsigned_problem());
    }
    if checked.problems.is_empty()
        && let (Some(parsed), Some(hash)) = (checked.parsed, checked.computed_hash)
    {
        return Ok(VerifiedReceipt {
            receipt: parsed.receipt,
            receipt_hash: hash,
        });
    }
    let id = checked.receipt_id.clone();
    Err(checked
        .problems
        .into_iter()
        .map(|p| p.into_finding(Some(0), id.clone()))
        .collect())
}

fn unsigned_problem() -> Problem {
    Problem {
        kind: FindingKind::Unsigned,
        computed: None,
        claimed: Some(String::new()),
        message: "the receipt has no signature (Checkpointed sealing) and no verified checkpoint covers it: verify it in an evidence bundle with its checkpoint, accepting such receipts (--accept-checkpointed, VerifyOptions::accept_checkpointed), or with an inclusion proof (ai-audit prove / verify-proof)".into(),
    }
}

/// A failed per-line check, before it gets its index.
#[derive(Debug)]
struct Problem {
    kind: FindingKind,
    computed: Option<String>,
    claimed: Option<String>,
    message: Message,
}

/// A line's problems. Most lines have none or one, kept inline: a heap allocation per junk line,
/// made on a worker and freed on the chain thread, was the largest cost of verifying a bundle of
/// junk lines.
#[derive(Debug, Default)]
struct Problems {
    first: Option<Problem>,
    rest: Vec<Problem>,
}

impl Problems {
    fn push(&mut self, p: Problem) {
        if self.first.is_none() {
            self.first = Some(p);
        } else {
            self.rest.push(p);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::iter::Chain<std::option::IntoIter<Problem>, std::vec::IntoIter<Problem>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

/// A problem's message, spelled out only for a finding the report keeps (at most
/// `max_findings`; the others are only counted), so a flood of bad lines costs no formatting.
#[derive(Debug)]
enum Message {
    Static(&'static str),
    Text(String),
    Line(canonical::LineError),
    /// The signature does not verify under this key.
    BadSignature(Box<VerifyingKey>),
    /// The line differs from its canonical spelling at this byte.
    NonCanonical(usize),
}

impl From<&'static str> for Message {
    fn from(m: &'static str) -> Self {
        Self::Static(m)
    }
}

impl From<String> for Message {
    fn from(m: String) -> Self {
        Self::Text(m)
    }
}

impl Message {
    fn into_string(self) -> String {
        match self {
            Self::Static(m) => m.to_owned(),
            Self::Text(m) => m,
            Self::Line(e) => e.to_string(),
            Self::BadSignature(key) => format!(
                "the Ed25519 signature does not verify under the key {}: the receipt was altered or signed by another key",
                key.fingerprint()
            ),
            Self::NonCanonical(at) => format!(
                "the line differs from its canonical spelling at byte {at}, so its bytes are not the ones that were sealed"
            ),
        }
    }
}

impl Problem {
    fn into_finding(self, index: Option<u64>, receipt_id: Option<String>) -> Finding {
        Finding {
            kind: self.kind,
            file: None,
            index,
            receipt_id,
            computed: self.computed,
            claimed: self.claimed,
            message: self.message.into_string(),
        }
    }
}

/// What the chain phase needs of a parsed line. Worker threads reduce each [`ParsedLine`] to
/// this, so the parsed receipts are freed where they were made and the serial chain phase moves
/// only a few strings.
#[derive(Debug)]
struct Summary {
    timestamp: Timestamp,
    tenant: TenantId,
    prev: String,
    receipt_hash: String,
    /// What a gap receipt states (see [`crate::receipt::Gap`]).
    gap: Option<Box<crate::receipt::Gap>>,
}

impl From<Box<ParsedLine>> for Summary {
    fn from(p: Box<ParsedLine>) -> Self {
        let gap = crate::receipt::Gap::from_receipt(&p.receipt).map(Box::new);
        let r = p.receipt;
        Self {
            gap,
            timestamp: r.timestamp,
            tenant: r.tenant_id,
            prev: r.prev_receipt_hash,
            receipt_hash: p.receipt_hash,
        }
    }
}

/// What the per-line phase learns about one line.
#[derive(Debug)]
struct LineCheck {
    /// Boxed: a check moves through queues and vectors, and most of its size would be the receipt.
    parsed: Option<Box<ParsedLine>>,
    /// Set instead of `parsed` by [`check_lines`].
    summary: Option<Summary>,
    receipt_id: Option<String>,
    computed_hash: Option<[u8; 32]>,
    sig_ok: bool,
    /// The line's `signature` is `""` (Checkpointed mode): only a checkpoint can authenticate it.
    unsigned: bool,
    /// Payload and signature still to be checked (batch mode).
    pending: Option<(Vec<u8>, [u8; 64])>,
    /// The Merkle leaf hash of the re-derived payload.
    leaf: Option<Hash>,
    problems: Problems,
}

/// The `N` bytes spelled by exactly `2N` lowercase hex digits, else `None`.
fn decode_lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        let (hi, lo) = pair.split_first()?;
        *o = (nibble(*hi)? << 4) | nibble(*lo.first()?)?;
    }
    Some(out)
}

fn check_line(line: &[u8], key: Option<&VerifyingKey>) -> LineCheck {
    check_line_with(line, key, false)
}

/// Checks many lines; signatures are verified in one batch (and one by one only when the batch
/// fails, to name the bad ones).
fn check_lines<L: AsRef<[u8]>>(lines: &[L], key: Option<&VerifyingKey>) -> Vec<LineCheck> {
    let mut checks: Vec<LineCheck> = lines
        .iter()
        .map(|l| check_line_with(l.as_ref(), key, true))
        .collect();
    let Some(key) = key else {
        summarize(&mut checks);
        return checks;
    };
    for group in checks.chunks_mut(1024) {
        let items: Vec<(&[u8], [u8; 64])> = group
            .iter()
            .filter_map(|c| c.pending.as_ref().map(|(p, s)| (&p[..], *s)))
            .collect();
        let all_ok = key.verify_strict_batch(&items);
        for c in group.iter_mut() {
            if let Some((payload, sig)) = c.pending.take() {
                settle_signature(c, key, all_ok || key.verify_strict(&payload, &sig));
            }
        }
    }
    summarize(&mut checks);
    checks
}

fn summarize(checks: &mut [LineCheck]) {
    for c in checks {
        c.summary = c.parsed.take().map(Summary::from);
    }
}

fn settle_signature(out: &mut LineCheck, key: &VerifyingKey, ok: bool) {
    if ok {
        out.sig_ok = true;
    } else {
        let claimed = out.parsed.as_ref().map(|p| truncate(&p.signature));
        out.problems.push(Problem {
            kind: FindingKind::Signature,
            computed: None,
            claimed,
            message: Message::BadSignature(Box::new(*key)),
        });
    }
}

fn check_line_with(line: &[u8], key: Option<&VerifyingKey>, defer: bool) -> LineCheck {
    let mut out = LineCheck {
        parsed: None,
        summary: None,
        receipt_id: None,
        computed_hash: None,
        sig_ok: false,
        unsigned: false,
        pending: None,
        leaf: None,
        problems: Problems::default(),
    };
    let parsed = match canonical::parse_line(line) {
        Ok(p) => p,
        Err(e) => {
            out.problems.push(Problem {
                kind: FindingKind::Parse,
                computed: None,
                claimed: None,
                message: Message::Line(e),
            });
            return out;
        }
    };
    out.receipt_id = Some(parsed.receipt.receipt_id.as_str().to_owned());
    if let Some(at) = parsed.non_canonical_at {
        out.problems.push(Problem {
            kind: FindingKind::NonCanonical,
            computed: None,
            claimed: None,
            message: Message::NonCanonical(at),
        });
    }
    let mut payload = Vec::with_capacity(line.len());
    canonical::write_payload_unchecked(&parsed.receipt, &mut payload);
    let computed: [u8; 32] = Sha256::digest(&payload).into();
    out.computed_hash = Some(computed);
    out.leaf = Some(crate::merkle::leaf_hash(&payload));
    match decode_lower_hex::<32>(&parsed.receipt_hash) {
        None => out.problems.push(Problem {
            kind: FindingKind::Encoding,
            computed: Some(canonical::to_hex(computed)),
            claimed: Some(truncate(&parsed.receipt_hash)),
            message: "receipt_hash must be 64 lowercase hex characters".into(),
        }),
        Some(claimed) if claimed != computed => out.problems.push(Problem {
            kind: FindingKind::SelfHash,
            computed: Some(canonical::to_hex(computed)),
            claimed: Some(parsed.receipt_hash.clone()),
            message: "receipt_hash is not the SHA-256 of the receipt's fields: the receipt was changed after sealing".into(),
        }),
        Some(_) => {}
    }
    if parsed.signature.is_empty() {
        // Sealed in Checkpointed mode: the chain phase decides whether a checkpoint covers it.
        out.unsigned = true;
        out.parsed = Some(Box::new(parsed));
        return out;
    }
    let decoded_sig = decode_lower_hex::<64>(&parsed.signature);
    let sig = decoded_sig.unwrap_or([0u8; 64]);
    if decoded_sig.is_none() {
        out.problems.push(Problem {
            kind: FindingKind::Encoding,
            computed: None,
            claimed: Some(truncate(&parsed.signature)),
            message: "signature must be 128 lowercase hex characters".into(),
        });
    } else if let Some(key) = key {
        out.parsed = Some(Box::new(parsed));
        if defer {
            out.pending = Some((payload, sig));
        } else {
            let ok = key.verify_strict(&payload, &sig);
            settle_signature(&mut out, key, ok);
        }
        return out;
    }
    out.parsed = Some(Box::new(parsed));
    out
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 140 {
        let mut t: String = s.chars().take(140).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

/// Everything the chain phase keeps about one receipt.
#[derive(Debug, Clone)]
struct Link {
    index: u64,
    receipt_id: String,
    prev: String,
    claimed_hash: String,
}

/// Streaming verifier of one tenant's chain.
#[derive(Debug)]
pub struct ChainVerifier {
    opts: VerifyOptions,
    threads: usize,
    next_index: u64,
    /// `Some(hash)` after a readable receipt; `None` at the start or after an unreadable line
    /// (whose successor's link cannot be judged; the unreadable line is a finding itself).
    prev_claimed: Option<String>,
    /// 64-bit fingerprints of the ids seen (8 bytes each: 1M receipts fit in ~18 MB). A
    /// collision between two different ids (probability ~n²/2^65) would be reported as a
    /// duplicate; a real duplicate is never missed.
    seen_ids: HashSet<u64>,
    links: Vec<Link>,
    report: VerificationReport,
    tree: TreeTrack,
    unsigned: Unsigned,
    /// Where the chain starts is unknown (a partial export whose `anchor.json` is unreadable,
    /// itself a finding): the first link is not judged.
    start_unknown: bool,
}

/// The unsigned (Checkpointed) receipts seen: all counted, the first few remembered by index and
/// id for findings if no checkpoint covers them.
#[derive(Debug, Default)]
struct Unsigned {
    count: u64,
    kept: Vec<(u64, Option<String>)>,
}

/// The Merkle tree recomputed from the lines, when tracked.
#[derive(Debug, Default)]
struct TreeTrack {
    frontier: Option<Frontier>,
    broken: bool,
    since: Option<u64>,
    root_at_since: Option<Hash>,
}

impl TreeTrack {
    fn observe(&mut self) {
        if let Some(f) = &self.frontier
            && Some(f.size()) == self.since
        {
            self.root_at_since = Some(f.root());
        }
    }
}

/// What [`ChainVerifier::finish_with_tree`] learned about the tree.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TreeOutcome {
    /// The frontier after the last line; `None` if not tracked or a line could not be hashed.
    pub frontier: Option<Frontier>,
    /// The root when the tree had the `since` size, if it passed through it.
    pub root_at_since: Option<Hash>,
    /// Receipts without a signature (Checkpointed mode).
    pub unsigned_receipts: u64,
    unsigned_kept: Vec<(u64, Option<String>)>,
}

impl TreeOutcome {
    /// Accounts for the unsigned receipts. `covered`: a checkpoint signed by the pinned key
    /// covers exactly these receipts; `accepted`: the caller accepts receipts vouched for only by
    /// such a checkpoint ([`VerifyOptions::accept_checkpointed`]). With both they count as
    /// [`VerificationReport::checkpoint_covered`]; otherwise each is an [`FindingKind::Unsigned`]
    /// finding (up to `cap` kept, all counted).
    pub fn settle_unsigned(
        &self,
        report: &mut VerificationReport,
        covered: bool,
        accepted: bool,
        cap: usize,
    ) {
        if self.unsigned_receipts == 0 {
            return;
        }
        if covered && accepted {
            report.checkpoint_covered = self.unsigned_receipts;
            return;
        }
        for (index, id) in &self.unsigned_kept {
            let mut problem = unsigned_problem();
            if covered {
                problem.message = "the receipt has no signature (Checkpointed sealing); the bundle's checkpoint covers it, but receipts vouched for only by a checkpoint are accepted only on request (--accept-checkpointed, VerifyOptions::accept_checkpointed)".into();
            }
            report.add(problem.into_finding(Some(*index), id.clone()), cap);
        }
        let missing = self.unsigned_receipts - self.unsigned_kept.len() as u64;
        report.findings_total += missing;
        *report.counts.entry(FindingKind::Unsigned).or_insert(0) += missing;
    }
}

impl ChainVerifier {
    /// A verifier with `opts`.
    #[must_use]
    pub fn new(opts: VerifyOptions) -> Self {
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            opts.threads
        };
        let report = VerificationReport {
            receipts: 0,
            signatures_verified: 0,
            checkpoint_covered: 0,
            key: opts.key,
            tenant: None,
            first_receipt_id: None,
            last_receipt_id: None,
            first_timestamp: None,
            last_timestamp: None,
            tip: None,
            order: if opts.rebuild_order {
                ChainOrder::Rebuilt
            } else {
                ChainOrder::File
            },
            findings: Vec::new(),
            findings_total: 0,
            counts: BTreeMap::new(),
            gaps: Vec::new(),
        };
        Self {
            opts,
            threads,
            next_index: 0,
            prev_claimed: None,
            seen_ids: HashSet::new(),
            links: Vec::new(),
            report,
            tree: TreeTrack::default(),
            unsigned: Unsigned::default(),
            start_unknown: false,
        }
    }

    /// Does not judge what the first receipt links to: the caller could not read where the
    /// chain starts and reports that itself (a finding here would only repeat it).
    pub(crate) fn start_unknown(&mut self) {
        self.start_unknown = true;
    }

    /// Recomputes the Merkle tree from the lines, continuing `start` (the empty frontier for
    /// a chain from genesis), and remembers its root at `since` leaves.
    pub fn track_tree(&mut self, start: Frontier, since: Option<u64>) {
        self.tree = TreeTrack {
            frontier: Some(start),
            broken: false,
            since,
            root_at_since: None,
        };
        self.tree.observe();
    }

    fn record(&mut self, f: Finding) {
        self.report.add(f, self.opts.max_findings);
    }

    /// The first finding so far, if any: for a caller that stops at the first failure (an
    /// export refusing to sign). Unsigned receipts become findings only when finishing.
    #[must_use]
    pub fn first_finding(&self) -> Option<&Finding> {
        self.report.findings.first()
    }

    /// Records a line that could not be read (e.g. over the length limit).
    pub fn push_unreadable(&mut self, kind: FindingKind, message: String) {
        self.tree.broken = true;
        let index = self.next_index;
        self.next_index += 1;
        self.report.receipts += 1;
        self.prev_claimed = None;
        self.record(Finding {
            file: None,
            kind,
            index: Some(index),
            receipt_id: None,
            computed: None,
            claimed: None,
            message,
        });
    }

    /// Verifies one line (without its `\n`).
    pub fn push(&mut self, line: &[u8]) {
        let checked = check_line(line, self.opts.key.as_ref());
        self.absorb(checked);
    }

    /// Verifies a batch of lines, checking signatures in parallel.
    pub fn push_batch<L: AsRef<[u8]> + Sync>(&mut self, lines: &[L]) {
        let key = self.opts.key;
        if self.threads <= 1 || lines.len() < 64 {
            for checked in check_lines(lines, key.as_ref()) {
                self.absorb(checked);
            }
            return;
        }
        let chunk = lines.len().div_ceil(self.threads);
        let results: Vec<Vec<LineCheck>> = std::thread::scope(|s| {
            let handles: Vec<_> = lines
                .chunks(chunk)
                .map(|part| s.spawn(move || check_lines(part, key.as_ref())))
                .collect();
            handles
                .into_iter()
                // A worker only panics on a bug; re-raise it rather than lose its lines.
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for part in results {
            for checked in part {
                self.absorb(checked);
            }
        }
    }

    fn absorb(&mut self, checked: LineCheck) {
        match (checked.leaf, self.tree.frontier.as_mut()) {
            (Some(leaf), Some(f)) => {
                f.push(leaf);
                self.tree.observe();
            }
            (None, _) => self.tree.broken = true,
            (Some(_), None) => {}
        }
        let index = self.next_index;
        self.next_index += 1;
        self.report.receipts += 1;
        if checked.sig_ok {
            self.report.signatures_verified += 1;
        }
        let id = checked.receipt_id.clone();
        if checked.unsigned {
            self.unsigned.count += 1;
            if self.unsigned.kept.len() < self.opts.max_findings {
                self.unsigned.kept.push((index, id.clone()));
            }
        }
        for p in checked.problems {
            if self.report.is_full(self.opts.max_findings) {
                self.report.count(p.kind);
            } else {
                self.record(p.into_finding(Some(index), id.clone()));
            }
        }
        let Some(summary) = checked
            .summary
            .or_else(|| checked.parsed.map(Summary::from))
        else {
            self.prev_claimed = None;
            return;
        };
        let rid = id.unwrap_or_default();
        if self.report.first_receipt_id.is_none() {
            self.report.first_receipt_id = Some(rid.clone());
            self.report.first_timestamp = Some(summary.timestamp);
        }
        self.report.last_receipt_id = Some(rid.clone());
        self.report.last_timestamp = Some(summary.timestamp);
        if let Some(gap) = summary.gap {
            self.report.gaps.push(GapNotice {
                index,
                receipt_id: rid.clone(),
                gap: *gap,
            });
        }
        match &self.report.tenant {
            None => self.report.tenant = Some(summary.tenant.clone()),
            Some(t) if *t != summary.tenant => {
                let chain_tenant = t.as_str().to_owned();
                self.record(Finding {
                    kind: FindingKind::MixedTenant,
                    file: None,
                    index: Some(index),
                    receipt_id: Some(rid.clone()),
                    computed: Some(chain_tenant),
                    claimed: Some(summary.tenant.as_str().to_owned()),
                    message: "the receipt belongs to another tenant than the chain".into(),
                });
            }
            Some(_) => {}
        }
        let id_fp = id_fingerprint(&rid);
        if !self.seen_ids.insert(id_fp) {
            self.record(Finding {
                kind: FindingKind::DuplicateId,
                file: None,
                index: Some(index),
                receipt_id: Some(rid.clone()),
                computed: None,
                claimed: None,
                message: "this receipt id already appeared earlier in the chain".into(),
            });
        }
        if self.opts.rebuild_order {
            self.links.push(Link {
                index,
                receipt_id: rid,
                prev: summary.prev.clone(),
                claimed_hash: summary.receipt_hash.clone(),
            });
        } else if index == 0 {
            if !self.start_unknown && summary.prev != self.opts.anchor {
                let what = if self.opts.anchor.is_empty() {
                    "the first receipt must start the chain (prev_receipt_hash \"\"): receipts before it are missing"
                } else {
                    "the first receipt does not link to the given anchor"
                };
                self.record(Finding {
                    kind: FindingKind::Genesis,
                    file: None,
                    index: Some(index),
                    receipt_id: Some(rid),
                    computed: Some(self.opts.anchor.clone()),
                    claimed: Some(truncate(&summary.prev)),
                    message: what.into(),
                });
            }
        } else if let Some(prev) = &self.prev_claimed
            && *prev != summary.prev
        {
            let prev = prev.clone();
            self.record(Finding {
                kind: FindingKind::Link,
                file: None,
                index: Some(index),
                receipt_id: Some(rid),
                computed: Some(prev),
                claimed: Some(truncate(&summary.prev)),
                message: "prev_receipt_hash is not the previous receipt's receipt_hash: receipts were removed, inserted or reordered here".into(),
            });
        }
        self.report.tip = Some(summary.receipt_hash.clone());
        self.prev_claimed = Some(summary.receipt_hash);
    }

    /// Finishes: whole-input checks (empty input, rebuild mode) and the report.
    ///
    /// Unsigned receipts ([`crate::SealingMode::Checkpointed`]) are findings here: no
    /// checkpoint vouches for them.
    pub fn finish(self) -> VerificationReport {
        let cap = self.opts.max_findings;
        let (mut report, outcome) = self.finish_with_tree();
        outcome.settle_unsigned(&mut report, false, false, cap);
        report
    }

    /// As [`ChainVerifier::finish`], with what was learned about the tracked tree. The caller
    /// settles the unsigned receipts with [`TreeOutcome::settle_unsigned`] once it knows whether
    /// a verified checkpoint covers them.
    pub fn finish_with_tree(mut self) -> (VerificationReport, TreeOutcome) {
        let tree = std::mem::take(&mut self.tree);
        let unsigned = std::mem::take(&mut self.unsigned);
        let outcome = TreeOutcome {
            frontier: tree.frontier.filter(|_| !tree.broken),
            root_at_since: tree.root_at_since,
            unsigned_receipts: unsigned.count,
            unsigned_kept: unsigned.kept,
        };
        (self.finish_report(), outcome)
    }

    fn finish_report(mut self) -> VerificationReport {
        if self.report.receipts == 0 {
            self.record(Finding {
                kind: FindingKind::Empty,
                file: None,
                index: None,
                receipt_id: None,
                computed: None,
                claimed: None,
                message: "no receipts to verify".into(),
            });
        }
        if self.opts.rebuild_order && !self.links.is_empty() {
            self.rebuild();
        }
        self.report
    }

    fn rebuild(&mut self) {
        let links = std::mem::take(&mut self.links);
        let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, l) in links.iter().enumerate() {
            children.entry(l.prev.as_str()).or_default().push(i);
        }
        let anchor = if self.start_unknown {
            // The first link (in file order) whose predecessor is not in the file.
            let claimed: HashSet<&str> = links.iter().map(|l| l.claimed_hash.as_str()).collect();
            links
                .iter()
                .map(|l| l.prev.as_str())
                .find(|p| !claimed.contains(p))
                .unwrap_or_default()
                .to_owned()
        } else {
            self.opts.anchor.clone()
        };
        let mut findings = Vec::new();
        let mut reached = vec![false; links.len()];
        let mut tip = None;
        let starts = children.get(anchor.as_str()).cloned().unwrap_or_default();
        if starts.is_empty() {
            findings.push(Finding {
                kind: FindingKind::Genesis,
                file: None,
                index: None,
                receipt_id: None,
                computed: Some(anchor.clone()),
                claimed: None,
                message: "no receipt starts the chain: its first receipts are missing".into(),
            });
        }
        for &extra in starts.iter().skip(1) {
            if let Some(l) = links.get(extra) {
                findings.push(fork_finding(l, &anchor));
            }
        }
        let mut cur = starts.first().copied();
        while let Some(i) = cur {
            let Some(slot) = reached.get_mut(i) else {
                break;
            };
            if *slot {
                break; // a cycle through a duplicated hash; the duplicate is reported elsewhere
            }
            *slot = true;
            let Some(l) = links.get(i) else { break };
            tip = Some(l.claimed_hash.clone());
            let next = children.get(l.claimed_hash.as_str());
            cur = next.and_then(|c| c.first().copied());
            for &extra in next.map(|c| c.iter().skip(1)).into_iter().flatten() {
                if let Some(x) = links.get(extra) {
                    findings.push(fork_finding(x, &l.claimed_hash));
                }
            }
        }
        let fork_ids: HashSet<u64> = findings.iter().filter_map(|f| f.index).collect();
        for (i, l) in links.iter().enumerate() {
            if !reached.get(i).copied().unwrap_or(true) && !fork_ids.contains(&l.index) {
                findings.push(Finding {
                    kind: FindingKind::Orphan,
                    file: None,
                    index: Some(l.index),
                    receipt_id: Some(l.receipt_id.clone()),
                    computed: None,
                    claimed: Some(truncate(&l.prev)),
                    message: "the receipt is not reachable from the start of the chain".into(),
                });
            }
        }
        self.report.tip = tip;
        for f in findings {
            self.record(f);
        }
    }
}

fn fork_finding(l: &Link, parent: &str) -> Finding {
    Finding {
        kind: FindingKind::Fork,
        file: None,
        index: Some(l.index),
        receipt_id: Some(l.receipt_id.clone()),
        computed: None,
        claimed: Some(parent.to_owned()),
        message: "another receipt already follows this predecessor: the history forks here".into(),
    }
}

fn id_fingerprint(id: &str) -> u64 {
    let d = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(b)
}

/// Batch size for streaming verification.
const BATCH: usize = 4096;

/// Verifies a JSONL stream of one tenant's receipts (lines split on `\n` bytes only).
///
/// # Errors
/// [`VerifyError::Io`] if reading fails. Bad evidence is not an error: it is in the report.
pub fn verify_jsonl<R: BufRead>(
    mut reader: R,
    opts: &VerifyOptions,
) -> Result<VerificationReport, VerifyError> {
    let mut v = ChainVerifier::new(opts.clone());
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_bounded(&mut reader, &mut buf, opts.max_line_bytes)? {
            LineRead::Eof => break,
            LineRead::Line => batch.push(std::mem::take(&mut buf)),
            LineRead::TooLong => {
                v.push_batch(&batch);
                batch.clear();
                v.push_unreadable(
                    FindingKind::LineTooLong,
                    format!(
                        "the line is longer than the {} byte limit; it was skipped unread (`ai-audit verify --max-line-bytes` raises the limit)",
                        opts.max_line_bytes
                    ),
                );
            }
        }
        if batch.len() >= BATCH {
            v.push_batch(&batch);
            batch.clear();
        }
    }
    v.push_batch(&batch);
    Ok(v.finish())
}

/// Verifies one tenant's chain from an iterator of lines (e.g. a store query), in batches.
///
/// ```
/// # #[cfg(feature = "runtime")] {
/// use audit_runtime::store::{self, MemoryStore, Store};
/// use audit_runtime::{verify, Auditor, Receipt, SigningKey, TenantId};
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let key = SigningKey::generate()?;
/// let auditor = Auditor::builder().signer(key.clone()).shared_store(store.clone()).build()?;
/// auditor.emit(Receipt::new("acme"))?;
/// let lines = store::receipts(store.as_ref(), &TenantId::new("acme"), 0..u64::MAX)
///     .map(|e| e.map(|e| e.line));
/// let report = verify::verify_lines(lines, &verify::VerifyOptions::pinned(key.verifying_key()))?;
/// assert!(report.is_pass());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The first error of the iterator (reading stopped there).
pub fn verify_lines<I, L, E>(lines: I, opts: &VerifyOptions) -> Result<VerificationReport, E>
where
    I: IntoIterator<Item = Result<L, E>>,
    L: AsRef<[u8]> + Sync,
{
    let mut v = ChainVerifier::new(opts.clone());
    let mut batch: Vec<L> = Vec::with_capacity(BATCH);
    for line in lines {
        batch.push(line?);
        if batch.len() >= BATCH {
            v.push_batch(&batch);
            batch.clear();
        }
    }
    v.push_batch(&batch);
    Ok(v.finish())
}
