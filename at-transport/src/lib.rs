//! `lpa-at`: the LPA's APDU transport over a cellular modem's AT command port.
//!
//! ```text
//!   lpa (Es10Client) --ApduTransport--> AtTransport --------------------> modem ----> eUICC
//!                                        | mode: AT+CSIM  (LPA's channels: MANAGE CHANNEL,
//!                                        |                 SELECT, STORE DATA inside CSIM)
//!                                        | mode: AT+CCHO / AT+CGLA / AT+CCHC (modem's channels)
//!                                        | profile: chosen by AT+CGMI / AT+CGMM (MODEMS.md)
//!                                      AtEngine: command line out, lines in, deadline,
//!                                        echo and unsolicited codes skipped, typed errors
//!                                      any Read + Write: serialport, a pty, an in-memory script
//! ```
//!
//! # Use
//!
//! ```no_run
//! use lpa::es10::{Es10Client, Es10Config};
//! use lpa_at::{AtOptions, AtTransport, ModemCache};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache_path = std::path::Path::new("/var/lib/lpa/modems.json");
//! let mut cache = ModemCache::load(cache_path)?;
//! let modem = AtTransport::open("/dev/ttyUSB2", AtOptions::new().with_cache(cache.clone()))?;
//! // The ES10 client segments STORE DATA; the transport lowers the client's segment size
//! // when the modem refuses a block (module `segment`).
//! let mut config = Es10Config::new();
//! config.segment_size = modem.max_apdu_data().unwrap_or(255);
//! let mut client = Es10Client::new(modem, config);
//! let handle = client.segment_size_handle();
//! client.transport_mut().share_segment_size(handle);
//! client.open()?;
//! let eid = client.get_eid()?;
//! client.close()?;
//! client.transport().remember_in(&mut cache);
//! cache.save(cache_path)?;
//! # let _ = eid;
//! # Ok(())
//! # }
//! ```
//!
//! # Choosing the access mode
//!
//! Never by `=?` test commands: Fibocom and some Quectel firmware do not answer them, Sierra
//! refuses `AT+CGLA=?` although `AT+CGLA` works. The first
//! [`open_logical_channel`](lpa::transport::ApduTransport::open_logical_channel) tries real
//! commands:
//!
//! 1. The mode is [`AtOptions::with_mode`] if forced (nothing else is tried); else the mode
//!    remembered for this modem ([`AtOptions::with_cache`]); else the profile's
//!    [`ModemProfile::first_mode`]. The other mode is the fallback.
//! 2. **CCHO mode**: `AT+CCHO="<AID>"`. `+CCHO: <id>`, a bare `<id>` line, and 16-digit session
//!    handles are all accepted; `<id>` is later quoted exactly as given. **CSIM mode**: MANAGE
//!    CHANNEL open, then SELECT of the AID on the new channel, both inside `AT+CSIM`.
//! 3. A refusal by the modem of that mode's commands (`ERROR` after the retries,
//!    `+CME ERROR`, `+CMS ERROR`, an unreadable answer, or a status word from MANAGE CHANNEL,
//!    or `6881`/`6D00`/`6E00` on the SELECT) means "this mode does not work here": any channel
//!    it opened is closed and the other mode is tried. What the card says about the AID
//!    (`6A82`), a deadline or a broken link ends the attempt with that error.
//! 4. The mode that opens a channel is kept for the session (and reported by
//!    [`AtTransport::memory`] for the cache). If neither works, the error is
//!    [`AtError::NoAccessMode`] with both modes' reasons
//!    ([`TransportError::ChannelUnavailable`](lpa::transport::TransportError::ChannelUnavailable)).
//!
//! In CCHO mode the modem owns the CLA channel bits (3GPP TS 27.007 §8.45). The transport
//! hands the LPA a channel number — the card's channel when `+CCHO` reports a plain channel
//! number, the lowest free number for a session handle — and routes each `transmit` by the
//! channel bits of its CLA to the matching session. For a session handle the CLA goes out with
//! channel bits zero, for the modem to fill in. The basic channel goes through `AT+CSIM`.
//!
//! # Deadlines and retries
//!
//! Every command has a deadline ([`AtOptions::with_command_timeout`]); STORE DATA and GET
//! RESPONSE of a profile load (from a `BF36` block to the next ES10 command) and every command
//! while a [`LongOperation`] is on get the long one ([`AtOptions::with_long_timeout`]). A
//! missed deadline is [`AtError::Timeout`], and the next command first lets the line go quiet
//! and discards the late answer. Plain `ERROR`s (and "SIM busy") are retried
//! ([`AtOptions::with_retries`]) only where repeating is harmless: housekeeping, SELECT,
//! STATUS, GET DATA, TERMINAL CAPABILITY, and the channel opening (MANAGE CHANNEL open,
//! `AT+CCHO`; at worst a channel the modem claimed to refuse stays open until the card is
//! reset). A STORE DATA or GET RESPONSE failure goes back to the ES10 client. When the modem
//! refused a block for its size, the transport has lowered the client's shared segment size
//! first, and the client sends the command again from block 0 if the card cannot have
//! executed it (module [`segment`]).
//!
//! # Errors
//!
//! [`AtError`] keeps the modem's words (`+CME ERROR: operation not supported`) and converts
//! into the LPA's [`TransportError`](lpa::transport::TransportError).
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cache;
pub mod engine;
pub mod error;
pub mod profile;
mod response;
pub mod segment;
mod transport;

pub use cache::{CacheError, ModemCache, ModemMemory};
pub use engine::AtEngine;
pub use error::{AtError, CmeError};
pub use profile::{AccessMode, ModemIdentity, ModemProfile, SimRefresh};
pub use response::Expect;
pub use transport::{AtOptions, AtTransport, LongOperation, LongOperationGuard};
