//! The HTTPS client to the SM-DP+/SM-DS from the command line's options: `--proxy`, `--ca`,
//! `--resolve`, `--test-ci`, `--insecure`, `--http-timeout`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use lpa::https::{BundledTrust, HttpsClient, HttpsConfig};

use crate::error::CliError;

/// How the HTTPS client is to be built.
#[derive(Clone, Debug, Default)]
pub struct NetOptions {
    /// `--proxy http://host:port`.
    pub proxy: Option<String>,
    /// `--ca FILE`, each a DER certificate or PEM with one or more certificates.
    pub ca_files: Vec<std::path::PathBuf>,
    /// CA certificates (DER) added by the program itself (the testbed's CI).
    pub extra_roots: Vec<Vec<u8>>,
    /// `--resolve host:port:addr`.
    pub resolve: Vec<String>,
    /// `--test-ci`: also trust the bundled SGP.26 test CIs.
    pub test_ci: bool,
    /// `--insecure`: verify nothing (development only).
    pub insecure: bool,
    /// `--http-timeout`: each phase of a response.
    pub response_timeout: Option<Duration>,
    /// Connection set-up deadline.
    pub connect_timeout: Option<Duration>,
}

/// Builds the client; every option error is a usage error.
pub fn https_client(options: &NetOptions) -> Result<HttpsClient, CliError> {
    let mut config = HttpsConfig::new().bundled_cis(if options.test_ci {
        BundledTrust::LiveAndTest
    } else {
        BundledTrust::Live
    });
    if let Some(proxy) = &options.proxy {
        config = config.proxy(proxy.clone());
    }
    for file in &options.ca_files {
        for der in load_certificates(file)? {
            config = config.add_root(der);
        }
    }
    for der in &options.extra_roots {
        config = config.add_root(der.clone());
    }
    for entry in &options.resolve {
        let (host, port, addr) = parse_resolve(entry)?;
        config = config.resolve(host, port, addr);
    }
    if let Some(t) = options.response_timeout {
        config = config.response_timeout(t);
    }
    if let Some(t) = options.connect_timeout {
        config = config.connect_timeout(t);
    }
    if options.insecure {
        eprintln!(
            "lpa: WARNING: --insecure: SM-DP+/SM-DS certificates are NOT verified. Anyone on the \
             network path can impersonate the server and read what the eUICC sends. Development \
             only; never use it with a real profile."
        );
        config = config.insecure(true);
    }
    config
        .build()
        .map_err(|e| CliError::usage(format!("HTTPS client: {e}")))
}

/// Parses `host:port:addr` like curl's `--resolve`, where `addr` is an IP address (the port
/// stays) or `ip:port` / `[ipv6]:port` (like curl's `--connect-to`).
pub fn parse_resolve(entry: &str) -> Result<(String, u16, SocketAddr), CliError> {
    let bad = |why: &str| {
        CliError::usage(format!(
            "--resolve {entry:?}: {why} (expected host:port:address, e.g. \
             testsmdpplus1.example.com:443:127.0.0.1:8443)"
        ))
    };
    let (host, rest) = entry.split_once(':').ok_or_else(|| bad("no port"))?;
    let (port, addr) = rest.split_once(':').ok_or_else(|| bad("no address"))?;
    if host.is_empty() {
        return Err(bad("no host name"));
    }
    let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
    let addr = if let Ok(socket) = addr.parse::<SocketAddr>() {
        socket
    } else {
        let ip = addr.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad("the address is not an IP address"))?;
        SocketAddr::new(ip, port)
    };
    Ok((host.to_owned(), port, addr))
}

/// Reads CA certificates from a file: one DER certificate, or PEM with one or more
/// `CERTIFICATE` blocks.
pub fn load_certificates(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("--ca {}: {e}", path.display())))?;
    certificates_from_bytes(&bytes)
        .map_err(|e| CliError::usage(format!("--ca {}: {e}", path.display())))
}

/// DER (starts with a SEQUENCE) or PEM.
pub fn certificates_from_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "neither DER nor PEM".to_owned())?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = rest.get(start + BEGIN.len()..).unwrap_or_default();
        let end = after
            .find(END)
            .ok_or_else(|| "a PEM certificate block has no END line".to_owned())?;
        let body: String = after
            .get(..end)
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("bad base64 in a PEM certificate: {e}"))?;
        out.push(der);
        rest = after.get(end + END.len()..).unwrap_or_default();
    }
    if out.is_empty() {
        return Err("no certificate in it (expected DER or PEM CERTIFICATE blocks)".into());
    }
    Ok(out)
}

/// PEM text of one DER certificate.
pub fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    let mut line = String::new();
    for c in b64.chars() {
        line.push(c);
        if line.len() == 64 {
            pem.push_str(&line);
            pem.push('\n');
            line.clear();
        }
    }
    if !line.is_empty() {
        pem.push_str(&line);
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_like_curl() {
        let (h, p, a) = parse_resolve("smdp.example.com:443:127.0.0.1").unwrap();
        assert_eq!(
            (h.as_str(), p, a),
            ("smdp.example.com", 443, "127.0.0.1:443".parse().unwrap())
        );
        let (_, _, a) = parse_resolve("smdp.example.com:443:127.0.0.1:8443").unwrap();
        assert_eq!(a, "127.0.0.1:8443".parse().unwrap());
        let (_, _, a) = parse_resolve("smdp.example.com:443:[::1]:8443").unwrap();
        assert_eq!(a, "[::1]:8443".parse().unwrap());
        let (_, _, a) = parse_resolve("smdp.example.com:443:[::1]").unwrap();
        assert_eq!(a, "[::1]:443".parse().unwrap());
        for bad in [
            "smdp",
            "smdp:443",
            ":443:127.0.0.1",
            "smdp:x:127.0.0.1",
            "smdp:443:nohost",
        ] {
            assert!(parse_resolve(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pem_and_der_round_trip() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x05];
        let pem = to_pem(&der);
        assert_eq!(
            certificates_from_bytes(pem.as_bytes()).unwrap(),
            vec![der.clone()]
        );
        assert_eq!(certificates_from_bytes(&der).unwrap(), vec![der.clone()]);
        let two = format!("junk\n{pem}{pem}");
        assert_eq!(certificates_from_bytes(two.as_bytes()).unwrap().len(), 2);
        assert!(certificates_from_bytes(b"hello").is_err());
    }
}
