//! What each SGP.22 signature of a download session covers, and the checks of the card's ones.
//!
//! Every signature is ECDSA with SHA-256, carried raw (`r || s`, 64 bytes) under tag `5F37`
//! (SGP.22 §2.6). The signed bytes are always the DER *as received* (never a re-encoding: see
//! [`lpa_core::der::Signed`]), sometimes followed by another party's signature as a whole
//! `5F37` TLV, which chains the messages of a session together:
//!
//! | signature | key | covers | SGP.22 |
//! |---|---|---|---|
//! | serverSignature1 | SK.DPauth (SK.DSauth) | serverSigned1 | §5.6.1, §5.7.13 |
//! | euiccSignature1 | SK.EUICC | euiccSigned1 | §5.7.13 |
//! | smdpSignature2 | SK.DPpb | smdpSigned2 ‖ euiccSignature1 TLV (`5F37 40 ..`) | §5.6.3, §5.7.5 |
//! | euiccSignature2 | SK.EUICC | euiccSigned2 ‖ smdpSignature2 TLV (`5F37 40 ..`) | §5.7.5 |
//! | smdpSign (`BF23`) | SK.DPpb | the `82`, `80`, `A6`, `5F49` TLVs of BF23 as encoded ‖ euiccOtpk TLV (`5F49 41 04..`) | §5.5.1 |
//! | euiccSignPIR | SK.EUICC | profileInstallationResultData (`BF27`) | §5.7.6 |
//! | euiccNotificationSignature | SK.EUICC | tbsOtherNotification (`BF2F`) | §5.7.11 |
//! | euiccCancelSessionSignature | SK.EUICC | euiccCancelSessionSigned (`30`) | §5.7.14 |
//!
//! Proven against a recorded session from another implementation (`tests/smdp.rs`,
//! `external_vectors_*`): all eight verify with these definitions. The `BF23` one is worth
//! stating twice: it covers the **eUICC's one-time public key** (`5F49`) after the four
//! InitialiseSecureChannel elements, not euiccSignature2; pySim's `es8p.py`
//! (`gen_initialiseSecureChannel`) builds the same input, and the recorded smdpSign does not
//! verify over `... ‖ euiccSignature2`.

use lpa_core::messages::{
    AuthenticateResponseOk, CancelSessionResponseOk, OtherSignedNotification,
    PrepareDownloadResponseOk, ProfileInstallationResult,
};
use lpa_core::tlv::{Tag, Tlv, TlvWriter, tlv_len};

use crate::pki::{PkiError, PublicKey};

/// Tag of an SGP.22 signature (`[APPLICATION 55]`).
pub const TAG_SIGNATURE: Tag = Tag(0x5F37);
/// Tag of a one-time public key (`[APPLICATION 73]`).
pub const TAG_ONE_TIME_PUBLIC_KEY: Tag = Tag(0x5F49);

/// `tag || DER length || value`.
pub fn tlv(tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; tlv_len(tag, value.len())];
    let mut w = TlvWriter::new(&mut out);
    // The buffer is sized for exactly this element, so the write cannot fail.
    let _ = w.write_tlv(tag, value);
    out
}

fn concat(signed: &[u8], tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut out = signed.to_vec();
    out.extend_from_slice(&tlv(tag, value));
    out
}

/// What smdpSignature2 covers: smdpSigned2 (DER as sent) ‖ `5F37` TLV of euiccSignature1.
pub fn smdp_signature2_input(smdp_signed2: &[u8], euicc_signature1: &[u8]) -> Vec<u8> {
    concat(smdp_signed2, TAG_SIGNATURE, euicc_signature1)
}

/// What euiccSignature2 covers: euiccSigned2 (DER as received) ‖ `5F37` TLV of smdpSignature2.
pub fn euicc_signature2_input(euicc_signed2: &[u8], smdp_signature2: &[u8]) -> Vec<u8> {
    concat(euicc_signed2, TAG_SIGNATURE, smdp_signature2)
}

