//! orjson 3.13's float spelling, which the v1 seal payload depends on.
//!
//! The rule: the shortest digits that round-trip (the digits Python's `repr` prints); plain decimal
//! when `x == 0` or `1e-5 <= |x| < 1e16`, with `.0` added to integral values; otherwise
//! `d[.ddd]e±N` with an explicit sign and no zero padding. NaN and infinities are written as `null`.

/// Appends orjson's spelling of `x` to `out`.
///
/// The digits come from `ryu` (shortest round-trip, ties broken to even like Python's `repr`;
/// Rust's `{:e}` breaks exact ties upwards and would disagree on about 0.08% of doubles).
pub(crate) fn write_f64(x: f64, out: &mut Vec<u8>) {
    if !x.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    write_finite(x, (1e-5, 1e16), 1, out);
}

/// Appends Python's `repr` of a finite `x` (what `json.dumps` writes): plain decimal when
/// `1e-4 <= |x| < 1e16`, else `d[.ddd]e±NN` with at least two exponent digits. NaN and
/// infinities are written as Python does (`NaN`, `Infinity`, `-Infinity`).
pub(crate) fn write_f64_python(x: f64, out: &mut Vec<u8>) {
    if x.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if x.is_infinite() {
        out.extend_from_slice(if x < 0.0 { b"-Infinity" } else { b"Infinity" });
    } else {
        write_finite(x, (1e-4, 1e16), 2, out);
    }
}

fn write_finite(x: f64, plain: (f64, f64), exp_width: usize, out: &mut Vec<u8>) {
    if x.is_sign_negative() {
        out.push(b'-');
    }
    let ax = x.abs();
    if ax == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(ax).as_bytes();
    // ryu prints either "ddd.ddd" or "d.ddde±N"; reduce both to significant digits and the
    // decimal exponent of the first digit.
    let e_pos = text
        .iter()
        .position(|&b| b == b'e' || b == b'E')
        .unwrap_or(text.len());
    let (mantissa, exp_part) = text.split_at(e_pos);
    let exp_shift: i32 = exp_part
        .get(1..)
        .and_then(|e| std::str::from_utf8(e).ok())
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    let mut digits = [0u8; 32];
    let mut n = 0;
    let mut first_nonzero: Option<usize> = None;
    let mut seen = 0usize;
    for &b in mantissa {
        if b == b'.' {
            continue;
        }
        if first_nonzero.is_none() && b != b'0' {
            first_nonzero = Some(seen);
        }
        if first_nonzero.is_some()
            && let Some(slot) = digits.get_mut(n)
        {
            *slot = b;
            n += 1;
        }
        seen += 1;
    }
    while n > 1 && digits.get(n - 1) == Some(&b'0') {
        n -= 1;
    }
    let first = i32::try_from(first_nonzero.unwrap_or(0)).unwrap_or(0);
    let exp = i32::try_from(point).unwrap_or(0) - 1 - first + exp_shift;
    let digits = digits.get(..n).unwrap_or_default();
    if (plain.0..plain.1).contains(&ax) {
        write_plain(digits, exp, out);
    } else {
        write_scientific(digits, exp, exp_width, out);
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

fn write_scientific(digits: &[u8], exp: i32, exp_width: usize, out: &mut Vec<u8>) {
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
    for _ in num.len()..exp_width {
        out.push(b'0');
    }
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
            // Exact ties between two shortest spellings go to the even digit, as in Python.
            (
                f64::from_bits(0x3e60_0000_0000_0000),
                "2.9802322387695312e-8",
            ),
            (f64::from_bits(0x4310_0000_0000_0001), "1125899906842624.2"),
            (f64::from_bits(0x42d1_783a_c42b_a888), "76832318729890.12"),
        ];
        for (x, want) in cases {
            assert_eq!(format_f64(*x), *want, "{x:?}");
        }
    }
}
