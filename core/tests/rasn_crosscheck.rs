//! Independent cross-check of `lpa_core`'s DER codec against rasn 0.30.
//!
//! Module [`asn`] below is a separate transcription of the SGP.22 v2.5 ASN.1 module
//! `RSPDefinitions` (Annex H) with rasn's derive macros; it shares no code with
//! `lpa_core::messages`. The module is `AUTOMATIC TAGS EXTENSIBILITY IMPLIED`, and the
//! transcription applies X.680's tagging rules as follows:
//! - tags are IMPLICIT by default (the module's tag default is AUTOMATIC);
//! - a SEQUENCE or CHOICE none of whose components carries a textual tag gets automatic tags
//!   `[0]`, `[1]`, ... (X.680 §25.3, and the same rule for CHOICE): those are declared
//!   `#[rasn(automatic_tags)]`, so rasn applies the rule itself (EnableProfileRequest,
//!   CancelSessionRequest, OperatorId, DpProprietaryData, ErrorResult, the `[45] CHOICE`
//!   responses...);
//! - a SEQUENCE with at least one textually tagged component gets no automatic tags, and its
//!   untagged components keep their own tags (`iccid Iccid` stays `5A`, `notificationAddress
//!   UTF8String` stays `0C`, `ccRequiredFlag BOOLEAN` stays `01`);
//! - a tag on a CHOICE is always EXPLICIT (X.680 §31.2.7): the `[45] CHOICE` responses, the
//!   `[0]` searchCriteria, the `[2]` finalResult and automatic tags on CHOICE components
//!   (profileIdentifier becomes `A0 { 5A ... }`). The fields are written as the module writes
//!   them (`[0]`, no EXPLICIT) and rasn adds the explicit wrapper by itself;
//! - a tag on a SEQUENCE type replaces its universal tag (`[32] SEQUENCE` is `BF20`,
//!   `[PRIVATE 3] SEQUENCE` is `E3`, `[6] IMPLICIT ControlRefTemplate` is `A6`).
//!
//! The `*_match_rasn`/`*_matches_rasn*` tests encode the same values with both codecs, compare the bytes, and
//! decode each codec's bytes with the other one. Differences are collected by [`CrossCheck`]
//! and compared with the list of known ones, each marked `KNOWN MISMATCH` where it is built.
//!
//! The `rasn_rejects_*` tests show why `lpa_core` has its own decoder: newer (SGP.22 v3)
//! eUICCs and servers add elements to these SEQUENCEs, and rasn's BER/DER decoders fail on any
//! element the Rust type does not declare, even for types marked extensible, while
//! `lpa_core`'s decoders skip it and return the known fields.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Debug;

use lpa_core::der::{BitString as DerBits, Decode, Encode, ObjectIdentifier as DerOid};
use lpa_core::ids::{Eid, Iccid};
use lpa_core::messages::*;
use lpa_core::tlv::{Tag, Tlv, TlvWriter, tlv_len};
use rasn::types::{BitString, ObjectIdentifier, OctetString};

/// SGP.22 v2.5 `RSPDefinitions`, transcribed for rasn.
mod asn {
    use rasn::prelude::*;

    /// `VersionType ::= OCTET STRING(SIZE(3))`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(delegate, size(3))]
    pub struct VersionType(pub OctetString);

    /// `Iccid ::= [APPLICATION 26] OCTET STRING (SIZE(10))`, tag `5A`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(delegate, tag(application, 26), size(10))]
    pub struct Iccid(pub OctetString);

    /// `RemoteOpId ::= [2] INTEGER {installBoundProfilePackage(1)}`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(delegate, tag(context, 2))]
    pub struct RemoteOpId(pub i64);

    /// `SubjectKeyIdentifier` (PKIX1Implicit88): `KeyIdentifier ::= OCTET STRING`.
    pub type SubjectKeyIdentifier = OctetString;

    /// `EUICCInfo1 ::= [32] SEQUENCE` (tag `BF20`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 32))]
    pub struct EuiccInfo1 {
        #[rasn(tag(context, 2))]
        pub svn: VersionType,
        #[rasn(tag(context, 9))]
        pub euicc_ci_pkid_list_for_verification: SequenceOf<SubjectKeyIdentifier>,
        #[rasn(tag(context, 10))]
        pub euicc_ci_pkid_list_for_signing: SequenceOf<SubjectKeyIdentifier>,
    }

    /// EUICCInfo1 marked extensible the rasn 0.30 way. `#[rasn(extensible)]` is not a
    /// container attribute in rasn 0.30 (the derive fails with "unknown input provided:
    /// extensible"); an extension marker `...` is expressed with `#[non_exhaustive]`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 32))]
    #[non_exhaustive]
    pub struct EuiccInfo1Extensible {
        #[rasn(tag(context, 2))]
        pub svn: VersionType,
        #[rasn(tag(context, 9))]
        pub euicc_ci_pkid_list_for_verification: SequenceOf<SubjectKeyIdentifier>,
        #[rasn(tag(context, 10))]
        pub euicc_ci_pkid_list_for_signing: SequenceOf<SubjectKeyIdentifier>,
    }

    /// EUICCInfo1, extensible, with one extension addition declared: what rasn needs to read
    /// a newer peer's element (the element has to be known in advance).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 32))]
    #[non_exhaustive]
    pub struct EuiccInfo1WithAddition {
        #[rasn(tag(context, 2))]
        pub svn: VersionType,
        #[rasn(tag(context, 9))]
        pub euicc_ci_pkid_list_for_verification: SequenceOf<SubjectKeyIdentifier>,
        #[rasn(tag(context, 10))]
        pub euicc_ci_pkid_list_for_signing: SequenceOf<SubjectKeyIdentifier>,
        #[rasn(extension_addition, tag(context, 16))]
        pub v3_addition: Option<SequenceOf<SubjectKeyIdentifier>>,
    }

    /// searchCriteria of ProfileInfoListRequest: its alternatives carry textual tags, so no
    /// automatic tags.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(choice)]
    pub enum SearchCriteria {
        #[rasn(tag(application, 15))]
        IsdpAid(OctetString),
        Iccid(Iccid),
        #[rasn(tag(context, 21))]
        ProfileClass(i64),
    }

    /// `ProfileInfoListRequest ::= [45] SEQUENCE` (tag `BF2D`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 45))]
    pub struct ProfileInfoListRequest {
        /// `searchCriteria [0] CHOICE {...} OPTIONAL`: a tagged CHOICE, explicit.
        #[rasn(tag(context, 0))]
        pub search_criteria: Option<SearchCriteria>,
        #[rasn(tag(application, 28))]
        pub tag_list: Option<OctetString>,
    }

    /// `OperatorId ::= SEQUENCE` (automatic tags `80 81 82`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(automatic_tags)]
    pub struct OperatorId {
        pub mcc_mnc: OctetString,
        pub gid1: Option<OctetString>,
        pub gid2: Option<OctetString>,
    }

    /// `NotificationConfigurationInformation ::= SEQUENCE` (automatic tags `80 81`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(automatic_tags)]
    pub struct NotificationConfigurationInformation {
        /// `NotificationEvent ::= BIT STRING {...}`.
        pub profile_management_operation: BitString,
        pub notification_address: Utf8String,
    }

    /// `DpProprietaryData ::= SEQUENCE { dpOid OBJECT IDENTIFIER }`: no textual tag, so
    /// automatic tags apply and dpOid is `[0] IMPLICIT OBJECT IDENTIFIER` (`80`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(automatic_tags)]
    pub struct DpProprietaryData {
        pub dp_oid: ObjectIdentifier,
    }

