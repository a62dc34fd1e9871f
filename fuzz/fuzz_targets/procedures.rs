//! The sans-IO procedures (`lpa_core::procedures`): `Download` (activation code, activation
//! code text, default SM-DP+, SM-DS event), `Discovery` (given SM-DS, root SM-DS),
//! `NotificationDelivery` and `Recovery`, each driven by a fuzzed card, server and user.
//!
//! The harness is the driver of `procedures/mod.rs`: it polls, and answers each step with an input
//! the fuzz data picks. For `Step::Card`: a plausible answer built with `lpa_core::messages`
//! from the machine's own request (its transactionId, challenge, sequence number...) with fuzzed
//! fields, arbitrary bytes, no data (`9000`), or a `CardFailure`. For `Step::Server`: a
//! plausible JSON answer built with `lpa_core::es9` types, a plausible refusal (`Failed`,
//! `Expired`), an HTTP error page, an arbitrary status and body, or a `ServerFailure`. For
//! `Step::User`: Accept, Decline(reason) or a confirmation code. Sometimes an input of the wrong
//! kind comes first. When the data runs out every choice reads as zero, and zero always means
//! the well-formed answer, so a short input runs a whole session (the empty input downloads a
//! profile from an activation code).
//!
//! Input layout (every byte read past the end is 0):
//! - byte 0: the machine (`% 8`, see `start`); byte 1: the chain mask (bit *i* set: after the
//!   *i*-th machine, run its natural follow-up: the install notification of a download, the
//!   `Recovery` of a session left open, the download of a discovered event); byte 2: the
//!   DeviceInfo; then the machine's parameters (addresses, matching ID, filter, record);
//! - per step: a byte that, when `% 4 == 3`, first feeds an input of a wrong kind (the next byte
//!   picks which); then the choice byte (`card_input`, `server_input`, `user_input`) and what
//!   the chosen builder reads.
//!
//! Invariants checked on every step:
//! - no panic; `poll()` is pure (two polls give the same step, `session_record()` likewise);
//! - the step agrees with `awaiting()`, and `Awaiting::accepts` agrees with a model of which
//!   input kinds each step takes; the right kind is always accepted;
//! - an input of a wrong kind is refused with `ApiMisuse { input, awaiting }` and leaves the
//!   machine equal to what it was (`PartialEq` on the whole machine, and its `poll()`);
//! - the machine reaches `Step::Done` within a bound computed from what it was fed: Download
//!   13 + the BPP's command count, Discovery 6, NotificationDelivery 1 + 3 per listed
//!   notification, Recovery 2 (one per state of the documented state tables, a loop per BPP
//!   command or notification); once done it stays done and refuses every input;
//! - `session_record()`: for a download `None` until initiateAuthentication succeeded, then
//!   `Some` with the server's transactionId and the address used, at the stage the awaited
//!   input implies (`Authenticating`/`Authenticated` while a card refusal is forwarded to the
//!   SM-DP+, `CardCancelled` with the card's exact answer once the card signed the
//!   cancellation); at `Done` `Some` exactly when the error says the session was left open
//!   (`ProcedureError::session_left_open`, the documented "keep the record and run Recovery
//!   later"); for Recovery the same, and `Ok` ends are complete; always `None` for discovery
//!   and notifications;
//! - every request is consistent with what the peers said: ES10 requests are one TLV of the
//!   command's tag, BPP sequences are exactly `BppCommands` of the package the server sent,
//!   JSON bodies decode and echo the card's answers, the transactionId and the address;
//!   AuthenticateServer carries serverSigned1 as received and the matching ID; PrepareDownload
//!   carries hashCc exactly when the SM-DP+ asked for it; the consent question shows the
//!   metadata sent; CancelSession carries the reason the user gave; notifications are handled in
//!   the card's order, filtered as asked, removed from the card only after their server
//!   accepted them, and the report lists each once, delivered exactly when its server accepted
//!   it, with `card_lost()` set exactly when the card was lost mid-run (every notification from
//!   the one in progress on carrying that fault).
//!
//! `PROCEDURES_TRACE=1` prints every step and input to stderr (used to build the seeds).
#![no_main]

use std::fmt::Debug;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lpa_core::activation::{ActivationCode, hash_cc};
use lpa_core::apdu::{ApduError, StatusWord};
use lpa_core::bpp::{BppCommandKind, BppCommands};
use lpa_core::der::{Certificate, Decode, Encode, ObjectIdentifier, Signed};
use lpa_core::es9::{
    self, EmptyBody, Es9Function, Es9Response, Es11Function, EventEntry, FunctionExecutionStatus,
    FunctionStatus, ResponseHeader, StatusCodeData, TransactionId,
};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    AuthenticateClientResponseEs9, AuthenticateErrorCode, AuthenticateResponseError,
    AuthenticateResponseOk, AuthenticateServerRequest, AuthenticateServerResponse,
    BoundProfilePackage, BppCommandId, CancelSessionError, CancelSessionReason,
    CancelSessionRequest, CancelSessionResponse, CancelSessionResponseOk, ControlRefTemplate,
    CtxParams1, DeleteNotificationStatus, DeviceCapabilities, DeviceInfo, DownloadErrorCode,
    ErrorReason, ErrorResult, EuiccCancelSessionSigned, EuiccConfiguredAddressesResponse,
    EuiccInfo1, EuiccSigned1, EuiccSigned2, FinalResult, GetEuiccChallengeResponse, IconType,
    InitialiseSecureChannelRequest, InitiateAuthenticationOkEs9, ListNotificationError,
    ListNotificationRequest, ListNotificationResponse, NotificationConfigurationInformation,
    NotificationEvent, NotificationEvents, NotificationMetadata, NotificationSearchCriteria,
    NotificationSentResponse, OperatorId, OtherSignedNotification, PendingNotification, PprIds,
    PrepareDownloadRequest, PrepareDownloadResponse, PrepareDownloadResponseError,
    PrepareDownloadResponseOk, ProfileClass, ProfileInstallationResult,
    ProfileInstallationResultData, RemoteOpId, RetrieveNotificationsListError,
    RetrieveNotificationsListRequest, RetrieveNotificationsListResponse, Segment86, Segment87,
    Segment88, ServerSigned1, SmdpSigned2, StoreMetadataRequest, SuccessResult, Version,
};
use lpa_core::procedures::{
    Answer, Awaiting, CardFailure, Discovery, Download, DownloadSource, Es10Command, Fault, Input,
    InputKind, NotificationDelivery, NotificationFilter, Procedure, ProcedureError, Question,
    QuestionKind, Recovery, ServerFailure, ServerFunction, ServerRequest, SessionRecord,
    SessionStage, Step,
};
use lpa_core::tlv::{Tag, Tlv};

fuzz_target!(|data: &[u8]| run(data));

/// Machines run one after the other at most (a chain: discovery, download, notifications...).
const MAX_CHAIN: u32 = 4;

fn run(data: &[u8]) {
    let mut d = Data::new(data);
    let selector = d.byte();
    let chain_mask = d.byte();
    let device_info = device_info(&mut d);
    let mut next = Some(start(selector, &mut d, &device_info));
    let mut round = 0;
    while let Some(machine) = next.take() {
        let chain = round + 1 < MAX_CHAIN && chain_mask & (1 << round) != 0;
        next = match machine {
            Machine::Download(m, run) => {
                let (result, record) = drive(m, run, &mut d);
                match (result, record) {
                    (Ok(installation), _) if chain => Some(notifications_for(&installation)),
                    (Err(_), Some(record)) if chain => Some(recovery(record, &mut d, true)),
                    _ => None,
                }
            }
            Machine::Discovery(m, run) => match drive(m, run, &mut d).0 {
                Ok(events) if chain && !events.is_empty() => {
                    let event = &events[d.below(events.len())];
                    trace(|| format!("chain: download of event {event:?}"));
                    Some(download(
                        Download::from_event(event, device_info.clone()),
                        Some(event.rsp_server_address.trim().to_owned()),
                        Some(Some(event.event_id.clone())),
                        false,
                    ))
                }
                _ => None,
            },
            Machine::Notifications(m, run) => {
                let _ = drive(m, run, &mut d);
                None
            }
            Machine::Recovery(m, run) => {
                let strict = run.strict_cancel;
                match drive(m, run, &mut d) {
                    (Err(_), Some(record)) if chain => Some(recovery(record, &mut d, strict)),
                    _ => None,
                }
            }
        };
        round += 1;
    }
}

// ------------------------------------------------------------------------------------------------
// The fuzz data
// ------------------------------------------------------------------------------------------------

/// The fuzz input, read front to back; past its end every read gives zeros.
struct Data<'a> {
    rest: &'a [u8],
    len: usize,
}

impl<'a> Data<'a> {
    fn new(data: &'a [u8]) -> Self {
        Data {
            rest: data,
            len: data.len(),
        }
    }

    fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// 0..n.
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        head
    }

    /// Exactly `n` bytes, zero-padded.
    fn fill(&mut self, n: usize) -> Vec<u8> {
        let mut v = self.take(n).to_vec();
        v.resize(n, 0);
        v
    }

    /// A length byte (at most `max`), then that many bytes.
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.byte()) % (max + 1);
        self.take(n).to_vec()
    }

    /// A two-byte length (at most `max`), then that many bytes.
    fn long_bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.u16()) % (max + 1);
        self.take(n).to_vec()
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    /// How far the reading got, for the trace.
    fn offset(&self) -> usize {
        self.len - self.rest.len()
    }
}

fn trace_on() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("PROCEDURES_TRACE").is_some())
}

fn trace(message: impl FnOnce() -> String) {
    if trace_on() {
        eprintln!("{}", message());
    }
}

// ------------------------------------------------------------------------------------------------
// Recorded session (core/tests/data/rsp-session, waigel/euicc-rsp testdata, MIT)
// ------------------------------------------------------------------------------------------------

macro_rules! session {
    ($f:literal) => {
        include_bytes!(concat!("../../core/tests/data/rsp-session/", $f)).as_slice()
    };
}

