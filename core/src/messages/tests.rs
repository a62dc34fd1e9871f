//! Byte-exact vectors for every message type.
//!
//! Two kinds of vector: (1) the recorded SM-DP+ session in `core/tests/data/rsp-session/`
//! (bytes produced by another implementation: decoded, checked field by field, and re-encoded
//! byte for byte), and (2) hex written out by hand from the ASN.1 module, with each tag derived
//! from SGP.22 Annex H's tagging rules, not from our encoder.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};
use core::fmt::Debug;

use super::*;
use crate::bpp::{BppCommandKind, BppCommandRange, BppCommands};
use crate::der::{BitString, CertificateList, Decode, DecodeError, Encode, ObjectIdentifier};
use crate::ids::{Eid, Iccid};
use crate::tlv::Tag;

macro_rules! session {
    ($f:literal) => {
        include_bytes!(concat!("../../tests/data/rsp-session/", $f)).as_slice()
    };
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap()
}

fn ascii(s: &str) -> String {
    hex::encode(s.as_bytes())
}

/// Decodes `bytes`, re-encodes, and checks the bytes and the predicted size are identical.
#[track_caller]
fn round_trip<T: Encode + Decode + Debug + PartialEq>(bytes: &[u8]) -> T {
    let value = T::from_der(bytes).unwrap();
    assert_eq!(value.encoded_len(), bytes.len(), "encoded_len of {value:?}");
    assert_eq!(hex::encode(value.to_der()), hex::encode(bytes));
    value
}

/// Checks that `value` encodes to exactly `expected` and decodes back to itself.
#[track_caller]
fn encodes_to<T: Encode + Decode + Debug + PartialEq>(value: &T, expected: &str) {
    let der = value.to_der();
    assert_eq!(hex::encode_upper(&der), hex::encode_upper(hex(expected)));
    assert_eq!(&T::from_der(&der).unwrap(), value);
}

const TX: &str = "0102030405060708090a0b0c0d0e0f10";
const ICCID_BCD: &str = "98001032547698103214";

fn iccid() -> Iccid {
    Iccid::from_bcd(&hex(ICCID_BCD)).unwrap()
}

// ---------------------------------------------------------------- recorded session vectors

#[test]
fn session_euicc_info1() {
    let info: EuiccInfo1 = round_trip(session!("euicc-info1.der"));
    assert_eq!(info.svn, Version::new(2, 0, 0));
    assert!(info.euicc_ci_pkid_list_for_verification.is_empty());
    assert!(info.euicc_ci_pkid_list_for_signing.is_empty());
}

#[test]
fn session_initiate_authentication_ok() {
    let ok: InitiateAuthenticationOkEs9 = round_trip(session!("initiate-response.der"));
    assert_eq!(ok.transaction_id, session!("transaction-id.bin"));
    let signed = ok.server_signed1.value();
    assert_eq!(signed.transaction_id, session!("transaction-id.bin"));
    assert_eq!(signed.euicc_challenge, session!("euicc-challenge.bin"));
    assert_eq!(signed.server_address, "smdp.example.com");
    assert_eq!(signed.server_challenge, session!("server-challenge.bin"));
    assert_eq!(ok.server_signature1.len(), 64);
    assert_eq!(
        hex::encode_upper(&ok.euicc_ci_pkid_to_be_used),
        "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"
    );
    // serverSigned1 is kept byte for byte: the raw bytes are the element at offset 22.
    let raw = session!("initiate-response.der");
    assert_eq!(ok.server_signed1.raw(), &raw[22..22 + 74]);
}

#[test]
fn session_authenticate_server_response() {
    let resp: AuthenticateServerResponse = round_trip(session!("auth-server-response.der"));
    let AuthenticateServerResponse::Ok(ok) = resp else {
        panic!("expected authenticateResponseOk");
    };
    let s = ok.euicc_signed1.value();
    assert_eq!(s.transaction_id, session!("transaction-id.bin"));
    assert_eq!(s.server_address, "smdp.example.com");
    assert_eq!(s.server_challenge, session!("server-challenge.bin"));
    assert_eq!(s.euicc_info2.svn, Version::new(2, 2, 0));
    assert_eq!(s.euicc_info2.euicc_firmware_ver, Version::new(1, 0, 0));
    assert_eq!(s.euicc_info2.pp_version, Version::new(2, 0, 0));
    assert_eq!(s.euicc_info2.sas_accreditation_number, "");
    let CtxParams1::CommonAuthentication(ctx) = &s.ctx_params1;
    assert_eq!(ctx.matching_id, None);
    assert_eq!(ctx.device_info.tac.len(), 4);
    assert_eq!(ok.euicc_signature1.len(), 64);
    // Both certificates are kept as complete DER SEQUENCEs.
    assert_eq!(ok.euicc_certificate.as_bytes()[0], 0x30);
    assert_eq!(ok.eum_certificate.as_bytes()[0], 0x30);
}

#[test]
fn session_authenticate_client_response() {
    let resp: AuthenticateClientResponseEs9 = round_trip(session!("authenticate-response.der"));
    let AuthenticateClientResponseEs9::Ok(ok) = resp else {
        panic!("expected authenticateClientOk");
    };
    assert_eq!(ok.transaction_id, session!("transaction-id.bin"));
    let metadata: StoreMetadataRequest = round_trip(session!("store-metadata.der"));
    assert_eq!(ok.profile_metadata, metadata);
    assert_eq!(metadata.iccid.to_string(), "89000123456789012341");
    assert_eq!(metadata.service_provider_name, "euicc-rsp");
    assert_eq!(metadata.profile_name, "euicc-rsp test profile");
    assert_eq!(metadata.profile_class, ProfileClass::Operational);
    let signed2 = ok.smdp_signed2.value();
    assert_eq!(signed2.transaction_id, session!("transaction-id.bin"));
    assert!(!signed2.cc_required_flag);
    assert_eq!(signed2.bpp_euicc_otpk, None);
}

#[test]
fn session_prepare_download_response() {
    let resp: PrepareDownloadResponse = round_trip(session!("prepare-download-response.der"));
    let PrepareDownloadResponse::Ok(ok) = resp else {
        panic!("expected downloadResponseOk");
    };
    let s = ok.euicc_signed2.value();
    assert_eq!(s.transaction_id, session!("transaction-id.bin"));
    // EXPECTED.md: the eUICC one-time public key.
    assert_eq!(
        hex::encode(&s.euicc_otpk),
        "04a61b5852fedeecd5373d769af0edbc94502276d9c6ff1da3a156fecf31c6629954aea62862e227aebaf745c4e1d5f1bcbba6136400d9f0a63434225fee2590ae"
    );
    assert_eq!(s.hash_cc, None);
}