    /// The anonymous `refDo [PRIVATE 1] SEQUENCE {...}` of RefArDo.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    pub struct RefDo {
        #[rasn(tag(private, 1))]
        pub device_app_id_ref_do: OctetString,
        #[rasn(tag(private, 10))]
        pub pkg_ref_do: Option<OctetString>,
    }

    /// The anonymous `arDo [PRIVATE 3] SEQUENCE {...}` of RefArDo.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    pub struct ArDo {
        #[rasn(tag(private, 27))]
        pub perm_ar_do: OctetString,
    }

    /// `RefArDo ::= [PRIVATE 2] SEQUENCE` (tag `E2`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(private, 2))]
    pub struct RefArDo {
        #[rasn(tag(private, 1))]
        pub ref_do: RefDo,
        #[rasn(tag(private, 3))]
        pub ar_do: ArDo,
    }

    /// `ProfileInfo ::= [PRIVATE 3] SEQUENCE` (tag `E3`), all elements.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(private, 3))]
    pub struct ProfileInfo {
        pub iccid: Option<Iccid>,
        #[rasn(tag(application, 15))]
        pub isdp_aid: Option<OctetString>,
        #[rasn(tag(context, 112))]
        pub profile_state: Option<i64>,
        #[rasn(tag(context, 16))]
        pub profile_nickname: Option<Utf8String>,
        #[rasn(tag(context, 17))]
        pub service_provider_name: Option<Utf8String>,
        #[rasn(tag(context, 18))]
        pub profile_name: Option<Utf8String>,
        #[rasn(tag(context, 19))]
        pub icon_type: Option<i64>,
        #[rasn(tag(context, 20))]
        pub icon: Option<OctetString>,
        #[rasn(tag(context, 21))]
        pub profile_class: Option<i64>,
        #[rasn(tag(context, 22))]
        pub notification_configuration_info:
            Option<SequenceOf<NotificationConfigurationInformation>>,
        #[rasn(tag(context, 23))]
        pub profile_owner: Option<OperatorId>,
        #[rasn(tag(context, 24))]
        pub dp_proprietary_data: Option<DpProprietaryData>,
        /// `PprIds ::= BIT STRING {...}`.
        #[rasn(tag(context, 25))]
        pub profile_policy_rules: Option<BitString>,
        #[rasn(tag(context, 118))]
        pub ref_ar_do: Option<SequenceOf<RefArDo>>,
    }

    /// ProfileInfo marked extensible (`#[non_exhaustive]`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(private, 3))]
    #[non_exhaustive]
    pub struct ProfileInfoExtensible {
        pub iccid: Option<Iccid>,
        #[rasn(tag(application, 15))]
        pub isdp_aid: Option<OctetString>,
        #[rasn(tag(context, 112))]
        pub profile_state: Option<i64>,
        #[rasn(tag(context, 16))]
        pub profile_nickname: Option<Utf8String>,
        #[rasn(tag(context, 17))]
        pub service_provider_name: Option<Utf8String>,
        #[rasn(tag(context, 18))]
        pub profile_name: Option<Utf8String>,
        #[rasn(tag(context, 21))]
        pub profile_class: Option<i64>,
        #[rasn(tag(context, 25))]
        pub profile_policy_rules: Option<BitString>,
    }

    /// `ProfileInfoListResponse ::= [45] CHOICE` (tag `BF2D`, explicit), automatic tags.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(choice, automatic_tags, tag(explicit(context, 45)))]
    pub enum ProfileInfoListResponse {
        ProfileInfoListOk(SequenceOf<ProfileInfo>),
        ProfileInfoListError(i64),
    }

    /// profileIdentifier of EnableProfileRequest.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(choice)]
    pub enum ProfileIdentifier {
        #[rasn(tag(application, 15))]
        IsdpAid(OctetString),
        Iccid(Iccid),
    }

    /// `EnableProfileRequest ::= [49] SEQUENCE` (tag `BF31`): no textual tags, so automatic:
    /// `[0]` on the CHOICE (explicit), `[1]` on the BOOLEAN.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 49), automatic_tags)]
    pub struct EnableProfileRequest {
        pub profile_identifier: ProfileIdentifier,
        pub refresh_flag: bool,
    }

    /// `EnableProfileResponse ::= [49] SEQUENCE` (tag `BF31`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 49), automatic_tags)]
    pub struct EnableProfileResponse {
        pub enable_result: i64,
    }

    /// `DeleteProfileRequest ::= [51] CHOICE` (tag `BF33`, explicit).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(choice, tag(explicit(context, 51)))]
    pub enum DeleteProfileRequest {
        #[rasn(tag(application, 15))]
        IsdpAid(OctetString),
        Iccid(Iccid),
    }

    /// `SetNicknameRequest ::= [41] SEQUENCE` (tag `BF29`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 41))]
    pub struct SetNicknameRequest {
        pub iccid: Iccid,
        #[rasn(tag(context, 16))]
        pub profile_nickname: Utf8String,
    }

    /// `NotificationMetadata ::= [47] SEQUENCE` (tag `BF2F`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 47))]
    pub struct NotificationMetadata {
        #[rasn(tag(context, 0))]
        pub seq_number: i64,
        #[rasn(tag(context, 1))]
        pub profile_management_operation: BitString,
        pub notification_address: Utf8String,
        pub iccid: Option<Iccid>,
    }

    /// NotificationMetadata marked extensible (`#[non_exhaustive]`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 47))]
    #[non_exhaustive]
    pub struct NotificationMetadataExtensible {
        #[rasn(tag(context, 0))]
        pub seq_number: i64,
        #[rasn(tag(context, 1))]
        pub profile_management_operation: BitString,
        pub notification_address: Utf8String,
        pub iccid: Option<Iccid>,
    }

    /// `ListNotificationResponse ::= [40] CHOICE` (tag `BF28`, explicit), automatic tags.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(choice, automatic_tags, tag(explicit(context, 40)))]
    pub enum ListNotificationResponse {
        NotificationMetadataList(SequenceOf<NotificationMetadata>),
        ListNotificationsResultError(i64),
    }

    /// `NotificationSentRequest ::= [48] SEQUENCE` (tag `BF30`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 48))]
    pub struct NotificationSentRequest {
        #[rasn(tag(context, 0))]
        pub seq_number: i64,
    }

    /// `CancelSessionRequest ::= [65] SEQUENCE` (tag `BF41`), automatic tags.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 65), automatic_tags)]
    pub struct CancelSessionRequest {
        pub transaction_id: OctetString,
        pub reason: i64,
    }

    /// `EuiccConfiguredAddressesResponse ::= [60] SEQUENCE` (tag `BF3C`), automatic tags.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 60), automatic_tags)]
    pub struct EuiccConfiguredAddressesResponse {
        pub default_dp_address: Option<Utf8String>,
        pub root_ds_address: Utf8String,
    }

    /// `GetEuiccDataResponse ::= [62] SEQUENCE` (tag `BF3E`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 62))]
    pub struct GetEuiccDataResponse {
        #[rasn(tag(application, 26), size(16))]
        pub eid_value: OctetString,
    }

    /// `ServerSigned1 ::= SEQUENCE`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    pub struct ServerSigned1 {
        #[rasn(tag(context, 0))]
        pub transaction_id: OctetString,
        #[rasn(tag(context, 1))]
        pub euicc_challenge: OctetString,
        #[rasn(tag(context, 3))]
        pub server_address: Utf8String,
        #[rasn(tag(context, 4))]
        pub server_challenge: OctetString,
    }

    /// `SmdpSigned2 ::= SEQUENCE`: textually tagged, so ccRequiredFlag stays `01`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    pub struct SmdpSigned2 {
        #[rasn(tag(context, 0))]
        pub transaction_id: OctetString,
        pub cc_required_flag: bool,
        #[rasn(tag(application, 73))]
        pub bpp_euicc_otpk: Option<OctetString>,
    }

    /// `operational(2)`, the DEFAULT of StoreMetadataRequest.profileClass.
    pub fn operational() -> i64 {
        2
    }

    /// `StoreMetadataRequest ::= [37] SEQUENCE` (tag `BF25`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 37))]
    pub struct StoreMetadataRequest {
        pub iccid: Iccid,
        #[rasn(tag(context, 17))]
        pub service_provider_name: Utf8String,
        #[rasn(tag(context, 18))]
        pub profile_name: Utf8String,
        #[rasn(tag(context, 19))]
        pub icon_type: Option<i64>,
        #[rasn(tag(context, 20))]
        pub icon: Option<OctetString>,
        /// `profileClass [21] ProfileClass DEFAULT operational`.
        #[rasn(tag(context, 21), default = "operational")]
        pub profile_class: i64,
        #[rasn(tag(context, 22))]
        pub notification_configuration_info:
            Option<SequenceOf<NotificationConfigurationInformation>>,
        #[rasn(tag(context, 23))]
        pub profile_owner: Option<OperatorId>,
        #[rasn(tag(context, 25))]
        pub profile_policy_rules: Option<BitString>,
    }

    /// `ControlRefTemplate ::= SEQUENCE`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    pub struct ControlRefTemplate {
        #[rasn(tag(context, 0))]
        pub key_type: OctetString,
        #[rasn(tag(context, 1))]
        pub key_len: OctetString,
        #[rasn(tag(context, 4))]
        pub host_id: OctetString,
    }

    /// `InitialiseSecureChannelRequest ::= [35] SEQUENCE` (tag `BF23`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 35))]
    pub struct InitialiseSecureChannelRequest {
        pub remote_op_id: RemoteOpId,
        #[rasn(tag(context, 0))]
        pub transaction_id: OctetString,
        /// `controlRefTemplate [6] IMPLICIT ControlRefTemplate` (tag `A6`).
        #[rasn(tag(context, 6))]
        pub control_ref_template: ControlRefTemplate,
        #[rasn(tag(application, 73))]
        pub smdp_otpk: OctetString,
        #[rasn(tag(application, 55))]
        pub smdp_sign: OctetString,
    }

    /// `SuccessResult ::= SEQUENCE`: textually tagged, so simaResponse stays `04`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    pub struct SuccessResult {
        #[rasn(tag(application, 15))]
        pub aid: OctetString,
        pub sima_response: OctetString,
    }

    /// `ErrorResult ::= SEQUENCE`, automatic tags `80 81 82`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(automatic_tags)]
    pub struct ErrorResult {
        pub bpp_command_id: i64,
        pub error_reason: i64,
        pub sima_response: Option<OctetString>,
    }

    /// finalResult of ProfileInstallationResultData: automatic tags `A0`/`A1`.
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(choice, automatic_tags)]
    pub enum FinalResult {
        SuccessResult(SuccessResult),
        ErrorResult(ErrorResult),
    }

    /// `ProfileInstallationResultData ::= [39] SEQUENCE` (tag `BF27`).
    #[derive(AsnType, Encode, Decode, Clone, Debug, PartialEq)]
    #[rasn(tag(context, 39))]
    pub struct ProfileInstallationResultData {
        #[rasn(tag(context, 0))]
        pub transaction_id: OctetString,
        #[rasn(tag(context, 47))]
        pub notification_metadata: NotificationMetadata,
        pub smdp_oid: ObjectIdentifier,
        /// `finalResult [2] CHOICE {...}`: a tagged CHOICE, explicit (`A2`).
        #[rasn(tag(context, 2))]
        pub final_result: FinalResult,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One value both codecs encode differently.
#[derive(Debug, PartialEq, Eq)]
struct Mismatch {
    case: String,
    ours: String,
    rasn: String,
    /// Whether `lpa_core` decodes rasn's bytes to the same value.
    ours_reads_rasn: bool,
    /// Whether rasn decodes `lpa_core`'s bytes to the same value.
    rasn_reads_ours: bool,
}

/// Encodes values with both codecs and records where the bytes differ.
#[derive(Default)]
struct CrossCheck {
    cases: usize,
    mismatches: Vec<Mismatch>,
}

impl CrossCheck {
    /// Compares the DER of `r` (rasn) and `o` (lpa_core), which are the same SGP.22 value.
    /// Each codec must read its own bytes back; equal bytes must be read by the other codec
    /// too (rasn with both its DER and its BER decoder); unequal bytes are recorded.
    fn check<R, O>(&mut self, case: &str, r: &R, o: &O)
    where
        R: rasn::Encode + rasn::Decode + PartialEq + Debug,
        O: Encode + Decode + PartialEq + Debug,
    {
        self.cases += 1;
        let rasn_der =
            rasn::der::encode(r).unwrap_or_else(|e| panic!("{case}: rasn cannot encode: {e}"));
        let ours_der = o.to_der();
        assert_eq!(ours_der.len(), o.encoded_len(), "{case}: encoded_len");

        assert_eq!(
            &rasn::der::decode::<R>(&rasn_der)
                .unwrap_or_else(|e| panic!("{case}: rasn cannot read its own DER: {e}")),
            r,
            "{case}: rasn round trip"
        );
        assert_eq!(
            &O::from_der(&ours_der)
                .unwrap_or_else(|e| panic!("{case}: lpa_core cannot read its own DER: {e}")),
            o,
            "{case}: lpa_core round trip"
        );

        let ours_reads_rasn = O::from_der(&rasn_der).is_ok_and(|v| &v == o);
        let rasn_reads_ours = rasn::der::decode::<R>(&ours_der).is_ok_and(|v| &v == r);
        if ours_der == rasn_der {
            assert!(ours_reads_rasn, "{case}: lpa_core cannot read rasn's DER");
            assert!(
                rasn_reads_ours,
                "{case}: rasn (DER) cannot read lpa_core's DER"
            );
            assert_eq!(
                &rasn::ber::decode::<R>(&ours_der)
                    .unwrap_or_else(|e| panic!("{case}: rasn (BER) cannot read ours: {e}")),
                r,
                "{case}: rasn BER decode of lpa_core's DER"
            );
        } else {
            self.mismatches.push(Mismatch {
                case: case.to_owned(),
                ours: hex::encode_upper(&ours_der),
                rasn: hex::encode_upper(&rasn_der),
                ours_reads_rasn,
                rasn_reads_ours,
            });
        }
    }

    /// Asserts that the recorded mismatches are exactly the known ones.
    fn finish(self, known_mismatches: &[Mismatch]) {
        assert!(self.cases > 0, "no case was checked");
        assert_eq!(
            self.mismatches, known_mismatches,
            "encoding differences between lpa_core and rasn changed"
        );
    }
}

/// Bytes from hex with optional spaces.
fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn os(b: &[u8]) -> OctetString {
    OctetString::from_slice(b)
}

/// A rasn BIT STRING of `len` bits with `set` bits on.
fn rbits(len: usize, set: &[usize]) -> BitString {
    let mut b = BitString::repeat(false, len);
    for &i in set {
        b.set(i, true);
    }
    b
}

fn iccid1() -> Iccid {
    Iccid::from_digits("89444765000012241583").unwrap()
}

fn iccid2() -> Iccid {
    // 19 digits: padded with F.
    Iccid::from_digits("8988211000000123458").unwrap()
}

fn r_iccid(i: &Iccid) -> asn::Iccid {
    asn::Iccid(os(i.as_bytes()))
}

fn r_ver(v: [u8; 3]) -> asn::VersionType {
    asn::VersionType(os(&v))
}

fn r_oid(arcs: &[u32]) -> ObjectIdentifier {
    ObjectIdentifier::new(arcs.to_vec()).unwrap()
}

fn oid(dotted: &str) -> DerOid {
    DerOid::parse(dotted).unwrap()
}

/// `der` (one constructed element) with the whole TLVs `extra` inserted among its children
/// before child number `index` (at the end when `index` is past the last child).
fn insert_elements(der: &[u8], index: usize, extra: &[u8]) -> Vec<u8> {
    let outer = Tlv::parse(der).unwrap();
    let children: Vec<&[u8]> = outer.children().map(|c| c.unwrap().raw()).collect();
    let mut value = Vec::new();
    for (i, child) in children.iter().enumerate() {
        if i == index {
            value.extend_from_slice(extra);
        }
        value.extend_from_slice(child);
    }
    if index >= children.len() {
        value.extend_from_slice(extra);
    }
    let mut out = vec![0u8; tlv_len(outer.tag(), value.len())];
    TlvWriter::new(&mut out)
        .write_tlv(outer.tag(), &value)
        .unwrap();
    out
}

/// `outer { A0 { entries } }`: a `[n] CHOICE` response whose first alternative is a
/// `[0] SEQUENCE OF` (ProfileInfoListResponse, ListNotificationResponse).
fn response_list(outer: u32, entries: &[u8]) -> Vec<u8> {
    let inner_len = tlv_len(Tag(0xA0), entries.len());
    let mut out = vec![0u8; tlv_len(Tag(outer), inner_len)];
    let mut w = TlvWriter::new(&mut out);
    w.write_header(Tag(outer), inner_len).unwrap();
    w.write_tlv(Tag(0xA0), entries).unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Value pairs used by several tests
// ---------------------------------------------------------------------------------------------

fn euicc_info1_pair() -> (asn::EuiccInfo1, EuiccInfo1) {
    let k1 = h("F54172BDF98A95D65CBEB88A38A1C11D800A85C3");
    let k2 = h("C0BC70BA36929D43B467FF57570530E57AB8FCD8");
    (
        asn::EuiccInfo1 {
            svn: r_ver([2, 2, 0]),
            euicc_ci_pkid_list_for_verification: vec![os(&k1), os(&k2)],
            euicc_ci_pkid_list_for_signing: vec![os(&k1)],
        },
        EuiccInfo1 {
            svn: Version::new(2, 2, 0),
            euicc_ci_pkid_list_for_verification: vec![k1.clone(), k2],
            euicc_ci_pkid_list_for_signing: vec![k1],
        },
    )
}

/// A ProfileInfo as GetProfilesInfo returns it for the default tag list.
fn profile_info_typical() -> (asn::ProfileInfo, ProfileInfo) {
    (
        asn::ProfileInfo {
            iccid: Some(r_iccid(&iccid1())),
            isdp_aid: Some(os(&h("A0000005591010FFFFFFFF8900001100"))),
            profile_state: Some(1),
            profile_nickname: Some("Work".into()),
            service_provider_name: Some("Example Mobile".into()),
            profile_name: Some("Example 5G".into()),
            icon_type: None,
            icon: None,
            profile_class: Some(2),
            notification_configuration_info: None,
            profile_owner: None,
            dp_proprietary_data: None,
            // ppr1 only: 2 bits, DER `99 02 06 40`.
            profile_policy_rules: Some(rbits(2, &[1])),
            ref_ar_do: None,
        },
        ProfileInfo {
            iccid: Some(iccid1()),
            isdp_aid: Some(h("A0000005591010FFFFFFFF8900001100")),
            profile_state: Some(ProfileState::Enabled),
            profile_nickname: Some("Work".into()),
            service_provider_name: Some("Example Mobile".into()),
            profile_name: Some("Example 5G".into()),
            icon_type: None,
            icon: None,
            profile_class: Some(ProfileClass::Operational),
            notification_configuration_info: None,
            profile_owner: None,
            dp_proprietary_data: None,
            profile_policy_rules: Some(PprIds::from_bits(&[PprIds::PPR1])),
            ref_ar_do: None,
        },
    )
}

/// A ProfileInfo with every element but dpProprietaryData.
fn profile_info_full() -> (asn::ProfileInfo, ProfileInfo) {
    let cert_hash = h("AABBCCDDEEFF00112233445566778899AABBCCDD");
    let (mut r, mut o) = profile_info_typical();
    r.profile_nickname = Some("Büro ☎".into());
    o.profile_nickname = Some("Büro ☎".into());
    r.icon_type = Some(1);
    o.icon_type = Some(IconType::Png);
    r.icon = Some(os(&h("89504E470D0A1A0A")));
    o.icon = Some(h("89504E470D0A1A0A"));
    r.profile_state = Some(0);
    o.profile_state = Some(ProfileState::Disabled);
    r.notification_configuration_info = Some(vec![
        asn::NotificationConfigurationInformation {
            profile_management_operation: rbits(4, &[0, 3]),
            notification_address: "smdp.example.com".into(),
        },
        asn::NotificationConfigurationInformation {
            profile_management_operation: rbits(3, &[1, 2]),
            notification_address: "notify.example.com".into(),
        },
    ]);
    o.notification_configuration_info = Some(vec![
        NotificationConfigurationInformation {
            profile_management_operation: NotificationEvents::from_bits(&[
                NotificationEvents::INSTALL,
                NotificationEvents::DELETE,
            ]),
            notification_address: "smdp.example.com".into(),
        },
        NotificationConfigurationInformation {
            profile_management_operation: NotificationEvents::from_bits(&[
                NotificationEvents::ENABLE,
                NotificationEvents::DISABLE,
            ]),
            notification_address: "notify.example.com".into(),
        },
    ]);
    r.profile_owner = Some(asn::OperatorId {
        mcc_mnc: os(&h("131400")),
        gid1: Some(os(&h("FF"))),
        gid2: None,
    });
    o.profile_owner = Some(OperatorId {
        mcc_mnc: h("131400"),
        gid1: Some(h("FF")),
        gid2: None,
    });
    // pprUpdateControl and ppr2: 3 bits, DER `99 02 05 A0`.
    r.profile_policy_rules = Some(rbits(3, &[0, 2]));
    o.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::UPDATE_CONTROL, PprIds::PPR2]));
    r.ref_ar_do = Some(vec![asn::RefArDo {
        ref_do: asn::RefDo {
            device_app_id_ref_do: os(&cert_hash),
            pkg_ref_do: Some(os(b"com.example.app")),
        },
        ar_do: asn::ArDo {
            perm_ar_do: os(&h("0000000000000001")),
        },
    }]);
    o.ref_ar_do = Some(vec![RefArDo {
        ref_do: RefDo {
            device_app_id_ref_do: cert_hash,
            pkg_ref_do: Some(b"com.example.app".to_vec()),
        },
        ar_do: ArDo {
            perm_ar_do: h("0000000000000001"),
        },
    }]);
    (r, o)
}

