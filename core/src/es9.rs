//! ES9+ (LPA to SM-DP+) and ES11 (LPA to SM-DS) JSON bodies, SGP.22 v2.5.
//!
//! The functions are defined in SGP.22 §5.6 (ES9+) and §5.8 (ES11); their HTTPS/JSON binding
//! is §6.5: common rules and the response header in §6.5.1, one body per function in §6.5.2
//! (ES9+ InitiateAuthentication §6.5.2.6, GetBoundProfilePackage §6.5.2.7, AuthenticateClient
//! §6.5.2.8, HandleNotification §6.5.2.9, CancelSession §6.5.2.10).
//!
//! Both sides use these types: the LPA serializes requests and parses responses, the test
//! SM-DP+/SM-DS parses requests and serializes responses. Nothing here does I/O:
//!
//! ```text
//!  LPA                                         HTTPS client            SM-DP+ / SM-DS
//!  InitiateAuthenticationRequest --encode_json--> POST es9plus_url(..) ----> decode_request
//!  Es9Response<InitiateAuthenticationOk> <--decode_response(status, body)--- encode_json
//! ```
//!
//! Wire conventions (§6.5.1): binary values are standard base64 of the DER element *including*
//! its tag (e.g. `serverSignature1` is `5F37 40 ..`, `euiccCiPKIdToBeUsed` is `04 14 ..`), except
//! `euiccChallenge`, which is the 16 raw bytes; they are held here as plain `Vec<u8>`.
//! `transactionId` is hex text ([`TransactionId`]). Decoding is
//! tolerant where servers in the wild differ and the meaning is unambiguous: unknown JSON fields
//! are ignored (newer SGP.22 versions add fields), base64 may contain line breaks or lack its
//! padding, hex may be lower case. [`decode_response`] turns every HTTP answer, however broken,
//! into either the parsed body or one [`Es9Error`]; it never panics.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// HTTP layer: header values, function paths, URLs (SGP.22 §6.5.1)
// ---------------------------------------------------------------------------------------------

/// `Content-Type` of every ES9+/ES11 request and JSON response (SGP.22 §6.5.1).
///
/// lpac and euicc-go send plain `application/json`, which live servers accept; osmo-smdpp only
/// checks the `application/json` prefix and itself answers with this exact spec form.
pub const CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// `X-Admin-Protocol` value: the SGP.22 version this LPA implements (SGP.22 §6.5.1).
///
/// In the field: lpac sends `gsma/rsp/v2.2.2`; euicc-go (by default) and pySim's ES9+ client
/// send `gsma/rsp/v2.5.0`, so that value is known to work with live servers; osmo-smdpp answers
/// `gsma/rsp/v2.1.0` and only checks the `gsma/rsp/v` prefix. We state the version we implement.
pub const X_ADMIN_PROTOCOL: &str = "gsma/rsp/v2.5.0";

/// `User-Agent` that lpac, euicc-go and pySim all send; we send the same so that servers see
/// the value they are used to.
pub const USER_AGENT: &str = "gsma-rsp-lpad";

/// The request headers an LPA sends with every ES9+/ES11 call, as (name, value) pairs.
pub const REQUEST_HEADERS: [(&str, &str); 3] = [
    ("Content-Type", CONTENT_TYPE),
    ("X-Admin-Protocol", X_ADMIN_PROTOCOL),
    ("User-Agent", USER_AGENT),
];

/// Whether an `X-Admin-Protocol` header value names an SGP.22 v2 protocol we can talk to.
///
/// Any `gsma/rsp/v2.*` is accepted: minor versions only add optional fields, which our decoders
/// skip. A server may use this on requests, an LPA on responses.
pub fn is_supported_admin_protocol(value: &str) -> bool {
    value.trim().starts_with("gsma/rsp/v2.")
}

/// The ES9+ functions an LPA calls on an SM-DP+ (SGP.22 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Es9Function {
    /// `initiateAuthentication` (§5.6.1): start a session, get the server's signed challenge.
    InitiateAuthentication,
    /// `getBoundProfilePackage` (§5.6.2): fetch the BPP after ES10b.PrepareDownload.
    GetBoundProfilePackage,
    /// `authenticateClient` (§5.6.3): prove the eUICC, get the profile metadata.
    AuthenticateClient,
    /// `handleNotification` (§5.6.4): deliver a signed notification; answered with HTTP 204.
    HandleNotification,
    /// `cancelSession` (§5.6.5): end a session with the eUICC's signed CancelSessionResponse.
    CancelSession,
}

impl Es9Function {
    /// All ES9+ functions, in SGP.22 §5.6 order.
    pub const ALL: [Es9Function; 5] = [
        Es9Function::InitiateAuthentication,
        Es9Function::GetBoundProfilePackage,
        Es9Function::AuthenticateClient,
        Es9Function::HandleNotification,
        Es9Function::CancelSession,
    ];

    /// The function name as it appears in the URL, e.g. `initiateAuthentication`.
    pub const fn name(self) -> &'static str {
        match self {
            Es9Function::InitiateAuthentication => "initiateAuthentication",
            Es9Function::GetBoundProfilePackage => "getBoundProfilePackage",
            Es9Function::AuthenticateClient => "authenticateClient",
            Es9Function::HandleNotification => "handleNotification",
            Es9Function::CancelSession => "cancelSession",
        }
    }

    /// The HTTP path, e.g. `/gsma/rsp2/es9plus/initiateAuthentication` (SGP.22 §6.5.2).
    pub const fn path(self) -> &'static str {
        match self {
            Es9Function::InitiateAuthentication => "/gsma/rsp2/es9plus/initiateAuthentication",
            Es9Function::GetBoundProfilePackage => "/gsma/rsp2/es9plus/getBoundProfilePackage",
            Es9Function::AuthenticateClient => "/gsma/rsp2/es9plus/authenticateClient",
            Es9Function::HandleNotification => "/gsma/rsp2/es9plus/handleNotification",
            Es9Function::CancelSession => "/gsma/rsp2/es9plus/cancelSession",
        }
    }
}

/// The ES11 functions an LPA calls on an SM-DS for profile discovery (SGP.22 §5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Es11Function {
    /// `initiateAuthentication` (§5.8.1): same exchange as the ES9+ one, with the SM-DS.
    InitiateAuthentication,
    /// `authenticateClient` (§5.8.2): returns the event entries waiting for this EID.
    AuthenticateClient,
}

impl Es11Function {
    /// The function name, e.g. `authenticateClient`.
    pub const fn name(self) -> &'static str {
        match self {
            Es11Function::InitiateAuthentication => "initiateAuthentication",
            Es11Function::AuthenticateClient => "authenticateClient",
        }
    }

    /// The path deployed SM-DS servers answer: the ES9+ one, e.g.
    /// `/gsma/rsp2/es9plus/authenticateClient`.
    ///
    /// lpac and euicc-go send discovery to these paths, and that works against the live GSMA
    /// root SM-DS, which is reported to answer 404 on the `es11` paths. Use this one as a client.
    pub const fn path(self) -> &'static str {
        match self {
            Es11Function::InitiateAuthentication => "/gsma/rsp2/es9plus/initiateAuthentication",
            Es11Function::AuthenticateClient => "/gsma/rsp2/es9plus/authenticateClient",
        }
    }

    /// The path SGP.22 §6.5.2 gives, e.g. `/gsma/rsp2/es11/authenticateClient`. A server should
    /// answer on both this and [`Es11Function::path`].
    pub const fn spec_path(self) -> &'static str {
        match self {
            Es11Function::InitiateAuthentication => "/gsma/rsp2/es11/initiateAuthentication",
            Es11Function::AuthenticateClient => "/gsma/rsp2/es11/authenticateClient",
        }
    }
}

/// Builds `https://<address>/gsma/rsp2/es9plus/<function>`.
///
/// `address` is an SM-DP+ address as found in an activation code or a notification: a host name
/// or IP literal with an optional `:port`. Surrounding white space (seen in notification
/// addresses on real cards), one leading `https://` and trailing `/` are removed. Anything that
/// could change the URL beyond its host (a path, a query, user info, another scheme) is refused
/// with [`Es9Error::InvalidAddress`]: the address comes from a card or a QR code, not from us.
pub fn es9plus_url(address: &str, function: Es9Function) -> Result<String, Es9Error> {
    let host = clean_address(address)?;
    Ok(format!("https://{host}{}", function.path()))
}

/// Builds `https://<address><path>` for an ES11 call, with the path deployed SM-DS servers
/// answer ([`Es11Function::path`]). `address` is cleaned as in [`es9plus_url`].
pub fn es11_url(address: &str, function: Es11Function) -> Result<String, Es9Error> {
    let host = clean_address(address)?;
    Ok(format!("https://{host}{}", function.path()))
}

fn clean_address(address: &str) -> Result<&str, Es9Error> {
    let invalid = || Es9Error::InvalidAddress {
        address: address.to_owned(),
    };
    let trimmed = address.trim();
    let scheme = "https://";
    let without_scheme = match trimmed.get(..scheme.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(scheme) => {
            trimmed.get(scheme.len()..).unwrap_or_default()
        }
        _ => trimmed,
    };
    let host = without_scheme.trim_end_matches('/');
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '[' | ']');
    if host.is_empty() || !host.chars().all(allowed) {
        return Err(invalid());
    }
    Ok(host)
}

// ---------------------------------------------------------------------------------------------
// transactionId (SGP.22 §6.5.2: hex string of TransactionId ::= OCTET STRING (SIZE(1..16)))
// ---------------------------------------------------------------------------------------------

/// An RSP session's transaction ID: 1 to 16 bytes, chosen by the SM-DP+ (SGP.22 §5.6.1).
///
/// In JSON it is hex text. We write upper case and accept either case on input. Servers we know
/// generate upper case (osmo-smdpp: `uuid4().hex.upper()`) and look sessions up by the exact
/// string, so the echo matches; only the bytes are kept, so a server that sent lower case would
/// get its ID back in upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionId {
    bytes: [u8; TransactionId::MAX_LEN],
    len: u8,
}

impl TransactionId {
    /// Longest transaction ID SGP.22 allows, in bytes.
    pub const MAX_LEN: usize = 16;

    /// Wraps raw bytes; fails unless there are 1 to 16 of them.
    pub fn new(bytes: &[u8]) -> Result<Self, Es9Error> {
        let mut out = [0u8; Self::MAX_LEN];
        match (out.get_mut(..bytes.len()), u8::try_from(bytes.len())) {
            (Some(dest), Ok(len)) if len > 0 => {
                dest.copy_from_slice(bytes);
                Ok(TransactionId { bytes: out, len })
            }
            _ => Err(transaction_id_error(format!(
                "must be 1 to 16 bytes, got {}",
                bytes.len()
            ))),
        }
    }

    /// Parses hex text of either case, 2 to 32 digits. No separators or white space.
    pub fn from_hex(text: &str) -> Result<Self, Es9Error> {
        parse_transaction_id(text).map_err(transaction_id_error)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// Upper-case hex, as sent on the wire.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.as_bytes())
    }
}

fn transaction_id_error(detail: String) -> Es9Error {
    Es9Error::InvalidField {
        field: "transactionId",
        detail,
    }
}

fn parse_transaction_id(text: &str) -> Result<TransactionId, String> {
    if text.is_empty() || text.len() > 2 * TransactionId::MAX_LEN || !text.len().is_multiple_of(2) {
        return Err(format!(
            "must be 2 to 32 hex digits, an even number, got {} characters",
            text.len()
        ));
    }
    let mut out = [0u8; TransactionId::MAX_LEN];
    let len = text.len() / 2;
    let dest = out.get_mut(..len).ok_or_else(|| "too long".to_string())?;
    hex::decode_to_slice(text, dest).map_err(|e| format!("invalid hex: {e}"))?;
    let len = u8::try_from(len).map_err(|_| "too long".to_string())?;
    Ok(TransactionId { bytes: out, len })
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.as_bytes() {
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({self})")
    }
}

