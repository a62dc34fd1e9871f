//! [`AtTransport`]: the LPA's [`ApduTransport`] over a modem's AT command port.

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lpa::es10::SegmentSize;
use lpa::transport::{ApduTransport, TransportError};
use lpa_core::apdu::{
    self, ApduError, INS_GET_RESPONSE, INS_MANAGE_CHANNEL, INS_SELECT, INS_STORE_DATA,
    INS_TERMINAL_CAPABILITY, LogicalChannel, MAX_SHORT_COMMAND, ResponseApdu, SelectResponse,
};
use serialport::SerialPort;

use crate::cache::{ModemCache, ModemMemory};
use crate::engine::{AtEngine, deadline_after};
use crate::error::AtError;
use crate::profile::{AccessMode, ModemIdentity, ModemProfile, SimRefresh};
use crate::response::{Expect, SessionId, encode_hex, parse_apdu_answer};
use crate::segment::{SEGMENT_SIZES, is_size_status, smaller_segment};

/// How long `read` on a serial port opened by [`AtTransport::open`] blocks at most: the
/// granularity of every deadline.
const PORT_READ_TIMEOUT: Duration = Duration::from_millis(20);

/// INS of STATUS (ETSI TS 102 221 §11.1.2) and GET DATA (ISO/IEC 7816-4 §11.4.3): reads,
/// harmless to repeat.
const INS_STATUS: u8 = 0xF2;
const INS_GET_DATA: u8 = 0xCA;

/// How often `AT+CPIN?` is asked while the SIM comes back after a refresh.
const SIM_POLL: Duration = Duration::from_millis(250);

/// Settings of an [`AtTransport`]; [`AtOptions::new`] gives the defaults, `with_*` change them.
#[derive(Clone, Debug)]
pub struct AtOptions {
    command_timeout: Duration,
    long_timeout: Duration,
    refresh_timeout: Duration,
    retries: u8,
    mode: Option<AccessMode>,
    profile: Option<ModemProfile>,
    cache: Option<ModemCache>,
    baud_rate: u32,
    long_operation: LongOperation,
}

impl AtOptions {
    /// Defaults: 10 s per ordinary command, 300 s per STORE DATA during a profile load (or a
    /// [long operation](LongOperation)), 60 s for the SIM to come back after a refresh, 3
    /// retries of commands that are safe to repeat, the mode and profile chosen from the
    /// modem's identity, 115200 baud.
    pub fn new() -> Self {
        AtOptions {
            command_timeout: Duration::from_secs(10),
            long_timeout: Duration::from_secs(300),
            refresh_timeout: Duration::from_secs(60),
            retries: 3,
            mode: None,
            profile: None,
            cache: None,
            baud_rate: 115_200,
            long_operation: LongOperation::default(),
        }
    }

    /// The deadline of each ordinary command (identification, channel management, APDUs of
    /// ordinary ES10 calls).
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The deadline of each STORE DATA/GET RESPONSE of a profile load, and of every command
    /// while a [`LongOperation`] is on. A card may work for minutes on a large profile.
    pub fn with_long_timeout(mut self, timeout: Duration) -> Self {
        self.long_timeout = timeout;
        self
    }

    /// How long [`AtTransport::refresh_sim`] waits for each `AT+CFUN` and for the SIM to be
    /// ready again.
    pub fn with_refresh_timeout(mut self, timeout: Duration) -> Self {
        self.refresh_timeout = timeout;
        self
    }

    /// How often a command refused with a plain `ERROR` (or "SIM busy") is repeated when
    /// repeating is harmless: housekeeping commands, SELECT, STATUS, GET DATA, TERMINAL
    /// CAPABILITY, and the channel opening (MANAGE CHANNEL open, `AT+CCHO`). STORE DATA and
    /// GET RESPONSE are never repeated here: a failed block fails the ES10 command, which the
    /// ES10 client sends again only when the card cannot have executed it (see
    /// [`crate::segment`]).
    pub fn with_retries(mut self, retries: u8) -> Self {
        self.retries = retries;
        self
    }

