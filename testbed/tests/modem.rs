//! The emulated modem driven over its real pseudo-terminal, as the LPA's AT transport will drive
//! it: every command, every quirk switch, pacing, statistics, and a clean shutdown.
#![cfg(unix)]

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lpa_core::apdu::StatusWord;
use lpa_testbed::card::{Card, SharedCard};
use lpa_testbed::modem::{
    CchoAnswer, CmeError, Modem, ModemConfig, OversizeAnswer, SimAccess, TestCommandAnswer,
};
use serialport::TTYPort;

const ISD_R: &str = "A0000005591010FFFFFFFF8900000100";

/// How long any single answer may take before a test fails (never reached when things work).
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// A tiny card: MANAGE CHANNEL open returns `channel`, close and SELECT of the ISD-R answer 9000,
/// SELECT of anything else 6A82, INS `EE` echoes the whole command it received (so a test sees
/// the CLA the modem produced), anything else 9000. Every command is logged.
struct FakeCard {
    channel: u8,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
    resets: Arc<AtomicUsize>,
}

impl Card for FakeCard {
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        self.log.lock().unwrap().push(command.to_vec());
        match command {
            [0x00, 0x70, 0x00, 0x00, ..] => vec![self.channel, 0x90, 0x00],
            [0x00, 0x70, 0x80, ..] => vec![0x90, 0x00],
            [_, 0xA4, 0x04, _, 0x10, aid @ ..] if aid.starts_with(&hex::decode(ISD_R).unwrap()) => {
                vec![0x90, 0x00]
            }
            [_, 0xA4, ..] => vec![0x6A, 0x82],
            [_, 0xEE, ..] => {
                let mut answer = command.to_vec();
                answer.extend_from_slice(&[0x90, 0x00]);
                answer
            }
            _ => vec![0x90, 0x00],
        }
    }

    fn reset(&mut self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
}

/// A modem on a fake card, and the test's end of the serial line.
struct Bench {
    modem: Modem,
    port: TTYPort,
    card: SharedCard,
    log: Arc<Mutex<Vec<Vec<u8>>>>,
    resets: Arc<AtomicUsize>,
}

impl Bench {
    fn new(config: ModemConfig) -> Self {
        Self::with_channel(config, 1)
    }