#[test]
fn session_bound_profile_package() {
    let bytes = session!("bound-profile-package.der");
    let bpp: BoundProfilePackage = round_trip(bytes);
    let init = &bpp.initialise_secure_channel_request;
    assert_eq!(init.remote_op_id, RemoteOpId::InstallBoundProfilePackage);
    assert_eq!(init.transaction_id, session!("transaction-id.bin"));
    assert_eq!(init.control_ref_template.key_type, [0x88]);
    assert_eq!(init.control_ref_template.key_len, [0x10]);
    assert_eq!(init.control_ref_template.host_id, b"euicc-rsp");
    assert_eq!(init.smdp_otpk.len(), 65);
    assert_eq!(bpp.first_sequence_of87.len(), 1);
    assert_eq!(bpp.sequence_of88.len(), 1);
    assert_eq!(bpp.second_sequence_of87, None);
    assert_eq!(bpp.sequence_of86.len(), 1);
}

#[test]
fn session_bpp_split_into_store_data_sequences() {
    let bytes = session!("bound-profile-package.der");
    let commands = BppCommands::new(bytes).unwrap();
    assert_eq!(commands.command_count(), 6);
    let cmds: Vec<_> = commands.collect();
    let kinds: Vec<_> = cmds.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            BppCommandKind::InitialiseSecureChannel,
            BppCommandKind::ConfigureIsdp,
            BppCommandKind::StoreMetadata,
            BppCommandKind::StoreMetadata,
            BppCommandKind::LoadProfileElements,
            BppCommandKind::LoadProfileElements,
        ]
    );
    // Offsets from `openssl asn1parse`: BF36 header (5) + BF23 (4 + 175) ends at 184; A0 is
    // 184..212; A1's header 212..214; the 88 214..274; A3's header 274..276; the 86 276..318.
    let spans = [
        (0, 184),
        (184, 212),
        (212, 214),
        (214, 274),
        (274, 276),
        (276, 318),
    ];
    for (cmd, (a, b)) in cmds.iter().zip(spans) {
        assert_eq!(cmd.bytes, &bytes[a..b]);
    }
    // Concatenated, the commands are the BPP itself: nothing is dropped or copied twice.
    let joined: Vec<u8> = cmds.iter().flat_map(|c| c.bytes.iter().copied()).collect();
    assert_eq!(joined, bytes);
    // The same commands as positions in the BPP.
    let ranges: Vec<_> = BppCommands::new(bytes).unwrap().ranges().collect();
    let expected: Vec<_> = cmds
        .iter()
        .zip(spans)
        .map(|(cmd, (a, b))| BppCommandRange {
            kind: cmd.kind,
            range: a..b,
        })
        .collect();
    assert_eq!(ranges, expected);
}

#[test]
fn bpp_split_with_replace_session_keys_and_bad_structures() {
    let bf23 = "BF2303820101";
    let with_a2 = hex(&format!(
        "BF361A {bf23} A0038701AA A1038801BB A2038701CC A3038601DD"
    ));
    let cmds: Vec<_> = BppCommands::new(&with_a2).unwrap().collect();
    let kinds: Vec<_> = cmds.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            BppCommandKind::InitialiseSecureChannel,
            BppCommandKind::ConfigureIsdp,
            BppCommandKind::StoreMetadata,
            BppCommandKind::StoreMetadata,
            BppCommandKind::ReplaceSessionKeys,
            BppCommandKind::LoadProfileElements,
            BppCommandKind::LoadProfileElements,
        ]
    );
    assert_eq!(cmds[4].bytes, hex("A2038701CC"));
    let joined: Vec<u8> = cmds.iter().flat_map(|c| c.bytes.iter().copied()).collect();
    assert_eq!(joined, with_a2);
    // Ranges and slices agree, also from part-way through the iteration.
    let mut commands = BppCommands::new(&with_a2).unwrap();
    let first = commands.next().unwrap();
    let ranges: Vec<_> = commands.ranges().collect();
    assert_eq!(ranges.len(), cmds.len() - 1);
    assert_eq!(first.bytes, &with_a2[..ranges[0].range.start]);
    for (range, cmd) in ranges.iter().zip(&cmds[1..]) {
        assert_eq!(range.kind, cmd.kind);
        assert_eq!(&with_a2[range.range.clone()], cmd.bytes);
    }

    use crate::bpp::BppError;
    // No A3 at all.
    assert_eq!(
        BppCommands::new(&hex(&format!("BF3610 {bf23} A0038701AA A1038801BB"))).unwrap_err(),
        BppError::Structure {
            offset: 19,
            expected: Tag(0xA3)
        }
    );
    // A stray 86 inside the 88 list.
    assert_eq!(
        BppCommands::new(&hex(&format!(
            "BF3615 {bf23} A0038701AA A1038601BB A3038601DD"
        )))
        .unwrap_err(),
        BppError::UnexpectedSegment {
            offset: 16,
            found: Tag(0x86)
        }
    );
    // Empty profile element list.
    assert!(BppCommands::new(&hex(&format!("BF3612 {bf23} A0038701AA A1038801BB A300"))).is_err());
    // Not a BPP.
    assert!(BppCommands::new(&hex("BF370100")).is_err());
    assert!(BppCommands::new(&hex("BF3603BF2300")).is_err());
}

#[test]
fn session_pending_notification_keeps_non_der_bits_for_the_signature() {
    let bytes = session!("pending-notification.der");
    let n: PendingNotification = round_trip(bytes);
    let md = n.metadata();
    assert_eq!(md.seq_number, 1);
    assert_eq!(md.profile_management_operation, NotificationEvent::Install);
    assert_eq!(md.notification_address, "smdp.example.com");
    assert_eq!(md.iccid, Some(iccid()));
    let PendingNotification::ProfileInstallationResult(pir) = &n else {
        panic!("expected a ProfileInstallationResult");
    };
    let data = pir.value().profile_installation_result_data.value();
    assert_eq!(data.transaction_id, session!("transaction-id.bin"));
    assert_eq!(data.smdp_oid.to_string(), "2.999");
    let FinalResult::Success(ok) = &data.final_result else {
        panic!("expected successResult");
    };
    assert_eq!(
        hex::encode_upper(&ok.aid),
        "A0000005591010FFFFFFFF8900001100"
    );
    assert_eq!(ok.sima_response, [0x30, 0x00]);
    // The recorded eUICC wrote the NotificationEvent BIT STRING as `02 00 80` (no unused bits
    // declared) where DER wants `02 07 80`. We read it, and because the signed data is kept
    // as received, the notification is forwarded exactly as signed...
    assert_eq!(&bytes[31..35], &hex("81020080")[..]);
    // ...whereas re-encoding the decoded metadata alone gives the canonical form.
    assert_eq!(hex::encode(&md.to_der()[6..10]), "81020780");
    // Inside a RetrieveNotificationsList response it decodes the same.
    assert_eq!(bytes.len(), 0xA2);
    let mut list = hex("BF2B81A5 A081A2");
    list.extend_from_slice(bytes);
    let resp: RetrieveNotificationsListResponse = round_trip(&list);
    assert_eq!(resp, RetrieveNotificationsListResponse::Ok(vec![n]));
}

