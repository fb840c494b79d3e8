//! Properties of the SSE parser on hostile streams: arbitrary bytes in any chunking never panic
//! and give what the whole input gives, events never carry a line end that was not joined in,
//! and framed events parse back to themselves.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{MAX_LINE, SseError, SseEvent, SseParser};

/// Feeds `chunks` in order until the first error: the events dispatched, and that error.
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

/// Splits `bytes` at the given cut points (taken modulo its length, sorted).
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in at.into_iter().chain([bytes.len()]) {
        out.push(bytes[prev..c].to_vec());
        prev = c;
    }
    out
}

/// Bytes that are mostly SSE: field names, separators and line ends, with some noise.
fn sse_like() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            Just(b"data: ".to_vec()),
            Just(b"data:".to_vec()),
            Just(b"event: ".to_vec()),
            Just(b": comment".to_vec()),
            Just(b"id: 7".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"{\"a\":1}".to_vec()),
            Just("é\u{2028}".as_bytes().to_vec()),
            vec(any::<u8>(), 1..4),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// Text without line ends (what a field value can hold).
fn value() -> impl Strategy<Value = String> {
    "[^\r\n]{0,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_chunking_of_any_bytes_gives_what_the_whole_gives(
        bytes in prop_oneof![vec(any::<u8>(), 0..512), sse_like()],
        cuts in vec(any::<usize>(), 0..12),
    ) {
        let whole = run([&bytes[..]]);
        let pieces = split(&bytes, &cuts);
        prop_assert_eq!(&run(pieces.iter().map(Vec::as_slice)), &whole);
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(&run(bytewise), &whole);
        for e in &whole.0 {
            prop_assert!(!e.data.contains('\r'));
            prop_assert!(e.event.as_ref().is_none_or(|n| !n.contains(['\r', '\n'])));
        }
    }

    #[test]
    fn framed_events_parse_back_to_themselves(
        events in vec((proptest::option::of(value()), vec(value(), 1..4)), 0..6),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let events: Vec<SseEvent> = events
            .into_iter()
            .map(|(event, data)| SseEvent { event, data: data.join("\n") })
            .collect();
        let stream: String = events.iter().map(SseEvent::to_frame).collect();
        let pieces = split(stream.as_bytes(), &cuts);
        prop_assert_eq!(run(pieces.iter().map(Vec::as_slice)), (events, None));
    }
}

#[test]
fn a_line_past_the_limit_is_refused_without_waiting_for_its_end() {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    let chunk = vec![b'a'; 1 << 20];
    let mut refused = None;
    for i in 0..=(MAX_LINE >> 20) {
        if let Err(e) = p.feed(&chunk, &mut out) {
            refused = Some(i);
            assert_eq!(e, SseError::LineTooLong);
            break;
        }
    }
    assert_eq!(refused, Some(MAX_LINE >> 20));
    assert!(out.is_empty());
}
