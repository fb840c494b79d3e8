//! Properties of the v1 canonical bytes.
//!
//! * The float spelling is checked against an independent port of
//!   `../shared/reference/float_rule_check.py` (shortest digits from the `ryu` crate, then Python's
//!   `repr` layout, then the orjson rule) over more than two million doubles drawn the way the
//!   script draws them, from a seeded generator so every run checks the same values.
//! * proptest checks that writing then parsing a value is lossless, that canonicalizing is
//!   idempotent and independent of key insertion order, that canonical keys are sorted by UTF-8
//!   bytes at every depth, that receipt lines round-trip, and that sealed lines verify while any
//!   single flipped byte breaks verification.

#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] functions; a failed unwrap is a test failure"
)]

use audit_runtime::canonical::{
    parse_line, seal_payload, write_canonical_value, write_jsonl_line, write_ordered_value,
};
use audit_runtime::json::{Number, Object, Value, format_f64, parse};
use audit_runtime::verify::verify_line;
use audit_runtime::{Action, CheckRecord, Receipt, ReceiptId, SigningKey, Timestamp, seal};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

// ---------------------------------------------------------------------------------------------
// Reference float rule (port of float_rule_check.py), built on ryu's shortest digits.
// ---------------------------------------------------------------------------------------------

/// The shortest round-trip digits of a finite, non-zero, positive `ax`, read out of ryu's output:
/// `(digits, decpt)` with `ax == 0.d1d2d3… × 10^decpt` and no leading or trailing zero digit.
fn shortest_digits(ax: f64) -> (String, i32) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(ax);
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap()),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    assert!(
        int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit()),
        "unexpected ryu output {text:?}"
    );
    // value == int(all) × 10^exp10
    let all = format!("{int_part}{frac_part}");
    let mut exp10 = exp - i32::try_from(frac_part.len()).unwrap();
    let all = all.trim_start_matches('0');
    let digits = all.trim_end_matches('0');
    exp10 += i32::try_from(all.len() - digits.len()).unwrap();
    assert!(!digits.is_empty(), "ryu gave no digits for {ax:?}");
    (
        digits.to_owned(),
        exp10 + i32::try_from(digits.len()).unwrap(),
    )
}

fn zeros(n: i32) -> String {
    "0".repeat(usize::try_from(n).unwrap())
}

/// Python's `repr(x)` for a finite double (`float_repr_style == 'short'`): exponent form when
/// `decpt <= -4 or decpt > 16`, with a signed, at-least-two-digit exponent; otherwise decimal
/// with `.0` added to integral values.
fn python_repr(x: f64) -> String {
    assert!(x.is_finite());
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    let (d, decpt) = shortest_digits(x.abs());
    let n = i32::try_from(d.len()).unwrap();
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = d.split_at(1);
        let dot_rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let e = decpt - 1;
        let esign = if e < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot_rest}e{esign}{:02}", e.unsigned_abs())
    } else if decpt <= 0 {
        format!("{sign}0.{}{d}", zeros(-decpt))
    } else if n <= decpt {
        format!("{sign}{d}{}.0", zeros(decpt - n))
    } else {
        let (int_part, frac) = d.split_at(usize::try_from(decpt).unwrap());
        format!("{sign}{int_part}.{frac}")
    }
}

/// `rule(x)` of float_rule_check.py: orjson 3.13's spelling of `x`.
fn rule(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    let r = python_repr(x);
    let ax = x.abs();
    if x == 0.0 || (1e-5..1e16).contains(&ax) {
        let Some((mant, exp)) = r.split_once('e') else {
            return r;
        };
        // Python only uses exponent form here for 1e-5 <= |x| < 1e-4: expand it.
        let exp: i32 = exp.parse().unwrap();
        let sign = if mant.starts_with('-') { "-" } else { "" };
        let digits = mant.trim_start_matches('-').replace('.', "");
        return format!("{sign}0.{}{digits}", zeros(-exp - 1));
    }
    // re.sub(r"e([+-])0*(\d)", r"e\1\2", r)
    let (mant, exp) = r.split_once('e').unwrap();
    let (esign, edigits) = exp.split_at(1);
    let trimmed = edigits.trim_start_matches('0');
    let edigits = if trimmed.is_empty() { "0" } else { trimmed };
    format!("{mant}e{esign}{edigits}")
}

