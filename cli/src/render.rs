//! The stable JSON forms of what the LPA returns (documented in `cli/JSON.md`), and the plain
//! tables of the human output. Names follow SGP.22 where SGP.22 names a value
//! (`profileNotInDisabledState`), snake_case for our own keys.

use lpa::es10::EuiccInfo2Report;
use lpa_core::der::NamedNumber;
use lpa_core::es9::EventEntry;
use lpa_core::messages::{
    EuiccConfiguredAddressesResponse, NotificationEvent, NotificationMetadata, OperatorId,
    PprFlags, PprIds, ProfileInfo, ProfilePolicyAuthorisationRule, ProfileState, RspCapability,
    StoreMetadataRequest, UiccCapability,
};
use lpa_core::procedures::{
    DeliveryOutcome, DeliveryReport, InstallOutcome, Installation, NotificationResult,
};
use serde_json::{Value, json};

use crate::error::CliError;

/// A result code, error code or other INTEGER with named numbers as SGP.22 Annex H spells it
/// (`installFailedDueToIccidAlreadyExistsOnEuicc`, `ciPKUnknown`); a value SGP.22 v2.5 does not
/// name is `unknown(7)`.
pub fn sgp_name(value: &impl NamedNumber) -> String {
    value
        .name()
        .map_or_else(|| format!("unknown({})", value.code()), str::to_owned)
}

/// Upper-case hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn named_bits(bits: &[(usize, &'static str)], contains: impl Fn(usize) -> bool) -> Value {
    Value::Array(
        bits.iter()
            .filter(|(bit, _)| contains(*bit))
            .map(|(_, name)| Value::from(*name))
            .collect(),
    )
}

const PPR_NAMES: [(usize, &str); 3] = [
    (PprIds::UPDATE_CONTROL, "updateControl"),
    (PprIds::PPR1, "ppr1"),
    (PprIds::PPR2, "ppr2"),
];

/// Profile policy rules as names.
pub fn ppr_ids(ppr: &PprIds) -> Value {
    named_bits(&PPR_NAMES, |b| ppr.contains(b))
}

