//! The LPA's own `Es10Client` over `AtTransport` on the emulated modem: the wiring an
//! application uses (the client's segment-size handle shared with the transport), in both
//! access modes, and the segment-size fallback on modems that refuse full-size APDUs with
//! `+CME ERROR`, `6700` or `6601`.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Bench, es10_client, long_profiles_request, small_apdu_modem};
use lpa::es10::Es10Error;
use lpa::transport::TransportError;
use lpa_at::AccessMode;
use lpa_core::apdu::{ApduError, StatusWord};
use lpa_core::der::Decode;
use lpa_core::messages::ProfileInfoListResponse;
use lpa_testbed::modem::{CmeError, ModemConfig, OversizeAnswer, SimAccess};

const ACCESS: [SimAccess; 2] = [SimAccess::CsimOnly, SimAccess::LogicalChannelsOnly];

/// What modems answer to a block they cannot carry.
const OVERSIZE_ANSWERS: [OversizeAnswer; 3] = [
    OversizeAnswer::CmeError(CmeError::OperationNotSupported),
    OversizeAnswer::Status(StatusWord(0x6700)),
    OversizeAnswer::Status(StatusWord(0x6601)),
];

#[test]
fn es10_client_in_both_modes() {
    for (access, mode) in [
        (SimAccess::CsimOnly, AccessMode::Csim),
        (SimAccess::LogicalChannelsOnly, AccessMode::LogicalChannels),
    ] {
        let bench = Bench::new(ModemConfig::new().with_cmee(2).with_sim_access(access));
        let mut client = es10_client(bench.transport());
        client.open().unwrap();
        assert_eq!(client.transport().mode(), Some(mode));
        assert_eq!(client.get_eid().unwrap().to_string(), bench.eid);
        assert!(client.all_profiles().unwrap().is_empty());
        client.euicc_info2().unwrap();
        client.close().unwrap();
    }
}

#[test]
fn es10_client_restarts_from_block_zero_with_smaller_segments_and_keeps_the_size() {
    for answer in OVERSIZE_ANSWERS {
        for access in ACCESS {
            let bench = small_apdu_modem(100, answer, access);
            let (transport, sent) = bench.recorded_transport();
            let mut client = es10_client(transport);
            client.open().unwrap();
            assert_eq!(client.segment_size(), 255);
            // ~220 bytes: refused whole, refused at 128, passes in 64-byte blocks.
            let request = long_profiles_request();
            let n = request.len();
            assert!(n > 192 && n <= 255, "{n}");
            sent.clear();
            let response = client
                .call(&request)
                .unwrap_or_else(|e| panic!("{answer:?}/{access:?}: {e}"));
            assert!(matches!(
                ProfileInfoListResponse::from_der(&response).unwrap(),
                ProfileInfoListResponse::Ok(list) if list.is_empty()
            ));
            // Each restart begins a new command at P2 = 00 (GPCS §11.11.2.2).
            let last = u8::try_from(n - 192).unwrap();
            assert_eq!(
                sent.store_data_blocks(),
                [
                    (0, u8::try_from(n).unwrap()),
                    (0, 128),
                    (0, 64),
                    (1, 64),
                    (2, 64),
                    (3, last)
                ],
                "{answer:?}/{access:?}"
            );
            assert_eq!(client.segment_size(), 64, "{answer:?}/{access:?}");
            assert_eq!(client.transport().max_apdu_data(), Some(64));
            assert_eq!(client.transport().memory().max_apdu_data, Some(64));
            // Kept for the session: the next commands start at 64 and nothing is refused.
            let refused = bench.modem.stats().errors;
            sent.clear();
            client.call(&request).unwrap();
            assert_eq!(sent.store_data_blocks().first(), Some(&(0, 64)));
            assert_eq!(client.get_eid().unwrap().to_string(), bench.eid);
            assert_eq!(bench.modem.stats().errors, refused);
            client.close().unwrap();
        }
    }
}

#[test]
fn es10_client_gives_up_when_no_segment_size_passes() {
    // 40 data bytes at most: SELECT of the ISD-R and GetEID pass, no STORE DATA size does.
    for answer in OVERSIZE_ANSWERS {
        for access in ACCESS {
            let bench = small_apdu_modem(40, answer, access);
            let (transport, sent) = bench.recorded_transport();
            let mut client = es10_client(transport);
            client.open().unwrap();
            let request = long_profiles_request();
            sent.clear();
            let err = client.call(&request).unwrap_err();
            // The whole command, then 128, then 64: no further resend, the modem's words kept.
            let blocks = sent.store_data_blocks();
            assert_eq!(
                blocks,
                [(0, u8::try_from(request.len()).unwrap()), (0, 128), (0, 64)],
                "{answer:?}/{access:?}"
            );
            match (answer, &err) {
                (
                    OversizeAnswer::CmeError(_),
                    Es10Error::Transport(TransportError::Refused(words)),
                ) => assert!(words.contains("operation not supported"), "{words}"),
                (
                    OversizeAnswer::Status(sw),
                    Es10Error::Apdu {
                        error: ApduError::Status { sw: got, .. },
                        ..
                    },
                ) => assert_eq!(*got, sw),
                _ => panic!("{answer:?}/{access:?}: {err:?}"),
            }
            assert_eq!(client.segment_size(), 64);
            // Short commands still pass.
            assert_eq!(client.get_eid().unwrap().to_string(), bench.eid);
            client.close().unwrap();
        }
    }
}

#[test]
fn the_cache_remembers_the_segment_size_for_the_next_client() {
    let bench = small_apdu_modem(
        100,
        OversizeAnswer::CmeError(CmeError::OperationNotSupported),
        SimAccess::CsimOnly,
    );
    let mut cache = lpa_at::ModemCache::new();
    {
        let mut client = es10_client(bench.transport());
        client.open().unwrap();
        client.call(&long_profiles_request()).unwrap();
        client.close().unwrap();
        client.transport().remember_in(&mut cache);
    }
    let json = cache.to_json();
    assert!(json.contains("\"open-lpa/testbed-modem\""), "{json}");
    let cache = lpa_at::ModemCache::from_json(&json).unwrap();
    let transport = bench.open(common::options().with_cache(cache)).unwrap();
    assert_eq!(transport.max_apdu_data(), Some(64));
    let errors = bench.modem.stats().errors;
    let mut client = es10_client(transport);
    assert_eq!(client.segment_size(), 64);
    client.open().unwrap();
    assert_eq!(client.transport().mode(), Some(AccessMode::Csim));
    client.call(&long_profiles_request()).unwrap();
    assert_eq!(
        bench.modem.stats().errors,
        errors,
        "no AT+CCHO tried, no oversize block sent"
    );
}
