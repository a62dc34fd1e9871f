//! What can go wrong between the LPA and the modem, in the modem's own words.

use std::fmt;
use std::io;
use std::time::Duration;

use lpa::transport::TransportError;

/// A `+CME ERROR` (3GPP TS 27.007 §9.2) as the modem reported it: a number under `AT+CMEE=1`,
/// a text under `AT+CMEE=2`. Known numbers get their 27.007 text and known texts their number,
/// so the two forms compare and classify the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmeError {
    /// The numeric code, when the modem sent one or the text is a known 27.007 text.
    pub code: Option<u16>,
    /// The modem's words (or the 27.007 text of a numeric code).
    pub text: String,
}

/// 27.007 §9.2.1 codes an LPA meets, with their standard texts.
const CME_TEXTS: [(u16, &str); 14] = [
    (0, "phone failure"),
    (3, "operation not allowed"),
    (4, "operation not supported"),
    (10, "SIM not inserted"),
    (11, "SIM PIN required"),
    (13, "SIM failure"),
    (14, "SIM busy"),
    (15, "SIM wrong"),
    (21, "invalid index"),
    (22, "not found"),
    (30, "no network service"),
    (50, "incorrect parameters"),
    (100, "unknown"),
    (256, "operation temporarily not allowed"),
];

impl CmeError {
    /// Parses the part after `+CME ERROR:`.
    pub fn parse(detail: &str) -> Self {
        let detail = detail.trim();
        if !detail.is_empty() && detail.bytes().all(|b| b.is_ascii_digit()) {
            let code = detail.parse::<u16>().ok();
            let text = code
                .and_then(|c| CME_TEXTS.iter().find(|(n, _)| *n == c))
                .map_or_else(|| format!("error {detail}"), |(_, t)| (*t).to_owned());
            return CmeError { code, text };
        }
        let code = CME_TEXTS
            .iter()
            .find(|(_, t)| t.eq_ignore_ascii_case(detail))
            .map(|(n, _)| *n);
        CmeError {
            code,
            text: detail.to_owned(),
        }
    }

    /// Whether the modem says the command itself is not available ("operation not supported",
    /// 4): the other access mode may work.
    pub fn is_unsupported(&self) -> bool {
        self.code == Some(4) || self.text.to_ascii_lowercase().contains("not supported")
    }

    /// Whether the SIM is momentarily unavailable (busy, 14; temporarily not allowed, 256).
    pub fn is_transient(&self) -> bool {
        matches!(self.code, Some(14 | 256)) || self.text.to_ascii_lowercase().contains("busy")
    }

    /// Whether the SIM is absent, failed or powered down (10, 13, 15): waiting may help after a
    /// power cycle, retrying a command does not.
    pub fn is_sim_missing(&self) -> bool {
        matches!(self.code, Some(10 | 13 | 15))
    }
}

impl fmt::Display for CmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) if !self.text.starts_with("error ") => {
                write!(f, "+CME ERROR {code} ({})", self.text)
            }
            _ => write!(f, "+CME ERROR ({})", self.text),
        }
    }
}

/// Why an AT command or the exchange it carried failed. `command` fields hold a shortened form
/// of the command line (at most its APDU header), never whole APDUs: those may carry matching
/// IDs and are logged at trace level only.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AtError {
    /// Opening, reading or writing the serial port failed (the device went away, a hang-up).
    Io {
        /// The command in progress, or what was being done.
        command: String,
        /// The I/O error kind.
        kind: io::ErrorKind,
        /// The OS's words.
        message: String,
    },
    /// No final result code (`OK`, `ERROR`, `+CME ERROR`, `+CMS ERROR`) before the deadline.
    Timeout {
        /// The command that was not answered.
        command: String,
        /// How long we waited.
        waited: Duration,
        /// Lines that did arrive meanwhile (echo, unsolicited codes, partial answers).
        received: Vec<String>,
    },
    /// The modem answered `ERROR`.
    Error {
        /// The refused command.
        command: String,
    },
    /// The modem answered `+CME ERROR: <code or text>`.
    Cme {
        /// The refused command.
        command: String,
        /// The error as reported.
        error: CmeError,
    },
    /// The modem answered `+CMS ERROR: <code or text>` (some firmware uses it for SIM
    /// commands too).
    Cms {
        /// The refused command.
        command: String,
        /// The modem's words.
        error: String,
    },
    /// The answer was not what the command promises: no line with the expected prefix, bad
    /// hex, a length that does not match, a response shorter than SW1 SW2.
    Malformed {
        /// The command.
        command: String,
        /// The offending line (shortened).
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Neither AT+CSIM nor AT+CCHO/CGLA reached the card; each mode's failure in the modem's
    /// words.
    NoAccessMode {
        /// Why AT+CSIM (MANAGE CHANNEL and SELECT inside it) failed.
        csim: String,
        /// Why AT+CCHO failed.
        logical_channels: String,
    },
    /// The caller asked for something the transport cannot do (an APDU longer than a short
    /// APDU, an empty AID, a channel that was never opened).
    InvalidInput(String),
}

