//! The errors of the procedures, grouped by who is at fault, with the protocol codes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::session::SessionEnd;
use super::{Awaiting, Es10Command, ServerFailure, ServerFunction};
use crate::apdu::{ApduError, StatusWord};
use crate::bpp::BppError;
use crate::der::DecodeError;
use crate::es9::{Es9Error, FunctionStatus, TransactionId, status_code_meaning};
use crate::messages::{
    AuthenticateErrorCode, CancelSessionError, CancelSessionReason, DeleteNotificationStatus,
    DownloadErrorCode, ListNotificationError, RetrieveNotificationsListError,
};

/// Why a procedure failed: the first [`Fault`], and for a download that had an RSP session,
/// how that session was ended afterwards ([`SessionEnd`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcedureError {
    fault: Fault,
    session_end: Option<SessionEnd>,
}

impl ProcedureError {
    pub(crate) fn new(fault: Fault) -> Self {
        ProcedureError {
            fault,
            session_end: None,
        }
    }

    pub(crate) fn with_session_end(fault: Fault, session_end: SessionEnd) -> Self {
        ProcedureError {
            fault,
            session_end: Some(session_end),
        }
    }

    /// What went wrong first.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// Takes the fault out.
    pub fn into_fault(self) -> Fault {
        self.fault
    }

    /// How the RSP session was ended after the fault, when there was one.
    pub fn session_end(&self) -> Option<&SessionEnd> {
        self.session_end.as_ref()
    }

    /// Whether the same procedure may succeed if started again later (the card or server could
    /// not be reached, or the server had a passing problem such as HTTP 503).
    pub fn is_transient(&self) -> bool {
        self.fault.is_transient()
    }

    /// Whether the RSP session may still be open on the card or the server (one of them could
    /// not be reached to cancel it): keep the session record and run [`super::Recovery`] later.
    pub fn session_left_open(&self) -> bool {
        self.session_end
            .as_ref()
            .is_some_and(|end| !end.is_complete())
    }
}

impl From<Fault> for ProcedureError {
    fn from(fault: Fault) -> Self {
        ProcedureError::new(fault)
    }
}

impl From<ApiMisuse> for ProcedureError {
    fn from(misuse: ApiMisuse) -> Self {
        ProcedureError::new(Fault::ApiMisuse(misuse))
    }
}

impl fmt::Display for ProcedureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.fault, f)?;
        if let Some(end) = &self.session_end {
            write!(f, "; {end}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProcedureError {}

/// What went wrong, grouped by who is at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The eUICC refused a command (an error status word or an ES10 error code).
    CardRefused(CardRefusal),
    /// The server answered `Failed` or `Expired` (SGP.22 §6.5.1.4), with its codes.
    ServerRefused(ServerRefusal),
    /// The card or the server answered something a correct peer does not send.
    PeerMisbehaved(Misbehaviour),
    /// The end user declined; the session was cancelled with this reason.
    UserDeclined {
        /// The reason given to the card and the SM-DP+.
        reason: CancelSessionReason,
    },
    /// The card or the server could not be reached.
    TransportFailed(TransportFailure),
    /// What the procedure was started with cannot work.
    BadInput(BadInput),
    /// The driver fed an input the procedure did not wait for.
    ApiMisuse(ApiMisuse),
}

impl Fault {
    /// Whether trying again later may succeed: the card or server could not be reached (a
    /// refused TLS certificate excepted), or the server answered HTTP 408, 429 or 5xx without
    /// an SGP.22 status.
    pub fn is_transient(&self) -> bool {
        match self {
            Fault::TransportFailed(TransportFailure::Card { .. }) => true,
            Fault::TransportFailed(TransportFailure::Server { failure, .. }) => {
                failure.is_transient()
            }
            Fault::PeerMisbehaved(Misbehaviour::ServerAnswer {
                error: Es9Error::Http { status, .. },
                ..
            }) => *status >= 500 || matches!(status, 408 | 429),
            _ => false,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::CardRefused(r) => write!(f, "the eUICC refused: {r}"),
            Fault::ServerRefused(r) => write!(f, "the server refused: {r}"),
            Fault::PeerMisbehaved(m) => write!(f, "protocol violation: {m}"),
            Fault::UserDeclined { reason } => {
                write!(f, "the user declined ({})", reason_name(*reason))
            }
            Fault::TransportFailed(t) => fmt::Display::fmt(t, f),
            Fault::BadInput(b) => fmt::Display::fmt(b, f),
            Fault::ApiMisuse(m) => fmt::Display::fmt(m, f),
        }
    }
}

/// The SGP.22 name of a cancel reason.
pub(crate) fn reason_name(reason: CancelSessionReason) -> &'static str {
    match reason {
        CancelSessionReason::EndUserRejection => "endUserRejection",
        CancelSessionReason::Postponed => "postponed",
        CancelSessionReason::Timeout => "timeout",
        CancelSessionReason::PprNotAllowed => "pprNotAllowed",
        CancelSessionReason::MetadataMismatch => "metadataMismatch",
        CancelSessionReason::LoadBppExecutionError => "loadBppExecutionError",
        CancelSessionReason::UndefinedReason => "undefinedReason",
        CancelSessionReason::Unknown(_) => "a reason unknown to SGP.22 v2.5",
    }
}

