//! The `Lpa` facade end to end against the testbed: the `SoftEuicc` behind an `ApduTransport`
//! adapter, the test SM-DP+/SM-DS served over real HTTPS on 127.0.0.1 (`SmdpServer`), reached
//! through the bundled `HttpsClient` (host overrides, the test CI added as a root) wrapped in a
//! fault-injecting decorator. Neither peer is lenient, so every test passes only with the
//! right bytes, and every failure must leave both sides without a session.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lpa::es10::redact;
use lpa::http::{HttpClient, HttpError, HttpRequest, HttpResponse};
use lpa::https::{BundledTrust, HttpsClient, HttpsConfig};
use lpa::storage::{MemoryStore, SessionStore, StorageError};
use lpa::transport::{ApduTransport, TransportError};
use lpa::{
    Answer, DownloadRequest, DownloadUi, ErrorKind, Lpa, LpaConfig, LpaError, NotificationFilter,
    Progress, RetryPolicy, Sleeper,
};
use lpa_core::der::{Decode, Encode};
use lpa_core::es9::TransactionId;
use lpa_core::ids::Iccid;
use lpa_core::messages::{
    CancelSessionError, CancelSessionReason, CancelSessionRequest, CancelSessionResponse,
    NotificationEvent, OperatorId, PprFlags, PprIds, ProfilePolicyAuthorisationRule, ProfileState,
    ServerSigned1, StoreMetadataRequest,
};
use lpa_core::procedures::{
    CardCancellation, DeliveryOutcome, Fault, ServerCancellation, ServerFailure, SessionRecord,
    SessionStage, TransportFailure,
};
use lpa_testbed::card::SharedCard;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::pki::{Curve, DEFAULT_EID, DEFAULT_SMDP_HOST, TestPki, TestPkiOptions};
use lpa_testbed::smdp::{
    ProfileStatus, Request, ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer,
};

const SMDS: &str = "testsmds1.example.com";
const DAY: Duration = Duration::from_secs(86_400);

// ------------------------------------------------------------------------------- the card side

/// A one-shot card fault: the tag it waits for, and a status word (`None`: an unplugged reader).
type ScriptedFault = (u32, Option<u16>);

/// What the test sees of the card adapter, and its fault switches.
#[derive(Clone, Default)]
struct Probe {
    /// APDUs delivered to the card.
    apdus: Arc<AtomicUsize>,
    /// The tag of every ES10 request (or BPP sequence) the card received, in order.
    commands: Arc<Mutex<Vec<u32>>>,
    /// Answer the first block of requests with this tag with this status word instead.
    refuse: Arc<Mutex<Option<(u32, u16)>>>,
    /// Fail requests with this tag as an unplugged reader would.
    unplug: Arc<Mutex<Option<u32>>>,
    /// One-shot faults in order: the next request with the tag gets the status word, or
    /// (`None`) fails as an unplugged reader would.
    script: Arc<Mutex<std::collections::VecDeque<ScriptedFault>>>,
    /// Every `set_long_operation` call.
    long_operation: Arc<Mutex<Vec<bool>>>,
    /// `after_profile_switch` calls.
    switches: Arc<AtomicUsize>,
}

impl Probe {
    fn saw(&self, tag: u32) -> bool {
        self.commands.lock().unwrap().contains(&tag)
    }

    fn count(&self, tag: u32) -> usize {
        self.commands
            .lock()
            .unwrap()
            .iter()
            .filter(|t| **t == tag)
            .count()
    }
}

/// The first tag of `data` (one to three bytes).
fn first_tag(data: &[u8]) -> u32 {
    let mut tag = 0u32;
    for (i, b) in data.iter().enumerate().take(3) {
        tag = (tag << 8) | u32::from(*b);
        let more = if i == 0 {
            b & 0x1F == 0x1F
        } else {
            b & 0x80 != 0
        };
        if !more {
            break;
        }
    }
    tag
}

/// An `ApduTransport` over the shared SoftEuicc; channels from the trait's defaults.
struct SoftCard {
    card: SharedCard,
    probe: Probe,
}

impl ApduTransport for SoftCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        // STORE DATA block 0: the start of an ES10 request or BPP sequence.
        if command.len() > 5 && command[1] == 0xE2 && command[3] == 0 {
            let tag = first_tag(&command[5..]);
            self.probe.commands.lock().unwrap().push(tag);
            if *self.probe.unplug.lock().unwrap() == Some(tag) {
                return Err(TransportError::Io("reader removed".into()));
            }
            let scripted = {
                let mut script = self.probe.script.lock().unwrap();
                match script.front() {
                    Some((t, _)) if *t == tag => script.pop_front(),
                    _ => None,
                }
            };
            match scripted {
                Some((_, Some(sw))) => return Ok(sw.to_be_bytes().to_vec()),
                Some((_, None)) => return Err(TransportError::Io("reader removed".into())),
                None => {}
            }
            if let Some((refused, sw)) = *self.probe.refuse.lock().unwrap()
                && refused == tag
            {
                return Ok(sw.to_be_bytes().to_vec());
            }
        }
        self.probe.apdus.fetch_add(1, Ordering::SeqCst);
        Ok(self.card.lock().unwrap().transmit(command))
    }

    fn set_long_operation(&mut self, on: bool) {
        self.probe.long_operation.lock().unwrap().push(on);
    }

    fn after_profile_switch(&mut self) -> Result<(), TransportError> {
        self.probe.switches.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

// ------------------------------------------------------------------------------- the HTTP side

/// What the fault-injecting HTTP decorator does to one ES9+ function.
#[derive(Clone, Copy)]
enum Action {
    /// Answers this HTTP status with an HTML body; the server never sees the request.
    Status(u16),
    /// No answer in time; the server never sees the request.
    Timeout,
    /// Answers `Failed` with these codes; the server never sees the request.
    Failed(&'static str, &'static str),
    /// Passes the request on and changes the JSON answer.
    Tamper(fn(&mut serde_json::Value)),
    /// Sends the request to another URL (a downgrade to `http://`).
    Rewrite(fn(&str) -> String),
}

struct Rule {
    function: &'static str,
    remaining: usize,
    action: Action,
}

/// The real `HttpsClient`, with faults injected for chosen functions (STYLE habit 7). The
/// clients it narrows share its rules and records.
struct FaultyHttp {
    inner: Arc<dyn HttpClient>,
    rules: Arc<Mutex<Vec<Rule>>>,
    calls: Arc<Mutex<Vec<String>>>,
    restricted: Arc<Mutex<Vec<Vec<Vec<u8>>>>>,
}

impl FaultyHttp {
    fn inject(&self, function: &'static str, times: usize, action: Action) {
        self.rules.lock().unwrap().push(Rule {
            function,
            remaining: times,
            action,
        });
    }

    fn clear(&self) {
        self.rules.lock().unwrap().clear();
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl HttpClient for FaultyHttp {
    fn post(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        let function = request
            .url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.calls.lock().unwrap().push(function.clone());
        let action = {
            let mut rules = self.rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|r| r.function == function && r.remaining > 0)
                .map(|r| {
                    r.remaining -= 1;
                    r.action
                })
        };
        match action {
            None => self.inner.post(request),
            Some(Action::Status(status)) => Ok(HttpResponse {
                status,
                body: b"<html><body>Internal Server Error</body></html>".to_vec(),
            }),
            Some(Action::Timeout) => Err(HttpError::Timeout(Duration::from_secs(60))),
            Some(Action::Failed(subject, reason)) => Ok(HttpResponse {
                status: 200,
                body: serde_json::json!({"header": {"functionExecutionStatus": {
                    "status": "Failed",
                    "statusCodeData": {"subjectCode": subject, "reasonCode": reason,
                                       "message": "injected by the test"}}}})
                .to_string()
                .into_bytes(),
            }),
            Some(Action::Tamper(tamper)) => {
                let mut response = self.inner.post(request)?;
                let mut json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
                tamper(&mut json);
                response.body = serde_json::to_vec(&json).unwrap();
                Ok(response)
            }
            Some(Action::Rewrite(rewrite)) => {
                let mut changed = request.clone();
                changed.url = rewrite(&request.url);
                self.inner.post(&changed)
            }
        }
    }

    fn narrowed(&self, ci_pkids: &[Vec<u8>]) -> Option<Arc<dyn HttpClient>> {
        self.restricted.lock().unwrap().push(ci_pkids.to_vec());
        Some(Arc::new(FaultyHttp {
            inner: self.inner.narrowed(ci_pkids)?,
            rules: self.rules.clone(),
            calls: self.calls.clone(),
            restricted: self.restricted.clone(),
        }))
    }
}

// ------------------------------------------------------------------------------- the testbed

/// A test PKI valid for ten years (the TLS certificates the server issues last one).
fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        let now = SystemTime::now();
        TestPki::generate(&TestPkiOptions::new(
            Curve::NistP256,
            now - DAY,
            now + 3650 * DAY,
        ))
        .unwrap()
    })
}

