//! The pieces plugged into ureq (its `unversioned` transport API): our own TLS connector, the
//! host-override resolver, and the tagging of connection-setup failures.
//!
//! ```text
//!  ConnectPhase(ConnectProxyConnector) -> ConnectPhase(TcpConnector) -> CiTlsConnector
//!   CONNECT tunnel when a proxy is set    a socket otherwise            rustls with our trust
//! ```
//!
//! ureq reports most failures as I/O errors; the connection phase wraps its own in
//! [`SetupFailure`] (inside `ureq::Error::Other`) so that the client can tell a refused
//! certificate ([`HttpError::Tls`]) and a failed connect ([`HttpError::Connect`]) from an I/O
//! error later in the exchange. Timeouts stay `ureq::Error::Timeout` throughout.
//!
//! [`HttpError::Tls`]: crate::http::HttpError::Tls
//! [`HttpError::Connect`]: crate::http::HttpError::Connect

use core::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use super::tls::describe_tls_error;

/// Why a connection could not be set up.
#[derive(Debug)]
pub(crate) enum SetupFailure {
    /// The TLS handshake failed (certificate refused, or the server refused us).
    Tls(String),
    /// Name resolution, the TCP connect or the proxy failed.
    Connect(String),
}

impl fmt::Display for SetupFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupFailure::Tls(reason) | SetupFailure::Connect(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for SetupFailure {}

fn setup(failure: SetupFailure) -> ureq::Error {
    ureq::Error::Other(Box::new(failure))
}

fn is_setup_failure(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::Other(inner) if inner.is::<SetupFailure>())
}

/// `host:port` of a URI, for messages.
fn authority(uri: &Uri) -> String {
    uri.authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default()
}

/// Wraps a connector of the connection phase: whatever fails in it, except a timeout, is a
/// [`SetupFailure::Connect`].
#[derive(Debug)]
pub(crate) struct ConnectPhase<C>(pub C);

impl<In: Transport, C: Connector<In>> Connector<In> for ConnectPhase<C> {
    type Out = C::Out;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        self.0.connect(details, chained).map_err(|e| match e {
            ureq::Error::Timeout(_) => e,
            e if is_setup_failure(&e) => e,
            ureq::Error::ConnectProxyFailed(reason) => setup(SetupFailure::Connect(format!(
                "the proxy did not open a tunnel to {}: {reason}",
                authority(details.uri)
            ))),
            other => setup(SetupFailure::Connect(format!(
                "connecting to {}: {other}",
                authority(details.uri)
            ))),
        })
    }
}

/// Connections to `host:port` go to `addr` instead of what DNS says (curl's `--resolve`, and
/// `--connect-to` when the port differs). The name stays in the URL, so SNI, the certificate
/// check and the `Host` header all use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostOverride {
    pub host: String,
    pub port: u16,
    pub addr: SocketAddr,
}

/// The resolver: host overrides first, then the system resolver.
#[derive(Debug)]
pub(crate) struct OverrideResolver {
    pub overrides: Vec<HostOverride>,
    pub dns: DefaultResolver,
}

impl Resolver for OverrideResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or_else(|| {
            if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            }
        });
        if let Some(found) = self
            .overrides
            .iter()
            .find(|o| o.port == port && o.host.eq_ignore_ascii_case(host))
        {
            log::debug!("{host}:{port} resolved to {} (host override)", found.addr);
            let mut addrs = self.empty();
            addrs.push(found.addr);
            return Ok(addrs);
        }
        self.dns.resolve(uri, config, timeout).map_err(|e| match e {
            ureq::Error::Timeout(_) => e,
            ureq::Error::HostNotFound => {
                setup(SetupFailure::Connect(format!("{host}: host not found")))
            }
            other => setup(SetupFailure::Connect(format!("resolving {host}: {other}"))),
        })
    }
}

/// Wraps the connection in TLS with our client configuration, whose verifier trusts the chosen
/// GSMA CIs.
pub(crate) struct CiTlsConnector {
    pub config: Arc<ClientConfig>,
    /// The trusted CIs in words, for error messages.
    pub trust: Arc<str>,
}

impl fmt::Debug for CiTlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiTlsConnector")
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for CiTlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            // The plain connection to an `http://` CONNECT proxy. Requests to `http://` targets
            // never get this far: `HttpsClient::post` refuses them first, and ureq's
            // `https_only` would too.
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|e| {
            setup(SetupFailure::Tls(format!(
                "{host:?} cannot be a TLS server name: {e}"
            )))
        })?;
        let connection = ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| setup(SetupFailure::Tls(describe_tls_error(&e, host, &self.trust))))?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        let mut stream = StreamOwned::new(connection, socket);
        while stream.conn.is_handshaking() {
            match stream.conn.complete_io(&mut stream.sock) {
                Ok((0, 0)) => {
                    return Err(setup(SetupFailure::Tls(format!(
                        "TLS handshake with {host} made no progress"
                    ))));
                }
                Ok(_) => {}
                Err(e) => return Err(self.handshake_error(e, host)),
            }
        }
        log::debug!(
            "TLS with {host}: {:?}, {:?}",
            stream.conn.protocol_version(),
            stream.conn.negotiated_cipher_suite().map(|s| s.suite())
        );
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport { buffers, stream })))
    }
}

impl CiTlsConnector {
    fn handshake_error(&self, error: io::Error, host: &str) -> ureq::Error {
        if let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return setup(SetupFailure::Tls(describe_tls_error(
                tls,
                host,
                &self.trust,
            )));
        }
        // The adapter hands ureq's own errors (a timeout above all) through io::Error.
        match ureq::Error::from(error) {
            ureq::Error::Timeout(t) => ureq::Error::Timeout(t),
            other => setup(SetupFailure::Tls(format!(
                "TLS handshake with {host} failed: {other}"
            ))),
        }
    }
}

/// An established TLS connection, as ureq drives it.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("connection", &self.stream.conn)
            .finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let output =
            self.buffers.output().get(..amount).ok_or_else(|| {
                io::Error::other("asked to send more than the output buffer holds")
            })?;
        self.stream.write_all(output)?;
        self.stream.flush()?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.sock.set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
