//! ES9+ (SGP.22 §5.6) and ES11 (§5.8): the functions an LPA calls, with every check of the
//! card side an SM-DP+ / SM-DS makes.

use std::time::Instant;

use lpa_core::activation::hash_cc;
use lpa_core::der::{Decode, Encode};
use lpa_core::es9::{
    self as json, AuthenticateClientOk, EmptyBody, Es9Error, Es9Response, Es11AuthenticateClientOk,
    EventEntry, GetBoundProfilePackageOk, InitiateAuthenticationOk, TransactionId,
};
use lpa_core::ids::{Eid, Iccid};
use lpa_core::messages::{
    AuthenticateResponseOk, AuthenticateServerResponse, CancelSessionReason, CancelSessionResponse,
    ConfigureIsdpRequest, CtxParams1, EuiccInfo1, FinalResult, PendingNotification,
    PrepareDownloadResponse, ServerSigned1, SmdpSigned2,
};
use serde::de::DeserializeOwned;

use super::binding::{BindError, BindingInputs, bind_profile_package};
use super::codes::*;
use super::orders::ProfileStatus;
use super::signed_data::{
    smdp_signature2_input, tlv, verify_cancel_session, verify_euicc_signature1,
    verify_euicc_signature2, verify_other_notification, verify_profile_installation_result,
};
use super::{ReceivedNotification, Smdp, State, internal, json_response, random};
use crate::bsp::{self, OneTimeKeyPair, ReplaceSessionKeys};
use crate::pki::{self, CertRole, PkiError, PublicKey, VerifiedCert};

/// The ES9+ functions, by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Es9Call {
    InitiateAuthentication,
    AuthenticateClient,
    GetBoundProfilePackage,
    HandleNotification,
    CancelSession,
}

/// The ES11 functions on their spec paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Es11Call {
    InitiateAuthentication,
    AuthenticateClient,
}

/// Which server a session talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SessionKind {
    Smdp,
    Smds,
}

/// An RSP session, from initiateAuthentication on.
#[derive(Debug)]
pub(crate) struct Session {
    kind: SessionKind,
    transaction_id: Vec<u8>,
    server_challenge: [u8; 16],
    /// euiccCiPKIdToBeUsed: the CI the eUICC's chain must end at.
    ci_pkid: Vec<u8>,
    created: Instant,
    client: Option<Client>,
    binding: Option<Binding>,
    notified: bool,
}

impl Session {
    /// Whether this session is downloading the profile `iccid`.
    pub(crate) fn is_for(&self, iccid: &Iccid) -> bool {
        self.client.as_ref().is_some_and(|c| c.iccid == *iccid)
    }
}

/// What authenticateClient established.
#[derive(Debug)]
struct Client {
    euicc_key: PublicKey,
    eid: Eid,
    iccid: Iccid,
    smdp_signature2: Vec<u8>,
    store_metadata: Vec<u8>,
}

/// What getBoundProfilePackage produced.
#[derive(Debug)]
struct Binding {
    euicc_otpk: Vec<u8>,
    bpp: Vec<u8>,
}

/// What authenticateClient checks the eUICC's answer against.
#[derive(Clone, Debug)]
struct Expect {
    kind: SessionKind,
    transaction_id: Vec<u8>,
    server_challenge: [u8; 16],
    ci_pkid: Vec<u8>,
}

/// The request of initiateAuthentication in either form.
struct Initiate {
    euicc_challenge: Vec<u8>,
    euicc_info1: Vec<u8>,
    address: String,
}

/// Parses a JSON request; malformed JSON, base64 or hex, and missing members, are format
/// errors of the requester.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Outcome<T> {
    json::decode_request::<T>(body).map_err(|e| match &e {
        Es9Error::InvalidField { detail, .. } | Es9Error::InvalidBody { detail }
            if detail.contains("missing field") =>
        {
            Failure::new(MANDATORY_ELEMENT_MISSING, e.to_string())
        }
        _ => Failure::new(INVALID_REQUEST, e.to_string()),
    })
}

fn der<T: Decode>(field: &str, bytes: &[u8]) -> Outcome<T> {
    T::from_der(bytes).map_err(|e| Failure::new(INVALID_REQUEST, format!("{field}: {e}")))
}

fn json_transaction_id(bytes: &[u8]) -> Outcome<TransactionId> {
    TransactionId::new(bytes).map_err(|e| internal(e.to_string()))
}

