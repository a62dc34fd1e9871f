//! `lpa-e2e`: the LPA end to end, across its crates, against the testbed.
//!
//! ```text
//!   tests/e2e.rs    one suite of scenarios (download + enable + notifications + disable +
//!                   delete; download with a confirmation code; a declined profile), run once
//!                   per transport:
//!                     soft_euicc    Lpa -> ApduTransport adapter -> SoftEuicc
//!                     at_csim       Lpa -> lpa_at::AtTransport (AT+CSIM) -> pty -> Modem -> SoftEuicc
//!                     at_ccho_cgla  Lpa -> lpa_at::AtTransport (AT+CCHO/CGLA) -> pty -> Modem -> SoftEuicc
//!                     pcsc          Lpa -> lpa_pcsc::PcscTransport -> pcscd -> vpcd -> VirtualCard -> SoftEuicc
//!                   with the test SM-DP+ over real HTTPS on 127.0.0.1 (lpa::https::HttpsClient)
//!   tests/crash.rs  a child process (this test binary again) downloading over AT is killed
//!                   right after PrepareDownload; the next start's Lpa::recover ends the session
//!                   on the card and at the SM-DP+ from the FileStore record
//! ```
//!
//! The PC/SC instance needs pcscd with vsmartcard's vpcd (`scripts/pcsc-setup`, which the tests
//! also run when the reader is missing); without it those tests fail, they never skip.
#![warn(missing_docs)]
