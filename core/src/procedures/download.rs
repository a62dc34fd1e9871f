//! Profile download (SGP.22 §3.1.3, with common mutual authentication §3.1.2): from an
//! activation code, the eUICC's default SM-DP+, or an SM-DS event.

use alloc::string::String;
use alloc::vec::Vec;

use super::authentication::{Authentication, AuthenticationTarget, Outcome};
use super::common::{
    Pending, card_answer, card_failure, card_unreachable, check_transaction_id, checked_address,
    der_field, der_value, server_answer, server_failure, server_request,
};
use super::error::{ApiMisuse, BadInput, CardRefusal, Fault, Misbehaviour, TransportFailure};
use super::session::{Cancel, SessionRecord, SessionStage};
use super::{
    Answer, Awaiting, Es10Command, Input, Procedure, ProcedureError, Question, ServerFailure,
    ServerFunction, ServerRequest, Step,
};
use crate::activation::{ActivationCode, hash_cc};
use crate::bpp::{BppCommandKind, BppCommandRange, BppCommands};
use crate::der::{Certificate, Signed};
use crate::es9::{
    self, AuthenticateClientOk, Es9Function, EventEntry, GetBoundProfilePackageOk, TransactionId,
};
use crate::ids::Iccid;
use crate::messages::{
    BppCommandId, CancelSessionReason, DeviceInfo, ErrorReason, EuiccConfiguredAddressesRequest,
    EuiccConfiguredAddressesResponse, FinalResult, PrepareDownloadRequest, PrepareDownloadResponse,
    ProfileInstallationResult, SmdpSigned2, StoreMetadataRequest,
};

/// Where a download starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadSource {
    /// An activation code (SGP.22 §4.1).
    ActivationCode {
        /// The SM-DP+ address.
        smdp_address: String,
        /// The matching ID; `None` for an empty one (the SM-DP+ then looks up an order by EID).
        matching_id: Option<String>,
        /// The code's confirmation code required flag.
        confirmation_code_required: bool,
    },
    /// The eUICC's default SM-DP+ (SGP.22 §3.1.3, ES10a GetEuiccConfiguredAddresses), without
    /// a matching ID.
    DefaultSmdp,
    /// An SM-DS event (SGP.22 §3.6.2): the event ID is the matching ID.
    Event {
        /// The event's rspServerAddress.
        smdp_address: String,
        /// The eventId.
        event_id: String,
    },
}

/// What a download ended with: the eUICC's ProfileInstallationResult.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installation {
    /// Installed, or why not.
    pub outcome: InstallOutcome,
    /// The profile's ICCID (from the metadata the user confirmed).
    pub iccid: Iccid,
    /// The metadata the user confirmed.
    pub metadata: StoreMetadataRequest,
    /// The SM-DP+ it came from.
    pub smdp_address: String,
    /// The session's transactionId.
    pub transaction_id: TransactionId,
    /// The card's sequence number of the install notification (deliver it with
    /// [`super::NotificationDelivery`], then it is removed from the card).
    pub seq_number: u32,
    /// The ProfileInstallationResult (`BF37`) as the card answered: the pending notification
    /// the SM-DP+ must receive, in success as in failure (SGP.22 §3.1.3.3).
    pub profile_installation_result: Vec<u8>,
}

impl Installation {
    /// Whether the profile was installed.
    pub fn is_installed(&self) -> bool {
        matches!(self.outcome, InstallOutcome::Installed { .. })
    }
}

/// The finalResult of a ProfileInstallationResult.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallOutcome {
    /// Installed in a new ISD-P.
    Installed {
        /// The ISD-P AID.
        isdp_aid: Vec<u8>,
    },
    /// The card refused the package.
    Failed {
        /// The step that failed.
        bpp_command_id: BppCommandId,
        /// Why.
        error_reason: ErrorReason,
    },
}

