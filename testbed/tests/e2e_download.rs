//! End to end across the testbed's peers: the test SM-DP+ over real HTTPS on 127.0.0.1 and the
//! SoftEuicc behind APDUs, both directly and through the emulated modem on a real pty with
//! AT+CSIM, driven by a minimal in-test LPA built only from `lpa-core` (until the `lpa` crate
//! takes its place). Neither peer is lenient: every signature, certificate, MAC and code is
//! checked on both sides, so these tests pass only if our bytes are right.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lpa_core::activation::hash_cc;
use lpa_core::apdu::{
    ExchangeConfig, ISD_R_AID, LogicalChannel, SelectResponse, StoreDataExchange, Transmit,
    manage_channel_open, parse_manage_channel_open_response, select_by_aid,
};
use lpa_core::bpp::BppCommands;
use lpa_core::der::{Decode, Encode, RawTlv, Signed};
use lpa_core::es9::{self, Es9Error, Es9Function};
use lpa_core::ids::Iccid;
use lpa_core::messages::*;
use lpa_core::tlv::{Tag, Tlv};
use lpa_testbed::card::SharedCard;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::modem::{Modem, ModemConfig};
use lpa_testbed::pki::{Curve, TestPki, TestPkiOptions};
use lpa_testbed::smdp::{ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

// ------------------------------------------------------------------------------- the APDU side

/// How the mini LPA reaches the card.
trait Apdus {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8>;
}

/// Straight into the SoftEuicc.
struct Direct(SharedCard);

impl Apdus for Direct {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.lock().unwrap().transmit(command)
    }
}

/// AT+CSIM over the emulated modem's pty, as a modem firmware would.
struct AtCsim {
    port: Box<dyn serialport::SerialPort>,
    commands: usize,
}

impl AtCsim {
    fn open(path: &Path) -> Self {
        let port = serialport::new(path.to_string_lossy(), 115_200)
            .timeout(Duration::from_millis(50))
            .open()
            .unwrap();
        AtCsim { port, commands: 0 }
    }

    /// Sends one AT command and returns its answer lines up to the final result code.
    fn at(&mut self, command: &str) -> Vec<String> {
        self.port
            .write_all(format!("{command}\r").as_bytes())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = Vec::new();
        loop {
            assert!(Instant::now() < deadline, "no answer to {command}");
            let mut chunk = [0u8; 512];
            match self.port.read(&mut chunk) {
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("reading the modem: {e}"),
            }
            let text = String::from_utf8_lossy(&buf).into_owned();
            let lines: Vec<String> = text
                .split(['\r', '\n'])
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            if lines
                .last()
                .is_some_and(|l| l == "OK" || l == "ERROR" || l.starts_with("+CME ERROR"))
            {
                return lines;
            }
        }
    }
}

impl Apdus for AtCsim {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.commands += 1;
        let hex = hex::encode_upper(command);
        let lines = self.at(&format!("AT+CSIM={},\"{hex}\"", hex.len()));
        assert_eq!(lines.last().map(String::as_str), Some("OK"), "{lines:?}");
        let answer = lines
            .iter()
            .find_map(|l| l.strip_prefix("+CSIM: "))
            .unwrap();
        let (len, quoted) = answer.split_once(',').unwrap();
        let hex = quoted.trim_matches('"');
        assert_eq!(len.parse::<usize>().unwrap(), hex.len());
        hex::decode(hex).unwrap()
    }
}

/// The ES10 side of the mini LPA: one logical channel to the ISD-R, STORE DATA exchanges.
struct Es10<A: Apdus> {
    apdus: A,
    channel: LogicalChannel,
    config: ExchangeConfig,
}

impl<A: Apdus> Es10<A> {
    fn open(mut apdus: A, segment_size: usize) -> Self {
        let mut buf = [0u8; 261];
        let n = manage_channel_open().encode(&mut buf).unwrap();
        let channel = parse_manage_channel_open_response(&apdus.transmit(&buf[..n])).unwrap();
        let select = select_by_aid(channel, &ISD_R_AID, SelectResponse::Fci).unwrap();
        let n = select.encode(&mut buf).unwrap();
        let answer = apdus.transmit(&buf[..n]);
        assert_eq!(&answer[answer.len() - 2..], [0x90, 0x00], "SELECT ISD-R");
        Es10 {
            apdus,
            channel,
            config: ExchangeConfig::default().with_segment_size(segment_size),
        }
    }

