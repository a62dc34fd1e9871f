//! The RSP session of a download (SGP.22 §3.1.3) on the eUICC side: GetEuiccChallenge starts
//! it, AuthenticateServer (§5.7.13) authenticates the SM-DP+, PrepareDownload (§5.7.5) binds
//! a one-time key, LoadBoundProfilePackage (see `load.rs`) consumes it, CancelSession (§5.7.14)
//! ends it.

use lpa_core::der::{Certificate, ObjectIdentifier, Signed};
use lpa_core::messages::{
    AuthenticateErrorCode, AuthenticateResponseError, AuthenticateResponseOk,
    AuthenticateServerRequest, AuthenticateServerResponse, CancelSessionError,
    CancelSessionRequest, CancelSessionResponse, CancelSessionResponseOk, DownloadErrorCode,
    EuiccCancelSessionSigned, EuiccSigned1, EuiccSigned2, PrepareDownloadRequest,
    PrepareDownloadResponse, PrepareDownloadResponseError, PrepareDownloadResponseOk,
};

use super::apdu::{Reply, sw};
use super::es10::{Es10Core, data};
use super::load::LoadState;
use super::signed_data::{euicc_signed2_data, smdp_signed2_data};
use crate::bsp::{self, OneTimeKeyPair};
use crate::pki::{self, CertRole, PkiError, PublicKey, VerifiedCert};

/// Where the download session stands.
#[derive(Debug, Default)]
pub(crate) enum Session {
    /// No session.
    #[default]
    Idle,
    /// A challenge was issued (GetEuiccChallenge).
    Challenged {
        /// The euiccChallenge.
        challenge: Vec<u8>,
    },
    /// The SM-DP+ authenticated itself (AuthenticateServer succeeded).
    Authenticated(Authenticated),
    /// A one-time key is bound (PrepareDownload succeeded).
    Prepared(Box<Prepared>),
    /// A Bound Profile Package is being loaded.
    Loading(Box<LoadState>),
}

/// What AuthenticateServer established.
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    /// transactionId of serverSigned1.
    pub transaction_id: Vec<u8>,
    /// serverAddress of serverSigned1: where the install notification goes.
    pub server_address: String,
    /// The SM-DP+ OID of CERT.DPauth.ECDSA (EuiccCancelSessionSigned).
    pub auth_smdp_oid: ObjectIdentifier,
    /// The euiccSignature1 the eUICC produced (part of smdpSignature2's input).
    pub euicc_signature1: Vec<u8>,
}

/// What PrepareDownload established.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The authentication it builds on.
    pub auth: Authenticated,
    /// PK.DPpb.ECDSA: verifies smdpSign in the BPP.
    pub dppb_key: PublicKey,
    /// The SM-DP+ OID of CERT.DPpb.ECDSA (ProfileInstallationResultData).
    pub pb_smdp_oid: ObjectIdentifier,
    /// otSK/otPK.EUICC.ECKA.
    pub one_time: OneTimeKeyPair,
    /// otPK.EUICC.ECKA as sent in euiccSigned2 (`5F49` value).
    pub euicc_otpk: Vec<u8>,
}

/// The SM-DP+ OID in a certificate's subjectAltName registeredID.
fn smdp_oid(cert: &VerifiedCert) -> Option<ObjectIdentifier> {
    cert.registered_id
        .as_deref()
        .and_then(ObjectIdentifier::parse)
}

fn bsp_curve(curve: pki::Curve) -> bsp::Curve {
    match curve {
        pki::Curve::BrainpoolP256r1 => bsp::Curve::BrainpoolP256r1,
        _ => bsp::Curve::NistP256,
    }
}

/// Why an SM-DP+ certificate was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CertFailure {
    /// Its CI is not one the eUICC trusts.
    UnknownCi,
    /// It uses a curve or algorithm SGP.22 does not allow.
    UnsupportedCurve,
    /// Anything else: signature, validity, role, extensions, revocation.
    Invalid,
}

impl Es10Core {
    fn trusted_cis(&self) -> Vec<&[u8]> {
        self.identity
            .trusted_ci_certificates
            .iter()
            .map(Vec::as_slice)
            .collect()
    }

    /// Validates an SM-DP+ certificate of `role` at the configured time, and checks it is not
    /// revoked by a loaded CRL.
    fn verify_smdp_certificate(
        &self,
        certificate: &Certificate,
        role: CertRole,
    ) -> Result<VerifiedCert, CertFailure> {
        let verified = pki::verify_chain(
            certificate.as_bytes(),
            &[],
            &self.trusted_cis(),
            self.config.now,
            role,
        )
        .map_err(|e| match e {
            PkiError::UnknownCi { .. } => CertFailure::UnknownCi,
            PkiError::UnsupportedAlgorithm { .. } | PkiError::CurveMismatch { .. } => {
                CertFailure::UnsupportedCurve
            }
            _ => CertFailure::Invalid,
        })?;
        if self.is_revoked(certificate.as_bytes(), &verified.ci_pkid) {
            return Err(CertFailure::Invalid);
        }
        Ok(verified)
    }

