//! The RSP test PKI: generated hierarchies on both curves, the GSMA SGP.26 test certificates
//! (valid chains and every `InvalidTestCases/` file), signatures, and hostile input.
//!
//! No test reads the clock: SGP.26 chains are validated at [`sgp26_now`], generated ones at a
//! fixed time inside the validity they were issued with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use der::{DateTime, Decode};
use lpa_testbed::pki::{
    CertRole, CertSpec, Curve, DEFAULT_EID, DEFAULT_SMDP_HOST, Issuer, KeyFormat, NameAttribute,
    PkiError, PrivateKey, PublicKey, TestPki, TestPkiOptions, aki_of, der_signature_to_raw, eid_of,
    issue_certificate, load_identity, raw_signature_to_der, sign, ski_of, verify_chain,
    verify_signature,
};
use x509_cert::Certificate;

const DAY: Duration = Duration::from_secs(86_400);
/// SGP.26 CI key identifiers (the CI PKIDs), from the test data README.
const SGP26_CI_PKID_NIST: &str = "F54172BDF98A95D65CBEB88A38A1C11D800A85C3";
const SGP26_CI_PKID_BRP: &str = "C0BC70BA36929D43B467FF57570530E57AB8FCD8";
const CURVES: [Curve; 2] = [Curve::NistP256, Curve::BrainpoolP256r1];

fn at(year: u16, month: u8, day: u8) -> SystemTime {
    DateTime::new(year, month, day, 0, 0, 0)
        .unwrap()
        .to_system_time()
}

/// A time inside the validity of every SGP.26 certificate used here, including the
/// `CERT_S_SM_DP_VARO_TLS_*` ones (2026-07-21 .. 2027-02-06).
fn sgp26_now() -> SystemTime {
    at(2026, 10, 1)
}

/// The validation time of generated hierarchies; they are valid from a day before to a year
/// after it.
fn generated_now() -> SystemTime {
    at(2031, 6, 15)
}

fn sgp26_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sgp26")
}

fn sgp26(path: &str) -> Vec<u8> {
    let path = sgp26_dir().join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn suffix(curve: Curve) -> &'static str {
    curve.sgp26_suffix()
}

fn generate(curve: Curve) -> TestPki {
    let now = generated_now();
    TestPki::generate(&TestPkiOptions::new(curve, now - DAY, now + 365 * DAY)).unwrap()
}

