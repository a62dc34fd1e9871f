//! An emulated cellular modem that carries APDUs to a [`Card`](crate::card::Card) over AT
//! commands, on a real pseudo-terminal, so that the LPA's AT transport is tested against the same
//! kind of device file it opens in the field.
//!
//! ```text
//!   LPA AT transport                       Modem (background thread)            SharedCard
//!   opens /dev/pts/N  --- AT+CGLA=1,.. --> master side of the pty
//!   (slave side)                           line editor -> interpreter -----APDU----> transmit()
//!                     <-- +CGLA: 4,".." -- pacing (baud), latency, quirks <-data+SW--
//! ```
//!
//! The modem answers the commands an LPA needs (3GPP TS 27.007 and ITU-T V.250):
//!
//! | command | answer |
//! |---|---|
//! | `AT`, `ATZ` | `OK` (`ATZ` restores the configured echo and error modes) |
//! | `ATE0` / `ATE1` | echo off / on (V.250 §6.2.4) |
//! | `ATI`, `AT+CGMI`, `AT+CGMM`, `AT+CGMR` (and `+GMI`/`+GMM`/`+GMR`) | identification strings |
//! | `AT+CMEE=0\|1\|2`, `AT+CMEE?` | failure as `ERROR`, `+CME ERROR: <n>`, `+CME ERROR: <text>` (27.007 §9.1) |
//! | `AT+CFUN=<fun>[,<rst>]`, `AT+CFUN?` | 0 (SIM powered down), 1, 4; a reset or a 0 to 1 cycle resets the card (27.007 §8.2) |
//! | `AT+CSIM=<len>,"<hex>"` | `+CSIM: <len>,"<hex>"`, the APDU passed as-is (27.007 §8.17) |
//! | `AT+CCHO="<AID>"` | MANAGE CHANNEL + SELECT on the card, `+CCHO: <sessionid>` (27.007 §8.45) |
//! | `AT+CGLA=<id>,<len>,"<hex>"` | channel bits of CLA replaced by the modem, `+CGLA: <len>,"<hex>"` (§8.43) |
//! | `AT+CCHC=<id>` | MANAGE CHANNEL close (§8.46) |
//! | `=?` of each | `OK`, or the ranges for `+CFUN`/`+CMEE` |
//!
//! Lines end with CR, LF or CRLF; answers use the V.250 verbose framing real modems use,
//! `\r\n<line>\r\n` for information text and `\r\nOK\r\n` for the final result code. Everything
//! else answers `ERROR`.
//!
//! [`ModemConfig`] switches on the misbehaviour of real modems an LPA must survive (echo, URCs in
//! the middle of an answer, `+CCHO` answer variants, silent `=?` probes, missing commands, APDU size
//! limits, random failures, a modem that never answers) and models line speed and command latency
//! for benchmarks; [`ModemStats`] counts commands and bytes.
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use lpa_testbed::card::{Card, SharedCard};
//! use lpa_testbed::modem::{CchoAnswer, Modem, ModemConfig};
//!
//! struct AlwaysOk;
//! impl Card for AlwaysOk {
//!     fn transmit(&mut self, _command: &[u8]) -> Vec<u8> {
//!         vec![0x90, 0x00]
//!     }
//! }
//!
//! let card: SharedCard = Arc::new(Mutex::new(AlwaysOk));
//! let config = ModemConfig::new()
//!     .with_manufacturer("Sierra Wireless, Incorporated")
//!     .with_ccho_answer(CchoAnswer::SessionHandle)
//!     .with_baud_rate(115_200);
//! let modem = Modem::start(card, config)?;
//! println!("AT port: {}", modem.path().display());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use lpa_core::apdu::{
    ApduError, CommandApdu, CommandExchange, ExchangeConfig, LogicalChannel, MAX_SHORT_COMMAND,
    SelectResponse, StatusWord, Transmit, manage_channel_close, manage_channel_open, select_by_aid,
};
use serialport::{SerialPort, TTYPort};

use crate::card::SharedCard;

// ------------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------------

/// How `AT+CCHO` reports the session it opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CchoAnswer {
    /// `+CCHO: <id>`, the id being the card's logical channel number: what most modems
    /// (Quectel, SIMCom, Telit) send.
    #[default]
    Prefixed,
    /// `<id>` alone on its line, the form 3GPP TS 27.007 §8.45 itself specifies and Fibocom
    /// firmware (FM350-GL) sends; LPAs that look for the `+CCHO:` prefix fail on it.
    Bare,
    /// `+CCHO: <handle>`, a session handle of 16 hex digits unrelated to the card's channel
    /// (Sierra Wireless MC7455/EM7590 answer `+CCHO: 000000000385a7cf`). The modem maps the handle
    /// back to the channel for `+CGLA`/`+CCHC`, which must quote it exactly as given.
    SessionHandle,
}

/// How test commands (`AT+CSIM=?`, `AT+CCHO=?`, ...) are answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TestCommandAnswer {
    /// As 27.007 says: `OK` (with the parameter ranges for `+CFUN` and `+CMEE`), or an error for
    /// a command the modem does not support.
    #[default]
    Answer,
    /// No answer at all (Fibocom and some Quectel firmware): the LPA's probe must time out
    /// rather than wait forever.
    Silent,
    /// An error although the command itself works (Sierra EM7590 with `AT+CGLA=?`): probing is
    /// not a reliable way to detect support.
    Error,
}

/// Which of the two ways to reach the card the modem offers; the other answers
/// `+CME ERROR: 4` (operation not supported).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SimAccess {
    /// `+CSIM` and `+CCHO`/`+CGLA`/`+CCHC`.
    #[default]
    CsimAndLogicalChannels,
    /// Only `+CSIM`: the LPA must manage channels itself.
    CsimOnly,
    /// Only `+CCHO`/`+CGLA`/`+CCHC`.
    LogicalChannelsOnly,
}

/// What a `+CSIM`/`+CGLA` carrying more data bytes than the configured maximum gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OversizeAnswer {
    /// A `+CME ERROR` (under `AT+CMEE=0`, a plain `ERROR`); the card never sees the APDU.
    CmeError(CmeError),
    /// A well-formed answer carrying this status word, e.g. `+CSIM: 4,"6700"` (wrong length);
    /// the card never sees the APDU.
    Status(StatusWord),
}

