//! One suite of LPA scenarios, run over every transport (STYLE habit 8): the SoftEuicc
//! directly, AT+CSIM and AT+CCHO/CGLA over the emulated modem on a real pty (with echo,
//! unsolicited result codes, a bare `+CCHO` answer, silent `=?` probes, an APDU size limit),
//! and PC/SC through pcscd and vpcd. The test SM-DP+ is reached over real HTTPS on 127.0.0.1.
//!
//! Run with `--nocapture` to see the figures (time, APDUs and bytes per download).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Instant;

use common::{Bed, Transport, User, activation_code, lpa_over};
use lpa::{LpaError, Progress};
use lpa_core::messages::{CancelSessionReason, NotificationEvent, ProfileState};
use lpa_core::procedures::{CardCancellation, ServerCancellation};
use lpa_testbed::smdp::ProfileStatus;

/// Download, enable (with the REFRESH flag, and the transport's SIM refresh), disable, delete,
/// every notification delivered and removed from the card.
fn download_enable_and_notifications(transport: Transport, n: u32) {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(n, None);
    let mut running = lpa_over(&bed, transport);
    let lpa = &mut running.lpa;
    let mut user = User::accepting(None);
    let (apdus_before, bytes_before) = bed.counters();
    let started = Instant::now();
    let report = lpa
        .download(activation_code(&matching_id), &mut user)
        .unwrap();
    let elapsed = started.elapsed();
    let (apdus, bytes) = bed.counters();
    assert!(report.installation.is_installed());
    assert_eq!(report.installation.iccid, iccid);
    assert!(report.notifications.all_delivered());
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    assert_eq!(bed.installed(), [iccid]);
    assert!(bed.pending().is_empty());
    let total = user
        .events
        .iter()
        .find_map(|e| match e {
            Progress::Installing { total, .. } => Some(*total),
            _ => None,
        })
        .unwrap();
    println!(
        "{transport:?}: download + install notification in {} ms, {} APDUs, {} bytes on the \
         card link, BPP of {total} STORE DATA sequences, segment size {}",
        elapsed.as_millis(),
        apdus - apdus_before,
        bytes - bytes_before,
        lpa.es10().segment_size()
    );
    if transport == Transport::AtCsim {
        // The modem refused a 255-byte block; the transport lowered the shared size.
        assert_eq!(lpa.es10().segment_size(), 128);
    }

    let resets = bed.resets();
    let started = Instant::now();
    let enabled = lpa.enable(&iccid, true).unwrap();
    if transport == Transport::AtCsim {
        // A SIMCom modem needs an AT+CFUN cycle to see the new profile: the card was reset,
        // and the LPA opened its channel again.
        assert_eq!(bed.resets(), resets + 1);
    }
    println!(
        "{transport:?}: enable + refresh + notification in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(enabled.notifications.len(), 1);
    assert_eq!(
        enabled.notifications[0].operation,
        NotificationEvent::Enable
    );
    assert!(enabled.all_delivered());
    let profiles = lpa.profiles().unwrap();
    assert_eq!(profiles[0].profile_state, Some(ProfileState::Enabled));

    lpa.set_nickname(&iccid, "e2e").unwrap();
    let disabled = lpa.disable(&iccid, false).unwrap();
    assert!(disabled.all_delivered());
    assert_eq!(
        lpa.profiles().unwrap()[0].profile_state,
        Some(ProfileState::Disabled)
    );
    let deleted = lpa.delete(&iccid).unwrap();
    assert!(deleted.all_delivered());
    assert!(lpa.profiles().unwrap().is_empty());
    assert!(bed.pending().is_empty());
    let operations: Vec<String> = bed
        .smdp()
        .notifications()
        .iter()
        .map(|n| n.operation.clone())
        .collect();
    assert_eq!(operations.len(), 4, "{operations:?}");
}

/// A download whose SM-DP+ asks for a confirmation code.
fn download_with_confirmation_code(transport: Transport, n: u32) {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(n, Some("CC-4711-X"));
    let mut running = lpa_over(&bed, transport);
    let report = running
        .lpa
        .download(
            activation_code(&matching_id),
            &mut User::accepting(Some("CC-4711-X")),
        )
        .unwrap();
    assert!(report.installation.is_installed());
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    assert!(bed.pending().is_empty());
}

/// The user declines the profile: the session ends on both sides, nothing is installed.
fn declined_profile(transport: Transport, n: u32) {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(n, None);
    let mut running = lpa_over(&bed, transport);
    let lpa = &mut running.lpa;
    let err = lpa
        .download(activation_code(&matching_id), &mut User::declining())
        .unwrap_err();
    assert!(
        matches!(
            err,
            LpaError::Declined {
                reason: CancelSessionReason::EndUserRejection
            }
        ),
        "{err}"
    );
    let end = lpa.last_session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.requests(0xBF41), 1, "ES10b CancelSession");
    assert!(bed.card_has_no_session(&end.transaction_id));
    assert_eq!(bed.smdp().session_count(), 0);
    assert!(bed.installed().is_empty());
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
    assert!(lpa.stranded_session().unwrap().is_none());
}

/// The suite, once per transport.
macro_rules! suite {
    ($name:ident, $transport:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn download_enable_and_notifications() {
                super::download_enable_and_notifications($transport, 1);
            }

            #[test]
            fn download_with_confirmation_code() {
                super::download_with_confirmation_code($transport, 2);
            }

            #[test]
            fn declined_profile() {
                super::declined_profile($transport, 3);
            }
        }
    };
}

suite!(soft_euicc, Transport::SoftEuicc);
suite!(at_csim, Transport::AtCsim);
suite!(at_ccho_cgla, Transport::AtLogicalChannels);
suite!(pcsc, Transport::Pcsc);
