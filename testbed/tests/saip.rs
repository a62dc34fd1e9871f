//! Unprotected Profile Packages (`lpa_testbed::saip`): generated profiles parse back to what
//! was asked for, a generated ProfileHeader and AKA PE match hex derived by hand from
//! PEDefinitions, the GSMA TS.48 test profiles (read by path from the shared test data, never
//! copied here) parse, and truncated or bit-flipped packages fail with an error, never a panic.
//!
//! Without `../shared/testdata/profiles` the TS.48 tests fail; `LPA_SKIP_TS48=1` skips them on
//! purpose (`lpa_testbed::support::ts48_dir`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use lpa_core::ids::Iccid;
use lpa_core::tlv::{Tag, Tlv, TlvReader};
use lpa_testbed::saip::{
    AkaAlgorithm, AkaConfiguration, Imsi, ImsiError, InventoryError, PeType, ProfileInventory,
    ProfilePackage, ProfileSpec, SaipError, Service, SpecError, demo_profile_spec,
    generate_demo_profile, parse_upp, profile_elements,
};
use lpa_testbed::support;

fn h(s: &str) -> Vec<u8> {
    let clean: String = s.split_whitespace().collect();
    hex::decode(clean).unwrap()
}

fn key(s: &str) -> [u8; 16] {
    h(s).try_into().unwrap()
}

fn small_spec() -> ProfileSpec {
    let mut spec = ProfileSpec::new(
        Iccid::from_digits("8988211000000123458").unwrap(),
        Imsi::from_digits("001010123456789").unwrap(),
        key("000102030405060708090A0B0C0D0E0F"),
        key("F0E0D0C0B0A090807060504030201000"),
    );
    spec.profile_type = "Test".to_owned();
    spec
}

// ---------------------------------------------------------------------------------------------
// Byte-exact encodings
// ---------------------------------------------------------------------------------------------

/// The ProfileHeader of `small_spec`, written out from PEDefinitions by hand:
/// `ProfileHeader ::= SEQUENCE` with AUTOMATIC TAGS, so every element is `[n]` implicit.
#[test]
fn generated_header_matches_hand_derived_der() {
    let der = small_spec().to_der().unwrap();
    let (header, _) = Tlv::parse_prefix(&der).unwrap();
    let expected = h("
        A0 30                                 -- header [0] ProfileHeader, 48 bytes
          80 01 02                            -- major-version [0] 2
          81 01 03                            -- minor-version [1] 3
          82 04 54657374                      -- profileType [2] 'Test'
          83 0A 8988211000000123458F          -- iccid [3], digits in order, F-padded
          A5 04                               -- eUICC-Mandatory-services [5] ServicesList
            81 00                             --   usim [1] NULL
            84 00                             --   milenage [4] NULL
          A6 10                               -- eUICC-Mandatory-GFSTEList [6]
            06 06 67810F010201                --   2.23.143.1.2.1 (MF template)
            06 06 67810F010204                --   2.23.143.1.2.4 (ADF.USIM template)
    "
    .lines()
    .map(|l| l.split("--").next().unwrap())
    .collect::<String>()
    .as_str());
    assert_eq!(
        hex::encode_upper(header.raw()),
        hex::encode_upper(&expected)
    );
}

/// PE-AKAParameter and PE-End of `small_spec`, by hand from PEDefinitions.
#[test]
fn generated_aka_and_end_match_hand_derived_der() {
    let der = small_spec().to_der().unwrap();
    let pes: Vec<_> = TlvReader::new(&der).map(|t| t.unwrap()).collect();
    let aka = pes.iter().find(|t| t.tag() == Tag(0xA4)).unwrap();
    let expected_aka = h("
        A4 35                                 -- akaParameter [4], 53 bytes
          A0 05 8000 810105                   -- aka-header: mandated, identification 5
          A1 2C                               -- algoConfiguration [1] (CHOICE: explicit)
            A1 2A                             --   algoParameter [1] AlgoParameter
              80 01 01                        --     algorithmID milenage(1)
              81 01 00                        --     algorithmOptions
              82 10 000102030405060708090A0B0C0D0E0F   -- key
              83 10 F0E0D0C0B0A090807060504030201000   -- opc
    "
    .lines()
    .map(|l| l.split("--").next().unwrap())
    .collect::<String>()
    .as_str());
    assert_eq!(
        hex::encode_upper(aka.raw()),
        hex::encode_upper(&expected_aka)
    );
    // end [10] PE-End { end-header { mandated, identification 6 } }
    assert_eq!(pes.last().unwrap().raw(), h("AA07 A005 8000 810106"));
}

