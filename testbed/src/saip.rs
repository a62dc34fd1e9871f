//! Unprotected Profile Packages (UPP): the SIMalliance/TCA "eUICC Profile Package:
//! Interoperable Format" (SAIP) that an SM-DP+ binds into a Bound Profile Package and an eUICC
//! installs from the `86` segments of ES8+.LoadProfileElements (SGP.22 §5.5.5).
//!
//! A UPP is a plain concatenation of DER-encoded `ProfileElement`s (ASN.1 module
//! `PEDefinitions`, `AUTOMATIC TAGS EXTENSIBILITY IMPLIED`). `ProfileElement` is a CHOICE, so
//! each PE's tag is the context tag of its alternative, constructed:
//!
//! ```text
//!  A0 header        ProfileHeader: major/minor version, profileType, iccid [3] (83),
//!                   eUICC-Mandatory-services [5] (A5), eUICC-Mandatory-GFSTEList [6] (A6)
//!  B0 mf            PE-MF: MF, EF.ICCID, EF.DIR, EF.ARR     (template 2.23.143.1.2.1)
//!  A3 pukCodes      PE-PUKCodes
//!  A2 pinCodes      PE-PINCodes (in the PIN context of the DF created last)
//!  B3 usim          PE-USIM: ADF.USIM, EF.IMSI [3] (A3), ... (template 2.23.143.1.2.4)
//!  A4 akaParameter  PE-AKAParameter: Milenage/TUAK Ki and OPc for the NAA just created
//!  ...              telecom B2, opt-usim B4, isim B5, securityDomain A6, rfm A7, ...
//!  AA end           PE-End: last
//! ```
//!
//! Every PE but the header starts with a `PEHeader` (`A0 { [80 00 mandated] 81 id }`). PEs that
//! build the file system from a template (numbers 16 and up: `mf`, `usim`, ...) carry the
//! template's OID as `templateID` (`81`) and then one `File` per template file, each a
//! `SEQUENCE OF CHOICE { doNotCreate 80, fileDescriptor A1 (an FCP overriding the template's
//! defaults field by field), fillFileOffset 82, fillFileContent 83 }`.
//!
//! This module has three parts:
//! - [`ProfilePackage::parse`] checks a UPP's structure and pulls out what the testbed needs:
//!   the ProfileHeader (version, profileType, ICCID, mandatory services), every PE with its
//!   identification, EF.ICCID, the IMSI from the USIM PE's EF.IMSI, the SPN, and the AKA
//!   parameters. The software eUICC uses it to learn the ICCID of the profile it installs and
//!   to refuse malformed packages ([`SaipError`]; SGP.22 reports those as
//!   `installFailedDueToPEProcessingError`). [`profile_elements`] is the zero-copy iterator
//!   underneath.
//! - [`ProfileSpec::to_der`] generates a small but complete UPP (header, MF, PUK, PIN, USIM,
//!   Milenage AKA parameters, end) for the project's own tests and demo;
//!   [`generate_demo_profile`] gives deterministic numbered ones.
//! - [`ProfileInventory`] loads every `*.der` UPP of a folder, keyed by ICCID, for the test
//!   SM-DP+ to serve.
//!
//! Field tags below are derived from `PEDefinitions` (version 3.3.1, as published in osmocom
//! pySim `pySim/esim/asn1/saip/`; the tags of the elements used here are unchanged since 2.x),
//! template OIDs and file lists from SAIP Annex A.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use lpa_core::der::ObjectIdentifier;
use lpa_core::ids::{Iccid, IdError};
use lpa_core::tlv::{Tag, TagClass, Tlv, TlvError, TlvReader, length_len, tlv_len};
use sha2::{Digest, Sha256};

/// SAIP version written into generated ProfileHeaders (TS.48 v7 test profiles use 2.3 too).
pub const GENERATED_SAIP_VERSION: (u8, u8) = (2, 3);

/// Template OID of the MF file system (SAIP Annex A "Files at MF level"): 2.23.143.1.2.1.
pub const TEMPLATE_MF: &[u8] = &[0x67, 0x81, 0x0F, 0x01, 0x02, 0x01];
/// Template OID of ADF.USIM's mandatory files, the SAIP 2.3 version (14-byte EF.UST):
/// 2.23.143.1.2.4.
pub const TEMPLATE_USIM: &[u8] = &[0x67, 0x81, 0x0F, 0x01, 0x02, 0x04];

/// The USIM AID written into generated profiles: 3GPP RID `A000000087`, application code
/// `1002` (USIM), then country/provider code `FFFFFFFF` and provider field `89070900 00`.
pub const USIM_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x07, 0x09, 0x00, 0x00,
];

/// Deepest nesting of constructed TLVs accepted inside one PE (real packages need about 8).
const MAX_DEPTH: usize = 24;

// ---------------------------------------------------------------------------------------------
// Profile element types
// ---------------------------------------------------------------------------------------------

/// The alternatives of the `ProfileElement` CHOICE; the context tag number is the position in
/// the CHOICE (`header` 0 = `A0`, `end` 10 = `AA`, `mf` 16 = `B0`, `usim` 19 = `B3`,
/// `df-5gprose` 31 = `BF1F`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeType {
    /// `header` (0): ProfileHeader.
    Header,
    /// `genericFileManagement` (1).
    GenericFileManagement,
    /// `pinCodes` (2).
    PinCodes,
    /// `pukCodes` (3).
    PukCodes,
    /// `akaParameter` (4).
    AkaParameter,
    /// `cdmaParameter` (5).
    CdmaParameter,
    /// `securityDomain` (6).
    SecurityDomain,
    /// `rfm` (7).
    Rfm,
    /// `application` (8).
    Application,
    /// `nonStandard` (9).
    NonStandard,
    /// `end` (10).
    End,
    /// `rfu1` to `rfu5` (11 to 15, `PE-Dummy`); the value is 1 to 5.
    Rfu(u8),
    /// `mf` (16).
    Mf,
    /// `cd` (17).
    Cd,
    /// `telecom` (18).
    Telecom,
    /// `usim` (19).
    Usim,
    /// `opt-usim` (20).
    OptUsim,
    /// `isim` (21).
    Isim,
    /// `opt-isim` (22).
    OptIsim,
    /// `phonebook` (23).
    Phonebook,
    /// `gsm-access` (24).
    GsmAccess,
    /// `csim` (25).
    Csim,
    /// `opt-csim` (26).
    OptCsim,
    /// `eap` (27).
    Eap,
    /// `df-5gs` (28).
    Df5gs,
    /// `df-saip` (29).
    DfSaip,
    /// `df-snpn` (30).
    DfSnpn,
    /// `df-5gprose` (31).
    Df5gProse,
    /// `iot` (32).
    Iot,
    /// `opt-iot` (33).
    OptIot,
    /// An alternative added after PEDefinitions 3.3.1 (the CHOICE is extensible): its number.
    Unknown(u32),
}

/// `(number, type, ASN.1 name)` of every alternative this module knows.
const PE_TYPES: [(u32, PeType, &str); 34] = [
    (0, PeType::Header, "header"),
    (1, PeType::GenericFileManagement, "genericFileManagement"),
    (2, PeType::PinCodes, "pinCodes"),
    (3, PeType::PukCodes, "pukCodes"),
    (4, PeType::AkaParameter, "akaParameter"),
    (5, PeType::CdmaParameter, "cdmaParameter"),
    (6, PeType::SecurityDomain, "securityDomain"),
    (7, PeType::Rfm, "rfm"),
    (8, PeType::Application, "application"),
    (9, PeType::NonStandard, "nonStandard"),
    (10, PeType::End, "end"),
    (11, PeType::Rfu(1), "rfu1"),
    (12, PeType::Rfu(2), "rfu2"),
    (13, PeType::Rfu(3), "rfu3"),
    (14, PeType::Rfu(4), "rfu4"),
    (15, PeType::Rfu(5), "rfu5"),
    (16, PeType::Mf, "mf"),
    (17, PeType::Cd, "cd"),
    (18, PeType::Telecom, "telecom"),
    (19, PeType::Usim, "usim"),
    (20, PeType::OptUsim, "opt-usim"),
    (21, PeType::Isim, "isim"),
    (22, PeType::OptIsim, "opt-isim"),
    (23, PeType::Phonebook, "phonebook"),
    (24, PeType::GsmAccess, "gsm-access"),
    (25, PeType::Csim, "csim"),
    (26, PeType::OptCsim, "opt-csim"),
    (27, PeType::Eap, "eap"),
    (28, PeType::Df5gs, "df-5gs"),
    (29, PeType::DfSaip, "df-saip"),
    (30, PeType::DfSnpn, "df-snpn"),
    (31, PeType::Df5gProse, "df-5gprose"),
    (32, PeType::Iot, "iot"),
    (33, PeType::OptIot, "opt-iot"),
];

impl PeType {
    /// The alternative with context tag number `number`.
    pub fn from_number(number: u32) -> PeType {
        PE_TYPES
            .iter()
            .find(|(n, _, _)| *n == number)
            .map_or(PeType::Unknown(number), |(_, t, _)| *t)
    }

    /// The PE type a top-level tag stands for; `None` unless it is a context-specific
    /// constructed tag (the only kind the CHOICE produces).
    pub fn from_tag(tag: Tag) -> Option<PeType> {
        (tag.class() == TagClass::Context && tag.is_constructed())
            .then(|| PeType::from_number(tag.number()))
    }

    /// The context tag number (the position in the CHOICE).
    pub fn number(self) -> u32 {
        match self {
            PeType::Unknown(n) => n,
            known => PE_TYPES
                .iter()
                .find(|(_, t, _)| *t == known)
                .map_or(u32::MAX, |(n, _, _)| *n),
        }
    }

    /// The PE's tag: `A0` to `BE` for numbers up to 30, `BF xx` above.
    pub fn tag(self) -> Tag {
        context_constructed(self.number())
    }

    /// The alternative's name in PEDefinitions (`"opt-usim"`), `"unknown"` for later ones.
    pub fn name(self) -> &'static str {
        PE_TYPES
            .iter()
            .find(|(_, t, _)| *t == self)
            .map_or("unknown", |(_, _, name)| name)
    }

    /// Whether this PE creates files from a SAIP template and so carries a `templateID`
    /// after its PEHeader (`mf` to `opt-iot`).
    pub fn uses_template(self) -> bool {
        (16..=33).contains(&self.number())
    }
}

