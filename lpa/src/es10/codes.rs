//! SGP.22 names of the ES10 result and error codes (Annex H), for
//! [`Es10Error::CardRefused`](super::Es10Error::CardRefused).

use lpa_core::messages::{
    AuthenticateErrorCode, CancelSessionError, DeleteNotificationStatus, DeleteResult,
    DisableResult, DownloadErrorCode, EnableResult, ListNotificationError, LoadCrlError,
    ProfileInfoListError, ResetResult, RetrieveNotificationsListError, SetDefaultDpAddressResult,
    SetNicknameResult,
};

use super::error::{Es10Command, Es10Error};

/// A result or error code of an ES10 response.
pub(crate) trait ResultCode: Copy {
    /// The INTEGER value.
    fn value(self) -> i64;
    /// The SGP.22 name of the value.
    fn meaning(self) -> &'static str;

    /// The refusal this code stands for.
    fn refusal(self, command: Es10Command) -> Es10Error {
        Es10Error::CardRefused {
            command,
            code: self.value(),
            meaning: self.meaning(),
        }
    }
}

macro_rules! result_codes {
    ($( $ty:ident { $( $variant:ident => $name:literal ),* $(,)? } )*) => {
        $(
            impl ResultCode for $ty {
                fn value(self) -> i64 {
                    self.code()
                }

                fn meaning(self) -> &'static str {
                    match self {
                        $( $ty::$variant => $name, )*
                        $ty::Unknown(_) => "a result code SGP.22 v2.5 does not define",
                    }
                }
            }
        )*
    };
}

result_codes! {
    EnableResult {
        Ok => "ok",
        IccidOrAidNotFound => "iccidOrAidNotFound",
        ProfileNotInDisabledState => "profileNotInDisabledState",
        DisallowedByPolicy => "disallowedByPolicy",
        WrongProfileReenabling => "wrongProfileReenabling",
        CatBusy => "catBusy",
        UndefinedError => "undefinedError",
    }
    DisableResult {
        Ok => "ok",
        IccidOrAidNotFound => "iccidOrAidNotFound",
        ProfileNotInEnabledState => "profileNotInEnabledState",
        DisallowedByPolicy => "disallowedByPolicy",
        CatBusy => "catBusy",
        UndefinedError => "undefinedError",
    }
    DeleteResult {
        Ok => "ok",
        IccidOrAidNotFound => "iccidOrAidNotFound",
        ProfileNotInDisabledState => "profileNotInDisabledState",
        DisallowedByPolicy => "disallowedByPolicy",
        UndefinedError => "undefinedError",
    }
    ResetResult {
        Ok => "ok",
        NothingToDelete => "nothingToDelete",
        CatBusy => "catBusy",
        UndefinedError => "undefinedError",
    }
    SetNicknameResult {
        Ok => "ok",
        IccidNotFound => "iccidNotFound",
        UndefinedError => "undefinedError",
    }
    SetDefaultDpAddressResult {
        Ok => "ok",
        UndefinedError => "undefinedError",
    }
    ProfileInfoListError {
        IncorrectInputValues => "incorrectInputValues",
        UndefinedError => "undefinedError",
    }
    ListNotificationError {
        UndefinedError => "undefinedError",
    }
    RetrieveNotificationsListError {
        NoResultAvailable => "noResultAvailable",
        UndefinedError => "undefinedError",
    }
    DeleteNotificationStatus {
        Ok => "ok",
        NothingToDelete => "nothingToDelete",
        UndefinedError => "undefinedError",
    }
    LoadCrlError {
        InvalidSignature => "invalidSignature",
        InvalidCrlFormat => "invalidCRLFormat",
        NotEnoughMemorySpace => "notEnoughMemorySpace",
        VerificationKeyNotFound => "verificationKeyNotFound",
        FresherCrlAlreadyLoaded => "fresherCrlAlreadyLoaded",
        BaseCrlMissing => "baseCrlMissing",
        UndefinedError => "undefinedError",
    }
    CancelSessionError {
        InvalidTransactionId => "invalidTransactionId",
        UndefinedError => "undefinedError",
    }
    AuthenticateErrorCode {
        InvalidCertificate => "invalidCertificate",
        InvalidSignature => "invalidSignature",
        UnsupportedCurve => "unsupportedCurve",
        NoSessionContext => "noSessionContext",
        InvalidOid => "invalidOid",
        EuiccChallengeMismatch => "euiccChallengeMismatch",
        CiPkUnknown => "ciPKUnknown",
        UndefinedError => "undefinedError",
    }
    DownloadErrorCode {
        InvalidCertificate => "invalidCertificate",
        InvalidSignature => "invalidSignature",
        UnsupportedCurve => "unsupportedCurve",
        NoSessionContext => "noSessionContext",
        InvalidTransactionId => "invalidTransactionId",
        UndefinedError => "undefinedError",
    }
}

/// The SGP.22 name of an AuthenticateServer error code, for the download procedure's messages.
pub fn authenticate_error_meaning(code: AuthenticateErrorCode) -> &'static str {
    code.meaning()
}

/// The SGP.22 name of a PrepareDownload error code, for the download procedure's messages.
pub fn download_error_meaning(code: DownloadErrorCode) -> &'static str {
    code.meaning()
}

/// The SGP.22 name of a CancelSession error code.
pub fn cancel_session_error_meaning(code: CancelSessionError) -> &'static str {
    code.meaning()
}
