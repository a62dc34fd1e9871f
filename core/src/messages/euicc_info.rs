//! ES10b GetEUICCInfo, GetEUICCChallenge, ES10c GetEID, and DeviceInfo (SGP.22 §5.7.8,
//! §5.7.9, §5.7.20, §4.2).

use alloc::string::String;
use alloc::vec::Vec;

use super::common::{PprIds, Version, named_bits};
use crate::der::{BitString, der_int_enum, der_sequence};
use crate::ids::Eid;
use crate::tlv::{Tag, TlvReader};

der_sequence! {
    /// `GetEuiccInfo1Request` (tag `BF20`): no content.
    pub struct GetEuiccInfo1Request: 0xBF20 {}
}

der_sequence! {
    /// `EUICCInfo1` (tag `BF20`): what the SM-DP+ needs to pick a CI and a protocol version.
    pub struct EuiccInfo1: 0xBF20 {
        /// SGP.22 version the eUICC supports.
        pub svn: Version => req implicit 0x82,
        /// CI key identifiers the eUICC can verify signatures with.
        pub euicc_ci_pkid_list_for_verification: Vec<u8> => req seq_of 0xA9,
        /// CI key identifiers whose chains the eUICC can sign with.
        pub euicc_ci_pkid_list_for_signing: Vec<u8> => req seq_of 0xAA,
    }
}

der_sequence! {
    /// `GetEuiccInfo2Request` (tag `BF22`): no content.
    pub struct GetEuiccInfo2Request: 0xBF22 {}
}

named_bits! {
    /// `UICCCapability`: the SIMalliance services the eUICC supports.
    pub struct UiccCapability {
        /// contactlessSupport.
        CONTACTLESS = 0,
        /// usimSupport.
        USIM = 1,
        /// isimSupport.
        ISIM = 2,
        /// csimSupport.
        CSIM = 3,
        /// akaMilenage.
        AKA_MILENAGE = 4,
        /// akaCave.
        AKA_CAVE = 5,
        /// akaTuak128.
        AKA_TUAK128 = 6,
        /// akaTuak256.
        AKA_TUAK256 = 7,
        /// gbaAuthenUsim.
        GBA_AUTHEN_USIM = 10,
        /// gbaAuthenISim.
        GBA_AUTHEN_ISIM = 11,
        /// mbmsAuthenUsim.
        MBMS_AUTHEN_USIM = 12,
        /// eapClient.
        EAP_CLIENT = 13,
        /// javacard.
        JAVACARD = 14,
        /// multos.
        MULTOS = 15,
        /// multipleUsimSupport.
        MULTIPLE_USIM = 16,
        /// multipleIsimSupport.
        MULTIPLE_ISIM = 17,
        /// multipleCsimSupport.
        MULTIPLE_CSIM = 18,
        /// berTlvFileSupport.
        BER_TLV_FILE = 19,
        /// dfLinkSupport.
        DF_LINK = 20,
        /// catTp.
        CAT_TP = 21,
        /// getIdentity.
        GET_IDENTITY = 22,
        /// profile-a-x25519 (SUCI ECIES profile A).
        PROFILE_A_X25519 = 23,
        /// profile-b-p256 (SUCI ECIES profile B).
        PROFILE_B_P256 = 24,
        /// suciCalculatorApi.
        SUCI_CALCULATOR_API = 25,
    }
}

named_bits! {
    /// `RspCapability`.
    pub struct RspCapability {
        /// additionalProfile: at least one more profile can be installed.
        ADDITIONAL_PROFILE = 0,
        /// crlSupport.
        CRL_SUPPORT = 1,
        /// rpmSupport (Remote Profile Management).
        RPM_SUPPORT = 2,
        /// testProfileSupport.
        TEST_PROFILE_SUPPORT = 3,
        /// deviceInfoExtensibilitySupport.
        DEVICE_INFO_EXTENSIBILITY = 4,
    }
}