    fn with_channel(config: ModemConfig, channel: u8) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let resets = Arc::new(AtomicUsize::new(0));
        let card: SharedCard = Arc::new(Mutex::new(FakeCard {
            channel,
            log: Arc::clone(&log),
            resets: Arc::clone(&resets),
        }));
        let modem = Modem::start(Arc::clone(&card), config).expect("modem starts");
        let port = open(&modem);
        Bench {
            modem,
            port,
            card,
            log,
            resets,
        }
    }

    /// Writes one command line, CR-terminated.
    fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r").as_bytes());
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).unwrap();
        self.port.flush().unwrap();
    }

    /// Reads until the text ends with a final result code; panics at the deadline.
    fn answer(&mut self) -> String {
        match self.read_until_final(ANSWER_DEADLINE) {
            Ok(text) => text,
            Err(partial) => panic!("no final result code within {ANSWER_DEADLINE:?}: {partial:?}"),
        }
    }

    /// Sends a command and returns everything up to and including its final result code.
    fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.answer()
    }

    fn read_until_final(&mut self, deadline: Duration) -> Result<String, String> {
        let end = Instant::now() + deadline;
        let mut text = Vec::new();
        let mut buf = [0u8; 1024];
        while Instant::now() < end {
            match self.port.read(&mut buf) {
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("read failed: {e}"),
            }
            let s = String::from_utf8_lossy(&text).into_owned();
            if is_final(&s) {
                return Ok(s);
            }
        }
        Err(String::from_utf8_lossy(&text).into_owned())
    }

    /// Reads until `expected` has arrived (or the deadline); returns what is left to be
    /// matched, after checking that what arrived is exactly its beginning.
    fn read_exactly(&mut self, expected: &str) -> String {
        let end = Instant::now() + ANSWER_DEADLINE;
        let mut got = String::new();
        while got.len() < expected.len() && Instant::now() < end {
            got += &self.read_for(Duration::from_millis(20));
        }
        assert_eq!(got, expected[..got.len().min(expected.len())]);
        expected[got.len().min(expected.len())..].to_owned()
    }

    /// Everything that arrives within `window`.
    fn read_for(&mut self, window: Duration) -> String {
        let end = Instant::now() + window;
        let mut text = Vec::new();
        let mut buf = [0u8; 1024];
        while Instant::now() < end {
            match self.port.read(&mut buf) {
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    fn log(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(hex::encode_upper)
            .collect()
    }

    fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

fn open(modem: &Modem) -> TTYPort {
    serialport::new(modem.path().to_string_lossy(), 115_200)
        .timeout(Duration::from_millis(20))
        .open_native()
        .expect("the pty slave opens as a serial port")
}

/// Whether the text ends with a final result code line: OK, ERROR or +CME ERROR.
fn is_final(text: &str) -> bool {
    let Some(body) = text.strip_suffix("\r\n") else {
        return false;
    };
    let last = body.rsplit("\r\n").next().unwrap_or("");
    last == "OK" || last == "ERROR" || last.starts_with("+CME ERROR: ")
}

/// `AT+CSIM`/`AT+CGLA` argument text for an APDU given in hex: `<len>,"<hex>"`.
fn apdu_arg(apdu: &str) -> String {
    format!("{},\"{}\"", apdu.len(), apdu)
}

fn ok(info: &str) -> String {
    format!("\r\n{info}\r\n\r\nOK\r\n")
}

const OK: &str = "\r\nOK\r\n";
const ERROR: &str = "\r\nERROR\r\n";

fn cme(code: u16) -> String {
    format!("\r\n+CME ERROR: {code}\r\n")
}

/// Threads of this process with this name (Linux: /proc/self/task/*/comm).
#[cfg(target_os = "linux")]
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

// ------------------------------------------------------------------------------------------------

#[test]
fn at_identification_and_unknown_commands() {
    let mut b = Bench::new(
        ModemConfig::new()
            .with_manufacturer("Quectel")
            .with_model("EC25")
            .with_revision("EC25EFAR06A06M4G"),
    );
    assert_eq!(b.cmd("AT"), OK);
    assert_eq!(b.cmd("AT+CGMI"), ok("Quectel"));
    assert_eq!(b.cmd("AT+CGMM"), ok("EC25"));
    assert_eq!(b.cmd("AT+CGMR"), ok("EC25EFAR06A06M4G"));
    assert_eq!(
        b.cmd("at+cgmi"),
        ok("Quectel"),
        "commands are case-insensitive"
    );
    assert_eq!(b.cmd("AT+GMM"), ok("EC25"));
    assert_eq!(
        b.cmd("ATI"),
        "\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n"
    );
    assert_eq!(b.cmd("AT+CGMI=?"), OK);
    assert_eq!(b.cmd("AT+FOO"), ERROR);
    assert_eq!(b.cmd("ATX9"), ERROR);
    assert_eq!(b.cmd("HELLO"), ERROR);
    assert_eq!(b.cmd("AT+CGMI?"), ERROR);
}

#[test]
fn line_endings_cr_lf_and_crlf() {
    let mut b = Bench::new(ModemConfig::new());
    // CRLF (what lpac sends) is one command, not two: exactly one OK.
    b.send_raw(b"AT\r\n");
    assert_eq!(b.answer(), OK);
    assert_eq!(b.read_for(Duration::from_millis(150)), "");
    b.send_raw(b"AT+CGMM\n");
    assert_eq!(b.answer(), ok("testbed-modem"));
    // Two commands in one write, and a backspace edited away.
    b.send_raw(b"AT\rAT+CGMX\x08I\r");
    assert_eq!(b.read_exactly(&format!("{OK}{}", ok("open-lpa"))), "");
    assert_eq!(b.modem.stats().commands, 4);
}

#[test]
fn echo_at_start_and_ate0_ate1() {
    let mut b = Bench::new(ModemConfig::new().with_echo(true));
    assert_eq!(b.cmd("AT"), "AT\r\r\nOK\r\n");
    // ATE0 is still echoed: echo was on while it arrived.
    assert_eq!(b.cmd("ATE0"), "ATE0\r\r\nOK\r\n");
    assert_eq!(b.cmd("AT"), OK);
    assert_eq!(b.cmd("ATE1"), OK);
    assert_eq!(b.cmd("AT+CGMI"), "AT+CGMI\r\r\nopen-lpa\r\n\r\nOK\r\n");
    // ATZ restores the configured state (echo on), ATE alone is ATE0.
    assert_eq!(b.cmd("ATE"), "ATE\r\r\nOK\r\n");
    assert_eq!(b.cmd("ATZ"), OK);
    assert_eq!(b.cmd("AT"), "AT\r\r\nOK\r\n");
}

#[test]
fn cmee_selects_the_error_format() {
    let mut b = Bench::new(ModemConfig::new());
    let bad_length = format!("AT+CSIM=9,\"{}\"", "00A4040000");
    assert_eq!(b.cmd("AT+CMEE?"), ok("+CMEE: 0"));
    assert_eq!(b.cmd(&bad_length), ERROR);
    assert_eq!(b.cmd("AT+CMEE=1"), OK);
    assert_eq!(b.cmd("AT+CMEE?"), ok("+CMEE: 1"));
    assert_eq!(b.cmd(&bad_length), cme(50));
    assert_eq!(b.cmd("AT+CMEE=2"), OK);
    assert_eq!(
        b.cmd(&bad_length),
        "\r\n+CME ERROR: incorrect parameters\r\n"
    );
    assert_eq!(
        b.cmd("AT+CMEE=3"),
        "\r\n+CME ERROR: incorrect parameters\r\n"
    );
    assert_eq!(b.cmd("AT+CMEE=?"), ok("+CMEE: (0-2)"));
    assert_eq!(b.cmd("AT+CMEE=0"), OK);
    assert_eq!(b.cmd(&bad_length), ERROR);
    assert!(
        b.log().is_empty(),
        "a malformed CSIM never reaches the card"
    );

    let mut b = Bench::new(ModemConfig::new().with_cmee(1));
    assert_eq!(b.cmd("AT+CMEE?"), ok("+CMEE: 1"));
    assert_eq!(CmeError::IncorrectParameters.code(), 50);
    assert_eq!(
        CmeError::OperationNotSupported.text(),
        "operation not supported"
    );
}

#[test]
fn cfun_levels_power_cycle_and_reset() {
    let mut b = Bench::new(ModemConfig::new().with_cmee(1));
    assert_eq!(b.cmd("AT+CFUN?"), ok("+CFUN: 1"));
    assert_eq!(b.cmd("AT+CFUN=?"), ok("+CFUN: (0,1,4),(0,1)"));
    assert_eq!(b.cmd("AT+CFUN=4"), OK);
    assert_eq!(b.cmd("AT+CFUN?"), ok("+CFUN: 4"));
    assert_eq!(
        b.resets.load(Ordering::SeqCst),
        0,
        "airplane mode keeps the SIM"
    );
    assert_eq!(b.cmd("AT+CFUN=1"), OK);
    assert_eq!(b.resets.load(Ordering::SeqCst), 0);

    // Open a channel, then power the SIM down: the channel is gone, the card unreachable.
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));
    assert_eq!(b.cmd("AT+CFUN=0"), OK);
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg("80EE000000"))),
        cme(13)
    );
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), cme(13));
    // 0 -> 1 is a cold start of the card.
    assert_eq!(b.cmd("AT+CFUN=1"), OK);
    assert_eq!(b.resets.load(Ordering::SeqCst), 1);
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        cme(21),
        "sessions do not survive a power cycle"
    );
    // AT+CFUN=1,1 resets the card too.
    assert_eq!(b.cmd("AT+CFUN=1,1"), OK);
    assert_eq!(b.resets.load(Ordering::SeqCst), 2);
    assert_eq!(b.cmd("AT+CFUN?"), ok("+CFUN: 1"));
    // Out-of-range values.
    assert_eq!(b.cmd("AT+CFUN=2"), cme(50));
    assert_eq!(b.cmd("AT+CFUN=1,2"), cme(50));
    assert_eq!(b.cmd("AT+CFUN=x"), cme(50));
    assert_eq!(b.resets.load(Ordering::SeqCst), 2);
}