/// Records the waits instead of sleeping.
#[derive(Default)]
struct Sleeps(Mutex<Vec<Duration>>);

impl Sleeper for Sleeps {
    fn sleep(&self, duration: Duration) {
        self.0.lock().unwrap().push(duration);
    }
}

struct Bed {
    server: SmdpServer,
    card: Arc<Mutex<SoftEuicc>>,
    probe: Probe,
    store: Arc<MemoryStore>,
    http: Arc<FaultyHttp>,
    sleeps: Arc<Sleeps>,
}

fn https_to(server: &SmdpServer, config: HttpsConfig) -> HttpsClient {
    config
        .bundled_cis(BundledTrust::None)
        .resolve(DEFAULT_SMDP_HOST, 443, server.addr())
        .resolve(SMDS, 443, server.addr())
        .connect_timeout(Duration::from_secs(10))
        .response_timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

impl Bed {
    fn new() -> Self {
        Bed::with(|_| {})
    }

    /// A testbed whose card configuration `tweak` may change; the server is an SM-DP+ and the
    /// card's root SM-DS.
    fn with(tweak: impl FnOnce(&mut EuiccConfig)) -> Self {
        capture_logs();
        let mut config = SmdpConfig::from_pki(pki());
        config.smds_host = Some(SMDS.to_owned());
        let server = SmdpServer::start(
            Arc::new(Smdp::new(config).unwrap()),
            ServerOptions::default(),
        )
        .unwrap();
        let mut card_config = EuiccConfig::new(SystemTime::now());
        card_config.root_ds_address = SMDS.to_owned();
        tweak(&mut card_config);
        let card =
            SoftEuicc::new(EuiccIdentity::from_test_pki(pki()).unwrap(), card_config).unwrap();
        let inner = https_to(
            &server,
            HttpsConfig::new().add_root(pki().ci.certificate.clone()),
        );
        Bed {
            server,
            card: Arc::new(Mutex::new(card)),
            probe: Probe::default(),
            store: Arc::new(MemoryStore::new()),
            http: Arc::new(FaultyHttp {
                inner: Arc::new(inner),
                rules: Arc::default(),
                calls: Arc::default(),
                restricted: Arc::default(),
            }),
            sleeps: Arc::new(Sleeps::default()),
        }
    }

    fn config(&self) -> LpaConfig {
        LpaConfig::new()
            .with_notification_retry(RetryPolicy::new(
                3,
                Duration::from_secs(2),
                Duration::from_secs(30),
            ))
            .with_sleeper(self.sleeps.clone())
    }

    fn lpa(&self) -> Lpa {
        self.lpa_with(self.config(), self.http.clone())
    }

    fn lpa_with(&self, config: LpaConfig, http: Arc<dyn HttpClient>) -> Lpa {
        let card: SharedCard = self.card.clone();
        Lpa::new(
            Box::new(SoftCard {
                card,
                probe: self.probe.clone(),
            }),
            http,
            Box::new(self.store.clone()),
            config,
        )
        .unwrap()
    }

    fn smdp(&self) -> &Smdp {
        self.server.smdp()
    }

    fn es2(&self, function: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self.smdp().handle(&Request::post(
            &format!("/gsma/rsp2/es2plus/{function}"),
            &lpa_core::es9::REQUEST_HEADERS,
            body.to_string().as_bytes(),
        ));
        assert_eq!(response.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            json["header"]["functionExecutionStatus"]["status"], "Executed-Success",
            "{json}"
        );
        json
    }

    /// ES2+ downloadOrder + confirmOrder (released): the ICCID and the matching ID.
    fn order(
        &self,
        profile: ServedProfile,
        matching_id: Option<&str>,
        confirmation_code: Option<&str>,
        smds: bool,
    ) -> (Iccid, String) {
        let iccid = profile.iccid;
        self.smdp().add_profile(profile).unwrap();
        let header = serde_json::json!({
            "functionRequesterIdentifier": "operator-1",
            "functionCallIdentifier": format!("call-{iccid}")
        });
        self.es2(
            "downloadOrder",
            serde_json::json!({"header": header, "eid": DEFAULT_EID, "iccid": iccid.to_string()}),
        );
        let mut confirm = serde_json::json!({
            "header": header, "iccid": iccid.to_string(), "eid": DEFAULT_EID, "releaseFlag": true
        });
        if let Some(mid) = matching_id {
            confirm["matchingId"] = mid.into();
        }
        if let Some(cc) = confirmation_code {
            confirm["confirmationCode"] = cc.into();
        }
        if smds {
            confirm["smdsAddress"] = SMDS.into();
        }
        let answer = self.es2("confirmOrder", confirm);
        (iccid, answer["matchingId"].as_str().unwrap().to_owned())
    }

    fn demo(&self, n: u32) -> (Iccid, String) {
        self.order(ServedProfile::demo(n), None, None, false)
    }

    fn code(&self, matching_id: &str) -> DownloadRequest {
        DownloadRequest::ActivationCode(format!("LPA:1${DEFAULT_SMDP_HOST}${matching_id}"))
    }

    fn status(&self, iccid: &Iccid) -> ProfileStatus {
        self.smdp().profile(&iccid.to_string()).unwrap().status
    }

    fn installed(&self) -> Vec<Iccid> {
        self.card
            .lock()
            .unwrap()
            .installed_profiles()
            .iter()
            .map(|p| p.iccid)
            .collect()
    }

    fn pending(&self) -> Vec<u32> {
        self.card.lock().unwrap().pending_notification_numbers()
    }

    /// Whether the card has no download session `tid` (probed with CancelSession).
    fn card_has_no_session(&self, tid: &TransactionId) -> bool {
        let request = CancelSessionRequest {
            transaction_id: tid.as_bytes().to_vec(),
            reason: CancelSessionReason::UndefinedReason,
        };
        let answer = self
            .card
            .lock()
            .unwrap()
            .process_es10(&request.to_der())
            .unwrap();
        CancelSessionResponse::from_der(&answer).unwrap()
            == CancelSessionResponse::Error(CancelSessionError::InvalidTransactionId)
    }

    fn stored_record(&self) -> Option<SessionRecord> {
        self.store
            .load()
            .unwrap()
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
    }

    /// The failure ended the session on both sides: ES10b CancelSession sent and accepted,
    /// ES9+ cancelSession sent, no session left on either side, nothing installed, no record.
    fn assert_ended_on_both_sides(&self, lpa: &Lpa) -> CancelSessionReason {
        let end = lpa.last_session_end().expect("a session was ended");
        assert_eq!(end.card, CardCancellation::Cancelled, "{end}");
        assert!(
            matches!(
                end.server,
                ServerCancellation::Cancelled | ServerCancellation::Failed(_)
            ),
            "{end}"
        );
        assert!(end.is_complete(), "{end}");
        assert!(self.probe.saw(0xBF41), "ES10b CancelSession was sent");
        assert!(
            self.http.calls().iter().any(|c| c == "cancelSession"),
            "ES9+ cancelSession was sent"
        );
        assert_eq!(self.smdp().session_count(), 0, "the SM-DP+ has no session");
        assert!(self.card_has_no_session(&end.transaction_id));
        assert!(self.installed().is_empty(), "nothing half installed");
        assert_eq!(self.stored_record(), None, "no record left");
        end.reason
    }
}

// ------------------------------------------------------------------------------- the user

/// A scripted user: its answers, and everything it was asked and told.
struct User {
    answer: Answer,
    code: Option<String>,
    policy: Answer,
    asked: Vec<&'static str>,
    events: Vec<Progress>,
}

impl User {
    fn accepting() -> Self {
        User {
            answer: Answer::Accept,
            code: None,
            policy: Answer::Accept,
            asked: Vec::new(),
            events: Vec::new(),
        }
    }

    fn with_code(code: &str) -> Self {
        User {
            code: Some(code.to_owned()),
            ..User::accepting()
        }
    }

    fn declining(reason: CancelSessionReason) -> Self {
        User {
            answer: Answer::Decline(reason),
            ..User::accepting()
        }
    }
}

impl DownloadUi for User {
    fn confirm_profile(&mut self, metadata: &StoreMetadataRequest, smdp_address: &str) -> Answer {
        assert_eq!(smdp_address, DEFAULT_SMDP_HOST);
        assert!(!metadata.profile_name.is_empty());
        self.asked.push("profile");
        self.answer.clone()
    }

    fn confirmation_code(&mut self, _smdp_address: &str) -> Option<String> {
        self.asked.push("code");
        self.code.clone()
    }

    fn confirm_policy_rules(&mut self, _: &StoreMetadataRequest, _: &str) -> Answer {
        self.asked.push("policy");
        self.policy.clone()
    }

    fn progress(&mut self, event: &Progress) {
        self.events.push(event.clone());
    }
}

// ------------------------------------------------------------------------------- log capture

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

static LINES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if CAPTURING.with(Cell::get) {
            let thread = std::thread::current().name().unwrap_or_default().to_owned();
            let line = format!("{} {} {}", record.level(), record.target(), record.args());
            LINES.lock().unwrap().push((thread, line));
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        static LOGGER: CaptureLogger = CaptureLogger;
        log::set_logger(&LOGGER).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn my_lines() -> Vec<String> {
    let me = std::thread::current().name().unwrap_or_default().to_owned();
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t == me)
        .map(|(_, l)| l.clone())
        .collect()
}

// ------------------------------------------------------------------------------- downloads

#[test]
fn download_by_activation_code_delivers_the_install_notification() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(1);
    let mut lpa = bed.lpa();
    let mut user = User::accepting();
    let report = lpa.download(bed.code(&matching_id), &mut user).unwrap();
    assert!(report.installation.is_installed());
    assert_eq!(report.installation.iccid, iccid);
    assert_eq!(report.installation.smdp_address, DEFAULT_SMDP_HOST);
    assert!(report.recovered.is_none());
    assert!(report.notification_error.is_none());
    assert_eq!(user.asked, ["profile"]);
    // The install notification: accepted by the SM-DP+, then removed from the card.
    assert!(report.notifications.all_delivered());
    assert_eq!(report.notifications.notifications.len(), 1);
    assert_eq!(
        report.notifications.notifications[0].seq_number,
        report.installation.seq_number
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    assert!(bed.pending().is_empty());
    assert_eq!(bed.installed(), [iccid]);
    assert_eq!(bed.stored_record(), None);
    // Trust narrowed to the eUICC's CIs before the first request.
    let restricted = bed.http.restricted.lock().unwrap().clone();
    assert_eq!(restricted.len(), 1);
    assert_eq!(
        restricted[0],
        EuiccIdentity::from_test_pki(pki())
            .unwrap()
            .verification_ci_pkids()
    );
    assert_eq!(bed.http.calls()[0], "initiateAuthentication");
    // Long deadlines exactly around the package load.
    assert_eq!(*bed.probe.long_operation.lock().unwrap(), [true, false]);
    // The user saw it all happen.
    let events = &user.events;
    assert!(
        matches!(&events[0], Progress::Authenticating { address } if address == DEFAULT_SMDP_HOST)
    );
    assert!(events.contains(&Progress::ProfileMetadata {
        iccid,
        service_provider_name: "LPA Testbed".into(),
        profile_name: ServedProfile::demo(1).profile_name,
    }));
    assert!(events.contains(&Progress::Downloading));
    let installing: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Installing { done, total } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    let total = installing.last().unwrap().1;
    assert!(total >= 5, "{installing:?}");
    assert_eq!(installing.len(), total);
    assert_eq!(installing.last().unwrap().0, total);
    assert!(events.contains(&Progress::Installed { iccid }));
    assert_eq!(
        events.last(),
        Some(&Progress::NotificationSent {
            seq: report.installation.seq_number
        })
    );
    // The facade's other calls on the same session.
    assert_eq!(lpa.eid().unwrap().to_string(), DEFAULT_EID);
    let profiles = lpa.profiles().unwrap();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].profile_state, Some(ProfileState::Disabled));
    assert!(lpa.list_notifications().unwrap().is_empty());
    assert!(lpa.euicc_info2().unwrap().info.svn.0[0] >= 2);
    assert!(!lpa.rat().unwrap().is_empty());
}

