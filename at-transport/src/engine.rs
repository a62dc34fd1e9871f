//! The AT command engine: one command line out, lines in until its final result code or its
//! deadline, over any byte stream.
//!
//! ```text
//!   command("AT+CSIM=10,\"0070000001\"", Prefix("+CSIM:"), 5 s)
//!     write  "AT+CSIM=10,\"0070000001\"\r"
//!     read   "AT+CSIM=10,\"0070000001\"\r"      echo           -> skipped
//!            "\r\n+CREG: 1\r\n"                   unsolicited    -> skipped (logged at debug)
//!            "\r\n+CSIM: 6,\"019000\"\r\n"        the answer     -> kept: 6,"019000"
//!            "\r\nOK\r\n"                         final result   -> Ok(["6,\"019000\""])
//! ```
//!
//! Lines end at CR or LF, in any combination (V.250 §5.7.1 verbose framing, or a bare LF or
//! CR from odd firmware). `OK`, `ERROR`, `+CME ERROR:` and `+CMS ERROR:` end a command.
//!
//! Every command has a deadline. The port must therefore not block in `read` for long: a
//! `serialport` port opened by [`crate::AtTransport::open`] has a short read timeout, and any
//! other `Read` should return `TimedOut`/`WouldBlock` (or `Ok(0)`) when nothing arrives. After a
//! deadline fires, a late answer may still come; the next command first waits for the line to
//! go quiet and throws away whatever arrived, so a stale `OK` is never taken for a new answer.