// ---------------------------------------------------------------- hand-built ES10 vectors

#[test]
fn empty_requests() {
    encodes_to(&GetEuiccInfo1Request {}, "BF2000");
    encodes_to(&GetEuiccInfo2Request {}, "BF2200");
    encodes_to(&GetEuiccChallengeRequest {}, "BF2E00");
    encodes_to(&EuiccConfiguredAddressesRequest {}, "BF3C00");
    encodes_to(&GetRatRequest {}, "BF4300");
    encodes_to(
        &ListNotificationRequest {
            profile_management_operation: None,
        },
        "BF2800",
    );
    encodes_to(
        &RetrieveNotificationsListRequest {
            search_criteria: None,
        },
        "BF2B00",
    );
    encodes_to(
        &ProfileInfoListRequest {
            search_criteria: None,
            tag_list: None,
        },
        "BF2D00",
    );
}

#[test]
fn eid_and_challenge() {
    encodes_to(&GetEuiccDataRequest::eid(), "BF3E035C015A");
    let resp: GetEuiccDataResponse =
        round_trip(&hex("BF3E12 5A10 89049032123451234512345678901235"));
    assert_eq!(
        resp.eid_value.to_string(),
        "89049032123451234512345678901235"
    );
    assert!(resp.eid_value.is_valid());
    assert_eq!(
        resp.eid_value,
        Eid::from_digits("89049032123451234512345678901235").unwrap()
    );
    let ch: GetEuiccChallengeResponse =
        round_trip(&hex("BF2E12 8010 aabbccddeeff00112233445566778899"));
    assert_eq!(ch.euicc_challenge, session!("euicc-challenge.bin"));
}

#[test]
fn profile_info_list_requests() {
    let by_iccid = ProfileInfoListRequest {
        search_criteria: Some(ProfileSearchCriteria::Iccid(iccid())),
        tag_list: Some(hex("5A9F70")),
    };
    encodes_to(&by_iccid, &format!("BF2D13 A00C5A0A{ICCID_BCD} 5C035A9F70"));
    let by_class = ProfileInfoListRequest {
        search_criteria: Some(ProfileSearchCriteria::ProfileClass(
            ProfileClass::Operational,
        )),
        tag_list: None,
    };
    encodes_to(&by_class, "BF2D05 A003 950102");
    let by_aid = ProfileInfoListRequest {
        search_criteria: Some(ProfileSearchCriteria::IsdpAid(hex(
            "A0000005591010FFFFFFFF8900001100",
        ))),
        tag_list: None,
    };
    encodes_to(&by_aid, "BF2D14 A012 4F10A0000005591010FFFFFFFF8900001100");
}

fn two_profiles_hex() -> String {
    // E3 #1: ICCID, AID, enabled, nickname "Work", SPN "Op", name "P1", class operational,
    // PPR1 set. E3 #2: ICCID only, disabled, test class.
    let p1 = format!(
        "5A0A{ICCID_BCD} 4F10A0000005591010FFFFFFFF8900001100 9F700101 9004{} 9102{} 9202{} 950102 99020640",
        ascii("Work"),
        ascii("Op"),
        ascii("P1")
    );
    let p2 = "5A0A98001032547698103224 9F700100 950100";
    let p1_len = hex(&p1).len();
    let p2_len = hex(p2).len();
    let list = format!("E3{p1_len:02X}{p1} E3{p2_len:02X}{p2}");
    let list_len = hex(&list).len();
    format!("BF2D{:02X} A0{list_len:02X}{list}", list_len + 2)
}

#[test]
fn profile_info_list_response() {
    let resp: ProfileInfoListResponse = round_trip(&hex(&two_profiles_hex()));
    let ProfileInfoListResponse::Ok(list) = resp else {
        panic!("expected profileInfoListOk");
    };
    assert_eq!(list.len(), 2);
    let p = &list[0];
    assert_eq!(p.iccid, Some(iccid()));
    assert_eq!(p.profile_state, Some(ProfileState::Enabled));
    assert_eq!(p.profile_nickname.as_deref(), Some("Work"));
    assert_eq!(p.service_provider_name.as_deref(), Some("Op"));
    assert_eq!(p.profile_name.as_deref(), Some("P1"));
    assert_eq!(p.profile_class, Some(ProfileClass::Operational));
    let ppr = p.profile_policy_rules.as_ref().unwrap();
    assert!(ppr.contains(PprIds::PPR1) && !ppr.contains(PprIds::PPR2));
    assert_eq!(list[1].profile_state, Some(ProfileState::Disabled));
    assert_eq!(list[1].profile_class, Some(ProfileClass::Test));
    assert_eq!(list[1].profile_name, None);
    encodes_to(
        &ProfileInfoListResponse::Error(ProfileInfoListError::IncorrectInputValues),
        "BF2D03810101",
    );
}

#[test]
fn enable_disable_delete() {
    let by_iccid = ProfileIdentifier::Iccid(iccid());
    encodes_to(
        &EnableProfileRequest {
            profile_identifier: by_iccid.clone(),
            refresh_flag: true,
        },
        &format!("BF3111 A00C5A0A{ICCID_BCD} 8101FF"),
    );
    encodes_to(
        &EnableProfileRequest {
            profile_identifier: ProfileIdentifier::IsdpAid(hex("A0000005591010FFFFFFFF8900001100")),
            refresh_flag: false,
        },
        "BF3117 A0124F10A0000005591010FFFFFFFF8900001100 810100",
    );
    encodes_to(
        &DisableProfileRequest {
            profile_identifier: by_iccid,
            refresh_flag: false,
        },
        &format!("BF3211 A00C5A0A{ICCID_BCD} 810100"),
    );
    encodes_to(
        &DeleteProfileRequest::Iccid(iccid()),
        &format!("BF330C5A0A{ICCID_BCD}"),
    );
    encodes_to(
        &DeleteProfileRequest::IsdpAid(hex("A0000005591010FFFFFFFF8900001100")),
        "BF3312 4F10A0000005591010FFFFFFFF8900001100",
    );
    let ok: EnableProfileResponse = round_trip(&hex("BF3103800100"));
    assert_eq!(ok.enable_result, EnableResult::Ok);
    let r: EnableProfileResponse = round_trip(&hex("BF3103800102"));
    assert_eq!(r.enable_result, EnableResult::ProfileNotInDisabledState);
    let r: EnableProfileResponse = round_trip(&hex("BF310380017F"));
    assert_eq!(r.enable_result, EnableResult::UndefinedError);
    // A code from a newer SGP.22 version is kept, not refused.
    let r: EnableProfileResponse = round_trip(&hex("BF3103800163"));
    assert_eq!(r.enable_result, EnableResult::Unknown(99));
    let r: DisableProfileResponse = round_trip(&hex("BF3203800103"));
    assert_eq!(r.disable_result, DisableResult::DisallowedByPolicy);
    let r: DeleteProfileResponse = round_trip(&hex("BF3303800101"));
    assert_eq!(r.delete_result, DeleteResult::IccidOrAidNotFound);
}

