//! [`LpaError`]: what an [`Lpa`](super::Lpa) call can fail with, grouped by who is at fault,
//! with the protocol codes, and the [`ErrorKind`] and exit code a command line reports.

use core::fmt;

use lpa_core::apdu::{ApduError, StatusWord};
use lpa_core::messages::CancelSessionReason;
use lpa_core::procedures::{
    BadInput, CardCancellation, CardFailure, CardRefusal, DeliveryOutcome, Fault, Installation,
    ProcedureError, ServerCancellation, ServerFailure, SessionEnd, TransportFailure,
};

use crate::es10::{Es10Error, PolicyRule};
use crate::http::HttpError;
use crate::storage::StorageError;
use crate::transport::TransportError;
use lpa_core::procedures::DeliveryReport;

/// Why an [`Lpa`](super::Lpa) call failed.
///
/// The variants are grouped by who is at fault, as [`ErrorKind`] names the groups: the link
/// to the eUICC (`Transport`), the eUICC (`Card`, `Es10`, `InstallationFailed`), the server
/// (`Server`), the link to the server (`Http`), a peer breaking the protocol (`Procedure`),
/// the user (`Declined`), the profile policy rules (`Policy`), the session store
/// (`Storage`), the caller (`InvalidInput`) and this crate (`Internal`).
///
/// How a failed download's RSP session was ended afterwards (CancelSession on both sides) is
/// kept by [`Lpa::last_session_end`](super::Lpa::last_session_end); for errors of the
/// `Procedure` variant also by [`ProcedureError::session_end`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LpaError {
    /// The eUICC could not be reached: serial port, modem, reader, deadline, lost channel.
    Transport(TransportError),
    /// The eUICC refused a command: an error status word or an ES10 result code.
    Card {
        /// The ES10 function (SGP.22 name, e.g. `EnableProfile`).
        command: &'static str,
        /// The status word, when the card refused an APDU.
        status_word: Option<StatusWord>,
        /// The ES10 result or error code, when the card answered with one.
        code: Option<i64>,
        /// What the card said, in words (e.g. `profileNotInDisabledState`).
        reason: String,
    },
    /// Any other failure of the ES10 client: no ISD-R, an answer that is not SGP.22, no
    /// response where one was due.
    Es10(Es10Error),
    /// The eUICC refused the Bound Profile Package: its ProfileInstallationResult says why.
    /// The result went to the SM-DP+ as a notification (`notifications`), and nothing of the
    /// profile is left on the card.
    InstallationFailed {
        /// What the card answered (outcome [`lpa_core::procedures::InstallOutcome::Failed`]).
        installation: Box<Installation>,
        /// The delivery of the install-result notification and older pending ones.
        notifications: DeliveryReport,
    },
    /// The SM-DP+ or SM-DS answered `Failed` or `Expired` (SGP.22 §6.5.1.4).
    Server {
        /// `subjectCode`, e.g. `8.2.7`.
        subject_code: String,
        /// `reasonCode`, e.g. `3.8`.
        reason_code: String,
        /// The server's message, if it sent one.
        message: Option<String>,
    },
    /// The server could not be reached or was not trusted: DNS, connect, proxy, TLS (an
    /// untrusted CI, a wrong host name, an expired certificate), `http://`, deadline.
    Http(HttpError),
    /// A peer broke the protocol (a malformed answer, a signature or transactionId that does
    /// not match, HTTP 500 without an SGP.22 answer...), or anything else the procedure
    /// reports; it carries how the RSP session was ended.
    Procedure(ProcedureError),
    /// The download was declined (by the user, or because a confirmation was needed that
    /// nobody gave); the session was cancelled on both sides with this reason.
    Declined {
        /// The CancelSession reason given to the card and the SM-DP+.
        reason: CancelSessionReason,
    },
    /// The profile policy rules (SGP.22 §2.9) forbid the operation; nothing was sent to the
    /// card for it (for a download: the session was cancelled with reason pprNotAllowed).
    Policy {
        /// The operation refused (SGP.22 name, e.g. `DisableProfile`).
        command: &'static str,
        /// The rule, for PPR1/PPR2 on an installed profile.
        rule: Option<PolicyRule>,
        /// Why, in words.
        detail: String,
    },
    /// The session record could not be read or written.
    Storage(StorageError),
    /// The caller's input cannot work (a malformed activation code, a server address that is
    /// not `host[:port]`, no default SM-DP+ configured, a bad configuration).
    InvalidInput(String),
    /// A bug in this crate (the driver fed a procedure what it did not wait for).
    Internal(String),
}

