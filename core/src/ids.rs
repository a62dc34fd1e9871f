//! The two identifiers an LPA shows and sends: the profile's ICCID and the eUICC's EID.
//!
//! - [`Iccid`]: ITU-T E.118 Integrated Circuit Card Identifier, 18 to 20 decimal digits, the
//!   last a Luhn check digit. On the card and in SGP.22 messages (ProfileInfo, notifications,
//!   Enable/Disable/DeleteProfile) it is the 10-byte EF.ICCID encoding under tag `5A`
//!   (ETSI TS 102 221 §13.2): BCD with the two digits of each byte swapped, padded with `F`.
//! - [`Eid`]: eUICC Identifier, 32 decimal digits (GSMA SGP.29), the last two ISO 7064
//!   MOD 97-10 check digits. The eUICC returns it in GetEuiccDataResponse (`BF3E`, SGP.22
//!   §5.7.20) under tag `5A` as 16 bytes of plain BCD, *not* nibble-swapped:
//!   `5A 10 89 04 90 32 ...` is EID `89049032...`.
//!
//! Both are `Copy` values of fixed size; nothing here allocates. Positions in errors count
//! digits from the first (for bytes, the digit a nibble stands for), or bytes of the input
//! string for text.

use core::fmt::{self, Write as _};
use core::str::FromStr;

/// Which identifier an [`IdError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// An ICCID.
    Iccid,
    /// An EID.
    Eid,
    /// The 30-digit prefix of an EID, before its check digits.
    EidPrefix,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Iccid => "ICCID",
            IdKind::Eid => "EID",
            IdKind::EidPrefix => "EID prefix",
        })
    }
}