#[test]
fn memory_reset_nickname_addresses() {
    let all = EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[
            ResetOptions::DELETE_OPERATIONAL_PROFILES,
            ResetOptions::DELETE_FIELD_LOADED_TEST_PROFILES,
            ResetOptions::RESET_DEFAULT_SMDP_ADDRESS,
        ]),
    };
    encodes_to(&all, "BF3404 820205E0");
    let ops_only = EuiccMemoryResetRequest {
        reset_options: ResetOptions::from_bits(&[ResetOptions::DELETE_OPERATIONAL_PROFILES]),
    };
    encodes_to(&ops_only, "BF3404 82020780");
    let r: EuiccMemoryResetResponse = round_trip(&hex("BF3403800101"));
    assert_eq!(r.reset_result, ResetResult::NothingToDelete);

    encodes_to(
        &SetNicknameRequest {
            iccid: iccid(),
            profile_nickname: "Work".into(),
        },
        &format!("BF2912 5A0A{ICCID_BCD} 9004{}", ascii("Work")),
    );
    let r: SetNicknameResponse = round_trip(&hex("BF2903800101"));
    assert_eq!(r.set_nickname_result, SetNicknameResult::IccidNotFound);

    let addrs: EuiccConfiguredAddressesResponse = round_trip(&hex(&format!(
        "BF3C23 8010{} 810F{}",
        ascii("smdp.example.com"),
        ascii("lpa.ds.gsma.com")
    )));
    assert_eq!(
        addrs.default_dp_address.as_deref(),
        Some("smdp.example.com")
    );
    assert_eq!(addrs.root_ds_address, "lpa.ds.gsma.com");
    let no_default: EuiccConfiguredAddressesResponse =
        round_trip(&hex(&format!("BF3C11 810F{}", ascii("lpa.ds.gsma.com"))));
    assert_eq!(no_default.default_dp_address, None);
    encodes_to(
        &SetDefaultDpAddressRequest {
            default_dp_address: "smdp.example.com".into(),
        },
        &format!("BF3F12 8010{}", ascii("smdp.example.com")),
    );
    let r: SetDefaultDpAddressResponse = round_trip(&hex("BF3F03800100"));
    assert_eq!(
        r.set_default_dp_address_result,
        SetDefaultDpAddressResult::Ok
    );
}

#[test]
fn notifications() {
    encodes_to(&NotificationSentRequest { seq_number: 5 }, "BF3003800105");
    encodes_to(
        &NotificationSentRequest { seq_number: 300 },
        "BF300480 02012C",
    );
    let r: NotificationSentResponse = round_trip(&hex("BF3003800100"));
    assert_eq!(r.delete_notification_status, DeleteNotificationStatus::Ok);
    encodes_to(
        &ListNotificationRequest {
            profile_management_operation: Some(NotificationEvent::Install),
        },
        "BF2804 81020780",
    );
    encodes_to(
        &RetrieveNotificationsListRequest {
            search_criteria: Some(NotificationSearchCriteria::SeqNumber(3)),
        },
        "BF2B05 A003 800103",
    );
    encodes_to(
        &RetrieveNotificationsListRequest {
            search_criteria: Some(NotificationSearchCriteria::ProfileManagementOperation(
                NotificationEvent::Delete,
            )),
        },
        "BF2B06 A004 81020410",
    );
    let addr = ascii("smdp.example.com");
    let list: ListNotificationResponse = round_trip(&hex(&format!(
        "BF2846 A044 BF2F25 800101 81020780 0C10{addr} 5A0A{ICCID_BCD} BF2F19 800102 81020410 0C10{addr}"
    )));
    let ListNotificationResponse::Ok(list) = list else {
        panic!("expected notificationMetadataList");
    };
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].seq_number, 1);
    assert_eq!(
        list[0].profile_management_operation,
        NotificationEvent::Install
    );
    assert_eq!(list[0].iccid, Some(iccid()));
    assert_eq!(
        list[1].profile_management_operation,
        NotificationEvent::Delete
    );
    assert_eq!(list[1].iccid, None);
    let err: RetrieveNotificationsListResponse = round_trip(&hex("BF2B03810101"));
    assert_eq!(
        err,
        RetrieveNotificationsListResponse::Error(RetrieveNotificationsListError::NoResultAvailable)
    );
    let err: ListNotificationResponse = round_trip(&hex("BF280381017F"));
    assert_eq!(
        err,
        ListNotificationResponse::Error(ListNotificationError::UndefinedError)
    );
}

#[test]
fn cancel_session() {
    encodes_to(
        &CancelSessionRequest {
            transaction_id: hex(TX),
            reason: CancelSessionReason::EndUserRejection,
        },
        &format!("BF4115 8010{TX} 810100"),
    );
    let sig = "11".repeat(64);
    let ok: CancelSessionResponse = round_trip(&hex(&format!(
        "BF4160 A05E 3019 8010{TX} 81028837 820100 5F3740{sig}"
    )));
    let CancelSessionResponse::Ok(ok) = &ok else {
        panic!("expected cancelSessionResponseOk");
    };
    let signed = ok.euicc_cancel_session_signed.value();
    assert_eq!(signed.smdp_oid.to_string(), "2.999");
    assert_eq!(signed.reason, CancelSessionReason::EndUserRejection);
    let err: CancelSessionResponse = round_trip(&hex("BF4103810105"));
    assert_eq!(
        err,
        CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId)
    );
}

#[test]
fn es10b_error_responses() {
    let r: AuthenticateServerResponse = round_trip(&hex(&format!("BF3817 A115 8010{TX} 020106")));
    let AuthenticateServerResponse::Error(e) = r else {
        panic!()
    };
    assert_eq!(
        e.authenticate_error_code,
        AuthenticateErrorCode::EuiccChallengeMismatch
    );
    let r: PrepareDownloadResponse = round_trip(&hex(&format!("BF2117 A115 8010{TX} 020105")));
    let PrepareDownloadResponse::Error(e) = r else {
        panic!()
    };
    assert_eq!(
        e.download_error_code,
        DownloadErrorCode::InvalidTransactionId
    );
}

