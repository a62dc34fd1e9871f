//! The bench every integration test uses: a SoftEuicc from a freshly generated test PKI, behind
//! the testbed's emulated modem on a real pty, reached through `AtTransport::open`.
//!
//! ES10 calls go through the LPA's own `Es10Client` (with its segment-size handle shared with
//! the transport, as an application wires it), so the segment-size fallback under test is the
//! product's. Tests that drive logical channels themselves use [`plain_call`]: one STORE DATA
//! sequence, never sent again.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lpa::es10::{Es10Client, Es10Config};
use lpa::transport::{ApduTransport, TransportError};
use lpa_at::{AtError, AtOptions, AtTransport};
use lpa_core::apdu::{
    ExchangeConfig, INS_STORE_DATA, LogicalChannel, MAX_SHORT_COMMAND, StoreDataExchange, Transmit,
};
use lpa_core::der::{Decode, Encode};
use lpa_core::messages::{GetEuiccDataRequest, GetEuiccDataResponse, ProfileInfoListRequest};
use lpa_testbed::card::{Card, SharedCard};
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::modem::{Modem, ModemConfig, OversizeAnswer, SimAccess};
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

    /// Opens the transport with test options on a port that records every command line sent.
    pub fn recorded_transport(&self) -> (AtTransport<Recorder>, SentLines) {
        let port = serialport::new(self.path(), 115_200)
            .timeout(Duration::from_millis(20))
            .open()
            .expect("pty opens");
        let sent = SentLines::default();
        let recorder = Recorder {
            port,
            line: Vec::new(),
            sent: sent.clone(),
        };
        let t = AtTransport::new(recorder, options()).expect("transport opens");
        (t, sent)
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

/// A modem that carries at most `max` APDU data bytes and answers longer APDUs with `answer`.
pub fn small_apdu_modem(max: usize, answer: OversizeAnswer, access: SimAccess) -> Bench {
    Bench::new(
        ModemConfig::new()
            .with_cmee(2)
            .with_sim_access(access)
            .with_max_apdu_data(max, answer),
    )
}

// ------------------------------------------------------------------ recording port

/// The command lines a [`Recorder`] saw, shared with the test.
#[derive(Clone, Debug, Default)]
pub struct SentLines(Arc<Mutex<Vec<String>>>);

impl SentLines {
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// `(P2, Lc)` of every STORE DATA sent since the last [`clear`](Self::clear), from the
    /// hex APDU of `AT+CSIM=<len>,"<hex>"` or `AT+CGLA=<id>,<len>,"<hex>"`.
    pub fn store_data_blocks(&self) -> Vec<(u8, u8)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("AT+CSIM=") || l.starts_with("AT+CGLA="))
            .filter_map(|l| {
                let hex = l.split('"').nth(1)?;
                let apdu = hex::decode(hex).ok()?;
                match apdu.as_slice() {
                    [_, INS_STORE_DATA, _, p2, lc, ..] => Some((*p2, *lc)),
                    _ => None,
                }
            })
            .collect()
    }
}

/// A serial port that keeps a copy of every command line written to it.
pub struct Recorder {
    port: Port,
    line: Vec<u8>,
    sent: SentLines,
}

impl Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.port.read(buf)
    }
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.port.write(buf)?;
        for &b in &buf[..n] {
            if b == b'\r' {
                let line = String::from_utf8_lossy(&self.line).into_owned();
                self.sent.0.lock().unwrap().push(line);
                self.line.clear();
            } else {
                self.line.push(b);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.port.flush()
    }
}

// ------------------------------------------------------------------ the LPA's ES10 client

/// An `AtTransport` lent to an `Es10Client` for a while, so the test keeps the transport.
pub struct Lent<'a, P>(pub &'a mut AtTransport<P>);

