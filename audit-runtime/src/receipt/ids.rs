//! Identifier newtypes, so a tenant is never passed where a receipt id is expected.

use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string. Any string is accepted, as in the v1 format.
            #[must_use]
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The identifier as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the identifier and returns its string.
            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(v: &str) -> Self {
                Self(v.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(v: String) -> Self {
                Self(v)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A receipt's identifier (`receipt_id`); by default a UUIDv7 in 32 lowercase hex digits.
    ReceiptId
);
string_id!(
    /// A tenant (`tenant_id`): each tenant has its own hash chain. The empty string is a valid tenant.
    TenantId
);
string_id!(
    /// A trace identifier (`trace_id`) that ties the receipts of one request together.
    TraceId
);
string_id!(
    /// A session identifier (`session_id`).
    SessionId
);

impl ReceiptId {
    /// A fresh identifier: a UUIDv7 (RFC 9562) in 32 lowercase hex digits, the shape of the
    /// Python library's `uuid4().hex` (any string is a valid v1 `receipt_id`).
    ///
    /// Version 7 starts with the Unix time in milliseconds, so ids made one after another sort
    /// together and the store's id index grows at its right edge: a group commit then writes a
    /// few index pages instead of one random page per receipt, however large the store is. The
    /// remaining 74 bits are random, so ids stay unique and unguessable from one another.
    ///
    /// Ids need to be unique, not secret: each thread seeds a generator once from the operating
    /// system (falling back to the time, the process id and a counter) and then derives the
    /// random bits by hashing a counter with SipHash under that seed, which avoids a system call
    /// per receipt.
    #[must_use]
    pub fn random() -> Self {
        use std::cell::Cell;
        use std::hash::{BuildHasher, Hasher};
        thread_local! {
            static SEED: ([u8; 16], Cell<u64>) = {
                let mut s = [0u8; 16];
                if getrandom::fill(&mut s).is_err() {
                    s = fallback_entropy();
                }
                (s, Cell::new(0))
            };
        }
        let mut b = SEED.with(|(seed, counter)| {
            let n = counter.get();
            counter.set(n.wrapping_add(1));
            let mut out = [0u8; 16];
            for (half, lane) in out.chunks_mut(8).zip([0u8, 1u8]) {
                let mut h = std::hash::BuildHasherDefault::<
                    std::collections::hash_map::DefaultHasher,
                >::default()
                .build_hasher();
                h.write(seed);
                h.write_u8(lane);
                h.write_u64(n);
                half.copy_from_slice(&h.finish().to_le_bytes());
            }
            out
        });
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        for (dst, src) in b.iter_mut().zip(&millis.to_be_bytes()[2..]) {
            *dst = *src; // 48-bit big-endian milliseconds
        }
        b[6] = (b[6] & 0x0f) | 0x70; // version 7
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
        Self(crate::json::to_hex(b))
    }
}

/// Why a text is not a tenant id that may enter from outside ([`TenantId::parse`]).
///
/// The messages say what is wrong and what is allowed; they never repeat the offered text,
/// which came from outside and may be anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantIdError {
    /// The text is empty.
    #[error(
        "a tenant id must not be empty; use 1 to {max} bytes of text without control characters",
        max = TenantId::MAX_LEN
    )]
    Empty,
    /// The text is longer than [`TenantId::MAX_LEN`] bytes.
    #[error(
        "a tenant id is at most {max} bytes of UTF-8, this one has {len}",
        max = TenantId::MAX_LEN
    )]
    TooLong {
        /// The text's length in bytes.
        len: usize,
    },
    /// The text holds a control character (a newline, a tab, `U+0000`, …).
    #[error(
        "a tenant id must not contain control characters (newlines, tabs, NUL, …); found one at byte {at}"
    )]
    ControlCharacter {
        /// The byte offset of the first control character.
        at: usize,
    },
    /// The text starts or ends with whitespace.
    #[error("a tenant id must not start or end with whitespace; trim it")]
    SurroundingWhitespace,
    /// The text holds an invisible formatting character (zero-width, bidirectional override,
    /// soft hyphen, byte-order mark), which would let two tenant ids look alike.
    #[error(
        "a tenant id must not contain invisible formatting characters (zero-width, bidirectional controls, soft hyphen, BOM); found one at byte {at}"
    )]
    InvisibleCharacter {
        /// The byte offset of the first such character.
        at: usize,
    },
}

/// Characters that print as nothing, or reorder what follows, in most renderings.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

impl TenantId {
    /// The longest tenant id [`TenantId::parse`] accepts, in bytes of UTF-8.
    pub const MAX_LEN: usize = 128;

