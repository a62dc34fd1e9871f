//! Which Certificate Issuers the HTTPS client trusts: the bundled GSMA CI certificates, the
//! caller's roots, and the narrowing to the CIs the eUICC itself lists.
//!
//! The SM-DP+ and SM-DS TLS certificates (CERT.DP.TLS, CERT.DS.TLS) chain to a GSMA CI, not to
//! a web PKI root (SGP.22 §4.5.2.2), so the web roots are never used here. The certificates of
//! [`BUNDLED_CIS`] live in `lpa/certs/`; `lpa/certs/README.md` says where each one comes from
//! and records its SHA-256.

use std::fmt::Write as _;

use lpa_core::tlv::{Tag, Tlv, TlvError};
use rustls::pki_types::{Der, TrustAnchor};

/// Whether a bundled CI signs production or test certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CiKind {
    /// A live GSMA CI: production SM-DP+ and SM-DS servers chain to it.
    Live,
    /// An SGP.26 test CI. Its private key is published with SGP.26, so anyone can issue a
    /// certificate under it: it must never be trusted for production servers.
    Test,
}

/// A CI certificate that ships with this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BundledCi {
    /// A short human name, e.g. `GSMA RSP2 Root CI1`.
    pub name: &'static str,
    /// The DER certificate.
    pub der: &'static [u8],
    /// Its subjectKeyIdentifier: the value an eUICC puts in euiccCiPKIdListForVerification.
    pub ski: [u8; 20],
    /// Live or test.
    pub kind: CiKind,
}

/// The live "GSM Association - RSP2 Root CI1" (NIST P-256, valid 2017-02-22 to 2052-02-21).
pub const GSMA_RSP2_ROOT_CI1: BundledCi = BundledCi {
    name: "GSMA RSP2 Root CI1",
    der: include_bytes!("../../certs/gsma-rsp2-root-ci1.der"),
    ski: [
        0x81, 0x37, 0x0F, 0x51, 0x25, 0xD0, 0xB1, 0xD4, 0x08, 0xD4, 0xC3, 0xB2, 0x32, 0xE6, 0xD2,
        0x5E, 0x79, 0x5B, 0xEB, 0xFB,
    ],
    kind: CiKind::Live,
};

/// The SGP.26 v3 test CI on NIST P-256 (`CN=Test CI, OU=TESTCERT, O=RSPTEST, C=IT`): the one
/// test SM-DP+ TLS certificates chain to.
pub const SGP26_TEST_CI_NIST: BundledCi = BundledCi {
    name: "SGP.26 Test CI (NIST P-256)",
    der: include_bytes!("../../certs/sgp26-test-ci-nist.der"),
    ski: [
        0xF5, 0x41, 0x72, 0xBD, 0xF9, 0x8A, 0x95, 0xD6, 0x5C, 0xBE, 0xB8, 0x8A, 0x38, 0xA1, 0xC1,
        0x1D, 0x80, 0x0A, 0x85, 0xC3,
    ],
    kind: CiKind::Test,
};

/// The SGP.26 v3 test CI on brainpoolP256r1. rustls has no brainpool, so no TLS certificate can
/// verify against it; it is bundled so that an eUICC listing it is recognised.
pub const SGP26_TEST_CI_BRP: BundledCi = BundledCi {
    name: "SGP.26 Test CI (brainpoolP256r1)",
    der: include_bytes!("../../certs/sgp26-test-ci-brp.der"),
    ski: [
        0xC0, 0xBC, 0x70, 0xBA, 0x36, 0x92, 0x9D, 0x43, 0xB4, 0x67, 0xFF, 0x57, 0x57, 0x05, 0x30,
        0xE5, 0x7A, 0xB8, 0xFC, 0xD8,
    ],
    kind: CiKind::Test,
};

/// Every bundled CI.
pub const BUNDLED_CIS: [BundledCi; 3] = [GSMA_RSP2_ROOT_CI1, SGP26_TEST_CI_NIST, SGP26_TEST_CI_BRP];

/// Which bundled CIs a client starts from (before [`restrict_to_ci_pkids`] narrows them).
///
/// [`restrict_to_ci_pkids`]: crate::http::HttpClient::restrict_to_ci_pkids
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BundledTrust {
    /// The live GSMA CIs only. The default: the SGP.26 test CI keys are public.
    #[default]
    Live,
    /// The live GSMA CIs and the SGP.26 test CIs, for test eUICCs and test SM-DP+ servers.
    /// Let the eUICC narrow them with `restrict_to_ci_pkids`: a production eUICC does not list
    /// the test CIs, so they drop out again.
    LiveAndTest,
    /// No bundled CI: only the roots given with `HttpsConfig::add_root`.
    None,
}

