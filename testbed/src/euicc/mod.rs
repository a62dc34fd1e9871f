//! `SoftEuicc`: a software eUICC at the APDU level, as strict as a real one, for testing LPAs.
//!
//! ```text
//!   APDU ──> apdu.rs ─ channels 0..=19, SELECT ISD-R/ECASD, TERMINAL CAPABILITY,
//!               │       STORE DATA reassembly (P1 11/91, P2 in order), 61xx + GET RESPONSE
//!               v
//!            es10.rs ─ dispatch by request tag (SGP.22 §5.7)
//!               ├── session.rs  GetEuiccChallenge → AuthenticateServer → PrepareDownload, CancelSession
//!               ├── load.rs     LoadBoundProfilePackage, one STORE DATA sequence at a time (bsp.rs)
//!               ├── profiles.rs GetProfilesInfo, Enable/Disable/Delete, SetNickname, MemoryReset,
//!               │               notifications (List/Retrieve/Sent)
//!               └── crl.rs      LoadCRL
//!            state.rs ─ profiles, notifications, counters, default address: JSON, atomic writes
//! ```
//!
//! The eUICC really does the cryptography: it validates SM-DP+ certificate chains to its
//! trusted CIs at the configured time ([`EuiccConfig::now`]; nothing reads the system clock),
//! verifies every SM-DP+ signature over the exact bytes SGP.22 defines (see [`signed_data`]),
//! signs its own with SK.EUICC.ECDSA, agrees session keys with a one-time key, and verifies and
//! deciphers every BPP segment. Faults are answered the way SGP.22 and ISO/IEC 7816-4 say:
//! status words for malformed APDUs, ES10 result codes for refused operations, and a signed
//! ProfileInstallationResult naming the failed BPP step and reason.
//!
//! ```no_run
//! use lpa_testbed::card::Card;
//! use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
//! use lpa_testbed::pki::Curve;
//! use std::path::Path;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let identity = EuiccIdentity::load_sgp26(Path::new("tests/data/sgp26"), Curve::NistP256)?;
//! let now = UNIX_EPOCH + Duration::from_secs(1_750_000_000);
//! let mut card = SoftEuicc::new(identity, EuiccConfig::new(now))?;
//! assert_eq!(card.transmit(&[0x00, 0x70, 0x00, 0x00, 0x01]), [0x01, 0x90, 0x00]);
//! # Ok::<(), lpa_testbed::euicc::EuiccError>(())
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod apdu;
mod config;
mod crl;
mod es10;
mod load;
mod profile_package;
mod profiles;
mod session;
pub mod signed_data;
mod state;

use std::time::SystemTime;

use lpa_core::der::Decode;
use lpa_core::ids::{Eid, Iccid};
use lpa_core::messages::{ProfileClass, StoreMetadataRequest};

pub use config::{EuiccConfig, EuiccError, EuiccIdentity};

use crate::card::Card;
use apdu::{FrontEnd, FrontEndConfig};
use es10::Es10Core;
use session::Session;
use state::CardState;

/// A profile installed on a [`SoftEuicc`], for tests to inspect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstalledProfile {
    /// ICCID.
    pub iccid: Iccid,
    /// ISD-P AID.
    pub isdp_aid: Vec<u8>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The nickname.
    pub nickname: Option<String>,
    /// The profile class (operational when the metadata names none).
    pub class: ProfileClass,
    /// The StoreMetadataRequest (`BF25`) it was installed with.
    pub metadata: Vec<u8>,
    /// The unprotected profile package (the deciphered `86` segments).
    pub profile_package: Vec<u8>,
}

/// A software eUICC: implements [`Card`] (raw APDUs in, data + SW out).
pub struct SoftEuicc {
    front_end: FrontEnd,
    core: Es10Core,
}

