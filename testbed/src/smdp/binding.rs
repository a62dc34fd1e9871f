//! Binding a profile package to one eUICC: the Bound Profile Package (SGP.22 §2.5.4, §5.5).
//!
//! ```text
//! BF36 {
//!   BF23 { 82 remoteOpId, 80 transactionId, A6 { 80 88, 81 10, 84 hostId }, 5F49 otPK.DP,
//!          5F37 smdpSign }                       -- signed, see signed_data::smdp_sign_input
//!   A0 { 87 ConfigureISDP }                      -- ciphered under S-ENC, MACed with S-MAC
//!   A1 { 88 StoreMetadata .. }                   -- MACed only
//!   A2 { 87 ReplaceSessionKeys }                 -- optional: the PPKs
//!   A3 { 86 profile package .. }                 -- ciphered, under the PPKs after A2
//! }
//! ```
//!
//! The session keys come from ECKA(otSK.DP, otPK.EUICC) and the X9.63 KDF over keyType,
//! keyLen, hostId and the EID ([`crate::bsp`]). Every segment is at most 1020 bytes.

use core::fmt;

use lpa_core::tlv::Tag;

use super::signed_data::{TAG_ONE_TIME_PUBLIC_KEY, TAG_SIGNATURE, smdp_sign_input, tlv};
use crate::bsp::{
    BspError, BspProtector, ControlRefTemplate, OneTimeKeyPair, ReplaceSessionKeys, SegmentTag,
    SessionKeys, assemble_bound_profile_package,
};
use crate::pki::{PkiError, PrivateKey};

/// `RemoteOpId` installBoundProfilePackage(1) (SGP.22 §5.5.1).
const REMOTE_OP_INSTALL_BPP: u8 = 1;

/// What goes into one Bound Profile Package.
#[derive(Clone, Copy, Debug)]
pub struct BindingInputs<'a> {
    /// The session's transactionId.
    pub transaction_id: &'a [u8],
    /// hostId of the ControlRefTemplate (1 to 16 bytes), also part of the KDF's SharedInfo.
    pub host_id: &'a [u8],
    /// The eUICC's EID (16 bytes), part of the KDF's SharedInfo.
    pub eid: &'a [u8],
    /// otPK.EUICC.ECKA from euiccSigned2 (`04 || x || y`).
    pub euicc_otpk: &'a [u8],
    /// ConfigureISDPRequest (`BF24`) to cipher into the `87` of `A0`.
    pub configure_isdp: &'a [u8],
    /// StoreMetadataRequest (`BF25`) to MAC into the `88`s of `A1`: the same bytes as the
    /// profileMetadata of authenticateClient.
    pub store_metadata: &'a [u8],
    /// The unprotected profile package (the SAIP profile elements).
    pub profile_package: &'a [u8],
    /// Profile protection keys: when given, an `A2` ReplaceSessionKeys is sent and the `86`s
    /// are protected with these keys instead of the session keys (SGP.22 §2.5.3).
    pub profile_protection_keys: Option<&'a ReplaceSessionKeys>,
}

/// Why a BPP could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BindError {
    /// Key agreement, derivation or segment protection failed (e.g. otPK.EUICC is not a point
    /// on the curve of the one-time key).
    Bsp(BspError),
    /// Signing with SK.DPpb failed.
    Pki(PkiError),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Bsp(e) => write!(f, "binding the profile package: {e}"),
            BindError::Pki(e) => write!(f, "signing InitialiseSecureChannel: {e}"),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::Bsp(e) => Some(e),
            BindError::Pki(e) => Some(e),
        }
    }
}

impl From<BspError> for BindError {
    fn from(e: BspError) -> Self {
        BindError::Bsp(e)
    }
}

impl From<PkiError> for BindError {
    fn from(e: PkiError) -> Self {
        BindError::Pki(e)
    }
}

/// The signed part of InitialiseSecureChannelRequest: `82`, `80`, `A6`, `5F49` as encoded.
pub fn initialise_secure_channel_signed_elements(
    transaction_id: &[u8],
    control_ref_template: &ControlRefTemplate,
    smdp_otpk: &[u8],
) -> Vec<u8> {
    let mut out = tlv(Tag(0x82), &[REMOTE_OP_INSTALL_BPP]);
    out.extend(tlv(Tag(0x80), transaction_id));
    out.extend(control_ref_template.encode());
    out.extend(tlv(TAG_ONE_TIME_PUBLIC_KEY, smdp_otpk));
    out
}

/// Builds a signed InitialiseSecureChannelRequest (`BF23`, SGP.22 §5.5.1).
pub fn initialise_secure_channel(
    transaction_id: &[u8],
    control_ref_template: &ControlRefTemplate,
    smdp_otpk: &[u8],
    euicc_otpk: &[u8],
    dp_pb_key: &PrivateKey,
) -> Result<Vec<u8>, PkiError> {
    let mut value =
        initialise_secure_channel_signed_elements(transaction_id, control_ref_template, smdp_otpk);
    let signature = dp_pb_key.sign(&smdp_sign_input(&value, euicc_otpk))?;
    value.extend(tlv(TAG_SIGNATURE, &signature));
    Ok(tlv(Tag(0xBF23), &value))
}

/// Builds a Bound Profile Package with the SM-DP+ one-time key `one_time_key` and signs its
/// `BF23` with SK.DPpb. Deterministic for given inputs (ECDSA uses RFC 6979 nonces).
pub fn bind_profile_package(
    inputs: &BindingInputs<'_>,
    one_time_key: &OneTimeKeyPair,
    dp_pb_key: &PrivateKey,
) -> Result<Vec<u8>, BindError> {
    let shared_secret = one_time_key.shared_secret(inputs.euicc_otpk)?;
    let crt = ControlRefTemplate::aes128(inputs.host_id);
    let keys = SessionKeys::derive(&shared_secret, &crt, inputs.eid)?;
    let bf23 = initialise_secure_channel(
        inputs.transaction_id,
        &crt,
        &one_time_key.public_key(),
        inputs.euicc_otpk,
        dp_pb_key,
    )?;

    let mut protector = BspProtector::new(keys);
    let first_87 = protector.protect(SegmentTag::Es8Command87, inputs.configure_isdp)?;
    let sequence_88 = protector.protect(SegmentTag::StoreMetadata88, inputs.store_metadata)?;
    let second_87 = match inputs.profile_protection_keys {
        Some(ppk) => Some(vec![protector.protect_replace_session_keys(ppk)?]),
        None => None,
    };
    let sequence_86 =
        protector.protect(SegmentTag::LoadProfileElements86, inputs.profile_package)?;
    Ok(assemble_bound_profile_package(
        &bf23,
        &first_87,
        &sequence_88,
        second_87.as_deref(),
        &sequence_86,
    )?)
}