/// The SGP.22 §5.6.3 code for a refused eUICC certificate chain.
pub(crate) fn chain_failure(error: &PkiError) -> Failure {
    let code = match error {
        PkiError::UnknownCi { .. } => CI_UNKNOWN,
        PkiError::Expired {
            cert: CertRole::Eum,
        } => EUM_CERTIFICATE_EXPIRED,
        PkiError::Expired {
            cert: CertRole::Euicc,
        } => EUICC_CERTIFICATE_EXPIRED,
        e if e.certificate() == Some(CertRole::Eum) => EUM_CERTIFICATE_INVALID,
        _ => EUICC_CERTIFICATE_INVALID,
    };
    Failure::new(code, error.to_string())
}

impl Smdp {
    pub(crate) fn handle_es9(&self, call: Es9Call, body: &[u8]) -> Outcome<super::Response> {
        match call {
            Es9Call::InitiateAuthentication => {
                let req: json::InitiateAuthenticationRequest = parse(body)?;
                let kind = if req.smdp_address == self.config.host {
                    SessionKind::Smdp
                } else if self.config.smds_host.as_deref() == Some(req.smdp_address.as_str()) {
                    // LPAs send ES11 to the ES9+ path with the SM-DS address in smdpAddress.
                    SessionKind::Smds
                } else {
                    return refuse!(
                        INVALID_SMDP_ADDRESS,
                        "smdpAddress {:?} is not {:?}",
                        req.smdp_address,
                        self.config.host
                    );
                };
                let ok = self.initiate(
                    kind,
                    Initiate {
                        euicc_challenge: req.euicc_challenge,
                        euicc_info1: req.euicc_info1,
                        address: req.smdp_address,
                    },
                )?;
                Ok(json_response(&Es9Response::success(ok)))
            }
            Es9Call::AuthenticateClient => {
                let req: json::AuthenticateClientRequest = parse(body)?;
                self.authenticate_client(None, req)
            }
            Es9Call::GetBoundProfilePackage => {
                let req: json::GetBoundProfilePackageRequest = parse(body)?;
                let ok = self.get_bound_profile_package(req)?;
                Ok(json_response(&Es9Response::success(ok)))
            }
            Es9Call::HandleNotification => {
                let req: json::HandleNotificationRequest = parse(body)?;
                self.handle_notification(&req.pending_notification)?;
                Ok(super::Response::empty(204))
            }
            Es9Call::CancelSession => {
                let req: json::CancelSessionRequest = parse(body)?;
                self.cancel_session(req)?;
                Ok(json_response(&Es9Response::success(EmptyBody {})))
            }
        }
    }

    pub(crate) fn handle_es11(&self, call: Es11Call, body: &[u8]) -> Outcome<super::Response> {
        match call {
            Es11Call::InitiateAuthentication => {
                let req: json::Es11InitiateAuthenticationRequest = parse(body)?;
                if self.config.smds_host.as_deref() != Some(req.smds_address.as_str()) {
                    return refuse!(
                        INVALID_SMDS_ADDRESS,
                        "smdsAddress {:?} is not this SM-DS",
                        req.smds_address
                    );
                }
                let ok = self.initiate(
                    SessionKind::Smds,
                    Initiate {
                        euicc_challenge: req.euicc_challenge,
                        euicc_info1: req.euicc_info1,
                        address: req.smds_address,
                    },
                )?;
                Ok(json_response(&Es9Response::success(ok)))
            }
            Es11Call::AuthenticateClient => {
                let req: json::AuthenticateClientRequest = parse(body)?;
                self.authenticate_client(Some(SessionKind::Smds), req)
            }
        }
    }

    // --- initiateAuthentication (§5.6.1, §5.8.1) -------------------------------------------

