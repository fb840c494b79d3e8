//! [`Owed`]: the receipt a request owes, stored exactly once.

use crate::receipt::{Action, Receipt};
use crate::sink::AuditSink;

/// The receipt a request owes, stored exactly once: by [`Owed::emit`] when the request ends, or
/// from `Drop` when the request's future is dropped first (reason `request_cancelled`; while an
/// emit is in flight, the same receipt is queued again and the store keeps one, by its id).
pub(super) struct Owed {
    sink: AuditSink,
    receipt: Receipt,
    state: OwedState,
}

enum OwedState {
    Open,
    Emitting,
    Done,
}

impl Owed {
    pub(super) fn new(sink: AuditSink, receipt: Receipt) -> Self {
        Self {
            sink,
            receipt,
            state: OwedState::Open,
        }
    }

    pub(super) fn receipt_mut(&mut self) -> &mut Receipt {
        &mut self.receipt
    }

    pub(super) async fn emit(&mut self) -> Result<Option<crate::Emitted>, crate::EmitError> {
        self.state = OwedState::Emitting;
        let result = self.sink.emit(self.receipt.clone()).await;
        self.state = OwedState::Done;
        result
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.state, OwedState::Done) {
            OwedState::Open => {
                let mut r = self.receipt.clone();
                cancelled(&mut r);
                self.sink.emit_detached(r);
            }
            OwedState::Emitting => self.sink.emit_detached(self.receipt.clone()),
            OwedState::Done => {}
        }
    }
}

/// Marks `r` as the receipt of a request the client did not see through: `fail_retry`, reason
/// `request_cancelled`, no output.
pub(super) fn cancelled(r: &mut Receipt) {
    r.action = Action::FailRetry;
    r.reason_codes.push("request_cancelled".into());
    r.output_hash = String::new();
}
