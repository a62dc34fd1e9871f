//! Activation codes (SGP.22 §4.1) and the hashed confirmation code (SGP.22 §3.1.3, §5.7.5).
//!
//! An activation code tells the LPA which SM-DP+ to contact and which order to ask for:
//!
//! ```text
//! 1 $ <SM-DP+ address> $ <matching ID> [ $ <SM-DP+ OID> ] [ $ <confirmation code required flag> ]
//! ```
//!
//! In a QR code it is prefixed with `LPA:`. Users also paste or type codes (a QR code on the
//! device's own screen cannot be scanned by its own camera), so [`ActivationCode::parse`] is
//! tolerant of what copying adds (surrounding whitespace, a lower-case `lpa:`) and strict about
//! what would make the download fail later with a less helpful error (a port in the address, a
//! stray character in the matching ID, a malformed OID).
//!
//! Nothing here allocates: [`ActivationCode`] borrows from the input, and [`fmt::Display`]
//! writes the canonical form back.
//!
//! Every error offset is a byte offset into the string given to [`ActivationCode::parse`]
//! (before trimming), or into the argument given to the builder methods.

use core::fmt;
use sha2::{Digest, Sha256};

/// The only AC_Format SGP.22 v2.5 defines (§4.1).
const AC_FORMAT: &str = "1";

/// The prefix of the activation code in a QR code (SGP.22 §4.1).
const QR_PREFIX: &str = "LPA:";

/// Field delimiter of the activation code (SGP.22 §4.1).
const DELIMITER: char = '$';

/// The longest SM-DP+ address accepted: the maximum length of a domain name (RFC 1035 §2.3.4).
pub const MAX_SMDP_ADDRESS_LEN: usize = 255;

/// The longest label of a domain name (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// What is wrong with an activation code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ActivationCodeError {
    /// Nothing but whitespace (or a bare `LPA:` prefix) was given.
    Empty,
    /// The AC_Format field is not `1`, the only format SGP.22 v2.5 defines.
    UnsupportedFormat {
        /// Offset of the AC_Format field.
        offset: usize,
    },
    /// The SM-DP+ address field is missing or empty.
    EmptySmdpAddress {
        /// Offset where the address was expected.
        offset: usize,
    },
    /// The SM-DP+ address is longer than [`MAX_SMDP_ADDRESS_LEN`] bytes.
    SmdpAddressTooLong {
        /// Offset of the address.
        offset: usize,
        /// Its length in bytes.
        length: usize,
    },
    /// The SM-DP+ address holds a character other than an ASCII letter, digit, `-` or `.`
    /// (a `:` for a port, `[` of an IPv6 literal, a `/` of a URL, a space, ...).
    InvalidSmdpAddressChar {
        /// Offset of the character.
        offset: usize,
        /// The character.
        found: char,
    },
    /// The SM-DP+ address has an empty label (`a..b`, a leading or a trailing `.`).
    EmptySmdpAddressLabel {
        /// Offset where the empty label starts.
        offset: usize,
    },
    /// A label of the SM-DP+ address is longer than 63 bytes (RFC 1035 §2.3.4).
    SmdpAddressLabelTooLong {
        /// Offset of the label.
        offset: usize,
        /// Its length in bytes.
        length: usize,
    },
    /// A label of the SM-DP+ address starts or ends with `-` (RFC 1123 §2.1).
    SmdpAddressLabelHyphen {
        /// Offset of the offending `-`.
        offset: usize,
    },
    /// The last label of the SM-DP+ address is all digits: it is an IPv4 literal, not a
    /// host name (RFC 1123 §2.1 keeps top-level labels alphabetic for this reason).
    NumericSmdpAddress {
        /// Offset of the address.
        offset: usize,
    },
    /// The matching ID holds `$`, a space, a control character or a non-ASCII character.
    InvalidMatchingIdChar {
        /// Offset of the character.
        offset: usize,
        /// The character.
        found: char,
    },
    /// The SM-DP+ OID is not dotted decimal with at least two arcs (`1.3.6.1.4.1.31746`).
    InvalidSmdpOid {
        /// Offset of the offending arc, or of the OID when it has too few arcs.
        offset: usize,
    },
    /// The confirmation code required flag is neither `1` nor empty.
    InvalidConfirmationCodeFlag {
        /// Offset of the flag.
        offset: usize,
    },
    /// More than the five fields of SGP.22 §4.1.
    TooManyFields {
        /// Offset of the sixth field.
        offset: usize,
    },
}

