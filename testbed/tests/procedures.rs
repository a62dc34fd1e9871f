//! The sans-IO procedures of `lpa_core::procedures` driven by a tiny in-test driver against the
//! real testbed peers, in process: a `SoftEuicc` behind STORE DATA APDUs (`Card::transmit`) and
//! the test SM-DP+/SM-DS through `Smdp::handle` (no sockets). Neither peer is lenient: every
//! signature, certificate, MAC and code is checked, so these pass only with the right bytes,
//! the right order, and sessions really ended on both sides when something goes wrong.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lpa_core::activation::ActivationCode;
use lpa_core::apdu::{
    ApduError, ExchangeConfig, ISD_R_AID, LogicalChannel, SelectResponse, StoreDataExchange,
    Transmit, manage_channel_open, parse_manage_channel_open_response, select_by_aid,
};
use lpa_core::der::{Decode, Encode};
use lpa_core::es9::{Es9Function, TransactionId};
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    AuthenticateErrorCode, CancelSessionError, CancelSessionReason, CancelSessionRequest,
    CancelSessionResponse, DeviceCapabilities, DeviceInfo, DownloadErrorCode,
    PrepareDownloadResponse, PrepareDownloadResponseError, ServerSigned1, Version,
};
use lpa_core::procedures::{
    Answer, Awaiting, BadInput, CardCancellation, CardFailure, CardRefusal, DeliveryOutcome,
    Discovery, Download, Es10Command, Fault, InstallOutcome, Misbehaviour, NotificationDelivery,
    Procedure, ProcedureError, Question, Recovery, ServerCancellation, ServerFailure,
    ServerFunction, ServerRequest, SessionRecord, SessionStage, Step, TransportFailure,
};
use lpa_testbed::card::Card;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::pki::{Curve, DEFAULT_EID, TestPki, TestPkiOptions};
use lpa_testbed::smdp::{ProfileStatus, Request, ServedProfile, Smdp, SmdpConfig};

const SMDS: &str = "testsmds1.example.com";

// ------------------------------------------------------------------------------- the testbed

/// The two peers, in process.
struct Bed {
    smdp: Smdp,
    card: SoftEuicc,
    channel: LogicalChannel,
}

impl Bed {
    fn new() -> Self {
        Bed::with(|_| {})
    }

    /// A testbed whose card configuration `tweak` may change; the SM-DP+ also serves an SM-DS.
    fn with(tweak: impl FnOnce(&mut EuiccConfig)) -> Self {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let pki =
            TestPki::generate(&TestPkiOptions::new(Curve::NistP256, now - day, now + day)).unwrap();
        let mut config = SmdpConfig::from_pki(&pki);
        config.smds_host = Some(SMDS.to_owned());
        let smdp = Smdp::new(config).unwrap();
        let mut card_config = EuiccConfig::new(now);
        card_config.root_ds_address = SMDS.to_owned();
        tweak(&mut card_config);
        let mut card =
            SoftEuicc::new(EuiccIdentity::from_test_pki(&pki).unwrap(), card_config).unwrap();
        // A logical channel to the ISD-R, as an LPA opens it.
        let mut buf = [0u8; 261];
        let n = manage_channel_open().encode(&mut buf).unwrap();
        let channel = parse_manage_channel_open_response(&card.transmit(&buf[..n])).unwrap();
        let n = select_by_aid(channel, &ISD_R_AID, SelectResponse::Fci)
            .unwrap()
            .encode(&mut buf)
            .unwrap();
        let answer = card.transmit(&buf[..n]);
        assert_eq!(answer[answer.len() - 2..], [0x90, 0x00], "SELECT ISD-R");
        Bed {
            smdp,
            card,
            channel,
        }
    }

    fn host(&self) -> String {
        self.smdp.host().to_owned()
    }

    /// One ES10 command through STORE DATA, as the `lpa` crate's driver sends it.
    fn es10(&mut self, request: &[u8]) -> Result<Vec<u8>, CardFailure> {
        let mut response = vec![0u8; 64 * 1024];
        let mut exchange = StoreDataExchange::new(
            self.channel,
            request,
            ExchangeConfig::default().with_segment_size(120),
            &mut response,
        )?;
        let mut apdu = [0u8; 261];
        loop {
            match exchange.poll_transmit(&mut apdu)? {
                Transmit::Command(command) => {
                    let answer = self.card.transmit(command);
                    exchange.handle_response(&answer)?;
                }
                Transmit::Done { len } => return Ok(exchange.response()[..len].to_vec()),
            }
        }
    }

    /// One ES9+/ES11 call, straight into the SM-DP+'s request handler.
    fn post(&self, request: &ServerRequest) -> (u16, Vec<u8>) {
        let response = self.smdp.handle(&Request::post(
            request.function.path(),
            request.headers(),
            &request.body,
        ));
        (response.status, response.body)
    }

