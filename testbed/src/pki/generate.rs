//! A complete test PKI for one curve, and its files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::cert::{ParsedCert, check_eid};
use super::issue::{CertSpec, Issuer, NameAttribute, issue_certificate};
use super::keys::{KeyFormat, PrivateKey, check_key_pair};
use super::{CertRole, Curve, PkiError};

/// The EID of the SGP.26 test eUICC (check digits valid), used by default.
pub const DEFAULT_EID: &str = "89049032123451234512345678901235";
/// The SM-DP+ host name of the SGP.26 test SM-DP+ TLS certificate, used by default.
pub const DEFAULT_SMDP_HOST: &str = "testsmdpplus1.example.com";
/// The SM-DP+ OID of the SGP.26 test SM-DP+ certificates, used by default.
pub const DEFAULT_SMDP_OID: &str = "2.999.10";

/// The CI OID put in the CI certificate's subjectAltName (as in SGP.26).
const CI_OID: &str = "2.999.1";
/// The EUM OID put in the EUM certificate's subjectAltName (as in SGP.26).
const EUM_OID: &str = "2.999.5";
/// Length of the EID prefix an EUM is constrained to by default: `89` + country code (3) +
/// issuer identifier (3), as in the SGP.26 EUM certificate (`89049032`).
const DEFAULT_EID_PREFIX_LEN: usize = 8;
/// The organization of the generated EUM, repeated in eUICC subjects and the name constraint.
const EUM_ORGANIZATION: &str = "LPA Testbed EUM";

/// What [`TestPki::generate`] produces.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TestPkiOptions {
    /// The curve of the whole hierarchy.
    pub curve: Curve,
    /// The eUICC's EID (32 digits), put in the eUICC certificate's subject serialNumber.
    pub eid: String,
    /// The EID prefix the EUM is constrained to; `None` takes the first 8 digits of `eid`.
    pub eid_prefix: Option<String>,
    /// The SM-DP+ host name, put in the TLS certificate (dNSName and CN).
    pub smdp_host: String,
    /// The SM-DP+ OID (dotted), put in the subjectAltName registeredID of the SM-DP+
    /// certificates.
    pub smdp_oid: String,
    /// Start of validity of every certificate.
    pub not_before: SystemTime,
    /// End of validity of every certificate.
    pub not_after: SystemTime,
    /// CRL distribution point URI put in CI, EUM and SM-DP+ certificates (no CRL is served).
    pub crl_url: Option<String>,
}

impl TestPkiOptions {
    /// Options for `curve` valid from `not_before` to `not_after`, with the SGP.26 EID, SM-DP+
    /// host and SM-DP+ OID.
    pub fn new(curve: Curve, not_before: SystemTime, not_after: SystemTime) -> Self {
        TestPkiOptions {
            curve,
            eid: DEFAULT_EID.to_owned(),
            eid_prefix: None,
            smdp_host: DEFAULT_SMDP_HOST.to_owned(),
            smdp_oid: DEFAULT_SMDP_OID.to_owned(),
            not_before,
            not_after,
            crl_url: Some("http://ci.lpa-testbed.invalid/ci.crl".to_owned()),
        }
    }
}

/// A certificate (DER) with its private key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Identity {
    /// The DER certificate.
    pub certificate: Vec<u8>,
    /// Its private key.
    pub key: PrivateKey,
}

impl Identity {
    /// Pairs a certificate with its key, checking that they belong together.
    pub fn new(certificate: Vec<u8>, key: PrivateKey, role: CertRole) -> Result<Self, PkiError> {
        let parsed = ParsedCert::parse(&certificate, role)?;
        check_key_pair(&key, &parsed.public_key, role)?;
        Ok(Identity { certificate, key })
    }
}

/// A complete SGP.22 test PKI on one curve: CI, EUM, eUICC and the SM-DP+ certificates.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TestPki {
    /// The curve of the hierarchy.
    pub curve: Curve,
    /// CERT.CI.ECDSA (self-signed) and SK.CI.ECDSA.
    pub ci: Identity,
    /// CERT.EUM.ECDSA and SK.EUM.ECDSA.
    pub eum: Identity,
    /// CERT.EUICC.ECDSA and SK.EUICC.ECDSA.
    pub euicc: Identity,
    /// CERT.DPauth.ECDSA and SK.DPauth.ECDSA.
    pub dp_auth: Identity,
    /// CERT.DPpb.ECDSA and SK.DPpb.ECDSA.
    pub dp_pb: Identity,
    /// CERT.DP.TLS and its key: NIST P-256 hierarchies only (the TLS stacks used here have no
    /// brainpool).
    pub dp_tls: Option<Identity>,
}

