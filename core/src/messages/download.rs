//! ES10b messages of the profile download (SGP.22 §3.1.3): AuthenticateServer (§5.7.13),
//! PrepareDownload (§5.7.5), CancelSession (§5.7.14).

use alloc::string::String;
use alloc::vec::Vec;

use super::euicc_info::{DeviceInfo, EuiccInfo2};
use crate::der::{Certificate, ObjectIdentifier, Signed, der_choice, der_int_enum, der_sequence};

der_sequence! {
    /// `ServerSigned1`: signed by the SM-DP+ (DPauth key) in initiateAuthentication.
    pub struct ServerSigned1: 0x30 {
        /// transactionId chosen by the SM-DP+ (1 to 16 octets).
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The eUICC challenge the LPA sent; the LPA checks the echo (SGP.22 §3.1.2).
        pub euicc_challenge: Vec<u8> => req implicit 0x81,
        /// The server address; the LPA checks it equals the address it contacted.
        pub server_address: String => req implicit 0x83,
        /// The server's challenge for the eUICC to sign.
        pub server_challenge: Vec<u8> => req implicit 0x84,
    }
}

der_sequence! {
    /// `CtxParamsForCommonAuthentication`.
    pub struct CtxParamsForCommonAuthentication: 0x30 {
        /// The matching ID (activation code token, event ID, or absent for default SM-DP+).
        pub matching_id: String => opt implicit 0x80,
        /// The device's TAC and capabilities.
        pub device_info: DeviceInfo => req implicit 0xA1,
    }
}

der_choice! {
    /// `CtxParams1`.
    pub enum CtxParams1 {
        /// ctxParamsForCommonAuthentication (`A0`).
        CommonAuthentication(CtxParamsForCommonAuthentication) => implicit 0xA0,
    }
}

der_sequence! {
    /// `AuthenticateServerRequest` (tag `BF38`).
    pub struct AuthenticateServerRequest: 0xBF38 {
        /// serverSigned1 exactly as the SM-DP+ sent it.
        pub server_signed1: Signed<ServerSigned1> => req natural,
        /// serverSignature1 (`5F37`, 64 octets r||s).
        pub server_signature1: Vec<u8> => req implicit 0x5F37,
        /// The CI key identifier to use.
        pub euicc_ci_pkid_to_be_used: Vec<u8> => req natural,
        /// CERT.DPauth.ECDSA.
        pub server_certificate: Certificate => req natural,
        /// Context: matching ID and device info.
        pub ctx_params1: CtxParams1 => req natural,
    }
}

der_sequence! {
    /// `EuiccSigned1`: signed by the eUICC in its AuthenticateServer response.
    pub struct EuiccSigned1: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// Server address.
        pub server_address: String => req implicit 0x83,
        /// The server challenge being answered.
        pub server_challenge: Vec<u8> => req implicit 0x84,
        /// EUICCInfo2.
        pub euicc_info2: EuiccInfo2 => req implicit 0xBF22,
        /// The context the LPA gave.
        pub ctx_params1: CtxParams1 => req natural,
    }
}

der_sequence! {
    /// `AuthenticateResponseOk`.
    pub struct AuthenticateResponseOk: 0x30 {
        /// euiccSigned1 exactly as the eUICC produced it.
        pub euicc_signed1: Signed<EuiccSigned1> => req natural,
        /// euiccSignature1 (`5F37`).
        pub euicc_signature1: Vec<u8> => req implicit 0x5F37,
        /// CERT.EUICC.ECDSA.
        pub euicc_certificate: Certificate => req natural,
        /// CERT.EUM.ECDSA.
        pub eum_certificate: Certificate => req natural,
    }
}

der_int_enum! {
    /// `AuthenticateErrorCode`.
    pub enum AuthenticateErrorCode {
        /// invalidCertificate.
        InvalidCertificate = 1 => "invalidCertificate",
        /// invalidSignature.
        InvalidSignature = 2 => "invalidSignature",
        /// unsupportedCurve.
        UnsupportedCurve = 3 => "unsupportedCurve",
        /// noSessionContext.
        NoSessionContext = 4 => "noSessionContext",
        /// invalidOid.
        InvalidOid = 5 => "invalidOid",
        /// euiccChallengeMismatch.
        EuiccChallengeMismatch = 6 => "euiccChallengeMismatch",
        /// ciPKUnknown.
        CiPkUnknown = 7 => "ciPKUnknown",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `AuthenticateResponseError`.
    pub struct AuthenticateResponseError: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// Why the eUICC refused.
        pub authenticate_error_code: AuthenticateErrorCode => req natural,
    }
}

der_choice! {
    /// `AuthenticateServerResponse` (tag `BF38`).
    pub enum AuthenticateServerResponse: explicit(0xBF38) {
        /// authenticateResponseOk (`A0`).
        Ok(AuthenticateResponseOk) => implicit 0xA0,
        /// authenticateResponseError (`A1`).
        Error(AuthenticateResponseError) => implicit 0xA1,
    }
}

der_sequence! {
    /// `SmdpSigned2`: signed by the SM-DP+ (DPpb key) in authenticateClient.
    pub struct SmdpSigned2: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// Whether the user must enter a confirmation code.
        pub cc_required_flag: bool => req natural,
        /// otPK.EUICC.ECKA already used for binding, when re-binding a BPP.
        pub bpp_euicc_otpk: Vec<u8> => opt implicit 0x5F49,
    }
}

