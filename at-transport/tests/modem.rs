//! `AtTransport` against the testbed's emulated modem on a real pty, with each of its quirk
//! switches on, and a SoftEuicc as the card: ES10 calls (GetEID, GetProfilesInfo,
//! GetEUICCInfo2) in both access modes, mode detection and fallback, deadlines, retries, the
//! per-modem cache and the SIM refresh. The segment-size fallback is in `es10_client.rs`.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Bench, Lent, es10_client, es10_round, get_eid, options, plain_call};
use lpa::es10::Es10Error;
use lpa::transport::{ApduTransport, TransportError};
use lpa_at::{AccessMode, AtError, Expect, LongOperation, ModemProfile, SimRefresh};
use lpa_core::apdu::{ISD_R_AID, StatusWord};
use lpa_testbed::modem::{CchoAnswer, ModemConfig, SimAccess, TestCommandAnswer};

// ------------------------------------------------------------------ both modes, full ES10

#[test]
fn es10_over_at_csim_after_ccho_is_refused_with_cme_error() {
    // The generic profile tries AT+CCHO first; this modem only has AT+CSIM and says so with
    // +CME ERROR: operation not supported.
    let bench = Bench::new(
        ModemConfig::new()
            .with_cmee(1)
            .with_sim_access(SimAccess::CsimOnly),
    );
    let mut t = bench.transport();
    assert_eq!(t.mode(), None, "detected on first use, not at connect");
    es10_round(&mut t, &bench);
    assert_eq!(t.mode(), Some(AccessMode::Csim));
    // A second round does not try AT+CCHO again.
    let errors = bench.modem.stats().errors;
    es10_round(&mut t, &bench);
    assert_eq!(bench.modem.stats().errors, errors);
    assert_eq!(t.memory().mode, Some(AccessMode::Csim));
}

#[test]
fn es10_over_ccho_cgla_after_csim_is_refused_with_cme_error() {
    // A profile that prefers AT+CSIM, on a modem without it.
    let bench = Bench::new(
        ModemConfig::new()
            .with_cmee(2)
            .with_sim_access(SimAccess::LogicalChannelsOnly),
    );
    let mut t = bench
        .open(options().with_profile(ModemProfile::generic().with_first_mode(AccessMode::Csim)))
        .unwrap();
    es10_round(&mut t, &bench);
    assert_eq!(t.mode(), Some(AccessMode::LogicalChannels));
}

#[test]
fn both_modes_on_a_modem_that_has_both() {
    for mode in [AccessMode::Csim, AccessMode::LogicalChannels] {
        let bench = Bench::new(ModemConfig::new());
        let mut t = bench.open(options().with_mode(mode)).unwrap();
        assert_eq!(t.mode(), Some(mode));
        es10_round(&mut t, &bench);
        assert_eq!(bench.modem.stats().errors, 0, "{mode}: nothing refused");
    }
}

