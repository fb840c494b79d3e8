//! The audit side of a stream: bytes in, events out, exactly one receipt at the end — when the
//! final event arrives, when the stream breaks, or when it is dropped before its end.

use super::record::{CallRecord, Failure};
use super::sse::{SseEvent, SseParser};
use super::wire::{self, EventEffect};
use super::{LlmError, Usage};
use crate::auditor::Emitted;
use crate::receipt::Receipt;
use crate::sink::AuditSink;

/// How a stream ended, for the caller.
#[derive(Debug)]
pub(crate) enum End {
    /// The final event arrived (or the stream closed after its finish reason).
    Complete,
    /// The upstream sent an error event.
    ErrorEvent(String),
    /// The stream closed or broke before its end.
    Incomplete(Option<Box<dyn std::error::Error + Send + Sync>>),
    /// The bytes are not server-sent events.
    Invalid,
}

/// Watches one stream.
#[derive(Debug)]
pub(crate) struct StreamAudit {
    sink: AuditSink,
    parser: SseParser,
    /// `Some` until the call ends.
    record: Option<CallRecord>,
    /// The final receipt while its emit is in flight: if the emitting future is dropped, the
    /// same receipt id is emitted again on drop, and the store keeps one.
    unconfirmed: Option<Receipt>,
    receipt: Option<Emitted>,
    usage: Usage,
}

impl StreamAudit {
    pub(crate) fn new(sink: AuditSink, record: CallRecord) -> Self {
        Self {
            sink,
            parser: SseParser::default(),
            record: Some(record),
            unconfirmed: None,
            receipt: None,
            usage: Usage::default(),
        }
    }

    /// Whether the call has ended (its receipt is emitted or being emitted).
    pub(crate) fn ended(&self) -> bool {
        self.record.is_none()
    }

    /// Parses `bytes` into whole events; `Err` if they are not server-sent events (then the
    /// stream is over: call [`StreamAudit::end`] with [`End::Invalid`]).
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ()> {
        self.parser.feed(bytes, out).map_err(|_| ())
    }

    /// Applies one event; after a terminal or error effect, call [`StreamAudit::end`].
    pub(crate) fn apply(&mut self, event: &SseEvent) -> EventEffect {
        match self.record.as_mut() {
            Some(r) => wire::apply_event(r, event),
            None => EventEffect::default(),
        }
    }

    /// The stream closed cleanly: complete if the finish reason came, else incomplete.
    pub(crate) fn eof(&self) -> End {
        match &self.record {
            Some(r) if r.finish_reason.is_none() => End::Incomplete(None),
            _ => End::Complete,
        }
    }

    /// Ends the call and emits its receipt (once; later calls return the first receipt).
    ///
    /// # Errors
    /// The error the caller sees: [`LlmError::Emit`] when fail-closed emitting failed, else
    /// the stream's own failure (with its receipt). `Ok` only for [`End::Complete`].
    pub(crate) async fn end(&mut self, end: End) -> Result<Option<Box<Emitted>>, LlmError> {
        let Some(mut record) = self.record.take() else {
            return Ok(self.receipt.clone().map(Box::new));
        };
        match &end {
            End::Complete | End::ErrorEvent(_) => {} // the error event already set its failure
            End::Incomplete(_) => record.fail(Failure::Incomplete),
            End::Invalid => record.fail(Failure::InvalidResponse),
        }
        self.usage = record.usage;
        let receipt = record.to_receipt();
        self.unconfirmed = Some(receipt.clone());
        let emitted = self.sink.emit(receipt).await.map_err(LlmError::Emit);
        self.unconfirmed = None;
        let receipt = emitted?;
        self.receipt.clone_from(&receipt);
        let receipt = receipt.map(Box::new);
        match end {
            End::Complete => Ok(receipt),
            End::ErrorEvent(data) => Err(LlmError::StreamError { data, receipt }),
            End::Incomplete(source) => Err(LlmError::StreamIncomplete { source, receipt }),
            End::Invalid => Err(LlmError::InvalidResponse { receipt }),
        }
    }

    /// The receipt, once stored.
    pub(crate) fn receipt(&self) -> Option<&Emitted> {
        self.receipt.as_ref()
    }

    /// Token counts, once ended.
    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }
}

impl Drop for StreamAudit {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.fail(Failure::Incomplete);
            self.sink.emit_detached(record.to_receipt());
        } else if let Some(receipt) = self.unconfirmed.take() {
            self.sink.emit_detached(receipt);
        }
    }
}