    /// Use only this access mode: no detection, no fallback.
    pub fn with_mode(mut self, mode: AccessMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Use this profile instead of the one chosen from `AT+CGMI`/`AT+CGMM`.
    pub fn with_profile(mut self, profile: ModemProfile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// What earlier sessions learned (see [`AtTransport::remember_in`]): the remembered mode is
    /// tried first and the remembered segment size is the first [`AtTransport::max_apdu_data`].
    pub fn with_cache(mut self, cache: ModemCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Use this [`LongOperation`] switch (one made before the transport, or shared by several
    /// transports) instead of a new one.
    pub fn with_long_operation(mut self, switch: LongOperation) -> Self {
        self.long_operation = switch;
        self
    }

    /// Line speed for [`AtTransport::open`] (USB modems ignore it).
    pub fn with_baud_rate(mut self, baud: u32) -> Self {
        self.baud_rate = baud;
        self
    }
}

impl Default for AtOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// A switch the LPA flips around operations that may take the card minutes (a profile load,
/// a memory reset), so that their commands get the long deadline. Clone it out of the
/// transport before handing the transport over as a `Box<dyn ApduTransport>`.
///
/// A profile load is also recognised without it: from the STORE DATA that starts a
/// LoadBoundProfilePackage (`BF36`) to the first block of the next ES10 command, STORE DATA
/// and GET RESPONSE get the long deadline.
#[derive(Clone, Debug, Default)]
pub struct LongOperation(Arc<AtomicBool>);

impl LongOperation {
    /// Turns the long deadline on or off.
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }

    /// Whether it is on.
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Turns it on until the guard is dropped.
    #[must_use = "the long deadline ends when the guard is dropped"]
    pub fn begin(&self) -> LongOperationGuard {
        self.set(true);
        LongOperationGuard(self.clone())
    }
}

/// Ends a [`LongOperation`] when dropped.
#[derive(Debug)]
pub struct LongOperationGuard(LongOperation);

impl Drop for LongOperationGuard {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// A channel opened with `AT+CCHO`.
#[derive(Clone, Debug)]
struct Session {
    /// The number the LPA knows it by (its CLA channel bits).
    channel: LogicalChannel,
    /// What the modem handed out.
    id: SessionId,
}

/// Why opening a channel in one mode failed.
enum OpenFailure {
    /// The mode's commands are refused or do not reach the card: try the other mode.
    Mode(String),
    /// Anything else (the card refused the AID, the modem hangs): stop.
    Fatal(TransportError),
}

/// An eUICC behind a modem's AT command port.
///
/// ```text
///   LPA (Es10Client)                AtTransport                          modem        eUICC
///   open_logical_channel(ISD-R) --> CSIM mode:  AT+CSIM MANAGE CHANNEL --> ... --> 0070000001
///                                               AT+CSIM SELECT ISD-R
///                                   CCHO mode:  AT+CCHO="<ISD-R>"     --> MANAGE CHANNEL+SELECT
///   transmit(81 E2 91 00 ..)    --> CSIM mode:  AT+CSIM=<len>,"81E29100.."
///                                   CCHO mode:  AT+CGLA=<session>,<len>,"..E29100.."
///   close_logical_channel(1)    --> AT+CSIM MANAGE CHANNEL close / AT+CCHC=<session>
/// ```
///
/// Creating it ([`AtTransport::new`], [`AtTransport::open`]) wakes the modem (`AT`), turns
/// echo off (`ATE0`), asks for verbose errors (`AT+CMEE=2`) and reads `AT+CGMI`/`AT+CGMM` to
/// pick a [`ModemProfile`]. The access mode is chosen on the first
/// [`ApduTransport::open_logical_channel`] by trying real commands, never `=?` probes (see the
/// crate documentation for the exact order and fallback rules).
pub struct AtTransport<P> {
    engine: AtEngine<P>,
    options: AtOptions,
    identity: ModemIdentity,
    profile: ModemProfile,
    /// The mode that opened a channel (or was forced).
    mode: Option<AccessMode>,
    /// The mode remembered from earlier sessions, tried first.
    remembered_mode: Option<AccessMode>,
    /// The mode being tried while detecting.
    trying: Option<AccessMode>,
    sessions: Vec<Session>,
    long_operation: LongOperation,
    /// Between the first STORE DATA of a LoadBoundProfilePackage and the next ES10 command.
    profile_load: bool,
    /// The largest STORE DATA block that passed, and the smallest one refused (above it).
    store_data_passed: usize,
    store_data_refused: Option<usize>,
    remembered_max_apdu_data: Option<usize>,
    /// The ES10 client's segment size, lowered when a block does not pass the modem.
    segment_size: Option<SegmentSize>,
}

impl<P> fmt::Debug for AtTransport<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtTransport")
            .field("identity", &self.identity)
            .field("profile", &self.profile.name)
            .field("mode", &self.mode)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl AtTransport<Box<dyn SerialPort>> {
    /// Opens a serial device (`/dev/ttyUSB2`, `/dev/ttyACM0`, `COM5`, a pty) and sets the
    /// modem up as [`AtTransport::new`] does. The port is opened exclusively (`TIOCEXCL` on
    /// Unix): while another program holds it (ModemManager probing the modem, a second
    /// transport) opening fails with [`AtError::Io`]; use an AT port nothing else uses.
    pub fn open(path: &str, options: AtOptions) -> Result<Self, AtError> {
        let port = serialport::new(path, options.baud_rate)
            .timeout(PORT_READ_TIMEOUT)
            .open()
            .map_err(|e| AtError::Io {
                command: format!("opening {path}"),
                kind: std::io::Error::from(e.clone()).kind(),
                message: e.to_string(),
            })?;
        Self::new(port, options)
    }
}

impl<P: Read + Write + Send> AtTransport<P> {
    /// Sets up the modem behind `port`: `AT`, `ATE0`, `AT+CMEE=2`, `AT+CGMI`, `AT+CGMM`.
    /// `port` must not block in `read` for long (see [`crate::engine`]). Fails if the modem
    /// does not answer `AT`.
    pub fn new(port: P, options: AtOptions) -> Result<Self, AtError> {
        let mut t = AtTransport {
            engine: AtEngine::new(port),
            identity: ModemIdentity::default(),
            profile: ModemProfile::generic(),
            mode: options.mode,
            remembered_mode: None,
            trying: None,
            sessions: Vec::new(),
            long_operation: options.long_operation.clone(),
            profile_load: false,
            store_data_passed: 0,
            store_data_refused: None,
            remembered_max_apdu_data: None,
            segment_size: None,
            options,
        };
        t.wake()?;
        // Both are conveniences: echo is skipped anyway, and a plain ERROR is handled.
        for setup in ["ATE0", "AT+CMEE=2"] {
            if let Err(e) = t.housekeeping(setup, Expect::Nothing) {
                if !e.is_refusal() {
                    return Err(e);
                }
                log::debug!("AT: {setup} refused ({e}); going on");
            }
        }
        t.identity = ModemIdentity::new(t.identify("AT+CGMI")?, t.identify("AT+CGMM")?);
        t.profile = match &t.options.profile {
            Some(p) => p.clone(),
            None => ModemProfile::for_modem(&t.identity),
        };
        if let Some(memory) = t.options.cache.as_ref().and_then(|c| c.get(&t.identity)) {
            t.remembered_mode = memory.mode;
            // The cache is a file the user may edit: a size outside 1..=255 would make the
            // ES10 client refuse the session.
            t.remembered_max_apdu_data = memory.max_apdu_data.map(|n| n.clamp(1, 255));
        }
        log::info!(
            "modem {} (profile {}), mode {}",
            t.identity,
            t.profile.name,
            match (t.mode, t.remembered_mode) {
                (Some(m), _) => format!("{m} (forced)"),
                (None, Some(m)) => format!("{m} (remembered), detected on first use"),
                (None, None) => format!("detected on first use, {} first", t.profile.first_mode),
            }
        );
        Ok(t)
    }

    /// The modem's `AT+CGMI`/`AT+CGMM` (empty strings if it refused them).
    pub fn identity(&self) -> &ModemIdentity {
        &self.identity
    }

    /// The profile in use.
    pub fn profile(&self) -> &ModemProfile {
        &self.profile
    }

    /// The access mode in use: forced by the options, or the one that opened a channel.
    /// `None` until the first channel is opened.
    pub fn mode(&self) -> Option<AccessMode> {
        self.mode
    }

    /// The handle that switches the long deadline on and off (see [`LongOperation`]).
    pub fn long_operation(&self) -> LongOperation {
        self.long_operation.clone()
    }

    /// The STORE DATA segment size to start with: the largest of 255/128/64 below the
    /// smallest STORE DATA block this modem refused in this session; else what an earlier
    /// session learned ([`AtOptions::with_cache`]); else the profile's limit; `None` means
    /// full-size APDUs (255 data bytes) are expected to pass.
    pub fn max_apdu_data(&self) -> Option<usize> {
        if let Some(refused) = self.store_data_refused {
            // Only blocks above the smallest size are recorded, so a smaller one exists.
            return smaller_segment(refused, refused);
        }
        self.remembered_max_apdu_data.or(self.profile.max_apdu_data)
    }

    /// Lets the transport lower the ES10 client's STORE DATA segment size
    /// ([`lpa::es10::Es10Client::segment_size_handle`]) when the modem does not carry a block:
    /// a STORE DATA block of `n` data bytes refused by the modem (`ERROR`, `+CME ERROR`,
    /// `+CMS ERROR`) or answered with `6700`/`6601` alone sets the size to the largest of
    /// 255/128/64 below both `n` and the current size, and fails with
    /// [`TransportError::Refused`]; the client then sends the command again from block 0 in
    /// smaller blocks, as long as the card cannot have executed it (module [`crate::segment`]).
    /// When no smaller size helps (a block of 64 bytes or less), the failure is
    /// returned as it came. The size is not raised again during the session.
    ///
    /// ```no_run
    /// # use lpa::es10::{Es10Client, Es10Config};
    /// # use lpa_at::{AtOptions, AtTransport};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let modem = AtTransport::open("/dev/ttyUSB2", AtOptions::new())?;
    /// let mut config = Es10Config::new();
    /// config.segment_size = modem.max_apdu_data().unwrap_or(255);
    /// let mut client = Es10Client::new(modem, config);
    /// let handle = client.segment_size_handle();
    /// client.transport_mut().share_segment_size(handle);
    /// client.open()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn share_segment_size(&mut self, handle: SegmentSize) {
        self.segment_size = Some(handle);
    }

    /// What this session learned about the modem, to keep for the next one.
    pub fn memory(&self) -> ModemMemory {
        let learned = self
            .store_data_refused
            .filter(|&refused| self.store_data_passed > 0 && self.store_data_passed < refused)
            .and_then(|_| self.max_apdu_data());
        ModemMemory {
            mode: self.mode.or(self.remembered_mode),
            max_apdu_data: learned.or(self.remembered_max_apdu_data),
        }
    }

    /// Stores [`AtTransport::memory`] in `cache` under this modem's identity.
    pub fn remember_in(&self, cache: &mut ModemCache) {
        cache.insert(&self.identity, self.memory());
    }

    /// Sends any AT command with the ordinary deadline and returns the information lines
    /// `expect` selects (for diagnostics and vendor commands).
    pub fn command(&mut self, command: &str, expect: Expect) -> Result<Vec<String>, AtError> {
        let timeout = self.ordinary_timeout();
        self.engine.command(command, expect, timeout)
    }

    /// Makes the modem read the card again after a profile was enabled or disabled, the way
    /// the profile says ([`ModemProfile::refresh`]); does nothing for [`SimRefresh::None`].
    /// Call it after a successful EnableProfile/DisableProfile (and after the notifications
    /// were fetched: channels do not survive it).
    pub fn refresh_sim(&mut self) -> Result<(), AtError> {
        self.refresh_sim_with(self.profile.refresh)
    }

    /// Makes the modem read the card again with `method`, then waits until `AT+CPIN?` reports
    /// a SIM (at most the refresh deadline). Every logical channel is gone afterwards: open
    /// the ISD-R again. With [`SimRefresh::CfunReset`] many modems restart and their serial
    /// device disappears; the error then says so and the transport must be reopened.
    pub fn refresh_sim_with(&mut self, method: SimRefresh) -> Result<(), AtError> {
        let commands: &[&str] = match method {
            SimRefresh::None => return Ok(()),
            SimRefresh::CfunCycle => &["AT+CFUN=0", "AT+CFUN=1"],
            SimRefresh::CfunReset => &["AT+CFUN=1,1"],
        };
        log::info!("refreshing the SIM of {} ({method:?})", self.identity);
        self.sessions.clear();
        self.profile_load = false;
        let timeout = self.options.refresh_timeout;
        for (i, command) in commands.iter().enumerate() {
            if let Err(e) = self.engine.command(command, Expect::Nothing, timeout) {
                // Some modems drop the line while the SIM powers down (openpilot reports it
                // of a Quectel EG916Q). Whatever happened, a modem left at AT+CFUN=0 has no
                // SIM: try to bring it back before reporting the failure.
                let rest = commands.get(i + 1..).unwrap_or_default();
                if !e.is_refusal() {
                    for command in rest {
                        let _ = self.engine.command(command, Expect::Nothing, timeout);
                    }
                }
                return Err(e);
            }
        }
        let started = Instant::now();
        self.wait_for_sim(started, deadline_after(started, timeout))
    }

    /// Gives the port back.
    pub fn into_inner(self) -> P {
        self.engine.into_inner()
    }

    // --------------------------------------------------------------------------- setup

    /// `AT` until the modem answers: a plain `ERROR` or one missed deadline (a modem waking
    /// up, leftovers of an earlier session on the line) is retried.
    fn wake(&mut self) -> Result<(), AtError> {
        let timeout = self.ordinary_timeout();
        let mut timeouts = 0;
        let mut attempt = 0;
        loop {
            match self.engine.command("AT", Expect::Nothing, timeout) {
                Ok(_) => return Ok(()),
                Err(e @ AtError::Timeout { .. }) => {
                    timeouts += 1;
                    if timeouts > 1 {
                        return Err(e);
                    }
                }
                Err(e) if e.is_retryable() && attempt < self.options.retries => {}
                Err(e) => return Err(e),
            }
            // A timeout counts as an attempt too, so `attempt` may pass `retries` once: with
            // `retries` at 255 a plain `+ 1` would overflow.
            attempt = attempt.saturating_add(1);
            log::debug!(
                "AT: waking the modem, attempt {}",
                u16::from(attempt).saturating_add(1)
            );
        }
    }

    /// A command that is harmless to repeat, repeated on plain `ERROR`.
    fn housekeeping(&mut self, command: &str, expect: Expect) -> Result<Vec<String>, AtError> {
        let timeout = self.ordinary_timeout();
        let mut attempt = 0;
        loop {
            match self.engine.command(command, expect, timeout) {
                Err(e) if e.is_retryable() && attempt < self.options.retries => {
                    attempt += 1;
                    log::warn!("AT: {e}; retry {attempt}");
                }
                other => return other,
            }
        }
    }

    /// `AT+CGMI` / `AT+CGMM`: the first line of text, or empty if refused.
    fn identify(&mut self, command: &'static str) -> Result<String, AtError> {
        let prefix = match command {
            "AT+CGMI" => "+CGMI:",
            _ => "+CGMM:",
        };
        match self.housekeeping(command, Expect::Text(prefix)) {
            Ok(lines) => Ok(lines.into_iter().next().unwrap_or_default()),
            Err(e) if e.is_refusal() => {
                log::debug!("AT: {command} refused: {e}");
                Ok(String::new())
            }
            Err(e) => Err(e),
        }
    }

    fn wait_for_sim(&mut self, started: Instant, deadline: Instant) -> Result<(), AtError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = self.ordinary_timeout().min(left.max(SIM_POLL));
            match self
                .engine
                .command("AT+CPIN?", Expect::Prefix("+CPIN:"), timeout)
            {
                Ok(lines) if !lines.is_empty() => {
                    log::info!("SIM is back: {}", lines.join(" "));
                    return Ok(());
                }
                Ok(_) => {}
                // A modem without AT+CPIN: nothing to wait on.
                Err(AtError::Error { .. }) => return Ok(()),
                Err(AtError::Cme { error, .. })
                    if error.is_sim_missing() || error.is_transient() => {}
                Err(e) => return Err(e),
            }
            if deadline.saturating_duration_since(Instant::now()) <= SIM_POLL {
                return Err(AtError::Timeout {
                    command: "AT+CPIN? (waiting for the SIM after a refresh)".into(),
                    waited: started.elapsed(),
                    received: Vec::new(),
                });
            }
            thread::sleep(SIM_POLL);
        }
    }

    // --------------------------------------------------------------------------- APDUs

    /// The deadline for `command`, and the profile-load tracking it updates.
    fn timeout_for(&mut self, command: &[u8]) -> Duration {
        // Block 0 of an ES10 command: BF36 starts a profile load, any other BFxx ends it.
        if let [_, INS_STORE_DATA, _, 0x00, 1..=255, 0xBF, tag, ..] = command {
            self.profile_load = *tag == 0x36;
        }
        let ins = command.get(1).copied();
        let load_step = self.profile_load && matches!(ins, Some(INS_STORE_DATA | INS_GET_RESPONSE));
        if load_step {
            self.options.long_timeout
        } else {
            self.ordinary_timeout()
        }
    }

    /// The deadline of a command that is not part of a profile load: the long one while a
    /// [`LongOperation`] is on.
    fn ordinary_timeout(&self) -> Duration {
        if self.long_operation.is_on() {
            self.options.long_timeout
        } else {
            self.options.command_timeout
        }
    }

    /// Whether repeating `command` after a plain `ERROR` cannot change the card's state.
    fn is_repeatable(command: &[u8]) -> bool {
        matches!(
            command.get(1).copied(),
            Some(INS_SELECT | INS_STATUS | INS_GET_DATA | INS_TERMINAL_CAPABILITY)
        )
    }

    /// One APDU in `mode`, repeated on plain `ERROR` when `repeat` says it is safe.
    fn apdu_in(
        &mut self,
        mode: AccessMode,
        command: &[u8],
        repeat: bool,
    ) -> Result<Vec<u8>, AtError> {
        if command.len() < 4 || command.len() > MAX_SHORT_COMMAND {
            return Err(AtError::InvalidInput(format!(
                "an APDU of {} bytes (4..={MAX_SHORT_COMMAND} allowed)",
                command.len()
            )));
        }
        let timeout = self.timeout_for(command);
        let mut attempt = 0;
        let result = loop {
            let result = match mode {
                AccessMode::Csim => self.csim(command, timeout),
                AccessMode::LogicalChannels => self.cgla(command, timeout),
            };
            match result {
                Err(e) if repeat && e.is_retryable() && attempt < self.options.retries => {
                    attempt += 1;
                    log::warn!("AT: {e}; retry {attempt}");
                }
                other => break other,
            }
        };
        self.observe_store_data(command, &result);
        result
    }

    fn csim(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, AtError> {
        let hex = encode_hex(command);
        let line = format!("AT+CSIM={},\"{hex}\"", hex.len());
        let lines = self
            .engine
            .command(&line, Expect::Prefix("+CSIM:"), timeout)?;
        Self::apdu_answer(&line, &lines)
    }

    fn cgla(&mut self, command: &[u8], timeout: Duration) -> Result<Vec<u8>, AtError> {
        let (&cla, rest) = command
            .split_first()
            .ok_or_else(|| AtError::InvalidInput("an empty APDU".into()))?;
        let channel = LogicalChannel::from_cla(cla);
        if channel == LogicalChannel::BASIC {
            // AT+CGLA has no basic channel; AT+CSIM does, where the modem offers it.
            return self.csim(command, timeout);
        }
        let session = self
            .sessions
            .iter()
            .find(|s| s.channel == channel)
            .cloned()
            .ok_or_else(|| {
                AtError::InvalidInput(format!(
                    "logical channel {channel} was not opened through this transport"
                ))
            })?;
        // 27.007 §8.45: the MT manages the channel bits of CLA. When the session id is the
        // card's channel number the LPA's CLA already carries it; for a session handle the
        // channel is the modem's secret, so the LPA's (our made-up) number must not reach
        // the card: send the CLA as for the basic channel and let the modem fill it in.
        let cla = if session.id.channel == Some(channel.number()) {
            cla
        } else {
            cla_without_channel(cla)
        };
        let mut hex = encode_hex(&[cla]);
        hex.push_str(&encode_hex(rest));
        let line = format!("AT+CGLA={},{},\"{hex}\"", session.id.token, hex.len());
        let lines = self
            .engine
            .command(&line, Expect::Prefix("+CGLA:"), timeout)?;
        Self::apdu_answer(&line, &lines)
    }

    fn apdu_answer(line: &str, lines: &[String]) -> Result<Vec<u8>, AtError> {
        let payload = lines.first().ok_or_else(|| AtError::Malformed {
            command: crate::error::summarize(line),
            line: String::new(),
            reason: "OK without the response line",
        })?;
        parse_apdu_answer(line, payload)
    }

    /// Learns from each STORE DATA block whether blocks of its size pass this modem.
    fn observe_store_data(&mut self, command: &[u8], result: &Result<Vec<u8>, AtError>) {
        let [_, INS_STORE_DATA, _, _, lc, _, ..] = command else {
            return;
        };
        let lc = usize::from(*lc);
        let refused = match result {
            Ok(answer) => is_size_status(answer),
            Err(e) => e.is_refusal(),
        };
        // A refused block no larger than the smallest segment size says nothing about size
        // (a momentary failure); it must not shrink the hint below that.
        let smallest = SEGMENT_SIZES.last().copied().unwrap_or(1);
        if refused {
            if lc > smallest
                && lc > self.store_data_passed
                && self.store_data_refused.is_none_or(|r| lc < r)
            {
                log::info!(
                    "{}: a STORE DATA block of {lc} bytes was refused",
                    self.identity
                );
                self.store_data_refused = Some(lc);
            }
        } else {
            self.store_data_passed = self.store_data_passed.max(lc);
            if self.store_data_refused.is_some_and(|r| r <= lc) {
                self.store_data_refused = None;
            }
        }
    }

    // --------------------------------------------------------------------------- channels

    /// The modes to try, in order.
    fn candidate_modes(&self) -> Vec<AccessMode> {
        if let Some(mode) = self.mode {
            return vec![mode];
        }
        let first = self.remembered_mode.unwrap_or(self.profile.first_mode);
        vec![first, first.other()]
    }

    fn open_in(
        &mut self,
        mode: AccessMode,
        aid: &[u8],
    ) -> Result<(LogicalChannel, Vec<u8>), OpenFailure> {
        match mode {
            AccessMode::Csim => self.open_with_csim(aid),
            AccessMode::LogicalChannels => self.open_with_ccho(aid),
        }
    }

    /// MANAGE CHANNEL and SELECT inside AT+CSIM.
    fn open_with_csim(&mut self, aid: &[u8]) -> Result<(LogicalChannel, Vec<u8>), OpenFailure> {
        let mut open = [0u8; 8];
        let n = apdu::manage_channel_open()
            .encode(&mut open)
            .map_err(|e| OpenFailure::Fatal(e.into()))?;
        let answer = self
            .apdu_in(AccessMode::Csim, open.get(..n).unwrap_or_default(), true)
            .map_err(|e| mode_or_fatal(e, "MANAGE CHANNEL"))?;
        let channel = match apdu::parse_manage_channel_open_response(&answer) {
            Ok(channel) => channel,
            // The modem may keep MANAGE CHANNEL for itself (6D00/6E00/6881...): with
            // AT+CCHO it opens the channel on our behalf.
            Err(e) => return Err(OpenFailure::Mode(format!("MANAGE CHANNEL: {e}"))),
        };
        let select = apdu::select_by_aid(channel, aid, SelectResponse::Fci)
            .map_err(|e| OpenFailure::Fatal(e.into()))?;
        match self.exchange(&select) {
            Ok(fci) => Ok((channel, fci)),
            Err(e) => {
                // Never leak a channel: cards have few.
                let _ = self.close_with_csim(channel);
                match e {
                    TransportError::Refused(why) => Err(OpenFailure::Mode(format!(
                        "SELECT on channel {channel}: {why}"
                    ))),
                    TransportError::Apdu(ApduError::Status { sw, .. })
                        if matches!(sw.0, 0x6881 | 0x6D00 | 0x6E00) =>
                    {
                        Err(OpenFailure::Mode(format!(
                            "SELECT on channel {channel}: status {sw} ({})",
                            sw.meaning()
                        )))
                    }
                    other => Err(OpenFailure::Fatal(other)),
                }
            }
        }
    }

    /// AT+CCHO: the modem opens a channel and selects the AID.
    fn open_with_ccho(&mut self, aid: &[u8]) -> Result<(LogicalChannel, Vec<u8>), OpenFailure> {
        let line = format!("AT+CCHO=\"{}\"", encode_hex(aid));
        let timeout = self.ordinary_timeout();
        let mut attempt = 0;
        let lines = loop {
            match self
                .engine
                .command(&line, Expect::PrefixOrBare("+CCHO:"), timeout)
            {
                Err(e) if e.is_retryable() && attempt < self.options.retries => {
                    attempt += 1;
                    log::warn!("AT: {e}; retry {attempt}");
                }
                Ok(lines) => break lines,
                Err(e) => return Err(mode_or_fatal(e, "AT+CCHO")),
            }
        };
        let Some(token) = lines.first() else {
            return Err(OpenFailure::Mode(
                "AT+CCHO answered OK without a session".into(),
            ));
        };
        let id = SessionId::parse(&line, token).map_err(|e| OpenFailure::Mode(e.to_string()))?;
        let in_use = |n: u8| self.sessions.iter().any(|s| s.channel.number() == n);
        let number = match id.channel {
            Some(n) if !in_use(n) => Some(n),
            _ => (1..=19).find(|&n| !in_use(n)),
        };
        let Some(channel) = number.and_then(|n| LogicalChannel::new(n).ok()) else {
            let _ = self.cchc(&id.token);
            return Err(OpenFailure::Fatal(TransportError::ChannelUnavailable(
                "19 sessions are open already".into(),
            )));
        };
        log::debug!(
            "AT+CCHO: session {} is channel {channel}{}",
            id.token,
            if id.channel.is_some() {
                ""
            } else {
                " (a session handle; the modem knows the card's channel)"
            }
        );
        self.sessions.push(Session { channel, id });
        // AT+CCHO does not hand out the SELECT response.
        Ok((channel, Vec::new()))
    }

    /// Turns a STORE DATA block that did not pass the modem into a lowered shared segment
    /// size and a [`TransportError::Refused`] (see [`AtTransport::share_segment_size`]).
    fn lower_segment_size(
        &mut self,
        command: &[u8],
        result: Result<Vec<u8>, AtError>,
    ) -> Result<Vec<u8>, TransportError> {
        let (Some(handle), [_, INS_STORE_DATA, _, _, lc, _, ..]) = (&self.segment_size, command)
        else {
            return result.map_err(Into::into);
        };
        let lc = usize::from(*lc);
        let words = match &result {
            Err(e) if e.is_refusal() => e.to_string(),
            Ok(answer) if is_size_status(answer) => {
                format!("status {}", encode_hex(answer))
            }
            _ => return result.map_err(Into::into),
        };
        let current = handle.get();
        let Some(smaller) = smaller_segment(current, lc) else {
            return result.map_err(Into::into);
        };
        if handle.set(smaller).is_err() {
            return result.map_err(Into::into);
        }
        log::warn!(
            "{}: a {lc}-byte STORE DATA block did not pass ({words}); segment size now {smaller}",
            self.identity
        );
        Err(TransportError::Refused(format!(
            "a STORE DATA block of {lc} bytes did not pass the modem ({words}); segment size lowered to {smaller}"
        )))
    }

    fn close_with_csim(&mut self, channel: LogicalChannel) -> Result<(), TransportError> {
        let mut close = [0u8; 8];
        let n = apdu::manage_channel_close(channel).encode(&mut close)?;
        let answer = self.apdu_in(AccessMode::Csim, close.get(..n).unwrap_or_default(), false)?;
        let response = ResponseApdu::parse(&answer)?;
        if response.sw.is_success() {
            Ok(())
        } else {
            Err(TransportError::Apdu(ApduError::Status {
                sw: response.sw,
                ins: INS_MANAGE_CHANNEL,
                block: 0,
            }))
        }
    }

    fn cchc(&mut self, token: &str) -> Result<(), AtError> {
        let line = format!("AT+CCHC={token}");
        self.engine
            .command(&line, Expect::Nothing, self.ordinary_timeout())
            .map(|_| ())
    }
}

/// An AT-level refusal of a mode's command means "try the other mode"; a modem that does not
/// answer or a broken link means "stop".
fn mode_or_fatal(e: AtError, what: &str) -> OpenFailure {
    if e.is_refusal() || matches!(e, AtError::Malformed { .. }) {
        OpenFailure::Mode(format!("{what}: {e}"))
    } else {
        OpenFailure::Fatal(e.into())
    }
}

/// The CLA of the same command on the basic channel (ETSI TS 102 221 §10.1.1): class (b8),
/// command chaining (b5) and secure messaging kept, channel bits zero, always in the first
/// interindustry coding (the further coding cannot express channel 0).
fn cla_without_channel(cla: u8) -> u8 {
    let class = cla & 0x80;
    let chaining = cla & 0x10;
    if cla & 0x40 == 0 {
        cla & !0x03
    } else {
        // Further coding: b6 is secure messaging; in the first coding it is b4 (b4-b3 = 10,
        // "proprietary SM format").
        let sm = if cla & 0x20 != 0 { 0x08 } else { 0x00 };
        class | chaining | sm
    }
}

impl<P: Read + Write + Send> ApduTransport for AtTransport<P> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mode = self.mode.or(self.trying).unwrap_or(AccessMode::Csim);
        let repeat = Self::is_repeatable(command);
        let result = self.apdu_in(mode, command, repeat);
        self.lower_segment_size(command, result)
    }