/// EF.IMSI and the header ICCID codings against the values the TS.48 profiles carry
/// (IMSI 001010123456789, ICCID 89000123456789012341).
#[test]
fn imsi_and_iccid_codings() {
    let imsi = Imsi::from_digits("001010123456789").unwrap();
    assert_eq!(imsi.to_ef_imsi().to_vec(), h("08 09 10 10 10 32 54 76 98"));
    assert_eq!(
        Imsi::from_ef_imsi(&imsi.to_ef_imsi()).unwrap(),
        Some(imsi.clone())
    );
    // Even number of digits: indicator 1, last high nibble F.
    let even = Imsi::from_digits("00101012345678").unwrap();
    assert_eq!(even.to_ef_imsi().to_vec(), h("08 01 10 10 10 32 54 76 F8"));
    assert_eq!(Imsi::from_ef_imsi(&even.to_ef_imsi()).unwrap(), Some(even));
    assert_eq!(Imsi::from_ef_imsi(&[0xFF; 9]).unwrap(), None);
    assert_eq!(
        Imsi::from_ef_imsi(&h("08 01 10 10 10 32 54 76 98")),
        Err(ImsiError::ParityMismatch)
    );
    assert_eq!(
        Imsi::from_ef_imsi(&h("08 0A 10")),
        Err(ImsiError::Truncated)
    );
    assert_eq!(
        Imsi::from_digits("00101"),
        Err(ImsiError::DigitCount { count: 5 })
    );

    // Header ICCID: digits in order; EF.ICCID: nibble-swapped.
    let iccid = Iccid::from_digits("89000123456789012341").unwrap();
    let mut spec = small_spec();
    spec.iccid = iccid;
    let package = parse_upp(&spec.to_der().unwrap()).unwrap();
    assert_eq!(package.iccid(), iccid);
    assert_eq!(package.ef_iccid, Some(iccid));
    let der = spec.to_der().unwrap();
    let needle = h("83 0A 89 00 01 23 45 67 89 01 23 41");
    assert!(der.windows(needle.len()).any(|w| w == needle));
    let ef = h("83 0A 98 00 10 32 54 76 98 10 32 14");
    assert!(der.windows(ef.len()).any(|w| w == ef));
}

