//! The APDU front end of the software eUICC: logical channels, SELECT, TERMINAL CAPABILITY,
//! STORE DATA reassembly and GET RESPONSE, answering every malformed command with the status
//! word ISO/IEC 7816-4 and ETSI TS 102 221 give for it.
//!
//! The order of checks for each command follows ISO/IEC 7816-4 §5.1: the class byte (`6E00`,
//! `6881` for a channel that is not open, `6882`/`6884` for secure messaging / chaining), the
//! instruction (`6D00`), the class the instruction needs (`6E00`), the lengths (`6700`), P1-P2
//! (`6A86`), then the data and the state.

use lpa_core::apdu::{
    CommandApdu, INS_GET_RESPONSE, INS_MANAGE_CHANNEL, INS_SELECT, INS_STORE_DATA,
    INS_TERMINAL_CAPABILITY, LogicalChannel, STORE_DATA_P1_LAST_BLOCK, STORE_DATA_P1_MORE_BLOCKS,
};
use lpa_core::tlv::{Tag, Tlv};

use super::signed_data::tlv;

/// Status words the front end answers with.
pub(crate) mod sw {
    /// Normal ending.
    pub const OK: u16 = 0x9000;
    /// Wrong length (Lc / Le absent or inconsistent).
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Technical problem, no precise diagnosis (the random generator or signing failed).
    pub const TECHNICAL_PROBLEM: u16 = 0x6F00;
    /// Memory problem (the state file could not be written).
    pub const MEMORY_FAILURE: u16 = 0x6581;
    /// Logical channel not supported / not open.
    pub const CHANNEL_NOT_SUPPORTED: u16 = 0x6881;
    /// Secure messaging not supported.
    pub const SECURE_MESSAGING_NOT_SUPPORTED: u16 = 0x6882;
    /// Command chaining not supported.
    pub const CHAINING_NOT_SUPPORTED: u16 = 0x6884;
    /// Conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Incorrect parameters in the data field.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// Function not supported (no free logical channel).
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    /// File or application not found.
    pub const NOT_FOUND: u16 = 0x6A82;
    /// Not enough memory space.
    pub const NOT_ENOUGH_MEMORY: u16 = 0x6A84;
    /// Incorrect parameters P1-P2.
    pub const WRONG_P1P2: u16 = 0x6A86;
    /// Referenced data not found.
    pub const REFERENCED_DATA_NOT_FOUND: u16 = 0x6A88;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

/// What the ES10 layer answers to one complete STORE DATA sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Response data (possibly empty) with `9000`.
    Data(Vec<u8>),
    /// A status word without data.
    Status(u16),
}

/// The ES10 layer behind the front end.
pub(crate) trait Es10Handler {
    /// Processes one reassembled STORE DATA sequence.
    fn handle_es10(&mut self, request: &[u8]) -> Reply;
}

/// An application that can be selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum App {
    /// The ISD-R: answers ES10.
    IsdR,
    /// The ECASD.
    Ecasd,
}

/// A STORE DATA sequence being received.
#[derive(Clone, Debug, Default)]
struct Reassembly {
    data: Vec<u8>,
    next_block: u16,
}

/// Response data waiting for GET RESPONSE.
#[derive(Clone, Debug, Default)]
struct Pending {
    data: Vec<u8>,
    offset: usize,
}

impl Pending {
    fn remaining(&self) -> &[u8] {
        self.data.get(self.offset..).unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default)]
struct ChannelState {
    open: bool,
    selected: Option<App>,
    reassembly: Option<Reassembly>,
    pending: Option<Pending>,
}

/// Limits and AIDs of the front end.
#[derive(Clone, Debug)]
pub(crate) struct FrontEndConfig {
    pub isd_r_aid: Vec<u8>,
    pub ecasd_aid: Vec<u8>,
    pub response_threshold: usize,
    pub max_request_size: usize,
    pub require_terminal_capability: bool,
}

/// Channels 0..=19 and what each has selected, received and still has to send.
#[derive(Clone, Debug)]
pub(crate) struct FrontEnd {
    config: FrontEndConfig,
    channels: Vec<ChannelState>,
    terminal_capability: Option<Vec<u8>>,
}

/// The response bytes: data then SW1 SW2.
fn answer(data: &[u8], sw: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&sw.to_be_bytes());
    out
}

fn status(sw: u16) -> Vec<u8> {
    answer(&[], sw)
}

