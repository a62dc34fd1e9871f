//! `lpa-pcsc` against a real pcscd: the testbed's `SoftEuicc` sits in vsmartcard's virtual
//! reader ("Virtual PCD 00 00") through `lpa_testbed::vpcd`, and the transport reaches it the
//! way it reaches a USB reader: libpcsclite, pcscd, the reader driver.
//!
//! These tests need pcscd with vpcd (`scripts/pcsc-setup`, which `scripts/check` runs first;
//! the tests only check it is there) and FAIL, not skip, without it. The virtual reader is one per machine, so the tests
//! take turns on a process-wide lock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use lpa::transport::{ApduTransport, TransportError};
use lpa_core::apdu::{
    ExchangeConfig, INS_GET_RESPONSE, INS_STORE_DATA, ISD_R_AID, LogicalChannel, MAX_SHORT_COMMAND,
    StoreDataExchange, Transmit,
};
use lpa_core::der::{Decode, Encode, RawTlv, Signed};
use lpa_core::es9::{self, Es9Function};
use lpa_core::messages::{
    AuthenticateServerRequest, AuthenticateServerResponse, CancelSessionReason,
    CancelSessionRequest, CancelSessionResponse, CtxParams1, CtxParamsForCommonAuthentication,
    DeviceCapabilities, DeviceInfo, GetEuiccChallengeRequest, GetEuiccChallengeResponse,
    GetEuiccDataRequest, GetEuiccDataResponse, GetEuiccInfo1Request, ProfileInfoListRequest,
    ProfileInfoListResponse, ServerSigned1, Version,
};
use lpa_core::tlv::{Tag, Tlv};
use lpa_pcsc::{
    Access, OnClose, PcscConfig, PcscError, PcscTransport, PreferredProtocol, Protocol,
    ReaderSelector, list_readers, wait_for_card,
};
use lpa_testbed::card::{Card, SharedCard};
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::pki::{Curve, TestPki, TestPkiOptions};
use lpa_testbed::smdp::http::Request;
use lpa_testbed::smdp::{Smdp, SmdpConfig};
use lpa_testbed::vpcd::{EUICC_ATR, VirtualCard, VpcdConfig};

/// vpcd's first reader, the one on port 35963.
const READER: &str = "Virtual PCD 00 00";

/// The longest any single step here may take before the test fails.
const STEP: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------------------- PC/SC setup

/// Serialises the tests: there is one virtual reader.
fn reader_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fails the test unless pcscd runs with vpcd. Only a check: `scripts/pcsc-setup` (which
/// `scripts/check` runs first) sets PC/SC up. Unavailable PC/SC is a failure, never a skip.
fn require_pcsc() {
    lpa_testbed::support::require_pcsc_vpcd();
}

// ------------------------------------------------------------------------------- the bed

/// The SoftEuicc, recording every command it gets, and optionally answering late.
struct RecordingCard {
    euicc: SoftEuicc,
    commands: Arc<Mutex<Vec<Vec<u8>>>>,
    delay_ms: Arc<AtomicU64>,
}

impl Card for RecordingCard {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.commands.lock().unwrap().push(command.to_vec());
        let delay = self.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            thread::sleep(Duration::from_millis(delay));
        }
        self.euicc.transmit(command)
    }

    fn reset(&mut self) {
        self.euicc.reset();
    }
}

/// A SoftEuicc in vpcd's reader, and the test PKI it was made from.
struct Bed {
    virtual_card: VirtualCard,
    commands: Arc<Mutex<Vec<Vec<u8>>>>,
    delay_ms: Arc<AtomicU64>,
    eid: String,
    pki: TestPki,
    _turn: MutexGuard<'static, ()>,
}

