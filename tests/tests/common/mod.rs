//! The testbed the end-to-end tests share: a SoftEuicc that counts what it sees, the test
//! SM-DP+ over HTTPS on 127.0.0.1, and an `Lpa` over any of the transports.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use lpa::https::HttpsClient;
use lpa::storage::{MemoryStore, SessionStore};
use lpa::transport::ApduTransport;
use lpa::{Answer, DownloadRequest, DownloadUi, Lpa, LpaConfig, Progress};
use lpa_at::AccessMode;
use lpa_core::der::{Decode, Encode};
use lpa_core::es9::TransactionId;
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    CancelSessionError, CancelSessionReason, CancelSessionRequest, CancelSessionResponse,
    StoreMetadataRequest,
};
use lpa_pcsc::{PcscConfig, PcscTransport, ReaderSelector, list_readers, wait_for_card};
use lpa_testbed::card::{Card, SharedCard};
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::modem::{CchoAnswer, CmeError, Modem, ModemConfig, OversizeAnswer};
use lpa_testbed::pki::{Curve, DEFAULT_EID, DEFAULT_SMDP_HOST, TestPki, TestPkiOptions};
use lpa_testbed::smdp::{
    ProfileStatus, ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer,
};
use lpa_testbed::support::{Es2Order, order_profile};
use lpa_testbed::vpcd::{VirtualCard, VpcdConfig};

pub use lpa_e2e::{STEP, https_client, lpa_on_modem};

/// vpcd's first reader.
pub const READER: &str = "Virtual PCD 00 00";

// ------------------------------------------------------------------------------- the card

/// The SoftEuicc, counting the APDUs and bytes it exchanges and noting the tag of every ES10
/// request (first STORE DATA block) it receives.
pub struct CountingCard {
    pub euicc: SoftEuicc,
    pub apdus: u64,
    pub bytes: u64,
    pub requests: Vec<u32>,
    /// Resets (power cycles) the card went through.
    pub resets: u32,
}

impl Card for CountingCard {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.apdus += 1;
        if command.len() > 5 && command[1] == 0xE2 && command[3] == 0 {
            let tag = match command[5] {
                b if b & 0x1F == 0x1F => u32::from_be_bytes([0, 0, b, command[6]]),
                b => u32::from(b),
            };
            self.requests.push(tag);
        }
        let answer = self.euicc.transmit(command);
        self.bytes += (command.len() + answer.len()) as u64;
        answer
    }

    fn reset(&mut self) {
        self.resets += 1;
        self.euicc.reset();
    }
}

// ------------------------------------------------------------------------------- the bed

/// A test PKI valid for years.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        TestPki::generate(&TestPkiOptions::new(
            Curve::NistP256,
            now - day,
            now + 3650 * day,
        ))
        .unwrap()
    })
}

/// The test SM-DP+ on 127.0.0.1 and one SoftEuicc.
pub struct Bed {
    pub server: SmdpServer,
    pub card: Arc<Mutex<CountingCard>>,
}

impl Bed {
    pub fn new() -> Self {
        let smdp = Smdp::new(SmdpConfig::from_pki(pki())).unwrap();
        let server = SmdpServer::start(Arc::new(smdp), ServerOptions::default()).unwrap();
        let euicc = SoftEuicc::new(
            EuiccIdentity::from_test_pki(pki()).unwrap(),
            EuiccConfig::new(SystemTime::now()),
        )
        .unwrap();
        Bed {
            server,
            card: Arc::new(Mutex::new(CountingCard {
                euicc,
                apdus: 0,
                bytes: 0,
                requests: Vec::new(),
                resets: 0,
            })),
        }
    }

    pub fn shared_card(&self) -> SharedCard {
        self.card.clone()
    }

    pub fn smdp(&self) -> &Smdp {
        self.server.smdp()
    }

    /// The bundled HTTPS client, trusting the test CI, reaching the SM-DP+ by name.
    pub fn https(&self) -> HttpsClient {
        https_client(self.server.addr(), &pki().ci.certificate)
    }

    /// ES2+ downloadOrder + confirmOrder (released) of demo profile `n`.
    pub fn order(&self, n: u32, confirmation_code: Option<&str>) -> (Iccid, String) {
        self.order_profile(ServedProfile::demo(n), confirmation_code)
    }