fn profile_info_empty() -> (asn::ProfileInfo, ProfileInfo) {
    (
        asn::ProfileInfo {
            iccid: None,
            isdp_aid: None,
            profile_state: None,
            profile_nickname: None,
            service_provider_name: None,
            profile_name: None,
            icon_type: None,
            icon: None,
            profile_class: None,
            notification_configuration_info: None,
            profile_owner: None,
            dp_proprietary_data: None,
            profile_policy_rules: None,
            ref_ar_do: None,
        },
        ProfileInfo {
            iccid: None,
            isdp_aid: None,
            profile_state: None,
            profile_nickname: None,
            service_provider_name: None,
            profile_name: None,
            icon_type: None,
            icon: None,
            profile_class: None,
            notification_configuration_info: None,
            profile_owner: None,
            dp_proprietary_data: None,
            profile_policy_rules: None,
            ref_ar_do: None,
        },
    )
}

fn metadata(
    seq: u32,
    event: NotificationEvent,
    address: &str,
    iccid: Option<Iccid>,
) -> (asn::NotificationMetadata, NotificationMetadata) {
    let bit = event.bit();
    (
        asn::NotificationMetadata {
            seq_number: i64::from(seq),
            // DER of a named-bit BIT STRING: exactly up to the last set bit.
            profile_management_operation: rbits(bit + 1, &[bit]),
            notification_address: address.into(),
            iccid: iccid.as_ref().map(r_iccid),
        },
        NotificationMetadata {
            seq_number: seq,
            profile_management_operation: event,
            notification_address: address.into(),
            iccid,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Part 1: same value, same bytes
// ---------------------------------------------------------------------------------------------

#[test]
fn euicc_info1_matches_rasn() {
    let mut c = CrossCheck::default();
    let (r, o) = euicc_info1_pair();
    c.check("EUICCInfo1 two verification keys", &r, &o);
    assert_eq!(
        o.to_der(),
        h("BF20 4B 82 03 020200 \
           A9 2C 04 14 F54172BDF98A95D65CBEB88A38A1C11D800A85C3 \
                 04 14 C0BC70BA36929D43B467FF57570530E57AB8FCD8 \
           AA 16 04 14 F54172BDF98A95D65CBEB88A38A1C11D800A85C3")
    );

    let (mut r, mut o) = euicc_info1_pair();
    r.svn = r_ver([2, 5, 0]);
    o.svn = Version::new(2, 5, 0);
    r.euicc_ci_pkid_list_for_signing.clear();
    o.euicc_ci_pkid_list_for_signing.clear();
    c.check("EUICCInfo1 v2.5.0, empty signing list", &r, &o);

    r.euicc_ci_pkid_list_for_verification.clear();
    o.euicc_ci_pkid_list_for_verification.clear();
    c.check("EUICCInfo1 both lists empty", &r, &o);
    assert_eq!(o.to_der(), h("BF20 09 82 03 020500 A9 00 AA 00"));
    c.finish(&[]);
}

#[test]
fn profile_info_list_request_matches_rasn() {
    let mut c = CrossCheck::default();
    c.check(
        "ProfileInfoListRequest empty",
        &asn::ProfileInfoListRequest {
            search_criteria: None,
            tag_list: None,
        },
        &ProfileInfoListRequest {
            search_criteria: None,
            tag_list: None,
        },
    );
    let by_iccid = ProfileInfoListRequest {
        search_criteria: Some(ProfileSearchCriteria::Iccid(iccid1())),
        tag_list: Some(h("5A 9F70 90 91 92 95")),
    };
    c.check(
        "ProfileInfoListRequest by ICCID with tagList",
        &asn::ProfileInfoListRequest {
            search_criteria: Some(asn::SearchCriteria::Iccid(r_iccid(&iccid1()))),
            tag_list: Some(os(&h("5A 9F70 90 91 92 95"))),
        },
        &by_iccid,
    );
    // searchCriteria [0] CHOICE is explicit: A0 { 5A ... }.
    assert_eq!(
        by_iccid.to_der(),
        h("BF2D 17 A0 0C 5A 0A 98447456000021425138 5C 07 5A9F7090919295")
    );
    c.check(
        "ProfileInfoListRequest by ISD-P AID",
        &asn::ProfileInfoListRequest {
            search_criteria: Some(asn::SearchCriteria::IsdpAid(os(&h(
                "A0000005591010FFFFFFFF8900001100",
            )))),
            tag_list: None,
        },
        &ProfileInfoListRequest {
            search_criteria: Some(ProfileSearchCriteria::IsdpAid(h(
                "A0000005591010FFFFFFFF8900001100",
            ))),
            tag_list: None,
        },
    );
    for (class, code) in [
        (ProfileClass::Test, 0),
        (ProfileClass::Provisioning, 1),
        (ProfileClass::Unknown(300), 300),
    ] {
        c.check(
            &format!("ProfileInfoListRequest by profileClass {code}"),
            &asn::ProfileInfoListRequest {
                search_criteria: Some(asn::SearchCriteria::ProfileClass(code)),
                tag_list: None,
            },
            &ProfileInfoListRequest {
                search_criteria: Some(ProfileSearchCriteria::ProfileClass(class)),
                tag_list: None,
            },
        );
    }
    c.check(
        "ProfileInfoListRequest tagList only",
        &asn::ProfileInfoListRequest {
            search_criteria: None,
            tag_list: Some(os(&h("5A"))),
        },
        &ProfileInfoListRequest {
            search_criteria: None,
            tag_list: Some(h("5A")),
        },
    );
    c.finish(&[]);
}

#[test]
fn profile_info_matches_rasn() {
    let mut c = CrossCheck::default();
    let (r, o) = profile_info_empty();
    c.check("ProfileInfo empty", &r, &o);
    assert_eq!(o.to_der(), h("E3 00"));

    let (r, o) = profile_info_typical();
    c.check("ProfileInfo typical", &r, &o);

    let (r, o) = profile_info_full();
    c.check("ProfileInfo all elements but dpProprietaryData", &r, &o);

    // PPR BIT STRINGs: DER drops trailing zero bits (X.690 §11.2.2), so each value has its own
    // length; the empty set is `99 01 00`.
    for (bits, len) in [
        (vec![], 0),
        (vec![PprIds::UPDATE_CONTROL], 1),
        (vec![PprIds::PPR1], 2),
        (vec![PprIds::PPR2], 3),
        (vec![PprIds::PPR1, PprIds::PPR2], 3),
    ] {
        let (mut r, mut o) = profile_info_empty();
        r.iccid = Some(r_iccid(&iccid2()));
        o.iccid = Some(iccid2());
        r.profile_policy_rules = Some(rbits(len, &bits));
        o.profile_policy_rules = Some(PprIds::from_bits(&bits));
        c.check(&format!("ProfileInfo PPR bits {bits:?}"), &r, &o);
    }
    let (_, mut o) = profile_info_empty();
    o.profile_policy_rules = Some(PprIds::from_bits(&[]));
    assert_eq!(o.to_der(), h("E3 03 99 01 00"));
    o.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR1]));
    assert_eq!(o.to_der(), h("E3 04 99 02 06 40"));

    // DpProprietaryData ::= SEQUENCE { dpOid OBJECT IDENTIFIER } has no tagged component, so
    // AUTOMATIC TAGS makes dpOid [0] IMPLICIT: `B8 { 80 ... }`, not `B8 { 06 ... }`. (lpa_core
    // once wrote `06` here; a card's correct `80` then made the whole ProfileInfo undecodable.)
    let (mut r, mut o) = profile_info_empty();
    r.dp_proprietary_data = Some(asn::DpProprietaryData {
        dp_oid: r_oid(&[1, 3, 6, 1, 4, 1, 53460, 1]),
    });
    o.dp_proprietary_data = Some(DpProprietaryData {
        dp_oid: oid("1.3.6.1.4.1.53460.1"),
    });
    c.check("ProfileInfo with dpProprietaryData", &r, &o);
    assert_eq!(o.to_der(), h("E3 0D B8 0B 80 09 2B0601040183A15401"));

    c.finish(&[]);
}

