//! Ed25519 keys: generation, loading from hex, the environment or a file, fingerprints and
//! C2SP signed-note key IDs. Secret keys are zeroized on drop and never printed.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

mod ed25519;
#[cfg(test)]
mod ed25519_vectors;

/// Why a key could not be generated or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not hexadecimal.
    #[error("{what} is not hexadecimal (expected {expected_len} hex characters)")]
    NotHex {
        /// Which key (`signing key`, `public key`).
        what: &'static str,
        /// Expected number of hex characters.
        expected_len: usize,
    },
    /// The key has the wrong length.
    #[error("{what} has {found} hex characters; expected {expected_len} ({bytes} bytes)")]
    WrongLength {
        /// Which key.
        what: &'static str,
        /// Hex characters found.
        found: usize,
        /// Hex characters expected.
        expected_len: usize,
        /// Bytes expected.
        bytes: usize,
    },
    /// The 32 bytes are not a valid Ed25519 public key (not a curve point, or of small order).
    // The hex is not in the message: a secret seed given where a public key belongs would
    // otherwise be printed.
    #[error("the public key is not a valid Ed25519 point (a secret seed given as the public key?)")]
    InvalidPoint {
        /// The key in hex.
        hex: String,
    },
    /// The key file could not be read.
    #[error("cannot read key file {path}; check the path and its permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The environment variable holds something that is not Unicode.
    #[error("environment variable {name} is not valid Unicode")]
    EnvNotUnicode {
        /// The variable.
        name: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(String),
}

fn decode_hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], KeyError> {
    let t = text.trim();
    if t.len() != N * 2 {
        return Err(KeyError::WrongLength {
            what,
            found: t.len(),
            expected_len: N * 2,
            bytes: N,
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(t, &mut out).map_err(|_| KeyError::NotHex {
        what,
        expected_len: N * 2,
    })?;
    Ok(out)
}

/// An Ed25519 signing key (the 32-byte seed). Zeroized on drop; `Debug` shows only the
/// fingerprint of its public half.
///
/// ```
/// use audit_runtime::SigningKey;
/// let sk = SigningKey::from_hex(&"01".repeat(32))?;
/// assert_eq!(sk.verifying_key().fingerprint(), "8a88e3dd7409f195");
/// assert!(!format!("{sk:?}").contains("0101"));
/// # Ok::<(), audit_runtime::KeyError>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    /// The expanded secret, cached so that signing does not hash the seed again.
    expanded: ed25519::Expanded,
}

impl SigningKey {
    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`KeyError::Rng`] if the operating system cannot provide randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Rng(e.to_string()))?;
        Ok(Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        )))
    }

    /// A key from its 32-byte seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    fn from_dalek(inner: ed25519_dalek::SigningKey) -> Self {
        let expanded = ed25519::Expanded::new(&inner);
        Self { inner, expanded }
    }

    /// A key from 64 hex characters (surrounding whitespace is ignored), the format of
    /// `AI_AUDIT_SIGNING_KEY` and `ai-audit gen-key`.
    ///
    /// # Errors
    /// [`KeyError::WrongLength`] or [`KeyError::NotHex`].
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let seed = Zeroizing::new(decode_hex::<32>(text, "signing key")?);
        Ok(Self::from_seed(&seed))
    }

    /// The key in the environment variable `name`, or `None` when it is unset or empty.
    ///
    /// # Errors
    /// As [`SigningKey::from_hex`], or [`KeyError::EnvNotUnicode`].
    pub fn from_env(name: &str) -> Result<Option<Self>, KeyError> {
        match std::env::var(name) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => {
                let v = Zeroizing::new(v);
                Self::from_hex(&v).map(Some)
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::EnvNotUnicode {
                name: name.to_owned(),
            }),
        }
    }

    /// The key stored as hex in a file (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`KeyError::Io`], or as [`SigningKey::from_hex`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        Self::from_hex(&text)
    }

    /// The seed as 64 hex characters, in a buffer that is zeroized on drop. Handle with care.
    #[must_use]
    pub fn to_seed_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.inner.to_bytes()))
    }

    /// The public half.
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.inner.verifying_key())
    }

    /// Signs `msg` (pure Ed25519, RFC 8032).
    #[must_use]
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.expanded.sign(msg)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_fingerprint", &self.verifying_key().fingerprint())
            .finish_non_exhaustive()
    }
}

