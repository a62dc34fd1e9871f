//! A decoded view of one RSP certificate: the fields and extensions the SGP.22 §4.5.2 profiles
//! talk about, pulled out once so that validation reads like the profile tables.

use std::time::Duration;

use der::asn1::{Any, AnyRef, ObjectIdentifier};
use der::{Decode, Header, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, CrlDistributionPoints,
    ExtendedKeyUsage, KeyUsage, NameConstraints, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use super::keys::PublicKey;
use super::{CertRole, Curve, PkiError, oids};

/// Number of digits of an EID (SGP.22 §4.5.2.1.0.3: the eUICC certificate's subject
/// serialNumber; GSMA SGP.29).
const EID_DIGITS: usize = 32;

/// One decoded certificate.
pub(crate) struct ParsedCert {
    pub cert: Certificate,
    /// The exact `tbsCertificate` bytes that were signed.
    pub tbs: Vec<u8>,
    pub public_key: PublicKey,
    pub ski: Option<Vec<u8>>,
    /// The keyIdentifier of the authority key identifier.
    pub aki: Option<Vec<u8>>,
    pub key_usage: Option<KeyUsage>,
    pub extended_key_usage: Option<Vec<ObjectIdentifier>>,
    pub policies: Option<Vec<ObjectIdentifier>>,
    pub basic_constraints: Option<BasicConstraints>,
    /// subjectAltName dNSName entries.
    pub dns_names: Vec<String>,
    /// subjectAltName registeredID, dotted.
    pub registered_id: Option<String>,
    pub name_constraints: Option<NameConstraints>,
    /// The first critical extension not understood here, if any.
    pub unknown_critical: Option<ObjectIdentifier>,
}

impl ParsedCert {
    /// Decodes `der`; errors name `role` as the failing certificate.
    pub fn parse(der: &[u8], role: CertRole) -> Result<Self, PkiError> {
        let cert = Certificate::from_der(der).map_err(|e| PkiError::malformed(role, e))?;
        let tbs = raw_tbs(der)
            .map_err(|e| PkiError::malformed(role, e))?
            .to_vec();
        if cert.tbs_certificate().version() != Version::V3 {
            return Err(PkiError::malformed(role, "not an X.509 v3 certificate"));
        }
        let public_key = spki_public_key(&cert, role)?;
        let ExtensionFields {
            ski,
            aki,
            key_usage,
            extended_key_usage,
            policies,
            basic_constraints,
            dns_names,
            registered_id,
            name_constraints,
            unknown_critical,
        } = ExtensionFields::parse(&cert, role)?;
        Ok(ParsedCert {
            cert,
            tbs,
            public_key,
            ski,
            aki,
            key_usage,
            extended_key_usage,
            policies,
            basic_constraints,
            dns_names,
            registered_id,
            name_constraints,
            unknown_critical,
        })
    }

    pub fn subject(&self) -> &Name {
        self.cert.tbs_certificate().subject()
    }

    pub fn issuer(&self) -> &Name {
        self.cert.tbs_certificate().issuer()
    }

    pub fn curve(&self) -> Curve {
        self.public_key.curve()
    }

    /// Issuer = subject: the certificate names itself as its issuer.
    pub fn is_self_issued(&self) -> bool {
        self.subject() == self.issuer()
    }

    pub fn not_before(&self) -> Duration {
        self.cert
            .tbs_certificate()
            .validity()
            .not_before
            .to_unix_duration()
    }

    pub fn not_after(&self) -> Duration {
        self.cert
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
    }

    /// The RSP roles named by the certificate policies.
    pub fn declared_roles(&self) -> Vec<CertRole> {
        self.policies
            .iter()
            .flatten()
            .filter_map(CertRole::from_policy_oid)
            .collect()
    }

    /// The DER `ECDSA-Sig-Value` of the certificate signature.
    pub fn signature_der(&self) -> Option<&[u8]> {
        self.cert.signature().as_bytes()
    }
}

/// The extensions of [`ParsedCert`], decoded.
#[derive(Default)]
struct ExtensionFields {
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    key_usage: Option<KeyUsage>,
    extended_key_usage: Option<Vec<ObjectIdentifier>>,
    policies: Option<Vec<ObjectIdentifier>>,
    basic_constraints: Option<BasicConstraints>,
    dns_names: Vec<String>,
    registered_id: Option<String>,
    name_constraints: Option<NameConstraints>,
    unknown_critical: Option<ObjectIdentifier>,
}

impl ExtensionFields {
    fn parse(cert: &Certificate, role: CertRole) -> Result<Self, PkiError> {
        let mut fields = ExtensionFields::default();
        let mut seen: Vec<ObjectIdentifier> = Vec::new();
        for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
            // RFC 5280 §4.2: a certificate carries at most one instance of an extension.
            if seen.contains(&ext.extn_id) {
                return Err(PkiError::malformed(
                    role,
                    format!("duplicate extension {}", ext.extn_id),
                ));
            }
            seen.push(ext.extn_id);
            let value = ext.extn_value.as_bytes();
            let bad = |e: der::Error| {
                PkiError::malformed(role, format!("extension {}: {e}", ext.extn_id))
            };
            match ext.extn_id {
                oids::EXT_SUBJECT_KEY_ID => {
                    let ski = SubjectKeyIdentifier::from_der(value).map_err(bad)?;
                    fields.ski = Some(ski.0.as_bytes().to_vec());
                }
                oids::EXT_AUTHORITY_KEY_ID => {
                    let aki = AuthorityKeyIdentifier::from_der(value).map_err(bad)?;
                    fields.aki = aki.key_identifier.map(|id| id.as_bytes().to_vec());
                }
                oids::EXT_KEY_USAGE => {
                    fields.key_usage = Some(KeyUsage::from_der(value).map_err(bad)?);
                }
                oids::EXT_EXTENDED_KEY_USAGE => {
                    fields.extended_key_usage =
                        Some(ExtendedKeyUsage::from_der(value).map_err(bad)?.0);
                }
                oids::EXT_CERTIFICATE_POLICIES => {
                    let policies = CertificatePolicies::from_der(value).map_err(bad)?;
                    fields.policies = Some(
                        policies
                            .0
                            .iter()
                            .map(|policy| policy.policy_identifier)
                            .collect(),
                    );
                }
                oids::EXT_BASIC_CONSTRAINTS => {
                    fields.basic_constraints =
                        Some(BasicConstraints::from_der(value).map_err(bad)?);
                }
                oids::EXT_SUBJECT_ALT_NAME => {
                    let (dns_names, registered_id) = decode_subject_alt_name(value)
                        .map_err(|e| PkiError::malformed(role, format!("subjectAltName: {e}")))?;
                    fields.dns_names = dns_names;
                    fields.registered_id = registered_id;
                }
                oids::EXT_NAME_CONSTRAINTS => {
                    fields.name_constraints = Some(NameConstraints::from_der(value).map_err(bad)?);
                }
                oids::EXT_CRL_DISTRIBUTION_POINTS => {
                    // Understood (well-formed is all we ask): nothing here fetches CRLs.
                    CrlDistributionPoints::from_der(value).map_err(bad)?;
                }
                other => {
                    if ext.critical && fields.unknown_critical.is_none() {
                        fields.unknown_critical = Some(other);
                    }
                }
            }
        }
        Ok(fields)
    }
}

