//! The rustls client configuration: webpki verification against the chosen CI anchors, or, in
//! the development-only insecure mode, a verifier that accepts any certificate but says so.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::trust::Anchor;

/// Builds the client configuration.
///
/// Verification is rustls' [`WebPkiServerVerifier`]: chain to one of `anchors`, validity at the
/// verification time, the host name in subjectAltName, extendedKeyUsage serverAuth. SGP.22 TLS
/// certificates pass it as they are (their certificatePolicies extension is non-critical, see
/// the SGP.26 TLS certificates), and the CI certificates' critical extensions do not matter
/// because anchors are built from name and key only ([`Anchor`]).
///
/// Every call makes a new configuration, and so a new TLS session cache: a session resumed
/// from a cache filled under a wider trust would skip the certificate check.
pub(crate) fn client_config(
    anchors: &[&Anchor],
    time: Option<UnixTime>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match time {
        Some(time) => {
            ClientConfig::builder_with_details(Arc::clone(&provider), Arc::new(FixedTime(time)))
        }
        None => ClientConfig::builder_with_provider(Arc::clone(&provider)),
    }
    // TLS 1.2 (what SGP.22 §2.6.6 specifies) and 1.3, AEAD ECDHE suites only.
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?;

    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(UnverifiedServer::new(&provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.roots.extend(anchors.iter().map(|a| a.anchor.clone()));
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("TLS verifier: {e}"))?;
        builder.with_webpki_verifier(verifier).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Says why a handshake failed, in words that point at the cause.
pub(crate) fn describe_tls_error(error: &rustls::Error, host: &str, trust: &str) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("the certificate of {host} does not chain to a trusted CI (trusted: {trust})")
        }
        // webpki picks the anchor by the issuer's name; a certificate that names a trusted CI
        // but was signed by another key (test PKIs often share CI names) ends up here, and so
        // does a server whose handshake signature does not match its certificate.
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => format!(
            "the certificate of {host} was refused: bad signature (not signed by the key of a \
             trusted CI, or not the server's own certificate; trusted: {trust})"
        ),
        rustls::Error::InvalidCertificate(reason) => {
            format!("the certificate of {host} was refused: {reason}")
        }
        rustls::Error::AlertReceived(alert) => {
            format!("{host} ended the TLS handshake with the alert {alert:?}")
        }
        other => format!("TLS handshake with {host} failed: {other}"),
    }
}

/// A clock stopped at one instant: certificates are validated at that time (tests at a fixed
/// date, or a device whose own clock is known to be wrong).
#[derive(Debug)]
struct FixedTime(UnixTime);

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// The insecure mode's verifier: accepts any certificate chain for any name, loudly. The
/// handshake signatures are still checked against the presented certificate's key, so the
/// server at least holds the key of the certificate it shows.
#[derive(Debug)]
struct UnverifiedServer {
    algorithms: WebPkiSupportedAlgorithms,
}

impl UnverifiedServer {
    fn new(provider: &CryptoProvider) -> Self {
        UnverifiedServer {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for UnverifiedServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        log::warn!(
            "INSECURE: the TLS certificate of {} is NOT verified (HttpsConfig::insecure); \
             anyone on the path can impersonate this server",
            server_name.to_str()
        );
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
