//! Reading a modem's answer: which lines end a command, which belong to it, and the payloads of
//! `+CSIM`, `+CGLA` and `+CCHO` (3GPP TS 27.007 §8.17, §8.43, §8.45). No I/O here.

use crate::error::{AtError, CmeError, summarize};

/// How a command ended (ITU-T V.250 §5.7.1 final result codes, 27.007 §9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR`.
    Error,
    /// `+CME ERROR: <err>`.
    Cme(CmeError),
    /// `+CMS ERROR: <err>`.
    Cms(String),
}

impl FinalResult {
    /// The final result code this line is, if it is one.
    pub(crate) fn parse(line: &str) -> Option<FinalResult> {
        let line = line.trim();
        if line == "OK" {
            return Some(FinalResult::Ok);
        }
        if line == "ERROR" {
            return Some(FinalResult::Error);
        }
        if let Some(detail) = strip_prefix_ci(line, "+CME ERROR:") {
            return Some(FinalResult::Cme(CmeError::parse(detail)));
        }
        if let Some(detail) = strip_prefix_ci(line, "+CMS ERROR:") {
            return Some(FinalResult::Cms(detail.trim().to_owned()));
        }
        None
    }

    /// `Ok(())` for `OK`, the matching error otherwise.
    pub(crate) fn into_result(self, command: &str) -> Result<(), AtError> {
        let command = summarize(command);
        match self {
            FinalResult::Ok => Ok(()),
            FinalResult::Error => Err(AtError::Error { command }),
            FinalResult::Cme(error) => Err(AtError::Cme { command, error }),
            FinalResult::Cms(error) => Err(AtError::Cms { command, error }),
        }
    }
}

/// Which information text lines answer a command; every other line between the command and its
/// final result code is echo or an unsolicited result code and is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No information text (`AT`, `ATE0`, `AT+CFUN=1`, `AT+CCHC=<id>`).
    Nothing,
    /// Lines starting with this prefix (`+CSIM:`), returned without it.
    Prefix(&'static str),
    /// Lines with the prefix, or a bare token of hex digits alone on its line: what `AT+CCHO`
    /// answers on Fibocom firmware (and what 27.007 §8.45 literally specifies).
    PrefixOrBare(&'static str),
    /// Free text (`AT+CGMI`, `AT+CGMM`): lines that do not look like unsolicited result codes,
    /// with the prefix removed where the modem adds one (`+CGMI: Quectel`).
    Text(&'static str),
}

/// Unsolicited result codes without a `+`/`^` prefix (V.250 §6.3 and ring indications).
const BARE_URCS: [&str; 6] = [
    "RING",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "NO DIALTONE",
    "RDY",
];

impl Expect {
    /// The information this line carries for the command, or `None` if it is not part of the
    /// answer.
    pub(crate) fn matches(self, line: &str) -> Option<String> {
        match self {
            Expect::Nothing => None,
            Expect::Prefix(prefix) => strip_prefix_ci(line, prefix).map(|s| s.trim().to_owned()),
            Expect::PrefixOrBare(prefix) => {
                if let Some(rest) = strip_prefix_ci(line, prefix) {
                    return Some(rest.trim().to_owned());
                }
                let t = line.trim();
                (!t.is_empty() && t.len() <= 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| t.to_owned())
            }
            Expect::Text(prefix) => {
                if let Some(rest) = strip_prefix_ci(line, prefix) {
                    return Some(rest.trim().to_owned());
                }
                let t = line.trim();
                let looks_unsolicited = t.starts_with(['+', '^', '*', '#', '$', '%'])
                    || BARE_URCS.iter().any(|u| t.eq_ignore_ascii_case(u));
                (!t.is_empty() && !looks_unsolicited).then(|| t.to_owned())
            }
        }
    }
}

/// Whether `line` is the modem echoing `command` (V.250 §6.2.4), possibly cut short.
pub(crate) fn is_echo(line: &str, command: &str) -> bool {
    let line = line.trim();
    line.len() >= 2
        && strip_prefix_ci(line, "AT").is_some()
        && command
            .get(..line.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(line))
}

/// `line` without `prefix` (ASCII case-insensitive), if it starts with it.
pub(crate) fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| line.get(prefix.len()..))
        .flatten()
}

