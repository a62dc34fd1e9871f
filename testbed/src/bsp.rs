//! Bound Profile Package security: key agreement, key derivation and segment protection.
//!
//! SGP.22 v2.5 protects the Bound Profile Package (BPP, `BF36`) end to end between the SM-DP+
//! and the eUICC with a GlobalPlatform SCP03t-style protocol (called "BSP" in SGP.22 v3):
//!
//! ```text
//!  SM-DP+                                                    eUICC
//!  otSK.DP, otPK.DP  ---- otPK.DP in BF23 (5F49) ---------->  otSK.EUICC, otPK.EUICC
//!  ShS = ECKA(otSK.DP, otPK.EUICC)      ShS = ECKA(otSK.EUICC, otPK.DP)     §2.6.5
//!  KDF(ShS, keyType|keyLen|hostId|EID) -> initial MCV | S-ENC | S-MAC       §2.6.6
//!
//!  BspProtector ---- A0: 87 (ConfigureISDP, ciphered) -----> BspVerifier     §5.5.2
//!               ---- A1: 88.. (StoreMetadata, MAC only) -->                  §5.5.3
//!               ---- A2: 87 (ReplaceSessionKeys) --------->  (optional)      §5.5.4
//!               ---- A3: 86.. (profile elements) --------->  S-* or PPK-*    §5.5.5
//! ```
//!
//! Every segment (SGP.22 §2.5.4, after GlobalPlatform SCP03t) is protected as follows:
//! - `86` and `87`: the plaintext is padded with `80 00..` to a multiple of 16 bytes and
//!   ciphered with AES-128-CBC under S-ENC, with ICV = AES(S-ENC, block counter as a 16-byte
//!   big-endian number); the counter starts at 1 and advances by one per segment;
//! - `88`: the plaintext is sent as is (MAC only), but the counter still advances;
//! - all: C-MAC = AES-CMAC(S-MAC, MCV ‖ tag ‖ length ‖ data), where the length is the DER
//!   length of the whole value (data and the 8 MAC bytes); the first 8 bytes are appended, the
//!   full 16 bytes become the next MAC chaining value (MCV).
//!
//! A segment is at most 1020 bytes including tag, length and MAC (SGP.22 §2.5.3; pySim cites
//! the same limit for v3.0).
//!
//! ReplaceSessionKeys (`BF26` inside the `87` of `A2`, SGP.22 §5.5.4) switches both sides to
//! the Profile Protection Keys PPK-ENC / PPK-MAC and sets the MCV to its
//! `initialMacChainingValue`. The block counter **restarts at 1**: a Protected Profile Package
//! is ciphered once, ahead of any session, with the PPKs (SGP.22 §2.5.3), so its `86` segments
//! cannot depend on how many `87`/`88` segments a later session puts before them. osmocom
//! pySim (`pySim/esim/es8p.py`: `BoundProfilePackage.decode` builds a fresh `BspInstance`
//! from the PPKs, whose counter starts at 1) and osmo-ttcn3-hacks (`bsp_crypto.cpp`:
//! `from_replace_session_keys`) do the same, and pySim's `test_esim_bsp.py` vector, taken from
//! a third-party SM-DP+ trace, checks the first PPK-protected `86` against counter 1; our
//! tests reproduce it.
//!
//! [`BspProtector`] is the SM-DP+ side, [`BspVerifier`] the eUICC side. A verifier that refused
//! one segment refuses everything after it: an eUICC stops loading the BPP at the first error
//! and reports it in its ProfileInstallationResult (SGP.22 §2.5.5).

use core::fmt;

use aes::Aes128;
use aes::cipher::consts::U16;
use aes::cipher::{
    Array, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
};
use cmac::{Cmac, Mac};
use lpa_core::tlv::{Tag, Tlv, TlvError, TlvReader, TlvWriter, tlv_len};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::point::PointCompression;
use p256::elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use p256::elliptic_curve::subtle::ConstantTimeEq;
use p256::elliptic_curve::zeroize::Zeroize;
use p256::elliptic_curve::{
    AffinePoint, CurveArithmetic, FieldBytes, FieldBytesSize, PublicKey, SecretKey, ecdh,
};
use sha2::{Digest, Sha256};

/// keyType for AES in the ControlRefTemplate (GlobalPlatform Card Specification Table 11-16;
/// SGP.22 §5.5.1 `controlRefTemplate`).
pub const KEY_TYPE_AES: u8 = 0x88;
/// keyLen of the session keys: SGP.22 §5.5.1 says it SHALL be 16 bytes.
pub const KEY_LEN_AES128: u8 = 0x10;
/// Length of an EID in bytes.
pub const EID_LEN: usize = 16;
/// Longest segment, tag, length and MAC included (SGP.22 §2.5.3).
pub const MAX_SEGMENT_LEN: usize = 1020;
/// Bytes of C-MAC appended to each segment (the 8 most significant bytes of the AES-CMAC).
pub const MAC_LEN: usize = 8;
/// Longest plaintext that fits one ciphered segment (`86`, `87`): 1020 bytes minus tag (1),
/// length (3) and MAC (8) leave 1008 bytes of ciphertext, and padding takes at least one byte.
pub const MAX_CIPHERED_PLAINTEXT: usize = 1007;
/// Longest plaintext that fits one MAC-only segment (`88`).
pub const MAX_MAC_ONLY_PLAINTEXT: usize = 1008;

const BLOCK: usize = 16;
const TAG_BPP: Tag = Tag(0xBF36);
const TAG_INITIALISE_SECURE_CHANNEL: Tag = Tag(0xBF23);
const TAG_REPLACE_SESSION_KEYS: Tag = Tag(0xBF26);
const TAG_CONTROL_REF_TEMPLATE: Tag = Tag(0xA6);
const TAG_OTPK: Tag = Tag(0x5F49);
const TAG_SIGNATURE: Tag = Tag(0x5F37);
const TAG_FIRST_SEQUENCE_OF_87: Tag = Tag(0xA0);
const TAG_SEQUENCE_OF_88: Tag = Tag(0xA1);
const TAG_SECOND_SEQUENCE_OF_87: Tag = Tag(0xA2);
const TAG_SEQUENCE_OF_86: Tag = Tag(0xA3);

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Everything that can go wrong in BPP security.
///
/// Grouped by fault: the peer sent bad data (key, BPP structure, segments), the caller passed
/// bad input or misused the API, or the local system failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BspError {
    // --- The peer misbehaved ---------------------------------------------------------------
    /// The peer's one-time public key is not an uncompressed point (`04 ‖ X ‖ Y`) on the curve.
    InvalidPublicKey {
        /// The curve the point was checked against.
        curve: Curve,
    },
    /// The ControlRefTemplate asks for keys other than AES-128 (SGP.22 §5.5.1).
    UnsupportedKeyParameters {
        /// keyType found (`88` is AES).
        key_type: u8,
        /// keyLen found (must be `10`).
        key_len: u8,
    },
    /// A hostId that is empty or longer than 16 bytes (`OctetTo16`).
    InvalidHostId {
        /// Its length.
        len: usize,
    },
    /// A BPP, InitialiseSecureChannel, ControlRefTemplate or ReplaceSessionKeys structure that
    /// lacks a required element or has a malformed one.
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The TLV structure of a BPP, InitialiseSecureChannel or ReplaceSessionKeys is broken.
    Tlv {
        /// Which structure was being read.
        what: &'static str,
        /// The TLV error.
        error: TlvError,
    },
    /// A protected segment is not one well-formed TLV.
    MalformedSegment {
        /// Position of the segment among those this verifier was given (from 0).
        index: usize,
        /// The TLV error.
        error: TlvError,
    },
    /// A segment has another tag than the one expected at this point of the BPP.
    WrongTag {
        /// Position of the segment among those this verifier was given (from 0).
        index: usize,
        /// The tag that was required.
        expected: Tag,
        /// The tag that was found.
        found: Tag,
    },
    /// A segment whose length is impossible: longer than 1020 bytes, a non-minimal length
    /// field, too short for the MAC, or a ciphertext that is not whole AES blocks.
    BadLength {
        /// Position of the segment among those this verifier was given (from 0).
        index: usize,
        /// The segment's tag.
        tag: Tag,
        /// The length of the segment's value (or of the whole segment when it is too long).
        length: usize,
    },
    /// The C-MAC of a segment does not verify (tampered, dropped or reordered segments).
    MacMismatch {
        /// Position of the segment among those this verifier was given (from 0).
        index: usize,
        /// The segment's tag.
        tag: Tag,
    },
    /// A deciphered segment does not end in `80 00..` padding within its last block.
    BadPadding {
        /// Position of the segment among those this verifier was given (from 0).
        index: usize,
        /// The segment's tag.
        tag: Tag,
    },
    /// ReplaceSessionKeys carries a key or MCV whose length differs from the current keys'
    /// (SGP.22 §5.5.4: the eUICC shall refuse it).
    KeyLengthMismatch {
        /// The length of the current keys.
        expected: usize,
        /// The length found.
        found: usize,
    },

    // --- Bad input or API misuse ------------------------------------------------------------
    /// A secret key that is not a valid 32-byte scalar for the curve.
    InvalidSecretKey {
        /// The curve.
        curve: Curve,
    },
    /// An EID that is not 16 bytes.
    InvalidEid {
        /// Its length.
        len: usize,
    },
    /// A plaintext too long for one segment.
    PlaintextTooLong {
        /// Its length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// An empty plaintext where SGP.22 needs at least one byte (a MAC-only segment, or a whole
    /// sequence of segments).
    EmptyPlaintext,
    /// An earlier segment was refused; the BPP is aborted and no more segments are accepted.
    Aborted {
        /// Position of the segment that was refused.
        failed_index: usize,
    },
    /// The block counter reached its maximum.
    CounterExhausted,

    // --- Local failure ----------------------------------------------------------------------
    /// The system random number generator failed.
    RandomSource,
}