/// The groups of [`LpaError`], each with its own exit code ([`ErrorKind::exit_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A bug or an unexpected local failure: exit code 1.
    Internal,
    /// Bad input from the caller: 2.
    InvalidInput,
    /// The eUICC refused: 3.
    CardRefused,
    /// The SM-DP+/SM-DS refused: 4.
    ServerRefused,
    /// The eUICC could not be reached (no ISD-R included): 5.
    CardUnreachable,
    /// The server could not be reached or verified: 6.
    ServerUnreachable,
    /// Declined by the user: 7.
    Declined,
    /// Forbidden by profile policy rules: 8.
    Policy,
    /// A peer broke the protocol (an HTTP error without an SGP.22 answer included): 9.
    Protocol,
    /// The session store failed: 10.
    Storage,
}

impl ErrorKind {
    /// The process exit code a command line returns for this kind.
    pub const fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::InvalidInput => 2,
            ErrorKind::CardRefused => 3,
            ErrorKind::ServerRefused => 4,
            ErrorKind::CardUnreachable => 5,
            ErrorKind::ServerUnreachable => 6,
            ErrorKind::Declined => 7,
            ErrorKind::Policy => 8,
            ErrorKind::Protocol => 9,
            ErrorKind::Storage => 10,
        }
    }

    /// A stable snake_case name (`card_refused`).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::Internal => "internal",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::CardRefused => "card_refused",
            ErrorKind::ServerRefused => "server_refused",
            ErrorKind::CardUnreachable => "card_unreachable",
            ErrorKind::ServerUnreachable => "server_unreachable",
            ErrorKind::Declined => "declined",
            ErrorKind::Policy => "policy",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Storage => "storage",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ErrorKind {
    /// Every kind, in exit-code order.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Internal,
        ErrorKind::InvalidInput,
        ErrorKind::CardRefused,
        ErrorKind::ServerRefused,
        ErrorKind::CardUnreachable,
        ErrorKind::ServerUnreachable,
        ErrorKind::Declined,
        ErrorKind::Policy,
        ErrorKind::Protocol,
        ErrorKind::Storage,
    ];

    /// The group of a procedure's fault (a download, a discovery, a notification's delivery):
    /// the one classification [`LpaError::kind`] and a delivery report's outcomes share.
    ///
    /// A peer breaking the protocol is [`ErrorKind::Protocol`], an HTTP error status without
    /// an SGP.22 answer included (the server did not refuse with codes: it did not answer
    /// SGP.22 at all). `Fault` and `TransportFailure` are `#[non_exhaustive]`: a kind of fault
    /// newer than this crate is [`ErrorKind::Internal`], which claims nothing about who is at
    /// fault, is not retried as a passing failure would be, and asks for a bug report.
    pub fn of_fault(fault: &Fault) -> ErrorKind {
        match fault {
            Fault::CardRefused(_) => ErrorKind::CardRefused,
            Fault::ServerRefused(_) => ErrorKind::ServerRefused,
            Fault::PeerMisbehaved(_) => ErrorKind::Protocol,
            Fault::UserDeclined { .. } => ErrorKind::Declined,
            Fault::TransportFailed(TransportFailure::Card { .. }) => ErrorKind::CardUnreachable,
            Fault::TransportFailed(TransportFailure::Server { .. }) => ErrorKind::ServerUnreachable,
            Fault::BadInput(_) => ErrorKind::InvalidInput,
            Fault::ApiMisuse(_) => ErrorKind::Internal,
            // Deliberate: see above. A newer TransportFailure (neither the card nor the
            // server) is as unknown as a newer Fault.
            Fault::TransportFailed(_) => ErrorKind::Internal,
            _ => ErrorKind::Internal,
        }
    }

    /// The group of an APDU exchange that failed, as a procedure classifies it: an error
    /// status word is the card refusing; any other breakdown of the APDU rules is the card
    /// breaking the protocol.
    fn of_apdu(error: &ApduError) -> ErrorKind {
        if is_refusal(error) {
            ErrorKind::CardRefused
        } else {
            ErrorKind::Protocol
        }
    }

    /// The group of a failed link to the eUICC: unreachable, unless the card answered the
    /// channel management command (then as [`ErrorKind::of_apdu`]).
    fn of_transport(error: &TransportError) -> ErrorKind {
        match error {
            TransportError::Apdu(e) => ErrorKind::of_apdu(e),
            TransportError::Io(_)
            | TransportError::Timeout { .. }
            | TransportError::Refused(_)
            | TransportError::ChannelUnavailable(_) => ErrorKind::CardUnreachable,
        }
    }
}

