//! `lpa`: the Local Profile Assistant device makers embed.
//!
//! It drives `lpa-core`'s sans-IO procedures over two seams the embedder chooses:
//! an [`transport::ApduTransport`] to the eUICC (AT modem, PC/SC, Android OMAPI, a Kotlin or
//! Swift implementation, the testbed's software eUICC) and an [`http::HttpClient`] to the
//! SM-DP+/SM-DS (the bundled ureq + rustls client that verifies TLS against the GSMA CI roots,
//! or the embedder's own HTTP stack, e.g. a modem's HTTP AT commands).
//!
//! [`Lpa`] is the facade: download, discovery, profile management, notifications and the
//! recovery of a session a crash left open, in one object.
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

pub mod es10;
pub mod http;
pub mod https;
mod lpa;
pub mod storage;
pub mod transport;

pub use lpa::{
    DownloadReport, DownloadRequest, DownloadUi, ErrorKind, Lpa, LpaConfig, LpaError, Progress,
    RetryPolicy, Sleeper, ThreadSleeper,
};
pub use lpa_core::procedures::{
    Answer, DeliveryReport, Installation, NotificationFilter, SessionEnd,
};