    fn es2(&self, function: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self.smdp.handle(&Request::post(
            &format!("/gsma/rsp2/es2plus/{function}"),
            &lpa_core::es9::REQUEST_HEADERS,
            body.to_string().as_bytes(),
        ));
        assert_eq!(response.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            json["header"]["functionExecutionStatus"]["status"], "Executed-Success",
            "{json}"
        );
        json
    }

    /// ES2+ downloadOrder + confirmOrder (released) for demo profile `n`: returns its ICCID and
    /// matching ID. `matching_id: Some("")` makes a default SM-DP+ order (linked to the EID).
    fn order(
        &self,
        n: u32,
        matching_id: Option<&str>,
        confirmation_code: Option<&str>,
        smds: bool,
    ) -> (Iccid, String) {
        let profile = ServedProfile::demo(n);
        let iccid = profile.iccid;
        self.smdp.add_profile(profile).unwrap();
        let header = serde_json::json!({
            "functionRequesterIdentifier": "operator-1",
            "functionCallIdentifier": format!("call-{n}")
        });
        self.es2(
            "downloadOrder",
            serde_json::json!({"header": header, "eid": DEFAULT_EID, "iccid": iccid.to_string()}),
        );
        let mut confirm = serde_json::json!({
            "header": header, "iccid": iccid.to_string(), "eid": DEFAULT_EID, "releaseFlag": true
        });
        if let Some(mid) = matching_id {
            confirm["matchingId"] = mid.into();
        }
        if let Some(cc) = confirmation_code {
            confirm["confirmationCode"] = cc.into();
        }
        if smds {
            confirm["smdsAddress"] = SMDS.into();
        }
        let answer = self.es2("confirmOrder", confirm);
        (iccid, answer["matchingId"].as_str().unwrap().to_owned())
    }

    fn activation_code(&self, matching_id: &str) -> String {
        format!("LPA:1${}${matching_id}", self.host())
    }

    fn status(&self, iccid: &Iccid) -> ProfileStatus {
        self.smdp.profile(&iccid.to_string()).unwrap().status
    }

    /// Whether the card still has a download session with `tid` (probed with CancelSession,
    /// so only for checking that none is left).
    fn card_has_no_session(&mut self, tid: &TransactionId) -> bool {
        let answer = self
            .es10(
                &CancelSessionRequest {
                    transaction_id: tid.as_bytes().to_vec(),
                    reason: CancelSessionReason::UndefinedReason,
                }
                .to_der(),
            )
            .unwrap();
        CancelSessionResponse::from_der(&answer).unwrap()
            == CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId)
    }
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

// ------------------------------------------------------------------------------- the driver

type ServerHook = Box<dyn FnMut(&ServerRequest) -> Option<Result<(u16, Vec<u8>), ServerFailure>>>;
type CardHook = Box<dyn FnMut(Es10Command, &[u8]) -> Option<Result<Vec<u8>, CardFailure>>>;
type Tamper = Box<dyn FnMut(&ServerRequest, &mut serde_json::Value)>;

/// What the test changes on the way: answers from the user, faults of the peers, tampering in
/// transit, and where to stop driving.
#[derive(Default)]
struct Tap {
    answers: VecDeque<Answer>,
    /// Answers in the server's place (`Some`), before the server sees the request.
    server: Option<ServerHook>,
    /// Answers in the card's place (`Some`), before the card sees the command.
    card: Option<CardHook>,
    /// Changes the JSON of a server answer in transit.
    tamper: Option<Tamper>,
    /// Stops driving once the session record reaches this stage.
    stop_at: Option<SessionStage>,
}

impl Tap {
    fn answering(answers: impl IntoIterator<Item = Answer>) -> Self {
        Tap {
            answers: answers.into_iter().collect(),
            ..Tap::default()
        }
    }
}

/// What a run did.
struct Run<T> {
    /// `None` when stopped by [`Tap::stop_at`].
    result: Option<Result<T, ProcedureError>>,
    /// One line per step: `card:<ES10 command>`, `server:<function>`, `user:<question>`.
    trace: Vec<String>,
    /// The session record after every step, as a driver persists it.
    records: Vec<Option<SessionRecord>>,
}

impl<T: std::fmt::Debug> Run<T> {
    fn ok(self) -> T {
        self.result.expect("stopped early").unwrap()
    }

    fn err(self) -> ProcedureError {
        self.result.expect("stopped early").unwrap_err()
    }

    fn stages(&self) -> Vec<Option<SessionStage>> {
        let mut stages: Vec<Option<SessionStage>> = self
            .records
            .iter()
            .map(|r| r.as_ref().map(|r| r.stage.clone()))
            .collect();
        stages.dedup();
        stages
    }