impl BundledTrust {
    /// The bundled CIs this choice includes.
    pub fn cis(self) -> impl Iterator<Item = &'static BundledCi> {
        BUNDLED_CIS.iter().filter(move |ci| match self {
            BundledTrust::Live => ci.kind == CiKind::Live,
            BundledTrust::LiveAndTest => true,
            BundledTrust::None => false,
        })
    }
}

/// One CI the client currently trusts, as [`HttpsClient::trusted_cis`] reports it.
///
/// [`HttpsClient::trusted_cis`]: super::HttpsClient::trusted_cis
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustedCi {
    /// The bundled CI's name, or `caller root #n` (in the order they were added).
    pub label: String,
    /// The certificate's subjectKeyIdentifier, when it has one.
    pub ski: Option<Vec<u8>>,
    /// Whether it is one of [`BUNDLED_CIS`] (`false`: a caller root, never narrowed).
    pub bundled: bool,
}

/// A parsed trust anchor with what the narrowing and the error messages need.
#[derive(Clone, Debug)]
pub(crate) struct Anchor {
    pub info: TrustedCi,
    pub anchor: TrustAnchor<'static>,
}

impl Anchor {
    pub fn bundled(ci: &BundledCi) -> Result<Anchor, String> {
        let parsed = parse_ca_certificate(ci.der)?;
        Ok(Anchor {
            info: TrustedCi {
                label: ci.name.to_owned(),
                ski: parsed.ski,
                bundled: true,
            },
            anchor: parsed.anchor,
        })
    }

    pub fn caller(index: usize, der: &[u8]) -> Result<Anchor, String> {
        let parsed = parse_ca_certificate(der)?;
        Ok(Anchor {
            info: TrustedCi {
                label: format!("caller root #{index}"),
                ski: parsed.ski,
                bundled: false,
            },
            anchor: parsed.anchor,
        })
    }
}

/// The anchors that remain when the eUICC lists `ci_pkids` (its euiccCiPKIdListForVerification):
/// every caller root, and the bundled CIs whose SKI is in the list.
pub(crate) fn narrow<'a>(anchors: &'a [Anchor], ci_pkids: &[Vec<u8>]) -> Vec<&'a Anchor> {
    anchors
        .iter()
        .filter(|a| {
            !a.info.bundled
                || a.info
                    .ski
                    .as_ref()
                    .is_some_and(|ski| ci_pkids.iter().any(|p| p == ski))
        })
        .collect()
}

/// `GSMA RSP2 Root CI1 [81370F51…], caller root #0 [..]`, for error messages and logs.
pub(crate) fn describe(anchors: &[&Anchor]) -> String {
    if anchors.is_empty() {
        return "none".to_owned();
    }
    let mut out = String::new();
    for (i, a) in anchors.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&a.info.label);
        if let Some(ski) = &a.info.ski {
            out.push_str(" [");
            for b in ski {
                let _ = write!(out, "{b:02X}");
            }
            out.push(']');
        }
    }
    out
}

/// What a CA certificate contributes to trust.
struct ParsedCa {
    anchor: TrustAnchor<'static>,
    ski: Option<Vec<u8>>,
}

/// id-ce-subjectKeyIdentifier (2.5.29.14), OID content bytes.
const OID_SUBJECT_KEY_ID: [u8; 3] = [0x55, 0x1D, 0x0E];
/// id-ce-nameConstraints (2.5.29.30), OID content bytes.
const OID_NAME_CONSTRAINTS: [u8; 3] = [0x55, 0x1D, 0x1E];
/// `[0] EXPLICIT Version` of a TBSCertificate.
const TAG_VERSION: Tag = Tag(0xA0);
/// `[3] EXPLICIT Extensions` of a TBSCertificate.
const TAG_EXTENSIONS: Tag = Tag(0xA3);

/// Reads the subject, public key, SKI and name constraints of an X.509 CA certificate.
///
/// The anchor is built here rather than by webpki's `anchor_from_trusted_cert` because GSMA CI
/// certificates mark certificatePolicies critical (the live Root CI1 and the SGP.26 CIs do),
/// which a strict certificate parser refuses; a trust anchor is trusted by configuration, so
/// only its name, key and name constraints matter (RFC 5280 §6.1.1 (d)). Name constraints are
/// kept so that a constrained caller root stays constrained.
fn parse_ca_certificate(der: &[u8]) -> Result<ParsedCa, String> {
    parse_tbs(der).map_err(|e| format!("not a DER X.509 certificate: {e}"))
}

