//! Keeping EIDs, ICCIDs, matching IDs and IMEIs out of logs.
//!
//! Log lines end up in bug reports, `logcat` dumps and support tickets. An EID identifies a
//! device for life, an ICCID a subscription, and a matching ID is a one-time secret that
//! downloads a profile. Everything this crate logs goes through the helpers here, which show
//! those values masked unless the embedder explicitly turned on `log_sensitive` (for a
//! developer's own device, say).
//!
//! Two levels:
//! - values: [`mask`], [`mask_secret`], and the [`Redacted`] `Display` wrapper built by [`id`]
//!   and [`secret`], for log lines that name one identifier;
//! - bytes: [`sensitive_ranges`] finds where identifiers sit inside DER (or a prefix of it, or
//!   a Bound Profile Package sequence that starts with a bare tag and length), and
//!   [`masked_hex`] prints bytes with those ranges replaced by `**`. This is what keeps the
//!   APDU trace free of identifiers: an EID's BCD hex *is* its digits.
//!
//! ```
//! use lpa::es10::redact;
//!
//! assert_eq!(redact::mask("89049032123451234512345678901235"), "8904************************1235");
//! assert_eq!(redact::mask_secret("QR-G6PZ-UB5G-S5RX"), "<17 characters hidden>");
//! assert_eq!(redact::id("8944476500001224158", false).to_string(), "8944***********4158");
//! assert_eq!(redact::id("8944476500001224158", true).to_string(), "8944476500001224158");
//!
//! // GetEuiccDataResponse: BF3E 12 5A 10 <EID>; the 16 EID bytes are masked.
//! let mut der = vec![0xBF, 0x3E, 0x12, 0x5A, 0x10];
//! der.extend_from_slice(&[0x89; 16]);
//! let ranges = redact::sensitive_ranges(&der);
//! assert_eq!(ranges, vec![5..21]);
//! assert!(redact::masked_hex(&der, 0, &ranges).starts_with("BF3E125A10****"));
//! ```

use core::fmt::{self, Write as _};
use core::ops::Range;

/// Masks the middle of an identifier: 16 characters or more keep their first and last four
/// (`8904************************1235`), 10 to 15 keep two at each end, shorter ones are
/// masked whole. Enough to tell two profiles apart in a log, not enough to use one.
pub fn mask(text: &str) -> String {
    let n = text.chars().count();
    let keep = match n {
        16.. => 4,
        10..=15 => 2,
        _ => 0,
    };
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep || (keep > 0 && i + keep >= n) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Hides a secret entirely (matching IDs, confirmation codes): only its length remains.
pub fn mask_secret(text: &str) -> String {
    format!("<{} characters hidden>", text.chars().count())
}

/// How a [`Redacted`] value is shown when it is not revealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// [`mask`].
    Identifier,
    /// [`mask_secret`].
    Secret,
}

/// A value for a log line: displayed in clear when `reveal` is set, masked otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Redacted<T> {
    value: T,
    reveal: bool,
    kind: Kind,
}

/// An identifier (EID, ICCID, IMEI) for a log line: [`mask`]ed unless `log_sensitive`.
pub fn id<T: fmt::Display>(value: T, log_sensitive: bool) -> Redacted<T> {
    Redacted {
        value,
        reveal: log_sensitive,
        kind: Kind::Identifier,
    }
}

/// A secret (matching ID, confirmation code) for a log line: only its length unless
/// `log_sensitive`.
pub fn secret<T: fmt::Display>(value: T, log_sensitive: bool) -> Redacted<T> {
    Redacted {
        value,
        reveal: log_sensitive,
        kind: Kind::Secret,
    }
}

impl<T: fmt::Display> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reveal {
            return self.value.fmt(f);
        }
        let text = self.value.to_string();
        match self.kind {
            Kind::Identifier => f.write_str(&mask(&text)),
            Kind::Secret => f.write_str(&mask_secret(&text)),
        }
    }
}

/// Upper-case hex of `bytes`, for log lines.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// Upper-case hex of `bytes`, which sit at `offset` in the message `ranges` describe, with
/// every byte inside one of the `ranges` written as `**`.
pub fn masked_hex(bytes: &[u8], offset: usize, ranges: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (i, b) in bytes.iter().enumerate() {
        let at = offset.saturating_add(i);
        if ranges.iter().any(|r| r.contains(&at)) {
            out.push_str("**");
        } else {
            let _ = write!(out, "{b:02X}");
        }
    }
    out
}

/// Where identifiers sit in `der`: the value bytes of
/// - every `5A` element (ICCID, EID: SGP.22 uses `[APPLICATION 26]` for nothing else);
/// - every character string (PrintableString, UTF8String, IA5String, NumericString) of 18
///   characters or more: the EID in the subject of CERT.EUICC, and ICCIDs in free text;
/// - `80` directly inside `A0`: the matchingId of ctxParams1 (in AuthenticateServer and in the
///   euiccSigned1 the card answers with);
/// - `82` inside `A1` inside `A0`: the IMEI of DeviceInfo in ctxParams1.
///
/// The walk is lenient because it also serves the APDU trace: `der` may be a prefix of a
/// message (response data still arriving: an element's range is known from its header alone,
/// so ranges may reach past the end of `der`), or a Bound Profile Package sequence that starts
/// with a bare tag and length (SGP.22 §2.5.5). The plaintext StoreMetadataRequest inside a
/// MAC-only `88` segment is walked too. Bytes that cannot be read as TLV are reported as
/// sensitive up to the end of their enclosing element: when in doubt, mask.
pub fn sensitive_ranges(der: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut ancestors = Vec::new();
    walk(der, 0, usize::MAX, &mut ancestors, &mut out);
    out
}

