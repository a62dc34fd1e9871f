//! Common mutual authentication (SGP.22 §3.1.2) up to the card's AuthenticateServer: the
//! sub-machine [`super::Download`] (ES9+, SM-DP+) and [`super::Discovery`] (ES11, SM-DS) share.
//!
//! ES10b GetEUICCChallenge, ES10b GetEUICCInfo1, initiateAuthentication (with the LPA's checks
//! of the echoes), ES10b AuthenticateServer (with the target's ctxParams1). What happens then,
//! on success or failure, is the caller's: it gets an [`Outcome`].

use alloc::string::String;
use alloc::vec::Vec;

use super::common::{
    Pending, card_answer, card_failure, initiate_authentication, initiate_function,
    read_initiate_authentication, server_failure, server_request,
};
use super::error::{CardRefusal, Fault};
use super::{Awaiting, Es10Command, Input, ServerFunction, ServerRequest, Step};
use crate::es9::{self, Es9Function, Es11Function, TransactionId};
use crate::messages::{
    AuthenticateServerResponse, DeviceInfo, EuiccInfo1, GetEuiccChallengeRequest,
    GetEuiccChallengeResponse, GetEuiccInfo1Request,
};

/// What differs between the machines that authenticate: the server and what the card is told.
pub(crate) trait AuthenticationTarget {
    /// The server's address, checked and trimmed.
    fn server_address(&self) -> &str;
    /// ES11 (SM-DS) rather than ES9+ (SM-DP+).
    fn is_smds(&self) -> bool;
    /// ctxParams1's matchingId (none for event retrieval, SGP.22 §3.6.2).
    fn matching_id(&self) -> Option<String>;
    /// ctxParams1's deviceInfo.
    fn device_info(&self) -> DeviceInfo;
}

/// The sub-machine; `T` is the caller's target, handed back in every outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Authentication<T> {
    target: T,
    state: State,
}

/// Where it stands, named after what it expects next.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    ExpectEuiccChallenge(Pending),
    ExpectEuiccInfo1 {
        challenge: Vec<u8>,
        request: Pending,
    },
    ExpectInitiateAuthentication {
        challenge: Vec<u8>,
        request: Pending,
    },
    ExpectAuthenticateServer {
        tid: TransactionId,
        request: Pending,
    },
}

/// What one input led to.
pub(crate) enum Outcome<T> {
    /// Not finished: the next step is pending.
    Pending(Authentication<T>),
    /// Failed while no session was known to be open (no transactionId).
    Failed(T, Fault),
    /// Failed with the server's session `tid` open (and perhaps the card's).
    SessionFailed(T, TransactionId, Fault),
    /// The card refused AuthenticateServer: its answer (AuthenticateResponseError), which the
    /// SM-DP+ should get in authenticateClient (SGP.22 §5.6.3).
    Refused {
        target: T,
        tid: TransactionId,
        fault: Fault,
        authenticate_server_response: Vec<u8>,
    },
    /// The card authenticated the server: this authenticateClient request is next.
    Authenticated {
        target: T,
        tid: TransactionId,
        request: ServerRequest,
    },
}

impl<T: AuthenticationTarget> Authentication<T> {
    /// Starts with ES10b GetEUICCChallenge.
    pub(crate) fn new(target: T) -> Self {
        Authentication {
            target,
            state: State::ExpectEuiccChallenge(Pending::card(
                Es10Command::GetEuiccChallenge,
                &GetEuiccChallengeRequest {},
            )),
        }
    }

    fn pending(&self) -> &Pending {
        match &self.state {
            State::ExpectEuiccChallenge(request)
            | State::ExpectEuiccInfo1 { request, .. }
            | State::ExpectInitiateAuthentication { request, .. }
            | State::ExpectAuthenticateServer { request, .. } => request,
        }
    }

    pub(crate) fn step<O>(&self) -> Step<O> {
        self.pending().step()
    }

    pub(crate) fn awaiting(&self) -> Awaiting {
        self.pending().awaiting()
    }

    /// The target.
    pub(crate) fn target(&self) -> &T {
        &self.target
    }

    /// The server's session, once initiateAuthentication opened one.
    pub(crate) fn transaction_id(&self) -> Option<TransactionId> {
        match &self.state {
            State::ExpectAuthenticateServer { tid, .. } => Some(*tid),
            _ => None,
        }
    }

    /// Takes the answer to what is pending; other inputs change nothing.
    pub(crate) fn handle(self, input: Input) -> Outcome<T> {
        let Authentication { target, state } = self;
        match state {
            State::ExpectEuiccChallenge(request) => on_challenge(target, request, input),
            State::ExpectEuiccInfo1 { challenge, request } => {
                on_info1(target, challenge, request, input)
            }
            State::ExpectInitiateAuthentication { challenge, request } => {
                on_initiate(target, challenge, request, input)
            }
            State::ExpectAuthenticateServer { tid, request } => {
                on_authenticate_server(target, tid, request, input)
            }
        }
    }
}

