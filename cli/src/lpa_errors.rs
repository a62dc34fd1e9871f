//! From the library's errors (procedure faults, ES10 errors, the LPA's errors) to the CLI's
//! classes and protocol codes.

use lpa::es10::Es10Error;
use lpa::transport::TransportError;
use lpa_core::es9::Es9Error;
use lpa_core::procedures::{CardRefusal, Fault, Misbehaviour, ProcedureError, TransportFailure};

use crate::error::{CliError, ErrorKind, ProtocolCodes};

/// A procedure's fault (download, discovery, notification delivery).
pub fn from_fault(fault: &Fault) -> CliError {
    let message = fault.to_string();
    match fault {
        Fault::CardRefused(refusal) => {
            CliError::new(ErrorKind::CardRefused, message).with_codes(card_refusal_codes(refusal))
        }
        Fault::ServerRefused(r) => {
            CliError::new(ErrorKind::ServerRefused, message).with_codes(ProtocolCodes {
                function: Some(r.function.to_string()),
                subject_code: Some(r.subject_code.clone()),
                reason_code: Some(r.reason_code.clone()),
                ..ProtocolCodes::default()
            })
        }
        Fault::PeerMisbehaved(m) => from_misbehaviour(m, message),
        Fault::UserDeclined { .. } => CliError::new(ErrorKind::Declined, message),
        Fault::TransportFailed(TransportFailure::Card { command, .. }) => {
            CliError::new(ErrorKind::CardUnreachable, message).with_codes(ProtocolCodes {
                es10_command: Some(command.name().to_owned()),
                ..ProtocolCodes::default()
            })
        }
        Fault::TransportFailed(TransportFailure::Server { function, .. }) => {
            CliError::new(ErrorKind::ServerUnreachable, message).with_codes(ProtocolCodes {
                function: Some(function.to_string()),
                ..ProtocolCodes::default()
            })
        }
        Fault::TransportFailed(_) => CliError::new(ErrorKind::CardUnreachable, message),
        Fault::BadInput(_) => CliError::new(ErrorKind::InvalidInput, message),
        _ => CliError::new(ErrorKind::Internal, message),
    }
}

/// A procedure's error, with how its session ended.
pub fn from_procedure(error: &ProcedureError) -> CliError {
    let mut e = from_fault(error.fault());
    e.session_end = error.session_end().map(|end| end.to_string());
    e
}

fn card_refusal_codes(refusal: &CardRefusal) -> ProtocolCodes {
    let mut codes = ProtocolCodes {
        es10_command: Some(refusal.command().name().to_owned()),
        result_code: refusal.code(),
        ..ProtocolCodes::default()
    };
    match refusal {
        CardRefusal::Status { sw, .. } => codes.sw = Some(sw.to_string()),
        CardRefusal::AuthenticateServer(c) => codes.result_name = Some(crate::render::sgp_name(c)),
        CardRefusal::PrepareDownload(c) => codes.result_name = Some(crate::render::sgp_name(c)),
        CardRefusal::CancelSession(c) => codes.result_name = Some(crate::render::sgp_name(c)),
        CardRefusal::ListNotification(c) => codes.result_name = Some(crate::render::sgp_name(c)),
        CardRefusal::RetrieveNotificationsList(c) => {
            codes.result_name = Some(crate::render::sgp_name(c))
        }
        CardRefusal::RemoveNotificationFromList(c) => {
            codes.result_name = Some(crate::render::sgp_name(c))
        }
        _ => {}
    }
    codes
}

fn from_misbehaviour(m: &Misbehaviour, message: String) -> CliError {
    match m {
        // An HTTP error without an SGP.22 answer: the server failed rather than misbehaved.
        Misbehaviour::ServerAnswer {
            function,
            error: Es9Error::Http { status, .. },
        } => CliError::new(ErrorKind::ServerRefused, message).with_codes(ProtocolCodes {
            function: Some(function.to_string()),
            http_status: Some(*status),
            ..ProtocolCodes::default()
        }),
        Misbehaviour::CardApdu { command, error } => CliError::new(ErrorKind::Protocol, message)
            .with_codes(ProtocolCodes {
                es10_command: Some(command.name().to_owned()),
                sw: error.status_word().map(|sw| sw.to_string()),
                ..ProtocolCodes::default()
            }),
        Misbehaviour::CardAnswer { command, .. } => CliError::new(ErrorKind::Protocol, message)
            .with_codes(ProtocolCodes {
                es10_command: Some(command.name().to_owned()),
                ..ProtocolCodes::default()
            }),
        Misbehaviour::ServerAnswer { function, .. }
        | Misbehaviour::ServerData { function, .. }
        | Misbehaviour::ChallengeMismatch { function }
        | Misbehaviour::AddressMismatch { function, .. }
        | Misbehaviour::TransactionIdMismatch { function, .. } => {
            CliError::new(ErrorKind::Protocol, message).with_codes(ProtocolCodes {
                function: Some(function.to_string()),
                ..ProtocolCodes::default()
            })
        }
        _ => CliError::new(ErrorKind::Protocol, message),
    }
}

