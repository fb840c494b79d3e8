#![allow(missing_docs, reason = "placeholder until the emit benchmark lands")]
fn main() {}
