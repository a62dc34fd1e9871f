//! APDU layer (`lpa_core::apdu`): command/response parsing and the sans-IO exchanges.
//!
//! Byte 0 of the input picks a mode:
//! - 0: `CommandApdu::parse`; what parses must re-encode to the same bytes and parse equal.
//! - 1: `ResponseApdu::parse`, the status word helpers, and the MANAGE CHANNEL answer parser.
//! - 2: a `StoreDataExchange` driven by a card whose answers come from the input.
//! - 3: a `CommandExchange`, same card.
//! - 4: the command builders (SELECT, GET RESPONSE, MANAGE CHANNEL, TERMINAL CAPABILITY,
//!   `StoreDataBlocks`) with parameters from the input; every command must encode and parse
//!   back.
//!
//! The exchanges are checked against a small model of the documented rules (`9000`/`91xx`/`92xx`
//! end a block, `61xx` asks for GET RESPONSE, `6Cxx` re-sends once with the corrected Le, data on
//! an intermediate block ends the exchange early, any other status word fails). The card answers
//! are the input's chunks, repeated forever once used up: the exchange must end (done or failed)
//! within `blocks * (max_response_rounds + 1) + 1` answers. Never a panic, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::apdu::{
    ApduError, CommandApdu, CommandExchange, ExchangeConfig, INS_GET_RESPONSE, INS_STORE_DATA,
    LogicalChannel, MAX_SHORT_COMMAND, ResponseApdu, STORE_DATA_P1_LAST_BLOCK,
    STORE_DATA_P1_MORE_BLOCKS, SelectResponse, StatusWord, StoreDataBlocks, StoreDataExchange,
    TerminalCapability, Transmit, get_response, manage_channel_close, manage_channel_open,
    parse_manage_channel_open_response, select_by_aid,
};
use lpa_core::apdu::{EuiccCapabilities, ISD_R_AID};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => command_apdu(rest),
        1 => response_apdu(rest),
        2 => store_data_exchange(rest),
        3 => command_exchange(rest),
        _ => builders(rest),
    }
});

// ------------------------------------------------------------------------------------------------
// Parsers
// ------------------------------------------------------------------------------------------------

fn command_apdu(bytes: &[u8]) {
    let Ok(apdu) = CommandApdu::parse(bytes) else {
        return;
    };
    check_command_round_trip(&apdu, Some(bytes));
}

/// Encodes `apdu`, parses the encoding back and compares; with `original`, the encoding must be
/// exactly those bytes (short APDUs have one encoding per case).
fn check_command_round_trip(apdu: &CommandApdu<'_>, original: Option<&[u8]>) {
    apdu.validate()
        .unwrap_or_else(|e| panic!("{apdu:?} does not validate: {e}"));
    let len = apdu.encoded_len();
    assert!(len <= MAX_SHORT_COMMAND, "{apdu:?}: {len} bytes");
    let mut buf = [0u8; MAX_SHORT_COMMAND];
    let n = apdu
        .encode(&mut buf)
        .unwrap_or_else(|e| panic!("{apdu:?} does not encode: {e}"));
    assert_eq!(n, len, "encoded_len() disagrees with encode()");
    let encoded = &buf[..n];
    if let Some(original) = original {
        assert_eq!(encoded, original, "{apdu:?} re-encodes differently");
    }
    let again = CommandApdu::parse(encoded)
        .unwrap_or_else(|e| panic!("encoding {encoded:02X?} of {apdu:?} does not parse: {e}"));
    // Case 1 and a case 2 command with Le = 256 are both possible readings of some commands
    // only if the encoding is ambiguous; it is not for short APDUs, so demand equality.
    assert_eq!(&again, apdu, "command changed in a round trip");
    // A buffer one byte short is an error, never a panic or a partial write.
    if n > 0 {
        let mut small = vec![0u8; n - 1];
        assert!(matches!(
            apdu.encode(&mut small),
            Err(ApduError::BufferTooSmall { .. })
        ));
    }
}

