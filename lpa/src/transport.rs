//! The seam to the eUICC: raw APDUs in and out, and logical channels.

use core::fmt;

use lpa_core::apdu::{
    self, CommandExchange, ExchangeConfig, LogicalChannel, SelectResponse, Transmit,
};

/// Why a transport could not deliver an APDU or its answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The link to the card failed (serial port, PC/SC reader, OMAPI service...).
    Io(String),
    /// No answer within the deadline.
    Timeout {
        /// What was waited for.
        what: String,
    },
    /// The modem, reader or OS refused the command (e.g. `+CME ERROR`, OMAPI SecurityException).
    Refused(String),
    /// No more logical channels, or the AID could not be selected.
    ChannelUnavailable(String),
    /// The card's answer to a channel management command was malformed or a failure.
    Apdu(apdu::ApduError),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Io(e) => write!(f, "link to the eUICC failed: {e}"),
            TransportError::Timeout { what } => write!(f, "no answer in time: {what}"),
            TransportError::Refused(e) => write!(f, "command refused: {e}"),
            TransportError::ChannelUnavailable(e) => write!(f, "no logical channel: {e}"),
            TransportError::Apdu(e) => write!(f, "channel management failed: {e}"),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<apdu::ApduError> for TransportError {
    fn from(e: apdu::ApduError) -> Self {
        TransportError::Apdu(e)
    }
}

/// A way to exchange APDUs with an eUICC.
///
/// Implementors provide [`ApduTransport::transmit`]. The channel methods have defaults built
/// on MANAGE CHANNEL and SELECT sent through `transmit` (what an AT+CSIM or PC/SC transport
/// wants). Transports where the modem or OS owns the channels (AT+CCHO/CGLA, Android OMAPI)
/// override them, return a channel number of their own choosing, and route each later
/// `transmit` by the channel bits of its CLA byte.
pub trait ApduTransport: Send {
    /// Sends one command APDU; returns the response data followed by SW1 SW2.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Opens a logical channel and selects `aid` on it (ETSI TS 102 221 §11.1.17, ISO 7816-4
    /// §11.1.1). Returns the channel and the SELECT response data (FCI).
    fn open_logical_channel(
        &mut self,
        aid: &[u8],
    ) -> Result<(LogicalChannel, Vec<u8>), TransportError> {
        let channel = apdu::parse_manage_channel_open_response(
            &self.transmit_command(&apdu::manage_channel_open())?,
        )?;
        let select = apdu::select_by_aid(channel, aid, SelectResponse::Fci)?;
        match self.exchange(&select) {
            Ok(fci) => Ok((channel, fci)),
            Err(e) => {
                // Do not leak the channel: the card has few (at most 19, often 3).
                let _ = self.close_logical_channel(channel);
                Err(e)
            }
        }
    }

    /// Closes a logical channel opened by [`ApduTransport::open_logical_channel`].
    fn close_logical_channel(&mut self, channel: LogicalChannel) -> Result<(), TransportError> {
        let answer = self.transmit_command(&apdu::manage_channel_close(channel))?;
        check_sw(&answer)
    }

    /// The largest APDU data field (STORE DATA segment) this link is known to carry, when it
    /// is smaller than 255: modems that refuse long AT+CSIM commands, for instance. The LPA
    /// starts its ES10 segmentation at this size.
    fn max_apdu_data(&self) -> Option<usize> {
        None
    }

    /// Tells the transport a long card operation starts (`true`) or ends (`false`): loading a
    /// Bound Profile Package can take minutes on slow cards, so deadlines must stretch.
    fn set_long_operation(&mut self, _on: bool) {}

    /// Called after enabling or disabling a profile: transports whose modem does not re-read
    /// the card by itself (SGP.22 §3.2.1 expects the device to REFRESH) reset the SIM here.
    /// Every logical channel is gone afterwards.
    fn after_profile_switch(&mut self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Encodes and transmits one command.
    fn transmit_command(
        &mut self,
        command: &apdu::CommandApdu<'_>,
    ) -> Result<Vec<u8>, TransportError> {
        let mut buf = [0u8; apdu::MAX_SHORT_COMMAND];
        let n = command.encode(&mut buf)?;
        self.transmit(buf.get(..n).unwrap_or_default())
    }

    /// Sends one command, following `61xx`/`6Cxx`, and returns the response data on success.
    fn exchange(&mut self, command: &apdu::CommandApdu<'_>) -> Result<Vec<u8>, TransportError> {
        let mut response = vec![0u8; 4096];
        let mut ex = CommandExchange::new(*command, ExchangeConfig::default(), &mut response)?;
        let mut buf = [0u8; apdu::MAX_SHORT_COMMAND];
        loop {
            match ex.poll_transmit(&mut buf)? {
                Transmit::Command(bytes) => {
                    let answer = self.transmit(bytes)?;
                    ex.handle_response(&answer)?;
                }
                Transmit::Done { len } => {
                    return Ok(ex.response().get(..len).unwrap_or_default().to_vec());
                }
            }
        }
    }
}

/// Fails unless `answer` ends in a success status word.
fn check_sw(answer: &[u8]) -> Result<(), TransportError> {
    let r = apdu::ResponseApdu::parse(answer)?;
    if r.sw.is_success() {
        Ok(())
    } else {
        Err(TransportError::Apdu(apdu::ApduError::Status {
            sw: r.sw,
            ins: apdu::INS_MANAGE_CHANNEL,
            block: 0,
        }))
    }
}

impl<T: ApduTransport + ?Sized> ApduTransport for Box<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }

    fn open_logical_channel(
        &mut self,
        aid: &[u8],
    ) -> Result<(LogicalChannel, Vec<u8>), TransportError> {
        (**self).open_logical_channel(aid)
    }

    fn close_logical_channel(&mut self, channel: LogicalChannel) -> Result<(), TransportError> {
        (**self).close_logical_channel(channel)
    }

    fn max_apdu_data(&self) -> Option<usize> {
        (**self).max_apdu_data()
    }

    fn set_long_operation(&mut self, on: bool) {
        (**self).set_long_operation(on)
    }

    fn after_profile_switch(&mut self) -> Result<(), TransportError> {
        (**self).after_profile_switch()
    }
}