der_int_enum! {
    /// `euiccCategory` of EUICCInfo2.
    pub enum EuiccCategory {
        /// other.
        Other = 0 => "other",
        /// basicEuicc.
        Basic = 1 => "basicEuicc",
        /// mediumEuicc.
        Medium = 2 => "mediumEuicc",
        /// contactlessEuicc.
        Contactless = 3 => "contactlessEuicc",
    }
}

der_sequence! {
    /// `CertificationDataObject` (tag `AC` in EUICCInfo2): GlobalPlatform DLOA data.
    pub struct CertificationDataObject: 0x30 {
        /// Platform_Label.
        pub platform_label: String => req implicit 0x80,
        /// Discovery Base URL of the DLOA registrar.
        pub discovery_base_url: String => req implicit 0x81,
    }
}

der_sequence! {
    /// `EUICCInfo2` (tag `BF22`): the eUICC's versions, capabilities and CI keys.
    /// Fields up to `certificationDataObject` are SGP.22 v2.2; `treProperties`,
    /// `treProductReference` and `additionalEuiccProfilePackageVersions` arrived in v2.4/v2.5.
    pub struct EuiccInfo2: 0xBF22 {
        /// SIMalliance profile package version.
        pub profile_version: Version => req implicit 0x81,
        /// SGP.22 version.
        pub svn: Version => req implicit 0x82,
        /// eUICC firmware version.
        pub euicc_firmware_ver: Version => req implicit 0x83,
        /// Extended card resource information (ETSI TS 102 226 §8.2.1.7.2); see
        /// [`EuiccInfo2::ext_card_resource_info`].
        pub ext_card_resource: Vec<u8> => req implicit 0x84,
        /// UICC capabilities.
        pub uicc_capability: UiccCapability => req implicit 0x85,
        /// ETSI TS 102 241 version.
        pub ts102241_version: Version => opt implicit 0x86,
        /// GlobalPlatform version.
        pub globalplatform_version: Version => opt implicit 0x87,
        /// RSP capabilities.
        pub rsp_capability: RspCapability => req implicit 0x88,
        /// CI key identifiers for verification.
        pub euicc_ci_pkid_list_for_verification: Vec<u8> => req seq_of 0xA9,
        /// CI key identifiers for signing.
        pub euicc_ci_pkid_list_for_signing: Vec<u8> => req seq_of 0xAA,
        /// eUICC category.
        pub euicc_category: EuiccCategory => opt implicit 0x8B,
        /// Profile policy rules this eUICC refuses.
        pub forbidden_profile_policy_rules: PprIds => opt implicit 0x99,
        /// Protection Profile version.
        pub pp_version: Version => req natural,
        /// SAS accreditation number of the production site.
        pub sas_accreditation_number: String => req natural,
        /// DLOA certification data.
        pub certification_data_object: CertificationDataObject => opt implicit 0xAC,
        /// TRE properties (v2.4+).
        pub tre_properties: BitString => opt implicit 0x8D,
        /// TRE product reference (v2.4+).
        pub tre_product_reference: String => opt implicit 0x8E,
        /// Further supported profile package versions (v2.4+).
        pub additional_euicc_profile_package_versions: Version => opt seq_of 0xAF,
    }
}

/// The parts of ETSI TS 102 226 §8.2.1.7.2 "Extended Card Resources Information" an LPA
/// shows: how many applications are installed and how much memory is free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtCardResource {
    /// Number of installed applications (tag `81`).
    pub installed_applications: Option<u32>,
    /// Free non-volatile memory in bytes (tag `82`).
    pub free_non_volatile_memory: Option<u32>,
    /// Free volatile memory in bytes (tag `83`).
    pub free_volatile_memory: Option<u32>,
}

impl EuiccInfo2 {
    /// Decodes `extCardResource`; unknown or oversized entries are skipped.
    pub fn ext_card_resource_info(&self) -> ExtCardResource {
        let mut out = ExtCardResource::default();
        for tlv in TlvReader::new(&self.ext_card_resource).flatten() {
            let v = tlv.value();
            if v.is_empty() || v.len() > 4 {
                continue;
            }
            let n = v.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
            match tlv.tag() {
                Tag(0x81) => out.installed_applications = Some(n),
                Tag(0x82) => out.free_non_volatile_memory = Some(n),
                Tag(0x83) => out.free_volatile_memory = Some(n),
                _ => {}
            }
        }
        out
    }
}