impl FromStr for TransactionId {
    type Err = Es9Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TransactionId::from_hex(s)
    }
}

impl Serialize for TransactionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TransactionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HexVisitor;

        impl Visitor<'_> for HexVisitor {
            type Value = TransactionId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("hex text in `transactionId`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<TransactionId, E> {
                parse_transaction_id(v)
                    .map_err(|detail| E::custom(format_args!("`transactionId`: {detail}")))
            }
        }

        deserializer.deserialize_str(HexVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Binary fields: standard base64 of DER (SGP.22 §6.5.1)
// ---------------------------------------------------------------------------------------------

/// Decoder for what peers send: standard alphabet; padding optional, since its absence is
/// unambiguous and refusing it would only break interoperability.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes with the standard alphabet and padding, as SGP.22 §6.5.1 asks.
fn serialize_base64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&STANDARD.encode(bytes))
}

fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    // lpac strips white space (newlines, spaces, tabs) from every base64 value a server sends
    // before decoding it, i.e. line-wrapped base64 has been met in the field; do the same,
    // without copying in the usual case.
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        BASE64_LENIENT.decode(compact)
    } else {
        BASE64_LENIENT.decode(text)
    }
}

/// Deserializes one named binary field; the name goes into the error so that
/// [`decode_response`] can report which field was bad.
struct Base64Visitor {
    field: &'static str,
}

impl Visitor<'_> for Base64Visitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "base64 text in `{}`", self.field)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        decode_base64(v)
            .map_err(|e| E::custom(format_args!("`{}`: invalid base64: {e}", self.field)))
    }
}

/// One deserialize function per binary field, so that each knows its JSON name (serde gives a
/// `deserialize_with` function no way to learn the field it is decoding).
macro_rules! base64_fields {
    ($($func:ident => $json:literal,)*) => {
        $(
            fn $func<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
                deserializer.deserialize_str(Base64Visitor { field: $json })
            }
        )*

        /// Every JSON field name that can appear in an error of this module.
        const KNOWN_FIELDS: &[&str] = &[
            $($json,)*
            "transactionId", "smdpAddress", "smdsAddress", "header", "functionExecutionStatus",
            "status", "statusCodeData", "subjectCode", "reasonCode", "subjectIdentifier",
            "message", "eventEntries", "eventId", "rspServerAddress",
        ];
    };
}

base64_fields! {
    de_euicc_challenge => "euiccChallenge",
    de_euicc_info1 => "euiccInfo1",
    de_authenticate_server_response => "authenticateServerResponse",
    de_prepare_download_response => "prepareDownloadResponse",
    de_pending_notification => "pendingNotification",
    de_cancel_session_response => "cancelSessionResponse",
    de_server_signed1 => "serverSigned1",
    de_server_signature1 => "serverSignature1",
    de_euicc_ci_pkid_to_be_used => "euiccCiPKIdToBeUsed",
    de_server_certificate => "serverCertificate",
    de_profile_metadata => "profileMetadata",
    de_smdp_signed2 => "smdpSigned2",
    de_smdp_signature2 => "smdpSignature2",
    de_smdp_certificate => "smdpCertificate",
    de_bound_profile_package => "boundProfilePackage",
}

// ---------------------------------------------------------------------------------------------
// Request bodies (LPA to server)
// ---------------------------------------------------------------------------------------------

/// ES9+.InitiateAuthentication request (SGP.22 §5.6.1, JSON §6.5.2.6).
///
/// An LPA doing discovery on the live SM-DS also sends this body (with the SM-DS address in
/// `smdpAddress`) to the ES9+ path, as lpac and euicc-go do; see
/// [`Es11InitiateAuthenticationRequest`] for the spec's ES11 form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiateAuthenticationRequest {
    /// `euiccChallenge`: the 16 random bytes from ES10b.GetEUICCChallenge (raw, no tag).
    #[serde(
        rename = "euiccChallenge",
        serialize_with = "serialize_base64",
        deserialize_with = "de_euicc_challenge"
    )]
    pub euicc_challenge: Vec<u8>,
    /// `euiccInfo1`: the DER EUICCInfo1 (`BF20`) from ES10b.GetEUICCInfo.
    #[serde(
        rename = "euiccInfo1",
        serialize_with = "serialize_base64",
        deserialize_with = "de_euicc_info1"
    )]
    pub euicc_info1: Vec<u8>,
    /// `smdpAddress`: the address the LPA used; the server compares it with its own name.
    #[serde(rename = "smdpAddress")]
    pub smdp_address: String,
}

/// ES9+.AuthenticateClient request (SGP.22 §5.6.3, JSON §6.5.2.8); ES11.AuthenticateClient
/// (§5.8.2) has the same body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateClientRequest {
    /// `transactionId` from the InitiateAuthentication response.
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// `authenticateServerResponse`: the card's DER AuthenticateServerResponse (`BF38`).
    #[serde(
        rename = "authenticateServerResponse",
        serialize_with = "serialize_base64",
        deserialize_with = "de_authenticate_server_response"
    )]
    pub authenticate_server_response: Vec<u8>,
}

/// ES9+.GetBoundProfilePackage request (SGP.22 §5.6.2, JSON §6.5.2.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBoundProfilePackageRequest {
    /// `transactionId` of the session.
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// `prepareDownloadResponse`: the card's DER PrepareDownloadResponse (`BF21`).
    #[serde(
        rename = "prepareDownloadResponse",
        serialize_with = "serialize_base64",
        deserialize_with = "de_prepare_download_response"
    )]
    pub prepare_download_response: Vec<u8>,
}

/// ES9+.HandleNotification request (SGP.22 §5.6.4, JSON §6.5.2.9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleNotificationRequest {
    /// `pendingNotification`: the DER PendingNotification exactly as the card returned it
    /// (a ProfileInstallationResult `BF37` or an OtherSignedNotification `30`).
    #[serde(
        rename = "pendingNotification",
        serialize_with = "serialize_base64",
        deserialize_with = "de_pending_notification"
    )]
    pub pending_notification: Vec<u8>,
}

/// ES9+.CancelSession request (SGP.22 §5.6.5, JSON §6.5.2.10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelSessionRequest {
    /// `transactionId` of the session being cancelled.
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// `cancelSessionResponse`: the card's signed DER CancelSessionResponse (`BF41`).
    #[serde(
        rename = "cancelSessionResponse",
        serialize_with = "serialize_base64",
        deserialize_with = "de_cancel_session_response"
    )]
    pub cancel_session_response: Vec<u8>,
}

/// ES11.InitiateAuthentication request in the spec's form (SGP.22 §5.8.1, JSON §6.5.2),
/// which names the address `smdsAddress`.
///
/// On input `smdpAddress` is accepted too, so a test SM-DS parses both this and what lpac and
/// euicc-go send ([`InitiateAuthenticationRequest`] to the ES9+ path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es11InitiateAuthenticationRequest {
    /// `euiccChallenge`: 16 random bytes from ES10b.GetEUICCChallenge.
    #[serde(
        rename = "euiccChallenge",
        serialize_with = "serialize_base64",
        deserialize_with = "de_euicc_challenge"
    )]
    pub euicc_challenge: Vec<u8>,
    /// `euiccInfo1`: the DER EUICCInfo1 (`BF20`).
    #[serde(
        rename = "euiccInfo1",
        serialize_with = "serialize_base64",
        deserialize_with = "de_euicc_info1"
    )]
    pub euicc_info1: Vec<u8>,
    /// `smdsAddress`: the SM-DS address the LPA used.
    #[serde(rename = "smdsAddress", alias = "smdpAddress")]
    pub smds_address: String,
}

// ---------------------------------------------------------------------------------------------
// Response header (SGP.22 §6.5.1.4)
// ---------------------------------------------------------------------------------------------

/// `header.functionExecutionStatus.status` (SGP.22 §6.5.1.4).
///
/// A status string outside the four SGP.22 values is kept in [`FunctionStatus::Other`] rather
/// than failing the parse, so the caller can still see the codes that came with it;
/// [`decode_response`] treats it as a failure, since it does not say the function succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FunctionStatus {
    /// `Executed-Success`.
    ExecutedSuccess,
    /// `Executed-WithWarning`: done, with a note in `statusCodeData`.
    ExecutedWithWarning,
    /// `Failed`: refused; `statusCodeData` says why.
    Failed,
    /// `Expired`: the function's validity period (e.g. the download order) ran out.
    Expired,
    /// Any other string, kept as received.
    Other(String),
}

impl FunctionStatus {
    /// The wire string, e.g. `Executed-Success`.
    pub fn as_str(&self) -> &str {
        match self {
            FunctionStatus::ExecutedSuccess => "Executed-Success",
            FunctionStatus::ExecutedWithWarning => "Executed-WithWarning",
            FunctionStatus::Failed => "Failed",
            FunctionStatus::Expired => "Expired",
            FunctionStatus::Other(s) => s,
        }
    }

    /// Whether the function was executed (`Executed-Success` or `Executed-WithWarning`).
    pub fn is_executed(&self) -> bool {
        matches!(
            self,
            FunctionStatus::ExecutedSuccess | FunctionStatus::ExecutedWithWarning
        )
    }

    fn from_wire(s: &str) -> Self {
        match s {
            "Executed-Success" => FunctionStatus::ExecutedSuccess,
            "Executed-WithWarning" => FunctionStatus::ExecutedWithWarning,
            "Failed" => FunctionStatus::Failed,
            "Expired" => FunctionStatus::Expired,
            other => FunctionStatus::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for FunctionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FunctionStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FunctionStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;

        impl Visitor<'_> for StatusVisitor {
            type Value = FunctionStatus;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status string in `status`")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<FunctionStatus, E> {
                Ok(FunctionStatus::from_wire(v))
            }
        }

        deserializer.deserialize_str(StatusVisitor)
    }
}

/// `statusCodeData` (SGP.22 §6.5.1.4): why a function failed or warned.
///
/// Codes are dotted strings such as `8.2.6` (subject: what the problem is about) and `3.8`
/// (reason: what is wrong with it); [`status_code_meaning`] explains common pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCodeData {
    /// `subjectCode`, e.g. `8.2.6`. Empty if the server left it out.
    #[serde(rename = "subjectCode", default)]
    pub subject_code: String,
    /// `reasonCode`, e.g. `3.8`. Empty if the server left it out.
    #[serde(rename = "reasonCode", default)]
    pub reason_code: String,
    /// `subjectIdentifier`: which instance of the subject, when the server says.
    #[serde(
        rename = "subjectIdentifier",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_identifier: Option<String>,
    /// `message`: free text from the server.
    #[serde(rename = "message", default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl StatusCodeData {
    /// Codes without identifier or message.
    pub fn new(subject_code: &str, reason_code: &str) -> Self {
        StatusCodeData {
            subject_code: subject_code.to_owned(),
            reason_code: reason_code.to_owned(),
            subject_identifier: None,
            message: None,
        }
    }

    /// Adds a `message`.
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = Some(message.to_owned());
        self
    }

    /// Plain-words meaning of this subject/reason pair, when it is a common one.
    pub fn meaning(&self) -> Option<&'static str> {
        status_code_meaning(&self.subject_code, &self.reason_code)
    }
}

/// `functionExecutionStatus` (SGP.22 §6.5.1.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionExecutionStatus {
    /// `status`.
    #[serde(rename = "status")]
    pub status: FunctionStatus,
    /// `statusCodeData`: present with `Failed`, `Expired` and `Executed-WithWarning`.
    #[serde(
        rename = "statusCodeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_code_data: Option<StatusCodeData>,
}

/// The `header` of every ES9+/ES11 JSON response (SGP.22 §6.5.1.4).
///
/// ES9+ and ES11 requests carry no header; only ES2+/ES12 requests do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    /// `functionExecutionStatus`.
    #[serde(rename = "functionExecutionStatus")]
    pub function_execution_status: FunctionExecutionStatus,
}

impl ResponseHeader {
    /// `Executed-Success` without status code data.
    pub fn success() -> Self {
        Self::with_status(FunctionStatus::ExecutedSuccess, None)
    }