impl fmt::Display for ActivationCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ActivationCodeError::Empty => f.write_str("the activation code is empty"),
            ActivationCodeError::UnsupportedFormat { offset } => write!(
                f,
                "unsupported activation code format at offset {offset}: only \"1\" is defined"
            ),
            ActivationCodeError::EmptySmdpAddress { offset } => {
                write!(f, "the SM-DP+ address at offset {offset} is missing")
            }
            ActivationCodeError::SmdpAddressTooLong { offset, length } => write!(
                f,
                "the SM-DP+ address at offset {offset} is {length} bytes long, \
                 more than {MAX_SMDP_ADDRESS_LEN}"
            ),
            ActivationCodeError::InvalidSmdpAddressChar { offset, found } => write!(
                f,
                "character {found:?} at offset {offset} is not allowed in an SM-DP+ address \
                 (a host name: letters, digits, '-' and '.')"
            ),
            ActivationCodeError::EmptySmdpAddressLabel { offset } => {
                write!(f, "empty label in the SM-DP+ address at offset {offset}")
            }
            ActivationCodeError::SmdpAddressLabelTooLong { offset, length } => write!(
                f,
                "label at offset {offset} of the SM-DP+ address is {length} bytes long, \
                 more than {MAX_LABEL_LEN}"
            ),
            ActivationCodeError::SmdpAddressLabelHyphen { offset } => write!(
                f,
                "a label of the SM-DP+ address starts or ends with '-' at offset {offset}"
            ),
            ActivationCodeError::NumericSmdpAddress { offset } => write!(
                f,
                "the SM-DP+ address at offset {offset} is an IP address, not a host name"
            ),
            ActivationCodeError::InvalidMatchingIdChar { offset, found } => write!(
                f,
                "character {found:?} at offset {offset} is not allowed in a matching ID"
            ),
            ActivationCodeError::InvalidSmdpOid { offset } => write!(
                f,
                "invalid SM-DP+ OID at offset {offset}: expected dotted decimal \
                 with at least two arcs"
            ),
            ActivationCodeError::InvalidConfirmationCodeFlag { offset } => write!(
                f,
                "the confirmation code required flag at offset {offset} must be \"1\" or empty"
            ),
            ActivationCodeError::TooManyFields { offset } => write!(
                f,
                "unexpected sixth field at offset {offset}: an activation code has at most five"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ActivationCodeError {}

/// A parsed activation code (SGP.22 §4.1), borrowing its fields from the input.
///
/// Build one with [`ActivationCode::parse`] (from text or a QR code) or with
/// [`ActivationCode::new`] and the `with_*` methods. [`fmt::Display`] writes the canonical
/// form (`1$smdp.example.com$MATCHING-ID`), [`ActivationCode::qr_text`] the `LPA:` form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActivationCode<'a> {
    smdp_address: &'a str,
    matching_id: &'a str,
    smdp_oid: Option<&'a str>,
    confirmation_code_required: bool,
}

