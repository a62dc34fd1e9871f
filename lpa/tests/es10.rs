//! `lpa::es10::Es10Client` against the testbed's software eUICC (`SoftEuicc`), through an
//! `ApduTransport` adapter that counts what the card sees and can fail on purpose. Profiles are
//! installed the way the LPA will install them: ES2+ order, ES9+ through the test SM-DP+
//! (in process, `Smdp::handle`), and every ES10 step through the client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, SystemTime};

use lpa::es10::{
    BppLoadOutcome, Es10Client, Es10Command, Es10Config, Es10Error, PolicyRule, SegmentSize,
    TerminalCapabilityMode, policy, redact,
};
use lpa::transport::{ApduTransport, TransportError};
use lpa_core::apdu::{ApduError, INS_STORE_DATA, ISD_R_AID, KNOWN_ISD_R_AIDS, StatusWord};
use lpa_core::der::{Decode, Encode, RawTlv, Signed};
use lpa_core::es9::{self, Es9Function};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    AuthenticateServerRequest, AuthenticateServerResponse, CancelSessionReason,
    CancelSessionResponse, CtxParams1, CtxParamsForCommonAuthentication, DeviceCapabilities,
    DeviceInfo, IconType, NotificationEvent, OperatorId, PendingNotification, PprFlags, PprIds,
    PrepareDownloadRequest, PrepareDownloadResponse, ProfileClass, ProfileIdentifier,
    ProfileInfoListRequest, ProfileInfoListResponse, ProfilePolicyAuthorisationRule,
    ProfileSearchCriteria, ProfileState, ResetOptions, StoreMetadataRequest, Version,
};
use lpa_core::tlv::{Tag, Tlv};
use lpa_testbed::card::SharedCard;
use lpa_testbed::euicc::signed_data::tlv;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::pki::{self, Curve, TestPki, TestPkiOptions};
use lpa_testbed::smdp::{
    ConfirmOrderRequest, DownloadOrderRequest, Es2RequestHeader, Request, ServedProfile, Smdp,
    SmdpConfig,
};

// ------------------------------------------------------------------------------ the adapter

/// What the test sees of the adapter: the APDUs the card received, and switches.
#[derive(Clone, Default)]
struct Probe {
    /// Every command APDU delivered to the card.
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Fail the APDU that would be delivered as number `n` (0-based) with an I/O error.
    fail_at: Arc<Mutex<Option<usize>>>,
    /// Refuse APDUs carrying more data than this (as a modem refusing long AT+CSIM lines
    /// does), after lowering the client's segment size to it.
    limit: Arc<Mutex<Option<(usize, SegmentSize)>>>,
}

impl Probe {
    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn since(&self, n: usize) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap()[n..].to_vec()
    }
}

/// An `ApduTransport` over a shared `Card`; channel management comes from the trait's
/// defaults (MANAGE CHANNEL and SELECT through `transmit`).
struct SoftCardTransport {
    card: SharedCard,
    probe: Probe,
}

impl ApduTransport for SoftCardTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if let Some((max, handle)) = self.probe.limit.lock().unwrap().as_ref() {
            let lc = if command.len() > 5 {
                usize::from(command[4])
            } else {
                0
            };
            if lc > *max {
                handle.set(*max).unwrap();
                return Err(TransportError::Refused(format!(
                    "+CME ERROR: command of {lc} data bytes too long"
                )));
            }
        }
        let n = self.probe.count();
        if *self.probe.fail_at.lock().unwrap() == Some(n) {
            return Err(TransportError::Io("serial port unplugged".to_owned()));
        }
        self.probe.seen.lock().unwrap().push(command.to_vec());
        Ok(self.card.lock().unwrap().transmit(command))
    }
}

// ---------------------------------------------------------------------------- the testbed

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        TestPki::generate(&TestPkiOptions::new(Curve::NistP256, now - day, now + day)).unwrap()
    })
}

fn euicc_config() -> EuiccConfig {
    EuiccConfig::new(SystemTime::now())
}

/// A SoftEuicc and a test SM-DP+ sharing one PKI.
struct Bed {
    card: Arc<Mutex<SoftEuicc>>,
    smdp: Smdp,
}

impl Bed {
    fn new(config: EuiccConfig) -> Self {
        capture_logs();
        let card = SoftEuicc::new(EuiccIdentity::from_test_pki(pki()).unwrap(), config).unwrap();
        Bed {
            card: Arc::new(Mutex::new(card)),
            smdp: Smdp::new(SmdpConfig::from_pki(pki())).unwrap(),
        }
    }

    fn client(&self, config: Es10Config) -> (Es10Client<SoftCardTransport>, Probe) {
        let probe = Probe::default();
        let shared: SharedCard = self.card.clone();
        let transport = SoftCardTransport {
            card: shared,
            probe: probe.clone(),
        };
        (Es10Client::new(transport, config), probe)
    }

    fn opened(&self, config: Es10Config) -> (Es10Client<SoftCardTransport>, Probe) {
        let (mut client, probe) = self.client(config);
        client.open().unwrap();
        (client, probe)
    }

    fn eid(&self) -> String {
        self.card.lock().unwrap().eid().to_string()
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let response = self
            .smdp
            .handle(&Request::post(path, &es9::REQUEST_HEADERS, body));
        (response.status, response.body)
    }

    fn es9<T: es9::ResponseBody>(&self, function: Es9Function, body: Vec<u8>) -> T {
        let (status, answer) = self.post(function.path(), &body);
        es9::decode_response::<T>(status, &answer)
            .unwrap_or_else(|e| panic!("{function:?}: {e}"))
            .body
    }

    fn es2(&self, function: &str, body: Vec<u8>) {
        let (status, answer) = self.post(&format!("/gsma/rsp2/es2plus/{function}"), &body);
        es9::decode_response::<es9::EmptyBody>(status, &answer)
            .unwrap_or_else(|e| panic!("{function}: {e}"));
    }

