//! From the library's errors (procedure faults, ES10 errors, the LPA's errors) to the CLI's
//! errors: the class is the library's own ([`ErrorKind::of_fault`], [`Es10Error::kind`],
//! [`lpa::LpaError::kind`]), never decided here; this module only adds the protocol codes.

use lpa::ErrorKind;
use lpa::es10::Es10Error;
use lpa::transport::TransportError;
use lpa_core::es9::Es9Error;
use lpa_core::procedures::{CardRefusal, Fault, Misbehaviour, ProcedureError, TransportFailure};

use crate::error::{CliError, ProtocolCodes};

/// A procedure's fault (download, discovery, notification delivery).
pub fn from_fault(fault: &Fault) -> CliError {
    CliError::new(ErrorKind::of_fault(fault), fault.to_string()).with_codes(fault_codes(fault))
}

/// A procedure's error, with how its session ended.
pub fn from_procedure(error: &ProcedureError) -> CliError {
    let mut e = from_fault(error.fault());
    e.session_end = error.session_end().map(|end| end.to_string());
    e
}

/// The protocol codes of a fault.
fn fault_codes(fault: &Fault) -> ProtocolCodes {
    match fault {
        Fault::CardRefused(refusal) => card_refusal_codes(refusal),
        Fault::ServerRefused(r) => ProtocolCodes {
            function: Some(r.function.to_string()),
            subject_code: Some(r.subject_code.clone()),
            reason_code: Some(r.reason_code.clone()),
            ..ProtocolCodes::default()
        },
        Fault::PeerMisbehaved(m) => misbehaviour_codes(m),
        Fault::TransportFailed(TransportFailure::Card { command, .. }) => ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            ..ProtocolCodes::default()
        },
        Fault::TransportFailed(TransportFailure::Server { function, .. }) => ProtocolCodes {
            function: Some(function.to_string()),
            ..ProtocolCodes::default()
        },
        // A declined session, bad input, a misuse, or a fault newer than this CLI: no codes.
        _ => ProtocolCodes::default(),
    }
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

/// The protocol codes of a peer's misbehaviour (an HTTP error without an SGP.22 answer keeps
/// its HTTP status).
fn misbehaviour_codes(m: &Misbehaviour) -> ProtocolCodes {
    match m {
        Misbehaviour::ServerAnswer {
            function,
            error: Es9Error::Http { status, .. },
        } => ProtocolCodes {
            function: Some(function.to_string()),
            http_status: Some(*status),
            ..ProtocolCodes::default()
        },
        Misbehaviour::CardApdu { command, error } => ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            sw: error.status_word().map(|sw| sw.to_string()),
            ..ProtocolCodes::default()
        },
        Misbehaviour::CardAnswer { command, .. } => ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            ..ProtocolCodes::default()
        },
        Misbehaviour::ServerAnswer { function, .. }
        | Misbehaviour::ServerData { function, .. }
        | Misbehaviour::ChallengeMismatch { function }
        | Misbehaviour::AddressMismatch { function, .. }
        | Misbehaviour::TransactionIdMismatch { function, .. } => ProtocolCodes {
            function: Some(function.to_string()),
            ..ProtocolCodes::default()
        },
        _ => ProtocolCodes::default(),
    }
}

/// The protocol codes of an ES10 call's error.
fn es10_codes(error: &Es10Error) -> ProtocolCodes {
    match error {
        Es10Error::Transport(t) => transport_codes(t),
        Es10Error::Apdu { command, error: e } => ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            sw: e.status_word().map(|sw| sw.to_string()),
            ..ProtocolCodes::default()
        },
        Es10Error::CardRefused {
            command,
            code,
            meaning,
        } => ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            result_code: Some(*code),
            result_name: Some((*meaning).to_owned()),
            ..ProtocolCodes::default()
        },
        Es10Error::Decode { command, .. }
        | Es10Error::MissingResponse { command }
        | Es10Error::PolicyForbids { command, .. } => ProtocolCodes {
            es10_command: Some(command.name().to_owned()),
            ..ProtocolCodes::default()
        },
        _ => ProtocolCodes::default(),
    }
}

/// The protocol codes of a failed link to the eUICC: the status word, when the card answered.
fn transport_codes(error: &TransportError) -> ProtocolCodes {
    match error {
        TransportError::Apdu(e) => ProtocolCodes {
            sw: e.status_word().map(|sw| sw.to_string()),
            ..ProtocolCodes::default()
        },
        _ => ProtocolCodes::default(),
    }
}

/// An [`LpaError`](lpa::LpaError), with its codes; `session_end` is how a failed download's
/// session was ended ([`lpa::Lpa::last_session_end`]).
pub fn from_lpa(error: &lpa::LpaError, session_end: Option<&lpa::SessionEnd>) -> CliError {
    use lpa::LpaError;
    let mut e = CliError::new(error.kind(), error.to_string());
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
        LpaError::Transport(t) => *e.codes = transport_codes(t),
        LpaError::Es10(es10) => *e.codes = es10_codes(es10),
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
    use lpa_core::es9::Es9Function;
    use lpa_core::procedures::ServerFunction;

    use super::*;

    /// HTTP 500 without an SGP.22 body while delivering a notification: `protocol`, exit 9
    /// (cli/JSON.md), as in a download, with the HTTP status in the codes.
    #[test]
    fn an_http_500_without_sgp22_body_in_a_notification_is_protocol() {
        let fault = Fault::PeerMisbehaved(Misbehaviour::ServerAnswer {
            function: ServerFunction::Es9(Es9Function::HandleNotification),
            error: Es9Error::Http {
                status: 500,
                body_excerpt: "<html>oops</html>".into(),
            },
        });
        let json = from_fault(&fault).to_json();
        assert_eq!(json["kind"], "protocol");
        assert_eq!(json["exit_code"], 9);
        assert_eq!(json["codes"]["http_status"], 500);
        assert_eq!(json["codes"]["function"], "ES9+.handleNotification");
        let through_lpa = lpa::LpaError::Procedure(ProcedureError::from(fault));
        assert_eq!(from_lpa(&through_lpa, None).to_json()["exit_code"], 9);
    }

    /// No ISD-R: `card_unreachable`, exit 5 (cli/JSON.md).
    #[test]
    fn no_isd_r_is_card_unreachable() {
        let error = lpa::LpaError::from(Es10Error::NoIsdR {
            tried: vec![(
                vec![0xA0, 0x00, 0x00, 0x05, 0x59],
                TransportError::ChannelUnavailable("6A82".into()),
            )],
        });
        let json = from_lpa(&error, None).to_json();
        assert_eq!(json["kind"], "card_unreachable");
        assert_eq!(json["exit_code"], 5);
    }
}
