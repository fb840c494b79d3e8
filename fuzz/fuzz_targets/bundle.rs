//! Bundle verification under the pinned key: never panics, and a bundle that passes reads
//! whole, its manifest is signed by the key, and every member's SHA-256 is the manifest's.
#![no_main]

use std::io::Cursor;

use ai_audit_fuzz::{KEY, members};
use audit_runtime::canonical::sha256_hex;
use audit_runtime::bundle::{MANIFEST, Manifest};
use audit_runtime::verify::{VerifyOptions, verify_bundle};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = VerifyOptions::pinned(KEY.verifying_key());
    let Ok(report) = verify_bundle(Cursor::new(data), &opts) else {
        return;
    };
    if !report.is_pass() {
        return;
    }
    let m = members(data).expect("a bundle that passes reads");
    let manifest = Manifest::parse(&m[MANIFEST]).expect("its manifest parses");
    let sig = manifest.signature().expect("its manifest is signed");
    assert!(
        KEY.verifying_key()
            .verify_strict(&manifest.signing_bytes(), &sig)
    );
    let sums = manifest.checksums().expect("its manifest has checksums");
    for (name, bytes) in &m {
        if name != MANIFEST {
            assert_eq!(
                sums[name].as_deref(),
                Some(sha256_hex(bytes).as_str()),
                "{name}"
            );
        }
    }
});
