//! The test SM-DP+ / SM-DS over real TLS (`lpa_testbed::smdp`), driven by an in-test HTTPS
//! client that trusts only the test CI and an in-test card side built from `pki` + `bsp`:
//! whole downloads from an ES2+ order to the installation notification, confirmation codes,
//! cancelled sessions, SM-DS events, the profile state machine, every refusal with its SGP.22
//! code, hostile HTTP clients, and the signed-data definitions proven against a recorded
//! session from another implementation (`tests/data/rsp-session/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lpa_core::der::{Certificate, Decode, Encode, ObjectIdentifier, Signed};
use lpa_core::es9::{
    self as json, AuthenticateClientOk, EmptyBody, Es9Error, Es11AuthenticateClientOk,
    GetBoundProfilePackageOk, InitiateAuthenticationOk, ResponseBody, TransactionId,
    decode_response, encode_json,
};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    AuthenticateResponseOk, AuthenticateServerResponse, BoundProfilePackage as BppMessage,
    CancelSessionReason, CancelSessionResponse, CancelSessionResponseOk, CtxParams1,
    CtxParamsForCommonAuthentication, DeviceCapabilities, DeviceInfo, ErrorReason, ErrorResult,
    EuiccCancelSessionSigned, EuiccInfo1, EuiccInfo2, EuiccSigned1, EuiccSigned2, FinalResult,
    InitialiseSecureChannelRequest, NotificationEvent, NotificationMetadata,
    OtherSignedNotification, PendingNotification, PrepareDownloadResponse,
    PrepareDownloadResponseOk, ProfileInstallationResult, ProfileInstallationResultData,
    RspCapability, ServerSigned1, SmdpSigned2, StoreMetadataRequest, SuccessResult, UiccCapability,
    Version,
};
use lpa_core::tlv::{Tag, Tlv};
use lpa_testbed::bsp::{self, OneTimeKeyPair, open_bound_profile_package};
use lpa_testbed::pki::{
    self, CertRole, CertSpec, Curve, Identity, Issuer, NameAttribute, PrivateKey, TestPki,
    TestPkiOptions, issue_certificate, verify_chain,
};
use lpa_testbed::smdp::binding::{BindingInputs, bind_profile_package};
use lpa_testbed::smdp::signed_data::{
    self, initialise_secure_channel_parts, verify_cancel_session, verify_euicc_signature1,
    verify_euicc_signature2, verify_profile_installation_result, verify_smdp_sign,
    verify_smdp_signature2,
};
use lpa_testbed::smdp::{
    ProfileStatus, Request, ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer,
};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const HOST: &str = "testsmdpplus1.example.com";
const SMDS: &str = "testsmds1.example.com";
const EID: &str = pki::DEFAULT_EID;
/// Another EID within the same EUM range (check digits valid).
const OTHER_EID_PREFIX: &str = "890490321234512345123456789999";

// ---------------------------------------------------------------------------------------------
// Fixtures: PKI, server, HTTPS client
// ---------------------------------------------------------------------------------------------

fn generate_pki() -> TestPki {
    let now = SystemTime::now();
    let options = TestPkiOptions::new(
        Curve::NistP256,
        now - Duration::from_secs(86_400),
        now + Duration::from_secs(3650 * 86_400),
    );
    TestPki::generate(&options).unwrap()
}

struct Bed {
    pki: TestPki,
    server: SmdpServer,
    client: HttpsClient,
}

impl Bed {
    fn new() -> Bed {
        Bed::with(|_| {}, ServerOptions::default())
    }

    fn with(tweak: impl FnOnce(&mut SmdpConfig), options: ServerOptions) -> Bed {
        let pki = generate_pki();
        let mut config = SmdpConfig::from_pki(&pki);
        config.smds_host = Some(SMDS.to_owned());
        tweak(&mut config);
        let smdp = Arc::new(Smdp::new(config).unwrap());
        for n in 1..=4 {
            smdp.add_profile(ServedProfile::demo(n)).unwrap();
        }
        let server = SmdpServer::start(smdp, options).unwrap();
        let client = HttpsClient::new(server.addr(), &pki.ci.certificate);
        Bed {
            pki,
            server,
            client,
        }
    }

    fn smdp(&self) -> &Smdp {
        self.server.smdp()
    }

    fn card(&self) -> TestCard {
        TestCard::from_pki(&self.pki)
    }

    fn status(&self, iccid: &Iccid) -> ProfileStatus {
        self.smdp().profile(&iccid.to_string()).unwrap().status
    }

    fn es9<T: ResponseBody>(&self, function: &str, body: &[u8]) -> Result<T, Es9Error> {
        let (status, body) =
            self.client
                .post(HOST, &format!("/gsma/rsp2/es9plus/{function}"), body);
        decode_response::<T>(status, &body).map(|r| r.body)
    }

    fn es2(&self, function: &str, body: &str) -> Result<serde_json::Value, Es9Error> {
        let (status, body) = self.client.post(
            HOST,
            &format!("/gsma/rsp2/es2plus/{function}"),
            body.as_bytes(),
        );
        decode_response::<AnyBody>(status, &body).map(|r| r.body.0)
    }

    /// ES2+ downloadOrder (by ICCID, optionally linked) and confirmOrder (released).
    fn order(&self, iccid: &Iccid, eid: Option<&str>, cc: Option<&str>) -> String {
        let eid_member = eid.map(|e| format!(",\"eid\":\"{e}\"")).unwrap_or_default();
        self.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"{eid_member}}}"),
        )
        .unwrap();
        let cc_member = cc
            .map(|c| format!(",\"confirmationCode\":\"{c}\""))
            .unwrap_or_default();
        let confirmed = self
            .es2(
                "confirmOrder",
                &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"{cc_member},\"releaseFlag\":true}}"),
            )
            .unwrap();
        assert_eq!(confirmed["smdpAddress"], HOST);
        confirmed["matchingId"].as_str().unwrap().to_owned()
    }
}

const ES2_HEADER: &str = "\"header\":{\"functionRequesterIdentifier\":\"test-mno\",\"functionCallIdentifier\":\"call-1\"}";

/// Any JSON body (ES2+ answers are read as plain JSON).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
struct AnyBody(serde_json::Value);

impl ResponseBody for AnyBody {}

fn demo_iccid(n: u32) -> Iccid {
    ServedProfile::demo(n).iccid
}

/// Raw HTTP/1.1 over TLS, trusting only the test CI, SNI = the host name.
struct HttpsClient {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

impl HttpsClient {
    fn new(addr: SocketAddr, ci: &[u8]) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ci.to_vec())).unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        HttpsClient {
            addr,
            config: Arc::new(config),
        }
    }

    fn connect(&self, host: &str) -> Tls {
        let tcp = TcpStream::connect(self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let conn = ClientConnection::new(Arc::clone(&self.config), name).unwrap();
        StreamOwned::new(conn, tcp)
    }

    fn post(&self, host: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        self.post_with(
            host,
            path,
            &[
                ("Content-Type", "application/json;charset=UTF-8"),
                ("X-Admin-Protocol", "gsma/rsp/v2.5.0"),
            ],
            body,
        )
    }

    fn post_with(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let mut tls = self.connect(host);
        let mut request = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
        for (n, v) in headers {
            request.push_str(&format!("{n}: {v}\r\n"));
        }
        request.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        tls.write_all(&bytes).unwrap();
        tls.flush().unwrap();
        let (status, _, body) = read_response(&mut tls).unwrap();
        (status, body)
    }
}

/// Reads one HTTP/1.1 response (Content-Length bodies only, as the server sends).
/// Status, headers and body of one HTTP response.
type HttpAnswer = (u16, Vec<(String, String)>, Vec<u8>);

/// What a test does to euiccSigned1 (decoded, as sent, and its signature) before sending.
type Tamper = dyn Fn(&mut EuiccSigned1, &mut Vec<u8>, &mut Vec<u8>);

fn read_response<R: Read>(r: &mut R) -> Option<HttpAnswer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match r.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some((status, headers, body))
}

