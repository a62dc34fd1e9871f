//! The RSP test PKI: issue SGP.22 certificates and validate certificate chains as strictly as
//! a real eUICC or SM-DP+ does.
//!
//! SGP.22 §4.5 defines one certificate hierarchy per curve (§2.6: NIST P-256 and
//! brainpoolP256r1), rooted at a GSMA Certificate Issuer (CI):
//!
//! ```text
//!                 CERT.CI.ECDSA  (self-signed, id-rspRole-ci)
//!                /        |        \            \
//!   CERT.EUM.ECDSA  CERT.DPauth  CERT.DPpb   CERT.DP.TLS
//!   (CA, name-          (dp-auth)  (dp-pb)    (dp-tls, serverAuth,
//!    constrained                              dNSName = SM-DP+ host)
//!    to an EID prefix)
//!         |
//!   CERT.EUICC.ECDSA (subject serialNumber = EID)
//! ```
//!
//! What this module offers:
//! - [`TestPki::generate`] creates a complete hierarchy for one curve; it can be written to and
//!   loaded from a directory laid out like the GSMA SGP.26 test material, which
//!   [`TestPki::load_from_dir`] also reads directly.
//! - [`issue_certificate`] issues any single certificate of the hierarchy, so tests can build
//!   deliberately broken chains.
//! - [`verify_chain`] is the one chain validation used by both the software eUICC and the test
//!   SM-DP+. Time is an input: nothing here reads a clock.
//! - [`sign`] / [`verify_signature`] produce and check the raw `r || s` ECDSA signatures that
//!   SGP.22 carries under tag `5F37`.

mod cert;
mod error;
mod generate;
mod issue;
mod keys;
mod verify;

use core::fmt;

pub use der::asn1::ObjectIdentifier;

pub use cert::{aki_of, eid_of, ski_of};
pub use error::PkiError;
pub use generate::{
    DEFAULT_EID, DEFAULT_SMDP_HOST, DEFAULT_SMDP_OID, Identity, TestPki, TestPkiOptions,
    load_identity,
};
pub use issue::{CertSpec, Issuer, NameAttribute, issue_certificate};
pub use keys::{
    KeyFormat, PrivateKey, PublicKey, der_signature_to_raw, raw_signature_to_der, sign,
};
pub use verify::{VerifiedCert, verify_chain, verify_signature};

/// The elliptic curves an RSP certificate chain may use (SGP.22 §2.6).
///
/// All certificates of one chain use the same curve (SGP.22 §4.5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (`prime256v1`, OID 1.2.840.10045.3.1.7).
    NistP256,
    /// brainpoolP256r1 (OID 1.3.36.3.3.2.8.1.1.7).
    BrainpoolP256r1,
}

impl Curve {
    /// The named-curve OID carried in `SubjectPublicKeyInfo` and SEC1 keys.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::NistP256 => oids::CURVE_NIST_P256,
            Curve::BrainpoolP256r1 => oids::CURVE_BRAINPOOL_P256R1,
        }
    }

    /// The curve named by `oid`, if it is one SGP.22 allows.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        if *oid == oids::CURVE_NIST_P256 {
            Some(Curve::NistP256)
        } else if *oid == oids::CURVE_BRAINPOOL_P256R1 {
            Some(Curve::BrainpoolP256r1)
        } else {
            None
        }
    }

    /// The suffix SGP.26 uses in its file names (`NIST` or `BRP`).
    pub fn sgp26_suffix(self) -> &'static str {
        match self {
            Curve::NistP256 => "NIST",
            Curve::BrainpoolP256r1 => "BRP",
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::NistP256 => "NIST P-256",
            Curve::BrainpoolP256r1 => "brainpoolP256r1",
        })
    }
}

/// The role of a certificate in the RSP PKI, identified by its certificate policy OID
/// (SGP.22 §4.5.2.1.0: `id-rspRole` = 2.23.146.1.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertRole {
    /// CERT.CI.ECDSA, the GSMA Certificate Issuer root (`id-rspRole-ci`, §4.5.2.1.0.1).
    Ci,
    /// CERT.EUICC.ECDSA, issued by the EUM (`id-rspRole-euicc`, §4.5.2.1.0.3).
    Euicc,
    /// CERT.EUM.ECDSA, the eUICC Manufacturer sub-CA (`id-rspRole-eum`, §4.5.2.1.0.2).
    Eum,
    /// CERT.DP.TLS, the SM-DP+ TLS server certificate (`id-rspRole-dp-tls`).
    DpTls,
    /// CERT.DPauth.ECDSA, the SM-DP+ authentication certificate (`id-rspRole-dp-auth`,
    /// §4.5.2.1.0.4).
    DpAuth,
    /// CERT.DPpb.ECDSA, the SM-DP+ profile binding certificate (`id-rspRole-dp-pb`,
    /// §4.5.2.1.0.4).
    DpPb,
    /// CERT.DS.TLS, the SM-DS TLS server certificate (`id-rspRole-ds-tls`).
    DsTls,
    /// CERT.DSauth.ECDSA, the SM-DS authentication certificate (`id-rspRole-ds-auth`).
    DsAuth,
}

