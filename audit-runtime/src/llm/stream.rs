//! The audit side of a stream: bytes in, events out, exactly one receipt at the end — when the
//! final event arrives, when the stream breaks, or when it is dropped before its end.

use super::pending::PendingCall;
use super::record::Failure;
use super::sse::{SseEvent, SseParser};
use super::wire::{self, EventEffect};
use super::{LlmError, Usage};
use crate::auditor::Emitted;

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
    parser: SseParser,
    /// The call; a drop before its end emits `stream_incomplete`.
    call: PendingCall,
    receipt: Option<Emitted>,
    usage: Usage,
}

impl StreamAudit {
    pub(crate) fn new(mut call: PendingCall) -> Self {
        call.on_drop(Failure::Incomplete);
        Self {
            parser: SseParser::default(),
            call,
            receipt: None,
            usage: Usage::default(),
        }
    }

    /// Whether the call has ended (its receipt is emitted or being emitted).
    pub(crate) fn ended(&self) -> bool {
        !self.call.is_open()
    }

    /// Parses `bytes` into whole events; `Err` if they are not server-sent events (then the
    /// stream is over: call [`StreamAudit::end`] with [`End::Invalid`]).
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ()> {
        self.parser.feed(bytes, out).map_err(|_| ())
    }

    /// Applies one event; after a terminal or error effect, call [`StreamAudit::end`].
    pub(crate) fn apply(&mut self, event: &SseEvent) -> EventEffect {
        if self.ended() {
            return EventEffect::default();
        }
        wire::apply_event(self.call.record_mut(), event)
    }

    /// The stream closed cleanly: complete if the finish reason came, else incomplete.
    pub(crate) fn eof(&self) -> End {
        if !self.ended() && self.call.record().finish_reason.is_none() {
            End::Incomplete(None)
        } else {
            End::Complete
        }
    }

    /// Ends the call and emits its receipt (once; later calls return the first receipt).
    ///
    /// # Errors
    /// The error the caller sees: [`LlmError::Emit`] when fail-closed emitting failed, else
    /// the stream's own failure (with its receipt). `Ok` only for [`End::Complete`].
    pub(crate) async fn end(&mut self, end: End) -> Result<Option<Box<Emitted>>, LlmError> {
        if self.ended() {
            return Ok(self.receipt.clone().map(Box::new));
        }
        let record = self.call.record_mut();
        match &end {
            End::Complete | End::ErrorEvent(_) => {} // the error event already set its failure
            End::Incomplete(_) => record.fail(Failure::Incomplete),
            End::Invalid => record.fail(Failure::InvalidResponse),
        }
        self.usage = record.usage;
        let receipt = self.call.finish().await?;
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