/// An Ed25519 public key, used to verify receipts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

impl VerifyingKey {
    /// A key from 64 hex characters (surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`KeyError::WrongLength`], [`KeyError::NotHex`] or [`KeyError::InvalidPoint`].
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_hex::<32>(text, "public key")?;
        Self::from_bytes(&bytes)
    }

    /// A key from its 32 bytes.
    ///
    /// # Errors
    /// [`KeyError::InvalidPoint`] if the bytes are not a usable Ed25519 point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let k =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint {
                hex: hex::encode(bytes),
            })?;
        if k.is_weak() {
            return Err(KeyError::InvalidPoint {
                hex: hex::encode(bytes),
            });
        }
        Ok(Self(k))
    }

    /// The 32 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key as 64 lowercase hex characters.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The Python-compatible fingerprint: the first 16 hex characters of the key.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let mut h = self.to_hex();
        h.truncate(16);
        h
    }

    /// The C2SP signed-note key ID of this key under `name`:
    /// the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
    #[must_use]
    pub fn key_id(&self, name: &str) -> KeyId {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(self.0.as_bytes());
        let d = h.finalize();
        let mut id = [0u8; 4];
        id.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
        KeyId(id)
    }

    /// The signed-note verifier key string `name+hex(keyid)+base64(0x01||pubkey)`.
    #[must_use]
    pub fn note_verifier_key(&self, name: &str) -> String {
        let mut raw = Vec::with_capacity(33);
        raw.push(0x01);
        raw.extend_from_slice(self.0.as_bytes());
        format!(
            "{name}+{}+{}",
            self.key_id(name),
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// Verifies `sig` over `msg` with strict rules (canonical `S`, no small-order keys or `R`).
    #[must_use]
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0.verify_strict(msg, &sig).is_ok()
    }
}

/// The 14 encodings of Ed25519 points of small order (the eight torsion points, with either sign
/// bit, plus the non-canonical spellings of y = 0 and y = 1). `verify_strict` rejects a signature
/// whose `R` is one of them; batch verification checks this list instead of decompressing `R`.
const SMALL_ORDER_R: [[u8; 32]; 14] = {
    const fn enc(first: u8, fill: u8, last: u8) -> [u8; 32] {
        let mut b = [fill; 32];
        b[0] = first;
        b[31] = last;
        b
    }
    const fn hex32(s: &[u8; 64]) -> [u8; 32] {
        const fn nib(c: u8) -> u8 {
            if c >= b'a' { c - b'a' + 10 } else { c - b'0' }
        }
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
            i += 1;
        }
        out
    }
    const O8A: [u8; 32] =
        hex32(b"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
    const O8B: [u8; 32] =
        hex32(b"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
    const fn flip(mut b: [u8; 32]) -> [u8; 32] {
        b[31] ^= 0x80;
        b
    }
    [
        enc(0x00, 0x00, 0x00),
        enc(0x00, 0x00, 0x80),
        enc(0x01, 0x00, 0x00),
        enc(0x01, 0x00, 0x80),
        O8A,
        flip(O8A),
        O8B,
        flip(O8B),
        enc(0xec, 0xff, 0x7f),
        enc(0xec, 0xff, 0xff),
        enc(0xed, 0xff, 0x7f),
        enc(0xed, 0xff, 0xff),
        enc(0xee, 0xff, 0x7f),
        enc(0xee, 0xff, 0xff),
    ]
};

impl VerifyingKey {
    /// Verifies many `(message, signature)` pairs under this key at once (randomized batch
    /// equation, about twice as fast per signature as one by one). `true` only if every
    /// signature is valid; on `false`, check them one by one with
    /// [`VerifyingKey::verify_strict`] to name the bad ones.
    ///
    /// The strict rules are kept: a non-canonical `S`, a small-order `R`, or an `R` with a
    /// torsion component (which only the key holder can make, and which `verify_strict`, OpenSSL
    /// and libsodium refuse) fails the batch. Being randomized, the batch can be wrong only in
    /// accepting: a bad signature passes with probability at most 2⁻³² (the torsion tests; the
    /// equation itself about 2⁻¹²⁵), and a valid batch always passes.
    ///
    /// ```
    /// use audit_runtime::SigningKey;
    /// let sk = SigningKey::from_seed(&[7; 32]);
    /// let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 10]).collect();
    /// let sigs: Vec<[u8; 64]> = msgs.iter().map(|m| sk.sign(m)).collect();
    /// let items: Vec<(&[u8], [u8; 64])> = msgs.iter().map(|m| &m[..]).zip(sigs).collect();
    /// assert!(sk.verifying_key().verify_strict_batch(&items));
    /// ```
    #[must_use]
    pub fn verify_strict_batch(&self, items: &[(&[u8], [u8; 64])]) -> bool {
        if items.is_empty() {
            return true;
        }
        ed25519::verify_batch_one_key(&self.0, items, &SMALL_ORDER_R)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.to_hex())
    }
}