impl AtError {
    /// Whether the modem refused the command (`ERROR`, `+CME ERROR`, `+CMS ERROR`), as opposed
    /// to not answering, answering nonsense or the link failing.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            AtError::Error { .. } | AtError::Cme { .. } | AtError::Cms { .. }
        )
    }

    /// Whether retrying the same command may help: a plain `ERROR` (what modems answer for
    /// a momentary failure, and what the emulated modem's random errors are) or a busy SIM.
    pub fn is_retryable(&self) -> bool {
        match self {
            AtError::Error { .. } => true,
            AtError::Cme { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    pub(crate) fn io(command: &str, e: &io::Error) -> Self {
        AtError::Io {
            command: summarize(command),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for AtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AtError::Io {
                command, message, ..
            } => write!(f, "serial port failed during {command}: {message}"),
            AtError::Timeout {
                command,
                waited,
                received,
            } => {
                write!(
                    f,
                    "the modem did not answer {command} within {} ms",
                    waited.as_millis()
                )?;
                if received.is_empty() {
                    write!(f, " (nothing received)")
                } else {
                    write!(f, " (received only: {})", received.join(" | "))
                }
            }
            AtError::Error { command } => write!(f, "the modem answered ERROR to {command}"),
            AtError::Cme { command, error } => {
                write!(f, "the modem answered {error} to {command}")
            }
            AtError::Cms { command, error } => {
                write!(f, "the modem answered +CMS ERROR ({error}) to {command}")
            }
            AtError::Malformed {
                command,
                line,
                reason,
            } => write!(
                f,
                "unreadable answer to {command}: {reason} (line {line:?})"
            ),
            AtError::NoAccessMode {
                csim,
                logical_channels,
            } => write!(
                f,
                "the modem gives no access to the card: AT+CSIM: {csim}; AT+CCHO/CGLA: {logical_channels}"
            ),
            AtError::InvalidInput(what) => write!(f, "invalid request: {what}"),
        }
    }
}

impl std::error::Error for AtError {}

impl From<AtError> for TransportError {
    /// `Io` and unreadable answers become [`TransportError::Io`], deadlines
    /// [`TransportError::Timeout`], refusals [`TransportError::Refused`] (with the modem's
    /// words), and a modem without card access [`TransportError::ChannelUnavailable`]. A
    /// `Refused` STORE DATA block never reached the card: the ES10 client sends its command
    /// again when the transport lowered the segment size ([`crate::segment`]).
    fn from(e: AtError) -> Self {
        match &e {
            AtError::Io { .. } | AtError::Malformed { .. } => TransportError::Io(e.to_string()),
            AtError::Timeout { .. } => TransportError::Timeout {
                what: e.to_string(),
            },
            AtError::Error { .. }
            | AtError::Cme { .. }
            | AtError::Cms { .. }
            | AtError::InvalidInput(_) => TransportError::Refused(e.to_string()),
            AtError::NoAccessMode { .. } => TransportError::ChannelUnavailable(e.to_string()),
        }
    }
}

/// The longest command text quoted in errors and debug logs.
const SUMMARY_LEN: usize = 48;

/// A command line shortened for errors and logs: short commands whole, long ones (APDUs) cut
/// after their first bytes, so that an APDU header is visible and its data is not.
pub(crate) fn summarize(command: &str) -> String {
    if command.len() <= SUMMARY_LEN {
        return command.to_owned();
    }
    // Commands are ASCII (we build them), but be safe on a char boundary anyway.
    let mut end = 32;
    while !command.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} characters)", &command[..end], command.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cme_numbers_and_texts_classify_alike() {
        let n = CmeError::parse(" 4");
        let t = CmeError::parse("operation not supported");
        assert_eq!(n.code, Some(4));
        assert_eq!(t.code, Some(4));
        assert!(n.is_unsupported() && t.is_unsupported());
        assert_eq!(n.to_string(), "+CME ERROR 4 (operation not supported)");
        let vendor = CmeError::parse("Parameters error");
        assert_eq!(vendor.code, None);
        assert_eq!(vendor.to_string(), "+CME ERROR (Parameters error)");
        let odd = CmeError::parse("777");
        assert_eq!(odd.code, Some(777));
        assert_eq!(odd.to_string(), "+CME ERROR (error 777)");
        assert!(CmeError::parse("14").is_transient());
        assert!(CmeError::parse("SIM busy").is_transient());
        assert!(CmeError::parse("13").is_sim_missing());
    }

    #[test]
    fn long_commands_are_shortened() {
        let apdu = format!("AT+CSIM=522,\"80E21100FF{}\"", "AB".repeat(255));
        let s = summarize(&apdu);
        assert!(s.starts_with("AT+CSIM=522,\"80E21100FF"), "{s}");
        assert!(s.len() < 70, "{s}");
        assert_eq!(summarize("AT+CGMI"), "AT+CGMI");
    }

    #[test]
    fn mapping_into_transport_errors_keeps_the_words() {
        let e = AtError::Cme {
            command: "AT+CCHO=\"A0\"".into(),
            error: CmeError::parse("not found"),
        };
        match TransportError::from(e) {
            TransportError::Refused(s) => assert!(s.contains("not found"), "{s}"),
            other => panic!("{other:?}"),
        }
        let t = AtError::Timeout {
            command: "AT".into(),
            waited: Duration::from_millis(300),
            received: vec![],
        };
        assert!(matches!(
            TransportError::from(t),
            TransportError::Timeout { .. }
        ));
    }
}
