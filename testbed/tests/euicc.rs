//! The software eUICC (`lpa_testbed::euicc`) driven as an LPA drives a card: APDU-level
//! behaviour (channels, SELECT, STORE DATA reassembly, `61xx`, every status word for a bad
//! APDU), each ES10 command with its exact result codes, full downloads through STORE DATA
//! segmentation against a small in-test SM-DP+ built from `pki` + `bsp`, negative BPP cases,
//! persistence across a restart, and the external vectors: the signed-data definitions checked
//! against the recorded session of another implementation (`core/tests/data/rsp-session/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lpa_core::apdu::{
    ApduError, CommandApdu, CommandExchange, ECASD_AID, ExchangeConfig, ISD_R_AID, LogicalChannel,
    MAX_SHORT_COMMAND, SelectResponse, StoreDataExchange, Transmit,
    parse_manage_channel_open_response, select_by_aid,
};
use lpa_core::bpp::BppCommands;
use lpa_core::der::{Certificate, CertificateList, Decode, Encode, ObjectIdentifier, Signed};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    AuthenticateErrorCode, AuthenticateServerRequest, AuthenticateServerResponse, BppCommandId,
    CancelSessionReason, CancelSessionRequest, CancelSessionResponse, ConfigureIsdpRequest,
    ControlRefTemplate, CtxParams1, CtxParamsForCommonAuthentication, DeleteNotificationStatus,
    DeleteProfileRequest, DeleteProfileResponse, DeleteResult, DeviceCapabilities, DeviceInfo,
    DisableProfileRequest, DisableProfileResponse, DisableResult, DownloadErrorCode,
    DpProprietaryData, EnableProfileRequest, EnableProfileResponse, EnableResult, ErrorReason,
    EuiccConfiguredAddressesRequest, EuiccConfiguredAddressesResponse, EuiccInfo1, EuiccInfo2,
    EuiccMemoryResetRequest, EuiccMemoryResetResponse, FinalResult, GetEuiccChallengeRequest,
    GetEuiccChallengeResponse, GetEuiccDataRequest, GetEuiccDataResponse, GetEuiccInfo1Request,
    GetEuiccInfo2Request, GetRatRequest, GetRatResponse, InitialiseSecureChannelRequest,
    ListNotificationRequest, ListNotificationResponse, LoadCrlError, LoadCrlRequest,
    LoadCrlResponse, NotificationConfigurationInformation, NotificationEvent, NotificationEvents,
    NotificationSearchCriteria, NotificationSentRequest, NotificationSentResponse, OperatorId,
    PendingNotification, PprIds, PrepareDownloadRequest, PrepareDownloadResponse, ProfileClass,
    ProfileIdentifier, ProfileInfoListRequest, ProfileInfoListResponse, ProfileInstallationResult,
    ProfileSearchCriteria, ProfileState, RemoteOpId, ResetOptions, ResetResult,
    RetrieveNotificationsListError, RetrieveNotificationsListRequest,
    RetrieveNotificationsListResponse, ServerSigned1, SetDefaultDpAddressRequest,
    SetDefaultDpAddressResponse, SetDefaultDpAddressResult, SetNicknameRequest,
    SetNicknameResponse, SetNicknameResult, SmdpSigned2, StoreMetadataRequest,
};
use lpa_core::tlv::{Tag, Tlv};
use lpa_testbed::bsp::{
    self, BspProtector, OneTimeKeyPair, ReplaceSessionKeys, SegmentTag, SessionKeys,
    assemble_bound_profile_package,
};
use lpa_testbed::card::Card;
use lpa_testbed::euicc::signed_data::{
    euicc_signed2_data, initialise_secure_channel_data, smdp_signed2_data, tlv,
};
use lpa_testbed::euicc::{EuiccConfig, EuiccError, EuiccIdentity, SoftEuicc};
use lpa_testbed::pki::{
    self, CertRole, Curve, TestPki, TestPkiOptions, raw_signature_to_der, verify_chain,
    verify_signature,
};
use lpa_testbed::saip::{demo_profile_spec, generate_demo_profile};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// 2025-06-01: every SGP.26 certificate used here is valid (DPauth/DPpb until 2030-03-30).
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_748_736_000)
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn sgp26() -> TestPki {
    TestPki::load_from_dir(&data_dir().join("sgp26"), Curve::NistP256).unwrap()
}

fn config() -> EuiccConfig {
    EuiccConfig::new(now())
}

fn card_with(config: EuiccConfig) -> SoftEuicc {
    let identity = EuiccIdentity::load_sgp26(&data_dir().join("sgp26"), Curve::NistP256).unwrap();
    SoftEuicc::new(identity, config).unwrap()
}

fn card() -> SoftEuicc {
    card_with(config())
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// A unique empty directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lpa-euicc-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sw(response: &[u8]) -> u16 {
    let n = response.len();
    u16::from_be_bytes([response[n - 2], response[n - 1]])
}

// ---------------------------------------------------------------------------------------------
// The LPA side: APDUs through lpa_core's exchanges
// ---------------------------------------------------------------------------------------------

/// One command with its `61xx`/`6Cxx` follow-ups; the response data, or the card's refusal.
fn command(card: &mut SoftEuicc, apdu: CommandApdu<'_>) -> Result<Vec<u8>, ApduError> {
    let mut out = vec![0u8; 4096];
    let mut ex = CommandExchange::new(apdu, ExchangeConfig::default(), &mut out)?;
    let mut buf = [0u8; MAX_SHORT_COMMAND];
    loop {
        match ex.poll_transmit(&mut buf)? {
            Transmit::Command(bytes) => {
                let r = card.transmit(bytes);
                ex.handle_response(&r)?;
            }
            Transmit::Done { len } => return Ok(ex.response()[..len].to_vec()),
        }
    }
}

/// Opens a logical channel and selects the ISD-R on it.
fn open_isdr(card: &mut SoftEuicc) -> LogicalChannel {
    let r = card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]);
    let channel = parse_manage_channel_open_response(&r).unwrap();
    let fci = command(
        card,
        select_by_aid(channel, &ISD_R_AID, SelectResponse::Fci).unwrap(),
    )
    .unwrap();
    assert_eq!(fci[0], 0x6F);
    channel
}

/// What a STORE DATA exchange ended with.
struct Exchanged {
    response: Vec<u8>,
    answered_early: bool,
    apdus: usize,
}

/// One ES10 request (or BPP sequence) through StoreDataExchange at `segment` bytes a block.
fn store_data(
    card: &mut SoftEuicc,
    channel: LogicalChannel,
    request: &[u8],
    segment: usize,
) -> Result<Exchanged, ApduError> {
    let mut out = vec![0u8; 70_000];
    let mut ex = StoreDataExchange::new(
        channel,
        request,
        ExchangeConfig::new().with_segment_size(segment),
        &mut out,
    )?;
    let mut buf = [0u8; MAX_SHORT_COMMAND];
    let mut apdus = 0;
    loop {
        match ex.poll_transmit(&mut buf)? {
            Transmit::Command(bytes) => {
                apdus += 1;
                let r = card.transmit(bytes);
                ex.handle_response(&r)?;
            }
            Transmit::Done { len } => {
                return Ok(Exchanged {
                    answered_early: ex.answered_early(),
                    response: ex.response()[..len].to_vec(),
                    apdus,
                });
            }
        }
    }
}

/// A card with the ISD-R selected on a logical channel, used the way an LPA uses it.
struct Lpa {
    card: SoftEuicc,
    channel: LogicalChannel,
    segment: usize,
}

impl Lpa {
    fn new(mut card: SoftEuicc, segment: usize) -> Self {
        let channel = open_isdr(&mut card);
        Lpa {
            card,
            channel,
            segment,
        }
    }

    fn raw(&mut self, request: &[u8]) -> Vec<u8> {
        store_data(&mut self.card, self.channel, request, self.segment)
            .unwrap()
            .response
    }

    fn call<T: Decode>(&mut self, request: &impl Encode) -> T {
        let response = self.raw(&request.to_der());
        T::from_der(&response).unwrap_or_else(|e| panic!("{e}: {}", hex::encode(&response)))
    }

    fn challenge(&mut self) -> Vec<u8> {
        let r: GetEuiccChallengeResponse = self.call(&GetEuiccChallengeRequest {});
        r.euicc_challenge
    }

    fn profiles(&mut self) -> Vec<lpa_core::messages::ProfileInfo> {
        match self.call(&ProfileInfoListRequest {
            search_criteria: None,
            tag_list: None,
        }) {
            ProfileInfoListResponse::Ok(list) => list,
            other => panic!("{other:?}"),
        }
    }

    fn notifications(&mut self) -> Vec<PendingNotification> {
        match self.call(&RetrieveNotificationsListRequest {
            search_criteria: None,
        }) {
            RetrieveNotificationsListResponse::Ok(list) => list,
            other => panic!("{other:?}"),
        }
    }

    fn enable(&mut self, iccid: Iccid) -> EnableResult {
        let r: EnableProfileResponse = self.call(&EnableProfileRequest {
            profile_identifier: ProfileIdentifier::Iccid(iccid),
            refresh_flag: false,
        });
        r.enable_result
    }

    fn disable(&mut self, iccid: Iccid) -> DisableResult {
        let r: DisableProfileResponse = self.call(&DisableProfileRequest {
            profile_identifier: ProfileIdentifier::Iccid(iccid),
            refresh_flag: false,
        });
        r.disable_result
    }

    fn delete(&mut self, iccid: Iccid) -> DeleteResult {
        let r: DeleteProfileResponse = self.call(&DeleteProfileRequest::Iccid(iccid));
        r.delete_result
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny SM-DP+: pki + bsp, the signed-data definitions of euicc::signed_data
// ---------------------------------------------------------------------------------------------

const SMDP_ADDRESS: &str = "testsmdpplus1.example.com";
const NOTIFY_ADDRESS: &str = "notify.example.com";

struct Server {
    pki: TestPki,
}

/// How to build (or break) a BPP.
#[derive(Clone, Default)]
struct BppOptions {
    /// Use this transactionId in BF23 instead of the session's.
    transaction_id: Option<Vec<u8>>,
    /// Sign BF23 over the parts alone (without euiccOtpk): a wrong smdpSign.
    bad_signature: bool,
    /// Protect the profile with PPKs (ReplaceSessionKeys, `A2`).
    ppk: bool,
    /// Flip a byte in this `86` segment.
    tamper_86: Option<usize>,
    /// Flip a byte in the `88` segment.
    tamper_88: bool,
    /// The size of the `86` plaintext pieces.
    chunk: Option<usize>,
}

impl Server {
    fn new() -> Self {
        Server { pki: sgp26() }
    }

    fn ci_pkid(&self) -> Vec<u8> {
        self.pki.ci_pkid().unwrap()
    }

    fn authenticate_server_request(
        &self,
        transaction_id: &[u8],
        euicc_challenge: &[u8],
    ) -> AuthenticateServerRequest {
        let signed = Signed::new(ServerSigned1 {
            transaction_id: transaction_id.to_vec(),
            euicc_challenge: euicc_challenge.to_vec(),
            server_address: SMDP_ADDRESS.to_owned(),
            server_challenge: vec![0x5A; 16],
        });
        let signature = pki::sign(&self.pki.dp_auth.key, signed.raw()).unwrap();
        AuthenticateServerRequest {
            server_signed1: signed,
            server_signature1: signature.to_vec(),
            euicc_ci_pkid_to_be_used: self.ci_pkid(),
            server_certificate: Certificate::from_der(self.pki.dp_auth.certificate.clone())
                .unwrap(),
            ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
                matching_id: Some("MATCHING-ID-1".to_owned()),
                device_info: DeviceInfo {
                    tac: vec![0x35, 0x29, 0x06, 0x11],
                    device_capabilities: DeviceCapabilities {
                        eutran_epc_supported_release: Some(lpa_core::messages::Version::new(
                            15, 0, 0,
                        )),
                        ..DeviceCapabilities::default()
                    },
                    imei: None,
                },
            }),
        }
    }