fn failed_codes<T: std::fmt::Debug>(result: Result<T, Es9Error>) -> (String, String) {
    match result {
        Err(Es9Error::Failed {
            subject_code,
            reason_code,
            ..
        }) => (subject_code, reason_code),
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn assert_failed<T: std::fmt::Debug>(result: Result<T, Es9Error>, subject: &str, reason: &str) {
    assert_eq!(
        failed_codes(result),
        (subject.to_owned(), reason.to_owned())
    );
}

// ---------------------------------------------------------------------------------------------
// The card side
// ---------------------------------------------------------------------------------------------

struct TestCard {
    eid: String,
    euicc: Identity,
    eum_certificate: Vec<u8>,
    ci_certificate: Vec<u8>,
    ci_pkid: Vec<u8>,
    svn: Version,
    curve: bsp::Curve,
}

/// What the card keeps between its answers.
struct CardSession {
    transaction_id: Vec<u8>,
    euicc_signature1: Vec<u8>,
    one_time_key: Option<OneTimeKeyPair>,
}

impl TestCard {
    fn from_pki(pki: &TestPki) -> Self {
        TestCard {
            eid: EID.to_owned(),
            euicc: pki.euicc.clone(),
            eum_certificate: pki.eum.certificate.clone(),
            ci_certificate: pki.ci.certificate.clone(),
            ci_pkid: pki.ci_pkid().unwrap(),
            svn: Version::new(2, 2, 0),
            curve: match pki.curve {
                Curve::BrainpoolP256r1 => bsp::Curve::BrainpoolP256r1,
                _ => bsp::Curve::NistP256,
            },
        }
    }

    /// A second eUICC of the same EUM, with another EID.
    fn sibling(pki: &TestPki, eid: &str) -> Self {
        let key = PrivateKey::generate(pki.curve).unwrap();
        let now = SystemTime::now();
        let spec = CertSpec::new(
            CertRole::Euicc,
            vec![
                (NameAttribute::Country, "XX".into()),
                (NameAttribute::Organization, "LPA Testbed EUM".into()),
                (NameAttribute::SerialNumber, eid.into()),
                (NameAttribute::CommonName, "Sibling eUICC".into()),
            ],
            now - Duration::from_secs(86_400),
            now + Duration::from_secs(365 * 86_400),
        );
        let cert = issue_certificate(
            &spec,
            &key.public_key(),
            Issuer::Ca {
                certificate: &pki.eum.certificate,
                key: &pki.eum.key,
            },
        )
        .unwrap();
        let mut card = TestCard::from_pki(pki);
        card.eid = eid.to_owned();
        card.euicc = Identity::new(cert, key, CertRole::Euicc).unwrap();
        card
    }

    fn euicc_info1(&self) -> Vec<u8> {
        EuiccInfo1 {
            svn: self.svn,
            euicc_ci_pkid_list_for_verification: vec![self.ci_pkid.clone()],
            euicc_ci_pkid_list_for_signing: vec![self.ci_pkid.clone()],
        }
        .to_der()
    }

    fn euicc_info2(&self) -> EuiccInfo2 {
        EuiccInfo2 {
            profile_version: Version::new(2, 3, 1),
            svn: self.svn,
            euicc_firmware_ver: Version::new(1, 0, 0),
            ext_card_resource: vec![0x81, 0x01, 0x00, 0x82, 0x02, 0x40, 0x00],
            uicc_capability: UiccCapability::from_bits(&[UiccCapability::USIM]),
            ts102241_version: None,
            globalplatform_version: None,
            rsp_capability: RspCapability::from_bits(&[RspCapability::ADDITIONAL_PROFILE]),
            euicc_ci_pkid_list_for_verification: vec![self.ci_pkid.clone()],
            euicc_ci_pkid_list_for_signing: vec![self.ci_pkid.clone()],
            euicc_category: None,
            forbidden_profile_policy_rules: None,
            pp_version: Version::new(1, 0, 0),
            sas_accreditation_number: "LPA-TESTBED-SAS".into(),
            certification_data_object: None,
            tre_properties: None,
            tre_product_reference: None,
            additional_euicc_profile_package_versions: None,
        }
    }

    fn initiate_request(&self, address: &str) -> Vec<u8> {
        encode_json(&json::InitiateAuthenticationRequest {
            euicc_challenge: vec![0x5A; 16],
            euicc_info1: self.euicc_info1(),
            smdp_address: address.to_owned(),
        })
        .unwrap()
    }

    /// Checks the server's answer like an eUICC (chain to the CI, serverSignature1, echoes)
    /// and signs euiccSigned1. `tamper` may change what is signed or sent.
    fn authenticate_server(
        &self,
        init: &InitiateAuthenticationOk,
        address: &str,
        matching_id: Option<&str>,
        tamper: impl FnOnce(&mut EuiccSigned1, &mut Vec<u8>, &mut Vec<u8>),
    ) -> (Vec<u8>, CardSession) {
        let role = if address == SMDS {
            CertRole::DsAuth
        } else {
            CertRole::DpAuth
        };
        let server = verify_chain(
            &init.server_certificate,
            &[],
            &[&self.ci_certificate],
            SystemTime::now(),
            role,
        )
        .unwrap();
        let signature = Tlv::parse(&init.server_signature1).unwrap();
        assert_eq!(signature.tag(), Tag(0x5F37));
        server
            .verify_signature(&init.server_signed1, signature.value())
            .unwrap();
        let signed1 = ServerSigned1::from_der(&init.server_signed1).unwrap();
        assert_eq!(signed1.euicc_challenge, vec![0x5A; 16]);
        assert_eq!(signed1.server_address, address);
        assert_eq!(signed1.transaction_id, init.transaction_id.as_bytes());
        assert_eq!(
            init.euicc_ci_pkid_to_be_used,
            signed_data::tlv(Tag(0x04), &self.ci_pkid)
        );

        let mut euicc_signed1 = EuiccSigned1 {
            transaction_id: signed1.transaction_id.clone(),
            server_address: signed1.server_address.clone(),
            server_challenge: signed1.server_challenge.clone(),
            euicc_info2: self.euicc_info2(),
            ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
                matching_id: matching_id.map(str::to_owned),
                device_info: DeviceInfo {
                    tac: vec![0x35, 0x29, 0x06, 0x11],
                    device_capabilities: DeviceCapabilities {
                        eutran_epc_supported_release: Some(Version::new(15, 0, 0)),
                        ..DeviceCapabilities::default()
                    },
                    imei: None,
                },
            }),
        };
        let raw = euicc_signed1.to_der();
        let mut signature = self.euicc.key.sign(&raw).unwrap().to_vec();
        let mut sent = raw;
        tamper(&mut euicc_signed1, &mut sent, &mut signature);
        let response = AuthenticateServerResponse::Ok(AuthenticateResponseOk {
            euicc_signed1: Signed::from_raw(sent).unwrap(),
            euicc_signature1: signature.clone(),
            euicc_certificate: Certificate::from_der(self.euicc.certificate.clone()).unwrap(),
            eum_certificate: Certificate::from_der(self.eum_certificate.clone()).unwrap(),
        });
        (
            response.to_der(),
            CardSession {
                transaction_id: signed1.transaction_id,
                euicc_signature1: signature,
                one_time_key: None,
            },
        )
    }

    /// Checks smdpSignature2 like an eUICC and answers PrepareDownload.
    fn prepare_download(
        &self,
        session: &mut CardSession,
        auth: &AuthenticateClientOk,
        confirmation_code: Option<&str>,
    ) -> Vec<u8> {
        let dp_pb = verify_chain(
            &auth.smdp_certificate,
            &[],
            &[&self.ci_certificate],
            SystemTime::now(),
            CertRole::DpPb,
        )
        .unwrap();
        let signature2 = Tlv::parse(&auth.smdp_signature2).unwrap();
        verify_smdp_signature2(
            &dp_pb.public_key,
            &auth.smdp_signed2,
            signature2.value(),
            &session.euicc_signature1,
        )
        .unwrap();
        let smdp_signed2 = SmdpSigned2::from_der(&auth.smdp_signed2).unwrap();
        assert_eq!(smdp_signed2.transaction_id, session.transaction_id);
        let one_time_key = OneTimeKeyPair::generate(self.curve).unwrap();
        let euicc_signed2 = EuiccSigned2 {
            transaction_id: session.transaction_id.clone(),
            euicc_otpk: one_time_key.public_key().to_vec(),
            hash_cc: confirmation_code.map(|cc| {
                lpa_core::activation::hash_cc(cc.as_bytes(), &session.transaction_id).to_vec()
            }),
        };
        let raw = euicc_signed2.to_der();
        let signature = self
            .euicc
            .key
            .sign(&signed_data::euicc_signature2_input(
                &raw,
                signature2.value(),
            ))
            .unwrap();
        session.one_time_key = Some(one_time_key);
        PrepareDownloadResponse::Ok(PrepareDownloadResponseOk {
            euicc_signed2: Signed::from_raw(raw).unwrap(),
            euicc_signature2: signature.to_vec(),
        })
        .to_der()
    }

    /// What the eUICC does with the BPP: checks smdpSign, then opens every segment.
    fn load_bpp(
        &self,
        session: &CardSession,
        bpp: &[u8],
        dp_pb_cert: &[u8],
    ) -> bsp::OpenedBoundProfilePackage {
        let key = session.one_time_key.as_ref().unwrap();
        let bf23 = bsp::BoundProfilePackage::parse(bpp)
            .unwrap()
            .initialise_secure_channel
            .raw;
        let dp_pb = verify_chain(
            dp_pb_cert,
            &[],
            &[&self.ci_certificate],
            SystemTime::now(),
            CertRole::DpPb,
        )
        .unwrap();
        verify_smdp_sign(&dp_pb.public_key, bf23, &key.public_key()).unwrap();
        open_bound_profile_package(bpp, key, &hex::decode(&self.eid).unwrap()).unwrap()
    }

    fn installation_result(
        &self,
        transaction_id: &[u8],
        iccid: &Iccid,
        success: bool,
        smdp_oid: &str,
    ) -> Vec<u8> {
        let data = ProfileInstallationResultData {
            transaction_id: transaction_id.to_vec(),
            notification_metadata: NotificationMetadata {
                seq_number: 7,
                profile_management_operation: NotificationEvent::Install,
                notification_address: HOST.to_owned(),
                iccid: Some(*iccid),
            },
            smdp_oid: ObjectIdentifier::parse(smdp_oid).unwrap(),
            final_result: if success {
                FinalResult::Success(SuccessResult {
                    aid: hex::decode("A0000005591010FFFFFFFF8900001000").unwrap(),
                    sima_response: vec![0x30, 0x03, 0x80, 0x01, 0x00],
                })
            } else {
                FinalResult::Error(ErrorResult {
                    bpp_command_id: lpa_core::messages::BppCommandId::LoadProfileElements,
                    error_reason: ErrorReason::PeProcessingError,
                    sima_response: None,
                })
            },
        };
        let signed = Signed::new(data);
        let signature = self.euicc.key.sign(signed.raw()).unwrap().to_vec();
        PendingNotification::ProfileInstallationResult(Signed::new(ProfileInstallationResult {
            profile_installation_result_data: signed,
            euicc_sign_pir: signature,
        }))
        .to_der()
    }

    fn cancel_session(
        &self,
        transaction_id: &[u8],
        reason: CancelSessionReason,
        smdp_oid: &str,
    ) -> Vec<u8> {
        let signed = Signed::new(EuiccCancelSessionSigned {
            transaction_id: transaction_id.to_vec(),
            smdp_oid: ObjectIdentifier::parse(smdp_oid).unwrap(),
            reason,
        });
        let signature = self.euicc.key.sign(signed.raw()).unwrap().to_vec();
        CancelSessionResponse::Ok(CancelSessionResponseOk {
            euicc_cancel_session_signed: signed,
            euicc_cancel_session_signature: signature,
        })
        .to_der()
    }

    fn delete_notification(&self, iccid: &Iccid) -> Vec<u8> {
        let signed = Signed::new(NotificationMetadata {
            seq_number: 9,
            profile_management_operation: NotificationEvent::Delete,
            notification_address: HOST.to_owned(),
            iccid: Some(*iccid),
        });
        let signature = self.euicc.key.sign(signed.raw()).unwrap().to_vec();
        PendingNotification::OtherSignedNotification(Signed::new(OtherSignedNotification {
            tbs_other_notification: signed,
            euicc_notification_signature: signature,
            euicc_certificate: Certificate::from_der(self.euicc.certificate.clone()).unwrap(),
            eum_certificate: Certificate::from_der(self.eum_certificate.clone()).unwrap(),
        }))
        .to_der()
    }
}

