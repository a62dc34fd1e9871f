//! Zero-copy BER-TLV reading and size-first TLV writing over caller-owned buffers.
//!
//! SGP.22 messages are DER (ITU-T X.690) and use multi-byte tags such as `BF2D`
//! (ProfileInfoListRequest), `9F70` (profileState) and `5F37` (signatures), and long-form
//! lengths for certificates and Bound Profile Packages. Nothing in this module allocates: the
//! reader hands out sub-slices of its input, and the writer fills a `&mut [u8]` whose size the
//! caller computes first with [`tlv_len`].
//!
//! Every error carries the byte offset where it was found, counted from the start of the
//! outermost buffer handed to [`TlvReader::new`] or [`Tlv::parse`].

use core::fmt;

/// A BER tag, kept as its encoded bytes read as a big-endian number (`0x5A`, `0x9F70`,
/// `0xBF2D`), which is how SGP.22 and this code write tags.
///
/// Tags of up to four bytes are supported (tag numbers up to 2^21 - 1); SGP.22 uses at most two.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

/// The class bits of a tag (X.690 §8.1.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagClass {
    /// `00`: universal types (INTEGER, SEQUENCE, ...).
    Universal,
    /// `01`: `[APPLICATION n]`, e.g. ICCID `5A`, signatures `5F37`.
    Application,
    /// `10`: context-specific `[n]`, the automatic tags of the SGP.22 module.
    Context,
    /// `11`: `[PRIVATE n]`, e.g. ProfileInfo `E3`.
    Private,
}

impl Tag {
    /// Universal BOOLEAN.
    pub const BOOLEAN: Tag = Tag(0x01);
    /// Universal INTEGER.
    pub const INTEGER: Tag = Tag(0x02);
    /// Universal BIT STRING.
    pub const BIT_STRING: Tag = Tag(0x03);
    /// Universal OCTET STRING.
    pub const OCTET_STRING: Tag = Tag(0x04);
    /// Universal NULL.
    pub const NULL: Tag = Tag(0x05);
    /// Universal OBJECT IDENTIFIER.
    pub const OBJECT_IDENTIFIER: Tag = Tag(0x06);
    /// Universal ENUMERATED.
    pub const ENUMERATED: Tag = Tag(0x0A);
    /// Universal UTF8String.
    pub const UTF8_STRING: Tag = Tag(0x0C);
    /// Universal SEQUENCE / SEQUENCE OF (constructed).
    pub const SEQUENCE: Tag = Tag(0x30);

    /// The first encoded byte.
    pub const fn first_byte(self) -> u8 {
        let len = self.encoded_len();
        (self.0 >> ((len - 1) * 8)) as u8
    }

    /// Whether the constructed bit (bit 6 of the first byte) is set.
    pub const fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// The class of this tag.
    pub const fn class(self) -> TagClass {
        match self.first_byte() >> 6 {
            0 => TagClass::Universal,
            1 => TagClass::Application,
            2 => TagClass::Context,
            _ => TagClass::Private,
        }
    }

    /// The tag number (`0xBF2D` is number 45, `0x5A` is 26).
    pub const fn number(self) -> u32 {
        let len = self.encoded_len();
        if len == 1 {
            return self.0 & 0x1F;
        }
        let mut n = 0u32;
        let mut i = len - 1;
        while i > 0 {
            i -= 1;
            n = (n << 7) | ((self.0 >> (i * 8)) & 0x7F);
        }
        n
    }

    /// How many bytes the tag takes when encoded.
    pub const fn encoded_len(self) -> usize {
        if self.0 <= 0xFF {
            1
        } else if self.0 <= 0xFFFF {
            2
        } else if self.0 <= 0xFF_FFFF {
            3
        } else {
            4
        }
    }

    /// Writes the tag bytes into `out`, which must be at least [`Tag::encoded_len`] long.
    fn write_to(self, out: &mut [u8]) -> usize {
        let len = self.encoded_len();
        for (i, slot) in out.iter_mut().take(len).enumerate() {
            *slot = (self.0 >> ((len - 1 - i) * 8)) as u8;
        }
        len
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:02X})", self.0)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.encoded_len() * 2;
        write!(f, "{:0width$X}", self.0, width = width)
    }
}