#[test]
fn neither_mode_is_a_clear_error() {
    let bench = Bench::new(
        ModemConfig::new()
            .with_cmee(2)
            .with_sim_access(SimAccess::CsimOnly),
    );
    let mut t = bench
        .open(options().with_mode(AccessMode::LogicalChannels))
        .unwrap();
    match t.open_logical_channel(&ISD_R_AID) {
        Err(TransportError::ChannelUnavailable(why)) => {
            assert!(why.contains("operation not supported"), "{why}");
            assert!(why.contains("AT+CSIM: not tried"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_aid_is_the_cards_answer_not_a_mode_problem() {
    for mode in [AccessMode::Csim, AccessMode::LogicalChannels] {
        let bench = Bench::new(ModemConfig::new().with_cmee(2));
        let mut t = bench.open(options().with_mode(mode)).unwrap();
        let err = t
            .open_logical_channel(&[0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0x01])
            .unwrap_err();
        match (mode, &err) {
            (AccessMode::Csim, TransportError::Apdu(e)) => {
                assert_eq!(e.status_word(), Some(StatusWord(0x6A82)), "{err}")
            }
            (AccessMode::LogicalChannels, TransportError::ChannelUnavailable(why)) => {
                assert!(why.contains("not found"), "{why}")
            }
            _ => panic!("{mode}: {err:?}"),
        }
        // The ISD-R still opens afterwards: nothing leaked, nothing stuck.
        es10_round(&mut t, &bench);
    }
}

// ------------------------------------------------------------------ line quirks

#[test]
fn echo_on_is_skipped() {
    let bench = Bench::new(ModemConfig::new().with_echo(true));
    let mut t = bench.transport();
    // The transport turned echo off at connect; turn it on again and work through it.
    t.command("ATE1", Expect::Nothing).unwrap();
    assert_eq!(
        t.command("AT+CGMM", Expect::Text("+CGMM:")).unwrap(),
        vec!["testbed-modem".to_owned()]
    );
    es10_round(&mut t, &bench);
    // The port is opened exclusively: one transport at a time.
    drop(t);
    let mut t = bench.open(options().with_mode(AccessMode::Csim)).unwrap();
    t.command("ATE1", Expect::Nothing).unwrap();
    es10_round(&mut t, &bench);
}

#[test]
fn unsolicited_codes_between_command_and_answer_are_skipped() {
    let bench = Bench::new(
        ModemConfig::new()
            .with_manufacturer("Quectel")
            .with_model("EC25")
            .with_unsolicited_codes(["+CREG: 1", "RING", "^SIMST: 1", "+QIND: \"csq\",20,99"])
            .with_unsolicited_every(2),
    );
    let mut t = bench.transport();
    assert_eq!(t.identity().manufacturer, "Quectel");
    assert_eq!(t.identity().model, "EC25");
    assert_eq!(t.profile().name, "Quectel");
    es10_round(&mut t, &bench);
    drop(t);
    for mode in [AccessMode::LogicalChannels, AccessMode::Csim] {
        let mut t = bench.open(options().with_mode(mode)).unwrap();
        // Codes sent while the line is idle, too.
        bench.modem.send_unsolicited("+CPIN: READY");
        bench.modem.send_unsolicited("NO CARRIER");
        es10_round(&mut t, &bench);
    }
    assert!(bench.modem.stats().unsolicited > 10);
}

// ------------------------------------------------------------------ AT+CCHO answers

#[test]
fn bare_ccho_answer() {
    let bench = Bench::new(
        ModemConfig::new()
            .with_manufacturer("Fibocom Wireless Inc.")
            .with_model("FM350-GL")
            .with_ccho_answer(CchoAnswer::Bare)
            .with_test_commands(TestCommandAnswer::Silent),
    );
    let mut t = bench.transport();
    es10_round(&mut t, &bench);
    assert_eq!(t.mode(), Some(AccessMode::LogicalChannels));
}

#[test]
fn session_handle_ccho_answer() {
    let bench = Bench::new(
        ModemConfig::new()
            .with_manufacturer("Sierra Wireless, Incorporated")
            .with_model("EM7590")
            .with_cmee(1)
            .with_ccho_answer(CchoAnswer::SessionHandle)
            .with_test_commands(TestCommandAnswer::Error),
    );
    let mut t = bench.transport();
    assert_eq!(t.profile().name, "Sierra Wireless");
    // Two sessions at once: the LPA gets channel numbers of the transport's choosing, and
    // each transmit reaches the right session.
    let (first, _) = t.open_logical_channel(&ISD_R_AID).unwrap();
    let (second, _) = t.open_logical_channel(&ISD_R_AID).unwrap();
    assert_ne!(first, second);
    assert_eq!(get_eid(&mut t, first).unwrap(), bench.eid);
    assert_eq!(get_eid(&mut t, second).unwrap(), bench.eid);
    t.close_logical_channel(first).unwrap();
    assert_eq!(get_eid(&mut t, second).unwrap(), bench.eid);
    // A closed channel is refused by the transport, not sent to a stale session.
    assert!(matches!(
        get_eid(&mut t, first),
        Err(TransportError::Refused(why)) if why.contains("not opened")
    ));
    t.close_logical_channel(second).unwrap();
    es10_round(&mut t, &bench);
    assert_eq!(bench.modem.stats().errors, 0);
}

// ------------------------------------------------------------------ =? probes

#[test]
fn silent_test_commands_cost_nothing() {
    let bench = Bench::new(ModemConfig::new().with_test_commands(TestCommandAnswer::Silent));
    let started = Instant::now();
    // A deadline of 2 s: one =? probe alone would cost that.
    let mut t = bench
        .open(options().with_command_timeout(Duration::from_secs(2)))
        .unwrap();
    es10_round(&mut t, &bench);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}: something waited for an answer that never comes",
        started.elapsed()
    );
}

// ------------------------------------------------------------------ plain ERROR (CMEE=0)

#[test]
fn plain_error_for_ccho_falls_back_to_csim() {
    // AT+CMEE=2 is refused too: only plain ERROR from this modem... it accepts CMEE, so
    // force plain ERRORs by switching it back.
    let bench = Bench::new(ModemConfig::new().with_sim_access(SimAccess::CsimOnly));
    let mut t = bench.transport();
    t.command("AT+CMEE=0", Expect::Nothing).unwrap();
    es10_round(&mut t, &bench);
    assert_eq!(t.mode(), Some(AccessMode::Csim));
}

// ------------------------------------------------------------------ random errors

#[test]
fn random_errors_are_retried_where_safe_and_reported_elsewhere() {
    for (seed, access) in [
        (7, SimAccess::CsimAndLogicalChannels),
        (8, SimAccess::CsimOnly),
        (9, SimAccess::LogicalChannelsOnly),
    ] {
        let bench = Bench::new(
            ModemConfig::new()
                .with_cmee(2)
                .with_sim_access(access)
                .with_random_errors(seed, 0.15),
        );
        let mut client = es10_client(bench.transport());
        // Opening the channel (MANAGE CHANNEL, SELECT, AT+CCHO) is retried on ERROR.
        client.open().unwrap();
        let (mut passed, mut refused) = (0, 0);
        for _ in 0..10 {
            // A STORE DATA refused with ERROR is not repeated by the transport (it cannot
            // know whether the block reached the card), and the ES10 client sends a command
            // again only after the transport lowered the segment size: the call fails with
            // the modem's words, and the session goes on.
            for result in [
                client
                    .get_eid()
                    .map(|eid| assert_eq!(eid.to_string(), bench.eid)),
                client.all_profiles().map(|list| assert!(list.is_empty())),
            ] {
                match result {
                    Ok(()) => passed += 1,
                    Err(Es10Error::Transport(TransportError::Refused(words))) => {
                        assert!(words.contains("ERROR"), "seed {seed}: {words}");
                        refused += 1;
                    }
                    Err(e) => panic!("seed {seed}: {e:?}"),
                }
            }
        }
        assert!(passed > 10, "seed {seed}: {passed} of 20 passed");
        assert!(
            bench.modem.stats().errors > 0,
            "seed {seed}: no random error happened, the test proves nothing"
        );
        // Short commands failing at random say nothing about the APDU size.
        assert_eq!(
            client.segment_size(),
            255,
            "seed {seed} ({refused} refused)"
        );
        assert_eq!(client.transport().max_apdu_data(), None);
    }
}

#[test]
fn a_modem_that_always_fails_gives_a_clear_error() {
    let bench = Bench::new(ModemConfig::new().with_random_errors(1, 1.0));
    let started = Instant::now();
    let err = bench.open(options()).unwrap_err();
    assert_eq!(
        err,
        AtError::Error {
            command: "AT".into()
        }
    );
    assert_eq!(err.to_string(), "the modem answered ERROR to AT");
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ------------------------------------------------------------------ deadlines

#[test]
fn a_modem_that_never_answers_hits_the_deadline() {
    let bench = Bench::new(ModemConfig::new().with_never_answers(true));
    let started = Instant::now();
    let err = bench
        .open(options().with_command_timeout(Duration::from_millis(300)))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, AtError::Timeout { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the modem did not answer AT within"),
        "{err}"
    );
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
}

#[test]
fn a_modem_that_stops_answering_mid_session_times_out_then_recovers() {
    let bench = Bench::new(ModemConfig::new());
    let mut t = bench
        .open(options().with_command_timeout(Duration::from_millis(400)))
        .unwrap();
    let mut client = es10_client(Lent(&mut t));
    client.open().unwrap();
    bench.modem.set_never_answers(true);
    let started = Instant::now();
    let err = client.get_eid().unwrap_err();
    assert!(
        matches!(&err, Es10Error::Transport(TransportError::Timeout { what }) if what.contains("AT+CGLA")),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        client.segment_size(),
        255,
        "a timeout is not a size problem"
    );
    bench.modem.set_never_answers(false);
    assert_eq!(client.get_eid().unwrap().to_string(), bench.eid);
    client.close().unwrap();
    drop(client);
    assert_eq!(t.max_apdu_data(), None);
}

#[test]
fn long_operations_get_the_long_deadline() {
    // Every command takes the modem 400 ms; ordinary commands may take 250 ms.
    let bench = Bench::new(ModemConfig::new().with_command_latency(Duration::from_millis(400)));
    let long = LongOperation::default();
    let guard = long.begin();
    let mut t = bench
        .open(
            options()
                .with_command_timeout(Duration::from_millis(250))
                .with_long_timeout(Duration::from_secs(5))
                .with_long_operation(long.clone()),
        )
        .unwrap();
    let (channel, _) = t.open_logical_channel(&ISD_R_AID).unwrap();
    assert_eq!(get_eid(&mut t, channel).unwrap(), bench.eid);
    drop(guard);
    assert!(!t.long_operation().is_on());
    assert!(matches!(
        get_eid(&mut t, channel),
        Err(TransportError::Timeout { .. })
    ));
    // A LoadBoundProfilePackage gets the long deadline without being told: here the card
    // refuses the made-up package, but in its own time, not by a deadline.
    let bpp_start = [0xBF, 0x36, 0x05, 0xBF, 0x23, 0x02, 0x80, 0x00];
    match plain_call(&mut t, channel, &bpp_start) {
        Ok(_) => {}
        Err(TransportError::Timeout { what }) => panic!("short deadline on a profile load: {what}"),
        Err(_) => {}
    }
    // The next ES10 command ends the profile load: short deadline again.
    assert!(matches!(
        get_eid(&mut t, channel),
        Err(TransportError::Timeout { .. })
    ));
    // Explicitly, through the transport's own handle.
    t.long_operation().set(true);
    assert_eq!(get_eid(&mut t, channel).unwrap(), bench.eid);
}

// ------------------------------------------------------------------ SIM refresh

#[test]
fn sim_refresh_power_cycles_the_card_and_channels_must_be_reopened() {
    for (method, resets) in [
        (SimRefresh::CfunCycle, 1),
        (SimRefresh::CfunReset, 1),
        (SimRefresh::None, 0),
    ] {
        for mode in [AccessMode::Csim, AccessMode::LogicalChannels] {
            let bench = Bench::new(ModemConfig::new().with_cmee(2));
            let mut t = bench
                .open(
                    options()
                        .with_mode(mode)
                        .with_profile(ModemProfile::generic().with_refresh(method)),
                )
                .unwrap();
            let (channel, _) = t.open_logical_channel(&ISD_R_AID).unwrap();
            assert_eq!(get_eid(&mut t, channel).unwrap(), bench.eid);
            t.refresh_sim().unwrap();
            assert_eq!(bench.resets(), resets, "{method:?}/{mode}");
            if resets > 0 {
                // The old channel died with the power cycle.
                assert!(get_eid(&mut t, channel).is_err());
            }
            es10_round(&mut t, &bench);
        }
    }
}

#[test]
fn simcom_profile_refreshes_with_cfun() {
    let bench = Bench::new(
        ModemConfig::new()
            .with_manufacturer("SIMCOM INCORPORATED")
            .with_model("SIMCOM_SIM7600G-H"),
    );
    let mut t = bench.transport();
    assert_eq!(t.profile().refresh, SimRefresh::CfunCycle);
    assert_eq!(t.profile().first_mode, AccessMode::Csim);
    es10_round(&mut t, &bench);
    assert_eq!(t.mode(), Some(AccessMode::Csim));
    t.refresh_sim().unwrap();
    assert_eq!(bench.resets(), 1);
    es10_round(&mut t, &bench);
}
