//! Issuing single RSP certificates following the SGP.22 §4.5.2.1.0.x profiles.

use std::time::SystemTime;

use der::asn1::{Any, Ia5String, ObjectIdentifier, OctetString};
use der::referenced::OwnedToRef;
use der::{DateTime, Decode, Encode, Tag};
use sha2::{Digest, Sha256};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, CrlDistributionPoints,
    ExtendedKeyUsage, KeyUsage, KeyUsages, NameConstraints, SubjectKeyIdentifier,
};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

use super::cert::{ParsedCert, encode_subject_alt_name};
use super::keys::{PrivateKey, PublicKey, SecretInner, check_key_pair};
use super::{CertRole, PkiError, oids};

/// An attribute of an RSP subject name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameAttribute {
    /// countryName (PrintableString, two letters).
    Country,
    /// organizationName (UTF8String).
    Organization,
    /// organizationalUnitName (UTF8String).
    OrganizationalUnit,
    /// serialNumber (PrintableString): the EID in an eUICC certificate, the EID prefix in the
    /// EUM's name constraint (SGP.22 §4.5.2.1.0.2, §4.5.2.1.0.3).
    SerialNumber,
    /// commonName (UTF8String).
    CommonName,
}

impl NameAttribute {
    fn oid(self) -> ObjectIdentifier {
        match self {
            NameAttribute::Country => oids::AT_COUNTRY,
            NameAttribute::Organization => oids::AT_ORGANIZATION,
            NameAttribute::OrganizationalUnit => oids::AT_ORGANIZATIONAL_UNIT,
            NameAttribute::SerialNumber => oids::AT_SERIAL_NUMBER,
            NameAttribute::CommonName => oids::AT_COMMON_NAME,
        }
    }

    /// The string type X.520 (and the SGP.26 certificates) use for the attribute.
    fn tag(self) -> Tag {
        match self {
            NameAttribute::Country | NameAttribute::SerialNumber => Tag::PrintableString,
            _ => Tag::Utf8String,
        }
    }
}

/// What a certificate to issue contains. Extensions follow from the role (SGP.22
/// §4.5.2.1.0.x); the fields here are the parts that vary.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CertSpec {
    /// The role: decides the certificate policy, key usage, basic constraints and EKU.
    pub role: CertRole,
    /// The subject name, attributes in order, one per RDN.
    pub subject: Vec<(NameAttribute, String)>,
    /// The serial number (big-endian, positive); `None` derives one from the subject key.
    pub serial_number: Option<Vec<u8>>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// subjectAltName registeredID, dotted: the CI, EUM or SM-DP+ OID (e.g. `2.999.10`).
    pub registered_id: Option<String>,
    /// subjectAltName dNSName entries (the host of a TLS certificate).
    pub dns_names: Vec<String>,
    /// The CRL distribution point URI, if any (not put in eUICC certificates).
    pub crl_url: Option<String>,
    /// For an EUM certificate: the name constraint permitting eUICC subjects with this
    /// organization and a serialNumber (EID) starting with this prefix (SGP.22 §4.5.2.1.0.2).
    pub permitted_eids: Option<(String, String)>,
}

impl CertSpec {
    /// A specification with the given role, subject and validity, and nothing optional.
    pub fn new(
        role: CertRole,
        subject: Vec<(NameAttribute, String)>,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Self {
        CertSpec {
            role,
            subject,
            serial_number: None,
            not_before,
            not_after,
            registered_id: None,
            dns_names: Vec::new(),
            crl_url: None,
            permitted_eids: None,
        }
    }
}

/// Who signs a certificate.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Issuer<'a> {
    /// The subject's own key: a self-signed CI certificate.
    SelfSigned(&'a PrivateKey),
    /// A CA (CI or EUM) with its certificate (DER) and private key.
    Ca {
        /// The CA's DER certificate: gives the issuer name and the authority key identifier.
        certificate: &'a [u8],
        /// The CA's private key.
        key: &'a PrivateKey,
    },
}

/// Issues one certificate for `subject_key` following `spec`, signed by `issuer` with
/// ECDSA-SHA256.
///
/// Nothing checks that the result is a *valid* RSP certificate (the issuer may be on another
/// curve, the validity may be over): tests use this to build broken chains on purpose.
pub fn issue_certificate(
    spec: &CertSpec,
    subject_key: &PublicKey,
    issuer: Issuer<'_>,
) -> Result<Vec<u8>, PkiError> {
    let subject = encode_name(&spec.subject)?;
    let spki_der = subject_key.to_spki_der()?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).map_err(PkiError::encoding)?;