    /// `Executed-WithWarning` with the given codes.
    pub fn warning(data: StatusCodeData) -> Self {
        Self::with_status(FunctionStatus::ExecutedWithWarning, Some(data))
    }

    /// `Failed` with the given codes.
    pub fn failed(data: StatusCodeData) -> Self {
        Self::with_status(FunctionStatus::Failed, Some(data))
    }

    /// `Expired` with the given codes.
    pub fn expired(data: StatusCodeData) -> Self {
        Self::with_status(FunctionStatus::Expired, Some(data))
    }

    fn with_status(status: FunctionStatus, status_code_data: Option<StatusCodeData>) -> Self {
        ResponseHeader {
            function_execution_status: FunctionExecutionStatus {
                status,
                status_code_data,
            },
        }
    }

    /// The status.
    pub fn status(&self) -> &FunctionStatus {
        &self.function_execution_status.status
    }

    /// The status code data, if any.
    pub fn status_code_data(&self) -> Option<&StatusCodeData> {
        self.function_execution_status.status_code_data.as_ref()
    }
}

// ---------------------------------------------------------------------------------------------
// Response bodies (server to LPA), without the header: see `Es9Response`
// ---------------------------------------------------------------------------------------------

/// ES9+.InitiateAuthentication success body (SGP.22 §5.6.1, JSON §6.5.2.6); ES11's
/// InitiateAuthentication (§5.8.1) answers the same fields.
///
/// The four binary fields go unchanged into ES10b.AuthenticateServer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitiateAuthenticationOk {
    /// `transactionId`: the new session's ID.
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// `serverSigned1`: DER ServerSigned1 (`30`), echoing our challenge and address.
    #[serde(
        rename = "serverSigned1",
        serialize_with = "serialize_base64",
        deserialize_with = "de_server_signed1"
    )]
    pub server_signed1: Vec<u8>,
    /// `serverSignature1`: DER `5F37` with the raw r||s signature.
    #[serde(
        rename = "serverSignature1",
        serialize_with = "serialize_base64",
        deserialize_with = "de_server_signature1"
    )]
    pub server_signature1: Vec<u8>,
    /// `euiccCiPKIdToBeUsed`: DER SubjectKeyIdentifier (`04 14 ..`) of the CI to use.
    #[serde(
        rename = "euiccCiPKIdToBeUsed",
        serialize_with = "serialize_base64",
        deserialize_with = "de_euicc_ci_pkid_to_be_used"
    )]
    pub euicc_ci_pkid_to_be_used: Vec<u8>,
    /// `serverCertificate`: DER CERT.DPauth (or CERT.DSauth) X.509 certificate.
    #[serde(
        rename = "serverCertificate",
        serialize_with = "serialize_base64",
        deserialize_with = "de_server_certificate"
    )]
    pub server_certificate: Vec<u8>,
}

/// ES9+.AuthenticateClient success body (SGP.22 §5.6.3, JSON §6.5.2.8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticateClientOk {
    /// `transactionId` of the session.
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// `profileMetadata`: DER StoreMetadataRequest (`BF25`), shown to the user for consent.
    #[serde(
        rename = "profileMetadata",
        serialize_with = "serialize_base64",
        deserialize_with = "de_profile_metadata"
    )]
    pub profile_metadata: Vec<u8>,
    /// `smdpSigned2`: DER SmdpSigned2 (`30`), carrying ccRequiredFlag.
    #[serde(
        rename = "smdpSigned2",
        serialize_with = "serialize_base64",
        deserialize_with = "de_smdp_signed2"
    )]
    pub smdp_signed2: Vec<u8>,
    /// `smdpSignature2`: DER `5F37` signature.
    #[serde(
        rename = "smdpSignature2",
        serialize_with = "serialize_base64",
        deserialize_with = "de_smdp_signature2"
    )]
    pub smdp_signature2: Vec<u8>,
    /// `smdpCertificate`: DER CERT.DPpb X.509 certificate.
    #[serde(
        rename = "smdpCertificate",
        serialize_with = "serialize_base64",
        deserialize_with = "de_smdp_certificate"
    )]
    pub smdp_certificate: Vec<u8>,
}

/// ES9+.GetBoundProfilePackage success body (SGP.22 §5.6.2, JSON §6.5.2.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetBoundProfilePackageOk {
    /// `transactionId` of the session.
    #[serde(rename = "transactionId")]
    pub transaction_id: TransactionId,
    /// `boundProfilePackage`: DER BoundProfilePackage (`BF36`).
    #[serde(
        rename = "boundProfilePackage",
        serialize_with = "serialize_base64",
        deserialize_with = "de_bound_profile_package"
    )]
    pub bound_profile_package: Vec<u8>,
}

/// One discovered event (SGP.22 §5.8.2, ASN.1 `EventEntries`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEntry {
    /// `eventId`: used as the matching ID with the SM-DP+.
    #[serde(rename = "eventId")]
    pub event_id: String,
    /// `rspServerAddress`: the SM-DP+ (or another SM-DS) to go to.
    #[serde(rename = "rspServerAddress")]
    pub rsp_server_address: String,
}

/// ES11.AuthenticateClient success body (SGP.22 §5.8.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es11AuthenticateClientOk {
    /// `transactionId`: mandatory in SGP.22, but optional here because the LPA has no use for
    /// it after discovery and lpac ignores it, so a server omitting it still works with lpac.
    #[serde(
        rename = "transactionId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub transaction_id: Option<TransactionId>,
    /// `eventEntries`: possibly empty; a missing list is read as empty.
    #[serde(rename = "eventEntries", default)]
    pub event_entries: Vec<EventEntry>,
}

/// The success body of functions that answer with the header alone: ES9+.CancelSession
/// (§5.6.5) and ES9+.HandleNotification (§5.6.4, normally HTTP 204 without any body).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyBody {}

/// A response body [`decode_response`] can produce.
pub trait ResponseBody: DeserializeOwned {
    /// The value for a 2xx answer without a body, for functions where SGP.22 allows one
    /// (HandleNotification answers 204 No Content); `None` when a body is required.
    fn from_empty_body() -> Option<Self> {
        None
    }
}

impl ResponseBody for InitiateAuthenticationOk {}
impl ResponseBody for AuthenticateClientOk {}
impl ResponseBody for GetBoundProfilePackageOk {}
impl ResponseBody for Es11AuthenticateClientOk {}
impl ResponseBody for EmptyBody {
    fn from_empty_body() -> Option<Self> {
        Some(EmptyBody {})
    }
}

/// A whole JSON response: the header plus the function's fields, side by side in one object.
///
/// A server builds one with [`Es9Response::success`] (or [`Es9Response::failed`]) and
/// [`encode_json`]; an LPA gets one from [`decode_response`], which has already turned
/// `Failed`/`Expired` into [`Es9Error::Failed`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es9Response<T> {
    /// `header`.
    #[serde(rename = "header")]
    pub header: ResponseHeader,
    /// The function's own fields, flattened beside `header`.
    #[serde(flatten)]
    pub body: T,
}

impl<T> Es9Response<T> {
    /// An `Executed-Success` response.
    pub fn success(body: T) -> Self {
        Es9Response {
            header: ResponseHeader::success(),
            body,
        }
    }

    /// The warning of an `Executed-WithWarning` response; the LPA should log or show it.
    pub fn warning(&self) -> Option<&StatusCodeData> {
        match self.header.status() {
            FunctionStatus::ExecutedWithWarning => self.header.status_code_data(),
            _ => None,
        }
    }
}