impl Bed {
    fn new() -> Bed {
        let turn = reader_lock();
        require_pcsc();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let pki =
            TestPki::generate(&TestPkiOptions::new(Curve::NistP256, now - day, now + day)).unwrap();
        let euicc = SoftEuicc::new(
            EuiccIdentity::from_test_pki(&pki).unwrap(),
            EuiccConfig::new(now),
        )
        .unwrap();
        let eid = euicc.eid().to_string();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let card: SharedCard = Arc::new(Mutex::new(RecordingCard {
            euicc,
            commands: Arc::clone(&commands),
            delay_ms: Arc::clone(&delay_ms),
        }));
        let virtual_card = VirtualCard::start(card, VpcdConfig::new()).unwrap();
        assert!(
            virtual_card.wait_for_reader(STEP),
            "vpcd did not take the virtual card: {:?}",
            virtual_card.last_error()
        );
        wait_for_card(&ReaderSelector::name_contains(READER), STEP).unwrap();
        Bed {
            virtual_card,
            commands,
            delay_ms,
            eid,
            pki,
            _turn: turn,
        }
    }

    fn config(&self) -> PcscConfig {
        PcscConfig::new()
            .with_reader(ReaderSelector::name_contains(READER))
            .with_connect_timeout(STEP)
            .with_command_timeout(STEP)
            .with_store_data_timeout(STEP)
    }

    fn open(&self) -> PcscTransport {
        PcscTransport::open(self.config()).unwrap()
    }

    fn commands(&self) -> Vec<Vec<u8>> {
        self.commands.lock().unwrap().clone()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.virtual_card.stop();
        // Let pcscd see the card leave before the next test inserts its own.
        let end = Instant::now() + STEP;
        while Instant::now() < end {
            match list_readers(STEP) {
                Ok(readers) if readers.iter().any(|r| r.name == READER && r.card_present) => {
                    thread::sleep(Duration::from_millis(50))
                }
                _ => break,
            }
        }
    }
}