/// A profile download (SGP.22 §3.1.3) as a sans-IO machine; drive it as the
/// [module documentation](super) shows.
///
/// The states, named after what each expects next:
///
/// | state | sends | then |
/// |---|---|---|
/// | `ExpectConfiguredAddresses` (default SM-DP+ only) | ES10a GetEuiccConfiguredAddresses | |
/// | `ExpectEuiccChallenge` | ES10b GetEUICCChallenge | |
/// | `ExpectEuiccInfo1` | ES10b GetEUICCInfo1 | |
/// | `ExpectInitiateAuthentication` | ES9+ initiateAuthentication | checks the echoes |
/// | `ExpectAuthenticateServer` | ES10b AuthenticateServer (matchingId, DeviceInfo) | |
/// | `ExpectAuthenticateClient` | ES9+ authenticateClient | checks the metadata |
/// | `ExpectProfileConfirmation` | [`Question::ConfirmProfile`] | |
/// | `ExpectConfirmationCode` | [`Question::ConfirmationCode`] when required | hashCc |
/// | `ExpectPrepareDownload` | ES10b PrepareDownload | |
/// | `ExpectBoundProfilePackage` | ES9+ getBoundProfilePackage | checks the BPP |
/// | `ExpectLoadBoundProfilePackage` | each BPP sequence ([`BppCommands`]) | until `BF37` |
/// | `Cancelling` | (forwarded refusal), ES10b CancelSession, ES9+ cancelSession | after any failure |
/// | `Done` | | [`Installation`] or [`ProcedureError`] |
///
/// After any failure once initiateAuthentication succeeded, the session is ended on both
/// sides before `Done(Err)`: ES10b CancelSession on the card with a reason (the user's for a
/// decline; loadBppExecutionError for a package that cannot be loaded; metadataMismatch for
/// metadata that cannot be read; timeout when the server timed out; undefinedReason
/// otherwise), then ES9+ cancelSession with the card's signed answer. When the card refused
/// AuthenticateServer or PrepareDownload, its refusal first goes to the SM-DP+ in
/// authenticateClient (SGP.22 §5.6.3) or getBoundProfilePackage (§3.1.3, §5.6.2), the way the
/// server learns of it and ends its session; ES9+ cancelSession is then not sent. When the card cannot be reached nothing can
/// be cancelled; [`Procedure::session_record`] then stays `Some` for [`super::Recovery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    state: State,
}

impl Download {
    /// A download from `source`, announcing `device_info` (TAC and capabilities, SGP.22 §4.2)
    /// in AuthenticateServer.
    pub fn new(source: DownloadSource, device_info: DeviceInfo) -> Self {
        let state = match source {
            DownloadSource::DefaultSmdp => {
                State::ExpectConfiguredAddresses(ExpectConfiguredAddresses {
                    device_info,
                    request: Pending::card(
                        Es10Command::GetEuiccConfiguredAddresses,
                        &EuiccConfiguredAddressesRequest {},
                    ),
                })
            }
            DownloadSource::ActivationCode {
                smdp_address,
                matching_id,
                confirmation_code_required,
            } => State::start(&smdp_address, |smdp_address| Target {
                smdp_address,
                matching_id: matching_id.filter(|m| !m.is_empty()),
                cc_required_by_code: confirmation_code_required,
                device_info,
            }),
            DownloadSource::Event {
                smdp_address,
                event_id,
            } => State::start(&smdp_address, |smdp_address| Target {
                smdp_address,
                matching_id: Some(event_id),
                cc_required_by_code: false,
                device_info,
            }),
        };
        Download { state }
    }

    /// A download from an activation code (SGP.22 §4.1).
    pub fn from_activation_code(code: &ActivationCode<'_>, device_info: DeviceInfo) -> Self {
        Download::new(
            DownloadSource::ActivationCode {
                smdp_address: code.smdp_address().into(),
                matching_id: code.matching_id().map(Into::into),
                confirmation_code_required: code.confirmation_code_required(),
            },
            device_info,
        )
    }

    /// A download from the eUICC's default SM-DP+ (its address is read from the card first).
    pub fn from_default_smdp(device_info: DeviceInfo) -> Self {
        Download::new(DownloadSource::DefaultSmdp, device_info)
    }