impl<P: Read + Write + Send> ApduTransport for Lent<'_, P> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0.transmit(command)
    }

    fn open_logical_channel(
        &mut self,
        aid: &[u8],
    ) -> Result<(LogicalChannel, Vec<u8>), TransportError> {
        self.0.open_logical_channel(aid)
    }

    fn close_logical_channel(&mut self, channel: LogicalChannel) -> Result<(), TransportError> {
        self.0.close_logical_channel(channel)
    }

    fn max_apdu_data(&self) -> Option<usize> {
        self.0.max_apdu_data()
    }

    fn set_long_operation(&mut self, on: bool) {
        ApduTransport::set_long_operation(self.0, on)
    }

    fn after_profile_switch(&mut self) -> Result<(), TransportError> {
        self.0.after_profile_switch()
    }
}

/// An `Es10Client` over `t`, wired as an application wires it: the segment size starts at the
/// transport's hint and the transport holds the client's segment-size handle.
pub fn es10_client<T>(transport: T) -> Es10Client<T>
where
    T: ApduTransport + AsAtTransport,
{
    let mut config = Es10Config::new();
    config.segment_size = transport.max_apdu_data().unwrap_or(255);
    let mut client = Es10Client::new(transport, config);
    let handle = client.segment_size_handle();
    client
        .transport_mut()
        .at_transport()
        .share_segment_size(handle);
    client
}

/// Reaches the `AtTransport` inside what an `Es10Client` owns.
pub trait AsAtTransport {
    type Port: Read + Write + Send;
    fn at_transport(&mut self) -> &mut AtTransport<Self::Port>;
}

impl<P: Read + Write + Send> AsAtTransport for AtTransport<P> {
    type Port = P;
    fn at_transport(&mut self) -> &mut AtTransport<P> {
        self
    }
}

impl<P: Read + Write + Send> AsAtTransport for Lent<'_, P> {
    type Port = P;
    fn at_transport(&mut self) -> &mut AtTransport<P> {
        self.0
    }
}

/// The full ES10 round a test runs in a mode, through the LPA's `Es10Client`: open the
/// ISD-R, GetEID, GetProfilesInfo, GetEUICCInfo2, close.
pub fn es10_round<P: Read + Write + Send>(t: &mut AtTransport<P>, bench: &Bench) {
    let mut client = es10_client(Lent(t));
    client.open().expect("ISD-R opens");
    assert_eq!(client.get_eid().expect("GetEID").to_string(), bench.eid);
    assert!(client.all_profiles().expect("GetProfilesInfo").is_empty());
    let info2 = client.euicc_info2().expect("GetEUICCInfo2");
    assert!(!info2.info.euicc_ci_pkid_list_for_verification.is_empty());
    client.close().expect("channel closes");
}

// ------------------------------------------------------------------ raw channels

/// One ES10 request as one STORE DATA sequence on `channel`, sent once: no segment-size
/// fallback, no resend. For tests that hold several channels or watch one die.
pub fn plain_call<T: ApduTransport + ?Sized>(
    t: &mut T,
    channel: LogicalChannel,
    request: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let mut response = vec![0u8; 64 * 1024];
    let mut exchange =
        StoreDataExchange::new(channel, request, ExchangeConfig::default(), &mut response)?;
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    loop {
        match exchange.poll_transmit(&mut apdu)? {
            Transmit::Command(bytes) => {
                let answer = t.transmit(bytes)?;
                exchange.handle_response(&answer)?;
            }
            Transmit::Done { len } => return Ok(exchange.response()[..len].to_vec()),
        }
    }
}

/// ES10c.GetEID on `channel`, sent once.
pub fn get_eid<T: ApduTransport + ?Sized>(
    t: &mut T,
    channel: LogicalChannel,
) -> Result<String, TransportError> {
    let answer = plain_call(t, channel, &GetEuiccDataRequest::eid().to_der())?;
    let response = GetEuiccDataResponse::from_der(&answer).expect("GetEuiccDataResponse");
    Ok(response.eid_value.to_string())
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