fn parse_tbs(der: &[u8]) -> Result<ParsedCa, TlvError> {
    let certificate = Tlv::parse(der)?.expect_tag(Tag::SEQUENCE)?;
    let mut parts = certificate.children();
    let tbs = parts.expect(Tag::SEQUENCE)?;
    let mut fields = tbs.children();
    let mut serial = fields.expect_any()?;
    if serial.tag() == TAG_VERSION {
        serial = fields.expect_any()?;
    }
    serial.expect_tag(Tag::INTEGER)?;
    fields.expect(Tag::SEQUENCE)?; // signature
    fields.expect(Tag::SEQUENCE)?; // issuer
    fields.expect(Tag::SEQUENCE)?; // validity
    let subject = fields.expect(Tag::SEQUENCE)?;
    let spki = fields.expect(Tag::SEQUENCE)?;

    let mut ski = None;
    let mut name_constraints = None;
    for field in fields {
        let field = field?;
        if field.tag() != TAG_EXTENSIONS {
            continue; // issuerUniqueID, subjectUniqueID
        }
        let extensions =
            Tlv::parse_at(field.value(), field.value_offset())?.expect_tag(Tag::SEQUENCE)?;
        for extension in extensions.children() {
            let mut items = extension?.expect_tag(Tag::SEQUENCE)?.children();
            let oid = items.expect(Tag::OBJECT_IDENTIFIER)?;
            let mut value = items.expect_any()?;
            if value.tag() == Tag::BOOLEAN {
                value = items.expect_any()?; // critical
            }
            let value = value.expect_tag(Tag::OCTET_STRING)?;
            let inner = Tlv::parse_at(value.value(), value.value_offset());
            match oid.value() {
                v if v == OID_SUBJECT_KEY_ID => {
                    ski = Some(inner?.expect_tag(Tag::OCTET_STRING)?.value().to_vec());
                }
                v if v == OID_NAME_CONSTRAINTS => {
                    // webpki wants the NameConstraints SEQUENCE's content.
                    let constraints = inner?.expect_tag(Tag::SEQUENCE)?.value().to_vec();
                    name_constraints = Some(Der::from(constraints));
                }
                _ => {}
            }
        }
    }

    Ok(ParsedCa {
        anchor: TrustAnchor {
            subject: Der::from(subject.value().to_vec()),
            subject_public_key_info: Der::from(spki.value().to_vec()),
            name_constraints,
        },
        ski,
    })
}

/// `expect` for any tag.
trait ExpectAny<'a> {
    fn expect_any(&mut self) -> Result<Tlv<'a>, TlvError>;
}

impl<'a> ExpectAny<'a> for lpa_core::tlv::TlvReader<'a> {
    fn expect_any(&mut self) -> Result<Tlv<'a>, TlvError> {
        let offset = self.offset();
        self.next().unwrap_or(Err(TlvError::Truncated {
            offset,
            needed: 1,
            available: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_cis_parse_and_carry_their_declared_ski() {
        for ci in &BUNDLED_CIS {
            let anchor = Anchor::bundled(ci).unwrap();
            assert_eq!(anchor.info.ski.as_deref(), Some(&ci.ski[..]), "{}", ci.name);
            assert!(anchor.anchor.name_constraints.is_none());
        }
    }

    #[test]
    fn narrowing_keeps_caller_roots_and_listed_bundled_cis() {
        let mut anchors: Vec<Anchor> = BUNDLED_CIS
            .iter()
            .map(|ci| Anchor::bundled(ci).unwrap())
            .collect();
        anchors.push(Anchor::caller(0, GSMA_RSP2_ROOT_CI1.der).unwrap());
        let kept = narrow(&anchors, &[SGP26_TEST_CI_NIST.ski.to_vec()]);
        let labels: Vec<&str> = kept.iter().map(|a| a.info.label.as_str()).collect();
        assert_eq!(labels, ["SGP.26 Test CI (NIST P-256)", "caller root #0"]);
        assert_eq!(narrow(&anchors, &[]).len(), 1);
    }

    #[test]
    fn garbage_is_not_a_trust_anchor() {
        assert!(Anchor::caller(0, b"\x30\x03\x02\x01\x01").is_err());
        assert!(Anchor::caller(0, b"").is_err());
        let truncated = &GSMA_RSP2_ROOT_CI1.der[..100];
        assert!(Anchor::caller(0, truncated).is_err());
    }
}
