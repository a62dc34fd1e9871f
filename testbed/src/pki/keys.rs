//! Keys on the two SGP.22 curves, raw `r || s` ECDSA signatures and PEM key files.

use core::fmt;

use bp256::BrainpoolP256r1;
use der::asn1::{Any, ObjectIdentifier, UintRef};
use der::{Decode, Encode, Reader, SliceReader, Tag};
use ecdsa::signature::{Signer, Verifier};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};

use super::{CertRole, Curve, PkiError};

type BpSecretKey = bp256::elliptic_curve::SecretKey<BrainpoolP256r1>;
type BpPublicKey = bp256::elliptic_curve::PublicKey<BrainpoolP256r1>;

/// Length of an SGP.22 signature: `r || s`, 32 bytes each (SGP.22 §2.6, BSI TR-03111 format).
const RAW_SIGNATURE_LEN: usize = 64;
/// Length of one coordinate or scalar on the 256-bit curves.
const SCALAR_LEN: usize = 32;

/// How private keys are written as PEM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum KeyFormat {
    /// SEC1 `EC PRIVATE KEY` (with the curve OID and public key), as in the SGP.26 files.
    #[default]
    Sec1,
    /// PKCS#8 `PRIVATE KEY`.
    Pkcs8,
}

/// An ECDSA / ECKA private key on one of the SGP.22 curves.
///
/// `Debug` never prints key material.
#[derive(Clone)]
pub struct PrivateKey(pub(crate) SecretInner);

#[derive(Clone)]
pub(crate) enum SecretInner {
    NistP256(p256::SecretKey),
    BrainpoolP256r1(BpSecretKey),
}

/// A public key on one of the SGP.22 curves.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(PublicInner);

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    NistP256(p256::PublicKey),
    BrainpoolP256r1(BpPublicKey),
}

