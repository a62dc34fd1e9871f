//! ES9+/ES11 JSON bodies (`lpa_core::es9`).
//!
//! Input layout: byte 0 picks the body type, byte 1 the HTTP status, the rest is the body.
//! - Response types go through `decode_response(status, body)`, which promises never to
//!   panic. A decoded response is encoded again (`encode_json`) and must decode (as a 200
//!   answer) to an equal value.
//! - Request types go through `decode_request(body)` with the same round trip.
//! - The body, as text, is also fed to the small string parsers of the module
//!   (`TransactionId::from_hex`, `es9plus_url`, `es11_url`).
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use lpa_core::es9::{
    self, AuthenticateClientOk, AuthenticateClientRequest, CancelSessionRequest, EmptyBody,
    Es9Function, Es9Response, Es11AuthenticateClientOk, Es11Function,
    Es11InitiateAuthenticationRequest, GetBoundProfilePackageOk, GetBoundProfilePackageRequest,
    HandleNotificationRequest, InitiateAuthenticationOk, InitiateAuthenticationRequest,
    ResponseBody, TransactionId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// HTTP statuses tried; byte 1 of the input picks one. The last entry takes two more bytes.
const STATUSES: [u16; 8] = [200, 200, 204, 201, 400, 404, 500, 0];

fn response<T>(status: u16, body: &[u8])
where
    T: ResponseBody + Serialize + PartialEq + Debug,
{
    let name = std::any::type_name::<T>();
    let decoded: Es9Response<T> = match es9::decode_response::<T>(status, body) {
        Ok(r) => r,
        Err(e) => {
            let _ = (e.to_string(), e.meaning(), format!("{e:?}"));
            return;
        }
    };
    assert!(
        (200..300).contains(&status),
        "{name}: HTTP {status} decoded as success"
    );
    assert!(decoded.header.status().is_executed());
    let _ = decoded.warning();
    let json = es9::encode_json(&decoded)
        .unwrap_or_else(|e| panic!("{name}: decoded response does not encode: {e}"));
    let again = es9::decode_response::<T>(200, &json).unwrap_or_else(|e| {
        panic!(
            "{name}: own encoding does not decode: {e}\njson: {}\nvalue: {decoded:#?}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(
        again,
        decoded,
        "{name}: value changed in a JSON round trip\njson: {}",
        String::from_utf8_lossy(&json)
    );
    let json_again = es9::encode_json(&again).expect("encoded once already");
    assert_eq!(json_again, json, "{name}: JSON encoding is not stable");
}

fn request<T>(body: &[u8])
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let name = std::any::type_name::<T>();
    let decoded: T = match es9::decode_request::<T>(body) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let json = es9::encode_json(&decoded)
        .unwrap_or_else(|e| panic!("{name}: decoded request does not encode: {e}"));
    let again: T = es9::decode_request(&json).unwrap_or_else(|e| {
        panic!(
            "{name}: own encoding does not decode: {e}\njson: {}",
            String::from_utf8_lossy(&json)
        )
    });
    assert_eq!(
        again,
        decoded,
        "{name}: value changed in a JSON round trip\njson: {}",
        String::from_utf8_lossy(&json)
    );
}

fn strings(text: &str) {
    match TransactionId::from_hex(text) {
        Ok(id) => {
            assert!((1..=TransactionId::MAX_LEN).contains(&id.as_bytes().len()));
            assert!(id.to_hex().eq_ignore_ascii_case(text));
            assert_eq!(id.to_string(), id.to_hex());
            assert_eq!(TransactionId::from_hex(&id.to_hex()), Ok(id));
            assert_eq!(TransactionId::new(id.as_bytes()), Ok(id));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(id) = TransactionId::new(text.as_bytes()) {
        assert_eq!(id.as_bytes(), text.as_bytes());
    }
    for f in Es9Function::ALL {
        if let Ok(url) = es9::es9plus_url(text, f) {
            check_url(&url, f.path());
        }
    }
    for f in [
        Es11Function::InitiateAuthentication,
        Es11Function::AuthenticateClient,
    ] {
        if let Ok(url) = es9::es11_url(text, f) {
            check_url(&url, f.path());
        }
    }
    let _ = es9::is_supported_admin_protocol(text);
    let (subject, reason) = text.split_once(' ').unwrap_or((text, ""));
    let _ = es9::status_code_meaning(subject, reason);
}

/// A built URL is `https://` + a host of harmless characters + the function path.
fn check_url(url: &str, path: &str) {
    let host = url
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix(path))
        .unwrap_or_else(|| panic!("malformed URL {url:?}"));
    assert!(!host.is_empty(), "empty host in {url:?}");
    assert!(
        !host.contains(['/', '?', '#', '@', ' ']),
        "host {host:?} of {url:?} can change the URL's meaning"
    );
}

fuzz_target!(|data: &[u8]| {
    let [selector, status_byte, rest @ ..] = data else {
        return;
    };
    let (status, body) = match STATUSES[usize::from(*status_byte) % STATUSES.len()] {
        0 => match rest {
            [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
            _ => return,
        },
        s => (s, rest),
    };
    match selector % 12 {
        0 => response::<InitiateAuthenticationOk>(status, body),
        1 => response::<AuthenticateClientOk>(status, body),
        2 => response::<GetBoundProfilePackageOk>(status, body),
        3 => response::<Es11AuthenticateClientOk>(status, body),
        4 => response::<EmptyBody>(status, body),
        5 => request::<InitiateAuthenticationRequest>(body),
        6 => request::<AuthenticateClientRequest>(body),
        7 => request::<GetBoundProfilePackageRequest>(body),
        8 => request::<HandleNotificationRequest>(body),
        9 => request::<CancelSessionRequest>(body),
        10 => request::<Es11InitiateAuthenticationRequest>(body),
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                strings(text);
            }
        }
    }
});