/// What went wrong reading or writing TLV bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlvError {
    /// The input ended inside a tag, a length or a value.
    Truncated {
        /// Offset of the TLV element that is cut short.
        offset: usize,
        /// Bytes that element needs from its start.
        needed: usize,
        /// Bytes that were left from its start.
        available: usize,
    },
    /// A tag longer than four bytes, or a multi-byte tag with a non-minimal number.
    InvalidTag {
        /// Offset of the tag's first byte.
        offset: usize,
    },
    /// The indefinite length form (`80`), which DER forbids and SGP.22 never uses.
    IndefiniteLength {
        /// Offset of the length byte.
        offset: usize,
    },
    /// A length of more than four length bytes or one that does not fit in `usize`, or the
    /// reserved first byte `FF`.
    InvalidLength {
        /// Offset of the first length byte.
        offset: usize,
    },
    /// A different tag was found where one specific tag was required.
    UnexpectedTag {
        /// Offset of the element.
        offset: usize,
        /// The tag that was required.
        expected: Tag,
        /// The tag that was found.
        found: Tag,
    },
    /// Bytes follow the single element that was expected.
    TrailingData {
        /// Offset of the first byte after the element.
        offset: usize,
    },
    /// The output buffer is too small for what is being written.
    BufferTooSmall {
        /// Bytes that were needed in all.
        needed: usize,
        /// Size of the buffer.
        available: usize,
    },
    /// A primitive tag was given where a constructed one (with children) is needed.
    NotConstructed {
        /// Offset of the element.
        offset: usize,
        /// Its tag.
        tag: Tag,
    },
}

impl fmt::Display for TlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TlvError::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "TLV at offset {offset} is truncated: needs {needed} bytes, {available} left"
            ),
            TlvError::InvalidTag { offset } => write!(f, "invalid tag at offset {offset}"),
            TlvError::IndefiniteLength { offset } => {
                write!(
                    f,
                    "indefinite length at offset {offset} is not allowed in DER"
                )
            }
            TlvError::InvalidLength { offset } => write!(f, "invalid length at offset {offset}"),
            TlvError::UnexpectedTag {
                offset,
                expected,
                found,
            } => write!(
                f,
                "expected tag {expected} at offset {offset}, found {found}"
            ),
            TlvError::TrailingData { offset } => {
                write!(f, "unexpected trailing data at offset {offset}")
            }
            TlvError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer too small: {needed} bytes needed, {available} available"
            ),
            TlvError::NotConstructed { offset, tag } => {
                write!(f, "tag {tag} at offset {offset} is not constructed")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TlvError {}

/// One decoded TLV element: a view into the input, nothing copied.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    tag: Tag,
    raw: &'a [u8],
    header_len: usize,
    offset: usize,
}

impl fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tlv {{ tag: {}, len: {}, offset: {} }}",
            self.tag,
            self.value().len(),
            self.offset
        )
    }
}

impl<'a> Tlv<'a> {
    /// Parses exactly one TLV that must fill the whole of `input`.
    pub fn parse(input: &'a [u8]) -> Result<Tlv<'a>, TlvError> {
        Self::parse_at(input, 0)
    }

    /// Like [`Tlv::parse`], reporting offsets as if `input` started at `base_offset`.
    pub fn parse_at(input: &'a [u8], base_offset: usize) -> Result<Tlv<'a>, TlvError> {
        let (tlv, used) = read_one(input, base_offset)?;
        if used != input.len() {
            return Err(TlvError::TrailingData {
                offset: base_offset + used,
            });
        }
        Ok(tlv)
    }

    /// Parses the first TLV of `input` and returns it with the rest of the input.
    pub fn parse_prefix(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), TlvError> {
        let (tlv, used) = read_one(input, 0)?;
        Ok((tlv, input.get(used..).unwrap_or_default()))
    }

    /// The tag.
    pub fn tag(&self) -> Tag {
        self.tag
    }

    /// The value bytes.
    pub fn value(&self) -> &'a [u8] {
        self.raw.get(self.header_len..).unwrap_or_default()
    }

    /// The whole element: tag, length and value.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Offset of the tag's first byte from the start of the outermost input.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Offset of the first value byte from the start of the outermost input.
    pub fn value_offset(&self) -> usize {
        self.offset + self.header_len
    }

    /// Reads the value as a sequence of nested TLVs.
    pub fn children(&self) -> TlvReader<'a> {
        TlvReader::with_offset(self.value(), self.value_offset())
    }