#[test]
fn csim_passes_the_apdu_as_is_and_checks_length_and_hex() {
    let mut b = Bench::new(ModemConfig::new().with_cmee(1));
    // CLA 81: the LPA manages channels itself with CSIM, the modem must not touch it.
    let apdu = "81EE000002AABB";
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg(apdu))),
        ok(&format!("+CSIM: 18,\"{apdu}9000\""))
    );
    assert_eq!(b.log(), vec![apdu.to_owned()]);

    // Lower-case hex is accepted, the answer is upper case.
    assert_eq!(
        b.cmd("AT+CSIM=10,\"00ee0000aa\""),
        ok("+CSIM: 14,\"00EE0000AA9000\"")
    );
    // The MANAGE CHANNEL the LPA sends itself goes through unchanged too.
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg("0070000001"))),
        ok("+CSIM: 6,\"019000\"")
    );
    b.clear_log();

    // Length counts hex characters and must match.
    assert_eq!(b.cmd("AT+CSIM=7,\"81EE000002AABB\""), cme(50));
    assert_eq!(b.cmd("AT+CSIM=28,\"81EE000002AABB\""), cme(50));
    // Odd length, non-hex characters, shorter than a header, missing or extra parameters.
    assert_eq!(b.cmd("AT+CSIM=9,\"81EE00000\""), cme(50));
    assert_eq!(b.cmd("AT+CSIM=10,\"81EE0000ZZ\""), cme(50));
    assert_eq!(b.cmd("AT+CSIM=6,\"81EE00\""), cme(50));
    assert_eq!(b.cmd("AT+CSIM=10"), cme(50));
    assert_eq!(b.cmd("AT+CSIM=10,\"81EE000000\",1"), cme(50));
    assert_eq!(b.cmd("AT+CSIM=10,\"81EE000000"), cme(50));
    assert_eq!(b.cmd("AT+CSIM"), ERROR);
    assert!(b.log().is_empty(), "none of them reached the card");
    assert_eq!(b.cmd("AT+CSIM=?"), OK);
}