/// The names of this process's threads (Linux truncates them to 15 bytes).
fn live_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Fails unless no thread called `name` runs any more.
fn assert_thread_ended(name: &str) {
    assert!(name.len() <= 15, "{name} is truncated in /proc");
    let end = Instant::now() + STEP;
    while live_threads().iter().any(|t| t == name) {
        assert!(Instant::now() < end, "thread {name} is still running");
        thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------------------------- ES10 driver

/// One ES10 command through STORE DATA on `channel`, `61xx` followed by lpa-core.
fn es10(
    transport: &mut impl ApduTransport,
    channel: LogicalChannel,
    request: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let mut response = vec![0u8; 64 * 1024];
    let mut exchange =
        StoreDataExchange::new(channel, request, ExchangeConfig::default(), &mut response)?;
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    loop {
        match exchange.poll_transmit(&mut apdu)? {
            Transmit::Command(command) => {
                let answer = transport.transmit(command)?;
                exchange.handle_response(&answer)?;
            }
            Transmit::Done { len } => return Ok(exchange.response()[..len].to_vec()),
        }
    }
}

fn get_eid(transport: &mut impl ApduTransport, channel: LogicalChannel) -> String {
    let answer = es10(transport, channel, &GetEuiccDataRequest::eid().to_der()).unwrap();
    GetEuiccDataResponse::from_der(&answer)
        .unwrap()
        .eid_value
        .to_string()
}

fn get_profiles_info(
    transport: &mut impl ApduTransport,
    channel: LogicalChannel,
) -> ProfileInfoListResponse {
    let request = ProfileInfoListRequest {
        search_criteria: None,
        tag_list: None,
    };
    ProfileInfoListResponse::from_der(&es10(transport, channel, &request.to_der()).unwrap())
        .unwrap()
}

fn value_of(tlv: &[u8], tag: u32) -> Vec<u8> {
    Tlv::parse(tlv)
        .unwrap()
        .expect_tag(Tag(tag))
        .unwrap()
        .value()
        .to_vec()
}

fn device_info() -> DeviceInfo {
    DeviceInfo {
        tac: vec![0x35, 0x29, 0x06, 0x11],
        device_capabilities: DeviceCapabilities {
            eutran_epc_supported_release: Some(Version::new(15, 0, 0)),
            nr_5gc_supported_release: Some(Version::new(15, 0, 0)),
            ..DeviceCapabilities::default()
        },
        imei: None,
    }
}

// ------------------------------------------------------------------------------- tests

#[test]
fn es10_commands_over_t0_and_t1_through_the_isd_r_channel() {
    let bed = Bed::new();
    for (preference, expected) in [
        (PreferredProtocol::T0, Protocol::T0),
        (PreferredProtocol::T1, Protocol::T1),
        // pcsc-lite tries T=1 first when the card offers both (prothandler.c, PHSetProtocol).
        (PreferredProtocol::Any, Protocol::T1),
    ] {
        // pcsc-lite keeps the protocol it negotiated until the card is reset: each session
        // resets the card when it ends, so that the next may choose another.
        let config = bed
            .config()
            .with_protocol(preference)
            .with_on_close(OnClose::Reset);
        let mut transport = PcscTransport::open(config).unwrap();
        assert_eq!(transport.reader(), READER);
        assert_eq!(transport.protocol(), expected, "asked for {preference:?}");
        assert_eq!(transport.atr(), EUICC_ATR);

        // MANAGE CHANNEL + SELECT ISD-R through the trait's defaults.
        let (channel, fci) = transport.open_logical_channel(&ISD_R_AID).unwrap();
        assert_ne!(channel, LogicalChannel::BASIC);
        assert!(!fci.is_empty(), "SELECT returned no FCI");

        assert_eq!(get_eid(&mut transport, channel), bed.eid);
        match get_profiles_info(&mut transport, channel) {
            ProfileInfoListResponse::Ok(profiles) => assert!(profiles.is_empty()),
            other => panic!("GetProfilesInfo: {other:?}"),
        }
        transport.close_logical_channel(channel).unwrap();
        let session_thread = transport.thread_name().unwrap().to_owned();
        assert!(live_threads().contains(&session_thread));
        transport.close().unwrap();
        // close() joined the session thread.
        assert!(!live_threads().contains(&session_thread));
    }
    // What the card saw is what the LPA sent: MANAGE CHANNEL, SELECT, STORE DATA, unchanged by
    // pcscd or vpcd on either protocol.
    let commands = bed.commands();
    assert_eq!(commands[0], [0x00, 0x70, 0x00, 0x00, 0x01]);
    assert_eq!(commands[1][1..4], [0xA4, 0x04, 0x00]);
    assert_eq!(commands[1][5..21], ISD_R_AID);
    assert_eq!(
        commands[2],
        [
            0x81, 0xE2, 0x91, 0x00, 0x06, 0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A
        ]
    );
}

#[test]
fn another_protocol_than_the_one_in_use_is_refused_until_a_reset() {
    let bed = Bed::new();
    let t0 = PcscTransport::open(bed.config().with_protocol(PreferredProtocol::T0)).unwrap();
    assert_eq!(t0.protocol(), Protocol::T0);
    t0.close().unwrap(); // OnClose::Leave: the card stays in T=0
    let error = PcscTransport::open(bed.config().with_protocol(PreferredProtocol::T1)).unwrap_err();
    assert!(
        matches!(&error, PcscError::CardUnusable { .. })
            && error.to_string().contains("SCARD_E_PROTO_MISMATCH"),
        "{error:?}"
    );
    let t0_again = PcscTransport::open(bed.config().with_on_close(OnClose::Reset)).unwrap();
    assert_eq!(t0_again.protocol(), Protocol::T0);
    t0_again.close().unwrap();
    let t1 = PcscTransport::open(bed.config().with_protocol(PreferredProtocol::T1)).unwrap();
    assert_eq!(t1.protocol(), Protocol::T1);
}

#[test]
fn a_response_longer_than_256_bytes_follows_61xx_with_get_response() {
    let bed = Bed::new();
    for (preference, protocol) in [
        (PreferredProtocol::T0, Protocol::T0),
        (PreferredProtocol::T1, Protocol::T1),
    ] {
        let config = bed
            .config()
            .with_protocol(preference)
            .with_on_close(OnClose::Reset);
        let mut transport = PcscTransport::open(config).unwrap();
        assert_eq!(transport.protocol(), protocol);
        authenticate_server_then_cancel(&bed, &mut transport);
    }
}

/// GetEUICCChallenge, GetEUICCInfo1, ES9+ initiateAuthentication (in-process SM-DP+),
/// AuthenticateServer (a response of over 256 bytes) and CancelSession.
fn authenticate_server_then_cancel(bed: &Bed, transport: &mut PcscTransport) {
    let (channel, _) = transport.open_logical_channel(&ISD_R_AID).unwrap();

    // AuthenticateServer (SGP.22 §3.1.3 step 3) answers with euiccSigned1, its signature and
    // the eUICC and EUM certificates: well over 256 bytes. The SM-DP+ side runs in-process.
    let smdp = Smdp::new(SmdpConfig::from_pki(&bed.pki)).unwrap();
    let host = smdp.host().to_owned();
    let challenge = GetEuiccChallengeResponse::from_der(
        &es10(transport, channel, &GetEuiccChallengeRequest {}.to_der()).unwrap(),
    )
    .unwrap();
    let info1 = es10(transport, channel, &GetEuiccInfo1Request {}.to_der()).unwrap();
    let body = es9::encode_json(&es9::InitiateAuthenticationRequest {
        euicc_challenge: challenge.euicc_challenge.clone(),
        euicc_info1: info1,
        smdp_address: host.clone(),
    })
    .unwrap();
    let reply = smdp.handle(&Request::post(
        Es9Function::InitiateAuthentication.path(),
        &es9::REQUEST_HEADERS,
        &body,
    ));
    let init = es9::decode_response::<es9::InitiateAuthenticationOk>(reply.status, &reply.body)
        .unwrap()
        .body;
    let auth_server = AuthenticateServerRequest {
        server_signed1: Signed::<ServerSigned1>::from_raw(init.server_signed1.clone()).unwrap(),
        server_signature1: value_of(&init.server_signature1, 0x5F37),
        euicc_ci_pkid_to_be_used: value_of(&init.euicc_ci_pkid_to_be_used, 0x04),
        server_certificate: RawTlv::from_der(init.server_certificate.clone()).unwrap(),
        ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
            matching_id: Some("PCSC-TEST".to_owned()),
            device_info: device_info(),
        }),
    };
    let before = bed.commands().len();
    let answer = es10(transport, channel, &auth_server.to_der()).unwrap();
    assert!(answer.len() > 256, "only {} bytes", answer.len());
    assert!(matches!(
        AuthenticateServerResponse::from_der(&answer).unwrap(),
        AuthenticateServerResponse::Ok(_)
    ));
    // The card announced the data with 61xx and the LPA core fetched it with GET RESPONSE on the
    // same channel: pcscd did not do it on its own.
    let sent = &bed.commands()[before..];
    let get_responses: Vec<_> = sent.iter().filter(|c| c[1] == INS_GET_RESPONSE).collect();
    assert!(!get_responses.is_empty(), "no GET RESPONSE in {sent:02X?}");
    assert!(
        get_responses
            .iter()
            .all(|c| LogicalChannel::from_cla(c[0]) == channel)
    );
    assert_eq!(sent[0][1], INS_STORE_DATA);

    // End the session the card started (SGP.22 §3.1.3: a failure after step 2 cancels it).
    let cancel = CancelSessionRequest {
        transaction_id: init.transaction_id.as_bytes().to_vec(),
        reason: CancelSessionReason::EndUserRejection,
    };
    let cancelled = es10(transport, channel, &cancel.to_der()).unwrap();
    assert!(matches!(
        CancelSessionResponse::from_der(&cancelled).unwrap(),
        CancelSessionResponse::Ok(_)
    ));
    transport.close_logical_channel(channel).unwrap();
}

