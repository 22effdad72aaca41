//! What an apply reports while it runs and when it ends: progress events and the summary the
//! frontends show. Plain data shared by the executor (shell) and the frontends (ui), so that
//! neither imports the other. It must not do anything: no I/O, no formatting for a screen.

use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

/// Progress of an apply, one event at a time.
#[derive(Debug)]
pub enum ApplyEvent {
    StepStarted {
        index: usize,
        line: String,
    },
    /// A live line for a long step (health wait, restart), e.g. "waiting 12s: 503 not ready".
    StepProgress {
        index: usize,
        text: String,
    },
    StepDone {
        index: usize,
        elapsed: Duration,
    },
    StepFailed {
        index: usize,
        error: String,
    },
    /// What the rollback restored, in words.
    RolledBack {
        report: String,
    },
    /// Something the operator must do (e.g. restart Elasticsearch now, then re-run).
    Notice {
        text: String,
    },
}

/// What the Done screen shows. Passwords are shown once and then dropped (zeroized).
#[derive(Debug, Default)]
pub struct ApplySummary {
    /// Generated passwords, only when the operator asked to see them.
    pub shown_passwords: Vec<(String, RedactedSecret)>,
    pub password_file: Option<PathBuf>,
    pub ca_fingerprint: Option<String>,
    pub next_steps: Vec<String>,
    pub verify_table: Vec<(String, bool, String)>,
    /// Where the run's answers were saved, if they were.
    pub answers_saved: Option<PathBuf>,
    /// The transaction id, for `es-secure rollback ID`.
    pub transaction: Option<String>,
    /// Where the time went: es-secure's own work versus waiting for Elasticsearch.
    pub timing: Option<Timing>,
}

/// Wall time of an apply, split so the tool's own cost is visible next to the restart.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Local work: checks, certificates, file writes, keystores, the transaction.
    pub own: Duration,
    /// Restarting Elasticsearch and waiting for it to answer healthy.
    pub waiting_for_es: Duration,
    /// Password changes and verification over REST, most of it Elasticsearch's own time
    /// (bcrypt hashing, security index writes).
    pub rest_calls: Duration,
}

/// A secret that prints as `[redacted]` in Debug output; `expose()` for the one place that
/// shows it on purpose.
pub struct RedactedSecret(pub Zeroizing<String>);

impl RedactedSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RedactedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}