/// How the eUICC refused, with its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardRefusal {
    /// An error status word instead of an answer.
    Status {
        /// The command.
        command: Es10Command,
        /// The status word, e.g. `6A80`.
        sw: StatusWord,
    },
    /// AuthenticateServer: authenticateResponseError (SGP.22 §5.7.13).
    AuthenticateServer(AuthenticateErrorCode),
    /// PrepareDownload: downloadResponseError (SGP.22 §5.7.5).
    PrepareDownload(DownloadErrorCode),
    /// CancelSession: cancelSessionResponseError (SGP.22 §5.7.14).
    CancelSession(CancelSessionError),
    /// ListNotification: listNotificationsResultError (SGP.22 §5.7.10).
    ListNotification(ListNotificationError),
    /// RetrieveNotificationsList: notificationsListResultError (SGP.22 §5.7.11).
    RetrieveNotificationsList(RetrieveNotificationsListError),
    /// RemoveNotificationFromList: deleteNotificationStatus (SGP.22 §5.7.12).
    RemoveNotificationFromList(DeleteNotificationStatus),
}

impl CardRefusal {
    /// The refused command.
    pub fn command(&self) -> Es10Command {
        match self {
            CardRefusal::Status { command, .. } => *command,
            CardRefusal::AuthenticateServer(_) => Es10Command::AuthenticateServer,
            CardRefusal::PrepareDownload(_) => Es10Command::PrepareDownload,
            CardRefusal::CancelSession(_) => Es10Command::CancelSession,
            CardRefusal::ListNotification(_) => Es10Command::ListNotification,
            CardRefusal::RetrieveNotificationsList(_) => Es10Command::RetrieveNotificationsList,
            CardRefusal::RemoveNotificationFromList(_) => Es10Command::RemoveNotificationFromList,
        }
    }

    /// The ES10 result or error code, for refusals that carry one.
    pub fn code(&self) -> Option<i64> {
        match self {
            CardRefusal::Status { .. } => None,
            CardRefusal::AuthenticateServer(c) => Some(c.code()),
            CardRefusal::PrepareDownload(c) => Some(c.code()),
            CardRefusal::CancelSession(c) => Some(c.code()),
            CardRefusal::ListNotification(c) => Some(c.code()),
            CardRefusal::RetrieveNotificationsList(c) => Some(c.code()),
            CardRefusal::RemoveNotificationFromList(c) => Some(c.code()),
        }
    }
}

