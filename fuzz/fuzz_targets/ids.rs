//! ICCID and EID parsing (`lpa_core::ids`), from text and from their card encodings.
//!
//! Every form that parses must print (`Display`) and parse back to the same value, and the
//! byte form must survive a bytes -> value -> bytes trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::ids::{Eid, Iccid};

fuzz_target!(|data: &[u8]| {
    // Byte forms: the whole input, and the first 10 / 16 bytes.
    for bytes in [data, data.get(..Iccid::LEN).unwrap_or(data)] {
        if let Ok(iccid) = Iccid::from_bcd(bytes) {
            assert_eq!(iccid.as_bytes().as_slice(), bytes, "ICCID bytes changed");
            check_iccid(iccid);
        }
    }
    for bytes in [data, data.get(..Eid::LEN).unwrap_or(data)] {
        if let Ok(eid) = Eid::from_bytes_unchecked(bytes) {
            assert_eq!(eid.as_bytes().as_slice(), bytes, "EID bytes changed");
            assert_eq!(Eid::from_bytes(bytes).is_ok(), eid.is_valid());
            check_eid(eid);
        }
    }

    // Text forms.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Iccid::from_digits(text) {
        Ok(iccid) => {
            assert_eq!(
                iccid.to_string(),
                text,
                "ICCID text is not printed back as given"
            );
            assert_eq!(Iccid::from_digits_checked(text).is_ok(), iccid.luhn_valid());
            check_iccid(iccid);
        }
        Err(e) => {
            let _ = e.to_string();
            assert!(Iccid::from_digits_checked(text).is_err());
        }
    }
    if let Ok(d) = Iccid::luhn_check_digit(text) {
        assert!(d <= 9);
    }
    match Eid::from_digits(text) {
        Ok(eid) => {
            assert_eq!(
                eid.to_string(),
                text,
                "EID text is not printed back as given"
            );
            assert!(eid.is_valid());
            check_eid(eid);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(eid) = Eid::from_prefix(text) {
        assert!(
            eid.is_valid(),
            "from_prefix built an EID with bad check digits"
        );
        assert!(eid.to_string().starts_with(text));
        let check = Eid::check_digits(text).expect("from_prefix accepted the prefix");
        assert!((2..=98).contains(&check));
        check_eid(eid);
    }
});

fn check_iccid(iccid: Iccid) {
    let text = iccid.to_string();
    assert!((Iccid::MIN_DIGITS..=Iccid::MAX_DIGITS).contains(&text.len()));
    assert_eq!(iccid.digit_count(), text.len());
    let again: Iccid = text
        .parse()
        .unwrap_or_else(|e| panic!("printed ICCID {text:?} does not parse: {e}"));
    assert_eq!(again, iccid, "ICCID changed in a text round trip");
    assert_eq!(Iccid::try_from(iccid.as_bytes().as_slice()), Ok(iccid));
    let _ = format!("{iccid:?}");
}

fn check_eid(eid: Eid) {
    let text = eid.to_string();
    assert_eq!(text.len(), Eid::DIGITS);
    match Eid::from_digits(&text) {
        Ok(again) => {
            assert!(eid.is_valid());
            assert_eq!(again, eid, "EID changed in a text round trip");
        }
        Err(_) => assert!(
            !eid.is_valid(),
            "valid EID {text} does not parse from its digits"
        ),
    }
    let _ = format!("{eid:?}");
}