#[test]
fn rat_and_crl() {
    // One rule: PPR1 allowed for MCC/MNC 21F354 with consent required.
    let rat: GetRatResponse = round_trip(&hex(
        "BF4315 A013 3011 80020640 A107 3005 800321F354 82020780",
    ));
    let rule = &rat.rat[0];
    assert!(rule.ppr_ids.contains(PprIds::PPR1));
    assert_eq!(rule.allowed_operators[0].mcc_mnc, hex("21F354"));
    assert!(rule.ppr_flags.contains(PprFlags::CONSENT_REQUIRED));

    let crl = CertificateList::from_der(hex("3005 3003020101")).unwrap();
    encodes_to(&LoadCrlRequest { crl }, "BF3507 A005 3003020101");
    let ok: LoadCrlResponse = round_trip(&hex("BF350A A008 A006 020102 020103"));
    assert_eq!(
        ok,
        LoadCrlResponse::Ok(LoadCrlResponseOk {
            missing_parts: Some(vec![2, 3])
        })
    );
    let err: LoadCrlResponse = round_trip(&hex("BF3503810104"));
    assert_eq!(
        err,
        LoadCrlResponse::Error(LoadCrlError::VerificationKeyNotFound)
    );
}

const SKI_NIST: &str = "F54172BDF98A95D65CBEB88A38A1C11D800A85C3";

fn euicc_info2_hex(extra: &str) -> String {
    let body = format!(
        "810302030 0 8203020500 8303010203 840D 810100 82040001F400 83021000 \
         85030168 02 8603090200 8703020300 880204D0 \
         A916 0414{SKI_NIST} AA16 0414{SKI_NIST} 8B0102 99020640 \
         0403000201 0C0D{} {extra}",
        ascii("GI-BA-UP-0419")
    );
    let len = hex(&body).len();
    if len < 0x80 {
        format!("BF22{len:02X}{body}")
    } else {
        format!("BF2281{len:02X}{body}")
    }
}

#[test]
fn euicc_info2_fully_decoded() {
    let info: EuiccInfo2 = round_trip(&hex(&euicc_info2_hex("")));
    assert_eq!(info.profile_version, Version::new(2, 3, 0));
    assert_eq!(info.svn.to_string(), "2.5.0");
    assert_eq!(info.euicc_firmware_ver, Version::new(1, 2, 3));
    let res = info.ext_card_resource_info();
    assert_eq!(res.installed_applications, Some(0));
    assert_eq!(res.free_non_volatile_memory, Some(128_000));
    assert_eq!(res.free_volatile_memory, Some(4096));
    let caps = &info.uicc_capability;
    assert!(caps.contains(UiccCapability::USIM) && caps.contains(UiccCapability::ISIM));
    assert!(caps.contains(UiccCapability::AKA_MILENAGE) && caps.contains(UiccCapability::JAVACARD));
    assert!(!caps.contains(UiccCapability::CSIM));
    assert!(
        info.rsp_capability
            .contains(RspCapability::ADDITIONAL_PROFILE)
    );
    assert!(info.rsp_capability.contains(RspCapability::CRL_SUPPORT));
    assert!(
        info.rsp_capability
            .contains(RspCapability::TEST_PROFILE_SUPPORT)
    );
    assert!(!info.rsp_capability.contains(RspCapability::RPM_SUPPORT));
    assert_eq!(
        hex::encode_upper(&info.euicc_ci_pkid_list_for_verification[0]),
        SKI_NIST
    );
    assert_eq!(info.euicc_category, Some(EuiccCategory::Medium));
    assert!(
        info.forbidden_profile_policy_rules
            .unwrap()
            .contains(PprIds::PPR1)
    );
    assert_eq!(info.pp_version, Version::new(0, 2, 1));
    assert_eq!(info.sas_accreditation_number, "GI-BA-UP-0419");
    assert_eq!(info.ts102241_version, Some(Version::new(9, 2, 0)));
}

// ---------------------------------------------------------------- tolerance (EXTENSIBILITY IMPLIED)

#[test]
fn unknown_elements_at_the_end_are_skipped() {
    // SGP.22 v3 adds to EUICCInfo2: lpaMode [16] (90), euiccCiPKIdListForSigningV3 [17] (B1),
    // highestSvn [19] (93). A v2.5 LPA must read the rest.
    let v3 = format!("900100 B116 0414{SKI_NIST} 9303030100");
    let plain = EuiccInfo2::from_der(&hex(&euicc_info2_hex(""))).unwrap();
    let extended = EuiccInfo2::from_der(&hex(&euicc_info2_hex(&v3))).unwrap();
    assert_eq!(plain, extended);
    // EUICCInfo1 with an unknown trailing element, and NotificationMetadata too.
    let info1 = EuiccInfo1::from_der(&hex("BF200C 8203020500 A900 AA00 8F0101")).unwrap();
    assert_eq!(info1.svn, Version::new(2, 5, 0));
    let md = NotificationMetadata::from_der(&hex(&format!(
        "BF2F1D 800107 81020640 0C10{} 9F7F0101",
        ascii("smdp.example.com")
    )))
    .unwrap();
    assert_eq!(md.seq_number, 7);
    assert_eq!(md.profile_management_operation, NotificationEvent::Enable);
}

#[test]
fn unknown_elements_in_the_middle_are_skipped() {
    // A ProfileInfo with an unknown primitive (DF7F) between ICCID and state, an unknown
    // constructed element (BF7E) before the nickname, and one at the end (9F7D).
    let body = format!(
        "5A0A{ICCID_BCD} DF7F01AA 9F700101 BF7E028000 9004{} 9F7D00",
        ascii("Work")
    );
    let len = hex(&body).len();
    let p = ProfileInfo::from_der(&hex(&format!("E3{len:02X}{body}"))).unwrap();
    assert_eq!(p.iccid, Some(iccid()));
    assert_eq!(p.profile_state, Some(ProfileState::Enabled));
    assert_eq!(p.profile_nickname.as_deref(), Some("Work"));
    // Re-encoding drops the unknown elements and yields plain DER.
    assert_eq!(
        hex::encode_upper(p.to_der()),
        hex::encode_upper(hex(&format!(
            "E316 5A0A{ICCID_BCD} 9F700101 9004{}",
            ascii("Work")
        )))
    );
    // An element that repeats an earlier field's tag after later fields matched is skipped too
    // (fields are matched in declaration order).
    let p = ProfileInfo::from_der(&hex(&format!(
        "E31C 5A0A{ICCID_BCD} 9F700101 5A0A98001032547698103224"
    )))
    .unwrap();
    assert_eq!(p.iccid, Some(iccid()));
}

