//! APDUs between the LPA and the eUICC: encoding, parsing, logical channels, and the sans-IO
//! exchanges that carry one ES10 command (STORE DATA segmentation, `61xx` / `6Cxx` handling).
//!
//! Everything here works on caller-owned buffers and never allocates; it builds without the
//! `alloc` feature. Nothing here does I/O: the caller moves bytes to and from the card (PC/SC,
//! `AT+CSIM`, OMAPI, a software eUICC) and feeds the answers back.
//!
//! ```text
//!   ES10 request (one DER TLV, SGP.22 §5.7)
//!        |
//!        v
//!   StoreDataExchange ---- poll_transmit() ---> 81 E2 11 00 FF ...   --> transport --> card
//!        ^   (StoreDataBlocks, CommandExchange logic)                                    |
//!        +------------ handle_response() <--- data || SW1 SW2 (9000, 61xx, 6Cxx, ...) <--+
//!        |
//!        v
//!   response() = the ES10 response TLV, reassembled in the caller's buffer
//! ```
//!
//! References used throughout:
//! - ISO/IEC 7816-4 §5.1-§5.6: command-response pairs (cases 1-4, short Lc/Le) and status words;
//!   ISO/IEC 7816-3 §12.2: how T=0 carries them (the `61xx` and `6Cxx` procedures that `AT+CSIM`
//!   and many readers hand up to us).
//! - ETSI TS 102 221 §10.1.1 (CLA coding and logical channels), §10.2.1 (status conditions),
//!   §11.1.1 SELECT, §11.1.17 MANAGE CHANNEL, §11.1.19 TERMINAL CAPABILITY, §12.1.1 GET RESPONSE.
//! - GlobalPlatform Card Specification v2.3 §11.11: STORE DATA.
//! - SGP.22 v2.5 §5.7.1 (ES10 functions carried by STORE DATA to the ISD-R) and §2.5.5 (the Bound
//!   Profile Package is sent as a series of such sequences and may be answered early).

use core::fmt;

/// The longest short command APDU: header (4) + Lc (1) + 255 data bytes + Le (1).
pub const MAX_SHORT_COMMAND: usize = 261;

/// The longest short response APDU: 256 data bytes + SW1 SW2.
pub const MAX_SHORT_RESPONSE: usize = 258;

/// The most data bytes a short command carries (Lc is one byte, ISO/IEC 7816-4 §5.1).
pub const MAX_SHORT_DATA: usize = 255;

/// The default STORE DATA segment size: the most a short APDU carries. lpac defaults to 120 and
/// OpenEUICC uses 63 to get past modems that mishandle long `AT+CSIM` lines; configure it with
/// [`ExchangeConfig::segment_size`].
pub const DEFAULT_SEGMENT_SIZE: usize = 255;

/// INS of SELECT (ETSI TS 102 221 §11.1.1).
pub const INS_SELECT: u8 = 0xA4;
/// INS of MANAGE CHANNEL (ETSI TS 102 221 §11.1.17).
pub const INS_MANAGE_CHANNEL: u8 = 0x70;
/// INS of TERMINAL CAPABILITY (ETSI TS 102 221 §11.1.19).
pub const INS_TERMINAL_CAPABILITY: u8 = 0xAA;
/// INS of GET RESPONSE (ETSI TS 102 221 §12.1.1).
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// INS of STORE DATA (GlobalPlatform Card Specification §11.11).
pub const INS_STORE_DATA: u8 = 0xE2;

/// STORE DATA P1 for a block with more to follow. Bits b5-b4 = `10` say "BER-TLV data"
/// (GlobalPlatform Card Specification §11.11.2.1); b1 is set as SGP.22 §5.7.1 prescribes.
pub const STORE_DATA_P1_MORE_BLOCKS: u8 = 0x11;
/// STORE DATA P1 for the last block: [`STORE_DATA_P1_MORE_BLOCKS`] plus b8, "last block".
pub const STORE_DATA_P1_LAST_BLOCK: u8 = 0x91;

/// AID of the ISD-R, the eUICC application that answers ES10 (SGP.22 §2.2.1, SGP.02 §2.2.3).
pub const ISD_R_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
];

/// AID of the ECASD, which holds the eUICC's certificate and keys (SGP.22 §2.2.2).
pub const ECASD_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x02, 0x00,
];

/// ISD-R AIDs worth probing, in order: the GSMA one, then vendor AIDs used by removable eUICCs
/// that do not answer on the standard one (`A0000005591010FFFFFFFF8900050500` and
/// `A0000005591010000000008900000300`). The AID must stay configurable: this list is a
/// convenience, not the set of all eUICCs.
pub const KNOWN_ISD_R_AIDS: [[u8; 16]; 3] = [
    ISD_R_AID,
    [
        0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x05, 0x05,
        0x00,
    ],
    [
        0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, 0x89, 0x00, 0x00, 0x03,
        0x00,
    ],
];

/// Decodes a short Le byte: `00` means 256 (ISO/IEC 7816-4 §5.1).
const fn le_from_byte(b: u8) -> u16 {
    if b == 0 { 256 } else { b as u16 }
}

// ------------------------------------------------------------------------------------------------
// Status words
// ------------------------------------------------------------------------------------------------

/// A status word, SW1 SW2, read as a big-endian number (`0x9000`, `0x6A88`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: normal ending of the command.
    pub const OK: StatusWord = StatusWord(0x9000);

    /// Builds a status word from its two bytes.
    pub const fn from_bytes(sw1: u8, sw2: u8) -> Self {
        StatusWord(((sw1 as u16) << 8) | sw2 as u16)
    }

    /// SW1, the first byte.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2, the second byte.
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// The two bytes as sent on the wire.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// Whether the command ended normally (ETSI TS 102 221 §10.2.1.1): `9000`; `91xx`, normal
    /// ending with a proactive command pending (the device should FETCH it, but the command
    /// itself succeeded); and `92xx`, normal ending with information on an ongoing data transfer
    /// session.
    pub const fn is_success(self) -> bool {
        matches!(self.sw1(), 0x91 | 0x92) || self.0 == 0x9000
    }

    /// For `61xx`, how many response bytes wait for GET RESPONSE (`6100` means 256).
    pub const fn response_bytes_available(self) -> Option<u16> {
        if self.sw1() == 0x61 {
            Some(le_from_byte(self.sw2()))
        } else {
            None
        }
    }

    /// For `6Cxx` (wrong Le), the Le the card wants the command sent again with (`6C00` is 256).
    pub const fn corrected_le(self) -> Option<u16> {
        if self.sw1() == 0x6C {
            Some(le_from_byte(self.sw2()))
        } else {
            None
        }
    }

    /// A short English description, for logs and error messages. Texts follow ETSI TS 102 221
    /// §10.2.1 and ISO/IEC 7816-4 §5.6; codes outside them get a description of their group.
    pub const fn meaning(self) -> &'static str {
        match (self.sw1(), self.sw2()) {
            (0x90, 0x00) => "normal ending of the command",
            (0x91, _) => "normal ending, a proactive command is pending",
            (0x92, _) => "normal ending, with information on an ongoing data transfer session",
            (0x93, 0x00) => "toolkit busy: command cannot be executed at present",
            (0x61, _) => "response bytes still available (GET RESPONSE)",
            (0x62, 0x81) => "warning: part of the returned data may be corrupted",
            (0x62, 0x82) => "warning: end of file or record reached before reading Le bytes",
            (0x62, 0x83) => "warning: selected file invalidated",
            (0x62, 0xF1) => "warning: more data available",
            (0x62, 0xF2) => "warning: more data available and proactive command pending",
            (0x62, 0xF3) => "warning: response data available",
            (0x62, _) => "warning: state of non-volatile memory unchanged",
            (0x63, 0xC0..=0xCF) => "warning: counter in SW2 low nibble (e.g. retries left)",
            (0x63, 0xF1) => "warning: more data expected",
            (0x63, 0xF2) => "warning: more data expected and proactive command pending",
            (0x63, _) => "warning: state of non-volatile memory changed",
            (0x64, _) => "execution error: state of non-volatile memory unchanged",
            (0x65, 0x81) => "execution error: memory problem",
            (0x65, _) => "execution error: state of non-volatile memory changed",
            (0x66, 0x01) => "security-related issue, seen as a transient error on OMAPI: retry",
            (0x66, _) => "security-related issue",
            (0x67, 0x00) => "wrong length",
            (0x67, _) => "wrong length (command-specific diagnosis in SW2)",
            (0x68, 0x81) => "logical channel not supported",
            (0x68, 0x82) => "secure messaging not supported",
            (0x68, _) => "function in CLA not supported",
            (0x69, 0x81) => "command incompatible with file structure",
            (0x69, 0x82) => "security status not satisfied",
            (0x69, 0x83) => "authentication or PIN method blocked",
            (0x69, 0x84) => "referenced data invalidated",
            (0x69, 0x85) => "conditions of use not satisfied",
            (0x69, 0x86) => "command not allowed (no EF selected)",
            (0x69, _) => "command not allowed",
            (0x6A, 0x80) => "incorrect parameters in the data field",
            (0x6A, 0x81) => "function not supported",
            (0x6A, 0x82) => "file or application not found",
            (0x6A, 0x83) => "record not found",
            (0x6A, 0x84) => "not enough memory space",
            (0x6A, 0x86) => "incorrect parameters P1 to P2",
            (0x6A, 0x87) => "Lc inconsistent with P1 to P2",
            (0x6A, 0x88) => "referenced data not found",
            (0x6A, _) => "wrong parameters",
            (0x6B, _) => "wrong parameters P1 to P2",
            (0x6C, _) => "wrong Le: SW2 gives the exact length",
            (0x6D, _) => "instruction code not supported or invalid",
            (0x6E, _) => "class not supported",
            (0x6F, 0x00) => "technical problem, no precise diagnosis",
            (0x6F, _) => "technical problem (command-specific diagnosis in SW2)",
            (0x98, 0x62) => "authentication error, application specific",
            (0x98, 0x63) => "security session or association expired",
            _ => "unknown status word",
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/// What went wrong in the APDU layer. Grouped by who is at fault: the card refused, the card
/// (or transport) misbehaved, command bytes were malformed, the caller passed bad input, or the
/// API was misused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApduError {
    // --- The card refused ---------------------------------------------------------------------
    /// The card ended a command with a status word that is neither success nor a `61xx`/`6Cxx`
    /// procedure.
    Status {
        /// The status word.
        sw: StatusWord,
        /// INS of the refused command ([`INS_GET_RESPONSE`] if a GET RESPONSE was refused).
        ins: u8,
        /// STORE DATA block number (P2) the card was answering; 0 for a single command.
        block: u8,
    },

    // --- The card or transport misbehaved ---------------------------------------------------
    /// A response shorter than the two status bytes.
    ResponseTooShort {
        /// Bytes received.
        len: usize,
    },
    /// The card answered `6Cxx` to a command already re-sent with the Le it asked for.
    RepeatedWrongLength {
        /// The second `6Cxx`.
        sw: StatusWord,
    },
    /// The card kept answering `61xx`/`6Cxx` past the configured limit
    /// ([`ExchangeConfig::max_response_rounds`]).
    TooManyResponseRounds {
        /// The limit that was reached.
        limit: u16,
    },
    /// A response whose data has the wrong size for the command.
    UnexpectedResponseLength {
        /// Data bytes expected.
        expected: usize,
        /// Data bytes received.
        found: usize,
    },
    /// MANAGE CHANNEL open returned a channel number outside 1..=19.
    UnexpectedChannel {
        /// The number the card returned.
        channel: u8,
    },

    // --- Malformed command bytes (parsing) ---------------------------------------------------
    /// Fewer than the four header bytes CLA INS P1 P2.
    CommandTooShort {
        /// Bytes received.
        len: usize,
    },
    /// An extended-length command (byte 4 is `00` and more bytes follow); only short APDUs are
    /// supported.
    ExtendedLength,
    /// The number of bytes after Lc fits neither case 3 (Lc data bytes) nor case 4 (Lc data
    /// bytes and Le).
    LcMismatch {
        /// The Lc byte.
        lc: u8,
        /// Total length of the command.
        len: usize,
    },

    // --- Bad input from the caller -----------------------------------------------------------
    /// More than 255 data bytes for a short command.
    DataTooLong {
        /// Data bytes given.
        len: usize,
    },
    /// An Le outside 1..=256.
    InvalidLe {
        /// The Le given.
        le: u16,
    },
    /// A logical channel number outside 0..=19 (ETSI TS 102 221 §10.1.1).
    InvalidChannel {
        /// The number given.
        channel: u8,
    },
    /// An AID outside 1..=16 bytes (RID and PIX together are 16 bytes at most, ISO/IEC 7816-5).
    InvalidAidLength {
        /// Bytes given.
        len: usize,
    },
    /// A STORE DATA segment size outside 1..=255.
    InvalidSegmentSize {
        /// The size given.
        size: usize,
    },
    /// An empty ES10 request: there is nothing to send.
    EmptyRequest,
    /// A request needing more than 256 STORE DATA blocks (P2, the block number, is one byte).
    TooManyBlocks {
        /// Blocks it would need.
        blocks: usize,
    },
    /// The output buffer for an encoded APDU is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Size of the buffer.
        available: usize,
    },
    /// The response buffer cannot hold what the card sent.
    ResponseBufferTooSmall {
        /// Size of the response buffer.
        capacity: usize,
        /// Bytes it would have needed so far.
        needed: usize,
    },

    // --- API misuse --------------------------------------------------------------------------
    /// `handle_response` was called without a command outstanding (before `poll_transmit`,
    /// twice for one command, or after the exchange ended).
    NoCommandOutstanding,
}