#[test]
fn profile_info_list_response_matches_rasn() {
    let mut c = CrossCheck::default();
    c.check(
        "ProfileInfoListResponse empty list",
        &asn::ProfileInfoListResponse::ProfileInfoListOk(vec![]),
        &ProfileInfoListResponse::Ok(vec![]),
    );
    assert_eq!(
        ProfileInfoListResponse::Ok(vec![]).to_der(),
        h("BF2D 02 A0 00")
    );
    let (r1, o1) = profile_info_typical();
    let (r2, o2) = profile_info_full();
    c.check(
        "ProfileInfoListResponse two profiles",
        &asn::ProfileInfoListResponse::ProfileInfoListOk(vec![r1, r2]),
        &ProfileInfoListResponse::Ok(vec![o1, o2]),
    );
    for (e, code) in [
        (ProfileInfoListError::IncorrectInputValues, 1),
        (ProfileInfoListError::UndefinedError, 127),
    ] {
        c.check(
            &format!("ProfileInfoListResponse error {code}"),
            &asn::ProfileInfoListResponse::ProfileInfoListError(code),
            &ProfileInfoListResponse::Error(e),
        );
    }
    assert_eq!(
        ProfileInfoListResponse::Error(ProfileInfoListError::UndefinedError).to_der(),
        h("BF2D 03 81 01 7F")
    );
    c.finish(&[]);
}

