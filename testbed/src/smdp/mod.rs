//! A test SM-DP+ and SM-DS that check everything the card side sends, as real ones do.
//!
//! ```text
//!   operator (test)            LPA under test                    this module
//!   ES2+ JSON  ------------------------------------------------>  Smdp::handle  (sans-IO)
//!                 ES9+/ES11 JSON over HTTPS --> SmdpServer ---->     |  orders (state machine)
//!                                               (rustls, strict     |  sessions (transactionId)
//!                                                HTTP/1.1, deadlines)|  SM-DS events per EID
//! ```
//!
//! - [`Smdp`] is the whole service without I/O: [`Smdp::handle`] takes one HTTP
//!   [`Request`] and returns the [`Response`]. It holds the profile inventory and orders
//!   (SGP.22 §3.1.6, [`ProfileStatus`]), the ES9+ sessions, the SM-DS events, and the received
//!   notifications.
//! - [`SmdpServer`] serves it over TLS on `127.0.0.1`: one thread per connection (bounded),
//!   every read and write under a deadline, bodies capped.
//! - [`signed_data`] says exactly what each signature covers, and verifies the card's ones;
//!   [`binding`] builds the Bound Profile Package.
//!
//! Functions served (POST, JSON, `X-Admin-Protocol: gsma/rsp/v2.*`):
//!
//! | path | function |
//! |---|---|
//! | `/gsma/rsp2/es9plus/initiateAuthentication` | ES9+ (SM-DP+ address) or ES11 (SM-DS address), as LPAs call it |
//! | `/gsma/rsp2/es9plus/authenticateClient` | ES9+ or ES11, by the session |
//! | `/gsma/rsp2/es9plus/{getBoundProfilePackage,handleNotification,cancelSession}` | ES9+ |
//! | `/gsma/rsp2/es11/{initiateAuthentication,authenticateClient}` | ES11 (SGP.22 §6.5.2) |
//! | `/gsma/rsp2/es2plus/{downloadOrder,confirmOrder,cancelOrder,releaseProfile}` | ES2+ |
//!
//! Every refusal is `Failed` with the subject and reason codes of the function's SGP.22 error
//! table ([`codes`]), in an HTTP 200 answer; handleNotification answers 204 when accepted.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod binding;
pub mod codes;
mod es2;
mod es9;
pub mod http;
pub mod inventory;
pub mod orders;
mod server;
pub mod signed_data;

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use lpa_core::es9::{
    CONTENT_TYPE, EmptyBody, Es9Response, X_ADMIN_PROTOCOL, encode_json,
    is_supported_admin_protocol,
};
use lpa_core::ids::{Eid, Iccid};
use serde::Serialize;

pub use es2::{
    CancelOrderRequest, ConfirmOrderRequest, ConfirmOrderResponse, DownloadOrderRequest,
    DownloadOrderResponse, Es2RequestHeader, ReleaseProfileRequest,
};
pub use http::{Limits, Request, Response};
pub use inventory::{ServedProfile, load_inventory_dir};
pub use orders::{ProfileRecord, ProfileStatus};
pub use server::{ServerOptions, SmdpServer};

use crate::pki::{
    CertRole, CertSpec, Curve, Identity, Issuer, NameAttribute, PkiError, PrivateKey,
    issue_certificate, ski_of, verify_chain,
};
use codes::{EXECUTION_ERROR, Failure, INVALID_CONTENT_TYPE, UNSUPPORTED_ADMIN_PROTOCOL};
use orders::Order;