fn unchanged<T>(target: T, state: State) -> Outcome<T> {
    Outcome::Pending(Authentication { target, state })
}

fn on_challenge<T: AuthenticationTarget>(target: T, request: Pending, input: Input) -> Outcome<T> {
    let command = Es10Command::GetEuiccChallenge;
    match input {
        Input::Card(bytes) => match card_answer::<GetEuiccChallengeResponse>(command, &bytes) {
            Ok(response) => unchanged(
                target,
                State::ExpectEuiccInfo1 {
                    challenge: response.euicc_challenge,
                    request: Pending::card(Es10Command::GetEuiccInfo1, &GetEuiccInfo1Request {}),
                },
            ),
            Err(fault) => Outcome::Failed(target, fault),
        },
        Input::CardFailure(failure) => Outcome::Failed(target, card_failure(command, failure)),
        _ => unchanged(target, State::ExpectEuiccChallenge(request)),
    }
}

fn on_info1<T: AuthenticationTarget>(
    target: T,
    challenge: Vec<u8>,
    request: Pending,
    input: Input,
) -> Outcome<T> {
    let command = Es10Command::GetEuiccInfo1;
    match input {
        Input::Card(bytes) => {
            // Checked here so that a broken card is blamed, not the server; the bytes go to
            // the server as the card sent them.
            if let Err(fault) = card_answer::<EuiccInfo1>(command, &bytes) {
                return Outcome::Failed(target, fault);
            }
            match initiate_authentication(
                target.server_address(),
                initiate_function(target.is_smds()),
                &challenge,
                bytes,
            ) {
                Ok(request) => unchanged(
                    target,
                    State::ExpectInitiateAuthentication {
                        challenge,
                        request: Pending::Server(request),
                    },
                ),
                Err(fault) => Outcome::Failed(target, fault),
            }
        }
        Input::CardFailure(failure) => Outcome::Failed(target, card_failure(command, failure)),
        _ => unchanged(target, State::ExpectEuiccInfo1 { challenge, request }),
    }
}

fn on_initiate<T: AuthenticationTarget>(
    target: T,
    challenge: Vec<u8>,
    request: Pending,
    input: Input,
) -> Outcome<T> {
    let Pending::Server(server) = &request else {
        return unchanged(
            target,
            State::ExpectInitiateAuthentication { challenge, request },
        );
    };
    match input {
        Input::Server { status, body } => {
            let read = read_initiate_authentication(
                server.function,
                status,
                &body,
                target.server_address(),
                &challenge,
                target.matching_id(),
                target.device_info(),
            );
            match read {
                Ok(initiated) => unchanged(
                    target,
                    State::ExpectAuthenticateServer {
                        tid: initiated.transaction_id,
                        request: Pending::card(
                            Es10Command::AuthenticateServer,
                            &initiated.authenticate_server,
                        ),
                    },
                ),
                Err((Some(tid), fault)) => Outcome::SessionFailed(target, tid, fault),
                Err((None, fault)) => Outcome::Failed(target, fault),
            }
        }
        // No answer: whether the server opened a session is unknown, and without its
        // transactionId there is nothing to cancel.
        Input::ServerFailure(failure) => {
            let fault = server_failure(server, failure);
            Outcome::Failed(target, fault)
        }
        _ => unchanged(
            target,
            State::ExpectInitiateAuthentication { challenge, request },
        ),
    }
}

fn on_authenticate_server<T: AuthenticationTarget>(
    target: T,
    tid: TransactionId,
    request: Pending,
    input: Input,
) -> Outcome<T> {
    let command = Es10Command::AuthenticateServer;
    match input {
        Input::Card(bytes) => match card_answer::<AuthenticateServerResponse>(command, &bytes) {
            Ok(AuthenticateServerResponse::Ok(_)) => {
                let function = if target.is_smds() {
                    ServerFunction::Es11(Es11Function::AuthenticateClient)
                } else {
                    ServerFunction::Es9(Es9Function::AuthenticateClient)
                };
                let request = server_request(
                    target.server_address(),
                    function,
                    &es9::AuthenticateClientRequest {
                        transaction_id: tid,
                        authenticate_server_response: bytes,
                    },
                );
                match request {
                    Ok(request) => Outcome::Authenticated {
                        target,
                        tid,
                        request,
                    },
                    Err(fault) => Outcome::SessionFailed(target, tid, fault),
                }
            }
            Ok(AuthenticateServerResponse::Error(error)) => Outcome::Refused {
                target,
                tid,
                fault: Fault::CardRefused(CardRefusal::AuthenticateServer(
                    error.authenticate_error_code,
                )),
                authenticate_server_response: bytes,
            },
            Err(fault) => Outcome::SessionFailed(target, tid, fault),
        },
        Input::CardFailure(failure) => {
            Outcome::SessionFailed(target, tid, card_failure(command, failure))
        }
        _ => unchanged(target, State::ExpectAuthenticateServer { tid, request }),
    }
}