/// The emulated modem's identity, timing and quirks. Build it with [`ModemConfig::new`] and the
/// `with_*` methods; the default is a well-behaved, infinitely fast modem with echo off and
/// `AT+CMEE=0`.
#[derive(Clone, Debug)]
pub struct ModemConfig {
    manufacturer: String,
    model: String,
    revision: String,
    baud_rate: u32,
    command_latency: Duration,
    echo: bool,
    cmee: u8,
    unsolicited: Vec<String>,
    unsolicited_every: u32,
    ccho_answer: CchoAnswer,
    ccho_select: SelectResponse,
    test_commands: TestCommandAnswer,
    sim_access: SimAccess,
    max_apdu_data: Option<(usize, OversizeAnswer)>,
    random_errors: Option<(u64, f64)>,
    never_answers: bool,
}

impl ModemConfig {
    /// A well-behaved modem: manufacturer `open-lpa`, model `testbed-modem`, revision the crate
    /// version; no pacing or latency; echo off; `AT+CMEE=0`; `+CCHO: <channel>`; `=?` answered;
    /// `+CSIM` and logical channels supported; no APDU size limit, no URCs, no random errors.
    pub fn new() -> Self {
        ModemConfig {
            manufacturer: "open-lpa".to_owned(),
            model: "testbed-modem".to_owned(),
            revision: env!("CARGO_PKG_VERSION").to_owned(),
            baud_rate: 0,
            command_latency: Duration::ZERO,
            echo: false,
            cmee: 0,
            unsolicited: Vec::new(),
            unsolicited_every: 1,
            ccho_answer: CchoAnswer::Prefixed,
            ccho_select: SelectResponse::Fci,
            test_commands: TestCommandAnswer::Answer,
            sim_access: SimAccess::CsimAndLogicalChannels,
            max_apdu_data: None,
            random_errors: None,
            never_answers: false,
        }
    }

    /// The `AT+CGMI` answer (and the first line of `ATI`), e.g. `Quectel`, so that the LPA can
    /// key its quirks on it.
    pub fn with_manufacturer(mut self, manufacturer: impl Into<String>) -> Self {
        self.manufacturer = manufacturer.into();
        self
    }

    /// The `AT+CGMM` answer (and the second line of `ATI`), e.g. `EC25`.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// The `AT+CGMR` answer (and `Revision: ...` in `ATI`).
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = revision.into();
        self
    }

    /// Line speed in baud: every byte in either direction takes 10 bit times (8N1), so writing
    /// `n` bytes takes `n * 10 / baud` seconds and a command is only interpreted once its bytes
    /// would have arrived. 0 (the default) means no pacing.
    pub fn with_baud_rate(mut self, baud: u32) -> Self {
        self.baud_rate = baud;
        self
    }

    /// A delay between receiving each command and answering it, as a modem's firmware and the
    /// card take (default none).
    pub fn with_command_latency(mut self, latency: Duration) -> Self {
        self.command_latency = latency;
        self
    }

    /// Echo on at start (V.250 default, and what many modems do until `ATE0`); default off.
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// The `AT+CMEE` mode at start: 0 `ERROR`, 1 `+CME ERROR: <n>`, 2 `+CME ERROR: <text>`
    /// (values above 2 are taken as 2).
    pub fn with_cmee(mut self, mode: u8) -> Self {
        self.cmee = mode.min(2);
        self
    }

    /// Unsolicited result codes (`+CREG: 1`, `RING`, `^SIMST: 1`, `+QIND: "csq",20,99`) written
    /// between a command (and its echo) and its answer, each framed as `\r\n<code>\r\n`, all of
    /// them in order. [`Modem::send_unsolicited`] injects one at any time instead.
    pub fn with_unsolicited_codes<I, S>(mut self, codes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.unsolicited = codes.into_iter().map(Into::into).collect();
        self
    }

    /// Inject the [unsolicited codes](ModemConfig::with_unsolicited_codes) before every `n`th
    /// answer only (the 1st, the `n+1`th, ...); default 1, every answer. 0 is taken as 1.
    pub fn with_unsolicited_every(mut self, n: u32) -> Self {
        self.unsolicited_every = n.max(1);
        self
    }

    /// How `AT+CCHO` reports the session.
    pub fn with_ccho_answer(mut self, answer: CchoAnswer) -> Self {
        self.ccho_answer = answer;
        self
    }

    /// The P2 of the SELECT that `AT+CCHO` sends (default `00`, FCI; some modems send `04` or
    /// `0C`).
    pub fn with_ccho_select(mut self, select: SelectResponse) -> Self {
        self.ccho_select = select;
        self
    }

    /// How test commands (`=?`) are answered.
    pub fn with_test_commands(mut self, answer: TestCommandAnswer) -> Self {
        self.test_commands = answer;
        self
    }

    /// Which card access commands the modem supports.
    pub fn with_sim_access(mut self, access: SimAccess) -> Self {
        self.sim_access = access;
        self
    }

    /// The most data bytes (Lc) a `+CSIM`/`+CGLA` APDU may carry; larger ones get `answer`
    /// instead of reaching the card. Modems that mishandle long lines are why LPAs segment
    /// STORE DATA below 255 bytes.
    pub fn with_max_apdu_data(mut self, max_data_bytes: usize, answer: OversizeAnswer) -> Self {
        self.max_apdu_data = Some((max_data_bytes, answer));
        self
    }

    /// Answer a plain `ERROR` instead of executing the command, with the given probability
    /// (0.0..=1.0), decided by a PRNG seeded with `seed` so that a run can be replayed. The card
    /// never sees a command that failed this way.
    pub fn with_random_errors(mut self, seed: u64, probability: f64) -> Self {
        let probability = if probability.is_nan() {
            0.0
        } else {
            probability.clamp(0.0, 1.0)
        };
        self.random_errors = Some((seed, probability));
        self
    }

    /// Swallow every command: no echo, no answer (a hung modem, to test the LPA's deadlines).
    /// Switch it at run time with [`Modem::set_never_answers`].
    pub fn with_never_answers(mut self, never: bool) -> Self {
        self.never_answers = never;
        self
    }
}