/// The bytes of the `tbsCertificate` TLV exactly as received: the signature covers these bytes,
/// not a re-encoding of them.
fn raw_tbs(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    let outer = Header::decode(&mut reader)?;
    outer.tag().assert_eq(Tag::Sequence)?;
    reader.tlv_bytes()
}

/// The certificate's EC public key; only id-ecPublicKey on an SGP.22 curve is accepted
/// (SGP.22 §2.6, §4.5.2).
fn spki_public_key(cert: &Certificate, role: CertRole) -> Result<PublicKey, PkiError> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != oids::EC_PUBLIC_KEY {
        return Err(PkiError::UnsupportedAlgorithm {
            cert: role,
            oid: spki.algorithm.oid.to_string(),
        });
    }
    let curve_oid = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|params| params.decode_as::<ObjectIdentifier>().ok())
        .ok_or_else(|| PkiError::malformed(role, "EC key without a named curve"))?;
    let curve = Curve::from_oid(&curve_oid).ok_or_else(|| PkiError::UnsupportedAlgorithm {
        cert: role,
        oid: curve_oid.to_string(),
    })?;
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| PkiError::malformed(role, "public key BIT STRING has unused bits"))?;
    PublicKey::from_sec1_bytes(curve, point)
        .map_err(|e| PkiError::malformed(role, format!("public key: {e}")))
}