/// What is wrong with an ICCID or an EID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdError {
    /// The text has a character that is not a decimal digit.
    InvalidDigit {
        /// Which identifier was being read.
        kind: IdKind,
        /// Byte offset of the character in the text.
        position: usize,
        /// The character.
        found: char,
    },
    /// The text or the encoded bytes hold the wrong number of digits.
    DigitCount {
        /// Which identifier was being read.
        kind: IdKind,
        /// Digits found.
        count: usize,
        /// Fewest digits allowed.
        min: usize,
        /// Most digits allowed.
        max: usize,
    },
    /// The encoded form has the wrong number of bytes.
    ByteLength {
        /// Which identifier was being read.
        kind: IdKind,
        /// Bytes given.
        length: usize,
        /// Bytes required.
        expected: usize,
    },
    /// A nibble of the encoded form is neither a decimal digit nor (for an ICCID) `F` padding.
    InvalidNibble {
        /// Which identifier was being read.
        kind: IdKind,
        /// Index of the digit this nibble stands for (byte `position / 2`).
        position: usize,
        /// The nibble value, `0xA` to `0xF`.
        nibble: u8,
    },
    /// An EF.ICCID digit follows `F` padding: padding is only allowed at the end.
    DigitAfterPadding {
        /// Index of the digit after the padding.
        position: usize,
    },
    /// The last digit of the ICCID is not the Luhn check digit of the others.
    LuhnMismatch {
        /// The check digit the other digits call for.
        expected: u8,
        /// The last digit found.
        found: u8,
    },
    /// The EID fails the ISO 7064 MOD 97-10 check (SGP.29).
    ChecksumMismatch {
        /// The two check digits the first 30 digits call for (2 to 98).
        expected: u8,
        /// The last two digits found (0 to 99).
        found: u8,
    },
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IdError::InvalidDigit {
                kind,
                position,
                found,
            } => write!(
                f,
                "{kind}: character {found:?} at offset {position} is not a decimal digit"
            ),
            IdError::DigitCount {
                kind,
                count,
                min,
                max,
            } => {
                if min == max {
                    write!(f, "{kind} has {count} digits, expected {min}")
                } else {
                    write!(f, "{kind} has {count} digits, expected {min} to {max}")
                }
            }
            IdError::ByteLength {
                kind,
                length,
                expected,
            } => write!(f, "{kind} is {length} bytes long, expected {expected}"),
            IdError::InvalidNibble {
                kind,
                position,
                nibble,
            } => write!(
                f,
                "{kind}: nibble {nibble:X} for digit {position} is not a decimal digit"
            ),
            IdError::DigitAfterPadding { position } => write!(
                f,
                "ICCID: digit {position} follows F padding, which may only end the number"
            ),
            IdError::LuhnMismatch { expected, found } => write!(
                f,
                "ICCID check digit is {found}, the Luhn algorithm gives {expected}"
            ),
            IdError::ChecksumMismatch { expected, found } => write!(
                f,
                "EID check digits are {found:02}, ISO 7064 MOD 97-10 gives {expected:02}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for IdError {}

/// The value of an ASCII decimal digit character.
fn digit_value(c: char) -> Option<u8> {
    // `to_digit(10)` accepts only '0'..='9', never other Unicode digits.
    c.to_digit(10).and_then(|d| u8::try_from(d).ok())
}

/// Reads `text` as decimal digits, calling `put(index, value)` for each of the first `max`
/// digits; returns the digit count, failing at the first non-digit.
fn read_digits(
    text: &str,
    kind: IdKind,
    max: usize,
    mut put: impl FnMut(usize, u8),
) -> Result<usize, IdError> {
    let mut count = 0usize;
    for (position, c) in text.char_indices() {
        let d = digit_value(c).ok_or(IdError::InvalidDigit {
            kind,
            position,
            found: c,
        })?;
        if count < max {
            put(count, d);
        }
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// Writes one decimal digit (0 to 9) as a character.
fn write_digit(f: &mut fmt::Formatter<'_>, d: u8) -> fmt::Result {
    f.write_char(char::from(b'0'.saturating_add(d)))
}

/// The Luhn check digit (ISO/IEC 7812-1 Annex B) for `payload`, given most significant first.
fn luhn_digit_for(payload: impl DoubleEndedIterator<Item = u8>) -> u8 {
    // From the right, every other digit starting with the rightmost payload digit is doubled
    // (the check digit, which will follow it, is not).
    let sum: u32 = payload
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d);
            if i.is_multiple_of(2) {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    // `sum % 10` is below 10, so the result is a single digit.
    ((10 - sum % 10) % 10) as u8
}

/// An ICCID (ITU-T E.118), kept in its 10-byte EF.ICCID encoding (ETSI TS 102 221 §13.2).
///
/// The encoding swaps the two digits of each byte and pads with `F`:
/// `89444765000012241583` is `98 44 74 56 00 00 21 42 51 38`, and the 19-digit
/// `8988211000000123458` is `98 88 12 01 00 00 10 32 54 F8`. Any value of this type holds 18 to
/// 20 digits; the Luhn check digit is not enforced (test profiles with a wrong one exist) unless
/// you use [`Iccid::from_digits_checked`] or ask [`Iccid::luhn_valid`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iccid([u8; Iccid::LEN]);

impl Iccid {
    /// Bytes of the EF.ICCID encoding (the value of tag `5A` in ProfileInfo).
    pub const LEN: usize = 10;
    /// Fewest digits accepted: E.118 ICCIDs have 18 to 20 digits in practice (19 plus the
    /// check digit at most; short ones are padded with `F`).
    pub const MIN_DIGITS: usize = 18;
    /// Most digits that fit in the 10-byte encoding.
    pub const MAX_DIGITS: usize = 2 * Iccid::LEN;

    /// Reads an ICCID from its digits (18 to 20). The Luhn digit is not checked.
    pub fn from_digits(text: &str) -> Result<Self, IdError> {
        let mut bytes = [0xFFu8; Iccid::LEN];
        let count = read_digits(text, IdKind::Iccid, Iccid::MAX_DIGITS, |i, d| {
            if let Some(b) = bytes.get_mut(i / 2) {
                // The first digit of each pair goes in the low nibble (EF.ICCID swap).
                *b = if i.is_multiple_of(2) {
                    (*b & 0xF0) | d
                } else {
                    (*b & 0x0F) | (d << 4)
                };
            }
        })?;
        if !(Iccid::MIN_DIGITS..=Iccid::MAX_DIGITS).contains(&count) {
            return Err(IdError::DigitCount {
                kind: IdKind::Iccid,
                count,
                min: Iccid::MIN_DIGITS,
                max: Iccid::MAX_DIGITS,
            });
        }
        Ok(Iccid(bytes))
    }

    /// Like [`Iccid::from_digits`], and the last digit must be the Luhn check digit.
    pub fn from_digits_checked(text: &str) -> Result<Self, IdError> {
        let iccid = Iccid::from_digits(text)?;
        iccid.check_luhn()?;
        Ok(iccid)
    }

    /// Reads the EF.ICCID encoding (the value of a `5A` TLV, 10 bytes): nibble-swapped BCD,
    /// `F` padding only at the end, 18 to 20 digits. The Luhn digit is not checked.
    pub fn from_bcd(bytes: &[u8]) -> Result<Self, IdError> {
        let array: [u8; Iccid::LEN] = bytes.try_into().map_err(|_| IdError::ByteLength {
            kind: IdKind::Iccid,
            length: bytes.len(),
            expected: Iccid::LEN,
        })?;
        let mut count = 0usize;
        let mut padded = false;
        for (position, nibble) in swapped_nibbles(&array).enumerate() {
            match nibble {
                0..=9 if padded => return Err(IdError::DigitAfterPadding { position }),
                0..=9 => count = count.saturating_add(1),
                0xF => padded = true,
                _ => {
                    return Err(IdError::InvalidNibble {
                        kind: IdKind::Iccid,
                        position,
                        nibble,
                    });
                }
            }
        }
        if count < Iccid::MIN_DIGITS {
            return Err(IdError::DigitCount {
                kind: IdKind::Iccid,
                count,
                min: Iccid::MIN_DIGITS,
                max: Iccid::MAX_DIGITS,
            });
        }
        Ok(Iccid(array))
    }

    /// The EF.ICCID encoding, as sent under tag `5A` (Enable/Disable/DeleteProfile by ICCID).
    pub fn as_bytes(&self) -> &[u8; Iccid::LEN] {
        &self.0
    }

    /// The digits, most significant first, each 0 to 9.
    pub fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        swapped_nibbles(&self.0).take_while(|&n| n <= 9)
    }

    /// How many digits (18 to 20).
    pub fn digit_count(&self) -> usize {
        self.digits().count()
    }

    /// Whether the last digit is the Luhn check digit of the others (ITU-T E.118).
    pub fn luhn_valid(&self) -> bool {
        self.check_luhn().is_ok()
    }

    /// The Luhn check digit to append to `payload` (decimal digits, most significant first),
    /// for example to make up test ICCIDs.
    pub fn luhn_check_digit(payload: &str) -> Result<u8, IdError> {
        read_digits(payload, IdKind::Iccid, 0, |_, _| {})?;
        Ok(luhn_digit_for(
            payload.bytes().map(|b| b.wrapping_sub(b'0')),
        ))
    }

    fn check_luhn(&self) -> Result<(), IdError> {
        // Luhn runs from the right, so the digits are copied out to be walked backwards.
        let mut buf = [0u8; Iccid::MAX_DIGITS];
        let mut count = 0usize;
        for (slot, d) in buf.iter_mut().zip(self.digits()) {
            *slot = d;
            count = count.saturating_add(1);
        }
        let (found, payload) = match buf.get(..count).and_then(<[u8]>::split_last) {
            Some((last, payload)) => (*last, payload),
            None => (0, &[][..]),
        };
        let expected = luhn_digit_for(payload.iter().copied());
        if expected == found {
            Ok(())
        } else {
            Err(IdError::LuhnMismatch { expected, found })
        }
    }
}

/// The nibbles of EF.ICCID bytes in digit order: low nibble first in each byte.
fn swapped_nibbles(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().flat_map(|b| [b & 0x0F, b >> 4])
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.digits().try_for_each(|d| write_digit(f, d))
    }
}

impl fmt::Debug for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iccid({self})")
    }
}