impl TestPki {
    /// Generates fresh keys and certificates for every role.
    pub fn generate(options: &TestPkiOptions) -> Result<Self, PkiError> {
        check_eid(&options.eid).map_err(PkiError::option)?;
        let prefix = match &options.eid_prefix {
            Some(prefix) => prefix.clone(),
            None => options
                .eid
                .get(..DEFAULT_EID_PREFIX_LEN)
                .unwrap_or_default()
                .to_owned(),
        };
        if prefix.is_empty()
            || !prefix.bytes().all(|b| b.is_ascii_digit())
            || !options.eid.starts_with(&prefix)
        {
            return Err(PkiError::option(format!(
                "EID prefix {prefix:?} must be digits that start the EID {}",
                options.eid
            )));
        }
        if options.smdp_host.is_empty() {
            return Err(PkiError::option("empty SM-DP+ host"));
        }
        let curve = options.curve;
        let spec = |role, subject: Vec<(NameAttribute, &str)>| {
            let mut spec = CertSpec::new(
                role,
                subject
                    .into_iter()
                    .map(|(attribute, text)| (attribute, text.to_owned()))
                    .collect(),
                options.not_before,
                options.not_after,
            );
            spec.crl_url = options.crl_url.clone();
            spec
        };

        // CI (SGP.22 §4.5.2.1.0.1).
        let ci_key = PrivateKey::generate(curve)?;
        let mut ci_spec = spec(
            CertRole::Ci,
            vec![
                (NameAttribute::CommonName, "LPA Testbed CI"),
                (NameAttribute::OrganizationalUnit, "TESTCERT"),
                (NameAttribute::Organization, "LPA TESTBED"),
            ],
        );
        ci_spec.registered_id = Some(CI_OID.to_owned());
        let ci_cert =
            issue_certificate(&ci_spec, &ci_key.public_key(), Issuer::SelfSigned(&ci_key))?;
        let by_ci = |key| Issuer::Ca {
            certificate: &ci_cert,
            key,
        };

        // EUM (§4.5.2.1.0.2), constrained to the EID prefix.
        let eum_key = PrivateKey::generate(curve)?;
        let mut eum_spec = spec(
            CertRole::Eum,
            vec![
                (NameAttribute::Country, "XX"),
                (NameAttribute::Organization, EUM_ORGANIZATION),
                (NameAttribute::CommonName, "LPA Testbed EUM"),
            ],
        );
        eum_spec.registered_id = Some(EUM_OID.to_owned());
        eum_spec.permitted_eids = Some((EUM_ORGANIZATION.to_owned(), prefix));
        let eum_cert = issue_certificate(&eum_spec, &eum_key.public_key(), by_ci(&ci_key))?;

        // eUICC (§4.5.2.1.0.3): subject serialNumber = EID.
        let euicc_key = PrivateKey::generate(curve)?;
        let euicc_spec = spec(
            CertRole::Euicc,
            vec![
                (NameAttribute::Country, "XX"),
                (NameAttribute::Organization, EUM_ORGANIZATION),
                (NameAttribute::SerialNumber, &options.eid),
                (NameAttribute::CommonName, "LPA Testbed eUICC"),
            ],
        );
        let euicc_cert = issue_certificate(
            &euicc_spec,
            &euicc_key.public_key(),
            Issuer::Ca {
                certificate: &eum_cert,
                key: &eum_key,
            },
        )?;

        // SM-DP+ (§4.5.2.1.0.4): DPauth and DPpb carry the SM-DP+ OID.
        let smdp_subject = || {
            vec![
                (NameAttribute::Organization, "LPA Testbed"),
                (NameAttribute::CommonName, "TEST SM-DP+"),
            ]
        };
        let mut dp_auth_spec = spec(CertRole::DpAuth, smdp_subject());
        dp_auth_spec.registered_id = Some(options.smdp_oid.clone());
        let dp_auth_key = PrivateKey::generate(curve)?;
        let dp_auth_cert =
            issue_certificate(&dp_auth_spec, &dp_auth_key.public_key(), by_ci(&ci_key))?;

        let mut dp_pb_spec = spec(CertRole::DpPb, smdp_subject());
        dp_pb_spec.registered_id = Some(options.smdp_oid.clone());
        let dp_pb_key = PrivateKey::generate(curve)?;
        let dp_pb_cert = issue_certificate(&dp_pb_spec, &dp_pb_key.public_key(), by_ci(&ci_key))?;

        // TLS (SGP.22 §4.5.2): serverAuth, dNSName = host; NIST only.
        let dp_tls = if curve == Curve::NistP256 {
            let mut tls_spec = spec(
                CertRole::DpTls,
                vec![
                    (NameAttribute::Organization, "LPA Testbed"),
                    (NameAttribute::CommonName, &options.smdp_host),
                ],
            );
            tls_spec.dns_names = vec![options.smdp_host.clone()];
            tls_spec.registered_id = Some(options.smdp_oid.clone());
            let key = PrivateKey::generate(curve)?;
            let certificate = issue_certificate(&tls_spec, &key.public_key(), by_ci(&ci_key))?;
            Some(Identity { certificate, key })
        } else {
            None
        };

        Ok(TestPki {
            curve,
            ci: Identity {
                certificate: ci_cert.clone(),
                key: ci_key,
            },
            eum: Identity {
                certificate: eum_cert,
                key: eum_key,
            },
            euicc: Identity {
                certificate: euicc_cert,
                key: euicc_key,
            },
            dp_auth: Identity {
                certificate: dp_auth_cert,
                key: dp_auth_key,
            },
            dp_pb: Identity {
                certificate: dp_pb_cert,
                key: dp_pb_key,
            },
            dp_tls,
        })
    }

