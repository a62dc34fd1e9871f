//! [`Lpa`]: the Local Profile Assistant in one object, driving `lpa-core`'s sans-IO procedures
//! over an eUICC transport and an HTTPS client.

// LpaError carries the procedure's fault as it is (an SGP.22 statusCodeData is four strings,
// a ProcedureError also says how the session ended): large, but built once per failed call,
// and unboxed it stays matchable with nested patterns, as in `lpa_core::procedures`.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

mod config;
mod driver;
mod error;
mod ui;

use std::sync::Arc;

use log::{debug, info, warn};
use lpa_core::activation::ActivationCode;
use lpa_core::es9::EventEntry;
use lpa_core::ids::{Eid, Iccid};
use lpa_core::messages::{
    CancelSessionReason, EuiccConfiguredAddressesResponse, NotificationMetadata, ProfileIdentifier,
    ProfileInfo, ProfilePolicyAuthorisationRule, ResetOptions,
};
use lpa_core::procedures::{
    DeliveryReport, Discovery, Download, DownloadSource, NotificationFilter, Recovery, SessionEnd,
    SessionRecord, SessionStage,
};

pub use config::{LpaConfig, RetryPolicy, Sleeper, ThreadSleeper};
pub use error::{ErrorKind, LpaError};
use error::{loggable_end, loggable_error, loggable_outcome};
pub use ui::{DownloadReport, DownloadRequest, DownloadUi, Progress};

use crate::es10::{Es10Client, EuiccInfo2Report, policy, redact};
use crate::http::HttpClient;
use crate::storage::{SessionStore, StorageError};
use crate::transport::ApduTransport;
use driver::Ctx;

/// A shorter-lived view of an optional UI (a trait object's lifetime can be shortened behind
/// `&mut`, but not inside an `Option`).
fn reborrow<'a>(ui: &'a mut Option<&mut dyn DownloadUi>) -> Option<&'a mut dyn DownloadUi> {
    match ui {
        Some(ui) => Some(&mut **ui),
        None => None,
    }
}

/// The tags GetProfilesInfo is asked for before a policy check: ICCID, state, policy rules.
const POLICY_TAGS: [u8; 4] = [0x5A, 0x9F, 0x70, 0x99];