    /// Checks a tenant id that enters from outside (an HTTP header, a query parameter, a
    /// configuration file): 1 to [`TenantId::MAX_LEN`] bytes, no control characters, no leading
    /// or trailing whitespace. Anything else, including spaces inside and any other Unicode, is
    /// kept exactly as given.
    ///
    /// [`TenantId::new`] accepts any string, because stored v1 receipts (from the Python
    /// library too) may carry any tenant, even `""`; use `parse` wherever a tenant is named by
    /// someone the service does not control.
    ///
    /// # Errors
    /// A [`TenantIdError`] that says which rule the text breaks.
    ///
    /// # Examples
    /// ```
    /// use audit_runtime::receipt::{TenantId, TenantIdError};
    ///
    /// assert_eq!(TenantId::parse("bank-eu")?.as_str(), "bank-eu");
    /// assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
    /// assert_eq!(TenantId::parse(" acme"), Err(TenantIdError::SurroundingWhitespace));
    /// assert_eq!(TenantId::parse("ac\nme"), Err(TenantIdError::ControlCharacter { at: 2 }));
    /// # Ok::<(), TenantIdError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, TenantIdError> {
        Self::check(text)?;
        Ok(Self(text.to_owned()))
    }

    /// What [`TenantId::parse`] checks, without making a tenant id.
    ///
    /// # Errors
    /// As [`TenantId::parse`].
    pub fn check(text: &str) -> Result<(), TenantIdError> {
        if text.is_empty() {
            return Err(TenantIdError::Empty);
        }
        if text.len() > Self::MAX_LEN {
            return Err(TenantIdError::TooLong { len: text.len() });
        }
        if let Some((at, _)) = text.char_indices().find(|(_, c)| c.is_control()) {
            return Err(TenantIdError::ControlCharacter { at });
        }
        if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
            return Err(TenantIdError::SurroundingWhitespace);
        }
        if let Some((at, _)) = text.char_indices().find(|(_, c)| is_invisible(*c)) {
            return Err(TenantIdError::InvisibleCharacter { at });
        }
        Ok(())
    }
}

fn fallback_entropy() -> [u8; 16] {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h = Sha256::new();
    h.update(n.to_le_bytes());
    h.update(t.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(d.get(..16).unwrap_or(&[0u8; 16]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_uuid7_hex_and_time_ordered() {
        let a = ReceiptId::random();
        let b = ReceiptId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(
            a.as_str()
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(&a.as_str()[12..13], "7");
        assert!("89ab".contains(&a.as_str()[16..17]));
        // The first 48 bits are the current Unix time in milliseconds.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let ms = u128::from_str_radix(&b.as_str()[..12], 16).unwrap();
        assert!(now.abs_diff(ms) < 60_000, "{ms} vs {now}");
        // Ids made later sort later (at millisecond resolution).
        std::thread::sleep(std::time::Duration::from_millis(2));
        let c = ReceiptId::random();
        assert!(c.as_str() > a.as_str());
        // Many ids, one thread and several: no duplicates.
        let mut all: std::collections::HashSet<String> = (0..10_000)
            .map(|_| ReceiptId::random().into_string())
            .collect();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..10_000)
                        .map(|_| ReceiptId::random().into_string())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            all.extend(h.join().unwrap());
        }
        assert_eq!(all.len(), 50_000);
    }

    #[test]
    fn tenant_parse_accepts_ordinary_names_as_given() {
        for name in [
            "bank-eu",
            "acme",
            "a",
            "Tenant 7",
            "bänk/ß.eu",
            &"x".repeat(128),
        ] {
            assert_eq!(TenantId::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn tenant_parse_rejects_empty_text() {
        assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
    }

    #[test]
    fn tenant_parse_rejects_more_than_128_bytes_counting_utf8() {
        assert_eq!(
            TenantId::parse(&"x".repeat(129)),
            Err(TenantIdError::TooLong { len: 129 })
        );
        // 65 two-byte characters are 130 bytes.
        assert_eq!(
            TenantId::parse(&"ä".repeat(65)),
            Err(TenantIdError::TooLong { len: 130 })
        );
    }

    #[test]
    fn tenant_parse_rejects_leading_or_trailing_whitespace() {
        for text in [" acme", "acme ", "\u{a0}acme", "acme\u{3000}", " "] {
            assert_eq!(
                TenantId::parse(text),
                Err(TenantIdError::SurroundingWhitespace),
                "{text:?}"
            );
        }
    }

    #[test]
    fn tenant_parse_rejects_control_and_invisible_characters_and_says_where() {
        type E = TenantIdError;
        let at = |at| E::ControlCharacter { at };
        let invisible = |at| E::InvisibleCharacter { at };
        for (text, want) in [
            ("a\nb", at(1)),
            ("\0", at(0)),
            ("ab\tc", at(2)),
            ("ä\u{7f}", at(2)),
            ("a\u{85}", at(1)),
            ("ac\u{200B}me", invisible(2)),
            ("acme\u{202E}x", invisible(4)),
            ("a\u{2066}cme", invisible(1)),
            ("\u{FEFF}x", invisible(0)),
            ("ac\u{00AD}me", invisible(2)),
        ] {
            assert_eq!(TenantId::parse(text), Err(want), "{text:?}");
        }
        assert!(TenantId::parse("Zürich-Bank").is_ok());
    }

    #[test]
    fn tenant_parse_errors_say_what_is_allowed_without_repeating_the_text() {
        let e = TenantId::parse(&format!("secret{}", "x".repeat(200))).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("at most 128 bytes"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(TenantIdError::Empty.to_string().contains("1 to 128 bytes"));
    }

    #[test]
    fn tenant_new_still_accepts_any_string() {
        assert_eq!(TenantId::new("").as_str(), "");
        assert_eq!(TenantId::new(" a\n").as_str(), " a\n");
    }
}
