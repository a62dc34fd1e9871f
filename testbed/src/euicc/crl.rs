//! ES10b LoadCRL (SGP.22 §5.7.7, CRLs per §4.6): the eUICC checks the CRL's signature against a
//! trusted CI and then refuses SM-DP+ certificates whose serial number it lists.

use der::{Decode as _, Encode as _};
use lpa_core::messages::{LoadCrlError, LoadCrlRequest, LoadCrlResponse, LoadCrlResponseOk};
use lpa_core::tlv::Tlv;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use super::apdu::Reply;
use super::es10::{Es10Core, data};
use super::state::StoredCrl;
use crate::pki::{self, PublicKey, der_signature_to_raw};

/// `id-ce-authorityKeyIdentifier`.
const OID_AKI: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.35");
/// `id-ce-cRLNumber`.
const OID_CRL_NUMBER: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.20");

/// A CI the eUICC trusts: its key, name and PKID.
struct TrustedCi {
    pkid: Vec<u8>,
    subject: x509_cert::name::Name,
    key: PublicKey,
}

fn trusted_ci(der: &[u8]) -> Option<TrustedCi> {
    let cert = Certificate::from_der(der).ok()?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .ok()?;
    Some(TrustedCi {
        pkid: pki::ski_of(der).ok()?,
        subject: cert.tbs_certificate().subject().clone(),
        key: PublicKey::from_spki_der(&spki).ok()?,
    })
}

/// The keyIdentifier inside an AuthorityKeyIdentifier extension value.
fn aki_key_id(value: &[u8]) -> Option<Vec<u8>> {
    let aki = x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(value).ok()?;
    aki.key_identifier.map(|k| k.as_bytes().to_vec())
}

/// A non-negative INTEGER content, compared by value (leading zeros dropped).
fn integer_hex(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    hex::encode(bytes.get(start..).unwrap_or_default())
}

/// Compares two hex numbers made by [`integer_hex`].
fn hex_number_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Es10Core {
    /// LoadCRL: invalidCRLFormat when it does not decode, verificationKeyNotFound when no
    /// trusted CI issued it, invalidSignature when the CI's signature does not verify,
    /// fresherCrlAlreadyLoaded when a higher cRLNumber from that CI is loaded.
    pub fn load_crl(&mut self, request: LoadCrlRequest) -> Reply {
        let fail = |e| data(&LoadCrlResponse::Error(e));
        let der = request.crl.as_bytes();
        let Ok(crl) = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(der) else {
            return fail(LoadCrlError::InvalidCrlFormat);
        };
        // The signed bytes are tbsCertList exactly as received.
        let Some(tbs) = Tlv::parse(der)
            .ok()
            .and_then(|t| t.children().next())
            .and_then(Result::ok)
            .map(|t| t.raw())
        else {
            return fail(LoadCrlError::InvalidCrlFormat);
        };
        let extensions = crl.tbs_cert_list.crl_extensions.clone().unwrap_or_default();
        let aki = extensions
            .iter()
            .find(|e| e.extn_id == OID_AKI)
            .and_then(|e| aki_key_id(e.extn_value.as_bytes()));
        let crl_number = extensions
            .iter()
            .find(|e| e.extn_id == OID_CRL_NUMBER)
            .and_then(|e| der::asn1::Uint::from_der(e.extn_value.as_bytes()).ok())
            .map(|n| integer_hex(n.as_bytes()));
        let issuer = &crl.tbs_cert_list.issuer;
        let ci = self
            .identity
            .trusted_ci_certificates
            .iter()
            .filter_map(|c| trusted_ci(c))
            .find(|ci| match &aki {
                Some(id) => ci.pkid == *id,
                None => ci.subject == *issuer,
            });
        let Some(ci) = ci else {
            return fail(LoadCrlError::VerificationKeyNotFound);
        };
        let signature = crl
            .signature
            .as_bytes()
            .and_then(|s| der_signature_to_raw(s).ok());
        let verified = signature.is_some_and(|s| ci.key.verify(tbs, &s).is_ok());
        if !verified {
            return fail(LoadCrlError::InvalidSignature);
        }
        let revoked_serials = crl
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .map(|r| integer_hex(r.serial_number.as_bytes()))
            .collect();
        let previous = self.state.crls.iter().position(|c| c.ci_pkid == ci.pkid);
        if let Some(old) = previous.and_then(|i| self.state.crls.get(i))
            && let (Some(old), Some(new)) = (&old.crl_number, &crl_number)
            && hex_number_cmp(old, new) == std::cmp::Ordering::Greater
        {
            return fail(LoadCrlError::FresherCrlAlreadyLoaded);
        }
        let stored = StoredCrl {
            ci_pkid: ci.pkid,
            crl_number,
            revoked_serials,
        };
        match previous.and_then(|i| self.state.crls.get_mut(i)) {
            Some(slot) => *slot = stored,
            None => self.state.crls.push(stored),
        }
        self.commit(data(&LoadCrlResponse::Ok(LoadCrlResponseOk {
            missing_parts: None,
        })))
    }

    /// Whether a loaded CRL of the CI `ci_pkid` revokes `certificate`.
    pub fn is_revoked(&self, certificate: &[u8], ci_pkid: &[u8]) -> bool {
        let Ok(cert) = Certificate::from_der(certificate) else {
            return false;
        };
        let serial = integer_hex(cert.tbs_certificate().serial_number().as_bytes());
        self.state
            .crls
            .iter()
            .filter(|c| c.ci_pkid == ci_pkid)
            .any(|c| c.revoked_serials.contains(&serial))
    }
}