#[test]
fn an_exclusive_session_keeps_other_applications_out() {
    let bed = Bed::new();
    let first = bed.open();
    for access in [Access::Exclusive, Access::Shared] {
        let second = PcscTransport::open(bed.config().with_access(access)).unwrap_err();
        assert_eq!(
            second,
            PcscError::SharingViolation {
                reader: READER.to_owned()
            },
            "{access:?}"
        );
        assert!(matches!(
            TransportError::from(second),
            TransportError::Refused(_)
        ));
    }
    let readers = list_readers(STEP).unwrap();
    let ours = readers.iter().find(|r| r.name == READER).unwrap();
    assert!(ours.card_present && ours.exclusive, "{ours:?}");
    assert_eq!(ours.atr.as_deref(), Some(&EUICC_ATR[..]));
    first.close().unwrap();
    // Once the session ends, the next one gets in.
    let mut next = bed.open();
    let (channel, _) = next.open_logical_channel(&ISD_R_AID).unwrap();
    assert_eq!(get_eid(&mut next, channel), bed.eid);
}

#[test]
fn removing_the_card_mid_session_is_a_typed_error_not_a_hang() {
    let mut bed = Bed::new();
    let mut transport = bed.open();
    let (channel, _) = transport.open_logical_channel(&ISD_R_AID).unwrap();
    assert_eq!(get_eid(&mut transport, channel), bed.eid);

    let vpcd_thread = bed.virtual_card.thread_name().to_owned();
    bed.virtual_card.stop();
    assert_thread_ended(&vpcd_thread);
    let request = GetEuiccDataRequest::eid().to_der();
    let started = Instant::now();
    let first = es10(&mut transport, channel, &request).unwrap_err();
    assert!(started.elapsed() < STEP, "took {:?}", started.elapsed());
    assert!(matches!(first, TransportError::Io(_)), "{first:?}");
    // Within pcscd's presence polling (a few hundred milliseconds) the removal is reported as
    // such, and keeps being reported.
    let end = Instant::now() + STEP;
    let removed = loop {
        match transport.transmit_apdu(&[
            0x81, 0xE2, 0x91, 0x00, 0x06, 0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A,
        ]) {
            Err(e @ PcscError::CardRemoved { .. }) => break e,
            Err(PcscError::MalformedResponse { .. } | PcscError::Communication { .. }) => {
                assert!(Instant::now() < end, "the removal was never reported");
                thread::sleep(Duration::from_millis(50));
            }
            other => panic!("after removal: {other:?}"),
        }
    };
    assert_eq!(
        removed,
        PcscError::CardRemoved {
            reader: READER.to_owned()
        }
    );
    let mapped = es10(&mut transport, channel, &request).unwrap_err();
    assert!(
        matches!(&mapped, TransportError::Io(m) if m.contains("removed")),
        "{mapped:?}"
    );
    drop(transport);
    // A new session finds the reader empty.
    let error = PcscTransport::open(bed.config()).unwrap_err();
    assert!(
        matches!(
            error,
            PcscError::NoCard { .. } | PcscError::CardRemoved { .. }
        ),
        "{error:?}"
    );
    assert_eq!(
        wait_for_card(
            &ReaderSelector::name_contains(READER),
            Duration::from_millis(300)
        ),
        Err(PcscError::NoCard {
            reader: READER.to_owned()
        })
    );
}

