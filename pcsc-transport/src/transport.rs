//! The PC/SC session: one card handle owned by a session thread, commands with deadlines.

use std::ffi::CString;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use lpa::transport::{ApduTransport, TransportError};
use lpa_core::apdu::INS_STORE_DATA;
use pcsc::{Card, Protocols, ShareMode};

use crate::deadline::thread_name;
use crate::error::PcscError;
use crate::reader::{ReaderSelector, establish, readers_of};

/// The largest response PC/SC can return (an extended APDU's 65536 bytes, SW and PCI room):
/// pcsc-lite's `MAX_BUFFER_SIZE_EXTENDED`.
const RECEIVE_BUFFER: usize = pcsc::MAX_BUFFER_SIZE_EXTENDED;

/// Which transmission protocols the transport accepts (pcscd negotiates one the card's ATR
/// offers).
///
/// pcsc-lite negotiates the protocol once per power-up and keeps it: a session asking for
/// another one than the card is already using fails with [`PcscError::CardUnusable`]
/// (`SCARD_E_PROTO_MISMATCH`) until the card is reset, e.g. by ending the earlier session with
/// [`OnClose::Reset`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PreferredProtocol {
    /// T=0 or T=1, whichever pcscd chooses: pcsc-lite tries T=1 first when the card offers
    /// both, and falls back to T=0 if the reader refuses it.
    #[default]
    Any,
    /// T=0 only (character protocol; every UICC supports it).
    T0,
    /// T=1 only (block protocol).
    T1,
}

impl PreferredProtocol {
    fn protocols(self) -> Protocols {
        match self {
            PreferredProtocol::Any => Protocols::T0 | Protocols::T1,
            PreferredProtocol::T0 => Protocols::T0,
            PreferredProtocol::T1 => Protocols::T1,
        }
    }
}

/// The protocol in use on a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// T=0. pcsc-lite passes `61xx`/`6Cxx` through; the LPA core sends GET RESPONSE.
    T0,
    /// T=1.
    T1,
    /// The reader's raw protocol.
    Raw,
}

/// How the card is shared while the session is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// No other application can use the card until the session ends (`SCARD_SHARE_EXCLUSIVE`):
    /// nobody selects another applet or closes our logical channel in the middle of a profile
    /// download.
    #[default]
    Exclusive,
    /// Other applications may use the card too (`SCARD_SHARE_SHARED`), for diagnostics.
    Shared,
}

/// What happens to the card when the session ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnClose {
    /// Leave it as it is (`SCARD_LEAVE_CARD`); the LPA closes its logical channels itself.
    #[default]
    Leave,
    /// Warm reset (`SCARD_RESET_CARD`): every logical channel closes.
    Reset,
    /// Power it down (`SCARD_UNPOWER_CARD`).
    Unpower,
}

impl OnClose {
    fn disposition(self) -> pcsc::Disposition {
        match self {
            OnClose::Leave => pcsc::Disposition::LeaveCard,
            OnClose::Reset => pcsc::Disposition::ResetCard,
            OnClose::Unpower => pcsc::Disposition::UnpowerCard,
        }
    }
}

/// How [`PcscTransport::open`] finds, connects to and talks to the card.
#[derive(Clone, Debug)]
pub struct PcscConfig {
    reader: ReaderSelector,
    protocol: PreferredProtocol,
    access: Access,
    on_close: OnClose,
    connect_timeout: Duration,
    command_timeout: Duration,
    store_data_timeout: Duration,
    close_timeout: Duration,
}

impl PcscConfig {
    /// The first reader with a card, T=0 or T=1, exclusive access, card left as it is on close;
    /// 10 s to connect, 10 s per command, 120 s per STORE DATA (a profile's segments can take
    /// long to install), 5 s to disconnect.
    pub fn new() -> Self {
        PcscConfig {
            reader: ReaderSelector::FirstWithCard,
            protocol: PreferredProtocol::Any,
            access: Access::Exclusive,
            on_close: OnClose::Leave,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            store_data_timeout: Duration::from_secs(120),
            close_timeout: Duration::from_secs(5),
        }
    }

