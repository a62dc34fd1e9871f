//! The GSMA TS.48 v7.0 generic test profiles, downloaded by the real `lpa::Lpa` over AT+CSIM
//! on the emulated modem's pty: realistic packages (about 12 KB, 30 profile elements) instead
//! of the small demo profiles. The files are read by path from `../shared/testdata/profiles`,
//! never copied into the repository; without them this test fails (`LPA_SKIP_TS48=1` skips
//! it on purpose).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use common::{Bed, Transport, User, activation_code, lpa_over};
use lpa_testbed::smdp::{ProfileStatus, ServedProfile};
use lpa_testbed::support;

#[test]
fn ts48_profiles_download_over_at_csim() {
    let Some(profiles) = support::ts48_profiles() else {
        return;
    };
    for (name, der) in profiles {
        // Both files carry the same ICCID, so each gets its own card and SM-DP+.
        let bed = Bed::new();
        let size = der.len();
        let profile = ServedProfile::from_package(der).unwrap();
        assert_eq!(profile.iccid.to_string(), support::TS48_ICCID, "{name}");
        let (iccid, matching_id) = bed.order_profile(profile, None);
        let mut running = lpa_over(&bed, Transport::AtCsim);
        let (apdus_before, bytes_before) = bed.counters();
        let started = Instant::now();
        let report = running
            .lpa
            .download(activation_code(&matching_id), &mut User::accepting(None))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (apdus, bytes) = bed.counters();
        assert!(report.installation.is_installed(), "{name}");
        assert_eq!(report.installation.iccid, iccid, "{name}");
        assert!(report.notifications.all_delivered(), "{name}");
        assert_eq!(bed.status(&iccid), ProfileStatus::Installed, "{name}");
        assert_eq!(bed.installed(), [iccid], "{name}");
        assert!(bed.pending().is_empty(), "{name}");
        assert_eq!(bed.smdp().notifications().len(), 1, "{name}");
        let listed = running.lpa.profiles().unwrap();
        assert_eq!(listed.len(), 1, "{name}");
        assert_eq!(listed[0].iccid, Some(iccid), "{name}");
        println!(
            "{name}: {size} bytes installed as {iccid} over AT+CSIM in {} ms, {} APDUs, {} \
             bytes on the card link",
            started.elapsed().as_millis(),
            apdus - apdus_before,
            bytes - bytes_before
        );
    }
}