// ---------------------------------------------------------------------------------------------
// An LPA's steps, over HTTPS
// ---------------------------------------------------------------------------------------------

fn initiate(
    bed: &Bed,
    card: &TestCard,
    address: &str,
) -> Result<InitiateAuthenticationOk, Es9Error> {
    bed.es9("initiateAuthentication", &card.initiate_request(address))
}

fn authenticate_body(transaction_id: &TransactionId, response: Vec<u8>) -> Vec<u8> {
    encode_json(&json::AuthenticateClientRequest {
        transaction_id: *transaction_id,
        authenticate_server_response: response,
    })
    .unwrap()
}

fn authenticate(
    bed: &Bed,
    card: &TestCard,
    matching_id: Option<&str>,
) -> (
    InitiateAuthenticationOk,
    CardSession,
    Result<AuthenticateClientOk, Es9Error>,
) {
    let init = initiate(bed, card, HOST).unwrap();
    let (response, session) = card.authenticate_server(&init, HOST, matching_id, |_, _, _| {});
    let result = bed.es9(
        "authenticateClient",
        &authenticate_body(&init.transaction_id, response),
    );
    (init, session, result)
}

fn get_bpp_body(transaction_id: &TransactionId, response: Vec<u8>) -> Vec<u8> {
    encode_json(&json::GetBoundProfilePackageRequest {
        transaction_id: *transaction_id,
        prepare_download_response: response,
    })
    .unwrap()
}

fn notification_body(der: Vec<u8>) -> Vec<u8> {
    encode_json(&json::HandleNotificationRequest {
        pending_notification: der,
    })
    .unwrap()
}

fn cancel_body(transaction_id: &TransactionId, der: Vec<u8>) -> Vec<u8> {
    encode_json(&json::CancelSessionRequest {
        transaction_id: *transaction_id,
        cancel_session_response: der,
    })
    .unwrap()
}

/// A whole download up to the BPP; returns what the card opened.
fn download(
    bed: &Bed,
    card: &TestCard,
    matching_id: Option<&str>,
    cc: Option<&str>,
) -> Result<
    (
        InitiateAuthenticationOk,
        CardSession,
        AuthenticateClientOk,
        bsp::OpenedBoundProfilePackage,
    ),
    Es9Error,
> {
    let (init, mut session, auth) = authenticate(bed, card, matching_id);
    let auth = auth?;
    let prepared = card.prepare_download(&mut session, &auth, cc);
    let bpp: GetBoundProfilePackageOk = bed.es9(
        "getBoundProfilePackage",
        &get_bpp_body(&init.transaction_id, prepared),
    )?;
    let opened = card.load_bpp(&session, &bpp.bound_profile_package, &auth.smdp_certificate);
    Ok((init, session, auth, opened))
}

fn smdp_oid() -> &'static str {
    pki::DEFAULT_SMDP_OID
}

// ---------------------------------------------------------------------------------------------
// Whole sessions
// ---------------------------------------------------------------------------------------------

#[test]
fn full_download_from_es2_order_to_installed() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    assert_eq!(bed.status(&iccid), ProfileStatus::Available);

    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"{EID}\"}}"),
    )
    .unwrap();
    assert_eq!(bed.status(&iccid), ProfileStatus::Linked);
    let confirmed = bed
        .es2(
            "confirmOrder",
            &format!(
                "{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"{EID}\",\"releaseFlag\":true}}"
            ),
        )
        .unwrap();
    assert_eq!(confirmed["eid"], EID);
    let matching_id = confirmed["matchingId"].as_str().unwrap().to_owned();
    assert_eq!(matching_id.len(), 23);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);

    let (init, session, auth, opened) = download(&bed, &card, Some(&matching_id), None).unwrap();
    assert_eq!(bed.status(&iccid), ProfileStatus::Downloaded);
    // The profile package, byte for byte, and the metadata shown to the user.
    let spec = ServedProfile::demo(1);
    assert_eq!(opened.profile_package, spec.profile_package);
    assert_eq!(opened.store_metadata, auth.profile_metadata);
    assert_eq!(opened.configure_isdp, vec![0xBF, 0x24, 0x00]);
    assert!(opened.replace_session_keys.is_none());
    let metadata = StoreMetadataRequest::from_der(&auth.profile_metadata).unwrap();
    assert_eq!(metadata.iccid, iccid);
    assert_eq!(metadata.profile_name, spec.profile_name);
    let smdp_signed2 = SmdpSigned2::from_der(&auth.smdp_signed2).unwrap();
    assert!(!smdp_signed2.cc_required_flag);
    assert_eq!(smdp_signed2.transaction_id, init.transaction_id.as_bytes());

    // The installation notification: HTTP 204, profile Installed; sent again: still 204.
    let pir = card.installation_result(&session.transaction_id, &iccid, true, smdp_oid());
    let (status, body) = bed.client.post(
        HOST,
        "/gsma/rsp2/es9plus/handleNotification",
        &notification_body(pir.clone()),
    );
    assert_eq!((status, body.len()), (204, 0));
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    let (status, _) = bed.client.post(
        HOST,
        "/gsma/rsp2/es9plus/handleNotification",
        &notification_body(pir),
    );
    assert_eq!(status, 204);
    let received = bed.smdp().notifications();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].install_success, Some(true));
    assert_eq!(received[0].eid, EID);

    // A later delete notification (OtherSignedNotification, chain checked too).
    let (status, _) = bed.client.post(
        HOST,
        "/gsma/rsp2/es9plus/handleNotification",
        &notification_body(card.delete_notification(&iccid)),
    );
    assert_eq!(status, 204);
    assert_eq!(bed.smdp().notifications()[1].operation, "delete");

    // The matching ID is used up.
    assert_failed(
        authenticate(&bed, &card, Some(&matching_id)).2,
        "8.2.6",
        "3.8",
    );
}

#[test]
fn failed_installation_puts_the_profile_in_error() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(2);
    let matching_id = bed.order(&iccid, None, None);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    let (_, session, _, _) = download(&bed, &card, Some(&matching_id), None).unwrap();
    // Unlinked order: bound to the eUICC that downloaded it.
    assert_eq!(
        bed.smdp()
            .profile(&iccid.to_string())
            .unwrap()
            .eid
            .as_deref(),
        Some(EID)
    );
    let pir = card.installation_result(&session.transaction_id, &iccid, false, smdp_oid());
    let result: Result<EmptyBody, _> = bed.es9("handleNotification", &notification_body(pir));
    result.unwrap();
    let record = bed.smdp().profile(&iccid.to_string()).unwrap();
    assert_eq!(record.status, ProfileStatus::Error);
    assert!(record.error_cause.unwrap().contains("errorReason 12"));
}

#[test]
fn notification_signature_and_oid_are_checked() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);
    let (_, session, _, _) = download(&bed, &card, Some(&matching_id), None).unwrap();

    // Signed by another key.
    let impostor = TestCard::sibling(
        &bed.pki,
        &lpa_core::ids::Eid::from_prefix(OTHER_EID_PREFIX)
            .unwrap()
            .to_string(),
    );
    let pir = impostor.installation_result(&session.transaction_id, &iccid, true, smdp_oid());
    assert_failed(
        bed.es9::<EmptyBody>("handleNotification", &notification_body(pir)),
        "8.1",
        "6.1",
    );
    // Another SM-DP+'s OID.
    let pir = card.installation_result(&session.transaction_id, &iccid, true, "2.999.77");
    assert_failed(
        bed.es9::<EmptyBody>("handleNotification", &notification_body(pir)),
        "8.8",
        "3.10",
    );
    // Unknown transaction.
    let pir = card.installation_result(&[9; 16], &iccid, true, smdp_oid());
    assert_failed(
        bed.es9::<EmptyBody>("handleNotification", &notification_body(pir)),
        "8.10.1",
        "3.9",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Downloaded);
    // Garbage where the notification should be.
    assert_failed(
        bed.es9::<EmptyBody>(
            "handleNotification",
            &notification_body(vec![0xBF, 0x37, 0x01]),
        ),
        "1.1",
        "2.1",
    );
}

#[test]
fn confirmation_code_right_wrong_missing_and_exhausted() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(3);
    let matching_id = bed.order(&iccid, Some(EID), Some("1234"));
    assert!(
        bed.smdp()
            .profile(&iccid.to_string())
            .unwrap()
            .confirmation_code_required
    );

    // Wrong code: refused, one attempt used, the order stays Released.
    assert_failed(
        download(&bed, &card, Some(&matching_id), Some("9999")).map(|_| ()),
        "8.2.7",
        "3.8",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // No code although the order needs one.
    assert_failed(
        download(&bed, &card, Some(&matching_id), None).map(|_| ()),
        "8.2.7",
        "2.2",
    );
    // The right code.
    let (_, _, auth, opened) = download(&bed, &card, Some(&matching_id), Some("1234")).unwrap();
    assert!(
        SmdpSigned2::from_der(&auth.smdp_signed2)
            .unwrap()
            .cc_required_flag
    );
    assert_eq!(
        opened.profile_package,
        ServedProfile::demo(3).profile_package
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Downloaded);

    // Another order: three wrong codes exhaust it.
    let iccid = demo_iccid(4);
    let matching_id = bed.order(&iccid, None, Some("4321"));
    for _ in 0..2 {
        assert_failed(
            download(&bed, &card, Some(&matching_id), Some("0000")).map(|_| ()),
            "8.2.7",
            "3.8",
        );
    }
    assert_failed(
        download(&bed, &card, Some(&matching_id), Some("0000")).map(|_| ()),
        "8.2.7",
        "6.4",
    );
    let record = bed.smdp().profile(&iccid.to_string()).unwrap();
    assert_eq!(record.status, ProfileStatus::Error);
    assert_eq!(record.confirmation_code_failures, 3);
    // Even the right code is too late now.
    assert_failed(
        download(&bed, &card, Some(&matching_id), Some("4321")).map(|_| ()),
        "8.2.6",
        "3.8",
    );

    // A code given where none is required is a bug of the LPA.
    let iccid = demo_iccid(2);
    let matching_id = bed.order(&iccid, None, None);
    assert_failed(
        download(&bed, &card, Some(&matching_id), Some("1234")).map(|_| ()),
        "8.2.7",
        "3.8",
    );
}

