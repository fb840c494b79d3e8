//! Signed notes (C2SP `signed-note`): checkpoints of a tenant's log (`tlog-checkpoint`), the
//! standalone inclusion proof file (`tlog-proof`) and the tree prefix a partial export carries;
//! how a log and its tenants are named in them.
//!
//! These are formats: parsing, writing, signing and checking a note's signature. Keeping a log
//! (signing checkpoints of a store's trees, proving a stored receipt) is the running half's
//! (`log`, feature `runtime`); checking a proof's receipt is [`crate::verify`]'s.
#![deny(clippy::indexing_slicing)]

mod checkpoint;
mod prefix;
mod proof;

pub(crate) use checkpoint::key_name_problem;
pub use checkpoint::{Checkpoint, CheckpointError, MAX_NOTE};
pub use prefix::{PrefixError, TreePrefix};
pub use proof::{HEADER as TLOG_PROOF_HEADER, MAX_PROOF, ProofError, TlogProof};

use crate::canonical::{self, LineError};
use crate::keys::VerifyingKey;
use crate::merkle::{self, Hash};
use crate::receipt::TenantId;

/// The log name used when none is configured.
pub const DEFAULT_LOG_NAME: &str = "ai-audit.local";

/// The origin line of a tenant's log: `<log name>/<tenant>`, with the tenant escaped so that
/// the origin is one line whatever the tenant id holds.
///
/// A tenant id is any string (as in v1), but a checkpoint's origin is one line of a signed note.
/// Written as is, a tenant id holding a newline would put lines of its own choosing into the
/// signed text, and so could have the log sign a tree head of another origin. So the characters
/// that end or hide a line are written as `%XX` (the percent-encoded UTF-8 bytes, upper-case
/// hex): the control characters (U+0000–U+001F, U+007F–U+009F), the line and paragraph
/// separators U+2028 and U+2029, and `%` itself, which keeps the escape one-to-one. Other
/// tenant ids, all the usual ones, appear unchanged.
///
/// ```
/// use audit_runtime::TenantId;
/// use audit_runtime::note::origin;
///
/// assert_eq!(origin("ai-audit.local", &TenantId::new("acme")), "ai-audit.local/acme");
/// assert_eq!(origin("log", &TenantId::new("a\nb 100%")), "log/a%0Ab 100%25");
/// ```
#[must_use]
pub fn origin(log_name: &str, tenant: &TenantId) -> String {
    let tenant = tenant.as_str();
    let mut out = String::with_capacity(log_name.len() + 1 + tenant.len());
    out.push_str(log_name);
    out.push('/');
    for c in tenant.chars() {
        if c.is_control() || matches!(c, '%' | '\u{2028}' | '\u{2029}') {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                let digit = |d: u8| char::from_digit(u32::from(d), 16).unwrap_or('0');
                out.push('%');
                out.push(digit(b >> 4).to_ascii_uppercase());
                out.push(digit(b & 0x0f).to_ascii_uppercase());
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Why `name` cannot be a log name, if it cannot: a log name is the key name of the log's
/// checkpoints (C2SP `signed-note`) and the first part of their origin, so it must be non-empty
/// and hold no whitespace, no `+`, no `/` and no control character.
///
/// ```
/// use audit_runtime::note::log_name_problem;
///
/// assert_eq!(log_name_problem("audit.example.com"), None);
/// assert!(log_name_problem("audit example").is_some());
/// ```
#[must_use]
pub fn log_name_problem(name: &str) -> Option<&'static str> {
    key_name_problem(name).or_else(|| {
        name.contains('/')
            .then_some("it holds a '/', which separates the log name from the tenant in an origin")
    })
}

/// The origin `tenant`'s log has under the log that signed `checkpoint`: a checkpoint is
/// `tenant`'s exactly when its origin equals this.
#[must_use]
pub fn origin_under(checkpoint: &Checkpoint, tenant: &TenantId) -> String {
    origin(key_name_of(&checkpoint.origin), tenant)
}

/// The key name a checkpoint is signed under: the log name, i.e. its origin up to the first `/`.
#[must_use]
pub(crate) fn key_name_of(origin: &str) -> &str {
    origin.split_once('/').map_or(origin, |(name, _)| name)
}

/// Verifies a checkpoint note under `key`, taking the key name from its origin line.
///
/// # Errors
/// [`CheckpointError`].
pub fn verify_note(note: &str, key: &VerifyingKey) -> Result<Checkpoint, CheckpointError> {
    let origin = note.split('\n').next().unwrap_or_default();
    Checkpoint::verify(note, key_name_of(origin), key)
}

/// The leaf hash of a receipt line: `SHA-256(0x00 ‖ seal payload)`.
///
/// # Errors
/// [`LineError`] if the line is not a v1 receipt.
pub fn leaf_of_line(line: &[u8]) -> Result<Hash, LineError> {
    let parsed = canonical::parse_line(line)?;
    let mut payload = Vec::with_capacity(line.len());
    canonical::write_payload_unchecked(&parsed.receipt, &mut payload);
    Ok(merkle::leaf_hash(&payload))
}
