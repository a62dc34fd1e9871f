//! Event retrieval from an SM-DS (SGP.22 §3.6.2, ES11 §5.8).

use alloc::string::String;
use alloc::vec::Vec;

use super::common::{
    Pending, card_answer, card_failure, checked_address, initiate_authentication,
    initiate_function, read_initiate_authentication, server_answer, server_failure, server_request,
};
use super::error::{ApiMisuse, BadInput, CardRefusal, Fault};
use super::{
    Awaiting, Es10Command, Input, Procedure, ProcedureError, ServerFunction, ServerRequest, Step,
};
use crate::es9::{self, Es11AuthenticateClientOk, Es11Function, EventEntry, TransactionId};
use crate::messages::{
    AuthenticateServerResponse, DeviceInfo, EuiccConfiguredAddressesRequest,
    EuiccConfiguredAddressesResponse, EuiccInfo1, GetEuiccChallengeRequest,
    GetEuiccChallengeResponse, GetEuiccInfo1Request,
};

/// Event retrieval from an SM-DS (SGP.22 §3.6.2) as a sans-IO machine; drive it as the
/// [module documentation](super) shows. It ends with the event entries waiting for this eUICC
/// (possibly none); downloading each is the driver's job ([`super::Download::from_event`]).
///
/// The states, named after what each expects next:
///
/// | state | sends |
/// |---|---|
/// | `ExpectConfiguredAddresses` (root SM-DS only) | ES10a GetEuiccConfiguredAddresses |
/// | `ExpectEuiccChallenge` | ES10b GetEUICCChallenge |
/// | `ExpectEuiccInfo1` | ES10b GetEUICCInfo1 |
/// | `ExpectInitiateAuthentication` | ES11 initiateAuthentication (checks the echoes) |
/// | `ExpectAuthenticateServer` | ES10b AuthenticateServer, without matchingId |
/// | `ExpectAuthenticateClient` | ES11 authenticateClient |
/// | `Done` | event entries or [`ProcedureError`] |
///
/// ES11 has no cancelSession: an SM-DS session that fails simply expires, and the card's
/// session context is replaced by the next GetEUICCChallenge, so a failure ends the procedure
/// at once. An event whose rspServerAddress is another SM-DS (a cascade) is returned as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    state: State,
}

impl Discovery {
    /// Discovery at the eUICC's root SM-DS (read from the card first).
    pub fn from_root_smds(device_info: DeviceInfo) -> Self {
        Discovery {
            state: State::ExpectConfiguredAddresses(ExpectConfiguredAddresses {
                device_info,
                request: Pending::card(
                    Es10Command::GetEuiccConfiguredAddresses,
                    &EuiccConfiguredAddressesRequest {},
                ),
            }),
        }
    }

    /// Discovery at the SM-DS at `smds_address`.
    pub fn new(smds_address: &str, device_info: DeviceInfo) -> Self {
        Discovery {
            state: State::start(smds_address, device_info),
        }
    }
}

impl Procedure for Discovery {
    type Output = Vec<EventEntry>;

    fn poll(&self) -> Step<Vec<EventEntry>> {
        match &self.state {
            State::ExpectConfiguredAddresses(s) => s.request.step(),
            State::ExpectEuiccChallenge(s) => s.request.step(),
            State::ExpectEuiccInfo1(s) => s.request.step(),
            State::ExpectInitiateAuthentication(s) => Step::Server(s.request.clone()),
            State::ExpectAuthenticateServer(s) => s.request.step(),
            State::ExpectAuthenticateClient(s) => Step::Server(s.request.clone()),
            State::Done(result) => Step::Done(result.clone()),
        }
    }

    fn awaiting(&self) -> Awaiting {
        match &self.state {
            State::ExpectConfiguredAddresses(s) => s.request.awaiting(),
            State::ExpectEuiccChallenge(s) => s.request.awaiting(),
            State::ExpectEuiccInfo1(s) => s.request.awaiting(),
            State::ExpectInitiateAuthentication(s) => Awaiting::Server(s.request.function),
            State::ExpectAuthenticateServer(s) => s.request.awaiting(),
            State::ExpectAuthenticateClient(s) => Awaiting::Server(s.request.function),
            State::Done(_) => Awaiting::Nothing,
        }
    }

