//! SGP.22 ES10 messages (`lpa_core::messages`) and the DER building blocks (`lpa_core::der`).
//!
//! The first input byte picks a type, the rest is handed to `T::from_der`. When it decodes:
//! - `encoded_len()` must match what `encode()` writes, and `encode()` must succeed;
//! - the encoding must decode again (`from_der`) to an equal value (values, not bytes: the
//!   decoder skips unknown elements and accepts non-minimal forms, the encoder writes DER);
//! - encoding that second value must give the same bytes (DER output is a fixed point).
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use lpa_core::der::{
    BitString, Certificate, CertificateList, Decode, Encode, Null, ObjectIdentifier, RawTlv, Signed,
};
use lpa_core::ids::{Eid, Iccid};
use lpa_core::messages::*;
use lpa_core::tlv::TlvWriter;

fn round_trip<T: Decode + Encode + PartialEq + Debug>(bytes: &[u8]) {
    let Ok(value) = T::from_der(bytes) else {
        return;
    };
    let name = std::any::type_name::<T>();

    let len = value.encoded_len();
    let mut buf = vec![0u8; len];
    let mut w = TlvWriter::new(&mut buf);
    if let Err(e) = value.encode(&mut w) {
        panic!("{name}: encode into encoded_len() = {len} bytes failed: {e:?}\nvalue: {value:#?}");
    }
    assert_eq!(
        w.position(),
        len,
        "{name}: encoded_len() says {len}, encode() wrote {}\nvalue: {value:#?}",
        w.position()
    );
    let encoded = value.to_der();
    assert_eq!(encoded, buf, "{name}: to_der() differs from encode()");

    let again = match T::from_der(&encoded) {
        Ok(v) => v,
        Err(e) => panic!(
            "{name}: own encoding does not decode: {e}\nvalue: {value:#?}\nencoding: {}",
            hex(&encoded)
        ),
    };
    assert_eq!(
        again,
        value,
        "{name}: value changed in a decode/encode/decode round trip\nencoding: {}",
        hex(&encoded)
    );
    let encoded_again = again.to_der();
    assert_eq!(
        encoded_again, encoded,
        "{name}: encoding is not stable across a round trip"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Lists the types once, as `index => Type`, and builds the dispatch on the selector byte.
macro_rules! dispatch {
    ($sel:expr, $bytes:expr; $($t:ty),* $(,)?) => {{
        const TYPES: &[&str] = &[$(stringify!($t)),*];
        let mut i = 0usize;
        let sel = usize::from($sel) % TYPES.len();
        $(
            if i == sel {
                round_trip::<$t>($bytes);
            }
            i += 1;
        )*
        let _ = i;
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    // The order of this list is the meaning of the selector byte; the seed files depend on it
    // (see README.md). Append new types at the end.
    dispatch!(selector, bytes;
        // --- 0..: top-level ES10 responses and requests, by tag
        EuiccInfo1,                        // 0   BF20
        EuiccInfo2,                        // 1   BF22
        ProfileInfoListResponse,           // 2   BF2D
        AuthenticateServerResponse,        // 3   BF38
        PrepareDownloadResponse,           // 4   BF21
        ListNotificationResponse,          // 5   BF28
        RetrieveNotificationsListResponse, // 6   BF2B
        CancelSessionResponse,             // 7   BF41
        StoreMetadataRequest,              // 8   BF25
        BoundProfilePackage,               // 9   BF36
        ProfileInstallationResult,         // 10  BF37
        GetRatResponse,                    // 11  BF43
        EuiccConfiguredAddressesResponse,  // 12  BF3C
        LoadCrlResponse,                   // 13  BF35
        GetEuiccChallengeResponse,         // 14  BF2E
        GetEuiccDataResponse,              // 15  BF3E
        NotificationSentResponse,          // 16  BF30
        EnableProfileResponse,             // 17  BF31
        DisableProfileResponse,            // 18  BF32
        DeleteProfileResponse,             // 19  BF33
        EuiccMemoryResetResponse,          // 20  BF34
        SetNicknameResponse,               // 21  BF29
        SetDefaultDpAddressResponse,       // 22  BF3F
        ProfileInstallationResultData,     // 23  BF27
        NotificationMetadata,              // 24  BF2F
        InitialiseSecureChannelRequest,    // 25  BF23
        ConfigureIsdpRequest,              // 26  BF24
        ReplaceSessionKeysRequest,         // 27  BF26
        GetEuiccInfo1Request,              // 28  BF20
        GetEuiccInfo2Request,              // 29  BF22
        GetEuiccChallengeRequest,          // 30  BF2E
        GetEuiccDataRequest,               // 31  BF3E
        AuthenticateServerRequest,         // 32  BF38
        PrepareDownloadRequest,            // 33  BF21
        CancelSessionRequest,              // 34  BF41
        ListNotificationRequest,           // 35  BF28
        RetrieveNotificationsListRequest,  // 36  BF2B
        NotificationSentRequest,           // 37  BF30
        ProfileInfoListRequest,            // 38  BF2D
        EnableProfileRequest,              // 39  BF31
        DisableProfileRequest,             // 40  BF32
        DeleteProfileRequest,              // 41  BF33
        EuiccMemoryResetRequest,           // 42  BF34
        SetNicknameRequest,                // 43  BF29
        EuiccConfiguredAddressesRequest,   // 44  BF3C
        SetDefaultDpAddressRequest,        // 45  BF3F
        GetRatRequest,                     // 46  BF43
        LoadCrlRequest,                    // 47  BF35
        // --- 48..: nested SEQUENCEs and CHOICEs (decoded on their own, as the ES9+ JSON
        // fields serverSigned1, smdpSigned2 and pendingNotification are)
        ServerSigned1,                     // 48  30
        SmdpSigned2,                       // 49  30
        EuiccSigned1,                      // 50  30
        EuiccSigned2,                      // 51  30
        AuthenticateResponseOk,            // 52  30
        AuthenticateResponseError,         // 53  30
        PrepareDownloadResponseOk,         // 54  30
        PrepareDownloadResponseError,      // 55  30
        EuiccCancelSessionSigned,          // 56  30
        CancelSessionResponseOk,           // 57  30
        CtxParamsForCommonAuthentication,  // 58  30
        CtxParams1,                        // 59  A0
        DeviceInfo,                        // 60  30
        DeviceCapabilities,                // 61  30
        CertificationDataObject,           // 62  30
        OperatorId,                        // 63  30
        NotificationConfigurationInformation, // 64 30
        DpProprietaryData,                 // 65  30
        ControlRefTemplate,                // 66  30
        SuccessResult,                     // 67  30
        ErrorResult,                       // 68  30
        FinalResult,                       // 69  A0/A1
        OtherSignedNotification,           // 70  30
        PendingNotification,               // 71  BF37/30
        NotificationSearchCriteria,        // 72  80/81
        ProfileSearchCriteria,             // 73  4F/5A/95
        ProfileIdentifier,                 // 74  4F/5A
        ProfileInfo,                       // 75  E3
        RefArDo,                           // 76  E2
        RefDo,                             // 77  E1
        ArDo,                              // 78  E3
        ProfilePolicyAuthorisationRule,    // 79  30
        LoadCrlResponseOk,                 // 80  30
        Segment86,                         // 81  86
        Segment87,                         // 82  87
        Segment88,                         // 83  88
        Signed<ServerSigned1>,             // 84  30
        Signed<ProfileInstallationResult>, // 85  BF37
        // --- 86..: primitive values
        Version,                           // 86  04
        Iccid,                             // 87  5A
        Eid,                               // 88  5A
        NotificationEvent,                 // 89  03
        NotificationEvents,                // 90  03
        PprIds,                            // 91  03
        UiccCapability,                    // 92  03
        RspCapability,                     // 93  03
        BitString,                         // 94  03
        ObjectIdentifier,                  // 95  06
        i64,                               // 96  02
        u32,                               // 97  02
        bool,                              // 98  01
        Vec<u8>,                           // 99  04
        String,                            // 100 0C
        Null,                              // 101 05
        RawTlv,                            // 102 30
        Certificate,                       // 103 30
        ProfileState,                      // 104 02
        ProfileClass,                      // 105 02
        CancelSessionReason,               // 106 02
        ErrorReason,                       // 107 02
        // --- 108..: the ES9+/ES11 ASN.1 binding (SGP.22 §6.6, messages::es9_asn1)
        InitiateAuthenticationRequest,     // 108 BF39
        InitiateAuthenticationResponse,    // 109 BF39
        InitiateAuthenticationOkEs9,       // 110 30
        AuthenticateClientRequest,         // 111 BF3B
        AuthenticateClientResponseEs9,     // 112 BF3B
        AuthenticateClientOk,              // 113 30
        GetBoundProfilePackageRequest,     // 114 BF3A
        GetBoundProfilePackageResponse,    // 115 BF3A
        GetBoundProfilePackageOk,          // 116 30
        HandleNotification,                // 117 BF3D
        CancelSessionRequestEs9,           // 118 BF41
        CancelSessionResponseEs9,          // 119 BF41
        CancelSessionOk,                   // 120 30
        AuthenticateClientResponseEs11,    // 121 BF40
        AuthenticateClientOkEs11,          // 122 30
        EventEntries,                      // 123 30
        // --- 124..: later additions
        CertificateList,                   // 124 30
        ResetOptions,                      // 125 03
        PprFlags,                          // 126 03
    );
});