    let (issuer_name, issuer_ski, signer) = match issuer {
        Issuer::SelfSigned(key) => {
            check_key_pair(key, subject_key, spec.role)?;
            (subject.clone(), None, key)
        }
        Issuer::Ca { certificate, key } => {
            let issuer_role = if spec.role == CertRole::Euicc {
                CertRole::Eum
            } else {
                CertRole::Ci
            };
            let parsed = ParsedCert::parse(certificate, issuer_role)?;
            check_key_pair(key, &parsed.public_key, issuer_role)?;
            let ski = parsed.ski.clone().ok_or(PkiError::MissingExtension {
                cert: issuer_role,
                extension: "subjectKeyIdentifier",
            })?;
            (parsed.subject().clone(), Some(ski), key)
        }
    };

    let extensions = role_extensions(spec, spki.owned_to_ref(), issuer_ski)?;
    let serial = match &spec.serial_number {
        Some(serial) => serial.clone(),
        None => derived_serial(&spki_der),
    };
    let serial =
        SerialNumber::new(&serial).map_err(|e| PkiError::option(format!("serial: {e}")))?;
    if spec.not_before >= spec.not_after {
        return Err(PkiError::option("notBefore must be before notAfter"));
    }
    let validity = Validity::new(to_time(spec.not_before)?, to_time(spec.not_after)?);

    let profile = RspProfile {
        issuer: issuer_name,
        subject,
        extensions,
    };
    let builder =
        CertificateBuilder::new(profile, serial, validity, spki).map_err(PkiError::encoding)?;
    let certificate = match &signer.0 {
        SecretInner::NistP256(k) => {
            builder.build::<_, p256::ecdsa::DerSignature>(&p256::ecdsa::SigningKey::from(k))
        }
        SecretInner::BrainpoolP256r1(k) => builder
            .build::<_, ecdsa::der::Signature<bp256::BrainpoolP256r1>>(&ecdsa::SigningKey::<
                bp256::BrainpoolP256r1,
            >::from(k)),
    }
    .map_err(PkiError::encoding)?;
    certificate.to_der().map_err(PkiError::encoding)
}