/// What smdpSign of InitialiseSecureChannelRequest covers: the encoded remoteOpId (`82`),
/// transactionId (`80`), controlRefTemplate (`A6`) and smdpOtpk (`5F49`) elements, then the
/// `5F49` TLV of the eUICC's one-time public key from PrepareDownloadResponse.
pub fn smdp_sign_input(signed_elements: &[u8], euicc_otpk: &[u8]) -> Vec<u8> {
    concat(signed_elements, TAG_ONE_TIME_PUBLIC_KEY, euicc_otpk)
}

/// The elements of a received `BF23` that smdpSign covers (everything before the `5F37`,
/// exactly as encoded), and the signature itself.
pub fn initialise_secure_channel_parts(bf23: &[u8]) -> Option<(&[u8], &[u8])> {
    let top = Tlv::parse(bf23).ok()?;
    if top.tag() != Tag(0xBF23) {
        return None;
    }
    let value = top.value();
    for child in top.children() {
        let child = child.ok()?;
        if child.tag() == TAG_SIGNATURE {
            let start = child.offset().checked_sub(top.value_offset())?;
            return Some((value.get(..start)?, child.value()));
        }
    }
    None
}

/// Checks euiccSignature1 over euiccSigned1 (as received) with the eUICC's key.
pub fn verify_euicc_signature1(
    euicc_key: &PublicKey,
    response: &AuthenticateResponseOk,
) -> Result<(), PkiError> {
    euicc_key.verify(response.euicc_signed1.raw(), &response.euicc_signature1)
}

/// Checks smdpSignature2 (what an eUICC does in PrepareDownload) with the DPpb key.
pub fn verify_smdp_signature2(
    dp_pb_key: &PublicKey,
    smdp_signed2: &[u8],
    smdp_signature2: &[u8],
    euicc_signature1: &[u8],
) -> Result<(), PkiError> {
    dp_pb_key.verify(
        &smdp_signature2_input(smdp_signed2, euicc_signature1),
        smdp_signature2,
    )
}

/// Checks euiccSignature2 over euiccSigned2 (as received) ‖ the smdpSignature2 this session
/// sent.
pub fn verify_euicc_signature2(
    euicc_key: &PublicKey,
    response: &PrepareDownloadResponseOk,
    smdp_signature2: &[u8],
) -> Result<(), PkiError> {
    euicc_key.verify(
        &euicc_signature2_input(response.euicc_signed2.raw(), smdp_signature2),
        &response.euicc_signature2,
    )
}

/// Checks smdpSign of a `BF23` (what an eUICC does first in LoadBoundProfilePackage).
pub fn verify_smdp_sign(
    dp_pb_key: &PublicKey,
    bf23: &[u8],
    euicc_otpk: &[u8],
) -> Result<(), PkiError> {
    let (signed, signature) =
        initialise_secure_channel_parts(bf23).ok_or_else(|| PkiError::MalformedSignature {
            detail: "InitialiseSecureChannelRequest without smdpSign".to_owned(),
        })?;
    dp_pb_key.verify(&smdp_sign_input(signed, euicc_otpk), signature)
}

/// Checks euiccSignPIR over profileInstallationResultData (as received).
pub fn verify_profile_installation_result(
    euicc_key: &PublicKey,
    result: &ProfileInstallationResult,
) -> Result<(), PkiError> {
    euicc_key.verify(
        result.profile_installation_result_data.raw(),
        &result.euicc_sign_pir,
    )
}

/// Checks euiccNotificationSignature over tbsOtherNotification (as received).
pub fn verify_other_notification(
    euicc_key: &PublicKey,
    notification: &OtherSignedNotification,
) -> Result<(), PkiError> {
    euicc_key.verify(
        notification.tbs_other_notification.raw(),
        &notification.euicc_notification_signature,
    )
}

/// Checks euiccCancelSessionSignature over euiccCancelSessionSigned (as received).
pub fn verify_cancel_session(
    euicc_key: &PublicKey,
    response: &CancelSessionResponseOk,
) -> Result<(), PkiError> {
    euicc_key.verify(
        response.euicc_cancel_session_signed.raw(),
        &response.euicc_cancel_session_signature,
    )
}
