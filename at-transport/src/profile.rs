//! What we know about modem families, as data: which access mode to try first, APDU size
//! limits, and whether the SIM must be power-cycled after a profile switch. The facts and their
//! public sources are in `MODEMS.md` beside this crate; keep the two in step.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the transport reaches the card through the modem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    /// `AT+CSIM` (3GPP TS 27.007 §8.17): raw APDUs on any channel; the LPA opens and closes
    /// logical channels itself with MANAGE CHANNEL and SELECT.
    Csim,
    /// `AT+CCHO` / `AT+CGLA` / `AT+CCHC` (27.007 §8.45, §8.43, §8.46): the modem opens the
    /// channel, selects the application and owns the channel bits of CLA.
    LogicalChannels,
}

impl AccessMode {
    /// The other mode.
    pub const fn other(self) -> AccessMode {
        match self {
            AccessMode::Csim => AccessMode::LogicalChannels,
            AccessMode::LogicalChannels => AccessMode::Csim,
        }
    }
}

impl fmt::Display for AccessMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessMode::Csim => "AT+CSIM",
            AccessMode::LogicalChannels => "AT+CCHO/CGLA/CCHC",
        })
    }
}

/// How to make the modem read the card again after a profile was enabled or disabled, for
/// modems that neither react to the eUICC's REFRESH proactive command nor notice the change
/// otherwise (the enabled profile then never attaches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimRefresh {
    /// Nothing: the modem handles the eUICC's REFRESH itself (the default).
    #[default]
    None,
    /// `AT+CFUN=0` then `AT+CFUN=1` (27.007 §8.2): minimum functionality powers the SIM down,
    /// full functionality powers it up and re-reads it.
    CfunCycle,
    /// `AT+CFUN=1,1`: full functionality with a reset of the MT first. On many modems this
    /// restarts the whole module and its USB serial device disappears for a while: reopen the
    /// transport afterwards.
    CfunReset,
}

/// The modem's identity as `AT+CGMI` and `AT+CGMM` report it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModemIdentity {
    /// `AT+CGMI`, e.g. `Quectel`, `Sierra Wireless, Incorporated`.
    pub manufacturer: String,
    /// `AT+CGMM`, e.g. `EC25`, `EM7590`.
    pub model: String,
}

impl ModemIdentity {
    /// An identity from its two strings.
    pub fn new(manufacturer: impl Into<String>, model: impl Into<String>) -> Self {
        ModemIdentity {
            manufacturer: manufacturer.into(),
            model: model.into(),
        }
    }

    /// The key a [`crate::ModemCache`] files this modem under: `manufacturer/model`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.manufacturer.trim(), self.model.trim())
    }
}

impl fmt::Display for ModemIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.manufacturer.trim(), self.model.trim())
    }
}

/// How the transport treats one modem family. Chosen by [`ModemProfile::for_modem`] from
/// `AT+CGMI`/`AT+CGMM`, or given by the caller ([`crate::AtOptions::with_profile`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModemProfile {
    /// A name for logs (`Quectel`, `generic 3GPP TS 27.007`).
    pub name: String,
    /// The access mode tried first; the other one is tried when this one fails.
    pub first_mode: AccessMode,
    /// The most data bytes per APDU known to pass this modem, if it is below 255: the first
    /// STORE DATA segment size (see [`crate::segment`]).
    pub max_apdu_data: Option<usize>,
    /// What to do after a profile switch ([`crate::AtTransport::refresh_sim`]).
    pub refresh: SimRefresh,
}

impl ModemProfile {
    /// A modem we know nothing about: logical channels first (the 3GPP way, and what most
    /// current modules support), `AT+CSIM` as the fallback, full-size APDUs, no SIM refresh.
    pub fn generic() -> Self {
        ModemProfile {
            name: "generic 3GPP TS 27.007".to_owned(),
            first_mode: AccessMode::LogicalChannels,
            max_apdu_data: None,
            refresh: SimRefresh::None,
        }
    }

