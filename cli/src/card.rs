//! The eUICC the command talks to: `--at`, `--pcsc` or `--testbed`, with where the LPA keeps
//! its crash-recovery record.

use std::path::{Path, PathBuf};

use lpa::ErrorKind;
use lpa::es10::SegmentSize;
use lpa::storage::{FileStore, SessionStore};
use lpa::transport::{ApduTransport, TransportError};
use lpa_at::{AccessMode, AtOptions, AtTransport, ModemCache};
use lpa_core::apdu::LogicalChannel;

use crate::args::{AtMode, CardArgs};
use crate::error::CliError;
use crate::testbed::{SoftCardTransport, Testbed};

/// An opened eUICC.
pub struct OpenedCard {
    /// The APDU transport.
    pub transport: Box<dyn ApduTransport>,
    /// What it is, for messages: `modem Quectel EG25 at /dev/ttyUSB2`.
    pub description: String,
    /// The LPA's crash-recovery record.
    pub session_store: Box<dyn SessionStore>,
    /// CA certificates (DER) to trust for this card's servers (the testbed's CI).
    pub extra_roots: Vec<Vec<u8>>,
    /// The STORE DATA segment size shared with the transport (AT modems lower it when they
    /// refuse long commands).
    pub segment_size: Option<SegmentSize>,
}

/// Opens the card the options name. Fails with a usage error when none is named.
pub fn open(args: &CardArgs) -> Result<OpenedCard, CliError> {
    if let Some(dir) = &args.testbed {
        return open_testbed(dir);
    }
    if let Some(tty) = &args.at {
        return open_at(tty, args);
    }
    if let Some(reader) = &args.pcsc {
        return open_pcsc(reader, args);
    }
    Err(CliError::usage(
        "which eUICC? Give --at <tty> (a modem), --pcsc[=READER] (a smart card reader) or \
         --testbed <dir> (a software eUICC); or try `lpa demo`",
    ))
}

fn open_testbed(dir: &Path) -> Result<OpenedCard, CliError> {
    let testbed = Testbed::open(dir)?;
    if testbed.created() {
        log::warn!(
            "created a new testbed in {} (test PKI, software eUICC); its test CI is in ci.pem",
            dir.display()
        );
    }
    let card = testbed.card()?;
    Ok(OpenedCard {
        transport: Box::new(SoftCardTransport::new(card)),
        description: format!("testbed eUICC in {}", dir.display()),
        session_store: Box::new(FileStore::new(testbed.session_path())),
        extra_roots: vec![testbed.ci_certificate().to_vec()],
        segment_size: None,
    })
}

/// The folder for the session record and the modem cache.
fn state_dir(args: &CardArgs) -> Result<PathBuf, CliError> {
    let dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => match (std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")) {
            (Some(state), _) if !state.is_empty() => PathBuf::from(state).join("lpa"),
            (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local/state/lpa"),
            _ => {
                return Err(CliError::usage(
                    "no folder for the LPA's state: set --state-dir (or HOME)",
                ));
            }
        },
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        CliError::internal(format!(
            "cannot create the state folder {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}

/// A file-name-safe form of a device name.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn open_at(tty: &str, args: &CardArgs) -> Result<OpenedCard, CliError> {
    let state = state_dir(args)?;
    let cache_path = state.join("modems.json");
    let cache = ModemCache::load(&cache_path).unwrap_or_else(|e| {
        log::warn!("ignoring the modem cache {}: {e}", cache_path.display());
        ModemCache::new()
    });
    let mut options = AtOptions::new().with_cache(cache.clone());
    match args.at_mode {
        AtMode::Auto => {}
        AtMode::Csim => options = options.with_mode(AccessMode::Csim),
        AtMode::Cgla => options = options.with_mode(AccessMode::LogicalChannels),
    }
    if let Some(baud) = args.baud {
        options = options.with_baud_rate(baud);
    }
    let mut transport = AtTransport::open(tty, options)
        .map_err(|e| CliError::new(ErrorKind::CardUnreachable, format!("modem at {tty}: {e}")))?;
    let description = format!("modem {} at {tty}", transport.identity());
    let segment_size = SegmentSize::new(transport.max_apdu_data().unwrap_or(255).clamp(1, 255))
        .map_err(|e| CliError::internal(format!("segment size: {e}")))?;
    transport.share_segment_size(segment_size.clone());
    Ok(OpenedCard {
        transport: Box::new(RememberingAt {
            inner: transport,
            cache,
            cache_path,
        }),
        description,
        session_store: Box::new(FileStore::new(
            state.join(format!("session-at-{}", file_safe(tty))),
        )),
        extra_roots: Vec::new(),
        segment_size: Some(segment_size),
    })
}

/// The AT transport, saving what it learned about the modem (access mode, largest APDU) to the
/// cache when the command is done.
struct RememberingAt {
    inner: AtTransport<Box<dyn serialport::SerialPort>>,
    cache: ModemCache,
    cache_path: PathBuf,
}

impl Drop for RememberingAt {
    fn drop(&mut self) {
        self.inner.remember_in(&mut self.cache);
        if let Err(e) = self.cache.save(&self.cache_path) {
            log::warn!(
                "could not save the modem cache {}: {e}",
                self.cache_path.display()
            );
        }
    }
}

impl ApduTransport for RememberingAt {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.inner.transmit(command)
    }

    fn open_logical_channel(
        &mut self,
        aid: &[u8],
    ) -> Result<(LogicalChannel, Vec<u8>), TransportError> {
        self.inner.open_logical_channel(aid)
    }

    fn close_logical_channel(&mut self, channel: LogicalChannel) -> Result<(), TransportError> {
        self.inner.close_logical_channel(channel)
    }

    fn max_apdu_data(&self) -> Option<usize> {
        ApduTransport::max_apdu_data(&self.inner)
    }

    fn set_long_operation(&mut self, on: bool) {
        self.inner.set_long_operation(on)
    }

    fn after_profile_switch(&mut self) -> Result<(), TransportError> {
        self.inner.after_profile_switch()
    }
}

#[cfg(feature = "pcsc")]
fn open_pcsc(reader: &str, args: &CardArgs) -> Result<OpenedCard, CliError> {
    use lpa_pcsc::{PcscConfig, PcscTransport, ReaderSelector};
    let selector = if reader.is_empty() {
        ReaderSelector::FirstWithCard
    } else if let Ok(index) = reader.parse::<usize>() {
        ReaderSelector::Index(index)
    } else {
        ReaderSelector::name_contains(reader)
    };
    let transport = PcscTransport::open(PcscConfig::new().with_reader(selector))
        .map_err(|e| CliError::new(ErrorKind::CardUnreachable, format!("PC/SC: {e}")))?;
    let name = transport.reader().to_owned();
    let state = state_dir(args)?;
    Ok(OpenedCard {
        transport: Box::new(transport),
        description: format!("reader {name:?}"),
        session_store: Box::new(FileStore::new(
            state.join(format!("session-pcsc-{}", file_safe(&name))),
        )),
        extra_roots: Vec::new(),
        segment_size: None,
    })
}

#[cfg(not(feature = "pcsc"))]
fn open_pcsc(_reader: &str, _args: &CardArgs) -> Result<OpenedCard, CliError> {
    Err(CliError::usage(
        "this lpa was built without PC/SC support: rebuild with `cargo build -p lpa-cli \
         --features pcsc` (needs libpcsclite-dev and pkg-config; scripts/pcsc-setup installs \
         them)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_become_file_names() {
        assert_eq!(file_safe("/dev/ttyUSB2"), "_dev_ttyUSB2");
    }
}