impl fmt::Display for CardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardRefusal::Status { command, sw } => {
                write!(f, "{command} ended with status {sw} ({})", sw.meaning())
            }
            CardRefusal::AuthenticateServer(c) => {
                write!(f, "{} with authenticateErrorCode {c:?}", self.command())
            }
            CardRefusal::PrepareDownload(c) => {
                write!(f, "{} with downloadErrorCode {c:?}", self.command())
            }
            CardRefusal::CancelSession(c) => {
                write!(f, "{} with cancelSessionError {c:?}", self.command())
            }
            CardRefusal::ListNotification(c) => write!(f, "{} with {c:?}", self.command()),
            CardRefusal::RetrieveNotificationsList(c) => {
                write!(f, "{} with {c:?}", self.command())
            }
            CardRefusal::RemoveNotificationFromList(c) => {
                write!(f, "{} with deleteNotificationStatus {c:?}", self.command())
            }
        }
    }
}

/// A `Failed` or `Expired` answer of an SM-DP+ or SM-DS (SGP.22 §6.5.1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerRefusal {
    /// The function that was refused.
    pub function: ServerFunction,
    /// `Failed`, `Expired` or an unknown status.
    pub status: FunctionStatus,
    /// `subjectCode`, e.g. `8.2.7`.
    pub subject_code: String,
    /// `reasonCode`, e.g. `3.8`.
    pub reason_code: String,
    /// `subjectIdentifier`, when sent.
    pub subject_identifier: Option<String>,
    /// `message`, when sent.
    pub message: Option<String>,
}

impl ServerRefusal {
    /// Plain-words meaning of the code pair, when it is a common one
    /// ([`crate::es9::status_code_meaning`]).
    pub fn meaning(&self) -> Option<&'static str> {
        status_code_meaning(&self.subject_code, &self.reason_code)
    }
}

impl fmt::Display for ServerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered {} (subject code {:?}, reason code {:?})",
            self.function, self.status, self.subject_code, self.reason_code
        )?;
        if let Some(meaning) = self.meaning() {
            write!(f, ": {meaning}")?;
        }
        if let Some(message) = &self.message {
            write!(f, "; server message: {message:?}")?;
        }
        Ok(())
    }
}

/// What a peer did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// The card's answer is not the response DER of the command (bad DER, unexpected tag, a
    /// missing element, or nothing where an answer was due).
    CardAnswer {
        /// The command.
        command: Es10Command,
        /// What is wrong with the answer.
        error: DecodeError,
    },
    /// The APDU exchange broke down in a way other than an error status word.
    CardApdu {
        /// The command.
        command: Es10Command,
        /// The APDU layer's error.
        error: ApduError,
    },
    /// The card answered every sequence of the Bound Profile Package without a
    /// ProfileInstallationResult (SGP.22 §2.5.5: the last one must return it).
    MissingInstallationResult,
    /// The server's HTTP answer is not a valid SGP.22 answer: an HTTP error status without an
    /// SGP.22 header (e.g. 500 with an HTML page), broken JSON, a missing or malformed field.
    ServerAnswer {
        /// The function called.
        function: ServerFunction,
        /// What is wrong with the answer.
        error: Es9Error,
    },
    /// A binary field of the server's answer does not hold the DER it must.
    ServerData {
        /// The function called.
        function: ServerFunction,
        /// The JSON field, e.g. `serverSigned1`.
        field: &'static str,
        /// What is wrong with it.
        error: DecodeError,
    },
    /// serverSigned1 does not echo the eUICC challenge the LPA sent (SGP.22 §3.1.2).
    ChallengeMismatch {
        /// The function whose answer carried it.
        function: ServerFunction,
    },
    /// serverSigned1 names another server than the one the LPA contacted (SGP.22 §3.1.2).
    AddressMismatch {
        /// The function whose answer carried it.
        function: ServerFunction,
        /// The address the LPA used.
        expected: String,
        /// The serverAddress signed by the server.
        found: String,
    },
    /// A transactionId differs from the session's.
    TransactionIdMismatch {
        /// The function whose answer carried it.
        function: ServerFunction,
        /// Where it was found, e.g. `smdpSigned2.transactionId`.
        field: &'static str,
        /// The session's transactionId.
        expected: TransactionId,
        /// What was found.
        found: Vec<u8>,
    },
    /// The Bound Profile Package does not have the structure SGP.22 §2.5.5 describes.
    InvalidBoundProfilePackage(BppError),
}

