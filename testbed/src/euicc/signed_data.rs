//! The exact bytes each SGP.22 download signature covers.
//!
//! Every definition here was checked against a recorded session made by another implementation
//! (waigel/euicc-rsp, `tests/data/rsp-session/`, see `tests/euicc.rs`): its signatures verify
//! over these bytes and over nothing else that was tried. Signed structures are always taken
//! as received (never re-encoded), and a signature that another signature covers is taken as
//! its whole TLV: tag `5F37`, length, value.
//!
//! | signature | signer (key) | covers | SGP.22 |
//! |---|---|---|---|
//! | serverSignature1 | SM-DP+ (DPauth) | serverSigned1 (`30`) | §5.6.1, §5.7.13 |
//! | euiccSignature1 | eUICC | euiccSigned1 (`30`) | §5.7.13 |
//! | smdpSignature2 | SM-DP+ (DPpb) | smdpSigned2 (`30`) ‖ euiccSignature1 (`5F37` TLV) | §5.6.2, §5.7.5 |
//! | euiccSignature2 | eUICC | euiccSigned2 (`30`) ‖ smdpSignature2 (`5F37` TLV) | §5.7.5 |
//! | smdpSign (in `BF23`) | SM-DP+ (DPpb) | remoteOpId (`82`) ‖ transactionId (`80`) ‖ controlRefTemplate (`A6`) ‖ smdpOtpk (`5F49`), as received ‖ euiccOtpk (`5F49` TLV, from euiccSigned2) | §5.5.1 |
//! | euiccSignPIR | eUICC | profileInstallationResultData (`BF27`) | §5.5.6 |
//! | euiccNotificationSignature | eUICC | tbsOtherNotification (`BF2F`) | §5.7.11 |
//! | euiccCancelSessionSignature | eUICC | euiccCancelSessionSigned (`30`) | §5.7.14 |
//!
//! smdpSign is the one to watch: it covers the eUICC's one-time public key, not
//! euiccSignature2. The recorded session's smdpSign verifies over the `5F49` euiccOtpk TLV and
//! not over the `5F37` euiccSignature2 TLV; osmocom pySim (`pySim/esim/es8p.py`,
//! `gen_initialiseSecureChannel`) builds it the same way.

use core::fmt;

use lpa_core::tlv::{Tag, Tlv, TlvError, TlvWriter, tlv_len};

const TAG_SIGNATURE: Tag = Tag(0x5F37);
const TAG_OTPK: Tag = Tag(0x5F49);

/// Why the signed data of an InitialiseSecureChannelRequest could not be assembled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedDataError {
    /// The `BF23` element is not well-formed TLV.
    Tlv(TlvError),
    /// An element is missing or out of order.
    Structure {
        /// The tag expected at that place.
        expected: Tag,
    },
}

impl fmt::Display for SignedDataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedDataError::Tlv(e) => write!(f, "malformed InitialiseSecureChannelRequest: {e}"),
            SignedDataError::Structure { expected } => write!(
                f,
                "InitialiseSecureChannelRequest: expected element {expected}"
            ),
        }
    }
}

impl std::error::Error for SignedDataError {}

impl From<TlvError> for SignedDataError {
    fn from(e: TlvError) -> Self {
        SignedDataError::Tlv(e)
    }
}

/// A whole TLV from a tag and a value, DER length.
pub fn tlv(tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; tlv_len(tag, value.len())];
    let mut w = TlvWriter::new(&mut out);
    // The buffer has exactly the size the writer needs.
    let written = match w.write_tlv(tag, value) {
        Ok(()) => w.position(),
        Err(_) => 0,
    };
    out.truncate(written);
    out
}

/// What smdpSignature2 covers: smdpSigned2 as received, then euiccSignature1 as a `5F37` TLV
/// (SGP.22 §5.6.2 / §5.7.5).
pub fn smdp_signed2_data(smdp_signed2: &[u8], euicc_signature1: &[u8]) -> Vec<u8> {
    let mut out = smdp_signed2.to_vec();
    out.extend_from_slice(&tlv(TAG_SIGNATURE, euicc_signature1));
    out
}

/// What euiccSignature2 covers: euiccSigned2, then smdpSignature2 as a `5F37` TLV
/// (SGP.22 §5.7.5).
pub fn euicc_signed2_data(euicc_signed2: &[u8], smdp_signature2: &[u8]) -> Vec<u8> {
    let mut out = euicc_signed2.to_vec();
    out.extend_from_slice(&tlv(TAG_SIGNATURE, smdp_signature2));
    out
}

/// What smdpSign covers (SGP.22 §5.5.1): the remoteOpId (`82`), transactionId (`80`),
/// controlRefTemplate (`A6`) and smdpOtpk (`5F49`) elements of `initialise_secure_channel` (a
/// whole `BF23` element, with or without its smdpSign) exactly as they were encoded, then the
/// eUICC's one-time public key `euicc_otpk` as a `5F49` TLV.
pub fn initialise_secure_channel_data(
    initialise_secure_channel: &[u8],
    euicc_otpk: &[u8],
) -> Result<Vec<u8>, SignedDataError> {
    let top = Tlv::parse(initialise_secure_channel)?;
    if top.tag() != Tag(0xBF23) {
        return Err(SignedDataError::Structure {
            expected: Tag(0xBF23),
        });
    }
    let mut children = top.children();
    let mut out = Vec::with_capacity(initialise_secure_channel.len() + 70);
    for expected in [Tag(0x82), Tag(0x80), Tag(0xA6), TAG_OTPK] {
        let child = children
            .next()
            .ok_or(SignedDataError::Structure { expected })??;
        if child.tag() != expected {
            return Err(SignedDataError::Structure { expected });
        }
        out.extend_from_slice(child.raw());
    }
    out.extend_from_slice(&tlv(TAG_OTPK, euicc_otpk));
    Ok(out)
}
