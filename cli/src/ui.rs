//! The download's user side on a command line: consent and confirmation-code prompts on a
//! terminal (or `--yes` / `--confirmation-code`), and progress as a bar, plain lines or JSON
//! lines on stderr.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lpa::{Answer, DownloadUi, Progress};
use lpa_core::messages::{CancelSessionReason, StoreMetadataRequest};
use serde_json::{Value, json};

use crate::args::ProgressMode;
use crate::prompt::{self, Reply};
use crate::render;

/// Where progress goes.
pub enum ProgressSink {
    /// Nowhere.
    Silent,
    /// Plain lines on stderr.
    Plain,
    /// One JSON object per line on stderr.
    JsonLines,
    /// A bar on stderr (created at the first event).
    Bar(Option<ProgressBar>),
}

impl ProgressSink {
    /// The sink `--progress` asks for; `auto` is a bar on a terminal, plain lines otherwise,
    /// nothing with `--json` off a terminal.
    pub fn for_mode(mode: ProgressMode, json: bool) -> ProgressSink {
        let terminal = std::io::stderr().is_terminal();
        match mode {
            ProgressMode::Auto if terminal => ProgressSink::Bar(None),
            ProgressMode::Auto if json => ProgressSink::Silent,
            ProgressMode::Auto => ProgressSink::Plain,
            ProgressMode::Bar => ProgressSink::Bar(None),
            ProgressMode::Json => ProgressSink::JsonLines,
            ProgressMode::Plain => ProgressSink::Plain,
            ProgressMode::None => ProgressSink::Silent,
        }
    }

    /// Reports one event.
    pub fn report(&mut self, event: &Progress) {
        match self {
            ProgressSink::Silent => {}
            ProgressSink::JsonLines => {
                let line = serde_json::to_string(&progress_json(event)).unwrap_or_default();
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
                let _ = err.flush();
            }
            ProgressSink::Plain => {
                if let Some(text) = progress_text(event) {
                    crate::logger::print_above_bar(&format!("lpa: {text}"));
                }
            }
            ProgressSink::Bar(slot) => {
                if slot.as_ref().is_some_and(ProgressBar::is_finished) {
                    // After the installation: plain lines (notifications).
                    if let Some(text) = progress_text(event) {
                        crate::logger::print_above_bar(&format!("lpa: {text}"));
                    }
                    return;
                }
                let bar = slot.get_or_insert_with(new_bar);
                match event {
                    Progress::Installing { done, total } => {
                        if bar.length() != Some(*total as u64) {
                            bar.set_style(bar_style());
                            bar.set_length(*total as u64);
                        }
                        bar.set_position(*done as u64);
                        bar.set_message("installing");
                    }
                    Progress::Installed { iccid } => {
                        bar.finish_with_message(format!("installed {iccid}"));
                        crate::logger::set_bar(None);
                    }
                    other => {
                        if let Some(text) = progress_text(other) {
                            bar.set_message(text);
                        }
                    }
                }
            }
        }
    }

    /// Removes a bar that is still drawn.
    pub fn finish(&mut self) {
        if let ProgressSink::Bar(Some(bar)) = self {
            if !bar.is_finished() {
                bar.abandon();
            }
            crate::logger::set_bar(None);
        }
    }
}

/// A status line first (authenticating, downloading...); the bar appears with the first
/// segment loaded into the eUICC.
fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("lpa: {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    crate::logger::set_bar(Some(bar.clone()));
    bar
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("lpa: {msg} [{bar:32}] {pos}/{len} segments")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The JSON line of a progress event (schema in `cli/JSON.md`).
pub fn progress_json(event: &Progress) -> Value {
    match event {
        Progress::Recovering {
            transaction_id,
            smdp_address,
        } => json!({
            "event": "recovering",
            "transaction_id": transaction_id.to_string(),
            "smdp_address": smdp_address,
        }),
        Progress::Authenticating { address } => {
            json!({ "event": "authenticating", "address": address })
        }
        Progress::ProfileMetadata {
            iccid,
            service_provider_name,
            profile_name,
        } => json!({
            "event": "profile_metadata",
            "iccid": iccid.to_string(),
            "service_provider_name": service_provider_name,
            "profile_name": profile_name,
        }),
        Progress::Downloading => json!({ "event": "downloading" }),
        Progress::Installing { done, total } => {
            json!({ "event": "installing", "done": done, "total": total })
        }
        Progress::Installed { iccid } => {
            json!({ "event": "installed", "iccid": iccid.to_string() })
        }
        Progress::Cancelling { reason } => {
            json!({ "event": "cancelling", "reason": render::sgp_name(reason) })
        }
        Progress::NotificationSent { seq } => {
            json!({ "event": "notification_sent", "seq_number": seq })
        }
        Progress::NotificationFailed { seq } => {
            json!({ "event": "notification_failed", "seq_number": seq })
        }
        other => json!({ "event": "other", "detail": format!("{other:?}") }),
    }
}

/// The plain text of a progress event; `None` for the ones not worth a line of their own
/// (each STORE DATA sequence but the first).
pub fn progress_text(event: &Progress) -> Option<String> {
    Some(match event {
        Progress::Recovering {
            transaction_id,
            smdp_address,
        } => format!(
            "ending the session {transaction_id} with {smdp_address} an earlier run left open"
        ),
        Progress::Authenticating { address } => format!("authenticating with {address}"),
        Progress::ProfileMetadata {
            iccid,
            service_provider_name,
            profile_name,
        } => format!("offered: {iccid} ({service_provider_name} / {profile_name})"),
        Progress::Downloading => "downloading the profile package".into(),
        Progress::Installing { done, total } if *done <= 1 || done == total => {
            format!("installing: segment {done} of {total} loaded")
        }
        Progress::Installing { .. } => return None,
        Progress::Installed { iccid } => format!("installed {iccid}"),
        Progress::Cancelling { reason } => format!(
            "ending the session on both sides ({})",
            render::sgp_name(reason)
        ),
        Progress::NotificationSent { seq } => format!("notification #{seq} delivered"),
        Progress::NotificationFailed { seq } => {
            format!("notification #{seq} not delivered (kept on the eUICC)")
        }
        other => format!("{other:?}"),
    })
}

/// Why a download was not confirmed by anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unconfirmed {
    /// The profile needed consent, with no terminal and no `--yes`.
    Consent,
    /// A confirmation code was needed, with no terminal and no `--confirmation-code`.
    ConfirmationCode,
    /// The profile's policy rules needed consent, with no terminal and no `--yes`.
    PolicyConsent,
    /// Nobody answered in time.
    TimedOut,
}