impl fmt::Display for BspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BspError::InvalidPublicKey { curve } => write!(
                f,
                "one-time public key is not an uncompressed point on {curve}"
            ),
            BspError::UnsupportedKeyParameters { key_type, key_len } => write!(
                f,
                "unsupported session key parameters keyType {key_type:02X} keyLen {key_len:02X} \
                 (only AES-128: 88/10)"
            ),
            BspError::InvalidHostId { len } => {
                write!(f, "hostId of {len} bytes (must be 1 to 16)")
            }
            BspError::Malformed { what } => write!(f, "malformed {what}"),
            BspError::Tlv { what, error } => write!(f, "malformed {what}: {error}"),
            BspError::MalformedSegment { index, error } => {
                write!(f, "segment {index} is not a valid TLV: {error}")
            }
            BspError::WrongTag {
                index,
                expected,
                found,
            } => write!(f, "segment {index} has tag {found}, expected {expected}"),
            BspError::BadLength { index, tag, length } => {
                write!(
                    f,
                    "segment {index} (tag {tag}) has an invalid length {length}"
                )
            }
            BspError::MacMismatch { index, tag } => {
                write!(f, "C-MAC of segment {index} (tag {tag}) does not verify")
            }
            BspError::BadPadding { index, tag } => {
                write!(f, "segment {index} (tag {tag}) has invalid 80 00.. padding")
            }
            BspError::KeyLengthMismatch { expected, found } => write!(
                f,
                "ReplaceSessionKeys value of {found} bytes, current keys have {expected}"
            ),
            BspError::InvalidSecretKey { curve } => {
                write!(f, "not a valid secret key for {curve}")
            }
            BspError::InvalidEid { len } => write!(f, "EID of {len} bytes (must be 16)"),
            BspError::PlaintextTooLong { len, max } => {
                write!(
                    f,
                    "plaintext of {len} bytes does not fit a segment (max {max})"
                )
            }
            BspError::EmptyPlaintext => write!(f, "empty plaintext"),
            BspError::Aborted { failed_index } => write!(
                f,
                "BPP processing aborted after segment {failed_index} was refused"
            ),
            BspError::CounterExhausted => write!(f, "block counter exhausted"),
            BspError::RandomSource => write!(f, "system random number generator failed"),
        }
    }
}

impl std::error::Error for BspError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BspError::Tlv { error, .. } | BspError::MalformedSegment { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn tlv_err(what: &'static str) -> impl Fn(TlvError) -> BspError {
    move |error| BspError::Tlv { what, error }
}

// ---------------------------------------------------------------------------------------------
// ECKA (SGP.22 §2.6.5, BSI TR-03111 §4.3.1 ECKA-DH)
// ---------------------------------------------------------------------------------------------

/// The curves SGP.22 uses for the one-time key agreement keys (SGP.22 §2.6.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    NistP256,
    /// brainpoolP256r1 (RFC 5639).
    BrainpoolP256r1,
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::NistP256 => "NIST P-256",
            Curve::BrainpoolP256r1 => "brainpoolP256r1",
        })
    }
}

/// The shared secret ShS: the x coordinate of the ECDH point (SGP.22 §2.6.5). Zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret([u8; 32]);

impl SharedSecret {
    /// Wraps a known ShS (for test vectors that start from ShS).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SharedSecret(bytes)
    }

    /// The 32 bytes of ShS.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(..)")
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

enum KeyPairInner {
    NistP256(p256::SecretKey),
    BrainpoolP256r1(bp256::r1::SecretKey),
}

/// A one-time key pair for key agreement: otSK/otPK.DP.ECKA on the SM-DP+,
/// otSK/otPK.EUICC.ECKA on the eUICC (SGP.22 §2.6.5, §3.1.3).
pub struct OneTimeKeyPair(KeyPairInner);

impl fmt::Debug for OneTimeKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeKeyPair")
            .field("curve", &self.curve())
            .finish_non_exhaustive()
    }
}

impl OneTimeKeyPair {
    /// Generates a fresh key pair from the system random number generator.
    pub fn generate(curve: Curve) -> Result<Self, BspError> {
        Ok(OneTimeKeyPair(match curve {
            Curve::NistP256 => KeyPairInner::NistP256(
                p256::SecretKey::try_generate().map_err(|_| BspError::RandomSource)?,
            ),
            Curve::BrainpoolP256r1 => KeyPairInner::BrainpoolP256r1(
                bp256::r1::SecretKey::try_generate().map_err(|_| BspError::RandomSource)?,
            ),
        }))
    }

    /// Uses a known 32-byte big-endian secret scalar (deterministic test sessions).
    pub fn from_secret_bytes(curve: Curve, secret: &[u8]) -> Result<Self, BspError> {
        let bad = BspError::InvalidSecretKey { curve };
        if secret.len() != 32 {
            return Err(bad);
        }
        Ok(OneTimeKeyPair(match curve {
            Curve::NistP256 => KeyPairInner::NistP256(secret_from_slice(secret).ok_or(bad)?),
            Curve::BrainpoolP256r1 => {
                KeyPairInner::BrainpoolP256r1(secret_from_slice(secret).ok_or(bad)?)
            }
        }))
    }

    /// The curve of this key pair.
    pub fn curve(&self) -> Curve {
        match self.0 {
            KeyPairInner::NistP256(_) => Curve::NistP256,
            KeyPairInner::BrainpoolP256r1(_) => Curve::BrainpoolP256r1,
        }
    }

