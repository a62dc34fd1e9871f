//! [`Es10Client`]: one logical channel to the ISD-R, STORE DATA exchanges, typed ES10 calls.

use log::{debug, trace};

use lpa_core::apdu::{
    ApduError, CommandApdu, ExchangeConfig, INS_STORE_DATA, LogicalChannel, MAX_SHORT_COMMAND,
    ResponseApdu, STORE_DATA_P1_LAST_BLOCK, StatusWord, StoreDataExchange, Transmit,
};
use lpa_core::bpp::{BppCommandKind, BppCommands};
use lpa_core::der::{CertificateList, Decode, DecodeError, Encode};
use lpa_core::ids::{Eid, Iccid};
use lpa_core::messages::{
    AuthenticateServerRequest, AuthenticateServerResponse, CancelSessionReason,
    CancelSessionRequest, CancelSessionResponse, CtxParams1, DeleteNotificationStatus,
    DeleteProfileRequest, DeleteProfileResponse, DeleteResult, DisableProfileRequest,
    DisableProfileResponse, DisableResult, EnableProfileRequest, EnableProfileResponse,
    EnableResult, EuiccConfiguredAddressesRequest, EuiccConfiguredAddressesResponse, EuiccInfo1,
    EuiccInfo2, EuiccMemoryResetRequest, EuiccMemoryResetResponse, ExtCardResource, FinalResult,
    GetEuiccChallengeRequest, GetEuiccChallengeResponse, GetEuiccDataRequest, GetEuiccDataResponse,
    GetEuiccInfo1Request, GetEuiccInfo2Request, GetRatRequest, GetRatResponse,
    ListNotificationRequest, ListNotificationResponse, LoadCrlRequest, LoadCrlResponse,
    LoadCrlResponseOk, NotificationEvent, NotificationMetadata, NotificationSearchCriteria,
    NotificationSentRequest, NotificationSentResponse, PendingNotification,
    PrepareDownloadResponse, ProfileIdentifier, ProfileInfo, ProfileInfoListRequest,
    ProfileInfoListResponse, ProfileInstallationResult, ProfilePolicyAuthorisationRule,
    ProfileSearchCriteria, ResetOptions, ResetResult, RetrieveNotificationsListError,
    RetrieveNotificationsListRequest, RetrieveNotificationsListResponse,
    SetDefaultDpAddressRequest, SetDefaultDpAddressResponse, SetDefaultDpAddressResult,
    SetNicknameRequest, SetNicknameResponse, SetNicknameResult,
};

use super::codes::ResultCode;
use super::config::{Es10Config, SegmentSize, TerminalCapabilityMode};
use super::error::{Es10Command, Es10Error};
use super::{policy, redact};
use crate::transport::{ApduTransport, TransportError};

/// How often one command may be sent again (after TERMINAL CAPABILITY was sent on demand, or
/// after the transport lowered the segment size).
const MAX_RESENDS: usize = 4;

/// Longest profile nickname (SGP.22 §5.7.21: `UTF8String (SIZE(0..64))`).
pub const MAX_NICKNAME_LEN: usize = 64;

/// An ES10 response kept as the card sent it, next to its decoded form. The raw bytes are what
/// goes to the SM-DP+ (euiccInfo1, authenticateServerResponse, prepareDownloadResponse,
/// cancelSessionResponse, the ProfileInstallationResult): re-encoding the decoded value would
/// drop the elements of a newer card that this version skips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse<T> {
    /// The response TLV, byte for byte.
    pub raw: Vec<u8>,
    /// The decoded response.
    pub decoded: T,
}

/// EUICCInfo2 and its decoded extended card resource information (installed applications,
/// free memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EuiccInfo2Report {
    /// EUICCInfo2 as the card answered.
    pub info: EuiccInfo2,
    /// `extCardResource` decoded (ETSI TS 102 226 §8.2.1.7.2).
    pub resources: ExtCardResource,
}

/// One PendingNotification from RetrieveNotificationsList.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrievedNotification {
    /// The PendingNotification exactly as the card produced it: the body of ES9+
    /// handleNotification (base64 of these bytes).
    pub raw: Vec<u8>,
    /// Its metadata: sequence number, operation, address, ICCID.
    pub metadata: NotificationMetadata,
    /// The decoded notification.
    pub notification: PendingNotification,
}

/// How a Bound Profile Package load ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BppLoadOutcome {
    /// The ProfileInstallationResult (`BF37`), success or failure; to be sent to the SM-DP+ as
    /// a notification either way.
    pub result: RawResponse<ProfileInstallationResult>,
    /// STORE DATA sequences sent (SGP.22 §2.5.5).
    pub sequences_sent: usize,
    /// Sequences the whole BPP takes.
    pub sequences_total: usize,
    /// Whether the card answered before the last sequence (it failed early).
    pub answered_early: bool,
}

impl BppLoadOutcome {
    /// Whether the profile was installed.
    pub fn is_success(&self) -> bool {
        matches!(
            self.result
                .decoded
                .profile_installation_result_data
                .value()
                .final_result,
            FinalResult::Success(_)
        )
    }
}

/// The ISD-R selected on a logical channel.
#[derive(Debug)]
struct Session {
    channel: LogicalChannel,
    aid: Vec<u8>,
    select_response: Vec<u8>,
    /// `None` until TERMINAL CAPABILITY was sent in this session, then whether the card
    /// accepted it.
    terminal_capability: Option<bool>,
}

/// What one STORE DATA exchange produced.
struct Exchanged {
    response: Vec<u8>,
    answered_early: bool,
}

/// A failed exchange, and whether sending it again is harmless because the card cannot have
/// executed it.
struct Failure {
    error: Es10Error,
    not_executed: bool,
}

