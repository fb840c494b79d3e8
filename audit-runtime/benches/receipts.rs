//! Per-receipt costs: canonicalize, seal, verify.
#![allow(missing_docs)]
fn main() {}