impl fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misbehaviour::CardAnswer { command, error } => {
                write!(f, "the card's answer to {command} is invalid: {error}")
            }
            Misbehaviour::CardApdu { command, error } => {
                write!(f, "the APDU exchange of {command} failed: {error}")
            }
            Misbehaviour::MissingInstallationResult => f.write_str(
                "the card answered the whole Bound Profile Package without a ProfileInstallationResult",
            ),
            Misbehaviour::ServerAnswer { function, error } => {
                write!(f, "the answer to {function} is invalid: {error}")
            }
            Misbehaviour::ServerData {
                function,
                field,
                error,
            } => write!(f, "`{field}` in the answer to {function} is invalid: {error}"),
            Misbehaviour::ChallengeMismatch { function } => write!(
                f,
                "serverSigned1 in the answer to {function} does not echo our eUICC challenge"
            ),
            Misbehaviour::AddressMismatch {
                function,
                expected,
                found,
            } => write!(
                f,
                "serverSigned1 in the answer to {function} names server {found:?}, not {expected:?}"
            ),
            Misbehaviour::TransactionIdMismatch {
                function,
                field,
                expected,
                found,
            } => write!(
                f,
                "{field} in the answer to {function} is {}, not the session's {expected}",
                hex::encode_upper(found)
            ),
            Misbehaviour::InvalidBoundProfilePackage(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// A peer that could not be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportFailure {
    /// The card did not answer.
    Card {
        /// The command it did not answer.
        command: Es10Command,
        /// The driver's description.
        detail: String,
    },
    /// The server did not answer.
    Server {
        /// The function called.
        function: ServerFunction,
        /// The server address.
        address: String,
        /// Why.
        failure: ServerFailure,
    },
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportFailure::Card { command, detail } => {
                write!(f, "the card could not be reached for {command}: {detail}")
            }
            TransportFailure::Server {
                function,
                address,
                failure,
            } => write!(
                f,
                "{address} could not be reached for {function}: {failure}"
            ),
        }
    }
}

/// What the procedure was started with cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BadInput {
    /// A server address that is not a plain `host[:port]`.
    InvalidAddress {
        /// The address as given.
        address: String,
    },
    /// A download from the default SM-DP+, but the eUICC has none configured.
    NoDefaultSmdpAddress,
    /// A discovery at the root SM-DS, but the eUICC has none configured.
    NoRootSmdsAddress,
    /// A request body could not be encoded (not expected for these types).
    Encode {
        /// The encoder's description.
        detail: String,
    },
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadInput::InvalidAddress { address } => {
                write!(f, "not a server address (host[:port]): {address:?}")
            }
            BadInput::NoDefaultSmdpAddress => {
                f.write_str("the eUICC has no default SM-DP+ address")
            }
            BadInput::NoRootSmdsAddress => f.write_str("the eUICC has no root SM-DS address"),
            BadInput::Encode { detail } => write!(f, "could not encode a request: {detail}"),
        }
    }
}

/// The kinds of [`super::Input`], as misuse reports name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputKind {
    /// `handle_card`.
    CardResponse,
    /// `handle_card_failure`.
    CardFailure,
    /// `handle_server`.
    ServerResponse,
    /// `handle_server_failure`.
    ServerFailure,
    /// `handle_user(Answer::Accept)`.
    Accept,
    /// `handle_user(Answer::Decline(..))`.
    Decline,
    /// `handle_user(Answer::ConfirmationCode(..))`.
    ConfirmationCode,
}

/// An input the procedure did not wait for; it was ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiMisuse {
    /// What was given.
    pub input: InputKind,
    /// What the procedure waits for.
    pub awaiting: Awaiting,
}

impl ApiMisuse {
    pub(crate) fn new(input: InputKind, awaiting: Awaiting) -> Self {
        ApiMisuse { input, awaiting }
    }
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "API misuse: got {:?} while waiting for {}",
            self.input, self.awaiting
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ApiMisuse {}
