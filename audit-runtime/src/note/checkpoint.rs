//! Checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note` envelopes, Ed25519.
//!
//! A checkpoint commits to a tenant's tree: origin (`<log name>/<tenant>`), tree size and root.
//! The note is the body, a blank line, then one line per signature:
//! `— <key name> <base64(key id ‖ signature)>`. Verifiers ignore signatures by keys they do not
//! know and require one by the pinned key.
//!
//! ```
//! use audit_runtime::note::Checkpoint;
//! use audit_runtime::SigningKey;
//! let key = SigningKey::generate()?;
//! let cp = Checkpoint::new("audit.example.com/acme", 3, [7u8; 32]);
//! let note = cp.sign("audit.example.com", &key)?;
//! let back = Checkpoint::verify(&note, "audit.example.com", &key.verifying_key())?;
//! assert_eq!(back, cp);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::keys::VerifyingKey;
use crate::merkle::Hash;
use crate::seal::{SealError, Signer};

/// Longest note accepted, in bytes.
pub const MAX_NOTE: usize = 1 << 20;
/// Most signature lines accepted (C2SP lets verifiers cap this).
const MAX_SIGNATURES: usize = 100;
/// The prefix of a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note is not a valid checkpoint for the pinned key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The text is not a signed note with a checkpoint body.
    #[error("malformed checkpoint note: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
    /// No signature line by the pinned key (name and key ID).
    #[error("the checkpoint carries no signature by the pinned key {name}+{key_id}")]
    NotSignedByPinnedKey {
        /// The key name.
        name: String,
        /// The pinned key's ID (hex).
        key_id: String,
    },
    /// A signature by the pinned key's ID does not verify.
    #[error(
        "the checkpoint's signature by {name}+{key_id} does not verify: it was altered or forged"
    )]
    BadSignature {
        /// The key name.
        name: String,
        /// The key ID (hex).
        key_id: String,
    },
}

/// Why `name` cannot be a signed-note key name, if it cannot: it must be non-empty and hold no
/// whitespace, no control character and no `+` (C2SP `signed-note`).
#[must_use]
pub(crate) fn key_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("it is empty")
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("it holds whitespace or a control character")
    } else if name.contains('+') {
        Some("it holds a '+', which a signed-note key name may not")
    } else {
        None
    }
}

