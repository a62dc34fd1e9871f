//! Printing: one JSON document per command on stdout with `--json` (schema in `cli/JSON.md`),
//! readable text otherwise; errors in plain words with their codes.

use std::io::Write;

use serde_json::{Value, json};

use crate::error::CliError;

/// The schema identifier every JSON document carries.
pub const SCHEMA: &str = "lpa-cli/1";

/// Where a command's result goes.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// The command's name (`profile list`).
    pub command: &'static str,
}

impl Output {
    /// Prints a success: the JSON envelope with `data`, or the text `human` builds.
    pub fn success(&self, data: Value, human: impl FnOnce() -> String) {
        if self.json {
            print_json(&json!({
                "schema": SCHEMA,
                "command": self.command,
                "ok": true,
                "data": data,
            }));
        } else {
            let text = human();
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            if !text.is_empty() && !text.ends_with('\n') {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        }
    }

    /// Prints a failure: the JSON envelope on stdout (with `--json`), and always the plain
    /// message on stderr.
    pub fn failure(&self, error: &CliError) {
        if self.json {
            let mut doc = json!({
                "schema": SCHEMA,
                "command": self.command,
                "ok": false,
                "error": error.to_json(),
            });
            if let (Some(partial), Some(map)) = (&error.partial, doc.as_object_mut()) {
                map.insert("data".into(), partial.clone());
            }
            print_json(&doc);
        }
        let mut lines = vec![format!("lpa: error: {error}")];
        let c = &error.codes;
        let mut codes = Vec::new();
        if let Some(sw) = &c.sw {
            codes.push(format!("SW {sw}"));
        }
        if let Some(step) = &c.bpp_command_id {
            codes.push(format!("bppCommandId {step}"));
        }
        if let (Some(code), Some(cmd)) = (c.result_code, &c.es10_command) {
            match &c.result_name {
                Some(name) => codes.push(format!("{cmd} result {code} ({name})")),
                None => codes.push(format!("{cmd} result {code}")),
            }
        }
        if let (Some(s), Some(r)) = (&c.subject_code, &c.reason_code) {
            codes.push(format!("subject code {s}, reason code {r}"));
        }
        if let Some(status) = c.http_status {
            codes.push(format!("HTTP {status}"));
        }
        if !codes.is_empty() {
            lines.push(format!("lpa: codes: {}", codes.join("; ")));
        }
        lines.push(format!(
            "lpa: exit {} ({})",
            error.kind.exit_code(),
            error.kind.name()
        ));
        for line in lines {
            crate::logger::print_above_bar(&line);
        }
    }
}

fn print_json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
