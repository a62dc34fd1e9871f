//! `lpa --pcsc` against a real pcscd (built with `--features pcsc`): the testbed's SoftEuicc
//! sits in vsmartcard's virtual reader through `lpa_testbed::vpcd`, and the CLI reaches it
//! through libpcsclite and pcscd as it reaches a USB reader. Needs `scripts/pcsc-setup`.
#![cfg(feature = "pcsc")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{Bed, HOST, SMDS, run};
use lpa_pcsc::{ReaderSelector, wait_for_card};
use lpa_testbed::card::SharedCard;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::vpcd::{VirtualCard, VpcdConfig};

const READER: &str = "Virtual PCD 00 00";

#[test]
fn download_and_enable_through_a_pcsc_reader() {
    let bed = Bed::new();
    let euicc = SoftEuicc::new(
        EuiccIdentity::from_test_pki(&bed.pki).unwrap(),
        EuiccConfig::new(SystemTime::now()),
    )
    .unwrap();
    let card: SharedCard = Arc::new(Mutex::new(euicc));
    let mut virtual_card = VirtualCard::start(card, VpcdConfig::new()).unwrap();
    assert!(
        virtual_card.wait_for_reader(Duration::from_secs(10)),
        "vpcd did not take the virtual card (run scripts/pcsc-setup): {:?}",
        virtual_card.last_error()
    );
    wait_for_card(
        &ReaderSelector::name_contains(READER),
        Duration::from_secs(10),
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let pcsc = |args: &[&str]| {
        let mut cmd = common::lpa();
        cmd.arg("--pcsc=Virtual PCD")
            .arg("--state-dir")
            .arg(state.path())
            .arg("--ca")
            .arg(bed.path().join("ci.pem"))
            .arg("--resolve")
            .arg(format!("{HOST}:443:{}", bed.server.addr()))
            .arg("--resolve")
            .arg(format!("{SMDS}:443:{}", bed.server.addr()))
            .arg("--json")
            .args(args);
        run(&mut cmd)
    };

    let info = pcsc(&["chip", "info"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    assert_eq!(
        info.json()["data"]["eid"],
        "89049032123451234512345678901235"
    );
    let (iccid, code) = bed.order(1);
    let download = pcsc(&["profile", "download", &code, "--yes"]);
    assert_eq!(download.code, 0, "{}", download.stderr);
    let enable = pcsc(&["profile", "enable", &iccid.to_string()]);
    assert_eq!(enable.code, 0, "{}", enable.stderr);
    let list = pcsc(&["profile", "list"]);
    assert_eq!(list.json()["data"]["profiles"][0]["state"], "enabled");
    assert_eq!(bed.status(&iccid), "Installed");
    virtual_card.stop();
}
