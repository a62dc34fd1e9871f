//! A process killed in the middle of a download leaves a session the next start ends.
//!
//! The test runs the package's `crash_child` binary (`src/bin/crash_child.rs`) as a child
//! process. The child runs an `Lpa` with an `AtTransport` on the parent's emulated modem (the
//! SoftEuicc and the SM-DP+ live in the parent) and a `FileStore`, and blocks for good right after PrepareDownload: its HTTP client prints
//! `READY` when getBoundProfilePackage is due and never sends it. The parent kills the child
//! (SIGKILL: nothing of it runs any more), starts a new `Lpa` on the same `FileStore` and calls
//! `recover()`: the card gets ES10b CancelSession, the SM-DP+ ES9+ cancelSession, the record is
//! gone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Bed, User, activation_code, ccho_modem, lpa_on_modem};
use lpa::storage::{FileStore, SessionStore};
use lpa_at::AccessMode;
use lpa_core::messages::CancelSessionReason;
use lpa_core::procedures::{CardCancellation, ServerCancellation, SessionRecord, SessionStage};
use lpa_e2e::crash::{CI, MATCHING_ID, MODEM, READY, SMDP, STORE};
use lpa_testbed::modem::Modem;
use lpa_testbed::smdp::ProfileStatus;

#[test]
fn a_process_killed_mid_download_leaves_a_session_the_next_start_ends() {
    let bed = Bed::new();
    let (iccid, matching_id) = bed.order(1, None);
    // The modem the child talks through: echo, URCs, a bare +CCHO answer.
    let modem = Modem::start(bed.shared_card(), ccho_modem()).unwrap();
    let dir = std::env::temp_dir().join(format!("lpa-e2e-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store_path = dir.join("session.json");

    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_child"))
        .env(MODEM, modem.path())
        .env(SMDP, bed.server.addr().to_string())
        .env(CI, lpa::es10::redact::hex(&common::pki().ci.certificate))
        .env(STORE, &store_path)
        .env(MATCHING_ID, &matching_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel::<String>();
    for output in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(lines);

    // Wait (at most a minute) for the child to be stuck after PrepareDownload.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut output = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains(READY) => break,
            Ok(line) => output.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child did not reach getBoundProfilePackage within a minute; it said:\n{}",
                    output.join("\n")
                );
            }
        }
    }
    // The child's last words before the crash: its session record, on disk.
    let store = FileStore::new(&store_path);
    let record: SessionRecord = serde_json::from_slice(&store.load().unwrap().unwrap()).unwrap();
    assert_eq!(record.stage, SessionStage::Prepared);
    assert_eq!(bed.smdp().session_count(), 1);
    assert_eq!(bed.requests(0xBF21), 1, "PrepareDownload reached the card");

    // Crash.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    assert_eq!(bed.requests(0xBF41), 0, "nobody cancelled anything yet");

    // The next start. The modem re-enumerates as a new device: the emulated modem keeps its
    // own handle on the old pty, so the killed child's exclusive lock (TIOCEXCL) would outlive
    // it there, unlike on a real device whose last close releases it.
    let modem_again = Modem::start(bed.shared_card(), ccho_modem()).unwrap();
    let http = Arc::new(bed.https());
    let mut lpa = lpa_on_modem(
        modem_again.path(),
        AccessMode::LogicalChannels,
        http,
        Box::new(FileStore::new(&store_path)),
    );
    assert_eq!(lpa.stranded_session().unwrap(), Some(record.clone()));
    let end = lpa.recover().unwrap().expect("a stranded session");
    assert_eq!(end.transaction_id, record.transaction_id);
    assert_eq!(end.reason, CancelSessionReason::UndefinedReason);
    assert_eq!(end.card, CardCancellation::Cancelled);
    assert_eq!(end.server, ServerCancellation::Cancelled);
    // The card was sent CancelSession and has no session any more.
    assert_eq!(bed.requests(0xBF41), 1);
    assert!(bed.card_has_no_session(&record.transaction_id));
    // The SM-DP+ got cancelSession: no session, and the order (undefinedReason: not the
    // user's doing) can be downloaded again.
    assert_eq!(bed.smdp().session_count(), 0);
    assert_eq!(bed.status(&iccid), ProfileStatus::Released);
    // The record is gone, from the store and from the disk.
    assert_eq!(store.load().unwrap(), None);
    assert!(!store_path.exists());
    assert!(lpa.recover().unwrap().is_none());

    // And the download can be done now.
    let report = lpa
        .download(activation_code(&matching_id), &mut User::accepting(None))
        .unwrap();
    assert!(report.installation.is_installed());
    assert_eq!(bed.status(&iccid), ProfileStatus::Installed);
    drop(lpa);
    drop(modem_again);
    drop(modem);
    std::fs::remove_dir_all(&dir).unwrap();
}
