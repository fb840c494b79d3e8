//! A report keeps at most `max_findings` findings in full and counts every one: the counts per
//! kind are exact, and the kept findings carry their whole messages.

use audit_runtime::verify::{self, FindingKind, VerifyOptions};
use audit_runtime::{Chain, Receipt, SigningKey};

#[test]
fn findings_past_the_cap_are_counted_exactly_and_kept_ones_are_spelled_out() {
    let ours = SigningKey::from_seed(&[3; 32]);
    let theirs = SigningKey::from_seed(&[4; 32]);
    let mut chain = Chain::genesis("acme");
    let mut lines: Vec<Vec<u8>> = Vec::new();
    // Signed by another key (bad signature), then junk, then a respelled line.
    for i in 0..6 {
        let r = Receipt::new("acme").with_input_text(&format!("q{i}"));
        lines.push(chain.append(r, &theirs).unwrap().to_jsonl_line());
    }
    for junk in ["", "x", "{", "[]", "{\"a\":1}"] {
        lines.push(junk.as_bytes().to_vec());
    }
    let r = Receipt::new("acme").with_input_text("spaced");
    let line = String::from_utf8(chain.append(r, &ours).unwrap().to_jsonl_line()).unwrap();
    lines.push(line.replacen("{\"", "{ \"", 1).into_bytes());

    let run = |cap: usize| {
        let mut opts = VerifyOptions::pinned(ours.verifying_key());
        opts.max_findings = cap;
        verify::verify_lines(lines.iter().map(|l| Ok::<_, std::io::Error>(&l[..])), &opts).unwrap()
    };
    let all = run(1000);
    for cap in [0, 1, 2, 7, 11] {
        let r = run(cap);
        assert_eq!(r.findings_total, all.findings_total, "cap {cap}");
        assert_eq!(r.counts, all.counts, "cap {cap}");
        assert_eq!(r.findings.len(), cap.min(all.findings.len()), "cap {cap}");
        for (kept, full) in r.findings.iter().zip(&all.findings) {
            assert_eq!(kept.message, full.message);
            assert_eq!(kept.kind, full.kind);
        }
    }
    assert_eq!(all.counts.get(&FindingKind::Signature), Some(&6));
    assert_eq!(all.counts.get(&FindingKind::Parse), Some(&5));
    assert_eq!(all.counts.get(&FindingKind::NonCanonical), Some(&1));
    let signature = all.first(FindingKind::Signature).unwrap();
    assert!(
        signature
            .message
            .contains(&ours.verifying_key().fingerprint()),
        "{}",
        signature.message
    );
    let respelled = all.first(FindingKind::NonCanonical).unwrap();
    assert!(
        respelled.message.contains("at byte 1"),
        "{}",
        respelled.message
    );
}
