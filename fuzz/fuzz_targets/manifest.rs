//! `manifest.json`: parsing and every accessor never panic, and a parsed manifest written out
//! again parses to the same signed content and signature.
#![no_main]

use audit_runtime::bundle::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Manifest::parse(data) else {
        return;
    };
    let _ = (m.checksums(), m.str_field("format"), m.signature_value());
    let again = Manifest::parse(&m.to_file_bytes()).expect("a written manifest parses");
    assert_eq!(again.signing_bytes(), m.signing_bytes());
    assert_eq!(again.signature(), m.signature());
});