impl ApduError {
    /// The card's status word, for errors that carry one.
    pub const fn status_word(&self) -> Option<StatusWord> {
        match *self {
            ApduError::Status { sw, .. } | ApduError::RepeatedWrongLength { sw } => Some(sw),
            _ => None,
        }
    }
}

impl fmt::Display for ApduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ApduError::Status { sw, ins, block } => write!(
                f,
                "card refused INS {ins:02X} (block {block}) with status {sw}: {}",
                sw.meaning()
            ),
            ApduError::ResponseTooShort { len } => {
                write!(f, "response of {len} bytes has no status word")
            }
            ApduError::RepeatedWrongLength { sw } => {
                write!(f, "card answered {sw} (wrong Le) twice in a row")
            }
            ApduError::TooManyResponseRounds { limit } => write!(
                f,
                "card still asked for GET RESPONSE / Le correction after {limit} rounds"
            ),
            ApduError::UnexpectedResponseLength { expected, found } => write!(
                f,
                "response carries {found} data bytes, {expected} expected"
            ),
            ApduError::UnexpectedChannel { channel } => write!(
                f,
                "MANAGE CHANNEL returned channel {channel}, outside 1..=19"
            ),
            ApduError::CommandTooShort { len } => {
                write!(f, "command of {len} bytes has no complete header")
            }
            ApduError::ExtendedLength => {
                write!(f, "extended-length APDUs are not supported (byte 4 is 00)")
            }
            ApduError::LcMismatch { lc, len } => write!(
                f,
                "Lc {lc} does not match a command of {len} bytes (case 3 or 4)"
            ),
            ApduError::DataTooLong { len } => {
                write!(f, "{len} data bytes do not fit a short APDU (255 at most)")
            }
            ApduError::InvalidLe { le } => write!(f, "Le {le} is outside 1..=256"),
            ApduError::InvalidChannel { channel } => {
                write!(f, "logical channel {channel} is outside 0..=19")
            }
            ApduError::InvalidAidLength { len } => {
                write!(f, "an AID of {len} bytes is outside 1..=16")
            }
            ApduError::InvalidSegmentSize { size } => {
                write!(f, "STORE DATA segment size {size} is outside 1..=255")
            }
            ApduError::EmptyRequest => write!(f, "empty ES10 request"),
            ApduError::TooManyBlocks { blocks } => {
                write!(f, "request needs {blocks} STORE DATA blocks, 256 at most")
            }
            ApduError::BufferTooSmall { needed, available } => write!(
                f,
                "APDU buffer too small: {needed} bytes needed, {available} available"
            ),
            ApduError::ResponseBufferTooSmall { capacity, needed } => write!(
                f,
                "response buffer of {capacity} bytes too small: {needed} bytes needed so far"
            ),
            ApduError::NoCommandOutstanding => {
                write!(f, "handle_response called with no command outstanding")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ApduError {}

// ------------------------------------------------------------------------------------------------
// Logical channels
// ------------------------------------------------------------------------------------------------

/// A logical channel number, 0 (the basic channel) to 19 (ETSI TS 102 221 §10.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogicalChannel(u8);

impl LogicalChannel {
    /// The basic channel, 0, always open.
    pub const BASIC: LogicalChannel = LogicalChannel(0);
    /// The highest channel number, 19.
    pub const MAX_NUMBER: u8 = 19;

    /// Checks that `number` is within 0..=19.
    pub const fn new(number: u8) -> Result<Self, ApduError> {
        if number <= Self::MAX_NUMBER {
            Ok(LogicalChannel(number))
        } else {
            Err(ApduError::InvalidChannel { channel: number })
        }
    }

    /// The channel number.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The CLA byte for a command on this channel (ETSI TS 102 221 §10.1.1, no secure
    /// messaging). Channels 0-3 use the first interindustry coding, the number in bits b2-b1
    /// (`0n`); channels 4-19 the further interindustry coding, `40 + (n - 4)` in bits b4-b1.
    /// `proprietary` sets b8, the class GlobalPlatform and ETSI commands such as STORE DATA and
    /// TERMINAL CAPABILITY use (`8n` / `C0 + (n - 4)`); ISO commands such as SELECT, MANAGE
    /// CHANNEL and GET RESPONSE use the interindustry class.
    pub const fn cla(self, proprietary: bool) -> u8 {
        let class = if proprietary { 0x80 } else { 0x00 };
        if self.0 <= 3 {
            class | self.0
        } else {
            class | 0x40 | (self.0 - 4)
        }
    }

    /// The channel a CLA byte addresses: the inverse of [`LogicalChannel::cla`], ignoring the
    /// class and secure-messaging bits. Used to send GET RESPONSE on the channel of the command
    /// it completes.
    pub const fn from_cla(cla: u8) -> LogicalChannel {
        if cla & 0x40 == 0 {
            LogicalChannel(cla & 0x03)
        } else {
            LogicalChannel(4 + (cla & 0x0F))
        }
    }
}

impl fmt::Display for LogicalChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

// ------------------------------------------------------------------------------------------------
// Command and response APDUs
// ------------------------------------------------------------------------------------------------

/// Writes bytes into a caller buffer whose size has been checked; `put` after the end is a bug
/// that reports [`ApduError::BufferTooSmall`] instead of panicking.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), ApduError> {
        let available = self.buf.len();
        let end = self.pos.saturating_add(bytes.len());
        let slot = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(ApduError::BufferTooSmall {
                needed: end,
                available,
            })?;
        slot.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

/// A short command APDU (ISO/IEC 7816-4 §5.1), borrowing its data.
///
/// The case follows from the fields: no data and no Le is case 1, Le only case 2, data only
/// case 3, both case 4. `data` holds at most 255 bytes and `le` is within 1..=256 (256 is
/// encoded as `00`); [`CommandApdu::encode`] checks both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommandApdu<'a> {
    /// Class byte: command class and logical channel ([`LogicalChannel::cla`]).
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data; empty for cases 1 and 2.
    pub data: &'a [u8],
    /// Expected response length, for cases 2 and 4.
    pub le: Option<u16>,
}

impl<'a> CommandApdu<'a> {
    /// A case 1 command: header only.
    pub const fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data: &[],
            le: None,
        }
    }

    /// The same command carrying `data`.
    pub const fn with_data(self, data: &'a [u8]) -> Self {
        CommandApdu { data, ..self }
    }

    /// The same command expecting up to `le` response bytes (1..=256).
    pub const fn with_le(self, le: u16) -> Self {
        CommandApdu {
            le: Some(le),
            ..self
        }
    }

    /// Checks the short-APDU limits: at most 255 data bytes, Le within 1..=256.
    pub const fn validate(&self) -> Result<(), ApduError> {
        if self.data.len() > MAX_SHORT_DATA {
            return Err(ApduError::DataTooLong {
                len: self.data.len(),
            });
        }
        match self.le {
            Some(le) if le == 0 || le > 256 => Err(ApduError::InvalidLe { le }),
            _ => Ok(()),
        }
    }

    /// Bytes [`CommandApdu::encode`] writes for a valid command: 4 + (1 + Lc if data) + (1 if
    /// Le).
    pub const fn encoded_len(&self) -> usize {
        let body = if self.data.is_empty() {
            0
        } else {
            1 + self.data.len()
        };
        let le = if self.le.is_some() { 1 } else { 0 };
        4 + body + le
    }

    /// Writes the command into `out` and returns the number of bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ApduError> {
        self.validate()?;
        let needed = self.encoded_len();
        if out.len() < needed {
            return Err(ApduError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        let mut w = Writer { buf: out, pos: 0 };
        w.put(&[self.cla, self.ins, self.p1, self.p2])?;
        if !self.data.is_empty() {
            // validate() bounded the length to 255, so it fits in Lc.
            w.put(&[self.data.len() as u8])?;
            w.put(self.data)?;
        }
        if let Some(le) = self.le {
            // 256 becomes 00 (ISO/IEC 7816-4 §5.1); validate() excluded 0 and > 256.
            w.put(&[(le & 0xFF) as u8])?;
        }
        Ok(w.pos)
    }

    /// Parses a short command of any case 1-4 (ISO/IEC 7816-3 §12.1.3), as a card (the
    /// software eUICC) receives it. Byte 4 is Le when it is the last byte, otherwise Lc; an Lc
    /// of `00` followed by more bytes starts an extended-length command, which is refused.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ApduError> {
        let (&[cla, ins, p1, p2], body) = bytes
            .split_first_chunk::<4>()
            .ok_or(ApduError::CommandTooShort { len: bytes.len() })?;
        let header = CommandApdu::new(cla, ins, p1, p2);
        let Some((&p3, rest)) = body.split_first() else {
            return Ok(header);
        };
        if rest.is_empty() {
            return Ok(header.with_le(le_from_byte(p3)));
        }
        if p3 == 0 {
            return Err(ApduError::ExtendedLength);
        }
        let lc = usize::from(p3);
        let mismatch = ApduError::LcMismatch {
            lc: p3,
            len: bytes.len(),
        };
        let (data, tail) = rest.split_at_checked(lc).ok_or(mismatch)?;
        match tail {
            [] => Ok(header.with_data(data)),
            [le] => Ok(header.with_data(data).with_le(le_from_byte(*le))),
            _ => Err(mismatch),
        }
    }
}

