//! The RSP session of a download: what the driver persists ([`SessionRecord`]), how a session
//! was ended ([`SessionEnd`]), and the cancellation both [`super::Download`] and
//! [`super::Recovery`] run (SGP.22 §3.1.3: ES10b CancelSession, then ES9+ cancelSession).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::common::{
    Pending, card_answer, card_failure, es9_fault, server_failure, server_request,
};
use super::error::{CardRefusal, Fault, reason_name};
use super::{Awaiting, Es10Command, Input, ServerFunction, ServerRequest};
use crate::es9::{
    self, AuthenticateClientOk, EmptyBody, Es9Function, GetBoundProfilePackageOk, TransactionId,
};
use crate::messages::{
    CancelSessionError, CancelSessionReason, CancelSessionRequest, CancelSessionResponse,
};

/// What the driver keeps on disk while a download session is open, to end it after a crash
/// ([`super::Recovery`]). Serializable with serde.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session's transactionId.
    pub transaction_id: TransactionId,
    /// The SM-DP+ the session is with.
    pub smdp_address: String,
    /// How far the download got.
    pub stage: SessionStage,
}

/// How far a download session got (SGP.22 §3.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SessionStage {
    /// initiateAuthentication succeeded: the SM-DP+ has a session, the card a challenge.
    Authenticating,
    /// AuthenticateServer succeeded: the card has the session too.
    Authenticated,
    /// PrepareDownload succeeded: the card holds a one-time key for the package.
    Prepared,
    /// The Bound Profile Package is being loaded.
    Loading,
    /// The card ended its side and signed this CancelSessionResponse (`BF41`), which has yet
    /// to reach the SM-DP+ (ES9+ cancelSession).
    CardCancelled {
        /// The card's signed CancelSessionResponse, as it answered.
        cancel_session_response: Vec<u8>,
    },
}

impl SessionRecord {
    fn with_stage(&self, stage: SessionStage) -> Self {
        SessionRecord {
            transaction_id: self.transaction_id,
            smdp_address: self.smdp_address.clone(),
            stage,
        }
    }
}

/// How an RSP session was ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEnd {
    /// The session's transactionId.
    pub transaction_id: TransactionId,
    /// The reason given to the card and the server (SGP.22 §5.7.14).
    pub reason: CancelSessionReason,
    /// What the card did.
    pub card: CardCancellation,
    /// What the server did.
    pub server: ServerCancellation,
}

impl SessionEnd {
    /// Whether nothing is left to do for this session: neither side is left open for want of
    /// a reachable peer. Otherwise keep the [`SessionRecord`] and run [`super::Recovery`] later.
    pub fn is_complete(&self) -> bool {
        let card_open = match &self.card {
            CardCancellation::NotAttempted => true,
            CardCancellation::Failed(fault) => fault.is_transient(),
            _ => false,
        };
        // A server left uncancelled by a passing failure is worth another try only with the
        // card's signed cancellation in hand (SGP.22 §5.6.5 needs it). When the card has no
        // session left, or refused for good, there is nothing Recovery could send: the SM-DP+
        // session simply expires. (Found by the `procedures` fuzz target: the machine used to
        // report such a session as open while handing the driver no record to recover.)
        let server_open = match &self.server {
            ServerCancellation::Failed(fault) => {
                fault.is_transient() && matches!(self.card, CardCancellation::Cancelled)
            }
            _ => false,
        };
        !card_open && !server_open
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session {} ({}): card {}, server {}",
            self.transaction_id,
            reason_name(self.reason),
            self.card,
            self.server
        )
    }
}

/// What the card did with ES10b CancelSession.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardCancellation {
    /// The card ended its session and signed the cancellation.
    Cancelled,
    /// The card has no session with this transactionId (invalidTransactionId): it never had
    /// one, or had already ended it. There is no signed cancellation to send the server.
    NoSession,
    /// Not sent: the card could not be reached.
    NotAttempted,
    /// The card refused, answered nonsense, or could not be reached.
    Failed(Fault),
}