// ---------------------------------------------------------------------------------------------
// Deterministic sample of doubles, drawn like float_rule_check.py draws them.
// ---------------------------------------------------------------------------------------------

/// splitmix64: a tiny seeded generator, so the float sample is the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Python's `random.random()`: 53 random bits in [0, 1).
    fn random(&mut self) -> f64 {
        // A 53-bit integer converts to f64 exactly.
        #[expect(clippy::cast_precision_loss, reason = "53-bit value, exact")]
        let mantissa = (self.next_u64() >> 11) as f64;
        mantissa * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Python's `random.randint(lo, hi)` (inclusive; the slight modulo bias does not matter).
    fn randint(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap();
        lo + i64::try_from(self.next_u64() % span).unwrap()
    }
}

/// `10.0 ** k`, correctly rounded (parsing `1e{k}`).
fn pow10(k: i64) -> f64 {
    format!("1e{k}").parse().unwrap()
}

const GENERATED: usize = 2_000_000;

/// The values of float_rule_check.py: its edge candidates, more edges around every boundary of
/// the rule and of the f64 format, then two million generated values (a third random bit
/// patterns, a third `random() * 10^k` for k in -30..=30, a third `randint(-10^6, 10^6) / 10^k`
/// for k in 0..=8).
fn float_sample() -> Vec<f64> {
    let mut xs = vec![
        9.99999e-6,
        1e-5,
        9.999_999_999_999_999e-6,
        1e-4,
        1e16,
        9_999_999_999_999_998.0,
        0.0,
        -0.0,
        5e-324,
        1e308,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::EPSILON,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.1 + 0.2,
        9_007_199_254_740_992.0,
        9_007_199_254_740_993.0,
    ];
    // Subnormals: the smallest ones, the largest ones and a spread in between.
    for bits in (1..=64).chain((0..64).map(|i| 0x000F_FFFF_FFFF_FFFF - i)) {
        xs.push(f64::from_bits(bits));
        xs.push(-f64::from_bits(bits));
    }
    for shift in 0..52 {
        xs.push(f64::from_bits(1u64 << shift));
        xs.push(f64::from_bits((1u64 << shift) | 1));
    }
    // Every power of ten and its neighbours (covers both thresholds of the rule), and powers of
    // two across the whole exponent range.
    for k in -325..=308 {
        let p = pow10(k);
        for x in [p, p.next_up(), p.next_down()] {
            xs.push(x);
            xs.push(-x);
        }
    }
    for e in -1074..=1023 {
        let p = 2f64.powi(e);
        xs.extend([p, p.next_up(), p.next_down()]);
    }
    let pows: Vec<f64> = (-30..=30).map(pow10).collect();
    let mut rng = SplitMix64(2);
    for i in 0..GENERATED {
        let x = match i % 3 {
            0 => f64::from_bits(rng.next_u64()),
            1 => {
                let k = usize::try_from(rng.randint(0, 60)).unwrap();
                rng.random() * pows[k]
            }
            _ => {
                let n = rng.randint(-1_000_000, 1_000_000);
                let k = rng.randint(0, 8);
                // |n| <= 10^6 converts to f64 exactly.
                #[expect(clippy::cast_precision_loss, reason = "|n| <= 10^6, exact")]
                let n = n as f64;
                n / pow10(k)
            }
        };
        xs.push(x);
    }
    xs
}

