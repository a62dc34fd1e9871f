//! What the software eUICC keeps across power cycles and process restarts: installed profiles
//! (with the profile package they were loaded from), pending notifications, counters, the
//! default SM-DP+ address and loaded CRLs. Stored as JSON, written atomically.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::EuiccError;

/// Version of the JSON layout, bumped when it changes incompatibly.
pub(crate) const STATE_FORMAT: u32 = 1;

/// The persistent state of one card.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CardState {
    /// Layout version ([`STATE_FORMAT`]).
    pub format: u32,
    /// Installed profiles, in installation order.
    pub profiles: Vec<StoredProfile>,
    /// Pending notifications, in sequence-number order.
    pub notifications: Vec<StoredNotification>,
    /// The sequence number the next notification gets (SGP.22 §5.7.10: monotonic).
    pub next_seq_number: u32,
    /// The number the next ISD-P AID is built from.
    pub next_isdp_number: u32,
    /// The default SM-DP+ address (SGP.22 §5.7.4), `None` when unset.
    pub default_dp_address: Option<String>,
    /// CRLs loaded with LoadCRL, one per CI.
    pub crls: Vec<StoredCrl>,
}

impl CardState {
    /// A factory-fresh card.
    pub fn new(default_dp_address: Option<String>) -> Self {
        CardState {
            format: STATE_FORMAT,
            profiles: Vec::new(),
            notifications: Vec::new(),
            next_seq_number: 1,
            next_isdp_number: 0x10,
            default_dp_address,
            crls: Vec::new(),
        }
    }

    /// Reads the state file at `path`, or `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Self>, EuiccError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(EuiccError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let state: CardState = serde_json::from_slice(&bytes).map_err(|e| EuiccError::State {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        if state.format != STATE_FORMAT {
            return Err(EuiccError::State {
                path: path.to_path_buf(),
                detail: format!(
                    "state format {} is not the supported {STATE_FORMAT}",
                    state.format
                ),
            });
        }
        Ok(Some(state))
    }

    /// Writes the state to `path` atomically: a temporary file in the same directory, synced,
    /// then renamed over the old one, so a crash leaves either the old or the new state.
    pub fn save(&self, path: &Path) -> Result<(), EuiccError> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| EuiccError::State {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let tmp = temp_path(path);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EuiccError::Io { path, source }
        };
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&json).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io(path))
    }

    /// Takes the next notification sequence number.
    pub fn take_seq_number(&mut self) -> u32 {
        let n = self.next_seq_number;
        self.next_seq_number = self.next_seq_number.saturating_add(1);
        n
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// One installed profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredProfile {
    /// ICCID, EF.ICCID coding (10 bytes).
    #[serde(with = "hex_bytes")]
    pub iccid: Vec<u8>,
    /// ISD-P AID.
    #[serde(with = "hex_bytes")]
    pub isdp_aid: Vec<u8>,
    /// Whether this is the enabled profile.
    pub enabled: bool,
    /// The user's nickname.
    pub nickname: Option<String>,
    /// The StoreMetadataRequest (`BF25`) from the `88` segments, as received.
    #[serde(with = "hex_bytes")]
    pub metadata: Vec<u8>,
    /// The ConfigureISDPRequest (`BF24`) from the first `87` segments, as received.
    #[serde(with = "hex_bytes")]
    pub configure_isdp: Vec<u8>,
    /// The SM-DP+ OID (dotted) of the CERT.DPpb.ECDSA that bound the profile.
    pub smdp_oid: String,
    /// The unprotected profile package (the `86` plaintext).
    #[serde(with = "hex_bytes")]
    pub package: Vec<u8>,
}

/// One pending notification, kept as the PendingNotification DER the LPA will forward.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredNotification {
    /// Its sequence number.
    pub seq_number: u32,
    /// `BF37` ProfileInstallationResult or `30` OtherSignedNotification.
    #[serde(with = "hex_bytes")]
    pub pending_notification: Vec<u8>,
}

/// What a loaded CRL left behind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct StoredCrl {
    /// The CI PKID of the CI that signed it.
    #[serde(with = "hex_bytes")]
    pub ci_pkid: Vec<u8>,
    /// Its cRLNumber (big-endian INTEGER content), when it has one.
    pub crl_number: Option<String>,
    /// Serial numbers (hex of the INTEGER content) it revokes.
    pub revoked_serials: Vec<String>,
}

/// Byte strings as lowercase hex in the JSON file.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