impl fmt::Display for CardCancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardCancellation::Cancelled => f.write_str("cancelled"),
            CardCancellation::NoSession => f.write_str("had no such session"),
            CardCancellation::NotAttempted => f.write_str("unreachable, session left open"),
            CardCancellation::Failed(fault) => write!(f, "not cancelled ({fault})"),
        }
    }
}

/// What the server did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerCancellation {
    /// ES9+ cancelSession was executed.
    Cancelled,
    /// The card's refusal went to the SM-DP+, which ends the server's session: a refusal of
    /// AuthenticateServer in ES9+ authenticateClient (SGP.22 §5.6.3), a refusal of
    /// PrepareDownload in ES9+ getBoundProfilePackage (§5.6.2); each request carries either
    /// alternative of the card's response. No ES9+ cancelSession follows, even when the card
    /// then signed a cancellation: the server has no session left to cancel.
    InformedOfCardRefusal,
    /// Nothing to send: the card signed no cancellation.
    NothingToSend,
    /// Not attempted: the card could not be reached for the signed cancellation.
    NotAttempted,
    /// The server refused (e.g. it had already ended the session), answered nonsense, or could
    /// not be reached.
    Failed(Fault),
}

impl fmt::Display for ServerCancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerCancellation::Cancelled => f.write_str("cancelled"),
            ServerCancellation::InformedOfCardRefusal => f.write_str("told of the card's refusal"),
            ServerCancellation::NothingToSend => f.write_str("not told (nothing signed to send)"),
            ServerCancellation::NotAttempted => f.write_str("not told"),
            ServerCancellation::Failed(fault) => write!(f, "not cancelled ({fault})"),
        }
    }
}

/// The cancellation sub-machine: optionally forward the card's refusal of AuthenticateServer
/// or PrepareDownload, then ES10b CancelSession, then ES9+ cancelSession with the card's signed
/// answer (unless the server was told of the refusal, which ended its session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cancel {
    record: SessionRecord,
    reason: CancelSessionReason,
    card: CardCancellation,
    server: ServerCancellation,
    /// Whether the record must be kept once finished (a peer could not be reached).
    keep_record: bool,
    state: CancelState,
}

/// Where a cancellation stands, named after what it expects next.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CancelState {
    /// The SM-DP+'s answer to authenticateClient or getBoundProfilePackage carrying the card's
    /// refusal.
    ExpectForwardedRefusal(ServerRequest),
    /// The card's answer to ES10b CancelSession.
    ExpectCancelSession(Pending),
    /// The SM-DP+'s answer to ES9+ cancelSession.
    ExpectServerCancelSession(ServerRequest),
    /// Nothing more to send.
    Finished,
}

impl Cancel {
    /// Starts with ES10b CancelSession, or, for a record whose card side is already cancelled,
    /// with ES9+ cancelSession.
    pub(crate) fn new(record: SessionRecord, reason: CancelSessionReason) -> Self {
        let mut cancel = Cancel::unreachable(record, reason);
        match &cancel.record.stage {
            SessionStage::CardCancelled {
                cancel_session_response,
            } => {
                let response = cancel_session_response.clone();
                cancel.card = CardCancellation::Cancelled;
                cancel.send_to_server(response);
            }
            _ => cancel.state = CancelState::ExpectCancelSession(cancel.card_request()),
        }
        cancel
    }

    /// Starts by forwarding the card's AuthenticateServer error to ES9+ authenticateClient
    /// (SGP.22 §5.6.3), then cancels on the card.
    pub(crate) fn forwarding(
        record: SessionRecord,
        reason: CancelSessionReason,
        authenticate_server_response: Vec<u8>,
    ) -> Self {
        let transaction_id = record.transaction_id;
        Cancel::forward(
            record,
            reason,
            Es9Function::AuthenticateClient,
            &es9::AuthenticateClientRequest {
                transaction_id,
                authenticate_server_response,
            },
        )
    }

    /// Starts by forwarding the card's PrepareDownload error to ES9+ getBoundProfilePackage
    /// (SGP.22 §3.1.3, §5.6.2: prepareDownloadResponse carries either alternative), so that the
    /// SM-DP+ ends its session, then cancels on the card.
    pub(crate) fn forwarding_prepare_download(
        record: SessionRecord,
        reason: CancelSessionReason,
        prepare_download_response: Vec<u8>,
    ) -> Self {
        let transaction_id = record.transaction_id;
        Cancel::forward(
            record,
            reason,
            Es9Function::GetBoundProfilePackage,
            &es9::GetBoundProfilePackageRequest {
                transaction_id,
                prepare_download_response,
            },
        )
    }