    /// The 32-byte big-endian secret scalar (for recording deterministic sessions).
    pub fn secret_bytes(&self) -> [u8; 32] {
        match &self.0 {
            KeyPairInner::NistP256(sk) => sk.to_bytes().into(),
            KeyPairInner::BrainpoolP256r1(sk) => sk.to_bytes().into(),
        }
    }

    /// The public key as an uncompressed point `04 ‖ X ‖ Y`, the value of tag `5F49`.
    pub fn public_key(&self) -> [u8; 65] {
        match &self.0 {
            KeyPairInner::NistP256(sk) => uncompressed(&sk.public_key()),
            KeyPairInner::BrainpoolP256r1(sk) => uncompressed(&sk.public_key()),
        }
    }

    /// ECKA: ShS from this secret key and the peer's one-time public key, which must be an
    /// uncompressed point on the same curve (the value of the peer's `5F49`).
    pub fn shared_secret(&self, peer_public_key: &[u8]) -> Result<SharedSecret, BspError> {
        let curve = self.curve();
        let bad = BspError::InvalidPublicKey { curve };
        // SGP.22 carries one-time keys uncompressed (GlobalPlatform ePK.OCE.ECKA); a compressed
        // or hybrid encoding is refused rather than silently accepted.
        if peer_public_key.len() != 65 || peer_public_key.first() != Some(&0x04) {
            return Err(bad);
        }
        match &self.0 {
            KeyPairInner::NistP256(sk) => ecdh_x(sk, peer_public_key).ok_or(bad),
            KeyPairInner::BrainpoolP256r1(sk) => ecdh_x(sk, peer_public_key).ok_or(bad),
        }
    }
}

fn secret_from_slice<C>(secret: &[u8]) -> Option<SecretKey<C>>
where
    C: p256::elliptic_curve::Curve,
{
    let bytes = FieldBytes::<C>::try_from(secret).ok()?;
    SecretKey::<C>::from_bytes(&bytes).ok()
}

fn uncompressed<C>(pk: &PublicKey<C>) -> [u8; 65]
where
    C: CurveArithmetic + PointCompression,
    PublicKey<C>: ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let point = pk.to_sec1_point(false);
    let mut out = [0u8; 65];
    for (o, b) in out.iter_mut().zip(point.as_bytes()) {
        *o = *b;
    }
    out
}

fn ecdh_x<C>(sk: &SecretKey<C>, peer: &[u8]) -> Option<SharedSecret>
where
    C: CurveArithmetic,
    FieldBytesSize<C>: ModulusSize,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
{
    // from_sec1_bytes checks that the point is on the curve and not the identity; P-256 and
    // brainpoolP256r1 have cofactor 1, so no small-subgroup check is needed.
    let pk = PublicKey::<C>::from_sec1_bytes(peer).ok()?;
    let shared = ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(shared.raw_secret_bytes().iter()) {
        *o = *b;
    }
    Some(SharedSecret(out))
}

// ---------------------------------------------------------------------------------------------
// KDF (SGP.22 §2.6.6, BSI TR-03111 §4.3.3 X9.63 KDF with SHA-256)
// ---------------------------------------------------------------------------------------------

/// The ControlRefTemplate (`A6`) of InitialiseSecureChannel (SGP.22 §5.5.1): which keys to
/// derive, and the hostId that goes into SharedInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlRefTemplate {
    /// keyType (`80`), `88` for AES.
    pub key_type: u8,
    /// keyLen (`81`), 16.
    pub key_len: u8,
    /// hostId (`84`), 1 to 16 bytes.
    pub host_id: Vec<u8>,
}

impl ControlRefTemplate {
    /// AES-128 keys with the given hostId.
    pub fn aes128(host_id: &[u8]) -> Self {
        ControlRefTemplate {
            key_type: KEY_TYPE_AES,
            key_len: KEY_LEN_AES128,
            host_id: host_id.to_vec(),
        }
    }

    /// Decodes the value of the `A6` element (`80 01 keyType`, `81 01 keyLen`, `84 hostId`).
    /// Unknown elements after them are skipped (the SGP.22 module is EXTENSIBILITY IMPLIED).
    pub fn decode_value(value: &[u8]) -> Result<Self, BspError> {
        const WHAT: &str = "ControlRefTemplate";
        let mut r = TlvReader::new(value);
        let key_type = r.expect(Tag(0x80)).map_err(tlv_err(WHAT))?;
        let key_len = r.expect(Tag(0x81)).map_err(tlv_err(WHAT))?;
        let host_id = r.expect(Tag(0x84)).map_err(tlv_err(WHAT))?;
        for extra in r {
            extra.map_err(tlv_err(WHAT))?;
        }
        let one_byte = |t: Tlv<'_>| match t.value() {
            [b] => Ok(*b),
            _ => Err(BspError::Malformed {
                what: "ControlRefTemplate keyType/keyLen (must be one byte)",
            }),
        };
        Ok(ControlRefTemplate {
            key_type: one_byte(key_type)?,
            key_len: one_byte(key_len)?,
            host_id: host_id.value().to_vec(),
        })
    }

    /// Encodes the whole `A6` element.
    pub fn encode(&self) -> Vec<u8> {
        let inner =
            tlv_len(Tag(0x80), 1) + tlv_len(Tag(0x81), 1) + tlv_len(Tag(0x84), self.host_id.len());
        let mut out = vec![0u8; tlv_len(TAG_CONTROL_REF_TEMPLATE, inner)];
        let mut w = TlvWriter::new(&mut out);
        // The buffer is sized from the same lengths, so these writes cannot fail.
        let _ = w
            .write_header(TAG_CONTROL_REF_TEMPLATE, inner)
            .and_then(|()| w.write_tlv(Tag(0x80), &[self.key_type]))
            .and_then(|()| w.write_tlv(Tag(0x81), &[self.key_len]))
            .and_then(|()| w.write_tlv(Tag(0x84), &self.host_id));
        out
    }
}

/// SharedInfo for the KDF (SGP.22 §2.6.6): keyType ‖ keyLen ‖ len(hostId) ‖ hostId ‖ len(EID) ‖
/// EID, each length one byte (hostId is at most 16 bytes, the EID 16).
pub fn shared_info(
    key_type: u8,
    key_len: u8,
    host_id: &[u8],
    eid: &[u8],
) -> Result<Vec<u8>, BspError> {
    let host_len = u8::try_from(host_id.len())
        .ok()
        .filter(|l| (1..=16).contains(l))
        .ok_or(BspError::InvalidHostId { len: host_id.len() })?;
    if eid.len() != EID_LEN {
        return Err(BspError::InvalidEid { len: eid.len() });
    }
    let mut out = Vec::with_capacity(4 + host_id.len() + eid.len());
    out.extend_from_slice(&[key_type, key_len, host_len]);
    out.extend_from_slice(host_id);
    out.push(EID_LEN as u8);
    out.extend_from_slice(eid);
    Ok(out)
}

/// The ANSI X9.63 KDF with SHA-256 (BSI TR-03111 §4.3.3) producing the 48 bytes SGP.22 needs:
/// SHA-256(ShS ‖ counter ‖ SharedInfo) for counter = 1, 2 (32-bit big-endian), truncated.
pub fn kdf_x963_sha256(shs: &[u8], shared_info: &[u8]) -> [u8; 48] {
    let mut out = [0u8; 48];
    for (counter, chunk) in (1u32..=2).zip(out.chunks_mut(32)) {
        let digest = Sha256::new()
            .chain_update(shs)
            .chain_update(counter.to_be_bytes())
            .chain_update(shared_info)
            .finalize();
        for (o, d) in chunk.iter_mut().zip(digest.iter()) {
            *o = *d;
        }
    }
    out
}

