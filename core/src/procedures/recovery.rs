//! Ending a download session left open by a crash or an unreachable card (SGP.22 §3.1.3,
//! ES10b CancelSession §5.7.14, ES9+ cancelSession §5.6.5).

use super::error::ApiMisuse;
use super::session::{Cancel, SessionEnd, SessionRecord};
use super::{Awaiting, Input, Procedure, ProcedureError, Step};
use crate::messages::CancelSessionReason;

/// Ends a stranded download session from its persisted [`SessionRecord`] as a sans-IO
/// machine; drive it as the [module documentation](super) shows.
///
/// ES10b CancelSession on the card with the given reason (undefinedReason, or timeout when
/// the session was abandoned for too long), then ES9+ cancelSession with the card's signed
/// answer. A record whose card side is already cancelled ([`super::SessionStage::CardCancelled`])
/// goes straight to the server.
///
/// The result is `Ok(SessionEnd)` once nothing is left to do, which includes the card having
/// no such session ([`super::CardCancellation::NoSession`]: it ended it already, so there is
/// nothing signed to send the server, [`super::ServerCancellation::NothingToSend`]) and the
/// server refusing (it had ended the session). It is `Err` when the card or the server could
/// not be reached; [`Procedure::session_record`] then still gives the record to keep.
///
/// The states, named after what each expects next:
///
/// | state | sends |
/// |---|---|
/// | `ExpectCancelSession` | ES10b CancelSession |
/// | `ExpectServerCancelSession` | ES9+ cancelSession |
/// | `Done` | [`SessionEnd`] or [`ProcedureError`] |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    cancel: Cancel,
}

impl Recovery {
    /// Recovery of the session in `record`, cancelled with `reason`.
    pub fn new(record: SessionRecord, reason: CancelSessionReason) -> Self {
        Recovery {
            cancel: Cancel::new(record, reason),
        }
    }
}

impl Procedure for Recovery {
    type Output = SessionEnd;

    fn poll(&self) -> Step<SessionEnd> {
        match self.cancel.pending() {
            Some(pending) => pending.step(),
            None => {
                let end = self.cancel.end();
                Step::Done(match self.cancel.blocking_fault() {
                    Some(fault) => Err(ProcedureError::with_session_end(fault, end)),
                    None => Ok(end),
                })
            }
        }
    }

    fn awaiting(&self) -> Awaiting {
        self.cancel.awaiting()
    }

    fn handle(&mut self, input: Input) -> Result<(), ApiMisuse> {
        let awaiting = self.cancel.awaiting();
        if !awaiting.accepts(&input) {
            return Err(ApiMisuse::new(input.kind(), awaiting));
        }
        self.cancel = self.cancel.clone().handle(input);
        Ok(())
    }

    fn session_record(&self) -> Option<SessionRecord> {
        self.cancel.record()
    }
}
