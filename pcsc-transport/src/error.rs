//! One error type for everything PC/SC can refuse, grouped by what the user can do about it, and
//! its mapping to the LPA's [`TransportError`].

use std::fmt;
use std::time::Duration;

use lpa::transport::TransportError;

/// Why a PC/SC operation failed.
///
/// PC/SC return codes (`SCARD_E_*`, `SCARD_W_*`, `SCARD_F_*`) are grouped by what the user can
/// do: start pcscd, plug in a reader, insert a card, close the other application, retry. The
/// original code is kept where several map to one variant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PcscError {
    /// The PC/SC service is not running or went away (`SCARD_E_NO_SERVICE`,
    /// `SCARD_E_SERVICE_STOPPED`): start pcscd (see `scripts/pcsc-setup`).
    NoService {
        /// The PC/SC return code.
        code: u32,
    },
    /// No reader is attached (`SCARD_E_NO_READERS_AVAILABLE`).
    NoReaders,
    /// No attached reader matches the selection.
    ReaderNotFound {
        /// The selection, e.g. `name containing "Virtual PCD"` or `index 3`.
        wanted: String,
        /// The readers that are attached.
        available: Vec<String>,
    },
    /// The reader went away or is not usable (`SCARD_E_READER_UNAVAILABLE`,
    /// `SCARD_E_UNKNOWN_READER`).
    ReaderUnavailable {
        /// The reader.
        reader: String,
    },
    /// There is no card in the reader (`SCARD_E_NO_SMARTCARD` when connecting).
    NoCard {
        /// The reader.
        reader: String,
    },
    /// The card was removed during the session (`SCARD_W_REMOVED_CARD`, or
    /// `SCARD_E_NO_SMARTCARD` on an open session): its logical channels and any ES10 session
    /// are gone.
    CardRemoved {
        /// The reader.
        reader: String,
    },
    /// Someone reset or powered down the card during the session (`SCARD_W_RESET_CARD`,
    /// `SCARD_W_UNPOWERED_CARD`): its logical channels and any ES10 session are gone.
    CardReset {
        /// The reader.
        reader: String,
    },
    /// The card does not work in this reader (`SCARD_W_UNRESPONSIVE_CARD`,
    /// `SCARD_W_UNSUPPORTED_CARD`, `SCARD_E_PROTO_MISMATCH`: e.g. T=1 asked of a T=0-only card).
    CardUnusable {
        /// The reader.
        reader: String,
        /// The PC/SC return code.
        code: u32,
    },
    /// Another application has the card (`SCARD_E_SHARING_VIOLATION`): close it, or it holds
    /// the card exclusively as this transport does.
    SharingViolation {
        /// The reader.
        reader: String,
    },
    /// No answer within the deadline.
    Timeout {
        /// What was waited for.
        what: String,
        /// The deadline that passed.
        after: Duration,
    },
    /// An earlier failure (a missed deadline) left the session in an unknown state; open a new
    /// transport.
    SessionBroken {
        /// The earlier failure.
        reason: String,
    },
    /// The reader answered a command with fewer than the two status word bytes.
    MalformedResponse {
        /// The reader.
        reader: String,
        /// How many bytes came back.
        len: usize,
    },
    /// The link to the card failed (`SCARD_F_COMM_ERROR`, `SCARD_E_NOT_TRANSACTED`,
    /// `SCARD_E_COMM_DATA_LOST`, ...): the reader or its driver lost the card.
    Communication {
        /// The reader.
        reader: String,
        /// The PC/SC return code.
        code: u32,
    },
    /// Any other PC/SC failure.
    Pcsc {
        /// The PC/SC function, e.g. `SCardConnect`.
        operation: &'static str,
        /// The PC/SC return code.
        code: u32,
    },
    /// A helper thread could not be started.
    Thread(String),
}

