//! The `statusCodeData` a refused function answers with (SGP.22 §6.5.1.4): a subject code
//! (what the problem is about) and a reason code (what is wrong with it).
//!
//! The pairs come from the per-function error tables of SGP.22 v2.5 (ES9+ §5.6, ES11 §5.8,
//! ES2+ §5.3) as found in public code: osmocom pySim `osmo-smdpp.py` (ES9+: 8.8.1/3.8,
//! 8.8.2/3.1, 8.8.4/3.7, 8.10.1/3.9, 8.11.1/3.9, 8.1.3/6.1, 8.1/6.1, 8.2.6/3.8, 8.8/3.10,
//! and 1.2.1/2.1, 1.2.2/2.1 for the HTTP headers), pySim `es2plus_commons.py` (ES2+: 8.2.1/3.9,
//! 8.2.1/3.10, 8.2.6/3.10, 8.1.1/2.2), and `lpa_core::es9`'s table of meanings (the rest of
//! §5.6.x and §5.8.x). The generic reason codes (2.1 Invalid, 2.2 Mandatory Element Missing,
//! 2.3 Conditional Element Missing, 3.3 Already in Use, 3.5 Invalid Transition, 3.7
//! Unavailable, 4.2 Execution Error, 5.1 Inaccessible) and the generic subjects 1.1 (Function
//! Requester) and 1.2 (Function Provider) are those of SGP.22 §5.1.6.4, reproduced in the GSMA
//! LAA specification's error table.
//!
//! Where SGP.22 names no code, the choice is said at the constant: malformed requests (bad
//! JSON, base64, DER, missing members) answer subject 1.1 with reason 2.1 / 2.2 / 2.3 and a
//! message naming the element.

use core::fmt;

use lpa_core::es9::StatusCodeData;

/// A subject code / reason code pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusCode {
    /// `subjectCode`, e.g. `8.2.6`.
    pub subject: &'static str,
    /// `reasonCode`, e.g. `3.8`.
    pub reason: &'static str,
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.subject, self.reason)
    }
}

const fn code(subject: &'static str, reason: &'static str) -> StatusCode {
    StatusCode { subject, reason }
}

// --- Generic (SGP.22 §5.1.6.4; our choice of subject, see the module doc) -------------------

/// The request is not well-formed: bad JSON, base64, hex, DER or value (1.1 / 2.1).
pub const INVALID_REQUEST: StatusCode = code("1.1", "2.1");
/// A mandatory member or element is missing (1.1 / 2.2).
pub const MANDATORY_ELEMENT_MISSING: StatusCode = code("1.1", "2.2");
/// A member required by another one is missing (1.1 / 2.3).
pub const CONDITIONAL_ELEMENT_MISSING: StatusCode = code("1.1", "2.3");
/// `Content-Type` is not JSON in UTF-8 (pySim `osmo-smdpp.py`: 1.2.1 / 2.1).
pub const INVALID_CONTENT_TYPE: StatusCode = code("1.2.1", "2.1");
/// `X-Admin-Protocol` is missing or not `gsma/rsp/v2.*` (pySim `osmo-smdpp.py`: 1.2.2 / 2.1).
pub const UNSUPPORTED_ADMIN_PROTOCOL: StatusCode = code("1.2.2", "2.1");
/// The server could not do what it should have (1.2 Function Provider / 4.2 Execution Error).
pub const EXECUTION_ERROR: StatusCode = code("1.2", "4.2");

// --- ES9+.InitiateAuthentication (§5.6.1) ----------------------------------------------------

/// smdpAddress is not this server's host name (8.8.1 / 3.8).
pub const INVALID_SMDP_ADDRESS: StatusCode = code("8.8.1", "3.8");
/// None of the eUICC's CI keys for signing is trusted here (8.8.2 / 3.1).
pub const CI_KEYS_NOT_SUPPORTED: StatusCode = code("8.8.2", "3.1");
/// The eUICC's SGP.22 version (svn) is not supported (8.8.3 / 3.1).
pub const SVN_NOT_SUPPORTED: StatusCode = code("8.8.3", "3.1");
/// No CERT.DPauth chains to a CI the eUICC can verify (8.8.4 / 3.7).
pub const NO_SERVER_CERTIFICATE: StatusCode = code("8.8.4", "3.7");

// --- ES9+.AuthenticateClient (§5.6.3) --------------------------------------------------------

/// eUICC signature invalid, or it signed another challenge / transaction / address (8.1 / 6.1).
pub const EUICC_VERIFICATION_FAILED: StatusCode = code("8.1", "6.1");
/// The profile is linked to another EID (8.1.1 / 3.8).
pub const EID_REFUSED: StatusCode = code("8.1.1", "3.8");
/// CERT.EUM.ECDSA does not verify (8.1.2 / 6.1).
pub const EUM_CERTIFICATE_INVALID: StatusCode = code("8.1.2", "6.1");
/// CERT.EUM.ECDSA has expired (8.1.2 / 6.3).
pub const EUM_CERTIFICATE_EXPIRED: StatusCode = code("8.1.2", "6.3");
/// CERT.EUICC.ECDSA does not verify, incl. an EID outside the EUM's range (8.1.3 / 6.1).
pub const EUICC_CERTIFICATE_INVALID: StatusCode = code("8.1.3", "6.1");
/// CERT.EUICC.ECDSA has expired (8.1.3 / 6.3).
pub const EUICC_CERTIFICATE_EXPIRED: StatusCode = code("8.1.3", "6.3");
/// The profile is not released for download yet (8.2 / 1.2).
pub const PROFILE_NOT_RELEASED: StatusCode = code("8.2", "1.2");
/// No profile of the ordered type suits this eUICC (8.2.5 / 4.3).
pub const NO_ELIGIBLE_PROFILE: StatusCode = code("8.2.5", "4.3");
/// Unknown, used up or foreign matching ID, or no default-SM-DP+ order for the EID
/// (8.2.6 / 3.8).
pub const MATCHING_ID_REFUSED: StatusCode = code("8.2.6", "3.8");
/// The download order has used up its attempts (8.8.5 / 6.4).
pub const DOWNLOAD_RETRIES_EXCEEDED: StatusCode = code("8.8.5", "6.4");
/// The transactionId is unknown, or the signed one differs from the outer one (8.10.1 / 3.9).
pub const TRANSACTION_ID_UNKNOWN: StatusCode = code("8.10.1", "3.9");
/// The CI of the eUICC chain is unknown or not the one agreed (8.11.1 / 3.9).
pub const CI_UNKNOWN: StatusCode = code("8.11.1", "3.9");

