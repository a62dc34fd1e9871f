//! ES2+ (SGP.22 §5.3, JSON §6.5.2.1–§6.5.2.4): the operator's side, which creates the orders
//! an LPA then downloads. Requests carry a `header` with functionRequesterIdentifier and
//! functionCallIdentifier; answers carry the usual `header.functionExecutionStatus`.

use lpa_core::es9::{EmptyBody, Es9Response};
use lpa_core::ids::{Eid, Iccid};
use serde::{Deserialize, Serialize};

use super::codes::*;
use super::orders::ProfileStatus;
use super::{Event, Response, Smdp, json_response, random};

/// The ES2+ functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Es2Function {
    DownloadOrder,
    ConfirmOrder,
    CancelOrder,
    ReleaseProfile,
}

/// The `header` of an ES2+ request (SGP.22 §6.5.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es2RequestHeader {
    /// `functionRequesterIdentifier`: who calls (the operator).
    #[serde(rename = "functionRequesterIdentifier")]
    pub function_requester_identifier: String,
    /// `functionCallIdentifier`: the caller's ID of this call.
    #[serde(rename = "functionCallIdentifier")]
    pub function_call_identifier: String,
}

/// ES2+.DownloadOrder request (§5.3.1): reserve a profile by ICCID or by type, optionally for
/// one EID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadOrderRequest {
    /// The request header.
    pub header: Es2RequestHeader,
    /// `eid`: links the profile to this eUICC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    /// `iccid`: the profile to reserve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// `profileType`: reserve any available profile of this type.
    #[serde(
        rename = "profileType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_type: Option<String>,
}

/// ES2+.DownloadOrder answer: the reserved profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadOrderResponse {
    /// `iccid`.
    pub iccid: String,
}

/// ES2+.ConfirmOrder request (§5.3.2): set matching ID, confirmation code, SM-DS, release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmOrderRequest {
    /// The request header.
    pub header: Es2RequestHeader,
    /// `iccid`.
    pub iccid: String,
    /// `eid`: must equal the linked EID, or links an allocated profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    /// `matchingId`: generated when absent; empty means none (default SM-DP+ use, needs an
    /// EID).
    #[serde(
        rename = "matchingId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub matching_id: Option<String>,
    /// `confirmationCode`.
    #[serde(
        rename = "confirmationCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub confirmation_code: Option<String>,
    /// `smdsAddress`: registers an event for the EID at this SM-DS.
    #[serde(
        rename = "smdsAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub smds_address: Option<String>,
    /// `releaseFlag`: release at once (state Released) instead of Confirmed.
    #[serde(rename = "releaseFlag")]
    pub release_flag: bool,
}

/// ES2+.ConfirmOrder answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmOrderResponse {
    /// `eid`, when the order is linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    /// `matchingId` (empty for a default SM-DP+ order).
    #[serde(rename = "matchingId")]
    pub matching_id: String,
    /// `smdpAddress`: where to download.
    #[serde(
        rename = "smdpAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub smdp_address: Option<String>,
}

/// ES2+.CancelOrder request (§5.3.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOrderRequest {
    /// The request header.
    pub header: Es2RequestHeader,
    /// `iccid`.
    pub iccid: String,
    /// `eid`: must equal the linked EID when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    /// `matchingId`: must equal the order's when given.
    #[serde(
        rename = "matchingId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub matching_id: Option<String>,
    /// `finalProfileStatusIndicator`: `Available` or `Unavailable`.
    #[serde(rename = "finalProfileStatusIndicator")]
    pub final_profile_status_indicator: String,
}

/// ES2+.ReleaseProfile request (§5.3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseProfileRequest {
    /// The request header.
    pub header: Es2RequestHeader,
    /// `iccid`.
    pub iccid: String,
}

fn parse_iccid(text: &str) -> Outcome<Iccid> {
    text.trim_end_matches(['F', 'f'])
        .parse::<Iccid>()
        .map_err(|e| Failure::new(INVALID_REQUEST, format!("iccid {text:?}: {e}")))
}

fn parse_eid(text: &str) -> Outcome<Eid> {
    text.parse::<Eid>()
        .map_err(|e| Failure::new(EID_INVALID, format!("eid {text:?}: {e}")))
}

