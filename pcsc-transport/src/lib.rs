//! `lpa-pcsc`: the LPA's transport to an eUICC in a PC/SC smart card reader (a USB reader with
//! a removable eUICC, a card maker's test reader, or the testbed's virtual reader).
//!
//! ```text
//!   lpa (ES10 over ApduTransport)
//!        |  transmit(APDU) -> data + SW        (61xx/6Cxx followed by lpa-core)
//!   PcscTransport ---- session thread owning the card handle, a deadline per command
//!        |  SCardTransmit (T=0 or T=1, exclusive access)
//!   libpcsclite  <-- unix socket -->  pcscd  -->  reader driver (CCID, vpcd, ...)  -->  eUICC
//! ```
//!
//! # Requirements
//!
//! Building needs the PC/SC client library: on Debian `libpcsclite-dev` and `pkg-config` (found
//! through pkg-config's `libpcsclite`); macOS and Windows have it built in. Running needs the
//! PC/SC daemon `pcscd` (Debian package `pcscd`) and a reader driver (`libccid` for USB readers,
//! `vsmartcard-vpcd` for the testbed's virtual reader). `scripts/pcsc-setup` installs these and
//! starts pcscd, also in a container without systemd.
//!
//! # Use
//!
//! ```no_run
//! use lpa::transport::ApduTransport;
//! use lpa_core::apdu::ISD_R_AID;
//! use lpa_pcsc::{PcscConfig, PcscTransport, ReaderSelector, list_readers};
//! use std::time::Duration;
//!
//! for reader in list_readers(Duration::from_secs(5))? {
//!     println!("{} (card: {})", reader.name, reader.card_present);
//! }
//! let mut transport = PcscTransport::open(
//!     PcscConfig::new().with_reader(ReaderSelector::name_contains("uTrust")),
//! )?;
//! let (channel, _fci) = transport.open_logical_channel(&ISD_R_AID)?;
//! // ... ES10 commands as STORE DATA on `channel` ...
//! transport.close_logical_channel(channel)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Logical channels use the defaults of [`ApduTransport`](lpa::transport::ApduTransport):
//! MANAGE CHANNEL and SELECT sent as APDUs. pcsc-lite, its CCID driver and vpcd pass `61xx` and
//! `6Cxx` through unchanged on T=0 as on T=1 (no automatic GET RESPONSE), so the LPA core's
//! exchange follows them; a reader that did fetch the data itself would simply answer `9000`
//! with all of it.
//!
//! Every blocking PC/SC call has a deadline (see [`PcscConfig`]): PC/SC has none of its own for
//! transmissions, and a call that misses it cannot be cancelled, so it runs on a helper thread
//! that is left to finish when pcscd answers. Failures are typed in [`PcscError`] and map onto
//! the LPA's [`TransportError`](lpa::transport::TransportError).
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod deadline;
mod error;
mod reader;
mod transport;

pub use error::{PcscError, scard_code_name};
pub use reader::{ReaderInfo, ReaderSelector, list_readers, wait_for_card};
pub use transport::{Access, OnClose, PcscConfig, PcscTransport, PreferredProtocol, Protocol};