#[test]
fn a_card_put_back_serves_a_new_session() {
    let bed = Bed::new();
    {
        let mut transport = bed.open();
        let (channel, _) = transport.open_logical_channel(&ISD_R_AID).unwrap();
        assert_eq!(get_eid(&mut transport, channel), bed.eid);
        bed.virtual_card.remove();
        let end = Instant::now() + STEP;
        while !matches!(
            transport.transmit_apdu(&[0x00, 0x70, 0x00, 0x00, 0x01]),
            Err(PcscError::CardRemoved { .. })
        ) {
            assert!(Instant::now() < end, "the removal was never reported");
            thread::sleep(Duration::from_millis(50));
        }
    }
    bed.virtual_card.insert();
    assert!(bed.virtual_card.wait_for_reader(STEP));
    wait_for_card(&ReaderSelector::name_contains(READER), STEP).unwrap();
    let mut transport = bed.open();
    // The card was power-cycled: channel 1 is free again.
    let (channel, _) = transport.open_logical_channel(&ISD_R_AID).unwrap();
    assert_eq!(channel.number(), 1);
    assert_eq!(get_eid(&mut transport, channel), bed.eid);
    assert!(bed.virtual_card.stats().connections >= 2);
}

#[test]
fn a_card_that_does_not_answer_in_time_fails_the_deadline_and_the_session() {
    let bed = Bed::new();
    let mut transport = PcscTransport::open(
        bed.config()
            .with_command_timeout(Duration::from_millis(300))
            .with_close_timeout(Duration::from_secs(5)),
    )
    .unwrap();
    bed.delay_ms.store(1_500, Ordering::Relaxed);
    let started = Instant::now();
    let error = transport
        .transmit_apdu(&[0x00, 0x70, 0x00, 0x00, 0x01])
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_millis(1_200),
        "waited {waited:?}"
    );
    assert!(
        matches!(&error, PcscError::Timeout { after, .. } if *after == Duration::from_millis(300)),
        "{error:?}"
    );
    assert!(matches!(
        TransportError::from(error),
        TransportError::Timeout { .. }
    ));
    // The late answer may still change the card: the session is over.
    assert!(matches!(
        transport.transmit_apdu(&[0x00, 0x70, 0x00, 0x00, 0x01]),
        Err(PcscError::SessionBroken { .. })
    ));
    // Dropping waits for the stuck transmit to end (within the close deadline), not forever.
    let dropping = Instant::now();
    drop(transport);
    assert!(dropping.elapsed() < Duration::from_secs(5));
    bed.delay_ms.store(0, Ordering::Relaxed);
    // The card itself is fine: a new session works.
    let mut again = bed.open();
    let (channel, _) = again.open_logical_channel(&ISD_R_AID).unwrap();
    assert_eq!(get_eid(&mut again, channel), bed.eid);
}

