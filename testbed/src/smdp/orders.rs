//! The SM-DP+ side of a profile's life (SGP.22 §3.1.6 "Profile download states"):
//!
//! ```text
//!             downloadOrder            confirmOrder          releaseProfile
//!  Available ------------> Allocated ---------------> Confirmed ----------> Released
//!      ^                    (no EID)   (releaseFlag) -------------------------^  |
//!      |                   Linked ----^                                          | BPP sent
//!      | cancelOrder         (EID)                                               v
//!      | (final: Available)                      Installed <-- notification -- Downloaded
//!                                                                                 |
//!  Error: confirmation code or download retries used up, end-user rejection, failed install
//!  Unavailable: cancelOrder with finalProfileStatusIndicator Unavailable; never reused
//! ```
//!
//! Every transition checks the current state; a function called in the wrong state is refused
//! with 8.2.1 / 3.5 (Invalid Transition), which is what ES2+ answers.

use core::fmt;
use std::sync::Arc;

use lpa_core::ids::Eid;

use super::codes::{ICCID_INVALID_TRANSITION, Outcome, refuse};
use super::inventory::ServedProfile;

/// Where a profile is in its life at the SM-DP+ (SGP.22 §3.1.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProfileStatus {
    /// In the inventory, not ordered.
    Available,
    /// Reserved by downloadOrder, not linked to an EID.
    Allocated,
    /// Reserved by downloadOrder for one EID.
    Linked,
    /// confirmOrder set the matching ID (and the confirmation code) without releasing it.
    Confirmed,
    /// Ready for download.
    Released,
    /// The Bound Profile Package was delivered.
    Downloaded,
    /// The eUICC reported a successful installation.
    Installed,
    /// Failed for good: retries used up, user rejection, failed installation.
    Error,
    /// Withdrawn; never used again.
    Unavailable,
}

impl fmt::Display for ProfileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProfileStatus::Available => "Available",
            ProfileStatus::Allocated => "Allocated",
            ProfileStatus::Linked => "Linked",
            ProfileStatus::Confirmed => "Confirmed",
            ProfileStatus::Released => "Released",
            ProfileStatus::Downloaded => "Downloaded",
            ProfileStatus::Installed => "Installed",
            ProfileStatus::Error => "Error",
            ProfileStatus::Unavailable => "Unavailable",
        })
    }
}

/// A snapshot of one profile and its order, for tests and operators.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileRecord {
    /// The ICCID, as digits.
    pub iccid: String,
    /// The profile type.
    pub profile_type: String,
    /// The state.
    pub status: ProfileStatus,
    /// The EID the order is linked to.
    pub eid: Option<String>,
    /// The matching ID (activation code token or SM-DS event ID).
    pub matching_id: Option<String>,
    /// Whether a confirmation code is required.
    pub confirmation_code_required: bool,
    /// Wrong confirmation codes so far.
    pub confirmation_code_failures: u32,
    /// authenticateClient calls that selected this profile.
    pub download_attempts: u32,
    /// Why the profile went to Error, when it did.
    pub error_cause: Option<String>,
}

/// One profile of the inventory with its order.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub spec: Arc<ServedProfile>,
    pub status: ProfileStatus,
    pub eid: Option<Eid>,
    pub matching_id: Option<String>,
    pub confirmation_code: Option<String>,
    pub cc_failures: u32,
    pub download_attempts: u32,
    /// The SM-DS event registered for this order (its eventId is the matching ID).
    pub smds_event: bool,
    pub error_cause: Option<String>,
}

impl Order {
    pub fn new(spec: Arc<ServedProfile>) -> Self {
        Order {
            spec,
            status: ProfileStatus::Available,
            eid: None,
            matching_id: None,
            confirmation_code: None,
            cc_failures: 0,
            download_attempts: 0,
            smds_event: false,
            error_cause: None,
        }
    }

