//! What can go wrong, in classes that scripts can tell apart by the exit code, with the
//! protocol codes (status word, ES10 result code, ES9+ subject/reason code) kept for the JSON
//! error document and the plain-words message.
//!
//! The classes are the library's [`lpa::ErrorKind`], each with its documented exit code
//! (README, `cli/JSON.md`): one classification, made by the library.

use core::fmt;

use lpa::ErrorKind;
use serde::Serialize;

/// The protocol codes behind a failure, whichever apply (JSON `error.codes`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolCodes {
    /// The card's status word, e.g. `"6A88"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sw: Option<String>,
    /// The ES10 function refused, e.g. `"EnableProfile"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub es10_command: Option<String>,
    /// The ES10 result or error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_code: Option<i64>,
    /// Its SGP.22 name, e.g. `"profileNotInDisabledState"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_name: Option<String>,
    /// The ES9+/ES11 function refused, e.g. `"ES9+.authenticateClient"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// ES9+/ES11 `subjectCode`, e.g. `"8.2.6"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_code: Option<String>,
    /// ES9+/ES11 `reasonCode`, e.g. `"3.8"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The Bound Profile Package step the eUICC refused (`bppCommandId`), with the
    /// errorReason in `result_name`/`result_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bpp_command_id: Option<String>,
    /// An HTTP status that was not an SGP.22 answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

impl ProtocolCodes {
    fn is_empty(&self) -> bool {
        *self == ProtocolCodes::default()
    }
}

/// A failure of one command: its class, a message in plain words, and the codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    /// The class (and so the exit code).
    pub kind: ErrorKind,
    /// What happened, in plain words (the codes are in the text too).
    pub message: String,
    /// The protocol codes (boxed: most errors have none, and results stay small).
    pub codes: Box<ProtocolCodes>,
    /// How a download session was ended after the failure, when there was one.
    pub session_end: Option<String>,
    /// What the command did achieve despite the failure (JSON `data` next to `error`).
    pub partial: Option<serde_json::Value>,
}

impl CliError {
    /// A failure without protocol codes.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            codes: Box::default(),
            session_end: None,
            partial: None,
        }
    }

    /// A command-line mistake.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::InvalidInput, message)
    }

    /// An unexpected local failure.
    pub fn internal(message: impl Into<String>) -> Self {
        CliError::new(ErrorKind::Internal, message)
    }

    /// With these codes.
    pub fn with_codes(mut self, codes: ProtocolCodes) -> Self {
        *self.codes = codes;
        self
    }

    /// The JSON form (`error` of the envelope).
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({
            "kind": self.kind.name(),
            "exit_code": self.kind.exit_code(),
            "message": self.message,
        });
        if !self.codes.is_empty() {
            error["codes"] = serde_json::to_value(&self.codes).unwrap_or_default();
        }
        if let Some(end) = &self.session_end {
            error["session_end"] = end.clone().into();
        }
        error
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(end) = &self.session_end {
            write!(f, " (then: {end})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's kinds are the CLI's classes: the exit codes stay the documented ones.
    #[test]
    fn exit_codes_are_distinct_and_stable() {
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[test]
    fn the_documented_exit_codes_are_the_real_ones() {
        let doc = include_str!("../JSON.md");
        for kind in ErrorKind::ALL {
            let row = format!("| {} | `{}` |", kind.exit_code(), kind.name());
            assert!(doc.contains(&row), "cli/JSON.md lacks {row}");
        }
    }

    #[test]
    fn json_error_carries_the_codes() {
        let e = CliError::new(ErrorKind::CardRefused, "refused").with_codes(ProtocolCodes {
            sw: Some("6A88".into()),
            ..ProtocolCodes::default()
        });
        let json = e.to_json();
        assert_eq!(json["kind"], "card_refused");
        assert_eq!(json["exit_code"], 3);
        assert_eq!(json["codes"]["sw"], "6A88");
        assert!(json["codes"].get("subject_code").is_none());
    }
}
