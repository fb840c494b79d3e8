//! Compile-time behaviour of `#[audited]`: accepted shapes and spanned, teaching errors.
//! Regenerate snapshots with `TRYBUILD=overwrite cargo test -p audit-macros --test ui` and
//! review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
