//! What a software eUICC is made of: its identity (EID, keys, certificates), its configuration
//! (clock, AIDs, limits, capabilities) and the errors of setting one up.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use lpa_core::apdu::ISD_R_AID;
use lpa_core::ids::Eid;
use lpa_core::messages::PprFlags;
use lpa_core::messages::{
    OperatorId, PprIds, ProfileClass, ProfilePolicyAuthorisationRule, Version,
};

use crate::pki::{self, CertRole, Curve, Identity, PkiError, TestPki};

/// Errors of building or running a [`SoftEuicc`](super::SoftEuicc) (never of an APDU: those
/// are answered with status words and ES10 result codes).
#[derive(Debug)]
#[non_exhaustive]
pub enum EuiccError {
    /// A certificate or key of the identity could not be loaded or used.
    Pki(PkiError),
    /// The identity is inconsistent (e.g. the eUICC certificate carries no valid EID).
    InvalidIdentity {
        /// What is wrong.
        detail: String,
    },
    /// The state file exists but cannot be used.
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for EuiccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EuiccError::Pki(e) => write!(f, "eUICC identity: {e}"),
            EuiccError::InvalidIdentity { detail } => write!(f, "eUICC identity: {detail}"),
            EuiccError::State { path, detail } => {
                write!(f, "eUICC state file {}: {detail}", path.display())
            }
            EuiccError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for EuiccError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EuiccError::Pki(e) => Some(e),
            EuiccError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<PkiError> for EuiccError {
    fn from(e: PkiError) -> Self {
        EuiccError::Pki(e)
    }
}

/// The eUICC's identity: EID, CERT.EUICC.ECDSA with SK.EUICC.ECDSA, CERT.EUM.ECDSA, and the
/// CI certificates whose keys it trusts for verification (SGP.22 §4.5.2).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EuiccIdentity {
    /// The EID, from the eUICC certificate's subject serialNumber.
    pub eid: Eid,
    /// CERT.EUICC.ECDSA and its private key.
    pub euicc: Identity,
    /// CERT.EUM.ECDSA (DER).
    pub eum_certificate: Vec<u8>,
    /// The trusted CI certificates (DER): their subject key identifiers form
    /// euiccCiPKIdListForVerification.
    pub trusted_ci_certificates: Vec<Vec<u8>>,
    /// The CI PKID the eUICC's own chain ends at (the EUM certificate's authority key
    /// identifier): euiccCiPKIdListForSigning.
    pub signing_ci_pkid: Vec<u8>,
}

impl EuiccIdentity {
    /// Builds an identity; the EID is read from the eUICC certificate.
    pub fn new(
        euicc: Identity,
        eum_certificate: Vec<u8>,
        trusted_ci_certificates: Vec<Vec<u8>>,
    ) -> Result<Self, EuiccError> {
        let digits = pki::eid_of(&euicc.certificate)?;
        let eid = Eid::from_digits(&digits).map_err(|e| EuiccError::InvalidIdentity {
            detail: format!("EID {digits}: {e}"),
        })?;
        let signing_ci_pkid = pki::aki_of(&eum_certificate)?;
        for ci in &trusted_ci_certificates {
            pki::ski_of(ci)?;
        }
        Ok(EuiccIdentity {
            eid,
            euicc,
            eum_certificate,
            trusted_ci_certificates,
            signing_ci_pkid,
        })
    }

    /// The eUICC part of a generated (or loaded) test PKI, trusting its CI.
    pub fn from_test_pki(pki: &TestPki) -> Result<Self, EuiccError> {
        EuiccIdentity::new(
            pki.euicc.clone(),
            pki.eum.certificate.clone(),
            vec![pki.ci.certificate.clone()],
        )
    }

    /// Loads the eUICC of an SGP.26-layout directory (`eUICC/CERT_EUICC_ECDSA_<curve>.der` +
    /// `SK_EUICC_ECDSA_<curve>.pem`, `EUM/CERT_EUM_ECDSA_<curve>.der`, trusting
    /// `CertificateIssuer/CERT_CI_ECDSA_<curve>.der`), as written by
    /// [`TestPki::write_to_dir`] or shipped with the GSMA SGP.26 test material.
    pub fn load_sgp26(dir: &Path, curve: Curve) -> Result<Self, EuiccError> {
        let suffix = curve.sgp26_suffix();
        let euicc = pki::load_identity(
            &dir.join(format!("eUICC/CERT_EUICC_ECDSA_{suffix}.der")),
            &dir.join(format!("eUICC/SK_EUICC_ECDSA_{suffix}.pem")),
            CertRole::Euicc,
        )?;
        let eum = read(&dir.join(format!("EUM/CERT_EUM_ECDSA_{suffix}.der")))?;
        let ci = read(&dir.join(format!("CertificateIssuer/CERT_CI_ECDSA_{suffix}.der")))?;
        EuiccIdentity::new(euicc, eum, vec![ci])
    }

