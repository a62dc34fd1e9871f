//! Activation codes (`lpa_core::activation`, SGP.22 §4.1).
//!
//! Arbitrary UTF-8 goes to `ActivationCode::parse`. When it parses, the canonical form
//! (`Display`) and the QR form (`qr_text()`) must both parse again to an equal code, the
//! canonical form must be a fixed point, and the builder (`new`, `with_*`) must accept the
//! parsed fields and build the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lpa_core::activation::{ActivationCode, MAX_SMDP_ADDRESS_LEN, hash_cc};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let code = match ActivationCode::parse(text) {
        Ok(code) => code,
        Err(e) => {
            // Error messages must format without panicking.
            let _ = e.to_string();
            return;
        }
    };

    // Field sanity.
    assert!(!code.smdp_address().is_empty());
    assert!(code.smdp_address().len() <= MAX_SMDP_ADDRESS_LEN);
    assert!(!code.smdp_address().contains('$'));
    if let Some(mid) = code.matching_id() {
        assert!(!mid.is_empty() && !mid.contains('$'));
    }
    if let Some(oid) = code.smdp_oid() {
        assert!(!oid.is_empty() && !oid.contains('$'));
    }

    // Canonical text round trip.
    let canonical = code.to_string();
    let reparsed = ActivationCode::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical form {canonical:?} of {text:?} does not parse: {e}"));
    assert_eq!(
        reparsed, code,
        "canonical form {canonical:?} of {text:?} changed the code"
    );
    assert_eq!(
        reparsed.to_string(),
        canonical,
        "canonical form is not a fixed point"
    );

    // QR text round trip.
    let qr = code.qr_text().to_string();
    assert_eq!(qr, format!("LPA:{canonical}"));
    let from_qr = ActivationCode::parse(&qr)
        .unwrap_or_else(|e| panic!("QR form {qr:?} of {text:?} does not parse: {e}"));
    assert_eq!(from_qr, code, "QR form {qr:?} of {text:?} changed the code");

    // The builder accepts what the parser accepted and builds the same value.
    let mut built = ActivationCode::new(code.smdp_address(), code.matching_id().unwrap_or(""))
        .unwrap_or_else(|e| panic!("builder refuses fields parsed from {text:?}: {e}"));
    if let Some(oid) = code.smdp_oid() {
        built = built
            .with_smdp_oid(oid)
            .unwrap_or_else(|e| panic!("builder refuses OID {oid:?} parsed from {text:?}: {e}"));
    }
    built = built.with_confirmation_code_required(code.confirmation_code_required());
    assert_eq!(built, code, "builder disagrees with parser for {text:?}");
    assert_eq!(ActivationCode::try_from(text), Ok(code));

    // Exercise the hash with whatever we have (must not panic).
    let _ = hash_cc(canonical.as_bytes(), code.smdp_address().as_bytes());
});