impl fmt::Display for PeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeType::Unknown(n) => write!(f, "unknown PE [{n}]"),
            known => f.write_str(known.name()),
        }
    }
}

/// The tag `[number]` constructed, context-specific.
fn context_constructed(number: u32) -> Tag {
    if number < 31 {
        return Tag(0xA0 | number);
    }
    // High tag number form (X.690 §8.1.2.4): BF, then base-128 digits. Tags of up to four
    // bytes hold numbers below 2^21.
    let number = number & 0x1F_FFFF;
    if number < 0x80 {
        Tag(0xBF00 | number)
    } else if number < 0x4000 {
        Tag(0xBF_0000 | ((0x80 | (number >> 7)) << 8) | (number & 0x7F))
    } else {
        Tag(0xBF00_0000
            | ((0x80 | (number >> 14)) << 16)
            | ((0x80 | ((number >> 7) & 0x7F)) << 8)
            | (number & 0x7F))
    }
}

/// A service of the ProfileHeader's `eUICC-Mandatory-services` (`ServicesList`, a SEQUENCE of
/// optional NULLs whose context tag number says which service the eUICC must support).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// `contactless` (0).
    Contactless,
    /// `usim` (1).
    Usim,
    /// `isim` (2).
    Isim,
    /// `csim` (3).
    Csim,
    /// `milenage` (4).
    Milenage,
    /// `tuak128` (5).
    Tuak128,
    /// `cave` (6).
    Cave,
    /// `gba-usim` (7).
    GbaUsim,
    /// `gba-isim` (8).
    GbaIsim,
    /// `mbms` (9).
    Mbms,
    /// `eap` (10).
    Eap,
    /// `javacard` (11).
    Javacard,
    /// `multos` (12).
    Multos,
    /// `multiple-usim` (13).
    MultipleUsim,
    /// `multiple-isim` (14).
    MultipleIsim,
    /// `multiple-csim` (15).
    MultipleCsim,
    /// `tuak256` (16).
    Tuak256,
    /// `usim-test-algorithm` (17).
    UsimTestAlgorithm,
    /// `ber-tlv` (18).
    BerTlv,
    /// `dfLink` (19).
    DfLink,
    /// `cat-tp` (20).
    CatTp,
    /// `get-identity` (21).
    GetIdentity,
    /// `profile-a-x25519` (22).
    ProfileAX25519,
    /// `profile-b-p256` (23).
    ProfileBP256,
    /// `suciCalculatorApi` (24).
    SuciCalculatorApi,
    /// `dns-resolution` (25).
    DnsResolution,
    /// `scp11ac` (26).
    Scp11ac,
    /// `scp11c-authorization-mechanism` (27).
    Scp11cAuthorizationMechanism,
    /// `s16mode` (28).
    S16mode,
    /// `eaka` (29).
    Eaka,
    /// A service added after PEDefinitions 3.3.1. SAIP: an eUICC that does not recognise a
    /// mandatory service aborts the installation.
    Unknown(u32),
}

const SERVICES: [(Service, &str); 30] = [
    (Service::Contactless, "contactless"),
    (Service::Usim, "usim"),
    (Service::Isim, "isim"),
    (Service::Csim, "csim"),
    (Service::Milenage, "milenage"),
    (Service::Tuak128, "tuak128"),
    (Service::Cave, "cave"),
    (Service::GbaUsim, "gba-usim"),
    (Service::GbaIsim, "gba-isim"),
    (Service::Mbms, "mbms"),
    (Service::Eap, "eap"),
    (Service::Javacard, "javacard"),
    (Service::Multos, "multos"),
    (Service::MultipleUsim, "multiple-usim"),
    (Service::MultipleIsim, "multiple-isim"),
    (Service::MultipleCsim, "multiple-csim"),
    (Service::Tuak256, "tuak256"),
    (Service::UsimTestAlgorithm, "usim-test-algorithm"),
    (Service::BerTlv, "ber-tlv"),
    (Service::DfLink, "dfLink"),
    (Service::CatTp, "cat-tp"),
    (Service::GetIdentity, "get-identity"),
    (Service::ProfileAX25519, "profile-a-x25519"),
    (Service::ProfileBP256, "profile-b-p256"),
    (Service::SuciCalculatorApi, "suciCalculatorApi"),
    (Service::DnsResolution, "dns-resolution"),
    (Service::Scp11ac, "scp11ac"),
    (
        Service::Scp11cAuthorizationMechanism,
        "scp11c-authorization-mechanism",
    ),
    (Service::S16mode, "s16mode"),
    (Service::Eaka, "eaka"),
];

impl Service {
    /// The service whose NULL has context tag number `number`.
    pub fn from_number(number: u32) -> Service {
        usize::try_from(number)
            .ok()
            .and_then(|i| SERVICES.get(i))
            .map_or(Service::Unknown(number), |(s, _)| *s)
    }

    /// The context tag number.
    pub fn number(self) -> u32 {
        match self {
            Service::Unknown(n) => n,
            known => SERVICES
                .iter()
                .position(|(s, _)| *s == known)
                .and_then(|i| u32::try_from(i).ok())
                .unwrap_or(u32::MAX),
        }
    }

    /// The name in PEDefinitions (`"milenage"`), `"unknown"` for later ones.
    pub fn name(self) -> &'static str {
        SERVICES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("unknown", |(_, name)| name)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Unknown(n) => write!(f, "unknown service [{n}]"),
            known => f.write_str(known.name()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a byte string is not an acceptable Unprotected Profile Package.
///
/// Every variant is a fault of whoever built the package; an eUICC answers all of them with
/// a ProfileInstallationResult whose errorReason is `installFailedDueToPEProcessingError`.
/// Offsets count from the start of the package.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaipError {
    /// The bytes are not well-formed BER-TLV (truncated, bad length, trailing bytes...).
    Tlv(TlvError),
    /// Constructed elements nested deeper than any real package needs.
    TooDeeplyNested {
        /// Offset of the element that went too deep.
        offset: usize,
    },
    /// No bytes at all.
    Empty,
    /// A top-level element whose tag is not one the `ProfileElement` CHOICE produces
    /// (context-specific, constructed).
    NotAProfileElement {
        /// Offset of the element.
        offset: usize,
        /// Its tag.
        tag: Tag,
    },
    /// The package does not start with the ProfileHeader.
    HeaderNotFirst {
        /// Offset of the first element.
        offset: usize,
        /// What it is instead.
        found: PeType,
    },
    /// A second ProfileHeader.
    DuplicateHeader {
        /// Offset of the second header.
        offset: usize,
    },
    /// The package does not end with the End PE.
    MissingEnd,
    /// A PE follows the End PE.
    ElementAfterEnd {
        /// Offset of that PE.
        offset: usize,
        /// Its type.
        found: PeType,
    },
    /// Two PEs share an `identification` (SAIP: it "shall be unique").
    DuplicateIdentification {
        /// Offset of the second PE.
        offset: usize,
        /// The shared value.
        identification: u16,
    },
    /// A mandatory element of a PE is absent.
    MissingField {
        /// The PE being read.
        pe: PeType,
        /// The PEDefinitions name of the absent element.
        field: &'static str,
        /// Offset of the PE (or of the structure inside it that lacks the element).
        offset: usize,
    },
    /// An element of a PE has a value its type does not allow.
    InvalidField {
        /// The PE being read.
        pe: PeType,
        /// The PEDefinitions name of the element.
        field: &'static str,
        /// Offset of the element.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The ICCID in the ProfileHeader or in EF.ICCID is not a valid ICCID.
    InvalidIccid {
        /// `Header` or `Mf`.
        pe: PeType,
        /// Offset of the element holding it.
        offset: usize,
        /// What is wrong with it.
        error: IdError,
    },
    /// EF.IMSI in the USIM PE does not hold a valid IMSI.
    InvalidImsi {
        /// Offset of the `ef-imsi` File.
        offset: usize,
        /// What is wrong with it.
        error: ImsiError,
    },
    /// The header lists a mandatory service but no PE provides it (an NAA without its PE, an
    /// AKA algorithm no akaParameter uses): the checks pySim's `CheckBasicStructure` makes.
    MandatoryServiceNotProvided {
        /// The service.
        service: Service,
    },
}

impl SaipError {
    /// Where in the package the problem was found, when one place is to blame.
    pub fn offset(&self) -> Option<usize> {
        match self {
            SaipError::Tlv(e) => match *e {
                TlvError::Truncated { offset, .. }
                | TlvError::InvalidTag { offset }
                | TlvError::IndefiniteLength { offset }
                | TlvError::InvalidLength { offset }
                | TlvError::UnexpectedTag { offset, .. }
                | TlvError::TrailingData { offset }
                | TlvError::NotConstructed { offset, .. } => Some(offset),
                _ => None,
            },
            SaipError::TooDeeplyNested { offset }
            | SaipError::NotAProfileElement { offset, .. }
            | SaipError::HeaderNotFirst { offset, .. }
            | SaipError::DuplicateHeader { offset }
            | SaipError::ElementAfterEnd { offset, .. }
            | SaipError::DuplicateIdentification { offset, .. }
            | SaipError::MissingField { offset, .. }
            | SaipError::InvalidField { offset, .. }
            | SaipError::InvalidIccid { offset, .. }
            | SaipError::InvalidImsi { offset, .. } => Some(*offset),
            SaipError::Empty
            | SaipError::MissingEnd
            | SaipError::MandatoryServiceNotProvided { .. } => None,
        }
    }
}

impl From<TlvError> for SaipError {
    fn from(e: TlvError) -> Self {
        SaipError::Tlv(e)
    }
}

impl fmt::Display for SaipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaipError::Tlv(e) => write!(f, "malformed profile package: {e}"),
            SaipError::TooDeeplyNested { offset } => {
                write!(f, "elements nested too deeply at offset {offset}")
            }
            SaipError::Empty => f.write_str("empty profile package"),
            SaipError::NotAProfileElement { offset, tag } => {
                write!(f, "tag {tag} at offset {offset} is not a ProfileElement")
            }
            SaipError::HeaderNotFirst { offset, found } => write!(
                f,
                "profile package starts with {found} at offset {offset}, not the ProfileHeader"
            ),
            SaipError::DuplicateHeader { offset } => {
                write!(f, "second ProfileHeader at offset {offset}")
            }
            SaipError::MissingEnd => f.write_str("profile package does not end with PE-End"),
            SaipError::ElementAfterEnd { offset, found } => {
                write!(f, "{found} at offset {offset} follows PE-End")
            }
            SaipError::DuplicateIdentification {
                offset,
                identification,
            } => write!(
                f,
                "PE at offset {offset} repeats identification {identification}"
            ),
            SaipError::MissingField { pe, field, offset } => {
                write!(f, "{pe} at offset {offset} lacks {field}")
            }
            SaipError::InvalidField {
                pe,
                field,
                offset,
                reason,
            } => write!(f, "{pe}: {field} at offset {offset}: {reason}"),
            SaipError::InvalidIccid { pe, offset, error } => {
                write!(f, "{pe}: ICCID at offset {offset}: {error}")
            }
            SaipError::InvalidImsi { offset, error } => {
                write!(f, "usim: EF.IMSI at offset {offset}: {error}")
            }
            SaipError::MandatoryServiceNotProvided { service } => write!(
                f,
                "mandatory service {service} is listed but no profile element provides it"
            ),
        }
    }
}