fn ppr_text(ppr: Option<&PprIds>) -> String {
    let names: Vec<&str> = PPR_NAMES
        .iter()
        .filter(|(b, _)| ppr.is_some_and(|p| p.contains(*b)))
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

/// An MCC/MNC in 3GPP TS 24.008 BCD order, as digits (`E` a wildcard digit, `F` filler left
/// out): `("001", "01")`.
pub fn mcc_mnc(bytes: &[u8]) -> (String, String) {
    let digit = |n: u8| match n {
        0..=9 => Some(char::from(b'0' + n)),
        0xE => Some('E'),
        _ => None,
    };
    let nibble = |i: usize, high: bool| {
        bytes
            .get(i)
            .and_then(|b| digit(if high { b >> 4 } else { b & 0x0F }))
    };
    let mcc: String = [nibble(0, false), nibble(0, true), nibble(1, false)]
        .into_iter()
        .flatten()
        .collect();
    let mnc: String = [nibble(2, false), nibble(2, true), nibble(1, true)]
        .into_iter()
        .flatten()
        .collect();
    (mcc, mnc)
}

fn operator(op: &OperatorId) -> Value {
    let (mcc, mnc) = mcc_mnc(&op.mcc_mnc);
    json!({
        "mcc": mcc,
        "mnc": mnc,
        "gid1": op.gid1.as_deref().map(hex),
        "gid2": op.gid2.as_deref().map(hex),
    })
}

fn state_name(state: Option<ProfileState>) -> String {
    match state {
        Some(ProfileState::Enabled) => "enabled".into(),
        Some(ProfileState::Disabled) => "disabled".into(),
        Some(other) => sgp_name(&other),
        None => "unknown".into(),
    }
}

/// One profile of `profile list`.
pub fn profile(p: &ProfileInfo) -> Value {
    json!({
        "iccid": p.iccid.map(|i| i.to_string()),
        "isdp_aid": p.isdp_aid.as_deref().map(hex),
        "state": state_name(p.profile_state),
        "nickname": p.profile_nickname,
        "service_provider_name": p.service_provider_name,
        "profile_name": p.profile_name,
        "class": p.profile_class.map(|c| sgp_name(&c)),
        "policy_rules": p.profile_policy_rules.as_ref().map(ppr_ids).unwrap_or_else(|| json!([])),
        "profile_owner": p.profile_owner.as_ref().map(operator),
        "icon_type": p.icon_type.map(|t| sgp_name(&t)),
        "icon": p.icon.as_deref().map(base64_of),
    })
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The profile metadata of a download (StoreMetadataRequest).
pub fn metadata(m: &StoreMetadataRequest) -> Value {
    json!({
        "iccid": m.iccid.to_string(),
        "service_provider_name": m.service_provider_name,
        "profile_name": m.profile_name,
        "class": sgp_name(&m.profile_class),
        "policy_rules": m.profile_policy_rules.as_ref().map(ppr_ids).unwrap_or_else(|| json!([])),
        "profile_owner": m.profile_owner.as_ref().map(operator),
        "icon_type": m.icon_type.map(|t| sgp_name(&t)),
        "icon": m.icon.as_deref().map(base64_of),
    })
}

/// The plain-text lines describing profile metadata (for the confirmation prompt).
pub fn metadata_lines(m: &StoreMetadataRequest, smdp_address: &str) -> Vec<(String, String)> {
    let mut lines = vec![
        ("ICCID".to_owned(), m.iccid.to_string()),
        ("provider".to_owned(), m.service_provider_name.clone()),
        ("name".to_owned(), m.profile_name.clone()),
        ("class".to_owned(), sgp_name(&m.profile_class)),
        ("SM-DP+".to_owned(), smdp_address.to_owned()),
    ];
    if m.profile_policy_rules.is_some() {
        lines.push((
            "policy rules".to_owned(),
            ppr_text(m.profile_policy_rules.as_ref()),
        ));
    }
    lines
}

/// A profile installation (`profile download`).
pub fn installation(i: &Installation) -> Value {
    let (isdp_aid, failure) = match &i.outcome {
        InstallOutcome::Installed { isdp_aid } => (Some(hex(isdp_aid)), Value::Null),
        InstallOutcome::Failed {
            bpp_command_id,
            error_reason,
        } => (
            None,
            json!({
                "bpp_command_id": sgp_name(bpp_command_id),
                "error_reason": sgp_name(error_reason),
            }),
        ),
        other => (None, json!({ "outcome": format!("{other:?}") })),
    };
    json!({
        "installed": i.is_installed(),
        "iccid": i.iccid.to_string(),
        "isdp_aid": isdp_aid,
        "smdp_address": i.smdp_address,
        "transaction_id": i.transaction_id.to_string(),
        "notification_seq_number": i.seq_number,
        "metadata": metadata(&i.metadata),
        "failure": failure,
    })
}

/// A notification waiting on the card (`notification list`).
pub fn notification(n: &NotificationMetadata) -> Value {
    json!({
        "seq_number": n.seq_number,
        "operation": operation(n.profile_management_operation),
        "address": n.notification_address.trim(),
        "iccid": n.iccid.map(|i| i.to_string()),
    })
}

fn operation(event: NotificationEvent) -> String {
    event.to_string()
}

/// What a notification delivery did.
pub fn delivery_report(report: &DeliveryReport) -> Value {
    json!({
        "all_delivered": report.all_delivered(),
        "notifications": report.notifications.iter().map(delivery_result).collect::<Vec<_>>(),
    })
}

fn delivery_result(n: &NotificationResult) -> Value {
    let (outcome, error) = match &n.outcome {
        DeliveryOutcome::Delivered => ("delivered", Value::Null),
        DeliveryOutcome::DeliveredNotRemoved(fault) => (
            "delivered_not_removed",
            crate::lpa_errors::from_fault(fault).to_json(),
        ),
        DeliveryOutcome::NotDelivered(fault) => (
            "not_delivered",
            crate::lpa_errors::from_fault(fault).to_json(),
        ),
        _ => ("unknown", Value::Null),
    };
    json!({
        "seq_number": n.seq_number,
        "operation": operation(n.operation),
        "address": n.address,
        "iccid": n.iccid.map(|i| i.to_string()),
        "outcome": outcome,
        "error": error,
    })
}

/// One line per notification of a delivery report.
pub fn delivery_lines(report: &DeliveryReport) -> Vec<String> {
    report
        .notifications
        .iter()
        .map(|n| {
            let what = format!("#{} {} to {}", n.seq_number, n.operation, n.address);
            match &n.outcome {
                DeliveryOutcome::Delivered => format!("notification {what}: delivered"),
                DeliveryOutcome::DeliveredNotRemoved(f) => format!(
                    "notification {what}: delivered, but the eUICC kept it ({}); it will be sent \
                     again",
                    crate::lpa_errors::from_fault(f)
                ),
                DeliveryOutcome::NotDelivered(f) => format!(
                    "notification {what}: NOT delivered, kept on the eUICC ({})",
                    crate::lpa_errors::from_fault(f)
                ),
                other => format!("notification {what}: {other:?}"),
            }
        })
        .collect()
}

/// An SM-DS event.
pub fn event(e: &EventEntry) -> Value {
    json!({
        "event_id": e.event_id,
        "rsp_server_address": e.rsp_server_address,
    })
}

const UICC_CAPABILITIES: [(usize, &str); 24] = [
    (UiccCapability::CONTACTLESS, "contactlessSupport"),
    (UiccCapability::USIM, "usimSupport"),
    (UiccCapability::ISIM, "isimSupport"),
    (UiccCapability::CSIM, "csimSupport"),
    (UiccCapability::AKA_MILENAGE, "akaMilenage"),
    (UiccCapability::AKA_CAVE, "akaCave"),
    (UiccCapability::AKA_TUAK128, "akaTuak128"),
    (UiccCapability::AKA_TUAK256, "akaTuak256"),
    (UiccCapability::GBA_AUTHEN_USIM, "gbaAuthenUsim"),
    (UiccCapability::GBA_AUTHEN_ISIM, "gbaAuthenISim"),
    (UiccCapability::MBMS_AUTHEN_USIM, "mbmsAuthenUsim"),
    (UiccCapability::EAP_CLIENT, "eapClient"),
    (UiccCapability::JAVACARD, "javacard"),
    (UiccCapability::MULTOS, "multos"),
    (UiccCapability::MULTIPLE_USIM, "multipleUsimSupport"),
    (UiccCapability::MULTIPLE_ISIM, "multipleIsimSupport"),
    (UiccCapability::MULTIPLE_CSIM, "multipleCsimSupport"),
    (UiccCapability::BER_TLV_FILE, "berTlvFileSupport"),
    (UiccCapability::DF_LINK, "dfLinkSupport"),
    (UiccCapability::CAT_TP, "catTp"),
    (UiccCapability::GET_IDENTITY, "getIdentity"),
    (UiccCapability::PROFILE_A_X25519, "profile-a-x25519"),
    (UiccCapability::PROFILE_B_P256, "profile-b-p256"),
    (UiccCapability::SUCI_CALCULATOR_API, "suciCalculatorApi"),
];

const RSP_CAPABILITIES: [(usize, &str); 5] = [
    (RspCapability::ADDITIONAL_PROFILE, "additionalProfile"),
    (RspCapability::CRL_SUPPORT, "crlSupport"),
    (RspCapability::RPM_SUPPORT, "rpmSupport"),
    (RspCapability::TEST_PROFILE_SUPPORT, "testProfileSupport"),
    (
        RspCapability::DEVICE_INFO_EXTENSIBILITY,
        "deviceInfoExtensibilitySupport",
    ),
];

/// EUICCInfo2, decoded.
pub fn euicc_info2(report: &EuiccInfo2Report) -> Value {
    let i = &report.info;
    let r = &report.resources;
    json!({
        "profile_version": i.profile_version.to_string(),
        "svn": i.svn.to_string(),
        "euicc_firmware_version": i.euicc_firmware_ver.to_string(),
        "ext_card_resource": {
            "installed_applications": r.installed_applications,
            "free_non_volatile_memory": r.free_non_volatile_memory,
            "free_volatile_memory": r.free_volatile_memory,
        },
        "uicc_capability": named_bits(&UICC_CAPABILITIES, |b| i.uicc_capability.contains(b)),
        "ts102241_version": i.ts102241_version.map(|v| v.to_string()),
        "globalplatform_version": i.globalplatform_version.map(|v| v.to_string()),
        "rsp_capability": named_bits(&RSP_CAPABILITIES, |b| i.rsp_capability.contains(b)),
        "euicc_ci_pkid_list_for_verification":
            i.euicc_ci_pkid_list_for_verification.iter().map(|k| hex(k)).collect::<Vec<_>>(),
        "euicc_ci_pkid_list_for_signing":
            i.euicc_ci_pkid_list_for_signing.iter().map(|k| hex(k)).collect::<Vec<_>>(),
        "euicc_category": i.euicc_category.map(|c| sgp_name(&c)),
        "forbidden_profile_policy_rules":
            i.forbidden_profile_policy_rules.as_ref().map(ppr_ids).unwrap_or_else(|| json!([])),
        "pp_version": i.pp_version.to_string(),
        "sas_accreditation_number": i.sas_accreditation_number,
        "certification_data_object": i.certification_data_object.as_ref().map(|c| json!({
            "platform_label": c.platform_label,
            "discovery_base_url": c.discovery_base_url,
        })),
    })
}

/// The configured addresses.
pub fn addresses(a: &EuiccConfiguredAddressesResponse) -> Value {
    json!({
        "default_smdp_address": a.default_dp_address.as_deref().filter(|s| !s.is_empty()),
        "root_smds_address": a.root_ds_address,
    })
}

/// The Rules Authorisation Table.
pub fn rat(rules: &[ProfilePolicyAuthorisationRule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| {
                json!({
                    "ppr_ids": ppr_ids(&r.ppr_ids),
                    "allowed_operators": r.allowed_operators.iter().map(operator).collect::<Vec<_>>(),
                    "consent_required": r.ppr_flags.contains(PprFlags::CONSENT_REQUIRED),
                })
            })
            .collect(),
    )
}

/// The human lines of a RAT.
pub fn rat_lines(rules: &[ProfilePolicyAuthorisationRule]) -> Vec<String> {
    if rules.is_empty() {
        return vec!["(empty: no profile may carry policy rules)".into()];
    }
    rules
        .iter()
        .map(|r| {
            let ops: Vec<String> = r
                .allowed_operators
                .iter()
                .map(|o| {
                    let (mcc, mnc) = mcc_mnc(&o.mcc_mnc);
                    if mcc.chars().all(|c| c == 'E') && mnc.chars().all(|c| c == 'E') {
                        "any operator".to_owned()
                    } else {
                        format!("{mcc}-{mnc}")
                    }
                })
                .collect();
            format!(
                "{} allowed for {}{}",
                ppr_text(Some(&r.ppr_ids)),
                ops.join(", "),
                if r.ppr_flags.contains(PprFlags::CONSENT_REQUIRED) {
                    " (user consent required)"
                } else {
                    ""
                }
            )
        })
        .collect()
}

/// A plain table: a header row, then rows; columns padded to the widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(
                    ' ',
                    width.saturating_sub(cell.chars().count()) + 2,
                ));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// The profile table.