impl FromStr for Iccid {
    type Err = IdError;

    /// Same as [`Iccid::from_digits`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Iccid::from_digits(s)
    }
}

impl TryFrom<&[u8]> for Iccid {
    type Error = IdError;

    /// Same as [`Iccid::from_bcd`].
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Iccid::from_bcd(bytes)
    }
}

/// An EID (GSMA SGP.29): 32 decimal digits, kept as the 16 bytes of plain BCD the eUICC
/// returns in GetEuiccDataResponse (SGP.22 §5.7.20), first digit in the high nibble.
///
/// The last two digits are ISO 7064 MOD 97-10 check digits: the whole 32-digit number
/// modulo 97 is 1. [`Eid::from_digits`] and [`Eid::from_bytes`] enforce this;
/// [`Eid::from_bytes_unchecked`] does not, so that an LPA can still show what a faulty card
/// reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Eid([u8; Eid::LEN]);

impl Eid {
    /// Bytes of the encoded EID (the value of tag `5A` in GetEuiccDataResponse).
    pub const LEN: usize = 16;
    /// Digits of an EID.
    pub const DIGITS: usize = 2 * Eid::LEN;
    /// Digits before the two check digits.
    pub const PREFIX_DIGITS: usize = Eid::DIGITS - 2;

    /// Reads an EID from its 32 digits and verifies the check digits.
    pub fn from_digits(text: &str) -> Result<Self, IdError> {
        let mut bytes = [0u8; Eid::LEN];
        let count = read_digits(text, IdKind::Eid, Eid::DIGITS, |i, d| {
            put_bcd(&mut bytes, i, d);
        })?;
        if count != Eid::DIGITS {
            return Err(IdError::DigitCount {
                kind: IdKind::Eid,
                count,
                min: Eid::DIGITS,
                max: Eid::DIGITS,
            });
        }
        let eid = Eid(bytes);
        eid.check()?;
        Ok(eid)
    }