    fn prepare_download_request(
        &self,
        transaction_id: &[u8],
        euicc_signature1: &[u8],
    ) -> PrepareDownloadRequest {
        let signed = Signed::new(SmdpSigned2 {
            transaction_id: transaction_id.to_vec(),
            cc_required_flag: false,
            bpp_euicc_otpk: None,
        });
        let signature = pki::sign(
            &self.pki.dp_pb.key,
            &smdp_signed2_data(signed.raw(), euicc_signature1),
        )
        .unwrap();
        PrepareDownloadRequest {
            smdp_signed2: signed,
            smdp_signature2: signature.to_vec(),
            hash_cc: None,
            smdp_certificate: Certificate::from_der(self.pki.dp_pb.certificate.clone()).unwrap(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bpp(
        &self,
        transaction_id: &[u8],
        euicc_otpk: &[u8],
        eid: &[u8],
        metadata: &StoreMetadataRequest,
        package: &[u8],
        options: &BppOptions,
    ) -> Vec<u8> {
        let curve = match self.pki.curve {
            Curve::BrainpoolP256r1 => bsp::Curve::BrainpoolP256r1,
            _ => bsp::Curve::NistP256,
        };
        let dp = OneTimeKeyPair::generate(curve).unwrap();
        let host_id = b"test-smdp".to_vec();
        let shs = dp.shared_secret(euicc_otpk).unwrap();
        let keys =
            SessionKeys::derive(&shs, &bsp::ControlRefTemplate::aes128(&host_id), eid).unwrap();
        let mut protector = BspProtector::new(keys);
        let mut isc = InitialiseSecureChannelRequest {
            remote_op_id: RemoteOpId::InstallBoundProfilePackage,
            transaction_id: options
                .transaction_id
                .clone()
                .unwrap_or_else(|| transaction_id.to_vec()),
            control_ref_template: ControlRefTemplate {
                key_type: vec![0x88],
                key_len: vec![0x10],
                host_id,
            },
            smdp_otpk: dp.public_key().to_vec(),
            smdp_sign: vec![0; 64],
        };
        let mut signed = initialise_secure_channel_data(&isc.to_der(), euicc_otpk).unwrap();
        if options.bad_signature {
            signed.truncate(signed.len() - 67);
        }
        isc.smdp_sign = pki::sign(&self.pki.dp_pb.key, &signed).unwrap().to_vec();

        let configure = ConfigureIsdpRequest {
            dp_proprietary_data: Some(DpProprietaryData {
                dp_oid: ObjectIdentifier::parse("2.999.10").unwrap(),
            }),
        };
        let a0 = protector
            .protect(SegmentTag::Es8Command87, &configure.to_der())
            .unwrap();
        let mut a1 = protector
            .protect(SegmentTag::StoreMetadata88, &metadata.to_der())
            .unwrap();
        if options.tamper_88 {
            a1[0][6] ^= 0x01;
        }
        let a2 = options.ppk.then(|| {
            let ppk = SessionKeys::from_parts([0x11; 16], [0x22; 16], [0x33; 16]);
            vec![
                protector
                    .protect_replace_session_keys(&ReplaceSessionKeys::from_keys(&ppk))
                    .unwrap(),
            ]
        });
        let mut a3: Vec<Vec<u8>> = package
            .chunks(options.chunk.unwrap_or(400))
            .map(|c| {
                protector
                    .protect_segment(SegmentTag::LoadProfileElements86, c)
                    .unwrap()
            })
            .collect();
        if let Some(i) = options.tamper_86 {
            a3[i][10] ^= 0x80;
        }
        assemble_bound_profile_package(&isc.to_der(), &a0, &a1, a2.as_deref(), &a3).unwrap()
    }
}

/// Demo profile `n`: its package and metadata asking for every notification.
fn demo(n: u32) -> (Iccid, Vec<u8>, StoreMetadataRequest) {
    let iccid = demo_profile_spec(n).iccid;
    let metadata = StoreMetadataRequest {
        iccid,
        service_provider_name: "LPA Testbed Telecom".to_owned(),
        profile_name: format!("Demo profile {n}"),
        icon_type: None,
        icon: None,
        profile_class: ProfileClass::Operational,
        notification_configuration_info: Some(vec![NotificationConfigurationInformation {
            profile_management_operation: NotificationEvents::from_bits(&[
                NotificationEvents::INSTALL,
                NotificationEvents::ENABLE,
                NotificationEvents::DISABLE,
                NotificationEvents::DELETE,
            ]),
            notification_address: NOTIFY_ADDRESS.to_owned(),
        }]),
        profile_owner: Some(OperatorId {
            mcc_mnc: vec![0x00, 0xF1, 0x10],
            gid1: None,
            gid2: None,
        }),
        profile_policy_rules: None,
    };
    (iccid, generate_demo_profile(n), metadata)
}

static TRANSACTION: AtomicU32 = AtomicU32::new(1);

fn new_transaction_id() -> Vec<u8> {
    let n = TRANSACTION.fetch_add(1, Ordering::SeqCst);
    let mut tid = vec![0xA5; 12];
    tid.extend_from_slice(&n.to_be_bytes());
    tid
}

/// A session up to PrepareDownload: (transactionId, euiccOtpk).
fn prepare(lpa: &mut Lpa, server: &Server) -> (Vec<u8>, Vec<u8>) {
    let tid = new_transaction_id();
    let challenge = lpa.challenge();
    let ok = match lpa.call(&server.authenticate_server_request(&tid, &challenge)) {
        AuthenticateServerResponse::Ok(ok) => ok,
        other => panic!("{other:?}"),
    };
    let prepared = match lpa.call(&server.prepare_download_request(&tid, &ok.euicc_signature1)) {
        PrepareDownloadResponse::Ok(ok) => ok,
        other => panic!("{other:?}"),
    };
    (tid, prepared.euicc_signed2.value().euicc_otpk.clone())
}

/// Sends a BPP as the LPA does: each BppCommands sequence by STORE DATA, stopping at the first
/// answer carrying data. Returns the answer, whether it came early, and the sequences sent.
fn load_bpp(lpa: &mut Lpa, bpp: &[u8]) -> (Vec<u8>, bool, usize) {
    let commands = BppCommands::new(bpp).unwrap();
    let mut sent = 0;
    for cmd in commands {
        sent += 1;
        let ex = store_data(&mut lpa.card, lpa.channel, cmd.bytes, lpa.segment).unwrap();
        if !ex.response.is_empty() {
            let early = sent < BppCommands::new(bpp).unwrap().count();
            return (ex.response, early, sent);
        }
    }
    (Vec::new(), false, sent)
}

/// A whole download of demo profile `n`; returns the ProfileInstallationResult.
fn download(
    lpa: &mut Lpa,
    server: &Server,
    metadata: &StoreMetadataRequest,
    package: &[u8],
    options: &BppOptions,
) -> (ProfileInstallationResult, bool) {
    let (tid, otpk) = prepare(lpa, server);
    let eid = *lpa.card.eid().as_bytes();
    let bpp = server.bpp(&tid, &otpk, &eid, metadata, package, options);
    let (response, early, _) = load_bpp(lpa, &bpp);
    let pir = ProfileInstallationResult::from_der(&response).unwrap();
    // Every result is signed by the eUICC over the BF27 TLV as produced.
    verify_signature(
        &server.pki.euicc.certificate,
        pir.profile_installation_result_data.raw(),
        &pir.euicc_sign_pir,
    )
    .unwrap();
    assert_eq!(
        pir.profile_installation_result_data.value().transaction_id,
        tid
    );
    (pir, early)
}

fn install(lpa: &mut Lpa, server: &Server, n: u32) -> Iccid {
    let (iccid, package, metadata) = demo(n);
    let (pir, _) = download(lpa, server, &metadata, &package, &BppOptions::default());
    assert!(
        matches!(
            pir.profile_installation_result_data.value().final_result,
            FinalResult::Success(_)
        ),
        "{pir:?}"
    );
    iccid
}

fn error_of(pir: &ProfileInstallationResult) -> (BppCommandId, ErrorReason) {
    match &pir.profile_installation_result_data.value().final_result {
        FinalResult::Error(e) => (e.bpp_command_id, e.error_reason),
        other => panic!("expected an error result, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// External vectors: the signed-data definitions against a recorded session
// ---------------------------------------------------------------------------------------------

fn recorded(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/tests/data/rsp-session")
            .join(name),
    )
    .unwrap()
}

fn recorded_cert(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join("rsp-session/certs").join(name)).unwrap()
}

/// The children of a TLV, raw, by tag.
fn child<'a>(tlv: &Tlv<'a>, tag: u32) -> Tlv<'a> {
    tlv.children()
        .map(Result::unwrap)
        .find(|c| c.tag() == Tag(tag))
        .unwrap_or_else(|| panic!("no {tag:X} in {tlv:?}"))
}

#[test]
fn recorded_session_signatures_verify_over_our_signed_data() {
    let dpauth = recorded_cert("dpauth.der");
    let dppb = recorded_cert("dppb.der");
    let euicc = recorded_cert("euicc.der");

    // serverSignature1 over serverSigned1 as received (InitiateAuthenticationOkEs9).
    let initiate = recorded("initiate-response.der");
    let initiate = Tlv::parse(&initiate).unwrap();
    let server_signed1 = child(&initiate, 0x30);
    let server_signature1 = child(&initiate, 0x5F37);
    verify_signature(&dpauth, server_signed1.raw(), server_signature1.value()).unwrap();

    // euiccSignature1 over euiccSigned1 (AuthenticateServerResponse).
    let auth = recorded("auth-server-response.der");
    let auth = AuthenticateServerResponse::from_der(&auth).unwrap();
    let AuthenticateServerResponse::Ok(auth) = auth else {
        panic!()
    };
    verify_signature(&euicc, auth.euicc_signed1.raw(), &auth.euicc_signature1).unwrap();

    // smdpSignature2 over smdpSigned2 || euiccSignature1 TLV (AuthenticateClientResponseEs9).
    let client = recorded("authenticate-response.der");
    let client = Tlv::parse(&client).unwrap();
    let client_ok = client.children().next().unwrap().unwrap();
    let smdp_signed2 = child(&client_ok, 0x30);
    let smdp_signature2 = child(&client_ok, 0x5F37);
    verify_signature(
        &dppb,
        &smdp_signed2_data(smdp_signed2.raw(), &auth.euicc_signature1),
        smdp_signature2.value(),
    )
    .unwrap();
    // ... and over nothing less.
    assert!(verify_signature(&dppb, smdp_signed2.raw(), smdp_signature2.value()).is_err());

    // euiccSignature2 over euiccSigned2 || smdpSignature2 TLV (PrepareDownloadResponse).
    let prepared = recorded("prepare-download-response.der");
    let PrepareDownloadResponse::Ok(prepared) =
        PrepareDownloadResponse::from_der(&prepared).unwrap()
    else {
        panic!()
    };
    verify_signature(
        &euicc,
        &euicc_signed2_data(prepared.euicc_signed2.raw(), smdp_signature2.value()),
        &prepared.euicc_signature2,
    )
    .unwrap();

    // smdpSign over the BF23 parts as received || euiccOtpk TLV, not euiccSignature2.
    let bpp = recorded("bound-profile-package.der");
    let bpp = Tlv::parse(&bpp).unwrap();
    let isc = child(&bpp, 0xBF23);
    let smdp_sign = child(&isc, 0x5F37);
    let otpk = &prepared.euicc_signed2.value().euicc_otpk;
    verify_signature(
        &dppb,
        &initialise_secure_channel_data(isc.raw(), otpk).unwrap(),
        smdp_sign.value(),
    )
    .unwrap();
    let mut with_signature2: Vec<u8> = isc
        .children()
        .map(Result::unwrap)
        .filter(|c| c.tag() != Tag(0x5F37))
        .flat_map(|c| c.raw().to_vec())
        .collect();
    with_signature2.extend(tlv(Tag(0x5F37), &prepared.euicc_signature2));
    assert!(
        verify_signature(&dppb, &with_signature2, smdp_sign.value()).is_err(),
        "smdpSign does not cover euiccSignature2"
    );

    // euiccSignPIR over the BF27 TLV (PendingNotification).
    let pir = recorded("pending-notification.der");
    let pir = ProfileInstallationResult::from_der(&pir).unwrap();
    verify_signature(
        &euicc,
        pir.profile_installation_result_data.raw(),
        &pir.euicc_sign_pir,
    )
    .unwrap();

    // The recorded SM-DP+ certificates chain to the recorded CI at our test time.
    let ci = recorded_cert("ci.der");
    verify_chain(&dpauth, &[], &[&ci], now(), CertRole::DpAuth).unwrap();
    verify_chain(&dppb, &[], &[&ci], now(), CertRole::DpPb).unwrap();
}

#[test]
fn soft_euicc_verifies_the_recorded_server_signed1() {
    // The recorded serverSigned1 goes through the card's own AuthenticateServer checks, up to
    // the challenge (the card issued another one): the certificate and the signature pass.
    let initiate = recorded("initiate-response.der");
    let initiate = Tlv::parse(&initiate).unwrap();
    let request = AuthenticateServerRequest {
        server_signed1: Signed::from_raw(child(&initiate, 0x30).raw().to_vec()).unwrap(),
        server_signature1: child(&initiate, 0x5F37).value().to_vec(),
        euicc_ci_pkid_to_be_used: child(&initiate, 0x04).value().to_vec(),
        server_certificate: Certificate::from_der(recorded_cert("dpauth.der")).unwrap(),
        ctx_params1: Server::new()
            .authenticate_server_request(&[1], &[2])
            .ctx_params1,
    };
    let mut lpa = Lpa::new(card(), 255);
    lpa.challenge();
    let AuthenticateServerResponse::Error(e) = lpa.call(&request) else {
        panic!()
    };
    assert_eq!(
        e.authenticate_error_code,
        AuthenticateErrorCode::EuiccChallengeMismatch
    );
    // A corrupted signature fails one step earlier.
    let mut bad = request.clone();
    bad.server_signature1[10] ^= 1;
    lpa.challenge();
    let AuthenticateServerResponse::Error(e) = lpa.call(&bad) else {
        panic!()
    };
    assert_eq!(
        e.authenticate_error_code,
        AuthenticateErrorCode::InvalidSignature
    );
}

// ---------------------------------------------------------------------------------------------
// APDU level
// ---------------------------------------------------------------------------------------------

#[test]
fn manage_channel_opens_and_closes_channels_1_to_19() {
    let mut card = card();
    assert_eq!(card.open_channels(), [0]);
    for n in 1..=19u8 {
        assert_eq!(
            card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]),
            [n, 0x90, 0x00]
        );
    }
    // No channel left.
    assert_eq!(card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]), [0x6A, 0x81]);
    // Close 5 (case 1 and the T=0 form with P3 = 00), then it is the first free one again.
    assert_eq!(card.transmit(&[0x00, 0x70, 0x80, 0x05]), [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x00, 0x70, 0x80, 0x05, 0x00]), [0x6A, 0x88]);
    assert_eq!(
        card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]),
        [5, 0x90, 0x00]
    );
    // The basic channel cannot be closed; channels above 19 do not exist.
    assert_eq!(card.transmit(&[0x00, 0x70, 0x80, 0x00, 0x00]), [0x6A, 0x86]);
    assert_eq!(card.transmit(&[0x00, 0x70, 0x80, 0x14, 0x00]), [0x6A, 0x86]);
    // Close channel 7 from itself (CLA 43, P2 00).
    assert_eq!(card.transmit(&[0x43, 0x70, 0x80, 0x00, 0x00]), [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x43, 0x70, 0x80, 0x00, 0x00]), [0x68, 0x81]);
    // Open a given channel (P2 = n): once.
    assert_eq!(card.transmit(&[0x00, 0x70, 0x00, 0x07]), [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x00, 0x70, 0x00, 0x07]), [0x6A, 0x86]);
    // Open needs Le, takes no data; unknown P1.
    assert_eq!(card.transmit(&[0x00, 0x70, 0x00, 0x00]), [0x67, 0x00]);
    assert_eq!(
        card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01, 0x00, 0x01]),
        [0x67, 0x00]
    );
    assert_eq!(card.transmit(&[0x00, 0x70, 0x40, 0x00, 0x01]), [0x6A, 0x86]);

    // Channels 4-19 use CLA 40 + (n - 4); a closed channel is 6881.
    let mut card = self::card();
    assert_eq!(
        card.transmit(&[0x01, 0xA4, 0x04, 0x00, 0x01, 0xA0]),
        [0x68, 0x81]
    );
    for _ in 1..=12 {
        card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]);
    }
    let select = |cla: u8| {
        let mut c = vec![cla, 0xA4, 0x04, 0x0C, 0x10];
        c.extend_from_slice(&ISD_R_AID);
        c
    };
    assert_eq!(card.transmit(&select(0x48)), [0x90, 0x00]); // channel 12
    assert_eq!(card.transmit(&select(0x49)), [0x68, 0x81]); // channel 13, not open
    // Reset closes them all.
    card.reset();
    assert_eq!(card.open_channels(), [0]);
    assert_eq!(card.transmit(&select(0x48)), [0x68, 0x81]);
}