impl PrivateKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate(curve: Curve) -> Result<Self, PkiError> {
        Ok(PrivateKey(match curve {
            Curve::NistP256 => {
                SecretInner::NistP256(p256::SecretKey::try_generate().map_err(|_| PkiError::Rng)?)
            }
            Curve::BrainpoolP256r1 => SecretInner::BrainpoolP256r1(
                BpSecretKey::try_generate().map_err(|_| PkiError::Rng)?,
            ),
        }))
    }

    /// The key from its 32-byte big-endian scalar.
    pub fn from_scalar_bytes(curve: Curve, bytes: &[u8]) -> Result<Self, PkiError> {
        Ok(PrivateKey(match curve {
            Curve::NistP256 => {
                SecretInner::NistP256(p256::SecretKey::from_slice(bytes).map_err(PkiError::key)?)
            }
            Curve::BrainpoolP256r1 => {
                SecretInner::BrainpoolP256r1(BpSecretKey::from_slice(bytes).map_err(PkiError::key)?)
            }
        }))
    }

    /// The curve of the key.
    pub fn curve(&self) -> Curve {
        match &self.0 {
            SecretInner::NistP256(_) => Curve::NistP256,
            SecretInner::BrainpoolP256r1(_) => Curve::BrainpoolP256r1,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(match &self.0 {
            SecretInner::NistP256(k) => PublicInner::NistP256(k.public_key()),
            SecretInner::BrainpoolP256r1(k) => PublicInner::BrainpoolP256r1(k.public_key()),
        })
    }

    /// The 32-byte big-endian private scalar.
    pub fn to_scalar_bytes(&self) -> Zeroizing<[u8; SCALAR_LEN]> {
        Zeroizing::new(match &self.0 {
            SecretInner::NistP256(k) => k.to_bytes().into(),
            SecretInner::BrainpoolP256r1(k) => k.to_bytes().into(),
        })
    }

    /// Signs `message` with ECDSA over SHA-256 (deterministic nonce, RFC 6979) and returns the
    /// raw `r || s` form SGP.22 carries under tag `5F37` (SGP.22 §2.6).
    pub fn sign(&self, message: &[u8]) -> Result<[u8; RAW_SIGNATURE_LEN], PkiError> {
        let failed = |e: ecdsa::Error| PkiError::encoding(format!("ECDSA signing: {e}"));
        Ok(match &self.0 {
            SecretInner::NistP256(k) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(k)
                    .try_sign(message)
                    .map_err(failed)?;
                signature.to_bytes().into()
            }
            SecretInner::BrainpoolP256r1(k) => {
                let signature: ecdsa::Signature<BrainpoolP256r1> =
                    ecdsa::SigningKey::<BrainpoolP256r1>::from(k)
                        .try_sign(message)
                        .map_err(failed)?;
                signature.to_bytes().into()
            }
        })
    }

    /// ECKA (ECDH) with a peer public key: the x coordinate of the shared point
    /// (SGP.22 §2.6; the ShS of the BPP key agreement).
    pub fn ecdh(&self, peer: &PublicKey) -> Result<Zeroizing<[u8; SCALAR_LEN]>, PkiError> {
        match (&self.0, &peer.0) {
            (SecretInner::NistP256(k), PublicInner::NistP256(p)) => {
                let shared = k.diffie_hellman(p);
                Ok(Zeroizing::new((*shared.raw_secret_bytes()).into()))
            }
            (SecretInner::BrainpoolP256r1(k), PublicInner::BrainpoolP256r1(p)) => {
                let shared = k.diffie_hellman(p);
                Ok(Zeroizing::new((*shared.raw_secret_bytes()).into()))
            }
            _ => Err(PkiError::option("ECDH between keys on different curves")),
        }
    }

    /// Decodes a PEM private key: SEC1 (`EC PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
    ///
    /// Files produced by `openssl ecparam -genkey`, like the SGP.26 ones, start with an
    /// `EC PARAMETERS` block: it names the curve when the key itself does not, and the key is
    /// the last PEM block of the file.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let mut params_curve = None;
        let mut key = None;
        for block in pem_blocks(pem) {
            let (label, der) = der::pem::decode_vec(block.as_bytes())
                .map_err(|e| PkiError::key(format!("PEM: {e}")))?;
            match label {
                "EC PARAMETERS" => {
                    let oid = ObjectIdentifier::from_der(&der)
                        .map_err(|e| PkiError::key(format!("EC PARAMETERS: {e}")))?;
                    params_curve = Some(Curve::from_oid(&oid).ok_or_else(|| {
                        PkiError::key(format!("EC PARAMETERS name unsupported curve {oid}"))
                    })?);
                }
                "EC PRIVATE KEY" => key = Some((KeyFormat::Sec1, Zeroizing::new(der))),
                "PRIVATE KEY" => key = Some((KeyFormat::Pkcs8, Zeroizing::new(der))),
                other => {
                    return Err(PkiError::key(format!("unexpected PEM block {other}")));
                }
            }
        }
        let (format, der) = key.ok_or_else(|| PkiError::key("no private key PEM block"))?;
        Self::from_der(format, &der, params_curve)
    }

    /// Decodes a DER private key in the given format. `curve` is needed only for SEC1 keys that
    /// carry neither the curve OID nor the public key.
    pub fn from_der(format: KeyFormat, der: &[u8], curve: Option<Curve>) -> Result<Self, PkiError> {
        match format {
            KeyFormat::Pkcs8 => {
                let nist = p256::SecretKey::from_pkcs8_der(der);
                let brainpool = BpSecretKey::from_pkcs8_der(der);
                match (nist, brainpool, curve) {
                    (Ok(k), _, None | Some(Curve::NistP256)) => {
                        Ok(PrivateKey(SecretInner::NistP256(k)))
                    }
                    (_, Ok(k), None | Some(Curve::BrainpoolP256r1)) => {
                        Ok(PrivateKey(SecretInner::BrainpoolP256r1(k)))
                    }
                    (Err(e), _, _) => Err(PkiError::key(format!("PKCS#8: {e}"))),
                    (Ok(_), _, _) => Err(PkiError::key("PKCS#8 key is on another curve")),
                }
            }
            KeyFormat::Sec1 => {
                // A SEC1 key names its curve only optionally: the curve OID, if present, and
                // the public key, if present, are both checked by the decoders, so a key that
                // carries either decodes on exactly one curve.
                let nist = p256::SecretKey::from_sec1_der(der).ok();
                let brainpool = BpSecretKey::from_sec1_der(der).ok();
                match (nist, brainpool, curve) {
                    (Some(k), _, Some(Curve::NistP256)) | (Some(k), None, None) => {
                        Ok(PrivateKey(SecretInner::NistP256(k)))
                    }
                    (_, Some(k), Some(Curve::BrainpoolP256r1)) | (None, Some(k), None) => {
                        Ok(PrivateKey(SecretInner::BrainpoolP256r1(k)))
                    }
                    (Some(_), Some(_), None) => Err(PkiError::key(
                        "SEC1 key names no curve; give the curve (EC PARAMETERS block)",
                    )),
                    _ => Err(PkiError::key("not a SEC1 key on an SGP.22 curve")),
                }
            }
        }
    }

    /// The key as SEC1 DER (with the curve OID and the public key).
    pub fn to_sec1_der(&self) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        match &self.0 {
            SecretInner::NistP256(k) => k.to_sec1_der(),
            SecretInner::BrainpoolP256r1(k) => k.to_sec1_der(),
        }
        .map_err(PkiError::encoding)
    }

    /// The key as PKCS#8 DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let document = match &self.0 {
            SecretInner::NistP256(k) => k.to_pkcs8_der(),
            SecretInner::BrainpoolP256r1(k) => k.to_pkcs8_der(),
        }
        .map_err(PkiError::encoding)?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// The key as PEM in the given format (LF line endings).
    pub fn to_pem(&self, format: KeyFormat) -> Result<Zeroizing<String>, PkiError> {
        match format {
            KeyFormat::Sec1 => {
                let der = self.to_sec1_der()?;
                der::pem::encode_string("EC PRIVATE KEY", LineEnding::LF, &der)
                    .map(Zeroizing::new)
                    .map_err(PkiError::encoding)
            }
            KeyFormat::Pkcs8 => match &self.0 {
                SecretInner::NistP256(k) => k.to_pkcs8_pem(LineEnding::LF),
                SecretInner::BrainpoolP256r1(k) => k.to_pkcs8_pem(LineEnding::LF),
            }
            .map_err(PkiError::encoding),
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("curve", &self.curve())
            .finish_non_exhaustive()
    }
}