    /// Reads the 16 encoded bytes (plain BCD) and verifies the check digits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let eid = Eid::from_bytes_unchecked(bytes)?;
        eid.check()?;
        Ok(eid)
    }

    /// Reads the 16 encoded bytes (plain BCD), requiring decimal digits but not valid check
    /// digits; see [`Eid::is_valid`].
    pub fn from_bytes_unchecked(bytes: &[u8]) -> Result<Self, IdError> {
        let array: [u8; Eid::LEN] = bytes.try_into().map_err(|_| IdError::ByteLength {
            kind: IdKind::Eid,
            length: bytes.len(),
            expected: Eid::LEN,
        })?;
        if let Some((position, nibble)) = bcd_nibbles(&array).enumerate().find(|&(_, n)| n > 9) {
            return Err(IdError::InvalidNibble {
                kind: IdKind::Eid,
                position,
                nibble,
            });
        }
        Ok(Eid(array))
    }

    /// Builds an EID from its first 30 digits, appending the check digits.
    pub fn from_prefix(prefix: &str) -> Result<Self, IdError> {
        let check = Eid::check_digits(prefix)?;
        let mut bytes = [0u8; Eid::LEN];
        read_digits(prefix, IdKind::EidPrefix, Eid::PREFIX_DIGITS, |i, d| {
            put_bcd(&mut bytes, i, d);
        })?;
        if let Some(last) = bytes.last_mut() {
            *last = ((check / 10) << 4) | (check % 10);
        }
        Ok(Eid(bytes))
    }

    /// The two ISO 7064 MOD 97-10 check digits (2 to 98) for a 30-digit EID prefix:
    /// 98 - (prefix * 100 mod 97), so that the full number mod 97 is 1 (SGP.29).
    pub fn check_digits(prefix: &str) -> Result<u8, IdError> {
        let count = read_digits(prefix, IdKind::EidPrefix, 0, |_, _| {})?;
        if count != Eid::PREFIX_DIGITS {
            return Err(IdError::DigitCount {
                kind: IdKind::EidPrefix,
                count,
                min: Eid::PREFIX_DIGITS,
                max: Eid::PREFIX_DIGITS,
            });
        }
        let digits = prefix.bytes().map(|b| b.wrapping_sub(b'0'));
        Ok(98 - mod97(digits.chain([0, 0])))
    }

    /// Whether the check digits are right: the whole number mod 97 is 1 (always true unless
    /// read with [`Eid::from_bytes_unchecked`]).
    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    /// The encoded EID, as the eUICC returns it.
    pub fn as_bytes(&self) -> &[u8; Eid::LEN] {
        &self.0
    }

    /// The 32 digits, most significant first, each 0 to 9.
    pub fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        bcd_nibbles(&self.0)
    }

    fn check(&self) -> Result<(), IdError> {
        if mod97(self.digits()) == 1 {
            return Ok(());
        }
        let expected = 98 - mod97(self.digits().take(Eid::PREFIX_DIGITS).chain([0, 0]));
        let found = self.0.last().map_or(0, |b| (b >> 4) * 10 + (b & 0x0F));
        Err(IdError::ChecksumMismatch { expected, found })
    }
}

