//! The bundled HTTPS client against real servers on 127.0.0.1: the testbed's SM-DP+
//! (`SmdpServer`) with generated test PKIs, a small rustls server for certificates the testbed
//! does not serve (SGP.26, expired, issued under the SGP.26 test CI), a CONNECT proxy, and
//! servers that never answer.
//!
//! SGP.26 material comes from `testbed/tests/data/sgp26/` (see its PROVENANCE.md).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lpa::http::{HttpClient, HttpError, HttpRequest};
use lpa::https::{
    BUNDLED_CIS, BundledTrust, GSMA_RSP2_ROOT_CI1, HttpsClient, HttpsConfig, SGP26_TEST_CI_BRP,
    SGP26_TEST_CI_NIST,
};
use lpa_core::es9::{self, Es9Function};
use lpa_testbed::pki::{
    CertRole, CertSpec, Curve, Identity, Issuer, NameAttribute, PrivateKey, TestPki,
    TestPkiOptions, issue_certificate, load_identity,
};
use lpa_testbed::smdp::{ServerOptions, Smdp, SmdpConfig, SmdpServer};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use sha2::{Digest, Sha256};

const HOST: &str = "testsmdpplus1.example.com";
const DAY: Duration = Duration::from_secs(24 * 3600);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn test_pki() -> TestPki {
    let now = SystemTime::now();
    TestPki::generate(&TestPkiOptions::new(
        Curve::NistP256,
        now - DAY,
        now + 3650 * DAY,
    ))
    .unwrap()
}

fn start_smdp(pki: &TestPki) -> SmdpServer {
    let smdp = Smdp::new(SmdpConfig::from_pki(pki)).unwrap();
    SmdpServer::start(Arc::new(smdp), ServerOptions::default()).unwrap()
}

/// An ES9+ request as the LPA sends it, to `https://<address>/...`.
fn es9_request(address: &str, body: &[u8]) -> HttpRequest {
    HttpRequest {
        url: es9::es9plus_url(address, Es9Function::InitiateAuthentication).unwrap(),
        headers: es9::REQUEST_HEADERS
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

/// A client trusting `pki`'s CI that reaches `HOST` (port 443 in the URL) at `addr`.
fn client_for(pki: &TestPki, addr: SocketAddr) -> HttpsClient {
    HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .resolve(HOST, 443, addr)
        .build()
        .unwrap()
}

fn sgp26_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testbed/tests/data/sgp26")
}

/// The SGP.26 NIST test CI with its (published) private key.
fn sgp26_ci() -> Identity {
    let dir = sgp26_dir().join("CertificateIssuer");
    load_identity(
        &dir.join("CERT_CI_ECDSA_NIST.der"),
        &dir.join("SK_CI_ECDSA_NIST.pem"),
        CertRole::Ci,
    )
    .unwrap()
}

/// A fresh SM-DP+ TLS certificate for `host` issued by `ci`.
fn issue_tls(ci: &Identity, host: &str, not_before: SystemTime, not_after: SystemTime) -> Identity {
    let key = PrivateKey::generate(Curve::NistP256).unwrap();
    let mut spec = CertSpec::new(
        CertRole::DpTls,
        vec![
            (NameAttribute::Organization, "LPA https tests".to_owned()),
            (NameAttribute::CommonName, host.to_owned()),
        ],
        not_before,
        not_after,
    );
    spec.dns_names = vec![host.to_owned()];
    let certificate = issue_certificate(
        &spec,
        &key.public_key(),
        Issuer::Ca {
            certificate: &ci.certificate,
            key: &ci.key,
        },
    )
    .unwrap();
    Identity::new(certificate, key, CertRole::DpTls).unwrap()
}

fn at(unix_seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_seconds)
}

/// What [`TlsServer`] does once it has read a request.
#[derive(Clone)]
enum Reply {
    /// Answers with this status and body, then closes.
    Answer(u16, Vec<u8>),
    /// Never answers (until the server is dropped).
    Never,
}

