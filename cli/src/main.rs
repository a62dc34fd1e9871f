//! `lpa`: the eSIM Local Profile Assistant (GSMA SGP.22 v2.5) on the command line.
//!
//! ```text
//!   lpa [--at TTY | --pcsc[=READER] | --testbed DIR] [--json] COMMAND
//!        |                                   |
//!        v                                   v
//!   card.rs: AtTransport / PcscTransport /   net.rs: HttpsClient (GSMA CIs, --ca, --resolve,
//!            SoftEuicc in a folder                   --proxy, --test-ci, --insecure)
//!        \___________________  ______________/
//!                            v
//!                  lpa::Lpa (download, discovery, profiles, notifications)
//!                            |
//!   commands.rs -> render.rs (tables, JSON schema lpa-cli/1) -> output.rs (stdout, exit code)
//!   demo.rs: test SM-DP+ + ES2+ order + SoftEuicc behind the emulated modem, end to end
//! ```
//!
//! Exit codes and the JSON schema: `cli/JSON.md`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod args;
mod card;
mod commands;
mod demo;
mod error;
mod logger;
mod lpa_errors;
mod net;
mod output;
mod prompt;
mod qr;
mod render;
mod testbed;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    logger::init(cli.output.verbose);
    let out = Output {
        json: cli.output.json,
        command: cli.command.name(),
    };
    let result = match &cli.command {
        Command::Demo => demo::run(&cli, out),
        _ => commands::run(&cli, out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.failure(&e);
            ExitCode::from(e.kind.exit_code())
        }
    }
}

/// A command line clap refused (or `--help`/`--version`, which succeed).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as Clap;
    if matches!(e.kind(), Clap::DisplayHelp | Clap::DisplayVersion)
        || matches!(e.kind(), Clap::DisplayHelpOnMissingArgumentOrSubcommand)
            && std::env::args().len() <= 1
    {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|a| a == "--json") {
        let error = CliError::usage(e.kind().to_string());
        Output {
            json: true,
            command: "",
        }
        .failure(&error);
    }
    let _ = e.print();
    ExitCode::from(lpa::ErrorKind::InvalidInput.exit_code())
}