    fn ends_with(&self, tail: &[&str]) -> bool {
        self.trace
            .ends_with(&tail.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
}

/// The driving loop of `lpa_core::procedures`, over the in-process peers.
fn drive<P: Procedure>(bed: &mut Bed, procedure: &mut P, tap: &mut Tap) -> Run<P::Output> {
    let mut trace = Vec::new();
    let mut records = vec![procedure.session_record()];
    for _ in 0..10_000 {
        let awaiting = procedure.awaiting();
        let handled = match procedure.poll() {
            Step::Card(request) => {
                let Awaiting::Card(command) = awaiting else {
                    panic!("a card step while awaiting {awaiting:?}");
                };
                trace.push(format!("card:{}", command.name()));
                let injected = tap.card.as_mut().and_then(|hook| hook(command, &request));
                match injected.unwrap_or_else(|| bed.es10(&request)) {
                    Ok(answer) => procedure.handle_card(answer),
                    Err(failure) => procedure.handle_card_failure(failure),
                }
            }
            Step::Server(request) => {
                trace.push(format!("server:{}", request.function.name()));
                let injected = tap.server.as_mut().and_then(|hook| hook(&request));
                match injected.unwrap_or_else(|| Ok(bed.post(&request))) {
                    Ok((status, mut body)) => {
                        if let Some(tamper) = tap.tamper.as_mut()
                            && let Ok(mut json) = serde_json::from_slice(&body)
                        {
                            tamper(&request, &mut json);
                            body = serde_json::to_vec(&json).unwrap();
                        }
                        procedure.handle_server(status, body)
                    }
                    Err(failure) => procedure.handle_server_failure(failure),
                }
            }
            Step::User(question) => {
                trace.push(match &question {
                    Question::ConfirmProfile { .. } => "user:ConfirmProfile".to_owned(),
                    Question::ConfirmationCode { .. } => "user:ConfirmationCode".to_owned(),
                    other => format!("user:{other:?}"),
                });
                let answer = tap.answers.pop_front().expect("no answer for the user");
                procedure.handle_user(answer)
            }
            Step::Done(result) => {
                return Run {
                    result: Some(result),
                    trace,
                    records,
                };
            }
        };
        handled.expect("the driver fed what the procedure awaited");
        let record = procedure.session_record();
        let stop =
            tap.stop_at.is_some() && record.as_ref().map(|r| &r.stage) == tap.stop_at.as_ref();
        records.push(record);
        if stop {
            return Run {
                result: None,
                trace,
                records,
            };
        }
    }
    panic!("the procedure did not end");
}

fn accept() -> Tap {
    Tap::answering([Answer::Accept])
}

/// Base64 DER of a JSON field, decoded.
fn field(json: &serde_json::Value, name: &str) -> Vec<u8> {
    STANDARD.decode(json[name].as_str().unwrap()).unwrap()
}

fn set_field(json: &mut serde_json::Value, name: &str, bytes: &[u8]) {
    json[name] = STANDARD.encode(bytes).into();
}

fn is_function(request: &ServerRequest, function: Es9Function) -> bool {
    request.function == ServerFunction::Es9(function)
}

// ------------------------------------------------------------------------------- downloads

#[test]
fn download_by_activation_code_then_deliver_the_install_notification() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(1, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut download = Download::from_activation_code(&code, device_info());
    let run = drive(&mut bed, &mut download, &mut accept());
    assert_eq!(
        run.trace[..7],
        [
            "card:GetEUICCChallenge",
            "card:GetEUICCInfo1",
            "server:initiateAuthentication",
            "card:AuthenticateServer",
            "server:authenticateClient",
            "user:ConfirmProfile",
            "card:PrepareDownload",
        ]
    );
    // The record a driver persists follows the session, and is gone at the end.
    assert_eq!(
        run.stages(),
        [
            None,
            Some(SessionStage::Authenticating),
            Some(SessionStage::Authenticated),
            Some(SessionStage::Prepared),
            Some(SessionStage::Loading),
            None
        ]
    );
    let installation = run.ok();
    assert!(installation.is_installed(), "{:?}", installation.outcome);
    assert_eq!(installation.iccid, iccid);
    let InstallOutcome::Installed { isdp_aid } = &installation.outcome else {
        unreachable!()
    };
    let installed = bed.card.installed_profiles();
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].iccid, iccid);
    assert_eq!(&installed[0].isdp_aid, isdp_aid);
    assert_eq!(bed.status(&iccid), ProfileStatus::Downloaded);

    // The install notification: delivered, acknowledged, removed from the card.
    let mut delivery = NotificationDelivery::for_installation(&installation);
    let run = drive(&mut bed, &mut delivery, &mut Tap::default());
    assert_eq!(
        run.trace,
        [
            "card:ListNotification",
            "card:RetrieveNotificationsList",
            "server:handleNotification",
            "card:RemoveNotificationFromList"
        ]
    );
    let report = run.ok();
    assert!(report.all_delivered());
    assert_eq!(report.notifications[0].seq_number, installation.seq_number);
    assert_eq!(report.notifications[0].outcome, DeliveryOutcome::Delivered);
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    assert!(bed.card.pending_notification_numbers().is_empty());
    let received = bed.smdp.notifications();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].der, installation.profile_installation_result);
}

