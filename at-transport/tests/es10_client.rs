//! The LPA's own `Es10Client` over `AtTransport` on the emulated modem: the wiring an
//! application uses (the client's segment-size handle shared with the transport), in both
//! access modes and on a modem that refuses full-size APDUs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Bench, Port, long_profiles_request};
use lpa::es10::{Es10Client, Es10Config};
use lpa_at::{AccessMode, AtTransport};
use lpa_core::apdu::StatusWord;
use lpa_core::der::Decode;
use lpa_core::messages::ProfileInfoListResponse;
use lpa_testbed::modem::{CmeError, ModemConfig, OversizeAnswer, SimAccess};

/// A client over the bench's modem, set up as an application would.
fn client(bench: &Bench) -> Es10Client<AtTransport<Port>> {
    let transport = bench.transport();
    let mut config = Es10Config::new();
    config.segment_size = transport.max_apdu_data().unwrap_or(255);
    let mut client = Es10Client::new(transport, config);
    let handle = client.segment_size_handle();
    client.transport_mut().share_segment_size(handle);
    client
}

#[test]
fn es10_client_in_both_modes() {
    for (access, mode) in [
        (SimAccess::CsimOnly, AccessMode::Csim),
        (SimAccess::LogicalChannelsOnly, AccessMode::LogicalChannels),
    ] {
        let bench = Bench::new(ModemConfig::new().with_cmee(2).with_sim_access(access));
        let mut client = client(&bench);
        client.open().unwrap();
        assert_eq!(client.transport().mode(), Some(mode));
        assert_eq!(client.get_eid().unwrap().to_string(), bench.eid);
        assert!(client.all_profiles().unwrap().is_empty());
        client.euicc_info2().unwrap();
        client.close().unwrap();
    }
}

#[test]
fn es10_client_completes_after_the_segment_fallback() {
    let answers = [
        OversizeAnswer::CmeError(CmeError::OperationNotSupported),
        OversizeAnswer::Status(StatusWord(0x6700)),
    ];
    for answer in answers {
        for access in [SimAccess::CsimOnly, SimAccess::LogicalChannelsOnly] {
            let bench = Bench::new(
                ModemConfig::new()
                    .with_cmee(2)
                    .with_sim_access(access)
                    .with_max_apdu_data(100, answer),
            );
            let mut client = client(&bench);
            client.open().unwrap();
            assert_eq!(client.segment_size(), 255);
            let response = client
                .call(&long_profiles_request())
                .unwrap_or_else(|e| panic!("{answer:?}/{access:?}: {e}"));
            assert!(matches!(
                ProfileInfoListResponse::from_der(&response).unwrap(),
                ProfileInfoListResponse::Ok(list) if list.is_empty()
            ));
            assert_eq!(client.segment_size(), 64, "{answer:?}/{access:?}");
            assert_eq!(client.transport().max_apdu_data(), Some(64));
            // Kept for the session: later commands pass without refusals.
            let refused = bench.modem.stats().errors;
            client.call(&long_profiles_request()).unwrap();
            assert_eq!(client.get_eid().unwrap().to_string(), bench.eid);
            assert_eq!(bench.modem.stats().errors, refused);
            client.close().unwrap();
        }
    }
}