    /// ES2+ DownloadOrder + ConfirmOrder (released) for `profile`; returns the matching ID.
    fn order(&self, profile: ServedProfile) -> String {
        static N: AtomicU32 = AtomicU32::new(1);
        let matching_id = format!(
            "ES10-TEST-MATCHING-ID-{:04}",
            N.fetch_add(1, Ordering::SeqCst)
        );
        let iccid = profile.iccid.to_string();
        self.smdp.add_profile(profile).unwrap();
        let header = Es2RequestHeader {
            function_requester_identifier: "operator-1".to_owned(),
            function_call_identifier: "call-1".to_owned(),
        };
        self.es2(
            "downloadOrder",
            es9::encode_json(&DownloadOrderRequest {
                header: header.clone(),
                eid: Some(self.eid()),
                iccid: Some(iccid.clone()),
                profile_type: None,
            })
            .unwrap(),
        );
        self.es2(
            "confirmOrder",
            es9::encode_json(&ConfirmOrderRequest {
                header,
                iccid,
                eid: Some(self.eid()),
                matching_id: Some(matching_id.clone()),
                confirmation_code: None,
                smds_address: None,
                release_flag: true,
            })
            .unwrap(),
        );
        matching_id
    }
}

fn value_of(der: &[u8], tag: u32) -> Vec<u8> {
    Tlv::parse(der)
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
            ..DeviceCapabilities::default()
        },
        imei: Some(vec![0x35, 0x29, 0x06, 0x11, 0x22, 0x33, 0x44, 0x5F]),
    }
}

/// SGP.22 §3.1.3 steps 1 to 4: challenge, initiateAuthentication, AuthenticateServer,
/// authenticateClient. Returns the transactionId and the SM-DP+'s answer.
fn authenticate<T: ApduTransport>(
    bed: &Bed,
    client: &mut Es10Client<T>,
    matching_id: &str,
) -> (es9::TransactionId, es9::AuthenticateClientOk) {
    let challenge = client.euicc_challenge().unwrap();
    let info1 = client.euicc_info1().unwrap();
    let init: es9::InitiateAuthenticationOk = bed.es9(
        Es9Function::InitiateAuthentication,
        es9::encode_json(&es9::InitiateAuthenticationRequest {
            euicc_challenge: challenge.to_vec(),
            euicc_info1: info1.raw,
            smdp_address: bed.smdp.host().to_owned(),
        })
        .unwrap(),
    );
    let request = AuthenticateServerRequest {
        server_signed1: Signed::from_raw(init.server_signed1.clone()).unwrap(),
        server_signature1: value_of(&init.server_signature1, 0x5F37),
        euicc_ci_pkid_to_be_used: value_of(&init.euicc_ci_pkid_to_be_used, 0x04),
        server_certificate: RawTlv::from_der(init.server_certificate.clone()).unwrap(),
        ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
            matching_id: Some(matching_id.to_owned()),
            device_info: device_info(),
        }),
    };
    let auth = client.authenticate_server(&request.to_der()).unwrap();
    assert!(
        matches!(auth.decoded, AuthenticateServerResponse::Ok(_)),
        "{:?}",
        auth.decoded
    );
    let answer: es9::AuthenticateClientOk = bed.es9(
        Es9Function::AuthenticateClient,
        es9::encode_json(&es9::AuthenticateClientRequest {
            transaction_id: init.transaction_id,
            authenticate_server_response: auth.raw,
        })
        .unwrap(),
    );
    (init.transaction_id, answer)
}

/// Steps 5 to 7: PrepareDownload, getBoundProfilePackage, LoadBoundProfilePackage.
fn finish_download<T: ApduTransport>(
    bed: &Bed,
    client: &mut Es10Client<T>,
    transaction_id: es9::TransactionId,
    answer: es9::AuthenticateClientOk,
) -> BppLoadOutcome {
    let request = PrepareDownloadRequest {
        smdp_signed2: Signed::from_raw(answer.smdp_signed2).unwrap(),
        smdp_signature2: value_of(&answer.smdp_signature2, 0x5F37),
        hash_cc: None,
        smdp_certificate: RawTlv::from_der(answer.smdp_certificate).unwrap(),
    };
    let prepared = client.prepare_download(&request.to_der()).unwrap();
    assert!(matches!(prepared.decoded, PrepareDownloadResponse::Ok(_)));
    let bpp: es9::GetBoundProfilePackageOk = bed.es9(
        Es9Function::GetBoundProfilePackage,
        es9::encode_json(&es9::GetBoundProfilePackageRequest {
            transaction_id,
            prepare_download_response: prepared.raw,
        })
        .unwrap(),
    );
    client.load_bpp(&bpp.bound_profile_package).unwrap()
}

/// A whole download of `profile`; returns its ICCID and the metadata the user was shown.
fn install<T: ApduTransport>(
    bed: &Bed,
    client: &mut Es10Client<T>,
    profile: ServedProfile,
) -> (Iccid, StoreMetadataRequest) {
    let iccid = profile.iccid;
    let matching_id = bed.order(profile);
    let (tid, answer) = authenticate(bed, client, &matching_id);
    let metadata = StoreMetadataRequest::from_der(&answer.profile_metadata).unwrap();
    let outcome = finish_download(bed, client, tid, answer);
    assert!(outcome.is_success(), "{:?}", outcome.result.decoded);
    assert_eq!(outcome.sequences_sent, outcome.sequences_total);
    assert!(!outcome.answered_early);
    (iccid, metadata)
}