/// The BSP session keys (SGP.22 §2.6.6): the initial MAC chaining value, S-ENC and S-MAC;
/// or, after ReplaceSessionKeys, the PPKs. Zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    initial_mcv: [u8; 16],
    s_enc: [u8; 16],
    s_mac: [u8; 16],
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        self.initial_mcv.zeroize();
        self.s_enc.zeroize();
        self.s_mac.zeroize();
    }
}

impl SessionKeys {
    /// Keys from known values (PPKs, test vectors).
    pub fn from_parts(s_enc: [u8; 16], s_mac: [u8; 16], initial_mcv: [u8; 16]) -> Self {
        SessionKeys {
            initial_mcv,
            s_enc,
            s_mac,
        }
    }

    /// Splits the 48-byte KDF output: initial MCV ‖ S-ENC ‖ S-MAC (SGP.22 §2.6.6).
    pub fn from_kdf_output(out: &[u8; 48]) -> Self {
        // 48 = 3 x 16, so each chunk converts; the default is never used.
        let mut parts = out
            .chunks_exact(16)
            .map(|c| <[u8; 16]>::try_from(c).unwrap_or_default());
        let initial_mcv = parts.next().unwrap_or_default();
        let s_enc = parts.next().unwrap_or_default();
        let s_mac = parts.next().unwrap_or_default();
        SessionKeys::from_parts(s_enc, s_mac, initial_mcv)
    }

    /// Derives the session keys from ShS, the ControlRefTemplate sent in InitialiseSecureChannel
    /// and the EID (SGP.22 §2.6.6). Only AES-128 (keyType `88`, keyLen 16) is accepted.
    pub fn derive(
        shs: &SharedSecret,
        crt: &ControlRefTemplate,
        eid: &[u8],
    ) -> Result<Self, BspError> {
        if crt.key_type != KEY_TYPE_AES || crt.key_len != KEY_LEN_AES128 {
            return Err(BspError::UnsupportedKeyParameters {
                key_type: crt.key_type,
                key_len: crt.key_len,
            });
        }
        let info = shared_info(crt.key_type, crt.key_len, &crt.host_id, eid)?;
        let mut out = kdf_x963_sha256(shs.as_bytes(), &info);
        let keys = SessionKeys::from_kdf_output(&out);
        out.zeroize();
        Ok(keys)
    }

    /// The initial MAC chaining value.
    pub fn initial_mac_chaining_value(&self) -> &[u8; 16] {
        &self.initial_mcv
    }

    /// S-ENC (or PPK-ENC).
    pub fn s_enc(&self) -> &[u8; 16] {
        &self.s_enc
    }

    /// S-MAC (or PPK-MAC).
    pub fn s_mac(&self) -> &[u8; 16] {
        &self.s_mac
    }
}

// ---------------------------------------------------------------------------------------------
// ReplaceSessionKeys (SGP.22 §5.5.4)
// ---------------------------------------------------------------------------------------------

/// ReplaceSessionKeysRequest (`BF26`, SGP.22 §5.5.4): the Profile Protection Keys of a
/// Protected Profile Package and the MAC chaining value to start from.
#[derive(Clone, PartialEq, Eq)]
pub struct ReplaceSessionKeys {
    /// initialMacChainingValue (`80`).
    pub initial_mac_chaining_value: [u8; 16],
    /// ppkEnc (`81`), PPK-ENC.
    pub ppk_enc: [u8; 16],
    /// ppkCmac (`82`), PPK-MAC.
    pub ppk_cmac: [u8; 16],
}

impl fmt::Debug for ReplaceSessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplaceSessionKeys(..)")
    }
}

impl Drop for ReplaceSessionKeys {
    fn drop(&mut self) {
        self.initial_mac_chaining_value.zeroize();
        self.ppk_enc.zeroize();
        self.ppk_cmac.zeroize();
    }
}

impl ReplaceSessionKeys {
    /// The request that hands over `keys` (PPK-ENC, PPK-MAC and their initial MCV).
    pub fn from_keys(keys: &SessionKeys) -> Self {
        ReplaceSessionKeys {
            initial_mac_chaining_value: keys.initial_mcv,
            ppk_enc: keys.s_enc,
            ppk_cmac: keys.s_mac,
        }
    }

    /// The keys this request installs.
    pub fn session_keys(&self) -> SessionKeys {
        SessionKeys::from_parts(self.ppk_enc, self.ppk_cmac, self.initial_mac_chaining_value)
    }

    /// Decodes a whole `BF26` element. Each value must be 16 bytes, the length of the current
    /// AES-128 session keys (SGP.22 §5.5.4); unknown trailing elements are skipped.
    pub fn decode(der: &[u8]) -> Result<Self, BspError> {
        const WHAT: &str = "ReplaceSessionKeysRequest";
        let top = Tlv::parse(der)
            .and_then(|t| t.expect_tag(TAG_REPLACE_SESSION_KEYS))
            .map_err(tlv_err(WHAT))?;
        let mut r = top.children();
        let mut key16 = |tag: Tag| -> Result<[u8; 16], BspError> {
            let t = r.expect(tag).map_err(tlv_err(WHAT))?;
            <[u8; 16]>::try_from(t.value()).map_err(|_| BspError::KeyLengthMismatch {
                expected: 16,
                found: t.value().len(),
            })
        };
        let initial_mac_chaining_value = key16(Tag(0x80))?;
        let ppk_enc = key16(Tag(0x81))?;
        let ppk_cmac = key16(Tag(0x82))?;
        for extra in r {
            extra.map_err(tlv_err(WHAT))?;
        }
        Ok(ReplaceSessionKeys {
            initial_mac_chaining_value,
            ppk_enc,
            ppk_cmac,
        })
    }

    /// Encodes the whole `BF26` element.
    pub fn encode(&self) -> Vec<u8> {
        let inner = 3 * tlv_len(Tag(0x80), 16);
        let mut out = vec![0u8; tlv_len(TAG_REPLACE_SESSION_KEYS, inner)];
        let mut w = TlvWriter::new(&mut out);
        // Sized from the same lengths: cannot fail.
        let _ = w
            .write_header(TAG_REPLACE_SESSION_KEYS, inner)
            .and_then(|()| w.write_tlv(Tag(0x80), &self.initial_mac_chaining_value))
            .and_then(|()| w.write_tlv(Tag(0x81), &self.ppk_enc))
            .and_then(|()| w.write_tlv(Tag(0x82), &self.ppk_cmac));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Segment protection (SGP.22 §2.5.4, GlobalPlatform SCP03t)
// ---------------------------------------------------------------------------------------------

/// The three kinds of protected segment in a BPP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentTag {
    /// `86`: LoadProfileElements (SGP.22 §5.5.5), a piece of the profile package; ciphered.
    LoadProfileElements86,
    /// `87`: an ES8+ command, ConfigureISDP (§5.5.2, in `A0`) or ReplaceSessionKeys (§5.5.4, in
    /// `A2`); ciphered.
    Es8Command87,
    /// `88`: StoreMetadata (§5.5.3), the profile metadata; MAC only, in the clear.
    StoreMetadata88,
}

impl SegmentTag {
    /// The BER tag.
    pub fn tag(self) -> Tag {
        match self {
            SegmentTag::LoadProfileElements86 => Tag(0x86),
            SegmentTag::Es8Command87 => Tag(0x87),
            SegmentTag::StoreMetadata88 => Tag(0x88),
        }
    }

    /// Whether segments of this kind are ciphered (`86`, `87`) or MAC only (`88`).
    pub fn is_ciphered(self) -> bool {
        !matches!(self, SegmentTag::StoreMetadata88)
    }