/// Whether an APDU error is the card refusing with an error status word (the distinction a
/// procedure makes between `Fault::CardRefused` and `Misbehaviour::CardApdu`).
fn is_refusal(error: &ApduError) -> bool {
    matches!(error, ApduError::Status { .. })
}

impl Es10Error {
    /// Which group the error belongs to, as [`LpaError::kind`] reports it once converted.
    ///
    /// No ISD-R under any configured AID is [`ErrorKind::CardUnreachable`]: the eUICC could
    /// not be reached (cli/JSON.md, exit code 5).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Es10Error::Transport(e) => ErrorKind::of_transport(e),
            Es10Error::Apdu { error, .. } => ErrorKind::of_apdu(error),
            Es10Error::CardRefused { .. } => ErrorKind::CardRefused,
            Es10Error::Decode { .. } | Es10Error::MissingResponse { .. } => ErrorKind::Protocol,
            Es10Error::PolicyForbids { .. } => ErrorKind::Policy,
            Es10Error::NoIsdR { .. } => ErrorKind::CardUnreachable,
            Es10Error::NotOpen => ErrorKind::Internal,
            Es10Error::InvalidInput { .. } | Es10Error::InvalidBpp(_) => ErrorKind::InvalidInput,
        }
    }
}

impl LpaError {
    /// Which group the error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LpaError::Transport(e) => ErrorKind::of_transport(e),
            LpaError::Card { .. } | LpaError::InstallationFailed { .. } => ErrorKind::CardRefused,
            LpaError::Es10(e) => e.kind(),
            LpaError::Server { .. } => ErrorKind::ServerRefused,
            LpaError::Http(e) => match e {
                HttpError::InvalidUrl(_) => ErrorKind::InvalidInput,
                HttpError::Connect(_)
                | HttpError::Tls(_)
                | HttpError::Timeout(_)
                | HttpError::ResponseTooLarge(_)
                | HttpError::Io(_) => ErrorKind::ServerUnreachable,
            },
            LpaError::Procedure(e) => ErrorKind::of_fault(e.fault()),
            LpaError::Declined { .. } => ErrorKind::Declined,
            LpaError::Policy { .. } => ErrorKind::Policy,
            LpaError::Storage(_) => ErrorKind::Storage,
            LpaError::InvalidInput(_) => ErrorKind::InvalidInput,
            LpaError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The exit code of [`LpaError::kind`].
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }

    /// Whether the same call may succeed if tried again later (a peer could not be reached, or
    /// had a passing problem such as HTTP 503).
    pub fn is_transient(&self) -> bool {
        match self {
            LpaError::Transport(_) => true,
            LpaError::Es10(Es10Error::Transport(_)) => true,
            LpaError::Http(e) => !matches!(e, HttpError::Tls(_) | HttpError::InvalidUrl(_)),
            LpaError::Procedure(e) => e.is_transient(),
            _ => false,
        }
    }
}

