//! `lpa demo` end to end, as a newcomer runs it: exit code 0, every step printed, within the
//! 30-second budget, nothing left behind; and its `--json` document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{lpa, run};

#[test]
fn the_demo_runs_end_to_end_in_words() {
    let start = Instant::now();
    let r = run(lpa().arg("demo"));
    let elapsed = start.elapsed();
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    for expected in [
        "test PKI generated",
        "test SM-DP+ testsmdpplus1.example.com listening on https://127.0.0.1:",
        "TLS check: a client that does not trust the fresh CI is refused",
        "operator order placed over ES2+",
        "behind an emulated AT modem on /dev/",
        "AT transport (lpa-at) opened",
        "authenticating with testsmdpplus1.example.com",
        "installed 89",
        "notification #1 delivered",
        "enabled",
        "enable to testsmdpplus1.example.com: delivered",
        "0 left on the eUICC",
        "enabled  operational",
        "the SM-DP+ received 2 notification(s) (install, enable); the order is now Installed",
        "temp folder removed; no thread left running",
        "demo OK",
    ] {
        assert!(
            r.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            r.stdout
        );
    }
    println!("lpa demo took {elapsed:?}");
}

#[test]
fn the_demo_as_json() {
    let r = run(lpa().args(["demo", "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json = r.json();
    assert_eq!(json["command"], "demo");
    assert_eq!(json["ok"], true);
    let data = &json["data"];
    assert_eq!(data["within_budget"], true);
    assert_eq!(data["eid"], "89049032123451234512345678901235");
    let steps: Vec<&str> = data["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "pki",
            "smdp",
            "tls_check",
            "order",
            "modem",
            "at",
            "download",
            "enable",
            "notifications",
            "profiles",
            "smdp_view",
            "cleanup"
        ]
    );
    let download = &data["steps"][6]["data"];
    assert_eq!(download["installation"]["installed"], true);
    assert!(
        download["progress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "installed")
    );
    let cleanup = &data["steps"][11]["data"];
    assert_eq!(cleanup["temp_folder_removed"], true);
    if cfg!(target_os = "linux") {
        assert_eq!(cleanup["threads_left"], 0);
    }
    assert_eq!(data["profiles"][0]["state"], "enabled");
    assert_eq!(data["profiles"][0]["iccid"], data["iccid"]);
}