    /// Which reader to use.
    pub fn with_reader(mut self, reader: ReaderSelector) -> Self {
        self.reader = reader;
        self
    }

    /// Which protocols to accept.
    pub fn with_protocol(mut self, protocol: PreferredProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Exclusive (default) or shared access.
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// What to do with the card when the session ends.
    pub fn with_on_close(mut self, on_close: OnClose) -> Self {
        self.on_close = on_close;
        self
    }

    /// The deadline for establishing the PC/SC context and connecting to the card.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The deadline for one command other than STORE DATA.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The deadline for one STORE DATA command (ES10 requests, Bound Profile Package segments).
    pub fn with_store_data_timeout(mut self, timeout: Duration) -> Self {
        self.store_data_timeout = timeout;
        self
    }

    /// The deadline for disconnecting when the session ends.
    pub fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The deadline that applies to `command` (by its INS byte).
    fn timeout_for(&self, command: &[u8]) -> Duration {
        if command.get(1) == Some(&INS_STORE_DATA) {
            self.store_data_timeout
        } else {
            self.command_timeout
        }
    }
}

impl Default for PcscConfig {
    fn default() -> Self {
        PcscConfig::new()
    }
}

/// What the session thread reports once connected.
struct Connected {
    reader: String,
    protocol: Protocol,
    atr: Vec<u8>,
}

/// Work for the session thread.
enum Job {
    /// Transmit a command; the answer goes to the sender.
    Transmit(Vec<u8>, mpsc::Sender<Result<Vec<u8>, PcscError>>),
    /// Disconnect; the outcome goes to the sender; then the thread ends.
    Close(mpsc::Sender<Result<(), PcscError>>),
}

/// An eUICC in a PC/SC reader, as an [`ApduTransport`].
///
/// [`PcscTransport::open`] picks the reader, connects (T=0 or T=1, exclusive access by default)
/// and keeps the card handle on a session thread (`pcsc-session-<n>`) for as long as the
/// transport lives; every command waits for its answer at most its deadline. Logical channels use
/// the trait's defaults (MANAGE CHANNEL and SELECT through [`ApduTransport::transmit`]);
/// `61xx`/`6Cxx` come back as they are (pcsc-lite sends no GET RESPONSE of its own, even on T=0)
/// and the LPA core follows them.
///
/// After a missed deadline the session is unusable ([`PcscError::SessionBroken`]): the command
/// may still complete on the card, so the LPA must start over on a new transport. Dropping the
/// transport (or [`PcscTransport::close`]) disconnects and joins the session thread, waiting at
/// most the close deadline.
#[derive(Debug)]
pub struct PcscTransport {
    reader: String,
    protocol: Protocol,
    atr: Vec<u8>,
    config: PcscConfig,
    jobs: Option<mpsc::Sender<Job>>,
    /// Disconnected when the session thread has ended.
    ended: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
    broken: Option<String>,
}

impl PcscTransport {
    /// Picks the reader, connects to its card and starts the session.
    pub fn open(config: PcscConfig) -> Result<PcscTransport, PcscError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (ended_tx, ended_rx) = mpsc::channel::<()>();
        let session_config = config.clone();
        let thread = thread::Builder::new()
            .name(thread_name("pcsc-session"))
            .spawn(move || {
                // Dropped when the thread ends, which the transport's receiver notices.
                let _ended = ended_tx;
                run_session(&session_config, &ready_tx, &jobs_rx);
            })
            .map_err(|e| PcscError::Thread(e.to_string()))?;
        let connected = match ready_rx.recv_timeout(config.connect_timeout) {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The thread disconnects on its own if the connection completes later: its
                // report then finds nobody listening.
                return Err(PcscError::Timeout {
                    what: format!("connecting to the card in {}", config.reader),
                    after: config.connect_timeout,
                });
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
                return Err(PcscError::Thread(
                    "the PC/SC session thread ended without connecting".to_owned(),
                ));
            }
        };
        log::debug!(
            "PC/SC: connected to {:?} with {:?}, ATR {:02X?}",
            connected.reader,
            connected.protocol,
            connected.atr
        );
        Ok(PcscTransport {
            reader: connected.reader,
            protocol: connected.protocol,
            atr: connected.atr,
            config,
            jobs: Some(jobs_tx),
            ended: ended_rx,
            thread: Some(thread),
            broken: None,
        })
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The protocol pcscd negotiated.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The card's ATR at connection time.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// The configuration the session was opened with.
    pub fn config(&self) -> &PcscConfig {
        &self.config
    }