    /// Adds `profile` to the SM-DP+ and orders it (ES2+, released) for the card's EID: its
    /// ICCID and the matching ID.
    pub fn order_profile(
        &self,
        profile: ServedProfile,
        confirmation_code: Option<&str>,
    ) -> (Iccid, String) {
        let iccid = profile.iccid;
        self.smdp().add_profile(profile).unwrap();
        let order = Es2Order::new(DEFAULT_EID, iccid).with_confirmation_code(confirmation_code);
        (iccid, order_profile(self.smdp(), &order).unwrap())
    }

    pub fn status(&self, iccid: &Iccid) -> ProfileStatus {
        self.smdp().profile(&iccid.to_string()).unwrap().status
    }

    pub fn installed(&self) -> Vec<Iccid> {
        self.card
            .lock()
            .unwrap()
            .euicc
            .installed_profiles()
            .iter()
            .map(|p| p.iccid)
            .collect()
    }

    pub fn pending(&self) -> Vec<u32> {
        self.card
            .lock()
            .unwrap()
            .euicc
            .pending_notification_numbers()
    }

    /// APDUs and bytes the card exchanged so far.
    pub fn counters(&self) -> (u64, u64) {
        let card = self.card.lock().unwrap();
        (card.apdus, card.bytes)
    }

    /// How many times the card was reset.
    pub fn resets(&self) -> u32 {
        self.card.lock().unwrap().resets
    }

    /// How many requests with this tag the card received.
    pub fn requests(&self, tag: u32) -> usize {
        let card = self.card.lock().unwrap();
        card.requests.iter().filter(|t| **t == tag).count()
    }

    /// Whether the card has no download session `tid` (probed with CancelSession).
    pub fn card_has_no_session(&self, tid: &TransactionId) -> bool {
        let request = CancelSessionRequest {
            transaction_id: tid.as_bytes().to_vec(),
            reason: CancelSessionReason::UndefinedReason,
        };
        let answer = self
            .card
            .lock()
            .unwrap()
            .euicc
            .process_es10(&request.to_der())
            .unwrap();
        CancelSessionResponse::from_der(&answer).unwrap()
            == CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId)
    }
}

/// The activation code of an order at the test SM-DP+.
pub fn activation_code(matching_id: &str) -> DownloadRequest {
    DownloadRequest::ActivationCode(format!("LPA:1${DEFAULT_SMDP_HOST}${matching_id}"))
}

// ------------------------------------------------------------------------------- the user

/// A user who accepts, knows the confirmation code if given one, and keeps the events.
pub struct User {
    pub answer: Answer,
    pub code: Option<String>,
    pub events: Vec<Progress>,
}

impl User {
    pub fn accepting(code: Option<&str>) -> Self {
        User {
            answer: Answer::Accept,
            code: code.map(str::to_owned),
            events: Vec::new(),
        }
    }

    pub fn declining() -> Self {
        User {
            answer: Answer::Decline(CancelSessionReason::EndUserRejection),
            code: None,
            events: Vec::new(),
        }
    }
}

impl DownloadUi for User {
    fn confirm_profile(&mut self, _: &StoreMetadataRequest, _: &str) -> Answer {
        self.answer.clone()
    }

    fn confirmation_code(&mut self, _: &str) -> Option<String> {
        self.code.clone()
    }

    fn progress(&mut self, event: &Progress) {
        self.events.push(event.clone());
    }
}

// ------------------------------------------------------------------------------- transports

/// The ways the suite reaches the SoftEuicc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// An `ApduTransport` adapter straight into the card.
    SoftEuicc,
    /// `lpa_at::AtTransport` in AT+CSIM mode, over the emulated modem on a pty: a SIMCom-like
    /// modem (AT+CFUN cycle after a profile switch) that echoes, sends URCs and refuses
    /// APDUs with more than 128 data bytes (the shared segment size falls back).
    AtCsim,
    /// `lpa_at::AtTransport` in AT+CCHO/CGLA mode: a Fibocom-like modem answering a bare
    /// `+CCHO` id, silent on `=?` probes, echoing, with URCs.
    AtLogicalChannels,
    /// `lpa_pcsc::PcscTransport` through pcscd and vpcd's virtual reader.
    Pcsc,
}

/// An `ApduTransport` straight into the shared card; channels from the trait's defaults.
pub struct Direct(pub SharedCard);

impl ApduTransport for Direct {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, lpa::transport::TransportError> {
        Ok(self.0.lock().unwrap().transmit(command))
    }
}