    fn eum_and_euicc_certificates(&self) -> Option<(Certificate, Certificate)> {
        let euicc = Certificate::from_der(self.identity.euicc.certificate.clone()).ok()?;
        let eum = Certificate::from_der(self.identity.eum_certificate.clone()).ok()?;
        Some((euicc, eum))
    }

    /// AuthenticateServer (SGP.22 §5.7.13). Checks, in order: a challenge was issued
    /// (noSessionContext), CERT.DPauth.ECDSA chains to a trusted CI at `now` (ciPKUnknown for
    /// an unknown CI, unsupportedCurve, else invalidCertificate), serverSignature1 over
    /// serverSigned1 as received (invalidSignature), the echoed euiccChallenge
    /// (euiccChallengeMismatch), and euiccCiPKIdToBeUsed is the CI the eUICC signs with
    /// (ciPKUnknown). The challenge is used up either way.
    pub fn authenticate_server(&mut self, request: AuthenticateServerRequest) -> Reply {
        let signed1 = request.server_signed1.value();
        let transaction_id = signed1.transaction_id.clone();
        let fail = |code| {
            data(&AuthenticateServerResponse::Error(
                AuthenticateResponseError {
                    transaction_id: transaction_id.clone(),
                    authenticate_error_code: code,
                },
            ))
        };
        let Session::Challenged { challenge } = std::mem::take(&mut self.session) else {
            return fail(AuthenticateErrorCode::NoSessionContext);
        };
        if transaction_id.is_empty() || transaction_id.len() > 16 {
            return fail(AuthenticateErrorCode::UndefinedError);
        }
        // CERT.XXauth.ECDSA (SGP.22 §5.7.13): an SM-DP+ (DPauth) or, for event retrieval over
        // ES11, an SM-DS (DSauth). The first failure is the one reported.
        let cert = match self
            .verify_smdp_certificate(&request.server_certificate, CertRole::DpAuth)
            .or_else(|first| {
                self.verify_smdp_certificate(&request.server_certificate, CertRole::DsAuth)
                    .map_err(|_| first)
            }) {
            Ok(cert) => cert,
            Err(CertFailure::UnknownCi) => return fail(AuthenticateErrorCode::CiPkUnknown),
            Err(CertFailure::UnsupportedCurve) => {
                return fail(AuthenticateErrorCode::UnsupportedCurve);
            }
            Err(CertFailure::Invalid) => return fail(AuthenticateErrorCode::InvalidCertificate),
        };
        let Some(auth_smdp_oid) = smdp_oid(&cert) else {
            return fail(AuthenticateErrorCode::InvalidCertificate);
        };
        if cert
            .verify_signature(request.server_signed1.raw(), &request.server_signature1)
            .is_err()
        {
            return fail(AuthenticateErrorCode::InvalidSignature);
        }
        if signed1.euicc_challenge != challenge {
            return fail(AuthenticateErrorCode::EuiccChallengeMismatch);
        }
        if request.euicc_ci_pkid_to_be_used != self.identity.signing_ci_pkid {
            return fail(AuthenticateErrorCode::CiPkUnknown);
        }
        let euicc_signed1 = Signed::new(EuiccSigned1 {
            transaction_id: transaction_id.clone(),
            server_address: signed1.server_address.clone(),
            server_challenge: signed1.server_challenge.clone(),
            euicc_info2: self.euicc_info2(),
            ctx_params1: request.ctx_params1.clone(),
        });
        let (Ok(signature), Some((euicc_certificate, eum_certificate))) = (
            self.identity.euicc.key.sign(euicc_signed1.raw()),
            self.eum_and_euicc_certificates(),
        ) else {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        };
        self.session = Session::Authenticated(Authenticated {
            transaction_id,
            server_address: signed1.server_address.clone(),
            auth_smdp_oid,
            euicc_signature1: signature.to_vec(),
        });
        data(&AuthenticateServerResponse::Ok(AuthenticateResponseOk {
            euicc_signed1,
            euicc_signature1: signature.to_vec(),
            euicc_certificate,
            eum_certificate,
        }))
    }