/// A certificate profile that adds exactly the extensions computed for the role.
struct RspProfile {
    issuer: Name,
    subject: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for RspProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

/// The extensions of each SGP.22 §4.5.2.1.0.x certificate profile, with the criticality the
/// SGP.26 test certificates use.
fn role_extensions(
    spec: &CertSpec,
    spki: SubjectPublicKeyInfoRef<'_>,
    issuer_ski: Option<Vec<u8>>,
) -> Result<Vec<Extension>, PkiError> {
    let role = spec.role;
    let mut extensions = Vec::new();

    if let Some(ski) = issuer_ski {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(ski).map_err(PkiError::encoding)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        extensions.push(extension(oids::EXT_AUTHORITY_KEY_ID, false, &aki)?);
    }
    // RFC 5280 §4.2.1.2 method 1 (SHA-1 of the public key bits), as in the SGP.26 certificates.
    let ski = SubjectKeyIdentifier::try_from(spki).map_err(PkiError::encoding)?;
    extensions.push(extension(oids::EXT_SUBJECT_KEY_ID, false, &ski)?);

    let usages = match role {
        CertRole::Ci => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        CertRole::Eum => KeyUsages::KeyCertSign.into(),
        _ => KeyUsages::DigitalSignature.into(),
    };
    extensions.push(extension(oids::EXT_KEY_USAGE, true, &KeyUsage(usages))?);

    if role.is_tls() {
        let eku = ExtendedKeyUsage(vec![oids::KP_SERVER_AUTH]);
        extensions.push(extension(oids::EXT_EXTENDED_KEY_USAGE, true, &eku)?);
    }

    let policies = CertificatePolicies(vec![PolicyInformation {
        policy_identifier: role.policy_oid(),
        policy_qualifiers: None,
    }]);
    // Critical, except in TLS certificates: TLS stacks (rustls-webpki among them) refuse
    // critical extensions they do not process, and SGP.26 marks it non-critical there too.
    extensions.push(extension(
        oids::EXT_CERTIFICATE_POLICIES,
        !role.is_tls(),
        &policies,
    )?);

    if role.is_ca() {
        let constraints = BasicConstraints {
            ca: true,
            // The EUM issues end-entity eUICC certificates only (SGP.22 §4.5.2.1.0.2).
            path_len_constraint: (role == CertRole::Eum).then_some(0),
        };
        extensions.push(extension(oids::EXT_BASIC_CONSTRAINTS, true, &constraints)?);
    }

    if !spec.dns_names.is_empty() || spec.registered_id.is_some() {
        let san = encode_subject_alt_name(&spec.dns_names, spec.registered_id.as_deref())?;
        extensions.push(Extension {
            extn_id: oids::EXT_SUBJECT_ALT_NAME,
            critical: false,
            extn_value: OctetString::new(san).map_err(PkiError::encoding)?,
        });
    }

    if let (Some(url), false) = (&spec.crl_url, role == CertRole::Euicc) {
        let uri =
            Ia5String::new(url).map_err(|e| PkiError::option(format!("CRL URL {url:?}: {e}")))?;
        let points = CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(uri),
            ])),
            reasons: None,
            crl_issuer: None,
        }]);
        extensions.push(extension(
            oids::EXT_CRL_DISTRIBUTION_POINTS,
            false,
            &points,
        )?);
    }

    if let (Some((organization, prefix)), CertRole::Eum) = (&spec.permitted_eids, role) {
        // SGP.22 §4.5.2.1.0.2, in the form of the SGP.26 EUM certificate:
        // permittedSubtrees { directoryName { O = <EUM>, serialNumber = <EID prefix> } }.
        let base = encode_name(&[
            (NameAttribute::Organization, organization.clone()),
            (NameAttribute::SerialNumber, prefix.clone()),
        ])?;
        let constraints = NameConstraints {
            permitted_subtrees: Some(vec![GeneralSubtree {
                base: GeneralName::DirectoryName(base),
                minimum: 0,
                maximum: None,
            }]),
            excluded_subtrees: None,
        };
        extensions.push(extension(oids::EXT_NAME_CONSTRAINTS, true, &constraints)?);
    }

    Ok(extensions)
}

fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> Result<Extension, PkiError> {
    let der = value.to_der().map_err(PkiError::encoding)?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).map_err(PkiError::encoding)?,
    })
}

/// Encodes a name with one attribute per RDN, in the given order.
pub(crate) fn encode_name(attributes: &[(NameAttribute, String)]) -> Result<Name, PkiError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for (attribute, text) in attributes {
        if attribute.tag() == Tag::PrintableString && !is_printable_string(text) {
            return Err(PkiError::option(format!(
                "{attribute:?} {text:?} is not a PrintableString"
            )));
        }
        let value = Any::new(attribute.tag(), text.as_bytes()).map_err(PkiError::encoding)?;
        let atv = AttributeTypeAndValue {
            oid: attribute.oid(),
            value,
        };
        rdns.push(RelativeDistinguishedName::try_from(vec![atv]).map_err(PkiError::encoding)?);
    }
    let der = RdnSequence::from(rdns)
        .to_der()
        .map_err(PkiError::encoding)?;
    Name::from_der(&der).map_err(PkiError::encoding)
}

/// X.680 PrintableString characters.
fn is_printable_string(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b))
}

/// A positive 16-byte serial number derived from the subject key: unique per key, and
/// reproducible, so re-issuing for the same key gives the same serial.
fn derived_serial(spki_der: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(spki_der);
    let mut serial: Vec<u8> = digest.iter().take(16).copied().collect();
    if let Some(first) = serial.first_mut() {
        // Positive, and no leading zero byte.
        *first = (*first & 0x7f) | 0x40;
    }
    serial
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after.
fn to_time(time: SystemTime) -> Result<Time, PkiError> {
    DateTime::from_system_time(time)
        .map(Time::from)
        .map_err(|e| PkiError::option(format!("time out of range: {e}")))
}