#[test]
fn ccho_cgla_cchc_on_channel_1() {
    let mut b = Bench::new(ModemConfig::new().with_cmee(1));
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));
    assert_eq!(
        b.log(),
        vec!["0070000001".to_owned(), format!("01A4040010{ISD_R}00"),],
        "MANAGE CHANNEL, then SELECT on the new channel"
    );
    b.clear_log();

    // The modem owns the channel bits: whatever the LPA put there, the card sees channel 1.
    for (sent, seen) in [
        ("80", "81"),
        ("00", "01"),
        ("C0", "81"),
        ("83", "81"),
        ("40", "01"),
    ] {
        let apdu = format!("{sent}EE000001AA");
        let expected = format!("{seen}EE000001AA9000");
        assert_eq!(
            b.cmd(&format!("AT+CGLA=1,{}", apdu_arg(&apdu))),
            ok(&format!("+CGLA: {},\"{expected}\"", expected.len()))
        );
    }
    // A BPP-sized STORE DATA goes through whole.
    let store_data = format!("80E29100FF{}", "5A".repeat(255));
    let answer = b.cmd(&format!("AT+CGLA=1,{}", apdu_arg(&store_data)));
    assert_eq!(answer, ok("+CGLA: 4,\"9000\""));
    assert_eq!(b.log().last().unwrap(), &format!("81{}", &store_data[2..]));

    // Length and hex are checked like CSIM's; unknown sessions are refused.
    assert_eq!(b.cmd("AT+CGLA=1,9,\"80EE000000\""), cme(50));
    assert_eq!(b.cmd("AT+CGLA=1,10,\"80EE0000GG\""), cme(50));
    assert_eq!(
        b.cmd(&format!("AT+CGLA=2,{}", apdu_arg("80EE000000"))),
        cme(21)
    );
    assert_eq!(
        b.cmd(&format!("AT+CGLA=x,{}", apdu_arg("80EE000000"))),
        cme(50)
    );
    assert_eq!(b.cmd("AT+CCHO=\"A00\""), cme(50));
    assert_eq!(
        b.cmd(&format!("AT+CCHO=\"{ISD_R}00\"")),
        cme(50),
        "17 bytes"
    );

    b.clear_log();
    assert_eq!(b.cmd("AT+CCHC=1"), OK);
    assert_eq!(b.log(), vec!["0070800100".to_owned()]);
    assert_eq!(b.cmd("AT+CCHC=1"), cme(21));
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        cme(21)
    );
    for test in ["AT+CCHO=?", "AT+CGLA=?", "AT+CCHC=?"] {
        assert_eq!(b.cmd(test), OK, "{test}");
    }
}

