//! ES8+ structures inside the Bound Profile Package (SGP.22 §5.5) and the
//! ProfileInstallationResult (§5.5.6 / §5.7.6). For sending a BPP to the card without copying
//! it, see [`crate::bpp`].

use alloc::string::String;
use alloc::vec::Vec;

use super::common::{
    DpProprietaryData, IconType, NotificationConfigurationInformation, OperatorId, PprIds,
    ProfileClass,
};
use super::notifications::NotificationMetadata;
use crate::der::{
    DecodeError, DerValue, ObjectIdentifier, Signed, der_choice, der_int_enum, der_sequence,
};
use crate::ids::Iccid;
use crate::tlv::{Tag, Tlv, TlvError, TlvWriter};

der_int_enum! {
    /// `RemoteOpId`.
    pub enum RemoteOpId {
        /// installBoundProfilePackage.
        InstallBoundProfilePackage = 1 => "installBoundProfilePackage",
    }
}

der_sequence! {
    /// `ControlRefTemplate` (tag `A6` in InitialiseSecureChannelRequest): the key agreement
    /// parameters that also feed the KDF's SharedInfo (SGP.22 §2.6.6).
    pub struct ControlRefTemplate: 0x30 {
        /// Key type, `88` for AES.
        pub key_type: Vec<u8> => req implicit 0x80,
        /// Key length, `10`.
        pub key_len: Vec<u8> => req implicit 0x81,
        /// Host ID.
        pub host_id: Vec<u8> => req implicit 0x84,
    }
}

der_sequence! {
    /// `InitialiseSecureChannelRequest` (tag `BF23`).
    pub struct InitialiseSecureChannelRequest: 0xBF23 {
        /// Always installBoundProfilePackage.
        pub remote_op_id: RemoteOpId => req implicit 0x82,
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// Key agreement parameters.
        pub control_ref_template: ControlRefTemplate => req implicit 0xA6,
        /// otPK.DP.ECKA (`5F49`).
        pub smdp_otpk: Vec<u8> => req implicit 0x5F49,
        /// SM-DP+ signature (`5F37`).
        pub smdp_sign: Vec<u8> => req implicit 0x5F37,
    }
}

der_sequence! {
    /// `ConfigureISDPRequest` (tag `BF24`), the plaintext of the first `87` segment.
    pub struct ConfigureIsdpRequest: 0xBF24 {
        /// SM-DP+ proprietary data.
        pub dp_proprietary_data: DpProprietaryData => opt implicit 0xB8,
    }
}

der_sequence! {
    /// `StoreMetadataRequest` (tag `BF25`): the profile metadata the user confirms before
    /// the download (SGP.22 §3.1.3 step 4); also the `88` segments' plaintext.
    pub struct StoreMetadataRequest: 0xBF25 {
        /// ICCID.
        pub iccid: Iccid => req natural,
        /// Service provider name.
        pub service_provider_name: String => req implicit 0x91,
        /// Profile name.
        pub profile_name: String => req implicit 0x92,
        /// Icon format.
        pub icon_type: IconType => opt implicit 0x93,
        /// Icon (at most 1024 octets).
        pub icon: Vec<u8> => opt implicit 0x94,
        /// Profile class, `DEFAULT operational`: DER omits it when operational.
        pub profile_class: ProfileClass => default implicit 0x95,
        /// Notification addresses per operation.
        pub notification_configuration_info: NotificationConfigurationInformation => opt seq_of 0xB6,
        /// Profile owner.
        pub profile_owner: OperatorId => opt implicit 0xB7,
        /// Profile policy rules.
        pub profile_policy_rules: PprIds => opt implicit 0x99,
    }
}

der_sequence! {
    /// `ReplaceSessionKeysRequest` (tag `BF26`): profile protection keys (SGP.22 §2.5.3).
    pub struct ReplaceSessionKeysRequest: 0xBF26 {
        /// New initial MAC chaining value.
        pub initial_mac_chaining_value: Vec<u8> => req implicit 0x80,
        /// PPK-ENC.
        pub ppk_enc: Vec<u8> => req implicit 0x81,
        /// PPK-MAC.
        pub ppk_cmac: Vec<u8> => req implicit 0x82,
    }
}

