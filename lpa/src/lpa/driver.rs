//! The one driving loop of every procedure (see `lpa_core::procedures`): card steps through the
//! ES10 client, server steps through the HTTP client, questions through the policy check and
//! the [`DownloadUi`], and the session record persisted after every step.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use log::{debug, error, info, log_enabled, trace, warn};
use lpa_core::der::Decode;
use lpa_core::es9::Es9Function;
use lpa_core::messages::{CancelSessionReason, CancelSessionRequest, EuiccInfo1};
use lpa_core::procedures::{
    Answer, Awaiting, CardFailure, Es10Command, Procedure, Question, ServerFailure, ServerFunction,
    ServerRequest, SessionRecord, Step,
};

use super::error::{Failures, LpaError, from_procedure, loggable_end, loggable_fault, reason_name};
use super::{DownloadUi, Lpa, Progress};
use crate::es10::policy::{self, PprVerdict};
use crate::es10::{Es10Error, redact};
use crate::http::{HttpClient, HttpError, HttpRequest};
use crate::storage::StorageError;
use crate::transport::TransportError;
use zeroize::Zeroize as _;

/// More steps than any procedure takes (a Bound Profile Package of a few megabytes is some
/// thousands): reaching it means a bug, reported instead of looping.
const MAX_STEPS: usize = 1_000_000;

/// What one run of a procedure carries besides the machine.
pub(super) struct Ctx<'u> {
    ui: Option<&'u mut dyn DownloadUi>,
    /// `Some(what the store holds)` when this run persists the session record.
    stored: Option<Option<SessionRecord>>,
    failures: Failures,
    loading: bool,
    cancelling: bool,
}

impl<'u> Ctx<'u> {
    /// A run that talks to `ui` (if any) and does not touch the session store.
    pub(super) fn new(ui: Option<&'u mut dyn DownloadUi>) -> Self {
        Ctx {
            ui,
            stored: None,
            failures: Failures::default(),
            loading: false,
            cancelling: false,
        }
    }

    /// A run that keeps the session record in the store, which now holds `stored`.
    pub(super) fn persisting(mut self, stored: Option<SessionRecord>) -> Self {
        self.stored = Some(stored);
        self
    }

    pub(super) fn progress(&mut self, event: Progress) {
        if let Some(ui) = self.ui.as_deref_mut() {
            ui.progress(&event);
        }
    }
}

/// The procedure's view of a failed ES10 exchange: an APDU refusal leaves the card reachable
/// (the session can still be cancelled); anything else means it cannot be reached now.
fn card_failure(error: &Es10Error) -> CardFailure {
    match error {
        Es10Error::Apdu { error, .. } | Es10Error::Transport(TransportError::Apdu(error)) => {
            CardFailure::Apdu(*error)
        }
        other => CardFailure::Unreachable(other.to_string()),
    }
}

/// The procedure's view of a failed HTTP exchange. A refused URL (`http://`) is a refusal of
/// trust, like a refused certificate: not worth retrying.
fn server_failure(error: &HttpError) -> ServerFailure {
    match error {
        HttpError::Connect(e) => ServerFailure::Connect(e.clone()),
        HttpError::Tls(e) => ServerFailure::Tls(e.clone()),
        HttpError::InvalidUrl(_) => ServerFailure::Tls(error.to_string()),
        HttpError::Timeout(d) => ServerFailure::Timeout(*d),
        other => ServerFailure::Other(other.to_string()),
    }
}

impl Lpa {
    /// Runs `machine` to its end. The session record is persisted after every step when `ctx`
    /// says so; the transport's long-operation mode is on exactly while the Bound Profile
    /// Package is loaded.
    pub(super) fn drive<P: Procedure>(
        &mut self,
        machine: &mut P,
        ctx: &mut Ctx<'_>,
    ) -> Result<P::Output, LpaError> {
        let result = self.drive_steps(machine, ctx);
        if ctx.loading {
            self.es10.transport_mut().set_long_operation(false);
            ctx.loading = false;
        }
        result
    }