impl fmt::Display for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A C2SP signed-note key ID (4 bytes), shown as 8 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// The 4 bytes.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 4] {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_key_has_known_public_half() {
        let sk = SigningKey::from_hex(&"01".repeat(32)).unwrap();
        assert_eq!(
            sk.verifying_key().to_hex(),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        assert_eq!(sk.to_seed_hex().as_str(), "01".repeat(32));
    }

    #[test]
    fn bad_keys_are_errors_not_panics() {
        assert!(matches!(
            VerifyingKey::from_hex("abcd"),
            Err(KeyError::WrongLength { found: 4, .. })
        ));
        assert!(matches!(
            VerifyingKey::from_hex(&"zz".repeat(32)),
            Err(KeyError::NotHex { .. })
        ));
        // The identity point has small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(matches!(
            VerifyingKey::from_bytes(&id),
            Err(KeyError::InvalidPoint { .. })
        ));
        assert!(SigningKey::from_hex(&"0".repeat(63)).is_err());
    }

    #[test]
    fn small_order_list_is_exactly_the_torsion_encodings() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let mut want: Vec<[u8; 32]> = Vec::new();
        for p in &EIGHT_TORSION {
            let c = p.compress().to_bytes();
            let mut d = c;
            d[31] ^= 0x80;
            want.extend([c, d]);
        }
        for first in [0xed, 0xee] {
            let mut y = [0xff; 32];
            y[0] = first;
            y[31] = 0x7f;
            let mut d = y;
            d[31] = 0xff;
            want.extend([y, d]);
        }
        want.sort_unstable();
        want.dedup();
        let mut have = SMALL_ORDER_R.to_vec();
        have.sort_unstable();
        assert_eq!(have, want);
        for e in &have {
            let p = CompressedEdwardsY(*e).decompress().unwrap();
            assert!(p.is_small_order());
        }
    }

    #[test]
    fn batch_rejects_a_bad_signature_and_a_small_order_r() {
        let sk = SigningKey::from_seed(&[9; 32]);
        let vk = sk.verifying_key();
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 33]).collect();
        let mut sigs: Vec<[u8; 64]> = msgs.iter().map(|m| sk.sign(m)).collect();
        let items = |sigs: &[[u8; 64]]| -> bool {
            let v: Vec<(&[u8], [u8; 64])> = msgs
                .iter()
                .map(|m| &m[..])
                .zip(sigs.iter().copied())
                .collect();
            vk.verify_strict_batch(&v)
        };
        assert!(items(&sigs));
        sigs[17][5] ^= 1;
        assert!(!items(&sigs));
        sigs[17] = sk.sign(&msgs[17]);
        sigs[3][..32].copy_from_slice(&SMALL_ORDER_R[2]);
        assert!(!items(&sigs));
        sigs[3] = sk.sign(&msgs[3]);
        assert!(items(&sigs));
    }

    #[test]
    fn debug_never_prints_the_seed() {
        let sk = SigningKey::from_hex(&"ab".repeat(32)).unwrap();
        let d = format!("{sk:?}");
        assert!(!d.contains("abab"), "{d}");
    }

    #[test]
    fn signed_note_key_id_matches_the_c2sp_definition() {
        let vk = SigningKey::from_hex(&"01".repeat(32))
            .unwrap()
            .verifying_key();
        let mut h = Sha256::new();
        h.update(b"audit.example.com\n\x01");
        h.update(vk.to_bytes());
        let want = hex::encode(&h.finalize()[..4]);
        assert_eq!(vk.key_id("audit.example.com").to_string(), want);
        assert!(
            vk.note_verifier_key("audit.example.com")
                .starts_with(&format!("audit.example.com+{want}+AYqI"))
        );
    }
}