    /// A download of an event found by [`super::Discovery`] (SGP.22 §3.6.2).
    pub fn from_event(event: &EventEntry, device_info: DeviceInfo) -> Self {
        Download::new(
            DownloadSource::Event {
                smdp_address: event.rsp_server_address.clone(),
                event_id: event.event_id.clone(),
            },
            device_info,
        )
    }
}

impl Procedure for Download {
    type Output = Installation;

    fn poll(&self) -> Step<Installation> {
        self.state.step()
    }

    fn awaiting(&self) -> Awaiting {
        self.state.awaiting()
    }

    fn handle(&mut self, input: Input) -> Result<(), ApiMisuse> {
        let awaiting = self.state.awaiting();
        if !awaiting.accepts(&input) {
            return Err(ApiMisuse::new(input.kind(), awaiting));
        }
        let state = core::mem::replace(&mut self.state, State::Transitioning);
        self.state = state.handle(input);
        Ok(())
    }

    fn load_progress(&self) -> Option<(usize, usize)> {
        match &self.state {
            State::ExpectLoadBoundProfilePackage(s) => Some((s.next, s.commands.len())),
            _ => None,
        }
    }

    fn session_record(&self) -> Option<SessionRecord> {
        self.state.record()
    }
}

/// Where the download goes and with what.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    smdp_address: String,
    matching_id: Option<String>,
    cc_required_by_code: bool,
    device_info: DeviceInfo,
}