#[test]
fn select_answers_fci_for_isdr_and_ecasd_and_6a82_otherwise() {
    let mut card = card();
    let mut select = |p2: u8, aid: &[u8], le: bool| {
        let mut c = vec![0x00, 0xA4, 0x04, p2, aid.len() as u8];
        c.extend_from_slice(aid);
        if le {
            c.push(0x00);
        }
        card.transmit(&c)
    };
    let r = select(0x00, &ISD_R_AID, true);
    assert_eq!(sw(&r), 0x9000);
    let fci = Tlv::parse(&r[..r.len() - 2]).unwrap();
    assert_eq!(fci.tag(), Tag(0x6F));
    assert_eq!(child(&fci, 0x84).value(), ISD_R_AID);
    let r = select(0x00, &ECASD_AID, true);
    assert_eq!(
        child(&Tlv::parse(&r[..r.len() - 2]).unwrap(), 0x84).value(),
        ECASD_AID
    );
    // P2 0C: no data; P2 04: FCP.
    assert_eq!(select(0x0C, &ISD_R_AID, false), [0x90, 0x00]);
    assert_eq!(select(0x04, &ISD_R_AID, true)[0], 0x62);
    // Unknown AIDs, a partial AID, bad P2, no AID.
    assert_eq!(
        select(0x00, &h("A0000005591010FFFFFFFF8900000300"), true),
        [0x6A, 0x82]
    );
    assert_eq!(select(0x00, &ISD_R_AID[..8], true), [0x6A, 0x82]);
    assert_eq!(select(0x01, &ISD_R_AID, true), [0x6A, 0x86]);
    assert_eq!(card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00]), [0x67, 0x00]);
    assert_eq!(
        card.transmit(&[0x00, 0xA4, 0x05, 0x00, 0x01, 0x3F]),
        [0x6A, 0x86]
    );
    // Selection by file id: this card has no files.
    assert_eq!(
        card.transmit(&[0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00]),
        [0x6A, 0x82]
    );

    // A vendor ISD-R AID is configurable; the GSMA one then is unknown.
    let vendor = h("A0000005591010FFFFFFFF8900050500");
    let mut config = config();
    config.isd_r_aid = vendor.clone();
    let mut card = card_with(config);
    let mut c = vec![0x00, 0xA4, 0x04, 0x00, 0x10];
    c.extend_from_slice(&ISD_R_AID);
    c.push(0x00);
    assert_eq!(card.transmit(&c), [0x6A, 0x82]);
    c[5..21].copy_from_slice(&vendor);
    assert_eq!(sw(&card.transmit(&c)), 0x9000);
    assert_eq!(
        card.transmit(&[0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00])[21..],
        [0x90, 0x00]
    );
}

#[test]
fn store_data_needs_the_isdr_selected_and_terminal_capability_when_configured() {
    let get_challenge = [0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00];
    let mut card = card();
    assert_eq!(card.transmit(&get_challenge), [0x69, 0x85]);
    let mut select_ecasd = vec![0x00, 0xA4, 0x04, 0x0C, 0x10];
    select_ecasd.extend_from_slice(&ECASD_AID);
    assert_eq!(card.transmit(&select_ecasd), [0x90, 0x00]);
    assert_eq!(card.transmit(&get_challenge), [0x69, 0x85]);
    let mut select_isdr = vec![0x00, 0xA4, 0x04, 0x0C, 0x10];
    select_isdr.extend_from_slice(&ISD_R_AID);
    assert_eq!(card.transmit(&select_isdr), [0x90, 0x00]);
    let r = card.transmit(&get_challenge);
    assert_eq!((r.len(), sw(&r)), (21 + 2, 0x9000));
    assert_eq!(&r[..5], [0xBF, 0x2E, 0x12, 0x80, 0x10]);
    // A channel opened from channel 0 has nothing selected...
    assert_eq!(
        card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]),
        [1, 0x90, 0x00]
    );
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00]),
        [0x69, 0x85]
    );
    // ... one opened from a channel with the ISD-R selected inherits it.
    let mut select_on_1 = select_isdr.clone();
    select_on_1[0] = 0x01;
    assert_eq!(card.transmit(&select_on_1), [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x01, 0x70, 0x00, 0x03]), [0x90, 0x00]);
    assert_eq!(
        sw(&card.transmit(&[0x83, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00])),
        0x9000
    );

    // TERMINAL CAPABILITY required: 6985 until it came.
    let mut config = config();
    config.require_terminal_capability = true;
    let mut card = card_with(config);
    assert_eq!(card.transmit(&select_isdr), [0x90, 0x00]);
    assert_eq!(card.transmit(&get_challenge), [0x69, 0x85]);
    // Malformed template, wrong class, wrong P1, no data.
    assert_eq!(
        card.transmit(&[0x80, 0xAA, 0x00, 0x00, 0x02, 0xA8, 0x00]),
        [0x6A, 0x80]
    );
    assert_eq!(
        card.transmit(&[0x80, 0xAA, 0x00, 0x00, 0x03, 0xA9, 0x05, 0x81]),
        [0x6A, 0x80]
    );
    assert_eq!(
        card.transmit(&[0x00, 0xAA, 0x00, 0x00, 0x02, 0xA9, 0x00]),
        [0x6E, 0x00]
    );
    assert_eq!(
        card.transmit(&[0x80, 0xAA, 0x01, 0x00, 0x02, 0xA9, 0x00]),
        [0x6A, 0x86]
    );
    assert_eq!(card.transmit(&[0x80, 0xAA, 0x00, 0x00]), [0x67, 0x00]);
    assert_eq!(card.terminal_capability(), None);
    let template = lpa_core::apdu::TerminalCapability::LPAD.template();
    let tc = template.command(LogicalChannel::BASIC);
    let mut buf = [0u8; 32];
    let n = tc.encode(&mut buf).unwrap();
    assert_eq!(card.transmit(&buf[..n]), [0x90, 0x00]);
    assert_eq!(card.terminal_capability(), Some(&h("A9058100830107")[..]));
    assert_eq!(sw(&card.transmit(&get_challenge)), 0x9000);
    // Forgotten on reset.
    card.reset();
    assert_eq!(card.terminal_capability(), None);
}

#[test]
fn store_data_blocks_are_reassembled_in_order() {
    let mut card = card();
    let mut select_isdr = vec![0x01, 0xA4, 0x04, 0x0C, 0x10];
    select_isdr.extend_from_slice(&ISD_R_AID);
    card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]);
    assert_eq!(card.transmit(&select_isdr), [0x90, 0x00]);

    // GetEuiccData (BF3E 03 5C 01 5A) one byte a block.
    let request = h("BF3E035C015A");
    for (i, b) in request.iter().enumerate() {
        let last = i == request.len() - 1;
        let r = card.transmit(&[
            0x81,
            0xE2,
            if last { 0x91 } else { 0x11 },
            i as u8,
            0x01,
            *b,
        ]);
        if last {
            assert_eq!(
                r,
                [h("BF3E125A10"), h(pki::DEFAULT_EID), vec![0x90, 0x00]].concat()
            );
        } else {
            assert_eq!(r, [0x90, 0x00]);
        }
    }
    // Out of order: 6A86, and the sequence is gone.
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x11, 0x00, 0x03, 0xBF, 0x3E, 0x03]),
        [0x90, 0x00]
    );
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x11, 0x02, 0x01, 0x5C]),
        [0x6A, 0x86]
    );
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x91, 0x01, 0x03, 0x5C, 0x01, 0x5A]),
        [0x6A, 0x86]
    );
    // A block other than 00 without a sequence.
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x91, 0x05, 0x01, 0x00]),
        [0x6A, 0x86]
    );
    // Block 00 restarts.
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x11, 0x00, 0x03, 0xBF, 0x3E, 0x03]),
        [0x90, 0x00]
    );
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x11, 0x00, 0x03, 0xBF, 0x3E, 0x03]),
        [0x90, 0x00]
    );
    assert_eq!(
        sw(&card.transmit(&[0x81, 0xE2, 0x91, 0x01, 0x03, 0x5C, 0x01, 0x5A])),
        0x9000
    );
    // P1 other than 11/91, no data.
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x01, 0x00, 0x01, 0x00]),
        [0x6A, 0x86]
    );
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x90, 0x00, 0x01, 0x00]),
        [0x6A, 0x86]
    );
    assert_eq!(card.transmit(&[0x81, 0xE2, 0x91, 0x00]), [0x67, 0x00]);
    assert_eq!(card.transmit(&[0x81, 0xE2, 0x91, 0x00, 0x00]), [0x67, 0x00]);
    // Blocks are per channel: a sequence on channel 1 is untouched by channel 0.
    assert_eq!(
        card.transmit(&[0x81, 0xE2, 0x11, 0x00, 0x03, 0xBF, 0x3E, 0x03]),
        [0x90, 0x00]
    );
    assert_eq!(
        card.transmit(&[0x80, 0xE2, 0x11, 0x00, 0x01, 0x00]),
        [0x69, 0x85]
    );
    assert_eq!(
        sw(&card.transmit(&[0x81, 0xE2, 0x91, 0x01, 0x03, 0x5C, 0x01, 0x5A])),
        0x9000
    );

    // More than max_request_size: 6A84.
    let mut config = config();
    config.max_request_size = 300;
    let mut lpa = Lpa::new(card_with(config), 255);
    let big = tlv(Tag(0xBF2D), &[0u8; 400]);
    let err = store_data(&mut lpa.card, lpa.channel, &big, 255)
        .err()
        .unwrap();
    assert_eq!(err.status_word().unwrap().0, 0x6A84);
    // ... and the card still works.
    lpa.challenge();

    // Every segment size gives the same answer.
    let mut lpa = Lpa::new(self::card(), 255);
    let reference = lpa.raw(&GetEuiccInfo2Request {}.to_der());
    for segment in [1, 2, 3, 7, 64, 120, 255] {
        lpa.segment = segment;
        assert_eq!(lpa.raw(&GetEuiccInfo2Request {}.to_der()), reference);
    }
}

