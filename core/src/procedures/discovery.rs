//! Event retrieval from an SM-DS (SGP.22 §3.6.2, ES11 §5.8).

use alloc::string::String;
use alloc::vec::Vec;

use super::authentication::{Authentication, AuthenticationTarget, Outcome};
use super::common::{
    Pending, card_answer, card_failure, checked_address, server_answer, server_failure,
};
use super::error::{ApiMisuse, BadInput, Fault};
use super::{Awaiting, Es10Command, Input, Procedure, ProcedureError, ServerRequest, Step};
use crate::es9::{Es11AuthenticateClientOk, EventEntry, TransactionId};
use crate::messages::{
    DeviceInfo, EuiccConfiguredAddressesRequest, EuiccConfiguredAddressesResponse,
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
            State::Authenticating(s) => s.step(),
            State::ExpectAuthenticateClient(s) => Step::Server(s.request.clone()),
            State::Done(result) => Step::Done(result.clone()),
        }
    }

    fn awaiting(&self) -> Awaiting {
        match &self.state {
            State::ExpectConfiguredAddresses(s) => s.request.awaiting(),
            State::Authenticating(s) => s.awaiting(),
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
    /// `ExpectEuiccChallenge` to `ExpectAuthenticateServer`.
    Authenticating(Authentication<Smds>),
    ExpectAuthenticateClient(ExpectAuthenticateClient),
    Done(Result<Vec<EventEntry>, ProcedureError>),
}

impl State {
    fn start(address: &str, device_info: DeviceInfo) -> State {
        match checked_address(address) {
            Ok(address) => State::Authenticating(Authentication::new(Smds {
                address,
                device_info,
            })),
            Err(fault) => State::failed(fault),
        }
    }

    fn failed(fault: Fault) -> State {
        State::Done(Err(ProcedureError::new(fault)))
    }

    fn handle(self, input: Input) -> State {
        match (self, input) {
            (State::ExpectConfiguredAddresses(s), input) => s.handle(input),
            (State::Authenticating(s), input) => authenticating(s.handle(input)),
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

/// The SM-DS authenticated with: ES11, no matchingId (SGP.22 §3.6.2: event retrieval sends
/// none; the SM-DS returns every event registered for the EID).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Smds {
    address: String,
    device_info: DeviceInfo,
}

impl AuthenticationTarget for Smds {
    fn server_address(&self) -> &str {
        &self.address
    }

    fn is_smds(&self) -> bool {
        true
    }

    fn matching_id(&self) -> Option<String> {
        None
    }

    fn device_info(&self) -> DeviceInfo {
        self.device_info.clone()
    }
}

/// Where authentication led. ES11 has no cancelSession: any failure ends the procedure.
fn authenticating(outcome: Outcome<Smds>) -> State {
    match outcome {
        Outcome::Pending(authentication) => State::Authenticating(authentication),
        Outcome::Failed(_, fault)
        | Outcome::SessionFailed(_, _, fault)
        | Outcome::Refused { fault, .. } => State::failed(fault),
        Outcome::Authenticated { tid, request, .. } => {
            State::ExpectAuthenticateClient(ExpectAuthenticateClient { tid, request })
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