    fn handle(&mut self, input: Input) -> Result<(), ApiMisuse> {
        let awaiting = self.awaiting();
        if !awaiting.accepts(&input) {
            return Err(ApiMisuse::new(input.kind(), awaiting));
        }
        let state = core::mem::replace(&mut self.state, State::Done(Ok(Vec::new())));
        self.state = state.handle(input);
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    ExpectConfiguredAddresses(ExpectConfiguredAddresses),
    ExpectEuiccChallenge(ExpectEuiccChallenge),
    ExpectEuiccInfo1(ExpectEuiccInfo1),
    ExpectInitiateAuthentication(ExpectInitiateAuthentication),
    ExpectAuthenticateServer(ExpectAuthenticateServer),
    ExpectAuthenticateClient(ExpectAuthenticateClient),
    Done(Result<Vec<EventEntry>, ProcedureError>),
}

impl State {
    fn start(address: &str, device_info: DeviceInfo) -> State {
        match checked_address(address) {
            Ok(smds_address) => State::ExpectEuiccChallenge(ExpectEuiccChallenge {
                smds_address,
                device_info,
                request: Pending::card(
                    Es10Command::GetEuiccChallenge,
                    &GetEuiccChallengeRequest {},
                ),
            }),
            Err(fault) => State::failed(fault),
        }
    }

    fn failed(fault: Fault) -> State {
        State::Done(Err(ProcedureError::new(fault)))
    }