#[test]
fn enable_profile_request_and_response_match_rasn() {
    let mut c = CrossCheck::default();
    let by_iccid = EnableProfileRequest {
        profile_identifier: ProfileIdentifier::Iccid(iccid1()),
        refresh_flag: true,
    };
    c.check(
        "EnableProfileRequest by ICCID, refresh",
        &asn::EnableProfileRequest {
            profile_identifier: asn::ProfileIdentifier::Iccid(r_iccid(&iccid1())),
            refresh_flag: true,
        },
        &by_iccid,
    );
    // Automatic tags: [0] on the CHOICE (explicit), [1] on the BOOLEAN.
    assert_eq!(
        by_iccid.to_der(),
        h("BF31 11 A0 0C 5A 0A 98447456000021425138 81 01 FF")
    );
    c.check(
        "EnableProfileRequest by AID, no refresh",
        &asn::EnableProfileRequest {
            profile_identifier: asn::ProfileIdentifier::IsdpAid(os(&h(
                "A0000005591010FFFFFFFF8900001200",
            ))),
            refresh_flag: false,
        },
        &EnableProfileRequest {
            profile_identifier: ProfileIdentifier::IsdpAid(h("A0000005591010FFFFFFFF8900001200")),
            refresh_flag: false,
        },
    );
    for (result, code) in [
        (EnableResult::Ok, 0),
        (EnableResult::ProfileNotInDisabledState, 2),
        (EnableResult::CatBusy, 5),
        (EnableResult::UndefinedError, 127),
        (EnableResult::Unknown(128), 128),
    ] {
        c.check(
            &format!("EnableProfileResponse {code}"),
            &asn::EnableProfileResponse {
                enable_result: code,
            },
            &EnableProfileResponse {
                enable_result: result,
            },
        );
    }
    assert_eq!(
        EnableProfileResponse {
            enable_result: EnableResult::Unknown(128)
        }
        .to_der(),
        h("BF31 04 80 02 0080")
    );
    c.finish(&[]);
}

#[test]
fn delete_profile_request_matches_rasn() {
    let mut c = CrossCheck::default();
    c.check(
        "DeleteProfileRequest by ICCID",
        &asn::DeleteProfileRequest::Iccid(r_iccid(&iccid2())),
        &DeleteProfileRequest::Iccid(iccid2()),
    );
    assert_eq!(
        DeleteProfileRequest::Iccid(iccid2()).to_der(),
        h("BF33 0C 5A 0A 98881201000010 3254F8")
    );
    c.check(
        "DeleteProfileRequest by AID",
        &asn::DeleteProfileRequest::IsdpAid(os(&h("A0000005591010FFFFFFFF8900001100"))),
        &DeleteProfileRequest::IsdpAid(h("A0000005591010FFFFFFFF8900001100")),
    );
    c.finish(&[]);
}

#[test]
fn set_nickname_request_matches_rasn() {
    let mut c = CrossCheck::default();
    for nickname in ["", "Work", "Büro ☎ 📱", &"x".repeat(64)] {
        c.check(
            &format!("SetNicknameRequest {nickname:?}"),
            &asn::SetNicknameRequest {
                iccid: r_iccid(&iccid1()),
                profile_nickname: nickname.into(),
            },
            &SetNicknameRequest {
                iccid: iccid1(),
                profile_nickname: nickname.into(),
            },
        );
    }
    c.finish(&[]);
}

#[test]
fn notification_metadata_and_list_notification_response_match_rasn() {
    let mut c = CrossCheck::default();
    let cases = [
        (
            0,
            NotificationEvent::Install,
            "smdp.example.com",
            Some(iccid1()),
        ),
        (
            1,
            NotificationEvent::Enable,
            "smdp.example.com",
            Some(iccid2()),
        ),
        (127, NotificationEvent::Disable, "a.example", None),
        (
            128,
            NotificationEvent::Delete,
            "smdp.example.com",
            Some(iccid1()),
        ),
        (65_536, NotificationEvent::Delete, "", None),
        (u32::MAX, NotificationEvent::Unknown(9), "x.example", None),
    ];
    let mut all_r = Vec::new();
    let mut all_o = Vec::new();
    for (seq, event, address, iccid) in cases {
        let (r, o) = metadata(seq, event, address, iccid);
        c.check(&format!("NotificationMetadata {seq} {event}"), &r, &o);
        all_r.push(r);
        all_o.push(o);
    }
    // notificationDelete(3): 4 bits, `81 02 04 10`; seqNumber 128 needs a sign octet.
    let (_, o) = metadata(128, NotificationEvent::Delete, "a", None);
    assert_eq!(o.to_der(), h("BF2F 0B 80 02 0080 81 02 0410 0C 01 61"));

    c.check(
        "ListNotificationResponse empty",
        &asn::ListNotificationResponse::NotificationMetadataList(vec![]),
        &ListNotificationResponse::Ok(vec![]),
    );
    c.check(
        "ListNotificationResponse six notifications",
        &asn::ListNotificationResponse::NotificationMetadataList(all_r),
        &ListNotificationResponse::Ok(all_o),
    );
    c.check(
        "ListNotificationResponse error",
        &asn::ListNotificationResponse::ListNotificationsResultError(127),
        &ListNotificationResponse::Error(ListNotificationError::UndefinedError),
    );
    c.finish(&[]);
}

#[test]
fn notification_sent_request_matches_rasn() {
    let mut c = CrossCheck::default();
    for seq in [0u32, 1, 127, 128, 255, 256, 32_767, 32_768, u32::MAX] {
        c.check(
            &format!("NotificationSentRequest {seq}"),
            &asn::NotificationSentRequest {
                seq_number: i64::from(seq),
            },
            &NotificationSentRequest { seq_number: seq },
        );
    }
    assert_eq!(
        NotificationSentRequest {
            seq_number: u32::MAX
        }
        .to_der(),
        h("BF30 07 80 05 00FFFFFFFF")
    );
    c.finish(&[]);
}

