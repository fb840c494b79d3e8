//! The per-line checks: strict parse, canonical spelling, self-hash and Ed25519 signature of
//! one receipt line, on its own (the chain is [`super::chain`]'s).

use sha2::{Digest, Sha256};

use super::{Finding, FindingKind};
use crate::canonical::{self, ParsedLine};
use crate::keys::VerifyingKey;
use crate::merkle::Hash;
use crate::receipt::{Receipt, TenantId, Timestamp};

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
/// (`SealingMode::Checkpointed`) receipt passes on its strict parse, spelling and
/// self-hash, because the checkpoint's signature authenticates it.
///
/// It does **not** check that inclusion: call it only for a line whose inclusion under a
/// checkpoint verified with `key` you check yourself, and only where unsigned receipts are
/// accepted ([`super::VerifyOptions::accept_checkpointed`]).
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
        .map(|p| p.into_finding(0, id.clone()))
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
pub(super) struct Problem {
    pub(super) kind: FindingKind,
    computed: Option<String>,
    claimed: Option<String>,
    message: Message,
}

/// A line's problems. Most lines have none or one, kept inline: a heap allocation per junk line,
/// made on a worker and freed on the chain thread, was the largest cost of verifying a bundle of
/// junk lines.
#[derive(Debug, Default)]
pub(super) struct Problems {
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
    /// The finding of this problem of the receipt at `index`.
    pub(super) fn into_finding(self, index: u64, receipt_id: Option<String>) -> Finding {
        Finding::receipt(self.kind, index, receipt_id, self.message.into_string())
            .with_values(self.computed, self.claimed)
    }
}

/// The finding of the unsigned receipt at `index`: no checkpoint covers it or, if one does
/// (`covered`), the caller did not accept receipts vouched for only by a checkpoint.
pub(super) fn unsigned_finding(index: u64, receipt_id: Option<String>, covered: bool) -> Finding {
    let mut problem = unsigned_problem();
    if covered {
        problem.message = "the receipt has no signature (Checkpointed sealing); the bundle's checkpoint covers it, but receipts vouched for only by a checkpoint are accepted only on request (--accept-checkpointed, VerifyOptions::accept_checkpointed)".into();
    }
    problem.into_finding(index, receipt_id)
}

/// What the chain phase needs of a parsed line. Worker threads reduce each [`ParsedLine`] to
/// this, so the parsed receipts are freed where they were made and the serial chain phase moves
/// only a few strings.
#[derive(Debug)]
pub(super) struct Summary {
    pub(super) timestamp: Timestamp,
    pub(super) tenant: TenantId,
    pub(super) prev: String,
    pub(super) receipt_hash: String,
    /// What a gap receipt states (see [`crate::receipt::Gap`]).
    pub(super) gap: Option<Box<crate::receipt::Gap>>,
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
pub(super) struct LineCheck {
    /// Boxed: a check moves through queues and vectors, and most of its size would be the receipt.
    pub(super) parsed: Option<Box<ParsedLine>>,
    /// Set instead of `parsed` by [`check_lines`].
    pub(super) summary: Option<Summary>,
    pub(super) receipt_id: Option<String>,
    computed_hash: Option<[u8; 32]>,
    pub(super) sig_ok: bool,
    /// The line's `signature` is `""` (Checkpointed mode): only a checkpoint can authenticate it.
    pub(super) unsigned: bool,
    /// Payload and signature still to be checked (batch mode).
    pending: Option<(Vec<u8>, [u8; 64])>,
    /// The Merkle leaf hash of the re-derived payload.
    pub(super) leaf: Option<Hash>,
    pub(super) problems: Problems,
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

pub(super) fn check_line(line: &[u8], key: Option<&VerifyingKey>) -> LineCheck {
    check_line_with(line, key, false)
}

/// Checks many lines; signatures are verified in one batch (and one by one only when the batch
/// fails, to name the bad ones).
pub(super) fn check_lines<L: AsRef<[u8]>>(
    lines: &[L],
    key: Option<&VerifyingKey>,
) -> Vec<LineCheck> {
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

pub(super) fn truncate(s: &str) -> String {
    if s.chars().count() > 140 {
        let mut t: String = s.chars().take(140).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}