/// A response APDU: data followed by SW1 SW2 (ISO/IEC 7816-4 §5.1), borrowing its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResponseApdu<'a> {
    /// Response data, possibly empty.
    pub data: &'a [u8],
    /// The trailing status word.
    pub sw: StatusWord,
}

impl<'a> ResponseApdu<'a> {
    /// Splits what a transport returned into data and status word.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ApduError> {
        let (data, &[sw1, sw2]) = bytes
            .split_last_chunk::<2>()
            .ok_or(ApduError::ResponseTooShort { len: bytes.len() })?;
        Ok(ResponseApdu {
            data,
            sw: StatusWord::from_bytes(sw1, sw2),
        })
    }

    /// Bytes [`ResponseApdu::encode`] writes: the data plus two.
    pub const fn encoded_len(&self) -> usize {
        self.data.len() + 2
    }

    /// Writes data and status word into `out` (as a card does) and returns the length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ApduError> {
        let needed = self.encoded_len();
        if out.len() < needed {
            return Err(ApduError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        let mut w = Writer { buf: out, pos: 0 };
        w.put(self.data)?;
        w.put(&self.sw.to_bytes())?;
        Ok(w.pos)
    }
}

// ------------------------------------------------------------------------------------------------
// Command builders
// ------------------------------------------------------------------------------------------------

/// MANAGE CHANNEL open, `00 70 00 00 01` (ETSI TS 102 221 §11.1.17): P2 = 00 lets the card pick
/// the channel, which it returns as one data byte. Parse the answer with
/// [`parse_manage_channel_open_response`]; run it through a [`CommandExchange`] if the transport
/// may answer `61xx` (T=0 over `AT+CSIM`).
pub const fn manage_channel_open() -> CommandApdu<'static> {
    CommandApdu::new(0x00, INS_MANAGE_CHANNEL, 0x00, 0x00).with_le(1)
}

/// Reads the channel number out of the answer to [`manage_channel_open`]: exactly one data byte
/// in 1..=19 and a success status word.
pub fn parse_manage_channel_open_response(data_and_sw: &[u8]) -> Result<LogicalChannel, ApduError> {
    let response = ResponseApdu::parse(data_and_sw)?;
    if !response.sw.is_success() {
        return Err(ApduError::Status {
            sw: response.sw,
            ins: INS_MANAGE_CHANNEL,
            block: 0,
        });
    }
    match response.data {
        &[n] if (1..=LogicalChannel::MAX_NUMBER).contains(&n) => Ok(LogicalChannel(n)),
        &[n] => Err(ApduError::UnexpectedChannel { channel: n }),
        other => Err(ApduError::UnexpectedResponseLength {
            expected: 1,
            found: other.len(),
        }),
    }
}

/// MANAGE CHANNEL close on the basic channel, `00 70 80 0n 00` (ETSI TS 102 221 §11.1.17).
///
/// Close is a case 1 command; T=0 sends a case 1 command with P3 = `00` (ISO/IEC 7816-3
/// §12.2.2), and that 5-byte form is what lpac sends and what `AT+CSIM` modems expect, so it is
/// built here as Le = 256 (encoded `00`). A card on T=1 reads it as case 2 and answers `9000`
/// all the same. Closing channel 0 is not possible; the card refuses it.
pub const fn manage_channel_close(channel: LogicalChannel) -> CommandApdu<'static> {
    CommandApdu::new(0x00, INS_MANAGE_CHANNEL, 0x80, channel.number()).with_le(256)
}

/// What SELECT asks the card to return, its P2 (ETSI TS 102 221 §11.1.1.2, ISO/IEC 7816-4
/// §11.2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SelectResponse {
    /// P2 = `00`: return the FCI (first or only occurrence). What SGP.22 devices usually send.
    #[default]
    Fci,
    /// P2 = `04`: return the FCP template, as ETSI TS 102 221 UICCs prefer.
    Fcp,
    /// P2 = `0C`: return no data. Some readers and modems only accept this form. Sent without
    /// Le (case 3): with Le present ISO/IEC 7816-4 leaves the meaning of `0C` proprietary.
    NoData,
}

impl SelectResponse {
    /// The P2 byte.
    pub const fn p2(self) -> u8 {
        match self {
            SelectResponse::Fci => 0x00,
            SelectResponse::Fcp => 0x04,
            SelectResponse::NoData => 0x0C,
        }
    }
}

/// SELECT by DF name (AID) on `channel`: `0n A4 04 P2 Lc AID 00` (ETSI TS 102 221 §11.1.1,
/// P1 = `04`, select by DF name). Le is `00` (up to 256 bytes of FCI/FCP) except for
/// [`SelectResponse::NoData`], which has none. The AID is 1..=16 bytes.
pub fn select_by_aid(
    channel: LogicalChannel,
    aid: &[u8],
    response: SelectResponse,
) -> Result<CommandApdu<'_>, ApduError> {
    if aid.is_empty() || aid.len() > 16 {
        return Err(ApduError::InvalidAidLength { len: aid.len() });
    }
    let command =
        CommandApdu::new(channel.cla(false), INS_SELECT, 0x04, response.p2()).with_data(aid);
    Ok(match response {
        SelectResponse::NoData => command,
        SelectResponse::Fci | SelectResponse::Fcp => command.with_le(256),
    })
}

/// GET RESPONSE for `le` bytes on `channel`: `0n C0 00 00 xx`, 256 encoded as `00` (ETSI TS
/// 102 221 §12.1.1; interindustry class, like the `0X`/`4X` commands it completes).
pub const fn get_response(channel: LogicalChannel, le: u16) -> CommandApdu<'static> {
    CommandApdu::new(channel.cla(false), INS_GET_RESPONSE, 0x00, 0x00).with_le(le)
}

/// The eUICC-related terminal capabilities, the one byte of tag `83` in TERMINAL CAPABILITY
/// (ETSI TS 102 221 §11.1.19.2.4). A device with an LPA (LPAd) announces here which LPA parts it
/// runs; some eUICCs refuse or misbehave in ES10 until it has.
///
/// Bits b1-b3 are the SGP.22 v2 LPAd parts; b4 is the v2 LUIe over SCWS; b5-b8 were added by
/// later RSP releases (SGP.22 v3, SGP.32) and an SGP.22 v2.5 LPA leaves them clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EuiccCapabilities(pub u8);

impl EuiccCapabilities {
    /// b1: Local User Interface in the Device (LUId).
    pub const LOCAL_USER_INTERFACE: u8 = 0x01;
    /// b2: Local Profile Download in the Device (LPDd).
    pub const LOCAL_PROFILE_DOWNLOAD: u8 = 0x02;
    /// b3: Local Discovery Service in the Device (LDSd).
    pub const LOCAL_DISCOVERY_SERVICE: u8 = 0x04;
    /// b4: LUI in the eUICC, reached over the Smart Card Web Server (LUIe based on SCWS).
    pub const LUIE_BASED_ON_SCWS: u8 = 0x08;
    /// b5: metadata update alerting (later releases).
    pub const METADATA_UPDATE_ALERTING: u8 = 0x10;
    /// b6: enterprise-capable device (later releases).
    pub const ENTERPRISE_CAPABLE_DEVICE: u8 = 0x20;
    /// b7: LUIe using ENVELOPE tag E4 (later releases).
    pub const LUIE_USING_E4E: u8 = 0x40;
    /// b8: LPA proxy (LPR) (later releases).
    pub const LPA_PROXY: u8 = 0x80;

    /// A full LPAd: LUId + LPDd + LDSd, `07`, what this LPA is and what euicc-go and ChromeOS
    /// Hermes announce.
    pub const LPAD: EuiccCapabilities = EuiccCapabilities(
        Self::LOCAL_USER_INTERFACE | Self::LOCAL_PROFILE_DOWNLOAD | Self::LOCAL_DISCOVERY_SERVICE,
    );
}

/// What to announce in TERMINAL CAPABILITY (ETSI TS 102 221 §11.1.19): template `A9` with the
/// extended logical channels support object `81 00` (§11.1.19.2.2: the terminal can address
/// channels 4-19) when set, and the eUICC-related capabilities `83 01 xx` (§11.1.19.2.4).
///
/// Power supply (`80`) and additional interfaces (`82`) are not sent: an LPA speaks for neither.
/// (euicc-go sends `A9 08 81 00 82 01 01 83 01 07`, claiming a UICC-CLF interface too.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TerminalCapability {
    /// Include `81 00`: the terminal supports logical channels 4-19.
    pub extended_logical_channels: bool,
    /// The `83` byte.
    pub euicc: EuiccCapabilities,
}

impl TerminalCapability {
    /// An LPAd that handles channels 4-19: `A9 05 81 00 83 01 07`.
    pub const LPAD: TerminalCapability = TerminalCapability {
        extended_logical_channels: true,
        euicc: EuiccCapabilities::LPAD,
    };

    /// The encoded `A9` template, held inline (at most 7 bytes).
    pub const fn template(&self) -> TerminalCapabilityTemplate {
        let e = self.euicc.0;
        if self.extended_logical_channels {
            TerminalCapabilityTemplate {
                bytes: [0xA9, 0x05, 0x81, 0x00, 0x83, 0x01, e],
                len: 7,
            }
        } else {
            TerminalCapabilityTemplate {
                bytes: [0xA9, 0x03, 0x83, 0x01, e, 0x00, 0x00],
                len: 5,
            }
        }
    }
}

