//! The bundled ES9+/ES11 HTTPS client: [`HttpsClient`], an [`HttpClient`] whose TLS trust is
//! the GSMA Certificate Issuers, not the web PKI.
//!
//! ```text
//!  HttpRequest ─> HttpsClient::post ─ refuses anything but https:// before any connect
//!                   │ headers and body as the caller built them (es9::REQUEST_HEADERS)
//!                   v
//!                 ureq (HTTP/1.1, keep-alive, no redirects, any status returned)
//!                   │  resolver:  host overrides (curl --resolve) ─> else DNS
//!                   │  connector: [CONNECT proxy] ─> TCP ─> rustls (CiTlsConnector)
//!                   v
//!                 trust = bundled GSMA CIs ∩ the eUICC's euiccCiPKIdListForVerification
//!                         + the caller's roots          (webpki: chain, name, validity, EKU)
//! ```
//!
//! # Trust
//!
//! The SM-DP+ and SM-DS present TLS certificates (CERT.DP.TLS, CERT.DS.TLS) issued under a GSMA
//! CI (SGP.22 §4.5.2.2), so the client trusts CI certificates: the live GSMA RSP2 Root CI1 by
//! default, the SGP.26 test CIs on request ([`BundledTrust`]), and any roots the caller adds.
//! Once the LPA has read the eUICC's euiccCiPKIdListForVerification (EUICCInfo1), it asks for
//! [`HttpClient::narrowed`]: a new client (sharing the configuration) in which only the bundled
//! CIs the eUICC lists stay trusted; the caller's roots always stay. The client it was made
//! from is unchanged, so LPAs sharing one base client do not touch each other's trust. If
//! nothing is left, every request of the narrowed client fails with [`HttpError::Tls`] before
//! connecting.
//!
//! Verification is never skipped silently. The development-only [`HttpsConfig::insecure`]
//! switch accepts any certificate and logs a `warn!` when the client is built, on every request
//! and on every handshake.
//!
//! # Deadlines and limits
//!
//! Setting up a connection (name resolution, TCP, proxy tunnel, TLS handshake) may take
//! [`HttpsConfig::connect_timeout`]; each later phase (sending the request, waiting for the
//! response head, reading the body) [`HttpsConfig::response_timeout`], and the whole exchange
//! never more than the two together. A Bound Profile Package can be large and slow to produce,
//! hence the generous default response timeout. Neither timeout may exceed [`MAX_TIMEOUT`] (a
//! day; deadlines are instants, and an instant plus a huge duration overflows). Bodies larger than
//! [`HttpsConfig::max_response_size`] are refused, never truncated.
//!
//! # Errors
//!
//! | what happened | [`HttpError`] |
//! |---|---|
//! | not `https://host[:port]/...` | `InvalidUrl` (nothing is sent) |
//! | no trusted CI left after narrowing | `Tls` (nothing is sent) |
//! | DNS, TCP connect, proxy unreachable or refusing the tunnel | `Connect` |
//! | certificate refused (unknown CI, wrong name, expired...) or handshake refused | `Tls` |
//! | a deadline passed | `Timeout` (with the deadline that passed) |
//! | body over the cap | `ResponseTooLarge` |
//! | the connection broke later, malformed HTTP | `Io` |
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use lpa::http::{HttpClient, HttpRequest};
//! use lpa::https::{BundledTrust, HttpsConfig};
//! use lpa_core::es9::{self, Es9Function};
//!
//! let client = HttpsConfig::new()
//!     .bundled_cis(BundledTrust::Live)
//!     .response_timeout(Duration::from_secs(90))
//!     .build()?;
//! // After GetEuiccInfo1: trust only the CIs this eUICC lists (here: GSMA RSP2 Root CI1).
//! let euicc_ci_pkids = vec![lpa::https::GSMA_RSP2_ROOT_CI1.ski.to_vec()];
//! let client = client.narrowed(&euicc_ci_pkids).expect("HttpsClient has a trust store");
//! let request = HttpRequest {
//!     url: es9::es9plus_url("smdp.example.com", Es9Function::InitiateAuthentication)?,
//!     headers: es9::REQUEST_HEADERS
//!         .iter()
//!         .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
//!         .collect(),
//!     body: b"{}".to_vec(),
//! };
//! let response = client.post(&request)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod tls;
mod transport;
mod trust;

