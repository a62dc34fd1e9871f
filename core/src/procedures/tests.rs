//! Unit tests of the machines, fed with the recorded session of another implementation
//! (`core/tests/data/rsp-session/`, smdp.example.com) and with hand-made answers: every step's
//! happy path, API misuse in every state, and each step's unexpected input.

use alloc::borrow::ToOwned;
use alloc::string::ToString;
use alloc::vec::Vec;
use alloc::{format, vec};

use super::*;
use crate::der::{Decode, Encode, RawTlv, Signed};
use crate::es9::{
    self, AuthenticateClientOk, EmptyBody, Es9Response, Es11AuthenticateClientOk,
    GetBoundProfilePackageOk, InitiateAuthenticationOk, StatusCodeData, TransactionId,
};
use crate::ids::Iccid;
use crate::messages::*;
use crate::tlv::{Tag, TlvWriter, tlv_len};

macro_rules! session {
    ($f:literal) => {
        include_bytes!(concat!("../../tests/data/rsp-session/", $f)).as_slice()
    };
}

const ADDRESS: &str = "smdp.example.com";

// --------------------------------------------------------------------------- fixtures

fn tlv(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; tlv_len(Tag(tag), value.len())];
    TlvWriter::new(&mut out).write_tlv(Tag(tag), value).unwrap();
    out
}

fn device_info() -> DeviceInfo {
    DeviceInfo {
        tac: vec![0x35, 0x29, 0x06, 0x11],
        device_capabilities: DeviceCapabilities {
            eutran_epc_supported_release: Some(Version::new(15, 0, 0)),
            ..DeviceCapabilities::default()
        },
        imei: None,
    }
}

fn json<T: serde::Serialize>(body: T) -> Vec<u8> {
    es9::encode_json(&Es9Response::success(body)).unwrap()
}

fn failed_json(subject: &str, reason: &str) -> Vec<u8> {
    es9::encode_json(&Es9Response::<EmptyBody>::failed(StatusCodeData::new(
        subject, reason,
    )))
    .unwrap()
}

fn tid() -> TransactionId {
    TransactionId::new(session!("transaction-id.bin")).unwrap()
}

fn challenge_answer() -> Vec<u8> {
    GetEuiccChallengeResponse {
        euicc_challenge: session!("euicc-challenge.bin").to_vec(),
    }
    .to_der()
}

fn initiate_ok() -> InitiateAuthenticationOk {
    let ok = InitiateAuthenticationOkEs9::from_der(session!("initiate-response.der")).unwrap();
    InitiateAuthenticationOk {
        transaction_id: TransactionId::new(&ok.transaction_id).unwrap(),
        server_signed1: ok.server_signed1.raw().to_vec(),
        server_signature1: tlv(0x5F37, &ok.server_signature1),
        euicc_ci_pkid_to_be_used: tlv(0x04, &ok.euicc_ci_pkid_to_be_used),
        server_certificate: ok.server_certificate.as_bytes().to_vec(),
    }
}

fn authenticate_client_ok() -> AuthenticateClientOk {
    let AuthenticateClientResponseEs9::Ok(ok) =
        AuthenticateClientResponseEs9::from_der(session!("authenticate-response.der")).unwrap()
    else {
        panic!("recorded authenticateClient is not Ok");
    };
    AuthenticateClientOk {
        transaction_id: tid(),
        profile_metadata: session!("store-metadata.der").to_vec(),
        smdp_signed2: ok.smdp_signed2.raw().to_vec(),
        smdp_signature2: tlv(0x5F37, &ok.smdp_signature2),
        smdp_certificate: ok.smdp_certificate.as_bytes().to_vec(),
    }
}

/// The same answer with ccRequiredFlag set (the signature no longer matches; the machine does
/// not check signatures, the card does).
fn authenticate_client_ok_with_cc() -> AuthenticateClientOk {
    let mut ok = authenticate_client_ok();
    let mut signed = Signed::<SmdpSigned2>::from_raw(ok.smdp_signed2.clone())
        .unwrap()
        .value()
        .clone();
    signed.cc_required_flag = true;
    ok.smdp_signed2 = signed.to_der();
    ok
}

fn bpp_ok() -> GetBoundProfilePackageOk {
    GetBoundProfilePackageOk {
        transaction_id: tid(),
        bound_profile_package: session!("bound-profile-package.der").to_vec(),
    }
}

fn activation_download(cc: bool) -> Download {
    Download::new(
        DownloadSource::ActivationCode {
            smdp_address: format!("  {ADDRESS} "),
            matching_id: Some("MATCHING-ID".to_owned()),
            confirmation_code_required: cc,
        },
        device_info(),
    )
}

/// The points of a download, each reached by feeding the recorded session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    Challenge,
    Info1,
    Initiate,
    AuthenticateServer,
    AuthenticateClient,
    Confirm,
    Prepare,
    BoundProfilePackage,
    Load,
}

const POINTS: [Point; 9] = [
    Point::Challenge,
    Point::Info1,
    Point::Initiate,
    Point::AuthenticateServer,
    Point::AuthenticateClient,
    Point::Confirm,
    Point::Prepare,
    Point::BoundProfilePackage,
    Point::Load,
];

fn download_at(point: Point) -> Download {
    let mut d = activation_download(false);
    let inputs = [
        Input::Card(challenge_answer()),
        Input::Card(session!("euicc-info1.der").to_vec()),
        Input::Server {
            status: 200,
            body: json(initiate_ok()),
        },
        Input::Card(session!("auth-server-response.der").to_vec()),
        Input::Server {
            status: 200,
            body: json(authenticate_client_ok()),
        },
        Input::User(Answer::Accept),
        Input::Card(session!("prepare-download-response.der").to_vec()),
        Input::Server {
            status: 200,
            body: json(bpp_ok()),
        },
    ];
    let index = POINTS.iter().position(|p| *p == point).unwrap();
    for input in inputs.into_iter().take(index) {
        d.handle(input).unwrap();
    }
    d
}

fn card_request<P: Procedure>(p: &P) -> Vec<u8> {
    match p.poll() {
        Step::Card(bytes) => bytes,
        other => panic!("expected a card step, got {other:?}"),
    }
}

fn server_request<P: Procedure>(p: &P) -> ServerRequest {
    match p.poll() {
        Step::Server(request) => request,
        other => panic!("expected a server step, got {other:?}"),
    }
}

