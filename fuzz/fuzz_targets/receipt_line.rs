//! One receipt line: parsing never panics, and a line that verifies under the pinned key is the
//! canonical line of the receipt it parses to.
#![no_main]

use ai_audit_fuzz::KEY;
use audit_runtime::canonical::parse_line;
use audit_runtime::verify::verify_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_line(data);
    if let Ok(v) = verify_line(data, &KEY.verifying_key()) {
        let p = parsed.expect("a line that verifies parses");
        assert_eq!(
            p.non_canonical_at, None,
            "a line that verifies is canonical"
        );
        assert_eq!(&p.receipt, v.receipt());
    }
});