/// Sends every pending notification to the SM-DP+ and removes it from the card afterwards.
fn deliver_notifications<T: ApduTransport>(bed: &Bed, client: &mut Es10Client<T>) -> usize {
    let list = client.list_notifications(None).unwrap();
    for metadata in &list {
        let pending = client
            .retrieve_notification(metadata.seq_number)
            .unwrap()
            .expect("listed notification");
        assert_eq!(&pending.metadata, metadata);
        let _: es9::EmptyBody = bed.es9(
            Es9Function::HandleNotification,
            es9::encode_json(&es9::HandleNotificationRequest {
                pending_notification: pending.raw,
            })
            .unwrap(),
        );
        assert!(client.remove_notification(metadata.seq_number).unwrap());
    }
    list.len()
}

fn iccid_id(iccid: Iccid) -> ProfileIdentifier {
    ProfileIdentifier::Iccid(iccid)
}

fn refused(e: Es10Error) -> (Es10Command, i64, &'static str) {
    match e {
        Es10Error::CardRefused {
            command,
            code,
            meaning,
        } => (command, code, meaning),
        other => panic!("expected a card refusal, got {other:?}"),
    }
}

// --------------------------------------------------------------------------- log capture

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

static LINES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Keeps the log lines of threads that asked for it; every level is enabled, so the tracing
/// paths of every test run.
struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if CAPTURING.with(Cell::get) {
            let thread = std::thread::current().name().unwrap_or_default().to_owned();
            let line = format!("{} {} {}", record.level(), record.target(), record.args());
            LINES.lock().unwrap().push((thread, line));
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        static LOGGER: CaptureLogger = CaptureLogger;
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn my_lines() -> Vec<String> {
    let me = std::thread::current().name().unwrap_or_default().to_owned();
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t == me)
        .map(|(_, l)| l.clone())
        .collect()
}

// ---------------------------------------------------------------------------------- tests

#[test]
fn every_typed_call_works_against_the_soft_euicc() {
    let bed = Bed::new(euicc_config());
    let (mut client, _) = bed.opened(Es10Config::new());
    assert_eq!(client.isd_r_aid(), Some(&ISD_R_AID[..]));
    assert_eq!(client.select_response().unwrap()[0], 0x6F);

    // Identity and information.
    assert_eq!(client.get_eid().unwrap().to_string(), bed.eid());
    let info1 = client.euicc_info1().unwrap();
    assert_eq!(info1.decoded.svn, Version::new(2, 5, 0));
    assert_eq!(info1.decoded.to_der(), info1.raw);
    let info2 = client.euicc_info2().unwrap();
    assert_eq!(info2.info.svn, Version::new(2, 5, 0));
    assert_eq!(info2.resources.installed_applications, Some(0));
    assert_eq!(info2.resources.free_non_volatile_memory, Some(8 * 0x1_0000));
    assert_eq!(info2.resources.free_volatile_memory, Some(0x2000));
    let c1 = client.euicc_challenge().unwrap();
    let c2 = client.euicc_challenge().unwrap();
    assert_ne!(c1, c2);

    // Addresses and the RAT.
    let addresses = client.configured_addresses().unwrap();
    assert_eq!(addresses.root_ds_address, "testrootsmds.example.com");
    assert_eq!(addresses.default_dp_address, None);
    client.set_default_dp_address("smdp.example.org").unwrap();
    assert_eq!(
        client
            .configured_addresses()
            .unwrap()
            .default_dp_address
            .as_deref(),
        Some("smdp.example.org")
    );
    client.set_default_dp_address("").unwrap();
    assert_eq!(
        client.configured_addresses().unwrap().default_dp_address,
        None
    );
    let rat = client.rat().unwrap();
    assert_eq!(rat.len(), 1);
    assert!(rat[0].ppr_ids.contains(PprIds::PPR1) && rat[0].ppr_ids.contains(PprIds::PPR2));

    // Two profiles: an operational one with an icon, a test one.
    let mut a = ServedProfile::demo(1);
    a.icon = Some((
        IconType::Png,
        vec![0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A],
    ));
    let (a, _) = install(&bed, &mut client, a);
    let mut b = ServedProfile::demo(2);
    b.profile_class = ProfileClass::Test;
    let (b, _) = install(&bed, &mut client, b);

    let all = client.all_profiles().unwrap();
    assert_eq!(all.len(), 2);
    let pa = &all[0];
    assert_eq!(pa.iccid, Some(a));
    assert_eq!(pa.profile_state, Some(ProfileState::Disabled));
    assert_eq!(pa.profile_class, Some(ProfileClass::Operational));
    assert_eq!(pa.icon_type, Some(IconType::Png));
    assert_eq!(pa.icon.as_ref().unwrap().len(), 8);
    assert!(pa.isdp_aid.is_some());
    assert!(pa.notification_configuration_info.is_some());
    assert_eq!(pa.profile_policy_rules, None);
    let aid_a = pa.isdp_aid.clone().unwrap();

    // Search criteria and tag lists.
    let by_iccid = client
        .profiles(Some(ProfileSearchCriteria::Iccid(b)), None)
        .unwrap();
    assert_eq!(by_iccid.len(), 1);
    assert_eq!(by_iccid[0].profile_class, Some(ProfileClass::Test));
    let by_aid = client
        .profiles(Some(ProfileSearchCriteria::IsdpAid(aid_a.clone())), None)
        .unwrap();
    assert_eq!(by_aid[0].iccid, Some(a));
    let tests = client
        .profiles(
            Some(ProfileSearchCriteria::ProfileClass(ProfileClass::Test)),
            None,
        )
        .unwrap();
    assert_eq!(tests.iter().map(|p| p.iccid).collect::<Vec<_>>(), [Some(b)]);
    let narrow = client.profiles(None, Some(&[0x5A, 0x9F, 0x70])).unwrap();
    assert_eq!(narrow.len(), 2);
    assert!(narrow[0].iccid.is_some() && narrow[0].profile_state.is_some());
    assert!(narrow[0].profile_name.is_none() && narrow[0].isdp_aid.is_none());
    let unknown = Iccid::from_digits("8901234567890123456").unwrap();
    assert_eq!(client.profile(&unknown).unwrap(), None);

    // Enable (by ISD-P AID), nickname.
    client
        .enable(&ProfileIdentifier::IsdpAid(aid_a.clone()), false)
        .unwrap();
    assert_eq!(
        client.profile(&a).unwrap().unwrap().profile_state,
        Some(ProfileState::Enabled)
    );
    client.set_nickname(&a, "Work").unwrap();
    assert_eq!(
        client
            .profile(&a)
            .unwrap()
            .unwrap()
            .profile_nickname
            .as_deref(),
        Some("Work")
    );

    // Notifications: two installs and an enable.
    let list = client.list_notifications(None).unwrap();
    assert_eq!(list.len(), 3);
    let enables = client
        .list_notifications(Some(NotificationEvent::Enable))
        .unwrap();
    assert_eq!(enables.len(), 1);
    assert_eq!(enables[0].iccid, Some(a));
    let all_pending = client.retrieve_notifications(None).unwrap();
    assert_eq!(all_pending.len(), 3);
    for (n, m) in all_pending.iter().zip(&list) {
        assert_eq!(&n.metadata, m);
        assert_eq!(
            PendingNotification::from_der(&n.raw).unwrap(),
            n.notification
        );
    }
    let installs = client
        .retrieve_notifications(Some(
            lpa_core::messages::NotificationSearchCriteria::ProfileManagementOperation(
                NotificationEvent::Install,
            ),
        ))
        .unwrap();
    assert_eq!(installs.len(), 2);
    assert!(matches!(
        installs[0].notification,
        PendingNotification::ProfileInstallationResult(_)
    ));
    assert_eq!(client.retrieve_notification(9_999).unwrap(), None);
    assert_eq!(deliver_notifications(&bed, &mut client), 3);
    assert!(!client.remove_notification(list[0].seq_number).unwrap());
    assert!(client.list_notifications(None).unwrap().is_empty());

    // Disable, delete (by ICCID), memory reset.
    client.disable(&iccid_id(a), true).unwrap();
    client.delete(&iccid_id(a)).unwrap();
    assert_eq!(client.all_profiles().unwrap().len(), 1);
    let deletes = client.list_notifications(None).unwrap();
    assert_eq!(
        deletes
            .iter()
            .map(|m| m.profile_management_operation)
            .collect::<Vec<_>>(),
        [NotificationEvent::Disable, NotificationEvent::Delete]
    );
    let test_profiles = ResetOptions::from_bits(&[ResetOptions::DELETE_FIELD_LOADED_TEST_PROFILES]);
    assert!(client.memory_reset(test_profiles.clone()).unwrap());
    assert!(client.all_profiles().unwrap().is_empty());
    assert!(!client.memory_reset(test_profiles).unwrap());

    // The raw call.
    let raw = client
        .call(
            &ProfileInfoListRequest {
                search_criteria: None,
                tag_list: None,
            }
            .to_der(),
        )
        .unwrap();
    assert_eq!(
        ProfileInfoListResponse::from_der(&raw).unwrap(),
        ProfileInfoListResponse::Ok(vec![])
    );
    client.close().unwrap();
    assert!(!client.is_open());
}

