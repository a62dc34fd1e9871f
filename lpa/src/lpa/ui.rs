//! What a download asks of the user and reports back: [`DownloadRequest`], [`DownloadUi`],
//! [`Progress`], [`DownloadReport`].

use lpa_core::es9::{EventEntry, TransactionId};
use lpa_core::ids::Iccid;
use lpa_core::messages::{CancelSessionReason, StoreMetadataRequest};
use lpa_core::procedures::{Answer, DeliveryReport, Installation, SessionEnd};

use super::error::LpaError;

/// Where a download starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadRequest {
    /// An activation code (SGP.22 §4.1) as typed, pasted or read from a QR code, with or
    /// without the `LPA:` prefix: `LPA:1$smdp.example.com$MATCHING-ID`.
    ActivationCode(String),
    /// The eUICC's default SM-DP+ (ES10a GetEuiccConfiguredAddresses), without a matching ID:
    /// the first-boot provisioning of a device whose EID the operator knows.
    DefaultSmdp,
    /// An event found by [`Lpa::discover`](super::Lpa::discover): its SM-DP+, its event ID as
    /// the matching ID.
    Event(EventEntry),
}

/// The user's side of a download: consent, confirmation code, progress.
///
/// ```
/// use lpa::{Answer, DownloadUi, Progress};
/// use lpa_core::messages::StoreMetadataRequest;
///
/// /// Accepts every profile, knows one confirmation code, prints progress.
/// struct Unattended(Option<String>);
///
/// impl DownloadUi for Unattended {
///     fn confirm_profile(&mut self, metadata: &StoreMetadataRequest, smdp: &str) -> Answer {
///         println!("installing {:?} from {smdp}", metadata.profile_name);
///         Answer::Accept
///     }
///     fn confirmation_code(&mut self, _smdp: &str) -> Option<String> {
///         self.0.take()
///     }
///     fn progress(&mut self, event: &Progress) {
///         println!("{event:?}");
///     }
/// }
/// ```
pub trait DownloadUi {
    /// Shows the profile the SM-DP+ offers (name, provider, class, icon, policy rules) and asks
    /// whether to install it: [`Answer::Accept`], or [`Answer::Decline`] with the SGP.22
    /// reason (endUserRejection when the user said no, postponed for "later": the order stays
    /// downloadable; endUserRejection ends it for good).
    fn confirm_profile(&mut self, metadata: &StoreMetadataRequest, smdp_address: &str) -> Answer;

    /// Asks for the confirmation code the operator gave the user; `None` cancels the download
    /// (reason postponed, so that it can be tried again).
    fn confirmation_code(&mut self, smdp_address: &str) -> Option<String>;

    /// Asks the user to consent to the profile's policy rules (SGP.22 §2.9.2.2), after
    /// [`confirm_profile`](Self::confirm_profile) accepted, when the eUICC's Rules
    /// Authorisation Table requires consent for them (`metadata.profile_policy_rules`).
    /// The default declines (endUserRejection): consent is never assumed.
    fn confirm_policy_rules(
        &mut self,
        _metadata: &StoreMetadataRequest,
        _smdp_address: &str,
    ) -> Answer {
        Answer::Decline(CancelSessionReason::EndUserRejection)
    }

    /// How the download goes; called on the caller's thread between steps.
    fn progress(&mut self, _event: &Progress) {}
}

/// A step of a download, for [`DownloadUi::progress`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// A session stranded by an earlier crash is being ended first (SGP.22 §3.1.3).
    Recovering {
        /// Its transactionId.
        transaction_id: TransactionId,
        /// Its SM-DP+.
        smdp_address: String,
    },
    /// Mutual authentication with this server starts (ES9+ initiateAuthentication).
    Authenticating {
        /// The SM-DP+ address.
        address: String,
    },
    /// The SM-DP+ offered this profile (before the user is asked).
    ProfileMetadata {
        /// Its ICCID.
        iccid: Iccid,
        /// serviceProviderName.
        service_provider_name: String,
        /// profileName.
        profile_name: String,
    },
    /// The Bound Profile Package is being fetched (ES9+ getBoundProfilePackage).
    Downloading,
    /// The package is being loaded into the eUICC: `done` of `total` STORE DATA sequences
    /// sent (SGP.22 §2.5.5; `total` is 0 when unknown).
    Installing {
        /// Sequences sent.
        done: usize,
        /// Sequences in the package.
        total: usize,
    },
    /// The profile is installed.
    Installed {
        /// Its ICCID.
        iccid: Iccid,
    },
    /// The download failed or was declined: the session is being ended on both sides.
    Cancelling {
        /// The CancelSession reason.
        reason: CancelSessionReason,
    },
    /// A pending notification was accepted by its server and removed from the card.
    NotificationSent {
        /// Its sequence number.
        seq: u32,
    },
    /// A pending notification could not be delivered; it stays on the card.
    NotificationFailed {
        /// Its sequence number.
        seq: u32,
    },
}

/// What a successful [`Lpa::download`](super::Lpa::download) did.
#[derive(Debug)]
#[non_exhaustive]
pub struct DownloadReport {
    /// The installation: the ICCID, the metadata the user accepted, the SM-DP+, the card's
    /// ProfileInstallationResult.
    pub installation: Installation,
    /// The delivery of the install notification and of older pending ones.
    pub notifications: DeliveryReport,
    /// Why the notifications could not be handled at all (the card could not list them):
    /// they stay on the card for the next delivery.
    pub notification_error: Option<LpaError>,
    /// A session stranded by an earlier crash that was ended before this download.
    pub recovered: Option<SessionEnd>,
}