    /// One ES10 command: the request's DER in, the card's answer out.
    fn call(&mut self, request: &[u8]) -> Vec<u8> {
        let mut response = vec![0u8; 64 * 1024];
        let mut exchange =
            StoreDataExchange::new(self.channel, request, self.config, &mut response).unwrap();
        let mut apdu = [0u8; 261];
        loop {
            match exchange.poll_transmit(&mut apdu).unwrap() {
                Transmit::Command(cmd) => {
                    let answer = self.apdus.transmit(cmd);
                    exchange.handle_response(&answer).unwrap();
                }
                Transmit::Done { len } => return exchange.response()[..len].to_vec(),
            }
        }
    }

    fn call_typed<T: Decode>(&mut self, request: &impl Encode) -> T {
        T::from_der(&self.call(&request.to_der())).unwrap()
    }
}

// ------------------------------------------------------------------------------- the HTTPS side

struct Https {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
}

impl Https {
    /// A client that trusts only `ci` (the test CI): never web PKI, never "insecure".
    fn new(addr: SocketAddr, ci: &[u8]) -> Self {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(ci.to_vec())).unwrap();
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        Https {
            addr,
            config: Arc::new(config),
        }
    }

    /// POSTs to `host` (SNI and Host header) at the server's 127.0.0.1 address: the test's
    /// stand-in for a DNS override. Returns the status and body.
    fn post(&self, host: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let tcp = TcpStream::connect(self.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let conn = ClientConnection::new(Arc::clone(&self.config), name).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nX-Admin-Protocol: {}\r\n\
             Content-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            es9::USER_AGENT,
            es9::X_ADMIN_PROTOCOL,
            es9::CONTENT_TYPE,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        tls.write_all(&request).unwrap();
        tls.flush().unwrap();
        let mut raw = Vec::new();
        let _ = tls.read_to_end(&mut raw);
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, raw[split + 4..].to_vec())
    }

    fn es9<T: es9::ResponseBody>(
        &self,
        host: &str,
        function: Es9Function,
        body: &impl serde::Serialize,
    ) -> Result<T, Es9Error> {
        let (status, answer) = self.post(host, function.path(), &es9::encode_json(body)?);
        es9::decode_response::<T>(status, &answer).map(|r| r.body)
    }

    fn es2(&self, host: &str, function: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, answer) = self.post(
            host,
            &format!("/gsma/rsp2/es2plus/{function}"),
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let json: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(
            json["header"]["functionExecutionStatus"]["status"], "Executed-Success",
            "{json}"
        );
        json
    }
}

// ------------------------------------------------------------------------------- the procedure

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

/// What a download ended with.
struct Outcome {
    result: ProfileInstallationResult,
    metadata: StoreMetadataRequest,
}

