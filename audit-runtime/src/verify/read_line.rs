//! Reading `\n`-separated lines with a length limit, without ever buffering an over-long line.

use std::io::{self, BufRead};

/// What [`read_line_bounded`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// End of input, no more lines.
    Eof,
    /// A line (without its `\n`) is in the buffer.
    Line,
    /// The line was longer than the limit; it was consumed and discarded.
    TooLong,
}

/// Reads the next line into `buf` (split on `\n` bytes only: U+2028, U+2029 and U+0085 inside
/// receipts are not line breaks). A final line without `\n` counts; an empty input after the
/// last `\n` is [`LineRead::Eof`].
///
/// # Errors
/// I/O errors of the reader.
pub(crate) fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => LineRead::Eof,
                (true, true) => LineRead::TooLong,
                (true, false) => LineRead::Line,
            });
        }
        any = true;
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (available.get(..i).unwrap_or_default(), Some(i + 1)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                LineRead::TooLong
            } else {
                LineRead::Line
            });
        }
    }
}

/// The finding's message for a line longer than `max` bytes.
pub(super) fn too_long_message(max: usize) -> String {
    format!(
        "the line is longer than the {max} byte limit; it was skipped unread (`ai-audit verify --max-line-bytes` raises the limit)"
    )
}

#[cfg(test)]
#[expect(clippy::indexing_slicing, reason = "test assertions")]
mod tests {
    use super::*;

    #[test]
    fn splits_on_newline_bytes_only() {
        let data = "a\u{2028}b\u{85}c\nd\n\ne".as_bytes();
        let mut r = io::BufReader::with_capacity(3, data);
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match read_line_bounded(&mut r, &mut buf, 100).unwrap() {
                LineRead::Eof => break,
                LineRead::Line => lines.push(String::from_utf8(buf.clone()).unwrap()),
                LineRead::TooLong => lines.push("<long>".into()),
            }
        }
        assert_eq!(lines, ["a\u{2028}b\u{85}c", "d", "", "e"]);
    }

    #[test]
    fn discards_over_long_lines() {
        let data = b"short\nthis-line-is-long\nok";
        let mut r = io::BufReader::with_capacity(4, &data[..]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            buf.clear();
            let k = read_line_bounded(&mut r, &mut buf, 8).unwrap();
            if k == LineRead::Eof {
                break;
            }
            got.push((k, buf.clone()));
        }
        assert_eq!(got[0], (LineRead::Line, b"short".to_vec()));
        assert_eq!(got[1].0, LineRead::TooLong);
        assert_eq!(got[2], (LineRead::Line, b"ok".to_vec()));
    }
}
