//! The card commands: open the eUICC and the HTTPS client, build the [`Lpa`], run one command,
//! print its result.

use std::sync::Arc;
use std::time::Duration;

use lpa::es10::Es10Config;
use lpa::{
    DeliveryReport, DownloadReport, DownloadRequest, ErrorKind, Lpa, LpaConfig, NotificationFilter,
    RetryPolicy,
};
use lpa_core::messages::ResetOptions;
use serde_json::{Value, json};

use crate::args::{
    ChipCommand, Cli, Command, ConfigCommand, DiscoverArgs, DownloadArgs, NotificationCommand,
    ProfileCommand, ResetArgs,
};
use crate::error::CliError;
use crate::lpa_errors::from_lpa;
use crate::net::NetOptions;
use crate::output::Output;
use crate::prompt::{self, Reply};
use crate::render;
use crate::ui::{CliUi, ProgressSink};

/// Opens the card and the network as the options say, and builds the LPA.
pub fn open_lpa(cli: &Cli) -> Result<(Lpa, String), CliError> {
    let card = crate::card::open(&cli.card)?;
    let net = NetOptions {
        proxy: cli.net.proxy.clone(),
        ca_files: cli.net.ca.clone(),
        extra_roots: card.extra_roots,
        resolve: cli.net.resolve.clone(),
        test_ci: cli.net.test_ci,
        insecure: cli.net.insecure,
        response_timeout: cli.net.http_timeout.map(Duration::from_secs),
        connect_timeout: None,
    };
    let http = crate::net::https_client(&net)?;
    let mut es10 = Es10Config::new();
    if let Some(aid) = &cli.card.isd_r_aid {
        let aid = hex::decode(aid.trim())
            .ok()
            .filter(|a| (1..=16).contains(&a.len()))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--isd-r-aid {aid:?} is not an AID (1 to 16 bytes of hex)"
                ))
            })?;
        es10 = es10.with_isd_r_aid(&aid);
    }
    let mut config = LpaConfig::new()
        .with_es10(es10)
        .with_log_sensitive(cli.output.log_sensitive)
        .with_notification_retry(RetryPolicy::new(
            cli.net.notification_attempts,
            Duration::from_secs(2),
            Duration::from_secs(30),
        ));
    if let Some(handle) = card.segment_size {
        config = config.with_segment_size(handle);
    }
    let lpa = Lpa::new(card.transport, Arc::new(http), card.session_store, config)
        .map_err(|e| from_lpa(&e, None))?;
    Ok((lpa, card.description))
}

