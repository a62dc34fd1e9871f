//! A minimal, strict HTTP/1.1 server side (RFC 9112): enough for ES2+/ES9+/ES11, refusing what
//! an SGP.22 client never needs to send.
//!
//! Accepted: `METHOD SP /target SP HTTP/1.1 CRLF`, header lines `name: value CRLF`, a blank
//! line, and a body of exactly `Content-Length` bytes. Refused: bare LF line ends, obsolete line
//! folding, HTTP/1.0 and HTTP/2 request lines, a missing `Host`, `Transfer-Encoding` (chunked
//! bodies: 501), a missing (411) or conflicting `Content-Length`, heads over
//! [`Limits::max_head_len`] (431) and bodies over [`Limits::max_body_len`] (413). Requests may
//! follow each other on one connection (keep-alive) unless `Connection: close` is sent.
//!
//! Reading never blocks longer than the stream lets it: the server gives the stream a deadline
//! (see `server.rs`), and a read that times out ends the connection.

use std::io::{self, Read, Write};

/// Size limits of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line plus headers, in bytes.
    pub max_head_len: usize,
    /// Longest body, in bytes.
    pub max_body_len: usize,
    /// Most header lines.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_len: 8 * 1024,
            max_body_len: 64 * 1024,
            max_headers: 64,
        }
    }
}

/// One parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target, e.g. `/gsma/rsp2/es9plus/initiateAuthentication`.
    pub target: String,
    /// Header names (as sent) and values (without surrounding white space), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A POST request with the given headers and body (for callers that bypass the socket).
    pub fn post(target: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Request {
            method: "POST".to_owned(),
            target: target.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("Connection").is_some_and(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        })
    }
}

/// One response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers other than `Content-Length` and `Connection`, which are added when writing.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the connection is closed after this response.
    pub close: bool,
}

impl Response {
    /// A response with a body of the given content type.
    pub fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body,
            close: false,
        }
    }

    /// A response without a body.
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The bytes on the wire: status line, headers, `Content-Length` (except for 204),
    /// `Connection: close` when closing, blank line, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if self.status != 204 {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if self.status != 204 {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// Writes the response.
    pub fn write_to<W: Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(&self.to_bytes())?;
        w.flush()
    }
}

/// The standard reason phrase of the status codes this server sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Why no request could be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// The peer closed the connection before sending a byte of a new request (normal end of a
    /// keep-alive connection).
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The connection failed, or closed in the middle of a request.
    Io(io::Error),
    /// The request breaks HTTP/1.1 or this server's rules: answer with this status and close.
    Refused {
        /// The status to answer with (400, 411, 413, 431, 501, 505).
        status: u16,
        /// Why.
        detail: &'static str,
    },
}

fn refused(status: u16, detail: &'static str) -> ReadError {
    ReadError::Refused { status, detail }
}

/// Reads requests from one connection, keeping bytes that arrived after a request for the next
/// one.
#[derive(Debug, Default)]
pub struct RequestReader {
    buf: Vec<u8>,
    limits: Limits,
}

impl RequestReader {
    /// A reader with these limits.
    pub fn new(limits: Limits) -> Self {
        RequestReader {
            buf: Vec::new(),
            limits,
        }
    }