    fn initiate(&self, kind: SessionKind, req: Initiate) -> Outcome<InitiateAuthenticationOk> {
        let smds = kind == SessionKind::Smds;
        if req.euicc_challenge.len() != 16 {
            return refuse!(
                INVALID_REQUEST,
                "euiccChallenge must be 16 bytes, got {}",
                req.euicc_challenge.len()
            );
        }
        let info1: EuiccInfo1 = der("euiccInfo1", &req.euicc_info1)?;
        // v2 and v3 eUICCs can run a v2 download; anything older or newer cannot.
        let [major, ..] = info1.svn.0;
        if !(2..=3).contains(&major) {
            return refuse!(
                if smds {
                    SMDS_SVN_NOT_SUPPORTED
                } else {
                    SVN_NOT_SUPPORTED
                },
                "eUICC SGP.22 version {} is not supported",
                info1.svn
            );
        }
        // euiccCiPKIdToBeUsed: a CI the eUICC signs with and we trust for its chain.
        let ci_pkid = info1
            .euicc_ci_pkid_list_for_signing
            .iter()
            .find(|pkid| self.trusted_ci_pkids.contains(pkid))
            .cloned();
        let Some(ci_pkid) = ci_pkid else {
            return refuse!(
                if smds {
                    SMDS_CI_KEYS_NOT_SUPPORTED
                } else {
                    CI_KEYS_NOT_SUPPORTED
                },
                "none of the eUICC's CI keys for signing is trusted here"
            );
        };
        // Our authentication certificate must chain to a CI the eUICC can verify.
        let (auth, auth_ci) = match (kind, &self.ds_auth) {
            (SessionKind::Smds, Some(ds)) => (ds, &self.ds_auth_ci_pkid),
            _ => (&self.config.dp_auth, &self.dp_auth_ci_pkid),
        };
        if !info1.euicc_ci_pkid_list_for_verification.contains(auth_ci) {
            return refuse!(
                if smds {
                    SMDS_NO_SERVER_CERTIFICATE
                } else {
                    NO_SERVER_CERTIFICATE
                },
                "no authentication certificate chains to a CI the eUICC can verify"
            );
        }

        let transaction_id = random::<16>()?.to_vec();
        let server_challenge = random::<16>()?;
        let signed = ServerSigned1 {
            transaction_id: transaction_id.clone(),
            euicc_challenge: req.euicc_challenge,
            server_address: req.address,
            server_challenge: server_challenge.to_vec(),
        }
        .to_der();
        let signature = auth.key.sign(&signed).map_err(internal)?;

        let mut state = self.lock();
        self.expire_sessions(&mut state);
        if state.sessions.len() >= self.config.max_sessions {
            return Err(internal("too many open sessions"));
        }
        state.sessions.insert(
            transaction_id.clone(),
            Session {
                kind,
                transaction_id: transaction_id.clone(),
                server_challenge,
                ci_pkid: ci_pkid.clone(),
                created: Instant::now(),
                client: None,
                binding: None,
                notified: false,
            },
        );
        Ok(InitiateAuthenticationOk {
            transaction_id: json_transaction_id(&transaction_id)?,
            server_signed1: signed,
            server_signature1: tlv(super::signed_data::TAG_SIGNATURE, &signature),
            euicc_ci_pkid_to_be_used: tlv(lpa_core::tlv::Tag::OCTET_STRING, &ci_pkid),
            server_certificate: auth.certificate.clone(),
        })
    }

    fn expire_sessions(&self, state: &mut State) {
        let lifetime = self.config.session_lifetime;
        state
            .sessions
            .retain(|_, s| s.created.elapsed() <= lifetime);
    }

    // --- authenticateClient (§5.6.3, §5.8.2) -----------------------------------------------