impl Default for TerminalCapability {
    fn default() -> Self {
        Self::LPAD
    }
}

/// An encoded TERMINAL CAPABILITY template (`A9 ...`), built by [`TerminalCapability::template`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TerminalCapabilityTemplate {
    bytes: [u8; 7],
    len: u8,
}

impl TerminalCapabilityTemplate {
    /// The template bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }

    /// TERMINAL CAPABILITY on `channel` carrying this template: `80 AA 00 00 Lc A9 ...`
    /// (proprietary class, case 3). Send it on the basic channel before the ES10 session, as
    /// euicc-go does on connect; its answer is a plain `9000`.
    pub fn command(&self, channel: LogicalChannel) -> CommandApdu<'_> {
        CommandApdu::new(channel.cla(true), INS_TERMINAL_CAPABILITY, 0x00, 0x00)
            .with_data(self.as_bytes())
    }
}

// ------------------------------------------------------------------------------------------------
// STORE DATA segmentation
// ------------------------------------------------------------------------------------------------

/// The STORE DATA commands carrying one ES10 request (GlobalPlatform Card Specification §11.11,
/// SGP.22 §5.7.1): CLA = `channel.cla(true)`, INS `E2`, P1 `11` while more blocks follow and `91`
/// for the last, P2 = block number from `00`, up to `segment_size` data bytes, no Le (case 3;
/// the card offers response data with `61xx`).
///
/// The request is not checked to be one complete TLV: the Bound Profile Package is sent as
/// sequences that start with a bare tag and length (SGP.22 §2.5.5), and those are valid input.
#[derive(Clone, Debug)]
pub struct StoreDataBlocks<'r> {
    cla: u8,
    rest: &'r [u8],
    segment_size: usize,
    next_block: u8,
}

impl<'r> StoreDataBlocks<'r> {
    /// Splits `request` into blocks of `segment_size` (1..=255) bytes. Fails for an empty
    /// request or one needing more than 256 blocks.
    pub fn new(
        channel: LogicalChannel,
        request: &'r [u8],
        segment_size: usize,
    ) -> Result<Self, ApduError> {
        if segment_size == 0 || segment_size > MAX_SHORT_DATA {
            return Err(ApduError::InvalidSegmentSize { size: segment_size });
        }
        if request.is_empty() {
            return Err(ApduError::EmptyRequest);
        }
        let blocks = request.len().div_ceil(segment_size);
        if blocks > 256 {
            return Err(ApduError::TooManyBlocks { blocks });
        }
        Ok(StoreDataBlocks {
            cla: channel.cla(true),
            rest: request,
            segment_size,
            next_block: 0,
        })
    }

    /// Blocks not yet yielded.
    pub fn remaining(&self) -> usize {
        self.rest.len().div_ceil(self.segment_size)
    }
}

impl<'r> Iterator for StoreDataBlocks<'r> {
    type Item = CommandApdu<'r>;

    fn next(&mut self) -> Option<CommandApdu<'r>> {
        if self.rest.is_empty() {
            return None;
        }
        let take = self.segment_size.min(self.rest.len());
        let (data, rest) = self.rest.split_at_checked(take)?;
        let p1 = if rest.is_empty() {
            STORE_DATA_P1_LAST_BLOCK
        } else {
            STORE_DATA_P1_MORE_BLOCKS
        };
        let block = self.next_block;
        // At most 256 blocks (checked in new), so this wraps only after the last one.
        self.next_block = self.next_block.wrapping_add(1);
        self.rest = rest;
        Some(CommandApdu::new(self.cla, INS_STORE_DATA, p1, block).with_data(data))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        (n, Some(n))
    }
}

impl ExactSizeIterator for StoreDataBlocks<'_> {}

impl core::iter::FusedIterator for StoreDataBlocks<'_> {}

// ------------------------------------------------------------------------------------------------
// Sans-IO exchanges
// ------------------------------------------------------------------------------------------------

/// Limits for [`CommandExchange`] and [`StoreDataExchange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeConfig {
    /// STORE DATA segment size, 1..=255 request bytes per block (default 255). Lower it for
    /// transports that choke on long commands. Ignored by [`CommandExchange`].
    pub segment_size: usize,
    /// How many `61xx`/`6Cxx` follow-ups one command (one STORE DATA block) may need before the
    /// exchange gives up (default 1024, enough for 256 KiB in 256-byte answers). A card that
    /// keeps answering `6100` without data must not keep the LPA looping.
    pub max_response_rounds: u16,
}

impl ExchangeConfig {
    /// Segment size 255, 1024 response rounds.
    pub const fn new() -> Self {
        ExchangeConfig {
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_response_rounds: 1024,
        }
    }

    /// The same limits with another segment size (checked when an exchange starts).
    pub const fn with_segment_size(self, segment_size: usize) -> Self {
        ExchangeConfig {
            segment_size,
            ..self
        }
    }

    /// The same limits with another bound on `61xx`/`6Cxx` rounds.
    pub const fn with_max_response_rounds(self, max_response_rounds: u16) -> Self {
        ExchangeConfig {
            max_response_rounds,
            ..self
        }
    }
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// What an exchange wants next from its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Transmit<'b> {
    /// Send these bytes to the card and pass its whole answer (data, SW1, SW2) to
    /// `handle_response`.
    Command(&'b [u8]),
    /// The exchange is over; the response is the first `len` bytes of the response buffer
    /// (also returned by `response()`).
    Done {
        /// Response length.
        len: usize,
    },
}

/// What the current command needs sent next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    /// The command itself, with its own Le or one a `6Cxx` asked for.
    Command { le: Option<u16> },
    /// GET RESPONSE for the bytes a `61xx` announced (or a `6Cxx` corrected).
    GetResponse { le: u16 },
}

/// Where an exchange stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `poll_transmit` will hand out the next command.
    Ready,
    /// A command was handed out; its answer is awaited.
    AwaitingResponse,
    /// Finished with a success status word.
    Done,
    /// Finished with this error; it is repeated by `poll_transmit`.
    Failed(ApduError),
}

/// The `61xx`/`6Cxx` procedure for one command plus the response buffer it fills: the part
/// [`CommandExchange`] and [`StoreDataExchange`] share.
#[derive(Debug)]
struct ResponseChain<'o> {
    buf: &'o mut [u8],
    len: usize,
    next: Next,
    phase: Phase,
    rounds: u16,
    max_rounds: u16,
    le_corrected: bool,
    final_sw: Option<StatusWord>,
}

impl<'o> ResponseChain<'o> {
    fn new(buf: &'o mut [u8], max_rounds: u16, le: Option<u16>) -> Self {
        ResponseChain {
            buf,
            len: 0,
            next: Next::Command { le },
            phase: Phase::Ready,
            rounds: 0,
            max_rounds,
            le_corrected: false,
            final_sw: None,
        }
    }

    /// Starts over for the next command (the next STORE DATA block), keeping the response.
    fn restart(&mut self, le: Option<u16>) {
        self.next = Next::Command { le };
        self.phase = Phase::Ready;
        self.rounds = 0;
        self.le_corrected = false;
        self.final_sw = None;
    }

    fn response(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    fn into_response(self) -> &'o [u8] {
        let buf: &'o [u8] = self.buf;
        buf.get(..self.len).unwrap_or_default()
    }

    fn append(&mut self, data: &[u8]) -> Result<(), ApduError> {
        let capacity = self.buf.len();
        let needed = self.len.saturating_add(data.len());
        let slot = self
            .buf
            .get_mut(self.len..needed)
            .ok_or(ApduError::ResponseBufferTooSmall { capacity, needed })?;
        slot.copy_from_slice(data);
        self.len = needed;
        Ok(())
    }

    fn poll<'b>(
        &mut self,
        command: &CommandApdu<'_>,
        apdu_buf: &'b mut [u8],
    ) -> Result<Transmit<'b>, ApduError> {
        match self.phase {
            Phase::Failed(e) => Err(e),
            Phase::Done => Ok(Transmit::Done { len: self.len }),
            // Polling again before the answer hands out the same command again, so a driver
            // may retry after a transport hiccup.
            Phase::Ready | Phase::AwaitingResponse => {
                let apdu = match self.next {
                    Next::Command { le } => CommandApdu { le, ..*command },
                    Next::GetResponse { le } => {
                        get_response(LogicalChannel::from_cla(command.cla), le)
                    }
                };
                // A too-small buffer leaves the state as it was: the caller may retry.
                let n = apdu.encode(apdu_buf)?;
                self.phase = Phase::AwaitingResponse;
                let sent: &'b [u8] = apdu_buf;
                Ok(Transmit::Command(sent.get(..n).unwrap_or_default()))
            }
        }
    }

    /// Takes the answer to the command last handed out. `Ok(true)` when the command completed
    /// (phase is then `Done`), `Ok(false)` when a follow-up is due (phase `Ready`).
    fn handle(
        &mut self,
        command: &CommandApdu<'_>,
        block: u8,
        data_and_sw: &[u8],
    ) -> Result<bool, ApduError> {
        if self.phase != Phase::AwaitingResponse {
            return Err(ApduError::NoCommandOutstanding);
        }
        match self.step(command, block, data_and_sw) {
            Ok(Some(sw)) => {
                self.final_sw = Some(sw);
                self.phase = Phase::Done;
                Ok(true)
            }
            Ok(None) => {
                self.phase = Phase::Ready;
                Ok(false)
            }
            Err(e) => {
                self.phase = Phase::Failed(e);
                Err(e)
            }
        }
    }

    /// The `61xx`/`6Cxx` rules (ISO/IEC 7816-3 §12.2, T=0 transport of APDUs): `Some(sw)` when
    /// the command is complete.
    fn step(
        &mut self,
        command: &CommandApdu<'_>,
        block: u8,
        data_and_sw: &[u8],
    ) -> Result<Option<StatusWord>, ApduError> {
        let response = ResponseApdu::parse(data_and_sw)?;
        let sw = response.sw;
        if sw.is_success() {
            self.append(response.data)?;
            return Ok(Some(sw));
        }
        if let Some(le) = sw.response_bytes_available() {
            // Some readers hand up part of the data together with 61xx: keep it.
            self.append(response.data)?;
            self.count_round()?;
            self.next = Next::GetResponse { le };
            self.le_corrected = false;
            return Ok(None);
        }
        if let Some(le) = sw.corrected_le() {
            // The card did not execute the command (checking error): send the same one again
            // with the length it named, once. A second 6Cxx in a row means it will not settle.
            if self.le_corrected {
                return Err(ApduError::RepeatedWrongLength { sw });
            }
            self.count_round()?;
            self.le_corrected = true;
            self.next = match self.next {
                Next::Command { .. } => Next::Command { le: Some(le) },
                Next::GetResponse { .. } => Next::GetResponse { le },
            };
            return Ok(None);
        }
        let ins = match self.next {
            Next::Command { .. } => command.ins,
            Next::GetResponse { .. } => INS_GET_RESPONSE,
        };
        Err(ApduError::Status { sw, ins, block })
    }

    fn count_round(&mut self) -> Result<(), ApduError> {
        if self.rounds >= self.max_rounds {
            return Err(ApduError::TooManyResponseRounds {
                limit: self.max_rounds,
            });
        }
        self.rounds += 1;
        Ok(())
    }
}