/// The text of a directory string attribute value (PrintableString, UTF8String, IA5String).
pub(crate) fn attribute_text(value: &Any) -> Option<&str> {
    match value.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
            core::str::from_utf8(value.value()).ok()
        }
        _ => None,
    }
}

/// The EID: the subject serialNumber of an eUICC certificate, 32 decimal digits
/// (SGP.22 §4.5.2.1.0.3).
pub(crate) fn eid_from_subject(subject: &Name) -> Result<String, PkiError> {
    let mut values = subject
        .iter()
        .filter(|atv| atv.oid == oids::AT_SERIAL_NUMBER);
    let atv = values.next().ok_or_else(|| PkiError::InvalidEid {
        detail: "the subject has no serialNumber".into(),
    })?;
    if values.next().is_some() {
        return Err(PkiError::InvalidEid {
            detail: "the subject has several serialNumber attributes".into(),
        });
    }
    let eid = attribute_text(&atv.value).ok_or_else(|| PkiError::InvalidEid {
        detail: "the serialNumber is not a string".into(),
    })?;
    check_eid(eid)?;
    Ok(eid.to_owned())
}

/// An EID is 32 decimal digits.
pub(crate) fn check_eid(eid: &str) -> Result<(), PkiError> {
    if eid.len() == EID_DIGITS && eid.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PkiError::InvalidEid {
            detail: format!("{eid:?} is not {EID_DIGITS} decimal digits"),
        })
    }
}

/// Decodes a certificate for one of the helpers below, naming the role it declares itself.
pub(crate) fn parse_for_helper(der: &[u8]) -> Result<ParsedCert, PkiError> {
    // Errors of a standalone helper cannot name a chain position; they name the role the
    // certificate declares (CI when it declares none or cannot be decoded).
    let parsed = ParsedCert::parse(der, CertRole::Ci)?;
    Ok(parsed)
}

fn declared_role(parsed: &ParsedCert) -> CertRole {
    parsed
        .declared_roles()
        .first()
        .copied()
        .unwrap_or(CertRole::Ci)
}

/// The EID of an eUICC certificate (its subject serialNumber, SGP.22 §4.5.2.1.0.3).
///
/// The certificate is not validated; use [`verify_chain`](super::verify_chain) for that.
pub fn eid_of(euicc_cert: &[u8]) -> Result<String, PkiError> {
    let parsed = ParsedCert::parse(euicc_cert, CertRole::Euicc)?;
    eid_from_subject(parsed.subject())
}

/// The subject key identifier of a certificate. For a CI certificate this is the CI PKID that
/// SGP.22 uses to name the CI (euiccCiPKIdListForVerification, euiccCiPKIdToBeUsed).
pub fn ski_of(cert: &[u8]) -> Result<Vec<u8>, PkiError> {
    let parsed = parse_for_helper(cert)?;
    let role = declared_role(&parsed);
    parsed.ski.ok_or(PkiError::MissingExtension {
        cert: role,
        extension: "subjectKeyIdentifier",
    })
}

/// The authority key identifier (keyIdentifier) of a certificate: the SKI of its issuer. For
/// an EUM or SM-DP+ certificate this is the PKID of the CI it chains to.
pub fn aki_of(cert: &[u8]) -> Result<Vec<u8>, PkiError> {
    let parsed = parse_for_helper(cert)?;
    let role = declared_role(&parsed);
    parsed.aki.ok_or(PkiError::MissingExtension {
        cert: role,
        extension: "authorityKeyIdentifier",
    })
}

/// `GeneralName` tags of the subjectAltName entries used here (RFC 5280 §4.2.1.6).
const SAN_DNS_NAME: TagNumber = TagNumber(2);
const SAN_REGISTERED_ID: TagNumber = TagNumber(8);