    /// Forwards a card refusal in `function`, then cancels on the card. Should the request not
    /// build, the card is cancelled and the server told with cancelSession instead.
    fn forward<B: Serialize>(
        record: SessionRecord,
        reason: CancelSessionReason,
        function: Es9Function,
        body: &B,
    ) -> Self {
        let mut cancel = Cancel::new(record, reason);
        let request = server_request(
            &cancel.record.smdp_address,
            ServerFunction::Es9(function),
            body,
        );
        if let Ok(request) = request {
            cancel.state = CancelState::ExpectForwardedRefusal(request);
        }
        cancel
    }

    /// Nothing can be cancelled: the card cannot be reached. The record is kept.
    pub(crate) fn unreachable(record: SessionRecord, reason: CancelSessionReason) -> Self {
        Cancel {
            record,
            reason,
            card: CardCancellation::NotAttempted,
            server: ServerCancellation::NotAttempted,
            keep_record: true,
            state: CancelState::Finished,
        }
    }

    fn card_request(&self) -> Pending {
        Pending::card(
            Es10Command::CancelSession,
            &CancelSessionRequest {
                transaction_id: self.record.transaction_id.as_bytes().to_vec(),
                reason: self.reason,
            },
        )
    }

    /// The card signed `cancel_session_response`: remember it (the server may have to get it
    /// later, from the record) and send it.
    fn send_to_server(&mut self, cancel_session_response: Vec<u8>) {
        self.record = self.record.with_stage(SessionStage::CardCancelled {
            cancel_session_response: cancel_session_response.clone(),
        });
        let request = server_request(
            &self.record.smdp_address,
            ServerFunction::Es9(Es9Function::CancelSession),
            &es9::CancelSessionRequest {
                transaction_id: self.record.transaction_id,
                cancel_session_response,
            },
        );
        match request {
            Ok(request) => self.state = CancelState::ExpectServerCancelSession(request),
            Err(fault) => self.finish_server(ServerCancellation::Failed(fault)),
        }
    }

    fn finish_server(&mut self, outcome: ServerCancellation) {
        self.keep_record = match &outcome {
            ServerCancellation::Failed(fault) => fault.is_transient(),
            _ => false,
        };
        self.server = outcome;
        self.state = CancelState::Finished;
    }

    /// Ends on the card side with nothing to send the server.
    fn finish_without_server(&mut self, card: CardCancellation) {
        self.keep_record = match &card {
            CardCancellation::Failed(fault) => fault.is_transient(),
            _ => false,
        };
        if matches!(self.server, ServerCancellation::NotAttempted) && !self.keep_record {
            self.server = ServerCancellation::NothingToSend;
        }
        self.card = card;
        self.state = CancelState::Finished;
    }

    pub(crate) fn pending(&self) -> Option<Pending> {
        match &self.state {
            CancelState::ExpectForwardedRefusal(request)
            | CancelState::ExpectServerCancelSession(request) => {
                Some(Pending::Server(request.clone()))
            }
            CancelState::ExpectCancelSession(pending) => Some(pending.clone()),
            CancelState::Finished => None,
        }
    }