    pub fn record(&self) -> ProfileRecord {
        ProfileRecord {
            iccid: self.spec.iccid.to_string(),
            profile_type: self.spec.profile_type.clone(),
            status: self.status,
            eid: self.eid.map(|e| e.to_string()),
            matching_id: self.matching_id.clone(),
            confirmation_code_required: self.confirmation_code.is_some(),
            confirmation_code_failures: self.cc_failures,
            download_attempts: self.download_attempts,
            error_cause: self.error_cause.clone(),
        }
    }

    fn expect(&self, allowed: &[ProfileStatus], function: &str) -> Outcome<()> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            refuse!(
                ICCID_INVALID_TRANSITION,
                "{function} is not possible for profile {} in state {}",
                self.spec.iccid,
                self.status
            )
        }
    }

    /// ES2+.DownloadOrder: Available → Linked (with an EID) or Allocated.
    pub fn allocate(&mut self, eid: Option<Eid>) -> Outcome<()> {
        self.expect(&[ProfileStatus::Available], "downloadOrder")?;
        self.eid = eid;
        self.status = if eid.is_some() {
            ProfileStatus::Linked
        } else {
            ProfileStatus::Allocated
        };
        Ok(())
    }

    /// ES2+.ConfirmOrder: Allocated/Linked → Confirmed, or Released with releaseFlag.
    pub fn confirm(
        &mut self,
        eid: Option<Eid>,
        matching_id: Option<String>,
        confirmation_code: Option<String>,
        release: bool,
    ) -> Outcome<()> {
        self.expect(
            &[ProfileStatus::Allocated, ProfileStatus::Linked],
            "confirmOrder",
        )?;
        if eid.is_some() {
            self.eid = eid;
        }
        self.matching_id = matching_id;
        self.confirmation_code = confirmation_code;
        self.status = if release {
            ProfileStatus::Released
        } else {
            ProfileStatus::Confirmed
        };
        Ok(())
    }

    /// ES2+.ReleaseProfile: Confirmed → Released.
    pub fn release(&mut self) -> Outcome<()> {
        self.expect(&[ProfileStatus::Confirmed], "releaseProfile")?;
        self.status = ProfileStatus::Released;
        Ok(())
    }

    /// ES2+.CancelOrder: back to Available (all associations cleared) or Unavailable.
    pub fn cancel(&mut self, final_status: ProfileStatus) -> Outcome<()> {
        self.expect(
            &[
                ProfileStatus::Allocated,
                ProfileStatus::Linked,
                ProfileStatus::Confirmed,
                ProfileStatus::Released,
                ProfileStatus::Downloaded,
                ProfileStatus::Error,
            ],
            "cancelOrder",
        )?;
        match final_status {
            ProfileStatus::Available => {
                let spec = Arc::clone(&self.spec);
                *self = Order::new(spec);
            }
            _ => {
                self.status = ProfileStatus::Unavailable;
                self.smds_event = false;
            }
        }
        Ok(())
    }

    /// The BPP was delivered: Released → Downloaded.
    pub fn downloaded(&mut self) -> Outcome<()> {
        self.expect(&[ProfileStatus::Released], "getBoundProfilePackage")?;
        self.status = ProfileStatus::Downloaded;
        Ok(())
    }

    /// A retry is allowed (session postponed or timed out before installation): back to
    /// Released.
    pub fn back_to_released(&mut self) {
        if matches!(
            self.status,
            ProfileStatus::Released | ProfileStatus::Downloaded
        ) {
            self.status = ProfileStatus::Released;
        }
    }

    /// The eUICC reported success: Downloaded → Installed.
    pub fn installed(&mut self) -> Outcome<()> {
        self.expect(&[ProfileStatus::Downloaded], "an installation notification")?;
        self.status = ProfileStatus::Installed;
        Ok(())
    }

    /// Failed for good. Final states stay as they are.
    pub fn fail(&mut self, cause: impl Into<String>) {
        if !matches!(
            self.status,
            ProfileStatus::Installed | ProfileStatus::Unavailable | ProfileStatus::Error
        ) {
            self.status = ProfileStatus::Error;
            self.error_cause = Some(cause.into());
        }
    }
}