    /// The longest plaintext one segment of this kind carries.
    pub fn max_plaintext(self) -> usize {
        if self.is_ciphered() {
            MAX_CIPHERED_PLAINTEXT
        } else {
            MAX_MAC_ONLY_PLAINTEXT
        }
    }
}

/// The state both ends keep: keys, block counter and MAC chaining value.
struct Channel {
    keys: SessionKeys,
    mcv: [u8; 16],
    counter: u64,
}

impl Channel {
    fn new(keys: SessionKeys) -> Self {
        let mcv = keys.initial_mcv;
        // SGP.22 §2.5.4 / SCP03t: the block counter starts at 1.
        Channel {
            keys,
            mcv,
            counter: 1,
        }
    }

    /// ICV = AES-ECB(S-ENC, counter as a 16-byte big-endian number).
    fn icv(&self) -> [u8; 16] {
        let mut block = Array::<u8, U16>::from((u128::from(self.counter)).to_be_bytes());
        Aes128::new(&Array::from(self.keys.s_enc)).encrypt_block(&mut block);
        block.into()
    }

    /// Full AES-CMAC(S-MAC, MCV ‖ tag ‖ length ‖ data), the length covering data and MAC.
    fn full_mac(&self, tag: Tag, data: &[u8]) -> Result<[u8; 16], BspError> {
        let mut header = [0u8; 8];
        let mut w = TlvWriter::new(&mut header);
        w.write_header(tag, data.len() + MAC_LEN)
            .map_err(tlv_err("segment header"))?;
        let mut mac = <Cmac<Aes128> as KeyInit>::new(&Array::from(self.keys.s_mac));
        mac.update(&self.mcv);
        mac.update(w.written());
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    }

    fn advance(&mut self) -> Result<(), BspError> {
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(BspError::CounterExhausted)?;
        Ok(())
    }
}

/// Pads with `80 00..` to whole blocks (SGP.22 §2.5.4; v3 §2.6.4.4) and ciphers with
/// AES-128-CBC.
fn encrypt(key: &[u8; 16], icv: [u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let padded_len = (plaintext.len() / BLOCK + 1) * BLOCK;
    let mut buf = Vec::with_capacity(padded_len);
    buf.extend_from_slice(plaintext);
    buf.push(0x80);
    buf.resize(padded_len, 0);
    let (blocks, _rest) = Array::<u8, U16>::slice_as_chunks_mut(&mut buf);
    cbc::Encryptor::<Aes128>::new(&Array::from(*key), &Array::from(icv)).encrypt_blocks(blocks);
    buf
}

/// Deciphers whole blocks and strips the `80 00..` padding, which must sit in the last block.
fn decrypt(key: &[u8; 16], icv: [u8; 16], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let mut buf = ciphertext.to_vec();
    let (blocks, rest) = Array::<u8, U16>::slice_as_chunks_mut(&mut buf);
    if !rest.is_empty() || blocks.is_empty() {
        return None;
    }
    cbc::Decryptor::<Aes128>::new(&Array::from(*key), &Array::from(icv)).decrypt_blocks(blocks);
    let zeros = buf.iter().rev().take_while(|b| **b == 0).count();
    let marker = buf.len().checked_sub(zeros + 1)?;
    if zeros >= BLOCK || buf.get(marker) != Some(&0x80) {
        return None;
    }
    buf.truncate(marker);
    Some(buf)
}

/// The SM-DP+ side: protects plaintext into `86`/`87`/`88` segments (SGP.22 §2.5.4).
///
/// Segments must be produced in BPP order: `87` ConfigureISDP, the `88`s, the optional `87`
/// ReplaceSessionKeys ([`BspProtector::protect_replace_session_keys`]), then the `86`s.
pub struct BspProtector {
    channel: Channel,
}

impl fmt::Debug for BspProtector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BspProtector")
            .field("block_counter", &self.channel.counter)
            .finish_non_exhaustive()
    }
}

impl BspProtector {
    /// Starts with the given session keys, counter 1 and their initial MCV.
    pub fn new(keys: SessionKeys) -> Self {
        BspProtector {
            channel: Channel::new(keys),
        }
    }

    /// The block counter the next segment will use.
    pub fn block_counter(&self) -> u64 {
        self.channel.counter
    }

    /// The current MAC chaining value.
    pub fn mac_chaining_value(&self) -> &[u8; 16] {
        &self.channel.mcv
    }

    /// Protects a plaintext that fits one segment and returns the whole segment TLV.
    pub fn protect_segment(
        &mut self,
        tag: SegmentTag,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, BspError> {
        if plaintext.len() > tag.max_plaintext() {
            return Err(BspError::PlaintextTooLong {
                len: plaintext.len(),
                max: tag.max_plaintext(),
            });
        }
        if plaintext.is_empty() && !tag.is_ciphered() {
            return Err(BspError::EmptyPlaintext);
        }
        let data = if tag.is_ciphered() {
            encrypt(&self.channel.keys.s_enc, self.channel.icv(), plaintext)
        } else {
            plaintext.to_vec()
        };
        let full = self.channel.full_mac(tag.tag(), &data)?;
        let value_len = data.len() + MAC_LEN;
        let mut out = vec![0u8; tlv_len(tag.tag(), value_len)];
        let mut w = TlvWriter::new(&mut out);
        w.write_header(tag.tag(), value_len)
            .and_then(|()| w.write_bytes(&data))
            .and_then(|()| w.write_bytes(full.get(..MAC_LEN).unwrap_or_default()))
            .map_err(tlv_err("segment"))?;
        self.channel.advance()?;
        self.channel.mcv = full;
        Ok(out)
    }

    /// Splits a plaintext into as many segments as needed (each as full as possible) and
    /// protects them in order.
    pub fn protect(&mut self, tag: SegmentTag, plaintext: &[u8]) -> Result<Vec<Vec<u8>>, BspError> {
        if plaintext.is_empty() {
            return Err(BspError::EmptyPlaintext);
        }
        plaintext
            .chunks(tag.max_plaintext())
            .map(|chunk| self.protect_segment(tag, chunk))
            .collect()
    }

    /// Emits the `87` segment carrying ReplaceSessionKeys under the current keys, then switches
    /// to the PPKs: MCV = initialMacChainingValue, block counter back to 1 (SGP.22 §5.5.4; see
    /// the module documentation for why the counter restarts).
    pub fn protect_replace_session_keys(
        &mut self,
        request: &ReplaceSessionKeys,
    ) -> Result<Vec<u8>, BspError> {
        let segment = self.protect_segment(SegmentTag::Es8Command87, &request.encode())?;
        self.replace_session_keys(request);
        Ok(segment)
    }

    /// Switches to the keys of `request` without emitting anything (when the `87` was built
    /// elsewhere).
    pub fn replace_session_keys(&mut self, request: &ReplaceSessionKeys) {
        self.channel = Channel::new(request.session_keys());
    }
}

/// The eUICC side: verifies and deciphers `86`/`87`/`88` segments (SGP.22 §2.5.4).
///
/// Give it the segments in the order they arrive, saying which kind the BPP structure expects
/// at that point (`87` inside `A0`/`A2`, `88` inside `A1`, `86` inside `A3`). Dropped, reordered
/// or altered segments fail the MAC chain. After the first refusal every call fails with
/// [`BspError::Aborted`].
pub struct BspVerifier {
    channel: Channel,
    next_index: usize,
    failed_index: Option<usize>,
}

impl fmt::Debug for BspVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BspVerifier")
            .field("block_counter", &self.channel.counter)
            .field("next_index", &self.next_index)
            .field("failed_index", &self.failed_index)
            .finish_non_exhaustive()
    }
}

impl BspVerifier {
    /// Starts with the given session keys, counter 1 and their initial MCV.
    pub fn new(keys: SessionKeys) -> Self {
        BspVerifier {
            channel: Channel::new(keys),
            next_index: 0,
            failed_index: None,
        }
    }

