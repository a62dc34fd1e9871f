//! `--testbed <dir>`: a software eUICC (the testbed's `SoftEuicc`) whose identity and state
//! live in a folder, created with a fresh test PKI on first use.
//!
//! ```text
//!   <dir>/pki/            test PKI in the SGP.26 layout (CI, EUM, eUICC, DPauth, DPpb, DPtls)
//!   <dir>/ci.pem          the test CI as PEM (for curl --cacert; the LPA trusts it already)
//!   <dir>/euicc.json      the card's profiles, notifications and counters
//!   <dir>/lpa-session     the LPA's crash-recovery record
//! ```
//!
//! The same PKI serves a test SM-DP+ the card trusts:
//! `lpa-testbed smdp --pki <dir>/pki --port 8443`, reached with
//! `--resolve testsmdpplus1.example.com:443:127.0.0.1:8443` (the LPA adds the test CI to its
//! trusted roots with `--testbed`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lpa::transport::{ApduTransport, TransportError};
use lpa_testbed::card::SharedCard;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::pki::{Curve, KeyFormat, TestPki, TestPkiOptions};

use crate::error::CliError;
use crate::net::to_pem;

/// Validity of a testbed PKI: ten years from one day ago.
const PKI_DAYS: u32 = 3650;

/// A testbed folder, opened (and created on first use).
pub struct Testbed {
    dir: PathBuf,
    pki: TestPki,
    created: bool,
}

impl Testbed {
    /// Opens `dir`, generating a test PKI there if it has none yet.
    pub fn open(dir: &Path) -> Result<Testbed, CliError> {
        let io = |what: &str, e: &dyn std::fmt::Display| {
            CliError::internal(format!("testbed {}: {what}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| io("creating the folder", &e))?;
        let pki_dir = dir.join("pki");
        let ci_file = pki_dir.join("CertificateIssuer/CERT_CI_ECDSA_NIST.der");
        let created = !ci_file.exists();
        let pki = if created {
            let pki = generate_pki(PKI_DAYS).map_err(|e| io("generating the test PKI", &e))?;
            pki.write_to_dir(&pki_dir, KeyFormat::Sec1)
                .map_err(|e| io("writing the test PKI", &e))?;
            std::fs::write(dir.join("ci.pem"), to_pem(&pki.ci.certificate))
                .map_err(|e| io("writing ci.pem", &e))?;
            pki
        } else {
            TestPki::load_from_dir(&pki_dir, Curve::NistP256)
                .map_err(|e| io("loading the test PKI", &e))?
        };
        Ok(Testbed {
            dir: dir.to_path_buf(),
            pki,
            created,
        })
    }

    /// Whether this run created the folder's PKI.
    pub fn created(&self) -> bool {
        self.created
    }

    /// The test CI certificate (DER): the card trusts it, and so does the LPA's HTTPS client.
    pub fn ci_certificate(&self) -> &[u8] {
        &self.pki.ci.certificate
    }

    /// Where the LPA keeps its session record.
    pub fn session_path(&self) -> PathBuf {
        self.dir.join("lpa-session")
    }

    /// The software eUICC, with its state loaded from (and saved to) `euicc.json`.
    pub fn card(&self) -> Result<SharedCard, CliError> {
        let card = soft_euicc(&self.pki, Some(self.dir.join("euicc.json")))?;
        Ok(Arc::new(Mutex::new(card)))
    }
}

/// A fresh NIST P-256 test PKI valid from one day ago for `days` days.
pub fn generate_pki(days: u32) -> Result<TestPki, String> {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let not_before = now.checked_sub(day).unwrap_or(now);
    let not_after = day
        .checked_mul(days)
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| format!("{days} days of validity is too long"))?;
    let options = TestPkiOptions::new(Curve::NistP256, not_before, not_after);
    TestPki::generate(&options).map_err(|e| e.to_string())
}

/// A SoftEuicc of `pki`, its state in `state_path` (memory only when `None`).
pub fn soft_euicc(pki: &TestPki, state_path: Option<PathBuf>) -> Result<SoftEuicc, CliError> {
    let identity = EuiccIdentity::from_test_pki(pki)
        .map_err(|e| CliError::internal(format!("testbed eUICC identity: {e}")))?;
    let mut config = EuiccConfig::new(SystemTime::now());
    config.state_path = state_path;
    SoftEuicc::new(identity, config).map_err(|e| CliError::internal(format!("testbed eUICC: {e}")))
}

/// The LPA's [`ApduTransport`] straight into a software card (no modem, no reader); logical
/// channels come from the trait's defaults (MANAGE CHANNEL and SELECT).
pub struct SoftCardTransport {
    card: SharedCard,
}

impl SoftCardTransport {
    /// A transport to `card`.
    pub fn new(card: SharedCard) -> Self {
        SoftCardTransport { card }
    }
}

impl ApduTransport for SoftCardTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut card = self
            .card
            .lock()
            .map_err(|_| TransportError::Io("the software eUICC failed earlier".into()))?;
        Ok(card.transmit(command))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_testbed_folder_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Testbed::open(dir.path()).unwrap();
        assert!(first.created());
        assert!(dir.path().join("ci.pem").exists());
        let again = Testbed::open(dir.path()).unwrap();
        assert!(!again.created());
        assert_eq!(first.ci_certificate(), again.ci_certificate());
        let mut transport = SoftCardTransport::new(again.card().unwrap());
        let (channel, _fci) = transport
            .open_logical_channel(&lpa_core::apdu::ISD_R_AID)
            .unwrap();
        transport.close_logical_channel(channel).unwrap();
        assert!(dir.path().join("euicc.json").exists());
    }
}
