//! What the test suites of every crate share: where the shared test data lies (the GSMA TS.48
//! profiles), whether PC/SC with vpcd is available, and the operator's ES2+ order.
//!
//! ```text
//!   ts48_dir / ts48_profiles   <workspace>/../shared/testdata/profiles, read by path only
//!   require_pcsc_vpcd          pcscd's socket + vpcd listening on 127.0.0.1:35963, else panic
//!   order_profile              ES2+ downloadOrder + confirmOrder -> matching ID
//!                                 over an Es2Endpoint: the in-process Smdp, or any
//!                                 `Fn(path, body) -> (status, body)` (an HTTPS client)
//! ```
//!
//! A test step that cannot run fails: the helpers here panic with what is missing and how to
//! get it, never skip quietly. The only way around the TS.48 profiles is the explicit opt-out
//! [`TS48_OPT_OUT`], which CI never sets.

use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};

use lpa_core::ids::Iccid;
use serde::Serialize;

use crate::smdp::{
    ConfirmOrderRequest, ConfirmOrderResponse, DownloadOrderRequest, Es2RequestHeader, Request,
    Smdp,
};

// ------------------------------------------------------------------------------- TS.48

/// Set to `1` to run without the TS.48 profiles: the tests that need them then print that they
/// were skipped on request. Unset (as in CI), a missing folder fails those tests.
pub const TS48_OPT_OUT: &str = "LPA_SKIP_TS48";

/// The two GSMA TS.48 v7.0 generic test profiles (unprotected profile packages, SAIP 2.3).
pub const TS48_FILES: [&str; 2] = [
    "TS48_V7.0_eSIM_GTP_SAIP2.3_BERTLV_SUCI.der",
    "TS48_V7.0_eSIM_GTP_SAIP2.3_NoBERTLV.der",
];

/// The ICCID both TS.48 profiles carry.
pub const TS48_ICCID: &str = "89000123456789012341";

/// The workspace root (the folder of the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // This crate lives in `<workspace>/testbed`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The shared test data beside the repository (`../shared/testdata` from the workspace root),
/// as CI lays it out.
pub fn shared_testdata() -> PathBuf {
    workspace_root().join("../shared/testdata")
}

/// Whether the TS.48 opt-out is set (to `1`).
fn ts48_opted_out() -> bool {
    std::env::var_os(TS48_OPT_OUT).is_some_and(|v| v == "1")
}

/// The folder of the GSMA TS.48 profiles, `../shared/testdata/profiles`: they are "for
/// internal use", so they are read where they lie and never copied into the repository.
///
/// Returns `None` only when [`TS48_OPT_OUT`] is `1`, after printing that the caller is skipped
/// on request; the caller then returns.
///
/// # Panics
///
/// When the folder is missing and the opt-out is not set, naming the path.
pub fn ts48_dir() -> Option<PathBuf> {
    located(shared_testdata().join("profiles"), ts48_opted_out())
}

/// `dir` if it is a folder; `None` (said aloud) when `opted_out`; a panic otherwise.
fn located(dir: PathBuf, opted_out: bool) -> Option<PathBuf> {
    if opted_out {
        println!(
            "skipped on request ({TS48_OPT_OUT}=1): the TS.48 profiles in {} are not used",
            dir.display()
        );
        return None;
    }
    if !dir.is_dir() {
        panic!(
            "the GSMA TS.48 test profiles are missing: {} is not a folder.\n\
             The tests read them from ../shared/testdata/profiles beside the repository (as CI \
             lays it out); put the shared test data there, or set {TS48_OPT_OUT}=1 to skip \
             these tests on purpose.",
            dir.display()
        );
    }
    Some(dir)
}

/// Both TS.48 profiles as `(file name, DER)`, in [`TS48_FILES`] order; `None` only on request
/// (see [`ts48_dir`]).
///
/// # Panics
///
/// When the folder or one of the files is missing or unreadable.
pub fn ts48_profiles() -> Option<Vec<(&'static str, Vec<u8>)>> {
    let dir = ts48_dir()?;
    Some(
        TS48_FILES
            .iter()
            .map(|name| {
                let path = dir.join(name);
                let der = std::fs::read(&path).unwrap_or_else(|e| {
                    panic!("cannot read the TS.48 profile {}: {e}", path.display())
                });
                (*name, der)
            })
            .collect(),
    )
}

// ------------------------------------------------------------------------------- PC/SC

/// Where pcscd's client socket is unless `PCSCLITE_CSOCK_NAME` says otherwise.
pub const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

