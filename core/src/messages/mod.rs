//! SGP.22 v2.5 ES10a/b/c messages and the ES8+ structures the LPA reads, as DER types.
//!
//! Every type decodes tolerantly (unknown elements skipped, see [`crate::der`]) and encodes
//! canonical DER. Names follow the ASN.1 module `RSPDefinitions` (SGP.22 Annex H) in Rust
//! case; each type's doc gives its tag. Top-level requests and responses implement
//! [`Encode`](crate::der::Encode)/[`Decode`](crate::der::Decode): `to_der()` gives the bytes of
//! one ES10 command (to be sent with [`crate::apdu::StoreDataExchange`]) and `from_der()` reads
//! the card's answer.
//!
//! | file | SGP.22 | what |
//! |---|---|---|
//! | [`common`] | §2.4, Annex H | versions, ICCID, profile class/state, bit flags, OperatorId |
//! | [`euicc_info`] | §5.7.8, §5.7.9 (ES10b) | EUICCInfo1/2, DeviceInfo, challenge, EID |
//! | [`download`] | §5.7.13–§5.7.14, §5.7.4 (ES10b) | AuthenticateServer, PrepareDownload, CancelSession |
//! | [`bpp`] | §5.5 (ES8+), §5.7.6 | BoundProfilePackage and its parts, ProfileInstallationResult |
//! | [`notifications`] | §5.7.10, §5.7.11 (ES10b) | ListNotification, RetrieveNotificationsList, NotificationSent |
//! | [`es9_asn1`] | §6.6 (ES9+/ES11 ASN.1 binding) | InitiateAuthentication, AuthenticateClient, GetBoundProfilePackage, HandleNotification, CancelSession, ES11 events |
//! | [`profiles`] | §5.7.15–§5.7.22 (ES10c) | profiles, enable/disable/delete, nickname, addresses, RAT, memory reset, CRL |

pub mod bpp;
pub mod common;
pub mod download;
pub mod es9_asn1;
pub mod euicc_info;
pub mod notifications;
pub mod profiles;

pub use bpp::*;
pub use common::*;
pub use download::*;
pub use es9_asn1::*;
pub use euicc_info::*;
pub use notifications::*;
pub use profiles::*;

#[cfg(test)]
mod tests;