#[test]
fn cgla_on_channel_5_uses_the_further_interindustry_coding() {
    let mut b = Bench::with_channel(ModemConfig::new().with_cmee(1), 5);
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 5"));
    assert_eq!(
        b.log()[1],
        format!("41A4040010{ISD_R}00"),
        "SELECT on channel 5: CLA 41"
    );
    for (sent, seen) in [
        ("80", "C1"),
        ("00", "41"),
        ("81", "C1"),
        ("C3", "C1"),
        ("90", "D1"),
    ] {
        let apdu = format!("{sent}EE000000");
        let expected = format!("{seen}EE0000009000");
        assert_eq!(
            b.cmd(&format!("AT+CGLA=5,{}", apdu_arg(&apdu))),
            ok(&format!("+CGLA: {},\"{expected}\"", expected.len())),
            "CLA {sent}"
        );
    }
    b.clear_log();
    assert_eq!(b.cmd("AT+CCHC=5"), OK);
    assert_eq!(b.log(), vec!["0070800500".to_owned()]);
}

#[test]
fn ccho_of_an_unknown_aid_fails_and_closes_the_channel() {
    let mut b = Bench::new(ModemConfig::new().with_cmee(1));
    assert_eq!(
        b.cmd("AT+CCHO=\"A0000005591010FFFFFFFF8900000200\""),
        cme(22)
    );
    assert_eq!(
        b.log(),
        vec![
            "0070000001".to_owned(),
            "01A4040010A0000005591010FFFFFFFF890000020000".to_owned(),
            "0070800100".to_owned(),
        ]
    );
}

#[test]
fn bare_ccho_answer() {
    let mut b = Bench::new(ModemConfig::new().with_ccho_answer(CchoAnswer::Bare));
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("1"));
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        ok("+CGLA: 14,\"81EE0000009000\"")
    );
    assert_eq!(b.cmd("AT+CCHC=1"), OK);
}

#[test]
fn session_handle_ccho_answer_is_mapped_back_to_the_channel() {
    let mut b = Bench::new(
        ModemConfig::new()
            .with_cmee(1)
            .with_ccho_answer(CchoAnswer::SessionHandle),
    );
    let answer = b.cmd(&format!("AT+CCHO=\"{ISD_R}\""));
    let handle = answer
        .strip_prefix("\r\n+CCHO: ")
        .and_then(|rest| rest.strip_suffix("\r\n\r\nOK\r\n"))
        .unwrap_or_else(|| panic!("unexpected answer {answer:?}"))
        .to_owned();
    assert_eq!(handle.len(), 16, "Sierra style: 16 hex digits");
    let value = u64::from_str_radix(&handle, 16).unwrap();
    assert!(value > 19, "a handle, not a channel number: {handle}");

    assert_eq!(
        b.cmd(&format!("AT+CGLA={handle},{}", apdu_arg("80EE000000"))),
        ok("+CGLA: 14,\"81EE0000009000\""),
        "the card sees channel 1"
    );
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        cme(21),
        "the channel number is not a session id"
    );

    // A second session gets another handle.
    let second = b.cmd(&format!("AT+CCHO=\"{ISD_R}\""));
    assert!(second.starts_with("\r\n+CCHO: "));
    assert!(!second.contains(&handle));

    b.clear_log();
    assert_eq!(b.cmd(&format!("AT+CCHC={handle}")), OK);
    assert_eq!(b.log(), vec!["0070800100".to_owned()]);
    assert_eq!(b.cmd(&format!("AT+CCHC={handle}")), cme(21));
}