#[test]
fn long_responses_come_with_61xx_and_get_response() {
    let mut config = config();
    config.response_threshold = 32;
    let mut card = card_with(config);
    let expected = card
        .process_es10(&GetEuiccInfo2Request {}.to_der())
        .unwrap();
    assert!(expected.len() > 64);
    let mut select_isdr = vec![0x00, 0xA4, 0x04, 0x00, 0x10];
    select_isdr.extend_from_slice(&ISD_R_AID);
    select_isdr.push(0x00);
    // The FCI (27 bytes) is within the threshold.
    assert_eq!(sw(&card.transmit(&select_isdr)), 0x9000);
    let info2 = [0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x22, 0x00];
    assert_eq!(card.transmit(&info2), [0x61, 0x20]);
    // Malformed GET RESPONSEs leave the data waiting.
    assert_eq!(card.transmit(&[0x00, 0xC0, 0x01, 0x00, 0x20]), [0x6A, 0x86]);
    assert_eq!(card.transmit(&[0x00, 0xC0, 0x00, 0x00]), [0x67, 0x00]);
    assert_eq!(
        card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x01, 0x00, 0x20]),
        [0x67, 0x00]
    );
    assert_eq!(card.transmit(&[0x80, 0xC0, 0x00, 0x00, 0x20]), [0x6E, 0x00]);
    // Less than offered is fine; the rest is offered again.
    let r = card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x10]);
    assert_eq!((r.len(), sw(&r)), (0x12, 0x6120));
    let mut got = r[..0x10].to_vec();
    let mut le = 0x20u8;
    loop {
        let remaining = expected.len() - got.len();
        if remaining < 0x20 {
            // Asking for more than is left: 6Cxx gives the exact count (ISO/IEC 7816-3).
            assert_eq!(
                card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x20]),
                [0x6C, remaining as u8]
            );
        }
        let r = card.transmit(&[0x00, 0xC0, 0x00, 0x00, le]);
        got.extend_from_slice(&r[..r.len() - 2]);
        match sw(&r) {
            0x9000 => break,
            s if s >> 8 == 0x61 => le = s as u8,
            s => panic!("{s:04X}"),
        }
    }
    assert_eq!(got, expected);
    // Nothing left.
    assert_eq!(card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x20]), [0x69, 0x85]);
    // Any other command drops what was waiting.
    assert_eq!(card.transmit(&info2), [0x61, 0x20]);
    assert_eq!(sw(&card.transmit(&select_isdr)), 0x9000);
    assert_eq!(card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x20]), [0x69, 0x85]);
    // Waiting data belongs to its channel.
    assert_eq!(
        card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]),
        [0x01, 0x90, 0x00]
    );
    assert_eq!(card.transmit(&info2), [0x61, 0x20]);
    assert_eq!(card.transmit(&[0x01, 0xC0, 0x00, 0x00, 0x20]), [0x69, 0x85]);
    assert_eq!(sw(&card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x20])), 0x6120);
    // A short answer within the threshold but longer than the command's Le: 61xx too.
    let challenge_le5 = [0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00, 0x05];
    assert_eq!(card.transmit(&challenge_le5), [0x61, 0x15]);
    let r = card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x15]);
    assert_eq!(
        (r.len(), &r[..3], sw(&r)),
        (0x17, &[0xBF, 0x2E, 0x12][..], 0x9000)
    );

    // lpa_core's exchange follows the chain at every segment size.
    let mut config = self::config();
    config.response_threshold = 7;
    let mut lpa = Lpa::new(card_with(config), 64);
    assert_eq!(lpa.raw(&GetEuiccInfo2Request {}.to_der()), expected);
    let ex = store_data(
        &mut lpa.card,
        lpa.channel,
        &GetEuiccInfo2Request {}.to_der(),
        255,
    )
    .unwrap();
    assert_eq!(ex.apdus, 1 + expected.len().div_ceil(7));
}

#[test]
fn malformed_apdus_get_the_right_status_words_never_a_panic() {
    let mut card = card();
    let mut select_isdr = vec![0x00, 0xA4, 0x04, 0x0C, 0x10];
    select_isdr.extend_from_slice(&ISD_R_AID);
    assert_eq!(card.transmit(&select_isdr), [0x90, 0x00]);
    let cases: &[(&[u8], u16)] = &[
        (&[], 0x6700),
        (&[0x80], 0x6700),
        (&[0x80, 0xE2, 0x91], 0x6700),
        // Lc says 5, 3 bytes follow; Lc 2 with 4 bytes; extended length.
        (&[0x80, 0xE2, 0x91, 0x00, 0x05, 0xBF, 0x2E, 0x00], 0x6700),
        (
            &[0x80, 0xE2, 0x91, 0x00, 0x02, 0xBF, 0x2E, 0x00, 0x00, 0x00],
            0x6700,
        ),
        (
            &[0x80, 0xE2, 0x91, 0x00, 0x00, 0x00, 0x03, 0xBF, 0x2E, 0x00],
            0x6700,
        ),
        // Unknown instructions (also with an unknown class: the class is checked first).
        (&[0x80, 0xCA, 0x00, 0x5A, 0x00], 0x6D00),
        (&[0x00, 0xB0, 0x00, 0x00, 0x10], 0x6D00),
        (&[0x00, 0x12, 0x00, 0x00], 0x6D00),
        (&[0xFF, 0xE2, 0x91, 0x00, 0x01, 0x00], 0x6E00),
        (&[0x20, 0xA4, 0x04, 0x00, 0x01, 0xA0], 0x6E00),
        (&[0xA0, 0xCA, 0x00, 0x00], 0x6E00),
        // Instructions in the wrong class.
        (&[0x00, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00], 0x6E00),
        (&[0x80, 0xA4, 0x04, 0x00, 0x01, 0xA0], 0x6E00),
        (&[0x80, 0x70, 0x00, 0x00, 0x01], 0x6E00),
        // Secure messaging and command chaining are not supported.
        (&[0x84, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00], 0x6882),
        (&[0x0C, 0xA4, 0x04, 0x00, 0x01, 0xA0], 0x6882),
        (&[0x60, 0xA4, 0x04, 0x00, 0x01, 0xA0], 0x6882),
        (&[0x90, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00], 0x6884),
        (&[0x50, 0xA4, 0x04, 0x00, 0x01, 0xA0], 0x6884),
        // A channel that is not open.
        (&[0x83, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00], 0x6881),
        (&[0xCF, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00], 0x6881),
        // ES10 requests: not a TLV, an unknown tag, a known tag with a broken body, a TLV
        // with trailing bytes, a BPP part out of any session.
        (&[0x80, 0xE2, 0x91, 0x00, 0x02, 0xBF, 0x2E], 0x6A80),
        (&[0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x7F, 0x00], 0x6A88),
        (&[0x80, 0xE2, 0x91, 0x00, 0x03, 0x30, 0x01, 0x00], 0x6A88),
        (
            &[0x80, 0xE2, 0x91, 0x00, 0x05, 0xBF, 0x31, 0x02, 0x81, 0x00],
            0x6A80,
        ),
        (
            &[0x80, 0xE2, 0x91, 0x00, 0x05, 0xBF, 0x2E, 0x00, 0x00, 0x00],
            0x6A80,
        ),
        (
            &[0x80, 0xE2, 0x91, 0x00, 0x05, 0xBF, 0x3E, 0x03, 0x5C, 0x01],
            0x6A80,
        ),
        (
            &[
                0x80, 0xE2, 0x91, 0x00, 0x06, 0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x4F,
            ],
            0x6A80,
        ),
        (&[0x80, 0xE2, 0x91, 0x00, 0x02, 0xA3, 0x10], 0x6985),
        (
            &[0x80, 0xE2, 0x91, 0x00, 0x04, 0xBF, 0x36, 0x81, 0x90],
            0x6985,
        ),
    ];
    for (apdu, expected) in cases {
        assert_eq!(sw(&card.transmit(apdu)), *expected, "{}", hex::encode(apdu));
    }
    // The card still works.
    assert_eq!(
        sw(&card.transmit(&[0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00])),
        0x9000
    );
}

/// A deterministic generator for the robustness test (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_and_mutated_apdus_never_panic() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    install(&mut lpa, &server, 900);
    // Seeds: valid commands of every kind, then mutated and random bytes.
    let (tid, otpk) = prepare(&mut lpa, &server);
    let (_, package, metadata) = demo(901);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let mut seeds: Vec<Vec<u8>> = vec![
        h("0070000001"),
        h("00A4040010A0000005591010FFFFFFFF8900000100"),
        h("80AA000007A9058100830107"),
        h("00C0000020"),
    ];
    let requests = [
        GetEuiccInfo2Request {}.to_der(),
        GetEuiccChallengeRequest {}.to_der(),
        ProfileInfoListRequest {
            search_criteria: None,
            tag_list: Some(vec![0x5A, 0x9F, 0x70]),
        }
        .to_der(),
        h("BF2B00"),
        h("BF280381010780"),
    ];
    for request in requests.iter().chain(
        BppCommands::new(&bpp)
            .unwrap()
            .map(|c| c.bytes.to_vec())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        for block in
            lpa_core::apdu::StoreDataBlocks::new(LogicalChannel::BASIC, request, 200).unwrap()
        {
            let mut buf = [0u8; MAX_SHORT_COMMAND];
            let n = block.encode(&mut buf).unwrap();
            seeds.push(buf[..n].to_vec());
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let apdu: Vec<u8> = if round % 4 == 0 {
            let len = rng.below(300);
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut a = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(4) {
                match rng.below(4) {
                    0 if !a.is_empty() => {
                        let i = rng.below(a.len());
                        a[i] = rng.next() as u8;
                    }
                    1 if !a.is_empty() => a.truncate(rng.below(a.len())),
                    2 => a.push(rng.next() as u8),
                    _ if a.len() > 4 => {
                        // Keep the header, shuffle the class onto another channel.
                        a[0] = [0x00, 0x01, 0x80, 0x81, 0x40, 0xC0][rng.below(6)];
                    }
                    _ => {}
                }
            }
            a
        };
        let r = lpa.card.transmit(&apdu);
        assert!(r.len() >= 2, "{}", hex::encode(&apdu));
        if round % 1000 == 0 {
            // Now and then a reset, as a phone's modem does.
            lpa.card.reset();
        }
    }
    // Still a working card with its profile.
    let mut lpa = Lpa::new(lpa.card, 255);
    assert_eq!(lpa.profiles().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// ES10: information, challenge, addresses, RAT
// ---------------------------------------------------------------------------------------------

#[test]
fn euicc_info_eid_and_challenge() {
    let mut lpa = Lpa::new(card(), 255);
    let sgp26_ci_pkid = h("F54172BDF98A95D65CBEB88A38A1C11D800A85C3");
    let info1: EuiccInfo1 = lpa.call(&GetEuiccInfo1Request {});
    assert_eq!(info1.svn, lpa_core::messages::Version::new(2, 5, 0));
    assert_eq!(
        info1.euicc_ci_pkid_list_for_verification,
        std::slice::from_ref(&sgp26_ci_pkid)
    );
    assert_eq!(
        info1.euicc_ci_pkid_list_for_signing,
        std::slice::from_ref(&sgp26_ci_pkid)
    );
    let info2: EuiccInfo2 = lpa.call(&GetEuiccInfo2Request {});
    assert_eq!(
        info2.euicc_ci_pkid_list_for_verification,
        std::slice::from_ref(&sgp26_ci_pkid)
    );
    assert_eq!(info2.euicc_ci_pkid_list_for_signing, [sgp26_ci_pkid]);
    assert_eq!(
        info2.ext_card_resource_info().installed_applications,
        Some(0)
    );
    assert!(
        info2
            .rsp_capability
            .contains(lpa_core::messages::RspCapability::CRL_SUPPORT)
    );
    let eid: GetEuiccDataResponse = lpa.call(&GetEuiccDataRequest::eid());
    assert_eq!(eid.eid_value.as_bytes().to_vec(), h(pki::DEFAULT_EID));
    assert_eq!(lpa.card.eid(), &eid.eid_value);
    let a = lpa.challenge();
    let b = lpa.challenge();
    assert_eq!((a.len(), b.len()), (16, 16));
    assert_ne!(a, b);
}

#[test]
fn configured_addresses_default_dp_address_and_rat() {
    let mut config = config();
    config.default_dp_address = Some("factory.example.com".to_owned());
    let mut lpa = Lpa::new(card_with(config), 255);
    let addresses = |lpa: &mut Lpa| -> EuiccConfiguredAddressesResponse {
        lpa.call(&EuiccConfiguredAddressesRequest {})
    };
    let a = addresses(&mut lpa);
    assert_eq!(a.default_dp_address.as_deref(), Some("factory.example.com"));
    assert_eq!(a.root_ds_address, "testrootsmds.example.com");
    let set = |lpa: &mut Lpa, address: &str| {
        let r: SetDefaultDpAddressResponse = lpa.call(&SetDefaultDpAddressRequest {
            default_dp_address: address.to_owned(),
        });
        assert_eq!(
            r.set_default_dp_address_result,
            SetDefaultDpAddressResult::Ok
        );
    };
    set(&mut lpa, "smdp.example.org");
    assert_eq!(
        addresses(&mut lpa).default_dp_address.as_deref(),
        Some("smdp.example.org")
    );
    // An empty address removes it.
    set(&mut lpa, "");
    assert_eq!(addresses(&mut lpa).default_dp_address, None);
    // eUICCMemoryReset(resetDefaultSmdpAddress) restores the factory one.
    let r: EuiccMemoryResetResponse = lpa.call(&EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[ResetOptions::RESET_DEFAULT_SMDP_ADDRESS]),
    });
    assert_eq!(r.reset_result, ResetResult::Ok);
    assert_eq!(
        addresses(&mut lpa).default_dp_address.as_deref(),
        Some("factory.example.com")
    );
    let r: EuiccMemoryResetResponse = lpa.call(&EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[ResetOptions::RESET_DEFAULT_SMDP_ADDRESS]),
    });
    assert_eq!(r.reset_result, ResetResult::NothingToDelete);

    // GetRAT: the configured table.
    let rat: GetRatResponse = lpa.call(&GetRatRequest {});
    assert_eq!(rat.rat, lpa.card.config().rules_authorisation_table);
    assert!(rat.rat[0].ppr_ids.contains(PprIds::PPR1));
    assert_eq!(rat.rat[0].allowed_operators[0].mcc_mnc, [0xEE, 0xEE, 0xEE]);
}

