//! The SGP.22 procedures as sans-IO state machines: profile download (§3.1.3), event
//! discovery at an SM-DS (§3.6.2), notification delivery (§3.5) and the recovery of a
//! download session a crash left open (§3.1.3, CancelSession).
//!
//! A machine does no I/O. It says what it needs next ([`Procedure::poll`] gives a [`Step`]),
//! and the driver does it and feeds the outcome back (`handle_*`):
//!
//! ```text
//!                     +----------------- Procedure (Download, Discovery, ...) ----------------+
//!  driver loop  --->  | poll() -> Step::Card(ES10 DER)      --> STORE DATA to the eUICC       |
//!                     |          Step::Server(ServerRequest)--> HTTPS POST to SM-DP+ / SM-DS  |
//!                     |          Step::User(Question)       --> ask the end user              |
//!                     |          Step::Done(result)         --> finished                      |
//!  answers      --->  | handle_card / handle_card_failure, handle_server / handle_server_failure,
//!                     | handle_user                                                           |
//!                     +-----------------------------------------------------------------------+
//! ```
//!
//! # The driving loop
//!
//! Every machine implements [`Procedure`], so one loop drives them all. `poll` does not change
//! the machine (calling it twice gives the same step); each `handle_*` answers the step last
//! polled. An input the machine does not expect now (a card answer while it waits for the
//! server, a confirmation code while it asks for consent, anything after `Done`) is refused
//! with [`ApiMisuse`] and changes nothing. Everything else, including failures of the card or
//! the server, is handled inside the machine and ends in `Step::Done`.
//!
//! ```
//! use lpa_core::procedures::{
//!     Answer, CardFailure, Procedure, ProcedureError, Question, ServerFailure, SessionRecord,
//!     Step,
//! };
//!
//! /// One blocking driver for every procedure: `es10` sends one ES10 command with STORE DATA
//! /// (see `lpa_core::apdu::StoreDataExchange`) and returns the card's answer, `https` POSTs a
//! /// JSON body with the `es9::REQUEST_HEADERS`, `ask` talks to the user and `persist` keeps the
//! /// session record across crashes (`None`: forget it).
//! fn drive<P: Procedure>(
//!     procedure: &mut P,
//!     mut es10: impl FnMut(&[u8]) -> Result<Vec<u8>, CardFailure>,
//!     mut https: impl FnMut(&str, &[u8]) -> Result<(u16, Vec<u8>), ServerFailure>,
//!     mut ask: impl FnMut(&Question) -> Answer,
//!     mut persist: impl FnMut(Option<SessionRecord>),
//! ) -> Result<P::Output, ProcedureError> {
//!     loop {
//!         let handled = match procedure.poll() {
//!             Step::Card(request) => match es10(&request) {
//!                 Ok(response) => procedure.handle_card(response),
//!                 Err(failure) => procedure.handle_card_failure(failure),
//!             },
//!             Step::Server(request) => match https(&request.url, &request.body) {
//!                 Ok((status, body)) => procedure.handle_server(status, body),
//!                 Err(failure) => procedure.handle_server_failure(failure),
//!             },
//!             Step::User(question) => procedure.handle_user(ask(&question)),
//!             Step::Done(result) => {
//!                 persist(procedure.session_record());
//!                 return result;
//!             }
//!         };
//!         // Only a bug in this loop gets here with an error; it left the machine unchanged.
//!         handled?;
//!         persist(procedure.session_record());
//!     }
//! }
//! ```
//!
//! Retries, back-off and deadlines are the driver's: nothing here reads a clock. Errors say
//! whether trying again later is worthwhile ([`ProcedureError::is_transient`]).
//!
//! # Sessions and crash safety
//!
//! From a successful initiateAuthentication on, a download has an RSP session on both the
//! eUICC and the SM-DP+. Whatever goes wrong after that, [`Download`] ends it on both sides
//! before it reports the error (SGP.22 §3.1.3: ES10b CancelSession on the card, then ES9+
//! cancelSession with the card's signed answer). [`Procedure::session_record`] tells the driver
//! what to keep on disk after every step; after a crash or when the card could not be reached,
//! [`Recovery`] ends the session from that record.