/// The LPA's ES10a/b/c client (SGP.22 §5.7) over an [`ApduTransport`].
///
/// One session is one logical channel to the ISD-R, opened by [`open`](Self::open) and kept
/// until [`close`](Self::close) (or drop): every ES10 command goes over that channel as
/// STORE DATA blocks ([`StoreDataExchange`]), with `61xx`/`6Cxx` handled. Typed calls encode
/// the request, decode the response and turn the card's result codes into
/// [`Es10Error::CardRefused`]; [`call`](Self::call) sends any request as raw DER.
///
/// ```no_run
/// use lpa::es10::{Es10Client, Es10Config};
/// # fn demo(transport: impl lpa::transport::ApduTransport) -> Result<(), lpa::es10::Es10Error> {
/// let mut client = Es10Client::new(transport, Es10Config::new());
/// client.open()?; // probes the ISD-R AIDs, keeps the first that selects
/// let eid = client.get_eid()?;
/// for profile in client.all_profiles()? {
///     println!("{:?} {:?}", profile.iccid, profile.profile_state);
/// }
/// client.close()?;
/// # let _ = eid;
/// # Ok(())
/// # }
/// ```
///
/// Logging (`log` crate): every APDU at trace level, every ES10 command at debug level, with
/// EIDs, ICCIDs, matching IDs and IMEIs masked (see [`redact`]) unless
/// [`Es10Config::log_sensitive`] is set.
pub struct Es10Client<T: ApduTransport> {
    transport: T,
    config: Es10Config,
    segment_size: SegmentSize,
    session: Option<Session>,
    remembered_aid: Option<Vec<u8>>,
    response_buf: Vec<u8>,
}

impl<T: ApduTransport> std::fmt::Debug for Es10Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es10Client")
            .field("channel", &self.channel())
            .field("isd_r_aid", &self.isd_r_aid().map(redact::hex))
            .field("segment_size", &self.segment_size.get())
            .finish_non_exhaustive()
    }
}

impl<T: ApduTransport> Es10Client<T> {
    /// A client over `transport`; nothing is sent until [`open`](Self::open).
    pub fn new(transport: T, config: Es10Config) -> Self {
        let segment_size = SegmentSize::unchecked(config.segment_size);
        Es10Client {
            transport,
            config,
            segment_size,
            session: None,
            remembered_aid: None,
            response_buf: Vec::new(),
        }
    }

    // ---------------------------------------------------------------------------- session

    /// Opens the session: a logical channel with the ISD-R selected. The AID selected in an
    /// earlier session is tried first, then [`Es10Config::isd_r_aids`] in order; the first
    /// that selects wins. TERMINAL CAPABILITY is sent as [`Es10Config::terminal_capability_mode`]
    /// says. Does nothing when a session is already open.
    ///
    /// Fails with [`Es10Error::NoIsdR`] when no AID selects, and with
    /// [`Es10Error::Transport`] at once when the link itself fails (I/O error or timeout).
    pub fn open(&mut self) -> Result<(), Es10Error> {
        if self.session.is_some() {
            return Ok(());
        }
        self.config.validate()?;
        let mut terminal_capability = None;
        if self.config.terminal_capability_mode == TerminalCapabilityMode::BeforeOpen {
            terminal_capability = Some(self.send_terminal_capability(LogicalChannel::BASIC)?);
        }
        let mut candidates: Vec<Vec<u8>> = self.remembered_aid.iter().cloned().collect();
        for aid in &self.config.isd_r_aids {
            if !candidates.contains(aid) {
                candidates.push(aid.clone());
            }
        }
        let mut tried = Vec::new();
        for aid in candidates {
            trace!("opening a logical channel to select {}", redact::hex(&aid));
            match self.transport.open_logical_channel(&aid) {
                Ok((channel, select_response)) => {
                    debug!(
                        "ISD-R {} selected on logical channel {channel}",
                        redact::hex(&aid)
                    );
                    trace!("SELECT response {}", redact::hex(&select_response));
                    self.remembered_aid = Some(aid.clone());
                    self.session = Some(Session {
                        channel,
                        aid,
                        select_response,
                        terminal_capability,
                    });
                    if self.config.terminal_capability_mode == TerminalCapabilityMode::AfterSelect {
                        match self.send_terminal_capability(channel) {
                            Ok(accepted) => {
                                if let Some(s) = self.session.as_mut() {
                                    s.terminal_capability = Some(accepted);
                                }
                            }
                            Err(e) => {
                                let _ = self.close();
                                return Err(e);
                            }
                        }
                    }
                    return Ok(());
                }
                Err(e @ (TransportError::Io(_) | TransportError::Timeout { .. })) => {
                    debug!("selecting ISD-R {} failed: {e}", redact::hex(&aid));
                    return Err(Es10Error::Transport(e));
                }
                Err(e) => {
                    debug!("ISD-R {} not selectable: {e}", redact::hex(&aid));
                    tried.push((aid, e));
                }
            }
        }
        Err(Es10Error::NoIsdR { tried })
    }