/// Splits a PEM file into its `-----BEGIN ...-----` / `-----END ...-----` blocks, ignoring text
/// around them.
fn pem_blocks(pem: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in pem.lines() {
        let line = line.trim_end();
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END ")
            && let Some(block) = current.take()
        {
            blocks.push(block);
        }
    }
    blocks
}

impl PublicKey {
    /// Decodes a SEC1 point (`04 || x || y`, or compressed) on `curve`, e.g. a one-time
    /// public key from tag `5F49`.
    pub fn from_sec1_bytes(curve: Curve, bytes: &[u8]) -> Result<Self, PkiError> {
        Ok(PublicKey(match curve {
            Curve::NistP256 => PublicInner::NistP256(
                p256::PublicKey::from_sec1_bytes(bytes).map_err(PkiError::key)?,
            ),
            Curve::BrainpoolP256r1 => PublicInner::BrainpoolP256r1(
                BpPublicKey::from_sec1_bytes(bytes).map_err(PkiError::key)?,
            ),
        }))
    }

    /// Decodes a DER `SubjectPublicKeyInfo` for either curve.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PkiError> {
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey(PublicInner::NistP256(k)));
        }
        BpPublicKey::from_public_key_der(der)
            .map(|k| PublicKey(PublicInner::BrainpoolP256r1(k)))
            .map_err(|e| PkiError::key(format!("SubjectPublicKeyInfo: {e}")))
    }

    /// The curve of the key.
    pub fn curve(&self) -> Curve {
        match &self.0 {
            PublicInner::NistP256(_) => Curve::NistP256,
            PublicInner::BrainpoolP256r1(_) => Curve::BrainpoolP256r1,
        }
    }

    /// The uncompressed SEC1 point `04 || x || y` (65 bytes).
    pub fn to_sec1_bytes(&self) -> Vec<u8> {
        match &self.0 {
            PublicInner::NistP256(k) => k.to_sec1_bytes().into_vec(),
            PublicInner::BrainpoolP256r1(k) => k.to_sec1_bytes().into_vec(),
        }
    }

    /// The DER `SubjectPublicKeyInfo` (id-ecPublicKey with the named curve).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, PkiError> {
        match &self.0 {
            PublicInner::NistP256(k) => k.to_public_key_der(),
            PublicInner::BrainpoolP256r1(k) => k.to_public_key_der(),
        }
        .map(|document| document.as_bytes().to_vec())
        .map_err(PkiError::encoding)
    }

    /// Verifies a raw `r || s` ECDSA-SHA256 signature over `message` (SGP.22 §2.6).
    ///
    /// A signature of any other length is [`PkiError::MalformedSignature`]; one that does not
    /// verify, including one with `r` or `s` out of range, is [`PkiError::SignatureInvalid`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        if signature.len() != RAW_SIGNATURE_LEN {
            return Err(PkiError::MalformedSignature {
                detail: format!(
                    "{} bytes, SGP.22 signatures are {RAW_SIGNATURE_LEN} bytes of r || s",
                    signature.len()
                ),
            });
        }
        match &self.0 {
            PublicInner::NistP256(k) => {
                let signature = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| PkiError::SignatureInvalid)?;
                p256::ecdsa::VerifyingKey::from(k)
                    .verify(message, &signature)
                    .map_err(|_| PkiError::SignatureInvalid)
            }
            PublicInner::BrainpoolP256r1(k) => {
                let signature = ecdsa::Signature::<BrainpoolP256r1>::from_slice(signature)
                    .map_err(|_| PkiError::SignatureInvalid)?;
                ecdsa::VerifyingKey::<BrainpoolP256r1>::from(k)
                    .verify(message, &signature)
                    .map_err(|_| PkiError::SignatureInvalid)
            }
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("curve", &self.curve())
            .field("sec1", &hex::encode(self.to_sec1_bytes()))
            .finish()
    }
}