// --- ES9+.GetBoundProfilePackage (§5.6.2) ----------------------------------------------------

/// The BPP was bound to another one-time key and cannot be rebound (8.2 / 3.7).
pub const BPP_REBINDING_REFUSED: StatusCode = code("8.2", "3.7");
/// A confirmation code is required and hashCc is absent (8.2.7 / 2.2).
pub const CONFIRMATION_CODE_MISSING: StatusCode = code("8.2.7", "2.2");
/// hashCc does not match (8.2.7 / 3.8).
pub const CONFIRMATION_CODE_REFUSED: StatusCode = code("8.2.7", "3.8");
/// Too many wrong confirmation codes: the order is in Error (8.2.7 / 6.4).
pub const CONFIRMATION_CODE_RETRIES_EXCEEDED: StatusCode = code("8.2.7", "6.4");

// --- ES9+.CancelSession (§5.6.5) -------------------------------------------------------------

/// The smdpOid the eUICC signed is not this server's (8.8 / 3.10).
pub const INVALID_SMDP_OID: StatusCode = code("8.8", "3.10");

// --- ES11 (§5.8) -----------------------------------------------------------------------------

/// SM-DS: another SM-DS could not be reached; also ES2+.ConfirmOrder with an smdsAddress this
/// testbed does not serve (8.9 / 5.1).
pub const SMDS_INACCESSIBLE: StatusCode = code("8.9", "5.1");
/// smdsAddress is not this SM-DS (8.9.1 / 3.8).
pub const INVALID_SMDS_ADDRESS: StatusCode = code("8.9.1", "3.8");
/// SM-DS: none of the eUICC's CI keys for signing is trusted (8.9.2 / 3.1).
pub const SMDS_CI_KEYS_NOT_SUPPORTED: StatusCode = code("8.9.2", "3.1");
/// SM-DS: the eUICC's SGP.22 version is not supported (8.9.3 / 3.1).
pub const SMDS_SVN_NOT_SUPPORTED: StatusCode = code("8.9.3", "3.1");
/// SM-DS: no CERT.DSauth chains to a CI the eUICC can verify (8.9.4 / 3.7).
pub const SMDS_NO_SERVER_CERTIFICATE: StatusCode = code("8.9.4", "3.7");
/// SM-DS: the eventId asked for is not registered for this EID (8.9.5 / 3.9). Not confirmed
/// against the SGP.22 text: the ASN.1 binding's `eventIdUnknown` is the only public trace.
pub const EVENT_ID_UNKNOWN: StatusCode = code("8.9.5", "3.9");

// --- ES2+ (§5.3) -----------------------------------------------------------------------------

/// The EID is not a valid EID (8.1.1 / 2.1).
pub const EID_INVALID: StatusCode = code("8.1.1", "2.1");
/// A different EID is associated with the profile (8.1.1 / 3.10).
pub const EID_INVALID_ASSOCIATION: StatusCode = code("8.1.1", "3.10");
/// No profile with this ICCID (8.2.1 / 3.9).
pub const ICCID_UNKNOWN: StatusCode = code("8.2.1", "3.9");
/// The profile is already ordered or used (8.2.1 / 3.3).
pub const ICCID_ALREADY_IN_USE: StatusCode = code("8.2.1", "3.3");
/// The function is not allowed in the profile's state (8.2.1 / 3.5).
pub const ICCID_INVALID_TRANSITION: StatusCode = code("8.2.1", "3.5");
/// No profile of this type exists (8.2.5 / 3.9).
pub const PROFILE_TYPE_UNKNOWN: StatusCode = code("8.2.5", "3.9");
/// No profile of this type is available any more (8.2.5 / 3.7).
pub const PROFILE_TYPE_UNAVAILABLE: StatusCode = code("8.2.5", "3.7");
/// The matching ID is used by another order (8.2.6 / 3.3).
pub const MATCHING_ID_ALREADY_IN_USE: StatusCode = code("8.2.6", "3.3");
/// The matching ID is not the one of this order (8.2.6 / 3.10).
pub const MATCHING_ID_INVALID_ASSOCIATION: StatusCode = code("8.2.6", "3.10");

/// A refused function: the code and a message for humans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The subject and reason codes.
    pub code: StatusCode,
    /// Why, in words (sent as `statusCodeData.message`).
    pub message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// The `statusCodeData` of the answer.
    pub fn status_code_data(&self) -> StatusCodeData {
        StatusCodeData::new(self.code.subject, self.code.reason).with_message(&self.message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Failure {}

/// Shorthand for handler results.
pub(crate) type Outcome<T> = Result<T, Failure>;

/// `Err(Failure)` with a formatted message.
macro_rules! refuse {
    ($code:expr, $($arg:tt)*) => {
        Err($crate::smdp::codes::Failure::new($code, format!($($arg)*)))
    };
}
pub(crate) use refuse;