#[test]
fn downloads_and_profile_commands_at_segment_sizes_255_64_and_16() {
    let mut apdus = Vec::new();
    for segment in [255, 64, 16] {
        let bed = Bed::new(euicc_config());
        let (mut client, probe) = bed.opened(Es10Config::new().with_segment_size(segment));
        assert_eq!(client.segment_size(), segment);
        let (iccid, _) = install(&bed, &mut client, ServedProfile::demo(3));
        client
            .set_nickname(&iccid, "a nickname that takes several blocks")
            .unwrap();
        client.enable(&iccid_id(iccid), false).unwrap();
        let info = client.profile(&iccid).unwrap().unwrap();
        assert_eq!(info.profile_state, Some(ProfileState::Enabled));
        assert_eq!(
            info.profile_nickname.as_deref(),
            Some("a nickname that takes several blocks")
        );
        // No STORE DATA block carried more than the segment size.
        let seen = probe.since(0);
        assert!(
            seen.iter()
                .filter(|c| c[1] == INS_STORE_DATA)
                .all(|c| usize::from(c[4]) <= segment)
        );
        apdus.push(probe.count());
    }
    assert!(apdus[0] < apdus[1] && apdus[1] < apdus[2], "{apdus:?}");
}

#[test]
fn segment_size_changes_at_run_time() {
    let bed = Bed::new(euicc_config());
    let (mut client, probe) = bed.opened(Es10Config::new());
    let address = "a-rather-long-default-smdp-address.example.org";
    let n = probe.count();
    client.set_default_dp_address(address).unwrap();
    assert_eq!(probe.count() - n, 1);
    client.set_segment_size(16).unwrap();
    let n = probe.count();
    client.set_default_dp_address(address).unwrap();
    assert_eq!(probe.count() - n, 4);
    // The handle is the same value.
    let handle = client.segment_size_handle();
    handle.set(32).unwrap();
    assert_eq!(client.segment_size(), 32);
    assert!(matches!(
        client.set_segment_size(0),
        Err(Es10Error::InvalidInput { .. })
    ));
    assert!(matches!(
        client.set_segment_size(256),
        Err(Es10Error::InvalidInput { .. })
    ));
    assert_eq!(client.segment_size(), 32);
}

#[test]
fn a_transport_that_lowers_the_segment_size_gets_the_command_sent_again() {
    let bed = Bed::new(euicc_config());
    let (mut client, probe) = bed.opened(Es10Config::new());
    *probe.limit.lock().unwrap() = Some((64, client.segment_size_handle()));
    let (iccid, _) = install(&bed, &mut client, ServedProfile::demo(4));
    assert_eq!(client.segment_size(), 64);
    assert!(
        probe
            .since(0)
            .iter()
            .filter(|c| c.len() > 5)
            .all(|c| usize::from(c[4]) <= 64)
    );
    assert!(client.profile(&iccid).unwrap().is_some());
}