/// A minimal HTTPS server (rustls, one connection at a time) serving one certificate. It
/// records every request head it reads.
struct TlsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    fn start(identity: &Identity, reply: Reply) -> TlsServer {
        let key = identity.key.to_pkcs8_der().unwrap();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![CertificateDer::from(identity.certificate.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
                )
                .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted, requests) = (stop.clone(), accepted.clone(), requests.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((tcp, _)) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            serve_one(tcp, &config, &reply, &stop, &requests);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        TlsServer {
            addr,
            stop,
            accepted,
            requests,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn serve_one(
    tcp: TcpStream,
    config: &Arc<ServerConfig>,
    reply: &Reply,
    stop: &AtomicBool,
    requests: &Mutex<Vec<String>>,
) {
    tcp.set_nonblocking(false).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut tls = StreamOwned::new(ServerConnection::new(config.clone()).unwrap(), tcp);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_len = loop {
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            return;
        }
        match tls.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // A refused handshake ends here.
            Err(_) => return,
        }
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..head_len]).into_owned();
    let content_length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while received.len() < head_len + content_length {
        match tls.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    requests.lock().unwrap().push(head);
    match reply {
        Reply::Never => {
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
        }
        Reply::Answer(status, body) => {
            let mut response = format!(
                "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            response.extend_from_slice(body);
            let _ = tls.write_all(&response);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    }
}

/// A CONNECT proxy that tunnels every request to `upstream` (whatever host it names) and
/// records the request lines; with `refuse`, it answers `403` instead.
struct ConnectProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    sockets: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl ConnectProxy {
    fn start(upstream: SocketAddr, refuse: bool) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sockets = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen, sockets) = (stop.clone(), seen.clone(), sockets.clone());
            thread::spawn(move || {
                let mut pumps = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let Ok((client, _)) = listener.accept() else {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    if let Some(more) = tunnel(client, upstream, refuse, &seen, &sockets) {
                        pumps.extend(more);
                    }
                }
                for socket in sockets.lock().unwrap().iter() {
                    let _ = socket.shutdown(Shutdown::Both);
                }
                for pump in pumps {
                    pump.join().unwrap();
                }
            })
        };
        ConnectProxy {
            addr,
            stop,
            seen,
            sockets,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        drop(self.sockets.lock().unwrap().drain(..));
    }
}

fn tunnel(
    mut client: TcpStream,
    upstream: SocketAddr,
    refuse: bool,
    seen: &Mutex<Vec<String>>,
    sockets: &Mutex<Vec<TcpStream>>,
) -> Option<[JoinHandle<()>; 2]> {
    client.set_nonblocking(false).ok()?;
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    // The client sends nothing after its CONNECT head until it has the answer, so reading
    // byte by byte to the blank line consumes nothing of the tunnel.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    seen.lock()
        .unwrap()
        .push(head.lines().next().unwrap_or_default().to_owned());
    if refuse {
        let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        return None;
    }
    let server = TcpStream::connect(upstream).ok()?;
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .ok()?;
    client.set_read_timeout(None).ok()?;
    let mut sockets = sockets.lock().unwrap();
    sockets.push(client.try_clone().ok()?);
    sockets.push(server.try_clone().ok()?);
    let pump = |mut from: TcpStream, mut to: TcpStream| {
        thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    Some([
        pump(client.try_clone().ok()?, server.try_clone().ok()?),
        pump(server, client),
    ])
}

/// Records every log line (warnings and above) of the whole test binary.
struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

fn captured_warnings() -> Vec<String> {
    CAPTURE
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, _)| *level <= log::Level::Warn)
        .map(|(_, line)| line.clone())
        .collect()
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CAPTURE).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
    });
}