impl Default for ModemConfig {
    fn default() -> Self {
        Self::new()
    }
}

// ------------------------------------------------------------------------------------------------
// Errors and statistics
// ------------------------------------------------------------------------------------------------

/// The `+CME ERROR` codes the modem uses (3GPP TS 27.007 §9.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CmeError {
    /// 0, phone failure.
    PhoneFailure,
    /// 3, operation not allowed (e.g. the card refused MANAGE CHANNEL).
    OperationNotAllowed,
    /// 4, operation not supported (a command the configuration disables, an oversize APDU).
    OperationNotSupported,
    /// 10, SIM not inserted.
    SimNotInserted,
    /// 13, SIM failure (the SIM is powered down by `AT+CFUN=0`, or answered nonsense).
    SimFailure,
    /// 14, SIM busy.
    SimBusy,
    /// 21, invalid index (an unknown `+CGLA`/`+CCHC` session id).
    InvalidIndex,
    /// 22, not found (`+CCHO` with an AID the card does not select).
    NotFound,
    /// 50, incorrect parameters (syntax, a length that does not match the hex, bad hex).
    IncorrectParameters,
    /// 100, unknown.
    Unknown,
}

impl CmeError {
    /// The numeric code, as sent under `AT+CMEE=1`.
    pub const fn code(self) -> u16 {
        match self {
            CmeError::PhoneFailure => 0,
            CmeError::OperationNotAllowed => 3,
            CmeError::OperationNotSupported => 4,
            CmeError::SimNotInserted => 10,
            CmeError::SimFailure => 13,
            CmeError::SimBusy => 14,
            CmeError::InvalidIndex => 21,
            CmeError::NotFound => 22,
            CmeError::IncorrectParameters => 50,
            CmeError::Unknown => 100,
        }
    }

    /// The verbose text, as sent under `AT+CMEE=2`.
    pub const fn text(self) -> &'static str {
        match self {
            CmeError::PhoneFailure => "phone failure",
            CmeError::OperationNotAllowed => "operation not allowed",
            CmeError::OperationNotSupported => "operation not supported",
            CmeError::SimNotInserted => "SIM not inserted",
            CmeError::SimFailure => "SIM failure",
            CmeError::SimBusy => "SIM busy",
            CmeError::InvalidIndex => "invalid index",
            CmeError::NotFound => "not found",
            CmeError::IncorrectParameters => "incorrect parameters",
            CmeError::Unknown => "unknown",
        }
    }
}

/// Counters since the modem started (or since [`Modem::reset_stats`]), for benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModemStats {
    /// Command lines received (non-empty lines, including swallowed and failed ones).
    pub commands: u64,
    /// APDUs sent to the card (including the MANAGE CHANNEL/SELECT/GET RESPONSE of `+CCHO`).
    pub apdus: u64,
    /// Final results that were `ERROR` or `+CME ERROR`.
    pub errors: u64,
    /// Unsolicited result codes written.
    pub unsolicited: u64,
    /// Bytes read from the host (the LPA).
    pub bytes_from_host: u64,
    /// Bytes written to the host: echo, URCs, answers.
    pub bytes_to_host: u64,
}

// ------------------------------------------------------------------------------------------------
// The modem
// ------------------------------------------------------------------------------------------------

/// How long one read or write on the master side waits before the thread checks whether it
/// should stop: the bound on how long [`Modem::stop`] takes.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The longest command line accepted; a longer one is discarded and answered `ERROR`.
const MAX_LINE: usize = 64 * 1024;

/// Numbers background threads so that each has a name of its own (`modem-<n>`).
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

/// What the background thread and the [`Modem`] handle share.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    never_answers: AtomicBool,
    stats: Mutex<ModemStats>,
    pending_unsolicited: Mutex<VecDeque<String>>,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, ModemStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps until `deadline` unless asked to stop first; returns false if stopping.
    fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::sleep((deadline - now).min(POLL_INTERVAL));
        }
    }
}

/// An emulated modem serving AT commands on a pseudo-terminal until it is stopped or dropped.
///
/// [`Modem::path`] is the slave side (`/dev/pts/N`) for the LPA to open as a serial port; a
/// background thread reads the master side, interprets commands and forwards APDUs to the card.
/// Dropping the modem (or [`Modem::stop`]) ends and joins that thread within a few tens of
/// milliseconds, whatever it was doing, and closes the pty.
#[derive(Debug)]
pub struct Modem {
    path: PathBuf,
    thread_name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The modem's own handle on the slave side: keeps the pty in one state (no hang-up seen by
    /// the master) while the LPA closes and reopens the port.
    _slave: TTYPort,
}

