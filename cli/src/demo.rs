//! `lpa demo`: the whole chain on this machine, no hardware, real protocols all the way.
//!
//! ```text
//!   fresh test PKI ─┬─> test SM-DP+ on https://127.0.0.1:<random> (TLS cert from the fresh CI)
//!                   │       ^  ES2+ downloadOrder/confirmOrder over HTTPS (the operator)
//!                   │       │  ES9+ over HTTPS, verified: HttpsClient trusts only the fresh CI,
//!                   │       │  testsmdpplus1.example.com:443 overridden to 127.0.0.1:<port>
//!                   │   lpa::Lpa ── lpa-at AtTransport ── /dev/pts/N ── emulated modem ──┐
//!                   └─> SoftEuicc (its state in the temp folder) <─────── APDUs ──────────┘
//! ```
//!
//! Every step is printed as it happens. Everything the demo starts is stopped and joined
//! before it returns (SM-DP+ threads, the modem thread, the pty), and its folder is removed;
//! on Linux it checks that the process is back to its one main thread. Every wait has a
//! deadline (AT commands, HTTP phases), so a broken step fails instead of hanging.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lpa::http::{HttpClient, HttpError, HttpRequest};
use lpa::https::{BundledTrust, HttpsClient, HttpsConfig};
use lpa::storage::FileStore;
use lpa::{
    Answer, DownloadRequest, DownloadUi, ErrorKind, Lpa, LpaConfig, NotificationFilter, Progress,
};
use lpa::{RetryPolicy, es10::SegmentSize};
use lpa_at::{AtOptions, AtTransport};
use lpa_core::ids::Iccid;
use lpa_core::messages::{ProfileState, StoreMetadataRequest};
use lpa_testbed::card::SharedCard;
use lpa_testbed::modem::{Modem, ModemConfig};
use lpa_testbed::smdp::{ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer};
use lpa_testbed::support::{Es2Error, Es2Order, es2_call, order_profile};
use serde_json::{Value, json};

use crate::args::Cli;
use crate::error::CliError;
use crate::lpa_errors::from_lpa;
use crate::output::Output;
use crate::render;

/// The SM-DP+ name the demo's TLS certificate carries.
const HOST: &str = lpa_testbed::pki::DEFAULT_SMDP_HOST;
/// Deadlines: the demo must finish in seconds, or fail clearly.
const HTTP_CONNECT: Duration = Duration::from_secs(5);
const HTTP_RESPONSE: Duration = Duration::from_secs(20);
const AT_COMMAND: Duration = Duration::from_secs(5);
const AT_LONG: Duration = Duration::from_secs(20);
/// What the demo promises.
const BUDGET: Duration = Duration::from_secs(30);

/// Prints the steps (human output) and keeps them (JSON output).
struct Reporter {
    json: bool,
    start: Instant,
    steps: Vec<Value>,
}

impl Reporter {
    fn step(&mut self, name: &str, text: String, data: Value) {
        let elapsed = self.start.elapsed();
        if !self.json {
            let n = self.steps.len() + 1;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{n:>2}. {text}");
            let _ = out.flush();
        }
        self.steps.push(json!({
            "step": name,
            "text": text,
            "elapsed_ms": elapsed.as_millis() as u64,
            "data": data,
        }));
    }

    fn detail(&self, line: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "      {line}");
            let _ = out.flush();
        }
    }
}

/// The demo's user: accepts the profile, prints each step of the download.
struct DemoUi<'a> {
    reporter: &'a Reporter,
    events: Vec<Value>,
}

impl DownloadUi for DemoUi<'_> {
    fn confirm_profile(&mut self, metadata: &StoreMetadataRequest, smdp_address: &str) -> Answer {
        self.reporter.detail(&format!(
            "the user accepts {} ({} / {}) from {smdp_address}",
            metadata.iccid, metadata.service_provider_name, metadata.profile_name
        ));
        Answer::Accept
    }

    fn confirmation_code(&mut self, _smdp_address: &str) -> Option<String> {
        None
    }

    fn progress(&mut self, event: &Progress) {
        if let Some(text) = crate::ui::progress_text(event) {
            self.reporter.detail(&text);
        }
        self.events.push(crate::ui::progress_json(event));
    }
}