    /// Closes the session's logical channel. Does nothing when no session is open. The
    /// session ends even when closing fails (the channel may be gone already, e.g. after a card
    /// reset); the error is returned.
    pub fn close(&mut self) -> Result<(), Es10Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        debug!("closing logical channel {}", session.channel);
        self.transport
            .close_logical_channel(session.channel)
            .map_err(Es10Error::Transport)
    }

    /// Whether a session is open.
    pub fn is_open(&self) -> bool {
        self.session.is_some()
    }

    /// The session's logical channel.
    pub fn channel(&self) -> Option<LogicalChannel> {
        self.session.as_ref().map(|s| s.channel)
    }

    /// The ISD-R AID of the open session, or the one selected last (tried first by the next
    /// [`open`](Self::open)); worth persisting for the next start.
    pub fn isd_r_aid(&self) -> Option<&[u8]> {
        self.session
            .as_ref()
            .map(|s| s.aid.as_slice())
            .or(self.remembered_aid.as_deref())
    }

    /// The ISD-R's answer to SELECT (its FCI) in the open session.
    pub fn select_response(&self) -> Option<&[u8]> {
        self.session.as_ref().map(|s| s.select_response.as_slice())
    }

    /// Whether TERMINAL CAPABILITY was accepted by the card in this session.
    pub fn terminal_capability_sent(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| s.terminal_capability == Some(true))
    }

    /// The settings.
    pub fn config(&self) -> &Es10Config {
        &self.config
    }

    /// Turns clear-text logging of identifiers on or off.
    pub fn set_log_sensitive(&mut self, log_sensitive: bool) {
        self.config.log_sensitive = log_sensitive;
    }

    /// The STORE DATA segment size the next command uses.
    pub fn segment_size(&self) -> usize {
        self.segment_size.get()
    }

    /// Changes the STORE DATA segment size (1..=255) from the next command on.
    pub fn set_segment_size(&mut self, size: usize) -> Result<(), Es10Error> {
        self.segment_size.set(size)
    }

    /// A handle on the segment size that stays valid for the client's life, for a transport
    /// that learns a smaller limit while the session runs (an AT modem refusing long
    /// `AT+CSIM` lines). A transport that lowers it and fails the APDU with
    /// [`TransportError::Refused`] gets the command sent again in smaller blocks, when the
    /// card cannot have executed it yet (its last block was not answered).
    pub fn segment_size_handle(&self) -> SegmentSize {
        self.segment_size.clone()
    }

    /// Uses `handle` as the segment size from now on (its current value included), for a
    /// transport that was given the handle before the client existed: once the transport sits
    /// behind a `Box<dyn ApduTransport>`, [`segment_size_handle`](Self::segment_size_handle)
    /// can no longer reach it.
    pub fn use_segment_size_handle(&mut self, handle: SegmentSize) {
        self.segment_size = handle;
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, e.g. to change its settings. Commands sent through it directly do not
    /// go through the session (and must not disturb its channel).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Sends TERMINAL CAPABILITY on `channel`: `Ok(true)` when the card accepted it,
    /// `Ok(false)` when the card or the transport refused it (not every card knows it),
    /// `Err` when the link failed.
    fn send_terminal_capability(&mut self, channel: LogicalChannel) -> Result<bool, Es10Error> {
        let template = self.config.terminal_capability.template();
        let command = template.command(channel);
        let mut buf = [0u8; MAX_SHORT_COMMAND];
        // Like channel management, TERMINAL CAPABILITY is no ES10 command: its APDU-level
        // failures are the transport layer's.
        let n = command
            .encode(&mut buf)
            .map_err(|e| Es10Error::Transport(TransportError::Apdu(e)))?;
        let bytes = buf.get(..n).unwrap_or_default();
        trace!("APDU > {}", redact::hex(bytes));
        let answer = match self.transport.transmit(bytes) {
            Ok(answer) => answer,
            Err(TransportError::Refused(e)) => {
                debug!("TERMINAL CAPABILITY refused by the transport: {e}");
                return Ok(false);
            }
            Err(e) => return Err(Es10Error::Transport(e)),
        };
        trace!("APDU < {}", redact::hex(&answer));
        match ResponseApdu::parse(&answer) {
            Ok(r) if r.sw.is_success() => {
                debug!(
                    "TERMINAL CAPABILITY {} accepted",
                    redact::hex(template.as_bytes())
                );
                Ok(true)
            }
            Ok(r) => {
                debug!("TERMINAL CAPABILITY refused: {} ({})", r.sw, r.sw.meaning());
                Ok(false)
            }
            Err(e) => Err(Es10Error::Transport(TransportError::Apdu(e))),
        }
    }

    // --------------------------------------------------------------------------- exchanges

    /// Sends one ES10 request (a whole DER TLV: the request's tag names the function) and
    /// returns the card's response TLV, unchecked. The typed calls are built on this; use it
    /// for requests they do not cover. An empty answer comes back as an empty vector.
    pub fn call(&mut self, request_der: &[u8]) -> Result<Vec<u8>, Es10Error> {
        let command = Es10Command::from_request(request_der);
        self.run(command, request_der)
    }

    /// One ES10 command, logged.
    fn run(&mut self, command: Es10Command, request: &[u8]) -> Result<Vec<u8>, Es10Error> {
        debug!("ES10 > {command} ({} bytes)", request.len());
        match self.transceive(command, request) {
            Ok(x) => {
                debug!("ES10 < {command} ({} bytes)", x.response.len());
                Ok(x.response)
            }
            Err(e) => {
                debug!("ES10 {command} failed: {e}");
                Err(e)
            }
        }
    }

    /// One ES10 command, typed: the response decoded, and its raw bytes.
    fn typed<R: Decode>(
        &mut self,
        command: Es10Command,
        request: &impl Encode,
    ) -> Result<RawResponse<R>, Es10Error> {
        let raw = self.run(command, &request.to_der())?;
        let decoded = decode(command, &raw)?;
        Ok(RawResponse { raw, decoded })
    }

    /// One STORE DATA sequence with the resends that are safe: after TERMINAL CAPABILITY was
    /// sent on demand, and after the transport lowered the segment size.
    fn transceive(&mut self, command: Es10Command, request: &[u8]) -> Result<Exchanged, Es10Error> {
        let mut resends = 0;
        loop {
            let size = self.segment_size.get();
            let failure = match self.exchange_once(command, request, size) {
                Ok(x) => return Ok(x),
                Err(f) => f,
            };
            if resends >= MAX_RESENDS || !failure.not_executed {
                return Err(failure.error);
            }
            let wants_capability = matches!(
                failure.error,
                Es10Error::Apdu {
                    error: ApduError::Status {
                        sw: StatusWord(0x6985),
                        ins: INS_STORE_DATA,
                        block: 0,
                    },
                    ..
                }
            );
            let may_resend = match &failure.error {
                _ if wants_capability
                    && self.config.terminal_capability_mode == TerminalCapabilityMode::OnDemand
                    && self
                        .session
                        .as_ref()
                        .is_some_and(|s| s.terminal_capability.is_none()) =>
                {
                    let Some(channel) = self.channel() else {
                        return Err(failure.error);
                    };
                    debug!("{command} refused with 6985: sending TERMINAL CAPABILITY");
                    // Sent once per session, whatever the answer.
                    let accepted = self.send_terminal_capability(channel)?;
                    if let Some(s) = self.session.as_mut() {
                        s.terminal_capability = Some(accepted);
                    }
                    accepted
                }
                Es10Error::Transport(TransportError::Refused(_))
                    if self.segment_size.get() < size =>
                {
                    debug!(
                        "{command}: segment size lowered from {size} to {}: sending again",
                        self.segment_size.get()
                    );
                    true
                }
                _ => false,
            };
            if !may_resend {
                return Err(failure.error);
            }
            resends += 1;
        }
    }

    /// One STORE DATA sequence at `segment_size` bytes a block.
    fn exchange_once(
        &mut self,
        command: Es10Command,
        request: &[u8],
        segment_size: usize,
    ) -> Result<Exchanged, Failure> {
        let fail = |error: Es10Error, not_executed: bool| Failure {
            error,
            not_executed,
        };
        let channel = self
            .session
            .as_ref()
            .map(|s| s.channel)
            .ok_or(fail(Es10Error::NotOpen, false))?;
        let log_sensitive = self.config.log_sensitive;
        let tracing = log::log_enabled!(log::Level::Trace);
        let request_ranges = if tracing && !log_sensitive {
            redact::sensitive_ranges(request)
        } else {
            Vec::new()
        };
        if self.response_buf.len() != self.config.max_response_len {
            self.response_buf.resize(self.config.max_response_len, 0);
        }
        let config = ExchangeConfig::new().with_segment_size(segment_size);
        let mut exchange = StoreDataExchange::new(channel, request, config, &mut self.response_buf)
            .map_err(|e| fail(apdu_error(command, e), true))?;
        let mut apdu = [0u8; MAX_SHORT_COMMAND];
        // Once the last block has been accepted, the card has executed the command.
        let mut last_block_answered = false;
        loop {
            let bytes = match exchange.poll_transmit(&mut apdu) {
                Ok(Transmit::Command(bytes)) => bytes,
                Ok(Transmit::Done { len }) => {
                    let response = exchange.response().get(..len).unwrap_or_default().to_vec();
                    return Ok(Exchanged {
                        response,
                        answered_early: exchange.answered_early(),
                    });
                }
                Err(e) => return Err(fail(apdu_error(command, e), !last_block_answered)),
            };
            if tracing {
                trace_command(bytes, segment_size, &request_ranges, log_sensitive);
            }
            let is_last_block = bytes.get(1) == Some(&INS_STORE_DATA)
                && bytes.get(2) == Some(&STORE_DATA_P1_LAST_BLOCK);
            let answer = match self.transport.transmit(bytes) {
                Ok(answer) => answer,
                Err(e) => {
                    // A refused APDU never reached the card; any other failure may have.
                    let not_executed = !last_block_answered
                        && (!is_last_block || matches!(e, TransportError::Refused(_)));
                    return Err(fail(Es10Error::Transport(e), not_executed));
                }
            };
            let before = exchange.response().len();
            let handled = exchange.handle_response(&answer);
            if tracing {
                trace_answer(&answer, before, exchange.response(), log_sensitive);
            }
            if let Err(e) = handled {
                // A status word refusing a block (a checking error, ISO/IEC 7816-4 §5.6): the
                // card did not execute the command, unless the refusal came after its last
                // block had been accepted (a failing GET RESPONSE).
                return Err(fail(apdu_error(command, e), !last_block_answered));
            }
            last_block_answered |= is_last_block;
        }
    }

    // ------------------------------------------------------------------ ES10a / ES10c info

    /// ES10c.GetEID (SGP.22 §5.7.20): the EID.
    pub fn get_eid(&mut self) -> Result<Eid, Es10Error> {
        let r: RawResponse<GetEuiccDataResponse> =
            self.typed(Es10Command::GetEid, &GetEuiccDataRequest::eid())?;
        debug!(
            "EID {}",
            redact::id(r.decoded.eid_value, self.config.log_sensitive)
        );
        Ok(r.decoded.eid_value)
    }

    /// ES10b.GetEUICCInfo for EUICCInfo1 (SGP.22 §5.7.8), raw (for ES9+ initiateAuthentication)
    /// and decoded.
    pub fn euicc_info1(&mut self) -> Result<RawResponse<EuiccInfo1>, Es10Error> {
        self.typed(Es10Command::GetEuiccInfo1, &GetEuiccInfo1Request {})
    }

    /// ES10b.GetEUICCInfo for EUICCInfo2 (SGP.22 §5.7.8), with the extended card resource
    /// information decoded.
    pub fn euicc_info2(&mut self) -> Result<EuiccInfo2Report, Es10Error> {
        let r: RawResponse<EuiccInfo2> =
            self.typed(Es10Command::GetEuiccInfo2, &GetEuiccInfo2Request {})?;
        let resources = r.decoded.ext_card_resource_info();
        debug!(
            "EUICCInfo2: SGP.22 {}, firmware {}, {resources:?}",
            r.decoded.svn, r.decoded.euicc_firmware_ver
        );
        Ok(EuiccInfo2Report {
            info: r.decoded,
            resources,
        })
    }

    /// ES10b.GetEUICCChallenge (SGP.22 §5.7.7): 16 random bytes, which start a new RSP session
    /// on the card.
    pub fn euicc_challenge(&mut self) -> Result<[u8; 16], Es10Error> {
        let r: RawResponse<GetEuiccChallengeResponse> =
            self.typed(Es10Command::GetEuiccChallenge, &GetEuiccChallengeRequest {})?;
        r.decoded
            .euicc_challenge
            .as_slice()
            .try_into()
            .map_err(|_| Es10Error::Decode {
                command: Es10Command::GetEuiccChallenge,
                error: DecodeError::InvalidValue {
                    ty: "GetEuiccChallengeResponse",
                    offset: 0,
                    reason: "euiccChallenge must be 16 octets",
                },
            })
    }

    /// ES10a.GetEuiccConfiguredAddresses (SGP.22 §5.7.3): default SM-DP+ and root SM-DS.
    pub fn configured_addresses(&mut self) -> Result<EuiccConfiguredAddressesResponse, Es10Error> {
        let r: RawResponse<EuiccConfiguredAddressesResponse> = self.typed(
            Es10Command::GetEuiccConfiguredAddresses,
            &EuiccConfiguredAddressesRequest {},
        )?;
        Ok(r.decoded)
    }

    /// ES10a.SetDefaultDpAddress (SGP.22 §5.7.4); an empty address removes it.
    pub fn set_default_dp_address(&mut self, address: &str) -> Result<(), Es10Error> {
        let command = Es10Command::SetDefaultDpAddress;
        let r: RawResponse<SetDefaultDpAddressResponse> = self.typed(
            command,
            &SetDefaultDpAddressRequest {
                default_dp_address: address.to_owned(),
            },
        )?;
        match r.decoded.set_default_dp_address_result {
            SetDefaultDpAddressResult::Ok => Ok(()),
            other => Err(other.refusal(command)),
        }
    }

    /// ES10b.GetRAT (SGP.22 §5.7.22): the Rules Authorisation Table, for
    /// [`policy::check_install`].
    pub fn rat(&mut self) -> Result<Vec<ProfilePolicyAuthorisationRule>, Es10Error> {
        let r: RawResponse<GetRatResponse> = self.typed(Es10Command::GetRat, &GetRatRequest {})?;
        Ok(r.decoded.rat)
    }

    // ------------------------------------------------------------------------- profiles

    /// ES10c.GetProfilesInfo (SGP.22 §5.7.15): the profiles matching `search` (all when
    /// `None`), with the elements `tag_list` names (a concatenation of ProfileInfo tags, e.g.
    /// `5A 9F70 99`; all elements when `None`).
    pub fn profiles(
        &mut self,
        search: Option<ProfileSearchCriteria>,
        tag_list: Option<&[u8]>,
    ) -> Result<Vec<ProfileInfo>, Es10Error> {
        let command = Es10Command::GetProfilesInfo;
        if let Some(ProfileSearchCriteria::Iccid(iccid)) = &search {
            debug!(
                "{command} for ICCID {}",
                redact::id(iccid, self.config.log_sensitive)
            );
        }
        let r: RawResponse<ProfileInfoListResponse> = self.typed(
            command,
            &ProfileInfoListRequest {
                search_criteria: search,
                tag_list: tag_list.map(<[u8]>::to_vec),
            },
        )?;
        match r.decoded {
            ProfileInfoListResponse::Ok(list) => {
                for p in &list {
                    debug!(
                        "profile {} {:?} {:?}",
                        p.iccid
                            .map(|i| redact::id(i, self.config.log_sensitive).to_string())
                            .unwrap_or_default(),
                        p.profile_state,
                        p.profile_class
                    );
                }
                Ok(list)
            }
            ProfileInfoListResponse::Error(e) => Err(e.refusal(command)),
        }
    }

    /// Every profile with every element (icons, class, policy rules...).
    pub fn all_profiles(&mut self) -> Result<Vec<ProfileInfo>, Es10Error> {
        self.profiles(None, None)
    }

    /// The profile with this ICCID, if installed.
    pub fn profile(&mut self, iccid: &Iccid) -> Result<Option<ProfileInfo>, Es10Error> {
        let mut list = self.profiles(Some(ProfileSearchCriteria::Iccid(*iccid)), None)?;
        Ok(list.pop())
    }

    fn describe(&self, id: &ProfileIdentifier) -> String {
        match id {
            ProfileIdentifier::Iccid(iccid) => {
                format!("ICCID {}", redact::id(iccid, self.config.log_sensitive))
            }
            ProfileIdentifier::IsdpAid(aid) => format!("ISD-P {}", redact::hex(aid)),
        }
    }

    /// ES10c.EnableProfile (SGP.22 §5.7.16). `refresh`: the card issues a REFRESH proactive
    /// command so the device picks up the new profile. The card refuses with
    /// [`Es10Error::CardRefused`] (e.g. profileNotInDisabledState, disallowedByPolicy).
    pub fn enable(&mut self, id: &ProfileIdentifier, refresh: bool) -> Result<(), Es10Error> {
        let command = Es10Command::EnableProfile;
        debug!("{command} {} refresh={refresh}", self.describe(id));
        let r: RawResponse<EnableProfileResponse> = self.typed(
            command,
            &EnableProfileRequest {
                profile_identifier: id.clone(),
                refresh_flag: refresh,
            },
        )?;
        match r.decoded.enable_result {
            EnableResult::Ok => Ok(()),
            other => Err(other.refusal(command)),
        }
    }

    /// ES10c.DisableProfile (SGP.22 §5.7.17).
    pub fn disable(&mut self, id: &ProfileIdentifier, refresh: bool) -> Result<(), Es10Error> {
        let command = Es10Command::DisableProfile;
        debug!("{command} {} refresh={refresh}", self.describe(id));
        let r: RawResponse<DisableProfileResponse> = self.typed(
            command,
            &DisableProfileRequest {
                profile_identifier: id.clone(),
                refresh_flag: refresh,
            },
        )?;
        match r.decoded.disable_result {
            DisableResult::Ok => Ok(()),
            other => Err(other.refusal(command)),
        }
    }

    /// ES10c.DeleteProfile (SGP.22 §5.7.18); the profile must be disabled.
    pub fn delete(&mut self, id: &ProfileIdentifier) -> Result<(), Es10Error> {
        let command = Es10Command::DeleteProfile;
        debug!("{command} {}", self.describe(id));
        let request = match id {
            ProfileIdentifier::Iccid(iccid) => DeleteProfileRequest::Iccid(*iccid),
            ProfileIdentifier::IsdpAid(aid) => DeleteProfileRequest::IsdpAid(aid.clone()),
        };
        let r: RawResponse<DeleteProfileResponse> = self.typed(command, &request)?;
        match r.decoded.delete_result {
            DeleteResult::Ok => Ok(()),
            other => Err(other.refusal(command)),
        }
    }

    /// [`enable`](Self::enable) after [`policy::check_enable`] against `profiles` (from
    /// GetProfilesInfo, with states and policy rules): when the enabled profile carries PPR1,
    /// fails with [`Es10Error::PolicyForbids`] and sends nothing.
    pub fn enable_checked(
        &mut self,
        profiles: &[ProfileInfo],
        id: &ProfileIdentifier,
        refresh: bool,
    ) -> Result<(), Es10Error> {
        policy::check_enable(profiles, id)?;
        self.enable(id, refresh)
    }

    /// [`disable`](Self::disable) after [`policy::check_disable`]: when the profile `id` names
    /// in `profiles` carries PPR1, fails with [`Es10Error::PolicyForbids`] and sends nothing.
    /// A profile missing from `profiles` is left to the card to judge.
    pub fn disable_checked(
        &mut self,
        profiles: &[ProfileInfo],
        id: &ProfileIdentifier,
        refresh: bool,
    ) -> Result<(), Es10Error> {
        if let Some(p) = profiles.iter().find(|p| policy::is_profile(p, id)) {
            policy::check_disable(p)?;
        }
        self.disable(id, refresh)
    }

    /// [`delete`](Self::delete) after [`policy::check_delete`]: when the profile `id` names in
    /// `profiles` carries PPR2, fails with [`Es10Error::PolicyForbids`] and sends nothing.
    pub fn delete_checked(
        &mut self,
        profiles: &[ProfileInfo],
        id: &ProfileIdentifier,
    ) -> Result<(), Es10Error> {
        if let Some(p) = profiles.iter().find(|p| policy::is_profile(p, id)) {
            policy::check_delete(p)?;
        }
        self.delete(id)
    }

    /// ES10c.SetNickname (SGP.22 §5.7.21): at most 64 bytes of UTF-8 (checked before sending).
    pub fn set_nickname(&mut self, iccid: &Iccid, nickname: &str) -> Result<(), Es10Error> {
        let command = Es10Command::SetNickname;
        if nickname.len() > MAX_NICKNAME_LEN {
            return Err(Es10Error::invalid(format!(
                "a nickname of {} bytes is longer than 64",
                nickname.len()
            )));
        }
        debug!(
            "{command} ICCID {}",
            redact::id(iccid, self.config.log_sensitive)
        );
        let r: RawResponse<SetNicknameResponse> = self.typed(
            command,
            &SetNicknameRequest {
                iccid: *iccid,
                profile_nickname: nickname.to_owned(),
            },
        )?;
        match r.decoded.set_nickname_result {
            SetNicknameResult::Ok => Ok(()),
            other => Err(other.refusal(command)),
        }
    }

    /// ES10c.eUICCMemoryReset (SGP.22 §5.7.19): deletes what `options` name, whatever the
    /// profiles' policy rules. `Ok(false)` when there was nothing to delete.
    pub fn memory_reset(&mut self, options: ResetOptions) -> Result<bool, Es10Error> {
        let command = Es10Command::EuiccMemoryReset;
        let r: RawResponse<EuiccMemoryResetResponse> = self.typed(
            command,
            &EuiccMemoryResetRequest {
                reset_options: options,
            },
        )?;
        match r.decoded.reset_result {
            ResetResult::Ok => Ok(true),
            ResetResult::NothingToDelete => Ok(false),
            other => Err(other.refusal(command)),
        }
    }

    // -------------------------------------------------------------------- notifications

    /// ES10b.ListNotification (SGP.22 §5.7.9): the pending notifications' metadata, all or
    /// those of one operation.
    pub fn list_notifications(
        &mut self,
        filter: Option<NotificationEvent>,
    ) -> Result<Vec<NotificationMetadata>, Es10Error> {
        let command = Es10Command::ListNotification;
        let r: RawResponse<ListNotificationResponse> = self.typed(
            command,
            &ListNotificationRequest {
                profile_management_operation: filter,
            },
        )?;
        match r.decoded {
            ListNotificationResponse::Ok(list) => {
                for m in &list {
                    debug!(
                        "notification {} {} for {}",
                        m.seq_number,
                        m.profile_management_operation,
                        m.iccid
                            .map(|i| redact::id(i, self.config.log_sensitive).to_string())
                            .unwrap_or_default()
                    );
                }
                Ok(list)
            }
            ListNotificationResponse::Error(e) => Err(e.refusal(command)),
        }
    }

    /// ES10b.RetrieveNotificationsList (SGP.22 §5.7.10): the signed notifications, all or
    /// those `search` selects (one sequence number, or one operation). A search that matches
    /// nothing (noResultAvailable) gives an empty list.
    pub fn retrieve_notifications(
        &mut self,
        search: Option<NotificationSearchCriteria>,
    ) -> Result<Vec<RetrievedNotification>, Es10Error> {
        let command = Es10Command::RetrieveNotificationsList;
        let r: RawResponse<RetrieveNotificationsListResponse> = self.typed(
            command,
            &RetrieveNotificationsListRequest {
                search_criteria: search,
            },
        )?;
        match r.decoded {
            RetrieveNotificationsListResponse::Ok(list) => Ok(list
                .into_iter()
                .map(|notification| RetrievedNotification {
                    raw: notification.to_der(),
                    metadata: notification.metadata().clone(),
                    notification,
                })
                .collect()),
            RetrieveNotificationsListResponse::Error(
                RetrieveNotificationsListError::NoResultAvailable,
            ) => Ok(Vec::new()),
            RetrieveNotificationsListResponse::Error(e) => Err(e.refusal(command)),
        }
    }

    /// The notification with sequence number `seq`, if still pending.
    pub fn retrieve_notification(
        &mut self,
        seq: u32,
    ) -> Result<Option<RetrievedNotification>, Es10Error> {
        let mut list =
            self.retrieve_notifications(Some(NotificationSearchCriteria::SeqNumber(seq)))?;
        Ok(list.pop())
    }

    /// ES10b.RemoveNotificationFromList (SGP.22 §5.7.11), once the server accepted the
    /// notification. `Ok(false)` when the card had no such notification (nothingToDelete).
    pub fn remove_notification(&mut self, seq: u32) -> Result<bool, Es10Error> {
        let command = Es10Command::RemoveNotificationFromList;
        let r: RawResponse<NotificationSentResponse> =
            self.typed(command, &NotificationSentRequest { seq_number: seq })?;
        match r.decoded.delete_notification_status {
            DeleteNotificationStatus::Ok => Ok(true),
            DeleteNotificationStatus::NothingToDelete => Ok(false),
            other => Err(other.refusal(command)),
        }
    }

    // ------------------------------------------------------------------------- download

    /// ES10b.AuthenticateServer (SGP.22 §5.7.13): the request as the download procedure built
    /// it, the response raw (for ES9+ authenticateClient, which carries an error response too)
    /// and decoded.
    pub fn authenticate_server(
        &mut self,
        request_der: &[u8],
    ) -> Result<RawResponse<AuthenticateServerResponse>, Es10Error> {
        let command = Es10Command::AuthenticateServer;
        expect_request(command, request_der)?;
        if let Ok(request) = AuthenticateServerRequest::from_der(request_der) {
            let CtxParams1::CommonAuthentication(ctx) = &request.ctx_params1;
            debug!(
                "{command} matchingId {}",
                ctx.matching_id
                    .as_deref()
                    .map(|m| redact::secret(m, self.config.log_sensitive).to_string())
                    .unwrap_or_else(|| "absent".to_owned())
            );
        }
        let raw = self.run(command, request_der)?;
        let decoded = decode(command, &raw)?;
        Ok(RawResponse { raw, decoded })
    }

    /// ES10b.PrepareDownload (SGP.22 §5.7.5): the request as built by the download procedure,
    /// the response raw (for ES9+ getBoundProfilePackage) and decoded.
    pub fn prepare_download(
        &mut self,
        request_der: &[u8],
    ) -> Result<RawResponse<PrepareDownloadResponse>, Es10Error> {
        let command = Es10Command::PrepareDownload;
        expect_request(command, request_der)?;
        let raw = self.run(command, request_der)?;
        let decoded = decode(command, &raw)?;
        Ok(RawResponse { raw, decoded })
    }

    /// ES10b.CancelSession (SGP.22 §5.7.14): ends the RSP session `transaction_id` on the card.
    /// The response, raw and decoded, goes to ES9+ cancelSession as it is, the signed OK and
    /// the error alternative alike.
    pub fn cancel_session(
        &mut self,
        transaction_id: &[u8],
        reason: CancelSessionReason,
    ) -> Result<RawResponse<CancelSessionResponse>, Es10Error> {
        debug!(
            "{} transaction {} reason {reason:?}",
            Es10Command::CancelSession,
            redact::hex(transaction_id)
        );
        self.typed(
            Es10Command::CancelSession,
            &CancelSessionRequest {
                transaction_id: transaction_id.to_vec(),
                reason,
            },
        )
    }

    /// ES10b.LoadBoundProfilePackage (SGP.22 §5.7.6, §2.5.5): sends the BPP as its STORE DATA
    /// sequences ([`BppCommands`]), byte for byte as the SM-DP+ made it, and stops at the first
    /// sequence the card answers with data: the ProfileInstallationResult, success or failure.
    pub fn load_bpp(&mut self, bpp: &[u8]) -> Result<BppLoadOutcome, Es10Error> {
        let command = Es10Command::LoadBoundProfilePackage;
        let commands = BppCommands::new(bpp).map_err(Es10Error::InvalidBpp)?;
        let total = commands.command_count();
        debug!("ES10 > {command}: {total} sequences, {} bytes", bpp.len());
        let mut sent = 0;
        for piece in commands {
            sent += 1;
            trace!(
                "{command} sequence {sent}/{total}: {} ({} bytes)",
                kind_name(piece.kind),
                piece.bytes.len()
            );
            let x = match self.transceive(command, piece.bytes) {
                Ok(x) => x,
                Err(e) => {
                    debug!("ES10 {command} failed at sequence {sent}/{total}: {e}");
                    return Err(e);
                }
            };
            if x.response.is_empty() {
                continue;
            }
            let decoded: ProfileInstallationResult = decode(command, &x.response)?;
            let answered_early = x.answered_early || sent < total;
            match &decoded
                .profile_installation_result_data
                .value()
                .final_result
            {
                FinalResult::Success(_) => debug!("ES10 < {command}: installed"),
                FinalResult::Error(e) => debug!(
                    "ES10 < {command}: failed at {:?}: {:?} (sequence {sent}/{total})",
                    e.bpp_command_id, e.error_reason
                ),
            }
            return Ok(BppLoadOutcome {
                result: RawResponse {
                    raw: x.response,
                    decoded,
                },
                sequences_sent: sent,
                sequences_total: total,
                answered_early,
            });
        }
        debug!("ES10 {command}: no ProfileInstallationResult after {sent} sequences");
        Err(Es10Error::MissingResponse { command })
    }

    /// ES10b.LoadCRL (SGP.22 §5.7.12): `crl` is an X.509 CertificateList (DER). The answer lists
    /// the missing partial CRL numbers, if any.
    pub fn load_crl(&mut self, crl: &[u8]) -> Result<LoadCrlResponseOk, Es10Error> {
        let command = Es10Command::LoadCrl;
        let crl = CertificateList::from_der(crl.to_vec())
            .map_err(|e| Es10Error::invalid(format!("not a CertificateList: {e}")))?;
        let r: RawResponse<LoadCrlResponse> = self.typed(command, &LoadCrlRequest { crl })?;
        match r.decoded {
            LoadCrlResponse::Ok(ok) => Ok(ok),
            LoadCrlResponse::Error(e) => Err(e.refusal(command)),
        }
    }
}

