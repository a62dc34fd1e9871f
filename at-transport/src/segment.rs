//! Adaptive STORE DATA segment size: when a modem cannot carry a block, the ES10 command
//! starts again from block 0 with smaller blocks (255 → 128 → 64), and the smaller size stays
//! for the rest of the session.
//!
//! Why: many modems have line buffers or APDU limits below the 261 bytes of a full short APDU
//! (`AT+CSIM` of a 255-byte STORE DATA is a 540-character line). They answer `ERROR`, a
//! `+CME ERROR`, or a status word of their own (`6700` wrong length; `6601` on some) instead of
//! passing the block on, and the card never sees it. Restarting at block 0 is what the card
//! expects: a STORE DATA with P2 = 0 begins a new command (GlobalPlatform Card Specification
//! §11.11.2.2), so the partial one is dropped.
//!
//! # The contract for an ES10 client
//!
//! This is what [`store_data_with_fallback`] does; an ES10 client with its own STORE DATA loop
//! does the same:
//!
//! 1. Keep one [`SegmentSizer`] per session (per transport), created from the transport's
//!    hint: [`SegmentSizer::new`]`(transport.max_apdu_data())` for an [`crate::AtTransport`],
//!    `SegmentSizer::new(None)` (255) for transports without a hint.
//! 2. Send each ES10 command (each BPP sequence) with
//!    `ExchangeConfig::default().with_segment_size(sizer.size())`.
//! 3. When a block fails with a *segment failure* — [`is_segment_failure`] for an error of
//!    `transmit`, [`is_segment_failure_status`] for an error of
//!    `StoreDataExchange::handle_response` — call [`SegmentSizer::after_failure`] with the
//!    number of data bytes that block carried (its Lc; 0 for a GET RESPONSE), and start the
//!    same command again from block 0 with the (possibly) new size. When the block was already
//!    no larger than the next size down, the size stays and the restart counts as a retry of a
//!    momentary failure.
//! 4. Give up after [`SegmentSizer::max_restarts`] restarts of one command (4 by default) and
//!    return the last error unchanged: it carries the modem's words.
//! 5. Anything else — a timeout, an I/O error, another status word — fails the command at
//!    once.
//!
//! A restart resends the whole command. For ES10 commands that change the card (EnableProfile,
//! DeleteProfile, a BPP sequence) this is safe when the failing block was not the last one (the
//! card had not received the whole command); when the last block's answer was lost the card
//! may have executed it, and the repeated command then reports that in its result code (e.g.
//! `profileNotInDisabledState`), which the client must read as such.

use lpa::transport::{ApduTransport, TransportError};
use lpa_core::apdu::{
    ApduError, ExchangeConfig, INS_STORE_DATA, LogicalChannel, MAX_SHORT_COMMAND,
    StoreDataExchange, Transmit,
};

/// The segment sizes tried, largest first.
pub const SEGMENT_SIZES: [usize; 3] = [255, 128, 64];

/// How many times one ES10 command is restarted before its last error is returned.
pub const DEFAULT_MAX_RESTARTS: u8 = 4;

/// The largest ES10 response collected (a profile list with icons, a notification list).
const RESPONSE_CAPACITY: usize = 64 * 1024;

/// The session's STORE DATA segment size and restart budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSizer {
    size: usize,
    max_restarts: u8,
}

impl SegmentSizer {
    /// Starts at `hint` (clamped to 1..=255), or 255 without one.
    pub fn new(hint: Option<usize>) -> Self {
        SegmentSizer {
            size: hint.unwrap_or(SEGMENT_SIZES[0]).clamp(1, SEGMENT_SIZES[0]),
            max_restarts: DEFAULT_MAX_RESTARTS,
        }
    }

    /// The same sizer with another restart budget per command.
    pub fn with_max_restarts(mut self, max_restarts: u8) -> Self {
        self.max_restarts = max_restarts;
        self
    }

    /// The segment size to use now.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many restarts one command may take.
    pub fn max_restarts(&self) -> u8 {
        self.max_restarts
    }

    /// Records that a block carrying `block_len` data bytes failed: the size becomes the
    /// largest of [`SEGMENT_SIZES`] below both the current size and `block_len`. Returns
    /// whether it shrank (`false`: the block was no larger than 64 bytes, or not a STORE DATA
    /// block, and a smaller size would not help).
    pub fn after_failure(&mut self, block_len: usize) -> bool {
        let limit = self.size.min(block_len);
        match SEGMENT_SIZES.iter().copied().find(|&s| s < limit) {
            Some(smaller) => {
                self.size = smaller;
                true
            }
            None => false,
        }
    }
}