/// Runs the demo and prints its result.
pub fn run(cli: &Cli, out: Output) -> Result<(), CliError> {
    let mut reporter = Reporter {
        json: out.json,
        start: Instant::now(),
        steps: Vec::new(),
    };
    if !out.json {
        println!(
            "lpa demo: the whole SGP.22 chain on this machine, no hardware (test SM-DP+, \
             software eUICC, emulated modem)\n"
        );
    }
    let threads_before = thread_count();
    let folder = tempfile::Builder::new()
        .prefix("lpa-demo-")
        .tempdir()
        .map_err(|e| CliError::internal(format!("creating the demo folder: {e}")))?;
    let folder_path = folder.path().to_path_buf();
    // Everything the chain starts lives inside `chain`; it is stopped and joined when the
    // function returns, success or not.
    let outcome = chain(&mut reporter, folder.path(), cli);
    let removed = folder.close().is_ok() && !folder_path.exists();
    let threads_after = thread_count();
    let elapsed = reporter.start.elapsed();
    let leftover = match (threads_before, threads_after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    reporter.step(
        "cleanup",
        format!(
            "cleanup: SM-DP+ stopped, modem stopped, pty closed, temp folder {}; {}",
            if removed { "removed" } else { "NOT removed" },
            match leftover {
                Some(0) => "no thread left running".to_owned(),
                Some(n) => format!("{n} thread(s) STILL RUNNING"),
                None => "(threads not countable on this system)".to_owned(),
            }
        ),
        json!({ "temp_folder_removed": removed, "threads_left": leftover }),
    );
    let summary = match outcome {
        Ok(summary) => summary,
        Err(mut e) => {
            e.message = format!("demo failed: {}", e.message);
            e.partial = Some(json!({ "steps": reporter.steps }));
            return Err(e);
        }
    };
    if !removed || leftover.is_some_and(|n| n > 0) {
        let mut e = CliError::internal("demo failed: it left something behind (see cleanup)");
        e.partial = Some(json!({ "steps": reporter.steps }));
        return Err(e);
    }
    let within = elapsed <= BUDGET;
    let data = json!({
        "ok": true,
        "elapsed_ms": elapsed.as_millis() as u64,
        "within_budget": within,
        "eid": summary.eid,
        "iccid": summary.iccid,
        "matching_id": summary.matching_id,
        "profiles": summary.profiles,
        "steps": reporter.steps,
    });
    out.success(data, || {
        format!(
            "\ndemo OK: downloaded, enabled and notified over AT and verified TLS in {:.1} s{}",
            elapsed.as_secs_f64(),
            if within {
                String::new()
            } else {
                format!(" (over the {} s budget: a slow machine?)", BUDGET.as_secs())
            }
        )
    });
    Ok(())
}

/// What a successful chain produced.
struct Summary {
    eid: String,
    iccid: String,
    matching_id: String,
    profiles: Value,
}

/// Threads of this process (Linux), to check the demo left none running.
fn thread_count() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

fn internal(what: &str) -> impl Fn(&dyn std::fmt::Display) -> CliError + '_ {
    move |e| CliError::internal(format!("{what}: {e}"))
}