#[test]
fn test_commands_answered_silent_or_refused() {
    let probes = ["AT+CSIM=?", "AT+CCHO=?", "AT+CGLA=?", "AT+CCHC=?"];

    let mut b = Bench::new(ModemConfig::new());
    for probe in probes {
        assert_eq!(b.cmd(probe), OK, "{probe}");
    }

    let mut b = Bench::new(ModemConfig::new().with_test_commands(TestCommandAnswer::Silent));
    for probe in probes {
        b.send(probe);
        assert_eq!(
            b.read_for(Duration::from_millis(200)),
            "",
            "{probe} is not answered"
        );
    }
    b.send("AT+CFUN=?");
    assert_eq!(
        b.read_for(Duration::from_millis(200)),
        "",
        "not even ranges"
    );
    // The modem is alive and answers real commands.
    assert_eq!(b.cmd("AT"), OK);
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));

    let mut b = Bench::new(
        ModemConfig::new()
            .with_cmee(1)
            .with_test_commands(TestCommandAnswer::Error),
    );
    assert_eq!(b.cmd("AT+CGLA=?"), cme(4));
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        ok("+CGLA: 14,\"81EE0000009000\""),
        "CGLA works although its probe failed"
    );
}

#[test]
fn csim_only_or_logical_channels_only() {
    let mut b = Bench::new(
        ModemConfig::new()
            .with_cmee(1)
            .with_sim_access(SimAccess::CsimOnly),
    );
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), cme(4));
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        cme(4)
    );
    assert_eq!(b.cmd("AT+CCHC=1"), cme(4));
    assert_eq!(b.cmd("AT+CCHO=?"), cme(4));
    assert!(b.log().is_empty());
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg("80EE000000"))),
        ok("+CSIM: 14,\"80EE0000009000\"")
    );
    assert_eq!(b.cmd("AT+CSIM=?"), OK);

    let mut b = Bench::new(
        ModemConfig::new()
            .with_cmee(2)
            .with_sim_access(SimAccess::LogicalChannelsOnly),
    );
    let unsupported = "\r\n+CME ERROR: operation not supported\r\n";
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg("80EE000000"))),
        unsupported
    );
    assert_eq!(b.cmd("AT+CSIM=?"), unsupported);
    assert!(b.log().is_empty());
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));
}

#[test]
fn max_apdu_size_as_cme_error_or_status_word() {
    let sixteen = format!("80EE000010{}", "11".repeat(16));
    let seventeen = format!("80EE000011{}", "11".repeat(17));

    let mut b = Bench::new(ModemConfig::new().with_cmee(1).with_max_apdu_data(
        16,
        OversizeAnswer::CmeError(CmeError::OperationNotSupported),
    ));
    let answer = b.cmd(&format!("AT+CSIM={}", apdu_arg(&sixteen)));
    assert!(answer.starts_with("\r\n+CSIM: 46,\"80EE0000"), "{answer:?}");
    assert_eq!(b.cmd(&format!("AT+CSIM={}", apdu_arg(&seventeen))), cme(4));
    assert_eq!(
        b.log(),
        vec![sixteen.clone()],
        "the long one never reached the card"
    );
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg(&seventeen))),
        cme(4)
    );

    let mut b = Bench::new(
        ModemConfig::new().with_max_apdu_data(16, OversizeAnswer::Status(StatusWord(0x6700))),
    );
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg(&seventeen))),
        ok("+CSIM: 4,\"6700\"")
    );
    assert_eq!(b.cmd(&format!("AT+CCHO=\"{ISD_R}\"")), ok("+CCHO: 1"));
    b.clear_log();
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg(&seventeen))),
        ok("+CGLA: 4,\"6700\"")
    );
    assert!(b.log().is_empty());
    // Case 2 commands carry no data: a large Le is not "data".
    assert_eq!(
        b.cmd(&format!("AT+CGLA=1,{}", apdu_arg("80EE000000"))),
        ok("+CGLA: 14,\"81EE0000009000\"")
    );
}