use core::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::UnixTime;
use ureq::Agent;
use ureq::config::AutoHeaderValue;
use ureq::http::Uri;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector, TcpConnector};

use crate::http::{HttpClient, HttpError, HttpRequest, HttpResponse};
use transport::{CiTlsConnector, ConnectPhase, HostOverride, OverrideResolver, SetupFailure};
use trust::Anchor;
pub use trust::{
    BUNDLED_CIS, BundledCi, BundledTrust, CiKind, GSMA_RSP2_ROOT_CI1, SGP26_TEST_CI_BRP,
    SGP26_TEST_CI_NIST, TrustedCi,
};

/// Default for [`HttpsConfig::connect_timeout`]: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`HttpsConfig::response_timeout`]: 60 s.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest [`HttpsConfig::connect_timeout`] or [`HttpsConfig::response_timeout`] accepted:
/// one day. Longer ones (e.g. `Duration::MAX`) are refused by [`HttpsConfig::build`] instead
/// of overflowing when a deadline is computed.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Default for [`HttpsConfig::max_response_size`]: 16 MiB, far above any Bound Profile Package
/// (a large profile is some hundred KiB, base64 adds a third).
pub const DEFAULT_MAX_RESPONSE_SIZE: u64 = 16 * 1024 * 1024;

/// How an [`HttpsClient`] connects and whom it trusts. Build it with the methods below, then
/// [`HttpsConfig::build`].
///
/// ```
/// use std::time::Duration;
/// use lpa::https::{BundledTrust, HttpsConfig};
///
/// let config = HttpsConfig::new()
///     .bundled_cis(BundledTrust::LiveAndTest)
///     .connect_timeout(Duration::from_secs(5))
///     .resolve("testsmdpplus1.example.com", 443, "127.0.0.1:8443".parse().unwrap());
/// let client = config.build().unwrap();
/// assert_eq!(client.trusted_cis().len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpsConfig {
    connect_timeout: Duration,
    response_timeout: Duration,
    max_response_size: u64,
    proxy: Option<String>,
    overrides: Vec<HostOverride>,
    bundled: BundledTrust,
    roots: Vec<Vec<u8>>,
    verification_time: Option<SystemTime>,
    insecure: bool,
}

impl Default for HttpsConfig {
    fn default() -> Self {
        HttpsConfig {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
            proxy: None,
            overrides: Vec::new(),
            bundled: BundledTrust::default(),
            roots: Vec::new(),
            verification_time: None,
            insecure: false,
        }
    }
}

impl HttpsConfig {
    /// The defaults: the live GSMA CIs, 10 s to connect, 60 s per response phase, 16 MiB, no
    /// proxy (proxy environment variables are not read), the system resolver, the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// Longest time to set up a connection: name resolution, TCP connect, proxy tunnel and TLS
    /// handshake (each of resolution and the rest may take this long).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Longest time for each phase after the connection: sending the request, waiting for the
    /// response head, reading the body. The whole exchange is also capped at
    /// `connect_timeout + response_timeout`.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Largest response body accepted, in bytes; a larger one fails with
    /// [`HttpError::ResponseTooLarge`].
    pub fn max_response_size(mut self, bytes: u64) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// Tunnels every connection through an HTTP proxy with `CONNECT`:
    /// `http://[user:password@]host:port`. TLS still runs end to end with the SM-DP+, and the
    /// proxy resolves the SM-DP+ name itself (host overrides then only apply to the proxy's own
    /// name).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Sends connections for `host:port` (port as in the URL, 443 when it has none) to `addr`,
    /// like curl's `--resolve` (or `--connect-to` when the port differs). The name stays the
    /// name: TLS SNI, the certificate check and the `Host` header use it. Later entries for the
    /// same `host:port` are ignored.
    pub fn resolve(mut self, host: impl Into<String>, port: u16, addr: SocketAddr) -> Self {
        self.overrides.push(HostOverride {
            host: host.into(),
            port,
            addr,
        });
        self
    }