#[test]
fn download_with_the_right_confirmation_code() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(2, None, Some("7412"), false);
    let mut download = Download::new(
        lpa_core::procedures::DownloadSource::ActivationCode {
            smdp_address: bed.host(),
            matching_id: Some(matching_id),
            confirmation_code_required: true,
        },
        device_info(),
    );
    let mut tap = Tap::answering([Answer::Accept, Answer::ConfirmationCode("7412".into())]);
    let run = drive(&mut bed, &mut download, &mut tap);
    assert!(run.trace.contains(&"user:ConfirmationCode".to_owned()));
    assert!(run.ok().is_installed());
    assert_eq!(bed.status(&iccid), ProfileStatus::Downloaded);
}

#[test]
fn a_wrong_confirmation_code_ends_the_session_on_both_sides() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(3, None, Some("7412"), false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut download = Download::from_activation_code(&code, device_info());
    let mut tap = Tap::answering([Answer::Accept, Answer::ConfirmationCode("0000".into())]);
    let run = drive(&mut bed, &mut download, &mut tap);
    assert!(run.ends_with(&[
        "server:getBoundProfilePackage",
        "card:CancelSession",
        "server:cancelSession"
    ]));
    let err = run.err();
    let Fault::ServerRefused(refusal) = err.fault() else {
        panic!("{err}");
    };
    assert_eq!(
        (refusal.subject_code.as_str(), refusal.reason_code.as_str()),
        ("8.2.7", "3.8")
    );
    assert_eq!(refusal.meaning(), Some("the confirmation code is wrong"));
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    // The SM-DP+ had ended its session when it refused the code: cancelSession finds none.
    assert!(
        matches!(&end.server, ServerCancellation::Failed(Fault::ServerRefused(r)) if r.subject_code == "8.10.1"),
        "{:?}",
        end.server
    );
    assert!(end.is_complete());
    assert!(!err.session_left_open());
    // One wrong code of three: the order may be tried again; no session, no profile.
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    assert_eq!(
        bed.smdp
            .profile(&iccid.to_string())
            .unwrap()
            .confirmation_code_failures,
        1
    );
    assert_eq!(bed.smdp.session_count(), 0);
    assert!(bed.card.installed_profiles().is_empty());
    assert!(bed.card_has_no_session(&end.transaction_id));
    assert_eq!(download.session_record(), None);
}

#[test]
fn the_user_declining_the_profile_ends_the_order_in_error() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(4, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut download = Download::from_activation_code(&code, device_info());
    let mut tap = Tap::answering([Answer::Decline(CancelSessionReason::EndUserRejection)]);
    let run = drive(&mut bed, &mut download, &mut tap);
    assert!(run.ends_with(&[
        "user:ConfirmProfile",
        "card:CancelSession",
        "server:cancelSession"
    ]));
    let err = run.err();
    assert_eq!(
        err.fault(),
        &Fault::UserDeclined {
            reason: CancelSessionReason::EndUserRejection
        }
    );
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    // SGP.22 §3.1.6: a rejection by the end user is final.
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
    assert_eq!(bed.smdp.session_count(), 0);
    assert!(bed.card_has_no_session(&end.transaction_id));
    assert!(bed.card.installed_profiles().is_empty());
}

#[test]
fn a_postponed_download_can_be_done_later() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(5, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = Tap::answering([Answer::Decline(CancelSessionReason::Postponed)]);
    let err = drive(
        &mut bed,
        &mut Download::from_activation_code(&code, device_info()),
        &mut tap,
    )
    .err();
    assert_eq!(
        err.fault(),
        &Fault::UserDeclined {
            reason: CancelSessionReason::Postponed
        }
    );
    assert_eq!(
        err.session_end().unwrap().server,
        ServerCancellation::Cancelled
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // Later, with the same activation code.
    let run = drive(
        &mut bed,
        &mut Download::from_activation_code(&code, device_info()),
        &mut accept(),
    );
    assert!(run.ok().is_installed());
}

#[test]
fn download_from_the_default_smdp() {
    let host = lpa_testbed::pki::DEFAULT_SMDP_HOST;
    let mut bed = Bed::with(|config| config.default_dp_address = Some(host.to_owned()));
    let (iccid, matching_id) = bed.order(6, Some(""), None, false);
    assert_eq!(matching_id, "");
    let mut download = Download::from_default_smdp(device_info());
    let run = drive(&mut bed, &mut download, &mut accept());
    assert_eq!(run.trace[0], "card:GetEuiccConfiguredAddresses");
    let installation = run.ok();
    assert_eq!(installation.iccid, iccid);
    assert_eq!(installation.smdp_address, host);

    // A card without a default SM-DP+ says so.
    let mut bed = Bed::new();
    let err = drive(
        &mut bed,
        &mut Download::from_default_smdp(device_info()),
        &mut Tap::default(),
    )
    .err();
    assert_eq!(
        err.fault(),
        &Fault::BadInput(BadInput::NoDefaultSmdpAddress)
    );
}

#[test]
fn smds_discovery_then_download_of_the_event() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(7, None, None, true);
    let mut discovery = Discovery::from_root_smds(device_info());
    // The SoftEuicc authenticates the SM-DS itself (CERT.DSauth).
    let run = drive(&mut bed, &mut discovery, &mut Tap::default());
    assert_eq!(
        run.trace,
        [
            "card:GetEuiccConfiguredAddresses",
            "card:GetEUICCChallenge",
            "card:GetEUICCInfo1",
            "server:initiateAuthentication",
            "card:AuthenticateServer",
            "server:authenticateClient"
        ]
    );
    let events = run.ok();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id, matching_id);
    assert_eq!(events[0].rsp_server_address, bed.host());

    // The driver downloads each event.
    let mut download = Download::from_event(&events[0], device_info());
    let installation = drive(&mut bed, &mut download, &mut accept()).ok();
    assert_eq!(installation.iccid, iccid);
    let report = drive(
        &mut bed,
        &mut NotificationDelivery::for_installation(&installation),
        &mut Tap::default(),
    )
    .ok();
    assert!(report.all_delivered());
    // Installed: the SM-DS event is gone.
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    assert!(bed.smdp.events(DEFAULT_EID).is_empty());
    let events = drive(
        &mut bed,
        &mut Discovery::new(SMDS, device_info()),
        &mut Tap::default(),
    )
    .ok();
    assert!(events.is_empty());
}