/// The Local Profile Assistant: one eUICC, one HTTP client, one session store, driving
/// `lpa-core`'s sans-IO procedures.
///
/// ```text
///              Lpa::download / discover / enable / process_notifications / recover
///                 |                                                  ^
///                 v                                                  | DownloadUi: consent,
///   lpa_core::procedures::{Download, Discovery, NotificationDelivery,  | confirmation code,
///                          Recovery}  -- poll() --> Step               | progress
///       Step::Card(DER)   --> Es10Client::call --> ApduTransport (AT, PC/SC, OMAPI, ...)
///       Step::Server(req) --> HttpClient::post (HTTPS, GSMA CI trust narrowed to the eUICC's)
///       Step::User(q)     --> policy check (PPRs vs RAT), then DownloadUi
///       after every step  --> SessionStore: the session record (JSON), cleared at the end
/// ```
///
/// # What it guarantees
///
/// - **Sessions end on both sides.** Any failure of a download after initiateAuthentication
///   is followed by ES10b CancelSession on the card and ES9+ cancelSession at the SM-DP+
///   (the machine does it; this driver carries it out). The record of an open session is on
///   disk after every step ([`SessionStore`]), so a crash or a lost card leaves something
///   [`Lpa::recover`] (and the next [`Lpa::download`]) ends cleanly.
/// - **Notifications are never lost.** A notification is removed from the card only after its
///   server accepted it; failures are retried with back-off ([`RetryPolicy`]) and otherwise
///   stay on the card for the next [`Lpa::process_notifications`].
/// - **Policy first.** Profile policy rules (SGP.22 §2.9) are checked before the card is asked:
///   a profile whose rules the Rules Authorisation Table does not allow is declined with
///   pprNotAllowed, consent is asked where the RAT requires it, and disabling or deleting a
///   profile protected by PPR1/PPR2 is refused with [`LpaError::Policy`] without sending
///   anything.
/// - **TLS trust is the eUICC's.** Before the first request, this LPA makes its own client
///   narrowed to the CIs the eUICC lists in euiccCiPKIdListForVerification
///   ([`HttpClient::narrowed`]; the shared `http` is left as it is). When EUICCInfo1 cannot be
///   read, no request is sent (it fails as [`HttpError::Tls`](crate::http::HttpError::Tls)).
/// - **Logs keep secrets.** Every ES10 and HTTP exchange is logged (`log` crate, debug and
///   trace), with EIDs, ICCIDs, matching IDs and server messages masked unless
///   [`LpaConfig::log_sensitive`] is set. The confirmation code is a credential: it is never
///   logged, whatever the setting, and a copy this facade holds is wiped (`zeroize`) before
///   it is dropped.
///
/// # Example
///
/// ```no_run
/// use std::sync::Arc;
/// use lpa::{Answer, DownloadRequest, DownloadUi, Lpa, LpaConfig};
/// use lpa::https::HttpsConfig;
/// use lpa::storage::FileStore;
/// use lpa::transport::ApduTransport;
/// use lpa_core::messages::StoreMetadataRequest;
///
/// struct Yes;
/// impl DownloadUi for Yes {
///     fn confirm_profile(&mut self, _: &StoreMetadataRequest, _: &str) -> Answer {
///         Answer::Accept
///     }
///     fn confirmation_code(&mut self, _: &str) -> Option<String> {
///         None
///     }
/// }
///
/// fn install(euicc: Box<dyn ApduTransport>) -> Result<(), Box<dyn std::error::Error>> {
///     let mut lpa = Lpa::new(
///         euicc,
///         Arc::new(HttpsConfig::new().build()?),
///         Box::new(FileStore::new("/var/lib/lpa/session.json")),
///         LpaConfig::new(),
///     )?;
///     lpa.recover()?; // a download a crash interrupted is ended first
///     let report = lpa.download(
///         DownloadRequest::ActivationCode("LPA:1$smdp.example.com$MATCHING-ID".into()),
///         &mut Yes,
///     )?;
///     lpa.enable(&report.installation.iccid, true)?;
///     Ok(())
/// }
/// ```
///
/// With an AT modem (crate `lpa-at`), share the STORE DATA segment size before boxing the
/// transport, so that it can lower the size when the modem refuses long APDUs:
///
/// ```text
/// let mut modem = lpa_at::AtTransport::open("/dev/ttyUSB2", lpa_at::AtOptions::new())?;
/// let segment = lpa::es10::SegmentSize::new(modem.max_apdu_data().unwrap_or(255))?;
/// modem.share_segment_size(segment.clone());
/// let lpa = Lpa::new(Box::new(modem), http, store, LpaConfig::new().with_segment_size(segment))?;
/// ```
///
/// Every method is blocking and opens the ES10 session (a logical channel to the ISD-R) when
/// none is open; dropping the `Lpa` closes it.
pub struct Lpa {
    es10: Es10Client<Box<dyn ApduTransport>>,
    http: Arc<dyn HttpClient>,
    store: Box<dyn SessionStore>,
    config: LpaConfig,
    /// `http` narrowed to the eUICC's CIs ([`HttpClient::narrowed`]), once EUICCInfo1 was read;
    /// every request goes through it.
    narrowed_http: Option<Arc<dyn HttpClient>>,
    last_session_end: Option<SessionEnd>,
}

impl std::fmt::Debug for Lpa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lpa")
            .field("es10", &self.es10)
            .field("config", &self.config)
            .field("trust_narrowed", &self.narrowed_http.is_some())
            .finish_non_exhaustive()
    }
}