    fn authenticate_client(
        &self,
        expected: Option<SessionKind>,
        req: json::AuthenticateClientRequest,
    ) -> Outcome<super::Response> {
        let outer_tid = req.transaction_id.as_bytes().to_vec();
        let response: AuthenticateServerResponse = der(
            "authenticateServerResponse",
            &req.authenticate_server_response,
        )?;

        let mut state = self.lock();
        self.expire_sessions(&mut state);
        let expect = match state.sessions.get(&outer_tid) {
            Some(s) if s.client.is_none() && expected.is_none_or(|k| k == s.kind) => Expect {
                kind: s.kind,
                transaction_id: s.transaction_id.clone(),
                server_challenge: s.server_challenge,
                ci_pkid: s.ci_pkid.clone(),
            },
            _ => {
                return refuse!(
                    TRANSACTION_ID_UNKNOWN,
                    "no session waiting for authenticateClient has transactionId {}",
                    req.transaction_id
                );
            }
        };
        let kind = expect.kind;
        let ok = match response {
            AuthenticateServerResponse::Ok(ok) => ok,
            AuthenticateServerResponse::Error(e) => {
                state.sessions.remove(&outer_tid);
                return refuse!(
                    EUICC_VERIFICATION_FAILED,
                    "the eUICC refused AuthenticateServer (authenticateErrorCode {})",
                    e.authenticate_error_code.code()
                );
            }
        };
        let verified = match self.verify_authenticate_response(&expect, &ok) {
            Ok(v) => v,
            Err(f) => {
                state.sessions.remove(&outer_tid);
                return Err(f);
            }
        };
        let eid = verified.1;
        let matching_id = match &ok.euicc_signed1.value().ctx_params1 {
            CtxParams1::CommonAuthentication(c) => c.matching_id.clone(),
        };

        if kind == SessionKind::Smds {
            state.sessions.remove(&outer_tid);
            let events: Vec<EventEntry> = state
                .events
                .iter()
                .filter(|e| e.eid == eid)
                .filter(|e| {
                    matching_id
                        .as_deref()
                        .is_none_or(|m| m.is_empty() || m == e.event_id)
                })
                .map(|e| EventEntry {
                    event_id: e.event_id.clone(),
                    rsp_server_address: e.rsp_server_address.clone(),
                })
                .collect();
            if events.is_empty() && matching_id.as_deref().is_some_and(|m| !m.is_empty()) {
                return refuse!(
                    EVENT_ID_UNKNOWN,
                    "no event {:?} for EID {eid}",
                    matching_id.unwrap_or_default()
                );
            }
            let body = Es11AuthenticateClientOk {
                transaction_id: Some(json_transaction_id(&outer_tid)?),
                event_entries: events,
            };
            return Ok(json_response(&Es9Response::success(body)));
        }

        let result = self.select_order(&mut state, matching_id.as_deref(), &eid);
        let (iccid, cc_required, store_metadata) = match result {
            Ok(r) => r,
            Err(f) => {
                state.sessions.remove(&outer_tid);
                return Err(f);
            }
        };
        let smdp_signed2 = SmdpSigned2 {
            transaction_id: outer_tid.clone(),
            cc_required_flag: cc_required,
            bpp_euicc_otpk: None,
        }
        .to_der();
        let signature = self
            .config
            .dp_pb
            .key
            .sign(&smdp_signature2_input(&smdp_signed2, &ok.euicc_signature1))
            .map_err(internal)?;
        if let Some(session) = state.sessions.get_mut(&outer_tid) {
            session.client = Some(Client {
                euicc_key: verified.0.public_key,
                eid,
                iccid,
                smdp_signature2: signature.to_vec(),
                store_metadata: store_metadata.clone(),
            });
        }
        let body = AuthenticateClientOk {
            transaction_id: json_transaction_id(&outer_tid)?,
            profile_metadata: store_metadata,
            smdp_signed2,
            smdp_signature2: tlv(super::signed_data::TAG_SIGNATURE, &signature),
            smdp_certificate: self.config.dp_pb.certificate.clone(),
        };
        Ok(json_response(&Es9Response::success(body)))
    }

    /// The eUICC side of authenticateClient: CI, chain, signature, echoes.
    fn verify_authenticate_response(
        &self,
        session: &Expect,
        ok: &AuthenticateResponseOk,
    ) -> Outcome<(VerifiedCert, Eid)> {
        let euicc_cert = ok.euicc_certificate.as_bytes();
        let eum_cert = ok.eum_certificate.as_bytes();
        // The chain must end at the CI agreed in initiateAuthentication.
        let eum_ci = pki::aki_of(eum_cert).map_err(|e| chain_failure(&e))?;
        if eum_ci != session.ci_pkid {
            return refuse!(
                CI_UNKNOWN,
                "the EUM certificate is issued by CI {}, not the agreed {}",
                hex::encode_upper(&eum_ci),
                hex::encode_upper(&session.ci_pkid)
            );
        }
        let trusted: Vec<&[u8]> = self.config.trusted_cis.iter().map(Vec::as_slice).collect();
        let verified = pki::verify_chain(
            euicc_cert,
            &[eum_cert],
            &trusted,
            self.now(),
            CertRole::Euicc,
        )
        .map_err(|e| chain_failure(&e))?;
        verify_euicc_signature1(&verified.public_key, ok).map_err(|e| {
            Failure::new(
                EUICC_VERIFICATION_FAILED,
                format!("euiccSignature1 over euiccSigned1: {e}"),
            )
        })?;
        let signed = ok.euicc_signed1.value();
        if signed.transaction_id != session.transaction_id {
            return refuse!(
                TRANSACTION_ID_UNKNOWN,
                "euiccSigned1 carries transactionId {}, not the session's",
                hex::encode_upper(&signed.transaction_id)
            );
        }
        if signed.server_challenge != session.server_challenge {
            return refuse!(
                EUICC_VERIFICATION_FAILED,
                "euiccSigned1 answers another serverChallenge"
            );
        }
        let own = match session.kind {
            SessionKind::Smdp => self.config.host.as_str(),
            SessionKind::Smds => self.config.smds_host.as_deref().unwrap_or_default(),
        };
        if signed.server_address != own {
            return refuse!(
                EUICC_VERIFICATION_FAILED,
                "euiccSigned1 names serverAddress {:?}, not {own:?}",
                signed.server_address
            );
        }
        let eid_text = verified.eid.clone().unwrap_or_default();
        let eid: Eid = eid_text.parse().map_err(|e| {
            Failure::new(
                EUICC_CERTIFICATE_INVALID,
                format!("EID {eid_text:?} in the eUICC certificate: {e}"),
            )
        })?;
        Ok((verified, eid))
    }