// Faults carry what peers send (an SGP.22 statusCodeData is four strings), so they are large.
// They are built once per failed procedure, and unboxed they stay matchable with nested
// patterns; the same holds for the states that keep them until `Done` is polled.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod authentication;
mod common;
mod discovery;
mod download;
mod error;
mod notifications;
mod recovery;
mod session;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use crate::apdu::ApduError;
use crate::bpp::BppCommandKind;
use crate::es9::{Es9Function, Es11Function, REQUEST_HEADERS};
use crate::messages::{CancelSessionReason, StoreMetadataRequest};

pub use discovery::Discovery;
pub use download::{Download, DownloadSource, InstallOutcome, Installation};
pub use error::{
    ApiMisuse, BadInput, CardRefusal, Fault, InputKind, Misbehaviour, ProcedureError,
    ServerRefusal, TransportFailure,
};
pub use notifications::{
    DeliveryOutcome, DeliveryReport, NotificationDelivery, NotificationFilter, NotificationResult,
};
pub use recovery::Recovery;
pub use session::{CardCancellation, ServerCancellation, SessionEnd, SessionRecord, SessionStage};

/// What a procedure needs next; from [`Procedure::poll`].
#[must_use = "a step is work for the driver: send it, ask it, or take the result"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Send this ES10 request (one DER TLV, or one sequence of a Bound Profile Package) to the
    /// ISD-R with STORE DATA, then call [`Procedure::handle_card`] with the card's whole answer
    /// (the reassembled response data without the status word; empty when the card answered
    /// `9000` alone) or [`Procedure::handle_card_failure`].
    Card(Vec<u8>),
    /// POST this JSON body to the server, then call [`Procedure::handle_server`] with the HTTP
    /// status and body of whatever came back (also for 4xx/5xx), or
    /// [`Procedure::handle_server_failure`] when no answer came (connect, TLS, timeout).
    Server(ServerRequest),
    /// Ask the end user, then call [`Procedure::handle_user`].
    User(Question),
    /// The procedure is over. Polling again gives the same result.
    Done(Result<T, ProcedureError>),
}

/// One ES9+ or ES11 call for the driver's HTTPS client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRequest {
    /// The server address (`host[:port]`), as the activation code, the card or the SM-DS gave
    /// it, without surrounding white space.
    pub address: String,
    /// The function called.
    pub function: ServerFunction,
    /// `https://<address><path>`, already checked ([`crate::es9::es9plus_url`]).
    pub url: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl ServerRequest {
    /// The headers to send with it (SGP.22 §6.5.1): Content-Type, X-Admin-Protocol,
    /// User-Agent.
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        &REQUEST_HEADERS
    }
}

/// An ES9+ (SM-DP+) or ES11 (SM-DS) function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerFunction {
    /// An ES9+ function (SGP.22 §5.6).
    Es9(Es9Function),
    /// An ES11 function (SGP.22 §5.8).
    Es11(Es11Function),
}

impl ServerFunction {
    /// The function name, e.g. `authenticateClient`.
    pub const fn name(self) -> &'static str {
        match self {
            ServerFunction::Es9(f) => f.name(),
            ServerFunction::Es11(f) => f.name(),
        }
    }

    /// The HTTP path the request goes to (for ES11, the one deployed SM-DS servers answer:
    /// [`Es11Function::path`]).
    pub const fn path(self) -> &'static str {
        match self {
            ServerFunction::Es9(f) => f.path(),
            ServerFunction::Es11(f) => f.path(),
        }
    }
}

impl fmt::Display for ServerFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerFunction::Es9(function) => write!(f, "ES9+.{}", function.name()),
            ServerFunction::Es11(function) => write!(f, "ES11.{}", function.name()),
        }
    }
}

