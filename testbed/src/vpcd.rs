//! A virtual smart card for vsmartcard's `vpcd` reader driver, so that a
//! [`Card`](crate::card::Card) (the [`SoftEuicc`](crate::euicc::SoftEuicc), say) sits in a real
//! PC/SC reader that any PC/SC application, and the LPA's PC/SC transport, can open through
//! `pcscd`.
//!
//! ```text
//!   PC/SC application          pcscd + libifdvpcd.so                VirtualCard (thread)
//!   SCardTransmit(APDU) -----> "Virtual PCD 00 00" reader           SharedCard
//!                              TCP server on :35963  <-- connects -- client socket
//!                              [len][APDU]           ------------->  transmit() -> R-APDU
//!                              [len][R-APDU]         <-------------
//! ```
//!
//! vpcd is the server: it listens on TCP port 35963 (`CHANNELID 0x8C7B` in
//! `/etc/reader.conf.d/vpcd`; the Debian package also opens 35964 for a second reader) and the
//! virtual card connects to it. Every message either way is a 2-byte big-endian length followed
//! by that many bytes. A 1-byte message from vpcd is a control command:
//!
//! | byte | command | answer |
//! |---|---|---|
//! | `00` | power off | none |
//! | `01` | power on | none |
//! | `02` | reset | none |
//! | `04` | get ATR | the ATR |
//!
//! Anything longer is a command APDU, answered with the response APDU (data, SW1, SW2). vpcd
//! asks for the ATR every few hundred milliseconds to learn whether the card is still present
//! (pcscd's presence polling); a closed connection is a removed card. Power off, power on and
//! reset all reset the card ([`Card::reset`](crate::card::Card::reset)): its logical channels
//! close, as on a real power cycle.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use lpa_testbed::card::{Card, SharedCard};
//! use lpa_testbed::vpcd::{VirtualCard, VpcdConfig};
//!
//! struct AlwaysOk;
//! impl Card for AlwaysOk {
//!     fn transmit(&mut self, _command: &[u8]) -> Vec<u8> {
//!         vec![0x90, 0x00]
//!     }
//! }
//!
//! let card: SharedCard = Arc::new(Mutex::new(AlwaysOk));
//! let mut virtual_card = VirtualCard::start(card, VpcdConfig::new())?;
//! if !virtual_card.wait_for_reader(Duration::from_secs(5)) {
//!     eprintln!("pcscd with vpcd is not running: {:?}", virtual_card.last_error());
//! }
//! // ... use the "Virtual PCD 00 00" reader through PC/SC ...
//! virtual_card.stop(); // the reader now reports the card as removed
//! # Ok::<(), std::io::Error>(())
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::card::SharedCard;

/// vpcd's default port: the first reader of `/etc/reader.conf.d/vpcd` (`CHANNELID 0x8C7B`).
pub const DEFAULT_PORT: u16 = 35963;

/// The ATR the virtual card answers by default: a UICC-like card offering T=0 and T=1.
///
/// `3B` direct convention; `9A` TA1 and TD1 follow, 10 historical bytes; `96` TA1 (Fi 512,
/// Di 32, as UICCs announce); `80` TD1: T=0, TD2 follows; `81` TD2: T=1, TD3 follows; `1F` TD3:
/// T=15 global bytes, TA4 follows; `C7` TA4 (ETSI TS 102 221 §6.3.3): clock stop supported,
/// classes A, B and C. Historical bytes (ISO/IEC 7816-4 §12.1.1): `80` category, `31 E0` card
/// service data, `73 FE 21 1B` card capabilities (logical channels assigned by the card and the
/// interface device, at most 4), `82 90 00` status. Last, `21` the check byte TCK.
pub const EUICC_ATR: [u8; 18] = [
    0x3B, 0x9A, 0x96, 0x80, 0x81, 0x1F, 0xC7, 0x80, 0x31, 0xE0, 0x73, 0xFE, 0x21, 0x1B, 0x82, 0x90,
    0x00, 0x21,
];