impl Es9Response<EmptyBody> {
    /// A `Failed` response carrying only the header, as a server answers any refused function.
    pub fn failed(data: StatusCodeData) -> Self {
        Es9Response {
            header: ResponseHeader::failed(data),
            body: EmptyBody {},
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding and encoding
// ---------------------------------------------------------------------------------------------

/// How much of a non-JSON body [`Es9Error::Http`] keeps, in bytes.
pub const BODY_EXCERPT_LEN: usize = 200;

/// The header alone, read before the body so that a `Failed` answer (which has no body
/// fields) is reported as such rather than as missing fields.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "header", default)]
    header: Option<ResponseHeader>,
}

/// Turns an HTTP answer to an ES9+/ES11 call into the function's body or an [`Es9Error`].
///
/// - 2xx with `Executed-Success` or `Executed-WithWarning`: `Ok` (see
///   [`Es9Response::warning`]).
/// - 2xx with an empty body: `Ok` where the function allows it ([`ResponseBody`]), e.g.
///   HandleNotification's 204; [`Es9Error::MissingBody`] otherwise.
/// - Any status with a JSON header saying `Failed`, `Expired` or an unknown status:
///   [`Es9Error::Failed`] with the subject and reason codes.
/// - Non-2xx without such a header (e.g. HTTP 500 with an empty or HTML body, which servers
///   in the wild send): [`Es9Error::Http`].
/// - 2xx with broken content: [`Es9Error::InvalidJson`], [`Es9Error::MissingHeader`],
///   [`Es9Error::InvalidField`] (naming the field) or [`Es9Error::InvalidBody`].
///
/// Unknown JSON fields are ignored. Never panics, whatever the bytes.
pub fn decode_response<T: ResponseBody>(
    http_status: u16,
    body: &[u8],
) -> Result<Es9Response<T>, Es9Error> {
    let success_class = (200..300).contains(&http_status);
    let text = strip_bom(body);
    if text.iter().all(u8::is_ascii_whitespace) {
        return match (success_class, T::from_empty_body()) {
            (true, Some(empty)) => Ok(Es9Response::success(empty)),
            (true, None) => Err(Es9Error::MissingBody { http_status }),
            (false, _) => Err(http_error(http_status, body)),
        };
    }

    let envelope = if looks_like_object(text) {
        serde_json::from_slice::<Envelope>(text).map_err(map_json_error)
    } else {
        Err(Es9Error::InvalidBody {
            detail: "not a JSON object".to_owned(),
        })
    };
    let header = match (envelope, success_class) {
        (Ok(Envelope { header: Some(h) }), _) => h,
        (Ok(Envelope { header: None }), true) => return Err(Es9Error::MissingHeader),
        (Err(e), true) => return Err(e),
        (_, false) => return Err(http_error(http_status, body)),
    };

    if !header.status().is_executed() {
        return Err(Es9Error::failed_from(header));
    }
    if !success_class {
        // "Executed" with an error status: the HTTP status is the more credible of the two.
        return Err(http_error(http_status, body));
    }
    let parsed = serde_json::from_slice::<T>(text).map_err(map_json_error)?;
    Ok(Es9Response {
        header,
        body: parsed,
    })
}

/// Parses a request body on the server side (a test SM-DP+/SM-DS), with the same error
/// mapping as [`decode_response`]. Unknown fields are ignored.
pub fn decode_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, Es9Error> {
    let text = strip_bom(body);
    if !looks_like_object(text) {
        return Err(Es9Error::InvalidBody {
            detail: "not a JSON object".to_owned(),
        });
    }
    serde_json::from_slice(text).map_err(map_json_error)
}

/// Serializes a request or response body as compact JSON.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Es9Error> {
    serde_json::to_vec(value).map_err(|e| Es9Error::Encode {
        detail: e.to_string(),
    })
}

fn strip_bom(body: &[u8]) -> &[u8] {
    // A UTF-8 byte order mark is invalid JSON but harmless; some Windows-hosted servers send it.
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn looks_like_object(text: &[u8]) -> bool {
    // serde's derived structs also accept JSON arrays (by position); SGP.22 bodies are objects,
    // so anything else is rejected up front.
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn http_error(status: u16, body: &[u8]) -> Es9Error {
    let excerpt: Vec<u8> = body.iter().copied().take(BODY_EXCERPT_LEN).collect();
    Es9Error::Http {
        status,
        body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
    }
}

fn map_json_error(error: serde_json::Error) -> Es9Error {
    let detail = error.to_string();
    match error.classify() {
        serde_json::error::Category::Data => match field_named_in(&detail) {
            Some(field) => Es9Error::InvalidField { field, detail },
            None => Es9Error::InvalidBody { detail },
        },
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => Es9Error::InvalidJson { detail },
    }
}

/// The field a serde error is about. serde writes "missing field `x`" and "invalid type: ..,
/// expected .. in `x`", and our own decoders "`x`: ..": the field is the last back-quoted word.
/// It must be one of ours, so that a quoted value from the server is never taken for a name.
fn field_named_in(message: &str) -> Option<&'static str> {
    let end = message.rfind('`')?;
    let before = message.get(..end)?;
    let start = before.rfind('`')?;
    let name = before.get(start + 1..)?;
    KNOWN_FIELDS.iter().copied().find(|known| *known == name)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// What went wrong with an ES9+/ES11 exchange, grouped by who is at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Es9Error {
    // --- the server refused ---
    /// The server answered `Failed`, `Expired` or an unknown status (SGP.22 §6.5.1.4).
    /// [`Es9Error::meaning`] explains common codes; empty codes mean the server sent none.
    Failed {
        /// The status as received.
        status: FunctionStatus,
        /// `subjectCode`, e.g. `8.2.6`.
        subject_code: String,
        /// `reasonCode`, e.g. `3.8`.
        reason_code: String,
        /// `subjectIdentifier`, if sent.
        subject_identifier: Option<String>,
        /// `message`, if sent.
        message: Option<String>,
    },
    // --- transport / server trouble ---
    /// A non-2xx HTTP status without an SGP.22 JSON header (e.g. HTTP 500, empty body).
    Http {
        /// The HTTP status code.
        status: u16,
        /// The first [`BODY_EXCERPT_LEN`] bytes of the body, lossily as text.
        body_excerpt: String,
    },
    // --- the peer misbehaved ---
    /// A 2xx answer with an empty body where the function must return data.
    MissingBody {
        /// The HTTP status code.
        http_status: u16,
    },
    /// The body is not JSON (or is cut short).
    InvalidJson {
        /// serde_json's description, with line and column.
        detail: String,
    },
    /// A JSON body without `header.functionExecutionStatus`.
    MissingHeader,
    /// A field is missing, has the wrong type, or holds bad base64 or hex. Also returned for a
    /// bad [`TransactionId`] given to [`TransactionId::new`] or [`TransactionId::from_hex`].
    InvalidField {
        /// The JSON field name, e.g. `serverSigned1`.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The JSON does not have the expected shape, and no single field is to blame.
    InvalidBody {
        /// What is wrong.
        detail: String,
    },
    // --- bad input from the caller ---
    /// An SM-DP+/SM-DS address that is not a plain `host[:port]`.
    InvalidAddress {
        /// The address as given.
        address: String,
    },
    /// A value could not be serialized (not expected for this module's types).
    Encode {
        /// serde_json's description.
        detail: String,
    },
}

impl Es9Error {
    fn failed_from(header: ResponseHeader) -> Self {
        let FunctionExecutionStatus {
            status,
            status_code_data,
        } = header.function_execution_status;
        let data = status_code_data.unwrap_or_default();
        Es9Error::Failed {
            status,
            subject_code: data.subject_code,
            reason_code: data.reason_code,
            subject_identifier: data.subject_identifier,
            message: data.message,
        }
    }

    /// For [`Es9Error::Failed`], the plain-words meaning of its subject/reason code pair when
    /// it is one of the common ones ([`status_code_meaning`]); `None` otherwise.
    pub fn meaning(&self) -> Option<&'static str> {
        match self {
            Es9Error::Failed {
                subject_code,
                reason_code,
                ..
            } => status_code_meaning(subject_code, reason_code),
            _ => None,
        }
    }
}

impl fmt::Display for Es9Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Es9Error::Failed {
                status,
                subject_code,
                reason_code,
                subject_identifier,
                message,
            } => {
                write!(
                    f,
                    "server answered {status} (subject code {subject_code:?}, reason code {reason_code:?})"
                )?;
                if let Some(meaning) = self.meaning() {
                    write!(f, ": {meaning}")?;
                }
                if let Some(message) = message {
                    write!(f, "; server message: {message:?}")?;
                }
                if let Some(id) = subject_identifier {
                    write!(f, "; subject identifier: {id:?}")?;
                }
                Ok(())
            }
            Es9Error::Http {
                status,
                body_excerpt,
            } => {
                write!(f, "HTTP status {status} without an SGP.22 JSON answer")?;
                if !body_excerpt.is_empty() {
                    write!(f, "; body starts with {body_excerpt:?}")?;
                }
                Ok(())
            }
            Es9Error::MissingBody { http_status } => write!(
                f,
                "HTTP status {http_status} with an empty body, but this function returns data"
            ),
            Es9Error::InvalidJson { detail } => write!(f, "response is not valid JSON: {detail}"),
            Es9Error::MissingHeader => f.write_str(
                "JSON body without header.functionExecutionStatus (SGP.22 section 6.5.1.4)",
            ),
            Es9Error::InvalidField { field, detail } => {
                write!(f, "invalid JSON field `{field}`: {detail}")
            }
            Es9Error::InvalidBody { detail } => {
                write!(f, "JSON body does not have the expected shape: {detail}")
            }
            Es9Error::InvalidAddress { address } => {
                write!(f, "not a server address (host[:port]): {address:?}")
            }
            Es9Error::Encode { detail } => write!(f, "could not encode JSON: {detail}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Es9Error {}

/// Common subject/reason code pairs, in our words, with the SGP.22 v2.5 table that lists them.
const STATUS_CODE_MEANINGS: &[(&str, &str, &str)] = &[
    // ES9+.InitiateAuthentication, §5.6.1
    (
        "8.8.1",
        "3.8",
        "the server does not accept the address it was called with (smdpAddress must be its own host name)",
    ),
    (
        "8.8.2",
        "3.1",
        "the server supports none of the CI public keys the eUICC trusts",
    ),
    (
        "8.8.3",
        "3.1",
        "the server does not support the eUICC's SGP.22 version",
    ),
    (
        "8.8.4",
        "3.7",
        "the server has no authentication certificate issued under a CI the eUICC trusts",
    ),
    // ES9+.AuthenticateClient, §5.6.3
    (
        "8.1",
        "6.1",
        "the eUICC's signature did not verify, or it signed a different server challenge",
    ),
    (
        "8.1.1",
        "3.8",
        "the profile is reserved for a different eUICC (EID mismatch)",
    ),
    ("8.1.2", "6.1", "the EUM certificate did not verify"),
    ("8.1.2", "6.3", "the EUM certificate has expired"),
    ("8.1.3", "6.1", "the eUICC certificate did not verify"),
    ("8.1.3", "6.3", "the eUICC certificate has expired"),
    (
        "8.2",
        "1.2",
        "the operator has not released the profile for download yet",
    ),
    (
        "8.2.5",
        "4.3",
        "no profile of the ordered type suits this eUICC or device",
    ),
    (
        "8.2.6",
        "3.8",
        "Matching ID refused: the activation code is unknown, already used, or not for this eUICC",
    ),
    ("8.8.5", "4.1", "the download order has expired"),
    (
        "8.8.5",
        "6.4",
        "the download order has used up its allowed number of attempts",
    ),
    (
        "8.10.1",
        "3.9",
        "the server does not know this transaction ID (the session expired or never existed)",
    ),
    (
        "8.11.1",
        "3.9",
        "the CI that issued the EUM certificate is unknown to the server",
    ),
    // ES9+.GetBoundProfilePackage, §5.6.2
    (
        "8.1",
        "4.8",
        "the eUICC does not have enough free memory for this profile",
    ),
    (
        "8.2",
        "3.7",
        "the profile package can no longer be bound (it was already downloaded or is locked)",
    ),
    (
        "8.2.7",
        "2.2",
        "a confirmation code is required but none was given",
    ),
    ("8.2.7", "3.8", "the confirmation code is wrong"),
    (
        "8.2.7",
        "6.4",
        "too many wrong confirmation codes: the order is blocked",
    ),
    // ES9+.CancelSession, §5.6.5
    (
        "8.8",
        "3.10",
        "the SM-DP+ OID the eUICC signed does not belong to this server",
    ),
    // ES11.InitiateAuthentication / ES11.AuthenticateClient, §5.8.1 and §5.8.2
    (
        "8.9",
        "4.2",
        "another SM-DS in the cascade reported an error",
    ),
    (
        "8.9",
        "5.1",
        "the SM-DS (or one it had to ask) could not be reached",
    ),
    (
        "8.9.1",
        "3.8",
        "the SM-DS does not accept the address it was called with",
    ),
    (
        "8.9.2",
        "3.1",
        "the SM-DS supports none of the CI public keys the eUICC trusts",
    ),
    (
        "8.9.3",
        "3.1",
        "the SM-DS does not support the eUICC's SGP.22 version",
    ),
    (
        "8.9.4",
        "3.7",
        "the SM-DS has no certificate issued under a CI the eUICC trusts",
    ),
];

/// Plain-words meaning of a subject/reason code pair from the per-function error tables of
/// SGP.22 §5.6 (ES9+) and §5.8 (ES11), e.g. `("8.2.6", "3.8")` (matching ID refused).
/// `None` for pairs not in our table.
pub fn status_code_meaning(subject_code: &str, reason_code: &str) -> Option<&'static str> {
    STATUS_CODE_MEANINGS
        .iter()
        .find(|(subject, reason, _)| *subject == subject_code && *reason == reason_code)
        .map(|(_, _, meaning)| *meaning)
}

#[cfg(test)]
// Tests may panic: a failed unwrap or index is a failed test, and exact vectors read best as
// literals and slices.
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use alloc::vec;
    use std::string::ToString;

    // The recorded session (tests/data/rsp-session/PROVENANCE.md).
    const EUICC_CHALLENGE: &[u8] = include_bytes!("../tests/data/rsp-session/euicc-challenge.bin");
    const EUICC_INFO1: &[u8] = include_bytes!("../tests/data/rsp-session/euicc-info1.der");
    const TRANSACTION_ID: &[u8] = include_bytes!("../tests/data/rsp-session/transaction-id.bin");
    const AUTH_SERVER_RESPONSE: &[u8] =
        include_bytes!("../tests/data/rsp-session/auth-server-response.der");
    const PREPARE_DOWNLOAD_RESPONSE: &[u8] =
        include_bytes!("../tests/data/rsp-session/prepare-download-response.der");
    const PENDING_NOTIFICATION: &[u8] =
        include_bytes!("../tests/data/rsp-session/pending-notification.der");
    const BOUND_PROFILE_PACKAGE: &[u8] =
        include_bytes!("../tests/data/rsp-session/bound-profile-package.der");
    /// InitiateAuthenticationOkEs9 (`30 82 02F1`): `80` transactionId at 4..22, ServerSigned1
    /// at 22..96, `5F37` at 96..163, `04 14` CI PKID at 163..185, certificate at 185..757.
    const INITIATE_RESPONSE: &[u8] =
        include_bytes!("../tests/data/rsp-session/initiate-response.der");
    /// AuthenticateClientResponseEs9 (`BF3B` / `A0`): `80` transactionId at 9..27, `BF25` at
    /// 27..77, SmdpSigned2 at 77..100, `5F37` at 100..167, certificate at 167..740.
    const AUTHENTICATE_RESPONSE: &[u8] =
        include_bytes!("../tests/data/rsp-session/authenticate-response.der");
    /// A CancelSessionResponse in its short error form (`BF41`, [1] invalidTransactionId(5)):
    /// synthetic, the JSON layer does not look inside.
    const CANCEL_SESSION_RESPONSE: &[u8] = &[0xBF, 0x41, 0x03, 0x81, 0x01, 0x05];

    // Expected JSON, produced independently (Python's json + base64) from the files above.
    const INITIATE_AUTHENTICATION_REQUEST: &str = concat!(
        "{\"euiccChallenge\":\"qrvM3e7/ABEiM0RVZneImQ==\",\"euiccInfo1\":\"vyAJggMCAACpAKoA\",\"smdpAddres",
        "s\":\"smdp.example.com\"}",
    );

    const AUTHENTICATE_CLIENT_REQUEST: &str = concat!(
        "{\"transactionId\":\"0102030405060708090A0B0C0D0E0F10\",\"authenticateServerResponse\":\"vziCBS",
        "6gggUqMGqAEAECAwQFBgcICQoLDA0ODxCDEHNtZHAuZXhhbXBsZS5jb22EEPDh0sO0pZaHeGlaSzwtHg+/IiWBAw",
        "ICAIIDAgIAgwMBAACEAQCFAgAAiAIAAKkAqgAEAwIAAAwAoAqhCIAEAAAAAKEAXzdAboTicgjBF4/J9TZUbcCww2",
        "GyXHqYVDvOvvR4W27a3kTH7MegbipIXHqySGa/RB0MzEaqmPhMshmZ7TnCCfFaCTCCAfcwggGdoAMCAQICAQEwCg",
        "YIKoZIzj0EAwIwNzELMAkGA1UEBhMCREUxFTATBgNVBAoMDFJTUCBUZXN0IEVVTTERMA8GA1UEAwwIRVVNIFRlc3",
        "QwIBcNMjYwODA4MTYyNjQ5WhgPMjA1MTA4MDIxNjI2NDlaMGQxCzAJBgNVBAYTAkRFMRUwEwYDVQQKDAxSU1AgVG",
        "VzdCBFVU0xKTAnBgNVBAUTIDg5MDQ5MDMyMTIzNDUxMjM0NTEyMzQ1Njc4OTAxMjM1MRMwEQYDVQQDDApUZXN0IG",
        "VVSUNDMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbbP1OtyH3C/xDHv82HrROulwCa+gZaZ1fuVxs/LrsY9Gwd",
        "aPPt6w50suXVQgUefSf1CVIChgWv3vef6f/9A5WaNrMGkwHQYDVR0OBBYEFKUkdq9dUKo3ZDfMsdohcu9F9ITwMB",
        "8GA1UdIwQYMBaAFN09ok01DBzF0K8JZfQOw0xe5AnxMA4GA1UdDwEB/wQEAwIHgDAXBgNVHSABAf8EDTALMAkGB2",
        "eBEgECAQEwCgYIKoZIzj0EAwIDSAAwRQIhAPf/nOtmXNwfD4g34uTrqLUy/jHRW1SMJ+zmsJYgu94oAiB06Ulv/m",
        "NYJdgdOhpwiQ6YkeIyJ3fTNx1Df3YiWGc3sjCCAnwwggIhoAMCAQICBBI0VngwCgYIKoZIzj0EAwIwSTEVMBMGA1",
        "UEAwwMR1NNQSBUZXN0IENJMREwDwYDVQQLDAhURVNUQ0VSVDEQMA4GA1UECgwHUlNQVEVTVDELMAkGA1UEBhMCSV",
        "QwIBcNMTcwMTE5MTgxMDMwWhgPMjA1MTAxMTkxODEwMzBaMDcxCzAJBgNVBAYTAkRFMRUwEwYDVQQKDAxSU1AgVG",
        "VzdCBFVU0xETAPBgNVBAMMCEVVTSBUZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEzDVklasDLUL2SjQ9M",
        "aAB8SF/j9CmIrT7jh1rjP0mDqyO03UwxNA1nbdjhH5xcuhsR62lO7QmU21KSheYyyJBqOCAQUwggEBMB8GA1UdIw",
        "QYMBaAFPVBcr35ipXWXL64ijihwR2ACoXDMB0GA1UdDgQWBBTdPaJNNQwcxdCvCWX0DsNMXuQJ8TAOBgNVHQ8BAf",
        "8EBAMCAgQwFwYDVR0gAQH/BA0wCzAJBgdngRIBAgECMA4GA1UdEQQHMAWIA4g3BTASBgNVHRMBAf8ECDAGAQH/Ag",
        "EAMDIGA1UdHwQrMCkwJ6AloCOGIWh0dHA6Ly9jaS50ZXN0LmdzbWEuY29tL0NSTC1CLmNybDA+BgNVHR4BAf8END",
        "AyoDAwLqQsMCoxFTATBgNVBAoMDFJTUCBUZXN0IEVVTTERMA8GA1UEBRMIODkwNDkwMzIwCgYIKoZIzj0EAwIDSQ",
        "AwRgIhAIxNSyZATqXd6mXrtDwY26sSy5CX3rd/C6FX44x7GLTuAiEA0Y2c86E0h+5lymtI+MGtwC56fYnxdLWuK1",
        "4dggqbIyM=\"}",
    );

    const GET_BOUND_PROFILE_PACKAGE_REQUEST: &str = concat!(
        "{\"transactionId\":\"0102030405060708090A0B0C0D0E0F10\",\"prepareDownloadResponse\":\"vyGBnqCBm",
        "zBWgBABAgMEBQYHCAkKCwwNDg8QX0lBBKYbWFL+3uzVNz12mvDtvJRQInbZxv8do6FW/s8xxmKZVK6mKGLiJ6669",
        "0XE4dXxvLumE2QA2fCmNDQiX+4lkK5fN0DBDnDWamO1kwvnI+tZK8q1rMW+yQu3uzJH2Xjslf0UGSqtBJeKhSr88",
        "3EbYQv4daabIbReboBjTLLW+4vb8g6c\"}",
    );

    const HANDLE_NOTIFICATION_REQUEST: &str = concat!(
        "{\"pendingNotification\":\"vzeBnr8nWIAQAQIDBAUGBwgJCgsMDQ4PEL8vJYABAYECAIAMEHNtZHAuZXhhbXBs",
        "ZS5jb21aCpgAEDJUdpgQMhQGAog3ohigFk8QoAAABVkQEP////+JAAARAAQCMABfN0DeJntn/RcdQ7hKAoDGerLP",
        "aS2bQpJaEAD7dNEMbIX5hS7WRR1WHyQ17X5JKA/f24rZQOXFeYGwwkKId0RmQGWZ\"}",
    );

    const CANCEL_SESSION_REQUEST: &str = "{\"transactionId\":\"0102030405060708090A0B0C0D0E0F10\",\"cancelSessionResponse\":\"v0EDgQEF\"}";

    const ES11_INITIATE_AUTHENTICATION_REQUEST: &str = concat!(
        "{\"euiccChallenge\":\"qrvM3e7/ABEiM0RVZneImQ==\",\"euiccInfo1\":\"vyAJggMCAACpAKoA\",\"smdsAddres",
        "s\":\"lpa.ds.example.com\"}",
    );

    const INITIATE_AUTHENTICATION_RESPONSE: &str = concat!(
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},\"transactionId\":\"010",
        "2030405060708090A0B0C0D0E0F10\",\"serverSigned1\":\"MEiAEAECAwQFBgcICQoLDA0ODxCBEKq7zN3u/wAR",
        "IjNEVWZ3iJmDEHNtZHAuZXhhbXBsZS5jb22EEPDh0sO0pZaHeGlaSzwtHg8=\",\"serverSignature1\":\"XzdAJV",
        "s9QUguckUTVNBBBo7GRfErMsYCR4lMtK5Tl0TLJxpDsAwOg6acEfgghd8RYirFGzsnQR4rh/GzqXw9By9nSQ==\",",
        "\"euiccCiPKIdToBeUsed\":\"BBT1QXK9+YqV1ly+uIo4ocEdgAqFww==\",\"serverCertificate\":\"MIICODCCAd",
        "+gAwIBAgICAQAwCgYIKoZIzj0EAwIwRDEQMA4GA1UEAwwHVGVzdCBDSTERMA8GA1UECwwIVEVTVENFUlQxEDAOBg",
        "NVBAoMB1JTUFRFU1QxCzAJBgNVBAYTAklUMB4XDTIwMDQwMTA4MzEzMFoXDTMwMDMzMDA4MzEzMFowJTENMAsGA1",
        "UECgwEQUNNRTEUMBIGA1UEAwwLVEVTVCBTTS1EUCswWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARN/tT0aUeRvx",
        "aVzqAwejW0GAGWlTh7t1t9JEe2tSCfBEWuTl5SHNE4iNdf4HyFgCIq4g26rB13zXYwSZNCG9c5o4HfMIHcMB8GA1",
        "UdIwQYMBaAFPVBcr35ipXWXL64ijihwR2ACoXDMB0GA1UdDgQWBBS9WoLMGpZgIRi6dWCh/4OniyEL5TAOBgNVHR",
        "EEBzAFiAOINwowDgYDVR0PAQH/BAQDAgeAMBcGA1UdIAEB/wQNMAswCQYHZ4ESAQIBBDBhBgNVHR8EWjBYMCqgKK",
        "AmhiRodHRwOi8vY2kudGVzdC5leGFtcGxlLmNvbS9DUkwtQS5jcmwwKqAooCaGJGh0dHA6Ly9jaS50ZXN0LmV4YW",
        "1wbGUuY29tL0NSTC1CLmNybDAKBggqhkjOPQQDAgNHADBEAiAII+59+l490Hg46TD4G8NK6Z8Gy6NZJ/6eUCxGTc",
        "H+4wIgDS1Ah9sBpTgtIWkKwEiLFQZ/skYNM2MyRGypnwiopO8=\"}",
    );

