//! Opt-in timing trace (`ES_SECURE_TRACE=1`): one stderr line per REST request (method, path,
//! status, milliseconds, which HTTP client sent it), per HTTP client built and per timed
//! stretch of the apply's REST phase (e.g. hashing passwords for the state file), each with
//! the UTC wall-clock time so it lines up with Elasticsearch's log. It exists to find where
//! the REST phase spends its time (issue 21). With `--log-file` the lines also go to the run
//! log.
//!
//! It must never print a password, a token, a request or response body or an Authorization
//! header: callers pass only a method, a path (user and token *names* at most), a status and
//! a duration. Off (one relaxed load) unless the variable is set to a non-empty value other
//! than `0`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The variable that turns the trace on.
pub const ENV: &str = "ES_SECURE_TRACE";

static ON: OnceLock<bool> = OnceLock::new();
static CLIENTS: AtomicU64 = AtomicU64::new(0);

/// Whether the trace is on (read once per process).
pub fn enabled() -> bool {
    *ON.get_or_init(|| std::env::var_os(ENV).is_some_and(|v| !v.is_empty() && v != "0"))
}

/// A number for a new HTTP client, so trace lines show which client (and connection pool)
/// sent a request.
pub fn next_client_id() -> u64 {
    CLIENTS.fetch_add(1, Ordering::Relaxed) + 1
}

/// Print one trace line (when the trace is on), prefixed with the UTC time of day.
pub fn line(text: &str) {
    if !enabled() {
        return;
    }
    let now = time::OffsetDateTime::now_utc();
    let line = format!(
        "trace {:02}:{:02}:{:02}.{:03} {text}",
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    eprintln!("{line}");
    crate::shell::run_log::record(&line);
}

/// Milliseconds, for trace lines.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Run `f` and, when the trace is on, print how long `what` took.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let started = Instant::now();
    let out = f();
    line(&format!("{what}: {}", ms(started.elapsed())));
    out
}