/// The CHOICE positions PEDefinitions gives the PE types, and the tags they make.
#[test]
fn pe_type_and_service_tags() {
    for (tag, pe) in [
        (0xA0, PeType::Header),
        (0xA1, PeType::GenericFileManagement),
        (0xA2, PeType::PinCodes),
        (0xA3, PeType::PukCodes),
        (0xA4, PeType::AkaParameter),
        (0xA6, PeType::SecurityDomain),
        (0xA7, PeType::Rfm),
        (0xAA, PeType::End),
        (0xAB, PeType::Rfu(1)),
        (0xB0, PeType::Mf),
        (0xB2, PeType::Telecom),
        (0xB3, PeType::Usim),
        (0xB4, PeType::OptUsim),
        (0xB5, PeType::Isim),
        (0xBD, PeType::DfSaip),
        (0xBE, PeType::DfSnpn),
        (0xBF1F, PeType::Df5gProse),
        (0xBF20, PeType::Iot),
        (0xBF21, PeType::OptIot),
        (0xBF22, PeType::Unknown(34)),
        (0xBF8100, PeType::Unknown(128)),
    ] {
        assert_eq!(pe.tag(), Tag(tag), "{pe}");
        assert_eq!(PeType::from_tag(Tag(tag)), Some(pe));
    }
    assert_eq!(PeType::OptUsim.name(), "opt-usim");
    assert_eq!(PeType::from_tag(Tag(0x30)), None);
    assert_eq!(PeType::from_tag(Tag(0x80)), None);
    assert_eq!(Service::from_number(4), Service::Milenage);
    assert_eq!(Service::from_number(17).name(), "usim-test-algorithm");
    assert_eq!(Service::Eaka.number(), 29);
    assert_eq!(Service::from_number(30), Service::Unknown(30));
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_profile_parses_back() {
    let spec = small_spec();
    let der = spec.to_der().unwrap();
    let p = ProfilePackage::parse(&der).unwrap();
    assert_eq!(p.iccid(), spec.iccid);
    assert_eq!(p.ef_iccid, Some(spec.iccid));
    assert_eq!(p.imsi.as_ref(), Some(&spec.imsi));
    assert_eq!(p.service_provider_name.as_deref(), Some("LPA Testbed"));
    assert_eq!((p.header.major_version, p.header.minor_version), (2, 3));
    assert_eq!(p.header.profile_type.as_deref(), Some("Test"));
    assert_eq!(
        p.header.mandatory_services,
        vec![Service::Usim, Service::Milenage]
    );
    let templates: Vec<String> = p
        .header
        .mandatory_templates
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(templates, ["2.23.143.1.2.1", "2.23.143.1.2.4"]);
    let types: Vec<PeType> = p.elements.iter().map(|e| e.pe_type).collect();
    assert_eq!(
        types,
        [
            PeType::Header,
            PeType::Mf,
            PeType::PukCodes,
            PeType::PinCodes,
            PeType::Usim,
            PeType::AkaParameter,
            PeType::End
        ]
    );
    let ids: Vec<Option<u16>> = p.elements.iter().map(|e| e.identification).collect();
    assert_eq!(
        ids,
        [None, Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)]
    );
    assert!(p.elements.iter().skip(1).all(|e| e.mandated));
    assert_eq!(
        p.elements[4].template_id.as_ref().unwrap().to_string(),
        "2.23.143.1.2.4"
    );
    assert_eq!(
        p.elements.iter().map(|e| e.len).sum::<usize>(),
        der.len(),
        "PEs cover the package"
    );
    assert_eq!(
        p.aka,
        vec![AkaConfiguration::Algorithm {
            algorithm: AkaAlgorithm::Milenage,
            options: 0,
            key: spec.ki.to_vec(),
            opc: spec.opc.to_vec(),
        }]
    );
    println!(
        "generated profile ({} bytes): {}",
        der.len(),
        hex::encode_upper(&der)
    );
}

#[test]
fn demo_profiles_are_deterministic_distinct_and_parse() {
    let mut iccids = std::collections::HashSet::new();
    let mut imsis = std::collections::HashSet::new();
    for n in [
        0,
        1,
        2,
        3,
        42,
        999,
        1_000_000,
        999_999_999,
        1_000_000_000,
        u32::MAX,
    ] {
        let der = generate_demo_profile(n);
        assert_eq!(
            der,
            generate_demo_profile(n),
            "demo profile {n} is deterministic"
        );
        let spec = demo_profile_spec(n);
        let p = parse_upp(&der).unwrap();
        assert_eq!(p.iccid(), spec.iccid);
        assert!(p.iccid().luhn_valid(), "{}", p.iccid());
        assert_eq!(p.iccid().digit_count(), 20);
        assert!(p.iccid().to_string().starts_with("8900"));
        assert!(p.iccid().to_string().ends_with(&format!(
            "{n}{}",
            p.iccid().to_string().chars().last().unwrap()
        )));
        let imsi = p.imsi.clone().unwrap();
        assert_eq!(imsi, spec.imsi);
        assert_eq!(imsi.as_str().len(), 15);
        assert!(imsi.as_str().starts_with("00101"));
        assert!(imsi.as_str().ends_with(&n.to_string()));
        if n < 1_000_000_000 {
            assert!(imsi.as_str().starts_with("001010"));
        }
        assert!(iccids.insert(p.iccid()));
        assert!(imsis.insert(imsi));
    }
    assert_eq!(
        demo_profile_spec(1).iccid.to_string(),
        "89000000000000000012"
    );
    assert_eq!(demo_profile_spec(1).imsi.as_str(), "001010000000001");
    assert_ne!(demo_profile_spec(1).ki, demo_profile_spec(2).ki);
    assert_ne!(demo_profile_spec(1).ki, demo_profile_spec(1).opc);
}