impl PcscError {
    /// Classifies a PC/SC failure of `operation`. `reader` is the reader concerned, if any;
    /// `in_session` says whether a card handle was open (then a missing card was removed).
    pub(crate) fn from_pcsc(
        operation: &'static str,
        reader: Option<&str>,
        in_session: bool,
        error: pcsc::Error,
    ) -> PcscError {
        let reader = reader.unwrap_or("(no reader)").to_owned();
        let code = error as u32;
        match error {
            pcsc::Error::NoService | pcsc::Error::ServiceStopped => PcscError::NoService { code },
            pcsc::Error::NoReadersAvailable => PcscError::NoReaders,
            pcsc::Error::ReaderUnavailable | pcsc::Error::UnknownReader => {
                PcscError::ReaderUnavailable { reader }
            }
            pcsc::Error::NoSmartcard if !in_session => PcscError::NoCard { reader },
            pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => {
                PcscError::CardRemoved { reader }
            }
            pcsc::Error::ResetCard | pcsc::Error::UnpoweredCard => PcscError::CardReset { reader },
            pcsc::Error::UnresponsiveCard
            | pcsc::Error::UnsupportedCard
            | pcsc::Error::ProtoMismatch => PcscError::CardUnusable { reader, code },
            pcsc::Error::SharingViolation => PcscError::SharingViolation { reader },
            pcsc::Error::Timeout => PcscError::Timeout {
                what: format!("{operation} on {reader}"),
                after: Duration::ZERO,
            },
            pcsc::Error::CommError
            | pcsc::Error::NotTransacted
            | pcsc::Error::CommDataLost
            | pcsc::Error::NotReady => PcscError::Communication { reader, code },
            _ => PcscError::Pcsc { operation, code },
        }
    }
}

/// The name of a PC/SC return code, for messages.
pub fn scard_code_name(code: u32) -> &'static str {
    match code {
        0x8010_0001 => "SCARD_F_INTERNAL_ERROR",
        0x8010_0002 => "SCARD_E_CANCELLED",
        0x8010_0003 => "SCARD_E_INVALID_HANDLE",
        0x8010_0004 => "SCARD_E_INVALID_PARAMETER",
        0x8010_0006 => "SCARD_E_NO_MEMORY",
        0x8010_0008 => "SCARD_E_INSUFFICIENT_BUFFER",
        0x8010_0009 => "SCARD_E_UNKNOWN_READER",
        0x8010_000A => "SCARD_E_TIMEOUT",
        0x8010_000B => "SCARD_E_SHARING_VIOLATION",
        0x8010_000C => "SCARD_E_NO_SMARTCARD",
        0x8010_000F => "SCARD_E_PROTO_MISMATCH",
        0x8010_0010 => "SCARD_E_NOT_READY",
        0x8010_0011 => "SCARD_E_INVALID_VALUE",
        0x8010_0013 => "SCARD_F_COMM_ERROR",
        0x8010_0014 => "SCARD_F_UNKNOWN_ERROR",
        0x8010_0016 => "SCARD_E_NOT_TRANSACTED",
        0x8010_0017 => "SCARD_E_READER_UNAVAILABLE",
        0x8010_001D => "SCARD_E_NO_SERVICE",
        0x8010_001E => "SCARD_E_SERVICE_STOPPED",
        0x8010_002E => "SCARD_E_NO_READERS_AVAILABLE",
        0x8010_002F => "SCARD_E_COMM_DATA_LOST",
        0x8010_0065 => "SCARD_W_UNSUPPORTED_CARD",
        0x8010_0066 => "SCARD_W_UNRESPONSIVE_CARD",
        0x8010_0067 => "SCARD_W_UNPOWERED_CARD",
        0x8010_0068 => "SCARD_W_RESET_CARD",
        0x8010_0069 => "SCARD_W_REMOVED_CARD",
        _ => "PC/SC error",
    }
}

/// `SCARD_E_NAME (0x801000NN)`.
struct Code(u32);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#010X})", scard_code_name(self.0), self.0)
    }
}