/// What the builders reuse from the recorded session: certificates and a few whole answers.
struct Fixtures {
    euicc_info1: Vec<u8>,
    server_certificate: Vec<u8>,
    smdp_certificate: Vec<u8>,
    euicc_certificate: Certificate,
    eum_certificate: Certificate,
    euicc_signed1: EuiccSigned1,
    auth_server_response: Vec<u8>,
    prepare_download_response: Vec<u8>,
    store_metadata: Vec<u8>,
    bpp: Vec<u8>,
    pir: Vec<u8>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let initiate = InitiateAuthenticationOkEs9::from_der(session!("initiate-response.der"))
            .expect("recorded initiateAuthentication");
        let AuthenticateClientResponseEs9::Ok(client) =
            AuthenticateClientResponseEs9::from_der(session!("authenticate-response.der"))
                .expect("recorded authenticateClient")
        else {
            panic!("recorded authenticateClient is not Ok");
        };
        let AuthenticateServerResponse::Ok(server) =
            AuthenticateServerResponse::from_der(session!("auth-server-response.der"))
                .expect("recorded AuthenticateServer")
        else {
            panic!("recorded AuthenticateServer is not Ok");
        };
        Fixtures {
            euicc_info1: session!("euicc-info1.der").to_vec(),
            server_certificate: initiate.server_certificate.as_bytes().to_vec(),
            smdp_certificate: client.smdp_certificate.as_bytes().to_vec(),
            euicc_signed1: server.euicc_signed1.value().clone(),
            euicc_certificate: server.euicc_certificate,
            eum_certificate: server.eum_certificate,
            auth_server_response: session!("auth-server-response.der").to_vec(),
            prepare_download_response: session!("prepare-download-response.der").to_vec(),
            store_metadata: session!("store-metadata.der").to_vec(),
            bpp: session!("bound-profile-package.der").to_vec(),
            pir: session!("pending-notification.der").to_vec(),
        }
    })
}

// ------------------------------------------------------------------------------------------------
// The machines and what the harness knows about their run
// ------------------------------------------------------------------------------------------------

enum Machine {
    Download(Download, Run),
    Discovery(Discovery, Run),
    Notifications(NotificationDelivery, Run),
    Recovery(Recovery, Run),
}

/// Server addresses: well-formed ones, ones with white space, case, port, scheme, and ones a
/// server address must not be. The index past the end reads a fuzzed string.
const ADDRESSES: [&str; 12] = [
    "smdp.example.com",
    "  smdp.example.com\t",
    "SMDP.Example.COM",
    "smdp.example.com:8443",
    "https://smdp.example.com/",
    "[2001:db8::1]:443",
    "",
    "   ",
    "smdp.example.com/evil",
    "user@smdp.example.com",
    "smdp.example.com?x=1",
    "smds.example.net",
];

fn address(d: &mut Data) -> String {
    match ADDRESSES.get(d.below(ADDRESSES.len() + 1)) {
        Some(a) => (*a).to_owned(),
        None => d.text(40),
    }
}

/// Activation codes as users paste them; the index past the end reads a fuzzed one.
const ACTIVATION_CODES: [&str; 5] = [
    "1$smdp.example.com$MATCHING-ID",
    "LPA:1$smdp.example.com$ABC-123$1.3.6.1.4.1.31746$1",
    "1$SMDP.EXAMPLE.COM:443$$",
    "1$ smdp.example.com $X",
    "1$https://smdp.example.com/$Y",
];

fn device_info(d: &mut Data) -> DeviceInfo {
    let v = d.byte();
    DeviceInfo {
        tac: if v & 1 == 0 {
            vec![0x35, 0x29, 0x06, 0x11]
        } else {
            d.bytes(8)
        },
        device_capabilities: DeviceCapabilities {
            eutran_epc_supported_release: (v & 2 == 0).then(|| Version::new(15, 0, 0)),
            nr_5gc_supported_release: (v & 4 != 0).then(|| Version::new(16, 0, 0)),
            ..DeviceCapabilities::default()
        },
        imei: (v & 8 != 0).then(|| d.fill(8)),
    }
}

fn cancel_reason(d: &mut Data) -> CancelSessionReason {
    match d.below(9) {
        0 => CancelSessionReason::EndUserRejection,
        1 => CancelSessionReason::Postponed,
        2 => CancelSessionReason::Timeout,
        3 => CancelSessionReason::PprNotAllowed,
        4 => CancelSessionReason::MetadataMismatch,
        5 => CancelSessionReason::LoadBppExecutionError,
        6 => CancelSessionReason::UndefinedReason,
        7 => CancelSessionReason::Unknown(i64::from(d.byte())),
        _ => CancelSessionReason::Unknown(i64::from(d.u32() as i32)),
    }
}

fn notification_event(d: &mut Data) -> NotificationEvent {
    match d.below(6) {
        0 => NotificationEvent::Install,
        1 => NotificationEvent::Enable,
        2 => NotificationEvent::Disable,
        3 => NotificationEvent::Delete,
        _ => NotificationEvent::Unknown(4 + d.byte() % 8),
    }
}

fn transaction_id(d: &mut Data) -> TransactionId {
    let len = 1 + d.below(TransactionId::MAX_LEN);
    TransactionId::new(&d.fill(len)).expect("1 to 16 bytes")
}

fn iccid(d: &mut Data) -> Iccid {
    let digits: String = d
        .fill(20)
        .iter()
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    Iccid::from_digits(&digits).expect("20 digits")
}

fn oid() -> ObjectIdentifier {
    ObjectIdentifier::parse("2.999.10").expect("valid OID")
}

fn start(selector: u8, d: &mut Data, device_info: &DeviceInfo) -> Machine {
    let device_info = device_info.clone();
    match selector % 8 {
        0 => {
            let smdp_address = address(d);
            let matching_id = match d.below(4) {
                0 => Some("MATCHING-ID".to_owned()),
                1 => None,
                2 => Some(String::new()),
                _ => Some(d.text(32)),
            };
            let confirmation_code_required = d.byte() & 1 == 1;
            let expected_matching_id = matching_id.clone().filter(|m| !m.is_empty());
            download(
                Download::new(
                    DownloadSource::ActivationCode {
                        smdp_address: smdp_address.clone(),
                        matching_id,
                        confirmation_code_required,
                    },
                    device_info,
                ),
                Some(smdp_address.trim().to_owned()),
                Some(expected_matching_id),
                confirmation_code_required,
            )
        }
        1 => {
            let text = match ACTIVATION_CODES.get(d.below(ACTIVATION_CODES.len() + 1)) {
                Some(code) => (*code).to_owned(),
                None => d.text(80),
            };
            match ActivationCode::parse(&text) {
                Ok(code) => download(
                    Download::from_activation_code(&code, device_info),
                    Some(code.smdp_address().trim().to_owned()),
                    Some(code.matching_id().map(str::to_owned)),
                    code.confirmation_code_required(),
                ),
                Err(_) => download(
                    Download::from_default_smdp(device_info),
                    None,
                    Some(None),
                    false,
                ),
            }
        }
        2 => download(
            Download::from_default_smdp(device_info),
            None,
            Some(None),
            false,
        ),
        3 => {
            let event = EventEntry {
                event_id: match d.below(3) {
                    0 => "EVENT-1".to_owned(),
                    1 => String::new(),
                    _ => d.text(32),
                },
                rsp_server_address: address(d),
            };
            download(
                Download::new(
                    DownloadSource::Event {
                        smdp_address: event.rsp_server_address.clone(),
                        event_id: event.event_id.clone(),
                    },
                    device_info,
                ),
                Some(event.rsp_server_address.trim().to_owned()),
                Some(Some(event.event_id)),
                false,
            )
        }
        4 => {
            let smds_address = address(d);
            let mut run = Run::new("Discovery", 6);
            run.address = Some(smds_address.trim().to_owned());
            run.matching_id = Some(None);
            Machine::Discovery(Discovery::new(&smds_address, device_info), run)
        }
        5 => {
            let mut run = Run::new("Discovery", 6);
            run.matching_id = Some(None);
            Machine::Discovery(Discovery::from_root_smds(device_info), run)
        }
        6 => {
            let filter = NotificationFilter {
                seq_numbers: match d.below(3) {
                    0 => None,
                    1 => Some(vec![u32::from(d.byte())]),
                    _ => Some((0..d.below(4)).map(|_| u32::from(d.byte())).collect()),
                },
                operations: match d.below(4) {
                    0 => None,
                    1 => Some(vec![notification_event(d)]),
                    2 => Some(vec![]),
                    _ => Some((0..d.below(4)).map(|_| notification_event(d)).collect()),
                },
            };
            notifications(NotificationDelivery::new(filter.clone()), filter)
        }
        _ => {
            let tid = transaction_id(d);
            let smdp_address = address(d);
            let variant = d.below(6);
            let stage = match variant {
                0 => SessionStage::Loading,
                1 => SessionStage::Authenticating,
                2 => SessionStage::Authenticated,
                3 => SessionStage::Prepared,
                4 => SessionStage::CardCancelled {
                    cancel_session_response: cancel_session_ok(
                        tid.as_bytes(),
                        CancelSessionReason::UndefinedReason,
                        d,
                    ),
                },
                _ => SessionStage::CardCancelled {
                    cancel_session_response: d.bytes(64),
                },
            };
            // A record a download wrote carries a CancelSessionResponse that decodes; variant 5
            // is a damaged one, which Recovery forwards as it is.
            let strict = variant != 5;
            let record = SessionRecord {
                transaction_id: tid,
                smdp_address,
                stage,
            };
            recovery(record, d, strict)
        }
    }
}

fn download(
    machine: Download,
    address: Option<String>,
    matching_id: Option<Option<String>>,
    cc_by_code: bool,
) -> Machine {
    let mut run = Run::new("Download", 13);
    run.address = address;
    run.matching_id = matching_id;
    run.cc_by_code = cc_by_code;
    Machine::Download(machine, run)
}