fn expect_err<T: std::fmt::Debug>(result: Result<T, PkiError>) -> PkiError {
    match result {
        Ok(value) => panic!("expected a refusal, got {value:?}"),
        Err(e) => {
            // Every error has a message.
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated hierarchies
// ---------------------------------------------------------------------------------------------

#[test]
fn generated_pki_validates_on_both_curves() {
    for curve in CURVES {
        let pki = generate(curve);
        let now = generated_now();
        let ci = [pki.ci.certificate.as_slice()];
        let ci_pkid = pki.ci_pkid().unwrap();

        let euicc = verify_chain(
            &pki.euicc.certificate,
            &[&pki.eum.certificate],
            &ci,
            now,
            CertRole::Euicc,
        )
        .unwrap();
        assert_eq!(euicc.role, CertRole::Euicc);
        assert_eq!(euicc.curve, curve);
        assert_eq!(euicc.eid.as_deref(), Some(DEFAULT_EID));
        assert_eq!(euicc.ci_pkid, ci_pkid);
        assert_eq!(euicc.public_key, pki.euicc.key.public_key());
        euicc.expect_eid(DEFAULT_EID).unwrap();

        for (identity, role) in [
            (&pki.dp_auth, CertRole::DpAuth),
            (&pki.dp_pb, CertRole::DpPb),
        ] {
            let verified = verify_chain(&identity.certificate, &[], &ci, now, role).unwrap();
            assert_eq!(verified.role, role);
            assert_eq!(verified.registered_id.as_deref(), Some("2.999.10"));
            assert_eq!(verified.ci_pkid, ci_pkid);
            assert_eq!(verified.eid, None);
        }

        verify_chain(&pki.eum.certificate, &[], &ci, now, CertRole::Eum).unwrap();
        let ci_verified = verify_chain(&pki.ci.certificate, &[], &ci, now, CertRole::Ci).unwrap();
        assert_eq!(ci_verified.subject_key_id, ci_pkid);

        match curve {
            Curve::NistP256 => {
                let tls = pki
                    .dp_tls
                    .as_ref()
                    .expect("NIST hierarchies have a TLS identity");
                let verified =
                    verify_chain(&tls.certificate, &[], &ci, now, CertRole::DpTls).unwrap();
                assert_eq!(verified.dns_names, vec![DEFAULT_SMDP_HOST.to_owned()]);
            }
            _ => assert!(pki.dp_tls.is_none(), "no brainpool TLS certificate"),
        }
    }
}

#[test]
fn generated_options_reach_the_certificates() {
    let now = generated_now();
    let mut options = TestPkiOptions::new(Curve::NistP256, now - DAY, now + DAY);
    options.eid = "89001012012341234012345678901224".to_owned();
    options.smdp_host = "smdp.lpa-testbed.example".to_owned();
    options.smdp_oid = "1.3.6.1.4.1.31746.1.500".to_owned();
    let pki = TestPki::generate(&options).unwrap();
    let ci = [pki.ci.certificate.as_slice()];

    assert_eq!(eid_of(&pki.euicc.certificate).unwrap(), options.eid);
    let euicc = verify_chain(
        &pki.euicc.certificate,
        &[&pki.eum.certificate],
        &ci,
        now,
        CertRole::Euicc,
    )
    .unwrap();
    assert_eq!(euicc.eid.as_deref(), Some(options.eid.as_str()));
    let auth = verify_chain(&pki.dp_auth.certificate, &[], &ci, now, CertRole::DpAuth).unwrap();
    assert_eq!(
        auth.registered_id.as_deref(),
        Some("1.3.6.1.4.1.31746.1.500")
    );
    let tls = pki.dp_tls.unwrap();
    let tls = verify_chain(&tls.certificate, &[], &ci, now, CertRole::DpTls).unwrap();
    assert_eq!(tls.dns_names, vec!["smdp.lpa-testbed.example".to_owned()]);
    assert_eq!(tls.not_before, now - DAY);
    assert_eq!(tls.not_after, now + DAY);
}

#[test]
fn generated_options_are_checked() {
    let now = generated_now();
    let base = TestPkiOptions::new(Curve::NistP256, now - DAY, now + DAY);

    let mut short_eid = base.clone();
    short_eid.eid = "8904903212345".to_owned();
    assert!(matches!(
        expect_err(TestPki::generate(&short_eid)),
        PkiError::InvalidOption { .. }
    ));

    let mut foreign_prefix = base.clone();
    foreign_prefix.eid_prefix = Some("89049099".to_owned());
    assert!(matches!(
        expect_err(TestPki::generate(&foreign_prefix)),
        PkiError::InvalidOption { .. }
    ));

    let mut bad_oid = base.clone();
    bad_oid.smdp_oid = "3.1.2".to_owned();
    assert!(matches!(
        expect_err(TestPki::generate(&bad_oid)),
        PkiError::InvalidOption { .. }
    ));

    let mut backwards = base;
    backwards.not_after = now - 2 * DAY;
    assert!(matches!(
        expect_err(TestPki::generate(&backwards)),
        PkiError::InvalidOption { .. }
    ));
}

/// The extensions of each generated certificate (OID, critical) are exactly those of the
/// SGP.26 certificate of the same role.
#[test]
fn generated_certificates_have_the_sgp26_extensions() {
    fn extensions(der: &[u8]) -> BTreeSet<(String, bool)> {
        let cert = Certificate::from_der(der).unwrap();
        cert.tbs_certificate()
            .extensions()
            .unwrap()
            .iter()
            .map(|ext| (ext.extn_id.to_string(), ext.critical))
            .collect()
    }
    let pki = generate(Curve::NistP256);
    let pairs = [
        (
            &pki.ci.certificate,
            "CertificateIssuer/CERT_CI_ECDSA_NIST.der",
        ),
        (&pki.eum.certificate, "EUM/CERT_EUM_ECDSA_NIST.der"),
        (&pki.euicc.certificate, "eUICC/CERT_EUICC_ECDSA_NIST.der"),
        (
            &pki.dp_auth.certificate,
            "DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der",
        ),
        (&pki.dp_pb.certificate, "DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der"),
        (
            &pki.dp_tls.as_ref().unwrap().certificate,
            "DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der",
        ),
    ];
    for (generated, reference) in pairs {
        assert_eq!(
            extensions(generated),
            extensions(&sgp26(reference)),
            "{reference}"
        );
    }
}

/// SGP.22 §4.5.2.1.0.2: the EUM name constraint has the SGP.26 form
/// `permittedSubtrees { directoryName { O = <EUM>, serialNumber = <EID prefix> } }`.
#[test]
fn generated_eum_name_constraint_has_the_sgp26_form() {
    fn name_constraint(der: &[u8]) -> Vec<u8> {
        let cert = Certificate::from_der(der).unwrap();
        let ext = cert
            .tbs_certificate()
            .extensions()
            .unwrap()
            .iter()
            .find(|ext| ext.extn_id.to_string() == "2.5.29.30")
            .unwrap()
            .clone();
        assert!(ext.critical);
        ext.extn_value.as_bytes().to_vec()
    }
    fn expected(organization: &str, prefix: &str) -> Vec<u8> {
        // SEQUENCE { [0] { SEQUENCE { [4] { Name { SET { O UTF8 } SET { serialNumber
        // PrintableString } } } } } }
        let o_atv = [
            &[0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, organization.len() as u8][..],
            organization.as_bytes(),
        ]
        .concat();
        let sn_atv = [
            &[0x06, 0x03, 0x55, 0x04, 0x05, 0x13, prefix.len() as u8][..],
            prefix.as_bytes(),
        ]
        .concat();
        let wrap = |tag: u8, body: Vec<u8>| [vec![tag, body.len() as u8], body].concat();
        let name = wrap(
            0x30,
            [
                wrap(0x31, wrap(0x30, o_atv)),
                wrap(0x31, wrap(0x30, sn_atv)),
            ]
            .concat(),
        );
        wrap(0x30, wrap(0xa0, wrap(0x30, wrap(0xa4, name))))
    }
    assert_eq!(
        name_constraint(&sgp26("EUM/CERT_EUM_ECDSA_NIST.der")),
        expected("RSP Test EUM", "89049032"),
        "the reference form"
    );
    let pki = generate(Curve::BrainpoolP256r1);
    assert_eq!(
        name_constraint(&pki.eum.certificate),
        expected("LPA Testbed EUM", "89049032")
    );
}

#[test]
fn generated_validity_is_enforced() {
    let pki = generate(Curve::NistP256);
    let ci = [pki.ci.certificate.as_slice()];
    let chain = |now| {
        verify_chain(
            &pki.euicc.certificate,
            &[&pki.eum.certificate],
            &ci,
            now,
            CertRole::Euicc,
        )
    };
    // Everything shares one validity, so the CI (checked first) is the one reported.
    let now = generated_now();
    assert!(matches!(
        expect_err(chain(now + 366 * DAY)),
        PkiError::Expired { cert: CertRole::Ci }
    ));
    assert!(matches!(
        expect_err(chain(now - 2 * DAY)),
        PkiError::NotYetValid { cert: CertRole::Ci }
    ));
    // Bounds are inclusive (RFC 5280 §4.1.2.5).
    chain(now - DAY).unwrap();
    chain(now + 365 * DAY).unwrap();

    // An eUICC certificate that expires before its EUM.
    let mut spec = CertSpec::new(
        CertRole::Euicc,
        vec![
            (NameAttribute::Organization, "LPA Testbed EUM".to_owned()),
            (NameAttribute::SerialNumber, DEFAULT_EID.to_owned()),
        ],
        now - DAY,
        now + DAY,
    );
    spec.serial_number = Some(vec![0x01, 0x02]);
    let short = issue_certificate(
        &spec,
        &pki.euicc.key.public_key(),
        Issuer::Ca {
            certificate: &pki.eum.certificate,
            key: &pki.eum.key,
        },
    )
    .unwrap();
    let err = expect_err(verify_chain(
        &short,
        &[&pki.eum.certificate],
        &ci,
        now + 2 * DAY,
        CertRole::Euicc,
    ));
    assert!(matches!(
        err,
        PkiError::Expired {
            cert: CertRole::Euicc
        }
    ));
    assert_eq!(err.certificate(), Some(CertRole::Euicc));
}

#[test]
fn write_to_dir_and_load_from_dir_round_trip() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for curve in CURVES {
        for format in [KeyFormat::Sec1, KeyFormat::Pkcs8] {
            let pki = generate(curve);
            let dir = tmp.join(format!("pki-{}-{format:?}", suffix(curve)));
            let _ = std::fs::remove_dir_all(&dir);
            pki.write_to_dir(&dir, format).unwrap();

            let key_file = dir.join(format!("eUICC/SK_EUICC_ECDSA_{}.pem", suffix(curve)));
            let pem = std::fs::read_to_string(&key_file).unwrap();
            let label = match format {
                KeyFormat::Sec1 => "-----BEGIN EC PRIVATE KEY-----",
                _ => "-----BEGIN PRIVATE KEY-----",
            };
            assert!(pem.starts_with(label), "{pem}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
                assert_eq!(mode & 0o077, 0, "private keys are not group/world readable");
            }
            assert!(
                dir.join(format!("EUM/CERT_EUM_ECDSA_{}.der", suffix(curve)))
                    .is_file()
            );

            let loaded = TestPki::load_from_dir(&dir, curve).unwrap();
            assert_eq!(loaded.curve, curve);
            for (a, b) in [
                (&pki.ci, &loaded.ci),
                (&pki.eum, &loaded.eum),
                (&pki.euicc, &loaded.euicc),
                (&pki.dp_auth, &loaded.dp_auth),
                (&pki.dp_pb, &loaded.dp_pb),
            ] {
                assert_eq!(a.certificate, b.certificate);
                assert_eq!(a.key.public_key(), b.key.public_key());
                assert_eq!(*a.key.to_scalar_bytes(), *b.key.to_scalar_bytes());
            }
            assert_eq!(
                pki.dp_tls.as_ref().map(|t| &t.certificate),
                loaded.dp_tls.as_ref().map(|t| &t.certificate)
            );
            // The other curve is not in this directory.
            let other = if curve == Curve::NistP256 {
                Curve::BrainpoolP256r1
            } else {
                Curve::NistP256
            };
            assert!(matches!(
                expect_err(TestPki::load_from_dir(&dir, other)),
                PkiError::Io { .. }
            ));
        }
    }
}

#[test]
fn load_refuses_a_key_that_does_not_match_its_certificate() {
    let dir = sgp26_dir();
    let err = expect_err(load_identity(
        &dir.join("eUICC/CERT_EUICC_ECDSA_NIST.der"),
        &dir.join("EUM/SK_EUM_ECDSA_NIST.pem"),
        CertRole::Euicc,
    ));
    assert!(matches!(
        err,
        PkiError::KeyMismatch {
            cert: CertRole::Euicc
        }
    ));
}

// ---------------------------------------------------------------------------------------------
// SGP.26 valid chains
// ---------------------------------------------------------------------------------------------

#[test]
fn sgp26_valid_chains_validate() {
    for (curve, pkid) in [
        (Curve::NistP256, SGP26_CI_PKID_NIST),
        (Curve::BrainpoolP256r1, SGP26_CI_PKID_BRP),
    ] {
        let s = suffix(curve);
        let ci = sgp26(&format!("CertificateIssuer/CERT_CI_ECDSA_{s}.der"));
        let trusted = [ci.as_slice()];
        assert_eq!(hex::encode_upper(ski_of(&ci).unwrap()), pkid);

        let eum = sgp26(&format!("EUM/CERT_EUM_ECDSA_{s}.der"));
        let euicc = verify_chain(
            &sgp26(&format!("eUICC/CERT_EUICC_ECDSA_{s}.der")),
            &[&eum],
            &trusted,
            sgp26_now(),
            CertRole::Euicc,
        )
        .unwrap();
        assert_eq!(euicc.eid.as_deref(), Some(DEFAULT_EID));
        assert_eq!(euicc.curve, curve);
        assert_eq!(hex::encode_upper(&euicc.ci_pkid), pkid);

        let leaves = [
            (
                format!("DPauth/CERT_S_SM_DPauth_ECDSA_{s}.der"),
                CertRole::DpAuth,
                "2.999.10",
            ),
            (
                format!("DPauth/CERT_S_SM_DP2auth_ECDSA_{s}.der"),
                CertRole::DpAuth,
                "2.999.12",
            ),
            (
                format!("DPpb/CERT_S_SM_DPpb_ECDSA_{s}.der"),
                CertRole::DpPb,
                "2.999.10",
            ),
            (
                format!("DPpb/CERT_S_SM_DP2pb_ECDSA_{s}.der"),
                CertRole::DpPb,
                "2.999.12",
            ),
            (
                format!("DPtls/CERT_S_SM_DP_VARO_TLS_{s}.der"),
                CertRole::DpTls,
                "2.999.10",
            ),
        ];
        for (file, role, smdp_oid) in leaves {
            let verified = verify_chain(&sgp26(&file), &[], &trusted, sgp26_now(), role)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(verified.registered_id.as_deref(), Some(smdp_oid), "{file}");
            assert_eq!(hex::encode_upper(&verified.ci_pkid), pkid);
        }
        verify_chain(&eum, &[], &trusted, sgp26_now(), CertRole::Eum).unwrap();
        verify_chain(&ci, &[], &trusted, sgp26_now(), CertRole::Ci).unwrap();
    }
}

#[test]
fn sgp26_tls_certificates_are_checked_against_the_given_time() {
    let ci = sgp26("CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    let trusted = [ci.as_slice()];
    let varo = sgp26("DPtls/CERT_S_SM_DP_VARO_TLS_NIST.der");
    let verified = verify_chain(&varo, &[], &trusted, sgp26_now(), CertRole::DpTls).unwrap();
    assert_eq!(verified.dns_names, vec![DEFAULT_SMDP_HOST.to_owned()]);
    assert!(matches!(
        expect_err(verify_chain(
            &varo,
            &[],
            &trusted,
            at(2026, 1, 1),
            CertRole::DpTls
        )),
        PkiError::NotYetValid {
            cert: CertRole::DpTls
        }
    ));

    let dp2 = sgp26("DPtls/CERT_S_SM_DP2_TLS.der");
    verify_chain(&dp2, &[], &trusted, at(2025, 1, 1), CertRole::DpTls).unwrap();
    assert!(matches!(
        expect_err(verify_chain(
            &dp2,
            &[],
            &trusted,
            sgp26_now(),
            CertRole::DpTls
        )),
        PkiError::Expired {
            cert: CertRole::DpTls
        }
    ));
}

#[test]
fn sgp26_identities_load_and_sign() {
    for curve in CURVES {
        let pki = TestPki::load_from_dir(&sgp26_dir(), curve).unwrap();
        assert_eq!(pki.curve, curve);
        assert!(
            pki.dp_tls.is_some(),
            "CERT_S_SM_DP_VARO_TLS_* with SK_S_SM_DP_TLS_*"
        );
        let message = b"euiccSigned1";
        let signature = sign(&pki.euicc.key, message).unwrap();
        verify_signature(&pki.euicc.certificate, message, &signature).unwrap();
        assert!(matches!(
            expect_err(verify_signature(
                &pki.dp_auth.certificate,
                message,
                &signature
            )),
            PkiError::SignatureInvalid
        ));
        // The SGP.26 CI key can issue new certificates that chain to the SGP.26 CI.
        let tls_spec = {
            let mut spec = CertSpec::new(
                CertRole::DpTls,
                vec![(NameAttribute::CommonName, "127.0.0.1.example".to_owned())],
                sgp26_now() - DAY,
                sgp26_now() + DAY,
            );
            spec.dns_names = vec!["127.0.0.1.example".to_owned()];
            spec
        };
        let key = PrivateKey::generate(curve).unwrap();
        let tls = issue_certificate(
            &tls_spec,
            &key.public_key(),
            Issuer::Ca {
                certificate: &pki.ci.certificate,
                key: &pki.ci.key,
            },
        )
        .unwrap();
        verify_chain(
            &tls,
            &[],
            &[&pki.ci.certificate],
            sgp26_now(),
            CertRole::DpTls,
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// SGP.26 InvalidTestCases: each file is refused with the error it was made for
// ---------------------------------------------------------------------------------------------

fn nist_ci() -> Vec<u8> {
    sgp26("CertificateIssuer/CERT_CI_ECDSA_NIST.der")
}

fn nist_eum() -> Vec<u8> {
    sgp26("EUM/CERT_EUM_ECDSA_NIST.der")
}

fn nist_euicc() -> Vec<u8> {
    sgp26("eUICC/CERT_EUICC_ECDSA_NIST.der")
}

fn euicc_chain(euicc: &[u8], eum: &[u8]) -> Result<lpa_testbed::pki::VerifiedCert, PkiError> {
    let ci = nist_ci();
    verify_chain(euicc, &[eum], &[&ci], sgp26_now(), CertRole::Euicc)
}

/// Test #1: EUM self-signed instead of signed by the CI (SGP.22 §5.6.3: 8.1.2/6.1).
#[test]
fn invalid_eum_self_signed() {
    let eum = sgp26("InvalidTestCases/CERT_EUM_ECDSA_NIST_INVALID.der");
    let err = expect_err(euicc_chain(&nist_euicc(), &eum));
    assert!(
        matches!(
            err,
            PkiError::SelfSigned {
                cert: CertRole::Eum
            }
        ),
        "{err:?}"
    );
}

/// Test #2: EUM valid 2010-2015 (8.1.2/6.3).
#[test]
fn invalid_eum_expired() {
    let eum = sgp26("InvalidTestCases/CERT_EUM_ECDSA_NIST_EXPIRED.der");
    let err = expect_err(euicc_chain(&nist_euicc(), &eum));
    assert!(
        matches!(
            err,
            PkiError::Expired {
                cert: CertRole::Eum
            }
        ),
        "{err:?}"
    );
}

/// Test #3: eUICC self-signed instead of signed by the EUM (8.1.3/6.1).
#[test]
fn invalid_euicc_self_signed() {
    let euicc = sgp26("InvalidTestCases/CERT_EUICC_ECDSA_NIST_INVALID.der");
    let err = expect_err(euicc_chain(&euicc, &nist_eum()));
    assert!(
        matches!(
            err,
            PkiError::SelfSigned {
                cert: CertRole::Euicc
            }
        ),
        "{err:?}"
    );
}

/// Test #4: eUICC valid 2010-2015 (8.1.3/6.3).
#[test]
fn invalid_euicc_expired() {
    let euicc = sgp26("InvalidTestCases/CERT_EUICC_ECDSA_NIST_EXPIRED.der");
    let err = expect_err(euicc_chain(&euicc, &nist_eum()));
    assert!(
        matches!(
            err,
            PkiError::Expired {
                cert: CertRole::Euicc
            }
        ),
        "{err:?}"
    );
}

/// Test #7: EUM signed by a CI nobody trusts (8.11.1/3.9), even if that CI's certificate is
/// offered as a trust anchor (it has no subject key identifier, so it is no RSP CI).
#[test]
fn invalid_eum_unknown_ci() {
    let eum = sgp26("InvalidTestCases/CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der");
    let err = expect_err(euicc_chain(&nist_euicc(), &eum));
    match &err {
        PkiError::UnknownCi { key_id } => assert_eq!(*key_id, aki_of(&eum).unwrap()),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.certificate(), Some(CertRole::Ci));

    let unknown_ci = sgp26("InvalidTestCases/CERT_UNKNOWN_CI_ECDSA_NIST.der");
    let err = expect_err(verify_chain(
        &nist_euicc(),
        &[&eum],
        &[&unknown_ci, &nist_ci()],
        sgp26_now(),
        CertRole::Euicc,
    ));
    assert!(matches!(err, PkiError::UnknownCi { .. }), "{err:?}");
}

/// The unknown CI itself (used by test #7) is not a trusted CI.
#[test]
fn invalid_unknown_ci_certificate() {
    let unknown_ci = sgp26("InvalidTestCases/CERT_UNKNOWN_CI_ECDSA_NIST.der");
    let err = expect_err(verify_chain(
        &unknown_ci,
        &[],
        &[&nist_ci()],
        sgp26_now(),
        CertRole::Ci,
    ));
    assert!(
        matches!(&err, PkiError::UnknownCi { key_id } if key_id.is_empty()),
        "{err:?}"
    );
}

/// Test #6: EID 89049033... outside the EUM's permitted prefix 89049032 (SGP.22
/// §4.5.2.1.0.2). Same refusal for the PEM copy.
#[test]
fn invalid_euicc_eid_outside_name_constraints() {
    let der = sgp26("InvalidTestCases/CERT_EUICC_ECDSA_NIST_INVALID_EID.der");
    let pem = sgp26("InvalidTestCases/CERT_EUICC_ECDSA_NIST_INVALID_EID.pem");
    let (label, from_pem) = der::pem::decode_vec(&pem).unwrap();
    assert_eq!(label, "CERTIFICATE");
    assert_eq!(from_pem, der);
    let err = expect_err(euicc_chain(&der, &nist_eum()));
    match err {
        PkiError::EidNotPermitted { eid } => assert_eq!(eid, "89049033123451234512345678901234"),
        other => panic!("{other:?}"),
    }
}

/// Test #14: a valid chain whose EID (...299) is not the one a profile is linked to: the
/// chain passes, the EID comparison refuses it (8.1.1/3.8). Same for the PEM copy.
#[test]
fn invalid_euicc_unmatched_eid() {
    let der = sgp26("InvalidTestCases/CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.der");
    let pem = sgp26("InvalidTestCases/CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.pem");
    assert_eq!(der::pem::decode_vec(&pem).unwrap().1, der);
    let verified = euicc_chain(&der, &nist_eum()).unwrap();
    assert_eq!(
        verified.eid.as_deref(),
        Some("89049032123451234512345678901299")
    );
    let err = expect_err(verified.expect_eid(DEFAULT_EID));
    assert!(matches!(
        err,
        PkiError::EidMismatch { ref expected, ref found }
            if expected == DEFAULT_EID && found == "89049032123451234512345678901299"
    ));
}

/// Every file of `InvalidTestCases/` has a test above: a new file must get one.
#[test]
fn invalid_test_cases_are_all_covered() {
    let covered: BTreeSet<&str> = [
        "CERT_EUM_ECDSA_NIST_INVALID.der",
        "CERT_EUM_ECDSA_NIST_EXPIRED.der",
        "CERT_EUICC_ECDSA_NIST_INVALID.der",
        "CERT_EUICC_ECDSA_NIST_EXPIRED.der",
        "CERT_EUM_ECDSA_NIST_UNKNOWN_CI.der",
        "CERT_UNKNOWN_CI_ECDSA_NIST.der",
        "CERT_EUICC_ECDSA_NIST_INVALID_EID.der",
        "CERT_EUICC_ECDSA_NIST_INVALID_EID.pem",
        "CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.der",
        "CERT_EUICC_ECDSA_NIST_UNMATCHED_EID.pem",
    ]
    .into_iter()
    .collect();
    let present: BTreeSet<String> = std::fs::read_dir(sgp26_dir().join("InvalidTestCases"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    assert_eq!(present, covered);
}

// ---------------------------------------------------------------------------------------------
// Further refusals
// ---------------------------------------------------------------------------------------------

#[test]
fn a_certificate_presented_for_another_role_is_refused() {
    let ci = nist_ci();
    let pb = sgp26("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der");
    let err = expect_err(verify_chain(
        &pb,
        &[],
        &[&ci],
        sgp26_now(),
        CertRole::DpAuth,
    ));
    assert!(
        matches!(&err, PkiError::WrongRole { cert: CertRole::DpAuth, found } if *found == [CertRole::DpPb]),
        "{err:?}"
    );
    let auth = sgp26("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der");
    let err = expect_err(verify_chain(
        &auth,
        &[],
        &[&ci],
        sgp26_now(),
        CertRole::DpTls,
    ));
    assert!(matches!(
        err,
        PkiError::WrongRole {
            cert: CertRole::DpTls,
            ..
        }
    ));
    // An SM-DP+ certificate in the EUM's place.
    let err = expect_err(euicc_chain(&nist_euicc(), &auth));
    assert!(
        matches!(
            err,
            PkiError::WrongRole {
                cert: CertRole::Eum,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn chains_of_the_wrong_shape_or_ci_are_refused() {
    let ci_brp = sgp26("CertificateIssuer/CERT_CI_ECDSA_BRP.der");
    let err = expect_err(verify_chain(
        &nist_euicc(),
        &[&nist_eum()],
        &[&ci_brp],
        sgp26_now(),
        CertRole::Euicc,
    ));
    match err {
        PkiError::UnknownCi { key_id } => {
            assert_eq!(hex::encode_upper(key_id), SGP26_CI_PKID_NIST)
        }
        other => panic!("{other:?}"),
    }
    let ci = nist_ci();
    assert!(matches!(
        expect_err(verify_chain(
            &nist_euicc(),
            &[],
            &[&ci],
            sgp26_now(),
            CertRole::Euicc
        )),
        PkiError::ChainLength {
            role: CertRole::Euicc,
            expected: 1,
            found: 0
        }
    ));
    let auth = sgp26("DPauth/CERT_S_SM_DPauth_ECDSA_NIST.der");
    assert!(matches!(
        expect_err(verify_chain(
            &auth,
            &[&nist_eum()],
            &[&ci],
            sgp26_now(),
            CertRole::DpAuth
        )),
        PkiError::ChainLength {
            expected: 0,
            found: 1,
            ..
        }
    ));
    assert!(matches!(
        expect_err(verify_chain(&auth, &[], &[], sgp26_now(), CertRole::DpAuth)),
        PkiError::UnknownCi { .. }
    ));
    // The EUM of the other curve: its key identifier is not the one the eUICC names.
    let eum_brp = sgp26("EUM/CERT_EUM_ECDSA_BRP.der");
    let err = expect_err(verify_chain(
        &nist_euicc(),
        &[&eum_brp],
        &[&ci, &ci_brp],
        sgp26_now(),
        CertRole::Euicc,
    ));
    assert!(
        matches!(
            err,
            PkiError::KeyIdentifierMismatch {
                cert: CertRole::Euicc
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tampered_certificates_are_refused() {
    // The last byte is inside the signature's s value.
    let mut euicc = nist_euicc();
    *euicc.last_mut().unwrap() ^= 0x01;
    let err = expect_err(euicc_chain(&euicc, &nist_eum()));
    assert!(
        matches!(
            err,
            PkiError::BadCertificateSignature {
                cert: CertRole::Euicc
            }
        ),
        "{err:?}"
    );

    // One digit of the EID in the signed part.
    let mut euicc = nist_euicc();
    let eid_at = euicc
        .windows(DEFAULT_EID.len())
        .position(|w| w == DEFAULT_EID.as_bytes())
        .unwrap();
    euicc[eid_at + 20] = b'9';
    let err = expect_err(euicc_chain(&euicc, &nist_eum()));
    assert!(
        matches!(
            err,
            PkiError::BadCertificateSignature {
                cert: CertRole::Euicc
            }
        ),
        "{err:?}"
    );
}

#[test]
fn chains_mixing_curves_are_refused() {
    // A NIST eUICC key certified by the brainpool EUM.
    let eum = load_identity(
        &sgp26_dir().join("EUM/CERT_EUM_ECDSA_BRP.der"),
        &sgp26_dir().join("EUM/SK_EUM_ECDSA_BRP.pem"),
        CertRole::Eum,
    )
    .unwrap();
    let mut spec = CertSpec::new(
        CertRole::Euicc,
        vec![
            (NameAttribute::Organization, "RSP Test EUM".to_owned()),
            (NameAttribute::SerialNumber, DEFAULT_EID.to_owned()),
        ],
        sgp26_now() - DAY,
        sgp26_now() + DAY,
    );
    spec.serial_number = Some(vec![0x42]);
    let nist_key = PrivateKey::generate(Curve::NistP256).unwrap();
    let euicc = issue_certificate(
        &spec,
        &nist_key.public_key(),
        Issuer::Ca {
            certificate: &eum.certificate,
            key: &eum.key,
        },
    )
    .unwrap();
    let ci_brp = sgp26("CertificateIssuer/CERT_CI_ECDSA_BRP.der");
    let err = expect_err(verify_chain(
        &euicc,
        &[&eum.certificate],
        &[&ci_brp],
        sgp26_now(),
        CertRole::Euicc,
    ));
    assert!(
        matches!(
            err,
            PkiError::CurveMismatch {
                cert: CertRole::Euicc
            }
        ),
        "{err:?}"
    );
}

#[test]
fn eids_are_checked() {
    let pki = generate(Curve::NistP256);
    let now = generated_now();
    let issue = |serial_number: &str| {
        let mut spec = CertSpec::new(
            CertRole::Euicc,
            vec![
                (NameAttribute::Organization, "LPA Testbed EUM".to_owned()),
                (NameAttribute::SerialNumber, serial_number.to_owned()),
            ],
            now - DAY,
            now + DAY,
        );
        spec.serial_number = Some(vec![0x07]);
        issue_certificate(
            &spec,
            &pki.euicc.key.public_key(),
            Issuer::Ca {
                certificate: &pki.eum.certificate,
                key: &pki.eum.key,
            },
        )
        .unwrap()
    };
    let verify = |cert: &[u8]| {
        verify_chain(
            cert,
            &[&pki.eum.certificate],
            &[&pki.ci.certificate],
            now,
            CertRole::Euicc,
        )
    };
    // Inside the prefix 89049032.
    verify(&issue("89049032000000000000000000000042")).unwrap();
    // Outside.
    assert!(matches!(
        expect_err(verify(&issue("89044032000000000000000000000042"))),
        PkiError::EidNotPermitted { .. }
    ));
    // Not an EID.
    for bad in [
        "8904903200000000000000000000004",
        "8904903200000000000000000000004X",
    ] {
        assert!(matches!(
            expect_err(verify(&issue(bad))),
            PkiError::InvalidEid { .. }
        ));
        assert!(matches!(
            expect_err(eid_of(&issue(bad))),
            PkiError::InvalidEid { .. }
        ));
    }
    // The organization is part of the constraint too.
    let mut spec = CertSpec::new(
        CertRole::Euicc,
        vec![
            (NameAttribute::Organization, "Another EUM".to_owned()),
            (NameAttribute::SerialNumber, DEFAULT_EID.to_owned()),
        ],
        now - DAY,
        now + DAY,
    );
    spec.serial_number = Some(vec![0x08]);
    let other_org = issue_certificate(
        &spec,
        &pki.euicc.key.public_key(),
        Issuer::Ca {
            certificate: &pki.eum.certificate,
            key: &pki.eum.key,
        },
    )
    .unwrap();
    assert!(matches!(
        expect_err(verify(&other_org)),
        PkiError::EidNotPermitted { .. }
    ));
}

#[test]
fn an_eum_without_name_constraints_is_refused() {
    let pki = generate(Curve::BrainpoolP256r1);
    let now = generated_now();
    let spec = CertSpec::new(
        CertRole::Eum,
        vec![(NameAttribute::Organization, "Unconstrained EUM".to_owned())],
        now - DAY,
        now + DAY,
    );
    let key = PrivateKey::generate(Curve::BrainpoolP256r1).unwrap();
    let eum = issue_certificate(
        &spec,
        &key.public_key(),
        Issuer::Ca {
            certificate: &pki.ci.certificate,
            key: &pki.ci.key,
        },
    )
    .unwrap();
    let err = expect_err(verify_chain(
        &eum,
        &[],
        &[&pki.ci.certificate],
        now,
        CertRole::Eum,
    ));
    assert!(
        matches!(
            err,
            PkiError::MissingExtension {
                cert: CertRole::Eum,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn an_end_entity_cannot_issue() {
    // An "eUICC" certificate signed with the SM-DP+ authentication key.
    let pki = generate(Curve::NistP256);
    let now = generated_now();
    let mut spec = CertSpec::new(
        CertRole::Euicc,
        vec![(NameAttribute::SerialNumber, DEFAULT_EID.to_owned())],
        now - DAY,
        now + DAY,
    );
    spec.serial_number = Some(vec![0x09]);
    let euicc = issue_certificate(
        &spec,
        &pki.euicc.key.public_key(),
        Issuer::Ca {
            certificate: &pki.dp_auth.certificate,
            key: &pki.dp_auth.key,
        },
    )
    .unwrap();
    let err = expect_err(verify_chain(
        &euicc,
        &[&pki.dp_auth.certificate],
        &[&pki.ci.certificate],
        now,
        CertRole::Euicc,
    ));
    assert!(
        matches!(
            err,
            PkiError::WrongRole {
                cert: CertRole::Eum,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Signatures (SGP.22 §2.6: raw r || s under tag 5F37)
// ---------------------------------------------------------------------------------------------

#[test]
fn signatures_round_trip_on_both_curves() {
    for curve in CURVES {
        let key = PrivateKey::generate(curve).unwrap();
        let public = key.public_key();
        assert_eq!(public.curve(), curve);
        let message = b"serverSigned1 || clientData";
        let signature = sign(&key, message).unwrap();
        assert_eq!(signature.len(), 64);
        // RFC 6979: deterministic.
        assert_eq!(signature, sign(&key, message).unwrap());
        public.verify(message, &signature).unwrap();

        assert!(matches!(
            expect_err(public.verify(b"another message", &signature)),
            PkiError::SignatureInvalid
        ));
        let mut flipped = signature;
        flipped[63] ^= 0x80;
        assert!(matches!(
            expect_err(public.verify(message, &flipped)),
            PkiError::SignatureInvalid
        ));
        assert!(matches!(
            expect_err(public.verify(message, &[0u8; 64])),
            PkiError::SignatureInvalid
        ));
        assert!(matches!(
            expect_err(public.verify(message, &[0xffu8; 64])),
            PkiError::SignatureInvalid
        ));
        // A DER signature where raw r || s is expected.
        let der_sig = raw_signature_to_der(&signature).unwrap();
        assert!(matches!(
            expect_err(public.verify(message, &der_sig)),
            PkiError::MalformedSignature { .. }
        ));
        assert_eq!(der_signature_to_raw(&der_sig).unwrap(), signature);

        // Same message, key of the other curve.
        let other = PrivateKey::generate(match curve {
            Curve::NistP256 => Curve::BrainpoolP256r1,
            _ => Curve::NistP256,
        })
        .unwrap();
        assert!(matches!(
            expect_err(other.public_key().verify(message, &signature)),
            PkiError::SignatureInvalid
        ));

        // Public key encodings.
        let sec1 = public.to_sec1_bytes();
        assert_eq!(sec1.len(), 65);
        assert_eq!(sec1[0], 0x04);
        assert_eq!(PublicKey::from_sec1_bytes(curve, &sec1).unwrap(), public);
        assert_eq!(
            PublicKey::from_spki_der(&public.to_spki_der().unwrap()).unwrap(),
            public
        );
    }
}

#[test]
fn raw_and_der_signature_conversion() {
    // r with the high bit set (needs a 00 in DER), s with leading zero bytes (shorter in DER).
    let mut raw = [0u8; 64];
    raw[0] = 0x80;
    raw[31] = 0x01;
    raw[34] = 0x7f;
    raw[63] = 0x02;
    let der_sig = raw_signature_to_der(&raw).unwrap();
    let mut expected = vec![0x30, 0x43, 0x02, 0x21, 0x00];
    expected.extend_from_slice(&raw[..32]);
    expected.extend_from_slice(&[0x02, 0x1e]);
    expected.extend_from_slice(&raw[34..]);
    assert_eq!(der_sig, expected);
    assert_eq!(der_signature_to_raw(&der_sig).unwrap(), raw);

    for bad in [
        &[][..],
        &[0x30, 0x00][..],
        &[0x30, 0x03, 0x02, 0x01, 0x01][..],
        // Trailing data after the SEQUENCE.
        &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00][..],
        // A 33-byte integer that does not fit.
        &[
            [0x30, 0x26, 0x02, 0x21, 0x01].as_slice(),
            &[0u8; 32],
            &[0x02, 0x01, 0x01],
        ]
        .concat(),
    ] {
        assert!(matches!(
            expect_err(der_signature_to_raw(bad)),
            PkiError::MalformedSignature { .. }
        ));
    }
    assert!(matches!(
        expect_err(raw_signature_to_der(&[0u8; 63])),
        PkiError::MalformedSignature { .. }
    ));
}

#[test]
fn ecdh_agrees_on_both_curves() {
    for curve in CURVES {
        let a = PrivateKey::generate(curve).unwrap();
        let b = PrivateKey::generate(curve).unwrap();
        assert_eq!(
            *a.ecdh(&b.public_key()).unwrap(),
            *b.ecdh(&a.public_key()).unwrap()
        );
    }
    let nist = PrivateKey::generate(Curve::NistP256).unwrap();
    let brp = PrivateKey::generate(Curve::BrainpoolP256r1).unwrap();
    assert!(nist.ecdh(&brp.public_key()).is_err());
}

#[test]
fn private_keys_decode_from_every_pem_form() {
    for curve in CURVES {
        // SGP.26: EC PARAMETERS block, then SEC1.
        let pem = std::fs::read_to_string(
            sgp26_dir().join(format!("eUICC/SK_EUICC_ECDSA_{}.pem", suffix(curve))),
        )
        .unwrap();
        assert!(pem.starts_with("-----BEGIN EC PARAMETERS-----"));
        let key = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(key.curve(), curve);

        for format in [KeyFormat::Sec1, KeyFormat::Pkcs8] {
            let again = PrivateKey::from_pem(&key.to_pem(format).unwrap()).unwrap();
            assert_eq!(again.public_key(), key.public_key());
        }
        let scalar = key.to_scalar_bytes();
        assert_eq!(
            PrivateKey::from_scalar_bytes(curve, scalar.as_slice())
                .unwrap()
                .public_key(),
            key.public_key()
        );
        // Debug never shows the scalar.
        let debug = format!("{key:?}");
        assert!(!debug.contains(&hex::encode(scalar.as_slice())));
    }
    for bad in [
        "",
        "not a key",
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
        "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        "-----BEGIN EC PRIVATE KEY-----\nMAA=\n-----END EC PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    ] {
        assert!(matches!(
            expect_err(PrivateKey::from_pem(bad)),
            PkiError::MalformedKey { .. }
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile input never panics
// ---------------------------------------------------------------------------------------------

#[test]
fn truncated_certificates_are_refused() {
    let euicc = nist_euicc();
    let eum = nist_eum();
    for len in 0..euicc.len() {
        let err = expect_err(euicc_chain(&euicc[..len], &eum));
        assert!(
            matches!(
                err,
                PkiError::MalformedCertificate {
                    cert: CertRole::Euicc,
                    ..
                }
            ),
            "{len}: {err:?}"
        );
    }
    for len in 0..eum.len() {
        let err = expect_err(euicc_chain(&euicc, &eum[..len]));
        assert_eq!(err.certificate(), Some(CertRole::Eum), "{len}: {err:?}");
    }
}

#[test]
fn corrupted_certificates_never_panic() {
    for file in [
        "EUM/CERT_EUM_ECDSA_NIST.der",
        "DPtls/CERT_S_SM_DP_VARO_TLS_BRP.der",
        "InvalidTestCases/CERT_EUICC_ECDSA_NIST_INVALID_EID.der",
    ] {
        let original = sgp26(file);
        for index in 0..original.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut corrupted = original.clone();
                corrupted[index] ^= mask;
                let _ = eid_of(&corrupted);
                let _ = ski_of(&corrupted);
                let _ = aki_of(&corrupted);
            }
        }
    }
}