/// Decodes the `<length>,"<hex>"` of a `+CSIM:`/`+CGLA:` answer into response data + SW1 SW2.
///
/// 27.007 says `<length>` counts the characters of `<response>`; some firmware counts bytes,
/// which is accepted too. Quotes are optional. Anything else (odd or non-hex digits, a length
/// that fits neither reading, fewer than two bytes) is an error: a truncated line must not be
/// mistaken for a short answer.
pub(crate) fn parse_apdu_answer(command: &str, payload: &str) -> Result<Vec<u8>, AtError> {
    let malformed = |reason| AtError::Malformed {
        command: summarize(command),
        line: summarize(payload),
        reason,
    };
    let (len, data) = payload
        .split_once(',')
        .ok_or_else(|| malformed("no <length>,<response>"))?;
    let len: usize = len
        .trim()
        .parse()
        .map_err(|_| malformed("<length> is not a number"))?;
    let data = data.trim();
    let data = data
        .strip_prefix('"')
        .and_then(|d| d.strip_suffix('"'))
        .unwrap_or(data);
    let bytes = decode_hex(data).ok_or_else(|| malformed("<response> is not hex"))?;
    if len != data.len() && len != bytes.len() {
        return Err(malformed("<length> does not match <response>"));
    }
    if bytes.len() < 2 {
        return Err(malformed("<response> has no status word"));
    }
    Ok(bytes)
}

/// Hex of either case to bytes; `None` for an odd length or a non-hex character.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let hi = hex_value(*pair.first()?)?;
            let lo = hex_value(*pair.get(1)?)?;
            Some((hi << 4) | lo)
        })
        .collect()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Upper-case hex.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    let digit = |n: u8| char::from(if n < 10 { b'0' + n } else { b'A' + n - 10 });
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0x0F));
    }
    s
}

/// What `AT+CCHO` handed out: the token to quote in `AT+CGLA`/`AT+CCHC` exactly as given, and
/// the card's channel number when the token is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionId {
    /// As the modem wrote it (`1`, `000000000385a7cf`, `1465853795`).
    pub(crate) token: String,
    /// `Some(n)` when the token is a plain channel number 1..=19 (Quectel, SIMCom, Telit,
    /// Fibocom); `None` for a session handle (Sierra Wireless, Huawei), whose channel only the
    /// modem knows.
    pub(crate) channel: Option<u8>,
}