fn notifications(machine: NotificationDelivery, filter: NotificationFilter) -> Machine {
    let mut run = Run::new("NotificationDelivery", 1);
    run.filter = Some(filter);
    Machine::Notifications(machine, run)
}

fn notifications_for(installation: &lpa_core::procedures::Installation) -> Machine {
    trace(|| format!("chain: notifications for seq {}", installation.seq_number));
    notifications(
        NotificationDelivery::for_installation(installation),
        NotificationFilter::seq_numbers([installation.seq_number]),
    )
}

fn recovery(record: SessionRecord, d: &mut Data, strict: bool) -> Machine {
    let reason = cancel_reason(d);
    trace(|| format!("recovery of {record:?} with {reason:?}"));
    let mut run = Run::new("Recovery", 2);
    run.tid = Some(record.transaction_id);
    run.address = Some(record.smdp_address.trim().to_owned());
    run.reason = Some(reason);
    if let SessionStage::CardCancelled {
        cancel_session_response,
    } = &record.stage
    {
        run.cancel_answer = Some(cancel_session_response.clone());
    }
    run.strict_cancel = strict;
    run.record = Some(record.clone());
    Machine::Recovery(Recovery::new(record, reason), run)
}

/// What the harness knows about one machine's run: its bound, and what the peers said, against
/// which the machine's requests and results are checked.
struct Run {
    name: &'static str,
    /// Most inputs the machine may take before `Done`; grows with the BPP and the notifications.
    budget: usize,
    steps: usize,
    /// The session's transactionId: from the first initiateAuthentication answer that decodes,
    /// or the Recovery record.
    tid: Option<TransactionId>,
    /// The server address every request must go to (trimmed).
    address: Option<String>,
    /// The matching ID AuthenticateServer must carry (`None`: not known).
    matching_id: Option<Option<String>>,
    challenge: Option<Vec<u8>>,
    info1: Option<Vec<u8>>,
    server_signed1: Option<Vec<u8>>,
    metadata: Option<StoreMetadataRequest>,
    smdp_signed2: Option<Vec<u8>>,
    cc_by_code: bool,
    cc_by_server: bool,
    code: Option<String>,
    /// What the next step must be after the user answered.
    after_user: Option<Awaited>,
    /// The reason the user or the Recovery gave (CancelSession must carry it).
    reason: Option<CancelSessionReason>,
    declined: bool,
    last_card: Option<Vec<u8>>,
    /// The card's answer to CancelSession (or the record's), which ES9+ cancelSession forwards.
    cancel_answer: Option<Vec<u8>>,
    strict_cancel: bool,
    record: Option<SessionRecord>,
    /// `BppCommands` of the package the server sent, and how many the card took.
    bpp: Option<Vec<(BppCommandKind, Vec<u8>)>>,
    loaded: usize,
    filter: Option<NotificationFilter>,
    /// The notifications the filter lets through, in the card's order, and how far delivery got.
    queue: Vec<NotificationMetadata>,
    retrieved: usize,
    /// Whether the server accepted each retrieved notification (handleNotification answered
    /// with a success), by position in `queue`.
    accepted: Vec<bool>,
    /// The position in `queue` of the notification in progress when the card was lost.
    card_lost_at: Option<usize>,
    /// The events the SM-DS sent.
    events: Option<Vec<EventEntry>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaited {
    ConfirmationCode,
    PrepareDownload,
}

impl Run {
    fn new(name: &'static str, budget: usize) -> Self {
        Run {
            name,
            budget,
            steps: 0,
            tid: None,
            address: None,
            matching_id: None,
            challenge: None,
            info1: None,
            server_signed1: None,
            metadata: None,
            smdp_signed2: None,
            cc_by_code: false,
            cc_by_server: false,
            code: None,
            after_user: None,
            reason: None,
            declined: false,
            last_card: None,
            cancel_answer: None,
            strict_cancel: true,
            record: None,
            bpp: None,
            loaded: 0,
            filter: None,
            queue: Vec::new(),
            retrieved: 0,
            accepted: Vec::new(),
            card_lost_at: None,
            events: None,
        }
    }

    fn tid_bytes(&self) -> Vec<u8> {
        self.tid
            .map_or_else(|| vec![0x01], |t| t.as_bytes().to_vec())
    }

    fn passes_filter(&self, m: &NotificationMetadata) -> bool {
        let Some(filter) = &self.filter else {
            return true;
        };
        filter
            .seq_numbers
            .as_ref()
            .is_none_or(|s| s.contains(&m.seq_number))
            && filter
                .operations
                .as_ref()
                .is_none_or(|o| o.contains(&m.profile_management_operation))
    }