impl Target {
    fn record(&self, transaction_id: TransactionId, stage: SessionStage) -> SessionRecord {
        SessionRecord {
            transaction_id,
            smdp_address: self.smdp_address.clone(),
            stage,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    ExpectConfiguredAddresses(ExpectConfiguredAddresses),
    /// `ExpectEuiccChallenge` to `ExpectAuthenticateServer`.
    Authenticating(Authentication<Target>),
    ExpectAuthenticateClient(ExpectAuthenticateClient),
    ExpectProfileConfirmation(ExpectProfileConfirmation),
    ExpectConfirmationCode(ExpectConfirmationCode),
    ExpectPrepareDownload(ExpectPrepareDownload),
    ExpectBoundProfilePackage(ExpectBoundProfilePackage),
    ExpectLoadBoundProfilePackage(ExpectLoadBoundProfilePackage),
    Cancelling(Cancelling),
    Done {
        result: Result<Installation, ProcedureError>,
        record: Option<SessionRecord>,
    },
    /// Only while a handler runs; handlers cannot fail to put a state back.
    Transitioning,
}

impl State {
    /// The first card step towards `address`, once checked.
    fn start(address: &str, target: impl FnOnce(String) -> Target) -> State {
        match checked_address(address) {
            Ok(address) => State::Authenticating(Authentication::new(target(address))),
            Err(fault) => State::failed(fault),
        }
    }

    /// Done without a session to end.
    fn failed(fault: Fault) -> State {
        State::Done {
            result: Err(ProcedureError::new(fault)),
            record: None,
        }
    }

    /// A failure with a session open: end it on both sides, unless the card is out of reach.
    fn end_session(
        target: &Target,
        transaction_id: TransactionId,
        stage: SessionStage,
        fault: Fault,
        reason: CancelSessionReason,
    ) -> State {
        let record = target.record(transaction_id, stage);
        let cancel = if card_unreachable(&fault) {
            Cancel::unreachable(record, reason)
        } else {
            Cancel::new(record, reason)
        };
        Cancelling::state(cancel, fault)
    }

    fn step(&self) -> Step<Installation> {
        match self {
            State::ExpectConfiguredAddresses(s) => s.request.step(),
            State::Authenticating(s) => s.step(),
            State::ExpectAuthenticateClient(s) => Step::Server(s.request.clone()),
            State::ExpectProfileConfirmation(s) => Step::User(s.question()),
            State::ExpectConfirmationCode(s) => Step::User(Question::ConfirmationCode {
                smdp_address: s.target.smdp_address.clone(),
            }),
            State::ExpectPrepareDownload(s) => s.request.step(),
            State::ExpectBoundProfilePackage(s) => Step::Server(s.request.clone()),
            State::ExpectLoadBoundProfilePackage(s) => Step::Card(s.command_bytes().to_vec()),
            State::Cancelling(s) => match s.cancel.pending() {
                Some(pending) => pending.step(),
                None => Step::Done(Err(s.error())),
            },
            State::Done { result, .. } => Step::Done(result.clone()),
            State::Transitioning => Step::Done(Err(ProcedureError::new(Fault::ApiMisuse(
                ApiMisuse::new(super::InputKind::CardResponse, Awaiting::Nothing),
            )))),
        }
    }

    fn awaiting(&self) -> Awaiting {
        match self {
            State::ExpectConfiguredAddresses(s) => s.request.awaiting(),
            State::Authenticating(s) => s.awaiting(),
            State::ExpectAuthenticateClient(s) => Awaiting::Server(s.request.function),
            State::ExpectProfileConfirmation(_) => {
                Awaiting::User(super::QuestionKind::ConfirmProfile)
            }
            State::ExpectConfirmationCode(_) => {
                Awaiting::User(super::QuestionKind::ConfirmationCode)
            }
            State::ExpectPrepareDownload(s) => s.request.awaiting(),
            State::ExpectBoundProfilePackage(s) => Awaiting::Server(s.request.function),
            State::ExpectLoadBoundProfilePackage(s) => Awaiting::Card(s.command()),
            State::Cancelling(s) => s.cancel.awaiting(),
            State::Done { .. } | State::Transitioning => Awaiting::Nothing,
        }
    }

    fn record(&self) -> Option<SessionRecord> {
        let (target, tid, stage) = match self {
            State::Authenticating(s) => match s.transaction_id() {
                Some(tid) => (s.target(), tid, SessionStage::Authenticating),
                None => return None,
            },
            State::ExpectAuthenticateClient(s) => (&s.target, s.tid, SessionStage::Authenticated),
            State::ExpectProfileConfirmation(s) => (&s.target, s.tid, SessionStage::Authenticated),
            State::ExpectConfirmationCode(s) => (&s.target, s.tid, SessionStage::Authenticated),
            State::ExpectPrepareDownload(s) => (&s.target, s.tid, SessionStage::Authenticated),
            State::ExpectBoundProfilePackage(s) => (&s.target, s.tid, SessionStage::Prepared),
            State::ExpectLoadBoundProfilePackage(s) => (&s.target, s.tid, SessionStage::Loading),
            State::Cancelling(s) => return s.cancel.record(),
            State::Done { record, .. } => return record.clone(),
            _ => return None,
        };
        Some(target.record(tid, stage))
    }

    fn handle(self, input: Input) -> State {
        match self {
            State::ExpectConfiguredAddresses(s) => s.handle(input),
            State::Authenticating(s) => authenticating(s.handle(input)),
            State::ExpectAuthenticateClient(s) => s.handle(input),
            State::ExpectProfileConfirmation(s) => s.handle(input),
            State::ExpectConfirmationCode(s) => s.handle(input),
            State::ExpectPrepareDownload(s) => s.handle(input),
            State::ExpectBoundProfilePackage(s) => s.handle(input),
            State::ExpectLoadBoundProfilePackage(s) => s.handle(input),
            State::Cancelling(s) => s.handle(input),
            done @ (State::Done { .. } | State::Transitioning) => done,
        }
    }
}

/// The cancel reason for a failure the LPA did not choose (SGP.22 §5.7.14): timeout when the
/// server timed out, undefinedReason otherwise.
fn reason_for(fault: &Fault) -> CancelSessionReason {
    match fault {
        Fault::TransportFailed(TransportFailure::Server {
            failure: ServerFailure::Timeout(_),
            ..
        }) => CancelSessionReason::Timeout,
        _ => CancelSessionReason::UndefinedReason,
    }
}

// --- ES10a GetEuiccConfiguredAddresses --------------------------------------------------------

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
                    Ok(addresses) => match addresses.default_dp_address {
                        Some(address) if !address.trim().is_empty() => {
                            let device_info = self.device_info;
                            State::start(&address, |smdp_address| Target {
                                smdp_address,
                                matching_id: None,
                                cc_required_by_code: false,
                                device_info,
                            })
                        }
                        _ => State::failed(Fault::BadInput(BadInput::NoDefaultSmdpAddress)),
                    },
                    Err(fault) => State::failed(fault),
                }
            }
            Input::CardFailure(failure) => State::failed(card_failure(command, failure)),
            _ => State::ExpectConfiguredAddresses(self),
        }
    }
}