fn expect_tls(result: Result<lpa::http::HttpResponse, HttpError>) -> String {
    match result {
        Err(HttpError::Tls(reason)) => reason,
        other => panic!("expected a TLS refusal, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Against the testbed SM-DP+
// ---------------------------------------------------------------------------------------------

#[test]
fn es9_post_reaches_the_testbed_through_a_host_override() {
    let pki = test_pki();
    let server = start_smdp(&pki);
    let client = client_for(&pki, server.addr());

    // The LPA's URL has no port, as an activation code's SM-DP+ address has none.
    let response = client.post(&es9_request(HOST, b"not json")).unwrap();
    assert_eq!(response.status, 200);
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains("\"Failed\""), "{body}");
    // The server saw our Content-Type and X-Admin-Protocol (else it would say 1.2.1 / 1.2.2).
    assert!(
        !body.contains("\"1.2.1\"") && !body.contains("\"1.2.2\""),
        "{body}"
    );

    // A second request reuses nothing that would bypass the checks, and works the same.
    let again = client.post(&es9_request(HOST, b"{}")).unwrap();
    assert_eq!(again.status, 200);
}

#[test]
fn an_explicit_port_and_a_missing_header_reach_the_server_as_given() {
    let pki = test_pki();
    let server = start_smdp(&pki);
    let port = server.addr().port();
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .resolve(HOST, port, server.addr())
        .build()
        .unwrap();
    let mut request = es9_request(&format!("{HOST}:{port}"), b"{}");
    request.headers.retain(|(name, _)| name != "Content-Type");
    let response = client.post(&request).unwrap();
    let body = String::from_utf8(response.body).unwrap();
    // The testbed's answer to a missing Content-Type (SGP.22 subject code 1.2.1).
    assert!(body.contains("\"1.2.1\""), "{body}");
}

#[test]
fn a_server_under_an_untrusted_ci_is_refused() {
    let pki = test_pki();
    let other = test_pki();
    let server = start_smdp(&other);
    let client = client_for(&pki, server.addr());
    let reason = expect_tls(client.post(&es9_request(HOST, b"{}")));
    // Generated CIs share their name, so webpki finds "our" CI and the signature fails.
    assert!(reason.contains("bad signature"), "{reason}");
    assert!(reason.contains("caller root #0 ["), "{reason}");
}

#[test]
fn another_host_name_at_the_testbed_is_refused() {
    let pki = test_pki();
    let server = start_smdp(&pki);
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .resolve("testsmdpplus9.example.com", 443, server.addr())
        .build()
        .unwrap();
    // The testbed chooses its certificate by SNI and has none for this name, so it ends the
    // handshake itself; the client check is proven against a server that answers anyway, in
    // `a_certificate_for_another_host_name_is_refused`.
    let reason = expect_tls(client.post(&es9_request("testsmdpplus9.example.com", b"{}")));
    assert!(reason.contains("testsmdpplus9.example.com"), "{reason}");
}

#[test]
fn caller_roots_survive_restriction() {
    let pki = test_pki();
    let server = start_smdp(&pki);
    let base = client_for(&pki, server.addr());
    let client = base.narrowed(&[]).unwrap();
    assert_eq!(base.trusted_cis().len(), 2, "the base keeps the live CI");
    assert_eq!(client.post(&es9_request(HOST, b"{}")).unwrap().status, 200);
}

#[test]
fn plain_http_is_refused_before_any_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = HttpsConfig::new()
        .resolve(HOST, port, listener.local_addr().unwrap())
        .build()
        .unwrap();
    let mut request = es9_request(HOST, b"{}");
    request.url = format!("http://{HOST}:{port}/gsma/rsp2/es9plus/initiateAuthentication");
    assert!(matches!(
        client.post(&request),
        Err(HttpError::InvalidUrl(url)) if url == request.url
    ));
    request.url = format!("http://127.0.0.1:{port}/gsma/rsp2/es9plus/initiateAuthentication");
    assert!(matches!(
        client.post(&request),
        Err(HttpError::InvalidUrl(_))
    ));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock,
        "something connected"
    );
}

#[test]
fn a_connect_proxy_tunnels_to_the_server() {
    let pki = test_pki();
    let server = start_smdp(&pki);
    let proxy = ConnectProxy::start(server.addr(), false);
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .proxy(format!("http://{}", proxy.addr))
        .build()
        .unwrap();
    let response = client.post(&es9_request(HOST, b"{}")).unwrap();
    assert_eq!(response.status, 200);
    assert!(String::from_utf8_lossy(&response.body).contains("\"Failed\""));
    // The proxy was asked for the name, not an address: TLS still checks the name end to end.
    assert_eq!(proxy.seen(), [format!("CONNECT {HOST}:443 HTTP/1.1")]);
}

