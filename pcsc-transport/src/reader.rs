//! Readers: listing them with their card state, choosing one, waiting for a card.

use std::ffi::CString;
use std::fmt;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State};

use crate::deadline::call_with_deadline;
use crate::error::PcscError;

/// The longest single wait on reader state changes inside [`wait_for_card`], so that a reader
/// list that changes (a reader plugged in) is read again.
const STATUS_POLL: Duration = Duration::from_millis(500);

/// Extra time the caller of a PC/SC wait allows beyond the wait itself (pcscd round trips).
const CALL_MARGIN: Duration = Duration::from_secs(2);

/// One attached reader and what is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The reader name PC/SC reports, e.g. `Virtual PCD 00 00` or
    /// `Identiv uTrust 3700 F CL Reader [uTrust 3700 F CL Reader] (55041911202323) 00 00`.
    pub name: String,
    /// Whether a card is in the reader.
    pub card_present: bool,
    /// Whether an application holds the card exclusively.
    pub exclusive: bool,
    /// The card's ATR, when a card is present.
    pub atr: Option<Vec<u8>>,
}

/// Which reader to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReaderSelector {
    /// The first reader PC/SC lists.
    First,
    /// The first reader with a card in it.
    FirstWithCard,
    /// The reader at this position in PC/SC's list (0 is the first).
    Index(usize),
    /// The first reader whose name contains this text, ignoring case (e.g. `"Virtual PCD"`,
    /// `"uTrust"`).
    NameContains(String),
}

impl ReaderSelector {
    /// A selector by name substring.
    pub fn name_contains(text: impl Into<String>) -> Self {
        ReaderSelector::NameContains(text.into())
    }

    /// Picks the reader this selector means among `readers` (in PC/SC's order).
    pub fn select<'r>(&self, readers: &'r [ReaderInfo]) -> Result<&'r ReaderInfo, PcscError> {
        if readers.is_empty() {
            return Err(PcscError::NoReaders);
        }
        let found = match self {
            ReaderSelector::First => readers.first(),
            ReaderSelector::FirstWithCard => readers.iter().find(|r| r.card_present),
            ReaderSelector::Index(i) => readers.get(*i),
            ReaderSelector::NameContains(text) => {
                let text = text.to_lowercase();
                readers
                    .iter()
                    .find(|r| r.name.to_lowercase().contains(&text))
            }
        };
        found.ok_or_else(|| PcscError::ReaderNotFound {
            wanted: self.to_string(),
            available: readers.iter().map(|r| r.name.clone()).collect(),
        })
    }
}

impl fmt::Display for ReaderSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReaderSelector::First => write!(f, "the first reader"),
            ReaderSelector::FirstWithCard => write!(f, "the first reader with a card"),
            ReaderSelector::Index(i) => write!(f, "reader index {i}"),
            ReaderSelector::NameContains(text) => write!(f, "a name containing {text:?}"),
        }
    }
}

/// Lists the attached readers with their card state, asking pcscd for at most `timeout`.
pub fn list_readers(timeout: Duration) -> Result<Vec<ReaderInfo>, PcscError> {
    call_with_deadline("listing PC/SC readers", timeout, || {
        let context = establish()?;
        readers_of(&context)
    })
}

/// Waits until the reader `selector` means has a card, for at most `timeout`; returns that
/// reader. Fails with [`PcscError::NoCard`] when the time is up (or with the reason the reader
/// cannot be found).
pub fn wait_for_card(
    selector: &ReaderSelector,
    timeout: Duration,
) -> Result<ReaderInfo, PcscError> {
    let selector = selector.clone();
    let what = format!("waiting for a card in {selector}");
    call_with_deadline(&what, timeout + CALL_MARGIN, move || {
        let deadline = Instant::now() + timeout;
        let context = establish()?;
        loop {
            let look = look_for_card(&context, &selector);
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now).min(STATUS_POLL);
            match look {
                Ok(Look::Found(reader)) => return Ok(reader),
                Ok(Look::Empty(reader)) if wait.is_zero() => {
                    return Err(PcscError::NoCard { reader });
                }
                // Sleep in pcscd until that reader's state changes (or the wait ends).
                Ok(Look::Empty(reader)) => wait_for_change(&context, &reader, wait)?,
                // No such reader yet: look again shortly.
                Err(PcscError::NoReaders | PcscError::ReaderNotFound { .. }) if !wait.is_zero() => {
                    std::thread::sleep(wait.min(Duration::from_millis(100)))
                }
                Err(e) => return Err(e),
            }
        }
    })
}

/// What [`look_for_card`] saw.
enum Look {
    /// The selected reader has a card.
    Found(ReaderInfo),
    /// The selected reader (the first one for [`ReaderSelector::FirstWithCard`]) has none.
    Empty(String),
}