impl std::error::Error for SaipError {}

// ---------------------------------------------------------------------------------------------
// Zero-copy PE iteration
// ---------------------------------------------------------------------------------------------

/// The `PEHeader` every PE but the ProfileHeader starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeHeader {
    /// `mandated`: the eUICC must abort if it cannot process this PE.
    pub mandated: bool,
    /// `identification` (UInt15), used in PEStatus error reports.
    pub identification: u16,
}

/// One ProfileElement, a view into the package: its type, PEHeader and bytes.
#[derive(Clone, Copy, Debug)]
pub struct ProfileElement<'a> {
    pe_type: PeType,
    header: Option<PeHeader>,
    tlv: Tlv<'a>,
}

impl<'a> ProfileElement<'a> {
    /// Checks one top-level TLV: its tag is a `ProfileElement` alternative, everything inside
    /// is well-formed TLV, and it starts with a valid PEHeader (and a `templateID` for
    /// template PEs).
    pub fn from_tlv(tlv: Tlv<'a>) -> Result<Self, SaipError> {
        let pe_type = PeType::from_tag(tlv.tag()).ok_or(SaipError::NotAProfileElement {
            offset: tlv.offset(),
            tag: tlv.tag(),
        })?;
        check_nesting(&tlv, 0)?;
        let header = match pe_type {
            PeType::Header => None,
            // PE-Dummy and later alternatives may have no PEHeader; by convention it comes first.
            PeType::Rfu(_) | PeType::Unknown(_) => match tlv.children().next() {
                Some(Ok(first)) if first.tag() == Tag(0xA0) => {
                    Some(parse_pe_header(first, pe_type)?)
                }
                _ => None,
            },
            _ => {
                let first = match tlv.children().next() {
                    Some(first) => first?,
                    None => return Err(missing(pe_type, "PEHeader", tlv.offset())),
                };
                if first.tag() != Tag(0xA0) {
                    return Err(missing(pe_type, "PEHeader", tlv.offset()));
                }
                Some(parse_pe_header(first, pe_type)?)
            }
        };
        Ok(ProfileElement {
            pe_type,
            header,
            tlv,
        })
    }

    /// The PE type.
    pub fn pe_type(&self) -> PeType {
        self.pe_type
    }

    /// The PEHeader (`None` for the ProfileHeader, and for `rfu`/unknown PEs without one).
    pub fn header(&self) -> Option<PeHeader> {
        self.header
    }

    /// The PE's `identification`.
    pub fn identification(&self) -> Option<u16> {
        self.header.map(|h| h.identification)
    }

    /// The whole PE as a TLV view.
    pub fn tlv(&self) -> Tlv<'a> {
        self.tlv
    }

    /// The PE's bytes, tag and length included.
    pub fn raw(&self) -> &'a [u8] {
        self.tlv.raw()
    }

    /// Offset of the PE in the package.
    pub fn offset(&self) -> usize {
        self.tlv.offset()
    }

    /// The `templateID` of a template PE (`mf`, `usim`, ...).
    pub fn template_id(&self) -> Result<Option<ObjectIdentifier>, SaipError> {
        if !self.pe_type.uses_template() {
            return Ok(None);
        }
        let mut seq = Seq::new(&self.tlv, self.pe_type)?;
        seq.skip(0xA0);
        let oid = seq.req(0x81, "templateID")?;
        ObjectIdentifier::from_content(oid.value().to_vec())
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    self.pe_type,
                    "templateID",
                    &oid,
                    "malformed OBJECT IDENTIFIER",
                )
            })
    }
}

/// Iterates over the ProfileElements of a package, checking each ([`ProfileElement::from_tlv`]);
/// stops after the first error. Does not check the order of PEs; [`ProfilePackage::parse`]
/// does.
#[derive(Clone, Debug)]
pub struct ProfileElements<'a> {
    reader: TlvReader<'a>,
    failed: bool,
}

/// The ProfileElements of `upp`, one at a time, without copying.
pub fn profile_elements(upp: &[u8]) -> ProfileElements<'_> {
    ProfileElements {
        reader: TlvReader::new(upp),
        failed: false,
    }
}

impl<'a> Iterator for ProfileElements<'a> {
    type Item = Result<ProfileElement<'a>, SaipError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self
            .reader
            .next()?
            .map_err(SaipError::from)
            .and_then(ProfileElement::from_tlv);
        self.failed = item.is_err();
        Some(item)
    }
}

/// Fails if any constructed element under `tlv` does not hold well-formed TLVs.
fn check_nesting(tlv: &Tlv<'_>, depth: usize) -> Result<(), SaipError> {
    if !tlv.tag().is_constructed() {
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Err(SaipError::TooDeeplyNested {
            offset: tlv.offset(),
        });
    }
    for child in tlv.children() {
        check_nesting(&child?, depth + 1)?;
    }
    Ok(())
}

fn parse_pe_header(tlv: Tlv<'_>, pe: PeType) -> Result<PeHeader, SaipError> {
    let mut seq = Seq::new(&tlv, pe)?;
    let mandated = match seq.opt(0x80) {
        Some(null) if !null.value().is_empty() => {
            return Err(invalid(pe, "mandated", &null, "NULL with content"));
        }
        Some(_) => true,
        None => false,
    };
    let id = seq.req(0x81, "identification")?;
    let identification = parse_uint(&id, 0x7FFF, pe, "identification")?;
    Ok(PeHeader {
        mandated,
        identification: u16::try_from(identification).unwrap_or(u16::MAX),
    })
}

// ---------------------------------------------------------------------------------------------
// Element helpers
// ---------------------------------------------------------------------------------------------

fn missing(pe: PeType, field: &'static str, offset: usize) -> SaipError {
    SaipError::MissingField { pe, field, offset }
}

fn invalid(pe: PeType, field: &'static str, tlv: &Tlv<'_>, reason: &'static str) -> SaipError {
    SaipError::InvalidField {
        pe,
        field,
        offset: tlv.offset(),
        reason,
    }
}

/// The elements of a SEQUENCE, read in order: DER writes SEQUENCE elements in declaration
/// order, so each optional element is either next or absent. Elements after the last one
/// asked for are extensions (EXTENSIBILITY IMPLIED) and are ignored.
struct Seq<'a> {
    items: Vec<Tlv<'a>>,
    pos: usize,
    pe: PeType,
    offset: usize,
}

impl<'a> Seq<'a> {
    fn new(tlv: &Tlv<'a>, pe: PeType) -> Result<Self, SaipError> {
        let items = tlv.children().collect::<Result<Vec<_>, _>>()?;
        Ok(Seq {
            items,
            pos: 0,
            pe,
            offset: tlv.offset(),
        })
    }

    /// Takes the next element if it has tag `tag`.
    fn opt(&mut self, tag: u32) -> Option<Tlv<'a>> {
        let next = self.items.get(self.pos).filter(|t| t.tag() == Tag(tag))?;
        self.pos += 1;
        Some(*next)
    }

    /// Takes the next element, which must have tag `tag`.
    fn req(&mut self, tag: u32, field: &'static str) -> Result<Tlv<'a>, SaipError> {
        self.opt(tag).ok_or(missing(self.pe, field, self.offset))
    }

    /// Skips the next element if it has tag `tag`.
    fn skip(&mut self, tag: u32) {
        let _ = self.opt(tag);
    }

    /// The elements not taken yet.
    fn rest(&self) -> &[Tlv<'a>] {
        self.items.get(self.pos..).unwrap_or_default()
    }
}

/// A non-negative DER INTEGER of at most `max`.
fn parse_uint(tlv: &Tlv<'_>, max: u64, pe: PeType, field: &'static str) -> Result<u64, SaipError> {
    let v = tlv.value();
    match v {
        [] => return Err(invalid(pe, field, tlv, "empty INTEGER")),
        [first, ..] if first & 0x80 != 0 => {
            return Err(invalid(pe, field, tlv, "negative INTEGER"));
        }
        [0, second, ..] if second & 0x80 == 0 => {
            return Err(invalid(pe, field, tlv, "INTEGER not minimally encoded"));
        }
        _ if v.len() > 9 => return Err(invalid(pe, field, tlv, "INTEGER out of range")),
        _ => {}
    }
    let n = v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if n > max {
        return Err(invalid(pe, field, tlv, "INTEGER out of range"));
    }
    Ok(n)
}