impl Modem {
    /// Creates the pty pair and starts serving it. Fails only if the pty or the thread cannot be
    /// created.
    pub fn start(card: SharedCard, config: ModemConfig) -> io::Result<Modem> {
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::from)?;
        master.set_timeout(POLL_INTERVAL).map_err(io::Error::from)?;
        let path = slave
            .name()
            .map(PathBuf::from)
            .ok_or_else(|| io::Error::other("the pseudo-terminal has no name"))?;
        let shared = Arc::new(Shared::default());
        shared
            .never_answers
            .store(config.never_answers, Ordering::Relaxed);
        let thread_name = format!("modem-{}", NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed));
        let port = Port {
            master,
            baud: config.baud_rate,
            tx_free_at: Instant::now(),
            rx_ready_at: Instant::now(),
            shared: Arc::clone(&shared),
        };
        let engine = Engine::new(card, config, Arc::clone(&shared));
        let thread = thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || serve(port, engine))?;
        Ok(Modem {
            path,
            thread_name,
            shared,
            thread: Some(thread),
            _slave: slave,
        })
    }

    /// The device the LPA opens, e.g. `/dev/pts/7`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name of the background thread (`modem-<n>`, unique in the process), so that a test can
    /// check that none is left running.
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }

    /// Whether the background thread is still serving.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ModemStats {
        *self.shared.stats()
    }

    /// Sets all counters back to zero.
    pub fn reset_stats(&self) {
        *self.shared.stats() = ModemStats::default();
    }

    /// Switches the "never answers" quirk at run time: while on, commands are swallowed (no
    /// echo, no answer, and the card sees nothing).
    pub fn set_never_answers(&self, never: bool) {
        self.shared.never_answers.store(never, Ordering::Relaxed);
    }

    /// Queues an unsolicited result code (`RING`, `+CREG: 1`, ...), written as `\r\n<code>\r\n`
    /// as soon as the modem is idle (within a few tens of milliseconds), not inside an answer.
    pub fn send_unsolicited(&self, code: impl Into<String>) {
        self.shared
            .pending_unsolicited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(code.into());
    }

    /// Stops serving, joins the background thread and closes the master side of the pty: the
    /// LPA's open port then reports a hang-up (`BrokenPipe`), as when a USB modem goes away.
    /// Returns within a few tens of milliseconds even in the middle of a paced write, a latency
    /// sleep, or a write the host is not reading. Calling it again does nothing.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The thread never panics on input; if it did, there is nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for Modem {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The background thread: reads lines from the master side and answers them until stopped.
fn serve(mut port: Port, mut engine: Engine) {
    let mut line = LineBuffer::default();
    let mut buf = [0u8; 4096];
    while !port.shared.stopping() {
        port.flush_pending_unsolicited();
        let n = match port.master.read(&mut buf) {
            Ok(0) => {
                thread::sleep(POLL_INTERVAL);
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // No slave open (hang-up) or a transient error: wait and try again.
                thread::sleep(POLL_INTERVAL);
                continue;
            }
        };
        port.shared.stats().bytes_from_host += n as u64;
        port.received(n);
        for &byte in &buf[..n] {
            if let Some(command) = line.push(byte) {
                if !port.shared.sleep_until(port.rx_ready_at) {
                    return;
                }
                handle_line(&mut port, &mut engine, command);
                if port.shared.stopping() {
                    return;
                }
            }
        }
    }
}

/// Echo, latency, URCs, the answer: one command line from reception to final result code.
fn handle_line(port: &mut Port, engine: &mut Engine, command: Line) {
    port.shared.stats().commands += 1;
    if port.shared.never_answers.load(Ordering::Relaxed) {
        return;
    }
    if engine.echo {
        let mut echo = command.raw.clone();
        echo.push(b'\r');
        port.write(&echo);
    }
    if !engine.config.command_latency.is_zero()
        && !port
            .shared
            .sleep_until(Instant::now() + engine.config.command_latency)
    {
        return;
    }
    let reply = if command.overflowed || engine.random_error() {
        Reply::error(None)
    } else {
        engine.execute(&String::from_utf8_lossy(&command.raw))
    };
    let Some(text) = reply.render(engine.cmee) else {
        return;
    };
    engine.answers += 1;
    let every = u64::from(engine.config.unsolicited_every);
    if !engine.config.unsolicited.is_empty() && (engine.answers - 1).is_multiple_of(every) {
        let codes = engine.config.unsolicited.clone();
        for code in &codes {
            port.write_unsolicited(code);
        }
    }
    if reply.is_error() {
        port.shared.stats().errors += 1;
    }
    port.write(text.as_bytes());
}

// ------------------------------------------------------------------------------------------------
// The line: reception and pacing
// ------------------------------------------------------------------------------------------------

/// A complete command line.
#[derive(Debug)]
struct Line {
    raw: Vec<u8>,
    overflowed: bool,
}

/// Collects bytes into command lines (V.250 §5.2.1): CR or LF ends a line, backspace (S5)
/// deletes, empty lines are ignored.
#[derive(Debug, Default)]
struct LineBuffer {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl LineBuffer {
    fn push(&mut self, byte: u8) -> Option<Line> {
        match byte {
            b'\r' | b'\n' => {
                let raw = std::mem::take(&mut self.bytes);
                let overflowed = std::mem::take(&mut self.overflowed);
                if raw.iter().all(u8::is_ascii_whitespace) && !overflowed {
                    return None;
                }
                Some(Line { raw, overflowed })
            }
            0x08 => {
                self.bytes.pop();
                None
            }
            _ if self.bytes.len() >= MAX_LINE => {
                self.overflowed = true;
                None
            }
            _ => {
                self.bytes.push(byte);
                None
            }
        }
    }
}

/// The master side of the pty, with the line-speed model.
#[derive(Debug)]
struct Port {
    master: TTYPort,
    baud: u32,
    /// When the modem's transmitter is free again (paced writes).
    tx_free_at: Instant,
    /// When the bytes received so far would have finished arriving (paced reads).
    rx_ready_at: Instant,
    shared: Arc<Shared>,
}

impl Port {
    /// Time on the wire for `bytes` bytes at 10 bits per byte.
    fn wire_time(&self, bytes: usize) -> Duration {
        if self.baud == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(bytes as f64 * 10.0 / f64::from(self.baud))
        }
    }

    /// Accounts for `n` bytes just read: they only count as arrived once their wire time passed.
    fn received(&mut self, n: usize) {
        let start = self.rx_ready_at.max(Instant::now());
        self.rx_ready_at = start + self.wire_time(n);
    }