#[test]
fn unknown_elements_nested_deep_are_skipped() {
    // DeviceCapabilities inside DeviceInfo inside ctxParams1 inside AuthenticateServerRequest:
    // a v3 device adds lpaSvn [11] (8B) and more after the known capabilities.
    let caps = "850302000 0 8B03030100 8C0100";
    let caps_len = hex(caps).len();
    let dev = format!("800435290611 A1{caps_len:02X}{caps}");
    let dev_len = hex(&dev).len();
    let ctx = format!("8003{} A1{dev_len:02X}{dev}", ascii("MID"));
    let ctx_len = hex(&ctx).len();
    let parsed = CtxParams1::from_der(&hex(&format!("A0{ctx_len:02X}{ctx}"))).unwrap();
    let CtxParams1::CommonAuthentication(c) = parsed;
    assert_eq!(c.matching_id.as_deref(), Some("MID"));
    assert_eq!(c.device_info.tac, hex("35290611"));
    assert_eq!(
        c.device_info
            .device_capabilities
            .eutran_epc_supported_release,
        Some(Version::new(2, 0, 0))
    );
}

// ---------------------------------------------------------------- errors

#[test]
fn missing_mandatory_elements_name_type_and_field() {
    assert_eq!(
        SetNicknameResponse::from_der(&hex("BF2900")),
        Err(DecodeError::MissingField {
            ty: "SetNicknameResponse",
            field: "set_nickname_result",
            offset: 0
        })
    );
    let err = NotificationMetadata::from_der(&hex("BF2F03800101")).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::MissingField {
            field: "profile_management_operation",
            ..
        }
    ));
    assert!(err.to_string().contains("NotificationMetadata"));
}

#[test]
fn wrong_tags_and_bad_values_are_typed_errors() {
    assert!(matches!(
        EnableProfileResponse::from_der(&hex("BF3203800100")),
        Err(DecodeError::UnexpectedTag {
            found: Tag(0xBF32),
            ..
        })
    ));
    // An unknown CHOICE alternative.
    assert!(matches!(
        ProfileInfoListResponse::from_der(&hex("BF2D03820101")),
        Err(DecodeError::UnexpectedTag {
            found: Tag(0x82),
            offset: 3,
            ..
        })
    ));
    // ICCID with a bad length, BOOLEAN of two octets, version of two octets.
    assert!(matches!(
        SetNicknameRequest::from_der(&hex("BF2906 5A020102 9000")),
        Err(DecodeError::InvalidValue {
            ty: "Iccid",
            offset: 3,
            ..
        })
    ));
    assert!(matches!(
        EnableProfileRequest::from_der(&hex(&format!("BF3112 A00C5A0A{ICCID_BCD} 8102FFFF"))),
        Err(DecodeError::InvalidValue { ty: "BOOLEAN", .. })
    ));
    assert!(matches!(
        EuiccInfo1::from_der(&hex("BF20088202 0200 A900 AA00")),
        Err(DecodeError::InvalidValue {
            ty: "VersionType",
            ..
        })
    ));
    // A NotificationEvent with no bit set.
    assert!(NotificationSearchCriteria::from_der(&hex("810100")).is_err());
}

/// Runs every decoder over `input`; none may panic.
fn decode_all(input: &[u8]) -> usize {
    macro_rules! try_all {
        ($($t:ty),* $(,)?) => {{
            let mut ok = 0;
            $( if <$t>::from_der(input).is_ok() { ok += 1; } )*
            ok
        }};
    }
    try_all!(
        EuiccInfo1,
        EuiccInfo2,
        GetEuiccDataResponse,
        GetEuiccChallengeResponse,
        ProfileInfoListRequest,
        ProfileInfoListResponse,
        EnableProfileRequest,
        EnableProfileResponse,
        DisableProfileResponse,
        DeleteProfileRequest,
        DeleteProfileResponse,
        EuiccMemoryResetResponse,
        SetNicknameRequest,
        SetNicknameResponse,
        EuiccConfiguredAddressesResponse,
        SetDefaultDpAddressResponse,
        GetRatResponse,
        LoadCrlResponse,
        AuthenticateServerRequest,
        AuthenticateServerResponse,
        PrepareDownloadRequest,
        PrepareDownloadResponse,
        CancelSessionRequest,
        CancelSessionResponse,
        ListNotificationResponse,
        RetrieveNotificationsListResponse,
        NotificationSentResponse,
        PendingNotification,
        BoundProfilePackage,
        StoreMetadataRequest,
        ProfileInstallationResult,
        InitiateAuthenticationOkEs9,
        AuthenticateClientResponseEs9,
        GetBoundProfilePackageResponse,
        HandleNotification,
        CancelSessionRequestEs9,
        AuthenticateClientResponseEs11,
    )
}

fn all_vectors() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        session!("euicc-info1.der"),
        session!("initiate-response.der"),
        session!("auth-server-response.der"),
        session!("authenticate-response.der"),
        session!("prepare-download-response.der"),
        session!("bound-profile-package.der"),
        session!("pending-notification.der"),
        session!("store-metadata.der"),
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    v.push(hex(&two_profiles_hex()));
    v.push(hex(&euicc_info2_hex("")));
    v
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let mut decoded = 0;
    for vector in all_vectors() {
        assert!(decode_all(&vector) >= 1);
        for cut in 0..vector.len() {
            decoded += decode_all(&vector[..cut]);
        }
        // Deterministic bit flips over the first 300 bytes (the structure, not the keys).
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut m = vector.clone();
            let i = (state as usize) % m.len().min(300);
            m[i] ^= 1 << ((state >> 32) % 8);
            decoded += decode_all(&m);
        }
    }
    // Many mutants still decode (tolerance), and nothing panicked getting here.
    assert!(decoded > 0);
}

