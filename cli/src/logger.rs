//! Log lines (the `log` crate) on stderr: warnings by default, more with `-v`. While the
//! download progress bar is drawn, lines are printed above it.

use std::io::Write;
use std::sync::Mutex;

use indicatif::ProgressBar;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// The bar being drawn, if any.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        // Module paths help only those who asked for more than warnings.
        let line = if self.level > LevelFilter::Warn {
            format!("lpa: {level}: [{}] {}", record.target(), record.args())
        } else {
            format!("lpa: {level}: {}", record.args())
        };
        print_above_bar(&line);
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Prints a line on stderr, above the progress bar when one is drawn.
pub fn print_above_bar(line: &str) {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(bar) if !bar.is_hidden() => bar.println(line),
        _ => {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// Runs `f` with the progress bar (if one is drawn) hidden: for questions to the user.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(bar) if !bar.is_hidden() => bar.suspend(f),
        _ => f(),
    }
}

/// Registers (or forgets, with `None`) the bar that log lines must not tear.
pub fn set_bar(bar: Option<ProgressBar>) {
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = bar;
}

/// Installs the logger: `verbose` 0 warnings, 1 info, 2 debug, 3 or more trace.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    if log::set_boxed_logger(Box::new(StderrLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}