    /// Writes certificates (DER) and private keys (PEM) to `dir` in the SGP.26 layout, e.g.
    /// `EUM/CERT_EUM_ECDSA_NIST.der` and `EUM/SK_EUM_ECDSA_NIST.pem`. Hierarchies on both
    /// curves can share a directory. Existing files are overwritten; on Unix, key files are
    /// created readable by the owner only.
    pub fn write_to_dir(&self, dir: &Path, key_format: KeyFormat) -> Result<(), PkiError> {
        for (file, identity) in self.files() {
            let Some(identity) = identity else {
                continue;
            };
            let folder = dir.join(file.folder);
            fs::create_dir_all(&folder).map_err(|source| PkiError::Io {
                path: folder.clone(),
                source,
            })?;
            let cert_path = folder.join(file.cert_name(self.curve));
            fs::write(&cert_path, &identity.certificate).map_err(|source| PkiError::Io {
                path: cert_path.clone(),
                source,
            })?;
            let key_path = folder.join(file.key_name(self.curve));
            let pem = identity.key.to_pem(key_format)?;
            write_private(&key_path, pem.as_bytes())?;
        }
        Ok(())
    }

    /// Loads a hierarchy for `curve` written by [`TestPki::write_to_dir`], or the GSMA SGP.26
    /// test PKI directory itself (where the TLS certificate is `CERT_S_SM_DP_VARO_TLS_*`).
    ///
    /// Every key is checked against its certificate; the TLS identity is optional. The chains
    /// are not validated (the SGP.26 TLS certificates expire): use [`verify_chain`] for that.
    ///
    /// [`verify_chain`]: super::verify_chain
    pub fn load_from_dir(dir: &Path, curve: Curve) -> Result<Self, PkiError> {
        let load = |file: &PkiFile| -> Result<Identity, PkiError> {
            let folder = dir.join(file.folder);
            load_identity(
                &folder.join(file.cert_name(curve)),
                &folder.join(file.key_name(curve)),
                file.role,
            )
        };
        let tls_folder = dir.join(DP_TLS.folder);
        let tls_key = tls_folder.join(DP_TLS.key_name(curve));
        let tls_cert = [
            tls_folder.join(DP_TLS.cert_name(curve)),
            tls_folder.join(format!(
                "CERT_S_SM_DP_VARO_TLS_{}.der",
                curve.sgp26_suffix()
            )),
        ]
        .into_iter()
        .find(|path| path.is_file());
        let dp_tls = match tls_cert {
            Some(cert) if tls_key.is_file() => {
                Some(load_identity(&cert, &tls_key, CertRole::DpTls)?)
            }
            _ => None,
        };
        let pki = TestPki {
            curve,
            ci: load(&CI)?,
            eum: load(&EUM)?,
            euicc: load(&EUICC)?,
            dp_auth: load(&DP_AUTH)?,
            dp_pb: load(&DP_PB)?,
            dp_tls,
        };
        for identity in [&pki.ci, &pki.eum, &pki.euicc, &pki.dp_auth, &pki.dp_pb] {
            if identity.key.curve() != curve {
                return Err(PkiError::option(format!(
                    "{} holds keys on {}, not {curve}",
                    dir.display(),
                    identity.key.curve()
                )));
            }
        }
        Ok(pki)
    }

