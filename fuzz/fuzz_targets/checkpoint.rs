//! Checkpoint notes: verification under the pinned key never panics, and a note that verifies
//! starts with exactly the body of the checkpoint it gives.
#![no_main]

use ai_audit_fuzz::{KEY, LOG};
use audit_runtime::note::Checkpoint;
use audit_runtime::note::verify_note;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = KEY.verifying_key();
    for cp in [Checkpoint::verify(text, LOG, &key), verify_note(text, &key)]
        .into_iter()
        .flatten()
    {
        assert!(text.starts_with(&format!("{}\n", cp.body())));
    }
});
