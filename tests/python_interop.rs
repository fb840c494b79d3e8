//! Receipts sealed by our code are accepted by the Python library's own `verify_chain`.
//!
//! Runs against `ai-audit-trail==0.4.7` in a virtualenv the test sets up (see
//! `support::reference_python`). In CI a missing Python is a failure, not a skip.

#![expect(
    clippy::unwrap_used,
    reason = "a broken fixture should fail the test loudly"
)]

mod support;

use std::process::Command;

use ai_audit::json::{Number, Object, Value};
use ai_audit::{
    Action, CheckRecord, MemoryLedger, Receipt, ReceiptId, SigningKey, TenantId, Timestamp,
};

/// A small deterministic generator (splitmix64), so the corpus is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const TEXTS: &[&str] = &[
    "plain ascii",
    "Kündigungsfrist für Straße — Größe",
    "tab\tnewline\ncr\rquote\"backslash\\nul\u{0}del\u{7f}",
    "line sep \u{2028} para sep \u{2029} nel \u{85}",
    "emoji 😀🚀 flags 🇩🇪",
    "日本語の質問です",
    "ﬁ ligature and Ｆｕｌｌｗｉｄｔｈ",
    "",
    "\u{1c}\u{1d}\u{1e}\u{1f} python whitespace",
    "slash / and <html> &amp;",
];

const FLOATS: &[f64] = &[
    1.0,
    0.0,
    -0.0,
    1e-7,
    1e-5,
    0.00012,
    123_456_789.0,
    1e16,
    1.5e16,
    0.1 + 0.2,
    5e-324,
    0.5,
    9_999_999_999_999_998.0,
    1e21,
    1e-300,
    2.5e-6,
    -3.75,
];

fn detail(rng: &mut Rng) -> Object {
    let mut inner = Object::new();
    inner.insert("level", rng.next() % 5);
    inner.insert("ratio", rng.pick(FLOATS));
    inner.insert("tags", Value::from(vec![rng.pick(TEXTS), rng.pick(TEXTS)]));
    Object::new()
        .with(
            rng.pick(&["z_last", "é", "ﬁ", "😀", "A_upper", "escapes"]),
            rng.pick(TEXTS),
        )
        .with("max_u64", u64::MAX)
        .with("min_i64", i64::MIN)
        .with("flag", rng.next().is_multiple_of(2))
        .with("nothing", Value::Null)
        .with("nested", inner)
        .with(
            "list",
            Value::Array(vec![
                Value::Number(Number::from(rng.next() % 1000)),
                Value::from(rng.pick(FLOATS)),
            ]),
        )
}

fn corpus(n: usize) -> (SigningKey, Vec<u8>) {
    let key = SigningKey::from_hex(&"01".repeat(32)).unwrap();
    let mut rng = Rng(42);
    let mut ledger = MemoryLedger::new();
    // Python's verify_chain re-sorts by timestamp (its weakness W05), so timestamps increase here;
    // some land on a whole second to exercise the no-fraction rendering.
    let t0: i64 = 1_772_366_400_000_000;
    for i in 0..n {
        let micros = if i % 7 == 0 {
            (i as i64) * 1_000_000
        } else {
            (i as i64) * 1_000_000 + (rng.next() % 999_999) as i64 + 1
        };
        let mut r = Receipt::new_at(
            "interop",
            ReceiptId::random(),
            Timestamp::from_unix_micros(t0 + micros),
        )
        .with_trace(format!("trace-{i}"))
        .with_session(rng.pick(TEXTS))
        .with_input_text(rng.pick(TEXTS))
        .with_output_text(rng.pick(TEXTS))
        .with_state(&["s", "interop", rng.pick(TEXTS)])
        .with_action(rng.pick(&Action::ALL))
        .with_reason(rng.pick(TEXTS))
        .with_nist_tag("MEASURE-2.6")
        .with_model(rng.pick(&["gpt-4o-mini", "claude-3-5", "modèle-ü"]))
        .with_config_digest(ai_audit::canonical::hash_output(rng.pick(TEXTS)));
        for c in 0..(rng.next() % 3) {
            r = r.with_check(
                CheckRecord::new(
                    format!("check-{c}-{}", rng.pick(TEXTS)),
                    rng.pick(FLOATS),
                    rng.pick(FLOATS),
                )
                .with_fired(rng.next().is_multiple_of(2))
                .with_version(rng.pick(&["1.0", "2.1"]))
                .with_detail(detail(&mut rng)),
            );
        }
        ledger.append(r, &key).unwrap();
    }
    let jsonl = ledger.to_jsonl(&TenantId::new("interop"));
    (key, jsonl)
}