    const AUTHENTICATE_CLIENT_RESPONSE: &str = concat!(
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},\"transactionId\":\"010",
        "2030405060708090A0B0C0D0E0F10\",\"profileMetadata\":\"vyUvWgqYABAyVHaYEDIUkQlldWljYy1yc3CSFm",
        "V1aWNjLXJzcCB0ZXN0IHByb2ZpbGU=\",\"smdpSigned2\":\"MBWAEAECAwQFBgcICQoLDA0ODxABAQA=\",\"smdpSi",
        "gnature2\":\"XzdAg+gMsWedfdrHyVzST3zLbo5Nf1QqDNojPX02HE8DV4v9mSm/3TR254WIZa6SS8IAts/IXuWO+",
        "13UkGTMyh8VKg==\",\"smdpCertificate\":\"MIICOTCCAd+gAwIBAgICAQEwCgYIKoZIzj0EAwIwRDEQMA4GA1UE",
        "AwwHVGVzdCBDSTERMA8GA1UECwwIVEVTVENFUlQxEDAOBgNVBAoMB1JTUFRFU1QxCzAJBgNVBAYTAklUMB4XDTIw",
        "MDQwMTA4MzQ0NVoXDTMwMDMzMDA4MzQ0NVowJTENMAsGA1UECgwEQUNNRTEUMBIGA1UEAwwLVEVTVCBTTS1EUCsw",
        "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQQTCrj0C3vnJeSYafGcQB2uXByHQlVomRK4F+uS8IxTl3An2vwEYAm",
        "FlNC4hIxh3XjZfO1cyU3MGa5kG4L0TiNo4HfMIHcMB8GA1UdIwQYMBaAFPVBcr35ipXWXL64ijihwR2ACoXDMB0G",
        "A1UdDgQWBBTm6vce4PuUMOzNHrtCH4gUN8EyYzAOBgNVHREEBzAFiAOINwowDgYDVR0PAQH/BAQDAgeAMBcGA1Ud",
        "IAEB/wQNMAswCQYHZ4ESAQIBBTBhBgNVHR8EWjBYMCqgKKAmhiRodHRwOi8vY2kudGVzdC5leGFtcGxlLmNvbS9D",
        "UkwtQS5jcmwwKqAooCaGJGh0dHA6Ly9jaS50ZXN0LmV4YW1wbGUuY29tL0NSTC1CLmNybDAKBggqhkjOPQQDAgNI",
        "ADBFAiA+pRsBKfwR6EPDjIyxBCRMz5LY3bzU1fna/QrvcAqbHAIhAP7zgv9x/vxYFoo2B9VoXbfLSPa0NCYYkUlj",
        "hbzWtYV6\"}",
    );

    const GET_BOUND_PROFILE_PACKAGE_RESPONSE: &str = concat!(
        "{\"header\":{\"functionExecutionStatus\":{\"status\":\"Executed-Success\"}},\"transactionId\":\"010",
        "2030405060708090A0B0C0D0E0F10\",\"boundProfilePackage\":\"vzaCATm/I4GvggEBgBABAgMEBQYHCAkKCw",
        "wNDg8QphGAAYiBARCECWV1aWNjLXJzcF9JQQRRXD1uueOWuQTT/sp/VP3NDMHpl783XcpRWtCmw7QDX0U2vjpQ8x",
        "j7+aVHWQKiIVAr7w1X4IxTsswKVvF9n5NUXzdA9y0O7bCtLZJ7ee/kn/rE/9IpNq5qCmGvIxhlpzH/ngeZoPd/jg",
        "Z+zIRuM49QkvF+BCl9cBzf88iaZqYPG/U6CKAahxi8Q9Ce8IWVS1XkrNu4e2ZJgTtdtXoC1cmhPIg6vyUvWgqYAB",
        "AyVHaYEDIUkQlldWljYy1yc3CSFmV1aWNjLXJzcCB0ZXN0IHByb2ZpbGWChVHFghtyLaMqhiixOcZzlHeVJWb+rj",
        "zFm4f13hN4ucTcq/zEXFDpYaz4pYHfW8269THU\"}",
    );

    type ErrorCheck = fn(&Es9Error) -> bool;
    type FieldDecoder = fn(&str) -> (&'static str, String);
    type RequestDecoder = fn(&[u8]) -> Result<(), Es9Error>;

    fn tid() -> TransactionId {
        TransactionId::new(TRANSACTION_ID).unwrap()
    }

    fn json(value: &impl Serialize) -> String {
        String::from_utf8(encode_json(value).unwrap()).unwrap()
    }

    // --- requests: exact bytes, and the server side parses them back ---

    #[test]
    fn initiate_authentication_request_is_exact() {
        let request = InitiateAuthenticationRequest {
            euicc_challenge: EUICC_CHALLENGE.to_vec(),
            euicc_info1: EUICC_INFO1.to_vec(),
            smdp_address: "smdp.example.com".to_string(),
        };
        assert_eq!(json(&request), INITIATE_AUTHENTICATION_REQUEST);
        let parsed: InitiateAuthenticationRequest =
            decode_request(INITIATE_AUTHENTICATION_REQUEST.as_bytes()).unwrap();
        assert_eq!(parsed, request);
    }

    #[test]
    fn authenticate_client_request_is_exact() {
        let request = AuthenticateClientRequest {
            transaction_id: tid(),
            authenticate_server_response: AUTH_SERVER_RESPONSE.to_vec(),
        };
        assert_eq!(json(&request), AUTHENTICATE_CLIENT_REQUEST);
        let parsed: AuthenticateClientRequest =
            decode_request(AUTHENTICATE_CLIENT_REQUEST.as_bytes()).unwrap();
        assert_eq!(parsed, request);
    }

    #[test]
    fn get_bound_profile_package_request_is_exact() {
        let request = GetBoundProfilePackageRequest {
            transaction_id: tid(),
            prepare_download_response: PREPARE_DOWNLOAD_RESPONSE.to_vec(),
        };
        assert_eq!(json(&request), GET_BOUND_PROFILE_PACKAGE_REQUEST);
        let parsed: GetBoundProfilePackageRequest =
            decode_request(GET_BOUND_PROFILE_PACKAGE_REQUEST.as_bytes()).unwrap();
        assert_eq!(parsed, request);
    }

    #[test]
    fn handle_notification_request_is_exact() {
        let request = HandleNotificationRequest {
            pending_notification: PENDING_NOTIFICATION.to_vec(),
        };
        assert_eq!(json(&request), HANDLE_NOTIFICATION_REQUEST);
        let parsed: HandleNotificationRequest =
            decode_request(HANDLE_NOTIFICATION_REQUEST.as_bytes()).unwrap();
        assert_eq!(parsed, request);
    }

    #[test]
    fn cancel_session_request_is_exact() {
        let request = CancelSessionRequest {
            transaction_id: tid(),
            cancel_session_response: CANCEL_SESSION_RESPONSE.to_vec(),
        };
        assert_eq!(json(&request), CANCEL_SESSION_REQUEST);
        assert_eq!(
            CANCEL_SESSION_REQUEST,
            r#"{"transactionId":"0102030405060708090A0B0C0D0E0F10","cancelSessionResponse":"v0EDgQEF"}"#
        );
        let parsed: CancelSessionRequest =
            decode_request(CANCEL_SESSION_REQUEST.as_bytes()).unwrap();
        assert_eq!(parsed, request);
    }

    #[test]
    fn es11_initiate_authentication_request_uses_smds_address_and_accepts_smdp_address() {
        let request = Es11InitiateAuthenticationRequest {
            euicc_challenge: EUICC_CHALLENGE.to_vec(),
            euicc_info1: EUICC_INFO1.to_vec(),
            smds_address: "lpa.ds.example.com".to_string(),
        };
        assert_eq!(json(&request), ES11_INITIATE_AUTHENTICATION_REQUEST);
        let parsed: Es11InitiateAuthenticationRequest =
            decode_request(ES11_INITIATE_AUTHENTICATION_REQUEST.as_bytes()).unwrap();
        assert_eq!(parsed, request);
        // What lpac and euicc-go send for discovery: the ES9+ body.
        let lpac_style = r#"{"smdpAddress":"lpa.ds.example.com","euiccChallenge":"qrvM3e7/ABEiM0RVZneImQ==","euiccInfo1":"vyAJggMCAACpAKoA"}"#;
        let parsed: Es11InitiateAuthenticationRequest =
            decode_request(lpac_style.as_bytes()).unwrap();
        assert_eq!(parsed, request);
    }

    #[test]
    fn requests_ignore_unknown_fields_and_report_missing_ones() {
        // SGP.22 v3 adds lpaRspCapability to initiateAuthentication; a v2 server ignores it.
        let newer = r#"{"euiccChallenge":"qrvM3e7/ABEiM0RVZneImQ==","euiccInfo1":"vyAJggMCAACpAKoA","smdpAddress":"smdp.example.com","lpaRspCapability":"AQ=="}"#;
        let parsed: InitiateAuthenticationRequest = decode_request(newer.as_bytes()).unwrap();
        assert_eq!(parsed.euicc_challenge, EUICC_CHALLENGE);
        let missing =
            r#"{"euiccChallenge":"qrvM3e7/ABEiM0RVZneImQ==","euiccInfo1":"vyAJggMCAACpAKoA"}"#;
        let err = decode_request::<InitiateAuthenticationRequest>(missing.as_bytes()).unwrap_err();
        assert!(
            matches!(
                err,
                Es9Error::InvalidField {
                    field: "smdpAddress",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = decode_request::<HandleNotificationRequest>(b"[1]").unwrap_err();
        assert!(matches!(err, Es9Error::InvalidBody { .. }), "{err:?}");
        let err = decode_request::<HandleNotificationRequest>(b"{").unwrap_err();
        assert!(matches!(err, Es9Error::InvalidJson { .. }), "{err:?}");
    }

    // --- responses built from the recorded session ---

    #[test]
    fn initiate_authentication_response_from_recorded_session() {
        let response: Es9Response<InitiateAuthenticationOk> =
            decode_response(200, INITIATE_AUTHENTICATION_RESPONSE.as_bytes()).unwrap();
        assert_eq!(response.header, ResponseHeader::success());
        assert_eq!(response.warning(), None);
        let ok = &response.body;
        assert_eq!(ok.transaction_id.as_bytes(), &INITIATE_RESPONSE[6..22]);
        assert_eq!(ok.transaction_id, tid());
        assert_eq!(ok.server_signed1, &INITIATE_RESPONSE[22..96]);
        assert_eq!(ok.server_signature1, &INITIATE_RESPONSE[96..163]);
        assert_eq!(&ok.server_signature1[..3], &[0x5F, 0x37, 0x40]);
        assert_eq!(ok.euicc_ci_pkid_to_be_used, &INITIATE_RESPONSE[163..185]);
        assert_eq!(&ok.euicc_ci_pkid_to_be_used[..2], &[0x04, 0x14]);
        assert_eq!(ok.server_certificate, &INITIATE_RESPONSE[185..]);
        // The test SM-DP+ produces exactly these bytes.
        assert_eq!(json(&response), INITIATE_AUTHENTICATION_RESPONSE);
    }

    #[test]
    fn authenticate_client_response_from_recorded_session() {
        let response: Es9Response<AuthenticateClientOk> =
            decode_response(200, AUTHENTICATE_CLIENT_RESPONSE.as_bytes()).unwrap();
        let ok = &response.body;
        assert_eq!(ok.transaction_id.as_bytes(), &AUTHENTICATE_RESPONSE[11..27]);
        assert_eq!(ok.profile_metadata, &AUTHENTICATE_RESPONSE[27..77]);
        assert_eq!(&ok.profile_metadata[..2], &[0xBF, 0x25]);
        assert_eq!(ok.smdp_signed2, &AUTHENTICATE_RESPONSE[77..100]);
        assert_eq!(ok.smdp_signature2, &AUTHENTICATE_RESPONSE[100..167]);
        assert_eq!(ok.smdp_certificate, &AUTHENTICATE_RESPONSE[167..]);
        assert_eq!(json(&response), AUTHENTICATE_CLIENT_RESPONSE);
    }

    #[test]
    fn get_bound_profile_package_response_from_recorded_session() {
        let response: Es9Response<GetBoundProfilePackageOk> =
            decode_response(200, GET_BOUND_PROFILE_PACKAGE_RESPONSE.as_bytes()).unwrap();
        assert_eq!(response.body.transaction_id, tid());
        assert_eq!(response.body.bound_profile_package, BOUND_PROFILE_PACKAGE);
        assert_eq!(json(&response), GET_BOUND_PROFILE_PACKAGE_RESPONSE);
        // And the flattened serde round trip works both ways.
        let back: Es9Response<GetBoundProfilePackageOk> =
            serde_json::from_str(GET_BOUND_PROFILE_PACKAGE_RESPONSE).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn pretty_printed_response_with_wrapped_base64_and_lower_case_id_parses() {
        // Some servers pretty-print, wrap base64 MIME style, drop padding, use lower-case hex.
        let body = "\u{feff}{\n  \"header\" : { \"functionExecutionStatus\" : { \"status\" : \"Executed-Success\" } },\n  \"transactionId\" : \"0102030405060708090a0b0c0d0e0f10\",\n  \"boundProfilePackage\" : \"vzaCATm/I4GvggEBgBABAgMEBQYH\\r\\nCAkKCwwNDg8Q\"\n}\n";
        let response: Es9Response<GetBoundProfilePackageOk> =
            decode_response(200, body.as_bytes()).unwrap();
        assert_eq!(response.body.transaction_id, tid());
        assert_eq!(
            response.body.bound_profile_package,
            &BOUND_PROFILE_PACKAGE[..30]
        );
        // Unpadded: "qrvM3e7/ABEiM0RVZneImQ" is 16 bytes without its "==".
        let request = r#"{"euiccChallenge":"qrvM3e7/ABEiM0RVZneImQ","euiccInfo1":"vyAJggMCAACpAKoA","smdpAddress":"x"}"#;
        let parsed: InitiateAuthenticationRequest = decode_request(request.as_bytes()).unwrap();
        assert_eq!(parsed.euicc_challenge, EUICC_CHALLENGE);
    }

    #[test]
    fn unknown_fields_are_ignored_everywhere() {
        let body = r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success","statusCodeData":{"subjectCode":"0","reasonCode":"0","vendorDetail":{"x":[1,2]}},"extra":1},"functionCallIdentifier":"abc"},"transactionId":"01","boundProfilePackage":"vzYA","otherCertsInChain":["MAA="],"futureFlag":true,"nested":{"a":{"b":[null,{}]}}}"#;
        let response: Es9Response<GetBoundProfilePackageOk> =
            decode_response(200, body.as_bytes()).unwrap();
        assert_eq!(response.body.transaction_id.as_bytes(), &[0x01]);
        assert_eq!(response.body.bound_profile_package, &[0xBF, 0x36, 0x00]);
    }

    #[test]
    fn warning_is_surfaced() {
        let body = r#"{"header":{"functionExecutionStatus":{"status":"Executed-WithWarning","statusCodeData":{"subjectCode":"8.2","reasonCode":"1.2","message":"take note"}}},"transactionId":"01","boundProfilePackage":"vzYA"}"#;
        let response: Es9Response<GetBoundProfilePackageOk> =
            decode_response(200, body.as_bytes()).unwrap();
        let warning = response.warning().unwrap();
        assert_eq!(warning.subject_code, "8.2");
        assert_eq!(warning.reason_code, "1.2");
        assert_eq!(warning.message.as_deref(), Some("take note"));
        assert!(warning.meaning().is_some());
        // Server side: a warning header serializes with its codes.
        let built = Es9Response {
            header: ResponseHeader::warning(StatusCodeData::new("8.2", "1.2")),
            body: EmptyBody {},
        };
        assert_eq!(
            json(&built),
            r#"{"header":{"functionExecutionStatus":{"status":"Executed-WithWarning","statusCodeData":{"subjectCode":"8.2","reasonCode":"1.2"}}}}"#
        );
    }

    #[test]
    fn handle_notification_accepts_204_without_body() {
        let response = decode_response::<EmptyBody>(204, b"").unwrap();
        assert_eq!(response, Es9Response::success(EmptyBody {}));
        assert!(decode_response::<EmptyBody>(200, b" \r\n").is_ok());
        let with_header =
            br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#;
        assert!(decode_response::<EmptyBody>(200, with_header).is_ok());
        // Functions that return data do not accept an empty answer.
        assert_eq!(
            decode_response::<GetBoundProfilePackageOk>(204, b""),
            Err(Es9Error::MissingBody { http_status: 204 })
        );
    }

    #[test]
    fn cancel_session_response_parses_and_serializes() {
        // osmo-smdpp also echoes the transactionId; it is ignored.
        let body = br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"transactionId":"0102"}"#;
        assert!(decode_response::<EmptyBody>(200, body).is_ok());
        assert_eq!(
            json(&Es9Response::success(EmptyBody {})),
            r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#
        );
    }

    #[test]
    fn es11_authenticate_client_response_lists_events() {
        let body = r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"transactionId":"0A0B","eventEntries":[{"eventId":"EV-1","rspServerAddress":"smdp.example.com","future":1},{"eventId":"EV-2","rspServerAddress":"other.example.net"}]}"#;
        let response: Es9Response<Es11AuthenticateClientOk> =
            decode_response(200, body.as_bytes()).unwrap();
        assert_eq!(
            response.body.transaction_id,
            Some(TransactionId::new(&[0x0A, 0x0B]).unwrap())
        );
        assert_eq!(
            response.body.event_entries,
            vec![
                EventEntry {
                    event_id: "EV-1".to_string(),
                    rsp_server_address: "smdp.example.com".to_string()
                },
                EventEntry {
                    event_id: "EV-2".to_string(),
                    rsp_server_address: "other.example.net".to_string()
                },
            ]
        );
        // No events: list empty or absent, transactionId absent.
        let empty = br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#;
        let response = decode_response::<Es11AuthenticateClientOk>(200, empty).unwrap();
        assert_eq!(response.body.transaction_id, None);
        assert!(response.body.event_entries.is_empty());
        assert_eq!(
            json(&response),
            r#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"eventEntries":[]}"#
        );
        let bad = br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}},"eventEntries":[{"eventId":"EV-1"}]}"#;
        let err = decode_response::<Es11AuthenticateClientOk>(200, bad).unwrap_err();
        assert!(
            matches!(
                err,
                Es9Error::InvalidField {
                    field: "rspServerAddress",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    // --- failures ---

    #[test]
    fn failed_status_carries_codes_and_meaning() {
        let body = br#"{"header":{"functionExecutionStatus":{"status":"Failed","statusCodeData":{"subjectCode":"8.2.6","reasonCode":"3.8","subjectIdentifier":"matchingId","message":"Refused"}}}}"#;
        let err = decode_response::<AuthenticateClientOk>(200, body).unwrap_err();
        assert_eq!(
            err,
            Es9Error::Failed {
                status: FunctionStatus::Failed,
                subject_code: "8.2.6".to_string(),
                reason_code: "3.8".to_string(),
                subject_identifier: Some("matchingId".to_string()),
                message: Some("Refused".to_string()),
            }
        );
        assert!(err.meaning().unwrap().starts_with("Matching ID refused"));
        assert_eq!(
            err.to_string(),
            "server answered Failed (subject code \"8.2.6\", reason code \"3.8\"): Matching ID \
             refused: the activation code is unknown, already used, or not for this eUICC; \
             server message: \"Refused\"; subject identifier: \"matchingId\""
        );
        // What the test SM-DP+ sends for it.
        let built =
            Es9Response::failed(StatusCodeData::new("8.2.6", "3.8").with_message("Refused"));
        assert_eq!(
            json(&built),
            r#"{"header":{"functionExecutionStatus":{"status":"Failed","statusCodeData":{"subjectCode":"8.2.6","reasonCode":"3.8","message":"Refused"}}}}"#
        );
        let err = decode_response::<AuthenticateClientOk>(200, &encode_json(&built).unwrap())
            .unwrap_err();
        assert_eq!(err.meaning(), status_code_meaning("8.2.6", "3.8"));
    }

    #[test]
    fn expired_unknown_and_codeless_statuses_are_failures() {
        let expired = br#"{"header":{"functionExecutionStatus":{"status":"Expired","statusCodeData":{"subjectCode":"8.8.5","reasonCode":"4.1"}}}}"#;
        let err = decode_response::<InitiateAuthenticationOk>(200, expired).unwrap_err();
        assert!(matches!(
            &err,
            Es9Error::Failed {
                status: FunctionStatus::Expired,
                ..
            }
        ));
        assert_eq!(err.meaning(), Some("the download order has expired"));

        let unknown = br#"{"header":{"functionExecutionStatus":{"status":"Executed-Partially"}},"transactionId":"01","boundProfilePackage":"vzYA"}"#;
        let err = decode_response::<GetBoundProfilePackageOk>(200, unknown).unwrap_err();
        assert_eq!(
            err,
            Es9Error::Failed {
                status: FunctionStatus::Other("Executed-Partially".to_string()),
                subject_code: String::new(),
                reason_code: String::new(),
                subject_identifier: None,
                message: None,
            }
        );
        assert_eq!(err.meaning(), None);
        assert!(err.to_string().contains("Executed-Partially"));

        // A server that puts the codes on an HTTP error status still gets them reported.
        let on_400 = br#"{"header":{"functionExecutionStatus":{"status":"Failed","statusCodeData":{"subjectCode":"8.10.1","reasonCode":"3.9"}}}}"#;
        let err = decode_response::<GetBoundProfilePackageOk>(400, on_400).unwrap_err();
        assert!(err.meaning().unwrap().contains("transaction ID"));
    }

    #[test]
    fn documented_codes_have_meanings() {
        for (subject, reason) in [
            ("8.1.1", "3.8"),
            ("8.2.6", "3.8"),
            ("8.8", "3.10"),
            ("8.10.1", "3.9"),
            ("8.2.7", "2.2"),
            ("8.9", "5.1"),
            ("8.8.1", "3.8"),
            ("8.11.1", "3.9"),
        ] {
            assert!(
                status_code_meaning(subject, reason).is_some(),
                "{subject}/{reason}"
            );
        }
        assert_eq!(status_code_meaning("8.2.6", "3.9"), None);
        assert_eq!(status_code_meaning("", ""), None);
        for (i, (s, r, _)) in STATUS_CODE_MEANINGS.iter().enumerate() {
            for (s2, r2, _) in &STATUS_CODE_MEANINGS[i + 1..] {
                assert!((s, r) != (s2, r2), "duplicate {s}/{r}");
            }
        }
    }

    #[test]
    fn http_500_without_body_is_an_http_error() {
        assert_eq!(
            decode_response::<InitiateAuthenticationOk>(500, b""),
            Err(Es9Error::Http {
                status: 500,
                body_excerpt: String::new()
            })
        );
        assert_eq!(
            decode_response::<EmptyBody>(503, b"")
                .unwrap_err()
                .to_string(),
            "HTTP status 503 without an SGP.22 JSON answer"
        );
        let html = "<html>".to_string() + &"x".repeat(500);
        let err = decode_response::<InitiateAuthenticationOk>(502, html.as_bytes()).unwrap_err();
        let Es9Error::Http {
            status,
            body_excerpt,
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(status, 502);
        assert_eq!(body_excerpt.len(), BODY_EXCERPT_LEN);
        assert!(body_excerpt.starts_with("<html>xx"));
        // JSON without a header on an error status, and a non-UTF-8 body.
        let err = decode_response::<EmptyBody>(404, br#"{"error":"not found"}"#).unwrap_err();
        assert!(matches!(err, Es9Error::Http { status: 404, .. }));
        let err = decode_response::<EmptyBody>(500, &[0xFF, 0xFE, b'x']).unwrap_err();
        assert_eq!(
            err,
            Es9Error::Http {
                status: 500,
                body_excerpt: "\u{FFFD}\u{FFFD}x".to_string()
            }
        );
        // "Executed-Success" on HTTP 500: the HTTP status wins.
        let odd = br#"{"header":{"functionExecutionStatus":{"status":"Executed-Success"}}}"#;
        assert!(matches!(
            decode_response::<EmptyBody>(500, odd),
            Err(Es9Error::Http { status: 500, .. })
        ));
    }

    #[test]
    fn broken_success_bodies_get_typed_errors() {
        let cases: [(&[u8], ErrorCheck); 7] = [
            (b"not json", |e| matches!(e, Es9Error::InvalidBody { .. })),
            (b"{\"header\":", |e| {
                matches!(e, Es9Error::InvalidJson { .. })
            }),
            (b"{} trailing", |e| {
                matches!(e, Es9Error::InvalidJson { .. })
            }),
            (b"{}", |e| matches!(e, Es9Error::MissingHeader)),
            (b"[]", |e| matches!(e, Es9Error::InvalidBody { .. })),
            (br#"{"header":{}}"#, |e| {
                matches!(
                    e,
                    Es9Error::InvalidField {
                        field: "functionExecutionStatus",
                        ..
                    }
                )
            }),
            (
                br#"{"header":{"functionExecutionStatus":{"status":7}}}"#,
                |e| {
                    matches!(
                        e,
                        Es9Error::InvalidField {
                            field: "status",
                            ..
                        }
                    )
                },
            ),
        ];
        for (body, check) in cases {
            let err = decode_response::<InitiateAuthenticationOk>(200, body).unwrap_err();
            assert!(check(&err), "{:?}: {err:?}", core::str::from_utf8(body));
            assert!(!err.to_string().is_empty());
        }
    }

    /// Replaces the value of `field` in a JSON text with `replacement` (raw JSON).
    fn with_field(json: &str, field: &str, replacement: &str) -> String {
        let key = format!("\"{field}\":");
        let start = json.find(&key).unwrap() + key.len();
        let rest = &json[start..];
        let end = if let Some(string) = rest.strip_prefix('"') {
            string.find('"').unwrap() + 2
        } else {
            rest.find([',', '}']).unwrap()
        };
        format!("{}{}{}", &json[..start], replacement, &rest[end..])
    }

    fn without_field(json: &str, field: &str) -> String {
        let marked = with_field(json, field, "\"#DROP#\"");
        marked.replace(&format!(",\"{field}\":\"#DROP#\""), "")
    }

    fn field_error<T: ResponseBody + fmt::Debug>(body: &str) -> (&'static str, String) {
        match decode_response::<T>(200, body.as_bytes()) {
            Err(Es9Error::InvalidField { field, detail }) => (field, detail),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn bad_or_missing_fields_are_named() {
        let responses: [(&str, &[&str], FieldDecoder); 3] = [
            (
                INITIATE_AUTHENTICATION_RESPONSE,
                &[
                    "transactionId",
                    "serverSigned1",
                    "serverSignature1",
                    "euiccCiPKIdToBeUsed",
                    "serverCertificate",
                ],
                field_error::<InitiateAuthenticationOk>,
            ),
            (
                AUTHENTICATE_CLIENT_RESPONSE,
                &[
                    "transactionId",
                    "profileMetadata",
                    "smdpSigned2",
                    "smdpSignature2",
                    "smdpCertificate",
                ],
                field_error::<AuthenticateClientOk>,
            ),
            (
                GET_BOUND_PROFILE_PACKAGE_RESPONSE,
                &["transactionId", "boundProfilePackage"],
                field_error::<GetBoundProfilePackageOk>,
            ),
        ];
        for (body, fields, decode) in responses {
            for &field in fields {
                for bad in ["\"!!!!\"", "\"A\"", "null", "5", "{}", "\"`x`\""] {
                    let (named, detail) = decode(&with_field(body, field, bad));
                    assert_eq!(named, field, "{bad}: {detail}");
                }
                let (named, detail) = decode(&without_field(body, field));
                assert_eq!(named, field, "{detail}");
                assert!(detail.starts_with("missing field"), "{detail}");
            }
        }
        // The request side names its fields the same way.
        let requests: [(&str, &str, RequestDecoder); 6] = [
            (INITIATE_AUTHENTICATION_REQUEST, "euiccChallenge", |b| {
                decode_request::<InitiateAuthenticationRequest>(b).map(drop)
            }),
            (INITIATE_AUTHENTICATION_REQUEST, "euiccInfo1", |b| {
                decode_request::<InitiateAuthenticationRequest>(b).map(drop)
            }),
            (
                AUTHENTICATE_CLIENT_REQUEST,
                "authenticateServerResponse",
                |b| decode_request::<AuthenticateClientRequest>(b).map(drop),
            ),
            (
                GET_BOUND_PROFILE_PACKAGE_REQUEST,
                "prepareDownloadResponse",
                |b| decode_request::<GetBoundProfilePackageRequest>(b).map(drop),
            ),
            (HANDLE_NOTIFICATION_REQUEST, "pendingNotification", |b| {
                decode_request::<HandleNotificationRequest>(b).map(drop)
            }),
            (CANCEL_SESSION_REQUEST, "cancelSessionResponse", |b| {
                decode_request::<CancelSessionRequest>(b).map(drop)
            }),
        ];
        for (body, field, decode) in requests {
            let err = decode(with_field(body, field, "\"*\"").as_bytes()).unwrap_err();
            assert!(
                matches!(err, Es9Error::InvalidField { field: f, .. } if f == field),
                "{err:?}"
            );
        }
    }

    #[test]
    fn bad_transaction_id_in_json_is_named() {
        for bad in [
            "\"\"",
            "\"0\"",
            "\"0g\"",
            "\"0x01\"",
            "\" 01\"",
            "\"0102030405060708090A0B0C0D0E0F1011\"",
            "\"éé\"",
        ] {
            let body = with_field(GET_BOUND_PROFILE_PACKAGE_RESPONSE, "transactionId", bad);
            let (field, detail) = field_error::<GetBoundProfilePackageOk>(&body);
            assert_eq!(field, "transactionId", "{bad}: {detail}");
        }
    }

    // --- transactionId ---

    #[test]
    fn transaction_id_edge_cases() {
        let one = TransactionId::from_hex("0a").unwrap();
        assert_eq!(one.as_bytes(), &[0x0A]);
        assert_eq!(one.to_hex(), "0A");
        assert_eq!(json(&one), "\"0A\"");
        let full = TransactionId::from_hex("00112233445566778899aAbBcCdDeEfF").unwrap();
        assert_eq!(full.as_bytes().len(), TransactionId::MAX_LEN);
        assert_eq!(full.to_string(), "00112233445566778899AABBCCDDEEFF");
        assert_eq!(
            std::format!("{full:?}"),
            "TransactionId(00112233445566778899AABBCCDDEEFF)"
        );
        assert_eq!("0102".parse::<TransactionId>().unwrap().as_bytes(), &[1, 2]);
        assert_eq!(
            TransactionId::new(&[0xAB; 16]).unwrap().to_hex(),
            "ABABABABABABABABABABABABABABABAB"
        );
        // Equal bytes compare equal whatever the text case was.
        assert_eq!(
            TransactionId::from_hex("abcd").unwrap(),
            TransactionId::from_hex("ABCD").unwrap()
        );
        for bad in [
            "",
            "0",
            "012",
            "zz",
            "0x01",
            "01 02",
            " 0102",
            "0102030405060708090A0B0C0D0E0F1011",
            "éé",
            "é1",
        ] {
            let err = TransactionId::from_hex(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Es9Error::InvalidField {
                        field: "transactionId",
                        ..
                    }
                ),
                "{bad:?}: {err:?}"
            );
        }
        assert!(TransactionId::new(&[]).is_err());
        assert!(TransactionId::new(&[0; 17]).is_err());
        assert!(TransactionId::new(&[0; 1]).is_ok());
    }

    // --- HTTP layer helpers ---

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            es9plus_url("smdp.example.com", Es9Function::InitiateAuthentication).unwrap(),
            "https://smdp.example.com/gsma/rsp2/es9plus/initiateAuthentication"
        );
        let expected = [
            "/gsma/rsp2/es9plus/initiateAuthentication",
            "/gsma/rsp2/es9plus/getBoundProfilePackage",
            "/gsma/rsp2/es9plus/authenticateClient",
            "/gsma/rsp2/es9plus/handleNotification",
            "/gsma/rsp2/es9plus/cancelSession",
        ];
        for (function, path) in Es9Function::ALL.iter().zip(expected) {
            assert_eq!(function.path(), path);
            assert!(path.ends_with(function.name()));
        }
        // Addresses from cards and QR codes: stray spaces, scheme, trailing slash, ports, IPs.
        for (address, host) in [
            ("  smdp.example.com \n", "smdp.example.com"),
            ("HTTPS://smdp.example.com/", "smdp.example.com"),
            ("smdp.example.com:8443", "smdp.example.com:8443"),
            ("127.0.0.1:1234", "127.0.0.1:1234"),
            ("[::1]:443", "[::1]:443"),
        ] {
            assert_eq!(
                es9plus_url(address, Es9Function::CancelSession).unwrap(),
                format!("https://{host}/gsma/rsp2/es9plus/cancelSession")
            );
        }
        for bad in [
            "",
            "   ",
            "https://",
            "smdp example.com",
            "smdp.example.com/evil",
            "http://smdp.example.com",
            "user@smdp.example.com",
            "smdp.example.com?x=1",
            "smdp.example.com#x",
            "smdp.exämple.com",
        ] {
            assert_eq!(
                es9plus_url(bad, Es9Function::HandleNotification),
                Err(Es9Error::InvalidAddress {
                    address: bad.to_string()
                }),
                "{bad:?}"
            );
        }
        assert_eq!(
            es11_url("lpa.ds.example.com", Es11Function::AuthenticateClient).unwrap(),
            "https://lpa.ds.example.com/gsma/rsp2/es9plus/authenticateClient"
        );
        assert_eq!(
            Es11Function::InitiateAuthentication.spec_path(),
            "/gsma/rsp2/es11/initiateAuthentication"
        );
        assert_eq!(
            Es11Function::AuthenticateClient.name(),
            "authenticateClient"
        );
    }

    #[test]
    fn header_values() {
        assert_eq!(
            REQUEST_HEADERS,
            [
                ("Content-Type", "application/json;charset=UTF-8"),
                ("X-Admin-Protocol", "gsma/rsp/v2.5.0"),
                ("User-Agent", "gsma-rsp-lpad"),
            ]
        );
        assert!(is_supported_admin_protocol("gsma/rsp/v2.1.0"));
        assert!(is_supported_admin_protocol(" gsma/rsp/v2.2.2"));
        assert!(!is_supported_admin_protocol("gsma/rsp/v3.0.0"));
        assert!(!is_supported_admin_protocol(""));
    }

    #[test]
    fn every_error_displays() {
        let errors = [
            Es9Error::MissingBody { http_status: 200 },
            Es9Error::InvalidJson {
                detail: "x".to_string(),
            },
            Es9Error::MissingHeader,
            Es9Error::InvalidField {
                field: "serverSigned1",
                detail: "x".to_string(),
            },
            Es9Error::InvalidBody {
                detail: "x".to_string(),
            },
            Es9Error::InvalidAddress {
                address: "a b".to_string(),
            },
            Es9Error::Encode {
                detail: "x".to_string(),
            },
            Es9Error::Http {
                status: 500,
                body_excerpt: "oops".to_string(),
            },
        ];
        for err in errors {
            assert!(!err.to_string().is_empty());
            assert_eq!(err.meaning(), None);
        }
    }

    // --- nothing panics on garbage ---

    /// Runs every decoder on `body` under a few HTTP statuses; the result does not matter.
    fn decode_everything(body: &[u8]) {
        for status in [200, 204, 400, 500] {
            let _ = decode_response::<InitiateAuthenticationOk>(status, body);
            let _ = decode_response::<AuthenticateClientOk>(status, body);
            let _ = decode_response::<GetBoundProfilePackageOk>(status, body);
            let _ = decode_response::<Es11AuthenticateClientOk>(status, body);
            let _ = decode_response::<EmptyBody>(status, body);
        }
        let _ = decode_request::<InitiateAuthenticationRequest>(body);
        let _ = decode_request::<Es11InitiateAuthenticationRequest>(body);
        let _ = decode_request::<AuthenticateClientRequest>(body);
        let _ = decode_request::<GetBoundProfilePackageRequest>(body);
        let _ = decode_request::<HandleNotificationRequest>(body);
        let _ = decode_request::<CancelSessionRequest>(body);
    }

    #[test]
    fn mutated_bodies_never_panic() {
        let seeds = [
            GET_BOUND_PROFILE_PACKAGE_RESPONSE,
            CANCEL_SESSION_REQUEST,
            r#"{"header":{"functionExecutionStatus":{"status":"Failed","statusCodeData":{"subjectCode":"8.1","reasonCode":"6.1","message":"é"}}},"eventEntries":[{"eventId":"1","rspServerAddress":"a"}]}"#,
        ];
        let replacements = [0x00, b'"', b'{', b'}', b'[', b',', b'\\', 0xFF, 0xC3];
        for seed in seeds {
            let seed = seed.as_bytes();
            for cut in 0..seed.len() {
                decode_everything(&seed[..cut]);
            }
            for position in 0..seed.len() {
                for replacement in replacements {
                    let mut body = seed.to_vec();
                    body[position] = replacement;
                    decode_everything(&body);
                }
            }
        }
        // Random multi-byte mutations of the big bodies (xorshift, fixed seed: reproducible).
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in [
            INITIATE_AUTHENTICATION_RESPONSE,
            AUTHENTICATE_CLIENT_RESPONSE,
            INITIATE_AUTHENTICATION_REQUEST,
        ] {
            for _ in 0..300 {
                let mut body = seed.as_bytes().to_vec();
                for _ in 0..1 + next() % 4 {
                    let position = (next() % body.len() as u64) as usize;
                    body[position] = next() as u8;
                }
                decode_everything(&body);
            }
        }
        // Deep nesting is refused by serde_json's recursion limit, not by a stack overflow.
        let deep = "[".repeat(100_000);
        decode_everything(deep.as_bytes());
        let deep = format!("{{\"header\":{}", "{\"a\":".repeat(10_000));
        decode_everything(deep.as_bytes());
    }
}