    /// Fails unless the tag is `expected`.
    pub fn expect_tag(self, expected: Tag) -> Result<Self, TlvError> {
        if self.tag == expected {
            Ok(self)
        } else {
            Err(TlvError::UnexpectedTag {
                offset: self.offset,
                expected,
                found: self.tag,
            })
        }
    }
}

/// Reads the tag, returning it and the number of bytes it used.
fn read_tag(input: &[u8], offset: usize) -> Result<(Tag, usize), TlvError> {
    let truncated = |needed| TlvError::Truncated {
        offset,
        needed,
        available: input.len(),
    };
    let first = *input.first().ok_or(truncated(1))?;
    if first & 0x1F != 0x1F {
        return Ok((Tag(u32::from(first)), 1));
    }
    let mut value = u32::from(first);
    let mut used = 1;
    loop {
        let b = *input.get(used).ok_or(truncated(used + 1))?;
        // X.690 §8.1.2.4.2 (c): the first subsequent byte may not be 0x80 (non-minimal).
        if used == 1 && b == 0x80 {
            return Err(TlvError::InvalidTag { offset });
        }
        if used == 4 {
            return Err(TlvError::InvalidTag { offset });
        }
        value = (value << 8) | u32::from(b);
        used += 1;
        if b & 0x80 == 0 {
            return Ok((Tag(value), used));
        }
    }
}

/// Reads a definite length at `input` (just after the tag); returns (length, bytes used).
fn read_length(input: &[u8], offset: usize, tlv_offset: usize) -> Result<(usize, usize), TlvError> {
    let first = *input.first().ok_or(TlvError::Truncated {
        offset: tlv_offset,
        needed: offset - tlv_offset + 1,
        available: offset - tlv_offset,
    })?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    if first == 0x80 {
        return Err(TlvError::IndefiniteLength { offset });
    }
    let count = usize::from(first & 0x7F);
    if count > 4 || count > size_of::<usize>() {
        return Err(TlvError::InvalidLength { offset });
    }
    let bytes = input.get(1..1 + count).ok_or(TlvError::Truncated {
        offset: tlv_offset,
        needed: offset - tlv_offset + 1 + count,
        available: offset - tlv_offset + input.len(),
    })?;
    let mut len = 0usize;
    for b in bytes {
        len = (len << 8) | usize::from(*b);
    }
    Ok((len, 1 + count))
}

/// Reads one TLV from the start of `input`.
fn read_one(input: &[u8], offset: usize) -> Result<(Tlv<'_>, usize), TlvError> {
    let (tag, tag_len) = read_tag(input, offset)?;
    let (len, len_len) = read_length(
        input.get(tag_len..).unwrap_or_default(),
        offset + tag_len,
        offset,
    )?;
    let header_len = tag_len + len_len;
    let total = header_len.checked_add(len).ok_or(TlvError::InvalidLength {
        offset: offset + tag_len,
    })?;
    let raw = input.get(..total).ok_or(TlvError::Truncated {
        offset,
        needed: total,
        available: input.len(),
    })?;
    Ok((
        Tlv {
            tag,
            raw,
            header_len,
            offset,
        },
        total,
    ))
}

/// An iterator over consecutive TLVs in a buffer. After the first error it yields nothing more.
#[derive(Clone, Debug)]
pub struct TlvReader<'a> {
    rest: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> TlvReader<'a> {
    /// Reads the TLVs of `input`, offsets counted from its start.
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_offset(input, 0)
    }

    /// Reads the TLVs of `input`, offsets counted as if it started at `offset`.
    pub fn with_offset(input: &'a [u8], offset: usize) -> Self {
        TlvReader {
            rest: input,
            offset,
            failed: false,
        }
    }

    /// Offset of the next element.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether all input has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads the next element, which must have tag `tag`.
    pub fn expect(&mut self, tag: Tag) -> Result<Tlv<'a>, TlvError> {
        match self.next() {
            Some(r) => r?.expect_tag(tag),
            None => Err(TlvError::Truncated {
                offset: self.offset,
                needed: 1,
                available: 0,
            }),
        }
    }

    /// Fails if any input is left.
    pub fn finish(&self) -> Result<(), TlvError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(TlvError::TrailingData {
                offset: self.offset,
            })
        }
    }
}