    /// Which bundled CI certificates to trust ([`BundledTrust::Live`] by default).
    pub fn bundled_cis(mut self, trust: BundledTrust) -> Self {
        self.bundled = trust;
        self
    }

    /// Also trusts this CA certificate (DER). Caller roots are never removed by
    /// [`HttpClient::restrict_to_ci_pkids`]. Use it for another live CI, or a test CI.
    pub fn add_root(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.roots.push(der.into());
        self
    }

    /// Validates certificates at this time instead of the system clock's.
    pub fn verification_time(mut self, at: SystemTime) -> Self {
        self.verification_time = Some(at);
        self
    }

    /// **Development only.** With `true`, the server's certificate is not verified at all (any
    /// issuer, any name, any validity); only the handshake signature is checked against the
    /// key of the certificate shown. Anyone on the network path can then impersonate the
    /// SM-DP+. The client logs a `warn!` when built, on every request and on every handshake.
    /// Never the default.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<HttpsClient, HttpsConfigError> {
        HttpsClient::new(self)
    }
}

/// Why an [`HttpsConfig`] cannot make a client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpsConfigError {
    /// A timeout is zero or longer than [`MAX_TIMEOUT`], the size cap is zero, or a host
    /// override has no host.
    InvalidOption(String),
    /// The proxy is not `http://host:port`.
    InvalidProxy(String),
    /// A root given with [`HttpsConfig::add_root`] is not a DER certificate.
    InvalidRoot {
        /// Its position among the added roots, from 0.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// No bundled CI and no caller root: nothing could ever be trusted.
    NoTrustAnchors,
    /// The TLS configuration could not be set up.
    Tls(String),
}

impl fmt::Display for HttpsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpsConfigError::InvalidOption(e) => write!(f, "HTTPS client option: {e}"),
            HttpsConfigError::InvalidProxy(e) => write!(f, "HTTPS proxy: {e}"),
            HttpsConfigError::InvalidRoot { index, reason } => {
                write!(f, "trusted root #{index}: {reason}")
            }
            HttpsConfigError::NoTrustAnchors => {
                f.write_str("no trusted CI: no bundled CI chosen and no root added")
            }
            HttpsConfigError::Tls(e) => write!(f, "HTTPS client TLS: {e}"),
        }
    }
}

impl std::error::Error for HttpsConfigError {}

/// The bundled [`HttpClient`]: ES9+/ES11 POSTs over HTTPS with GSMA CI trust. See the
/// [module documentation](self). Cheap to share behind an `Arc`; requests may run from several
/// threads at once.
pub struct HttpsClient {
    /// The configuration, shared with the clients [`HttpClient::narrowed`] makes.
    shared: Arc<Shared>,
    /// The agent for the current trust; replaced only by the deprecated
    /// [`HttpClient::restrict_to_ci_pkids`].
    current: RwLock<Current>,
}

/// What a client and the narrowed clients made from it share.
#[derive(Debug)]
struct Shared {
    settings: Settings,
    /// Every anchor the configuration allows, bundled ones first.
    anchors: Vec<Anchor>,
}

/// What does not change after [`HttpsConfig::build`].
#[derive(Debug)]
struct Settings {
    connect_timeout: Duration,
    response_timeout: Duration,
    max_response_size: u64,
    proxy: Option<ureq::Proxy>,
    overrides: Vec<HostOverride>,
    verification_time: Option<UnixTime>,
    insecure: bool,
}

/// The trust in force and its agent.
#[derive(Clone, Debug)]
struct Current {
    trusted: Vec<TrustedCi>,
    /// `Err`: no request can be made, and why.
    agent: Result<Agent, String>,
}