    /// Resolves the matching ID (or, without one, a default SM-DP+ order for the EID) to a
    /// released profile, counting the download attempt.
    fn select_order(
        &self,
        state: &mut State,
        matching_id: Option<&str>,
        eid: &Eid,
    ) -> Outcome<(Iccid, bool, Vec<u8>)> {
        let matching_id = matching_id.filter(|m| !m.is_empty());
        let key = match matching_id {
            Some(mid) => state
                .orders_in_order()
                .find(|o| o.matching_id.as_deref() == Some(mid))
                .map(|o| *o.spec.iccid.as_bytes()),
            None => state
                .orders_in_order()
                .find(|o| {
                    o.eid == Some(*eid)
                        && o.matching_id.as_deref().is_none_or(str::is_empty)
                        && matches!(
                            o.status,
                            ProfileStatus::Confirmed
                                | ProfileStatus::Released
                                | ProfileStatus::Downloaded
                        )
                })
                .map(|o| *o.spec.iccid.as_bytes()),
        };
        let Some(order) = key.and_then(|k| state.orders.get_mut(&k)) else {
            return match matching_id {
                Some(mid) => refuse!(MATCHING_ID_REFUSED, "unknown matching ID {mid:?}"),
                None => refuse!(
                    MATCHING_ID_REFUSED,
                    "no matching ID, and no pending download for EID {eid}"
                ),
            };
        };
        if let Some(linked) = order.eid
            && linked != *eid
        {
            return refuse!(EID_REFUSED, "the order is linked to another EID than {eid}");
        }
        match order.status {
            ProfileStatus::Released => {}
            // The BPP of an earlier session was never confirmed installed: bind again.
            ProfileStatus::Downloaded => order.back_to_released(),
            ProfileStatus::Confirmed => {
                return refuse!(PROFILE_NOT_RELEASED, "the profile is not released yet");
            }
            other => {
                return refuse!(
                    MATCHING_ID_REFUSED,
                    "the profile of this matching ID is {other}"
                );
            }
        }
        order.download_attempts += 1;
        if order.download_attempts > self.config.download_attempts {
            order.fail("download attempts exhausted");
            let event = order
                .smds_event
                .then(|| order.matching_id.clone())
                .flatten();
            let linked = order.eid;
            state.delete_event(linked, event.as_deref());
            return refuse!(
                DOWNLOAD_RETRIES_EXCEEDED,
                "the order has used up its {} download attempts",
                self.config.download_attempts
            );
        }
        if order.eid.is_none() {
            // Bound to this eUICC from now on.
            order.eid = Some(*eid);
        }
        let metadata = order.spec.store_metadata(&self.config.host).to_der();
        Ok((
            order.spec.iccid,
            order.confirmation_code.is_some(),
            metadata,
        ))
    }

    // --- getBoundProfilePackage (§5.6.2) ---------------------------------------------------