/// An `Lpa` and what keeps its transport's far side alive; the `Lpa` is dropped first (its
/// channel closed while the far side still answers).
pub struct Running {
    pub lpa: Lpa,
    pub rig: Rig,
}

/// What keeps a transport's far side alive: the modem, the virtual card and the turn on the
/// one PC/SC reader.
pub enum Rig {
    None,
    Modem(Modem),
    Pcsc {
        virtual_card: VirtualCard,
        _turn: MutexGuard<'static, ()>,
    },
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Rig::Pcsc { virtual_card, .. } = self {
            virtual_card.stop();
            // Let pcscd see the card leave before the next test inserts its own.
            let end = Instant::now() + STEP;
            while Instant::now() < end {
                match list_readers(STEP) {
                    Ok(readers) if readers.iter().any(|r| r.name == READER && r.card_present) => {
                        thread::sleep(Duration::from_millis(50))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// The emulated modem of [`Transport::AtCsim`].
pub fn csim_modem() -> ModemConfig {
    ModemConfig::new()
        .with_manufacturer("SIMCOM INCORPORATED")
        .with_model("SIMCOM_SIM7600G-H")
        .with_echo(true)
        .with_unsolicited_codes(["+CREG: 1", "RING"])
        .with_unsolicited_every(7)
        .with_max_apdu_data(
            128,
            OversizeAnswer::CmeError(CmeError::OperationNotSupported),
        )
}

/// The emulated modem of [`Transport::AtLogicalChannels`].
pub fn ccho_modem() -> ModemConfig {
    ModemConfig::new()
        .with_manufacturer("Fibocom")
        .with_model("FM350-GL")
        .with_echo(true)
        .with_ccho_answer(CchoAnswer::Bare)
        .with_test_commands(lpa_testbed::modem::TestCommandAnswer::Silent)
        .with_unsolicited_codes(["+CREG: 1"])
        .with_unsolicited_every(5)
}

/// The `Lpa` over `transport`, with a fresh memory store, and what keeps its far side alive.
pub fn lpa_over(bed: &Bed, transport: Transport) -> Running {
    lpa_with_store(bed, transport, Box::new(MemoryStore::new()))
}

/// The `Lpa` over `transport` with `store`.
pub fn lpa_with_store(bed: &Bed, transport: Transport, store: Box<dyn SessionStore>) -> Running {
    let http = Arc::new(bed.https());
    let config = LpaConfig::new();
    match transport {
        Transport::SoftEuicc => {
            let lpa = Lpa::new(Box::new(Direct(bed.shared_card())), http, store, config).unwrap();
            Running {
                lpa,
                rig: Rig::None,
            }
        }
        Transport::AtCsim | Transport::AtLogicalChannels => {
            let (modem_config, mode) = if transport == Transport::AtCsim {
                (csim_modem(), AccessMode::Csim)
            } else {
                (ccho_modem(), AccessMode::LogicalChannels)
            };
            let modem = Modem::start(bed.shared_card(), modem_config).unwrap();
            let lpa = lpa_on_modem(modem.path(), mode, http, store);
            Running {
                lpa,
                rig: Rig::Modem(modem),
            }
        }
        Transport::Pcsc => {
            let turn = reader_turn();
            require_pcsc();
            let virtual_card = VirtualCard::start(bed.shared_card(), VpcdConfig::new()).unwrap();
            assert!(
                virtual_card.wait_for_reader(STEP),
                "vpcd did not take the virtual card: {:?}",
                virtual_card.last_error()
            );
            wait_for_card(&ReaderSelector::name_contains(READER), STEP).unwrap();
            let pcsc = PcscTransport::open(
                PcscConfig::new()
                    .with_reader(ReaderSelector::name_contains(READER))
                    .with_connect_timeout(STEP)
                    .with_command_timeout(STEP)
                    .with_store_data_timeout(STEP),
            )
            .unwrap();
            let lpa = Lpa::new(Box::new(pcsc), http, store, config).unwrap();
            Running {
                lpa,
                rig: Rig::Pcsc {
                    virtual_card,
                    _turn: turn,
                },
            }
        }
    }
}

// ------------------------------------------------------------------------------- PC/SC

/// Serialises the PC/SC tests: there is one virtual reader.
fn reader_turn() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fails the test unless pcscd runs with vpcd: the check only looks (`scripts/pcsc-setup`,
/// which `scripts/check` runs first, sets PC/SC up). PC/SC being unavailable is never a skip.
fn require_pcsc() {
    lpa_testbed::support::require_pcsc_vpcd();
}