#[test]
fn cancel_session_request_matches_rasn() {
    let mut c = CrossCheck::default();
    for (reason, code) in [
        (CancelSessionReason::EndUserRejection, 0),
        (CancelSessionReason::Postponed, 1),
        (CancelSessionReason::Timeout, 2),
        (CancelSessionReason::PprNotAllowed, 3),
        (CancelSessionReason::LoadBppExecutionError, 5),
        (CancelSessionReason::UndefinedReason, 127),
    ] {
        c.check(
            &format!("CancelSessionRequest reason {code}"),
            &asn::CancelSessionRequest {
                transaction_id: os(&h("0123456789ABCDEF0123456789ABCDEF")),
                reason: code,
            },
            &CancelSessionRequest {
                transaction_id: h("0123456789ABCDEF0123456789ABCDEF"),
                reason,
            },
        );
    }
    c.check(
        "CancelSessionRequest one-octet transactionId",
        &asn::CancelSessionRequest {
            transaction_id: os(&[0x01]),
            reason: 2,
        },
        &CancelSessionRequest {
            transaction_id: vec![0x01],
            reason: CancelSessionReason::Timeout,
        },
    );
    assert_eq!(
        CancelSessionRequest {
            transaction_id: vec![0x01],
            reason: CancelSessionReason::Timeout,
        }
        .to_der(),
        h("BF41 06 80 01 01 81 01 02")
    );
    c.finish(&[]);
}

#[test]
fn euicc_configured_addresses_response_matches_rasn() {
    let mut c = CrossCheck::default();
    c.check(
        "EuiccConfiguredAddressesResponse both",
        &asn::EuiccConfiguredAddressesResponse {
            default_dp_address: Some("smdp.example.com".into()),
            root_ds_address: "lpa.ds.gsma.com".into(),
        },
        &EuiccConfiguredAddressesResponse {
            default_dp_address: Some("smdp.example.com".into()),
            root_ds_address: "lpa.ds.gsma.com".into(),
        },
    );
    c.check(
        "EuiccConfiguredAddressesResponse root only",
        &asn::EuiccConfiguredAddressesResponse {
            default_dp_address: None,
            root_ds_address: "lpa.ds.gsma.com".into(),
        },
        &EuiccConfiguredAddressesResponse {
            default_dp_address: None,
            root_ds_address: "lpa.ds.gsma.com".into(),
        },
    );
    c.check(
        "EuiccConfiguredAddressesResponse empty default",
        &asn::EuiccConfiguredAddressesResponse {
            default_dp_address: Some(String::new()),
            root_ds_address: String::new(),
        },
        &EuiccConfiguredAddressesResponse {
            default_dp_address: Some(String::new()),
            root_ds_address: String::new(),
        },
    );
    c.finish(&[]);
}

#[test]
fn get_euicc_data_response_matches_rasn() {
    let mut c = CrossCheck::default();
    let eid_bytes = h("89049032123451234512345678901235");
    let eid = Eid::from_bytes_unchecked(&eid_bytes).unwrap();
    c.check(
        "GetEuiccDataResponse",
        &asn::GetEuiccDataResponse {
            eid_value: os(&eid_bytes),
        },
        &GetEuiccDataResponse { eid_value: eid },
    );
    assert_eq!(
        GetEuiccDataResponse { eid_value: eid }.to_der(),
        h("BF3E 12 5A 10 89049032123451234512345678901235")
    );
    c.finish(&[]);
}

#[test]
fn server_signed1_and_smdp_signed2_match_rasn() {
    let mut c = CrossCheck::default();
    let tid = h("C4A3F2F0F7F84A20A2BEDB1DCE1C0F4E");
    c.check(
        "ServerSigned1",
        &asn::ServerSigned1 {
            transaction_id: os(&tid),
            euicc_challenge: os(&h("000102030405060708090A0B0C0D0E0F")),
            server_address: "smdp.example.com".into(),
            server_challenge: os(&h("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF")),
        },
        &ServerSigned1 {
            transaction_id: tid.clone(),
            euicc_challenge: h("000102030405060708090A0B0C0D0E0F"),
            server_address: "smdp.example.com".into(),
            server_challenge: h("F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"),
        },
    );
    let otpk = h("04").into_iter().chain([0x11; 64]).collect::<Vec<u8>>();
    for (cc, bpp) in [
        (false, None),
        (true, None),
        (false, Some(otpk.clone())),
        (true, Some(otpk)),
    ] {
        c.check(
            &format!(
                "SmdpSigned2 cc {cc} bppEuiccOtpk {}",
                if bpp.is_some() { "present" } else { "absent" }
            ),
            &asn::SmdpSigned2 {
                transaction_id: os(&tid),
                cc_required_flag: cc,
                bpp_euicc_otpk: bpp.as_deref().map(os),
            },
            &SmdpSigned2 {
                transaction_id: tid.clone(),
                cc_required_flag: cc,
                bpp_euicc_otpk: bpp,
            },
        );
    }
    // ccRequiredFlag keeps its universal tag (the SEQUENCE has textual tags).
    assert_eq!(
        SmdpSigned2 {
            transaction_id: vec![0xAB],
            cc_required_flag: true,
            bpp_euicc_otpk: None,
        }
        .to_der(),
        h("30 06 80 01 AB 01 01 FF")
    );
    c.finish(&[]);
}

#[test]
fn store_metadata_request_matches_rasn_including_the_default_class() {
    let mut c = CrossCheck::default();
    let minimal = |class_r: i64, class_o: ProfileClass| {
        (
            asn::StoreMetadataRequest {
                iccid: r_iccid(&iccid1()),
                service_provider_name: "Example Mobile".into(),
                profile_name: "Example 5G".into(),
                icon_type: None,
                icon: None,
                profile_class: class_r,
                notification_configuration_info: None,
                profile_owner: None,
                profile_policy_rules: None,
            },
            StoreMetadataRequest {
                iccid: iccid1(),
                service_provider_name: "Example Mobile".into(),
                profile_name: "Example 5G".into(),
                icon_type: None,
                icon: None,
                profile_class: class_o,
                notification_configuration_info: None,
                profile_owner: None,
                profile_policy_rules: None,
            },
        )
    };
    // DEFAULT operational, absent in DER (X.690 §11.5). This case found a bug: lpa_core used
    // to write `95 01 02` for an explicit operational class; rasn omitted it, as DER requires.
    let (r, o) = minimal(2, ProfileClass::Operational);
    c.check(
        "StoreMetadataRequest operational class (DEFAULT, omitted)",
        &r,
        &o,
    );
    assert!(!o.to_der().windows(3).any(|w| w == [0x95, 0x01, 0x02]));
    let (r, o) = minimal(0, ProfileClass::Test);
    c.check("StoreMetadataRequest test class", &r, &o);
    let (r, o) = minimal(1, ProfileClass::Provisioning);
    c.check("StoreMetadataRequest provisioning class", &r, &o);

    let (mut r, mut o) = minimal(0, ProfileClass::Test);
    r.icon_type = Some(0);
    o.icon_type = Some(IconType::Jpg);
    r.icon = Some(os(&h("FFD8FFE000104A464946")));
    o.icon = Some(h("FFD8FFE000104A464946"));
    r.notification_configuration_info = Some(vec![asn::NotificationConfigurationInformation {
        profile_management_operation: rbits(1, &[0]),
        notification_address: "smdp.example.com".into(),
    }]);
    o.notification_configuration_info = Some(vec![NotificationConfigurationInformation {
        profile_management_operation: NotificationEvents::from_bits(&[NotificationEvents::INSTALL]),
        notification_address: "smdp.example.com".into(),
    }]);
    r.profile_owner = Some(asn::OperatorId {
        mcc_mnc: os(&h("21F354")),
        gid1: Some(os(&h("0102"))),
        gid2: Some(os(&h("03"))),
    });
    o.profile_owner = Some(OperatorId {
        mcc_mnc: h("21F354"),
        gid1: Some(h("0102")),
        gid2: Some(h("03")),
    });
    r.profile_policy_rules = Some(rbits(3, &[1, 2]));
    o.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR1, PprIds::PPR2]));
    c.check("StoreMetadataRequest all elements", &r, &o);

    c.finish(&[]);
}