fn response_apdu(bytes: &[u8]) {
    let _ = parse_manage_channel_open_response(bytes).map_err(|e| e.to_string());
    let Ok(response) = ResponseApdu::parse(bytes) else {
        assert!(bytes.len() < 2);
        return;
    };
    assert_eq!(response.data.len() + 2, bytes.len());
    let mut buf = vec![0u8; response.encoded_len()];
    let n = response.encode(&mut buf).expect("sized with encoded_len");
    assert_eq!(&buf[..n], bytes, "response re-encodes differently");
    assert_eq!(ResponseApdu::parse(&buf[..n]), Ok(response));
    check_status_word(response.sw);
}

fn check_status_word(sw: StatusWord) {
    assert_eq!(StatusWord::from_bytes(sw.sw1(), sw.sw2()), sw);
    assert_eq!(sw.to_bytes(), [sw.sw1(), sw.sw2()]);
    let _ = (sw.meaning(), sw.to_string(), format!("{sw:?}"));
    if let Some(le) = sw.response_bytes_available() {
        assert!((1..=256).contains(&le));
        assert_eq!(sw.sw1(), 0x61);
    }
    if let Some(le) = sw.corrected_le() {
        assert!((1..=256).contains(&le));
        assert_eq!(sw.sw1(), 0x6C);
    }
    assert!(!(sw.is_success() && sw.response_bytes_available().is_some()));
}

// ------------------------------------------------------------------------------------------------
// Exchanges
// ------------------------------------------------------------------------------------------------

/// Reads the exchange parameters at the start of the input.
struct Params {
    channel: LogicalChannel,
    config: ExchangeConfig,
    max_rounds: u16,
    response_capacity: usize,
}

fn params(bytes: &[u8]) -> Option<(Params, &[u8])> {
    let (&[ch, seg, rounds, cap_hi, cap_lo], rest) = bytes.split_first_chunk::<5>()?;
    let channel = match LogicalChannel::new(ch) {
        Ok(c) => c,
        Err(e) => {
            assert!(ch > LogicalChannel::MAX_NUMBER);
            assert_eq!(e, ApduError::InvalidChannel { channel: ch });
            LogicalChannel::new(ch % (LogicalChannel::MAX_NUMBER + 1)).expect("in range")
        }
    };
    assert_eq!(LogicalChannel::from_cla(channel.cla(false)), channel);
    assert_eq!(LogicalChannel::from_cla(channel.cla(true)), channel);
    // Few rounds keep executions fast; 255 selects the default (1024) to cover it too.
    let max_rounds = if rounds == 255 {
        ExchangeConfig::default().max_response_rounds
    } else {
        u16::from(rounds % 16)
    };
    let config = ExchangeConfig::new()
        .with_segment_size(usize::from(seg))
        .with_max_response_rounds(max_rounds);
    let response_capacity = usize::from(u16::from_be_bytes([cap_hi, cap_lo]));
    Some((
        Params {
            channel,
            config,
            max_rounds,
            response_capacity,
        },
        rest,
    ))
}

/// The card: the input split into answers, each `len` then `len` bytes, replayed in a loop.
struct Card<'a> {
    answers: Vec<&'a [u8]>,
    next: usize,
}

impl<'a> Card<'a> {
    fn new(mut bytes: &'a [u8]) -> Self {
        let mut answers = Vec::new();
        while let Some((&len, rest)) = bytes.split_first() {
            let len = usize::from(len).min(rest.len());
            let (answer, rest) = rest.split_at(len);
            answers.push(answer);
            bytes = rest;
        }
        if answers.is_empty() {
            answers.push(&[0x90, 0x00]);
        }
        Card { answers, next: 0 }
    }

    fn answer(&mut self) -> &'a [u8] {
        let a = self.answers[self.next % self.answers.len()];
        self.next += 1;
        a
    }
}

/// What the model expects the exchange to send next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The current command (STORE DATA block, or the single command) with this Le.
    Command { le: Option<u16> },
    /// GET RESPONSE with this Le.
    GetResponse { le: u16 },
}

