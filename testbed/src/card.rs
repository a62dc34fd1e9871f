//! The seam between an APDU-level card and whatever carries its APDUs (the emulated modem, a
//! PC/SC virtual reader, or a test calling it directly).

use std::sync::{Arc, Mutex};

/// A smart card at the APDU level: a raw command APDU in, response data + SW1 SW2 out.
///
/// Implementations never panic on malformed commands: they answer with the status word
/// ISO 7816-4 gives for the fault (`6700` wrong length, `6D00` unknown INS, `6E00` class not
/// supported, `6A80` bad data, ...).
pub trait Card: Send {
    /// Processes one command APDU and returns the response (data followed by SW1 SW2).
    fn transmit(&mut self, command: &[u8]) -> Vec<u8>;

    /// Power cycle / warm reset: closes logical channels and ends any session state that does
    /// not survive a reset. Persistent state (profiles, notifications) is kept.
    fn reset(&mut self) {}
}

/// A card shared between threads (the modem emulator's reader thread and a test, say).
pub type SharedCard = Arc<Mutex<dyn Card>>;

impl<C: Card + ?Sized> Card for Box<C> {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        (**self).transmit(command)
    }

    fn reset(&mut self) {
        (**self).reset()
    }
}