impl<T: ApduTransport> Drop for Es10Client<T> {
    /// Closes the channel when a session is still open; a failure is only logged.
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            debug!("closing the ES10 session on drop failed: {e}");
        }
    }
}

fn kind_name(kind: BppCommandKind) -> &'static str {
    match kind {
        BppCommandKind::InitialiseSecureChannel => "InitialiseSecureChannel",
        BppCommandKind::ConfigureIsdp => "ConfigureISDP",
        BppCommandKind::StoreMetadata => "StoreMetadata",
        BppCommandKind::ReplaceSessionKeys => "ReplaceSessionKeys",
        BppCommandKind::LoadProfileElements => "LoadProfileElements",
    }
}

/// Decodes a response, naming the command in the error.
fn decode<R: Decode>(command: Es10Command, raw: &[u8]) -> Result<R, Es10Error> {
    if raw.is_empty() {
        return Err(Es10Error::MissingResponse { command });
    }
    R::from_der(raw).map_err(|error| Es10Error::Decode { command, error })
}

/// Checks that a raw request is of the command it is sent as.
fn expect_request(command: Es10Command, request: &[u8]) -> Result<(), Es10Error> {
    let found = Es10Command::from_request(request);
    if found == command {
        Ok(())
    } else {
        Err(Es10Error::invalid(format!(
            "{command} expects a request with tag {:X}, got {found}",
            command.tag()
        )))
    }
}