/// The ES10 commands the procedures send (SGP.22 §5.7), for error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Es10Command {
    /// ES10a.GetEuiccConfiguredAddresses (`BF3C`).
    GetEuiccConfiguredAddresses,
    /// ES10b.GetEUICCChallenge (`BF2E`).
    GetEuiccChallenge,
    /// ES10b.GetEUICCInfo, EUICCInfo1 (`BF20`).
    GetEuiccInfo1,
    /// ES10b.AuthenticateServer (`BF38`).
    AuthenticateServer,
    /// ES10b.PrepareDownload (`BF21`).
    PrepareDownload,
    /// ES10b.LoadBoundProfilePackage (`BF36`): one of its STORE DATA sequences.
    LoadBoundProfilePackage(BppCommandKind),
    /// ES10b.CancelSession (`BF41`).
    CancelSession,
    /// ES10b.ListNotification (`BF28`).
    ListNotification,
    /// ES10b.RetrieveNotificationsList (`BF2B`).
    RetrieveNotificationsList,
    /// ES10b.RemoveNotificationFromList, NotificationSent (`BF30`).
    RemoveNotificationFromList,
}

impl Es10Command {
    /// The tag of the request, e.g. `0xBF38`.
    pub const fn tag(self) -> u32 {
        match self {
            Es10Command::GetEuiccConfiguredAddresses => 0xBF3C,
            Es10Command::GetEuiccChallenge => 0xBF2E,
            Es10Command::GetEuiccInfo1 => 0xBF20,
            Es10Command::AuthenticateServer => 0xBF38,
            Es10Command::PrepareDownload => 0xBF21,
            Es10Command::LoadBoundProfilePackage(_) => 0xBF36,
            Es10Command::CancelSession => 0xBF41,
            Es10Command::ListNotification => 0xBF28,
            Es10Command::RetrieveNotificationsList => 0xBF2B,
            Es10Command::RemoveNotificationFromList => 0xBF30,
        }
    }

    /// The SGP.22 name, e.g. `AuthenticateServer`.
    pub const fn name(self) -> &'static str {
        match self {
            Es10Command::GetEuiccConfiguredAddresses => "GetEuiccConfiguredAddresses",
            Es10Command::GetEuiccChallenge => "GetEUICCChallenge",
            Es10Command::GetEuiccInfo1 => "GetEUICCInfo1",
            Es10Command::AuthenticateServer => "AuthenticateServer",
            Es10Command::PrepareDownload => "PrepareDownload",
            Es10Command::LoadBoundProfilePackage(_) => "LoadBoundProfilePackage",
            Es10Command::CancelSession => "CancelSession",
            Es10Command::ListNotification => "ListNotification",
            Es10Command::RetrieveNotificationsList => "RetrieveNotificationsList",
            Es10Command::RemoveNotificationFromList => "RemoveNotificationFromList",
        }
    }
}

impl fmt::Display for Es10Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Es10Command::LoadBoundProfilePackage(kind) => {
                write!(f, "ES10b.LoadBoundProfilePackage ({kind:?})")
            }
            other => write!(f, "ES10.{}", other.name()),
        }
    }
}

/// A question for the end user; answer it with [`Procedure::handle_user`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Question {
    /// Show the profile and ask for consent to download it (SGP.22 §3.1.3.2): answer
    /// [`Answer::Accept`], or [`Answer::Decline`] with the reason (endUserRejection when the
    /// user said no, postponed, timeout when nobody answered, pprNotAllowed...).
    ConfirmProfile {
        /// The profile metadata the SM-DP+ sent: ICCID, provider and profile names, icon,
        /// class, profile policy rules.
        metadata: StoreMetadataRequest,
        /// The SM-DP+ offering it.
        smdp_address: String,
        /// Whether a confirmation code will be asked for next.
        confirmation_code_required: bool,
    },
    /// Ask for the confirmation code the operator gave the user (SGP.22 §3.1.3.3): answer
    /// [`Answer::ConfirmationCode`] or [`Answer::Decline`].
    ConfirmationCode {
        /// The SM-DP+ that asks for it.
        smdp_address: String,
    },
}