    /// Writes `bytes` to the host, each chunk delivered once its wire time has passed. Gives up
    /// silently when stopping or when the pty fails.
    fn write(&mut self, bytes: &[u8]) {
        let chunk = if self.baud == 0 {
            bytes.len().max(1)
        } else {
            // About 10 ms of line time per chunk.
            (self.baud as usize / 1000).max(1)
        };
        for piece in bytes.chunks(chunk) {
            if self.baud != 0 {
                let start = self.tx_free_at.max(Instant::now());
                self.tx_free_at = start + self.wire_time(piece.len());
                if !self.shared.sleep_until(self.tx_free_at) {
                    return;
                }
            }
            if !self.write_all(piece) {
                return;
            }
        }
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.shared.stopping() {
                return false;
            }
            // The stats lock is held across the write so that a host which has read these
            // bytes and then asks for the stats sees them counted.
            let mut stats = self.shared.stats();
            let written = self.master.write(bytes);
            if let Ok(n) = written {
                stats.bytes_to_host += n as u64;
            }
            drop(stats);
            match written {
                Ok(0) => return false,
                Ok(n) => {
                    bytes = &bytes[n..];
                }
                // The host is not reading: the pty buffer is full. Wait for room or a stop.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                    ) => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn write_unsolicited(&mut self, code: &str) {
        self.shared.stats().unsolicited += 1;
        self.write(format!("\r\n{code}\r\n").as_bytes());
    }

    fn flush_pending_unsolicited(&mut self) {
        loop {
            let next = self
                .shared
                .pending_unsolicited
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            match next {
                Some(code) => self.write_unsolicited(&code),
                None => return,
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The interpreter
// ------------------------------------------------------------------------------------------------

/// The final result of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Final {
    Ok,
    /// `None` is a plain `ERROR` whatever `AT+CMEE` says (syntax errors, random failures).
    Error(Option<CmeError>),
    /// No answer at all.
    Silent,
}

/// Information text lines and the final result code.
#[derive(Debug)]
struct Reply {
    lines: Vec<String>,
    result: Final,
}

impl Reply {
    fn ok() -> Self {
        Reply {
            lines: Vec::new(),
            result: Final::Ok,
        }
    }

    fn line(text: impl Into<String>) -> Self {
        Reply {
            lines: vec![text.into()],
            result: Final::Ok,
        }
    }

    fn error(cme: Option<CmeError>) -> Self {
        Reply {
            lines: Vec::new(),
            result: Final::Error(cme),
        }
    }

    fn cme(cme: CmeError) -> Self {
        Self::error(Some(cme))
    }

    fn silent() -> Self {
        Reply {
            lines: Vec::new(),
            result: Final::Silent,
        }
    }

    fn is_error(&self) -> bool {
        matches!(self.result, Final::Error(_))
    }

    /// The bytes on the wire (V.250 §5.7.1, verbose): `\r\n` + lines joined by `\r\n` + `\r\n`,
    /// then `\r\n<result>\r\n`.
    fn render(&self, cmee: u8) -> Option<String> {
        let result = match self.result {
            Final::Silent => return None,
            Final::Ok => "OK".to_owned(),
            Final::Error(Some(e)) if cmee == 1 => format!("+CME ERROR: {}", e.code()),
            Final::Error(Some(e)) if cmee >= 2 => format!("+CME ERROR: {}", e.text()),
            Final::Error(_) => "ERROR".to_owned(),
        };
        let mut out = String::new();
        if !self.lines.is_empty() {
            out.push_str("\r\n");
            out.push_str(&self.lines.join("\r\n"));
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&result);
        out.push_str("\r\n");
        Some(out)
    }
}

/// The four forms of an extended command (V.250 §5.4.2 / §6.1).
#[derive(Debug)]
enum Form<'a> {
    /// `AT+CMD`
    Execute,
    /// `AT+CMD?`
    Read,
    /// `AT+CMD=?`
    Test,
    /// `AT+CMD=<args>`
    Set(&'a str),
}

/// One parameter of a set command.
#[derive(Debug, PartialEq, Eq)]
enum Param {
    /// `"..."`
    Quoted(String),
    /// Anything else, trimmed; empty for an omitted parameter.
    Bare(String),
}

impl Param {
    /// The text, quoted or not (`+CSIM` data is a string, but modems take it bare too).
    fn text(&self) -> &str {
        match self {
            Param::Quoted(s) | Param::Bare(s) => s,
        }
    }

    fn number(&self) -> Option<u64> {
        match self {
            Param::Bare(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        }
    }
}

/// Splits `a,"b,c",d` into parameters; `None` for an unterminated quote.
fn split_params(args: &str) -> Option<Vec<Param>> {
    let mut params = Vec::new();
    let mut rest = args;
    loop {
        let trimmed = rest.trim_start();
        let (param, after) = if let Some(quoted) = trimmed.strip_prefix('"') {
            let end = quoted.find('"')?;
            let after = quoted[end + 1..].trim_start();
            (Param::Quoted(quoted[..end].to_owned()), after)
        } else {
            let end = trimmed.find(',').unwrap_or(trimmed.len());
            (
                Param::Bare(trimmed[..end].trim().to_owned()),
                &trimmed[end..],
            )
        };
        params.push(param);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None if after.is_empty() => return Some(params),
            None => return None,
        }
    }
}

/// Decodes hex (either case); `None` for odd length or a non-hex character.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    hex::decode(text).ok()
}

/// Checks `<len>,"<hex>"` as `+CSIM` and `+CGLA` carry it: len counts hex characters and must
/// match; the APDU has at least its four header bytes.
fn apdu_from_params(len: &Param, data: &Param) -> Result<Vec<u8>, CmeError> {
    let declared = len.number().ok_or(CmeError::IncorrectParameters)?;
    let text = data.text();
    if declared != text.len() as u64 {
        return Err(CmeError::IncorrectParameters);
    }
    let apdu = decode_hex(text).ok_or(CmeError::IncorrectParameters)?;
    if apdu.len() < 4 {
        return Err(CmeError::IncorrectParameters);
    }
    Ok(apdu)
}

/// The number of command data bytes (Lc) in an APDU; for bytes that do not parse as a short
/// APDU (extended length, say), everything after the five-byte header.
fn data_len(apdu: &[u8]) -> usize {
    match CommandApdu::parse(apdu) {
        Ok(command) => command.data.len(),
        Err(_) => apdu.len().saturating_sub(5),
    }
}

/// Puts `channel` into a CLA byte as a modem does for `+CGLA` (3GPP TS 27.007 §8.43: the MT
/// manages the channel part of CLA), following ETSI TS 102 221 §10.1.1: the first interindustry
/// coding (`0X`/`8X`) holds channels 0-3 in b2-b1, secure messaging in b4-b3; the further coding
/// (`4X`/`CX`) holds channels 4-19 as `n - 4` in b4-b1, secure messaging in b6. Both keep the
/// class (b8) and command chaining (b5). Whatever channel bits the LPA sent are replaced; when
/// the channel needs the other coding, the CLA is re-encoded (secure messaging mapped across).
fn cla_for_channel(cla: u8, channel: LogicalChannel) -> u8 {
    let n = channel.number();
    let class = cla & 0x80;
    let chaining = cla & 0x10;
    let further = cla & 0x40 != 0;
    match (further, n <= 3) {
        (false, true) => (cla & !0x03) | n,
        (true, false) => (cla & !0x0F) | (n - 4),
        (false, false) => {
            let sm = if cla & 0x0C != 0 { 0x20 } else { 0x00 };
            class | 0x40 | sm | chaining | (n - 4)
        }
        (true, true) => {
            let sm = if cla & 0x20 != 0 { 0x08 } else { 0x00 };
            class | sm | chaining | n
        }
    }
}

/// splitmix64: small, seedable, good enough to decide random failures and pick handles.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The AT interpreter: modem state and the card. Does no I/O on the pty.
#[derive(Debug)]
struct Engine {
    config: ModemConfig,
    card: SharedCardDebug,
    shared: Arc<Shared>,
    echo: bool,
    cmee: u8,
    /// `AT+CFUN` level: 0 minimum (SIM powered down), 1 full, 4 radio off.
    fun: u8,
    /// Open sessions: session id as reported by `+CCHO` to the card's channel.
    sessions: HashMap<u64, LogicalChannel>,
    errors_rng: Option<(SplitMix64, f64)>,
    handles_rng: SplitMix64,
    /// Answers written so far (for [`ModemConfig::with_unsolicited_every`]).
    answers: u64,
}

/// [`SharedCard`] with a `Debug` that does not lock it.
struct SharedCardDebug(SharedCard);

impl std::fmt::Debug for SharedCardDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCard")
    }
}

impl Engine {
    fn new(card: SharedCard, config: ModemConfig, shared: Arc<Shared>) -> Self {
        let seed = config.random_errors.map_or(0, |(seed, _)| seed);
        Engine {
            echo: config.echo,
            cmee: config.cmee,
            fun: 1,
            sessions: HashMap::new(),
            errors_rng: config.random_errors.map(|(seed, p)| (SplitMix64(seed), p)),
            handles_rng: SplitMix64(seed ^ 0x5EC7_10AD_u64),
            answers: 0,
            card: SharedCardDebug(card),
            shared,
            config,
        }
    }