    fn get_bound_profile_package(
        &self,
        req: json::GetBoundProfilePackageRequest,
    ) -> Outcome<GetBoundProfilePackageOk> {
        let tid = req.transaction_id.as_bytes().to_vec();
        let response: PrepareDownloadResponse =
            der("prepareDownloadResponse", &req.prepare_download_response)?;
        let mut state = self.lock();
        self.expire_sessions(&mut state);
        let found = state
            .sessions
            .get(&tid)
            .filter(|s| s.kind == SessionKind::Smdp)
            .and_then(|s| {
                let client = s.client.as_ref()?;
                Some((
                    client.euicc_key.clone(),
                    client.smdp_signature2.clone(),
                    client.iccid,
                    client.eid,
                    client.store_metadata.clone(),
                    s.binding
                        .as_ref()
                        .map(|b| (b.euicc_otpk.clone(), b.bpp.clone())),
                ))
            });
        let Some((euicc_key, smdp_signature2, iccid, eid, store_metadata, binding)) = found else {
            return refuse!(
                TRANSACTION_ID_UNKNOWN,
                "no authenticated session has transactionId {}",
                req.transaction_id
            );
        };
        let ok = match response {
            PrepareDownloadResponse::Ok(ok) => ok,
            PrepareDownloadResponse::Error(e) => {
                end_session(&mut state, &tid, None);
                return refuse!(
                    EUICC_VERIFICATION_FAILED,
                    "the eUICC refused PrepareDownload (downloadErrorCode {})",
                    e.download_error_code.code()
                );
            }
        };
        let signed2 = ok.euicc_signed2.value();
        if let Err(e) = verify_euicc_signature2(&euicc_key, &ok, &smdp_signature2) {
            end_session(&mut state, &tid, None);
            return refuse!(
                EUICC_VERIFICATION_FAILED,
                "euiccSignature2 over euiccSigned2 and smdpSignature2: {e}"
            );
        }
        if signed2.transaction_id != tid {
            end_session(&mut state, &tid, None);
            return refuse!(
                TRANSACTION_ID_UNKNOWN,
                "euiccSigned2 carries transactionId {}, not the session's",
                hex::encode_upper(&signed2.transaction_id)
            );
        }
        if let Some((bound_otpk, bpp)) = binding {
            // A retried call: the same eUICC key gets the same BPP, another one is refused.
            if bound_otpk == signed2.euicc_otpk {
                return Ok(GetBoundProfilePackageOk {
                    transaction_id: req.transaction_id,
                    bound_profile_package: bpp,
                });
            }
            return refuse!(
                BPP_REBINDING_REFUSED,
                "the BPP of this session is bound to another one-time key"
            );
        }

        let Some(order) = state.order_mut(&iccid) else {
            return Err(internal("the session's profile vanished"));
        };
        if let Err((failure, exhausted)) = check_confirmation_code(
            order,
            signed2.hash_cc.as_deref(),
            &tid,
            self.config.confirmation_code_attempts,
        ) {
            if exhausted {
                let event = order
                    .smds_event
                    .then(|| order.matching_id.clone())
                    .flatten();
                state.delete_event(Some(eid), event.as_deref());
            }
            end_session(&mut state, &tid, None);
            return Err(failure);
        }
        if order.status != ProfileStatus::Released {
            let status = order.status;
            end_session(&mut state, &tid, None);
            return refuse!(
                BPP_REBINDING_REFUSED,
                "the profile is {status} and can no longer be bound"
            );
        }
        let spec = std::sync::Arc::clone(&order.spec);

        let curve = match self.config.dp_pb.key.curve() {
            pki::Curve::BrainpoolP256r1 => bsp::Curve::BrainpoolP256r1,
            _ => bsp::Curve::NistP256,
        };
        let one_time_key = OneTimeKeyPair::generate(curve).map_err(internal)?;
        let ppk = if self.config.profile_protection_keys {
            Some(ReplaceSessionKeys {
                initial_mac_chaining_value: random::<16>()?,
                ppk_enc: random::<16>()?,
                ppk_cmac: random::<16>()?,
            })
        } else {
            None
        };
        let configure_isdp = ConfigureIsdpRequest {
            dp_proprietary_data: None,
        }
        .to_der();
        let inputs = BindingInputs {
            transaction_id: &tid,
            host_id: &self.config.host_id,
            eid: eid.as_bytes(),
            euicc_otpk: &signed2.euicc_otpk,
            configure_isdp: &configure_isdp,
            store_metadata: &store_metadata,
            profile_package: &spec.profile_package,
            profile_protection_keys: ppk.as_ref(),
        };
        let bpp = match bind_profile_package(&inputs, &one_time_key, &self.config.dp_pb.key) {
            Ok(bpp) => bpp,
            Err(BindError::Bsp(bsp::BspError::InvalidPublicKey { .. })) => {
                end_session(&mut state, &tid, None);
                return refuse!(
                    INVALID_REQUEST,
                    "euiccOtpk is not an uncompressed point on the curve of CERT.DPpb"
                );
            }
            Err(e) => return Err(internal(e)),
        };
        if let Some(order) = state.order_mut(&iccid) {
            order.downloaded()?;
        }
        if let Some(session) = state.sessions.get_mut(&tid) {
            session.binding = Some(Binding {
                euicc_otpk: signed2.euicc_otpk.clone(),
                bpp: bpp.clone(),
            });
        }
        Ok(GetBoundProfilePackageOk {
            transaction_id: req.transaction_id,
            bound_profile_package: bpp,
        })
    }