/// The logical channel and class of a CLA byte (ISO/IEC 7816-4 §5.4.1, ETSI TS 102 221
/// §10.1.1): `Ok((channel, proprietary))` or the status word refusing it.
fn decode_cla(cla: u8) -> Result<(usize, bool), u16> {
    if cla == 0xFF {
        return Err(sw::CLA_NOT_SUPPORTED);
    }
    let proprietary = cla & 0x80 != 0;
    let base = cla & 0x7F;
    match base {
        // First interindustry coding: b4-b3 secure messaging, b2-b1 channel.
        0x00..=0x0F if base & 0x0C != 0 => Err(sw::SECURE_MESSAGING_NOT_SUPPORTED),
        0x00..=0x0F => Ok((usize::from(base & 0x03), proprietary)),
        // b5: command chaining.
        0x10..=0x1F => Err(sw::CHAINING_NOT_SUPPORTED),
        0x20..=0x3F => Err(sw::CLA_NOT_SUPPORTED),
        // Further interindustry coding: b6 secure messaging, b5 chaining, b4-b1 channel - 4.
        _ if base & 0x20 != 0 => Err(sw::SECURE_MESSAGING_NOT_SUPPORTED),
        _ if base & 0x10 != 0 => Err(sw::CHAINING_NOT_SUPPORTED),
        _ => Ok((4 + usize::from(base & 0x0F), proprietary)),
    }
}

impl FrontEnd {
    pub fn new(config: FrontEndConfig) -> Self {
        let mut channels =
            vec![ChannelState::default(); usize::from(LogicalChannel::MAX_NUMBER) + 1];
        if let Some(basic) = channels.first_mut() {
            basic.open = true;
        }
        FrontEnd {
            config,
            channels,
            terminal_capability: None,
        }
    }

    /// Power cycle: only the basic channel is open and nothing is selected.
    pub fn reset(&mut self) {
        *self = FrontEnd::new(self.config.clone());
    }

    /// The last TERMINAL CAPABILITY template received since the last reset.
    pub fn terminal_capability(&self) -> Option<&[u8]> {
        self.terminal_capability.as_deref()
    }

    /// Which channels are open.
    pub fn open_channels(&self) -> Vec<u8> {
        (0u8..)
            .zip(&self.channels)
            .filter(|(_, c)| c.open)
            .map(|(n, _)| n)
            .collect()
    }

    fn channel_mut(&mut self, n: usize) -> Option<&mut ChannelState> {
        self.channels.get_mut(n)
    }

    /// Processes one command APDU.
    pub fn transmit(&mut self, command: &[u8], es10: &mut dyn Es10Handler) -> Vec<u8> {
        let (Some(&cla), Some(&ins)) = (command.first(), command.get(1)) else {
            return status(sw::WRONG_LENGTH);
        };
        let (channel, proprietary) = match decode_cla(cla) {
            Ok(c) => c,
            Err(sw) => return status(sw),
        };
        if !self.channels.get(channel).is_some_and(|c| c.open) {
            return status(sw::CHANNEL_NOT_SUPPORTED);
        }
        let needs_proprietary = match ins {
            INS_MANAGE_CHANNEL | INS_SELECT | INS_GET_RESPONSE => false,
            INS_STORE_DATA | INS_TERMINAL_CAPABILITY => true,
            _ => return status(sw::INS_NOT_SUPPORTED),
        };
        if needs_proprietary != proprietary {
            return status(sw::CLA_NOT_SUPPORTED);
        }
        let Ok(apdu) = CommandApdu::parse(command) else {
            return status(sw::WRONG_LENGTH);
        };
        if ins != INS_GET_RESPONSE
            && let Some(state) = self.channel_mut(channel)
        {
            // Any other command ends the wait for GET RESPONSE (ISO/IEC 7816-3 §12.2.2).
            state.pending = None;
        }
        match ins {
            INS_MANAGE_CHANNEL => self.manage_channel(channel, &apdu),
            INS_SELECT => self.select(channel, &apdu),
            INS_GET_RESPONSE => self.get_response(channel, &apdu),
            INS_TERMINAL_CAPABILITY => self.terminal_capability_command(&apdu),
            _ => self.store_data(channel, &apdu, es10),
        }
    }