    /// Draws whether this command fails at random.
    fn random_error(&mut self) -> bool {
        match &mut self.errors_rng {
            Some((rng, p)) => rng.next_f64() < *p,
            None => false,
        }
    }

    /// One APDU to the card.
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.shared.stats().apdus += 1;
        self.card
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .transmit(apdu)
    }

    fn reset_card(&mut self) {
        self.sessions.clear();
        self.card
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .reset();
    }

    /// Runs one command with the `61xx`/`6Cxx` procedures on behalf of the modem (for `+CCHO`
    /// and `+CCHC`), collecting response data into `out`.
    fn exchange(&mut self, command: CommandApdu<'_>, out: &mut [u8]) -> Result<usize, ApduError> {
        let config = ExchangeConfig::new().with_max_response_rounds(16);
        let mut exchange = CommandExchange::new(command, config, out)?;
        let mut apdu = [0u8; MAX_SHORT_COMMAND];
        loop {
            match exchange.poll_transmit(&mut apdu)? {
                Transmit::Command(bytes) => {
                    let answer = self.transmit(bytes);
                    exchange.handle_response(&answer)?;
                }
                Transmit::Done { len } => return Ok(len),
            }
        }
    }

    fn execute(&mut self, line: &str) -> Reply {
        let line = line.trim();
        let Some(body) = line
            .get(..2)
            .filter(|prefix| prefix.eq_ignore_ascii_case("AT"))
            .map(|_| &line[2..])
        else {
            return Reply::error(None);
        };
        if body.is_empty() {
            return Reply::ok();
        }
        if let Some(extended) = body.strip_prefix('+') {
            return self.extended(extended);
        }
        self.basic(body)
    }

    /// Basic (V.250 §6) commands: `E`, `I`, `Z`.
    fn basic(&mut self, body: &str) -> Reply {
        match body.to_ascii_uppercase().as_str() {
            "E" | "E0" => {
                self.echo = false;
                Reply::ok()
            }
            "E1" => {
                self.echo = true;
                Reply::ok()
            }
            "I" | "I0" => Reply {
                lines: vec![
                    self.config.manufacturer.clone(),
                    self.config.model.clone(),
                    format!("Revision: {}", self.config.revision),
                ],
                result: Final::Ok,
            },
            "Z" | "Z0" => {
                self.echo = self.config.echo;
                self.cmee = self.config.cmee;
                Reply::ok()
            }
            _ => Reply::error(None),
        }
    }

    fn extended(&mut self, body: &str) -> Reply {
        let name_end = body.find(['=', '?']).unwrap_or(body.len());
        let name = body[..name_end].trim().to_ascii_uppercase();
        let suffix = &body[name_end..];
        let form = if suffix.is_empty() {
            Form::Execute
        } else if suffix == "?" {
            Form::Read
        } else if suffix.trim_end() == "=?" {
            Form::Test
        } else if let Some(args) = suffix.strip_prefix('=') {
            Form::Set(args)
        } else {
            return Reply::error(None);
        };
        match name.as_str() {
            "CMEE" => self.cmee_command(form),
            "CGMI" | "GMI" => self.identification(form, self.config.manufacturer.clone()),
            "CGMM" | "GMM" => self.identification(form, self.config.model.clone()),
            "CGMR" | "GMR" => self.identification(form, self.config.revision.clone()),
            "CFUN" => self.cfun(form),
            "CSIM" => self.sim_command(SimCommand::Csim, form),
            "CCHO" => self.sim_command(SimCommand::Ccho, form),
            "CGLA" => self.sim_command(SimCommand::Cgla, form),
            "CCHC" => self.sim_command(SimCommand::Cchc, form),
            _ => Reply::error(None),
        }
    }

