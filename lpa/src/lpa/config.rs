//! [`LpaConfig`]: what an [`Lpa`](super::Lpa) announces and how it behaves.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use lpa_core::messages::{DeviceCapabilities, DeviceInfo, Version};

use super::error::LpaError;
use crate::es10::{Es10Config, SegmentSize};

/// How undelivered notifications are retried ([`Lpa::process_notifications`]): up to
/// `attempts` rounds in all, waiting `initial_backoff` before the second, twice as long
/// before each further one, never longer than `max_backoff`. Only notifications whose failure
/// is worth retrying (the server could not be reached, or had a passing problem such as HTTP
/// 503) are sent again; a refusal by the server is not repeated.
///
/// [`Lpa::process_notifications`]: super::Lpa::process_notifications
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Rounds in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second round.
    pub initial_backoff: Duration,
    /// The longest wait between two rounds.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// One round, no retry.
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
    };

    /// `attempts` rounds, waiting `initial_backoff`, then twice as long each time up to
    /// `max_backoff`.
    pub const fn new(attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        RetryPolicy {
            attempts,
            initial_backoff,
            max_backoff,
        }
    }

    /// The wait before round `round` (2 for the first retry).
    pub fn backoff(&self, round: u32) -> Duration {
        let doublings = round.saturating_sub(2).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    /// Three rounds, 2 s then 4 s apart (at most 30 s).
    fn default() -> Self {
        RetryPolicy::new(3, Duration::from_secs(2), Duration::from_secs(30))
    }
}

/// Waits between retries. The default [`ThreadSleeper`] sleeps the thread; tests inject one
/// that records the waits and returns at once.
pub trait Sleeper: Send + Sync {
    /// Waits `duration` (a bounded time: every wait of the LPA has a deadline).
    fn sleep(&self, duration: Duration);
}

/// [`Sleeper`] with [`std::thread::sleep`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Settings of an [`Lpa`](super::Lpa). Start from [`LpaConfig::new`] (or `default()`) and
/// change what you need with the `with_*` methods or the public fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct LpaConfig {
    /// What the LPA announces in AuthenticateServer (SGP.22 §4.2): the device's TAC,
    /// capabilities and, optionally, IMEI. The default is a generic LTE/5G device; set your
    /// device's own TAC.
    pub device_info: DeviceInfo,
    /// The ES10 client's settings (ISD-R AIDs, TERMINAL CAPABILITY, segment size). Its
    /// `log_sensitive` is replaced by [`LpaConfig::log_sensitive`].
    pub es10: Es10Config,
    /// Log EIDs, ICCIDs, matching IDs and server messages in clear. Off by default: turn it
    /// on only on a developer's own device. The confirmation code (a credential) is never
    /// logged, whatever this says.
    pub log_sensitive: bool,
    /// How undelivered notifications are retried.
    pub notification_retry: RetryPolicy,
    /// Whether download, enable, disable and delete deliver the pending notifications right
    /// away (default `true`; otherwise they wait for [`super::Lpa::process_notifications`]).
    pub deliver_notifications: bool,
    /// A STORE DATA segment-size handle the transport was given before it was boxed (for
    /// `lpa_at::AtTransport::share_segment_size`): the ES10 client then uses the same handle,
    /// so the transport can lower the size when a modem refuses long blocks. The handle's
    /// value is then the starting size (instead of `es10.segment_size`).
    pub segment_size: Option<SegmentSize>,
    /// Waits between notification retries.
    pub sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for LpaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LpaConfig")
            .field("device_info", &self.device_info)
            .field("es10", &self.es10)
            .field("log_sensitive", &self.log_sensitive)
            .field("notification_retry", &self.notification_retry)
            .field("deliver_notifications", &self.deliver_notifications)
            .field(
                "segment_size",
                &self.segment_size.as_ref().map(SegmentSize::get),
            )
            .finish_non_exhaustive()
    }
}

impl Default for LpaConfig {
    fn default() -> Self {
        LpaConfig {
            device_info: default_device_info(),
            es10: Es10Config::new(),
            log_sensitive: false,
            notification_retry: RetryPolicy::default(),
            deliver_notifications: true,
            segment_size: None,
            sleeper: Arc::new(ThreadSleeper),
        }
    }
}

impl LpaConfig {
    /// The defaults: a generic LTE/5G device, [`Es10Config::new`], identifiers masked in logs,
    /// [`RetryPolicy::default`], notifications delivered right away.
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces `device_info` (TAC, capabilities, IMEI).
    pub fn with_device_info(mut self, device_info: DeviceInfo) -> Self {
        self.device_info = device_info;
        self
    }

    /// Uses these ES10 client settings.
    pub fn with_es10(mut self, es10: Es10Config) -> Self {
        self.es10 = es10;
        self
    }

    /// Logs identifiers and matching IDs in clear (development only); never the
    /// confirmation code.
    pub fn with_log_sensitive(mut self, log_sensitive: bool) -> Self {
        self.log_sensitive = log_sensitive;
        self
    }

    /// Retries undelivered notifications so.
    pub fn with_notification_retry(mut self, retry: RetryPolicy) -> Self {
        self.notification_retry = retry;
        self
    }

    /// Whether operations deliver notifications right away.
    pub fn with_deliver_notifications(mut self, deliver: bool) -> Self {
        self.deliver_notifications = deliver;
        self
    }

    /// Shares this segment-size handle with the transport (see [`LpaConfig::segment_size`]).
    pub fn with_segment_size(mut self, handle: SegmentSize) -> Self {
        self.segment_size = Some(handle);
        self
    }

    /// Waits with `sleeper` between notification retries.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), LpaError> {
        let invalid = |reason: &str| LpaError::InvalidInput(reason.to_owned());
        self.es10.validate().map_err(LpaError::from)?;
        if self.notification_retry.attempts == 0 {
            return Err(invalid("notification_retry.attempts must be at least 1"));
        }
        if self.notification_retry.initial_backoff > self.notification_retry.max_backoff {
            return Err(invalid(
                "notification_retry.initial_backoff is longer than max_backoff",
            ));
        }
        if self.device_info.tac.len() != 4 {
            return Err(invalid("device_info.tac must be 4 octets (8 digits)"));
        }
        Ok(())
    }
}

/// A generic LTE/5G device: TAC 35290611, E-UTRAN and NR release 15.
fn default_device_info() -> DeviceInfo {
    let r15 = Some(Version::new(15, 0, 0));
    DeviceInfo {
        tac: vec![0x35, 0x29, 0x06, 0x11],
        device_capabilities: DeviceCapabilities {
            gsm_supported_release: None,
            utran_supported_release: None,
            cdma2000onex_supported_release: None,
            cdma2000hrpd_supported_release: None,
            cdma2000ehrpd_supported_release: None,
            eutran_epc_supported_release: r15,
            contactless_supported_release: None,
            rsp_crl_supported_version: None,
            nr_epc_supported_release: r15,
            nr_5gc_supported_release: r15,
            eutran_5gc_supported_release: r15,
        },
        imei: None,
    }
}