#[test]
fn download_with_a_confirmation_code() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(ServedProfile::demo(2), None, Some("Q7-ZEBRA-9"), false);
    let mut lpa = bed.lpa();
    let mut user = User::with_code("Q7-ZEBRA-9");
    let report = lpa.download(bed.code(&matching_id), &mut user).unwrap();
    assert!(report.installation.is_installed());
    assert_eq!(user.asked, ["profile", "code"]);
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
}

#[test]
fn a_wrong_confirmation_code_is_refused_by_the_server_and_both_sides_end() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(ServedProfile::demo(3), None, Some("Q7-ZEBRA-9"), false);
    let mut lpa = bed.lpa();
    let err = lpa
        .download(bed.code(&matching_id), &mut User::with_code("WRONG"))
        .unwrap_err();
    let LpaError::Server {
        subject_code,
        reason_code,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        (subject_code.as_str(), reason_code.as_str()),
        ("8.2.7", "3.8")
    );
    assert_eq!(err.kind(), ErrorKind::ServerRefused);
    assert_eq!(err.exit_code(), 4);
    bed.assert_ended_on_both_sides(&lpa);
    // One wrong code of three: the order can be downloaded again.
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // No confirmation code at all: postponed, the order stays downloadable.
    let err = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    assert!(matches!(
        err,
        LpaError::Declined {
            reason: CancelSessionReason::Postponed
        }
    ));
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    let report = lpa
        .download(bed.code(&matching_id), &mut User::with_code("Q7-ZEBRA-9"))
        .unwrap();
    assert!(report.installation.is_installed());
}

#[test]
fn a_declined_profile_is_cancelled_on_both_sides() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(4);
    let mut lpa = bed.lpa();
    let mut user = User::declining(CancelSessionReason::EndUserRejection);
    let err = lpa.download(bed.code(&matching_id), &mut user).unwrap_err();
    assert!(
        matches!(
            err,
            LpaError::Declined {
                reason: CancelSessionReason::EndUserRejection
            }
        ),
        "{err}"
    );
    assert_eq!(err.exit_code(), 7);
    assert_eq!(
        bed.assert_ended_on_both_sides(&lpa),
        CancelSessionReason::EndUserRejection
    );
    assert_eq!(
        lpa.last_session_end().unwrap().server,
        ServerCancellation::Cancelled
    );
    assert!(user.events.contains(&Progress::Cancelling {
        reason: CancelSessionReason::EndUserRejection
    }));
    // SGP.22 §3.1.6: a rejection by the end user is final.
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
}

#[test]
fn download_from_the_default_smdp() {
    let bed = Bed::with(|c| c.default_dp_address = Some(DEFAULT_SMDP_HOST.to_owned()));
    let (iccid, matching_id) = bed.order(ServedProfile::demo(5), Some(""), None, false);
    assert_eq!(matching_id, "");
    let mut lpa = bed.lpa();
    assert_eq!(
        lpa.configured_addresses()
            .unwrap()
            .default_dp_address
            .as_deref(),
        Some(DEFAULT_SMDP_HOST)
    );
    let report = lpa
        .download(DownloadRequest::DefaultSmdp, &mut User::accepting())
        .unwrap();
    assert_eq!(report.installation.iccid, iccid);
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    // Without a default SM-DP+ the caller is told, and nothing is left open.
    lpa.set_default_smdp("").unwrap();
    let err = lpa
        .download(DownloadRequest::DefaultSmdp, &mut User::accepting())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(bed.stored_record(), None);
}

#[test]
fn discovery_at_the_root_smds_then_download_of_the_event() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(ServedProfile::demo(6), None, None, true);
    let mut lpa = bed.lpa();
    let events = lpa.discover(None).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id, matching_id);
    assert_eq!(events[0].rsp_server_address, DEFAULT_SMDP_HOST);
    let report = lpa
        .download(
            DownloadRequest::Event(events[0].clone()),
            &mut User::accepting(),
        )
        .unwrap();
    assert_eq!(report.installation.iccid, iccid);
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    // Installed: the event is gone, at the root SM-DS as at a named one.
    assert!(lpa.discover(None).unwrap().is_empty());
    assert!(lpa.discover(Some(SMDS)).unwrap().is_empty());
}

// ------------------------------------------------------------------------------- profiles