    /// The answer to a test command whose supported form is `ranges` (`None`: just `OK`).
    fn test_answer(&self, supported: bool, ranges: Option<String>) -> Reply {
        match self.config.test_commands {
            TestCommandAnswer::Silent => Reply::silent(),
            TestCommandAnswer::Error => Reply::cme(CmeError::OperationNotSupported),
            TestCommandAnswer::Answer if !supported => Reply::cme(CmeError::OperationNotSupported),
            TestCommandAnswer::Answer => ranges.map_or_else(Reply::ok, Reply::line),
        }
    }

    fn cmee_command(&mut self, form: Form<'_>) -> Reply {
        match form {
            Form::Read => Reply::line(format!("+CMEE: {}", self.cmee)),
            Form::Test => self.test_answer(true, Some("+CMEE: (0-2)".to_owned())),
            Form::Execute => {
                self.cmee = 0;
                Reply::ok()
            }
            Form::Set(args) => match split_params(args).as_deref() {
                Some([p]) if p.text().is_empty() => {
                    self.cmee = 0;
                    Reply::ok()
                }
                Some([p]) => match p.number() {
                    Some(n @ 0..=2) => {
                        self.cmee = n as u8;
                        Reply::ok()
                    }
                    _ => Reply::cme(CmeError::IncorrectParameters),
                },
                _ => Reply::cme(CmeError::IncorrectParameters),
            },
        }
    }

    fn identification(&self, form: Form<'_>, text: String) -> Reply {
        match form {
            Form::Execute => Reply::line(text),
            Form::Test => self.test_answer(true, None),
            Form::Read | Form::Set(_) => Reply::error(None),
        }
    }

    fn cfun(&mut self, form: Form<'_>) -> Reply {
        match form {
            Form::Read => Reply::line(format!("+CFUN: {}", self.fun)),
            Form::Test => self.test_answer(true, Some("+CFUN: (0,1,4),(0,1)".to_owned())),
            Form::Execute => Reply::error(None),
            Form::Set(args) => {
                let Some(params) = split_params(args) else {
                    return Reply::cme(CmeError::IncorrectParameters);
                };
                let (fun, rst) = match params.as_slice() {
                    [fun] => (fun.number(), Some(0)),
                    [fun, rst] => (fun.number(), rst.number()),
                    _ => (None, None),
                };
                let (Some(fun @ (0 | 1 | 4)), Some(rst @ (0 | 1))) = (fun, rst) else {
                    return Reply::cme(CmeError::IncorrectParameters);
                };
                let fun = fun as u8;
                if rst == 1 {
                    // Reset the MT before setting the level (27.007 §8.2): the SIM restarts.
                    self.reset_card();
                } else if fun == 0 {
                    // The SIM is powered down; its channels are gone.
                    self.sessions.clear();
                } else if self.fun == 0 {
                    // Powering the SIM up again is a cold start of the card.
                    self.reset_card();
                }
                self.fun = fun;
                Reply::ok()
            }
        }
    }

    fn supports(&self, command: SimCommand) -> bool {
        match (self.config.sim_access, command) {
            (SimAccess::CsimAndLogicalChannels, _) => true,
            (SimAccess::CsimOnly, c) => c == SimCommand::Csim,
            (SimAccess::LogicalChannelsOnly, c) => c != SimCommand::Csim,
        }
    }

    fn sim_command(&mut self, command: SimCommand, form: Form<'_>) -> Reply {
        if let Form::Test = form {
            return self.test_answer(self.supports(command), None);
        }
        if !self.supports(command) {
            return Reply::cme(CmeError::OperationNotSupported);
        }
        let Form::Set(args) = form else {
            return Reply::error(None);
        };
        if self.fun == 0 {
            return Reply::cme(CmeError::SimFailure);
        }
        let Some(params) = split_params(args) else {
            return Reply::cme(CmeError::IncorrectParameters);
        };
        let result = match command {
            SimCommand::Csim => self.csim(&params),
            SimCommand::Ccho => self.ccho(&params),
            SimCommand::Cgla => self.cgla(&params),
            SimCommand::Cchc => self.cchc(&params),
        };
        result.unwrap_or_else(Reply::cme)
    }

    /// The size check before an APDU goes to the card: `Some` is the answer instead.
    fn oversize(&self, prefix: &str, apdu: &[u8]) -> Option<Reply> {
        let (max, answer) = self.config.max_apdu_data?;
        if data_len(apdu) <= max {
            return None;
        }
        Some(match answer {
            OversizeAnswer::CmeError(e) => Reply::cme(e),
            OversizeAnswer::Status(sw) => Reply::line(format!("{prefix}: 4,\"{sw}\"")),
        })
    }

    fn apdu_reply(prefix: &str, response: &[u8]) -> Reply {
        Reply::line(format!(
            "{prefix}: {},\"{}\"",
            response.len() * 2,
            hex::encode_upper(response)
        ))
    }

    fn csim(&mut self, params: &[Param]) -> Result<Reply, CmeError> {
        let [len, data] = params else {
            return Err(CmeError::IncorrectParameters);
        };
        let apdu = apdu_from_params(len, data)?;
        if let Some(reply) = self.oversize("+CSIM", &apdu) {
            return Ok(reply);
        }
        let response = self.transmit(&apdu);
        Ok(Self::apdu_reply("+CSIM", &response))
    }