impl fmt::Display for LpaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LpaError::Transport(e) => write!(f, "the eUICC could not be reached: {e}"),
            LpaError::Card {
                command,
                status_word,
                code,
                reason,
            } => {
                write!(f, "the eUICC refused {command}: {reason}")?;
                if let Some(sw) = status_word {
                    write!(f, " (status {sw})")?;
                }
                if let Some(code) = code {
                    write!(f, " (result code {code})")?;
                }
                Ok(())
            }
            LpaError::Es10(e) => write!(f, "{e}"),
            LpaError::InstallationFailed { installation, .. } => match &installation.outcome {
                lpa_core::procedures::InstallOutcome::Failed {
                    bpp_command_id,
                    error_reason,
                } => write!(
                    f,
                    "the eUICC refused the profile package at {bpp_command_id:?}: {error_reason:?}"
                ),
                other => write!(f, "the profile was not installed: {other:?}"),
            },
            LpaError::Server {
                subject_code,
                reason_code,
                message,
            } => {
                write!(
                    f,
                    "the server refused (subject code {subject_code}, reason code {reason_code})"
                )?;
                if let Some(meaning) = lpa_core::es9::status_code_meaning(subject_code, reason_code)
                {
                    write!(f, ": {meaning}")?;
                }
                if let Some(message) = message {
                    write!(f, "; server message: {message:?}")?;
                }
                Ok(())
            }
            LpaError::Http(e) => write!(f, "the server could not be reached: {e}"),
            LpaError::Procedure(e) => write!(f, "{e}"),
            LpaError::Declined { reason } => {
                write!(f, "the download was declined ({})", reason_name(*reason))
            }
            LpaError::Policy {
                command, detail, ..
            } => write!(
                f,
                "{command} not allowed by the profile policy rules: {detail}"
            ),
            LpaError::Storage(e) => write!(f, "{e}"),
            LpaError::InvalidInput(e) => write!(f, "invalid input: {e}"),
            LpaError::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl std::error::Error for LpaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LpaError::Transport(e) => Some(e),
            LpaError::Es10(e) => Some(e),
            LpaError::Http(e) => Some(e),
            LpaError::Procedure(e) => Some(e),
            LpaError::Storage(e) => Some(e),
            _ => None,
        }
    }
}

/// The SGP.22 name of a CancelSession reason.
pub(crate) fn reason_name(reason: CancelSessionReason) -> &'static str {
    match reason {
        CancelSessionReason::EndUserRejection => "endUserRejection",
        CancelSessionReason::Postponed => "postponed",
        CancelSessionReason::Timeout => "timeout",
        CancelSessionReason::PprNotAllowed => "pprNotAllowed",
        CancelSessionReason::MetadataMismatch => "metadataMismatch",
        CancelSessionReason::LoadBppExecutionError => "loadBppExecutionError",
        CancelSessionReason::UndefinedReason => "undefinedReason",
        _ => "a reason unknown to SGP.22 v2.5",
    }
}

impl From<Es10Error> for LpaError {
    /// Refusals (an error status word, an ES10 result code) become [`LpaError::Card`] (or
    /// [`LpaError::Policy`]), link failures [`LpaError::Transport`], bad arguments
    /// [`LpaError::InvalidInput`]; the rest stays [`LpaError::Es10`] (an APDU exchange that
    /// broke down without a status word included: the card broke the protocol). The kind is
    /// kept: `LpaError::from(e).kind() == e.kind()`.
    fn from(e: Es10Error) -> Self {
        match e {
            Es10Error::Transport(e) => LpaError::Transport(e),
            Es10Error::Apdu { command, error } if is_refusal(&error) => LpaError::Card {
                command: command.name(),
                status_word: error.status_word(),
                code: None,
                reason: error.to_string(),
            },
            Es10Error::CardRefused {
                command,
                code,
                meaning,
            } => LpaError::Card {
                command: command.name(),
                status_word: None,
                code: Some(code),
                reason: meaning.to_owned(),
            },
            Es10Error::PolicyForbids { command, rule } => LpaError::Policy {
                command: command.name(),
                rule: Some(rule),
                detail: format!("the profile's {rule} forbids it"),
            },
            Es10Error::InvalidInput { reason } => LpaError::InvalidInput(reason),
            other => LpaError::Es10(other),
        }
    }
}

impl From<StorageError> for LpaError {
    fn from(e: StorageError) -> Self {
        LpaError::Storage(e)
    }
}

impl From<TransportError> for LpaError {
    fn from(e: TransportError) -> Self {
        LpaError::Transport(e)
    }
}

impl From<HttpError> for LpaError {
    fn from(e: HttpError) -> Self {
        LpaError::Http(e)
    }
}

/// What the driver kept of the failed exchanges, to report a procedure's fault with the
/// original error (the procedure itself only keeps a description). Each is kept with what the
/// machine was told, so that the error reported is the one behind the fault the machine ended
/// with, not an earlier unrelated one (a card refusal on one notification, then the link lost
/// on the next).
#[derive(Default)]
pub(crate) struct Failures {
    /// The ES10 exchanges that failed because the card could not be reached.
    card: Vec<(String, Es10Error)>,
    /// The HTTP exchanges that failed.
    http: Vec<(ServerFailure, HttpError)>,
    /// Why the profile policy rules refused a profile at download.
    pub policy: Option<String>,
}