#[test]
fn unsolicited_codes_between_command_and_answer() {
    let codes = ["+CREG: 1", "RING", "^SIMST: 1", "+QIND: \"csq\",20,99"];
    let mut b = Bench::new(
        ModemConfig::new()
            .with_echo(true)
            .with_unsolicited_codes(codes),
    );
    let urcs: String = codes.iter().map(|c| format!("\r\n{c}\r\n")).collect();
    assert_eq!(b.cmd("AT"), format!("AT\r{urcs}\r\nOK\r\n"));
    assert_eq!(
        b.cmd(&format!("AT+CSIM={}", apdu_arg("80EE000000"))),
        format!(
            "AT+CSIM=10,\"80EE000000\"\r{urcs}{}",
            ok("+CSIM: 14,\"80EE0000009000\"")
        )
    );
    assert_eq!(b.modem.stats().unsolicited, 8);

    // Every third answer only.
    let mut b = Bench::new(
        ModemConfig::new()
            .with_unsolicited_codes(["RING"])
            .with_unsolicited_every(3),
    );
    let answers: Vec<String> = (0..6).map(|_| b.cmd("AT")).collect();
    let ring = "\r\nRING\r\n\r\nOK\r\n";
    assert_eq!(answers, [ring, OK, OK, ring, OK, OK]);

    // Injected while idle: arrives without any command.
    b.modem.send_unsolicited("^SIMST: 1");
    assert_eq!(b.read_exactly("\r\n^SIMST: 1\r\n"), "");
}

#[test]
fn random_errors_are_seeded_and_replayable() {
    let run = |seed: u64, p: f64| -> (Vec<bool>, u64) {
        let mut b = Bench::new(ModemConfig::new().with_random_errors(seed, p));
        let failed = (0..40).map(|_| b.cmd("AT") == ERROR).collect();
        (failed, b.modem.stats().errors)
    };
    let (first, errors) = run(7, 0.5);
    let (again, _) = run(7, 0.5);
    let (other, _) = run(8, 0.5);
    assert_eq!(first, again, "the same seed fails the same commands");
    assert_ne!(first, other, "another seed fails others");
    let failures = first.iter().filter(|&&f| f).count();
    assert!((5..=35).contains(&failures), "{failures} of 40 at p = 0.5");
    assert_eq!(errors, failures as u64);
    assert_eq!(run(7, 0.0).0, vec![false; 40]);

    // A failed command never reaches the card.
    let mut b = Bench::new(ModemConfig::new().with_random_errors(1, 1.0));
    assert_eq!(b.cmd(&format!("AT+CSIM={}", apdu_arg("80EE000000"))), ERROR);
    assert!(b.log().is_empty());
}

#[test]
fn never_answers_lets_the_host_deadline_fire() {
    let mut b = Bench::new(ModemConfig::new().with_echo(true).with_never_answers(true));
    b.send("AT");
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let result = b.read_until_final(deadline);
    assert_eq!(result, Err(String::new()), "no echo, no answer");
    assert!(started.elapsed() >= deadline);
    b.send(&format!("AT+CSIM={}", apdu_arg("80EE000000")));
    assert_eq!(b.read_for(Duration::from_millis(100)), "");
    assert!(
        b.log().is_empty(),
        "swallowed commands never reach the card"
    );
    assert_eq!(b.modem.stats().commands, 2);

    b.modem.set_never_answers(false);
    assert_eq!(b.cmd("AT"), "AT\r\r\nOK\r\n");
}

#[test]
fn pacing_models_the_line_speed() {
    let apdu = format!("80EE000040{}", "A5".repeat(64));
    let command = format!("AT+CSIM={}", apdu_arg(&apdu));
    let time = |baud: u32| -> (Duration, usize) {
        let mut b = Bench::new(ModemConfig::new().with_baud_rate(baud));
        let started = Instant::now();
        let answer = b.cmd(&command);
        let elapsed = started.elapsed();
        assert!(answer.contains("9000\""), "{answer:?}");
        (elapsed, command.len() + 1 + answer.len())
    };
    let (slow, bytes) = time(9_600);
    let (fast, _) = time(1_000_000);
    // Every byte in either direction costs 10 bit times: a lower bound the modem cannot beat.
    let wire = Duration::from_secs_f64(bytes as f64 * 10.0 / 9_600.0);
    assert!(
        slow >= wire.mul_f64(0.95),
        "{slow:?} for {bytes} bytes at 9600 baud"
    );
    assert!(slow > fast * 5, "9600 baud {slow:?} vs 1 Mbaud {fast:?}");
}

#[test]
fn command_latency_delays_each_answer() {
    let latency = Duration::from_millis(150);
    let mut b = Bench::new(ModemConfig::new().with_command_latency(latency));
    let started = Instant::now();
    assert_eq!(b.cmd("AT"), OK);
    assert_eq!(b.cmd("AT"), OK);
    assert!(started.elapsed() >= latency * 2);
}