// --- GetEUICCChallenge to AuthenticateServer (common mutual authentication) ----------------

impl AuthenticationTarget for Target {
    fn server_address(&self) -> &str {
        &self.smdp_address
    }

    fn is_smds(&self) -> bool {
        false
    }

    fn matching_id(&self) -> Option<String> {
        self.matching_id.clone()
    }

    fn device_info(&self) -> DeviceInfo {
        self.device_info.clone()
    }
}

/// Where authentication led: on to authenticateClient, or the end of the session.
fn authenticating(outcome: Outcome<Target>) -> State {
    let stage = SessionStage::Authenticating;
    let reason = CancelSessionReason::UndefinedReason;
    match outcome {
        Outcome::Pending(authentication) => State::Authenticating(authentication),
        Outcome::Failed(_, fault) => State::failed(fault),
        Outcome::SessionFailed(target, tid, fault) => {
            State::end_session(&target, tid, stage, fault, reason)
        }
        // The card's refusal goes to the SM-DP+ in authenticateClient (SGP.22 §5.6.3).
        Outcome::Refused {
            target,
            tid,
            fault,
            authenticate_server_response,
        } => {
            let record = target.record(tid, stage);
            Cancelling::state(
                Cancel::forwarding(record, reason, authenticate_server_response),
                fault,
            )
        }
        Outcome::Authenticated {
            target,
            tid,
            request,
        } => State::ExpectAuthenticateClient(ExpectAuthenticateClient {
            target,
            tid,
            request,
        }),
    }
}

// --- ES9+ authenticateClient ------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectAuthenticateClient {
    target: Target,
    tid: TransactionId,
    request: ServerRequest,
}

/// What authenticateClient offers: the profile and the parts of PrepareDownload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Offer {
    metadata: StoreMetadataRequest,
    prepare: PrepareDownloadRequest,
}

impl ExpectAuthenticateClient {
    fn handle(self, input: Input) -> State {
        let stage = SessionStage::Authenticated;
        match input {
            Input::Server { status, body } => match self.read(status, &body) {
                Ok(offer) => State::ExpectProfileConfirmation(ExpectProfileConfirmation {
                    target: self.target,
                    tid: self.tid,
                    offer,
                }),
                Err((fault, reason)) => {
                    State::end_session(&self.target, self.tid, stage, fault, reason)
                }
            },
            Input::ServerFailure(failure) => {
                let fault = server_failure(&self.request, failure);
                let reason = reason_for(&fault);
                State::end_session(&self.target, self.tid, stage, fault, reason)
            }
            _ => State::ExpectAuthenticateClient(self),
        }
    }