#[test]
fn a_vendor_isd_r_aid_is_found_by_probing_and_remembered() {
    let vendor = KNOWN_ISD_R_AIDS[1];
    let mut config = euicc_config();
    config.isd_r_aid = vendor.to_vec();
    let bed = Bed::new(config);
    let (mut client, probe) = bed.client(Es10Config::new());
    client.open().unwrap();
    assert_eq!(client.isd_r_aid(), Some(&vendor[..]));
    // The GSMA AID was tried first and refused: MANAGE CHANNEL, SELECT, MANAGE CHANNEL close,
    // then MANAGE CHANNEL and SELECT of the vendor AID.
    let opening = probe.since(0);
    assert_eq!(opening.len(), 5, "{opening:02X?}");
    assert_eq!(&opening[1][5..21], &ISD_R_AID[..]);
    assert_eq!(&opening[4][5..21], &vendor[..]);
    assert_eq!(client.get_eid().unwrap().to_string(), bed.eid());

    // Opened again, the remembered AID is tried first: two APDUs.
    client.close().unwrap();
    let n = probe.count();
    client.open().unwrap();
    assert_eq!(probe.count() - n, 2);
    assert_eq!(client.isd_r_aid(), Some(&vendor[..]));
    client.get_eid().unwrap();
}

#[test]
fn no_isd_r_under_the_configured_aids_is_no_isd_r() {
    let mut config = euicc_config();
    config.isd_r_aid = KNOWN_ISD_R_AIDS[2].to_vec();
    let bed = Bed::new(config);
    let (mut client, _) = bed.client(Es10Config::new().with_isd_r_aid(&ISD_R_AID));
    let Err(Es10Error::NoIsdR { tried }) = client.open() else {
        panic!("expected NoIsdR");
    };
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0].0, ISD_R_AID.to_vec());
    assert!(matches!(
        &tried[0].1,
        TransportError::Apdu(ApduError::Status {
            sw: StatusWord(0x6A82),
            ..
        })
    ));
    assert!(!client.is_open());
    assert!(matches!(client.get_eid(), Err(Es10Error::NotOpen)));
    // No channel leaked.
    assert_eq!(bed.card.lock().unwrap().open_channels(), [0]);
}

#[test]
fn terminal_capability_required_by_the_card() {
    let lpad = [0xA9, 0x05, 0x81, 0x00, 0x83, 0x01, 0x07];
    let bed_requiring = || {
        let mut config = euicc_config();
        config.require_terminal_capability = true;
        Bed::new(config)
    };

    // Never: the card refuses STORE DATA with 6985.
    let bed = bed_requiring();
    let (mut client, _) =
        bed.opened(Es10Config::new().with_terminal_capability_mode(TerminalCapabilityMode::Never));
    let e = client.get_eid().unwrap_err();
    assert_eq!(e.status_word(), Some(StatusWord(0x6985)));
    assert!(matches!(
        e,
        Es10Error::Apdu {
            command: Es10Command::GetEid,
            error: ApduError::Status {
                ins: INS_STORE_DATA,
                block: 0,
                ..
            },
        }
    ));

    // On demand (the default): sent on the session's channel after the 6985, then the command
    // again.
    let bed = bed_requiring();
    let (mut client, probe) = bed.opened(Es10Config::new());
    assert!(!client.terminal_capability_sent());
    assert_eq!(client.get_eid().unwrap().to_string(), bed.eid());
    assert!(client.terminal_capability_sent());
    assert_eq!(
        bed.card.lock().unwrap().terminal_capability(),
        Some(&lpad[..])
    );
    let channel = client.channel().unwrap();
    let tc: Vec<_> = probe
        .since(0)
        .into_iter()
        .filter(|c| c[1] == 0xAA)
        .collect();
    assert_eq!(tc.len(), 1);
    assert_eq!(tc[0][0], channel.cla(true));
    assert_eq!(&tc[0][5..], &lpad[..]);
    // Once per session.
    let n = probe.count();
    client.get_eid().unwrap();
    assert_eq!(probe.count() - n, 1);

    // After SELECT.
    let bed = bed_requiring();
    let (mut client, probe) = bed.opened(
        Es10Config::new().with_terminal_capability_mode(TerminalCapabilityMode::AfterSelect),
    );
    assert!(client.terminal_capability_sent());
    assert_eq!(
        bed.card.lock().unwrap().terminal_capability(),
        Some(&lpad[..])
    );
    assert_eq!(probe.since(0)[2][1], 0xAA);
    client.get_eid().unwrap();

    // Before opening, on the basic channel.
    let bed = bed_requiring();
    let (mut client, probe) = bed.opened(
        Es10Config::new().with_terminal_capability_mode(TerminalCapabilityMode::BeforeOpen),
    );
    let first = &probe.since(0)[0];
    assert_eq!(&first[..5], &[0x80, 0xAA, 0x00, 0x00, 0x07]);
    assert!(client.terminal_capability_sent());
    client.get_eid().unwrap();
}

