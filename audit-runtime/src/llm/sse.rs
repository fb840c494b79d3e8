//! An incremental parser of `text/event-stream` (the WHATWG server-sent events format): bytes
//! in, whole events out, whatever the chunking.

/// One server-sent event.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any (Anthropic names every event; OpenAI names none).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// The event framed again as `event: …\ndata: …\n\n`, for forwarding.
    #[must_use]
    pub fn to_frame(&self) -> String {
        let mut out = String::with_capacity(self.data.len() + 32);
        if let Some(e) = &self.event {
            out.push_str("event: ");
            out.push_str(e);
            out.push('\n');
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// A line longer than this is refused (a broken or hostile upstream).
pub(crate) const MAX_LINE: usize = 16 << 20;

/// The stream broke the format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line is longer than the limit.
    #[error("a server-sent event line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// A line is not UTF-8.
    #[error("a server-sent event line is not UTF-8")]
    NotUtf8,
}

/// Bytes in, events out.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    /// The previous byte was `\r` (a following `\n` belongs to the same line end).
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds `bytes`; complete events are appended to `out`.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, out)?;
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(SseError::LineTooLong);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(()); // a comment
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {} // id, retry and unknown fields do not matter here
        }
        Ok(())
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], size: usize) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in input.chunks(size) {
            p.feed(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn events_come_out_whole_whatever_the_chunking() {
        let input = b"event: message_start\ndata: {\"a\":1}\n\n: ping\r\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        for size in 1..input.len() {
            let out = parse_in_chunks(input, size);
            assert_eq!(out.len(), 3, "chunk size {size}");
            assert_eq!(out[0].event.as_deref(), Some("message_start"));
            assert_eq!(out[0].data, "{\"a\":1}");
            assert_eq!(out[1].event, None);
            assert_eq!(out[1].data, "x\ny");
            assert_eq!(out[2].data, "[DONE]");
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_frames_round_trip() {
        let out = parse_in_chunks(b"event: ping\n\nevent: e\ndata:a\ndata: b\n\n", 3);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].to_frame(), "event: e\ndata: a\ndata: b\n\n");
        assert_eq!(parse_in_chunks(out[0].to_frame().as_bytes(), 2), out);
    }

    #[test]
    fn a_partial_event_at_the_end_stays_pending() {
        assert!(parse_in_chunks(b"data: {\"cut", 4).is_empty());
    }
}