/// SGP.22 §4.1: a matching ID is upper-case letters, digits and `-`.
fn check_matching_id(text: &str) -> Outcome<()> {
    if text.len() <= 255
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(())
    } else {
        refuse!(
            INVALID_REQUEST,
            "matchingId {text:?}: only A-Z, 0-9 and '-' are allowed"
        )
    }
}

/// A fresh matching ID: four groups of five characters from `0-9A-Z`.
fn new_matching_id() -> Outcome<String> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let bytes = random::<20>()?;
    let mut out = String::with_capacity(23);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        let c = ALPHABET
            .get(usize::from(*b) % ALPHABET.len())
            .copied()
            .unwrap_or(b'0');
        out.push(char::from(c));
    }
    Ok(out)
}

impl Smdp {
    pub(crate) fn handle_es2(&self, function: Es2Function, body: &[u8]) -> Outcome<Response> {
        match function {
            Es2Function::DownloadOrder => {
                let req: DownloadOrderRequest = super::es9::parse(body)?;
                let iccid = self.download_order(req)?;
                Ok(json_response(&Es9Response::success(
                    DownloadOrderResponse { iccid },
                )))
            }
            Es2Function::ConfirmOrder => {
                let req: ConfirmOrderRequest = super::es9::parse(body)?;
                let ok = self.confirm_order(req)?;
                Ok(json_response(&Es9Response::success(ok)))
            }
            Es2Function::CancelOrder => {
                let req: CancelOrderRequest = super::es9::parse(body)?;
                self.cancel_order(req)?;
                Ok(json_response(&Es9Response::success(EmptyBody {})))
            }
            Es2Function::ReleaseProfile => {
                let req: ReleaseProfileRequest = super::es9::parse(body)?;
                let iccid = parse_iccid(&req.iccid)?;
                let mut state = self.lock();
                let Some(order) = state.order_mut(&iccid) else {
                    return refuse!(ICCID_UNKNOWN, "no profile {iccid}");
                };
                order.release()?;
                Ok(json_response(&Es9Response::success(EmptyBody {})))
            }
        }
    }

    fn download_order(&self, req: DownloadOrderRequest) -> Outcome<String> {
        let eid = req.eid.as_deref().map(parse_eid).transpose()?;
        let mut state = self.lock();
        let key = match (&req.iccid, &req.profile_type) {
            (Some(iccid), _) => {
                let iccid = parse_iccid(iccid)?;
                let Some(order) = state.orders.get(iccid.as_bytes()) else {
                    return refuse!(ICCID_UNKNOWN, "no profile {iccid}");
                };
                if order.status != ProfileStatus::Available {
                    return refuse!(ICCID_ALREADY_IN_USE, "profile {iccid} is {}", order.status);
                }
                *iccid.as_bytes()
            }
            (None, Some(profile_type)) => {
                let mut of_type = state
                    .orders_in_order()
                    .filter(|o| o.spec.profile_type == *profile_type)
                    .peekable();
                if of_type.peek().is_none() {
                    return refuse!(PROFILE_TYPE_UNKNOWN, "no profile type {profile_type:?}");
                }
                let Some(order) = of_type.find(|o| o.status == ProfileStatus::Available) else {
                    return refuse!(
                        PROFILE_TYPE_UNAVAILABLE,
                        "no profile of type {profile_type:?} is available"
                    );
                };
                *order.spec.iccid.as_bytes()
            }
            (None, None) => {
                return refuse!(
                    CONDITIONAL_ELEMENT_MISSING,
                    "downloadOrder needs iccid or profileType"
                );
            }
        };
        let Some(order) = state.orders.get_mut(&key) else {
            return refuse!(ICCID_UNKNOWN, "the profile vanished");
        };
        order.allocate(eid)?;
        Ok(order.spec.iccid.to_string())
    }