// ---------------------------------------------------------------------------------------------
// AuthenticateServer, PrepareDownload, CancelSession
// ---------------------------------------------------------------------------------------------

fn authenticate_error(lpa: &mut Lpa, request: &AuthenticateServerRequest) -> AuthenticateErrorCode {
    match lpa.call(request) {
        AuthenticateServerResponse::Error(e) => {
            assert_eq!(
                e.transaction_id,
                request.server_signed1.value().transaction_id
            );
            e.authenticate_error_code
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn authenticate_server_checks_certificate_signature_challenge_and_ci() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let tid = new_transaction_id();

    // No challenge issued.
    let request = server.authenticate_server_request(&tid, &[0; 16]);
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::NoSessionContext
    );

    // serverSignature1 that does not cover serverSigned1.
    let challenge = lpa.challenge();
    let mut request = server.authenticate_server_request(&tid, &challenge);
    request.server_signature1[5] ^= 0x01;
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::InvalidSignature
    );
    // The challenge is used up by a failed attempt.
    let request = server.authenticate_server_request(&tid, &challenge);
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::NoSessionContext
    );

    // A wrong echo of the challenge.
    let challenge = lpa.challenge();
    let mut wrong = challenge.clone();
    wrong[0] ^= 0xFF;
    let request = server.authenticate_server_request(&tid, &wrong);
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::EuiccChallengeMismatch
    );

    // A CI the eUICC cannot sign with.
    lpa.challenge();
    let challenge = lpa.challenge();
    let mut request = server.authenticate_server_request(&tid, &challenge);
    request.euicc_ci_pkid_to_be_used = vec![0x11; 20];
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::CiPkUnknown
    );

    // A DPauth certificate from a CI the eUICC does not trust.
    let other = TestPki::generate(&TestPkiOptions::new(
        Curve::NistP256,
        now() - Duration::from_secs(86_400),
        now() + Duration::from_secs(86_400 * 365),
    ))
    .unwrap();
    let challenge = lpa.challenge();
    let foreign = Server { pki: other };
    let request = foreign.authenticate_server_request(&tid, &challenge);
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::CiPkUnknown
    );

    // The DPpb certificate in place of DPauth: wrong role.
    let challenge = lpa.challenge();
    let mut request = server.authenticate_server_request(&tid, &challenge);
    request.server_certificate =
        Certificate::from_der(server.pki.dp_pb.certificate.clone()).unwrap();
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::InvalidCertificate
    );

    // An expired DPauth certificate (the card's clock is after 2030-03-30).
    lpa.card
        .set_now(UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    let challenge = lpa.challenge();
    let request = server.authenticate_server_request(&tid, &challenge);
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::InvalidCertificate
    );
    lpa.card.set_now(now());

    // And the good one: euiccSigned1 is signed by the eUICC, echoes the server's data and
    // carries the eUICC and EUM certificates, which chain to the CI.
    let challenge = lpa.challenge();
    let request = server.authenticate_server_request(&tid, &challenge);
    let AuthenticateServerResponse::Ok(ok) = lpa.call(&request) else {
        panic!()
    };
    let signed = ok.euicc_signed1.value();
    assert_eq!(signed.transaction_id, tid);
    assert_eq!(signed.server_address, SMDP_ADDRESS);
    assert_eq!(signed.server_challenge, [0x5A; 16]);
    assert_eq!(signed.ctx_params1, request.ctx_params1);
    let info2: EuiccInfo2 = lpa.call(&GetEuiccInfo2Request {});
    assert_eq!(signed.euicc_info2, info2);
    let verified = verify_chain(
        ok.euicc_certificate.as_bytes(),
        &[ok.eum_certificate.as_bytes()],
        &[&server.pki.ci.certificate],
        now(),
        CertRole::Euicc,
    )
    .unwrap();
    verified
        .verify_signature(ok.euicc_signed1.raw(), &ok.euicc_signature1)
        .unwrap();
    assert_eq!(verified.eid.as_deref(), Some(pki::DEFAULT_EID));
}

fn download_error(lpa: &mut Lpa, request: &PrepareDownloadRequest) -> DownloadErrorCode {
    match lpa.call(request) {
        PrepareDownloadResponse::Error(e) => {
            assert_eq!(
                e.transaction_id,
                request.smdp_signed2.value().transaction_id
            );
            e.download_error_code
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn prepare_download_checks_session_certificate_signature_transaction_and_hash_cc() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let tid = new_transaction_id();

    // No session.
    let request = server.prepare_download_request(&tid, &[0; 64]);
    assert_eq!(
        download_error(&mut lpa, &request),
        DownloadErrorCode::NoSessionContext
    );

    let challenge = lpa.challenge();
    let AuthenticateServerResponse::Ok(ok) =
        lpa.call(&server.authenticate_server_request(&tid, &challenge))
    else {
        panic!()
    };
    let signature1 = ok.euicc_signature1.clone();

    // smdpSignature2 over smdpSigned2 alone (without euiccSignature1).
    let mut request = server.prepare_download_request(&tid, &signature1);
    request.smdp_signature2 = pki::sign(&server.pki.dp_pb.key, request.smdp_signed2.raw())
        .unwrap()
        .to_vec();
    assert_eq!(
        download_error(&mut lpa, &request),
        DownloadErrorCode::InvalidSignature
    );

    // DPauth in place of DPpb.
    let mut request = server.prepare_download_request(&tid, &signature1);
    request.smdp_certificate =
        Certificate::from_der(server.pki.dp_auth.certificate.clone()).unwrap();
    assert_eq!(
        download_error(&mut lpa, &request),
        DownloadErrorCode::InvalidCertificate
    );

    // Another transaction, correctly signed.
    let request = server.prepare_download_request(&new_transaction_id(), &signature1);
    assert_eq!(
        download_error(&mut lpa, &request),
        DownloadErrorCode::InvalidTransactionId
    );

    // ccRequiredFlag without hashCc, hashCc without the flag.
    let cc = |flag: bool, hash: Option<Vec<u8>>| {
        let signed = Signed::new(SmdpSigned2 {
            transaction_id: tid.clone(),
            cc_required_flag: flag,
            bpp_euicc_otpk: None,
        });
        let signature = pki::sign(
            &server.pki.dp_pb.key,
            &smdp_signed2_data(signed.raw(), &signature1),
        )
        .unwrap();
        PrepareDownloadRequest {
            smdp_signed2: signed,
            smdp_signature2: signature.to_vec(),
            hash_cc: hash,
            smdp_certificate: Certificate::from_der(server.pki.dp_pb.certificate.clone()).unwrap(),
        }
    };
    assert_eq!(
        download_error(&mut lpa, &cc(true, None)),
        DownloadErrorCode::UndefinedError
    );
    assert_eq!(
        download_error(&mut lpa, &cc(false, Some(vec![1; 32]))),
        DownloadErrorCode::UndefinedError
    );
    // With the flag, hashCc is echoed in euiccSigned2.
    let hash = lpa_core::activation::hash_cc(b"1234", &tid);
    let request = cc(true, Some(hash.to_vec()));
    let PrepareDownloadResponse::Ok(ok) = lpa.call(&request) else {
        panic!()
    };
    assert_eq!(ok.euicc_signed2.value().hash_cc.as_deref(), Some(&hash[..]));
    assert_eq!(ok.euicc_signed2.value().transaction_id, tid);
    assert_eq!(ok.euicc_signed2.value().euicc_otpk.len(), 65);
    verify_signature(
        &server.pki.euicc.certificate,
        &euicc_signed2_data(ok.euicc_signed2.raw(), &request.smdp_signature2),
        &ok.euicc_signature2,
    )
    .unwrap();
    // A retry with bppEuiccOtpk keeps the one-time key; without it a new key is made.
    let first = ok.euicc_signed2.value().euicc_otpk.clone();
    let signed = Signed::new(SmdpSigned2 {
        transaction_id: tid.clone(),
        cc_required_flag: false,
        bpp_euicc_otpk: Some(first.clone()),
    });
    let signature = pki::sign(
        &server.pki.dp_pb.key,
        &smdp_signed2_data(signed.raw(), &signature1),
    )
    .unwrap();
    let retry = PrepareDownloadRequest {
        smdp_signed2: signed,
        smdp_signature2: signature.to_vec(),
        hash_cc: None,
        smdp_certificate: Certificate::from_der(server.pki.dp_pb.certificate.clone()).unwrap(),
    };
    let PrepareDownloadResponse::Ok(again) = lpa.call(&retry) else {
        panic!()
    };
    assert_eq!(again.euicc_signed2.value().euicc_otpk, first);
    let PrepareDownloadResponse::Ok(fresh) =
        lpa.call(&server.prepare_download_request(&tid, &signature1))
    else {
        panic!()
    };
    assert_ne!(fresh.euicc_signed2.value().euicc_otpk, first);
}

#[test]
fn cancel_session_signs_with_the_dpauth_oid_or_reports_invalid_transaction_id() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let cancel = |lpa: &mut Lpa, tid: &[u8]| -> CancelSessionResponse {
        lpa.call(&CancelSessionRequest {
            transaction_id: tid.to_vec(),
            reason: CancelSessionReason::EndUserRejection,
        })
    };
    assert_eq!(
        cancel(&mut lpa, &[1, 2, 3]),
        CancelSessionResponse::Error(lpa_core::messages::CancelSessionError::InvalidTransactionId)
    );
    let (tid, _) = prepare(&mut lpa, &server);
    assert!(matches!(
        cancel(&mut lpa, &new_transaction_id()),
        CancelSessionResponse::Error(_)
    ));
    let CancelSessionResponse::Ok(ok) = cancel(&mut lpa, &tid) else {
        panic!()
    };
    let signed = ok.euicc_cancel_session_signed.value();
    assert_eq!(signed.transaction_id, tid);
    assert_eq!(signed.smdp_oid.to_string(), "2.999.10");
    assert_eq!(signed.reason, CancelSessionReason::EndUserRejection);
    // euiccCancelSessionSignature covers the `30` TLV.
    assert_eq!(ok.euicc_cancel_session_signed.raw()[0], 0x30);
    verify_signature(
        &server.pki.euicc.certificate,
        ok.euicc_cancel_session_signed.raw(),
        &ok.euicc_cancel_session_signature,
    )
    .unwrap();
    // The session is over.
    assert!(matches!(
        cancel(&mut lpa, &tid),
        CancelSessionResponse::Error(_)
    ));
    let request = server.prepare_download_request(&tid, &[0; 64]);
    assert_eq!(
        download_error(&mut lpa, &request),
        DownloadErrorCode::NoSessionContext
    );

    // Cancelling half way through a BPP discards it: no profile, and the next part is refused.
    let (tid, otpk) = prepare(&mut lpa, &server);
    let (_, package, metadata) = demo(20);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let commands: Vec<_> = BppCommands::new(&bpp).unwrap().collect();
    for c in &commands[..3] {
        assert!(lpa.raw(c.bytes).is_empty());
    }
    assert!(matches!(
        cancel(&mut lpa, &tid),
        CancelSessionResponse::Ok(_)
    ));
    let err = store_data(&mut lpa.card, lpa.channel, commands[3].bytes, 255)
        .err()
        .unwrap();
    assert_eq!(err.status_word().unwrap().0, 0x6985);
    assert!(lpa.profiles().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Downloads
// ---------------------------------------------------------------------------------------------

fn full_download_and_lifecycle(segment: usize, threshold: usize) {
    let server = Server::new();
    let mut config = config();
    config.response_threshold = threshold;
    let mut lpa = Lpa::new(card_with(config), segment);
    let (iccid, package, metadata) = demo(1);
    let (pir, early) = download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    assert!(!early);
    let data = pir.profile_installation_result_data.value();
    let FinalResult::Success(success) = &data.final_result else {
        panic!("{pir:?}")
    };
    assert_eq!(data.smdp_oid.to_string(), "2.999.10");
    assert_eq!(
        data.notification_metadata.notification_address,
        SMDP_ADDRESS
    );
    assert_eq!(data.notification_metadata.iccid, Some(iccid));
    assert_eq!(
        data.notification_metadata.profile_management_operation,
        NotificationEvent::Install
    );
    let installed = lpa.card.installed_profiles();
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].profile_package, package);
    assert_eq!(installed[0].isdp_aid, success.aid);
    assert!(!installed[0].enabled);

    // GetProfilesInfo shows it, disabled, with its metadata.
    let profiles = lpa.profiles();
    assert_eq!(profiles.len(), 1);
    let p = &profiles[0];
    assert_eq!(p.iccid, Some(iccid));
    assert_eq!(p.isdp_aid.as_deref(), Some(&success.aid[..]));
    assert_eq!(p.profile_state, Some(ProfileState::Disabled));
    assert_eq!(
        p.service_provider_name.as_deref(),
        Some("LPA Testbed Telecom")
    );
    assert_eq!(p.profile_name.as_deref(), Some("Demo profile 1"));
    assert_eq!(p.profile_class, Some(ProfileClass::Operational));
    assert_eq!(
        p.notification_configuration_info,
        metadata.notification_configuration_info
    );
    assert_eq!(p.profile_owner, metadata.profile_owner);
    assert_eq!(
        p.dp_proprietary_data.as_ref().map(|d| d.dp_oid.to_string()),
        Some("2.999.10".to_owned())
    );

    // Enable, disable, delete, each with its notification.
    assert_eq!(lpa.enable(iccid), EnableResult::Ok);
    assert_eq!(lpa.profiles()[0].profile_state, Some(ProfileState::Enabled));
    assert_eq!(lpa.enable(iccid), EnableResult::ProfileNotInDisabledState);
    assert_eq!(lpa.delete(iccid), DeleteResult::ProfileNotInDisabledState);
    assert_eq!(lpa.disable(iccid), DisableResult::Ok);
    assert_eq!(lpa.disable(iccid), DisableResult::ProfileNotInEnabledState);
    assert_eq!(lpa.delete(iccid), DeleteResult::Ok);
    assert!(lpa.profiles().is_empty());

    // Notifications: install, enable, disable, delete, sequence numbers increasing.
    let notifications = lpa.notifications();
    let ops: Vec<_> = notifications
        .iter()
        .map(|n| n.metadata().profile_management_operation)
        .collect();
    assert_eq!(
        ops,
        [
            NotificationEvent::Install,
            NotificationEvent::Enable,
            NotificationEvent::Disable,
            NotificationEvent::Delete
        ]
    );
    let seqs: Vec<u32> = notifications
        .iter()
        .map(|n| n.metadata().seq_number)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for n in &notifications {
        let m = n.metadata();
        assert_eq!(m.iccid, Some(iccid));
        match n {
            PendingNotification::ProfileInstallationResult(p) => {
                assert_eq!(p.value().to_der(), pir.to_der());
                assert_eq!(m.notification_address, SMDP_ADDRESS);
            }
            PendingNotification::OtherSignedNotification(o) => {
                let o = o.value();
                assert_eq!(m.notification_address, NOTIFY_ADDRESS);
                verify_signature(
                    o.euicc_certificate.as_bytes(),
                    o.tbs_other_notification.raw(),
                    &o.euicc_notification_signature,
                )
                .unwrap();
                assert_eq!(o.tbs_other_notification.raw()[..2], [0xBF, 0x2F]);
                assert_eq!(o.eum_certificate.as_bytes(), server.pki.eum.certificate);
            }
        }
    }
    // The LPA removes each after delivery.
    for seq in &seqs {
        let r: NotificationSentResponse = lpa.call(&NotificationSentRequest { seq_number: *seq });
        assert_eq!(r.delete_notification_status, DeleteNotificationStatus::Ok);
    }
    assert!(lpa.notifications().is_empty());

    // A second download gets a fresh ISD-P and a later sequence number.
    let (_, package, metadata) = demo(2);
    let (pir2, _) = download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let data2 = pir2.profile_installation_result_data.value();
    assert!(data2.notification_metadata.seq_number > *seqs.last().unwrap());
    let FinalResult::Success(success2) = &data2.final_result else {
        panic!()
    };
    assert_ne!(success2.aid, success.aid);
}

#[test]
fn full_download_at_segment_255_then_enable_disable_delete_and_notifications() {
    full_download_and_lifecycle(255, 256);
}

#[test]
fn full_download_at_segment_64_with_long_get_response_chains() {
    full_download_and_lifecycle(64, 48);
}

#[test]
fn download_with_profile_protection_keys_and_tiny_segments() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let (iccid, package, metadata) = demo(3);
    let options = BppOptions {
        ppk: true,
        chunk: Some(97),
        ..BppOptions::default()
    };
    let (pir, _) = download(&mut lpa, &server, &metadata, &package, &options);
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::Success(_)
    ));
    assert_eq!(lpa.card.installed_profiles()[0].profile_package, package);
    assert_eq!(lpa.card.installed_profiles()[0].iccid, iccid);
    // The same through 4-byte STORE DATA blocks.
    lpa.segment = 4;
    let (_, package, metadata) = demo(4);
    let (pir, _) = download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::Success(_)
    ));
}