impl SessionId {
    /// Reads the `<sessionid>` of a `+CCHO` answer (prefix already removed).
    pub(crate) fn parse(command: &str, token: &str) -> Result<SessionId, AtError> {
        let token = token.trim().trim_matches('"');
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) || token.len() > 32 {
            return Err(AtError::Malformed {
                command: summarize(command),
                line: summarize(token),
                reason: "<sessionid> is not a number or handle",
            });
        }
        // A channel number is short decimal without padding; handles are long (Sierra pads
        // to 16 hex digits, Huawei hands out 32-bit values).
        let channel = (token.len() <= 2 && token.bytes().all(|b| b.is_ascii_digit()))
            .then(|| token.parse::<u8>().ok())
            .flatten()
            .filter(|n| (1..=19).contains(n) && !(token.len() == 2 && token.starts_with('0')));
        Ok(SessionId {
            token: token.to_owned(),
            channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_result_codes() {
        assert_eq!(FinalResult::parse("OK"), Some(FinalResult::Ok));
        assert_eq!(FinalResult::parse(" ERROR "), Some(FinalResult::Error));
        assert_eq!(
            FinalResult::parse("+CME ERROR: 4"),
            Some(FinalResult::Cme(CmeError::parse("4")))
        );
        assert_eq!(
            FinalResult::parse("+cme error: SIM busy"),
            Some(FinalResult::Cme(CmeError::parse("SIM busy")))
        );
        assert_eq!(
            FinalResult::parse("+CMS ERROR: 500"),
            Some(FinalResult::Cms("500".into()))
        );
        assert_eq!(FinalResult::parse("OKAY"), None);
        assert_eq!(FinalResult::parse("+CSIM: 4,\"9000\""), None);
    }

    #[test]
    fn expected_lines() {
        assert_eq!(
            Expect::Prefix("+CSIM:").matches("+CSIM: 4,\"9000\""),
            Some("4,\"9000\"".into())
        );
        assert_eq!(Expect::Prefix("+CSIM:").matches("+CREG: 1"), None);
        let ccho = Expect::PrefixOrBare("+CCHO:");
        assert_eq!(ccho.matches("+CCHO: 1"), Some("1".into()));
        assert_eq!(ccho.matches("1"), Some("1".into()));
        assert_eq!(
            ccho.matches("000000000385a7cf"),
            Some("000000000385a7cf".into())
        );
        assert_eq!(ccho.matches("RING"), None);
        assert_eq!(ccho.matches("+CREG: 1"), None);
        let cgmi = Expect::Text("+CGMI:");
        assert_eq!(cgmi.matches("Quectel"), Some("Quectel".into()));
        assert_eq!(cgmi.matches("+CGMI: Quectel"), Some("Quectel".into()));
        assert_eq!(cgmi.matches("+CREG: 1"), None);
        assert_eq!(cgmi.matches("^SIMST: 1"), None);
        assert_eq!(cgmi.matches("RING"), None);
        assert_eq!(Expect::Nothing.matches("OK"), None);
    }

    #[test]
    fn echo_whole_or_cut() {
        assert!(is_echo("AT+CGMI", "AT+CGMI"));
        assert!(is_echo("at+cgmi", "AT+CGMI"));
        assert!(is_echo("AT+CSIM=10,\"00", "AT+CSIM=10,\"0070000001\""));
        assert!(!is_echo("+CGMI: x", "AT+CGMI"));
        assert!(!is_echo("ATI", "AT+CGMI"));
        assert!(!is_echo("1", "AT+CCHO=\"A0\""));
    }

    #[test]
    fn apdu_answers_are_checked() {
        let c = "AT+CSIM=10,\"0070000001\"";
        assert_eq!(parse_apdu_answer(c, "6,\"019000\"").unwrap(), [1, 0x90, 0]);
        assert_eq!(parse_apdu_answer(c, "6,019000").unwrap(), [1, 0x90, 0]);
        assert_eq!(
            parse_apdu_answer(c, "3,\"019000\"").unwrap(),
            [1, 0x90, 0],
            "byte count accepted"
        );
        assert_eq!(
            parse_apdu_answer(c, "4,\"6a82\"").unwrap(),
            [0x6A, 0x82],
            "lower case"
        );
        for bad in [
            "6,\"01900\"",
            "6,\"0190ZZ\"",
            "8,\"019000\"",
            "2,\"90\"",
            "x,\"9000\"",
            "\"9000\"",
        ] {
            assert!(
                matches!(parse_apdu_answer(c, bad), Err(AtError::Malformed { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(decode_hex("00aBfF").unwrap(), [0, 0xAB, 0xFF]);
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(encode_hex(&[0, 0xAB, 0x5F]), "00AB5F");
    }

    #[test]
    fn session_ids() {
        let c = "AT+CCHO";
        assert_eq!(SessionId::parse(c, "1").unwrap().channel, Some(1));
        assert_eq!(SessionId::parse(c, " 19").unwrap().channel, Some(19));
        assert_eq!(SessionId::parse(c, "20").unwrap().channel, None);
        assert_eq!(SessionId::parse(c, "0").unwrap().channel, None);
        assert_eq!(SessionId::parse(c, "01").unwrap().channel, None);
        let sierra = SessionId::parse(c, "000000000385a7cf").unwrap();
        assert_eq!(sierra.channel, None);
        assert_eq!(sierra.token, "000000000385a7cf");
        assert_eq!(SessionId::parse(c, "1465853795").unwrap().channel, None);
        assert!(SessionId::parse(c, "").is_err());
        assert!(SessionId::parse(c, "x1").is_err());
    }
}