/// Checks a `File` (SEQUENCE OF CHOICE { doNotCreate, fileDescriptor, fillFileOffset,
/// fillFileContent }) and returns the first `max` bytes its fill elements write, or `None` if
/// it writes nothing (the template's default content applies). Skipped ranges read as `FF`.
fn file_content(
    file: &Tlv<'_>,
    pe: PeType,
    field: &'static str,
    max: usize,
) -> Result<Option<Vec<u8>>, SaipError> {
    if !file.tag().is_constructed() {
        return Err(invalid(pe, field, file, "File is not a SEQUENCE OF"));
    }
    let mut out: Option<Vec<u8>> = None;
    let mut pos = 0usize;
    for (index, item) in file.children().enumerate() {
        let item = item?;
        match item.tag().0 {
            // doNotCreate NULL: only on its own (pySim FileCheckBasicStructure).
            0x80 => {
                if !item.value().is_empty() {
                    return Err(invalid(pe, field, &item, "doNotCreate NULL with content"));
                }
                if file.children().count() != 1 {
                    return Err(invalid(pe, field, &item, "doNotCreate with other elements"));
                }
            }
            // fileDescriptor Fcp: at most one, first.
            0xA1 => {
                if index != 0 {
                    return Err(invalid(pe, field, &item, "fileDescriptor not first"));
                }
            }
            0x82 => {
                let offset = parse_uint(&item, 0xFFFF, pe, field)?;
                pos = pos.saturating_add(usize::try_from(offset).unwrap_or(usize::MAX));
            }
            0x83 => {
                let content = out.get_or_insert_with(Vec::new);
                for (i, b) in item.value().iter().enumerate() {
                    let at = pos.saturating_add(i);
                    if at >= max {
                        break;
                    }
                    if content.len() <= at {
                        content.resize(at + 1, 0xFF);
                    }
                    if let Some(slot) = content.get_mut(at) {
                        *slot = *b;
                    }
                }
                pos = pos.saturating_add(item.value().len());
            }
            _ => {
                return Err(invalid(
                    pe,
                    field,
                    &item,
                    "File element is none of doNotCreate, fileDescriptor, fillFileOffset, fillFileContent",
                ));
            }
        }
    }
    Ok(out)
}

/// Checks every File of a template PE (the elements after PEHeader and templateID).
fn check_template_files(pe: &ProfileElement<'_>) -> Result<(), SaipError> {
    let mut seq = Seq::new(&pe.tlv, pe.pe_type)?;
    seq.skip(0xA0);
    seq.skip(0x81);
    for file in seq.rest() {
        file_content(file, pe.pe_type, "File", 0)?;
    }
    Ok(())
}

/// The context-tagged File `[number]` of a template PE, if present.
fn template_file<'a>(pe: &ProfileElement<'a>, number: u32) -> Result<Option<Tlv<'a>>, SaipError> {
    let seq = Seq::new(&pe.tlv, pe.pe_type)?;
    let tag = context_constructed(number);
    Ok(seq.items.iter().find(|t| t.tag() == tag).copied())
}

// ---------------------------------------------------------------------------------------------
// The parsed package
// ---------------------------------------------------------------------------------------------

/// The ProfileHeader PE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileHeader {
    /// `major-version`: the SAIP major version the package is written for.
    pub major_version: u8,
    /// `minor-version`.
    pub minor_version: u8,
    /// `profileType`: free text, e.g. the issuer and the kind of profile.
    pub profile_type: Option<String>,
    /// `iccid`. SAIP codes it *unswapped* (ITU-T E.118 digits in order, `F`-padded),
    /// unlike EF.ICCID; it is converted here to [`Iccid`] (which keeps the EF.ICCID form).
    pub iccid: Iccid,
    /// `eUICC-Mandatory-services`, in package order.
    pub mandatory_services: Vec<Service>,
    /// `eUICC-Mandatory-GFSTEList`: the templates the eUICC must know.
    pub mandatory_templates: Vec<ObjectIdentifier>,
    /// `eUICC-Mandatory-AIDs`: applications (AID, 2-byte version) the eUICC must provide.
    pub mandatory_aids: Vec<(Vec<u8>, [u8; 2])>,
}

/// One PE of a parsed package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeInfo {
    /// The PE type.
    pub pe_type: PeType,
    /// `identification` from the PEHeader (`None` for the ProfileHeader).
    pub identification: Option<u16>,
    /// `mandated` from the PEHeader.
    pub mandated: bool,
    /// `templateID` of template PEs.
    pub template_id: Option<ObjectIdentifier>,
    /// Offset of the PE in the package.
    pub offset: usize,
    /// Bytes of the PE, tag and length included.
    pub len: usize,
}

/// The AKA algorithm of an `AlgoParameter` (`algorithmID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AkaAlgorithm {
    /// `milenage` (1), 3GPP TS 35.206.
    Milenage,
    /// `tuak` (2), 3GPP TS 35.231.
    Tuak,
    /// `usim-test-algorithm` (3), 3GPP TS 34.108 §8.1.2 (the XOR test algorithm).
    UsimTestAlgorithm,
    /// Another value.
    Other(u8),
}

impl AkaAlgorithm {
    fn from_id(id: u8) -> Self {
        match id {
            1 => AkaAlgorithm::Milenage,
            2 => AkaAlgorithm::Tuak,
            3 => AkaAlgorithm::UsimTestAlgorithm,
            other => AkaAlgorithm::Other(other),
        }
    }

    fn id(self) -> u8 {
        match self {
            AkaAlgorithm::Milenage => 1,
            AkaAlgorithm::Tuak => 2,
            AkaAlgorithm::UsimTestAlgorithm => 3,
            AkaAlgorithm::Other(id) => id,
        }
    }
}

/// The `algoConfiguration` of a PE-AKAParameter.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AkaConfiguration {
    /// `algoParameter`: the algorithm and its secrets.
    Algorithm {
        /// `algorithmID`.
        algorithm: AkaAlgorithm,
        /// `algorithmOptions` (one byte).
        options: u8,
        /// `key`: K (Ki).
        key: Vec<u8>,
        /// `opc`: OPc for Milenage, TOPc for TUAK.
        opc: Vec<u8>,
    },
    /// `mappingParameter`: reuse the parameters of another NAA.
    Mapping {
        /// `mappingOptions`.
        options: u8,
        /// `mappingSource`: the AID whose parameters are reused.
        source: Vec<u8>,
    },
}

impl fmt::Debug for AkaConfiguration {
    // Keys stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AkaConfiguration::Algorithm {
                algorithm,
                options,
                key,
                ..
            } => f
                .debug_struct("Algorithm")
                .field("algorithm", algorithm)
                .field("options", options)
                .field("key_len", &key.len())
                .finish_non_exhaustive(),
            AkaConfiguration::Mapping { options, source } => f
                .debug_struct("Mapping")
                .field("options", options)
                .field("source", &hex::encode_upper(source))
                .finish(),
        }
    }
}

/// What the testbed needs to know about an Unprotected Profile Package, with its structure
/// checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfilePackage {
    /// The ProfileHeader.
    pub header: ProfileHeader,
    /// Every PE in order, ProfileHeader first and End last.
    pub elements: Vec<PeInfo>,
    /// The ICCID written into EF.ICCID by the MF PE, when the package writes one. SAIP says
    /// the eUICC does not check it against the header's; this module does not either.
    pub ef_iccid: Option<Iccid>,
    /// The IMSI in EF.IMSI of the first USIM PE, when the package writes one.
    pub imsi: Option<Imsi>,
    /// The service provider name in EF.SPN of the first USIM PE, when written (GSM default
    /// alphabet or UCS2 `80` coding; unknown characters become U+FFFD).
    pub service_provider_name: Option<String>,
    /// The `algoConfiguration` of every PE-AKAParameter, in order.
    pub aka: Vec<AkaConfiguration>,
}

impl ProfilePackage {
    /// Parses and checks a UPP:
    /// - every PE is well-formed TLV with a known-form tag, a valid PEHeader, unique
    ///   `identification`s, and a `templateID` where the PE type has one;
    /// - the ProfileHeader is first and only once, PE-End is last and only once;
    /// - the header's fields are present and valid, its ICCID included;
    /// - the Files of template PEs are well-formed; EF.ICCID, EF.IMSI and EF.SPN hold valid
    ///   values when the package writes them; the akaParameters are complete;
    /// - each mandatory NAA service has its PE and each mandatory AKA algorithm an
    ///   akaParameter using it.
    pub fn parse(upp: &[u8]) -> Result<ProfilePackage, SaipError> {
        if upp.is_empty() {
            return Err(SaipError::Empty);
        }
        let mut header: Option<ProfileHeader> = None;
        let mut elements = Vec::new();
        let mut ids = HashSet::new();
        let mut ended = false;
        let mut ef_iccid = None;
        let mut imsi = None;
        let mut spn = None;
        let mut usim_seen = false;
        let mut aka = Vec::new();
        for pe in profile_elements(upp) {
            let pe = pe?;
            if ended {
                return Err(SaipError::ElementAfterEnd {
                    offset: pe.offset(),
                    found: pe.pe_type,
                });
            }
            if elements.is_empty() && pe.pe_type != PeType::Header {
                return Err(SaipError::HeaderNotFirst {
                    offset: pe.offset(),
                    found: pe.pe_type,
                });
            }
            if let Some(id) = pe.identification()
                && !ids.insert(id)
            {
                return Err(SaipError::DuplicateIdentification {
                    offset: pe.offset(),
                    identification: id,
                });
            }
            if pe.pe_type.uses_template() {
                check_template_files(&pe)?;
            }
            match pe.pe_type {
                PeType::Header => {
                    if header.is_some() {
                        return Err(SaipError::DuplicateHeader {
                            offset: pe.offset(),
                        });
                    }
                    header = Some(parse_header(pe.tlv)?);
                }
                PeType::Mf if ef_iccid.is_none() => ef_iccid = read_ef_iccid(&pe)?,
                PeType::Usim if !usim_seen => {
                    usim_seen = true;
                    imsi = read_ef_imsi(&pe)?;
                    spn = read_ef_spn(&pe)?;
                }
                PeType::AkaParameter => aka.push(parse_aka(&pe)?),
                PeType::End => ended = true,
                _ => {}
            }
            elements.push(PeInfo {
                pe_type: pe.pe_type,
                identification: pe.identification(),
                mandated: pe.header.is_some_and(|h| h.mandated),
                template_id: pe.template_id()?,
                offset: pe.offset(),
                len: pe.raw().len(),
            });
        }
        if !ended {
            return Err(SaipError::MissingEnd);
        }
        let header = header.ok_or(SaipError::Empty)?;
        check_mandatory_services(&header, &elements, &aka)?;
        Ok(ProfilePackage {
            header,
            elements,
            ef_iccid,
            imsi,
            service_provider_name: spn,
            aka,
        })
    }