impl Failures {
    /// Keeps `error`, which the machine was told as `failure`.
    pub(crate) fn card(&mut self, failure: &CardFailure, error: Es10Error) {
        match failure {
            CardFailure::Unreachable(detail) => self.card.push((detail.clone(), error)),
            // A refusal: the fault carries its status word itself.
            CardFailure::Apdu(_) => {}
            // A newer kind of failure: the fault's own description is reported.
            _ => {}
        }
    }

    /// Keeps `error`, which the machine was told as `failure`.
    pub(crate) fn http(&mut self, failure: ServerFailure, error: HttpError) {
        self.http.push((failure, error));
    }

    /// The card error the machine was told as `Unreachable(detail)`, the first such.
    fn take_card(&mut self, detail: &str) -> Option<Es10Error> {
        let at = self.card.iter().position(|(d, _)| d == detail)?;
        Some(self.card.remove(at).1)
    }

    /// The HTTP error the machine was told as `failure`, the first such.
    fn take_http(&mut self, failure: &ServerFailure) -> Option<HttpError> {
        let at = self.http.iter().position(|(f, _)| f == failure)?;
        Some(self.http.remove(at).1)
    }
}

/// The [`LpaError`] for a failed procedure: the fault's group, with the original transport
/// or HTTP error behind that very fault when the driver kept it.
pub(crate) fn from_procedure(error: ProcedureError, first: &mut Failures) -> LpaError {
    match error.fault() {
        Fault::CardRefused(refusal) => LpaError::Card {
            command: refusal.command().name(),
            status_word: match refusal {
                CardRefusal::Status { sw, .. } => Some(*sw),
                _ => None,
            },
            code: refusal.code(),
            reason: refusal.to_string(),
        },
        Fault::ServerRefused(refusal) => LpaError::Server {
            subject_code: refusal.subject_code.clone(),
            reason_code: refusal.reason_code.clone(),
            message: refusal.message.clone(),
        },
        Fault::UserDeclined {
            reason: CancelSessionReason::PprNotAllowed,
        } if first.policy.is_some() => LpaError::Policy {
            command: "ProfileInstallation",
            rule: None,
            detail: first.policy.take().unwrap_or_default(),
        },
        Fault::UserDeclined { reason } => LpaError::Declined { reason: *reason },
        Fault::TransportFailed(TransportFailure::Card { detail, .. }) => {
            match first.take_card(detail) {
                Some(Es10Error::Transport(e)) => LpaError::Transport(e),
                Some(other) => LpaError::from(other),
                None => LpaError::Procedure(error),
            }
        }
        Fault::TransportFailed(TransportFailure::Server { failure, .. }) => {
            match first.take_http(failure) {
                Some(e) => LpaError::Http(e),
                None => LpaError::Procedure(error),
            }
        }
        Fault::BadInput(
            input @ (BadInput::InvalidAddress { .. }
            | BadInput::NoDefaultSmdpAddress
            | BadInput::NoRootSmdsAddress),
        ) => LpaError::InvalidInput(input.to_string()),
        Fault::ApiMisuse(misuse) => LpaError::Internal(misuse.to_string()),
        _ => LpaError::Procedure(error),
    }
}

// --- log lines -----------------------------------------------------------------------------