/// SGP.22 §3.1.3, steps 1 to 7, as the `lpa` crate will do them.
fn download<A: Apdus>(
    es10: &mut Es10<A>,
    https: &Https,
    host: &str,
    matching_id: &str,
    confirmation_code: Option<&str>,
    tamper_bpp: bool,
) -> Outcome {
    let challenge: GetEuiccChallengeResponse = es10.call_typed(&GetEuiccChallengeRequest {});
    let info1 = es10.call(&GetEuiccInfo1Request {}.to_der());
    let init: es9::InitiateAuthenticationOk = https
        .es9(
            host,
            Es9Function::InitiateAuthentication,
            &es9::InitiateAuthenticationRequest {
                euicc_challenge: challenge.euicc_challenge.clone(),
                euicc_info1: info1,
                smdp_address: host.to_owned(),
            },
        )
        .unwrap();
    // The LPA's own checks (SGP.22 §3.1.2): our challenge and our address come back signed.
    let server_signed1 = Signed::<ServerSigned1>::from_raw(init.server_signed1.clone()).unwrap();
    assert_eq!(
        server_signed1.value().euicc_challenge,
        challenge.euicc_challenge
    );
    assert_eq!(server_signed1.value().server_address, host);
    assert_eq!(
        server_signed1.value().transaction_id,
        init.transaction_id.as_bytes()
    );

    let auth_server = AuthenticateServerRequest {
        server_signed1,
        server_signature1: value_of(&init.server_signature1, 0x5F37),
        euicc_ci_pkid_to_be_used: value_of(&init.euicc_ci_pkid_to_be_used, 0x04),
        server_certificate: RawTlv::from_der(init.server_certificate.clone()).unwrap(),
        ctx_params1: CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
            matching_id: Some(matching_id.to_owned()),
            device_info: device_info(),
        }),
    };
    let auth_response = es10.call(&auth_server.to_der());
    assert!(matches!(
        AuthenticateServerResponse::from_der(&auth_response).unwrap(),
        AuthenticateServerResponse::Ok(_)
    ));
    let client: es9::AuthenticateClientOk = https
        .es9(
            host,
            Es9Function::AuthenticateClient,
            &es9::AuthenticateClientRequest {
                transaction_id: init.transaction_id,
                authenticate_server_response: auth_response,
            },
        )
        .unwrap();
    let metadata = StoreMetadataRequest::from_der(&client.profile_metadata).unwrap();
    let smdp_signed2 = Signed::<SmdpSigned2>::from_raw(client.smdp_signed2.clone()).unwrap();
    assert_eq!(
        smdp_signed2.value().transaction_id,
        init.transaction_id.as_bytes()
    );
    let hash = smdp_signed2.value().cc_required_flag.then(|| {
        hash_cc(
            confirmation_code
                .expect("the SM-DP+ asks for a confirmation code")
                .as_bytes(),
            init.transaction_id.as_bytes(),
        )
        .to_vec()
    });
    let prepare = PrepareDownloadRequest {
        smdp_signed2,
        smdp_signature2: value_of(&client.smdp_signature2, 0x5F37),
        hash_cc: hash,
        smdp_certificate: RawTlv::from_der(client.smdp_certificate.clone()).unwrap(),
    };
    let prepare_response = es10.call(&prepare.to_der());
    assert!(matches!(
        PrepareDownloadResponse::from_der(&prepare_response).unwrap(),
        PrepareDownloadResponse::Ok(_)
    ));
    let bpp: es9::GetBoundProfilePackageOk = https
        .es9(
            host,
            Es9Function::GetBoundProfilePackage,
            &es9::GetBoundProfilePackageRequest {
                transaction_id: init.transaction_id,
                prepare_download_response: prepare_response,
            },
        )
        .unwrap();
    let mut bpp = bpp.bound_profile_package;
    if tamper_bpp {
        // Flip one bit in the last byte of the first `86` segment's MAC.
        let a3 = BppCommands::new(&bpp).unwrap().last().unwrap();
        let offset = a3.bytes.as_ptr() as usize - bpp.as_ptr() as usize + a3.bytes.len() - 1;
        bpp[offset] ^= 0x01;
    }
    // SGP.22 §2.5.5: each part is its own STORE DATA sequence; the card answers early with a
    // ProfileInstallationResult if it fails.
    let mut answer = Vec::new();
    for command in BppCommands::new(&bpp).unwrap() {
        answer = es10.call(command.bytes);
        if !answer.is_empty() {
            break;
        }
    }
    let result = ProfileInstallationResult::from_der(&answer).unwrap();
    Outcome { result, metadata }
}

