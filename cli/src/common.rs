//! What every command shares: exit codes, bounded reads of small inputs, error messages.

/// Exit code: the evidence passed.
pub(crate) const EXIT_PASS: u8 = 0;
/// Exit code: usage error, or the input could not be read.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code of `export` when writing the bundle failed midway.
#[cfg(feature = "sqlite")]
pub(crate) const EXIT_FAIL_EXPORT: u8 = 1;

/// The exit codes of the verifying commands, for their help.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  PASS: every check passed under the pinned key
  1  FAIL: the evidence fails at least one check (each finding names index, receipt id and check)
  2  usage error, or the input or key could not be read
  3  UNPINNED: no key was pinned; hashes and links were checked, signatures prove nothing";

/// The exit codes of `export`, for its help.
#[cfg(feature = "sqlite")]
pub(crate) const EXPORT_EXIT_CODES: &str = "\
Exit codes:
  0  the bundle was written, every receipt in it verified and its checkpoint and manifest signed
  1  refused: a stored receipt or the stored history fails a check (the error names tenant,
     sequence number, receipt id and check; nothing was signed), or writing the bundle failed
  2  usage error, or the store or key could not be read";

/// Longest `--key-file` read: a hex key and some whitespace.
pub(crate) const MAX_KEY_FILE: u64 = 4 << 10;

/// Reads `path` whole if it holds at most `limit` bytes; `Ok(None)` if it holds more. Reading
/// stops one byte past the limit, so a huge or endless input (a FIFO, `/dev/zero`) costs no more
/// than a file of the limit's size.
pub(crate) fn read_limited(path: &std::path::Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)?;
    Ok((out.len() as u64 <= limit).then_some(out))
}

/// `e` and the chain of its sources, `what: why: cause`, so that a message names the cause
/// ("the store failed: database disk image is malformed"), not only the outermost error.
#[cfg(feature = "sqlite")]
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // Some errors already repeat their source in their own message.
        if !out.ends_with(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}
