//! The ASN.1 binding of ES9+ and ES11 (SGP.22 §6.6, Annex H `RemoteProfileProvisioning*`).
//!
//! The LPA talks JSON to servers ([`crate::es9`]), whose binary fields carry pieces of these
//! structures; the whole structures are used by servers that speak the ASN.1 binding, by the
//! recorded session vectors, and by the test SM-DP+.

use alloc::string::String;
use alloc::vec::Vec;

use super::bpp::{BoundProfilePackage, StoreMetadataRequest};
use super::download::{
    AuthenticateServerResponse, CancelSessionResponse, PrepareDownloadResponse, ServerSigned1,
    SmdpSigned2,
};
use super::euicc_info::EuiccInfo1;
use super::notifications::PendingNotification;
use crate::der::{Certificate, Signed, der_choice, der_int_enum, der_sequence};

der_sequence! {
    /// `InitiateAuthenticationRequest` (tag `BF39`).
    pub struct InitiateAuthenticationRequest: 0xBF39 {
        /// The eUICC challenge.
        pub euicc_challenge: Vec<u8> => req implicit 0x81,
        /// The SM-DP+ (or SM-DS) address the LPA contacts.
        pub smdp_address: String => req implicit 0x83,
        /// EUICCInfo1.
        pub euicc_info1: EuiccInfo1 => req natural,
    }
}

der_sequence! {
    /// `InitiateAuthenticationOkEs9`.
    pub struct InitiateAuthenticationOkEs9: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// serverSigned1 as signed.
        pub server_signed1: Signed<ServerSigned1> => req natural,
        /// serverSignature1 (`5F37`).
        pub server_signature1: Vec<u8> => req implicit 0x5F37,
        /// The CI key identifier the eUICC must use.
        pub euicc_ci_pkid_to_be_used: Vec<u8> => req natural,
        /// CERT.DPauth.ECDSA.
        pub server_certificate: Certificate => req natural,
    }
}

der_int_enum! {
    /// initiateAuthenticationError.
    pub enum InitiateAuthenticationError {
        /// invalidDpAddress.
        InvalidDpAddress = 1 => "invalidDpAddress",
        /// euiccVersionNotSupportedByDp.
        EuiccVersionNotSupportedByDp = 2 => "euiccVersionNotSupportedByDp",
        /// ciPKNotSupported.
        CiPkNotSupported = 3 => "ciPKNotSupported",
    }
}

der_choice! {
    /// `InitiateAuthenticationResponse` (tag `BF39`).
    pub enum InitiateAuthenticationResponse: explicit(0xBF39) {
        /// initiateAuthenticationOk (`A0`).
        Ok(InitiateAuthenticationOkEs9) => implicit 0xA0,
        /// initiateAuthenticationError (`81`).
        Error(InitiateAuthenticationError) => implicit 0x81,
    }
}

der_sequence! {
    /// `AuthenticateClientRequest` (tag `BF3B`).
    pub struct AuthenticateClientRequest: 0xBF3B {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The eUICC's AuthenticateServer response.
        pub authenticate_server_response: AuthenticateServerResponse => req natural,
    }
}

der_sequence! {
    /// `AuthenticateClientOk` (ES9+).
    pub struct AuthenticateClientOk: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The profile metadata to show the user.
        pub profile_metadata: StoreMetadataRequest => req natural,
        /// smdpSigned2 as signed.
        pub smdp_signed2: Signed<SmdpSigned2> => req natural,
        /// smdpSignature2 (`5F37`).
        pub smdp_signature2: Vec<u8> => req implicit 0x5F37,
        /// CERT.DPpb.ECDSA.
        pub smdp_certificate: Certificate => req natural,
    }
}

der_int_enum! {
    /// authenticateClientError (ES9+).
    pub enum AuthenticateClientError {
        /// eumCertificateInvalid.
        EumCertificateInvalid = 1 => "eumCertificateInvalid",
        /// eumCertificateExpired.
        EumCertificateExpired = 2 => "eumCertificateExpired",
        /// euiccCertificateInvalid.
        EuiccCertificateInvalid = 3 => "euiccCertificateInvalid",
        /// euiccCertificateExpired.
        EuiccCertificateExpired = 4 => "euiccCertificateExpired",
        /// euiccSignatureInvalid.
        EuiccSignatureInvalid = 5 => "euiccSignatureInvalid",
        /// matchingIdRefused.
        MatchingIdRefused = 6 => "matchingIdRefused",
        /// eidMismatch.
        EidMismatch = 7 => "eidMismatch",
        /// noEligibleProfile.
        NoEligibleProfile = 8 => "noEligibleProfile",
        /// ciPKUnknown.
        CiPkUnknown = 9 => "ciPKUnknown",
        /// invalidTransactionId.
        InvalidTransactionId = 10 => "invalidTransactionId",
        /// insufficientMemory.
        InsufficientMemory = 11 => "insufficientMemory",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `AuthenticateClientResponseEs9` (tag `BF3B`).
    pub enum AuthenticateClientResponseEs9: explicit(0xBF3B) {
        /// authenticateClientOk (`A0`).
        Ok(AuthenticateClientOk) => implicit 0xA0,
        /// authenticateClientError (`81`).
        Error(AuthenticateClientError) => implicit 0x81,
    }
}

der_sequence! {
    /// `GetBoundProfilePackageRequest` (tag `BF3A`).
    pub struct GetBoundProfilePackageRequest: 0xBF3A {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The eUICC's PrepareDownload response.
        pub prepare_download_response: PrepareDownloadResponse => req natural,
    }
}

der_sequence! {
    /// `GetBoundProfilePackageOk`.
    pub struct GetBoundProfilePackageOk: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The BPP.
        pub bound_profile_package: BoundProfilePackage => req natural,
    }
}