fn look_for_card(context: &Context, selector: &ReaderSelector) -> Result<Look, PcscError> {
    let readers = readers_of(context)?;
    if let Ok(reader) = selector.select(&readers)
        && reader.card_present
    {
        return Ok(Look::Found(reader.clone()));
    }
    let watched = match selector {
        // Any reader will do; watch the first one (the others are read again every poll).
        ReaderSelector::FirstWithCard => ReaderSelector::First.select(&readers)?,
        other => other.select(&readers)?,
    };
    Ok(Look::Empty(watched.name.clone()))
}

/// A PC/SC context (user scope).
pub(crate) fn establish() -> Result<Context, PcscError> {
    Context::establish(Scope::User)
        .map_err(|e| PcscError::from_pcsc("SCardEstablishContext", None, false, e))
}

/// The attached readers and their state, read without waiting.
pub(crate) fn readers_of(context: &Context) -> Result<Vec<ReaderInfo>, PcscError> {
    let names = match context.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(PcscError::from_pcsc("SCardListReaders", None, false, e)),
    };
    let mut states: Vec<ReaderState> = names
        .iter()
        .map(|name| ReaderState::new(name.clone(), State::UNAWARE))
        .collect();
    if !states.is_empty() {
        // UNAWARE differs from any state: pcscd answers at once with the current one.
        match context.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(PcscError::from_pcsc("SCardGetStatusChange", None, false, e)),
        }
    }
    Ok(states
        .iter()
        .map(|state| {
            let event = state.event_state();
            let card_present = event.contains(State::PRESENT);
            ReaderInfo {
                name: state.name().to_string_lossy().into_owned(),
                card_present,
                exclusive: event.contains(State::EXCLUSIVE),
                atr: (card_present && !state.atr().is_empty()).then(|| state.atr().to_vec()),
            }
        })
        .collect())
}

/// Waits in pcscd, for at most `wait`, until the state of `reader` changes.
fn wait_for_change(context: &Context, reader: &str, wait: Duration) -> Result<(), PcscError> {
    let name = CString::new(reader).map_err(|_| PcscError::ReaderUnavailable {
        reader: reader.to_owned(),
    })?;
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    // First learn the current state, then wait for it to change.
    match context.get_status_change(Duration::ZERO, &mut states) {
        Ok(()) | Err(pcsc::Error::Timeout) => {}
        Err(e) => {
            return Err(PcscError::from_pcsc(
                "SCardGetStatusChange",
                Some(reader),
                false,
                e,
            ));
        }
    }
    for state in &mut states {
        state.sync_current_state();
    }
    match context.get_status_change(wait, &mut states) {
        Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
        Err(e) => Err(PcscError::from_pcsc(
            "SCardGetStatusChange",
            Some(reader),
            false,
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(name: &str, card_present: bool) -> ReaderInfo {
        ReaderInfo {
            name: name.to_owned(),
            card_present,
            exclusive: false,
            atr: None,
        }
    }

    #[test]
    fn selectors_pick_by_position_name_and_card() {
        let readers = [
            reader("Identiv uTrust 3700 F CL Reader 00 00", false),
            reader("Virtual PCD 00 00", true),
            reader("Virtual PCD 00 01", false),
        ];
        let pick = |s: ReaderSelector| s.select(&readers).map(|r| r.name.clone());
        assert_eq!(pick(ReaderSelector::First).unwrap(), readers[0].name);
        assert_eq!(
            pick(ReaderSelector::FirstWithCard).unwrap(),
            readers[1].name
        );
        assert_eq!(pick(ReaderSelector::Index(2)).unwrap(), readers[2].name);
        assert_eq!(
            pick(ReaderSelector::name_contains("virtual pcd")).unwrap(),
            readers[1].name
        );
        assert_eq!(
            pick(ReaderSelector::name_contains("PCD 00 01")).unwrap(),
            readers[2].name
        );
        let missing = pick(ReaderSelector::Index(3)).unwrap_err();
        assert_eq!(
            missing,
            PcscError::ReaderNotFound {
                wanted: "reader index 3".to_owned(),
                available: readers.iter().map(|r| r.name.clone()).collect(),
            }
        );
        assert!(missing.to_string().contains("Virtual PCD 00 01"));
        assert!(matches!(
            pick(ReaderSelector::name_contains("Gemalto")),
            Err(PcscError::ReaderNotFound { .. })
        ));
        assert_eq!(ReaderSelector::First.select(&[]), Err(PcscError::NoReaders));
        assert!(matches!(
            ReaderSelector::FirstWithCard.select(&readers[2..]),
            Err(PcscError::ReaderNotFound { .. })
        ));
    }
}