    /// Learns what an accepted input tells about the rest of the run.
    fn observe(&mut self, awaiting: Awaiting, input: &Input) {
        match (awaiting, input) {
            (Awaiting::Card(command), Input::Card(bytes)) => {
                match command {
                    Es10Command::GetEuiccConfiguredAddresses => {
                        if let Ok(a) = EuiccConfiguredAddressesResponse::from_der(bytes) {
                            self.address = Some(if self.name == "Download" {
                                a.default_dp_address.unwrap_or_default().trim().to_owned()
                            } else {
                                a.root_ds_address.trim().to_owned()
                            });
                        }
                    }
                    Es10Command::GetEuiccChallenge => {
                        self.challenge = GetEuiccChallengeResponse::from_der(bytes)
                            .ok()
                            .map(|r| r.euicc_challenge);
                    }
                    Es10Command::GetEuiccInfo1 => self.info1 = Some(bytes.clone()),
                    Es10Command::LoadBoundProfilePackage(_) if bytes.is_empty() => self.loaded += 1,
                    Es10Command::CancelSession => self.cancel_answer = Some(bytes.clone()),
                    Es10Command::ListNotification => {
                        if let Ok(ListNotificationResponse::Ok(list)) =
                            ListNotificationResponse::from_der(bytes)
                        {
                            self.budget += 3 * list.len();
                            self.queue =
                                list.into_iter().filter(|m| self.passes_filter(m)).collect();
                        }
                    }
                    _ => {}
                }
                self.last_card = Some(bytes.clone());
            }
            (Awaiting::Server(function), Input::Server { status, body }) => match function {
                ServerFunction::Es9(Es9Function::InitiateAuthentication)
                | ServerFunction::Es11(Es11Function::InitiateAuthentication) => {
                    if let Ok(r) =
                        es9::decode_response::<es9::InitiateAuthenticationOk>(*status, body)
                    {
                        self.tid = Some(r.body.transaction_id);
                        self.server_signed1 = Some(r.body.server_signed1);
                    }
                }
                ServerFunction::Es9(Es9Function::AuthenticateClient) => {
                    if let Ok(r) = es9::decode_response::<es9::AuthenticateClientOk>(*status, body)
                    {
                        self.metadata =
                            StoreMetadataRequest::from_der(&r.body.profile_metadata).ok();
                        if let Ok(signed) = SmdpSigned2::from_der(&r.body.smdp_signed2) {
                            self.cc_by_server = signed.cc_required_flag;
                        }
                        self.smdp_signed2 = Some(r.body.smdp_signed2);
                    }
                }
                ServerFunction::Es9(Es9Function::GetBoundProfilePackage) => {
                    let Ok(r) =
                        es9::decode_response::<es9::GetBoundProfilePackageOk>(*status, body)
                    else {
                        return;
                    };
                    if Some(r.body.transaction_id) != self.tid {
                        return;
                    }
                    let bpp = r.body.bound_profile_package;
                    if let Ok(commands) = BppCommands::new(&bpp) {
                        let count = commands.command_count();
                        let model: Vec<_> = commands.map(|c| (c.kind, c.bytes.to_vec())).collect();
                        assert_eq!(
                            count,
                            model.len(),
                            "BppCommands::command_count() disagrees with the iterator"
                        );
                        self.budget += model.len();
                        self.bpp = Some(model);
                    }
                }
                ServerFunction::Es9(Es9Function::HandleNotification) => {
                    let ok = es9::decode_response::<EmptyBody>(*status, body).is_ok();
                    self.accepted.resize(self.retrieved, false);
                    if let Some(last) = self.accepted.last_mut() {
                        *last = ok;
                    }
                }
                ServerFunction::Es11(Es11Function::AuthenticateClient) => {
                    self.events =
                        es9::decode_response::<es9::Es11AuthenticateClientOk>(*status, body)
                            .ok()
                            .map(|r| r.body.event_entries);
                }
                _ => {}
            },
            (
                Awaiting::Card(
                    Es10Command::RetrieveNotificationsList
                    | Es10Command::RemoveNotificationFromList,
                ),
                Input::CardFailure(CardFailure::Unreachable(_)),
            ) => self.card_lost_at = self.retrieved.checked_sub(1),
            (_, Input::User(Answer::Accept)) => {
                self.after_user = Some(if self.cc_by_server || self.cc_by_code {
                    Awaited::ConfirmationCode
                } else {
                    Awaited::PrepareDownload
                });
            }
            (_, Input::User(Answer::ConfirmationCode(code))) => {
                self.code = Some(code.clone());
                self.after_user = Some(Awaited::PrepareDownload);
            }
            (_, Input::User(Answer::Decline(reason))) => {
                self.reason = Some(*reason);
                self.declined = true;
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The driving loop and its invariants
// ------------------------------------------------------------------------------------------------

/// What differs between the machines: which functions they call and the session record contract.
trait Checked: Procedure<Output: PartialEq> + Clone + PartialEq + Debug {
    fn calls(function: ServerFunction) -> bool;
    /// `session_record()` while not done.
    fn check_record(record: &Option<SessionRecord>, awaiting: Awaiting, run: &Run);
    /// The result and `session_record()` once done.
    fn check_done(
        result: &Result<Self::Output, ProcedureError>,
        record: &Option<SessionRecord>,
        run: &Run,
    );
}

/// The contract of `Procedure::session_record` at `Done` for machines with a session: the record
/// is kept exactly when the error says the session may still be open.
fn check_done_record<T>(
    name: &str,
    result: &Result<T, ProcedureError>,
    record: &Option<SessionRecord>,
    run: &Run,
) {
    let left_open = matches!(result, Err(e) if e.session_left_open());
    assert_eq!(
        record.is_some(),
        left_open,
        "{name}: done with session_record() = {record:?} but session_left_open() = {left_open}; \
         error: {:?}",
        result.as_ref().err()
    );
    if let Some(record) = record {
        assert_eq!(
            Some(record.transaction_id),
            run.tid,
            "{name}: record of another session"
        );
    }
    if let Err(e) = result
        && let Some(end) = e.session_end()
    {
        assert_eq!(
            Some(end.transaction_id),
            run.tid,
            "{name}: ended another session"
        );
    }
}

fn check_record_common(name: &str, record: &SessionRecord, awaiting: Awaiting, run: &Run) {
    assert_eq!(
        Some(record.transaction_id),
        run.tid,
        "{name}: the record's transactionId is not the session's"
    );
    if let Some(address) = &run.address {
        assert_eq!(
            record.smdp_address.trim(),
            address,
            "{name}: record address"
        );
    }
    let cancelled = matches!(record.stage, SessionStage::CardCancelled { .. });
    match awaiting {
        Awaiting::Server(ServerFunction::Es9(Es9Function::CancelSession)) => {
            let SessionStage::CardCancelled {
                cancel_session_response,
            } = &record.stage
            else {
                panic!("{name}: sending cancelSession but the record says {record:?}");
            };
            assert_eq!(
                Some(cancel_session_response),
                run.cancel_answer.as_ref(),
                "{name}: the record does not keep the card's signed cancellation as answered"
            );
        }
        _ => assert!(
            !cancelled,
            "{name}: record {record:?} while awaiting {awaiting}"
        ),
    }
}

impl Checked for Download {
    fn calls(function: ServerFunction) -> bool {
        matches!(function, ServerFunction::Es9(_))
    }

    fn check_record(record: &Option<SessionRecord>, awaiting: Awaiting, run: &Run) {
        let before_session = matches!(
            awaiting,
            Awaiting::Card(
                Es10Command::GetEuiccConfiguredAddresses
                    | Es10Command::GetEuiccChallenge
                    | Es10Command::GetEuiccInfo1
            ) | Awaiting::Server(ServerFunction::Es9(Es9Function::InitiateAuthentication))
        );
        let Some(record) = record else {
            assert!(
                before_session,
                "Download: no session record while awaiting {awaiting}"
            );
            return;
        };
        assert!(
            !before_session,
            "Download: session record {record:?} before initiateAuthentication succeeded"
        );
        check_record_common("Download", record, awaiting, run);
        let stage_ok = match awaiting {
            Awaiting::Card(Es10Command::AuthenticateServer) => {
                record.stage == SessionStage::Authenticating
            }
            // Authenticating when the card's refusal is being forwarded (SGP.22 §5.6.3).
            Awaiting::Server(ServerFunction::Es9(Es9Function::AuthenticateClient)) => matches!(
                record.stage,
                SessionStage::Authenticated | SessionStage::Authenticating
            ),
            Awaiting::User(_) | Awaiting::Card(Es10Command::PrepareDownload) => {
                record.stage == SessionStage::Authenticated
            }
            // Authenticated when the card refused PrepareDownload and its refusal is being
            // forwarded in getBoundProfilePackage (SGP.22 §3.1.3).
            Awaiting::Server(ServerFunction::Es9(Es9Function::GetBoundProfilePackage)) => {
                let refused = run.last_card.as_deref().is_some_and(|answer| {
                    matches!(
                        PrepareDownloadResponse::from_der(answer),
                        Ok(PrepareDownloadResponse::Error(_))
                    )
                });
                record.stage
                    == if refused {
                        SessionStage::Authenticated
                    } else {
                        SessionStage::Prepared
                    }
            }
            Awaiting::Card(Es10Command::LoadBoundProfilePackage(_)) => {
                record.stage == SessionStage::Loading
            }
            _ => true,
        };
        assert!(
            stage_ok,
            "Download: record {record:?} while awaiting {awaiting}"
        );
    }

    fn check_done(
        result: &Result<lpa_core::procedures::Installation, ProcedureError>,
        record: &Option<SessionRecord>,
        run: &Run,
    ) {
        check_done_record("Download", result, record, run);
        match result {
            Ok(installation) => {
                assert_eq!(Some(installation.transaction_id), run.tid);
                assert_eq!(Some(&installation.smdp_address), run.address.as_ref());
                assert_eq!(
                    Some(&installation.profile_installation_result),
                    run.last_card.as_ref(),
                    "Download: the installation result is not the card's answer"
                );
                assert_eq!(Some(&installation.metadata), run.metadata.as_ref());
                assert!(!run.declined, "Download: installed after the user declined");
                let _ = installation.is_installed();
            }
            Err(e) if run.declined => assert_eq!(
                e.fault(),
                &Fault::UserDeclined {
                    reason: run.reason.expect("declined with a reason")
                },
                "Download: the user declined, the error says otherwise"
            ),
            Err(_) => {}
        }
    }
}

impl Checked for Discovery {
    fn calls(function: ServerFunction) -> bool {
        matches!(function, ServerFunction::Es11(_))
    }

    fn check_record(record: &Option<SessionRecord>, _: Awaiting, _: &Run) {
        assert_eq!(record, &None, "Discovery has no session to recover");
    }

    fn check_done(
        result: &Result<Vec<EventEntry>, ProcedureError>,
        record: &Option<SessionRecord>,
        run: &Run,
    ) {
        assert_eq!(record, &None, "Discovery has no session to recover");
        if let Ok(events) = result {
            assert_eq!(
                Some(events),
                run.events.as_ref(),
                "Discovery: not the events the SM-DS sent"
            );
        }
    }
}

impl Checked for NotificationDelivery {
    fn calls(function: ServerFunction) -> bool {
        function == ServerFunction::Es9(Es9Function::HandleNotification)
    }

    fn check_record(record: &Option<SessionRecord>, _: Awaiting, _: &Run) {
        assert_eq!(
            record, &None,
            "NotificationDelivery has no session to recover"
        );
    }

    fn check_done(
        result: &Result<lpa_core::procedures::DeliveryReport, ProcedureError>,
        record: &Option<SessionRecord>,
        run: &Run,
    ) {
        assert_eq!(
            record, &None,
            "NotificationDelivery has no session to recover"
        );
        match result {
            Ok(report) => {
                let got: Vec<u32> = report.notifications.iter().map(|n| n.seq_number).collect();
                let expected: Vec<u32> = run.queue.iter().map(|m| m.seq_number).collect();
                assert_eq!(
                    got, expected,
                    "NotificationDelivery: the report does not list the filtered notifications \
                     in the card's order"
                );
                for (i, (n, m)) in report.notifications.iter().zip(&run.queue).enumerate() {
                    assert_eq!(n.address, m.notification_address.trim());
                    assert_eq!(n.operation, m.profile_management_operation);
                    let accepted = run.accepted.get(i).copied().unwrap_or(false);
                    assert_eq!(
                        n.outcome.is_delivered(),
                        accepted,
                        "NotificationDelivery: notification {i} reported {:?}, its server {}",
                        n.outcome,
                        if accepted { "accepted it" } else { "did not" }
                    );
                    let _ = n.outcome.is_worth_retrying();
                    if run.card_lost_at.is_some_and(|k| i >= k) {
                        assert!(
                            matches!(
                                n.outcome.fault(),
                                Some(Fault::TransportFailed(
                                    lpa_core::procedures::TransportFailure::Card { .. }
                                ))
                            ),
                            "NotificationDelivery: notification {i} after the card was lost: {:?}",
                            n.outcome
                        );
                    }
                }
                assert_eq!(
                    report.card_lost().is_some(),
                    run.card_lost_at.is_some(),
                    "NotificationDelivery: card_lost() = {:?}",
                    report.card_lost()
                );
                assert_eq!(
                    report.delivered().count(),
                    run.accepted.iter().filter(|a| **a).count()
                );
                let _ = (report.all_delivered(), report.failed().count());
            }
            // Documented: only a card that cannot be reached, or refuses to list its
            // notifications, ends the procedure with an error.
            Err(e) => assert!(
                run.steps == 1
                    || matches!(
                        e.fault(),
                        Fault::TransportFailed(lpa_core::procedures::TransportFailure::Card { .. })
                    ),
                "NotificationDelivery failed after the list with {e:?}"
            ),
        }
    }
}

impl Checked for Recovery {
    fn calls(function: ServerFunction) -> bool {
        function == ServerFunction::Es9(Es9Function::CancelSession)
    }

    fn check_record(record: &Option<SessionRecord>, awaiting: Awaiting, run: &Run) {
        let record = record
            .as_ref()
            .unwrap_or_else(|| panic!("Recovery: no record while awaiting {awaiting}"));
        check_record_common("Recovery", record, awaiting, run);
        let original = run.record.as_ref().expect("recovery has its record");
        assert_eq!(record.smdp_address, original.smdp_address);
    }

    fn check_done(
        result: &Result<lpa_core::procedures::SessionEnd, ProcedureError>,
        record: &Option<SessionRecord>,
        run: &Run,
    ) {
        check_done_record("Recovery", result, record, run);
        if let Ok(end) = result {
            assert!(
                end.is_complete(),
                "Recovery: Ok with an incomplete end {end:?}"
            );
            assert_eq!(Some(end.transaction_id), run.tid);
            assert_eq!(Some(end.reason), run.reason);
        }
    }
}

/// One input of every kind, for checking `Awaiting::accepts` and the refusals.
fn every_kind(d: &mut Data) -> [Input; 7] {
    [
        Input::Card(d.bytes(8)),
        Input::CardFailure(CardFailure::Unreachable("gone".into())),
        Input::Server {
            status: 200,
            body: Vec::new(),
        },
        Input::ServerFailure(ServerFailure::Connect("refused".into())),
        Input::User(Answer::Accept),
        Input::User(Answer::Decline(cancel_reason(d))),
        Input::User(Answer::ConfirmationCode(d.text(8))),
    ]
}

/// The model: which input kinds a step takes.
fn takes<T>(step: &Step<T>, kind: InputKind) -> bool {
    match step {
        Step::Card(_) => matches!(kind, InputKind::CardResponse | InputKind::CardFailure),
        Step::Server(_) => matches!(kind, InputKind::ServerResponse | InputKind::ServerFailure),
        Step::User(Question::ConfirmProfile { .. }) => {
            matches!(kind, InputKind::Accept | InputKind::Decline)
        }
        Step::User(Question::ConfirmationCode { .. }) => {
            matches!(kind, InputKind::ConfirmationCode | InputKind::Decline)
        }
        Step::User(q) => panic!("a new question {q:?}: teach the procedures fuzz target"),
        Step::Done(_) => false,
    }
}

fn refuse<M: Checked>(m: &mut M, input: Input, run: &Run) {
    let before = m.clone();
    let awaiting = m.awaiting();
    let kind = input.kind();
    trace(|| format!("  wrong input {kind:?}"));
    let error = m.handle(input).err().unwrap_or_else(|| {
        panic!(
            "{}: {kind:?} accepted while awaiting {awaiting}\nbefore: {before:?}",
            run.name
        )
    });
    assert_eq!(
        error.input, kind,
        "{}: misuse names another input",
        run.name
    );
    assert_eq!(
        error.awaiting, awaiting,
        "{}: misuse names another wait",
        run.name
    );
    let _ = (error.to_string(), ProcedureError::from(error).to_string());
    assert_eq!(
        *m, before,
        "{}: a refused {kind:?} changed the machine",
        run.name
    );
    assert_eq!(
        m.poll(),
        before.poll(),
        "{}: a refused input changed poll()",
        run.name
    );
}

fn drive<M: Checked>(
    mut m: M,
    mut run: Run,
    d: &mut Data,
) -> (Result<M::Output, ProcedureError>, Option<SessionRecord>) {
    loop {
        let step = m.poll();
        assert_eq!(step, m.poll(), "{}: poll() is not pure", run.name);
        let awaiting = m.awaiting();
        let record = m.session_record();
        assert_eq!(
            record,
            m.session_record(),
            "{}: session_record() is not pure",
            run.name
        );
        trace(|| {
            format!(
                "{} step {} at offset {}: awaiting {awaiting}; record {:?}",
                run.name,
                run.steps,
                d.offset(),
                record.as_ref().map(|r| &r.stage)
            )
        });
        for input in every_kind(&mut Data::new(&[])) {
            assert_eq!(
                awaiting.accepts(&input),
                takes(&step, input.kind()),
                "{}: awaiting() = {awaiting} disagrees with step {step:?} on {:?}",
                run.name,
                input.kind()
            );
        }
        check_step::<M>(&step, awaiting, &mut run);

        if let Step::Done(result) = step {
            trace(|| format!("{} done: {result:?}", run.name));
            if let Err(e) = &result {
                assert!(
                    !matches!(e.fault(), Fault::ApiMisuse(_)),
                    "{}: ended in API misuse without being misused: {e:?}",
                    run.name
                );
                let _ = (e.to_string(), e.is_transient(), e.session_left_open());
            }
            M::check_done(&result, &record, &run);
            // Done is final: every input is refused and nothing changes.
            for input in every_kind(d) {
                refuse(&mut m, input, &run);
            }
            assert_eq!(m.poll(), Step::Done(result.clone()));
            assert_eq!(m.session_record(), record);
            return (result, record);
        }

        M::check_record(&record, awaiting, &run);
        assert!(
            run.steps < run.budget,
            "{}: not done after {} inputs (bound {}), awaiting {awaiting}",
            run.name,
            run.steps,
            run.budget
        );

        if d.byte() % 4 == 3 {
            let wrong: Vec<Input> = every_kind(d)
                .into_iter()
                .filter(|i| !takes(&step, i.kind()))
                .collect();
            let pick = d.below(wrong.len());
            if let Some(input) = wrong.into_iter().nth(pick) {
                refuse(&mut m, input, &run);
            }
        }

        let input = match &step {
            Step::Card(request) => card_input(awaiting, request, d, &run),
            Step::Server(request) => server_input(request, d),
            Step::User(question) => user_input(question, d),
            Step::Done(_) => unreachable!(),
        };
        trace(|| format!("  feed {}", describe(&input)));
        run.observe(awaiting, &input);
        let kind = input.kind();
        if let Err(e) = m.handle(input) {
            panic!(
                "{}: {kind:?} refused while awaiting {awaiting}: {e}",
                run.name
            );
        }
        run.steps += 1;
    }
}

fn describe(input: &Input) -> String {
    match input {
        Input::Card(bytes) => format!("card answer {}", hex(bytes)),
        Input::Server { status, body } => {
            format!("HTTP {status} {}", String::from_utf8_lossy(body))
        }
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Checks a step against the awaited input and what the peers said so far.
fn check_step<M: Checked>(step: &Step<M::Output>, awaiting: Awaiting, run: &mut Run) {
    let name = run.name;
    match (step, awaiting) {
        (Step::Card(bytes), Awaiting::Card(command)) => {
            check_card_request(name, bytes, command, run)
        }
        (Step::Server(request), Awaiting::Server(function)) => {
            assert_eq!(
                request.function, function,
                "{name}: step and awaiting() differ"
            );
            assert!(M::calls(function), "{name} calls {function}");
            check_server_request(name, request, run);
        }
        (Step::User(question), Awaiting::User(kind)) => {
            assert_eq!(question.kind(), kind, "{name}: step and awaiting() differ");
            match question {
                Question::ConfirmProfile {
                    metadata,
                    smdp_address,
                    confirmation_code_required,
                } => {
                    assert_eq!(
                        Some(metadata),
                        run.metadata.as_ref(),
                        "{name}: metadata shown"
                    );
                    assert_eq!(Some(smdp_address), run.address.as_ref());
                    assert_eq!(
                        *confirmation_code_required,
                        run.cc_by_server || run.cc_by_code,
                        "{name}: confirmation code flag"
                    );
                }
                Question::ConfirmationCode { smdp_address } => {
                    assert_eq!(Some(smdp_address), run.address.as_ref())
                }
                q => panic!("a new question {q:?}"),
            }
        }
        (Step::Done(_), Awaiting::Nothing) => {}
        (step, awaiting) => panic!("{name}: step {step:?} while awaiting {awaiting}"),
    }
    if let Some(expected) = run.after_user.take() {
        let ok = match expected {
            Awaited::ConfirmationCode => awaiting == Awaiting::User(QuestionKind::ConfirmationCode),
            Awaited::PrepareDownload => awaiting == Awaiting::Card(Es10Command::PrepareDownload),
        };
        assert!(
            ok,
            "{name}: after the user's answer {expected:?} was due, got {awaiting}"
        );
    }
}

fn check_card_request(name: &str, bytes: &[u8], command: Es10Command, run: &mut Run) {
    if let Es10Command::LoadBoundProfilePackage(kind) = command {
        let model = run
            .bpp
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: loading a package the server never sent"));
        let (expected_kind, expected) = model.get(run.loaded).unwrap_or_else(|| {
            panic!(
                "{name}: BPP command {} asked, the package has {}",
                run.loaded,
                model.len()
            )
        });
        assert_eq!(
            kind, *expected_kind,
            "{name}: BPP command {} kind",
            run.loaded
        );
        assert_eq!(bytes, expected, "{name}: BPP command {} bytes", run.loaded);
        return;
    }
    let tlv = Tlv::parse(bytes)
        .unwrap_or_else(|e| panic!("{name}: {command} request is not one TLV: {e:?}"));
    assert_eq!(
        tlv.tag(),
        Tag(command.tag()),
        "{name}: {command} request tag"
    );
    match command {
        Es10Command::AuthenticateServer => {
            let request = AuthenticateServerRequest::from_der(bytes).expect("decodes");
            assert_eq!(
                Some(request.server_signed1.raw()),
                run.server_signed1.as_deref(),
                "{name}: serverSigned1 not forwarded as received"
            );
            let CtxParams1::CommonAuthentication(ctx) = &request.ctx_params1;
            if let Some(matching_id) = &run.matching_id {
                assert_eq!(&ctx.matching_id, matching_id, "{name}: matchingId");
            }
        }
        Es10Command::PrepareDownload => {
            let request = PrepareDownloadRequest::from_der(bytes).expect("decodes");
            assert_eq!(
                Some(request.smdp_signed2.raw()),
                run.smdp_signed2.as_deref(),
                "{name}: smdpSigned2 not forwarded as received"
            );
            let expected = match (&run.code, run.cc_by_server) {
                (Some(code), true) => Some(hash_cc(code.as_bytes(), &run.tid_bytes()).to_vec()),
                _ => None,
            };
            assert_eq!(request.hash_cc, expected, "{name}: hashCc");
        }
        Es10Command::CancelSession => {
            let request = CancelSessionRequest::from_der(bytes).expect("decodes");
            assert_eq!(
                request.transaction_id,
                run.tid_bytes(),
                "{name}: cancelled session"
            );
            // By code: `Unknown(0)` given by the driver is sent as 0, endUserRejection.
            if let Some(reason) = run.reason {
                assert_eq!(
                    request.reason.code(),
                    reason.code(),
                    "{name}: cancel reason"
                );
            }
        }
        Es10Command::ListNotification => {
            let request = ListNotificationRequest::from_der(bytes).expect("decodes");
            let expected = match run.filter.as_ref().and_then(|f| f.operations.as_deref()) {
                Some([one]) => Some(*one),
                _ => None,
            };
            assert_eq!(request.profile_management_operation, expected);
        }
        Es10Command::RetrieveNotificationsList => {
            let request = RetrieveNotificationsListRequest::from_der(bytes).expect("decodes");
            let expected = run.queue.get(run.retrieved).unwrap_or_else(|| {
                panic!("{name}: more notifications retrieved than the filter lets through")
            });
            assert_eq!(
                request.search_criteria,
                Some(NotificationSearchCriteria::SeqNumber(expected.seq_number)),
                "{name}: notifications out of the card's order"
            );
            run.retrieved += 1;
        }
        // SGP.22 §3.5: removed from the card only once its server accepted it.
        Es10Command::RemoveNotificationFromList => {
            let index = run.retrieved.checked_sub(1);
            assert!(
                index.and_then(|i| run.accepted.get(i)) == Some(&true),
                "{name}: removing notification {index:?} that no server accepted"
            );
        }
        _ => {}
    }
}

fn check_server_request(name: &str, request: &ServerRequest, run: &Run) {
    let path = request.function.path();
    let host = request
        .url
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix(path))
        .unwrap_or_else(|| panic!("{name}: URL {:?} for {}", request.url, request.function));
    assert!(
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c)),
        "{name}: URL {:?} has a host that is not one",
        request.url
    );
    assert_eq!(request.address, request.address.trim());
    match &run.address {
        Some(address) => assert_eq!(&request.address, address, "{name}: server address"),
        None => assert!(
            run.queue
                .iter()
                .any(|m| m.notification_address.trim() == request.address),
            "{name}: request to {:?}, which no one named",
            request.address
        ),
    }
    let body = &request.body;
    match request.function {
        ServerFunction::Es9(Es9Function::InitiateAuthentication)
        | ServerFunction::Es11(Es11Function::InitiateAuthentication) => {
            let r: es9::InitiateAuthenticationRequest =
                es9::decode_request(body).expect("initiateAuthentication body");
            assert_eq!(Some(&r.euicc_challenge), run.challenge.as_ref());
            assert_eq!(Some(&r.euicc_info1), run.info1.as_ref());
            assert_eq!(r.smdp_address, request.address);
        }
        ServerFunction::Es9(Es9Function::AuthenticateClient)
        | ServerFunction::Es11(Es11Function::AuthenticateClient) => {
            let r: es9::AuthenticateClientRequest =
                es9::decode_request(body).expect("authenticateClient body");
            assert_eq!(Some(r.transaction_id), run.tid, "{name}: transactionId");
            assert_eq!(
                Some(&r.authenticate_server_response),
                run.last_card.as_ref(),
                "{name}: authenticateServerResponse is not the card's answer"
            );
        }
        ServerFunction::Es9(Es9Function::GetBoundProfilePackage) => {
            let r: es9::GetBoundProfilePackageRequest =
                es9::decode_request(body).expect("getBoundProfilePackage body");
            assert_eq!(Some(r.transaction_id), run.tid, "{name}: transactionId");
            assert_eq!(
                Some(&r.prepare_download_response),
                run.last_card.as_ref(),
                "{name}: prepareDownloadResponse is not the card's answer"
            );
        }
        ServerFunction::Es9(Es9Function::HandleNotification) => {
            let r: es9::HandleNotificationRequest =
                es9::decode_request(body).expect("handleNotification body");
            let pending = PendingNotification::from_der(&r.pending_notification)
                .expect("the pending notification decodes");
            let current = run.retrieved.checked_sub(1).and_then(|i| run.queue.get(i));
            assert_eq!(
                Some(pending.metadata().seq_number),
                current.map(|m| m.seq_number),
                "{name}: handleNotification for another notification"
            );
        }
        ServerFunction::Es9(Es9Function::CancelSession) => {
            let r: es9::CancelSessionRequest =
                es9::decode_request(body).expect("cancelSession body");
            assert_eq!(Some(r.transaction_id), run.tid, "{name}: transactionId");
            assert_eq!(
                Some(&r.cancel_session_response),
                run.cancel_answer.as_ref(),
                "{name}: cancelSessionResponse is not the card's answer"
            );
            if run.strict_cancel {
                CancelSessionResponse::from_der(&r.cancel_session_response)
                    .expect("a CancelSessionResponse");
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The card
// ------------------------------------------------------------------------------------------------

/// Choice byte: below 0x80 a plausible answer (the byte picks its variant; 0 is well-formed),
/// then arbitrary bytes, no data, an error status word, another APDU failure, unreachable.
fn card_input(awaiting: Awaiting, request: &[u8], d: &mut Data, run: &Run) -> Input {
    let Awaiting::Card(command) = awaiting else {
        unreachable!()
    };
    match d.byte() {
        v @ 0x00..=0x7F => Input::Card(plausible_card(command, request, v, d, run)),
        0x80..=0x9F => Input::Card(d.long_bytes(600)),
        0xA0..=0xAF => Input::Card(Vec::new()),
        0xB0..=0xCF => Input::CardFailure(CardFailure::Apdu(ApduError::Status {
            sw: StatusWord(d.u16()),
            ins: 0xE2,
            block: d.byte(),
        })),
        0xD0..=0xDF => Input::CardFailure(CardFailure::Apdu(match d.below(4) {
            0 => ApduError::ResponseTooShort { len: d.below(2) },
            1 => ApduError::RepeatedWrongLength {
                sw: StatusWord(0x6C00 | u16::from(d.byte())),
            },
            2 => ApduError::TooManyResponseRounds { limit: d.u16() },
            _ => ApduError::UnexpectedResponseLength {
                expected: d.below(256),
                found: d.below(256),
            },
        })),
        _ => Input::CardFailure(CardFailure::Unreachable(d.text(16))),
    }
}

fn signature(d: &mut Data) -> Vec<u8> {
    d.fill(64)
}

fn plausible_card(command: Es10Command, request: &[u8], v: u8, d: &mut Data, run: &Run) -> Vec<u8> {
    let f = fixtures();
    match command {
        Es10Command::GetEuiccConfiguredAddresses => EuiccConfiguredAddressesResponse {
            default_dp_address: match v % 4 {
                0 | 1 => Some(address(d)),
                2 => None,
                _ => Some(String::new()),
            },
            root_ds_address: address(d),
        }
        .to_der(),
        Es10Command::GetEuiccChallenge => GetEuiccChallengeResponse {
            euicc_challenge: match v % 4 {
                0..=2 => d.fill(16),
                _ => d.bytes(32),
            },
        }
        .to_der(),
        Es10Command::GetEuiccInfo1 => match v % 4 {
            0 | 1 => EuiccInfo1 {
                svn: Version::new(2, 2, d.byte() % 4),
                euicc_ci_pkid_list_for_verification: vec![d.fill(20)],
                euicc_ci_pkid_list_for_signing: vec![d.fill(20)],
            }
            .to_der(),
            2 => f.euicc_info1.clone(),
            _ => EuiccInfo1 {
                svn: Version::new(d.byte(), d.byte(), d.byte()),
                euicc_ci_pkid_list_for_verification: (0..d.below(4)).map(|_| d.bytes(24)).collect(),
                euicc_ci_pkid_list_for_signing: (0..d.below(4)).map(|_| d.bytes(24)).collect(),
            }
            .to_der(),
        },
        Es10Command::AuthenticateServer => {
            let Ok(asked) = AuthenticateServerRequest::from_der(request) else {
                return f.auth_server_response.clone();
            };
            let signed1 = asked.server_signed1.value();
            match v % 8 {
                0..=3 | 7 => {
                    let mut euicc_signed1 = f.euicc_signed1.clone();
                    euicc_signed1.transaction_id = if v % 8 == 7 {
                        d.bytes(16)
                    } else {
                        signed1.transaction_id.clone()
                    };
                    euicc_signed1.server_address = signed1.server_address.clone();
                    euicc_signed1.server_challenge = signed1.server_challenge.clone();
                    euicc_signed1.ctx_params1 = asked.ctx_params1.clone();
                    AuthenticateServerResponse::Ok(AuthenticateResponseOk {
                        euicc_signed1: Signed::new(euicc_signed1),
                        euicc_signature1: signature(d),
                        euicc_certificate: f.euicc_certificate.clone(),
                        eum_certificate: f.eum_certificate.clone(),
                    })
                    .to_der()
                }
                4 => f.auth_server_response.clone(),
                _ => AuthenticateServerResponse::Error(AuthenticateResponseError {
                    transaction_id: signed1.transaction_id.clone(),
                    authenticate_error_code: match d.below(9) {
                        0 => AuthenticateErrorCode::InvalidCertificate,
                        1 => AuthenticateErrorCode::InvalidSignature,
                        2 => AuthenticateErrorCode::UnsupportedCurve,
                        3 => AuthenticateErrorCode::NoSessionContext,
                        4 => AuthenticateErrorCode::InvalidOid,
                        5 => AuthenticateErrorCode::EuiccChallengeMismatch,
                        6 => AuthenticateErrorCode::CiPkUnknown,
                        7 => AuthenticateErrorCode::UndefinedError,
                        _ => AuthenticateErrorCode::Unknown(i64::from(d.byte())),
                    },
                })
                .to_der(),
            }
        }
        Es10Command::PrepareDownload => {
            let Ok(asked) = PrepareDownloadRequest::from_der(request) else {
                return f.prepare_download_response.clone();
            };
            let tid = asked.smdp_signed2.value().transaction_id.clone();
            match v % 8 {
                0..=4 => {
                    let mut otpk = vec![0x04];
                    otpk.extend(d.fill(64));
                    PrepareDownloadResponse::Ok(PrepareDownloadResponseOk {
                        euicc_signed2: Signed::new(EuiccSigned2 {
                            transaction_id: tid,
                            euicc_otpk: otpk,
                            hash_cc: asked.hash_cc.clone(),
                        }),
                        euicc_signature2: signature(d),
                    })
                    .to_der()
                }
                5 => f.prepare_download_response.clone(),
                _ => PrepareDownloadResponse::Error(PrepareDownloadResponseError {
                    transaction_id: tid,
                    download_error_code: match d.below(7) {
                        0 => DownloadErrorCode::InvalidCertificate,
                        1 => DownloadErrorCode::InvalidSignature,
                        2 => DownloadErrorCode::UnsupportedCurve,
                        3 => DownloadErrorCode::NoSessionContext,
                        4 => DownloadErrorCode::InvalidTransactionId,
                        5 => DownloadErrorCode::UndefinedError,
                        _ => DownloadErrorCode::Unknown(i64::from(d.byte())),
                    },
                })
                .to_der(),
            }
        }
        Es10Command::LoadBoundProfilePackage(kind) => {
            let count = run.bpp.as_ref().map_or(0, Vec::len);
            let last = run.loaded + 1 >= count;
            match v % 8 {
                0..=5 if !last => Vec::new(),
                0..=5 => installation_result(true, kind, d, run),
                6 => installation_result(false, kind, d, run),
                _ => match d.below(3) {
                    0 => f.pir.clone(),
                    1 => installation_result(true, kind, d, run),
                    _ => Vec::new(),
                },
            }
        }
        Es10Command::CancelSession => {
            let (tid, reason) = match CancelSessionRequest::from_der(request) {
                Ok(r) => (r.transaction_id, r.reason),
                Err(_) => (run.tid_bytes(), CancelSessionReason::UndefinedReason),
            };
            match v % 8 {
                0..=4 => cancel_session_ok(&tid, reason, d),
                5 => {
                    CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der()
                }
                6 => CancelSessionResponse::Error(CancelSessionError::UndefinedError).to_der(),
                _ => CancelSessionResponse::Error(CancelSessionError::Unknown(i64::from(d.byte())))
                    .to_der(),
            }
        }
        Es10Command::ListNotification => match v % 8 {
            0..=4 => {
                let n = 1 + d.below(4);
                let base = u32::from(d.byte()) + 1;
                let list = (0..n)
                    .map(|i| NotificationMetadata {
                        // Distinct unless variant 4 repeats one sequence number.
                        seq_number: if v % 8 == 4 { base } else { base + i as u32 },
                        profile_management_operation: notification_event(d),
                        notification_address: address(d),
                        iccid: (d.byte() & 1 == 0).then(|| iccid(d)),
                    })
                    .collect();
                ListNotificationResponse::Ok(list).to_der()
            }
            5 => ListNotificationResponse::Ok(Vec::new()).to_der(),
            6 => ListNotificationResponse::Error(ListNotificationError::UndefinedError).to_der(),
            _ => {
                ListNotificationResponse::Error(ListNotificationError::Unknown(i64::from(d.byte())))
                    .to_der()
            }
        },
        Es10Command::RetrieveNotificationsList => {
            let seq = match RetrieveNotificationsListRequest::from_der(request) {
                Ok(RetrieveNotificationsListRequest {
                    search_criteria: Some(NotificationSearchCriteria::SeqNumber(n)),
                }) => n,
                _ => 0,
            };
            let metadata = run
                .queue
                .iter()
                .find(|m| m.seq_number == seq)
                .cloned()
                .unwrap_or_else(|| NotificationMetadata {
                    seq_number: seq,
                    profile_management_operation: NotificationEvent::Delete,
                    notification_address: ADDRESSES[0].to_owned(),
                    iccid: None,
                });
            match v % 8 {
                0..=3 => {
                    RetrieveNotificationsListResponse::Ok(vec![pending(metadata, v, d)]).to_der()
                }
                4 => {
                    let mut other = metadata.clone();
                    other.seq_number = other.seq_number.wrapping_add(1);
                    RetrieveNotificationsListResponse::Ok(vec![
                        pending(other, v, d),
                        pending(metadata, v, d),
                    ])
                    .to_der()
                }
                5 => RetrieveNotificationsListResponse::Ok(Vec::new()).to_der(),
                6 => {
                    let mut other = metadata;
                    other.seq_number = other.seq_number.wrapping_add(1 + u32::from(d.byte()));
                    RetrieveNotificationsListResponse::Ok(vec![pending(other, v, d)]).to_der()
                }
                _ => RetrieveNotificationsListResponse::Error(match d.below(3) {
                    0 => RetrieveNotificationsListError::NoResultAvailable,
                    1 => RetrieveNotificationsListError::UndefinedError,
                    _ => RetrieveNotificationsListError::Unknown(i64::from(d.byte())),
                })
                .to_der(),
            }
        }
        Es10Command::RemoveNotificationFromList => NotificationSentResponse {
            delete_notification_status: match v % 8 {
                0..=4 => DeleteNotificationStatus::Ok,
                5 => DeleteNotificationStatus::NothingToDelete,
                6 => DeleteNotificationStatus::UndefinedError,
                _ => DeleteNotificationStatus::Unknown(i64::from(d.byte())),
            },
        }
        .to_der(),
        other => panic!("a new ES10 command {other}: teach the procedures fuzz target"),
    }
}

fn cancel_session_ok(tid: &[u8], reason: CancelSessionReason, d: &mut Data) -> Vec<u8> {
    CancelSessionResponse::Ok(CancelSessionResponseOk {
        euicc_cancel_session_signed: Signed::new(EuiccCancelSessionSigned {
            transaction_id: tid.to_vec(),
            smdp_oid: oid(),
            reason,
        }),
        euicc_cancel_session_signature: signature(d),
    })
    .to_der()
}

/// A ProfileInstallationResult: success, or an error at the BPP step being loaded.
fn installation_result(success: bool, kind: BppCommandKind, d: &mut Data, run: &Run) -> Vec<u8> {
    let final_result = if success {
        FinalResult::Success(SuccessResult {
            aid: {
                let mut aid = vec![0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10];
                aid.extend(d.fill(9));
                aid
            },
            sima_response: d.bytes(8),
        })
    } else {
        FinalResult::Error(ErrorResult {
            bpp_command_id: match kind {
                BppCommandKind::InitialiseSecureChannel => BppCommandId::InitialiseSecureChannel,
                BppCommandKind::ConfigureIsdp => BppCommandId::ConfigureIsdp,
                BppCommandKind::StoreMetadata => BppCommandId::StoreMetadata,
                BppCommandKind::ReplaceSessionKeys => BppCommandId::ReplaceSessionKeys,
                BppCommandKind::LoadProfileElements => BppCommandId::LoadProfileElements,
            },
            error_reason: match d.below(5) {
                0 => ErrorReason::InvalidSignature,
                1 => ErrorReason::Scp03tSecurityError,
                2 => ErrorReason::IccidAlreadyExistsOnEuicc,
                3 => ErrorReason::InsufficientMemoryForProfile,
                _ => ErrorReason::Unknown(i64::from(d.byte())),
            },
            sima_response: (d.byte() & 1 == 1).then(|| d.bytes(8)),
        })
    };
    ProfileInstallationResult {
        profile_installation_result_data: Signed::new(ProfileInstallationResultData {
            transaction_id: run.tid_bytes(),
            notification_metadata: NotificationMetadata {
                seq_number: u32::from(d.u16()),
                profile_management_operation: NotificationEvent::Install,
                notification_address: run.address.clone().unwrap_or_default(),
                iccid: run.metadata.as_ref().map(|m| m.iccid),
            },
            smdp_oid: oid(),
            final_result,
        }),
        euicc_sign_pir: signature(d),
    }
    .to_der()
}

/// The card's PendingNotification for `metadata`: an install result or another notification.
fn pending(metadata: NotificationMetadata, v: u8, d: &mut Data) -> PendingNotification {
    if metadata.profile_management_operation == NotificationEvent::Install && v % 2 == 1 {
        let pir = ProfileInstallationResult {
            profile_installation_result_data: Signed::new(ProfileInstallationResultData {
                transaction_id: d.fill(16),
                notification_metadata: metadata,
                smdp_oid: oid(),
                final_result: FinalResult::Error(ErrorResult {
                    bpp_command_id: BppCommandId::LoadProfileElements,
                    error_reason: ErrorReason::Interruption,
                    sima_response: None,
                }),
            }),
            euicc_sign_pir: signature(d),
        };
        return PendingNotification::ProfileInstallationResult(Signed::new(pir));
    }
    let f = fixtures();
    PendingNotification::OtherSignedNotification(Signed::new(OtherSignedNotification {
        tbs_other_notification: Signed::new(metadata),
        euicc_notification_signature: signature(d),
        euicc_certificate: f.euicc_certificate.clone(),
        eum_certificate: f.eum_certificate.clone(),
    }))
}

// ------------------------------------------------------------------------------------------------
// The server
// ------------------------------------------------------------------------------------------------

/// Choice byte: below 0x80 a plausible success (the byte picks its variant; 0 is well-formed),
/// then a plausible refusal, an HTTP error page, an arbitrary status and body, no answer.
fn server_input(request: &ServerRequest, d: &mut Data) -> Input {
    match d.byte() {
        v @ 0x00..=0x7F => {
            let (status, body) = plausible_server(request, v, d);
            Input::Server { status, body }
        }
        0x80..=0x9F => {
            let data = StatusCodeData {
                subject_code: ["8.1.1", "8.2.6", "8.8.5", "8.10.1", ""][d.below(5)].to_owned(),
                reason_code: ["3.8", "4.2", "6.4", "1.2", ""][d.below(5)].to_owned(),
                subject_identifier: (d.byte() & 1 == 1).then(|| d.text(16)),
                message: (d.byte() & 1 == 1).then(|| d.text(32)),
            };
            let status = match d.below(3) {
                0 => FunctionStatus::Failed,
                1 => FunctionStatus::Expired,
                _ => FunctionStatus::Other(d.text(16)),
            };
            let header = ResponseHeader {
                function_execution_status: FunctionExecutionStatus {
                    status,
                    status_code_data: (d.byte() % 4 != 3).then_some(data),
                },
            };
            let body = es9::encode_json(&Es9Response {
                header,
                body: EmptyBody {},
            })
            .expect("encodes");
            Input::Server {
                status: [200, 200, 400, 403, 404, 500][d.below(6)],
                body,
            }
        }
        0xA0..=0xBF => Input::Server {
            status: [500, 503, 502, 404, 408, 429, 302, 200, 204][d.below(9)],
            body: match d.below(4) {
                0 => Vec::new(),
                1 => b"<html><body>Internal Server Error</body></html>".to_vec(),
                2 => b"{}".to_vec(),
                _ => d.bytes(64),
            },
        },
        0xC0..=0xDF => Input::Server {
            status: d.u16(),
            body: d.long_bytes(1024),
        },
        _ => Input::ServerFailure(match d.below(4) {
            0 => ServerFailure::Connect(d.text(16)),
            1 => ServerFailure::Tls(d.text(16)),
            2 => ServerFailure::Timeout(Duration::from_millis(u64::from(d.u32()))),
            _ => ServerFailure::Other(d.text(16)),
        }),
    }
}

fn tlv(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; lpa_core::tlv::tlv_len(Tag(tag), value.len())];
    lpa_core::tlv::TlvWriter::new(&mut out)
        .write_tlv(Tag(tag), value)
        .expect("sized with tlv_len");
    out
}

/// A success answer; `v` bit 4 sends it `Executed-WithWarning`, bit 5 with HTTP 201.
fn success<T: serde::Serialize>(body: T, v: u8) -> (u16, Vec<u8>) {
    let header = if v & 0x10 != 0 {
        ResponseHeader::warning(StatusCodeData::new("8.1", "3.1"))
    } else {
        ResponseHeader::success()
    };
    let status = if v & 0x20 != 0 { 201 } else { 200 };
    (
        status,
        es9::encode_json(&Es9Response { header, body }).expect("encodes"),
    )
}

fn plausible_server(request: &ServerRequest, v: u8, d: &mut Data) -> (u16, Vec<u8>) {
    let f = fixtures();
    let variant = v & 0x0F;
    match request.function {
        ServerFunction::Es9(Es9Function::InitiateAuthentication)
        | ServerFunction::Es11(Es11Function::InitiateAuthentication) => {
            let asked: es9::InitiateAuthenticationRequest = es9::decode_request(&request.body)
                .unwrap_or_else(|_| es9::InitiateAuthenticationRequest {
                    euicc_challenge: vec![0; 16],
                    euicc_info1: Vec::new(),
                    smdp_address: request.address.clone(),
                });
            let tid = transaction_id(d);
            let signed = ServerSigned1 {
                transaction_id: if variant == 8 {
                    transaction_id(d).as_bytes().to_vec()
                } else {
                    tid.as_bytes().to_vec()
                },
                euicc_challenge: if variant == 9 {
                    d.bytes(16)
                } else {
                    asked.euicc_challenge
                },
                server_address: match variant {
                    10 => address(d),
                    // The check ignores ASCII case.
                    11 => asked.smdp_address.to_ascii_uppercase(),
                    _ => asked.smdp_address,
                },
                server_challenge: d.fill(16),
            };
            let body = es9::InitiateAuthenticationOk {
                transaction_id: tid,
                server_signed1: if variant == 15 {
                    tlv(0x30, &d.bytes(16))
                } else {
                    signed.to_der()
                },
                server_signature1: tlv(if variant == 12 { 0x04 } else { 0x5F37 }, &signature(d)),
                euicc_ci_pkid_to_be_used: tlv(
                    if variant == 13 { 0x5F37 } else { 0x04 },
                    &d.fill(20),
                ),
                server_certificate: if variant == 14 {
                    tlv(0x04, &d.bytes(16))
                } else {
                    f.server_certificate.clone()
                },
            };
            success(body, v)
        }
        ServerFunction::Es9(Es9Function::AuthenticateClient) => {
            let tid = es9::decode_request::<es9::AuthenticateClientRequest>(&request.body)
                .map(|r| r.transaction_id)
                .unwrap_or_else(|_| transaction_id(d));
            let other_tid = |d: &mut Data| {
                let mut t = tid.as_bytes().to_vec();
                t[0] ^= 1 + d.byte() % 0xFE;
                TransactionId::new(&t).expect("same length")
            };
            let signed2 = SmdpSigned2 {
                transaction_id: if variant == 9 {
                    other_tid(d).as_bytes().to_vec()
                } else {
                    tid.as_bytes().to_vec()
                },
                cc_required_flag: matches!(variant, 1 | 2),
                bpp_euicc_otpk: (variant == 3).then(|| d.fill(65)),
            };
            let metadata = match variant {
                7 => f.store_metadata.clone(),
                10 => tlv(0xBF25, &d.bytes(24)),
                _ => store_metadata(variant == 13, d).to_der(),
            };
            let body = es9::AuthenticateClientOk {
                transaction_id: if variant == 8 { other_tid(d) } else { tid },
                profile_metadata: metadata,
                smdp_signed2: signed2.to_der(),
                smdp_signature2: tlv(if variant == 11 { 0x04 } else { 0x5F37 }, &signature(d)),
                smdp_certificate: if variant == 12 {
                    tlv(0x02, &d.bytes(4))
                } else {
                    f.smdp_certificate.clone()
                },
            };
            success(body, v)
        }
        ServerFunction::Es9(Es9Function::GetBoundProfilePackage) => {
            let tid = es9::decode_request::<es9::GetBoundProfilePackageRequest>(&request.body)
                .map(|r| r.transaction_id)
                .unwrap_or_else(|_| transaction_id(d));
            let bpp = match variant % 8 {
                5 => f.bpp.clone(),
                7 => bound_profile_package(tid, true, d),
                _ => bound_profile_package(tid, false, d),
            };
            let body = es9::GetBoundProfilePackageOk {
                transaction_id: if variant % 8 == 6 {
                    transaction_id(d)
                } else {
                    tid
                },
                bound_profile_package: bpp,
            };
            success(body, v)
        }
        ServerFunction::Es11(Es11Function::AuthenticateClient) => {
            let tid = es9::decode_request::<es9::AuthenticateClientRequest>(&request.body)
                .map(|r| r.transaction_id)
                .ok();
            let n = if variant & 4 != 0 { 0 } else { 1 + d.below(3) };
            let events = (0..n)
                .map(|i| EventEntry {
                    event_id: match d.below(3) {
                        0 => format!("EVENT-{i}"),
                        1 => String::new(),
                        _ => d.text(24),
                    },
                    rsp_server_address: address(d),
                })
                .collect();
            let body = es9::Es11AuthenticateClientOk {
                transaction_id: match variant % 4 {
                    0 | 1 => tid,
                    2 => None,
                    _ => Some(transaction_id(d)),
                },
                event_entries: events,
            };
            success(body, v)
        }
        ServerFunction::Es9(Es9Function::HandleNotification)
        | ServerFunction::Es9(Es9Function::CancelSession) => match variant % 4 {
            0 | 1 if request.function == ServerFunction::Es9(Es9Function::HandleNotification) => {
                (204, Vec::new())
            }
            2 => (204, Vec::new()),
            _ => success(EmptyBody {}, v),
        },
    }
}

/// Profile metadata with fuzzed names and ICCID; `full` sets every optional field.
fn store_metadata(full: bool, d: &mut Data) -> StoreMetadataRequest {
    StoreMetadataRequest {
        iccid: iccid(d),
        service_provider_name: d.text(24),
        profile_name: d.text(24),
        icon_type: full.then_some(IconType::Png),
        icon: full.then(|| d.bytes(64)),
        profile_class: [
            ProfileClass::Operational,
            ProfileClass::Test,
            ProfileClass::Provisioning,
        ][d.below(3)],
        notification_configuration_info: full.then(|| {
            vec![NotificationConfigurationInformation {
                profile_management_operation: NotificationEvents::from_bits(&[0, 3]),
                notification_address: ADDRESSES[0].to_owned(),
            }]
        }),
        profile_owner: full.then(|| OperatorId {
            mcc_mnc: d.fill(3),
            gid1: None,
            gid2: None,
        }),
        profile_policy_rules: full.then(|| PprIds::from_bits(&[1])),
    }
}

/// A Bound Profile Package of fuzzed shape: 1 to 3 `87` segments in `A0`, 0 to 3 `88`, an
/// optional `A2`, 1 to 40 `86` (`broken`: none, which SGP.22 §2.5.5 does not allow).
fn bound_profile_package(tid: TransactionId, broken: bool, d: &mut Data) -> Vec<u8> {
    let shape = d.byte();
    let n87 = 1 + usize::from(shape & 3) % 3;
    let n88 = usize::from((shape >> 2) & 3);
    let a2 = shape & 0x10 != 0;
    let n86 = if broken { 0 } else { 1 + d.below(40) };
    let segment = |d: &mut Data| d.bytes(12);
    let mut otpk = vec![0x04];
    otpk.extend(d.fill(64));
    BoundProfilePackage {
        initialise_secure_channel_request: InitialiseSecureChannelRequest {
            remote_op_id: RemoteOpId::InstallBoundProfilePackage,
            transaction_id: tid.as_bytes().to_vec(),
            control_ref_template: ControlRefTemplate {
                key_type: vec![0x88],
                key_len: vec![0x10],
                host_id: d.bytes(16),
            },
            smdp_otpk: otpk,
            smdp_sign: signature(d),
        },
        first_sequence_of87: (0..n87).map(|_| Segment87(segment(d))).collect(),
        sequence_of88: (0..n88).map(|_| Segment88(segment(d))).collect(),
        second_sequence_of87: a2
            .then(|| (0..1 + d.below(2)).map(|_| Segment87(segment(d))).collect()),
        sequence_of86: (0..n86).map(|_| Segment86(segment(d))).collect(),
    }
    .to_der()
}

// ------------------------------------------------------------------------------------------------
// The user
// ------------------------------------------------------------------------------------------------

/// Choice byte `% 4 == 3` declines (the reason follows); otherwise Accept or a code.
fn user_input(question: &Question, d: &mut Data) -> Input {
    let c = d.byte();
    if c % 4 == 3 {
        return Input::User(Answer::Decline(cancel_reason(d)));
    }
    match question {
        Question::ConfirmationCode { .. } => Input::User(Answer::ConfirmationCode(match c % 4 {
            0 => "1234".to_owned(),
            1 => String::new(),
            _ => d.text(16),
        })),
        _ => Input::User(Answer::Accept),
    }
}