    fn ccho(&mut self, params: &[Param]) -> Result<Reply, CmeError> {
        let [aid] = params else {
            return Err(CmeError::IncorrectParameters);
        };
        let aid = decode_hex(aid.text())
            .filter(|aid| (1..=16).contains(&aid.len()))
            .ok_or(CmeError::IncorrectParameters)?;
        let mut out = [0u8; 512];
        let len = match self.exchange(manage_channel_open(), &mut out) {
            Ok(len) => len,
            Err(ApduError::Status { .. }) => return Err(CmeError::OperationNotAllowed),
            Err(_) => return Err(CmeError::SimFailure),
        };
        let channel = match out.get(..len) {
            Some(&[n]) if n != 0 => LogicalChannel::new(n).map_err(|_| CmeError::SimFailure)?,
            _ => return Err(CmeError::SimFailure),
        };
        let select = select_by_aid(channel, &aid, self.config.ccho_select)
            .map_err(|_| CmeError::IncorrectParameters)?;
        if let Err(e) = self.exchange(select, &mut out) {
            self.close_channel(channel);
            return Err(match e {
                ApduError::Status { .. } => CmeError::NotFound,
                _ => CmeError::SimFailure,
            });
        }
        let line = match self.config.ccho_answer {
            CchoAnswer::Prefixed => {
                self.sessions.insert(u64::from(channel.number()), channel);
                format!("+CCHO: {}", channel.number())
            }
            CchoAnswer::Bare => {
                self.sessions.insert(u64::from(channel.number()), channel);
                channel.number().to_string()
            }
            CchoAnswer::SessionHandle => {
                let handle = loop {
                    // 28-bit values like the ones Sierra modems hand out.
                    let h = 0x0100_0000 | (self.handles_rng.next_u64() & 0x0FFF_FFFF);
                    if !self.sessions.contains_key(&h) {
                        break h;
                    }
                };
                self.sessions.insert(handle, channel);
                format!("+CCHO: {handle:016x}")
            }
        };
        Ok(Reply::line(line))
    }

    /// The session a `+CGLA`/`+CCHC` id names: decimal, or 16 hex digits for session handles.
    fn session(&self, id: &Param) -> Result<(u64, LogicalChannel), CmeError> {
        let text = id.text();
        let id = match self.config.ccho_answer {
            CchoAnswer::SessionHandle => {
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(CmeError::IncorrectParameters);
                }
                u64::from_str_radix(text, 16).map_err(|_| CmeError::IncorrectParameters)?
            }
            CchoAnswer::Prefixed | CchoAnswer::Bare => {
                id.number().ok_or(CmeError::IncorrectParameters)?
            }
        };
        self.sessions
            .get(&id)
            .map(|&channel| (id, channel))
            .ok_or(CmeError::InvalidIndex)
    }

    fn cgla(&mut self, params: &[Param]) -> Result<Reply, CmeError> {
        let [id, len, data] = params else {
            return Err(CmeError::IncorrectParameters);
        };
        let (_, channel) = self.session(id)?;
        let mut apdu = apdu_from_params(len, data)?;
        if let Some(reply) = self.oversize("+CGLA", &apdu) {
            return Ok(reply);
        }
        apdu[0] = cla_for_channel(apdu[0], channel);
        let response = self.transmit(&apdu);
        Ok(Self::apdu_reply("+CGLA", &response))
    }

    fn cchc(&mut self, params: &[Param]) -> Result<Reply, CmeError> {
        let [id] = params else {
            return Err(CmeError::IncorrectParameters);
        };
        let (id, channel) = self.session(id)?;
        self.sessions.remove(&id);
        if self.close_channel(channel) {
            Ok(Reply::ok())
        } else {
            Err(CmeError::SimFailure)
        }
    }

    /// MANAGE CHANNEL close; whether the card accepted it.
    fn close_channel(&mut self, channel: LogicalChannel) -> bool {
        let mut out = [0u8; 512];
        self.exchange(manage_channel_close(channel), &mut out)
            .is_ok()
    }
}

/// The card access commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SimCommand {
    Csim,
    Ccho,
    Cgla,
    Cchc,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(n: u8) -> LogicalChannel {
        LogicalChannel::new(n).unwrap()
    }

    #[test]
    fn cla_rewriting_follows_ts_102_221() {
        // Same coding: only the channel bits change.
        assert_eq!(cla_for_channel(0x80, ch(1)), 0x81);
        assert_eq!(cla_for_channel(0x83, ch(1)), 0x81);
        assert_eq!(cla_for_channel(0x00, ch(3)), 0x03);
        assert_eq!(cla_for_channel(0xC0, ch(5)), 0xC1);
        assert_eq!(cla_for_channel(0xCF, ch(19)), 0xCF);
        assert_eq!(cla_for_channel(0x4A, ch(4)), 0x40);
        // Across codings.
        assert_eq!(cla_for_channel(0x80, ch(5)), 0xC1);
        assert_eq!(cla_for_channel(0x01, ch(5)), 0x41);
        assert_eq!(cla_for_channel(0xC3, ch(1)), 0x81);
        assert_eq!(cla_for_channel(0x47, ch(2)), 0x02);
        // Chaining (b5) and secure messaging survive.
        assert_eq!(cla_for_channel(0x90, ch(5)), 0xD1);
        assert_eq!(cla_for_channel(0x0C, ch(6)), 0x62);
        assert_eq!(cla_for_channel(0x60, ch(1)), 0x09);
        assert_eq!(cla_for_channel(0x70, ch(2)), 0x1A);
    }

    #[test]
    fn params_split_on_commas_outside_quotes() {
        assert_eq!(
            split_params(r#" 1 ,"a,b", 7"#),
            Some(vec![
                Param::Bare("1".into()),
                Param::Quoted("a,b".into()),
                Param::Bare("7".into())
            ])
        );
        assert_eq!(split_params(r#""open"#), None);
        assert_eq!(split_params(r#""a"x"#), None);
        assert_eq!(split_params(""), Some(vec![Param::Bare(String::new())]));
    }

    #[test]
    fn render_follows_cmee() {
        let e = Reply::cme(CmeError::IncorrectParameters);
        assert_eq!(e.render(0).unwrap(), "\r\nERROR\r\n");
        assert_eq!(e.render(1).unwrap(), "\r\n+CME ERROR: 50\r\n");
        assert_eq!(
            e.render(2).unwrap(),
            "\r\n+CME ERROR: incorrect parameters\r\n"
        );
        let r = Reply {
            lines: vec!["a".into(), "b".into()],
            result: Final::Ok,
        };
        assert_eq!(r.render(0).unwrap(), "\r\na\r\nb\r\n\r\nOK\r\n");
        assert_eq!(Reply::silent().render(1), None);
    }
}