    /// The profile's ICCID, from the ProfileHeader.
    pub fn iccid(&self) -> Iccid {
        self.header.iccid
    }

    /// The PEs of one type.
    pub fn elements_of(&self, pe_type: PeType) -> impl Iterator<Item = &PeInfo> + '_ {
        self.elements.iter().filter(move |e| e.pe_type == pe_type)
    }
}

/// Shorthand for [`ProfilePackage::parse`].
pub fn parse_upp(upp: &[u8]) -> Result<ProfilePackage, SaipError> {
    ProfilePackage::parse(upp)
}

fn parse_header(tlv: Tlv<'_>) -> Result<ProfileHeader, SaipError> {
    const PE: PeType = PeType::Header;
    let mut seq = Seq::new(&tlv, PE)?;
    let major = seq.req(0x80, "major-version")?;
    let major_version = parse_uint(&major, 255, PE, "major-version")?;
    let minor = seq.req(0x81, "minor-version")?;
    let minor_version = parse_uint(&minor, 255, PE, "minor-version")?;
    let profile_type = match seq.opt(0x82) {
        Some(t) => {
            let text = std::str::from_utf8(t.value())
                .map_err(|_| invalid(PE, "profileType", &t, "not UTF-8"))?;
            if !(1..=100).contains(&text.chars().count()) {
                return Err(invalid(PE, "profileType", &t, "not 1 to 100 characters"));
            }
            Some(text.to_owned())
        }
        None => None,
    };
    let iccid_tlv = seq.req(0x83, "iccid")?;
    let iccid = header_iccid(&iccid_tlv)?;
    seq.skip(0x84); // pol
    let services = seq.req(0xA5, "eUICC-Mandatory-services")?;
    let mut mandatory_services = Vec::new();
    for s in services.children() {
        let s = s?;
        if s.tag().class() != TagClass::Context || s.tag().is_constructed() || !s.value().is_empty()
        {
            return Err(invalid(
                PE,
                "eUICC-Mandatory-services",
                &s,
                "element is not a context-tagged NULL",
            ));
        }
        mandatory_services.push(Service::from_number(s.tag().number()));
    }
    let templates = seq.req(0xA6, "eUICC-Mandatory-GFSTEList")?;
    let mut mandatory_templates = Vec::new();
    for oid in templates.children() {
        let oid = oid?;
        let parsed = (oid.tag() == Tag::OBJECT_IDENTIFIER)
            .then(|| ObjectIdentifier::from_content(oid.value().to_vec()))
            .flatten()
            .ok_or_else(|| {
                invalid(
                    PE,
                    "eUICC-Mandatory-GFSTEList",
                    &oid,
                    "not an OBJECT IDENTIFIER",
                )
            })?;
        mandatory_templates.push(parsed);
    }
    seq.skip(0x87); // connectivityParameters
    let mut mandatory_aids = Vec::new();
    if let Some(aids) = seq.opt(0xA8) {
        for entry in aids.children() {
            let entry = entry?;
            if entry.tag() != Tag::SEQUENCE {
                return Err(invalid(
                    PE,
                    "eUICC-Mandatory-AIDs",
                    &entry,
                    "not a SEQUENCE",
                ));
            }
            let mut inner = Seq::new(&entry, PE)?;
            let aid = inner.req(0x80, "aid")?;
            if !(5..=16).contains(&aid.value().len()) {
                return Err(invalid(PE, "aid", &aid, "not 5 to 16 bytes"));
            }
            let version = inner.req(0x81, "version")?;
            let version_bytes: [u8; 2] = version
                .value()
                .try_into()
                .map_err(|_| invalid(PE, "version", &version, "not 2 bytes"))?;
            mandatory_aids.push((aid.value().to_vec(), version_bytes));
        }
    }
    Ok(ProfileHeader {
        major_version: u8::try_from(major_version).unwrap_or(u8::MAX),
        minor_version: u8::try_from(minor_version).unwrap_or(u8::MAX),
        profile_type,
        iccid,
        mandatory_services,
        mandatory_templates,
        mandatory_aids,
    })
}

/// The header's `iccid` is E.118 digits in order (SAIP: "non-swapped", `F`-padded);
/// [`Iccid`] keeps the nibble-swapped EF.ICCID form, so swap and check.
fn header_iccid(tlv: &Tlv<'_>) -> Result<Iccid, SaipError> {
    if tlv.value().len() != Iccid::LEN {
        return Err(invalid(PeType::Header, "iccid", tlv, "not 10 bytes"));
    }
    let swapped: Vec<u8> = tlv.value().iter().map(|b| b.rotate_left(4)).collect();
    Iccid::from_bcd(&swapped).map_err(|error| SaipError::InvalidIccid {
        pe: PeType::Header,
        offset: tlv.offset(),
        error,
    })
}

/// `ef-iccid` is File [4] of PE-MF.
fn read_ef_iccid(pe: &ProfileElement<'_>) -> Result<Option<Iccid>, SaipError> {
    let Some(file) = template_file(pe, 4)? else {
        return Ok(None);
    };
    let Some(content) = file_content(&file, pe.pe_type, "ef-iccid", Iccid::LEN)? else {
        return Ok(None);
    };
    Iccid::from_bcd(&content)
        .map(Some)
        .map_err(|error| SaipError::InvalidIccid {
            pe: PeType::Mf,
            offset: file.offset(),
            error,
        })
}

/// `ef-imsi` is File [3] of PE-USIM.
fn read_ef_imsi(pe: &ProfileElement<'_>) -> Result<Option<Imsi>, SaipError> {
    let Some(file) = template_file(pe, 3)? else {
        return Ok(None);
    };
    let Some(content) = file_content(&file, pe.pe_type, "ef-imsi", Imsi::EF_LEN)? else {
        return Ok(None);
    };
    Imsi::from_ef_imsi(&content).map_err(|error| SaipError::InvalidImsi {
        offset: file.offset(),
        error,
    })
}

/// `ef-spn` is File [13] of PE-USIM.
fn read_ef_spn(pe: &ProfileElement<'_>) -> Result<Option<String>, SaipError> {
    let Some(file) = template_file(pe, 13)? else {
        return Ok(None);
    };
    Ok(file_content(&file, pe.pe_type, "ef-spn", SPN_EF_LEN)?.and_then(|c| decode_spn(&c)))
}

fn parse_aka(pe: &ProfileElement<'_>) -> Result<AkaConfiguration, SaipError> {
    const PE: PeType = PeType::AkaParameter;
    let mut seq = Seq::new(&pe.tlv, PE)?;
    seq.skip(0xA0);
    // algoConfiguration is a CHOICE, so its [1] tag is explicit around the alternative.
    let config = seq.req(0xA1, "algoConfiguration")?;
    let mut choice = Seq::new(&config, PE)?;
    if let Some(mapping) = choice.opt(0xA0) {
        let mut m = Seq::new(&mapping, PE)?;
        let options = m.req(0x80, "mappingOptions")?;
        let source = m.req(0x81, "mappingSource")?;
        let [options_byte] = options.value() else {
            return Err(invalid(PE, "mappingOptions", &options, "not 1 byte"));
        };
        if !(5..=16).contains(&source.value().len()) {
            return Err(invalid(PE, "mappingSource", &source, "not 5 to 16 bytes"));
        }
        return Ok(AkaConfiguration::Mapping {
            options: *options_byte,
            source: source.value().to_vec(),
        });
    }
    let algo = choice.req(0xA1, "algoParameter")?;
    let mut a = Seq::new(&algo, PE)?;
    let id = a.req(0x80, "algorithmID")?;
    let algorithm = AkaAlgorithm::from_id(
        u8::try_from(parse_uint(&id, 255, PE, "algorithmID")?).unwrap_or(u8::MAX),
    );
    let options = a.req(0x81, "algorithmOptions")?;
    let [options_byte] = options.value() else {
        return Err(invalid(PE, "algorithmOptions", &options, "not 1 byte"));
    };
    let key = a.req(0x82, "key")?;
    let opc = a.req(0x83, "opc")?;
    Ok(AkaConfiguration::Algorithm {
        algorithm,
        options: *options_byte,
        key: key.value().to_vec(),
        opc: opc.value().to_vec(),
    })
}

fn check_mandatory_services(
    header: &ProfileHeader,
    elements: &[PeInfo],
    aka: &[AkaConfiguration],
) -> Result<(), SaipError> {
    let has_pe = |t: PeType| elements.iter().any(|e| e.pe_type == t);
    let has_algo = |wanted: AkaAlgorithm| {
        aka.iter().any(
            |c| matches!(c, AkaConfiguration::Algorithm { algorithm, .. } if *algorithm == wanted),
        )
    };
    for &service in &header.mandatory_services {
        let provided = match service {
            Service::Usim => has_pe(PeType::Usim),
            Service::Isim => has_pe(PeType::Isim),
            Service::Csim => has_pe(PeType::Csim),
            Service::Milenage => has_algo(AkaAlgorithm::Milenage),
            Service::UsimTestAlgorithm => has_algo(AkaAlgorithm::UsimTestAlgorithm),
            Service::Cave => has_pe(PeType::CdmaParameter),
            _ => true,
        };
        if !provided {
            return Err(SaipError::MandatoryServiceNotProvided { service });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// IMSI and SPN codings
// ---------------------------------------------------------------------------------------------

/// What is wrong with an IMSI (digits or EF.IMSI bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImsiError {
    /// A character that is not a decimal digit, at this byte offset of the text.
    InvalidDigit {
        /// Byte offset in the text.
        position: usize,
    },
    /// Not 6 to 15 digits (3GPP TS 23.003 §2.2: at most 15; MCC and MNC need 5 or 6).
    DigitCount {
        /// Digits found.
        count: usize,
    },
    /// EF.IMSI shorter than its length byte says.
    Truncated,
    /// The EF.IMSI length byte is 0 or above 8 (3GPP TS 31.102 §4.2.2).
    InvalidLength {
        /// The length byte.
        length: u8,
    },
    /// The identity type in the first nibble is not `001` (IMSI, 3GPP TS 24.008 §10.5.1.4).
    InvalidIdentityType {
        /// The three type bits.
        identity_type: u8,
    },
    /// A nibble that is not a digit, or `F` padding before the end.
    InvalidNibble {
        /// Index of the digit.
        position: usize,
    },
    /// The odd/even indicator does not match the number of digits.
    ParityMismatch,
}

impl fmt::Display for ImsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImsiError::InvalidDigit { position } => {
                write!(f, "IMSI character at offset {position} is not a digit")
            }
            ImsiError::DigitCount { count } => {
                write!(f, "IMSI has {count} digits, expected 6 to 15")
            }
            ImsiError::Truncated => f.write_str("EF.IMSI is shorter than its length byte says"),
            ImsiError::InvalidLength { length } => {
                write!(f, "EF.IMSI length byte {length} is not 1 to 8")
            }
            ImsiError::InvalidIdentityType { identity_type } => {
                write!(f, "EF.IMSI identity type {identity_type} is not IMSI (1)")
            }
            ImsiError::InvalidNibble { position } => {
                write!(f, "EF.IMSI nibble for digit {position} is not a digit")
            }
            ImsiError::ParityMismatch => {
                f.write_str("EF.IMSI odd/even indicator does not match the digit count")
            }
        }
    }
}