/// Sends every pending notification to its server and removes it from the card only after the
/// server accepted it.
fn deliver_notifications<A: Apdus>(es10: &mut Es10<A>, https: &Https) -> usize {
    let list: ListNotificationResponse = es10.call_typed(&ListNotificationRequest {
        profile_management_operation: None,
    });
    let ListNotificationResponse::Ok(list) = list else {
        panic!("ListNotification failed");
    };
    for md in &list {
        let raw = es10.call(
            &RetrieveNotificationsListRequest {
                search_criteria: Some(NotificationSearchCriteria::SeqNumber(md.seq_number)),
            }
            .to_der(),
        );
        let RetrieveNotificationsListResponse::Ok(pending) =
            RetrieveNotificationsListResponse::from_der(&raw).unwrap()
        else {
            panic!("RetrieveNotificationsList failed");
        };
        let address = md.notification_address.trim();
        let _: es9::EmptyBody = https
            .es9(
                address,
                Es9Function::HandleNotification,
                &es9::HandleNotificationRequest {
                    pending_notification: pending[0].to_der(),
                },
            )
            .unwrap();
        let removed: NotificationSentResponse = es10.call_typed(&NotificationSentRequest {
            seq_number: md.seq_number,
        });
        assert_eq!(
            removed.delete_notification_status,
            DeleteNotificationStatus::Ok
        );
    }
    list.len()
}

// ------------------------------------------------------------------------------- the testbed

struct Bed {
    server: SmdpServer,
    card: SharedCard,
    https: Https,
}

impl Bed {
    fn new() -> Self {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let pki =
            TestPki::generate(&TestPkiOptions::new(Curve::NistP256, now - day, now + day)).unwrap();
        let smdp = Smdp::new(SmdpConfig::from_pki(&pki)).unwrap();
        let server = SmdpServer::start(Arc::new(smdp), ServerOptions::default()).unwrap();
        let euicc = SoftEuicc::new(
            EuiccIdentity::from_test_pki(&pki).unwrap(),
            EuiccConfig::new(now),
        )
        .unwrap();
        let https = Https::new(server.addr(), &pki.ci.certificate);
        Bed {
            card: Arc::new(Mutex::new(euicc)),
            server,
            https,
        }
    }

    fn host(&self) -> String {
        self.server.smdp().host().to_owned()
    }

    /// ES2+ DownloadOrder + ConfirmOrder (released) for `profile`; returns the matching ID.
    fn order(&self, profile: ServedProfile, confirmation_code: Option<&str>) -> (Iccid, String) {
        let iccid = profile.iccid;
        self.server.smdp().add_profile(profile).unwrap();
        let header = serde_json::json!({
            "functionRequesterIdentifier": "operator-1",
            "functionCallIdentifier": "call-1"
        });
        let eid = lpa_testbed::pki::DEFAULT_EID;
        self.https.es2(
            &self.host(),
            "downloadOrder",
            serde_json::json!({"header": header, "eid": eid, "iccid": iccid.to_string()}),
        );
        let mut confirm = serde_json::json!({
            "header": header, "iccid": iccid.to_string(), "eid": eid, "releaseFlag": true
        });
        if let Some(cc) = confirmation_code {
            confirm["confirmationCode"] = cc.into();
        }
        let answer = self.https.es2(&self.host(), "confirmOrder", confirm);
        (iccid, answer["matchingId"].as_str().unwrap().to_owned())
    }

    fn status(&self, iccid: &Iccid) -> String {
        format!(
            "{:?}",
            self.server
                .smdp()
                .profile(&iccid.to_string())
                .unwrap()
                .status
        )
    }
}

fn assert_installed(outcome: &Outcome, iccid: &Iccid) {
    let data = outcome.result.profile_installation_result_data.value();
    assert!(
        matches!(data.final_result, FinalResult::Success(_)),
        "{:?}",
        data.final_result
    );
    assert_eq!(data.notification_metadata.iccid.as_ref(), Some(iccid));
    assert_eq!(&outcome.metadata.iccid, iccid);
}

fn profiles<A: Apdus>(es10: &mut Es10<A>) -> Vec<ProfileInfo> {
    let ProfileInfoListResponse::Ok(list) = es10.call_typed(&ProfileInfoListRequest {
        search_criteria: None,
        tag_list: None,
    }) else {
        panic!("GetProfilesInfo failed");
    };
    list
}

