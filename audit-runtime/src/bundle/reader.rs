//! [`EvidenceReader`]: a bundle opened as hostile input.

use std::io::{Read, Seek};

use super::zipr::{self, CdEntry, MemberReader};
use super::{ExportError, ReadLimits};

/// A bundle whose central directory was read and vetted: at most
/// [`ReadLimits::max_entries`] entries, no unsafe names (absolute, `..`, backslashes, drive
/// letters), no symbolic links, no duplicates, no overlapping members. Members are streamed on
/// demand through hard inflation limits; nothing is extracted to disk.
///
/// ```
/// use audit_runtime::bundle::{EvidenceReader, ReadLimits};
/// let err = EvidenceReader::open(std::io::Cursor::new(b"not a zip at all, really".to_vec()), ReadLimits::default());
/// assert!(err.is_err());
/// ```
#[derive(Debug)]
pub struct EvidenceReader<R> {
    inner: R,
    entries: Vec<CdEntry>,
    limits: ReadLimits,
    inflated: u64,
}

impl<R: Read + Seek> EvidenceReader<R> {
    /// Reads and vets the archive's central directory.
    ///
    /// # Errors
    /// [`ExportError`] naming what is wrong with the archive.
    pub fn open(mut inner: R, limits: ReadLimits) -> Result<Self, ExportError> {
        let entries = zipr::read_index(&mut inner, &limits)?;
        Ok(Self {
            inner,
            entries,
            limits,
            inflated: 0,
        })
    }

    /// Member names, in central-directory order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// Whether the archive has a member `name`.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// The inflated size the archive declares for `name` (untrusted; for progress display).
    #[must_use]
    pub fn declared_size(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.uncompressed)
    }

    /// Streams member `name`.
    ///
    /// # Errors
    /// [`ExportError::MissingMember`], or what is wrong with its local header. Reading the
    /// returned stream fails with an [`std::io::Error`] carrying an [`ExportError`] (see
    /// [`ExportError::from_io`]) when a limit is passed or the data is corrupt.
    pub fn open_member(&mut self, name: &str) -> Result<MemberReader<'_>, ExportError> {
        let Some(e) = self.entries.iter().find(|e| e.name == name) else {
            return Err(ExportError::MissingMember {
                name: name.to_owned(),
            });
        };
        zipr::open_member(&mut self.inner, e, &self.limits, &mut self.inflated)
    }

    /// Reads a small member whole (at most [`ReadLimits::max_small_member`] bytes).
    ///
    /// # Errors
    /// As [`EvidenceReader::open_member`], or [`ExportError::LimitExceeded`].
    pub fn read_small(&mut self, name: &str) -> Result<Vec<u8>, ExportError> {
        let cap = self.limits.max_small_member;
        let mut out = Vec::new();
        let m = self.open_member(name)?;
        m.take(cap + 1)
            .read_to_end(&mut out)
            .map_err(ExportError::from_io)?;
        if out.len() as u64 > cap {
            return Err(ExportError::LimitExceeded {
                member: name.to_owned(),
                limit: cap,
            });
        }
        Ok(out)
    }
}

impl ExportError {
    /// Recovers the [`ExportError`] a [`MemberReader`] carries inside an [`std::io::Error`].
    #[must_use]
    pub fn from_io(e: std::io::Error) -> Self {
        zipr::unwrap_io(e)
    }
}
