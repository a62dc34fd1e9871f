//! `lpa-testbed`: the testbed's command line.
//!
//! ```text
//! lpa-testbed pki --out DIR [--curve nist|brainpool] [--eid EID] [--smdp-host HOST] [--days N]
//! lpa-testbed modem --pki DIR [--state FILE] [--echo] [--ccho bare|handle] [--silent-probes] ...
//! lpa-testbed smdp --pki DIR [--port N] [--profiles DIR] [--demo-profiles N] [--smds-host HOST]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand, ValueEnum};
use lpa_testbed::card::SharedCard;
use lpa_testbed::euicc::{EuiccConfig, EuiccIdentity, SoftEuicc};
use lpa_testbed::modem::{
    CchoAnswer, CmeError, Modem, ModemConfig, OversizeAnswer, SimAccess, TestCommandAnswer,
};
use lpa_testbed::pki::{Curve, KeyFormat, TestPki, TestPkiOptions};
use lpa_testbed::smdp::{
    ServedProfile, ServerOptions, Smdp, SmdpConfig, SmdpServer, load_inventory_dir,
};

#[derive(Parser)]
#[command(
    name = "lpa-testbed",
    version,
    about = "SGP.22 testbed: test PKI, software eUICC, test SM-DP+, emulated modem"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a complete SGP.22 test PKI (CI, EUM, eUICC, DPauth, DPpb, DPtls) into a folder,
    /// in the SGP.26 file layout.
    Pki(PkiArgs),
    /// Start a software eUICC behind an emulated AT modem on a real pseudo-terminal, print the
    /// terminal's path and serve until interrupted.
    Modem(ModemArgs),
    /// Start the test SM-DP+ (and optionally an SM-DS) over HTTPS on 127.0.0.1, serving ES9+,
    /// ES11 and ES2+, until interrupted.
    Smdp(SmdpArgs),
}

#[derive(clap::Args)]
struct SmdpArgs {
    /// Folder of a test PKI (from `lpa-testbed pki`): its CI, DPauth, DPpb.
    #[arg(long)]
    pki: PathBuf,
    /// Curve of that PKI.
    #[arg(long, value_enum, default_value = "nist")]
    curve: CurveArg,
    /// TCP port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The SM-DP+ host name (must match the TLS certificate's SAN and what LPAs send).
    #[arg(long, default_value = lpa_testbed::pki::DEFAULT_SMDP_HOST)]
    host: String,
    /// Also serve an SM-DS (ES11) under this host name.
    #[arg(long)]
    smds_host: Option<String>,
    /// Folder of unprotected profile packages (`*.der`, with optional `NAME.json` metadata).
    #[arg(long)]
    profiles: Option<PathBuf>,
    /// Number of generated demo profiles to add to the inventory.
    #[arg(long, default_value_t = 3)]
    demo_profiles: u32,
    /// Send profile protection keys (ReplaceSessionKeys) in every BPP.
    #[arg(long)]
    protection_keys: bool,
}