impl<'a> ActivationCode<'a> {
    /// Parses an activation code as typed, pasted or decoded from a QR code.
    ///
    /// Surrounding whitespace is ignored (QR decoders and copy/paste add newlines), as is an
    /// `LPA:` prefix in any case. Trailing optional fields may be absent or empty, so
    /// `1$smdp.example.com`, `1$smdp.example.com$` and `1$smdp.example.com$$` all have an
    /// empty matching ID, and `1$a.b$MID$$1` has no OID but requires a confirmation code.
    pub fn parse(input: &'a str) -> Result<Self, ActivationCodeError> {
        let body = input.trim();
        let mut base = input.len().saturating_sub(input.trim_start().len());
        let body = match strip_qr_prefix(body) {
            Some(rest) => {
                base = base.saturating_add(QR_PREFIX.len());
                rest
            }
            None => body,
        };
        if body.is_empty() {
            return Err(ActivationCodeError::Empty);
        }
        let end = base.saturating_add(body.len());
        let mut fields = Fields::new(body, DELIMITER, base);

        let (offset, format) = fields.next().unwrap_or((base, ""));
        if format != AC_FORMAT {
            return Err(ActivationCodeError::UnsupportedFormat { offset });
        }

        let (offset, smdp_address) = fields.next().unwrap_or((end, ""));
        check_smdp_address(smdp_address, offset)?;

        let (offset, matching_id) = fields.next().unwrap_or((end, ""));
        check_matching_id(matching_id, offset)?;

        let smdp_oid = match fields.next() {
            Some((_, "")) | None => None,
            Some((offset, oid)) => {
                check_oid(oid, offset)?;
                Some(oid)
            }
        };

        let confirmation_code_required = match fields.next() {
            Some((_, "")) | None => false,
            Some((_, "1")) => true,
            Some((offset, _)) => {
                return Err(ActivationCodeError::InvalidConfirmationCodeFlag { offset });
            }
        };

        if let Some((offset, _)) = fields.next() {
            return Err(ActivationCodeError::TooManyFields { offset });
        }

        Ok(ActivationCode {
            smdp_address,
            matching_id,
            smdp_oid,
            confirmation_code_required,
        })
    }

    /// An activation code for `smdp_address` and `matching_id` (which may be empty), with no
    /// OID and no confirmation code. Error offsets count from the start of each argument.
    pub fn new(smdp_address: &'a str, matching_id: &'a str) -> Result<Self, ActivationCodeError> {
        check_smdp_address(smdp_address, 0)?;
        check_matching_id(matching_id, 0)?;
        Ok(ActivationCode {
            smdp_address,
            matching_id,
            smdp_oid: None,
            confirmation_code_required: false,
        })
    }

    /// The same code with the SM-DP+ OID set (dotted decimal, offsets count from its start).
    pub fn with_smdp_oid(self, smdp_oid: &'a str) -> Result<Self, ActivationCodeError> {
        check_oid(smdp_oid, 0)?;
        Ok(ActivationCode {
            smdp_oid: Some(smdp_oid),
            ..self
        })
    }

    /// The same code with the confirmation code required flag set or cleared.
    pub fn with_confirmation_code_required(self, required: bool) -> Self {
        ActivationCode {
            confirmation_code_required: required,
            ..self
        }
    }

    /// The SM-DP+ address (an FQDN), as sent in ES9+ initiateAuthentication (`smdpAddress`).
    pub fn smdp_address(&self) -> &'a str {
        self.smdp_address
    }

    /// The matching ID for ctxParams1 of AuthenticateServer (SGP.22 §5.7.13), or `None` when
    /// the field is empty: the SM-DP+ then looks up a pending order by the EID (SGP.22 §3.1.3,
    /// ES9+ AuthenticateClient).
    pub fn matching_id(&self) -> Option<&'a str> {
        if self.matching_id.is_empty() {
            None
        } else {
            Some(self.matching_id)
        }
    }

    /// The SM-DP+ OID, when given: the object identifier of the SM-DP+, which its certificates
    /// carry (SGP.22 §4.1).
    pub fn smdp_oid(&self) -> Option<&'a str> {
        self.smdp_oid
    }

    /// Whether the user must enter a confirmation code for this download (SGP.22 §4.1); the
    /// LPA then sends [`hash_cc`] of it in PrepareDownload.
    pub fn confirmation_code_required(&self) -> bool {
        self.confirmation_code_required
    }

    /// A [`fmt::Display`] adapter writing the QR code text: `LPA:` and the canonical form.
    pub fn qr_text(&self) -> QrText<'a> {
        QrText(*self)
    }
}