#[test]
fn a_proxy_that_refuses_or_is_down_is_a_connect_error() {
    let pki = test_pki();
    let server = start_smdp(&pki);
    let proxy = ConnectProxy::start(server.addr(), true);
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .proxy(format!("http://{}", proxy.addr))
        .build()
        .unwrap();
    let result = client.post(&es9_request(HOST, b"{}"));
    assert!(
        matches!(&result, Err(HttpError::Connect(reason)) if reason.contains("403")),
        "{result:?}"
    );

    // 127.0.0.2, which no test binds: a freed 127.0.0.1 port can be reused at once by a
    // parallel test's listener.
    let closed = {
        let listener = TcpListener::bind("127.0.0.2:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .proxy(format!("http://{closed}"))
        .build()
        .unwrap();
    let result = client.post(&es9_request(HOST, b"{}"));
    assert!(matches!(result, Err(HttpError::Connect(_))), "{result:?}");
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    // 127.0.0.2, which no test binds: a freed 127.0.0.1 port can be reused at once by a
    // parallel test's listener.
    let closed = {
        let listener = TcpListener::bind("127.0.0.2:0").unwrap();
        listener.local_addr().unwrap()
    };
    let client = HttpsConfig::new()
        .resolve(HOST, 443, closed)
        .build()
        .unwrap();
    let result = client.post(&es9_request(HOST, b"{}"));
    assert!(matches!(result, Err(HttpError::Connect(_))), "{result:?}");
}

#[test]
fn a_server_that_accepts_but_never_answers_times_out() {
    // The kernel completes the TCP handshake for the backlog; nobody ever reads.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = HttpsConfig::new()
        .resolve(HOST, 443, silent.local_addr().unwrap())
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let result = client.post(&es9_request(HOST, b"{}"));
    assert!(
        matches!(result, Err(HttpError::Timeout(d)) if d == Duration::from_secs(1)),
        "{result:?}"
    );
}

#[test]
fn insecure_mode_warns_and_accepts_an_untrusted_server() {
    capture_logs();
    let untrusted = test_pki();
    let server = start_smdp(&untrusted);
    let client = HttpsConfig::new()
        .insecure(true)
        .resolve(HOST, 443, server.addr())
        .build()
        .unwrap();
    assert!(
        captured_warnings()
            .iter()
            .any(|w| w.contains("INSECURE HTTPS client")),
        "no warning on construction"
    );
    let response = client.post(&es9_request(HOST, b"{}")).unwrap();
    assert_eq!(response.status, 200);
    let warnings = captured_warnings();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("INSECURE: POST https://testsmdpplus1.example.com/")),
        "no warning on the request: {warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("TLS certificate of testsmdpplus1.example.com is NOT verified")),
        "no warning on the handshake: {warnings:?}"
    );
    // Insecure is never the default.
    let strict = HttpsConfig::new()
        .resolve(HOST, 443, server.addr())
        .build()
        .unwrap();
    expect_tls(strict.post(&es9_request(HOST, b"{}")));
}

// ---------------------------------------------------------------------------------------------
// Against a small rustls server
// ---------------------------------------------------------------------------------------------

#[test]
fn an_expired_certificate_is_refused() {
    let pki = test_pki();
    let now = SystemTime::now();
    let expired = issue_tls(&pki.ci, HOST, now - 400 * DAY, now - 30 * DAY);
    let server = TlsServer::start(&expired, Reply::Answer(200, b"{}".to_vec()));
    let client = client_for(&pki, server.addr);
    let reason = expect_tls(client.post(&es9_request(HOST, b"{}")));
    assert!(reason.to_lowercase().contains("expired"), "{reason}");
    assert!(server.requests().is_empty());

    let not_yet = issue_tls(&pki.ci, HOST, now + 30 * DAY, now + 400 * DAY);
    let server = TlsServer::start(&not_yet, Reply::Answer(200, b"{}".to_vec()));
    let client = client_for(&pki, server.addr);
    let reason = expect_tls(client.post(&es9_request(HOST, b"{}")));
    assert!(reason.to_lowercase().contains("not valid yet"), "{reason}");
}

#[test]
fn a_certificate_for_another_host_name_is_refused() {
    let pki = test_pki();
    let now = SystemTime::now();
    let tls = issue_tls(&pki.ci, HOST, now - DAY, now + DAY);
    let server = TlsServer::start(&tls, Reply::Answer(200, b"{}".to_vec()));
    let other = "testsmdpplus9.example.com";
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .resolve(other, 443, server.addr)
        .build()
        .unwrap();
    let reason = expect_tls(client.post(&es9_request(other, b"{}")));
    assert!(
        reason.contains("certificate not valid for name \"testsmdpplus9.example.com\""),
        "{reason}"
    );
    assert!(server.requests().is_empty());
}

#[test]
fn headers_status_and_body_pass_through_unchanged() {
    let pki = test_pki();
    let now = SystemTime::now();
    let tls = issue_tls(&pki.ci, HOST, now - DAY, now + DAY);
    let body = b"<html>Internal Server Error</html>".to_vec();
    let server = TlsServer::start(&tls, Reply::Answer(500, body.clone()));
    let client = client_for(&pki, server.addr);
    let response = client.post(&es9_request(HOST, b"{\"a\":1}")).unwrap();
    assert_eq!((response.status, response.body), (500, body));

    let requests = server.requests();
    let head = requests.first().unwrap();
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1")
    );
    for expected in [
        "content-type: application/json;charset=UTF-8",
        "x-admin-protocol: gsma/rsp/v2.5.0",
        "user-agent: gsma-rsp-lpad",
        "host: testsmdpplus1.example.com",
        "content-length: 7",
    ] {
        assert!(
            lines.iter().any(|l| l.eq_ignore_ascii_case(expected)),
            "{expected} missing in {head}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.to_lowercase().starts_with("user-agent"))
            .count(),
        1,
        "{head}"
    );
}