    // --- handleNotification (§5.6.4) -------------------------------------------------------

    fn handle_notification(&self, der_bytes: &[u8]) -> Outcome<()> {
        let notification: PendingNotification = der("pendingNotification", der_bytes)?;
        match &notification {
            PendingNotification::ProfileInstallationResult(signed) => {
                let result = signed.value();
                let data = result.profile_installation_result_data.value();
                let mut state = self.lock();
                let Some(session) = state
                    .sessions
                    .get_mut(&data.transaction_id)
                    .filter(|s| s.binding.is_some())
                else {
                    return refuse!(
                        TRANSACTION_ID_UNKNOWN,
                        "no session delivered a BPP with transactionId {}",
                        hex::encode_upper(&data.transaction_id)
                    );
                };
                let Some(client) = session.client.as_ref() else {
                    return Err(internal("bound session without client"));
                };
                verify_profile_installation_result(&client.euicc_key, result).map_err(|e| {
                    Failure::new(
                        EUICC_VERIFICATION_FAILED,
                        format!("euiccSignPIR over profileInstallationResultData: {e}"),
                    )
                })?;
                let oid = data.smdp_oid.to_string();
                if self.dp_pb_oid.as_deref().is_some_and(|own| own != oid) {
                    return refuse!(
                        INVALID_SMDP_OID,
                        "the installation result names SM-DP+ OID {oid}"
                    );
                }
                if session.notified {
                    // A notification sent again (the LPA did not see our answer): accepted.
                    return Ok(());
                }
                session.notified = true;
                let iccid = client.iccid;
                let eid = client.eid;
                let success = matches!(data.final_result, FinalResult::Success(_));
                if let Some(order) = state.order_mut(&iccid) {
                    if success {
                        order.installed()?;
                    } else if let FinalResult::Error(e) = &data.final_result {
                        order.fail(format!(
                            "installation failed: bppCommandId {}, errorReason {}",
                            e.bpp_command_id.code(),
                            e.error_reason.code()
                        ));
                    }
                    let event = order
                        .smds_event
                        .then(|| order.matching_id.clone())
                        .flatten();
                    state.delete_event(Some(eid), event.as_deref());
                }
                state.notifications.push(ReceivedNotification {
                    operation: data
                        .notification_metadata
                        .profile_management_operation
                        .to_string(),
                    iccid: Some(iccid.to_string()),
                    eid: eid.to_string(),
                    install_success: Some(success),
                    der: der_bytes.to_vec(),
                });
                Ok(())
            }
            PendingNotification::OtherSignedNotification(signed) => {
                let other = signed.value();
                let trusted: Vec<&[u8]> =
                    self.config.trusted_cis.iter().map(Vec::as_slice).collect();
                let verified = pki::verify_chain(
                    other.euicc_certificate.as_bytes(),
                    &[other.eum_certificate.as_bytes()],
                    &trusted,
                    self.now(),
                    CertRole::Euicc,
                )
                .map_err(|e| chain_failure(&e))?;
                verify_other_notification(&verified.public_key, other).map_err(|e| {
                    Failure::new(
                        EUICC_VERIFICATION_FAILED,
                        format!("euiccNotificationSignature: {e}"),
                    )
                })?;
                let metadata = notification.metadata();
                self.lock().notifications.push(ReceivedNotification {
                    operation: metadata.profile_management_operation.to_string(),
                    iccid: metadata.iccid.map(|i| i.to_string()),
                    eid: verified.eid.unwrap_or_default(),
                    install_success: None,
                    der: der_bytes.to_vec(),
                });
                Ok(())
            }
        }
    }

    // --- cancelSession (§5.6.5) ------------------------------------------------------------