#[test]
fn cancel_session_moves_the_profile_by_reason() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);

    // Postponed: back to Released, and a new session works.
    let (init, session, auth) = authenticate(&bed, &card, Some(&matching_id));
    auth.unwrap();
    let cancel = card.cancel_session(
        &session.transaction_id,
        CancelSessionReason::Postponed,
        smdp_oid(),
    );
    let ok: EmptyBody = bed
        .es9(
            "cancelSession",
            &cancel_body(&init.transaction_id, cancel.clone()),
        )
        .unwrap();
    assert_eq!(ok, EmptyBody {});
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // The session is gone.
    assert_failed(
        bed.es9::<EmptyBody>("cancelSession", &cancel_body(&init.transaction_id, cancel)),
        "8.10.1",
        "3.9",
    );

    // Refusals: bad signature, transactionId, SM-DP+ OID.
    let (init, session, auth) = authenticate(&bed, &card, Some(&matching_id));
    auth.unwrap();
    let mut forged = card.cancel_session(
        &session.transaction_id,
        CancelSessionReason::EndUserRejection,
        smdp_oid(),
    );
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_failed(
        bed.es9::<EmptyBody>("cancelSession", &cancel_body(&init.transaction_id, forged)),
        "8.1",
        "6.1",
    );
    let other_tid =
        card.cancel_session(&[1; 16], CancelSessionReason::EndUserRejection, smdp_oid());
    assert_failed(
        bed.es9::<EmptyBody>(
            "cancelSession",
            &cancel_body(&init.transaction_id, other_tid),
        ),
        "8.10.1",
        "3.9",
    );
    let other_oid = card.cancel_session(
        &session.transaction_id,
        CancelSessionReason::EndUserRejection,
        "2.999.77",
    );
    assert_failed(
        bed.es9::<EmptyBody>(
            "cancelSession",
            &cancel_body(&init.transaction_id, other_oid),
        ),
        "8.8",
        "3.10",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);

    // End-user rejection: Error, for good.
    let reject = card.cancel_session(
        &session.transaction_id,
        CancelSessionReason::EndUserRejection,
        smdp_oid(),
    );
    bed.es9::<EmptyBody>("cancelSession", &cancel_body(&init.transaction_id, reject))
        .unwrap();
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
    assert_failed(
        authenticate(&bed, &card, Some(&matching_id)).2,
        "8.2.6",
        "3.8",
    );
}

#[test]
fn rebinding_gives_the_same_bpp_or_is_refused() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);
    let (init, mut session, auth) = authenticate(&bed, &card, Some(&matching_id));
    let auth = auth.unwrap();
    let prepared = card.prepare_download(&mut session, &auth, None);
    let first: GetBoundProfilePackageOk = bed
        .es9(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, prepared.clone()),
        )
        .unwrap();
    let again: GetBoundProfilePackageOk = bed
        .es9(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, prepared),
        )
        .unwrap();
    assert_eq!(first.bound_profile_package, again.bound_profile_package);
    let other = card.prepare_download(&mut session, &auth, None);
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, other),
        ),
        "8.2",
        "3.7",
    );
}

#[test]
fn profile_protection_keys_add_replace_session_keys() {
    let bed = Bed::with(
        |c| c.profile_protection_keys = true,
        ServerOptions::default(),
    );
    let card = bed.card();
    let iccid = demo_iccid(2);
    let matching_id = bed.order(&iccid, None, None);
    let (_, _, _, opened) = download(&bed, &card, Some(&matching_id), None).unwrap();
    assert!(opened.replace_session_keys.is_some());
    assert_eq!(
        opened.profile_package,
        ServedProfile::demo(2).profile_package
    );
}

#[test]
fn brainpool_hierarchy_with_a_nist_tls_ci() {
    // RSP signatures and the one-time keys on brainpoolP256r1; TLS (which has no brainpool)
    // from a separate NIST P-256 CI.
    let now = SystemTime::now();
    let pki = TestPki::generate(&TestPkiOptions::new(
        Curve::BrainpoolP256r1,
        now - Duration::from_secs(86_400),
        now + Duration::from_secs(3650 * 86_400),
    ))
    .unwrap();
    let tls = generate_pki();
    let mut config = SmdpConfig::from_pki(&pki);
    assert!(
        Smdp::new(config.clone()).is_err(),
        "a brainpool CI cannot issue TLS certificates"
    );
    config.tls_ci = Some(tls.ci.clone());
    let smdp = Arc::new(Smdp::new(config).unwrap());
    smdp.add_profile(ServedProfile::demo(7)).unwrap();
    let server = SmdpServer::start(Arc::clone(&smdp), ServerOptions::default()).unwrap();
    let bed = Bed {
        client: HttpsClient::new(server.addr(), &tls.ci.certificate),
        pki,
        server,
    };
    let card = bed.card();
    let iccid = demo_iccid(7);
    let matching_id = bed.order(&iccid, None, Some("5555"));
    let (_, session, _, opened) = download(&bed, &card, Some(&matching_id), Some("5555")).unwrap();
    assert_eq!(
        opened.profile_package,
        ServedProfile::demo(7).profile_package
    );
    let pir = card.installation_result(&session.transaction_id, &iccid, true, smdp_oid());
    bed.es9::<EmptyBody>("handleNotification", &notification_body(pir))
        .unwrap();
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
}

#[test]
fn default_smdp_order_without_matching_id() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(2);
    // No pending order for this EID yet.
    assert_failed(authenticate(&bed, &card, None).2, "8.2.6", "3.8");
    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"{EID}\"}}"),
    )
    .unwrap();
    let confirmed = bed
        .es2(
            "confirmOrder",
            &format!(
                "{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"matchingId\":\"\",\"releaseFlag\":true}}"
            ),
        )
        .unwrap();
    assert_eq!(confirmed["matchingId"], "");
    let (_, _, auth, _) = download(&bed, &card, None, None).unwrap();
    assert_eq!(
        StoreMetadataRequest::from_der(&auth.profile_metadata)
            .unwrap()
            .iccid,
        iccid
    );
    // The empty matching ID of an activation code without one means the same.
    let iccid = demo_iccid(3);
    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"{EID}\"}}"),
    )
    .unwrap();
    bed.es2(
        "confirmOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"matchingId\":\"\",\"releaseFlag\":true}}"),
    )
    .unwrap();
    download(&bed, &card, Some(""), None).unwrap();
}

#[test]
fn download_attempts_are_limited() {
    let bed = Bed::with(|c| c.download_attempts = 2, ServerOptions::default());
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);
    for _ in 0..2 {
        authenticate(&bed, &card, Some(&matching_id)).2.unwrap();
    }
    assert_failed(
        authenticate(&bed, &card, Some(&matching_id)).2,
        "8.8.5",
        "6.4",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
}

// ---------------------------------------------------------------------------------------------
// SM-DS
// ---------------------------------------------------------------------------------------------

fn discover(
    bed: &Bed,
    card: &TestCard,
    es11_paths: bool,
    event_id: Option<&str>,
) -> Result<Es11AuthenticateClientOk, Es9Error> {
    let (path_init, path_auth, body) = if es11_paths {
        (
            "/gsma/rsp2/es11/initiateAuthentication",
            "/gsma/rsp2/es11/authenticateClient",
            encode_json(&json::Es11InitiateAuthenticationRequest {
                euicc_challenge: vec![0x5A; 16],
                euicc_info1: card.euicc_info1(),
                smds_address: SMDS.to_owned(),
            })
            .unwrap(),
        )
    } else {
        (
            "/gsma/rsp2/es9plus/initiateAuthentication",
            "/gsma/rsp2/es9plus/authenticateClient",
            card.initiate_request(SMDS),
        )
    };
    let (status, body) = bed.client.post(SMDS, path_init, &body);
    let init = decode_response::<InitiateAuthenticationOk>(status, &body)?.body;
    assert_eq!(
        init.server_certificate,
        bed.smdp().ds_auth_certificate().unwrap()
    );
    let (response, _) = card.authenticate_server(&init, SMDS, event_id, |_, _, _| {});
    let (status, body) = bed.client.post(
        SMDS,
        path_auth,
        &authenticate_body(&init.transaction_id, response),
    );
    decode_response::<Es11AuthenticateClientOk>(status, &body).map(|r| r.body)
}

#[test]
fn sm_ds_events_from_confirm_order_lead_to_a_download() {
    let bed = Bed::new();
    let card = bed.card();
    assert!(
        discover(&bed, &card, false, None)
            .unwrap()
            .event_entries
            .is_empty()
    );

    let iccid = demo_iccid(1);
    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"{EID}\"}}"),
    )
    .unwrap();
    let confirmed = bed
        .es2(
            "confirmOrder",
            &format!(
                "{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"matchingId\":\"EVENT-0001\",\"smdsAddress\":\"{SMDS}\",\"releaseFlag\":true}}"
            ),
        )
        .unwrap();
    assert_eq!(confirmed["matchingId"], "EVENT-0001");
    bed.smdp()
        .register_event(EID, "OTHER-EVENT", "elsewhere.example.com")
        .unwrap();

    // Both the ES9+ path (as LPAs call it) and the spec's ES11 path.
    for es11_paths in [false, true] {
        let found = discover(&bed, &card, es11_paths, None).unwrap();
        let ids: Vec<(&str, &str)> = found
            .event_entries
            .iter()
            .map(|e| (e.event_id.as_str(), e.rsp_server_address.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("EVENT-0001", HOST),
                ("OTHER-EVENT", "elsewhere.example.com")
            ]
        );
        assert!(found.transaction_id.is_some());
    }
    // One event by its ID; an unknown one.
    let one = discover(&bed, &card, true, Some("EVENT-0001")).unwrap();
    assert_eq!(one.event_entries.len(), 1);
    assert_failed(
        discover(&bed, &card, true, Some("NO-SUCH-EVENT")),
        "8.9.5",
        "3.9",
    );
    // Another eUICC sees nothing.
    let other = TestCard::sibling(
        &bed.pki,
        &lpa_core::ids::Eid::from_prefix(OTHER_EID_PREFIX)
            .unwrap()
            .to_string(),
    );
    assert!(
        discover(&bed, &other, false, None)
            .unwrap()
            .event_entries
            .is_empty()
    );

    // The event ID is the matching ID at the SM-DP+; once installed the event is gone.
    let (_, session, _, _) = download(&bed, &card, Some("EVENT-0001"), None).unwrap();
    let pir = card.installation_result(&session.transaction_id, &iccid, true, smdp_oid());
    bed.es9::<EmptyBody>("handleNotification", &notification_body(pir))
        .unwrap();
    let left: Vec<String> = bed
        .smdp()
        .events(EID)
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(left, ["OTHER-EVENT"]);

    // An SM-DS address the SM-DP+ cannot reach; an SM-DS event without an EID.
    let iccid = demo_iccid(2);
    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
    )
    .unwrap();
    assert_failed(
        bed.es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"smdsAddress\":\"nowhere.example\",\"releaseFlag\":true}}"),
        ),
        "8.9",
        "5.1",
    );
    assert_failed(
        bed.es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"smdsAddress\":\"{SMDS}\",\"releaseFlag\":true}}"),
        ),
        "1.1",
        "2.3",
    );
    // ES11 with the wrong SM-DS address.
    let (status, body) = bed.client.post(
        SMDS,
        "/gsma/rsp2/es11/initiateAuthentication",
        &encode_json(&json::Es11InitiateAuthenticationRequest {
            euicc_challenge: vec![0x5A; 16],
            euicc_info1: card.euicc_info1(),
            smds_address: "smds.elsewhere".to_owned(),
        })
        .unwrap(),
    );
    assert_failed(
        decode_response::<InitiateAuthenticationOk>(status, &body),
        "8.9.1",
        "3.8",
    );
}