/// Signs `message` with `key`: ECDSA with SHA-256, returned as the 64-byte `r || s` that SGP.22
/// puts under tag `5F37` (SGP.22 §2.6).
///
/// Signing cannot fail for a valid key in practice; the `Result` keeps library code free of
/// panics.
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<[u8; RAW_SIGNATURE_LEN], PkiError> {
    key.sign(message)
}

/// Converts a raw `r || s` signature (SGP.22, 64 bytes) to a DER `ECDSA-Sig-Value`
/// (`SEQUENCE { r INTEGER, s INTEGER }`, as in X.509 and TLS).
pub fn raw_signature_to_der(raw: &[u8]) -> Result<Vec<u8>, PkiError> {
    let malformed = |detail: String| PkiError::MalformedSignature { detail };
    if raw.len() != RAW_SIGNATURE_LEN {
        return Err(malformed(format!(
            "{} bytes, expected {RAW_SIGNATURE_LEN}",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(SCALAR_LEN);
    let mut body = Vec::with_capacity(RAW_SIGNATURE_LEN + 6);
    for half in [r, s] {
        // UintRef strips leading zeros and adds the 00 that keeps the INTEGER positive.
        UintRef::new(half)
            .and_then(|n| n.encode_to_vec(&mut body))
            .map_err(|e| malformed(e.to_string()))?;
    }
    Any::new(Tag::Sequence, body)
        .and_then(|seq| seq.to_der())
        .map_err(|e| malformed(e.to_string()))
}

/// Converts a DER `ECDSA-Sig-Value` to the raw `r || s` form of SGP.22 (64 bytes, each half
/// left-padded to 32 bytes).
pub fn der_signature_to_raw(der_signature: &[u8]) -> Result<[u8; RAW_SIGNATURE_LEN], PkiError> {
    let malformed = |detail: String| PkiError::MalformedSignature { detail };
    let (r, s) = decode_sig_value(der_signature).map_err(|e| malformed(e.to_string()))?;
    let mut raw = [0u8; RAW_SIGNATURE_LEN];
    let (raw_r, raw_s) = raw.split_at_mut(SCALAR_LEN);
    for (out, n) in [(raw_r, r), (raw_s, s)] {
        let bytes = n.as_bytes();
        let offset = SCALAR_LEN
            .checked_sub(bytes.len())
            .ok_or_else(|| malformed("integer longer than 32 bytes".into()))?;
        out.get_mut(offset..)
            .ok_or_else(|| malformed("integer longer than 32 bytes".into()))?
            .copy_from_slice(bytes);
    }
    Ok(raw)
}

fn decode_sig_value(der_signature: &[u8]) -> der::Result<(UintRef<'_>, UintRef<'_>)> {
    let mut reader = SliceReader::new(der_signature)?;
    let pair = reader.sequence(|seq| {
        let r = UintRef::decode(seq)?;
        let s = UintRef::decode(seq)?;
        Ok::<_, der::Error>((r, s))
    })?;
    reader.finish()?;
    Ok(pair)
}

/// Checks that `key` is the private key of a certificate whose public key is `public`.
pub(crate) fn check_key_pair(
    key: &PrivateKey,
    public: &PublicKey,
    cert: CertRole,
) -> Result<(), PkiError> {
    if key.public_key() == *public {
        Ok(())
    } else {
        Err(PkiError::KeyMismatch { cert })
    }
}
