//! Every `lpa` command against `--testbed <dir>` (a SoftEuicc in a temporary folder) and the
//! test SM-DP+ / SM-DS served over HTTPS by this process, reached with `--resolve`; human and
//! `--json` output, and the exit code of each error class.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Bed, HOST, activation_code, closed_port, lpa, run};
use lpa_core::messages::{OperatorId, PprIds};
use lpa_testbed::smdp::ServedProfile;
use predicates::prelude::*;
use serde_json::Value;

fn profiles(bed: &Bed) -> Vec<Value> {
    let (code, json) = bed.json(&["profile", "list"]);
    assert_eq!(code, 0, "{json:#}");
    json["data"]["profiles"].as_array().unwrap().clone()
}

fn state_of(bed: &Bed, iccid: &str) -> Option<String> {
    profiles(bed)
        .iter()
        .find(|p| p["iccid"] == iccid)
        .map(|p| p["state"].as_str().unwrap().to_owned())
}

#[test]
fn chip_info_in_words_and_in_json() {
    let bed = Bed::new();
    bed.lpa()
        .args(["chip", "info"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "EID  89049032123451234512345678901235",
        ))
        .stdout(predicate::str::contains("free non-volatile memory"))
        .stdout(predicate::str::contains(
            "root SM-DS      testrootsmds.example.com",
        ))
        .stdout(predicate::str::contains(
            "ppr1,ppr2 allowed for any operator",
        ));

    let (code, json) = bed.json(&["chip", "info"]);
    assert_eq!(code, 0);
    assert_eq!(json["schema"], "lpa-cli/1");
    assert_eq!(json["command"], "chip info");
    assert_eq!(json["ok"], true);
    let data = &json["data"];
    assert_eq!(data["eid"], "89049032123451234512345678901235");
    let info = &data["euicc_info2"];
    assert_eq!(info["svn"], "2.5.0");
    assert!(
        info["ext_card_resource"]["free_non_volatile_memory"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        info["ext_card_resource"]["free_volatile_memory"]
            .as_u64()
            .unwrap()
            > 0
    );
    let ci = common::pki_ski(&bed.pki);
    assert_eq!(info["euicc_ci_pkid_list_for_verification"][0], ci);
    assert!(
        info["rsp_capability"]
            .as_array()
            .unwrap()
            .contains(&"additionalProfile".into())
    );
    assert_eq!(
        data["configured_addresses"]["default_smdp_address"],
        Value::Null
    );
    assert_eq!(
        data["configured_addresses"]["root_smds_address"],
        common::SMDS
    );
    assert_eq!(
        data["rat"][0]["ppr_ids"],
        serde_json::json!(["ppr1", "ppr2"])
    );
    assert_eq!(data["rat"][0]["allowed_operators"][0]["mcc"], "EEE");
    assert_eq!(data["rat"][0]["consent_required"], false);
}

#[test]
fn download_enable_nickname_disable_delete_with_notifications() {
    let bed = Bed::new();
    assert!(profiles(&bed).is_empty());
    bed.lpa()
        .args(["profile", "list"])
        .assert()
        .success()
        .stdout("no profiles on this eUICC\n");

    // Download (JSON).
    let (iccid, code) = bed.order(1);
    let (exit, json) = bed.json(&["profile", "download", &code, "--yes"]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["command"], "profile download");
    let installation = &json["data"]["installation"];
    assert_eq!(installation["installed"], true);
    assert_eq!(installation["iccid"], iccid.to_string());
    assert_eq!(installation["smdp_address"], HOST);
    assert_eq!(
        installation["metadata"]["service_provider_name"],
        "LPA Testbed"
    );
    assert_eq!(installation["failure"], Value::Null);
    assert_eq!(installation["transaction_id"].as_str().unwrap().len(), 32);
    let notifications = &json["data"]["notifications"];
    assert_eq!(notifications["all_delivered"], true);
    assert_eq!(notifications["notifications"][0]["operation"], "install");
    assert_eq!(notifications["notifications"][0]["outcome"], "delivered");
    assert_eq!(bed.status(&iccid), "Installed");
    assert_eq!(
        state_of(&bed, &iccid.to_string()).as_deref(),
        Some("disabled")
    );

    // Enable (human).
    bed.lpa()
        .args(["profile", "enable", &iccid.to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("profile {iccid} enabled")))
        .stdout(predicate::str::contains(
            "enable to testsmdpplus1.example.com: delivered",
        ));
    assert_eq!(
        state_of(&bed, &iccid.to_string()).as_deref(),
        Some("enabled")
    );
    bed.lpa()
        .args(["profile", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ICCID"))
        .stdout(predicate::str::contains(format!(
            "{iccid}  enabled  operational"
        )));

    // Nickname.
    let (exit, json) = bed.json(&["profile", "nickname", &iccid.to_string(), "work phone"]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["nickname"], "work phone");
    let listed = profiles(&bed);
    assert_eq!(listed[0]["nickname"], "work phone");
    assert_eq!(listed[0]["class"], "operational");
    assert_eq!(listed[0]["service_provider_name"], "LPA Testbed");

    // Disable, then delete (JSON).
    let (exit, json) = bed.json(&["profile", "disable", &iccid.to_string()]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["action"], "disabled");
    assert_eq!(
        json["data"]["notifications"]["notifications"][0]["operation"],
        "disable"
    );
    let (exit, json) = bed.json(&["profile", "delete", &iccid.to_string()]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["action"], "deleted");
    assert_eq!(json["data"]["notifications"]["all_delivered"], true);
    assert!(profiles(&bed).is_empty());
    let operations: Vec<String> = bed
        .smdp()
        .notifications()
        .iter()
        .map(|n| n.operation.clone())
        .collect();
    assert_eq!(operations, ["install", "enable", "disable", "delete"]);
}

#[test]
fn download_in_words_with_progress_as_json_lines() {
    let bed = Bed::new();
    let (iccid, code) = bed.order(2);
    let r = run(bed
        .lpa()
        .args(["profile", "download", &code, "--yes", "--progress", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("profile {iccid} installed")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("install to testsmdpplus1.example.com: delivered")
    );
    assert!(r.stdout.contains(&format!("lpa profile enable {iccid}")));
    let events: Vec<Value> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "authenticating",
        "profile_metadata",
        "downloading",
        "installing",
        "installed",
        "notification_sent",
    ] {
        assert!(names.contains(&expected), "{expected} missing in {names:?}");
    }
    let last_install = events
        .iter()
        .rev()
        .find(|e| e["event"] == "installing")
        .unwrap();
    assert_eq!(last_install["done"], last_install["total"]);
    assert_eq!(
        events.iter().find(|e| e["event"] == "installed").unwrap()["iccid"],
        iccid.to_string()
    );
}

#[test]
fn download_refuses_to_ask_without_a_terminal() {
    let bed = Bed::new();
    let (iccid, code) = bed.order(3);
    let r = run(bed.lpa().arg("--json").args(["profile", "download", &code]));
    assert_eq!(r.code, 7, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"]["kind"], "declined");
    assert_eq!(json["error"]["exit_code"], 7);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    // Nothing was started: the order is untouched, no session at the SM-DP+.
    assert_eq!(bed.status(&iccid), "Released");
    assert_eq!(bed.smdp().session_count(), 0);
}

#[test]
fn confirmation_code_missing_wrong_and_right() {
    let bed = Bed::new();
    let (iccid, mid) = bed.order_profile(ServedProfile::demo(4), None, Some("4711"), false);
    let code = activation_code(&mid);

    // No code and nobody to ask: declined with the hint, session cancelled on both sides.
    let r = run(bed
        .lpa()
        .arg("--json")
        .args(["profile", "download", &code, "--yes"]));
    assert_eq!(r.code, 7, "{}", r.stderr);
    let json = r.json();
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--confirmation-code")
    );
    assert!(
        json["error"]["session_end"]
            .as_str()
            .unwrap()
            .contains("postponed")
    );
    assert_eq!(bed.smdp().session_count(), 0);

    // A wrong code: the SM-DP+ refuses with its codes.
    let r = run(bed.lpa().arg("--json").args([
        "profile",
        "download",
        &code,
        "--yes",
        "--confirmation-code",
        "0000",
    ]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["error"]["kind"], "server_refused");
    assert!(
        json["error"]["codes"]["subject_code"].is_string(),
        "{json:#}"
    );
    assert!(
        json["error"]["codes"]["reason_code"].is_string(),
        "{json:#}"
    );
    assert!(r.stderr.contains("subject code"), "{}", r.stderr);

    // The right one (from the environment, as a script would pass a secret).
    let r = run(bed
        .lpa()
        .env("LPA_CONFIRMATION_CODE", "4711")
        .args(["profile", "download", &code, "--yes"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(bed.status(&iccid), "Installed");
}

#[test]
fn discover_lists_the_events_and_downloads_them() {
    let bed = Bed::new();
    let (iccid, _) = bed.order_profile(ServedProfile::demo(5), None, None, true);
    let (exit, json) = bed.json(&["profile", "discover"]);
    assert_eq!(exit, 0, "{json:#}");
    let events = json["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["rsp_server_address"], HOST);
    assert!(events[0]["event_id"].is_string());
    bed.lpa()
        .args(["profile", "discover"])
        .assert()
        .success()
        .stdout(predicate::str::contains("EVENT ID"))
        .stdout(predicate::str::contains("lpa profile discover --download"));

    let (exit, json) = bed.json(&[
        "profile",
        "discover",
        "--smds",
        common::SMDS,
        "--download",
        "--yes",
    ]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(
        json["data"]["downloads"][0]["installation"]["iccid"],
        iccid.to_string()
    );
    assert_eq!(
        state_of(&bed, &iccid.to_string()).as_deref(),
        Some("disabled")
    );
}

#[test]
fn default_smdp_address_is_set_and_used() {
    let bed = Bed::new();
    let (exit, json) = bed.json(&["config", "default-smdp", HOST]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["default_smdp_address"], HOST);
    let (_, info) = bed.json(&["chip", "info"]);
    assert_eq!(
        info["data"]["configured_addresses"]["default_smdp_address"],
        HOST
    );

    // An order without a matching ID, for this EID: the first-boot download.
    let (iccid, _) = bed.order_profile(ServedProfile::demo(6), Some(""), None, false);
    let (exit, json) = bed.json(&["profile", "download", "--default-smdp", "--yes"]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["installation"]["iccid"], iccid.to_string());

    bed.lpa()
        .args(["config", "default-smdp", ""])
        .assert()
        .success()
        .stdout(predicate::str::contains("default SM-DP+ address removed"));
    let (exit, json) = bed.json(&["profile", "download", "--default-smdp", "--yes"]);
    assert_eq!(exit, 2, "{json:#}");
    assert_eq!(json["error"]["kind"], "invalid_input");
}

#[test]
fn notifications_stay_on_the_card_until_a_server_takes_them() {
    let bed = Bed::new();
    let iccid = bed.install(7).to_string();
    let offline = closed_port();

    // The server is unreachable: the switch happens, the notification stays.
    let r = run(bed
        .lpa_at(offline)
        .arg("--json")
        .args(["profile", "enable", &iccid]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["data"]["notifications"]["all_delivered"], false);
    let failed = &json["data"]["notifications"]["notifications"][0];
    assert_eq!(failed["outcome"], "not_delivered");
    assert_eq!(failed["error"]["kind"], "server_unreachable");

    let (exit, json) = bed.json(&["notification", "list"]);
    assert_eq!(exit, 0);
    let list = json["data"]["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["operation"], "enable");
    assert_eq!(list[0]["iccid"], iccid);
    assert_eq!(list[0]["address"], HOST);
    let enable_seq = list[0]["seq_number"].as_u64().unwrap();
    bed.lpa()
        .args(["notification", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SEQ  OPERATION"))
        .stdout(predicate::str::contains("enable"));

    // Still unreachable: exit 6, the notification stays.
    let r = run(bed
        .lpa_at(offline)
        .arg("--json")
        .args(["notification", "process"]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert_eq!(
        r.json()["data"]["notifications"][0]["outcome"],
        "not_delivered"
    );
    let (_, json) = bed.json(&["notification", "list"]);
    assert_eq!(json["data"]["notifications"].as_array().unwrap().len(), 1);

    // Reachable: delivered, then removed from the card.
    let (exit, json) = bed.json(&["notification", "process", &enable_seq.to_string()]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["notifications"][0]["outcome"], "delivered");
    let (_, json) = bed.json(&["notification", "list"]);
    assert!(json["data"]["notifications"].as_array().unwrap().is_empty());

    // Remove one by hand.
    let r = run(bed.lpa_at(offline).args(["profile", "disable", &iccid]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("NOT delivered"), "{}", r.stdout);
    let (_, json) = bed.json(&["notification", "list"]);
    let seq = json["data"]["notifications"][0]["seq_number"]
        .as_u64()
        .unwrap()
        .to_string();
    let (exit, json) = bed.json(&["notification", "remove", &seq]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["removed"], true);
    let (exit, json) = bed.json(&["notification", "remove", &seq]);
    assert_eq!(exit, 2, "{json:#}");
    bed.lpa()
        .args(["notification", "process"])
        .assert()
        .success()
        .stdout("no notifications to send\n");
}

#[test]
fn chip_reset_asks_first_then_erases() {
    let bed = Bed::new();
    bed.install(8);
    bed.lpa()
        .args(["chip", "reset"])
        .assert()
        .code(7)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(profiles(&bed).len(), 1);
    let (exit, json) = bed.json(&["chip", "reset", "--yes"]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(json["data"]["operational_profiles"], true);
    assert_eq!(json["data"]["changed"], true);
    assert!(profiles(&bed).is_empty());
}

#[test]
fn exit_codes_for_bad_input() {
    // No eUICC named.
    lpa()
        .args(["profile", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--testbed"));
    // Unknown command, in JSON too.
    let r = run(lpa().args(["--json", "profile", "frobnicate"]));
    assert_eq!(r.code, 2);
    assert_eq!(r.json()["error"]["kind"], "invalid_input");
    let bed = Bed::new();
    let r = run(bed.lpa().arg("--json").args(["profile", "enable", "12ab"]));
    assert_eq!(r.code, 2);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an ICCID")
    );
    bed.lpa()
        .args(["profile", "download", "LPA:2$nonsense", "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("activation code"));
    bed.lpa()
        .args(["--isd-r-aid", "XYZ", "chip", "info"])
        .assert()
        .code(2);
    let garbage = bed.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    bed.lpa()
        .arg("--ca")
        .arg(&garbage)
        .args(["chip", "info"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--ca"));
    // PEM and DER roots are both accepted.
    let der = bed.path().join("ci.der");
    std::fs::write(&der, &bed.pki.ci.certificate).unwrap();
    bed.lpa()
        .arg("--ca")
        .arg(bed.path().join("ci.pem"))
        .arg("--ca")
        .arg(&der)
        .args(["chip", "info"])
        .assert()
        .success();
}

#[test]
fn exit_code_when_the_card_refuses() {
    let bed = Bed::new();
    let iccid = bed.install(9).to_string();
    // Disabling a disabled profile: DisableProfile result 2 (profileNotInEnabledState).
    let r = run(bed.lpa().arg("--json").args(["profile", "disable", &iccid]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["error"]["kind"], "card_refused");
    assert_eq!(json["error"]["codes"]["es10_command"], "DisableProfile");
    assert_eq!(json["error"]["codes"]["result_code"], 2);
    assert_eq!(
        json["error"]["codes"]["result_name"],
        "profileNotInEnabledState"
    );
    assert!(
        r.stderr
            .contains("DisableProfile result 2 (profileNotInEnabledState)"),
        "{}",
        r.stderr
    );
    // An ICCID the card does not have.
    let r = run(bed
        .lpa()
        .arg("--json")
        .args(["profile", "delete", "89000000000000000999"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.json()["error"]["codes"]["result_name"],
        "iccidOrAidNotFound"
    );
}

#[test]
fn exit_code_when_the_server_refuses() {
    let bed = Bed::new();
    bed.order(10);
    let r = run(bed.lpa().arg("--json").args([
        "profile",
        "download",
        &activation_code("NO-SUCH-ORDER"),
        "--yes",
    ]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["error"]["kind"], "server_refused");
    assert_eq!(json["error"]["codes"]["subject_code"], "8.2.6");
    assert_eq!(json["error"]["codes"]["reason_code"], "3.8");
    assert!(json["error"]["session_end"].is_string(), "{json:#}");
}

#[test]
fn exit_codes_when_nothing_answers() {
    // No modem at that path.
    lpa()
        .args(["--at", "/nonexistent/ttyUSB9", "--state-dir"])
        .arg(std::env::temp_dir())
        .args(["chip", "info"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("/nonexistent/ttyUSB9"));
    // No SM-DP+ at that address.
    let bed = Bed::new();
    let (_, code) = bed.order(11);
    let r = run(bed
        .lpa_at(closed_port())
        .arg("--json")
        .args(["profile", "download", &code, "--yes"]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert_eq!(r.json()["error"]["kind"], "server_unreachable");
}

#[test]
fn exit_code_when_the_server_certificate_is_not_trusted_and_the_ca_option() {
    // An SM-DP+ of another PKI: its TLS certificate chains to a CI this LPA does not trust.
    let bed = Bed::new();
    let other = common::other_smdp();
    let (_, code) = bed.order(12);
    let r = run(bed
        .lpa_at(other.addr())
        .arg("--json")
        .args(["profile", "download", &code, "--yes"]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("TLS"), "{message}");
    // Trusted with --ca, TLS passes; the eUICC then refuses the server's credentials.
    let ca = bed.path().join("other-ci.pem");
    std::fs::write(&ca, common::pem(&other.smdp().config().ci.certificate)).unwrap();
    let r = run(bed
        .lpa_at(other.addr())
        .arg("--ca")
        .arg(&ca)
        .arg("--json")
        .args(["profile", "download", &code, "--yes"]));
    assert_ne!(r.code, 6, "{}", r.stderr);
    assert!(
        [3, 4].contains(&r.code),
        "the card or the server refuses the foreign PKI: {}",
        r.stderr
    );
}

#[test]
fn exit_code_for_policy_rules() {
    let bed = Bed::new();
    let mut profile = ServedProfile::demo(13);
    profile.profile_policy_rules = Some(PprIds::from_bits(&[PprIds::PPR1]));
    profile.profile_owner = Some(OperatorId {
        mcc_mnc: vec![0x00, 0xF1, 0x10],
        gid1: None,
        gid2: None,
    });
    let (iccid, mid) = bed.order_profile(profile, None, None, false);
    let (exit, json) = bed.json(&["profile", "download", &activation_code(&mid), "--yes"]);
    assert_eq!(exit, 0, "{json:#}");
    assert_eq!(
        json["data"]["installation"]["metadata"]["policy_rules"],
        serde_json::json!(["ppr1"])
    );
    let (exit, _) = bed.json(&["profile", "enable", &iccid.to_string()]);
    assert_eq!(exit, 0);
    let r = run(bed
        .lpa()
        .arg("--json")
        .args(["profile", "disable", &iccid.to_string()]));
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert_eq!(r.json()["error"]["kind"], "policy");
    assert_eq!(
        state_of(&bed, &iccid.to_string()).as_deref(),
        Some("enabled")
    );
}

#[test]
fn exit_code_when_the_server_breaks_the_protocol() {
    let bed = Bed::new();
    let (_, code) = bed.order(14);
    let bogus = common::BogusServer::start(&bed.pki);
    let r = run(bed
        .lpa_at(bogus.addr())
        .arg("--json")
        .args(["profile", "download", &code, "--yes"]));
    assert_eq!(r.code, 9, "{}", r.stderr);
    assert_eq!(r.json()["error"]["kind"], "protocol");
}

/// An HTTP error without an SGP.22 answer is `protocol` (exit 9, cli/JSON.md) when a
/// notification gets it, as in a download.
#[test]
fn exit_code_when_a_notification_gets_http_500_without_an_sgp22_answer() {
    let bed = Bed::new();
    let iccid = bed.install(16).to_string();
    // The server is unreachable: the enable notification stays on the card.
    let r = run(bed
        .lpa_at(closed_port())
        .arg("--json")
        .args(["profile", "enable", &iccid]));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let failing = common::BogusServer::answering(&bed.pki, common::HTTP_500_HTML);
    let r = run(bed
        .lpa_at(failing.addr())
        .arg("--json")
        .args(["notification", "process"]));
    assert_eq!(r.code, 9, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["error"]["kind"], "protocol", "{json:#}");
    assert_eq!(json["error"]["exit_code"], 9);
    assert_eq!(json["error"]["codes"]["http_status"], 500, "{json:#}");
    let failed = &json["data"]["notifications"][0];
    assert_eq!(failed["outcome"], "not_delivered");
    assert_eq!(failed["error"]["kind"], "protocol");
    assert_eq!(failed["error"]["exit_code"], 9);
    // The notification stays for a server that answers.
    let (_, json) = bed.json(&["notification", "list"]);
    assert_eq!(json["data"]["notifications"].as_array().unwrap().len(), 1);
}

/// No ISD-R under the AID given: the eUICC cannot be reached (exit 5, cli/JSON.md), not a
/// refusal.
#[test]
fn exit_code_when_there_is_no_isd_r() {
    let bed = Bed::new();
    let r = run(bed.lpa().arg("--json").args([
        "--isd-r-aid",
        "A0000005591010FFFFFFFF8900000199",
        "chip",
        "info",
    ]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["error"]["kind"], "card_unreachable", "{json:#}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no ISD-R"),
        "{json:#}"
    );
}

#[test]
fn exit_code_when_the_session_store_fails() {
    let bed = Bed::new();
    let (_, code) = bed.order(15);
    // The record's path is a folder: it can be neither read nor written.
    std::fs::create_dir(bed.path().join("lpa-session")).unwrap();
    let r = run(bed
        .lpa()
        .arg("--json")
        .args(["profile", "download", &code, "--yes"]));
    assert_eq!(r.code, 10, "{}", r.stderr);
    assert_eq!(r.json()["error"]["kind"], "storage");
}

#[test]
fn insecure_is_loud() {
    let bed = Bed::new();
    bed.lpa()
        .args(["--insecure", "chip", "info"])
        .assert()
        .success()
        .stderr(predicate::str::contains("NOT verified"));
}

#[test]
fn pcsc_without_the_feature_says_how_to_get_it() {
    if cfg!(feature = "pcsc") {
        return;
    }
    lpa()
        .args(["--pcsc", "chip", "info"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--features pcsc"));
}