    fn handle(self, input: Input) -> State {
        match (self, input) {
            (State::ExpectConfiguredAddresses(s), input) => s.handle(input),
            (State::ExpectEuiccChallenge(s), input) => s.handle(input),
            (State::ExpectEuiccInfo1(s), input) => s.handle(input),
            (State::ExpectInitiateAuthentication(s), input) => s.handle(input),
            (State::ExpectAuthenticateServer(s), input) => s.handle(input),
            (State::ExpectAuthenticateClient(s), input) => s.handle(input),
            (done @ State::Done(_), _) => done,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectConfiguredAddresses {
    device_info: DeviceInfo,
    request: Pending,
}

impl ExpectConfiguredAddresses {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::GetEuiccConfiguredAddresses;
        match input {
            Input::Card(bytes) => {
                match card_answer::<EuiccConfiguredAddressesResponse>(command, &bytes) {
                    Ok(addresses) if addresses.root_ds_address.trim().is_empty() => {
                        State::failed(Fault::BadInput(BadInput::NoRootSmdsAddress))
                    }
                    Ok(addresses) => State::start(&addresses.root_ds_address, self.device_info),
                    Err(fault) => State::failed(fault),
                }
            }
            Input::CardFailure(failure) => State::failed(card_failure(command, failure)),
            _ => State::ExpectConfiguredAddresses(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectEuiccChallenge {
    smds_address: String,
    device_info: DeviceInfo,
    request: Pending,
}

impl ExpectEuiccChallenge {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::GetEuiccChallenge;
        match input {
            Input::Card(bytes) => match card_answer::<GetEuiccChallengeResponse>(command, &bytes) {
                Ok(response) => State::ExpectEuiccInfo1(ExpectEuiccInfo1 {
                    smds_address: self.smds_address,
                    device_info: self.device_info,
                    challenge: response.euicc_challenge,
                    request: Pending::card(Es10Command::GetEuiccInfo1, &GetEuiccInfo1Request {}),
                }),
                Err(fault) => State::failed(fault),
            },
            Input::CardFailure(failure) => State::failed(card_failure(command, failure)),
            _ => State::ExpectEuiccChallenge(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectEuiccInfo1 {
    smds_address: String,
    device_info: DeviceInfo,
    challenge: Vec<u8>,
    request: Pending,
}

impl ExpectEuiccInfo1 {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::GetEuiccInfo1;
        match input {
            Input::Card(bytes) => {
                if let Err(fault) = card_answer::<EuiccInfo1>(command, &bytes) {
                    return State::failed(fault);
                }
                match initiate_authentication(
                    &self.smds_address,
                    initiate_function(true),
                    &self.challenge,
                    bytes,
                ) {
                    Ok(request) => {
                        State::ExpectInitiateAuthentication(ExpectInitiateAuthentication {
                            smds_address: self.smds_address,
                            device_info: self.device_info,
                            challenge: self.challenge,
                            request,
                        })
                    }
                    Err(fault) => State::failed(fault),
                }
            }
            Input::CardFailure(failure) => State::failed(card_failure(command, failure)),
            _ => State::ExpectEuiccInfo1(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectInitiateAuthentication {
    smds_address: String,
    device_info: DeviceInfo,
    challenge: Vec<u8>,
    request: ServerRequest,
}

impl ExpectInitiateAuthentication {
    fn handle(self, input: Input) -> State {
        match input {
            Input::Server { status, body } => {
                // SGP.22 §3.6.2: event retrieval sends no matchingId; the SM-DS returns every
                // event registered for the EID.
                match read_initiate_authentication(
                    self.request.function,
                    status,
                    &body,
                    &self.smds_address,
                    &self.challenge,
                    None,
                    self.device_info,
                ) {
                    Ok(initiated) => State::ExpectAuthenticateServer(ExpectAuthenticateServer {
                        smds_address: self.smds_address,
                        tid: initiated.transaction_id,
                        request: Pending::card(
                            Es10Command::AuthenticateServer,
                            &initiated.authenticate_server,
                        ),
                    }),
                    Err((_, fault)) => State::failed(fault),
                }
            }
            Input::ServerFailure(failure) => State::failed(server_failure(&self.request, failure)),
            _ => State::ExpectInitiateAuthentication(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectAuthenticateServer {
    smds_address: String,
    tid: TransactionId,
    request: Pending,
}

impl ExpectAuthenticateServer {
    fn handle(self, input: Input) -> State {
        let command = Es10Command::AuthenticateServer;
        match input {
            Input::Card(bytes) => {
                match card_answer::<AuthenticateServerResponse>(command, &bytes) {
                    Ok(AuthenticateServerResponse::Ok(_)) => {
                        let request = server_request(
                            &self.smds_address,
                            ServerFunction::Es11(Es11Function::AuthenticateClient),
                            &es9::AuthenticateClientRequest {
                                transaction_id: self.tid,
                                authenticate_server_response: bytes,
                            },
                        );
                        match request {
                            Ok(request) => {
                                State::ExpectAuthenticateClient(ExpectAuthenticateClient {
                                    tid: self.tid,
                                    request,
                                })
                            }
                            Err(fault) => State::failed(fault),
                        }
                    }
                    Ok(AuthenticateServerResponse::Error(error)) => {
                        State::failed(Fault::CardRefused(CardRefusal::AuthenticateServer(
                            error.authenticate_error_code,
                        )))
                    }
                    Err(fault) => State::failed(fault),
                }
            }
            Input::CardFailure(failure) => State::failed(card_failure(command, failure)),
            _ => State::ExpectAuthenticateServer(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectAuthenticateClient {
    tid: TransactionId,
    request: ServerRequest,
}

impl ExpectAuthenticateClient {
    fn handle(self, input: Input) -> State {
        let function = self.request.function;
        match input {
            Input::Server { status, body } => {
                match server_answer::<Es11AuthenticateClientOk>(function, status, &body) {
                    Ok(ok) => {
                        // transactionId is optional in what servers send (see the type); when
                        // present it must be ours.
                        if let Some(tid) = ok.transaction_id
                            && let Err(fault) = super::common::check_transaction_id(
                                function,
                                "transactionId",
                                &self.tid,
                                tid.as_bytes(),
                            )
                        {
                            return State::failed(fault);
                        }
                        State::Done(Ok(ok.event_entries))
                    }
                    Err(fault) => State::failed(fault),
                }
            }
            Input::ServerFailure(failure) => State::failed(server_failure(&self.request, failure)),
            _ => State::ExpectAuthenticateClient(self),
        }
    }
}