impl<'a> TryFrom<&'a str> for ActivationCode<'a> {
    type Error = ActivationCodeError;

    fn try_from(input: &'a str) -> Result<Self, Self::Error> {
        ActivationCode::parse(input)
    }
}

impl fmt::Display for ActivationCode<'_> {
    /// Writes the canonical form: the matching ID field is always present (possibly empty)
    /// because the §4.1 grammar makes its delimiter mandatory; empty trailing fields are
    /// omitted, except that an absent OID is kept as an empty field before a CC flag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(AC_FORMAT)?;
        f.write_str("$")?;
        f.write_str(self.smdp_address)?;
        f.write_str("$")?;
        f.write_str(self.matching_id)?;
        match (self.smdp_oid, self.confirmation_code_required) {
            (None, false) => Ok(()),
            (Some(oid), false) => write!(f, "${oid}"),
            (None, true) => f.write_str("$$1"),
            (Some(oid), true) => write!(f, "${oid}$1"),
        }
    }
}

/// Writes an activation code as QR code text (`LPA:1$...`); from [`ActivationCode::qr_text`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QrText<'a>(ActivationCode<'a>);

impl fmt::Display for QrText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(QR_PREFIX)?;
        fmt::Display::fmt(&self.0, f)
    }
}

/// The hashed confirmation code for ES10b PrepareDownload:
/// SHA-256(SHA-256(confirmation code) || transactionId) (SGP.22 §3.1.3, PrepareDownload step;
/// §5.7.5).
///
/// `confirmation_code` is the code as the user entered it (its UTF-8 bytes);
/// `transaction_id` is the raw TransactionID (the bytes, not the hex text of ES9+ JSON), so the
/// hash binds the code to this one download session and cannot be replayed in another.
pub fn hash_cc(confirmation_code: &[u8], transaction_id: &[u8]) -> [u8; 32] {
    let inner = Sha256::digest(confirmation_code);
    Sha256::new()
        .chain_update(inner)
        .chain_update(transaction_id)
        .finalize()
        .into()
}

/// Strips a case-insensitive `LPA:` prefix.
fn strip_qr_prefix(s: &str) -> Option<&str> {
    // `get` returns None instead of panicking when byte 4 is inside a multi-byte character.
    let head = s.get(..QR_PREFIX.len())?;
    if head.eq_ignore_ascii_case(QR_PREFIX) {
        s.get(QR_PREFIX.len()..)
    } else {
        None
    }
}

/// The pieces of a string between separators, each with its absolute offset.
struct Fields<'a> {
    parts: core::str::Split<'a, char>,
    offset: usize,
}