    /// Changes the deadline for STORE DATA commands (e.g. longer during a profile load).
    pub fn set_store_data_timeout(&mut self, timeout: Duration) {
        self.config.store_data_timeout = timeout;
    }

    /// Changes the deadline for the other commands.
    pub fn set_command_timeout(&mut self, timeout: Duration) {
        self.config.command_timeout = timeout;
    }

    /// The name of the session thread, so that a test can check that none is left running.
    pub fn thread_name(&self) -> Option<&str> {
        self.thread.as_ref().and_then(|t| t.thread().name())
    }

    /// Sends one command APDU and returns the response (data, SW1, SW2) as the card gave it,
    /// with the PC/SC failure typed. [`ApduTransport::transmit`] is this with the error mapped.
    pub fn transmit_apdu(&mut self, command: &[u8]) -> Result<Vec<u8>, PcscError> {
        if let Some(reason) = &self.broken {
            return Err(PcscError::SessionBroken {
                reason: reason.clone(),
            });
        }
        let timeout = self.config.timeout_for(command);
        let (tx, rx) = mpsc::channel();
        self.submit(Job::Transmit(command.to_vec(), tx))?;
        match rx.recv_timeout(timeout) {
            // A removed or reset card keeps being reported by pcscd itself.
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let e = PcscError::Timeout {
                    what: format!(
                        "command {:02X?} to the card in {:?}",
                        command.get(..4).unwrap_or(command),
                        self.reader
                    ),
                    after: timeout,
                };
                self.broken = Some(e.to_string());
                Err(e)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.session_gone()),
        }
    }

    /// Ends the session: disconnects from the card (see [`PcscConfig::with_on_close`]) and joins
    /// the session thread, reporting a failure to disconnect. Dropping the transport does the
    /// same and ignores the outcome.
    pub fn close(mut self) -> Result<(), PcscError> {
        self.shut_down()
    }

    fn submit(&mut self, job: Job) -> Result<(), PcscError> {
        let Some(jobs) = &self.jobs else {
            return Err(self.session_gone());
        };
        jobs.send(job).map_err(|_| self.session_gone())
    }

    fn session_gone(&self) -> PcscError {
        PcscError::SessionBroken {
            reason: "the PC/SC session thread has ended".to_owned(),
        }
    }

    fn shut_down(&mut self) -> Result<(), PcscError> {
        let Some(jobs) = self.jobs.take() else {
            return Ok(());
        };
        let timeout = self.config.close_timeout;
        let (tx, rx) = mpsc::channel();
        let outcome = if self.broken.is_none() && jobs.send(Job::Close(tx)).is_ok() {
            match rx.recv_timeout(timeout) {
                Ok(result) => result,
                Err(_) => Err(PcscError::Timeout {
                    what: format!("disconnecting from {:?}", self.reader),
                    after: timeout,
                }),
            }
        } else {
            Ok(())
        };
        // Without the sender, the thread ends after its current job (a late transmit after a
        // missed deadline): wait for that, within the deadline.
        drop(jobs);
        match self.ended.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {
                log::warn!(
                    "PC/SC session thread for {:?} still blocked in pcscd after {timeout:?}; \
                     leaving it to end when pcscd answers",
                    self.reader
                );
            }
        }
        outcome
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

impl ApduTransport for PcscTransport {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.transmit_apdu(command)?)
    }
}