// ------------------------------------------------------------------------------- failures

#[test]
fn a_tampered_server_signed1_is_refused_by_the_card_and_both_sides_end() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(8, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = Tap {
        // Change the server challenge inside serverSigned1: the echoes the LPA checks stay
        // right, the signature does not.
        tamper: Some(Box::new(|request, json| {
            if is_function(request, Es9Function::InitiateAuthentication) {
                let mut signed = ServerSigned1::from_der(&field(json, "serverSigned1")).unwrap();
                signed.server_challenge[0] ^= 0x01;
                set_field(json, "serverSigned1", &signed.to_der());
            }
        })),
        ..Tap::default()
    };
    let mut download = Download::from_activation_code(&code, device_info());
    let run = drive(&mut bed, &mut download, &mut tap);
    // The card's refusal goes to the SM-DP+ (the only way it learns of it), then the card's
    // side is cancelled.
    assert!(run.ends_with(&[
        "card:AuthenticateServer",
        "server:authenticateClient",
        "card:CancelSession"
    ]));
    let err = run.err();
    assert_eq!(
        err.fault(),
        &Fault::CardRefused(CardRefusal::AuthenticateServer(
            AuthenticateErrorCode::InvalidSignature
        ))
    );
    let end = err.session_end().unwrap();
    assert_eq!(end.server, ServerCancellation::InformedOfCardRefusal);
    assert_eq!(end.card, CardCancellation::NoSession);
    assert_eq!(bed.smdp.session_count(), 0);
    assert!(bed.card_has_no_session(&end.transaction_id));
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    assert_eq!(download.session_record(), None);
}

#[test]
fn http_500_from_the_server_cancels_the_session_on_both_sides() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(9, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = accept();
    tap.server = Some(Box::new(|request| {
        is_function(request, Es9Function::GetBoundProfilePackage)
            .then(|| Ok((500, b"<html>Internal Server Error</html>".to_vec())))
    }));
    let mut download = Download::from_activation_code(&code, device_info());
    let run = drive(&mut bed, &mut download, &mut tap);
    assert!(run.ends_with(&[
        "server:getBoundProfilePackage",
        "card:CancelSession",
        "server:cancelSession"
    ]));
    let err = run.err();
    assert!(matches!(
        err.fault(),
        Fault::PeerMisbehaved(Misbehaviour::ServerAnswer {
            error: lpa_core::es9::Es9Error::Http { status: 500, .. },
            ..
        })
    ));
    assert!(err.is_transient(), "worth trying again later");
    let end = err.session_end().unwrap();
    assert_eq!(end.reason, CancelSessionReason::UndefinedReason);
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.smdp.session_count(), 0);
    assert!(bed.card_has_no_session(&end.transaction_id));
    // Not the user's doing: the order can be downloaded again.
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    assert!(
        drive(
            &mut bed,
            &mut Download::from_activation_code(&code, device_info()),
            &mut accept()
        )
        .ok()
        .is_installed()
    );
}

/// The prepareDownloadResponse the LPA sent, and the header of the SM-DP+'s answer.
type Forwarded = (Vec<u8>, serde_json::Value);