/// What keeps the PC/SC tests from running (pcscd not running, vpcd not loaded), or `None`
/// when pcscd's socket exists and vpcd's first reader listens on 127.0.0.1:35963.
///
/// Only looks: it installs and starts nothing, and it does not connect to vpcd's port (a
/// connection would look like a card being inserted). The port is read from `/proc/net/tcp`.
pub fn pcsc_vpcd_problem() -> Option<String> {
    let socket =
        std::env::var_os("PCSCLITE_CSOCK_NAME").map_or_else(|| PCSCD_SOCKET.into(), PathBuf::from);
    if !is_socket(&socket) {
        return Some(format!(
            "pcscd is not running: its socket {} is missing",
            socket.display()
        ));
    }
    let port = crate::vpcd::DEFAULT_PORT;
    match tcp_listening(port) {
        Ok(true) => None,
        Ok(false) => Some(format!(
            "pcscd runs, but vsmartcard's vpcd does not listen on port {port} (vpcd not \
             installed, or installed after pcscd started)"
        )),
        Err(e) => Some(format!(
            "cannot tell whether vpcd listens on port {port}: {e}"
        )),
    }
}

/// Fails the calling test unless pcscd runs with vpcd (see [`pcsc_vpcd_problem`]).
///
/// # Panics
///
/// With what is missing and the command that sets it up.
pub fn require_pcsc_vpcd() {
    if let Some(problem) = pcsc_vpcd_problem() {
        panic!(
            "PC/SC with vpcd is not available, so this PC/SC test cannot run: {problem}.\n\
             Run scripts/pcsc-setup (as root, or with password-less sudo: it installs pcscd, \
             libpcsclite-dev and vsmartcard-vpcd and starts pcscd), then run the tests again. \
             scripts/check runs it first."
        );
    }
}

#[cfg(unix)]
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[cfg(not(unix))]
fn is_socket(path: &Path) -> bool {
    path.exists()
}

/// Whether a socket listens on TCP `port` (IPv4 or IPv6), from `/proc/net/tcp{,6}`.
fn tcp_listening(port: u16) -> Result<bool, String> {
    let wanted = format!("{port:04X}");
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        read_any = true;
        // `sl local_address rem_address st ...`: local `ADDR:PORT` in hex, state 0A = LISTEN.
        let listening = text.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let local = fields.next().unwrap_or_default();
            let state = fields.nth(1).unwrap_or_default();
            local.rsplit(':').next() == Some(wanted.as_str()) && state == "0A"
        });
        if listening {
            return Ok(true);
        }
    }
    if read_any {
        Ok(false)
    } else {
        Err("/proc/net/tcp is not readable (not Linux?)".to_owned())
    }
}

// ------------------------------------------------------------------------------- ES2+

/// Where ES2+ requests go: the in-process [`Smdp`], or a closure that POSTs over HTTPS
/// (`Fn(path, body) -> Result<(status, body), E>`, the path being
/// `/gsma/rsp2/es2plus/<function>`).
pub trait Es2Endpoint {
    /// Why a request got no answer.
    type Error: fmt::Display;
    /// POSTs the JSON `body` to `path` with the SGP.22 headers; the status and the body.
    fn post_es2(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), Self::Error>;
}

impl Es2Endpoint for Smdp {
    type Error = Infallible;

    fn post_es2(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), Infallible> {
        let response = self.handle(&Request::post(path, &lpa_core::es9::REQUEST_HEADERS, body));
        Ok((response.status, response.body))
    }
}

impl<F, E> Es2Endpoint for F
where
    F: Fn(&str, &[u8]) -> Result<(u16, Vec<u8>), E>,
    E: fmt::Display,
{
    type Error = E;

    fn post_es2(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), E> {
        self(path, body)
    }
}

/// Why an ES2+ call failed.
#[derive(Debug)]
pub enum Es2Error<E> {
    /// The request got no answer.
    Transport(E),
    /// The answer was not HTTP 200 with `Executed-Success` (or not the expected JSON).
    Refused {
        /// The ES2+ function.
        function: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body, as text.
        body: String,
    },
}

impl<E: fmt::Display> fmt::Display for Es2Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Es2Error::Transport(e) => write!(f, "ES2+ request failed: {e}"),
            Es2Error::Refused {
                function,
                status,
                body,
            } => write!(f, "ES2+ {function} refused: HTTP {status}, {body}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Es2Error<E> {}

/// One ES2+ call (SGP.22 §5.3): `body` as JSON to `/gsma/rsp2/es2plus/<function>`; the answer,
/// which must be HTTP 200 with `functionExecutionStatus` `Executed-Success`.
pub fn es2_call<P: Es2Endpoint + ?Sized>(
    endpoint: &P,
    function: &str,
    body: &impl Serialize,
) -> Result<serde_json::Value, Es2Error<P::Error>> {
    let request = serde_json::to_vec(body).map_err(|e| Es2Error::Refused {
        function: function.to_owned(),
        status: 0,
        body: format!("request not encodable: {e}"),
    })?;
    let (status, answer) = endpoint
        .post_es2(&format!("/gsma/rsp2/es2plus/{function}"), &request)
        .map_err(Es2Error::Transport)?;
    let refused = || Es2Error::Refused {
        function: function.to_owned(),
        status,
        body: String::from_utf8_lossy(&answer).into_owned(),
    };
    let json: serde_json::Value = serde_json::from_slice(&answer).map_err(|_| refused())?;
    let executed = json
        .pointer("/header/functionExecutionStatus/status")
        .and_then(serde_json::Value::as_str)
        == Some("Executed-Success");
    if status != 200 || !executed {
        return Err(refused());
    }
    Ok(json)
}

/// An operator's order for one profile: ES2+ downloadOrder for `iccid` linked to `eid`, then
/// confirmOrder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Es2Order {
    /// The eUICC the profile is for.
    pub eid: String,
    /// The profile (already in the SM-DP+'s inventory).
    pub iccid: Iccid,
    /// The matching ID to use; the SM-DP+ generates one when `None`; `Some("")` is a default
    /// SM-DP+ order.
    pub matching_id: Option<String>,
    /// The confirmation code the user must give.
    pub confirmation_code: Option<String>,
    /// An SM-DS to register an event at.
    pub smds_address: Option<String>,
    /// Release at once (`releaseFlag`), as most tests want.
    pub release: bool,
    /// `functionRequesterIdentifier`.
    pub requester: String,
}