/// Runs a card command (everything but `demo`) and prints its result.
pub fn run(cli: &Cli, out: Output) -> Result<(), CliError> {
    // Refuse what would need a question nobody can answer before touching anything.
    let interactive = prompt::interactive();
    check_confirmable(cli, interactive)?;
    let (mut lpa, description) = open_lpa(cli)?;
    log::info!("eUICC: {description}");
    recover_stranded(&mut lpa);
    let lpa_err = |lpa: &Lpa, e: lpa::LpaError| from_lpa(&e, lpa.last_session_end());
    match &cli.command {
        Command::Chip(ChipCommand::Info) => chip_info(&mut lpa, out),
        Command::Chip(ChipCommand::Reset(args)) => {
            chip_reset(&mut lpa, args, cli, out, interactive)
        }
        Command::Profile(ProfileCommand::List) => {
            let profiles = lpa.profiles().map_err(|e| lpa_err(&lpa, e))?;
            out.success(
                json!({ "profiles": profiles.iter().map(render::profile).collect::<Vec<_>>() }),
                || render::profile_table(&profiles),
            );
            Ok(())
        }
        Command::Profile(ProfileCommand::Enable(args)) => {
            let iccid = render::parse_iccid(&args.iccid)?;
            let report = lpa
                .enable(&iccid, !args.no_refresh)
                .map_err(|e| lpa_err(&lpa, e))?;
            switched(out, &iccid, "enabled", &report);
            Ok(())
        }
        Command::Profile(ProfileCommand::Disable(args)) => {
            let iccid = render::parse_iccid(&args.iccid)?;
            let report = lpa
                .disable(&iccid, !args.no_refresh)
                .map_err(|e| lpa_err(&lpa, e))?;
            switched(out, &iccid, "disabled", &report);
            Ok(())
        }
        Command::Profile(ProfileCommand::Delete { iccid }) => {
            let iccid = render::parse_iccid(iccid)?;
            let report = lpa.delete(&iccid).map_err(|e| lpa_err(&lpa, e))?;
            switched(out, &iccid, "deleted", &report);
            Ok(())
        }
        Command::Profile(ProfileCommand::Nickname { iccid, nickname }) => {
            let iccid = render::parse_iccid(iccid)?;
            lpa.set_nickname(&iccid, nickname)
                .map_err(|e| lpa_err(&lpa, e))?;
            out.success(
                json!({ "iccid": iccid.to_string(), "nickname": nickname }),
                || {
                    if nickname.is_empty() {
                        format!("nickname of {iccid} removed")
                    } else {
                        format!("nickname of {iccid} set to {nickname:?}")
                    }
                },
            );
            Ok(())
        }
        Command::Profile(ProfileCommand::Download(args)) => {
            download(&mut lpa, args, cli, out, interactive)
        }
        Command::Profile(ProfileCommand::Discover(args)) => {
            discover(&mut lpa, args, cli, out, interactive)
        }
        Command::Notification(NotificationCommand::List) => {
            let list = lpa.list_notifications().map_err(|e| lpa_err(&lpa, e))?;
            out.success(
                json!({ "notifications": list.iter().map(render::notification).collect::<Vec<_>>() }),
                || {
                    if list.is_empty() {
                        return "no notifications waiting on this eUICC\n".into();
                    }
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|n| {
                            vec![
                                n.seq_number.to_string(),
                                n.profile_management_operation.to_string(),
                                n.iccid.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                                n.notification_address.trim().to_owned(),
                            ]
                        })
                        .collect();
                    render::table(&["SEQ", "OPERATION", "ICCID", "ADDRESS"], &rows)
                },
            );
            Ok(())
        }
        Command::Notification(NotificationCommand::Process { seq }) => {
            let filter = if seq.is_empty() {
                NotificationFilter::all()
            } else {
                NotificationFilter::seq_numbers(seq.iter().copied())
            };
            let report = lpa
                .process_notifications(filter)
                .map_err(|e| lpa_err(&lpa, e))?;
            let missing: Vec<u32> = seq
                .iter()
                .copied()
                .filter(|s| !report.notifications.iter().any(|n| n.seq_number == *s))
                .collect();
            let data = render::delivery_report(&report);
            if let Some(first) = report.failed().next() {
                let mut e = match &first.outcome {
                    lpa_core::procedures::DeliveryOutcome::NotDelivered(fault) => {
                        crate::lpa_errors::from_fault(fault)
                    }
                    _ => CliError::internal("a notification was not delivered"),
                };
                e.message = format!(
                    "{} of {} notification(s) not delivered (they stay on the eUICC); first: #{} \
                     to {}: {}",
                    report.failed().count(),
                    report.notifications.len(),
                    first.seq_number,
                    first.address,
                    e.message
                );
                e.partial = Some(data);
                return Err(e);
            }
            if !missing.is_empty() {
                let mut e = CliError::usage(format!(
                    "no notification with sequence number {} on this eUICC",
                    missing
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                e.partial = Some(data);
                return Err(e);
            }
            out.success(data, || {
                if report.notifications.is_empty() {
                    "no notifications to send\n".into()
                } else {
                    render::delivery_lines(&report).join("\n")
                }
            });
            Ok(())
        }
        Command::Notification(NotificationCommand::Remove { seq }) => {
            let removed = lpa
                .remove_notification(*seq)
                .map_err(|e| lpa_err(&lpa, e))?;
            if !removed {
                return Err(CliError::usage(format!(
                    "no notification with sequence number {seq} on this eUICC"
                )));
            }
            out.success(json!({ "seq_number": seq, "removed": true }), || {
                format!("notification #{seq} removed from the eUICC without sending it")
            });
            Ok(())
        }
        Command::Config(ConfigCommand::DefaultSmdp { address }) => {
            lpa.set_default_smdp(address)
                .map_err(|e| lpa_err(&lpa, e))?;
            let address = address.trim();
            out.success(
                json!({ "default_smdp_address": (!address.is_empty()).then_some(address) }),
                || {
                    if address.is_empty() {
                        "default SM-DP+ address removed".to_owned()
                    } else {
                        format!("default SM-DP+ address set to {address}")
                    }
                },
            );
            Ok(())
        }
        Command::Demo => Err(CliError::internal("demo is not a card command")),
    }
}

/// Refuses, before anything is sent, a command that would need a confirmation nobody can give.
fn check_confirmable(cli: &Cli, interactive: bool) -> Result<(), CliError> {
    if cli.output.yes || interactive {
        return Ok(());
    }
    let what = match &cli.command {
        Command::Chip(ChipCommand::Reset(_)) => "an eUICC memory reset",
        Command::Profile(ProfileCommand::Download(_)) => "a profile download",
        Command::Profile(ProfileCommand::Discover(args)) if args.download => "a profile download",
        _ => return Ok(()),
    };
    Err(CliError::new(
        ErrorKind::Declined,
        format!(
            "{what} needs your confirmation, and there is no terminal to ask it on: run again \
             with --yes"
        ),
    ))
}

/// Ends a download session an earlier run left open; failures only warn (the command goes on,
/// the next run tries again).
fn recover_stranded(lpa: &mut Lpa) {
    match lpa.stranded_session() {
        Ok(None) => {}
        Ok(Some(_)) | Err(_) => match lpa.recover() {
            Ok(Some(end)) => crate::logger::print_above_bar(&format!(
                "lpa: ended a download session an earlier run left open: {end}"
            )),
            Ok(None) => {}
            Err(e) => log::warn!("a download session an earlier run left open stays open: {e}"),
        },
    }
}

fn chip_info(lpa: &mut Lpa, out: Output) -> Result<(), CliError> {
    let err = |lpa: &Lpa, e| from_lpa(&e, lpa.last_session_end());
    let eid = lpa.eid().map_err(|e| err(lpa, e))?;
    let info = lpa.euicc_info2().map_err(|e| err(lpa, e))?;
    let addresses = lpa.configured_addresses().map_err(|e| err(lpa, e))?;
    let rat = lpa.rat().map_err(|e| err(lpa, e))?;
    out.success(
        json!({
            "eid": eid.to_string(),
            "euicc_info2": render::euicc_info2(&info),
            "configured_addresses": render::addresses(&addresses),
            "rat": render::rat(&rat),
        }),
        || {
            let mut text = format!("EID  {eid}\n\neUICC (EUICCInfo2)\n");
            text.push_str(&render::key_values(&render::euicc_info2_pairs(&info)));
            text.push_str("\nConfigured addresses\n");
            text.push_str(&render::key_values(&[
                (
                    "default SM-DP+".into(),
                    addresses
                        .default_dp_address
                        .clone()
                        .filter(|a| !a.is_empty())
                        .unwrap_or_else(|| "(none)".into()),
                ),
                ("root SM-DS".into(), addresses.root_ds_address.clone()),
            ]));
            text.push_str("\nRules Authorisation Table\n");
            for line in render::rat_lines(&rat) {
                text.push_str("  ");
                text.push_str(&line);
                text.push('\n');
            }
            text
        },
    );
    Ok(())
}

fn chip_reset(
    lpa: &mut Lpa,
    args: &ResetArgs,
    cli: &Cli,
    out: Output,
    interactive: bool,
) -> Result<(), CliError> {
    let all = !(args.operational || args.test_profiles || args.default_smdp);
    let operational = all || args.operational;
    let test_profiles = all || args.test_profiles;
    let default_smdp = all || args.default_smdp;
    let mut what = Vec::new();
    let mut bits = Vec::new();
    if operational {
        what.push("every operational profile");
        bits.push(ResetOptions::DELETE_OPERATIONAL_PROFILES);
    }
    if test_profiles {
        what.push("every field-loaded test profile");
        bits.push(ResetOptions::DELETE_FIELD_LOADED_TEST_PROFILES);
    }
    if default_smdp {
        what.push("the default SM-DP+ address");
        bits.push(ResetOptions::RESET_DEFAULT_SMDP_ADDRESS);
    }
    if !cli.output.yes {
        let eid = lpa.eid().map_err(|e| from_lpa(&e, None))?;
        if !interactive {
            return Err(CliError::new(
                ErrorKind::Declined,
                "a memory reset needs your confirmation: run again with --yes",
            ));
        }
        let reply = prompt::ask(
            &format!(
                "This erases {} on eUICC {eid}. Deleted profiles cannot be restored.\nType \
                 'reset' to go on: ",
                what.join(", ")
            ),
            prompt::ANSWER_DEADLINE,
        );
        if !matches!(&reply, Reply::Line(l) if l.trim() == "reset") {
            return Err(CliError::new(
                ErrorKind::Declined,
                "memory reset not confirmed; nothing was changed",
            ));
        }
    }
    let changed = lpa
        .memory_reset(ResetOptions::from_bits(&bits))
        .map_err(|e| from_lpa(&e, None))?;
    out.success(
        json!({
            "operational_profiles": operational,
            "test_profiles": test_profiles,
            "default_smdp_address": default_smdp,
            "changed": changed,
        }),
        || {
            if changed {
                format!("eUICC memory reset: {} removed", what.join(", "))
            } else {
                "eUICC memory reset: there was nothing to remove".into()
            }
        },
    );
    Ok(())
}

fn switched(out: Output, iccid: &lpa_core::ids::Iccid, action: &str, report: &DeliveryReport) {
    out.success(
        json!({
            "iccid": iccid.to_string(),
            "action": action,
            "notifications": render::delivery_report(report),
        }),
        || {
            let mut lines = vec![format!("profile {iccid} {action}")];
            lines.extend(render::delivery_lines(report));
            lines.join("\n")
        },
    );
}

fn new_ui(cli: &Cli, confirmation_code: Option<String>, interactive: bool) -> CliUi {
    CliUi::new(
        cli.output.yes,
        confirmation_code,
        interactive,
        ProgressSink::for_mode(cli.output.progress, cli.output.json),
    )
}

/// What a download failure becomes: the LPA's error, with the hint when nobody could answer.
fn download_error(lpa: &Lpa, e: lpa::LpaError, ui: &CliUi) -> CliError {
    let mut error = from_lpa(&e, lpa.last_session_end());
    if let lpa::LpaError::InstallationFailed {
        installation,
        notifications,
    } = &e
    {
        error.partial = Some(json!({
            "installation": render::installation(installation),
            "notifications": render::delivery_report(notifications),
        }));
    }
    if let Some(why) = &ui.unconfirmed {
        error.kind = ErrorKind::Declined;
        error.message = format!("{}: {}", why.hint(), error.message);
    }
    error
}

fn download_json(report: &DownloadReport) -> Value {
    json!({
        "installation": render::installation(&report.installation),
        "notifications": render::delivery_report(&report.notifications),
        "notification_error": report.notification_error.as_ref().map(|e| from_lpa(e, None).to_json()),
        "recovered_session": report.recovered.as_ref().map(|end| end.to_string()),
    })
}

fn download_text(report: &DownloadReport) -> String {
    let i = &report.installation;
    let mut lines = vec![format!(
        "profile {} installed ({} / {}) from {}",
        i.iccid, i.metadata.service_provider_name, i.metadata.profile_name, i.smdp_address
    )];
    lines.extend(render::delivery_lines(&report.notifications));
    if let Some(e) = &report.notification_error {
        lines.push(format!(
            "the notifications stay on the eUICC for now ({e}); send them later with `lpa \
             notification process`"
        ));
    }
    lines.push(format!("enable it with: lpa profile enable {}", i.iccid));
    lines.join("\n")
}

fn download(
    lpa: &mut Lpa,
    args: &DownloadArgs,
    cli: &Cli,
    out: Output,
    interactive: bool,
) -> Result<(), CliError> {
    let request = if args.default_smdp {
        DownloadRequest::DefaultSmdp
    } else if let Some(image) = &args.qr {
        let code = crate::qr::activation_code_from_image(image)?;
        log::info!("activation code read from {}", image.display());
        DownloadRequest::ActivationCode(code)
    } else if let Some(code) = &args.activation_code {
        DownloadRequest::ActivationCode(code.trim().to_owned())
    } else {
        return Err(CliError::usage(
            "give an activation code, --qr <image> or --default-smdp",
        ));
    };
    let mut ui = new_ui(cli, args.confirmation_code.clone(), interactive);
    let result = lpa.download(request, &mut ui);
    ui.progress.finish();
    let report = result.map_err(|e| download_error(lpa, e, &ui))?;
    out.success(download_json(&report), || download_text(&report));
    Ok(())
}

fn discover(
    lpa: &mut Lpa,
    args: &DiscoverArgs,
    cli: &Cli,
    out: Output,
    interactive: bool,
) -> Result<(), CliError> {
    let events = lpa
        .discover(args.smds.as_deref())
        .map_err(|e| from_lpa(&e, None))?;
    let mut downloads = Vec::new();
    let mut texts = Vec::new();
    if args.download {
        for event in &events {
            let mut ui = new_ui(cli, None, interactive);
            let result = lpa.download(DownloadRequest::Event(event.clone()), &mut ui);
            ui.progress.finish();
            match result {
                Ok(report) => {
                    texts.push(download_text(&report));
                    downloads.push(download_json(&report));
                }
                Err(e) => {
                    let mut error = download_error(lpa, e, &ui);
                    error.message = format!(
                        "event {} from {}: {}",
                        event.event_id, event.rsp_server_address, error.message
                    );
                    error.partial = Some(json!({
                        "events": events.iter().map(render::event).collect::<Vec<_>>(),
                        "downloads": downloads,
                    }));
                    return Err(error);
                }
            }
        }
    }
    let mut data = json!({ "events": events.iter().map(render::event).collect::<Vec<_>>() });
    if args.download
        && let Some(map) = data.as_object_mut()
    {
        map.insert("downloads".into(), Value::Array(downloads));
    }
    out.success(data, || {
        let mut text = if events.is_empty() {
            "no profiles waiting for this eUICC\n".to_owned()
        } else {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| vec![e.event_id.clone(), e.rsp_server_address.clone()])
                .collect();
            render::table(&["EVENT ID", "SM-DP+"], &rows)
        };
        for t in &texts {
            text.push_str(t);
            text.push('\n');
        }
        if !args.download && !events.is_empty() {
            text.push_str("download them with: lpa profile discover --download\n");
        }
        text
    });
    Ok(())
}
