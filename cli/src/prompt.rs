//! Questions to the person at the terminal, each with a deadline (SGP.22 has a `timeout`
//! decline reason for a user who does not answer).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// How long a question waits for an answer.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(300);

/// Whether someone can answer: stdin and stderr (where questions go) are terminals.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Lines read from stdin by one reader thread (started at the first question): reading a
/// terminal cannot be given a deadline otherwise. `None` is end of input.
fn lines() -> &'static Mutex<Receiver<Option<String>>> {
    static LINES: OnceLock<Mutex<Receiver<Option<String>>>> = OnceLock::new();
    LINES.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("lpa-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                loop {
                    let mut line = String::new();
                    let read = stdin.lock().read_line(&mut line);
                    let eof = !matches!(read, Ok(n) if n > 0);
                    if tx.send((!eof).then_some(line)).is_err() || eof {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            // No reader: every question sees end of input at once.
            let (tx, rx) = mpsc::channel();
            let _ = tx.send(None);
            return Mutex::new(rx);
        }
        Mutex::new(rx)
    })
}

/// What came back from a question.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// A line (without its line end).
    Line(String),
    /// End of input.
    Closed,
    /// Nobody answered in time.
    TimedOut,
}

/// Prints `question` on stderr and waits up to `deadline` for a line on stdin.
pub fn ask(question: &str, deadline: Duration) -> Reply {
    // The progress bar is hidden while the question waits.
    crate::logger::suspend(|| {
        let mut err = std::io::stderr();
        let _ = write!(err, "{question}");
        let _ = err.flush();
        let rx = lines().lock().unwrap_or_else(|p| p.into_inner());
        match rx.recv_timeout(deadline) {
            Ok(Some(line)) => Reply::Line(line.trim_end_matches(['\r', '\n']).to_owned()),
            Ok(None) | Err(RecvTimeoutError::Disconnected) => Reply::Closed,
            Err(RecvTimeoutError::Timeout) => {
                let _ = writeln!(err);
                Reply::TimedOut
            }
        }
    })
}

/// Like [`ask`], for a secret (the confirmation code, SGP.22 §3.1.3.2): when stdin is a
/// terminal, what is typed is not shown, only the line end. The answer goes nowhere else (no log
/// line, no JSON).
///
/// The echo is turned off on stdin's terminal around the question, and the line is read by the
/// same stdin reader as every other answer: a password crate reading `/dev/tty` by itself would
/// race that reader (which is already waiting on the terminal after the consent question) for
/// the line, and could not be given the deadline.
pub fn ask_hidden(question: &str, deadline: Duration) -> Reply {
    let echo_off = EchoOff::on(std::io::stdin());
    let reply = ask(question, deadline);
    drop(echo_off);
    reply
}

/// Echo turned off on a terminal (typed text not shown, the line end still shown) until this is
/// dropped; does nothing when the file is no terminal.
#[cfg(unix)]
struct EchoOff<F: std::os::fd::AsFd> {
    terminal: F,
    /// The attributes to restore; `None` when nothing was changed.
    saved: Option<rustix::termios::Termios>,
}

#[cfg(unix)]
impl<F: std::os::fd::AsFd> EchoOff<F> {
    fn on(terminal: F) -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

        let Ok(saved) = tcgetattr(&terminal) else {
            return EchoOff {
                terminal,
                saved: None,
            };
        };
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        let changed = tcsetattr(&terminal, OptionalActions::Now, &quiet).is_ok();
        EchoOff {
            terminal,
            saved: changed.then_some(saved),
        }
    }
}

#[cfg(unix)]
impl<F: std::os::fd::AsFd> Drop for EchoOff<F> {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = rustix::termios::tcsetattr(
                &self.terminal,
                rustix::termios::OptionalActions::Now,
                &saved,
            );
        }
    }
}

/// Elsewhere the answer is shown as it is typed (`--confirmation-code` or
/// `LPA_CONFIRMATION_CODE` avoid that).
#[cfg(not(unix))]
struct EchoOff;

#[cfg(not(unix))]
impl EchoOff {
    fn on<F>(_terminal: F) -> Self {
        EchoOff
    }
}

/// A yes/no question; only `y`/`yes` is yes.
pub fn confirm(question: &str, deadline: Duration) -> Reply {
    ask(&format!("{question} [y/N] "), deadline)
}

/// Whether a reply to [`confirm`] is yes.
pub fn is_yes(reply: &Reply) -> bool {
    matches!(reply, Reply::Line(l) if matches!(l.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(all(test, unix))]
mod tests {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    use rustix::termios::{LocalModes, tcgetattr};

    use super::*;

    /// The confirmation code prompt echoed what was typed.
    #[test]
    fn echo_is_off_while_a_secret_is_asked_and_restored_after() {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let terminal = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY,
            Mode::empty(),
        )
        .unwrap();
        let before = tcgetattr(&terminal).unwrap().local_modes;
        assert!(before.contains(LocalModes::ECHO));

        let echo_off = EchoOff::on(&terminal);
        let during = tcgetattr(&terminal).unwrap().local_modes;
        assert!(!during.contains(LocalModes::ECHO));
        assert!(during.contains(LocalModes::ECHONL));
        assert!(during.contains(LocalModes::ICANON));
        drop(echo_off);

        assert_eq!(tcgetattr(&terminal).unwrap().local_modes, before);
    }

    #[test]
    fn a_file_that_is_no_terminal_is_left_alone() {
        let file = tempfile::tempfile().unwrap();
        let echo_off = EchoOff::on(&file);
        assert!(echo_off.saved.is_none());
    }
}