#[test]
fn a_prepare_download_refusal_reaches_the_smdp_in_get_bound_profile_package() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(10, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    // What the SM-DP+ got in getBoundProfilePackage, and what it answered.
    let seen: Rc<RefCell<Option<Forwarded>>> = Rc::default();
    let seen_in_tap = Rc::clone(&seen);
    let mut tap = accept();
    // A bad smdpSignature2 in transit: the card refuses PrepareDownload.
    tap.tamper = Some(Box::new(move |request, json| {
        if is_function(request, Es9Function::AuthenticateClient) {
            let mut signature = field(json, "smdpSignature2");
            *signature.last_mut().unwrap() ^= 0x01;
            set_field(json, "smdpSignature2", &signature);
        }
        if is_function(request, Es9Function::GetBoundProfilePackage) {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let sent = field(&body, "prepareDownloadResponse");
            *seen_in_tap.borrow_mut() = Some((sent, json["header"].clone()));
        }
    }));
    let mut download = Download::from_activation_code(&code, device_info());
    let run = drive(&mut bed, &mut download, &mut tap);
    // SGP.22 §3.1.3: the card's error goes to the SM-DP+, then the card's side is cancelled;
    // the SM-DP+ has no session left for ES9+ cancelSession.
    assert!(
        run.ends_with(&[
            "card:PrepareDownload",
            "server:getBoundProfilePackage",
            "card:CancelSession"
        ]),
        "{:?}",
        run.trace
    );
    let (sent, header) = seen
        .borrow_mut()
        .take()
        .expect("getBoundProfilePackage sent");
    assert_eq!(
        PrepareDownloadResponse::from_der(&sent).unwrap(),
        PrepareDownloadResponse::Error(PrepareDownloadResponseError {
            transaction_id: match download.poll() {
                Step::Done(Err(e)) => e.session_end().unwrap().transaction_id.as_bytes().to_vec(),
                other => panic!("{other:?}"),
            },
            download_error_code: DownloadErrorCode::InvalidSignature,
        })
    );
    assert_eq!(
        header["functionExecutionStatus"]["status"], "Failed",
        "{header}"
    );
    let err = run.err();
    assert_eq!(
        err.fault(),
        &Fault::CardRefused(CardRefusal::PrepareDownload(
            DownloadErrorCode::InvalidSignature
        ))
    );
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::InformedOfCardRefusal);
    assert!(end.is_complete());
    assert_eq!(bed.smdp.session_count(), 0, "the SM-DP+ ended its session");
    assert!(bed.card_has_no_session(&end.transaction_id));
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    assert_eq!(download.session_record(), None);
}

#[test]
fn a_wrong_transaction_id_in_a_reply_ends_the_session() {
    let mut bed = Bed::new();
    let (_, matching_id) = bed.order(11, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = Tap {
        tamper: Some(Box::new(|request, json| {
            if is_function(request, Es9Function::AuthenticateClient) {
                json["transactionId"] = "00112233445566778899AABBCCDDEEFF".into();
            }
        })),
        ..Tap::default()
    };
    let run = drive(
        &mut bed,
        &mut Download::from_activation_code(&code, device_info()),
        &mut tap,
    );
    assert!(run.ends_with(&[
        "server:authenticateClient",
        "card:CancelSession",
        "server:cancelSession"
    ]));
    let err = run.err();
    assert!(matches!(
        err.fault(),
        Fault::PeerMisbehaved(Misbehaviour::TransactionIdMismatch {
            field: "transactionId",
            ..
        })
    ));
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.smdp.session_count(), 0);
}