    /// MANAGE CHANNEL (ETSI TS 102 221 §11.1.17).
    fn manage_channel(&mut self, channel: usize, apdu: &CommandApdu<'_>) -> Vec<u8> {
        if !apdu.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        match (apdu.p1, apdu.p2) {
            (0x00, 0x00) => {
                // The card picks the channel and returns its number: Le must ask for it.
                if apdu.le.is_none() {
                    return status(sw::WRONG_LENGTH);
                }
                let free = self
                    .channels
                    .iter()
                    .enumerate()
                    .skip(1)
                    .find(|(_, c)| !c.open)
                    .map(|(n, _)| n);
                match free {
                    Some(n) => {
                        self.open(channel, n);
                        answer(&[n as u8], sw::OK)
                    }
                    None => status(sw::FUNCTION_NOT_SUPPORTED),
                }
            }
            (0x00, n) if (1..=LogicalChannel::MAX_NUMBER).contains(&n) => {
                let n = usize::from(n);
                if self.channels.get(n).is_some_and(|c| c.open) {
                    return status(sw::WRONG_P1P2);
                }
                self.open(channel, n);
                status(sw::OK)
            }
            (0x80, n) if n <= LogicalChannel::MAX_NUMBER => {
                // P2 = 00 closes the channel the command came on (ISO/IEC 7816-4 §11.1.2).
                let target = if n == 0 { channel } else { usize::from(n) };
                if target == 0 {
                    return status(sw::WRONG_P1P2);
                }
                match self.channel_mut(target) {
                    Some(c) if c.open => {
                        *c = ChannelState::default();
                        status(sw::OK)
                    }
                    _ => status(sw::REFERENCED_DATA_NOT_FOUND),
                }
            }
            _ => status(sw::WRONG_P1P2),
        }
    }

    /// Opens channel `n` from `origin`: opened from the basic channel nothing is selected,
    /// from another channel its selection is inherited (ETSI TS 102 221 §11.1.17.2).
    fn open(&mut self, origin: usize, n: usize) {
        let inherited = if origin == 0 {
            None
        } else {
            self.channels.get(origin).and_then(|c| c.selected)
        };
        if let Some(c) = self.channel_mut(n) {
            *c = ChannelState {
                open: true,
                selected: inherited,
                reassembly: None,
                pending: None,
            };
        }
    }

    /// SELECT by DF name (ETSI TS 102 221 §11.1.1): the ISD-R or the ECASD.
    fn select(&mut self, channel: usize, apdu: &CommandApdu<'_>) -> Vec<u8> {
        if apdu.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        match apdu.p1 {
            0x04 => {}
            // Selection by file identifier or path: this card has no file system.
            0x00 | 0x01 | 0x02 | 0x03 | 0x08 | 0x09 => return status(sw::NOT_FOUND),
            _ => return status(sw::WRONG_P1P2),
        }
        if !matches!(apdu.p2, 0x00 | 0x04 | 0x0C) {
            return status(sw::WRONG_P1P2);
        }
        if apdu.data.len() > 16 {
            return status(sw::WRONG_LENGTH);
        }
        let app = if apdu.data == self.config.isd_r_aid.as_slice() {
            App::IsdR
        } else if apdu.data == self.config.ecasd_aid.as_slice() {
            App::Ecasd
        } else {
            return status(sw::NOT_FOUND);
        };
        if let Some(c) = self.channel_mut(channel) {
            c.selected = Some(app);
            c.reassembly = None;
        }
        let aid = tlv(Tag(0x84), apdu.data);
        let response = match apdu.p2 {
            0x0C => Vec::new(),
            0x04 => tlv(Tag(0x62), &aid),
            _ => {
                // FCI (GlobalPlatform Card Specification §11.9.3.1): AID and the proprietary
                // template with the largest command data field, 255.
                let proprietary = tlv(Tag(0xA5), &tlv(Tag(0x9F65), &[0xFF]));
                tlv(Tag(0x6F), &[aid, proprietary].concat())
            }
        };
        self.respond(channel, response, apdu.le)
    }

    /// TERMINAL CAPABILITY (ETSI TS 102 221 §11.1.19): one `A9` template, recorded.
    fn terminal_capability_command(&mut self, apdu: &CommandApdu<'_>) -> Vec<u8> {
        if apdu.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        if (apdu.p1, apdu.p2) != (0x00, 0x00) {
            return status(sw::WRONG_P1P2);
        }
        match Tlv::parse(apdu.data) {
            Ok(t) if t.tag() == Tag(0xA9) && t.children().all(|c| c.is_ok()) => {
                self.terminal_capability = Some(apdu.data.to_vec());
                status(sw::OK)
            }
            _ => status(sw::WRONG_DATA),
        }
    }