impl Lpa {
    /// An LPA over `transport` (the eUICC), `http` (the SM-DP+ and SM-DS) and `store` (the
    /// record of a download in progress). Checks `config`; sends nothing yet.
    ///
    /// The STORE DATA segment size starts at the smaller of [`crate::es10::Es10Config`]'s and
    /// the transport's [`ApduTransport::max_apdu_data`]; with [`LpaConfig::segment_size`] the
    /// ES10 client shares that handle with the transport.
    pub fn new(
        transport: Box<dyn ApduTransport>,
        http: Arc<dyn HttpClient>,
        store: Box<dyn SessionStore>,
        config: LpaConfig,
    ) -> Result<Self, LpaError> {
        config.validate()?;
        let mut es10_config = config.es10.clone();
        es10_config.log_sensitive = config.log_sensitive;
        let hint = transport.max_apdu_data();
        let mut es10 = Es10Client::new(transport, es10_config);
        if let Some(handle) = &config.segment_size {
            es10.use_segment_size_handle(handle.clone());
        }
        if let Some(max) = hint.filter(|&max| max >= 1 && max < es10.segment_size()) {
            es10.set_segment_size(max)?;
        }
        Ok(Lpa {
            es10,
            http,
            store,
            config,
            narrowed_http: None,
            last_session_end: None,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LpaConfig {
        &self.config
    }

    /// The ES10 client, for calls this facade does not cover (escape hatch). Do not use it to
    /// start a download session of your own: the session record would not know of it.
    pub fn es10(&mut self) -> &mut Es10Client<Box<dyn ApduTransport>> {
        &mut self.es10
    }

    /// How the RSP session of the last download (or recovery) was ended: after a failure, the
    /// CancelSession outcome on the card and at the SM-DP+. `None` when it had no session to
    /// end (it failed before initiateAuthentication, or succeeded).
    pub fn last_session_end(&self) -> Option<&SessionEnd> {
        self.last_session_end.as_ref()
    }

    /// The record of a download session left open (by a crash, or a card that could not be
    /// reached), if the store holds one; [`Lpa::recover`] ends it.
    pub fn stranded_session(&self) -> Result<Option<SessionRecord>, LpaError> {
        match self.store.load()? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| LpaError::Storage(StorageError::Corrupt(e.to_string()))),
        }
    }

    fn open(&mut self) -> Result<(), LpaError> {
        self.es10.open().map_err(LpaError::from)
    }

    fn sensitive(&self) -> bool {
        self.config.log_sensitive
    }

    // ------------------------------------------------------------------------- recovery

    /// Ends a download session a crash (or an unreachable card) left open: ES10b
    /// CancelSession on the card, then ES9+ cancelSession with the card's signed answer
    /// (reason undefinedReason), and clears the record. `Ok(None)` when there was none.
    ///
    /// When the card or the server cannot be reached the record is kept (an error tells why)
    /// and a later call tries again. An unreadable record is removed and reported as
    /// [`LpaError::Storage`].
    pub fn recover(&mut self) -> Result<Option<SessionEnd>, LpaError> {
        let record = match self.stranded_session() {
            Ok(record) => record,
            Err(LpaError::Storage(StorageError::Corrupt(e))) => {
                warn!("the stored session record is unreadable and is removed: {e}");
                self.store.clear()?;
                return Err(LpaError::Storage(StorageError::Corrupt(e)));
            }
            Err(e) => return Err(e),
        };
        let Some(record) = record else {
            return Ok(None);
        };
        if let Err(e) = self.open() {
            // A session the card already cancelled only needs the server.
            if !matches!(record.stage, SessionStage::CardCancelled { .. }) {
                return Err(e);
            }
            warn!(
                "the eUICC cannot be reached ({}); telling the server only",
                loggable_error(&e, self.sensitive())
            );
        }
        self.run_recovery(record, None).map(Some)
    }

    fn run_recovery(
        &mut self,
        record: SessionRecord,
        ui: Option<&mut dyn DownloadUi>,
    ) -> Result<SessionEnd, LpaError> {
        info!(
            "ending the download session {} with {} left open at {:?}",
            record.transaction_id, record.smdp_address, record.stage
        );
        let mut ctx = Ctx::new(ui).persisting(Some(record.clone()));
        ctx.progress(Progress::Recovering {
            transaction_id: record.transaction_id,
            smdp_address: record.smdp_address.clone(),
        });
        let mut machine = Recovery::new(record, CancelSessionReason::UndefinedReason);
        let end = self.drive(&mut machine, &mut ctx)?;
        info!(
            "stranded session ended: {}",
            loggable_end(&end, self.sensitive())
        );
        self.last_session_end = Some(end.clone());
        Ok(end)
    }

    /// Ends a stranded session before a new download; an unreadable record is dropped.
    ///
    /// A session that cannot be ended now refuses the download with the error that stopped
    /// its recovery (the card or the server could not be reached), and its record stays in
    /// the store: the new download's record would otherwise replace it at its first step, and
    /// the stranded session would never be cancelled at its SM-DP+.
    fn recover_before_download(
        &mut self,
        ui: &mut dyn DownloadUi,
    ) -> Result<Option<SessionEnd>, LpaError> {
        let record = match self.stranded_session() {
            Ok(record) => record,
            Err(LpaError::Storage(StorageError::Corrupt(e))) => {
                warn!("the stored session record is unreadable and is removed: {e}");
                self.store.clear()?;
                None
            }
            Err(e) => return Err(e),
        };
        let Some(record) = record else {
            return Ok(None);
        };
        match self.run_recovery(record, Some(&mut *ui)) {
            Ok(end) => Ok(Some(end)),
            Err(e) => {
                warn!(
                    "a stranded download session could not be ended ({}): no new download \
                     until Lpa::recover ends it (or Lpa::abandon_stranded_session drops it)",
                    loggable_error(&e, self.sensitive())
                );
                Err(e)
            }
        }
    }

    /// Removes the record of a stranded session without ending it, and returns it: for a
    /// session [`Lpa::recover`] can never end (its SM-DP+ is gone for good). The card's
    /// session is replaced by the next download's; the SM-DP+ keeps its side until it expires
    /// there. `Ok(None)` when there was none; an unreadable record is removed too.
    pub fn abandon_stranded_session(&mut self) -> Result<Option<SessionRecord>, LpaError> {
        let record = match self.stranded_session() {
            Ok(record) => record,
            Err(LpaError::Storage(StorageError::Corrupt(e))) => {
                warn!("the stored session record is unreadable and is removed: {e}");
                None
            }
            Err(e) => return Err(e),
        };
        if let Some(record) = &record {
            warn!(
                "abandoning the download session {} with {} without ending it",
                record.transaction_id, record.smdp_address
            );
        }
        self.store.clear()?;
        Ok(record)
    }

    // ------------------------------------------------------------------------- download

    /// Downloads and installs a profile (SGP.22 §3.1.3), asking `ui` for consent and, when
    /// required, the confirmation code; then delivers the install notification and older
    /// pending ones (unless [`LpaConfig::deliver_notifications`] is off).
    ///
    /// A session an earlier crash left open is ended first; when it cannot be ended now (the
    /// card or its SM-DP+ cannot be reached), the download is refused with the error that
    /// stopped it, before any new session starts, and the record is kept
    /// ([`Lpa::stranded_session`] still returns it): run [`Lpa::recover`] once the card and
    /// the server can be reached (or [`Lpa::abandon_stranded_session`]). Any failure after
    /// initiateAuthentication ends the session on both sides before the error is returned
    /// ([`Lpa::last_session_end`] tells how); a card refusing the package is
    /// [`LpaError::InstallationFailed`], whose result also went to the SM-DP+.
    pub fn download(
        &mut self,
        request: DownloadRequest,
        ui: &mut dyn DownloadUi,
    ) -> Result<DownloadReport, LpaError> {
        let source = match request {
            DownloadRequest::ActivationCode(text) => {
                let code = ActivationCode::parse(&text)
                    .map_err(|e| LpaError::InvalidInput(format!("activation code: {e}")))?;
                DownloadSource::ActivationCode {
                    smdp_address: code.smdp_address().to_owned(),
                    matching_id: code.matching_id().map(str::to_owned),
                    confirmation_code_required: code.confirmation_code_required(),
                }
            }
            DownloadRequest::DefaultSmdp => DownloadSource::DefaultSmdp,
            DownloadRequest::Event(event) => DownloadSource::Event {
                smdp_address: event.rsp_server_address,
                event_id: event.event_id,
            },
        };
        self.last_session_end = None;
        self.open()?;
        let recovered = self.recover_before_download(ui)?;
        self.last_session_end = None;
        match &source {
            DownloadSource::ActivationCode {
                smdp_address,
                matching_id,
                ..
            } => info!(
                "download from {smdp_address}, matching ID {}",
                matching_id
                    .as_deref()
                    .map(|m| redact::secret(m, self.sensitive()).to_string())
                    .unwrap_or_else(|| "empty".to_owned())
            ),
            DownloadSource::DefaultSmdp => info!("download from the default SM-DP+"),
            DownloadSource::Event { smdp_address, .. } => {
                info!("download of an SM-DS event from {smdp_address}")
            }
            _ => {}
        }
        let mut machine = Download::new(source, self.config.device_info.clone());
        let mut ctx = Ctx::new(Some(&mut *ui)).persisting(None);
        let installation = self.drive(&mut machine, &mut ctx)?;
        drop(ctx);
        if installation.is_installed() {
            info!(
                "profile {} installed",
                redact::id(installation.iccid, self.sensitive())
            );
            ui.progress(&Progress::Installed {
                iccid: installation.iccid,
            });
        } else {
            warn!(
                "the eUICC refused the profile package: {:?}",
                installation.outcome
            );
        }
        let (notifications, notification_error) = if self.config.deliver_notifications {
            match self.deliver(NotificationFilter::all(), Some(ui)) {
                Ok(report) => (report, None),
                Err(e) => {
                    warn!(
                        "the notifications could not be delivered now: {}",
                        loggable_error(&e, self.sensitive())
                    );
                    (DeliveryReport::default(), Some(e))
                }
            }
        } else {
            (DeliveryReport::default(), None)
        };
        if !installation.is_installed() {
            return Err(LpaError::InstallationFailed {
                installation: Box::new(installation),
                notifications,
            });
        }
        Ok(DownloadReport {
            installation,
            notifications,
            notification_error,
            recovered,
        })
    }

    /// Asks an SM-DS for the events waiting for this eUICC (SGP.22 §3.6.2): the root SM-DS
    /// the eUICC names, or `smds_address`. Download each with [`DownloadRequest::Event`].
    pub fn discover(&mut self, smds_address: Option<&str>) -> Result<Vec<EventEntry>, LpaError> {
        self.open()?;
        let device_info = self.config.device_info.clone();
        let mut machine = match smds_address {
            Some(address) => Discovery::new(address, device_info),
            None => Discovery::from_root_smds(device_info),
        };
        let mut ctx = Ctx::new(None);
        let events = self.drive(&mut machine, &mut ctx)?;
        info!("{} event(s) found", events.len());
        Ok(events)
    }

    // ------------------------------------------------------------------------- notifications

    /// The pending notifications on the card (ES10b ListNotification).
    pub fn list_notifications(&mut self) -> Result<Vec<NotificationMetadata>, LpaError> {
        self.open()?;
        Ok(self.es10.list_notifications(None)?)
    }

    /// Delivers the pending notifications `filter` lets through (SGP.22 §3.5): each goes to
    /// its server, and is removed from the card only after the server accepted it. Those that
    /// could not be delivered for a passing reason are tried again as
    /// [`LpaConfig::notification_retry`] says; what still fails stays on the card.
    pub fn process_notifications(
        &mut self,
        filter: NotificationFilter,
    ) -> Result<DeliveryReport, LpaError> {
        self.open()?;
        self.deliver(filter, None)
    }

    /// Removes a notification from the card without sending it (ES10b
    /// RemoveNotificationFromList); `Ok(false)` when there was no such notification.
    pub fn remove_notification(&mut self, seq: u32) -> Result<bool, LpaError> {
        self.open()?;
        warn!("removing notification {seq} from the card without delivering it");
        Ok(self.es10.remove_notification(seq)?)
    }

    fn deliver(
        &mut self,
        filter: NotificationFilter,
        mut ui: Option<&mut dyn DownloadUi>,
    ) -> Result<DeliveryReport, LpaError> {
        let retry = self.config.notification_retry;
        let mut report = self.deliver_once(filter.clone(), reborrow(&mut ui))?;
        for round in 2..=retry.attempts {
            let again: Vec<u32> = report
                .notifications
                .iter()
                .filter(|n| n.outcome.is_worth_retrying())
                .map(|n| n.seq_number)
                .collect();
            if again.is_empty() {
                break;
            }
            let wait = retry.backoff(round);
            info!(
                "{} notification(s) not delivered; round {round} of {} in {} ms",
                again.len(),
                retry.attempts,
                wait.as_millis()
            );
            self.config.sleeper.sleep(wait);
            let filter = NotificationFilter {
                seq_numbers: Some(again),
                operations: filter.operations.clone(),
            };
            let later = match self.deliver_once(filter, reborrow(&mut ui)) {
                Ok(later) => later,
                Err(e) => {
                    warn!(
                        "notification retry failed: {}",
                        loggable_error(&e, self.sensitive())
                    );
                    break;
                }
            };
            for result in later.notifications {
                match report
                    .notifications
                    .iter_mut()
                    .find(|n| n.seq_number == result.seq_number)
                {
                    Some(slot) => *slot = result,
                    None => report.notifications.push(result),
                }
            }
        }
        for n in &report.notifications {
            if n.outcome.is_delivered() {
                debug!("notification {} delivered to {}", n.seq_number, n.address);
            } else {
                warn!(
                    "notification {} for {} stays on the card: {}",
                    n.seq_number,
                    n.address,
                    loggable_outcome(&n.outcome, self.sensitive())
                );
            }
            if let Some(ui) = ui.as_deref_mut() {
                ui.progress(&if n.outcome.is_delivered() {
                    Progress::NotificationSent { seq: n.seq_number }
                } else {
                    Progress::NotificationFailed { seq: n.seq_number }
                });
            }
        }
        Ok(report)
    }

    fn deliver_once(
        &mut self,
        filter: NotificationFilter,
        ui: Option<&mut dyn DownloadUi>,
    ) -> Result<DeliveryReport, LpaError> {
        let mut machine = lpa_core::procedures::NotificationDelivery::new(filter);
        let mut ctx = Ctx::new(ui);
        self.drive(&mut machine, &mut ctx)
    }

    /// The notifications after enable, disable or delete: delivered unless configured
    /// otherwise; a failure to list them leaves them on the card (logged).
    fn notifications_after_operation(&mut self) -> DeliveryReport {
        if !self.config.deliver_notifications {
            return DeliveryReport::default();
        }
        match self.deliver(NotificationFilter::all(), None) {
            Ok(report) => report,
            Err(e) => {
                warn!(
                    "the notifications stay on the card for now: {}",
                    loggable_error(&e, self.sensitive())
                );
                DeliveryReport::default()
            }
        }
    }

    // ------------------------------------------------------------------------- profiles

    /// Every installed profile with every element (ES10c GetProfilesInfo).
    pub fn profiles(&mut self) -> Result<Vec<ProfileInfo>, LpaError> {
        self.open()?;
        Ok(self.es10.all_profiles()?)
    }

    fn policy_profiles(&mut self) -> Result<Vec<ProfileInfo>, LpaError> {
        Ok(self.es10.profiles(None, Some(&POLICY_TAGS))?)
    }

    /// Enables a profile (ES10c EnableProfile; `refresh`: the card asks the device to
    /// REFRESH). Refused with [`LpaError::Policy`], without sending it, when the enabled
    /// profile carries PPR1. Afterwards the transport refreshes the SIM where the modem needs
    /// it ([`ApduTransport::after_profile_switch`]), the channel is opened again, and the
    /// notifications are delivered.
    pub fn enable(&mut self, iccid: &Iccid, refresh: bool) -> Result<DeliveryReport, LpaError> {
        self.open()?;
        let id = ProfileIdentifier::Iccid(*iccid);
        let profiles = self.policy_profiles()?;
        policy::check_enable(&profiles, &id)?;
        info!("enabling {}", redact::id(iccid, self.sensitive()));
        self.es10.enable(&id, refresh)?;
        self.after_profile_switch()?;
        Ok(self.notifications_after_operation())
    }

    /// Disables a profile (ES10c DisableProfile); refused with [`LpaError::Policy`], without
    /// sending it, when the profile carries PPR1. Then as [`Lpa::enable`].
    pub fn disable(&mut self, iccid: &Iccid, refresh: bool) -> Result<DeliveryReport, LpaError> {
        self.open()?;
        let id = ProfileIdentifier::Iccid(*iccid);
        let profiles = self.policy_profiles()?;
        if let Some(profile) = profiles.iter().find(|p| policy::is_profile(p, &id)) {
            policy::check_disable(profile)?;
        }
        info!("disabling {}", redact::id(iccid, self.sensitive()));
        self.es10.disable(&id, refresh)?;
        self.after_profile_switch()?;
        Ok(self.notifications_after_operation())
    }

    /// Deletes a (disabled) profile (ES10c DeleteProfile); refused with [`LpaError::Policy`],
    /// without sending it, when the profile carries PPR2. Then delivers the notifications.
    pub fn delete(&mut self, iccid: &Iccid) -> Result<DeliveryReport, LpaError> {
        self.open()?;
        let id = ProfileIdentifier::Iccid(*iccid);
        let profiles = self.policy_profiles()?;
        if let Some(profile) = profiles.iter().find(|p| policy::is_profile(p, &id)) {
            policy::check_delete(profile)?;
        }
        info!("deleting {}", redact::id(iccid, self.sensitive()));
        self.es10.delete(&id)?;
        Ok(self.notifications_after_operation())
    }

    /// Sets a profile's nickname (ES10c SetNickname, at most 64 bytes of UTF-8).
    pub fn set_nickname(&mut self, iccid: &Iccid, nickname: &str) -> Result<(), LpaError> {
        self.open()?;
        Ok(self.es10.set_nickname(iccid, nickname)?)
    }

    /// After EnableProfile/DisableProfile: the channel is closed, the transport refreshes the
    /// SIM where its modem needs it (every channel is gone then), and the ISD-R is selected
    /// again. A failed refresh is logged (the switch itself happened); a card that cannot be
    /// reached again is an error.
    fn after_profile_switch(&mut self) -> Result<(), LpaError> {
        if let Err(e) = self.es10.close() {
            debug!("closing the channel before the SIM refresh: {e}");
        }
        if let Err(e) = self.es10.transport_mut().after_profile_switch() {
            warn!("refreshing the SIM after the profile switch failed: {e}");
        }
        self.open()
    }

    // ------------------------------------------------------------------------- the eUICC

    /// The EID (ES10c GetEID).
    pub fn eid(&mut self) -> Result<Eid, LpaError> {
        self.open()?;
        Ok(self.es10.get_eid()?)
    }

    /// EUICCInfo2 (ES10b GetEUICCInfo), with the free memory and installed applications.
    pub fn euicc_info2(&mut self) -> Result<EuiccInfo2Report, LpaError> {
        self.open()?;
        Ok(self.es10.euicc_info2()?)
    }

    /// The default SM-DP+ and root SM-DS addresses (ES10a GetEuiccConfiguredAddresses).
    pub fn configured_addresses(&mut self) -> Result<EuiccConfiguredAddressesResponse, LpaError> {
        self.open()?;
        Ok(self.es10.configured_addresses()?)
    }

    /// Sets the default SM-DP+ address (ES10a SetDefaultDpAddress); empty removes it.
    pub fn set_default_smdp(&mut self, address: &str) -> Result<(), LpaError> {
        self.open()?;
        Ok(self.es10.set_default_dp_address(address.trim())?)
    }

    /// The Rules Authorisation Table (ES10b GetRAT).
    pub fn rat(&mut self) -> Result<Vec<ProfilePolicyAuthorisationRule>, LpaError> {
        self.open()?;
        Ok(self.es10.rat()?)
    }

    /// eUICCMemoryReset (ES10c): deletes what `options` names, whatever the profiles' policy
    /// rules. `Ok(false)` when there was nothing to delete.
    pub fn memory_reset(&mut self, options: ResetOptions) -> Result<bool, LpaError> {
        self.open()?;
        warn!("eUICC memory reset: {options:?}");
        Ok(self.es10.memory_reset(options)?)
    }
}