const CHECK_SCRIPT: &str = r#"
import json, sys, hashlib
from ai_audit.models import DecisionReceipt
from ai_audit import verify_chain
data = open(sys.argv[1], "rb").read()
lines = [l for l in data.split(b"\n") if l]
receipts = [DecisionReceipt.model_validate_json(l) for l in lines]
res = verify_chain(receipts, sys.argv[2])
# Python re-serializes each parsed receipt; its payload must be the bytes our seal covered.
same_hash = all(hashlib.sha256(r.seal_payload()).hexdigest() == r.receipt_hash for r in receipts)
print(json.dumps({"valid": res.valid, "total": res.total_receipts, "verified": res.verified_receipts,
                  "error": res.error, "same_hash": same_hash}))
"#;

#[test]
fn python_verify_chain_accepts_1000_receipts_sealed_here() {
    let Some(python) = support::reference_python() else {
        return;
    };
    let (key, jsonl) = corpus(1000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.jsonl");
    std::fs::write(&path, &jsonl).unwrap();
    let out = Command::new(&python)
        .args(["-c", CHECK_SCRIPT])
        .arg(&path)
        .arg(key.verifying_key().to_hex())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(r#""valid": true, "total": 1000, "verified": 1000"#)
            && stdout.contains(r#""same_hash": true"#),
        "python verdict: {stdout}"
    );
}

#[test]
fn python_verify_chain_rejects_a_receipt_we_sealed_and_then_edited() {
    let Some(python) = support::reference_python() else {
        return;
    };
    let (key, jsonl) = corpus(50);
    let text = String::from_utf8(jsonl).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[10] = lines[10].replacen("\"trace-10\"", "\"trace-X\"", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = Command::new(&python)
        .args(["-c", CHECK_SCRIPT])
        .arg(&path)
        .arg(key.verifying_key().to_hex())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(r#""valid": false"#),
        "python verdict: {stdout}"
    );
}

const FLOAT_SCRIPT: &str = r#"
import orjson, struct, sys
assert orjson.__version__ == "3.13.0", orjson.__version__
data = open(sys.argv[1], "rb").read()
vals = struct.unpack("<%dd" % (len(data) // 8), data)
sys.stdout.write("\n".join(orjson.dumps(v).decode() for v in vals))
"#;

#[test]
fn float_spelling_equals_orjson_3_13_on_random_doubles() {
    let Some(python) = support::reference_python() else {
        return;
    };
    let mut rng = Rng(7);
    let mut values: Vec<f64> = vec![
        0.0,
        -0.0,
        1e-5,
        9.99999e-6,
        1e16,
        9_999_999_999_999_998.0,
        5e-324,
        1e308,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::from_bits(0x3e60_0000_0000_0000),
    ];
    for i in 0..300_000u64 {
        let x = match i % 3 {
            0 => f64::from_bits(rng.next()),
            1 => {
                (rng.next() >> 11) as f64 / (1u64 << 53) as f64
                    * 10f64.powi((rng.next() % 61) as i32 - 30)
            }
            _ => ((rng.next() % 2_000_001) as f64 - 1e6) / 10f64.powi((rng.next() % 9) as i32),
        };
        values.push(x);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doubles.bin");
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(&python)
        .args(["-c", FLOAT_SCRIPT])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap();
    let mut mismatches = 0;
    for (x, want) in values.iter().zip(theirs.split('\n')) {
        let ours = ai_audit::json::format_f64(*x);
        if ours != want {
            mismatches += 1;
            eprintln!("{x:?} ({:#x}): ours {ours}, orjson {want}", x.to_bits());
        }
    }
    assert_eq!(theirs.split('\n').count(), values.len());
    assert_eq!(mismatches, 0);
}