impl CertRole {
    /// The certificate policy OID that marks this role (SGP.22 §4.5.2.1.0).
    pub fn policy_oid(self) -> ObjectIdentifier {
        match self {
            CertRole::Ci => oids::ROLE_CI,
            CertRole::Euicc => oids::ROLE_EUICC,
            CertRole::Eum => oids::ROLE_EUM,
            CertRole::DpTls => oids::ROLE_DP_TLS,
            CertRole::DpAuth => oids::ROLE_DP_AUTH,
            CertRole::DpPb => oids::ROLE_DP_PB,
            CertRole::DsTls => oids::ROLE_DS_TLS,
            CertRole::DsAuth => oids::ROLE_DS_AUTH,
        }
    }

    /// The role whose policy OID is `oid`, if any.
    pub fn from_policy_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [
            CertRole::Ci,
            CertRole::Euicc,
            CertRole::Eum,
            CertRole::DpTls,
            CertRole::DpAuth,
            CertRole::DpPb,
            CertRole::DsTls,
            CertRole::DsAuth,
        ]
        .into_iter()
        .find(|role| role.policy_oid() == *oid)
    }

    /// SGP.22's name for the certificate (`CERT.EUM.ECDSA`, ...).
    pub fn sgp22_name(self) -> &'static str {
        match self {
            CertRole::Ci => "CERT.CI.ECDSA",
            CertRole::Euicc => "CERT.EUICC.ECDSA",
            CertRole::Eum => "CERT.EUM.ECDSA",
            CertRole::DpTls => "CERT.DP.TLS",
            CertRole::DpAuth => "CERT.DPauth.ECDSA",
            CertRole::DpPb => "CERT.DPpb.ECDSA",
            CertRole::DsTls => "CERT.DS.TLS",
            CertRole::DsAuth => "CERT.DSauth.ECDSA",
        }
    }

    /// Whether certificates of this role are CAs (the CI and the EUM).
    pub fn is_ca(self) -> bool {
        matches!(self, CertRole::Ci | CertRole::Eum)
    }

    /// Whether certificates of this role are TLS server certificates.
    pub fn is_tls(self) -> bool {
        matches!(self, CertRole::DpTls | CertRole::DsTls)
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sgp22_name())
    }
}

/// Object identifiers used by the RSP PKI.
pub(crate) mod oids {
    use der::asn1::ObjectIdentifier as Oid;

    /// `id-rspRole` arc (SGP.22 §4.5.2.1.0).
    pub const ROLE_CI: Oid = Oid::new_unwrap("2.23.146.1.2.1.0");
    pub const ROLE_EUICC: Oid = Oid::new_unwrap("2.23.146.1.2.1.1");
    pub const ROLE_EUM: Oid = Oid::new_unwrap("2.23.146.1.2.1.2");
    pub const ROLE_DP_TLS: Oid = Oid::new_unwrap("2.23.146.1.2.1.3");
    pub const ROLE_DP_AUTH: Oid = Oid::new_unwrap("2.23.146.1.2.1.4");
    pub const ROLE_DP_PB: Oid = Oid::new_unwrap("2.23.146.1.2.1.5");
    pub const ROLE_DS_TLS: Oid = Oid::new_unwrap("2.23.146.1.2.1.6");
    pub const ROLE_DS_AUTH: Oid = Oid::new_unwrap("2.23.146.1.2.1.7");

    /// Curves (SGP.22 §2.6).
    pub const CURVE_NIST_P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub const CURVE_BRAINPOOL_P256R1: Oid = Oid::new_unwrap("1.3.36.3.3.2.8.1.1.7");

    /// `id-ecPublicKey` and `ecdsa-with-SHA256` (the only certificate signature of §4.5.2).
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");

    /// X.520 attribute types used in RSP subject names.
    pub const AT_COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
    pub const AT_SERIAL_NUMBER: Oid = Oid::new_unwrap("2.5.4.5");
    pub const AT_COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
    pub const AT_ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
    pub const AT_ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");

    /// RFC 5280 certificate extensions.
    pub const EXT_SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
    pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
    pub const EXT_SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
    pub const EXT_BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
    pub const EXT_NAME_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.30");
    pub const EXT_CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
    pub const EXT_CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
    pub const EXT_AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
    pub const EXT_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");

    /// `id-kp-serverAuth` (RFC 5280 §4.2.1.12).
    pub const KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
}
