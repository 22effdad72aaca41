//! The run log (`--log-file PATH`): every progress line es-secure prints on stderr (findings,
//! plan, steps, the final error), with the time since start, kept in memory and written once
//! when the command ends, through [`state::write_private`] (mode 0600, atomic). It must NOT
//! receive anything stdout carries (passwords shown once) or any other secret: callers log
//! only what they already print on stderr.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::shell::state;

struct RunLog {
    path: PathBuf,
    started: Instant,
    lines: Mutex<Vec<String>>,
}

static LOG: OnceLock<RunLog> = OnceLock::new();

/// Start logging to `path` (the first call wins; without a call nothing is recorded).
pub fn start(path: PathBuf, command_line: &str) {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let log = RunLog {
        path,
        started: Instant::now(),
        lines: Mutex::new(vec![format!(
            "# es-secure {} run log, started at unix time {unix}: {command_line}",
            env!("CARGO_PKG_VERSION")
        )]),
    };
    let _ = LOG.set(log);
}

/// Record one or more lines as printed on stderr.
pub fn record(text: &str) {
    let Some(log) = LOG.get() else {
        return;
    };
    let at = log.started.elapsed().as_secs_f64();
    if let Ok(mut lines) = log.lines.lock() {
        for line in text.lines() {
            lines.push(format!("[{at:>8.3}s] {line}"));
        }
    }
}

/// Write the log with the exit code; a failure to write is reported, never fatal.
pub fn finish(exit_code: i32) -> anyhow::Result<()> {
    let Some(log) = LOG.get() else {
        return Ok(());
    };
    record(&format!("exit {exit_code}"));
    let text = match log.lines.lock() {
        Ok(lines) => lines.join("\n") + "\n",
        Err(_) => return Ok(()),
    };
    state::write_private(&log.path, text.as_bytes())
}
