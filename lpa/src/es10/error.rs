//! The ES10 client's error type and the names of the ES10 functions.

use core::fmt;

use lpa_core::apdu::{ApduError, StatusWord};
use lpa_core::bpp::BppError;
use lpa_core::der::DecodeError;

use crate::transport::TransportError;

/// An ES10a/b/c function (SGP.22 §5.7), named as SGP.22 names it, with its request tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Es10Command {
    /// ES10a.GetEuiccConfiguredAddresses (`BF3C`, §5.7.3).
    GetEuiccConfiguredAddresses,
    /// ES10a.SetDefaultDpAddress (`BF3F`, §5.7.4).
    SetDefaultDpAddress,
    /// ES10b.PrepareDownload (`BF21`, §5.7.5).
    PrepareDownload,
    /// ES10b.LoadBoundProfilePackage (`BF36`, §5.7.6).
    LoadBoundProfilePackage,
    /// ES10b.GetEUICCChallenge (`BF2E`, §5.7.7).
    GetEuiccChallenge,
    /// ES10b.GetEUICCInfo, EUICCInfo1 (`BF20`, §5.7.8).
    GetEuiccInfo1,
    /// ES10b.GetEUICCInfo, EUICCInfo2 (`BF22`, §5.7.8).
    GetEuiccInfo2,
    /// ES10b.ListNotification (`BF28`, §5.7.9).
    ListNotification,
    /// ES10b.RetrieveNotificationsList (`BF2B`, §5.7.10).
    RetrieveNotificationsList,
    /// ES10b.RemoveNotificationFromList (`BF30`, NotificationSent, §5.7.11).
    RemoveNotificationFromList,
    /// ES10b.LoadCRL (`BF35`, §5.7.12).
    LoadCrl,
    /// ES10b.AuthenticateServer (`BF38`, §5.7.13).
    AuthenticateServer,
    /// ES10b.CancelSession (`BF41`, §5.7.14).
    CancelSession,
    /// ES10c.GetProfilesInfo (`BF2D`, §5.7.15).
    GetProfilesInfo,
    /// ES10c.EnableProfile (`BF31`, §5.7.16).
    EnableProfile,
    /// ES10c.DisableProfile (`BF32`, §5.7.17).
    DisableProfile,
    /// ES10c.DeleteProfile (`BF33`, §5.7.18).
    DeleteProfile,
    /// ES10c.eUICCMemoryReset (`BF34`, §5.7.19).
    EuiccMemoryReset,
    /// ES10c.GetEID (`BF3E`, GetEuiccData, §5.7.20).
    GetEid,
    /// ES10c.SetNickname (`BF29`, §5.7.21).
    SetNickname,
    /// ES10b.GetRAT (`BF43`, §5.7.22).
    GetRat,
    /// A request with another tag, sent through [`super::Es10Client::call`].
    Other(u32),
}

impl Es10Command {
    /// The request's tag.
    pub const fn tag(self) -> u32 {
        match self {
            Es10Command::GetEuiccConfiguredAddresses => 0xBF3C,
            Es10Command::SetDefaultDpAddress => 0xBF3F,
            Es10Command::PrepareDownload => 0xBF21,
            Es10Command::LoadBoundProfilePackage => 0xBF36,
            Es10Command::GetEuiccChallenge => 0xBF2E,
            Es10Command::GetEuiccInfo1 => 0xBF20,
            Es10Command::GetEuiccInfo2 => 0xBF22,
            Es10Command::ListNotification => 0xBF28,
            Es10Command::RetrieveNotificationsList => 0xBF2B,
            Es10Command::RemoveNotificationFromList => 0xBF30,
            Es10Command::LoadCrl => 0xBF35,
            Es10Command::AuthenticateServer => 0xBF38,
            Es10Command::CancelSession => 0xBF41,
            Es10Command::GetProfilesInfo => 0xBF2D,
            Es10Command::EnableProfile => 0xBF31,
            Es10Command::DisableProfile => 0xBF32,
            Es10Command::DeleteProfile => 0xBF33,
            Es10Command::EuiccMemoryReset => 0xBF34,
            Es10Command::GetEid => 0xBF3E,
            Es10Command::SetNickname => 0xBF29,
            Es10Command::GetRat => 0xBF43,
            Es10Command::Other(tag) => tag,
        }
    }