    /// The CI PKID of this hierarchy (the CI's subject key identifier).
    pub fn ci_pkid(&self) -> Result<Vec<u8>, PkiError> {
        super::ski_of(&self.ci.certificate)
    }

    fn files(&self) -> [(&'static PkiFile, Option<&Identity>); 6] {
        [
            (&CI, Some(&self.ci)),
            (&EUM, Some(&self.eum)),
            (&EUICC, Some(&self.euicc)),
            (&DP_AUTH, Some(&self.dp_auth)),
            (&DP_PB, Some(&self.dp_pb)),
            (&DP_TLS, self.dp_tls.as_ref()),
        ]
    }
}

/// Loads one certificate (DER, or PEM `CERTIFICATE`) and its private key (PEM, SEC1 or
/// PKCS#8, optionally after an `EC PARAMETERS` block as in SGP.26), checking they match.
pub fn load_identity(
    cert_path: &Path,
    key_path: &Path,
    role: CertRole,
) -> Result<Identity, PkiError> {
    let cert = read(cert_path)?;
    let certificate = if cert.starts_with(b"-----BEGIN") {
        let (label, der) = der::pem::decode_vec(&cert)
            .map_err(|e| PkiError::malformed(role, format!("PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(PkiError::malformed(role, format!("PEM block {label}")));
        }
        der
    } else {
        cert
    };
    let pem = read(key_path)?;
    let pem = String::from_utf8(pem).map_err(|_| PkiError::key("key file is not text"))?;
    let key = PrivateKey::from_pem(&pem)?;
    Identity::new(certificate, key, role)
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_private(path: &PathBuf, bytes: &[u8]) -> Result<(), PkiError> {
    use std::io::Write;
    let io = |source| PkiError::Io {
        path: path.clone(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// Where one identity lives in the SGP.26 layout.
struct PkiFile {
    role: CertRole,
    folder: &'static str,
    /// The name between `CERT_`/`SK_` and `_<curve>`.
    stem: &'static str,
}

impl PkiFile {
    fn cert_name(&self, curve: Curve) -> String {
        format!("CERT_{}_{}.der", self.stem, curve.sgp26_suffix())
    }

    fn key_name(&self, curve: Curve) -> String {
        format!("SK_{}_{}.pem", self.stem, curve.sgp26_suffix())
    }
}

const CI: PkiFile = PkiFile {
    role: CertRole::Ci,
    folder: "CertificateIssuer",
    stem: "CI_ECDSA",
};
const EUM: PkiFile = PkiFile {
    role: CertRole::Eum,
    folder: "EUM",
    stem: "EUM_ECDSA",
};
const EUICC: PkiFile = PkiFile {
    role: CertRole::Euicc,
    folder: "eUICC",
    stem: "EUICC_ECDSA",
};
const DP_AUTH: PkiFile = PkiFile {
    role: CertRole::DpAuth,
    folder: "DPauth",
    stem: "S_SM_DPauth_ECDSA",
};
const DP_PB: PkiFile = PkiFile {
    role: CertRole::DpPb,
    folder: "DPpb",
    stem: "S_SM_DPpb_ECDSA",
};
const DP_TLS: PkiFile = PkiFile {
    role: CertRole::DpTls,
    folder: "DPtls",
    stem: "S_SM_DP_TLS",
};