impl Question {
    /// Which question this is.
    pub fn kind(&self) -> QuestionKind {
        match self {
            Question::ConfirmProfile { .. } => QuestionKind::ConfirmProfile,
            Question::ConfirmationCode { .. } => QuestionKind::ConfirmationCode,
        }
    }
}

/// The kinds of [`Question`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QuestionKind {
    /// [`Question::ConfirmProfile`].
    ConfirmProfile,
    /// [`Question::ConfirmationCode`].
    ConfirmationCode,
}

/// The end user's answer to a [`Question`].
#[derive(Clone, PartialEq, Eq)]
pub enum Answer {
    /// Yes, download this profile.
    Accept,
    /// No: the session is cancelled with this reason (SGP.22 §5.7.14 CancelSessionReason).
    Decline(CancelSessionReason),
    /// The confirmation code as entered (its UTF-8 bytes are hashed, SGP.22 §3.1.3.3).
    ConfirmationCode(String),
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Accept => f.write_str("Accept"),
            Answer::Decline(reason) => f.debug_tuple("Decline").field(reason).finish(),
            // A secret of the user: kept out of logs.
            Answer::ConfirmationCode(_) => f.write_str("ConfirmationCode(..)"),
        }
    }
}

/// Why the driver could not get the card's answer to a [`Step::Card`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardFailure {
    /// The APDU exchange failed, typically because the card answered an error status word
    /// ([`ApduError::Status`]). The card is still there: the session can be cancelled.
    Apdu(ApduError),
    /// The card cannot be reached (reader removed, modem gone, channel lost, no answer in time).
    /// Nothing more can be sent to it, so an open session stays open until [`Recovery`].
    Unreachable(String),
}

impl From<ApduError> for CardFailure {
    fn from(e: ApduError) -> Self {
        CardFailure::Apdu(e)
    }
}

impl fmt::Display for CardFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardFailure::Apdu(e) => write!(f, "APDU exchange failed: {e}"),
            CardFailure::Unreachable(detail) => write!(f, "card unreachable: {detail}"),
        }
    }
}

/// Why the driver got no HTTP answer to a [`Step::Server`]. Any answer, whatever its status,
/// goes to [`Procedure::handle_server`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerFailure {
    /// DNS, TCP connect or proxy failure.
    Connect(String),
    /// The TLS handshake failed or the server's certificate was refused.
    Tls(String),
    /// No complete answer within the driver's deadline.
    Timeout(Duration),
    /// Any other I/O failure.
    Other(String),
}

impl ServerFailure {
    /// Whether the same request may succeed later (everything but a refused certificate).
    pub fn is_transient(&self) -> bool {
        !matches!(self, ServerFailure::Tls(_))
    }
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerFailure::Connect(e) => write!(f, "could not connect: {e}"),
            ServerFailure::Tls(e) => write!(f, "TLS failed: {e}"),
            ServerFailure::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
            ServerFailure::Other(e) => write!(f, "HTTP exchange failed: {e}"),
        }
    }
}

/// One input to a procedure; the `handle_*` methods of [`Procedure`] wrap it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// The card's answer to a [`Step::Card`].
    Card(Vec<u8>),
    /// No answer to a [`Step::Card`].
    CardFailure(CardFailure),
    /// The server's answer to a [`Step::Server`].
    Server {
        /// HTTP status code.
        status: u16,
        /// Body (possibly empty).
        body: Vec<u8>,
    },
    /// No answer to a [`Step::Server`].
    ServerFailure(ServerFailure),
    /// The user's answer to a [`Step::User`].
    User(Answer),
}

impl Input {
    /// What kind of input this is, as API misuse reports name it.
    pub fn kind(&self) -> InputKind {
        match self {
            Input::Card(_) => InputKind::CardResponse,
            Input::CardFailure(_) => InputKind::CardFailure,
            Input::Server { .. } => InputKind::ServerResponse,
            Input::ServerFailure(_) => InputKind::ServerFailure,
            Input::User(Answer::Accept) => InputKind::Accept,
            Input::User(Answer::Decline(_)) => InputKind::Decline,
            Input::User(Answer::ConfirmationCode(_)) => InputKind::ConfirmationCode,
        }
    }
}

