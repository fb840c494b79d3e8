//! A call's receipt while it is owed: emitted exactly once — when the call ends, or from `Drop`
//! when the caller drops the call's future (a timeout, a `select!`) or its stream first.

use super::LlmError;
use super::record::{CallRecord, Failure};
use crate::auditor::Emitted;
use crate::receipt::Receipt;
use crate::sink::AuditSink;

/// Where the receipt is.
#[derive(Debug)]
enum State {
    /// Not emitted yet: a drop emits it with the `on_drop` failure.
    Open,
    /// Being emitted: a drop emits the same receipt again (same id; the store keeps one).
    Emitting(Box<Receipt>),
    /// Emitted (or its failure handled by the sink's policy).
    Done,
}

/// One call's record and the receipt it owes.
#[derive(Debug)]
pub(crate) struct PendingCall {
    sink: AuditSink,
    record: CallRecord,
    state: State,
    /// What the receipt says if the call is dropped before it ends.
    on_drop: Failure,
}

impl PendingCall {
    /// A call whose receipt says [`Failure::Cancelled`] if it is dropped before it ends.
    pub(crate) fn new(sink: AuditSink, record: CallRecord) -> Self {
        Self {
            sink,
            record,
            state: State::Open,
            on_drop: Failure::Cancelled,
        }
    }

    /// Sets what the receipt says if the call is dropped before it ends.
    pub(crate) fn on_drop(&mut self, failure: Failure) {
        self.on_drop = failure;
    }

    /// The record.
    pub(crate) fn record(&self) -> &CallRecord {
        &self.record
    }

    /// The record, to update while the call runs.
    pub(crate) fn record_mut(&mut self) -> &mut CallRecord {
        &mut self.record
    }

    /// Whether the receipt is still owed.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Emits the receipt as the record now says, and waits until it is durable.
    ///
    /// # Errors
    /// [`LlmError::Emit`] when it cannot be stored and the sink is fail-closed.
    pub(crate) async fn finish(&mut self) -> Result<Option<Emitted>, LlmError> {
        let receipt = self.record.to_receipt();
        self.state = State::Emitting(Box::new(receipt.clone()));
        let emitted = self.sink.emit(receipt).await;
        self.state = State::Done;
        emitted.map_err(LlmError::Emit)
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Open => {
                self.record.fail(self.on_drop.clone());
                self.sink.emit_detached(self.record.to_receipt());
            }
            State::Emitting(receipt) => self.sink.emit_detached(*receipt),
            State::Done => {}
        }
    }
}