/// The nibbles of plain BCD in digit order: high nibble first.
fn bcd_nibbles(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().flat_map(|b| [b >> 4, b & 0x0F])
}

/// Stores digit `d` as digit number `i` of plain BCD.
fn put_bcd(bytes: &mut [u8], i: usize, d: u8) {
    if let Some(b) = bytes.get_mut(i / 2) {
        *b = if i.is_multiple_of(2) {
            (*b & 0x0F) | (d << 4)
        } else {
            (*b & 0xF0) | d
        };
    }
}

/// The decimal number spelled by `digits` (each 0 to 9), mod 97, without big integers.
fn mod97(digits: impl Iterator<Item = u8>) -> u8 {
    // Each step stays below 97 * 10 + 9, so u16 never overflows.
    let r = digits.fold(0u16, |r, d| (r * 10 + u16::from(d)) % 97);
    r as u8
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.digits().try_for_each(|d| write_digit(f, d))
    }
}

impl fmt::Debug for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Eid({self})")
    }
}

impl FromStr for Eid {
    type Err = IdError;

    /// Same as [`Eid::from_digits`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Eid::from_digits(s)
    }
}

impl TryFrom<&[u8]> for Eid {
    type Error = IdError;

    /// Same as [`Eid::from_bytes`].
    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Eid::from_bytes(bytes)
    }
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
    use std::vec::Vec;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // Vectors computed independently (python3: Luhn by hand, EF.ICCID by swapping pairs).
    const ICCID_20: &str = "89444765000012241583";
    const ICCID_20_BYTES: &str = "98447456000021425138";
    const ICCID_20_B: &str = "89012601234567890121";
    const ICCID_20_B_BYTES: &str = "98106210325476981012";
    const ICCID_19: &str = "8988211000000123458";
    const ICCID_19_BYTES: &str = "988812010000103254F8";
    const ICCID_18: &str = "898821100000012346";
    const ICCID_18_BYTES: &str = "988812010000103264FF";

    #[test]
    fn iccid_vectors_encode_decode() {
        for (digits, bytes) in [
            (ICCID_20, ICCID_20_BYTES),
            (ICCID_20_B, ICCID_20_B_BYTES),
            (ICCID_19, ICCID_19_BYTES),
            (ICCID_18, ICCID_18_BYTES),
        ] {
            let from_text = Iccid::from_digits_checked(digits).unwrap();
            assert_eq!(hex::encode_upper(from_text.as_bytes()), bytes);
            let from_bytes = Iccid::from_bcd(&h(bytes)).unwrap();
            assert_eq!(from_bytes, from_text);
            assert_eq!(from_bytes.to_string(), digits);
            assert_eq!(from_bytes.digit_count(), digits.len());
            assert!(from_bytes.luhn_valid());
            assert_eq!(digits.parse::<Iccid>(), Ok(from_text));
            assert_eq!(Iccid::try_from(&h(bytes)[..]), Ok(from_text));
        }
        assert_eq!(
            format!("{:?}", Iccid::from_digits(ICCID_19).unwrap()),
            "Iccid(8988211000000123458)"
        );
    }

    #[test]
    fn iccid_luhn() {
        assert_eq!(Iccid::luhn_check_digit("8944476500001224158"), Ok(3));
        assert_eq!(Iccid::luhn_check_digit("898821100000012345"), Ok(8));
        assert_eq!(Iccid::luhn_check_digit(""), Ok(0));
        // ISO/IEC 7812 example: 7992739871 -> 3.
        assert_eq!(Iccid::luhn_check_digit("7992739871"), Ok(3));
        assert_eq!(
            Iccid::luhn_check_digit("89x"),
            Err(IdError::InvalidDigit {
                kind: IdKind::Iccid,
                position: 2,
                found: 'x'
            })
        );
        // The same ICCID with a wrong check digit parses unchecked but not checked.
        let wrong = "89444765000012241584";
        let iccid = Iccid::from_digits(wrong).unwrap();
        assert!(!iccid.luhn_valid());
        assert_eq!(
            Iccid::from_digits_checked(wrong),
            Err(IdError::LuhnMismatch {
                expected: 3,
                found: 4
            })
        );
        // A swapped pair of digits (a typical typing mistake) is caught too.
        assert!(
            !Iccid::from_digits("89444765000012214583")
                .unwrap()
                .luhn_valid()
        );
    }

    #[test]
    fn iccid_text_errors() {
        assert_eq!(
            Iccid::from_digits("8944 4765000012241583"),
            Err(IdError::InvalidDigit {
                kind: IdKind::Iccid,
                position: 4,
                found: ' '
            })
        );
        assert_eq!(
            Iccid::from_digits("89444765000012241F"),
            Err(IdError::InvalidDigit {
                kind: IdKind::Iccid,
                position: 17,
                found: 'F'
            })
        );
        // Arabic-Indic digit: a Unicode digit, but not an ASCII one.
        assert_eq!(
            Iccid::from_digits("89\u{0663}"),
            Err(IdError::InvalidDigit {
                kind: IdKind::Iccid,
                position: 2,
                found: '\u{0663}'
            })
        );
        for (text, count) in [
            ("", 0),
            ("89444765000012241", 17),
            ("894447650000122415831", 21),
        ] {
            assert_eq!(
                Iccid::from_digits(text),
                Err(IdError::DigitCount {
                    kind: IdKind::Iccid,
                    count,
                    min: 18,
                    max: 20
                })
            );
        }
    }

    #[test]
    fn iccid_byte_errors() {
        assert_eq!(
            Iccid::from_bcd(&h("984474560000214251")),
            Err(IdError::ByteLength {
                kind: IdKind::Iccid,
                length: 9,
                expected: 10
            })
        );
        // A nibble A in the high half of byte 7: digit 15.
        assert_eq!(
            Iccid::from_bcd(&h("98447456000021A25138")),
            Err(IdError::InvalidNibble {
                kind: IdKind::Iccid,
                position: 15,
                nibble: 0xA
            })
        );
        // Padding in the middle: F at digit 2, then digits again.
        assert_eq!(
            Iccid::from_bcd(&h("984F7456000021425138")),
            Err(IdError::DigitAfterPadding { position: 3 })
        );
        // Padding that is not at the end of the last byte: digit 19 after F at 18.
        assert_eq!(
            Iccid::from_bcd(&h("9888120100001032548F")),
            Err(IdError::DigitAfterPadding { position: 19 })
        );
        // Padding in the low half of byte 8 and a digit in its high half.
        assert_eq!(
            Iccid::from_bcd(&h("98881201000010325FFF")),
            Err(IdError::DigitAfterPadding { position: 17 })
        );
        // Well-formed padding, but only 17 digits (89882110000001234).
        assert_eq!(
            Iccid::from_bcd(&h("9888120100001032F4FF")),
            Err(IdError::DigitCount {
                kind: IdKind::Iccid,
                count: 17,
                min: 18,
                max: 20
            })
        );
        assert_eq!(
            Iccid::from_bcd(&[0xFF; 10]),
            Err(IdError::DigitCount {
                kind: IdKind::Iccid,
                count: 0,
                min: 18,
                max: 20
            })
        );
    }

    // The SGP.26 test eUICC.
    const EID: &str = "89049032123451234512345678901235";

    #[test]
    fn eid_vector() {
        let eid: Eid = EID.parse().unwrap();
        assert_eq!(
            hex::encode_upper(eid.as_bytes()),
            "89049032123451234512345678901235"
        );
        // As GetEuiccDataResponse carries it: 5A 10 89 04 90 ...
        let tlv = h("5A1089049032123451234512345678901235");
        assert_eq!(Eid::from_bytes(&tlv[2..]), Ok(eid));
        assert_eq!(Eid::try_from(&tlv[2..]), Ok(eid));
        assert_eq!(eid.to_string(), EID);
        assert_eq!(format!("{eid:?}"), format!("Eid({EID})"));
        assert!(eid.is_valid());
        assert_eq!(Eid::check_digits(&EID[..30]), Ok(35));
        assert_eq!(Eid::from_prefix(&EID[..30]), Ok(eid));
        assert_eq!(eid.digits().count(), 32);
    }

    #[test]
    fn eid_corrupted() {
        // Last digit changed: mod 97 becomes 0.
        let bad = "89049032123451234512345678901234";
        assert_eq!(
            Eid::from_digits(bad),
            Err(IdError::ChecksumMismatch {
                expected: 35,
                found: 34
            })
        );
        // Two digits of the body transposed: the checksum catches it.
        let transposed = "89049032123451234512345678910235";
        assert_eq!(
            Eid::from_digits(transposed),
            Err(IdError::ChecksumMismatch {
                expected: 56,
                found: 35
            })
        );
        let bytes = h(bad);
        assert_eq!(
            Eid::from_bytes(&bytes),
            Err(IdError::ChecksumMismatch {
                expected: 35,
                found: 34
            })
        );
        // Unverified reading keeps it, so the LPA can show what the card said.
        let eid = Eid::from_bytes_unchecked(&bytes).unwrap();
        assert!(!eid.is_valid());
        assert_eq!(eid.to_string(), bad);
    }

    #[test]
    fn eid_check_digits_small_values_keep_two_digits() {
        // A prefix whose check digits are below 10 must still be written as two digits.
        let mut prefix = String::from("8904903200000000000000000000");
        let mut found_small = false;
        for n in 0..100u32 {
            prefix.truncate(28);
            prefix.push_str(&format!("{n:02}"));
            let check = Eid::check_digits(&prefix).unwrap();
            assert!((2..=98).contains(&check));
            let eid = Eid::from_prefix(&prefix).unwrap();
            let text = eid.to_string();
            assert_eq!(&text[..30], prefix);
            assert_eq!(&text[30..], format!("{check:02}"));
            assert_eq!(Eid::from_digits(&text), Ok(eid));
            found_small |= check < 10;
        }
        assert!(found_small);
    }

    #[test]
    fn eid_errors() {
        assert_eq!(
            Eid::from_digits("8904903212345123451234567890123"),
            Err(IdError::DigitCount {
                kind: IdKind::Eid,
                count: 31,
                min: 32,
                max: 32
            })
        );
        assert_eq!(
            Eid::from_digits("8904903212345123451234567890123-"),
            Err(IdError::InvalidDigit {
                kind: IdKind::Eid,
                position: 31,
                found: '-'
            })
        );
        assert_eq!(
            Eid::from_bytes(&h("8904903212345123451234567890")),
            Err(IdError::ByteLength {
                kind: IdKind::Eid,
                length: 14,
                expected: 16
            })
        );
        assert_eq!(
            Eid::from_bytes(&h("89049032123451234512345678901F35")),
            Err(IdError::InvalidNibble {
                kind: IdKind::Eid,
                position: 29,
                nibble: 0xF
            })
        );
        assert_eq!(
            Eid::check_digits("89049032"),
            Err(IdError::DigitCount {
                kind: IdKind::EidPrefix,
                count: 8,
                min: 30,
                max: 30
            })
        );
        assert_eq!(
            Eid::from_prefix("89049032123451234512345678901x"),
            Err(IdError::InvalidDigit {
                kind: IdKind::EidPrefix,
                position: 29,
                found: 'x'
            })
        );
    }

    #[test]
    fn error_messages() {
        let cases = [
            (
                Eid::from_digits("89049032123451234512345678901234").unwrap_err(),
                "EID check digits are 34, ISO 7064 MOD 97-10 gives 35",
            ),
            (
                Iccid::from_digits("123").unwrap_err(),
                "ICCID has 3 digits, expected 18 to 20",
            ),
            (
                Eid::check_digits("1").unwrap_err(),
                "EID prefix has 1 digits, expected 30",
            ),
            (
                Iccid::from_bcd(&h("984F7456000021425138")).unwrap_err(),
                "ICCID: digit 3 follows F padding, which may only end the number",
            ),
            (
                Iccid::from_bcd(&h("984474560000214251C8")).unwrap_err(),
                "ICCID: nibble C for digit 19 is not a decimal digit",
            ),
            (
                Eid::from_bytes(&[]).unwrap_err(),
                "EID is 0 bytes long, expected 16",
            ),
            (
                Iccid::from_digits_checked("89444765000012241584").unwrap_err(),
                "ICCID check digit is 4, the Luhn algorithm gives 3",
            ),
            (
                Iccid::from_digits("8x").unwrap_err(),
                "ICCID: character 'x' at offset 1 is not a decimal digit",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
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
    fn no_input_panics_and_accepted_values_round_trip() {
        let mut rng = Rng(0x1CC1_D0E1_D000_0001);
        let (mut iccids, mut eids) = (0, 0);
        for _ in 0..50_000 {
            // Bytes: mostly decimal nibbles so that some inputs are valid, sometimes F or A-E.
            let len = [9, 10, 10, 10, 15, 16, 16, 16, 17, 0][rng.below(10)];
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let mut nibble = || match rng.below(20) {
                        0 => 0xF,
                        1 => 0xA + rng.below(5) as u8,
                        _ => rng.below(10) as u8,
                    };
                    (nibble() << 4) | nibble()
                })
                .collect();
            if let Ok(iccid) = Iccid::from_bcd(&bytes) {
                iccids += 1;
                assert_eq!(iccid.to_string().parse::<Iccid>(), Ok(iccid));
                assert_eq!(iccid.as_bytes()[..], bytes[..]);
                let _ = iccid.luhn_valid();
            }
            if let Ok(eid) = Eid::from_bytes_unchecked(&bytes) {
                eids += 1;
                assert_eq!(eid.as_bytes()[..], bytes[..]);
                match Eid::from_digits(&eid.to_string()) {
                    Ok(back) => assert!(back == eid && eid.is_valid()),
                    Err(e) => {
                        assert!(matches!(e, IdError::ChecksumMismatch { .. }) && !eid.is_valid())
                    }
                }
                let prefix: String = eid.to_string().chars().take(30).collect();
                let fixed = Eid::from_prefix(&prefix).unwrap();
                assert!(fixed.is_valid());
            }
            // Text: digits with the odd space, letter or multi-byte character.
            let text: String = (0..rng.below(34))
                .map(|_| match rng.below(30) {
                    0 => ' ',
                    1 => 'F',
                    2 => '\u{0663}',
                    3 => '\u{1F600}',
                    _ => char::from(b'0' + rng.below(10) as u8),
                })
                .collect();
            if let Ok(iccid) = Iccid::from_digits(&text) {
                assert_eq!(iccid.to_string(), text);
                assert_eq!(Iccid::from_bcd(iccid.as_bytes()), Ok(iccid));
                let _ = Iccid::from_digits_checked(&text);
            }
            if let Ok(eid) = Eid::from_digits(&text) {
                assert_eq!(eid.to_string(), text);
            }
            let _ = Eid::check_digits(&text);
            let _ = Eid::from_prefix(&text);
            let _ = Iccid::luhn_check_digit(&text);
        }
        assert!(
            iccids > 100 && eids > 100,
            "generator too weak: {iccids} {eids}"
        );
    }
}