/// A fault for a log line: a server's own message (which may quote the EID, the ICCID or the
/// matching ID) only with `log_sensitive`; the function and codes always.
pub(crate) fn loggable_fault(fault: &Fault, log_sensitive: bool) -> String {
    match fault {
        Fault::ServerRefused(r) if !log_sensitive => format!(
            "{} answered {} (subject code {}, reason code {}){}",
            r.function,
            r.status,
            r.subject_code,
            r.reason_code,
            r.meaning().map(|m| format!(": {m}")).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// A session end for a log line (see [`loggable_fault`]).
pub(crate) fn loggable_end(end: &SessionEnd, log_sensitive: bool) -> String {
    let card = match &end.card {
        CardCancellation::Failed(fault) => {
            format!("not cancelled ({})", loggable_fault(fault, log_sensitive))
        }
        other => other.to_string(),
    };
    let server = match &end.server {
        ServerCancellation::Failed(fault) => {
            format!("not cancelled ({})", loggable_fault(fault, log_sensitive))
        }
        other => other.to_string(),
    };
    format!(
        "session {} ({}): card {card}, server {server}",
        end.transaction_id,
        reason_name(end.reason)
    )
}

/// An error for a log line (see [`loggable_fault`]).
pub(crate) fn loggable_error(error: &LpaError, log_sensitive: bool) -> String {
    match error {
        LpaError::Server {
            subject_code,
            reason_code,
            message: Some(message),
        } if !log_sensitive => format!(
            "the server refused (subject code {subject_code}, reason code {reason_code}, \
             message of {} characters)",
            message.chars().count()
        ),
        LpaError::Procedure(e) if !log_sensitive => {
            let mut text = loggable_fault(e.fault(), false);
            if let Some(end) = e.session_end() {
                text.push_str("; ");
                text.push_str(&loggable_end(end, false));
            }
            text
        }
        other => other.to_string(),
    }
}

/// A delivery outcome for a log line (see [`loggable_fault`]).
pub(crate) fn loggable_outcome(outcome: &DeliveryOutcome, log_sensitive: bool) -> String {
    match outcome {
        DeliveryOutcome::Delivered => "delivered".to_owned(),
        DeliveryOutcome::DeliveredNotRemoved(fault) => format!(
            "delivered, not removed from the card ({})",
            loggable_fault(fault, log_sensitive)
        ),
        DeliveryOutcome::NotDelivered(fault) => {
            format!("not delivered ({})", loggable_fault(fault, log_sensitive))
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use lpa_core::apdu::ApduError;
    use lpa_core::procedures::Es10Command;

    use super::*;

    fn unreachable(failures: &mut Failures, error: TransportError) -> String {
        let error = Es10Error::Transport(error);
        let detail = error.to_string();
        failures.card(&CardFailure::Unreachable(detail.clone()), error);
        detail
    }

    /// A card refusal (6A88) on one exchange, the link lost on a later one: the lost link is
    /// what the procedure ended with, and what is reported.
    #[test]
    fn a_lost_card_is_not_reported_as_an_earlier_unrelated_card_refusal() {
        let mut failures = Failures::default();
        let refusal = ApduError::Status {
            sw: StatusWord(0x6A88),
            ins: 0xE2,
            block: 0,
        };
        failures.card(
            &CardFailure::Apdu(refusal),
            Es10Error::Apdu {
                command: crate::es10::Es10Command::RetrieveNotificationsList,
                error: refusal,
            },
        );
        unreachable(&mut failures, TransportError::Refused("first".into()));
        let detail = unreachable(&mut failures, TransportError::Io("reader removed".into()));
        let fault = Fault::TransportFailed(TransportFailure::Card {
            command: Es10Command::RetrieveNotificationsList,
            detail,
        });
        let error = from_procedure(ProcedureError::from(fault), &mut failures);
        assert!(
            matches!(&error, LpaError::Transport(TransportError::Io(e)) if e == "reader removed"),
            "{error}"
        );
        assert_eq!(error.kind(), ErrorKind::CardUnreachable);
        assert!(error.is_transient());
    }

    /// HTTP 500 without an SGP.22 body is a peer breaking the protocol (cli/JSON.md: exit 9),
    /// in a notification's delivery as in a download: the same fault, the same kind.
    #[test]
    fn an_http_error_without_an_sgp22_answer_is_protocol_in_every_procedure() {
        use lpa_core::es9::{Es9Error, Es9Function};
        use lpa_core::procedures::{Misbehaviour, ServerFunction};
        for function in [
            Es9Function::HandleNotification,
            Es9Function::AuthenticateClient,
        ] {
            let fault = Fault::PeerMisbehaved(Misbehaviour::ServerAnswer {
                function: ServerFunction::Es9(function),
                error: Es9Error::Http {
                    status: 500,
                    body_excerpt: String::new(),
                },
            });
            assert_eq!(ErrorKind::of_fault(&fault), ErrorKind::Protocol);
            let error = from_procedure(ProcedureError::from(fault), &mut Failures::default());
            assert_eq!(error.kind(), ErrorKind::Protocol, "{error}");
            assert_eq!(error.exit_code(), 9);
            assert_eq!(error.kind().name(), "protocol");
        }
    }

    /// No ISD-R: the eUICC could not be reached (cli/JSON.md: exit 5), before and after the
    /// conversion to an LpaError.
    #[test]
    fn no_isd_r_is_card_unreachable() {
        let error = Es10Error::NoIsdR {
            tried: vec![(
                vec![0xA0, 0x00],
                TransportError::ChannelUnavailable("6A82".into()),
            )],
        };
        assert_eq!(error.kind(), ErrorKind::CardUnreachable);
        let error = LpaError::from(error);
        assert!(matches!(error, LpaError::Es10(Es10Error::NoIsdR { .. })));
        assert_eq!(error.kind(), ErrorKind::CardUnreachable);
        assert_eq!(error.exit_code(), 5);
        assert_eq!(error.kind().name(), "card_unreachable");
    }

    /// Converting an ES10 error keeps its kind, and an APDU failure is classified as a
    /// procedure classifies the same failure.
    #[test]
    fn es10_errors_keep_their_kind_and_match_the_procedures() {
        use crate::es10::Es10Command as C;
        let status = ApduError::Status {
            sw: StatusWord(0x6A80),
            ins: 0xE2,
            block: 0,
        };
        let broken = ApduError::ResponseTooShort { len: 1 };
        let errors = [
            (
                Es10Error::Transport(TransportError::Io("gone".into())),
                ErrorKind::CardUnreachable,
            ),
            (
                Es10Error::Transport(TransportError::Apdu(status)),
                ErrorKind::CardRefused,
            ),
            (
                Es10Error::Transport(TransportError::Apdu(broken)),
                ErrorKind::Protocol,
            ),
            (
                Es10Error::Apdu {
                    command: C::EnableProfile,
                    error: status,
                },
                ErrorKind::CardRefused,
            ),
            (
                Es10Error::Apdu {
                    command: C::EnableProfile,
                    error: broken,
                },
                ErrorKind::Protocol,
            ),
            (
                Es10Error::CardRefused {
                    command: C::EnableProfile,
                    code: 2,
                    meaning: "profileNotInDisabledState",
                },
                ErrorKind::CardRefused,
            ),
            (
                Es10Error::MissingResponse {
                    command: C::LoadBoundProfilePackage,
                },
                ErrorKind::Protocol,
            ),
            (
                Es10Error::PolicyForbids {
                    command: C::DisableProfile,
                    rule: PolicyRule::Ppr1,
                },
                ErrorKind::Policy,
            ),
            (
                Es10Error::NoIsdR { tried: Vec::new() },
                ErrorKind::CardUnreachable,
            ),
            (Es10Error::NotOpen, ErrorKind::Internal),
            (Es10Error::invalid("too long"), ErrorKind::InvalidInput),
        ];
        for (error, kind) in errors {
            assert_eq!(error.kind(), kind, "{error}");
            let text = error.to_string();
            assert_eq!(LpaError::from(error).kind(), kind, "{text}");
        }
        // The procedure's own view of the same APDU failures.
        for (error, kind) in [
            (status, ErrorKind::CardRefused),
            (broken, ErrorKind::Protocol),
        ] {
            let fault = match error {
                ApduError::Status { sw, .. } => Fault::CardRefused(CardRefusal::Status {
                    command: Es10Command::CancelSession,
                    sw,
                }),
                error => Fault::PeerMisbehaved(lpa_core::procedures::Misbehaviour::CardApdu {
                    command: Es10Command::CancelSession,
                    error,
                }),
            };
            assert_eq!(ErrorKind::of_fault(&fault), kind);
        }
    }

    #[test]
    fn every_kind_has_its_own_exit_code() {
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn a_server_fault_is_reported_with_its_own_http_error() {
        let mut failures = Failures::default();
        failures.http(
            ServerFailure::Timeout(std::time::Duration::from_secs(60)),
            HttpError::Timeout(std::time::Duration::from_secs(60)),
        );
        failures.http(
            ServerFailure::Connect("refused".into()),
            HttpError::Connect("refused".into()),
        );
        let fault = Fault::TransportFailed(TransportFailure::Server {
            function: lpa_core::procedures::ServerFunction::Es9(
                lpa_core::es9::Es9Function::HandleNotification,
            ),
            address: "smdp.example.com".into(),
            failure: ServerFailure::Connect("refused".into()),
        });
        let error = from_procedure(ProcedureError::from(fault), &mut failures);
        assert!(
            matches!(error, LpaError::Http(HttpError::Connect(_))),
            "{error}"
        );
    }
}
