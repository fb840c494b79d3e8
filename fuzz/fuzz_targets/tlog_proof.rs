//! `tlog-proof` files: parsing and verification never panic, a parsed proof written out parses
//! back to itself, and a proof that verifies does so at its own index and under its own note.
#![no_main]

use ai_audit_fuzz::KEY;
use audit_runtime::note::{TlogProof, verify_note};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = TlogProof::parse(text) else {
        return;
    };
    assert_eq!(TlogProof::parse(&p.to_text()).ok().as_ref(), Some(&p));
    let key = KEY.verifying_key();
    for checked in [p.verify(&key), p.verify_accepting_checkpointed(&key)]
        .into_iter()
        .flatten()
    {
        assert_eq!(checked.index, p.index);
        assert_eq!(verify_note(&p.note, &key).ok(), Some(checked.checkpoint));
    }
});