/// One command APDU and its complete answer: follows `61xx` with GET RESPONSE and `6Cxx` with a
/// re-send, collecting the data in a caller buffer. Use it for SELECT, MANAGE CHANNEL and other
/// single commands; [`StoreDataExchange`] runs the same rules for each STORE DATA block.
///
/// Driving loop (the same as [`StoreDataExchange`]'s):
///
/// ```
/// use lpa_core::apdu::{
///     select_by_aid, CommandExchange, ExchangeConfig, LogicalChannel, SelectResponse, Transmit,
///     ISD_R_AID, MAX_SHORT_COMMAND,
/// };
///
/// let select = select_by_aid(LogicalChannel::new(1)?, &ISD_R_AID, SelectResponse::Fci)?;
/// let mut fci = [0u8; 256];
/// let mut exchange = CommandExchange::new(select, ExchangeConfig::default(), &mut fci)?;
///
/// // The card: answers SELECT with 6104, then hands out the FCI.
/// let card = |command: &[u8]| -> &'static [u8] {
///     match command {
///         [0x01, 0xA4, 0x04, 0x00, 0x10, ..] => &[0x61, 0x04],
///         [0x01, 0xC0, 0x00, 0x00, 0x04] => &[0x6F, 0x02, 0x84, 0x00, 0x90, 0x00],
///         _ => &[0x6D, 0x00],
///     }
/// };
///
/// let mut apdu = [0u8; MAX_SHORT_COMMAND];
/// let len = loop {
///     match exchange.poll_transmit(&mut apdu)? {
///         Transmit::Command(bytes) => exchange.handle_response(card(bytes))?,
///         Transmit::Done { len } => break len,
///     }
/// };
/// assert_eq!(&exchange.response()[..len], &[0x6F, 0x02, 0x84, 0x00]);
/// # Ok::<(), lpa_core::apdu::ApduError>(())
/// ```
#[derive(Debug)]
pub struct CommandExchange<'c, 'o> {
    command: CommandApdu<'c>,
    chain: ResponseChain<'o>,
}

impl<'c, 'o> CommandExchange<'c, 'o> {
    /// Prepares to send `command`, collecting its answer in `response_buf`. Fails if the command
    /// breaks the short-APDU limits.
    pub fn new(
        command: CommandApdu<'c>,
        config: ExchangeConfig,
        response_buf: &'o mut [u8],
    ) -> Result<Self, ApduError> {
        command.validate()?;
        Ok(CommandExchange {
            command,
            chain: ResponseChain::new(response_buf, config.max_response_rounds, command.le),
        })
    }

    /// The next command to send, encoded into `apdu_buf` ([`MAX_SHORT_COMMAND`] bytes always
    /// suffice), or [`Transmit::Done`]. After a failure, returns that error again.
    pub fn poll_transmit<'b>(&mut self, apdu_buf: &'b mut [u8]) -> Result<Transmit<'b>, ApduError> {
        self.chain.poll(&self.command, apdu_buf)
    }

    /// Feeds what the transport returned for the last command: data followed by SW1 SW2.
    pub fn handle_response(&mut self, data_and_sw: &[u8]) -> Result<(), ApduError> {
        self.chain.handle(&self.command, 0, data_and_sw).map(|_| ())
    }

    /// The response data collected so far (all of it once done).
    pub fn response(&self) -> &[u8] {
        self.chain.response()
    }

    /// The status word that ended the command (`9000`, or `91xx` when a proactive command
    /// waits), once done.
    pub fn final_status(&self) -> Option<StatusWord> {
        self.chain.final_sw
    }

    /// Whether the exchange has ended, successfully or not.
    pub fn is_finished(&self) -> bool {
        matches!(self.chain.phase, Phase::Done | Phase::Failed(_))
    }

    /// Ends the exchange, returning the response data with the buffer's lifetime.
    pub fn into_response(self) -> &'o [u8] {
        self.chain.into_response()
    }
}

/// One ES10 command sent as STORE DATA blocks (SGP.22 §5.7.1), with its response reassembled in
/// a caller buffer. Does no I/O and never allocates.
///
/// # Driving loop
///
/// Like quinn's connection, the exchange is driven by its owner:
///
/// 1. call [`poll_transmit`](Self::poll_transmit) with a scratch buffer of
///    [`MAX_SHORT_COMMAND`] bytes;
/// 2. on [`Transmit::Command`], send those bytes to the card and pass everything the transport
///    returned (data, SW1, SW2) to [`handle_response`](Self::handle_response), then go to 1;
/// 3. on [`Transmit::Done`], the ES10 response is [`response`](Self::response).
///
/// Any error ends the exchange; `poll_transmit` repeats it. The rules applied to each answer:
/// - `9000` / `91xx` ends a block, appending any data; the last block's data is the response;
/// - `61xx`: the next command is GET RESPONSE `0n C0 00 00 xx` on the same channel, whose data is
///   appended; repeated until the card ends with `9000`;
/// - `6Cxx`: the previous command is sent again with Le = xx, once in a row;
/// - data answering an intermediate block means the card answered early: this is how a failing
///   Bound Profile Package load reports its ProfileInstallationResult (SGP.22 §2.5.5). The
///   exchange stops there, reports `Done` with that data, and
///   [`answered_early`](Self::answered_early) says so;
/// - any other status word is [`ApduError::Status`] with the block number;
/// - at most [`ExchangeConfig::max_response_rounds`] `61xx`/`6Cxx` follow-ups per block.
///
/// ```
/// use lpa_core::apdu::{
///     ExchangeConfig, LogicalChannel, StoreDataExchange, Transmit, MAX_SHORT_COMMAND,
/// };
///
/// // GetProfilesInfo: an empty ProfileInfoListRequest.
/// let request = [0xBF, 0x2D, 0x00];
/// let mut response = [0u8; 1024];
/// let mut exchange = StoreDataExchange::new(
///     LogicalChannel::new(1)?,
///     &request,
///     ExchangeConfig::default(),
///     &mut response,
/// )?;
///
/// // A card playing its part: the single block answers 6105, GET RESPONSE returns an empty
/// // ProfileInfoListResponse (BF2D 02 A0 00) and 9000.
/// let card = |command: &[u8]| -> &'static [u8] {
///     match command {
///         [0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2D, 0x00] => &[0x61, 0x05],
///         [0x01, 0xC0, 0x00, 0x00, 0x05] => &[0xBF, 0x2D, 0x02, 0xA0, 0x00, 0x90, 0x00],
///         _ => &[0x6D, 0x00],
///     }
/// };
///
/// let mut apdu = [0u8; MAX_SHORT_COMMAND];
/// loop {
///     match exchange.poll_transmit(&mut apdu)? {
///         // A real driver sends `bytes` over PC/SC, AT+CSIM, OMAPI, ...
///         Transmit::Command(bytes) => exchange.handle_response(card(bytes))?,
///         Transmit::Done { len } => {
///             assert_eq!(len, 5);
///             break;
///         }
///     }
/// }
/// assert_eq!(exchange.response(), &[0xBF, 0x2D, 0x02, 0xA0, 0x00]);
/// # Ok::<(), lpa_core::apdu::ApduError>(())
/// ```
#[derive(Debug)]
pub struct StoreDataExchange<'r, 'o> {
    blocks: StoreDataBlocks<'r>,
    current: CommandApdu<'r>,
    chain: ResponseChain<'o>,
    answered_early: bool,
}

impl<'r, 'o> StoreDataExchange<'r, 'o> {
    /// Prepares to send `request` (one ES10 request, or one BPP sequence) on `channel`,
    /// collecting the response in `response_buf`. Fails for a segment size outside 1..=255,
    /// an empty request or one needing more than 256 blocks.
    pub fn new(
        channel: LogicalChannel,
        request: &'r [u8],
        config: ExchangeConfig,
        response_buf: &'o mut [u8],
    ) -> Result<Self, ApduError> {
        let mut blocks = StoreDataBlocks::new(channel, request, config.segment_size)?;
        // new() refused an empty request, so there is a first block.
        let current = blocks.next().ok_or(ApduError::EmptyRequest)?;
        Ok(StoreDataExchange {
            blocks,
            current,
            chain: ResponseChain::new(response_buf, config.max_response_rounds, None),
            answered_early: false,
        })
    }