impl std::fmt::Debug for SoftEuicc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftEuicc")
            .field("eid", &self.core.identity.eid)
            .field("profiles", &self.core.state.profiles.len())
            .field("notifications", &self.core.state.notifications.len())
            .finish_non_exhaustive()
    }
}

impl SoftEuicc {
    /// A card with `identity`. With [`EuiccConfig::state_path`] set, the state saved there is
    /// loaded (a fresh card when the file does not exist yet, which is then created).
    pub fn new(identity: EuiccIdentity, config: EuiccConfig) -> Result<Self, EuiccError> {
        let state = match &config.state_path {
            Some(path) => match CardState::load(path)? {
                Some(state) => state,
                None => {
                    let state = CardState::new(config.default_dp_address.clone());
                    state.save(path)?;
                    state
                }
            },
            None => CardState::new(config.default_dp_address.clone()),
        };
        let front_end = FrontEnd::new(FrontEndConfig {
            isd_r_aid: config.isd_r_aid.clone(),
            ecasd_aid: config.ecasd_aid.clone(),
            response_threshold: config.response_threshold,
            max_request_size: config.max_request_size,
            require_terminal_capability: config.require_terminal_capability,
        });
        Ok(SoftEuicc {
            front_end,
            core: Es10Core {
                identity,
                config,
                state,
                session: Session::Idle,
            },
        })
    }

    /// The EID.
    pub fn eid(&self) -> &Eid {
        &self.core.identity.eid
    }

    /// The identity.
    pub fn identity(&self) -> &EuiccIdentity {
        &self.core.identity
    }

    /// The configuration.
    pub fn config(&self) -> &EuiccConfig {
        &self.core.config
    }

    /// Moves the clock certificates are validated against.
    pub fn set_now(&mut self, now: SystemTime) {
        self.core.config.now = now;
    }

    /// Processes one ES10 request (or one BPP sequence) directly, without the APDU layer:
    /// `Ok(response)` (empty for intermediate BPP sequences) or `Err(status word)`.
    pub fn process_es10(&mut self, request: &[u8]) -> Result<Vec<u8>, u16> {
        use apdu::Es10Handler;
        match self.core.handle_es10(request) {
            apdu::Reply::Data(data) => Ok(data),
            apdu::Reply::Status(sw) => Err(sw),
        }
    }

    /// The TERMINAL CAPABILITY template received since the last reset.
    pub fn terminal_capability(&self) -> Option<&[u8]> {
        self.front_end.terminal_capability()
    }

    /// The logical channels open now (always including 0).
    pub fn open_channels(&self) -> Vec<u8> {
        self.front_end.open_channels()
    }

    /// The installed profiles, in installation order.
    pub fn installed_profiles(&self) -> Vec<InstalledProfile> {
        self.core
            .state
            .profiles
            .iter()
            .filter_map(|p| {
                let metadata = StoreMetadataRequest::from_der(&p.metadata).ok();
                Some(InstalledProfile {
                    iccid: Iccid::from_bcd(&p.iccid).ok()?,
                    isdp_aid: p.isdp_aid.clone(),
                    enabled: p.enabled,
                    nickname: p.nickname.clone(),
                    class: metadata.map_or(ProfileClass::Operational, |m| m.profile_class),
                    metadata: p.metadata.clone(),
                    profile_package: p.package.clone(),
                })
            })
            .collect()
    }

    /// Sequence numbers of the pending notifications.
    pub fn pending_notification_numbers(&self) -> Vec<u32> {
        self.core
            .state
            .notifications
            .iter()
            .map(|n| n.seq_number)
            .collect()
    }
}

impl Card for SoftEuicc {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.front_end.transmit(command, &mut self.core)
    }

    /// Closes every logical channel, forgets selections, TERMINAL CAPABILITY and the download
    /// session; a Bound Profile Package load in progress ends as installFailedDueToInterruption.
    fn reset(&mut self) {
        self.front_end.reset();
        self.core.interrupt_load();
        self.core.session = Session::Idle;
    }
}