#[test]
fn initialise_secure_channel_request_matches_rasn() {
    let mut c = CrossCheck::default();
    let crt = |host: &[u8]| {
        (
            asn::ControlRefTemplate {
                key_type: os(&[0x88]),
                key_len: os(&[0x10]),
                host_id: os(host),
            },
            ControlRefTemplate {
                key_type: vec![0x88],
                key_len: vec![0x10],
                host_id: host.to_vec(),
            },
        )
    };
    let (r, o) = crt(b"SMDP-HOST-ID");
    c.check("ControlRefTemplate", &r, &o);
    assert_eq!(
        crt(&[0x01]).1.to_der(),
        h("30 09 80 01 88 81 01 10 84 01 01")
    );

    for host in [&b"SMDP-HOST-ID"[..], &[0x01][..], &[0xAA; 16][..]] {
        let (rc, oc) = crt(host);
        c.check(
            &format!(
                "InitialiseSecureChannelRequest host id {} octets",
                host.len()
            ),
            &asn::InitialiseSecureChannelRequest {
                remote_op_id: asn::RemoteOpId(1),
                transaction_id: os(&h("0102030405060708")),
                control_ref_template: rc,
                smdp_otpk: os(&[0x04; 65]),
                smdp_sign: os(&[0x5A; 64]),
            },
            &InitialiseSecureChannelRequest {
                remote_op_id: RemoteOpId::InstallBoundProfilePackage,
                transaction_id: h("0102030405060708"),
                control_ref_template: oc,
                smdp_otpk: vec![0x04; 65],
                smdp_sign: vec![0x5A; 64],
            },
        );
    }
    let (_, oc) = crt(&[0x01]);
    let der = InitialiseSecureChannelRequest {
        remote_op_id: RemoteOpId::InstallBoundProfilePackage,
        transaction_id: vec![0x07],
        control_ref_template: oc,
        smdp_otpk: vec![0x04],
        smdp_sign: vec![0x05],
    }
    .to_der();
    // RemoteOpId is `82`, the CRT is `[6] IMPLICIT` (`A6`), then `5F49` and `5F37`.
    assert_eq!(
        der,
        h("BF23 19 82 01 01 80 01 07 A6 09 800188 810110 840101 5F49 01 04 5F37 01 05")
    );
    c.finish(&[]);
}

#[test]
fn profile_installation_result_data_matches_rasn() {
    let mut c = CrossCheck::default();
    let tid = h("0123456789ABCDEF0123456789ABCDEF");
    let result = |final_r: asn::FinalResult, final_o: FinalResult| {
        let (rm, om) = metadata(
            7,
            NotificationEvent::Install,
            "smdp.example.com",
            Some(iccid1()),
        );
        (
            asn::ProfileInstallationResultData {
                transaction_id: os(&tid),
                notification_metadata: rm,
                smdp_oid: r_oid(&[2, 999, 10]),
                final_result: final_r,
            },
            ProfileInstallationResultData {
                transaction_id: tid.clone(),
                notification_metadata: om,
                smdp_oid: oid("2.999.10"),
                final_result: final_o,
            },
        )
    };
    let (r, o) = result(
        asn::FinalResult::SuccessResult(asn::SuccessResult {
            aid: os(&h("A0000005591010FFFFFFFF8900001100")),
            sima_response: os(&h("3007A00530038001 00")),
        }),
        FinalResult::Success(SuccessResult {
            aid: h("A0000005591010FFFFFFFF8900001100"),
            sima_response: h("3007A00530038001 00"),
        }),
    );
    c.check("ProfileInstallationResultData success", &r, &o);
    for (cmd, reason, sima, cmd_o, reason_o) in [
        (
            1,
            8,
            None,
            BppCommandId::ConfigureIsdp,
            ErrorReason::Scp03tSecurityError,
        ),
        (
            5,
            12,
            Some(h("3007A00530038001 01")),
            BppCommandId::LoadProfileElements,
            ErrorReason::PeProcessingError,
        ),
        (
            0,
            127,
            None,
            BppCommandId::InitialiseSecureChannel,
            ErrorReason::UnknownError,
        ),
    ] {
        let (r, o) = result(
            asn::FinalResult::ErrorResult(asn::ErrorResult {
                bpp_command_id: cmd,
                error_reason: reason,
                sima_response: sima.as_deref().map(os),
            }),
            FinalResult::Error(ErrorResult {
                bpp_command_id: cmd_o,
                error_reason: reason_o,
                sima_response: sima,
            }),
        );
        c.check(
            &format!("ProfileInstallationResultData error {cmd}/{reason}"),
            &r,
            &o,
        );
    }
    // The tail of an error result: finalResult [2] is explicit around the CHOICE, whose
    // errorResult alternative is automatic [1] IMPLICIT SEQUENCE: `A2 { A1 { 80 81 } }`.
    let (_, o) = result(
        asn::FinalResult::ErrorResult(asn::ErrorResult {
            bpp_command_id: 1,
            error_reason: 8,
            sima_response: None,
        }),
        FinalResult::Error(ErrorResult {
            bpp_command_id: BppCommandId::ConfigureIsdp,
            error_reason: ErrorReason::Scp03tSecurityError,
            sima_response: None,
        }),
    );
    assert!(
        o.to_der()
            .ends_with(&h("06 03 8837 0A A2 08 A1 06 80 01 01 81 01 08"))
    );
    c.finish(&[]);
}

#[test]
fn named_bit_strings_lpa_core_drops_trailing_zeros_rasn_encodes_what_it_is_given() {
    // lpa_core's named-bit types trim to the last set bit (X.690 §11.2.2) and agree with rasn
    // given the trimmed bits.
    let ours = NotificationEvent::Install.to_der();
    assert_eq!(ours, h("03 02 07 80"));
    assert_eq!(rasn::der::encode(&rbits(1, &[0])).unwrap(), ours);
    assert_eq!(
        PprIds::from_bits(&[PprIds::PPR1]).to_der(),
        rasn::der::encode(&rbits(2, &[1])).unwrap()
    );

    // rasn's BitString has no named-bit list, so its DER encoder keeps every bit it is given:
    // a whole octet with trailing zeros is written as such (valid DER for a plain BIT STRING,
    // not for a named-bit one). The caller must trim.
    let padded = rbits(8, &[0]);
    assert_eq!(rasn::der::encode(&padded).unwrap(), h("03 02 00 80"));
    assert_eq!(
        rasn::der::encode(&rbits(8, &[])).unwrap(),
        h("03 02 00 00"),
        "all-zero octet kept by rasn"
    );
    assert_eq!(rasn::der::encode(&rbits(0, &[])).unwrap(), h("03 01 00"));
    // lpa_core's raw constructor is not normalised either: only `from_bits` is.
    assert_eq!(DerBits::from_raw(vec![0x80], 0).to_der(), h("03 02 00 80"));
    assert_eq!(DerBits::from_bits(&[0]).to_der(), h("03 02 07 80"));

    // Both decoders read the untrimmed form, and mean the same bits by it.
    assert_eq!(
        NotificationEvent::from_der(&h("03 02 00 80")).unwrap(),
        NotificationEvent::Install
    );
    assert_eq!(
        PprIds::from_der(&h("03 02 00 40"))
            .unwrap()
            .0
            .set_bits()
            .collect::<Vec<_>>(),
        [PprIds::PPR1]
    );
    assert_eq!(
        rasn::der::decode::<BitString>(&h("03 02 00 80")).unwrap(),
        padded
    );
    assert_eq!(
        rasn::der::decode::<BitString>(&h("03 02 07 80")).unwrap(),
        rbits(1, &[0])
    );
    // A NotificationMetadata with the padded form, as a lenient card might send it.
    let (mut r, o) = metadata(3, NotificationEvent::Enable, "a.example", None);
    r.profile_management_operation = rbits(8, &[1]);
    let lenient = rasn::der::encode(&r).unwrap();
    assert_eq!(
        lenient,
        h("BF2F 12 80 01 03 81 02 00 40 0C 09 612E6578616D706C65")
    );
    assert_ne!(lenient, o.to_der());
    assert_eq!(NotificationMetadata::from_der(&lenient).unwrap(), o);
}

// ---------------------------------------------------------------------------------------------
// Part 2: unknown elements (SGP.22 v3 peers): rasn fails, lpa_core skips them
// ---------------------------------------------------------------------------------------------

/// What rasn 0.30 reports when a SEQUENCE holds an element after the last one it could match:
/// its constructed-value decoder requires the contents to be used up exactly.
const EXTRA_DATA: &str = "Unexpected extra data";

/// Asserts that rasn's DER and BER decoders both refuse `bytes` as `T`, with an error whose
/// message contains `why`.
fn rasn_refuses<T: rasn::Decode + Debug>(what: &str, bytes: &[u8], why: &str) {
    for (codec, result) in [
        ("BER", rasn::ber::decode::<T>(bytes)),
        ("DER", rasn::der::decode::<T>(bytes)),
    ] {
        match result {
            Ok(v) => panic!("{what}: rasn {codec} unexpectedly accepted: {v:?}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(why), "{what}: rasn {codec} error {msg:?}");
            }
        }
    }
}

