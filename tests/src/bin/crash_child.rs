//! The child process of `tests/crash.rs`: a download over AT that gets stuck for good right
//! after PrepareDownload, waiting to be killed.
//!
//! It runs an `Lpa` with an `AtTransport` (AT+CCHO/CGLA) on the parent's emulated modem (the
//! SoftEuicc and the SM-DP+ live in the parent) and a `FileStore`. Its HTTP client prints
//! `READY` when getBoundProfilePackage is due and never sends it. Everything it needs comes
//! from the environment; run without it, it exits with status 2 and says what is missing.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lpa::http::{HttpClient, HttpError, HttpRequest, HttpResponse};
use lpa::storage::FileStore;
use lpa::{Answer, DownloadRequest, DownloadUi};
use lpa_at::AccessMode;
use lpa_e2e::crash::{CHILD_LIFETIME, CI, MATCHING_ID, MODEM, READY, SMDP, STORE};
use lpa_e2e::{https_client, lpa_on_modem};
use lpa_testbed::pki::DEFAULT_SMDP_HOST;

/// The real HTTPS client, except that getBoundProfilePackage is never sent.
struct StuckBeforePackage(lpa::https::HttpsClient);

impl HttpClient for StuckBeforePackage {
    fn post(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        if request.url.ends_with("/getBoundProfilePackage") {
            println!("{READY}");
            let _ = std::io::stdout().flush();
            let end = Instant::now() + CHILD_LIFETIME;
            while Instant::now() < end {
                thread::sleep(Duration::from_millis(100));
            }
            return Err(HttpError::Timeout(CHILD_LIFETIME));
        }
        self.0.post(request)
    }

    fn restrict_to_ci_pkids(&self, ci_pkids: &[Vec<u8>]) {
        self.0.restrict_to_ci_pkids(ci_pkids);
    }
}

/// A user who accepts the profile and has no confirmation code.
struct Accepting;

impl DownloadUi for Accepting {
    fn confirm_profile(&mut self, _: &lpa_core::messages::StoreMetadataRequest, _: &str) -> Answer {
        Answer::Accept
    }

    fn confirmation_code(&mut self, _: &str) -> Option<String> {
        None
    }
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("{CI}: odd number of hex digits"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{CI}: not hex"))
        })
        .collect()
}

fn main() -> ExitCode {
    let setup = || -> Result<_, String> {
        let ci = hex_decode(&var(CI)?)?;
        let smdp = var(SMDP)?.parse().map_err(|e| format!("{SMDP}: {e}"))?;
        Ok((ci, smdp, var(MODEM)?, var(STORE)?, var(MATCHING_ID)?))
    };
    let (ci, smdp, modem, store, matching_id) = match setup() {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!(
                "crash_child: {e}. This program is the child process of lpa-e2e's \
                 tests/crash.rs and runs only from there."
            );
            return ExitCode::from(2);
        }
    };
    let http = StuckBeforePackage(https_client(smdp, &ci));
    let mut lpa = lpa_on_modem(
        &PathBuf::from(modem),
        AccessMode::LogicalChannels,
        Arc::new(http),
        Box::new(FileStore::new(store)),
    );
    let result = lpa.download(
        DownloadRequest::ActivationCode(format!("LPA:1${DEFAULT_SMDP_HOST}${matching_id}")),
        &mut Accepting,
    );
    // Only reached when nobody killed the child in time.
    eprintln!("crash_child: the child was not killed: {result:?}");
    ExitCode::FAILURE
}