der_int_enum! {
    /// getBoundProfilePackageError.
    pub enum GetBoundProfilePackageError {
        /// euiccSignatureInvalid.
        EuiccSignatureInvalid = 1 => "euiccSignatureInvalid",
        /// confirmationCodeMissing.
        ConfirmationCodeMissing = 2 => "confirmationCodeMissing",
        /// confirmationCodeRefused.
        ConfirmationCodeRefused = 3 => "confirmationCodeRefused",
        /// confirmationCodeRetriesExceeded.
        ConfirmationCodeRetriesExceeded = 4 => "confirmationCodeRetriesExceeded",
        /// bppRebindingRefused.
        BppRebindingRefused = 5 => "bppRebindingRefused",
        /// downloadOrderExpired.
        DownloadOrderExpired = 6 => "downloadOrderExpired",
        /// invalidTransactionId.
        InvalidTransactionId = 95 => "invalidTransactionId",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `GetBoundProfilePackageResponse` (tag `BF3A`).
    pub enum GetBoundProfilePackageResponse: explicit(0xBF3A) {
        /// getBoundProfilePackageOk (`A0`).
        Ok(GetBoundProfilePackageOk) => implicit 0xA0,
        /// getBoundProfilePackageError (`81`).
        Error(GetBoundProfilePackageError) => implicit 0x81,
    }
}

der_sequence! {
    /// `HandleNotification` (tag `BF3D`). Its one component is an untagged CHOICE, so
    /// automatic tagging wraps it in an explicit `[0]` (`A0`).
    pub struct HandleNotification: 0xBF3D {
        /// The notification, as the eUICC produced it.
        pub pending_notification: PendingNotification => req explicit 0xA0,
    }
}

der_sequence! {
    /// `CancelSessionRequestEs9` (tag `BF41`). Automatic tagging applies (no component is
    /// tagged): transactionId is `[0]` and the `[65]`-tagged CancelSessionResponse is
    /// re-tagged implicitly as `[1]` (`A1`).
    pub struct CancelSessionRequestEs9: 0xBF41 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The eUICC's signed CancelSession response.
        pub cancel_session_response: CancelSessionResponse => req implicit 0xA1,
    }
}

der_int_enum! {
    /// cancelSessionError (ES9+).
    pub enum CancelSessionEs9Error {
        /// invalidTransactionId.
        InvalidTransactionId = 1 => "invalidTransactionId",
        /// euiccSignatureInvalid.
        EuiccSignatureInvalid = 2 => "euiccSignatureInvalid",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_sequence! {
    /// `CancelSessionOk`: no content.
    pub struct CancelSessionOk: 0x30 {}
}

der_choice! {
    /// `CancelSessionResponseEs9` (tag `BF41`).
    pub enum CancelSessionResponseEs9: explicit(0xBF41) {
        /// cancelSessionOk (`A0`).
        Ok(CancelSessionOk) => implicit 0xA0,
        /// cancelSessionError (`81`).
        Error(CancelSessionEs9Error) => implicit 0x81,
    }
}

der_sequence! {
    /// `EventEntries`: one SM-DS event (SGP.22 §3.6.2).
    pub struct EventEntries: 0x30 {
        /// The event ID, used as matching ID at the SM-DP+.
        pub event_id: String => req implicit 0x80,
        /// The SM-DP+ (or SM-DS) holding the event.
        pub rsp_server_address: String => req implicit 0x81,
    }
}

der_sequence! {
    /// `AuthenticateClientOkEs11`.
    pub struct AuthenticateClientOkEs11: 0x30 {
        /// transactionId.
        pub transaction_id: Vec<u8> => req implicit 0x80,
        /// The events registered for this eUICC.
        pub event_entries: EventEntries => req seq_of 0xA1,
    }
}

der_int_enum! {
    /// authenticateClientError (ES11).
    pub enum AuthenticateClientEs11Error {
        /// eumCertificateInvalid.
        EumCertificateInvalid = 1 => "eumCertificateInvalid",
        /// eumCertificateExpired.
        EumCertificateExpired = 2 => "eumCertificateExpired",
        /// euiccCertificateInvalid.
        EuiccCertificateInvalid = 3 => "euiccCertificateInvalid",
        /// euiccCertificateExpired.
        EuiccCertificateExpired = 4 => "euiccCertificateExpired",
        /// euiccSignatureInvalid.
        EuiccSignatureInvalid = 5 => "euiccSignatureInvalid",
        /// eventIdUnknown.
        EventIdUnknown = 6 => "eventIdUnknown",
        /// invalidTransactionId.
        InvalidTransactionId = 7 => "invalidTransactionId",
        /// undefinedError.
        UndefinedError = 127 => "undefinedError",
    }
}

der_choice! {
    /// `AuthenticateClientResponseEs11` (tag `BF40`).
    pub enum AuthenticateClientResponseEs11: explicit(0xBF40) {
        /// authenticateClientOk (`A0`).
        Ok(AuthenticateClientOkEs11) => implicit 0xA0,
        /// authenticateClientError (`81`).
        Error(AuthenticateClientEs11Error) => implicit 0x81,
    }
}