    pub(crate) fn awaiting(&self) -> Awaiting {
        match &self.state {
            CancelState::ExpectForwardedRefusal(request)
            | CancelState::ExpectServerCancelSession(request) => Awaiting::Server(request.function),
            CancelState::ExpectCancelSession(pending) => pending.awaiting(),
            CancelState::Finished => Awaiting::Nothing,
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.state == CancelState::Finished
    }

    /// Takes the answer to what is pending; other inputs change nothing.
    pub(crate) fn handle(mut self, input: Input) -> Self {
        match core::mem::replace(&mut self.state, CancelState::Finished) {
            CancelState::ExpectForwardedRefusal(request) => {
                self.on_forwarded_refusal(request, input)
            }
            CancelState::ExpectCancelSession(pending) => self.on_cancel_session(pending, input),
            CancelState::ExpectServerCancelSession(request) => {
                self.on_server_cancel_session(request, input)
            }
            CancelState::Finished => self,
        }
    }

    fn on_forwarded_refusal(mut self, request: ServerRequest, input: Input) -> Self {
        // Any SGP.22 answer (normally Failed) means the server has seen the refusal.
        self.server = match input {
            Input::Server { status, body } => {
                let answer = match request.function {
                    ServerFunction::Es9(Es9Function::GetBoundProfilePackage) => {
                        es9::decode_response::<GetBoundProfilePackageOk>(status, &body).map(|_| ())
                    }
                    _ => es9::decode_response::<AuthenticateClientOk>(status, &body).map(|_| ()),
                };
                match answer {
                    Ok(()) | Err(es9::Es9Error::Failed { .. }) => {
                        ServerCancellation::InformedOfCardRefusal
                    }
                    Err(e) => ServerCancellation::Failed(es9_fault(request.function, e)),
                }
            }
            Input::ServerFailure(failure) => {
                ServerCancellation::Failed(server_failure(&request, failure))
            }
            _ => {
                self.state = CancelState::ExpectForwardedRefusal(request);
                return self;
            }
        };
        self.state = CancelState::ExpectCancelSession(self.card_request());
        self
    }

    fn on_cancel_session(mut self, pending: Pending, input: Input) -> Self {
        let command = Es10Command::CancelSession;
        match input {
            Input::Card(bytes) => match card_answer::<CancelSessionResponse>(command, &bytes) {
                // The server ended its session when told of the refusal: nothing to send it.
                Ok(CancelSessionResponse::Ok(_))
                    if self.server == ServerCancellation::InformedOfCardRefusal =>
                {
                    self.finish_without_server(CardCancellation::Cancelled);
                }
                Ok(CancelSessionResponse::Ok(_)) => {
                    self.card = CardCancellation::Cancelled;
                    self.send_to_server(bytes);
                }
                Ok(CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId)) => {
                    self.finish_without_server(CardCancellation::NoSession);
                }
                Ok(CancelSessionResponse::Error(code)) => self.finish_without_server(
                    CardCancellation::Failed(Fault::CardRefused(CardRefusal::CancelSession(code))),
                ),
                Err(fault) => self.finish_without_server(CardCancellation::Failed(fault)),
            },
            Input::CardFailure(failure) => {
                let fault = card_failure(command, failure);
                self.finish_without_server(CardCancellation::Failed(fault));
            }
            _ => self.state = CancelState::ExpectCancelSession(pending),
        }
        self
    }

    fn on_server_cancel_session(mut self, request: ServerRequest, input: Input) -> Self {
        match input {
            Input::Server { status, body } => {
                match es9::decode_response::<EmptyBody>(status, &body) {
                    Ok(_) => self.finish_server(ServerCancellation::Cancelled),
                    Err(e) => self
                        .finish_server(ServerCancellation::Failed(es9_fault(request.function, e))),
                }
            }
            Input::ServerFailure(failure) => {
                let fault = server_failure(&request, failure);
                self.finish_server(ServerCancellation::Failed(fault));
            }
            _ => self.state = CancelState::ExpectServerCancelSession(request),
        }
        self
    }

    /// How the session ended (meaningful once finished).
    pub(crate) fn end(&self) -> SessionEnd {
        SessionEnd {
            transaction_id: self.record.transaction_id,
            reason: self.reason,
            card: self.card.clone(),
            server: self.server.clone(),
        }
    }

    /// What to persist now.
    pub(crate) fn record(&self) -> Option<SessionRecord> {
        (!self.is_finished() || self.keep_record).then(|| self.record.clone())
    }

    /// The fault that leaves the session open, when one does (a peer could not be reached).
    pub(crate) fn blocking_fault(&self) -> Option<Fault> {
        match (&self.card, &self.server) {
            (CardCancellation::Failed(fault), _) | (_, ServerCancellation::Failed(fault))
                if fault.is_transient() =>
            {
                Some(fault.clone())
            }
            _ => None,
        }
    }
}