    /// The next command to send, encoded into `apdu_buf` ([`MAX_SHORT_COMMAND`] bytes always
    /// suffice), or [`Transmit::Done`]. Polling again before
    /// [`handle_response`](Self::handle_response) returns the same command. After a failure,
    /// returns that error again.
    pub fn poll_transmit<'b>(&mut self, apdu_buf: &'b mut [u8]) -> Result<Transmit<'b>, ApduError> {
        self.chain.poll(&self.current, apdu_buf)
    }

    /// Feeds what the transport returned for the last command: data followed by SW1 SW2.
    pub fn handle_response(&mut self, data_and_sw: &[u8]) -> Result<(), ApduError> {
        let complete = self
            .chain
            .handle(&self.current, self.current.p2, data_and_sw)?;
        if !complete {
            return Ok(());
        }
        let last = self.current.p1 == STORE_DATA_P1_LAST_BLOCK;
        if last || self.chain.len > 0 {
            // Earlier blocks answered without data (or the exchange would have stopped), so
            // data now on an intermediate block is the card's early answer.
            self.answered_early = !last;
            return Ok(());
        }
        if let Some(next) = self.blocks.next() {
            self.current = next;
            self.chain.restart(None);
        }
        Ok(())
    }

    /// The response collected so far (all of it once done).
    pub fn response(&self) -> &[u8] {
        self.chain.response()
    }

    /// Whether the card answered with data before the last block (and the rest was not sent).
    pub fn answered_early(&self) -> bool {
        self.answered_early
    }

    /// The STORE DATA block (P2) being sent, or that ended the exchange.
    pub fn block(&self) -> u8 {
        self.current.p2
    }

    /// The status word that ended the exchange (`9000`, or `91xx` when a proactive command
    /// waits), once done.
    pub fn final_status(&self) -> Option<StatusWord> {
        self.chain.final_sw
    }

    /// Whether the exchange has ended, successfully or not.
    pub fn is_finished(&self) -> bool {
        matches!(self.chain.phase, Phase::Done | Phase::Failed(_))
    }

    /// Ends the exchange, returning the response with the buffer's lifetime.
    pub fn into_response(self) -> &'o [u8] {
        self.chain.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn encode(c: &CommandApdu<'_>) -> String {
        let mut buf = [0u8; MAX_SHORT_COMMAND];
        let n = c.encode(&mut buf).unwrap();
        hex::encode_upper(&buf[..n])
    }

    /// A 600-byte ES10 request: a BF20-style header (tag BF20, length 595) then filler bytes
    /// that count up, so a misplaced segment shows.
    fn request_600() -> Vec<u8> {
        let mut r = h("BF20 82 0253");
        r.extend((0..595u32).map(|i| (i % 251) as u8));
        assert_eq!(r.len(), 600);
        r
    }

    /// Expected APDU hex: a literal header followed by the request bytes in `range`.
    fn apdu_hex(header: &str, request: &[u8], range: std::ops::Range<usize>) -> String {
        let mut s = header.replace(' ', "");
        s.push_str(&hex::encode_upper(&request[range]));
        s
    }

    /// Runs an exchange against a script of (expected command hex, answer hex) pairs.
    fn drive(
        exchange: &mut StoreDataExchange<'_, '_>,
        script: &[(&str, &str)],
    ) -> Result<usize, ApduError> {
        let mut apdu = [0u8; MAX_SHORT_COMMAND];
        let mut step = 0;
        loop {
            match exchange.poll_transmit(&mut apdu)? {
                Transmit::Command(bytes) => {
                    let (expected, answer) = script[step];
                    assert_eq!(
                        hex::encode_upper(bytes),
                        expected.replace(' ', ""),
                        "command {step}"
                    );
                    step += 1;
                    exchange.handle_response(&h(answer))?;
                }
                Transmit::Done { len } => {
                    assert_eq!(step, script.len(), "script not used up");
                    return Ok(len);
                }
            }
        }
    }

    #[test]
    fn status_words() {
        assert!(StatusWord(0x9000).is_success());
        assert!(StatusWord(0x9112).is_success());
        assert!(StatusWord(0x9210).is_success());
        assert!(!StatusWord(0x6A88).is_success());
        assert!(!StatusWord(0x6110).is_success());
        assert_eq!(StatusWord::from_bytes(0x6A, 0x88), StatusWord(0x6A88));
        assert_eq!(
            (StatusWord(0x6A88).sw1(), StatusWord(0x6A88).sw2()),
            (0x6A, 0x88)
        );
        assert_eq!(StatusWord(0x6A88).to_bytes(), [0x6A, 0x88]);
        assert_eq!(StatusWord(0x6A88).to_string(), "6A88");
        assert_eq!(StatusWord(0x0001).to_string(), "0001");
        assert_eq!(StatusWord(0x6110).response_bytes_available(), Some(0x10));
        assert_eq!(StatusWord(0x6100).response_bytes_available(), Some(256));
        assert_eq!(StatusWord(0x9000).response_bytes_available(), None);
        assert_eq!(StatusWord(0x6C05).corrected_le(), Some(5));
        assert_eq!(StatusWord(0x6C00).corrected_le(), Some(256));
        assert_eq!(StatusWord(0x6A88).meaning(), "referenced data not found");
        assert_eq!(
            StatusWord(0x6881).meaning(),
            "logical channel not supported"
        );
        for sw in [
            0x9000, 0x6110, 0x6C10, 0x6601, 0x6700, 0x6881, 0x6882, 0x6982, 0x6985, 0x6A80, 0x6A82,
            0x6A86, 0x6A88, 0x6D00, 0x6E00, 0x6F00, 0x9300, 0x9140,
        ] {
            assert_ne!(StatusWord(sw).meaning(), "unknown status word", "{sw:04X}");
        }
        assert_eq!(StatusWord(0x1234).meaning(), "unknown status word");
    }

    #[test]
    fn channel_cla_values() {
        let cla = |n, p| LogicalChannel::new(n).unwrap().cla(p);
        assert_eq!((cla(0, false), cla(0, true)), (0x00, 0x80));
        assert_eq!((cla(1, false), cla(1, true)), (0x01, 0x81));
        assert_eq!((cla(3, false), cla(3, true)), (0x03, 0x83));
        assert_eq!((cla(4, false), cla(4, true)), (0x40, 0xC0));
        assert_eq!((cla(19, false), cla(19, true)), (0x4F, 0xCF));
        assert_eq!(
            LogicalChannel::new(20),
            Err(ApduError::InvalidChannel { channel: 20 })
        );
        for n in 0..=19 {
            for p in [false, true] {
                let ch = LogicalChannel::new(n).unwrap();
                assert_eq!(LogicalChannel::from_cla(ch.cla(p)), ch);
            }
        }
    }

    #[test]
    fn manage_channel_bytes() {
        assert_eq!(encode(&manage_channel_open()), "0070000001");
        let ch = |n| LogicalChannel::new(n).unwrap();
        assert_eq!(encode(&manage_channel_close(ch(1))), "0070800100");
        assert_eq!(encode(&manage_channel_close(ch(19))), "0070801300");
        assert_eq!(parse_manage_channel_open_response(&h("01 9000")), Ok(ch(1)));
        assert_eq!(
            parse_manage_channel_open_response(&h("13 9000")),
            Ok(ch(19))
        );
        assert_eq!(
            parse_manage_channel_open_response(&h("14 9000")),
            Err(ApduError::UnexpectedChannel { channel: 20 })
        );
        assert_eq!(
            parse_manage_channel_open_response(&h("00 9000")),
            Err(ApduError::UnexpectedChannel { channel: 0 })
        );
        assert_eq!(
            parse_manage_channel_open_response(&h("6881")),
            Err(ApduError::Status {
                sw: StatusWord(0x6881),
                ins: INS_MANAGE_CHANNEL,
                block: 0
            })
        );
        assert_eq!(
            parse_manage_channel_open_response(&h("9000")),
            Err(ApduError::UnexpectedResponseLength {
                expected: 1,
                found: 0
            })
        );
        assert_eq!(
            parse_manage_channel_open_response(&h("0102 9000")),
            Err(ApduError::UnexpectedResponseLength {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(
            parse_manage_channel_open_response(&h("90")),
            Err(ApduError::ResponseTooShort { len: 1 })
        );
    }

    #[test]
    fn select_bytes() {
        let ch = |n| LogicalChannel::new(n).unwrap();
        let sel = |n, aid: &'static [u8], r| encode(&select_by_aid(ch(n), aid, r).unwrap());
        assert_eq!(
            sel(1, &ISD_R_AID, SelectResponse::Fci),
            "01A4040010A0000005591010FFFFFFFF890000010000"
        );
        assert_eq!(
            sel(1, &ISD_R_AID, SelectResponse::Fcp),
            "01A4040410A0000005591010FFFFFFFF890000010000"
        );
        assert_eq!(
            sel(1, &ISD_R_AID, SelectResponse::NoData),
            "01A4040C10A0000005591010FFFFFFFF8900000100"
        );
        assert_eq!(
            sel(4, &ECASD_AID, SelectResponse::Fci),
            "40A4040010A0000005591010FFFFFFFF890000020000"
        );
        assert_eq!(
            sel(19, &KNOWN_ISD_R_AIDS[1], SelectResponse::Fci),
            "4FA4040010A0000005591010FFFFFFFF890005050000"
        );
        assert_eq!(
            hex::encode_upper(KNOWN_ISD_R_AIDS[2]),
            "A0000005591010000000008900000300"
        );
        assert_eq!(KNOWN_ISD_R_AIDS[0], ISD_R_AID);
        assert_eq!(
            select_by_aid(ch(1), &[], SelectResponse::Fci),
            Err(ApduError::InvalidAidLength { len: 0 })
        );
        assert_eq!(
            select_by_aid(ch(1), &[0; 17], SelectResponse::Fci),
            Err(ApduError::InvalidAidLength { len: 17 })
        );
    }

    #[test]
    fn terminal_capability_bytes() {
        let t = TerminalCapability::LPAD.template();
        assert_eq!(hex::encode_upper(t.as_bytes()), "A9058100830107");
        assert_eq!(
            encode(&t.command(LogicalChannel::BASIC)),
            "80AA000007A9058100830107"
        );
        let plain = TerminalCapability {
            extended_logical_channels: false,
            euicc: EuiccCapabilities(EuiccCapabilities::LOCAL_PROFILE_DOWNLOAD),
        };
        assert_eq!(
            encode(&plain.template().command(LogicalChannel::BASIC)),
            "80AA000005A903830102"
        );
        assert_eq!(TerminalCapability::default(), TerminalCapability::LPAD);
    }

    #[test]
    fn get_response_bytes() {
        let ch = |n| LogicalChannel::new(n).unwrap();
        assert_eq!(encode(&get_response(ch(1), 0x10)), "01C0000010");
        assert_eq!(encode(&get_response(ch(0), 256)), "00C0000000");
        assert_eq!(encode(&get_response(ch(5), 5)), "41C0000005");
    }

    #[test]
    fn command_round_trips_all_cases() {
        for hexs in [
            "80CA9F7F",                                     // case 1
            "00B0000000",                                   // case 2, Le 256
            "00B0000010",                                   // case 2
            "81E2910003BF2D00",                             // case 3
            "01A4040010A0000005591010FFFFFFFF890000010000", // case 4, Le 256
            "81E2910003BF2D0005",                           // case 4
        ] {
            let bytes = h(hexs);
            let c = CommandApdu::parse(&bytes).unwrap();
            assert_eq!(c.encoded_len(), bytes.len());
            assert_eq!(encode(&c), hexs);
        }
        let case2 = h("00B0000000");
        let c = CommandApdu::parse(&case2).unwrap();
        assert_eq!(c.le, Some(256));
        let case4 = h("81E2910003BF2D0005");
        let c = CommandApdu::parse(&case4).unwrap();
        assert_eq!(
            (c.cla, c.ins, c.p1, c.p2, c.data, c.le),
            (0x81, 0xE2, 0x91, 0x00, &[0xBF, 0x2D, 0x00][..], Some(5))
        );
        // A full 255-byte case 4 command is the longest short APDU.
        let data = [0x5Au8; 255];
        let c = CommandApdu::new(0x81, 0xE2, 0x91, 0)
            .with_data(&data)
            .with_le(256);
        let mut buf = [0u8; MAX_SHORT_COMMAND];
        assert_eq!(c.encode(&mut buf), Ok(MAX_SHORT_COMMAND));
        assert_eq!(CommandApdu::parse(&buf), Ok(c));
    }

    #[test]
    fn malformed_commands_are_typed_errors() {
        assert_eq!(
            CommandApdu::parse(&[]),
            Err(ApduError::CommandTooShort { len: 0 })
        );
        assert_eq!(
            CommandApdu::parse(&h("00A404")),
            Err(ApduError::CommandTooShort { len: 3 })
        );
        // Lc says 5, two data bytes follow.
        assert_eq!(
            CommandApdu::parse(&h("00A4040005A000")),
            Err(ApduError::LcMismatch { lc: 5, len: 7 })
        );
        // Lc says 2, four bytes follow: neither case 3 nor case 4.
        assert_eq!(
            CommandApdu::parse(&h("00A4040002A0000000")),
            Err(ApduError::LcMismatch { lc: 2, len: 9 })
        );
        // Extended length: 00 then a two-byte Lc.
        assert_eq!(
            CommandApdu::parse(&h("80E2910000 0003 BF2D00")),
            Err(ApduError::ExtendedLength)
        );
        assert_eq!(
            CommandApdu::parse(&h("00B00000 000100")),
            Err(ApduError::ExtendedLength)
        );
        let big = [0u8; 256];
        let mut buf = [0u8; 300];
        assert_eq!(
            CommandApdu::new(0x80, 0xE2, 0x91, 0)
                .with_data(&big)
                .encode(&mut buf),
            Err(ApduError::DataTooLong { len: 256 })
        );
        assert_eq!(
            CommandApdu::new(0, 0xB0, 0, 0).with_le(0).encode(&mut buf),
            Err(ApduError::InvalidLe { le: 0 })
        );
        assert_eq!(
            CommandApdu::new(0, 0xB0, 0, 0)
                .with_le(257)
                .encode(&mut buf),
            Err(ApduError::InvalidLe { le: 257 })
        );
        assert_eq!(
            manage_channel_open().encode(&mut buf[..4]),
            Err(ApduError::BufferTooSmall {
                needed: 5,
                available: 4
            })
        );
    }

    #[test]
    fn responses_parse_and_round_trip() {
        assert_eq!(
            ResponseApdu::parse(&[]),
            Err(ApduError::ResponseTooShort { len: 0 })
        );
        assert_eq!(
            ResponseApdu::parse(&[0x90]),
            Err(ApduError::ResponseTooShort { len: 1 })
        );
        let r = ResponseApdu::parse(&[0x90, 0x00]).unwrap();
        assert_eq!((r.data, r.sw), (&[][..], StatusWord::OK));
        let bytes = h("BF2D02A000 9000");
        let r = ResponseApdu::parse(&bytes).unwrap();
        assert_eq!(r.data, &h("BF2D02A000")[..]);
        let mut out = [0u8; 7];
        assert_eq!(r.encode(&mut out), Ok(7));
        assert_eq!(&out[..], &bytes[..]);
        assert_eq!(
            r.encode(&mut out[..6]),
            Err(ApduError::BufferTooSmall {
                needed: 7,
                available: 6
            })
        );
    }

    #[test]
    fn segments_600_bytes_at_255() {
        let req = request_600();
        let ch1 = LogicalChannel::new(1).unwrap();
        let blocks: Vec<String> = StoreDataBlocks::new(ch1, &req, 255)
            .unwrap()
            .map(|c| encode(&c))
            .collect();
        assert_eq!(
            blocks,
            [
                apdu_hex("81E21100FF", &req, 0..255),
                apdu_hex("81E21101FF", &req, 255..510),
                apdu_hex("81E291025A", &req, 510..600),
            ]
        );
        assert!(blocks[0].starts_with("81E21100FFBF20820253000102"));
    }

    #[test]
    fn segments_600_bytes_at_120() {
        let req = request_600();
        let ch1 = LogicalChannel::new(1).unwrap();
        let it = StoreDataBlocks::new(ch1, &req, 120).unwrap();
        assert_eq!(it.len(), 5);
        let blocks: Vec<String> = it.map(|c| encode(&c)).collect();
        assert_eq!(
            blocks,
            [
                apdu_hex("81E2110078", &req, 0..120),
                apdu_hex("81E2110178", &req, 120..240),
                apdu_hex("81E2110278", &req, 240..360),
                apdu_hex("81E2110378", &req, 360..480),
                apdu_hex("81E2910478", &req, 480..600),
            ]
        );
    }

    #[test]
    fn segmentation_limits() {
        let ch = LogicalChannel::new(4).unwrap();
        assert_eq!(
            StoreDataBlocks::new(ch, &[], 255).err(),
            Some(ApduError::EmptyRequest)
        );
        assert_eq!(
            StoreDataBlocks::new(ch, &[1], 0).err(),
            Some(ApduError::InvalidSegmentSize { size: 0 })
        );
        assert_eq!(
            StoreDataBlocks::new(ch, &[1], 256).err(),
            Some(ApduError::InvalidSegmentSize { size: 256 })
        );
        // 256 blocks is the most P2 can number.
        let max = std::vec![0xAAu8; 255 * 256];
        let blocks: Vec<_> = StoreDataBlocks::new(ch, &max, 255).unwrap().collect();
        assert_eq!(blocks.len(), 256);
        let last = blocks[255];
        assert_eq!(
            (last.cla, last.p1, last.p2, last.data.len()),
            (0xC0, 0x91, 0xFF, 255)
        );
        assert!(blocks[..255].iter().all(|b| b.p1 == 0x11));
        let over = std::vec![0xAAu8; 255 * 256 + 1];
        assert_eq!(
            StoreDataBlocks::new(ch, &over, 255).err(),
            Some(ApduError::TooManyBlocks { blocks: 257 })
        );
        // A one-byte segment size works (a tiny MSS some modems need).
        let blocks: Vec<_> = StoreDataBlocks::new(ch, &[1, 2], 1).unwrap().collect();
        assert_eq!(encode(&blocks[0]), "C0E211000101");
        assert_eq!(encode(&blocks[1]), "C0E291010102");
    }

    #[test]
    fn store_data_with_61xx_chain() {
        let req = request_600();
        let ch1 = LogicalChannel::new(1).unwrap();
        let mut buf = [0u8; 64];
        let mut ex =
            StoreDataExchange::new(ch1, &req, ExchangeConfig::default(), &mut buf).unwrap();
        let first16 = "000102030405060708090A0B0C0D0E0F";
        let next5 = "1011121314";
        let answer1 = std::format!("{first16}6105");
        let answer2 = std::format!("{next5}9000");
        let b0 = apdu_hex("81E21100FF", &req, 0..255);
        let b1 = apdu_hex("81E21101FF", &req, 255..510);
        let b2 = apdu_hex("81E291025A", &req, 510..600);
        let len = drive(
            &mut ex,
            &[
                (b0.as_str(), "9000"),
                (b1.as_str(), "9000"),
                (b2.as_str(), "6110"),
                ("01C0000010", answer1.as_str()),
                ("01C0000005", answer2.as_str()),
            ],
        )
        .unwrap();
        assert_eq!(len, 21);
        assert_eq!(
            hex::encode_upper(ex.response()),
            std::format!("{first16}{next5}")
        );
        assert_eq!(ex.final_status(), Some(StatusWord::OK));
        assert!(!ex.answered_early());
        assert!(ex.is_finished());
        assert_eq!(ex.block(), 2);
        // Done is sticky, and there is nothing to answer any more.
        let mut apdu = [0u8; MAX_SHORT_COMMAND];
        assert_eq!(ex.poll_transmit(&mut apdu), Ok(Transmit::Done { len: 21 }));
        assert_eq!(
            ex.handle_response(&h("9000")),
            Err(ApduError::NoCommandOutstanding)
        );
        assert_eq!(ex.into_response().len(), 21);
    }

    #[test]
    fn store_data_with_6cxx() {
        let req = h("BF2D00");
        let ch1 = LogicalChannel::new(1).unwrap();
        let mut buf = [0u8; 64];
        let mut ex =
            StoreDataExchange::new(ch1, &req, ExchangeConfig::default(), &mut buf).unwrap();
        let len = drive(
            &mut ex,
            &[
                ("81E2910003BF2D00", "6C04"),
                // The same command again, now with Le = 04.
                ("81E2910003BF2D0004", "BF2D02A000 9000"),
            ],
        )
        .unwrap();
        assert_eq!(&ex.response()[..len], &h("BF2D02A000")[..]);

        // 6Cxx answering a GET RESPONSE corrects the GET RESPONSE.
        let mut buf = [0u8; 64];
        let mut ex =
            StoreDataExchange::new(ch1, &req, ExchangeConfig::default(), &mut buf).unwrap();
        drive(
            &mut ex,
            &[
                ("81E2910003BF2D00", "6110"),
                ("01C0000010", "6C05"),
                ("01C0000005", "BF2D02A000 9000"),
            ],
        )
        .unwrap();
        assert_eq!(ex.response(), &h("BF2D02A000")[..]);

        // Twice in a row is an error.
        let mut buf = [0u8; 64];
        let mut ex =
            StoreDataExchange::new(ch1, &req, ExchangeConfig::default(), &mut buf).unwrap();
        let err = drive(
            &mut ex,
            &[("81E2910003BF2D00", "6C04"), ("81E2910003BF2D0004", "6C03")],
        );
        assert_eq!(
            err,
            Err(ApduError::RepeatedWrongLength {
                sw: StatusWord(0x6C03)
            })
        );
    }

    #[test]
    fn error_status_on_a_middle_block() {
        let req = request_600();
        let ch1 = LogicalChannel::new(1).unwrap();
        let mut buf = [0u8; 64];
        let config = ExchangeConfig::default().with_segment_size(120);
        let mut ex = StoreDataExchange::new(ch1, &req, config, &mut buf).unwrap();
        let b0 = apdu_hex("81E2110078", &req, 0..120);
        let b1 = apdu_hex("81E2110178", &req, 120..240);
        let b2 = apdu_hex("81E2110278", &req, 240..360);
        let err = drive(
            &mut ex,
            &[
                (b0.as_str(), "9000"),
                (b1.as_str(), "9000"),
                (b2.as_str(), "6A80"),
            ],
        );
        let expected = ApduError::Status {
            sw: StatusWord(0x6A80),
            ins: INS_STORE_DATA,
            block: 2,
        };
        assert_eq!(err, Err(expected));
        assert_eq!(expected.status_word(), Some(StatusWord(0x6A80)));
        assert_eq!(
            expected.to_string(),
            "card refused INS E2 (block 2) with status 6A80: incorrect parameters in the data field"
        );
        // The failure is sticky.
        let mut apdu = [0u8; MAX_SHORT_COMMAND];
        assert_eq!(ex.poll_transmit(&mut apdu), Err(expected));
        assert_eq!(
            ex.handle_response(&h("9000")),
            Err(ApduError::NoCommandOutstanding)
        );
        assert!(ex.is_finished());
        assert_eq!(ex.final_status(), None);
    }

    #[test]
    fn refused_get_response_names_its_ins() {
        let req = h("BF2D00");
        let mut buf = [0u8; 64];
        let ch = LogicalChannel::new(2).unwrap();
        let mut ex = StoreDataExchange::new(ch, &req, ExchangeConfig::default(), &mut buf).unwrap();
        let err = drive(
            &mut ex,
            &[("82E2910003BF2D00", "6110"), ("02C0000010", "6F00")],
        );
        assert_eq!(
            err,
            Err(ApduError::Status {
                sw: StatusWord(0x6F00),
                ins: INS_GET_RESPONSE,
                block: 0
            })
        );
    }

    #[test]
    fn early_answer_on_an_intermediate_block_stops() {
        // A BPP sequence answered with a ProfileInstallationResult (BF37) on block 1 of 5.
        let req = request_600();
        let ch = LogicalChannel::new(4).unwrap();
        let mut buf = [0u8; 64];
        let config = ExchangeConfig::default().with_segment_size(120);
        let mut ex = StoreDataExchange::new(ch, &req, config, &mut buf).unwrap();
        let b0 = apdu_hex("C0E2110078", &req, 0..120);
        let b1 = apdu_hex("C0E2110178", &req, 120..240);
        let len = drive(
            &mut ex,
            &[
                (b0.as_str(), "9000"),
                (b1.as_str(), "6106"),
                ("40C0000006", "BF3703800102 9000"),
            ],
        )
        .unwrap();
        assert_eq!(ex.response()[..len], h("BF3703800102")[..]);
        assert!(ex.answered_early());
        assert_eq!(ex.block(), 1);
    }

    #[test]
    fn proactive_91xx_ends_a_block() {
        let req = h("BF2D00");
        let mut buf = [0u8; 64];
        let mut ex = StoreDataExchange::new(
            LogicalChannel::BASIC,
            &req,
            ExchangeConfig::default(),
            &mut buf,
        )
        .unwrap();
        drive(&mut ex, &[("80E2910003BF2D00", "BF2D02A000 9120")]).unwrap();
        assert_eq!(ex.final_status(), Some(StatusWord(0x9120)));
        assert_eq!(ex.response(), &h("BF2D02A000")[..]);
    }

    #[test]
    fn response_buffer_overflow_is_typed() {
        let req = h("BF2D00");
        let mut buf = [0u8; 8];
        let mut ex = StoreDataExchange::new(
            LogicalChannel::BASIC,
            &req,
            ExchangeConfig::default(),
            &mut buf,
        )
        .unwrap();
        let err = drive(
            &mut ex,
            &[
                ("80E2910003BF2D00", "6106"),
                ("00C0000006", "000102030405 6104"),
                ("00C0000004", "06070809 9000"),
            ],
        );
        assert_eq!(
            err,
            Err(ApduError::ResponseBufferTooSmall {
                capacity: 8,
                needed: 10
            })
        );
    }

    #[test]
    fn endless_6100_is_bounded() {
        let req = h("BF2D00");
        let mut buf = [0u8; 64];
        let config = ExchangeConfig::default().with_max_response_rounds(3);
        let mut ex = StoreDataExchange::new(LogicalChannel::BASIC, &req, config, &mut buf).unwrap();
        let err = drive(
            &mut ex,
            &[
                ("80E2910003BF2D00", "6100"),
                ("00C0000000", "6100"),
                ("00C0000000", "6100"),
                ("00C0000000", "6100"),
            ],
        );
        assert_eq!(err, Err(ApduError::TooManyResponseRounds { limit: 3 }));
    }

    #[test]
    fn api_misuse_and_short_answers() {
        let req = h("BF2D00");
        let mut buf = [0u8; 64];
        let mut ex = StoreDataExchange::new(
            LogicalChannel::BASIC,
            &req,
            ExchangeConfig::default(),
            &mut buf,
        )
        .unwrap();
        // Nothing sent yet.
        assert_eq!(
            ex.handle_response(&h("9000")),
            Err(ApduError::NoCommandOutstanding)
        );
        // A too-small APDU buffer changes nothing.
        let mut small = [0u8; 4];
        assert_eq!(
            ex.poll_transmit(&mut small),
            Err(ApduError::BufferTooSmall {
                needed: 8,
                available: 4
            })
        );
        assert_eq!(
            ex.handle_response(&h("9000")),
            Err(ApduError::NoCommandOutstanding)
        );
        // Polling twice hands out the same command.
        let mut a = [0u8; MAX_SHORT_COMMAND];
        let first = match ex.poll_transmit(&mut a).unwrap() {
            Transmit::Command(c) => c.to_vec(),
            other => panic!("{other:?}"),
        };
        let mut b = [0u8; MAX_SHORT_COMMAND];
        assert_eq!(ex.poll_transmit(&mut b), Ok(Transmit::Command(&first[..])));
        // A one-byte answer ends the exchange with a typed error.
        assert_eq!(
            ex.handle_response(&[0x90]),
            Err(ApduError::ResponseTooShort { len: 1 })
        );
        assert_eq!(
            ex.poll_transmit(&mut a),
            Err(ApduError::ResponseTooShort { len: 1 })
        );

        let mut buf = [0u8; 64];
        let mut ex = StoreDataExchange::new(
            LogicalChannel::BASIC,
            &req,
            ExchangeConfig::default(),
            &mut buf,
        )
        .unwrap();
        let _ = ex.poll_transmit(&mut a).unwrap();
        assert_eq!(
            ex.handle_response(&[]),
            Err(ApduError::ResponseTooShort { len: 0 })
        );

        let mut buf = [0u8; 4];
        assert_eq!(
            StoreDataExchange::new(
                LogicalChannel::BASIC,
                &req,
                ExchangeConfig::default().with_segment_size(0),
                &mut buf
            )
            .err(),
            Some(ApduError::InvalidSegmentSize { size: 0 })
        );
    }

    #[test]
    fn single_command_exchange_handles_61xx() {
        let ch1 = LogicalChannel::new(1).unwrap();
        let select = select_by_aid(ch1, &ISD_R_AID, SelectResponse::Fci).unwrap();
        let mut buf = [0u8; 64];
        let mut ex = CommandExchange::new(select, ExchangeConfig::default(), &mut buf).unwrap();
        let mut apdu = [0u8; MAX_SHORT_COMMAND];
        let Ok(Transmit::Command(c)) = ex.poll_transmit(&mut apdu) else {
            panic!("no command");
        };
        assert_eq!(
            hex::encode_upper(c),
            "01A4040010A0000005591010FFFFFFFF890000010000"
        );
        ex.handle_response(&h("611A")).unwrap();
        let Ok(Transmit::Command(c)) = ex.poll_transmit(&mut apdu) else {
            panic!("no GET RESPONSE");
        };
        assert_eq!(hex::encode_upper(c), "01C000001A");
        // FCI: 6F { 84 (DF name = the AID), A5 { 9F65 01 FF } }.
        let fci = "6F188410A0000005591010FFFFFFFF8900000100A5049F6501FF";
        assert_eq!(fci.len(), 52);
        ex.handle_response(&h(&std::format!("{fci}9000"))).unwrap();
        assert_eq!(ex.poll_transmit(&mut apdu), Ok(Transmit::Done { len: 26 }));
        assert_eq!(hex::encode_upper(ex.response()), fci);
        assert!(ex.is_finished());
        assert_eq!(ex.into_response().len(), 26);

        // 6Cxx on a case 2 command, then the refusal of a case 1 command.
        let cmd = CommandApdu::new(0x80, 0xCA, 0x9F, 0x7F).with_le(256);
        let mut buf = [0u8; 8];
        let mut ex = CommandExchange::new(cmd, ExchangeConfig::default(), &mut buf).unwrap();
        let _ = ex.poll_transmit(&mut apdu).unwrap();
        ex.handle_response(&h("6C02")).unwrap();
        assert_eq!(
            ex.poll_transmit(&mut apdu),
            Ok(Transmit::Command(&h("80CA9F7F02")[..]))
        );
        ex.handle_response(&h("ABCD9000")).unwrap();
        assert_eq!(ex.response(), &[0xAB, 0xCD]);

        let cmd = CommandApdu::new(0x00, 0x70, 0x80, 0x00);
        let mut buf = [0u8; 8];
        let mut ex = CommandExchange::new(cmd, ExchangeConfig::default(), &mut buf).unwrap();
        let _ = ex.poll_transmit(&mut apdu).unwrap();
        assert_eq!(
            ex.handle_response(&h("6A86")),
            Err(ApduError::Status {
                sw: StatusWord(0x6A86),
                ins: 0x70,
                block: 0
            })
        );

        let bad = CommandApdu::new(0, 0xB0, 0, 0).with_le(0);
        assert_eq!(
            CommandExchange::new(bad, ExchangeConfig::default(), &mut buf).err(),
            Some(ApduError::InvalidLe { le: 0 })
        );
    }

    #[test]
    fn hostile_answers_never_panic_and_always_end() {
        // xorshift64: deterministic, no dependency.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let req = request_600();
        let sws = [
            0x9000, 0x9110, 0x6100, 0x6110, 0x6C00, 0x6C05, 0x6A88, 0x6601, 0x6F00,
        ];
        for _ in 0..2000 {
            let mut buf = [0u8; 300];
            let config = ExchangeConfig::default()
                .with_segment_size(3 + (next() % 253) as usize)
                .with_max_response_rounds(8);
            let channel = LogicalChannel::new((next() % 20) as u8).unwrap();
            let mut ex = StoreDataExchange::new(channel, &req, config, &mut buf).unwrap();
            let mut apdu = [0u8; MAX_SHORT_COMMAND];
            let mut steps = 0;
            loop {
                match ex.poll_transmit(&mut apdu) {
                    Ok(Transmit::Command(_)) => {
                        let mut answer = Vec::new();
                        if next() % 4 == 0 {
                            answer.resize((next() % 300) as usize, 0xEE);
                        }
                        let sw = StatusWord(sws[(next() % sws.len() as u64) as usize]);
                        answer.extend_from_slice(&sw.to_bytes());
                        // Now and then a truncated answer.
                        let cut = if next() % 50 == 0 {
                            answer.len().min(1)
                        } else {
                            answer.len()
                        };
                        let _ = ex.handle_response(&answer[..cut]);
                    }
                    Ok(Transmit::Done { len }) => {
                        assert_eq!(len, ex.response().len());
                        break;
                    }
                    Err(_) => break,
                }
                steps += 1;
                // At most 200 blocks, each with at most 8 follow-ups.
                assert!(steps <= 200 * 9, "exchange did not end");
            }
            assert!(ex.is_finished());
        }
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            ApduError::ResponseBufferTooSmall {
                capacity: 8,
                needed: 10
            }
            .to_string(),
            "response buffer of 8 bytes too small: 10 bytes needed so far"
        );
        assert_eq!(
            ApduError::InvalidChannel { channel: 20 }.to_string(),
            "logical channel 20 is outside 0..=19"
        );
        assert_eq!(ApduError::EmptyRequest.status_word(), None);
    }
}