/// Applies the documented rules to one answer. Returns the next expectation, or `None` when the
/// command is complete (success status word), or `Err(())` when the exchange must fail.
fn model_step(
    expect: Expect,
    le_corrected: &mut bool,
    rounds: &mut u16,
    max_rounds: u16,
    answer: &[u8],
    collected: &mut Vec<u8>,
) -> Result<Option<Expect>, ()> {
    let Some((data, &[sw1, sw2])) = answer.split_last_chunk::<2>() else {
        return Err(());
    };
    let sw = StatusWord::from_bytes(sw1, sw2);
    if sw.is_success() {
        collected.extend_from_slice(data);
        return Ok(None);
    }
    if let Some(le) = sw.response_bytes_available() {
        collected.extend_from_slice(data);
        if *rounds >= max_rounds {
            return Err(());
        }
        *rounds += 1;
        *le_corrected = false;
        return Ok(Some(Expect::GetResponse { le }));
    }
    if let Some(le) = sw.corrected_le() {
        if *le_corrected || *rounds >= max_rounds {
            return Err(());
        }
        *rounds += 1;
        *le_corrected = true;
        return Ok(Some(match expect {
            Expect::Command { .. } => Expect::Command { le: Some(le) },
            Expect::GetResponse { .. } => Expect::GetResponse { le },
        }));
    }
    Err(())
}