/// vpcd control command: power off (no answer).
const CTRL_OFF: u8 = 0x00;
/// vpcd control command: power on (no answer).
const CTRL_ON: u8 = 0x01;
/// vpcd control command: reset (no answer).
const CTRL_RESET: u8 = 0x02;
/// vpcd control command: get ATR (answered with the ATR).
const CTRL_ATR: u8 = 0x04;

/// How long one socket read waits before the thread checks whether it should stop, and how
/// often sleeps look at the stop flag: the bound on how long [`VirtualCard::stop`] takes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The status word sent for a card answer that does not fit in one vpcd message (more than
/// 65535 bytes): `6F00`, no precise diagnosis (ISO/IEC 7816-4 §5.1.3).
const SW_NO_PRECISE_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// Numbers background threads so that each has a name of its own (`vpcd-<n>`).
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

// ------------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------------

/// Where the virtual card connects and how it behaves. Build it with [`VpcdConfig::new`] and
/// the `with_*` methods.
#[derive(Clone, Debug)]
pub struct VpcdConfig {
    addr: SocketAddr,
    atr: Vec<u8>,
    reconnect: bool,
    reconnect_interval: Duration,
    io_timeout: Duration,
}

impl VpcdConfig {
    /// `127.0.0.1:35963` (vpcd's first reader), the [`EUICC_ATR`], reconnection every 100 ms
    /// after a lost connection, and 5 s for a message to arrive whole or to be written.
    pub fn new() -> Self {
        VpcdConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            atr: EUICC_ATR.to_vec(),
            reconnect: true,
            reconnect_interval: Duration::from_millis(100),
            io_timeout: Duration::from_secs(5),
        }
    }

    /// The address vpcd listens on (a test's fake server, another host's pcscd, ...).
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Port on 127.0.0.1: 35963 for vpcd's first reader, 35964 for the second.
    pub fn with_port(mut self, port: u16) -> Self {
        self.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self
    }

    /// The ATR to answer with (pcscd chooses T=0 or T=1 from it).
    pub fn with_atr(mut self, atr: impl Into<Vec<u8>>) -> Self {
        self.atr = atr.into();
        self
    }

    /// Whether to connect again after vpcd closed the connection or could not be reached
    /// (default: yes). Without it, the thread ends when its first connection ends or fails.
    pub fn with_reconnect(mut self, reconnect: bool) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// The pause between two connection attempts (default 100 ms).
    pub fn with_reconnect_interval(mut self, interval: Duration) -> Self {
        self.reconnect_interval = interval;
        self
    }

    /// The deadline for connecting, for the rest of a message whose first bytes arrived, and for
    /// writing an answer (default 5 s). A peer that misses it loses the connection.
    pub fn with_io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout;
        self
    }

    /// The address the card connects to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ATR the card answers with.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }
}

impl Default for VpcdConfig {
    fn default() -> Self {
        VpcdConfig::new()
    }
}

/// What the virtual card has seen since it started (or since [`VirtualCard::reset_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VpcdStats {
    /// Connections established to vpcd.
    pub connections: u64,
    /// Failed connection attempts (vpcd not listening, ...).
    pub failed_connects: u64,
    /// Get-ATR requests (pcscd's presence polling asks several times a second).
    pub atr_requests: u64,
    /// Power-on commands.
    pub power_ons: u64,
    /// Power-off commands.
    pub power_offs: u64,
    /// Reset commands.
    pub resets: u64,
    /// Command APDUs answered.
    pub apdus: u64,
    /// 1-byte messages that are none of the known control commands (ignored).
    pub unknown_controls: u64,
    /// Bytes received from vpcd, framing included.
    pub bytes_from_reader: u64,
    /// Bytes sent to vpcd, framing included.
    pub bytes_to_reader: u64,
}

// ------------------------------------------------------------------------------------------------
// Framing (no I/O)
// ------------------------------------------------------------------------------------------------

/// Reassembles vpcd messages (2-byte big-endian length + payload) from a byte stream that may
/// split them anywhere.
#[derive(Debug, Default)]
struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if one has arrived whole.
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        let len = match self.buf.get(..2)? {
            [hi, lo] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => return None,
        };
        let frame = self.buf.get(2..2 + len)?.to_vec();
        self.buf.drain(..2 + len);
        Some(frame)
    }

    /// Whether part of a message has arrived and the rest is awaited.
    fn is_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// `payload` with its 2-byte big-endian length in front; `None` if it is longer than 65535.
fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

// ------------------------------------------------------------------------------------------------
// The virtual card
// ------------------------------------------------------------------------------------------------

/// What the background thread and the [`VirtualCard`] handle share.
#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    inserted: AtomicBool,
    connected: AtomicBool,
    /// vpcd has sent at least one message on the current connection: it accepted the card.
    served: AtomicBool,
    stats: Mutex<VpcdStats>,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, VpcdStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The card should stay connected: not stopping and not removed.
    fn wanted(&self) -> bool {
        !self.stopping() && self.inserted.load(Ordering::Relaxed)
    }

    fn set_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// Sleeps for `duration` unless asked to stop (or to remove the card) first.
    fn pause(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while self.wanted() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            thread::sleep((deadline - now).min(POLL_INTERVAL));
        }
    }
}

/// A [`Card`](crate::card::Card) inserted in vpcd's virtual reader until it is removed, stopped
/// or dropped.
///
/// A background thread (`vpcd-<n>`) connects to vpcd, answers its control commands and forwards
/// APDUs to the card; it connects again when the connection drops (pcscd restarted, say).
/// [`VirtualCard::remove`] and [`VirtualCard::insert`] take the card out of the reader and put it
/// back. Dropping the handle (or [`VirtualCard::stop`]) closes the connection, which pcscd sees
/// as a card removal, and joins the thread within a few tens of milliseconds (at most the I/O
/// timeout if vpcd stopped reading in the middle of an answer).
#[derive(Debug)]
pub struct VirtualCard {
    addr: SocketAddr,
    thread_name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl VirtualCard {
    /// Starts the background thread, which connects to vpcd (and keeps trying, see
    /// [`VpcdConfig::with_reconnect`]). Fails only if the thread cannot be created; whether vpcd
    /// is there shows in [`VirtualCard::wait_for_reader`].
    pub fn start(card: SharedCard, config: VpcdConfig) -> io::Result<VirtualCard> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            inserted: AtomicBool::new(true),
            connected: AtomicBool::new(false),
            served: AtomicBool::new(false),
            stats: Mutex::new(VpcdStats::default()),
            last_error: Mutex::new(None),
        });
        let thread_name = format!("vpcd-{}", NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed));
        let addr = config.addr;
        let worker = Worker {
            card,
            config,
            shared: Arc::clone(&shared),
        };
        let thread = thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || worker.run())?;
        Ok(VirtualCard {
            addr,
            thread_name,
            shared,
            thread: Some(thread),
        })
    }

    /// The address of vpcd the card connects to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until vpcd has accepted the card, i.e. sent it a first message (pcscd's presence
    /// polling asks for the ATR within about half a second of the connection). Returns false if
    /// that did not happen within `timeout`; [`VirtualCard::last_error`] then often says why.
    pub fn wait_for_reader(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_in_reader() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || !self.is_running() {
                return self.is_in_reader();
            }
            thread::sleep((deadline - now).min(Duration::from_millis(10)));
        }
    }

    /// Whether the card is connected and vpcd has talked to it on this connection.
    pub fn is_in_reader(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed) && self.shared.served.load(Ordering::Relaxed)
    }

    /// Whether the TCP connection to vpcd is up (vpcd may not have accepted it yet: it accepts
    /// when it polls for the card).
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Takes the card out of the reader: the connection is closed within a few tens of
    /// milliseconds and not reopened until [`VirtualCard::insert`].
    pub fn remove(&self) {
        self.shared.inserted.store(false, Ordering::Relaxed);
    }

    /// Puts the card back into the reader after [`VirtualCard::remove`]; the thread connects
    /// again.
    pub fn insert(&self) {
        self.shared.inserted.store(true, Ordering::Relaxed);
    }

    /// The last connection or I/O failure, e.g. `connection refused` when pcscd is not running.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> VpcdStats {
        *self.shared.stats()
    }

    /// Sets all counters back to zero.
    pub fn reset_stats(&self) {
        *self.shared.stats() = VpcdStats::default();
    }

    /// The name of the background thread (`vpcd-<n>`, unique in the process), so that a test can
    /// check that none is left running.
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }

    /// Whether the background thread is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Closes the connection (pcscd sees the card removed) and joins the background thread.
    /// Calling it again does nothing.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread does not panic on input; if it did, there is nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    /// Stop or removal asked for.
    Asked,
    /// vpcd closed the connection.
    Closed,
    /// A read or write failed or missed its deadline.
    Failed(String),
}

