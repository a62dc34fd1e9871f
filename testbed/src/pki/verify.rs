//! Certificate chain validation for the software eUICC and the test SM-DP+.
//!
//! The chain shapes are fixed by SGP.22 §4.5.2 (v2.x has no sub-CAs):
//!
//! ```text
//! eUICC:         CERT.EUICC.ECDSA <- CERT.EUM.ECDSA <- CERT.CI.ECDSA (trusted)
//! SM-DP+/SM-DS:  CERT.DPauth / DPpb / DP.TLS / DSauth / DS.TLS      <- CERT.CI.ECDSA
//! EUM alone:     CERT.EUM.ECDSA                                     <- CERT.CI.ECDSA
//! ```
//!
//! Validation runs top-down, the way SGP.22 §5.6.3 has the SM-DP+ check AuthenticateClient
//! (first the EUM certificate against the CI, then the eUICC certificate against the EUM), so
//! the error names the highest certificate that fails. For each certificate the order is:
//! linkage and signature, then validity, then the role's profile (§4.5.2.1.0.x), then (for the
//! eUICC) the EID and the EUM's name constraints.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_cert::ext::pkix::KeyUsages;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use super::cert::{ParsedCert, attribute_text, eid_from_subject, parse_for_helper};
use super::keys::{PublicKey, der_signature_to_raw};
use super::{CertRole, Curve, PkiError, oids};

/// A certificate that passed [`verify_chain`], with what the protocol needs from it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifiedCert {
    /// The role it was validated for.
    pub role: CertRole,
    /// The curve of the whole chain.
    pub curve: Curve,
    /// The certified public key (verifies the `5F37` signatures of its owner).
    pub public_key: PublicKey,
    /// Its subject key identifier.
    pub subject_key_id: Vec<u8>,
    /// The subject key identifier of the CI the chain ends at: the CI PKID of SGP.22.
    pub ci_pkid: Vec<u8>,
    /// The EID, for an eUICC certificate.
    pub eid: Option<String>,
    /// The subjectAltName registeredID, dotted (the SM-DP+ OID of an SM-DP+ certificate).
    pub registered_id: Option<String>,
    /// The subjectAltName dNSName entries (the host names of a TLS certificate).
    pub dns_names: Vec<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl VerifiedCert {
    /// Verifies a raw `r || s` signature (tag `5F37`) made by the certificate's owner.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
        self.public_key.verify(message, signature)
    }

    /// Checks that this is the eUICC certificate of `expected_eid` (an SM-DP+ compares it with
    /// the EID a profile is linked to).
    pub fn expect_eid(&self, expected_eid: &str) -> Result<(), PkiError> {
        match &self.eid {
            Some(eid) if eid == expected_eid => Ok(()),
            found => Err(PkiError::EidMismatch {
                expected: expected_eid.to_owned(),
                found: found.clone().unwrap_or_default(),
            }),
        }
    }
}