fn store_data_exchange(bytes: &[u8]) {
    let Some((p, rest)) = params(bytes) else {
        return;
    };
    let Some((&[len_hi, len_lo], rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    // The request: a recognisable pattern, up to 64 KiB (more than 256 blocks of 255 bytes).
    let request: Vec<u8> = (0..usize::from(u16::from_be_bytes([len_hi, len_lo])))
        .map(|i| (i % 251) as u8)
        .collect();
    let mut response_buf = vec![0u8; p.response_capacity];
    let segment = p.config.segment_size;
    let mut exchange =
        match StoreDataExchange::new(p.channel, &request, p.config, &mut response_buf) {
            Ok(x) => x,
            Err(e) => {
                let blocks = if segment == 0 {
                    0
                } else {
                    request.len().div_ceil(segment)
                };
                assert!(
                    segment == 0 || segment > 255 || request.is_empty() || blocks > 256,
                    "StoreDataExchange refused a valid request: {e}"
                );
                return;
            }
        };
    assert!((1..=255).contains(&segment) && !request.is_empty());
    let blocks = request.len().div_ceil(segment);
    assert!(blocks <= 256);
    let last_block = blocks - 1;

    let mut card = Card::new(rest);
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    let max_answers = blocks * (usize::from(p.max_rounds) + 1) + 1;

    // The model.
    let mut block = 0usize;
    let mut expect = Expect::Command { le: None };
    let mut le_corrected = false;
    let mut rounds = 0u16;
    let mut collected = Vec::new();
    let mut model_failed = false;
    let mut model_done = false;
    let mut answers = 0usize;

    loop {
        // Occasionally retry the poll: the same command must come out again.
        let first = match exchange.poll_transmit(&mut apdu) {
            Ok(Transmit::Command(c)) => Some(c.to_vec()),
            Ok(Transmit::Done { len }) => {
                assert!(
                    model_done && !model_failed,
                    "exchange done, model not: {expect:?}"
                );
                assert_eq!(len, collected.len());
                assert_eq!(exchange.response(), &collected[..]);
                assert!(exchange.is_finished());
                assert!(exchange.final_status().is_some_and(StatusWord::is_success));
                assert_eq!(usize::from(exchange.block()), block);
                assert_eq!(exchange.answered_early(), block != last_block);
                // Polling a finished exchange keeps saying done; answers are refused.
                assert!(matches!(
                    exchange.poll_transmit(&mut apdu),
                    Ok(Transmit::Done { .. })
                ));
                assert_eq!(
                    exchange.handle_response(&[0x90, 0x00]),
                    Err(ApduError::NoCommandOutstanding)
                );
                return;
            }
            Err(e) => {
                assert!(
                    model_failed,
                    "exchange failed ({e}), model did not: {expect:?}"
                );
                assert!(exchange.is_finished());
                assert_eq!(
                    exchange.poll_transmit(&mut apdu),
                    Err(e),
                    "error not repeated"
                );
                assert_eq!(
                    exchange.handle_response(&[0x90, 0x00]),
                    Err(ApduError::NoCommandOutstanding)
                );
                return;
            }
        };
        let command = first.expect("command");
        assert!(
            !model_done && !model_failed,
            "exchange goes on, model ended"
        );
        if answers % 7 == 3 {
            match exchange.poll_transmit(&mut apdu) {
                Ok(Transmit::Command(c)) => {
                    assert_eq!(c, &command[..], "retry changed the command")
                }
                other => panic!("retry gave {other:?}"),
            }
        }

        // The command must be what the model expects.
        let parsed = CommandApdu::parse(&command)
            .unwrap_or_else(|e| panic!("exchange sent unparseable {command:02X?}: {e}"));
        match expect {
            Expect::Command { le } => {
                let start = block * segment;
                let end = (start + segment).min(request.len());
                let p1 = if block == last_block {
                    STORE_DATA_P1_LAST_BLOCK
                } else {
                    STORE_DATA_P1_MORE_BLOCKS
                };
                let want = CommandApdu::new(p.channel.cla(true), INS_STORE_DATA, p1, block as u8)
                    .with_data(&request[start..end]);
                let want = match le {
                    Some(le) => want.with_le(le),
                    None => want,
                };
                assert_eq!(parsed, want, "wrong STORE DATA command");
            }
            Expect::GetResponse { le } => {
                assert_eq!(parsed, get_response(p.channel, le), "wrong GET RESPONSE");
            }
        }
        assert_eq!(usize::from(exchange.block()), block);

        // The card answers; the model and the exchange must agree.
        let answer = card.answer();
        answers += 1;
        assert!(
            answers <= max_answers,
            "exchange still running after {answers} answers ({blocks} blocks, {} rounds)",
            p.max_rounds
        );
        let result = exchange.handle_response(answer);
        match model_step(
            expect,
            &mut le_corrected,
            &mut rounds,
            p.max_rounds,
            answer,
            &mut collected,
        ) {
            Err(()) => model_failed = true,
            Ok(Some(next)) => expect = next,
            Ok(None) => {
                if block == last_block || !collected.is_empty() {
                    model_done = true;
                } else {
                    block += 1;
                    expect = Expect::Command { le: None };
                    le_corrected = false;
                    rounds = 0;
                }
            }
        }
        if collected.len() > p.response_capacity {
            // The exchange must have refused to overflow the caller's buffer.
            assert!(
                matches!(result, Err(ApduError::ResponseBufferTooSmall { .. })),
                "{} bytes collected into a {}-byte buffer: {result:?}",
                collected.len(),
                p.response_capacity
            );
            return;
        }
        match result {
            Ok(()) => assert!(
                !model_failed,
                "exchange accepted {answer:02X?}, model did not"
            ),
            Err(e) => {
                assert!(
                    model_failed,
                    "exchange refused {answer:02X?} with {e}, model did not"
                );
                let _ = e.to_string();
                if let Some(sw) = e.status_word() {
                    check_status_word(sw);
                }
            }
        }
    }
}

fn command_exchange(bytes: &[u8]) {
    let Some((p, rest)) = params(bytes) else {
        return;
    };
    let Some((&cmd_len, rest)) = rest.split_first() else {
        return;
    };
    let cmd_len = usize::from(cmd_len).min(rest.len());
    let (cmd_bytes, rest) = rest.split_at(cmd_len);
    let command = match CommandApdu::parse(cmd_bytes) {
        Ok(c) => c,
        Err(_) => select_by_aid(p.channel, &ISD_R_AID, SelectResponse::Fci).expect("valid AID"),
    };
    let mut response_buf = vec![0u8; p.response_capacity];
    let mut exchange = match CommandExchange::new(command, p.config, &mut response_buf) {
        Ok(x) => x,
        Err(e) => panic!("parsed command {command:?} refused: {e}"),
    };
    let mut card = Card::new(rest);
    let mut apdu = [0u8; MAX_SHORT_COMMAND];
    let max_answers = usize::from(p.max_rounds) + 1;

    let mut expect = Expect::Command { le: command.le };
    let mut le_corrected = false;
    let mut rounds = 0u16;
    let mut collected = Vec::new();
    let mut model_failed = false;
    let mut model_done = false;
    let mut answers = 0usize;

    loop {
        let sent = match exchange.poll_transmit(&mut apdu) {
            Ok(Transmit::Command(c)) => c.to_vec(),
            Ok(Transmit::Done { len }) => {
                assert!(model_done && !model_failed);
                assert_eq!(len, collected.len());
                assert_eq!(exchange.response(), &collected[..]);
                assert!(exchange.is_finished());
                assert!(exchange.final_status().is_some_and(StatusWord::is_success));
                return;
            }
            Err(e) => {
                assert!(model_failed, "exchange failed ({e}), model did not");
                assert_eq!(exchange.poll_transmit(&mut apdu), Err(e));
                return;
            }
        };
        assert!(!model_done && !model_failed);
        let parsed = CommandApdu::parse(&sent)
            .unwrap_or_else(|e| panic!("exchange sent unparseable {sent:02X?}: {e}"));
        match expect {
            Expect::Command { le } => assert_eq!(parsed, CommandApdu { le, ..command }),
            Expect::GetResponse { le } => {
                let channel = LogicalChannel::from_cla(command.cla);
                assert_eq!(parsed, get_response(channel, le));
            }
        }
        let answer = card.answer();
        answers += 1;
        assert!(
            answers <= max_answers,
            "exchange still running after {answers} answers"
        );
        let result = exchange.handle_response(answer);
        match model_step(
            expect,
            &mut le_corrected,
            &mut rounds,
            p.max_rounds,
            answer,
            &mut collected,
        ) {
            Err(()) => model_failed = true,
            Ok(Some(next)) => expect = next,
            Ok(None) => model_done = true,
        }
        if collected.len() > p.response_capacity {
            assert!(matches!(
                result,
                Err(ApduError::ResponseBufferTooSmall { .. })
            ));
            return;
        }
        assert_eq!(
            result.is_err(),
            model_failed,
            "exchange and model disagree on {answer:02X?}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Builders
// ------------------------------------------------------------------------------------------------

fn builders(bytes: &[u8]) {
    let Some((&[ch, sel, le_hi, le_lo, seg], rest)) = bytes.split_first_chunk::<5>() else {
        return;
    };
    let Ok(channel) = LogicalChannel::new(ch) else {
        return;
    };
    let response = match sel % 3 {
        0 => SelectResponse::Fci,
        1 => SelectResponse::Fcp,
        _ => SelectResponse::NoData,
    };
    let aid = &rest[..rest.len().min(usize::from(sel >> 2))];
    match select_by_aid(channel, aid, response) {
        Ok(cmd) => {
            assert!((1..=16).contains(&aid.len()));
            check_command_round_trip(&cmd, None);
        }
        Err(e) => assert_eq!(e, ApduError::InvalidAidLength { len: aid.len() }),
    }
    let le = u16::from_be_bytes([le_hi, le_lo]);
    let gr = get_response(channel, le);
    match gr.validate() {
        Ok(()) => check_command_round_trip(&gr, None),
        Err(e) => assert_eq!(e, ApduError::InvalidLe { le }),
    }
    check_command_round_trip(&manage_channel_open(), None);
    check_command_round_trip(&manage_channel_close(channel), None);
    let tc = TerminalCapability {
        extended_logical_channels: sel & 1 == 1,
        euicc: EuiccCapabilities(le_lo),
    };
    let template = tc.template();
    check_command_round_trip(&template.command(channel), None);

    // STORE DATA segmentation of the rest of the input.
    match StoreDataBlocks::new(channel, rest, usize::from(seg)) {
        Ok(blocks) => {
            let n = blocks.remaining();
            assert_eq!(blocks.len(), n);
            let mut joined = Vec::new();
            let mut count = 0usize;
            for (i, cmd) in blocks.enumerate() {
                assert_eq!(usize::from(cmd.p2), i);
                assert_eq!(cmd.ins, INS_STORE_DATA);
                assert_eq!(cmd.cla, channel.cla(true));
                assert_eq!(cmd.p1 == STORE_DATA_P1_LAST_BLOCK, i + 1 == n);
                assert!(!cmd.data.is_empty() && cmd.data.len() <= usize::from(seg));
                check_command_round_trip(&cmd, None);
                joined.extend_from_slice(cmd.data);
                count += 1;
            }
            assert_eq!(count, n);
            assert_eq!(joined, rest);
        }
        Err(e) => assert!(
            seg == 0 || rest.is_empty() || rest.len().div_ceil(usize::from(seg)) > 256,
            "StoreDataBlocks refused {} bytes in segments of {seg}: {e}",
            rest.len()
        ),
    }
    let _ = INS_GET_RESPONSE;
}