/// Everything a test SM-DP+ (and SM-DS) needs at start-up.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SmdpConfig {
    /// The SM-DP+ host name: smdpAddress must equal it exactly, serverSigned1 carries it, and
    /// the TLS certificate is issued for it. Default: `testsmdpplus1.example.com`.
    pub host: String,
    /// The SM-DS host name served by the same instance (ES11, its own TLS certificate and
    /// CERT.DSauth); `None`: no SM-DS.
    pub smds_host: Option<String>,
    /// The CI certificate and key: issues the TLS certificates (and CERT.DSauth) at start-up.
    pub ci: Identity,
    /// CERT.DPauth.ECDSA and its key (signs serverSigned1).
    pub dp_auth: Identity,
    /// CERT.DPpb.ECDSA and its key (signs smdpSigned2 and the BPP).
    pub dp_pb: Identity,
    /// CI certificates (DER) eUICC chains may end at. Default: the CI above.
    pub trusted_cis: Vec<Vec<u8>>,
    /// A NIST P-256 CI for the TLS certificates when `ci` is on brainpoolP256r1 (TLS stacks
    /// have no brainpool). `None`: `ci` issues them.
    pub tls_ci: Option<Identity>,
    /// hostId of the BPP's ControlRefTemplate (1 to 16 bytes).
    pub host_id: Vec<u8>,
    /// SM-DS OID put in CERT.DSauth.
    pub smds_oid: String,
    /// Wrong confirmation codes before the order goes to Error (SGP.22 §3.1.6).
    pub confirmation_code_attempts: u32,
    /// Download sessions (authenticateClient calls) one order allows before it goes to Error.
    pub download_attempts: u32,
    /// How long a session (transactionId) lives.
    pub session_lifetime: Duration,
    /// Most sessions at a time.
    pub max_sessions: usize,
    /// Send random Profile Protection Keys (`A2` ReplaceSessionKeys) in every BPP.
    pub profile_protection_keys: bool,
    /// The time certificates are validated at; `None`: the system clock.
    pub now: Option<SystemTime>,
}

impl SmdpConfig {
    /// A configuration from a test PKI: its CI, DPauth and DPpb, the SGP.26 host name, no
    /// SM-DS.
    pub fn from_pki(pki: &crate::pki::TestPki) -> Self {
        SmdpConfig {
            host: crate::pki::DEFAULT_SMDP_HOST.to_owned(),
            smds_host: None,
            ci: pki.ci.clone(),
            dp_auth: pki.dp_auth.clone(),
            dp_pb: pki.dp_pb.clone(),
            trusted_cis: vec![pki.ci.certificate.clone()],
            tls_ci: None,
            host_id: b"lpa-testbed".to_vec(),
            smds_oid: "2.999.20".to_owned(),
            confirmation_code_attempts: 3,
            download_attempts: 5,
            session_lifetime: Duration::from_secs(30 * 60),
            max_sessions: 1024,
            profile_protection_keys: false,
            now: None,
        }
    }
}

/// Why an SM-DP+ could not be set up or changed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SmdpError {
    /// A certificate or key is unusable.
    Pki(PkiError),
    /// A configuration value is out of range.
    Config(String),
    /// TLS could not be set up.
    Tls(String),
    /// The listener could not be opened.
    Io(std::io::Error),
}

impl fmt::Display for SmdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmdpError::Pki(e) => write!(f, "SM-DP+ certificates: {e}"),
            SmdpError::Config(e) => write!(f, "SM-DP+ configuration: {e}"),
            SmdpError::Tls(e) => write!(f, "SM-DP+ TLS: {e}"),
            SmdpError::Io(e) => write!(f, "SM-DP+ listener: {e}"),
        }
    }
}

impl std::error::Error for SmdpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SmdpError::Pki(e) => Some(e),
            SmdpError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PkiError> for SmdpError {
    fn from(e: PkiError) -> Self {
        SmdpError::Pki(e)
    }
}

/// A notification the SM-DP+ accepted (handleNotification), for tests to inspect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedNotification {
    /// The operation: `install`, `enable`, `disable`, `delete`.
    pub operation: String,
    /// The ICCID, when the notification names one.
    pub iccid: Option<String>,
    /// The EID of the eUICC that signed it.
    pub eid: String,
    /// For an installation result: whether it succeeded.
    pub install_success: Option<bool>,
    /// The DER PendingNotification as received.
    pub der: Vec<u8>,
}