    /// Loads an identity from individual files: the eUICC certificate (DER or PEM) and key
    /// (PEM), the EUM certificate and the trusted CI certificates (DER).
    pub fn load_files(
        euicc_certificate: &Path,
        euicc_key: &Path,
        eum_certificate: &Path,
        trusted_ci_certificates: &[PathBuf],
    ) -> Result<Self, EuiccError> {
        let euicc = pki::load_identity(euicc_certificate, euicc_key, CertRole::Euicc)?;
        let eum = read(eum_certificate)?;
        let cis = trusted_ci_certificates
            .iter()
            .map(|p| read(p))
            .collect::<Result<Vec<_>, _>>()?;
        EuiccIdentity::new(euicc, eum, cis)
    }

    /// euiccCiPKIdListForVerification: the trusted CIs' subject key identifiers.
    pub fn verification_ci_pkids(&self) -> Vec<Vec<u8>> {
        self.trusted_ci_certificates
            .iter()
            .filter_map(|c| pki::ski_of(c).ok())
            .collect()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EuiccError> {
    std::fs::read(path).map_err(|source| EuiccError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// How the software eUICC behaves. Build with [`EuiccConfig::new`], then change fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EuiccConfig {
    /// The time certificates are validated at. Nothing in the eUICC reads the system clock;
    /// move it with [`SoftEuicc::set_now`](super::SoftEuicc::set_now).
    pub now: SystemTime,
    /// The ISD-R AID SELECT answers to (default the GSMA one; some removable eUICCs use
    /// vendor AIDs, see `lpa_core::apdu::KNOWN_ISD_R_AIDS`).
    pub isd_r_aid: Vec<u8>,
    /// The ECASD AID.
    pub ecasd_aid: Vec<u8>,
    /// Response data longer than this is not returned with the command but announced with
    /// `61xx` and fetched with GET RESPONSE, in pieces of at most this size (1..=256; default
    /// 256). Lower it in tests to exercise long GET RESPONSE chains.
    pub response_threshold: usize,
    /// The largest ES10 request one STORE DATA sequence may carry; more is `6A84`.
    pub max_request_size: usize,
    /// Refuse STORE DATA with `6985` until TERMINAL CAPABILITY was received (some eUICCs do).
    pub require_terminal_capability: bool,
    /// Where to keep profiles, notifications and counters (JSON, written atomically after
    /// every change); `None` keeps them in memory only.
    pub state_path: Option<PathBuf>,
    /// SGP.22 version announced in EUICCInfo1/2 (svn).
    pub svn: Version,
    /// eUICC firmware version (EUICCInfo2).
    pub euicc_firmware_version: Version,
    /// SIMalliance profile package version (EUICCInfo2 profileVersion).
    pub profile_version: Version,
    /// How many profiles fit; one more fails with installFailedDueToInsufficientMemoryForProfile.
    pub max_profiles: usize,
    /// Profile classes the eUICC installs; others fail with unsupportedProfileClass.
    pub supported_profile_classes: Vec<ProfileClass>,
    /// PPRs the eUICC refuses (EUICCInfo2 forbiddenProfilePolicyRules); such a profile fails
    /// with pprNotAllowed.
    pub forbidden_profile_policy_rules: Option<PprIds>,
    /// The Rules Authorisation Table (SGP.22 §2.9.2.2): which operators may set which PPRs.
    /// Default: PPR1 and PPR2 allowed for every operator.
    pub rules_authorisation_table: Vec<ProfilePolicyAuthorisationRule>,
    /// Root SM-DS address (EuiccConfiguredAddresses).
    pub root_ds_address: String,
    /// Default SM-DP+ address of a fresh card (and after eUICCMemoryReset with
    /// resetDefaultSmdpAddress).
    pub default_dp_address: Option<String>,
    /// SAS accreditation number (EUICCInfo2).
    pub sas_accreditation_number: String,
}

impl EuiccConfig {
    /// Defaults: the GSMA ISD-R and ECASD AIDs, 256-byte responses, 32 KiB requests, SGP.22
    /// v2.5.0, eight profiles of every class, a permissive RAT, no state file.
    pub fn new(now: SystemTime) -> Self {
        EuiccConfig {
            now,
            isd_r_aid: ISD_R_AID.to_vec(),
            ecasd_aid: lpa_core::apdu::ECASD_AID.to_vec(),
            response_threshold: 256,
            max_request_size: 32 * 1024,
            require_terminal_capability: false,
            state_path: None,
            svn: Version::new(2, 5, 0),
            euicc_firmware_version: Version::new(1, 0, 0),
            profile_version: Version::new(2, 3, 1),
            max_profiles: 8,
            supported_profile_classes: vec![
                ProfileClass::Test,
                ProfileClass::Provisioning,
                ProfileClass::Operational,
            ],
            forbidden_profile_policy_rules: None,
            rules_authorisation_table: vec![ProfilePolicyAuthorisationRule {
                ppr_ids: PprIds::from_bits(&[PprIds::PPR1, PprIds::PPR2]),
                // An MCC/MNC of `E` nibbles matches every operator (SGP.22 §2.9.2.2).
                allowed_operators: vec![OperatorId {
                    mcc_mnc: vec![0xEE, 0xEE, 0xEE],
                    gid1: None,
                    gid2: None,
                }],
                ppr_flags: PprFlags::from_bits(&[]),
            }],
            root_ds_address: "testrootsmds.example.com".to_owned(),
            default_dp_address: None,
            sas_accreditation_number: "LPA-TESTBED-SAS-0001".to_owned(),
        }
    }
}