/// The background thread's state.
struct Worker {
    card: SharedCard,
    config: VpcdConfig,
    shared: Arc<Shared>,
}

impl Worker {
    /// Connects, serves, and connects again, until stopped.
    fn run(self) {
        while !self.shared.stopping() {
            if !self.shared.inserted.load(Ordering::Relaxed) {
                thread::sleep(POLL_INTERVAL);
                continue;
            }
            let ended = match TcpStream::connect_timeout(&self.config.addr, self.config.io_timeout)
            {
                Ok(stream) => {
                    self.shared.stats().connections += 1;
                    self.shared.connected.store(true, Ordering::Relaxed);
                    let ended = self.serve(&stream);
                    // Closing the socket is how a card leaves a vpcd reader.
                    let _ = stream.shutdown(Shutdown::Both);
                    self.shared.connected.store(false, Ordering::Relaxed);
                    self.shared.served.store(false, Ordering::Relaxed);
                    ended
                }
                Err(e) => {
                    self.shared.stats().failed_connects += 1;
                    Ended::Failed(format!(
                        "cannot connect to vpcd at {}: {e}",
                        self.config.addr
                    ))
                }
            };
            match ended {
                Ended::Asked => continue,
                Ended::Closed => self.shared.set_error(format!(
                    "vpcd at {} closed the connection",
                    self.config.addr
                )),
                Ended::Failed(e) => self.shared.set_error(e),
            }
            if !self.config.reconnect {
                return;
            }
            self.shared.pause(self.config.reconnect_interval);
        }
    }