der_sequence! {
    /// `PrepareDownloadRequest` (tag `BF21`).
    pub struct PrepareDownloadRequest: 0xBF21 {
        /// smdpSigned2 exactly as the SM-DP+ sent it.
        pub smdp_signed2: Signed<SmdpSigned2> => req natural,
        /// smdpSignature2 (`5F37`).
        pub smdp_signature2: Vec<u8> => req implicit 0x5F37,
        /// SHA-256(SHA-256(confirmation code) || transactionId), when required.
        pub hash_cc: Vec<u8> => opt natural,
        /// CERT.DPpb.ECDSA.
        pub smdp_certificate: Certificate => req natural,
    }
}

der_sequence! {
    /// `EUICCSigned2`.
    pub struct EuiccSigned2: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// otPK.EUICC.ECKA, the eUICC's one-time public key.
        pub euicc_otpk: Vec<u8> => req implicit 0x5F49,
        /// The confirmation code hash, echoed.
        pub hash_cc: Vec<u8> => opt natural,
    }
}

der_sequence! {
    /// `PrepareDownloadResponseOk`.
    pub struct PrepareDownloadResponseOk: 0x30 {
        /// euiccSigned2 exactly as the eUICC produced it.
        pub euicc_signed2: Signed<EuiccSigned2> => req natural,
        /// euiccSignature2 (`5F37`).
        pub euicc_signature2: Vec<u8> => req implicit 0x5F37,
    }
}

der_int_enum! {
    /// `DownloadErrorCode`.
    pub enum DownloadErrorCode {
        /// invalidCertificate.
        InvalidCertificate = 1 => "invalidCertificate",
        /// invalidSignature.
        InvalidSignature = 2 => "invalidSignature",
        /// unsupportedCurve.
        UnsupportedCurve = 3 => "unsupportedCurve",
        /// noSessionContext.
        NoSessionContext = 4 => "noSessionContext",
        /// invalidTransactionId.
        InvalidTransactionId = 5 => "invalidTransactionId",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `PrepareDownloadResponseError`.
    pub struct PrepareDownloadResponseError: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// Why the eUICC refused.
        pub download_error_code: DownloadErrorCode => req natural,
    }
}

der_choice! {
    /// `PrepareDownloadResponse` (tag `BF21`).
    pub enum PrepareDownloadResponse: explicit(0xBF21) {
        /// downloadResponseOk (`A0`).
        Ok(PrepareDownloadResponseOk) => implicit 0xA0,
        /// downloadResponseError (`A1`).
        Error(PrepareDownloadResponseError) => implicit 0xA1,
    }
}

der_int_enum! {
    /// `CancelSessionReason` (SGP.22 §5.7.14).
    pub enum CancelSessionReason {
        /// endUserRejection: the user declined the profile.
        EndUserRejection = 0 => "endUserRejection",
        /// postponed: the user postponed the download.
        Postponed = 1 => "postponed",
        /// timeout.
        Timeout = 2 => "timeout",
        /// pprNotAllowed: a profile policy rule cannot be accepted.
        PprNotAllowed = 3 => "pprNotAllowed",
        /// metadataMismatch.
        MetadataMismatch = 4 => "metadataMismatch",
        /// loadBppExecutionError.
        LoadBppExecutionError = 5 => "loadBppExecutionError",
        /// undefinedReason.
        UndefinedReason = 127 => "undefinedReason",
    }
}

der_sequence! {
    /// `CancelSessionRequest` (tag `BF41`).
    pub struct CancelSessionRequest: 0xBF41 {
        /// transactionId of the session to end.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// Why.
        pub reason: CancelSessionReason => req implicit 0x81,
    }
}

der_sequence! {
    /// `EuiccCancelSessionSigned`.
    pub struct EuiccCancelSessionSigned: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// SM-DP+ OID from CERT.DPauth.ECDSA.
        pub smdp_oid: ObjectIdentifier => req implicit 0x81,
        /// The reason given.
        pub reason: CancelSessionReason => req implicit 0x82,
    }
}

der_sequence! {
    /// `CancelSessionResponseOk`.
    pub struct CancelSessionResponseOk: 0x30 {
        /// The signed part, exactly as the eUICC produced it.
        pub euicc_cancel_session_signed: Signed<EuiccCancelSessionSigned> => req natural,
        /// euiccCancelSessionSignature (`5F37`).
        pub euicc_cancel_session_signature: Vec<u8> => req implicit 0x5F37,
    }
}

der_int_enum! {
    /// cancelSessionResponseError.
    pub enum CancelSessionError {
        /// invalidTransactionId.
        InvalidTransactionId = 5 => "invalidTransactionId",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `CancelSessionResponse` (tag `BF41`).
    pub enum CancelSessionResponse: explicit(0xBF41) {
        /// cancelSessionResponseOk (`A0`).
        Ok(CancelSessionResponseOk) => implicit 0xA0,
        /// cancelSessionResponseError (`81`).
        Error(CancelSessionError) => implicit 0x81,
    }
}
