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
//!   tests/ts48.rs   both GSMA TS.48 test profiles (read by path from the shared test data),
//!                   each downloaded over AT+CSIM, installed, notified and its ICCID checked
//!   tests/crash.rs  a child process (the `crash_child` binary, src/bin/crash_child.rs)
//!                   downloading over AT is killed right after PrepareDownload; the next
//!                   start's Lpa::recover ends the session on the card and at the SM-DP+ from
//!                   the FileStore record
//! ```
//!
//! The PC/SC instance needs pcscd with vsmartcard's vpcd (`scripts/pcsc-setup`, which
//! `scripts/check` runs first; the tests only check it is there). Without it those tests fail,
//! they never skip. The TS.48 downloads need `../shared/testdata/profiles` beside the
//! repository and fail without it, unless `LPA_SKIP_TS48=1` skips them on purpose.
#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lpa::es10::SegmentSize;
use lpa::https::{BundledTrust, HttpsClient, HttpsConfig};
use lpa::storage::SessionStore;
use lpa::{Lpa, LpaConfig};
use lpa_at::{AccessMode, AtOptions, AtTransport};
use lpa_testbed::pki::DEFAULT_SMDP_HOST;

/// The longest any single wait of the harness may take.
pub const STEP: Duration = Duration::from_secs(20);

/// An HTTPS client trusting `ci` only, with the SM-DP+ name resolved to `addr`.
///
/// # Panics
///
/// When the client cannot be built (a test harness: a failure is the test's failure).
pub fn https_client(addr: std::net::SocketAddr, ci: &[u8]) -> HttpsClient {
    HttpsConfig::new()
        .bundled_cis(BundledTrust::None)
        .add_root(ci.to_vec())
        .resolve(DEFAULT_SMDP_HOST, 443, addr)
        .connect_timeout(Duration::from_secs(10))
        .response_timeout(STEP)
        .build()
        .unwrap_or_else(|e| panic!("HTTPS client: {e}"))
}

/// An `Lpa` over an AT modem at `path` in `mode`; the transport lowers the LPA's STORE DATA
/// segment size through the shared handle when the modem refuses long APDUs.
///
/// # Panics
///
/// When the port cannot be opened or the `Lpa` not built.
pub fn lpa_on_modem(
    path: &Path,
    mode: AccessMode,
    http: Arc<dyn lpa::http::HttpClient>,
    store: Box<dyn SessionStore>,
) -> Lpa {
    let mut at = AtTransport::open(
        &path.to_string_lossy(),
        AtOptions::new()
            .with_mode(mode)
            .with_command_timeout(Duration::from_secs(5))
            .with_long_timeout(STEP),
    )
    .unwrap_or_else(|e| panic!("AT transport on {}: {e}", path.display()));
    let segment = SegmentSize::new(at.max_apdu_data().unwrap_or(255))
        .unwrap_or_else(|e| panic!("segment size: {e}"));
    at.share_segment_size(segment.clone());
    Lpa::new(
        Box::new(at),
        http,
        store,
        LpaConfig::new().with_segment_size(segment),
    )
    .unwrap_or_else(|e| panic!("Lpa: {e}"))
}

/// What `tests/crash.rs` and its child process (`src/bin/crash_child.rs`) agree on: the
/// environment variables the parent sets and the line the child prints when it is stuck.
pub mod crash {
    use std::time::Duration;

    /// The emulated modem's pty.
    pub const MODEM: &str = "LPA_E2E_CRASH_MODEM";
    /// The SM-DP+'s `127.0.0.1:<port>`.
    pub const SMDP: &str = "LPA_E2E_CRASH_SMDP";
    /// The test CI certificate (DER, upper-case hex).
    pub const CI: &str = "LPA_E2E_CRASH_CI";
    /// The session store's file.
    pub const STORE: &str = "LPA_E2E_CRASH_STORE";
    /// The order's matching ID.
    pub const MATCHING_ID: &str = "LPA_E2E_CRASH_MATCHING_ID";
    /// What the child prints once it is stuck after PrepareDownload.
    pub const READY: &str = "LPA-E2E-CRASH-CHILD-READY";
    /// How long the child waits to be killed before it gives up (every wait has a deadline).
    pub const CHILD_LIFETIME: Duration = Duration::from_secs(120);
}