pub fn profile_table(profiles: &[ProfileInfo]) -> String {
    if profiles.is_empty() {
        return "no profiles on this eUICC\n".into();
    }
    let rows: Vec<Vec<String>> = profiles
        .iter()
        .map(|p| {
            vec![
                p.iccid.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                state_name(p.profile_state),
                p.profile_class
                    .map(|c| sgp_name(&c))
                    .unwrap_or_else(|| "-".into()),
                p.service_provider_name
                    .clone()
                    .unwrap_or_else(|| "-".into()),
                p.profile_name.clone().unwrap_or_else(|| "-".into()),
                p.profile_nickname.clone().unwrap_or_else(|| "-".into()),
                ppr_text(p.profile_policy_rules.as_ref()),
            ]
        })
        .collect();
    table(
        &[
            "ICCID", "STATE", "CLASS", "PROVIDER", "NAME", "NICKNAME", "POLICY",
        ],
        &rows,
    )
}

/// Key/value lines aligned on the keys.
pub fn key_values(pairs: &[(String, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str("  ");
        out.push_str(k);
        out.extend(std::iter::repeat_n(
            ' ',
            width.saturating_sub(k.chars().count()) + 2,
        ));
        out.push_str(v);
        out.push('\n');
    }
    out
}

/// The human lines of EUICCInfo2.
pub fn euicc_info2_pairs(report: &EuiccInfo2Report) -> Vec<(String, String)> {
    let i = &report.info;
    let r = &report.resources;
    let bytes = |n: Option<u32>| n.map_or_else(|| "-".to_owned(), |n| format!("{n} bytes"));
    let names = |v: Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    vec![
        ("SGP.22 version".into(), i.svn.to_string()),
        ("firmware".into(), i.euicc_firmware_ver.to_string()),
        (
            "profile package version".into(),
            i.profile_version.to_string(),
        ),
        (
            "free non-volatile memory".into(),
            bytes(r.free_non_volatile_memory),
        ),
        ("free volatile memory".into(), bytes(r.free_volatile_memory)),
        (
            "installed applications".into(),
            r.installed_applications
                .map_or_else(|| "-".into(), |n| n.to_string()),
        ),
        (
            "category".into(),
            i.euicc_category
                .map_or_else(|| "-".into(), |c| sgp_name(&c)),
        ),
        (
            "RSP capabilities".into(),
            names(named_bits(&RSP_CAPABILITIES, |b| {
                i.rsp_capability.contains(b)
            })),
        ),
        (
            "UICC capabilities".into(),
            names(named_bits(&UICC_CAPABILITIES, |b| {
                i.uicc_capability.contains(b)
            })),
        ),
        (
            "CI keys (verification)".into(),
            i.euicc_ci_pkid_list_for_verification
                .iter()
                .map(|k| hex(k))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "forbidden policy rules".into(),
            ppr_text(i.forbidden_profile_policy_rules.as_ref()),
        ),
        (
            "SAS accreditation".into(),
            i.sas_accreditation_number.clone(),
        ),
    ]
}

/// A hint for an ICCID given on the command line.
pub fn parse_iccid(text: &str) -> Result<lpa_core::ids::Iccid, CliError> {
    lpa_core::ids::Iccid::from_digits(text.trim())
        .map_err(|e| CliError::usage(format!("{text:?} is not an ICCID: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names come from SGP.22 Annex H, not from the Rust variant: lower-casing the Debug
    /// name gave `iccidAlreadyExistsOnEuicc` and `ciPkUnknown`.
    #[test]
    fn sgp_names_are_annex_h_identifiers() {
        use lpa_core::messages::{
            AuthenticateErrorCode, BppCommandId, ErrorReason, EuiccCategory, LoadCrlError,
        };
        assert_eq!(sgp_name(&ProfileState::Enabled), "enabled");
        assert_eq!(
            sgp_name(&ErrorReason::Scp03tSecurityError),
            "scp03tSecurityError"
        );
        assert_eq!(
            sgp_name(&ErrorReason::IccidAlreadyExistsOnEuicc),
            "installFailedDueToIccidAlreadyExistsOnEuicc"
        );
        assert_eq!(sgp_name(&AuthenticateErrorCode::CiPkUnknown), "ciPKUnknown");
        assert_eq!(sgp_name(&BppCommandId::ConfigureIsdp), "configureISDP");
        assert_eq!(
            sgp_name(&LoadCrlError::InvalidCrlFormat),
            "invalidCRLFormat"
        );
        assert_eq!(sgp_name(&EuiccCategory::Basic), "basicEuicc");
        assert_eq!(sgp_name(&ErrorReason::Unknown(99)), "unknown(99)");
    }

    /// `profile download --json`'s `data.failure` of a refused package.
    #[test]
    fn failed_installation_json_uses_the_sgp22_identifiers() {
        use lpa_core::es9::TransactionId;
        use lpa_core::ids::Iccid;
        use lpa_core::messages::{BppCommandId, ErrorReason, ProfileClass};

        let iccid = Iccid::from_digits("8949449999999990023").unwrap();
        let failed = Installation {
            outcome: InstallOutcome::Failed {
                bpp_command_id: BppCommandId::ConfigureIsdp,
                error_reason: ErrorReason::IccidAlreadyExistsOnEuicc,
            },
            iccid,
            metadata: StoreMetadataRequest {
                iccid,
                service_provider_name: "Operator".into(),
                profile_name: "Travel".into(),
                icon_type: None,
                icon: None,
                profile_class: ProfileClass::Operational,
                notification_configuration_info: None,
                profile_owner: None,
                profile_policy_rules: None,
            },
            smdp_address: "smdp.example".into(),
            transaction_id: TransactionId::new(&[1; 16]).unwrap(),
            seq_number: 1,
            profile_installation_result: Vec::new(),
        };
        let json = installation(&failed)["failure"].clone();
        assert_eq!(
            json,
            json!({
                "bpp_command_id": "configureISDP",
                "error_reason": "installFailedDueToIccidAlreadyExistsOnEuicc",
            })
        );
    }

    /// The `error.codes` of a card refusal (`--json` on failure).
    #[test]
    fn card_refusal_json_uses_the_sgp22_identifier() {
        use lpa_core::messages::AuthenticateErrorCode;
        use lpa_core::procedures::{CardRefusal, Fault};

        let error = crate::lpa_errors::from_fault(&Fault::CardRefused(
            CardRefusal::AuthenticateServer(AuthenticateErrorCode::CiPkUnknown),
        ));
        let codes = &error.to_json()["codes"];
        assert_eq!(codes["result_code"], 7);
        assert_eq!(codes["result_name"], "ciPKUnknown");
    }

    #[test]
    fn mcc_mnc_in_bcd_order() {
        // MCC 310, MNC 410: 13 00 14.
        assert_eq!(mcc_mnc(&[0x13, 0x00, 0x14]), ("310".into(), "410".into()));
        // MCC 001, MNC 01 (F filler): 00 F1 10.
        assert_eq!(mcc_mnc(&[0x00, 0xF1, 0x10]), ("001".into(), "01".into()));
        assert_eq!(mcc_mnc(&[0xEE, 0xEE, 0xEE]), ("EEE".into(), "EEE".into()));
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
