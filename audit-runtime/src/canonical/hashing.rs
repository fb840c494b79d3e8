//! The v1 hashing helpers, byte-compatible with `ai_audit.hashing`.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::json::{Value, to_hex, write_value_sorted};
use crate::receipt::Receipt;

/// Lowercase hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(Sha256::digest(bytes))
}

/// Python's `str.isspace()` set, which `re`'s `\s` and `str.strip()` use: 0x09–0x0D, 0x1C–0x1F,
/// 0x20, 0x85, 0xA0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
/// (Rust's `char::is_whitespace` differs: it lacks 0x1C–0x1F.)
fn is_python_space(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{d}' | '\u{1c}'..='\u{20}' | '\u{85}' | '\u{a0}' | '\u{1680}'
        | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// The `input_c14n` hash: SHA-256 of the NFKC-normalized text with runs of whitespace collapsed
/// to one space, stripped, and lowercased (full Unicode lowercasing).
///
/// ```
/// use audit_runtime::canonical::canonicalize_input;
/// assert_eq!(canonicalize_input("  Hello\u{1c}\tWORLD "), canonicalize_input("hello world"));
/// ```
#[must_use]
pub fn canonicalize_input(text: &str) -> String {
    let fast = match single_spaced_latin1(text) {
        Ok(bytes) => Some(bytes),
        Err(NotSimple::Latin1) => latin1_canonical(text),
        Err(NotSimple::Beyond) => None,
    };
    match fast {
        Some(bytes) => sha256_hex(&bytes),
        None => canonicalize_general(text),
    }
}

/// Why [`single_spaced_latin1`] declined a text.
enum NotSimple {
    /// Only Latin-1 characters, but other whitespace: [`latin1_canonical`] may take it.
    Latin1,
    /// A character beyond U+00FF: only the general path can.
    Beyond,
}

/// The second byte of the two-byte characters U+0080–U+00BF that [`single_spaced_latin1`]
/// declines: NFKC changes them, or they are whitespace (U+0085, U+00A0, which
/// [`latin1_canonical`] takes as spaces).
fn is_special_c2(n: u8) -> bool {
    matches!(
        n,
        0x85 | 0xa0 | 0xa8 | 0xaa | 0xaf | 0xb2..=0xb5 | 0xb8..=0xba | 0xbc..=0xbe
    )
}

/// The lowercase of U+00C0–U+00FF by the second byte of its UTF-8 (the code point − 0x40):
/// U+00C0–U+00DE but U+00D7 (×) move up by 0x20, the rest are lowercase already.
fn lower_c3(n: u8) -> u8 {
    if matches!(n, 0x80..=0x96 | 0x98..=0x9e) {
        n + 0x20
    } else {
        n
    }
}

/// The canonical bytes of the most common text: Latin-1 (as [`latin1_canonical`] takes it)
/// whose only whitespace is single ASCII spaces between words. Collapsing and stripping then
/// change nothing, and the result is the text lowercased, done with passes over the whole slice
/// (which the compiler vectorizes) instead of a branch per byte: about a third of the time for
/// the benchmark's 500 characters. Otherwise says which path to try next.
fn single_spaced_latin1(text: &str) -> Result<Vec<u8>, NotSimple> {
    let bytes = text.as_bytes();
    // No early exit, so that the scans compile to wide compares.
    if bytes.iter().fold(false, |any, &b| any | (b >= 0xc4)) {
        return Err(NotSimple::Beyond);
    }
    let other_space = bytes.iter().fold(false, |any, &b| {
        any | matches!(b, 0x09..=0x0d | 0x1c..=0x1f)
    });
    let double = bytes
        .iter()
        .zip(bytes.iter().skip(1))
        .fold(false, |any, (&a, &b)| any | ((a == b' ') & (b == b' ')));
    if other_space || double || bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return Err(NotSimple::Latin1);
    }
    let mut out = bytes.to_vec();
    out.make_ascii_lowercase();
    // The two-byte characters: refuse those NFKC changes or that are spaces, lowercase
    // U+00C0–U+00DE but U+00D7.
    let mut at = 0;
    while let Some(i) = out
        .get(at..)
        .and_then(|t| t.iter().position(|&b| b >= 0xc2))
    {
        let lead = at + i;
        // A lead byte is always followed by its continuation byte in a `str`.
        let n = *out.get(lead + 1).ok_or(NotSimple::Latin1)?;
        match out.get(lead) {
            Some(0xc2) if is_special_c2(n) => return Err(NotSimple::Latin1),
            Some(0xc3) => {
                if let Some(c) = out.get_mut(lead + 1) {
                    *c = lower_c3(n);
                }
            }
            _ => {}
        }
        at = lead + 2;
    }
    Ok(out)
}