/// One SM-DS event (SGP.22 §3.6): a profile waiting for an eUICC at an RSP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The eUICC.
    pub eid: Eid,
    /// The event ID, used as matching ID at the SM-DP+.
    pub event_id: String,
    /// Where the profile waits.
    pub rsp_server_address: String,
}

/// The TLS identity served for one host name.
#[derive(Clone, Debug)]
pub(crate) struct TlsIdentity {
    pub host: String,
    pub identity: Identity,
}

/// The mutable part of the service.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Orders by ICCID bytes.
    pub orders: HashMap<[u8; 10], Order>,
    /// Insertion order of the ICCIDs (stable listings, first-available selection).
    pub order_keys: Vec<[u8; 10]>,
    /// Sessions by transactionId.
    pub sessions: HashMap<Vec<u8>, es9::Session>,
    pub events: Vec<Event>,
    pub notifications: Vec<ReceivedNotification>,
}

impl State {
    pub fn order_mut(&mut self, iccid: &Iccid) -> Option<&mut Order> {
        self.orders.get_mut(iccid.as_bytes())
    }

    /// Orders in inventory order.
    pub fn orders_in_order(&self) -> impl Iterator<Item = &Order> {
        self.order_keys.iter().filter_map(|k| self.orders.get(k))
    }

    pub fn delete_event(&mut self, eid: Option<Eid>, event_id: Option<&str>) {
        if let (Some(eid), Some(event_id)) = (eid, event_id) {
            self.events
                .retain(|e| !(e.eid == eid && e.event_id == event_id));
        }
    }
}

/// The SM-DP+ / SM-DS service, without I/O. Cheap to share: wrap it in an [`Arc`].
#[derive(Debug)]
pub struct Smdp {
    config: SmdpConfig,
    dp_auth_ci_pkid: Vec<u8>,
    dp_auth_oid: Option<String>,
    dp_pb_oid: Option<String>,
    ds_auth: Option<Identity>,
    ds_auth_ci_pkid: Vec<u8>,
    trusted_ci_pkids: Vec<Vec<u8>>,
    tls: Vec<TlsIdentity>,
    state: Mutex<State>,
}

