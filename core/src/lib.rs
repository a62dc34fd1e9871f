//! `lpa-core`: the sans-IO heart of an SGP.22 (v2.5) Local Profile Assistant.
//!
//! This crate does no I/O, owns no threads and reads no clock. It turns SGP.22 messages into
//! bytes and bytes into messages, and drives the download, discovery, notification and
//! recovery procedures as state machines ([`procedures`]) that the caller feeds with card and
//! server responses.
//!
//! ```text
//!            +--------------------- lpa-core (this crate) ----------------------+
//!  app  -->  | activation codes | ES10 messages (DER) | ES9+/ES11 JSON bodies    |
//!            |        tlv: zero-copy BER-TLV  |  apdu: STORE DATA, 61xx/6Cxx   |
//!            +-----------^--------------------------------------^--------------+
//!                        | APDU bytes                            | JSON bytes
//!               transport (AT, OMAPI, PC/SC, ...)        HTTPS client (ureq, ...)
//! ```
//!
//! Layers and their allocation needs:
//! - [`tlv`], [`apdu`], [`bpp`], [`activation`] and [`ids`] work on caller-owned buffers and
//!   never allocate (proven by `tests/no_alloc.rs`, a counting global allocator); they are
//!   available without the `alloc` feature, for microcontroller firmware.
//! - [`der`], [`messages`], [`es9`] and [`procedures`] build owned values and need `alloc`
//!   (on by default).
//! - `std` only adds `std::error::Error` impls.
//!
//! Every decoder of card or server data skips unknown elements: the SGP.22 ASN.1 module is
//! `EXTENSIBILITY IMPLIED`, so newer eUICCs and SM-DP+ servers may add fields anywhere a
//! SEQUENCE ends (see [`der`]).
#![no_std]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod activation;
pub mod apdu;
pub mod bpp;
pub mod ids;
pub mod tlv;

#[cfg(feature = "alloc")]
pub mod der;
#[cfg(feature = "alloc")]
pub mod es9;
#[cfg(feature = "alloc")]
pub mod messages;
#[cfg(feature = "alloc")]
pub mod procedures;