impl Default for SegmentSizer {
    fn default() -> Self {
        Self::new(None)
    }
}

/// Whether a `transmit` error on a STORE DATA block means "this block did not pass the modem":
/// the modem refused the command line (`ERROR`, `+CME ERROR`, `+CMS ERROR`, which an AT
/// transport reports as [`TransportError::Refused`]), or the answer carried a size status word
/// ([`is_segment_failure_status`]).
pub fn is_segment_failure(error: &TransportError) -> bool {
    match error {
        TransportError::Refused(_) => true,
        TransportError::Apdu(e) => is_segment_failure_status(e),
        _ => false,
    }
}

/// Whether a STORE DATA exchange error is a size status word: `6700` (wrong length) on a STORE
/// DATA block, or `6601` on any command of the exchange.
pub fn is_segment_failure_status(error: &ApduError) -> bool {
    match error {
        ApduError::Status { sw, ins, .. } => {
            sw.0 == 0x6601 || (sw.0 == 0x6700 && *ins == INS_STORE_DATA)
        }
        _ => false,
    }
}

/// Sends one ES10 request (or one BPP sequence) by STORE DATA on `channel` and returns the
/// card's response TLV (empty for a BPP step the card answered with `9000` alone), following
/// the contract in the [module documentation](self): segment failures restart the command
/// from block 0 with smaller segments, at most [`SegmentSizer::max_restarts`] times.
pub fn store_data_with_fallback<T: ApduTransport + ?Sized>(
    transport: &mut T,
    channel: LogicalChannel,
    request: &[u8],
    sizer: &mut SegmentSizer,
) -> Result<Vec<u8>, TransportError> {
    let mut response = vec![0u8; RESPONSE_CAPACITY];
    let mut restarts = 0u8;
    loop {
        let failure = match run_once(transport, channel, request, sizer.size(), &mut response) {
            Ok(len) => return Ok(response.get(..len).unwrap_or_default().to_vec()),
            Err(failure) => failure,
        };
        if !failure.is_segment_failure() || restarts >= sizer.max_restarts() {
            if failure.is_segment_failure() {
                log::warn!(
                    "STORE DATA: giving up after {restarts} restarts at segment size {}",
                    sizer.size()
                );
            }
            return Err(failure.error);
        }
        restarts += 1;
        let before = sizer.size();
        if sizer.after_failure(failure.block_len) {
            log::warn!(
                "STORE DATA: a {}-byte block did not pass ({}); restarting the command with {}-byte segments",
                failure.block_len,
                failure.error,
                sizer.size()
            );
        } else {
            log::warn!(
                "STORE DATA: block failed ({}); restarting the command at {before}-byte segments (restart {restarts})",
                failure.error
            );
        }
    }
}

/// A failed attempt: the error and the data length of the block that failed.
struct Failure {
    error: TransportError,
    block_len: usize,
    segment: bool,
}

impl Failure {
    fn is_segment_failure(&self) -> bool {
        self.segment
    }
}