#[test]
fn es9_binding_messages() {
    let bpp_bytes = session!("bound-profile-package.der");
    let bpp = BoundProfilePackage::from_der(bpp_bytes).unwrap();
    let ok = GetBoundProfilePackageResponse::Ok(GetBoundProfilePackageOk {
        transaction_id: hex(TX),
        bound_profile_package: bpp,
    });
    let der = ok.to_der();
    assert_eq!(&der[..4], &[0xBF, 0x3A, 0x82, 0x01]);
    assert_eq!(GetBoundProfilePackageResponse::from_der(&der).unwrap(), ok);
    // HandleNotification wraps the untagged CHOICE in an explicit [0] (A0).
    let n = PendingNotification::from_der(session!("pending-notification.der")).unwrap();
    let hn = HandleNotification {
        pending_notification: n,
    };
    let der = hn.to_der();
    assert_eq!(&der[..6], &[0xBF, 0x3D, 0x81, 0xA5, 0xA0, 0x81]);
    assert_eq!(HandleNotification::from_der(&der).unwrap(), hn);
    // CancelSessionRequestEs9 re-tags the BF41 CHOICE as A1.
    let sig = "22".repeat(64);
    let cancel = CancelSessionResponse::from_der(&hex(&format!(
        "BF4160 A05E 3019 8010{TX} 81028837 820101 5F3740{sig}"
    )))
    .unwrap();
    let req = CancelSessionRequestEs9 {
        transaction_id: hex(TX),
        cancel_session_response: cancel,
    };
    let der = req.to_der();
    assert_eq!(
        hex::encode_upper(&der[..25]),
        hex::encode_upper(hex(&format!("BF4174 8010{TX} A160 A05E")))
    );
    assert_eq!(CancelSessionRequestEs9::from_der(&der).unwrap(), req);
    // ES11 event entries.
    let es11: AuthenticateClientResponseEs11 = round_trip(&hex(&format!(
        "BF402F A02D 8010{TX} A119 3017 8003{} 8110{}",
        ascii("EV1"),
        ascii("smdp.example.com")
    )));
    let AuthenticateClientResponseEs11::Ok(ok) = es11 else {
        panic!()
    };
    assert_eq!(ok.event_entries[0].event_id, "EV1");
    assert_eq!(ok.event_entries[0].rsp_server_address, "smdp.example.com");
}

#[test]
fn object_identifier_and_bits_in_context() {
    let oid = ObjectIdentifier::parse("2.999.10").unwrap();
    let cfg = ConfigureIsdpRequest {
        dp_proprietary_data: Some(DpProprietaryData { dp_oid: oid }),
    };
    // DpProprietaryData's dpOid is [0] by automatic tagging: B8 { 80 ... }.
    encodes_to(&cfg, "BF2407 B805 800388370A");
    encodes_to(
        &ConfigureIsdpRequest {
            dp_proprietary_data: None,
        },
        "BF2400",
    );
    assert_eq!(
        BitString::from_bits(&[PprIds::PPR2]).to_der(),
        hex("03020520")
    );
}

// ---------------------------------------------------------------- requests the LPA builds

