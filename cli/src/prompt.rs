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

/// A yes/no question; only `y`/`yes` is yes.
pub fn confirm(question: &str, deadline: Duration) -> Reply {
    ask(&format!("{question} [y/N] "), deadline)
}

/// Whether a reply to [`confirm`] is yes.
pub fn is_yes(reply: &Reply) -> bool {
    matches!(reply, Reply::Line(l) if matches!(l.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}