#[test]
fn reference_rule_spells_known_orjson_outputs() {
    // Spellings observed from orjson 3.13 (float_rule_check.py and the crate's documented examples).
    let known: &[(f64, &str)] = &[
        (1.0, "1.0"),
        (100.0, "100.0"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (0.00001, "0.00001"),
        (-0.00001, "-0.00001"),
        (9.99999e-6, "9.99999e-6"),
        (9.999_999_999_999_999e-6, "9.999999999999999e-6"),
        (0.00012, "0.00012"),
        (1e-4, "0.0001"),
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
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (-2.5, "-2.5"),
    ];
    for &(x, want) in known {
        assert_eq!(rule(x), want, "reference rule on {x:?}");
    }
}

/// Doubles whose shortest round-trip spelling is an exact tie between two 17-digit candidates:
/// Python's `repr` (and so orjson) rounds the tie to even, as ryu does. Spellings taken from
/// `orjson.dumps` and `repr`.
#[test]
fn float_spelling_breaks_exact_digit_ties_to_even_like_python_repr() {
    let ties: &[(u64, &str)] = &[
        // 2^-25 = 2.98023223876953125e-8
        (0x3e60_0000_0000_0000, "2.9802322387695312e-8"),
        // 2^50 + 0.25
        (0x4310_0000_0000_0001, "1125899906842624.2"),
        // 76832318729890.125
        (0x42d1_783a_c42b_a888, "76832318729890.12"),
        // 156513272809565.625
        (0x42e1_cb22_c0e9_0bb4, "156513272809565.62"),
        // 2017620591461212.25
        (0x431c_ac0f_9a95_0d71, "2017620591461212.2"),
    ];
    for &(bits, want) in ties {
        let x = f64::from_bits(bits);
        assert_eq!(rule(x), want, "reference rule on {x:?}");
        assert_eq!(format_f64(x), want, "format_f64 on {bits:#018x}");
    }
}

#[test]
fn float_spelling_matches_orjson_rule_over_millions_of_doubles() {
    let xs = float_sample();
    assert!(xs.len() > GENERATED);
    let mut mismatches = Vec::new();
    for &x in &xs {
        let got = format_f64(x);
        let want = rule(x);
        if got != want {
            mismatches.push(format!(
                "{:#018x} ({x:?}): got {got}, want {want}",
                x.to_bits()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} doubles spelled differently from the orjson rule; first ones:\n{}",
        mismatches.len(),
        xs.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn float_spelling_parses_back_to_the_same_double_bit_for_bit() {
    let xs = float_sample();
    let mut finite = 0usize;
    let mut mismatches = Vec::new();
    for &x in &xs {
        let text = format_f64(x);
        if !x.is_finite() {
            assert_eq!(text, "null", "{:#018x}", x.to_bits());
            continue;
        }
        finite += 1;
        let back: f64 = text.parse().unwrap();
        if back.to_bits() != x.to_bits() {
            mismatches.push(format!(
                "{:#018x} ({x:?}) -> {text} -> {back:?}",
                x.to_bits()
            ));
        }
    }
    assert!(finite > GENERATED / 2);
    assert!(
        mismatches.is_empty(),
        "{} doubles do not round-trip; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------------

/// Characters that stress escaping and key order: ASCII, control characters, quotes and
/// backslashes, U+2028/U+2029, BMP private use and compatibility characters (U+E000, U+FB01,
/// which sort after surrogates in UTF-16 but before non-BMP characters by code point), non-BMP.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\0', '\u{1f}'),
        2 => select(vec![
            '"', '\\', '/', '\u{7f}', '\u{85}', '\u{a0}', 'é', '\u{2028}', '\u{2029}', '\u{d7ff}',
            '\u{e000}', '\u{f8ff}', '\u{fb01}', '\u{feff}', '\u{fffd}', '\u{ffff}', '\u{10000}',
            '\u{1f600}', '\u{f0000}', '\u{10ffff}',
        ]),
        1 => any::<char>(),
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    vec(any_char(), 0..12).prop_map(String::from_iter)
}

/// Short keys, so objects often hold keys that share prefixes or differ in one character.
fn any_key() -> impl Strategy<Value = String> {
    vec(any_char(), 0..4).prop_map(String::from_iter)
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |x| x.is_finite()),
        2 => (-1_000_000i32..=1_000_000, 0i32..=8).prop_map(|(n, k)| f64::from(n) / 10f64.powi(k)),
        1 => select(vec![
            0.0,
            -0.0,
            1.0,
            1e-5,
            9.99999e-6,
            1e16,
            9_999_999_999_999_998.0,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]),
    ]
}

fn any_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        select(vec![0i64, -1, 1, i64::MIN, i64::MAX]).prop_map(Number::from),
        Just(Number::from(u64::MAX)),
        finite_f64().prop_map(Number::float),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number().prop_map(Value::Number),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((any_key(), inner), 0..6)
                .prop_map(|entries| Value::Object(Object::from_iter(entries))),
        ]
    })
}

