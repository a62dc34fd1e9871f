//! BER-TLV reader and writer (`lpa_core::tlv`).
//!
//! 1. Walks arbitrary bytes with `TlvReader`, descending into constructed elements up to a
//!    fixed depth, and checks the invariants every element must keep (offsets, slices, sizes).
//! 2. For input that `Tlv::parse` accepts as one element, writes it again with `TlvWriter`
//!    and checks that the result parses to the same tag and value (bytes may differ: the
//!    reader accepts non-minimal long-form lengths, the writer emits minimal ones).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::tlv::{Tag, Tlv, TlvError, TlvReader, TlvWriter, header_len, length_len, tlv_len};

/// Deepest nesting visited; SGP.22 messages nest about 8 deep.
const MAX_DEPTH: usize = 32;

fuzz_target!(|data: &[u8]| {
    walk(TlvReader::new(data), data, 0, 0);
    check_parse_prefix(data);
    check_round_trip(data);
});

/// Iterates `reader` (whose input is `input`, starting at absolute offset `base`).
fn walk(reader: TlvReader<'_>, input: &[u8], base: usize, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut expected_offset = base;
    let mut seen_error = false;
    for item in reader {
        // After the first error the reader must stop.
        assert!(!seen_error, "TlvReader yielded an item after an error");
        match item {
            Ok(tlv) => {
                check_element(&tlv, expected_offset, depth == 0);
                let rel = tlv.offset() - base;
                assert_eq!(
                    &input[rel..rel + tlv.raw().len()],
                    tlv.raw(),
                    "raw() is not the input slice at offset()"
                );
                expected_offset += tlv.raw().len();
                // Descend into constructed elements, and also into primitive ones: SGP.22 has
                // OCTET STRINGs that carry TLVs (extCardResource, simaResponse), and the
                // reader must cope with any bytes anyway.
                walk(tlv.children(), tlv.value(), tlv.value_offset(), depth + 1);
            }
            Err(e) => {
                seen_error = true;
                if depth == 0 {
                    let _ = e.to_string();
                }
                if let Some(offset) = error_offset(&e) {
                    assert!(
                        offset >= base && offset <= base + input.len(),
                        "error offset {offset} outside [{base}, {}] ({e:?})",
                        base + input.len()
                    );
                }
            }
        }
    }
    // Exhaustive checks over a fresh reader: every element consumed adds up to the input.
    let mut r = TlvReader::with_offset(input, base);
    let mut consumed = 0usize;
    let mut ok = true;
    for item in r.by_ref() {
        match item {
            Ok(t) => consumed += t.raw().len(),
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if ok {
        assert_eq!(
            consumed,
            input.len(),
            "reader stopped early without an error"
        );
        assert!(r.is_empty());
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(r.offset(), base + input.len());
    }
}

fn check_element(tlv: &Tlv<'_>, expected_offset: usize, format: bool) {
    let tag = tlv.tag();
    assert_eq!(tlv.offset(), expected_offset, "offsets are not contiguous");
    let value = tlv.value();
    let header = tlv.raw().len() - value.len();
    assert_eq!(tlv.value_offset(), tlv.offset() + header);
    assert!(
        header >= tag.encoded_len() + 1,
        "header shorter than tag + length"
    );
    assert!(
        header <= tag.encoded_len() + 5,
        "header longer than tag + 5 length bytes"
    );
    assert!(tlv.raw().ends_with(value));
    assert!(tag.encoded_len() <= 4);
    // The tag bytes at the start of raw() read back as the tag.
    let mut tag_value = 0u32;
    for b in &tlv.raw()[..tag.encoded_len()] {
        tag_value = (tag_value << 8) | u32::from(*b);
    }
    assert_eq!(Tag(tag_value), tag, "tag bytes disagree with tag()");
    let _ = (
        tag.class(),
        tag.number(),
        tag.is_constructed(),
        tag.first_byte(),
    );
    if format {
        // Formatting allocates; once per top-level element is enough to cover it.
        let _ = format!("{tag} {tag:?} {tlv:?}");
    }
    // expect_tag agrees with tag().
    assert!(tlv.expect_tag(tag).is_ok());
    let other = Tag(tag.0 ^ 1);
    assert!(matches!(
        tlv.expect_tag(other),
        Err(TlvError::UnexpectedTag { .. })
    ));
    // The element alone parses back as itself.
    let alone = Tlv::parse_at(tlv.raw(), tlv.offset()).expect("an element's raw() must parse");
    assert_eq!(alone, *tlv);
}

fn check_parse_prefix(data: &[u8]) {
    match Tlv::parse_prefix(data) {
        Ok((first, rest)) => {
            assert_eq!(first.raw().len() + rest.len(), data.len());
            // The reader sees the same first element.
            let via_reader = TlvReader::new(data)
                .next()
                .expect("non-empty input")
                .expect("reader agrees with parse_prefix");
            assert_eq!(via_reader, first);
            // parse() accepts the input exactly when nothing follows the first element.
            match Tlv::parse(data) {
                Ok(whole) => {
                    assert!(rest.is_empty());
                    assert_eq!(whole, first);
                }
                Err(TlvError::TrailingData { offset }) => {
                    assert!(!rest.is_empty());
                    assert_eq!(offset, first.raw().len());
                }
                Err(e) => panic!("parse_prefix accepted what parse refused with {e:?}"),
            }
        }
        Err(e) => {
            assert!(
                Tlv::parse(data).is_err(),
                "parse accepted what parse_prefix refused ({e:?})"
            );
            if let Some(Ok(t)) = TlvReader::new(data).next() {
                panic!("reader accepted {t:?} that parse_prefix refused ({e:?})");
            }
        }
    }
}

fn check_round_trip(data: &[u8]) {
    let Ok(tlv) = Tlv::parse(data) else {
        return;
    };
    let tag = tlv.tag();
    let value = tlv.value();
    let len = tlv_len(tag, value.len());
    assert_eq!(len, header_len(tag, value.len()) + value.len());
    assert_eq!(
        header_len(tag, value.len()),
        tag.encoded_len() + length_len(value.len())
    );
    // Minimal DER never takes more room than what was read.
    assert!(
        len <= data.len(),
        "writer needs {len} bytes for a {}-byte element",
        data.len()
    );

    let mut buf = vec![0u8; len];
    let mut w = TlvWriter::new(&mut buf);
    w.write_tlv(tag, value).expect("buffer sized with tlv_len");
    assert_eq!(w.position(), len);
    // One more byte must not fit.
    assert!(matches!(
        w.write_bytes(&[0]),
        Err(TlvError::BufferTooSmall { .. })
    ));
    let written = w.finish();
    assert_eq!(written.len(), len);

    let again = Tlv::parse(written).expect("re-encoded element must parse");
    assert_eq!(again.tag(), tag, "tag changed in round trip");
    assert_eq!(again.value(), value, "value changed in round trip");
    // Canonical form is a fixed point.
    if written != data {
        let mut buf2 = vec![0u8; len];
        let mut w2 = TlvWriter::new(&mut buf2);
        w2.write_header(again.tag(), again.value().len())
            .expect("sized");
        w2.write_bytes(again.value()).expect("sized");
        assert_eq!(w2.finish(), written, "writer output is not stable");
    }

    // A too-small buffer is an error, never a panic or a partial success.
    if len > 0 {
        let mut small = vec![0u8; len - 1];
        let mut w = TlvWriter::new(&mut small);
        assert!(w.write_tlv(tag, value).is_err());
    }
}

fn error_offset(e: &TlvError) -> Option<usize> {
    match *e {
        TlvError::Truncated { offset, .. }
        | TlvError::InvalidTag { offset }
        | TlvError::IndefiniteLength { offset }
        | TlvError::InvalidLength { offset }
        | TlvError::UnexpectedTag { offset, .. }
        | TlvError::TrailingData { offset }
        | TlvError::NotConstructed { offset, .. } => Some(offset),
        _ => None,
    }
}