#[test]
fn a_server_lost_mid_session_is_cancelled_or_recovered_later() {
    // The server drops one call: the session is cancelled on both sides at once.
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(12, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = accept();
    tap.server = Some(Box::new(|request| {
        is_function(request, Es9Function::GetBoundProfilePackage)
            .then(|| Err(ServerFailure::Connect("connection refused".into())))
    }));
    let mut download = Download::from_activation_code(&code, device_info());
    let err = drive(&mut bed, &mut download, &mut tap).err();
    assert!(matches!(
        err.fault(),
        Fault::TransportFailed(TransportFailure::Server { .. })
    ));
    let end = err.session_end().unwrap();
    assert_eq!(
        (&end.card, &end.server),
        (&CardCancellation::Cancelled, &ServerCancellation::Cancelled)
    );
    assert_eq!(download.session_record(), None);
    assert_eq!(bed.smdp.session_count(), 0);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);

    // The server stays away: the card's signed cancellation is kept for later.
    let mut tap = accept();
    tap.server = Some(Box::new(|request| {
        (!is_function(request, Es9Function::InitiateAuthentication)
            && !is_function(request, Es9Function::AuthenticateClient))
        .then(|| Err(ServerFailure::Timeout(Duration::from_secs(30))))
    }));
    let mut download = Download::from_activation_code(&code, device_info());
    let err = drive(&mut bed, &mut download, &mut tap).err();
    let end = err.session_end().unwrap();
    assert_eq!(end.reason, CancelSessionReason::Timeout);
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert!(matches!(
        end.server,
        ServerCancellation::Failed(Fault::TransportFailed(_))
    ));
    assert!(err.session_left_open());
    let record = download.session_record().unwrap();
    assert!(matches!(record.stage, SessionStage::CardCancelled { .. }));
    assert_eq!(bed.smdp.session_count(), 1);
    // Back online: Recovery delivers the kept cancellation.
    let mut recovery = Recovery::new(record, CancelSessionReason::Timeout);
    let run = drive(&mut bed, &mut recovery, &mut Tap::default());
    assert_eq!(run.trace, ["server:cancelSession"]);
    let end = run.ok();
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(recovery.session_record(), None);
    assert_eq!(bed.smdp.session_count(), 0);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn a_card_lost_mid_session_leaves_a_record_that_recovery_ends() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(13, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = accept();
    tap.card = Some(Box::new(|command, _| {
        (command == Es10Command::PrepareDownload)
            .then(|| Err(CardFailure::Unreachable("reader removed".into())))
    }));
    let mut download = Download::from_activation_code(&code, device_info());
    let run = drive(&mut bed, &mut download, &mut tap);
    assert!(
        run.ends_with(&["card:PrepareDownload"]),
        "nothing more is sent"
    );
    let err = run.err();
    assert!(matches!(
        err.fault(),
        Fault::TransportFailed(TransportFailure::Card {
            command: Es10Command::PrepareDownload,
            ..
        })
    ));
    assert!(err.session_left_open());
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::NotAttempted);
    assert_eq!(end.server, ServerCancellation::NotAttempted);
    let record = download.session_record().unwrap();
    assert_eq!(record.stage, SessionStage::Authenticated);
    assert_eq!(record.smdp_address, bed.host());
    // The record survives a restart of the driver (serde).
    let saved = serde_json::to_string(&record).unwrap();
    let record: SessionRecord = serde_json::from_str(&saved).unwrap();

    let mut recovery = Recovery::new(record, CancelSessionReason::Timeout);
    let run = drive(&mut bed, &mut recovery, &mut Tap::default());
    assert_eq!(run.trace, ["card:CancelSession", "server:cancelSession"]);
    let end = run.ok();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.smdp.session_count(), 0);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn recovery_of_a_session_stranded_after_prepare_download() {
    let mut bed = Bed::new();
    let (iccid, matching_id) = bed.order(14, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = accept();
    tap.stop_at = Some(SessionStage::Prepared);
    let mut download = Download::from_activation_code(&code, device_info());
    let run = drive(&mut bed, &mut download, &mut tap);
    assert!(run.result.is_none());
    assert!(run.ends_with(&["card:PrepareDownload"]));
    // The driver "crashes" here; what it persisted is all that is left.
    let record = run.records.last().cloned().flatten().unwrap();
    drop(download);
    assert_eq!(bed.smdp.session_count(), 1);

    let mut recovery = Recovery::new(record.clone(), CancelSessionReason::UndefinedReason);
    let end = drive(&mut bed, &mut recovery, &mut Tap::default()).ok();
    assert!(end.is_complete());
    assert_eq!(bed.smdp.session_count(), 0);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    assert!(bed.card.installed_profiles().is_empty());

    // Run again (say the driver crashed before forgetting the record): the card has no such
    // session any more, so there is nothing to send the server, and the report says so.
    let mut recovery = Recovery::new(record, CancelSessionReason::UndefinedReason);
    let run = drive(&mut bed, &mut recovery, &mut Tap::default());
    assert_eq!(run.trace, ["card:CancelSession"]);
    let end = run.ok();
    assert_eq!(end.card, CardCancellation::NoSession);
    assert_eq!(end.server, ServerCancellation::NothingToSend);
    assert_eq!(recovery.session_record(), None);
}

// ------------------------------------------------------------------------------- notifications

#[test]
fn notifications_that_fail_stay_on_the_card_until_delivered() {
    let mut bed = Bed::new();
    let mut iccids = Vec::new();
    for n in [15, 16] {
        let (iccid, matching_id) = bed.order(n, None, None, false);
        let text = bed.activation_code(&matching_id);
        let code = ActivationCode::parse(&text).unwrap();
        let installation = drive(
            &mut bed,
            &mut Download::from_activation_code(&code, device_info()),
            &mut accept(),
        )
        .ok();
        assert!(installation.is_installed());
        iccids.push(iccid);
    }
    let pending = bed.card.pending_notification_numbers();
    assert_eq!(pending.len(), 2);

    // The server is unreachable for the first notification only.
    let mut failures = 1;
    let mut tap = Tap {
        server: Some(Box::new(move |_| {
            (failures > 0).then(|| {
                failures -= 1;
                Err(ServerFailure::Connect("network unreachable".into()))
            })
        })),
        ..Tap::default()
    };
    let report = drive(&mut bed, &mut NotificationDelivery::all(), &mut tap).ok();
    assert_eq!(report.notifications.len(), 2);
    let first = &report.notifications[0];
    assert!(!first.outcome.is_delivered());
    assert!(first.outcome.is_worth_retrying());
    assert!(matches!(
        first.outcome,
        DeliveryOutcome::NotDelivered(Fault::TransportFailed(_))
    ));
    assert_eq!(report.notifications[1].outcome, DeliveryOutcome::Delivered);
    assert_eq!(
        bed.card.pending_notification_numbers(),
        [first.seq_number],
        "the failed one stays on the card"
    );
    assert_eq!(bed.status(&iccids[0]), ProfileStatus::Downloaded);
    assert_eq!(bed.status(&iccids[1]), ProfileStatus::Installed);

    // The driver retries later: delivered and removed.
    let report = drive(
        &mut bed,
        &mut NotificationDelivery::all(),
        &mut Tap::default(),
    )
    .ok();
    assert!(report.all_delivered());
    assert_eq!(report.notifications.len(), 1);
    assert!(bed.card.pending_notification_numbers().is_empty());
    assert_eq!(bed.status(&iccids[0]), ProfileStatus::Installed);

    // Nothing left: an empty report.
    let report = drive(
        &mut bed,
        &mut NotificationDelivery::all(),
        &mut Tap::default(),
    )
    .ok();
    assert!(report.notifications.is_empty());
}

#[test]
fn a_card_lost_mid_delivery_keeps_the_report() {
    let mut bed = Bed::new();
    let mut iccids = Vec::new();
    for n in [18, 19] {
        let (iccid, matching_id) = bed.order(n, None, None, false);
        let text = bed.activation_code(&matching_id);
        let code = ActivationCode::parse(&text).unwrap();
        let installation = drive(
            &mut bed,
            &mut Download::from_activation_code(&code, device_info()),
            &mut accept(),
        )
        .ok();
        assert!(installation.is_installed());
        iccids.push(iccid);
    }
    let pending = bed.card.pending_notification_numbers();
    assert_eq!(pending.len(), 2);

    // The card goes away once the SM-DP+ has accepted the first notification.
    let mut tap = Tap {
        card: Some(Box::new(|command, _| {
            (command == Es10Command::RemoveNotificationFromList)
                .then(|| Err(CardFailure::Unreachable("reader removed".into())))
        })),
        ..Tap::default()
    };
    let report = drive(&mut bed, &mut NotificationDelivery::all(), &mut tap).ok();
    assert_eq!(
        report.notifications.len(),
        2,
        "nothing vanishes from the report"
    );
    let lost = report.card_lost().expect("the card was lost").clone();
    assert!(lost.is_transient());
    assert_eq!(
        report.notifications[0].outcome,
        DeliveryOutcome::DeliveredNotRemoved(lost.clone())
    );
    assert_eq!(
        report.notifications[1].outcome,
        DeliveryOutcome::NotDelivered(lost.clone())
    );
    assert!(report.notifications[1].outcome.is_worth_retrying());
    assert_eq!(bed.status(&iccids[0]), ProfileStatus::Installed);
    assert_eq!(bed.status(&iccids[1]), ProfileStatus::Downloaded);
    assert_eq!(bed.card.pending_notification_numbers(), pending);

    // Once the card is back, the next delivery finishes the job.
    let report = drive(
        &mut bed,
        &mut NotificationDelivery::all(),
        &mut Tap::default(),
    )
    .ok();
    assert_eq!(report.card_lost(), None);
    assert_eq!(report.notifications.len(), 2);
    assert!(bed.card.pending_notification_numbers().is_empty());
    assert_eq!(bed.status(&iccids[1]), ProfileStatus::Installed);
}

#[test]
fn card_status_words_reach_the_error_with_the_command() {
    let mut bed = Bed::new();
    let (_, matching_id) = bed.order(17, None, None, false);
    let text = bed.activation_code(&matching_id);
    let code = ActivationCode::parse(&text).unwrap();
    let mut tap = accept();
    // The card answers 6A80 to the first BPP sequence; CancelSession still works.
    tap.card = Some(Box::new(|command, _| {
        matches!(command, Es10Command::LoadBoundProfilePackage(_)).then(|| {
            Err(CardFailure::Apdu(ApduError::Status {
                sw: lpa_core::apdu::StatusWord(0x6A80),
                ins: 0xE2,
                block: 0,
            }))
        })
    }));
    let run = drive(
        &mut bed,
        &mut Download::from_activation_code(&code, device_info()),
        &mut tap,
    );
    assert!(run.ends_with(&[
        "card:LoadBoundProfilePackage",
        "card:CancelSession",
        "server:cancelSession"
    ]));
    let err = run.err();
    assert!(matches!(
        err.fault(),
        Fault::CardRefused(CardRefusal::Status {
            command: Es10Command::LoadBoundProfilePackage(_),
            sw: lpa_core::apdu::StatusWord(0x6A80)
        })
    ));
    let end = err.session_end().unwrap();
    assert_eq!(end.reason, CancelSessionReason::LoadBppExecutionError);
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.smdp.session_count(), 0);
}
