//! Deadlines around blocking PC/SC calls.
//!
//! PC/SC calls block without a deadline of their own: `SCardTransmit` waits as long as the
//! reader driver does (a card may ask for more time indefinitely, and vpcd waits for its virtual
//! card forever), `SCardEstablishContext` waits for a hung pcscd. Each such call therefore runs on
//! a helper thread while the caller waits at most its deadline. A call that misses it cannot be
//! interrupted (PC/SC has no way to cancel a transmit); its thread is left to finish on its own
//! when the call returns, which pcscd does once the reader, its driver or the card gives up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::error::PcscError;

/// Numbers helper threads so that each has a name of its own.
static NEXT_THREAD_ID: AtomicU64 = AtomicU64::new(1);

/// A unique thread name with this prefix, e.g. `pcsc-session-3`.
pub(crate) fn thread_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `f` on a helper thread and waits at most `timeout` for its result. On a missed deadline,
/// returns [`PcscError::Timeout`] about `what` and leaves the thread to end when `f` returns.
pub(crate) fn call_with_deadline<T, F>(what: &str, timeout: Duration, f: F) -> Result<T, PcscError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, PcscError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(thread_name("pcsc-call"))
        .spawn(move || {
            // The caller may have given up: nobody to tell then.
            let _ = tx.send(f());
        })
        .map_err(|e| PcscError::Thread(e.to_string()))?;
    match rx.recv_timeout(timeout) {
        Ok(result) => {
            // The thread has sent its result and is ending: joining it does not block for long.
            let _ = handle.join();
            result
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            log::warn!("{what}: no answer within {timeout:?}; leaving the PC/SC call to finish");
            Err(PcscError::Timeout {
                what: what.to_owned(),
                after: timeout,
            })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = handle.join();
            Err(PcscError::Thread(format!(
                "{what}: the helper thread ended without an answer"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn returns_the_result_of_a_prompt_call() {
        assert_eq!(
            call_with_deadline("add", Duration::from_secs(5), || Ok(2 + 2)),
            Ok(4)
        );
        assert_eq!(
            call_with_deadline::<(), _>("fail", Duration::from_secs(5), || {
                Err(PcscError::NoReaders)
            }),
            Err(PcscError::NoReaders)
        );
    }

    #[test]
    fn a_call_missing_its_deadline_is_a_timeout_without_waiting_for_it() {
        let started = Instant::now();
        let result = call_with_deadline("slow call", Duration::from_millis(50), || {
            thread::sleep(Duration::from_millis(500));
            Ok(())
        });
        assert_eq!(
            result,
            Err(PcscError::Timeout {
                what: "slow call".to_owned(),
                after: Duration::from_millis(50)
            })
        );
        assert!(started.elapsed() < Duration::from_millis(400));
    }
}