/// A download expected to fail: the error, whether it came early, and the card's profiles.
fn failing_download(
    lpa: &mut Lpa,
    server: &Server,
    metadata: &StoreMetadataRequest,
    package: &[u8],
    options: &BppOptions,
) -> (BppCommandId, ErrorReason, bool) {
    let before = lpa.card.installed_profiles().len();
    let (pir, early) = download(lpa, server, metadata, package, options);
    assert_eq!(lpa.card.installed_profiles().len(), before);
    // The failure is also a pending install notification, addressed to the SM-DP+.
    let pending = lpa.notifications();
    let last = pending.last().unwrap();
    assert_eq!(last.metadata().notification_address, SMDP_ADDRESS);
    let PendingNotification::ProfileInstallationResult(kept) = last else {
        panic!()
    };
    assert_eq!(kept.value(), &pir);
    let (command, reason) = error_of(&pir);
    (command, reason, early)
}

#[test]
fn bpp_failures_name_the_step_and_reason() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 120);
    let (_, package, metadata) = demo(10);

    // A tampered 86 (not the last): scp03tSecurityError, answered early at that segment.
    let options = BppOptions {
        tamper_86: Some(0),
        ..BppOptions::default()
    };
    assert_eq!(
        failing_download(&mut lpa, &server, &metadata, &package, &options),
        (
            BppCommandId::LoadProfileElements,
            ErrorReason::Scp03tSecurityError,
            true
        )
    );
    // A tampered 88.
    let options = BppOptions {
        tamper_88: true,
        ..BppOptions::default()
    };
    assert_eq!(
        failing_download(&mut lpa, &server, &metadata, &package, &options),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::Scp03tSecurityError,
            true
        )
    );
    // smdpSign not over euiccOtpk.
    let options = BppOptions {
        bad_signature: true,
        ..BppOptions::default()
    };
    assert_eq!(
        failing_download(&mut lpa, &server, &metadata, &package, &options),
        (
            BppCommandId::InitialiseSecureChannel,
            ErrorReason::InvalidSignature,
            true
        )
    );
    // Another transactionId in BF23.
    let options = BppOptions {
        transaction_id: Some(vec![0xEE; 16]),
        ..BppOptions::default()
    };
    assert_eq!(
        failing_download(&mut lpa, &server, &metadata, &package, &options),
        (
            BppCommandId::InitialiseSecureChannel,
            ErrorReason::InvalidTransactionId,
            true
        )
    );
    // Metadata naming another ICCID than the ProfileHeader: found after the last 86.
    let (_, other_package, _) = demo(11);
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &other_package,
            &BppOptions::default()
        ),
        (
            BppCommandId::LoadProfileElements,
            ErrorReason::DataMismatch,
            false
        )
    );
    // Not a SAIP profile.
    let mut broken = package.clone();
    broken.truncate(broken.len() - 3);
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &broken,
            &BppOptions::default()
        ),
        (
            BppCommandId::LoadProfileElements,
            ErrorReason::PeProcessingError,
            false
        )
    );
    // Nothing was installed by any of these; the good one installs, a second copy is refused.
    install(&mut lpa, &server, 10);
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &package,
            &BppOptions::default()
        ),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::IccidAlreadyExistsOnEuicc,
            true
        )
    );

    // After a failure the session is over: the rest of the BPP is refused with 6985.
    let (tid, otpk) = prepare(&mut lpa, &server);
    let (_, package, metadata) = demo(12);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions {
            tamper_88: true,
            ..BppOptions::default()
        },
    );
    let commands: Vec<_> = BppCommands::new(&bpp).unwrap().collect();
    let mut answers = commands
        .iter()
        .map(|c| store_data(&mut lpa.card, lpa.channel, c.bytes, 120));
    for _ in 0..3 {
        assert!(answers.next().unwrap().unwrap().response.is_empty());
    }
    let pir = answers.next().unwrap().unwrap();
    assert!(pir.answered_early || !pir.response.is_empty());
    assert_eq!(
        error_of(&ProfileInstallationResult::from_der(&pir.response).unwrap()),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::Scp03tSecurityError
        )
    );
    let next = answers.next().unwrap().err().unwrap();
    assert_eq!(next.status_word().unwrap().0, 0x6985);
}

#[test]
fn bpp_sequences_out_of_order_or_out_of_session_are_refused() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let (_, package, metadata) = demo(30);
    // Without PrepareDownload: 6985.
    let tid = new_transaction_id();
    let someone = OneTimeKeyPair::generate(bsp::Curve::NistP256).unwrap();
    let bpp = server.bpp(
        &tid,
        &someone.public_key(),
        &[0; 16],
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let first = BppCommands::new(&bpp).unwrap().next().unwrap();
    let err = store_data(&mut lpa.card, lpa.channel, first.bytes, 255)
        .err()
        .unwrap();
    assert_eq!(err.status_word().unwrap().0, 0x6985);

    // Skipping a sequence (the A1 header) is a structure error at storeMetadata.
    let (tid, otpk) = prepare(&mut lpa, &server);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let commands: Vec<_> = BppCommands::new(&bpp).unwrap().collect();
    assert!(lpa.raw(commands[0].bytes).is_empty());
    assert!(lpa.raw(commands[1].bytes).is_empty());
    let pir = ProfileInstallationResult::from_der(&lpa.raw(commands[3].bytes)).unwrap();
    assert_eq!(
        error_of(&pir),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::Scp03tStructureError
        )
    );

    // Another command in the middle of a load interrupts it (reported against the step the
    // card was waiting for: after the metadata, the profile elements).
    let (tid, otpk) = prepare(&mut lpa, &server);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let commands: Vec<_> = BppCommands::new(&bpp).unwrap().collect();
    for c in &commands[..4] {
        assert!(lpa.raw(c.bytes).is_empty());
    }
    let before = lpa.notifications();
    let PendingNotification::ProfileInstallationResult(interrupted) = before.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        error_of(interrupted.value()),
        (BppCommandId::LoadProfileElements, ErrorReason::Interruption)
    );
    assert_eq!(
        interrupted
            .value()
            .profile_installation_result_data
            .value()
            .notification_metadata
            .iccid,
        Some(metadata.iccid)
    );
    let err = store_data(&mut lpa.card, lpa.channel, commands[4].bytes, 255)
        .err()
        .unwrap();
    assert_eq!(err.status_word().unwrap().0, 0x6985);
    assert!(lpa.profiles().is_empty());

    // A reset in the middle of a load does the same.
    let (tid, otpk) = prepare(&mut lpa, &server);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let commands: Vec<_> = BppCommands::new(&bpp).unwrap().collect();
    assert!(lpa.raw(commands[0].bytes).is_empty());
    let count = lpa.card.pending_notification_numbers().len();
    lpa.card.reset();
    assert_eq!(lpa.card.pending_notification_numbers().len(), count + 1);
    let mut lpa = Lpa::new(lpa.card, 255);
    let err = store_data(&mut lpa.card, lpa.channel, commands[1].bytes, 255)
        .err()
        .unwrap();
    assert_eq!(err.status_word().unwrap().0, 0x6985);
}

