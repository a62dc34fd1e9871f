//! ES10c local profile management (SGP.22 §5.7.15 GetProfilesInfo, §5.7.16 EnableProfile,
//! §5.7.17 DisableProfile, §5.7.18 DeleteProfile, §5.7.19 eUICCMemoryReset, §5.7.21
//! SetNickname), ES10a addresses (§5.7.3, §5.7.4), GetRAT (§5.7.22) and ES10b LoadCRL
//! (§5.7.7).

use alloc::string::String;
use alloc::vec::Vec;

use super::common::{
    DpProprietaryData, IconType, NotificationConfigurationInformation, OperatorId, PprIds,
    ProfileClass, ProfileState, named_bits,
};
use crate::der::{CertificateList, der_choice, der_int_enum, der_sequence};
use crate::ids::Iccid;

der_choice! {
    /// searchCriteria of ProfileInfoListRequest.
    pub enum ProfileSearchCriteria {
        /// By ISD-P AID (`4F`).
        IsdpAid(Vec<u8>) => implicit 0x4F,
        /// By ICCID (`5A`).
        Iccid(Iccid) => natural,
        /// By profile class (`95`).
        ProfileClass(ProfileClass) => implicit 0x95,
    }
}

der_sequence! {
    /// `ProfileInfoListRequest` (tag `BF2D`).
    pub struct ProfileInfoListRequest: 0xBF2D {
        /// Which profiles; all when absent.
        pub search_criteria: ProfileSearchCriteria => opt explicit 0xA0,
        /// Which ProfileInfo elements to return (a concatenation of tags), e.g. `5A 9F70 90`.
        pub tag_list: Vec<u8> => opt implicit 0x5C,
    }
}

der_sequence! {
    /// `RefDo` of a RefArDo (tag `E1`).
    pub struct RefDo: 0xE1 {
        /// Hash of the app's signing certificate (`C1`).
        pub device_app_id_ref_do: Vec<u8> => req implicit 0xC1,
        /// Package name (`CA`).
        pub pkg_ref_do: Vec<u8> => opt implicit 0xCA,
    }
}

der_sequence! {
    /// `ArDo` of a RefArDo (tag `E3`).
    pub struct ArDo: 0xE3 {
        /// Permissions (`DB`, 8 octets).
        pub perm_ar_do: Vec<u8> => req implicit 0xDB,
    }
}

der_sequence! {
    /// `RefArDo` (tag `E2`): carrier privilege rules of the profile.
    pub struct RefArDo: 0xE2 {
        /// Which app.
        pub ref_do: RefDo => req natural,
        /// What it may do.
        pub ar_do: ArDo => req natural,
    }
}

der_sequence! {
    /// `ProfileInfo` (tag `E3`). Every element is optional: the card returns what the
    /// request's tagList asked for.
    pub struct ProfileInfo: 0xE3 {
        /// ICCID (`5A`).
        pub iccid: Iccid => opt natural,
        /// ISD-P AID (`4F`).
        pub isdp_aid: Vec<u8> => opt implicit 0x4F,
        /// Enabled or disabled (`9F70`).
        pub profile_state: ProfileState => opt implicit 0x9F70,
        /// The user's nickname (`90`).
        pub profile_nickname: String => opt implicit 0x90,
        /// Service provider name (`91`).
        pub service_provider_name: String => opt implicit 0x91,
        /// Profile name (`92`).
        pub profile_name: String => opt implicit 0x92,
        /// Icon format (`93`).
        pub icon_type: IconType => opt implicit 0x93,
        /// Icon (`94`).
        pub icon: Vec<u8> => opt implicit 0x94,
        /// Profile class (`95`).
        pub profile_class: ProfileClass => opt implicit 0x95,
        /// Notification configuration (`B6`).
        pub notification_configuration_info: NotificationConfigurationInformation => opt seq_of 0xB6,
        /// Profile owner (`B7`).
        pub profile_owner: OperatorId => opt implicit 0xB7,
        /// SM-DP+ proprietary data (`B8`).
        pub dp_proprietary_data: DpProprietaryData => opt implicit 0xB8,
        /// Profile policy rules (`99`).
        pub profile_policy_rules: PprIds => opt implicit 0x99,
        /// Access rules (`BF76`).
        pub ref_ar_do: RefArDo => opt seq_of 0xBF76,
    }
}