der_sequence! {
    /// `DeviceCapabilities`: the highest release of each radio/feature the device supports.
    pub struct DeviceCapabilities: 0x30 {
        /// GSM.
        pub gsm_supported_release: Version => opt implicit 0x80,
        /// UTRAN.
        pub utran_supported_release: Version => opt implicit 0x81,
        /// CDMA2000 1x.
        pub cdma2000onex_supported_release: Version => opt implicit 0x82,
        /// CDMA2000 HRPD.
        pub cdma2000hrpd_supported_release: Version => opt implicit 0x83,
        /// CDMA2000 eHRPD.
        pub cdma2000ehrpd_supported_release: Version => opt implicit 0x84,
        /// E-UTRAN with EPC.
        pub eutran_epc_supported_release: Version => opt implicit 0x85,
        /// Contactless.
        pub contactless_supported_release: Version => opt implicit 0x86,
        /// RSP CRL version.
        pub rsp_crl_supported_version: Version => opt implicit 0x87,
        /// NR with EPC.
        pub nr_epc_supported_release: Version => opt implicit 0x88,
        /// NR with 5GC.
        pub nr_5gc_supported_release: Version => opt implicit 0x89,
        /// E-UTRAN with 5GC.
        pub eutran_5gc_supported_release: Version => opt implicit 0x8A,
    }
}

/// No capability declared: every release absent. Set the ones the device supports.
impl Default for DeviceCapabilities {
    fn default() -> Self {
        DeviceCapabilities {
            gsm_supported_release: None,
            utran_supported_release: None,
            cdma2000onex_supported_release: None,
            cdma2000hrpd_supported_release: None,
            cdma2000ehrpd_supported_release: None,
            eutran_epc_supported_release: None,
            contactless_supported_release: None,
            rsp_crl_supported_version: None,
            nr_epc_supported_release: None,
            nr_5gc_supported_release: None,
            eutran_5gc_supported_release: None,
        }
    }
}

der_sequence! {
    /// `DeviceInfo`: TAC, capabilities and optionally IMEI (SGP.22 §4.2, in ctxParams1).
    pub struct DeviceInfo: 0x30 {
        /// Type Allocation Code, the first 8 IMEI digits as 4 octets.
        pub tac: Vec<u8> => req implicit 0x80,
        /// Device capabilities.
        pub device_capabilities: DeviceCapabilities => req implicit 0xA1,
        /// IMEI, 8 octets.
        pub imei: Vec<u8> => opt implicit 0x82,
    }
}

der_sequence! {
    /// `GetEuiccChallengeRequest` (tag `BF2E`): no content.
    pub struct GetEuiccChallengeRequest: 0xBF2E {}
}

der_sequence! {
    /// `GetEuiccChallengeResponse` (tag `BF2E`).
    pub struct GetEuiccChallengeResponse: 0xBF2E {
        /// 16 random octets.
        pub euicc_challenge: Vec<u8> => req implicit 0x80,
    }
}

der_sequence! {
    /// `GetEuiccDataRequest` (tag `BF3E`): the LPA asks for tag `5A`, the EID.
    pub struct GetEuiccDataRequest: 0xBF3E {
        /// Tags asked for; SGP.22 §5.7.20 fixes it to `5A`.
        pub tag_list: Vec<u8> => req implicit 0x5C,
    }
}

impl GetEuiccDataRequest {
    /// The request for the EID: `BF3E 03 5C 01 5A`.
    pub fn eid() -> Self {
        GetEuiccDataRequest {
            tag_list: alloc::vec![0x5A],
        }
    }
}

der_sequence! {
    /// `GetEuiccDataResponse` (tag `BF3E`).
    pub struct GetEuiccDataResponse: 0xBF3E {
        /// The EID.
        pub eid_value: Eid => req natural,
    }
}