fn run_smdp(args: SmdpArgs) -> Result<(), String> {
    let pki = TestPki::load_from_dir(&args.pki, curve_of(args.curve))
        .map_err(|e| format!("loading the PKI from {}: {e}", args.pki.display()))?;
    let mut config = SmdpConfig::from_pki(&pki);
    config.host = args.host;
    config.smds_host = args.smds_host;
    config.profile_protection_keys = args.protection_keys;
    let smdp = Smdp::new(config).map_err(|e| e.to_string())?;
    let mut served = Vec::new();
    if let Some(dir) = &args.profiles {
        served = load_inventory_dir(dir)
            .map_err(|e| format!("loading profiles from {}: {e}", dir.display()))?;
    }
    served.extend((1..=args.demo_profiles).map(ServedProfile::demo));
    for profile in served {
        let iccid = profile.iccid;
        smdp.add_profile(profile)
            .map_err(|e| format!("adding profile {iccid}: {e}"))?;
        println!("profile {iccid} available");
    }
    let mut options = ServerOptions::default();
    options.port = args.port;
    let server = SmdpServer::start(Arc::new(smdp), options).map_err(|e| e.to_string())?;
    let smdp = server.smdp();
    println!(
        "SM-DP+ {} listening on https://{} (reach it by that name, e.g. curl --resolve {}:{}:127.0.0.1)",
        smdp.host(),
        server.addr(),
        smdp.host(),
        server.addr().port()
    );
    if let Some(ds) = smdp.smds_host() {
        println!("SM-DS {ds} on the same address");
    }
    println!("serving until interrupted (Ctrl-C)");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum CchoArg {
    /// `+CCHO: <n>`.
    Prefixed,
    /// `<n>` alone (Fibocom).
    Bare,
    /// A session handle unrelated to the channel number (Sierra Wireless).
    Handle,
}

#[derive(Clone, Copy, ValueEnum)]
enum AccessArg {
    /// AT+CSIM and AT+CCHO/CGLA.
    Both,
    /// AT+CSIM only.
    Csim,
    /// AT+CCHO/CGLA/CCHC only.
    Cgla,
}

#[derive(clap::Args)]
struct ModemArgs {
    /// Folder of a test PKI (from `lpa-testbed pki`, or the SGP.26 layout).
    #[arg(long)]
    pki: PathBuf,
    /// Curve of that PKI.
    #[arg(long, value_enum, default_value = "nist")]
    curve: CurveArg,
    /// State file of the card: profiles and notifications survive restarts.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Manufacturer (AT+CGMI) and model (AT+CGMM) to report.
    #[arg(long, default_value = "LPA Testbed")]
    manufacturer: String,
    /// Model (AT+CGMM).
    #[arg(long, default_value = "Emulated Modem")]
    model: String,
    /// Echo commands (ATE1) from the start.
    #[arg(long)]
    echo: bool,
    /// How AT+CCHO answers.
    #[arg(long, value_enum, default_value = "prefixed")]
    ccho: CchoArg,
    /// Which SIM access commands the modem supports.
    #[arg(long, value_enum, default_value = "both")]
    access: AccessArg,
    /// Do not answer `=?` probes at all (Fibocom/Quectel behaviour).
    #[arg(long)]
    silent_probes: bool,
    /// Unsolicited result codes to inject between commands and answers.
    #[arg(long = "urc")]
    urcs: Vec<String>,
    /// Line speed to emulate, in baud (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    baud: u32,
    /// Extra latency per command, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Largest APDU data field the modem passes on; bigger commands get `+CME ERROR: 4`.
    #[arg(long)]
    max_apdu_data: Option<usize>,
    /// Probability (0..1) that a command is answered `ERROR` instead of being executed.
    #[arg(long, default_value_t = 0.0)]
    random_errors: f64,
    /// Seed of the random errors, so a failing run can be replayed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Swallow every command without an answer (to test an LPA's deadlines).
    #[arg(long)]
    never_answer: bool,
}

fn curve_of(arg: CurveArg) -> Curve {
    match arg {
        CurveArg::Nist => Curve::NistP256,
        CurveArg::Brainpool => Curve::BrainpoolP256r1,
    }
}

fn run_modem(args: ModemArgs) -> Result<(), String> {
    let pki = TestPki::load_from_dir(&args.pki, curve_of(args.curve))
        .map_err(|e| format!("loading the PKI from {}: {e}", args.pki.display()))?;
    let identity = EuiccIdentity::from_test_pki(&pki).map_err(|e| e.to_string())?;
    let mut config = EuiccConfig::new(SystemTime::now());
    config.state_path = args.state;
    let euicc = SoftEuicc::new(identity, config).map_err(|e| e.to_string())?;
    let eid = euicc.eid().to_string();
    let card: SharedCard = Arc::new(Mutex::new(euicc));
    let mut modem_config = ModemConfig::new()
        .with_manufacturer(args.manufacturer)
        .with_model(args.model)
        .with_echo(args.echo)
        .with_ccho_answer(match args.ccho {
            CchoArg::Prefixed => CchoAnswer::Prefixed,
            CchoArg::Bare => CchoAnswer::Bare,
            CchoArg::Handle => CchoAnswer::SessionHandle,
        })
        .with_sim_access(match args.access {
            AccessArg::Both => SimAccess::CsimAndLogicalChannels,
            AccessArg::Csim => SimAccess::CsimOnly,
            AccessArg::Cgla => SimAccess::LogicalChannelsOnly,
        })
        .with_test_commands(if args.silent_probes {
            TestCommandAnswer::Silent
        } else {
            TestCommandAnswer::Answer
        })
        .with_unsolicited_codes(args.urcs)
        .with_baud_rate(args.baud)
        .with_command_latency(Duration::from_millis(args.latency_ms))
        .with_never_answers(args.never_answer);
    if !(0.0..=1.0).contains(&args.random_errors) {
        return Err(format!(
            "--random-errors {} is not a probability",
            args.random_errors
        ));
    }
    if args.random_errors > 0.0 {
        modem_config = modem_config.with_random_errors(args.seed, args.random_errors);
    }
    if let Some(max) = args.max_apdu_data {
        modem_config = modem_config.with_max_apdu_data(
            max,
            OversizeAnswer::CmeError(CmeError::OperationNotSupported),
        );
    }
    let modem = Modem::start(card, modem_config).map_err(|e| format!("starting the modem: {e}"))?;
    println!(
        "eUICC {eid} behind an emulated modem at {}",
        modem.path().display()
    );
    println!("serving until interrupted (Ctrl-C)");
    while modem.is_running() {
        std::thread::sleep(Duration::from_millis(200));
    }
    Err("the modem stopped".into())
}

#[derive(Clone, Copy, ValueEnum)]
enum CurveArg {
    /// NIST P-256.
    Nist,
    /// brainpoolP256r1 (no TLS certificate: TLS stacks here have no brainpool).
    Brainpool,
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyFormatArg {
    Sec1,
    Pkcs8,
}

#[derive(clap::Args)]
struct PkiArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Curve of the whole hierarchy.
    #[arg(long, value_enum, default_value = "nist")]
    curve: CurveArg,
    /// EID of the eUICC certificate (32 digits).
    #[arg(long, default_value = lpa_testbed::pki::DEFAULT_EID)]
    eid: String,
    /// SM-DP+ host name (TLS certificate SAN).
    #[arg(long, default_value = lpa_testbed::pki::DEFAULT_SMDP_HOST)]
    smdp_host: String,
    /// SM-DP+ OID put in the SM-DP+ certificates.
    #[arg(long, default_value = lpa_testbed::pki::DEFAULT_SMDP_OID)]
    smdp_oid: String,
    /// Validity in days from now (certificates start one day in the past).
    #[arg(long, default_value_t = 3650)]
    days: u64,
    /// Private key file format.
    #[arg(long, value_enum, default_value = "sec1")]
    key_format: KeyFormatArg,
}

fn run_pki(args: PkiArgs) -> Result<(), String> {
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let curve = curve_of(args.curve);
    let not_after = u32::try_from(args.days)
        .ok()
        .and_then(|d| day.checked_mul(d))
        .and_then(|d| now.checked_add(d))
        .ok_or_else(|| format!("--days {} is too large", args.days))?;
    let not_before = now.checked_sub(day).unwrap_or(now);
    let mut options = TestPkiOptions::new(curve, not_before, not_after);
    options.eid = args.eid;
    options.smdp_host = args.smdp_host;
    options.smdp_oid = args.smdp_oid;
    let pki = TestPki::generate(&options).map_err(|e| format!("generating the PKI: {e}"))?;
    let format = match args.key_format {
        KeyFormatArg::Sec1 => KeyFormat::Sec1,
        KeyFormatArg::Pkcs8 => KeyFormat::Pkcs8,
    };
    pki.write_to_dir(&args.out, format)
        .map_err(|e| format!("writing {}: {e}", args.out.display()))?;
    let pkid = pki.ci_pkid().map_err(|e| e.to_string())?;
    println!(
        "test PKI written to {} (CI key identifier {})",
        args.out.display(),
        hex::encode_upper(pkid)
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pki(args) => run_pki(args),
        Command::Modem(args) => run_modem(args),
        Command::Smdp(args) => run_smdp(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lpa-testbed: {e}");
            ExitCode::FAILURE
        }
    }
}