    /// The block counter the next segment must have been protected with.
    pub fn block_counter(&self) -> u64 {
        self.channel.counter
    }

    /// The current MAC chaining value.
    pub fn mac_chaining_value(&self) -> &[u8; 16] {
        &self.channel.mcv
    }

    /// How many segments this verifier has been given.
    pub fn segments_seen(&self) -> usize {
        self.next_index
    }

    /// Verifies one whole segment TLV of the expected kind and returns its plaintext.
    pub fn verify_segment(
        &mut self,
        expected: SegmentTag,
        segment: &[u8],
    ) -> Result<Vec<u8>, BspError> {
        if let Some(failed_index) = self.failed_index {
            return Err(BspError::Aborted { failed_index });
        }
        let index = self.next_index;
        self.next_index = index.saturating_add(1);
        let result = self.verify_inner(expected, segment, index);
        if result.is_err() {
            self.failed_index = Some(index);
        }
        result
    }

    fn verify_inner(
        &mut self,
        expected: SegmentTag,
        segment: &[u8],
        index: usize,
    ) -> Result<Vec<u8>, BspError> {
        let tag = expected.tag();
        if segment.len() > MAX_SEGMENT_LEN {
            return Err(BspError::BadLength {
                index,
                tag,
                length: segment.len(),
            });
        }
        let tlv =
            Tlv::parse(segment).map_err(|error| BspError::MalformedSegment { index, error })?;
        if tlv.tag() != tag {
            return Err(BspError::WrongTag {
                index,
                expected: tag,
                found: tlv.tag(),
            });
        }
        let value = tlv.value();
        let bad_length = BspError::BadLength {
            index,
            tag,
            length: value.len(),
        };
        // DER: the length must be in its shortest form, as the MAC input re-encodes it so.
        if segment.len() != tlv_len(tag, value.len()) {
            return Err(bad_length);
        }
        let data_len = value.len().checked_sub(MAC_LEN).ok_or(bad_length.clone())?;
        let well_sized = if expected.is_ciphered() {
            data_len >= BLOCK && data_len % BLOCK == 0
        } else {
            data_len > 0
        };
        if !well_sized {
            return Err(bad_length);
        }
        let (data, mac) = value.split_at_checked(data_len).ok_or(bad_length)?;
        let full = self.channel.full_mac(tag, data)?;
        let computed = full.get(..MAC_LEN).unwrap_or_default();
        if !bool::from(computed.ct_eq(mac)) {
            return Err(BspError::MacMismatch { index, tag });
        }
        let plaintext = if expected.is_ciphered() {
            decrypt(&self.channel.keys.s_enc, self.channel.icv(), data)
                .ok_or(BspError::BadPadding { index, tag })?
        } else {
            data.to_vec()
        };
        self.channel.advance()?;
        self.channel.mcv = full;
        Ok(plaintext)
    }

    /// Verifies the `87` segment of `A2`, decodes its ReplaceSessionKeys and switches to the
    /// PPKs: MCV = initialMacChainingValue, block counter back to 1 (SGP.22 §5.5.4).
    pub fn verify_replace_session_keys(
        &mut self,
        segment: &[u8],
    ) -> Result<ReplaceSessionKeys, BspError> {
        let plaintext = self.verify_segment(SegmentTag::Es8Command87, segment)?;
        match ReplaceSessionKeys::decode(&plaintext) {
            Ok(request) => {
                self.replace_session_keys(&request);
                Ok(request)
            }
            Err(e) => {
                self.failed_index = Some(self.next_index.saturating_sub(1));
                Err(e)
            }
        }
    }

    /// Switches to the keys of `request` (when its `87` was verified with
    /// [`BspVerifier::verify_segment`], e.g. split over several segments).
    pub fn replace_session_keys(&mut self, request: &ReplaceSessionKeys) {
        self.channel = Channel::new(request.session_keys());
    }
}

// ---------------------------------------------------------------------------------------------
// The Bound Profile Package around the segments (SGP.22 §2.5.4, §5.5.1)
// ---------------------------------------------------------------------------------------------

/// The parts of InitialiseSecureChannelRequest (`BF23`, SGP.22 §5.5.1) that BSP needs.
/// The signature is not verified here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialiseSecureChannel<'a> {
    /// The whole `BF23` element.
    pub raw: &'a [u8],
    /// transactionId (`80`).
    pub transaction_id: &'a [u8],
    /// controlRefTemplate (`A6`).
    pub control_ref_template: ControlRefTemplate,
    /// smdpOtpk (`5F49`), otPK.DP.ECKA as an uncompressed point.
    pub smdp_otpk: &'a [u8],
    /// smdpSign (`5F37`), the SM-DP+ signature.
    pub smdp_sign: &'a [u8],
}

impl<'a> InitialiseSecureChannel<'a> {
    /// Decodes a whole `BF23` element: remoteOpId (`82`), transactionId (`80`),
    /// controlRefTemplate (`A6`), smdpOtpk (`5F49`), smdpSign (`5F37`), in that order; later
    /// unknown elements are skipped.
    pub fn decode(der: &'a [u8]) -> Result<Self, BspError> {
        const WHAT: &str = "InitialiseSecureChannelRequest";
        let top = Tlv::parse(der)
            .and_then(|t| t.expect_tag(TAG_INITIALISE_SECURE_CHANNEL))
            .map_err(tlv_err(WHAT))?;
        let mut r = top.children();
        let remote_op_id = r.expect(Tag(0x82)).map_err(tlv_err(WHAT))?;
        // remoteOpId: installBoundProfilePackage(1) is the only operation defined.
        if remote_op_id.value() != [1] {
            return Err(BspError::Malformed {
                what: "InitialiseSecureChannelRequest remoteOpId (must be 1)",
            });
        }
        let transaction_id = r.expect(Tag(0x80)).map_err(tlv_err(WHAT))?.value();
        let crt = r.expect(TAG_CONTROL_REF_TEMPLATE).map_err(tlv_err(WHAT))?;
        let smdp_otpk = r.expect(TAG_OTPK).map_err(tlv_err(WHAT))?.value();
        let smdp_sign = r.expect(TAG_SIGNATURE).map_err(tlv_err(WHAT))?.value();
        for extra in r {
            extra.map_err(tlv_err(WHAT))?;
        }
        Ok(InitialiseSecureChannel {
            raw: der,
            transaction_id,
            control_ref_template: ControlRefTemplate::decode_value(crt.value())?,
            smdp_otpk,
            smdp_sign,
        })
    }
}

/// A Bound Profile Package (`BF36`) split into its parts; each segment is its whole TLV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundProfilePackage<'a> {
    /// initialiseSecureChannelRequest (`BF23`).
    pub initialise_secure_channel: InitialiseSecureChannel<'a>,
    /// firstSequenceOf87 (`A0`): ConfigureISDP.
    pub first_sequence_of_87: Vec<&'a [u8]>,
    /// sequenceOf88 (`A1`): StoreMetadata.
    pub sequence_of_88: Vec<&'a [u8]>,
    /// secondSequenceOf87 (`A2`): ReplaceSessionKeys, when the profile was pre-protected.
    pub second_sequence_of_87: Option<Vec<&'a [u8]>>,
    /// sequenceOf86 (`A3`): the protected profile package.
    pub sequence_of_86: Vec<&'a [u8]>,
}