    fn cancel_session(&self, req: json::CancelSessionRequest) -> Outcome<()> {
        let tid = req.transaction_id.as_bytes().to_vec();
        let response: CancelSessionResponse =
            der("cancelSessionResponse", &req.cancel_session_response)?;
        let mut state = self.lock();
        self.expire_sessions(&mut state);
        let Some(session) = state
            .sessions
            .get(&tid)
            .filter(|s| s.kind == SessionKind::Smdp)
        else {
            return refuse!(
                TRANSACTION_ID_UNKNOWN,
                "no session has transactionId {}",
                req.transaction_id
            );
        };
        let ok = match response {
            CancelSessionResponse::Ok(ok) => ok,
            CancelSessionResponse::Error(e) => {
                return refuse!(
                    EUICC_VERIFICATION_FAILED,
                    "the eUICC did not sign a cancellation (cancelSessionError {})",
                    e.code()
                );
            }
        };
        let Some(euicc_key) = session.client.as_ref().map(|c| c.euicc_key.clone()) else {
            return refuse!(
                TRANSACTION_ID_UNKNOWN,
                "session {} has no authenticated eUICC to verify the cancellation with",
                req.transaction_id
            );
        };
        verify_cancel_session(&euicc_key, &ok).map_err(|e| {
            Failure::new(
                EUICC_VERIFICATION_FAILED,
                format!("euiccCancelSessionSignature: {e}"),
            )
        })?;
        let signed = ok.euicc_cancel_session_signed.value();
        if signed.transaction_id != tid {
            return refuse!(
                TRANSACTION_ID_UNKNOWN,
                "euiccCancelSessionSigned carries transactionId {}, not the session's",
                hex::encode_upper(&signed.transaction_id)
            );
        }
        let oid = signed.smdp_oid.to_string();
        if self.dp_auth_oid.as_deref().is_some_and(|own| own != oid) {
            return refuse!(
                INVALID_SMDP_OID,
                "the cancellation names SM-DP+ OID {oid}, not this SM-DP+'s"
            );
        }
        let reason = signed.reason;
        end_session(&mut state, &tid, Some(reason));
        Ok(())
    }
}

/// SGP.22 §3.1.3.3: hashCc = SHA-256(SHA-256(confirmation code) || transactionId). A wrong code
/// counts against the order; the last allowed one puts it in Error (`Err((_, true))`).
fn check_confirmation_code(
    order: &mut super::orders::Order,
    given: Option<&[u8]>,
    transaction_id: &[u8],
    attempts: u32,
) -> Result<(), (Failure, bool)> {
    match (&order.confirmation_code, given) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err((
            Failure::new(
                CONFIRMATION_CODE_REFUSED,
                "hashCc given, but this order has no confirmation code",
            ),
            false,
        )),
        (Some(_), None) => Err((
            Failure::new(
                CONFIRMATION_CODE_MISSING,
                "this order needs a confirmation code",
            ),
            false,
        )),
        (Some(cc), Some(given)) => {
            if hash_cc(cc.as_bytes(), transaction_id).as_slice() == given {
                return Ok(());
            }
            order.cc_failures += 1;
            if order.cc_failures >= attempts {
                order.fail("confirmation code retries exhausted");
                Err((
                    Failure::new(
                        CONFIRMATION_CODE_RETRIES_EXCEEDED,
                        "wrong confirmation code; no attempts left",
                    ),
                    true,
                ))
            } else {
                Err((
                    Failure::new(CONFIRMATION_CODE_REFUSED, "wrong confirmation code"),
                    false,
                ))
            }
        }
    }
}

/// Removes a session; with a cancel reason, moves its profile as SGP.22 §3.1.6 says: a
/// rejection or an impossible installation is final (Error), a postponed or timed-out
/// download may be retried (Released).
fn end_session(state: &mut State, tid: &[u8], reason: Option<CancelSessionReason>) {
    let Some(session) = state.sessions.remove(tid) else {
        return;
    };
    let (Some(client), Some(reason)) = (session.client, reason) else {
        return;
    };
    let Some(order) = state.order_mut(&client.iccid) else {
        return;
    };
    match reason {
        CancelSessionReason::EndUserRejection
        | CancelSessionReason::PprNotAllowed
        | CancelSessionReason::MetadataMismatch
        | CancelSessionReason::LoadBppExecutionError => {
            order.fail(format!("session cancelled: reason {}", reason.code()));
            let event = order
                .smds_event
                .then(|| order.matching_id.clone())
                .flatten();
            let eid = order.eid;
            state.delete_event(eid, event.as_deref());
        }
        _ => order.back_to_released(),
    }
}