fn done<P: Procedure>(p: &P) -> Result<P::Output, ProcedureError> {
    match p.poll() {
        Step::Done(result) => result,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn tag_of(bytes: &[u8]) -> u32 {
    crate::tlv::Tlv::parse(bytes).unwrap().tag().0
}

/// Every input kind, one of each.
fn all_inputs() -> [Input; 7] {
    [
        Input::Card(vec![0x90]),
        Input::CardFailure(CardFailure::Unreachable("gone".into())),
        Input::Server {
            status: 200,
            body: Vec::new(),
        },
        Input::ServerFailure(ServerFailure::Connect("refused".into())),
        Input::User(Answer::Accept),
        Input::User(Answer::Decline(CancelSessionReason::Postponed)),
        Input::User(Answer::ConfirmationCode("1234".into())),
    ]
}

/// Feeds every input `awaiting` does not accept and checks each is refused without effect.
fn refuses_all_but_awaited<P: Procedure + Clone + PartialEq + fmt::Debug>(p: &mut P) {
    let awaiting = p.awaiting();
    for input in all_inputs() {
        if awaiting.accepts(&input) {
            continue;
        }
        let before = p.clone();
        let kind = input.kind();
        let err = p.handle(input).unwrap_err();
        assert_eq!(err, ApiMisuse::new(kind, awaiting));
        assert!(!err.to_string().is_empty());
        assert_eq!(*p, before, "a refused input changed the machine");
        let as_error: ProcedureError = err.into();
        assert!(matches!(as_error.fault(), Fault::ApiMisuse(_)));
    }
}

// --------------------------------------------------------------------------- Download

#[test]
fn download_runs_the_recorded_session() {
    let mut d = activation_download(false);
    assert_eq!(tag_of(&card_request(&d)), 0xBF2E);
    assert_eq!(d.session_record(), None);
    d.handle_card(challenge_answer()).unwrap();
    assert_eq!(tag_of(&card_request(&d)), 0xBF20);
    d.handle_card(session!("euicc-info1.der").to_vec()).unwrap();

    let request = server_request(&d);
    assert_eq!(request.address, ADDRESS, "the address is trimmed");
    assert_eq!(
        request.url,
        "https://smdp.example.com/gsma/rsp2/es9plus/initiateAuthentication"
    );
    assert_eq!(request.headers(), &REQUEST_HEADERS);
    let body: es9::InitiateAuthenticationRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(body.euicc_challenge, session!("euicc-challenge.bin"));
    assert_eq!(body.euicc_info1, session!("euicc-info1.der"));
    assert_eq!(body.smdp_address, ADDRESS);
    d.handle_server(200, json(initiate_ok())).unwrap();

    let record = d.session_record().unwrap();
    assert_eq!(record.transaction_id, tid());
    assert_eq!(record.smdp_address, ADDRESS);
    assert_eq!(record.stage, SessionStage::Authenticating);
    let auth = AuthenticateServerRequest::from_der(&card_request(&d)).unwrap();
    let CtxParams1::CommonAuthentication(ctx) = &auth.ctx_params1;
    assert_eq!(ctx.matching_id.as_deref(), Some("MATCHING-ID"));
    assert_eq!(ctx.device_info, device_info());
    assert_eq!(auth.server_signed1.raw(), initiate_ok().server_signed1);
    d.handle_card(session!("auth-server-response.der").to_vec())
        .unwrap();

    let request = server_request(&d);
    assert_eq!(
        request.function,
        ServerFunction::Es9(Es9Function::AuthenticateClient)
    );
    assert_eq!(
        d.session_record().unwrap().stage,
        SessionStage::Authenticated
    );
    d.handle_server(200, json(authenticate_client_ok()))
        .unwrap();

    let Step::User(Question::ConfirmProfile {
        metadata,
        smdp_address,
        confirmation_code_required,
    }) = d.poll()
    else {
        panic!("expected the consent question");
    };
    assert_eq!(metadata.profile_name, "euicc-rsp test profile");
    assert_eq!(smdp_address, ADDRESS);
    assert!(!confirmation_code_required);
    d.handle_user(Answer::Accept).unwrap();

    let prepare = PrepareDownloadRequest::from_der(&card_request(&d)).unwrap();
    assert_eq!(prepare.hash_cc, None);
    d.handle_card(session!("prepare-download-response.der").to_vec())
        .unwrap();
    assert_eq!(d.session_record().unwrap().stage, SessionStage::Prepared);
    let request = server_request(&d);
    let body: es9::GetBoundProfilePackageRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(
        body.prepare_download_response,
        session!("prepare-download-response.der")
    );
    d.handle_server(200, json(bpp_ok())).unwrap();

    // The BPP goes to the card as the sequences of SGP.22 §2.5.5, byte for byte.
    let bpp = session!("bound-profile-package.der");
    let commands: Vec<_> = crate::bpp::BppCommands::new(bpp).unwrap().collect();
    for (i, command) in commands.iter().enumerate() {
        assert_eq!(d.session_record().unwrap().stage, SessionStage::Loading);
        assert_eq!(
            d.awaiting(),
            Awaiting::Card(Es10Command::LoadBoundProfilePackage(command.kind))
        );
        assert_eq!(card_request(&d), command.bytes);
        let answer = if i + 1 == commands.len() {
            session!("pending-notification.der").to_vec()
        } else {
            Vec::new()
        };
        d.handle_card(answer).unwrap();
    }
    let installation = done(&d).unwrap();
    assert!(installation.is_installed());
    assert_eq!(installation.iccid.to_string(), "89000123456789012341");
    assert_eq!(installation.transaction_id, tid());
    assert_eq!(installation.smdp_address, ADDRESS);
    assert_eq!(
        installation.profile_installation_result,
        session!("pending-notification.der")
    );
    assert_eq!(d.session_record(), None);
    // Polling again gives the same; feeding anything is misuse.
    assert_eq!(done(&d).unwrap(), installation);
    refuses_all_but_awaited(&mut d);
    assert_eq!(d.awaiting(), Awaiting::Nothing);
}

#[test]
fn every_download_state_refuses_inputs_it_does_not_wait_for() {
    for point in POINTS {
        let mut d = download_at(point);
        assert_ne!(d.awaiting(), Awaiting::Nothing, "{point:?}");
        refuses_all_but_awaited(&mut d);
    }
}

/// What a state must do with a garbled answer of the right kind.
#[test]
fn every_download_step_reports_a_garbled_answer() {
    for point in POINTS {
        let mut d = download_at(point);
        let session_open = d.session_record().is_some();
        let (input, check): (Input, fn(&Fault) -> bool) = match d.awaiting() {
            Awaiting::Card(_) => (Input::Card(vec![0xBF, 0x99, 0x01]), |f| {
                matches!(f, Fault::PeerMisbehaved(Misbehaviour::CardAnswer { .. }))
            }),
            Awaiting::Server(_) => (
                Input::Server {
                    status: 200,
                    body: b"<html>".to_vec(),
                },
                |f| matches!(f, Fault::PeerMisbehaved(Misbehaviour::ServerAnswer { .. })),
            ),
            Awaiting::User(_) => (
                Input::User(Answer::Decline(CancelSessionReason::EndUserRejection)),
                |f| {
                    matches!(
                        f,
                        Fault::UserDeclined {
                            reason: CancelSessionReason::EndUserRejection
                        }
                    )
                },
            ),
            Awaiting::Nothing => unreachable!(),
        };
        d.handle(input).unwrap();
        if session_open {
            // The session is ended on the card first, with CancelSession.
            let request = CancelSessionRequest::from_der(&card_request(&d)).unwrap();
            assert_eq!(
                request.transaction_id,
                session!("transaction-id.bin"),
                "{point:?}"
            );
            let reason = match point {
                Point::Confirm => CancelSessionReason::EndUserRejection,
                Point::Load => CancelSessionReason::LoadBppExecutionError,
                _ => CancelSessionReason::UndefinedReason,
            };
            assert_eq!(request.reason, reason, "{point:?}");
            // The card has no such session: nothing to send the server.
            d.handle_card(
                CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der(),
            )
            .unwrap();
        }
        let err = done(&d).unwrap_err();
        assert!(check(err.fault()), "{point:?}: {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(d.session_record(), None, "{point:?}");
        if session_open {
            let end = err.session_end().unwrap();
            assert_eq!(end.card, CardCancellation::NoSession);
            assert_eq!(end.server, ServerCancellation::NothingToSend);
            assert!(end.is_complete());
            assert!(!err.session_left_open());
        } else {
            assert_eq!(err.session_end(), None);
        }
    }
}

#[test]
fn card_status_words_and_unreachable_cards_by_step() {
    for point in POINTS {
        let d = download_at(point);
        let Awaiting::Card(command) = d.awaiting() else {
            continue;
        };
        let session_open = d.session_record().is_some();

        // An error status word: the card is there, so an open session is cancelled.
        let mut refused = d.clone();
        refused
            .handle_card_failure(CardFailure::Apdu(ApduError::Status {
                sw: crate::apdu::StatusWord(0x6A80),
                ins: 0xE2,
                block: 0,
            }))
            .unwrap();
        if session_open {
            assert_eq!(tag_of(&card_request(&refused)), 0xBF41, "{point:?}");
            refused.handle_card(Vec::new()).unwrap(); // nonsense answer to CancelSession
        }
        let err = done(&refused).unwrap_err();
        assert_eq!(
            err.fault(),
            &Fault::CardRefused(CardRefusal::Status {
                command,
                sw: crate::apdu::StatusWord(0x6A80)
            })
        );
        assert!(!err.is_transient());

        // Unreachable: nothing more goes to the card, and an open session stays recorded.
        let mut lost = d.clone();
        lost.handle_card_failure(CardFailure::Unreachable("reader removed".into()))
            .unwrap();
        let err = done(&lost).unwrap_err();
        assert!(err.is_transient());
        assert!(matches!(
            err.fault(),
            Fault::TransportFailed(TransportFailure::Card { .. })
        ));
        if session_open {
            assert!(err.session_left_open(), "{point:?}");
            let end = err.session_end().unwrap();
            assert_eq!(end.card, CardCancellation::NotAttempted);
            assert_eq!(end.server, ServerCancellation::NotAttempted);
            assert_eq!(lost.session_record(), d.session_record());
        } else {
            assert_eq!(lost.session_record(), None);
        }
    }
}

#[test]
fn server_failures_by_step() {
    for point in POINTS {
        let d = download_at(point);
        let Awaiting::Server(function) = d.awaiting() else {
            continue;
        };
        let session_open = d.session_record().is_some();
        for (input, transient) in [
            (
                Input::ServerFailure(ServerFailure::Timeout(Duration::from_secs(30))),
                true,
            ),
            (
                Input::Server {
                    status: 503,
                    body: b"busy".to_vec(),
                },
                true,
            ),
            (
                Input::Server {
                    status: 200,
                    body: failed_json("8.2.6", "3.8"),
                },
                false,
            ),
        ] {
            let timeout = matches!(input, Input::ServerFailure(_));
            let mut m = d.clone();
            m.handle(input).unwrap();
            if session_open {
                let request = CancelSessionRequest::from_der(&card_request(&m)).unwrap();
                let expected = if timeout {
                    CancelSessionReason::Timeout
                } else {
                    CancelSessionReason::UndefinedReason
                };
                assert_eq!(request.reason, expected, "{point:?}");
                m.handle_card(
                    CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der(),
                )
                .unwrap();
            }
            let err = done(&m).unwrap_err();
            assert_eq!(err.is_transient(), transient, "{point:?}: {err}");
            if !transient {
                let Fault::ServerRefused(refusal) = err.fault() else {
                    panic!("{err:?}");
                };
                assert_eq!(refusal.function, function);
                assert_eq!(refusal.subject_code, "8.2.6");
                assert!(refusal.meaning().is_some());
            }
        }
    }
}

#[test]
fn initiate_authentication_echo_checks() {
    type Tamper = fn(&mut ServerSigned1);
    type Check = fn(&Misbehaviour) -> bool;
    let cases: [(Tamper, Check); 3] = [
        (
            |s| s.euicc_challenge[0] ^= 1,
            |m| matches!(m, Misbehaviour::ChallengeMismatch { .. }),
        ),
        (
            |s| s.server_address = "evil.example.com".into(),
            |m| matches!(m, Misbehaviour::AddressMismatch { found, .. } if found == "evil.example.com"),
        ),
        (
            |s| s.transaction_id[0] ^= 1,
            |m| {
                matches!(
                    m,
                    Misbehaviour::TransactionIdMismatch {
                        field: "serverSigned1.transactionId",
                        ..
                    }
                )
            },
        ),
    ];
    for (tamper, check) in cases {
        let mut d = download_at(Point::Initiate);
        let mut ok = initiate_ok();
        let mut signed = Signed::<ServerSigned1>::from_raw(ok.server_signed1.clone())
            .unwrap()
            .value()
            .clone();
        tamper(&mut signed);
        ok.server_signed1 = signed.to_der();
        d.handle_server(200, json(ok)).unwrap();
        // The session the server opened is ended: CancelSession on the card first.
        assert_eq!(tag_of(&card_request(&d)), 0xBF41);
        d.handle_card(
            CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der(),
        )
        .unwrap();
        let err = done(&d).unwrap_err();
        let Fault::PeerMisbehaved(m) = err.fault() else {
            panic!("{err:?}");
        };
        assert!(check(m), "{m:?}");
    }
    // A server address in another case is the same host.
    let mut d = download_at(Point::Initiate);
    let mut ok = initiate_ok();
    let mut signed = ServerSigned1::from_der(&ok.server_signed1).unwrap();
    signed.server_address = "SMDP.Example.COM".into();
    ok.server_signed1 = signed.to_der();
    d.handle_server(200, json(ok)).unwrap();
    assert_eq!(
        d.awaiting(),
        Awaiting::Card(Es10Command::AuthenticateServer)
    );
    // Broken DER in a field names the field.
    let mut d = download_at(Point::Initiate);
    let mut ok = initiate_ok();
    ok.server_signature1 = tlv(0x04, &[1, 2, 3]);
    d.handle_server(200, json(ok)).unwrap();
    d.handle_card(Vec::new()).unwrap();
    let err = done(&d).unwrap_err();
    assert!(matches!(
        err.fault(),
        Fault::PeerMisbehaved(Misbehaviour::ServerData {
            field: "serverSignature1",
            ..
        })
    ));
}

#[test]
fn authenticate_client_checks() {
    // transactionId of the JSON answer.
    let mut d = download_at(Point::AuthenticateClient);
    let mut ok = authenticate_client_ok();
    ok.transaction_id = TransactionId::new(&[9; 16]).unwrap();
    d.handle_server(200, json(ok)).unwrap();
    assert_eq!(
        CancelSessionRequest::from_der(&card_request(&d))
            .unwrap()
            .reason,
        CancelSessionReason::UndefinedReason
    );
    // Unreadable metadata: metadataMismatch.
    let mut d = download_at(Point::AuthenticateClient);
    let mut ok = authenticate_client_ok();
    ok.profile_metadata = vec![0xBF, 0x25, 0x00];
    d.handle_server(200, json(ok)).unwrap();
    assert_eq!(
        CancelSessionRequest::from_der(&card_request(&d))
            .unwrap()
            .reason,
        CancelSessionReason::MetadataMismatch
    );
    // smdpSigned2 for another session.
    let mut d = download_at(Point::AuthenticateClient);
    let mut ok = authenticate_client_ok();
    let mut signed = SmdpSigned2::from_der(&ok.smdp_signed2).unwrap();
    signed.transaction_id = vec![1];
    ok.smdp_signed2 = signed.to_der();
    d.handle_server(200, json(ok)).unwrap();
    d.handle_card(CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der())
        .unwrap();
    assert!(matches!(
        done(&d).unwrap_err().fault(),
        Fault::PeerMisbehaved(Misbehaviour::TransactionIdMismatch {
            field: "smdpSigned2.transactionId",
            ..
        })
    ));
}

#[test]
fn confirmation_code_is_hashed_with_the_transaction_id() {
    let mut d = download_at(Point::AuthenticateClient);
    d.handle_server(200, json(authenticate_client_ok_with_cc()))
        .unwrap();
    assert!(matches!(
        d.poll(),
        Step::User(Question::ConfirmProfile {
            confirmation_code_required: true,
            ..
        })
    ));
    // The consent question does not take a code, the code question does not take consent.
    assert!(d.handle_user(Answer::ConfirmationCode("1".into())).is_err());
    d.handle_user(Answer::Accept).unwrap();
    assert_eq!(
        d.poll(),
        Step::User(Question::ConfirmationCode {
            smdp_address: ADDRESS.into()
        })
    );
    assert!(d.handle_user(Answer::Accept).is_err());
    d.handle_user(Answer::ConfirmationCode("7412".into()))
        .unwrap();
    let prepare = PrepareDownloadRequest::from_der(&card_request(&d)).unwrap();
    assert_eq!(
        prepare.hash_cc.as_deref(),
        Some(&crate::activation::hash_cc(b"7412", session!("transaction-id.bin"))[..])
    );
    // The code never shows in debug output.
    assert_eq!(
        format!("{:?}", Answer::ConfirmationCode("7412".into())),
        "ConfirmationCode(..)"
    );
}

#[test]
fn activation_code_flag_asks_for_a_code_but_sends_a_hash_only_when_the_server_wants_one() {
    let mut d = activation_download(true);
    for input in [
        Input::Card(challenge_answer()),
        Input::Card(session!("euicc-info1.der").to_vec()),
        Input::Server {
            status: 200,
            body: json(initiate_ok()),
        },
        Input::Card(session!("auth-server-response.der").to_vec()),
        Input::Server {
            status: 200,
            body: json(authenticate_client_ok()),
        },
        Input::User(Answer::Accept),
    ] {
        d.handle(input).unwrap();
    }
    assert_eq!(d.awaiting(), Awaiting::User(QuestionKind::ConfirmationCode));
    d.handle_user(Answer::ConfirmationCode("1234".into()))
        .unwrap();
    let prepare = PrepareDownloadRequest::from_der(&card_request(&d)).unwrap();
    assert_eq!(prepare.hash_cc, None);
}

#[test]
fn declining_the_code_cancels_with_the_users_reason() {
    let mut d = download_at(Point::AuthenticateClient);
    d.handle_server(200, json(authenticate_client_ok_with_cc()))
        .unwrap();
    d.handle_user(Answer::Accept).unwrap();
    d.handle_user(Answer::Decline(CancelSessionReason::Postponed))
        .unwrap();
    assert_eq!(
        CancelSessionRequest::from_der(&card_request(&d))
            .unwrap()
            .reason,
        CancelSessionReason::Postponed
    );
}

/// A signed CancelSessionResponse as a card would answer (the signature is not checked here).
fn cancel_ok(reason: CancelSessionReason) -> Vec<u8> {
    CancelSessionResponse::Ok(CancelSessionResponseOk {
        euicc_cancel_session_signed: Signed::new(EuiccCancelSessionSigned {
            transaction_id: session!("transaction-id.bin").to_vec(),
            smdp_oid: crate::der::ObjectIdentifier::parse("2.999.10").unwrap(),
            reason,
        }),
        euicc_cancel_session_signature: vec![0x11; 64],
    })
    .to_der()
}

#[test]
fn a_decline_is_cancelled_on_both_sides() {
    let mut d = download_at(Point::Confirm);
    d.handle_user(Answer::Decline(CancelSessionReason::EndUserRejection))
        .unwrap();
    let signed = cancel_ok(CancelSessionReason::EndUserRejection);
    d.handle_card(signed.clone()).unwrap();
    // The card signed: the record now carries its answer, for the server.
    assert_eq!(
        d.session_record().unwrap().stage,
        SessionStage::CardCancelled {
            cancel_session_response: signed.clone()
        }
    );
    let request = server_request(&d);
    assert_eq!(
        request.function,
        ServerFunction::Es9(Es9Function::CancelSession)
    );
    let body: es9::CancelSessionRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(body.transaction_id, tid());
    assert_eq!(body.cancel_session_response, signed);
    refuses_all_but_awaited(&mut d);
    d.handle_server(200, json(EmptyBody {})).unwrap();
    let err = done(&d).unwrap_err();
    assert_eq!(
        err.fault(),
        &Fault::UserDeclined {
            reason: CancelSessionReason::EndUserRejection
        }
    );
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(end.reason, CancelSessionReason::EndUserRejection);
    assert!(end.is_complete());
    assert_eq!(d.session_record(), None);
    assert!(err.to_string().contains("endUserRejection"), "{err}");
}

#[test]
fn an_unreachable_server_during_cancel_keeps_the_signed_cancellation() {
    let mut d = download_at(Point::Confirm);
    d.handle_user(Answer::Decline(CancelSessionReason::Timeout))
        .unwrap();
    let signed = cancel_ok(CancelSessionReason::Timeout);
    d.handle_card(signed.clone()).unwrap();
    d.handle_server_failure(ServerFailure::Connect("no route".into()))
        .unwrap();
    let err = done(&d).unwrap_err();
    assert!(err.session_left_open());
    let record = d.session_record().unwrap();
    assert_eq!(
        record.stage,
        SessionStage::CardCancelled {
            cancel_session_response: signed.clone()
        }
    );
    // Later, Recovery goes straight to the server with the kept answer.
    let mut r = Recovery::new(record, CancelSessionReason::Timeout);
    let body: es9::CancelSessionRequest = es9::decode_request(&server_request(&r).body).unwrap();
    assert_eq!(body.cancel_session_response, signed);
    refuses_all_but_awaited(&mut r);
    r.handle_server(200, json(EmptyBody {})).unwrap();
    let end = done(&r).unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(r.session_record(), None);
}

#[test]
fn a_card_refusing_authenticate_server_is_reported_to_the_server() {
    let mut d = download_at(Point::AuthenticateServer);
    let refusal = AuthenticateServerResponse::Error(AuthenticateResponseError {
        transaction_id: session!("transaction-id.bin").to_vec(),
        authenticate_error_code: AuthenticateErrorCode::InvalidSignature,
    })
    .to_der();
    d.handle_card(refusal.clone()).unwrap();
    // The refusal goes to authenticateClient, whose request carries either alternative.
    let request = server_request(&d);
    let body: es9::AuthenticateClientRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(body.authenticate_server_response, refusal);
    d.handle_server(200, failed_json("8.1", "6.1")).unwrap();
    // Then CancelSession on the card, which has no session left.
    assert_eq!(tag_of(&card_request(&d)), 0xBF41);
    d.handle_card(CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der())
        .unwrap();
    let err = done(&d).unwrap_err();
    assert_eq!(
        err.fault(),
        &Fault::CardRefused(CardRefusal::AuthenticateServer(
            AuthenticateErrorCode::InvalidSignature
        ))
    );
    let CardRefusal::AuthenticateServer(_) = (match err.fault() {
        Fault::CardRefused(r) => *r,
        _ => unreachable!(),
    }) else {
        unreachable!()
    };
    let end = err.session_end().unwrap();
    assert_eq!(end.card, CardCancellation::NoSession);
    assert_eq!(end.server, ServerCancellation::InformedOfCardRefusal);
    assert!(end.is_complete());
}

fn prepare_download_refusal() -> Vec<u8> {
    PrepareDownloadResponse::Error(PrepareDownloadResponseError {
        transaction_id: session!("transaction-id.bin").to_vec(),
        download_error_code: DownloadErrorCode::InvalidSignature,
    })
    .to_der()
}

#[test]
fn a_card_refusing_prepare_download_is_reported_to_the_server() {
    let mut d = download_at(Point::Prepare);
    let refusal = prepare_download_refusal();
    d.handle_card(refusal.clone()).unwrap();
    // The refusal goes to getBoundProfilePackage, whose request carries either alternative.
    let request = server_request(&d);
    assert_eq!(
        request.function,
        ServerFunction::Es9(Es9Function::GetBoundProfilePackage)
    );
    let body: es9::GetBoundProfilePackageRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(body.transaction_id, tid());
    assert_eq!(body.prepare_download_response, refusal);
    assert_eq!(
        d.session_record().unwrap().stage,
        SessionStage::Authenticated
    );
    d.handle_server(200, failed_json("8.1", "6.1")).unwrap();
    // Then CancelSession on the card; the server, which ended its session, is not called again.
    assert_eq!(
        CancelSessionRequest::from_der(&card_request(&d))
            .unwrap()
            .reason,
        CancelSessionReason::UndefinedReason
    );
    d.handle_card(cancel_ok(CancelSessionReason::UndefinedReason))
        .unwrap();
    let err = done(&d).unwrap_err();
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
    assert!(!err.session_left_open());
    assert_eq!(d.session_record(), None);

    // The server could not be told: after the card, ES9+ cancelSession is still tried.
    let mut d = download_at(Point::Prepare);
    d.handle_card(prepare_download_refusal()).unwrap();
    d.handle_server_failure(ServerFailure::Connect("refused".into()))
        .unwrap();
    d.handle_card(cancel_ok(CancelSessionReason::UndefinedReason))
        .unwrap();
    assert_eq!(
        server_request(&d).function,
        ServerFunction::Es9(Es9Function::CancelSession)
    );
    d.handle_server(200, json(EmptyBody {})).unwrap();
    let end = done(&d).unwrap_err().session_end().unwrap().clone();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(d.session_record(), None);
}

#[test]
fn prepare_download_refusal_and_bad_packages() {
    let mut d = download_at(Point::Prepare);
    d.handle_card(prepare_download_refusal()).unwrap();
    d.handle_server(200, failed_json("8.1", "6.1")).unwrap();
    d.handle_card(cancel_ok(CancelSessionReason::UndefinedReason))
        .unwrap();
    let err = done(&d).unwrap_err();
    let Fault::CardRefused(refusal) = err.fault() else {
        panic!("{err:?}");
    };
    assert_eq!(refusal.command(), Es10Command::PrepareDownload);
    assert_eq!(refusal.code(), Some(2));
    assert!(!err.session_left_open());
    assert_eq!(d.session_record(), None);

    // A package without the structure of SGP.22 §2.5.5.
    let mut d = download_at(Point::BoundProfilePackage);
    let mut ok = bpp_ok();
    ok.bound_profile_package = tlv(0xBF36, &tlv(0xBF23, &[]));
    d.handle_server(200, json(ok)).unwrap();
    assert_eq!(
        CancelSessionRequest::from_der(&card_request(&d))
            .unwrap()
            .reason,
        CancelSessionReason::LoadBppExecutionError
    );
    d.handle_card_failure(CardFailure::Unreachable("x".into()))
        .unwrap();
    let err = done(&d).unwrap_err();
    assert!(matches!(
        err.fault(),
        Fault::PeerMisbehaved(Misbehaviour::InvalidBoundProfilePackage(_))
    ));
    // The card could not be reached for CancelSession: the session stays recorded.
    assert!(err.session_left_open());
    assert_eq!(d.session_record().unwrap().stage, SessionStage::Prepared);

    // A package for another session.
    let mut d = download_at(Point::BoundProfilePackage);
    let mut ok = bpp_ok();
    ok.transaction_id = TransactionId::new(&[7]).unwrap();
    d.handle_server(200, json(ok)).unwrap();
    assert_eq!(d.awaiting(), Awaiting::Card(Es10Command::CancelSession));
}

#[test]
fn bpp_load_ends_early_on_a_result_and_needs_one() {
    // An early ProfileInstallationResult (the card failed a sequence) ends the load.
    let mut d = download_at(Point::Load);
    let pir = session!("pending-notification.der").to_vec();
    d.handle_card(pir.clone()).unwrap();
    assert!(done(&d).is_ok());

    // A failed installation is a result too, with the card's codes.
    let mut result = ProfileInstallationResult::from_der(&pir).unwrap();
    let mut data = result.profile_installation_result_data.value().clone();
    data.final_result = FinalResult::Error(ErrorResult {
        bpp_command_id: BppCommandId::LoadProfileElements,
        error_reason: ErrorReason::Scp03tSecurityError,
        sima_response: None,
    });
    result.profile_installation_result_data = Signed::new(data);
    let mut d = download_at(Point::Load);
    d.handle_card(result.to_der()).unwrap();
    let installation = done(&d).unwrap();
    assert!(!installation.is_installed());
    assert_eq!(
        installation.outcome,
        InstallOutcome::Failed {
            bpp_command_id: BppCommandId::LoadProfileElements,
            error_reason: ErrorReason::Scp03tSecurityError
        }
    );

    // Every sequence answered with nothing: no result, a protocol violation.
    let mut d = download_at(Point::Load);
    let count = crate::bpp::BppCommands::new(session!("bound-profile-package.der"))
        .unwrap()
        .command_count();
    for _ in 0..count {
        d.handle_card(Vec::new()).unwrap();
    }
    assert_eq!(
        CancelSessionRequest::from_der(&card_request(&d))
            .unwrap()
            .reason,
        CancelSessionReason::LoadBppExecutionError
    );
    d.handle_card(cancel_ok(CancelSessionReason::LoadBppExecutionError))
        .unwrap();
    d.handle_server(200, json(EmptyBody {})).unwrap();
    assert_eq!(
        done(&d).unwrap_err().fault(),
        &Fault::PeerMisbehaved(Misbehaviour::MissingInstallationResult)
    );
}

#[test]
fn bad_addresses_and_missing_default_addresses() {
    let d = Download::new(
        DownloadSource::ActivationCode {
            smdp_address: "smdp.example.com/evil".into(),
            matching_id: None,
            confirmation_code_required: false,
        },
        device_info(),
    );
    assert!(matches!(
        done(&d).unwrap_err().fault(),
        Fault::BadInput(BadInput::InvalidAddress { .. })
    ));

    let mut d = Download::from_default_smdp(device_info());
    assert_eq!(tag_of(&card_request(&d)), 0xBF3C);
    refuses_all_but_awaited(&mut d);
    d.handle_card(
        EuiccConfiguredAddressesResponse {
            default_dp_address: None,
            root_ds_address: "root.example.com".into(),
        }
        .to_der(),
    )
    .unwrap();
    assert_eq!(
        done(&d).unwrap_err().fault(),
        &Fault::BadInput(BadInput::NoDefaultSmdpAddress)
    );

    let mut d = Download::from_default_smdp(device_info());
    d.handle_card(
        EuiccConfiguredAddressesResponse {
            default_dp_address: Some(" dp.example.com ".into()),
            root_ds_address: "root.example.com".into(),
        }
        .to_der(),
    )
    .unwrap();
    d.handle_card(challenge_answer()).unwrap();
    d.handle_card(session!("euicc-info1.der").to_vec()).unwrap();
    let request = server_request(&d);
    assert_eq!(request.address, "dp.example.com");
    let body: es9::InitiateAuthenticationRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(body.smdp_address, "dp.example.com");

    // Events use the event ID as the matching ID.
    let mut d = Download::from_event(
        &es9::EventEntry {
            event_id: "EVENT-1".into(),
            rsp_server_address: ADDRESS.into(),
        },
        device_info(),
    );
    d.handle_card(challenge_answer()).unwrap();
    d.handle_card(session!("euicc-info1.der").to_vec()).unwrap();
    d.handle_server(200, json(initiate_ok())).unwrap();
    let auth = AuthenticateServerRequest::from_der(&card_request(&d)).unwrap();
    let CtxParams1::CommonAuthentication(ctx) = auth.ctx_params1;
    assert_eq!(ctx.matching_id.as_deref(), Some("EVENT-1"));

    // An activation code without matching ID sends none.
    let code = crate::activation::ActivationCode::parse("LPA:1$smdp.example.com$").unwrap();
    let mut d = Download::from_activation_code(&code, device_info());
    d.handle_card(challenge_answer()).unwrap();
    d.handle_card(session!("euicc-info1.der").to_vec()).unwrap();
    d.handle_server(200, json(initiate_ok())).unwrap();
    let auth = AuthenticateServerRequest::from_der(&card_request(&d)).unwrap();
    let CtxParams1::CommonAuthentication(ctx) = auth.ctx_params1;
    assert_eq!(ctx.matching_id, None);
}

#[test]
fn session_records_serialize() {
    let record = SessionRecord {
        transaction_id: tid(),
        smdp_address: ADDRESS.into(),
        stage: SessionStage::CardCancelled {
            cancel_session_response: vec![0xBF, 0x41, 0x00],
        },
    };
    let text = serde_json::to_string(&record).unwrap();
    assert_eq!(
        serde_json::from_str::<SessionRecord>(&text).unwrap(),
        record
    );
}

// --------------------------------------------------------------------------- Recovery

#[test]
fn recovery_cancels_on_the_card_then_the_server() {
    let record = SessionRecord {
        transaction_id: tid(),
        smdp_address: ADDRESS.into(),
        stage: SessionStage::Prepared,
    };
    let mut r = Recovery::new(record.clone(), CancelSessionReason::UndefinedReason);
    assert_eq!(r.session_record(), Some(record.clone()));
    let request = CancelSessionRequest::from_der(&card_request(&r)).unwrap();
    assert_eq!(request.reason, CancelSessionReason::UndefinedReason);
    refuses_all_but_awaited(&mut r);
    r.handle_card(cancel_ok(CancelSessionReason::UndefinedReason))
        .unwrap();
    r.handle_server(200, json(EmptyBody {})).unwrap();
    assert!(done(&r).unwrap().is_complete());

    // The card has no such session: nothing to send the server, and that is reported.
    let mut r = Recovery::new(record.clone(), CancelSessionReason::Timeout);
    r.handle_card(CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId).to_der())
        .unwrap();
    let end = done(&r).unwrap();
    assert_eq!(end.card, CardCancellation::NoSession);
    assert_eq!(end.server, ServerCancellation::NothingToSend);
    assert_eq!(r.session_record(), None);

    // The card still cannot be reached: an error, and the record is kept as it was.
    let mut r = Recovery::new(record.clone(), CancelSessionReason::Timeout);
    r.handle_card_failure(CardFailure::Unreachable("no card".into()))
        .unwrap();
    let err = done(&r).unwrap_err();
    assert!(err.is_transient());
    assert!(err.session_left_open());
    assert_eq!(r.session_record(), Some(record.clone()));

    // The card refuses with another code: reported, nothing left to do.
    let mut r = Recovery::new(record, CancelSessionReason::Timeout);
    r.handle_card(CancelSessionResponse::Error(CancelSessionError::UndefinedError).to_der())
        .unwrap();
    let end = done(&r).unwrap();
    assert_eq!(
        end.card,
        CardCancellation::Failed(Fault::CardRefused(CardRefusal::CancelSession(
            CancelSessionError::UndefinedError
        )))
    );
    assert_eq!(r.session_record(), None);
}

// --------------------------------------------------------------------------- Discovery

fn es11_events() -> Vec<es9::EventEntry> {
    vec![es9::EventEntry {
        event_id: "EVENT-1".into(),
        rsp_server_address: ADDRESS.into(),
    }]
}

#[test]
fn discovery_runs_and_refuses_misuse_in_every_state() {
    let mut d = Discovery::from_root_smds(device_info());
    refuses_all_but_awaited(&mut d);
    assert_eq!(tag_of(&card_request(&d)), 0xBF3C);
    d.handle_card(
        EuiccConfiguredAddressesResponse {
            default_dp_address: None,
            root_ds_address: ADDRESS.into(),
        }
        .to_der(),
    )
    .unwrap();
    refuses_all_but_awaited(&mut d);
    d.handle_card(challenge_answer()).unwrap();
    refuses_all_but_awaited(&mut d);
    d.handle_card(session!("euicc-info1.der").to_vec()).unwrap();
    refuses_all_but_awaited(&mut d);
    let request = server_request(&d);
    assert_eq!(
        request.url,
        "https://smdp.example.com/gsma/rsp2/es9plus/initiateAuthentication"
    );
    assert_eq!(
        request.function,
        ServerFunction::Es11(Es11Function::InitiateAuthentication)
    );
    d.handle_server(200, json(initiate_ok())).unwrap();
    refuses_all_but_awaited(&mut d);
    let auth = AuthenticateServerRequest::from_der(&card_request(&d)).unwrap();
    let CtxParams1::CommonAuthentication(ctx) = &auth.ctx_params1;
    assert_eq!(ctx.matching_id, None, "event retrieval sends no matchingId");
    d.handle_card(session!("auth-server-response.der").to_vec())
        .unwrap();
    refuses_all_but_awaited(&mut d);
    assert_eq!(
        server_request(&d).function,
        ServerFunction::Es11(Es11Function::AuthenticateClient)
    );
    d.handle_server(
        200,
        json(Es11AuthenticateClientOk {
            transaction_id: Some(tid()),
            event_entries: es11_events(),
        }),
    )
    .unwrap();
    assert_eq!(done(&d).unwrap(), es11_events());
    refuses_all_but_awaited(&mut d);
}

#[test]
fn discovery_failures() {
    let start = || {
        let mut d = Discovery::new(ADDRESS, device_info());
        d.handle_card(challenge_answer()).unwrap();
        d.handle_card(session!("euicc-info1.der").to_vec()).unwrap();
        d
    };
    // No root SM-DS configured.
    let mut d = Discovery::from_root_smds(device_info());
    d.handle_card(
        EuiccConfiguredAddressesResponse {
            default_dp_address: None,
            root_ds_address: " ".into(),
        }
        .to_der(),
    )
    .unwrap();
    assert_eq!(
        done(&d).unwrap_err().fault(),
        &Fault::BadInput(BadInput::NoRootSmdsAddress)
    );
    // The SM-DS refuses.
    let mut d = start();
    d.handle_server(200, failed_json("8.9.1", "3.8")).unwrap();
    assert!(matches!(
        done(&d).unwrap_err().fault(),
        Fault::ServerRefused(_)
    ));
    // The card refuses the SM-DS.
    let mut d = start();
    d.handle_server(200, json(initiate_ok())).unwrap();
    d.handle_card(
        AuthenticateServerResponse::Error(AuthenticateResponseError {
            transaction_id: session!("transaction-id.bin").to_vec(),
            authenticate_error_code: AuthenticateErrorCode::CiPkUnknown,
        })
        .to_der(),
    )
    .unwrap();
    assert_eq!(
        done(&d).unwrap_err().fault(),
        &Fault::CardRefused(CardRefusal::AuthenticateServer(
            AuthenticateErrorCode::CiPkUnknown
        ))
    );
    // Events for another session.
    let mut d = start();
    d.handle_server(200, json(initiate_ok())).unwrap();
    d.handle_card(session!("auth-server-response.der").to_vec())
        .unwrap();
    d.handle_server(
        200,
        json(Es11AuthenticateClientOk {
            transaction_id: Some(TransactionId::new(&[1]).unwrap()),
            event_entries: es11_events(),
        }),
    )
    .unwrap();
    assert!(matches!(
        done(&d).unwrap_err().fault(),
        Fault::PeerMisbehaved(Misbehaviour::TransactionIdMismatch { .. })
    ));
    // Unreachable SM-DS.
    let mut d = start();
    d.handle_server_failure(ServerFailure::Tls("unknown CA".into()))
        .unwrap();
    let err = done(&d).unwrap_err();
    assert!(
        !err.is_transient(),
        "a refused certificate will not fix itself"
    );
    // Garbled card answers in every card state.
    for feed in 0..3 {
        let mut d = Discovery::new(ADDRESS, device_info());
        let good = [challenge_answer(), session!("euicc-info1.der").to_vec()];
        for answer in good.iter().take(feed.min(2)) {
            d.handle_card(answer.clone()).unwrap();
        }
        if feed == 2 {
            d.handle_server(200, json(initiate_ok())).unwrap();
        }
        d.handle_card(vec![0x30, 0x00]).unwrap();
        assert!(matches!(
            done(&d).unwrap_err().fault(),
            Fault::PeerMisbehaved(Misbehaviour::CardAnswer { .. })
        ));
    }
}

// --------------------------------------------------------------------------- notifications

fn metadata(seq: u32, operation: NotificationEvent, address: &str) -> NotificationMetadata {
    NotificationMetadata {
        seq_number: seq,
        profile_management_operation: operation,
        notification_address: address.into(),
        iccid: Some(Iccid::from_digits("89000123456789012341").unwrap()),
    }
}

fn other_notification(md: &NotificationMetadata) -> PendingNotification {
    let cert = RawTlv::from_der(vec![0x30, 0x00]).unwrap();
    PendingNotification::OtherSignedNotification(Signed::new(OtherSignedNotification {
        tbs_other_notification: Signed::new(md.clone()),
        euicc_notification_signature: vec![0x22; 64],
        euicc_certificate: cert.clone(),
        eum_certificate: cert,
    }))
}

#[test]
fn notifications_are_delivered_one_by_one_and_failures_kept() {
    let list = vec![
        metadata(1, NotificationEvent::Enable, "  dp1.example.com "),
        metadata(2, NotificationEvent::Disable, "dp2.example.com"),
        metadata(3, NotificationEvent::Delete, "dp3.example.com"),
        metadata(4, NotificationEvent::Delete, "bad address!"),
    ];
    let mut n = NotificationDelivery::all();
    let request = ListNotificationRequest::from_der(&card_request(&n)).unwrap();
    assert_eq!(request.profile_management_operation, None);
    refuses_all_but_awaited(&mut n);
    n.handle_card(ListNotificationResponse::Ok(list.clone()).to_der())
        .unwrap();

    // #1: retrieved, sent to its trimmed address, accepted with 204, removed.
    let retrieve = RetrieveNotificationsListRequest::from_der(&card_request(&n)).unwrap();
    assert_eq!(
        retrieve.search_criteria,
        Some(NotificationSearchCriteria::SeqNumber(1))
    );
    refuses_all_but_awaited(&mut n);
    let pending = other_notification(&list[0]);
    n.handle_card(RetrieveNotificationsListResponse::Ok(vec![pending.clone()]).to_der())
        .unwrap();
    let request = server_request(&n);
    assert_eq!(request.address, "dp1.example.com");
    assert_eq!(
        request.url,
        "https://dp1.example.com/gsma/rsp2/es9plus/handleNotification"
    );
    let body: es9::HandleNotificationRequest = es9::decode_request(&request.body).unwrap();
    assert_eq!(body.pending_notification, pending.to_der());
    refuses_all_but_awaited(&mut n);
    n.handle_server(204, Vec::new()).unwrap();
    assert_eq!(
        NotificationSentRequest::from_der(&card_request(&n)).unwrap(),
        NotificationSentRequest { seq_number: 1 }
    );
    refuses_all_but_awaited(&mut n);
    n.handle_card(
        NotificationSentResponse {
            delete_notification_status: DeleteNotificationStatus::Ok,
        }
        .to_der(),
    )
    .unwrap();

    // #2: the server cannot be reached: kept, worth retrying; the next one is tried.
    n.handle_card(
        RetrieveNotificationsListResponse::Ok(vec![other_notification(&list[1])]).to_der(),
    )
    .unwrap();
    n.handle_server_failure(ServerFailure::Timeout(Duration::from_secs(5)))
        .unwrap();

    // #3: the server refuses it: kept, not worth retrying soon.
    n.handle_card(
        RetrieveNotificationsListResponse::Ok(vec![other_notification(&list[2])]).to_der(),
    )
    .unwrap();
    n.handle_server(200, failed_json("8.10.1", "3.9")).unwrap();

    // #4: an address that is no host name: not sent at all.
    n.handle_card(
        RetrieveNotificationsListResponse::Ok(vec![other_notification(&list[3])]).to_der(),
    )
    .unwrap();

    let report = done(&n).unwrap();
    let outcomes: Vec<_> = report
        .notifications
        .iter()
        .map(|r| {
            (
                r.seq_number,
                r.outcome.is_delivered(),
                r.outcome.is_worth_retrying(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, true, false),
            (2, false, true),
            (3, false, false),
            (4, false, false)
        ]
    );
    assert_eq!(report.notifications[0].address, "dp1.example.com");
    assert_eq!(report.delivered().count(), 1);
    assert_eq!(report.failed().count(), 3);
    assert!(!report.all_delivered());
    assert!(matches!(
        report.notifications[3].outcome,
        DeliveryOutcome::NotDelivered(Fault::BadInput(BadInput::InvalidAddress { .. }))
    ));
    refuses_all_but_awaited(&mut n);
}

#[test]
fn notification_filters_and_card_trouble() {
    let list = vec![
        metadata(5, NotificationEvent::Install, "dp.example.com"),
        metadata(6, NotificationEvent::Delete, "dp.example.com"),
    ];
    // One operation: the card filters.
    let n = NotificationDelivery::new(NotificationFilter::operations([NotificationEvent::Delete]));
    assert_eq!(
        ListNotificationRequest::from_der(&card_request(&n))
            .unwrap()
            .profile_management_operation,
        Some(NotificationEvent::Delete)
    );
    // By sequence number: only #6 is retrieved.
    let mut n = NotificationDelivery::new(NotificationFilter::seq_numbers([6]));
    n.handle_card(ListNotificationResponse::Ok(list.clone()).to_der())
        .unwrap();
    assert_eq!(
        RetrieveNotificationsListRequest::from_der(&card_request(&n))
            .unwrap()
            .search_criteria,
        Some(NotificationSearchCriteria::SeqNumber(6))
    );
    // The card has no such notification: recorded, and the procedure ends.
    n.handle_card(
        RetrieveNotificationsListResponse::Error(RetrieveNotificationsListError::NoResultAvailable)
            .to_der(),
    )
    .unwrap();
    let report = done(&n).unwrap();
    assert_eq!(report.notifications.len(), 1);
    assert!(matches!(
        report.notifications[0].outcome,
        DeliveryOutcome::NotDelivered(Fault::CardRefused(CardRefusal::RetrieveNotificationsList(
            RetrieveNotificationsListError::NoResultAvailable
        )))
    ));

    // Delivered but not removed: reported as delivered, with the card's code.
    let mut n = NotificationDelivery::new(NotificationFilter::seq_numbers([5]));
    n.handle_card(ListNotificationResponse::Ok(list.clone()).to_der())
        .unwrap();
    n.handle_card(
        RetrieveNotificationsListResponse::Ok(vec![other_notification(&list[0])]).to_der(),
    )
    .unwrap();
    n.handle_server(204, Vec::new()).unwrap();
    n.handle_card(
        NotificationSentResponse {
            delete_notification_status: DeleteNotificationStatus::UndefinedError,
        }
        .to_der(),
    )
    .unwrap();
    let report = done(&n).unwrap();
    assert!(matches!(
        report.notifications[0].outcome,
        DeliveryOutcome::DeliveredNotRemoved(_)
    ));
    assert!(report.all_delivered());

    // The card refuses to list, or cannot be reached to list: the procedure fails.
    let mut n = NotificationDelivery::all();
    n.handle_card(ListNotificationResponse::Error(ListNotificationError::UndefinedError).to_der())
        .unwrap();
    assert!(matches!(
        done(&n).unwrap_err().fault(),
        Fault::CardRefused(CardRefusal::ListNotification(_))
    ));
    let mut n = NotificationDelivery::all();
    n.handle_card_failure(CardFailure::Unreachable("modem reset".into()))
        .unwrap();
    assert!(done(&n).unwrap_err().is_transient());
    // An empty list is an empty report.
    let mut n = NotificationDelivery::all();
    n.handle_card(ListNotificationResponse::Ok(Vec::new()).to_der())
        .unwrap();
    assert_eq!(done(&n).unwrap(), DeliveryReport::default());
    // Garbage from the card while listing.
    let mut n = NotificationDelivery::all();
    n.handle_card(vec![0x01]).unwrap();
    assert!(matches!(
        done(&n).unwrap_err().fault(),
        Fault::PeerMisbehaved(Misbehaviour::CardAnswer {
            command: Es10Command::ListNotification,
            ..
        })
    ));
}

// --------------------------------------------------------------------------- text

#[test]
fn every_error_displays() {
    let faults = [
        Fault::CardRefused(CardRefusal::Status {
            command: Es10Command::GetEuiccChallenge,
            sw: crate::apdu::StatusWord(0x6985),
        }),
        Fault::CardRefused(CardRefusal::CancelSession(
            CancelSessionError::InvalidTransactionId,
        )),
        Fault::PeerMisbehaved(Misbehaviour::MissingInstallationResult),
        Fault::PeerMisbehaved(Misbehaviour::ChallengeMismatch {
            function: ServerFunction::Es9(Es9Function::InitiateAuthentication),
        }),
        Fault::UserDeclined {
            reason: CancelSessionReason::Unknown(9),
        },
        Fault::TransportFailed(TransportFailure::Server {
            function: ServerFunction::Es11(Es11Function::AuthenticateClient),
            address: "ds.example.com".into(),
            failure: ServerFailure::Other("reset".into()),
        }),
        Fault::BadInput(BadInput::Encode { detail: "x".into() }),
    ];
    for fault in faults {
        let text = ProcedureError::from(fault).to_string();
        assert!(!text.is_empty());
    }
    assert_eq!(
        Es10Command::LoadBoundProfilePackage(BppCommandKind::ConfigureIsdp).tag(),
        0xBF36
    );
    assert_eq!(
        ServerFunction::Es11(Es11Function::AuthenticateClient).to_string(),
        "ES11.authenticateClient"
    );
    assert!(
        CardFailure::from(ApduError::EmptyRequest)
            .to_string()
            .starts_with("APDU")
    );
}

#[test]
fn a_card_lost_mid_delivery_keeps_the_report() {
    let list = vec![
        metadata(5, NotificationEvent::Install, "dp.example.com"),
        metadata(6, NotificationEvent::Enable, "dp.example.com"),
        metadata(7, NotificationEvent::Delete, "dp.example.com"),
    ];
    let lost = || CardFailure::Unreachable("modem reset".into());
    let removed = || {
        NotificationSentResponse {
            delete_notification_status: DeleteNotificationStatus::Ok,
        }
        .to_der()
    };
    let retrieved = |md: &NotificationMetadata| {
        RetrieveNotificationsListResponse::Ok(vec![other_notification(md)]).to_der()
    };

    // #5 delivered and removed; #6 accepted by the server, then the card is lost before it is
    // removed; #7 never tried. Nothing vanishes from the report.
    let mut n = NotificationDelivery::all();
    n.handle_card(ListNotificationResponse::Ok(list.clone()).to_der())
        .unwrap();
    n.handle_card(retrieved(&list[0])).unwrap();
    n.handle_server(204, Vec::new()).unwrap();
    n.handle_card(removed()).unwrap();
    n.handle_card(retrieved(&list[1])).unwrap();
    n.handle_server(204, Vec::new()).unwrap();
    n.handle_card_failure(lost()).unwrap();
    let report = done(&n).unwrap();
    let seqs: Vec<u32> = report.notifications.iter().map(|r| r.seq_number).collect();
    assert_eq!(seqs, [5, 6, 7]);
    assert_eq!(report.notifications[0].outcome, DeliveryOutcome::Delivered);
    let fault = Fault::TransportFailed(TransportFailure::Card {
        command: Es10Command::RemoveNotificationFromList,
        detail: "modem reset".into(),
    });
    assert_eq!(
        report.notifications[1].outcome,
        DeliveryOutcome::DeliveredNotRemoved(fault.clone())
    );
    assert_eq!(
        report.notifications[2].outcome,
        DeliveryOutcome::NotDelivered(fault.clone())
    );
    assert!(report.notifications[2].outcome.is_worth_retrying());
    assert_eq!(report.card_lost(), Some(&fault));
    assert!(report.card_lost().unwrap().is_transient());
    assert_eq!(report.delivered().count(), 2);
    assert!(!report.all_delivered());
    assert_eq!(n.awaiting(), Awaiting::Nothing);

    // Lost while retrieving the first one: every notification is reported, none delivered.
    let mut n = NotificationDelivery::new(NotificationFilter::seq_numbers([5, 7]));
    n.handle_card(ListNotificationResponse::Ok(list.clone()).to_der())
        .unwrap();
    n.handle_card_failure(lost()).unwrap();
    let report = done(&n).unwrap();
    let seqs: Vec<u32> = report.notifications.iter().map(|r| r.seq_number).collect();
    assert_eq!(seqs, [5, 7]);
    let fault = Fault::TransportFailed(TransportFailure::Card {
        command: Es10Command::RetrieveNotificationsList,
        detail: "modem reset".into(),
    });
    assert!(
        report
            .notifications
            .iter()
            .all(|r| r.outcome == DeliveryOutcome::NotDelivered(fault.clone()))
    );
    assert_eq!(report.failed().count(), 2);
    assert_eq!(report.card_lost(), Some(&fault));

    // A report without a lost card says so.
    assert_eq!(DeliveryReport::default().card_lost(), None);
}

/// Regression (found by the `procedures` fuzz target): after a forwarded card refusal whose
/// forward failed, a card with no session left made the machine report the session as open
/// while handing the driver no record to recover it with.
#[test]
fn a_failed_forward_with_no_card_session_left_is_not_reported_open_without_a_record() {
    for server_fault in [
        Input::ServerFailure(ServerFailure::Connect("refused".into())),
        Input::Server {
            status: 500,
            body: Vec::new(),
        },
    ] {
        let mut d = download_at(Point::Prepare);
        d.handle_card(prepare_download_refusal()).unwrap();
        d.handle(server_fault).unwrap();
        // The card answers CancelSession with invalidTransactionId: it has no session.
        d.handle_card(vec![0xBF, 0x41, 0x03, 0x81, 0x01, 0x05])
            .unwrap();
        let err = done(&d).unwrap_err();
        let end = err.session_end().unwrap();
        assert_eq!(end.card, CardCancellation::NoSession);
        // Nothing is left that Recovery could do, and the driver is told so consistently.
        assert!(end.is_complete(), "{end:?}");
        assert!(!err.session_left_open());
        assert_eq!(d.session_record(), None);
    }
}

#[test]
fn load_progress_counts_the_bpp_sequences_without_a_second_decode() {
    assert_eq!(download_at(Point::Prepare).load_progress(), None);
    let mut d = download_at(Point::Load);
    let (done, total) = d.load_progress().unwrap();
    assert_eq!(done, 0);
    assert!(total >= 2, "{total}");
    // An intermediate sequence is answered with no data.
    d.handle_card(Vec::new()).unwrap();
    assert_eq!(d.load_progress(), Some((1, total)));
}
