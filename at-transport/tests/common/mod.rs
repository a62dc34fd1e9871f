//! The bench every integration test uses: a SoftEuicc from a freshly generated test PKI, behind
//! the testbed's emulated modem on a real pty, reached through `AtTransport::open`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lpa::transport::{ApduTransport, TransportError};
use lpa_at::segment::{SegmentSizer, store_data_with_fallback};
use lpa_at::{AtError, AtOptions, AtTransport};
use lpa_core::apdu::{ISD_R_AID, LogicalChannel};
use lpa_core::der::{Decode, Encode};
use lpa_core::messages::{
    EuiccInfo2, GetEuiccDataRequest, GetEuiccDataResponse, GetEuiccInfo2Request, ProfileInfo,
    ProfileInfoListRequest, ProfileInfoListResponse,
};
use lpa_testbed::card::{Card, SharedCard};
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::modem::{Modem, ModemConfig};
use lpa_testbed::pki::{Curve, TestPki, TestPkiOptions};
use serialport::SerialPort;

pub type Port = Box<dyn SerialPort>;

/// A SoftEuicc that counts its resets (power cycles through AT+CFUN).
pub struct CountingCard {
    inner: SoftEuicc,
    resets: Arc<AtomicUsize>,
}

impl Card for CountingCard {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.inner.transmit(command)
    }

    fn reset(&mut self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
        self.inner.reset();
    }
}

pub struct Bench {
    pub modem: Modem,
    pub eid: String,
    resets: Arc<AtomicUsize>,
}

impl Bench {
    /// A modem configured by `config` in front of a new SoftEuicc.
    pub fn new(config: ModemConfig) -> Bench {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let pki = TestPki::generate(&TestPkiOptions::new(Curve::NistP256, now - day, now + day))
            .expect("test PKI");
        let euicc = SoftEuicc::new(
            EuiccIdentity::from_test_pki(&pki).expect("identity"),
            EuiccConfig::new(now),
        )
        .expect("SoftEuicc");
        let eid = euicc.eid().to_string();
        let resets = Arc::new(AtomicUsize::new(0));
        let card: SharedCard = Arc::new(Mutex::new(CountingCard {
            inner: euicc,
            resets: Arc::clone(&resets),
        }));
        let modem = Modem::start(card, config).expect("modem starts");
        Bench { modem, eid, resets }
    }

    pub fn path(&self) -> String {
        self.modem.path().to_string_lossy().into_owned()
    }

    /// Opens the transport on the modem's pty.
    pub fn open(&self, options: AtOptions) -> Result<AtTransport<Port>, AtError> {
        AtTransport::open(&self.path(), options)
    }

    /// Opens the transport with test options; panics on failure.
    pub fn transport(&self) -> AtTransport<Port> {
        self.open(options()).expect("transport opens")
    }

    pub fn resets(&self) -> usize {
        self.resets.load(Ordering::SeqCst)
    }
}

/// Deadlines short enough for tests, long enough for a loaded CI machine.
pub fn options() -> AtOptions {
    AtOptions::new()
        .with_command_timeout(Duration::from_secs(5))
        .with_long_timeout(Duration::from_secs(20))
        .with_refresh_timeout(Duration::from_secs(5))
}

/// One ES10 call through the segment-size fallback.
pub fn call<T: ApduTransport + ?Sized>(
    t: &mut T,
    channel: LogicalChannel,
    request: &[u8],
    sizer: &mut SegmentSizer,
) -> Result<Vec<u8>, TransportError> {
    store_data_with_fallback(t, channel, request, sizer)
}

/// ES10c.GetEID.
pub fn get_eid<T: ApduTransport + ?Sized>(
    t: &mut T,
    channel: LogicalChannel,
    sizer: &mut SegmentSizer,
) -> Result<String, TransportError> {
    let answer = call(t, channel, &GetEuiccDataRequest::eid().to_der(), sizer)?;
    let response = GetEuiccDataResponse::from_der(&answer).expect("GetEuiccDataResponse");
    Ok(response.eid_value.to_string())
}

/// ES10c.GetProfilesInfo, all profiles.
pub fn profiles<T: ApduTransport + ?Sized>(
    t: &mut T,
    channel: LogicalChannel,
    sizer: &mut SegmentSizer,
) -> Result<Vec<ProfileInfo>, TransportError> {
    let request = ProfileInfoListRequest {
        search_criteria: None,
        tag_list: None,
    };
    let answer = call(t, channel, &request.to_der(), sizer)?;
    match ProfileInfoListResponse::from_der(&answer).expect("ProfileInfoListResponse") {
        ProfileInfoListResponse::Ok(list) => Ok(list),
        other => panic!("GetProfilesInfo failed: {other:?}"),
    }
}

/// ES10b.GetEUICCInfo2: a response of several hundred bytes.
pub fn euicc_info2<T: ApduTransport + ?Sized>(
    t: &mut T,
    channel: LogicalChannel,
    sizer: &mut SegmentSizer,
) -> Result<EuiccInfo2, TransportError> {
    let answer = call(t, channel, &GetEuiccInfo2Request {}.to_der(), sizer)?;
    Ok(EuiccInfo2::from_der(&answer).expect("EUICCInfo2"))
}

/// A GetProfilesInfo request of about 220 bytes (a long tag list): long enough to need
/// several blocks below 128 bytes.
pub fn long_profiles_request() -> Vec<u8> {
    ProfileInfoListRequest {
        search_criteria: None,
        tag_list: Some([0x5A, 0x90, 0x91, 0x92].repeat(54)),
    }
    .to_der()
}

/// The full ES10 round a test runs in a mode: open the ISD-R, GetEID, GetProfilesInfo,
/// GetEUICCInfo2, close.
pub fn es10_round(t: &mut AtTransport<Port>, bench: &Bench) {
    let (channel, _) = t.open_logical_channel(&ISD_R_AID).expect("ISD-R opens");
    let mut sizer = SegmentSizer::new(t.max_apdu_data());
    assert_eq!(get_eid(t, channel, &mut sizer).expect("GetEID"), bench.eid);
    assert!(
        profiles(t, channel, &mut sizer)
            .expect("GetProfilesInfo")
            .is_empty()
    );
    let info2 = euicc_info2(t, channel, &mut sizer).expect("GetEUICCInfo2");
    assert!(!info2.euicc_ci_pkid_list_for_verification.is_empty());
    t.close_logical_channel(channel).expect("channel closes");
}