    /// The command a request tag starts (`Other` for tags SGP.22 v2.5 does not define). The
    /// continuation sequences of a Bound Profile Package (`A0` to `A3`, `86`, `88`) count as
    /// LoadBoundProfilePackage.
    pub const fn from_tag(tag: u32) -> Self {
        match tag {
            0xBF3C => Es10Command::GetEuiccConfiguredAddresses,
            0xBF3F => Es10Command::SetDefaultDpAddress,
            0xBF21 => Es10Command::PrepareDownload,
            0xBF36 | 0xA0..=0xA3 | 0x86 | 0x88 => Es10Command::LoadBoundProfilePackage,
            0xBF2E => Es10Command::GetEuiccChallenge,
            0xBF20 => Es10Command::GetEuiccInfo1,
            0xBF22 => Es10Command::GetEuiccInfo2,
            0xBF28 => Es10Command::ListNotification,
            0xBF2B => Es10Command::RetrieveNotificationsList,
            0xBF30 => Es10Command::RemoveNotificationFromList,
            0xBF35 => Es10Command::LoadCrl,
            0xBF38 => Es10Command::AuthenticateServer,
            0xBF41 => Es10Command::CancelSession,
            0xBF2D => Es10Command::GetProfilesInfo,
            0xBF31 => Es10Command::EnableProfile,
            0xBF32 => Es10Command::DisableProfile,
            0xBF33 => Es10Command::DeleteProfile,
            0xBF34 => Es10Command::EuiccMemoryReset,
            0xBF3E => Es10Command::GetEid,
            0xBF29 => Es10Command::SetNickname,
            0xBF43 => Es10Command::GetRat,
            other => Es10Command::Other(other),
        }
    }

    /// The command a request starts with, read from its first tag.
    pub fn from_request(request: &[u8]) -> Self {
        let mut tag = 0u32;
        for (i, b) in request.iter().enumerate().take(4) {
            tag = (tag << 8) | u32::from(*b);
            let tag_continues = if i == 0 {
                b & 0x1F == 0x1F
            } else {
                b & 0x80 != 0
            };
            if !tag_continues {
                break;
            }
        }
        Es10Command::from_tag(tag)
    }

    /// The SGP.22 name.
    pub const fn name(self) -> &'static str {
        match self {
            Es10Command::GetEuiccConfiguredAddresses => "GetEuiccConfiguredAddresses",
            Es10Command::SetDefaultDpAddress => "SetDefaultDpAddress",
            Es10Command::PrepareDownload => "PrepareDownload",
            Es10Command::LoadBoundProfilePackage => "LoadBoundProfilePackage",
            Es10Command::GetEuiccChallenge => "GetEUICCChallenge",
            Es10Command::GetEuiccInfo1 => "GetEUICCInfo1",
            Es10Command::GetEuiccInfo2 => "GetEUICCInfo2",
            Es10Command::ListNotification => "ListNotification",
            Es10Command::RetrieveNotificationsList => "RetrieveNotificationsList",
            Es10Command::RemoveNotificationFromList => "RemoveNotificationFromList",
            Es10Command::LoadCrl => "LoadCRL",
            Es10Command::AuthenticateServer => "AuthenticateServer",
            Es10Command::CancelSession => "CancelSession",
            Es10Command::GetProfilesInfo => "GetProfilesInfo",
            Es10Command::EnableProfile => "EnableProfile",
            Es10Command::DisableProfile => "DisableProfile",
            Es10Command::DeleteProfile => "DeleteProfile",
            Es10Command::EuiccMemoryReset => "eUICCMemoryReset",
            Es10Command::GetEid => "GetEID",
            Es10Command::SetNickname => "SetNickname",
            Es10Command::GetRat => "GetRAT",
            Es10Command::Other(_) => "ES10 request",
        }
    }
}

impl fmt::Display for Es10Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Es10Command::Other(tag) => write!(f, "ES10 request {tag:X}"),
            other => f.write_str(other.name()),
        }
    }
}

/// A profile policy rule (SGP.22 §2.9.1) that stops an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyRule {
    /// PPR1: disabling this profile is not allowed (so is enabling another one, which would
    /// disable it).
    Ppr1,
    /// PPR2: deleting this profile is not allowed.
    Ppr2,
}

impl fmt::Display for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyRule::Ppr1 => f.write_str("PPR1 (disabling not allowed)"),
            PolicyRule::Ppr2 => f.write_str("PPR2 (deletion not allowed)"),
        }
    }
}