    /// Answers vpcd on one connection until it ends.
    fn serve(&self, stream: &TcpStream) -> Ended {
        let setup = stream
            .set_read_timeout(Some(POLL_INTERVAL))
            .and_then(|()| stream.set_write_timeout(Some(self.config.io_timeout)))
            .and_then(|()| stream.set_nodelay(true));
        if let Err(e) = setup {
            return Ended::Failed(format!("cannot set up the vpcd socket: {e}"));
        }
        let mut reader = stream;
        let mut decoder = FrameDecoder::default();
        let mut partial_since: Option<Instant> = None;
        let mut buf = [0u8; 4096];
        loop {
            if !self.shared.wanted() {
                return Ended::Asked;
            }
            match reader.read(&mut buf) {
                Ok(0) => return Ended::Closed,
                Ok(n) => {
                    let bytes = buf.get(..n).unwrap_or_default();
                    self.shared.stats().bytes_from_reader += n as u64;
                    decoder.push(bytes);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Ended::Failed(format!("reading from vpcd failed: {e}")),
            }
            while let Some(message) = decoder.next_frame() {
                self.shared.served.store(true, Ordering::Relaxed);
                if let Some(answer) = self.handle(&message)
                    && let Err(e) = self.send(stream, &answer)
                {
                    return Ended::Failed(format!("writing to vpcd failed: {e}"));
                }
            }
            // A message that started must arrive whole within the deadline.
            if decoder.is_partial() {
                let since = *partial_since.get_or_insert_with(Instant::now);
                if since.elapsed() > self.config.io_timeout {
                    return Ended::Failed(format!(
                        "vpcd sent part of a message and nothing more for {:?}",
                        self.config.io_timeout
                    ));
                }
            } else {
                partial_since = None;
            }
        }
    }

    /// The answer to one message from vpcd, if it wants one.
    fn handle(&self, message: &[u8]) -> Option<Vec<u8>> {
        match message {
            [] => None,
            [control] => {
                let mut stats = self.shared.stats();
                match *control {
                    CTRL_ATR => {
                        stats.atr_requests += 1;
                        return Some(self.config.atr.clone());
                    }
                    CTRL_ON => stats.power_ons += 1,
                    CTRL_OFF => stats.power_offs += 1,
                    CTRL_RESET => stats.resets += 1,
                    _ => {
                        stats.unknown_controls += 1;
                        return None;
                    }
                }
                drop(stats);
                // Power off, power on and reset all end the card's volatile state.
                self.card
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .reset();
                None
            }
            apdu => {
                self.shared.stats().apdus += 1;
                let answer = self
                    .card
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .transmit(apdu);
                if answer.len() > usize::from(u16::MAX) {
                    return Some(SW_NO_PRECISE_DIAGNOSIS.to_vec());
                }
                Some(answer)
            }
        }
    }

    fn send(&self, mut stream: &TcpStream, payload: &[u8]) -> io::Result<()> {
        // handle() keeps answers within 65535 bytes.
        let bytes = frame(payload).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "answer longer than 65535 bytes",
            )
        })?;
        stream.write_all(&bytes)?;
        stream.flush()?;
        self.shared.stats().bytes_to_reader += bytes.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::card::Card;

    const DEADLINE: Duration = Duration::from_secs(5);

    /// A card that records commands and resets; `00 B0 00 00 00` (READ BINARY) answers 300
    /// bytes, anything else its own length, then 9000.
    #[derive(Default)]
    struct RecordingCard {
        commands: Arc<Mutex<Vec<Vec<u8>>>>,
        resets: Arc<AtomicUsize>,
    }

    impl Card for RecordingCard {
        fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
            self.commands.lock().unwrap().push(command.to_vec());
            if command == [0x00, 0xB0, 0x00, 0x00, 0x00] {
                let mut r: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
                r.extend_from_slice(&[0x90, 0x00]);
                return r;
            }
            vec![command.len() as u8, 0x90, 0x00]
        }

        fn reset(&mut self) {
            self.resets.fetch_add(1, Ordering::Relaxed);
        }
    }

    struct Fixture {
        listener: TcpListener,
        commands: Arc<Mutex<Vec<Vec<u8>>>>,
        resets: Arc<AtomicUsize>,
        card: VirtualCard,
    }

    /// A fake vpcd (a listener on an ephemeral port) and a virtual card connecting to it.
    fn fixture(config: VpcdConfig) -> Fixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let recording = RecordingCard::default();
        let commands = Arc::clone(&recording.commands);
        let resets = Arc::clone(&recording.resets);
        let card = VirtualCard::start(
            Arc::new(Mutex::new(recording)),
            config.with_addr(listener.local_addr().unwrap()),
        )
        .unwrap();
        Fixture {
            listener,
            commands,
            resets,
            card,
        }
    }

    /// Accepts the card's connection, failing the test after [`DEADLINE`].
    fn accept(listener: &TcpListener) -> TcpStream {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(DEADLINE)).unwrap();
                    return stream;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the card never connected");
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        }
    }

    fn send(stream: &mut TcpStream, payload: &[u8]) {
        stream.write_all(&frame(payload).unwrap()).unwrap();
    }

    /// Reads one framed answer (the stream's read timeout is the deadline).
    fn receive(stream: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).unwrap();
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut payload).unwrap();
        payload
    }

    /// Sends the get-ATR control and returns the answer.
    fn atr(stream: &mut TcpStream) -> Vec<u8> {
        send(stream, &[CTRL_ATR]);
        receive(stream)
    }

    fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The peer closed the connection: a read returns 0 bytes (or a reset) before the deadline.
    fn assert_closed(stream: &mut TcpStream) {
        let mut buf = [0u8; 16];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("expected the connection closed, got {n} bytes"),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        }
    }

    #[test]
    fn euicc_atr_is_well_formed() {
        // TCK: the XOR of T0..TCK is zero (ISO/IEC 7816-3 §8.2.5).
        assert_eq!(EUICC_ATR.iter().skip(1).fold(0u8, |x, b| x ^ b), 0);
        // T0 says 10 historical bytes after TA1 TD1 TD2 TD3 TA4.
        assert_eq!(EUICC_ATR[1] & 0x0F, 10);
        assert_eq!(EUICC_ATR.len(), 2 + 5 + 10 + 1);
        // Offered protocols: T=0 (TD1) then T=1 (TD2), then T=15 global bytes (TD3).
        assert_eq!(
            [
                EUICC_ATR[3] & 0x0F,
                EUICC_ATR[4] & 0x0F,
                EUICC_ATR[5] & 0x0F
            ],
            [0, 1, 15]
        );
    }

    #[test]
    fn frame_decoder_reassembles_split_and_joined_messages() {
        let mut d = FrameDecoder::default();
        d.push(&[0x00]);
        assert_eq!(d.next_frame(), None);
        assert!(d.is_partial());
        d.push(&[0x01, 0x04, 0x00, 0x02, 0xAA]);
        assert_eq!(d.next_frame(), Some(vec![0x04]));
        assert_eq!(d.next_frame(), None);
        d.push(&[0xBB, 0x00, 0x00]);
        assert_eq!(d.next_frame(), Some(vec![0xAA, 0xBB]));
        assert_eq!(d.next_frame(), Some(vec![]));
        assert!(!d.is_partial());
        assert_eq!(frame(&[0u8; 300]).unwrap()[..2], [0x01, 0x2C]);
        assert_eq!(frame(&vec![0u8; 65536]), None);
    }

    #[test]
    fn answers_atr_and_apdus_and_resets_on_power_commands() {
        let mut f = fixture(VpcdConfig::new());
        let mut vpcd = accept(&f.listener);
        assert_eq!(atr(&mut vpcd), EUICC_ATR);
        assert!(f.card.wait_for_reader(DEADLINE));

        send(&mut vpcd, &[CTRL_ON]);
        send(&mut vpcd, &[0x00, 0xA4, 0x04, 0x00]);
        assert_eq!(receive(&mut vpcd), [4, 0x90, 0x00]);
        // A long answer: 300 bytes + SW, length prefix 01 2E.
        send(&mut vpcd, &[0x00, 0xB0, 0x00, 0x00, 0x00]);
        let long = receive(&mut vpcd);
        assert_eq!(long.len(), 302);
        assert_eq!(long[300..], [0x90, 0x00]);
        send(&mut vpcd, &[CTRL_RESET]);
        send(&mut vpcd, &[CTRL_OFF]);
        send(&mut vpcd, &[0x7F]); // unknown control: ignored, no answer
        // The next answer is the ATR: nothing was sent for the controls.
        assert_eq!(atr(&mut vpcd), EUICC_ATR);

        assert_eq!(f.resets.load(Ordering::Relaxed), 3);
        assert_eq!(
            *f.commands.lock().unwrap(),
            vec![
                vec![0x00, 0xA4, 0x04, 0x00],
                vec![0x00, 0xB0, 0x00, 0x00, 0x00]
            ]
        );
        let stats = f.card.stats();
        assert_eq!(
            (
                stats.connections,
                stats.atr_requests,
                stats.power_ons,
                stats.power_offs,
                stats.resets,
                stats.apdus,
                stats.unknown_controls
            ),
            (1, 2, 1, 1, 1, 2, 1)
        );
        // The counter moves once the write returned, which may be just after the test read it.
        wait_until("the bytes sent to be counted", || {
            f.card.stats().bytes_to_reader == 2 * 20 + 5 + 304
        });
        f.card.stop();
        assert_closed(&mut vpcd);
    }

    #[test]
    fn messages_split_into_single_bytes_are_reassembled() {
        let f = fixture(VpcdConfig::new());
        let mut vpcd = accept(&f.listener);
        vpcd.set_nodelay(true).unwrap();
        for b in frame(&[0x80, 0xE2, 0x91, 0x00, 0x01, 0x00]).unwrap() {
            vpcd.write_all(&[b]).unwrap();
            thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(receive(&mut vpcd), [6, 0x90, 0x00]);
    }

    #[test]
    fn custom_atr_is_answered() {
        let f = fixture(VpcdConfig::new().with_atr(vec![0x3B, 0x00]));
        let mut vpcd = accept(&f.listener);
        assert_eq!(atr(&mut vpcd), [0x3B, 0x00]);
    }

    #[test]
    fn reconnects_after_vpcd_closes_the_connection() {
        let f = fixture(VpcdConfig::new().with_reconnect_interval(Duration::from_millis(10)));
        let mut first = accept(&f.listener);
        assert_eq!(atr(&mut first), EUICC_ATR);
        drop(first);
        let mut second = accept(&f.listener);
        assert_eq!(atr(&mut second), EUICC_ATR);
        assert!(f.card.wait_for_reader(DEADLINE));
        assert_eq!(f.card.stats().connections, 2);
        assert!(
            f.card
                .last_error()
                .unwrap()
                .contains("closed the connection")
        );
    }

    #[test]
    fn without_reconnect_the_thread_ends_with_the_connection() {
        let f = fixture(VpcdConfig::new().with_reconnect(false));
        let first = accept(&f.listener);
        drop(first);
        wait_until("the thread to end", || !f.card.is_running());
        assert!(!f.card.is_connected());
    }

    #[test]
    fn keeps_trying_while_vpcd_is_not_listening() {
        // Reserve a port, then free it: nobody listens there. On 127.0.0.2, which no other test
        // binds: a freed 127.0.0.1 port can be handed at once to another test's listener,
        // which would then get this card's connection (a race seen under parallel tests).
        let addr = TcpListener::bind("127.0.0.2:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut card = VirtualCard::start(
            Arc::new(Mutex::new(RecordingCard::default())),
            VpcdConfig::new()
                .with_addr(addr)
                .with_reconnect_interval(Duration::from_millis(5)),
        )
        .unwrap();
        assert!(!card.wait_for_reader(Duration::from_millis(100)));
        assert!(card.stats().failed_connects >= 2);
        assert!(
            card.last_error()
                .unwrap()
                .contains("cannot connect to vpcd")
        );
        assert!(card.is_running());
        let started = Instant::now();
        card.stop();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!card.is_running());
    }

    #[test]
    fn remove_closes_the_connection_and_insert_reconnects() {
        let f = fixture(VpcdConfig::new().with_reconnect_interval(Duration::from_millis(10)));
        let mut vpcd = accept(&f.listener);
        assert_eq!(atr(&mut vpcd), EUICC_ATR);
        f.card.remove();
        assert_closed(&mut vpcd);
        wait_until("the card to leave", || !f.card.is_connected());
        thread::sleep(Duration::from_millis(50));
        assert_eq!(f.card.stats().connections, 1, "reconnected while removed");
        f.card.insert();
        let mut again = accept(&f.listener);
        assert_eq!(atr(&mut again), EUICC_ATR);
        assert_eq!(f.card.stats().connections, 2);
    }

    #[test]
    fn a_message_left_incomplete_past_the_deadline_drops_the_connection() {
        let f = fixture(
            VpcdConfig::new()
                .with_io_timeout(Duration::from_millis(100))
                .with_reconnect(false),
        );
        let mut vpcd = accept(&f.listener);
        vpcd.write_all(&[0x00, 0x05, 0x00]).unwrap();
        assert_closed(&mut vpcd);
        wait_until("the thread to end", || !f.card.is_running());
        assert!(f.card.last_error().unwrap().contains("part of a message"));
    }

    #[test]
    fn stop_closes_the_connection_and_joins_the_thread_promptly() {
        let mut f = fixture(VpcdConfig::new());
        let mut vpcd = accept(&f.listener);
        assert_eq!(atr(&mut vpcd), EUICC_ATR);
        let name = f.card.thread_name().to_owned();
        assert!(name.starts_with("vpcd-"));
        let started = Instant::now();
        f.card.stop();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!f.card.is_running());
        assert!(!f.card.is_connected());
        assert_closed(&mut vpcd);
        f.card.stop(); // again: nothing
    }
}
