//! Byte writers: orjson's string escapes, numbers, and values in sorted or insertion order.

use super::float::write_f64;
use super::value::{Number, Object, Value};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string with orjson's escapes: `\" \\ \b \f \n \r \t`, other control
/// characters as `\u00xx` (lowercase hex); everything else, including 0x7F, U+2028, U+2029 and
/// `/`, is written as raw UTF-8.
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    // Most strings (hashes, ids, names) need no escape. The scan has no early exit so that it
    // compiles to wide compares; only strings that need escaping take the byte loop.
    let plain = !bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            for nibble in [b >> 4, b & 0xf] {
                out.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
            }
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

pub(crate) fn write_number(n: &Number, out: &mut Vec<u8>) {
    match n.as_int() {
        Some(i) => out.extend_from_slice(i.to_string().as_bytes()),
        None => write_f64(n.as_f64(), out),
    }
}

/// Which key order to write objects in.
#[derive(Clone, Copy)]
enum Order {
    Sorted,
    Insertion,
}

fn write_value(v: &Value, order: Order, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, order, out);
            }
            out.push(b']');
        }
        Value::Object(obj) => write_object(obj, order, out),
    }
}

fn write_object(obj: &Object, order: Order, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut entries: Vec<(&str, &Value)> = obj.iter().collect();
    if matches!(order, Order::Sorted) {
        // Byte order of UTF-8 equals code-point order, which is what orjson's OPT_SORT_KEYS uses.
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write_value(v, order, out);
    }
    out.push(b'}');
}

/// Appends `v` with object keys sorted recursively by code point (the seal-payload rule).
pub(crate) fn write_value_sorted(v: &Value, out: &mut Vec<u8>) {
    write_value(v, Order::Sorted, out);
}

/// Appends `v` with object keys in insertion order (the JSONL-line rule).
pub(crate) fn write_value_ordered(v: &Value, out: &mut Vec<u8>) {
    write_value(v, Order::Insertion, out);
}

pub(crate) fn write_object_sorted(o: &Object, out: &mut Vec<u8>) {
    write_object(o, Order::Sorted, out);
}

pub(crate) fn write_object_ordered(o: &Object, out: &mut Vec<u8>) {
    write_object(o, Order::Insertion, out);
}

/// Lowercase hex of `bytes`. (`hex::encode` builds its string one `char` at a time, which showed
/// up as a third of the caller-side cost of an audited call; this writes the bytes in one go.)
#[must_use]
pub(crate) fn to_hex(bytes: impl AsRef<[u8]>) -> String {
    fn digit(n: u8) -> u8 {
        if n < 10 { b'0' + n } else { b'a' + (n - 10) }
    }
    let bytes = bytes.as_ref();
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
    // Only ASCII digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// A value's `Debug` is its compact JSON, keys in insertion order.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::new();
        write_value_ordered(self, &mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut out = Vec::new();
        write_str(x, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_orjson() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(s("\u{0}\u{1f}\u{1c}"), r#""\u0000\u001f\u001c""#);
        assert_eq!(
            s("\u{7f}/\u{2028}\u{2029}\u{85}é😀"),
            "\"\u{7f}/\u{2028}\u{2029}\u{85}é😀\""
        );
    }

    #[test]
    fn sorts_keys_by_code_point_recursively() {
        let inner = Object::new().with("b", 1).with("a", 2);
        let o = Object::new()
            .with("😀", 1)
            .with("ﬁ", 2)
            .with("é", 3)
            .with("z", inner)
            .with("A", Value::Null);
        let mut out = Vec::new();
        write_object_sorted(&o, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"A":null,"z":{"a":2,"b":1},"é":3,"ﬁ":2,"😀":1}"#
        );
    }
}