    fn drive_steps<P: Procedure>(
        &mut self,
        machine: &mut P,
        ctx: &mut Ctx<'_>,
    ) -> Result<P::Output, LpaError> {
        for _ in 0..MAX_STEPS {
            let awaiting = machine.awaiting();
            let handled = match machine.poll() {
                Step::Card(request) => {
                    let loading = machine.load_progress();
                    let handled = match self.card_step(awaiting, &request, ctx) {
                        Ok(answer) => machine.handle_card(answer),
                        Err(failure) => machine.handle_card_failure(failure),
                    };
                    if let Some((done, total)) = loading {
                        ctx.progress(Progress::Installing {
                            done: done + 1,
                            total,
                        });
                    }
                    handled
                }
                Step::Server(request) => match self.server_step(request, ctx) {
                    Ok((status, body)) => machine.handle_server(status, body),
                    Err(failure) => machine.handle_server_failure(failure),
                },
                Step::User(question) => {
                    let answer = self.ask(&question, ctx);
                    machine.handle_user(answer)
                }
                Step::Done(result) => {
                    self.persist(machine.session_record(), ctx);
                    return result.map_err(|e| {
                        let sensitive = self.config.log_sensitive;
                        info!("failed: {}", loggable_fault(e.fault(), sensitive));
                        if let Some(end) = e.session_end() {
                            info!("{}", loggable_end(end, sensitive));
                        }
                        self.last_session_end = e.session_end().cloned();
                        from_procedure(e, &mut ctx.failures)
                    });
                }
            };
            if let Err(misuse) = handled {
                return Err(LpaError::Internal(misuse.to_string()));
            }
            self.persist(machine.session_record(), ctx);
        }
        Err(LpaError::Internal(format!(
            "a procedure did not end within {MAX_STEPS} steps"
        )))
    }

    /// Keeps `record` in the store when it changed (cleared when `None`). A failure is logged
    /// and the write tried again after the next step: stopping now would leave the session
    /// open on both sides for sure.
    fn persist(&mut self, record: Option<SessionRecord>, ctx: &mut Ctx<'_>) {
        let Some(stored) = ctx.stored.as_mut() else {
            return;
        };
        if *stored == record {
            return;
        }
        let written = match &record {
            Some(r) => serde_json::to_vec(r)
                .map_err(|e| StorageError::Corrupt(e.to_string()))
                .and_then(|bytes| self.store.save(&bytes)),
            None => self.store.clear(),
        };
        match written {
            Ok(()) => {
                match &record {
                    Some(r) => debug!(
                        "session record: {} with {} at {:?}",
                        r.transaction_id,
                        r.smdp_address,
                        stage_name(r)
                    ),
                    None => debug!("session record cleared"),
                }
                *stored = record;
            }
            Err(e) => error!("the session record could not be stored: {e}"),
        }
    }