    /// The profile for a modem identified by `AT+CGMI`/`AT+CGMM` (see `MODEMS.md`).
    pub fn for_modem(identity: &ModemIdentity) -> Self {
        let maker = identity.manufacturer.to_ascii_lowercase();
        let model = identity.model.to_ascii_uppercase();
        let named = |name: &str, first_mode, refresh| ModemProfile {
            name: name.to_owned(),
            first_mode,
            max_apdu_data: None,
            refresh,
        };
        if maker.contains("quectel") {
            // EG25: AT+CSIM opens channels but fails other commands on them; CCHO/CGLA work.
            // EG916Q: the SIM must be power-cycled with AT+CFUN after a switch.
            let refresh = if model.contains("EG916") {
                SimRefresh::CfunCycle
            } else {
                SimRefresh::None
            };
            named("Quectel", AccessMode::LogicalChannels, refresh)
        } else if maker.contains("sierra") {
            named(
                "Sierra Wireless",
                AccessMode::LogicalChannels,
                SimRefresh::None,
            )
        } else if maker.contains("fibocom") {
            named("Fibocom", AccessMode::LogicalChannels, SimRefresh::None)
        } else if maker.contains("simcom") || maker.contains("simtech") {
            // SIM7600: no eSIM logical-channel commands reported to work; AT+CSIM does. The
            // modem does not notice a changed profile until the SIM is power-cycled.
            named("SIMCom", AccessMode::Csim, SimRefresh::CfunCycle)
        } else if maker.contains("telit") {
            named("Telit", AccessMode::LogicalChannels, SimRefresh::None)
        } else if maker.contains("u-blox") || maker.contains("ublox") {
            named("u-blox", AccessMode::LogicalChannels, SimRefresh::None)
        } else if maker.contains("huawei") {
            named("Huawei", AccessMode::LogicalChannels, SimRefresh::None)
        } else {
            ModemProfile::generic()
        }
    }

    /// The same profile with another first mode.
    pub fn with_first_mode(mut self, mode: AccessMode) -> Self {
        self.first_mode = mode;
        self
    }

    /// The same profile with an APDU data limit (clamped to 1..=255).
    pub fn with_max_apdu_data(mut self, max: usize) -> Self {
        self.max_apdu_data = Some(max.clamp(1, 255));
        self
    }

    /// The same profile with another SIM refresh method.
    pub fn with_refresh(mut self, refresh: SimRefresh) -> Self {
        self.refresh = refresh;
        self
    }

    /// The same profile under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl Default for ModemProfile {
    fn default() -> Self {
        Self::generic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_manufacturer() {
        let p = |m: &str, model: &str| ModemProfile::for_modem(&ModemIdentity::new(m, model));
        assert_eq!(p("Quectel", "EC25").name, "Quectel");
        assert_eq!(p("Quectel", "EC25").refresh, SimRefresh::None);
        assert_eq!(p("Quectel", "EG916Q-GL").refresh, SimRefresh::CfunCycle);
        assert_eq!(
            p("Sierra Wireless, Incorporated", "EM7590").first_mode,
            AccessMode::LogicalChannels
        );
        assert_eq!(
            p("SIMCOM INCORPORATED", "SIMCOM_SIM7600G-H").first_mode,
            AccessMode::Csim
        );
        assert_eq!(p("Fibocom Wireless Inc.", "FM350-GL").name, "Fibocom");
        assert_eq!(p("Telit", "LE910C4-NF").name, "Telit");
        assert_eq!(p("u-blox", "SARA-R510S").name, "u-blox");
        assert_eq!(p("huawei", "ME909s-120").name, "Huawei");
        assert_eq!(p("open-lpa", "testbed-modem"), ModemProfile::generic());
        assert_eq!(
            ModemIdentity::new(" Quectel ", "EC25\t").key(),
            "Quectel/EC25"
        );
        assert_eq!(
            ModemProfile::generic()
                .with_max_apdu_data(1000)
                .max_apdu_data,
            Some(255)
        );
    }
}
