//! The strict JSON parser: what it accepts, the canonical writer writes back, and those bytes
//! parse and write again to themselves.
#![no_main]

use audit_runtime::canonical::write_canonical_value;
use audit_runtime::json::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = parse(data) {
        let mut out = Vec::new();
        write_canonical_value(&v, &mut out);
        let again = parse(&out).expect("the canonical writer's output parses");
        let mut twice = Vec::new();
        write_canonical_value(&again, &mut twice);
        assert_eq!(out, twice, "canonical bytes are a fixed point");
    }
});