/// Decodes a subjectAltName into its dNSNames and its (first) registeredID.
///
/// Decoded by hand: SGP.26 uses OIDs under `2.999` (e.g. SM-DP+ OID 2.999.10), whose second
/// arc the `const-oid` crate refuses, so `GeneralName::RegisteredId` cannot hold them.
fn decode_subject_alt_name(value: &[u8]) -> Result<(Vec<String>, Option<String>), String> {
    let mut reader = SliceReader::new(value).map_err(|e| e.to_string())?;
    let names = reader
        .sequence(|seq| {
            let mut names = Vec::new();
            while !seq.is_finished() {
                names.push(AnyRef::decode(seq)?);
            }
            Ok::<_, der::Error>(names)
        })
        .map_err(|e| e.to_string())?;
    reader.finish().map_err(|e| e.to_string())?;
    if names.is_empty() {
        return Err("empty GeneralNames".into());
    }
    let mut dns_names = Vec::new();
    let mut registered_id = None;
    for name in names {
        match name.tag() {
            Tag::ContextSpecific {
                constructed: false,
                number,
            } if number == SAN_DNS_NAME => {
                let text = core::str::from_utf8(name.value())
                    .ok()
                    .filter(|text| text.is_ascii())
                    .ok_or("dNSName is not an IA5String")?;
                dns_names.push(text.to_owned());
            }
            Tag::ContextSpecific {
                constructed: false,
                number,
            } if number == SAN_REGISTERED_ID => {
                let oid = oid_to_string(name.value()).ok_or("malformed registeredID")?;
                registered_id.get_or_insert(oid);
            }
            _ => {}
        }
    }
    Ok((dns_names, registered_id))
}

/// Encodes a subjectAltName with the given dNSNames and registeredID (dotted).
pub(crate) fn encode_subject_alt_name(
    dns_names: &[String],
    registered_id: Option<&str>,
) -> Result<Vec<u8>, PkiError> {
    let mut body = Vec::new();
    for host in dns_names {
        if host.is_empty() || !host.is_ascii() {
            return Err(PkiError::option(format!("dNSName {host:?} is not IA5")));
        }
        let tag = Tag::ContextSpecific {
            constructed: false,
            number: SAN_DNS_NAME,
        };
        append_tlv(&mut body, tag, host.as_bytes())?;
    }
    if let Some(oid) = registered_id {
        let tag = Tag::ContextSpecific {
            constructed: false,
            number: SAN_REGISTERED_ID,
        };
        append_tlv(&mut body, tag, &oid_from_str(oid)?)?;
    }
    Any::new(Tag::Sequence, body)
        .and_then(|seq| der::Encode::to_der(&seq))
        .map_err(PkiError::encoding)
}

fn append_tlv(out: &mut Vec<u8>, tag: Tag, value: &[u8]) -> Result<(), PkiError> {
    let tlv = Any::new(tag, value)
        .and_then(|any| der::Encode::to_der(&any))
        .map_err(PkiError::encoding)?;
    out.extend_from_slice(&tlv);
    Ok(())
}

/// The DER contents of an OBJECT IDENTIFIER given in dotted form (X.690 §8.19), for any arcs
/// (including the `2.999` arc `const-oid` refuses).
pub(crate) fn oid_from_str(dotted: &str) -> Result<Vec<u8>, PkiError> {
    let invalid = || PkiError::option(format!("{dotted:?} is not an OID"));
    let arcs = dotted
        .split('.')
        .map(|arc| {
            if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                arc.parse::<u64>().ok()
            }
        })
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(invalid)?;
    let (first, second, rest) = match arcs.as_slice() {
        [first, second, rest @ ..] => (*first, *second, rest),
        _ => return Err(invalid()),
    };
    if first > 2 || (first < 2 && second > 39) {
        return Err(invalid());
    }
    let head = first
        .checked_mul(40)
        .and_then(|v| v.checked_add(second))
        .ok_or_else(invalid)?;
    let mut out = Vec::new();
    for arc in core::iter::once(head).chain(rest.iter().copied()) {
        let mut septets = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            septets.push((rest & 0x7f) as u8 | 0x80);
            rest >>= 7;
        }
        out.extend(septets.iter().rev());
    }
    Ok(out)
}

/// The dotted form of the DER contents of an OBJECT IDENTIFIER; `None` if malformed.
pub(crate) fn oid_to_string(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut at_start = true;
    for &byte in bytes {
        if at_start && byte == 0x80 {
            return None; // X.690 §8.19.2: subidentifiers are minimal
        }
        value = value.checked_mul(128)? | u64::from(byte & 0x7f);
        at_start = byte & 0x80 == 0;
        if at_start {
            arcs.push(value);
            value = 0;
        }
    }
    if !at_start {
        return None; // truncated subidentifier
    }
    let (&head, rest) = arcs.split_first()?;
    let (first, second) = match head {
        0..40 => (0, head),
        40..80 => (1, head - 40),
        _ => (2, head - 80),
    };
    let mut dotted = format!("{first}.{second}");
    for arc in rest {
        dotted.push('.');
        dotted.push_str(&arc.to_string());
    }
    Some(dotted)
}