/// The canonical bytes of a text made only of Latin-1 characters (U+0000–U+00FF) other than
/// the thirteen that NFKC maps to something else (U+00A8 ¨, U+00AA ª, U+00AF ¯, U+00B2–U+00B5,
/// U+00B8–U+00BA, U+00BC–U+00BE), in one pass over the bytes; `None` for any other text.
///
/// For these characters NFKC is the identity (none has a decomposition and none composes with
/// another), except U+00A0, which it maps to a space; lowercasing is one character to one:
/// `A`–`Z` and U+00C0–U+00DE but U+00D7 (×) move up by 0x20. Spaces are collapsed and stripped
/// by writing one only before the next non-space.
fn latin1_canonical(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut pending_space = false;
    let mut rest = text.as_bytes();
    loop {
        // A run of printable ASCII, copied and lowercased in bulk.
        let run = rest
            .iter()
            .position(|b| !(0x21..=0x7e).contains(b))
            .unwrap_or(rest.len());
        if run > 0 {
            let (word, tail) = rest.split_at_checked(run)?;
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            let start = out.len();
            out.extend_from_slice(word);
            out.get_mut(start..)?.make_ascii_lowercase();
            rest = tail;
        }
        let mut bytes = rest.iter();
        let Some(&b) = bytes.next() else { break };
        let (lead, next) = match b {
            0x09..=0x0d | 0x1c..=0x20 => {
                pending_space = !out.is_empty();
                rest = bytes.as_slice();
                continue;
            }
            0x00..=0x7f => (b.to_ascii_lowercase(), None),
            // U+0080–U+00BF: the second byte is the code point.
            0xc2 => match *bytes.next()? {
                0x85 | 0xa0 => {
                    pending_space = !out.is_empty();
                    rest = bytes.as_slice();
                    continue;
                }
                n if is_special_c2(n) => return None,
                n => (0xc2, Some(n)),
            },
            // U+00C0–U+00FF: the second byte is the code point − 0x40.
            0xc3 => (0xc3, Some(lower_c3(*bytes.next()?))),
            _ => return None,
        };
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(lead);
        out.extend(next);
        rest = bytes.as_slice();
    }
    Some(out)
}

/// [`canonicalize_input`] for any text.
fn canonicalize_general(text: &str) -> String {
    let normalized: String;
    let already_nfkc = text.is_ascii()
        || unicode_normalization::is_nfkc_quick(text.chars())
            == unicode_normalization::IsNormalized::Yes;
    let text = if already_nfkc {
        text
    } else {
        normalized = text.nfkc().collect();
        &normalized
    };
    // Lowercasing is done char by char in the same pass, except when the text has a capital
    // sigma: only its lowercase depends on context (final sigma), so only then is the whole
    // string lowercased at the end. No char lowercases to a space, so collapsing first is the
    // same as collapsing the lowercased text.
    let per_char = !text.contains('\u{3a3}');
    let mut collapsed = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if is_python_space(c) {
            if !in_space {
                collapsed.push(' ');
                in_space = true;
            }
            continue;
        }
        in_space = false;
        if !per_char {
            collapsed.push(c);
        } else if c.is_ascii() {
            collapsed.push(c.to_ascii_lowercase());
        } else {
            collapsed.extend(c.to_lowercase());
        }
    }
    let stripped = collapsed.trim_matches(' ');
    if per_char {
        sha256_hex(stripped.as_bytes())
    } else {
        sha256_hex(stripped.to_lowercase().as_bytes())
    }
}

/// The `output_hash`: SHA-256 of the UTF-8 bytes, with no normalization.
#[must_use]
pub fn hash_output(text: &str) -> String {
    sha256_hex(text.as_bytes())
}

/// The `state_digest`: SHA-256 of the parts joined with `|`.
#[must_use]
pub fn hash_state<S: AsRef<str>>(parts: &[S]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b"|");
        }
        h.update(p.as_ref().as_bytes());
    }
    to_hex(h.finalize())
}

/// SHA-256 of a value's canonical bytes (keys sorted recursively, compact, orjson spelling).
///
/// ```
/// use audit_runtime::canonical::hash_json;
/// use audit_runtime::json::{Object, Value};
/// let v = Value::from(Object::new().with("b", 1).with("a", 2));
/// assert_eq!(hash_json(&v), audit_runtime::canonical::sha256_hex(br#"{"a":2,"b":1}"#));
/// ```
#[must_use]
pub fn hash_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_value_sorted(value, &mut out);
    sha256_hex(&out)
}

impl Receipt {
    /// Sets `input_c14n` to [`canonicalize_input`] of `text`.
    #[must_use]
    pub fn with_input_text(mut self, text: &str) -> Self {
        self.input_c14n = canonicalize_input(text);
        self
    }

    /// Sets `output_hash` to [`hash_output`] of `text`.
    #[must_use]
    pub fn with_output_text(mut self, text: &str) -> Self {
        self.output_hash = hash_output(text);
        self
    }