fn chain(
    reporter: &mut Reporter,
    folder: &std::path::Path,
    cli: &Cli,
) -> Result<Summary, CliError> {
    // 1. A fresh test PKI: nothing from an earlier run, nothing shared with anyone.
    let pki = crate::testbed::generate_pki(2).map_err(|e| internal("test PKI")(&e))?;
    let ci_pkid = pki.ci_pkid().map_err(|e| internal("test PKI")(&e))?;
    reporter.step(
        "pki",
        format!(
            "test PKI generated: CI (key id {}), EUM, eUICC, SM-DP+ auth, binding and TLS \
             certificates",
            render::hex(&ci_pkid)
        ),
        json!({ "ci_pkid": render::hex(&ci_pkid) }),
    );

    // 2. The test SM-DP+ on 127.0.0.1, a random port.
    let smdp = Smdp::new(SmdpConfig::from_pki(&pki)).map_err(|e| internal("SM-DP+")(&e))?;
    let profile = ServedProfile::demo(1);
    let iccid = profile.iccid;
    smdp.add_profile(profile)
        .map_err(|e| internal("SM-DP+ inventory")(&e))?;
    let server = SmdpServer::start(Arc::new(smdp), ServerOptions::default())
        .map_err(|e| internal("starting the SM-DP+")(&e))?;
    let addr = server.addr();
    reporter.step(
        "smdp",
        format!(
            "test SM-DP+ {HOST} listening on https://{addr} (TLS certificate issued by the \
             fresh CI)"
        ),
        json!({ "host": HOST, "address": addr.to_string() }),
    );

    // HTTPS as the LPA does it, but trusting only the fresh CI (no bundled CI at all), with
    // the SM-DP+ name sent to 127.0.0.1:<port>: SNI, certificate name check and Host header
    // all use the real name.
    let https = HttpsConfig::new()
        .bundled_cis(BundledTrust::None)
        .add_root(pki.ci.certificate.clone())
        .resolve(HOST, 443, addr)
        .connect_timeout(HTTP_CONNECT)
        .response_timeout(HTTP_RESPONSE)
        .build()
        .map_err(|e| internal("HTTPS client")(&e))?;
    let https = Arc::new(https);

    // The proof that TLS is verified: a client trusting only the live GSMA CI is refused.
    let untrusting = HttpsConfig::new()
        .resolve(HOST, 443, addr)
        .connect_timeout(HTTP_CONNECT)
        .response_timeout(HTTP_RESPONSE)
        .build()
        .map_err(|e| internal("HTTPS client")(&e))?;
    match es2_call(&operator(&untrusting), "downloadOrder", &json!({})) {
        Err(Es2Error::Transport(HttpError::Tls(why))) => reporter.step(
            "tls_check",
            "TLS check: a client that does not trust the fresh CI is refused by certificate \
             verification, as it must be"
                .to_owned(),
            json!({ "refused": true, "reason": why }),
        ),
        other => {
            return Err(CliError::new(
                ErrorKind::ServerUnreachable,
                format!(
                    "TLS check: a client without the test CI was not refused as expected: \
                     {other:?}"
                ),
            ));
        }
    }

    // 3. The operator orders the profile for this EID through ES2+, over the same HTTPS.
    let eid = lpa_testbed::pki::DEFAULT_EID;
    let order = Es2Order::new(eid, iccid).with_requester("demo-operator");
    let matching_id = order_profile(&operator(https.as_ref()), &order).map_err(es2_failure)?;
    if matching_id.is_empty() {
        return Err(CliError::new(
            ErrorKind::Protocol,
            "ES2+ confirmOrder gave an empty matching ID".to_owned(),
        ));
    }
    let activation_code = format!("LPA:1${HOST}${matching_id}");
    reporter.step(
        "order",
        format!(
            "operator order placed over ES2+ (downloadOrder, confirmOrder): profile {iccid} for \
             EID {eid}, activation code {activation_code}"
        ),
        json!({ "iccid": iccid.to_string(), "matching_id": matching_id, "activation_code": activation_code }),
    );

    // 4. A software eUICC behind an emulated modem on a real pseudo-terminal.
    let card = crate::testbed::soft_euicc(&pki, Some(folder.join("euicc.json")))?;
    let card: SharedCard = Arc::new(Mutex::new(card));
    let mut modem = Modem::start(Arc::clone(&card), ModemConfig::new())
        .map_err(|e| internal("starting the emulated modem")(&e))?;
    let tty = modem.path().to_string_lossy().into_owned();
    reporter.step(
        "modem",
        format!("software eUICC (EID {eid}) behind an emulated AT modem on {tty}"),
        json!({ "tty": tty, "eid": eid }),
    );

    // 5. The real AT transport on that pty.
    let mut at = AtTransport::open(
        &tty,
        AtOptions::new()
            .with_command_timeout(AT_COMMAND)
            .with_long_timeout(AT_LONG),
    )
    .map_err(|e| CliError::new(ErrorKind::CardUnreachable, format!("AT transport: {e}")))?;
    let segment = SegmentSize::new(at.max_apdu_data().unwrap_or(255).clamp(1, 255))
        .map_err(|e| internal("segment size")(&e))?;
    at.share_segment_size(segment.clone());
    reporter.step(
        "at",
        format!(
            "AT transport (lpa-at) opened {tty}: modem {} (AT, ATE0, AT+CMEE=2, AT+CGMI, AT+CGMM)",
            at.identity()
        ),
        json!({ "modem": at.identity().to_string() }),
    );

    let outcome = {
        let config = LpaConfig::new()
            .with_segment_size(segment)
            .with_log_sensitive(cli.output.log_sensitive)
            .with_notification_retry(RetryPolicy::NONE);
        let mut lpa = Lpa::new(
            Box::new(at),
            Arc::clone(&https) as Arc<dyn HttpClient>,
            Box::new(FileStore::new(folder.join("lpa-session"))),
            config,
        )
        .map_err(|e| from_lpa(&e, None))?;
        drive_lpa(reporter, &mut lpa, &activation_code, iccid)
        // The LPA (and with it the AT port) is dropped here.
    };
    let stats = modem.stats();
    modem.stop();
    let (eid_read, profiles) = outcome?;

    // What the SM-DP+ saw.
    let record = server.smdp().profile(&iccid.to_string());
    let received = server.smdp().notifications();
    let status = record
        .as_ref()
        .map(|r| format!("{:?}", r.status))
        .unwrap_or_else(|| "unknown".into());
    let operations: Vec<String> = received.iter().map(|n| n.operation.clone()).collect();
    reporter.step(
        "smdp_view",
        format!(
            "the SM-DP+ received {} notification(s) ({}); the order is now {status}; the modem \
             carried {} APDUs in {} AT commands",
            received.len(),
            operations.join(", "),
            stats.apdus,
            stats.commands
        ),
        json!({
            "notifications_received": operations,
            "order_status": status,
            "modem_apdus": stats.apdus,
            "modem_commands": stats.commands,
        }),
    );
    if status != "Installed" || received.len() < 2 {
        return Err(CliError::new(
            ErrorKind::ServerRefused,
            format!(
                "the SM-DP+ should have the order Installed with the install and enable \
                 notifications; it has {status} and {} notification(s)",
                received.len()
            ),
        ));
    }
    drop(server);
    drop(card);
    Ok(Summary {
        eid: eid_read,
        iccid: iccid.to_string(),
        matching_id,
        profiles,
    })
}