#[test]
fn stats_count_commands_apdus_and_bytes() {
    let mut b = Bench::new(ModemConfig::new().with_echo(true));
    let commands = [
        "AT".to_owned(),
        format!("AT+CCHO=\"{ISD_R}\""),
        format!("AT+CGLA=1,{}", apdu_arg("80EE000000")),
        "AT+BOGUS".to_owned(),
        format!("AT+CSIM={}", apdu_arg("80EE000000")),
        "AT+CCHC=1".to_owned(),
    ];
    let mut sent = 0;
    let mut received = 0;
    for command in &commands {
        sent += command.len() + 1;
        received += b.cmd(command).len();
    }
    let stats = b.modem.stats();
    assert_eq!(stats.commands, 6);
    assert_eq!(stats.apdus, 5, "MANAGE CHANNEL, SELECT, CGLA, CSIM, close");
    assert_eq!(stats.apdus as usize, b.log().len());
    assert_eq!(stats.errors, 1);
    assert_eq!(stats.unsolicited, 0);
    assert_eq!(stats.bytes_from_host, sent as u64);
    assert_eq!(stats.bytes_to_host, received as u64);
    b.modem.reset_stats();
    assert_eq!(b.modem.stats().commands, 0);
}

#[test]
fn stop_joins_the_thread_and_releases_the_card() {
    let mut b = Bench::new(ModemConfig::new());
    assert_eq!(b.cmd("AT"), OK);
    let name = b.modem.thread_name().to_owned();
    assert!(b.modem.is_running());
    #[cfg(target_os = "linux")]
    assert_eq!(threads_named(&name), 1, "the check sees the running thread");
    assert_eq!(
        Arc::strong_count(&b.card),
        2,
        "the test and the modem thread"
    );

    let started = Instant::now();
    b.modem.stop();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!b.modem.is_running());
    #[cfg(target_os = "linux")]
    assert_eq!(threads_named(&name), 0);
    assert_eq!(
        Arc::strong_count(&b.card),
        1,
        "the thread dropped its handle on the card"
    );
    b.modem.stop(); // twice is harmless

    // The master side is closed: the host sees a hang-up, as when a USB modem goes away.
    let write = b.port.write_all(b"AT\r");
    assert_eq!(
        write.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::BrokenPipe)
    );
}

#[test]
fn drop_in_the_middle_of_a_slow_answer_does_not_hang() {
    // At 300 baud this answer takes about 18 s to pace out; drop after the first bytes.
    let apdu = format!("80EE0000FF{}", "00".repeat(255));
    let mut b = Bench::new(
        ModemConfig::new()
            .with_baud_rate(300)
            .with_command_latency(Duration::from_millis(10)),
    );
    b.send(&format!("AT+CSIM={}", apdu_arg(&apdu)));
    std::thread::sleep(Duration::from_millis(200));
    let Bench {
        modem, card, port, ..
    } = b;
    let name = modem.thread_name().to_owned();
    let started = Instant::now();
    drop(modem);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    #[cfg(target_os = "linux")]
    assert_eq!(threads_named(&name), 0);
    assert_eq!(Arc::strong_count(&card), 1);
    drop(port);
}

#[test]
fn drop_while_the_host_reads_nothing_does_not_hang() {
    let b = Bench::new(ModemConfig::new());
    // Far more than a pty buffers: the modem's writes block on a host that never reads.
    for i in 0..4000 {
        b.modem.send_unsolicited(format!("+QIND: \"noise\",{i:08}"));
    }
    std::thread::sleep(Duration::from_millis(300));
    let queued = 4000 * "\r\n+QIND: \"noise\",00000000\r\n".len() as u64;
    let written = b.modem.stats().bytes_to_host;
    assert!(
        written < queued,
        "the pty took all {written} bytes: the test proves nothing"
    );
    let Bench { modem, card, .. } = b;
    let name = modem.thread_name().to_owned();
    let started = Instant::now();
    drop(modem);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    #[cfg(target_os = "linux")]
    assert_eq!(threads_named(&name), 0);
    assert_eq!(Arc::strong_count(&card), 1);
}
