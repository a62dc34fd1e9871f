//! What the machines share: the pending output of a state, mapping answers and failures to
//! [`Fault`]s, and the checks of common mutual authentication (SGP.22 §3.1.2).

use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Serialize;

use super::error::{BadInput, CardRefusal, Fault, Misbehaviour, ServerRefusal, TransportFailure};
use super::{
    Awaiting, CardFailure, Es10Command, ServerFailure, ServerFunction, ServerRequest, Step,
};
use crate::apdu::ApduError;
use crate::der::{Certificate, Decode, DecodeError, Encode, Signed};
use crate::es9::{
    self, Es9Error, Es9Function, Es11Function, InitiateAuthenticationOk, ResponseBody,
    TransactionId,
};
use crate::messages::{
    AuthenticateServerRequest, CtxParams1, CtxParamsForCommonAuthentication, DeviceInfo,
    ServerSigned1,
};
use crate::tlv::{Tag, Tlv};

/// What a state asks the driver for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// An ES10 request.
    Card {
        command: Es10Command,
        request: Vec<u8>,
    },
    /// An ES9+/ES11 call.
    Server(ServerRequest),
}

impl Pending {
    /// An ES10 request from its message.
    pub(crate) fn card(command: Es10Command, request: &impl Encode) -> Self {
        Pending::Card {
            command,
            request: request.to_der(),
        }
    }

    pub(crate) fn awaiting(&self) -> Awaiting {
        match self {
            Pending::Card { command, .. } => Awaiting::Card(*command),
            Pending::Server(request) => Awaiting::Server(request.function),
        }
    }

    pub(crate) fn step<T>(&self) -> Step<T> {
        match self {
            Pending::Card { request, .. } => Step::Card(request.clone()),
            Pending::Server(request) => Step::Server(request.clone()),
        }
    }
}

/// A server address as given, trimmed, once checked to be a plain `host[:port]`.
pub(crate) fn checked_address(address: &str) -> Result<String, Fault> {
    let trimmed = address.trim();
    es9::es9plus_url(trimmed, Es9Function::InitiateAuthentication).map_err(|_| {
        Fault::BadInput(BadInput::InvalidAddress {
            address: address.to_owned(),
        })
    })?;
    Ok(trimmed.to_owned())
}

/// Builds an ES9+/ES11 request to `address`.
pub(crate) fn server_request<B: Serialize>(
    address: &str,
    function: ServerFunction,
    body: &B,
) -> Result<ServerRequest, Fault> {
    let address = address.trim();
    let url = match function {
        ServerFunction::Es9(f) => es9::es9plus_url(address, f),
        ServerFunction::Es11(f) => es9::es11_url(address, f),
    }
    .map_err(|_| {
        Fault::BadInput(BadInput::InvalidAddress {
            address: address.to_owned(),
        })
    })?;
    let body = es9::encode_json(body).map_err(|e| {
        Fault::BadInput(BadInput::Encode {
            detail: e.to_string(),
        })
    })?;
    Ok(ServerRequest {
        address: address.to_owned(),
        function,
        url,
        body,
    })
}

/// Decodes the card's answer to `command`.
pub(crate) fn card_answer<T: Decode>(command: Es10Command, bytes: &[u8]) -> Result<T, Fault> {
    T::from_der(bytes)
        .map_err(|error| Fault::PeerMisbehaved(Misbehaviour::CardAnswer { command, error }))
}

/// The fault of a card that gave no answer to `command`.
pub(crate) fn card_failure(command: Es10Command, failure: CardFailure) -> Fault {
    match failure {
        CardFailure::Apdu(ApduError::Status { sw, .. }) => {
            Fault::CardRefused(CardRefusal::Status { command, sw })
        }
        CardFailure::Apdu(error) => {
            Fault::PeerMisbehaved(Misbehaviour::CardApdu { command, error })
        }
        CardFailure::Unreachable(detail) => {
            Fault::TransportFailed(TransportFailure::Card { command, detail })
        }
    }
}

/// Whether a card fault means the card cannot be reached any more.
pub(crate) fn card_unreachable(fault: &Fault) -> bool {
    matches!(fault, Fault::TransportFailed(TransportFailure::Card { .. }))
}

/// Decodes the server's answer to `function`.
pub(crate) fn server_answer<T: ResponseBody>(
    function: ServerFunction,
    status: u16,
    body: &[u8],
) -> Result<T, Fault> {
    es9::decode_response::<T>(status, body)
        .map(|response| response.body)
        .map_err(|e| es9_fault(function, e))
}

/// The fault an [`Es9Error`] stands for.
pub(crate) fn es9_fault(function: ServerFunction, error: Es9Error) -> Fault {
    match error {
        Es9Error::Failed {
            status,
            subject_code,
            reason_code,
            subject_identifier,
            message,
        } => Fault::ServerRefused(ServerRefusal {
            function,
            status,
            subject_code,
            reason_code,
            subject_identifier,
            message,
        }),
        Es9Error::InvalidAddress { address } => {
            Fault::BadInput(BadInput::InvalidAddress { address })
        }
        Es9Error::Encode { detail } => Fault::BadInput(BadInput::Encode { detail }),
        error => Fault::PeerMisbehaved(Misbehaviour::ServerAnswer { function, error }),
    }
}

/// The fault of a server that gave no answer to `request`.
pub(crate) fn server_failure(request: &ServerRequest, failure: ServerFailure) -> Fault {
    Fault::TransportFailed(TransportFailure::Server {
        function: request.function,
        address: request.address.clone(),
        failure,
    })
}