impl std::error::Error for ImsiError {}

/// An IMSI: 6 to 15 decimal digits (3GPP TS 23.003 §2.2).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Imsi(String);

impl Imsi {
    /// Bytes of EF.IMSI (3GPP TS 31.102 §4.2.2): a length byte and 8 bytes of digits.
    pub const EF_LEN: usize = 9;

    /// Reads an IMSI from its digits.
    pub fn from_digits(text: &str) -> Result<Self, ImsiError> {
        if let Some(position) = text.bytes().position(|b| !b.is_ascii_digit()) {
            return Err(ImsiError::InvalidDigit { position });
        }
        if !(6..=15).contains(&text.len()) {
            return Err(ImsiError::DigitCount { count: text.len() });
        }
        Ok(Imsi(text.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The EF.IMSI content (3GPP TS 31.102 §4.2.2, coded as the mobile identity of
    /// TS 24.008 §10.5.1.4): byte 1 is the number of bytes that follow; then the first digit
    /// in the high nibble after the odd/even indicator and type `001`, the remaining digits
    /// two per byte, low nibble first, `F`-padded; unused bytes `FF`.
    /// `001010123456789` is `08 09 10 10 10 32 54 76 98`.
    pub fn to_ef_imsi(&self) -> [u8; Imsi::EF_LEN] {
        let digits: Vec<u8> = self.0.bytes().map(|b| b - b'0').collect();
        let mut out = [0xFFu8; Imsi::EF_LEN];
        let odd = digits.len() % 2 == 1;
        let (first, rest) = digits.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        let mut bytes = vec![(first << 4) | if odd { 0x09 } else { 0x01 }];
        for pair in rest.chunks(2) {
            let low = pair.first().copied().unwrap_or(0x0F);
            let high = pair.get(1).copied().unwrap_or(0x0F);
            bytes.push((high << 4) | low);
        }
        if let Some(len) = out.first_mut() {
            *len = bytes.len() as u8;
        }
        for (slot, b) in out.iter_mut().skip(1).zip(bytes) {
            *slot = b;
        }
        out
    }

    /// Reads EF.IMSI content; `Ok(None)` when the file is unset (length byte `FF`).
    pub fn from_ef_imsi(bytes: &[u8]) -> Result<Option<Self>, ImsiError> {
        let (&length, rest) = bytes.split_first().ok_or(ImsiError::Truncated)?;
        if length == 0xFF {
            return Ok(None);
        }
        if length == 0 || length > 8 {
            return Err(ImsiError::InvalidLength { length });
        }
        let body = rest
            .get(..usize::from(length))
            .ok_or(ImsiError::Truncated)?;
        let (&first, tail) = body.split_first().ok_or(ImsiError::Truncated)?;
        let identity_type = first & 0x07;
        if identity_type != 1 {
            return Err(ImsiError::InvalidIdentityType { identity_type });
        }
        let odd = first & 0x08 != 0;
        let nibbles =
            std::iter::once(first >> 4).chain(tail.iter().flat_map(|b| [b & 0x0F, b >> 4]));
        let total = 1 + 2 * tail.len();
        let mut text = String::with_capacity(total);
        for (position, n) in nibbles.enumerate() {
            match n {
                0..=9 => text.push(char::from(b'0' + n)),
                // Only the very last nibble may be padding.
                0xF if position + 1 == total => {}
                _ => return Err(ImsiError::InvalidNibble { position }),
            }
        }
        if odd != (text.len() % 2 == 1) {
            return Err(ImsiError::ParityMismatch);
        }
        Imsi::from_digits(&text).map(Some)
    }
}

impl fmt::Display for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Imsi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Imsi({})", self.0)
    }
}

impl std::str::FromStr for Imsi {
    type Err = ImsiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Imsi::from_digits(s)
    }
}

/// EF.SPN: display condition byte and 16 bytes of name (3GPP TS 31.102 §4.2.12).
const SPN_EF_LEN: usize = 17;
/// Longest service provider name EF.SPN holds.
pub const SPN_MAX_CHARS: usize = SPN_EF_LEN - 1;

/// The GSM 7-bit default alphabet code (3GPP TS 23.038 §6.2.1) of a character, for the
/// characters generated names may use.
fn gsm_code(c: char) -> Option<u8> {
    match c {
        '@' => Some(0x00),
        '$' => Some(0x02),
        '_' => Some(0x11),
        // Space, ! " #, % to ?, letters: the same code points as ASCII.
        ' '..='#' | '%'..='?' | 'A'..='Z' | 'a'..='z' => u8::try_from(u32::from(c)).ok(),
        _ => None,
    }
}

fn gsm_char(code: u8) -> char {
    match code {
        0x00 => '@',
        0x02 => '$',
        0x11 => '_',
        0x20..=0x23 | 0x25..=0x3F | 0x41..=0x5A | 0x61..=0x7A => char::from(code),
        _ => char::REPLACEMENT_CHARACTER,
    }
}

/// The name in EF.SPN content, `None` if unset or empty.
fn decode_spn(content: &[u8]) -> Option<String> {
    let name = content.get(1..)?;
    let text: String = match name.split_first() {
        // UCS2, first coding of TS 31.102 Annex A: 80 then big-endian code units, FFFF ends.
        Some((0x80, ucs2)) => {
            let units: Vec<u16> = ucs2
                .chunks_exact(2)
                .filter_map(|p| match p {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                })
                .take_while(|u| *u != 0xFFFF)
                .collect();
            char::decode_utf16(units)
                .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        Some((0x81 | 0x82, _)) => return None,
        _ => name
            .iter()
            .take_while(|b| **b != 0xFF)
            .map(|b| gsm_char(*b))
            .collect(),
    };
    (!text.is_empty()).then_some(text)
}

// ---------------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------------

/// Why a [`ProfileSpec`] cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecError {
    /// `profile_type` must be 1 to 100 characters (PEDefinitions `profileType`).
    ProfileTypeLength {
        /// Characters given.
        chars: usize,
    },
    /// `service_provider_name` has more than 16 characters or one outside the GSM default
    /// alphabet subset this generator writes (letters, digits, space, `!"#%&'()*+,-./:;<=>?@$_`).
    ServiceProviderName {
        /// What is wrong.
        reason: &'static str,
    },
    /// A PIN, PUK or ADM value is not 4 to 8 ASCII digits (PUK and ADM: exactly 8).
    InvalidPin {
        /// `"pin1"`, `"puk1"` or `"adm1"`.
        which: &'static str,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::ProfileTypeLength { chars } => {
                write!(f, "profileType has {chars} characters, expected 1 to 100")
            }
            SpecError::ServiceProviderName { reason } => {
                write!(f, "service provider name: {reason}")
            }
            SpecError::InvalidPin { which } => write!(f, "{which} is not a valid code"),
        }
    }
}

impl std::error::Error for SpecError {}

/// What to put into a generated profile.
///
/// The package [`ProfileSpec::to_der`] builds, in this order (identification in brackets):
///
/// | PE | content |
/// |---|---|
/// | `header` | version 2.3, `profileType`, ICCID, mandatory services `usim` + `milenage`, mandatory templates MF and USIM |
/// | `mf` (1) | template 2.23.143.1.2.1: MF (PIN1 and ADM1 in its PIN status template), EF.ICCID, EF.DIR with one USIM record, EF.ARR |
/// | `pukCodes` (2) | PUK1 |
/// | `pinCodes` (3) | PIN1 (unblocked by PUK1), ADM1, in the MF's PIN context |
/// | `usim` (4) | template 2.23.143.1.2.4: ADF.USIM ([`USIM_AID`]), EF.IMSI, EF.ARR, EF.UST (SPN service only), EF.SPN, EF.EST, EF.ACC (from the last IMSI digit), EF.ECC (112) |
/// | `akaParameter` (5) | Milenage, Ki, OPc, default rotation/XOR constants and SQN handling |
/// | `end` (6) | |
///
/// Every PE is marked `mandated`. Files take their FCPs from the templates, except for the
/// fields the templates leave to the profile (record sizes, AID, PIN status template) and the
/// access rules: every file points at one of three records of its EF.ARR (read always /
/// update ADM1; read PIN1 / update ADM1; DF administration by ADM1).
#[derive(Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    /// The ICCID (header and EF.ICCID).
    pub iccid: Iccid,
    /// The IMSI (EF.IMSI); its last digit also picks the access class in EF.ACC.
    pub imsi: Imsi,
    /// K for Milenage.
    pub ki: [u8; 16],
    /// OPc for Milenage.
    pub opc: [u8; 16],
    /// ProfileHeader `profileType`, 1 to 100 characters.
    pub profile_type: String,
    /// EF.SPN name, up to 16 characters; the SM-DP+ can reuse it as the ProfileMetadata
    /// `serviceProviderName`. Empty leaves the name unset (all `FF`).
    pub service_provider_name: String,
    /// PIN1 (4 to 8 digits).
    pub pin1: String,
    /// PUK1 (8 digits).
    pub puk1: String,
    /// ADM1 (8 digits).
    pub adm1: String,
}

impl fmt::Debug for ProfileSpec {
    // Ki, OPc and the codes stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileSpec")
            .field("iccid", &self.iccid)
            .field("imsi", &self.imsi)
            .field("profile_type", &self.profile_type)
            .field("service_provider_name", &self.service_provider_name)
            .finish_non_exhaustive()
    }
}