#[test]
fn readers_are_listed_and_chosen_by_name_or_index() {
    let bed = Bed::new();
    let readers = list_readers(STEP).unwrap();
    let index = readers.iter().position(|r| r.name == READER).unwrap();
    assert!(readers[index].card_present);
    assert_eq!(readers[index].atr.as_deref(), Some(&EUICC_ATR[..]));

    let by_index =
        PcscTransport::open(bed.config().with_reader(ReaderSelector::Index(index))).unwrap();
    assert_eq!(by_index.reader(), READER);
    by_index.close().unwrap();

    // vpcd's second reader (port 35964) is empty.
    let error = PcscTransport::open(
        bed.config()
            .with_reader(ReaderSelector::name_contains("virtual pcd 00 01")),
    )
    .unwrap_err();
    assert_eq!(
        error,
        PcscError::NoCard {
            reader: "Virtual PCD 00 01".to_owned()
        }
    );
    let error = PcscTransport::open(
        bed.config()
            .with_reader(ReaderSelector::name_contains("no such reader")),
    )
    .unwrap_err();
    match &error {
        PcscError::ReaderNotFound { available, .. } => {
            assert!(available.iter().any(|r| r == READER))
        }
        other => panic!("{other:?}"),
    }
    assert!(
        TransportError::from(error)
            .to_string()
            .contains("Virtual PCD 00 00")
    );
    let found = wait_for_card(&ReaderSelector::FirstWithCard, STEP).unwrap();
    assert!(found.card_present);
}