    fn max_apdu_data(&self) -> Option<usize> {
        AtTransport::max_apdu_data(self)
    }

    fn set_long_operation(&mut self, on: bool) {
        self.long_operation.set(on);
    }

    fn after_profile_switch(&mut self) -> Result<(), TransportError> {
        self.refresh_sim().map_err(TransportError::from)
    }

    /// Opens a channel to `aid`. While the mode is not known yet, the remembered (or the
    /// profile's first) mode is tried, then the other; an AT-level refusal of a mode's commands
    /// moves on to the other mode, anything the card says about the AID does not. The mode
    /// that works is kept for the rest of the session. In CCHO mode the returned data is
    /// empty: `AT+CCHO` does not pass the SELECT response on.
    fn open_logical_channel(
        &mut self,
        aid: &[u8],
    ) -> Result<(LogicalChannel, Vec<u8>), TransportError> {
        if aid.is_empty() || aid.len() > 16 {
            return Err(AtError::InvalidInput(format!("an AID of {} bytes", aid.len())).into());
        }
        let mut why = Vec::new();
        for mode in self.candidate_modes() {
            self.trying = Some(mode);
            let result = self.open_in(mode, aid);
            self.trying = None;
            match result {
                Ok(opened) => {
                    if self.mode != Some(mode) {
                        log::info!("{}: using {mode}", self.identity);
                    }
                    self.mode = Some(mode);
                    return Ok(opened);
                }
                Err(OpenFailure::Mode(reason)) => {
                    log::info!(
                        "{}: {mode} does not reach the card: {reason}",
                        self.identity
                    );
                    why.push((mode, reason));
                }
                Err(OpenFailure::Fatal(e)) => return Err(e),
            }
        }
        let text = |wanted: AccessMode| {
            why.iter()
                .find(|(m, _)| *m == wanted)
                .map_or_else(|| "not tried".to_owned(), |(_, r)| r.clone())
        };
        Err(AtError::NoAccessMode {
            csim: text(AccessMode::Csim),
            logical_channels: text(AccessMode::LogicalChannels),
        }
        .into())
    }

