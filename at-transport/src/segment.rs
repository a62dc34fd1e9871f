//! The transport's part of the adaptive STORE DATA segment size: when a modem cannot carry a
//! block, [`crate::AtTransport`] lowers the ES10 client's shared segment size (255 → 128 → 64)
//! and reports the block as refused; the smaller size stays for the rest of the session.
//!
//! Why: many modems have line buffers or APDU limits below the 261 bytes of a full short APDU
//! (`AT+CSIM` of a 255-byte STORE DATA is a 540-character line). They answer `ERROR`, a
//! `+CME ERROR`, or a status word of their own (`6700` wrong length; `6601` on some) instead of
//! passing the block on, and the card never sees it.
//!
//! # Who does what
//!
//! ```text
//!   Es10Client (lpa)                      AtTransport (this crate)                modem
//!   STORE DATA block, Lc = 255  --------> AT+CSIM=..  ---------------------------> ERROR
//!                                         SegmentSize handle 255 -> 128
//!   <----- TransportError::Refused -----
//!   size lowered, the card cannot have
//!   executed the command: send it again
//!   from block 0 (P2 = 00) at 128
//! ```
//!
//! The transport only learns and signals ([`crate::AtTransport::share_segment_size`]). Whether
//! the command may be sent again is the ES10 client's decision alone
//! (`lpa::es10::Es10Client`): it resends only while the card cannot have executed the command
//! — no block of it refused after its last block was answered — and never more than a few
//! times. A lost answer to a last block (a deadline, a broken line) is never resent: for a
//! BPP `86` segment (MAC chaining, SGP.22 §2.5.6) or an EnableProfile/DeleteProfile the card
//! may have executed it. Starting again at block 0 is what the card expects: a STORE DATA with
//! P2 = 0 begins a new command (GlobalPlatform Card Specification §11.11.2.2), so the partial
//! one is dropped.

/// The segment sizes the transport steps through, largest first.
pub const SEGMENT_SIZES: [usize; 3] = [255, 128, 64];

/// The segment size after a STORE DATA block of `block_len` data bytes did not pass the modem
/// at segment size `current`: the largest of [`SEGMENT_SIZES`] below both. `None` when no
/// smaller size would help (the block was 64 bytes or less: a momentary failure, not a size
/// problem).
pub(crate) fn smaller_segment(current: usize, block_len: usize) -> Option<usize> {
    let limit = current.min(block_len);
    SEGMENT_SIZES.iter().copied().find(|&s| s < limit)
}

/// Whether an answer to a STORE DATA block is a size status word alone: `6700` (wrong length)
/// or `6601`, what some modems answer instead of passing a block on.
pub(crate) fn is_size_status(answer: &[u8]) -> bool {
    matches!(answer, [0x67, 0x00] | [0x66, 0x01])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_step_down_only_when_it_helps() {
        assert_eq!(smaller_segment(255, 255), Some(128));
        // A 100-byte last block failed at 128: 64 is the next size below it.
        assert_eq!(smaller_segment(128, 100), Some(64));
        assert_eq!(smaller_segment(64, 64), None);
        assert_eq!(smaller_segment(64, 0), None);
        // A short single block failing at 255 says nothing about size.
        assert_eq!(smaller_segment(255, 6), None);
        // A size below the table (a hint from a cache or a profile).
        assert_eq!(smaller_segment(120, 120), Some(64));
        assert_eq!(smaller_segment(40, 40), None);
    }

    #[test]
    fn size_status_words_are_recognised() {
        assert!(is_size_status(&[0x67, 0x00]));
        assert!(is_size_status(&[0x66, 0x01]));
        assert!(!is_size_status(&[0x6A, 0x80]));
        assert!(!is_size_status(&[0x90, 0x00]));
        // Data before the status word: the card answered, the block passed.
        assert!(!is_size_status(&[0x01, 0x67, 0x00]));
    }
}
