//! The seam to the SM-DP+ and SM-DS: one HTTPS POST at a time.
//!
//! The core builds ES9+/ES11 JSON bodies and reads the answers; this trait only moves bytes.
//! The bundled implementation verifies TLS against the GSMA CI roots; an embedder with its own
//! HTTP stack (a modem's HTTP AT commands, a platform client) implements [`HttpClient`].

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One ES9+/ES11 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `https://<address>/gsma/rsp2/...`.
    pub url: String,
    /// Header names and values (Content-Type, X-Admin-Protocol, User-Agent).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// The answer: status code and body (possibly empty, e.g. 204).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: Vec<u8>,
}

/// Why an HTTP exchange did not produce a response.
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not `https://host[:port]/path` (plain HTTP is refused, SGP.22 §2.6.6.1).
    InvalidUrl(String),
    /// DNS, TCP connect or proxy failure.
    Connect(String),
    /// The server's certificate was refused (untrusted CI, wrong host name, expired...).
    Tls(String),
    /// No complete answer before the deadline.
    Timeout(Duration),
    /// The response body is larger than the client accepts (the cap, in bytes).
    ResponseTooLarge(u64),
    /// Any other I/O failure.
    Io(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(u) => write!(f, "refused URL (https only): {u}"),
            HttpError::Connect(e) => write!(f, "could not connect: {e}"),
            HttpError::Tls(e) => write!(f, "TLS verification failed: {e}"),
            HttpError::Timeout(d) => write!(f, "no answer within {} s", d.as_secs()),
            HttpError::ResponseTooLarge(cap) => {
                write!(f, "response larger than the {cap} bytes accepted")
            }
            HttpError::Io(e) => write!(f, "HTTP exchange failed: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Sends one HTTPS POST and returns the answer. Implementations must verify the server (TLS
/// chain to a GSMA CI, host name) and apply deadlines; they return the status and body of any
/// answer, leaving ES9+ semantics (functionExecutionStatus, 204...) to the caller.
pub trait HttpClient: Send + Sync {
    /// Performs `request`.
    fn post(&self, request: &HttpRequest) -> Result<HttpResponse, HttpError>;

    /// A client that trusts only the CIs whose key identifiers (SKI) the eUICC lists in
    /// euiccCiPKIdListForVerification, leaving `self` as it is: the [`Lpa`](crate::Lpa) asks
    /// for one per eUICC and sends every request through it, so that several LPAs sharing one
    /// base client cannot narrow (or widen) each other's trust.
    ///
    /// `None` (the default) means the client has no trust store of its own to narrow (an
    /// embedder's platform stack that verifies servers itself): `self` is used as it is.
    fn narrowed(&self, _ci_pkids: &[Vec<u8>]) -> Option<Arc<dyn HttpClient>> {
        None
    }

    /// **Deprecated**, use [`HttpClient::narrowed`]: narrows the trust of this very client, for
    /// everyone sharing it. The [`Lpa`](crate::Lpa) no longer calls it. Clients without their
    /// own trust store ignore it. (No `#[deprecated]` attribute yet: implementations outside
    /// this crate still forward it, and would fail `-D warnings`.)
    fn restrict_to_ci_pkids(&self, _ci_pkids: &[Vec<u8>]) {}
}
