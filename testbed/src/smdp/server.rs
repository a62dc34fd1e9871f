//! HTTPS around [`Smdp`]: a `127.0.0.1` listener, one thread per connection (bounded), rustls
//! with the TLS certificate of each host name chosen by SNI, and deadlines on every read and
//! write so that no client can hold a thread (slow-loris) past [`ServerOptions::io_timeout`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::ResolvesServerCertUsingSni;
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::codes::{Failure, INVALID_REQUEST};
use super::http::{Limits, ReadError, RequestReader, Response};
use super::{Smdp, SmdpError, failed};

/// How the server listens and what it tolerates.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Most connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Time allowed for a whole request (TLS handshake included), for a response to be
    /// written, and for an idle keep-alive connection.
    pub io_timeout: Duration,
    /// Request size limits.
    pub limits: Limits,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            port: 0,
            max_connections: 32,
            io_timeout: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// A running HTTPS SM-DP+ (and SM-DS). Stopped by [`SmdpServer::shutdown`] or on drop; either
/// way every thread it started has ended when that returns.
#[derive(Debug)]
pub struct SmdpServer {
    addr: SocketAddr,
    smdp: Arc<Smdp>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Open connections (a handle to shut them down) and their threads.
    connections: Mutex<HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SmdpServer {
    /// Starts serving `smdp` on `127.0.0.1`.
    pub fn start(smdp: Arc<Smdp>, options: ServerOptions) -> Result<Self, SmdpError> {
        if options.max_connections == 0 || options.io_timeout.is_zero() {
            return Err(SmdpError::Config(
                "max_connections and io_timeout must not be zero".into(),
            ));
        }
        let tls = Arc::new(tls_config(&smdp)?);
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).map_err(SmdpError::Io)?;
        listener.set_nonblocking(true).map_err(SmdpError::Io)?;
        let addr = listener.local_addr().map_err(SmdpError::Io)?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            let smdp = Arc::clone(&smdp);
            thread::Builder::new()
                .name("smdp-accept".into())
                .spawn(move || accept_loop(&listener, &shared, &smdp, &tls, &options))
                .map_err(SmdpError::Io)?
        };
        Ok(SmdpServer {
            addr,
            smdp,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The service (orders, events, notifications).
    pub fn smdp(&self) -> &Arc<Smdp> {
        &self.smdp
    }

    /// How many connections are being served.
    pub fn connection_count(&self) -> usize {
        lock(&self.shared.connections).len()
    }

    /// Stops accepting, closes every connection and joins every thread.
    pub fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in lock(&self.shared.connections).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let threads: Vec<JoinHandle<()>> = lock(&self.shared.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for SmdpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn tls_config(smdp: &Smdp) -> Result<ServerConfig, SmdpError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut resolver = ResolvesServerCertUsingSni::new();
    for tls in smdp.tls_identities() {
        let key_der = tls.identity.key.to_pkcs8_der()?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.to_vec()));
        let signing_key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| SmdpError::Tls(e.to_string()))?;
        let certified = CertifiedKey::new(
            vec![CertificateDer::from(tls.identity.certificate.clone())],
            signing_key,
        );
        resolver
            .add(&tls.host, certified)
            .map_err(|e| SmdpError::Tls(format!("{}: {e}", tls.host)))?;
    }
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SmdpError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    Ok(config)
}

fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    smdp: &Arc<Smdp>,
    tls: &Arc<ServerConfig>,
    options: &ServerOptions,
) {
    while !shared.stop.load(Ordering::SeqCst) {
        let tcp = match listener.accept() {
            Ok((tcp, _)) => tcp,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        lock(&shared.threads).retain(|t| !t.is_finished());
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        {
            let mut connections = lock(&shared.connections);
            if connections.len() >= options.max_connections {
                // Over the limit: closed without a word, as an overloaded server does.
                drop(tcp);
                continue;
            }
            let Ok(handle) = tcp.try_clone() else {
                continue;
            };
            connections.insert(id, handle);
        }
        let worker = {
            let shared = Arc::clone(shared);
            let smdp = Arc::clone(smdp);
            let tls = Arc::clone(tls);
            let options = options.clone();
            thread::Builder::new()
                .name(format!("smdp-conn-{id}"))
                .spawn(move || {
                    // Frees the slot even if serving panics.
                    let _slot = Slot {
                        shared: Arc::clone(&shared),
                        id,
                    };
                    serve_connection(tcp, tls, &smdp, &options, &shared.stop);
                })
        };
        match worker {
            Ok(handle) => lock(&shared.threads).push(handle),
            Err(_) => {
                if let Some(tcp) = lock(&shared.connections).remove(&id) {
                    let _ = tcp.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

/// A connection's place in [`Shared::connections`], released when its thread ends.
struct Slot {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.shared.connections).remove(&self.id);
    }
}

/// `timeout` from now (a year at most, so that no addition overflows).
fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout.min(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// A socket whose every read and write gives up at `deadline`.
struct DeadlineSocket {
    tcp: TcpStream,
    deadline: Instant,
}

impl DeadlineSocket {
    fn remaining(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
    }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self.remaining()?;
        self.tcp.set_read_timeout(Some(remaining))?;
        self.tcp.read(buf)
    }
}

impl Write for DeadlineSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let remaining = self.remaining()?;
        self.tcp.set_write_timeout(Some(remaining))?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

fn serve_connection(
    tcp: TcpStream,
    tls: Arc<ServerConfig>,
    smdp: &Smdp,
    options: &ServerOptions,
    stop: &AtomicBool,
) {
    let _ = tcp.set_nodelay(true);
    let Ok(connection) = ServerConnection::new(tls) else {
        return;
    };
    let socket = DeadlineSocket {
        tcp,
        deadline: deadline(options.io_timeout),
    };
    let mut stream = StreamOwned::new(connection, socket);
    let mut reader = RequestReader::new(options.limits);
    loop {
        stream.sock.deadline = deadline(options.io_timeout);
        let (mut response, close_after) = match reader.read_request(&mut stream) {
            Ok(request) => {
                let response = smdp.handle(&request);
                (response, request.wants_close())
            }
            Err(ReadError::Refused { status, detail }) => {
                let mut r = failed(&Failure::new(
                    INVALID_REQUEST,
                    format!("HTTP request refused: {detail}"),
                ));
                r.status = status;
                (r, true)
            }
            // Timed out (slow or silent client), closed, or broken: nothing more to say.
            Err(_) => break,
        };
        response.close = close_after || response.close || stop.load(Ordering::SeqCst);
        stream.sock.deadline = deadline(options.io_timeout);
        if write_response(&mut stream, &response).is_err() || response.close {
            break;
        }
    }
    stream.sock.deadline = deadline(Duration::from_millis(200));
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let _ = stream.sock.tcp.shutdown(Shutdown::Both);
}

fn write_response(
    stream: &mut StreamOwned<ServerConnection, DeadlineSocket>,
    response: &Response,
) -> io::Result<()> {
    response.write_to(stream)
}