#[test]
fn spec_errors_are_typed() {
    let mut spec = small_spec();
    spec.profile_type = String::new();
    assert_eq!(
        spec.to_der(),
        Err(SpecError::ProfileTypeLength { chars: 0 })
    );
    let mut spec = small_spec();
    spec.service_provider_name = "An operator name too long".to_owned();
    assert!(matches!(
        spec.to_der(),
        Err(SpecError::ServiceProviderName { .. })
    ));
    spec.service_provider_name = "Café".to_owned();
    assert!(matches!(
        spec.to_der(),
        Err(SpecError::ServiceProviderName { .. })
    ));
    let mut spec = small_spec();
    spec.puk1 = "1234".to_owned();
    assert_eq!(spec.to_der(), Err(SpecError::InvalidPin { which: "puk1" }));
    let mut spec = small_spec();
    spec.service_provider_name = String::new();
    assert_eq!(
        parse_upp(&spec.to_der().unwrap())
            .unwrap()
            .service_provider_name,
        None
    );
}

// ---------------------------------------------------------------------------------------------
// TS.48 (by path only)
// ---------------------------------------------------------------------------------------------

#[test]
fn ts48_profiles_parse() {
    let Some(profiles) = support::ts48_profiles() else {
        return;
    };
    for (name, der) in profiles {
        let p = parse_upp(&der).unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "{name}: {} bytes, SAIP {}.{}, profileType {:?}, ICCID {}, IMSI {}",
            der.len(),
            p.header.major_version,
            p.header.minor_version,
            p.header.profile_type,
            p.iccid(),
            p.imsi.as_ref().map_or("-".to_owned(), ToString::to_string),
        );
        let services: Vec<&str> = p
            .header
            .mandatory_services
            .iter()
            .map(|s| s.name())
            .collect();
        println!("  mandatory services: {}", services.join(", "));
        for pe in &p.elements {
            println!(
                "  {:>5} +{:<5} {:<22} id {:<4} {}{}",
                pe.offset,
                pe.len,
                pe.pe_type.to_string(),
                pe.identification.map_or("-".to_owned(), |i| i.to_string()),
                if pe.mandated { "mandated " } else { "" },
                pe.template_id
                    .as_ref()
                    .map_or(String::new(), |t| format!("template {t}")),
            );
        }
        assert_eq!(p.iccid().to_string(), support::TS48_ICCID);
        assert_eq!(p.ef_iccid, Some(p.iccid()));
        assert_eq!(p.imsi.as_ref().unwrap().as_str(), "001010123456789");
        assert_eq!((p.header.major_version, p.header.minor_version), (2, 3));
        assert_eq!(p.elements.first().unwrap().pe_type, PeType::Header);
        assert_eq!(p.elements.last().unwrap().pe_type, PeType::End);
        assert_eq!(p.elements.len(), 30);
        assert!(p.elements_of(PeType::Usim).count() == 1);
        assert!(p.elements_of(PeType::SecurityDomain).count() == 1);
        assert_eq!(p.elements_of(PeType::Rfm).count(), 4);
        assert!(
            p.header
                .mandatory_services
                .contains(&Service::UsimTestAlgorithm)
        );
        // Two NAAs with AKA parameters (USIM, ISIM), both the XOR test algorithm.
        assert_eq!(p.aka.len(), 2);
        assert!(p.aka.iter().all(|a| matches!(
            a,
            AkaConfiguration::Algorithm {
                algorithm: AkaAlgorithm::UsimTestAlgorithm,
                ..
            }
        )));
        // The zero-copy iterator sees the same PEs.
        assert_eq!(profile_elements(&der).count(), p.elements.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed packages
// ---------------------------------------------------------------------------------------------

#[test]
fn structural_errors_are_typed() {
    let der = small_spec().to_der().unwrap();
    let pes: Vec<Vec<u8>> = TlvReader::new(&der)
        .map(|t| t.unwrap().raw().to_vec())
        .collect();
    let join = |order: &[usize]| {
        order
            .iter()
            .flat_map(|i| pes[*i].clone())
            .collect::<Vec<u8>>()
    };

    assert_eq!(parse_upp(&[]), Err(SaipError::Empty));
    assert_eq!(
        parse_upp(&join(&[0, 1, 2, 3, 4, 5])),
        Err(SaipError::MissingEnd)
    );
    assert!(matches!(
        parse_upp(&join(&[1, 0, 2, 3, 4, 5, 6])),
        Err(SaipError::HeaderNotFirst {
            found: PeType::Mf,
            ..
        })
    ));
    assert!(matches!(
        parse_upp(&join(&[0, 0, 1, 2, 3, 4, 5, 6])),
        Err(SaipError::DuplicateHeader { .. })
    ));
    assert!(matches!(
        parse_upp(&join(&[0, 1, 2, 3, 4, 5, 6, 5])),
        Err(SaipError::ElementAfterEnd {
            found: PeType::AkaParameter,
            ..
        })
    ));
    assert!(matches!(
        parse_upp(&join(&[0, 1, 1, 2, 3, 4, 5, 6])),
        Err(SaipError::DuplicateIdentification {
            identification: 1,
            ..
        })
    ));
    // Without the USIM PE the header's mandatory usim service is not provided.
    assert_eq!(
        parse_upp(&join(&[0, 1, 2, 3, 5, 6])),
        Err(SaipError::MandatoryServiceNotProvided {
            service: Service::Usim
        })
    );
    assert_eq!(
        parse_upp(&join(&[0, 1, 2, 3, 4, 6])),
        Err(SaipError::MandatoryServiceNotProvided {
            service: Service::Milenage
        })
    );
    // Trailing garbage after End.
    let mut trailing = der.clone();
    trailing.push(0x00);
    assert!(parse_upp(&trailing).is_err());
    // A universal SEQUENCE is not a ProfileElement.
    let mut seq = der.clone();
    seq[0] = 0x30;
    assert!(matches!(
        parse_upp(&seq),
        Err(SaipError::NotAProfileElement { offset: 0, .. })
    ));
    // A header ICCID with a hex digit.
    let mut bad_iccid = der.clone();
    let at = der.windows(2).position(|w| w == [0x83, 0x0A]).unwrap() + 2;
    bad_iccid[at] = 0x8A;
    assert!(matches!(
        parse_upp(&bad_iccid),
        Err(SaipError::InvalidIccid {
            pe: PeType::Header,
            ..
        })
    ));
    // The recorded session's "upp.der" is a placeholder, not a SAIP package.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/rsp-session/upp.der");
    let placeholder = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} is part of the repository: {e}", path.display()));
    assert!(parse_upp(&placeholder).is_err());
}

/// Prefixes of a package (every `cut_step`-th, and every PE boundary) are refused; single-bit
/// flips (every `bit_step`-th bit) are parsed without a panic and many are refused. Errors
/// carry an offset inside the input.
fn never_panics(der: &[u8], cut_step: usize, bit_step: usize) -> (usize, usize) {
    let boundaries = TlvReader::new(der).map(|t| {
        let t = t.unwrap();
        t.offset() + t.raw().len()
    });
    let mut cuts: Vec<usize> = (0..der.len()).step_by(cut_step).chain(boundaries).collect();
    cuts.retain(|c| *c < der.len());
    for cut in cuts {
        let r = parse_upp(&der[..cut]);
        assert!(r.is_err(), "prefix of {cut} bytes parsed");
        if let Some(offset) = r.unwrap_err().offset() {
            assert!(offset <= cut);
        }
    }
    let (mut refused, mut tried) = (0, 0);
    let mut flipped = der.to_vec();
    for bit in (0..der.len() * 8).step_by(bit_step) {
        flipped[bit / 8] ^= 1 << (bit % 8);
        tried += 1;
        if let Err(e) = parse_upp(&flipped) {
            refused += 1;
            let _ = e.to_string();
        }
        flipped[bit / 8] ^= 1 << (bit % 8);
    }
    (refused, tried)
}

#[test]
fn garbage_never_panics_generated() {
    let der = small_spec().to_der().unwrap();
    let (refused, tried) = never_panics(&der, 1, 1);
    println!("generated: {refused} of {tried} bit flips refused");
    // Most bits are key, access rule or file content bits, which no decoder can check.
    assert!(refused * 4 > tried, "{refused} of {tried}");
}

#[test]
fn garbage_never_panics_ts48() {
    let Some(mut profiles) = support::ts48_profiles() else {
        return;
    };
    let (_, der) = profiles.swap_remove(1);
    // A sample keeps this quick in debug builds; the generated package gets every cut and bit.
    let (refused, tried) = never_panics(&der, 19, 23);
    println!("TS.48: {refused} of {tried} bit flips refused");
    assert!(refused > 0);
}

#[test]
fn garbage_never_panics_random() {
    // A fixed xorshift stream: random bytes, and random bytes behind a valid header.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let header = Tlv::parse_prefix(&small_spec().to_der().unwrap())
        .unwrap()
        .0
        .raw()
        .to_vec();
    for round in 0..2000 {
        let len = (next() % 64) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 1 {
            bytes.splice(0..0, header.iter().copied());
        }
        let _ = parse_upp(&bytes);
        for pe in profile_elements(&bytes) {
            let _ = pe.map(|pe| pe.template_id());
        }
    }
    // Deep nesting is refused, not recursed into without bound.
    let mut deep = vec![0xA0u8, 0x00];
    for _ in 0..200 {
        let len = deep.len();
        let mut outer = vec![0xA0, 0x81, len as u8];
        if len > 255 {
            outer = vec![0xA0, 0x82, (len >> 8) as u8, len as u8];
        }
        outer.extend(deep);
        deep = outer;
    }
    assert!(matches!(
        parse_upp(&deep),
        Err(SaipError::TooDeeplyNested { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lpa-saip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn inventory_loads_a_folder() {
    let dir = temp_dir("inventory");
    for n in [3, 1, 2] {
        std::fs::write(dir.join(format!("demo-{n}.der")), generate_demo_profile(n)).unwrap();
    }
    std::fs::write(dir.join("README.txt"), "not a profile").unwrap();
    std::fs::create_dir(dir.join("sub.der")).unwrap();
    let inventory = ProfileInventory::load_dir(&dir).unwrap();
    assert_eq!(inventory.len(), 3);
    let names: Vec<&str> = inventory
        .profiles()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["demo-1.der", "demo-2.der", "demo-3.der"]);
    let two = demo_profile_spec(2);
    let found = inventory.get(&two.iccid).unwrap();
    assert_eq!(found.name, "demo-2.der");
    assert_eq!(found.der, generate_demo_profile(2));
    assert_eq!(found.package.imsi.as_ref(), Some(&two.imsi));
    assert_eq!(
        found.path.as_deref(),
        Some(dir.join("demo-2.der").as_path())
    );

    // A duplicate ICCID, added in memory.
    let mut inventory = inventory;
    assert!(matches!(
        inventory.add("copy", generate_demo_profile(1)),
        Err(InventoryError::DuplicateIccid { .. })
    ));
    let added = inventory.add("demo-4", generate_demo_profile(4)).unwrap();
    assert_eq!(added, demo_profile_spec(4).iccid);
    assert_eq!(inventory.get(&added).unwrap().name, "demo-4");
    assert_eq!(inventory.len(), 4);

    // One broken file fails the load, naming the file.
    std::fs::write(dir.join("broken.der"), &generate_demo_profile(5)[..100]).unwrap();
    let err = ProfileInventory::load_dir(&dir).unwrap_err();
    assert!(
        matches!(&err, InventoryError::InvalidProfile { name, .. } if name == "broken.der"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        ProfileInventory::load_dir(&dir),
        Err(InventoryError::Io { .. })
    ));
}

#[test]
fn inventory_loads_ts48_folder() {
    let Some(dir) = support::ts48_dir() else {
        return;
    };
    // Both TS.48 variants carry the same ICCID, so the folder as a whole is refused.
    match ProfileInventory::load_dir(&dir) {
        Err(InventoryError::DuplicateIccid { iccid, .. }) => {
            assert_eq!(iccid.to_string(), support::TS48_ICCID);
        }
        other => panic!("{other:?}"),
    }
}