impl<'a> BoundProfilePackage<'a> {
    /// Splits a whole `BF36` element. Segment tags are not checked here: the verifier does it,
    /// so a misplaced segment is reported with its position.
    pub fn parse(der: &'a [u8]) -> Result<Self, BspError> {
        const WHAT: &str = "BoundProfilePackage";
        let top = Tlv::parse(der)
            .and_then(|t| t.expect_tag(TAG_BPP))
            .map_err(tlv_err(WHAT))?;
        let mut r = top.children();
        let isc = r
            .expect(TAG_INITIALISE_SECURE_CHANNEL)
            .map_err(tlv_err(WHAT))?;
        let first = r.expect(TAG_FIRST_SEQUENCE_OF_87).map_err(tlv_err(WHAT))?;
        let metadata = r.expect(TAG_SEQUENCE_OF_88).map_err(tlv_err(WHAT))?;
        let next = r
            .next()
            .ok_or(BspError::Malformed {
                what: "BoundProfilePackage (no sequenceOf86)",
            })?
            .map_err(tlv_err(WHAT))?;
        let (second, profile) = if next.tag() == TAG_SECOND_SEQUENCE_OF_87 {
            let profile = r.expect(TAG_SEQUENCE_OF_86).map_err(tlv_err(WHAT))?;
            (Some(next), profile)
        } else {
            (
                None,
                next.expect_tag(TAG_SEQUENCE_OF_86).map_err(tlv_err(WHAT))?,
            )
        };
        for extra in r {
            extra.map_err(tlv_err(WHAT))?;
        }
        let members = |seq: Tlv<'a>| -> Result<Vec<&'a [u8]>, BspError> {
            seq.children()
                .map(|m| m.map(|t| t.raw()).map_err(tlv_err(WHAT)))
                .collect()
        };
        Ok(BoundProfilePackage {
            initialise_secure_channel: InitialiseSecureChannel::decode(isc.raw())?,
            first_sequence_of_87: members(first)?,
            sequence_of_88: members(metadata)?,
            second_sequence_of_87: second.map(members).transpose()?,
            sequence_of_86: members(profile)?,
        })
    }
}

/// Builds a `BF36` from an encoded InitialiseSecureChannelRequest and protected segments.
pub fn assemble_bound_profile_package<S: AsRef<[u8]>>(
    initialise_secure_channel: &[u8],
    first_sequence_of_87: &[S],
    sequence_of_88: &[S],
    second_sequence_of_87: Option<&[S]>,
    sequence_of_86: &[S],
) -> Result<Vec<u8>, BspError> {
    let seq_len = |s: &[S]| s.iter().map(|x| x.as_ref().len()).sum::<usize>();
    let mut sequences: Vec<(Tag, &[S])> = vec![
        (TAG_FIRST_SEQUENCE_OF_87, first_sequence_of_87),
        (TAG_SEQUENCE_OF_88, sequence_of_88),
    ];
    if let Some(second) = second_sequence_of_87 {
        sequences.push((TAG_SECOND_SEQUENCE_OF_87, second));
    }
    sequences.push((TAG_SEQUENCE_OF_86, sequence_of_86));
    let inner = initialise_secure_channel.len()
        + sequences
            .iter()
            .map(|(t, s)| tlv_len(*t, seq_len(s)))
            .sum::<usize>();
    let mut out = vec![0u8; tlv_len(TAG_BPP, inner)];
    let mut w = TlvWriter::new(&mut out);
    let wrap = tlv_err("BoundProfilePackage");
    w.write_header(TAG_BPP, inner).map_err(&wrap)?;
    w.write_bytes(initialise_secure_channel).map_err(&wrap)?;
    for (tag, seq) in sequences {
        w.write_header(tag, seq_len(seq)).map_err(&wrap)?;
        for segment in seq {
            w.write_bytes(segment.as_ref()).map_err(&wrap)?;
        }
    }
    Ok(out)
}

/// What an eUICC obtains from a Bound Profile Package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedBoundProfilePackage {
    /// ConfigureISDPRequest (`BF24`) from the first `87`s.
    pub configure_isdp: Vec<u8>,
    /// StoreMetadataRequest (`BF25`) from the `88`s.
    pub store_metadata: Vec<u8>,
    /// ReplaceSessionKeys, when the BPP carried one.
    pub replace_session_keys: Option<ReplaceSessionKeys>,
    /// The unprotected profile package from the `86`s.
    pub profile_package: Vec<u8>,
}