#[test]
fn rasn_rejects_euicc_info1_with_v3_element_appended_lpa_core_skips_it() {
    let (r, o) = euicc_info1_pair();
    let base = o.to_der();
    assert_eq!(base, rasn::der::encode(&r).unwrap());
    // A v3-style addition after the known elements: [16] SEQUENCE OF SubjectKeyIdentifier.
    let v3 = insert_elements(&base, 3, &h("B0 06 04 04 11223344"));
    assert_eq!(&v3[..3], &h("BF20 53")[..]);
    assert_eq!(&v3[3..base.len()], &base[3..]);
    assert!(v3.ends_with(&h("B0 06 04 04 11223344")));

    rasn_refuses::<asn::EuiccInfo1>("EUICCInfo1 + [16]", &v3, EXTRA_DATA);
    // Marked extensible (`#[non_exhaustive]`), rasn still refuses: its BER/DER decoder does
    // not skip unknown extension additions...
    rasn_refuses::<asn::EuiccInfo1Extensible>("extensible EUICCInfo1 + [16]", &v3, EXTRA_DATA);
    // ... although the extensible type reads the v2 encoding.
    assert!(rasn::der::decode::<asn::EuiccInfo1Extensible>(&base).is_ok());

    assert_eq!(EuiccInfo1::from_der(&v3).unwrap(), o);

    // A second addition, a [19] VersionType (v3's highestSvn), after the first.
    let v3b = insert_elements(&v3, 4, &h("93 03 030100"));
    rasn_refuses::<asn::EuiccInfo1>("EUICCInfo1 + [16] + [19]", &v3b, EXTRA_DATA);
    assert_eq!(EuiccInfo1::from_der(&v3b).unwrap(), o);
}

#[test]
fn rasn_rejects_euicc_info1_with_element_inserted_in_the_middle_lpa_core_skips_it() {
    let (r, o) = euicc_info1_pair();
    let base = rasn::der::encode(&r).unwrap();
    // [8] BIT STRING between svn and the (mandatory) verification list: rasn expects [9] next.
    let middle = insert_elements(&base, 1, &h("88 02 07 80"));
    let want = "euicc_ci_pkid_list_for_verification";
    rasn_refuses::<asn::EuiccInfo1>("EUICCInfo1 with [8] after svn", &middle, want);
    rasn_refuses::<asn::EuiccInfo1Extensible>("extensible EUICCInfo1, [8]", &middle, want);
    assert_eq!(EuiccInfo1::from_der(&middle).unwrap(), o);
}

#[test]
fn rasn_reads_only_the_extension_additions_it_declares() {
    let (r, o) = euicc_info1_pair();
    let base = rasn::der::encode(&r).unwrap();
    let with16 = insert_elements(&base, 3, &h("B0 06 04 04 11223344"));
    // Declaring the v3 element as an extension addition makes rasn read that one...
    let got = rasn::der::decode::<asn::EuiccInfo1WithAddition>(&with16).unwrap();
    assert_eq!(got.v3_addition, Some(vec![os(&h("11223344"))]));
    assert_eq!(got.svn, r.svn);
    assert_eq!(
        got.euicc_ci_pkid_list_for_verification,
        r.euicc_ci_pkid_list_for_verification
    );
    // ... but any other unknown element still fails, alone or after the declared one.
    let with19 = insert_elements(&base, 3, &h("93 03 030100"));
    rasn_refuses::<asn::EuiccInfo1WithAddition>("EUICCInfo1 + [19]", &with19, EXTRA_DATA);
    let both = insert_elements(&with16, 4, &h("93 03 030100"));
    rasn_refuses::<asn::EuiccInfo1WithAddition>("EUICCInfo1 + [16] + [19]", &both, EXTRA_DATA);
    // lpa_core, knowing neither, reads all three.
    for bytes in [&with16, &with19, &both] {
        assert_eq!(EuiccInfo1::from_der(bytes).unwrap(), o);
    }
}

#[test]
fn rasn_rejects_profile_info_with_unknown_9f71_between_fields_lpa_core_skips_it() {
    let (r, o) = profile_info_typical();
    let base = rasn::der::encode(&r).unwrap();
    assert_eq!(base, o.to_der());
    // Children: 5A, 4F, 9F70, 90, ...: put `9F71 01 AA` after profileState.
    let bytes = insert_elements(&base, 3, &h("9F71 01 AA"));
    let state_then_unknown = h("9F70 01 01 9F71 01 AA 90 04");
    assert!(
        bytes
            .windows(state_then_unknown.len())
            .any(|w| w == state_then_unknown)
    );

    // rasn tries each remaining OPTIONAL element against `9F71`, finds none, and then reports
    // everything from `9F71` on (nickname, names, class, PPRs: 45 bytes) as extra data.
    let extra_from_9f71 = format!("{EXTRA_DATA} found: length `45` bytes");
    rasn_refuses::<asn::ProfileInfo>("ProfileInfo with 9F71", &bytes, &extra_from_9f71);
    rasn_refuses::<asn::ProfileInfoExtensible>(
        "extensible ProfileInfo with 9F71",
        &bytes,
        &extra_from_9f71,
    );
    assert_eq!(ProfileInfo::from_der(&bytes).unwrap(), o);

    // The same element at the end.
    let end = insert_elements(&base, usize::MAX, &h("9F71 01 AA"));
    rasn_refuses::<asn::ProfileInfo>("ProfileInfo + 9F71", &end, EXTRA_DATA);
    rasn_refuses::<asn::ProfileInfoExtensible>("extensible ProfileInfo + 9F71", &end, EXTRA_DATA);
    assert_eq!(ProfileInfo::from_der(&end).unwrap(), o);

    // In a GetProfilesInfo answer, one such profile costs rasn the whole list.
    let (r2, o2) = profile_info_full();
    let plain = ProfileInfoListResponse::Ok(vec![o2.clone()]).to_der();
    assert_eq!(
        rasn::der::decode::<asn::ProfileInfoListResponse>(&plain).unwrap(),
        asn::ProfileInfoListResponse::ProfileInfoListOk(vec![r2.clone()])
    );
    let mut entries = bytes.clone();
    entries.extend_from_slice(&rasn::der::encode(&r2).unwrap());
    let list = response_list(0xBF2D, &entries);
    rasn_refuses::<asn::ProfileInfoListResponse>("ProfileInfoListResponse", &list, EXTRA_DATA);
    assert_eq!(
        ProfileInfoListResponse::from_der(&list).unwrap(),
        ProfileInfoListResponse::Ok(vec![o, o2])
    );
}

#[test]
fn rasn_rejects_notification_metadata_with_extra_elements_lpa_core_skips_them() {
    let (r, o) = metadata(
        5,
        NotificationEvent::Delete,
        "smdp.example.com",
        Some(iccid1()),
    );
    let base = rasn::der::encode(&r).unwrap();
    assert_eq!(base, o.to_der());

    // At the end (after iccid).
    let end = insert_elements(&base, 4, &h("85 01 01"));
    rasn_refuses::<asn::NotificationMetadata>("NotificationMetadata + [5]", &end, EXTRA_DATA);
    rasn_refuses::<asn::NotificationMetadataExtensible>(
        "extensible NotificationMetadata + [5]",
        &end,
        EXTRA_DATA,
    );
    assert_eq!(NotificationMetadata::from_der(&end).unwrap(), o);

    // Between notificationAddress and the OPTIONAL iccid: rasn takes iccid as absent and then
    // finds `85 01 01` and the iccid (15 bytes) left over.
    let before_iccid = insert_elements(&base, 3, &h("85 01 01"));
    rasn_refuses::<asn::NotificationMetadata>(
        "NotificationMetadata, [5] before iccid",
        &before_iccid,
        &format!("{EXTRA_DATA} found: length `15` bytes"),
    );
    assert_eq!(NotificationMetadata::from_der(&before_iccid).unwrap(), o);

    // Between the two mandatory leading elements: rasn expects [1] and finds [32].
    let after_seq = insert_elements(&base, 1, &h("9F20 02 0102"));
    let want = "profile_management_operation";
    rasn_refuses::<asn::NotificationMetadata>("[32] after seqNumber", &after_seq, want);
    rasn_refuses::<asn::NotificationMetadataExtensible>(
        "extensible, [32] after seqNumber",
        &after_seq,
        want,
    );
    assert_eq!(NotificationMetadata::from_der(&after_seq).unwrap(), o);

    // Inside a ListNotificationResponse, one such entry costs rasn the whole list.
    let (r2, o2) = metadata(6, NotificationEvent::Enable, "smdp.example.com", None);
    let plain = response_list(
        0xBF28,
        &[base.clone(), rasn::der::encode(&r2).unwrap()].concat(),
    );
    assert_eq!(
        plain,
        ListNotificationResponse::Ok(vec![o.clone(), o2.clone()]).to_der()
    );
    assert!(rasn::der::decode::<asn::ListNotificationResponse>(&plain).is_ok());
    let list = response_list(
        0xBF28,
        &[end.clone(), rasn::der::encode(&r2).unwrap()].concat(),
    );
    rasn_refuses::<asn::ListNotificationResponse>("ListNotificationResponse", &list, EXTRA_DATA);
    assert_eq!(
        ListNotificationResponse::from_der(&list).unwrap(),
        ListNotificationResponse::Ok(vec![o, o2])
    );
}