impl fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpsClient")
            .field("settings", &self.shared.settings)
            .field("trusted", &self.current().trusted)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// Same as [`HttpsConfig::build`].
    pub fn new(config: HttpsConfig) -> Result<Self, HttpsConfigError> {
        if config.connect_timeout.is_zero() || config.response_timeout.is_zero() {
            return Err(HttpsConfigError::InvalidOption(
                "timeouts must not be zero".into(),
            ));
        }
        if config.connect_timeout > MAX_TIMEOUT || config.response_timeout > MAX_TIMEOUT {
            return Err(HttpsConfigError::InvalidOption(format!(
                "timeouts must not exceed {} s",
                MAX_TIMEOUT.as_secs()
            )));
        }
        if config.max_response_size == 0 {
            return Err(HttpsConfigError::InvalidOption(
                "the response size cap must not be zero".into(),
            ));
        }
        if let Some(o) = config.overrides.iter().find(|o| o.host.is_empty()) {
            return Err(HttpsConfigError::InvalidOption(format!(
                "host override to {} has no host name",
                o.addr
            )));
        }
        let proxy = config.proxy.as_deref().map(parse_proxy).transpose()?;
        let verification_time = config
            .verification_time
            .map(|t| {
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map(UnixTime::since_unix_epoch)
                    .map_err(|_| {
                        HttpsConfigError::InvalidOption(
                            "the verification time is before 1970".into(),
                        )
                    })
            })
            .transpose()?;

        let mut anchors = Vec::new();
        for ci in config.bundled.cis() {
            anchors.push(Anchor::bundled(ci).map_err(|reason| {
                HttpsConfigError::Tls(format!("bundled {}: {reason}", ci.name))
            })?);
        }
        for (index, der) in config.roots.iter().enumerate() {
            anchors.push(
                Anchor::caller(index, der)
                    .map_err(|reason| HttpsConfigError::InvalidRoot { index, reason })?,
            );
        }
        if anchors.is_empty() && !config.insecure {
            return Err(HttpsConfigError::NoTrustAnchors);
        }

        let settings = Settings {
            connect_timeout: config.connect_timeout,
            response_timeout: config.response_timeout,
            max_response_size: config.max_response_size,
            proxy,
            overrides: config.overrides,
            verification_time,
            insecure: config.insecure,
        };
        if settings.insecure {
            log::warn!(
                "INSECURE HTTPS client: SM-DP+/SM-DS certificates will NOT be verified \
                 (HttpsConfig::insecure). Development only: anyone on the path can impersonate \
                 the server."
            );
        }
        let all: Vec<&Anchor> = anchors.iter().collect();
        let current = Current::new(&settings, &all).map_err(HttpsConfigError::Tls)?;
        Ok(HttpsClient {
            shared: Arc::new(Shared { settings, anchors }),
            current: RwLock::new(current),
        })
    }

    /// The CIs trusted right now (after any narrowing), bundled ones first. Empty in
    /// insecure mode, which trusts anything.
    pub fn trusted_cis(&self) -> Vec<TrustedCi> {
        if self.shared.settings.insecure {
            return Vec::new();
        }
        self.current().trusted
    }

    fn current(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The trust narrowed to `ci_pkids`, from every anchor the configuration allows.
    fn narrowed_current(&self, ci_pkids: &[Vec<u8>]) -> Current {
        let kept = trust::narrow(&self.shared.anchors, ci_pkids);
        let current = Current::new(&self.shared.settings, &kept).unwrap_or_else(|reason| Current {
            trusted: Vec::new(),
            agent: Err(reason),
        });
        log::info!(
            "HTTPS trust narrowed to the eUICC's CIs: {}",
            trust::describe(&kept)
        );
        current
    }

    fn map_error(&self, error: ureq::Error) -> HttpError {
        let s = &self.shared.settings;
        match error {
            ureq::Error::Timeout(which) => HttpError::Timeout(match which {
                ureq::Timeout::Resolve | ureq::Timeout::Connect => s.connect_timeout,
                ureq::Timeout::Global | ureq::Timeout::PerCall => {
                    s.connect_timeout.saturating_add(s.response_timeout)
                }
                _ => s.response_timeout,
            }),
            ureq::Error::Other(inner) => match inner.downcast::<SetupFailure>() {
                Ok(failure) => match *failure {
                    SetupFailure::Tls(reason) => HttpError::Tls(reason),
                    SetupFailure::Connect(reason) => HttpError::Connect(reason),
                },
                Err(other) => HttpError::Io(other.to_string()),
            },
            ureq::Error::BodyExceedsLimit(_) => HttpError::ResponseTooLarge(s.max_response_size),
            ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
                HttpError::Connect(error.to_string())
            }
            ureq::Error::ConnectProxyFailed(reason) => HttpError::Connect(reason),
            ureq::Error::BadUri(uri) => HttpError::InvalidUrl(uri),
            ureq::Error::RequireHttpsOnly(uri) => HttpError::InvalidUrl(uri),
            ureq::Error::TlsRequired => HttpError::Tls("the server connection is not TLS".into()),
            other => HttpError::Io(other.to_string()),
        }
    }
}

