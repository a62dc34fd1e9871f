//! ES10 result and error codes as [`Es10Error::CardRefused`](super::Es10Error::CardRefused),
//! named by their SGP.22 Annex H identifiers ([`NamedNumber::name`]).

use lpa_core::der::NamedNumber;
use lpa_core::messages::{AuthenticateErrorCode, CancelSessionError, DownloadErrorCode};

use super::error::{Es10Command, Es10Error};

/// What [`Es10Error::CardRefused`] says of a code SGP.22 v2.5 does not name.
const UNNAMED: &str = "a result code SGP.22 v2.5 does not define";

/// The SGP.22 identifier of a code, or [`UNNAMED`].
fn meaning(code: impl NamedNumber) -> &'static str {
    code.name().unwrap_or(UNNAMED)
}

/// A result or error code of an ES10 response.
pub(crate) trait ResultCode: NamedNumber {
    /// The refusal this code stands for.
    fn refusal(self, command: Es10Command) -> Es10Error {
        Es10Error::CardRefused {
            command,
            code: self.code(),
            meaning: meaning(self),
        }
    }
}

impl<T: NamedNumber> ResultCode for T {}

/// The SGP.22 name of an AuthenticateServer error code, for the download procedure's messages.
pub fn authenticate_error_meaning(code: AuthenticateErrorCode) -> &'static str {
    meaning(code)
}

/// The SGP.22 name of a PrepareDownload error code, for the download procedure's messages.
pub fn download_error_meaning(code: DownloadErrorCode) -> &'static str {
    meaning(code)
}

/// The SGP.22 name of a CancelSession error code.
pub fn cancel_session_error_meaning(code: CancelSessionError) -> &'static str {
    meaning(code)
}

#[cfg(test)]
mod tests {
    use lpa_core::messages::{EnableResult, LoadCrlError};

    use super::*;

    #[test]
    fn refusal_quotes_the_sgp22_identifier() {
        let Es10Error::CardRefused {
            code,
            meaning: said,
            ..
        } = AuthenticateErrorCode::CiPkUnknown.refusal(Es10Command::AuthenticateServer)
        else {
            panic!("not a refusal");
        };
        assert_eq!((code, said), (7, "ciPKUnknown"));
        assert_eq!(meaning(LoadCrlError::InvalidCrlFormat), "invalidCRLFormat");
        assert_eq!(meaning(EnableResult::Unknown(42)), UNNAMED);
    }
}
