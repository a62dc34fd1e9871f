//! ES10a/b/c: the LPA's typed calls to the eUICC's ISD-R (SGP.22 §5.7).
//!
//! ```text
//!   Es10Client::enable(id)            typed request (lpa_core::messages), DER
//!        |                                      |
//!        v                                      v
//!   one logical channel to the ISD-R    StoreDataExchange: STORE DATA blocks, 61xx / 6Cxx
//!   (opened once per session,                   |
//!    AID probed and remembered)                 v
//!        |                              ApduTransport::transmit (AT, PC/SC, OMAPI, ...)
//!        v
//!   response TLV -> decoded -> result code -> Ok / Es10Error::CardRefused
//! ```
//!
//! - [`Es10Client`]: the session (channel, ISD-R AID, TERMINAL CAPABILITY, segment size) and
//!   one method per ES10 function; [`Es10Client::call`] for raw DER.
//! - [`Es10Error`]: what went wrong, grouped by who is at fault, with the card's status word
//!   or ES10 result code.
//! - [`policy`]: the profile policy rules (SGP.22 §2.9) checked before a command is sent, and
//!   the install-time check against the Rules Authorisation Table.
//! - [`redact`]: masking of EIDs, ICCIDs and matching IDs in logs, for every module of the LPA.

mod client;
mod codes;
mod config;
mod error;
pub mod policy;
pub mod redact;

pub use client::{
    BppLoadOutcome, Es10Client, EuiccInfo2Report, MAX_NICKNAME_LEN, RawResponse,
    RetrievedNotification,
};
pub use codes::{authenticate_error_meaning, cancel_session_error_meaning, download_error_meaning};
pub use config::{Es10Config, SegmentSize, TerminalCapabilityMode};
pub use error::{Es10Command, Es10Error, PolicyRule};
