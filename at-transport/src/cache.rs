//! What the transport learned about each modem it met, for the caller to keep between runs so
//! that the next session starts in the right mode and segment size without trying.
//!
//! ```json
//! {"modems":{"Quectel/EC25":{"mode":"logical_channels","max_apdu_data":null}}}
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::profile::{AccessMode, ModemIdentity};

/// What worked on one modem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModemMemory {
    /// The access mode that opened a channel to the card.
    pub mode: Option<AccessMode>,
    /// The STORE DATA segment size that passed after a larger one failed (see
    /// [`crate::segment`]); `None` if full-size APDUs were never refused.
    pub max_apdu_data: Option<usize>,
}

/// Per-modem memory, keyed by [`ModemIdentity::key`] (`AT+CGMI`/`AT+CGMM`). Serialises to a
/// small JSON document; unknown fields are ignored so older readers accept newer files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModemCache {
    /// Memory by modem key.
    #[serde(default)]
    pub modems: BTreeMap<String, ModemMemory>,
}

/// The cache file could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum CacheError {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// The file is not a cache document.
    Format(serde_json::Error),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Io(e) => write!(f, "modem cache file: {e}"),
            CacheError::Format(e) => write!(f, "modem cache file is not valid: {e}"),
        }
    }
}

impl std::error::Error for CacheError {}

impl ModemCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// What is remembered about `identity`.
    pub fn get(&self, identity: &ModemIdentity) -> Option<&ModemMemory> {
        self.modems.get(&identity.key())
    }

    /// Remembers `memory` for `identity`, replacing what was there.
    pub fn insert(&mut self, identity: &ModemIdentity, memory: ModemMemory) {
        self.modems.insert(identity.key(), memory);
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        // A map of plain values always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Reads a JSON document written by [`ModemCache::to_json`].
    pub fn from_json(json: &str) -> Result<Self, CacheError> {
        serde_json::from_str(json).map_err(CacheError::Format)
    }

    /// Reads the cache from a file; a missing file is an empty cache.
    pub fn load(path: &Path) -> Result<Self, CacheError> {
        match std::fs::read_to_string(path) {
            Ok(json) => Self::from_json(&json),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(e) => Err(CacheError::Io(e)),
        }
    }

    /// Writes the cache to a file (through a temporary file and a rename, so that a crash
    /// leaves the old or the new cache, never half of one).
    pub fn save(&self, path: &Path) -> Result<(), CacheError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, self.to_json()).map_err(CacheError::Io)?;
        std::fs::rename(&tmp, path).map_err(CacheError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_tolerance() {
        let mut cache = ModemCache::new();
        let q = ModemIdentity::new("Quectel", "EC25");
        cache.insert(
            &q,
            ModemMemory {
                mode: Some(AccessMode::LogicalChannels),
                max_apdu_data: Some(128),
            },
        );
        let json = cache.to_json();
        assert_eq!(
            json,
            r#"{"modems":{"Quectel/EC25":{"mode":"logical_channels","max_apdu_data":128}}}"#
        );
        assert_eq!(ModemCache::from_json(&json).unwrap(), cache);
        let newer = r#"{"version":2,"modems":{"A/B":{"mode":"csim","max_apdu_data":null,"x":1}}}"#;
        let read = ModemCache::from_json(newer).unwrap();
        assert_eq!(
            read.get(&ModemIdentity::new("A", "B")).unwrap().mode,
            Some(AccessMode::Csim)
        );
        assert!(ModemCache::from_json("\"x\"").is_err());
        assert!(ModemCache::from_json(r#"{"modems":5}"#).is_err());
    }

    #[test]
    fn file_round_trip() {
        let dir = std::env::temp_dir().join(format!("lpa-at-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("modems.json");
        assert_eq!(ModemCache::load(&path).unwrap(), ModemCache::new());
        let mut cache = ModemCache::new();
        cache.insert(&ModemIdentity::new("x", "y"), ModemMemory::default());
        cache.save(&path).unwrap();
        assert_eq!(ModemCache::load(&path).unwrap(), cache);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