der_int_enum! {
    /// `ProfileInfoListError`.
    pub enum ProfileInfoListError {
        /// incorrectInputValues.
        IncorrectInputValues = 1 => "incorrectInputValues",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `ProfileInfoListResponse` (tag `BF2D`).
    pub enum ProfileInfoListResponse: explicit(0xBF2D) {
        /// profileInfoListOk (`A0`).
        Ok(ProfileInfo) => seq_of 0xA0,
        /// profileInfoListError (`81`).
        Error(ProfileInfoListError) => implicit 0x81,
    }
}

der_choice! {
    /// profileIdentifier of Enable/DisableProfileRequest.
    pub enum ProfileIdentifier {
        /// By ISD-P AID (`4F`).
        IsdpAid(Vec<u8>) => implicit 0x4F,
        /// By ICCID (`5A`).
        Iccid(Iccid) => natural,
    }
}

der_sequence! {
    /// `EnableProfileRequest` (tag `BF31`).
    pub struct EnableProfileRequest: 0xBF31 {
        /// Which profile.
        pub profile_identifier: ProfileIdentifier => req explicit 0xA0,
        /// Whether the card should issue a REFRESH proactive command.
        pub refresh_flag: bool => req implicit 0x81,
    }
}

der_int_enum! {
    /// enableResult.
    pub enum EnableResult {
        /// ok.
        Ok = 0 => "ok",
        /// iccidOrAidNotFound.
        IccidOrAidNotFound = 1 => "iccidOrAidNotFound",
        /// profileNotInDisabledState.
        ProfileNotInDisabledState = 2 => "profileNotInDisabledState",
        /// disallowedByPolicy.
        DisallowedByPolicy = 3 => "disallowedByPolicy",
        /// wrongProfileReenabling.
        WrongProfileReenabling = 4 => "wrongProfileReenabling",
        /// catBusy.
        CatBusy = 5 => "catBusy",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `EnableProfileResponse` (tag `BF31`).
    pub struct EnableProfileResponse: 0xBF31 {
        /// Result.
        pub enable_result: EnableResult => req implicit 0x80,
    }
}

der_sequence! {
    /// `DisableProfileRequest` (tag `BF32`).
    pub struct DisableProfileRequest: 0xBF32 {
        /// Which profile.
        pub profile_identifier: ProfileIdentifier => req explicit 0xA0,
        /// Whether the card should issue a REFRESH proactive command.
        pub refresh_flag: bool => req implicit 0x81,
    }
}

der_int_enum! {
    /// disableResult.
    pub enum DisableResult {
        /// ok.
        Ok = 0 => "ok",
        /// iccidOrAidNotFound.
        IccidOrAidNotFound = 1 => "iccidOrAidNotFound",
        /// profileNotInEnabledState.
        ProfileNotInEnabledState = 2 => "profileNotInEnabledState",
        /// disallowedByPolicy.
        DisallowedByPolicy = 3 => "disallowedByPolicy",
        /// catBusy.
        CatBusy = 5 => "catBusy",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `DisableProfileResponse` (tag `BF32`).
    pub struct DisableProfileResponse: 0xBF32 {
        /// Result.
        pub disable_result: DisableResult => req implicit 0x80,
    }
}

der_choice! {
    /// `DeleteProfileRequest` (tag `BF33`).
    pub enum DeleteProfileRequest: explicit(0xBF33) {
        /// By ISD-P AID (`4F`).
        IsdpAid(Vec<u8>) => implicit 0x4F,
        /// By ICCID (`5A`).
        Iccid(Iccid) => natural,
    }
}

der_int_enum! {
    /// deleteResult.
    pub enum DeleteResult {
        /// ok.
        Ok = 0 => "ok",
        /// iccidOrAidNotFound.
        IccidOrAidNotFound = 1 => "iccidOrAidNotFound",
        /// profileNotInDisabledState.
        ProfileNotInDisabledState = 2 => "profileNotInDisabledState",
        /// disallowedByPolicy.
        DisallowedByPolicy = 3 => "disallowedByPolicy",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `DeleteProfileResponse` (tag `BF33`).
    pub struct DeleteProfileResponse: 0xBF33 {
        /// Result.
        pub delete_result: DeleteResult => req implicit 0x80,
    }
}

named_bits! {
    /// resetOptions of EuiccMemoryResetRequest.
    pub struct ResetOptions {
        /// deleteOperationalProfiles.
        DELETE_OPERATIONAL_PROFILES = 0,
        /// deleteFieldLoadedTestProfiles.
        DELETE_FIELD_LOADED_TEST_PROFILES = 1,
        /// resetDefaultSmdpAddress.
        RESET_DEFAULT_SMDP_ADDRESS = 2,
    }
}

der_sequence! {
    /// `EuiccMemoryResetRequest` (tag `BF34`).
    pub struct EuiccMemoryResetRequest: 0xBF34 {
        /// What to reset.
        pub reset_options: ResetOptions => req implicit 0x82,
    }
}

der_int_enum! {
    /// resetResult.
    pub enum ResetResult {
        /// ok.
        Ok = 0 => "ok",
        /// nothingToDelete.
        NothingToDelete = 1 => "nothingToDelete",
        /// catBusy.
        CatBusy = 5 => "catBusy",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `EuiccMemoryResetResponse` (tag `BF34`).
    pub struct EuiccMemoryResetResponse: 0xBF34 {
        /// Result.
        pub reset_result: ResetResult => req implicit 0x80,
    }
}

der_sequence! {
    /// `SetNicknameRequest` (tag `BF29`).
    pub struct SetNicknameRequest: 0xBF29 {
        /// Which profile.
        pub iccid: Iccid => req natural,
        /// The nickname (at most 64 octets of UTF-8).
        pub profile_nickname: String => req implicit 0x90,
    }
}

der_int_enum! {
    /// setNicknameResult.
    pub enum SetNicknameResult {
        /// ok.
        Ok = 0 => "ok",
        /// iccidNotFound.
        IccidNotFound = 1 => "iccidNotFound",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `SetNicknameResponse` (tag `BF29`).
    pub struct SetNicknameResponse: 0xBF29 {
        /// Result.
        pub set_nickname_result: SetNicknameResult => req implicit 0x80,
    }
}

der_sequence! {
    /// `EuiccConfiguredAddressesRequest` (tag `BF3C`): no content.
    pub struct EuiccConfiguredAddressesRequest: 0xBF3C {}
}

der_sequence! {
    /// `EuiccConfiguredAddressesResponse` (tag `BF3C`).
    pub struct EuiccConfiguredAddressesResponse: 0xBF3C {
        /// Default SM-DP+ address.
        pub default_dp_address: String => opt implicit 0x80,
        /// Root SM-DS address.
        pub root_ds_address: String => req implicit 0x81,
    }
}

der_sequence! {
    /// `SetDefaultDpAddressRequest` (tag `BF3F`).
    pub struct SetDefaultDpAddressRequest: 0xBF3F {
        /// The new default SM-DP+ address (empty removes it).
        pub default_dp_address: String => req implicit 0x80,
    }
}

der_int_enum! {
    /// setDefaultDpAddressResult.
    pub enum SetDefaultDpAddressResult {
        /// ok.
        Ok = 0 => "ok",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `SetDefaultDpAddressResponse` (tag `BF3F`).
    pub struct SetDefaultDpAddressResponse: 0xBF3F {
        /// Result.
        pub set_default_dp_address_result: SetDefaultDpAddressResult => req implicit 0x80,
    }
}

der_sequence! {
    /// `GetRatRequest` (tag `BF43`): no content.
    pub struct GetRatRequest: 0xBF43 {}
}

named_bits! {
    /// pprFlags of a ProfilePolicyAuthorisationRule.
    pub struct PprFlags {
        /// consentRequired: the user must consent to the PPR.
        CONSENT_REQUIRED = 0,
    }
}

der_sequence! {
    /// `ProfilePolicyAuthorisationRule`: which operators may set which PPRs (SGP.22 §2.9.2.2).
    pub struct ProfilePolicyAuthorisationRule: 0x30 {
        /// The PPRs this rule covers.
        pub ppr_ids: PprIds => req implicit 0x80,
        /// Operators allowed to set them (an MCC/MNC of `EE` nibbles is a wildcard).
        pub allowed_operators: OperatorId => req seq_of 0xA1,
        /// Flags.
        pub ppr_flags: PprFlags => req implicit 0x82,
    }
}

der_sequence! {
    /// `GetRatResponse` (tag `BF43`).
    pub struct GetRatResponse: 0xBF43 {
        /// The Rules Authorisation Table.
        pub rat: ProfilePolicyAuthorisationRule => req seq_of 0xA0,
    }
}

der_sequence! {
    /// `LoadCRLRequest` (tag `BF35`).
    pub struct LoadCrlRequest: 0xBF35 {
        /// An X.509 CertificateList. The module's automatic tagging applies here (no
        /// component is tagged), so the CRL travels as `[0] IMPLICIT`: tag `A0`.
        pub crl: CertificateList => req implicit 0xA0,
    }
}

der_sequence! {
    /// `LoadCRLResponseOk`.
    pub struct LoadCrlResponseOk: 0x30 {
        /// Missing partial CRL numbers.
        pub missing_parts: i64 => opt seq_of 0xA0,
    }
}

der_int_enum! {
    /// `LoadCRLResponseError`.
    pub enum LoadCrlError {
        /// invalidSignature.
        InvalidSignature = 1 => "invalidSignature",
        /// invalidCRLFormat.
        InvalidCrlFormat = 2 => "invalidCRLFormat",
        /// notEnoughMemorySpace.
        NotEnoughMemorySpace = 3 => "notEnoughMemorySpace",
        /// verificationKeyNotFound.
        VerificationKeyNotFound = 4 => "verificationKeyNotFound",
        /// fresherCrlAlreadyLoaded.
        FresherCrlAlreadyLoaded = 5 => "fresherCrlAlreadyLoaded",
        /// baseCrlMissing.
        BaseCrlMissing = 6 => "baseCrlMissing",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `LoadCRLResponse` (tag `BF35`).
    pub enum LoadCrlResponse: explicit(0xBF35) {
        /// loadCRLResponseOk (`A0`).
        Ok(LoadCrlResponseOk) => implicit 0xA0,
        /// loadCRLResponseError (`81`).
        Error(LoadCrlError) => implicit 0x81,
    }
}