impl Current {
    fn new(settings: &Settings, anchors: &[&Anchor]) -> Result<Current, String> {
        let trusted = anchors.iter().map(|a| a.info.clone()).collect();
        if anchors.is_empty() && !settings.insecure {
            return Ok(Current {
                trusted,
                agent: Err(
                    "no trusted CI: the eUICC lists none of the bundled CIs and no root was added"
                        .into(),
                ),
            });
        }
        let tls = tls::client_config(anchors, settings.verification_time, settings.insecure)?;
        let connector =
            ().chain(ConnectPhase(ConnectProxyConnector::default()))
                .chain(ConnectPhase(TcpConnector::default()))
                .chain(CiTlsConnector {
                    config: tls,
                    trust: trust::describe(anchors).into(),
                });
        let resolver = OverrideResolver {
            overrides: settings.overrides.clone(),
            dns: DefaultResolver::default(),
        };
        let response = Some(settings.response_timeout);
        let config = Agent::config_builder()
            .https_only(true)
            .http_status_as_error(false)
            .max_redirects(0)
            // The caller's headers are the ones that matter (User-Agent: gsma-rsp-lpad).
            .user_agent(AutoHeaderValue::None)
            .proxy(settings.proxy.clone())
            .timeout_resolve(Some(settings.connect_timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_send_request(response)
            .timeout_send_body(response)
            .timeout_recv_response(response)
            .timeout_recv_body(response)
            .timeout_per_call(Some(
                settings
                    .connect_timeout
                    .saturating_add(settings.response_timeout),
            ))
            .build();
        Ok(Current {
            trusted,
            agent: Ok(Agent::with_parts(config, connector, resolver)),
        })
    }
}

impl HttpClient for HttpsClient {
    fn post(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        check_https_url(&request.url)?;
        if self.shared.settings.insecure {
            log::warn!(
                "INSECURE: POST {} without verifying the server certificate",
                request.url
            );
        }
        let agent = self.current().agent.map_err(HttpError::Tls)?;
        let mut builder = agent.post(&request.url);
        for (name, value) in &request.headers {
            if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || ureq::http::HeaderValue::from_str(value).is_err()
            {
                return Err(HttpError::Io(format!(
                    "request header {name:?} is not valid HTTP"
                )));
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        log::debug!("POST {} ({} bytes)", request.url, request.body.len());
        let mut response = builder
            .send(request.body.as_slice())
            .map_err(|e| self.map_error(e))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.shared.settings.max_response_size)
            .read_to_vec()
            .map_err(|e| self.map_error(e))?;
        log::debug!("{} answered {status} ({} bytes)", request.url, body.len());
        Ok(HttpResponse { status, body })
    }

    /// A new client sharing this one's configuration, trusting the bundled CIs `ci_pkids`
    /// lists and the caller's roots; `self` keeps its trust. `None` in insecure mode, which
    /// verifies nothing to narrow.
    fn narrowed(&self, ci_pkids: &[Vec<u8>]) -> Option<Arc<dyn HttpClient>> {
        if self.shared.settings.insecure {
            log::warn!("INSECURE: trust not narrowed, nothing is verified anyway");
            return None;
        }
        Some(Arc::new(HttpsClient {
            shared: Arc::clone(&self.shared),
            current: RwLock::new(self.narrowed_current(ci_pkids)),
        }))
    }

    fn restrict_to_ci_pkids(&self, ci_pkids: &[Vec<u8>]) {
        if self.shared.settings.insecure {
            log::warn!("INSECURE: restrict_to_ci_pkids ignored, nothing is verified anyway");
            return;
        }
        let current = self.narrowed_current(ci_pkids);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = current;
    }
}

/// Accepts `https://host[:port][/path]` only (SGP.22 §2.6.6.1: no plain HTTP).
fn check_https_url(url: &str) -> Result<(), HttpError> {
    let refuse = || HttpError::InvalidUrl(url.to_owned());
    let uri: Uri = url.parse().map_err(|_| refuse())?;
    let has_user_info = uri.authority().is_some_and(|a| a.as_str().contains('@'));
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme), Some(host))
            if scheme.eq_ignore_ascii_case("https") && !host.is_empty() && !has_user_info =>
        {
            Ok(())
        }
        _ => Err(refuse()),
    }
}