use std::io::{self, Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{AtError, summarize};
use crate::response::{Expect, FinalResult, is_echo};

/// Longest line accepted; more without a line end is garbage (a wrong baud rate, a binary
/// stream) and fails the command rather than filling memory.
const MAX_LINE: usize = 16 * 1024;

/// How long the line must stay silent before a resynchronisation counts as done.
const QUIET: Duration = Duration::from_millis(150);

/// The most a resynchronisation waits for silence.
const MAX_RESYNC: Duration = Duration::from_secs(2);

/// Pause after a read that returned nothing without waiting (a non-blocking port).
const IDLE_PAUSE: Duration = Duration::from_millis(5);

/// An AT command engine over a byte stream (a serial port, a pty, an in-memory script).
#[derive(Debug)]
pub struct AtEngine<P> {
    port: P,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    /// Complete lines read past the end of the last answer.
    lines: Vec<String>,
    /// A deadline fired: a late answer may still be on its way.
    desynced: bool,
}

impl<P: Read + Write> AtEngine<P> {
    /// Wraps a port. Nothing is sent yet.
    pub fn new(port: P) -> Self {
        AtEngine {
            port,
            partial: Vec::new(),
            lines: Vec::new(),
            desynced: false,
        }
    }

    /// The port, for the caller to take back.
    pub fn into_inner(self) -> P {
        self.port
    }

    /// A reference to the port.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// Sends `command` (without line end) and returns the information lines `expect` selects,
    /// once the modem has sent `OK`. `ERROR`, `+CME ERROR` and `+CMS ERROR` become errors; no
    /// final result code within `timeout` is [`AtError::Timeout`]. A `timeout` too long for the
    /// clock (`Duration::MAX` for "no limit") waits until the farthest deadline it can express.
    pub fn command(
        &mut self,
        command: &str,
        expect: Expect,
        timeout: Duration,
    ) -> Result<Vec<String>, AtError> {
        if self.desynced {
            // The wait for silence has its own budget: the command still gets all its time.
            self.resync(deadline_after(Instant::now(), timeout))?;
        }
        let started = Instant::now();
        let deadline = deadline_after(started, timeout);
        // Whatever arrived between commands was unsolicited; it is not ours to answer.
        for line in self.lines.drain(..) {
            log::debug!("AT: unsolicited {line:?}");
        }
        log::trace!("AT > {command}");
        let mut line = Vec::with_capacity(command.len() + 1);
        line.extend_from_slice(command.as_bytes());
        line.push(b'\r');
        if let Err(e) = self.write_all(&line, command, deadline) {
            self.desynced = true;
            return Err(e);
        }
        let mut answer = Vec::new();
        let mut seen = Vec::new();
        loop {
            while let Some(line) = self.next_line() {
                log::trace!("AT < {line}");
                if let Some(result) = FinalResult::parse(&line) {
                    return result.into_result(command).map(|()| answer);
                }
                if is_echo(&line, command) {
                    continue;
                }
                if let Some(info) = expect.matches(&line) {
                    answer.push(info);
                } else {
                    log::debug!(
                        "AT: skipped {:?} while waiting for {}",
                        line,
                        summarize(command)
                    );
                    if seen.len() < 8 {
                        seen.push(summarize(&line));
                    }
                }
            }
            if Instant::now() >= deadline {
                self.desynced = true;
                self.partial.clear();
                if !answer.is_empty() && seen.len() < 8 {
                    seen.extend(answer.iter().map(|a| summarize(a)));
                }
                return Err(AtError::Timeout {
                    command: summarize(command),
                    waited: started.elapsed(),
                    received: seen,
                });
            }
            self.fill(command)?;
        }
    }

    /// Waits until nothing has arrived for a moment (at most until `deadline`, and at most two
    /// seconds), then forgets everything received: the end of a late answer to a command whose
    /// deadline fired.
    pub fn resync(&mut self, deadline: Instant) -> Result<(), AtError> {
        let limit = deadline.min(deadline_after(Instant::now(), MAX_RESYNC));
        let mut last_byte = Instant::now();
        let mut buf = [0u8; 512];
        while Instant::now() < limit && last_byte.elapsed() < QUIET {
            match self.port.read(&mut buf) {
                Ok(0) => thread::sleep(IDLE_PAUSE),
                Ok(n) => {
                    // Late answers may carry card data (an EID): trace level, like APDUs.
                    log::trace!(
                        "AT: discarding {n} late bytes: {:?}",
                        String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
                    );
                    last_byte = Instant::now();
                }
                Err(e) if is_wait(&e) => {}
                Err(e) => return Err(AtError::io("resynchronisation", &e)),
            }
        }
        self.partial.clear();
        self.lines.clear();
        self.desynced = false;
        Ok(())
    }

    /// The next complete non-empty line already received.
    fn next_line(&mut self) -> Option<String> {
        if self.lines.is_empty() {
            None
        } else {
            Some(self.lines.remove(0))
        }
    }

    /// Reads what is available (waiting at most the port's read timeout) and splits it into
    /// lines.
    fn fill(&mut self, command: &str) -> Result<(), AtError> {
        let mut buf = [0u8; 1024];
        let n = match self.port.read(&mut buf) {
            Ok(0) => {
                thread::sleep(IDLE_PAUSE);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if is_wait(&e) => return Ok(()),
            Err(e) => {
                self.desynced = true;
                return Err(AtError::io(command, &e));
            }
        };
        for &byte in buf.get(..n).unwrap_or_default() {
            match byte {
                b'\r' | b'\n' => {
                    if !self.partial.is_empty() {
                        let line = String::from_utf8_lossy(&self.partial).trim().to_owned();
                        self.partial.clear();
                        if !line.is_empty() {
                            self.lines.push(line);
                        }
                    }
                }
                _ if self.partial.len() >= MAX_LINE => {
                    self.partial.clear();
                    self.desynced = true;
                    return Err(AtError::Malformed {
                        command: summarize(command),
                        line: String::new(),
                        reason: "a line longer than 16 KiB (wrong baud rate?)",
                    });
                }
                _ => self.partial.push(byte),
            }
        }
        Ok(())
    }

    fn write_all(
        &mut self,
        mut bytes: &[u8],
        command: &str,
        deadline: Instant,
    ) -> Result<(), AtError> {
        while !bytes.is_empty() {
            match self.port.write(bytes) {
                Ok(0) => {
                    return Err(AtError::io(
                        command,
                        &io::Error::new(io::ErrorKind::WriteZero, "the port accepts no bytes"),
                    ));
                }
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(e) if is_wait(&e) => {}
                Err(e) => return Err(AtError::io(command, &e)),
            }
            if !bytes.is_empty() && Instant::now() >= deadline {
                return Err(AtError::Timeout {
                    command: summarize(command),
                    waited: Duration::ZERO,
                    received: vec!["(the port did not take the command)".into()],
                });
            }
        }
        match self.port.flush() {
            Ok(()) => Ok(()),
            Err(e) if is_wait(&e) => Ok(()),
            Err(e) => Err(AtError::io(command, &e)),
        }
    }
}

/// `start + timeout`, or the farthest instant after `start` the clock can hold when that
/// overflows: a caller's timeout (`Duration::MAX`, a misread setting) must not panic.
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    let mut wait = timeout;
    loop {
        if let Some(deadline) = start.checked_add(wait) {
            return deadline;
        }
        // Halving ends: `start + 0` always exists.
        wait /= 2;
    }
}

/// Errors that only mean "nothing yet".
fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted modem: each written command line (up to CR) pops the next canned answer.
    /// Reads return at most `chunk` bytes, then `TimedOut` when nothing is pending.
    struct Script {
        answers: VecDeque<&'static str>,
        out: VecDeque<u8>,
        written: Vec<u8>,
        chunk: usize,
    }

    impl Script {
        fn new(answers: &[&'static str]) -> Self {
            Script {
                answers: answers.iter().copied().collect(),
                out: VecDeque::new(),
                written: Vec::new(),
                chunk: 3,
            }
        }
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.out.is_empty() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "nothing"));
            }
            let n = buf.len().min(self.chunk).min(self.out.len());
            for b in buf.iter_mut().take(n) {
                *b = self.out.pop_front().unwrap();
            }
            Ok(n)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            for &b in buf {
                self.written.push(b);
                if b == b'\r'
                    && let Some(a) = self.answers.pop_front()
                {
                    self.out.extend(a.bytes());
                }
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const T: Duration = Duration::from_millis(200);

    #[test]
    fn echo_urcs_and_every_line_ending() {
        let mut e = AtEngine::new(Script::new(&[
            "AT+CSIM=4,\"9000\"\r\r\n+CREG: 1\r\nRING\n+CSIM: 4,\"9000\"\r\rOK\n",
            "\n\nAT+CGMI\r\nQuectel\r\n\r\nOK\r\n",
        ]));
        assert_eq!(
            e.command("AT+CSIM=4,\"9000\"", Expect::Prefix("+CSIM:"), T)
                .unwrap(),
            vec!["4,\"9000\"".to_owned()]
        );
        assert_eq!(
            e.command("AT+CGMI", Expect::Text("+CGMI:"), T).unwrap(),
            vec!["Quectel".to_owned()]
        );
        assert_eq!(e.into_inner().written, b"AT+CSIM=4,\"9000\"\rAT+CGMI\r");
    }

    #[test]
    fn refusals_are_typed() {
        let mut e = AtEngine::new(Script::new(&[
            "\r\nERROR\r\n",
            "\r\n+CME ERROR: 4\r\n",
            "\r\n+CMS ERROR: 305\r\n",
        ]));
        assert_eq!(
            e.command("AT+X", Expect::Nothing, T),
            Err(AtError::Error {
                command: "AT+X".into()
            })
        );
        assert!(matches!(
            e.command("AT+CCHO=\"A0\"", Expect::Nothing, T),
            Err(AtError::Cme { error, .. }) if error.is_unsupported()
        ));
        assert!(matches!(
            e.command("AT+Y", Expect::Nothing, T),
            Err(AtError::Cms { error, .. }) if error == "305"
        ));
    }

    #[test]
    fn a_silent_modem_hits_the_deadline_and_a_late_answer_is_discarded() {
        let mut e = AtEngine::new(Script::new(&[]));
        let started = Instant::now();
        let err = e.command("AT+CCHO=?", Expect::Nothing, T).unwrap_err();
        assert!(started.elapsed() < T * 10);
        assert!(matches!(err, AtError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("AT+CCHO=?"), "{err}");
        // The late OK arrives now; the next command must not take it as its answer.
        e.port.out.extend(b"\r\nOK\r\n");
        e.port.answers.push_back("\r\n+CGMM: EC25\r\n\r\nOK\r\n");
        assert_eq!(
            e.command("AT+CGMM", Expect::Text("+CGMM:"), T).unwrap(),
            vec!["EC25".to_owned()]
        );
    }

    #[test]
    fn a_timeout_of_duration_max_does_not_overflow() {
        let far = deadline_after(Instant::now(), Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(365 * 24 * 3600));
        let mut e = AtEngine::new(Script::new(&[
            "\r\nOK\r\n",
            "\r\n+CGMM: EC25\r\n\r\nOK\r\n",
        ]));
        assert_eq!(e.command("AT", Expect::Nothing, Duration::MAX), Ok(vec![]));
        // After a missed deadline the next command resynchronises first, from its own timeout.
        e.desynced = true;
        e.port.out.extend(b"\r\nOK\r\n");
        assert_eq!(
            e.command("AT+CGMM", Expect::Text("+CGMM:"), Duration::MAX)
                .unwrap(),
            vec!["EC25".to_owned()]
        );
        // And a resync handed a far deadline still stops after its own two seconds at most.
        e.desynced = true;
        e.resync(far).unwrap();
    }

    #[test]
    fn garbage_without_line_ends_is_refused() {
        let flood: &'static str = Box::leak("x".repeat(MAX_LINE + 10).into_boxed_str());
        let mut s = Script::new(&[flood]);
        s.chunk = 4096;
        let mut e = AtEngine::new(s);
        assert!(matches!(
            e.command("AT", Expect::Nothing, Duration::from_secs(2)),
            Err(AtError::Malformed { .. })
        ));
    }
}