/// Declares an OCTET STRING re-tagged as a BPP segment (`[7]`, `[8]`, `[6]`).
macro_rules! segment {
    ($(#[$m:meta])* $name:ident, $tag:literal) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(pub Vec<u8>);

        impl DerValue for $name {
            const TAG: Tag = Tag($tag);
            fn value_len(&self) -> usize {
                self.0.len()
            }
            fn write_value(&self, w: &mut TlvWriter<'_>) -> Result<(), TlvError> {
                w.write_bytes(&self.0)
            }
            fn decode_value(tlv: Tlv<'_>) -> Result<Self, DecodeError> {
                Ok($name(tlv.value().to_vec()))
            }
        }
    };
}

segment!(
    /// A `87` segment: encrypted and MACed (ConfigureISDP, ReplaceSessionKeys).
    Segment87,
    0x87
);
segment!(
    /// An `88` segment: MACed StoreMetadata.
    Segment88,
    0x88
);
segment!(
    /// An `86` segment: encrypted and MACed profile elements.
    Segment86,
    0x86
);

der_sequence! {
    /// `BoundProfilePackage` (tag `BF36`). The LPA never re-encodes a BPP: it forwards the
    /// server's bytes with [`crate::bpp::BppCommands`]; this type is for inspection and for
    /// the test SM-DP+ that builds one.
    pub struct BoundProfilePackage: 0xBF36 {
        /// InitialiseSecureChannel (`BF23`).
        pub initialise_secure_channel_request: InitialiseSecureChannelRequest => req natural,
        /// `A0`: ConfigureISDP.
        pub first_sequence_of87: Segment87 => req seq_of 0xA0,
        /// `A1`: StoreMetadata.
        pub sequence_of88: Segment88 => req seq_of 0xA1,
        /// `A2`: ReplaceSessionKeys, when profile protection keys are used.
        pub second_sequence_of87: Segment87 => opt seq_of 0xA2,
        /// `A3`: the protected profile.
        pub sequence_of86: Segment86 => req seq_of 0xA3,
    }
}

der_int_enum! {
    /// `BppCommandId`: which BPP step failed.
    pub enum BppCommandId {
        /// initialiseSecureChannel.
        InitialiseSecureChannel = 0 => "initialiseSecureChannel",
        /// configureISDP.
        ConfigureIsdp = 1 => "configureISDP",
        /// storeMetadata.
        StoreMetadata = 2 => "storeMetadata",
        /// storeMetadata2.
        StoreMetadata2 = 3 => "storeMetadata2",
        /// replaceSessionKeys.
        ReplaceSessionKeys = 4 => "replaceSessionKeys",
        /// loadProfileElements.
        LoadProfileElements = 5 => "loadProfileElements",
    }
}

der_int_enum! {
    /// `ErrorReason` of a failed installation.
    pub enum ErrorReason {
        /// incorrectInputValues.
        IncorrectInputValues = 1 => "incorrectInputValues",
        /// invalidSignature.
        InvalidSignature = 2 => "invalidSignature",
        /// invalidTransactionId.
        InvalidTransactionId = 3 => "invalidTransactionId",
        /// unsupportedCrtValues.
        UnsupportedCrtValues = 4 => "unsupportedCrtValues",
        /// unsupportedRemoteOperationType.
        UnsupportedRemoteOperationType = 5 => "unsupportedRemoteOperationType",
        /// unsupportedProfileClass.
        UnsupportedProfileClass = 6 => "unsupportedProfileClass",
        /// scp03tStructureError.
        Scp03tStructureError = 7 => "scp03tStructureError",
        /// scp03tSecurityError.
        Scp03tSecurityError = 8 => "scp03tSecurityError",
        /// installFailedDueToIccidAlreadyExistsOnEuicc.
        IccidAlreadyExistsOnEuicc = 9 => "installFailedDueToIccidAlreadyExistsOnEuicc",
        /// installFailedDueToInsufficientMemoryForProfile.
        InsufficientMemoryForProfile = 10 => "installFailedDueToInsufficientMemoryForProfile",
        /// installFailedDueToInterruption.
        Interruption = 11 => "installFailedDueToInterruption",
        /// installFailedDueToPEProcessingError.
        PeProcessingError = 12 => "installFailedDueToPEProcessingError",
        /// installFailedDueToDataMismatch.
        DataMismatch = 13 => "installFailedDueToDataMismatch",
        /// testProfileInstallFailedDueToInvalidNaaKey.
        InvalidNaaKey = 14 => "testProfileInstallFailedDueToInvalidNaaKey",
        /// pprNotAllowed.
        PprNotAllowed = 15 => "pprNotAllowed",
        /// installFailedDueToUnknownError.
        UnknownError = 127 => "installFailedDueToUnknownError",
    }
}

der_sequence! {
    /// `SuccessResult`.
    pub struct SuccessResult: 0x30 {
        /// AID of the new ISD-P (`4F`).
        pub aid: Vec<u8> => req implicit 0x4F,
        /// EUICCResponse(s) of the profile package processing.
        pub sima_response: Vec<u8> => req natural,
    }
}

der_sequence! {
    /// `ErrorResult`.
    pub struct ErrorResult: 0x30 {
        /// The failing step.
        pub bpp_command_id: BppCommandId => req implicit 0x80,
        /// Why.
        pub error_reason: ErrorReason => req implicit 0x81,
        /// EUICCResponse(s), when the failure was in profile package processing.
        pub sima_response: Vec<u8> => opt implicit 0x82,
    }
}

der_choice! {
    /// finalResult of ProfileInstallationResultData.
    pub enum FinalResult {
        /// successResult (`A0`).
        Success(SuccessResult) => implicit 0xA0,
        /// errorResult (`A1`).
        Error(ErrorResult) => implicit 0xA1,
    }
}

der_sequence! {
    /// `ProfileInstallationResultData` (tag `BF27`).
    pub struct ProfileInstallationResultData: 0xBF27 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The notification metadata (install operation).
        pub notification_metadata: NotificationMetadata => req natural,
        /// SM-DP+ OID from CERT.DPpb.ECDSA.
        pub smdp_oid: ObjectIdentifier => req natural,
        /// Success with the ISD-P AID, or the failing step and reason.
        pub final_result: FinalResult => req explicit 0xA2,
    }
}

der_sequence! {
    /// `ProfileInstallationResult` (tag `BF37`): the last answer of a BPP load, and the
    /// install notification.
    pub struct ProfileInstallationResult: 0xBF37 {
        /// The signed data, exactly as the eUICC produced it.
        pub profile_installation_result_data: Signed<ProfileInstallationResultData> => req natural,
        /// euiccSignPIR (`5F37`).
        pub euicc_sign_pir: Vec<u8> => req implicit 0x5F37,
    }
}