#[test]
fn card_refusals_map_to_result_codes() {
    let bed = Bed::new(euicc_config());
    let (mut client, _) = bed.opened(Es10Config::new());
    let (a, _) = install(&bed, &mut client, ServedProfile::demo(5));
    client.enable(&iccid_id(a), false).unwrap();

    assert_eq!(
        refused(client.enable(&iccid_id(a), false).unwrap_err()),
        (Es10Command::EnableProfile, 2, "profileNotInDisabledState")
    );
    let e = client.delete(&iccid_id(a)).unwrap_err();
    assert_eq!(e.result_code(), Some(2));
    assert_eq!(
        e.to_string(),
        "DeleteProfile refused by the eUICC: profileNotInDisabledState (2)"
    );
    assert_eq!(
        refused(e),
        (Es10Command::DeleteProfile, 2, "profileNotInDisabledState")
    );
    let unknown = Iccid::from_digits("8901234567890123456").unwrap();
    assert_eq!(
        refused(client.enable(&iccid_id(unknown), false).unwrap_err()),
        (Es10Command::EnableProfile, 1, "iccidOrAidNotFound")
    );
    assert_eq!(
        refused(client.disable(&iccid_id(unknown), false).unwrap_err()),
        (Es10Command::DisableProfile, 1, "iccidOrAidNotFound")
    );
    assert_eq!(
        refused(client.delete(&iccid_id(unknown)).unwrap_err()),
        (Es10Command::DeleteProfile, 1, "iccidOrAidNotFound")
    );
    assert_eq!(
        refused(client.set_nickname(&unknown, "x").unwrap_err()),
        (Es10Command::SetNickname, 1, "iccidNotFound")
    );
    client.disable(&iccid_id(a), false).unwrap();
    assert_eq!(
        refused(client.disable(&iccid_id(a), false).unwrap_err()),
        (Es10Command::DisableProfile, 2, "profileNotInEnabledState")
    );
    // A malformed tag list.
    assert_eq!(
        refused(client.profiles(None, Some(&[0xBF])).unwrap_err()),
        (Es10Command::GetProfilesInfo, 1, "incorrectInputValues")
    );
}

#[test]
fn policy_rules_refuse_before_anything_is_sent() {
    let bed = Bed::new(euicc_config());
    let (mut client, probe) = bed.opened(Es10Config::new());
    let mut locked = ServedProfile::demo(6);
    locked.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR1, PprIds::PPR2]));
    locked.profile_owner = Some(OperatorId {
        mcc_mnc: vec![0x00, 0xF1, 0x10],
        gid1: None,
        gid2: None,
    });
    let (p, _) = install(&bed, &mut client, locked);
    let (q, _) = install(&bed, &mut client, ServedProfile::demo(7));
    client.enable(&iccid_id(p), false).unwrap();
    let profiles = client.all_profiles().unwrap();

    let n = probe.count();
    let forbidden = |e: Es10Error| match e {
        Es10Error::PolicyForbids { command, rule } => (command, rule),
        other => panic!("expected PolicyForbids, got {other:?}"),
    };
    assert_eq!(
        forbidden(
            client
                .disable_checked(&profiles, &iccid_id(p), false)
                .unwrap_err()
        ),
        (Es10Command::DisableProfile, PolicyRule::Ppr1)
    );
    assert_eq!(
        forbidden(client.delete_checked(&profiles, &iccid_id(p)).unwrap_err()),
        (Es10Command::DeleteProfile, PolicyRule::Ppr2)
    );
    assert_eq!(
        forbidden(
            client
                .enable_checked(&profiles, &iccid_id(q), false)
                .unwrap_err()
        ),
        (Es10Command::EnableProfile, PolicyRule::Ppr1)
    );
    // The card saw nothing.
    assert_eq!(probe.count(), n);

    // The card agrees when asked anyway.
    assert_eq!(
        refused(client.disable(&iccid_id(p), false).unwrap_err()),
        (Es10Command::DisableProfile, 3, "disallowedByPolicy")
    );
    assert_eq!(
        refused(client.enable(&iccid_id(q), false).unwrap_err()),
        (Es10Command::EnableProfile, 3, "disallowedByPolicy")
    );
    // A profile without rules goes through to the card.
    let n = probe.count();
    client.delete_checked(&profiles, &iccid_id(q)).unwrap();
    assert!(probe.count() > n);
    assert_eq!(client.all_profiles().unwrap().len(), 1);
}