    fn close_logical_channel(&mut self, channel: LogicalChannel) -> Result<(), TransportError> {
        match self.mode {
            Some(AccessMode::LogicalChannels) => {
                let index = self
                    .sessions
                    .iter()
                    .position(|s| s.channel == channel)
                    .ok_or_else(|| {
                        AtError::InvalidInput(format!("logical channel {channel} is not open"))
                    })?;
                let session = self.sessions.remove(index);
                self.cchc(&session.id.token).map_err(Into::into)
            }
            _ => self.close_with_csim(channel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;

    /// A modem in memory: each command line written (up to CR) is answered by `answer`.
    struct Scripted<F> {
        answer: F,
        line: Vec<u8>,
        lines: Vec<String>,
        out: VecDeque<u8>,
    }

    impl<F: FnMut(&str) -> String> Read for Scripted<F> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.out.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "idle"));
            }
            let n = buf.len().min(self.out.len());
            for b in buf.iter_mut().take(n) {
                *b = self.out.pop_front().unwrap_or_default();
            }
            Ok(n)
        }
    }

    impl<F: FnMut(&str) -> String> Write for Scripted<F> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            for &b in buf {
                if b == b'\r' {
                    let line = String::from_utf8_lossy(&self.line).into_owned();
                    self.line.clear();
                    let answer = (self.answer)(&line);
                    self.out.extend(answer.bytes());
                    self.lines.push(line);
                } else {
                    self.line.push(b);
                }
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A modem identifying as `maker`, answering `AT+CCHO` with `ccho` and every
    /// `AT+CGLA`/`AT+CSIM` with `9000`.
    fn scripted(
        maker: &'static str,
        ccho: &'static str,
    ) -> AtTransport<Scripted<impl FnMut(&str) -> String + Send>> {
        let answer = move |line: &str| -> String {
            let info = |text: &str| format!("\r\n{text}\r\n\r\nOK\r\n");
            if line == "AT+CGMI" {
                info(maker)
            } else if line == "AT+CGMM" {
                info("M1")
            } else if line.starts_with("AT+CCHO=") {
                info(ccho)
            } else if line.starts_with("AT+CGLA=") {
                info("+CGLA: 4,\"9000\"")
            } else if line.starts_with("AT+CSIM=") {
                info("+CSIM: 4,\"90 0\"")
            } else {
                "\r\nOK\r\n".to_owned()
            }
        };
        let port = Scripted {
            answer,
            line: Vec::new(),
            lines: Vec::new(),
            out: VecDeque::new(),
        };
        AtTransport::new(
            port,
            AtOptions::new().with_command_timeout(Duration::from_millis(500)),
        )
        .unwrap()
    }

    #[test]
    fn session_handles_get_a_channel_of_ours_and_cla_without_channel_bits() {
        let mut t = scripted("Sierra Wireless, Incorporated", "+CCHO: 000000000385a7cf");
        let (channel, fci) = t.open_logical_channel(&apdu::ISD_R_AID).unwrap();
        assert_eq!(channel.number(), 1);
        assert!(fci.is_empty());
        assert_eq!(t.mode(), Some(AccessMode::LogicalChannels));
        let answer = t
            .transmit(&[0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x3E, 0x00])
            .unwrap();
        assert_eq!(answer, [0x90, 0x00]);
        t.close_logical_channel(channel).unwrap();
        let lines = t.into_inner().lines;
        assert_eq!(
            lines[lines.len() - 3..],
            [
                "AT+CCHO=\"A0000005591010FFFFFFFF8900000100\"",
                // CLA 81 from the LPA goes out as 80: the modem owns the channel bits.
                "AT+CGLA=000000000385a7cf,16,\"80E2910003BF3E00\"",
                "AT+CCHC=000000000385a7cf",
            ]
        );
        // Setup: no =? anywhere.
        assert!(lines.iter().all(|l| !l.contains("=?")), "{lines:?}");
    }

    #[test]
    fn channel_numbers_from_ccho_are_kept_in_cla() {
        let mut t = scripted("Quectel", "+CCHO: 2");
        let (channel, _) = t.open_logical_channel(&apdu::ISD_R_AID).unwrap();
        assert_eq!(channel.number(), 2);
        t.transmit(&[0x82, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x3E, 0x00])
            .unwrap();
        // Channel 0 goes through AT+CSIM, whose answer here is malformed: a typed error.
        let err = t.transmit(&[0x80, 0xCA, 0x9F, 0x7F, 0x00]).unwrap_err();
        assert!(
            matches!(&err, TransportError::Io(why) if why.contains("not hex")),
            "{err:?}"
        );
        let lines = t.into_inner().lines;
        assert!(lines.contains(&"AT+CGLA=2,16,\"82E2910003BF3E00\"".to_owned()));
        assert!(lines.contains(&"AT+CSIM=10,\"80CA9F7F00\"".to_owned()));
    }

    /// A transport over a modem answering each line with `answer`.
    fn over<F: FnMut(&str) -> String + Send>(
        answer: F,
        options: AtOptions,
    ) -> Result<AtTransport<Scripted<F>>, AtError> {
        let port = Scripted {
            answer,
            line: Vec::new(),
            lines: Vec::new(),
            out: VecDeque::new(),
        };
        AtTransport::new(port, options)
    }

    #[test]
    fn timeouts_of_duration_max_do_not_overflow() {
        let answer = |line: &str| -> String {
            match line {
                "AT+CPIN?" => "\r\n+CPIN: READY\r\n\r\nOK\r\n".to_owned(),
                l if l.starts_with("AT+CSIM=") => "\r\n+CSIM: 4,\"9000\"\r\n\r\nOK\r\n".to_owned(),
                _ => "\r\nOK\r\n".to_owned(),
            }
        };
        let options = AtOptions::new()
            .with_command_timeout(Duration::MAX)
            .with_long_timeout(Duration::MAX)
            .with_refresh_timeout(Duration::MAX)
            .with_mode(AccessMode::Csim);
        let mut t = over(answer, options).unwrap();
        assert_eq!(
            t.command("AT", Expect::Nothing).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            t.transmit(&[0x80, 0xF2, 0x00, 0x00, 0x00]).unwrap(),
            [0x90, 0x00]
        );
        // A profile load's STORE DATA gets the long deadline.
        let bpp = [0x81, 0xE2, 0x11, 0x00, 0x03, 0xBF, 0x36, 0x00];
        assert_eq!(t.transmit(&bpp).unwrap(), [0x90, 0x00]);
        t.refresh_sim_with(SimRefresh::CfunCycle).unwrap();
    }

    #[test]
    fn a_cached_segment_size_is_kept_in_range() {
        let answer = |line: &str| -> String {
            match line {
                "AT+CGMI" => "\r\nACME\r\n\r\nOK\r\n".to_owned(),
                "AT+CGMM" => "\r\nM1\r\n\r\nOK\r\n".to_owned(),
                _ => "\r\nOK\r\n".to_owned(),
            }
        };
        let identity = ModemIdentity::new("ACME", "M1");
        for (cached, used) in [(0, 1), (64, 64), (usize::MAX, 255)] {
            let mut cache = ModemCache::new();
            cache.insert(
                &identity,
                ModemMemory {
                    mode: None,
                    max_apdu_data: Some(cached),
                },
            );
            let t = over(answer, AtOptions::new().with_cache(cache)).unwrap();
            assert_eq!(t.max_apdu_data(), Some(used), "{cached}");
        }
    }

    #[test]
    fn waking_with_the_most_retries_does_not_overflow() {
        // 255 plain ERRORs (each retried), then a missed deadline, then OK: the attempt
        // counter passes `retries`.
        let mut n = 0u32;
        let answer = move |line: &str| -> String {
            n += 1;
            match (line, n) {
                ("AT", ..=255) => "\r\nERROR\r\n".to_owned(),
                ("AT", 256) => String::new(),
                _ => "\r\nOK\r\n".to_owned(),
            }
        };
        let options = AtOptions::new()
            .with_command_timeout(Duration::from_millis(100))
            .with_retries(u8::MAX);
        let t = over(answer, options).unwrap();
        let lines = t.into_inner().lines;
        assert_eq!(lines.iter().filter(|l| *l == "AT").count(), 257);
    }

    #[test]
    fn cla_for_the_modem_to_fill_in() {
        assert_eq!(cla_without_channel(0x81), 0x80);
        assert_eq!(cla_without_channel(0x03), 0x00);
        assert_eq!(cla_without_channel(0x8C), 0x8C);
        assert_eq!(cla_without_channel(0x93), 0x90);
        assert_eq!(cla_without_channel(0xC1), 0x80);
        assert_eq!(cla_without_channel(0x4F), 0x00);
        assert_eq!(cla_without_channel(0x61), 0x08);
        assert_eq!(cla_without_channel(0xD0), 0x90);
    }
}