/// An APDU-layer error: the caller's fault for a request the APDU layer cannot carry, the
/// card's otherwise.
fn apdu_error(command: Es10Command, error: ApduError) -> Es10Error {
    match error {
        ApduError::EmptyRequest
        | ApduError::TooManyBlocks { .. }
        | ApduError::InvalidSegmentSize { .. } => Es10Error::invalid(format!("{command}: {error}")),
        error => Es10Error::Apdu { command, error },
    }
}

/// Logs a command APDU at trace level, STORE DATA data masked where the request holds
/// identifiers.
fn trace_command(
    bytes: &[u8],
    segment_size: usize,
    ranges: &[core::ops::Range<usize>],
    clear: bool,
) {
    let Ok(apdu) = CommandApdu::parse(bytes) else {
        trace!("APDU > {}", redact::hex(bytes));
        return;
    };
    let header = redact::hex(bytes.get(..4).unwrap_or_default());
    let data = if apdu.data.is_empty() {
        String::new()
    } else if clear {
        format!(" {:02X} {}", apdu.data.len(), redact::hex(apdu.data))
    } else {
        let offset = if apdu.ins == INS_STORE_DATA {
            usize::from(apdu.p2) * segment_size
        } else {
            0
        };
        let masked = if apdu.ins == INS_STORE_DATA {
            redact::masked_hex(apdu.data, offset, ranges)
        } else {
            redact::hex(apdu.data)
        };
        format!(" {:02X} {masked}", apdu.data.len())
    };
    let le = apdu
        .le
        .map(|le| format!(" {:02X}", le & 0xFF))
        .unwrap_or_default();
    trace!("APDU > {header}{data}{le}");
}

/// Logs an answer at trace level. Its data was appended to the response at `before` (when the
/// response grew by its length); identifiers are found in the response so far.
fn trace_answer(answer: &[u8], before: usize, response: &[u8], clear: bool) {
    let Some((data, sw)) = answer.split_last_chunk::<2>() else {
        trace!("APDU < {}", redact::hex(answer));
        return;
    };
    let sw = redact::hex(sw);
    if data.is_empty() {
        trace!("APDU < {sw}");
        return;
    }
    let shown = if clear {
        redact::hex(data)
    } else if response.len() == before + data.len() {
        redact::masked_hex(data, before, &redact::sensitive_ranges(response))
    } else {
        // Data the exchange did not keep: nothing tells what it is.
        "**".repeat(data.len())
    };
    trace!("APDU < {shown} {sw}");
}
