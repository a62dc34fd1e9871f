//! The command line (clap): global options for the card, the network and the output, then one
//! command.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// eSIM Local Profile Assistant (GSMA SGP.22 v2.5): manage the profiles of an eUICC behind a
/// modem's AT port, in a PC/SC reader, or in the built-in testbed.
#[derive(Debug, Parser)]
#[command(
    name = "lpa",
    version,
    after_help = "Exit codes: 0 ok, 1 internal error, 2 invalid input or usage, 3 the eUICC \
                  refused, 4 the server refused, 5 eUICC unreachable, 6 server unreachable or \
                  TLS refused, 7 declined or not confirmed, 8 forbidden by policy rules, 9 \
                  protocol violation by a peer, 10 session store failure. JSON schema: \
                  cli/JSON.md.\n\nTry it without hardware: lpa demo"
)]
pub struct Cli {
    /// How to reach the eUICC.
    #[command(flatten)]
    pub card: CardArgs,
    /// How to reach the SM-DP+ and SM-DS.
    #[command(flatten)]
    pub net: NetArgs,
    /// What to print.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The eUICC: exactly one of `--at`, `--pcsc`, `--testbed` for the card commands.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("card").args(["at", "pcsc", "testbed"]).multiple(false)))]
pub struct CardArgs {
    /// The modem's AT command port, e.g. /dev/ttyUSB2.
    #[arg(long, value_name = "TTY", global = true, env = "LPA_AT")]
    pub at: Option<String>,
    /// How the modem reaches the card: AT+CSIM, AT+CCHO/CGLA, or detected (tries both).
    #[arg(long, value_enum, default_value_t = AtMode::Auto, value_name = "MODE", global = true)]
    pub at_mode: AtMode,
    /// Serial line speed for --at.
    #[arg(long, value_name = "N", global = true)]
    pub baud: Option<u32>,
    /// A PC/SC reader: --pcsc alone takes the first reader with a card, --pcsc=NAME the first
    /// whose name contains NAME, --pcsc=N the N-th reader (from 0). Needs the `pcsc` feature.
    #[arg(
        long,
        value_name = "READER",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        global = true
    )]
    pub pcsc: Option<String>,
    /// A software eUICC kept in this folder (created with a fresh test PKI on first use); its
    /// test CI is trusted for HTTPS, so the testbed's SM-DP+ is reachable (with --resolve).
    #[arg(long, value_name = "DIR", global = true, env = "LPA_TESTBED")]
    pub testbed: Option<PathBuf>,
    /// The ISD-R AID to select (hex), instead of probing the GSMA one and the known vendor AIDs.
    #[arg(long, value_name = "HEX", global = true)]
    pub isd_r_aid: Option<String>,
    /// Where the LPA keeps its crash-recovery record and the modem cache (default:
    /// $XDG_STATE_HOME/lpa or ~/.local/state/lpa; the testbed folder with --testbed).
    #[arg(long, value_name = "DIR", global = true, env = "LPA_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `--at-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AtMode {
    /// Try the modem's preferred mode, fall back to the other.
    Auto,
    /// AT+CSIM only.
    Csim,
    /// AT+CCHO/AT+CGLA/AT+CCHC only.
    Cgla,
}

/// The SM-DP+ and SM-DS connections.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// Tunnel HTTPS through this HTTP proxy: http://host:port (or http://user:password@host:port).
    #[arg(long, value_name = "URL", global = true)]
    pub proxy: Option<String>,
    /// Also trust this CA certificate (DER, or PEM with one or more certificates). Repeatable.
    #[arg(long = "ca", value_name = "FILE", global = true)]
    pub ca: Vec<PathBuf>,
    /// Connect to ADDR for HOST:PORT, like curl: HOST:PORT:IP or HOST:PORT:IP:PORT2.
    /// Repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR", global = true)]
    pub resolve: Vec<String>,
    /// Also trust the GSMA SGP.26 test CIs (test eUICCs and test SM-DP+ servers).
    #[arg(long, global = true)]
    pub test_ci: bool,
    /// DEVELOPMENT ONLY: do not verify server certificates at all.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Seconds to wait for each phase of a server's answer (1 to 86400, a day).
    #[arg(long, value_name = "SECS", global = true, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub http_timeout: Option<u64>,
    /// Rounds of notification delivery (2 s, then 4 s apart) before the undelivered ones are
    /// left on the eUICC for later.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10), global = true)]
    pub notification_attempts: u32,
}

/// Output and interaction.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print one JSON document on stdout (schema: cli/JSON.md) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Progress of downloads on stderr: a bar on a terminal (auto), JSON lines, plain lines, or
    /// nothing.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, value_name = "MODE", global = true)]
    pub progress: ProgressMode,
    /// Answer yes to confirmations (profile download, chip reset). Without it, a run with no
    /// terminal refuses instead of waiting.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// More log lines on stderr (-v info, -vv debug, -vvv every APDU).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Show EIDs, ICCIDs and matching IDs in clear in the log lines.
    #[arg(long, global = true)]
    pub log_sensitive: bool,
}

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise (none with --json).
    Auto,
    /// Always the bar.
    Bar,
    /// One JSON object per line.
    Json,
    /// Plain text lines.
    Plain,
    /// Nothing.
    None,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The eUICC itself: identity, capabilities, memory reset.
    #[command(subcommand)]
    Chip(ChipCommand),
    /// Profiles: list, switch, rename, remove, download, discover.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Notifications the eUICC keeps for the servers.
    #[command(subcommand)]
    Notification(NotificationCommand),
    /// eUICC configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the whole chain on this machine, no hardware: test SM-DP+, operator order, software
    /// eUICC behind an emulated modem, download over AT and verified TLS, enable, notifications.
    Demo,
}