    fn card_step(
        &mut self,
        awaiting: Awaiting,
        request: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<Vec<u8>, CardFailure> {
        let command = match awaiting {
            Awaiting::Card(command) => Some(command),
            _ => None,
        };
        let bpp = matches!(command, Some(Es10Command::LoadBoundProfilePackage(_)));
        if bpp != ctx.loading {
            // A package load can take minutes on slow cards: deadlines stretch meanwhile.
            self.es10.transport_mut().set_long_operation(bpp);
            ctx.loading = bpp;
        }
        if command == Some(Es10Command::CancelSession) && !ctx.cancelling {
            ctx.cancelling = true;
            if let Ok(cancel) = CancelSessionRequest::from_der(request) {
                info!(
                    "cancelling session {} on the card ({})",
                    redact::hex(&cancel.transaction_id),
                    reason_name(cancel.reason)
                );
                ctx.progress(Progress::Cancelling {
                    reason: cancel.reason,
                });
            }
        }
        match self.es10.call(request) {
            Ok(answer) => {
                if command == Some(Es10Command::GetEuiccInfo1) && self.narrowed_http.is_none() {
                    match EuiccInfo1::from_der(&answer) {
                        Ok(info) => {
                            self.restrict_trust(&info);
                        }
                        Err(e) => debug!("EUICCInfo1 unreadable here ({e}); the machine decides"),
                    }
                }
                Ok(answer)
            }
            Err(e) => {
                let failure = card_failure(&e);
                ctx.failures.card(&failure, e);
                Err(failure)
            }
        }
    }

    fn server_step(
        &mut self,
        request: ServerRequest,
        ctx: &mut Ctx<'_>,
    ) -> Result<(u16, Vec<u8>), ServerFailure> {
        let http = match self.ensure_trust() {
            Ok(http) => http,
            Err(e) => {
                let failure = server_failure(&e);
                ctx.failures.http(failure.clone(), e);
                return Err(failure);
            }
        };
        let function = request.function;
        match function {
            ServerFunction::Es9(Es9Function::InitiateAuthentication) => {
                ctx.progress(Progress::Authenticating {
                    address: request.address.clone(),
                })
            }
            ServerFunction::Es9(Es9Function::GetBoundProfilePackage) => {
                ctx.progress(Progress::Downloading)
            }
            _ => {}
        }
        let sensitive = self.config.log_sensitive;
        debug!(
            "{function} > {} ({} bytes)",
            request.address,
            request.body.len()
        );
        if log_enabled!(log::Level::Trace) {
            trace!("{function} > {}", body_summary(&request.body, sensitive));
        }
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let http_request = HttpRequest {
            url: request.url,
            headers,
            body: request.body,
        };
        let started = Instant::now();
        match http.post(&http_request) {
            Ok(response) => {
                debug!(
                    "{function} < HTTP {} ({} bytes, {} ms){}",
                    response.status,
                    response.body.len(),
                    started.elapsed().as_millis(),
                    status_summary(&response.body)
                );
                if log_enabled!(log::Level::Trace) {
                    trace!("{function} < {}", body_summary(&response.body, sensitive));
                }
                Ok((response.status, response.body))
            }
            Err(e) => {
                debug!(
                    "{function} failed after {} ms: {e}",
                    started.elapsed().as_millis()
                );
                let failure = server_failure(&e);
                ctx.failures.http(failure.clone(), e);
                Err(failure)
            }
        }
    }

    /// The HTTP client narrowed to the eUICC's CIs, made before the first request (reading
    /// EUICCInfo1 when no procedure did yet).
    ///
    /// Fails closed: when the card cannot say which CIs it trusts, no request is sent and the
    /// step fails as a refusal of trust ([`HttpError::Tls`]). Trusting every configured CI
    /// instead would let a server under any of them (with `--test-ci`, the SGP.26 test CIs
    /// whose private keys are public) talk to this eUICC. A session the card already
    /// cancelled is therefore told to the server only once the card can be read again.
    fn ensure_trust(&mut self) -> Result<Arc<dyn HttpClient>, HttpError> {
        if let Some(http) = &self.narrowed_http {
            return Ok(Arc::clone(http));
        }
        match self.es10.euicc_info1() {
            Ok(info) => Ok(self.restrict_trust(&info.decoded)),
            Err(e) => {
                warn!("EUICCInfo1 could not be read to narrow the trusted CIs ({e}): no request");
                Err(HttpError::Tls(format!(
                    "no server is trusted: the eUICC's CI list (EUICCInfo1) could not be read: {e}"
                )))
            }
        }
    }

    /// Narrows the trust to the CIs `info` lists, for this LPA only.
    fn restrict_trust(&mut self, info: &EuiccInfo1) -> Arc<dyn HttpClient> {
        let pkids = &info.euicc_ci_pkid_list_for_verification;
        debug!(
            "the eUICC verifies with CI key IDs {}",
            pkids
                .iter()
                .map(|k| redact::hex(k))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let http = self
            .http
            .narrowed(pkids)
            .unwrap_or_else(|| Arc::clone(&self.http));
        self.narrowed_http = Some(Arc::clone(&http));
        http
    }

    /// Answers a question: the policy check first (SGP.22 §2.9.2.2), then the user.
    fn ask(&mut self, question: &Question, ctx: &mut Ctx<'_>) -> Answer {
        match question {
            Question::ConfirmProfile {
                metadata,
                smdp_address,
                ..
            } => {
                info!(
                    "{smdp_address} offers profile {} ({:?})",
                    redact::id(metadata.iccid, self.config.log_sensitive),
                    metadata.profile_class
                );
                ctx.progress(Progress::ProfileMetadata {
                    iccid: metadata.iccid,
                    service_provider_name: metadata.service_provider_name.clone(),
                    profile_name: metadata.profile_name.clone(),
                });
                let consent_required = match self.install_verdict(metadata) {
                    Some(PprVerdict::NotAllowed { ppr, reason }) => {
                        let detail = format!(
                            "the profile's policy rule PPR{ppr} cannot be installed: {reason:?}"
                        );
                        warn!("{detail}; declining with pprNotAllowed");
                        ctx.failures.policy = Some(detail);
                        return Answer::Decline(CancelSessionReason::PprNotAllowed);
                    }
                    Some(verdict) => verdict.consent_required(),
                    None => false,
                };
                let Some(ui) = ctx.ui.as_deref_mut() else {
                    return Answer::Decline(CancelSessionReason::Postponed);
                };
                let mut answer = ui.confirm_profile(metadata, smdp_address);
                if answer == Answer::Accept && consent_required {
                    info!("the profile's policy rules need the user's consent");
                    answer = ui.confirm_policy_rules(metadata, smdp_address);
                }
                match answer {
                    Answer::Accept => {
                        info!("profile accepted");
                        Answer::Accept
                    }
                    Answer::Decline(reason) => {
                        info!("profile declined ({})", reason_name(reason));
                        Answer::Decline(reason)
                    }
                    Answer::ConfirmationCode(mut code) => {
                        // Not passed on: the code held here is wiped before it is dropped.
                        code.zeroize();
                        warn!("the UI answered the profile question with a code: postponed");
                        Answer::Decline(CancelSessionReason::Postponed)
                    }
                }
            }
            Question::ConfirmationCode { smdp_address } => {
                // The code is a credential: never logged, not even with `log_sensitive`
                // (that setting shows identifiers, not secrets). It is moved into the
                // machine, which hashes it (SGP.22 §3.1.3.3); this side keeps no copy.
                let code = ctx
                    .ui
                    .as_deref_mut()
                    .and_then(|ui| ui.confirmation_code(smdp_address));
                match code {
                    Some(code) => {
                        debug!("confirmation code entered");
                        Answer::ConfirmationCode(code)
                    }
                    None => {
                        info!("no confirmation code: the download is postponed");
                        Answer::Decline(CancelSessionReason::Postponed)
                    }
                }
            }
            other => {
                warn!("unexpected question {:?}: postponed", other.kind());
                Answer::Decline(CancelSessionReason::Postponed)
            }
        }
    }

    /// The verdict on a profile's policy rules against the RAT and the eUICC's forbidden
    /// rules; the card is asked only when the profile has rules. `None` when the card cannot
    /// tell (it still enforces them itself at installation).
    fn install_verdict(
        &mut self,
        metadata: &lpa_core::messages::StoreMetadataRequest,
    ) -> Option<PprVerdict> {
        // Without authorisations, only a profile without rules passes: nothing to look up.
        let bare = policy::check_install(metadata, &[], None);
        if bare.is_allowed() {
            return Some(bare);
        }
        let rat = self.es10.rat();
        let info2 = self.es10.euicc_info2();
        match (rat, info2) {
            (Ok(rat), Ok(info2)) => Some(policy::check_install(
                metadata,
                &rat,
                info2.info.forbidden_profile_policy_rules.as_ref(),
            )),
            (Err(e), _) | (_, Err(e)) => {
                warn!("the policy rules could not be checked ({e}); the eUICC will judge");
                None
            }
        }
    }
}

fn stage_name(record: &SessionRecord) -> &'static str {
    use lpa_core::procedures::SessionStage;
    match record.stage {
        SessionStage::Authenticating => "Authenticating",
        SessionStage::Authenticated => "Authenticated",
        SessionStage::Prepared => "Prepared",
        SessionStage::Loading => "Loading",
        SessionStage::CardCancelled { .. } => "CardCancelled",
        _ => "a later stage",
    }
}

/// ` Executed-Success` or ` Failed 8.2.7/3.8` from an ES9+ answer's header (no message: it
/// may quote identifiers).
fn status_summary(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let Some(status) = json
        .get("header")
        .and_then(|header| header.get("functionExecutionStatus"))
    else {
        return String::new();
    };
    fn text(value: Option<&serde_json::Value>) -> Option<&str> {
        value.and_then(serde_json::Value::as_str)
    }
    let mut out = String::new();
    if let Some(s) = text(status.get("status")) {
        let _ = write!(out, " {s}");
    }
    let data = status.get("statusCodeData");
    if let (Some(subject), Some(reason)) = (
        text(data.and_then(|d| d.get("subjectCode"))),
        text(data.and_then(|d| d.get("reasonCode"))),
    ) {
        let _ = write!(out, " {subject}/{reason}");
    }
    out
}

/// An ES9+/ES11 JSON body for the trace log: in clear with `log_sensitive`; otherwise only the
/// transactionId, the server address, the status codes and the size of every other field
/// (binary fields carry EIDs, matching IDs and ICCIDs inside their DER, event entries carry
/// matching IDs).
fn body_summary(body: &[u8], log_sensitive: bool) -> String {
    if log_sensitive {
        return String::from_utf8_lossy(body).into_owned();
    }
    if body.is_empty() {
        return "(empty)".to_owned();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return format!("({} bytes, not a JSON object)", body.len());
    };
    let fields: Vec<String> = map
        .iter()
        .map(|(key, value)| match (key.as_str(), value) {
            ("transactionId" | "smdpAddress", serde_json::Value::String(s)) => {
                format!("{key}={s}")
            }
            ("header", _) => format!("header:{}", status_summary(body)),
            (_, serde_json::Value::String(s)) => format!("{key}=<{} chars>", s.len()),
            (_, serde_json::Value::Array(a)) => format!("{key}=[{} entries]", a.len()),
            _ => format!("{key}=<...>"),
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}