impl<'a> Iterator for TlvReader<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match read_one(self.rest, self.offset) {
            Ok((tlv, used)) => {
                self.rest = self.rest.get(used..).unwrap_or_default();
                self.offset += used;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Bytes needed to encode a definite length.
pub const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else if len <= 0xFF {
        2
    } else if len <= 0xFFFF {
        3
    } else if len <= 0xFF_FFFF {
        4
    } else {
        5
    }
}

/// Bytes needed for the tag and length of an element whose value is `value_len` long.
pub const fn header_len(tag: Tag, value_len: usize) -> usize {
    tag.encoded_len() + length_len(value_len)
}

/// Bytes needed for a whole element whose value is `value_len` long.
pub const fn tlv_len(tag: Tag, value_len: usize) -> usize {
    header_len(tag, value_len) + value_len
}

/// Writes TLVs into a caller-owned buffer. Compute the size first ([`tlv_len`]), then emit.
#[derive(Debug)]
pub struct TlvWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> TlvWriter<'b> {
    /// Writes into `buf` from its start.
    pub fn new(buf: &'b mut [u8]) -> Self {
        TlvWriter { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or_default()
    }

    /// Ends writing and returns the bytes written.
    pub fn finish(self) -> &'b [u8] {
        let pos = self.pos;
        let buf: &'b [u8] = self.buf;
        buf.get(..pos).unwrap_or_default()
    }

    fn reserve(&mut self, n: usize) -> Result<&mut [u8], TlvError> {
        let available = self.buf.len();
        let end = self.pos.checked_add(n).ok_or(TlvError::BufferTooSmall {
            needed: usize::MAX,
            available,
        })?;
        let slot = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(TlvError::BufferTooSmall {
                needed: end,
                available,
            })?;
        self.pos = end;
        Ok(slot)
    }

    /// Writes raw bytes (an already encoded element, or part of a value).
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), TlvError> {
        self.reserve(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Writes a tag and a definite length; the caller then writes exactly `value_len` bytes.
    pub fn write_header(&mut self, tag: Tag, value_len: usize) -> Result<(), TlvError> {
        let n = header_len(tag, value_len);
        let slot = self.reserve(n)?;
        let t = tag.write_to(slot);
        let rest = slot.get_mut(t..).unwrap_or_default();
        let ll = length_len(value_len);
        if ll == 1 {
            if let Some(b) = rest.first_mut() {
                *b = value_len as u8;
            }
        } else {
            for (i, b) in rest.iter_mut().take(ll).enumerate() {
                *b = if i == 0 {
                    0x80 | (ll - 1) as u8
                } else {
                    (value_len >> ((ll - 1 - i) * 8)) as u8
                };
            }
        }
        Ok(())
    }

    /// Writes a whole element with the given value.
    pub fn write_tlv(&mut self, tag: Tag, value: &[u8]) -> Result<(), TlvError> {
        self.write_header(tag, value.len())?;
        self.write_bytes(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    fn tag_properties() {
        assert_eq!(Tag(0xBF2D).number(), 45);
        assert_eq!(Tag(0x9F70).number(), 112);
        assert_eq!(Tag(0x5F37).number(), 55);
        assert_eq!(Tag(0xBF76).number(), 118);
        assert_eq!(Tag(0x5A).number(), 26);
        assert_eq!(Tag(0xE3).class(), TagClass::Private);
        assert_eq!(Tag(0x5F49).class(), TagClass::Application);
        assert_eq!(Tag(0xA0).class(), TagClass::Context);
        assert!(Tag(0xBF2D).is_constructed());
        assert!(!Tag(0x9F70).is_constructed());
        assert_eq!(Tag(0xBF2D).to_string(), "BF2D");
        assert_eq!(Tag(0x5A).to_string(), "5A");
    }

    #[test]
    fn parses_multibyte_tags_and_long_lengths() {
        // 9F70 01 01 (profileState enabled)
        let t = Tlv::parse(&[0x9F, 0x70, 0x01, 0x01]).unwrap();
        assert_eq!(t.tag(), Tag(0x9F70));
        assert_eq!(t.value(), &[0x01]);
        // 5F37 81 80 <128 bytes>
        let mut buf = [0u8; 3 + 128 + 1];
        buf[..4].copy_from_slice(&[0x5F, 0x37, 0x81, 0x80]);
        let t = Tlv::parse(&buf).unwrap();
        assert_eq!(t.value().len(), 128);
        assert_eq!(t.value_offset(), 4);
        // 82 length form
        let mut big = [0u8; 4 + 300];
        big[..4].copy_from_slice(&[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(Tlv::parse(&big).unwrap().value().len(), 300);
    }

    #[test]
    fn nested_iteration_reports_absolute_offsets() {
        // BF2D 08 A0 06 E3 04 5A 02 98 10
        let bytes = [
            0xBF, 0x2D, 0x08, 0xA0, 0x06, 0xE3, 0x04, 0x5A, 0x02, 0x98, 0x10,
        ];
        let top = Tlv::parse(&bytes).unwrap();
        let a0 = top.children().next().unwrap().unwrap();
        assert_eq!((a0.tag(), a0.offset()), (Tag(0xA0), 3));
        let e3 = a0.children().next().unwrap().unwrap();
        assert_eq!((e3.tag(), e3.offset()), (Tag(0xE3), 5));
        let iccid = e3.children().next().unwrap().unwrap();
        assert_eq!(
            (iccid.tag(), iccid.offset(), iccid.value()),
            (Tag(0x5A), 7, &[0x98u8, 0x10][..])
        );
    }

    #[test]
    fn every_truncation_is_an_error_with_offset() {
        let full = [0xBF, 0x2D, 0x05, 0x5A, 0x03, 0x01, 0x02, 0x03];
        for cut in 0..full.len() {
            let r = Tlv::parse(&full[..cut]);
            assert!(r.is_err(), "cut at {cut} parsed");
        }
        assert_eq!(
            Tlv::parse(&[0x5A, 0x05, 0x01]),
            Err(TlvError::Truncated {
                offset: 0,
                needed: 7,
                available: 3
            })
        );
        // Inner truncation reports the inner offset.
        let outer = [0x30, 0x05, 0x01, 0x01, 0xFF, 0x04, 0x05];
        let t = Tlv::parse(&outer).unwrap();
        let errs: Vec<_> = t.children().collect();
        assert_eq!(errs.len(), 2);
        assert_eq!(
            errs[1],
            Err(TlvError::Truncated {
                offset: 5,
                needed: 7,
                available: 2
            })
        );
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(
            Tlv::parse(&[0x30, 0x80, 0x00, 0x00]),
            Err(TlvError::IndefiniteLength { offset: 1 })
        );
        assert_eq!(
            Tlv::parse(&[0x04, 0x85, 1, 1, 1, 1, 1]),
            Err(TlvError::InvalidLength { offset: 1 })
        );
        assert_eq!(
            Tlv::parse(&[0xBF, 0x80, 0x01, 0x00]),
            Err(TlvError::InvalidTag { offset: 0 })
        );
        assert_eq!(
            Tlv::parse(&[0xBF, 0x81, 0x82, 0x83, 0x04, 0x00]),
            Err(TlvError::InvalidTag { offset: 0 })
        );
        assert_eq!(
            Tlv::parse(&[0x04, 0x00, 0x00]),
            Err(TlvError::TrailingData { offset: 2 })
        );
        // A length that would overflow usize arithmetic on 32-bit targets.
        assert!(Tlv::parse(&[0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn writer_emits_what_sizes_predict() {
        let mut buf = [0u8; 512];
        let mut w = TlvWriter::new(&mut buf);
        w.write_tlv(Tag(0x9F70), &[1]).unwrap();
        w.write_header(Tag(0xBF2D), 300).unwrap();
        w.write_bytes(&[0xAA; 300]).unwrap();
        let out = w.finish();
        assert_eq!(
            out.len(),
            tlv_len(Tag(0x9F70), 1) + tlv_len(Tag(0xBF2D), 300)
        );
        assert_eq!(&out[..4], &[0x9F, 0x70, 0x01, 0x01]);
        assert_eq!(&out[4..9], &[0xBF, 0x2D, 0x82, 0x01, 0x2C]);
        let t = TlvReader::new(out).nth(1).unwrap().unwrap();
        assert_eq!(t.value().len(), 300);
    }

    #[test]
    fn writer_refuses_to_overflow() {
        let mut buf = [0u8; 3];
        let mut w = TlvWriter::new(&mut buf);
        assert_eq!(
            w.write_tlv(Tag(0x04), &[1, 2]),
            Err(TlvError::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
    }
}