impl ProfileSpec {
    /// A spec with the testbed's defaults for everything but the identities and keys:
    /// profileType `"lpa-testbed test profile"`, SPN `"LPA Testbed"`, PIN1 `0000`,
    /// PUK1 `12345678`, ADM1 `88888888`.
    pub fn new(iccid: Iccid, imsi: Imsi, ki: [u8; 16], opc: [u8; 16]) -> Self {
        ProfileSpec {
            iccid,
            imsi,
            ki,
            opc,
            profile_type: "lpa-testbed test profile".to_owned(),
            service_provider_name: "LPA Testbed".to_owned(),
            pin1: "0000".to_owned(),
            puk1: "12345678".to_owned(),
            adm1: "88888888".to_owned(),
        }
    }

    /// Encodes the Unprotected Profile Package (see the table on [`ProfileSpec`]).
    pub fn to_der(&self) -> Result<Vec<u8>, SpecError> {
        let chars = self.profile_type.chars().count();
        if !(1..=100).contains(&chars) {
            return Err(SpecError::ProfileTypeLength { chars });
        }
        let spn = encode_spn(&self.service_provider_name)?;
        let pin1 = code_value(&self.pin1, 4, "pin1")?;
        let puk1 = code_value(&self.puk1, 8, "puk1")?;
        let adm1 = code_value(&self.adm1, 8, "adm1")?;

        let mut out = Vec::new();
        out.extend(self.header_pe());
        out.extend(self.mf_pe());
        out.extend(puk_pe(puk1));
        out.extend(pin_pe(pin1, adm1));
        out.extend(self.usim_pe(&spn));
        out.extend(self.aka_pe());
        out.extend(tlv(PeType::End.tag().0, &pe_header(6)));
        Ok(out)
    }

    fn header_pe(&self) -> Vec<u8> {
        let (major, minor) = GENERATED_SAIP_VERSION;
        let unswapped: Vec<u8> = self
            .iccid
            .as_bytes()
            .iter()
            .map(|b| b.rotate_left(4))
            .collect();
        let value = [
            tlv(0x80, &uint_content(major.into())),
            tlv(0x81, &uint_content(minor.into())),
            tlv(0x82, self.profile_type.as_bytes()),
            tlv(0x83, &unswapped),
            // ServicesList: usim [1], milenage [4].
            tlv(0xA5, &[tlv(0x81, &[]), tlv(0x84, &[])].concat()),
            tlv(
                0xA6,
                &[
                    tlv(Tag::OBJECT_IDENTIFIER.0, TEMPLATE_MF),
                    tlv(Tag::OBJECT_IDENTIFIER.0, TEMPLATE_USIM),
                ]
                .concat(),
            ),
        ]
        .concat();
        tlv(PeType::Header.tag().0, &value)
    }

    fn mf_pe(&self) -> Vec<u8> {
        let dir_record = tlv(0x61, &[tlv(0x4F, &USIM_AID), tlv(0x50, b"USIM")].concat());
        let arr = arr_records();
        let value = [
            pe_header(1),
            tlv(0x81, TEMPLATE_MF),
            // mf [2]: access rules, PIN status template.
            file(
                0xA2,
                fcp(&[(0x8B, &[ARR_DF_ADM]), (0xC6, &PS_TEMPLATE)]),
                None,
            ),
            // ef-iccid [4]
            file(
                0xA4,
                fcp(&[(0x8B, &[ARR_READ_ALWAYS])]),
                Some(self.iccid.as_bytes()),
            ),
            // ef-dir [5]: one record holding the USIM application template.
            file(
                0xA5,
                linear_fixed_fcp(dir_record.len(), 1, ARR_READ_ALWAYS),
                Some(&dir_record),
            ),
            // ef-arr [6]
            file(
                0xA6,
                linear_fixed_fcp(ARR_RECORD_LEN, ARR_RECORDS, ARR_READ_ALWAYS),
                Some(&arr),
            ),
        ]
        .concat();
        tlv(PeType::Mf.tag().0, &value)
    }

    fn usim_pe(&self, spn: &[u8; SPN_EF_LEN]) -> Vec<u8> {
        let last_digit = self.imsi.as_str().bytes().last().map_or(0, |b| b - b'0');
        let acc = (1u16 << last_digit).to_be_bytes();
        // EF.UST, 14 bytes in this template version: only service 19 (SPN) is on.
        let mut ust = [0u8; 14];
        if let Some(byte3) = ust.get_mut(2) {
            *byte3 = 0x04;
        }
        let read_always = || fcp(&[(0x8B, &[ARR_READ_ALWAYS])]);
        let read_pin1 = || fcp(&[(0x8B, &[ARR_READ_PIN1])]);
        let value = [
            pe_header(4),
            tlv(0x81, TEMPLATE_USIM),
            // adf-usim [2]: temporary file ID, AID, access rules, PIN status template.
            file(
                0xA2,
                fcp(&[
                    (0x83, &[0x7F, 0xD0]),
                    (0x84, &USIM_AID),
                    (0x8B, &[ARR_DF_ADM]),
                    (0xC6, &PS_TEMPLATE),
                ]),
                None,
            ),
            // ef-imsi [3]
            file(0xA3, read_pin1(), Some(&self.imsi.to_ef_imsi())),
            // ef-arr [4]
            file(
                0xA4,
                linear_fixed_fcp(ARR_RECORD_LEN, ARR_RECORDS, ARR_READ_ALWAYS),
                Some(&arr_records()),
            ),
            // ef-ust [8]
            file(0xA8, read_pin1(), Some(&ust)),
            // ef-spn [13]
            file(0xAD, read_always(), Some(spn)),
            // ef-est [14]: no service enabled.
            file(0xAE, read_pin1(), Some(&[0x00])),
            // ef-acc [18]: access class = last IMSI digit (3GPP TS 22.011 §4.2).
            file(0xB2, read_pin1(), Some(&acc)),
            // ef-ecc [22]: one 4-byte record, emergency number 112, no alpha, no category.
            file(0xB6, read_always(), Some(&[0x11, 0xF2, 0xFF, 0x00])),
        ]
        .concat();
        tlv(PeType::Usim.tag().0, &value)
    }

    fn aka_pe(&self) -> Vec<u8> {
        let algo = [
            tlv(0x80, &uint_content(AkaAlgorithm::Milenage.id().into())),
            tlv(0x81, &[0x00]),
            tlv(0x82, &self.ki),
            tlv(0x83, &self.opc),
        ]
        .concat();
        // algoConfiguration [1] (explicit: a CHOICE) { algoParameter [1] }; rotation and XOR
        // constants, SQN options and sqnInit keep their DEFAULTs and so are absent in DER.
        let value = [pe_header(5), tlv(0xA1, &tlv(0xA1, &algo))].concat();
        tlv(PeType::AkaParameter.tag().0, &value)
    }
}

/// Key references in the MF's and ADF.USIM's PIN status template: PIN1 (`pinAppl1`, 01) and
/// ADM1 (`adm1`, 0A), both global and so defined in the MF's PIN context.
const PS_TEMPLATE: [u8; 2] = [0x01, 0x0A];
/// EF.ARR record for EFs read by anyone and updated with ADM1.
const ARR_READ_ALWAYS: u8 = 1;
/// EF.ARR record for EFs read after PIN1 and updated with ADM1.
const ARR_READ_PIN1: u8 = 2;
/// EF.ARR record for the MF and ADF.USIM: administration with ADM1.
const ARR_DF_ADM: u8 = 3;
const ARR_RECORDS: usize = 3;
const ARR_RECORD_LEN: usize = 22;

/// EF.ARR records in expanded format (ETSI TS 102 221 §9.2.4): AM_DO `80` (access mode byte,
/// ISO 7816-4 §7.4.3) followed by its SC_DO: `90 00` always, `A4 { 83 keyRef, 95 08 }` user
/// verification with that key. Records are padded with `FF` to [`ARR_RECORD_LEN`].
fn arr_records() -> Vec<u8> {
    const ADM1: [u8; 8] = [0xA4, 0x06, 0x83, 0x01, 0x0A, 0x95, 0x01, 0x08];
    const PIN1: [u8; 8] = [0xA4, 0x06, 0x83, 0x01, 0x01, 0x95, 0x01, 0x08];
    // EF access mode 5E: UPDATE, WRITE, DEACTIVATE, ACTIVATE, DELETE; 01: READ.
    // DF access mode 5E: CREATE EF, CREATE DF, DEACTIVATE, ACTIVATE, DELETE (self).
    let records: [Vec<u8>; ARR_RECORDS] = [
        [
            &[0x80, 0x01, 0x01, 0x90, 0x00][..],
            &[0x80, 0x01, 0x5E],
            &ADM1,
        ]
        .concat(),
        [&[0x80, 0x01, 0x01][..], &PIN1, &[0x80, 0x01, 0x5E], &ADM1].concat(),
        [&[0x80, 0x01, 0x5E][..], &ADM1].concat(),
    ];
    let mut out = Vec::with_capacity(ARR_RECORDS * ARR_RECORD_LEN);
    for mut r in records {
        r.resize(ARR_RECORD_LEN, 0xFF);
        out.extend(r);
    }
    out
}

/// PE-PUKCodes: PUK1 (`pukAppl1`); 10 attempts by default.
fn puk_pe(puk1: [u8; 8]) -> Vec<u8> {
    let puk = tlv(
        Tag::SEQUENCE.0,
        &[tlv(0x80, &uint_content(1)), tlv(0x81, &puk1)].concat(),
    );
    let value = [pe_header(2), tlv(0xA1, &puk)].concat();
    tlv(PeType::PukCodes.tag().0, &value)
}