impl Unconfirmed {
    /// What to tell the user.
    pub fn hint(&self) -> &'static str {
        match self {
            Unconfirmed::Consent | Unconfirmed::PolicyConsent => {
                "the download needs your consent and there is no terminal to ask: run again \
                 with --yes"
            }
            Unconfirmed::ConfirmationCode => {
                "the SM-DP+ asks for a confirmation code: run again with --confirmation-code \
                 <CODE> (the operator gave it with the activation code)"
            }
            Unconfirmed::TimedOut => "nobody answered in time",
        }
    }
}

/// The [`DownloadUi`] of the command line.
pub struct CliUi {
    yes: bool,
    confirmation_code: Option<String>,
    interactive: bool,
    /// Where progress goes.
    pub progress: ProgressSink,
    /// Set when a question could not be answered.
    pub unconfirmed: Option<Unconfirmed>,
}

impl CliUi {
    /// A UI answering `yes` to consent, with this confirmation code, asking on the terminal
    /// when `interactive`.
    pub fn new(
        yes: bool,
        confirmation_code: Option<String>,
        interactive: bool,
        progress: ProgressSink,
    ) -> Self {
        CliUi {
            yes,
            confirmation_code,
            interactive,
            progress,
            unconfirmed: None,
        }
    }

    fn show_metadata(&self, metadata: &StoreMetadataRequest, smdp_address: &str) {
        let text = render::key_values(&render::metadata_lines(metadata, smdp_address));
        crate::logger::print_above_bar(&format!("The SM-DP+ offers this profile:\n{text}"));
    }

    fn decline_for(&mut self, reply: Reply) -> Answer {
        match reply {
            Reply::TimedOut => {
                self.unconfirmed = Some(Unconfirmed::TimedOut);
                Answer::Decline(CancelSessionReason::Timeout)
            }
            Reply::Closed => Answer::Decline(CancelSessionReason::Postponed),
            Reply::Line(_) => Answer::Decline(CancelSessionReason::EndUserRejection),
        }
    }
}

impl DownloadUi for CliUi {
    fn confirm_profile(&mut self, metadata: &StoreMetadataRequest, smdp_address: &str) -> Answer {
        if self.yes {
            return Answer::Accept;
        }
        if !self.interactive {
            self.unconfirmed = Some(Unconfirmed::Consent);
            return Answer::Decline(CancelSessionReason::Postponed);
        }
        self.show_metadata(metadata, smdp_address);
        let reply = prompt::confirm("Download and install it?", prompt::ANSWER_DEADLINE);
        if prompt::is_yes(&reply) {
            Answer::Accept
        } else {
            self.decline_for(reply)
        }
    }

    fn confirmation_code(&mut self, smdp_address: &str) -> Option<String> {
        if let Some(code) = self.confirmation_code.take() {
            return Some(code);
        }
        if !self.interactive {
            self.unconfirmed = Some(Unconfirmed::ConfirmationCode);
            return None;
        }
        match prompt::ask_hidden(
            &format!("Confirmation code for {smdp_address} (not shown as you type): "),
            prompt::ANSWER_DEADLINE,
        ) {
            Reply::Line(code) if !code.trim().is_empty() => Some(code.trim().to_owned()),
            Reply::TimedOut => {
                self.unconfirmed = Some(Unconfirmed::TimedOut);
                None
            }
            _ => None,
        }
    }

    fn confirm_policy_rules(
        &mut self,
        metadata: &StoreMetadataRequest,
        _smdp_address: &str,
    ) -> Answer {
        if self.yes {
            return Answer::Accept;
        }
        if !self.interactive {
            self.unconfirmed = Some(Unconfirmed::PolicyConsent);
            return Answer::Decline(CancelSessionReason::Postponed);
        }
        let rules = render::ppr_ids(&metadata.profile_policy_rules.clone().unwrap_or_default());
        let reply = prompt::confirm(
            &format!(
                "The profile carries policy rules {rules} (ppr1: it cannot be disabled, ppr2: it \
                 cannot be deleted). Accept them?"
            ),
            prompt::ANSWER_DEADLINE,
        );
        if prompt::is_yes(&reply) {
            Answer::Accept
        } else {
            self.decline_for(reply)
        }
    }

    fn progress(&mut self, event: &Progress) {
        self.progress.report(event);
    }
}