    /// Reads the answer: consistent transactionIds, readable metadata and smdpSigned2.
    fn read(&self, status: u16, body: &[u8]) -> Result<Offer, (Fault, CancelSessionReason)> {
        let function = self.request.function;
        let undefined = |fault| (fault, CancelSessionReason::UndefinedReason);
        let ok: AuthenticateClientOk = server_answer(function, status, body).map_err(|fault| {
            let reason = reason_for(&fault);
            (fault, reason)
        })?;
        check_transaction_id(
            function,
            "transactionId",
            &self.tid,
            ok.transaction_id.as_bytes(),
        )
        .map_err(undefined)?;
        let metadata: StoreMetadataRequest =
            der_field(function, "profileMetadata", &ok.profile_metadata)
                .map_err(|fault| (fault, CancelSessionReason::MetadataMismatch))?;
        let smdp_signed2: Signed<SmdpSigned2> =
            der_field(function, "smdpSigned2", &ok.smdp_signed2).map_err(undefined)?;
        check_transaction_id(
            function,
            "smdpSigned2.transactionId",
            &self.tid,
            &smdp_signed2.value().transaction_id,
        )
        .map_err(undefined)?;
        let smdp_signature2 = der_value(function, "smdpSignature2", &ok.smdp_signature2, 0x5F37)
            .map_err(undefined)?;
        let smdp_certificate = Certificate::from_der(ok.smdp_certificate)
            .map_err(|error| {
                Fault::PeerMisbehaved(Misbehaviour::ServerData {
                    function,
                    field: "smdpCertificate",
                    error,
                })
            })
            .map_err(undefined)?;
        Ok(Offer {
            metadata,
            prepare: PrepareDownloadRequest {
                smdp_signed2,
                smdp_signature2,
                hash_cc: None,
                smdp_certificate,
            },
        })
    }
}

// --- the end user: consent and confirmation code ----------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectProfileConfirmation {
    target: Target,
    tid: TransactionId,
    offer: Offer,
}

impl ExpectProfileConfirmation {
    /// A confirmation code is asked for when the SM-DP+ requires one (ccRequiredFlag) or the
    /// activation code said it would be.
    fn asks_for_code(&self) -> bool {
        self.offer.prepare.smdp_signed2.value().cc_required_flag || self.target.cc_required_by_code
    }

    fn question(&self) -> Question {
        Question::ConfirmProfile {
            metadata: self.offer.metadata.clone(),
            smdp_address: self.target.smdp_address.clone(),
            confirmation_code_required: self.asks_for_code(),
        }
    }