/// What a procedure waits for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Awaiting {
    /// The card's answer to this command.
    Card(Es10Command),
    /// The server's answer to this function.
    Server(ServerFunction),
    /// The user's answer to this question.
    User(QuestionKind),
    /// Nothing: the procedure is done.
    Nothing,
}

impl Awaiting {
    /// Whether `input` answers what is awaited.
    pub fn accepts(self, input: &Input) -> bool {
        matches!(
            (self, input),
            (Awaiting::Card(_), Input::Card(_) | Input::CardFailure(_))
                | (
                    Awaiting::Server(_),
                    Input::Server { .. } | Input::ServerFailure(_)
                )
                | (
                    Awaiting::User(QuestionKind::ConfirmProfile),
                    Input::User(Answer::Accept | Answer::Decline(_)),
                )
                | (
                    Awaiting::User(QuestionKind::ConfirmationCode),
                    Input::User(Answer::ConfirmationCode(_) | Answer::Decline(_)),
                )
        )
    }
}

impl fmt::Display for Awaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Awaiting::Card(command) => write!(f, "the card's answer to {command}"),
            Awaiting::Server(function) => write!(f, "the server's answer to {function}"),
            Awaiting::User(QuestionKind::ConfirmProfile) => {
                f.write_str("the user's consent to the profile (Accept or Decline)")
            }
            Awaiting::User(QuestionKind::ConfirmationCode) => {
                f.write_str("the user's confirmation code (ConfirmationCode or Decline)")
            }
            Awaiting::Nothing => f.write_str("nothing (the procedure is done)"),
        }
    }
}

/// A sans-IO SGP.22 procedure: see the [module documentation](self) for the driving loop.
pub trait Procedure {
    /// What the procedure produces when it succeeds.
    type Output: Clone + fmt::Debug;

    /// What to do next. Does not change the machine: polling twice gives the same step.
    fn poll(&self) -> Step<Self::Output>;

    /// What the machine waits for now.
    fn awaiting(&self) -> Awaiting;

    /// Feeds one input. An input that does not answer [`Procedure::awaiting`] is refused with
    /// [`ApiMisuse`] and changes nothing; every other outcome shows in the next
    /// [`Procedure::poll`].
    fn handle(&mut self, input: Input) -> Result<(), ApiMisuse>;

    /// What the driver should keep on disk now to recover the RSP session after a crash
    /// ([`Recovery`]); `None` when there is nothing to recover (no session, or it ended).
    fn session_record(&self) -> Option<SessionRecord> {
        None
    }

    /// While a Bound Profile Package is being loaded: (STORE DATA sequences already answered,
    /// sequences in all), for a progress display; `None` otherwise. Lets a driver report
    /// progress without decoding the package a second time.
    fn load_progress(&self) -> Option<(usize, usize)> {
        None
    }

    /// The card's answer to [`Step::Card`].
    fn handle_card(&mut self, response: Vec<u8>) -> Result<(), ApiMisuse> {
        self.handle(Input::Card(response))
    }

    /// No answer from the card to [`Step::Card`].
    fn handle_card_failure(&mut self, failure: CardFailure) -> Result<(), ApiMisuse> {
        self.handle(Input::CardFailure(failure))
    }

    /// The server's answer (any HTTP status) to [`Step::Server`].
    fn handle_server(&mut self, status: u16, body: Vec<u8>) -> Result<(), ApiMisuse> {
        self.handle(Input::Server { status, body })
    }

    /// No answer from the server to [`Step::Server`].
    fn handle_server_failure(&mut self, failure: ServerFailure) -> Result<(), ApiMisuse> {
        self.handle(Input::ServerFailure(failure))
    }

    /// The user's answer to [`Step::User`].
    fn handle_user(&mut self, answer: Answer) -> Result<(), ApiMisuse> {
        self.handle(Input::User(answer))
    }
}

#[cfg(test)]
mod tests;
