//! orjson 3.13's float spelling, which the v1 seal payload depends on.
//!
//! The rule: the shortest digits that round-trip (the digits Python's `repr` prints); plain decimal
//! when `x == 0` or `1e-5 <= |x| < 1e16`, with `.0` added to integral values; otherwise
//! `d[.ddd]e±N` with an explicit sign and no zero padding. NaN and infinities are written as `null`.

use std::fmt::Write as _;

/// A small stack buffer that `{:e}` formatting writes into, so the hot path does not allocate.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends orjson's spelling of `x` to `out`.
pub(crate) fn write_f64(x: f64, out: &mut Vec<u8>) {
    if !x.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if x.is_sign_negative() {
        out.push(b'-');
    }
    let ax = x.abs();
    let mut sci = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    // `{:e}` on a finite f64 prints the shortest round-trip digits, e.g. "1.5e16" or "5e-324";
    // it needs at most 24 bytes, so the 40-byte buffer cannot overflow.
    if write!(sci, "{ax:e}").is_err() {
        out.extend_from_slice(b"null");
        return;
    }
    let text = sci.buf.get(..sci.len).unwrap_or_default();
    let e_pos = text.iter().position(|&b| b == b'e').unwrap_or(text.len());
    let (mantissa, exp_part) = text.split_at(e_pos);
    let exp: i32 = exp_part
        .get(1..)
        .and_then(|e| std::str::from_utf8(e).ok())
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut n = 0;
    for &b in mantissa {
        if b != b'.'
            && let Some(slot) = digits.get_mut(n)
        {
            *slot = b;
            n += 1;
        }
    }
    let digits = digits.get(..n).unwrap_or_default();

    if ax == 0.0 || (1e-5..1e16).contains(&ax) {
        write_plain(digits, exp, out);
    } else {
        write_scientific(digits, exp, out);
    }
}

fn write_plain(digits: &[u8], exp: i32, out: &mut Vec<u8>) {
    if exp < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
        return;
    }
    let int_len = usize::try_from(exp).unwrap_or(0) + 1;
    if digits.len() <= int_len {
        out.extend_from_slice(digits);
        for _ in digits.len()..int_len {
            out.push(b'0');
        }
        out.extend_from_slice(b".0");
    } else {
        let (int_part, frac) = digits.split_at(int_len);
        out.extend_from_slice(int_part);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

fn write_scientific(digits: &[u8], exp: i32, out: &mut Vec<u8>) {
    if let Some((first, rest)) = digits.split_first() {
        out.push(*first);
        if !rest.is_empty() {
            out.push(b'.');
            out.extend_from_slice(rest);
        }
    }
    out.push(b'e');
    out.push(if exp < 0 { b'-' } else { b'+' });
    let mut num = itoa_buf(u64::from(exp.unsigned_abs()));
    out.append(&mut num);
}

fn itoa_buf(mut v: u64) -> Vec<u8> {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        if let Some(slot) = tmp.get_mut(i) {
            // `v % 10` is below 10, so the cast cannot truncate.
            *slot = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    tmp.get(i..).unwrap_or_default().to_vec()
}

/// orjson's spelling of `x` as a `String` (for tests and diagnostics).
#[must_use]
pub fn format_f64(x: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_f64(x, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::format_f64;

    #[test]
    fn spells_the_documented_examples() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (0.00001, "0.00001"),
            (9.99999e-6, "9.99999e-6"),
            (0.00012, "0.00012"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e-7, "1e-7"),
            (5e-324, "5e-324"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123_456_789.0, "123456789.0"),
            (1.234_567_890_123_456_8e17, "1.2345678901234568e+17"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
            (1e308, "1e+308"),
            (-2.5, "-2.5"),
        ];
        for (x, want) in cases {
            assert_eq!(format_f64(*x), *want, "{x:?}");
        }
    }
}