    fn handle(self, input: Input) -> State {
        match input {
            Input::User(Answer::Accept) if self.asks_for_code() => {
                State::ExpectConfirmationCode(ExpectConfirmationCode {
                    target: self.target,
                    tid: self.tid,
                    offer: self.offer,
                })
            }
            Input::User(Answer::Accept) => {
                ExpectPrepareDownload::state(self.target, self.tid, self.offer)
            }
            Input::User(Answer::Decline(reason)) => State::end_session(
                &self.target,
                self.tid,
                SessionStage::Authenticated,
                Fault::UserDeclined { reason },
                reason,
            ),
            _ => State::ExpectProfileConfirmation(self),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectConfirmationCode {
    target: Target,
    tid: TransactionId,
    offer: Offer,
}

impl ExpectConfirmationCode {
    fn handle(mut self, input: Input) -> State {
        match input {
            Input::User(Answer::ConfirmationCode(code)) => {
                // hashCc goes only where the SM-DP+ asked for it: the eUICC refuses one with
                // ccRequiredFlag clear (SGP.22 §5.7.5).
                if self.offer.prepare.smdp_signed2.value().cc_required_flag {
                    let hash = hash_cc(code.as_bytes(), self.tid.as_bytes());
                    self.offer.prepare.hash_cc = Some(hash.to_vec());
                }
                ExpectPrepareDownload::state(self.target, self.tid, self.offer)
            }
            Input::User(Answer::Decline(reason)) => State::end_session(
                &self.target,
                self.tid,
                SessionStage::Authenticated,
                Fault::UserDeclined { reason },
                reason,
            ),
            _ => State::ExpectConfirmationCode(self),
        }
    }
}

// --- ES10b PrepareDownload --------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectPrepareDownload {
    target: Target,
    tid: TransactionId,
    metadata: StoreMetadataRequest,
    request: Pending,
}

impl ExpectPrepareDownload {
    fn state(target: Target, tid: TransactionId, offer: Offer) -> State {
        State::ExpectPrepareDownload(ExpectPrepareDownload {
            target,
            tid,
            metadata: offer.metadata,
            request: Pending::card(Es10Command::PrepareDownload, &offer.prepare),
        })
    }

    fn handle(self, input: Input) -> State {
        let command = Es10Command::PrepareDownload;
        let stage = SessionStage::Authenticated;
        let reason = CancelSessionReason::UndefinedReason;
        match input {
            Input::Card(bytes) => match card_answer::<PrepareDownloadResponse>(command, &bytes) {
                Ok(PrepareDownloadResponse::Ok(_)) => {
                    let request = server_request(
                        &self.target.smdp_address,
                        ServerFunction::Es9(Es9Function::GetBoundProfilePackage),
                        &es9::GetBoundProfilePackageRequest {
                            transaction_id: self.tid,
                            prepare_download_response: bytes,
                        },
                    );
                    match request {
                        Ok(request) => {
                            State::ExpectBoundProfilePackage(ExpectBoundProfilePackage {
                                target: self.target,
                                tid: self.tid,
                                metadata: self.metadata,
                                request,
                            })
                        }
                        Err(fault) => {
                            State::end_session(&self.target, self.tid, stage, fault, reason)
                        }
                    }
                }
                // SGP.22 §3.1.3: the card's error goes to the SM-DP+ in getBoundProfilePackage,
                // which ends the server's session; then the card's side is cancelled.
                Ok(PrepareDownloadResponse::Error(error)) => {
                    let fault =
                        Fault::CardRefused(CardRefusal::PrepareDownload(error.download_error_code));
                    let record = self.target.record(self.tid, stage);
                    Cancelling::state(
                        Cancel::forwarding_prepare_download(record, reason, bytes),
                        fault,
                    )
                }
                Err(fault) => State::end_session(&self.target, self.tid, stage, fault, reason),
            },
            Input::CardFailure(failure) => {
                let fault = card_failure(command, failure);
                State::end_session(&self.target, self.tid, stage, fault, reason)
            }
            _ => State::ExpectPrepareDownload(self),
        }
    }
}

// --- ES9+ getBoundProfilePackage --------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectBoundProfilePackage {
    target: Target,
    tid: TransactionId,
    metadata: StoreMetadataRequest,
    request: ServerRequest,
}

impl ExpectBoundProfilePackage {
    fn handle(self, input: Input) -> State {
        let function = self.request.function;
        let stage = SessionStage::Prepared;
        match input {
            Input::Server { status, body } => {
                let ok: GetBoundProfilePackageOk = match server_answer(function, status, &body) {
                    Ok(ok) => ok,
                    Err(fault) => {
                        let reason = reason_for(&fault);
                        return State::end_session(&self.target, self.tid, stage, fault, reason);
                    }
                };
                if let Err(fault) = check_transaction_id(
                    function,
                    "transactionId",
                    &self.tid,
                    ok.transaction_id.as_bytes(),
                ) {
                    let reason = CancelSessionReason::UndefinedReason;
                    return State::end_session(&self.target, self.tid, stage, fault, reason);
                }
                match ExpectLoadBoundProfilePackage::new(
                    self.target.clone(),
                    self.tid,
                    self.metadata,
                    ok.bound_profile_package,
                ) {
                    Ok(load) => State::ExpectLoadBoundProfilePackage(load),
                    Err(fault) => State::end_session(
                        &self.target,
                        self.tid,
                        stage,
                        fault,
                        CancelSessionReason::LoadBppExecutionError,
                    ),
                }
            }
            Input::ServerFailure(failure) => {
                let fault = server_failure(&self.request, failure);
                let reason = reason_for(&fault);
                State::end_session(&self.target, self.tid, stage, fault, reason)
            }
            _ => State::ExpectBoundProfilePackage(self),
        }
    }
}

// --- ES10b LoadBoundProfilePackage ------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct ExpectLoadBoundProfilePackage {
    target: Target,
    tid: TransactionId,
    metadata: StoreMetadataRequest,
    /// The package exactly as the server sent it; the commands are slices of it, so it is
    /// held once and each sequence is copied only when it is handed out.
    bpp: Vec<u8>,
    commands: Vec<BppCommandRange>,
    next: usize,
}