#[test]
fn enable_disable_nickname_delete_with_their_notifications() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(7);
    let mut lpa = bed.lpa();
    lpa.download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();

    let report = lpa.enable(&iccid, false).unwrap();
    assert_eq!(report.notifications.len(), 1);
    assert_eq!(report.notifications[0].operation, NotificationEvent::Enable);
    assert!(report.all_delivered());
    assert_eq!(bed.probe.switches.load(Ordering::SeqCst), 1);
    let state = |lpa: &mut Lpa| lpa.profiles().unwrap()[0].profile_state;
    assert_eq!(state(&mut lpa), Some(ProfileState::Enabled));

    lpa.set_nickname(&iccid, "work phone").unwrap();
    assert_eq!(
        lpa.profiles().unwrap()[0].profile_nickname.as_deref(),
        Some("work phone")
    );

    let report = lpa.disable(&iccid, false).unwrap();
    assert_eq!(
        report.notifications[0].operation,
        NotificationEvent::Disable
    );
    assert!(report.all_delivered());
    assert_eq!(bed.probe.switches.load(Ordering::SeqCst), 2);
    assert_eq!(state(&mut lpa), Some(ProfileState::Disabled));

    let report = lpa.delete(&iccid).unwrap();
    assert_eq!(report.notifications[0].operation, NotificationEvent::Delete);
    assert!(report.all_delivered());
    assert!(lpa.profiles().unwrap().is_empty());
    assert!(bed.pending().is_empty());
    let operations: Vec<String> = bed
        .smdp()
        .notifications()
        .iter()
        .map(|n| n.operation.clone())
        .collect();
    assert_eq!(operations.len(), 4, "{operations:?}");

    // The card's own refusals come back typed.
    let err = lpa.enable(&iccid, false).unwrap_err();
    assert!(
        matches!(
            err,
            LpaError::Card {
                command: "EnableProfile",
                code: Some(1),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.exit_code(), 3);
}

fn ppr_profile(n: u32, rules: &[usize]) -> ServedProfile {
    let mut profile = ServedProfile::demo(n);
    profile.profile_policy_rules = Some(PprIds::from_bits(rules));
    profile.profile_owner = Some(OperatorId {
        mcc_mnc: vec![0x00, 0xF1, 0x10],
        gid1: None,
        gid2: None,
    });
    profile
}

#[test]
fn policy_rules_refuse_disable_and_delete_before_anything_is_sent() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(
        ppr_profile(8, &[PprIds::PPR1, PprIds::PPR2]),
        None,
        None,
        false,
    );
    let (other, other_mid) = bed.demo(9);
    let mut lpa = bed.lpa();
    lpa.download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    lpa.download(bed.code(&other_mid), &mut User::accepting())
        .unwrap();
    lpa.enable(&iccid, false).unwrap();

    let err = lpa.disable(&iccid, false).unwrap_err();
    assert!(
        matches!(
            err,
            LpaError::Policy {
                command: "DisableProfile",
                rule: Some(lpa::es10::PolicyRule::Ppr1),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.exit_code(), 8);
    assert_eq!(bed.probe.count(0xBF32), 0, "DisableProfile never sent");
    // Enabling another profile would disable the PPR1 one.
    let err = lpa.enable(&other, false).unwrap_err();
    assert!(
        matches!(
            err,
            LpaError::Policy {
                command: "EnableProfile",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        bed.probe.count(0xBF31),
        1,
        "only the first EnableProfile was sent"
    );
    // PPR2 (the card would refuse to delete the enabled profile anyway; the rule comes first).
    let err = lpa.delete(&iccid).unwrap_err();
    assert!(
        matches!(
            err,
            LpaError::Policy {
                command: "DeleteProfile",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(bed.probe.count(0xBF33), 0, "DeleteProfile never sent");
    // The unprotected profile can still be deleted.
    lpa.delete(&other).unwrap();
}

#[test]
fn a_profile_whose_rules_the_rat_does_not_allow_is_declined_with_ppr_not_allowed() {
    // The RAT allows PPR1 to one operator only; the profile's owner is another.
    let bed = Bed::with(|c| {
        c.rules_authorisation_table = vec![ProfilePolicyAuthorisationRule {
            ppr_ids: PprIds::from_bits(&[PprIds::PPR1]),
            allowed_operators: vec![OperatorId {
                mcc_mnc: vec![0x02, 0xF6, 0x20],
                gid1: None,
                gid2: None,
            }],
            ppr_flags: PprFlags::from_bits(&[]),
        }]
    });
    let (iccid, matching_id) = bed.order(ppr_profile(10, &[PprIds::PPR1]), None, None, false);
    let mut lpa = bed.lpa();
    let mut user = User::accepting();
    let err = lpa.download(bed.code(&matching_id), &mut user).unwrap_err();
    assert!(matches!(err, LpaError::Policy { .. }), "{err}");
    assert!(
        user.asked.is_empty(),
        "the user is not asked about a refused profile"
    );
    assert_eq!(
        bed.assert_ended_on_both_sides(&lpa),
        CancelSessionReason::PprNotAllowed
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
}

#[test]
fn consent_to_policy_rules_is_asked_when_the_rat_requires_it() {
    let consent_rat = |c: &mut EuiccConfig| {
        c.rules_authorisation_table = vec![ProfilePolicyAuthorisationRule {
            ppr_ids: PprIds::from_bits(&[PprIds::PPR1, PprIds::PPR2]),
            allowed_operators: vec![OperatorId {
                mcc_mnc: vec![0xEE, 0xEE, 0xEE],
                gid1: None,
                gid2: None,
            }],
            ppr_flags: PprFlags::from_bits(&[PprFlags::CONSENT_REQUIRED]),
        }]
    };
    // Consent given.
    let bed = Bed::with(consent_rat);
    let (_, matching_id) = bed.order(ppr_profile(11, &[PprIds::PPR2]), None, None, false);
    let mut user = User::accepting();
    bed.lpa()
        .download(bed.code(&matching_id), &mut user)
        .unwrap();
    assert_eq!(user.asked, ["profile", "policy"]);
    // Consent refused.
    let bed = Bed::with(consent_rat);
    let (_, matching_id) = bed.order(ppr_profile(12, &[PprIds::PPR2]), None, None, false);
    let mut user = User {
        policy: Answer::Decline(CancelSessionReason::EndUserRejection),
        ..User::accepting()
    };
    let mut lpa = bed.lpa();
    let err = lpa.download(bed.code(&matching_id), &mut user).unwrap_err();
    assert!(matches!(err, LpaError::Declined { .. }), "{err}");
    bed.assert_ended_on_both_sides(&lpa);
}

// ------------------------------------------------------------------------------- notifications

#[test]
fn notifications_failing_for_a_while_are_retried_with_backoff() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(13);
    bed.http
        .inject("handleNotification", 2, Action::Status(500));
    let mut lpa = bed.lpa();
    let report = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    assert!(
        report.notifications.all_delivered(),
        "{:?}",
        report.notifications
    );
    assert_eq!(
        *bed.sleeps.0.lock().unwrap(),
        [Duration::from_secs(2), Duration::from_secs(4)]
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    assert!(bed.pending().is_empty());
}

#[test]
fn notifications_the_server_does_not_take_stay_on_the_card_until_delivered() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(14);
    bed.http.inject("handleNotification", 100, Action::Timeout);
    let mut lpa = bed.lpa();
    let report = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    assert!(report.installation.is_installed());
    let only = &report.notifications.notifications[0];
    assert!(matches!(only.outcome, DeliveryOutcome::NotDelivered(_)));
    assert_eq!(bed.sleeps.0.lock().unwrap().len(), 2, "three rounds");
    // Kept on the card, listed, and the SM-DP+ still waits for it.
    assert_eq!(bed.pending(), [only.seq_number]);
    let listed = lpa.list_notifications().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].profile_management_operation,
        NotificationEvent::Install
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Downloaded);
    // A server refusal is not worth retrying: one round only.
    bed.http.clear();
    bed.http
        .inject("handleNotification", 100, Action::Failed("8.1", "3.8"));
    let sleeps = bed.sleeps.0.lock().unwrap().len();
    let report = lpa
        .process_notifications(NotificationFilter::all())
        .unwrap();
    assert!(!report.all_delivered());
    assert_eq!(bed.sleeps.0.lock().unwrap().len(), sleeps);
    assert_eq!(bed.pending(), [only.seq_number]);
    // The server is back.
    bed.http.clear();
    let report = lpa
        .process_notifications(NotificationFilter::all())
        .unwrap();
    assert!(report.all_delivered());
    assert!(bed.pending().is_empty());
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    // Removing by hand: nothing left to remove.
    assert!(!lpa.remove_notification(only.seq_number).unwrap());
}

// ------------------------------------------------------------------------------- failure paths

/// Runs a download of a fresh order that must fail; returns the error and the order.
fn failing_download(bed: &Bed, n: u32) -> (LpaError, Iccid, Lpa) {
    let (iccid, matching_id) = bed.demo(n);
    let mut lpa = bed.lpa();
    let err = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    (err, iccid, lpa)
}

#[test]
fn a_card_refusing_prepare_download_ends_both_sides() {
    let bed = Bed::new();
    *bed.probe.refuse.lock().unwrap() = Some((0xBF21, 0x6A80));
    let (err, iccid, lpa) = failing_download(&bed, 20);
    assert!(
        matches!(
            err,
            LpaError::Card {
                command: "PrepareDownload",
                status_word: Some(lpa_core::apdu::StatusWord(0x6A80)),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        bed.assert_ended_on_both_sides(&lpa),
        CancelSessionReason::UndefinedReason
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn a_server_failed_answer_ends_both_sides() {
    let bed = Bed::new();
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Failed("8.1.1", "3.8"));
    let (err, iccid, lpa) = failing_download(&bed, 21);
    assert!(
        matches!(&err, LpaError::Server { subject_code, message: Some(_), .. } if subject_code == "8.1.1"),
        "{err}"
    );
    bed.assert_ended_on_both_sides(&lpa);
    // The real server never saw the failure: its session was ended by cancelSession.
    assert_eq!(
        lpa.last_session_end().unwrap().server,
        ServerCancellation::Cancelled
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn http_500_ends_both_sides() {
    let bed = Bed::new();
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Status(500));
    let (err, iccid, lpa) = failing_download(&bed, 22);
    assert!(matches!(err, LpaError::Procedure(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.is_transient(), "HTTP 500 is worth trying again later");
    bed.assert_ended_on_both_sides(&lpa);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn a_bad_signature_is_refused_by_the_card_and_both_sides_end() {
    fn flip_signature(json: &mut serde_json::Value) {
        let mut signature = STANDARD
            .decode(json["smdpSignature2"].as_str().unwrap())
            .unwrap();
        *signature.last_mut().unwrap() ^= 0x01;
        json["smdpSignature2"] = STANDARD.encode(signature).into();
    }
    let bed = Bed::new();
    bed.http
        .inject("authenticateClient", 1, Action::Tamper(flip_signature));
    let (err, _, lpa) = failing_download(&bed, 23);
    assert!(
        matches!(
            err,
            LpaError::Card {
                command: "PrepareDownload",
                ..
            }
        ),
        "{err}"
    );
    // lpa-core forwards the card's PrepareDownload error in getBoundProfilePackage (SGP.22
    // §3.1.3), which ends the server's session; the card's side is cancelled.
    let end = lpa.last_session_end().unwrap();
    assert_eq!(end.card, CardCancellation::Cancelled, "{end}");
    assert_eq!(
        end.server,
        ServerCancellation::InformedOfCardRefusal,
        "{end}"
    );
    assert!(bed.card_has_no_session(&end.transaction_id));
    assert!(bed.installed().is_empty());
    assert_eq!(bed.stored_record(), None);
}

#[test]
fn a_bad_server_signature1_is_refused_by_the_card_and_the_server_told() {
    fn change_challenge(json: &mut serde_json::Value) {
        let der = STANDARD
            .decode(json["serverSigned1"].as_str().unwrap())
            .unwrap();
        let mut signed = ServerSigned1::from_der(&der).unwrap();
        signed.server_challenge[0] ^= 0x01;
        json["serverSigned1"] = STANDARD.encode(signed.to_der()).into();
    }
    let bed = Bed::new();
    bed.http.inject(
        "initiateAuthentication",
        1,
        Action::Tamper(change_challenge),
    );
    let (err, iccid, lpa) = failing_download(&bed, 24);
    assert!(
        matches!(
            err,
            LpaError::Card {
                command: "AuthenticateServer",
                ..
            }
        ),
        "{err}"
    );
    // The card refused before it had a session; the refusal went to the SM-DP+ in
    // authenticateClient, which ends its session.
    let end = lpa.last_session_end().unwrap();
    assert_eq!(end.server, ServerCancellation::InformedOfCardRefusal);
    assert_eq!(end.card, CardCancellation::NoSession);
    assert!(bed.probe.saw(0xBF41));
    assert_eq!(bed.smdp().session_count(), 0);
    assert!(bed.installed().is_empty());
    assert_eq!(bed.stored_record(), None);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn a_wrong_transaction_id_ends_both_sides() {
    fn other_tid(json: &mut serde_json::Value) {
        json["transactionId"] = "00112233445566778899AABBCCDDEEFF".into();
    }
    let bed = Bed::new();
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Tamper(other_tid));
    let (err, iccid, lpa) = failing_download(&bed, 25);
    assert!(matches!(err, LpaError::Procedure(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::Protocol);
    bed.assert_ended_on_both_sides(&lpa);
    // The package went out: the SM-DP+ counts the order as downloaded, whatever the card did.
    assert_ne!(bed.status(&iccid), ProfileStatus::Installed);
}

#[test]
fn a_server_timeout_ends_both_sides_with_reason_timeout() {
    let bed = Bed::new();
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Timeout);
    let (err, iccid, lpa) = failing_download(&bed, 26);
    assert!(
        matches!(err, LpaError::Http(HttpError::Timeout(_))),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::ServerUnreachable);
    assert_eq!(
        bed.assert_ended_on_both_sides(&lpa),
        CancelSessionReason::Timeout
    );
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
}

#[test]
fn a_tampered_package_is_refused_by_the_card_and_the_result_reported() {
    fn flip_last_byte(json: &mut serde_json::Value) {
        let mut bpp = STANDARD
            .decode(json["boundProfilePackage"].as_str().unwrap())
            .unwrap();
        *bpp.last_mut().unwrap() ^= 0x01;
        json["boundProfilePackage"] = STANDARD.encode(bpp).into();
    }
    let bed = Bed::new();
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Tamper(flip_last_byte));
    let (err, iccid, lpa) = failing_download(&bed, 27);
    let LpaError::InstallationFailed {
        installation,
        notifications,
    } = &err
    else {
        panic!("{err}");
    };
    assert!(!installation.is_installed());
    assert!(
        notifications.all_delivered(),
        "the failure reaches the SM-DP+"
    );
    assert_eq!(err.kind(), ErrorKind::CardRefused);
    assert!(bed.installed().is_empty(), "nothing half installed");
    assert!(bed.pending().is_empty());
    assert_eq!(bed.status(&iccid), ProfileStatus::Error);
    // No cancellation: the installation result ends the download (the test SM-DP+ keeps the
    // session until it expires, to accept the notification again if it comes twice).
    assert!(lpa.last_session_end().is_none());
    assert!(!bed.probe.saw(0xBF41));
}

// ------------------------------------------------------------------------------- crash safety

#[test]
fn a_card_lost_mid_download_keeps_the_record_that_recover_ends() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(30);
    *bed.probe.unplug.lock().unwrap() = Some(0xBF21);
    let mut lpa = bed.lpa();
    let err = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    assert!(matches!(err, LpaError::Transport(_)), "{err}");
    assert_eq!(err.kind(), ErrorKind::CardUnreachable);
    // Nothing could be cancelled: the record stays for later.
    let record = bed.stored_record().unwrap();
    assert_eq!(record.stage, SessionStage::Authenticated);
    assert_eq!(record.smdp_address, DEFAULT_SMDP_HOST);
    assert_eq!(bed.smdp().session_count(), 1);
    assert_eq!(lpa.stranded_session().unwrap(), Some(record.clone()));
    drop(lpa);

    // The reader is back; the next start ends the session on both sides.
    *bed.probe.unplug.lock().unwrap() = None;
    let mut lpa = bed.lpa();
    let end = lpa.recover().unwrap().unwrap();
    assert_eq!(end.transaction_id, record.transaction_id);
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.stored_record(), None);
    assert_eq!(bed.smdp().session_count(), 0);
    assert!(bed.card_has_no_session(&record.transaction_id));
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // Nothing more to recover.
    assert!(lpa.recover().unwrap().is_none());
}

#[test]
fn a_download_first_ends_a_stranded_session() {
    let bed = Bed::new();
    let (_, matching_id) = bed.demo(31);
    // A server that stops answering after PrepareDownload, then a card that goes away while
    // the session is being cancelled: both sides stay open, the record is kept.
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Timeout);
    *bed.probe.unplug.lock().unwrap() = Some(0xBF41);
    let mut lpa = bed.lpa();
    lpa.download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    let stranded = bed.stored_record().unwrap();
    assert_eq!(stranded.stage, SessionStage::Prepared);
    *bed.probe.unplug.lock().unwrap() = None;

    let (iccid, matching_id) = bed.demo(32);
    let mut user = User::accepting();
    let report = lpa.download(bed.code(&matching_id), &mut user).unwrap();
    let recovered = report.recovered.unwrap();
    assert_eq!(recovered.transaction_id, stranded.transaction_id);
    assert_eq!(recovered.server, ServerCancellation::Cancelled);
    assert!(matches!(user.events[0], Progress::Recovering { .. }));
    assert_eq!(report.installation.iccid, iccid);
    // Left: the new download's own session, which the test SM-DP+ keeps until it expires.
    assert_eq!(bed.smdp().session_count(), 1);
    assert_eq!(bed.stored_record(), None);
}

/// A download that strands its session (Prepared, open on both sides); returns the record.
fn strand_a_session(bed: &Bed, lpa: &mut Lpa, n: u32) -> SessionRecord {
    let (_, matching_id) = bed.demo(n);
    bed.http
        .inject("getBoundProfilePackage", 1, Action::Timeout);
    *bed.probe.unplug.lock().unwrap() = Some(0xBF41);
    lpa.download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    *bed.probe.unplug.lock().unwrap() = None;
    bed.http.clear();
    let stranded = bed.stored_record().unwrap();
    assert_eq!(stranded.stage, SessionStage::Prepared);
    stranded
}

#[test]
fn a_download_is_refused_while_a_stranded_session_cannot_be_ended() {
    let bed = Bed::new();
    let mut lpa = bed.lpa();
    let stranded = strand_a_session(&bed, &mut lpa, 33);

    // The card is back, but the SM-DP+ does not answer cancelSession: the stranded session
    // cannot be ended, so the new download must not start (its record would replace this one).
    bed.http.inject("cancelSession", 1, Action::Timeout);
    let (iccid, matching_id) = bed.demo(34);
    let calls_before = bed.http.calls().len();
    let mut user = User::accepting();
    let err = lpa.download(bed.code(&matching_id), &mut user).unwrap_err();
    assert!(
        matches!(err, LpaError::Http(HttpError::Timeout(_))),
        "{err}"
    );
    assert!(matches!(user.events[0], Progress::Recovering { .. }));
    assert!(user.asked.is_empty(), "no new offer was shown");
    let calls: Vec<String> = bed.http.calls().split_off(calls_before);
    assert_eq!(calls, ["cancelSession"], "no new session was started");
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // The record survives, the card side now cancelled.
    let kept = bed.stored_record().unwrap();
    assert_eq!(kept.transaction_id, stranded.transaction_id);
    assert!(matches!(kept.stage, SessionStage::CardCancelled { .. }));
    assert_eq!(lpa.stranded_session().unwrap(), Some(kept));
    let end = lpa.last_session_end().unwrap();
    assert_eq!(end.transaction_id, stranded.transaction_id);
    assert!(!end.is_complete(), "{end}");

    // The server answers again: recover() ends it. Then a fresh stranded session whose card
    // side is still open, and a card unplugged during its recovery: refused the same way.
    lpa.recover().unwrap().unwrap();
    let stranded = strand_a_session(&bed, &mut lpa, 35);
    *bed.probe.unplug.lock().unwrap() = Some(0xBF41);
    let err = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CardUnreachable, "{err}");
    assert_eq!(bed.stored_record(), Some(stranded.clone()));
    *bed.probe.unplug.lock().unwrap() = None;

    // Once both can be reached, recover() ends it and downloads work again.
    let end = lpa.recover().unwrap().unwrap();
    assert_eq!(end.transaction_id, stranded.transaction_id);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    assert_eq!(bed.stored_record(), None);
    let report = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    assert_eq!(report.installation.iccid, iccid);
    assert!(report.recovered.is_none());
}

#[test]
fn an_abandoned_stranded_session_no_longer_blocks_downloads() {
    let bed = Bed::new();
    let mut lpa = bed.lpa();
    let stranded = strand_a_session(&bed, &mut lpa, 36);
    assert_eq!(lpa.abandon_stranded_session().unwrap(), Some(stranded));
    assert_eq!(bed.stored_record(), None);
    assert_eq!(lpa.abandon_stranded_session().unwrap(), None);
    let (iccid, matching_id) = bed.demo(37);
    let report = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    assert_eq!(report.installation.iccid, iccid);
}

/// A session store that fails on demand: loads, or the next `failing_saves` saves.
#[derive(Default)]
struct FailingStore {
    inner: MemoryStore,
    failing_loads: std::sync::atomic::AtomicBool,
    failing_saves: AtomicUsize,
    /// Every save, in order: the bytes, and whether it was refused.
    saves: Mutex<Vec<(Vec<u8>, bool)>>,
    clears: AtomicUsize,
}

impl FailingStore {
    fn io_error() -> StorageError {
        StorageError::Io {
            path: "/injected/session.json".into(),
            source: std::io::Error::other("injected by the test"),
        }
    }
}

impl SessionStore for FailingStore {
    fn load(&self) -> Result<Option<Vec<u8>>, StorageError> {
        if self.failing_loads.load(Ordering::SeqCst) {
            return Err(FailingStore::io_error());
        }
        self.inner.load()
    }

    fn save(&self, record: &[u8]) -> Result<(), StorageError> {
        let refused = self
            .failing_saves
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        self.saves.lock().unwrap().push((record.to_vec(), refused));
        if refused {
            return Err(FailingStore::io_error());
        }
        self.inner.save(record)
    }

    fn clear(&self) -> Result<(), StorageError> {
        self.clears.fetch_add(1, Ordering::SeqCst);
        self.inner.clear()
    }
}

impl Bed {
    fn lpa_storing_in(&self, store: Arc<FailingStore>) -> Lpa {
        let card: SharedCard = self.card.clone();
        Lpa::new(
            Box::new(SoftCard {
                card,
                probe: self.probe.clone(),
            }),
            self.http.clone(),
            Box::new(store),
            self.config(),
        )
        .unwrap()
    }
}

#[test]
fn an_unreadable_record_is_removed_by_recover_and_before_a_download() {
    let bed = Bed::new();
    let store = Arc::new(FailingStore::default());
    let mut lpa = bed.lpa_storing_in(store.clone());

    // recover(): reported as Corrupt, and removed.
    store.inner.save(b"{\"not\": \"a session record\"").unwrap();
    let err = lpa.recover().unwrap_err();
    assert!(
        matches!(err, LpaError::Storage(StorageError::Corrupt(_))),
        "{err}"
    );
    assert_eq!(store.inner.load().unwrap(), None);
    assert!(lpa.recover().unwrap().is_none());
    assert!(!bed.probe.saw(0xBF41), "nothing was cancelled on the card");

    // Before a download: dropped, and the download goes ahead.
    store.inner.save(b"\x00garbage").unwrap();
    let (iccid, matching_id) = bed.demo(38);
    let mut user = User::accepting();
    let report = lpa.download(bed.code(&matching_id), &mut user).unwrap();
    assert_eq!(report.installation.iccid, iccid);
    assert!(report.recovered.is_none());
    assert!(
        !user
            .events
            .iter()
            .any(|e| matches!(e, Progress::Recovering { .. }))
    );
    assert_eq!(store.inner.load().unwrap(), None);

    // A store that cannot be read at all is not a corrupt record: nothing is removed, and
    // no download starts.
    store.inner.save(b"kept").unwrap();
    store.failing_loads.store(true, Ordering::SeqCst);
    let clears = store.clears.load(Ordering::SeqCst);
    let err = lpa.recover().unwrap_err();
    assert!(
        matches!(err, LpaError::Storage(StorageError::Io { .. })),
        "{err}"
    );
    let (_, matching_id) = bed.demo(39);
    let calls = bed.http.calls().len();
    let err = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    assert!(
        matches!(err, LpaError::Storage(StorageError::Io { .. })),
        "{err}"
    );
    assert_eq!(bed.http.calls().len(), calls, "nothing was sent");
    assert_eq!(store.clears.load(Ordering::SeqCst), clears);
    store.failing_loads.store(false, Ordering::SeqCst);
    assert_eq!(store.inner.load().unwrap().as_deref(), Some(&b"kept"[..]));
}

#[test]
fn a_failed_record_write_is_logged_and_tried_again_after_the_next_step() {
    let bed = Bed::new();
    let store = Arc::new(FailingStore::default());
    let mut lpa = bed.lpa_storing_in(store.clone());
    // The first two writes (the record of the session that starts) are refused.
    store.failing_saves.store(2, Ordering::SeqCst);
    let (iccid, matching_id) = bed.demo(40);
    CAPTURING.with(|c| c.set(true));
    let report = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    CAPTURING.with(|c| c.set(false));
    // The download is not stopped by it.
    assert_eq!(report.installation.iccid, iccid);
    let saves = store.saves.lock().unwrap().clone();
    let refused: Vec<bool> = saves.iter().map(|(_, refused)| *refused).collect();
    assert!(refused.len() >= 3, "{refused:?}");
    assert_eq!(refused[..3], [true, true, false], "{refused:?}");
    // Each step after a refusal writes the record again, as it is then: the session's
    // first record was refused, then the next step's (Authenticated) once, then written.
    let records: Vec<SessionRecord> = saves
        .iter()
        .map(|(bytes, _)| serde_json::from_slice(bytes).unwrap())
        .collect();
    assert_eq!(records[0].stage, SessionStage::Authenticating);
    assert_eq!(records[1].stage, SessionStage::Authenticated);
    assert!(
        records[..3]
            .iter()
            .all(|r| r.transaction_id == records[0].transaction_id)
    );
    let logged = my_lines()
        .iter()
        .filter(|l| l.contains("the session record could not be stored"))
        .count();
    assert_eq!(logged, 2);
    // Once written, the record is cleared at the end as usual.
    assert_eq!(store.inner.load().unwrap(), None);
    assert!(store.clears.load(Ordering::SeqCst) >= 1);
}

// ------------------------------------------------------------------------------- TLS

/// A download through `http` that must fail before any session exists.
fn refused_before_any_session(bed: &Bed, http: Arc<dyn HttpClient>, request: DownloadRequest) {
    let mut lpa = bed.lpa_with(bed.config(), http);
    let err = lpa.download(request, &mut User::accepting()).unwrap_err();
    assert!(lpa.last_session_end().is_none(), "{err}");
    assert_eq!(bed.smdp().session_count(), 0, "{err}");
    assert_eq!(bed.stored_record(), None);
    assert!(!bed.probe.saw(0xBF38), "no AuthenticateServer: {err}");
    assert!(bed.installed().is_empty());
    match err {
        LpaError::Http(HttpError::Tls(_) | HttpError::InvalidUrl(_)) => {}
        LpaError::InvalidInput(_) => {}
        other => panic!("not a TLS or URL refusal: {other}"),
    }
}

#[test]
fn tls_is_refused_for_an_untrusted_ci() {
    let bed = Bed::new();
    let (_, matching_id) = bed.demo(40);
    let now = SystemTime::now();
    let stranger =
        TestPki::generate(&TestPkiOptions::new(Curve::NistP256, now - DAY, now + DAY)).unwrap();
    let http = https_to(
        &bed.server,
        HttpsConfig::new().add_root(stranger.ci.certificate.clone()),
    );
    refused_before_any_session(&bed, Arc::new(http), bed.code(&matching_id));
    // Nor do the bundled live and SGP.26 CIs vouch for the test SM-DP+.
    let http = HttpsConfig::new()
        .bundled_cis(BundledTrust::LiveAndTest)
        .resolve(DEFAULT_SMDP_HOST, 443, bed.server.addr())
        .build()
        .unwrap();
    refused_before_any_session(&bed, Arc::new(http), bed.code(&matching_id));
}

/// A TLS server on 127.0.0.1 that shows one certificate, whatever name the client asks for,
/// and completes handshakes only (enough to see a client refuse the certificate).
struct OneCertServer {
    addr: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OneCertServer {
    /// Serves a CERT.DP.TLS for `host` issued by the test CI.
    fn start(host: &str) -> Self {
        use lpa_testbed::pki::{CertRole, CertSpec, Issuer, NameAttribute, PrivateKey};
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let key = PrivateKey::generate(Curve::NistP256).unwrap();
        let now = SystemTime::now();
        let mut spec = CertSpec::new(
            CertRole::DpTls,
            vec![(NameAttribute::CommonName, host.to_owned())],
            now - DAY,
            now + DAY,
        );
        spec.dns_names = vec![host.to_owned()];
        let certificate = lpa_testbed::pki::issue_certificate(
            &spec,
            &key.public_key(),
            Issuer::Ca {
                certificate: &pki().ci.certificate,
                key: &pki().ci.key,
            },
        )
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(certificate)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.to_pkcs8_der().unwrap().to_vec(),
            )),
        )
        .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((mut tcp, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    tcp.set_nonblocking(false).unwrap();
                    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut tls = rustls::ServerConnection::new(config.clone()).unwrap();
                    // Ends when the client refuses the certificate (or after the deadline).
                    while tls.is_handshaking() && tls.complete_io(&mut tcp).is_ok() {}
                }
            })
        };
        OneCertServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for OneCertServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

#[test]
fn tls_is_refused_for_a_wrong_host_name() {
    let bed = Bed::new();
    let (_, matching_id) = bed.demo(41);
    // smdp.other.example answers with a valid certificate under the trusted test CI, but one
    // that names the test SM-DP+.
    let impostor = OneCertServer::start(DEFAULT_SMDP_HOST);
    let http = HttpsConfig::new()
        .bundled_cis(BundledTrust::None)
        .add_root(pki().ci.certificate.clone())
        .resolve("smdp.other.example", 443, impostor.addr)
        .build()
        .unwrap();
    let http = Arc::new(http);
    let mut lpa = bed.lpa_with(bed.config(), http.clone());
    let err = lpa
        .download(
            DownloadRequest::ActivationCode(format!("1$smdp.other.example${matching_id}")),
            &mut User::accepting(),
        )
        .unwrap_err();
    let LpaError::Http(HttpError::Tls(reason)) = &err else {
        panic!("{err}");
    };
    assert!(reason.contains("smdp.other.example"), "{reason}");
    assert!(
        reason.contains("name") || reason.contains("Name"),
        "{reason}"
    );
    assert!(lpa.last_session_end().is_none());
    assert_eq!(bed.smdp().session_count(), 0);
    assert_eq!(bed.stored_record(), None);
    assert!(!bed.probe.saw(0xBF38));
    drop(impostor);
}

#[test]
fn tls_is_refused_for_an_expired_certificate() {
    let bed = Bed::new();
    let (_, matching_id) = bed.demo(42);
    // Two years on, the SM-DP+'s one-year TLS certificate has expired (the CI has not).
    let http = https_to(
        &bed.server,
        HttpsConfig::new()
            .add_root(pki().ci.certificate.clone())
            .verification_time(SystemTime::now() + 730 * DAY),
    );
    let mut lpa = bed.lpa_with(bed.config(), Arc::new(http));
    let err = lpa
        .download(bed.code(&matching_id), &mut User::accepting())
        .unwrap_err();
    assert!(
        matches!(&err, LpaError::Http(HttpError::Tls(r)) if r.contains("expired")),
        "{err}"
    );
    assert!(lpa.last_session_end().is_none());
    assert_eq!(bed.smdp().session_count(), 0);
    assert_eq!(bed.stored_record(), None);
}

#[test]
fn plain_http_is_refused() {
    let bed = Bed::new();
    let (_, matching_id) = bed.demo(43);
    // An activation code cannot name a URL...
    refused_before_any_session(
        &bed,
        bed.http.clone(),
        DownloadRequest::ActivationCode(format!("LPA:1$http://{DEFAULT_SMDP_HOST}${matching_id}")),
    );
    // ...and a client asked for http:// refuses before connecting.
    bed.http.inject(
        "initiateAuthentication",
        1,
        Action::Rewrite(|url| url.replacen("https://", "http://", 1)),
    );
    refused_before_any_session(&bed, bed.http.clone(), bed.code(&matching_id));
}

// ------------------------------------------------------------------------------- logging

#[test]
fn logs_show_no_matching_id_confirmation_code_eid_or_iccid_by_default() {
    let bed = Bed::new();
    let matching_id = "LPA-TEST-MATCHING-ID-42";
    let code = "Q7-ZEBRA-9";
    let (iccid, _) = bed.order(
        ServedProfile::demo(50),
        Some(matching_id),
        Some(code),
        false,
    );
    CAPTURING.with(|c| c.set(true));
    let mut lpa = bed.lpa_with(
        bed.config()
            .with_es10(lpa::es10::Es10Config::new().with_segment_size(64)),
        bed.http.clone(),
    );
    lpa.download(bed.code(matching_id), &mut User::with_code(code))
        .unwrap();
    lpa.eid().unwrap();
    lpa.enable(&iccid, false).unwrap();
    lpa.profiles().unwrap();
    // A refusal whose server message quotes the matching ID: the error carries it, the log
    // does not.
    let wrong = "LPA-WRONG-MATCHING-ID-77";
    let err = lpa
        .download(bed.code(wrong), &mut User::accepting())
        .unwrap_err();
    assert!(
        matches!(&err, LpaError::Server { message: Some(m), .. } if m.contains(wrong)),
        "{err}"
    );
    CAPTURING.with(|c| c.set(false));
    let lines = my_lines();
    assert!(
        lines.len() > 100,
        "trace level is on: {} lines",
        lines.len()
    );
    assert!(lines.iter().any(|l| l.contains("APDU >")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ES9+.getBoundProfilePackage <"))
    );
    let secrets = [
        matching_id.to_owned(),
        wrong.to_owned(),
        redact::hex(matching_id.as_bytes()),
        code.to_owned(),
        redact::hex(code.as_bytes()),
        DEFAULT_EID.to_owned(),
        iccid.to_string(),
        redact::hex(iccid.as_bytes()),
    ];
    for line in &lines {
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "{secret} in clear: {line}");
        }
    }

    // With log_sensitive the same values are there to see.
    let bed = Bed::new();
    let (iccid, matching_id) = bed.demo(51);
    CAPTURING.with(|c| c.set(true));
    let mut lpa = bed.lpa_with(bed.config().with_log_sensitive(true), bed.http.clone());
    lpa.download(bed.code(&matching_id), &mut User::accepting())
        .unwrap();
    CAPTURING.with(|c| c.set(false));
    let lines = my_lines().join("\n");
    assert!(lines.contains(&matching_id));
    assert!(lines.contains(&iccid.to_string()));
}

#[test]
fn the_confirmation_code_is_never_logged_even_with_log_sensitive() {
    let bed = Bed::new();
    let code = "Q7-ZEBRA-9";
    let (_, matching_id) = bed.order(ServedProfile::demo(52), None, Some(code), false);
    CAPTURING.with(|c| c.set(true));
    let mut lpa = bed.lpa_with(bed.config().with_log_sensitive(true), bed.http.clone());
    // A wrong code first (refused by the server), then the right one.
    lpa.download(
        bed.code(&matching_id),
        &mut User::with_code("WRONG-CODE-31"),
    )
    .unwrap_err();
    let report = lpa
        .download(bed.code(&matching_id), &mut User::with_code(code))
        .unwrap();
    assert!(report.installation.is_installed());
    CAPTURING.with(|c| c.set(false));
    let lines = my_lines();
    // log_sensitive is on: identifiers are in clear, so the capture is the verbose one.
    assert!(lines.iter().any(|l| l.contains(&matching_id)));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("confirmation code entered"))
    );
    for secret in ["WRONG-CODE-31", code] {
        let hex = redact::hex(secret.as_bytes());
        for line in &lines {
            assert!(!line.contains(secret), "{secret} in clear: {line}");
            assert!(!line.contains(hex.as_str()), "{secret} in hex: {line}");
        }
    }
}

#[test]
fn the_facade_moves_between_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Lpa>();
    send_sync::<LpaError>();
    send_sync::<LpaConfig>();
}

#[test]
fn configuration_is_checked() {
    let bed = Bed::new();
    let card: SharedCard = bed.card.clone();
    let transport = || {
        Box::new(SoftCard {
            card: card.clone(),
            probe: Probe::default(),
        }) as Box<dyn ApduTransport>
    };
    let store = || Box::new(MemoryStore::new()) as Box<dyn SessionStore>;
    let bad = LpaConfig::new().with_notification_retry(RetryPolicy::new(
        0,
        Duration::ZERO,
        Duration::ZERO,
    ));
    let err = Lpa::new(transport(), bed.http.clone(), store(), bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let bad = LpaConfig::new().with_es10(lpa::es10::Es10Config::new().with_segment_size(0));
    assert!(Lpa::new(transport(), bed.http.clone(), store(), bad).is_err());
    // A malformed activation code: nothing is sent.
    let mut lpa = bed.lpa();
    let err = lpa
        .download(
            DownloadRequest::ActivationCode("LPA:2$nonsense".into()),
            &mut User::accepting(),
        )
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert_eq!(bed.probe.apdus.load(Ordering::SeqCst), 0);
    assert!(bed.http.calls().is_empty());
    assert_eq!(RetryPolicy::default().backoff(2), Duration::from_secs(2));
    assert_eq!(RetryPolicy::default().backoff(3), Duration::from_secs(4));
    assert_eq!(
        RetryPolicy::new(10, Duration::from_secs(2), Duration::from_secs(30)).backoff(9),
        Duration::from_secs(30)
    );
}

// ------------------------------------------------------------------------------- review fixes

/// A card with two pending notifications (downloads without delivery), and its LPA.
fn two_pending_notifications(bed: &Bed, first: u32) -> Lpa {
    let mut lpa = bed.lpa_with(
        bed.config().with_deliver_notifications(false),
        bed.http.clone(),
    );
    for n in [first, first + 1] {
        let (_, matching_id) = bed.demo(n);
        lpa.download(bed.code(&matching_id), &mut User::accepting())
            .unwrap();
    }
    assert_eq!(bed.pending().len(), 2);
    lpa
}

#[test]
fn a_card_lost_after_an_unrelated_refusal_is_reported_as_lost_not_refused() {
    let bed = Bed::new();
    let mut lpa = two_pending_notifications(&bed, 60);
    // Notification 1: RetrieveNotificationsList refused with 6A88; notification 2: link lost,
    // and the card stays away for the retry rounds.
    bed.probe.script.lock().unwrap().extend([
        (0xBF2B, Some(0x6A88)),
        (0xBF2B, None),
        (0xBF28, None),
    ]);
    let report = lpa
        .process_notifications(NotificationFilter::all())
        .unwrap();
    let lost = report.card_lost().expect("the loss is reported");
    assert!(lost.is_transient(), "{lost}");
    assert!(!lost.to_string().contains("6A88"), "{lost}");
    let outcomes: Vec<&DeliveryOutcome> = report.notifications.iter().map(|n| &n.outcome).collect();
    assert!(
        matches!(
            outcomes[0],
            DeliveryOutcome::NotDelivered(Fault::CardRefused(_))
        ),
        "{outcomes:?}"
    );
    assert!(
        matches!(
            outcomes[1],
            DeliveryOutcome::NotDelivered(Fault::TransportFailed(TransportFailure::Card { .. }))
        ),
        "{outcomes:?}"
    );
    assert_eq!(bed.pending().len(), 2, "both stay on the card");
}

#[test]
fn an_unreadable_euicc_info1_sends_nothing_instead_of_trusting_every_ci() {
    let bed = Bed::new();
    let lpa = two_pending_notifications(&bed, 62);
    drop(lpa);
    // A fresh LPA has not narrowed its trust yet; the card refuses GetEuiccInfo1 (BF20).
    *bed.probe.refuse.lock().unwrap() = Some((0xBF20, 0x6A88));
    let calls = bed.http.calls().len();
    let mut lpa = bed.lpa();
    let report = lpa
        .process_notifications(NotificationFilter::all())
        .unwrap();
    assert_eq!(
        bed.http.calls().len(),
        calls,
        "no request without narrowed trust"
    );
    assert_eq!(report.notifications.len(), 2);
    for n in &report.notifications {
        assert!(
            matches!(
                &n.outcome,
                DeliveryOutcome::NotDelivered(Fault::TransportFailed(TransportFailure::Server {
                    failure: ServerFailure::Tls(_),
                    ..
                }))
            ),
            "{:?}",
            n.outcome
        );
    }
    assert_eq!(bed.pending().len(), 2);
    // The card answers again: the same LPA narrows and delivers.
    *bed.probe.refuse.lock().unwrap() = None;
    let report = lpa
        .process_notifications(NotificationFilter::all())
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
}

#[test]
fn two_lpas_sharing_one_client_narrow_their_own_trust_only() {
    let bed = Bed::new();
    let base = HttpsConfig::new()
        .bundled_cis(BundledTrust::LiveAndTest)
        .add_root(pki().ci.certificate.clone())
        .resolve(DEFAULT_SMDP_HOST, 443, bed.server.addr())
        .build()
        .unwrap();
    let base = Arc::new(base);
    assert_eq!(base.trusted_cis().len(), 4);
    let before = base.trusted_cis();
    let shared: Arc<dyn HttpClient> = base.clone();
    let mut first = bed.lpa_with(bed.config(), shared.clone());
    let mut second = bed.lpa_with(bed.config(), shared);
    for (lpa, n) in [(&mut first, 64), (&mut second, 65)] {
        let (_, matching_id) = bed.demo(n);
        lpa.download(bed.code(&matching_id), &mut User::accepting())
            .unwrap();
    }
    assert_eq!(
        base.trusted_cis(),
        before,
        "the shared client keeps its trust"
    );
}