impl Es2Order {
    /// A released order of `iccid` for `eid`, with a generated matching ID.
    pub fn new(eid: impl Into<String>, iccid: Iccid) -> Self {
        Es2Order {
            eid: eid.into(),
            iccid,
            matching_id: None,
            confirmation_code: None,
            smds_address: None,
            release: true,
            requester: "operator-1".to_owned(),
        }
    }

    /// With this confirmation code (none when `None`).
    pub fn with_confirmation_code(mut self, code: Option<&str>) -> Self {
        self.confirmation_code = code.map(str::to_owned);
        self
    }

    /// With this matching ID instead of a generated one.
    pub fn with_matching_id(mut self, matching_id: Option<&str>) -> Self {
        self.matching_id = matching_id.map(str::to_owned);
        self
    }

    /// With an event registered at this SM-DS.
    pub fn with_smds_address(mut self, smds: Option<&str>) -> Self {
        self.smds_address = smds.map(str::to_owned);
        self
    }

    /// With `functionRequesterIdentifier` `requester`.
    pub fn with_requester(mut self, requester: impl Into<String>) -> Self {
        self.requester = requester.into();
        self
    }
}

/// Places `order` (ES2+ downloadOrder + confirmOrder, SGP.22 §5.3.1-2) at `endpoint`; the
/// matching ID of the order (empty for a default SM-DP+ order).
///
/// ```no_run
/// use lpa_testbed::smdp::{ServedProfile, Smdp, SmdpConfig};
/// use lpa_testbed::support::{Es2Order, order_profile};
/// # let pki: lpa_testbed::pki::TestPki = unimplemented!();
/// let smdp = Smdp::new(SmdpConfig::from_pki(&pki)).unwrap();
/// let profile = ServedProfile::demo(1);
/// let order = Es2Order::new(lpa_testbed::pki::DEFAULT_EID, profile.iccid);
/// smdp.add_profile(profile).unwrap();
/// let matching_id = order_profile(&smdp, &order).unwrap();
/// ```
pub fn order_profile<P: Es2Endpoint + ?Sized>(
    endpoint: &P,
    order: &Es2Order,
) -> Result<String, Es2Error<P::Error>> {
    let header = Es2RequestHeader {
        function_requester_identifier: order.requester.clone(),
        function_call_identifier: format!("call-{}", order.iccid),
    };
    es2_call(
        endpoint,
        "downloadOrder",
        &DownloadOrderRequest {
            header: header.clone(),
            eid: Some(order.eid.clone()),
            iccid: Some(order.iccid.to_string()),
            profile_type: None,
        },
    )?;
    let confirmed = es2_call(
        endpoint,
        "confirmOrder",
        &ConfirmOrderRequest {
            header,
            iccid: order.iccid.to_string(),
            eid: Some(order.eid.clone()),
            matching_id: order.matching_id.clone(),
            confirmation_code: order.confirmation_code.clone(),
            smds_address: order.smds_address.clone(),
            release_flag: order.release,
        },
    )?;
    let text = confirmed.to_string();
    serde_json::from_value::<ConfirmOrderResponse>(confirmed)
        .map(|r| r.matching_id)
        .map_err(|e| Es2Error::Refused {
            function: "confirmOrder".to_owned(),
            status: 200,
            body: format!("no matchingId ({e}): {text}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "the GSMA TS.48 test profiles are missing: /nonexistent/profiles")]
    fn a_missing_ts48_folder_fails() {
        located(PathBuf::from("/nonexistent/profiles"), false);
    }

    #[test]
    fn the_ts48_opt_out_skips() {
        assert_eq!(located(PathBuf::from("/nonexistent/profiles"), true), None);
    }

    #[test]
    fn the_ts48_folder_is_found_beside_the_repository() {
        let dir = shared_testdata().join("profiles");
        assert!(dir.ends_with("../shared/testdata/profiles"));
        assert!(
            workspace_root().join("Cargo.toml").is_file(),
            "{}",
            workspace_root().display()
        );
    }
}