/// Does what an eUICC does to a whole BPP, minus the signature check on `BF23`: ECKA with its
/// one-time key and smdpOtpk, KDF with the ControlRefTemplate and its EID, then every segment
/// verified and deciphered in order.
pub fn open_bound_profile_package(
    bpp: &[u8],
    euicc_one_time_key: &OneTimeKeyPair,
    eid: &[u8],
) -> Result<OpenedBoundProfilePackage, BspError> {
    let parsed = BoundProfilePackage::parse(bpp)?;
    let isc = &parsed.initialise_secure_channel;
    let shs = euicc_one_time_key.shared_secret(isc.smdp_otpk)?;
    let keys = SessionKeys::derive(&shs, &isc.control_ref_template, eid)?;
    let mut verifier = BspVerifier::new(keys);

    let mut run = |tag: SegmentTag, segments: &[&[u8]], what: &'static str| {
        if segments.is_empty() {
            return Err(BspError::Malformed { what });
        }
        let mut out = Vec::new();
        for segment in segments {
            out.extend(verifier.verify_segment(tag, segment)?);
        }
        Ok(out)
    };
    let configure_isdp = run(
        SegmentTag::Es8Command87,
        &parsed.first_sequence_of_87,
        "BoundProfilePackage (empty firstSequenceOf87)",
    )?;
    let store_metadata = run(
        SegmentTag::StoreMetadata88,
        &parsed.sequence_of_88,
        "BoundProfilePackage (empty sequenceOf88)",
    )?;
    let replace_session_keys = match &parsed.second_sequence_of_87 {
        Some(second) => {
            let plaintext = run(
                SegmentTag::Es8Command87,
                second,
                "BoundProfilePackage (empty secondSequenceOf87)",
            )?;
            Some(ReplaceSessionKeys::decode(&plaintext)?)
        }
        None => None,
    };
    if let Some(request) = &replace_session_keys {
        verifier.replace_session_keys(request);
    }
    let mut profile_package = Vec::new();
    if parsed.sequence_of_86.is_empty() {
        return Err(BspError::Malformed {
            what: "BoundProfilePackage (empty sequenceOf86)",
        });
    }
    for segment in &parsed.sequence_of_86 {
        profile_package
            .extend(verifier.verify_segment(SegmentTag::LoadProfileElements86, segment)?);
    }
    Ok(OpenedBoundProfilePackage {
        configure_isdp,
        store_metadata,
        replace_session_keys,
        profile_package,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::from_parts([1; 16], [2; 16], [3; 16])
    }

    #[test]
    fn padding_is_always_added_and_must_sit_in_the_last_block() {
        for len in [0usize, 1, 15, 16, 17, 31, 32] {
            let pt = vec![0xA5; len];
            let ct = encrypt(&[7; 16], [9; 16], &pt);
            assert_eq!(ct.len(), (len / 16 + 1) * 16, "len {len}");
            assert_eq!(decrypt(&[7; 16], [9; 16], &ct).unwrap(), pt);
        }
        // A plaintext ending in zero bytes survives (the 80 marks the end).
        let pt = [0x01, 0x00, 0x00];
        let ct = encrypt(&[7; 16], [9; 16], &pt);
        assert_eq!(decrypt(&[7; 16], [9; 16], &ct).unwrap(), pt);
    }

    #[test]
    fn bad_padding_is_refused() {
        let cipher = |plain: &[u8]| {
            // Cipher raw blocks without adding padding.
            let mut buf = plain.to_vec();
            let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(&mut buf);
            cbc::Encryptor::<Aes128>::new(&Array::from([7; 16]), &Array::from([9; 16]))
                .encrypt_blocks(blocks);
            buf
        };
        // No 80 at all.
        assert_eq!(decrypt(&[7; 16], [9; 16], &cipher(&[0u8; 16])), None);
        // Last byte not 00/80.
        assert_eq!(decrypt(&[7; 16], [9; 16], &cipher(&[0x11u8; 16])), None);
        // 80 followed by a whole block of zeros.
        let mut two = vec![0u8; 32];
        two[15] = 0x80;
        assert_eq!(decrypt(&[7; 16], [9; 16], &cipher(&two)), None);
        // 80 00.. exactly one block: empty plaintext.
        let mut one = vec![0u8; 16];
        one[0] = 0x80;
        assert_eq!(decrypt(&[7; 16], [9; 16], &cipher(&one)), Some(vec![]));
        // Not whole blocks.
        assert_eq!(decrypt(&[7; 16], [9; 16], &[0u8; 15]), None);
        assert_eq!(decrypt(&[7; 16], [9; 16], &[]), None);
    }

    #[test]
    fn a_correctly_maced_segment_with_bad_padding_is_bad_padding() {
        // What a buggy SM-DP+ would send: a block ciphered without 80 00.. padding, MACed
        // correctly.
        let channel = Channel::new(keys());
        let mut block = [0x42u8; 16];
        let (blocks, _) = Array::<u8, U16>::slice_as_chunks_mut(&mut block);
        cbc::Encryptor::<Aes128>::new(&Array::from(keys().s_enc), &Array::from(channel.icv()))
            .encrypt_blocks(blocks);
        let full = channel.full_mac(Tag(0x87), &block).unwrap();
        let mut segment = vec![0x87, 0x18];
        segment.extend(block);
        segment.extend(&full[..MAC_LEN]);
        let mut v = BspVerifier::new(keys());
        assert_eq!(
            v.verify_segment(SegmentTag::Es8Command87, &segment),
            Err(BspError::BadPadding {
                index: 0,
                tag: Tag(0x87)
            })
        );
    }

    #[test]
    fn segment_sizes_respect_the_1020_byte_limit() {
        let mut p = BspProtector::new(keys());
        let s = p
            .protect_segment(
                SegmentTag::LoadProfileElements86,
                &[0; MAX_CIPHERED_PLAINTEXT],
            )
            .unwrap();
        assert_eq!(s.len(), MAX_SEGMENT_LEN);
        let s = p
            .protect_segment(SegmentTag::StoreMetadata88, &[0; MAX_MAC_ONLY_PLAINTEXT])
            .unwrap();
        assert_eq!(s.len(), MAX_SEGMENT_LEN);
        assert_eq!(
            p.protect_segment(SegmentTag::LoadProfileElements86, &[0; 1008]),
            Err(BspError::PlaintextTooLong {
                len: 1008,
                max: 1007
            })
        );
        assert_eq!(
            p.protect_segment(SegmentTag::StoreMetadata88, &[]),
            Err(BspError::EmptyPlaintext)
        );
        let parts = p
            .protect(SegmentTag::LoadProfileElements86, &[1; 2500])
            .unwrap();
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1020, 1020, 4 + 496 + 8]
        );
    }

    #[test]
    fn oversized_and_non_minimal_segments_are_refused() {
        let mut v = BspVerifier::new(keys());
        let mut big = vec![0x86, 0x82, 0x03, 0xF9];
        big.resize(4 + 0x3F9, 0);
        assert_eq!(
            v.verify_segment(SegmentTag::LoadProfileElements86, &big),
            Err(BspError::BadLength {
                index: 0,
                tag: Tag(0x86),
                length: 1021
            })
        );
        let mut v = BspVerifier::new(keys());
        let mut long_form = vec![0x88, 0x81, 0x10];
        long_form.extend([0u8; 16]);
        assert_eq!(
            v.verify_segment(SegmentTag::StoreMetadata88, &long_form),
            Err(BspError::BadLength {
                index: 0,
                tag: Tag(0x88),
                length: 16
            })
        );
        let mut v = BspVerifier::new(keys());
        assert_eq!(
            v.verify_segment(
                SegmentTag::StoreMetadata88,
                &[0x88, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]
            ),
            Err(BspError::BadLength {
                index: 0,
                tag: Tag(0x88),
                length: 8
            })
        );
        let mut v = BspVerifier::new(keys());
        let mut not_blocks = vec![0x87, 0x18 + 1];
        not_blocks.extend([0u8; 0x19]);
        assert_eq!(
            v.verify_segment(SegmentTag::Es8Command87, &not_blocks),
            Err(BspError::BadLength {
                index: 0,
                tag: Tag(0x87),
                length: 0x19
            })
        );
        assert_eq!(
            v.verify_segment(SegmentTag::Es8Command87, &not_blocks),
            Err(BspError::Aborted { failed_index: 0 })
        );
    }

    #[test]
    fn garbage_never_panics() {
        let inputs: [&[u8]; 8] = [
            &[],
            &[0x86],
            &[0x86, 0x81],
            &[0x86, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x1F],
            &[0x87, 0x00],
            &[0x88, 0x01, 0x00],
            &[0xBF, 0x36, 0x00],
        ];
        for input in inputs {
            for tag in [
                SegmentTag::LoadProfileElements86,
                SegmentTag::Es8Command87,
                SegmentTag::StoreMetadata88,
            ] {
                assert!(BspVerifier::new(keys()).verify_segment(tag, input).is_err());
            }
            assert!(BoundProfilePackage::parse(input).is_err());
            assert!(ReplaceSessionKeys::decode(input).is_err());
            assert!(InitialiseSecureChannel::decode(input).is_err());
        }
    }

    #[test]
    fn replace_session_keys_encodes_as_sgp22_bf26() {
        let rsk = ReplaceSessionKeys {
            initial_mac_chaining_value: [0; 16],
            ppk_enc: [1; 16],
            ppk_cmac: [2; 16],
        };
        let der = rsk.encode();
        assert_eq!(&der[..5], &[0xBF, 0x26, 0x36, 0x80, 0x10]);
        assert_eq!(ReplaceSessionKeys::decode(&der).unwrap(), rsk);
        // A 24-byte key is refused.
        let mut bad = vec![0xBF, 0x26, 0x3E, 0x80, 0x10];
        bad.extend([0; 16]);
        bad.extend([0x81, 0x18]);
        bad.extend([0; 24]);
        bad.extend([0x82, 0x10]);
        bad.extend([0; 16]);
        assert_eq!(
            ReplaceSessionKeys::decode(&bad),
            Err(BspError::KeyLengthMismatch {
                expected: 16,
                found: 24
            })
        );
    }

    #[test]
    fn public_keys_must_be_uncompressed_points_on_the_curve() {
        let kp = OneTimeKeyPair::generate(Curve::NistP256).unwrap();
        let bad = Err(BspError::InvalidPublicKey {
            curve: Curve::NistP256,
        });
        let mut pk = kp.public_key();
        assert!(kp.shared_secret(&pk).is_ok());
        assert_eq!(kp.shared_secret(&pk[..33]), bad);
        pk[64] ^= 1;
        assert_eq!(kp.shared_secret(&pk), bad);
        // A brainpool point is not on P-256.
        let bp = OneTimeKeyPair::generate(Curve::BrainpoolP256r1).unwrap();
        assert_eq!(kp.shared_secret(&bp.public_key()), bad);
        assert_eq!(
            OneTimeKeyPair::from_secret_bytes(Curve::NistP256, &[0; 32]).err(),
            Some(BspError::InvalidSecretKey {
                curve: Curve::NistP256
            })
        );
        assert_eq!(
            OneTimeKeyPair::from_secret_bytes(Curve::BrainpoolP256r1, &[1; 31]).err(),
            Some(BspError::InvalidSecretKey {
                curve: Curve::BrainpoolP256r1
            })
        );
    }
}