#[test]
fn an_answer_larger_than_the_cap_is_refused() {
    let pki = test_pki();
    let now = SystemTime::now();
    let tls = issue_tls(&pki.ci, HOST, now - DAY, now + DAY);
    let server = TlsServer::start(&tls, Reply::Answer(200, vec![b'x'; 64 * 1024]));
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .resolve(HOST, 443, server.addr)
        .max_response_size(1024)
        .build()
        .unwrap();
    let result = client.post(&es9_request(HOST, b"{}"));
    assert!(
        matches!(result, Err(HttpError::ResponseTooLarge(1024))),
        "{result:?}"
    );
}

#[test]
fn a_server_that_never_answers_the_request_times_out() {
    let pki = test_pki();
    let now = SystemTime::now();
    let tls = issue_tls(&pki.ci, HOST, now - DAY, now + DAY);
    let server = TlsServer::start(&tls, Reply::Never);
    let client = HttpsConfig::new()
        .add_root(pki.ci.certificate.clone())
        .resolve(HOST, 443, server.addr)
        .response_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let result = client.post(&es9_request(HOST, b"{}"));
    assert!(
        matches!(result, Err(HttpError::Timeout(d)) if d == Duration::from_secs(1)),
        "{result:?}"
    );
    assert_eq!(server.requests().len(), 1, "the request was sent");
}

#[test]
fn the_euicc_ci_list_narrows_the_bundled_cis() {
    let ci = sgp26_ci();
    let now = SystemTime::now();
    let tls = issue_tls(&ci, HOST, now - DAY, now + DAY);
    let server = TlsServer::start(&tls, Reply::Answer(200, b"{}".to_vec()));
    let request = es9_request(HOST, b"{}");

    // By default only the live CI is trusted: a certificate under the SGP.26 CI is refused.
    let live = HttpsConfig::new()
        .resolve(HOST, 443, server.addr)
        .build()
        .unwrap();
    let reason = expect_tls(live.post(&request));
    assert!(reason.contains("GSMA RSP2 Root CI1 [81370F51"), "{reason}");

    let client = HttpsConfig::new()
        .bundled_cis(BundledTrust::LiveAndTest)
        .resolve(HOST, 443, server.addr)
        .build()
        .unwrap();
    assert_eq!(client.post(&request).unwrap().status, 200);

    // An eUICC that knows the live CI and the brainpool test CI only.
    let brainpool = client
        .narrowed(&[
            GSMA_RSP2_ROOT_CI1.ski.to_vec(),
            SGP26_TEST_CI_BRP.ski.to_vec(),
        ])
        .unwrap();
    expect_tls(brainpool.post(&request));
    // The deprecated in-place narrowing still narrows the client itself.
    client.restrict_to_ci_pkids(&[
        GSMA_RSP2_ROOT_CI1.ski.to_vec(),
        SGP26_TEST_CI_BRP.ski.to_vec(),
    ]);
    let trusted: Vec<String> = client.trusted_cis().into_iter().map(|c| c.label).collect();
    assert_eq!(
        trusted,
        ["GSMA RSP2 Root CI1", "SGP.26 Test CI (brainpoolP256r1)"]
    );
    expect_tls(client.post(&request));

    // A test eUICC listing the NIST test CI: narrowed from everything configured.
    let nist = client.narrowed(&[SGP26_TEST_CI_NIST.ski.to_vec()]).unwrap();
    assert_eq!(nist.post(&request).unwrap().status, 200);

    // An eUICC listing nothing we have: refused before connecting.
    let accepted = server.accepted();
    let none = client.narrowed(&[vec![0xAA; 20]]).unwrap();
    let reason = expect_tls(none.post(&request));
    assert!(reason.contains("no trusted CI"), "{reason}");
    assert_eq!(server.accepted(), accepted);
}