#[test]
fn profile_class_policy_rules_and_memory_limits_are_enforced_at_install() {
    let server = Server::new();
    let mut config = config();
    config.supported_profile_classes = vec![ProfileClass::Operational];
    config.max_profiles = 1;
    // Only operators 001/01 may set PPR1; nobody may set PPR2.
    config.rules_authorisation_table = vec![lpa_core::messages::ProfilePolicyAuthorisationRule {
        ppr_ids: PprIds::from_bits(&[PprIds::PPR1]),
        allowed_operators: vec![OperatorId {
            mcc_mnc: vec![0x00, 0xF1, 0x10],
            gid1: None,
            gid2: None,
        }],
        ppr_flags: lpa_core::messages::PprFlags::from_bits(&[]),
    }];
    let mut lpa = Lpa::new(card_with(config), 255);
    let (_, package, mut metadata) = demo(40);

    metadata.profile_class = ProfileClass::Test;
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &package,
            &BppOptions::default()
        ),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::UnsupportedProfileClass,
            true
        )
    );
    metadata.profile_class = ProfileClass::Operational;
    metadata.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR2]));
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &package,
            &BppOptions::default()
        ),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::PprNotAllowed,
            true
        )
    );
    metadata.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR1]));
    metadata.profile_owner = Some(OperatorId {
        mcc_mnc: vec![0x02, 0xF8, 0x10],
        gid1: None,
        gid2: None,
    });
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &package,
            &BppOptions::default()
        ),
        (
            BppCommandId::StoreMetadata,
            ErrorReason::PprNotAllowed,
            true
        )
    );
    metadata.profile_owner = demo(40).2.profile_owner;
    let (pir, _) = download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::Success(_)
    ));
    // Full.
    let (_, package, metadata) = demo(41);
    assert_eq!(
        failing_download(
            &mut lpa,
            &server,
            &metadata,
            &package,
            &BppOptions::default()
        ),
        (
            BppCommandId::ConfigureIsdp,
            ErrorReason::InsufficientMemoryForProfile,
            true
        )
    );
}

// ---------------------------------------------------------------------------------------------
// ES10c
// ---------------------------------------------------------------------------------------------

/// Installs demo profile `n` with the given policy rules.
fn install_with_ppr(lpa: &mut Lpa, server: &Server, n: u32, ppr: &[usize]) -> Iccid {
    let (iccid, package, mut metadata) = demo(n);
    metadata.profile_policy_rules = Some(PprIds::from_bits(ppr));
    let (pir, _) = download(lpa, server, &metadata, &package, &BppOptions::default());
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::Success(_)
    ));
    iccid
}

#[test]
fn enable_disable_delete_result_codes_and_policy_rules() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let unknown = demo(99).0;
    assert_eq!(lpa.enable(unknown), EnableResult::IccidOrAidNotFound);
    assert_eq!(lpa.disable(unknown), DisableResult::IccidOrAidNotFound);
    assert_eq!(lpa.delete(unknown), DeleteResult::IccidOrAidNotFound);

    let a = install(&mut lpa, &server, 50);
    let b = install_with_ppr(&mut lpa, &server, 51, &[PprIds::PPR1]);
    let c = install_with_ppr(&mut lpa, &server, 52, &[PprIds::PPR2]);

    // Enabling one disables the other.
    assert_eq!(lpa.enable(a), EnableResult::Ok);
    assert_eq!(lpa.enable(c), EnableResult::Ok);
    let states: Vec<_> = lpa.profiles().iter().map(|p| p.profile_state).collect();
    assert_eq!(
        states,
        [
            Some(ProfileState::Disabled),
            Some(ProfileState::Disabled),
            Some(ProfileState::Enabled)
        ]
    );
    // PPR2: cannot be deleted (once disabled; while enabled the state comes first).
    assert_eq!(lpa.delete(c), DeleteResult::ProfileNotInDisabledState);
    assert_eq!(lpa.enable(b), EnableResult::Ok);
    assert_eq!(lpa.delete(c), DeleteResult::DisallowedByPolicy);
    // PPR1: the enabled profile cannot be disabled, nor replaced by enabling another.
    assert_eq!(lpa.disable(b), DisableResult::DisallowedByPolicy);
    assert_eq!(lpa.enable(a), EnableResult::DisallowedByPolicy);
    assert_eq!(lpa.profiles()[1].profile_state, Some(ProfileState::Enabled));

    // By ISD-P AID too.
    let aid = lpa.profiles()[0].isdp_aid.clone().unwrap();
    let r: DeleteProfileResponse = lpa.call(&DeleteProfileRequest::IsdpAid(aid.clone()));
    assert_eq!(r.delete_result, DeleteResult::Ok);
    let r: DeleteProfileResponse = lpa.call(&DeleteProfileRequest::IsdpAid(aid.clone()));
    assert_eq!(r.delete_result, DeleteResult::IccidOrAidNotFound);
    let r: EnableProfileResponse = lpa.call(&EnableProfileRequest {
        profile_identifier: ProfileIdentifier::IsdpAid(aid),
        refresh_flag: true,
    });
    assert_eq!(r.enable_result, EnableResult::IccidOrAidNotFound);

    // eUICCMemoryReset deletes operational profiles whatever their rules, without
    // notifications.
    let pending = lpa.card.pending_notification_numbers().len();
    let r: EuiccMemoryResetResponse = lpa.call(&EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[ResetOptions::DELETE_OPERATIONAL_PROFILES]),
    });
    assert_eq!(r.reset_result, ResetResult::Ok);
    assert!(lpa.profiles().is_empty());
    assert_eq!(lpa.card.pending_notification_numbers().len(), pending);
    let r: EuiccMemoryResetResponse = lpa.call(&EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[ResetOptions::DELETE_OPERATIONAL_PROFILES]),
    });
    assert_eq!(r.reset_result, ResetResult::NothingToDelete);
}

#[test]
fn memory_reset_of_test_profiles_keeps_operational_ones() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let operational = install(&mut lpa, &server, 60);
    let (_, package, mut metadata) = demo(61);
    metadata.profile_class = ProfileClass::Test;
    download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    assert_eq!(lpa.card.installed_profiles()[1].class, ProfileClass::Test);
    let r: EuiccMemoryResetResponse = lpa.call(&EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[ResetOptions::DELETE_FIELD_LOADED_TEST_PROFILES]),
    });
    assert_eq!(r.reset_result, ResetResult::Ok);
    let left = lpa.profiles();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].iccid, Some(operational));
}

#[test]
fn get_profiles_info_search_criteria_and_tag_list() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let a = install(&mut lpa, &server, 70);
    let (b, package, mut metadata) = demo(71);
    metadata.profile_class = ProfileClass::Test;
    download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let aid_b = lpa.profiles()[1].isdp_aid.clone().unwrap();

    let list =
        |lpa: &mut Lpa, search: Option<ProfileSearchCriteria>, tags: Option<Vec<u8>>| match lpa
            .call(&ProfileInfoListRequest {
                search_criteria: search,
                tag_list: tags,
            }) {
            ProfileInfoListResponse::Ok(list) => list,
            other => panic!("{other:?}"),
        };
    let by_iccid = list(&mut lpa, Some(ProfileSearchCriteria::Iccid(a)), None);
    assert_eq!(by_iccid.len(), 1);
    assert_eq!(by_iccid[0].iccid, Some(a));
    let by_aid = list(
        &mut lpa,
        Some(ProfileSearchCriteria::IsdpAid(aid_b.clone())),
        None,
    );
    assert_eq!(by_aid.len(), 1);
    assert_eq!(by_aid[0].iccid, Some(b));
    let by_class = list(
        &mut lpa,
        Some(ProfileSearchCriteria::ProfileClass(ProfileClass::Test)),
        None,
    );
    assert_eq!(by_class.len(), 1);
    assert_eq!(by_class[0].iccid, Some(b));
    assert!(
        list(
            &mut lpa,
            Some(ProfileSearchCriteria::Iccid(demo(79).0)),
            None
        )
        .is_empty()
    );
    assert!(
        list(
            &mut lpa,
            Some(ProfileSearchCriteria::ProfileClass(
                ProfileClass::Provisioning
            )),
            None
        )
        .is_empty()
    );

    // tagList: ICCID and state only (5A 9F70), in the order of ProfileInfo.
    let filtered = list(&mut lpa, None, Some(h("9F705A")));
    assert_eq!(filtered.len(), 2);
    for p in &filtered {
        assert!(p.iccid.is_some() && p.profile_state.is_some());
        assert!(p.isdp_aid.is_none() && p.profile_name.is_none() && p.profile_class.is_none());
    }
    assert_eq!(
        filtered[0].to_der(),
        [h("E3105A0A"), a.as_bytes().to_vec(), h("9F700100")].concat()
    );
    // A tagList that does not parse.
    assert_eq!(
        lpa.call::<ProfileInfoListResponse>(&ProfileInfoListRequest {
            search_criteria: None,
            tag_list: Some(h("9F")),
        }),
        ProfileInfoListResponse::Error(
            lpa_core::messages::ProfileInfoListError::IncorrectInputValues
        )
    );
}

#[test]
fn set_nickname() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let iccid = install(&mut lpa, &server, 80);
    let set = |lpa: &mut Lpa, iccid: Iccid, name: &str| -> SetNicknameResult {
        let r: SetNicknameResponse = lpa.call(&SetNicknameRequest {
            iccid,
            profile_nickname: name.to_owned(),
        });
        r.set_nickname_result
    };
    assert_eq!(set(&mut lpa, iccid, "Travel"), SetNicknameResult::Ok);
    assert_eq!(
        lpa.profiles()[0].profile_nickname.as_deref(),
        Some("Travel")
    );
    assert_eq!(
        set(&mut lpa, demo(81).0, "x"),
        SetNicknameResult::IccidNotFound
    );
    assert_eq!(
        set(&mut lpa, iccid, &"n".repeat(65)),
        SetNicknameResult::UndefinedError
    );
    assert_eq!(set(&mut lpa, iccid, ""), SetNicknameResult::Ok);
    assert_eq!(lpa.profiles()[0].profile_nickname.as_deref(), Some(""));
}

#[test]
fn notification_list_retrieve_and_sent() {
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let a = install(&mut lpa, &server, 90);
    // A profile without notificationConfigurationInfo produces only its install result.
    let (b, package, mut metadata) = demo(91);
    metadata.notification_configuration_info = None;
    download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    assert_eq!(lpa.enable(a), EnableResult::Ok);
    assert_eq!(lpa.enable(b), EnableResult::Ok); // disables a: a notifies, b does not
    let list =
        |lpa: &mut Lpa, op: Option<NotificationEvent>| match lpa.call(&ListNotificationRequest {
            profile_management_operation: op,
        }) {
            ListNotificationResponse::Ok(list) => list,
            other => panic!("{other:?}"),
        };
    let all = list(&mut lpa, None);
    let summary: Vec<_> = all
        .iter()
        .map(|m| (m.profile_management_operation, m.iccid.unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            (NotificationEvent::Install, a),
            (NotificationEvent::Install, b),
            (NotificationEvent::Enable, a),
            (NotificationEvent::Disable, a),
        ]
    );
    let installs = list(&mut lpa, Some(NotificationEvent::Install));
    assert_eq!(installs.len(), 2);
    assert!(list(&mut lpa, Some(NotificationEvent::Delete)).is_empty());

    // Retrieve by sequence number and by operation.
    let retrieve = |lpa: &mut Lpa,
                    c: Option<NotificationSearchCriteria>|
     -> RetrieveNotificationsListResponse {
        lpa.call(&RetrieveNotificationsListRequest { search_criteria: c })
    };
    let seq = all[2].seq_number;
    let RetrieveNotificationsListResponse::Ok(one) =
        retrieve(&mut lpa, Some(NotificationSearchCriteria::SeqNumber(seq)))
    else {
        panic!()
    };
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].metadata(), &all[2]);
    let RetrieveNotificationsListResponse::Ok(disables) = retrieve(
        &mut lpa,
        Some(NotificationSearchCriteria::ProfileManagementOperation(
            NotificationEvent::Disable,
        )),
    ) else {
        panic!()
    };
    assert_eq!(disables.len(), 1);
    assert_eq!(
        retrieve(&mut lpa, Some(NotificationSearchCriteria::SeqNumber(9999))),
        RetrieveNotificationsListResponse::Error(RetrieveNotificationsListError::NoResultAvailable)
    );
    assert_eq!(
        retrieve(
            &mut lpa,
            Some(NotificationSearchCriteria::ProfileManagementOperation(
                NotificationEvent::Delete
            ))
        ),
        RetrieveNotificationsListResponse::Error(RetrieveNotificationsListError::NoResultAvailable)
    );

    // NotificationSent removes exactly one; twice is nothingToDelete.
    let sent = |lpa: &mut Lpa, seq: u32| -> DeleteNotificationStatus {
        let r: NotificationSentResponse = lpa.call(&NotificationSentRequest { seq_number: seq });
        r.delete_notification_status
    };
    assert_eq!(sent(&mut lpa, seq), DeleteNotificationStatus::Ok);
    assert_eq!(
        sent(&mut lpa, seq),
        DeleteNotificationStatus::NothingToDelete
    );
    assert_eq!(list(&mut lpa, None).len(), 3);
    for m in list(&mut lpa, None) {
        assert_eq!(sent(&mut lpa, m.seq_number), DeleteNotificationStatus::Ok);
    }
    assert_eq!(
        retrieve(&mut lpa, None),
        RetrieveNotificationsListResponse::Ok(Vec::new())
    );
    // Numbers keep growing after the list emptied.
    assert_eq!(lpa.disable(b), DisableResult::Ok); // b has no configuration: nothing
    assert!(list(&mut lpa, None).is_empty());
    assert_eq!(lpa.enable(a), EnableResult::Ok);
    assert!(list(&mut lpa, None)[0].seq_number > all[3].seq_number);
}