impl fmt::Display for PcscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcscError::NoService { code } => write!(
                f,
                "the PC/SC service is not running ({}): start pcscd (scripts/pcsc-setup)",
                Code(*code)
            ),
            PcscError::NoReaders => write!(f, "no smart card reader is attached"),
            PcscError::ReaderNotFound { wanted, available } => write!(
                f,
                "no reader matches {wanted}; attached: {}",
                if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                }
            ),
            PcscError::ReaderUnavailable { reader } => {
                write!(f, "reader {reader:?} is not available")
            }
            PcscError::NoCard { reader } => write!(f, "no card in reader {reader:?}"),
            PcscError::CardRemoved { reader } => {
                write!(f, "the card was removed from reader {reader:?}")
            }
            PcscError::CardReset { reader } => write!(
                f,
                "the card in reader {reader:?} was reset or powered down by someone else"
            ),
            PcscError::CardUnusable { reader, code } => write!(
                f,
                "the card in reader {reader:?} cannot be used: {}",
                Code(*code)
            ),
            PcscError::SharingViolation { reader } => write!(
                f,
                "another application is using the card in reader {reader:?}"
            ),
            PcscError::Timeout { what, after } if after.is_zero() => {
                write!(f, "timed out: {what}")
            }
            PcscError::Timeout { what, after } => {
                write!(f, "no answer within {after:?}: {what}")
            }
            PcscError::SessionBroken { reason } => write!(
                f,
                "the PC/SC session is unusable after an earlier failure ({reason}); reconnect"
            ),
            PcscError::MalformedResponse { reader, len } => write!(
                f,
                "reader {reader:?} returned {len} byte(s), no status word"
            ),
            PcscError::Communication { reader, code } => write!(
                f,
                "communication with the card in reader {reader:?} failed: {}",
                Code(*code)
            ),
            PcscError::Pcsc { operation, code } => write!(f, "{operation} failed: {}", Code(*code)),
            PcscError::Thread(e) => write!(f, "cannot start a PC/SC thread: {e}"),
        }
    }
}

impl std::error::Error for PcscError {}

impl From<PcscError> for TransportError {
    /// Deadlines become [`TransportError::Timeout`], another application holding the card
    /// [`TransportError::Refused`], everything else [`TransportError::Io`] (with the PC/SC code
    /// in the message).
    fn from(e: PcscError) -> Self {
        match e {
            PcscError::Timeout { .. } => TransportError::Timeout {
                what: e.to_string(),
            },
            PcscError::SharingViolation { .. } => TransportError::Refused(e.to_string()),
            other => TransportError::Io(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcsc_codes_are_grouped_by_what_the_user_can_do() {
        let r = Some("Virtual PCD 00 00");
        let classify = |e, in_session| PcscError::from_pcsc("SCardTransmit", r, in_session, e);
        let reader = "Virtual PCD 00 00".to_owned();
        assert_eq!(
            classify(pcsc::Error::NoService, false),
            PcscError::NoService { code: 0x8010_001D }
        );
        assert_eq!(
            classify(pcsc::Error::NoSmartcard, false),
            PcscError::NoCard {
                reader: reader.clone()
            }
        );
        assert_eq!(
            classify(pcsc::Error::NoSmartcard, true),
            PcscError::CardRemoved {
                reader: reader.clone()
            }
        );
        assert_eq!(
            classify(pcsc::Error::RemovedCard, true),
            PcscError::CardRemoved {
                reader: reader.clone()
            }
        );
        assert_eq!(
            classify(pcsc::Error::ResetCard, true),
            PcscError::CardReset {
                reader: reader.clone()
            }
        );
        assert_eq!(
            classify(pcsc::Error::SharingViolation, false),
            PcscError::SharingViolation {
                reader: reader.clone()
            }
        );
        assert_eq!(
            classify(pcsc::Error::NotTransacted, true),
            PcscError::Communication {
                reader,
                code: 0x8010_0016
            }
        );
        assert_eq!(
            classify(pcsc::Error::InvalidHandle, true),
            PcscError::Pcsc {
                operation: "SCardTransmit",
                code: 0x8010_0003
            }
        );
    }

    #[test]
    fn transport_errors_keep_timeouts_and_refusals_apart() {
        let timeout = PcscError::Timeout {
            what: "SCardTransmit".to_owned(),
            after: Duration::from_secs(2),
        };
        assert!(matches!(
            TransportError::from(timeout),
            TransportError::Timeout { what } if what.contains("2s")
        ));
        let busy = PcscError::SharingViolation {
            reader: "r".to_owned(),
        };
        assert!(matches!(
            TransportError::from(busy),
            TransportError::Refused(_)
        ));
        let removed = PcscError::CardRemoved {
            reader: "r".to_owned(),
        };
        assert!(matches!(
            TransportError::from(removed),
            TransportError::Io(m) if m.contains("removed")
        ));
        let service = PcscError::NoService { code: 0x8010_001D };
        assert!(
            service
                .to_string()
                .contains("SCARD_E_NO_SERVICE (0x8010001D)")
        );
    }
}