// ---------------------------------------------------------------------------------------------
// ES2+ and the state machine
// ---------------------------------------------------------------------------------------------

#[test]
fn es2_state_machine_and_refusals() {
    let bed = Bed::new();
    let iccid = demo_iccid(1);
    let unknown = "89000000000000000007";
    let profile_type = ServedProfile::demo(1).profile_type;

    assert_failed(
        bed.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{unknown}\"}}"),
        ),
        "8.2.1",
        "3.9",
    );
    assert_failed(
        bed.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"profileType\":\"nope\"}}"),
        ),
        "8.2.5",
        "3.9",
    );
    assert_failed(
        bed.es2("downloadOrder", &format!("{{{ES2_HEADER}}}")),
        "1.1",
        "2.3",
    );
    assert_failed(
        bed.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"123\"}}"),
        ),
        "8.1.1",
        "2.1",
    );
    // By profile type: the first available one of that type.
    let ordered = bed
        .es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"profileType\":\"{profile_type}\"}}"),
        )
        .unwrap();
    assert_eq!(ordered["iccid"], iccid.to_string());
    assert_eq!(bed.status(&iccid), ProfileStatus::Allocated);
    assert_failed(
        bed.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"profileType\":\"{profile_type}\"}}"),
        ),
        "8.2.5",
        "3.7",
    );
    assert_failed(
        bed.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
        ),
        "8.2.1",
        "3.3",
    );
    // Release before confirm; confirm without release; release.
    assert_failed(
        bed.es2(
            "releaseProfile",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
        ),
        "8.2.1",
        "3.5",
    );
    let confirmed = bed
        .es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"eid\":\"{EID}\",\"matchingId\":\"MY-CODE-1\",\"releaseFlag\":false}}"),
        )
        .unwrap();
    assert_eq!(confirmed["matchingId"], "MY-CODE-1");
    assert_eq!(bed.status(&iccid), ProfileStatus::Confirmed);
    // Not released: the download is refused.
    let card = bed.card();
    assert_failed(authenticate(&bed, &card, Some("MY-CODE-1")).2, "8.2", "1.2");
    assert_failed(
        bed.es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"releaseFlag\":true}}"),
        ),
        "8.2.1",
        "3.5",
    );
    bed.es2(
        "releaseProfile",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
    )
    .unwrap();
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    assert_failed(
        bed.es2(
            "releaseProfile",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
        ),
        "8.2.1",
        "3.5",
    );

    // Matching IDs are unique; the EID of a linked order is fixed.
    let second = demo_iccid(2);
    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{second}\",\"eid\":\"{EID}\"}}"),
    )
    .unwrap();
    assert_failed(
        bed.es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{second}\",\"matchingId\":\"MY-CODE-1\",\"releaseFlag\":true}}"),
        ),
        "8.2.6",
        "3.3",
    );
    let other_eid = lpa_core::ids::Eid::from_prefix(OTHER_EID_PREFIX)
        .unwrap()
        .to_string();
    assert_failed(
        bed.es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{second}\",\"eid\":\"{other_eid}\",\"releaseFlag\":true}}"),
        ),
        "8.1.1",
        "3.10",
    );
    assert_failed(
        bed.es2(
            "confirmOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{second}\",\"matchingId\":\"lower-case\",\"releaseFlag\":true}}"),
        ),
        "1.1",
        "2.1",
    );

    // cancelOrder: wrong matching ID, back to Available, then Unavailable for good.
    assert_failed(
        bed.es2(
            "cancelOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"matchingId\":\"NOT-IT\",\"finalProfileStatusIndicator\":\"Available\"}}"),
        ),
        "8.2.6",
        "3.10",
    );
    assert_failed(
        bed.es2(
            "cancelOrder",
            &format!(
                "{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"finalProfileStatusIndicator\":\"Gone\"}}"
            ),
        ),
        "1.1",
        "2.1",
    );
    bed.es2(
        "cancelOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"matchingId\":\"MY-CODE-1\",\"finalProfileStatusIndicator\":\"Available\"}}"),
    )
    .unwrap();
    let record = bed.smdp().profile(&iccid.to_string()).unwrap();
    assert_eq!(record.status, ProfileStatus::Available);
    assert_eq!((record.eid, record.matching_id), (None, None));
    assert_failed(
        authenticate(&bed, &card, Some("MY-CODE-1")).2,
        "8.2.6",
        "3.8",
    );
    bed.es2(
        "downloadOrder",
        &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
    )
    .unwrap();
    bed.es2(
        "cancelOrder",
        &format!(
            "{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"finalProfileStatusIndicator\":\"Unavailable\"}}"
        ),
    )
    .unwrap();
    assert_eq!(bed.status(&iccid), ProfileStatus::Unavailable);
    assert_failed(
        bed.es2(
            "downloadOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\"}}"),
        ),
        "8.2.1",
        "3.3",
    );
    assert_failed(
        bed.es2(
            "cancelOrder",
            &format!("{{{ES2_HEADER},\"iccid\":\"{iccid}\",\"finalProfileStatusIndicator\":\"Available\"}}"),
        ),
        "8.2.1",
        "3.5",
    );
    // A request without its header member.
    assert_failed(
        bed.es2("releaseProfile", &format!("{{\"iccid\":\"{iccid}\"}}")),
        "1.1",
        "2.2",
    );
}

// ---------------------------------------------------------------------------------------------
// ES9+ refusals
// ---------------------------------------------------------------------------------------------

#[test]
fn initiate_authentication_refusals() {
    let bed = Bed::new();
    let card = bed.card();
    // smdpAddress is compared exactly: another name, other case, a port.
    for address in [
        "other.example.com",
        "TESTSMDPPLUS1.example.com",
        "testsmdpplus1.example.com:443",
    ] {
        assert_failed(initiate(&bed, &card, address), "8.8.1", "3.8");
    }
    let mut old = bed.card();
    old.svn = Version::new(1, 0, 0);
    assert_failed(initiate(&bed, &old, HOST), "8.8.3", "3.1");
    let mut foreign = bed.card();
    foreign.ci_pkid = vec![0x11; 20];
    assert_failed(initiate(&bed, &foreign, HOST), "8.8.2", "3.1");
    // Signs with our CI but cannot verify it.
    let body = encode_json(&json::InitiateAuthenticationRequest {
        euicc_challenge: vec![0x5A; 16],
        euicc_info1: EuiccInfo1 {
            svn: Version::new(2, 2, 0),
            euicc_ci_pkid_list_for_verification: vec![vec![0x22; 20]],
            euicc_ci_pkid_list_for_signing: vec![card.ci_pkid.clone()],
        }
        .to_der(),
        smdp_address: HOST.to_owned(),
    })
    .unwrap();
    assert_failed(
        bed.es9::<InitiateAuthenticationOk>("initiateAuthentication", &body),
        "8.8.4",
        "3.7",
    );
    let body = encode_json(&json::InitiateAuthenticationRequest {
        euicc_challenge: vec![0x5A; 15],
        euicc_info1: card.euicc_info1(),
        smdp_address: HOST.to_owned(),
    })
    .unwrap();
    assert_failed(
        bed.es9::<InitiateAuthenticationOk>("initiateAuthentication", &body),
        "1.1",
        "2.1",
    );
    // Each session has its own transactionId and serverChallenge.
    let a = initiate(&bed, &card, HOST).unwrap();
    let b = initiate(&bed, &card, HOST).unwrap();
    assert_ne!(a.transaction_id, b.transaction_id);
    assert_ne!(a.server_signed1, b.server_signed1);
}