/// Validates a certificate chain of the RSP PKI (SGP.22 §4.5.2) at time `now`.
///
/// - `leaf`: the DER certificate to validate, expected to have `expected_role`;
/// - `intermediates`: the DER certificates between it and the CI, leaf side first. SGP.22 v2
///   has exactly one (the EUM certificate) for [`CertRole::Euicc`] and none otherwise;
/// - `trusted_ci_certs`: the DER certificates of the trusted CIs. The CI is looked up by key
///   identifier (the CI PKID is the CI's subject key identifier, named by the authority key
///   identifier of the certificate below it); anchors without one are never selected;
/// - `now`: the validation time; nothing here reads a clock.
///
/// With [`CertRole::Ci`] the leaf itself must be one of the trusted CIs and a valid CI
/// certificate.
///
/// Checked: ECDSA-SHA256 signatures on both curves, one curve per chain, validity at `now`,
/// issuer name and AKI/SKI linking, the `id-rspRole` certificate policy of each certificate,
/// key usage, basicConstraints and path length, unknown critical extensions, for TLS roles
/// serverAuth and a dNSName, and for the eUICC the EID and the EUM's name constraints.
/// Revocation is not checked.
pub fn verify_chain(
    leaf: &[u8],
    intermediates: &[&[u8]],
    trusted_ci_certs: &[&[u8]],
    now: SystemTime,
    expected_role: CertRole,
) -> Result<VerifiedCert, PkiError> {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let expected_intermediates = usize::from(expected_role == CertRole::Euicc);
    if intermediates.len() != expected_intermediates {
        return Err(PkiError::ChainLength {
            role: expected_role,
            expected: expected_intermediates,
            found: intermediates.len(),
        });
    }

    let leaf = ParsedCert::parse(leaf, expected_role)?;
    let mut anchors = Vec::with_capacity(trusted_ci_certs.len());
    for der in trusted_ci_certs {
        anchors.push(ParsedCert::parse(der, CertRole::Ci)?);
    }

    if expected_role == CertRole::Ci {
        return verify_trusted_ci(&leaf, &anchors, now);
    }

    // SGP.22 v2: the only intermediate is the EUM certificate of an eUICC chain.
    let eum = match intermediates {
        [eum] => Some(ParsedCert::parse(eum, CertRole::Eum)?),
        _ => None,
    };
    // The chain from the CI down: [EUM,] leaf.
    let mut chain: Vec<(&ParsedCert, CertRole)> = Vec::with_capacity(2);
    if let Some(eum) = &eum {
        chain.push((eum, CertRole::Eum));
    }
    chain.push((&leaf, expected_role));

    // Locate the CI: the top certificate's authority key identifier is the CI PKID.
    let (top, top_role) = match &eum {
        Some(eum) => (eum, CertRole::Eum),
        None => (&leaf, expected_role),
    };
    check_not_self_issued(top, top_role)?;
    let ci_pkid = top.aki.clone().ok_or(PkiError::MissingExtension {
        cert: top_role,
        extension: "authorityKeyIdentifier",
    })?;
    let ci = anchors
        .iter()
        .find(|anchor| anchor.ski.as_deref() == Some(ci_pkid.as_slice()))
        .ok_or_else(|| PkiError::UnknownCi {
            key_id: ci_pkid.clone(),
        })?;
    check_ci(ci, now)?;

    let mut issuer = ci;
    let mut issuer_role = CertRole::Ci;
    let chain_len = chain.len();
    for (index, &(cert, role)) in chain.iter().enumerate() {
        // CAs between this issuer and the leaf, for the issuer's pathLenConstraint.
        let cas_below_issuer = chain_len.saturating_sub(index + 1);
        check_link(cert, role, issuer, issuer_role, cas_below_issuer)?;
        check_validity(cert, role, now)?;
        check_profile(cert, role)?;
        issuer = cert;
        issuer_role = role;
    }

    // The eUICC: its EID, within the EUM's name constraints (SGP.22 §4.5.2.1.0.2).
    let eid = match &eum {
        Some(eum) => {
            let eid = eid_from_subject(leaf.subject())?;
            check_name_constraints(eum, leaf.subject(), &eid)?;
            Some(eid)
        }
        None => None,
    };

    verified(&leaf, expected_role, ci_pkid, eid)
}

/// Verifies a raw `r || s` ECDSA-SHA256 signature (SGP.22 §2.6, tag `5F37`) made with the key
/// of `cert` (DER). The certificate itself is not validated: call [`verify_chain`] first.
pub fn verify_signature(cert: &[u8], message: &[u8], signature: &[u8]) -> Result<(), PkiError> {
    parse_for_helper(cert)?
        .public_key
        .verify(message, signature)
}

fn verified(
    cert: &ParsedCert,
    role: CertRole,
    ci_pkid: Vec<u8>,
    eid: Option<String>,
) -> Result<VerifiedCert, PkiError> {
    Ok(VerifiedCert {
        role,
        curve: cert.curve(),
        public_key: cert.public_key.clone(),
        subject_key_id: cert.ski.clone().ok_or(PkiError::MissingExtension {
            cert: role,
            extension: "subjectKeyIdentifier",
        })?,
        ci_pkid,
        eid,
        registered_id: cert.registered_id.clone(),
        dns_names: cert.dns_names.clone(),
        not_before: UNIX_EPOCH + cert.not_before(),
        not_after: UNIX_EPOCH + cert.not_after(),
    })
}

/// The leaf is itself a CI: it must be one of the trusted ones (same key identifier and key)
/// and a valid CI certificate.
fn verify_trusted_ci(
    leaf: &ParsedCert,
    anchors: &[ParsedCert],
    now: Duration,
) -> Result<VerifiedCert, PkiError> {
    let key_id = leaf.ski.clone().unwrap_or_default();
    let trusted = leaf.ski.is_some()
        && anchors.iter().any(|anchor| {
            anchor.ski.as_deref() == Some(key_id.as_slice()) && anchor.public_key == leaf.public_key
        });
    if !trusted {
        return Err(PkiError::UnknownCi { key_id });
    }
    check_ci(leaf, now)?;
    verified(leaf, CertRole::Ci, key_id, None)
}

