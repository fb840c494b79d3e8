//! The ZIP reader of evidence bundles: opening and reading every member never panics, and a
//! member that reads has the size the archive declares (sizes and CRC-32 are checked).
#![no_main]

use std::io::{Cursor, Read as _};

use audit_runtime::bundle::{EvidenceReader, ReadLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = EvidenceReader::open(Cursor::new(data), ReadLimits::default()) else {
        return;
    };
    let names: Vec<String> = r.names().map(str::to_owned).collect();
    for name in names {
        assert!(r.contains(&name));
        let declared = r.declared_size(&name);
        let _ = r.read_small(&name);
        let Ok(mut m) = r.open_member(&name) else {
            continue;
        };
        let mut bytes = Vec::new();
        if m.read_to_end(&mut bytes).is_ok() {
            assert_eq!(Some(bytes.len() as u64), declared, "{name}");
        }
    }
});