    /// GET RESPONSE (ETSI TS 102 221 §12.1.1): the next piece of the pending response.
    fn get_response(&mut self, channel: usize, apdu: &CommandApdu<'_>) -> Vec<u8> {
        if !apdu.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        if (apdu.p1, apdu.p2) != (0x00, 0x00) {
            return status(sw::WRONG_P1P2);
        }
        let Some(le) = apdu.le else {
            return status(sw::WRONG_LENGTH);
        };
        let chunk_limit = self.chunk_limit();
        let Some(state) = self.channel_mut(channel) else {
            return status(sw::CHANNEL_NOT_SUPPORTED);
        };
        let Some(pending) = state.pending.as_mut() else {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        };
        let available = pending.remaining().len();
        let le = usize::from(le);
        if le > available {
            // Wrong Le: SW2 gives the exact number of bytes available (ISO/IEC 7816-3 §12.2.2).
            return status(0x6C00 | (available.min(256) & 0xFF) as u16);
        }
        let piece = pending.remaining().get(..le).unwrap_or_default().to_vec();
        pending.offset += le;
        let left = pending.remaining().len();
        if left == 0 {
            state.pending = None;
            answer(&piece, sw::OK)
        } else {
            answer(&piece, more_sw(left.min(chunk_limit)))
        }
    }

    fn chunk_limit(&self) -> usize {
        self.config.response_threshold.clamp(1, 256)
    }

    /// Sends `data` with the command when it is short enough (and within Le), otherwise keeps
    /// it for GET RESPONSE and answers `61xx`.
    fn respond(&mut self, channel: usize, data: Vec<u8>, le: Option<u16>) -> Vec<u8> {
        if data.is_empty() {
            return status(sw::OK);
        }
        let fits_le = le.is_none_or(|le| usize::from(le) >= data.len());
        if data.len() <= self.chunk_limit() && fits_le {
            return answer(&data, sw::OK);
        }
        let first = data.len().min(self.chunk_limit());
        if let Some(state) = self.channel_mut(channel) {
            state.pending = Some(Pending { data, offset: 0 });
        }
        status(more_sw(first))
    }

    /// STORE DATA (GlobalPlatform Card Specification §11.11, SGP.22 §5.7.1).
    fn store_data(
        &mut self,
        channel: usize,
        apdu: &CommandApdu<'_>,
        es10: &mut dyn Es10Handler,
    ) -> Vec<u8> {
        if apdu.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        let last = match apdu.p1 {
            STORE_DATA_P1_MORE_BLOCKS => false,
            STORE_DATA_P1_LAST_BLOCK => true,
            _ => return status(sw::WRONG_P1P2),
        };
        let require_tc = self.config.require_terminal_capability;
        let no_tc = self.terminal_capability.is_none();
        let max = self.config.max_request_size;
        let Some(state) = self.channel_mut(channel) else {
            return status(sw::CHANNEL_NOT_SUPPORTED);
        };
        if state.selected != Some(App::IsdR) || (require_tc && no_tc) {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        // Block 00 always starts a new sequence (an LPA may restart a command after a
        // transport error); any other block must follow the previous one.
        let mut sequence = if apdu.p2 == 0 {
            Reassembly::default()
        } else {
            match state.reassembly.take() {
                Some(r) if r.next_block == u16::from(apdu.p2) => r,
                _ => return status(sw::WRONG_P1P2),
            }
        };
        if sequence.data.len() + apdu.data.len() > max {
            return status(sw::NOT_ENOUGH_MEMORY);
        }
        sequence.data.extend_from_slice(apdu.data);
        sequence.next_block += 1;
        if !last {
            state.reassembly = Some(sequence);
            return status(sw::OK);
        }
        match es10.handle_es10(&sequence.data) {
            Reply::Data(data) => self.respond(channel, data, apdu.le),
            Reply::Status(sw) => status(sw),
        }
    }
}

/// `61xx` for `n` bytes waiting (`6100` is 256).
fn more_sw(n: usize) -> u16 {
    0x6100 | (n.min(256) & 0xFF) as u16
}