/// Accepts `http://[user:password@]host:port` for a CONNECT proxy.
fn parse_proxy(url: &str) -> Result<ureq::Proxy, HttpsConfigError> {
    let invalid = |why: &str| HttpsConfigError::InvalidProxy(format!("{url:?}: {why}"));
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    if !uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http"))
    {
        return Err(invalid("only http:// CONNECT proxies are supported"));
    }
    if uri.host().is_none_or(str::is_empty) || uri.port_u16().is_none() {
        return Err(invalid("expected http://host:port"));
    }
    ureq::Proxy::new(url).map_err(|e| invalid(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_pass() {
        for ok in [
            "https://smdp.example.com/gsma/rsp2/es9plus/initiateAuthentication",
            "HTTPS://smdp.example.com:8443/x",
            "https://127.0.0.1/x",
        ] {
            assert!(check_https_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://smdp.example.com/gsma/rsp2/es9plus/initiateAuthentication",
            "ftp://smdp.example.com/",
            "smdp.example.com/x",
            "https:///x",
            "https://user:pw@smdp.example.com/x",
            "",
        ] {
            assert!(
                matches!(check_https_url(bad), Err(HttpError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn proxies_must_be_http_with_a_port() {
        assert!(parse_proxy("http://proxy.example.com:3128").is_ok());
        assert!(parse_proxy("http://user:pw@127.0.0.1:8080").is_ok());
        for bad in [
            "https://proxy.example.com:3128",
            "socks5://127.0.0.1:1080",
            "http://proxy.example.com",
            "proxy",
        ] {
            assert!(parse_proxy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configuration_is_checked() {
        let zero = HttpsConfig::new().connect_timeout(Duration::ZERO).build();
        assert!(matches!(zero, Err(HttpsConfigError::InvalidOption(_))));
        // `--http-timeout 18446744073709551615` once panicked inside ureq (instant overflow).
        for huge in [MAX_TIMEOUT + Duration::from_secs(1), Duration::MAX] {
            let r = HttpsConfig::new().response_timeout(huge).build();
            assert!(matches!(r, Err(HttpsConfigError::InvalidOption(_))));
            let c = HttpsConfig::new().connect_timeout(huge).build();
            assert!(matches!(c, Err(HttpsConfigError::InvalidOption(_))));
        }
        assert!(
            HttpsConfig::new()
                .response_timeout(MAX_TIMEOUT)
                .build()
                .is_ok()
        );
        let nothing = HttpsConfig::new().bundled_cis(BundledTrust::None).build();
        assert!(matches!(nothing, Err(HttpsConfigError::NoTrustAnchors)));
        let garbage = HttpsConfig::new()
            .add_root(b"not a certificate".to_vec())
            .build();
        assert!(matches!(
            garbage,
            Err(HttpsConfigError::InvalidRoot { index: 0, .. })
        ));
        let live = HttpsConfig::new().build().unwrap();
        let names: Vec<String> = live.trusted_cis().into_iter().map(|c| c.label).collect();
        assert_eq!(names, ["GSMA RSP2 Root CI1"]);
    }
}