/// A tree head: origin, size, root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, `<log name>/<tenant>`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// A checkpoint.
    #[must_use]
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
        }
    }

    /// The note body: three lines, each ending in `\n`.
    #[must_use]
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// The signed note, signed by `signer` under the key name `key_name`.
    ///
    /// # Errors
    /// [`SealError::Signer`] if the signer fails; [`SealError::Note`] for an origin with a
    /// control character (such as a line break) or a key name that cannot name a key.
    pub fn sign(&self, key_name: &str, signer: &dyn Signer) -> Result<String, SealError> {
        // The signed text must be exactly the three lines `verify` reads: an origin with a
        // line break (or another control character) would make the signature cover lines of
        // the caller's choosing. `note::origin` escapes tenants accordingly.
        if self.origin.is_empty() || self.origin.chars().any(char::is_control) {
            return Err(SealError::Note {
                what: "the origin is empty or holds a control character (a line break); build it with note::origin",
            });
        }
        if let Some(what) = key_name_problem(key_name) {
            return Err(SealError::Note { what });
        }
        let body = self.body();
        let sig = signer.sign(body.as_bytes())?;
        let key_id = signer.verifying_key().key_id(key_name).to_bytes();
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&key_id);
        blob.extend_from_slice(&sig);
        Ok(format!(
            "{body}\n{SIG_PREFIX}{key_name} {}\n",
            STANDARD.encode(blob)
        ))
    }

    /// Parses `note` and checks that the key `key` named `key_name` signed it.
    ///
    /// # Errors
    /// [`CheckpointError`].
    pub fn verify(note: &str, key_name: &str, key: &VerifyingKey) -> Result<Self, CheckpointError> {
        let bad = |what| CheckpointError::Malformed { what };
        if note.len() > MAX_NOTE {
            return Err(bad("longer than 1 MiB"));
        }
        if note.contains("\r\n") {
            // Typically a note that passed through a Windows editor or a text-mode transfer.
            return Err(bad(
                "it has carriage returns (CRLF line ends); a signed note ends its lines with \\n only: restore the original file (or convert it with dos2unix) and verify again",
            ));
        }
        let (body, sigs) = note
            .split_once("\n\n")
            .ok_or(bad("no blank line between text and signatures"))?;
        let body = format!("{body}\n");
        let cp = Self::parse_body(&body)?;
        if !sigs.ends_with('\n') {
            return Err(bad("the signature block does not end with a newline"));
        }
        let want_id = key.key_id(key_name).to_bytes();
        let mut found = false;
        for (n, line) in sigs.lines().enumerate() {
            if n >= MAX_SIGNATURES {
                return Err(bad("more than 100 signatures"));
            }
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or(bad("a signature line does not start with an em dash"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or(bad("a signature line has no key name"))?;
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| bad("a signature is not base64"))?;
            if name != key_name || blob.get(..4) != Some(&want_id[..]) {
                continue; // another signer (a witness, a rotated key): not ours to judge
            }
            let sig: [u8; 64] = blob
                .get(4..)
                .and_then(|s| s.try_into().ok())
                .ok_or(bad("an Ed25519 signature line does not hold 68 bytes"))?;
            if !key.verify_strict(body.as_bytes(), &sig) {
                return Err(CheckpointError::BadSignature {
                    name: key_name.to_owned(),
                    key_id: hex::encode(want_id),
                });
            }
            found = true;
        }
        if !found {
            return Err(CheckpointError::NotSignedByPinnedKey {
                name: key_name.to_owned(),
                key_id: hex::encode(want_id),
            });
        }
        Ok(cp)
    }

    fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let bad = |what| CheckpointError::Malformed { what };
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(bad("empty origin"))?;
        let size_text = lines.next().ok_or(bad("no tree size line"))?;
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(bad(
                "the tree size is not a decimal number without leading zeros",
            ));
        }
        let size: u64 = size_text
            .parse()
            .map_err(|_| bad("the tree size is too large"))?;
        let root_text = lines.next().ok_or(bad("no root hash line"))?;
        let root: Hash = STANDARD
            .decode(root_text)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(bad("the root is not 32 bytes of base64"))?;
        // `body` ends in the root line's newline, so one empty piece is left, and nothing else.
        // The C2SP format allows extension lines after the root, but ai-audit never writes
        // them: a body with more lines was not signed as this checkpoint (it is the shape a
        // tenant id holding newlines gave the origin line before origins were escaped).
        if lines.next() != Some("") || lines.next().is_some() {
            return Err(bad(
                "it has lines after the root hash; an ai-audit checkpoint has exactly three (origin, size, root)",
            ));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn key() -> SigningKey {
        SigningKey::from_seed(&[1; 32])
    }

    #[test]
    fn signs_and_verifies_a_note_in_the_c2sp_layout() {
        let cp = Checkpoint::new("audit.example.com/acme", 1000, [9; 32]);
        let note = cp.sign("audit.example.com", &key()).unwrap();
        let mut lines = note.lines();
        assert_eq!(lines.next(), Some("audit.example.com/acme"));
        assert_eq!(lines.next(), Some("1000"));
        assert_eq!(lines.next(), Some(STANDARD.encode([9u8; 32]).as_str()));
        assert_eq!(lines.next(), Some(""));
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("\u{2014} audit.example.com ")
        );
        let back = Checkpoint::verify(&note, "audit.example.com", &key().verifying_key()).unwrap();
        assert_eq!(back, cp);
    }

    #[test]
    fn a_note_with_crlf_line_ends_is_refused_with_a_reason() {
        let note = Checkpoint::new("audit.example.com/acme", 7, [9; 32])
            .sign("audit.example.com", &key())
            .unwrap();
        let crlf = note.replace('\n', "\r\n");
        let err = Checkpoint::verify(&crlf, "audit.example.com", &key().verifying_key())
            .unwrap_err()
            .to_string();
        assert!(err.contains("CRLF") && err.contains("dos2unix"), "{err}");
        // A tenant id may hold a carriage return: its origin escapes it, and round-trips.
        let origin = crate::note::origin("audit.example.com", &"a\rb".into());
        assert_eq!(origin, "audit.example.com/a%0Db");
        let cp = Checkpoint::new(origin, 7, [9; 32]);
        let note = cp.sign("audit.example.com", &key()).unwrap();
        let back = Checkpoint::verify(&note, "audit.example.com", &key().verifying_key()).unwrap();
        assert_eq!(back, cp);
        // Unescaped, it is not signed.
        let raw = Checkpoint::new("audit.example.com/a\rb", 7, [9; 32]);
        assert!(matches!(
            raw.sign("audit.example.com", &key()),
            Err(SealError::Note { .. })
        ));
    }

    #[test]
    fn any_change_or_another_key_fails() {
        let cp = Checkpoint::new("audit.example.com/acme", 1000, [9; 32]);
        let note = cp.sign("audit.example.com", &key()).unwrap();
        let vk = key().verifying_key();
        let altered = note.replacen("1000", "999", 1);
        assert!(matches!(
            Checkpoint::verify(&altered, "audit.example.com", &vk),
            Err(CheckpointError::BadSignature { .. })
        ));
        let other = SigningKey::from_seed(&[2; 32]);
        let forged = cp.sign("audit.example.com", &other).unwrap();
        assert!(matches!(
            Checkpoint::verify(&forged, "audit.example.com", &vk),
            Err(CheckpointError::NotSignedByPinnedKey { .. })
        ));
        // An extra, unknown signer is ignored; ours still counts.
        let cosigned = format!("{note}{}", forged.split("\n\n").nth(1).unwrap());
        assert!(Checkpoint::verify(&cosigned, "audit.example.com", &vk).is_ok());
        for bad in [
            "",
            "x",
            "a\n1\nAAAA\n\n",
            "a\n01\nAAAA\n\n\u{2014} k x\n",
            "\n\n",
        ] {
            assert!(
                Checkpoint::verify(bad, "audit.example.com", &vk).is_err(),
                "{bad:?}"
            );
        }
    }
}