/// The session thread: connects, reports, then runs jobs until closed.
fn run_session(
    config: &PcscConfig,
    ready: &mpsc::Sender<Result<Connected, PcscError>>,
    jobs: &mpsc::Receiver<Job>,
) {
    let (card, reader) = match connect(config) {
        Ok(connected) => connected,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let report = session_info(&card, &reader);
    let report_ok = report.is_ok();
    if ready.send(report).is_err() || !report_ok {
        // Nobody waits any more (the connect deadline passed), or the card is unusable.
        let _ = card.disconnect(config.on_close.disposition());
        return;
    }
    let mut card = Some(card);
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Transmit(command, answer) => {
                let result = match &card {
                    Some(card) => transmit(card, &reader, &command),
                    None => Err(PcscError::SessionBroken {
                        reason: "the session was closed".to_owned(),
                    }),
                };
                let _ = answer.send(result);
            }
            Job::Close(answer) => {
                let result = match card.take() {
                    Some(card) => {
                        card.disconnect(config.on_close.disposition())
                            .map_err(|(_, e)| {
                                PcscError::from_pcsc("SCardDisconnect", Some(&reader), true, e)
                            })
                    }
                    None => Ok(()),
                };
                let _ = answer.send(result);
                return;
            }
        }
    }
    if let Some(card) = card {
        let _ = card.disconnect(config.on_close.disposition());
    }
}

/// Establishes the context, picks the reader and connects to its card.
fn connect(config: &PcscConfig) -> Result<(Card, String), PcscError> {
    let context = establish()?;
    let readers = readers_of(&context)?;
    let reader = config.reader.select(&readers)?.name.clone();
    let name = CString::new(reader.clone()).map_err(|_| PcscError::ReaderUnavailable {
        reader: reader.clone(),
    })?;
    let share = match config.access {
        Access::Exclusive => ShareMode::Exclusive,
        Access::Shared => ShareMode::Shared,
    };
    let card = context
        .connect(&name, share, config.protocol.protocols())
        .map_err(|e| PcscError::from_pcsc("SCardConnect", Some(&reader), false, e))?;
    // The card handle keeps the context alive (pcsc::Card holds a reference to it).
    Ok((card, reader))
}

fn session_info(card: &Card, reader: &str) -> Result<Connected, PcscError> {
    let status = card
        .status2_owned()
        .map_err(|e| PcscError::from_pcsc("SCardStatus", Some(reader), true, e))?;
    let protocol = match status.protocol2() {
        Some(pcsc::Protocol::T0) => Protocol::T0,
        Some(pcsc::Protocol::T1) => Protocol::T1,
        Some(pcsc::Protocol::RAW) => Protocol::Raw,
        None => {
            return Err(PcscError::CardUnusable {
                reader: reader.to_owned(),
                // SCARD_E_PROTO_MISMATCH: no protocol was negotiated.
                code: pcsc::Error::ProtoMismatch as u32,
            });
        }
    };
    Ok(Connected {
        reader: reader.to_owned(),
        protocol,
        atr: status.atr().to_vec(),
    })
}

fn transmit(card: &Card, reader: &str, command: &[u8]) -> Result<Vec<u8>, PcscError> {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let response = card
        .transmit(command, &mut buffer)
        .map_err(|e| PcscError::from_pcsc("SCardTransmit", Some(reader), true, e))?;
    if response.len() < 2 {
        // vpcd reports a vanished virtual card this way before pcscd notices the removal.
        return Err(PcscError::MalformedResponse {
            reader: reader.to_owned(),
            len: response.len(),
        });
    }
    Ok(response.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_data_gets_the_long_deadline() {
        let config = PcscConfig::new()
            .with_command_timeout(Duration::from_secs(1))
            .with_store_data_timeout(Duration::from_secs(60));
        assert_eq!(
            config.timeout_for(&[0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2D, 0x00]),
            Duration::from_secs(60)
        );
        assert_eq!(
            config.timeout_for(&[0x01, 0xC0, 0x00, 0x00, 0x00]),
            Duration::from_secs(1)
        );
        assert_eq!(config.timeout_for(&[]), Duration::from_secs(1));
    }

    #[test]
    fn protocol_preferences_map_to_pcsc_flags() {
        assert_eq!(
            PreferredProtocol::Any.protocols(),
            Protocols::T0 | Protocols::T1
        );
        assert_eq!(PreferredProtocol::T0.protocols(), Protocols::T0);
        assert_eq!(PreferredProtocol::T1.protocols(), Protocols::T1);
        assert_eq!(
            OnClose::default().disposition(),
            pcsc::Disposition::LeaveCard
        );
    }
}