/// `lpa chip ...`.
#[derive(Debug, Subcommand)]
pub enum ChipCommand {
    /// EID, EUICCInfo2 (versions, capabilities, free memory), configured addresses, RAT.
    Info,
    /// eUICC memory reset: deletes profiles and resets the default SM-DP+ address (asks first,
    /// unless --yes). Without a selection, all three are reset.
    Reset(ResetArgs),
}

/// What `chip reset` resets.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Delete the operational profiles.
    #[arg(long)]
    pub operational: bool,
    /// Delete the field-loaded test profiles.
    #[arg(long)]
    pub test_profiles: bool,
    /// Reset the default SM-DP+ address.
    #[arg(long)]
    pub default_smdp: bool,
}

/// `lpa profile ...`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// The profiles on the eUICC.
    List,
    /// Enable a profile (the enabled one is disabled).
    Enable(SwitchArgs),
    /// Disable a profile.
    Disable(SwitchArgs),
    /// Delete a (disabled) profile.
    Delete {
        /// The profile's ICCID.
        iccid: String,
    },
    /// Set a profile's nickname (empty to remove it).
    Nickname {
        /// The profile's ICCID.
        iccid: String,
        /// The nickname (at most 64 bytes of UTF-8).
        nickname: String,
    },
    /// Download and install a profile.
    Download(DownloadArgs),
    /// Ask the SM-DS (the eUICC's root SM-DS unless --smds) for profiles waiting for this eUICC.
    Discover(DiscoverArgs),
}

/// `profile enable|disable`.
#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// The profile's ICCID.
    pub iccid: String,
    /// Do not ask the eUICC to REFRESH (refreshFlag false): the device handles the switch.
    #[arg(long)]
    pub no_refresh: bool,
}

/// `profile download`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").args(["activation_code", "qr", "default_smdp"]).required(true)))]
pub struct DownloadArgs {
    /// The activation code, e.g. 'LPA:1$smdp.example.com$MATCHING-ID'.
    pub activation_code: Option<String>,
    /// Read the activation code from the QR code in this PNG or JPEG picture.
    #[arg(long, value_name = "IMAGE")]
    pub qr: Option<PathBuf>,
    /// Download from the eUICC's default SM-DP+ (no activation code).
    #[arg(long)]
    pub default_smdp: bool,
    /// The confirmation code, when the operator gave one.
    #[arg(
        long,
        value_name = "CODE",
        env = "LPA_CONFIRMATION_CODE",
        hide_env_values = true
    )]
    pub confirmation_code: Option<String>,
}

/// `profile discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The SM-DS to ask (default: the eUICC's root SM-DS).
    #[arg(long, value_name = "ADDRESS")]
    pub smds: Option<String>,
    /// Download every profile found (each asks for confirmation unless --yes).
    #[arg(long)]
    pub download: bool,
}

/// `lpa notification ...`.
#[derive(Debug, Subcommand)]
pub enum NotificationCommand {
    /// The notifications waiting on the eUICC.
    List,
    /// Send notifications to their servers; each is removed from the eUICC only after its
    /// server accepted it. All of them unless sequence numbers are given.
    Process {
        /// Sequence numbers to send.
        seq: Vec<u32>,
    },
    /// Remove a notification from the eUICC without sending it.
    Remove {
        /// Its sequence number.
        seq: u32,
    },
}

/// `lpa config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set the eUICC's default SM-DP+ address (empty to clear it).
    DefaultSmdp {
        /// The address, e.g. smdp.example.com.
        address: String,
    },
}

impl Command {
    /// The command's name as JSON reports it, e.g. `profile list`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Chip(ChipCommand::Info) => "chip info",
            Command::Chip(ChipCommand::Reset(_)) => "chip reset",
            Command::Profile(ProfileCommand::List) => "profile list",
            Command::Profile(ProfileCommand::Enable(_)) => "profile enable",
            Command::Profile(ProfileCommand::Disable(_)) => "profile disable",
            Command::Profile(ProfileCommand::Delete { .. }) => "profile delete",
            Command::Profile(ProfileCommand::Nickname { .. }) => "profile nickname",
            Command::Profile(ProfileCommand::Download(_)) => "profile download",
            Command::Profile(ProfileCommand::Discover(_)) => "profile discover",
            Command::Notification(NotificationCommand::List) => "notification list",
            Command::Notification(NotificationCommand::Process { .. }) => "notification process",
            Command::Notification(NotificationCommand::Remove { .. }) => "notification remove",
            Command::Config(ConfigCommand::DefaultSmdp { .. }) => "config default-smdp",
            Command::Demo => "demo",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pcsc_takes_an_optional_reader_with_equals() {
        let cli = Cli::try_parse_from(["lpa", "--pcsc", "profile", "list"]).unwrap();
        assert_eq!(cli.card.pcsc.as_deref(), Some(""));
        let cli = Cli::try_parse_from(["lpa", "--pcsc=uTrust", "profile", "list"]).unwrap();
        assert_eq!(cli.card.pcsc.as_deref(), Some("uTrust"));
    }

    #[test]
    fn one_card_at_a_time() {
        let e = Cli::try_parse_from(["lpa", "--at", "/dev/x", "--testbed", "d", "chip", "info"]);
        assert!(e.is_err());
    }
}
