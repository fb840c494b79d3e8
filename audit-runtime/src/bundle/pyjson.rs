//! The two JSON dialects of a v1 bundle's metadata files:
//! - Python's `json.dumps(v, sort_keys=True[, indent=2])` (the manifest and its signed bytes):
//!   separators `", "`/`": "` (`","` at line ends when indented), `ensure_ascii` escapes
//!   (`\uXXXX`, lowercase, surrogate pairs), Python's float `repr`;
//! - orjson's `OPT_INDENT_2 | OPT_SORT_KEYS` (`chain_metadata.json`): raw UTF-8, orjson escapes.

use crate::json::{Object, Value};
use crate::json::{write_f64_python, write_number, write_str};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as Python's `json.dumps` (ensure_ascii) spells a string.
fn write_str_ascii(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.extend_from_slice(b"\\u");
                    for shift in [12u16, 8, 4, 0] {
                        let nibble = usize::from((*u >> shift) & 0xf);
                        out.push(HEX.get(nibble).copied().unwrap_or(b'0'));
                    }
                }
            }
        }
    }
    out.push(b'"');
}

fn newline(indent: Option<usize>, depth: usize, out: &mut Vec<u8>) {
    if let Some(n) = indent {
        out.push(b'\n');
        out.resize(out.len() + n * depth, b' ');
    }
}

fn sorted(o: &Object) -> Vec<(&str, &Value)> {
    let mut items: Vec<(&str, &Value)> = o.iter().collect();
    // Python sorts str keys by code point, which is UTF-8 byte order.
    items.sort_by(|a, b| a.0.cmp(b.0));
    items
}

/// Appends Python's `json.dumps(v, sort_keys=True, indent=indent)` to `out`.
pub(crate) fn write_python(v: &Value, indent: Option<usize>, out: &mut Vec<u8>) {
    write_python_at(v, indent, 0, out);
}

fn write_python_at(v: &Value, indent: Option<usize>, depth: usize, out: &mut Vec<u8>) {
    let item_sep: &[u8] = if indent.is_some() { b"," } else { b", " };
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => match n.as_int() {
            Some(i) => out.extend_from_slice(i.to_string().as_bytes()),
            None => write_f64_python(n.as_f64(), out),
        },
        Value::String(s) => write_str_ascii(s, out),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(item_sep);
                }
                newline(indent, depth + 1, out);
                write_python_at(item, indent, depth + 1, out);
            }
            newline(indent, depth, out);
            out.push(b']');
        }
        Value::Object(o) => {
            if o.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.push(b'{');
            for (i, (k, val)) in sorted(o).into_iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(item_sep);
                }
                newline(indent, depth + 1, out);
                write_str_ascii(k, out);
                out.extend_from_slice(b": ");
                write_python_at(val, indent, depth + 1, out);
            }
            newline(indent, depth, out);
            out.push(b'}');
        }
    }
}

/// Appends orjson's `dumps(v, option=OPT_INDENT_2 | OPT_SORT_KEYS)` to `out`.
pub(crate) fn write_orjson_indented(v: &Value, out: &mut Vec<u8>) {
    write_orjson_at(v, 0, out);
}

fn write_orjson_at(v: &Value, depth: usize, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(Some(2), depth + 1, out);
                write_orjson_at(item, depth + 1, out);
            }
            newline(Some(2), depth, out);
            out.push(b']');
        }
        Value::Object(o) => {
            if o.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.push(b'{');
            for (i, (k, val)) in sorted(o).into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(Some(2), depth + 1, out);
                write_str(k, out);
                out.extend_from_slice(b": ");
                write_orjson_at(val, depth + 1, out);
            }
            newline(Some(2), depth, out);
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn py(v: &Value, indent: Option<usize>) -> String {
        let mut out = Vec::new();
        write_python(v, indent, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn python_dumps_sorts_keys_and_escapes_to_ascii() {
        let v =
            parse("{\"b\":[1,2.5,1e-5,1e16,null,true],\"a\":\"é😀\\u007f\\n\\u0001\"}".as_bytes())
                .unwrap();
        assert_eq!(
            py(&v, None),
            r#"{"a": "\u00e9\ud83d\ude00\u007f\n\u0001", "b": [1, 2.5, 1e-05, 1e+16, null, true]}"#
        );
        assert_eq!(
            py(&v, Some(2)),
            "{\n  \"a\": \"\\u00e9\\ud83d\\ude00\\u007f\\n\\u0001\",\n  \"b\": [\n    1,\n    2.5,\n    1e-05,\n    1e+16,\n    null,\n    true\n  ]\n}"
        );
        assert_eq!(
            py(&parse(b"{\"e\":{},\"l\":[]}").unwrap(), Some(2)),
            "{\n  \"e\": {},\n  \"l\": []\n}"
        );
    }

    #[test]
    fn orjson_indent_keeps_utf8_and_has_no_trailing_newline() {
        let v = parse("{\"t\":\"é\",\"n\":3}".as_bytes()).unwrap();
        let mut out = Vec::new();
        write_orjson_indented(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"n\": 3,\n  \"t\": \"é\"\n}"
        );
    }
}