/// The deepest nesting walked; deeper content is masked whole (no SGP.22 message nests this
/// deep, and a hostile one must not exhaust the stack).
const MAX_DEPTH: usize = 24;

/// What is at `pos`: a complete header, a header cut off by the end of the data, or bytes that
/// are not a BER header at all.
enum Header {
    Complete {
        tag: u32,
        constructed: bool,
        value_start: usize,
        value_len: usize,
    },
    Truncated,
    Invalid,
}

fn read_header(buf: &[u8], pos: usize) -> Header {
    let Some(&first) = buf.get(pos) else {
        return Header::Truncated;
    };
    let constructed = first & 0x20 != 0;
    let mut tag = u32::from(first);
    let mut at = pos + 1;
    if first & 0x1F == 0x1F {
        loop {
            let Some(&b) = buf.get(at) else {
                return Header::Truncated;
            };
            at += 1;
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
            if at - pos >= 4 {
                return Header::Invalid;
            }
        }
    }
    let Some(&l) = buf.get(at) else {
        return Header::Truncated;
    };
    at += 1;
    let value_len = match l {
        0x00..=0x7F => usize::from(l),
        0x81..=0x84 => {
            let n = usize::from(l & 0x7F);
            let Some(bytes) = buf.get(at..at + n) else {
                return Header::Truncated;
            };
            at += n;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
        // Indefinite (80) or absurd lengths: not DER.
        _ => return Header::Invalid,
    };
    Header::Complete {
        tag,
        constructed,
        value_start: at,
        value_len,
    }
}

fn is_sensitive(tag: u32, constructed: bool, value_len: usize, ancestors: &[u32]) -> bool {
    if constructed {
        return false;
    }
    let parent = ancestors.last().copied();
    let grandparent = ancestors
        .len()
        .checked_sub(2)
        .and_then(|i| ancestors.get(i));
    match tag {
        0x5A => true,
        // PrintableString, UTF8String, IA5String, NumericString.
        0x13 | 0x0C | 0x16 | 0x12 => value_len >= 18,
        0x80 => parent == Some(0xA0),
        0x82 => parent == Some(0xA1) && grandparent == Some(&0xA0),
        _ => false,
    }
}

/// Walks the elements in `buf[pos..end]` (`end` may lie past the data).
fn walk(
    buf: &[u8],
    mut pos: usize,
    end: usize,
    ancestors: &mut Vec<u32>,
    out: &mut Vec<Range<usize>>,
) {
    if ancestors.len() > MAX_DEPTH {
        out.push(pos..end);
        return;
    }
    while pos < end && pos < buf.len() {
        match read_header(buf, pos) {
            Header::Truncated => return,
            Header::Invalid => {
                out.push(pos..end);
                return;
            }
            Header::Complete {
                tag,
                constructed,
                value_start,
                value_len,
            } => {
                let value_end = value_start.saturating_add(value_len);
                if value_end > end {
                    // An element longer than its container: not DER.
                    out.push(pos..end);
                    return;
                }
                if is_sensitive(tag, constructed, value_len, ancestors) {
                    out.push(value_start..value_end);
                } else if constructed || tag == 0x88 {
                    // `88` is a MAC-only BPP segment: StoreMetadataRequest in clear, then the MAC.
                    ancestors.push(tag);
                    walk(buf, value_start, value_end, ancestors, out);
                    ancestors.pop();
                }
                pos = value_end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("123"), "***");
        assert_eq!(mask("123456789"), "*********");
        assert_eq!(mask("1234567890"), "12******90");
        assert_eq!(mask("89444765000012241583"), "8944************1583");
        assert_eq!(secret("abc", false).to_string(), "<3 characters hidden>");
        assert_eq!(secret("abc", true).to_string(), "abc");
    }

    #[test]
    fn prefixes_and_garbage() {
        // BF2D 10 A0 0E E3 0C 5A 0A <10 ICCID bytes>, cut after 3 ICCID bytes: the range is
        // known from the header.
        let mut der = vec![0xBF, 0x2D, 0x10, 0xA0, 0x0E, 0xE3, 0x0C, 0x5A, 0x0A];
        der.extend_from_slice(&[0x98, 0x44, 0x74]);
        assert_eq!(sensitive_ranges(&der), vec![9..19]);
        // A cut header reports nothing more.
        assert_eq!(sensitive_ranges(&[0xBF, 0x2D, 0x82, 0x01]), vec![]);
        // Indefinite length: masked to the end.
        assert_eq!(sensitive_ranges(&[0x30, 0x80, 0x01]), vec![0..usize::MAX]);
        // A child longer than its parent: masked to the parent's end.
        assert_eq!(
            sensitive_ranges(&[0x30, 0x03, 0x04, 0x05, 0x00]),
            vec![2..5]
        );
        // Matching ID and IMEI in ctxParams1; the TAC stays visible.
        let ctx = [
            0xA0, 0x0E, 0x80, 0x02, b'M', b'1', 0xA1, 0x08, 0x80, 0x01, 0x35, 0x82, 0x03, 1, 2, 3,
        ];
        assert_eq!(sensitive_ranges(&ctx), vec![4..6, 13..16]);
        let ranges = sensitive_ranges(&ctx);
        assert_eq!(masked_hex(&ctx[..6], 0, &ranges), "A00E8002****");
    }
}
