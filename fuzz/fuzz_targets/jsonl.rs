//! A JSONL file of one tenant's chain: streamed verification never panics, agrees with
//! verification of the same lines from an iterator, and passes only if every line verifies.
#![no_main]

use ai_audit_fuzz::KEY;
use audit_runtime::verify::{VerifyOptions, verify_jsonl, verify_line, verify_lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = VerifyOptions::pinned(KEY.verifying_key());
    let streamed = verify_jsonl(data, &opts).expect("reading from memory cannot fail");
    let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let listed = verify_lines(lines.iter().map(Ok::<_, ()>), &opts).expect("no errors to report");
    assert_eq!(streamed.verdict(), listed.verdict());
    assert_eq!(streamed.receipts, listed.receipts);
    assert_eq!(streamed.findings_total, listed.findings_total);
    if streamed.is_pass() {
        for line in lines {
            assert!(verify_line(line, &KEY.verifying_key()).is_ok());
        }
    }
});