impl Smdp {
    /// Sets up the service: checks the certificates and issues, from the CI, the TLS
    /// certificate of each host name and (with an SM-DS) CERT.DSauth.
    pub fn new(config: SmdpConfig) -> Result<Self, SmdpError> {
        if config.host.is_empty() || config.smds_host.as_deref() == Some(config.host.as_str()) {
            return Err(SmdpError::Config(
                "the SM-DP+ needs a host name of its own".into(),
            ));
        }
        if config.host_id.is_empty() || config.host_id.len() > 16 {
            return Err(SmdpError::Config("hostId must be 1 to 16 bytes".into()));
        }
        if config.trusted_cis.is_empty() {
            return Err(SmdpError::Config("no trusted CI".into()));
        }
        let now = config.now.unwrap_or_else(SystemTime::now);
        let dp_auth_ci_pkid = crate::pki::aki_of(&config.dp_auth.certificate)?;
        let ci_pkid = ski_of(&config.ci.certificate)?;
        let dp_auth = verify_chain(
            &config.dp_auth.certificate,
            &[],
            &[&config.ci.certificate],
            now,
            CertRole::DpAuth,
        );
        // The DPauth/DPpb certificates may come from elsewhere (e.g. a recorded session): only
        // their OIDs are needed, so a chain that does not validate is tolerated here.
        let dp_auth_oid = dp_auth.ok().and_then(|v| v.registered_id);
        let dp_pb_oid = verify_chain(
            &config.dp_pb.certificate,
            &[],
            &[&config.ci.certificate],
            now,
            CertRole::DpPb,
        )
        .ok()
        .and_then(|v| v.registered_id)
        .or_else(|| registered_id_of(&config.dp_pb.certificate));
        let dp_auth_oid = dp_auth_oid.or_else(|| registered_id_of(&config.dp_auth.certificate));

        let mut trusted_ci_pkids = Vec::new();
        for ci in &config.trusted_cis {
            trusted_ci_pkids.push(ski_of(ci)?);
        }

        let (ds_auth, ds_auth_ci_pkid) = match &config.smds_host {
            Some(_) => {
                let key = PrivateKey::generate(config.ci.key.curve())?;
                let mut spec = CertSpec::new(
                    CertRole::DsAuth,
                    vec![
                        (NameAttribute::Organization, "LPA Testbed".to_owned()),
                        (NameAttribute::CommonName, "TEST SM-DS".to_owned()),
                    ],
                    earlier(now, DAY),
                    later(now, 365 * DAY),
                );
                spec.registered_id = Some(config.smds_oid.clone());
                let certificate = issue_certificate(
                    &spec,
                    &key.public_key(),
                    Issuer::Ca {
                        certificate: &config.ci.certificate,
                        key: &config.ci.key,
                    },
                )?;
                (
                    Some(Identity::new(certificate, key, CertRole::DsAuth)?),
                    ci_pkid.clone(),
                )
            }
            None => (None, Vec::new()),
        };

        let tls_ci = config.tls_ci.as_ref().unwrap_or(&config.ci);
        if tls_ci.key.curve() != Curve::NistP256 {
            return Err(SmdpError::Config(
                "TLS certificates need a NIST P-256 CI (set tls_ci)".into(),
            ));
        }
        let mut tls = vec![TlsIdentity {
            host: config.host.clone(),
            identity: issue_tls(tls_ci, &config.host, CertRole::DpTls, now)?,
        }];
        if let Some(smds) = &config.smds_host {
            tls.push(TlsIdentity {
                host: smds.clone(),
                identity: issue_tls(tls_ci, smds, CertRole::DsTls, now)?,
            });
        }

        Ok(Smdp {
            config,
            dp_auth_ci_pkid,
            dp_auth_oid,
            dp_pb_oid,
            ds_auth,
            ds_auth_ci_pkid,
            trusted_ci_pkids,
            tls,
            state: Mutex::new(State::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SmdpConfig {
        &self.config
    }

    /// The SM-DP+ host name.
    pub fn host(&self) -> &str {
        &self.config.host
    }

    /// The SM-DS host name, when there is one.
    pub fn smds_host(&self) -> Option<&str> {
        self.config.smds_host.as_deref()
    }

    /// The TLS certificate (DER) served for `host`.
    pub fn tls_certificate(&self, host: &str) -> Option<&[u8]> {
        self.tls
            .iter()
            .find(|t| t.host == host)
            .map(|t| t.identity.certificate.as_slice())
    }

    /// CERT.DSauth (DER), when there is an SM-DS.
    pub fn ds_auth_certificate(&self) -> Option<&[u8]> {
        self.ds_auth.as_ref().map(|i| i.certificate.as_slice())
    }

    pub(crate) fn tls_identities(&self) -> &[TlsIdentity] {
        &self.tls
    }

    /// Adds a profile to the inventory (state Available).
    pub fn add_profile(&self, spec: ServedProfile) -> Result<(), SmdpError> {
        if spec.profile_package.is_empty() {
            return Err(SmdpError::Config(format!(
                "profile {} has an empty profile package",
                spec.iccid
            )));
        }
        let mut state = self.lock();
        let key = *spec.iccid.as_bytes();
        if state.orders.contains_key(&key) {
            return Err(SmdpError::Config(format!(
                "profile {} is already in the inventory",
                spec.iccid
            )));
        }
        state.orders.insert(key, Order::new(Arc::new(spec)));
        state.order_keys.push(key);
        Ok(())
    }

    /// The profile with this ICCID (digits).
    pub fn profile(&self, iccid: &str) -> Option<ProfileRecord> {
        let iccid: Iccid = iccid.trim_end_matches(['F', 'f']).parse().ok()?;
        self.lock().orders.get(iccid.as_bytes()).map(Order::record)
    }

    /// All profiles, in the order they were added.
    pub fn profiles(&self) -> Vec<ProfileRecord> {
        self.lock().orders_in_order().map(Order::record).collect()
    }

    /// Registers an SM-DS event (what ES12.RegisterEvent would do). Needs an SM-DS.
    pub fn register_event(
        &self,
        eid: &str,
        event_id: &str,
        rsp_server_address: &str,
    ) -> Result<(), SmdpError> {
        if self.config.smds_host.is_none() {
            return Err(SmdpError::Config("no SM-DS is configured".into()));
        }
        let eid: Eid = eid
            .parse()
            .map_err(|e| SmdpError::Config(format!("EID: {e}")))?;
        if event_id.is_empty() || rsp_server_address.is_empty() {
            return Err(SmdpError::Config("empty event ID or address".into()));
        }
        let mut state = self.lock();
        state
            .events
            .retain(|e| !(e.eid == eid && e.event_id == event_id));
        state.events.push(Event {
            eid,
            event_id: event_id.to_owned(),
            rsp_server_address: rsp_server_address.to_owned(),
        });
        Ok(())
    }

    /// The SM-DS events registered for an EID.
    pub fn events(&self, eid: &str) -> Vec<Event> {
        let Ok(eid) = eid.parse::<Eid>() else {
            return Vec::new();
        };
        self.lock()
            .events
            .iter()
            .filter(|e| e.eid == eid)
            .cloned()
            .collect()
    }

    /// The notifications accepted so far.
    pub fn notifications(&self) -> Vec<ReceivedNotification> {
        self.lock().notifications.clone()
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Handles one HTTP request.
    pub fn handle(&self, request: &Request) -> Response {
        if request.method != "POST" {
            let mut r = Response::empty(405);
            r.headers.push(("Allow".into(), "POST".into()));
            return r;
        }
        let Some(route) = Route::of(&request.target, self.config.smds_host.is_some()) else {
            return Response::empty(404);
        };
        if let Err(failure) = check_headers(request) {
            return failed(&failure);
        }
        let result = match route {
            Route::Es9(function) => self.handle_es9(function, &request.body),
            Route::Es11(function) => self.handle_es11(function, &request.body),
            Route::Es2(function) => self.handle_es2(function, &request.body),
        };
        match result {
            Ok(response) => response,
            Err(failure) => failed(&failure),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked cannot leave the state half-changed in a way that matters
        // more than stopping the whole testbed would, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.config.now.unwrap_or_else(SystemTime::now)
    }
}

/// One day.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// `now - by`, or `now` when that is before the epoch.
fn earlier(now: SystemTime, by: Duration) -> SystemTime {
    now.checked_sub(by).unwrap_or(now)
}

/// `now + by`, or `now` when that overflows.
fn later(now: SystemTime, by: Duration) -> SystemTime {
    now.checked_add(by).unwrap_or(now)
}

/// The subjectAltName registeredID of a certificate, read without validating it.
fn registered_id_of(cert: &[u8]) -> Option<String> {
    use der::Decode as _;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    let cert = x509_cert::Certificate::from_der(cert).ok()?;
    let (_, san) = cert
        .tbs_certificate()
        .get_extension::<SubjectAltName>()
        .ok()??;
    san.0.iter().find_map(|name| match name {
        GeneralName::RegisteredId(oid) => Some(oid.to_string()),
        _ => None,
    })
}

fn issue_tls(
    ci: &Identity,
    host: &str,
    role: CertRole,
    now: SystemTime,
) -> Result<Identity, SmdpError> {
    let key = PrivateKey::generate(Curve::NistP256)?;
    let mut spec = CertSpec::new(
        role,
        vec![
            (NameAttribute::Organization, "LPA Testbed".to_owned()),
            (NameAttribute::CommonName, host.to_owned()),
        ],
        earlier(now, DAY),
        later(now, 365 * DAY),
    );
    spec.dns_names = vec![host.to_owned()];
    let certificate = issue_certificate(
        &spec,
        &key.public_key(),
        Issuer::Ca {
            certificate: &ci.certificate,
            key: &ci.key,
        },
    )?;
    Ok(Identity::new(certificate, key, role)?)
}

/// Which function a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Es9(es9::Es9Call),
    Es11(es9::Es11Call),
    Es2(es2::Es2Function),
}

impl Route {
    fn of(target: &str, smds: bool) -> Option<Route> {
        use es9::{Es9Call, Es11Call};
        Some(match target {
            "/gsma/rsp2/es9plus/initiateAuthentication" => {
                Route::Es9(Es9Call::InitiateAuthentication)
            }
            "/gsma/rsp2/es9plus/authenticateClient" => Route::Es9(Es9Call::AuthenticateClient),
            "/gsma/rsp2/es9plus/getBoundProfilePackage" => {
                Route::Es9(Es9Call::GetBoundProfilePackage)
            }
            "/gsma/rsp2/es9plus/handleNotification" => Route::Es9(Es9Call::HandleNotification),
            "/gsma/rsp2/es9plus/cancelSession" => Route::Es9(Es9Call::CancelSession),
            "/gsma/rsp2/es11/initiateAuthentication" if smds => {
                Route::Es11(Es11Call::InitiateAuthentication)
            }
            "/gsma/rsp2/es11/authenticateClient" if smds => {
                Route::Es11(Es11Call::AuthenticateClient)
            }
            "/gsma/rsp2/es2plus/downloadOrder" => Route::Es2(es2::Es2Function::DownloadOrder),
            "/gsma/rsp2/es2plus/confirmOrder" => Route::Es2(es2::Es2Function::ConfirmOrder),
            "/gsma/rsp2/es2plus/cancelOrder" => Route::Es2(es2::Es2Function::CancelOrder),
            "/gsma/rsp2/es2plus/releaseProfile" => Route::Es2(es2::Es2Function::ReleaseProfile),
            _ => return None,
        })
    }
}

/// SGP.22 §6.5.1: JSON in UTF-8, and an SGP.22 v2 admin protocol.
fn check_headers(request: &Request) -> Result<(), Failure> {
    let content_type = request.header("Content-Type").unwrap_or_default();
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    let params_ok = parts.all(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("charset")
                && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
    });
    if !media.eq_ignore_ascii_case("application/json") || !params_ok {
        return Err(Failure::new(
            INVALID_CONTENT_TYPE,
            format!("Content-Type {content_type:?} is not application/json;charset=UTF-8"),
        ));
    }
    match request.header("X-Admin-Protocol") {
        Some(v) if is_supported_admin_protocol(v) => Ok(()),
        other => Err(Failure::new(
            UNSUPPORTED_ADMIN_PROTOCOL,
            format!("X-Admin-Protocol {other:?} is not gsma/rsp/v2.x.y"),
        )),
    }
}

/// An HTTP 200 JSON answer.
pub(crate) fn json_response<T: Serialize>(body: &T) -> Response {
    match encode_json(body) {
        Ok(json) => {
            let mut r = Response::with_body(200, CONTENT_TYPE, json);
            r.headers
                .push(("X-Admin-Protocol".into(), X_ADMIN_PROTOCOL.into()));
            r
        }
        Err(e) => Response::with_body(500, "text/plain", e.to_string().into_bytes()),
    }
}

/// The `Failed` answer (HTTP 200, SGP.22 §6.5.1.4).
pub(crate) fn failed(failure: &Failure) -> Response {
    json_response(&Es9Response::<EmptyBody>::failed(
        failure.status_code_data(),
    ))
}

/// The answer for a failure of the server itself.
pub(crate) fn internal(detail: impl fmt::Display) -> Failure {
    Failure::new(EXECUTION_ERROR, detail.to_string())
}

/// `N` random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Failure> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| internal(format!("random source: {e}")))?;
    Ok(out)
}