    /// Reads one whole request.
    pub fn read_request<S: Read>(&mut self, stream: &mut S) -> Result<Request, ReadError> {
        let head_end = loop {
            if let Some(end) = find_head_end(&self.buf) {
                break end;
            }
            if self.buf.windows(2).any(|w| w == b"\n\n") {
                return Err(refused(400, "bare LF line ends"));
            }
            if self.buf.len() > self.limits.max_head_len {
                return Err(refused(431, "request head too long"));
            }
            if self.fill(stream)? == 0 {
                return Err(if self.buf.is_empty() {
                    ReadError::Closed
                } else {
                    ReadError::Io(io::ErrorKind::UnexpectedEof.into())
                });
            }
        };
        if head_end > self.limits.max_head_len {
            return Err(refused(431, "request head too long"));
        }
        let head = self.buf.get(..head_end).unwrap_or_default();
        let (method, target, headers) = parse_head(head, self.limits.max_headers)?;
        let body_len = body_length(&headers, self.limits.max_body_len)?;
        let body_start = head_end + 4;
        while self.buf.len() < body_start + body_len {
            if self.fill(stream)? == 0 {
                return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
        let body = self
            .buf
            .get(body_start..body_start + body_len)
            .unwrap_or_default()
            .to_vec();
        self.buf.drain(..body_start + body_len);
        Ok(Request {
            method,
            target,
            headers,
            body,
        })
    }

    fn fill<S: Read>(&mut self, stream: &mut S) -> Result<usize, ReadError> {
        let mut chunk = [0u8; 4096];
        // Never buffer far past what a request may hold.
        let room = (self.limits.max_head_len + 4 + self.limits.max_body_len + 1)
            .saturating_sub(self.buf.len())
            .clamp(1, chunk.len());
        let slot = chunk.get_mut(..room).unwrap_or_default();
        loop {
            // An interrupted read is retried; the stream's deadline still bounds the wait.
            match stream.read(slot) {
                Ok(n) => {
                    self.buf
                        .extend_from_slice(slot.get(..n).unwrap_or_default());
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ReadError::TimedOut);
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

type Head = (String, String, Vec<(String, String)>);

fn parse_head(head: &[u8], max_headers: usize) -> Result<Head, ReadError> {
    let text = std::str::from_utf8(head).map_err(|_| refused(400, "request head is not text"))?;
    if text.bytes().any(|b| b == 0) {
        return Err(refused(400, "NUL in request head"));
    }
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    if request_line.contains('\n') || request_line.contains('\r') {
        return Err(refused(400, "bare CR or LF in the request line"));
    }
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused(
            400,
            "request line is not METHOD SP target SP version",
        ));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(refused(400, "invalid method"));
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refused(400, "request target must be an absolute path"));
    }
    if version != "HTTP/1.1" {
        return Err(if version.starts_with("HTTP/") {
            refused(505, "only HTTP/1.1 is served")
        } else {
            refused(400, "invalid HTTP version")
        });
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.contains('\n') || line.contains('\r') {
            return Err(refused(400, "bare CR or LF in a header line"));
        }
        if line.starts_with([' ', '\t']) {
            return Err(refused(400, "obsolete header line folding"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(refused(400, "header line without a colon"))?;
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(refused(400, "invalid header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(refused(400, "control character in a header value"));
        }
        headers.push((name.to_owned(), value.to_owned()));
        if headers.len() > max_headers {
            return Err(refused(431, "too many header lines"));
        }
    }
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Host")) {
        return Err(refused(400, "HTTP/1.1 request without Host"));
    }
    Ok((method.to_owned(), target.to_owned(), headers))
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn body_length(headers: &[(String, String)], max_body_len: usize) -> Result<usize, ReadError> {
    if headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("Transfer-Encoding"))
    {
        return Err(refused(501, "Transfer-Encoding is not supported"));
    }
    let mut length: Option<usize> = None;
    for (_, value) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
    {
        if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused(400, "invalid Content-Length"));
        }
        let parsed: usize = value
            .parse()
            .map_err(|_| refused(400, "invalid Content-Length"))?;
        if length.is_some_and(|l| l != parsed) {
            return Err(refused(400, "conflicting Content-Length headers"));
        }
        length = Some(parsed);
    }
    let length = length.ok_or(refused(411, "Content-Length is required"))?;
    if length > max_body_len {
        return Err(refused(413, "body too large"));
    }
    Ok(length)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Request, ReadError> {
        RequestReader::new(Limits::default()).read_request(&mut &bytes[..])
    }

    fn status(bytes: &[u8]) -> u16 {
        match read(bytes) {
            Err(ReadError::Refused { status, .. }) => status,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_request_and_keeps_the_next_one() {
        let two = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        let mut reader = RequestReader::new(Limits::default());
        let mut stream = &two[..];
        let first = reader.read_request(&mut stream).unwrap();
        assert_eq!(
            (first.method.as_str(), first.target.as_str()),
            ("POST", "/a")
        );
        assert_eq!(first.body, b"{}");
        assert_eq!(first.header("content-length"), Some("2"));
        let second = reader.read_request(&mut stream).unwrap();
        assert_eq!(second.target, "/b");
        assert!(matches!(
            reader.read_request(&mut stream),
            Err(ReadError::Closed)
        ));
    }

    #[test]
    fn refuses_what_sgp22_clients_never_send() {
        assert_eq!(status(b"GARBAGE\r\n\r\n"), 400);
        assert_eq!(status(b"POST /a HTTP/1.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status(b"POST a HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
        assert_eq!(
            status(b"POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            400
        );
        assert_eq!(status(b"POST /a HTTP/1.1\r\nHost: x\r\n\r\n"), 411);
        assert_eq!(
            status(b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status(
                b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
            ),
            400
        );
        assert_eq!(
            status(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"POST /a HTTP/1.1\r\nHost: x\r\n folded\r\nContent-Length: 0\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST /a HTTP/1.1\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            400
        );
        let mut long = b"POST /a HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
        long.extend(vec![b'a'; 9000]);
        assert_eq!(status(&long), 431);
        // Cut short: an I/O error, not a request.
        assert!(matches!(
            read(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{}"),
            Err(ReadError::Io(_))
        ));
    }

    #[test]
    fn writes_responses() {
        let mut r = Response::with_body(200, "application/json", b"{}".to_vec());
        r.close = true;
        assert_eq!(
            r.to_bytes(),
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        assert_eq!(
            Response::empty(204).to_bytes(),
            b"HTTP/1.1 204 No Content\r\n\r\n"
        );
    }
}