#[test]
fn install_policy_checks_the_rat_and_the_forbidden_rules() {
    let owner = OperatorId {
        mcc_mnc: vec![0x00, 0xF1, 0x10],
        gid1: None,
        gid2: None,
    };
    let mut config = euicc_config();
    config.forbidden_profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR2]));
    config.rules_authorisation_table = vec![ProfilePolicyAuthorisationRule {
        ppr_ids: PprIds::from_bits(&[PprIds::PPR1]),
        allowed_operators: vec![owner.clone()],
        ppr_flags: PprFlags::from_bits(&[PprFlags::CONSENT_REQUIRED]),
    }];
    let bed = Bed::new(config);
    let (mut client, _) = bed.opened(Es10Config::new());
    let rat = client.rat().unwrap();
    let forbidden = client
        .euicc_info2()
        .unwrap()
        .info
        .forbidden_profile_policy_rules;

    // PPR1 for its owner: allowed with the user's consent; the card installs it.
    let mut ppr1 = ServedProfile::demo(8);
    ppr1.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR1]));
    ppr1.profile_owner = Some(owner.clone());
    let matching_id = bed.order(ppr1);
    let (tid, answer) = authenticate(&bed, &mut client, &matching_id);
    let metadata = StoreMetadataRequest::from_der(&answer.profile_metadata).unwrap();
    let verdict = policy::check_install(&metadata, &rat, forbidden.as_ref());
    assert!(
        verdict.is_allowed() && verdict.consent_required(),
        "{verdict:?}"
    );
    assert!(finish_download(&bed, &mut client, tid, answer).is_success());

    // PPR1 for another operator: not authorised.
    let mut stranger = metadata.clone();
    stranger.profile_owner = Some(OperatorId {
        mcc_mnc: vec![0x02, 0xF6, 0x20],
        gid1: None,
        gid2: None,
    });
    assert_eq!(
        policy::check_install(&stranger, &rat, forbidden.as_ref()),
        policy::PprVerdict::NotAllowed {
            ppr: PprIds::PPR1,
            reason: policy::PprRefusal::NotAuthorisedForOwner
        }
    );

    // PPR2 is forbidden by this eUICC: the LPA cancels the session with pprNotAllowed and
    // hands the card's signed answer to the SM-DP+.
    let mut ppr2 = ServedProfile::demo(9);
    ppr2.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR2]));
    ppr2.profile_owner = Some(owner);
    let matching_id = bed.order(ppr2);
    let (tid, answer) = authenticate(&bed, &mut client, &matching_id);
    let metadata = StoreMetadataRequest::from_der(&answer.profile_metadata).unwrap();
    assert_eq!(
        policy::check_install(&metadata, &rat, forbidden.as_ref()),
        policy::PprVerdict::NotAllowed {
            ppr: PprIds::PPR2,
            reason: policy::PprRefusal::ForbiddenByEuicc
        }
    );
    let cancelled = client
        .cancel_session(tid.as_bytes(), CancelSessionReason::PprNotAllowed)
        .unwrap();
    let CancelSessionResponse::Ok(ok) = &cancelled.decoded else {
        panic!("{:?}", cancelled.decoded);
    };
    let signed = ok.euicc_cancel_session_signed.value();
    assert_eq!(signed.transaction_id, tid.as_bytes());
    assert_eq!(signed.reason, CancelSessionReason::PprNotAllowed);
    let _: es9::EmptyBody = bed.es9(
        Es9Function::CancelSession,
        es9::encode_json(&es9::CancelSessionRequest {
            transaction_id: tid,
            cancel_session_response: cancelled.raw,
        })
        .unwrap(),
    );
    // The session is over on the card: cancelling again is invalidTransactionId, which comes
    // back (raw and decoded) for the SM-DP+ too.
    let again = client
        .cancel_session(tid.as_bytes(), CancelSessionReason::PprNotAllowed)
        .unwrap();
    assert_eq!(
        again.decoded,
        CancelSessionResponse::Error(lpa_core::messages::CancelSessionError::InvalidTransactionId)
    );
    assert_eq!(client.all_profiles().unwrap().len(), 1);
}

#[test]
fn a_transport_failure_mid_command_is_a_transport_error() {
    let bed = Bed::new(euicc_config());
    let (mut client, probe) = bed.opened(Es10Config::new().with_segment_size(16));
    let address = "a-rather-long-default-smdp-address.example.org";
    // The second of four STORE DATA blocks fails.
    *probe.fail_at.lock().unwrap() = Some(probe.count() + 1);
    let e = client.set_default_dp_address(address).unwrap_err();
    assert!(
        matches!(e, Es10Error::Transport(TransportError::Io(_))),
        "{e:?}"
    );
    // The session goes on: block 00 starts the command anew.
    *probe.fail_at.lock().unwrap() = None;
    client.set_default_dp_address(address).unwrap();
    assert_eq!(
        client
            .configured_addresses()
            .unwrap()
            .default_dp_address
            .as_deref(),
        Some(address)
    );
    // A failure while fetching the answer (GET RESPONSE) too.
    let mut config = euicc_config();
    config.response_threshold = 32;
    let bed = Bed::new(config);
    let (mut client, probe) = bed.opened(Es10Config::new());
    *probe.fail_at.lock().unwrap() = Some(probe.count() + 1);
    assert!(matches!(
        client.euicc_info2(),
        Err(Es10Error::Transport(TransportError::Io(_)))
    ));
    *probe.fail_at.lock().unwrap() = None;
    client.euicc_info2().unwrap();
}

#[test]
fn load_crl_and_its_refusals() {
    let bed = Bed::new(euicc_config());
    let (mut client, _) = bed.opened(Es10Config::new());
    let ok = client.load_crl(&ci_crl()).unwrap();
    assert_eq!(ok.missing_parts, None);
    // A SEQUENCE that is no CRL.
    assert_eq!(
        refused(
            client
                .load_crl(&[0x30, 0x03, 0x02, 0x01, 0x01])
                .unwrap_err()
        ),
        (Es10Command::LoadCrl, 2, "invalidCRLFormat")
    );
    assert!(matches!(
        client.load_crl(&[0x04, 0x00]),
        Err(Es10Error::InvalidInput { .. })
    ));
}

/// A CRL of the test CI revoking nothing: issuer = the CI's subject, ecdsa-with-SHA256.
fn ci_crl() -> Vec<u8> {
    let ci = Tlv::parse(&pki().ci.certificate).unwrap();
    let tbs = ci.children().next().unwrap().unwrap();
    let subject = tbs.children().nth(5).unwrap().unwrap().raw().to_vec();
    let algorithm = tlv(
        Tag(0x30),
        &tlv(Tag(0x06), &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]),
    );
    let tbs_list = tlv(
        Tag(0x30),
        &[
            tlv(Tag(0x02), &[0x01]),
            algorithm.clone(),
            subject,
            tlv(Tag(0x17), b"250601000000Z"),
        ]
        .concat(),
    );
    let raw = pki::sign(&pki().ci.key, &tbs_list).unwrap();
    let signature = pki::raw_signature_to_der(&raw).unwrap();
    tlv(
        Tag(0x30),
        &[
            tbs_list,
            algorithm,
            tlv(Tag(0x03), &[&[0x00][..], &signature].concat()),
        ]
        .concat(),
    )
}

#[test]
fn close_and_drop_release_the_channel() {
    let bed = Bed::new(euicc_config());
    let (mut client, _) = bed.opened(Es10Config::new());
    let channel = client.channel().unwrap();
    assert_eq!(
        bed.card.lock().unwrap().open_channels(),
        [0, channel.number()]
    );
    client.close().unwrap();
    assert_eq!(bed.card.lock().unwrap().open_channels(), [0]);
    assert!(matches!(client.get_eid(), Err(Es10Error::NotOpen)));
    client.close().unwrap();
    client.open().unwrap();
    client.open().unwrap();
    assert_eq!(bed.card.lock().unwrap().open_channels().len(), 2);
    drop(client);
    assert_eq!(bed.card.lock().unwrap().open_channels(), [0]);
}

