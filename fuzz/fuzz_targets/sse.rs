//! The SSE parser of the LLM integrations (crate-private, so its source file is compiled in
//! here): any bytes, cut anywhere, never panic and give what the whole input gives.
#![no_main]

use libfuzzer_sys::fuzz_target;

// rustfmt would follow the file's test-only `mod` lines, which resolve elsewhere from here.
#[allow(dead_code, reason = "only the parser is used")]
#[path = "../../audit-runtime/src/llm/sse.rs"]
#[rustfmt::skip]
mod sse;

use sse::{SseError, SseEvent, SseParser};

fn run<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseEvent>, Option<SseError>) {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    for c in chunks {
        if let Err(e) = p.feed(c, &mut out) {
            return (out, Some(e));
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let whole = run([data]);
    let cut = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let (a, b) = data.split_at(cut);
    assert_eq!(run([a, b]), whole);
    assert_eq!(run(data.chunks(7)), whole);
    for e in &whole.0 {
        assert!(!e.data.contains('\r'));
        assert!(e.event.as_ref().is_none_or(|n| !n.contains(['\r', '\n'])));
    }
});