/// Wraps `body` in `tag` with a definite length, written out by hand (short or 82 form).
fn wrap(tag: &str, body: &[u8]) -> Vec<u8> {
    let mut out = hex(tag);
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xFF => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn authenticate_server_request_from_recorded_pieces() {
    // The LPA forwards the SM-DP+'s pieces untouched and adds ctxParams1.
    let ok = InitiateAuthenticationOkEs9::from_der(session!("initiate-response.der")).unwrap();
    let ctx = CtxParams1::CommonAuthentication(CtxParamsForCommonAuthentication {
        matching_id: Some("MID-1".into()),
        device_info: DeviceInfo {
            tac: hex("35290611"),
            device_capabilities: DeviceCapabilities {
                eutran_epc_supported_release: Some(Version::new(15, 0, 0)),
                nr_5gc_supported_release: Some(Version::new(15, 0, 0)),
                ..DeviceCapabilities::default()
            },
            imei: None,
        },
    });
    let req = AuthenticateServerRequest {
        server_signed1: ok.server_signed1.clone(),
        server_signature1: ok.server_signature1.clone(),
        euicc_ci_pkid_to_be_used: ok.euicc_ci_pkid_to_be_used.clone(),
        server_certificate: ok.server_certificate.clone(),
        ctx_params1: ctx,
    };
    // By hand: serverSigned1 as received, 5F37 40 <sig>, 04 14 <pkid>, the certificate as
    // received, then A0 { 80 05 "MID-1", A1 { 80 04 TAC, A1 { 85 03 0F0000, 89 03 0F0000 } } }.
    let raw = session!("initiate-response.der");
    let mut body = raw[22..96].to_vec();
    body.extend_from_slice(&raw[96..163]);
    body.extend_from_slice(&raw[163..185]);
    body.extend_from_slice(&raw[185..]);
    body.extend_from_slice(&hex(&format!(
        "A01B 8005{} A112 800435290611 A10A 85030F0000 89030F0000",
        ascii("MID-1")
    )));
    let expected = wrap("BF38", &body);
    assert_eq!(hex::encode(req.to_der()), hex::encode(&expected));
    assert_eq!(AuthenticateServerRequest::from_der(&expected).unwrap(), req);
}

#[test]
fn prepare_download_request_from_recorded_pieces() {
    let AuthenticateClientResponseEs9::Ok(ok) =
        AuthenticateClientResponseEs9::from_der(session!("authenticate-response.der")).unwrap()
    else {
        panic!("expected authenticateClientOk");
    };
    let hash_cc = crate::activation::hash_cc(b"1234", &ok.transaction_id);
    let req = PrepareDownloadRequest {
        smdp_signed2: ok.smdp_signed2.clone(),
        smdp_signature2: ok.smdp_signature2.clone(),
        hash_cc: Some(hash_cc.to_vec()),
        smdp_certificate: ok.smdp_certificate.clone(),
    };
    // Offsets from `openssl asn1parse`: smdpSigned2 at 77 (2 + 21), 5F37 at 100 (3 + 64),
    // the certificate at 167 to the end.
    let raw = session!("authenticate-response.der");
    let mut body = raw[77..100].to_vec();
    body.extend_from_slice(&raw[100..167]);
    body.extend_from_slice(&hex("0420"));
    body.extend_from_slice(&hash_cc);
    body.extend_from_slice(&raw[167..]);
    let expected = wrap("BF21", &body);
    assert_eq!(hex::encode(req.to_der()), hex::encode(&expected));
    assert_eq!(PrepareDownloadRequest::from_der(&expected).unwrap(), req);
}

#[test]
fn failed_installation_result_and_other_notification() {
    let addr = ascii("smdp.example.com");
    // BF27 { 80 tx, BF2F {...}, 06 02 8837, A2 { A1 { 80 01 05, 81 01 08 } } }
    let md = format!("BF2F19 800102 81020780 0C10{addr}");
    let data = format!("8010{TX} {md} 06028837 A208 A106 800105 810108");
    let data_len = hex(&data).len();
    let pir_body = format!("BF27{data_len:02X}{data} 5F3740{}", "33".repeat(64));
    let pir_len = hex(&pir_body).len();
    let pir: ProfileInstallationResult =
        round_trip(&hex(&format!("BF3781{pir_len:02X}{pir_body}")));
    let d = pir.profile_installation_result_data.value();
    let FinalResult::Error(e) = &d.final_result else {
        panic!("expected errorResult")
    };
    assert_eq!(e.bpp_command_id, BppCommandId::LoadProfileElements);
    assert_eq!(e.error_reason, ErrorReason::Scp03tSecurityError);
    assert_eq!(e.sima_response, None);

    // An enable notification: BF2F, 5F37, and two (dummy) certificates.
    let other = format!(
        "3069 BF2F19 800109 81020640 0C10{addr} 5F3740{} 3003020101 3003020102",
        "44".repeat(64)
    );
    let n: PendingNotification = round_trip(&hex(&other));
    assert_eq!(n.metadata().seq_number, 9);
    assert_eq!(
        n.metadata().profile_management_operation,
        NotificationEvent::Enable
    );
    let PendingNotification::OtherSignedNotification(o) = &n else {
        panic!()
    };
    assert_eq!(o.value().eum_certificate.as_bytes(), hex("3003020102"));
}

#[test]
fn store_metadata_with_every_field() {
    let body = format!(
        "5A0A{ICCID_BCD} 9102{} 9202{} 930101 9403FFD8FF 950101 \
         B618 3016 80020780 8110{} B705 800321F354 99020520",
        ascii("Op"),
        ascii("P1"),
        ascii("smdp.example.com")
    );
    let len = hex(&body).len();
    let m: StoreMetadataRequest = round_trip(&hex(&format!("BF25{len:02X}{body}")));
    assert_eq!(m.icon_type, Some(IconType::Png));
    assert_eq!(m.icon.as_deref(), Some(&hex("FFD8FF")[..]));
    assert_eq!(m.profile_class, ProfileClass::Provisioning);
    let cfg = &m.notification_configuration_info.as_ref().unwrap()[0];
    assert!(
        cfg.profile_management_operation
            .contains(NotificationEvents::INSTALL)
    );
    assert_eq!(cfg.notification_address, "smdp.example.com");
    assert_eq!(m.profile_owner.as_ref().unwrap().mcc_mnc, hex("21F354"));
    assert!(m.profile_policy_rules.unwrap().contains(PprIds::PPR2));
}

#[test]
fn default_profile_class_is_omitted_in_der() {
    // X.690 §11.5: a component equal to its DEFAULT is not encoded. Found by the rasn
    // cross-check (tests/rasn_crosscheck.rs): we used to write `95 01 02`.
    let base = format!("5A0A{ICCID_BCD} 9102{} 9202{}", ascii("Op"), ascii("P1"));
    let plain = hex(&format!("BF2514 {base}"));
    let m: StoreMetadataRequest = round_trip(&plain);
    assert_eq!(m.profile_class, ProfileClass::Operational);
    // An explicit `95 01 02` from a lenient encoder is read, and re-encoded without it.
    let explicit = StoreMetadataRequest::from_der(&hex(&format!("BF2517 {base} 950102"))).unwrap();
    assert_eq!(explicit, m);
    assert_eq!(explicit.to_der(), plain);
    let test = StoreMetadataRequest {
        profile_class: ProfileClass::Test,
        ..m
    };
    encodes_to(&test, &format!("BF2517 {base} 950100"));
}

/// The names the CLI prints and the errors quote are SGP.22 Annex H's identifiers, spelled as
/// there: a sample from every kind of code, chosen where the spelling cannot be derived from the
/// Rust variant (acronyms, the installFailedDueTo prefix, the euicc suffix).
#[test]
fn named_numbers_carry_the_sgp22_identifiers() {
    use crate::der::NamedNumber;

    fn check<T: NamedNumber + Debug>(value: T, code: i64, name: &str) {
        assert_eq!(value.code(), code, "{value:?}");
        assert_eq!(value.name(), Some(name), "{value:?}");
    }
    check(
        ErrorReason::IccidAlreadyExistsOnEuicc,
        9,
        "installFailedDueToIccidAlreadyExistsOnEuicc",
    );
    check(
        ErrorReason::InsufficientMemoryForProfile,
        10,
        "installFailedDueToInsufficientMemoryForProfile",
    );
    check(
        ErrorReason::Interruption,
        11,
        "installFailedDueToInterruption",
    );
    check(
        ErrorReason::PeProcessingError,
        12,
        "installFailedDueToPEProcessingError",
    );
    check(
        ErrorReason::DataMismatch,
        13,
        "installFailedDueToDataMismatch",
    );
    check(
        ErrorReason::InvalidNaaKey,
        14,
        "testProfileInstallFailedDueToInvalidNaaKey",
    );
    check(
        ErrorReason::UnknownError,
        127,
        "installFailedDueToUnknownError",
    );
    check(ErrorReason::Scp03tSecurityError, 8, "scp03tSecurityError");
    check(BppCommandId::ConfigureIsdp, 1, "configureISDP");
    check(BppCommandId::StoreMetadata2, 3, "storeMetadata2");
    check(AuthenticateErrorCode::CiPkUnknown, 7, "ciPKUnknown");
    check(AuthenticateClientError::CiPkUnknown, 9, "ciPKUnknown");
    check(
        InitiateAuthenticationError::CiPkNotSupported,
        3,
        "ciPKNotSupported",
    );
    check(
        InitiateAuthenticationError::EuiccVersionNotSupportedByDp,
        2,
        "euiccVersionNotSupportedByDp",
    );
    check(LoadCrlError::InvalidCrlFormat, 2, "invalidCRLFormat");
    check(EuiccCategory::Basic, 1, "basicEuicc");
    check(EuiccCategory::Contactless, 3, "contactlessEuicc");
    check(
        EnableResult::ProfileNotInDisabledState,
        2,
        "profileNotInDisabledState",
    );
    check(DisableResult::CatBusy, 5, "catBusy");
    check(
        GetBoundProfilePackageError::InvalidTransactionId,
        95,
        "invalidTransactionId",
    );
    check(CancelSessionReason::EndUserRejection, 0, "endUserRejection");
    check(CancelSessionReason::UndefinedReason, 127, "undefinedReason");
    check(ProfileClass::Operational, 2, "operational");
    check(ProfileState::Enabled, 1, "enabled");
    check(IconType::Png, 1, "png");
    check(
        RemoteOpId::InstallBoundProfilePackage,
        1,
        "installBoundProfilePackage",
    );
}

#[test]
fn unknown_named_number_has_no_name_and_displays_its_value() {
    let unknown = ErrorReason::from_code(99);
    assert_eq!(unknown, ErrorReason::Unknown(99));
    assert_eq!(unknown.name(), None);
    assert_eq!(unknown.to_string(), "unknown(99)");
    assert_eq!(
        ErrorReason::from_code(12).to_string(),
        "installFailedDueToPEProcessingError"
    );
}