#[test]
fn narrowing_is_scoped_to_the_new_client_not_the_shared_one() {
    let ci = sgp26_ci();
    let now = SystemTime::now();
    let tls = issue_tls(&ci, HOST, now - DAY, now + DAY);
    let server = TlsServer::start(&tls, Reply::Answer(200, b"{}".to_vec()));
    let request = es9_request(HOST, b"{}");
    // One base client shared by two LPAs (two eUICCs with different CI lists).
    let base: Arc<dyn HttpClient> = Arc::new(
        HttpsConfig::new()
            .bundled_cis(BundledTrust::LiveAndTest)
            .resolve(HOST, 443, server.addr)
            .build()
            .unwrap(),
    );
    let test_euicc = base.narrowed(&[SGP26_TEST_CI_NIST.ski.to_vec()]).unwrap();
    let live_euicc = base.narrowed(&[GSMA_RSP2_ROOT_CI1.ski.to_vec()]).unwrap();
    // The second narrowing neither narrows the first client nor the base.
    assert_eq!(test_euicc.post(&request).unwrap().status, 200);
    expect_tls(live_euicc.post(&request));
    assert_eq!(base.post(&request).unwrap().status, 200);
    // Nor does a narrowing widen another: the live eUICC's client stays refused.
    let _wide = base
        .narrowed(&[
            GSMA_RSP2_ROOT_CI1.ski.to_vec(),
            SGP26_TEST_CI_NIST.ski.to_vec(),
        ])
        .unwrap();
    expect_tls(live_euicc.post(&request));
    assert_eq!(test_euicc.post(&request).unwrap().status, 200);
}

#[test]
fn the_sgp26_tls_certificate_verifies_at_a_fixed_time() {
    // CERT_S_SM_DP_VARO_TLS_NIST: testsmdpplus1.example.com, 2026-07-21 to 2027-02-06, under
    // the SGP.26 NIST CI, with the SGP.22 TLS profile (critical keyUsage and extendedKeyUsage,
    // certificatePolicies, registeredID in subjectAltName).
    let dir = sgp26_dir().join("DPtls");
    let identity = load_identity(
        &dir.join("CERT_S_SM_DP_VARO_TLS_NIST.der"),
        &dir.join("SK_S_SM_DP_TLS_NIST.pem"),
        CertRole::DpTls,
    )
    .unwrap();
    let server = TlsServer::start(&identity, Reply::Answer(200, b"{}".to_vec()));
    let client_at = |time: SystemTime| {
        HttpsConfig::new()
            .bundled_cis(BundledTrust::LiveAndTest)
            .resolve(HOST, 443, server.addr)
            .verification_time(time)
            .build()
            .unwrap()
    };
    let request = es9_request(HOST, b"{}");
    // 2026-10-01
    assert_eq!(
        client_at(at(1_790_812_800)).post(&request).unwrap().status,
        200
    );
    // 2027-06-01
    let reason = expect_tls(client_at(at(1_811_808_000)).post(&request));
    assert!(reason.to_lowercase().contains("expired"), "{reason}");
    // 2026-01-01
    let reason = expect_tls(client_at(at(1_767_225_600)).post(&request));
    assert!(reason.to_lowercase().contains("not valid yet"), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// The bundle
// ---------------------------------------------------------------------------------------------

#[test]
fn bundled_ci_certificates_match_their_recorded_fingerprints() {
    // The same values as lpa/certs/README.md.
    let expected = [
        (
            "GSMA RSP2 Root CI1",
            "5E3E91FD454327C3AF5D32A7A73BBC59FE43AA7D85FD32D5DB44423F80A56BB3",
            "81370F5125D0B1D408D4C3B232E6D25E795BEBFB",
        ),
        (
            "SGP.26 Test CI (NIST P-256)",
            "597251C8A337D8ED1103AA1EB002227D5F9558E602852A03BDE9A9AE632CAFB4",
            "F54172BDF98A95D65CBEB88A38A1C11D800A85C3",
        ),
        (
            "SGP.26 Test CI (brainpoolP256r1)",
            "400898356E9248D3A0A9FF0A70C0AFE4A7D9135ADABFF3BE4B7BD4D484DBDEE9",
            "C0BC70BA36929D43B467FF57570530E57AB8FCD8",
        ),
    ];
    assert_eq!(BUNDLED_CIS.len(), expected.len());
    for (ci, (name, sha256, ski)) in BUNDLED_CIS.iter().zip(expected) {
        assert_eq!(ci.name, name);
        assert_eq!(hex(&Sha256::digest(ci.der)), sha256, "{name}");
        assert_eq!(hex(&ci.ski), ski, "{name}");
    }
    // The SGP.26 NIST CI bundled is the one the testbed's SGP.26 data is issued under.
    assert_eq!(sgp26_ci().certificate, SGP26_TEST_CI_NIST.der);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