/// An ES10 call's error.
pub fn from_es10(error: &Es10Error) -> CliError {
    let message = error.to_string();
    match error {
        Es10Error::Transport(t) => from_transport(t, message),
        Es10Error::Apdu { command, error: e } => CliError::new(ErrorKind::CardRefused, message)
            .with_codes(ProtocolCodes {
                es10_command: Some(command.name().to_owned()),
                sw: e.status_word().map(|sw| sw.to_string()),
                ..ProtocolCodes::default()
            }),
        Es10Error::CardRefused {
            command,
            code,
            meaning,
        } => CliError::new(ErrorKind::CardRefused, message).with_codes(ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            result_code: Some(*code),
            result_name: Some((*meaning).to_owned()),
            ..ProtocolCodes::default()
        }),
        Es10Error::Decode { command, .. } | Es10Error::MissingResponse { command } => {
            CliError::new(ErrorKind::Protocol, message).with_codes(ProtocolCodes {
                es10_command: Some(command.name().to_owned()),
                ..ProtocolCodes::default()
            })
        }
        Es10Error::PolicyForbids { command, .. } => CliError::new(ErrorKind::Policy, message)
            .with_codes(ProtocolCodes {
                es10_command: Some(command.name().to_owned()),
                ..ProtocolCodes::default()
            }),
        Es10Error::NoIsdR { .. } => CliError::new(ErrorKind::CardUnreachable, message),
        Es10Error::InvalidInput { .. } | Es10Error::InvalidBpp(_) => {
            CliError::new(ErrorKind::InvalidInput, message)
        }
        _ => CliError::new(ErrorKind::Internal, message),
    }
}

/// A transport error; a status word in it means the card answered (and refused).
pub fn from_transport(error: &TransportError, message: String) -> CliError {
    match error {
        TransportError::Apdu(e) => match e.status_word() {
            Some(sw) => CliError::new(ErrorKind::CardRefused, message).with_codes(ProtocolCodes {
                sw: Some(sw.to_string()),
                ..ProtocolCodes::default()
            }),
            None => CliError::new(ErrorKind::CardUnreachable, message),
        },
        _ => CliError::new(ErrorKind::CardUnreachable, message),
    }
}

/// The CLI's class of an LPA error kind (the same exit codes).
fn kind_of(kind: lpa::ErrorKind) -> ErrorKind {
    ErrorKind::ALL
        .into_iter()
        .find(|k| k.exit_code() == kind.exit_code())
        .unwrap_or(ErrorKind::Internal)
}

/// An [`LpaError`](lpa::LpaError), with its codes; `session_end` is how a failed download's
/// session was ended ([`lpa::Lpa::last_session_end`]).
pub fn from_lpa(error: &lpa::LpaError, session_end: Option<&lpa::SessionEnd>) -> CliError {
    use lpa::LpaError;
    let mut e = CliError::new(kind_of(error.kind()), error.to_string());
    match error {
        LpaError::Card {
            command,
            status_word,
            code,
            reason,
        } => {
            *e.codes = ProtocolCodes {
                es10_command: Some((*command).to_owned()),
                sw: status_word.map(|sw| sw.to_string()),
                result_code: *code,
                // A name (`profileNotInDisabledState`), not a sentence.
                result_name: code
                    .filter(|_| !reason.contains(char::is_whitespace))
                    .map(|_| reason.clone()),
                ..ProtocolCodes::default()
            };
        }
        LpaError::Es10(es10) => e.codes = from_es10(es10).codes,
        LpaError::InstallationFailed { installation, .. } => {
            if let lpa_core::procedures::InstallOutcome::Failed {
                bpp_command_id,
                error_reason,
            } = &installation.outcome
            {
                *e.codes = ProtocolCodes {
                    es10_command: Some("LoadBoundProfilePackage".into()),
                    bpp_command_id: Some(crate::render::sgp_name(bpp_command_id)),
                    result_code: Some(error_reason.code()),
                    result_name: Some(crate::render::sgp_name(error_reason)),
                    ..ProtocolCodes::default()
                };
            }
        }
        LpaError::Server {
            subject_code,
            reason_code,
            ..
        } => {
            *e.codes = ProtocolCodes {
                subject_code: Some(subject_code.clone()),
                reason_code: Some(reason_code.clone()),
                ..ProtocolCodes::default()
            };
        }
        LpaError::Procedure(procedure) => {
            let detailed = from_procedure(procedure);
            e.codes = detailed.codes;
            e.session_end = detailed.session_end;
        }
        LpaError::Policy { command, .. } => {
            *e.codes = ProtocolCodes {
                es10_command: Some((*command).to_owned()),
                ..ProtocolCodes::default()
            };
        }
        _ => {}
    }
    if let Some(end) = session_end {
        e.session_end = Some(end.to_string());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_libraries_kinds_map_to_the_same_names_and_codes() {
        use lpa::ErrorKind as K;
        for kind in [
            K::Internal,
            K::InvalidInput,
            K::CardRefused,
            K::ServerRefused,
            K::CardUnreachable,
            K::ServerUnreachable,
            K::Declined,
            K::Policy,
            K::Protocol,
            K::Storage,
        ] {
            let ours = kind_of(kind);
            assert_eq!(ours.exit_code(), kind.exit_code());
            assert_eq!(ours.name(), kind.name());
        }
    }
}