impl<'a> Fields<'a> {
    fn new(s: &'a str, separator: char, offset: usize) -> Self {
        Fields {
            parts: s.split(separator),
            offset,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let part = self.parts.next()?;
        let offset = self.offset;
        // Separators are ASCII, one byte each.
        self.offset = offset.saturating_add(part.len()).saturating_add(1);
        Some((offset, part))
    }
}

/// Checks that the SM-DP+ address is a plain FQDN.
///
/// Ports, IP literals and URLs are refused rather than passed on: the SM-DP+ compares the
/// smdpAddress that the LPA sends in ES9+ initiateAuthentication (and that comes back in
/// serverSigned1) with its own FQDN, exactly (SGP.22 §3.1.3, §5.6.1), and the LPA builds
/// `https://<address>/gsma/rsp2/es9plus/...` from it. Such a code can never download.
fn check_smdp_address(address: &str, offset: usize) -> Result<(), ActivationCodeError> {
    if address.is_empty() {
        return Err(ActivationCodeError::EmptySmdpAddress { offset });
    }
    if address.len() > MAX_SMDP_ADDRESS_LEN {
        return Err(ActivationCodeError::SmdpAddressTooLong {
            offset,
            length: address.len(),
        });
    }
    if let Some((i, found)) = address
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(ActivationCodeError::InvalidSmdpAddressChar {
            offset: offset.saturating_add(i),
            found,
        });
    }
    let mut last_label = "";
    for (label_offset, label) in Fields::new(address, '.', offset) {
        if label.is_empty() {
            return Err(ActivationCodeError::EmptySmdpAddressLabel {
                offset: label_offset,
            });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(ActivationCodeError::SmdpAddressLabelTooLong {
                offset: label_offset,
                length: label.len(),
            });
        }
        if label.starts_with('-') {
            return Err(ActivationCodeError::SmdpAddressLabelHyphen {
                offset: label_offset,
            });
        }
        if label.ends_with('-') {
            return Err(ActivationCodeError::SmdpAddressLabelHyphen {
                offset: label_offset.saturating_add(label.len()).saturating_sub(1),
            });
        }
        last_label = label;
    }
    if last_label.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ActivationCodeError::NumericSmdpAddress { offset });
    }
    Ok(())
}

/// Checks the characters of a matching ID.
///
/// SGP.22 matching IDs are upper-case letters, digits and `-`, but codes in the field carry
/// lower case and other punctuation, so any visible ASCII character is accepted. Refused are
/// `$` (it would split the code), spaces, control characters and non-ASCII characters: these
/// are copy/paste artefacts (a non-breaking or zero-width space from a messaging app) that the
/// SM-DP+ would answer with an unhelpful "matching ID refused".
fn check_matching_id(matching_id: &str, offset: usize) -> Result<(), ActivationCodeError> {
    match matching_id
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_graphic() || c == DELIMITER)
    {
        Some((i, found)) => Err(ActivationCodeError::InvalidMatchingIdChar {
            offset: offset.saturating_add(i),
            found,
        }),
        None => Ok(()),
    }
}

/// Checks that an OID is dotted decimal (X.660): at least two arcs, each a decimal number
/// without leading zeros (which would make two spellings of one OID compare unequal when
/// matched against the SM-DP+ certificate), the first arc 0, 1 or 2.
fn check_oid(oid: &str, offset: usize) -> Result<(), ActivationCodeError> {
    let mut arcs = 0usize;
    for (arc_offset, arc) in Fields::new(oid, '.', offset) {
        let bad = ActivationCodeError::InvalidSmdpOid { offset: arc_offset };
        if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad);
        }
        if arc.len() > 1 && arc.starts_with('0') {
            return Err(bad);
        }
        if arcs == 0 && !matches!(arc, "0" | "1" | "2") {
            return Err(bad);
        }
        arcs = arcs.saturating_add(1);
    }
    if arcs < 2 {
        return Err(ActivationCodeError::InvalidSmdpOid { offset });
    }
    Ok(())
}