/// Why an ES10 call failed, grouped by who is at fault: the link (`Transport`), the card at the
/// APDU level (`Apdu`) or at the ES10 level (`CardRefused`, `Decode`), the profile's policy
/// (`PolicyForbids`), the setup (`NoIsdR`), or the caller (`NotOpen`, `InvalidInput`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Es10Error {
    // --- link ----------------------------------------------------------------------------
    /// The transport could not deliver an APDU or its answer (the command's outcome on the card
    /// is unknown).
    Transport(TransportError),

    // --- card ----------------------------------------------------------------------------
    /// The card refused an APDU with a status word, or answered against the APDU rules.
    Apdu {
        /// The ES10 function being carried.
        command: Es10Command,
        /// What went wrong, with the status word when there is one
        /// ([`ApduError::status_word`]).
        error: ApduError,
    },
    /// The card's answer is not the response SGP.22 defines for the command.
    Decode {
        /// The ES10 function.
        command: Es10Command,
        /// Where and why decoding failed.
        error: DecodeError,
    },
    /// The card executed the command and answered with an error result code.
    CardRefused {
        /// The ES10 function.
        command: Es10Command,
        /// The result code (e.g. EnableProfile `2`).
        code: i64,
        /// Its SGP.22 name (e.g. `profileNotInDisabledState`).
        meaning: &'static str,
    },
    /// The card answered a command that must produce a response with nothing (e.g. a Bound
    /// Profile Package whose last sequence brought no ProfileInstallationResult).
    MissingResponse {
        /// The ES10 function.
        command: Es10Command,
    },

    // --- policy --------------------------------------------------------------------------
    /// The profile's policy rules forbid the operation; nothing was sent to the card, which
    /// would have answered disallowedByPolicy (SGP.22 §2.9).
    PolicyForbids {
        /// The operation that was not sent.
        command: Es10Command,
        /// The rule that forbids it.
        rule: PolicyRule,
    },

    // --- setup ---------------------------------------------------------------------------
    /// No ISD-R could be selected under any configured AID.
    NoIsdR {
        /// Each AID tried, with why it failed.
        tried: Vec<(Vec<u8>, TransportError)>,
    },

    // --- caller --------------------------------------------------------------------------
    /// No session is open: call [`super::Es10Client::open`] first.
    NotOpen,
    /// An argument is outside what SGP.22 or the APDU layer allows.
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// The Bound Profile Package handed to `load_bpp` is malformed.
    InvalidBpp(BppError),
}

impl Es10Error {
    /// The card's status word, when the card refused an APDU with one.
    pub fn status_word(&self) -> Option<StatusWord> {
        match self {
            Es10Error::Apdu { error, .. } => error.status_word(),
            Es10Error::Transport(TransportError::Apdu(error)) => error.status_word(),
            _ => None,
        }
    }

    /// The ES10 result code, when the card refused the command with one.
    pub fn result_code(&self) -> Option<i64> {
        match self {
            Es10Error::CardRefused { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Es10Error::InvalidInput {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Es10Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Es10Error::Transport(e) => write!(f, "eUICC transport: {e}"),
            Es10Error::Apdu { command, error } => write!(f, "{command}: {error}"),
            Es10Error::Decode { command, error } => {
                write!(f, "{command}: unexpected answer from the eUICC: {error}")
            }
            Es10Error::CardRefused {
                command,
                code,
                meaning,
            } => write!(f, "{command} refused by the eUICC: {meaning} ({code})"),
            Es10Error::MissingResponse { command } => {
                write!(f, "{command}: the eUICC sent no response")
            }
            Es10Error::PolicyForbids { command, rule } => write!(
                f,
                "{command} not sent: the profile's {rule} forbids it (SGP.22 §2.9)"
            ),
            Es10Error::NoIsdR { tried } => {
                write!(f, "no ISD-R found; tried")?;
                if tried.is_empty() {
                    return write!(f, " no AID");
                }
                for (i, (aid, e)) in tried.iter().enumerate() {
                    let sep = if i == 0 { " " } else { "; " };
                    write!(f, "{sep}{}: {e}", super::redact::hex(aid))?;
                }
                Ok(())
            }
            Es10Error::NotOpen => write!(f, "no ES10 session is open"),
            Es10Error::InvalidInput { reason } => write!(f, "invalid ES10 input: {reason}"),
            Es10Error::InvalidBpp(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Es10Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Es10Error::Transport(e) => Some(e),
            Es10Error::Apdu { error, .. } => Some(error),
            Es10Error::Decode { error, .. } => Some(error),
            Es10Error::InvalidBpp(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TransportError> for Es10Error {
    fn from(e: TransportError) -> Self {
        Es10Error::Transport(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_their_tags() {
        for command in [
            Es10Command::GetEuiccConfiguredAddresses,
            Es10Command::SetDefaultDpAddress,
            Es10Command::PrepareDownload,
            Es10Command::LoadBoundProfilePackage,
            Es10Command::GetEuiccChallenge,
            Es10Command::GetEuiccInfo1,
            Es10Command::GetEuiccInfo2,
            Es10Command::ListNotification,
            Es10Command::RetrieveNotificationsList,
            Es10Command::RemoveNotificationFromList,
            Es10Command::LoadCrl,
            Es10Command::AuthenticateServer,
            Es10Command::CancelSession,
            Es10Command::GetProfilesInfo,
            Es10Command::EnableProfile,
            Es10Command::DisableProfile,
            Es10Command::DeleteProfile,
            Es10Command::EuiccMemoryReset,
            Es10Command::GetEid,
            Es10Command::SetNickname,
            Es10Command::GetRat,
        ] {
            assert_eq!(Es10Command::from_tag(command.tag()), command);
        }
        assert_eq!(
            Es10Command::from_request(&[0xBF, 0x2D, 0x00]),
            Es10Command::GetProfilesInfo
        );
        assert_eq!(
            Es10Command::from_request(&[0x86, 0x01, 0x00]),
            Es10Command::LoadBoundProfilePackage
        );
        assert_eq!(Es10Command::from_request(&[]), Es10Command::Other(0));
        assert_eq!(Es10Command::Other(0xBF99).to_string(), "ES10 request BF99");
    }
}
