//! How an [`Es10Client`](super::Es10Client) finds the ISD-R and talks to it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lpa_core::apdu::{DEFAULT_SEGMENT_SIZE, KNOWN_ISD_R_AIDS, MAX_SHORT_DATA, TerminalCapability};

use super::error::Es10Error;

/// When the client sends TERMINAL CAPABILITY (ETSI TS 102 221 §11.1.19) with the
/// eUICC-related capabilities (`83`, §11.1.19.2.4) of an LPAd.
///
/// ETSI TS 102 221 wants a terminal with eUICC (SGP.22) support to send it "during a new card
/// session before the first application selection". An LPA rarely owns the card session: the
/// modem or the OS started it and may already have sent one. Most eUICCs answer ES10 without
/// it; some refuse STORE DATA (`6985`, conditions of use not satisfied) until they received
/// it, which is what the testbed's SoftEuicc does with `require_terminal_capability`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminalCapabilityMode {
    /// Never send it.
    Never,
    /// Send it on the session's channel only when the card refuses the first STORE DATA block
    /// of a command with `6985`, then send that command again, once. A card that has no need
    /// for it never sees it.
    #[default]
    OnDemand,
    /// Send it on the session's logical channel right after selecting the ISD-R. Works with
    /// every transport, including those that give the LPA no access to the basic channel
    /// (AT+CCHO/CGLA, Android OMAPI).
    AfterSelect,
    /// Send it on the basic channel before opening the logical channel, as ETSI TS 102 221
    /// asks ("before the first application selection"). Needs a transport that passes basic
    /// channel commands (PC/SC, AT+CSIM).
    BeforeOpen,
}

/// A STORE DATA segment size shared between a client and whoever may need to lower it while
/// the session runs, typically the transport: an AT modem that refuses long `AT+CSIM` lines
/// lowers it and fails the APDU with `TransportError::Refused`, and the client sends the
/// command again in smaller blocks when that was safe (see
/// [`Es10Client::segment_size_handle`](super::Es10Client::segment_size_handle)).
///
/// Clones share the value.
#[derive(Clone, Debug)]
pub struct SegmentSize(Arc<AtomicUsize>);

impl SegmentSize {
    /// A segment size of `size` data bytes per STORE DATA block (1..=255).
    pub fn new(size: usize) -> Result<Self, Es10Error> {
        check_segment_size(size)?;
        Ok(SegmentSize(Arc::new(AtomicUsize::new(size))))
    }

    /// The current size.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Changes the size for the commands that start from now on (1..=255).
    pub fn set(&self, size: usize) -> Result<(), Es10Error> {
        check_segment_size(size)?;
        self.0.store(size, Ordering::Relaxed);
        Ok(())
    }
}

impl Default for SegmentSize {
    fn default() -> Self {
        SegmentSize::unchecked(DEFAULT_SEGMENT_SIZE)
    }
}

impl SegmentSize {
    /// A handle holding `size` as given; exchanges refuse a size outside 1..=255.
    pub(crate) fn unchecked(size: usize) -> Self {
        SegmentSize(Arc::new(AtomicUsize::new(size)))
    }
}

pub(crate) fn check_segment_size(size: usize) -> Result<(), Es10Error> {
    if (1..=MAX_SHORT_DATA).contains(&size) {
        Ok(())
    } else {
        Err(Es10Error::invalid(format!(
            "STORE DATA segment size {size} is outside 1..=255"
        )))
    }
}

/// Settings of an [`Es10Client`](super::Es10Client). Start from [`Es10Config::new`] (or
/// `default()`) and change what you need with the `with_*` methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Es10Config {
    /// ISD-R AIDs to try, in order; the first that selects is used and remembered for the next
    /// [`open`](super::Es10Client::open). Default: the GSMA AID, then the vendor AIDs of
    /// [`KNOWN_ISD_R_AIDS`].
    pub isd_r_aids: Vec<Vec<u8>>,
    /// When to send TERMINAL CAPABILITY.
    pub terminal_capability_mode: TerminalCapabilityMode,
    /// What TERMINAL CAPABILITY announces; default [`TerminalCapability::LPAD`]
    /// (`A9 05 81 00 83 01 07`).
    pub terminal_capability: TerminalCapability,
    /// STORE DATA segment size at the start of the session (1..=255, default 255).
    pub segment_size: usize,
    /// The longest ES10 response accepted, in bytes (default 256 KiB: a notification list with
    /// certificates, or profile lists with icons, reach tens of kilobytes).
    pub max_response_len: usize,
    /// Log EIDs, ICCIDs, matching IDs and unmasked APDUs in clear. Off by default: turn it on
    /// only on a developer's own device.
    pub log_sensitive: bool,
}

impl Es10Config {
    /// The defaults: every known ISD-R AID, TERMINAL CAPABILITY on demand, segments of 255
    /// bytes, 256 KiB responses, identifiers masked in logs.
    pub fn new() -> Self {
        Es10Config {
            isd_r_aids: KNOWN_ISD_R_AIDS.iter().map(|a| a.to_vec()).collect(),
            terminal_capability_mode: TerminalCapabilityMode::default(),
            terminal_capability: TerminalCapability::LPAD,
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_response_len: 256 * 1024,
            log_sensitive: false,
        }
    }

    /// Only this ISD-R AID (a card known to use a vendor AID, or one remembered from an earlier
    /// session).
    pub fn with_isd_r_aid(mut self, aid: &[u8]) -> Self {
        self.isd_r_aids = vec![aid.to_vec()];
        self
    }

    /// These ISD-R AIDs, tried in order.
    pub fn with_isd_r_aids(mut self, aids: Vec<Vec<u8>>) -> Self {
        self.isd_r_aids = aids;
        self
    }

    /// When to send TERMINAL CAPABILITY.
    pub fn with_terminal_capability_mode(mut self, mode: TerminalCapabilityMode) -> Self {
        self.terminal_capability_mode = mode;
        self
    }

    /// What TERMINAL CAPABILITY announces.
    pub fn with_terminal_capability(mut self, capability: TerminalCapability) -> Self {
        self.terminal_capability = capability;
        self
    }

    /// The STORE DATA segment size to start with (1..=255, checked by
    /// [`Es10Client::open`](super::Es10Client::open)).
    pub fn with_segment_size(mut self, segment_size: usize) -> Self {
        self.segment_size = segment_size;
        self
    }

    /// The longest ES10 response accepted.
    pub fn with_max_response_len(mut self, max_response_len: usize) -> Self {
        self.max_response_len = max_response_len;
        self
    }

    /// Log identifiers and APDUs in clear.
    pub fn with_log_sensitive(mut self, log_sensitive: bool) -> Self {
        self.log_sensitive = log_sensitive;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Es10Error> {
        check_segment_size(self.segment_size)?;
        if self.isd_r_aids.is_empty() {
            return Err(Es10Error::invalid("no ISD-R AID configured"));
        }
        if let Some(aid) = self
            .isd_r_aids
            .iter()
            .find(|a| a.is_empty() || a.len() > 16)
        {
            return Err(Es10Error::invalid(format!(
                "an AID of {} bytes is outside 1..=16",
                aid.len()
            )));
        }
        if self.max_response_len == 0 {
            return Err(Es10Error::invalid("max_response_len is 0"));
        }
        Ok(())
    }
}

impl Default for Es10Config {
    fn default() -> Self {
        Self::new()
    }
}