fn any_object() -> impl Strategy<Value = Object> {
    vec((any_key(), any_value()), 0..5).prop_map(Object::from_iter)
}

fn any_check() -> impl Strategy<Value = CheckRecord> {
    (
        any_string(),
        any_string(),
        finite_f64(),
        finite_f64(),
        any::<bool>(),
        any_object(),
    )
        .prop_map(
            |(name, version, score, threshold, fired, detail)| CheckRecord {
                name,
                version,
                score,
                threshold,
                fired,
                detail,
            },
        )
}

/// 2100-01-01T00:00:00Z in microseconds since the epoch.
const YEAR_2100_MICROS: i64 = 4_102_444_800_000_000;

fn any_timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        0..YEAR_2100_MICROS,
        // Whole seconds, which are written without a fraction.
        (0..YEAR_2100_MICROS / 1_000_000).prop_map(|s| s * 1_000_000),
    ]
    .prop_map(Timestamp::from_unix_micros)
}

fn any_receipt() -> impl Strategy<Value = Receipt> {
    let ids = (any_string(), any_string(), any_string(), any_string());
    let digests = (
        any_string(),
        any_string(),
        any_string(),
        any_string(),
        any_string(),
        any_string(),
    );
    let rest = (
        vec(any_check(), 0..4),
        select(Action::ALL.to_vec()),
        vec(any_string(), 0..4),
        vec(any_string(), 0..4),
        any_timestamp(),
    );
    (ids, digests, rest).prop_map(
        |(
            (id, trace, session, tenant),
            (input, state, output, model, config, prev),
            (checks, action, reasons, tags, timestamp),
        )| {
            let mut r = Receipt::new_at(tenant, ReceiptId::new(id), timestamp)
                .with_trace(trace)
                .with_session(session)
                .with_action(action)
                .with_model(model)
                .with_config_digest(config);
            r.input_c14n = input;
            r.state_digest = state;
            r.output_hash = output;
            r.prev_receipt_hash = prev;
            r.checks = checks;
            r.reason_codes = reasons;
            r.nist_tags = tags;
            r
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

fn ordered(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_ordered_value(v, &mut out);
    out
}

fn canonical(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical_value(v, &mut out);
    out
}

/// `v` with the entries of every object (at every depth) shuffled by `rng`.
fn shuffled(v: &Value, rng: &mut SplitMix64) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| shuffled(i, rng)).collect()),
        Value::Object(o) => {
            let mut entries: Vec<(String, Value)> = o
                .iter()
                .map(|(k, v)| (k.to_owned(), shuffled(v, rng)))
                .collect();
            for i in (1..entries.len()).rev() {
                let j = usize::try_from(rng.next_u64() % (i as u64 + 1)).unwrap();
                entries.swap(i, j);
            }
            Value::Object(entries.into_iter().collect())
        }
        other => other.clone(),
    }
}

/// `v` with the entries of every object re-inserted in code-point order (`char` comparison, not
/// the library's byte comparison).
fn sorted_by_code_point(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(sorted_by_code_point).collect()),
        Value::Object(o) => {
            let mut entries: Vec<(String, Value)> = o
                .iter()
                .map(|(k, v)| (k.to_owned(), sorted_by_code_point(v)))
                .collect();
            entries.sort_by(|a, b| a.0.chars().cmp(b.0.chars()));
            Value::Object(entries.into_iter().collect())
        }
        other => other.clone(),
    }
}

