//! The CLI test bed: a `--testbed` folder the `lpa` binary creates on first use, the test
//! SM-DP+ (and root SM-DS) serving its PKI over HTTPS on 127.0.0.1 in this process, operator
//! orders placed through ES2+, and helpers to run `lpa` and read its JSON.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use lpa_core::ids::Iccid;
use lpa_testbed::pki::{Curve, DEFAULT_EID, DEFAULT_SMDP_HOST, TestPki};
use lpa_testbed::smdp::{ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer};
use lpa_testbed::support::{Es2Order, order_profile};
use serde_json::Value;
use tempfile::TempDir;

/// The SM-DP+ host name (the testbed PKI's TLS certificate).
pub const HOST: &str = DEFAULT_SMDP_HOST;
/// The card's root SM-DS (the SoftEuicc's default), served by the same test server.
pub const SMDS: &str = "testrootsmds.example.com";

/// `lpa` with a clean environment (no LPA_* variables from the developer's shell), a deadline
/// and no terminal.
pub fn lpa() -> Command {
    let mut cmd = Command::cargo_bin("lpa").unwrap();
    for var in [
        "LPA_AT",
        "LPA_TESTBED",
        "LPA_STATE_DIR",
        "LPA_CONFIRMATION_CODE",
    ] {
        cmd.env_remove(var);
    }
    cmd.timeout(Duration::from_secs(60));
    cmd.write_stdin("");
    cmd
}

/// What one run gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }
}

/// Runs `cmd` and collects its exit code and output.
pub fn run(cmd: &mut Command) -> Run {
    let output = cmd.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A port nothing listens on. On 127.0.0.2, which no test binds: a freed 127.0.0.1 port can
/// be handed at once to another test's listener running in parallel.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.2:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A testbed folder and the SM-DP+ of its PKI.
pub struct Bed {
    pub dir: TempDir,
    pub pki: TestPki,
    pub server: SmdpServer,
}

impl Bed {
    /// Creates the folder through the CLI (`chip info` on a new folder), then serves its PKI.
    pub fn new() -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let first = run(lpa()
            .args(["--testbed"])
            .arg(dir.path())
            .args(["chip", "info"]));
        assert_eq!(first.code, 0, "{}", first.stderr);
        assert!(
            first.stderr.contains("created a new testbed"),
            "{}",
            first.stderr
        );
        let pki = TestPki::load_from_dir(&dir.path().join("pki"), Curve::NistP256).unwrap();
        let mut config = SmdpConfig::from_pki(&pki);
        config.smds_host = Some(SMDS.to_owned());
        let server = SmdpServer::start(
            Arc::new(Smdp::new(config).unwrap()),
            ServerOptions::default(),
        )
        .unwrap();
        Bed { dir, pki, server }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `lpa --testbed <dir>` with the SM-DP+ and SM-DS names sent to the test server, one
    /// round of notification delivery.
    pub fn lpa(&self) -> Command {
        self.lpa_at(self.server.addr())
    }

    /// As [`Bed::lpa`], with the server names sent to `addr` instead.
    pub fn lpa_at(&self, addr: SocketAddr) -> Command {
        let mut cmd = lpa();
        cmd.arg("--testbed")
            .arg(self.path())
            .arg("--resolve")
            .arg(format!("{HOST}:443:{addr}"))
            .arg("--resolve")
            .arg(format!("{SMDS}:443:{addr}"))
            .args(["--notification-attempts", "1"]);
        cmd
    }

    /// Runs `lpa --json <args>` on this bed.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let r = run(self.lpa().arg("--json").args(args));
        let json = r.json();
        (r.code, json)
    }

    pub fn smdp(&self) -> &Smdp {
        self.server.smdp()
    }

    /// ES2+ downloadOrder + confirmOrder (released) for this card's EID: the ICCID and the
    /// matching ID.
    pub fn order_profile(
        &self,
        profile: ServedProfile,
        matching_id: Option<&str>,
        confirmation_code: Option<&str>,
        smds: bool,
    ) -> (Iccid, String) {
        let iccid = profile.iccid;
        self.smdp().add_profile(profile).unwrap();
        let order = Es2Order::new(DEFAULT_EID, iccid)
            .with_matching_id(matching_id)
            .with_confirmation_code(confirmation_code)
            .with_smds_address(smds.then_some(SMDS));
        (iccid, order_profile(self.smdp(), &order).unwrap())
    }

    /// Orders demo profile `n`: its ICCID and activation code.
    pub fn order(&self, n: u32) -> (Iccid, String) {
        let (iccid, mid) = self.order_profile(ServedProfile::demo(n), None, None, false);
        (iccid, activation_code(&mid))
    }

    /// The order's state at the SM-DP+ (`Released`, `Installed`...).
    pub fn status(&self, iccid: &Iccid) -> String {
        format!(
            "{:?}",
            self.smdp().profile(&iccid.to_string()).unwrap().status
        )
    }

    /// Downloads demo profile `n` (`--yes`), checking it worked; its ICCID.
    pub fn install(&self, n: u32) -> Iccid {
        let (iccid, code) = self.order(n);
        let (exit, json) = self.json(&["profile", "download", &code, "--yes"]);
        assert_eq!(exit, 0, "{json:#}");
        assert_eq!(json["data"]["installation"]["iccid"], iccid.to_string());
        iccid
    }
}

/// `LPA:1$<host>$<matching id>`.
pub fn activation_code(matching_id: &str) -> String {
    format!("LPA:1${HOST}${matching_id}")
}

/// The CI's key identifier, as `chip info` shows it.
pub fn pki_ski(pki: &TestPki) -> String {
    hex::encode_upper(pki.ci_pkid().unwrap())
}

/// PEM of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// An SM-DP+ of a PKI of its own (same host name, a CI nobody here trusts).
pub fn other_smdp() -> SmdpServer {
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    let pki = TestPki::generate(&lpa_testbed::pki::TestPkiOptions::new(
        Curve::NistP256,
        now - day,
        now + day,
    ))
    .unwrap();
    SmdpServer::start(
        Arc::new(Smdp::new(SmdpConfig::from_pki(&pki)).unwrap()),
        ServerOptions::default(),
    )
    .unwrap()
}

/// `200 {}`: not an SGP.22 answer.
pub const HTTP_200_EMPTY_JSON: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

/// `500` with an HTML page and no SGP.22 header (`X-Admin-Protocol`) or body.
pub const HTTP_500_HTML: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 22\r\nConnection: close\r\n\r\n<html>it broke</html>\n";

/// An HTTPS server with the testbed's own TLS certificate (so TLS passes) that answers every
/// request the same way: `200 {}` ([`BogusServer::start`]), or any raw HTTP response
/// ([`BogusServer::answering`]). Stops and joins its thread on drop.
pub struct BogusServer {
    addr: SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BogusServer {
    pub fn start(pki: &TestPki) -> BogusServer {
        BogusServer::answering(pki, HTTP_200_EMPTY_JSON)
    }

    /// Answers every request with `response` (status line, headers and body).
    pub fn answering(pki: &TestPki, response: &'static [u8]) -> BogusServer {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;

        let tls = pki.dp_tls.as_ref().unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            tls.key.to_pkcs8_der().unwrap().to_vec(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(tls.certificate.clone())], key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !flag.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                tcp.set_nonblocking(false).unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head and the body announced by Content-Length.
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = stream.write_all(response);
                let _ = stream.flush();
                stream.conn.send_close_notify();
                let _ = stream.flush();
            }
        });
        BogusServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BogusServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