/// A trusted CI certificate must still be a valid, self-signed CI certificate
/// (SGP.22 §4.5.2.1.0.1) at `now`.
fn check_ci(ci: &ParsedCert, now: Duration) -> Result<(), PkiError> {
    let role = CertRole::Ci;
    if !ci.is_self_issued() {
        return Err(PkiError::IssuerMismatch { cert: role });
    }
    check_signature_algorithm(ci, role)?;
    check_certificate_signature(ci, role, &ci.public_key)?;
    check_validity(ci, role, now)?;
    check_profile(ci, role)
}

fn check_not_self_issued(cert: &ParsedCert, role: CertRole) -> Result<(), PkiError> {
    if cert.is_self_issued() {
        Err(PkiError::SelfSigned { cert: role })
    } else {
        Ok(())
    }
}

/// The link between a certificate and its issuer: not self-issued, AKI = issuer SKI, issuer
/// name = issuer subject, same curve, the issuer may issue, ECDSA-SHA256 signature verifies.
fn check_link(
    cert: &ParsedCert,
    role: CertRole,
    issuer: &ParsedCert,
    issuer_role: CertRole,
    cas_below_issuer: usize,
) -> Result<(), PkiError> {
    check_not_self_issued(cert, role)?;
    let aki = cert.aki.as_deref().ok_or(PkiError::MissingExtension {
        cert: role,
        extension: "authorityKeyIdentifier",
    })?;
    if issuer.ski.as_deref() != Some(aki) {
        return Err(PkiError::KeyIdentifierMismatch { cert: role });
    }
    if cert.issuer() != issuer.subject() {
        return Err(PkiError::IssuerMismatch { cert: role });
    }
    if cert.curve() != issuer.curve() {
        return Err(PkiError::CurveMismatch { cert: role });
    }
    if let Some(path_len) = issuer
        .basic_constraints
        .as_ref()
        .and_then(|bc| bc.path_len_constraint)
        && cas_below_issuer > usize::from(path_len)
    {
        return Err(PkiError::PathLength { cert: issuer_role });
    }
    check_signature_algorithm(cert, role)?;
    check_certificate_signature(cert, role, &issuer.public_key)
}

/// SGP.22 §4.5.2: certificates are signed with ecdsa-with-SHA256 (parameters absent), and the
/// algorithm inside the signed part matches the outer one.
fn check_signature_algorithm(cert: &ParsedCert, role: CertRole) -> Result<(), PkiError> {
    let outer = cert.cert.signature_algorithm();
    let inner = cert.cert.tbs_certificate().signature();
    if outer != inner {
        return Err(PkiError::malformed(
            role,
            "signatureAlgorithm differs from tbsCertificate.signature",
        ));
    }
    if outer.oid != oids::ECDSA_WITH_SHA256 || outer.parameters.is_some() {
        return Err(PkiError::UnsupportedAlgorithm {
            cert: role,
            oid: outer.oid.to_string(),
        });
    }
    Ok(())
}

fn check_certificate_signature(
    cert: &ParsedCert,
    role: CertRole,
    issuer_key: &PublicKey,
) -> Result<(), PkiError> {
    let der_signature = cert
        .signature_der()
        .ok_or_else(|| PkiError::malformed(role, "signature BIT STRING has unused bits"))?;
    // X.509 carries a DER ECDSA-Sig-Value; verification works on r || s. A signature that does
    // not even decode is as bad as one that does not verify.
    der_signature_to_raw(der_signature)
        .and_then(|raw| issuer_key.verify(&cert.tbs, &raw))
        .map_err(|_| PkiError::BadCertificateSignature { cert: role })
}

/// RFC 5280 §4.1.2.5: valid from notBefore to notAfter, both inclusive.
fn check_validity(cert: &ParsedCert, role: CertRole, now: Duration) -> Result<(), PkiError> {
    if now < cert.not_before() {
        Err(PkiError::NotYetValid { cert: role })
    } else if now > cert.not_after() {
        Err(PkiError::Expired { cert: role })
    } else {
        Ok(())
    }
}