impl ExpectLoadBoundProfilePackage {
    fn new(
        target: Target,
        tid: TransactionId,
        metadata: StoreMetadataRequest,
        bpp: Vec<u8>,
    ) -> Result<Self, Fault> {
        let invalid = |e| Fault::PeerMisbehaved(Misbehaviour::InvalidBoundProfilePackage(e));
        let commands = BppCommands::new(&bpp).map_err(invalid)?.ranges().collect();
        Ok(ExpectLoadBoundProfilePackage {
            target,
            tid,
            metadata,
            bpp,
            commands,
            next: 0,
        })
    }

    fn command(&self) -> Es10Command {
        let kind = self
            .commands
            .get(self.next)
            .map_or(BppCommandKind::LoadProfileElements, |command| command.kind);
        Es10Command::LoadBoundProfilePackage(kind)
    }

    fn command_bytes(&self) -> &[u8] {
        self.commands
            .get(self.next)
            .and_then(|command| self.bpp.get(command.range.clone()))
            .unwrap_or_default()
    }

    fn handle(mut self, input: Input) -> State {
        let command = self.command();
        let stage = SessionStage::Loading;
        // SGP.22 §5.7.14: the LPA ends a load it cannot complete with loadBppExecutionError.
        let reason = CancelSessionReason::LoadBppExecutionError;
        match input {
            // 9000 without data: the card wants the next sequence.
            Input::Card(bytes) if bytes.is_empty() => {
                self.next += 1;
                if self.next < self.commands.len() {
                    State::ExpectLoadBoundProfilePackage(self)
                } else {
                    let fault = Fault::PeerMisbehaved(Misbehaviour::MissingInstallationResult);
                    State::end_session(&self.target, self.tid, stage, fault, reason)
                }
            }
            // Any data ends the load: the ProfileInstallationResult, early on failure.
            Input::Card(bytes) => match card_answer::<ProfileInstallationResult>(command, &bytes) {
                Ok(result) => State::Done {
                    result: Ok(self.installation(&result, bytes)),
                    record: None,
                },
                Err(fault) => State::end_session(&self.target, self.tid, stage, fault, reason),
            },
            Input::CardFailure(failure) => {
                let fault = card_failure(command, failure);
                State::end_session(&self.target, self.tid, stage, fault, reason)
            }
            _ => State::ExpectLoadBoundProfilePackage(self),
        }
    }

    fn installation(self, result: &ProfileInstallationResult, raw: Vec<u8>) -> Installation {
        let data = result.profile_installation_result_data.value();
        let outcome = match &data.final_result {
            FinalResult::Success(success) => InstallOutcome::Installed {
                isdp_aid: success.aid.clone(),
            },
            FinalResult::Error(error) => InstallOutcome::Failed {
                bpp_command_id: error.bpp_command_id,
                error_reason: error.error_reason,
            },
        };
        Installation {
            outcome,
            iccid: self.metadata.iccid,
            metadata: self.metadata,
            smdp_address: self.target.smdp_address,
            transaction_id: self.tid,
            seq_number: data.notification_metadata.seq_number,
            profile_installation_result: raw,
        }
    }
}

// --- cancelling -------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
struct Cancelling {
    cancel: Cancel,
    fault: Fault,
}

impl Cancelling {
    fn state(cancel: Cancel, fault: Fault) -> State {
        let cancelling = Cancelling { cancel, fault };
        if cancelling.cancel.is_finished() {
            cancelling.done()
        } else {
            State::Cancelling(cancelling)
        }
    }

    fn error(&self) -> ProcedureError {
        ProcedureError::with_session_end(self.fault.clone(), self.cancel.end())
    }

    fn done(self) -> State {
        State::Done {
            result: Err(self.error()),
            record: self.cancel.record(),
        }
    }

    fn handle(self, input: Input) -> State {
        Cancelling::state(self.cancel.handle(input), self.fault)
    }
}