/// PE-PINCodes: PIN1 (unblocked by PUK1) and ADM1, 3 attempts each by default. pinAttributes
/// 6 for PIN1 and 3 for ADM1, the values the TS.48 test profiles use (pySim's defaults too).
fn pin_pe(pin1: [u8; 8], adm1: [u8; 8]) -> Vec<u8> {
    let pin = tlv(
        Tag::SEQUENCE.0,
        &[
            tlv(0x80, &uint_content(1)),
            tlv(0x81, &pin1),
            tlv(0x82, &uint_content(1)),
            tlv(0x83, &uint_content(6)),
        ]
        .concat(),
    );
    let adm = tlv(
        Tag::SEQUENCE.0,
        &[
            tlv(0x80, &uint_content(0x0A)),
            tlv(0x81, &adm1),
            tlv(0x83, &uint_content(3)),
        ]
        .concat(),
    );
    // pinCodes [1] is a CHOICE (explicit) whose pinconfig [0] is the SEQUENCE OF.
    let value = [pe_header(3), tlv(0xA1, &tlv(0xA0, &[pin, adm].concat()))].concat();
    tlv(PeType::PinCodes.tag().0, &value)
}

/// PIN/PUK/ADM value: ASCII digits padded with `FF` to 8 bytes (as TS.48 and pySim code them).
fn code_value(code: &str, min: usize, which: &'static str) -> Result<[u8; 8], SpecError> {
    if !(min..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::InvalidPin { which });
    }
    let mut out = [0xFFu8; 8];
    for (slot, b) in out.iter_mut().zip(code.bytes()) {
        *slot = b;
    }
    Ok(out)
}

/// EF.SPN content: display condition 00, the name in the GSM default alphabet, `FF`-padded.
fn encode_spn(name: &str) -> Result<[u8; SPN_EF_LEN], SpecError> {
    let mut out = [0xFFu8; SPN_EF_LEN];
    if let Some(condition) = out.first_mut() {
        *condition = 0x00;
    }
    if name.chars().count() > SPN_MAX_CHARS {
        return Err(SpecError::ServiceProviderName {
            reason: "more than 16 characters",
        });
    }
    for (slot, c) in out.iter_mut().skip(1).zip(name.chars()) {
        *slot = gsm_code(c).ok_or(SpecError::ServiceProviderName {
            reason: "character outside the supported GSM alphabet subset",
        })?;
    }
    Ok(out)
}

/// `PEHeader { mandated NULL, identification }`.
fn pe_header(identification: u16) -> Vec<u8> {
    tlv(
        0xA0,
        &[
            tlv(0x80, &[]),
            tlv(0x81, &uint_content(identification.into())),
        ]
        .concat(),
    )
}

/// An `Fcp` as the `fileDescriptor` alternative of a File (`A1`), fields given in
/// declaration order.
fn fcp(fields: &[(u32, &[u8])]) -> Vec<u8> {
    let value: Vec<u8> = fields.iter().flat_map(|(tag, v)| tlv(*tag, v)).collect();
    tlv(0xA1, &value)
}

/// The FCP of a linear fixed EF: file descriptor (TS 102 222: shareable linear fixed `42`,
/// data coding `21`, record length), access rule, size.
fn linear_fixed_fcp(record_len: usize, records: usize, arr: u8) -> Vec<u8> {
    let rec = u16::try_from(record_len).unwrap_or(u16::MAX).to_be_bytes();
    let size = uint_bytes((record_len * records) as u64);
    fcp(&[
        (0x82, &[0x42, 0x21, rec[0], rec[1]]),
        (0x8B, &[arr]),
        (0x80, &size),
    ])
}

/// A `File` with context tag `tag` (its position in the PE): the FCP, then the content if any.
fn file(tag: u32, fcp: Vec<u8>, content: Option<&[u8]>) -> Vec<u8> {
    let mut value = fcp;
    if let Some(content) = content {
        value.extend(tlv(0x83, content));
    }
    tlv(tag, &value)
}

/// Content octets of a non-negative DER INTEGER.
fn uint_content(v: u64) -> Vec<u8> {
    let mut bytes = uint_bytes(v);
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    bytes
}

/// `v` big-endian in as few bytes as possible (at least one): efFileSize's coding.
fn uint_bytes(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    bytes.get(skip..).unwrap_or_default().to_vec()
}

/// One DER element (definite length, minimal form).
fn tlv(tag: u32, value: &[u8]) -> Vec<u8> {
    let tag = Tag(tag);
    let mut out = Vec::with_capacity(tlv_len(tag, value.len()));
    let tag_len = tag.encoded_len();
    for i in (0..tag_len).rev() {
        out.push((tag.0 >> (8 * i)) as u8);
    }
    let len = value.len();
    let len_len = length_len(len);
    if len_len == 1 {
        out.push(len as u8);
    } else {
        out.push(0x80 | (len_len - 1) as u8);
        for i in (0..len_len - 1).rev() {
            out.push((len >> (8 * i)) as u8);
        }
    }
    out.extend_from_slice(value);
    out
}

// ---------------------------------------------------------------------------------------------
// Demo profiles
// ---------------------------------------------------------------------------------------------

/// The spec of demo profile number `n`: deterministic, distinct for every `n`.
///
/// - ICCID: `8900` + `n` on 15 digits + Luhn check digit (20 digits);
/// - IMSI: MCC 001, MNC 01 (the 3GPP test network) + `n` on 10 digits, so `001010…n` for
///   `n` below 10^9;
/// - Ki and OPc: the first 16 bytes of SHA-256(`"lpa-testbed demo Ki"` / `"… OPc"` ‖ `n` as
///   4 bytes big-endian);
/// - profileType `"lpa-testbed demo profile n"`, the other fields as [`ProfileSpec::new`].
pub fn demo_profile_spec(n: u32) -> ProfileSpec {
    let payload = format!("8900{n:015}");
    // Both unwraps below only see digit strings of fixed, valid lengths built just above.
    let check = Iccid::luhn_check_digit(&payload).unwrap_or(0);
    let iccid = Iccid::from_digits(&format!("{payload}{check}"))
        .unwrap_or_else(|e| unreachable!("demo ICCID for {n}: {e}"));
    let imsi = Imsi::from_digits(&format!("00101{n:010}"))
        .unwrap_or_else(|e| unreachable!("demo IMSI for {n}: {e}"));
    let mut spec = ProfileSpec::new(
        iccid,
        imsi,
        demo_secret(b"lpa-testbed demo Ki", n),
        demo_secret(b"lpa-testbed demo OPc", n),
    );
    spec.profile_type = format!("lpa-testbed demo profile {n}");
    spec
}

/// The UPP of demo profile number `n` ([`demo_profile_spec`]).
pub fn generate_demo_profile(n: u32) -> Vec<u8> {
    demo_profile_spec(n)
        .to_der()
        .unwrap_or_else(|e| unreachable!("demo profile spec {n} is always valid: {e}"))
}

fn demo_secret(label: &[u8], n: u32) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(n.to_be_bytes())
        .finalize();
    let mut out = [0u8; 16];
    for (slot, b) in out.iter_mut().zip(digest.iter()) {
        *slot = *b;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

/// Why a profile folder could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum InventoryError {
    /// Reading the folder or a file failed.
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A file is not a valid UPP.
    InvalidProfile {
        /// Its name.
        name: String,
        /// What is wrong with it.
        error: SaipError,
    },
    /// Two profiles have the same ICCID.
    DuplicateIccid {
        /// The ICCID.
        iccid: Iccid,
        /// The profile loaded first.
        first: String,
        /// The profile with the same ICCID.
        second: String,
    },
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InventoryError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            InventoryError::InvalidProfile { name, error } => write!(f, "{name}: {error}"),
            InventoryError::DuplicateIccid {
                iccid,
                first,
                second,
            } => write!(f, "{second} has ICCID {iccid}, like {first}"),
        }
    }
}

impl std::error::Error for InventoryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InventoryError::Io { error, .. } => Some(error),
            InventoryError::InvalidProfile { error, .. } => Some(error),
            InventoryError::DuplicateIccid { .. } => None,
        }
    }
}

/// One profile the SM-DP+ can serve.
#[derive(Clone, Debug)]
pub struct InventoryProfile {
    /// The file name (or the name given to [`ProfileInventory::add`]).
    pub name: String,
    /// The file it was read from.
    pub path: Option<PathBuf>,
    /// What parsing found.
    pub package: ProfilePackage,
    /// The UPP bytes.
    pub der: Vec<u8>,
}

impl InventoryProfile {
    /// The ICCID (from the ProfileHeader).
    pub fn iccid(&self) -> Iccid {
        self.package.iccid()
    }
}

/// The profiles a test SM-DP+ serves, keyed by ICCID.
#[derive(Clone, Debug, Default)]
pub struct ProfileInventory {
    profiles: Vec<InventoryProfile>,
}

impl ProfileInventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.der` file of `dir` (not its subfolders), in file name order. Any file
    /// that is not a valid UPP, or a repeated ICCID, fails the whole load: a test server
    /// should not quietly serve fewer profiles than its folder holds.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, InventoryError> {
        let dir = dir.as_ref();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| InventoryError::Io { path, error }
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let is_der = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("der"));
            if is_der && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut inventory = ProfileInventory::new();
        for path in paths {
            let der = std::fs::read(&path).map_err(io(&path))?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            inventory.insert(name, Some(path), der)?;
        }
        Ok(inventory)
    }

    /// Adds a profile held in memory (a generated one, say); returns its ICCID.
    pub fn add(&mut self, name: impl Into<String>, der: Vec<u8>) -> Result<Iccid, InventoryError> {
        self.insert(name.into(), None, der)
    }

    fn insert(
        &mut self,
        name: String,
        path: Option<PathBuf>,
        der: Vec<u8>,
    ) -> Result<Iccid, InventoryError> {
        let package = match ProfilePackage::parse(&der) {
            Ok(p) => p,
            Err(error) => return Err(InventoryError::InvalidProfile { name, error }),
        };
        let iccid = package.iccid();
        if let Some(existing) = self.get(&iccid) {
            return Err(InventoryError::DuplicateIccid {
                iccid,
                first: existing.name.clone(),
                second: name,
            });
        }
        self.profiles.push(InventoryProfile {
            name,
            path,
            package,
            der,
        });
        Ok(iccid)
    }

    /// The profile with this ICCID.
    pub fn get(&self, iccid: &Iccid) -> Option<&InventoryProfile> {
        self.profiles.iter().find(|p| p.iccid() == *iccid)
    }

    /// All profiles, in load order.
    pub fn profiles(&self) -> &[InventoryProfile] {
        &self.profiles
    }

    /// How many profiles.
    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }
}