#[test]
fn download_enable_and_notify_directly() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(ServedProfile::demo(1), None);
    let mut es10 = Es10::open(Direct(Arc::clone(&bed.card)), 255);
    let outcome = download(
        &mut es10,
        &bed.https,
        &bed.host(),
        &matching_id,
        None,
        false,
    );
    assert_installed(&outcome, &iccid);
    assert_eq!(bed.status(&iccid), "Downloaded");
    // The install notification: sent, acknowledged, then removed from the card.
    assert_eq!(deliver_notifications(&mut es10, &bed.https), 1);
    assert_eq!(bed.status(&iccid), "Installed");
    assert_eq!(bed.server.smdp().notifications().len(), 1);
    // Enable it.
    let enabled: EnableProfileResponse = es10.call_typed(&EnableProfileRequest {
        profile_identifier: ProfileIdentifier::Iccid(iccid),
        refresh_flag: false,
    });
    assert_eq!(enabled.enable_result, EnableResult::Ok);
    let list = profiles(&mut es10);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].iccid, Some(iccid));
    assert_eq!(list[0].profile_state, Some(ProfileState::Enabled));
}

#[test]
fn download_through_the_emulated_modem_with_at_csim() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(ServedProfile::demo(2), Some("7412"));
    let modem = Modem::start(Arc::clone(&bed.card), ModemConfig::new()).unwrap();
    let mut es10 = Es10::open(AtCsim::open(modem.path()), 120);
    let outcome = download(
        &mut es10,
        &bed.https,
        &bed.host(),
        &matching_id,
        Some("7412"),
        false,
    );
    assert_installed(&outcome, &iccid);
    assert_eq!(deliver_notifications(&mut es10, &bed.https), 1);
    assert_eq!(bed.status(&iccid), "Installed");
    let stats = modem.stats();
    assert_eq!(stats.apdus as usize, es10.apdus.commands);
    // Segments of 120 bytes: the demo profile's ~600-byte package needs several blocks.
    assert!(stats.apdus > 20, "{stats:?}");
}

#[test]
fn tampered_segment_is_refused_by_the_card_and_reported_to_the_server() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(ServedProfile::demo(3), None);
    let mut es10 = Es10::open(Direct(Arc::clone(&bed.card)), 255);
    let outcome = download(&mut es10, &bed.https, &bed.host(), &matching_id, None, true);
    let data = outcome.result.profile_installation_result_data.value();
    let FinalResult::Error(e) = &data.final_result else {
        panic!("a tampered segment must fail: {:?}", data.final_result);
    };
    assert_eq!(e.bpp_command_id, BppCommandId::LoadProfileElements);
    assert_eq!(e.error_reason, ErrorReason::Scp03tSecurityError);
    assert!(profiles(&mut es10).is_empty(), "nothing half installed");
    // The failure notification reaches the SM-DP+, which moves the order to Error.
    assert_eq!(deliver_notifications(&mut es10, &bed.https), 1);
    assert_eq!(bed.status(&iccid), "Error");
}

#[test]
fn ts48_profiles_download_by_path() {
    // GSMA TS.48 generic test profiles: read from the shared folder, never copied here.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/profiles");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => {
            println!("skipped: {} is not present on this machine", dir.display());
            return;
        }
    };
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        // Both files carry the same ICCID, so each gets its own testbed.
        let bed = Bed::new();
        let der = std::fs::read(&path).unwrap();
        let size = der.len();
        let profile = ServedProfile::from_package(der).unwrap();
        let (iccid, matching_id) = bed.order(profile, None);
        // Through the modem's pty with AT+CSIM, as a modem firmware would load it.
        let modem = Modem::start(Arc::clone(&bed.card), ModemConfig::new()).unwrap();
        let mut es10 = Es10::open(AtCsim::open(modem.path()), 255);
        let outcome = download(
            &mut es10,
            &bed.https,
            &bed.host(),
            &matching_id,
            None,
            false,
        );
        assert_installed(&outcome, &iccid);
        assert_eq!(deliver_notifications(&mut es10, &bed.https), 1);
        assert_eq!(bed.status(&iccid), "Installed");
        let stats = modem.stats();
        println!(
            "{}: {size} bytes installed as {iccid} in {} APDUs, {} bytes to the modem",
            path.display(),
            stats.apdus,
            stats.bytes_from_host
        );
    }
}