/// One attempt at the whole command with `segment_size`; the response length on success.
fn run_once<T: ApduTransport + ?Sized>(
    transport: &mut T,
    channel: LogicalChannel,
    request: &[u8],
    segment_size: usize,
    response: &mut [u8],
) -> Result<usize, Failure> {
    let fatal = |e: ApduError| Failure {
        error: TransportError::Apdu(e),
        block_len: 0,
        segment: false,
    };
    let config = ExchangeConfig::default().with_segment_size(segment_size);
    let mut exchange = StoreDataExchange::new(channel, request, config, response).map_err(fatal)?;
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    loop {
        let command = match exchange.poll_transmit(&mut apdu) {
            Ok(Transmit::Command(bytes)) => bytes,
            Ok(Transmit::Done { len }) => return Ok(len),
            Err(e) => return Err(fatal(e)),
        };
        // The data length of a STORE DATA block (Lc); a GET RESPONSE carries none.
        let block_len = match command {
            [_, INS_STORE_DATA, _, _, lc, _, ..] => usize::from(*lc),
            _ => 0,
        };
        let answer = transport.transmit(command).map_err(|error| Failure {
            segment: is_segment_failure(&error),
            error,
            block_len,
        })?;
        exchange.handle_response(&answer).map_err(|e| Failure {
            segment: is_segment_failure_status(&e),
            error: TransportError::Apdu(e),
            block_len,
        })?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lpa_core::apdu::StatusWord;

    #[test]
    fn sizes_step_down_only_when_it_helps() {
        let mut s = SegmentSizer::new(None);
        assert_eq!(s.size(), 255);
        assert!(s.after_failure(255));
        assert_eq!(s.size(), 128);
        // A 100-byte last block failed at 128: 64 is the next size below it.
        assert!(s.after_failure(100));
        assert_eq!(s.size(), 64);
        assert!(!s.after_failure(64));
        assert!(!s.after_failure(0));
        assert_eq!(s.size(), 64);
        // A short single block failing at 255 says nothing about size.
        let mut s = SegmentSizer::new(None);
        assert!(!s.after_failure(6));
        assert_eq!(s.size(), 255);
        // A hint from the transport.
        assert_eq!(SegmentSizer::new(Some(120)).size(), 120);
        assert_eq!(SegmentSizer::new(Some(0)).size(), 1);
        assert_eq!(SegmentSizer::new(Some(999)).size(), 255);
        let mut s = SegmentSizer::new(Some(120));
        assert!(s.after_failure(120));
        assert_eq!(s.size(), 64);
    }

    #[test]
    fn segment_failures_are_recognised() {
        assert!(is_segment_failure(&TransportError::Refused("ERROR".into())));
        assert!(!is_segment_failure(&TransportError::Timeout {
            what: "x".into()
        }));
        assert!(!is_segment_failure(&TransportError::Io("x".into())));
        let status = |sw, ins| ApduError::Status {
            sw: StatusWord(sw),
            ins,
            block: 1,
        };
        assert!(is_segment_failure_status(&status(0x6700, 0xE2)));
        assert!(!is_segment_failure_status(&status(0x6700, 0xC0)));
        assert!(is_segment_failure_status(&status(0x6601, 0xC0)));
        assert!(!is_segment_failure_status(&status(0x6A80, 0xE2)));
        assert!(is_segment_failure(&TransportError::Apdu(status(
            0x6700, 0xE2
        ))));
    }

    /// A transport that refuses any APDU with more than `max` data bytes, and answers every
    /// block of an ES10 command with 9000, the last one with `BF2D02A000` (or always fails).
    struct Limited {
        max: usize,
        sent: Vec<Vec<u8>>,
        always_refuse: bool,
    }

    impl ApduTransport for Limited {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.sent.push(command.to_vec());
            let lc = usize::from(command[4]);
            if self.always_refuse || lc > self.max {
                return Err(TransportError::Refused("+CME ERROR: 4".into()));
            }
            Ok(if command[2] == 0x91 {
                vec![0xBF, 0x2D, 0x02, 0xA0, 0x00, 0x90, 0x00]
            } else {
                vec![0x90, 0x00]
            })
        }
    }

    #[test]
    fn fallback_restarts_from_block_zero_and_keeps_the_size() {
        let request: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let ch = LogicalChannel::new(1).unwrap();
        let mut t = Limited {
            max: 100,
            sent: Vec::new(),
            always_refuse: false,
        };
        let mut sizer = SegmentSizer::new(None);
        let r = store_data_with_fallback(&mut t, ch, &request, &mut sizer).unwrap();
        assert_eq!(r, [0xBF, 0x2D, 0x02, 0xA0, 0x00]);
        assert_eq!(sizer.size(), 64);
        // 255 refused, 128 refused, then 300 bytes in 64-byte blocks from P2 = 00.
        let p2_lc: Vec<(u8, u8)> = t.sent.iter().map(|c| (c[3], c[4])).collect();
        assert_eq!(
            p2_lc,
            vec![
                (0, 255),
                (0, 128),
                (0, 64),
                (1, 64),
                (2, 64),
                (3, 64),
                (4, 44)
            ]
        );
        // The next command starts at 64 straight away.
        t.sent.clear();
        store_data_with_fallback(&mut t, ch, &request, &mut sizer).unwrap();
        assert_eq!(t.sent[0][4], 64);
    }

    #[test]
    fn fallback_is_bounded() {
        let ch = LogicalChannel::new(1).unwrap();
        let mut t = Limited {
            max: 255,
            sent: Vec::new(),
            always_refuse: true,
        };
        let mut sizer = SegmentSizer::new(None).with_max_restarts(2);
        let err =
            store_data_with_fallback(&mut t, ch, &[0xBF, 0x3E, 0x00], &mut sizer).unwrap_err();
        assert!(
            matches!(err, TransportError::Refused(ref s) if s.contains("CME")),
            "{err}"
        );
        assert_eq!(t.sent.len(), 3, "the first try and two restarts");
        assert_eq!(sizer.size(), 255, "a 3-byte block says nothing about size");
    }
}