#[cfg(test)]
// Tests may panic: a failed unwrap or index is a failed test, and exact vectors read best as
// literals and slices.
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use std::format;
    use std::string::{String, ToString};

    type E = ActivationCodeError;

    fn parse(s: &str) -> Result<ActivationCode<'_>, E> {
        ActivationCode::parse(s)
    }

    #[test]
    fn parses_all_fields() {
        let ac = parse("1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1").unwrap();
        assert_eq!(ac.smdp_address(), "SMDP.GSMA.COM");
        assert_eq!(ac.matching_id(), Some("04386-AGYFT-A74Y8-3F815"));
        assert_eq!(ac.smdp_oid(), Some("1.3.6.1.4.1.31746"));
        assert!(ac.confirmation_code_required());
    }

    #[test]
    fn canonical_codes_round_trip_exactly() {
        // The first five are osmocom/pysim's round-trip examples (tests/unittests/test_esim.py).
        for s in [
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746",
            "1$SMDP.GSMA.COM$$1.3.6.1.4.1.31746",
            "1$smdp.example.com$",
            "1$rsp.truphone.com$qr-lower-case_id.1",
            "1$a.b$MID$$1",
        ] {
            let ac = parse(s).unwrap();
            assert_eq!(ac.to_string(), s);
            assert_eq!(ac.qr_text().to_string(), format!("LPA:{s}"));
            assert_eq!(parse(&ac.qr_text().to_string()), Ok(ac));
        }
    }

    #[test]
    fn empty_trailing_fields_are_absent_fields() {
        let expected = ActivationCode::new("smdp.example.com", "").unwrap();
        for s in [
            "1$smdp.example.com",
            "1$smdp.example.com$",
            "1$smdp.example.com$$",
            "1$smdp.example.com$$$",
        ] {
            let ac = parse(s).unwrap();
            assert_eq!(ac, expected, "{s}");
            assert_eq!(ac.matching_id(), None);
            assert_eq!(ac.smdp_oid(), None);
            assert!(!ac.confirmation_code_required());
            assert_eq!(ac.to_string(), "1$smdp.example.com$");
        }
        let ac = parse("1$a.b$MID$$1").unwrap();
        assert_eq!(ac.smdp_oid(), None);
        assert!(ac.confirmation_code_required());
        assert_eq!(
            parse("1$a.b$MID$2.999$").unwrap().to_string(),
            "1$a.b$MID$2.999"
        );
    }

    #[test]
    fn qr_prefix_and_whitespace_are_tolerated() {
        let expected = parse("1$smdp.example.com$ABC-123").unwrap();
        for s in [
            "LPA:1$smdp.example.com$ABC-123",
            "lpa:1$smdp.example.com$ABC-123",
            "Lpa:1$smdp.example.com$ABC-123",
            "  LPA:1$smdp.example.com$ABC-123\r\n",
            "\t1$smdp.example.com$ABC-123\n",
        ] {
            assert_eq!(parse(s), Ok(expected), "{s:?}");
        }
    }

    #[test]
    fn builder_matches_parser() {
        let built = ActivationCode::new("SMDP.GSMA.COM", "04386-AGYFT-A74Y8-3F815")
            .unwrap()
            .with_smdp_oid("1.3.6.1.4.1.31746")
            .unwrap()
            .with_confirmation_code_required(true);
        assert_eq!(
            Ok(built),
            parse("1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1")
        );
        assert_eq!(
            ActivationCode::new("a.b", "X$Y"),
            Err(E::InvalidMatchingIdChar {
                offset: 1,
                found: '$'
            })
        );
        assert_eq!(
            ActivationCode::new("a.b", "X").unwrap().with_smdp_oid(""),
            Err(E::InvalidSmdpOid { offset: 0 })
        );
        assert_eq!(
            ActivationCode::new("a:1", "X"),
            Err(E::InvalidSmdpAddressChar {
                offset: 1,
                found: ':'
            })
        );
        assert_eq!(ActivationCode::try_from("1$a.b$X"), parse("1$a.b$X"));
    }

    #[test]
    fn every_error_variant_with_its_offset() {
        let cases: &[(&str, E)] = &[
            ("", E::Empty),
            (" \r\n", E::Empty),
            ("LPA:", E::Empty),
            ("  lpa: ", E::Empty),
            ("2$smdp.example.com$X", E::UnsupportedFormat { offset: 0 }),
            (
                "LPA:$smdp.example.com$X",
                E::UnsupportedFormat { offset: 4 },
            ),
            (" LPA:10$a.b", E::UnsupportedFormat { offset: 5 }),
            (
                "https://smdp.example.com",
                E::UnsupportedFormat { offset: 0 },
            ),
            ("1", E::EmptySmdpAddress { offset: 1 }),
            ("1$", E::EmptySmdpAddress { offset: 2 }),
            ("LPA:1$$X", E::EmptySmdpAddress { offset: 6 }),
            (
                "1$smdp.example.com:443$X",
                E::InvalidSmdpAddressChar {
                    offset: 18,
                    found: ':',
                },
            ),
            (
                "1$[::1]$X",
                E::InvalidSmdpAddressChar {
                    offset: 2,
                    found: '[',
                },
            ),
            (
                "1$smdp example.com$X",
                E::InvalidSmdpAddressChar {
                    offset: 6,
                    found: ' ',
                },
            ),
            (
                "1$sm\u{e9}dp.fr$X",
                E::InvalidSmdpAddressChar {
                    offset: 4,
                    found: '\u{e9}',
                },
            ),
            ("1$a..b$X", E::EmptySmdpAddressLabel { offset: 4 }),
            ("1$.a.b$X", E::EmptySmdpAddressLabel { offset: 2 }),
            ("1$a.b.$X", E::EmptySmdpAddressLabel { offset: 6 }),
            ("1$-a.b$X", E::SmdpAddressLabelHyphen { offset: 2 }),
            ("1$a-.b$X", E::SmdpAddressLabelHyphen { offset: 3 }),
            ("1$127.0.0.1$X", E::NumericSmdpAddress { offset: 2 }),
            ("1$1234$X", E::NumericSmdpAddress { offset: 2 }),
            (
                "1$a.b$MID ONE",
                E::InvalidMatchingIdChar {
                    offset: 9,
                    found: ' ',
                },
            ),
            (
                "1$a.b$MID\u{7}",
                E::InvalidMatchingIdChar {
                    offset: 9,
                    found: '\u{7}',
                },
            ),
            (
                "1$a.b$\u{200b}MID",
                E::InvalidMatchingIdChar {
                    offset: 6,
                    found: '\u{200b}',
                },
            ),
            (
                "1$a.b$MID\u{a0}1",
                E::InvalidMatchingIdChar {
                    offset: 9,
                    found: '\u{a0}',
                },
            ),
            ("1$a.b$MID$1", E::InvalidSmdpOid { offset: 10 }),
            ("1$a.b$MID$1.", E::InvalidSmdpOid { offset: 12 }),
            ("1$a.b$MID$1..3", E::InvalidSmdpOid { offset: 12 }),
            ("1$a.b$MID$1.3.x", E::InvalidSmdpOid { offset: 14 }),
            ("1$a.b$MID$1.03", E::InvalidSmdpOid { offset: 12 }),
            ("1$a.b$MID$3.1", E::InvalidSmdpOid { offset: 10 }),
            ("1$a.b$MID$oid", E::InvalidSmdpOid { offset: 10 }),
            (
                "1$a.b$MID$$0",
                E::InvalidConfirmationCodeFlag { offset: 11 },
            ),
            (
                "1$a.b$MID$$true",
                E::InvalidConfirmationCodeFlag { offset: 11 },
            ),
            (
                "1$a.b$MID$1.2$11",
                E::InvalidConfirmationCodeFlag { offset: 14 },
            ),
            ("1$a.b$MID$1.2$1$", E::TooManyFields { offset: 16 }),
            ("1$a.b$MID$$$x", E::TooManyFields { offset: 12 }),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Err(*expected), "{input:?}");
            // Every error has a message, and none is empty.
            assert!(!expected.to_string().is_empty());
        }
    }

    #[test]
    fn address_length_limits() {
        let label63 = "a".repeat(63);
        let ok = format!("1${label63}.com$X");
        assert_eq!(parse(&ok).unwrap().smdp_address().len(), 67);
        let long_label = format!("1${}.com$X", "a".repeat(64));
        assert_eq!(
            parse(&long_label),
            Err(E::SmdpAddressLabelTooLong {
                offset: 2,
                length: 64
            })
        );
        // 4 labels of 63 plus 3 dots = 255: the longest allowed address.
        let max = [label63.as_str(); 4].join(".");
        assert_eq!(max.len(), 255);
        let code = format!("1${max}$X");
        assert_eq!(parse(&code).unwrap().smdp_address(), max);
        let too_long = format!("1${max}b$X");
        assert_eq!(
            parse(&too_long),
            Err(E::SmdpAddressTooLong {
                offset: 2,
                length: 256
            })
        );
    }

    #[test]
    fn error_messages_carry_positions() {
        let e = parse("1$smdp.example.com:8443$X").unwrap_err();
        assert_eq!(
            e.to_string(),
            "character ':' at offset 18 is not allowed in an SM-DP+ address \
             (a host name: letters, digits, '-' and '.')"
        );
        assert_eq!(
            E::TooManyFields { offset: 7 }.to_string(),
            "unexpected sixth field at offset 7: an activation code has at most five"
        );
    }

    #[test]
    fn hash_cc_matches_independent_vector() {
        // python3: sha256(sha256(b"12345678").digest() + bytes(range(16))).hexdigest()
        // (cross-checked with sha256sum and xxd).
        let transaction_id: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            hex::encode(hash_cc(b"12345678", &transaction_id)),
            "ab311c0527db635c7bac464efc070d69afecbba55a894064b394c56165610ec0"
        );
        // Degenerate inputs still hash: SHA-256(SHA-256("")).
        assert_eq!(
            hex::encode(hash_cc(b"", b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }

    /// xorshift64*: a tiny deterministic generator, so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn no_input_panics_and_accepted_codes_round_trip() {
        // Garbage that reaches every branch, including offsets next to multi-byte characters.
        const NOISE: &[&str] = &[
            "$",
            ".",
            ":",
            "-",
            " ",
            "\n",
            "\t",
            "\u{e9}",
            "\u{200b}",
            "\u{1F600}",
            "\u{7f}",
            "\u{a0}",
            "LPA:",
            "lpa:",
            "_",
            "/",
            "[",
        ];
        // Per field (AC_Format, address, matching ID, OID, CC flag): pieces that are mostly
        // valid, so that a fair share of the generated codes parse and get round-tripped.
        const FIELDS: [&[&str]; 5] = [
            &["1", "1", "1", "2", "LPA:1", "lpa:1"],
            &["smdp", ".", "example", "com", "-", "9", "a1"],
            &["ABC", "-", "x7", "0", "_", "."],
            &["1", "2", ".", "3", "6", "10", "0"],
            &["1", "1", "0"],
        ];
        let mut rng = Rng(0x5EED_AC70_2024_0001);
        let mut accepted = 0;
        for _ in 0..50_000 {
            let mut s = String::new();
            if rng.below(4) == 0 {
                s.push_str(NOISE[rng.below(NOISE.len())]);
            }
            for (i, pieces) in FIELDS.iter().cycle().take(rng.below(8)).enumerate() {
                if i > 0 {
                    s.push('$');
                }
                for _ in 0..rng.below(5) {
                    let piece = if rng.below(30) == 0 {
                        NOISE[rng.below(NOISE.len())]
                    } else {
                        pieces[rng.below(pieces.len())]
                    };
                    s.push_str(piece);
                }
            }
            if rng.below(4) == 0 {
                s.push_str(NOISE[rng.below(NOISE.len())]);
            }
            if let Ok(ac) = parse(&s) {
                accepted += 1;
                let canonical = ac.to_string();
                assert_eq!(parse(&canonical), Ok(ac), "{s:?}");
                assert_eq!(parse(&ac.qr_text().to_string()), Ok(ac), "{s:?}");
            }
        }
        assert!(accepted > 100, "generator too weak: {accepted} accepted");
    }
}