#[test]
fn misuse_is_refused_without_sending() {
    let bed = Bed::new(euicc_config());
    let (mut client, probe) = bed.client(Es10Config::new().with_segment_size(0));
    assert!(matches!(client.open(), Err(Es10Error::InvalidInput { .. })));
    assert_eq!(probe.count(), 0);
    let (mut client, probe) = bed.client(Es10Config::new().with_isd_r_aids(vec![]));
    assert!(matches!(client.open(), Err(Es10Error::InvalidInput { .. })));
    assert!(matches!(client.euicc_info1(), Err(Es10Error::NotOpen)));
    assert_eq!(probe.count(), 0);

    let (mut client, probe) = bed.opened(Es10Config::new());
    let n = probe.count();
    assert!(matches!(
        client.call(&[]),
        Err(Es10Error::InvalidInput { .. })
    ));
    assert!(matches!(
        client.authenticate_server(&[0xBF, 0x2D, 0x00]),
        Err(Es10Error::InvalidInput { .. })
    ));
    assert!(matches!(
        client.prepare_download(&[0xBF, 0x38, 0x00]),
        Err(Es10Error::InvalidInput { .. })
    ));
    let iccid = Iccid::from_digits("8901234567890123456").unwrap();
    assert!(matches!(
        client.set_nickname(&iccid, &"x".repeat(65)),
        Err(Es10Error::InvalidInput { .. })
    ));
    assert!(matches!(
        client.load_bpp(&[0xBF, 0x36, 0x00]),
        Err(Es10Error::InvalidBpp(_))
    ));
    assert_eq!(probe.count(), n);
    // A tag the ISD-R does not know: its status word comes back.
    let e = client.call(&[0xBF, 0x7F, 0x00]).unwrap_err();
    assert_eq!(e.status_word(), Some(StatusWord(0x6A88)));
    assert!(matches!(
        e,
        Es10Error::Apdu {
            command: Es10Command::Other(0xBF7F),
            ..
        }
    ));
}

#[test]
fn logs_show_no_identifiers_in_clear_by_default() {
    let bed = Bed::new(euicc_config());
    CAPTURING.with(|c| c.set(true));
    // Segments of 64 bytes: identifiers straddle STORE DATA blocks and GET RESPONSE pieces.
    let (mut client, _) = bed.opened(Es10Config::new().with_segment_size(64));
    let eid = client.get_eid().unwrap();
    let profile = ServedProfile::demo(10);
    let iccid = profile.iccid;
    let matching_id = bed.order(profile);
    let (tid, answer) = authenticate(&bed, &mut client, &matching_id);
    assert!(finish_download(&bed, &mut client, tid, answer).is_success());
    client.all_profiles().unwrap();
    client
        .profiles(Some(ProfileSearchCriteria::Iccid(iccid)), None)
        .unwrap();
    client.enable(&iccid_id(iccid), false).unwrap();
    client.set_nickname(&iccid, "Home").unwrap();
    client.retrieve_notifications(None).unwrap();
    client.list_notifications(None).unwrap();
    deliver_notifications(&bed, &mut client);
    client.disable(&iccid_id(iccid), false).unwrap();
    client.delete(&iccid_id(iccid)).unwrap();
    client.retrieve_notifications(None).unwrap();

    let lines = my_lines();
    let text = lines.join("\n");
    assert!(text.contains("APDU > ") && text.contains("APDU < "));
    assert!(text.contains("ES10 > GetEID") && text.contains("ES10 < GetProfilesInfo"));
    assert!(text.contains(&redact::mask(&eid.to_string())));
    let eid_digits = eid.to_string();
    let iccid_digits = iccid.to_string();
    let secrets = [
        eid_digits.clone(),
        redact::hex(eid.as_bytes()),
        // The EID as ASCII, in the eUICC certificate's subject.
        redact::hex(eid_digits.as_bytes()),
        iccid_digits.clone(),
        redact::hex(iccid.as_bytes()),
        redact::hex(iccid_digits.as_bytes()),
        matching_id.clone(),
        redact::hex(matching_id.as_bytes()),
        // The IMEI of DeviceInfo.
        "3529061122334455".to_owned(),
    ];
    for secret in &secrets {
        for line in &lines {
            assert!(
                !line.to_uppercase().contains(&secret.to_uppercase()),
                "{secret} in the log: {line}"
            );
        }
    }

    // With log_sensitive, they are there.
    client.set_log_sensitive(true);
    client.get_eid().unwrap();
    assert!(my_lines().join("\n").contains(&eid_digits));
    CAPTURING.with(|c| c.set(false));
}

#[test]
fn errors_display_their_command_and_codes() {
    let e = Es10Error::CardRefused {
        command: Es10Command::EnableProfile,
        code: 2,
        meaning: "profileNotInDisabledState",
    };
    assert_eq!(
        e.to_string(),
        "EnableProfile refused by the eUICC: profileNotInDisabledState (2)"
    );
    let e = Es10Error::PolicyForbids {
        command: Es10Command::DisableProfile,
        rule: PolicyRule::Ppr1,
    };
    assert_eq!(
        e.to_string(),
        "DisableProfile not sent: the profile's PPR1 (disabling not allowed) forbids it (SGP.22 §2.9)"
    );
    let e = Es10Error::NoIsdR {
        tried: vec![(
            ISD_R_AID.to_vec(),
            TransportError::ChannelUnavailable("no free channel".to_owned()),
        )],
    };
    assert_eq!(
        e.to_string(),
        "no ISD-R found; tried A0000005591010FFFFFFFF8900000100: no logical channel: no free channel"
    );
}