// ---------------------------------------------------------------------------------------------
// LoadCRL
// ---------------------------------------------------------------------------------------------

/// A CRL of `issuer` (CI certificate + key) revoking `serials`, with a cRLNumber.
fn make_crl(
    issuer_cert: &[u8],
    issuer_key: &pki::PrivateKey,
    serials: &[&[u8]],
    number: u8,
    with_aki: bool,
) -> Vec<u8> {
    use der::Decode as _;
    use der::Encode as _;
    use x509_cert::crl::{CertificateList as Crl, RevokedCert, TbsCertList};
    use x509_cert::ext::Extension;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::Time;

    let ci = x509_cert::Certificate::from_der(issuer_cert).unwrap();
    let algorithm = x509_cert::spki::AlgorithmIdentifierOwned {
        oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
        parameters: None,
    };
    let time = Time::UtcTime(
        der::asn1::UtcTime::from_unix_duration(Duration::from_secs(1_748_000_000)).unwrap(),
    );
    let mut extensions = vec![Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.20"),
        critical: false,
        extn_value: der::asn1::OctetString::new(
            der::asn1::Uint::new(&[number]).unwrap().to_der().unwrap(),
        )
        .unwrap(),
    }];
    if with_aki {
        let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier {
            key_identifier: Some(
                der::asn1::OctetString::new(pki::ski_of(issuer_cert).unwrap()).unwrap(),
            ),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(Extension {
            extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.35"),
            critical: false,
            extn_value: der::asn1::OctetString::new(aki.to_der().unwrap()).unwrap(),
        });
    }
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: algorithm.clone(),
        issuer: ci.tbs_certificate().subject().clone(),
        this_update: time,
        next_update: None,
        revoked_certificates: Some(
            serials
                .iter()
                .map(|s| RevokedCert {
                    serial_number: SerialNumber::<x509_cert::certificate::Rfc5280>::new(s).unwrap(),
                    revocation_date: time,
                    crl_entry_extensions: None,
                })
                .collect(),
        ),
        crl_extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().unwrap();
    let signature = raw_signature_to_der(&pki::sign(issuer_key, &tbs_der).unwrap()).unwrap();
    Crl {
        tbs_cert_list: tbs,
        signature_algorithm: algorithm,
        signature: der::asn1::BitString::from_bytes(&signature).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn load_crl(lpa: &mut Lpa, crl: Vec<u8>) -> LoadCrlResponse {
    lpa.call(&LoadCrlRequest {
        crl: CertificateList::from_der(crl).unwrap(),
    })
}

#[test]
fn load_crl_checks_the_ci_signature_and_revokes_smdp_certificates() {
    use der::Decode as _;
    let server = Server::new();
    let mut lpa = Lpa::new(card(), 255);
    let dpauth = x509_cert::Certificate::from_der(&server.pki.dp_auth.certificate).unwrap();
    let serial = dpauth.tbs_certificate().serial_number().as_bytes().to_vec();
    let ci = &server.pki.ci;

    // Garbage (a SEQUENCE that is no CRL).
    assert_eq!(
        load_crl(&mut lpa, h("3003020101")),
        LoadCrlResponse::Error(LoadCrlError::InvalidCrlFormat)
    );
    // From a CI the eUICC does not know.
    let other = TestPki::generate(&TestPkiOptions::new(
        Curve::NistP256,
        now() - Duration::from_secs(86_400),
        now() + Duration::from_secs(86_400),
    ))
    .unwrap();
    let foreign = make_crl(&other.ci.certificate, &other.ci.key, &[&serial], 1, true);
    assert_eq!(
        load_crl(&mut lpa, foreign),
        LoadCrlResponse::Error(LoadCrlError::VerificationKeyNotFound)
    );
    // Naming our CI but signed by another key.
    let forged = make_crl(&ci.certificate, &other.ci.key, &[&serial], 1, true);
    assert_eq!(
        load_crl(&mut lpa, forged),
        LoadCrlResponse::Error(LoadCrlError::InvalidSignature)
    );
    // A CRL of our CI that revokes nothing we use: downloads still work.
    let harmless = make_crl(&ci.certificate, &ci.key, &[&[0x7F, 0x7F]], 1, false);
    assert!(matches!(
        load_crl(&mut lpa, harmless),
        LoadCrlResponse::Ok(_)
    ));
    prepare(&mut lpa, &server);
    // A newer one revokes the DPauth certificate: AuthenticateServer refuses it.
    let revoking = make_crl(&ci.certificate, &ci.key, &[&serial], 3, true);
    assert!(matches!(
        load_crl(&mut lpa, revoking),
        LoadCrlResponse::Ok(_)
    ));
    let challenge = lpa.challenge();
    let request = server.authenticate_server_request(&new_transaction_id(), &challenge);
    assert_eq!(
        authenticate_error(&mut lpa, &request),
        AuthenticateErrorCode::InvalidCertificate
    );
    // An older CRL cannot replace it.
    let older = make_crl(&ci.certificate, &ci.key, &[], 2, true);
    assert_eq!(
        load_crl(&mut lpa, older),
        LoadCrlResponse::Error(LoadCrlError::FresherCrlAlreadyLoaded)
    );
}

// ---------------------------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------------------------

#[test]
fn state_survives_a_process_restart() {
    let dir = temp_dir("persist");
    let path = dir.join("card.json");
    let server = Server::new();
    let mut config = config();
    config.state_path = Some(path.clone());
    let (iccid, installed, notifications) = {
        let mut lpa = Lpa::new(card_with(config.clone()), 255);
        assert!(path.is_file(), "a fresh card writes its state at once");
        let iccid = install(&mut lpa, &server, 100);
        install(&mut lpa, &server, 101);
        assert_eq!(lpa.enable(iccid), EnableResult::Ok);
        let r: SetNicknameResponse = lpa.call(&SetNicknameRequest {
            iccid,
            profile_nickname: "Home".to_owned(),
        });
        assert_eq!(r.set_nickname_result, SetNicknameResult::Ok);
        let r: SetDefaultDpAddressResponse = lpa.call(&SetDefaultDpAddressRequest {
            default_dp_address: "persisted.example.com".to_owned(),
        });
        assert_eq!(
            r.set_default_dp_address_result,
            SetDefaultDpAddressResult::Ok
        );
        (iccid, lpa.card.installed_profiles(), lpa.notifications())
    };
    // No temporary file is left behind.
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, [std::ffi::OsString::from("card.json")]);

    // "Restart": a new card from the same file.
    let mut lpa = Lpa::new(card_with(config.clone()), 255);
    assert_eq!(lpa.card.installed_profiles(), installed);
    assert_eq!(lpa.notifications(), notifications);
    let profiles = lpa.profiles();
    assert_eq!(profiles[0].profile_nickname.as_deref(), Some("Home"));
    assert_eq!(profiles[0].profile_state, Some(ProfileState::Enabled));
    let a: EuiccConfiguredAddressesResponse = lpa.call(&EuiccConfiguredAddressesRequest {});
    assert_eq!(
        a.default_dp_address.as_deref(),
        Some("persisted.example.com")
    );
    // Counters continue: sequence numbers and ISD-P AIDs are not reused.
    let last_seq = notifications.last().unwrap().metadata().seq_number;
    assert_eq!(lpa.disable(iccid), DisableResult::Ok);
    let after = lpa.notifications();
    assert!(after.last().unwrap().metadata().seq_number > last_seq);
    let (_, package, metadata) = demo(102);
    let (pir, _) = download(
        &mut lpa,
        &server,
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let FinalResult::Success(s) = &pir.profile_installation_result_data.value().final_result else {
        panic!()
    };
    assert!(installed.iter().all(|p| p.isdp_aid != s.aid));
    // A download session does not survive a restart.
    let (tid, otpk) = prepare(&mut lpa, &server);
    let (_, package, metadata) = demo(103);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    drop(lpa);
    let mut lpa = Lpa::new(card_with(config.clone()), 255);
    let first = BppCommands::new(&bpp).unwrap().next().unwrap();
    let err = store_data(&mut lpa.card, lpa.channel, first.bytes, 255)
        .err()
        .unwrap();
    assert_eq!(err.status_word().unwrap().0, 0x6985);

    // A corrupt state file is an error, not a fresh card.
    std::fs::write(&path, b"{ not json").unwrap();
    let identity = EuiccIdentity::load_sgp26(&data_dir().join("sgp26"), Curve::NistP256).unwrap();
    assert!(matches!(
        SoftEuicc::new(identity, config),
        Err(EuiccError::State { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn identity_from_a_generated_pki_on_brainpool() {
    // The whole flow on brainpoolP256r1: a generated hierarchy, a brainpool one-time key.
    let pki = TestPki::generate(&TestPkiOptions::new(
        Curve::BrainpoolP256r1,
        now() - Duration::from_secs(86_400),
        now() + Duration::from_secs(86_400 * 365),
    ))
    .unwrap();
    let identity = EuiccIdentity::from_test_pki(&pki).unwrap();
    assert_eq!(identity.signing_ci_pkid, pki.ci_pkid().unwrap());
    let mut lpa = Lpa::new(SoftEuicc::new(identity, config()).unwrap(), 255);
    let server = Server { pki };
    let tid = new_transaction_id();
    let challenge = lpa.challenge();
    let AuthenticateServerResponse::Ok(ok) =
        lpa.call(&server.authenticate_server_request(&tid, &challenge))
    else {
        panic!()
    };
    let PrepareDownloadResponse::Ok(prepared) =
        lpa.call(&server.prepare_download_request(&tid, &ok.euicc_signature1))
    else {
        panic!()
    };
    let otpk = prepared.euicc_signed2.value().euicc_otpk.clone();
    let (iccid, package, metadata) = demo(110);
    let bpp = server.bpp(
        &tid,
        &otpk,
        lpa.card.eid().as_bytes(),
        &metadata,
        &package,
        &BppOptions::default(),
    );
    let (response, early, _) = load_bpp(&mut lpa, &bpp);
    assert!(!early);
    let pir = ProfileInstallationResult::from_der(&response).unwrap();
    verify_signature(
        &server.pki.euicc.certificate,
        pir.profile_installation_result_data.raw(),
        &pir.euicc_sign_pir,
    )
    .unwrap();
    assert!(matches!(
        pir.profile_installation_result_data.value().final_result,
        FinalResult::Success(_)
    ));
    assert_eq!(lpa.card.installed_profiles()[0].iccid, iccid);
}

#[test]
fn identity_from_files_of_the_recorded_session() {
    let certs = data_dir().join("rsp-session/certs");
    let identity = EuiccIdentity::load_files(
        &certs.join("euicc.der"),
        &certs.join("euicc-key.pem"),
        &certs.join("eum.der"),
        &[certs.join("ci.der"), certs.join("ci-2017.der")],
    )
    .unwrap();
    assert_eq!(identity.eid.as_bytes().to_vec(), h(pki::DEFAULT_EID));
    assert_eq!(
        identity.verification_ci_pkids(),
        vec![h("F54172BDF98A95D65CBEB88A38A1C11D800A85C3"); 2]
    );
    // A key that is not the certificate's is refused.
    let wrong = EuiccIdentity::load_files(
        &certs.join("euicc.der"),
        &certs.join("dpauth-key.pem"),
        &certs.join("eum.der"),
        &[certs.join("ci.der")],
    );
    assert!(matches!(wrong, Err(EuiccError::Pki(_))));
    // That card answers with the recorded session's EID.
    let mut lpa = Lpa::new(SoftEuicc::new(identity, config()).unwrap(), 255);
    let eid: GetEuiccDataResponse = lpa.call(&GetEuiccDataRequest::eid());
    assert_eq!(eid.eid_value.as_bytes().to_vec(), h(pki::DEFAULT_EID));
}