/// The value of a single DER element with tag `tag` (a JSON binary field carries the whole
/// element, e.g. `5F37 40 ..` for a signature).
pub(crate) fn der_value(
    function: ServerFunction,
    field: &'static str,
    bytes: &[u8],
    tag: u32,
) -> Result<Vec<u8>, Fault> {
    let bad = |error: DecodeError| {
        Fault::PeerMisbehaved(Misbehaviour::ServerData {
            function,
            field,
            error,
        })
    };
    let tlv = Tlv::parse(bytes).map_err(|e| bad(DecodeError::Tlv(e)))?;
    if tlv.tag() != Tag(tag) {
        return Err(bad(DecodeError::UnexpectedTag {
            ty: field,
            offset: tlv.offset(),
            found: tlv.tag(),
        }));
    }
    Ok(tlv.value().to_vec())
}

/// A DER structure carried in a JSON field.
pub(crate) fn der_field<T: Decode>(
    function: ServerFunction,
    field: &'static str,
    bytes: &[u8],
) -> Result<T, Fault> {
    T::from_der(bytes).map_err(|error| {
        Fault::PeerMisbehaved(Misbehaviour::ServerData {
            function,
            field,
            error,
        })
    })
}

/// Checks a transactionId found in an answer against the session's.
pub(crate) fn check_transaction_id(
    function: ServerFunction,
    field: &'static str,
    expected: &TransactionId,
    found: &[u8],
) -> Result<(), Fault> {
    if expected.as_bytes() == found {
        Ok(())
    } else {
        Err(Fault::PeerMisbehaved(Misbehaviour::TransactionIdMismatch {
            function,
            field,
            expected: *expected,
            found: found.to_vec(),
        }))
    }
}

/// The ES9+ or ES11 initiateAuthentication request (SGP.22 §3.1.2 step 3).
///
/// ES11 uses the same body with the SM-DS address in `smdpAddress`, sent to the path deployed
/// SM-DS servers answer ([`Es11Function::path`]), as lpac and euicc-go do.
pub(crate) fn initiate_authentication(
    address: &str,
    function: ServerFunction,
    euicc_challenge: &[u8],
    euicc_info1: Vec<u8>,
) -> Result<ServerRequest, Fault> {
    server_request(
        address,
        function,
        &es9::InitiateAuthenticationRequest {
            euicc_challenge: euicc_challenge.to_vec(),
            euicc_info1,
            smdp_address: address.to_owned(),
        },
    )
}

/// The function that answers ES9+ or ES11 initiateAuthentication.
pub(crate) fn initiate_function(es11: bool) -> ServerFunction {
    if es11 {
        ServerFunction::Es11(Es11Function::InitiateAuthentication)
    } else {
        ServerFunction::Es9(Es9Function::InitiateAuthentication)
    }
}

/// What a successful initiateAuthentication gives: the session and the AuthenticateServer
/// request for the card.
pub(crate) struct Initiated {
    pub transaction_id: TransactionId,
    pub authenticate_server: AuthenticateServerRequest,
}

/// Reads the answer to initiateAuthentication and makes the LPA's checks (SGP.22 §3.1.2):
/// serverSigned1 echoes our challenge and the address we used, and carries the transactionId
/// of the JSON answer. On failure the error comes with the transactionId when the server
/// opened a session (its answer was valid SGP.22), so the caller can end it.
pub(crate) fn read_initiate_authentication(
    function: ServerFunction,
    status: u16,
    body: &[u8],
    address: &str,
    euicc_challenge: &[u8],
    matching_id: Option<String>,
    device_info: DeviceInfo,
) -> Result<Initiated, (Option<TransactionId>, Fault)> {
    let ok: InitiateAuthenticationOk =
        server_answer(function, status, body).map_err(|fault| (None, fault))?;
    let tid = ok.transaction_id;
    let session_fault = |fault| (Some(tid), fault);
    let server_signed1: Signed<ServerSigned1> =
        der_field(function, "serverSigned1", &ok.server_signed1).map_err(session_fault)?;
    let signed = server_signed1.value();
    check_transaction_id(
        function,
        "serverSigned1.transactionId",
        &tid,
        &signed.transaction_id,
    )
    .map_err(session_fault)?;
    if signed.euicc_challenge != euicc_challenge {
        return Err(session_fault(Fault::PeerMisbehaved(
            Misbehaviour::ChallengeMismatch { function },
        )));
    }
    if !signed.server_address.trim().eq_ignore_ascii_case(address) {
        return Err(session_fault(Fault::PeerMisbehaved(
            Misbehaviour::AddressMismatch {
                function,
                expected: address.to_owned(),
                found: signed.server_address.clone(),
            },
        )));
    }
    let server_signature1 = der_value(function, "serverSignature1", &ok.server_signature1, 0x5F37)
        .map_err(session_fault)?;
    let euicc_ci_pkid_to_be_used = der_value(
        function,
        "euiccCiPKIdToBeUsed",
        &ok.euicc_ci_pkid_to_be_used,
        0x04,
    )
    .map_err(session_fault)?;
    let server_certificate: Certificate = Certificate::from_der(ok.server_certificate)
        .map_err(|error| {
            Fault::PeerMisbehaved(Misbehaviour::ServerData {
                function,
                field: "serverCertificate",
                error,
            })
        })
        .map_err(session_fault)?;
    Ok(Initiated {
        transaction_id: tid,
        authenticate_server: AuthenticateServerRequest {
            server_signed1,
            server_signature1,
            euicc_ci_pkid_to_be_used,
            server_certificate,
            ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
                matching_id,
                device_info,
            }),
        },
    })
}