/// The per-role certificate profile of SGP.22 §4.5.2.1.0.x.
fn check_profile(cert: &ParsedCert, role: CertRole) -> Result<(), PkiError> {
    // The role is what the certificate policies say (§4.5.2.1.0).
    if !cert
        .policies
        .iter()
        .flatten()
        .any(|policy| *policy == role.policy_oid())
    {
        return Err(PkiError::WrongRole {
            cert: role,
            found: cert.declared_roles(),
        });
    }
    if let Some(oid) = cert.unknown_critical {
        return Err(PkiError::UnsupportedCriticalExtension {
            cert: role,
            oid: oid.to_string(),
        });
    }
    if cert.ski.is_none() {
        return Err(PkiError::MissingExtension {
            cert: role,
            extension: "subjectKeyIdentifier",
        });
    }

    let key_usage = cert.key_usage.ok_or(PkiError::MissingExtension {
        cert: role,
        extension: "keyUsage",
    })?;
    let required: &[(KeyUsages, &'static str)] = match role {
        // §4.5.2.1.0.1: the CI signs certificates and CRLs.
        CertRole::Ci => &[
            (KeyUsages::KeyCertSign, "keyCertSign"),
            (KeyUsages::CRLSign, "cRLSign"),
        ],
        // §4.5.2.1.0.2: the EUM signs eUICC certificates.
        CertRole::Eum => &[(KeyUsages::KeyCertSign, "keyCertSign")],
        // End entities sign protocol data (§4.5.2.1.0.3, §4.5.2.1.0.4) or TLS handshakes.
        _ => &[(KeyUsages::DigitalSignature, "digitalSignature")],
    };
    for (usage, name) in required {
        if !key_usage.0.contains(*usage) {
            return Err(PkiError::KeyUsage {
                cert: role,
                required: name,
            });
        }
    }

    let is_ca = cert.basic_constraints.as_ref().is_some_and(|bc| bc.ca);
    if role.is_ca() && !is_ca {
        return Err(PkiError::NotCa { cert: role });
    }
    if !role.is_ca() && is_ca {
        return Err(PkiError::UnexpectedCa { cert: role });
    }

    if role == CertRole::Eum && permitted_directory_names(cert).next().is_none() {
        // §4.5.2.1.0.2: the EUM certificate restricts the EIDs it may certify.
        return Err(PkiError::MissingExtension {
            cert: role,
            extension: "nameConstraints (permitted directoryName)",
        });
    }

    if role.is_tls() {
        let eku = cert
            .extended_key_usage
            .as_ref()
            .ok_or(PkiError::MissingExtension {
                cert: role,
                extension: "extendedKeyUsage",
            })?;
        if !eku.contains(&oids::KP_SERVER_AUTH) {
            return Err(PkiError::KeyUsage {
                cert: role,
                required: "serverAuth",
            });
        }
        if cert.dns_names.is_empty() {
            return Err(PkiError::MissingExtension {
                cert: role,
                extension: "subjectAltName dNSName",
            });
        }
    }
    Ok(())
}

/// The directoryName bases of the EUM's permitted subtrees.
fn permitted_directory_names(eum: &ParsedCert) -> impl Iterator<Item = &Name> {
    subtree_names(eum, true)
}

fn subtree_names(eum: &ParsedCert, permitted: bool) -> impl Iterator<Item = &Name> {
    eum.name_constraints
        .iter()
        .flat_map(move |constraints| {
            if permitted {
                constraints.permitted_subtrees.iter().flatten()
            } else {
                constraints.excluded_subtrees.iter().flatten()
            }
        })
        .filter_map(|subtree| match &subtree.base {
            GeneralName::DirectoryName(name) => Some(name),
            _ => None,
        })
}

/// SGP.22 §4.5.2.1.0.2: the eUICC certificate's subject must fall within one of the EUM's
/// permitted directoryName subtrees, where the subtree's serialNumber is a prefix of the EID
/// and every other attribute must be present with the same value; and within none of the
/// excluded ones.
fn check_name_constraints(eum: &ParsedCert, subject: &Name, eid: &str) -> Result<(), PkiError> {
    let permitted = permitted_directory_names(eum).any(|base| within_subtree(subject, base));
    let excluded = subtree_names(eum, false).any(|base| within_subtree(subject, base));
    if permitted && !excluded {
        Ok(())
    } else {
        Err(PkiError::EidNotPermitted {
            eid: eid.to_owned(),
        })
    }
}

fn within_subtree(subject: &Name, base: &Name) -> bool {
    base.iter().all(|constraint| {
        let Some(wanted) = attribute_text(&constraint.value) else {
            return false;
        };
        subject.iter().any(|atv| {
            atv.oid == constraint.oid
                && attribute_text(&atv.value).is_some_and(|value| {
                    if constraint.oid == oids::AT_SERIAL_NUMBER {
                        value.starts_with(wanted)
                    } else {
                        value == wanted
                    }
                })
        })
    })
}