    /// PrepareDownload (SGP.22 §5.7.5). Checks, in order: an authenticated session
    /// (noSessionContext), CERT.DPpb.ECDSA (unsupportedCurve / invalidCertificate),
    /// smdpSignature2 over smdpSigned2 ‖ euiccSignature1 (invalidSignature), the transactionId
    /// (invalidTransactionId), and hashCc present exactly when ccRequiredFlag is set and 32
    /// bytes long (undefinedError: the eUICC cannot check the code itself, the SM-DP+ does).
    /// A failed PrepareDownload leaves the session as it was.
    pub fn prepare_download(&mut self, request: PrepareDownloadRequest) -> Reply {
        let signed2 = request.smdp_signed2.value();
        let transaction_id = signed2.transaction_id.clone();
        let fail = |code| {
            data(&PrepareDownloadResponse::Error(
                PrepareDownloadResponseError {
                    transaction_id: transaction_id.clone(),
                    download_error_code: code,
                },
            ))
        };
        let (auth, bound_otpk) = match &self.session {
            Session::Authenticated(auth) => (auth.clone(), None),
            Session::Prepared(prepared) => {
                (prepared.auth.clone(), Some(prepared.euicc_otpk.clone()))
            }
            _ => return fail(DownloadErrorCode::NoSessionContext),
        };
        let cert = match self.verify_smdp_certificate(&request.smdp_certificate, CertRole::DpPb) {
            Ok(cert) => cert,
            Err(CertFailure::UnsupportedCurve) => return fail(DownloadErrorCode::UnsupportedCurve),
            Err(_) => return fail(DownloadErrorCode::InvalidCertificate),
        };
        let Some(pb_smdp_oid) = smdp_oid(&cert) else {
            return fail(DownloadErrorCode::InvalidCertificate);
        };
        let signed_data = smdp_signed2_data(request.smdp_signed2.raw(), &auth.euicc_signature1);
        if cert
            .verify_signature(&signed_data, &request.smdp_signature2)
            .is_err()
        {
            return fail(DownloadErrorCode::InvalidSignature);
        }
        if transaction_id != auth.transaction_id {
            return fail(DownloadErrorCode::InvalidTransactionId);
        }
        let hash_cc_ok = match &request.hash_cc {
            Some(hash) => signed2.cc_required_flag && hash.len() == 32,
            None => !signed2.cc_required_flag,
        };
        if !hash_cc_ok {
            return fail(DownloadErrorCode::UndefinedError);
        }
        // A retry for a BPP already bound to our one-time key (bppEuiccOtpk) keeps the key,
        // if this session still holds it; otherwise a new key pair is made (SGP.22 §5.7.5).
        let reuse = signed2.bpp_euicc_otpk.is_some() && signed2.bpp_euicc_otpk == bound_otpk;
        let one_time = match std::mem::take(&mut self.session) {
            Session::Prepared(prepared) if reuse => Ok(prepared.one_time),
            other => {
                self.session = other;
                OneTimeKeyPair::generate(bsp_curve(cert.curve))
            }
        };
        let Ok(one_time) = one_time else {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        };
        let euicc_otpk = one_time.public_key().to_vec();
        let euicc_signed2 = Signed::new(EuiccSigned2 {
            transaction_id,
            euicc_otpk: euicc_otpk.clone(),
            hash_cc: request.hash_cc.clone(),
        });
        let Ok(signature) = self.identity.euicc.key.sign(&euicc_signed2_data(
            euicc_signed2.raw(),
            &request.smdp_signature2,
        )) else {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        };
        self.session = Session::Prepared(Box::new(Prepared {
            auth,
            dppb_key: cert.public_key.clone(),
            pb_smdp_oid,
            one_time,
            euicc_otpk,
        }));
        data(&PrepareDownloadResponse::Ok(PrepareDownloadResponseOk {
            euicc_signed2,
            euicc_signature2: signature.to_vec(),
        }))
    }

    /// CancelSession (SGP.22 §5.7.14): ends the session of that transactionId (also one whose
    /// BPP is half loaded: the partial profile is discarded) and signs
    /// EuiccCancelSessionSigned with the SM-DP+ OID of CERT.DPauth.ECDSA; invalidTransactionId
    /// when there is no such session.
    pub fn cancel_session(&mut self, request: CancelSessionRequest) -> Reply {
        let auth = match &self.session {
            Session::Authenticated(auth) => Some(auth),
            Session::Prepared(prepared) => Some(&prepared.auth),
            Session::Loading(load) => Some(load.auth()),
            _ => None,
        };
        let Some(auth) = auth.filter(|a| a.transaction_id == request.transaction_id) else {
            return data(&CancelSessionResponse::Error(
                CancelSessionError::InvalidTransactionId,
            ));
        };
        let signed = Signed::new(EuiccCancelSessionSigned {
            transaction_id: request.transaction_id,
            smdp_oid: auth.auth_smdp_oid.clone(),
            reason: request.reason,
        });
        let Ok(signature) = self.identity.euicc.key.sign(signed.raw()) else {
            return Reply::Status(sw::TECHNICAL_PROBLEM);
        };
        self.session = Session::Idle;
        data(&CancelSessionResponse::Ok(CancelSessionResponseOk {
            euicc_cancel_session_signed: signed,
            euicc_cancel_session_signature: signature.to_vec(),
        }))
    }
}