    fn confirm_order(&self, req: ConfirmOrderRequest) -> Outcome<ConfirmOrderResponse> {
        let iccid = parse_iccid(&req.iccid)?;
        let eid = req.eid.as_deref().map(parse_eid).transpose()?;
        if let Some(mid) = &req.matching_id {
            check_matching_id(mid)?;
        }
        if req.confirmation_code.as_deref() == Some("") {
            return refuse!(INVALID_REQUEST, "empty confirmationCode");
        }
        let mut state = self.lock();
        let Some(order) = state.orders.get(iccid.as_bytes()) else {
            return refuse!(ICCID_UNKNOWN, "no profile {iccid}");
        };
        if !matches!(
            order.status,
            ProfileStatus::Allocated | ProfileStatus::Linked
        ) {
            return refuse!(
                ICCID_INVALID_TRANSITION,
                "confirmOrder is not possible for profile {iccid} in state {}",
                order.status
            );
        }
        if let (Some(linked), Some(given)) = (order.eid, eid)
            && linked != given
        {
            return refuse!(
                EID_INVALID_ASSOCIATION,
                "profile {iccid} is linked to another EID"
            );
        }
        let final_eid = eid.or(order.eid);
        let matching_id = match req.matching_id {
            Some(mid) if mid.is_empty() => {
                if final_eid.is_none() {
                    return refuse!(
                        CONDITIONAL_ELEMENT_MISSING,
                        "an empty matchingId (default SM-DP+) needs an eid"
                    );
                }
                None
            }
            Some(mid) => {
                if state
                    .orders
                    .values()
                    .any(|o| o.matching_id.as_deref() == Some(mid.as_str()))
                {
                    return refuse!(MATCHING_ID_ALREADY_IN_USE, "matchingId {mid:?} is taken");
                }
                Some(mid)
            }
            None => Some(new_matching_id()?),
        };
        let mut event = None;
        if let Some(smds) = &req.smds_address {
            if self.config.smds_host.as_deref() != Some(smds.as_str()) {
                return refuse!(
                    SMDS_INACCESSIBLE,
                    "SM-DS {smds:?} is not reachable from this SM-DP+"
                );
            }
            let (Some(eid), Some(event_id)) = (final_eid, matching_id.clone()) else {
                return refuse!(
                    CONDITIONAL_ELEMENT_MISSING,
                    "an SM-DS event needs an eid and a matchingId"
                );
            };
            event = Some(Event {
                eid,
                event_id,
                rsp_server_address: self.config.host.clone(),
            });
        }
        let Some(order) = state.orders.get_mut(iccid.as_bytes()) else {
            return refuse!(ICCID_UNKNOWN, "no profile {iccid}");
        };
        order.confirm(
            final_eid,
            matching_id.clone(),
            req.confirmation_code,
            req.release_flag,
        )?;
        order.smds_event = event.is_some();
        if let Some(event) = event {
            state
                .events
                .retain(|e| !(e.eid == event.eid && e.event_id == event.event_id));
            state.events.push(event);
        }
        Ok(ConfirmOrderResponse {
            eid: final_eid.map(|e| e.to_string()),
            matching_id: matching_id.unwrap_or_default(),
            smdp_address: Some(self.config.host.clone()),
        })
    }

    fn cancel_order(&self, req: CancelOrderRequest) -> Outcome<()> {
        let iccid = parse_iccid(&req.iccid)?;
        let eid = req.eid.as_deref().map(parse_eid).transpose()?;
        let final_status = match req.final_profile_status_indicator.as_str() {
            "Available" => ProfileStatus::Available,
            "Unavailable" => ProfileStatus::Unavailable,
            other => {
                return refuse!(
                    INVALID_REQUEST,
                    "finalProfileStatusIndicator {other:?} is not Available or Unavailable"
                );
            }
        };
        let mut state = self.lock();
        let Some(order) = state.orders.get_mut(iccid.as_bytes()) else {
            return refuse!(ICCID_UNKNOWN, "no profile {iccid}");
        };
        if let (Some(linked), Some(given)) = (order.eid, eid)
            && linked != given
        {
            return refuse!(
                EID_INVALID_ASSOCIATION,
                "profile {iccid} is linked to another EID"
            );
        }
        if let Some(mid) = &req.matching_id
            && order.matching_id.as_deref() != Some(mid.as_str())
        {
            return refuse!(
                MATCHING_ID_INVALID_ASSOCIATION,
                "matchingId {mid:?} is not the one of profile {iccid}"
            );
        }
        let linked = order.eid;
        let event = order
            .smds_event
            .then(|| order.matching_id.clone())
            .flatten();
        order.cancel(final_status)?;
        state.delete_event(linked, event.as_deref());
        // Sessions downloading this profile end with the order.
        state.sessions.retain(|_, s| !s.is_for(&iccid));
        Ok(())
    }
}