#[test]
fn authenticate_client_refuses_what_the_card_side_got_wrong() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, Some(EID), None);

    let attempt = |card: &TestCard, tamper: &Tamper| {
        let init = initiate(&bed, card, HOST).unwrap();
        let (response, _) =
            card.authenticate_server(&init, HOST, Some(&matching_id), |s, raw, sig| {
                tamper(s, raw, sig)
            });
        bed.es9::<AuthenticateClientOk>(
            "authenticateClient",
            &authenticate_body(&init.transaction_id, response),
        )
    };

    // A bad signature.
    assert_failed(attempt(&card, &|_, _, sig| sig[10] ^= 1), "8.1", "6.1");
    // euiccSigned1 changed after signing (another matching ID).
    assert_failed(
        attempt(&card, &|s, raw, _| {
            let CtxParams1::CommonAuthentication(c) = &mut s.ctx_params1;
            c.matching_id = Some("SOMETHING-ELSE".into());
            *raw = s.to_der();
        }),
        "8.1",
        "6.1",
    );
    // Signed, but echoing another serverChallenge / transactionId / address.
    let resign = |card: &TestCard, change: fn(&mut EuiccSigned1)| {
        let key = card.euicc.key.clone();
        move |s: &mut EuiccSigned1, raw: &mut Vec<u8>, sig: &mut Vec<u8>| {
            change(s);
            *raw = s.to_der();
            *sig = key.sign(raw).unwrap().to_vec();
        }
    };
    assert_failed(
        attempt(&card, &resign(&card, |s| s.server_challenge[0] ^= 1)),
        "8.1",
        "6.1",
    );
    assert_failed(
        attempt(&card, &resign(&card, |s| s.transaction_id[0] ^= 1)),
        "8.10.1",
        "3.9",
    );
    assert_failed(
        attempt(
            &card,
            &resign(&card, |s| s.server_address = "evil.example".into()),
        ),
        "8.1",
        "6.1",
    );
    // The order is linked to EID; another eUICC of the same EUM is refused.
    let other = TestCard::sibling(
        &bed.pki,
        &lpa_core::ids::Eid::from_prefix(OTHER_EID_PREFIX)
            .unwrap()
            .to_string(),
    );
    assert_failed(attempt(&other, &|_, _, _| {}), "8.1.1", "3.8");
    // An unknown matching ID.
    assert_failed(
        authenticate(&bed, &card, Some("NO-SUCH-ORDER")).2,
        "8.2.6",
        "3.8",
    );
    // An unknown transactionId.
    let init = initiate(&bed, &card, HOST).unwrap();
    let (response, _) = card.authenticate_server(&init, HOST, Some(&matching_id), |_, _, _| {});
    let unknown = TransactionId::new(&[7; 16]).unwrap();
    assert_failed(
        bed.es9::<AuthenticateClientOk>(
            "authenticateClient",
            &authenticate_body(&unknown, response.clone()),
        ),
        "8.10.1",
        "3.9",
    );
    // The session is still usable with the right one.
    bed.es9::<AuthenticateClientOk>(
        "authenticateClient",
        &authenticate_body(&init.transaction_id, response.clone()),
    )
    .unwrap();
    // ... but only once.
    assert_failed(
        bed.es9::<AuthenticateClientOk>(
            "authenticateClient",
            &authenticate_body(&init.transaction_id, response),
        ),
        "8.10.1",
        "3.9",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn authenticate_client_checks_the_euicc_certificate_chain() {
    let bed = Bed::new();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);
    let now = SystemTime::now();
    let try_card = |card: &TestCard| authenticate(&bed, card, Some(&matching_id)).2;

    // An EID outside the EUM's name constraint (89049032...): 8.1.3 / 6.1.
    let outside = TestCard::sibling(
        &bed.pki,
        &lpa_core::ids::Eid::from_prefix("890490331234512345123456789012")
            .unwrap()
            .to_string(),
    );
    assert_failed(try_card(&outside), "8.1.3", "6.1");
    // A self-signed eUICC certificate.
    let mut self_signed = bed.card();
    let spec = CertSpec::new(
        CertRole::Euicc,
        vec![
            (NameAttribute::Organization, "LPA Testbed EUM".into()),
            (NameAttribute::SerialNumber, EID.into()),
        ],
        now - Duration::from_secs(60),
        now + Duration::from_secs(86_400),
    );
    self_signed.euicc = Identity::new(
        issue_certificate(
            &spec,
            &self_signed.euicc.key.public_key(),
            Issuer::SelfSigned(&self_signed.euicc.key),
        )
        .unwrap(),
        self_signed.euicc.key.clone(),
        CertRole::Euicc,
    )
    .unwrap();
    assert_failed(try_card(&self_signed), "8.1.3", "6.1");
    // An expired eUICC certificate.
    let mut expired = bed.card();
    let mut spec = CertSpec::new(
        CertRole::Euicc,
        vec![
            (NameAttribute::Country, "XX".into()),
            (NameAttribute::Organization, "LPA Testbed EUM".into()),
            (NameAttribute::SerialNumber, EID.into()),
        ],
        now - Duration::from_secs(10 * 86_400),
        now - Duration::from_secs(86_400),
    );
    spec.crl_url = None;
    expired.euicc = Identity::new(
        issue_certificate(
            &spec,
            &expired.euicc.key.public_key(),
            Issuer::Ca {
                certificate: &bed.pki.eum.certificate,
                key: &bed.pki.eum.key,
            },
        )
        .unwrap(),
        expired.euicc.key.clone(),
        CertRole::Euicc,
    )
    .unwrap();
    assert_failed(try_card(&expired), "8.1.3", "6.3");
    // A whole hierarchy the SM-DP+ does not trust, though the card claims our CI: the EUM is
    // issued by another CI.
    let foreign = generate_pki();
    let mut stranger = TestCard::from_pki(&foreign);
    stranger.ci_pkid = bed.card().ci_pkid;
    stranger.ci_certificate = bed.pki.ci.certificate.clone();
    assert_failed(try_card(&stranger), "8.11.1", "3.9");
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn get_bound_profile_package_refusals() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);

    // A session that never got through authenticateClient.
    let (pending, _) = {
        let init = initiate(&bed, &card, HOST).unwrap();
        let session = card.authenticate_server(&init, HOST, Some(&matching_id), |_, _, _| {});
        (init, session)
    };
    let (init, mut session, auth) = authenticate(&bed, &card, Some(&matching_id));
    let auth = auth.unwrap();
    let prepared = card.prepare_download(&mut session, &auth, None);
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&pending.transaction_id, prepared.clone()),
        ),
        "8.10.1",
        "3.9",
    );
    // A tampered euiccSignature2 ends the session.
    let mut broken = PrepareDownloadResponse::from_der(&prepared).unwrap();
    if let PrepareDownloadResponse::Ok(ok) = &mut broken {
        ok.euicc_signature2[5] ^= 1;
    }
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, broken.to_der()),
        ),
        "8.1",
        "6.1",
    );
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, prepared),
        ),
        "8.10.1",
        "3.9",
    );
    // The card refused PrepareDownload: the session ends with the eUICC's refusal.
    let (init, _, auth) = authenticate(&bed, &card, Some(&matching_id));
    auth.unwrap();
    let refused =
        PrepareDownloadResponse::Error(lpa_core::messages::PrepareDownloadResponseError {
            transaction_id: init.transaction_id.as_bytes().to_vec(),
            download_error_code: lpa_core::messages::DownloadErrorCode::InvalidSignature,
        });
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, refused.to_der()),
        ),
        "8.1",
        "6.1",
    );
    // Malformed DER and base64.
    let (init, _, auth) = authenticate(&bed, &card, Some(&matching_id));
    auth.unwrap();
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, vec![0xBF, 0x21, 0x05, 0xA0]),
        ),
        "1.1",
        "2.1",
    );
    let bad_base64 = format!(
        "{{\"transactionId\":\"{}\",\"prepareDownloadResponse\":\"!!!not base64!!!\"}}",
        init.transaction_id
    );
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>("getBoundProfilePackage", bad_base64.as_bytes()),
        "1.1",
        "2.1",
    );
    let bad_hex = "{\"transactionId\":\"XYZ\",\"prepareDownloadResponse\":\"vyE=\"}";
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>("getBoundProfilePackage", bad_hex.as_bytes()),
        "1.1",
        "2.1",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn get_bound_profile_package_checks_the_signed_transaction_id() {
    let bed = Bed::new();
    let card = bed.card();
    let iccid = demo_iccid(1);
    let matching_id = bed.order(&iccid, None, None);
    let (init, _, auth) = authenticate(&bed, &card, Some(&matching_id));
    let auth = auth.unwrap();
    // The card signs euiccSigned2 with another transactionId, correctly chained.
    let signature2 = Tlv::parse(&auth.smdp_signature2).unwrap().value().to_vec();
    let otk = OneTimeKeyPair::generate(bsp::Curve::NistP256).unwrap();
    let raw = EuiccSigned2 {
        transaction_id: vec![0xEE; 16],
        euicc_otpk: otk.public_key().to_vec(),
        hash_cc: None,
    }
    .to_der();
    let sig = card
        .euicc
        .key
        .sign(&signed_data::euicc_signature2_input(&raw, &signature2))
        .unwrap();
    let prepared = PrepareDownloadResponse::Ok(PrepareDownloadResponseOk {
        euicc_signed2: Signed::from_raw(raw).unwrap(),
        euicc_signature2: sig.to_vec(),
    })
    .to_der();
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, prepared),
        ),
        "8.10.1",
        "3.9",
    );
    // An otPK that is not a curve point.
    let (init, _, auth) = authenticate(&bed, &card, Some(&matching_id));
    let auth = auth.unwrap();
    let signature2 = Tlv::parse(&auth.smdp_signature2).unwrap().value().to_vec();
    let mut not_a_point = vec![0x04];
    not_a_point.extend([0x01; 64]);
    let raw = EuiccSigned2 {
        transaction_id: init.transaction_id.as_bytes().to_vec(),
        euicc_otpk: not_a_point,
        hash_cc: None,
    }
    .to_der();
    let sig = card
        .euicc
        .key
        .sign(&signed_data::euicc_signature2_input(&raw, &signature2))
        .unwrap();

    let prepared = PrepareDownloadResponse::Ok(PrepareDownloadResponseOk {
        euicc_signed2: Signed::from_raw(raw).unwrap(),
        euicc_signature2: sig.to_vec(),
    })
    .to_der();
    assert_failed(
        bed.es9::<GetBoundProfilePackageOk>(
            "getBoundProfilePackage",
            &get_bpp_body(&init.transaction_id, prepared),
        ),
        "1.1",
        "2.1",
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

// ---------------------------------------------------------------------------------------------
// HTTP and TLS
// ---------------------------------------------------------------------------------------------

#[test]
fn json_and_header_refusals() {
    let bed = Bed::new();
    let path = "/gsma/rsp2/es9plus/initiateAuthentication";
    let decode =
        |(status, body): (u16, Vec<u8>)| decode_response::<InitiateAuthenticationOk>(status, &body);
    assert_failed(
        decode(bed.client.post(HOST, path, b"{not json")),
        "1.1",
        "2.1",
    );
    assert_failed(
        decode(bed.client.post(HOST, path, b"[1,2,3]")),
        "1.1",
        "2.1",
    );
    assert_failed(
        decode(bed.client.post(HOST, path, b"{\"smdpAddress\":\"x\"}")),
        "1.1",
        "2.2",
    );
    assert_failed(
        decode(bed.client.post(
            HOST,
            path,
            b"{\"euiccChallenge\":\"%%%\",\"euiccInfo1\":\"vyA=\",\"smdpAddress\":\"testsmdpplus1.example.com\"}",
        )),
        "1.1",
        "2.1",
    );
    // euiccInfo1 that is not DER.
    assert_failed(
        decode(bed.client.post(
            HOST,
            path,
            b"{\"euiccChallenge\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"euiccInfo1\":\"vyAF\",\"smdpAddress\":\"testsmdpplus1.example.com\"}",
        )),
        "1.1",
        "2.1",
    );
    let body = bed.card().initiate_request(HOST);
    // Plain application/json is what lpac sends: accepted.
    decode(bed.client.post_with(
        HOST,
        path,
        &[
            ("Content-Type", "application/json"),
            ("X-Admin-Protocol", "gsma/rsp/v2.2.2"),
        ],
        &body,
    ))
    .unwrap();
    assert_failed(
        decode(bed.client.post_with(
            HOST,
            path,
            &[
                ("Content-Type", "text/plain"),
                ("X-Admin-Protocol", "gsma/rsp/v2.5.0"),
            ],
            &body,
        )),
        "1.2.1",
        "2.1",
    );
    assert_failed(
        decode(bed.client.post_with(
            HOST,
            path,
            &[
                ("Content-Type", "application/json;charset=ISO-8859-1"),
                ("X-Admin-Protocol", "gsma/rsp/v2.5.0"),
            ],
            &body,
        )),
        "1.2.1",
        "2.1",
    );
    assert_failed(
        decode(
            bed.client
                .post_with(HOST, path, &[("Content-Type", "application/json")], &body),
        ),
        "1.2.2",
        "2.1",
    );
    assert_failed(
        decode(bed.client.post_with(
            HOST,
            path,
            &[
                ("Content-Type", "application/json"),
                ("X-Admin-Protocol", "gsma/rsp/v3.0.0"),
            ],
            &body,
        )),
        "1.2.2",
        "2.1",
    );
    // Unknown function, wrong method.
    assert_eq!(
        bed.client.post(HOST, "/gsma/rsp2/es9plus/nothing", b"{}").0,
        404
    );
    let mut tls = bed.client.connect(HOST);
    tls.write_all(b"GET /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let (status, headers, _) = read_response(&mut tls).unwrap();
    assert_eq!(status, 405);
    assert!(headers.iter().any(|(n, v)| n == "Allow" && v == "POST"));
}

#[test]
fn responses_carry_the_sgp22_headers_and_keep_alive_works() {
    let bed = Bed::new();
    let body = bed.card().initiate_request(HOST);
    let mut tls = bed.client.connect(HOST);
    for _ in 0..2 {
        let request = format!(
            "POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json;charset=UTF-8\r\nX-Admin-Protocol: gsma/rsp/v2.5.0\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        tls.write_all(request.as_bytes()).unwrap();
        tls.write_all(&body).unwrap();
        let (status, headers, response) = read_response(&mut tls).unwrap();
        assert_eq!(status, 200);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("Content-Type").as_deref(),
            Some("application/json;charset=UTF-8")
        );
        assert_eq!(
            header("X-Admin-Protocol").as_deref(),
            Some("gsma/rsp/v2.5.0")
        );
        decode_response::<InitiateAuthenticationOk>(status, &response).unwrap();
    }
}

#[test]
fn hostile_http_clients_get_an_answer_or_the_door() {
    let mut options = ServerOptions::default();
    options.io_timeout = Duration::from_millis(600);
    let bed = Bed::with(|_| {}, options);

    // Garbage instead of a request line: 400 with a Failed body, then closed.
    let mut tls = bed.client.connect(HOST);
    tls.write_all(b"HELLO THERE\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut tls).unwrap();
    assert_eq!(status, 400);
    assert_failed(decode_response::<EmptyBody>(200, &body), "1.1", "2.1");
    assert!(read_response(&mut tls).is_none());

    // An oversized body is refused before it is read.
    let mut tls = bed.client.connect(HOST);
    tls.write_all(
        format!("POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nX-Admin-Protocol: gsma/rsp/v2.5.0\r\nContent-Length: 10000000\r\n\r\n{{").as_bytes(),
    )
    .unwrap();
    let (status, headers, _) = read_response(&mut tls).unwrap();
    assert_eq!(status, 413);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "Connection" && v == "close")
    );

    // Chunked bodies are not served.
    let mut tls = bed.client.connect(HOST);
    tls.write_all(
        format!("POST /x HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_response(&mut tls).unwrap().0, 501);

    // Slow-loris: a request trickling in is cut off at the deadline.
    let mut tls = bed.client.connect(HOST);
    let started = Instant::now();
    tls.write_all(b"POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\n")
        .unwrap();
    let mut closed = false;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        if tls
            .write_all(b"X-Slow: 1\r\n")
            .and_then(|()| tls.flush())
            .is_err()
        {
            closed = true;
            break;
        }
        let mut probe = [0u8; 1];
        tls.sock
            .set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        match tls.read(&mut probe) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            _ => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the server kept a slow client");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A client that never says anything after TCP connect (not even a TLS hello): at the
    // deadline the server sends its alert and closes.
    let mut silent = TcpStream::connect(bed.server.addr()).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    assert!(silent.read_to_end(&mut sink).is_ok(), "not closed");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Plain HTTP on the TLS port.
    let mut plain = TcpStream::connect(bed.server.addr()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink);

    // After all that, the server still serves.
    initiate(&bed, &bed.card(), HOST).unwrap();
}

#[test]
fn tls_names_and_trust() {
    let bed = Bed::new();
    // Each host name gets its own certificate, issued by the test CI.
    for (host, role) in [(HOST, CertRole::DpTls), (SMDS, CertRole::DsTls)] {
        let cert = bed.smdp().tls_certificate(host).unwrap();
        let verified = verify_chain(
            cert,
            &[],
            &[&bed.pki.ci.certificate],
            SystemTime::now(),
            role,
        )
        .unwrap();
        assert_eq!(verified.dns_names, [host]);
    }
    // A client that trusts another CI refuses the server.
    let stranger = generate_pki();
    let client = HttpsClient::new(bed.server.addr(), &stranger.ci.certificate);
    let mut tls = client.connect(HOST);
    assert!(
        tls.write_all(b"x").and_then(|()| tls.flush()).is_err()
            || read_response(&mut tls).is_none()
    );
    // An unknown SNI name gets no certificate.
    let mut tls = bed.client.connect("unknown.example.com");
    assert!(
        tls.write_all(b"x").and_then(|()| tls.flush()).is_err()
            || read_response(&mut tls).is_none()
    );
}

#[test]
fn connection_limit_and_shutdown() {
    let mut options = ServerOptions::default();
    options.max_connections = 2;
    options.io_timeout = Duration::from_secs(30);
    let mut bed = Bed::with(|_| {}, options);
    // Two idle connections hold both slots.
    let a = TcpStream::connect(bed.server.addr()).unwrap();
    let b = TcpStream::connect(bed.server.addr()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while bed.server.connection_count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(bed.server.connection_count(), 2);
    let mut c = TcpStream::connect(bed.server.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    assert!(
        matches!(c.read(&mut buf), Ok(0) | Err(_)),
        "a third connection was served"
    );

    // Shutdown closes the idle connections at once instead of waiting 30 s for them.
    let started = Instant::now();
    bed.server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(bed.server.connection_count(), 0);
    assert!(TcpStream::connect(bed.server.addr()).is_err());
    drop((a, b));
}

#[test]
fn the_service_without_sockets() {
    // Smdp::handle is the whole service; the server only moves bytes.
    let pki = generate_pki();
    let smdp = Smdp::new(SmdpConfig::from_pki(&pki)).unwrap();
    let card = TestCard::from_pki(&pki);
    let headers = [
        ("Content-Type", "application/json;charset=UTF-8"),
        ("X-Admin-Protocol", "gsma/rsp/v2.5.0"),
    ];
    let response = smdp.handle(&Request::post(
        "/gsma/rsp2/es9plus/initiateAuthentication",
        &headers,
        &card.initiate_request(HOST),
    ));
    assert_eq!(response.status, 200);
    decode_response::<InitiateAuthenticationOk>(200, &response.body).unwrap();
    assert_eq!(smdp.session_count(), 1);
    // No SM-DS configured: the ES11 paths do not exist.
    let response = smdp.handle(&Request::post(
        "/gsma/rsp2/es11/initiateAuthentication",
        &headers,
        b"{}",
    ));
    assert_eq!(response.status, 404);
    assert!(smdp.register_event(EID, "E", HOST).is_err());
    // The inventory refuses duplicates and empty packages.
    smdp.add_profile(ServedProfile::demo(1)).unwrap();
    assert!(smdp.add_profile(ServedProfile::demo(1)).is_err());
    assert!(
        smdp.add_profile(ServedProfile::new(demo_iccid(5), Vec::new()))
            .is_err()
    );
}

#[test]
fn inventory_folder_with_metadata() {
    let dir = std::env::temp_dir().join(format!("smdp-inventory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.der"),
        lpa_testbed::saip::generate_demo_profile(11),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.der"),
        lpa_testbed::saip::generate_demo_profile(12),
    )
    .unwrap();
    std::fs::write(
        dir.join("b.json"),
        r#"{"serviceProviderName":"Testbed Telecom","profileName":"Everyday","profileClass":"test",
            "profilePolicyRules":["ppr2"],"notifications":[{"events":["install"],"address":"notify.example"}]}"#,
    )
    .unwrap();
    let specs = lpa_testbed::smdp::load_inventory_dir(&dir).unwrap();
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0].iccid, ServedProfile::demo(11).iccid);
    let metadata = specs[1].store_metadata(HOST);
    assert_eq!(metadata.service_provider_name, "Testbed Telecom");
    assert_eq!(metadata.profile_name, "Everyday");
    assert_eq!(
        metadata.profile_class,
        lpa_core::messages::ProfileClass::Test
    );
    assert!(
        metadata
            .profile_policy_rules
            .unwrap()
            .contains(lpa_core::messages::PprIds::PPR2)
    );
    let notifications = metadata.notification_configuration_info.unwrap();
    assert_eq!(notifications[0].notification_address, "notify.example");
    // Default metadata asks for every notification at the SM-DP+.
    let default = specs[0]
        .store_metadata(HOST)
        .notification_configuration_info
        .unwrap();
    assert_eq!(default[0].notification_address, HOST);
    // A bad metadata file fails the load.
    std::fs::write(dir.join("b.json"), r#"{"profileClass":"fancy"}"#).unwrap();
    assert!(lpa_testbed::smdp::load_inventory_dir(&dir).is_err());
    std::fs::write(dir.join("b.json"), r#"{"iccid":"89000000000000000007"}"#).unwrap();
    assert!(lpa_testbed::smdp::load_inventory_dir(&dir).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// External vectors: a recorded session of another implementation
// ---------------------------------------------------------------------------------------------

fn recorded(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/data/rsp-session/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Inside every certificate's validity (the DPauth/DPpb ones end 2030-03-30, the eUICC one
/// starts 2026-08-08).
fn recorded_now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) // 2027-01-15
}

fn recorded_authenticate_server_response() -> AuthenticateResponseOk {
    match AuthenticateServerResponse::from_der(&recorded("auth-server-response.der")).unwrap() {
        AuthenticateServerResponse::Ok(ok) => ok,
        other => panic!("{other:?}"),
    }
}

/// authenticate-response.der: AuthenticateClientResponseEs9 `BF3B { A0 { 80, BF25, 30, 5F37, 30 } }`.
fn recorded_authenticate_client() -> lpa_core::messages::AuthenticateClientOk {
    match lpa_core::messages::AuthenticateClientResponseEs9::from_der(&recorded(
        "authenticate-response.der",
    ))
    .unwrap()
    {
        lpa_core::messages::AuthenticateClientResponseEs9::Ok(ok) => ok,
        other => panic!("{other:?}"),
    }
}

fn recorded_prepare_download() -> PrepareDownloadResponseOk {
    match PrepareDownloadResponse::from_der(&recorded("prepare-download-response.der")).unwrap() {
        PrepareDownloadResponse::Ok(ok) => ok,
        other => panic!("{other:?}"),
    }
}

#[test]
fn external_vectors_euicc_signature1_and_chain() {
    let ok = recorded_authenticate_server_response();
    // The chain: eUICC <- EUM <- the 2017 GSMA test CI, with the EID in the EUM's range.
    let verified = verify_chain(
        ok.euicc_certificate.as_bytes(),
        &[ok.eum_certificate.as_bytes()],
        &[&recorded("certs/ci-2017.der"), &recorded("certs/ci.der")],
        recorded_now(),
        CertRole::Euicc,
    )
    .unwrap();
    assert_eq!(
        verified.eid.as_deref(),
        Some("89049032123451234512345678901235")
    );
    assert_eq!(ok.euicc_certificate.as_bytes(), recorded("certs/euicc.der"));
    verify_euicc_signature1(&verified.public_key, &ok).unwrap();
    // It echoes the recorded session's transactionId and serverChallenge.
    let signed1 = ok.euicc_signed1.value();
    assert_eq!(signed1.transaction_id, recorded("transaction-id.bin"));
    assert_eq!(signed1.server_challenge, recorded("server-challenge.bin"));
    // One flipped bit anywhere in euiccSigned1 breaks it.
    let mut raw = ok.euicc_signed1.raw().to_vec();
    raw[45] ^= 0x01; // inside serverChallenge (84 10 at offset 38)
    let tampered = AuthenticateResponseOk {
        euicc_signed1: Signed::from_raw(raw).unwrap(),
        ..ok.clone()
    };
    assert!(verify_euicc_signature1(&verified.public_key, &tampered).is_err());
}

#[test]
fn external_vectors_smdp_signature2_and_euicc_signature2() {
    let euicc = recorded_authenticate_server_response();
    let client = recorded_authenticate_client();
    let dp_pb =
        pki::PublicKey::from_spki_der(&spki_of(client.smdp_certificate.as_bytes())).unwrap();
    assert_eq!(
        client.smdp_certificate.as_bytes(),
        recorded("certs/dppb.der")
    );
    // smdpSignature2 = sign(DPpb, smdpSigned2 || 5F37 40 euiccSignature1).
    verify_smdp_signature2(
        &dp_pb,
        client.smdp_signed2.raw(),
        &client.smdp_signature2,
        &euicc.euicc_signature1,
    )
    .unwrap();
    // euiccSignature2 = sign(eUICC, euiccSigned2 || 5F37 40 smdpSignature2).
    let euicc_key = pki::PublicKey::from_spki_der(&spki_of(&recorded("certs/euicc.der"))).unwrap();
    let prepared = recorded_prepare_download();
    verify_euicc_signature2(&euicc_key, &prepared, &client.smdp_signature2).unwrap();
    // Neither verifies without the chained signature.
    assert!(
        euicc_key
            .verify(prepared.euicc_signed2.raw(), &prepared.euicc_signature2)
            .is_err()
    );
    assert!(
        dp_pb
            .verify(client.smdp_signed2.raw(), &client.smdp_signature2)
            .is_err()
    );
}

#[test]
fn external_vectors_server_signature1_pir_and_smdp_sign() {
    // serverSignature1 over serverSigned1 (InitiateAuthenticationOkEs9).
    let init = lpa_core::messages::InitiateAuthenticationOkEs9::from_der(&recorded(
        "initiate-response.der",
    ))
    .unwrap();
    let dp_auth =
        pki::PublicKey::from_spki_der(&spki_of(init.server_certificate.as_bytes())).unwrap();
    dp_auth
        .verify(init.server_signed1.raw(), &init.server_signature1)
        .unwrap();
    // euiccSignPIR over profileInstallationResultData.
    let euicc_key = pki::PublicKey::from_spki_der(&spki_of(&recorded("certs/euicc.der"))).unwrap();
    match PendingNotification::from_der(&recorded("pending-notification.der")).unwrap() {
        PendingNotification::ProfileInstallationResult(pir) => {
            verify_profile_installation_result(&euicc_key, pir.value()).unwrap();
        }
        other => panic!("{other:?}"),
    }
    // smdpSign of BF23 covers its elements before 5F37 and the eUICC's otPK (5F49) -- not
    // euiccSignature2: the recording proves which.
    let bpp = recorded("bound-profile-package.der");
    let bf23 = bsp::BoundProfilePackage::parse(&bpp)
        .unwrap()
        .initialise_secure_channel
        .raw;
    let dp_pb = pki::PublicKey::from_spki_der(&spki_of(&recorded("certs/dppb.der"))).unwrap();
    let prepared = recorded_prepare_download();
    let euicc_otpk = &prepared.euicc_signed2.value().euicc_otpk;
    verify_smdp_sign(&dp_pb, bf23, euicc_otpk).unwrap();
    let (signed, signature) = initialise_secure_channel_parts(bf23).unwrap();
    let mut with_signature2 = signed.to_vec();
    with_signature2.extend(signed_data::tlv(Tag(0x5F37), &prepared.euicc_signature2));
    assert!(dp_pb.verify(&with_signature2, signature).is_err());
    // Cancel session signatures use the same primitive; a self-made one round-trips.
    let card = TestCard::from_pki(&generate_pki());
    let der = card.cancel_session(&[1; 16], CancelSessionReason::Postponed, smdp_oid());
    match CancelSessionResponse::from_der(&der).unwrap() {
        CancelSessionResponse::Ok(ok) => {
            verify_cancel_session(&card.euicc.key.public_key(), &ok).unwrap()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn external_vectors_bpp_rebuilt_from_the_recorded_inputs() {
    let recorded_bpp = recorded("bound-profile-package.der");
    let recorded_parts = bsp::BoundProfilePackage::parse(&recorded_bpp).unwrap();
    let prepared = recorded_prepare_download();
    let euicc_otpk = prepared.euicc_signed2.value().euicc_otpk.clone();
    let one_time_key =
        OneTimeKeyPair::from_secret_bytes(bsp::Curve::NistP256, &recorded("otsk-dp.bin")).unwrap();
    let dp_pb_key =
        PrivateKey::from_pem(&String::from_utf8(recorded("certs/dppb-key.pem")).unwrap()).unwrap();
    let transaction_id = recorded("transaction-id.bin");
    let eid = hex::decode("89049032123451234512345678901235").unwrap();
    let store_metadata = recorded("store-metadata.der");
    let upp = recorded("upp.der");
    let inputs = BindingInputs {
        transaction_id: &transaction_id,
        host_id: b"euicc-rsp",
        eid: &eid,
        euicc_otpk: &euicc_otpk,
        configure_isdp: &[0xBF, 0x24, 0x00],
        store_metadata: &store_metadata,
        profile_package: &upp,
        profile_protection_keys: None,
    };
    let built = bind_profile_package(&inputs, &one_time_key, &dp_pb_key).unwrap();
    let ours = bsp::BoundProfilePackage::parse(&built).unwrap();
    // Every segment, byte for byte.
    assert_eq!(
        ours.first_sequence_of_87,
        recorded_parts.first_sequence_of_87
    );
    assert_eq!(ours.sequence_of_88, recorded_parts.sequence_of_88);
    assert_eq!(
        ours.second_sequence_of_87,
        recorded_parts.second_sequence_of_87
    );
    assert_eq!(ours.sequence_of_86, recorded_parts.sequence_of_86);
    // BF23: the signed elements byte for byte, and a signature that verifies under CERT.DPpb.
    let (our_signed, _) =
        initialise_secure_channel_parts(ours.initialise_secure_channel.raw).unwrap();
    let (their_signed, _) =
        initialise_secure_channel_parts(recorded_parts.initialise_secure_channel.raw).unwrap();
    assert_eq!(our_signed, their_signed);
    let dp_pb = pki::PublicKey::from_spki_der(&spki_of(&recorded("certs/dppb.der"))).unwrap();
    verify_smdp_sign(&dp_pb, ours.initialise_secure_channel.raw, &euicc_otpk).unwrap();
    // The recorder signed with RFC 6979 nonces too, so even smdpSign comes out identical: the
    // whole BPP is reproduced, which also pins the signed-data definition of smdpSign.
    assert_eq!(built, recorded_bpp);
    // Our BF23 is what lpa-core's InitialiseSecureChannelRequest encodes.
    let decoded =
        InitialiseSecureChannelRequest::from_der(ours.initialise_secure_channel.raw).unwrap();
    assert_eq!(decoded.to_der(), ours.initialise_secure_channel.raw);
    assert_eq!(decoded.control_ref_template.host_id, b"euicc-rsp");
    // And the BPP decodes as lpa-core's BoundProfilePackage and re-encodes identically.
    assert_eq!(BppMessage::from_der(&built).unwrap().to_der(), built);
}

/// The SubjectPublicKeyInfo of a DER certificate.
fn spki_of(cert: &[u8]) -> Vec<u8> {
    use der::{Decode as _, Encode as _};
    let cert = x509_cert::Certificate::from_der(cert).unwrap();
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}