/// Every object's keys, at every depth, in the order they appear.
fn key_lists(v: &Value, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| key_lists(i, out)),
        Value::Object(o) => {
            out.push(o.iter().map(|(k, _)| k.to_owned()).collect());
            o.iter().for_each(|(_, v)| key_lists(v, out));
        }
        _ => {}
    }
}

fn jsonl_line(r: &Receipt, hash: &str, sig: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_jsonl_line(r, hash, sig, &mut out);
    out
}

fn key() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsing_the_written_value_gives_back_the_same_value(v in any_value()) {
        let bytes = ordered(&v);
        let back = parse(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        // Equality treats 0.0 and -0.0 alike; the bytes do not.
        prop_assert_eq!(&ordered(&back), &bytes);
        // An independent parser accepts the bytes too.
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
    }

    #[test]
    fn recanonicalizing_canonical_bytes_is_idempotent(v in any_value()) {
        let once = canonical(&v);
        let reparsed = parse(&once).unwrap();
        let twice = canonical(&reparsed);
        prop_assert_eq!(&twice, &once);
        // Canonical bytes written in insertion order are already canonical.
        prop_assert_eq!(ordered(&reparsed), once);
    }

    #[test]
    fn key_insertion_order_does_not_change_canonical_bytes(v in any_value(), seed in any::<u64>()) {
        let mut rng = SplitMix64(seed);
        let w = shuffled(&v, &mut rng);
        prop_assert_eq!(canonical(&w), canonical(&v));
    }

    #[test]
    fn canonical_keys_are_sorted_by_utf8_bytes_at_every_depth(v in any_value()) {
        let bytes = canonical(&v);
        let mut lists = Vec::new();
        key_lists(&parse(&bytes).unwrap(), &mut lists);
        for keys in &lists {
            for pair in keys.windows(2) {
                prop_assert!(
                    pair[0].as_bytes() < pair[1].as_bytes(),
                    "keys {:?} then {:?} are not in strictly increasing UTF-8 byte order",
                    pair[0],
                    pair[1]
                );
            }
        }
        // Same bytes as re-inserting every object's entries in code-point order.
        prop_assert_eq!(bytes, ordered(&sorted_by_code_point(&v)));
    }

    #[test]
    fn jsonl_line_parses_back_into_the_same_receipt_and_is_canonical(
        r in any_receipt(),
        hash in any_string(),
        sig in any_string(),
    ) {
        let line = jsonl_line(&r, &hash, &sig);
        let parsed = parse_line(&line).unwrap();
        prop_assert_eq!(&parsed.receipt, &r);
        prop_assert_eq!(&parsed.receipt_hash, &hash);
        prop_assert_eq!(&parsed.signature, &sig);
        prop_assert_eq!(parsed.non_canonical_at, None);
        // The seal payload is canonical JSON of the same data.
        let payload = seal_payload(&r).unwrap();
        prop_assert_eq!(canonical(&parse(&payload).unwrap()), payload);
    }

    #[test]
    fn sealed_line_verifies_and_any_flipped_byte_breaks_verification(
        r in any_receipt(),
        flips in vec((any::<Index>(), 1u8..=255), 4),
    ) {
        let key = key();
        let sealed = seal(r.clone(), &key).unwrap();
        let line = sealed.to_jsonl_line();
        let verified = verify_line(&line, &key.verifying_key());
        prop_assert!(verified.is_ok(), "sealed line failed to verify: {:?}", verified.err());
        let verified = verified.unwrap();
        prop_assert_eq!(verified.receipt(), &r);
        for (at, mask) in flips {
            let mut bad = line.clone();
            let i = at.index(bad.len());
            bad[i] ^= mask;
            prop_assert!(
                verify_line(&bad, &key.verifying_key()).is_err(),
                "flipping byte {} ({:#04x} -> {:#04x}) still verifies: {}",
                i,
                line[i],
                bad[i],
                String::from_utf8_lossy(&bad)
            );
        }
    }
}