    /// Sets `state_digest` to [`hash_state`] of `parts`.
    #[must_use]
    pub fn with_state<S: AsRef<str>>(mut self, parts: &[S]) -> Self {
        self.state_digest = hash_state(parts);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_set_is_exact() {
        let py: Vec<u32> = vec![
            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let ours: Vec<u32> = (0..0x11000u32)
            .filter_map(char::from_u32)
            .filter(|c| is_python_space(*c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, py);
    }

    #[test]
    fn collapses_strips_and_lowercases() {
        assert_eq!(
            canonicalize_input("\u{1f}A\u{3000}\u{3000}B\u{85}"),
            sha256_hex(b"a b")
        );
        assert_eq!(canonicalize_input("ΟΔΟΣ"), sha256_hex("οδος".as_bytes()));
        assert_eq!(canonicalize_input("İ"), sha256_hex("i\u{307}".as_bytes()));
        assert_eq!(canonicalize_input("ﬁ"), sha256_hex(b"fi"));
        assert_eq!(hash_state(&["", ""]), sha256_hex(b"|"));
    }

    /// The plain algorithm (collapse, strip, then lowercase the whole string), which the fused
    /// one must equal.
    fn reference(text: &str) -> String {
        let text: String = text.nfkc().collect();
        let mut collapsed = String::new();
        let mut in_space = false;
        for c in text.chars() {
            if is_python_space(c) {
                if !in_space {
                    collapsed.push(' ');
                }
                in_space = true;
            } else {
                collapsed.push(c);
                in_space = false;
            }
        }
        sha256_hex(collapsed.trim_matches(' ').to_lowercase().as_bytes())
    }

    #[test]
    fn the_latin1_path_equals_the_general_one() {
        // Every Latin-1 character alone, after a letter and between spaces.
        for c in (0..=0xffu32).filter_map(char::from_u32) {
            for t in [
                c.to_string(),
                format!("a{c}"),
                format!(" {c}b "),
                format!("{c}{c}"),
            ] {
                assert_eq!(canonicalize_input(&t), reference(&t), "{t:?}");
            }
        }
        let (input, _) = crate::workload::texts();
        assert!(
            single_spaced_latin1(&input).is_ok(),
            "the workload takes the fastest path"
        );
        assert!(latin1_canonical(&input).is_some(), "and the Latin-1 path");
        for t in ["a  b", "a\tb", " a", "a ", "a\u{a0}b", "\u{b5}", "a\u{100}"] {
            assert!(single_spaced_latin1(t).is_err(), "{t:?}");
        }
        // Past U+00FF the byte loop is skipped; other whitespace goes to it.
        assert!(matches!(
            single_spaced_latin1("it\u{2019}s"),
            Err(NotSimple::Beyond)
        ));
        assert!(matches!(
            single_spaced_latin1("a\tb"),
            Err(NotSimple::Latin1)
        ));
        assert!(latin1_canonical("caf\u{e9}\u{301}").is_none());
        assert!(latin1_canonical("\u{b5}").is_none());
        proptest::proptest!(|(t in "[\u{0}-\u{ff}]{0,60}")| {
            proptest::prop_assert_eq!(canonicalize_input(&t), reference(&t));
        });
        // Words of Latin-1 letters and marks between single spaces: the fastest path.
        let words = "[a-zA-Z\u{80}-\u{ff},.!]{1,8}( [a-zA-Z\u{80}-\u{ff},.!]{1,8}){0,12}";
        proptest::proptest!(|(t in words)| {
            proptest::prop_assert_eq!(canonicalize_input(&t), reference(&t));
        });
        let spaced = "[a-zA-Z\u{c0}-\u{ff} \t\n\x0b\x1c\x1f\u{85}\u{a0}\u{a8}\u{b5}]{0,60}";
        proptest::proptest!(|(t in spaced)| {
            proptest::prop_assert_eq!(canonicalize_input(&t), reference(&t));
        });
    }

    #[test]
    fn fused_lowercasing_equals_whole_string_lowercasing() {
        for t in [
            "ΟΔΟΣ ΟΔΟΣ.",
            "Σ",
            "aΣ b",
            "İstanbul ǅ ǈ ẞ Ω K Å",
            "  Straße\u{2028}ÉCOLE\t\tﬁ  ",
            "ΑΣ\u{1c}X",
            "",
            "   ",
        ] {
            assert_eq!(canonicalize_input(t), reference(t), "{t:?}");
        }
        proptest::proptest!(|(t in "\\PC{0,40}")| {
            proptest::prop_assert_eq!(canonicalize_input(&t), reference(&t));
        });
        // Mostly ASCII, with every kind of space, combining marks, compatibility chars and
        // sigmas between the ASCII runs.
        let mixed = "[a-zA-Z0-9.,\\- \t\n\x0b\x1c\x1f\u{85}\u{a0}\u{2009}\u{3000}ΣσςİÅé\u{301}\u{327}ﬁ①Ⅻ]{0,60}";
        proptest::proptest!(|(t in mixed)| {
            proptest::prop_assert_eq!(canonicalize_input(&t), reference(&t));
        });
    }
}