/// Steps 6 to 9 through the LPA: download, enable, notifications, profile list.
fn drive_lpa(
    reporter: &mut Reporter,
    lpa: &mut Lpa,
    activation_code: &str,
    ordered: Iccid,
) -> Result<(String, Value), CliError> {
    let eid = lpa.eid().map_err(|e| from_lpa(&e, None))?.to_string();

    reporter.step(
        "download",
        format!(
            "download {activation_code} through the AT transport and verified TLS (only the \
             fresh CI trusted, {HOST}:443 -> 127.0.0.1):"
        ),
        json!({}),
    );
    let mut ui = DemoUi {
        reporter,
        events: Vec::new(),
    };
    let result = lpa.download(
        DownloadRequest::ActivationCode(activation_code.to_owned()),
        &mut ui,
    );
    let events = std::mem::take(&mut ui.events);
    let report = result.map_err(|e| from_lpa(&e, lpa.last_session_end()))?;
    let iccid = report.installation.iccid;
    if iccid != ordered {
        return Err(CliError::new(
            ErrorKind::Protocol,
            format!("installed {iccid}, but {ordered} was ordered"),
        ));
    }
    if let Some(step) = reporter.steps.last_mut()
        && let Some(data) = step.get_mut("data")
    {
        *data = json!({
            "progress": events,
            "installation": render::installation(&report.installation),
            "notifications": render::delivery_report(&report.notifications),
        });
    }
    if !report.notifications.all_delivered() || report.notifications.notifications.is_empty() {
        return Err(CliError::new(
            ErrorKind::ServerUnreachable,
            format!(
                "the install notification was not delivered: {}",
                render::delivery_lines(&report.notifications).join("; ")
            ),
        ));
    }

    let enabled = lpa.enable(&iccid, true).map_err(|e| from_lpa(&e, None))?;
    reporter.step(
        "enable",
        format!("profile {iccid} enabled"),
        render::delivery_report(&enabled),
    );
    for line in render::delivery_lines(&enabled) {
        reporter.detail(&line);
    }
    if !enabled.all_delivered() || enabled.notifications.is_empty() {
        return Err(CliError::new(
            ErrorKind::ServerUnreachable,
            "the enable notification was not delivered",
        ));
    }

    // Anything still pending is delivered now; nothing may be left on the card.
    let rest = lpa
        .process_notifications(NotificationFilter::all())
        .map_err(|e| from_lpa(&e, None))?;
    let left = lpa.list_notifications().map_err(|e| from_lpa(&e, None))?;
    reporter.step(
        "notifications",
        format!(
            "notifications: {} more delivered, {} left on the eUICC (each was removed only \
             after the SM-DP+ accepted it)",
            rest.delivered().count(),
            left.len()
        ),
        json!({ "delivered": rest.delivered().count(), "left_on_card": left.len() }),
    );
    if !left.is_empty() {
        return Err(CliError::new(
            ErrorKind::ServerUnreachable,
            format!("{} notification(s) left on the eUICC", left.len()),
        ));
    }

    let profiles = lpa.profiles().map_err(|e| from_lpa(&e, None))?;
    reporter.step(
        "profiles",
        "profiles on the eUICC:".to_owned(),
        json!({ "profiles": profiles.iter().map(render::profile).collect::<Vec<_>>() }),
    );
    for line in render::profile_table(&profiles).lines() {
        reporter.detail(line);
    }
    let ok = profiles
        .iter()
        .any(|p| p.iccid == Some(iccid) && p.profile_state == Some(ProfileState::Enabled));
    if !ok {
        return Err(CliError::new(
            ErrorKind::CardRefused,
            format!("profile {iccid} is not listed as enabled"),
        ));
    }
    Ok((
        eid,
        Value::Array(profiles.iter().map(render::profile).collect()),
    ))
}

/// The operator's ES2+ endpoint: JSON over `https` to the test SM-DP+, for the shared
/// [`order_profile`].
fn operator(https: &HttpsClient) -> impl Fn(&str, &[u8]) -> Result<(u16, Vec<u8>), HttpError> + '_ {
    move |path, body| {
        let request = HttpRequest {
            url: format!("https://{HOST}{path}"),
            headers: vec![
                ("Content-Type".into(), lpa_core::es9::CONTENT_TYPE.into()),
                (
                    "X-Admin-Protocol".into(),
                    lpa_core::es9::X_ADMIN_PROTOCOL.into(),
                ),
                ("User-Agent".into(), "lpa-demo-operator".into()),
            ],
            body: body.to_vec(),
        };
        https.post(&request).map(|r| (r.status, r.body))
    }
}

/// An ES2+ failure as the CLI reports it.
fn es2_failure(e: Es2Error<HttpError>) -> CliError {
    match e {
        Es2Error::Transport(e) => CliError::new(
            ErrorKind::ServerUnreachable,
            format!("ES2+ over HTTPS: {e}"),
        ),
        refused => CliError::new(ErrorKind::ServerRefused, refused.to_string()),
    }
}
