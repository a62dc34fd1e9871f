//! The one error type of the test PKI.

use core::fmt;
use std::path::PathBuf;

use super::CertRole;

/// Everything that can go wrong while issuing, loading or validating RSP certificates.
///
/// The variants are grouped by who is at fault:
/// - **the presented chain** (a peer's certificate is not acceptable): every variant that names a
///   `cert` role says which certificate of the chain failed, so an SM-DP+ can map it to the
///   ES9+ codes of SGP.22 §5.6.3 (e.g. `Expired { cert: Eum }` is 8.1.2/6.3, any other EUM
///   failure 8.1.2/6.1, `UnknownCi` 8.11.1/3.9);
/// - **a signature over data** (`5F37`, SGP.22 §2.6);
/// - **local keys, files and options** (the caller's or the operator's fault).
#[derive(Debug)]
#[non_exhaustive]
pub enum PkiError {
    // --- The presented certificate chain ---------------------------------------------------
    /// The certificate is not a decodable X.509 v3 certificate.
    MalformedCertificate {
        /// Which certificate of the chain.
        cert: CertRole,
        /// What could not be decoded.
        detail: String,
    },
    /// The certificate uses a key or signature algorithm other than ECDSA with SHA-256 on an
    /// SGP.22 curve (§2.6, §4.5.2).
    UnsupportedAlgorithm {
        /// Which certificate of the chain.
        cert: CertRole,
        /// The algorithm or curve OID found.
        oid: String,
    },
    /// The certificate's key is on a different curve than its issuer's (all certificates of a
    /// chain use one curve, SGP.22 §4.5.2).
    CurveMismatch {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// The chain does not have the shape SGP.22 prescribes for the role (eUICC: exactly one
    /// EUM certificate between it and the CI; SM-DP+ and EUM certificates: none).
    ChainLength {
        /// The role that was being validated.
        role: CertRole,
        /// How many intermediate certificates that role needs.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// A certificate that must be issued by a CA is self-issued (issuer = subject).
    SelfSigned {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// No trusted CI has a subject key identifier equal to the chain's authority key
    /// identifier (the CI PKID, SGP.22 §4.5.2.1.0.1).
    UnknownCi {
        /// The key identifier that was looked for (empty when the certificate names none).
        key_id: Vec<u8>,
    },
    /// The authority key identifier does not match the issuer's subject key identifier.
    KeyIdentifierMismatch {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// The issuer name does not match the issuer certificate's subject name.
    IssuerMismatch {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// The certificate's signature does not verify under the issuer's key.
    BadCertificateSignature {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// The certificate's notAfter is before the validation time.
    Expired {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// The certificate's notBefore is after the validation time.
    NotYetValid {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// An extension that the certificate profile (SGP.22 §4.5.2.1.0.x) requires is absent.
    MissingExtension {
        /// Which certificate of the chain.
        cert: CertRole,
        /// The extension (and, where it matters, the element of it) that is missing.
        extension: &'static str,
    },
    /// The certificate has a critical extension this validator does not process
    /// (RFC 5280 §4.2).
    UnsupportedCriticalExtension {
        /// Which certificate of the chain.
        cert: CertRole,
        /// The extension OID.
        oid: String,
    },
    /// The certificate policies do not carry the role's `id-rspRole` OID.
    WrongRole {
        /// The role the certificate was expected to have.
        cert: CertRole,
        /// The RSP roles the certificate does carry.
        found: Vec<CertRole>,
    },
    /// The key usage (or extended key usage) lacks a usage the role requires.
    KeyUsage {
        /// Which certificate of the chain.
        cert: CertRole,
        /// The usage that is missing.
        required: &'static str,
    },
    /// An issuing certificate is not a CA (basicConstraints cA absent or false).
    NotCa {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// An end-entity certificate claims to be a CA.
    UnexpectedCa {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// A CA's pathLenConstraint does not allow the CAs below it.
    PathLength {
        /// Which certificate of the chain.
        cert: CertRole,
    },
    /// The eUICC certificate's subject serialNumber is not a 32-digit EID.
    InvalidEid {
        /// Why.
        detail: String,
    },
    /// The EID is outside the EUM's name constraints (SGP.22 §4.5.2.1.0.2).
    EidNotPermitted {
        /// The EID in the eUICC certificate.
        eid: String,
    },
    /// The EID differs from the one expected (e.g. the EID a profile is linked to).
    EidMismatch {
        /// The expected EID.
        expected: String,
        /// The EID in the eUICC certificate.
        found: String,
    },

    // --- Signatures over data (tag 5F37) ---------------------------------------------------
    /// The signature is not 64 bytes of `r || s` (or not a DER ECDSA-Sig-Value, for the DER
    /// conversion).
    MalformedSignature {
        /// Why.
        detail: String,
    },
    /// The signature does not verify.
    SignatureInvalid,

    // --- Local keys, files and options -----------------------------------------------------
    /// A private or public key could not be decoded.
    MalformedKey {
        /// Why.
        detail: String,
    },
    /// A private key does not belong to the certificate it was loaded with.
    KeyMismatch {
        /// The certificate.
        cert: CertRole,
    },
    /// An option or argument is out of range.
    InvalidOption {
        /// Which one and why.
        detail: String,
    },
    /// Encoding a certificate or key failed.
    Encoding {
        /// Why.
        detail: String,
    },
    /// The system random number generator failed.
    Rng,
    /// Reading or writing a file failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl PkiError {
    /// The certificate of the chain that failed, for chain validation errors.
    pub fn certificate(&self) -> Option<CertRole> {
        match self {
            PkiError::MalformedCertificate { cert, .. }
            | PkiError::UnsupportedAlgorithm { cert, .. }
            | PkiError::CurveMismatch { cert }
            | PkiError::SelfSigned { cert }
            | PkiError::KeyIdentifierMismatch { cert }
            | PkiError::IssuerMismatch { cert }
            | PkiError::BadCertificateSignature { cert }
            | PkiError::Expired { cert }
            | PkiError::NotYetValid { cert }
            | PkiError::MissingExtension { cert, .. }
            | PkiError::UnsupportedCriticalExtension { cert, .. }
            | PkiError::WrongRole { cert, .. }
            | PkiError::KeyUsage { cert, .. }
            | PkiError::NotCa { cert }
            | PkiError::UnexpectedCa { cert }
            | PkiError::PathLength { cert }
            | PkiError::KeyMismatch { cert } => Some(*cert),
            PkiError::ChainLength { role, .. } => Some(*role),
            PkiError::UnknownCi { .. } => Some(CertRole::Ci),
            PkiError::InvalidEid { .. }
            | PkiError::EidNotPermitted { .. }
            | PkiError::EidMismatch { .. } => Some(CertRole::Euicc),
            _ => None,
        }
    }

    pub(crate) fn malformed(cert: CertRole, detail: impl fmt::Display) -> Self {
        PkiError::MalformedCertificate {
            cert,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn encoding(detail: impl fmt::Display) -> Self {
        PkiError::Encoding {
            detail: detail.to_string(),
        }
    }

    pub(crate) fn option(detail: impl fmt::Display) -> Self {
        PkiError::InvalidOption {
            detail: detail.to_string(),
        }
    }

    pub(crate) fn key(detail: impl fmt::Display) -> Self {
        PkiError::MalformedKey {
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::MalformedCertificate { cert, detail } => {
                write!(f, "{cert}: malformed certificate: {detail}")
            }
            PkiError::UnsupportedAlgorithm { cert, oid } => {
                write!(f, "{cert}: unsupported algorithm or curve {oid}")
            }
            PkiError::CurveMismatch { cert } => {
                write!(f, "{cert}: key is on a different curve than the issuer's")
            }
            PkiError::ChainLength {
                role,
                expected,
                found,
            } => write!(
                f,
                "{role}: chain needs {expected} intermediate certificate(s), got {found}"
            ),
            PkiError::SelfSigned { cert } => {
                write!(f, "{cert}: self-issued, not issued by its CA")
            }
            PkiError::UnknownCi { key_id } => {
                write!(
                    f,
                    "unknown CI (key identifier {})",
                    hex::encode_upper(key_id)
                )
            }
            PkiError::KeyIdentifierMismatch { cert } => write!(
                f,
                "{cert}: authority key identifier does not match the issuer's key identifier"
            ),
            PkiError::IssuerMismatch { cert } => {
                write!(f, "{cert}: issuer name does not match the issuer's subject")
            }
            PkiError::BadCertificateSignature { cert } => {
                write!(
                    f,
                    "{cert}: signature does not verify under the issuer's key"
                )
            }
            PkiError::Expired { cert } => write!(f, "{cert}: expired"),
            PkiError::NotYetValid { cert } => write!(f, "{cert}: not yet valid"),
            PkiError::MissingExtension { cert, extension } => {
                write!(f, "{cert}: required extension {extension} is missing")
            }
            PkiError::UnsupportedCriticalExtension { cert, oid } => {
                write!(f, "{cert}: unsupported critical extension {oid}")
            }
            PkiError::WrongRole { cert, found } => {
                write!(f, "{cert}: certificate policies lack the role OID")?;
                if !found.is_empty() {
                    f.write_str(" (found")?;
                    for role in found {
                        write!(f, " {role}")?;
                    }
                    f.write_str(")")?;
                }
                Ok(())
            }
            PkiError::KeyUsage { cert, required } => {
                write!(f, "{cert}: key usage lacks {required}")
            }
            PkiError::NotCa { cert } => write!(f, "{cert}: not a CA certificate"),
            PkiError::UnexpectedCa { cert } => {
                write!(f, "{cert}: end-entity certificate claims to be a CA")
            }
            PkiError::PathLength { cert } => {
                write!(f, "{cert}: path length constraint exceeded")
            }
            PkiError::InvalidEid { detail } => write!(f, "invalid EID: {detail}"),
            PkiError::EidNotPermitted { eid } => {
                write!(f, "EID {eid} is outside the EUM's name constraints")
            }
            PkiError::EidMismatch { expected, found } => {
                write!(f, "EID {found} differs from the expected {expected}")
            }
            PkiError::MalformedSignature { detail } => {
                write!(f, "malformed signature: {detail}")
            }
            PkiError::SignatureInvalid => f.write_str("signature does not verify"),
            PkiError::MalformedKey { detail } => write!(f, "malformed key: {detail}"),
            PkiError::KeyMismatch { cert } => {
                write!(f, "{cert}: private key does not match the certificate")
            }
            PkiError::InvalidOption { detail } => write!(f, "invalid option: {detail}"),
            PkiError::Encoding { detail } => write!(f, "encoding failed: {detail}"),
            PkiError::Rng => f.write_str("system random number generator failed"),
            PkiError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for PkiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PkiError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
